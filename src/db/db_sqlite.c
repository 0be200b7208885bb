/*
 * db_sqlite.c - the SQLite driver (libsqlite3).
 *
 * SQLite is sluice's embedded default: a file, no server.  State tables are
 * prefixed sluice_ in the main schema.  Writers are serialised by SQLite
 * itself; the migration lock is a row in sluice_lock taken under BEGIN
 * IMMEDIATE, so the check-and-insert is atomic across processes, and a row
 * left by a process that died (same host, pid gone) is taken over.
 */
#include "db.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../core/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct sqlite_db {
	struct sl_db base;
	sqlite3 *h;
	char host[256];
	long pid;
};

static const char *const sqlite_schemes[] = { "sqlite", "sqlite3", "file", NULL };

static int db_err(struct sqlite_db *d, struct sl_error *err, const char *what)
{
	const char *msg = sqlite3_errmsg(d->h);
	int code = SL_ENV;
	if (strstr(msg, "syntax error") || strstr(msg, "incomplete input") ||
	    strstr(msg, "unrecognized token"))
		code = SL_USAGE;
	return sl_err(err, code, "%s%s%s", what ? what : "", what ? ": " : "", msg);
}

static void sqlite_close(struct sl_db *db)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	if (!d)
		return;
	sqlite3_close(d->h);
	free(d->base.url_masked);
	free(d);
}

