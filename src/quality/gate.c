/*
 * gate.c - data quality gates over one streaming pass (see gate.h).
 */
#include "gate.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/yaml.h"
#include "../db/db.h"
#include "../stats/profile.h"
#include "../stats/sketch.h"
#include "baseline.h"
#include "drift.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SAMPLE_KEYS 10
#define MAX_GROUPS 1000

/* ---- settings from the contract's gates: section ---------------------------- */

static double gate_num(const struct sl_feature_contract *f, const char *gate, const char *key,
		       double dflt)
{
	const struct sl_ynode *g = f->gates ? sl_ymap_get(f->gates, gate) : NULL;
	const struct sl_ynode *v = g ? sl_ymap_get(g, key) : NULL;
	if (!v || v->type != SL_Y_SCALAR)
		return dflt;
	char *end;
	double d = strtod(v->scalar, &end);
	return end != v->scalar && !*end ? d : dflt;
}

static const char *gate_str(const struct sl_feature_contract *f, const char *gate, const char *key)
{
	const struct sl_ynode *g = f->gates ? sl_ymap_get(f->gates, gate) : NULL;
	const struct sl_ynode *v = g ? sl_ymap_get(g, key) : NULL;
	return v && v->type == SL_Y_SCALAR ? v->scalar : NULL;
}

/* ---- the pass ------------------------------------------------------------ */

struct keys {                     /* up to SAMPLE_KEYS keys of failing rows */
	char *v[SAMPLE_KEYS];
	size_t n;
};

static void keys_add(struct keys *k, const char *key)
{
	if (k->n < SAMPLE_KEYS)
		k->v[k->n++] = sl_strdup(key);
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	k->n = 0;
}

static json_t *keys_json(const struct keys *k)
{
	json_t *a = json_array();
	for (size_t i = 0; i < k->n; i++)
		json_array_append_new(a, json_string(k->v[i]));
	return a;
}

struct colstate {
	const struct sl_feature_col *c;
	int idx;                      /* position in the row */
	enum sl_type_family fam;
	regex_t re;
	int has_re;
	unsigned long long nulls, checked, invalid;
	unsigned long long bad_type, bad_range, bad_allowed, bad_regex, bad_null;
	struct keys null_keys, bad_keys;
};

struct group {
	char *value;
	unsigned long long n, outcome_known, selected, tp, fp, fn, tn;
};

struct fairstate {
	const struct sl_feature_col *c;
	int idx;
	struct group *g;
	size_t ng;
	int overflow;
};

struct pass {
	const struct sl_feature_contract *f;
	struct colstate *cols;
	size_t ncols;
	struct fairstate *fair;
	size_t nfair;
	int *key_idx;
	size_t nkeys;
	int ts_idx, label_idx, pred_idx;
	unsigned long long rows;
	char *ts_max;
	double ts_max_num;
	int ts_numeric;
	struct sl_buf key;
	struct sl_profile prof;       /* the contract's columns, for drift */
	/* relevance: a uniform reservoir of rows, the label then each column */
	double *res;                  /* RES_ROWS x (1 + ncols) */
	double *num;                  /* this row's numbers, NaN where none */
	/* typed rows: numbers of contract columns stay numbers */
	const char **vals;            /* the row as text (NUMBER_CELL: see cellnum) */
	double *cellnum;
	char (*cellbuf)[32];
	unsigned char *needs_text;    /* keys, groups, label, prediction, timestamp */
	size_t nsel;
	size_t res_n;
	unsigned long long res_seen;
	uint64_t rng;
};

#define RES_ROWS 10000

static int truth(const char *v, int *out)
{
	if (!v)
		return -1;
	if (!strcasecmp(v, "t") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "y")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(v, "f") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "n")) {
		*out = 0;
		return 0;
	}
	char *end;
	double d = strtod(v, &end);
	if (end == v || *end || !isfinite(d))
		return -1;
	*out = d != 0;
	return 0;
}

static int allowed(const struct sl_feature_col *c, const char *v)
{
	char *end;
	double dv = strtod(v, &end);
	int vnum = end != v && !*end;
	for (size_t i = 0; i < c->allowed.n; i++) {
		const char *a = c->allowed.v[i];
		if (!strcmp(a, v))
			return 1;
		if (vnum) {
			double da = strtod(a, &end);
			if (end != a && !*end && da == dv)
				return 1;
		}
	}
	return 0;
}

static void check_value(struct pass *p, struct colstate *s, const char *v, double num,
			int num_bad)
{
	const struct sl_feature_col *c = s->c;
	if (!v) {
		s->nulls++;
		if (c->nullable == 0) {
			s->checked++;
			s->invalid++;
			s->bad_null++;
			keys_add(&s->bad_keys, p->key.s);
		}
		keys_add(&s->null_keys, p->key.s);
		return;
	}
	int has_checks = s->fam == SL_TF_INT || s->fam == SL_TF_FLOAT || s->fam == SL_TF_BOOL ||
			 !isnan(c->min) || !isnan(c->max) || c->allowed.n || s->has_re;
	if (!has_checks)
		return;
	s->checked++;
	int bad = 0;
	if (s->fam == SL_TF_INT || s->fam == SL_TF_FLOAT) {
		double d = num;
		if (num_bad || (s->fam == SL_TF_INT && d != floor(d))) {
			s->bad_type++;
			bad = 1;
		} else if ((!isnan(c->min) && d < c->min) || (!isnan(c->max) && d > c->max)) {
			s->bad_range++;
			bad = 1;
		}
	} else if (s->fam == SL_TF_BOOL) {
		int t;
		if (truth(v, &t)) {
			s->bad_type++;
			bad = 1;
		}
	}
	if (!bad && c->allowed.n && !allowed(c, v)) {
		s->bad_allowed++;
		bad = 1;
	}
	if (!bad && s->has_re && regexec(&s->re, v, 0, NULL, 0) != 0) {
		s->bad_regex++;
		bad = 1;
	}
	if (bad) {
		s->invalid++;
		keys_add(&s->bad_keys, p->key.s);
	}
}

static void fair_add(struct pass *p, struct fairstate *fs, const char *const *vals)
{
	const char *gv = vals[fs->idx] ? vals[fs->idx] : "(null)";
	struct group *g = NULL;
	for (size_t i = 0; i < fs->ng; i++)
		if (!strcmp(fs->g[i].value, gv)) {
			g = &fs->g[i];
			break;
		}
	if (!g) {
		if (fs->ng == MAX_GROUPS) {
			fs->overflow = 1;
			return;
		}
		fs->g = sl_realloc(fs->g, (fs->ng + 1) * sizeof(*fs->g));
		g = &fs->g[fs->ng++];
		memset(g, 0, sizeof(*g));
		g->value = sl_strdup(gv);
	}
	g->n++;
	int label = -1, pred = -1, t;
	if (p->label_idx >= 0 && !truth(vals[p->label_idx], &t))
		label = t;
	if (p->pred_idx >= 0 && !truth(vals[p->pred_idx], &t))
		pred = t;
	int outcome = p->pred_idx >= 0 ? pred : label;
	if (outcome < 0)
		return;
	g->outcome_known++;
	g->selected += outcome == 1;
	if (label >= 0 && pred >= 0) {
		g->tp += label && pred;
		g->fp += !label && pred;
		g->fn += label && !pred;
		g->tn += !label && !pred;
	}
}

static void reservoir_add(struct pass *p, const char *const *vals);

/* A contract column's number handed over as a number (p->cellnum). */
static const char NUMBER_CELL[] = "";

static int on_row(void *arg, int ncols, const char *const *vals);

static int on_cells(void *arg, int ncols, const struct sl_cell *cells)
{
	struct pass *p = arg;
	for (int j = 0; j < ncols && (size_t)j < p->nsel; j++) {
		const struct sl_cell *c = &cells[j];
		if ((c->type == SL_CELL_INT || c->type == SL_CELL_REAL) && !p->needs_text[j]) {
			p->vals[j] = NUMBER_CELL;
			p->cellnum[j] = c->d;
		} else {
			p->vals[j] = sl_cell_text(c, p->cellbuf[j]);
		}
	}
	return on_row(arg, ncols, p->vals);
}

