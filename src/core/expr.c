/*
 * expr.c - the condition expressions of rollout analysis (see expr.h).
 *
 * Written by hand: Argo Rollouts evaluates these with the Go library
 * expr-lang, and no C library packaged in Debian evaluates expressions of
 * this shape (tinyexpr and the like are not packaged and have no booleans).
 * The language is small enough that a recursive-descent parser which
 * evaluates as it parses is shorter than any binding would be.
 *
 * One pass does both jobs: every parse function takes `live`, and computes
 * only the type of what it reads when live is 0.  sl_expr_check parses with
 * live = 0 throughout; sl_expr_eval parses live, and turns live off for the
 * right side of a decided && or ||, so that side is still checked for
 * syntax and types but never indexes the values.
 */
#include "expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok {
	T_END, T_NUM, T_TRUE, T_FALSE, T_IDENT, T_LPAREN, T_RPAREN, T_LBRACK,
	T_RBRACK, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_LT, T_LE, T_GT,
	T_GE, T_EQ, T_NE, T_AND, T_OR, T_NOT
};

enum type { TY_NUM, TY_BOOL };

struct val {
	enum type type;
	double num;   /* TY_NUM, when live */
	int b;        /* TY_BOOL, when live */
};

struct parser {
	const char *src;
	const char *p;          /* first byte after the current token */
	enum tok tok;           /* the current token ... */
	const char *tok_at;     /* ... where it starts ... */
	size_t tok_len;         /* ... its length ... */
	double num;             /* ... and its value, for T_NUM */
	const double *v;
	size_t n;
	int depth;
	struct sl_error *err;
};

static int col(const struct parser *ps, const char *at)
{
	return (int)(at - ps->src) + 1;
}

/*
 * The error of the condition, at a column: the condition is quoted (cut at
 * 120 bytes, control bytes shown as '?') so that the message stays one
 * readable line whatever the input.
 */
