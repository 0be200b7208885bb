/*
 * flag.h - percentage feature flags: deterministic bucketing of entity ids,
 * the `flags` state table, and the same rule installed in the database.
 *
 * The rule, identical in C, in PostgreSQL and in SQLite:
 *
 *   bucket  = first 32 bits (big-endian) of SHA-256(name ":" entity) mod 10000
 *   enabled = bucket < round(percent * 100)
 *
 * Raising a flag's percent only adds entities (an entity enabled at 5% is
 * enabled at 25%), and an id lands in the same bucket everywhere.  Bytes
 * are hashed as given: the CLI hashes its arguments, PostgreSQL hashes the
 * UTF-8 form of its text, SQLite the UTF-8 form of its value as text.
 *
 * Percents travel as hundredths of a percent ("basis points", 0..10000):
 * "12.5" is 1250.  Integers keep parsing and comparing exact, where a
 * double would turn 0.29 * 100 into 28.999999999999996.
 *
 * The code lives in three files that share this contract:
 *   flag.c        the pure rule: bucket, threshold, percent and name
 *                 checks (libcrypto and src/core only, so the loadable
 *                 SQLite extension links it without the rest of sluice)
 *   flag_store.c  the state table and, on PostgreSQL, the SQL functions
 *   flag_ext.c    the SQLite functions: registered on sluice's own
 *                 connections, and built alone as $(B)/sluice_flags.so
 */
#ifndef SL_FLAG_H
#define SL_FLAG_H

#include <stddef.h>

struct sl_db;
struct sl_error;

#define SL_FLAG_BUCKETS 10000        /* buckets; also 100% in basis points */
#define SL_FLAG_PERCENT_LEN 8        /* "100.00" and its NUL fit */

/* The bucket (0..9999) of entity under the flag name. */
int sl_flag_bucket(const char *name, const char *entity);
/* The same for counted byte strings (may hold NULs: SQLite blobs). */
int sl_flag_bucket_n(const char *name, size_t name_len, const char *entity,
		     size_t entity_len);
/* Whether a bucket is enabled at percent_bp (0..10000): bucket < percent_bp. */
int sl_flag_enabled(int bucket, int percent_bp);

/*
 * Parse a percent as a person writes it: digits, optionally a point and
 * one or two decimals, optionally a trailing '%' ("25", "12.5", "0.01",
 * "100%").  Out of 0..100, a sign, blanks, an exponent or a third decimal
 * is SL_USAGE.  *percent_bp is set only on success.
 */
int sl_flag_parse_percent(const char *s, int *percent_bp, struct sl_error *err);
/* "25", "12.5", "0.01": the shortest exact form, without '%'. */
void sl_flag_format_percent(int percent_bp, char out[SL_FLAG_PERCENT_LEN]);
/* A flag name is any non-empty valid UTF-8 (the databases store text). */
int sl_flag_check_name(const char *name, struct sl_error *err);

/* One row of `flags`. */
struct sl_flag {
	char *name;
	int percent_bp;
	char *updated_at;      /* ISO 8601 UTC, as sl_now_iso writes it */
	char *updated_by;      /* sl_actor() of the last set */
	char *reason;          /* NULL when none was given */
};
void sl_flag_free(struct sl_flag *f);

/*
 * Set a flag (insert or update) in one transaction, creating the table
 * and, on PostgreSQL, (re)installing the SQL functions first.  The caller
 * has checked name and percent.  *prev_bp is the percent before, -1 when
 * the flag was not set; out (freed by the caller) is the row written.
 */
int sl_flag_set(struct sl_db *db, const char *name, int percent_bp, const char *reason,
		struct sl_flag *out, int *prev_bp, struct sl_error *err);
/*
 * Read a flag.  *found is 0 when it was never set (or no flag ever was:
 * read-only commands create nothing), and out is then left zeroed.
 */
int sl_flag_get(struct sl_db *db, const char *name, struct sl_flag *out, int *found,
		struct sl_error *err);
/* Every flag by name; *out (freed by the caller, each with sl_flag_free). */
int sl_flag_list(struct sl_db *db, struct sl_flag **out, size_t *n, struct sl_error *err);

/*
 * Make sluice_flag_bucket(flag, entity) and sluice_flag_enabled(flag,
 * entity) exist on every SQLite connection this process opens from now on
 * (sqlite3_auto_extension; idempotent).  Returns 0 or -1.
 */
int sl_flag_sqlite_register(void);

#endif
