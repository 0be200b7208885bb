/*
 * sketch.c - KLL quantiles, HyperLogLog distinct counts and Space-Saving
 * heavy hitters (see sketch.h for what each promises).
 *
 * Every from_json treats its document as hostile: a profile file may be
 * hand-edited or truncated, so each size is checked against what the
 * parameters allow before anything is allocated, and a document that
 * could not have come from sl_*_to_json is refused with the reason
 * rather than repaired.  JSON integers are signed 64-bit in jansson, so
 * counts saturate at INT64_MAX: a merge that would pass it fails instead.
 */
#include "sketch.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ----------------------------------------------------- */

#define MAX_COUNT ((uint64_t)INT64_MAX)   /* the largest n JSON carries */

/* splitmix64 (Steele, Lea, Flood 2014): a full-period generator whose
 * output is a good 64-bit mix of a counter; used for KLL coin flips. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Non-finite doubles have no JSON number, so they travel as strings. */
static json_t *json_double(double v)
{
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

static int get_double(const json_t *j, double *out)
{
	if (json_is_number(j)) {
		*out = json_number_value(j);
		return isnan(*out) ? -1 : 0;
	}
	if (json_is_string(j) && !strcmp(json_string_value(j), "Infinity")) {
		*out = INFINITY;
		return 0;
	}
	if (json_is_string(j) && !strcmp(json_string_value(j), "-Infinity")) {
		*out = -INFINITY;
		return 0;
	}
	return -1;
}

/* An integer member in [lo, hi], else -1 (the caller words the error). */
static int get_int(const json_t *o, const char *key, json_int_t lo, json_int_t hi,
		   json_int_t *out)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- 64-bit hash -------------------------------------------------------- */

/*
 * XXH64 (Yann Collet's xxHash, 64-bit variant, seed 0), written here from
 * the published algorithm so that the output matches the reference
 * implementation bit for bit (the unit test checks its vectors).  It reads
 * bytes little-endian explicitly, so the hash - and with it every HLL
 * register and hash-based split - is the same on every platform.
 */
#define P64_1 0x9E3779B185EBCA87ULL
#define P64_2 0xC2B2AE3D27D4EB4FULL
#define P64_3 0x165667B19E3779F9ULL
#define P64_4 0x85EBCA77C2B2AE63ULL
#define P64_5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t read64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t read32(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t xxh_round(uint64_t acc, uint64_t input)
{
	acc += input * P64_2;
	acc = rotl64(acc, 31);
	return acc * P64_1;
}

static uint64_t xxh_merge_round(uint64_t acc, uint64_t val)
{
	acc ^= xxh_round(0, val);
	return acc * P64_1 + P64_4;
}

uint64_t sl_hash64(const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = P64_1 + P64_2, v2 = P64_2, v3 = 0, v4 = 0 - P64_1;
		const unsigned char *limit = end - 32;
		do {
			v1 = xxh_round(v1, read64(p));
			v2 = xxh_round(v2, read64(p + 8));
			v3 = xxh_round(v3, read64(p + 16));
			v4 = xxh_round(v4, read64(p + 24));
			p += 32;
		} while (p <= limit);
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xxh_merge_round(h, v1);
		h = xxh_merge_round(h, v2);
		h = xxh_merge_round(h, v3);
		h = xxh_merge_round(h, v4);
	} else {
		h = P64_5;
	}
	h += (uint64_t)len;
	for (; end - p >= 8; p += 8)
		h = rotl64(h ^ xxh_round(0, read64(p)), 27) * P64_1 + P64_4;
	if (end - p >= 4) {
		h = rotl64(h ^ read32(p) * P64_1, 23) * P64_2 + P64_3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ *p * P64_5, 11) * P64_1;
	h ^= h >> 33;
	h *= P64_2;
	h ^= h >> 29;
	h *= P64_3;
	return h ^ (h >> 32);
}

/* ---- KLL ---------------------------------------------------------------- */

/*
 * The levels are compactors: an item at level h stands for 2^h values.
 * Level h of L has capacity max(8, ~k (2/3)^(L-1-h)), so the top level
 * holds k and the total stays under 3k + 8L (Karnin et al., section 4,
 * with the lazy schedule of Apache DataSketches: compact the lowest level
 * at capacity, and only when the whole sketch is full).  Compacting sorts
 * the level, leaves its smallest item behind when the count is odd (so
 * the total weight stays exactly n), and promotes every other item from
 * a random start.  Level 0 is kept unsorted (appends are O(1)); levels
 * above are sorted.
 *
 * The coin flips are keyed by n (splitmix64 seeded with a fixed constant
 * and n at the start of each compression), so the sketch is a function of
 * its input order alone, and one read back from JSON - which carries n -
 * continues exactly as the original would have.
 */
#define KLL_MIN_K 8
#define KLL_MAX_K 65535      /* as in DataSketches; 3k doubles is 1.5 MiB */
#define KLL_MIN_CAP 8
/* An item at level h weighs 2^h and n <= 2^63 - 1, so level 62 can never
 * reach 8 items and be compacted: 63 levels is the most there can be. */
