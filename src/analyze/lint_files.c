/*
 * lint_files.c - which scripts a lint run checks (see lint.h).
 */
#include "lint.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/migrate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int lint_migration(struct sl_linter *l, const struct sl_migration *m, int learn,
			  int sqlite_target, struct sl_error *err)
{
	struct sl_buf sql = SL_BUF_INIT;
	char sum[65];
	int first, no_tx;
	if (sl_migration_read(m, 1, &sql, sum, &first, &no_tx, err)) {
		sl_buf_free(&sql);
		return -1;
	}
	sl_linter_set_sqlite(l, sqlite_target || strcmp(m->dialect, "sqlite") == 0);
	if (learn)
		sl_linter_learn(l, sql.s, sql.len);
	else
		sl_linter_check(l, m->up_path, sql.s, sql.len, first);
	sl_buf_free(&sql);
	return 0;
}

int sl_lint_pending(struct sl_linter *l, struct sl_engine *eng, size_t *files,
		    struct sl_error *err)
{
	struct sl_status st;
	if (sl_status_compute(eng, &st, err))
		return -1;
	int rc = 0;
	/* a dialect-free file on a SQLite target is SQLite SQL */
	int sqlite = strcmp(eng->db->driver->name, "sqlite") == 0;
	for (size_t i = 0; i < st.n && !rc; i++) {
		const struct sl_entry *e = &st.e[i];
		if (!e->m || e->m->skipped)
			continue;
		if (e->state == SL_ST_APPLIED || e->state == SL_ST_BELOW_BASELINE) {
			rc = lint_migration(l, e->m, 1, sqlite, err);
		} else if (e->state == SL_ST_PENDING) {
			rc = lint_migration(l, e->m, 0, sqlite, err);
			(*files)++;
		}
	}
	sl_status_free(&st);
	size_t variants;
	if (!rc)
		rc = sl_lint_variants(l, eng->migrations_dir, &variants, err);
	return rc;
}

int sl_lint_dir(struct sl_linter *l, const char *dir, const char *dialect, size_t *files,
		struct sl_error *err)
{
	struct sl_migration_set set;
	if (sl_migrations_load(&set, dir, dialect, err))
		return -1;
	int rc = 0;
	for (size_t i = 0; i < set.n && !rc; i++) {
		if (set.v[i].skipped)
			continue;
		rc = lint_migration(l, &set.v[i], 0, dialect && strcmp(dialect, "sqlite") == 0, err);
		(*files)++;
	}
	sl_migrations_free(&set);
	size_t variants;
	if (!rc)
		rc = sl_lint_variants(l, dir, &variants, err);
	return rc;
}

int sl_lint_file(struct sl_linter *l, const char *path, size_t *files, struct sl_error *err)
{
	struct stat stt;
	if (stat(path, &stt) != 0)
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read: %s", strerror(errno));
	if (S_ISDIR(stt.st_mode))
		return sl_lint_dir(l, path, "postgres", files, err);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read: %s", strerror(errno));
	sl_linter_set_sqlite(l, strstr(path, ".sqlite") != NULL);
	int rc = sl_linter_check_stream(l, path, fp);
	int e = errno;
	fclose(fp);
	if (rc)
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read: %s", strerror(e));
	(*files)++;
	return 0;
}
