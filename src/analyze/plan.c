/*
 * plan.c - shadow apply and catalog diff (see plan.h).
 */
#include "plan.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sl_change_class_name(enum sl_change_class c)
{
	return c == SL_CH_SAFE ? "safe" : c == SL_CH_BREAKING ? "breaking" : "destructive";
}

size_t sl_plan_count(const struct sl_plan *p, enum sl_change_class c)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->v[i].cls == c;
	return n;
}

void sl_plan_free(struct sl_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].object);
		free(p->v[i].detail);
		free(p->v[i].table);
		sl_strvec_free(&p->v[i].features);
		sl_strvec_free(&p->v[i].models);
	}
	free(p->v);
	free(p->shadow);
	sl_strvec_free(&p->drift);
	memset(p, 0, sizeof(*p));
}

static void add(struct sl_plan *p, const struct sl_cat_obj *o, const char *kind,
		enum sl_change_class cls, const char *locks, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void add(struct sl_plan *p, const struct sl_cat_obj *o, const char *kind,
		enum sl_change_class cls, const char *locks, const char *fmt, ...)
{
	p->v = sl_realloc(p->v, (p->n + 1) * sizeof(*p->v));
	struct sl_change *c = &p->v[p->n++];
	struct sl_buf d = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&d, fmt, ap);
	va_end(ap);
	c->object = sl_strdup(o->name);
	c->kind = kind;
	c->cls = cls;
	c->detail = sl_buf_detach(&d);
	c->locks = locks;
	c->rows = -1;
	memset(&c->features, 0, sizeof(c->features));
	memset(&c->models, 0, sizeof(c->models));
	c->table = o->table ? sl_strdup(o->table) : !strcmp(o->kind, "table") ? sl_strdup(o->name) : NULL;
}

/* n from "character varying(50)" / "numeric(10,2)"; -1 when absent. */
static int type_mod(const char *t, int which)
{
	const char *p = strchr(t, '(');
	if (!p)
		return -1;
	p++;
	if (which == 1) {
		p = strchr(p, ',');
		if (!p)
			return -1;
		p++;
	}
	return atoi(p);
}

static int base_is(const char *t, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(t, name, n) == 0 && (t[n] == '\0' || t[n] == '(');
}