#define KLL_MAX_LEVELS 63
#define KLL_SEED 0x5eed6b11c0ffee01ULL

struct sl_kll {
	int k;
	int nlevels;                     /* >= 1 */
	uint64_t n;
	double min, max;                 /* NaN when n == 0 */
	size_t retained;                 /* sum of len[] */
	size_t capacity;                 /* sum of level capacities for nlevels */
	double *lv[KLL_MAX_LEVELS];
	size_t len[KLL_MAX_LEVELS], alloc[KLL_MAX_LEVELS];
};

/* Capacity of the level depth levels below the top: ceil(2/3) steps from k
 * in integers, so every platform agrees on when compaction happens. */
static size_t kll_level_cap(int k, int depth)
{
	uint64_t c = (uint64_t)k;
	for (int d = 0; d < depth && c > KLL_MIN_CAP; d++)
		c = (2 * c + 2) / 3;
	return c < KLL_MIN_CAP ? KLL_MIN_CAP : (size_t)c;
}

static size_t kll_total_cap(int k, int nlevels)
{
	size_t total = 0;
	for (int d = 0; d < nlevels; d++)
		total += kll_level_cap(k, d);
	return total;
}

struct sl_kll *sl_kll_new(int k)
{
	if (k < KLL_MIN_K || k > KLL_MAX_K)
		return NULL;
	struct sl_kll *s = sl_calloc(1, sizeof(*s));
	s->k = k;
	s->nlevels = 1;
	s->min = s->max = NAN;
	s->capacity = kll_total_cap(k, 1);
	return s;
}

void sl_kll_free(struct sl_kll *s)
{
	if (!s)
		return;
	for (int h = 0; h < KLL_MAX_LEVELS; h++)
		free(s->lv[h]);
	free(s);
}

static void kll_reserve(struct sl_kll *s, int h, size_t need)
{
	if (s->alloc[h] >= need)
		return;
	size_t a = s->alloc[h] ? s->alloc[h] : 16;
	while (a < need)
		a *= 2;
	s->lv[h] = sl_realloc(s->lv[h], a * sizeof(double));
	s->alloc[h] = a;
}

/* Merge the sorted run src[0..m) into the sorted level h, from the back. */
static void kll_merge_sorted(struct sl_kll *s, int h, const double *src, size_t m)
{
	kll_reserve(s, h, s->len[h] + m);
	double *a = s->lv[h];
	size_t i = s->len[h], j = m, w = s->len[h] + m;
	while (j > 0) {
		if (i > 0 && a[i - 1] > src[j - 1])
			a[--w] = a[--i];
		else
			a[--w] = src[--j];
	}
	s->len[h] += m;
}

static void kll_grow_levels(struct sl_kll *s, int nlevels)
{
	if (nlevels > s->nlevels) {
		s->nlevels = nlevels;
		s->capacity = kll_total_cap(s->k, nlevels);
	}
}

/* Halve level h into level h + 1 (see the block comment above). */
static void kll_compact(struct sl_kll *s, int h, uint64_t *rng)
{
	double *a = s->lv[h];
	size_t len = s->len[h];
	if (h == 0)
		qsort(a, len, sizeof(*a), cmp_double);
	size_t keep = len & 1, off = (size_t)(splitmix64(rng) >> 63);
	size_t half = (len - keep) / 2;
	for (size_t i = 0; i < half; i++)
		a[keep + i] = a[keep + 2 * i + off];
	if (h + 1 == s->nlevels)
		kll_grow_levels(s, h + 2);
	kll_merge_sorted(s, h + 1, a + keep, half);
	s->len[h] = keep;
	s->retained -= half;
	/* A low level's capacity shrinks as levels are added above it:
	 * give back storage it no longer needs, so memory follows k. */
	size_t cap = kll_level_cap(s->k, s->nlevels - 1 - h);
	if (s->alloc[h] > 4 * cap) {
		s->alloc[h] = 2 * cap;
		s->lv[h] = sl_realloc(s->lv[h], s->alloc[h] * sizeof(double));
	}
}

/* Compact until the retained items fit the capacity again.  Each step
 * frees at least 4 slots (a level at capacity holds >= 8) and adding a
 * level only raises the capacity, so this terminates. */
static void kll_compress(struct sl_kll *s)
{
	uint64_t rng = KLL_SEED ^ s->n;
	while (s->retained >= s->capacity) {
		int h = 0;
		while (h < s->nlevels - 1 && s->len[h] < kll_level_cap(s->k, s->nlevels - 1 - h))
			h++;
		if (h + 1 >= KLL_MAX_LEVELS)
			return; /* unreachable while n <= INT64_MAX (see KLL_MAX_LEVELS) */
		kll_compact(s, h, &rng);
	}
}

