/*
 * sketch.h - mergeable summaries of one column's values, in bounded memory.
 *
 *   sl_kll   KLL quantile sketch (Karnin, Lang, Liberty 2016).  With k = 200
 *            the rank error of a quantile is within 1.33% of n at 99%
 *            confidence (the figure Apache DataSketches documents for
 *            k = 200); compaction coin flips come from a fixed-seed PRNG, so
 *            the same input in the same order gives the same sketch.
 *   sl_hll   HyperLogLog distinct count (Flajolet et al. 2007, with the
 *            linear-counting small-range correction), 2^p registers; relative
 *            standard error 1.04/sqrt(2^p) (p = 14: 0.81%).  Values are
 *            hashed with a 64-bit hash of their bytes.
 *   sl_topk  Space-Saving heavy hitters (Metwally et al. 2005) with m
 *            counters: every value with frequency > n/m is kept, and each
 *            count overestimates by at most the counter's recorded error.
 *
 * Each merges with another of the same parameters so that a profile of
 * shards merged equals a profile of the union within the bounds above, and
 * each serialises to JSON (jansson) and back exactly.  Memory is bounded by
 * the parameters, never by the number of values.
 */
#ifndef SL_SKETCH_H
#define SL_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sl_error;

/* ---- KLL ---------------------------------------------------------------- */
struct sl_kll;
struct sl_kll *sl_kll_new(int k);          /* k >= 8; 200 is the default */
void sl_kll_free(struct sl_kll *s);
void sl_kll_add(struct sl_kll *s, double v); /* NaN is ignored */
/* dst absorbs src (same k, else -1); src is unchanged. */
int sl_kll_merge(struct sl_kll *dst, const struct sl_kll *src);
uint64_t sl_kll_n(const struct sl_kll *s);
double sl_kll_min(const struct sl_kll *s);   /* exact; NaN when empty */
double sl_kll_max(const struct sl_kll *s);
/* The q-quantile, 0 <= q <= 1 (q = 0: min, q = 1: max); NaN when empty. */
double sl_kll_quantile(const struct sl_kll *s, double q);
/* Estimated fraction of values <= v (the CDF), in [0, 1]. */
double sl_kll_cdf(const struct sl_kll *s, double v);
/* The retained items and their weights (sorted by value), for statistics
 * that need a weighted sample (KS, Wasserstein on sketches).  Returns the
 * count; *vals and *weights are malloc'd, the caller frees. */
size_t sl_kll_items(const struct sl_kll *s, double **vals, uint64_t **weights);
/* {"k":..,"n":..,"min":..,"max":..,"levels":[[...],[...]]} */
json_t *sl_kll_to_json(const struct sl_kll *s);
/* NULL with SL_USAGE in err on a malformed document. */
struct sl_kll *sl_kll_from_json(const json_t *j, struct sl_error *err);

/* ---- HyperLogLog -------------------------------------------------------- */
struct sl_hll;
struct sl_hll *sl_hll_new(int p);          /* 4 <= p <= 18; 14 is the default */
void sl_hll_free(struct sl_hll *h);
void sl_hll_add(struct sl_hll *h, const void *data, size_t len);
int sl_hll_merge(struct sl_hll *dst, const struct sl_hll *src);  /* same p */
double sl_hll_estimate(const struct sl_hll *h);
/* {"p":..,"registers":"<base64 of 2^p bytes>"} */
json_t *sl_hll_to_json(const struct sl_hll *h);
struct sl_hll *sl_hll_from_json(const json_t *j, struct sl_error *err);

/* ---- Space-Saving top-k ------------------------------------------------- */
struct sl_topk;
struct sl_topk_item {
	const char *value;                   /* owned by the sketch */
	uint64_t count;                      /* an overestimate by at most error */
	uint64_t error;
};
struct sl_topk *sl_topk_new(int m);        /* m counters; 64 is the default */
void sl_topk_free(struct sl_topk *t);
void sl_topk_add(struct sl_topk *t, const char *value, size_t len);
/* Merge (Agarwal et al. 2012): counts add, then the m largest are kept. */
int sl_topk_merge(struct sl_topk *dst, const struct sl_topk *src);  /* same m */
uint64_t sl_topk_n(const struct sl_topk *t);
/* Items by count, descending (ties by value); *n set.  Valid until the
 * next add/merge/free. */
const struct sl_topk_item *sl_topk_items(const struct sl_topk *t, size_t *n);
/* {"m":..,"n":..,"items":[{"value":..,"count":..,"error":..}]} */
json_t *sl_topk_to_json(const struct sl_topk *t);
struct sl_topk *sl_topk_from_json(const json_t *j, struct sl_error *err);

/* 64-bit hash of bytes (the one the HLL uses; exposed for tests and for
 * hash-based splits). */
uint64_t sl_hash64(const void *data, size_t len);

#endif
