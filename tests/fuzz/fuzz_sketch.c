/*
 * fuzz_sketch.c - libFuzzer harness for the sketch readers.  The input is
 * parsed as JSON and handed to sl_kll_from_json, sl_hll_from_json and
 * sl_topk_from_json.  A refusal must say why; whatever is accepted is
 * queried, written back and read again (which must succeed and give the
 * same document), merged with itself and with its copy, and added to -
 * and each result must still be a document the reader accepts, since
 * sluice reads back every profile it writes.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "stats/sketch.h"

/* Serialise and read back: must succeed and reproduce the same JSON. */
#define ROUND_TRIP(type, s)                                                            \
	do {                                                                           \
		struct sl_error e_;                                                    \
		json_t *j1_ = sl_##type##_to_json(s);                                  \
		char *txt_ = json_dumps(j1_, JSON_COMPACT);                            \
		json_t *jt_ = txt_ ? json_loads(txt_, 0, NULL) : NULL;                 \
		struct sl_##type *b_ = jt_ ? sl_##type##_from_json(jt_, &e_) : NULL;   \
		if (!b_)                                                               \
			abort();                                                       \
		json_t *j2_ = sl_##type##_to_json(b_);                                 \
		if (!json_equal(j1_, j2_))                                             \
			abort();                                                       \
		json_decref(j1_);                                                      \
		json_decref(j2_);                                                      \
		json_decref(jt_);                                                      \
		free(txt_);                                                            \
		sl_##type##_free(b_);                                                  \
	} while (0)

static void exercise_kll(struct sl_kll *s, const uint8_t *data, size_t size)
{
	uint64_t n = sl_kll_n(s);
	double lo = sl_kll_quantile(s, 0), hi = sl_kll_quantile(s, 1);
	for (double q = 0.1; q < 1; q += 0.2) {
		double v = sl_kll_quantile(s, q);
		if (n && (v < lo || v > hi))
			abort();
		double c = sl_kll_cdf(s, v);
		if (n && !(c >= 0 && c <= 1))
			abort();
	}
	double *vals;
	uint64_t *w, total = 0;
	size_t m = sl_kll_items(s, &vals, &w);
	for (size_t i = 0; i < m; i++)
		total += w[i];
	if (total != n)
		abort();
	free(vals);
	free(w);
	ROUND_TRIP(kll, s);
	struct sl_error err;
	json_t *j = sl_kll_to_json(s);
	struct sl_kll *copy = sl_kll_from_json(j, &err);
	json_decref(j);
	sl_kll_merge(s, copy);
	sl_kll_merge(s, s);
	for (size_t i = 0; i < size && i < 64; i++)
		sl_kll_add(s, (double)data[i] - 100);
	ROUND_TRIP(kll, s);
	sl_kll_free(copy);
}

static void exercise_hll(struct sl_hll *h, const uint8_t *data, size_t size)
{
	double e = sl_hll_estimate(h);
	if (!(e >= 0))
		abort();
	ROUND_TRIP(hll, h);
	struct sl_error err;
	json_t *j = sl_hll_to_json(h);
	struct sl_hll *copy = sl_hll_from_json(j, &err);
	json_decref(j);
	if (sl_hll_merge(h, copy) || sl_hll_estimate(h) != e)
		abort(); /* merging the same registers changes nothing */
	sl_hll_merge(h, h);
	sl_hll_add(h, data, size);
	ROUND_TRIP(hll, h);
	sl_hll_free(copy);
}

static void exercise_topk(struct sl_topk *t, const uint8_t *data, size_t size)
{
	size_t n;
	const struct sl_topk_item *it = sl_topk_items(t, &n);
	for (size_t i = 0; i < n; i++)
		if (it[i].error > it[i].count || (i && it[i - 1].count < it[i].count))
			abort();
	ROUND_TRIP(topk, t);
	struct sl_error err;
	json_t *j = sl_topk_to_json(t);
	struct sl_topk *copy = sl_topk_from_json(j, &err);
	json_decref(j);
	sl_topk_merge(t, copy);
	sl_topk_merge(t, t);
	/* raw bytes, not UTF-8: the summary must still serialise */
	for (size_t i = 0; i + 2 <= size && i < 64; i += 2)
		sl_topk_add(t, (const char *)data + i, 2);
	ROUND_TRIP(topk, t);
	sl_topk_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL,
				 &jerr);
	if (!doc)
		return 0;
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_kll *k = sl_kll_from_json(doc, &err);
	if (k)
		exercise_kll(k, data, size);
	else if (err.code != SL_USAGE || !err.message[0])
		abort(); /* every refusal must say why */
	sl_kll_free(k);
	sl_error_clear(&err);
	struct sl_hll *h = sl_hll_from_json(doc, &err);
	if (h)
		exercise_hll(h, data, size);
	else if (err.code != SL_USAGE || !err.message[0])
		abort();
	sl_hll_free(h);
	sl_error_clear(&err);
	struct sl_topk *t = sl_topk_from_json(doc, &err);
	if (t)
		exercise_topk(t, data, size);
	else if (err.code != SL_USAGE || !err.message[0])
		abort();
	sl_topk_free(t);
	json_decref(doc);
	return 0;
}
