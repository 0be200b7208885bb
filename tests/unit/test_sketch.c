/* test_sketch.c - KLL quantiles, HyperLogLog and Space-Saving top-k: their
 * error bounds on large streams, merges of shards, JSON round-trips and the
 * refusal of malformed documents. */
#include "unit.h"
#include "stats/sketch.h"
#include "core/error.h"

#include <math.h>

#define N_BIG 1000000
#define KLL_EPS 0.0133          /* rank error of k = 200 at 99% (sketch.h) */
#define HLL_3SE (3 * 0.0081)    /* three standard errors at p = 14 */

/* ---- helpers ------------------------------------------------------------ */

static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *x)
{
	return ((double)(mix(x) >> 11) + 0.5) / 9007199254740992.0;
}

/* 0..n-1 in the order of the LCG i -> 7919 i + 12345 (mod n): a
 * permutation, since 7919 is prime to 10^6. */
static double *permutation_values(size_t n)
{
	double *v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (double)((i * 7919 + 12345) % n);
	return v;
}

/* Lognormal(0, 1.5) from a fixed seed (Box-Muller): a long right tail. */
static double *lognormal_values(size_t n)
{
	double *v = malloc(n * sizeof(*v));
	uint64_t x = 42;
	for (size_t i = 0; i < n; i++) {
		double u1 = uniform01(&x), u2 = uniform01(&x);
		v[i] = exp(1.5 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
	}
	return v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double *sorted_copy(const double *v, size_t n)
{
	double *s = malloc(n * sizeof(*s));
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_d);
	return s;
}

/* Number of sorted[] < v (or <= v with le). */
static size_t count_below(const double *sorted, size_t n, double v, int le)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorted[mid] < v || (le && sorted[mid] == v))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How far q lies from the true normalised rank interval of v. */
static double rank_error(const double *sorted, size_t n, double v, double q)
{
	double lo = (double)count_below(sorted, n, v, 0) / (double)n;
	double hi = (double)count_below(sorted, n, v, 1) / (double)n;
	return q < lo ? lo - q : q > hi ? q - hi : 0;
}

static const double qs[] = { 0.01, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50,
			     0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 0.99 };
#define NQ (sizeof(qs) / sizeof(*qs))

/* Worst rank error of s's quantiles over qs against the exact data. */
static double worst_rank_error(const struct sl_kll *s, const double *sorted, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < NQ; i++) {
		double e = rank_error(sorted, n, sl_kll_quantile(s, qs[i]), qs[i]);
		if (e > worst)
			worst = e;
	}
	return worst;
}

static size_t kll_retained(const struct sl_kll *s)
{
	double *v;
	uint64_t *w;
	size_t n = sl_kll_items(s, &v, &w);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		total += w[i];
		if (i > 0)
			assert_true(v[i - 1] <= v[i]); /* sorted by value */
	}
	assert_true(total == sl_kll_n(s)); /* the weights account for every value */
	free(v);
	free(w);
	return n;
}

static json_t *reparse(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	json_error_t jerr;
	json_t *back = json_loads(text, 0, &jerr);
	assert_non_null(back);
	free(text);
	json_decref(j);
	return back;
}

/* ---- hash --------------------------------------------------------------- */

static void test_hash64_is_xxh64(void **state)
{
	(void)state;
	/* vectors from the reference libxxhash 0.8.1, XXH64(data, len, 0) */
	unsigned char seq[100];
	for (int i = 0; i < 100; i++)
		seq[i] = (unsigned char)i;
	assert_true(sl_hash64("", 0) == 0xef46db3751d8e999ULL);
	assert_true(sl_hash64("a", 1) == 0xd24ec4f1a98c6e5bULL);
	assert_true(sl_hash64("abc", 3) == 0x44bc2cf5ad770999ULL);
	assert_true(sl_hash64("sluice", 6) == 0x4251fdf4a288237cULL);
	assert_true(sl_hash64(seq, sizeof(seq)) == 0x6ac1e58032166597ULL);
}

/* ---- KLL ---------------------------------------------------------------- */

