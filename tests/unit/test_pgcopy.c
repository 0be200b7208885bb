/* test_pgcopy.c - the binary COPY decoder: every kind of column as the text
 * form would read it, any split of the stream across libpq's messages, a
 * caller that stops early, and the refusal of malformed streams.  The
 * numeric layouts are numeric_send's own (PostgreSQL 15), and the texts
 * what numeric_out / float8out print for them. */
#include "unit.h"
#include "db/pgcopy.h"
#include "core/buf.h"
#include "core/error.h"

#include <math.h>

/* ---- building a stream ---------------------------------------------------- */

static void put16(struct sl_buf *b, int v)
{
	unsigned char p[2] = { (unsigned char)((unsigned)v >> 8), (unsigned char)v };
	sl_buf_add(b, p, 2);
}

static void put32(struct sl_buf *b, long long v)
{
	unsigned long long u = (unsigned long long)v;
	unsigned char p[4] = { (unsigned char)(u >> 24), (unsigned char)(u >> 16),
			       (unsigned char)(u >> 8), (unsigned char)u };
	sl_buf_add(b, p, 4);
}

static void put64(struct sl_buf *b, unsigned long long u)
{
	put32(b, (long long)(u >> 32));
	put32(b, (long long)(u & 0xFFFFFFFFu));
}

static void header(struct sl_buf *b, int ext)
{
	sl_buf_add(b, "PGCOPY\n\377\r\n", 11); /* with the literal's NUL: 11 bytes */
	put32(b, 0);
	put32(b, ext);
	for (int i = 0; i < ext; i++)
		sl_buf_addc(b, 'x');
}

static void f_null(struct sl_buf *b) { put32(b, -1); }
static void f_text(struct sl_buf *b, const char *s) { put32(b, (long long)strlen(s)); sl_buf_adds(b, s); }
static void f_bool(struct sl_buf *b, int v) { put32(b, 1); sl_buf_addc(b, v ? 1 : 0); }
static void f_int2(struct sl_buf *b, int v) { put32(b, 2); put16(b, v); }
static void f_int4(struct sl_buf *b, long long v) { put32(b, 4); put32(b, v); }
static void f_int8(struct sl_buf *b, long long v) { put32(b, 8); put64(b, (unsigned long long)v); }

static void f_float8(struct sl_buf *b, double d)
{
	unsigned long long u;
	memcpy(&u, &d, 8);
	put32(b, 8);
	put64(b, u);
}

/* A field from hex (numeric_send's output, as encode(numeric_send(x), 'hex')). */
static void f_hex(struct sl_buf *b, const char *hex)
{
	size_t n = strlen(hex) / 2;
	put32(b, (long long)n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		sl_buf_addc(b, (char)v);
	}
}

static const unsigned char KINDS[] = {
	SL_PGCOPY_TEXT, SL_PGCOPY_BOOL, SL_PGCOPY_INT2, SL_PGCOPY_INT4, SL_PGCOPY_INT8,
	SL_PGCOPY_FLOAT8, SL_PGCOPY_NUMERIC, SL_PGCOPY_NUMERIC,
};
#define NK ((int)sizeof(KINDS))

/* Three rows of every kind, then the end marker. */
static void sample_stream(struct sl_buf *b)
{
	header(b, 4);
	put16(b, NK);
	f_text(b, "tab\there\nnl\\");
	f_bool(b, 1);
	f_int2(b, -5);
	f_int4(b, 123456);
	f_int8(b, -9000000000000000000LL);
	f_float8(b, 0.1);
	f_hex(b, "0002000000000002000c1388");      /* 12.50 */
	f_hex(b, "000400030000000003e7270f270f270f"); /* 999999999999999 */
	put16(b, NK);
	for (int i = 0; i < NK; i++)
		f_null(b);
	put16(b, NK);
	f_text(b, "");
	f_bool(b, 0);
	f_int2(b, 32767);
	f_int4(b, -2147483648LL);
	f_int8(b, 999999999999999LL);
	f_float8(b, NAN);
	f_hex(b, "00000000c0000000");              /* NaN */
	f_hex(b, "000400030000000004d2162e23340d80"); /* 1234567890123456 */
	put16(b, -1);
}

