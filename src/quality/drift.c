/*
 * drift.c - column drift between two profiles (see drift.h).
 */
#include "drift.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../core/yaml.h"
#include "../stats/profile.h"
#include "../stats/sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sl_drift_opts_default(struct sl_drift_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->threshold = NAN;
	o->drift_share = 0.5;
}

void sl_drift_result_free(struct sl_drift_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].column);
		free(r->v[i].note);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- categories ---------------------------------------------------------- */

struct cats {                     /* counts of the union of two samples' values */
	char **key;
	double *ref, *cur;
	size_t n;
};

static size_t cats_slot(struct cats *c, const char *k)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->key[i], k))
			return i;
	c->key = sl_realloc(c->key, (c->n + 1) * sizeof(*c->key));
	c->ref = sl_realloc(c->ref, (c->n + 1) * sizeof(*c->ref));
	c->cur = sl_realloc(c->cur, (c->n + 1) * sizeof(*c->cur));
	c->key[c->n] = sl_strdup(k);
	c->ref[c->n] = c->cur[c->n] = 0;
	return c->n++;
}

static void cats_free(struct cats *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->key[i]);
	free(c->key);
	free(c->ref);
	free(c->cur);
	memset(c, 0, sizeof(*c));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Add n to key's count in the reference (cur = 0) or current sample. */
static void cats_add(struct cats *c, const char *key, int cur, double n)
{
	size_t slot = cats_slot(c, key); /* may move c->ref and c->cur */
	(cur ? c->cur : c->ref)[slot] += n;
}

/* Numbers with few distinct values compared as categories. */
static void cats_from_values(struct cats *c, const double *a, size_t na, const double *b,
			     size_t nb)
{
	char k[64];
	for (size_t i = 0; i < na; i++) {
		snprintf(k, sizeof(k), "%.17g", a[i]);
		cats_add(c, k, 0, 1);
	}
	for (size_t i = 0; i < nb; i++) {
		snprintf(k, sizeof(k), "%.17g", b[i]);
		cats_add(c, k, 1, 1);
	}
}

static void cats_from_profiles(struct cats *c, const struct sl_colprof *r,
			       const struct sl_colprof *u, int *exact)
{
	*exact = r->exact_ok && u->exact_ok;
	if (*exact) {
		for (size_t i = 0; i < r->ncats; i++)
			cats_add(c, r->cats[i].value, 0, (double)r->cats[i].count);
		for (size_t i = 0; i < u->ncats; i++)
			cats_add(c, u->cats[i].value, 1, (double)u->cats[i].count);
		return;
	}
	/* the heavy hitters, the rest pooled */
	double rn = (double)(r->count - r->nulls), un = (double)(u->count - u->nulls);
	size_t n;
	const struct sl_topk_item *t = sl_topk_items(r->topk, &n);
	double rs = 0, us = 0;
	for (size_t i = 0; i < n; i++) {
		cats_add(c, t[i].value, 0, (double)t[i].count);
		rs += (double)t[i].count;
	}
	t = sl_topk_items(u->topk, &n);
	for (size_t i = 0; i < n; i++) {
		cats_add(c, t[i].value, 1, (double)t[i].count);
		us += (double)t[i].count;
	}
	cats_add(c, "\x01other", 0, rn > rs ? rn - rs : 0);
	cats_add(c, "\x01other", 1, un > us ? un - us : 0);
}

/*
 * Shares of each bin.  Evidently fills empty bins with SL_DRIFT_EPS for
 * PSI and KL, and leaves them empty for Jensen-Shannon and Hellinger.
 */
static int fills_empty(enum sl_drift_method m)
{
	return m == SL_DRIFT_PSI || m == SL_DRIFT_KL;
}

static void proportions(const double *cnt, size_t k, double *out, int fill)
{
	double n = 0;
	for (size_t i = 0; i < k; i++)
		n += cnt[i];
	for (size_t i = 0; i < k; i++) {
		out[i] = n > 0 ? cnt[i] / n : 0;
		if (out[i] == 0 && fill)
			out[i] = SL_DRIFT_EPS;
	}
}

