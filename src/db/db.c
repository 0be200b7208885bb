/*
 * db.c - driver registry and what all drivers share (see db.h).
 */
#include "db.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sl_db_driver *const drivers[] = {
	&sl_sqlite_driver,
	&sl_postgres_driver,
	NULL,
};

void sl_stmt_list_free(struct sl_stmt_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void sl_stmt_list_push(struct sl_stmt_list *l, const struct sl_stmt *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = sl_realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *s;
}

void sl_quote_ident_std(struct sl_buf *out, const char *ident)
{
	sl_buf_addc(out, '"');
	for (const char *p = ident; *p; p++) {
		if (*p == '"')
			sl_buf_addc(out, '"');
		sl_buf_addc(out, *p);
	}
	sl_buf_addc(out, '"');
}

int sl_line_of(const char *s, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off && s[i]; i++)
		if (s[i] == '\n')
			line++;
	return line;
}

const struct sl_db_driver *sl_db_driver_named(const char *name)
{
	for (size_t i = 0; drivers[i]; i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const struct sl_db_driver *sl_db_find_driver(const char *url, struct sl_error *err)
{
	const char *colon = strchr(url, ':');
	if (colon) {
		size_t n = (size_t)(colon - url);
		for (size_t i = 0; drivers[i]; i++)
			for (const char *const *s = drivers[i]->schemes; *s; s++)
				if (strlen(*s) == n && strncasecmp(*s, url, n) == 0)
					return drivers[i];
	}
	struct sl_buf m = SL_BUF_INIT;
	sl_mask_url(url, &m);
	sl_err(err, SL_USAGE, "unsupported database URL '%s'", m.s);
	sl_err_hint(err, "use sqlite:PATH, postgres://... or postgresql://...");
	sl_buf_free(&m);
	return NULL;
}

int sl_db_open(struct sl_db **out, const char *url, const char *base_dir,
	       struct sl_error *err)
{
	*out = NULL;
	const struct sl_db_driver *d = sl_db_find_driver(url, err);
	if (!d)
		return -1;
	return d->open(out, url, base_dir, err);
}

void sl_db_close(struct sl_db *db)
{
	if (db)
		db->driver->close(db);
}

/*
 * Mask "scheme://user:secret@host" and "password=secret" (query string or
 * libpq keyword/value form).  Written by hand: no Debian library parses
 * every libpq connection-string form, and the masking must never fail.
 */
/*
 * Find the password of "scheme://user:PASSWORD@host": *from..*to (the ':'
 * and the '@' around it).  As libpq reads it, only '/' ends the userinfo,
 * so "user:pa?ss@host" has the password "pa?ss".  0 when there is none.
 */
static int userinfo_password(const char *url, const char **colon, const char **at)
{
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end)
		return 0;
	const char *auth = scheme_end + 3;
	const char *end = auth + strcspn(auth, "/");
	*at = NULL;
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			*at = q;
	*colon = *at ? memchr(auth, ':', (size_t)(*at - auth)) : NULL;
	return *colon != NULL;
}

void sl_mask_url(const char *url, struct sl_buf *out)
{
	const char *p = url, *colon, *at;
	if (userinfo_password(url, &colon, &at)) {
		sl_buf_add(out, url, (size_t)(colon + 1 - url));
		sl_buf_adds(out, "***");
		p = at;
	}
	while (*p) {
		if (strncasecmp(p, "password=", 9) == 0 &&
		    (p == url || strchr("?&; \t", p[-1]))) {
			sl_buf_add(out, p, 9);
			sl_buf_adds(out, "***");
			p += 9;
			if (*p == '\'') {
				p++;
				while (*p && *p != '\'') {
					if (*p == '\\' && p[1])
						p++;
					p++;
				}
				if (*p)
					p++;
			} else {
				p += strcspn(p, "& \t;");
			}
			continue;
		}
		sl_buf_addc(out, *p++);
	}
}

/* Append to v each password written in url (as sl_mask_url finds them). */
static void url_passwords(const char *url, struct sl_strvec *v)
{
	const char *colon, *at;
	if (userinfo_password(url, &colon, &at) && at > colon + 1)
		sl_strvec_push_owned(v, sl_strndup(colon + 1, (size_t)(at - colon - 1)));
	for (const char *p = url; *p; p++) {
		if (strncasecmp(p, "password=", 9) != 0 || (p != url && !strchr("?&; \t", p[-1])))
			continue;
		size_t n = strcspn(p + 9, "& \t;");
		if (n)
			sl_strvec_push_owned(v, sl_strndup(p + 9, n));
	}
}

void sl_mask_text(const char *url, const char *text, struct sl_buf *out)
{
	struct sl_buf m = SL_BUF_INIT;
	struct sl_strvec pw = SL_STRVEC_INIT;
	sl_mask_url(text, &m);
	url_passwords(url, &pw);
	for (size_t i = 0; i < pw.n; i++) {
		struct sl_buf r = SL_BUF_INIT;
		size_t n = strlen(pw.v[i]);
		const char *p = m.s, *hit;
		while ((hit = strstr(p, pw.v[i]))) {
			sl_buf_add(&r, p, (size_t)(hit - p));
			sl_buf_adds(&r, "***");
			p = hit + n;
		}
		sl_buf_adds(&r, p);
		sl_buf_free(&m);
		m = r;
	}
	sl_buf_add(out, m.s, m.len);
	sl_buf_free(&m);
	sl_strvec_free(&pw);
}

void sl_catalog_add(struct sl_catalog *c, const char *kind, const char *name,
		    const char *table, const char *type, int notnull, const char *dflt)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = sl_realloc(c->v, c->cap * sizeof(*c->v));
	}
	struct sl_cat_obj *o = &c->v[c->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->kind, sizeof(o->kind), "%s", kind);
	o->name = sl_strdup(name ? name : "");
	o->table = table ? sl_strdup(table) : NULL;
	o->type = sl_strdup(type ? type : "");
	o->notnull = notnull;
	o->dflt = dflt ? sl_strdup(dflt) : NULL;
}