void sl_kll_add(struct sl_kll *s, double v)
{
	if (isnan(v) || s->n >= MAX_COUNT)
		return;
	if (s->n == 0 || v < s->min)
		s->min = v;
	if (s->n == 0 || v > s->max)
		s->max = v;
	s->n++;
	kll_reserve(s, 0, s->len[0] + 1);
	s->lv[0][s->len[0]++] = v;
	if (++s->retained >= s->capacity)
		kll_compress(s);
}

static struct sl_kll *kll_clone(const struct sl_kll *s)
{
	struct sl_kll *c = sl_malloc(sizeof(*c));
	*c = *s;
	for (int h = 0; h < KLL_MAX_LEVELS; h++) {
		c->lv[h] = NULL;
		c->alloc[h] = 0;
		if (s->len[h]) {
			kll_reserve(c, h, s->len[h]);
			memcpy(c->lv[h], s->lv[h], s->len[h] * sizeof(double));
		}
	}
	return c;
}

int sl_kll_merge(struct sl_kll *dst, const struct sl_kll *src)
{
	if (dst->k != src->k || src->n > MAX_COUNT - dst->n)
		return -1;
	if (src->n == 0)
		return 0;
	if (dst == src) {
		/* absorbing itself: read from a copy, the levels move under us */
		struct sl_kll *copy = kll_clone(src);
		int rc = sl_kll_merge(dst, copy);
		sl_kll_free(copy);
		return rc;
	}
	kll_grow_levels(dst, src->nlevels);
	kll_reserve(dst, 0, dst->len[0] + src->len[0]);
	if (src->len[0])
		memcpy(dst->lv[0] + dst->len[0], src->lv[0], src->len[0] * sizeof(double));
	dst->len[0] += src->len[0];
	for (int h = 1; h < src->nlevels; h++)
		kll_merge_sorted(dst, h, src->lv[h], src->len[h]);
	dst->retained += src->retained;
	if (dst->n == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->n == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->n += src->n;
	kll_compress(dst);
	return 0;
}

uint64_t sl_kll_n(const struct sl_kll *s)
{
	return s->n;
}

double sl_kll_min(const struct sl_kll *s)
{
	return s->min;
}

double sl_kll_max(const struct sl_kll *s)
{
	return s->max;
}

struct witem {
	double v;
	uint64_t w;
};

static int cmp_witem(const void *a, const void *b)
{
	return cmp_double(&((const struct witem *)a)->v, &((const struct witem *)b)->v);
}

/* All retained items with their weights, sorted by value; caller frees. */
static struct witem *kll_sorted(const struct sl_kll *s)
{
	struct witem *it = sl_malloc(s->retained * sizeof(*it));
	size_t m = 0;
	for (int h = 0; h < s->nlevels; h++)
		for (size_t i = 0; i < s->len[h]; i++)
			it[m++] = (struct witem){ s->lv[h][i], (uint64_t)1 << h };
	qsort(it, m, sizeof(*it), cmp_witem);
	return it;
}

double sl_kll_quantile(const struct sl_kll *s, double q)
{
	if (s->n == 0 || isnan(q))
		return NAN;
	if (q <= 0)
		return s->min;
	if (q >= 1)
		return s->max;
	/* the first item whose cumulative weight reaches q n */
	struct witem *it = kll_sorted(s);
	double target = q * (double)s->n, v = s->max;
	uint64_t cum = 0;
	for (size_t i = 0; i < s->retained; i++) {
		cum += it[i].w;
		if ((double)cum >= target) {
			v = it[i].v;
			break;
		}
	}
	free(it);
	return v;
}

double sl_kll_cdf(const struct sl_kll *s, double v)
{
	if (s->n == 0 || isnan(v))
		return NAN;
	/* exact at and beyond the ends, which the sketch knows exactly */
	if (v < s->min)
		return 0;
	if (v >= s->max)
		return 1;
	uint64_t below = 0;
	for (int h = 0; h < s->nlevels; h++)
		for (size_t i = 0; i < s->len[h]; i++)
			if (s->lv[h][i] <= v)
				below += (uint64_t)1 << h;
	double f = (double)below / (double)s->n;
	return f > 1 ? 1 : f;
}

size_t sl_kll_items(const struct sl_kll *s, double **vals, uint64_t **weights)
{
	*vals = NULL;
	*weights = NULL;
	if (s->retained == 0)
		return 0;
	struct witem *it = kll_sorted(s);
	*vals = sl_malloc(s->retained * sizeof(**vals));
	*weights = sl_malloc(s->retained * sizeof(**weights));
	for (size_t i = 0; i < s->retained; i++) {
		(*vals)[i] = it[i].v;
		(*weights)[i] = it[i].w;
	}
	free(it);
	return s->retained;
}

/* Level 0 is written sorted: the same multiset gives the same document
 * whatever order it arrived in, and compaction sorts it anyway. */
json_t *sl_kll_to_json(const struct sl_kll *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "k", json_integer(s->k));
	json_object_set_new(o, "n", json_integer((json_int_t)s->n));
	json_object_set_new(o, "min", s->n ? json_double(s->min) : json_null());
	json_object_set_new(o, "max", s->n ? json_double(s->max) : json_null());
	json_t *levels = json_array();
	double *tmp = sl_malloc((s->len[0] ? s->len[0] : 1) * sizeof(double));
	for (int h = 0; h < s->nlevels; h++) {
		const double *a = s->lv[h];
		if (h == 0 && s->len[0]) {
			memcpy(tmp, a, s->len[0] * sizeof(double));
			qsort(tmp, s->len[0], sizeof(double), cmp_double);
			a = tmp;
		}
		json_t *l = json_array();
		for (size_t i = 0; i < s->len[h]; i++)
			json_array_append_new(l, json_double(a[i]));
		json_array_append_new(levels, l);
	}
	free(tmp);
	json_object_set_new(o, "levels", levels);
	return o;
}