static double divergence(enum sl_drift_method m, const double *p, const double *q, size_t k)
{
	return m == SL_DRIFT_PSI ? sl_psi(p, q, k)
	       : m == SL_DRIFT_KL ? sl_kl_div(p, q, k)
	       : m == SL_DRIFT_HELLINGER ? sl_hellinger(p, q, k)
					 : sl_jensenshannon(p, q, k);
}

static void categorical_stat(struct sl_drift_col *d, struct cats *c)
{
	size_t k = c->n;
	double nr = 0, nc = 0;
	for (size_t i = 0; i < k; i++) {
		nr += c->ref[i];
		nc += c->cur[i];
	}
	d->ref_n = (uint64_t)nr;
	d->cur_n = (uint64_t)nc;
	double *p = sl_calloc(k ? k : 1, sizeof(double)), *q = sl_calloc(k ? k : 1, sizeof(double));
	switch (d->method) {
	case SL_DRIFT_CHISQUARE: {
		double *exp = sl_calloc(k ? k : 1, sizeof(double));
		for (size_t i = 0; i < k; i++)
			exp[i] = nr > 0 ? c->ref[i] * nc / nr : 0;
		sl_chisquare(c->cur, exp, k, &d->statistic, &d->p_value);
		free(exp);
		break;
	}
	case SL_DRIFT_Z: {
		/* Evidently: the share of values that are not the first category */
		double x1 = k ? nr - c->ref[0] : 0, x2 = k ? nc - c->cur[0] : 0;
		sl_ztest_2prop(x1, nr, x2, nc, &d->statistic, &d->p_value);
		break;
	}
	default:
		proportions(c->ref, k, p, fills_empty(d->method));
		proportions(c->cur, k, q, fills_empty(d->method));
		d->statistic = divergence(d->method, p, q, k);
		d->p_value = NAN;
	}
	free(p);
	free(q);
}

/* ---- numbers ------------------------------------------------------------- */

static size_t distinct_sorted(const double *v, size_t n)
{
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		d += i == 0 || v[i] != v[i - 1];
	return d;
}

static void numeric_exact(struct sl_drift_col *d, const struct sl_colprof *r,
			  const struct sl_colprof *u, int method_given, uint64_t ref_rows)
{
	size_t na = r->nexact, nb = u->nexact;
	double *a = sl_malloc((na ? na : 1) * sizeof(double));
	double *b = sl_malloc((nb ? nb : 1) * sizeof(double));
	memcpy(a, r->exact, na * sizeof(double));
	memcpy(b, u->exact, nb * sizeof(double));
	double *all = sl_malloc((na + nb ? na + nb : 1) * sizeof(double));
	memcpy(all, a, na * sizeof(double));
	memcpy(all + na, b, nb * sizeof(double));
	qsort(all, na + nb, sizeof(double), cmp_double);
	size_t nvalues = distinct_sorted(all, na + nb);
	memcpy(all, a, na * sizeof(double));
	qsort(all, na, sizeof(double), cmp_double);
	size_t ref_values = distinct_sorted(all, na);
	free(all);
	if (!method_given)
		d->method = sl_drift_default(ref_rows, 1, nvalues);
	d->ref_n = na;
	d->cur_n = nb;
	d->exact = 1;
	switch (d->method) {
	case SL_DRIFT_KS:
		sl_ks_2samp(a, na, b, nb, &d->statistic, &d->p_value);
		break;
	case SL_DRIFT_WASSERSTEIN: {
		double sd = sl_std_pop(a, na);
		d->statistic = sl_wasserstein(a, NULL, na, b, NULL, nb) / (sd > 0.001 ? sd : 0.001);
		d->p_value = NAN;
		break;
	}
	default: {
		if (ref_values <= 20 || d->method == SL_DRIFT_CHISQUARE || d->method == SL_DRIFT_Z) {
			/* few values: each is a category (Evidently bins numbers
			 * only when the reference has more than 20 distinct values) */
			struct cats c;
			memset(&c, 0, sizeof(c));
			cats_from_values(&c, a, na, b, nb);
			categorical_stat(d, &c);
			cats_free(&c);
			d->ref_n = na;
			d->cur_n = nb;
		} else if (fills_empty(d->method)) {
			double *p, *q;
			size_t k = sl_binned_numeric(a, na, b, nb, &p, &q);
			d->statistic = divergence(d->method, p, q, k);
			d->p_value = NAN;
			free(p);
			free(q);
		} else {
			/* Sturges edges over both samples, shares without the fill */
			double *both = sl_malloc((na + nb) * sizeof(double)), *edges;
			memcpy(both, a, na * sizeof(double));
			memcpy(both + na, b, nb * sizeof(double));
			size_t ne = sl_sturges_edges(both, na + nb, &edges);
			free(both);
			size_t k = ne ? ne - 1 : 0;
			double *ca = sl_calloc(k ? k : 1, sizeof(double)), *cb = sl_calloc(k ? k : 1, sizeof(double));
			double *p = sl_calloc(k ? k : 1, sizeof(double)), *q = sl_calloc(k ? k : 1, sizeof(double));
			sl_histogram(a, na, edges, ne, ca);
			sl_histogram(b, nb, edges, ne, cb);
			proportions(ca, k, p, 0);
			proportions(cb, k, q, 0);
			d->statistic = divergence(d->method, p, q, k);
			d->p_value = NAN;
			free(edges);
			free(ca);
			free(cb);
			free(p);
			free(q);
		}
	}
	}
	free(a);
	free(b);
}

