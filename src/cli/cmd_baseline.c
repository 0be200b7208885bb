/*
 * cmd_baseline.c - two kinds of baseline, told apart by the first word:
 *   `sluice baseline VERSION [--description TEXT]`: adopt an existing
 *   database; versions up to VERSION count as applied (Flyway's baseline);
 *   `sluice baseline capture|list|show|diff ...`: data baselines, profiles of
 *   tables stored in the database for the drift gate.
 */
#include "cli.h"
#include "../contract/contract.h"
#include "../quality/baseline.h"
#include "../model/impact.h"
#include "../quality/drift.h"
#include "../stats/profile.h"

#include <math.h>
#include <string.h>

static int current_version(struct sl_engine *eng, char **out, struct sl_error *err)
{
	struct sl_status st;
	*out = NULL;
	if (sl_status_compute(eng, &st, err))
		return -1;
	if (st.current)
		*out = sl_strdup(st.current);
	sl_status_free(&st);
	return 0;
}

static int capture(struct sl_ctx *ctx, struct sl_db *db, struct sl_engine *eng,
		   const char *table, const char *name, struct sl_error *err)
{
	struct sl_contracts contracts;
	char *version = NULL;
	json_t *done = json_array(), *sets = json_array();
	int rc = -1;
	memset(&contracts, 0, sizeof(contracts));
	if (sl_contracts_load(&contracts, ctx->cfg->features_dir, ctx->cfg->models_dir, err) ||
	    current_version(eng, &version, err))
		goto out;
	rc = sl_capture_baselines(db, &contracts, table, name, version, done, sets, err);
	if (rc && !json_array_size(done))
		goto out;
	if (!ctx->json && !ctx->quiet) {
		size_t i;
		json_t *o;
		json_array_foreach(done, i, o)
			printf("captured baseline %s of %s: %lld row(s), %lld column(s), schema version %s (id %lld)\n",
			       name, json_string_value(json_object_get(o, "table")),
			       (long long)json_integer_value(json_object_get(o, "rows")),
			       (long long)json_integer_value(json_object_get(o, "columns")),
			       version ? version : "none",
			       (long long)json_integer_value(json_object_get(o, "id")));
		json_array_foreach(sets, i, o)
			printf("captured training set %s of %s: %lld row(s), %lld column(s) the model contracts read\n",
			       name, json_string_value(json_object_get(o, "table")),
			       (long long)json_integer_value(json_object_get(o, "rows")),
			       (long long)json_integer_value(json_object_get(o, "columns")));
	}
	if (rc) {
		if (!strncmp(err->message, "no feature contracts", 20))
			sl_err(err, SL_USAGE, "no feature contracts in %s: name a table with --table",
			       ctx->cfg->features_dir);
		goto out;
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "baseline capture");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "captured", json_incref(done));
		json_object_set_new(doc, "training_sets", json_incref(sets));
		sl_cli_json(doc);
	}
	rc = 0;
out:
	json_decref(done);
	json_decref(sets);
	free(version);
	sl_contracts_free(&contracts);
	return rc;
}

static int list(struct sl_ctx *ctx, struct sl_db *db, struct sl_error *err)
{
	struct sl_baseline_row *rows;
	size_t n;
	if (sl_baseline_list(db, &rows, &n, err))
		return -1;
	if (ctx->json) {
		json_t *doc = json_object(), *a = json_array();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "baseline list");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:I}",
							   "id", (json_int_t)rows[i].id, "name", rows[i].name,
							   "table", rows[i].table, "schema_version",
							   rows[i].schema_version ? json_string(rows[i].schema_version)
										  : json_null(),
							   "taken_at", rows[i].taken_at, "rows",
							   (json_int_t)rows[i].rows, "bytes",
							   (json_int_t)rows[i].bytes));
		json_object_set_new(doc, "baselines", a);
		sl_cli_json(doc);
	} else if (!n) {
		printf("no data baselines in %s (sluice baseline capture)\n", ctx->env_selected);
	} else {
		printf("  %-6s %-12s %-24s %-8s %-22s %10s %10s\n", "ID", "NAME", "TABLE", "SCHEMA",
		       "TAKEN AT", "ROWS", "BYTES");
		for (size_t i = 0; i < n; i++)
			printf("  %-6lld %-12s %-24s %-8s %-22s %10lld %10zu\n", rows[i].id, rows[i].name,
			       rows[i].table, rows[i].schema_version ? rows[i].schema_version : "-",
			       rows[i].taken_at, rows[i].rows, rows[i].bytes);
	}
	sl_baseline_rows_free(rows, n);
	return 0;
}