/* Check the shape and sizes of "levels" before anything is allocated. */
static int kll_check_levels(const json_t *levels, int k, uint64_t n, struct sl_error *err)
{
	size_t nl = json_array_size(levels);
	if (!json_is_array(levels) || nl == 0)
		return sl_err(err, SL_USAGE, "kll: 'levels' must be an array of arrays of numbers");
	if (nl > KLL_MAX_LEVELS)
		return sl_err(err, SL_USAGE, "kll: %zu levels, at most %d are possible", nl,
			      KLL_MAX_LEVELS);
	size_t total = 0;
	uint64_t weight = 0;
	for (size_t h = 0; h < nl; h++) {
		const json_t *l = json_array_get(levels, h);
		if (!json_is_array(l))
			return sl_err(err, SL_USAGE,
				      "kll: 'levels' must be an array of arrays of numbers");
		size_t len = json_array_size(l);
		total += len;
		/* an item at level h weighs 2^h; keep the sum within INT64_MAX */
		if (len && (len > (MAX_COUNT >> h) || len << h > MAX_COUNT - weight))
			return sl_err(err, SL_USAGE, "kll: the levels hold more than 2^63 values");
		weight += (uint64_t)len << h;
	}
	if (total >= kll_total_cap(k, (int)nl))
		return sl_err(err, SL_USAGE, "kll: %zu retained items, more than k = %d allows",
			      total, k);
	if (weight != n)
		return sl_err(err, SL_USAGE, "kll: 'n' is %llu but the levels hold %llu values",
			      (unsigned long long)n, (unsigned long long)weight);
	return 0;
}

struct sl_kll *sl_kll_from_json(const json_t *j, struct sl_error *err)
{
	json_int_t k, n;
	if (!json_is_object(j)) {
		sl_err(err, SL_USAGE, "kll: expected an object");
		return NULL;
	}
	if (get_int(j, "k", KLL_MIN_K, KLL_MAX_K, &k)) {
		sl_err(err, SL_USAGE, "kll: 'k' must be an integer from %d to %d", KLL_MIN_K,
		       KLL_MAX_K);
		return NULL;
	}
	if (get_int(j, "n", 0, INT64_MAX, &n)) {
		sl_err(err, SL_USAGE, "kll: 'n' must be a non-negative integer");
		return NULL;
	}
	const json_t *levels = json_object_get(j, "levels");
	if (kll_check_levels(levels, (int)k, (uint64_t)n, err))
		return NULL;
	double min = NAN, max = NAN;
	if (n > 0 && (get_double(json_object_get(j, "min"), &min) ||
		      get_double(json_object_get(j, "max"), &max) || min > max)) {
		sl_err(err, SL_USAGE, "kll: 'min' and 'max' must be numbers with min <= max");
		return NULL;
	}
	struct sl_kll *s = sl_kll_new((int)k);
	s->n = (uint64_t)n;
	s->min = min;
	s->max = max;
	kll_grow_levels(s, (int)json_array_size(levels));
	for (int h = 0; h < s->nlevels; h++) {
		const json_t *l = json_array_get(levels, (size_t)h);
		size_t len = json_array_size(l);
		kll_reserve(s, h, len);
		for (size_t i = 0; i < len; i++) {
			double v;
			if (get_double(json_array_get(l, i), &v)) {
				sl_err(err, SL_USAGE,
				       "kll: 'levels' must be an array of arrays of numbers");
				goto fail;
			}
			if (v < min || v > max) {
				sl_err(err, SL_USAGE, "kll: level %d holds %g, outside [min, max]",
				       h, v);
				goto fail;
			}
			/* compaction merges sorted runs, so every level must be sorted */
			if (i > 0 && v < s->lv[h][i - 1]) {
				sl_err(err, SL_USAGE, "kll: level %d is not sorted", h);
				goto fail;
			}
			s->lv[h][i] = v;
		}
		s->len[h] = len;
		s->retained += len;
	}
	return s;
fail:
	sl_kll_free(s);
	return NULL;
}