static int on_row(void *arg, int ncols, const char *const *vals)
{
	struct pass *p = arg;
	(void)ncols;
	p->rows++;
	sl_buf_reset(&p->key);
	for (size_t i = 0; i < p->nkeys; i++) {
		if (i)
			sl_buf_addc(&p->key, ',');
		const char *v = vals[p->key_idx[i]];
		sl_buf_adds(&p->key, v ? v : "NULL");
	}
	if (!p->nkeys)
		sl_buf_printf(&p->key, "row %llu", p->rows);
	p->prof.rows++;
	for (size_t i = 0; i < p->ncols; i++) {
		const char *v = vals[p->cols[i].idx];
		struct sl_colprof *c = &p->prof.cols[i];
		/* a number is read once for the checks, the profile and the sample */
		double d = NAN;
		int bad = 1;
		char buf[32];
		if (v == NUMBER_CELL) {
			d = p->cellnum[p->cols[i].idx];
			bad = !isfinite(d);
			if (c->kind != SL_COL_NUMERIC || p->cols[i].c->allowed.n || p->cols[i].has_re) {
				/* text is wanted after all: as SQLite would print it */
				snprintf(buf, sizeof(buf), "%.15g", d);
				v = buf;
			}
		} else if (v && (c->kind == SL_COL_NUMERIC || p->cols[i].fam == SL_TF_INT ||
				 p->cols[i].fam == SL_TF_FLOAT)) {
			bad = sl_read_number(v, &d) != 0;
		}
		p->num[i] = bad ? NAN : d;
		check_value(p, &p->cols[i], v, d, bad);
		if (c->kind == SL_COL_NUMERIC)
			sl_colprof_add_parsed(c, v, d, bad, p->prof.exact_rows);
		else
			sl_colprof_add(c, v, p->prof.exact_rows);
	}
	for (size_t i = 0; i < p->nfair; i++)
		fair_add(p, &p->fair[i], vals);
	if (p->res)
		reservoir_add(p, vals);
	if (p->ts_idx >= 0 && vals[p->ts_idx]) {
		const char *v = vals[p->ts_idx];
		if (p->ts_numeric) {
			double d = strtod(v, NULL);
			if (p->rows == 1 || d > p->ts_max_num)
				p->ts_max_num = d;
		} else if (!p->ts_max || strcmp(v, p->ts_max) > 0) {
			free(p->ts_max);
			p->ts_max = sl_strdup(v);
		}
	}
	return 0;
}

/* ---- SQL for evidence ---------------------------------------------------- */

static void quote_lit(struct sl_buf *b, const char *s)
{
	sl_buf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sl_buf_addc(b, '\'');
		sl_buf_addc(b, *s);
	}
	sl_buf_addc(b, '\'');
}

/* SELECT <keys> FROM <table> WHERE */
static void select_keys(const struct sl_db_driver *d, const struct sl_feature_contract *f,
			struct sl_buf *b)
{
	sl_buf_adds(b, "SELECT ");
	for (size_t i = 0; i < f->keys.n; i++) {
		if (i)
			sl_buf_adds(b, ", ");
		d->quote_ident(b, f->keys.v[i]);
	}
	if (!f->keys.n)
		sl_buf_adds(b, "*");
	sl_buf_adds(b, " FROM ");
	sl_db_quote_table(d, b, f->table);
	sl_buf_adds(b, " WHERE ");
}

static char *null_sql(const struct sl_db_driver *d, const struct sl_feature_contract *f,
		      const char *col)
{
	struct sl_buf b = SL_BUF_INIT;
	select_keys(d, f, &b);
	d->quote_ident(&b, col);
	sl_buf_adds(&b, " IS NULL");
	return sl_buf_detach(&b);
}

/* The rows failing a column's validity checks, as SQL. */
static char *invalid_sql(const struct sl_db_driver *d, const struct sl_feature_contract *f,
			 const struct colstate *s, int pg)
{
	const struct sl_feature_col *c = s->c;
	struct sl_buf b = SL_BUF_INIT, q = SL_BUF_INIT, cond = SL_BUF_INIT;
	d->quote_ident(&q, c->name);
	if (pg && (s->fam == SL_TF_INT || s->fam == SL_TF_FLOAT) && (!isnan(c->min) || !isnan(c->max)))
		; /* the database's type already guarantees numbers */
	else if (!pg && (s->fam == SL_TF_INT || s->fam == SL_TF_FLOAT))
		sl_buf_printf(&cond, "typeof(%s) IN ('integer', 'real')%s", q.s,
			      s->fam == SL_TF_INT ? "" : "");
	if (!isnan(c->min))
		sl_buf_printf(&cond, "%s%s >= %.17g", cond.len ? " AND " : "", q.s, c->min);
	if (!isnan(c->max))
		sl_buf_printf(&cond, "%s%s <= %.17g", cond.len ? " AND " : "", q.s, c->max);
	if (c->allowed.n) {
		sl_buf_printf(&cond, "%s%s IN (", cond.len ? " AND " : "", q.s);
		for (size_t i = 0; i < c->allowed.n; i++) {
			if (i)
				sl_buf_adds(&cond, ", ");
			quote_lit(&cond, c->allowed.v[i]);
		}
		sl_buf_addc(&cond, ')');
	}
	if (s->has_re && pg) {
		sl_buf_printf(&cond, "%s%s ~ ", cond.len ? " AND " : "", q.s);
		quote_lit(&cond, c->regex);
	}
	select_keys(d, f, &b);
	if (c->nullable == 0)
		sl_buf_printf(&b, "%s IS NULL%s", q.s, cond.len ? " OR " : "");
	if (cond.len)
		sl_buf_printf(&b, "(%s IS NOT NULL AND NOT (%s))", q.s, cond.s);
	else if (c->nullable != 0)
		sl_buf_adds(&b, "false");
	if (s->has_re && !pg)
		sl_buf_adds(&b, " -- SQLite has no regex operator: the regex is not in this SQL");
	sl_buf_free(&q);
	sl_buf_free(&cond);
	return sl_buf_detach(&b);
}

/* ---- results ------------------------------------------------------------- */

static struct sl_gate_result *add_result(struct sl_gate_report *rep, const char *table,
					 const char *gate, const char *subject, double score,
					 double threshold, int higher_is_better)
{
	rep->v = sl_realloc(rep->v, (rep->n + 1) * sizeof(*rep->v));
	struct sl_gate_result *g = &rep->v[rep->n++];
	g->table = sl_strdup(table);
	g->gate = sl_strdup(gate);
	g->subject = subject ? sl_strdup(subject) : NULL;
	g->score = score;
	g->threshold = threshold;
	g->higher_is_better = higher_is_better;
	g->passed = isfinite(score) && (higher_is_better ? score >= threshold : score <= threshold);
	g->details = json_object();
	return g;
}

static void explain(struct sl_gate_report *rep, const struct sl_gate_opts *o, const char *what,
		    const char *sql)
{
	if (!o->explain)
		return;
	if (!rep->explain)
		rep->explain = sl_calloc(1, sizeof(*rep->explain));
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_printf(&b, "%s: %s", what, sql);
	sl_strvec_push_owned(rep->explain, sl_buf_detach(&b));
}

void sl_gate_report_free(struct sl_gate_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->v[i].table);
		free(rep->v[i].gate);
		free(rep->v[i].subject);
		json_decref(rep->v[i].details);
	}
	free(rep->v);
	if (rep->explain) {
		sl_strvec_free(rep->explain);
		free(rep->explain);
	}
	memset(rep, 0, sizeof(*rep));
}

size_t sl_gate_failed(const struct sl_gate_report *rep)
{
	size_t n = 0;
	for (size_t i = 0; i < rep->n; i++)
		n += !rep->v[i].passed;
	return n;
}

