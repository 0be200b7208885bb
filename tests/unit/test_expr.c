/*
 * test_expr.c - the condition expressions of rollout analysis
 * (src/core/expr.c): Argo Rollouts' examples, precedence, every operator,
 * the type rules, index errors as measurement errors, NaN, the depth limit
 * and garbage.
 */
#include "unit.h"
#include "core/expr.h"

#include <math.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* expr on v[0..n) must evaluate, to want. */
static void is(const char *expr, const double *v, size_t n, int want)
{
	struct sl_error err;
	int truth = -1;
	sl_error_clear(&err);
	if (sl_expr_eval(expr, v, n, &truth, &err) != 0)
		fail_msg("%s: %s", expr, err.message);
	if (truth != want)
		fail_msg("%s: got %d, want %d", expr, truth, want);
	assert_int_equal(sl_expr_check(expr, &err), 0);
}

/* expr on one value x. */
static void is1(const char *expr, double x, int want)
{
	is(expr, &x, 1, want);
}

/* expr must be refused by both functions with SL_USAGE at column, message containing what. */
static void refused(const char *expr, int column, const char *what)
{
	struct sl_error err;
	double v[2] = { 1, 2 };
	int truth = 7;
	sl_error_clear(&err);
	if (sl_expr_eval(expr, v, 2, &truth, &err) != -1)
		fail_msg("%s: accepted", expr);
	if (err.code != SL_USAGE || err.column != column || !strstr(err.message, what))
		fail_msg("%s: code %d column %d (want %d) message: %s", expr, err.code, err.column,
			 column, err.message);
	assert_int_equal(truth, 7);
	sl_error_clear(&err);
	assert_int_equal(sl_expr_check(expr, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.column, column);
}

static void test_argo_examples_evaluate(void **state)
{
	double ok[] = { 150 }, slow[] = { 250 }, two[] = { 3, 9 };
	is("result < 0.01", (double[]){ 0.005 }, 1, 1);
	is("result < 0.01", (double[]){ 0.02 }, 1, 0);
	is("result[0] <= 200 && result[0] >= 0", ok, 1, 1);
	is("result[0] <= 200 && result[0] >= 0", slow, 1, 0);
	is("len(result) > 0 and result[0] < 5", two, 2, 1);
	is("len(result) > 0 and result[1] < 5", two, 2, 0);
	is("isNaN(result)", (double[]){ NAN }, 1, 1);
	is("isNaN(result) || result >= 0.95", (double[]){ 0.97 }, 1, 1);
	is("result == 1", (double[]){ 1 }, 1, 1);
	is("result[1] - result[0] == 6", two, 2, 1);
}

static void test_precedence_and_associativity(void **state)
{
	is("1 + 2 * 3 == 7", NULL, 0, 1);
	is("(1 + 2) * 3 == 9", NULL, 0, 1);
	is("10 - 4 - 3 == 3", NULL, 0, 1);          /* left to right */
	is("64 / 4 / 2 == 8", NULL, 0, 1);
	is("2 * 3 % 4 == 2", NULL, 0, 1);           /* (2*3)%4 */
	is("-2 * -3 == 6", NULL, 0, 1);
	is("- - 2 == 2", NULL, 0, 1);
	is("1 < 2 == true", NULL, 0, 1);            /* ordering binds tighter than == */
	is("true || false && false", NULL, 0, 1);   /* && before || */
	is("(true || false) && false", NULL, 0, 0);
	is("false or true and true", NULL, 0, 1);
	is("!false && true", NULL, 0, 1);
	is("not (1 > 2)", NULL, 0, 1);
	is("!(1 < 2) || 3 >= 3", NULL, 0, 1);
	is("1 + 1 > 1 == !false", NULL, 0, 1);
}

static void test_each_operator(void **state)
{
	is("3 < 4", NULL, 0, 1);
	is("4 < 4", NULL, 0, 0);
	is("4 <= 4", NULL, 0, 1);
	is("5 <= 4", NULL, 0, 0);
	is("5 > 4", NULL, 0, 1);
	is("4 > 4", NULL, 0, 0);
	is("4 >= 4", NULL, 0, 1);
	is("3 >= 4", NULL, 0, 0);
	is("4 == 4.0", NULL, 0, 1);
	is("4 != 4", NULL, 0, 0);
	is("true == true", NULL, 0, 1);
	is("true != false", NULL, 0, 1);
	is("7 % 3 == 1", NULL, 0, 1);
	is("-7 % 3 == -1", NULL, 0, 1);             /* fmod: the sign of the dividend */
	is("7.5 % 2 == 1.5", NULL, 0, 1);
	is("1 / 4 == 0.25", NULL, 0, 1);
	is("1 / 0 > 1e308", NULL, 0, 1);            /* IEEE: +Inf */
	is("isInf(1 / 0) && isInf(-1 / 0)", NULL, 0, 1);
	is("isNaN(0 / 0)", NULL, 0, 1);
	is("abs(-2.5) == 2.5 && abs(3) == 3", NULL, 0, 1);
	is("1.5e3 == 1500 && 2E-2 == 0.02 && .5 == 0.5 && 5. == 5 && 1e+2 == 100", NULL, 0, 1);
	is("true", NULL, 0, 1);
	is("false", NULL, 0, 0);
	is("true && true", NULL, 0, 1);
	is("true and false", NULL, 0, 0);
	is("false || false", NULL, 0, 0);
	is("false or true", NULL, 0, 1);
	is("!true", NULL, 0, 0);
	is("not false", NULL, 0, 1);
	is("len(result) == 3", (double[]){ 1, 2, 3 }, 3, 1);
	is("len(result) == 0", NULL, 0, 1);
	is("  result\t>\n1 ", (double[]){ 2 }, 1, 1); /* whitespace anywhere between tokens */
	is("result[2] == 30", (double[]){ 10, 20, 30 }, 3, 1);
	is("result[002] == 30", (double[]){ 10, 20, 30 }, 3, 1);
}

static void test_nan_compares_false(void **state)
{
	is1("result < 1", NAN, 0);
	is1("result <= 1", NAN, 0);
	is1("result > 1", NAN, 0);
	is1("result >= 1", NAN, 0);
	is1("result == result", NAN, 0);
	is1("result != result", NAN, 1);            /* IEEE, as Go's expr-lang */
	is1("!(result < 1)", NAN, 1);               /* so a "max" written as success fails on NaN */
	is1("isNaN(result)", NAN, 1);
	is1("isNaN(result)", 1, 0);
	is1("isInf(result)", NAN, 0);
	is1("isNaN(abs(result))", NAN, 1);
	is1("result > 1e308", INFINITY, 1);
	is1("isInf(result) && result < 0", -INFINITY, 1);
	is1("isNaN(result - result)", INFINITY, 1);
}

static void test_type_errors_name_the_column(void **state)
{
	refused("result", 1, "is a number, not true/false");
	refused("1 + 2", 1, "is a number");
	refused("result && true", 8, "'&&' needs true/false on both sides, the left side is a number");
	refused("true and 1", 6, "the right side is a number");
	refused("1 || true", 3, "'||' needs true/false");
	refused("true or 2 > 1 or 3", 15, "'or' needs true/false");
	refused("true < 1", 6, "'<' needs numbers on both sides, the left side is true/false");
	refused("1 < 2 < 3", 7, "'<' needs numbers");     /* no chained comparisons */
	refused("true + 1 > 0", 6, "'+' needs numbers");
	refused("2 * false > 0", 3, "'*' needs numbers");
	refused("true == 1", 6, "'==' compares true/false with a number");
	refused("1 != false", 3, "'!=' compares a number with true/false");
	refused("!result", 1, "'!' needs true/false, not a number");
	refused("not 1", 1, "'not' needs true/false");
	refused("-true", 1, "'-' needs a number");
	refused("isNaN(true)", 1, "isNaN() takes a number");
	refused("abs(1 < 2) > 0", 1, "abs() takes a number");
	/* found at load time even where evaluation would skip it */
	refused("false && (1 + true > 0)", 13, "'+' needs numbers");
}

static void test_syntax_errors(void **state)
{
	refused("result <", 9, "expected a value");
	refused("", 1, "empty condition");
	refused("   ", 4, "empty condition");
	refused("(result < 1", 12, "expected ')'");
	refused("result < 1)", 11, "unexpected ')' after the condition");
	refused("result < 1 2", 12, "unexpected '2'");
	refused("result = 1", 8, "did you mean '=='");
	refused("true & false", 6, "did you mean '&&'");
	refused("true | false", 6, "did you mean '||'");
	refused("resutl < 1", 1, "unknown name 'resutl'");
	refused("result[] < 1", 8, "expected an index");
	refused("result[-1] < 1", 8, "expected an index");
	refused("result[1.5] < 1", 8, "expected an index");
	refused("result[0 < 1", 10, "expected ']'");
	refused("len(1) > 0", 5, "len() takes 'result'");
	refused("len(result[0]) > 0", 11, "expected ')'");
	refused("len > 0", 5, "expected '(' after 'len'");
	refused("isNaN result", 7, "expected '('");
	refused("isNaN(result", 13, "expected ')'");
	refused("1e < 2", 1, "exponent without digits");
	refused("5ms < 2", 1, "malformed number");
	refused("1.2.3 < 2", 1, "malformed number");
	refused("0x10 > 1", 1, "malformed number");
	refused("result < inf", 10, "unknown name 'inf'");
	refused("result # 1", 8, "unexpected character '#'");
	refused("result < \x01", 10, "unexpected byte 0x01");
	refused("result < \xc3\xa9", 10, "unexpected byte 0xc3");
	refused("* 2", 1, "expected a value, found '*'");
	refused("()", 2, "expected a value, found ')'");
}

static void test_message_quotes_the_condition(void **state)
{
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_expr_check("result <", &err), -1);
	assert_string_equal(err.message, "condition \"result <\" at column 9: expected a value");
	/* long conditions are cut, control bytes shown as '?': still one line */
	char longer[400];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[0] = '\n';
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(sl_expr_check(longer, &err), -1);
	assert_non_null(strstr(err.message, "condition \"?aaa"));
	assert_non_null(strstr(err.message, "aaa...\" at column 2: unknown name"));
	assert_null(strchr(err.message, '\n'));
}