/* ---- HyperLogLog -------------------------------------------------------- */

/*
 * Register j holds the largest rank (1 + leading zeros) seen among the
 * 64 - p hash bits below the p that chose j, so at most 64 - p + 1.
 * A 64-bit hash makes the large-range correction of the 2007 paper moot.
 */
#define HLL_MIN_P 4
#define HLL_MAX_P 18

struct sl_hll {
	int p;
	uint8_t reg[];               /* 2^p registers */
};

struct sl_hll *sl_hll_new(int p)
{
	if (p < HLL_MIN_P || p > HLL_MAX_P)
		return NULL;
	struct sl_hll *h = sl_calloc(1, sizeof(*h) + ((size_t)1 << p));
	h->p = p;
	return h;
}

void sl_hll_free(struct sl_hll *h)
{
	free(h);
}

void sl_hll_add(struct sl_hll *h, const void *data, size_t len)
{
	uint64_t x = sl_hash64(data, len);
	size_t j = (size_t)(x >> (64 - h->p));
	uint64_t w = x << h->p;
	uint8_t rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(64 - h->p + 1);
	if (rank > h->reg[j])
		h->reg[j] = rank;
}

int sl_hll_merge(struct sl_hll *dst, const struct sl_hll *src)
{
	if (dst->p != src->p)
		return -1;
	for (size_t j = 0; j < (size_t)1 << dst->p; j++)
		if (src->reg[j] > dst->reg[j])
			dst->reg[j] = src->reg[j];
	return 0;
}

