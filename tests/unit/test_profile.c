/* test_profile.c - one-pass column profiles: moments, exact values and
 * frequencies, merging shards, and the JSON form. */
#include "unit.h"
#include "core/error.h"
#include "stats/profile.h"
#include "stats/sketch.h"

#include <math.h>

static const char *const NAMES[] = { "x", "cat", "at" };
static const char *const TYPES[] = { "double precision", "text", "timestamptz" };

/* Row i of a deterministic table: x = i * 0.5 (NULL every 10th), cat =
 * one of four, at = a date. */
static void row(size_t i, char *x, char *cat, char *at, const char *vals[3])
{
	snprintf(x, 32, "%.1f", (double)i * 0.5);
	snprintf(cat, 32, "c%zu", i % 4);
	snprintf(at, 32, "2026-01-%02zu 00:00:00", 1 + i % 28);
	vals[0] = i % 10 == 9 ? NULL : x;
	vals[1] = cat;
	vals[2] = at;
}

static void fill(struct sl_profile *p, size_t from, size_t to, uint64_t exact)
{
	sl_profile_init(p, "t", 3, NAMES, TYPES, exact);
	char x[32], cat[32], at[32];
	const char *vals[3];
	for (size_t i = from; i < to; i++) {
		row(i, x, cat, at, vals);
		sl_profile_add_row(p, vals);
	}
}

static void test_moments_and_exact_values(void **state)
{
	(void)state;
	struct sl_profile p;
	fill(&p, 0, 1000, 100000);
	const struct sl_colprof *x = sl_profile_col(&p, "x");
	assert_int_equal(p.rows, 1000);
	assert_int_equal(x->kind, SL_COL_NUMERIC);
	assert_int_equal(x->nulls, 100);
	/* values i/2 for i not = 9 mod 10: mean and population variance by hand */
	double s = 0, s2 = 0, n = 0;
	for (size_t i = 0; i < 1000; i++)
		if (i % 10 != 9) {
			s += i * 0.5;
			n++;
		}
	double mean = s / n;
	for (size_t i = 0; i < 1000; i++)
		if (i % 10 != 9)
			s2 += (i * 0.5 - mean) * (i * 0.5 - mean);
	assert_true(fabs(x->mean - mean) < 1e-9);
	assert_true(fabs(sl_colprof_variance(x) - s2 / n) < 1e-6);
	assert_true(x->min == 0 && x->max == 499);
	assert_true(x->exact_ok);
	assert_int_equal(x->nexact, 900);
	const struct sl_colprof *c = sl_profile_col(&p, "cat");
	assert_int_equal(c->kind, SL_COL_CATEGORICAL);
	assert_int_equal(c->ncats, 4);
	assert_true(sl_colprof_distinct(c) == 4);
	const struct sl_colprof *t = sl_profile_col(&p, "at");
	assert_int_equal(t->kind, SL_COL_TIME);
	assert_string_equal(t->tmin, "2026-01-01 00:00:00");
	assert_string_equal(t->tmax, "2026-01-28 00:00:00");
	sl_profile_free(&p);
	/* beyond exact_rows the values are dropped; the sketches remain */
	fill(&p, 0, 1000, 500);
	x = sl_profile_col(&p, "x");
	assert_false(x->exact_ok);
	assert_null(x->exact);
	assert_true(fabs(sl_kll_quantile(x->kll, 0.5) - 249.5) < 10);
	sl_profile_free(&p);
}

static void test_merged_shards_equal_the_whole(void **state)
{
	(void)state;
	struct sl_profile whole, a, b;
	struct sl_error err;
	fill(&whole, 0, 3000, 100000);
	fill(&a, 0, 1234, 100000);
	fill(&b, 1234, 3000, 100000);
	assert_int_equal(sl_profile_merge(&a, &b, &err), 0);
	assert_int_equal(a.rows, whole.rows);
	for (size_t i = 0; i < 3; i++) {
		const struct sl_colprof *w = &whole.cols[i], *m = &a.cols[i];
		assert_int_equal(w->count, m->count);
		assert_int_equal(w->nulls, m->nulls);
		assert_true(fabs(sl_colprof_distinct(w) - sl_colprof_distinct(m)) <=
			    0.03 * sl_colprof_distinct(w) + 1);
	}
	const struct sl_colprof *w = &whole.cols[0], *m = &a.cols[0];
	assert_true(fabs(w->mean - m->mean) < 1e-9);
	assert_true(fabs(w->m2 - m->m2) < 1e-6 * w->m2);
	assert_true(w->min == m->min && w->max == m->max);
	assert_int_equal(w->nexact, m->nexact);
	assert_true(m->exact_ok);
	const struct sl_colprof *wc = &whole.cols[1], *mc = &a.cols[1];
	for (size_t i = 0; i < wc->ncats; i++) {
		int found = 0;
		for (size_t k = 0; k < mc->ncats; k++)
			if (!strcmp(wc->cats[i].value, mc->cats[k].value)) {
				assert_int_equal(wc->cats[i].count, mc->cats[k].count);
				found = 1;
			}
		assert_true(found);
	}
	assert_string_equal(whole.cols[2].tmax, a.cols[2].tmax);
	sl_profile_free(&whole);
	sl_profile_free(&a);
	sl_profile_free(&b);
	/* a merge past exact_rows drops the exact values */
	fill(&a, 0, 600, 1000);
	fill(&b, 600, 1200, 1000);
	assert_int_equal(sl_profile_merge(&a, &b, &err), 0);
	assert_false(a.cols[0].exact_ok);
	sl_profile_free(&a);
	sl_profile_free(&b);
}

static void test_json_round_trip_and_errors(void **state)
{
	(void)state;
	struct sl_profile p, q;
	struct sl_error err;
	fill(&p, 0, 500, 100000);
	json_t *j = sl_profile_to_json(&p);
	assert_int_equal(sl_profile_from_json(&q, j, &err), 0);
	json_t *j2 = sl_profile_to_json(&q);
	/* taken_at and everything else survive exactly */
	assert_true(json_equal(j, j2));
	json_decref(j2);
	sl_profile_free(&q);
	/* a column whose count disagrees with the rows is refused */
	json_t *cols = json_object_get(j, "columns");
	json_object_set_new(json_array_get(cols, 0), "count", json_integer(700));
	assert_int_equal(sl_profile_from_json(&q, j, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_non_null(strstr(err.message, "counts 700 rows of 500"));
	json_object_set_new(j, "format", json_string("other"));
	assert_int_equal(sl_profile_from_json(&q, j, &err), -1);
	assert_non_null(strstr(err.message, "not a sluice profile"));
	json_decref(j);
	sl_profile_free(&p);
}

/* A numeric column of NULLs only: no values, no distinct count, no crash
 * (UBSan once caught a memcpy from the NULL values array here). */
static void test_all_null_numeric_column(void **state)
{
	(void)state;
	const char *names[] = { "n" }, *types[] = { "integer" };
	struct sl_profile p;
	sl_profile_init(&p, "t", 1, names, types, 100);
	const char *vals[] = { NULL };
	sl_profile_add_row(&p, vals);
	sl_profile_add_row(&p, vals);
	assert_int_equal((int)p.cols[0].nulls, 2);
	assert_true(sl_colprof_distinct(&p.cols[0]) == 0);
	sl_profile_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_moments_and_exact_values),
		cmocka_unit_test(test_merged_shards_equal_the_whole),
		cmocka_unit_test(test_json_round_trip_and_errors),
		cmocka_unit_test(test_all_null_numeric_column),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