static void test_kll_small_input_is_exact(void **state)
{
	(void)state;
	assert_null(sl_kll_new(7));
	struct sl_kll *s = sl_kll_new(200);
	assert_true(isnan(sl_kll_quantile(s, 0.5)));
	assert_true(isnan(sl_kll_min(s)) && isnan(sl_kll_max(s)));
	assert_int_equal(sl_kll_n(s), 0);
	double *v;
	uint64_t *w;
	assert_int_equal(sl_kll_items(s, &v, &w), 0);
	assert_null(v);
	/* 1..100 in a scrambled order, plus a NaN that must be ignored */
	for (int i = 0; i < 100; i++)
		sl_kll_add(s, (double)((i * 37) % 100 + 1));
	sl_kll_add(s, NAN);
	assert_int_equal(sl_kll_n(s), 100);
	assert_true(sl_kll_min(s) == 1 && sl_kll_max(s) == 100);
	assert_true(sl_kll_quantile(s, 0) == 1);
	assert_true(sl_kll_quantile(s, 0.5) == 50);
	assert_true(sl_kll_quantile(s, 0.99) == 99);
	assert_true(sl_kll_quantile(s, 1) == 100);
	assert_true(sl_kll_cdf(s, 0.5) == 0);
	assert_true(sl_kll_cdf(s, 25) == 0.25);
	assert_true(sl_kll_cdf(s, 1000) == 1);
	assert_int_equal(sl_kll_items(s, &v, &w), 100);
	assert_true(v[0] == 1 && v[99] == 100 && w[0] == 1 && w[99] == 1);
	free(v);
	free(w);
	sl_kll_free(s);
}

static void check_kll_on(const double *vals, size_t n, const char *what)
{
	double *sorted = sorted_copy(vals, n);
	struct sl_kll *s = sl_kll_new(200);
	for (size_t i = 0; i < n; i++)
		sl_kll_add(s, vals[i]);
	assert_true(sl_kll_n(s) == n);
	assert_true(sl_kll_min(s) == sorted[0] && sl_kll_max(s) == sorted[n - 1]);
	double worst = worst_rank_error(s, sorted, n);
	/* the CDF is the inverse view: at the true q-quantile it reads ~q */
	double worst_cdf = 0;
	for (size_t i = 0; i < NQ; i++) {
		double tq = sorted[(size_t)(qs[i] * (double)n)];
		double lo = (double)count_below(sorted, n, tq, 0) / (double)n;
		double hi = (double)count_below(sorted, n, tq, 1) / (double)n;
		double c = sl_kll_cdf(s, tq);
		double e = c < lo ? lo - c : c > hi ? c - hi : 0;
		if (e > worst_cdf)
			worst_cdf = e;
	}
	size_t retained = kll_retained(s);
	print_message("kll %s: n=%zu worst rank error %.5f, worst cdf error %.5f, %zu retained\n",
		      what, n, worst, worst_cdf, retained);
	assert_true(worst <= KLL_EPS);
	assert_true(worst_cdf <= KLL_EPS);
	/* bounded by k, not n: 3k plus 8 for each of at most 20 levels */
	assert_true(retained < 3 * 200 + 8 * 20);
	sl_kll_free(s);
	free(sorted);
}

static void test_kll_rank_error_on_a_million_values(void **state)
{
	(void)state;
	double *perm = permutation_values(N_BIG), *logn = lognormal_values(N_BIG);
	check_kll_on(perm, N_BIG, "permutation");
	check_kll_on(logn, N_BIG, "lognormal");
	free(perm);
	free(logn);
}

static void test_kll_memory_does_not_grow_with_n(void **state)
{
	(void)state;
	struct sl_kll *s = sl_kll_new(200);
	uint64_t x = 7;
	size_t most = 0;
	for (size_t i = 0; i < 4 * (size_t)N_BIG; i++) {
		sl_kll_add(s, uniform01(&x));
		if (i % 1000 == 999) {
			double *v;
			uint64_t *w;
			size_t r = sl_kll_items(s, &v, &w);
			free(v);
			free(w);
			if (r > most)
				most = r;
		}
	}
	print_message("kll: at most %zu retained over 4M values\n", most);
	assert_true(most < 3 * 200 + 8 * 20);
	assert_true(most > 200); /* it does keep a sample of about 3k */
	sl_kll_free(s);
}