/* Does old -> new keep every value and reader valid (database spellings)? */
static int widens(const char *o, const char *n)
{
	static const char *const ints[][3] = {
		{ "smallint", "int2", "SMALLINT" }, { "integer", "int4", "INT" }, { "bigint", "int8", "BIGINT" },
	};
	int oi = -1, ni = -1;
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++) {
			if (!strcasecmp(o, ints[i][k]))
				oi = i;
			if (!strcasecmp(n, ints[i][k]))
				ni = i;
		}
	if (oi >= 0 && ni >= 0)
		return ni >= oi;
	if (base_is(o, "character varying") && (base_is(n, "text") || !strcasecmp(n, "character varying")))
		return 1;
	if (base_is(o, "character varying") && base_is(n, "character varying"))
		return type_mod(n, 0) >= type_mod(o, 0);
	if (!strcasecmp(o, "real") && !strcasecmp(n, "double precision"))
		return 1;
	if (base_is(o, "numeric") && base_is(n, "numeric"))
		return !strcasecmp(n, "numeric") ||
		       (type_mod(n, 0) >= type_mod(o, 0) && type_mod(n, 1) == type_mod(o, 1));
	return !strcasecmp(o, n);
}

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void diff(struct sl_plan *p, const struct sl_catalog *before,
		 const struct sl_catalog *after, int pg)
{
	const char *ae = pg ? "ACCESS EXCLUSIVE" : "database write lock";
	const char *rewrite = pg ? "ACCESS EXCLUSIVE (rewrites the table)" : "database write lock";
	const char *scan = pg ? "ACCESS EXCLUSIVE (scans the table)" : "database write lock";
	static const char *const order[] = { "table", "column", "constraint", "index", "view", "trigger" };
	for (size_t k = 0; k < 6; k++) {
		const char *kind = order[k];
		for (size_t i = 0; i < before->n; i++) {
			const struct sl_cat_obj *o = &before->v[i];
			if (strcmp(o->kind, kind) != 0)
				continue;
			const struct sl_cat_obj *a = sl_catalog_find(after, kind, o->name);
			if (!a) {
				/* a column of a dropped table goes with its table */
				if (o->table && !strcmp(kind, "column") && !sl_catalog_find(after, "table", o->table))
					continue;
				if (!strcmp(kind, "table"))
					add(p, o, "drop table", SL_CH_DESTRUCTIVE, ae, "its rows are deleted");
				else if (!strcmp(kind, "column"))
					add(p, o, "drop column", SL_CH_DESTRUCTIVE, ae, "%s; its values are lost", o->type);
				else if (!strcmp(kind, "view"))
					add(p, o, "drop view", SL_CH_BREAKING, ae, "readers of the view fail");
				else if (!strcmp(kind, "constraint"))
					add(p, o, "drop constraint", SL_CH_SAFE, ae, "%s", o->type);
				else if (!strcmp(kind, "index"))
					add(p, o, "drop index", SL_CH_SAFE, ae, "queries using it slow down");
				else
					add(p, o, "drop trigger", SL_CH_SAFE, ae, "its effects stop");
				continue;
			}
			if (!strcmp(kind, "column")) {
				if (!same(o->type, a->type))
					add(p, o, "change column type", widens(o->type, a->type) ? SL_CH_SAFE : SL_CH_BREAKING,
					    rewrite, "%s -> %s%s", o->type, a->type,
					    widens(o->type, a->type) ? " (widening)" : "");
				if (!o->notnull && a->notnull)
					add(p, o, "set not null", SL_CH_BREAKING, scan, "writers of NULL now fail");
				if (o->notnull && !a->notnull)
					add(p, o, "drop not null", SL_CH_BREAKING, ae, "readers may now see NULL");
				if (!same(o->dflt, a->dflt))
					add(p, o, "change default", SL_CH_SAFE, ae, "%s -> %s", o->dflt ? o->dflt : "none",
					    a->dflt ? a->dflt : "none");
			} else if (strcmp(kind, "table") != 0 && !same(o->type, a->type)) {
				enum sl_change_class c = !strcmp(kind, "constraint") ? SL_CH_BREAKING : SL_CH_SAFE;
				add(p, o, !strcmp(kind, "view") ? "change view" : !strcmp(kind, "index") ? "change index"
					 : !strcmp(kind, "trigger") ? "change trigger" : "change constraint",
				    c, ae, "%s", a->type);
			}
		}
		for (size_t i = 0; i < after->n; i++) {
			const struct sl_cat_obj *a = &after->v[i];
			if (strcmp(a->kind, kind) != 0 || sl_catalog_find(before, kind, a->name))
				continue;
			/* a column of a new table is part of that table */
			if (a->table && !strcmp(kind, "column") && !sl_catalog_find(before, "table", a->table))
				continue;
			if (!strcmp(kind, "table")) {
				add(p, a, "add table", SL_CH_SAFE, "none (new table)", "new");
			} else if (!strcmp(kind, "column")) {
				int required = a->notnull && !a->dflt;
				add(p, a, "add column", required ? SL_CH_BREAKING : SL_CH_SAFE, ae, "%s%s%s%s%s", a->type,
				    a->notnull ? " NOT NULL" : "", a->dflt ? " DEFAULT " : "", a->dflt ? a->dflt : "",
				    required ? "; writers that omit it fail" : "");
			} else if (!strcmp(kind, "index")) {
				int fresh = a->table && !sl_catalog_find(before, "table", a->table);
				add(p, a, "add index", SL_CH_SAFE,
				    fresh ? "none (new table)"
					  : pg ? "SHARE (blocks writes) unless CONCURRENTLY" : "database write lock",
				    "%s", a->type);
			} else if (!strcmp(kind, "constraint")) {
				int fresh = a->table && !sl_catalog_find(before, "table", a->table);
				add(p, a, "add constraint", fresh ? SL_CH_SAFE : SL_CH_BREAKING,
				    fresh ? "none (new table)" : ae, "%s%s", a->type,
				    fresh ? "" : "; writes that violate it now fail");
			} else if (!strcmp(kind, "view")) {
				add(p, a, "add view", SL_CH_SAFE, "none", "new");
			} else {
				add(p, a, "add trigger", SL_CH_SAFE, ae, "%s", a->type);
			}
		}
	}
}

