/*
 * cli.h - what the commands share: the context built from global options,
 * opening the selected environment, and rendering errors and JSON.
 *
 * A command parses its flags, calls library functions, renders the result
 * and returns an exit code (enum sl_exit).  No SQL, no statistics here.
 */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <jansson.h>

#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/migrate.h"
#include "opt.h"

#define SL_VERSION "0.1.0"

struct sl_ctx {
	const char *config_path;   /* -c FILE, NULL: ./sluice.yaml */
	const char *env_name;      /* -e ENV */
	const char *url;           /* --url URL: bypass environments */
	const char *format;        /* --format text|json */
	int json;
	int quiet, verbose;
	long lock_timeout_ms;      /* --lock-timeout, -1 unset */
	const char *cmd;           /* the command being run */
	struct sl_config *cfg;     /* loaded by sl_ctx_config */
	/* what sl_ctx_open selected */
	char *env_selected;
	char *url_masked;
};

struct sl_command {
	const char *name;
	int (*fn)(int argc, char **argv, struct sl_ctx *ctx);
	const char *usage;         /* "migrate [--to VERSION] [--dry-run]" */
	const char *summary;
	const char *options;       /* option lines for `help COMMAND`, or NULL */
};

extern const struct sl_command sl_commands[];
extern const struct sl_option sl_global_options[];
const struct sl_command *sl_command_find(const char *name);

/* Load the config (-c, or ./sluice.yaml; optional when --url is given). */
int sl_ctx_config(struct sl_ctx *ctx, struct sl_error *err);
/* Open the selected environment and fill an engine for it. */
int sl_ctx_open(struct sl_ctx *ctx, struct sl_db **db, struct sl_engine *eng,
		struct sl_error *err);
void sl_ctx_free(struct sl_ctx *ctx);

/* Print err once (stderr; in JSON mode also a document on stdout) and
 * return its exit code. */
int sl_cli_fail(struct sl_ctx *ctx, const struct sl_error *err);
/* Parse a command's options; on error prints usage and returns 2. */
int sl_cli_parse(struct sl_ctx *ctx, int argc, char **argv, const struct sl_option *opts,
		 struct sl_strvec *rest);
/* Dump doc to stdout (consumes the reference). */
void sl_cli_json(json_t *doc);
/* An event printer for the engine in text mode. */
void sl_cli_on_event(void *arg, const struct sl_event *ev);
/* JSON for one step result / status entry / run result. */
json_t *sl_cli_json_steps(const struct sl_run_result *res);
json_t *sl_cli_json_error(const struct sl_error *err);
/* A percent in basis points as a JSON number (12.5). */
json_t *sl_json_percent(int percent_bp);
/* sl_cli_json for documents with percents: reals with 15 digits. */
void sl_cli_json_percents(json_t *doc);
/* {"ok", "command", "subcommand"}: the start of a subcommand's document. */
json_t *sl_cli_subdoc(const char *command, const char *sub, int ok);
/* Set the optional string key (JSON null when s is NULL). */
void sl_json_set_str(json_t *o, const char *key, const char *s);

/* The usage overview (`sluice help`). */
void sl_cli_overview(FILE *f);

/* The commands. */
int cmd_init(int argc, char **argv, struct sl_ctx *ctx);
int cmd_status(int argc, char **argv, struct sl_ctx *ctx);
int cmd_migrate(int argc, char **argv, struct sl_ctx *ctx);
int cmd_validate(int argc, char **argv, struct sl_ctx *ctx);
int cmd_undo(int argc, char **argv, struct sl_ctx *ctx);
int cmd_baseline(int argc, char **argv, struct sl_ctx *ctx);
int cmd_profile(int argc, char **argv, struct sl_ctx *ctx);
int cmd_gate(int argc, char **argv, struct sl_ctx *ctx);
int cmd_contract(int argc, char **argv, struct sl_ctx *ctx);
int cmd_impact(int argc, char **argv, struct sl_ctx *ctx);
int cmd_repair(int argc, char **argv, struct sl_ctx *ctx);
int cmd_run(int argc, char **argv, struct sl_ctx *ctx);
int cmd_deploy(int argc, char **argv, struct sl_ctx *ctx);
int cmd_rollback(int argc, char **argv, struct sl_ctx *ctx);
int cmd_deployments(int argc, char **argv, struct sl_ctx *ctx);
int cmd_expand(int argc, char **argv, struct sl_ctx *ctx);
int cmd_complete(int argc, char **argv, struct sl_ctx *ctx);
int cmd_abort(int argc, char **argv, struct sl_ctx *ctx);
int cmd_switch(int argc, char **argv, struct sl_ctx *ctx);
/* deploy --strategy expand-contract */
int sl_cli_deploy_expand(struct sl_ctx *ctx);
int cmd_flag(int argc, char **argv, struct sl_ctx *ctx);
int cmd_rollout(int argc, char **argv, struct sl_ctx *ctx);
int cmd_lint(int argc, char **argv, struct sl_ctx *ctx);
int cmd_plan(int argc, char **argv, struct sl_ctx *ctx);
int cmd_shadow(int argc, char **argv, struct sl_ctx *ctx);
int cmd_help(int argc, char **argv, struct sl_ctx *ctx);
int cmd_version(int argc, char **argv, struct sl_ctx *ctx);

#endif