static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *sl_gate_result_json(const struct sl_gate_result *g)
{
	json_t *o = json_object();
	json_object_set_new(o, "table", json_string(g->table));
	json_object_set_new(o, "gate", json_string(g->gate));
	json_object_set_new(o, "column", g->subject ? json_string(g->subject) : json_null());
	json_object_set_new(o, "score", jnum(g->score));
	json_object_set_new(o, "threshold", jnum(g->threshold));
	json_object_set_new(o, "passed", json_boolean(g->passed));
	json_object_set_new(o, "details", json_incref(g->details));
	return o;
}

/* ---- freshness ----------------------------------------------------------- */

/* Seconds since the epoch of "YYYY-MM-DD[ T]HH:MM:SS[.fff][Z|+HH[:MM]]". */
static int parse_time(const char *s, double *out)
{
	int y, mo, d, h = 0, mi = 0, n = 0;
	double sec = 0;
	if (sscanf(s, "%d-%d-%d%n", &y, &mo, &d, &n) != 3)
		return -1;
	const char *p = s + n;
	if (*p == ' ' || *p == 'T') {
		int k = 0;
		if (sscanf(p + 1, "%d:%d:%lf%n", &h, &mi, &sec, &k) < 2)
			return -1;
		p += 1 + k;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	double t = (double)timegm(&tm) + sec;
	if (*p == '+' || *p == '-') {
		int oh = 0, om = 0;
		sscanf(p + 1, "%2d:%2d", &oh, &om);
		if (!om && strlen(p + 1) == 4)
			sscanf(p + 1, "%2d%2d", &oh, &om);
		double off = oh * 3600.0 + om * 60.0;
		t += *p == '+' ? -off : off;
	}
	*out = t;
	return 0;
}

/* ---- agreement with another table, by key (consistency, accuracy) -------- */

struct agree {
	unsigned long long rows, missing, cells, agreeing;
	unsigned long long *per_col;
	size_t ncols;
	struct keys sample;
	size_t nkeys;
};

static int on_agree(void *arg, int n, const char *const *v)
{
	struct agree *a = arg;
	/* rows, missing, then one agreeing count per column */
	if ((size_t)n < 2 + a->ncols)
		return 1;
	a->rows = strtoull(v[0] ? v[0] : "0", NULL, 10);
	a->missing = strtoull(v[1] ? v[1] : "0", NULL, 10);
	for (size_t i = 0; i < a->ncols; i++) {
		a->per_col[i] = strtoull(v[2 + i] ? v[2 + i] : "0", NULL, 10);
		a->agreeing += a->per_col[i];
	}
	return 1;
}

static int on_disagree(void *arg, int n, const char *const *v)
{
	struct agree *a = arg;
	struct sl_buf b = SL_BUF_INIT;
	for (size_t i = 0; i < a->nkeys && (int)i < n; i++)
		sl_buf_printf(&b, "%s%s", i ? "," : "", v[i] ? v[i] : "NULL");
	keys_add(&a->sample, b.s);
	sl_buf_free(&b);
	return a->sample.n >= SAMPLE_KEYS;
}

/*
 * The SQL of one column's agreement: equal, both NULL, or for numbers
 * within the tolerance.  "t" is the contract's table, "s" the other one.
 */
static void agree_expr(const struct sl_db_driver *d, struct sl_buf *b, const char *col,
		       int numeric, double tol)
{
	struct sl_buf q = SL_BUF_INIT;
	d->quote_ident(&q, col);
	if (numeric)
		sl_buf_printf(b, "((t.%s IS NULL AND s.%s IS NULL) OR abs(t.%s - s.%s) <= %.17g)", q.s,
			      q.s, q.s, q.s, tol);
	else
		sl_buf_printf(b, "((t.%s IS NULL AND s.%s IS NULL) OR t.%s = s.%s)", q.s, q.s, q.s, q.s);
	sl_buf_free(&q);
}

/*
 * Agreement of the contract's table with src by key, pushed down as one
 * LEFT JOIN the database runs: the share of compared cells that agree,
 * a row missing from src counting as disagreeing in every column.
 */
static int agreement_gate(struct sl_db *db, const struct sl_feature_contract *f,
			  const struct sl_source *src, const char *gate, double min,
			  const struct sl_catalog *cat, const struct sl_gate_opts *o,
			  struct sl_gate_report *rep, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	const char *sbare = !strncasecmp(src->table, "public.", 7) ? src->table + 7 : src->table;
	const char *tbare = !strncasecmp(f->table, "public.", 7) ? f->table + 7 : f->table;
	struct sl_strvec cols = SL_STRVEC_INIT;
	struct sl_buf k = SL_BUF_INIT, q = SL_BUF_INIT, on = SL_BUF_INIT, all = SL_BUF_INIT;
	int rc = -1, *numeric = NULL;
	struct agree a;
	memset(&a, 0, sizeof(a));
	if (!sl_catalog_find(cat, "table", sbare)) {
		struct sl_gate_result *g = add_result(rep, f->table, gate, NULL, 0, min, 1);
		json_object_set_new(g->details, "error", json_string("the other table does not exist"));
		json_object_set_new(g->details, "with", json_string(src->table));
		rc = 0;
		goto out;
	}
	/* the columns compared: as listed, else the contract's columns both have */
	for (size_t i = 0; i < (src->columns.n ? src->columns.n : f->ncols); i++) {
		const char *c = src->columns.n ? src->columns.v[i] : f->cols[i].name;
		sl_buf_reset(&k);
		sl_buf_printf(&k, "%s.%s", sbare, c);
		int in_src = sl_catalog_find(cat, "column", k.s) != NULL;
		sl_buf_reset(&k);
		sl_buf_printf(&k, "%s.%s", tbare, c);
		const struct sl_cat_obj *co = sl_catalog_find(cat, "column", k.s);
		if (!in_src || !co) {
			if (src->columns.n) {
				sl_err_at(err, SL_USAGE, f->path, 0, 0, "%s: column %s is not in both %s and %s",
					  gate, c, f->table, src->table);
				goto out;
			}
			continue;
		}
		sl_strvec_push(&cols, c);
		numeric = sl_realloc(numeric, cols.n * sizeof(*numeric));
		enum sl_type_family fam = sl_type_family(co->type);
		numeric[cols.n - 1] = fam == SL_TF_INT || fam == SL_TF_FLOAT;
	}
	if (!cols.n || !f->keys.n) {
		struct sl_gate_result *g = add_result(rep, f->table, gate, NULL, 0, min, 1);
		json_object_set_new(g->details, "error",
				    json_string(!f->keys.n ? "the contract has no key to match rows by"
							   : "no column to compare"));
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < f->keys.n; i++) {
		struct sl_buf kq = SL_BUF_INIT;
		d->quote_ident(&kq, f->keys.v[i]);
		sl_buf_printf(&on, "%st.%s = s.%s", i ? " AND " : "", kq.s, kq.s);
		sl_buf_free(&kq);
	}
	sl_buf_adds(&q, "SELECT count(*), sum(CASE WHEN s.");
	d->quote_ident(&q, f->keys.v[0]);
	sl_buf_adds(&q, " IS NULL THEN 1 ELSE 0 END)");
	for (size_t i = 0; i < cols.n; i++) {
		struct sl_buf e = SL_BUF_INIT;
		agree_expr(d, &e, cols.v[i], numeric[i], src->tolerance);
		sl_buf_printf(&q, ", sum(CASE WHEN s.");
		d->quote_ident(&q, f->keys.v[0]);
		sl_buf_printf(&q, " IS NOT NULL AND %s THEN 1 ELSE 0 END)", e.s);
		sl_buf_printf(&all, "%s%s", i ? " AND " : "", e.s);
		sl_buf_free(&e);
	}
	struct sl_buf from = SL_BUF_INIT;
	sl_buf_adds(&from, " FROM ");
	sl_db_quote_table(d, &from, f->table);
	sl_buf_adds(&from, " t LEFT JOIN ");
	sl_db_quote_table(d, &from, src->table);
	sl_buf_printf(&from, " s ON %s", on.s);
	sl_buf_add(&q, from.s, from.len);
	if (o->where)
		sl_buf_printf(&q, " WHERE %s", o->where);
	explain(rep, o, gate, q.s);
	a.ncols = cols.n;
	a.nkeys = f->keys.n;
	a.per_col = sl_calloc(cols.n, sizeof(*a.per_col));
	int r = d->stream(db, q.s, on_agree, &a, err);
	/* the rows that disagree: their keys, and the SQL for all of them */
	struct sl_buf bad = SL_BUF_INIT;
	sl_buf_adds(&bad, "SELECT ");
	for (size_t i = 0; i < f->keys.n; i++) {
		sl_buf_adds(&bad, i ? ", t." : "t.");
		d->quote_ident(&bad, f->keys.v[i]);
	}
	sl_buf_add(&bad, from.s, from.len);
	sl_buf_printf(&bad, " WHERE (s.");
	d->quote_ident(&bad, f->keys.v[0]);
	sl_buf_printf(&bad, " IS NULL OR NOT (%s))%s%s", all.s, o->where ? " AND " : "",
		      o->where ? o->where : "");
	if (!r)
		r = d->stream(db, bad.s, on_disagree, &a, err);
	sl_buf_free(&from);
	if (r) {
		sl_buf_free(&bad);
		goto out;
	}
	unsigned long long cells = a.rows * cols.n;
	double score = cells ? (double)a.agreeing / (double)cells : 1;
	struct sl_gate_result *g = add_result(rep, f->table, gate, NULL, score, min, 1);
	json_object_set_new(g->details, "with", json_string(src->table));
	json_object_set_new(g->details, "rows", json_integer((json_int_t)a.rows));
	json_object_set_new(g->details, "missing_rows", json_integer((json_int_t)a.missing));
	json_object_set_new(g->details, "cells", json_integer((json_int_t)cells));
	json_object_set_new(g->details, "agreeing", json_integer((json_int_t)a.agreeing));
	json_object_set_new(g->details, "tolerance", json_real(src->tolerance));
	json_t *per = json_array();
	for (size_t i = 0; i < cols.n; i++)
		json_array_append_new(per, json_pack("{s:s, s:f}", "column", cols.v[i], "agreement",
						     a.rows ? (double)a.per_col[i] / (double)a.rows : 1.0));
	json_object_set_new(g->details, "columns", per);
	if (a.agreeing < cells) {
		json_object_set_new(g->details, "sample_keys", keys_json(&a.sample));
		json_object_set_new(g->details, "sql", json_string(bad.s));
	}
	sl_buf_free(&bad);
	rc = 0;
out:
	keys_free(&a.sample);
	free(a.per_col);
	free(numeric);
	sl_strvec_free(&cols);
	sl_buf_free(&k);
	sl_buf_free(&q);
	sl_buf_free(&on);
	sl_buf_free(&all);
	return rc;
}

/*
 * Temporal consistency (no leakage): a feature row stamped after the time
 * its label became known was computed with knowledge of the outcome.  The
 * share of such rows must not exceed max_share (default 0).
 */
static int temporal_gate(struct sl_db *db, const struct sl_feature_contract *f,
			 const struct sl_gate_opts *o, struct sl_gate_report *rep,
			 struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	struct sl_buf ts = SL_BUF_INIT, lts = SL_BUF_INIT, q = SL_BUF_INIT, bad = SL_BUF_INIT;
	d->quote_ident(&ts, f->timestamp);
	d->quote_ident(&lts, f->label_timestamp);
	sl_buf_printf(&q, "SELECT count(*), sum(CASE WHEN %s > %s THEN 1 ELSE 0 END) FROM ", ts.s,
		      lts.s);
	sl_db_quote_table(d, &q, f->table);
	sl_buf_printf(&q, " WHERE %s IS NOT NULL AND %s IS NOT NULL%s%s", ts.s, lts.s,
		      o->where ? " AND " : "", o->where ? o->where : "");
	explain(rep, o, "temporal_consistency", q.s);
	struct agree a; /* rows, and the leaked ones as "missing" */
	memset(&a, 0, sizeof(a));
	int rc = d->stream(db, q.s, on_agree, &a, err);
	select_keys(d, f, &bad);
	sl_buf_printf(&bad, "%s > %s%s%s", ts.s, lts.s, o->where ? " AND " : "",
		      o->where ? o->where : "");
	a.nkeys = f->keys.n;
	if (!rc && a.missing)
		rc = d->stream(db, bad.s, on_disagree, &a, err);
	if (!rc) {
		double leaked = a.rows ? (double)a.missing / (double)a.rows : 0;
		double max = gate_num(f, "temporal_consistency", "max_share", 0);
		struct sl_gate_result *g = add_result(rep, f->table, "temporal_consistency",
						      f->timestamp, 1 - leaked, 1 - max, 1);
		json_object_set_new(g->details, "label_timestamp", json_string(f->label_timestamp));
		json_object_set_new(g->details, "rows", json_integer((json_int_t)a.rows));
		json_object_set_new(g->details, "leaked_rows", json_integer((json_int_t)a.missing));
		json_object_set_new(g->details, "leaked_share", json_real(leaked));
		json_object_set_new(g->details, "max_share", json_real(max));
		if (a.missing) {
			json_object_set_new(g->details, "sample_keys", keys_json(&a.sample));
			json_object_set_new(g->details, "sql", json_string(bad.s));
		}
	}
	keys_free(&a.sample);
	sl_buf_free(&ts);
	sl_buf_free(&lts);
	sl_buf_free(&q);
	sl_buf_free(&bad);
	return rc;
}

/*
 * One number for a table's feature quality: the weighted mean of the
 * scores of its completeness, validity, uniqueness, consistency, accuracy
 * and relevance gates and of 1 - the drift share, over those that ran (weights
 * 1 unless `feature_quality: {weights: {GATE: W}}`).  Schema, freshness
 * and fairness gate separately.
 */
static void quality_score(const struct sl_feature_contract *f, struct sl_gate_report *rep,
			  size_t first)
{
	static const char *const parts[] = { "completeness", "validity", "uniqueness", "consistency",
					     "accuracy", "relevance", "drift" };
	const struct sl_ynode *fq = f->gates ? sl_ymap_get(f->gates, "feature_quality") : NULL;
	const struct sl_ynode *w = fq ? sl_ymap_get(fq, "weights") : NULL;
	double sum = 0, wsum = 0;
	json_t *used = json_object();
	for (size_t i = first; i < rep->n; i++) {
		const struct sl_gate_result *g = &rep->v[i];
		for (size_t k = 0; k < sizeof(parts) / sizeof(*parts); k++) {
			if (strcmp(g->gate, parts[k]) || !isfinite(g->score))
				continue;
			const struct sl_ynode *wn = w ? sl_ymap_get(w, parts[k]) : NULL;
			double weight = wn && wn->type == SL_Y_SCALAR ? strtod(wn->scalar, NULL) : 1;
			double v = !strcmp(parts[k], "drift") ? 1 - g->score : g->score;
			sum += weight * v;
			wsum += weight;
			json_object_set_new(used, parts[k], json_pack("{s:f, s:f}", "score", v, "weight", weight));
		}
	}
	if (wsum <= 0) {
		json_decref(used);
		return;
	}
	struct sl_gate_result *g = add_result(rep, f->table, "feature_quality", NULL, sum / wsum,
					      gate_num(f, "feature_quality", "min", 0.90), 1);
	json_object_set_new(g->details, "parts", used);
}

/* ---- relevance ------------------------------------------------------------ */

/* A value as a number for the reservoir: numbers as themselves, text as a
 * 53-bit hash (an exact double), NULL as NaN. */
static double res_value(const char *v, int numeric)
{
	if (!v)
		return NAN;
	if (numeric) {
		char *end;
		double d = strtod(v, &end);
		int t;
		if (end != v && !*end && isfinite(d))
			return d;
		return truth(v, &t) ? NAN : t;
	}
	return (double)(sl_hash64(v, strlen(v)) >> 11);
}

/* Vitter's algorithm R with a fixed-seed xorshift: repeatable samples. */
static void reservoir_add(struct pass *p, const char *const *vals)
{
	size_t width = 1 + p->ncols, slot;
	p->res_seen++;
	if (p->res_n < RES_ROWS) {
		slot = p->res_n++;
	} else {
		p->rng ^= p->rng >> 12;
		p->rng ^= p->rng << 25;
		p->rng ^= p->rng >> 27;
		uint64_t j = (p->rng * 2685821657736338717ULL) % p->res_seen;
		if (j >= RES_ROWS)
			return;
		slot = (size_t)j;
	}
	double *row = p->res + slot * width;
	row[0] = res_value(vals[p->label_idx], 1);
	for (size_t i = 0; i < p->ncols; i++) {
		enum sl_type_family fam = p->cols[i].fam;
		const char *v = vals[p->cols[i].idx];
		row[1 + i] = fam == SL_TF_INT || fam == SL_TF_FLOAT ? p->num[i]
			     : v == NUMBER_CELL		       ? p->cellnum[p->cols[i].idx]
							       : res_value(v, fam == SL_TF_BOOL);
	}
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * Bin the reservoir's column c (stride width) into codes 0..k: up to 10
 * distinct values (or any text) keep a code each (text beyond 50 codes
 * pooled by hash), more distinct numbers go to deciles; NULL is its own
 * code.  Returns the number of codes.
 */
static size_t bin_codes(const double *res, size_t n, size_t width, size_t c, int numeric,
			int *codes)
{
	double *v = sl_malloc((n ? n : 1) * sizeof(double));
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(res[i * width + c]))
			v[m++] = res[i * width + c];
	qsort(v, m, sizeof(double), cmp_dbl);
	size_t distinct = 0;
	for (size_t i = 0; i < m; i++)
		if (i == 0 || v[i] != v[i - 1])
			v[distinct++] = v[i];
	size_t k;
	if (!numeric || distinct <= 10) {
		k = distinct <= 50 ? distinct : 50;
		for (size_t i = 0; i < n; i++) {
			double x = res[i * width + c];
			if (isnan(x)) {
				codes[i] = (int)k;
				continue;
			}
			/* the rank of the value among the distinct ones */
			size_t lo = 0, hi = distinct;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (v[mid] < x)
					lo = mid + 1;
				else
					hi = mid;
			}
			codes[i] = (int)(distinct <= 50 ? lo : (size_t)fmod(x, 50.0));
		}
	} else {
		/* deciles of the values (the sorted sample, with repeats) */
		double *all = sl_malloc((m ? m : 1) * sizeof(double)), edges[9];
		size_t a = 0;
		for (size_t i = 0; i < n; i++)
			if (!isnan(res[i * width + c]))
				all[a++] = res[i * width + c];
		qsort(all, a, sizeof(double), cmp_dbl);
		for (int e = 0; e < 9; e++)
			edges[e] = all[(size_t)((double)(e + 1) / 10.0 * (double)(a - 1))];
		free(all);
		k = 10;
		for (size_t i = 0; i < n; i++) {
			double x = res[i * width + c];
			int b = 0;
			if (isnan(x)) {
				codes[i] = (int)k;
				continue;
			}
			while (b < 9 && x > edges[b])
				b++;
			codes[i] = b;
		}
	}
	free(v);
	return k + 1;
}