static void test_index_out_of_range_is_a_measurement_error(void **state)
{
	struct sl_error err;
	double v[] = { 1, 2 };
	int truth = 7;
	sl_error_clear(&err);
	assert_int_equal(sl_expr_eval("result[3] < 1", v, 2, &truth, &err), -1);
	assert_int_equal(err.code, SL_ENV);
	assert_non_null(strstr(err.message, "result[3] out of range (2 values)"));
	assert_int_equal(err.column, 1);
	assert_int_equal(truth, 7);
	/* `result` alone with no values */
	assert_int_equal(sl_expr_eval("result < 1", NULL, 0, &truth, &err), -1);
	assert_int_equal(err.code, SL_ENV);
	assert_non_null(strstr(err.message, "result[0] out of range (0 values)"));
	assert_int_equal(sl_expr_eval("1 < 2 && result[1] > 0", v, 1, &truth, &err), -1);
	assert_non_null(strstr(err.message, "result[1] out of range (1 value)"));
	assert_int_equal(err.column, 10);
	/* a huge index saturates instead of wrapping around */
	assert_int_equal(sl_expr_eval("result[99999999999999999999999] < 1", v, 2, &truth, &err), -1);
	assert_int_equal(err.code, SL_ENV);
	/* but the check at load time cannot know the values: fine */
	assert_int_equal(sl_expr_check("result[3] < 1", &err), 0);
}

