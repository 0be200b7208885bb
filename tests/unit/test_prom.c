/*
 * test_prom.c - decoding Prometheus /api/v1/query answers
 * (src/deploy/prom.c, sl_prom_decode): each result type, empty results,
 * NaN and the infinities, error responses, and everything malformed.
 * The bodies are the shapes Prometheus 2.42 (Debian bookworm) writes; the
 * transport is exercised against a real server by the rollout e2e tests.
 */
#include "unit.h"
#include "deploy/prom.h"

#include <math.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* body must decode to want[0..nwant) (NaN matches NaN). */
static void decodes(const char *body, const double *want, size_t nwant)
{
	struct sl_error err;
	double *v = (double *)1;
	size_t n = 99;
	sl_error_clear(&err);
	if (sl_prom_decode(body, strlen(body), &v, &n, &err) != 0)
		fail_msg("%s: %s", body, err.message);
	assert_int_equal(n, nwant);
	if (nwant == 0)
		assert_null(v);
	for (size_t i = 0; i < nwant; i++) {
		if (isnan(want[i]))
			assert_true(isnan(v[i]));
		else if (v[i] != want[i])
			fail_msg("%s: value %zu is %.17g, want %.17g", body, i, v[i], want[i]);
	}
	free(v);
}

/* body must be refused with SL_ENV, the message containing what; outputs cleared. */
static void refused(const char *body, size_t len, const char *what)
{
	struct sl_error err;
	double *v = (double *)1;
	size_t n = 99;
	sl_error_clear(&err);
	if (sl_prom_decode(body, len, &v, &n, &err) != -1)
		fail_msg("accepted: %.*s", (int)len, body);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(err.code, SL_ENV);
	if (!strstr(err.message, what))
		fail_msg("%.*s: message lacks \"%s\": %s", (int)len, body, what, err.message);
}

static void refused_s(const char *body, const char *what)
{
	refused(body, strlen(body), what);
}

static void test_vector_gives_one_value_per_series_in_order(void **state)
{
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
		"{\"metric\":{\"__name__\":\"up\",\"instance\":\"b\",\"job\":\"x\"},\"value\":[1700000000.123,\"1\"]},"
		"{\"metric\":{\"__name__\":\"up\",\"instance\":\"a\",\"job\":\"x\"},\"value\":[1700000000.123,\"0\"]},"
		"{\"metric\":{},\"value\":[1700000000,\"0.0042\"]}]}}",
		(double[]){ 1, 0, 0.0042 }, 3);
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
		"{\"metric\":{},\"value\":[1,\"-12.5e-3\"]}]}}", (double[]){ -0.0125 }, 1);
	/* warnings and unknown members are ignored */
	decodes("{\"status\":\"success\",\"warnings\":[\"PromQL info\"],\"extra\":1,\"data\":{"
		"\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"7\"],\"x\":[]}],"
		"\"stats\":{}}}", (double[]){ 7 }, 1);
}

static void test_empty_vector_is_no_values_not_an_error(void **state)
{
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", NULL, 0);
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}", NULL, 0);
}

static void test_scalar_gives_one_value(void **state)
{
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1700000000.5,\"200\"]}}",
		(double[]){ 200 }, 1);
}

static void test_matrix_gives_the_last_sample_of_each_series(void **state)
{
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
		"{\"metric\":{\"i\":\"a\"},\"values\":[[1,\"1\"],[2,\"2\"],[3,\"3\"]]},"
		"{\"metric\":{\"i\":\"b\"},\"values\":[[1,\"10\"]]}]}}",
		(double[]){ 3, 10 }, 2);
}

static void test_nan_and_infinities_decode(void **state)
{
	struct sl_error err;
	double *v = NULL;
	size_t n = 0;
	const char *body = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
			   "{\"metric\":{},\"value\":[1,\"NaN\"]},{\"metric\":{},\"value\":[1,\"+Inf\"]},"
			   "{\"metric\":{},\"value\":[1,\"-Inf\"]},{\"metric\":{},\"value\":[1,\"Inf\"]},"
			   "{\"metric\":{},\"value\":[1,\"1e308\"]},{\"metric\":{},\"value\":[1,\"-0\"]}]}}";
	assert_int_equal(sl_prom_decode(body, strlen(body), &v, &n, &err), 0);
	assert_int_equal(n, 6);
	assert_true(isnan(v[0]));
	assert_true(isinf(v[1]) && v[1] > 0);
	assert_true(isinf(v[2]) && v[2] < 0);
	assert_true(isinf(v[3]) && v[3] > 0);
	assert_true(v[4] == 1e308);
	assert_true(v[5] == 0 && signbit(v[5]));
	free(v);
	decodes("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"NaN\"]}}",
		(double[]){ NAN }, 1);
}

static void test_error_status_carries_error_type_and_text(void **state)
{
	refused_s("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
		  "\\\"query\\\": 1:6: parse error: unexpected end of input\"}",
		  "Prometheus query failed (bad_data): invalid parameter \"query\": 1:6: parse error");
	refused_s("{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in expression "
		  "evaluation\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
		  "(timeout): query timed out");
	refused_s("{\"status\":\"error\"}", "(no errorType): no error text");
	refused_s("{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"line1\\nline2\"}",
		  "(execution): line1 line2");      /* one line */
	refused_s("{\"status\":\"pending\",\"data\":{}}", "status \"pending\", not success");
}

