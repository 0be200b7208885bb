/*
 * fuzz_expr.c - libFuzzer harness for the rollout condition expressions
 * (src/core/expr.c).  The first byte chooses how many values `result` holds
 * (0..7), the next that many bytes pick each from a table of awkward doubles
 * (NaN, the infinities, -0, huge and tiny), and the rest, cut at its first
 * NUL, is the condition.  Checked: sl_expr_check and sl_expr_eval agree (a
 * condition the check accepts never fails evaluation as SL_USAGE, only as
 * SL_ENV for an index out of range; one it refuses is refused by evaluation
 * too); every error has a one-line message and a column inside the input;
 * the truth is 0 or 1 and the same twice.  Nesting deeper than the limit
 * must be refused, not overflow the stack (ASan would see it).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/expr.h"

static const double awkward[] = {
	0, -0.0, 1, -1, 0.5, 0.01, 200, 1e308, -1e308, 5e-324, NAN, INFINITY, -INFINITY, 3, 42, 1e-9,
};

static void check_error(const struct sl_error *err, size_t len)
{
	if (!err->message[0] || strchr(err->message, '\n'))
		abort();
	if (err->column < 1 || (size_t)err->column > len + 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double v[8];
	size_t n = 0;
	if (size) {
		n = data[0] % 8;
		data++;
		size--;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = size ? awkward[data[0] % (sizeof(awkward) / sizeof(awkward[0]))] : 0;
		if (size) {
			data++;
			size--;
		}
	}
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	size_t len = strlen(s);

	struct sl_error cerr, eerr;
	sl_error_clear(&cerr);
	sl_error_clear(&eerr);
	int truth = 7, again = 9;
	int checked = sl_expr_check(s, &cerr);
	int evaluated = sl_expr_eval(s, v, n, &truth, &eerr);
	if (checked == 0) {
		if (evaluated == 0) {
			if (truth != 0 && truth != 1)
				abort();
			if (sl_expr_eval(s, v, n, &again, NULL) != 0 || again != truth)
				abort();
		} else {
			if (eerr.code != SL_ENV || !strstr(eerr.message, "out of range") || truth != 7)
				abort();
			check_error(&eerr, len);
		}
	} else {
		if (cerr.code != SL_USAGE || evaluated != -1 || truth != 7)
			abort();
		check_error(&cerr, len);
		check_error(&eerr, len);
		/* the same error, unless evaluation met a bad index first */
		if (eerr.code == SL_USAGE &&
		    (eerr.column != cerr.column || strcmp(eerr.message, cerr.message) != 0))
			abort();
		if (eerr.code != SL_USAGE && eerr.code != SL_ENV)
			abort();
	}
	free(s);
	return 0;
}
