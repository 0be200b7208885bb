/*
 * replay.h - what replaying an application's own statements (sluice shadow)
 * needs from a connection beyond the driver interface of db.h: a statement
 * timeout, and a check that a statement with $n placeholders parses and
 * plans without running it.
 *
 * These are dialect knowledge, so they live in src/db; they are functions
 * over struct sl_db rather than driver members only because db.h is being
 * changed by other work at the same time.  They belong at the end of
 * struct sl_db_driver (set_statement_timeout, prepare_check) and should
 * move there.
 */
#ifndef SL_DB_REPLAY_H
#define SL_DB_REPLAY_H

struct sl_db;
struct sl_error;

/*
 * Make statement timeouts possible on SQLite connections opened from now
 * on (an auto-extension installs a progress handler and the function that
 * sets the limit on each new connection).  Call once, before opening the
 * connections sl_db_statement_timeout will be used on.  Idempotent.
 */
void sl_db_replay_init(void);

/*
 * Cancel any statement of db that runs longer than timeout_ms (0: no
 * limit): PostgreSQL's statement_timeout for the session (inside an open
 * transaction: until it ends); SQLite's progress handler, which interrupts
 * the statement ("interrupted").  SQLite connections opened before
 * sl_db_replay_init() fail with SL_ENV.
 */
int sl_db_statement_timeout(struct sl_db *db, long timeout_ms, struct sl_error *err);

/*
 * Parse and plan sql against db's schema without running it: PostgreSQL
 * PREPAREs it (parameter types inferred) and deallocates it; SQLite
 * compiles it (EXPLAIN, which runs nothing of the statement).  A missing
 * table or column is an error, as it would be when the statement ran.
 * Inside a transaction a PostgreSQL failure aborts it: the caller holds a
 * savepoint.
 */
int sl_db_prepare_check(struct sl_db *db, const char *sql, struct sl_error *err);

#endif