static void test_and_or_short_circuit_the_right_side(void **state)
{
	is("len(result) > 0 && result[0] < 5", NULL, 0, 0);
	is("len(result) == 0 || result[0] < 5", NULL, 0, 1);
	is("len(result) > 0 and result[0] < 5 or true", NULL, 0, 1);
	is("false && (result[7] > 0 || result[8] > 0)", NULL, 0, 0);
	is("true || isNaN(result[9])", NULL, 0, 1);
	/* the left side is still evaluated */
	struct sl_error err;
	int truth;
	assert_int_equal(sl_expr_eval("result[1] > 0 || true", NULL, 0, &truth, &err), -1);
	assert_int_equal(err.code, SL_ENV);
}

/* open x depth, core, close x depth, then tail */
static char *nested(const char *open, const char *core, const char *close, int depth,
		    const char *tail)
{
	size_t lo = strlen(open), lc = strlen(close);
	char *s = malloc(depth * (lo + lc) + strlen(core) + strlen(tail) + 1);
	char *p = s;
	for (int i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	strcpy(p, core);
	p += strlen(core);
	for (int i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	strcpy(p, tail);
	return s;
}

static void test_depth_limit(void **state)
{
	struct sl_error err;
	int truth;
	static const struct { const char *open, *core, *close, *tail; } shapes[] = {
		{ "(", "true", ")", "" },
		{ "!", "true", "", "" },
		{ "-", "1", "", " > 0" },
		{ "abs(", "1", ")", " > 0" },
		{ "not ", "false", "", "" },
	};
	for (size_t i = 0; i < COUNT(shapes); i++) {
		char *ok = nested(shapes[i].open, shapes[i].core, shapes[i].close, SL_EXPR_MAX_DEPTH,
				  shapes[i].tail);
		char *deep = nested(shapes[i].open, shapes[i].core, shapes[i].close,
				    SL_EXPR_MAX_DEPTH + 1, shapes[i].tail);
		if (sl_expr_eval(ok, NULL, 0, &truth, &err) != 0)
			fail_msg("%s at depth %d: %s", shapes[i].open, SL_EXPR_MAX_DEPTH, err.message);
		assert_int_equal(sl_expr_eval(deep, NULL, 0, &truth, &err), -1);
		assert_int_equal(err.code, SL_USAGE);
		assert_non_null(strstr(err.message, "nested more than 64 deep"));
		assert_int_equal(err.column, (int)(SL_EXPR_MAX_DEPTH * strlen(shapes[i].open)) + 1);
		free(ok);
		free(deep);
	}
	/* a hostile input a megabyte deep is refused, not a stack overflow */
	char *huge = nested("(", "1", ")", 1 << 20, " > 0");
	assert_int_equal(sl_expr_check(huge, &err), -1);
	free(huge);
	/* long but flat is fine */
	size_t terms = 100000;
	char *flat = malloc(terms * 4 + 16);
	char *p = flat;
	for (size_t i = 0; i < terms; i++, p += 4)
		memcpy(p, "1 + ", 4);
	strcpy(p, "0 > 0");
	assert_int_equal(sl_expr_eval(flat, NULL, 0, &truth, &err), 0);
	assert_int_equal(truth, 1);
	free(flat);
}

static void test_garbage_is_refused_cleanly(void **state)
{
	static const char *junk[] = {
		"(((", ")))", "[[", "]", "result[", "result[0", "len(", "len(result", "isNaN(",
		"&&", "||", "!", "-", "not", "and", "or", "true true", "1 1", "result result",
		"\"result\" < 1", "'a' == 'a'", "result < 1;", "result.x < 1", "result < 1 &&",
		"<>", "===", "!==", "1 <== 2", "true,false", "\xff\xfe", "..5", "1e+", "result[0]]",
	};
	for (size_t i = 0; i < COUNT(junk); i++) {
		struct sl_error err;
		int truth = 7;
		sl_error_clear(&err);
		if (sl_expr_eval(junk[i], (double[]){ 1 }, 1, &truth, &err) != -1)
			fail_msg("accepted: %s", junk[i]);
		assert_int_equal(err.code, SL_USAGE);
		assert_true(err.column >= 1 && err.column <= (int)strlen(junk[i]) + 1);
		assert_non_null(strstr(err.message, "condition \""));
		assert_int_equal(truth, 7);
	}
	/* NULL is an empty condition, and a NULL err is allowed */
	assert_int_equal(sl_expr_check(NULL, NULL), -1);
	assert_int_equal(sl_expr_eval("result <", NULL, 0, NULL, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argo_examples_evaluate),
		cmocka_unit_test(test_precedence_and_associativity),
		cmocka_unit_test(test_each_operator),
		cmocka_unit_test(test_nan_compares_false),
		cmocka_unit_test(test_type_errors_name_the_column),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_message_quotes_the_condition),
		cmocka_unit_test(test_index_out_of_range_is_a_measurement_error),
		cmocka_unit_test(test_and_or_short_circuit_the_right_side),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_garbage_is_refused_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
