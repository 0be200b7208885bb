/*
 * expand.h - zero-downtime expand/contract of an operations migration
 * (src/migrate/ops.h) on PostgreSQL, in the manner of pgroll and Reshape.
 *
 *   sl_expand    the next pending migration, which must be a .yaml one:
 *                new columns added beside the old ones, triggers that keep
 *                both shapes in step on every write (the `up` and `down`
 *                expressions), existing rows backfilled in batches (each
 *                batch its own short transaction, resumable after a kill),
 *                indexes built CONCURRENTLY, and two view schemas,
 *                <schema>_v<old> and <schema>_v<new> (views of the tables the
 *                migration changes), through which readers and writers of
 *                each shape work at the same time.
 *   sl_complete  the contract step: old columns dropped, new ones renamed
 *                into place, triggers and both view schemas dropped (clients
 *                that chose a shape by search_path now resolve the same
 *                names to the base tables, in the new shape), the migration
 *                recorded in the history; one short transaction.
 *   sl_abort     undoes an expansion: what expand added is dropped, the
 *                original columns and their data are untouched.
 *
 * Every DDL statement runs with a lock_timeout and is retried with
 * backoff, so a long-running query never makes expand queue every other
 * session behind an ACCESS EXCLUSIVE lock request.  State lives in
 * sluice.expansions and sluice.expansion_steps.  SQLite has no
 * expand/contract (no ALTER COLUMN, no statement-level control over
 * trigger order on views): sl_expand refuses it by name; plain `migrate`
 * runs the same file as ordinary SQL.
 */
#ifndef SL_EXPAND_H
#define SL_EXPAND_H

struct sl_engine;
struct sl_error;

struct sl_expand_opts {
	long batch_size;          /* rows per backfill transaction (default 1000) */
	long batch_pause_ms;      /* sleep between batches (default 0) */
	long ddl_lock_timeout_ms; /* lock_timeout of each DDL statement (default 2000) */
	int ddl_retries;          /* attempts per DDL statement (default 10) */
	/* Progress and notes (text NULL: a phase starts); may be NULL. */
	void (*on_note)(void *arg, const char *phase, const char *text);
	void *arg;
	int progress;             /* report backfill progress through on_note */
};

struct sl_expand_result {
	char *version;
	char *phase;              /* expanded, completed, aborted */
	char *old_schema, *new_schema;
	long backfilled;          /* rows written by the backfill (this run) */
	long ddl_retries;         /* lock timeouts retried */
	long ms;
};

void sl_expand_opts_init(struct sl_expand_opts *o);
int sl_expand(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
	      struct sl_error *err);
int sl_complete(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
		struct sl_error *err);
int sl_abort(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
	     struct sl_error *err);
/*
 * Blue-green: make new sessions of the database read the old or the new
 * shape by default (to: "old" or "new"), by the database's search_path;
 * complete and abort put the setting back as it was.
 */
int sl_switch(struct sl_engine *eng, const struct sl_expand_opts *o, const char *to,
	      struct sl_expand_result *r, struct sl_error *err);
void sl_expand_result_free(struct sl_expand_result *r);

#endif
