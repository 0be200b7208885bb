/*
 * profile.c - one-pass column profiles (see profile.h).
 */
#include "profile.h"
#include "sketch.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../migrate/history.h"

#include <errno.h>
#include <openssl/evp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KLL_K 200
#define HLL_P 14
#define TOPK_M 64

/* ---- columns ------------------------------------------------------------- */

static enum sl_col_kind kind_of(const char *type)
{
	switch (sl_type_family(type)) {
	case SL_TF_INT:
	case SL_TF_FLOAT:
		return SL_COL_NUMERIC;
	case SL_TF_TIME:
		return SL_COL_TIME;
	default:
		return SL_COL_CATEGORICAL;
	}
}

static const char *kind_name(enum sl_col_kind k)
{
	return k == SL_COL_NUMERIC ? "numeric" : k == SL_COL_TIME ? "time" : "categorical";
}

static void col_init(struct sl_colprof *c, const char *name, const char *type)
{
	memset(c, 0, sizeof(*c));
	c->name = sl_strdup(name);
	c->type = sl_strdup(type ? type : "");
	c->kind = kind_of(type);
	c->min = c->max = NAN;
	c->exact_ok = 1;
	c->hll = sl_hll_new(HLL_P);
	if (c->kind == SL_COL_NUMERIC)
		c->kll = sl_kll_new(KLL_K);
	else if (c->kind == SL_COL_CATEGORICAL)
		c->topk = sl_topk_new(TOPK_M);
}

static void cats_drop(struct sl_colprof *c)
{
	for (size_t i = 0; i < c->ncats; i++)
		free(c->cats[i].value);
	free(c->cats);
	free(c->slots);
	c->cats = NULL;
	c->slots = NULL;
	c->ncats = c->capcats = c->nslots = 0;
}

static void col_free(struct sl_colprof *c)
{
	free(c->name);
	free(c->type);
	sl_kll_free(c->kll);
	sl_hll_free(c->hll);
	sl_topk_free(c->topk);
	free(c->exact);
	cats_drop(c);
	free(c->tmin);
	free(c->tmax);
}

/*
 * The exact frequency table: values in c->cats, found through an
 * open-addressing index of slot -> cats position + 1 (0: empty).  Hand-
 * written: it is a few lines, and no Debian C library offers a string
 * counter that is simpler than this.
 */
static void cats_reindex(struct sl_colprof *c, size_t nslots)
{
	free(c->slots);
	c->nslots = nslots;
	c->slots = sl_calloc(nslots, sizeof(*c->slots));
	for (size_t i = 0; i < c->ncats; i++) {
		const char *v = c->cats[i].value;
		size_t h = (size_t)sl_hash64(v, strlen(v)) & (nslots - 1);
		while (c->slots[h])
			h = (h + 1) & (nslots - 1);
		c->slots[h] = i + 1;
	}
}

static void cats_add(struct sl_colprof *c, const char *v, size_t len, uint64_t times)
{
	if (!c->exact_ok)
		return;
	if (!c->nslots)
		cats_reindex(c, 64);
	size_t h = (size_t)sl_hash64(v, len) & (c->nslots - 1);
	while (c->slots[h]) {
		struct sl_catcount *e = &c->cats[c->slots[h] - 1];
		if (strlen(e->value) == len && memcmp(e->value, v, len) == 0) {
			e->count += times;
			return;
		}
		h = (h + 1) & (c->nslots - 1);
	}
	if (c->ncats == SL_PROFILE_MAX_CATEGORIES) {
		cats_drop(c); /* too many categories to keep exactly: the sketches remain */
		c->exact_ok = 0;
		return;
	}
	if (c->ncats == c->capcats) {
		c->capcats = c->capcats ? c->capcats * 2 : 16;
		c->cats = sl_realloc(c->cats, c->capcats * sizeof(*c->cats));
	}
	c->cats[c->ncats].value = sl_strndup(v, len);
	c->cats[c->ncats].count = times;
	c->slots[h] = ++c->ncats;
	if (c->ncats * 2 > c->nslots)
		cats_reindex(c, c->nslots * 2);
}