static void test_kll_merge_of_shards_matches_whole(void **state)
{
	(void)state;
	double *logn = lognormal_values(N_BIG);
	double *sorted = sorted_copy(logn, N_BIG);
	struct sl_kll *whole = sl_kll_new(200), *shard[10];
	for (size_t i = 0; i < N_BIG; i++)
		sl_kll_add(whole, logn[i]);
	/* shards of uneven sizes, so their level counts differ */
	size_t at = 0;
	for (int s = 0; s < 10; s++) {
		size_t len = s < 9 ? (size_t)(s + 1) * N_BIG / 55 : N_BIG - at;
		shard[s] = sl_kll_new(200);
		for (size_t i = 0; i < len; i++)
			sl_kll_add(shard[s], logn[at + i]);
		at += len;
	}
	assert_int_equal(at, N_BIG);
	struct sl_kll *merged = sl_kll_new(200);
	for (int s = 0; s < 10; s++) {
		assert_int_equal(sl_kll_merge(merged, shard[s]), 0);
		sl_kll_free(shard[s]);
	}
	assert_true(sl_kll_n(merged) == N_BIG);
	assert_true(sl_kll_min(merged) == sorted[0]);
	assert_true(sl_kll_max(merged) == sorted[N_BIG - 1]);
	double we = worst_rank_error(whole, sorted, N_BIG);
	double me = worst_rank_error(merged, sorted, N_BIG);
	/* and the two sketches agree with each other within the bound */
	double apart = 0;
	for (size_t i = 0; i < NQ; i++) {
		double a = sl_kll_quantile(whole, qs[i]), b = sl_kll_quantile(merged, qs[i]);
		double ra = (double)count_below(sorted, N_BIG, a, 1) / N_BIG;
		double rb = (double)count_below(sorted, N_BIG, b, 1) / N_BIG;
		if (fabs(ra - rb) > apart)
			apart = fabs(ra - rb);
	}
	size_t retained = kll_retained(merged);
	print_message("kll merge of 10 shards: worst rank error %.5f (whole %.5f), ranks apart "
		      "%.5f, %zu retained\n", me, we, apart, retained);
	assert_true(me <= KLL_EPS);
	assert_true(apart <= KLL_EPS);
	assert_true(retained < 3 * 200 + 8 * 20);
	/* a different k does not merge */
	struct sl_kll *other = sl_kll_new(100);
	assert_int_equal(sl_kll_merge(merged, other), -1);
	sl_kll_free(other);
	sl_kll_free(whole);
	sl_kll_free(merged);
	free(sorted);
	free(logn);
}

static void test_kll_is_deterministic_and_round_trips(void **state)
{
	(void)state;
	double *perm = permutation_values(200000);
	struct sl_kll *a = sl_kll_new(200), *b = sl_kll_new(200);
	for (size_t i = 0; i < 200000; i++) {
		sl_kll_add(a, perm[i]);
		sl_kll_add(b, perm[i]);
	}
	json_t *ja = sl_kll_to_json(a), *jb = sl_kll_to_json(b);
	assert_true(json_equal(ja, jb));
	json_decref(jb);
	struct sl_error err;
	json_t *text = reparse(sl_kll_to_json(a));
	struct sl_kll *c = sl_kll_from_json(text, &err);
	assert_non_null(c);
	json_decref(text);
	for (size_t i = 0; i < NQ; i++)
		assert_true(sl_kll_quantile(a, qs[i]) == sl_kll_quantile(c, qs[i]));
	assert_true(sl_kll_n(c) == 200000 && sl_kll_min(c) == 0 && sl_kll_max(c) == 199999);
	assert_true(sl_kll_cdf(a, 1234.5) == sl_kll_cdf(c, 1234.5));
	jb = sl_kll_to_json(c);
	assert_true(json_equal(ja, jb));
	json_decref(jb);
	/* the copy also continues as the original does (coin flips follow n) */
	for (size_t i = 0; i < 50000; i++) {
		sl_kll_add(a, perm[i] + 0.5);
		sl_kll_add(c, perm[i] + 0.5);
	}
	json_decref(ja);
	ja = sl_kll_to_json(a);
	jb = sl_kll_to_json(c);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	/* infinities survive the trip as strings; an empty sketch as nulls */
	struct sl_kll *inf = sl_kll_new(8), *empty = sl_kll_new(8);
	sl_kll_add(inf, -INFINITY);
	sl_kll_add(inf, 1);
	sl_kll_add(inf, INFINITY);
	text = reparse(sl_kll_to_json(inf));
	assert_string_equal(json_string_value(json_object_get(text, "max")), "Infinity");
	struct sl_kll *inf2 = sl_kll_from_json(text, &err);
	assert_non_null(inf2);
	assert_true(isinf(sl_kll_min(inf2)) && sl_kll_quantile(inf2, 0.5) == 1);
	json_decref(text);
	text = reparse(sl_kll_to_json(empty));
	assert_true(json_is_null(json_object_get(text, "min")));
	struct sl_kll *empty2 = sl_kll_from_json(text, &err);
	assert_non_null(empty2);
	assert_int_equal(sl_kll_n(empty2), 0);
	json_decref(text);
	sl_kll_free(inf);
	sl_kll_free(inf2);
	sl_kll_free(empty);
	sl_kll_free(empty2);
	sl_kll_free(a);
	sl_kll_free(b);
	sl_kll_free(c);
	free(perm);
}

