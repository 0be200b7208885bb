/*
 * main.c - sluice's entry point: global options and the command table.
 *
 * Commands are rows in one table, as in git.c and Redis: dispatch is a
 * lookup.  Global options may stand before or after the command and its
 * arguments (`sluice -e dev status` == `sluice status -e dev`); they are
 * pulled out of the whole command line first, and what is left goes to the
 * command's own parser.
 */
#include "cli/cli.h"
#include "deploy/flag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sl_ctx g_ctx = { .lock_timeout_ms = -1 };
static int g_help, g_version;

const struct sl_option sl_global_options[] = {
	{ SL_OPT_STRING, 'C', NULL, NULL, "DIR", "run as if started in DIR" },
	{ SL_OPT_STRING, 'c', "config", &g_ctx.config_path, "FILE", "config file (default ./sluice.yaml)" },
	{ SL_OPT_STRING, 'e', "env", &g_ctx.env_name, "ENV", "environment from the config" },
	{ SL_OPT_STRING, 0, "url", &g_ctx.url, "URL", "database URL instead of an environment" },
	{ SL_OPT_STRING, 0, "format", &g_ctx.format, "FMT", "text (default), json; lint also sarif, junit, github" },
	{ SL_OPT_DURATION, 0, "lock-timeout", &g_ctx.lock_timeout_ms, "DUR", "wait for the migration lock this long (default 60s)" },
	{ SL_OPT_FLAG, 'q', "quiet", &g_ctx.quiet, NULL, "print only errors" },
	{ SL_OPT_FLAG, 'v', "verbose", &g_ctx.verbose, NULL, "say more" },
	{ SL_OPT_FLAG, 'h', "help", &g_help, NULL, "show help" },
	{ SL_OPT_FLAG, 0, "version", &g_version, NULL, "show the version" },
	{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
};

const struct sl_command sl_commands[] = {
	{ "init", cmd_init, "init [--name NAME] [--force]",
	  "write a commented sluice.yaml and empty migrations/, features/, models/",
	  "  --name NAME                  project name (default: this directory's)\n"
	  "  -f, --force                  overwrite an existing sluice.yaml\n" },
	{ "status", cmd_status, "status",
	  "applied, pending, failed, changed and missing migrations", NULL },
	{ "migrate", cmd_migrate, "migrate [--to VERSION] [-n|--dry-run] [--group]",
	  "apply pending migrations, each in its own transaction",
	  "  --to VERSION                 apply up to and including VERSION\n"
	  "  -n, --dry-run                show what would run (parsed, with notes); change nothing\n"
	  "  --group                      one transaction for the run, a savepoint per migration\n" },
	{ "validate", cmd_validate, "validate",
	  "fail on edited or missing applied migrations, order and syntax problems", NULL },
	{ "undo", cmd_undo, "undo [--to VERSION] [-n|--dry-run] [--group]",
	  "run undo/down scripts newest first (--to 0: all; default: the newest one)",
	  "  --to VERSION                 undo everything newer than VERSION (0: all)\n"
	  "  -n, --dry-run                show what would run; change nothing\n"
	  "  --group                      one transaction for the run, a savepoint per migration\n" },
	{ "baseline", cmd_baseline, "baseline VERSION [--description TEXT]",
	  "adopt an existing database: versions up to VERSION count as applied",
	  "  --description TEXT           what the baseline is\n" },
	{ "repair", cmd_repair, "repair",
	  "remove failed rows, realign checksums, mark missing files deleted", NULL },
	{ "lint", cmd_lint, "lint [--forward-only] [-a|--all] [FILE|DIR...]",
	  "find destructive, breaking and lock-heavy changes with the PostgreSQL parser",
	  "  --forward-only               destructive and backward-incompatible findings are errors\n"
	  "  -a, --all                    every migration, without a database (default: pending ones)\n"
	  "  --format sarif|junit|github  CI output (besides text and json)\n" },
	{ "plan", cmd_plan, "plan [--forward-only] [--shadow-url URL]",
	  "apply pending migrations to a shadow and report each change, classified",
	  "  --forward-only               exit 1 on any breaking or destructive change\n"
	  "  --shadow-url URL             plan on this empty scratch database\n" },
	{ "shadow", cmd_shadow, "shadow --queries FILE [--runs N] [--slower X] [--limit N]",
	  "replay a captured workload on the current schema and on a shadow with the pending migrations (exit 1 if a query breaks)",
	  "  --queries FILE               SQL statements, a PostgreSQL log or a pg_stat_statements CSV\n"
	  "  --queries-format FMT         sql, pglog or pgss (default: detected)\n"
	  "  --runs N                     runs per query and side; the median counts (default 3)\n"
	  "  --slower X                   slower: shadow median over X times the current's (default 2.0)\n"
	  "  --slower-floor DUR           ... and at least this long (default 5ms)\n"
	  "  --limit N                    only the first N statements of FILE\n"
	  "  --timeout DUR                statement timeout per query (default 30s)\n"
	  "  --shadow-url URL             replay on this scratch database (default: shadow_url)\n" },
	{ "profile", cmd_profile, "profile TABLE [--where SQL] [--sample N|P%] [--columns A,B] [-o FILE]",
	  "profile a table's columns in one streaming pass; `profile merge FILE...` merges shards",
	  "  --where SQL                  only rows matching this condition\n"
	  "  --sample N|P%                read about N rows (or P percent), a repeatable draw\n"
	  "  --columns A,B                only these columns\n"
	  "  -o, --output FILE            also save the profile as JSON (for merge and baselines)\n" },
	{ "contract", cmd_contract, "contract check|list",
	  "check the feature and model contracts against the live schema (exit 1 on a problem)", NULL },
	{ "impact", cmd_impact, "impact [--static] [MODEL...]",
	  "what a change does to the models: retrained proxy, stored predictions, impact score (exit 1 on a drop)",
	  "  --static                     only schema compatibility, from a shadow plan of the pending migrations\n"
	  "  --baseline NAME              the training set to compare with (sluice baseline capture; default: default)\n"
	  "  --baseline-env ENV           read the baseline rows live from another environment instead\n"
	  "  --where SQL                  only the candidate rows that match\n"
	  "  --max-drop X                 override every contract's max_drop\n"
	  "  --min-score X                override the Model Impact Score minimum (default 0.90)\n"
	  "  --sample-rows N              rows per side, a bottom-k sample by key hash (0: every row)\n"
	  "  --no-score                   skip the Model Impact Score (it runs the table's gates)\n" },
	{ "gate", cmd_gate, "gate [TABLE...] [--where SQL] [--baseline-env ENV] [--explain]",
	  "run the data quality gates of the feature contracts; exit 1 when one fails",
	  "  --where SQL                  only rows matching this condition\n"
	  "  --baseline-env ENV           drift against the same tables read live in another environment\n"
	  "  --explain                    print the SQL each metric came from\n" },
	{ "deploy", cmd_deploy, "deploy [--to VERSION] [--strategy standard|forward-only|expand-contract] [--resume]",
	  "guarded deploy: lock, validate, lint, rollback point, apply, post-deploy gates, hooks; rolls back on failure",
	  "  --to VERSION                 deploy up to and including VERSION\n"
	  "  --strategy S                 standard (default), forward-only (refuse breaking changes) or\n"
	  "                               expand-contract (the zero-downtime `sluice expand`)\n"
	  "  --resume                     finish an interrupted deployment (or finish its rollback)\n" },
	{ "rollback", cmd_rollback, "rollback [--deployment ID | --to VERSION] [--reason TEXT]",
	  "undo a deployment (successful, failed or interrupted) with its data; runs on_rollback hooks",
	  "  --deployment ID              the deployment to roll back (default: the newest that changed something)\n"
	  "  --to VERSION                 roll back every deployment above VERSION\n"
	  "  --reason TEXT                why, kept in the record\n" },
	{ "deployments", cmd_deployments, "deployments [-n N] [-a|--all]",
	  "the deployment history of the environment, newest first, with durations",
	  "  -n, --limit N                at most N rows (default 20; 0: all)\n"
	  "  -a, --all                    every environment recorded in the database\n" },
	{ "expand", cmd_expand, "expand [--batch-size N] [--batch-pause DUR] [--ddl-lock-timeout DUR]",
	  "zero-downtime expand of the next operations migration (.yaml): new columns, dual-write triggers, batched backfill, versioned view schemas (PostgreSQL)",
	  "  --batch-size N               rows per backfill transaction (default 1000)\n"
	  "  --batch-pause DUR            pause between backfill batches (default 0)\n"
	  "  --ddl-lock-timeout DUR       lock_timeout of each DDL statement, retried with backoff (default 2s)\n" },
	{ "complete", cmd_complete, "complete [--ddl-lock-timeout DUR]",
	  "the contract step of an expansion: drop the old shape, rename the new into place, record the migration",
	  "  --ddl-lock-timeout DUR       lock_timeout of each DDL statement, retried with backoff (default 2s)\n" },
	{ "switch", cmd_switch, "switch old|new [--ddl-lock-timeout DUR]",
	  "blue-green during an expansion: new sessions of the database read the old or the new shape (its search_path); complete and abort put it back",
	  "  --ddl-lock-timeout DUR       lock_timeout of the statement, retried with backoff (default 2s)\n" },
	{ "abort", cmd_abort, "abort [--ddl-lock-timeout DUR]",
	  "undo an expansion in progress; the original columns and their data are untouched",
	  "  --ddl-lock-timeout DUR       lock_timeout of each DDL statement, retried with backoff (default 2s)\n" },
	{ "flag", cmd_flag, "flag set NAME PERCENT [--reason TEXT] | get NAME | list | eval NAME (ENTITY...|--stdin)",
	  "percentage feature flags: deterministic per-entity rollout, the same rule in the database",
	  "  set NAME PERCENT             set a flag to 0..100 percent (up to 2 decimals)\n"
	  "  get NAME                     show a flag (exit 1 when it is not set)\n"
	  "  list                         every flag\n"
	  "  eval NAME ENTITY...          ENTITY<TAB>0|1<TAB>BUCKET for each entity id\n"
	  "  --reason TEXT                why (set), kept with the flag\n"
	  "  --stdin                      eval the ids on stdin, one a line\n" },
	{ "rollout", cmd_rollout, "rollout run [FLAG] [--time-scale N] | status [FLAG] | list | pause|resume|promote|abort [FLAG] [--reason TEXT]",
	  "progressive rollout of a flag: phases of traffic held under analysis, automatic rollback on bad metrics",
	  "  run [FLAG]                   drive the flag through the phases of its rollout (sluice.yaml 'rollout:'),\n"
	  "                               measuring the analysis every interval; resumes an interrupted one\n"
	  "  status [FLAG]                the newest rollout of FLAG: phase, hold, controller, log\n"
	  "  list                         every rollout of the environment\n"
	  "  pause|resume [FLAG]          stop / restart counting hold time and measuring\n"
	  "  promote [FLAG]               end the current phase now (also after an inconclusive pause)\n"
	  "  abort [FLAG]                 flag to 0, roll the deployment back, end the rollout\n"
	  "  --time-scale N               run: divide every duration by N (tests, demos)\n"
	  "  --reason TEXT                requests: why, for the record\n"
	  "  -n, --limit N                status: log entries shown (default 20)\n"
	  "  --wait DUR                   requests: how long to wait for a running controller (default 10s)\n" },
	{ "run", cmd_run, "run [FILE] [--time-scale N]",
	  "run the pipeline stages of sluice.yaml (or FILE) in order",
	  "  --time-scale N               divide every rollout duration by N (tests, demos)\n" },
	{ "help", cmd_help, "help [COMMAND]", "show help for sluice or a command", NULL },
	{ "version", cmd_version, "version", "show the version", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct sl_command *sl_command_find(const char *name)
{
	for (const struct sl_command *c = sl_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/*
 * -C is applied while parsing so that several -C accumulate as in git
 * (-C a -C b == -C a/b).  It is handled before the table parser runs.
 */
static int apply_chdirs(int argc, char **argv, struct sl_strvec *out, struct sl_error *err)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			for (; i < argc; i++)
				sl_strvec_push(out, argv[i]);
			break;
		}
		if (strncmp(argv[i], "-C", 2) == 0) {
			const char *dir = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (!dir)
				return sl_err(err, SL_USAGE, "option '-C' needs a directory");
			if (chdir(dir) != 0)
				return sl_err(err, SL_USAGE, "cannot change to '%s': %s", dir, strerror(errno));
			continue;
		}
		sl_strvec_push(out, argv[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sl_error err;
	struct sl_strvec pre = SL_STRVEC_INIT, rest = SL_STRVEC_INIT;
	int code;
	sl_error_clear(&err);
	g_ctx.cmd = "sluice";

	if (apply_chdirs(argc - 1, argv + 1, &pre, &err) ||
	    sl_parse_options((int)pre.n, pre.v, sl_global_options, 1, &rest, &err)) {
		code = sl_cli_fail(&g_ctx, &err);
		goto out;
	}
	if (g_ctx.format) {
		if (strcmp(g_ctx.format, "json") == 0) {
			g_ctx.json = 1;
		} else if (strcmp(g_ctx.format, "text") != 0 && strcmp(g_ctx.format, "sarif") != 0 &&
			   strcmp(g_ctx.format, "junit") != 0 && strcmp(g_ctx.format, "github") != 0) {
			sl_err(&err, SL_USAGE, "unknown --format '%s' (text, json; for lint also sarif, junit, github)",
			       g_ctx.format);
			code = sl_cli_fail(&g_ctx, &err);
			goto out;
		}
	}
	if (g_version) {
		code = cmd_version(0, NULL, &g_ctx);
		goto out;
	}
	/* the command is the first argument that is not an option */
	size_t ci = 0;
	while (ci < rest.n && rest.v[ci][0] == '-' && strcmp(rest.v[ci], "--") != 0)
		ci++;
	if (ci >= rest.n || strcmp(rest.v[ci], "--") == 0) {
		if (g_help) {
			code = cmd_help(0, NULL, &g_ctx);
		} else {
			sl_cli_overview(stderr); /* a usage error: not on stdout */
			code = SL_USAGE;
		}
		goto out;
	}
	const struct sl_command *c = sl_command_find(rest.v[ci]);
	if (!c) {
		sl_err(&err, SL_USAGE, "unknown command '%s'", rest.v[ci]);
		sl_err_hint(&err, "'sluice help' lists the commands");
		code = sl_cli_fail(&g_ctx, &err);
		goto out;
	}
	g_ctx.cmd = c->name;
	if (g_help) {
		char *hargv[] = { (char *)c->name, NULL };
		code = cmd_help(1, hargv, &g_ctx);
		goto out;
	}
	/* sluice_flag_enabled() on every SQLite connection sluice opens: metric
	 * queries, gates and pipelines read flags in SQL (flag_ext.c) */
	if (sl_flag_sqlite_register()) {
		sl_err(&err, SL_ENV, "cannot register the SQLite flag functions");
		code = sl_cli_fail(&g_ctx, &err);
		goto out;
	}
	/* the command's arguments: everything but the command word itself */
	struct sl_strvec cargs = SL_STRVEC_INIT;
	for (size_t i = 0; i < rest.n; i++)
		if (i != ci)
			sl_strvec_push(&cargs, rest.v[i]);
	code = c->fn((int)cargs.n, cargs.v ? cargs.v : (char *[]){ NULL }, &g_ctx);
	sl_strvec_free(&cargs);
out:
	fflush(stdout);
	sl_ctx_free(&g_ctx);
	sl_strvec_free(&pre);
	sl_strvec_free(&rest);
	return code;
}