/*
 * Normalised mutual information of two coded samples, as scikit-learn's
 * normalized_mutual_info_score (arithmetic mean of the entropies):
 * NMI = I(X;Y) / ((H(X) + H(Y)) / 2), 0 when either entropy is 0.
 */
static double nmi(const int *x, size_t kx, const int *y, size_t ky, size_t n)
{
	double *joint = sl_calloc(kx * ky, sizeof(double));
	double *px = sl_calloc(kx, sizeof(double)), *py = sl_calloc(ky, sizeof(double));
	for (size_t i = 0; i < n; i++) {
		joint[(size_t)x[i] * ky + (size_t)y[i]] += 1;
		px[x[i]] += 1;
		py[y[i]] += 1;
	}
	double hx = 0, hy = 0, mi = 0, dn = (double)n;
	for (size_t i = 0; i < kx; i++)
		if (px[i] > 0)
			hx -= px[i] / dn * log(px[i] / dn);
	for (size_t j = 0; j < ky; j++)
		if (py[j] > 0)
			hy -= py[j] / dn * log(py[j] / dn);
	for (size_t i = 0; i < kx; i++)
		for (size_t j = 0; j < ky; j++) {
			double pxy = joint[i * ky + j] / dn;
			if (pxy > 0)
				mi += pxy * log(pxy / (px[i] / dn * py[j] / dn));
		}
	free(joint);
	free(px);
	free(py);
	return hx > 0 && hy > 0 ? fmax(0, mi) / ((hx + hy) / 2) : 0;
}