/* ---- HyperLogLog -------------------------------------------------------- */

static void hll_add_range(struct sl_hll *h, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		sl_hll_add(h, &i, sizeof(i));
}

static void test_hll_estimates_within_three_standard_errors(void **state)
{
	(void)state;
	assert_null(sl_hll_new(3));
	assert_null(sl_hll_new(19));
	const uint64_t big[] = { 1000, 100000, 1000000 };
	for (size_t i = 0; i < 3; i++) {
		struct sl_hll *h = sl_hll_new(14);
		hll_add_range(h, 0, big[i]);
		hll_add_range(h, 0, big[i] / 2); /* repeats do not count */
		double rel = sl_hll_estimate(h) / (double)big[i] - 1;
		print_message("hll p=14: %llu distinct -> %.1f (relative error %+.5f)\n",
			      (unsigned long long)big[i], sl_hll_estimate(h), rel);
		assert_true(fabs(rel) <= HLL_3SE);
		sl_hll_free(h);
	}
	/* small cardinalities: linear counting is near exact */
	const uint64_t small[] = { 0, 1, 10, 1000 };
	for (size_t i = 0; i < 4; i++) {
		struct sl_hll *h = sl_hll_new(14);
		hll_add_range(h, 5000, 5000 + small[i]);
		double e = sl_hll_estimate(h);
		print_message("hll p=14: %llu distinct -> %.3f\n", (unsigned long long)small[i], e);
		if (small[i] == 0)
			assert_true(e == 0);
		else if (small[i] <= 10)
			assert_true(fabs(e - (double)small[i]) < 0.5);
		else
			assert_true(fabs(e / (double)small[i] - 1) < 0.02);
		sl_hll_free(h);
	}
	/* strings hash by their bytes */
	struct sl_hll *h = sl_hll_new(14);
	sl_hll_add(h, "alpha", 5);
	sl_hll_add(h, "beta", 4);
	sl_hll_add(h, "alpha", 5);
	assert_true(fabs(sl_hll_estimate(h) - 2) < 0.01);
	sl_hll_free(h);
}

