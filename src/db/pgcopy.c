/*
 * pgcopy.c - PostgreSQL's binary COPY stream decoded into typed cells (see
 * pgcopy.h).
 */
#include "pgcopy.h"
#include "../core/error.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "PGCOPY\n\377\r\n\0": the literal's own NUL is the signature's last byte */
static const char pgcopy_signature[] = "PGCOPY\n\377\r\n";
#define SIGNATURE_LEN 11
#define HEADER_FIXED_LEN (SIGNATURE_LEN + 4 + 4)

/* numeric_send's sign word */
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF

/* INT cells hold integers below this (15 digits): "%.15g" prints them as
 * "%lld" does, so every caller gets the text PostgreSQL would have sent. */
#define EXACT_INT_LIMIT 1000000000000000LL

static unsigned rd16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static int s16(const unsigned char *p)
{
	int v = (int)rd16(p);
	return v >= 0x8000 ? v - 0x10000 : v;
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static long long s32(const unsigned char *p)
{
	long long v = rd32(p);
	return v >= 0x80000000LL ? v - 0x100000000LL : v;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static long long s64(const unsigned char *p)
{
	uint64_t u = rd64(p);
	return u <= INT64_MAX ? (long long)u : -(long long)(~u) - 1;
}

void sl_pgcopy_init(struct sl_pgcopy *c, int ncols, const unsigned char *kinds,
		    sl_cells_fn cb, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->ncols = ncols;
	size_t n = ncols > 0 ? (size_t)ncols : 1;
	c->kinds = sl_malloc(n);
	if (ncols > 0)
		memcpy(c->kinds, kinds, (size_t)ncols);
	c->cb = cb;
	c->arg = arg;
	c->cells = sl_calloc(n, sizeof(*c->cells));
	c->text_off = sl_calloc(n, sizeof(*c->text_off));
	sl_buf_init(&c->text);
	sl_buf_init(&c->pend);
}

void sl_pgcopy_free(struct sl_pgcopy *c)
{
	free(c->kinds);
	free(c->cells);
	free(c->text_off);
	sl_buf_free(&c->text);
	sl_buf_free(&c->pend);
	memset(c, 0, sizeof(*c));
}

static int malformed(struct sl_pgcopy *c, struct sl_error *err, const char *what)
{
	c->failed = 1;
	sl_err(err, SL_ENV, "binary COPY from PostgreSQL: %s (after %llu rows)", what, c->rows);
	sl_err_hint(err, "SLUICE_PG_TEXT_COPY=1 reads the text form instead; please report this");
	return -1;
}

/* Append 4 decimal digits of v (0..9999). */
static void add4(struct sl_buf *b, unsigned v)
{
	char d[4] = { (char)('0' + v / 1000), (char)('0' + v / 100 % 10),
		      (char)('0' + v / 10 % 10), (char)('0' + v % 10) };
	sl_buf_add(b, d, 4);
}

int sl_pg_numeric_text(const unsigned char *p, size_t len, struct sl_buf *out, int *is_int,
		       long long *ival)
{
	*is_int = 0;
	*ival = 0;
	if (len < 8)
		return -1;
	int ndigits = s16(p), weight = s16(p + 2);
	unsigned sign = rd16(p + 4), dscale = rd16(p + 6);
	if (ndigits < 0 || len != 8 + 2 * (size_t)ndigits)
		return -1;
	const unsigned char *dig = p + 8;
	for (int i = 0; i < ndigits; i++)
		if (rd16(dig + 2 * i) > 9999)
			return -1;
	if (sign == NUMERIC_NAN || sign == NUMERIC_PINF || sign == NUMERIC_NINF) {
		if (ndigits)
			return -1;
		sl_buf_adds(out, sign == NUMERIC_NAN ? "NaN" : sign == NUMERIC_PINF ? "Infinity" : "-Infinity");
		return 0;
	}
	if ((sign != NUMERIC_POS && sign != NUMERIC_NEG) || dscale > NUMERIC_DSCALE_MAX)
		return -1;
	/* as numeric_out (get_str_from_var) writes it: the integer part without
	 * the first group's leading zeros, then dscale digits, cut, not rounded */
	if (sign == NUMERIC_NEG)
		sl_buf_addc(out, '-');
	int d;
	if (weight < 0) {
		d = weight + 1;
		sl_buf_addc(out, '0');
	} else {
		for (d = 0; d <= weight; d++) {
			unsigned g = d < ndigits ? rd16(dig + 2 * d) : 0;
			if (d == 0) {
				char s[8];
				int n = snprintf(s, sizeof(s), "%u", g);
				sl_buf_add(out, s, (size_t)n);
			} else {
				add4(out, g);
			}
		}
	}
	if (dscale > 0) {
		sl_buf_addc(out, '.');
		size_t end = out->len + dscale;
		for (unsigned i = 0; i < dscale; d++, i += 4)
			add4(out, d >= 0 && d < ndigits ? rd16(dig + 2 * d) : 0);
		out->len = end;
		out->s[end] = '\0';
	}
	/* an integer of at most 15 digits: "%lld" spells it the same */
	if (dscale == 0 && weight <= 3 && (ndigits == 0 || weight >= ndigits - 1)) {
		long long v = 0;
		for (int k = 0; k <= weight; k++)
			v = v * 10000 + (k < ndigits ? (long long)rd16(dig + 2 * k) : 0);
		if (v < EXACT_INT_LIMIT && !(sign == NUMERIC_NEG && v == 0)) {
			*is_int = 1;
			*ival = sign == NUMERIC_NEG ? -v : v;
		}
	}
	return 0;
}

/*
 * The p-digit neighbour above (dir 1) or below (dir -1) of r, a number as
 * "%.*e" prints it ("4.94e-324"), in the same form, into out.
 */
static void neighbour(const char *r, int dir, char out[40])
{
	unsigned long long m = 0, top = 1;
	int p = 0;
	const char *q = r;
	for (; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9') {
			m = m * 10 + (unsigned long long)(*q - '0');
			p++;
		}
	for (int k = 1; k < p; k++)
		top *= 10;
	int e = *q ? atoi(q + 1) : 0;
	if (dir > 0 && ++m == top * 10) {
		m = top;
		e++;
	} else if (dir < 0 && m-- == top) {
		m = top * 10 - 1; /* 1.00e5 - 1 in the last place is 9.99e4 */
		e--;
	}
	char dig[24];
	snprintf(dig, sizeof(dig), "%llu", m);
	snprintf(out, 40, "%c%s%se%c%02d", dig[0], p > 1 ? "." : "", dig + 1, e < 0 ? '-' : '+',
		 e < 0 ? -e : e);
}

void sl_pg_subnormal_text(double v, char out[48])
{
	/* the shortest decimal that reads back as v and, of those, the
	 * closest: p digits correctly rounded, else the p-digit number on the
	 * other side of v; the first p where one reads back (Ryu's answer, as
	 * float8out prints it: subnormals always in exponent form) */
	double a = fabs(v);
	const char *sign = v < 0 ? "-" : "";
	for (int p = 1; p <= 17; p++) {
		char r[40], t[40];
		snprintf(r, sizeof(r), "%.*e", p - 1, a);
		if (strtod(r, NULL) == a) {
			snprintf(out, 48, "%s%s", sign, r);
			return;
		}
		for (int dir = -1; dir <= 1; dir += 2) {
			neighbour(r, dir, t);
			if (strtod(t, NULL) == a) {
				snprintf(out, 48, "%s%s", sign, t);
				return;
			}
		}
	}
	snprintf(out, 48, "%s%.16e", sign, a); /* not reached: 17 digits read back */
}

static void set_int(struct sl_cell *x, long long v)
{
	x->type = SL_CELL_INT;
	x->i = v;
	x->d = (double)v;
}

/* Start a TEXT cell for column i at the end of c->text. */
static void text_begin(struct sl_pgcopy *c, int i)
{
	c->cells[i].type = SL_CELL_TEXT;
	c->text_off[i] = c->text.len;
}

/* Decode one non-NULL field of column i (len bytes at p) into c->cells[i]. */
static int decode_field(struct sl_pgcopy *c, int i, const unsigned char *p, size_t len,
			struct sl_error *err)
{
	struct sl_cell *x = &c->cells[i];
	switch ((enum sl_pgcopy_kind)c->kinds[i]) {
	case SL_PGCOPY_BOOL:
		if (len != 1)
			return malformed(c, err, "a boolean is not 1 byte");
		text_begin(c, i);
		sl_buf_add(&c->text, p[0] ? "t" : "f", 2);
		return 0;
	case SL_PGCOPY_INT2:
		if (len != 2)
			return malformed(c, err, "a smallint is not 2 bytes");
		set_int(x, s16(p));
		return 0;
	case SL_PGCOPY_INT4:
		if (len != 4)
			return malformed(c, err, "an integer is not 4 bytes");
		set_int(x, s32(p));
		return 0;
	case SL_PGCOPY_INT8: {
		if (len != 8)
			return malformed(c, err, "a bigint is not 8 bytes");
		long long v = s64(p);
		if (v > -EXACT_INT_LIMIT && v < EXACT_INT_LIMIT) {
			set_int(x, v);
		} else {
			char s[24];
			int n = snprintf(s, sizeof(s), "%lld", v);
			text_begin(c, i);
			sl_buf_add(&c->text, s, (size_t)n + 1);
		}
		return 0;
	}
	case SL_PGCOPY_FLOAT8: {
		if (len != 8)
			return malformed(c, err, "a double precision is not 8 bytes");
		uint64_t bits = rd64(p);
		double v;
		memcpy(&v, &bits, sizeof(v));
		if (isfinite(v) && (v == 0 || fabs(v) >= DBL_MIN)) {
			x->type = SL_CELL_REAL;
			x->d = v;
			return 0;
		}
		/* as float8out spells it; a subnormal also as text, since strtod
		 * reports it as an underflow and callers count it invalid */
		char s[48];
		if (isnan(v))
			strcpy(s, "NaN");
		else if (isinf(v))
			strcpy(s, v > 0 ? "Infinity" : "-Infinity");
		else
			sl_pg_subnormal_text(v, s);
		text_begin(c, i);
		sl_buf_add(&c->text, s, strlen(s) + 1);
		return 0;
	}
	case SL_PGCOPY_NUMERIC: {
		size_t start = c->text.len;
		int is_int;
		long long v;
		if (sl_pg_numeric_text(p, len, &c->text, &is_int, &v))
			return malformed(c, err, "a numeric is not valid");
		if (is_int) {
			c->text.len = start; /* drop the text: the number says it all */
			c->text.s[start] = '\0';
			set_int(x, v);
		} else {
			x->type = SL_CELL_TEXT;
			c->text_off[i] = start;
			sl_buf_add(&c->text, "", 1);
		}
		return 0;
	}
	case SL_PGCOPY_TEXT:
		text_begin(c, i);
		sl_buf_add(&c->text, p, len);
		sl_buf_add(&c->text, "", 1);
		return 0;
	}
	return malformed(c, err, "a column of an unknown kind");
}

/*
 * Decode the row at p (n bytes available) and hand it to the callback.
 * Returns its size, 0 when it is not complete yet, -1 when malformed.
 */
static long long next_row(struct sl_pgcopy *c, const unsigned char *p, size_t n,
			  struct sl_error *err)
{
	if (n < 2)
		return 0;
	int nf = s16(p);
	if (nf == -1) {
		c->done = 1;
		return 2;
	}
	if (nf != c->ncols) {
		char what[96];
		snprintf(what, sizeof(what), "a row has %d fields, the query %d", nf, c->ncols);
		return malformed(c, err, what);
	}
	size_t off = 2;
	if (!c->stopped)
		sl_buf_reset(&c->text);
	for (int i = 0; i < nf; i++) {
		if (n - off < 4)
			return 0;
		long long flen = s32(p + off);
		off += 4;
		if (flen == -1) {
			c->cells[i].type = SL_CELL_NULL;
			continue;
		}
		if (flen < 0)
			return malformed(c, err, "a field has a negative length");
		if ((unsigned long long)flen > n - off)
			return 0;
		if (!c->stopped && decode_field(c, i, p + off, (size_t)flen, err))
			return -1;
		off += (size_t)flen;
	}
	if (c->stopped)
		return (long long)off;
	/* the strings are in place only now: c->text may have moved as it grew */
	for (int i = 0; i < nf; i++)
		if (c->cells[i].type == SL_CELL_TEXT)
			c->cells[i].s = c->text.s + c->text_off[i];
	c->rows++;
	if (c->cb(c->arg, nf, c->cells))
		c->stopped = 1;
	return (long long)off;
}

/* The header at p (n bytes): its size, 0 when incomplete, -1 when bad. */
static long long header(struct sl_pgcopy *c, const unsigned char *p, size_t n,
			struct sl_error *err)
{
	if (n < HEADER_FIXED_LEN)
		return memcmp(p, pgcopy_signature, n < SIGNATURE_LEN ? n : SIGNATURE_LEN)
			       ? malformed(c, err, "the stream does not start with the PGCOPY signature")
			       : 0;
	if (memcmp(p, pgcopy_signature, SIGNATURE_LEN) != 0)
		return malformed(c, err, "the stream does not start with the PGCOPY signature");
	uint32_t flags = rd32(p + SIGNATURE_LEN);
	/* bit 16: OIDs in the rows; bits 17-31: changes a reader must not ignore */
	if (flags & 0xFFFF0000u)
		return malformed(c, err, "the header has flags this reader does not know");
	long long ext = s32(p + SIGNATURE_LEN + 4);
	if (ext < 0)
		return malformed(c, err, "the header extension has a negative length");
	if ((unsigned long long)ext > n - HEADER_FIXED_LEN)
		return 0;
	c->header_done = 1;
	return HEADER_FIXED_LEN + ext;
}

/* Consume what can be consumed of data[0..n); returns the bytes used or -1. */
static long long consume(struct sl_pgcopy *c, const unsigned char *data, size_t n,
			 struct sl_error *err)
{
	size_t off = 0;
	if (!c->header_done) {
		long long h = header(c, data, n, err);
		if (h <= 0)
			return h;
		off = (size_t)h;
	}
	while (off < n) {
		if (c->done)
			return malformed(c, err, "data follows the end marker");
		long long r = next_row(c, data + off, n - off, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		off += (size_t)r;
	}
	return (long long)off;
}

int sl_pgcopy_feed(struct sl_pgcopy *c, const void *data, size_t len, struct sl_error *err)
{
	if (c->failed)
		return -1;
	if (!c->pend.len) {
		/* the usual case: libpq hands over whole rows, decoded in place */
		long long used = consume(c, data, len, err);
		if (used < 0)
			return -1;
		if ((size_t)used < len)
			sl_buf_add(&c->pend, (const char *)data + used, len - (size_t)used);
		return 0;
	}
	sl_buf_add(&c->pend, data, len);
	long long used = consume(c, (const unsigned char *)c->pend.s, c->pend.len, err);
	if (used < 0)
		return -1;
	memmove(c->pend.s, c->pend.s + used, c->pend.len - (size_t)used);
	c->pend.len -= (size_t)used;
	c->pend.s[c->pend.len] = '\0';
	return 0;
}

int sl_pgcopy_finish(struct sl_pgcopy *c, struct sl_error *err)
{
	if (c->failed)
		return -1;
	if (!c->header_done)
		return malformed(c, err, "the stream ends before its header");
	if (c->pend.len)
		return malformed(c, err, "the stream ends inside a row");
	if (!c->done)
		return malformed(c, err, "the stream ends without the end marker");
	return 0;
}
