/*
 * flag_ext.c - the bucketing rule as SQLite functions (see flag.h):
 *
 *   sluice_flag_bucket(flag, entity)   0..9999, deterministic
 *   sluice_flag_enabled(flag, entity)  1 or 0, from the percent in the
 *                                      sluice_flags table of the same
 *                                      database (0 when the flag is not set)
 *
 * SQLite has no SHA-256 built in, so the functions are C.  One source,
 * two builds:
 *  - inside sluice (libsluice.a), where sl_flag_sqlite_register() adds
 *    them to every connection the process opens afterwards;
 *  - with -DSL_FLAG_EXTENSION as the loadable extension
 *    $(B)/sluice_flags.so for serving code: `.load ./build/sluice_flags`
 *    in the sqlite3 shell, conn.load_extension() in Python.  SQLite looks
 *    for the entry point sqlite3_sluiceflags_init, named after the file.
 * In the extension build sqlite3ext.h turns every sqlite3_* call below
 * into a call through the routines table the host hands over, so the
 * extension uses the host's SQLite, never a second copy.
 */
#ifdef SL_FLAG_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#define SL_FLAG_EXPORT __attribute__((visibility("default")))
#else
#include <sqlite3.h>
#endif

#include "flag.h"

#include <stdlib.h>
#include <string.h>

#ifndef SQLITE_INNOCUOUS
#define SQLITE_INNOCUOUS 0   /* SQLite before 3.31 */
#endif

/*
 * The same expression flag_store.c and the PostgreSQL function read the
 * percent with.  sluice_flags is the SQLite driver's name for the state
 * table `flags` (db_sqlite.c: sluice_<name> in the main schema).
 */
static const char percent_sql[] =
	"SELECT CAST(round(percent * 100) AS integer) FROM sluice_flags WHERE name = ?1";

/* Both arguments as UTF-8 bytes with their lengths; 0 when one is NULL. */
static int args_text(sqlite3_value **argv, const char **name, int *name_len,
		     const char **entity, int *entity_len)
{
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return 0;
	*name = (const char *)sqlite3_value_text(argv[0]);
	*name_len = sqlite3_value_bytes(argv[0]);
	*entity = (const char *)sqlite3_value_text(argv[1]);
	*entity_len = sqlite3_value_bytes(argv[1]);
	return *name && *entity;
}

static void fn_bucket(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name, *entity;
	int nlen, elen;
	(void)argc;
	if (!args_text(argv, &name, &nlen, &entity, &elen)) {
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_int(ctx, sl_flag_bucket_n(name, (size_t)nlen, entity, (size_t)elen));
}

/*
 * The flag's percent in basis points, or -1 with the error set on ctx.
 * A database where no flag was ever set has no sluice_flags table: every
 * flag is then at 0%, as a flag that is not in the table is.
 */
static int read_percent(sqlite3_context *ctx, sqlite3_value *flag)
{
	sqlite3 *db = sqlite3_context_db_handle(ctx);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, percent_sql, -1, &st, NULL) != SQLITE_OK) {
		const char *msg = sqlite3_errmsg(db);
		if (strstr(msg, "no such table"))
			return 0;
		sqlite3_result_error(ctx, msg, -1);
		return -1;
	}
	sqlite3_bind_value(st, 1, flag);
	int bp = 0, rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		bp = sqlite3_column_int(st, 0);
	else if (rc != SQLITE_DONE)
		bp = -1;
	if (bp < 0 || bp > SL_FLAG_BUCKETS) {
		sqlite3_result_error(ctx, rc == SQLITE_ROW ? "sluice_flags holds a percent outside 0..100"
							   : sqlite3_errmsg(db), -1);
		bp = -1;
	}
	sqlite3_finalize(st);
	return bp;
}

/*
 * The percent is kept as auxiliary data of the flag argument: when the
 * flag is a constant of the statement (the usual
 * `WHERE sluice_flag_enabled('checkout', user_id)`), the table is read
 * once per statement instead of once per row.  SQLite drops the data when
 * the argument changes or whenever it likes; it is then read again.
 */
static void fn_enabled(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name, *entity;
	int nlen, elen;
	(void)argc;
	if (!args_text(argv, &name, &nlen, &entity, &elen)) {
		sqlite3_result_null(ctx);
		return;
	}
	int *cached = sqlite3_get_auxdata(ctx, 0);
	int bp;
	if (cached) {
		bp = *cached;
	} else {
		bp = read_percent(ctx, argv[0]);
		if (bp < 0)
			return;
		int *keep = sqlite3_malloc(sizeof(*keep));
		if (keep) {
			*keep = bp;
			sqlite3_set_auxdata(ctx, 0, keep, sqlite3_free);
		}
	}
	int bucket = sl_flag_bucket_n(name, (size_t)nlen, entity, (size_t)elen);
	sqlite3_result_int(ctx, sl_flag_enabled(bucket, bp));
}

static int register_functions(sqlite3 *db)
{
	int rc = sqlite3_create_function_v2(db, "sluice_flag_bucket", 2,
					    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
					    fn_bucket, NULL, NULL, NULL);
	/* reads a table: neither deterministic nor innocuous */
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_flag_enabled", 2, SQLITE_UTF8, NULL,
						fn_enabled, NULL, NULL, NULL);
	return rc;
}

#ifdef SL_FLAG_EXTENSION

SL_FLAG_EXPORT int sqlite3_sluiceflags_init(sqlite3 *db, char **pzErrMsg,
					     const sqlite3_api_routines *pApi)
{
	(void)pzErrMsg;
	SQLITE_EXTENSION_INIT2(pApi);
	return register_functions(db);
}

#else

static int auto_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
	(void)pzErrMsg;
	(void)pApi;
	return register_functions(db);
}

int sl_flag_sqlite_register(void)
{
	return sqlite3_auto_extension((void (*)(void))auto_init) == SQLITE_OK ? 0 : -1;
}

#endif
