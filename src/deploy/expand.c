/*
 * expand.c - expand/contract of operations migrations on PostgreSQL (see
 * expand.h for the model).
 *
 * Names: for migration V on schema S (the file's `schema:`, default
 * public), a retyped column c gets a sibling sluice_new_<c>; the dual-write
 * trigger of table t is sluice_expand on t, calling the function
 * sluice."expand_<V>_<t>"(); the view schemas are S_v<current> and S_v<V>
 * (dots of versions become '_').  Identifiers are always quoted.
 *
 * The trigger binds every column of the table, by its name, to a PL/pgSQL
 * variable holding the row's value (the way pgroll does), so `up` and
 * `down` are written as plain expressions over column names:
 *   up:   "round(score::numeric, 4)"    (score is the old column)
 *   down: "score::double precision"     (score is the new value)
 * Which shape wrote a row is told by which column the write changed: an
 * old-shape writer leaves the new column alone and the trigger fills it
 * from `up`; a new-shape writer (through S_v<V>) leaves the old column
 * alone and the trigger fills it from `down`.  The backfill sets
 * sluice.backfill = on for its session so the trigger lets it through.
 */
#include "expand.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/history.h"
#include "../migrate/migrate.h"
#include "../migrate/ops.h"
#include "../migrate/source.h"

struct xp {
	struct sl_engine *eng;
	struct sl_db *db;
	const struct sl_expand_opts *o;
	struct sl_expand_result *r;
	struct sl_migration_set set;     /* when the migration comes from the history */
	const struct sl_migration *m;
	struct sl_ops ops;
	char *source;                    /* the file's text, when expand starts */
	char checksum[65];               /* of the file now, "" when it is gone */
	const char *schema;
	int locked;
};

void sl_expand_opts_init(struct sl_expand_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->batch_size = 1000;
	o->ddl_lock_timeout_ms = 2000;
	o->ddl_retries = 10;
}

