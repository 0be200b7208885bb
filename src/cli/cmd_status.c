/*
 * cmd_status.c - `sluice status`: applied, pending, failed, changed and
 * missing migrations of one environment.
 */
#include "cli.h"

#include <string.h>

static json_t *entry_json(const struct sl_entry *e)
{
	json_t *o = json_object();
	sl_json_set_str(o, "version", e->version);
	sl_json_set_str(o, "description", e->description);
	sl_json_set_str(o, "kind", e->kind == SL_REPEATABLE ? "repeatable" : "versioned");
	sl_json_set_str(o, "state", sl_mstate_name(e->state));
	sl_json_set_str(o, "script", e->script);
	sl_json_set_str(o, "dialect", e->m && e->m->dialect && e->m->dialect[0] ? e->m->dialect : NULL);
	const char *sum = e->row && e->state == SL_ST_APPLIED ? e->row->checksum
				: (e->checksum[0] ? e->checksum : NULL);
	sl_json_set_str(o, "checksum", sum);
	if (e->row && (e->state == SL_ST_APPLIED || e->state == SL_ST_MISSING ||
		       e->state == SL_ST_FAILED)) {
		sl_json_set_str(o, "installed_at", e->row->installed_at);
		sl_json_set_str(o, "installed_by", e->row->installed_by);
		json_object_set_new(o, "execution_ms", json_integer(e->row->execution_ms));
		json_object_set_new(o, "success", json_boolean(e->row->success));
	}
	if (e->state == SL_ST_APPLIED)
		json_object_set_new(o, "checksum_matches", json_boolean(!e->checksum_mismatch));
	if (e->state == SL_ST_PENDING)
		json_object_set_new(o, "out_of_order", json_boolean(e->out_of_order));
	if (e->state == SL_ST_SKIPPED)
		sl_json_set_str(o, "only_for", e->m->skipped_dialects);
	return o;
}

json_t *sl_cli_json_problems(const struct sl_status *st);
json_t *sl_cli_json_problems(const struct sl_status *st)
{
	json_t *a = json_array();
	for (size_t i = 0; i < st->np; i++) {
		json_t *o = json_object();
		sl_json_set_str(o, "kind", st->p[i].kind);
		sl_json_set_str(o, "version", st->p[i].version);
		sl_json_set_str(o, "script", st->p[i].script);
		sl_json_set_str(o, "message", st->p[i].message);
		json_array_append_new(a, o);
	}
	return a;
}

static void print_text(struct sl_ctx *ctx, const struct sl_status *st)
{
	printf("environment %s (%s)\n", ctx->env_selected, ctx->url_masked);
	printf("current version: %s\n", st->current ? st->current : "none");
	if (st->baseline)
		printf("baseline: %s\n", st->baseline);
	size_t pending = 0, applied = 0;
	if (st->n) {
		printf("\n  %-20s %-15s %-36s %s\n", "VERSION", "STATE", "DESCRIPTION", "INSTALLED / FILE");
		for (size_t i = 0; i < st->n; i++) {
			const struct sl_entry *e = &st->e[i];
			const char *state = sl_mstate_name(e->state);
			if (e->checksum_mismatch)
				state = "applied,changed";
			else if (e->out_of_order)
				state = "pending,old";
			const char *extra = e->script;
			if (e->row && e->state == SL_ST_APPLIED)
				extra = e->row->installed_at;
			printf("  %-20s %-15s %-36s %s\n",
			       e->kind == SL_REPEATABLE ? "R" : e->version, state, e->description,
			       extra ? extra : "");
			pending += e->state == SL_ST_PENDING;
			applied += e->state == SL_ST_APPLIED;
		}
	}
	printf("\n%zu applied, %zu pending, %zu problem%s\n", applied, pending, st->np,
	       st->np == 1 ? "" : "s");
	for (size_t i = 0; i < st->np; i++)
		printf("  problem: %s\n", st->p[i].message);
}

int cmd_status(int argc, char **argv, struct sl_ctx *ctx)
{
	const struct sl_option opts[] = { { SL_OPT_END, 0, NULL, NULL, NULL, NULL } };
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_status st;
	sl_error_clear(&err);
	if (sl_ctx_open(ctx, &db, &eng, &err) || sl_status_compute(&eng, &st, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "status");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		sl_json_set_str(doc, "url", ctx->url_masked);
		sl_json_set_str(doc, "current", st.current);
		sl_json_set_str(doc, "baseline", st.baseline);
		json_t *applied = json_array(), *pending = json_array(), *other = json_array();
		for (size_t i = 0; i < st.n; i++) {
			const struct sl_entry *e = &st.e[i];
			json_t *o = entry_json(e);
			if (e->state == SL_ST_APPLIED)
				json_array_append_new(applied, o);
			else if (e->state == SL_ST_PENDING)
				json_array_append_new(pending, o);
			else
				json_array_append_new(other, o);
		}
		json_object_set_new(doc, "applied", applied);
		json_object_set_new(doc, "pending", pending);
		json_object_set_new(doc, "other", other);
		json_object_set_new(doc, "problems", sl_cli_json_problems(&st));
		sl_cli_json(doc);
	} else {
		print_text(ctx, &st);
	}
	sl_status_free(&st);
	sl_db_close(db);
	return SL_OK;
}
