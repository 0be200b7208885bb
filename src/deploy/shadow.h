/*
 * shadow.h - shadow replay: run a captured workload (querylog.h) against
 * the current schema and against the schema the pending migrations make,
 * and say per query what the change does to it.
 *
 * The shadow, by what the environment offers:
 *   copy      (a driver with save_point: SQLite) a temporary copy of the
 *             database file, made with the online backup API, migrated
 *             there and deleted at the end;
 *   rollback  (PostgreSQL) a second session on the environment's database
 *             inside one transaction: the pending migrations are applied
 *             in it, the workload replayed, and the transaction rolled
 *             back.  It holds the migrations' locks (ALTER TABLE: ACCESS
 *             EXCLUSIVE) from the migration to the end of the replay, so
 *             the current-schema replay runs first, on its own connection,
 *             and the two never wait on each other;
 *   scratch   (shadow_url) one transaction on that database (SQLite: an
 *             in-memory copy of it): the environment's applied migrations
 *             are replayed there unless it already has sluice's history,
 *             the workload runs, the pending migrations are applied, and
 *             the workload runs again.  The environment is only read.
 *
 * Every statement of the workload runs inside a transaction or savepoint
 * that is rolled back, reads included (a SELECT can call a function that
 * writes), on both sides; sequences advanced meanwhile keep their gaps, as
 * after any rolled-back transaction.  Each statement has a timeout.
 *
 * Nothing here prints: the report is returned for the command to render.
 */
#ifndef SL_SHADOW_H
#define SL_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "querylog.h"

struct sl_db;
struct sl_engine;
struct sl_error;

enum sl_shadow_status {
	SL_SH_OK,
	SL_SH_BROKEN,      /* fails on the shadow, not on the current schema */
	SL_SH_DIFFERS,     /* row count, column count or rows' checksum differ */
	SL_SH_SLOWER,      /* median over slower_factor x and above floor_ms */
	SL_SH_FAILING,     /* fails on both: not the migration's doing */
	SL_SH_PREPARED,    /* $n placeholders: parsed and planned on both only */
	SL_SH_SKIPPED,     /* not replayed (transaction control, session, ...) */
};
#define SL_SH_NSTATUS 7

/* One query on one side. */
struct sl_shadow_side {
	int ran;                /* executed (or prepared) at least once */
	int failed;             /* a run failed: error says why */
	int timed_out;          /* ... because it ran past the timeout */
	char *error;            /* owned; NULL unless failed */
	double ms;              /* median of the runs; < 0 when not run */
	long long rows;         /* rows returned; -1 when not a compared read */
	int ncols;              /* columns of its rows (0: no rows) */
	uint64_t sum;           /* order-independent checksum of the rows */
	uint64_t prefix_sum;    /* the same over the columns the current side had */
	int unstable;           /* its runs returned different rows */
};

struct sl_shadow_result {
	char *sql;              /* owned */
	int line;               /* its first line in the file */
	long count;             /* occurrences in the file (pgss: calls) */
	enum sl_qkind kind;
	int normalized;         /* checked by PREPARE only */
	enum sl_shadow_status status;
	char *reason;           /* owned; NULL when there is nothing to say */
	struct sl_shadow_side cur, shadow;
};

struct sl_shadow_opts {
	int runs;               /* runs per query and side, the median is kept (>= 1) */
	double slower_factor;   /* slower: shadow median > factor x current's ... */
	double floor_ms;        /* ... and at least this */
	long timeout_ms;        /* per statement; 0: none */
	struct sl_db *scratch;  /* the shadow_url database, or NULL */
	/* called as queries are replayed (phase "current" or "shadow") */
	void (*progress)(void *arg, const char *phase, size_t done, size_t total);
	void *progress_arg;
};

struct sl_shadow_report {
	const char *mode;       /* "copy", "rollback", "scratch" */
	char *shadow;           /* what the shadow was, for messages (no secrets) */
	struct sl_strvec applied;   /* migrations applied to the shadow */
	size_t queries;         /* statements read (sum of counts) */
	size_t distinct;
	size_t summary[SL_SH_NSTATUS];  /* distinct queries per status */
	struct sl_shadow_result *v;     /* in order of first appearance */
	size_t n;
	long wall_ms;
};

/*
 * Make the statement timeout possible on connections opened afterwards:
 * call before opening the environment.
 */
void sl_shadow_init(void);

/*
 * Replay log against eng's database as it is and as the pending
 * migrations leave it (see above for how).  On success *out is owned by
 * the caller (sl_shadow_report_free).  Failures are the database's
 * (SL_ENV) or a pending migration's that does not apply on the shadow
 * (its own code, prefixed "on the shadow: ").  eng's database is never
 * left changed.
 */
int sl_shadow_replay(struct sl_engine *eng, const struct sl_querylog *log,
		     const struct sl_shadow_opts *o, struct sl_shadow_report *out,
		     struct sl_error *err);
void sl_shadow_report_free(struct sl_shadow_report *r);
const char *sl_shadow_status_name(enum sl_shadow_status s);

#endif
