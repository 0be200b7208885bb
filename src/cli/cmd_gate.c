/*
 * cmd_gate.c - `sluice gate [TABLE...] [--where SQL] [--explain]`: run the
 * data quality gates of the feature contracts (all, or those of the named
 * tables) on the environment's database.  Exit 1 when a gate fails.
 */
#include "cli.h"
#include "../contract/contract.h"
#include "../quality/gate.h"

#include <math.h>
#include <string.h>

static void print_result(const struct sl_gate_result *g)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%s%s", g->gate, g->subject ? " " : "",
		 g->subject ? g->subject : "");
	printf("  %-4s  %-32s %10.4f %s %-10.4g", g->passed ? "ok" : "FAIL", name, g->score,
	       g->higher_is_better ? ">=" : "<=", g->threshold);
	/* the evidence of a failure, briefly; --format json has all of it */
	const json_t *cols = json_object_get(g->details, "columns");
	if (!strcmp(g->gate, "drift") && json_is_array(cols)) {
		size_t i;
		const json_t *c;
		printf("  (baseline %s)", json_string_value(json_object_get(g->details, "baseline")));
		json_array_foreach(cols, i, c) {
			const json_t *pv = json_object_get(c, "p_value");
			const char *m = json_string_value(json_object_get(c, "method"));
			printf("\n        %-20s %-14s %10.4g", json_string_value(json_object_get(c, "column")),
			       m ? m : "-", json_number_value(json_object_get(c, "statistic")));
			if (json_is_number(pv))
				printf("  p=%.4g", json_number_value(pv));
			printf("  %s", json_is_true(json_object_get(c, "drifted")) ? "DRIFT" : "ok");
			const json_t *note = json_object_get(c, "note");
			if (note)
				printf(" (%s)", json_string_value(note));
		}
		cols = NULL;
	}
	if (!g->passed && json_is_array(cols)) {
		size_t i;
		const json_t *c;
		json_array_foreach(cols, i, c) {
			const json_t *keys = json_object_get(c, "sample_keys");
			if (!keys || (json_object_get(c, "passed") == json_true() &&
				      !json_integer_value(json_object_get(c, "invalid"))))
				continue;
			printf("\n        %s:", json_string_value(json_object_get(c, "column")));
			if (json_object_get(c, "invalid"))
				printf(" %lld invalid", (long long)json_integer_value(json_object_get(c, "invalid")));
			else
				printf(" %lld NULL", (long long)json_integer_value(json_object_get(c, "nulls")));
			printf(", keys");
			size_t k;
			const json_t *v;
			json_array_foreach(keys, k, v)
				printf("%s %s", k ? "," : "", json_string_value(v));
			printf("\n        sql: %s", json_string_value(json_object_get(c, "sql")));
		}
	}
	if (!g->passed && json_object_get(g->details, "duplicated_keys")) {
		printf("\n        %lld duplicated key(s); sql: %s",
		       (long long)json_integer_value(json_object_get(g->details, "duplicated_keys")),
		       json_string_value(json_object_get(g->details, "sql")));
	}
	const json_t *groups = json_object_get(g->details, "groups");
	if (json_is_array(groups)) {
		size_t i;
		const json_t *o;
		printf("\n        groups:");
		json_array_foreach(groups, i, o) {
			double sr = json_number_value(json_object_get(o, "selection_rate"));
			printf("%s %s n=%lld rate=%.3f%s", i ? ";" : "",
			       json_string_value(json_object_get(o, "group")),
			       (long long)json_integer_value(json_object_get(o, "n")), sr,
			       json_is_true(json_object_get(o, "small")) ? " (small)" : "");
		}
	}
	const json_t *missing = json_object_get(g->details, "missing_columns");
	if (!g->passed && json_array_size(missing)) {
		size_t i;
		const json_t *v;
		printf("\n        missing columns:");
		json_array_foreach(missing, i, v)
			printf(" %s", json_string_value(v));
	}
	const json_t *note = json_object_get(g->details, "note");
	if (note)
		printf("\n        %s", json_string_value(note));
	printf("\n");
}

