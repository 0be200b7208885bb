/*
 * fuzz_pgcopy.c - libFuzzer harness for the binary COPY decoder (the bytes
 * PostgreSQL sends for COPY ... TO STDOUT (FORMAT binary)).  The first byte
 * gives the column count, the next that many bytes the columns' kinds, the
 * rest is the stream, fed whole and again split in two.  Both feeds must
 * agree; a refusal must say why; every cell handed over must be readable
 * (TEXT cells NUL-terminated, INT cells consistent); never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "db/pgcopy.h"

struct seen {
	unsigned long long rows;
	uint64_t hash;
};

static int on_row(void *arg, int ncols, const struct sl_cell *cells)
{
	struct seen *s = arg;
	s->rows++;
	for (int i = 0; i < ncols; i++) {
		const struct sl_cell *c = &cells[i];
		s->hash = s->hash * 31 + (uint64_t)c->type;
		if (c->type == SL_CELL_TEXT)
			s->hash = s->hash * 31 + strlen(c->s);
		else if (c->type == SL_CELL_INT && c->d != (double)c->i)
			abort();
	}
	return s->rows >= 1000; /* a caller that stops */
}

static int run(const unsigned char *kinds, int ncols, const uint8_t *p, size_t n, size_t cut,
	       struct seen *s)
{
	struct sl_pgcopy c;
	struct sl_error err;
	sl_error_clear(&err);
	sl_pgcopy_init(&c, ncols, kinds, on_row, s);
	int rc = sl_pgcopy_feed(&c, p, cut, &err);
	if (!rc)
		rc = sl_pgcopy_feed(&c, p + cut, n - cut, &err);
	if (!rc && !c.stopped)
		rc = sl_pgcopy_finish(&c, &err);
	if (rc && err.message[0] == '\0')
		abort(); /* every failure must say why */
	sl_pgcopy_free(&c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int ncols = data[0] % 24;
	if (size < 1 + (size_t)ncols)
		return 0;
	unsigned char kinds[24];
	for (int i = 0; i < ncols; i++)
		kinds[i] = data[1 + i] % (SL_PGCOPY_NUMERIC + 1);
	const uint8_t *p = data + 1 + ncols;
	size_t n = size - 1 - (size_t)ncols;
	struct seen a = { 0, 0 }, b = { 0, 0 };
	int ra = run(kinds, ncols, p, n, n, &a);
	int rb = run(kinds, ncols, p, n, n / 2, &b);
	/* where the stream is split does not change what it says */
	if (ra != rb || a.rows != b.rows || a.hash != b.hash)
		abort();
	/* numerics alone, from the same bytes */
	struct sl_buf out = SL_BUF_INIT;
	int is_int;
	long long v;
	sl_pg_numeric_text(p, n, &out, &is_int, &v);
	sl_buf_free(&out);
	return 0;
}
