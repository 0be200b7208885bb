/*
 * cmd_impact.c - `sluice impact --static [MODEL...]`: which model versions
 * the pending migrations break, and why: a shadow plan (see plan.h) whose
 * breaking or destructive changes reach a version's inputs or label.
 * Exit 1 when one is broken.  The performance impact (retraining a proxy
 * model on the changed data) is issue 6 and not here yet: without
 * --static the command says so and exits 2.
 */
#include "cli.h"
#include "../analyze/plan.h"
#include "../contract/contract.h"

#include <string.h>

int cmd_impact(int argc, char **argv, struct sl_ctx *ctx)
{
	int is_static = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_FLAG, 0, "static", &is_static, NULL,
		  "schema compatibility of each model version with the pending migrations" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL, *scratch = NULL;
	struct sl_engine eng;
	struct sl_contracts c;
	struct sl_plan plan;
	memset(&c, 0, sizeof(c));
	memset(&plan, 0, sizeof(plan));
	if (!is_static) {
		sl_err(&err, SL_USAGE, "only 'impact --static' is available: the performance impact "
			     "(retraining on the changed data) is not built yet");
		goto fail;
	}
	if (sl_ctx_open(ctx, &db, &eng, &err) ||
	    sl_contracts_load(&c, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	for (size_t i = 0; i < args.n; i++) {
		int known = 0;
		for (size_t m = 0; m < c.nmodels; m++)
			known |= !strcmp(c.models[m].name, args.v[i]);
		if (!known) {
			sl_err(&err, SL_USAGE, "no model contract named %s in %s", args.v[i],
			       ctx->cfg->models_dir);
			goto fail;
		}
	}
	eng.on_event = NULL;
	if (sl_plan_open_scratch(ctx->cfg, ctx->url ? NULL : ctx->env_selected, NULL, &scratch, &err) ||
	    sl_plan_compute(&eng, scratch, &plan, &err))
		goto fail;
	sl_plan_contracts(&plan, &c);
	json_t *models = json_array();
	size_t broken = 0, shown = 0;
	for (size_t m = 0; m < c.nmodels; m++) {
		const struct sl_model_contract *mc = &c.models[m];
		int wanted = !args.n;
		for (size_t i = 0; i < args.n; i++)
			wanted |= !strcmp(mc->name, args.v[i]);
		if (!wanted)
			continue;
		shown++;
		struct sl_buf id = SL_BUF_INIT;
		sl_model_id(&id, mc);
		json_t *why = json_array();
		for (size_t i = 0; i < plan.n; i++) {
			const struct sl_change *ch = &plan.v[i];
			if (ch->cls == SL_CH_SAFE || !strcmp(ch->kind, "add column"))
				continue;
			for (size_t k = 0; k < ch->models.n; k++)
				if (!strcmp(ch->models.v[k], id.s)) {
					struct sl_buf r = SL_BUF_INIT;
					sl_buf_printf(&r, "%s %s (%s)", ch->kind, ch->object, ch->detail);
					json_array_append_new(why, json_string(r.s));
					sl_buf_free(&r);
				}
		}
		int ok = json_array_size(why) == 0;
		broken += !ok;
		if (!ctx->json) {
			printf("%-24s %s\n", id.s, ok ? "compatible" : "BROKEN");
			size_t i;
			json_t *w;
			json_array_foreach(why, i, w)
				printf("  %s\n", json_string_value(w));
		}
		json_array_append_new(models, json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", mc->name,
							"version", mc->version, "table", mc->table,
							"compatible", ok, "reasons", why));
		sl_buf_free(&id);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(!broken));
		sl_json_set_str(doc, "command", "impact");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "pending", json_integer((json_int_t)plan.pending));
		json_object_set_new(doc, "models", models);
		json_object_set_new(doc, "passed", json_boolean(!broken));
		sl_cli_json(doc);
	} else {
		json_decref(models);
		printf("%zu model version(s), %zu broken by %zu pending migration(s) on %s\n", shown,
		       broken, plan.pending, ctx->env_selected);
	}
	sl_plan_free(&plan);
	sl_contracts_free(&c);
	sl_db_close(scratch);
	sl_db_close(db);
	sl_strvec_free(&args);
	return broken ? SL_FAILED : SL_OK;
fail:
	sl_plan_free(&plan);
	sl_contracts_free(&c);
	sl_db_close(scratch);
	sl_db_close(db);
	sl_strvec_free(&args);
	return sl_cli_fail(ctx, &err);
}
