/*
 * expr.h - the condition expressions of rollout analysis metrics, in the
 * manner of Argo Rollouts' successCondition / failureCondition:
 *
 *     result < 0.01
 *     result[0] <= 200 && result[0] >= 0
 *     len(result) > 0 and result[0] < 5
 *     isNaN(result) || result > 0.99
 *
 * `result` is bound to the values a metric provider measured (one per
 * series); `result` alone means result[0].  Grammar, loosest first:
 *
 *     or      := and (("||" | "or") and)*
 *     and     := eq (("&&" | "and") eq)*
 *     eq      := cmp (("==" | "!=") cmp)*
 *     cmp     := add (("<" | "<=" | ">" | ">=") add)*
 *     add     := mul (("+" | "-") mul)*
 *     mul     := unary (("*" | "/" | "%") unary)*
 *     unary   := ("-" | "!" | "not") unary | primary
 *     primary := NUMBER | "true" | "false" | "result" ["[" INT "]"]
 *              | "len" "(" "result" ")" | ("isNaN" | "isInf" | "abs") "(" or ")"
 *              | "(" or ")"
 *
 * Numbers are doubles with IEEE semantics (1/0 is +Inf, % is fmod); NaN
 * compares false with <, <=, >, >= and ==, and != is true.  Numbers and
 * booleans are distinct types: `!` / `&&` / `||` take booleans, arithmetic
 * and ordering take numbers, == and != take two of the same type.  Types
 * are known without the values, so every type error is found by
 * sl_expr_check at load time.  `&&` and `||` short-circuit: the right side
 * of `len(result) > 0 && result[0] < 5` is not evaluated when there are no
 * values, so it cannot fail with an index out of range.
 *
 * Nothing here allocates; recursion is bounded by SL_EXPR_MAX_DEPTH.
 */
#ifndef SL_EXPR_H
#define SL_EXPR_H

#include <stddef.h>

#include "error.h"

/* Most unary operators, parentheses and calls open at once. */
#define SL_EXPR_MAX_DEPTH 64

/*
 * Evaluate expr with `result` bound to v[0..n-1] (`result` alone is v[0]);
 * *truth gets 1 or 0.  Errors, *truth untouched:
 *   SL_USAGE  syntax or type error, or an expression that is not true/false;
 *             err->column is the 1-based column of the problem and the message
 *             reads `condition "result <" at column 9: expected a value`.
 *   SL_ENV    an index out of range: "result[3] out of range (2 values)"
 *             (a measurement error for the controller, not bad config).
 */
int sl_expr_eval(const char *expr, const double *v, size_t n, int *truth,
		 struct sl_error *err);

/* Parse and type-check only (config validation at load time): 0, or -1
 * with SL_USAGE as sl_expr_eval reports it. */
int sl_expr_check(const char *expr, struct sl_error *err);

#endif
