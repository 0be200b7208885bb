/*
 * deploy.h - guarded deploy and rollback: one persisted state machine.
 *
 *   lock -> validate -> lint -> governance -> pre_deploy hooks ->
 *   rollback point -> apply -> post-deploy gates -> post_deploy hooks ->
 *   record
 *
 * Every phase is written to the `deployments` state table as it starts,
 * in its own committed statement, so a process killed at any point leaves
 * a row that says where it stopped.  Any failure after the rollback point
 * rolls back on its own, runs the on_rollback hooks and records why.
 *
 * Rollback points:
 *  - SQLite: an online backup (sqlite3_backup) of the database file under
 *    the state dir, taken under the migration lock; rollback restores it
 *    in one transaction.  Writes other programs made after the deploy
 *    started are lost with it: the embedded backend trades that for an
 *    exact, schema-and-data restore.
 *  - PostgreSQL: the down script of each migration, or the inverse sluice
 *    generates when every statement is reversible (create table, index,
 *    view, column, constraint; drop column, retype, truncate and
 *    delete-all through their archives); and, before any statement that
 *    destroys data runs, a copy of that data in
 *    sluice."archive_<deployment>_<n>" in the migration's own transaction,
 *    which rollback puts back after the down script.  A deploy whose
 *    migrations cannot be rolled back is refused before anything runs.
 *
 * The deploy holds the migration lock from the first phase to the last,
 * so a second deploy waits for it (--lock-timeout) and then refuses,
 * naming the holder.
 */
#ifndef SL_DEPLOY_H
#define SL_DEPLOY_H

#include <stddef.h>

#include <jansson.h>

#include "../core/buf.h"
#include "../core/error.h"

struct sl_config;
struct sl_env;
struct sl_engine;
struct sl_db;
struct sl_ynode;

/* One row of `deployments`. */
struct sl_deployment {
	char *id;              /* "20261124T120301Z-3f2a9c" */
	char *environment;
	char *from_version;    /* NULL: empty database */
	char *to_version;
	char *plan_digest;     /* SHA-256 of the pending (version, checksum) list */
	char *strategy;        /* standard, forward-only */
	char *phase;
	char *status;          /* in_progress, success, failed, rolled_back */
	char *started_at, *finished_at;
	long duration_ms;      /* -1 while in progress */
	char *actor;
	char *ci;              /* JSON object of CI context variables */
	char *reason;          /* why it failed or was rolled back */
	char *rollback_point;  /* SQLite: the backup file; PostgreSQL: "down-scripts" */
	char *log;             /* JSON array: hooks and gates with their output */
};
void sl_deployment_free(struct sl_deployment *d);

/* The `deploy:` and `hooks:` sections plus the environment's keys. */
enum sl_hook_kind { SL_HOOK_PRE, SL_HOOK_POST, SL_HOOK_ROLLBACK, SL_HOOK_N };
struct sl_deploy_config {
	char *state_dir;                  /* rollback points (SQLite) */
	long retain;                      /* rollback points kept per environment */
	long hook_timeout_ms;
	char *strategy;                   /* default strategy */
	int soft_drop;                    /* PostgreSQL: DROP COLUMN renames (see deploy.c) */
	struct sl_strvec hooks[SL_HOOK_N];
	const struct sl_ynode *gates;     /* the environment's post-deploy gates (borrowed) */
};
int sl_deploy_config_load(const struct sl_config *cfg, const struct sl_env *env,
			  struct sl_deploy_config *out, struct sl_error *err);
void sl_deploy_config_free(struct sl_deploy_config *c);
const char *sl_hook_kind_name(enum sl_hook_kind k);
/*
 * Run the hooks of kind k from dc in order (in dir, with the extra
 * NAME=value entries envv and dc's timeout), stopping at the first that
 * fails (SL_FAILED).  Each run is appended to log (a JSON array, may be
 * NULL); say_fn (may be NULL) hears of each before it starts.
 */
int sl_hooks_run(const struct sl_deploy_config *dc, const char *dir, enum sl_hook_kind k,
		 const char *const *envv, json_t *log,
		 void (*say_fn)(void *arg, const char *hook, const char *cmd), void *arg,
		 struct sl_error *err);

struct sl_deploy_opts {
	const struct sl_config *cfg;
	const char *env;          /* its name, for the record and the gates */
	const char *to;           /* target version; NULL: every pending one */
	const char *strategy;     /* NULL: the environment's, then deploy.strategy */
	const char *reason;       /* rollback: why */
	int resume;               /* finish (or roll back) an interrupted deploy */
	/*
	 * Post-deploy gates of the environment (NULL: none configured is a
	 * pass).  Return 0 when they pass, -1 with err (SL_FAILED: a gate
	 * failed).  detail gets one line per gate.
	 */
	int (*gates)(void *arg, const struct sl_ynode *gates, struct sl_buf *detail,
		     struct sl_error *err);
	/* Governance check (approvals); NULL passes. */
	int (*governance)(void *arg, const struct sl_deployment *d, struct sl_error *err);
	/* Progress: a phase starts (text NULL) or says something. */
	void (*on_phase)(void *arg, const char *phase, const char *text);
	void *arg;
};

struct sl_deploy_result {
	struct sl_deployment dep;
	int noop;                 /* nothing was pending */
	int rolled_back;          /* a failure was rolled back (or rollback ran) */
	struct sl_strvec applied; /* versions applied */
	struct sl_strvec undone;  /* versions rolled back */
	char *gates;              /* gate details, or NULL */
	long rollback_ms;
	struct sl_error failure;  /* what failed (code 0 when nothing did) */
};
void sl_deploy_result_free(struct sl_deploy_result *r);

/*
 * Deploy.  Returns 0 on success or a no-op; -1 with err otherwise: code 1
 * when a check, gate or hook failed (rolled back when anything had been
 * applied; res->rolled_back says so), 2 for bad input, 3 for a database
 * or environment error.
 */
int sl_deploy(struct sl_engine *eng, const struct sl_deploy_opts *o,
	      struct sl_deploy_result *res, struct sl_error *err);

/*
 * Roll back deployment `id` (NULL: the newest that changed something), or
 * everything above version `to`.  Works on successful, failed and
 * interrupted deployments; records itself.
 */
int sl_rollback(struct sl_engine *eng, const struct sl_deploy_opts *o, const char *id,
		const char *to, struct sl_deploy_result *res, struct sl_error *err);

/* Deployments of env (NULL: all), newest first, at most limit (0: all). */
int sl_deployments_list(struct sl_db *db, const char *env, size_t limit,
			struct sl_deployment **out, size_t *n, struct sl_error *err);

#endif
