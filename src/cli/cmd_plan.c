/*
 * cmd_plan.c - `sluice plan [--forward-only]`: apply the pending
 * migrations to a shadow, diff the catalogs, classify each change, and
 * lint the same migrations.  The environment's database is only read.
 * Exit 1 in forward-only mode when a change is breaking or destructive,
 * and always when a breaking change reaches a model contract's input.
 */
#include "cli.h"
#include "../contract/contract.h"
#include "../analyze/lint.h"
#include "../analyze/plan.h"
#include "../core/yaml.h"

#include <string.h>

static json_t *findings_json(const struct sl_linter *l)
{
	size_t n;
	const struct sl_finding *f = sl_linter_findings(l, &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s}",
						   "rule", f[i].rule->id,
						   "severity", sl_severity_name(f[i].severity),
						   "file", f[i].file, "line", f[i].line,
						   "column", f[i].column, "message", f[i].message,
						   "hint", f[i].rule->hint));
	return a;
}

static json_t *strvec_json(const struct sl_strvec *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static void print_list(const char *what, const struct sl_strvec *v)
{
	if (!v->n)
		return;
	printf("  %-12s %-20s %-32s %-10s %s:", "", "", "", "", what);
	for (size_t i = 0; i < v->n; i++)
		printf("%s %s", i ? "," : "", v->v[i]);
	printf("\n");
}

int cmd_plan(int argc, char **argv, struct sl_ctx *ctx)
{
	int forward_only = 0;
	const char *shadow_url = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_FLAG, 0, "forward-only", &forward_only, NULL,
		  "exit 1 on any breaking or destructive change" },
		{ SL_OPT_STRING, 0, "shadow-url", &shadow_url, "URL",
		  "plan on this empty scratch database (default: the environment's shadow_url)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL, *scratch = NULL;
	struct sl_engine eng;
	struct sl_plan plan;
	struct sl_lint_config lc;
	struct sl_linter *l = NULL;
	struct sl_contracts contracts;
	memset(&contracts, 0, sizeof(contracts));
	memset(&plan, 0, sizeof(plan));
	memset(&lc, 0, sizeof(lc));
	size_t files = 0;
	if (sl_ctx_open(ctx, &db, &eng, &err))
		goto fail;
	eng.on_event = NULL;
	if (ctx->cfg->doc && ctx->cfg->doc->root &&
	    sl_lint_config_load(&lc, ctx->cfg->doc, sl_ymap_get(ctx->cfg->doc->root, "lint"), &err))
		goto fail;
	if (forward_only)
		lc.forward_only = 1;
	l = sl_linter_new(&lc);
	if (sl_contracts_load(&contracts, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	sl_linter_set_contracts(l, &contracts);
	if (sl_plan_open_scratch(ctx->cfg, ctx->url ? NULL : ctx->env_selected, shadow_url, &scratch,
				 &err) ||
	    sl_lint_pending(l, &eng, &files, &err) || sl_plan_compute(&eng, scratch, &plan, &err))
		goto fail;
	size_t nbreak = sl_plan_count(&plan, SL_CH_BREAKING), ndestr = sl_plan_count(&plan, SL_CH_DESTRUCTIVE);
	size_t nmodel = sl_plan_contracts(&plan, &contracts);
	int failed = (lc.forward_only && (nbreak || ndestr)) || nmodel;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(!failed));
		sl_json_set_str(doc, "command", "plan");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		sl_json_set_str(doc, "shadow", plan.shadow);
		json_object_set_new(doc, "forward_only", json_boolean(lc.forward_only));
		json_object_set_new(doc, "pending", json_integer((json_int_t)plan.pending));
		json_object_set_new(doc, "model_breaking", json_integer((json_int_t)nmodel));
		json_object_set_new(doc, "drift", strvec_json(&plan.drift));
		json_t *changes = json_array();
		for (size_t i = 0; i < plan.n; i++) {
			const struct sl_change *c = &plan.v[i];
			json_t *o = json_object();
			sl_json_set_str(o, "object", c->object);
			sl_json_set_str(o, "kind", c->kind);
			sl_json_set_str(o, "class", sl_change_class_name(c->cls));
			sl_json_set_str(o, "detail", c->detail);
			sl_json_set_str(o, "locks", c->locks);
			json_object_set_new(o, "rows", c->rows >= 0 ? json_integer(c->rows) : json_null());
			json_object_set_new(o, "features", strvec_json(&c->features));
			json_object_set_new(o, "models", strvec_json(&c->models));
			json_array_append_new(changes, o);
		}
		json_object_set_new(doc, "changes", changes);
		json_object_set_new(doc, "findings", findings_json(l));
		sl_cli_json(doc);
	} else {
		printf("plan for %s (%s): %zu pending migration(s) applied to a shadow (%s)\n",
		       ctx->env_selected, ctx->url_masked, plan.pending, plan.shadow);
		if (plan.n) {
			printf("\n  %-12s %-20s %-32s %-10s %s\n", "CLASS", "CHANGE", "OBJECT", "ROWS", "DETAIL / LOCKS");
			for (size_t i = 0; i < plan.n; i++) {
				const struct sl_change *c = &plan.v[i];
				char rows[32] = "-";
				if (c->rows >= 0)
					snprintf(rows, sizeof(rows), "%lld", c->rows);
				printf("  %-12s %-20s %-32s %-10s %s\n  %-12s %-20s %-32s %-10s locks: %s\n",
				       sl_change_class_name(c->cls), c->kind, c->object, rows, c->detail,
				       "", "", "", "", c->locks);
				print_list("features", &c->features);
				print_list("models", &c->models);
			}
		}
		if (plan.drift.n) {
			printf("\ndrift: %s differs from its replayed migration history:\n",
			       ctx->env_selected);
			for (size_t i = 0; i < plan.drift.n; i++)
				printf("  %s\n", plan.drift.v[i]);
		}
		size_t n;
		const struct sl_finding *f = sl_linter_findings(l, &n);
		if (n)
			printf("\nlint:\n");
		for (size_t i = 0; i < n; i++)
			printf("  %s:%d:%d: %s [%s] %s\n", f[i].file, f[i].line, f[i].column,
			       sl_severity_name(f[i].severity), f[i].rule->id, f[i].message);
		printf("\n%zu change(s): %zu safe, %zu breaking, %zu destructive%s; %s was not changed\n",
		       plan.n, sl_plan_count(&plan, SL_CH_SAFE), nbreak, ndestr,
		       lc.forward_only ? " (forward-only)" : "", ctx->env_selected);
		if (nmodel)
			printf("%zu breaking change(s) reach a model's inputs: plan fails\n", nmodel);
	}
	sl_plan_free(&plan);
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(scratch);
	sl_db_close(db);
	return failed ? SL_FAILED : SL_OK;
fail:
	sl_plan_free(&plan);
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(scratch);
	sl_db_close(db);
	return sl_cli_fail(ctx, &err);
}
