/*
 * cmd_validate.c - `sluice validate`: exit 1 on an edited applied migration,
 * a missing file, a failed migration, or a pending version older than the
 * newest applied one (unless out_of_order: true); exit 2 on a pending
 * script that does not parse or a `rollout:` section with a mistake.
 */
#include "cli.h"
#include "../deploy/rollout.h"

json_t *sl_cli_json_problems(const struct sl_status *st);

int cmd_validate(int argc, char **argv, struct sl_ctx *ctx)
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
	/* the sections read later by other commands, so CI catches a typo */
	if (!sl_ctx_config(ctx, &err) && sl_rollout_config_check(ctx->cfg, &err))
		return sl_cli_fail(ctx, &err);
	if (err.code)
		return sl_cli_fail(ctx, &err);
	if (sl_ctx_open(ctx, &db, &eng, &err) || sl_validate(&eng, &st, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	size_t blocking = sl_status_blocking(&eng, &st);
	size_t checked = 0;
	for (size_t i = 0; i < st.n; i++)
		checked += st.e[i].state == SL_ST_APPLIED || st.e[i].state == SL_ST_PENDING;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(blocking == 0));
		sl_json_set_str(doc, "command", "validate");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		sl_json_set_str(doc, "current", st.current);
		json_object_set_new(doc, "checked", json_integer((json_int_t)checked));
		json_object_set_new(doc, "problems", sl_cli_json_problems(&st));
		sl_cli_json(doc);
	} else {
		for (size_t i = 0; i < st.np; i++)
			fprintf(stderr, "%s: %s\n",
				eng.out_of_order && st.p[i].kind[0] == 'o' ? "note" : "sluice: validate",
				st.p[i].message);
		if (!ctx->quiet)
			printf("validate: %zu migration(s) checked on %s, %zu problem(s)\n", checked,
			       ctx->env_selected, blocking);
	}
	sl_status_free(&st);
	sl_db_close(db);
	return blocking ? SL_FAILED : SL_OK;
}