static void test_hll_merge_equals_union(void **state)
{
	(void)state;
	struct sl_hll *a = sl_hll_new(14), *b = sl_hll_new(14), *c = sl_hll_new(14);
	struct sl_hll *ab = sl_hll_new(14), *ac = sl_hll_new(14);
	hll_add_range(a, 0, 60000);
	hll_add_range(b, 40000, 100000);     /* overlaps a */
	hll_add_range(c, 100000, 150000);    /* disjoint from a */
	hll_add_range(ab, 0, 100000);
	hll_add_range(ac, 0, 60000);
	hll_add_range(ac, 100000, 150000);
	json_t *want_ab = sl_hll_to_json(ab), *want_ac = sl_hll_to_json(ac);
	assert_int_equal(sl_hll_merge(b, a), 0);
	assert_int_equal(sl_hll_merge(c, a), 0);
	json_t *got_ab = sl_hll_to_json(b), *got_ac = sl_hll_to_json(c);
	assert_true(json_equal(want_ab, got_ab)); /* identical registers */
	assert_true(json_equal(want_ac, got_ac));
	assert_true(sl_hll_estimate(b) == sl_hll_estimate(ab));
	assert_true(fabs(sl_hll_estimate(c) / 110000 - 1) <= HLL_3SE);
	struct sl_hll *p12 = sl_hll_new(12);
	assert_int_equal(sl_hll_merge(a, p12), -1);
	sl_hll_free(p12);
	json_decref(want_ab);
	json_decref(want_ac);
	json_decref(got_ab);
	json_decref(got_ac);
	sl_hll_free(a);
	sl_hll_free(b);
	sl_hll_free(c);
	sl_hll_free(ab);
	sl_hll_free(ac);
}

static void test_hll_round_trips(void **state)
{
	(void)state;
	for (int p = 4; p <= 18; p += 7) {
		struct sl_hll *h = sl_hll_new(p);
		hll_add_range(h, 0, 30000);
		json_t *j = reparse(sl_hll_to_json(h));
		assert_int_equal(json_integer_value(json_object_get(j, "p")), p);
		assert_int_equal(json_string_length(json_object_get(j, "registers")),
				 (((size_t)1 << p) + 2) / 3 * 4);
		struct sl_error err;
		struct sl_hll *back = sl_hll_from_json(j, &err);
		assert_non_null(back);
		assert_true(sl_hll_estimate(back) == sl_hll_estimate(h));
		json_t *again = sl_hll_to_json(back);
		assert_true(json_equal(j, again));
		json_decref(again);
		json_decref(j);
		sl_hll_free(back);
		sl_hll_free(h);
	}
}

/* ---- top-k -------------------------------------------------------------- */

#define ZIPF_VALUES 10000
#define ZIPF_TOP 100000

/* Value i occurs floor(ZIPF_TOP / (i + 1)) times (Zipf, s = 1), shuffled
 * with a fixed seed; returns the stream of value indexes. */
static int *zipf_stream(size_t *n)
{
	size_t total = 0;
	for (int i = 0; i < ZIPF_VALUES; i++)
		total += ZIPF_TOP / (size_t)(i + 1);
	int *s = malloc(total * sizeof(*s));
	size_t at = 0;
	for (int i = 0; i < ZIPF_VALUES; i++)
		for (size_t c = 0; c < ZIPF_TOP / (size_t)(i + 1); c++)
			s[at++] = i;
	uint64_t x = 2024;
	for (size_t i = total - 1; i > 0; i--) {
		size_t j = (size_t)(mix(&x) % (i + 1));
		int t = s[i];
		s[i] = s[j];
		s[j] = t;
	}
	*n = total;
	return s;
}

static void topk_feed(struct sl_topk *t, const int *s, size_t from, size_t to)
{
	char buf[32];
	for (size_t i = from; i < to; i++) {
		int len = snprintf(buf, sizeof(buf), "item%05d", s[i]);
		sl_topk_add(t, buf, (size_t)len);
	}
}

static uint64_t zipf_true(const char *value)
{
	return ZIPF_TOP / (uint64_t)(atoi(value + 4) + 1);
}

/* The first ten items are item00000..item00009 in order, and every item's
 * count brackets its true count: true <= count <= true + error. */
static void check_zipf_top(const struct sl_topk *t, size_t n, int m)
{
	size_t ni;
	const struct sl_topk_item *it = sl_topk_items(t, &ni);
	assert_int_equal(ni, m);
	for (int i = 0; i < 10; i++) {
		char want[16];
		snprintf(want, sizeof(want), "item%05d", i);
		assert_string_equal(it[i].value, want);
	}
	for (size_t i = 0; i < ni; i++) {
		uint64_t truth = zipf_true(it[i].value);
		assert_true(truth <= it[i].count && it[i].count <= truth + it[i].error);
		assert_true(it[i].error <= n / (size_t)m); /* Metwally et al., lemma 3.4 */
		if (i > 0)
			assert_true(it[i - 1].count >= it[i].count);
	}
}