static void numeric_sketch(struct sl_drift_col *d, const struct sl_colprof *r,
			   const struct sl_colprof *u, int method_given, uint64_t ref_rows)
{
	double *va, *vb;
	uint64_t *wa64, *wb64;
	size_t na = sl_kll_items(r->kll, &va, &wa64), nb = sl_kll_items(u->kll, &vb, &wb64);
	double *wa = sl_malloc((na ? na : 1) * sizeof(double)), *wb = sl_malloc((nb ? nb : 1) * sizeof(double));
	for (size_t i = 0; i < na; i++)
		wa[i] = (double)wa64[i];
	for (size_t i = 0; i < nb; i++)
		wb[i] = (double)wb64[i];
	double nvalues = fmax(sl_colprof_distinct(r), sl_colprof_distinct(u));
	if (!method_given)
		d->method = sl_drift_default(ref_rows, 1, (uint64_t)nvalues);
	d->ref_n = sl_kll_n(r->kll);
	d->cur_n = sl_kll_n(u->kll);
	d->exact = 0;
	if (d->method == SL_DRIFT_KS) {
		d->statistic = sl_ks_stat_weighted(va, wa, na, vb, wb, nb);
		double en = (double)d->ref_n * (double)d->cur_n / (double)(d->ref_n + d->cur_n);
		d->p_value = sl_kstwo_sf(d->statistic, round(en));
	} else if (d->method == SL_DRIFT_WASSERSTEIN) {
		double sd = sqrt(sl_colprof_variance(r));
		d->statistic = sl_wasserstein(va, wa, na, vb, wb, nb) / (sd > 0.001 ? sd : 0.001);
		d->p_value = NAN;
	} else {
		/* Sturges bins over both ranges, filled from the sketches' CDFs */
		double lo = fmin(r->min, u->min), hi = fmax(r->max, u->max);
		size_t k = (size_t)ceil(log2((double)(d->ref_n + d->cur_n)) + 1);
		if (k < 1)
			k = 1;
		if (lo == hi) {
			lo -= 0.5;
			hi += 0.5;
		}
		double *p = sl_calloc(k, sizeof(double)), *q = sl_calloc(k, sizeof(double));
		double pa = 0, pb = 0;
		for (size_t i = 0; i < k; i++) {
			double edge = i + 1 == k ? INFINITY : lo + (hi - lo) * (double)(i + 1) / (double)k;
			double ca = sl_kll_cdf(r->kll, edge), cb = sl_kll_cdf(u->kll, edge);
			p[i] = ca - pa;
			q[i] = cb - pb;
			pa = ca;
			pb = cb;
			if (p[i] <= 0)
				p[i] = fills_empty(d->method) ? SL_DRIFT_EPS : 0;
			if (q[i] <= 0)
				q[i] = fills_empty(d->method) ? SL_DRIFT_EPS : 0;
		}
		d->statistic = divergence(d->method, p, q, k);
		d->p_value = NAN;
		free(p);
		free(q);
	}
	free(va);
	free(vb);
	free(wa64);
	free(wb64);
	free(wa);
	free(wb);
}

