/*
 * learn.c - proxy models and metrics (see learn.h).
 */
#include "learn.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- data sets ----------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t sl_key_hash(const char *s, size_t len)
{
	uint64_t z = fnv1a(s, len);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int sl_ds_is_holdout(uint64_t keyhash)
{
	return keyhash % 5 == 0;
}

void sl_ds_init(struct sl_dataset *ds, size_t ncols, const char *const *names,
		const enum sl_ds_kind *kinds, int with_pred)
{
	memset(ds, 0, sizeof(*ds));
	ds->ncols = ncols;
	ds->cols = sl_calloc(ncols ? ncols : 1, sizeof(*ds->cols));
	for (size_t i = 0; i < ncols; i++) {
		ds->cols[i].name = sl_strdup(names[i]);
		ds->cols[i].kind = kinds[i];
	}
	if (with_pred)
		ds->pred = sl_malloc(sizeof(double)); /* grown with the rows */
}

void sl_ds_free(struct sl_dataset *ds)
{
	for (size_t i = 0; i < ds->ncols; i++) {
		struct sl_ds_col *c = &ds->cols[i];
		free(c->name);
		free(c->num);
		free(c->code);
		for (size_t k = 0; k < c->ndict; k++)
			free(c->dict[k]);
		free(c->dict);
		free(c->slots);
	}
	free(ds->cols);
	free(ds->y);
	free(ds->pred);
	free(ds->keyhash);
	memset(ds, 0, sizeof(*ds));
}

static int32_t ds_find(const struct sl_ds_col *c, const char *value, size_t *slot)
{
	size_t mask = c->nslots - 1;
	size_t i = (size_t)fnv1a(value, strlen(value)) & mask;
	while (c->slots[i]) {
		if (!strcmp(c->dict[c->slots[i] - 1], value)) {
			*slot = i;
			return (int32_t)(c->slots[i] - 1);
		}
		i = (i + 1) & mask;
	}
	*slot = i;
	return -1;
}

int32_t sl_ds_code(struct sl_ds_col *c, const char *value)
{
	if (!c->nslots) {
		c->nslots = 64;
		c->slots = sl_calloc(c->nslots, sizeof(*c->slots));
	}
	size_t slot;
	int32_t code = ds_find(c, value, &slot);
	if (code >= 0)
		return code;
	if (c->ndict == c->capdict) {
		c->capdict = c->capdict ? 2 * c->capdict : 16;
		c->dict = sl_realloc(c->dict, c->capdict * sizeof(*c->dict));
	}
	c->dict[c->ndict++] = sl_strdup(value);
	c->slots[slot] = c->ndict;
	if (2 * c->ndict > c->nslots) {
		/* keep the table at most half full */
		free(c->slots);
		c->nslots *= 2;
		c->slots = sl_calloc(c->nslots, sizeof(*c->slots));
		for (size_t k = 0; k < c->ndict; k++) {
			size_t s;
			(void)ds_find(c, c->dict[k], &s);
			c->slots[s] = k + 1;
		}
	}
	return (int32_t)(c->ndict - 1);
}

void sl_ds_add(struct sl_dataset *ds, uint64_t keyhash, const char *const *vals,
	       const double *nums, double y, double pred)
{
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? 2 * ds->cap : 1024;
		for (size_t i = 0; i < ds->ncols; i++) {
			struct sl_ds_col *c = &ds->cols[i];
			if (c->kind == SL_DS_NUMERIC)
				c->num = sl_realloc(c->num, ds->cap * sizeof(*c->num));
			else
				c->code = sl_realloc(c->code, ds->cap * sizeof(*c->code));
		}
		ds->y = sl_realloc(ds->y, ds->cap * sizeof(*ds->y));
		ds->keyhash = sl_realloc(ds->keyhash, ds->cap * sizeof(*ds->keyhash));
		if (ds->pred)
			ds->pred = sl_realloc(ds->pred, ds->cap * sizeof(*ds->pred));
	}
	sl_ds_set(ds, ds->n++, keyhash, vals, nums, y, pred);
}