static const char SAMPLE_ROWS[] =
	"T:tab\there\nnl\\|T:t|I:-5|I:123456|T:-9000000000000000000|R:0.10000000000000001|T:12.50|I:999999999999999\n"
	"N|N|N|N|N|N|N|N\n"
	"T:|T:f|I:32767|I:-2147483648|I:999999999999999|T:NaN|T:NaN|T:1234567890123456\n";

/* ---- collecting rows -------------------------------------------------------- */

struct rows {
	struct sl_buf out;
	int n, stop_after;
};

static int collect(void *arg, int ncols, const struct sl_cell *cells)
{
	struct rows *r = arg;
	for (int i = 0; i < ncols; i++) {
		const struct sl_cell *c = &cells[i];
		if (i)
			sl_buf_addc(&r->out, '|');
		switch (c->type) {
		case SL_CELL_NULL:
			sl_buf_adds(&r->out, "N");
			break;
		case SL_CELL_INT:
			assert_true(c->d == (double)c->i);
			sl_buf_printf(&r->out, "I:%lld", c->i);
			break;
		case SL_CELL_REAL:
			sl_buf_printf(&r->out, "R:%.17g", c->d);
			break;
		case SL_CELL_TEXT:
			sl_buf_printf(&r->out, "T:%s", c->s);
			break;
		}
	}
	sl_buf_addc(&r->out, '\n');
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

/* Decode stream in chunks of chunk bytes (0: whole); 0 or -1 with err. */
static int decode(const struct sl_buf *stream, size_t chunk, struct rows *r, struct sl_error *err)
{
	struct sl_pgcopy c;
	sl_pgcopy_init(&c, NK, KINDS, collect, r);
	size_t step = chunk ? chunk : stream->len;
	int rc = 0;
	for (size_t off = 0; off < stream->len && !rc; off += step) {
		size_t n = stream->len - off < step ? stream->len - off : step;
		rc = sl_pgcopy_feed(&c, stream->s + off, n, err);
	}
	if (!rc && !c.stopped)
		rc = sl_pgcopy_finish(&c, err);
	sl_pgcopy_free(&c);
	return rc;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_rows_of_every_kind_decode_as_the_text_form_reads(void **state)
{
	(void)state;
	struct sl_buf s = SL_BUF_INIT;
	sample_stream(&s);
	struct rows r = { SL_BUF_INIT, 0, 0 };
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(decode(&s, 0, &r, &err), 0);
	assert_string_equal(r.out.s, SAMPLE_ROWS);
	sl_buf_free(&r.out);
	sl_buf_free(&s);
}

static void test_any_split_of_the_stream_gives_the_same_rows(void **state)
{
	(void)state;
	struct sl_buf s = SL_BUF_INIT;
	sample_stream(&s);
	struct sl_error err;
	for (size_t chunk = 1; chunk <= s.len; chunk++) {
		struct rows r = { SL_BUF_INIT, 0, 0 };
		sl_error_clear(&err);
		assert_int_equal(decode(&s, chunk, &r, &err), 0);
		assert_string_equal(r.out.s, SAMPLE_ROWS);
		sl_buf_free(&r.out);
	}
	/* and every split into two pieces */
	for (size_t cut = 0; cut <= s.len; cut++) {
		struct rows r = { SL_BUF_INIT, 0, 0 };
		struct sl_pgcopy c;
		sl_pgcopy_init(&c, NK, KINDS, collect, &r);
		sl_error_clear(&err);
		assert_int_equal(sl_pgcopy_feed(&c, s.s, cut, &err), 0);
		assert_int_equal(sl_pgcopy_feed(&c, s.s + cut, s.len - cut, &err), 0);
		assert_int_equal(sl_pgcopy_finish(&c, &err), 0);
		assert_string_equal(r.out.s, SAMPLE_ROWS);
		sl_pgcopy_free(&c);
		sl_buf_free(&r.out);
	}
	sl_buf_free(&s);
}

static void test_a_caller_that_stops_gets_no_more_rows(void **state)
{
	(void)state;
	struct sl_buf s = SL_BUF_INIT;
	sample_stream(&s);
	struct rows r = { SL_BUF_INIT, 0, 1 };
	struct sl_pgcopy c;
	struct sl_error err;
	sl_error_clear(&err);
	sl_pgcopy_init(&c, NK, KINDS, collect, &r);
	/* byte by byte: the rest of the stream is still accepted after the stop */
	for (size_t i = 0; i < s.len; i++)
		assert_int_equal(sl_pgcopy_feed(&c, s.s + i, 1, &err), 0);
	assert_int_equal(r.n, 1);
	assert_true(c.stopped);
	assert_int_equal(sl_pgcopy_finish(&c, &err), 0);
	sl_pgcopy_free(&c);
	sl_buf_free(&r.out);
	sl_buf_free(&s);
}

static void expect_numeric(const char *hex, const char *want, int want_int)
{
	struct sl_buf raw = SL_BUF_INIT, out = SL_BUF_INIT;
	f_hex(&raw, hex);
	int is_int;
	long long v;
	assert_int_equal(sl_pg_numeric_text((const unsigned char *)raw.s + 4, raw.len - 4, &out,
					    &is_int, &v), 0);
	assert_string_equal(out.s, want);
	assert_int_equal(is_int, want_int);
	if (is_int)
		assert_int_equal(v, strtoll(want, NULL, 10));
	sl_buf_free(&raw);
	sl_buf_free(&out);
}

static void test_numeric_text_is_numeric_outs(void **state)
{
	(void)state;
	/* encode(numeric_send(x::numeric), 'hex') on PostgreSQL 15 */
	expect_numeric("0002000000000002000c1388", "12.50", 0);
	expect_numeric("0001ffff400000020064", "-0.01", 0);
	expect_numeric("0000000000000000", "0", 1);
	expect_numeric("0000000000000003", "0.000", 0);
	expect_numeric("00070005000000010001000000000000000000001388", "100000000000000000000.5", 0);
	expect_numeric("0001fffd0000000c04d2", "0.000000001234", 0);
	expect_numeric("000400030000000004d2162e23340d80", "1234567890123456", 0);
	expect_numeric("000400030000000003e7270f270f270f", "999999999999999", 1);
	expect_numeric("00010001000000001388", "50000000", 1);
	expect_numeric("0002000040000004007b1194", "-123.4500", 0);
	expect_numeric("00000000c0000000", "NaN", 0);
	expect_numeric("00000000d0000020", "Infinity", 0);
	expect_numeric("00000000f0000020", "-Infinity", 0);
	/* not numerics: a digit of 10000, a short body, an unknown sign, a huge scale */
	const char *bad[] = { "0001000000000000" "2710", "00020000000000000001", "0000000012340000",
			      "0000000000004000", "000000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct sl_buf raw = SL_BUF_INIT, out = SL_BUF_INIT;
		f_hex(&raw, bad[i]);
		int is_int;
		long long v;
		assert_int_equal(sl_pg_numeric_text((const unsigned char *)raw.s + 4, raw.len - 4, &out,
						    &is_int, &v), -1);
		sl_buf_free(&raw);
		sl_buf_free(&out);
	}
}

static void test_subnormals_print_as_float8out_does(void **state)
{
	(void)state;
	/* SELECT x::float8 on PostgreSQL 15 (extra_float_digits 1) */
	static const struct { double v; const char *text; } cases[] = {
		{ 5e-324, "5e-324" },
		{ -5e-324, "-5e-324" },
		{ 2.225073858507201e-308, "2.225073858507201e-308" },
		{ 1e-310, "1e-310" },
		{ 1.5e-323, "1.5e-323" },
		{ 1e-320, "1e-320" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char out[48];
		sl_pg_subnormal_text(cases[i].v, out);
		assert_string_equal(out, cases[i].text);
		assert_true(strtod(out, NULL) == cases[i].v);
	}
}

/* Decode a stream of two columns (TEXT, INT4) built by fn: -1 with err. */
static int decode2(void (*fn)(struct sl_buf *), struct sl_error *err)
{
	static const unsigned char kinds[] = { SL_PGCOPY_TEXT, SL_PGCOPY_INT4 };
	struct sl_buf s = SL_BUF_INIT;
	fn(&s);
	struct rows r = { SL_BUF_INIT, 0, 0 };
	struct sl_pgcopy c;
	sl_pgcopy_init(&c, 2, kinds, collect, &r);
	sl_error_clear(err);
	int rc = sl_pgcopy_feed(&c, s.s, s.len, err);
	if (!rc)
		rc = sl_pgcopy_finish(&c, err);
	/* after an error, more input is refused, not decoded */
	if (rc)
		assert_int_equal(sl_pgcopy_feed(&c, s.s, s.len, err), -1);
	sl_pgcopy_free(&c);
	sl_buf_free(&r.out);
	sl_buf_free(&s);
	return rc;
}

static void bad_signature(struct sl_buf *b) { sl_buf_add(b, "PGCOPY\n\377\r\n\1\0\0\0\0\0\0\0\0", 19); }
static void oid_flag(struct sl_buf *b) { sl_buf_add(b, "PGCOPY\n\377\r\n", 11); put32(b, 1 << 16); put32(b, 0); put16(b, -1); }
static void wrong_field_count(struct sl_buf *b) { header(b, 0); put16(b, 3); f_text(b, "a"); f_int4(b, 1); f_int4(b, 2); put16(b, -1); }
static void wrong_int_size(struct sl_buf *b) { header(b, 0); put16(b, 2); f_text(b, "a"); f_int2(b, 1); put16(b, -1); }
static void negative_length(struct sl_buf *b) { header(b, 0); put16(b, 2); put32(b, -7); f_int4(b, 1); put16(b, -1); }
static void data_after_end(struct sl_buf *b) { header(b, 0); put16(b, -1); put16(b, 2); f_text(b, "a"); f_int4(b, 1); }
static void cut_inside_row(struct sl_buf *b) { header(b, 0); put16(b, 2); f_text(b, "abc"); put32(b, 4); put16(b, 0); }
static void no_end_marker(struct sl_buf *b) { header(b, 0); put16(b, 2); f_text(b, "a"); f_int4(b, 1); }
static void empty_stream(struct sl_buf *b) { (void)b; }
static void good_stream(struct sl_buf *b) { header(b, 0); put16(b, 2); f_text(b, "a"); f_int4(b, 1); put16(b, -1); }

static void test_malformed_streams_are_errors_that_say_why(void **state)
{
	(void)state;
	static const struct { void (*fn)(struct sl_buf *); const char *why; } cases[] = {
		{ bad_signature, "does not start with the PGCOPY signature" },
		{ oid_flag, "flags this reader does not know" },
		{ wrong_field_count, "a row has 3 fields, the query 2" },
		{ wrong_int_size, "an integer is not 4 bytes" },
		{ negative_length, "a field has a negative length" },
		{ data_after_end, "data follows the end marker" },
		{ cut_inside_row, "the stream ends inside a row" },
		{ no_end_marker, "ends without the end marker" },
		{ empty_stream, "ends before its header" },
	};
	struct sl_error err;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		assert_int_equal(decode2(cases[i].fn, &err), -1);
		assert_int_equal(err.code, SL_ENV);
		if (!strstr(err.message, cases[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].why);
		assert_non_null(strstr(err.message, "binary COPY"));
	}
	assert_int_equal(decode2(good_stream, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_of_every_kind_decode_as_the_text_form_reads),
		cmocka_unit_test(test_any_split_of_the_stream_gives_the_same_rows),
		cmocka_unit_test(test_a_caller_that_stops_gets_no_more_rows),
		cmocka_unit_test(test_numeric_text_is_numeric_outs),
		cmocka_unit_test(test_subnormals_print_as_float8out_does),
		cmocka_unit_test(test_malformed_streams_are_errors_that_say_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
