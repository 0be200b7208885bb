/*
 * flag_store.c - the `flags` state table, and on PostgreSQL the SQL
 * functions sluice.flag_bucket and sluice.flag_enabled (see flag.h).
 *
 * Every reader of a percent - this file, the PostgreSQL functions and the
 * SQLite functions of flag_ext.c - reads it as
 * CAST(round(percent * 100) AS integer), so they agree on the threshold
 * even where SQLite holds 0.29 as the double 0.28999999999999998.
 */
#include "flag.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_xact_lock key pair: "slic", "flag" in ASCII.  The two-key
 * space is separate from the one-key space of the migration lock. */
#define SL_PG_FLAG_LOCK "1936484707, 1718378855"

static int is_postgres(const struct sl_db *db)
{
	return strcmp(db->driver->name, "postgres") == 0;
}

static int ensure_table(struct sl_db *db, struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	db->driver->state_table(&q, "flags");
	sl_buf_adds(&q, " (name text PRIMARY KEY,"
			" percent numeric(5,2) NOT NULL CHECK (percent >= 0 AND percent <= 100),"
			" updated_at text NOT NULL, updated_by text NOT NULL, reason text)");
	int rc = db->driver->exec(db, q.s, err);
	sl_buf_free(&q);
	return rc;
}

/*
 * The PostgreSQL functions, replaced on every `flag set` so that a newer
 * sluice brings its definitions along.  sha256(bytea) is built in since
 * PostgreSQL 11: no pgcrypto.  The text is hashed as UTF-8 whatever the
 * database encoding, as the CLI hashes its (UTF-8) arguments.
 *
 * flag_bucket is STABLE, not IMMUTABLE, because convert_to is STABLE
 * (conversions can be redefined): an IMMUTABLE wrapper around it would be
 * a lie, and PostgreSQL refuses to inline such a wrapper, which made
 * 100,000 calls take six seconds instead of a sixth of one.  flag_enabled
 * reads the table, so it is STABLE too; both are STRICT (NULL in, NULL
 * out) and PARALLEL SAFE.  Functions are schema-qualified in the bodies
 * so that a caller's search_path cannot redirect them.
 */
static int install_pg_functions(struct sl_db *db, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	long version = d->server_version(db);
	if (version > 0 && version < 110000)
		return sl_err(err, SL_ENV,
			      "feature flags need PostgreSQL 11 or later (for sha256()); this server is %ld",
			      version);
	struct sl_buf bucket = SL_BUF_INIT, enabled = SL_BUF_INIT, flags = SL_BUF_INIT;
	struct sl_buf q = SL_BUF_INIT;
	d->state_table(&bucket, "flag_bucket");
	d->state_table(&enabled, "flag_enabled");
	d->state_table(&flags, "flags");
	sl_buf_printf(&q,
		"CREATE OR REPLACE FUNCTION %s(flag pg_catalog.text, entity pg_catalog.text)"
		" RETURNS integer LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $sluice$"
		"SELECT (('x' || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256("
		"pg_catalog.convert_to(flag || ':' || entity, 'UTF8')), 'hex'), 8))::bit(32)::bigint"
		" %% %d)::integer$sluice$;\n", bucket.s, SL_FLAG_BUCKETS);
	sl_buf_printf(&q,
		"CREATE OR REPLACE FUNCTION %s(flag pg_catalog.text, entity pg_catalog.text)"
		" RETURNS boolean LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $sluice$"
		"SELECT %s(flag, entity) < coalesce((SELECT CAST(pg_catalog.round(f.percent * 100) AS integer)"
		" FROM %s f WHERE f.name = flag), 0)$sluice$;\n", enabled.s, bucket.s, flags.s);
	sl_buf_printf(&q,
		"COMMENT ON FUNCTION %s(pg_catalog.text, pg_catalog.text) IS 'sluice: first 32 bits of"
		" SHA-256(flag || '':'' || entity) mod %d';\n", bucket.s, SL_FLAG_BUCKETS);
	sl_buf_printf(&q,
		"COMMENT ON FUNCTION %s(pg_catalog.text, pg_catalog.text) IS 'sluice: flag_bucket(flag,"
		" entity) < round(percent * 100) of the flag in %s (0%% when not set)';\n",
		enabled.s, flags.s);
	int rc = d->exec(db, q.s, err);
	sl_buf_free(&q);
	sl_buf_free(&bucket);
	sl_buf_free(&enabled);
	sl_buf_free(&flags);
	return rc;
}

static int count_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long *)arg = v[0] ? atol(v[0]) : 0;
	return 1;
}

/* Does the flags table exist?  Read-only commands create nothing. */
static int have_table(struct sl_db *db, int *yes, struct sl_error *err)
{
	struct sl_buf name = SL_BUF_INIT;
	const char *q;
	if (is_postgres(db)) {
		/* to_regclass takes the quoted, qualified name as state_table writes it */
		db->driver->state_table(&name, "flags");
		q = "SELECT count(*) FROM (SELECT pg_catalog.to_regclass(?) AS r) s WHERE r IS NOT NULL";
	} else {
		/* db_sqlite.c names state tables sluice_<name> in the main schema */
		sl_buf_adds(&name, "sluice_flags");
		q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?";
	}
	const char *p[] = { name.s };
	long n = 0;
	int rc = db->driver->query(db, q, p, 1, count_cb, &n, err);
	sl_buf_free(&name);
	*yes = n > 0;
	return rc;
}

struct flag_rows {
	struct sl_flag *v;
	size_t n;
	int damaged;              /* a percent outside 0..10000 was read */
};