static void relevance_result(struct sl_gate_report *rep, const struct sl_feature_contract *f,
			     const struct pass *p, const struct sl_contracts *c)
{
	size_t width = 1 + p->ncols, n = p->res_n;
	int *ly = sl_malloc((n ? n : 1) * sizeof(int)), *lx = sl_malloc((n ? n : 1) * sizeof(int));
	size_t ky = bin_codes(p->res, n, width, 0, 1, ly);
	double floor_nmi = gate_num(f, "relevance", "min_nmi", 0.01);
	size_t relevant = 0, features = 0;
	json_t *cols = json_array();
	for (size_t i = 0; i < p->ncols; i++) {
		const struct colstate *s = &p->cols[i];
		/* the label (and a prediction column) are not features */
		if ((f->label && !strcmp(s->c->name, f->label)) ||
		    (f->prediction && !strcmp(s->c->name, f->prediction)))
			continue;
		features++;
		int numeric = s->fam == SL_TF_INT || s->fam == SL_TF_FLOAT || s->fam == SL_TF_BOOL;
		size_t kx = bin_codes(p->res, n, width, 1 + i, numeric, lx);
		double v = nmi(lx, kx, ly, ky, n);
		json_t *used = json_array();
		for (size_t m = 0; m < c->nmodels; m++)
			if (sl_model_reads(&c->models[m], f->table, s->c->name, 0)) {
				struct sl_buf id = SL_BUF_INIT;
				sl_model_id(&id, &c->models[m]);
				json_array_append_new(used, json_string(id.s));
				sl_buf_free(&id);
			}
		int signal = v >= floor_nmi, is_used = json_array_size(used) > 0;
		relevant += signal && is_used;
		json_array_append_new(cols, json_pack("{s:s, s:f, s:b, s:o}", "column", s->c->name,
						      "nmi", v, "signal", signal, "used_by", used));
	}
	double score = features ? (double)relevant / (double)features : 1;
	struct sl_gate_result *g = add_result(rep, f->table, "relevance", NULL, score,
					      gate_num(f, "relevance", "min", 0.85), 1);
	json_object_set_new(g->details, "label", json_string(f->label));
	json_object_set_new(g->details, "sample_rows", json_integer((json_int_t)n));
	json_object_set_new(g->details, "min_nmi", json_real(floor_nmi));
	json_object_set_new(g->details, "columns", cols);
	free(lx);
	free(ly);
}

/* ---- running the gates --------------------------------------------------- */

struct dup {
	unsigned long long rows, keys;
	struct keys sample;
	size_t nk;
};

/* A duplicated key: its columns, then its count. */
static int on_dup(void *arg, int n, const char *const *v)
{
	struct dup *du = arg;
	du->keys++;
	du->rows += strtoull(v[n - 1] ? v[n - 1] : "0", NULL, 10);
	struct sl_buf b = SL_BUF_INIT;
	for (size_t i = 0; i < du->nk && (int)i < n - 1; i++)
		sl_buf_printf(&b, "%s%s", i ? "," : "", v[i] ? v[i] : "NULL");
	keys_add(&du->sample, b.s);
	sl_buf_free(&b);
	return 0;
}

