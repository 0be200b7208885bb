/*
 * cmd_undo.c - `sluice undo [--to VERSION] [--dry-run]`: run undo scripts
 * newest first; refuses (exit 1, nothing undone) where one is missing.
 */
#include "cli.h"

int sl_cli_render_run(struct sl_ctx *ctx, const char *what, int dry_run,
		      const struct sl_run_result *res, int rc, const struct sl_error *err);

int cmd_undo(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *to = NULL;
	int dry_run = 0, group = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_FLAG, 0, "group", &group, NULL, "one transaction for the run, a savepoint per migration" },
		{ SL_OPT_STRING, 0, "to", &to, "VERSION", "undo everything newer than VERSION (0: all)" },
		{ SL_OPT_FLAG, 'n', "dry-run", &dry_run, NULL, "show what would run; change nothing" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	sl_error_clear(&err);
	if (sl_ctx_open(ctx, &db, &eng, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (group)
		eng.group = 1;
	struct sl_run_result res;
	rc = sl_undo(&eng, to, dry_run, &res, &err);
	int code = sl_cli_render_run(ctx, "undo", dry_run, &res, rc, &err);
	sl_run_result_free(&res);
	sl_db_close(db);
	return code;
}
