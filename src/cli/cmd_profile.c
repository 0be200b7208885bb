/*
 * cmd_profile.c - `sluice profile TABLE [--where SQL] [--sample N|P%]
 * [--columns a,b] [-o FILE]`: one streaming pass over a table, printing or
 * saving its profile; `sluice profile merge FILE... [-o FILE]`: the profile
 * of the union of shards' profiles.
 */
#include "cli.h"
#include "../stats/profile.h"
#include "../stats/sketch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int write_profile(const struct sl_profile *p, const char *path, struct sl_error *err)
{
	json_t *j = sl_profile_to_json(p);
	int rc = json_dump_file(j, path, JSON_COMPACT);
	json_decref(j);
	if (rc)
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot write: %s", strerror(errno));
	return 0;
}

static int read_profile(const char *path, struct sl_profile *p, struct sl_error *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return sl_err_at(err, SL_USAGE, path, je.line > 0 ? je.line : 0,
				 je.column > 0 ? je.column : 0, "%s", je.text);
	/* a saved profile, or the --format json output of `profile` */
	const json_t *inner = json_object_get(j, "profile");
	int rc = sl_profile_from_json(p, inner ? inner : j, err);
	json_decref(j);
	if (rc && !err->file[0])
		sl_err_prefix(err, "%s: ", path);
	return rc;
}

static void print_profile(const struct sl_profile *p)
{
	printf("profile of %s: %llu row(s)%s\n", p->table, (unsigned long long)p->rows,
	       p->sample < 1 ? " (sampled)" : "");
	printf("  %-24s %-12s %7s %9s %12s %12s %12s %12s\n", "COLUMN", "KIND", "NULL%", "DISTINCT",
	       "MEAN", "MIN", "MEDIAN", "MAX");
	for (size_t i = 0; i < p->ncols; i++) {
		const struct sl_colprof *c = &p->cols[i];
		const char *kind = c->kind == SL_COL_NUMERIC ? "numeric"
				   : c->kind == SL_COL_TIME ? "time" : "categorical";
		printf("  %-24s %-12s %6.2f%% %9.0f", c->name, kind, 100 * sl_colprof_null_fraction(c),
		       sl_colprof_distinct(c));
		if (c->kind == SL_COL_NUMERIC && c->count > c->nulls + c->invalid) {
			printf(" %12.4g %12.4g %12.4g %12.4g", c->mean, c->min,
			       sl_kll_quantile(c->kll, 0.5), c->max);
		} else if (c->kind == SL_COL_TIME) {
			printf("  %s .. %s", c->tmin ? c->tmin : "-", c->tmax ? c->tmax : "-");
		} else if (c->kind == SL_COL_CATEGORICAL) {
			size_t n;
			const struct sl_topk_item *t = sl_topk_items(c->topk, &n);
			printf("  top:");
			for (size_t k = 0; k < n && k < 3; k++)
				printf(" %s (%llu)", t[k].value, (unsigned long long)t[k].count);
		}
		if (c->invalid)
			printf("  [%llu invalid]", (unsigned long long)c->invalid);
		printf("\n");
	}
}

static int merge_cmd(struct sl_ctx *ctx, struct sl_strvec *args, const char *out)
{
	struct sl_error err;
	sl_error_clear(&err);
	if (args->n < 2) {
		sl_err(&err, SL_USAGE, "profile merge needs at least one profile file");
		sl_err_hint(&err, "usage: sluice profile merge FILE... [-o FILE]");
		return sl_cli_fail(ctx, &err);
	}
	struct sl_profile all, one;
	memset(&all, 0, sizeof(all));
	if (read_profile(args->v[1], &all, &err))
		return sl_cli_fail(ctx, &err);
	for (size_t i = 2; i < args->n; i++) {
		if (read_profile(args->v[i], &one, &err))
			goto fail;
		int rc = sl_profile_merge(&all, &one, &err);
		sl_profile_free(&one);
		if (rc) {
			sl_err_prefix(&err, "%s: ", args->v[i]);
			goto fail;
		}
	}
	if (out && write_profile(&all, out, &err))
		goto fail;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "profile merge");
		json_object_set_new(doc, "merged", json_integer((json_int_t)(args->n - 1)));
		json_object_set_new(doc, "profile", sl_profile_to_json(&all));
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		print_profile(&all);
	}
	sl_profile_free(&all);
	return SL_OK;
fail:
	sl_profile_free(&all);
	return sl_cli_fail(ctx, &err);
}

int cmd_profile(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *where = NULL, *sample = NULL, *columns = NULL, *out = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "where", &where, "SQL", "only rows matching this condition" },
		{ SL_OPT_STRING, 0, "sample", &sample, "N|P%", "read about N rows (or P percent)" },
		{ SL_OPT_STRING, 0, "columns", &columns, "A,B", "only these columns" },
		{ SL_OPT_STRING, 'o', "output", &out, "FILE", "also save the profile as JSON" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT, cols = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	if (args.n && !strcmp(args.v[0], "merge")) {
		rc = merge_cmd(ctx, &args, out);
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_profile p;
	memset(&p, 0, sizeof(p));
	if (args.n != 1) {
		sl_err(&err, SL_USAGE, "profile needs one TABLE (or: profile merge FILE...)");
		sl_err_hint(&err, "usage: sluice profile TABLE [--where SQL] [--sample N] [-o FILE]");
		goto fail;
	}
	if (columns) {
		char *copy = sl_strdup(columns), *save = NULL;
		for (char *c = strtok_r(copy, ", ", &save); c; c = strtok_r(NULL, ", ", &save))
			sl_strvec_push(&cols, c);
		free(copy);
	}
	if (sl_ctx_open(ctx, &db, &eng, &err))
		goto fail;
	double frac = 1;
	if (sample) {
		char *end;
		double v = strtod(sample, &end);
		if (end == sample || !(v > 0) || (*end && strcmp(end, "%") != 0)) {
			sl_err(&err, SL_USAGE, "--sample takes a row count or a percentage, not '%s'", sample);
			goto fail;
		}
		if (*end == '%') {
			frac = v / 100;
		} else {
			long long n = 0;
			if (db->driver->count_rows(db, args.v[0], &n, &err))
				goto fail;
			frac = n > 0 ? v / (double)n : 1;
		}
		if (frac > 1)
			frac = 1;
	}
	if (sl_profile_table(db, args.v[0], cols.n ? (const char *const *)cols.v : NULL, cols.n,
			     where, frac, SL_PROFILE_EXACT_ROWS, &p, &err))
		goto fail;
	if (out && write_profile(&p, out, &err))
		goto fail;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "profile");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "profile", sl_profile_to_json(&p));
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		print_profile(&p);
	}
	sl_profile_free(&p);
	sl_db_close(db);
	sl_strvec_free(&args);
	sl_strvec_free(&cols);
	return SL_OK;
fail:
	sl_profile_free(&p);
	sl_db_close(db);
	sl_strvec_free(&args);
	sl_strvec_free(&cols);
	return sl_cli_fail(ctx, &err);
}
