/*
 * cmd_impact.c - what a change does to the models (the model contracts):
 *
 *   sluice impact --static [MODEL...]   which model versions the pending
 *       migrations break, and why: a shadow plan (see plan.h) whose
 *       breaking or destructive changes reach a version's inputs or label;
 *   sluice impact [MODEL...]            the performance impact of the data
 *       as it is now against a baseline training set (or another
 *       environment): proxy retraining, stored predictions and the Model
 *       Impact Score (see model/impact.h).
 *
 * Exit 1 when a version is broken or fails a threshold.
 */
#include "cli.h"
#include "../analyze/plan.h"
#include "../contract/contract.h"
#include "../model/impact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int wanted(const struct sl_strvec *args, const char *name)
{
	if (!args->n)
		return 1;
	for (size_t i = 0; i < args->n; i++)
		if (!strcmp(args->v[i], name))
			return 1;
	return 0;
}

static int parse_num(const char *s, const char *opt, double lo, double *out, struct sl_error *err)
{
	char *end;
	double v = s ? strtod(s, &end) : 0;
	if (!s || end == s || *end || !isfinite(v) || v < lo)
		return sl_err(err, SL_USAGE, "--%s wants a number >= %g, not '%s'", opt, lo,
			      s ? s : "");
	*out = v;
	return 0;
}

static void print_model(const json_t *r)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	const char *ver = json_string_value(json_object_get(r, "version"));
	int passed = json_is_true(json_object_get(r, "passed"));
	char id[256];
	snprintf(id, sizeof(id), "%s v%s", name, ver);
	if (!json_is_true(json_object_get(r, "compatible"))) {
		printf("%-20s INCOMPATIBLE\n", id);
		size_t i;
		json_t *w;
		json_array_foreach(json_object_get(r, "reasons"), i, w)
			printf("  %s\n", json_string_value(w));
		return;
	}
	const char *metric = json_string_value(json_object_get(r, "metric"));
	printf("%-20s %s  %s %.4f -> %.4f (drop %+.4f, max %.4f)", id, passed ? "ok    " : "FAILED",
	       metric, json_number_value(json_object_get(r, "baseline")),
	       json_number_value(json_object_get(r, "candidate")),
	       json_number_value(json_object_get(r, "drop")),
	       json_number_value(json_object_get(r, "max_drop")));
	json_t *sv = json_object_get(r, "serving");
	if (json_is_number(sv))
		printf("; serving %.4f", json_number_value(sv));
	json_t *sc = json_object_get(r, "impact_score");
	if (json_is_number(sc))
		printf("; impact score %.3f (min %.2f)", json_number_value(sc),
		       json_number_value(json_object_get(r, "impact_min")));
	printf("\n");
	json_t *sp = json_object_get(r, "stored_predictions");
	if (json_is_object(sp))
		printf("  stored predictions: %s %.4f -> %.4f\n", metric,
		       json_number_value(json_object_get(sp, "baseline")),
		       json_number_value(json_object_get(sp, "candidate")));
	json_t *rows = json_object_get(r, "rows");
	printf("  rows: baseline %lld (holdout %lld), candidate %lld (holdout %lld)\n",
	       (long long)json_integer_value(json_object_get(rows, "baseline")),
	       (long long)json_integer_value(json_object_get(rows, "baseline_holdout")),
	       (long long)json_integer_value(json_object_get(rows, "candidate")),
	       (long long)json_integer_value(json_object_get(rows, "candidate_holdout")));
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(r, "failures"), i, w)
		printf("  %s\n", json_string_value(w));
}