const struct sl_cat_obj *sl_catalog_find(const struct sl_catalog *c, const char *kind,
					 const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].kind, kind) && !strcmp(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

void sl_catalog_free(struct sl_catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].table);
		free(c->v[i].type);
		free(c->v[i].dflt);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

void sl_db_quote_table(const struct sl_db_driver *d, struct sl_buf *b, const char *table)
{
	const char *dot = strchr(table, '.');
	if (dot) {
		char *schema = sl_strndup(table, (size_t)(dot - table));
		d->quote_ident(b, schema);
		free(schema);
		sl_buf_addc(b, '.');
		d->quote_ident(b, dot + 1);
	} else {
		d->quote_ident(b, table);
	}
}

const char *sl_cell_text(const struct sl_cell *c, char buf[32])
{
	switch (c->type) {
	case SL_CELL_NULL:
		return NULL;
	case SL_CELL_INT:
		snprintf(buf, 32, "%lld", c->i);
		return buf;
	case SL_CELL_REAL:
		snprintf(buf, 32, "%.15g", c->d); /* SQLite's own %!.15g */
		return buf;
	default:
		return c->s;
	}
}

/* A text row as cells, for drivers without typed rows. */
struct cells_adapter {
	sl_cells_fn cb;
	void *arg;
	struct sl_cell *cells;
	int cap;
};

static int adapt_row(void *arg, int ncols, const char *const *vals)
{
	struct cells_adapter *a = arg;
	if (ncols > a->cap) {
		a->cap = ncols;
		a->cells = sl_realloc(a->cells, (size_t)ncols * sizeof(*a->cells));
	}
	for (int i = 0; i < ncols; i++) {
		a->cells[i].type = vals[i] ? SL_CELL_TEXT : SL_CELL_NULL;
		a->cells[i].s = vals[i];
	}
	return a->cb(a->arg, ncols, a->cells);
}

int sl_db_stream_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
		       struct sl_error *err)
{
	if (db->driver->stream_cells)
		return db->driver->stream_cells(db, sql, cb, arg, err);
	return sl_db_stream_text_cells(db, sql, cb, arg, err);
}

int sl_db_stream_text_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
			    struct sl_error *err)
{
	struct cells_adapter a = { cb, arg, NULL, 0 };
	int rc = db->driver->stream(db, sql, adapt_row, &a, err);
	free(a.cells);
	return rc;
}

struct strs_ctx {
	struct sl_strvec *v;
	int ncols;
};

static int strs_cb(void *arg, int ncols, const char *const *v)
{
	struct strs_ctx *c = arg;
	for (int i = 0; i < ncols && i < c->ncols; i++)
		sl_strvec_push(&c->v[i], v[i] ? v[i] : "");
	return 0;
}

int sl_db_query_strs(struct sl_db *db, const char *q, const char *const *p, int np,
		     struct sl_strvec *v, int ncols, struct sl_error *err)
{
	struct strs_ctx c = { v, ncols };
	return db->driver->query(db, q, p, np, strs_cb, &c, err);
}

void sl_quote_literal_std(struct sl_buf *b, const char *s)
{
	sl_buf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sl_buf_addc(b, '\'');
		sl_buf_addc(b, *s);
	}
	sl_buf_addc(b, '\'');
}
