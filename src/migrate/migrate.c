/*
 * migrate.c - the migration engine (see migrate.h).
 */
#include "migrate.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *sl_mstate_name(enum sl_mstate s)
{
	switch (s) {
	case SL_ST_APPLIED: return "applied";
	case SL_ST_PENDING: return "pending";
	case SL_ST_FAILED: return "failed";
	case SL_ST_MISSING: return "missing";
	case SL_ST_BELOW_BASELINE: return "below_baseline";
	case SL_ST_SKIPPED: return "skipped";
	}
	return "?";
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(struct sl_engine *eng, enum sl_event_type t,
		 const struct sl_migration *m, int up, long ms, const char *text)
{
	if (!eng->on_event)
		return;
	struct sl_event ev = { t, m, up, ms, text };
	eng->on_event(eng->event_arg, &ev);
}

int sl_engine_open(const struct sl_config *cfg, const char *env_name,
		   const char *url_override, long lock_timeout_ms, struct sl_db **db,
		   struct sl_engine *eng, char **env_selected, char **url_masked,
		   struct sl_error *err)
{
	*db = NULL;
	*env_selected = *url_masked = NULL;
	struct sl_buf url = SL_BUF_INIT;
	const char *base = cfg->dir;
	if (url_override) {
		sl_buf_adds(&url, url_override);
		base = ".";
		*env_selected = sl_strdup(env_name ? env_name : "url");
	} else {
		const struct sl_env *env = sl_config_env(cfg, env_name, err);
		if (!env || sl_config_env_url(cfg, env, &url, err)) {
			sl_buf_free(&url);
			return -1;
		}
		*env_selected = sl_strdup(env->name);
	}
	struct sl_buf m = SL_BUF_INIT;
	sl_mask_url(url.s, &m);
	*url_masked = sl_buf_detach(&m);
	int rc = sl_db_open(db, url.s, base, err);
	sl_buf_free(&url);
	if (rc) {
		if (err && !err->file[0] && !url_override)
			sl_err_prefix(err, "environment '%s': ", *env_selected);
		return -1;
	}
	memset(eng, 0, sizeof(*eng));
	eng->db = *db;
	eng->migrations_dir = cfg->migrations_dir;
	eng->out_of_order = cfg->out_of_order;
	eng->group = cfg->group;
	eng->lock_timeout_ms = lock_timeout_ms >= 0 ? lock_timeout_ms : cfg->lock_timeout_ms;
	return 0;
}

/* ---- status ------------------------------------------------------------- */

static struct sl_entry *add_entry(struct sl_status *st)
{
	st->e = sl_realloc(st->e, (st->n + 1) * sizeof(*st->e));
	struct sl_entry *e = &st->e[st->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static struct sl_problem *add_problem(struct sl_status *st, const char *kind,
				      const char *version, const char *script)
{
	st->p = sl_realloc(st->p, (st->np + 1) * sizeof(*st->p));
	struct sl_problem *p = &st->p[st->np++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->version = version;
	p->script = script;
	return p;
}

static int is_kind(const struct sl_hist_row *r, const char *k)
{
	return strcmp(r->kind, k) == 0;
}

/*
 * Replay the history to find, for version v, the row that decides its
 * state: the last versioned/undo/deleted row for it.
 */
static const struct sl_hist_row *last_row_for(const struct sl_history *h, const char *v)
{
	const struct sl_hist_row *last = NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct sl_hist_row *r = &h->v[i];
		if (!r->version || !(is_kind(r, "versioned") || is_kind(r, "undo") ||
				     is_kind(r, "deleted")))
			continue;
		if (sl_version_cmp(r->version, v) == 0)
			last = r;
	}
	return last;
}

static int row_applied(const struct sl_hist_row *r)
{
	return r && is_kind(r, "versioned") && r->success;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct sl_entry *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind == SL_VERSIONED ? -1 : 1;
	if (x->kind == SL_VERSIONED)
		return sl_version_cmp(x->version, y->version);
	return strcmp(x->description, y->description);
}

static int compute(struct sl_engine *eng, struct sl_status *st, struct sl_error *err)
{
	const struct sl_history *h = &st->hist;
	/* baseline and newest applied */
	for (size_t i = 0; i < h->n; i++)
		if (is_kind(&h->v[i], "baseline") && h->v[i].success)
			st->baseline = h->v[i].version;
	const char *newest = NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct sl_hist_row *r = &h->v[i];
		if (!is_kind(r, "versioned") || !r->success)
			continue;
		if (row_applied(last_row_for(h, r->version)) &&
		    (!newest || sl_version_cmp(r->version, newest) > 0))
			newest = r->version;
	}
	st->current = newest ? newest : st->baseline;

	for (size_t i = 0; i < st->set.n; i++) {
		const struct sl_migration *m = &st->set.v[i];
		struct sl_entry *e = add_entry(st);
		e->m = m;
		e->kind = m->kind;
		e->version = m->version;
		e->description = m->description;
		e->script = m->up_script;
		if (m->skipped) {
			e->state = SL_ST_SKIPPED;
			continue;
		}
		if (sl_sha256_file(m->up_path, e->checksum, err))
			return -1;
		if (m->kind == SL_REPEATABLE) {
			const struct sl_hist_row *last = NULL;
			for (size_t k = 0; k < h->n; k++)
				if (is_kind(&h->v[k], "repeatable") && h->v[k].success &&
				    strcmp(h->v[k].description, m->description) == 0)
					last = &h->v[k];
			e->row = last;
			e->state = last && last->checksum && strcmp(last->checksum, e->checksum) == 0
					   ? SL_ST_APPLIED : SL_ST_PENDING;
			continue;
		}
		const struct sl_hist_row *r = last_row_for(h, m->version);
		e->row = r;
		if (row_applied(r)) {
			e->state = SL_ST_APPLIED;
			if (r->checksum && strcmp(r->checksum, e->checksum) != 0) {
				e->checksum_mismatch = 1;
				struct sl_problem *p = add_problem(st, "checksum_mismatch",
								   m->version, m->up_script);
				snprintf(p->message, sizeof(p->message),
					 "%s was changed after it was applied (checksum %.12s recorded, %.12s on disk)",
					 m->up_script, r->checksum, e->checksum);
			}
		} else if (r && is_kind(r, "versioned") && !r->success) {
			e->state = SL_ST_FAILED;
			struct sl_problem *p = add_problem(st, "failed", m->version, m->up_script);
			snprintf(p->message, sizeof(p->message),
				 "%s failed part-way outside a transaction on %s; fix the database by hand, then run 'sluice repair'",
				 m->up_script, r->installed_at);
		} else if (st->baseline && sl_version_cmp(m->version, st->baseline) <= 0) {
			e->state = SL_ST_BELOW_BASELINE;
		} else {
			e->state = SL_ST_PENDING;
			if (newest && sl_version_cmp(m->version, newest) < 0) {
				e->out_of_order = 1;
				struct sl_problem *p = add_problem(st, "out_of_order",
								   m->version, m->up_script);
				snprintf(p->message, sizeof(p->message),
					 "%s is pending but older than the applied version %s",
					 m->up_script, newest);
			}
		}
	}
	/* Applied versions whose file is gone. */
	for (size_t i = 0; i < h->n; i++) {
		const struct sl_hist_row *r = &h->v[i];
		if (!is_kind(r, "versioned") || !r->version || last_row_for(h, r->version) != r ||
		    !r->success)
			continue;
		int found = 0;
		for (size_t k = 0; k < st->set.n && !found; k++)
			if (st->set.v[k].kind == SL_VERSIONED && !st->set.v[k].skipped &&
			    sl_version_cmp(st->set.v[k].version, r->version) == 0)
				found = 1;
		if (found)
			continue;
		struct sl_entry *e = add_entry(st);
		e->state = SL_ST_MISSING;
		e->kind = SL_VERSIONED;
		e->row = r;
		e->version = r->version;
		e->description = r->description;
		e->script = r->script;
		struct sl_problem *p = add_problem(st, "missing_file", r->version, r->script);
		snprintf(p->message, sizeof(p->message),
			 "version %s (%s) is applied but its file is gone", r->version, r->script);
	}
	(void)eng;
	if (st->n)
		qsort(st->e, st->n, sizeof(*st->e), cmp_entry);
	return 0;
}

int sl_status_compute(struct sl_engine *eng, struct sl_status *st, struct sl_error *err)
{
	memset(st, 0, sizeof(*st));
	if (sl_history_read(eng->db, &st->hist, err))
		return -1;
	if (sl_migrations_load(&st->set, eng->migrations_dir, eng->db->driver->name, err) ||
	    compute(eng, st, err)) {
		sl_status_free(st);
		return -1;
	}
	return 0;
}

void sl_status_free(struct sl_status *st)
{
	sl_history_free(&st->hist);
	sl_migrations_free(&st->set);
	free(st->e);
	free(st->p);
	memset(st, 0, sizeof(*st));
}

size_t sl_status_blocking(const struct sl_engine *eng, const struct sl_status *st)
{
	size_t n = 0;
	for (size_t i = 0; i < st->np; i++)
		if (!(eng->out_of_order && strcmp(st->p[i].kind, "out_of_order") == 0))
			n++;
	return n;
}

/* ---- running scripts ---------------------------------------------------- */

/* Map an error inside statement s of script path to file:line. */
static void locate(struct sl_error *err, const char *path, const char *sql,
		   const struct sl_stmt *s, int first_line)
{
	if (!err)
		return;
	int line = first_line - 1 + s->line;
	if (err->column > 0) {
		/* PostgreSQL's position counts characters into the statement. */
		int c = 1;
		for (size_t i = 0; i < s->len && c < err->column; i++) {
			unsigned char ch = (unsigned char)sql[s->off + i];
			if ((ch & 0xC0) != 0x80)
				c++;
			if (ch == '\n')
				line++;
		}
		err->column = 0;
	}
	snprintf(err->file, sizeof(err->file), "%s", path);
	err->line = line;
}

struct script {
	struct sl_buf sql;
	struct sl_stmt_list stmts;
	char checksum[65];
	int first_line;
	int no_tx;                 /* run outside a transaction */
	const char *no_tx_what;
	int no_tx_line;
	size_t tx_control;         /* BEGIN/COMMIT in the file */
};

static void script_free(struct script *s)
{
	sl_buf_free(&s->sql);
	sl_stmt_list_free(&s->stmts);
}

static int script_load(struct sl_engine *eng, const struct sl_migration *m, int up,
		       const struct sl_buf *gen, struct script *s, struct sl_error *err)
{
	memset(s, 0, sizeof(*s));
	sl_buf_init(&s->sql);
	const char *path = up ? m->up_path : m->down_path;
	if (!up && !m->down_path && gen) {
		/* no down script: the inverse deploy generated */
		path = "(inverse generated by sluice)";
		sl_buf_add(&s->sql, gen->s, gen->len);
		sl_sha256_hex(gen->s, gen->len, s->checksum);
		s->first_line = 1;
	} else if (sl_migration_read(m, up, &s->sql, s->checksum, &s->first_line, &s->no_tx, err)) {
		return -1;
	}
	if (s->no_tx)
		s->no_tx_what = "transaction:false";
	if (eng->db->driver->split(s->sql.s, s->sql.len, &s->stmts, err)) {
		if (err) {
			snprintf(err->file, sizeof(err->file), "%s", path);
			err->line += s->first_line - 1;
		}
		return -1;
	}
	long server = eng->db->driver->server_version(eng->db);
	for (size_t i = 0; i < s->stmts.n; i++) {
		const struct sl_stmt *st = &s->stmts.v[i];
		if (st->tx_control)
			s->tx_control++;
		if ((st->no_tx == 1 || (st->no_tx == 2 && server < 120000)) && !s->no_tx) {
			s->no_tx = 1;
			s->no_tx_what = st->no_tx_what;
			s->no_tx_line = s->first_line - 1 + st->line;
		}
	}
	return 0;
}

/*
 * Group commit (`--group`, `group: true`; off by default, as Flyway's
 * `group`).  One run's migrations share one transaction, each inside its
 * own savepoint with its history row, so each stays atomic: a failing one
 * is rolled back to its savepoint and the ones before it are committed.
 * A crash rolls back the whole run, which records nothing either, so the
 * next run starts over cleanly.  It saves a durable commit per migration
 * (on SQLite about four fsyncs each, most of the cost of small
 * migrations).  The price: on PostgreSQL the locks of every migration are
 * held until the end of the run, and a crash loses the whole run's work.
 */
struct batch {
	int enabled;
	int open;        /* the outer transaction is open */
	int lost;        /* the database rolled it back on its own */
};

static int batch_commit(struct sl_engine *eng, struct batch *b, struct sl_error *err)
{
	if (!b || !b->open)
		return 0;
	b->open = 0;
	return eng->db->driver->commit(eng->db, err);
}

/*
 * Run one script (forward or undo) and record it.  In a transaction unless
 * the script needs otherwise; history row in the same transaction.
 */
static int run_one(struct sl_engine *eng, const struct sl_migration *m, int up,
		   struct batch *b, struct sl_step_result *out, struct sl_error *err)
{
	struct sl_db *db = eng->db;
	const struct sl_db_driver *d = db->driver;
	struct script s;
	const char *path = up ? m->up_path : m->down_path;
	struct sl_buf gen = SL_BUF_INIT, after = SL_BUF_INIT;
	int undo_hook = !up && eng->undo_sql;
	memset(out, 0, sizeof(*out));
	out->m = m;
	out->up = up;
	memset(&s, 0, sizeof(s));
	if (undo_hook && eng->undo_sql(eng->hook_arg, m, &gen, &after, err)) {
		sl_buf_free(&gen);
		sl_buf_free(&after);
		return -1;
	}
	if (!path)
		path = "(inverse generated by sluice)";
	if (script_load(eng, m, up, gen.len || undo_hook ? &gen : NULL, &s, err)) {
		script_free(&s);
		return -1;
	}
	out->statements = s.stmts.n;
	if (s.no_tx)
		snprintf(out->note, sizeof(out->note), "ran outside a transaction: %s%s%d",
			 s.no_tx_what, s.no_tx_line ? " at line " : "", s.no_tx_line);
	else if (s.tx_control)
		snprintf(out->note, sizeof(out->note),
			 "skipped %zu BEGIN/COMMIT statement(s): sluice runs each migration in one transaction",
			 s.tx_control);
	if (out->note[0])
		emit(eng, SL_EV_NOTE, m, up, 0, out->note);
	emit(eng, SL_EV_START, m, up, 0, NULL);

	long t0 = mono_ms();
	int in_tx = !s.no_tx;
	int savepoint = in_tx && b && b->enabled;
	if (!in_tx && batch_commit(eng, b, err)) {
		b->lost = 1;
		goto fail;
	}
	if (savepoint) {
		if (!b->open) {
			if (d->begin(db, err))
				goto fail;
			b->open = 1;
		}
		if (d->exec(db, "SAVEPOINT sluice_migration", err))
			goto fail;
	} else if (in_tx && d->begin(db, err)) {
		goto fail;
	}
	struct sl_buf one = SL_BUF_INIT;
	for (size_t i = 0; i < s.stmts.n; i++) {
		const struct sl_stmt *st = &s.stmts.v[i];
		if (in_tx && st->tx_control)
			continue;
		sl_buf_reset(&one);
		sl_buf_add(&one, s.sql.s + st->off, st->len);
		int done = 0;
		if (up && eng->before_stmt && eng->before_stmt(eng->hook_arg, m, one.s, &done, err)) {
			locate(err, path, s.sql.s, st, s.first_line);
			sl_buf_free(&one);
			goto fail;
		}
		if (!done && d->exec(db, one.s, err)) {
			locate(err, path, s.sql.s, st, s.first_line);
			sl_buf_free(&one);
			goto fail;
		}
	}
	sl_buf_free(&one);
	if (after.len && d->exec(db, after.s, err)) {
		sl_err_prefix(err, "restoring archived data of %s: ", m->version ? m->version : m->description);
		goto fail;
	}
	out->ms = mono_ms() - t0;

	struct sl_hist_row row;
	memset(&row, 0, sizeof(row));
	row.version = m->version;
	row.description = m->description;
	row.kind = up ? (m->kind == SL_REPEATABLE ? "repeatable" : "versioned") : "undo";
	row.script = up ? m->up_script : m->down_script ? m->down_script : "(inverse generated by sluice)";
	row.checksum = s.checksum;
	row.execution_ms = out->ms;
	row.success = 1;
	if (up && m->layout == SL_DBMATE)
		row.checksum = s.checksum;
	if (sl_history_insert(db, &row, err))
		goto fail;
	if (savepoint ? d->exec(db, "RELEASE sluice_migration", err) : in_tx && d->commit(db, err))
		goto fail;
	script_free(&s);
	sl_buf_free(&gen);
	sl_buf_free(&after);
	emit(eng, SL_EV_DONE, m, up, out->ms, NULL);
	return 0;
fail:
	if (savepoint && b->open) {
		/* keep the migrations before this one; if the database already
		 * rolled everything back (disk full, I/O error), they are gone */
		if (d->exec(db, "ROLLBACK TO sluice_migration", NULL) ||
		    d->exec(db, "RELEASE sluice_migration", NULL)) {
			d->rollback(db, NULL);
			b->open = 0;
			b->lost = 1;
		}
	} else if (in_tx) {
		d->rollback(db, NULL);
	} else if (up && m->kind == SL_VERSIONED) {
		/* Part of it may have run: record the failure so that nobody
		 * applies it again on top of a half-done change. */
		struct sl_hist_row frow;
		memset(&frow, 0, sizeof(frow));
		frow.version = m->version;
		frow.description = m->description;
		frow.kind = "versioned";
		frow.script = m->up_script;
		frow.checksum = s.checksum;
		frow.execution_ms = mono_ms() - t0;
		frow.success = 0;
		sl_history_insert(db, &frow, NULL);
	}
	script_free(&s);
	sl_buf_free(&gen);
	sl_buf_free(&after);
	return -1;
}

/* ---- locking ------------------------------------------------------------ */

/*
 * An expand/contract in progress (src/deploy/expand.c) owns the schema of
 * its version until `complete` or `abort`: migrating or undoing beside it
 * would apply the same change a second time, the plain way.
 */
int sl_refuse_expansion(struct sl_db *db, struct sl_error *err)
{
	if (strcmp(db->driver->name, "postgres"))
		return 0;
	struct sl_strvec v[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
	int rc = sl_db_query_strs(db, "SELECT (to_regclass('sluice.expansions') IS NOT NULL)::text", NULL, 0,
				  v, 1, err);
	int exists = !rc && v[0].n && !strcmp(v[0].v[0], "true");
	sl_strvec_free(&v[0]);
	if (exists)
		rc = sl_db_query_strs(db, "SELECT version, phase FROM sluice.expansions", NULL, 0, v, 2, err);
	if (!rc && v[0].n) {
		rc = sl_err(err, SL_FAILED, "the expand/contract of version %s is in progress (phase %s)",
			    v[0].v[0], v[1].v[0]);
		sl_err_hint(err, "'sluice complete' finishes it, 'sluice abort' undoes it");
	}
	sl_strvec_free(&v[0]);
	sl_strvec_free(&v[1]);
	return rc;
}

static int take_lock(struct sl_engine *eng, struct sl_error *err)
{
	if (eng->lock_held)
		return eng->db->driver->ensure_state(eng->db, err) || sl_refuse_expansion(eng->db, err) ? -1 : 0;
	char host[128], owner[256];
	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(owner, sizeof(owner), "%s@%s pid %ld", sl_actor(), host, (long)getpid());
	long timeout = eng->lock_timeout_ms >= 0 ? eng->lock_timeout_ms : 60000;
	if (eng->db->driver->lock(eng->db, owner, timeout, err))
		return -1;
	if (eng->db->driver->ensure_state(eng->db, err) || sl_refuse_expansion(eng->db, err)) {
		eng->db->driver->unlock(eng->db, NULL);
		return -1;
	}
	return 0;
}

static void release_lock(struct sl_engine *eng)
{
	if (eng->lock_held)
		return;
	eng->db->driver->unlock(eng->db, NULL);
}

/* ---- migrate ------------------------------------------------------------ */

static void push_step(struct sl_run_result *res, const struct sl_step_result *s)
{
	res->steps = sl_realloc(res->steps, (res->nsteps + 1) * sizeof(*res->steps));
	res->steps[res->nsteps++] = *s;
}

/*
 * Run the planned steps in order, stopping at the first failure; the
 * batch's outer transaction (if any) is committed at the end, failure or
 * not, so what ran before a failure stays applied.  res->nsteps counts what
 * is applied for good.
 */
static int run_all(struct sl_engine *eng, struct sl_run_result *res, size_t planned, int up,
		   struct batch *b, struct sl_error *err)
{
	size_t committed = 0;   /* steps durable before the current batch */
	int rc = 0;
	for (size_t i = 0; i < planned; i++) {
		struct sl_step_result done;
		if (run_one(eng, res->steps[i].m, up, b, &done, err)) {
			if (!b->open && !b->lost)
				committed = res->nsteps;   /* the batch before it was committed */
			rc = -1;
			break;
		}
		if (!b->open)
			committed = res->nsteps + 1;   /* durable: no batch is pending */
		res->steps[res->nsteps++] = done;
	}
	if (b->lost) {
		res->nsteps = committed;
	} else if (b->open) {
		struct sl_error cerr;
		if (batch_commit(eng, b, rc ? &cerr : err)) {
			if (!rc)
				rc = -1;
			else
				*err = cerr;
			res->nsteps = committed;
		}
	}
	return rc;
}

void sl_run_result_free(struct sl_run_result *res)
{
	sl_status_free(&res->status);
	free(res->steps);
	free(res->current);
	memset(res, 0, sizeof(*res));
}

static int refuse_problems(struct sl_engine *eng, struct sl_status *st, struct sl_error *err)
{
	for (size_t i = 0; i < st->np; i++) {
		struct sl_problem *p = &st->p[i];
		if (eng->out_of_order && strcmp(p->kind, "out_of_order") == 0)
			continue;
		sl_err(err, SL_FAILED, "%s", p->message);
		if (strcmp(p->kind, "checksum_mismatch") == 0)
			sl_err_hint(err, "restore the applied file, or run 'sluice repair' to accept the change");
		else if (strcmp(p->kind, "missing_file") == 0)
			sl_err_hint(err, "restore the file, or run 'sluice repair' to mark it deleted");
		else if (strcmp(p->kind, "out_of_order") == 0)
			sl_err_hint(err, "renumber it above %s, or set out_of_order: true", st->current);
		else
			sl_err_hint(err, "then run 'sluice repair'");
		return -1;
	}
	return 0;
}

int sl_migrate(struct sl_engine *eng, const char *to, int dry_run,
	       struct sl_run_result *res, struct sl_error *err)
{
	memset(res, 0, sizeof(*res));
	int locked = 0, rc = -1;
	if (to && !sl_version_valid(to))
		return sl_err(err, SL_USAGE, "invalid target version '%s'", to);
	if (!dry_run) {
		if (take_lock(eng, err))
			return -1;
		locked = 1;
	}
	if (sl_status_compute(eng, &res->status, err))
		goto out;
	struct sl_status *st = &res->status;
	if (refuse_problems(eng, st, err))
		goto out;
	if (to) {
		int known = 0;
		for (size_t i = 0; i < st->n; i++)
			if (st->e[i].version && sl_version_cmp(st->e[i].version, to) == 0)
				known = 1;
		if (!known && !(st->current && sl_version_cmp(to, st->current) <= 0)) {
			sl_err(err, SL_USAGE, "no migration has version %s", to);
			goto out;
		}
	}
	/* Parse every script we are about to run before running any, so a
	 * syntax error in the third file does not leave the first two applied. */
	int all_versioned = 1;
	for (size_t i = 0; i < st->n; i++) {
		struct sl_entry *e = &st->e[i];
		if (e->state != SL_ST_PENDING)
			continue;
		if (e->kind == SL_VERSIONED && to && sl_version_cmp(e->version, to) > 0) {
			all_versioned = 0;
			continue;
		}
		if (e->kind == SL_REPEATABLE && !all_versioned)
			continue;
		struct script s;
		int bad = script_load(eng, e->m, 1, NULL, &s, err);
		struct sl_step_result step;
		memset(&step, 0, sizeof(step));
		step.m = e->m;
		step.up = 1;
		step.statements = s.stmts.n;
		if (!bad && s.no_tx)
			snprintf(step.note, sizeof(step.note), "runs outside a transaction: %s%s%d",
				 s.no_tx_what, s.no_tx_line ? " at line " : "", s.no_tx_line);
		script_free(&s);
		if (bad)
			goto out;
		push_step(res, &step);
	}
	if (dry_run) {
		rc = 0;
		goto out;
	}
	size_t planned = res->nsteps;
	res->nsteps = 0;
	struct batch b = { eng->group, 0, 0 };
	if (run_all(eng, res, planned, 1, &b, err))
		goto out;
	rc = 0;
out:
	/* the version now current */
	{
		const char *cur = res->status.current;
		for (size_t i = 0; !dry_run && i < res->nsteps; i++)
			if (res->steps[i].m->version &&
			    (!cur || sl_version_cmp(res->steps[i].m->version, cur) > 0))
				cur = res->steps[i].m->version;
		res->current = cur ? sl_strdup(cur) : NULL;
	}
	if (locked)
		release_lock(eng);
	return rc;
}

int sl_validate(struct sl_engine *eng, struct sl_status *st, struct sl_error *err)
{
	if (sl_status_compute(eng, st, err))
		return -1;
	for (size_t i = 0; i < st->n; i++) {
		struct sl_entry *e = &st->e[i];
		if (e->state != SL_ST_PENDING)
			continue;
		struct script s;
		int bad = script_load(eng, e->m, 1, NULL, &s, err);
		script_free(&s);
		if (bad) {
			sl_status_free(st);
			return -1;
		}
	}
	return 0;
}

/* ---- undo --------------------------------------------------------------- */

int sl_undo(struct sl_engine *eng, const char *to, int dry_run,
	    struct sl_run_result *res, struct sl_error *err)
{
	memset(res, 0, sizeof(*res));
	int locked = 0, rc = -1;
	if (to && !sl_version_valid(to))
		return sl_err(err, SL_USAGE, "invalid target version '%s' (0 undoes everything)", to);
	if (!dry_run) {
		if (take_lock(eng, err))
			return -1;
		locked = 1;
	}
	if (sl_status_compute(eng, &res->status, err))
		goto out;
	struct sl_status *st = &res->status;
	/* What to undo, newest first. */
	struct sl_buf missing = SL_BUF_INIT;
	for (size_t i = st->n; i-- > 0;) {
		struct sl_entry *e = &st->e[i];
		if (e->kind != SL_VERSIONED || (e->state != SL_ST_APPLIED && e->state != SL_ST_MISSING))
			continue;
		if (to && sl_version_cmp(e->version, to) <= 0)
			break;
		if (!e->m || (!e->m->down_path && !eng->undo_sql)) {
			sl_buf_printf(&missing, "%s%s", missing.len ? ", " : "", e->version);
		} else if (e->m->layout == SL_DBMATE) {
			struct sl_buf sql = SL_BUF_INIT;
			char sum[65];
			int fl, ntx;
			struct sl_error e2;
			if (sl_migration_read(e->m, 0, &sql, sum, &fl, &ntx, &e2))
				sl_buf_printf(&missing, "%s%s", missing.len ? ", " : "", e->version);
			sl_buf_free(&sql);
		}
		struct sl_step_result step;
		memset(&step, 0, sizeof(step));
		step.m = e->m;
		step.up = 0;
		push_step(res, &step);
		if (!to)
			break; /* default: the newest one only */
	}
	if (missing.len) {
		sl_err(err, SL_FAILED, "no undo script for version%s %s; nothing was undone",
		       strchr(missing.s, ',') ? "s" : "", missing.s);
		sl_err_hint(err, "add U<ver>__<desc>.sql, <ver>_<name>.down.sql, down.sql or a '-- migrate:down' section");
		sl_buf_free(&missing);
		res->nsteps = 0;
		goto out;
	}
	sl_buf_free(&missing);
	/* Parse all undo scripts first, as for migrate. */
	for (size_t i = 0; i < res->nsteps; i++) {
		struct script s;
		if (!res->steps[i].m->down_path)
			continue;   /* undo_sql generates its inverse when it runs */
		int bad = script_load(eng, res->steps[i].m, 0, NULL, &s, err);
		res->steps[i].statements = s.stmts.n;
		script_free(&s);
		if (bad) {
			res->nsteps = 0;
			goto out;
		}
	}
	if (dry_run) {
		rc = 0;
		goto out;
	}
	size_t planned = res->nsteps;
	res->nsteps = 0;
	struct batch b = { eng->group, 0, 0 };
	if (run_all(eng, res, planned, 0, &b, err))
		goto out;
	rc = 0;
out:
	{
		/* current after the run: newest applied not undone */
		const char *cur = NULL;
		for (size_t i = 0; i < res->status.n; i++) {
			struct sl_entry *e = &res->status.e[i];
			if (e->kind != SL_VERSIONED || (e->state != SL_ST_APPLIED && e->state != SL_ST_MISSING))
				continue;
			int undone = 0;
			for (size_t k = 0; !dry_run && k < res->nsteps; k++)
				if (res->steps[k].m == e->m && e->m)
					undone = 1;
			if (!undone && (!cur || sl_version_cmp(e->version, cur) > 0))
				cur = e->version;
		}
		if (!cur)
			cur = res->status.baseline;
		res->current = cur ? sl_strdup(cur) : NULL;
	}
	if (locked)
		release_lock(eng);
	return rc;
}

/* ---- baseline and repair ------------------------------------------------ */

int sl_baseline(struct sl_engine *eng, const char *version, const char *description,
		struct sl_error *err)
{
	if (!sl_version_valid(version))
		return sl_err(err, SL_USAGE, "invalid baseline version '%s'", version);
	if (take_lock(eng, err))
		return -1;
	struct sl_history h;
	int rc = -1;
	if (sl_history_read(eng->db, &h, err))
		goto out;
	for (size_t i = 0; i < h.n; i++) {
		if ((is_kind(&h.v[i], "versioned") && h.v[i].success) || is_kind(&h.v[i], "baseline")) {
			sl_err(err, SL_FAILED, "the database already has a migration history (%s %s); baseline is for a database without one",
			       h.v[i].kind, h.v[i].version ? h.v[i].version : "");
			sl_history_free(&h);
			goto out;
		}
	}
	sl_history_free(&h);
	struct sl_hist_row row;
	memset(&row, 0, sizeof(row));
	row.version = (char *)version;
	row.description = (char *)(description ? description : "<< baseline >>");
	row.kind = "baseline";
	row.script = "<< baseline >>";
	row.success = 1;
	rc = sl_history_insert(eng->db, &row, err);
out:
	release_lock(eng);
	return rc;
}

void sl_repair_result_free(struct sl_repair_result *res)
{
	sl_strvec_free(&res->realigned);
	sl_strvec_free(&res->deleted);
}

int sl_repair(struct sl_engine *eng, struct sl_repair_result *res, struct sl_error *err)
{
	memset(res, 0, sizeof(*res));
	const struct sl_db_driver *d = eng->db->driver;
	if (take_lock(eng, err))
		return -1;
	struct sl_status st;
	int rc = -1;
	if (sl_status_compute(eng, &st, err))
		goto out;
	if (d->begin(eng->db, err))
		goto out_st;
	if (sl_history_delete_failed(eng->db, &res->failed_removed, err))
		goto fail;
	for (size_t i = 0; i < st.n; i++) {
		struct sl_entry *e = &st.e[i];
		if (e->checksum_mismatch && e->row) {
			if (sl_history_set_checksum(eng->db, e->row->rank, e->checksum, err))
				goto fail;
			sl_strvec_push(&res->realigned, e->version);
		} else if (e->state == SL_ST_MISSING) {
			struct sl_hist_row row;
			memset(&row, 0, sizeof(row));
			row.version = (char *)e->version;
			row.description = (char *)e->description;
			row.kind = "deleted";
			row.script = (char *)e->script;
			row.success = 1;
			if (sl_history_insert(eng->db, &row, err))
				goto fail;
			sl_strvec_push(&res->deleted, e->version);
		}
	}
	struct sl_buf desc = SL_BUF_INIT;
	sl_buf_printf(&desc, "removed %ld failed row(s); realigned %zu checksum(s); marked %zu missing file(s) deleted",
		      res->failed_removed, res->realigned.n, res->deleted.n);
	struct sl_hist_row row;
	memset(&row, 0, sizeof(row));
	row.description = desc.s;
	row.kind = "repair";
	row.script = "<< repair >>";
	row.success = 1;
	int bad = sl_history_insert(eng->db, &row, err);
	sl_buf_free(&desc);
	if (bad)
		goto fail;
	if (d->commit(eng->db, err))
		goto fail;
	rc = 0;
	goto out_st;
fail:
	d->rollback(eng->db, NULL);
out_st:
	sl_status_free(&st);
out:
	release_lock(eng);
	return rc;
}