int cmd_gate(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *where = NULL, *benv = NULL;
	int explain = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "where", &where, "SQL", "only rows matching this condition" },
		{ SL_OPT_STRING, 0, "baseline-env", &benv, "ENV",
		  "drift against the same table read live in another environment" },
		{ SL_OPT_FLAG, 0, "explain", &explain, NULL, "print the SQL each metric came from" },
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
	struct sl_db *db = NULL, *rdb = NULL;
	struct sl_engine eng, reng;
	char *rsel = NULL, *rmask = NULL;
	struct sl_contracts contracts;
	struct sl_gate_report rep;
	memset(&contracts, 0, sizeof(contracts));
	memset(&rep, 0, sizeof(rep));
	size_t ran = 0;
	if (sl_ctx_open(ctx, &db, &eng, &err) ||
	    sl_contracts_load(&contracts, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	for (size_t i = 0; i < args.n; i++)
		if (!sl_contracts_feature_next(&contracts, args.v[i], NULL)) {
			sl_err(&err, SL_USAGE, "no feature contract for table %s in %s", args.v[i],
			       ctx->cfg->features_dir);
			goto fail;
		}
	if (benv && sl_engine_open(ctx->cfg, benv, NULL, ctx->lock_timeout_ms, &rdb, &reng, &rsel,
				   &rmask, &err))
		goto fail;
	struct sl_gate_opts o = { explain, where, &contracts, rdb, benv };
	for (size_t i = 0; i < contracts.nfeatures; i++) {
		const struct sl_feature_contract *f = &contracts.features[i];
		int wanted = !args.n;
		for (size_t k = 0; k < args.n && !wanted; k++)
			wanted = sl_table_is(f->table, args.v[k]);
		if (!wanted)
			continue;
		size_t first = rep.n;
		if (sl_gates_run(db, f, &o, &rep, &err))
			goto fail;
		ran++;
		if (!ctx->json && !ctx->quiet) {
			printf("%s%s (%s) on %s\n", ran > 1 ? "\n" : "", f->table, f->path,
			       ctx->env_selected);
			for (size_t k = first; k < rep.n; k++)
				print_result(&rep.v[k]);
		}
	}
	if (!contracts.nfeatures) {
		sl_err(&err, SL_USAGE, "no feature contracts in %s", ctx->cfg->features_dir);
		sl_err_hint(&err, "write features/TABLE.yaml (README: Feature and model contracts)");
		goto fail;
	}
	size_t failed = sl_gate_failed(&rep);
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(!failed));
		sl_json_set_str(doc, "command", "gate");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_t *a = json_array();
		for (size_t i = 0; i < rep.n; i++)
			json_array_append_new(a, sl_gate_result_json(&rep.v[i]));
		json_object_set_new(doc, "gates", a);
		json_object_set_new(doc, "passed", json_boolean(!failed));
		if (rep.explain) {
			json_t *e = json_array();
			for (size_t i = 0; i < rep.explain->n; i++)
				json_array_append_new(e, json_string(rep.explain->v[i]));
			json_object_set_new(doc, "explain", e);
		}
		sl_cli_json(doc);
	} else {
		if (rep.explain) {
			printf("\nSQL:\n");
			for (size_t i = 0; i < rep.explain->n; i++)
				printf("  %s\n", rep.explain->v[i]);
		}
		if (!ctx->quiet || failed)
			printf("\n%zu gate(s) on %zu table(s): %zu failed\n", rep.n, ran, failed);
	}
	sl_gate_report_free(&rep);
	sl_contracts_free(&contracts);
	sl_db_close(rdb);
	sl_db_close(db);
	free(rsel);
	free(rmask);
	sl_strvec_free(&args);
	return failed ? SL_FAILED : SL_OK;
fail:
	sl_gate_report_free(&rep);
	sl_contracts_free(&contracts);
	sl_db_close(rdb);
	sl_db_close(db);
	free(rsel);
	free(rmask);
	sl_strvec_free(&args);
	return sl_cli_fail(ctx, &err);
}