/*
 * With a scratch database (shadow_url): it must be empty; the migrations
 * applied to the environment are replayed on a shadow of it (rolled back
 * / in memory) for the "before" catalog, then the pending ones for the
 * "after", so the environment itself takes no lock at all.  Where the
 * replayed schema differs from the environment's, that is drift,
 * reported beside the plan.
 */
int sl_plan_replay_applied(struct sl_engine *eng, struct sl_engine *e2, struct sl_error *err)
{
	struct sl_status st;
	if (sl_status_compute(eng, &st, err))
		return -1;
	int rc = 0;
	if (st.current) {
		struct sl_run_result res;
		memset(&res, 0, sizeof(res));
		rc = sl_migrate(e2, st.current, 0, &res, err);
		if (rc)
			sl_err_prefix(err, "replaying the applied migrations on the scratch database: ");
		sl_run_result_free(&res);
	}
	sl_status_free(&st);
	return rc;
}

static int scratch_is_empty(struct sl_db *scratch, struct sl_error *err)
{
	int state = 0;
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	if (scratch->driver->has_state(scratch, &state, err) ||
	    scratch->driver->catalog(scratch, &cat, err))
		return -1;
	size_t n = cat.n;
	sl_catalog_free(&cat);
	if (state || n)
		return sl_err(err, SL_ENV,
			      "the shadow database %s is not empty (%s): plan needs an empty scratch "
			      "database", scratch->url_masked,
			      state ? "it has sluice's state tables" : "it has tables");
	return 0;
}

int sl_plan_compute(struct sl_engine *eng, struct sl_db *scratch, struct sl_plan *out,
		    struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	struct sl_db *db = eng->db, *shadow = NULL;
	const struct sl_db_driver *d = db->driver;
	struct sl_catalog before, after, live;
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	memset(&live, 0, sizeof(live));
	struct sl_run_result res;
	memset(&res, 0, sizeof(res));
	int rc = -1;
	struct sl_engine e2 = *eng;
	e2.on_event = NULL;
	if (scratch) {
		if (strcmp(scratch->driver->name, d->name) != 0) {
			sl_err(err, SL_USAGE, "the shadow database is %s but the environment is %s",
			       scratch->driver->name, d->name);
			goto out;
		}
		if (d->catalog(db, &live, err) || scratch_is_empty(scratch, err) ||
		    d->shadow(scratch, &shadow, err))
			goto out;
		e2.db = shadow;
		if (sl_plan_replay_applied(eng, &e2, err) || d->catalog(shadow, &before, err))
			goto out;
		struct sl_plan drift;
		memset(&drift, 0, sizeof(drift));
		diff(&drift, &before, &live, strcmp(d->name, "postgres") == 0);
		for (size_t i = 0; i < drift.n; i++) {
			struct sl_buf b = SL_BUF_INIT;
			sl_buf_printf(&b, "%s %s", drift.v[i].kind, drift.v[i].object);
			sl_strvec_push_owned(&out->drift, sl_buf_detach(&b));
		}
		sl_plan_free(&drift);
	} else if (d->catalog(db, &before, err) || d->shadow(db, &shadow, err)) {
		goto out;
	}
	out->shadow = sl_strdup(shadow->url_masked);
	e2.db = shadow;
	if (sl_migrate(&e2, NULL, 0, &res, err)) {
		sl_err_prefix(err, "on the shadow: ");
		goto out;
	}
	out->pending = res.nsteps;
	if (d->catalog(shadow, &after, err))
		goto out;
	/* close the shadow first: on PostgreSQL its transaction holds the
	 * locks of what it changed, and the row counts below would wait */
	sl_db_close(shadow);
	shadow = NULL;
	diff(out, &before, &after, strcmp(d->name, "postgres") == 0);
	/* rows of the existing tables each change touches */
	for (size_t i = 0; i < out->n; i++) {
		struct sl_change *c = &out->v[i];
		if (!c->table || !sl_catalog_find(scratch ? &live : &before, "table", c->table))
			continue;
		for (size_t k = 0; k < i; k++)
			if (out->v[k].table && !strcmp(out->v[k].table, c->table) && out->v[k].rows >= 0) {
				c->rows = out->v[k].rows;
				break;
			}
		if (c->rows < 0 && d->count_rows(db, c->table, &c->rows, err))
			goto out;
	}
	rc = 0;
out:
	sl_run_result_free(&res);
	sl_db_close(shadow);
	sl_catalog_free(&before);
	sl_catalog_free(&after);
	sl_catalog_free(&live);
	if (rc)
		sl_plan_free(out);
	return rc;
}

