/*
 * test_learn.c - the proxy models against scikit-learn 1.2.1 (Debian
 * python3-sklearn) and a closed-form ridge in numpy: tests/model/expected.py
 * writes the data sets (CSV files in tests/model/) and expected.json, which these
 * tests read.  The bar: holdout AUC and log-loss within 0.002 of
 * scikit-learn's LogisticRegression, ridge within 1e-6 of the closed form.
 * Plus the metrics on hand-checkable vectors and the featuriser's edges.
 */
#include "unit.h"
#include "core/error.h"
#include "model/learn.h"

#include <jansson.h>
#include <math.h>

/* Read tests/model/NAME (key,label,inputs; c_* categorical) into ds. */
static void load_csv(const char *name, struct sl_dataset *ds)
{
	char path[512];
	snprintf(path, sizeof(path), "tests/model/%s", name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[65536];
	assert_non_null(fgets(line, sizeof(line), f));
	line[strcspn(line, "\n")] = '\0';
	char *names[128];
	enum sl_ds_kind kinds[128];
	size_t n = 0;
	int field = 0;
	for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ","), field++) {
		if (field < 2)
			continue;
		names[n] = strdup(tok);
		kinds[n] = !strncmp(tok, "c_", 2) ? SL_DS_CATEGORICAL : SL_DS_NUMERIC;
		n++;
	}
	sl_ds_init(ds, n, (const char *const *)names, kinds, 0);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		const char *vals[128];
		double nums[128];
		char *p = line, *key = NULL;
		double y = NAN;
		for (size_t i = 0; i < n + 2; i++) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = '\0';
			if (i == 0)
				key = p;
			else if (i == 1)
				y = strtod(p, NULL);
			else {
				vals[i - 2] = *p ? p : NULL;
				nums[i - 2] = *p ? strtod(p, NULL) : NAN;
			}
			p = comma ? comma + 1 : p + strlen(p);
		}
		sl_ds_add(ds, sl_key_hash(key, strlen(key)), vals, nums, y, NAN);
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static json_t *expected_case(const char *file)
{
	json_error_t je;
	json_t *doc = json_load_file("tests/model/expected.json", 0, &je);
	assert_non_null(doc);
	json_t *c, *cases = json_object_get(doc, "cases");
	size_t i;
	json_array_foreach(cases, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "file")), file)) {
			json_incref(c);
			json_decref(doc);
			return c;
		}
	fail_msg("no case %s in expected.json", file);
	return NULL;
}

static double num(json_t *c, const char *k)
{
	return json_number_value(json_object_get(c, k));
}

static void check_logistic(const char *file)
{
	json_t *exp = expected_case(file);
	struct sl_dataset ds;
	load_csv(file, &ds);
	struct sl_learn_opts o;
	sl_learn_opts_default(&o, SL_TASK_BINARY);
	o.c = num(exp, "C");
	struct sl_model_fit fit;
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_model_train(&ds, &o, &fit, &err), 0);
	assert_true(fit.converged);
	assert_int_equal((long)fit.train_rows, (long)num(exp, "train_rows"));
	double *s, *y;
	size_t n;
	assert_int_equal(sl_model_score(&fit, &ds, 1, &s, &y, &n, &err), 0);
	assert_int_equal((long)n, (long)num(exp, "holdout_rows"));
	double auc = sl_metric("auc", s, y, n), ll = sl_metric("logloss", s, y, n);
	printf("# %s: auc %.6f (sklearn %.6f), logloss %.6f (sklearn %.6f), %d iterations\n", file,
	       auc, num(exp, "auc"), ll, num(exp, "logloss"), fit.iterations);
	assert_true(fabs(auc - num(exp, "auc")) <= 0.002);
	assert_true(fabs(ll - num(exp, "logloss")) <= 0.002);
	assert_true(fabs(sl_metric("accuracy", s, y, n) - num(exp, "accuracy")) <= 0.01);
	assert_true(fabs(sl_metric("f1", s, y, n) - num(exp, "f1")) <= 0.01);
	free(s);
	free(y);
	sl_model_fit_free(&fit);
	sl_ds_free(&ds);
	json_decref(exp);
}

static void test_logistic_breast_cancer(void **state)
{
	(void)state;
	check_logistic("breast_cancer.csv");
}

static void test_logistic_synthetic(void **state)
{
	(void)state;
	check_logistic("synthetic.csv");
}

static void test_ridge_closed_form(void **state)
{
	(void)state;
	json_t *exp = expected_case("diabetes.csv");
	struct sl_dataset ds;
	load_csv("diabetes.csv", &ds);
	struct sl_learn_opts o;
	sl_learn_opts_default(&o, SL_TASK_REGRESSION);
	o.alpha = num(exp, "alpha");
	struct sl_model_fit fit;
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_model_train(&ds, &o, &fit, &err), 0);
	double *s, *y;
	size_t n;
	assert_int_equal(sl_model_score(&fit, &ds, 1, &s, &y, &n, &err), 0);
	json_t *first = json_object_get(exp, "first_predictions");
	for (size_t i = 0; i < json_array_size(first); i++) {
		double want = json_number_value(json_array_get(first, i));
		assert_true(fabs(s[i] - want) <= 1e-6 * fmax(1, fabs(want)));
	}
	double rmse = sl_metric("rmse", s, y, n), mae = sl_metric("mae", s, y, n);
	assert_true(fabs(rmse - num(exp, "rmse")) <= 1e-6 * num(exp, "rmse"));
	assert_true(fabs(mae - num(exp, "mae")) <= 1e-6 * num(exp, "mae"));
	free(s);
	free(y);
	sl_model_fit_free(&fit);
	sl_ds_free(&ds);
	json_decref(exp);
}