void sl_ds_set(struct sl_dataset *ds, size_t r, uint64_t keyhash, const char *const *vals,
	       const double *nums, double y, double pred)
{
	for (size_t i = 0; i < ds->ncols; i++) {
		struct sl_ds_col *c = &ds->cols[i];
		if (c->kind == SL_DS_NUMERIC)
			c->num[r] = nums ? (float)nums[i] : NAN;
		else
			c->code[r] = vals && vals[i] ? sl_ds_code(c, vals[i]) : -1;
	}
	ds->y[r] = y;
	ds->keyhash[r] = keyhash;
	if (ds->pred)
		ds->pred[r] = pred;
}

/* ---- the featuriser ------------------------------------------------------ */

void sl_learn_opts_default(struct sl_learn_opts *o, enum sl_task task)
{
	o->task = task;
	o->c = 1.0;
	o->alpha = 1.0;
	o->max_categories = 20;
	o->max_iter = 500;
}

void sl_model_fit_free(struct sl_model_fit *fit)
{
	for (size_t i = 0; fit->in && i < fit->ncols; i++) {
		free(fit->in[i].name);
		for (size_t k = 0; k < fit->in[i].ncat; k++)
			free(fit->in[i].cats[k]);
		free(fit->in[i].cats);
	}
	free(fit->in);
	free(fit->w);
	memset(fit, 0, sizeof(*fit));
}

struct catcount {
	const char *value;           /* NULL: missing */
	size_t count;
};

static int by_value(const char *a, const char *b)
{
	return strcmp(a ? a : "__missing__", b ? b : "__missing__");
}

static int cmp_count(const void *pa, const void *pb)
{
	const struct catcount *a = pa, *b = pb;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return by_value(a->value, b->value);
}

static int cmp_value(const void *pa, const void *pb)
{
	const struct catcount *a = pa, *b = pb;
	return by_value(a->value, b->value);
}

static int is_train(const struct sl_dataset *ds, size_t r)
{
	return !sl_ds_is_holdout(ds->keyhash[r]) && !isnan(ds->y[r]);
}

/* Lay out the features from the training rows of ds. */
static void featurise_fit(const struct sl_dataset *ds, const struct sl_learn_opts *o,
			  struct sl_model_fit *fit)
{
	fit->ncols = ds->ncols;
	fit->in = sl_calloc(ds->ncols ? ds->ncols : 1, sizeof(*fit->in));
	/* dense features first (standardised numerics, then indicators),
	 * then the one-hot blocks */
	size_t nf = 0;
	for (size_t i = 0; i < ds->ncols; i++) {
		const struct sl_ds_col *c = &ds->cols[i];
		fit->in[i].name = sl_strdup(c->name);
		fit->in[i].kind = c->kind;
		if (c->kind != SL_DS_NUMERIC)
			continue;
		double sum = 0, sq = 0;
		size_t n = 0, miss = 0;
		for (size_t r = 0; r < ds->n; r++) {
			if (!is_train(ds, r))
				continue;
			double v = c->num[r];
			if (isnan(v)) {
				miss++;
				continue;
			}
			n++;
			double d = v - sum;  /* Welford, sum holds the mean */
			sum += d / (double)n;
			sq += d * (v - sum);
		}
		double sd = n ? sqrt(sq / (double)n) : 0;
		fit->in[i].mean = n ? sum : 0;
		fit->in[i].scale = sd > 0 ? sd : 1;
		fit->in[i].has_ind = miss > 0;
		fit->in[i].off = nf++;
	}
	for (size_t i = 0; i < ds->ncols; i++)
		if (ds->cols[i].kind == SL_DS_NUMERIC && fit->in[i].has_ind)
			fit->in[i].ind_off = nf++;
	for (size_t i = 0; i < ds->ncols; i++) {
		const struct sl_ds_col *c = &ds->cols[i];
		if (c->kind != SL_DS_CATEGORICAL)
			continue;
		size_t *cnt = sl_calloc(c->ndict + 1, sizeof(*cnt));
		for (size_t r = 0; r < ds->n; r++)
			if (is_train(ds, r))
				cnt[c->code[r] + 1]++;
		struct catcount *cc = sl_malloc((c->ndict + 1) * sizeof(*cc));
		size_t m = 0;
		for (size_t k = 0; k <= c->ndict; k++)
			if (cnt[k])
				cc[m++] = (struct catcount){ k ? c->dict[k - 1] : NULL, cnt[k] };
		size_t keep = m;
		int other = 0;
		if (o->max_categories > 1 && m > (size_t)o->max_categories) {
			/* scikit-learn's max_categories counts the "infrequent" one */
			qsort(cc, m, sizeof(*cc), cmp_count);
			keep = (size_t)o->max_categories - 1;
			other = 1;
		}
		qsort(cc, keep, sizeof(*cc), cmp_value);
		fit->in[i].off = nf;
		fit->in[i].cats = sl_calloc(keep ? keep : 1, sizeof(char *));
		for (size_t k = 0; k < keep; k++) {
			if (!cc[k].value) {
				fit->in[i].has_missing = 1;
				continue;
			}
			fit->in[i].cats[fit->in[i].ncat++] = sl_strdup(cc[k].value);
		}
		/* layout: kept values (by value), missing, other */
		nf += fit->in[i].ncat + (size_t)fit->in[i].has_missing + (size_t)other;
		fit->in[i].has_other = other;
		free(cc);
		free(cnt);
	}
	fit->nfeat = nf;
}