/* sluice impact [MODEL...]: the performance impact. */
static int performance(struct sl_ctx *ctx, const struct sl_strvec *args, const char *bname,
		       const char *benv, const char *where, const char *max_drop,
		       const char *min_score, const char *sample, int no_score)
{
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL, *bdb = NULL;
	struct sl_engine eng, beng;
	struct sl_contracts c;
	memset(&c, 0, sizeof(c));
	char *bsel = NULL, *bmask = NULL;
	json_t *models = json_array();
	struct sl_impact_opts o = { bname, NULL, benv, where, -1, -1, -1, no_score };
	double v;
	size_t failed = 0, shown = 0;
	if ((max_drop && parse_num(max_drop, "max-drop", 0, &o.max_drop, &err)) ||
	    (min_score && parse_num(min_score, "min-score", 0, &o.min_score, &err)))
		goto fail;
	if (sample) {
		if (parse_num(sample, "sample-rows", 0, &v, &err))
			goto fail;
		o.sample_rows = (long long)v;
	}
	if (sl_ctx_open(ctx, &db, &eng, &err) ||
	    sl_contracts_load(&c, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	for (size_t i = 0; i < args->n; i++) {
		int known = 0;
		for (size_t m = 0; m < c.nmodels; m++)
			known |= !strcmp(c.models[m].name, args->v[i]);
		if (!known) {
			sl_err(&err, SL_USAGE, "no model contract named %s in %s", args->v[i],
			       ctx->cfg->models_dir);
			goto fail;
		}
	}
	if (benv) {
		if (sl_engine_open(ctx->cfg, benv, NULL, ctx->lock_timeout_ms, &bdb, &beng, &bsel,
				   &bmask, &err))
			goto fail;
		o.baseline_db = bdb;
	}
	for (size_t m = 0; m < c.nmodels; m++) {
		const struct sl_model_contract *mc = &c.models[m];
		if (!wanted(args, mc->name))
			continue;
		if (!mc->label) {
			/* nothing to measure against: say so, do not fail */
			if (!ctx->json)
				printf("%s v%s: no label in %s, skipped (impact --static checks it)\n",
				       mc->name, mc->version, mc->path);
			json_array_append_new(models, json_pack("{s:s, s:s, s:s, s:b, s:s}", "name",
				mc->name, "version", mc->version, "table", mc->table, "skipped", 1,
				"reason", "no label"));
			continue;
		}
		json_t *r;
		int passed;
		if (sl_impact_model(db, &c, mc, &o, &r, &passed, &err))
			goto fail;
		shown++;
		failed += !passed;
		if (!ctx->json)
			print_model(r);
		json_array_append_new(models, r);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(!failed));
		sl_json_set_str(doc, "command", "impact");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "models", models);
		json_object_set_new(doc, "passed", json_boolean(!failed));
		sl_cli_json(doc);
	} else {
		json_decref(models);
		printf("%zu model version(s) measured on %s, %zu failed\n", shown, ctx->env_selected,
		       failed);
	}
	sl_contracts_free(&c);
	sl_db_close(bdb);
	sl_db_close(db);
	free(bsel);
	free(bmask);
	return failed ? SL_FAILED : SL_OK;
fail:
	json_decref(models);
	sl_contracts_free(&c);
	sl_db_close(bdb);
	sl_db_close(db);
	free(bsel);
	free(bmask);
	return sl_cli_fail(ctx, &err);
}

int cmd_impact(int argc, char **argv, struct sl_ctx *ctx)
{
	int is_static = 0, no_score = 0;
	const char *bname = NULL, *benv = NULL, *where = NULL, *max_drop = NULL, *min_score = NULL,
		   *sample = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_FLAG, 0, "static", &is_static, NULL,
		  "schema compatibility of each model version with the pending migrations" },
		{ SL_OPT_STRING, 0, "baseline", &bname, "NAME",
		  "the training set to compare with (default: default)" },
		{ SL_OPT_STRING, 0, "baseline-env", &benv, "ENV",
		  "read the baseline rows live from another environment" },
		{ SL_OPT_STRING, 0, "where", &where, "SQL", "only the candidate rows that match" },
		{ SL_OPT_STRING, 0, "max-drop", &max_drop, "X", "override every contract's max_drop" },
		{ SL_OPT_STRING, 0, "min-score", &min_score, "X",
		  "override the Model Impact Score minimum" },
		{ SL_OPT_STRING, 0, "sample-rows", &sample, "N", "rows per side (0: every row)" },
		{ SL_OPT_FLAG, 0, "no-score", &no_score, NULL, "skip the Model Impact Score (its gates)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	if (!is_static) {
		rc = performance(ctx, &args, bname, benv, where, max_drop, min_score, sample, no_score);
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
