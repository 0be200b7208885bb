/*
 * shadow.c - shadow replay (see shadow.h).
 *
 * One pass per side: every distinct query on the current schema, then
 * every one on the shadow.  Sides are never interleaved: on PostgreSQL
 * without shadow_url the shadow is a transaction on the environment's own
 * database that holds the migrations' locks, and a current-side query on
 * a table it altered would wait for it.
 */
#include "shadow.h"
#include "../analyze/plan.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../db/replay.h"
#include "../migrate/migrate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *sl_shadow_status_name(enum sl_shadow_status s)
{
	static const char *const names[SL_SH_NSTATUS] = {
		"ok", "broken", "differs", "slower", "failing", "prepared", "skipped",
	};
	return (unsigned)s < SL_SH_NSTATUS ? names[s] : "?";
}

void sl_shadow_init(void)
{
	sl_db_replay_init();
}

void sl_shadow_report_free(struct sl_shadow_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].sql);
		free(r->v[i].reason);
		free(r->v[i].cur.error);
		free(r->v[i].shadow.error);
	}
	free(r->v);
	free(r->shadow);
	sl_strvec_free(&r->applied);
	memset(r, 0, sizeof(*r));
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* FNV-1a, 64 bits. */
static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}
#define FNV_START 14695981039346656037ULL

/* splitmix64's finaliser: row hashes are summed, so each must be mixed
 * well for the sum to stay sensitive to every bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * The distinct queries of log, in order of first appearance, with their
 * counts.  An open-addressing table of indexes (plus one) keyed by the
 * text's hash finds repeats.
 */
static void collect(const struct sl_querylog *log, struct sl_shadow_report *out)
{
	size_t cap = 16;
	while (cap < log->n * 2)
		cap <<= 1;
	size_t *slot = sl_calloc(cap, sizeof(*slot));
	out->v = sl_calloc(log->n ? log->n : 1, sizeof(*out->v));
	for (size_t i = 0; i < log->n; i++) {
		const struct sl_query *q = &log->v[i];
		out->queries += (size_t)q->count;
		size_t k = (size_t)fnv(q->sql, strlen(q->sql), FNV_START) & (cap - 1);
		while (slot[k] && strcmp(out->v[slot[k] - 1].sql, q->sql) != 0)
			k = (k + 1) & (cap - 1);
		if (slot[k]) {
			out->v[slot[k] - 1].count += q->count;
			continue;
		}
		slot[k] = out->n + 1;
		struct sl_shadow_result *r = &out->v[out->n++];
		const char *why = NULL;
		r->sql = sl_strdup(q->sql);
		r->line = q->line;
		r->count = q->count;
		r->normalized = q->normalized;
		r->kind = sl_query_kind(q->sql, &why);
		if (r->kind == SL_QK_SKIP)
			r->reason = sl_strdup(why);
		r->cur.ms = r->shadow.ms = -1;
		r->cur.rows = r->shadow.rows = -1;
	}
	free(slot);
	out->distinct = out->n;
}

/* ---- one side: a connection and how statements are wrapped ----------- */

struct side {
	struct sl_db *db;
	int savepoints;     /* roll back to a savepoint, not a transaction */
	const struct sl_shadow_opts *o;
};

static int sql_ok(struct sl_db *db, const char *sql, struct sl_error *err)
{
	return db->driver->query(db, sql, NULL, 0, NULL, NULL, err);
}

/*
 * How each statement is rolled back: a connection made by the driver's
 * shadow() takes a savepoint per statement (PostgreSQL's is inside one
 * open transaction, where BEGIN would only warn; in SQLite's copy a
 * savepoint outside a transaction opens one), any other connection a
 * transaction of its own.
 */
static int side_setup(struct side *s, struct sl_db *db, int from_shadow,
		      const struct sl_shadow_opts *o, struct sl_error *err)
{
	s->db = db;
	s->o = o;
	s->savepoints = from_shadow;
	return sl_db_statement_timeout(db, o->timeout_ms, err);
}

static int side_begin(struct side *s, struct sl_error *err)
{
	if (s->savepoints)
		return sql_ok(s->db, "SAVEPOINT sluice_replay", err);
	return s->db->driver->begin(s->db, err);
}

static int side_end(struct side *s, struct sl_error *err)
{
	if (s->savepoints)
		return sql_ok(s->db, "ROLLBACK TO SAVEPOINT sluice_replay", err) ||
		       sql_ok(s->db, "RELEASE SAVEPOINT sluice_replay", err) ? -1 : 0;
	return s->db->driver->rollback(s->db, err);
}

/* Rows of a read, folded into a count and order-independent checksums. */
struct acc {
	long long rows;
	int ncols;
	int prefix;         /* columns of the prefix checksum */
	uint64_t sum, psum;
};