static void test_string_result_is_an_error(void **state)
{
	refused_s("{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"hello\"]}}",
		  "returned a string, not a number");
	refused_s("{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}}",
		  "returned a streams");
}

static void test_native_histograms_are_refused(void **state)
{
	refused_s("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
		  "{\"metric\":{},\"histogram\":[1,{\"count\":\"3\",\"sum\":\"1\",\"buckets\":[]}]}]}}",
		  "series 0 is a native histogram");
	refused_s("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
		  "{\"metric\":{},\"histograms\":[[1,{\"count\":\"3\"}]]}]}}",
		  "series 0 is a native histogram");
}

static void test_malformed_json_is_refused(void **state)
{
	refused_s("", "not JSON");
	refused_s("<html><body>502 Bad Gateway</body></html>", "not JSON");
	refused_s("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[", "not JSON");
	refused_s("{\"status\":\"success\"} trailing", "not JSON");
	refused("{\"status\":\"succ\0ess\"}", 21, "not JSON");
	/* len, not the NUL, bounds the body */
	const char *cut = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"2\"]}}";
	refused(cut, strlen(cut) - 1, "not JSON");
}

static void test_wrong_types_are_refused(void **state)
{
	static const struct { const char *body, *what; } cases[] = {
		{ "[]", "no \"status\"" },
		{ "\"success\"", "no \"status\"" },
		{ "{\"status\":1}", "no \"status\"" },
		{ "{\"status\":\"success\"}", "no data.resultType" },
		{ "{\"status\":\"success\",\"data\":[]}", "no data.resultType" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":3,\"result\":[]}}", "no data.resultType" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\"}}", "no data.resultType" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
		  "data.result of a vector is not an array" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[1]}}",
		  "series 0 is not an object" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{}}]}}",
		  "series 0: a sample is not [timestamp, \"value\"]" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
		  "{\"value\":[1,\"1\"]},{\"value\":[1,2]}]}}", "series 1: the value is not a string" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[1]}]}}",
		  "a sample is not" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[\"1\",\"1\"]}]}}",
		  "a sample is not" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"value\":[1,\"1\",2]}]}}",
		  "a sample is not" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":\"1\"}}",
		  "series 0: a sample is not" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"values\":[]}]}}",
		  "series 0 of the matrix has no samples" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"value\":[1,\"1\"]}]}}",
		  "series 0 of the matrix has no samples" },
	};
	for (size_t i = 0; i < COUNT(cases); i++)
		refused_s(cases[i].body, cases[i].what);
}

static void test_values_that_are_not_numbers_are_refused(void **state)
{
	static const char *bad[] = {
		"", " 1", "1 ", "abc", "nan", "inf", "+inf", "Infinity", "0x10", "1e", "--1",
		"1,5", "NaN ", "1..2",
	};
	for (size_t i = 0; i < COUNT(bad); i++) {
		char body[256];
		snprintf(body, sizeof(body), "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			 "\"result\":[{\"metric\":{},\"value\":[1,\"%s\"]}]}}", bad[i]);
		refused_s(body, "is not a number");
	}
}

static void test_query_refuses_non_http_urls_and_masks_passwords(void **state)
{
	struct sl_error err;
	double *v = (double *)1;
	size_t n = 9;
	sl_error_clear(&err);
	assert_int_equal(sl_prom_query("ftp://u:hunter2@h/", "up", 1000, &v, &n, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_null(strstr(err.message, "hunter2"));
	assert_non_null(strstr(err.message, "ftp://u:***@h/"));
	assert_null(v);
	assert_int_equal(n, 0);
	/* nothing listens on port 1 of loopback: a transport error, masked */
	sl_error_clear(&err);
	assert_int_equal(sl_prom_query("http://admin:s3cr3t@127.0.0.1:1/", "up", 2000, &v, &n, &err), -1);
	assert_int_equal(err.code, SL_ENV);
	assert_null(strstr(err.message, "s3cr3t"));
	assert_non_null(strstr(err.message, "Prometheus at http://admin:***@127.0.0.1:1/"));
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_gives_one_value_per_series_in_order),
		cmocka_unit_test(test_empty_vector_is_no_values_not_an_error),
		cmocka_unit_test(test_scalar_gives_one_value),
		cmocka_unit_test(test_matrix_gives_the_last_sample_of_each_series),
		cmocka_unit_test(test_nan_and_infinities_decode),
		cmocka_unit_test(test_error_status_carries_error_type_and_text),
		cmocka_unit_test(test_string_result_is_an_error),
		cmocka_unit_test(test_native_histograms_are_refused),
		cmocka_unit_test(test_malformed_json_is_refused),
		cmocka_unit_test(test_wrong_types_are_refused),
		cmocka_unit_test(test_values_that_are_not_numbers_are_refused),
		cmocka_unit_test(test_query_refuses_non_http_urls_and_masks_passwords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
