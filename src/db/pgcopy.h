/*
 * pgcopy.h - PostgreSQL's binary COPY stream decoded into typed cells.
 *
 * The PostgreSQL driver (db_postgres.c) reads COPY (query) TO STDOUT (FORMAT
 * binary) and feeds the bytes here as libpq hands them over; each row comes
 * out as struct sl_cell values (db.h) through the caller's callback.  No
 * libpq here, so the decoder is tested and fuzzed without a server.
 *
 * The format (PostgreSQL docs, "COPY", Binary Format): an 11-byte
 * signature, a 32-bit flags word and a header extension of a given length;
 * then per row a 16-bit field count and per field a 32-bit length (-1 for
 * NULL) and that many bytes, each type in its send function's layout, all
 * integers in network order; a field count of -1 ends the data.
 *
 * Every cell is what a reader of COPY's text form would have made of the
 * same value, so a caller gets byte-identical results from either path:
 *
 *   SL_PGCOPY_TEXT     text, varchar, bpchar, name, and any column the
 *                      query converted to text on the server: TEXT
 *   SL_PGCOPY_BOOL     TEXT "t" / "f", as boolout prints it (profiles and
 *                      gates treat booleans as categories)
 *   SL_PGCOPY_INT2/4/8 INT; an int8 of 15 digits or more is TEXT instead
 *                      (its text, which a caller printing an INT cell with
 *                      "%.15g" would not reproduce)
 *   SL_PGCOPY_FLOAT8   REAL; NaN, the infinities and subnormals as TEXT
 *                      as float8out spells them ("NaN", "Infinity",
 *                      "5e-324": strtod calls a subnormal an underflow).
 *                      Exact for numbers only when the server prints
 *                      float8 in the shortest exact form (PostgreSQL 12+
 *                      with extra_float_digits >= 1): the driver checks
 *   SL_PGCOPY_NUMERIC  TEXT exactly as numeric_out prints it (scale kept:
 *                      "12.50"); an integer of at most 15 digits as INT
 *
 * Malformed input (a bad signature, a row with another field count, a
 * field of the wrong size for its type, data after the end marker) is an
 * SL_ENV error naming what was wrong.  Memory is one reused row buffer and
 * the bytes of at most one incomplete row.
 */
#ifndef SL_PGCOPY_H
#define SL_PGCOPY_H

#include "db.h"
#include "../core/buf.h"

#include <stddef.h>

enum sl_pgcopy_kind {
	SL_PGCOPY_TEXT,
	SL_PGCOPY_BOOL,
	SL_PGCOPY_INT2,
	SL_PGCOPY_INT4,
	SL_PGCOPY_INT8,
	SL_PGCOPY_FLOAT8,
	SL_PGCOPY_NUMERIC,
};

struct sl_pgcopy {
	int ncols;
	unsigned char *kinds;         /* enum sl_pgcopy_kind per column (owned copy) */
	sl_cells_fn cb;
	void *arg;
	struct sl_cell *cells;        /* the current row */
	size_t *text_off;             /* where each TEXT cell starts in text */
	struct sl_buf text;           /* the current row's strings, NUL-separated */
	struct sl_buf pend;           /* bytes of an incomplete header or row */
	int header_done;
	int done;                     /* the end marker was read */
	int stopped;                  /* cb returned non-zero: rows are skipped */
	int failed;                   /* an error was reported: input is ignored */
	unsigned long long rows;      /* rows decoded */
};

/* Start decoding rows of ncols columns of the given kinds; cb gets each row
 * (its cells are valid during the call only) until it returns non-zero. */
void sl_pgcopy_init(struct sl_pgcopy *c, int ncols, const unsigned char *kinds,
		    sl_cells_fn cb, void *arg);
/* Feed the next len bytes of the stream (any split: a row may span calls).
 * -1 with err set when the data is malformed; later calls then do nothing. */
int sl_pgcopy_feed(struct sl_pgcopy *c, const void *data, size_t len, struct sl_error *err);
/* The stream ended: -1 with err set unless it ended with the end marker. */
int sl_pgcopy_finish(struct sl_pgcopy *c, struct sl_error *err);
void sl_pgcopy_free(struct sl_pgcopy *c);

/*
 * Append to out the text numeric_out gives for a numeric in numeric_send's
 * layout (p, len), without a NUL.  *is_int and *ival tell when the value is
 * an integer of at most 15 digits that "%lld" prints the same way.  -1
 * when the bytes are not a valid numeric.
 */
int sl_pg_numeric_text(const unsigned char *p, size_t len, struct sl_buf *out, int *is_int,
		       long long *ival);

/*
 * PostgreSQL's text (float8out, shortest exact form) of a subnormal double
 * v, into out.  Subnormals only: for them the search is cheap enough.
 */
void sl_pg_subnormal_text(double v, char out[48]);

#endif
