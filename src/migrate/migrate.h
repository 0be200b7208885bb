/*
 * migrate.h - the migration engine: status, migrate, validate, undo,
 * baseline and repair over one database.
 *
 * Guarantees, for every driver:
 *  - each migration runs in its own transaction together with the history
 *    row that records it, so a failure leaves the database exactly as it
 *    was before that migration and records nothing as applied;
 *  - a migration holding a statement that cannot run in a transaction
 *    (CREATE INDEX CONCURRENTLY, VACUUM, ...) runs statement by statement
 *    outside one; if it fails half-way a failed row is recorded, and
 *    migrate refuses to go on until `repair`;
 *  - writers hold the driver's migration lock, so two sluice processes
 *    never apply the same migration twice.
 *
 * The engine never prints: progress goes to an optional event callback and
 * results come back in structs that the command renders.
 */
#ifndef SL_MIGRATE_H
#define SL_MIGRATE_H

#include <stddef.h>

#include "../core/buf.h"
#include "history.h"
#include "source.h"

struct sl_db;
struct sl_error;

enum sl_mstate {
	SL_ST_APPLIED,
	SL_ST_PENDING,
	SL_ST_FAILED,
	SL_ST_MISSING,         /* applied, but its file is gone */
	SL_ST_BELOW_BASELINE,
	SL_ST_SKIPPED,         /* only other dialects' files */
};

struct sl_entry {
	enum sl_mstate state;
	enum sl_mig_kind kind;
	const struct sl_migration *m;   /* NULL when the file is missing */
	const struct sl_hist_row *row;  /* the row that decides the state, or NULL */
	const char *version;            /* borrowed from m or row */
	const char *description;
	const char *script;
	char checksum[65];              /* of the file, "" when no file */
	int checksum_mismatch;          /* applied, but the file changed */
	int out_of_order;               /* pending, older than the newest applied */
};

struct sl_problem {
	const char *kind;               /* checksum_mismatch, missing_file, failed, out_of_order */
	const char *version;
	const char *script;
	char message[512];
};

struct sl_status {
	struct sl_history hist;
	struct sl_migration_set set;
	struct sl_entry *e;
	size_t n;
	struct sl_problem *p;
	size_t np;
	const char *current;            /* newest applied version, NULL if none */
	const char *baseline;           /* baseline version, NULL if none */
};

enum sl_event_type { SL_EV_START, SL_EV_DONE, SL_EV_NOTE };

struct sl_event {
	enum sl_event_type type;
	const struct sl_migration *m;
	int up;                         /* forward (1) or undo (0) */
	long ms;                        /* SL_EV_DONE: execution time */
	const char *text;               /* SL_EV_NOTE */
};

struct sl_engine {
	struct sl_db *db;
	const char *migrations_dir;
	int out_of_order;
	int group;                      /* one transaction per run, a savepoint per migration */
	long lock_timeout_ms;
	void (*on_event)(void *arg, const struct sl_event *ev);
	void *event_arg;

	/* ---- for deploy (src/deploy); all optional ---- */
	int lock_held;                  /* the caller holds the migration lock */
	/*
	 * Called before each statement of a forward script, inside the
	 * migration's transaction when it has one (deploy copies the data a
	 * statement destroys to an archive table here).  Setting *done says
	 * the hook carried out the statement itself (deploy.soft_drop runs
	 * a rename instead of a DROP COLUMN): the engine skips it.
	 */
	int (*before_stmt)(void *arg, const struct sl_migration *m, const char *sql,
			   int *done, struct sl_error *err);
	/*
	 * Undo: SQL to run for m when it has no down script (script: the
	 * inverse sluice generated), and SQL to run after the down script in
	 * the same transaction (after: restore archived data).  Return -1
	 * when m cannot be undone.
	 */
	int (*undo_sql)(void *arg, const struct sl_migration *m, struct sl_buf *script,
			struct sl_buf *after, struct sl_error *err);
	void *hook_arg;
};

/* One migration run (or planned, on a dry run). */
struct sl_step_result {
	const struct sl_migration *m;
	int up;
	long ms;
	size_t statements;
	char note[256];                 /* e.g. "outside a transaction: VACUUM" */
};

struct sl_run_result {
	struct sl_status status;        /* state before the run */
	struct sl_step_result *steps;
	size_t nsteps;
	char *current;                  /* version after the run (owned) */
};

struct sl_config;
/*
 * Open the database of environment env_name (NULL: the default one) of cfg,
 * or url_override when given, and fill eng for it.  *env_selected and
 * *url_masked (owned by the caller) name what was opened, for messages.
 */
int sl_engine_open(const struct sl_config *cfg, const char *env_name,
		   const char *url_override, long lock_timeout_ms, struct sl_db **db,
		   struct sl_engine *eng, char **env_selected, char **url_masked,
		   struct sl_error *err);

/* SL_FAILED when an expand/contract (src/deploy/expand.c) is in progress:
 * nothing else may migrate the database until it completes or aborts. */
int sl_refuse_expansion(struct sl_db *db, struct sl_error *err);

/* Compute status (read-only: creates nothing). */
int sl_status_compute(struct sl_engine *eng, struct sl_status *st, struct sl_error *err);
void sl_status_free(struct sl_status *st);
/* Problems that make validate fail (out_of_order counts unless allowed). */
size_t sl_status_blocking(const struct sl_engine *eng, const struct sl_status *st);
/*
 * Validate: status plus a parse of every pending script (a syntax error is
 * SL_USAGE with file:line).  Returns 0 and fills st; the caller decides
 * from sl_status_blocking() whether to exit 1.
 */
int sl_validate(struct sl_engine *eng, struct sl_status *st, struct sl_error *err);

/* Apply pending migrations up to and including `to` (NULL: all). */
int sl_migrate(struct sl_engine *eng, const char *to, int dry_run,
	       struct sl_run_result *res, struct sl_error *err);
/* Undo applied migrations newer than `to` ("0": all; NULL: the newest one). */
int sl_undo(struct sl_engine *eng, const char *to, int dry_run,
	    struct sl_run_result *res, struct sl_error *err);
void sl_run_result_free(struct sl_run_result *res);

/* Mark `version` as the baseline of a database that has no history. */
int sl_baseline(struct sl_engine *eng, const char *version, const char *description,
		struct sl_error *err);

struct sl_repair_result {
	long failed_removed;
	struct sl_strvec realigned;    /* versions whose checksum was realigned */
	struct sl_strvec deleted;       /* versions marked deleted (file gone) */
};
int sl_repair(struct sl_engine *eng, struct sl_repair_result *res, struct sl_error *err);
void sl_repair_result_free(struct sl_repair_result *res);

const char *sl_mstate_name(enum sl_mstate s);

#endif