static int row_cb(void *arg, int ncols, const char *const *vals)
{
	struct acc *a = arg;
	uint64_t h = FNV_START, ph = FNV_START;
	static const unsigned char null_tag = 0, val_tag = 1, sep = 0xff;
	for (int i = 0; i < ncols; i++) {
		if (i == a->prefix)
			ph = h;
		h = fnv(vals[i] ? &val_tag : &null_tag, 1, h);
		if (vals[i])
			h = fnv(vals[i], strlen(vals[i]), h);
		h = fnv(&sep, 1, h);
	}
	if (a->prefix >= ncols)
		ph = h;
	a->sum += mix(h);
	a->psum += mix(ph);
	if (!a->rows)
		a->ncols = ncols;
	a->rows++;
	return 0;
}

struct outcome {
	int failed;
	char *error;        /* owned when failed */
	double ms;
	struct acc a;
};

/*
 * Run r once on s, rolled back.  Returns -1 only when sluice's own
 * statements around it fail (the connection is gone): the query's own
 * failure is an outcome.
 */
static int run_once(struct side *s, const struct sl_shadow_result *r, int prefix,
		    struct outcome *out, struct sl_error *err)
{
	const struct sl_db_driver *d = s->db->driver;
	memset(out, 0, sizeof(*out));
	out->a.prefix = prefix;
	if (side_begin(s, err))
		return -1;
	struct sl_error qerr;
	sl_error_clear(&qerr);
	double t0 = now_ms();
	int rc;
	if (r->normalized) {
		rc = sl_db_prepare_check(s->db, r->sql, &qerr);
	} else if (r->kind == SL_QK_READ) {
		/* the newline ends a trailing -- comment inside the driver's wrapping */
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_printf(&q, "%s\n", r->sql);
		rc = d->stream(s->db, q.s, row_cb, &out->a, &qerr);
		sl_buf_free(&q);
	} else {
		rc = d->exec(s->db, r->sql, &qerr);
	}
	out->ms = now_ms() - t0;
	if (rc) {
		out->failed = 1;
		out->error = sl_strdup(qerr.message[0] ? qerr.message : "failed");
	}
	if (side_end(s, err)) {
		free(out->error);
		out->error = NULL;
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Run r o->runs times on s (once when it only prepares, until the first
 * failure otherwise) and keep the median time into *out. */
static int replay_one(struct side *s, const struct sl_shadow_result *r, int prefix,
		      struct sl_shadow_side *out, struct sl_error *err)
{
	int runs = r->normalized ? 1 : s->o->runs;
	double *ms = sl_calloc((size_t)runs, sizeof(*ms));
	int n = 0, rc = 0;
	for (int k = 0; k < runs; k++) {
		struct outcome o;
		if (run_once(s, r, prefix, &o, err)) {
			rc = -1;
			break;
		}
		out->ran = 1;
		ms[n++] = o.ms;
		if (o.failed) {
			out->failed = 1;
			out->error = o.error;
			out->timed_out = s->o->timeout_ms > 0 && o.ms >= (double)s->o->timeout_ms;
			break;
		}
		if (k == 0) {
			out->rows = r->kind == SL_QK_READ && !r->normalized ? o.a.rows : -1;
			out->ncols = o.a.ncols;
			out->sum = o.a.sum;
			out->prefix_sum = o.a.psum;
		} else if (out->rows >= 0 && (o.a.rows != out->rows || o.a.sum != out->sum)) {
			out->unstable = 1;
		}
	}
	if (n) {
		qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
		out->ms = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
	}
	free(ms);
	return rc;
}

static int replay_side(struct side *s, struct sl_shadow_report *rep, int shadow,
		       struct sl_error *err)
{
	const struct sl_shadow_opts *o = s->o;
	size_t total = 0, done = 0;
	for (size_t i = 0; i < rep->n; i++)
		total += rep->v[i].kind != SL_QK_SKIP;
	const char *phase = shadow ? "shadow" : "current";
	for (size_t i = 0; i < rep->n; i++) {
		struct sl_shadow_result *r = &rep->v[i];
		if (r->kind == SL_QK_SKIP)
			continue;
		/* the shadow's rows are also summed over the current side's
		 * columns: a column added at the end leaves those unchanged */
		int prefix = shadow && r->cur.ncols > 0 ? r->cur.ncols : INT_MAX;
		if (replay_one(s, r, prefix, shadow ? &r->shadow : &r->cur, err))
			return -1;
		done++;
		if (o->progress && (done % 100 == 0 || done == total))
			o->progress(o->progress_arg, phase, done, total);
	}
	return 0;
}

/* ---- verdicts ------------------------------------------------------------ */

static void classify(struct sl_shadow_result *r, const struct sl_shadow_opts *o)
{
	const struct sl_shadow_side *c = &r->cur, *s = &r->shadow;
	struct sl_buf why = SL_BUF_INIT;
	if (r->kind == SL_QK_SKIP) {
		r->status = SL_SH_SKIPPED;
		return; /* its reason was set when it was read */
	}
	if (c->failed && s->failed) {
		r->status = SL_SH_FAILING;
		if (c->timed_out && s->timed_out)
			sl_buf_printf(&why, "times out on both schemas (%ld ms)", o->timeout_ms);
		else if (!strcmp(c->error, s->error))
			sl_buf_printf(&why, "fails on both schemas: %s", c->error);
		else
			sl_buf_printf(&why, "fails on both schemas: current: %s; shadow: %s", c->error, s->error);
	} else if (s->failed && s->timed_out) {
		r->status = SL_SH_SLOWER;
		sl_buf_printf(&why, "timed out after %ld ms on the shadow; %.1f ms on the current schema",
			      o->timeout_ms, c->ms);
	} else if (s->failed) {
		r->status = SL_SH_BROKEN;
		sl_buf_adds(&why, s->error);
	} else if (c->failed) {
		r->status = SL_SH_OK;
		if (c->timed_out)
			sl_buf_printf(&why, "times out on the current schema only; %.1f ms on the shadow", s->ms);
		else
			sl_buf_printf(&why, "fails on the current schema only: %s", c->error);
	} else if (r->normalized) {
		r->status = SL_SH_PREPARED;
		sl_buf_adds(&why, "has $n placeholders: not run; parses and plans on both schemas");
	} else {
		r->status = SL_SH_OK;
		if (r->kind == SL_QK_READ && c->rows >= 0 && s->rows >= 0) {
			if (c->unstable || s->unstable) {
				sl_buf_adds(&why, "rows vary from run to run: results not compared");
			} else if (c->rows != s->rows) {
				r->status = SL_SH_DIFFERS;
				sl_buf_printf(&why, "rows: %lld -> %lld", c->rows, s->rows);
			} else if (c->rows > 0 && c->ncols != s->ncols) {
				r->status = SL_SH_DIFFERS;
				sl_buf_printf(&why, "columns: %d -> %d", c->ncols, s->ncols);
				if (s->ncols > c->ncols && s->prefix_sum == c->sum)
					sl_buf_printf(&why, " (the first %d unchanged)", c->ncols);
			} else if (c->sum != s->sum) {
				r->status = SL_SH_DIFFERS;
				sl_buf_printf(&why, "same %lld rows, different values (checksum)", c->rows);
			}
		}
		if (s->ms > o->slower_factor * c->ms && s->ms >= o->floor_ms) {
			if (r->status == SL_SH_OK)
				r->status = SL_SH_SLOWER;
			sl_buf_printf(&why, "%s%.1f ms -> %.1f ms (%.1fx)", why.len ? "; " : "", c->ms, s->ms,
				      c->ms > 0 ? s->ms / c->ms : 0.0);
		}
	}
	free(r->reason);
	r->reason = why.len ? sl_buf_detach(&why) : NULL;
	sl_buf_free(&why);
}

/* ---- building the shadow ------------------------------------------------- */

/*
 * shadow_url: a database of the same kind, either empty (the
 * environment's applied migrations are replayed on it) or holding sluice's
 * history (a copy of the environment: brought up to its version).  A
 * database with tables and no history is refused, as plan refuses it.
 */
static int open_scratch(struct sl_engine *eng, struct sl_db *scratch, struct sl_engine *e2,
			struct sl_db **shadow, struct sl_error *err)
{
	const struct sl_db_driver *d = eng->db->driver;
	if (strcmp(scratch->driver->name, d->name) != 0)
		return sl_err(err, SL_USAGE, "the shadow database is %s but the environment is %s",
			      scratch->driver->name, d->name);
	int state = 0;
	if (d->has_state(scratch, &state, err))
		return -1;
	if (!state) {
		struct sl_catalog cat;
		memset(&cat, 0, sizeof(cat));
		if (d->catalog(scratch, &cat, err))
			return -1;
		size_t n = cat.n;
		sl_catalog_free(&cat);
		if (n)
			return sl_err(err, SL_ENV,
				      "the shadow database %s has tables but no sluice history: shadow "
				      "replay needs an empty scratch database or a copy of the environment",
				      scratch->url_masked);
	}
	if (d->shadow(scratch, shadow, err))
		return -1;
	e2->db = *shadow;
	if (sl_plan_replay_applied(eng, e2, err))
		return -1;
	return 0;
}

/* The temporary copy of a database file (copy mode) and its directory. */
struct tmpcopy {
	char dir[4096];
	struct sl_buf path;
};

static int copy_open(struct sl_db *db, struct tmpcopy *t, struct sl_db **out, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(t->dir, sizeof(t->dir), "%s/sluice-shadow.XXXXXX", tmp);
	if (!mkdtemp(t->dir)) {
		int e = errno;
		t->dir[0] = '\0';
		return sl_err(err, SL_ENV, "cannot create a directory for the shadow in %s: %s", tmp,
			      strerror(e));
	}
	sl_buf_printf(&t->path, "%s/shadow.db", t->dir);
	if (d->save_point(db, t->path.s, err)) {
		sl_err_prefix(err, "copying the database for the shadow: ");
		return -1;
	}
	struct sl_buf url = SL_BUF_INIT;
	sl_buf_printf(&url, "%s:%s", d->schemes[0], t->path.s);
	int rc = sl_db_open(out, url.s, NULL, err);
	sl_buf_free(&url);
	return rc;
}

static void copy_remove(struct tmpcopy *t)
{
	static const char *const tails[] = { "", "-journal", "-wal", "-shm", ".tmp" };
	if (!t->dir[0])
		return;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		struct sl_buf p = SL_BUF_INIT;
		sl_buf_printf(&p, "%s%s", t->path.s, tails[i]);
		unlink(p.s);
		sl_buf_free(&p);
	}
	rmdir(t->dir);
	t->dir[0] = '\0';
}

/* Apply the pending migrations to the shadow; name them in out->applied. */
static int migrate_shadow(struct sl_engine *e2, struct sl_shadow_report *out, struct sl_error *err)
{
	struct sl_run_result res;
	memset(&res, 0, sizeof(res));
	int rc = sl_migrate(e2, NULL, 0, &res, err);
	if (rc)
		sl_err_prefix(err, "on the shadow: ");
	for (size_t i = 0; !rc && i < res.nsteps; i++) {
		const struct sl_migration *m = res.steps[i].m;
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "%s %s", m->version ? m->version : "R", m->description);
		sl_strvec_push_owned(&out->applied, sl_buf_detach(&b));
	}
	sl_run_result_free(&res);
	return rc;
}