static void exact_add(struct sl_colprof *c, double v, uint64_t exact_rows)
{
	if (!c->exact_ok)
		return;
	if (c->nexact >= exact_rows) {
		free(c->exact);
		c->exact = NULL;
		c->nexact = c->capexact = 0;
		c->exact_ok = 0;
		return;
	}
	if (c->nexact == c->capexact) {
		c->capexact = c->capexact ? c->capexact * 2 : 256;
		c->exact = sl_realloc(c->exact, c->capexact * sizeof(*c->exact));
	}
	c->exact[c->nexact++] = v;
}

static int read_number(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (end == s || *end || errno == ERANGE || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int sl_read_number(const char *s, double *out)
{
	return read_number(s, out);
}

void sl_colprof_add(struct sl_colprof *c, const char *val, uint64_t exact_rows)
{
	double v = 0;
	int bad = val && c->kind == SL_COL_NUMERIC && read_number(val, &v);
	sl_colprof_add_parsed(c, val, v, bad, exact_rows);
}

void sl_colprof_add_parsed(struct sl_colprof *c, const char *val, double v, int bad,
			   uint64_t exact_rows)
{
	c->count++;
	if (!val) {
		c->nulls++;
		return;
	}
	size_t len = c->kind == SL_COL_NUMERIC ? 0 : strlen(val);
	if (c->kind == SL_COL_NUMERIC) {
		if (bad) {
			c->invalid++;
			return;
		}
		uint64_t n = c->count - c->nulls - c->invalid;
		double d = v - c->mean;
		c->mean += d / (double)n;
		c->m2 += d * (v - c->mean);
		if (n == 1 || v < c->min)
			c->min = v;
		if (n == 1 || v > c->max)
			c->max = v;
		sl_kll_add(c->kll, v);
		/* hash the number, not its spelling (1 and 1.0 are one value), as
		 * little-endian bytes with -0 folded into 0, so every machine
		 * fills the same registers */
		double z = v == 0 ? 0.0 : v;
		uint64_t bits;
		unsigned char le[8];
		memcpy(&bits, &z, sizeof(bits));
		for (int k = 0; k < 8; k++)
			le[k] = (unsigned char)(bits >> (8 * k));
		sl_hll_add(c->hll, le, sizeof(le));
		exact_add(c, v, exact_rows);
	} else if (c->kind == SL_COL_TIME) {
		if (!c->tmin || strcmp(val, c->tmin) < 0) {
			free(c->tmin);
			c->tmin = sl_strdup(val);
		}
		if (!c->tmax || strcmp(val, c->tmax) > 0) {
			free(c->tmax);
			c->tmax = sl_strdup(val);
		}
		sl_hll_add(c->hll, val, len);
	} else {
		sl_topk_add(c->topk, val, len);
		sl_hll_add(c->hll, val, len);
		if (c->count - c->nulls > exact_rows && c->exact_ok) {
			cats_drop(c);
			c->exact_ok = 0;
		}
		cats_add(c, val, len, 1);
	}
}

/* ---- profiles ------------------------------------------------------------ */

void sl_profile_init(struct sl_profile *p, const char *table, size_t ncols,
		     const char *const *names, const char *const *types, uint64_t exact_rows)
{
	memset(p, 0, sizeof(*p));
	p->table = sl_strdup(table ? table : "");
	p->exact_rows = exact_rows;
	p->sample = 1;
	char now[32];
	sl_now_iso(now);
	p->taken_at = sl_strdup(now);
	p->ncols = ncols;
	p->cols = sl_calloc(ncols ? ncols : 1, sizeof(*p->cols));
	for (size_t i = 0; i < ncols; i++)
		col_init(&p->cols[i], names[i], types ? types[i] : NULL);
}

void sl_profile_free(struct sl_profile *p)
{
	for (size_t i = 0; i < p->ncols; i++)
		col_free(&p->cols[i]);
	free(p->cols);
	free(p->table);
	free(p->where);
	free(p->taken_at);
	memset(p, 0, sizeof(*p));
}

void sl_profile_add_row(struct sl_profile *p, const char *const *vals)
{
	p->rows++;
	for (size_t i = 0; i < p->ncols; i++)
		sl_colprof_add(&p->cols[i], vals[i], p->exact_rows);
}

const struct sl_colprof *sl_profile_col(const struct sl_profile *p, const char *name)
{
	for (size_t i = 0; i < p->ncols; i++)
		if (!strcmp(p->cols[i].name, name))
			return &p->cols[i];
	return NULL;
}

double sl_colprof_variance(const struct sl_colprof *c)
{
	uint64_t n = c->count - c->nulls - c->invalid;
	return n ? c->m2 / (double)n : NAN;
}

double sl_colprof_null_fraction(const struct sl_colprof *c)
{
	return c->count ? (double)c->nulls / (double)c->count : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double sl_colprof_distinct(const struct sl_colprof *c)
{
	if (c->kind == SL_COL_CATEGORICAL && c->exact_ok)
		return (double)c->ncats;
	if (c->kind == SL_COL_NUMERIC && c->exact_ok) {
		double *v = sl_malloc((c->nexact ? c->nexact : 1) * sizeof(double));
		if (c->nexact)          /* exact is NULL while no value was seen */
			memcpy(v, c->exact, c->nexact * sizeof(double));
		qsort(v, c->nexact, sizeof(double), cmp_double);
		size_t d = 0;
		for (size_t i = 0; i < c->nexact; i++)
			d += i == 0 || v[i] != v[i - 1];
		free(v);
		return (double)d;
	}
	return sl_hll_estimate(c->hll);
}

static void merge_text_min(char **dst, const char *src, int want_min)
{
	if (!src)
		return;
	int cmp = *dst ? strcmp(src, *dst) : 0;
	if (!*dst || (want_min ? cmp < 0 : cmp > 0)) {
		free(*dst);
		*dst = sl_strdup(src);
	}
}

static int col_merge(struct sl_colprof *d, const struct sl_colprof *s, uint64_t exact_rows,
		     struct sl_error *err)
{
	if (d->kind != s->kind)
		return sl_err(err, SL_USAGE, "column %s is %s in one profile and %s in the other",
			      d->name, kind_name(d->kind), kind_name(s->kind));
	uint64_t na = d->count - d->nulls - d->invalid, nb = s->count - s->nulls - s->invalid;
	if (nb) {
		/* Chan, Golub and LeVeque's pairwise update */
		double n = (double)(na + nb), delta = s->mean - d->mean;
		d->mean += delta * (double)nb / n;
		d->m2 += s->m2 + delta * delta * (double)na * (double)nb / n;
		if (!na || s->min < d->min)
			d->min = s->min;
		if (!na || s->max > d->max)
			d->max = s->max;
	}
	d->count += s->count;
	d->nulls += s->nulls;
	d->invalid += s->invalid;
	if (sl_hll_merge(d->hll, s->hll))
		return sl_err(err, SL_USAGE, "column %s: distinct-count sketches differ", d->name);
	if (d->kind == SL_COL_NUMERIC) {
		if (sl_kll_merge(d->kll, s->kll))
			return sl_err(err, SL_USAGE, "column %s: quantile sketches differ", d->name);
		if (d->exact_ok && s->exact_ok && d->nexact + s->nexact <= exact_rows) {
			for (size_t i = 0; i < s->nexact; i++)
				exact_add(d, s->exact[i], exact_rows + 1);
		} else if (d->exact_ok) {
			free(d->exact);
			d->exact = NULL;
			d->nexact = d->capexact = 0;
			d->exact_ok = 0;
		}
	} else if (d->kind == SL_COL_CATEGORICAL) {
		if (sl_topk_merge(d->topk, s->topk))
			return sl_err(err, SL_USAGE, "column %s: top-k summaries differ", d->name);
		if (d->exact_ok && s->exact_ok && d->count - d->nulls <= exact_rows) {
			for (size_t i = 0; i < s->ncats && d->exact_ok; i++)
				cats_add(d, s->cats[i].value, strlen(s->cats[i].value), s->cats[i].count);
		} else if (d->exact_ok) {
			cats_drop(d);
			d->exact_ok = 0;
		}
	} else {
		merge_text_min(&d->tmin, s->tmin, 1);
		merge_text_min(&d->tmax, s->tmax, 0);
	}
	return 0;
}

int sl_profile_merge(struct sl_profile *dst, const struct sl_profile *src, struct sl_error *err)
{
	if (strcmp(dst->table, src->table) != 0)
		return sl_err(err, SL_USAGE, "profiles of different tables (%s, %s)", dst->table,
			      src->table);
	for (size_t i = 0; i < src->ncols; i++) {
		const struct sl_colprof *s = &src->cols[i];
		struct sl_colprof *d = (struct sl_colprof *)sl_profile_col(dst, s->name);
		if (!d) {
			/* a column the other shard does not have: its rows are NULL there */
			dst->cols = sl_realloc(dst->cols, (dst->ncols + 1) * sizeof(*dst->cols));
			d = &dst->cols[dst->ncols++];
			col_init(d, s->name, s->type);
			d->count = d->nulls = dst->rows;
		}
		if (col_merge(d, s, dst->exact_rows, err))
			return -1;
	}
	for (size_t i = 0; i < dst->ncols; i++)
		if (!sl_profile_col(src, dst->cols[i].name)) {
			dst->cols[i].count += src->rows;
			dst->cols[i].nulls += src->rows;
		}
	dst->rows += src->rows;
	if (src->sample < dst->sample)
		dst->sample = src->sample;
	return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/*
 * Exact values travel as base64 of 8-byte little-endian IEEE doubles, not
 * as a JSON array: 100,000 numbers as jansson nodes take ~5 MB each
 * column when a baseline is read back, as one string about 1 MB.
 */
static json_t *values_json(const double *v, size_t n)
{
	unsigned char *raw = sl_malloc(n ? n * 8 : 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t bits;
		memcpy(&bits, &v[i], 8);
		for (int k = 0; k < 8; k++)
			raw[i * 8 + k] = (unsigned char)(bits >> (8 * k));
	}
	char *b64 = sl_malloc(4 * ((n * 8 + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)(n * 8));
	json_t *s = json_string(b64);
	free(b64);
	free(raw);
	return s;
}

static int values_decode(struct sl_colprof *c, const char *b64, size_t len)
{
	if (len % 4 || len / 4 * 3 > (size_t)1 << 30)
		return -1;
	unsigned char *raw = sl_malloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n > 0 && len >= 2 && b64[len - 1] == '=')
		n -= b64[len - 2] == '=' ? 2 : 1;
	if (n < 0 || n % 8) {
		free(raw);
		return -1;
	}
	size_t count = (size_t)n / 8;
	for (size_t i = 0; i < count; i++) {
		uint64_t bits = 0;
		for (int k = 0; k < 8; k++)
			bits |= (uint64_t)raw[i * 8 + k] << (8 * k);
		double d;
		memcpy(&d, &bits, 8);
		if (!isfinite(d)) {
			free(raw);
			return -1;
		}
		exact_add(c, d, count + 1);
	}
	free(raw);
	return 0;
}

static json_t *col_json(const struct sl_colprof *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "type", json_string(c->type));
	json_object_set_new(o, "kind", json_string(kind_name(c->kind)));
	json_object_set_new(o, "count", json_integer((json_int_t)c->count));
	json_object_set_new(o, "nulls", json_integer((json_int_t)c->nulls));
	json_object_set_new(o, "invalid", json_integer((json_int_t)c->invalid));
	json_object_set_new(o, "null_fraction", json_real(sl_colprof_null_fraction(c)));
	json_object_set_new(o, "distinct", json_real(sl_colprof_distinct(c)));
	if (c->kind == SL_COL_NUMERIC) {
		json_object_set_new(o, "mean", num(c->count > c->nulls + c->invalid ? c->mean : NAN));
		json_object_set_new(o, "m2", json_real(c->m2));
		json_object_set_new(o, "variance", num(sl_colprof_variance(c)));
		json_object_set_new(o, "min", num(c->min));
		json_object_set_new(o, "max", num(c->max));
		json_t *q = json_object();
		static const double qs[] = { 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99 };
		static const char *const qn[] = { "p01", "p05", "p25", "p50", "p75", "p95", "p99" };
		for (size_t i = 0; i < 7; i++)
			json_object_set_new(q, qn[i], num(sl_kll_quantile(c->kll, qs[i])));
		json_object_set_new(o, "quantiles", q);
		json_object_set_new(o, "kll", sl_kll_to_json(c->kll));
		if (c->exact_ok)
			json_object_set_new(o, "values", values_json(c->exact, c->nexact));
	} else if (c->kind == SL_COL_CATEGORICAL) {
		json_object_set_new(o, "top", sl_topk_to_json(c->topk));
		if (c->exact_ok) {
			json_t *f = json_object();
			for (size_t i = 0; i < c->ncats; i++)
				json_object_set_new(f, c->cats[i].value,
						    json_integer((json_int_t)c->cats[i].count));
			json_object_set_new(o, "frequencies", f);
		}
	} else {
		json_object_set_new(o, "min", c->tmin ? json_string(c->tmin) : json_null());
		json_object_set_new(o, "max", c->tmax ? json_string(c->tmax) : json_null());
	}
	json_object_set_new(o, "hll", sl_hll_to_json(c->hll));
	return o;
}

json_t *sl_profile_to_json(const struct sl_profile *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "format", json_string("sluice-profile"));
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "table", json_string(p->table));
	json_object_set_new(o, "where", p->where ? json_string(p->where) : json_null());
	json_object_set_new(o, "rows", json_integer((json_int_t)p->rows));
	json_object_set_new(o, "sample", json_real(p->sample));
	json_object_set_new(o, "exact_rows", json_integer((json_int_t)p->exact_rows));
	json_object_set_new(o, "taken_at", json_string(p->taken_at ? p->taken_at : ""));
	json_t *a = json_array();
	for (size_t i = 0; i < p->ncols; i++)
		json_array_append_new(a, col_json(&p->cols[i]));
	json_object_set_new(o, "columns", a);
	return o;
}

static int get_u64(const json_t *o, const char *key, uint64_t *out, struct sl_error *err)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sl_err(err, SL_USAGE, "profile: '%s' must be a non-negative integer", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static double get_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int col_from_json(struct sl_colprof *c, const json_t *o, struct sl_error *err)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *type = json_string_value(json_object_get(o, "type"));
	const char *kind = json_string_value(json_object_get(o, "kind"));
	if (!name || !kind)
		return sl_err(err, SL_USAGE, "profile: a column needs 'name' and 'kind'");
	col_init(c, name, type);
	c->kind = !strcmp(kind, "numeric") ? SL_COL_NUMERIC
		  : !strcmp(kind, "time") ? SL_COL_TIME : SL_COL_CATEGORICAL;
	if (strcmp(kind, "numeric") && strcmp(kind, "time") && strcmp(kind, "categorical"))
		return sl_err(err, SL_USAGE, "profile: column %s has unknown kind '%s'", name, kind);
	if (get_u64(o, "count", &c->count, err) || get_u64(o, "nulls", &c->nulls, err) ||
	    get_u64(o, "invalid", &c->invalid, err))
		return -1;
	if (c->nulls + c->invalid > c->count)
		return sl_err(err, SL_USAGE, "profile: column %s has more NULL and invalid values than rows",
			      name);
	sl_kll_free(c->kll);
	sl_topk_free(c->topk);
	c->kll = NULL;
	c->topk = NULL;
	sl_hll_free(c->hll);
	c->hll = sl_hll_from_json(json_object_get(o, "hll"), err);
	if (!c->hll)
		return -1;
	c->exact_ok = 0;
	if (c->kind == SL_COL_NUMERIC) {
		c->mean = get_num(o, "mean");
		c->m2 = get_num(o, "m2");
		c->min = get_num(o, "min");
		c->max = get_num(o, "max");
		if (isnan(c->mean))
			c->mean = 0;
		if (isnan(c->m2) || c->m2 < 0)
			c->m2 = 0;
		c->kll = sl_kll_from_json(json_object_get(o, "kll"), err);
		if (!c->kll)
			return -1;
		const json_t *vals = json_object_get(o, "values");
		if (json_is_string(vals)) {
			c->exact_ok = 1;
			if (values_decode(c, json_string_value(vals), json_string_length(vals)))
				return sl_err(err, SL_USAGE, "profile: column %s: 'values' is not "
					      "base64 of 8-byte little-endian doubles", name);
		} else if (json_is_array(vals)) {
			c->exact_ok = 1;
			for (size_t i = 0; i < json_array_size(vals); i++) {
				const json_t *v = json_array_get(vals, i);
				if (!json_is_number(v))
					return sl_err(err, SL_USAGE, "profile: column %s: 'values' must be numbers",
						      name);
				exact_add(c, json_number_value(v), (uint64_t)json_array_size(vals) + 1);
			}
		}
	} else if (c->kind == SL_COL_CATEGORICAL) {
		c->topk = sl_topk_from_json(json_object_get(o, "top"), err);
		if (!c->topk)
			return -1;
		const json_t *f = json_object_get(o, "frequencies");
		if (json_is_object(f)) {
			c->exact_ok = 1;
			const char *k;
			const json_t *v;
			json_object_foreach((json_t *)f, k, v) {
				if (!json_is_integer(v) || json_integer_value(v) < 0)
					return sl_err(err, SL_USAGE,
						      "profile: column %s: frequencies must be counts", name);
				if (c->ncats >= SL_PROFILE_MAX_CATEGORIES)
					return sl_err(err, SL_USAGE, "profile: column %s: too many categories",
						      name);
				cats_add(c, k, strlen(k), (uint64_t)json_integer_value(v));
			}
		}
	} else {
		const char *mn = json_string_value(json_object_get(o, "min"));
		const char *mx = json_string_value(json_object_get(o, "max"));
		c->tmin = mn ? sl_strdup(mn) : NULL;
		c->tmax = mx ? sl_strdup(mx) : NULL;
	}
	return 0;
}

int sl_profile_from_json(struct sl_profile *p, const json_t *j, struct sl_error *err)
{
	memset(p, 0, sizeof(*p));
	const char *fmt = json_string_value(json_object_get(j, "format"));
	if (!fmt || strcmp(fmt, "sluice-profile") != 0)
		return sl_err(err, SL_USAGE, "not a sluice profile (\"format\": \"sluice-profile\" missing)");
	if (json_integer_value(json_object_get(j, "version")) != 1)
		return sl_err(err, SL_USAGE, "profile: unsupported version (this sluice reads 1)");
	const char *table = json_string_value(json_object_get(j, "table"));
	const json_t *cols = json_object_get(j, "columns");
	if (!table || !json_is_array(cols))
		return sl_err(err, SL_USAGE, "profile: 'table' and 'columns' are required");
	sl_profile_init(p, table, 0, NULL, NULL, SL_PROFILE_EXACT_ROWS);
	const char *where = json_string_value(json_object_get(j, "where"));
	const char *at = json_string_value(json_object_get(j, "taken_at"));
	p->where = where ? sl_strdup(where) : NULL;
	if (at) {
		free(p->taken_at);
		p->taken_at = sl_strdup(at);
	}
	p->sample = get_num(j, "sample");
	if (!(p->sample > 0 && p->sample <= 1))
		p->sample = 1;
	if (get_u64(j, "rows", &p->rows, NULL) || get_u64(j, "exact_rows", &p->exact_rows, NULL)) {
		sl_profile_free(p);
		return sl_err(err, SL_USAGE, "profile: 'rows' and 'exact_rows' must be counts");
	}
	size_t n = json_array_size(cols);
	p->cols = sl_realloc(p->cols, (n ? n : 1) * sizeof(*p->cols));
	for (size_t i = 0; i < n; i++) {
		memset(&p->cols[i], 0, sizeof(p->cols[i])); /* freeable whatever fails */
		p->ncols = i + 1;
		if (col_from_json(&p->cols[i], json_array_get(cols, i), err)) {
			sl_profile_free(p);
			return -1;
		}
		if (p->cols[i].count != p->rows) {
			sl_err(err, SL_USAGE, "profile: column %s counts %llu rows of %llu",
			       p->cols[i].name, (unsigned long long)p->cols[i].count,
			       (unsigned long long)p->rows);
			sl_profile_free(p);
			return -1;
		}
	}
	return 0;
}

/* ---- reading a table ----------------------------------------------------- */

struct scan {
	struct sl_profile *p;
	double sample;
	uint64_t rng;
	int bad;
};

static int scan_row(void *arg, int ncols, const struct sl_cell *cells)
{
	struct scan *s = arg;
	if ((size_t)ncols != s->p->ncols) {
		s->bad = 1;
		return 1;
	}
	if (s->sample < 1) {
		/* xorshift64*: a fixed-seed Bernoulli draw per row */
		s->rng ^= s->rng >> 12;
		s->rng ^= s->rng << 25;
		s->rng ^= s->rng >> 27;
		double u = (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
		if (u >= s->sample)
			return 0;
	}
	struct sl_profile *p = s->p;
	p->rows++;
	for (size_t i = 0; i < p->ncols; i++) {
		struct sl_colprof *c = &p->cols[i];
		const struct sl_cell *x = &cells[i];
		char buf[32];
		if (c->kind == SL_COL_NUMERIC && (x->type == SL_CELL_INT || x->type == SL_CELL_REAL))
			sl_colprof_add_parsed(c, "", x->d, !isfinite(x->d), p->exact_rows);
		else
			sl_colprof_add(c, sl_cell_text(x, buf), p->exact_rows);
	}
	return 0;
}

int sl_profile_table(struct sl_db *db, const char *table, const char *const *columns,
		     size_t ncolumns, const char *where, double sample, uint64_t exact_rows,
		     struct sl_profile *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	const struct sl_db_driver *d = db->driver;
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	if (d->catalog(db, &cat, err))
		return -1;
	const char *bare = !strncmp(table, "public.", 7) ? table + 7 : table;
	if (!sl_catalog_find(&cat, "table", bare)) {
		sl_catalog_free(&cat);
		return sl_err(err, SL_USAGE, "no table %s in %s", table, db->url_masked);
	}
	struct sl_strvec names = SL_STRVEC_INIT, types = SL_STRVEC_INIT;
	int rc = -1;
	if (columns) {
		for (size_t i = 0; i < ncolumns; i++) {
			struct sl_buf key = SL_BUF_INIT;
			sl_buf_printf(&key, "%s.%s", bare, columns[i]);
			const struct sl_cat_obj *o = sl_catalog_find(&cat, "column", key.s);
			sl_buf_free(&key);
			if (!o) {
				sl_err(err, SL_USAGE, "table %s has no column %s", table, columns[i]);
				goto out;
			}
			sl_strvec_push(&names, columns[i]);
			sl_strvec_push(&types, o->type ? o->type : "");
		}
	} else {
		size_t tl = strlen(bare);
		for (size_t i = 0; i < cat.n; i++) {
			const struct sl_cat_obj *o = &cat.v[i];
			if (strcmp(o->kind, "column") || !o->table || strcmp(o->table, bare))
				continue;
			sl_strvec_push(&names, o->name + tl + 1);
			sl_strvec_push(&types, o->type ? o->type : "");
		}
	}
	sl_profile_init(out, table, names.n, (const char *const *)names.v,
			(const char *const *)types.v, exact_rows);
	out->sample = sample > 0 && sample < 1 ? sample : 1;
	if (where)
		out->where = sl_strdup(where);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT ");
	for (size_t i = 0; i < names.n; i++) {
		if (i)
			sl_buf_adds(&q, ", ");
		d->quote_ident(&q, names.v[i]);
	}
	sl_buf_adds(&q, " FROM ");
	sl_db_quote_table(d, &q, table);
	if (where)
		sl_buf_printf(&q, " WHERE %s", where);
	struct scan s = { out, out->sample, 0x9E3779B97F4A7C15ULL, 0 };
	rc = sl_db_stream_cells(db, q.s, scan_row, &s, err);
	sl_buf_free(&q);
	if (!rc && s.bad)
		rc = sl_err(err, SL_ENV, "the query returned an unexpected number of columns");
	if (rc)
		sl_profile_free(out);
out:
	sl_strvec_free(&names);
	sl_strvec_free(&types);
	sl_catalog_free(&cat);
	return rc;
}
