/*
 * cmd_expand.c - `sluice expand`, `complete`, `abort`: zero-downtime
 * expand/contract of an operations migration (src/deploy/expand.h).
 */
#include "cli.h"
#include "../deploy/expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_note(void *arg, const char *phase, const char *text)
{
	struct sl_ctx *ctx = arg;
	if (ctx->quiet || ctx->json || !text)
		return;
	printf("  %-15s %s\n", phase, text);
	fflush(stdout);
}

typedef int (*xp_fn)(struct sl_engine *, const struct sl_expand_opts *, struct sl_expand_result *,
		     struct sl_error *);

static int run_x(int argc, char **argv, struct sl_ctx *ctx, xp_fn fn, int with_backfill)
{
	const char *batch = NULL, *pause = NULL, *ddl_timeout = NULL;
	const struct sl_option opts_bf[] = {
		{ SL_OPT_STRING, 0, "batch-size", &batch, "N", "rows per backfill transaction (default 1000)" },
		{ SL_OPT_STRING, 0, "batch-pause", &pause, "DUR", "pause between backfill batches (e.g. 50ms; default 0)" },
		{ SL_OPT_STRING, 0, "ddl-lock-timeout", &ddl_timeout, "DUR", "lock_timeout of each DDL statement, retried with backoff (default 2s)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	const struct sl_option *opts = with_backfill ? opts_bf : opts_bf + 2;
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_expand_opts o;
	sl_expand_opts_init(&o);
	if (batch) {
		char *end;
		o.batch_size = strtol(batch, &end, 10);
		if (*end || o.batch_size < 1 || o.batch_size > 10000000) {
			sl_err(&err, SL_USAGE, "invalid --batch-size '%s' (1 to 10000000)", batch);
			return sl_cli_fail(ctx, &err);
		}
	}
	if (pause && (sl_parse_duration_ms(pause, &o.batch_pause_ms) || o.batch_pause_ms < 0)) {
		sl_err(&err, SL_USAGE, "invalid duration '%s' for --batch-pause", pause);
		return sl_cli_fail(ctx, &err);
	}
	if (ddl_timeout && (sl_parse_duration_ms(ddl_timeout, &o.ddl_lock_timeout_ms) || o.ddl_lock_timeout_ms <= 0)) {
		sl_err(&err, SL_USAGE, "invalid duration '%s' for --ddl-lock-timeout", ddl_timeout);
		return sl_cli_fail(ctx, &err);
	}
	o.on_note = on_note;
	o.arg = ctx;
	o.progress = isatty(STDOUT_FILENO) || ctx->verbose;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	if (sl_ctx_open(ctx, &db, &eng, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	struct sl_expand_result r;
	rc = fn(&eng, &o, &r, &err);
	int code;
	if (rc) {
		code = sl_cli_fail(ctx, &err);
	} else if (ctx->json) {
		json_t *x = json_object();
		sl_json_set_str(x, "version", r.version);
		sl_json_set_str(x, "phase", r.phase);
		sl_json_set_str(x, "old_schema", r.old_schema);
		sl_json_set_str(x, "new_schema", r.new_schema);
		json_object_set_new(x, "backfilled_rows", json_integer(r.backfilled));
		json_object_set_new(x, "ddl_retries", json_integer(r.ddl_retries));
		json_object_set_new(x, "duration_ms", json_integer(r.ms));
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", ctx->cmd);
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "expansion", x);
		sl_cli_json(doc);
		code = SL_OK;
	} else {
		if (!ctx->quiet)
			printf("version %s %s on %s in %ld ms (readers: %s old, %s new)\n", r.version, r.phase,
			       ctx->env_selected, r.ms, r.old_schema, r.new_schema);
		code = SL_OK;
	}
	sl_expand_result_free(&r);
	sl_db_close(db);
	return code;
}

/* `sluice deploy --strategy expand-contract`: expand with the defaults. */
int sl_cli_deploy_expand(struct sl_ctx *ctx)
{
	char *argv[] = { NULL };
	return run_x(0, argv, ctx, sl_expand, 1);
}

int cmd_expand(int argc, char **argv, struct sl_ctx *ctx)
{
	return run_x(argc, argv, ctx, sl_expand, 1);
}

static const char *switch_to;

static int do_switch(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
		     struct sl_error *err)
{
	return sl_switch(eng, o, switch_to, r, err);
}

/* `sluice switch old|new`: blue-green, by the database's search_path. */
int cmd_switch(int argc, char **argv, struct sl_ctx *ctx)
{
	if (argc < 1 || argv[0][0] == '-') {
		struct sl_error err;
		sl_error_clear(&err);
		sl_err(&err, SL_USAGE, "usage: sluice switch old|new");
		return sl_cli_fail(ctx, &err);
	}
	switch_to = argv[0];
	return run_x(argc - 1, argv + 1, ctx, do_switch, 0);
}

int cmd_complete(int argc, char **argv, struct sl_ctx *ctx)
{
	return run_x(argc, argv, ctx, sl_complete, 0);
}

int cmd_abort(int argc, char **argv, struct sl_ctx *ctx)
{
	return run_x(argc, argv, ctx, sl_abort, 0);
}