/* Metrics by hand: scores .1 .4 .35 .8 for labels 0 0 1 1 (sklearn's
 * roc_auc_score doc example: 0.75), ties count one half. */
static void test_metrics_by_hand(void **state)
{
	(void)state;
	double s[] = { 0.1, 0.4, 0.35, 0.8 }, y[] = { 0, 0, 1, 1 };
	assert_true(fabs(sl_metric("auc", s, y, 4) - 0.75) < 1e-12);
	double t[] = { 0.5, 0.5, 0.5, 0.5 };
	assert_true(fabs(sl_metric("auc", t, y, 4) - 0.5) < 1e-12);
	assert_true(isnan(sl_metric("auc", s, (double[]){ 1, 1, 1, 1 }, 4)));
	/* threshold 0.5: predictions 0 0 0 1 -> accuracy 3/4, f1 = 1 / (1 + 0.5) */
	assert_true(fabs(sl_metric("accuracy", s, y, 4) - 0.75) < 1e-12);
	assert_true(fabs(sl_metric("f1", s, y, 4) - 2.0 / 3.0) < 1e-12);
	double ll = -(log(0.9) + log(0.6) + log(0.35) + log(0.8)) / 4;
	assert_true(fabs(sl_metric("logloss", s, y, 4) - ll) < 1e-12);
	double p[] = { 1, 2, 4 }, q[] = { 1, 4, 1 };
	assert_true(fabs(sl_metric("rmse", p, q, 3) - sqrt(13.0 / 3)) < 1e-12);
	assert_true(fabs(sl_metric("mae", p, q, 3) - 5.0 / 3) < 1e-12);
	assert_true(sl_metric_higher_better("auc") && !sl_metric_higher_better("logloss"));
	assert_true(isnan(sl_metric("nope", p, q, 3)));
}

/* A categorical input with more values than max_categories keeps the
 * most frequent (max - 1) plus "other"; values unseen in training score as
 * "other"; a column of the scoring set need not share dictionaries. */
static void test_featuriser_categories(void **state)
{
	(void)state;
	const char *names[] = { "c" };
	enum sl_ds_kind kinds[] = { SL_DS_CATEGORICAL };
	struct sl_dataset ds, other;
	sl_ds_init(&ds, 1, names, kinds, 0);
	sl_ds_init(&other, 1, names, kinds, 0);
	char key[32], val[8];
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "%d", i);
		int k = i % 10;   /* v0 40%, v1 and v2 20%, v3..v6 5% each */
		snprintf(val, sizeof(val), "v%d", k < 4 ? 0 : k < 6 ? 1 : k < 8 ? 2 : 3 + (i / 10) % 4);
		const char *v[] = { val };
		sl_ds_add(&ds, sl_key_hash(key, strlen(key)), v, NULL, k < 4, NAN);
		const char *u[] = { i % 2 ? "never-seen" : "v0" };
		sl_ds_add(&other, sl_key_hash(key, strlen(key)), u, NULL, !(i % 2), NAN);
	}
	struct sl_learn_opts o;
	sl_learn_opts_default(&o, SL_TASK_BINARY);
	o.max_categories = 4;
	struct sl_model_fit fit;
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_model_train(&ds, &o, &fit, &err), 0);
	assert_int_equal((long)fit.in[0].ncat, 3);
	assert_true(fit.in[0].has_other);
	assert_int_equal((long)fit.nfeat, 4);
	/* v0 is the positive class: it must be kept and score highest */
	assert_string_equal(fit.in[0].cats[0], "v0");
	double *s, *y;
	size_t n;
	assert_int_equal(sl_model_score(&fit, &other, -1, &s, &y, &n, &err), 0);
	assert_int_equal((long)n, 2000);
	assert_true(s[0] > 0.5 && s[1] < 0.2);   /* v0 vs "other" */
	assert_true(sl_metric("auc", s, y, n) > 0.99);
	free(s);
	free(y);
	sl_model_fit_free(&fit);
	/* a binary label that is not 0/1 is refused */
	ds.y[0] = 2;
	assert_int_not_equal(sl_model_train(&ds, &o, &fit, &err), 0);
	assert_non_null(strstr(err.message, "0 or 1"));
	sl_ds_free(&ds);
	sl_ds_free(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logistic_breast_cancer),
		cmocka_unit_test(test_logistic_synthetic),
		cmocka_unit_test(test_ridge_closed_form),
		cmocka_unit_test(test_metrics_by_hand),
		cmocka_unit_test(test_featuriser_categories),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