/*
 * The rows of ds in the fitted layout: dense features (standardised
 * numerics and indicators) as floats, and per categorical input the index
 * of its one-hot feature (-1: none).  Categorical values are matched by
 * text, so ds need not share the training set's dictionaries.
 */
struct design {
	size_t n, nd, nc;
	float *x;                    /* n * nd */
	int32_t *c;                  /* n * nc */
	double *y;
	size_t *row;                 /* source row of each design row */
};

static void design_free(struct design *d)
{
	free(d->x);
	free(d->c);
	free(d->y);
	free(d->row);
	memset(d, 0, sizeof(*d));
}

static int design_build(const struct sl_model_fit *fit, const struct sl_dataset *ds, int which,
			struct design *d, struct sl_error *err)
{
	memset(d, 0, sizeof(*d));
	size_t *colmap = sl_malloc((fit->ncols ? fit->ncols : 1) * sizeof(*colmap));
	for (size_t i = 0; i < fit->ncols; i++) {
		size_t k = 0;
		while (k < ds->ncols && strcmp(ds->cols[k].name, fit->in[i].name))
			k++;
		if (k == ds->ncols || ds->cols[k].kind != fit->in[i].kind) {
			free(colmap);
			return sl_err(err, SL_USAGE, "input %s is missing or of another kind",
				      fit->in[i].name);
		}
		colmap[i] = k;
		if (fit->in[i].kind == SL_DS_NUMERIC)
			d->nd += 1 + (size_t)fit->in[i].has_ind;
		else
			d->nc++;
	}
	/* one-hot index of every dictionary code of every categorical input */
	int32_t **onehot = sl_calloc(fit->ncols ? fit->ncols : 1, sizeof(*onehot));
	for (size_t i = 0; i < fit->ncols; i++) {
		if (fit->in[i].kind != SL_DS_CATEGORICAL)
			continue;
		const struct sl_ds_col *c = &ds->cols[colmap[i]];
		int32_t *m = onehot[i] = sl_malloc((c->ndict + 1) * sizeof(int32_t));
		size_t base = fit->in[i].off, ncat = fit->in[i].ncat;
		int32_t other = fit->in[i].has_other
					? (int32_t)(base + ncat + (size_t)fit->in[i].has_missing) : -1;
		m[0] = fit->in[i].has_missing ? (int32_t)(base + ncat) : other;   /* missing */
		for (size_t k = 0; k < c->ndict; k++) {
			/* the kept values are sorted: binary search */
			size_t lo = 0, hi = ncat;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				int cmp = strcmp(fit->in[i].cats[mid], c->dict[k]);
				if (!cmp) {
					lo = mid;
					hi = mid + 1;
					break;
				}
				if (cmp < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			m[k + 1] = lo < ncat && hi == lo + 1 && !strcmp(fit->in[i].cats[lo], c->dict[k])
					   ? (int32_t)(base + lo) : other;
		}
	}
	size_t n = 0;
	for (size_t r = 0; r < ds->n; r++)
		if (!isnan(ds->y[r]) && (which < 0 || sl_ds_is_holdout(ds->keyhash[r]) == which))
			n++;
	d->n = n;
	d->x = sl_malloc((n * d->nd > 0 ? n * d->nd : 1) * sizeof(float));
	d->c = sl_malloc((n * d->nc > 0 ? n * d->nc : 1) * sizeof(int32_t));
	d->y = sl_malloc((n ? n : 1) * sizeof(double));
	d->row = sl_malloc((n ? n : 1) * sizeof(size_t));
	size_t j = 0;
	for (size_t r = 0; r < ds->n; r++) {
		if (isnan(ds->y[r]) || !(which < 0 || sl_ds_is_holdout(ds->keyhash[r]) == which))
			continue;
		float *x = d->x + j * d->nd;
		int32_t *cc = d->c + j * d->nc;
		size_t di = 0, ci = 0;
		for (size_t i = 0; i < fit->ncols; i++) {
			const struct sl_ds_col *c = &ds->cols[colmap[i]];
			if (fit->in[i].kind == SL_DS_NUMERIC) {
				float v = c->num[r];
				x[fit->in[i].off] = isnan(v) ? 0.0f
					: (float)(((double)v - fit->in[i].mean) / fit->in[i].scale);
				if (fit->in[i].has_ind)
					x[fit->in[i].ind_off] = isnan(v) ? 1.0f : 0.0f;
				di += 1 + (size_t)fit->in[i].has_ind;
			} else {
				cc[ci++] = onehot[i][c->code[r] + 1];
			}
		}
		(void)di;
		d->y[j] = ds->y[r];
		d->row[j] = r;
		j++;
	}
	for (size_t i = 0; i < fit->ncols; i++)
		free(onehot[i]);
	free(onehot);
	free(colmap);
	return 0;
}

static double linear(const struct design *d, size_t r, const double *w, double b)
{
	const float *x = d->x + r * d->nd;
	const int32_t *c = d->c + r * d->nc;
	double z = b;
	for (size_t k = 0; k < d->nd; k++)
		z += w[k] * x[k];
	for (size_t k = 0; k < d->nc; k++)
		if (c[k] >= 0)
			z += w[c[k]];
	return z;
}

static double sigmoid(double z)
{
	if (z >= 0)
		return 1 / (1 + exp(-z));
	double e = exp(z);
	return e / (1 + e);
}


/* ---- logistic regression by L-BFGS ---------------------------------------- */

/* f and its gradient at theta = [w..., b]. */
static double logistic_eval(const struct design *d, double c, const double *theta, size_t nf,
			    double *g)
{
	const double b = theta[nf];
	double f = 0;
	memset(g, 0, (nf + 1) * sizeof(*g));
	for (size_t r = 0; r < d->n; r++) {
		double z = linear(d, r, theta, b);
		double y = d->y[r];
		/* one exp for both the loss and the probability */
		double t = exp(-fabs(z));
		f += (z > 0 ? z : 0) + log1p(t) - y * z;
		double e = (z >= 0 ? 1 / (1 + t) : t / (1 + t)) - y;
		const float *x = d->x + r * d->nd;
		const int32_t *cc = d->c + r * d->nc;
		for (size_t k = 0; k < d->nd; k++)
			g[k] += e * x[k];
		for (size_t k = 0; k < d->nc; k++)
			if (cc[k] >= 0)
				g[cc[k]] += e;
		g[nf] += e;
	}
	f *= c;
	double reg = 0;
	for (size_t k = 0; k < nf; k++) {
		g[k] = c * g[k] + theta[k];
		reg += theta[k] * theta[k];
	}
	g[nf] *= c;
	return f + 0.5 * reg;
}

static double dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double max_abs(const double *a, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

#define LBFGS_M 10

static void train_logistic(const struct design *d, const struct sl_learn_opts *o,
			   struct sl_model_fit *fit)
{
	size_t nf = fit->nfeat, np = nf + 1;
	double *x = sl_calloc(np, sizeof(double)), *g = sl_malloc(np * sizeof(double));
	double *xn = sl_malloc(np * sizeof(double)), *gn = sl_malloc(np * sizeof(double));
	double *dir = sl_malloc(np * sizeof(double));
	double *S = sl_malloc(LBFGS_M * np * sizeof(double));
	double *Y = sl_malloc(LBFGS_M * np * sizeof(double));
	double rho[LBFGS_M], alpha[LBFGS_M];
	int head = 0, m = 0;
	double f = logistic_eval(d, o->c, x, nf, g);
	double tol = 1e-5 * (1.0 + (double)d->n);
	int it = 0, conv = max_abs(g, np) <= tol;
	for (; !conv && it < o->max_iter; it++) {
		/* two-loop recursion: dir = -H g */
		for (size_t k = 0; k < np; k++)
			dir[k] = -g[k];
		for (int j = 0; j < m; j++) {
			int i = (head - 1 - j + LBFGS_M) % LBFGS_M;
			alpha[i] = rho[i] * dot(S + (size_t)i * np, dir, np);
			for (size_t k = 0; k < np; k++)
				dir[k] -= alpha[i] * Y[(size_t)i * np + k];
		}
		if (m) {
			int i = (head - 1 + LBFGS_M) % LBFGS_M;
			double gamma = dot(S + (size_t)i * np, Y + (size_t)i * np, np) /
				       dot(Y + (size_t)i * np, Y + (size_t)i * np, np);
			for (size_t k = 0; k < np; k++)
				dir[k] *= gamma;
		}
		for (int j = m - 1; j >= 0; j--) {
			int i = (head - 1 - j + LBFGS_M) % LBFGS_M;
			double beta = rho[i] * dot(Y + (size_t)i * np, dir, np);
			for (size_t k = 0; k < np; k++)
				dir[k] += S[(size_t)i * np + k] * (alpha[i] - beta);
		}
		double gd = dot(g, dir, np);
		if (!(gd < 0)) {
			/* not a descent direction: forget the curvature */
			m = 0;
			for (size_t k = 0; k < np; k++)
				dir[k] = -g[k];
			gd = dot(g, dir, np);
		}
		double step = m ? 1.0 : 1.0 / fmax(1.0, sqrt(dot(g, g, np)));
		double fn = 0;
		int ok = 0;
		for (int ls = 0; ls < 60; ls++) {
			for (size_t k = 0; k < np; k++)
				xn[k] = x[k] + step * dir[k];
			fn = logistic_eval(d, o->c, xn, nf, gn);
			if (fn <= f + 1e-4 * step * gd) {
				ok = 1;
				break;
			}
			step *= 0.5;
		}
		if (!ok)
			break;       /* no progress possible at double precision */
		double *s = S + (size_t)head * np, *y = Y + (size_t)head * np;
		for (size_t k = 0; k < np; k++) {
			s[k] = xn[k] - x[k];
			y[k] = gn[k] - g[k];
		}
		double sy = dot(s, y, np);
		if (sy > 1e-12) {
			rho[head] = 1 / sy;
			head = (head + 1) % LBFGS_M;
			if (m < LBFGS_M)
				m++;
		}
		double df = f - fn;
		memcpy(x, xn, np * sizeof(double));
		memcpy(g, gn, np * sizeof(double));
		f = fn;
		conv = max_abs(g, np) <= tol || df <= 1e-14 * fmax(1.0, fabs(f));
	}
	fit->w = sl_malloc((nf ? nf : 1) * sizeof(double));
	memcpy(fit->w, x, nf * sizeof(double));
	fit->b = x[nf];
	fit->iterations = it;
	fit->converged = conv;
	free(x);
	free(g);
	free(xn);
	free(gn);
	free(dir);
	free(S);
	free(Y);
}

/* ---- ridge regression in closed form ---------------------------------------- */

/* Solve A x = b for symmetric positive definite A (n x n) in place. */
static int cholesky_solve(double *A, double *b, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		double s = A[j * n + j];
		for (size_t k = 0; k < j; k++)
			s -= A[j * n + k] * A[j * n + k];
		if (!(s > 0))
			return -1;
		double l = sqrt(s);
		A[j * n + j] = l;
		for (size_t i = j + 1; i < n; i++) {
			double t = A[i * n + j];
			for (size_t k = 0; k < j; k++)
				t -= A[i * n + k] * A[j * n + k];
			A[i * n + j] = t / l;
		}
	}
	for (size_t i = 0; i < n; i++) {           /* L z = b */
		double t = b[i];
		for (size_t k = 0; k < i; k++)
			t -= A[i * n + k] * b[k];
		b[i] = t / A[i * n + i];
	}
	for (size_t i = n; i-- > 0;) {             /* L^T x = z */
		double t = b[i];
		for (size_t k = i + 1; k < n; k++)
			t -= A[k * n + i] * b[k];
		b[i] = t / A[i * n + i];
	}
	return 0;
}

static int train_ridge(const struct design *d, const struct sl_learn_opts *o,
		       struct sl_model_fit *fit, struct sl_error *err)
{
	size_t nf = fit->nfeat;
	double *A = sl_calloc(nf > 0 ? nf * nf : 1, sizeof(double));
	double *xy = sl_calloc(nf ? nf : 1, sizeof(double)), *mean = sl_calloc(nf ? nf : 1, sizeof(double));
	size_t *idx = sl_malloc((d->nd + d->nc + 1) * sizeof(size_t));
	double *val = sl_malloc((d->nd + d->nc + 1) * sizeof(double));
	double ysum = 0;
	for (size_t r = 0; r < d->n; r++) {
		size_t nz = 0;
		const float *x = d->x + r * d->nd;
		for (size_t k = 0; k < d->nd; k++) {
			idx[nz] = k;
			val[nz++] = x[k];
		}
		for (size_t k = 0; k < d->nc; k++)
			if (d->c[r * d->nc + k] >= 0) {
				idx[nz] = (size_t)d->c[r * d->nc + k];
				val[nz++] = 1;
			}
		double y = d->y[r];
		ysum += y;
		for (size_t a = 0; a < nz; a++) {
			mean[idx[a]] += val[a];
			xy[idx[a]] += val[a] * y;
			for (size_t b = 0; b < nz; b++)
				A[idx[a] * nf + idx[b]] += val[a] * val[b];
		}
	}
	double n = (double)d->n;
	double ymean = n ? ysum / n : 0;
	for (size_t k = 0; k < nf; k++)
		mean[k] = n ? mean[k] / n : 0;
	/* centre: sum (x - m)(x - m)^T = X^T X - n m m^T; same for X^T y */
	for (size_t a = 0; a < nf; a++) {
		for (size_t b = 0; b < nf; b++)
			A[a * nf + b] -= n * mean[a] * mean[b];
		A[a * nf + a] += o->alpha;
		xy[a] -= n * mean[a] * ymean;
	}
	int rc = 0;
	if (nf && cholesky_solve(A, xy, nf))
		rc = sl_err(err, SL_ENV, "ridge regression: the normal equations are singular");
	fit->w = sl_calloc(nf ? nf : 1, sizeof(double));
	if (!rc)
		memcpy(fit->w, xy, nf * sizeof(double));
	fit->b = ymean - dot(mean, fit->w, nf);
	fit->iterations = 1;
	fit->converged = !rc;
	free(A);
	free(xy);
	free(mean);
	free(idx);
	free(val);
	return rc;
}

int sl_model_train(const struct sl_dataset *ds, const struct sl_learn_opts *o,
		   struct sl_model_fit *fit, struct sl_error *err)
{
	memset(fit, 0, sizeof(*fit));
	fit->task = o->task;
	featurise_fit(ds, o, fit);
	struct design d;
	if (design_build(fit, ds, 0, &d, err)) {
		sl_model_fit_free(fit);
		return -1;
	}
	fit->train_rows = d.n;
	int rc = 0;
	if (!d.n) {
		rc = sl_err(err, SL_USAGE, "no training rows (every label is NULL?)");
	} else if (o->task == SL_TASK_BINARY) {
		for (size_t r = 0; r < d.n && !rc; r++)
			if (d.y[r] != 0 && d.y[r] != 1)
				rc = sl_err(err, SL_USAGE, "a binary label must be 0 or 1, not %g", d.y[r]);
		if (!rc)
			train_logistic(&d, o, fit);
	} else {
		rc = train_ridge(&d, o, fit, err);
	}
	design_free(&d);
	if (rc)
		sl_model_fit_free(fit);
	return rc;
}

int sl_model_score(const struct sl_model_fit *fit, const struct sl_dataset *ds, int holdout,
		   double **scores, double **labels, size_t *n, struct sl_error *err)
{
	struct design d;
	if (design_build(fit, ds, holdout, &d, err))
		return -1;
	double *s = sl_malloc((d.n ? d.n : 1) * sizeof(double));
	for (size_t r = 0; r < d.n; r++) {
		double z = linear(&d, r, fit->w, fit->b);
		s[r] = fit->task == SL_TASK_BINARY ? sigmoid(z) : z;
	}
	*scores = s;
	*labels = d.y;
	d.y = NULL;
	*n = d.n;
	design_free(&d);
	return 0;
}

/* ---- metrics -------------------------------------------------------------- */

struct scored {
	double s, y;
};

static int cmp_scored(const void *pa, const void *pb)
{
	const struct scored *a = pa, *b = pb;
	return a->s < b->s ? -1 : a->s > b->s;
}

/* Mann-Whitney: the probability that a positive outranks a negative,
 * ties counting one half (average ranks). */
static double auc(const double *score, const double *y, size_t n)
{
	struct scored *v = sl_malloc((n ? n : 1) * sizeof(*v));
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		v[i].s = score[i];
		v[i].y = y[i];
		pos += y[i] > 0.5;
	}
	size_t neg = n - pos;
	if (!pos || !neg) {
		free(v);
		return NAN;
	}
	qsort(v, n, sizeof(*v), cmp_scored);
	double ranksum = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && v[j].s == v[i].s)
			j++;
		double rank = (double)(i + 1 + j) / 2.0;   /* average of ranks i+1..j */
		for (size_t k = i; k < j; k++)
			if (v[k].y > 0.5)
				ranksum += rank;
		i = j;
	}
	free(v);
	return (ranksum - (double)pos * ((double)pos + 1) / 2) / ((double)pos * (double)neg);
}