static int add_col(struct sl_strvec *sel, const char *name)
{
	for (size_t i = 0; i < sel->n; i++)
		if (!strcasecmp(sel->v[i], name))
			return (int)i;
	sl_strvec_push(sel, name);
	return (int)sel->n - 1;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : (a > 0 ? 0 : 1);
}

static void fairness_results(struct sl_gate_report *rep, const struct sl_feature_contract *f,
			     const struct pass *p, int has_pred, int has_label)
{
	double min_ratio = gate_num(f, "fairness", "min_ratio", 0.85);
	double min_group = gate_num(f, "fairness", "min_group_size", 30);
	const char *metric = gate_str(f, "fairness", "metric");
	if (!metric)
		metric = "demographic_parity";
	for (size_t i = 0; i < p->nfair; i++) {
		const struct fairstate *fs = &p->fair[i];
		double smin = INFINITY, smax = -INFINITY, tmin = INFINITY, tmax = -INFINITY;
		double pmin = INFINITY, pmax = -INFINITY;
		json_t *groups = json_array();
		size_t small = 0, measured = 0;
		int all_small = 1;
		for (size_t k = 0; k < fs->ng; k++)
			all_small &= (double)fs->g[k].n < min_group;
		for (size_t k = 0; k < fs->ng; k++) {
			const struct group *g = &fs->g[k];
			json_t *o = json_object();
			json_object_set_new(o, "group", json_string(g->value));
			json_object_set_new(o, "n", json_integer((json_int_t)g->n));
			double sr = g->outcome_known ? (double)g->selected / (double)g->outcome_known : NAN;
			json_object_set_new(o, "selection_rate", jnum(sr));
			double pos = (double)(g->tp + g->fn), neg = (double)(g->fp + g->tn);
			double tpr = pos > 0 ? g->tp / pos : NAN, fpr = neg > 0 ? g->fp / neg : NAN;
			double fnr = pos > 0 ? g->fn / pos : NAN;
			json_object_set_new(o, "tpr", has_pred && has_label ? jnum(tpr) : json_null());
			json_object_set_new(o, "fpr", has_pred && has_label ? jnum(fpr) : json_null());
			json_object_set_new(o, "fnr", has_pred && has_label ? jnum(fnr) : json_null());
			int is_small = (double)g->n < min_group;
			json_object_set_new(o, "small", json_boolean(is_small));
			json_array_append_new(groups, o);
			small += is_small;
			/* small groups are listed and flagged but left out of the
			 * ratios (one row's outcome is not a rate), unless every
			 * group is small */
			if (!isfinite(sr) || (is_small && !all_small))
				continue;
			measured++;
			smin = fmin(smin, sr);
			smax = fmax(smax, sr);
			if (isfinite(tpr)) {
				tmin = fmin(tmin, tpr);
				tmax = fmax(tmax, tpr);
			}
			if (isfinite(fpr)) {
				pmin = fmin(pmin, fpr);
				pmax = fmax(pmax, fpr);
			}
		}
		double dp_ratio = measured ? ratio(smin, smax) : NAN;
		double dp_diff = measured ? smax - smin : NAN;
		double eo_diff = isfinite(tmax) ? tmax - tmin : NAN;
		double eo_ratio = isfinite(tmax) ? ratio(tmin, tmax) : NAN;
		double eodds_diff = isfinite(eo_diff) && isfinite(pmax) ? fmax(eo_diff, pmax - pmin) : NAN;
		double eodds_ratio = isfinite(eo_ratio) && isfinite(pmax) ? fmin(eo_ratio, ratio(pmin, pmax))
									   : NAN;
		double score = !strcmp(metric, "equalized_odds") ? eodds_ratio
			       : !strcmp(metric, "equal_opportunity") ? eo_ratio : dp_ratio;
		struct sl_gate_result *g = add_result(rep, f->table, "fairness", fs->c->name, score,
						      min_ratio, 1);
		json_object_set_new(g->details, "column", json_string(fs->c->name));
		json_object_set_new(g->details, "metric", json_string(metric));
		json_object_set_new(g->details, "outcome",
				    json_string(has_pred ? "prediction" : has_label ? "label" : "none"));
		json_object_set_new(g->details, "ratio", jnum(dp_ratio));
		json_object_set_new(g->details, "difference", jnum(dp_diff));
		json_object_set_new(g->details, "equal_opportunity_difference", jnum(eo_diff));
		json_object_set_new(g->details, "equal_opportunity_ratio", jnum(eo_ratio));
		json_object_set_new(g->details, "equalized_odds_difference", jnum(eodds_diff));
		json_object_set_new(g->details, "equalized_odds_ratio", jnum(eodds_ratio));
		json_object_set_new(g->details, "small_groups", json_integer((json_int_t)small));
		json_object_set_new(g->details, "min_group_size", json_real(min_group));
		json_object_set_new(g->details, "groups", groups);
		if (fs->overflow)
			json_object_set_new(g->details, "note",
					    json_string("more than 1000 groups: bucket the column"));
		if (!has_pred && !has_label) {
			g->passed = 0;
			json_object_set_new(g->details, "note",
					    json_string("the contract has neither prediction nor label: "
							"nothing to measure"));
		}
	}
}

int sl_gates_run(struct sl_db *db, const struct sl_feature_contract *f,
		 const struct sl_gate_opts *o, struct sl_gate_report *rep, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	int pg = strcmp(d->name, "postgres") == 0;
	size_t first = rep->n;
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	if (d->catalog(db, &cat, err))
		return -1;
	const char *bare = !strncasecmp(f->table, "public.", 7) ? f->table + 7 : f->table;
	int rc = -1;
	struct pass p;
	memset(&p, 0, sizeof(p));
	struct sl_strvec sel = SL_STRVEC_INIT, missing = SL_STRVEC_INIT;
	struct sl_buf q = SL_BUF_INIT;
	p.f = f;
	p.ts_idx = p.label_idx = p.pred_idx = -1;
	if (!sl_catalog_find(&cat, "table", bare)) {
		struct sl_gate_result *g = add_result(rep, f->table, "schema", NULL, 0, 1, 1);
		json_object_set_new(g->details, "error", json_string("the table does not exist"));
		rc = 0;
		goto out;
	}
	/* which columns exist: a missing one fails the schema gate */
	struct sl_buf k = SL_BUF_INIT;
#define EXISTS(name) (sl_buf_reset(&k), sl_buf_printf(&k, "%s.%s", bare, name), \
		      sl_catalog_find(&cat, "column", k.s) != NULL)
	for (size_t i = 0; i < f->keys.n; i++)
		if (!EXISTS(f->keys.v[i]))
			sl_strvec_push(&missing, f->keys.v[i]);
	for (size_t i = 0; i < f->ncols; i++)
		if (!EXISTS(f->cols[i].name))
			sl_strvec_push(&missing, f->cols[i].name);
	if (f->timestamp && !EXISTS(f->timestamp))
		sl_strvec_push(&missing, f->timestamp);
	if (f->label && !EXISTS(f->label))
		sl_strvec_push(&missing, f->label);
	if (f->label_timestamp && !EXISTS(f->label_timestamp))
		sl_strvec_push(&missing, f->label_timestamp);
	int pred_is_col = f->prediction && EXISTS(f->prediction);
	const struct sl_cat_obj *tso = NULL;
	if (f->timestamp) {
		sl_buf_reset(&k);
		sl_buf_printf(&k, "%s.%s", bare, f->timestamp);
		tso = sl_catalog_find(&cat, "column", k.s);
	}