static void test_topk_finds_zipf_heavy_hitters(void **state)
{
	(void)state;
	size_t n;
	int *s = zipf_stream(&n);
	/* m = 128: item 9 (1/10 of the top count) is above n/m, so it is kept */
	struct sl_topk *t = sl_topk_new(128);
	topk_feed(t, s, 0, n);
	assert_true(sl_topk_n(t) == n);
	check_zipf_top(t, n, 128);
	size_t ni;
	const struct sl_topk_item *it = sl_topk_items(t, &ni);
	print_message("top-k m=128 over %zu values: item00009 count %llu (true %llu, error "
		      "%llu)\n", n, (unsigned long long)it[9].count,
		      (unsigned long long)zipf_true(it[9].value), (unsigned long long)it[9].error);
	sl_topk_free(t);
	free(s);
}

static void test_topk_merge_of_halves_matches_whole(void **state)
{
	(void)state;
	size_t n;
	int *s = zipf_stream(&n);
	struct sl_topk *whole = sl_topk_new(128), *a = sl_topk_new(128), *b = sl_topk_new(128);
	topk_feed(whole, s, 0, n);
	topk_feed(a, s, 0, n / 2);
	topk_feed(b, s, n / 2, n);
	assert_int_equal(sl_topk_merge(a, b), 0);
	sl_topk_free(b);
	assert_true(sl_topk_n(a) == n);
	check_zipf_top(a, n, 128);
	size_t nw, nm;
	const struct sl_topk_item *w = sl_topk_items(whole, &nw);
	const struct sl_topk_item *mg = sl_topk_items(a, &nm);
	for (int i = 0; i < 10; i++) {
		assert_string_equal(w[i].value, mg[i].value);
		uint64_t gap = w[i].count > mg[i].count ? w[i].count - mg[i].count
							 : mg[i].count - w[i].count;
		assert_true(gap <= w[i].error + mg[i].error);
	}
	struct sl_topk *other = sl_topk_new(64);
	assert_int_equal(sl_topk_merge(a, other), -1);
	sl_topk_free(other);
	sl_topk_free(whole);
	sl_topk_free(a);
	free(s);
}

static void test_topk_exact_below_m_and_round_trips(void **state)
{
	(void)state;
	assert_null(sl_topk_new(0));
	struct sl_topk *t = sl_topk_new(4);
	const char *in[] = { "b", "a", "c", "b", "a", "b", "a", "d\0x" };
	for (size_t i = 0; i < 7; i++)
		sl_topk_add(t, in[i], strlen(in[i]));
	sl_topk_add(t, in[7], 3); /* a NUL inside: JSON text can't hold it, U+FFFD can */
	size_t n;
	const struct sl_topk_item *it = sl_topk_items(t, &n);
	assert_int_equal(n, 4);
	/* ties by value: a before b */
	assert_string_equal(it[0].value, "a");
	assert_string_equal(it[1].value, "b");
	assert_string_equal(it[2].value, "c");
	assert_true(it[0].count == 3 && it[0].error == 0 && it[2].count == 1);
	assert_true(it[3].count == 1);
	assert_string_equal(it[3].value, "d\xEF\xBF\xBDx");
	/* full: a fifth value takes over a count-1 counter, with error 1 */
	sl_topk_add(t, "e", 1);
	it = sl_topk_items(t, &n);
	assert_int_equal(n, 4);
	int seen_e = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(it[i].value, "e")) {
			seen_e = 1;
			assert_true(it[i].count == 2 && it[i].error == 1);
		}
	assert_true(seen_e);
	json_t *j = reparse(sl_topk_to_json(t));
	struct sl_error err;
	struct sl_topk *back = sl_topk_from_json(j, &err);
	assert_non_null(back);
	json_t *again = sl_topk_to_json(back);
	assert_true(json_equal(j, again));
	size_t nb;
	const struct sl_topk_item *ib = sl_topk_items(back, &nb);
	it = sl_topk_items(t, &n);
	assert_int_equal(n, nb);
	for (size_t i = 0; i < n; i++)
		assert_true(!strcmp(it[i].value, ib[i].value) && it[i].count == ib[i].count &&
			    it[i].error == ib[i].error);
	assert_true(sl_topk_n(back) == 9);
	/* merging a summary into itself doubles every count */
	assert_int_equal(sl_topk_merge(back, back), 0);
	ib = sl_topk_items(back, &nb);
	assert_true(sl_topk_n(back) == 18 && ib[0].count == 6 && ib[0].error == 0);
	json_decref(again);
	json_decref(j);
	sl_topk_free(back);
	sl_topk_free(t);
}

