/* test_contract.c - feature and model contracts: type families, protected
 * attribute names, loading and the queries lint and plan use. */
#include "unit.h"
#include "contract/contract.h"
#include "core/error.h"

#include <math.h>

static void test_type_families_and_compatibility(void **state)
{
	(void)state;
	assert_int_equal(sl_type_family("bigint"), SL_TF_INT);
	assert_int_equal(sl_type_family("INTEGER"), SL_TF_INT);
	assert_int_equal(sl_type_family("UNSIGNED BIG INT"), SL_TF_INT); /* SQLite affinity */
	assert_int_equal(sl_type_family("double precision"), SL_TF_FLOAT);
	assert_int_equal(sl_type_family("numeric(10,2)"), SL_TF_FLOAT);
	assert_int_equal(sl_type_family("character varying(40)"), SL_TF_TEXT);
	assert_int_equal(sl_type_family("pg_catalog.timestamptz"), SL_TF_TIME);
	assert_int_equal(sl_type_family("jsonb"), SL_TF_JSON);
	assert_int_equal(sl_type_family("tsvector"), SL_TF_UNKNOWN);
	assert_true(sl_type_compatible("real", "int8"));      /* ints feed floats */
	assert_false(sl_type_compatible("integer", "float8")); /* not the reverse */
	assert_false(sl_type_compatible("text", "bigint"));
	assert_true(sl_type_compatible("text", "varchar(3)"));
	assert_true(sl_type_compatible("text", "tsvector"));  /* unknown: not judged */
}

static void test_protected_names_are_whole_words(void **state)
{
	(void)state;
	const char *yes[] = { "gender", "Sex", "race", "user_age", "age_bucket", "ages",
			      "marital_status", "ethnicity", "religion", "disability_flag",
			      "nationality", "date_of_birth", "is_pregnant" };
	const char *no[] = { "page", "usage", "agent", "message", "average", "storage",
			     "racecar_id", "sexton", "engagement", "percentage" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (!sl_protected_name(yes[i]))
			fail_msg("%s should be protected", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (sl_protected_name(no[i]))
			fail_msg("%s should not be protected", no[i]);
}

static void test_load_and_query(void **state)
{
	(void)state;
	char *dir = temp_dir();
	char fd[256], md[256];
	snprintf(fd, sizeof(fd), "%s/features", dir);
	snprintf(md, sizeof(md), "%s/models", dir);
	write_file(fd, "uf.yaml",
		   "table: public.user_features\nkey: [user_id, day]\nlabel: churned\n"
		   "columns:\n  score: {type: real, range: [0, 1], max_null_fraction: 0.1}\n"
		   "  gender: {type: text, protected: true, pii: other, allowed: [f, m, x]}\n"
		   "  email: {type: text, pii: email, regex: '^[^@]+@[^@]+$'}\n");
	write_file(md, "m.yaml",
		   "name: churn\nversion: 3\ntable: user_features\n"
		   "inputs: [score, items.price]\nlabel: churned\nmetric: auc\n"
		   "predictions: {table: preds, column: p}\nmlflow: models:/churn/3\n");
	struct sl_contracts c;
	struct sl_error err;
	assert_int_equal(sl_contracts_load(&c, fd, md, &err), 0);
	assert_int_equal(c.nfeatures, 1);
	assert_int_equal(c.nmodels, 1);
	const struct sl_feature_contract *f = sl_contracts_feature_next(&c, "USER_FEATURES", NULL);
	assert_non_null(f);
	assert_string_equal(f->name, "uf");
	assert_int_equal(f->keys.n, 2);
	assert_null(sl_contracts_feature_next(&c, "user_features", f));
	const struct sl_feature_col *col = sl_feature_col_find(f, "score");
	assert_non_null(col);
	assert_true(col->min == 0 && col->max == 1 && fabs(col->max_null_fraction - 0.1) < 1e-12);
	assert_int_equal(col->line, 5);
	col = sl_feature_col_find(f, "gender");
	assert_true(col->is_protected);
	assert_int_equal(col->allowed.n, 3);
	const struct sl_model_contract *m = &c.models[0];
	assert_string_equal(m->version, "3");
	assert_true(fabs(m->max_drop - 0.02) < 1e-12); /* the default */
	assert_true(isnan(m->baseline));
	assert_string_equal(m->mlflow_uri, "models:/churn/3");
	assert_true(sl_model_reads(m, "user_features", "score", 0));
	assert_true(sl_model_reads(m, "items", "price", 0));       /* table.column input */
	assert_false(sl_model_reads(m, "user_features", "price", 0));
	assert_false(sl_model_reads(m, "user_features", "churned", 0));
	assert_true(sl_model_reads(m, "user_features", "churned", 1)); /* the label */
	assert_true(sl_model_reads(m, "user_features", NULL, 0));  /* the table */
	sl_contracts_free(&c);

	/* a bad regex is an error at its line */
	write_file(fd, "uf.yaml", "table: t\ncolumns:\n  a: {type: text, regex: '(['}\n");
	assert_int_equal(sl_contracts_load(&c, fd, md, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "bad regex"));
	/* absent directories: no contracts */
	assert_int_equal(sl_contracts_load(&c, "/nonexistent/f", NULL, &err), 0);
	assert_int_equal(c.nfeatures + c.nmodels, 0);
	sl_contracts_free(&c);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_families_and_compatibility),
		cmocka_unit_test(test_protected_names_are_whole_words),
		cmocka_unit_test(test_load_and_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