/* ---- the comparison ------------------------------------------------------ */

static const struct sl_ynode *drift_cfg(const struct sl_feature_contract *f)
{
	return f && f->gates ? sl_ymap_get(f->gates, "drift") : NULL;
}

static int column_method(const struct sl_drift_opts *o, const char *col,
			 enum sl_drift_method *m, struct sl_error *err)
{
	const struct sl_ynode *cfg = drift_cfg(o->f);
	const struct sl_ynode *cols = cfg ? sl_ymap_get(cfg, "columns") : NULL;
	const struct sl_ynode *v = cols ? sl_ymap_get(cols, col) : NULL;
	if (!v && cfg)
		v = sl_ymap_get(cfg, "method");
	if (!v)
		return 0;
	if (v->type != SL_Y_SCALAR || sl_drift_method_parse(v->scalar, m))
		return sl_err_at(err, SL_USAGE, o->f->path, v->line, v->column,
				 "unknown drift method '%s' (ks, chisquare, z, wasserstein, "
				 "jensenshannon, psi, kl, hellinger)",
				 v->type == SL_Y_SCALAR ? v->scalar : "?");
	return 1;
}

int sl_drift_compare(const struct sl_profile *ref, const struct sl_profile *cur,
		     const struct sl_drift_opts *o, struct sl_drift_result *out,
		     struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	out->drift_share = o->drift_share;
	/* in the order asked for, else the reference's */
	size_t n = o->columns ? o->ncolumns : ref->ncols;
	for (size_t i = 0; i < n; i++) {
		const struct sl_colprof *r = o->columns ? sl_profile_col(ref, o->columns[i])
						: &ref->cols[i];
		if (!r)
			continue; /* not in the baseline: nothing to compare with */
		const struct sl_colprof *u = sl_profile_col(cur, r->name);
		out->v = sl_realloc(out->v, (out->n + 1) * sizeof(*out->v));
		struct sl_drift_col *d = &out->v[out->n++];
		memset(d, 0, sizeof(*d));
		d->column = sl_strdup(r->name);
		d->statistic = d->p_value = d->threshold = NAN;
		if (!u) {
			d->note = sl_strdup("the column is gone");
			d->drifted = 1;
			out->drifted++;
			out->compared++;
			continue;
		}
		if (r->kind != u->kind) {
			d->note = sl_strdup("the column changed kind");
			d->drifted = 1;
			out->drifted++;
			out->compared++;
			continue;
		}
		if (r->kind == SL_COL_TIME) {
			d->note = sl_strdup("time columns are not compared");
			continue;
		}
		uint64_t rn = r->count - r->nulls - r->invalid, un = u->count - u->nulls - u->invalid;
		if (!rn || !un) {
			d->note = sl_strdup(!rn ? "no values in the reference" : "no values now");
			d->drifted = !un && rn;
			out->drifted += (size_t)d->drifted;
			out->compared += (size_t)d->drifted;
			continue;
		}
		int given = column_method(o, r->name, &d->method, err);
		if (given < 0)
			return -1;
		if (r->kind == SL_COL_NUMERIC) {
			if (r->exact_ok && u->exact_ok)
				numeric_exact(d, r, u, given, rn);
			else
				numeric_sketch(d, r, u, given, rn);
		} else {
			struct cats c;
			memset(&c, 0, sizeof(c));
			cats_from_profiles(&c, r, u, &d->exact);
			if (!given)
				d->method = sl_drift_default(rn, 0, c.n);
			categorical_stat(d, &c);
			cats_free(&c);
		}
		double th = o->threshold;
		const struct sl_ynode *cfg = drift_cfg(o->f);
		const struct sl_ynode *tn = cfg ? sl_ymap_get(cfg, "threshold") : NULL;
		if (isnan(th) && tn && tn->type == SL_Y_SCALAR)
			th = strtod(tn->scalar, NULL);
		d->threshold = isnan(th) ? sl_drift_default_threshold(d->method) : th;
		double value = isnan(d->p_value) ? d->statistic : d->p_value;
		d->drifted = isfinite(value) && sl_drift_is_drift(d->method, value, d->threshold);
		out->compared++;
		out->drifted += (size_t)d->drifted;
	}
	out->share = out->compared ? (double)out->drifted / (double)out->compared : 0;
	out->dataset_drift = out->compared && out->share >= out->drift_share;
	return 0;
}