/* sqlite:PATH, sqlite://PATH, sqlite:///ABS, file:PATH; relative to base_dir. */
static int sqlite_open(struct sl_db **out, const char *url, const char *base_dir,
		       struct sl_error *err)
{
	*out = NULL;
	const char *path = strchr(url, ':') + 1;
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (!*path)
		return sl_err(err, SL_USAGE, "the SQLite URL '%s' names no file", url);
	char *full = strcmp(path, ":memory:") == 0 ? sl_strdup(path)
						   : sl_path_resolve(base_dir, path);
	struct sqlite_db *d = sl_calloc(1, sizeof(*d));
	d->base.driver = &sl_sqlite_driver;
	d->base.url_masked = sl_strdup(url);
	d->pid = (long)getpid();
	if (gethostname(d->host, sizeof(d->host) - 1))
		snprintf(d->host, sizeof(d->host), "localhost");
	int rc = sqlite3_open_v2(full, &d->h,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sl_err(err, SL_ENV, "cannot open SQLite database '%s': %s", full,
		       d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
		free(full);
		sqlite_close(&d->base);
		return -1;
	}
	free(full);
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_busy_timeout(d->h, 60000);
	*out = &d->base;
	return 0;
}

static int sqlite_exec(struct sl_db *db, const char *sql, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	if (sqlite3_exec(d->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(d, err, NULL);
	return 0;
}

static int sqlite_query(struct sl_db *db, const char *sql, const char *const *params,
			int nparams, sl_row_fn cb, void *arg, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(d->h, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(d, err, NULL);
	for (int i = 0; i < nparams; i++) {
		int rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT)
				   : sqlite3_bind_null(st, i + 1);
		if (rc != SQLITE_OK) {
			db_err(d, err, NULL);
			sqlite3_finalize(st);
			return -1;
		}
	}
	int ncols = sqlite3_column_count(st);
	const char **vals = sl_calloc((size_t)(ncols ? ncols : 1), sizeof(*vals));
	int rc, ret = 0, stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		if (cb && cb(arg, ncols, vals))
			stop = 1;
	}
	if (!stop && rc != SQLITE_DONE)
		ret = db_err(d, err, NULL);
	free(vals);
	sqlite3_finalize(st);
	return ret;
}

static int sqlite_begin(struct sl_db *db, struct sl_error *err)
{
	return sqlite_exec(db, "BEGIN IMMEDIATE", err);
}

static int sqlite_commit(struct sl_db *db, struct sl_error *err)
{
	return sqlite_exec(db, "COMMIT", err);
}

static int sqlite_rollback(struct sl_db *db, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	if (sqlite3_get_autocommit(d->h))
		return 0; /* an error already rolled it back */
	return sqlite_exec(db, "ROLLBACK", err);
}

static void sqlite_quote_ident(struct sl_buf *out, const char *ident)
{
	sl_quote_ident_std(out, ident);
}

static void sqlite_state_table(struct sl_buf *out, const char *name)
{
	struct sl_buf n = SL_BUF_INIT;
	sl_buf_printf(&n, "sluice_%s", name);
	sqlite_quote_ident(out, n.s);
	sl_buf_free(&n);
}

/* Skip white space and comments; returns the offset of the first token. */
static size_t skip_space(const char *s, size_t i, size_t end)
{
	while (i < end) {
		if (isspace((unsigned char)s[i])) {
			i++;
		} else if (s[i] == '-' && i + 1 < end && s[i + 1] == '-') {
			while (i < end && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < end && s[i + 1] == '*') {
			i += 2;
			while (i + 1 < end && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			i = i + 2 < end ? i + 2 : end;
		} else {
			break;
		}
	}
	return i;
}

static int starts_word(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);
	return len >= n && strncasecmp(s, w, n) == 0 &&
	       (len == n || !(isalnum((unsigned char)s[n]) || s[n] == '_'));
}

static void classify(const char *s, size_t len, struct sl_stmt *st)
{
	if (starts_word(s, len, "VACUUM")) {
		st->no_tx = 1;
		snprintf(st->no_tx_what, sizeof(st->no_tx_what), "VACUUM");
	}
	if (starts_word(s, len, "BEGIN") || starts_word(s, len, "COMMIT") ||
	    starts_word(s, len, "END") || starts_word(s, len, "ROLLBACK"))
		st->tx_control = 1;
}

static void add_stmt(const char *s, size_t start, size_t end,
		     struct sl_stmt_list *out, int *line, size_t *line_pos)
{
	size_t tok = skip_space(s, start, end);
	if (tok >= end)
		return; /* only blanks and comments */
	for (size_t i = *line_pos; i < tok; i++)
		if (s[i] == '\n')
			(*line)++;
	*line_pos = tok;
	struct sl_stmt st;
	memset(&st, 0, sizeof(st));
	st.off = tok;
	st.len = end - tok;
	st.line = *line;
	classify(s + tok, end - tok, &st);
	sl_stmt_list_push(out, &st);
}

/*
 * Split on the semicolons that end a complete statement, as decided by
 * sqlite3_complete (which knows strings, comments and trigger bodies).
 * Each candidate is checked from the start of the current statement only,
 * so the cost is linear in the script for ordinary statements.
 */
static int sqlite_split(const char *sql, size_t len, struct sl_stmt_list *out,
			struct sl_error *err)
{
	(void)err;
	char *s = sl_strndup(sql, len);
	size_t start = 0, line_pos = 0;
	int line = 1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ';')
			continue;
		char saved = s[i + 1];
		s[i + 1] = '\0';
		int complete = sqlite3_complete(s + start);
		s[i + 1] = saved;
		if (complete) {
			add_stmt(s, start, i, out, &line, &line_pos);
			start = i + 1;
		}
	}
	if (start < len)
		add_stmt(s, start, len, out, &line, &line_pos);
	free(s);
	return 0;
}

static int sqlite_ensure_state(struct sl_db *db, struct sl_error *err)
{
	return sqlite_exec(db,
		"CREATE TABLE IF NOT EXISTS sluice_history ("
		" installed_rank INTEGER PRIMARY KEY AUTOINCREMENT,"
		" version TEXT,"
		" description TEXT NOT NULL,"
		" kind TEXT NOT NULL,"
		" script TEXT NOT NULL,"
		" checksum TEXT,"
		" installed_by TEXT NOT NULL,"
		" installed_at TEXT NOT NULL,"
		" execution_ms INTEGER NOT NULL,"
		" success INTEGER NOT NULL)", err);
}

static int sqlite_has_state(struct sl_db *db, int *yes, struct sl_error *err)
{
	*yes = 0;
	struct sqlite_db *d = (struct sqlite_db *)db;
	int rc = sqlite3_table_column_metadata(d->h, NULL, "sluice_history", NULL,
					       NULL, NULL, NULL, NULL, NULL);
	(void)err;
	*yes = rc == SQLITE_OK;
	return 0;
}

struct lock_row {
	int found;
	char owner[256], host[256];
	long pid;
	char since[64];
};

static int lock_row_cb(void *arg, int ncols, const char *const *v)
{
	struct lock_row *r = arg;
	(void)ncols;
	r->found = 1;
	snprintf(r->owner, sizeof(r->owner), "%s", v[0] ? v[0] : "");
	snprintf(r->host, sizeof(r->host), "%s", v[1] ? v[1] : "");
	r->pid = v[2] ? atol(v[2]) : 0;
	snprintf(r->since, sizeof(r->since), "%s", v[3] ? v[3] : "");
	return 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * SQLITE_BUSY after waiting timeout_ms: another connection is writing, most
 * likely a sluice mid-migration, whose lock row cannot be read meanwhile.
 */
static int lock_busy(struct sqlite_db *d, long timeout_ms, struct sl_error *err)
{
	if ((sqlite3_extended_errcode(d->h) & 0xff) != SQLITE_BUSY)
		return -1;
	sl_err(err, SL_ENV,
	       "the migration lock is held: another process is writing to the database (a migration in progress?); gave up after %ld ms",
	       timeout_ms);
	sl_err_hint(err, "wait for it to finish, or raise --lock-timeout");
	return -1;
}

static int sqlite_lock(struct sl_db *db, const char *owner, long timeout_ms,
		       struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	/* every wait while taking the lock, the file's included, is bounded
	 * by the lock timeout */
	sqlite3_busy_timeout(d->h, timeout_ms > 0 ? (int)(timeout_ms > 2000000000 ? 2000000000 : timeout_ms) : 1);
	if (sqlite_exec(db,
		"CREATE TABLE IF NOT EXISTS sluice_lock ("
		" id INTEGER PRIMARY KEY CHECK (id = 1),"
		" owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,"
		" acquired_at TEXT NOT NULL)", err))
		return lock_busy(d, timeout_ms, err);
	long start = now_ms();
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", d->pid);
	for (;;) {
		struct lock_row r;
		memset(&r, 0, sizeof(r));
		if (sqlite_begin(db, err))
			return lock_busy(d, timeout_ms, err);
		if (sqlite_query(db, "SELECT owner, host, pid, acquired_at FROM sluice_lock WHERE id = 1",
				 NULL, 0, lock_row_cb, &r, err))
			goto fail;
		int stale = r.found && strcmp(r.host, d->host) == 0 && r.pid > 0 &&
			    r.pid != d->pid && kill((pid_t)r.pid, 0) != 0 && errno == ESRCH;
		if (!r.found || stale) {
			const char *p[] = { owner, d->host, pid };
			if (sqlite_query(db, "DELETE FROM sluice_lock", NULL, 0, NULL, NULL, err) ||
			    sqlite_query(db, "INSERT INTO sluice_lock (id, owner, host, pid, acquired_at)"
				     " VALUES (1, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
				     p, 3, NULL, NULL, err))
				goto fail;
			if (sqlite_commit(db, err))
				goto fail;
			/* the lock timeout is for the lock: the migration's own
			 * statements wait for readers as long as any other */
			sqlite3_busy_timeout(d->h, 60000);
			return 0;
		}
		sqlite_rollback(db, NULL);
		if (now_ms() - start >= timeout_ms) {
			sl_err(err, SL_ENV,
			       "the migration lock is held by %s (host %s, pid %ld) since %s; gave up after %ld ms",
			       r.owner, r.host, r.pid, r.since, timeout_ms);
			sl_err_hint(err, "wait for it to finish, or raise --lock-timeout");
			return -1;
		}
		sleep_ms(50);
	}
fail:
	lock_busy(d, timeout_ms, err);
	sqlite_rollback(db, NULL);
	return -1;
}

static int sqlite_unlock(struct sl_db *db, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", d->pid);
	const char *p[] = { d->host, pid };
	return sqlite_query(db, "DELETE FROM sluice_lock WHERE host = ? AND pid = ?",
			    p, 2, NULL, NULL, err);
}

static long sqlite_server_version(struct sl_db *db)
{
	(void)db;
	return sqlite3_libversion_number();
}

/* ---- catalog, shadow, rows (plan) ------------------------------------- */

struct cat_ctx {
	struct sqlite_db *d;
	struct sl_catalog *c;
	struct sl_error *err;
	int rc;
};

static int col_cb(void *arg, int ncols, const char *const *v)
{
	struct cat_ctx *x = arg;
	(void)ncols;
	/* v: table, column, type, notnull, default */
	struct sl_buf name = SL_BUF_INIT;
	sl_buf_printf(&name, "%s.%s", v[0], v[1]);
	sl_catalog_add(x->c, "column", name.s, v[0], v[2] ? v[2] : "", v[3] && v[3][0] == '1', v[4]);
	sl_buf_free(&name);
	return 0;
}

static int master_cb(void *arg, int ncols, const char *const *v)
{
	struct cat_ctx *x = arg;
	(void)ncols;
	/* v: type, name, tbl_name, sql */
	const char *type = v[0], *name = v[1], *tbl = v[2];
	if (!strcmp(type, "table")) {
		sl_catalog_add(x->c, "table", name, NULL, v[3], 0, NULL);
	} else if (!strcmp(type, "index")) {
		if (v[3]) /* automatic indexes of constraints have no SQL */
			sl_catalog_add(x->c, "index", name, tbl, v[3], 0, NULL);
	} else if (!strcmp(type, "view")) {
		sl_catalog_add(x->c, "view", name, NULL, v[3], 0, NULL);
	} else if (!strcmp(type, "trigger")) {
		sl_catalog_add(x->c, "trigger", name, tbl, v[3], 0, NULL);
	}
	return 0;
}

static int sqlite_catalog(struct sl_db *db, struct sl_catalog *out, struct sl_error *err)
{
	struct cat_ctx x = { (struct sqlite_db *)db, out, err, 0 };
	memset(out, 0, sizeof(*out));
	if (sqlite_query(db, "SELECT type, name, tbl_name, sql FROM sqlite_master"
			 " WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
			 " AND name NOT LIKE 'sluice\\_%' ESCAPE '\\' ORDER BY type, name",
			 NULL, 0, master_cb, &x, err))
		return -1;
	return sqlite_query(db, "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value"
			    " FROM sqlite_master m, pragma_table_info(m.name) p"
			    " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
			    " AND m.name NOT LIKE 'sluice\\_%' ESCAPE '\\' ORDER BY m.name, p.cid",
			    NULL, 0, col_cb, &x, err);
}

static int sqlite_shadow(struct sl_db *db, struct sl_db **out, struct sl_error *err)
{
	struct sqlite_db *src = (struct sqlite_db *)db;
	*out = NULL;
	struct sl_db *copy;
	if (sqlite_open(&copy, "sqlite::memory:", NULL, err))
		return -1;
	struct sqlite_db *dst = (struct sqlite_db *)copy;
	free(dst->base.url_masked);
	dst->base.url_masked = sl_strdup("shadow (in-memory copy)");
	sqlite3_backup *b = sqlite3_backup_init(dst->h, "main", src->h, "main");
	int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
	if (b)
		sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		sl_err(err, SL_ENV, "cannot copy the database for a shadow: %s", sqlite3_errmsg(dst->h));
		sqlite_close(copy);
		return -1;
	}
	*out = copy;
	return 0;
}

/* ---- rollback points (deploy) ----------------------------------------- */

/* Copy all of src's main database into dst's, one backup step. */
static int copy_db(sqlite3 *dst, sqlite3 *src, sqlite3 *msg_from, struct sl_error *err,
		   const char *what)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
	if (b)
		sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return sl_err(err, SL_ENV, "%s: %s", what, sqlite3_errmsg(b ? msg_from : dst));
	return 0;
}