size_t sl_plan_contracts(struct sl_plan *p, const struct sl_contracts *c)
{
	size_t hits = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct sl_change *ch = &p->v[i];
		if (!ch->table)
			continue;
		/* "table.column" names a column; a table's own changes are whole */
		const char *col = NULL;
		size_t tl = strlen(ch->table);
		if (!strncmp(ch->object, ch->table, tl) && ch->object[tl] == '.' &&
		    strstr(ch->kind, "column"))
			col = ch->object + tl + 1;
		int whole = !strcmp(ch->kind, "drop table") || !strcmp(ch->kind, "add table");
		if (!col && !whole)
			continue; /* indexes, constraints, triggers: no reader sees them */
		for (const struct sl_feature_contract *f = NULL;
		     (f = sl_contracts_feature_next(c, ch->table, f));) {
			int named = !col || sl_feature_col_find(f, col) ||
				    (f->label && !strcasecmp(f->label, col)) ||
				    (f->timestamp && !strcasecmp(f->timestamp, col));
			for (size_t k = 0; col && !named && k < f->keys.n; k++)
				named = !strcasecmp(f->keys.v[k], col);
			if (named)
				sl_strvec_push(&ch->features, f->name);
		}
		for (size_t k = 0; k < c->nmodels; k++) {
			const struct sl_model_contract *m = &c->models[k];
			if (!sl_model_reads(m, ch->table, col, 1))
				continue;
			struct sl_buf id = SL_BUF_INIT;
			sl_model_id(&id, m);
			sl_strvec_push_owned(&ch->models, sl_buf_detach(&id));
		}
		if (ch->models.n && ch->cls != SL_CH_SAFE && strcmp(ch->kind, "add column") != 0)
			hits++;
	}
	return hits;
}

int sl_plan_open_scratch(const struct sl_config *cfg, const char *env_name, const char *url,
			 struct sl_db **out, struct sl_error *err)
{
	*out = NULL;
	struct sl_buf u = SL_BUF_INIT;
	const char *base = ".";
	if (url) {
		sl_buf_adds(&u, url);
	} else if (env_name) {
		const struct sl_env *env = sl_config_env(cfg, env_name, NULL);
		if (!env || !env->shadow_url)
			return 0;
		if (sl_config_env_shadow_url(cfg, env, &u, err)) {
			sl_buf_free(&u);
			return -1;
		}
		base = cfg->dir;
	} else {
		return 0;
	}
	int rc = sl_db_open(out, u.s, base, err);
	if (rc && err && !err->file[0])
		sl_err_prefix(err, "shadow database: ");
	sl_buf_free(&u);
	return rc;
}
