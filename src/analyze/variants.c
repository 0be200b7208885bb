/*
 * variants.c - check the dialect variants of a migration history (see
 * lint.h: sl_lint_variants).
 *
 * The SQLite history (each version's SQLite variant, else its dialect-free
 * file) is applied in order to an empty in-memory SQLite database: what
 * SQLite rejects is reported where it stands.  For every version that has
 * dialect-specific files, the tables and columns its SQLite file created
 * on that shadow (catalog before and after) are compared with those its
 * PostgreSQL file creates according to the PostgreSQL parser.
 */
#include "lint.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has(const struct sl_strvec *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return 1;
	return 0;
}

/* Tables and columns in after but not in before, as "table:x"/"column:x.c". */
static void created(const struct sl_catalog *before, const struct sl_catalog *after,
		    struct sl_strvec *out)
{
	for (size_t i = 0; i < after->n; i++) {
		const struct sl_cat_obj *o = &after->v[i];
		if (strcmp(o->kind, "table") != 0 && strcmp(o->kind, "column") != 0)
			continue;
		if (sl_catalog_find(before, o->kind, o->name))
			continue;
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "%s:", o->kind);
		for (const char *p = o->name; *p; p++)
			sl_buf_addc(&b, (char)tolower((unsigned char)*p));
		sl_strvec_push_owned(out, sl_buf_detach(&b));
	}
}

/* "a, b, c" of what is in x and not in y (at most 4). */
static void missing_list(const struct sl_strvec *x, const struct sl_strvec *y, struct sl_buf *out,
			 size_t *count)
{
	*count = 0;
	for (size_t i = 0; i < x->n; i++)
		if (!has(y, x->v[i])) {
			if (*count < 4) {
				const char *colon = strchr(x->v[i], ':');
				sl_buf_printf(out, "%s%.*s %s", *count ? ", " : "", (int)(colon - x->v[i]),
					      x->v[i], colon + 1);
			}
			(*count)++;
		}
	if (*count > 4)
		sl_buf_printf(out, " and %zu more", *count - 4);
}

/* Apply one script to the shadow; a rejection becomes a finding. */
static int apply(struct sl_linter *l, struct sl_db *shadow, const struct sl_migration *m,
		 struct sl_error *err)
{
	struct sl_buf sql = SL_BUF_INIT;
	struct sl_stmt_list st = { 0 };
	char sum[65];
	int first, no_tx, ok = 1;
	if (sl_migration_read(m, 1, &sql, sum, &first, &no_tx, err)) {
		sl_buf_free(&sql);
		return -1;
	}
	shadow->driver->split(sql.s, sql.len, &st, NULL);
	struct sl_buf one = SL_BUF_INIT;
	for (size_t i = 0; i < st.n && ok; i++) {
		if (st.v[i].tx_control)
			continue;
		sl_buf_reset(&one);
		sl_buf_add(&one, sql.s + st.v[i].off, st.v[i].len);
		struct sl_error e2;
		if (shadow->driver->exec(shadow, one.s, &e2)) {
			sl_linter_add(l, "sqlite-error", m->up_path, first - 1 + st.v[i].line, 1, "%s",
				      e2.message);
			ok = 0;
		}
	}
	sl_buf_free(&one);
	sl_stmt_list_free(&st);
	sl_buf_free(&sql);
	return ok ? 0 : 1;
}

int sl_lint_variants(struct sl_linter *l, const char *dir, size_t *checked,
		     struct sl_error *err)
{
	struct sl_migration_set lite, pg;
	struct sl_db *shadow = NULL;
	int rc = -1;
	*checked = 0;
	memset(&lite, 0, sizeof(lite));
	memset(&pg, 0, sizeof(pg));
	if (sl_migrations_load(&lite, dir, "sqlite", err))
		goto out;
	int any = 0;
	for (size_t i = 0; i < lite.n; i++)
		any |= lite.v[i].dialect[0] != '\0' || lite.v[i].skipped;
	if (!any) {
		rc = 0; /* no variants: nothing to compare */
		goto out;
	}
	if (sl_migrations_load(&pg, dir, "postgres", err))
		goto out;
	if (sl_db_open(&shadow, "sqlite::memory:", NULL, err))
		goto out;
	size_t pk = 0;
	for (size_t i = 0; i < lite.n; i++) {
		const struct sl_migration *m = &lite.v[i];
		if (m->skipped || m->kind != SL_VERSIONED)
			continue;
		/* both sets are sorted by version: walk pg alongside */
		const struct sl_migration *p = NULL;
		while (pk < pg.n && (pg.v[pk].kind != SL_VERSIONED ||
				     sl_version_cmp(pg.v[pk].version, m->version) < 0))
			pk++;
		if (pk < pg.n && !sl_version_cmp(pg.v[pk].version, m->version))
			p = &pg.v[pk];
		int variant = m->dialect[0] || (p && p->dialect[0]);
		struct sl_catalog before, after;
		memset(&before, 0, sizeof(before));
		memset(&after, 0, sizeof(after));
		if (variant && shadow->driver->catalog(shadow, &before, err))
			goto out;
		int r = apply(l, shadow, m, err);
		if (r < 0) {
			sl_catalog_free(&before);
			goto out;
		}
		if (r > 0) {
			sl_catalog_free(&before);
			break; /* later scripts would only repeat the consequence */
		}
		if (variant && p && !p->skipped) {
			if (shadow->driver->catalog(shadow, &after, err)) {
				sl_catalog_free(&before);
				goto out;
			}
			struct sl_strvec a = SL_STRVEC_INIT, b = SL_STRVEC_INIT;
			created(&before, &after, &a);
			struct sl_buf sql = SL_BUF_INIT;
			char sum[65];
			int first, no_tx;
			if (sl_migration_read(p, 1, &sql, sum, &first, &no_tx, NULL) == 0)
				sl_lint_created(sql.s, sql.len, &b);
			sl_buf_free(&sql);
			if (a.n)
				qsort(a.v, a.n, sizeof(*a.v), cmp_str);
			struct sl_buf only_lite = SL_BUF_INIT, only_pg = SL_BUF_INIT;
			size_t nl, np;
			missing_list(&a, &b, &only_lite, &nl);
			missing_list(&b, &a, &only_pg, &np);
			if (nl || np)
				sl_linter_add(l, "dialect-variants-diverge", p->up_path, 1, 1,
					      "version %s: %s%s%s%s%s%s", m->version,
					      nl ? "only the SQLite variant creates " : "", only_lite.s,
					      nl && np ? "; " : "",
					      np ? "only the PostgreSQL variant creates " : "", only_pg.s,
					      "");
			(*checked)++;
			sl_buf_free(&only_lite);
			sl_buf_free(&only_pg);
			sl_strvec_free(&a);
			sl_strvec_free(&b);
		}
		sl_catalog_free(&before);
		sl_catalog_free(&after);
	}
	rc = 0;
out:
	sl_db_close(shadow);
	sl_migrations_free(&lite);
	sl_migrations_free(&pg);
	return rc;
}
