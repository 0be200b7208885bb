/*
 * cmd_migrate.c - `sluice migrate` and `sluice undo` ([--to VERSION]
 * [--dry-run] [--group]).
 */
#include "cli.h"

#include <string.h>

/* Shared by migrate and undo: render a run (or a failed run). */
int sl_cli_render_run(struct sl_ctx *ctx, const char *what, int dry_run,
		      const struct sl_run_result *res, int rc, const struct sl_error *err);
int sl_cli_render_run(struct sl_ctx *ctx, const char *what, int dry_run,
		      const struct sl_run_result *res, int rc, const struct sl_error *err)
{
	int code = rc ? (err->code ? err->code : SL_ENV) : SL_OK;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(rc == 0));
		sl_json_set_str(doc, "command", what);
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "dry_run", json_boolean(dry_run));
		sl_json_set_str(doc, "from", res->status.current);
		sl_json_set_str(doc, "current", res->current);
		json_object_set_new(doc, dry_run ? "planned" : (strcmp(what, "undo") == 0 ? "undone" : "applied"),
				    sl_cli_json_steps(res));
		if (rc) {
			json_object_set_new(doc, "exit_code", json_integer(code));
			json_object_set_new(doc, "error", sl_cli_json_error(err));
		}
		sl_cli_json(doc);
		if (rc) {
			struct sl_buf b = SL_BUF_INIT;
			sl_error_format(err, &b);
			fprintf(stderr, "sluice: %s\n", b.s);
			sl_buf_free(&b);
		}
		return code;
	}
	if (rc)
		return sl_cli_fail(ctx, err);
	if (dry_run) {
		printf("dry run on %s (%s): would %s %zu migration(s)\n", ctx->env_selected,
		       ctx->url_masked, strcmp(what, "undo") == 0 ? "undo" : "apply", res->nsteps);
		for (size_t i = 0; i < res->nsteps; i++) {
			const struct sl_step_result *s = &res->steps[i];
			printf("  %-16s %-40s %zu statement(s)%s%s\n",
			       s->m->kind == SL_REPEATABLE ? "R" : s->m->version, s->m->description,
			       s->statements, s->note[0] ? "; " : "", s->note);
		}
		return SL_OK;
	}
	if (!ctx->quiet) {
		if (res->nsteps == 0)
			printf("%s is up to date at version %s\n", ctx->env_selected,
			       res->current ? res->current : "none");
		else
			printf("%s %zu migration(s) on %s; now at version %s\n",
			       strcmp(what, "undo") == 0 ? "undid" : "applied", res->nsteps,
			       ctx->env_selected, res->current ? res->current : "none");
	}
	return SL_OK;
}

/*
 * migrate and undo take the same options and render the same way; only the
 * engine call differs.
 */
static int run_command(int argc, char **argv, struct sl_ctx *ctx, int up)
{
	const char *to = NULL;
	int dry_run = 0, group = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "to", &to, "VERSION",
		  up ? "apply up to and including VERSION" : "undo everything newer than VERSION (0: all)" },
		{ SL_OPT_FLAG, 'n', "dry-run", &dry_run, NULL, "show what would run; change nothing" },
		{ SL_OPT_FLAG, 0, "group", &group, NULL, "one transaction for the run, a savepoint per migration" },
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
	rc = up ? sl_migrate(&eng, to, dry_run, &res, &err) : sl_undo(&eng, to, dry_run, &res, &err);
	int code = sl_cli_render_run(ctx, up ? "migrate" : "undo", dry_run, &res, rc, &err);
	sl_run_result_free(&res);
	sl_db_close(db);
	return code;
}

int cmd_migrate(int argc, char **argv, struct sl_ctx *ctx)
{
	return run_command(argc, argv, ctx, 1);
}

/* `sluice undo`: undo scripts newest first; refuses (exit 1, nothing
 * undone) where one is missing. */
int cmd_undo(int argc, char **argv, struct sl_ctx *ctx)
{
	return run_command(argc, argv, ctx, 0);
}
