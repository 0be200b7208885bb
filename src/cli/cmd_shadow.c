/*
 * cmd_shadow.c - `sluice shadow --queries FILE`: replay a captured workload
 * against the current schema and against a shadow with the pending
 * migrations applied, and report per query ok / broken / differs / slower
 * / failing / prepared / skipped.  Exit 1 when a query breaks.
 */
#include "cli.h"
#include "../analyze/plan.h"
#include "../deploy/querylog.h"
#include "../deploy/shadow.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A whole number in [min, max] from s; -1 with err when it is not one. */
static int parse_long(const char *opt, const char *s, long min, long max, long *out,
		      struct sl_error *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return sl_err(err, SL_USAGE, "--%s takes a whole number from %ld to %ld, not '%s'", opt,
			      min, max, s);
	*out = v;
	return 0;
}

/* Progress on a terminal, overwritten in place on stderr. */
static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "\r  replaying on the %s schema: %zu/%zu   ", phase, done, total);
	if (done == total && !strcmp(phase, "shadow"))
		fprintf(stderr, "\r%60s\r", "");
	fflush(stderr);
}

/* The first 80 characters of sql on one line (white space folded, a
 * multi-byte character never cut). */
static void short_sql(struct sl_buf *out, const char *sql)
{
	size_t chars = 0;
	int space = 0;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
		if (isspace(*p)) {
			space = 1;
			continue;
		}
		if ((*p & 0xC0) != 0x80) {
			if (chars + space >= 80) {
				/* cut: replace the last three characters by "..." */
				size_t n = out->len, drop = 0;
				while (n && drop < 3) {
					n--;
					if (((unsigned char)out->s[n] & 0xC0) != 0x80)
						drop++;
				}
				out->len = n;
				out->s[n] = '\0';
				sl_buf_adds(out, "...");
				return;
			}
			chars += (size_t)space + 1;
		}
		if (space && out->len)
			sl_buf_addc(out, ' ');
		space = 0;
		sl_buf_addc(out, (char)*p);
	}
}

static json_t *ms_json(const struct sl_shadow_side *s)
{
	return s->ran ? json_real((double)(long long)(s->ms * 1000.0 + 0.5) / 1000.0) : json_null();
}

static void render_json(struct sl_ctx *ctx, const struct sl_querylog *log,
			const struct sl_shadow_report *rep)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "ok", json_boolean(rep->summary[SL_SH_BROKEN] == 0));
	sl_json_set_str(doc, "command", "shadow");
	sl_json_set_str(doc, "environment", ctx->env_selected);
	sl_json_set_str(doc, "format", sl_qfmt_name(log->format));
	sl_json_set_str(doc, "mode", rep->mode);
	sl_json_set_str(doc, "shadow", rep->shadow);
	json_t *applied = json_array();
	for (size_t i = 0; i < rep->applied.n; i++)
		json_array_append_new(applied, json_string(rep->applied.v[i]));
	json_object_set_new(doc, "applied", applied);
	json_object_set_new(doc, "queries", json_integer((json_int_t)rep->queries));
	json_object_set_new(doc, "distinct", json_integer((json_int_t)rep->distinct));
	json_t *sum = json_object();
	for (int s = 0; s < SL_SH_NSTATUS; s++)
		json_object_set_new(sum, sl_shadow_status_name((enum sl_shadow_status)s),
				    json_integer((json_int_t)rep->summary[s]));
	json_object_set_new(doc, "summary", sum);
	json_t *results = json_array();
	for (size_t i = 0; i < rep->n; i++) {
		const struct sl_shadow_result *r = &rep->v[i];
		json_t *o = json_object();
		sl_json_set_str(o, "query", r->sql);
		json_object_set_new(o, "count", json_integer(r->count));
		json_object_set_new(o, "line", json_integer(r->line));
		sl_json_set_str(o, "kind", r->normalized ? "prepare" : sl_qkind_name(r->kind));
		sl_json_set_str(o, "status", sl_shadow_status_name(r->status));
		sl_json_set_str(o, "reason", r->reason);
		json_object_set_new(o, "current_ms", ms_json(&r->cur));
		json_object_set_new(o, "shadow_ms", ms_json(&r->shadow));
		json_object_set_new(o, "rows_current", r->cur.rows >= 0 ? json_integer(r->cur.rows) : json_null());
		json_object_set_new(o, "rows_shadow", r->shadow.rows >= 0 ? json_integer(r->shadow.rows) : json_null());
		json_array_append_new(results, o);
	}
	json_object_set_new(doc, "results", results);
	json_object_set_new(doc, "wall_ms", json_integer(rep->wall_ms));
	/* sl_cli_json prints reals with 17 digits (0.021999999999999999 ms):
	 * nine significant digits keep every microsecond and read as written */
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