int sl_shadow_replay(struct sl_engine *eng, const struct sl_querylog *log,
		     const struct sl_shadow_opts *o, struct sl_shadow_report *out,
		     struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	double t0 = now_ms();
	struct sl_db *db = eng->db, *shadow = NULL;
	struct sl_engine e2 = *eng;
	e2.on_event = NULL;
	struct tmpcopy tc;
	memset(&tc, 0, sizeof(tc));
	struct side cur, sh;
	int rc = -1, from_shadow = 1;
	collect(log, out);
	if (o->scratch) {
		out->mode = "scratch";
		if (open_scratch(eng, o->scratch, &e2, &shadow, err))
			goto done;
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "one transaction on %s, rolled back", o->scratch->url_masked);
		out->shadow = sl_buf_detach(&b);
		/* both sides on the scratch database: the current schema first */
		if (side_setup(&cur, shadow, 1, o, err) || replay_side(&cur, out, 0, err) ||
		    sl_db_statement_timeout(shadow, 0, err))
			goto done;
	} else {
		if (side_setup(&cur, db, 0, o, err) || replay_side(&cur, out, 0, err) ||
		    sl_db_statement_timeout(db, 0, err))
			goto done;
		struct sl_buf b = SL_BUF_INIT;
		if (db->driver->save_point) {
			out->mode = "copy";
			from_shadow = 0;
			if (copy_open(db, &tc, &shadow, err))
				goto done;
			sl_buf_printf(&b, "a temporary copy of the database (%s)", tc.path.s);
		} else {
			out->mode = "rollback";
			if (db->driver->shadow(db, &shadow, err))
				goto done;
			sl_buf_printf(&b, "one transaction on %s, rolled back", db->url_masked);
		}
		out->shadow = sl_buf_detach(&b);
		e2.db = shadow;
	}
	if (migrate_shadow(&e2, out, err) || side_setup(&sh, shadow, from_shadow, o, err) ||
	    replay_side(&sh, out, 1, err))
		goto done;
	for (size_t i = 0; i < out->n; i++) {
		classify(&out->v[i], o);
		out->summary[out->v[i].status]++;
	}
	rc = 0;
done:
	sl_db_close(shadow);
	copy_remove(&tc);
	sl_buf_free(&tc.path);
	out->wall_ms = (long)(now_ms() - t0);
	if (rc)
		sl_shadow_report_free(out);
	return rc;
}