void sl_expand_result_free(struct sl_expand_result *r)
{
	free(r->version);
	free(r->phase);
	free(r->old_schema);
	free(r->new_schema);
	memset(r, 0, sizeof(*r));
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void note(struct xp *x, const char *phase, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(struct xp *x, const char *phase, const char *fmt, ...)
{
	if (!x->o->on_note)
		return;
	struct sl_buf b = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	x->o->on_note(x->o->arg, phase, b.s);
	sl_buf_free(&b);
}

static int run(struct xp *x, const char *sql, struct sl_error *err)
{
	return x->db->driver->exec(x->db, sql, err);
}

/*
 * One DDL statement (or a semicolon-separated group, which PostgreSQL runs
 * as one implicit transaction) under lock_timeout, retried with backoff
 * while it times out on a lock: a DDL that waits behind a long query
 * would make every later query wait behind it.
 */
/*
 * After a failed attempt: when it timed out on a lock and attempts are
 * left, wait (doubling from 50 ms up to 2 s) and say to go again;
 * otherwise the error is final.
 */
static int again(struct xp *x, struct sl_error *e, int attempt, long *wait)
{
	int lock = strstr(e->message, "lock timeout") != NULL;
	if (!lock || attempt + 1 >= x->o->ddl_retries) {
		if (lock)
			sl_err_hint(e, "a long transaction holds a lock on the table; retry later or raise --ddl-lock-timeout");
		return 0;
	}
	x->r->ddl_retries++;
	note(x, "retry", "lock timeout, retrying in %ld ms", *wait);
	sleep_ms(*wait);
	*wait = *wait * 2 > 2000 ? 2000 : *wait * 2;
	return 1;
}

static int ddl(struct xp *x, const char *sql, struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_printf(&q, "SET lock_timeout = '%ldms'", x->o->ddl_lock_timeout_ms);
	int rc = run(x, q.s, err);
	sl_buf_free(&q);
	long wait = 50;
	for (int i = 0; !rc; i++) {
		struct sl_error e;
		sl_error_clear(&e);
		if (!run(x, sql, &e))
			break;
		if (!again(x, &e, i, &wait)) {
			*err = e;
			rc = -1;
		}
	}
	struct sl_error e2;
	run(x, "RESET lock_timeout", &e2);
	return rc;
}

/* "public_v1_2" for schema public and version 1.2 */
static char *vschema(const char *schema, const char *version)
{
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_printf(&b, "%s_v", schema);
	for (const char *p = version ? version : "0"; *p; p++)
		sl_buf_addc(&b, *p == '.' || *p == '-' ? '_' : *p);
	return sl_buf_detach(&b);
}

static void qtable(struct sl_buf *b, const struct xp *x, const char *t)
{
	sl_quote_ident_std(b, x->schema);
	sl_buf_addc(b, '.');
	sl_quote_ident_std(b, t);
}

static void new_col(struct sl_buf *b, const char *col)
{
	struct sl_buf n = SL_BUF_INIT;
	sl_buf_printf(&n, "sluice_new_%s", col);
	sl_quote_ident_std(b, n.s);
	sl_buf_free(&n);
}

static void nn_check(struct sl_buf *b, const char *col)
{
	struct sl_buf n = SL_BUF_INIT;
	sl_buf_printf(&n, "sluice_nn_%s", col);
	sl_quote_ident_std(b, n.s);
	sl_buf_free(&n);
}

static void fn_name(struct sl_buf *b, const struct xp *x, const char *table)
{
	struct sl_buf n = SL_BUF_INIT;
	sl_buf_adds(b, "sluice.");
	sl_buf_printf(&n, "expand_%s_%s", x->m->version, table);
	sl_quote_ident_std(b, n.s);
	sl_buf_free(&n);
}

static int ensure_tables(struct xp *x, struct sl_error *err)
{
	return run(x, "CREATE TABLE IF NOT EXISTS sluice.expansions (version text PRIMARY KEY,"
		      " script text NOT NULL, checksum text NOT NULL, schema_name text NOT NULL,"
		      " old_schema text NOT NULL, new_schema text NOT NULL, phase text NOT NULL,"
		      " started_at timestamptz NOT NULL DEFAULT now(), actor text, description text,"
		      " source text NOT NULL, active text NOT NULL DEFAULT 'old', switched boolean NOT NULL"
		      " DEFAULT false, saved_search_path text);"
		      "CREATE TABLE IF NOT EXISTS sluice.expansion_steps (version text NOT NULL,"
		      " op integer NOT NULL, done boolean NOT NULL DEFAULT false, last_key text,"
		      " rows bigint NOT NULL DEFAULT 0, PRIMARY KEY (version, op))", err);
}

/* The columns of S.t in order: name and type. */
static int columns_of(struct xp *x, const char *table, struct sl_strvec *names,
		      struct sl_strvec *types, struct sl_error *err)
{
	struct sl_buf t = SL_BUF_INIT;
	qtable(&t, x, table);
	struct sl_strvec v[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
	const char *p[] = { t.s };
	int rc = sl_db_query_strs(x->db, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
					 " WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped"
					 " ORDER BY attnum", p, 1, v, 2, err);
	sl_buf_free(&t);
	*names = v[0];
	if (types)
		*types = v[1];
	else
		sl_strvec_free(&v[1]);
	return rc;
}

static int vec_has(const struct sl_strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return 1;
	return 0;
}

/* Is table t created by this migration? */
static int created_here(const struct xp *x, const char *t)
{
	for (size_t i = 0; i < x->ops.n; i++)
		if (x->ops.v[i].kind == SL_OP_CREATE_TABLE && !strcmp(x->ops.v[i].table, t))
			return 1;
	return 0;
}

/* ---- finding the migration ------------------------------------------------- */

/*
 * The operations: from the file, or (an expansion in progress) from the copy
 * kept in sluice.expansions when it started, so complete and abort undo
 * exactly what expand did whatever happened to the file since.
 */
static int load_ops(struct xp *x, const struct sl_migration *m, const char *stored,
		    struct sl_error *err)
{
	struct sl_buf file = SL_BUF_INIT;
	x->m = m;
	x->checksum[0] = '\0';
	if (m->up_path) {
		FILE *f = fopen(m->up_path, "rb");
		if (!f && !stored)
			return sl_err(err, SL_USAGE, "%s: %s", m->up_path, strerror(errno));
		if (f) {
			char buf[8192];
			size_t n;
			while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
				sl_buf_add(&file, buf, n);
			fclose(f);
			sl_sha256_hex(file.s ? file.s : "", file.len, x->checksum);
		}
	}
	if (!stored)
		x->source = sl_strndup(file.s ? file.s : "", file.len);
	int rc = sl_ops_load(&x->ops, m->up_script, stored ? stored : x->source, strlen(stored ? stored : x->source), err);
	sl_buf_free(&file);
	if (rc)
		return -1;
	x->schema = x->ops.schema ? x->ops.schema : "public";
	/* a staged rename keeps the old name in the table until complete:
	 * other column operations on either name cannot be staged with it */
	for (size_t i = 0; i < x->ops.n; i++) {
		const struct sl_op *rn = &x->ops.v[i];
		if (rn->kind != SL_OP_RENAME_COLUMN)
			continue;
		for (size_t k = 0; k < x->ops.n; k++) {
			const struct sl_op *op = &x->ops.v[k];
			if (k == i || !op->column || op->kind == SL_OP_CREATE_INDEX || strcmp(op->table, rn->table))
				continue;
			if (!strcmp(op->column, rn->column) || !strcmp(op->column, rn->to))
				return sl_err_at(err, SL_USAGE, m->up_path, op->line, 0,
						 "%s of %s.%s cannot be staged with its rename (line %d): put them in two migrations",
						 sl_op_kind_name(op->kind), op->table, op->column, rn->line);
		}
		if (created_here(x, rn->table))
			return sl_err_at(err, SL_USAGE, m->up_path, rn->line, 0,
					 "rename_column of a table this migration creates: name the column right in create_table");
	}
	for (size_t i = 0; i < x->ops.n; i++) {
		const struct sl_op *op = &x->ops.v[i];
		const char *e[] = { op->up, op->down, op->def, op->type };
		for (size_t k = 0; k < 4; k++)
			if (e[k] && strstr(e[k], "$sluice$"))
				return sl_err_at(err, SL_USAGE, m->up_path, op->line, 0,
						 "'$sluice$' cannot appear in an expression");
	}
	return 0;
}

enum { XR_VERSION, XR_SCRIPT, XR_CHECKSUM, XR_SCHEMA, XR_OLD, XR_NEW, XR_PHASE, XR_DESC, XR_SOURCE, XR_N };

struct xrow {
	struct sl_strvec f[XR_N];
};

static int expansion_row(struct xp *x, struct xrow *row, struct sl_error *err)
{
	memset(row, 0, sizeof(*row));
	return sl_db_query_strs(x->db, "SELECT version, script, checksum, schema_name, old_schema, new_schema,"
				       " phase, coalesce(description, ''), source FROM sluice.expansions"
				       " ORDER BY started_at LIMIT 1", NULL, 0, row->f, XR_N, err);
}

static void xrow_free(struct xrow *row)
{
	for (int i = 0; i < XR_N; i++)
		sl_strvec_free(&row->f[i]);
}

/*
 * Open: lock, state tables, and the migration: the one being expanded
 * (want_open), or the next pending one (expand).
 */
enum xmode { X_EXPAND, X_COMPLETE, X_ABORT };

static int open_x(struct xp *x, struct sl_engine *eng, const struct sl_expand_opts *o,
		  struct sl_expand_result *r, enum xmode mode, struct sl_error *err)
{
	memset(r, 0, sizeof(*r));
	x->eng = eng;
	x->db = eng->db;
	x->o = o;
	x->r = r;
	if (strcmp(x->db->driver->name, "postgres"))
		return sl_err(err, SL_USAGE,
			      "expand/contract needs PostgreSQL: SQLite cannot add a column beside another with triggers that keep both in step, nor retype one in place (ALTER COLUMN)");
	char owner[128];
	snprintf(owner, sizeof(owner), "%s pid %ld (expand)", sl_actor(), (long)getpid());
	if (x->db->driver->lock(x->db, owner, eng->lock_timeout_ms >= 0 ? eng->lock_timeout_ms : 60000, err))
		return -1;
	x->locked = 1;
	if (x->db->driver->ensure_state(x->db, err) || ensure_tables(x, err))
		return -1;
	struct xrow row;
	struct sl_status st;
	memset(&st, 0, sizeof(st));
	int rc = -1;
	if (expansion_row(x, &row, err))
		goto out;
	if (sl_status_compute(eng, &st, err))
		goto out;
	const struct sl_migration *m = NULL;
	struct sl_migration gone;
	if (row.f[0].n) {
		for (size_t i = 0; i < st.n; i++)
			if (st.e[i].m && st.e[i].version && !strcmp(st.e[i].version, row.f[0].v[0]))
				m = st.e[i].m;
		if (!m && mode != X_ABORT) {
			sl_err(err, SL_ENV, "the expansion of version %s is in progress but its file %s is gone",
			       row.f[0].v[0], row.f[1].v[0]);
			sl_err_hint(err, "'sluice abort' undoes it from the copy kept when it started");
			goto out;
		}
		if (!m) {
			memset(&gone, 0, sizeof(gone));
			gone.kind = SL_VERSIONED;
			gone.version = row.f[XR_VERSION].v[0];
			gone.description = row.f[XR_DESC].v[0];
			gone.up_script = row.f[XR_SCRIPT].v[0];
			m = &gone;
		}
	} else if (mode != X_EXPAND) {
		sl_err(err, SL_FAILED, "no expansion in progress");
		sl_err_hint(err, "'sluice expand' starts one");
		goto out;
	} else {
		for (size_t i = 0; i < st.n && !m; i++)
			if (st.e[i].state == SL_ST_PENDING && st.e[i].kind == SL_VERSIONED)
				m = st.e[i].m;
		if (!m) {
			sl_err(err, SL_FAILED, "nothing to expand: no pending migration");
			goto out;
		}
		if (!m->ops) {
			sl_err(err, SL_USAGE, "the next pending migration %s (%s) is SQL: expand stages operations migrations (V<ver>__<desc>.yaml)",
			       m->version, m->up_script);
			sl_err_hint(err, "'sluice migrate --to %s' applies it first", m->version);
			goto out;
		}
	}
	/* keep the migration alive past st: copy what we use */
	x->set.v = sl_calloc(1, sizeof(*x->set.v));
	x->set.n = 1;
	struct sl_migration *c = &x->set.v[0];
	c->kind = m->kind;
	c->version = sl_strdup(m->version);
	c->description = sl_strdup(m->description);
	c->up_path = m->up_path ? sl_strdup(m->up_path) : NULL;
	c->up_script = sl_strdup(m->up_script);
	c->dialect = sl_strdup(m->dialect ? m->dialect : "");
	c->ops = 1;
	if (load_ops(x, c, row.f[0].n ? row.f[XR_SOURCE].v[0] : NULL, err))
		goto out;
	/* the history records the file's checksum: it must be the file that was expanded */
	if (row.f[0].n && mode != X_ABORT && strcmp(row.f[XR_CHECKSUM].v[0], x->checksum)) {
		sl_err(err, SL_USAGE, "%s changed since its expansion started", c->up_script);
		sl_err_hint(err, "put the file back as it was, or 'sluice abort' the expansion (it undoes what was expanded)");
		goto out;
	}
	r->version = sl_strdup(c->version);
	r->old_schema = row.f[0].n ? sl_strdup(row.f[4].v[0]) : vschema(x->schema, st.current);
	r->new_schema = row.f[0].n ? sl_strdup(row.f[5].v[0]) : vschema(x->schema, c->version);
	if (row.f[0].n)
		r->phase = sl_strdup(row.f[6].v[0]);
	rc = 0;
out:
	xrow_free(&row);
	sl_status_free(&st);
	return rc;
}

static void close_x(struct xp *x)
{
	if (x->locked)
		x->db->driver->unlock(x->db, NULL);
	sl_ops_free(&x->ops);
	sl_migrations_free(&x->set);
	free(x->source);
}

static int set_phase(struct xp *x, const char *phase, struct sl_error *err)
{
	const char *p[] = { phase, x->m->version };
	free(x->r->phase);
	x->r->phase = sl_strdup(phase);
	return x->db->driver->query(x->db, "UPDATE sluice.expansions SET phase = ? WHERE version = ?", p, 2,
				    NULL, NULL, err);
}

static int step_done(struct xp *x, size_t i, int *done, struct sl_error *err)
{
	char op[32];
	snprintf(op, sizeof(op), "%zu", i);
	struct sl_strvec v = SL_STRVEC_INIT;
	const char *p[] = { x->m->version, op };
	int rc = sl_db_query_strs(x->db, "SELECT done::text FROM sluice.expansion_steps WHERE version = ? AND op = ?::int",
				  p, 2, &v, 1, err);
	*done = !rc && v.n && !strcmp(v.v[0], "true");
	sl_strvec_free(&v);
	return rc;
}

static int mark_done(struct xp *x, size_t i, struct sl_error *err)
{
	char op[32];
	snprintf(op, sizeof(op), "%zu", i);
	const char *p[] = { x->m->version, op };
	return x->db->driver->query(x->db, "INSERT INTO sluice.expansion_steps (version, op, done) VALUES (?, ?::int, true)"
					   " ON CONFLICT (version, op) DO UPDATE SET done = true", p, 2, NULL, NULL, err);
}

/* ---- expand: DDL per operation ------------------------------------------------ */

/* A NOT VALID check standing in for NOT NULL until complete validates it. */
static int add_nn_check(struct xp *x, const char *table, const char *col, const char *check_for,
			struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "DO $sluice$ BEGIN ALTER TABLE ");
	qtable(&q, x, table);
	sl_buf_adds(&q, " ADD CONSTRAINT ");
	nn_check(&q, check_for);
	sl_buf_adds(&q, " CHECK (");
	sl_quote_ident_std(&q, col);
	sl_buf_adds(&q, " IS NOT NULL) NOT VALID; EXCEPTION WHEN duplicate_object THEN NULL; END $sluice$");
	int rc = ddl(x, q.s, err);
	sl_buf_free(&q);
	return rc;
}

static int create_index_concurrently(struct xp *x, const char *name, const char *table, int unique,
				     const char *method, char *const *cols, size_t ncols, int new_cols,
				     struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT, qn = SL_BUF_INIT;
	sl_quote_ident_std(&qn, x->schema);
	sl_buf_addc(&qn, '.');
	sl_quote_ident_std(&qn, name);
	/* a kill during CONCURRENTLY leaves an invalid index: drop it first */
	struct sl_strvec v = SL_STRVEC_INIT;
	const char *p[] = { qn.s };
	int rc = sl_db_query_strs(x->db, "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(?) AND NOT indisvalid",
				  p, 1, &v, 1, err);
	if (!rc && v.n) {
		sl_buf_printf(&q, "DROP INDEX CONCURRENTLY IF EXISTS %s", qn.s);
		rc = ddl(x, q.s, err);
		sl_buf_reset(&q);
	}
	sl_strvec_free(&v);
	if (!rc) {
		sl_buf_printf(&q, "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS ", unique ? "UNIQUE " : "");
		sl_quote_ident_std(&q, name);
		sl_buf_adds(&q, " ON ");
		qtable(&q, x, table);
		if (method)
			sl_buf_printf(&q, " USING %s", method);
		sl_buf_adds(&q, " (");
		for (size_t k = 0; k < ncols; k++) {
			sl_buf_adds(&q, k ? ", " : "");
			if (new_cols)
				new_col(&q, cols[k]);
			else
				sl_quote_ident_std(&q, cols[k]);
		}
		sl_buf_adds(&q, ")");
		rc = ddl(x, q.s, err);
	}
	sl_buf_free(&q);
	sl_buf_free(&qn);
	return rc;
}

static void unique_name(struct sl_buf *b, const char *table, const char *col)
{
	sl_buf_printf(b, "%s_%s_key", table, col);
}

static int expand_op(struct xp *x, size_t i, struct sl_error *err)
{
	const struct sl_op *op = &x->ops.v[i];
	struct sl_buf q = SL_BUF_INIT, ix = SL_BUF_INIT;
	int rc = 0;
	switch (op->kind) {
	case SL_OP_CREATE_TABLE: {
		struct sl_ops one = x->ops;
		one.v = (struct sl_op *)op;
		one.n = 1;
		one.schema = (char *)x->schema;
		rc = sl_ops_render(&one, "postgres", &q, err);
		if (!rc)
			rc = ddl(x, q.s, err);
		break;
	}
	case SL_OP_ADD_COLUMN:
		sl_buf_adds(&q, "ALTER TABLE ");
		qtable(&q, x, op->table);
		sl_buf_adds(&q, " ADD COLUMN IF NOT EXISTS ");
		sl_quote_ident_std(&q, op->column);
		sl_buf_printf(&q, " %s", op->type);
		if (op->def)
			sl_buf_printf(&q, " DEFAULT (%s)", op->def);
		rc = ddl(x, q.s, err);
		if (!rc && op->nullable == 0)
			rc = add_nn_check(x, op->table, op->column, op->column, err);
		if (!rc && op->unique) {
			unique_name(&ix, op->table, op->column);
			char *c[] = { op->column };
			rc = create_index_concurrently(x, ix.s, op->table, 1, NULL, c, 1, 0, err);
		}
		break;
	case SL_OP_ALTER_COLUMN:
		if (op->type) {
			sl_buf_adds(&q, "ALTER TABLE ");
			qtable(&q, x, op->table);
			sl_buf_adds(&q, " ADD COLUMN IF NOT EXISTS ");
			new_col(&q, op->column);
			sl_buf_printf(&q, " %s", op->type);
			if (op->def)
				sl_buf_printf(&q, " DEFAULT (%s)", op->def);
			rc = ddl(x, q.s, err);
			if (!rc && op->nullable == 0) {
				struct sl_buf n = SL_BUF_INIT;
				sl_buf_printf(&n, "sluice_new_%s", op->column);
				rc = add_nn_check(x, op->table, n.s, op->column, err);
				sl_buf_free(&n);
			}
		} else if (op->nullable == 0) {
			rc = add_nn_check(x, op->table, op->column, op->column, err);
		}
		if (!rc && op->unique) {
			unique_name(&ix, op->table, op->column);
			char *c[] = { op->column };
			sl_buf_adds(&ix, op->type ? "_new" : "");
			rc = create_index_concurrently(x, ix.s, op->table, 1, NULL, c, 1, op->type != NULL, err);
		}
		break;
	case SL_OP_CREATE_INDEX: {
		/* names after the operations before it: a renamed column is
		 * still under its old name in the table until complete */
		char **cols = sl_calloc(op->ncols, sizeof(*cols));
		for (size_t k = 0; k < op->ncols; k++) {
			cols[k] = op->cols[k];
			for (size_t j = 0; j < i; j++) {
				const struct sl_op *rn = &x->ops.v[j];
				if (rn->kind == SL_OP_RENAME_COLUMN && !strcmp(rn->table, op->table) &&
				    !strcmp(rn->to, cols[k]))
					cols[k] = rn->column;
			}
		}
		rc = create_index_concurrently(x, op->index, op->table, op->unique, op->method, cols,
					       op->ncols, 0, err);
		free(cols);
		break;
	}
	case SL_OP_RAW_SQL:
		rc = ddl(x, op->up, err);
		break;
	case SL_OP_RENAME_COLUMN:
	case SL_OP_DROP_COLUMN:
	case SL_OP_DROP_INDEX:
	case SL_OP_RENAME_TABLE:
		break;   /* the new view schema shows them; complete makes them real */
	}
	sl_buf_free(&q);
	sl_buf_free(&ix);
	return rc;
}

/* ---- dual writes -------------------------------------------------------------- */

static int needs_trigger(const struct sl_op *op)
{
	return (op->kind == SL_OP_ADD_COLUMN && op->up) || (op->kind == SL_OP_ALTER_COLUMN && op->type) ||
	       (op->kind == SL_OP_DROP_COLUMN && op->down);
}

static void var_assign(struct sl_buf *b, const char *target_col, int target_new, const char *expr)
{
	sl_buf_adds(b, "NEW.");
	if (target_new)
		new_col(b, target_col);
	else
		sl_quote_ident_std(b, target_col);
	sl_buf_printf(b, " := (%s);", expr);
}

static void nw(struct sl_buf *b, const char *which, const char *col, int is_new)
{
	sl_buf_printf(b, "%s.", which);
	if (is_new)
		new_col(b, col);
	else
		sl_quote_ident_std(b, col);
}

/* The trigger function and trigger of one table. */
static int install_trigger(struct xp *x, const char *table, struct sl_error *err)
{
	struct sl_strvec names = SL_STRVEC_INIT, types = SL_STRVEC_INIT;
	struct sl_buf q = SL_BUF_INIT;
	int rc = columns_of(x, table, &names, &types, err);
	if (rc)
		goto out;
	sl_buf_adds(&q, "CREATE OR REPLACE FUNCTION ");
	fn_name(&q, x, table);
	sl_buf_adds(&q, "() RETURNS trigger LANGUAGE plpgsql AS $sluice$\nDECLARE\n");
	for (size_t i = 0; i < names.n; i++) {
		if (!strncmp(names.v[i], "sluice_new_", 11))
			continue;
		sl_buf_adds(&q, "  ");
		sl_quote_ident_std(&q, names.v[i]);
		sl_buf_printf(&q, " %s := NEW.", types.v[i]);
		sl_quote_ident_std(&q, names.v[i]);
		sl_buf_adds(&q, ";\n");
	}
	sl_buf_adds(&q, "BEGIN\n");
	/* two passes: first what fills old columns (retype's down, drop's
	 * down), then what computes new ones from them (add's up), so an
	 * up sees the old values a new-shape writer's row implies */
	for (size_t pass = 0; pass < 2 * x->ops.n; pass++) {
		const struct sl_op *op = &x->ops.v[pass % x->ops.n];
		if (!needs_trigger(op) || strcmp(op->table, table) ||
		    (pass < x->ops.n) == (op->kind == SL_OP_ADD_COLUMN))
			continue;
		const char *c = op->column;
		if (op->kind == SL_OP_ADD_COLUMN) {
			/* an old-shape writer never sets c: compute it */
			sl_buf_adds(&q, "  IF TG_OP = 'INSERT' THEN IF ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NULL THEN ");
			var_assign(&q, c, 0, op->up);
			sl_buf_adds(&q, " END IF;\n  ELSIF ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NOT DISTINCT FROM ");
			nw(&q, "OLD", c, 0);
			sl_buf_adds(&q, " THEN ");
			var_assign(&q, c, 0, op->up);
			sl_buf_adds(&q, " END IF;\n");
		} else if (op->kind == SL_OP_DROP_COLUMN) {
			sl_buf_adds(&q, "  IF TG_OP = 'INSERT' AND ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NULL THEN ");
			var_assign(&q, c, 0, op->down);
			sl_buf_adds(&q, " END IF;\n  ");
			sl_quote_ident_std(&q, c);
			sl_buf_adds(&q, " := ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, ";\n");
		} else {
			/* retype: up fills the new column from the old, down the old
			 * from the new (its name bound to the new value) */
			struct sl_buf down = SL_BUF_INIT;
			sl_buf_adds(&down, "DECLARE ");
			sl_quote_ident_std(&down, c);
			sl_buf_printf(&down, " %s := NEW.", op->type);
			new_col(&down, c);
			sl_buf_adds(&down, "; BEGIN ");
			var_assign(&down, c, 0, op->down ? op->down : "NULL");
			sl_buf_adds(&down, " END;");
			sl_buf_adds(&q, "  IF TG_OP = 'INSERT' THEN\n    IF ");
			nw(&q, "NEW", c, 1);
			sl_buf_adds(&q, " IS NULL AND ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NOT NULL THEN ");
			var_assign(&q, c, 1, op->up);
			sl_buf_adds(&q, "\n    ELSIF ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NULL AND ");
			nw(&q, "NEW", c, 1);
			sl_buf_printf(&q, " IS NOT NULL THEN %s END IF;\n  ELSE\n    IF ", down.s);
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS DISTINCT FROM ");
			nw(&q, "OLD", c, 0);
			sl_buf_adds(&q, " AND ");
			nw(&q, "NEW", c, 1);
			sl_buf_adds(&q, " IS NOT DISTINCT FROM ");
			nw(&q, "OLD", c, 1);
			sl_buf_adds(&q, " THEN ");
			var_assign(&q, c, 1, op->up);
			sl_buf_adds(&q, "\n    ELSIF ");
			nw(&q, "NEW", c, 1);
			sl_buf_adds(&q, " IS DISTINCT FROM ");
			nw(&q, "OLD", c, 1);
			sl_buf_adds(&q, " AND ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, " IS NOT DISTINCT FROM ");
			nw(&q, "OLD", c, 0);
			sl_buf_printf(&q, " THEN %s END IF;\n  END IF;\n  ", down.s);
			sl_quote_ident_std(&q, c);
			sl_buf_adds(&q, " := ");
			nw(&q, "NEW", c, 0);
			sl_buf_adds(&q, ";\n");
			sl_buf_free(&down);
		}
	}
	sl_buf_adds(&q, "  RETURN NEW;\nEND $sluice$;\nDROP TRIGGER IF EXISTS sluice_expand ON ");
	qtable(&q, x, table);
	sl_buf_adds(&q, ";\nCREATE TRIGGER sluice_expand BEFORE INSERT OR UPDATE ON ");
	qtable(&q, x, table);
	/* the backfill's session is let through without calling the function */
	sl_buf_adds(&q, " FOR EACH ROW WHEN (current_setting('sluice.backfill', true) IS DISTINCT FROM 'on')"
			" EXECUTE FUNCTION ");
	fn_name(&q, x, table);
	sl_buf_adds(&q, "()");
	rc = ddl(x, q.s, err);
out:
	sl_strvec_free(&names);
	sl_strvec_free(&types);
	sl_buf_free(&q);
	return rc;
}

static int drop_triggers(struct xp *x, struct sl_buf *q)
{
	struct sl_strvec done = SL_STRVEC_INIT;
	for (size_t i = 0; i < x->ops.n; i++) {
		const struct sl_op *op = &x->ops.v[i];
		if (!needs_trigger(op) || vec_has(&done, op->table))
			continue;
		sl_strvec_push(&done, op->table);
		sl_buf_adds(q, "DROP TRIGGER IF EXISTS sluice_expand ON ");
		qtable(q, x, op->table);
		sl_buf_adds(q, ";\nDROP FUNCTION IF EXISTS ");
		fn_name(q, x, op->table);
		sl_buf_adds(q, "();\n");
	}
	sl_strvec_free(&done);
	return 0;
}

/* ---- backfill ----------------------------------------------------------------- */

/* Does op fill a column of existing rows? */
static int fills(const struct sl_op *op)
{
	return op->up && (op->kind == SL_OP_ADD_COLUMN || (op->kind == SL_OP_ALTER_COLUMN && op->type));
}

static int backfill(struct xp *x, size_t i, struct sl_error *err)
{
	const struct sl_op *op = &x->ops.v[i];
	struct sl_buf t = SL_BUF_INIT, q = SL_BUF_INIT, set = SL_BUF_INIT;
	struct sl_strvec pk[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT }, cur[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
	int rc = -1;
	qtable(&t, x, op->table);
	const char *p1[] = { t.s };
	if (sl_db_query_strs(x->db, "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i"
				    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
				    " WHERE i.indrelid = to_regclass(?) AND i.indisprimary", p1, 1, pk, 2, err))
		goto out;
	if (pk[0].n != 1) {
		sl_err_at(err, SL_USAGE, x->ops.path, op->line, 0,
			  "%s: table %s needs a one-column primary key for the batched backfill", sl_op_kind_name(op->kind),
			  op->table);
		goto out;
	}
	char opn[32];
	snprintf(opn, sizeof(opn), "%zu", i);
	const char *p2[] = { x->m->version, opn };
	if (sl_db_query_strs(x->db, "SELECT coalesce(last_key, ''), (last_key IS NULL)::text FROM sluice.expansion_steps"
				    " WHERE version = ? AND op = ?::int", p2, 2, cur, 2, err))
		goto out;
	char *last = cur[0].n && !strcmp(cur[1].v[0], "false") ? sl_strdup(cur[0].v[0]) : NULL;
	const char *key = pk[0].v[0], *ktype = pk[1].v[0];
	/* every column of the table this migration fills, in one pass */
	for (size_t j = i; j < x->ops.n; j++) {
		const struct sl_op *o2 = &x->ops.v[j];
		if (!fills(o2) || strcmp(o2->table, op->table))
			continue;
		sl_buf_adds(&set, set.len ? ", " : "");
		if (o2->kind == SL_OP_ADD_COLUMN)
			sl_quote_ident_std(&set, o2->column);
		else
			new_col(&set, o2->column);
		sl_buf_printf(&set, " = (%s)", o2->up);
	}
	if (run(x, "SET sluice.backfill = 'on'", err)) {
		free(last);
		goto out;
	}
	long rows = 0, t0 = mono_ms(), shown = 0;
	for (;;) {
		sl_buf_reset(&q);
		/* one short transaction per batch: the rows and the cursor together */
		/* the next batch_size keys, then the update of that key range: an
		 * index range scan (key IN (subquery) is planned as a hash join
		 * over the whole table, once per batch) */
		struct sl_buf qk = SL_BUF_INIT;
		sl_quote_ident_std(&qk, key);
		sl_buf_printf(&q, "WITH sluice_k AS (SELECT %s AS k FROM %s", qk.s, t.s);
		if (last)
			sl_buf_printf(&q, " WHERE %s > ?::%s", qk.s, ktype);
		sl_buf_printf(&q, " ORDER BY %s LIMIT %ld),"
				  " sluice_r AS (SELECT min(k) AS lo, max(k) AS hi FROM sluice_k),"
				  " sluice_b AS (UPDATE %s SET %s WHERE %s >= (SELECT lo FROM sluice_r)"
				  " AND %s <= (SELECT hi FROM sluice_r) RETURNING %s AS k),",
			      qk.s, x->o->batch_size, t.s, set.s, qk.s, qk.s, qk.s);
		sl_buf_free(&qk);
		sl_buf_adds(&q, " m AS (SELECT max(k)::text AS k, count(*) AS n FROM sluice_b)"
				" INSERT INTO sluice.expansion_steps (version, op, last_key, rows)"
				" SELECT ?, ?::int, m.k, m.n FROM m WHERE m.n > 0"
				" ON CONFLICT (version, op) DO UPDATE SET last_key = excluded.last_key,"
				" rows = sluice.expansion_steps.rows + excluded.rows"
				" RETURNING last_key, (SELECT n FROM m)::text");
		const char *pb[] = { last, x->m->version, opn };
		const char *const *pp = last ? pb : pb + 1;
		struct sl_strvec res[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
		rc = sl_db_query_strs(x->db, q.s, pp, last ? 3 : 2, res, 2, err);
		if (rc) {
			sl_strvec_free(&res[0]);
			sl_strvec_free(&res[1]);
			break;
		}
		if (!res[0].n) {
			sl_strvec_free(&res[0]);
			sl_strvec_free(&res[1]);
			break;   /* no row left */
		}
		free(last);
		last = sl_strdup(res[0].v[0]);
		rows += atol(res[1].v[0]);
		sl_strvec_free(&res[0]);
		sl_strvec_free(&res[1]);
		if (x->o->progress && mono_ms() - shown >= 1000) {
			shown = mono_ms();
			long el = shown - t0;
			note(x, "backfill", "%s: %ld rows (%ld rows/s)", op->table, rows,
			     el > 0 ? rows * 1000 / el : rows);
		}
		if (x->o->batch_pause_ms > 0)
			sleep_ms(x->o->batch_pause_ms);
	}
	free(last);
	struct sl_error e2;
	run(x, "RESET sluice.backfill", &e2);
	if (!rc) {
		x->r->backfilled += rows;
		long el = mono_ms() - t0;
		note(x, "backfill", "%s: %ld rows in %ld ms", op->table, rows, el);
	}
out:
	for (int k = 0; k < 2; k++) {
		sl_strvec_free(&pk[k]);
		sl_strvec_free(&cur[k]);
	}
	sl_buf_free(&t);
	sl_buf_free(&q);
	sl_buf_free(&set);
	return rc;
}

/* ---- view schemas --------------------------------------------------------------- */

static int tables_of(struct xp *x, struct sl_strvec *out, struct sl_error *err)
{
	const char *p[] = { x->schema };
	return sl_db_query_strs(x->db, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
				       " WHERE n.nspname = ? AND c.relkind IN ('r', 'p') ORDER BY c.relname",
				p, 1, out, 1, err);
}

static const struct sl_op *find_op(const struct xp *x, enum sl_op_kind k, const char *table, const char *col)
{
	for (size_t i = 0; i < x->ops.n; i++) {
		const struct sl_op *op = &x->ops.v[i];
		if (op->kind == k && op->table && !strcmp(op->table, table) &&
		    (!col || (op->column && !strcmp(op->column, col))))
			return op;
	}
	return NULL;
}

/* Does the migration change table t (its view shows the difference)? */
static int touched(const struct xp *x, const char *t)
{
	for (size_t i = 0; i < x->ops.n; i++)
		if (x->ops.v[i].table && x->ops.v[i].kind != SL_OP_CREATE_INDEX && !strcmp(x->ops.v[i].table, t))
			return 1;
	return 0;
}

/*
 * (Re)create a view schema over the tables the migration changes: shape 0
 * the old one (the columns as they were, nothing this migration adds), 1
 * the new one (renames applied, retyped columns showing their new values,
 * dropped ones gone, added ones there).  Clients pick a shape with
 * search_path (`SET search_path = public_v2, public`): unchanged tables
 * resolve to the base schema, and after complete drops both view schemas
 * the same names resolve to the base tables, which then have the new shape.
 */
static void view_schema_sql(struct xp *x, const char *vs, int shape, const struct sl_strvec *tables,
			    struct sl_buf *q, struct sl_error *err, int *rc)
{
	sl_buf_adds(q, "DROP SCHEMA IF EXISTS ");
	sl_quote_ident_std(q, vs);
	sl_buf_adds(q, " CASCADE;\nCREATE SCHEMA ");
	sl_quote_ident_std(q, vs);
	sl_buf_adds(q, ";\n");
	for (size_t t = 0; t < tables->n && !*rc; t++) {
		const char *table = tables->v[t];
		if ((shape == 0 && created_here(x, table)) || !touched(x, table))
			continue;
		struct sl_strvec names = SL_STRVEC_INIT;
		if ((*rc = columns_of(x, table, &names, NULL, err)))
			break;
		const char *vname = table;
		const struct sl_op *rt = shape == 1 ? find_op(x, SL_OP_RENAME_TABLE, table, NULL) : NULL;
		if (rt)
			vname = rt->to;
		sl_buf_adds(q, "CREATE VIEW ");
		sl_quote_ident_std(q, vs);
		sl_buf_addc(q, '.');
		sl_quote_ident_std(q, vname);
		sl_buf_adds(q, " AS SELECT ");
		int first = 1;
		for (size_t i = 0; i < names.n; i++) {
			const char *c = names.v[i];
			int is_new = !strncmp(c, "sluice_new_", 11);
			if (shape == 0) {
				if (is_new || find_op(x, SL_OP_ADD_COLUMN, table, c))
					continue;
				sl_buf_adds(q, first ? "" : ", ");
				sl_quote_ident_std(q, c);
			} else {
				const struct sl_op *al = find_op(x, SL_OP_ALTER_COLUMN, table, c);
				if (is_new || find_op(x, SL_OP_DROP_COLUMN, table, c))
					continue;
				const struct sl_op *rn = find_op(x, SL_OP_RENAME_COLUMN, table, c);
				sl_buf_adds(q, first ? "" : ", ");
				if (al && al->type)
					new_col(q, c);
				else
					sl_quote_ident_std(q, c);
				sl_buf_adds(q, " AS ");
				sl_quote_ident_std(q, rn ? rn->to : c);
			}
			first = 0;
		}
		if (first)
			sl_buf_adds(q, "NULL AS sluice_no_columns");
		sl_buf_adds(q, " FROM ");
		qtable(q, x, table);
		sl_buf_adds(q, ";\n");
		sl_strvec_free(&names);
	}
}

static int create_views(struct xp *x, struct sl_error *err)
{
	struct sl_strvec tables = SL_STRVEC_INIT;
	struct sl_buf q = SL_BUF_INIT;
	int rc = tables_of(x, &tables, err);
	if (!rc)
		view_schema_sql(x, x->r->old_schema, 0, &tables, &q, err, &rc);
	if (!rc)
		view_schema_sql(x, x->r->new_schema, 1, &tables, &q, err, &rc);
	if (!rc)
		rc = ddl(x, q.s, err);
	sl_strvec_free(&tables);
	sl_buf_free(&q);
	return rc;
}

/* ---- the three commands --------------------------------------------------------- */

int sl_expand(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
	      struct sl_error *err)
{
	struct xp x;
	memset(&x, 0, sizeof(x));
	long t0 = mono_ms();
	int rc = open_x(&x, eng, o, r, X_EXPAND, err);
	if (rc)
		goto out;
	if (r->phase && !strcmp(r->phase, "expanded")) {
		note(&x, "expand", "version %s is already expanded: readers and writers use %s or %s", r->version,
		     r->old_schema, r->new_schema);
		goto out;
	}
	if (!r->phase) {
		const char *p[] = { x.m->version, x.m->up_script, x.checksum, x.schema, r->old_schema,
				    r->new_schema, sl_actor(), x.m->description, x.source };
		if ((rc = eng->db->driver->query(eng->db, "INSERT INTO sluice.expansions (version, script, checksum,"
							  " schema_name, old_schema, new_schema, phase, actor,"
							  " description, source)"
							  " VALUES (?, ?, ?, ?, ?, ?, 'expanding', ?, ?, ?)",
						 p, 9, NULL, NULL, err)))
			goto out;
		r->phase = sl_strdup("expanding");
	} else {
		note(&x, "expand", "resuming the expansion of version %s", r->version);
	}
	note(&x, "expand", "version %s (%s): %zu operation(s)", x.m->version, x.m->up_script, x.ops.n);
	/* DDL first (each step recorded once done), then triggers, then the
	 * backfill (the triggers keep new writes right while it runs) */
	for (size_t i = 0; i < x.ops.n && !rc; i++) {
		int done = 0;
		if ((rc = step_done(&x, i, &done, err)) || done)
			continue;
		note(&x, sl_op_kind_name(x.ops.v[i].kind), "line %d", x.ops.v[i].line);
		if (!(rc = expand_op(&x, i, err)) && !needs_trigger(&x.ops.v[i]))
			rc = mark_done(&x, i, err);
	}
	struct sl_strvec tabs = SL_STRVEC_INIT;
	for (size_t i = 0; i < x.ops.n && !rc; i++) {
		if (!needs_trigger(&x.ops.v[i]) || vec_has(&tabs, x.ops.v[i].table))
			continue;
		sl_strvec_push(&tabs, x.ops.v[i].table);
		rc = install_trigger(&x, x.ops.v[i].table, err);
	}
	sl_strvec_free(&tabs);
	/* one backfill per table (its first filling operation keeps the cursor) */
	for (size_t i = 0; i < x.ops.n && !rc; i++) {
		const struct sl_op *op = &x.ops.v[i];
		int done = 0, first = 1;
		if (!needs_trigger(op) || (rc = step_done(&x, i, &done, err)) || done)
			continue;
		for (size_t j = 0; j < i; j++)
			if (fills(&x.ops.v[j]) && !strcmp(x.ops.v[j].table, op->table))
				first = 0;
		if (!fills(op)) {
			rc = mark_done(&x, i, err);
			continue;
		}
		if (first)
			rc = backfill(&x, i, err);
		for (size_t j = i; j < x.ops.n && !rc; j++)
			if (fills(&x.ops.v[j]) && !strcmp(x.ops.v[j].table, op->table))
				rc = mark_done(&x, j, err);
	}
	if (!rc)
		rc = create_views(&x, err);
	if (!rc)
		rc = set_phase(&x, "expanded", err);
	if (!rc)
		note(&x, "expanded", "old shape: %s, new shape: %s; 'sluice complete' when every client reads the new one",
		     r->old_schema, r->new_schema);
out:
	r->ms = mono_ms() - t0;
	close_x(&x);
	if (rc)
		sl_err_prefix(err, "expand: ");
	return rc;
}

/*
 * Blue-green: which shape new sessions of the database read by default.
 * `ALTER DATABASE ... SET search_path` reaches every client that does not
 * set its own path, from its next connection on (pooled connections keep
 * theirs until they reconnect).  The setting the database had before the
 * first switch is kept and put back by complete and abort.
 */
static int db_search_path(struct xp *x, const char *value, struct sl_buf *q, struct sl_error *err)
{
	struct sl_strvec v = SL_STRVEC_INIT;
	int rc = sl_db_query_strs(x->db, "SELECT current_database()", NULL, 0, &v, 1, err);
	if (!rc) {
		sl_buf_adds(q, "ALTER DATABASE ");
		sl_quote_ident_std(q, v.v[0]);
		/* value is either built from quoted names here or the text
		 * PostgreSQL itself stored for the setting (saved_search_path) */
		if (value)
			sl_buf_printf(q, " SET search_path = %s;\n", value);
		else
			sl_buf_adds(q, " RESET search_path;\n");
	}
	sl_strvec_free(&v);
	return rc;
}

/* The SQL that puts the database's search_path back, when a switch changed it. */
static int restore_search_path(struct xp *x, struct sl_buf *q, struct sl_error *err)
{
	struct sl_strvec v[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
	const char *p[] = { x->m->version };
	int rc = sl_db_query_strs(x->db, "SELECT switched::text, saved_search_path FROM sluice.expansions"
					 " WHERE version = ?", p, 1, v, 2, err);
	if (!rc && v[0].n && !strcmp(v[0].v[0], "true"))
		rc = db_search_path(x, v[1].v[0][0] ? v[1].v[0] : NULL, q, err);
	sl_strvec_free(&v[0]);
	sl_strvec_free(&v[1]);
	return rc;
}

int sl_switch(struct sl_engine *eng, const struct sl_expand_opts *o, const char *to,
	      struct sl_expand_result *r, struct sl_error *err)
{
	struct xp x;
	memset(&x, 0, sizeof(x));
	long t0 = mono_ms();
	struct sl_buf q = SL_BUF_INIT, path = SL_BUF_INIT;
	struct sl_strvec saved = SL_STRVEC_INIT;
	int rc = -1;
	memset(r, 0, sizeof(*r));
	if (strcmp(to, "old") && strcmp(to, "new")) {
		sl_err(err, SL_USAGE, "switch to 'old' or 'new', not '%s'", to);
		goto out;
	}
	if ((rc = open_x(&x, eng, o, r, X_COMPLETE, err)))
		goto out;
	if (strcmp(r->phase, "expanded")) {
		rc = sl_err(err, SL_FAILED, "the expansion of version %s is in phase %s: switch needs it expanded",
			    r->version, r->phase);
		goto out;
	}
	sl_quote_ident_std(&path, !strcmp(to, "new") ? r->new_schema : r->old_schema);
	sl_buf_adds(&path, ", ");
	sl_quote_ident_std(&path, x.schema);
	/* the setting before the first switch, as PostgreSQL stored it */
	if ((rc = sl_db_query_strs(x.db, "SELECT coalesce((SELECT substr(c, 13) FROM pg_db_role_setting s,"
					 " unnest(s.setconfig) c WHERE s.setrole = 0 AND s.setdatabase ="
					 " (SELECT oid FROM pg_database WHERE datname = current_database())"
					 " AND c LIKE 'search\\_path=%'), '')", NULL, 0, &saved, 1, err)))
		goto out;
	if ((rc = db_search_path(&x, path.s, &q, err)))
		goto out;
	sl_buf_adds(&q, "UPDATE sluice.expansions SET saved_search_path = CASE WHEN switched"
			" THEN saved_search_path ELSE nullif(");
	sl_quote_literal_std(&q, saved.n ? saved.v[0] : "");
	sl_buf_adds(&q, ", '') END, switched = true, active = ");
	sl_quote_literal_std(&q, to);
	sl_buf_adds(&q, " WHERE version = ");
	sl_quote_literal_std(&q, x.m->version);
	rc = ddl(&x, q.s, err);
	if (!rc) {
		note(&x, "switch", "new sessions of the database read %s (search_path %s)",
		     !strcmp(to, "new") ? r->new_schema : r->old_schema, path.s);
		free(r->phase);
		r->phase = sl_strdup(!strcmp(to, "new") ? "switched to new" : "switched to old");
	}
out:
	r->ms = mono_ms() - t0;
	sl_buf_free(&q);
	sl_buf_free(&path);
	sl_strvec_free(&saved);
	close_x(&x);
	if (rc)
		sl_err_prefix(err, "switch: ");
	return rc;
}

static int contract_tx(struct xp *x, const char *sql, long t0, struct sl_error *err)
{
	const struct sl_db_driver *d = x->db->driver;
	struct sl_buf lt = SL_BUF_INIT;
	sl_buf_printf(&lt, "SET LOCAL lock_timeout = '%ldms'", x->o->ddl_lock_timeout_ms);
	long wait = 50;
	int rc = -1;
	for (int i = 0; i < x->o->ddl_retries; i++) {
		struct sl_error e;
		sl_error_clear(&e);
		struct sl_hist_row row;
		memset(&row, 0, sizeof(row));
		row.version = x->m->version;
		row.description = x->m->description;
		row.kind = "versioned";
		row.script = x->m->up_script;
		row.checksum = x->checksum;
		row.execution_ms = mono_ms() - t0;
		row.success = 1;
		if (!d->begin(x->db, &e) && !run(x, lt.s, &e) && !run(x, sql, &e) &&
		    !sl_history_insert(x->db, &row, &e) && !d->commit(x->db, &e)) {
			rc = 0;
			break;
		}
		struct sl_error e2;
		d->rollback(x->db, &e2);
		if (!again(x, &e, i, &wait)) {
			*err = e;
			break;
		}
	}
	sl_buf_free(&lt);
	return rc;
}

int sl_complete(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
		struct sl_error *err)
{
	struct xp x;
	memset(&x, 0, sizeof(x));
	long t0 = mono_ms();
	int rc = open_x(&x, eng, o, r, X_COMPLETE, err);
	if (rc)
		goto out;
	if (strcmp(r->phase, "expanded")) {
		rc = sl_err(err, SL_FAILED, "the expansion of version %s stopped in phase %s", r->version, r->phase);
		sl_err_hint(err, "'sluice expand' finishes it first, or 'sluice abort' undoes it");
		goto out;
	}
	/* validate NOT NULL checks outside the short transaction (no exclusive lock) */
	for (size_t i = 0; i < x.ops.n && !rc; i++) {
		const struct sl_op *op = &x.ops.v[i];
		if ((op->kind == SL_OP_ADD_COLUMN || op->kind == SL_OP_ALTER_COLUMN) && op->nullable == 0) {
			struct sl_buf q = SL_BUF_INIT;
			sl_buf_adds(&q, "ALTER TABLE ");
			qtable(&q, &x, op->table);
			sl_buf_adds(&q, " VALIDATE CONSTRAINT ");
			nn_check(&q, op->column);
			rc = ddl(&x, q.s, err);
			sl_buf_free(&q);
		}
	}
	struct sl_buf q = SL_BUF_INIT;
	if (!rc) {
		sl_buf_adds(&q, "DROP SCHEMA IF EXISTS ");
		sl_quote_ident_std(&q, r->old_schema);
		sl_buf_adds(&q, " CASCADE;\nDROP SCHEMA IF EXISTS ");
		sl_quote_ident_std(&q, r->new_schema);
		sl_buf_adds(&q, " CASCADE;\n");
		drop_triggers(&x, &q);
	}
	for (size_t i = 0; i < x.ops.n && !rc; i++) {
		const struct sl_op *op = &x.ops.v[i];
		struct sl_buf t = SL_BUF_INIT;
		if (op->table)
			qtable(&t, &x, op->table);
		switch (op->kind) {
		case SL_OP_ADD_COLUMN:
		case SL_OP_ALTER_COLUMN:
			if (op->kind == SL_OP_ALTER_COLUMN && op->type) {
				sl_buf_printf(&q, "ALTER TABLE %s DROP COLUMN ", t.s);
				sl_quote_ident_std(&q, op->column);
				sl_buf_printf(&q, ";\nALTER TABLE %s RENAME COLUMN ", t.s);
				new_col(&q, op->column);
				sl_buf_adds(&q, " TO ");
				sl_quote_ident_std(&q, op->column);
				sl_buf_adds(&q, ";\n");
			} else if (op->kind == SL_OP_ALTER_COLUMN && op->def) {
				sl_buf_printf(&q, "ALTER TABLE %s ALTER COLUMN ", t.s);
				sl_quote_ident_std(&q, op->column);
				sl_buf_printf(&q, " SET DEFAULT (%s);\n", op->def);
			}
			if (op->kind == SL_OP_ALTER_COLUMN && !op->type && op->nullable == 1) {
				sl_buf_printf(&q, "ALTER TABLE %s ALTER COLUMN ", t.s);
				sl_quote_ident_std(&q, op->column);
				sl_buf_adds(&q, " DROP NOT NULL;\n");
			}
			if (op->nullable == 0) {
				/* the validated check lets SET NOT NULL skip its scan */
				sl_buf_printf(&q, "ALTER TABLE %s ALTER COLUMN ", t.s);
				sl_quote_ident_std(&q, op->column);
				sl_buf_printf(&q, " SET NOT NULL;\nALTER TABLE %s DROP CONSTRAINT ", t.s);
				nn_check(&q, op->column);
				sl_buf_adds(&q, ";\n");
			}
			if (op->unique) {
				struct sl_buf ix = SL_BUF_INIT, ix2 = SL_BUF_INIT;
				unique_name(&ix, op->table, op->column);
				sl_buf_printf(&ix2, "%s%s", ix.s, op->kind == SL_OP_ALTER_COLUMN && op->type ? "_new" : "");
				sl_buf_printf(&q, "ALTER TABLE %s ADD CONSTRAINT ", t.s);
				sl_quote_ident_std(&q, ix.s);
				sl_buf_adds(&q, " UNIQUE USING INDEX ");
				sl_quote_ident_std(&q, ix2.s);
				sl_buf_adds(&q, ";\n");
				sl_buf_free(&ix);
				sl_buf_free(&ix2);
			}
			break;
		case SL_OP_DROP_COLUMN:
			sl_buf_printf(&q, "ALTER TABLE %s DROP COLUMN IF EXISTS ", t.s);
			sl_quote_ident_std(&q, op->column);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_RENAME_COLUMN:
			sl_buf_printf(&q, "ALTER TABLE %s RENAME COLUMN ", t.s);
			sl_quote_ident_std(&q, op->column);
			sl_buf_adds(&q, " TO ");
			sl_quote_ident_std(&q, op->to);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_RENAME_TABLE:
			sl_buf_printf(&q, "ALTER TABLE %s RENAME TO ", t.s);
			sl_quote_ident_std(&q, op->to);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_DROP_INDEX:
			sl_buf_adds(&q, "DROP INDEX IF EXISTS ");
			qtable(&q, &x, op->index);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_CREATE_TABLE:
		case SL_OP_CREATE_INDEX:
		case SL_OP_RAW_SQL:
			break;
		}
		sl_buf_free(&t);
	}
	if (!rc) {
		/* the DDL, the end of the expansion and the history row: one
		 * transaction, retried whole when it times out on a lock */
		rc = restore_search_path(&x, &q, err);
	}
	if (!rc) {
		sl_buf_adds(&q, "DELETE FROM sluice.expansion_steps WHERE version = ");
		sl_quote_literal_std(&q, x.m->version);
		sl_buf_adds(&q, ";\nDELETE FROM sluice.expansions WHERE version = ");
		sl_quote_literal_std(&q, x.m->version);
		rc = contract_tx(&x, q.s, t0, err);
	}
	sl_buf_free(&q);
	if (!rc) {
		free(r->phase);
		r->phase = sl_strdup("completed");
	}
out:
	r->ms = mono_ms() - t0;
	close_x(&x);
	if (rc)
		sl_err_prefix(err, "complete: ");
	return rc;
}

int sl_abort(struct sl_engine *eng, const struct sl_expand_opts *o, struct sl_expand_result *r,
	     struct sl_error *err)
{
	struct xp x;
	memset(&x, 0, sizeof(x));
	long t0 = mono_ms();
	int rc = open_x(&x, eng, o, r, X_ABORT, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < x.ops.n; i++)
		if (x.ops.v[i].kind == SL_OP_RAW_SQL && !x.ops.v[i].down) {
			rc = sl_err_at(err, SL_FAILED, x.ops.path, x.ops.v[i].line, 0,
				       "raw_sql has no 'down': sluice cannot undo it");
			goto out;
		}
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "DROP SCHEMA IF EXISTS ");
	sl_quote_ident_std(&q, r->new_schema);
	sl_buf_adds(&q, " CASCADE;\n");
	drop_triggers(&x, &q);
	for (size_t i = x.ops.n; i-- > 0;) {
		const struct sl_op *op = &x.ops.v[i];
		struct sl_buf t = SL_BUF_INIT;
		if (op->table)
			qtable(&t, &x, op->table);
		switch (op->kind) {
		case SL_OP_ADD_COLUMN:
			sl_buf_printf(&q, "ALTER TABLE IF EXISTS %s DROP COLUMN IF EXISTS ", t.s);
			sl_quote_ident_std(&q, op->column);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_ALTER_COLUMN:
			if (op->type) {
				sl_buf_printf(&q, "ALTER TABLE IF EXISTS %s DROP COLUMN IF EXISTS ", t.s);
				new_col(&q, op->column);
				sl_buf_adds(&q, ";\n");
			}
			if (op->nullable == 0) {
				sl_buf_printf(&q, "ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS ", t.s);
				nn_check(&q, op->column);
				sl_buf_adds(&q, ";\n");
			}
			if (op->unique && !op->type) {
				struct sl_buf ix = SL_BUF_INIT;
				unique_name(&ix, op->table, op->column);
				sl_buf_adds(&q, "DROP INDEX IF EXISTS ");
				qtable(&q, &x, ix.s);
				sl_buf_adds(&q, ";\n");
				sl_buf_free(&ix);
			}
			break;
		case SL_OP_CREATE_INDEX:
			sl_buf_adds(&q, "DROP INDEX IF EXISTS ");
			qtable(&q, &x, op->index);
			sl_buf_adds(&q, ";\n");
			break;
		case SL_OP_CREATE_TABLE:
			sl_buf_printf(&q, "DROP TABLE IF EXISTS %s;\n", t.s);
			break;
		case SL_OP_RAW_SQL:
			sl_buf_printf(&q, "%s;\n", op->down);
			break;
		case SL_OP_RENAME_COLUMN:
		case SL_OP_DROP_COLUMN:
		case SL_OP_DROP_INDEX:
		case SL_OP_RENAME_TABLE:
			break;
		}
		sl_buf_free(&t);
	}
	rc = restore_search_path(&x, &q, err);
	sl_buf_adds(&q, "DELETE FROM sluice.expansion_steps WHERE version = ");
	sl_quote_literal_std(&q, x.m->version);
	sl_buf_adds(&q, ";\nDELETE FROM sluice.expansions WHERE version = ");
	sl_quote_literal_std(&q, x.m->version);
	if (!rc)
		rc = ddl(&x, q.s, err);
	sl_buf_free(&q);
	if (!rc) {
		free(r->phase);
		r->phase = sl_strdup("aborted");
	}
out:
	r->ms = mono_ms() - t0;
	close_x(&x);
	if (rc)
		sl_err_prefix(err, "abort: ");
	return rc;
}