double sl_metric(const char *metric, const double *score, const double *y, size_t n)
{
	if (!n)
		return NAN;
	if (!strcmp(metric, "auc"))
		return auc(score, y, n);
	double acc = 0;
	size_t tp = 0, fp = 0, fn = 0;
	for (size_t i = 0; i < n; i++) {
		double s = score[i], t = y[i];
		if (!strcmp(metric, "accuracy") || !strcmp(metric, "f1")) {
			int p = s >= 0.5, l = t > 0.5;
			acc += p == l;
			tp += p && l;
			fp += p && !l;
			fn += !p && l;
		} else if (!strcmp(metric, "logloss")) {
			double p = fmin(fmax(s, 1e-15), 1 - 1e-15);
			acc -= t > 0.5 ? log(p) : log(1 - p);
		} else if (!strcmp(metric, "rmse")) {
			acc += (s - t) * (s - t);
		} else if (!strcmp(metric, "mae")) {
			acc += fabs(s - t);
		} else {
			return NAN;
		}
	}
	if (!strcmp(metric, "f1"))
		return tp ? (double)tp / ((double)tp + 0.5 * (double)(fp + fn)) : 0;
	if (!strcmp(metric, "rmse"))
		return sqrt(acc / (double)n);
	return acc / (double)n;
}

int sl_metric_higher_better(const char *metric)
{
	return !strcmp(metric, "auc") || !strcmp(metric, "accuracy") || !strcmp(metric, "f1");
}