static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *sl_drift_json(const struct sl_drift_result *r)
{
	json_t *o = json_object(), *a = json_array();
	for (size_t i = 0; i < r->n; i++) {
		const struct sl_drift_col *d = &r->v[i];
		json_t *c = json_object();
		json_object_set_new(c, "column", json_string(d->column));
		json_object_set_new(c, "method", d->note ? json_null()
							  : json_string(sl_drift_method_name(d->method)));
		json_object_set_new(c, "statistic", jnum(d->statistic));
		json_object_set_new(c, "p_value", jnum(d->p_value));
		json_object_set_new(c, "threshold", jnum(d->threshold));
		json_object_set_new(c, "drifted", json_boolean(d->drifted));
		json_object_set_new(c, "exact", json_boolean(d->exact));
		json_object_set_new(c, "reference_n", json_integer((json_int_t)d->ref_n));
		json_object_set_new(c, "current_n", json_integer((json_int_t)d->cur_n));
		if (d->note)
			json_object_set_new(c, "note", json_string(d->note));
		json_array_append_new(a, c);
	}
	json_object_set_new(o, "columns", a);
	json_object_set_new(o, "compared", json_integer((json_int_t)r->compared));
	json_object_set_new(o, "drifted", json_integer((json_int_t)r->drifted));
	json_object_set_new(o, "share", json_real(r->share));
	json_object_set_new(o, "drift_share", json_real(r->drift_share));
	json_object_set_new(o, "dataset_drift", json_boolean(r->dataset_drift));
	return o;
}

void sl_drift_print(const struct sl_drift_result *r, FILE *fp)
{
	fprintf(fp, "  %-24s %-14s %12s %12s %10s  %s\n", "COLUMN", "METHOD", "STATISTIC", "P-VALUE",
		"THRESHOLD", "DRIFT");
	for (size_t i = 0; i < r->n; i++) {
		const struct sl_drift_col *d = &r->v[i];
		if (d->note) {
			fprintf(fp, "  %-24s %-14s %12s %12s %10s  %s (%s)\n", d->column, "-", "-", "-", "-",
				d->drifted ? "yes" : "-", d->note);
			continue;
		}
		char pv[32] = "-";
		if (isfinite(d->p_value))
			snprintf(pv, sizeof(pv), "%.4g", d->p_value);
		fprintf(fp, "  %-24s %-14s %12.4g %12s %10.4g  %s%s\n", d->column,
			sl_drift_method_name(d->method), d->statistic, pv, d->threshold,
			d->drifted ? "yes" : "no", d->exact ? "" : " (sketch)");
	}
	fprintf(fp, "%zu of %zu column(s) drifted (share %.2f, dataset drift at %.2f): %s\n",
		r->drifted, r->compared, r->share, r->drift_share,
		r->dataset_drift ? "dataset drift" : "no dataset drift");
}