#undef EXISTS
	sl_buf_free(&k);
	{
		struct sl_gate_result *g = add_result(rep, f->table, "schema", NULL,
						      missing.n ? 0 : 1, 1, 1);
		json_t *a = json_array();
		for (size_t i = 0; i < missing.n; i++)
			json_array_append_new(a, json_string(missing.v[i]));
		json_object_set_new(g->details, "missing_columns", a);
		if (missing.n) {
			rc = 0; /* nothing else can be measured reliably */
			goto out;
		}
	}
	/* the select list: keys, contract columns, timestamp, label, prediction */
	p.nkeys = f->keys.n;
	p.key_idx = sl_calloc(p.nkeys ? p.nkeys : 1, sizeof(*p.key_idx));
	for (size_t i = 0; i < f->keys.n; i++)
		p.key_idx[i] = add_col(&sel, f->keys.v[i]);
	p.ncols = f->ncols;
	p.cols = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*p.cols));
	p.num = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*p.num));
	for (size_t i = 0; i < f->ncols; i++) {
		struct colstate *s = &p.cols[i];
		s->c = &f->cols[i];
		s->idx = add_col(&sel, f->cols[i].name);
		s->fam = f->cols[i].type ? sl_type_family(f->cols[i].type) : SL_TF_UNKNOWN;
		if (f->cols[i].regex &&
		    regcomp(&s->re, f->cols[i].regex, REG_EXTENDED | REG_NOSUB) == 0)
			s->has_re = 1;
		if (f->cols[i].is_protected) {
			p.fair = sl_realloc(p.fair, (p.nfair + 1) * sizeof(*p.fair));
			struct fairstate *fs = &p.fair[p.nfair++];
			memset(fs, 0, sizeof(*fs));
			fs->c = &f->cols[i];
			fs->idx = s->idx;
		}
	}
	{
		const char **names = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*names));
		const char **types = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*types));
		struct sl_buf ck = SL_BUF_INIT;
		for (size_t i = 0; i < p.ncols; i++) {
			names[i] = f->cols[i].name;
			sl_buf_reset(&ck);
			sl_buf_printf(&ck, "%s.%s", bare, f->cols[i].name);
			const struct sl_cat_obj *co = sl_catalog_find(&cat, "column", ck.s);
			types[i] = co && co->type ? co->type : f->cols[i].type;
		}
		sl_buf_free(&ck);
		sl_profile_init(&p.prof, f->table, p.ncols, names, types, SL_PROFILE_EXACT_ROWS);
		free(names);
		free(types);
	}
	if (f->timestamp) {
		p.ts_idx = add_col(&sel, f->timestamp);
		p.ts_numeric = tso && tso->type &&
			       (sl_type_family(tso->type) == SL_TF_INT ||
				sl_type_family(tso->type) == SL_TF_FLOAT);
	}
	if (f->label)
		p.label_idx = add_col(&sel, f->label);
	/* relevance is measured for a table with a label that a model reads */
	int models_read = 0;
	for (size_t m = 0; o->contracts && m < o->contracts->nmodels; m++)
		models_read |= sl_model_reads(&o->contracts->models[m], f->table, NULL, 0);
	if (f->label && models_read && p.ncols) {
		p.res = sl_malloc(RES_ROWS * (1 + p.ncols) * sizeof(double));
		p.rng = 0x9E3779B97F4A7C15ULL;
	}
	sl_buf_adds(&q, "SELECT ");
	for (size_t i = 0; i < sel.n; i++) {
		if (i)
			sl_buf_adds(&q, ", ");
		d->quote_ident(&q, sel.v[i]);
	}
	if (f->prediction) {
		/* a column, or an SQL expression from the contract (the repository's SQL) */
		p.pred_idx = (int)sel.n;
		if (pred_is_col) {
			sl_buf_adds(&q, ", ");
			d->quote_ident(&q, f->prediction);
		} else {
			sl_buf_printf(&q, ", (%s)", f->prediction);
		}
	}
	sl_buf_adds(&q, " FROM ");
	sl_db_quote_table(d, &q, f->table);
	if (o->where)
		sl_buf_printf(&q, " WHERE %s", o->where);
	explain(rep, o, "pass", q.s);
	sl_buf_reset(&p.key);
	p.nsel = sel.n + (f->prediction ? 1 : 0);
	p.vals = sl_calloc(p.nsel, sizeof(*p.vals));
	p.cellnum = sl_calloc(p.nsel, sizeof(*p.cellnum));
	p.cellbuf = sl_calloc(p.nsel, sizeof(*p.cellbuf));
	p.needs_text = sl_calloc(p.nsel, 1);
	for (size_t i = 0; i < p.nkeys; i++)
		p.needs_text[p.key_idx[i]] = 1;
	for (size_t i = 0; i < p.nfair; i++)
		p.needs_text[p.fair[i].idx] = 1;
	if (p.label_idx >= 0)
		p.needs_text[p.label_idx] = 1;
	if (p.pred_idx >= 0)
		p.needs_text[p.pred_idx] = 1;
	if (p.ts_idx >= 0)
		p.needs_text[p.ts_idx] = 1;
	if (sl_db_stream_cells(db, q.s, on_cells, &p, err))
		goto out;

	/* completeness: non-NULL share of the contract's cells */
	{
		unsigned long long cells = p.rows * p.ncols, nulls = 0;
		for (size_t i = 0; i < p.ncols; i++)
			nulls += p.cols[i].nulls;
		double score = cells ? 1.0 - (double)nulls / (double)cells : 1;
		double min = gate_num(f, "completeness", "min", 0.95);
		struct sl_gate_result *g = add_result(rep, f->table, "completeness", NULL, score, min, 1);
		json_t *cols = json_array();
		int over = 0;
		for (size_t i = 0; i < p.ncols; i++) {
			const struct colstate *s = &p.cols[i];
			double nf = p.rows ? (double)s->nulls / (double)p.rows : 0;
			int col_over = !isnan(s->c->max_null_fraction) && nf > s->c->max_null_fraction;
			over |= col_over;
			json_t *c = json_object();
			json_object_set_new(c, "column", json_string(s->c->name));
			json_object_set_new(c, "nulls", json_integer((json_int_t)s->nulls));
			json_object_set_new(c, "null_fraction", json_real(nf));
			json_object_set_new(c, "max_null_fraction", jnum(s->c->max_null_fraction));
			json_object_set_new(c, "passed", json_boolean(!col_over));
			if (s->nulls) {
				char *sql = null_sql(d, f, s->c->name);
				json_object_set_new(c, "sample_keys", keys_json(&s->null_keys));
				json_object_set_new(c, "sql", json_string(sql));
				explain(rep, o, "completeness", sql);
				free(sql);
			}
			json_array_append_new(cols, c);
		}
		json_object_set_new(g->details, "rows", json_integer((json_int_t)p.rows));
		json_object_set_new(g->details, "cells", json_integer((json_int_t)cells));
		json_object_set_new(g->details, "nulls", json_integer((json_int_t)nulls));
		json_object_set_new(g->details, "columns", cols);
		if (over)
			g->passed = 0;
	}
	/* validity */
	{
		unsigned long long checked = 0, invalid = 0;
		json_t *cols = json_array();
		for (size_t i = 0; i < p.ncols; i++) {
			const struct colstate *s = &p.cols[i];
			checked += s->checked;
			invalid += s->invalid;
			if (!s->checked)
				continue;
			json_t *c = json_object();
			json_object_set_new(c, "column", json_string(s->c->name));
			json_object_set_new(c, "checked", json_integer((json_int_t)s->checked));
			json_object_set_new(c, "invalid", json_integer((json_int_t)s->invalid));
			json_t *why = json_object();
			json_object_set_new(why, "type", json_integer((json_int_t)s->bad_type));
			json_object_set_new(why, "range", json_integer((json_int_t)s->bad_range));
			json_object_set_new(why, "allowed", json_integer((json_int_t)s->bad_allowed));
			json_object_set_new(why, "regex", json_integer((json_int_t)s->bad_regex));
			json_object_set_new(why, "null", json_integer((json_int_t)s->bad_null));
			json_object_set_new(c, "reasons", why);
			if (s->invalid) {
				char *sql = invalid_sql(d, f, s, pg);
				json_object_set_new(c, "sample_keys", keys_json(&s->bad_keys));
				json_object_set_new(c, "sql", json_string(sql));
				explain(rep, o, "validity", sql);
				free(sql);
			}
			json_array_append_new(cols, c);
		}
		double score = checked ? 1.0 - (double)invalid / (double)checked : 1;
		struct sl_gate_result *g = add_result(rep, f->table, "validity", NULL, score,
						      gate_num(f, "validity", "min", 1.0), 1);
		json_object_set_new(g->details, "checked", json_integer((json_int_t)checked));
		json_object_set_new(g->details, "invalid", json_integer((json_int_t)invalid));
		json_object_set_new(g->details, "columns", cols);
	}
	/* uniqueness of the key, pushed down: the database groups every row */
	if (f->keys.n) {
		struct sl_buf u = SL_BUF_INIT, list = SL_BUF_INIT;
		for (size_t i = 0; i < f->keys.n; i++) {
			if (i)
				sl_buf_adds(&list, ", ");
			d->quote_ident(&list, f->keys.v[i]);
		}
		sl_buf_printf(&u, "SELECT %s, count(*) FROM ", list.s);
		sl_db_quote_table(d, &u, f->table);
		if (o->where)
			sl_buf_printf(&u, " WHERE %s", o->where);
		sl_buf_printf(&u, " GROUP BY %s HAVING count(*) > 1", list.s);
		explain(rep, o, "uniqueness", u.s);
		struct dup du;
		memset(&du, 0, sizeof(du));
		du.nk = f->keys.n;
		if (d->stream(db, u.s, on_dup, &du, err)) {
			sl_buf_free(&u);
			sl_buf_free(&list);
			keys_free(&du.sample);
			goto out;
		}
		double score = p.rows ? 1.0 - (double)du.rows / (double)p.rows : 1;
		struct sl_gate_result *g = add_result(rep, f->table, "uniqueness", NULL, score,
						      gate_num(f, "uniqueness", "min", 1.0), 1);
		json_object_set_new(g->details, "key", json_string(list.s));
		json_object_set_new(g->details, "duplicated_keys", json_integer((json_int_t)du.keys));
		json_object_set_new(g->details, "rows_with_duplicated_keys",
				    json_integer((json_int_t)du.rows));
		if (du.keys) {
			json_object_set_new(g->details, "sample_keys", keys_json(&du.sample));
			json_object_set_new(g->details, "sql", json_string(u.s));
		}
		keys_free(&du.sample);
		sl_buf_free(&u);
		sl_buf_free(&list);
	}
	/* freshness, when configured */
	const char *max_age = gate_str(f, "freshness", "max_age");
	if (max_age && f->timestamp) {
		long ms = 0;
		double newest = NAN;
		if (sl_parse_duration_ms(max_age, &ms)) {
			sl_err(err, SL_USAGE, "%s: freshness max_age '%s' is not a duration", f->path, max_age);
			goto out;
		}
		if (p.ts_numeric && p.rows)
			newest = p.ts_max_num;
		else if (p.ts_max && parse_time(p.ts_max, &newest))
			newest = NAN;
		double age = isfinite(newest) ? (double)time(NULL) - newest : INFINITY;
		struct sl_gate_result *g = add_result(rep, f->table, "freshness", f->timestamp, age,
						      (double)ms / 1000.0, 0);
		json_object_set_new(g->details, "newest",
				    p.ts_max ? json_string(p.ts_max) : jnum(p.ts_numeric ? newest : NAN));
		json_object_set_new(g->details, "age_seconds", jnum(age));
		json_object_set_new(g->details, "max_age_seconds", json_real((double)ms / 1000.0));
	}
	if (p.nfair)
		fairness_results(rep, f, &p, f->prediction != NULL, f->label != NULL);
	/* drift against the table's baseline, when one was captured */
	{
		const char *bname = gate_str(f, "drift", "baseline");
		const char *rtable = gate_str(f, "drift", "reference_table");
		struct sl_profile base;
		struct sl_baseline_row meta;
		int found = 0;
		memset(&meta, 0, sizeof(meta));
		if (rtable || o->reference_db) {
			/* a reference read live: training data against serving data,
			 * another table here or the same one in another environment */
			struct sl_db *rdb = o->reference_db ? o->reference_db : db;
			const char *rt = rtable ? rtable : f->table;
			const char **names = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*names));
			for (size_t i = 0; i < p.ncols; i++)
				names[i] = f->cols[i].name;
			int r = sl_profile_table(rdb, rt, names, p.ncols, NULL, 1,
						 SL_PROFILE_EXACT_ROWS, &base, err);
			free(names);
			if (r) {
				if (o->reference_db)
					sl_err_prefix(err, "reference %s: ", o->reference_label ?
						      o->reference_label : "environment");
				goto out;
			}
			found = 1;
			struct sl_buf nm = SL_BUF_INIT;
			if (o->reference_db)
				sl_buf_printf(&nm, "table %s in %s (read now)", rt,
					      o->reference_label ? o->reference_label : "another environment");
			else
				sl_buf_printf(&nm, "table %s (read now)", rt);
			meta.name = sl_buf_detach(&nm);
			meta.taken_at = sl_strdup(base.taken_at);
		} else if (sl_baseline_load(db, f->table, bname ? bname : "default", &base, &meta,
					    &found, err)) {
			goto out;
		}
		if (found) {
			struct sl_drift_opts dopts;
			struct sl_drift_result dr;
			sl_drift_opts_default(&dopts);
			dopts.f = f;
			dopts.drift_share = gate_num(f, "drift", "drift_share", 0.5);
			/* the contract's feature columns (keys and timestamps always "drift") */
			const char **names = sl_calloc(p.ncols ? p.ncols : 1, sizeof(*names));
			for (size_t i = 0; i < p.ncols; i++)
				names[i] = f->cols[i].name;
			dopts.columns = names;
			dopts.ncolumns = p.ncols;
			int r = sl_drift_compare(&base, &p.prof, &dopts, &dr, err);
			free(names);
			if (!r) {
				struct sl_gate_result *g = add_result(rep, f->table, "drift", NULL, dr.share,
								      dr.drift_share, 0);
				g->passed = !dr.dataset_drift;
				json_decref(g->details);
				g->details = sl_drift_json(&dr);
				json_object_set_new(g->details, "baseline", json_string(meta.name));
				json_object_set_new(g->details, "baseline_id", json_integer(meta.id));
				json_object_set_new(g->details, "baseline_schema_version",
						    meta.schema_version ? json_string(meta.schema_version)
									: json_null());
				json_object_set_new(g->details, "baseline_taken_at", json_string(meta.taken_at));
				sl_drift_result_free(&dr);
			}
			sl_profile_free(&base);
			free(meta.name);
			free(meta.table);
			free(meta.schema_version);
			free(meta.taken_at);
			if (r)
				goto out;
		}
	}
	if (f->second_source.table &&
	    agreement_gate(db, f, &f->second_source, "consistency",
			   gate_num(f, "consistency", "min", 0.92), &cat, o, rep, err))
		goto out;
	if (f->ground_truth.table &&
	    agreement_gate(db, f, &f->ground_truth, "accuracy", gate_num(f, "accuracy", "min", 0.90),
			   &cat, o, rep, err))
		goto out;
	if (f->timestamp && f->label_timestamp && temporal_gate(db, f, o, rep, err))
		goto out;
	if (p.res)
		relevance_result(rep, f, &p, o->contracts);
	quality_score(f, rep, first);
	rc = 0;
out:
	for (size_t i = 0; i < p.ncols; i++) {
		if (p.cols[i].has_re)
			regfree(&p.cols[i].re);
		keys_free(&p.cols[i].null_keys);
		keys_free(&p.cols[i].bad_keys);
	}
	free(p.cols);
	for (size_t i = 0; i < p.nfair; i++) {
		for (size_t k2 = 0; k2 < p.fair[i].ng; k2++)
			free(p.fair[i].g[k2].value);
		free(p.fair[i].g);
	}
	free(p.fair);
	free(p.key_idx);
	free(p.ts_max);
	sl_profile_free(&p.prof);
	free(p.res);
	free(p.num);
	free(p.vals);
	free(p.cellnum);
	free(p.cellbuf);
	free(p.needs_text);
	sl_buf_free(&p.key);
	sl_buf_free(&q);
	sl_strvec_free(&sel);
	sl_strvec_free(&missing);
	sl_catalog_free(&cat);
	return rc;
}