static void render_text(struct sl_ctx *ctx, const char *path, const struct sl_querylog *log,
			const struct sl_shadow_report *rep)
{
	printf("shadow replay for %s (%s): %zu queries, %zu distinct, from %s (%s)\n",
	       ctx->env_selected, ctx->url_masked, rep->queries, rep->distinct, path,
	       sl_qfmt_name(log->format));
	printf("shadow: %s; %zu pending migration(s) applied%s", rep->shadow, rep->applied.n,
	       rep->applied.n ? ":" : " (the shadow is the current schema)");
	for (size_t i = 0; i < rep->applied.n; i++)
		printf("%s %s", i ? "," : "", rep->applied.v[i]);
	printf("\n\n ");
	for (int s = 0; s < SL_SH_NSTATUS; s++)
		printf(" %s %zu", sl_shadow_status_name((enum sl_shadow_status)s), rep->summary[s]);
	printf("\n");
	int header = 0;
	for (size_t i = 0; i < rep->n; i++) {
		const struct sl_shadow_result *r = &rep->v[i];
		if (r->status == SL_SH_OK || (r->status == SL_SH_SKIPPED && !ctx->verbose))
			continue;
		if (!header) {
			printf("\n  %-9s %6s  %-80s  %s\n", "STATUS", "COUNT", "QUERY", "REASON");
			header = 1;
		}
		struct sl_buf q = SL_BUF_INIT;
		short_sql(&q, r->sql);
		printf("  %-9s %6ld  %-80s  %s\n", sl_shadow_status_name(r->status), r->count, q.s,
		       r->reason ? r->reason : "");
		sl_buf_free(&q);
	}
	if (rep->summary[SL_SH_SKIPPED] && !ctx->verbose)
		printf("\n%zu statement(s) not replayed (transaction control, session settings...): "
		       "-v lists them\n", rep->summary[SL_SH_SKIPPED]);
	printf("\n");
	if (rep->summary[SL_SH_BROKEN])
		printf("%zu query(ies) break on the shadow: the pending migrations would break them; ",
		       rep->summary[SL_SH_BROKEN]);
	else
		printf("no query breaks; ");
	printf("%s was not changed (%ld ms)\n", ctx->env_selected, rep->wall_ms);
}

int cmd_shadow(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *queries = NULL, *fmt_name = "auto", *runs_s = "3", *slower_s = "2.0",
		   *limit_s = "0", *shadow_url = NULL;
	long timeout_ms = 30000, floor_ms = 5;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "queries", &queries, "FILE", "the workload: SQL, a PostgreSQL log or a pg_stat_statements CSV" },
		{ SL_OPT_STRING, 0, "queries-format", &fmt_name, "FMT", "sql, pglog or pgss (default: detected)" },
		{ SL_OPT_STRING, 0, "runs", &runs_s, "N", "runs per query and side; the median counts (default 3)" },
		{ SL_OPT_STRING, 0, "slower", &slower_s, "X", "slower when the shadow's median is over X times the current's (default 2.0)" },
		{ SL_OPT_DURATION, 0, "slower-floor", &floor_ms, "DUR", "... and at least this long (default 5ms)" },
		{ SL_OPT_STRING, 0, "limit", &limit_s, "N", "replay only the first N statements of FILE (default: all)" },
		{ SL_OPT_DURATION, 0, "timeout", &timeout_ms, "DUR", "statement timeout per query (default 30s)" },
		{ SL_OPT_STRING, 0, "shadow-url", &shadow_url, "URL", "replay on this scratch database (default: the environment's shadow_url)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL, *scratch = NULL;
	struct sl_engine eng;
	struct sl_querylog log;
	struct sl_shadow_report rep;
	memset(&log, 0, sizeof(log));
	memset(&rep, 0, sizeof(rep));
	enum sl_qfmt fmt;
	long runs, limit;
	char *end;
	errno = 0;
	double slower = strtod(slower_s, &end);
	if (!queries) {
		sl_err(&err, SL_USAGE, "shadow needs --queries FILE");
		sl_err_hint(&err, "usage: sluice shadow --queries FILE (see 'sluice help shadow')");
		goto fail;
	}
	if (sl_qfmt_parse(fmt_name, &fmt)) {
		sl_err(&err, SL_USAGE, "unknown --queries-format '%s' (sql, pglog, pgss)", fmt_name);
		goto fail;
	}
	if (!*slower_s || *end || errno || !(slower >= 1.0 && slower <= 1000.0)) {
		sl_err(&err, SL_USAGE, "--slower takes a factor from 1 to 1000, not '%s'", slower_s);
		goto fail;
	}
	if (parse_long("runs", runs_s, 1, 100, &runs, &err) ||
	    parse_long("limit", limit_s, 0, 1000000000L, &limit, &err))
		goto fail;
	/* before any connection opens: SQLite's statement timeout is installed
	 * as each connection opens */
	sl_shadow_init();
	if (sl_ctx_open(ctx, &db, &eng, &err))
		goto fail;
	eng.on_event = NULL;
	if (sl_querylog_load(&log, queries, fmt, db->driver->split, (size_t)limit, &err) ||
	    sl_plan_open_scratch(ctx->cfg, ctx->url ? NULL : ctx->env_selected, shadow_url, &scratch,
				 &err))
		goto fail;
	struct sl_shadow_opts o = {
		.runs = (int)runs,
		.slower_factor = slower,
		.floor_ms = (double)floor_ms,
		.timeout_ms = timeout_ms,
		.scratch = scratch,
	};
	if (!ctx->json && !ctx->quiet && isatty(STDERR_FILENO))
		o.progress = on_progress;
	if (sl_shadow_replay(&eng, &log, &o, &rep, &err))
		goto fail;
	if (ctx->json)
		render_json(ctx, &log, &rep);
	else if (!ctx->quiet || rep.summary[SL_SH_BROKEN])
		render_text(ctx, queries, &log, &rep);
	int code = rep.summary[SL_SH_BROKEN] ? SL_FAILED : SL_OK;
	sl_shadow_report_free(&rep);
	sl_querylog_free(&log);
	sl_db_close(scratch);
	sl_db_close(db);
	return code;
fail:
	sl_shadow_report_free(&rep);
	sl_querylog_free(&log);
	sl_db_close(scratch);
	sl_db_close(db);
	return sl_cli_fail(ctx, &err);
}