double sl_hll_estimate(const struct sl_hll *h)
{
	size_t m = (size_t)1 << h->p, zeros = 0;
	double sum = 0;
	for (size_t j = 0; j < m; j++) {
		sum += ldexp(1.0, -h->reg[j]);
		zeros += h->reg[j] == 0;
	}
	double dm = (double)m, alpha;
	if (m == 16)
		alpha = 0.673;
	else if (m == 32)
		alpha = 0.697;
	else if (m == 64)
		alpha = 0.709;
	else
		alpha = 0.7213 / (1 + 1.079 / dm);
	double e = alpha * dm * dm / sum;
	/* small range: the raw estimate is biased up, linear counting is not */
	if (e <= 2.5 * dm && zeros)
		e = dm * log(dm / (double)zeros);
	return e;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding; returns a malloc'd NUL-terminated string. */
static char *b64_encode(const uint8_t *in, size_t len)
{
	char *out = sl_malloc((len + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Decode exactly len bytes from s (slen characters), else -1.  Only the
 * canonical encoding is taken: no whitespace, padding exactly where the
 * length ends, and zero bits after the last byte. */
static int b64_decode(const char *s, size_t slen, uint8_t *out, size_t len)
{
	if (slen != (len + 2) / 3 * 4)
		return -1;
	for (size_t i = 0, o = 0; i < slen; i += 4, o += 3) {
		size_t bytes = len - o < 3 ? len - o : 3;   /* data bytes in this quad */
		uint32_t v = 0;
		for (size_t t = 0; t < 4; t++) {
			int c = t <= bytes ? b64_value(s[i + t]) : (s[i + t] == '=' ? 0 : -1);
			if (c < 0)
				return -1;
			v = v << 6 | (uint32_t)c;
		}
		for (size_t t = 0; t < 3; t++) {
			uint8_t byte = (uint8_t)(v >> (16 - 8 * t));
			if (t < bytes)
				out[o + t] = byte;
			else if (byte)
				return -1;
		}
	}
	return 0;
}

json_t *sl_hll_to_json(const struct sl_hll *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "p", json_integer(h->p));
	char *s = b64_encode(h->reg, (size_t)1 << h->p);
	json_object_set_new(o, "registers", json_string(s));
	free(s);
	return o;
}

struct sl_hll *sl_hll_from_json(const json_t *j, struct sl_error *err)
{
	json_int_t p;
	if (!json_is_object(j)) {
		sl_err(err, SL_USAGE, "hll: expected an object");
		return NULL;
	}
	if (get_int(j, "p", HLL_MIN_P, HLL_MAX_P, &p)) {
		sl_err(err, SL_USAGE, "hll: 'p' must be an integer from %d to %d", HLL_MIN_P,
		       HLL_MAX_P);
		return NULL;
	}
	const json_t *r = json_object_get(j, "registers");
	struct sl_hll *h = sl_hll_new((int)p);
	size_t m = (size_t)1 << p;
	if (!json_is_string(r) ||
	    b64_decode(json_string_value(r), json_string_length(r), h->reg, m)) {
		sl_err(err, SL_USAGE, "hll: 'registers' must be base64 of %zu bytes", m);
		goto fail;
	}
	for (size_t i = 0; i < m; i++)
		if (h->reg[i] > 64 - p + 1) {
			sl_err(err, SL_USAGE, "hll: register %zu is %d, more than 64 - p + 1 = %d",
			       i, h->reg[i], (int)(64 - p + 1));
			goto fail;
		}
	return h;
fail:
	sl_hll_free(h);
	return NULL;
}

/* ---- Space-Saving top-k ------------------------------------------------- */

/*
 * m counters, each a value with a count and the error it was admitted
 * with.  A hash table (linear probing, backward-shift deletion) finds a
 * value's counter and a min-heap on count finds the one to replace, so an
 * add costs O(log m).  The invariant that makes merging sound: a value
 * without a counter occurred at most min-count times, and none occurred
 * at all while fewer than m counters are in use.
 */
#define TOPK_MAX_M 65536

struct counter {
	char *v;                     /* value: UTF-8 without NUL, NUL-terminated */
	size_t len;
	uint64_t hash, count, error;
	size_t heap;                 /* position in t->heap */
};

struct sl_topk {
	int m;
	uint64_t n;
	size_t used;                 /* counters in use, <= m */
	struct counter *c;           /* m */
	size_t *heap;                /* counter indexes, min-heap on count */
	size_t *table;               /* tsize slots: counter index or EMPTY */
	size_t tmask;
	struct sl_topk_item *items;  /* m, filled by sl_topk_items */
};

#define EMPTY ((size_t)-1)

struct sl_topk *sl_topk_new(int m)
{
	if (m < 1 || m > TOPK_MAX_M)
		return NULL;
	struct sl_topk *t = sl_calloc(1, sizeof(*t));
	t->m = m;
	t->c = sl_calloc((size_t)m, sizeof(*t->c));
	t->heap = sl_calloc((size_t)m, sizeof(*t->heap));
	t->items = sl_calloc((size_t)m, sizeof(*t->items));
	size_t ts = 4;
	while (ts < 2 * (size_t)m)
		ts *= 2;
	t->table = sl_malloc(ts * sizeof(*t->table));
	for (size_t i = 0; i < ts; i++)
		t->table[i] = EMPTY;
	t->tmask = ts - 1;
	return t;
}

void sl_topk_free(struct sl_topk *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->used; i++)
		free(t->c[i].v);
	free(t->c);
	free(t->heap);
	free(t->table);
	free(t->items);
	free(t);
}

/* The table slot holding value v, or the empty slot where it would go. */
static size_t topk_slot(const struct sl_topk *t, uint64_t hash, const char *v, size_t len)
{
	size_t i = (size_t)hash & t->tmask;
	for (;; i = (i + 1) & t->tmask) {
		size_t ci = t->table[i];
		if (ci == EMPTY)
			return i;
		const struct counter *c = &t->c[ci];
		if (c->hash == hash && c->len == len && !memcmp(c->v, v, len))
			return i;
	}
}

/* Delete slot i, shifting later entries of its cluster back (Knuth 6.4 R). */
static void topk_table_delete(struct sl_topk *t, size_t i)
{
	size_t j = i;
	for (;;) {
		t->table[i] = EMPTY;
		for (;;) {
			j = (j + 1) & t->tmask;
			if (t->table[j] == EMPTY)
				return;
			size_t home = (size_t)t->c[t->table[j]].hash & t->tmask;
			/* move j back unless its home lies cyclically in (i, j] */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		t->table[i] = t->table[j];
		i = j;
	}
}

static void heap_swap(struct sl_topk *t, size_t a, size_t b)
{
	size_t x = t->heap[a];
	t->heap[a] = t->heap[b];
	t->heap[b] = x;
	t->c[t->heap[a]].heap = a;
	t->c[t->heap[b]].heap = b;
}

static void heap_down(struct sl_topk *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;
		if (l < t->used && t->c[t->heap[l]].count < t->c[t->heap[s]].count)
			s = l;
		if (r < t->used && t->c[t->heap[r]].count < t->c[t->heap[s]].count)
			s = r;
		if (s == i)
			return;
		heap_swap(t, i, s);
		i = s;
	}
}

static void heap_up(struct sl_topk *t, size_t i)
{
	while (i > 0 && t->c[t->heap[(i - 1) / 2]].count > t->c[t->heap[i]].count) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Give value v a new counter (used < m, v not present). */
static void topk_put(struct sl_topk *t, uint64_t hash, const char *v, size_t len,
		     uint64_t count, uint64_t error)
{
	size_t ci = t->used++;
	struct counter *c = &t->c[ci];
	c->v = sl_malloc(len + 1);
	if (len)
		memcpy(c->v, v, len);
	c->v[len] = '\0';
	c->len = len;
	c->hash = hash;
	c->count = count;
	c->error = error;
	c->heap = ci;
	t->heap[ci] = ci;
	heap_up(t, ci);
	t->table[topk_slot(t, hash, v, len)] = ci;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no
 * overlongs, surrogates or code points above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0x01 && c <= 0x7f)
		return 1;
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
		     : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Values are kept as JSON can carry them, so that a summary written out
 * reads back the same: a byte that is not UTF-8 (SQLite stores anything)
 * and NUL become U+FFFD.  Returns v when it is clean, else the cleaned
 * copy in b; *len is updated.
 */
static const char *utf8_clean(const char *v, size_t *len, struct sl_buf *b)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0, n = *len;
	while (i < n && utf8_seq(s + i, n - i))
		i += utf8_seq(s + i, n - i);
	if (i == n)
		return v;
	sl_buf_add(b, v, i);
	while (i < n) {
		size_t k = utf8_seq(s + i, n - i);
		if (k) {
			sl_buf_add(b, v + i, k);
			i += k;
		} else {
			sl_buf_adds(b, "\xEF\xBF\xBD");
			i++;
		}
	}
	*len = b->len;
	return b->s;
}

/* Add a value; see utf8_clean for what counts as the same value. */
static void topk_add_clean(struct sl_topk *t, const char *value, size_t len)
{
	if (t->n >= MAX_COUNT)
		return;
	t->n++;
	uint64_t hash = sl_hash64(value, len);
	size_t slot = topk_slot(t, hash, value, len);
	if (t->table[slot] != EMPTY) {
		struct counter *c = &t->c[t->table[slot]];
		c->count++;
		heap_down(t, c->heap);
		return;
	}
	if (t->used < (size_t)t->m) {
		topk_put(t, hash, value, len, 1, 0);
		return;
	}
	/* full: the smallest counter takes the new value, keeping its count
	 * as the new value's error (Metwally et al., Algorithm 1) */
	size_t ci = t->heap[0];
	struct counter *c = &t->c[ci];
	topk_table_delete(t, topk_slot(t, c->hash, c->v, c->len));
	c->v = sl_realloc(c->v, len + 1);
	if (len)
		memcpy(c->v, value, len);
	c->v[len] = '\0';
	c->len = len;
	c->hash = hash;
	c->error = c->count;
	c->count++;
	t->table[topk_slot(t, hash, value, len)] = ci;
	heap_down(t, 0);
}

void sl_topk_add(struct sl_topk *t, const char *value, size_t len)
{
	struct sl_buf b = SL_BUF_INIT;
	value = utf8_clean(value, &len, &b);
	topk_add_clean(t, value, len);
	sl_buf_free(&b);
}

/* count descending, then value ascending (bytewise, shorter first) */
static int cmp_counter(const struct counter *a, const struct counter *b)
{
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	size_t n = a->len < b->len ? a->len : b->len;
	int r = memcmp(a->v, b->v, n);
	if (r)
		return r;
	return (a->len > b->len) - (a->len < b->len);
}

static int cmp_counter_p(const void *a, const void *b)
{
	return cmp_counter(*(const struct counter *const *)a, *(const struct counter *const *)b);
}

static int cmp_counter_v(const void *a, const void *b)
{
	return cmp_counter(a, b);
}

uint64_t sl_topk_n(const struct sl_topk *t)
{
	return t->n;
}

/* The counters in use, in item order; caller frees. */
static const struct counter **topk_order(const struct sl_topk *t)
{
	const struct counter **order = sl_malloc((t->used ? t->used : 1) * sizeof(*order));
	for (size_t i = 0; i < t->used; i++)
		order[i] = &t->c[i];
	qsort(order, t->used, sizeof(*order), cmp_counter_p);
	return order;
}

/* The items array is a cache owned by the sketch: filling it does not
 * change what the sketch summarises, hence the const. */
const struct sl_topk_item *sl_topk_items(const struct sl_topk *t, size_t *n)
{
	struct sl_topk *w = (struct sl_topk *)t;
	const struct counter **order = topk_order(t);
	for (size_t i = 0; i < t->used; i++) {
		const struct counter *c = order[i];
		w->items[i] = (struct sl_topk_item){ c->v, c->count, c->error };
	}
	free(order);
	*n = t->used;
	return t->items;
}

/*
 * Agarwal et al. 2012, section 3, in its Space-Saving form: a value's
 * count is the sum of its counts in both, a value missing from a full
 * summary is charged that summary's minimum (as count and as error: it
 * may have occurred that often unseen), and the m largest survive.  A
 * dropped value's combined count is at most the new minimum, which keeps
 * the invariant above for the result.  The result is built afresh, so
 * merging a summary into itself needs no copy.
 */
int sl_topk_merge(struct sl_topk *dst, const struct sl_topk *src)
{
	if (dst->m != src->m || src->n > MAX_COUNT - dst->n)
		return -1;
	size_t full = (size_t)dst->m;
	uint64_t dmin = dst->used == full ? dst->c[dst->heap[0]].count : 0;
	uint64_t smin = src->used == full ? src->c[src->heap[0]].count : 0;
	struct counter *all = sl_malloc((dst->used + src->used + 1) * sizeof(*all));
	size_t na = 0;
	for (size_t i = 0; i < dst->used; i++) {
		const struct counter *d = &dst->c[i];
		size_t slot = topk_slot(src, d->hash, d->v, d->len);
		all[na] = *d;
		if (src->table[slot] != EMPTY) {
			all[na].count += src->c[src->table[slot]].count;
			all[na].error += src->c[src->table[slot]].error;
		} else {
			all[na].count += smin;
			all[na].error += smin;
		}
		na++;
	}
	for (size_t i = 0; i < src->used; i++) {
		const struct counter *s = &src->c[i];
		if (dst->table[topk_slot(dst, s->hash, s->v, s->len)] != EMPTY)
			continue;
		all[na] = *s;
		all[na].count += dmin;
		all[na].error += dmin;
		na++;
	}
	qsort(all, na, sizeof(*all), cmp_counter_v);
	struct sl_topk *out = sl_topk_new(dst->m);
	for (size_t i = 0; i < na && i < full; i++)
		topk_put(out, all[i].hash, all[i].v, all[i].len, all[i].count, all[i].error);
	out->n = dst->n + src->n;
	free(all);
	/* swap the new state into dst and free the old */
	struct sl_topk old = *dst;
	*dst = *out;
	*out = old;
	sl_topk_free(out);
	return 0;
}

json_t *sl_topk_to_json(const struct sl_topk *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "m", json_integer(t->m));
	json_object_set_new(o, "n", json_integer((json_int_t)t->n));
	const struct counter **order = topk_order(t);
	json_t *a = json_array();
	for (size_t i = 0; i < t->used; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "value", json_stringn(order[i]->v, order[i]->len));
		json_object_set_new(e, "count", json_integer((json_int_t)order[i]->count));
		json_object_set_new(e, "error", json_integer((json_int_t)order[i]->error));
		json_array_append_new(a, e);
	}
	free(order);
	json_object_set_new(o, "items", a);
	return o;
}