static int show_or_diff(struct sl_ctx *ctx, struct sl_db *db, const char *table, const char *name,
			int diff, struct sl_error *err)
{
	struct sl_profile base, cur;
	struct sl_baseline_row meta;
	int found;
	memset(&cur, 0, sizeof(cur));
	memset(&meta, 0, sizeof(meta));
	if (sl_baseline_load(db, table, name, &base, &meta, &found, err))
		return -1;
	if (!found)
		return sl_err(err, SL_USAGE, "no baseline '%s' of %s in %s (sluice baseline capture)",
			      name, table, ctx->env_selected);
	int rc = -1;
	if (!diff) {
		if (ctx->json) {
			json_t *doc = json_object();
			json_object_set_new(doc, "ok", json_true());
			sl_json_set_str(doc, "command", "baseline show");
			json_object_set_new(doc, "id", json_integer(meta.id));
			sl_json_set_str(doc, "name", meta.name);
			json_object_set_new(doc, "schema_version",
					    meta.schema_version ? json_string(meta.schema_version) : json_null());
			json_object_set_new(doc, "profile", sl_profile_to_json(&base));
			sl_cli_json(doc);
		} else {
			printf("baseline %s of %s (id %lld, schema version %s, taken %s)\n", meta.name,
			       table, meta.id, meta.schema_version ? meta.schema_version : "-",
			       meta.taken_at);
			for (size_t i = 0; i < base.ncols; i++) {
				const struct sl_colprof *c = &base.cols[i];
				printf("  %-24s %6.2f%% null  %9.0f distinct", c->name,
				       100 * sl_colprof_null_fraction(c), sl_colprof_distinct(c));
				if (c->kind == SL_COL_NUMERIC && c->count > c->nulls + c->invalid)
					printf("  mean %.4g  min %.4g  max %.4g", c->mean, c->min, c->max);
				printf("%s\n", c->exact_ok ? "  (exact)" : "  (sketch)");
			}
		}
		rc = 0;
		goto out;
	}
	if (sl_profile_table(db, table, NULL, 0, NULL, 1, SL_PROFILE_EXACT_ROWS, &cur, err))
		goto out;
	struct sl_drift_opts o;
	sl_drift_opts_default(&o);
	struct sl_drift_result dr;
	if (sl_drift_compare(&base, &cur, &o, &dr, err))
		goto out;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(!dr.dataset_drift));
		sl_json_set_str(doc, "command", "baseline diff");
		sl_json_set_str(doc, "table", table);
		sl_json_set_str(doc, "baseline", meta.name);
		json_object_set_new(doc, "drift", sl_drift_json(&dr));
		sl_cli_json(doc);
	} else {
		sl_drift_print(&dr, stdout);
	}
	rc = dr.dataset_drift ? 1 : 0;
	sl_drift_result_free(&dr);
out:
	sl_profile_free(&base);
	sl_profile_free(&cur);
	free(meta.name);
	free(meta.table);
	free(meta.schema_version);
	free(meta.taken_at);
	return rc;
}

static int data_baseline(struct sl_ctx *ctx, struct sl_strvec *args, const char *table,
			 const char *name)
{
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL;
	struct sl_engine eng;
	const char *sub = args->v[0];
	int rc = -1;
	if ((!strcmp(sub, "show") || !strcmp(sub, "diff")) && args->n != 2 && !table) {
		sl_err(&err, SL_USAGE, "baseline %s needs a TABLE", sub);
		sl_err_hint(&err, "usage: sluice baseline %s TABLE [--name N]", sub);
		return sl_cli_fail(ctx, &err);
	}
	if (sl_ctx_open(ctx, &db, &eng, &err))
		goto fail;
	if (!strcmp(sub, "capture"))
		rc = capture(ctx, db, &eng, table, name, &err);
	else if (!strcmp(sub, "list"))
		rc = list(ctx, db, &err);
	else
		rc = show_or_diff(ctx, db, table ? table : args->v[1], name, !strcmp(sub, "diff"), &err);
	if (rc < 0)
		goto fail;
	sl_db_close(db);
	return rc ? SL_FAILED : SL_OK;
fail:
	sl_db_close(db);
	return sl_cli_fail(ctx, &err);
}

int cmd_baseline(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *desc = NULL, *table = NULL, *name = "default";
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "description", &desc, "TEXT", "what the baseline is" },
		{ SL_OPT_STRING, 0, "table", &table, "TABLE", "data baselines: this table" },
		{ SL_OPT_STRING, 0, "name", &name, "NAME", "data baselines: this name (default)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	if (args.n && (!strcmp(args.v[0], "capture") || !strcmp(args.v[0], "list") ||
		       !strcmp(args.v[0], "show") || !strcmp(args.v[0], "diff"))) {
		rc = data_baseline(ctx, &args, table, name);
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	if (args.n != 1) {
		sl_strvec_free(&args);
		sl_err(&err, SL_USAGE, "baseline needs exactly one VERSION (or capture|list|show|diff)");
		sl_err_hint(&err, "usage: sluice baseline VERSION, or sluice baseline capture [--table T]");
		return sl_cli_fail(ctx, &err);
	}
	struct sl_db *db = NULL;
	struct sl_engine eng;
	if (sl_ctx_open(ctx, &db, &eng, &err) || sl_baseline(&eng, args.v[0], desc, &err)) {
		sl_db_close(db);
		sl_strvec_free(&args);
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "baseline");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		sl_json_set_str(doc, "baseline", args.v[0]);
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		printf("baselined %s at version %s\n", ctx->env_selected, args.v[0]);
	}
	sl_strvec_free(&args);
	sl_db_close(db);
	return SL_OK;
}