static int fsync_path(const char *path, int dir)
{
	int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int sqlite_save_point(struct sl_db *db, const char *path, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	struct sl_buf tmp = SL_BUF_INIT;
	sl_buf_printf(&tmp, "%s.tmp", path);
	unlink(tmp.s);
	sqlite3 *out = NULL;
	int rc = -1;
	if (sqlite3_open_v2(tmp.s, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		sl_err(err, SL_ENV, "cannot create the rollback point '%s': %s", tmp.s,
		       out ? sqlite3_errmsg(out) : "out of memory");
		goto out;
	}
	if (copy_db(out, d->h, d->h, err, "cannot copy the database to its rollback point"))
		goto out;
	sqlite3_close(out);
	out = NULL;
	char *slash = strrchr(tmp.s, '/');
	if (fsync_path(tmp.s, 0) || rename(tmp.s, path)) {
		sl_err(err, SL_ENV, "cannot write the rollback point '%s': %s", path, strerror(errno));
		goto out;
	}
	if (slash) {
		*slash = '\0';
		fsync_path(tmp.s[0] ? tmp.s : "/", 1);
	}
	rc = 0;
out:
	if (out)
		sqlite3_close(out);
	if (rc)
		unlink(tmp.s);
	sl_buf_free(&tmp);
	return rc;
}

/*
 * sluice's live state, which restoring a rollback point must not take back
 * with the schema: flags (a flag a failing rollout set to 0 stays at 0) and
 * rollouts with their log.  They are carried from the database as it is
 * into the restored image before the image replaces it, so the swap stays
 * one transaction.
 */
static const char *const live_tables[] = { "sluice_flags", "sluice_rollouts", "sluice_rollout_log", NULL };

static int exec_on(sqlite3 *h, const char *sql, struct sl_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sl_err(err, SL_ENV, "cannot carry sluice's state over the rollback point: %s",
		       msg ? msg : sqlite3_errmsg(h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Copy table t (definition, indexes, rows) from src into dst, replacing it. */
static int carry_table(sqlite3 *dst, sqlite3 *src, const char *t, struct sl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, found = 0;
	struct sl_buf q = SL_BUF_INIT;
	/* the table first, then its indexes */
	if (sqlite3_prepare_v2(src, "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL"
				    " ORDER BY type = 'table' DESC", -1, &st, NULL) != SQLITE_OK)
		return sl_err(err, SL_ENV, "%s", sqlite3_errmsg(src));
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	struct sl_strvec ddl = SL_STRVEC_INIT;
	while (sqlite3_step(st) == SQLITE_ROW) {
		found |= !strcmp((const char *)sqlite3_column_text(st, 0), "table");
		sl_strvec_push(&ddl, (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (!found) {
		sl_strvec_free(&ddl);
		return 0;
	}
	sl_buf_adds(&q, "DROP TABLE IF EXISTS ");
	sqlite_quote_ident(&q, t);
	rc = exec_on(dst, q.s, err);
	for (size_t i = 0; !rc && i < ddl.n; i++)
		rc = exec_on(dst, ddl.v[i], err);
	sl_strvec_free(&ddl);
	sqlite3_stmt *rd = NULL, *wr = NULL;
	if (!rc) {
		sl_buf_reset(&q);
		sl_buf_adds(&q, "SELECT * FROM ");
		sqlite_quote_ident(&q, t);
		if (sqlite3_prepare_v2(src, q.s, -1, &rd, NULL) != SQLITE_OK)
			rc = sl_err(err, SL_ENV, "%s", sqlite3_errmsg(src));
	}
	if (!rc) {
		int n = sqlite3_column_count(rd);
		sl_buf_reset(&q);
		sl_buf_adds(&q, "INSERT INTO ");
		sqlite_quote_ident(&q, t);
		sl_buf_adds(&q, " VALUES (");
		for (int i = 0; i < n; i++)
			sl_buf_adds(&q, i ? ", ?" : "?");
		sl_buf_adds(&q, ")");
		if (sqlite3_prepare_v2(dst, q.s, -1, &wr, NULL) != SQLITE_OK)
			rc = sl_err(err, SL_ENV, "%s", sqlite3_errmsg(dst));
		while (!rc && sqlite3_step(rd) == SQLITE_ROW) {
			for (int i = 0; i < n; i++)
				sqlite3_bind_value(wr, i + 1, sqlite3_column_value(rd, i));
			if (sqlite3_step(wr) != SQLITE_DONE)
				rc = sl_err(err, SL_ENV, "cannot carry %s over the rollback point: %s", t,
					    sqlite3_errmsg(dst));
			sqlite3_reset(wr);
		}
	}
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	sl_buf_free(&q);
	return rc;
}

static int has_live_state(sqlite3 *h)
{
	for (size_t i = 0; live_tables[i]; i++) {
		sqlite3_stmt *st = NULL;
		int yes = 0;
		if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &st,
				       NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, live_tables[i], -1, SQLITE_STATIC);
			yes = sqlite3_step(st) == SQLITE_ROW;
		}
		sqlite3_finalize(st);
		if (yes)
			return 1;
	}
	return 0;
}

/*
 * The image to restore: the point, with the live tables of the database as
 * it is now.  Built in a private temporary database (on disk, so memory
 * does not grow with the database).
 */
static int restore_image(struct sqlite_db *d, sqlite3 *in, sqlite3 **out, struct sl_error *err)
{
	sqlite3 *tmp = NULL;
	*out = NULL;
	if (sqlite3_open("", &tmp) != SQLITE_OK) {
		sqlite3_close(tmp);
		return sl_err(err, SL_ENV, "cannot open a temporary database to restore through");
	}
	int rc = copy_db(tmp, in, in, err, "cannot read the rollback point");
	if (!rc)
		rc = exec_on(tmp, "BEGIN", err);
	for (size_t i = 0; !rc && live_tables[i]; i++)
		rc = carry_table(tmp, d->h, live_tables[i], err);
	if (!rc)
		rc = exec_on(tmp, "COMMIT", err);
	if (rc) {
		sqlite3_close(tmp);
		return -1;
	}
	*out = tmp;
	return 0;
}

static int sqlite_restore_point(struct sl_db *db, const char *path, struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	sqlite3 *in = NULL;
	if (sqlite3_open_v2(path, &in, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sl_err(err, SL_ENV, "cannot open the rollback point '%s': %s", path,
		       in ? sqlite3_errmsg(in) : "out of memory");
		sqlite3_close(in);
		return -1;
	}
	/* the lock row is the caller's, not the point's: keep it */
	struct lock_row held;
	memset(&held, 0, sizeof(held));
	sqlite_query(db, "SELECT owner, host, pid, acquired_at FROM sluice_lock WHERE id = 1",
		     NULL, 0, lock_row_cb, &held, NULL);
	/* the backup API writes the destination in one transaction: a kill
	 * half-way leaves the database as it was, and restoring again works */
	sqlite3 *image = in;
	int rc = 0;
	if (has_live_state(d->h))
		rc = restore_image(d, in, &image, err);
	if (!rc)
		rc = copy_db(d->h, image, d->h, err, "cannot restore the rollback point");
	if (image != in)
		sqlite3_close(image);
	sqlite3_close(in);
	if (!rc && held.found) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%ld", held.pid);
		const char *p[] = { held.owner, held.host, pid, held.since };
		rc = sqlite_query(db, "DELETE FROM sluice_lock", NULL, 0, NULL, NULL, err) ||
		     sqlite_query(db, "INSERT INTO sluice_lock (id, owner, host, pid, acquired_at)"
				  " VALUES (1, ?, ?, ?, ?)", p, 4, NULL, NULL, err) ? -1 : 0;
	}
	return rc;
}

static int ll_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long long *)arg = v[0] ? atoll(v[0]) : 0;
	return 1;
}

static int sqlite_count_rows(struct sl_db *db, const char *table, long long *rows,
			     struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT count(*) FROM ");
	sqlite_quote_ident(&q, table);
	*rows = -1;
	int rc = sqlite_query(db, q.s, NULL, 0, ll_cb, rows, err);
	sl_buf_free(&q);
	return rc;
}

/* Numbers as numbers: formatting each REAL as text and parsing it back
 * was 40% of a profile's time. */
static int sqlite_stream_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
			       struct sl_error *err)
{
	struct sqlite_db *d = (struct sqlite_db *)db;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(d->h, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(d, err, NULL);
	int ncols = sqlite3_column_count(st);
	struct sl_cell *cells = sl_calloc((size_t)(ncols ? ncols : 1), sizeof(*cells));
	int rc, ret = 0, stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			struct sl_cell *c = &cells[i];
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_NULL:
				c->type = SL_CELL_NULL;
				break;
			case SQLITE_INTEGER:
				c->type = SL_CELL_INT;
				c->i = sqlite3_column_int64(st, i);
				c->d = (double)c->i;
				break;
			case SQLITE_FLOAT:
				c->type = SL_CELL_REAL;
				c->d = sqlite3_column_double(st, i);
				break;
			default:
				c->type = SL_CELL_TEXT;
				c->s = (const char *)sqlite3_column_text(st, i);
			}
		}
		if (cb(arg, ncols, cells))
			stop = 1;
	}
	if (!stop && rc != SQLITE_DONE)
		ret = db_err(d, err, NULL);
	free(cells);
	sqlite3_finalize(st);
	return ret;
}

/* sqlite3_step already hands over one row at a time. */
static int sqlite_stream(struct sl_db *db, const char *sql, sl_row_fn cb, void *arg,
			 struct sl_error *err)
{
	return sqlite_query(db, sql, NULL, 0, cb, arg, err);
}

const struct sl_db_driver sl_sqlite_driver = {
	.version = 1,
	.name = "sqlite",
	.schemes = sqlite_schemes,
	.open = sqlite_open,
	.close = sqlite_close,
	.exec = sqlite_exec,
	.query = sqlite_query,
	.stream = sqlite_stream,
	.stream_cells = sqlite_stream_cells,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.quote_ident = sqlite_quote_ident,
	.state_table = sqlite_state_table,
	.split = sqlite_split,
	.ensure_state = sqlite_ensure_state,
	.save_point = sqlite_save_point,
	.restore_point = sqlite_restore_point,
	.lock = sqlite_lock,
	.unlock = sqlite_unlock,
	.server_version = sqlite_server_version,
	.has_state = sqlite_has_state,
	.catalog = sqlite_catalog,
	.shadow = sqlite_shadow,
	.count_rows = sqlite_count_rows,
};