__attribute__((format(printf, 4, 5)))
static int fail(struct parser *ps, int code, const char *at, const char *fmt, ...)
{
	char shown[128], what[600];
	size_t i = 0, len = strlen(ps->src);
	for (; i < len && i < 120; i++) {
		unsigned char c = (unsigned char)ps->src[i];
		shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	shown[i] = '\0';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sl_err_at(ps->err, code, NULL, 0, col(ps, at), "condition \"%s%s\" at column %d: %s",
			 shown, len > 120 ? "..." : "", col(ps, at), what);
}

/* The current token, for messages ("')'", "'foo'", "the end"). */
static const char *tok_text(const struct parser *ps, char *out, size_t cap)
{
	if (ps->tok == T_END)
		return "the end";
	unsigned char c = (unsigned char)ps->tok_at[0];
	if (ps->tok_len == 1 && (c < 0x20 || c >= 0x7f))
		snprintf(out, cap, "byte 0x%02x", c);
	else
		snprintf(out, cap, "'%.*s'", (int)(ps->tok_len > 40 ? 40 : ps->tok_len), ps->tok_at);
	return out;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_ident(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && is_digit(c));
}

static int word_is(const struct parser *ps, const char *w)
{
	return ps->tok_len == strlen(w) && memcmp(ps->tok_at, w, ps->tok_len) == 0;
}

/*
 * Read the next token.  Numbers are digits with an optional fraction and
 * exponent, read by strtod only after their shape is checked (so "inf",
 * "0x10" and "1e" are refused rather than taken); the byte after a checked
 * number cannot extend it, so strtod stops where the shape ends.  A letter
 * straight after a number ("5ms") is an error, not two tokens.
 */
static int next(struct parser *ps)
{
	const char *p = ps->p;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	ps->tok_at = p;
	ps->tok_len = 1;
	char c = *p;
	if (!c) {
		ps->tok = T_END;
		ps->tok_len = 0;
		ps->p = p;
		return 0;
	}
	if (is_digit(c) || (c == '.' && is_digit(p[1]))) {
		const char *q = p;
		while (is_digit(*q))
			q++;
		if (*q == '.') {
			q++;
			while (is_digit(*q))
				q++;
		}
		if (*q == 'e' || *q == 'E') {
			const char *e = q + 1;
			if (*e == '+' || *e == '-')
				e++;
			if (!is_digit(*e))
				return fail(ps, SL_USAGE, p, "malformed number (exponent without digits)");
			while (is_digit(*e))
				e++;
			q = e;
		}
		if (is_ident(*q, 0) || *q == '.')
			return fail(ps, SL_USAGE, p, "malformed number '%.*s'",
				    (int)(q - p + 1 > 40 ? 40 : q - p + 1), p);
		char *end = NULL;
		ps->num = strtod(p, &end);
		if (end != q)
			return fail(ps, SL_USAGE, p, "malformed number");
		size_t len = (size_t)(q - p);
		ps->tok = T_NUM;
		ps->tok_len = len;
		ps->p = q;
		return 0;
	}
	if (is_ident(c, 1)) {
		const char *q = p;
		while (is_ident(*q, 0))
			q++;
		ps->tok_len = (size_t)(q - p);
		ps->p = q;
		ps->tok = T_IDENT;
		if (word_is(ps, "true"))
			ps->tok = T_TRUE;
		else if (word_is(ps, "false"))
			ps->tok = T_FALSE;
		else if (word_is(ps, "and"))
			ps->tok = T_AND;
		else if (word_is(ps, "or"))
			ps->tok = T_OR;
		else if (word_is(ps, "not"))
			ps->tok = T_NOT;
		return 0;
	}
	static const struct { const char *s; enum tok t; } ops[] = {
		{ "&&", T_AND }, { "||", T_OR }, { "<=", T_LE }, { ">=", T_GE },
		{ "==", T_EQ }, { "!=", T_NE }, { "(", T_LPAREN }, { ")", T_RPAREN },
		{ "[", T_LBRACK }, { "]", T_RBRACK }, { "+", T_PLUS }, { "-", T_MINUS },
		{ "*", T_STAR }, { "/", T_SLASH }, { "%", T_PERCENT }, { "<", T_LT },
		{ ">", T_GT }, { "!", T_NOT },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t len = strlen(ops[i].s);
		if (strncmp(p, ops[i].s, len) == 0) {
			ps->tok = ops[i].t;
			ps->tok_len = len;
			ps->p = p + len;
			return 0;
		}
	}
	if (c == '=')
		return fail(ps, SL_USAGE, p, "'=' is not an operator (did you mean '=='?)");
	if (c == '&' || c == '|')
		return fail(ps, SL_USAGE, p, "'%c' is not an operator (did you mean '%c%c'?)", c, c, c);
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return fail(ps, SL_USAGE, p, "unexpected byte 0x%02x", (unsigned char)c);
	return fail(ps, SL_USAGE, p, "unexpected character '%c'", c);
}

static int expect(struct parser *ps, enum tok t, const char *what)
{
	char buf[64];
	if (ps->tok != t)
		return fail(ps, SL_USAGE, ps->tok_at, "expected %s, found %s", what,
			    tok_text(ps, buf, sizeof(buf)));
	return next(ps);
}

static const char *type_name(enum type t)
{
	return t == TY_NUM ? "a number" : "true/false";
}

/* The operands of the operator at `at` must be of type want. */
static int want2(struct parser *ps, const char *at, size_t op_len, const struct val *l,
		 const struct val *r, enum type want)
{
	if (l->type == want && r->type == want)
		return 0;
	return fail(ps, SL_USAGE, at, "'%.*s' needs %s on both sides, the %s side is %s",
		    (int)op_len, at, want == TY_NUM ? "numbers" : "true/false",
		    l->type != want ? "left" : "right", type_name(l->type != want ? l->type : r->type));
}

static int enter(struct parser *ps, const char *at)
{
	if (++ps->depth > SL_EXPR_MAX_DEPTH)
		return fail(ps, SL_USAGE, at, "nested more than %d deep", SL_EXPR_MAX_DEPTH);
	return 0;
}

static int parse_or(struct parser *ps, int live, struct val *out);

/* The "( expression )" of a call. */
static int call_arg(struct parser *ps, int live, struct val *out)
{
	if (expect(ps, T_LPAREN, "'('") || parse_or(ps, live, out))
		return -1;
	return expect(ps, T_RPAREN, "')'");
}

/* result, result[INT], len(result), isNaN(x), isInf(x), abs(x) */
static int parse_name(struct parser *ps, int live, struct val *out)
{
	const char *at = ps->tok_at;
	char buf[64];
	if (word_is(ps, "result")) {
		size_t idx = 0;
		if (next(ps))
			return -1;
		if (ps->tok == T_LBRACK) {
			if (next(ps))
				return -1;
			if (ps->tok != T_NUM || ps->tok_len != strspn(ps->tok_at, "0123456789"))
				return fail(ps, SL_USAGE, ps->tok_at,
					    "expected an index (0, 1, ...) after 'result[', found %s",
					    tok_text(ps, buf, sizeof(buf)));
			idx = ps->num >= (double)SIZE_MAX ? SIZE_MAX : (size_t)ps->num;
			if (next(ps) || expect(ps, T_RBRACK, "']'"))
				return -1;
		}
		out->type = TY_NUM;
		if (live) {
			if (idx >= ps->n)
				return fail(ps, SL_ENV, at, "result[%zu] out of range (%zu value%s)", idx,
					    ps->n, ps->n == 1 ? "" : "s");
			out->num = ps->v[idx];
		}
		return 0;
	}
	if (word_is(ps, "len")) {
		if (next(ps) || expect(ps, T_LPAREN, "'(' after 'len'"))
			return -1;
		if (ps->tok != T_IDENT || !word_is(ps, "result"))
			return fail(ps, SL_USAGE, ps->tok_at, "len() takes 'result', found %s",
				    tok_text(ps, buf, sizeof(buf)));
		if (next(ps) || expect(ps, T_RPAREN, "')'"))
			return -1;
		out->type = TY_NUM;
		out->num = (double)ps->n;
		return 0;
	}
	int fn = word_is(ps, "isNaN") ? 1 : word_is(ps, "isInf") ? 2 : word_is(ps, "abs") ? 3 : 0;
	if (!fn) {
		return fail(ps, SL_USAGE, at, "unknown name %s (known: result, len, isNaN, isInf, abs, "
			    "true, false, and, or, not)", tok_text(ps, buf, sizeof(buf)));
	}
	struct val a = { TY_NUM, 0, 0 };
	if (enter(ps, at) || next(ps) || call_arg(ps, live, &a))
		return -1;
	ps->depth--;
	if (a.type != TY_NUM)
		return fail(ps, SL_USAGE, at, "%s() takes a number, not true/false",
			    fn == 1 ? "isNaN" : fn == 2 ? "isInf" : "abs");
	if (fn == 3) {
		out->type = TY_NUM;
		out->num = fabs(a.num);
	} else {
		out->type = TY_BOOL;
		out->b = (fn == 1 ? isnan(a.num) : isinf(a.num)) != 0;
	}
	return 0;
}

static int parse_primary(struct parser *ps, int live, struct val *out)
{
	char buf[64];
	const char *at = ps->tok_at;
	switch (ps->tok) {
	case T_NUM:
		out->type = TY_NUM;
		out->num = ps->num;
		return next(ps);
	case T_TRUE:
	case T_FALSE:
		out->type = TY_BOOL;
		out->b = ps->tok == T_TRUE;
		return next(ps);
	case T_IDENT:
		return parse_name(ps, live, out);
	case T_LPAREN:
		if (enter(ps, at) || next(ps) || parse_or(ps, live, out) || expect(ps, T_RPAREN, "')'"))
			return -1;
		ps->depth--;
		return 0;
	default:
		if (ps->tok == T_END)
			return fail(ps, SL_USAGE, at, "expected a value");
		return fail(ps, SL_USAGE, at, "expected a value, found %s", tok_text(ps, buf, sizeof(buf)));
	}
}

static int parse_unary(struct parser *ps, int live, struct val *out)
{
	if (ps->tok != T_MINUS && ps->tok != T_NOT)
		return parse_primary(ps, live, out);
	const char *at = ps->tok_at;
	size_t len = ps->tok_len;
	enum tok op = ps->tok;
	if (enter(ps, at) || next(ps) || parse_unary(ps, live, out))
		return -1;
	ps->depth--;
	if (op == T_MINUS) {
		if (out->type != TY_NUM)
			return fail(ps, SL_USAGE, at, "'-' needs a number, not true/false");
		out->num = -out->num;
	} else {
		if (out->type != TY_BOOL)
			return fail(ps, SL_USAGE, at, "'%.*s' needs true/false, not a number", (int)len, at);
		out->b = !out->b;
	}
	return 0;
}

static int parse_mul(struct parser *ps, int live, struct val *out)
{
	if (parse_unary(ps, live, out))
		return -1;
	while (ps->tok == T_STAR || ps->tok == T_SLASH || ps->tok == T_PERCENT) {
		enum tok op = ps->tok;
		const char *at = ps->tok_at;
		struct val r = { TY_NUM, 0, 0 };
		if (next(ps) || parse_unary(ps, live, &r) || want2(ps, at, 1, out, &r, TY_NUM))
			return -1;
		out->num = op == T_STAR ? out->num * r.num :
			   op == T_SLASH ? out->num / r.num : fmod(out->num, r.num);
	}
	return 0;
}

static int parse_add(struct parser *ps, int live, struct val *out)
{
	if (parse_mul(ps, live, out))
		return -1;
	while (ps->tok == T_PLUS || ps->tok == T_MINUS) {
		enum tok op = ps->tok;
		const char *at = ps->tok_at;
		struct val r = { TY_NUM, 0, 0 };
		if (next(ps) || parse_mul(ps, live, &r) || want2(ps, at, 1, out, &r, TY_NUM))
			return -1;
		out->num = op == T_PLUS ? out->num + r.num : out->num - r.num;
	}
	return 0;
}

/* Ordering; C's comparisons are IEEE's, so any NaN makes them false. */
static int parse_cmp(struct parser *ps, int live, struct val *out)
{
	if (parse_add(ps, live, out))
		return -1;
	while (ps->tok == T_LT || ps->tok == T_LE || ps->tok == T_GT || ps->tok == T_GE) {
		enum tok op = ps->tok;
		const char *at = ps->tok_at;
		size_t len = ps->tok_len;
		struct val r = { TY_NUM, 0, 0 };
		if (next(ps) || parse_add(ps, live, &r) || want2(ps, at, len, out, &r, TY_NUM))
			return -1;
		double a = out->num, b = r.num;
		out->type = TY_BOOL;
		out->b = op == T_LT ? a < b : op == T_LE ? a <= b : op == T_GT ? a > b : a >= b;
	}
	return 0;
}

static int parse_eq(struct parser *ps, int live, struct val *out)
{
	if (parse_cmp(ps, live, out))
		return -1;
	while (ps->tok == T_EQ || ps->tok == T_NE) {
		enum tok op = ps->tok;
		const char *at = ps->tok_at;
		struct val r = { TY_NUM, 0, 0 };
		if (next(ps) || parse_cmp(ps, live, &r))
			return -1;
		if (out->type != r.type)
			return fail(ps, SL_USAGE, at, "'%s' compares %s with %s",
				    op == T_EQ ? "==" : "!=", type_name(out->type), type_name(r.type));
		int same = out->type == TY_NUM ? out->num == r.num : !out->b == !r.b;
		out->type = TY_BOOL;
		out->b = op == T_EQ ? same : !same;
	}
	return 0;
}

static int parse_and(struct parser *ps, int live, struct val *out)
{
	if (parse_eq(ps, live, out))
		return -1;
	while (ps->tok == T_AND) {
		const char *at = ps->tok_at;
		size_t len = ps->tok_len;
		struct val r = { TY_BOOL, 0, 0 };
		if (out->type != TY_BOOL)
			return want2(ps, at, len, out, out, TY_BOOL);
		int rlive = live && out->b;
		if (next(ps) || parse_eq(ps, rlive, &r) || want2(ps, at, len, out, &r, TY_BOOL))
			return -1;
		out->b = out->b && r.b;
	}
	return 0;
}

static int parse_or(struct parser *ps, int live, struct val *out)
{
	if (parse_and(ps, live, out))
		return -1;
	while (ps->tok == T_OR) {
		const char *at = ps->tok_at;
		size_t len = ps->tok_len;
		struct val r = { TY_BOOL, 0, 0 };
		if (out->type != TY_BOOL)
			return want2(ps, at, len, out, out, TY_BOOL);
		int rlive = live && !out->b;
		if (next(ps) || parse_and(ps, rlive, &r) || want2(ps, at, len, out, &r, TY_BOOL))
			return -1;
		out->b = out->b || r.b;
	}
	return 0;
}

/* The whole condition: one true/false expression and nothing after it. */
static int run(const char *expr, const double *v, size_t n, int live, int *truth,
	       struct sl_error *err)
{
	struct parser ps = { .src = expr ? expr : "", .v = v, .n = n, .err = err };
	ps.p = ps.src;
	struct val out = { TY_BOOL, 0, 0 };
	char buf[64];
	if (next(&ps))
		return -1;
	if (ps.tok == T_END)
		return fail(&ps, SL_USAGE, ps.tok_at, "empty condition");
	if (parse_or(&ps, live, &out))
		return -1;
	if (ps.tok != T_END)
		return fail(&ps, SL_USAGE, ps.tok_at, "unexpected %s after the condition",
			    tok_text(&ps, buf, sizeof(buf)));
	if (out.type != TY_BOOL)
		return fail(&ps, SL_USAGE, ps.src, "the condition is a number, not true/false "
			    "(compare it: result < 0.01)");
	if (truth)
		*truth = out.b;
	return 0;
}

int sl_expr_eval(const char *expr, const double *v, size_t n, int *truth, struct sl_error *err)
{
	return run(expr, v, n, 1, truth, err);
}

int sl_expr_check(const char *expr, struct sl_error *err)
{
	return run(expr, NULL, 0, 0, NULL, err);
}