/* Item i of a top-k document, checked against n; 0 or -1 with err set. */
static int topk_item(const json_t *e, size_t i, uint64_t n, const char **v, size_t *len,
		     uint64_t *count, uint64_t *error, struct sl_error *err)
{
	const json_t *val = json_object_get(e, "value");
	json_int_t c, x;
	if (!json_is_string(val) || get_int(e, "count", 1, INT64_MAX, &c) ||
	    get_int(e, "error", 0, INT64_MAX, &x))
		return sl_err(err, SL_USAGE,
			      "top-k: item %zu must have a string 'value' and integer 'count' >= 1 "
			      "and 'error' >= 0", i);
	if (x > c)
		return sl_err(err, SL_USAGE, "top-k: item %zu has an error greater than its count",
			      i);
	if ((uint64_t)c > n)
		return sl_err(err, SL_USAGE, "top-k: item %zu has a count greater than 'n'", i);
	*v = json_string_value(val);
	*len = json_string_length(val);
	*count = (uint64_t)c;
	*error = (uint64_t)x;
	return 0;
}

struct sl_topk *sl_topk_from_json(const json_t *j, struct sl_error *err)
{
	json_int_t m, n;
	if (!json_is_object(j)) {
		sl_err(err, SL_USAGE, "top-k: expected an object");
		return NULL;
	}
	if (get_int(j, "m", 1, TOPK_MAX_M, &m)) {
		sl_err(err, SL_USAGE, "top-k: 'm' must be an integer from 1 to %d", TOPK_MAX_M);
		return NULL;
	}
	if (get_int(j, "n", 0, INT64_MAX, &n)) {
		sl_err(err, SL_USAGE, "top-k: 'n' must be a non-negative integer");
		return NULL;
	}
	const json_t *items = json_object_get(j, "items");
	if (!json_is_array(items)) {
		sl_err(err, SL_USAGE, "top-k: 'items' must be an array");
		return NULL;
	}
	if (json_array_size(items) > (size_t)m) {
		sl_err(err, SL_USAGE, "top-k: %zu items, more than m = %d counters hold",
		       json_array_size(items), (int)m);
		return NULL;
	}
	struct sl_topk *t = sl_topk_new((int)m);
	t->n = (uint64_t)n;
	for (size_t i = 0; i < json_array_size(items); i++) {
		const char *v = NULL;
		size_t len = 0;
		uint64_t count = 0, error = 0;
		if (topk_item(json_array_get(items, i), i, t->n, &v, &len, &count, &error, err))
			goto fail;
		struct sl_buf b = SL_BUF_INIT;
		v = utf8_clean(v, &len, &b);   /* only a NUL (JSON_ALLOW_NUL) can differ */
		uint64_t hash = sl_hash64(v, len);
		int dup = t->table[topk_slot(t, hash, v, len)] != EMPTY;
		if (!dup)
			topk_put(t, hash, v, len, count, error);
		sl_buf_free(&b);
		if (dup) {
			sl_err(err, SL_USAGE, "top-k: item %zu repeats an earlier value", i);
			goto fail;
		}
	}
	return t;
fail:
	sl_topk_free(t);
	return NULL;
}