static char *dup_or_null(const char *s)
{
	return s ? sl_strdup(s) : NULL;
}

/* Row: name, percent in basis points, updated_at, updated_by, reason. */
static int flag_row_cb(void *arg, int ncols, const char *const *v)
{
	struct flag_rows *r = arg;
	(void)ncols;
	char *end = NULL;
	long bp = v[1] ? strtol(v[1], &end, 10) : -1;
	if (!v[0] || !v[1] || *end || bp < 0 || bp > SL_FLAG_BUCKETS) {
		r->damaged = 1;
		return 1;
	}
	r->v = sl_realloc(r->v, (r->n + 1) * sizeof(*r->v));
	struct sl_flag *f = &r->v[r->n++];
	f->name = sl_strdup(v[0]);
	f->percent_bp = (int)bp;
	f->updated_at = dup_or_null(v[2]);
	f->updated_by = dup_or_null(v[3]);
	f->reason = dup_or_null(v[4]);
	return 0;
}

static void flag_rows_free(struct flag_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		sl_flag_free(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Rows of `flags`, one flag when name is not NULL; none when no table. */
static int flag_select(struct sl_db *db, const char *name, struct flag_rows *out,
		       struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	int yes;
	if (have_table(db, &yes, err))
		return -1;
	if (!yes)
		return 0;
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT name, CAST(round(percent * 100) AS integer), updated_at, updated_by,"
			" reason FROM ");
	db->driver->state_table(&q, "flags");
	if (name)
		sl_buf_adds(&q, " WHERE name = ?");
	const char *p[] = { name };
	int rc = db->driver->query(db, q.s, p, name ? 1 : 0, flag_row_cb, out, err);
	sl_buf_free(&q);
	if (!rc && out->damaged) {
		flag_rows_free(out);
		sl_err(err, SL_ENV, "a row of the flags table has no name or a percent outside 0..100");
		rc = -1;
	}
	if (rc)
		flag_rows_free(out);
	return rc;
}

int sl_flag_get(struct sl_db *db, const char *name, struct sl_flag *out, int *found,
		struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	*found = 0;
	struct flag_rows r;
	if (flag_select(db, name, &r, err))
		return -1;
	if (r.n) {
		*out = r.v[0];
		memset(&r.v[0], 0, sizeof(r.v[0]));
		*found = 1;
	}
	flag_rows_free(&r);
	return 0;
}

/* Byte order, so that both backends list in the same order whatever
 * their collations. */
static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct sl_flag *)a)->name, ((const struct sl_flag *)b)->name);
}

int sl_flag_list(struct sl_db *db, struct sl_flag **out, size_t *n, struct sl_error *err)
{
	struct flag_rows r;
	*out = NULL;
	*n = 0;
	if (flag_select(db, NULL, &r, err))
		return -1;
	if (r.n > 1)
		qsort(r.v, r.n, sizeof(*r.v), by_name);
	*out = r.v;
	*n = r.n;
	return 0;
}

/*
 * Everything in one transaction: the table, the functions, the read of
 * the old percent and the upsert, so a concurrent `flag set` either sees
 * all of it or none.  On PostgreSQL a transaction-level advisory lock
 * serialises two sets, because CREATE OR REPLACE FUNCTION run twice at
 * once fails with "tuple concurrently updated"; SQLite's BEGIN IMMEDIATE
 * already serialises writers.
 */
int sl_flag_set(struct sl_db *db, const char *name, int percent_bp, const char *reason,
		struct sl_flag *out, int *prev_bp, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	memset(out, 0, sizeof(*out));
	*prev_bp = -1;
	if (d->ensure_state(db, err) || d->begin(db, err))
		return -1;
	int rc = 0;
	if (is_postgres(db))
		rc = d->query(db, "SELECT pg_catalog.pg_advisory_xact_lock(" SL_PG_FLAG_LOCK ")", NULL, 0,
			      NULL, NULL, err);
	if (!rc)
		rc = ensure_table(db, err);
	if (!rc && is_postgres(db))
		rc = install_pg_functions(db, err);
	struct flag_rows old;
	if (!rc)
		rc = flag_select(db, name, &old, err);
	if (!rc) {
		if (old.n)
			*prev_bp = old.v[0].percent_bp;
		flag_rows_free(&old);
	}
	char now[32], pct[SL_FLAG_PERCENT_LEN];
	sl_now_iso(now);
	sl_flag_format_percent(percent_bp, pct);
	const char *actor = sl_actor();
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "INSERT INTO ");
	d->state_table(&q, "flags");
	sl_buf_adds(&q, " (name, percent, updated_at, updated_by, reason) VALUES (?, ?, ?, ?, ?)"
			" ON CONFLICT (name) DO UPDATE SET percent = excluded.percent,"
			" updated_at = excluded.updated_at, updated_by = excluded.updated_by,"
			" reason = excluded.reason");
	const char *p[] = { name, pct, now, actor, reason };
	if (!rc)
		rc = d->query(db, q.s, p, 5, NULL, NULL, err);
	sl_buf_free(&q);
	if (!rc)
		rc = d->commit(db, err);
	if (rc) {
		struct sl_error ignored;
		d->rollback(db, &ignored);
		sl_err_prefix(err, "cannot set flag '%s': ", name);
		return -1;
	}
	out->name = sl_strdup(name);
	out->percent_bp = percent_bp;
	out->updated_at = sl_strdup(now);
	out->updated_by = sl_strdup(actor);
	out->reason = dup_or_null(reason);
	return 0;
}
