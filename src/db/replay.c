/*
 * replay.c - statement timeouts and prepare checks for shadow replay (see
 * replay.h).
 *
 * SQLite has no statement timeout of its own, and its driver keeps the
 * connection handle private.  sqlite3_auto_extension() reaches every
 * connection as it opens: there each gets a progress handler, a statement
 * start time (SQLITE_TRACE_STMT) and an SQL function that sets its limit,
 * all sharing one small struct owned by the connection (freed with the
 * function when the connection closes).  sluice's own SQL is the only
 * caller of the function.
 */
#include "replay.h"
#include "db.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sq_limit {
	long timeout_ms;           /* 0: none */
	struct timespec start;     /* of the running statement */
};

static long since_ms(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Non-zero interrupts the statement (SQLITE_INTERRUPT). */
static int sq_progress(void *arg)
{
	struct sq_limit *l = arg;
	return l->timeout_ms > 0 && since_ms(&l->start) > l->timeout_ms;
}

/* A statement starts; a trigger's ("-- TRIGGER name") is part of one. */
static int sq_trace(unsigned type, void *arg, void *p, void *x)
{
	struct sq_limit *l = arg;
	const char *sql = x;
	(void)p;
	if (type == SQLITE_TRACE_STMT && !(sql && sql[0] == '-' && sql[1] == '-'))
		clock_gettime(CLOCK_MONOTONIC, &l->start);
	return 0;
}

static void sq_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sq_limit *l = sqlite3_user_data(ctx);
	(void)argc;
	sqlite3_int64 ms = sqlite3_value_int64(argv[0]);
	l->timeout_ms = ms > 0 ? (long)ms : 0;
	sqlite3_result_int64(ctx, ms);
}

static int sq_entry(sqlite3 *db, const char **errmsg, const struct sqlite3_api_routines *api)
{
	(void)errmsg;
	(void)api;
	struct sq_limit *l = sl_calloc(1, sizeof(*l));
	clock_gettime(CLOCK_MONOTONIC, &l->start);
	/* the function owns l: SQLite frees it when the connection closes */
	if (sqlite3_create_function_v2(db, "sluice_statement_timeout", 1,
				       SQLITE_UTF8 | SQLITE_DIRECTONLY, l, sq_set, NULL, NULL,
				       free) != SQLITE_OK)
		return SQLITE_OK; /* no limit on this one: sl_db_statement_timeout says so */
	sqlite3_progress_handler(db, 1000, sq_progress, l);
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, sq_trace, l);
	return SQLITE_OK;
}

void sl_db_replay_init(void)
{
	/* registering the same entry point twice is a no-op */
	sqlite3_auto_extension((void (*)(void))sq_entry);
}

static int is_pg(const struct sl_db *db)
{
	return strcmp(db->driver->name, "postgres") == 0;
}

int sl_db_statement_timeout(struct sl_db *db, long timeout_ms, struct sl_error *err)
{
	char ms[32];
	snprintf(ms, sizeof(ms), "%ld", timeout_ms > 0 ? timeout_ms : 0);
	if (is_pg(db)) {
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_printf(&q, "SET statement_timeout = %s", ms);
		int rc = db->driver->exec(db, q.s, err);
		sl_buf_free(&q);
		return rc;
	}
	const char *p[] = { ms };
	if (db->driver->query(db, "SELECT sluice_statement_timeout(?)", p, 1, NULL, NULL, err)) {
		sl_err_prefix(err, "cannot set a statement timeout (opened before sl_db_replay_init?): ");
		return -1;
	}
	return 0;
}

int sl_db_prepare_check(struct sl_db *db, const char *sql, struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	int rc;
	if (is_pg(db)) {
		/* exec, not query: query() rewrites '?', which jsonb operators use */
		sl_buf_printf(&q, "PREPARE sluice_check AS %s\n", sql);
		rc = db->driver->exec(db, q.s, err);
		if (rc == 0)
			rc = db->driver->exec(db, "DEALLOCATE sluice_check", err);
	} else {
		sl_buf_printf(&q, "EXPLAIN %s\n", sql);
		rc = db->driver->query(db, q.s, NULL, 0, NULL, NULL, err);
	}
	sl_buf_free(&q);
	return rc;
}