static void test_topk_values_are_kept_as_json_can_carry_them(void **state)
{
	(void)state;
	struct sl_topk *t = sl_topk_new(8);
	sl_topk_add(t, "caf\xc3\xa9", 5);     /* valid UTF-8 stays as it is */
	sl_topk_add(t, "x\xff", 2);            /* not UTF-8: */
	sl_topk_add(t, "x\xfe", 2);            /* both read as x U+FFFD */
	sl_topk_add(t, "\xed\xa0\x80", 3);     /* an encoded surrogate is not UTF-8 */
	size_t n;
	const struct sl_topk_item *it = sl_topk_items(t, &n);
	assert_int_equal(n, 3);
	assert_string_equal(it[0].value, "x\xEF\xBF\xBD");
	assert_true(it[0].count == 2);
	assert_string_equal(it[1].value, "caf\xc3\xa9");
	assert_string_equal(it[2].value, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	json_t *j = reparse(sl_topk_to_json(t));
	struct sl_error err;
	struct sl_topk *back = sl_topk_from_json(j, &err);
	assert_non_null(back);
	json_t *again = sl_topk_to_json(back);
	assert_true(json_equal(j, again));
	json_decref(again);
	json_decref(j);
	sl_topk_free(back);
	sl_topk_free(t);
}

/* ---- malformed documents ------------------------------------------------ */

static void expect_reject(const char *doc, int which, const char *msg)
{
	json_error_t jerr;
	json_t *j = json_loads(doc, 0, &jerr);
	assert_non_null(j);
	struct sl_error err;
	sl_error_clear(&err);
	void *got = which == 0 ? (void *)sl_kll_from_json(j, &err)
		    : which == 1 ? (void *)sl_hll_from_json(j, &err)
				 : (void *)sl_topk_from_json(j, &err);
	assert_null(got);
	assert_int_equal(err.code, SL_USAGE);
	assert_string_equal(err.message, msg);
	json_decref(j);
}

static void test_from_json_rejects_malformed_documents(void **state)
{
	(void)state;
	struct sl_error err;
	assert_null(sl_kll_from_json(NULL, &err));
	assert_string_equal(err.message, "kll: expected an object");
	expect_reject("{\"k\":200,\"n\":1,\"min\":1,\"max\":1,\"levels\":[1]}", 0,
		      "kll: 'levels' must be an array of arrays of numbers");
	expect_reject("{\"k\":200,\"n\":1,\"min\":1,\"max\":1,\"levels\":[[\"x\"]]}", 0,
		      "kll: 'levels' must be an array of arrays of numbers");
	expect_reject("{\"k\":200,\"n\":5,\"min\":1,\"max\":3,\"levels\":[[1],[3]]}", 0,
		      "kll: 'n' is 5 but the levels hold 3 values");
	expect_reject("{\"k\":-4,\"n\":0,\"levels\":[[]]}", 0,
		      "kll: 'k' must be an integer from 8 to 65535");
	/* 63 levels, the top one holding two items of weight 2^62 */
	char deep[512] = "{\"k\":8,\"n\":9223372036854775807,\"min\":0,\"max\":1,\"levels\":[";
	for (int h = 0; h < 62; h++)
		strcat(deep, "[],");
	strcat(deep, "[0,1]]}");
	expect_reject(deep, 0, "kll: the levels hold more than 2^63 values");
	strcpy(strstr(deep, "[0,1]"), "[],[0]]}");
	expect_reject(deep, 0, "kll: 64 levels, at most 63 are possible");
	expect_reject("{\"k\":8,\"n\":2,\"min\":0,\"max\":1,\"levels\":[[],[1,0]]}", 0,
		      "kll: 'n' is 2 but the levels hold 4 values");
	expect_reject("{\"k\":8,\"n\":4,\"min\":0,\"max\":1,\"levels\":[[],[1,0]]}", 0,
		      "kll: level 1 is not sorted");
	expect_reject("{\"k\":8,\"n\":2,\"min\":0,\"max\":1,\"levels\":[[0,5]]}", 0,
		      "kll: level 0 holds 5, outside [min, max]");
	expect_reject("{\"k\":8,\"n\":9,\"min\":0,\"max\":1,\"levels\":[[0,0,0,0,0,0,0,0,0]]}", 0,
		      "kll: 9 retained items, more than k = 8 allows");
	expect_reject("{\"k\":8,\"n\":1,\"min\":null,\"max\":1,\"levels\":[[1]]}", 0,
		      "kll: 'min' and 'max' must be numbers with min <= max");
	expect_reject("{\"p\":14,\"registers\":\"AAAA\"}", 1,
		      "hll: 'registers' must be base64 of 16384 bytes");
	expect_reject("{\"p\":4,\"registers\":\"AAAAAAAAAAAAAAAAAAAAAA=\"}", 1,
		      "hll: 'registers' must be base64 of 16 bytes");
	expect_reject("{\"p\":4,\"registers\":\"AAAAAAAAAAAAAAAAAAAAAB==\"}", 1,
		      "hll: 'registers' must be base64 of 16 bytes"); /* stray low bits */
	expect_reject("{\"p\":4,\"registers\":\"/wAAAAAAAAAAAAAAAAAAAA==\"}", 1,
		      "hll: register 0 is 255, more than 64 - p + 1 = 61");
	expect_reject("{\"p\":40,\"registers\":\"\"}", 1,
		      "hll: 'p' must be an integer from 4 to 18");
	expect_reject("[1,2]", 1, "hll: expected an object");
	expect_reject("{\"m\":4,\"n\":3,\"items\":[{\"value\":\"a\",\"count\":1,\"error\":2}]}", 2,
		      "top-k: item 0 has an error greater than its count");
	expect_reject("{\"m\":4,\"n\":3,\"items\":[{\"value\":\"a\",\"count\":1,\"error\":0},"
		      "{\"value\":\"a\",\"count\":1,\"error\":0}]}", 2,
		      "top-k: item 1 repeats an earlier value");
	expect_reject("{\"m\":1,\"n\":3,\"items\":[{\"value\":\"a\",\"count\":1,\"error\":0},"
		      "{\"value\":\"b\",\"count\":1,\"error\":0}]}", 2,
		      "top-k: 2 items, more than m = 1 counters hold");
	expect_reject("{\"m\":4,\"n\":3,\"items\":[{\"value\":\"a\",\"count\":7,\"error\":0}]}", 2,
		      "top-k: item 0 has a count greater than 'n'");
	expect_reject("{\"m\":2147483647,\"n\":3,\"items\":[]}", 2,
		      "top-k: 'm' must be an integer from 1 to 65536");
	expect_reject("{\"m\":4,\"n\":-3,\"items\":[]}", 2,
		      "top-k: 'n' must be a non-negative integer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash64_is_xxh64),
		cmocka_unit_test(test_kll_small_input_is_exact),
		cmocka_unit_test(test_kll_rank_error_on_a_million_values),
		cmocka_unit_test(test_kll_memory_does_not_grow_with_n),
		cmocka_unit_test(test_kll_merge_of_shards_matches_whole),
		cmocka_unit_test(test_kll_is_deterministic_and_round_trips),
		cmocka_unit_test(test_hll_estimates_within_three_standard_errors),
		cmocka_unit_test(test_hll_merge_equals_union),
		cmocka_unit_test(test_hll_round_trips),
		cmocka_unit_test(test_topk_finds_zipf_heavy_hitters),
		cmocka_unit_test(test_topk_merge_of_halves_matches_whole),
		cmocka_unit_test(test_topk_exact_below_m_and_round_trips),
		cmocka_unit_test(test_topk_values_are_kept_as_json_can_carry_them),
		cmocka_unit_test(test_from_json_rejects_malformed_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
