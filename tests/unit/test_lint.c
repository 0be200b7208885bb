/* test_lint.c - lint rules against the labelled cases in tests/lint/cases.sql. */
#include "unit.h"
#include "analyze/lint.h"
#include "contract/contract.h"
#include "core/buf.h"
#include "core/error.h"

#ifndef CASES
#define CASES "tests/lint/cases.sql"
#endif
#define LINT_DIR "tests/lint"

struct lcase {
	int line;
	char *expect;  /* sorted, comma-joined, or "none" */
	char *sql;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted_rules(char **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	struct sl_buf b = SL_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		sl_buf_printf(&b, "%s%s", i ? "," : "", v[i]);
	if (!n)
		sl_buf_adds(&b, "none");
	return sl_buf_detach(&b);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct sl_buf b = SL_BUF_INIT;
	char chunk[4096];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sl_buf_add(&b, chunk, r);
	fclose(f);
	return sl_buf_detach(&b);
}

static void test_labelled_cases_give_exactly_the_expected_rules(void **state)
{
	(void)state;
	char *text = read_all(CASES);
	char *setup = strstr(text, "-- setup:\n");
	assert_non_null(setup);
	setup += 10;
	char *first = strstr(setup, "-- expect:");
	assert_non_null(first);
	char *setup_sql = strndup(setup, (size_t)(first - setup));
	size_t ncases = 0, failed = 0;
	struct sl_contracts contracts;
	struct sl_error err;
	assert_int_equal(sl_contracts_load(&contracts, LINT_DIR "/features", LINT_DIR "/models", &err), 0);
	assert_int_equal(contracts.nmodels, 2);
	char *p = first;
	while (p && *p) {
		int line = 1;
		for (char *q = text; q < p; q++)
			line += *q == '\n';
		char *eol = strchr(p, '\n');
		assert_non_null(eol);
		char *expect_raw = strndup(p + 10, (size_t)(eol - p - 10));
		char *next = strstr(eol, "\n-- expect:");
		char *sql = next ? strndup(eol + 1, (size_t)(next - eol)) : strdup(eol + 1);
		/* normalise the expectation */
		char *tok[16];
		size_t nt = 0;
		for (char *s = strtok(expect_raw, ", "); s && nt < 16; s = strtok(NULL, ", "))
			if (strcmp(s, "none") != 0)
				tok[nt++] = s;
		char *want = sorted_rules(tok, nt);

		struct sl_linter *l = sl_linter_new(NULL);
		sl_linter_set_contracts(l, &contracts);
		sl_linter_learn(l, setup_sql, strlen(setup_sql));
		sl_linter_check(l, "case.sql", sql, strlen(sql), 1);
		size_t nf;
		const struct sl_finding *f = sl_linter_findings(l, &nf);
		char *got_v[32];
		size_t ng = 0;
		for (size_t i = 0; i < nf && ng < 32; i++)
			got_v[ng++] = (char *)f[i].rule->id;
		char *got = sorted_rules(got_v, ng);
		if (strcmp(want, got) != 0) {
			print_message("cases.sql:%d: expected %s, got %s\n", line, want, got);
			failed++;
		}
		ncases++;
		free(got);
		free(want);
		free(expect_raw);
		free(sql);
		sl_linter_free(l);
		p = next ? next + 1 : NULL;
	}
	print_message("%zu labelled cases, %zu mismatched\n", ncases, failed);
	assert_true(ncases >= 165);
	assert_int_equal(failed, 0);
	sl_contracts_free(&contracts);
	free(setup_sql);
	free(text);
}

static void test_forward_only_turns_breaking_changes_into_errors(void **state)
{
	(void)state;
	const char *sql = "SET lock_timeout='1s'; ALTER TABLE users RENAME COLUMN a TO b; CREATE TABLE t (id int);";
	struct sl_lint_config cfg = { 0 };
	struct sl_linter *l = sl_linter_new(&cfg);
	sl_linter_check(l, "x.sql", sql, strlen(sql), 1);
	assert_int_equal(sl_linter_count(l, SL_SEV_ERROR), 0);
	assert_int_equal(sl_linter_count(l, SL_SEV_WARNING), 1);
	sl_linter_free(l);
	cfg.forward_only = 1;
	l = sl_linter_new(&cfg);
	sl_linter_check(l, "x.sql", sql, strlen(sql), 1);
	assert_int_equal(sl_linter_count(l, SL_SEV_ERROR), 1);
	assert_int_equal(sl_linter_count(l, SL_SEV_INFO), 1); /* hygiene stays info */
	sl_linter_free(l);
}

static void test_positions_are_file_lines_and_columns(void **state)
{
	(void)state;
	const char *sql = "-- header\nSET lock_timeout = '1s';\n\nALTER TABLE users\n  DROP COLUMN email;\n";
	struct sl_linter *l = sl_linter_new(NULL);
	sl_linter_check(l, "V9__x.sql", sql, strlen(sql), 10); /* a section starting at line 10 */
	size_t n;
	const struct sl_finding *f = sl_linter_findings(l, &n);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].rule->id, "ban-drop-column");
	assert_string_equal(f[0].file, "V9__x.sql");
	assert_int_equal(f[0].line, 13);
	assert_int_equal(f[0].column, 13);
	sl_linter_free(l);
}

static void test_unparsable_script_is_a_finding_with_position(void **state)
{
	(void)state;
	const char *sql = "CREATE TABLE a (id bigint);\nCREATE TABLE b (id bigint PRIMARY KEY AUTOINCREMENT);\n";
	struct sl_linter *l = sl_linter_new(NULL);
	sl_linter_check(l, "s.sql", sql, strlen(sql), 1);
	size_t n;
	const struct sl_finding *f = sl_linter_findings(l, &n);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].rule->id, "syntax-error");
	assert_int_equal(f[0].severity, SL_SEV_ERROR);
	assert_int_equal(f[0].line, 2);
	sl_linter_free(l);
	l = sl_linter_new(NULL);
	sl_linter_set_sqlite(l, 1);
	sl_linter_check(l, "s.sqlite.sql", sql, strlen(sql), 1);
	f = sl_linter_findings(l, &n);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].rule->id, "not-postgres-syntax");
	assert_int_equal(f[0].severity, SL_SEV_INFO);
	sl_linter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labelled_cases_give_exactly_the_expected_rules),
		cmocka_unit_test(test_forward_only_turns_breaking_changes_into_errors),
		cmocka_unit_test(test_positions_are_file_lines_and_columns),
		cmocka_unit_test(test_unparsable_script_is_a_finding_with_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
