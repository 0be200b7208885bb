/*
 * history.c - read and append the history table (see history.h).
 */
#include "history.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void sl_now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char whole[24];
	strftime(whole, sizeof(whole), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", whole, (int)(ts.tv_nsec / 1000000) % 1000);
}

const char *sl_actor(void)
{
	static const char *const vars[] = {
		"SLUICE_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR",
		"USER", "LOGNAME", NULL
	};
	for (size_t i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return v;
	}
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_name ? pw->pw_name : "unknown";
}

/*
 * PostgreSQL returns timestamptz as "2026-11-24 14:03:07.123+00" (the
 * driver sets TimeZone UTC and DateStyle ISO); SQLite holds what we wrote.
 * Normalise both to "2026-11-24T14:03:07.123Z".
 */
static char *norm_ts(const char *s)
{
	if (!s)
		return sl_strdup("");
	if (strchr(s, 'T'))
		return sl_strdup(s); /* written by us (SQLite) */
	struct sl_buf b = SL_BUF_INIT;
	size_t n = strcspn(s, "+");       /* drop the "+00" zone (UTC) */
	const char *dot = memchr(s, '.', n);
	size_t whole = dot ? (size_t)(dot - s) : n;
	sl_buf_add(&b, s, whole);
	if (b.len > 10 && b.s[10] == ' ')
		b.s[10] = 'T';
	sl_buf_addc(&b, '.');
	for (int i = 0; i < 3; i++) {
		size_t k = whole + 1 + (size_t)i;
		sl_buf_addc(&b, dot && k < n ? s[k] : '0');
	}
	sl_buf_addc(&b, 'Z');
	return sl_buf_detach(&b);
}

static int row_cb(void *arg, int ncols, const char *const *v)
{
	struct sl_history *h = arg;
	(void)ncols;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = sl_realloc(h->v, h->cap * sizeof(*h->v));
	}
	struct sl_hist_row *r = &h->v[h->n++];
	r->rank = v[0] ? atol(v[0]) : 0;
	r->version = v[1] ? sl_strdup(v[1]) : NULL;
	r->description = sl_strdup(v[2] ? v[2] : "");
	r->kind = sl_strdup(v[3] ? v[3] : "");
	r->script = sl_strdup(v[4] ? v[4] : "");
	r->checksum = v[5] ? sl_strdup(v[5]) : NULL;
	r->installed_by = sl_strdup(v[6] ? v[6] : "");
	r->installed_at = norm_ts(v[7]);
	r->execution_ms = v[8] ? atol(v[8]) : 0;
	r->success = v[9] && (v[9][0] == 't' || v[9][0] == '1');
	return 0;
}

int sl_history_read(struct sl_db *db, struct sl_history *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	int yes = 0;
	if (db->driver->has_state(db, &yes, err))
		return -1;
	out->exists = yes;
	if (!yes)
		return 0;
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT installed_rank, version, description, kind, script, checksum,"
			" installed_by, installed_at, execution_ms, success FROM ");
	db->driver->state_table(&q, "history");
	sl_buf_adds(&q, " ORDER BY installed_rank");
	int rc = db->driver->query(db, q.s, NULL, 0, row_cb, out, err);
	sl_buf_free(&q);
	if (rc)
		sl_history_free(out);
	return rc;
}

void sl_history_free(struct sl_history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct sl_hist_row *r = &h->v[i];
		free(r->version);
		free(r->description);
		free(r->kind);
		free(r->script);
		free(r->checksum);
		free(r->installed_by);
		free(r->installed_at);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}

int sl_history_insert(struct sl_db *db, const struct sl_hist_row *row, struct sl_error *err)
{
	char now[32], ms[32];
	if (!row->installed_at)
		sl_now_iso(now);
	snprintf(ms, sizeof(ms), "%ld", row->execution_ms);
	const char *p[] = {
		row->version, row->description, row->kind, row->script, row->checksum,
		row->installed_by ? row->installed_by : sl_actor(),
		row->installed_at ? row->installed_at : now, ms, row->success ? "1" : "0",
	};
	/*
	 * The rank is max + 1, not the identity sequence: every insert runs
	 * under the migration lock, and a sequence (non-transactional) would
	 * be advanced by a plan's shadow that is rolled back.
	 */
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "INSERT INTO ");
	db->driver->state_table(&q, "history");
	sl_buf_adds(&q, " (installed_rank, version, description, kind, script, checksum, installed_by,"
			" installed_at, execution_ms, success) VALUES ((SELECT coalesce(max(installed_rank), 0) + 1 FROM ");
	db->driver->state_table(&q, "history");
	sl_buf_adds(&q, "), ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	int rc = db->driver->query(db, q.s, p, 9, NULL, NULL, err);
	sl_buf_free(&q);
	if (rc)
		sl_err_prefix(err, "cannot record history: ");
	return rc;
}

static int count_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long *)arg = v[0] ? atol(v[0]) : 0;
	return 1;
}

int sl_history_delete_failed(struct sl_db *db, long *count, struct sl_error *err)
{
	struct sl_buf q = SL_BUF_INIT;
	*count = 0;
	sl_buf_adds(&q, "SELECT count(*) FROM ");
	db->driver->state_table(&q, "history");
	sl_buf_adds(&q, " WHERE success = ?");
	const char *p[] = { "0" };
	int rc = db->driver->query(db, q.s, p, 1, count_cb, count, err);
	sl_buf_reset(&q);
	if (!rc) {
		sl_buf_adds(&q, "DELETE FROM ");
		db->driver->state_table(&q, "history");
		sl_buf_adds(&q, " WHERE success = ?");
		rc = db->driver->query(db, q.s, p, 1, NULL, NULL, err);
	}
	sl_buf_free(&q);
	return rc;
}

int sl_history_set_checksum(struct sl_db *db, long rank, const char *checksum,
			    struct sl_error *err)
{
	char r[32];
	snprintf(r, sizeof(r), "%ld", rank);
	const char *p[] = { checksum, r };
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "UPDATE ");
	db->driver->state_table(&q, "history");
	sl_buf_adds(&q, " SET checksum = ? WHERE installed_rank = ?");
	int rc = db->driver->query(db, q.s, p, 2, NULL, NULL, err);
	sl_buf_free(&q);
	return rc;
}
