/*
 * fuzz_reverse.c - libFuzzer harness for sl_reverse_analyze: anything either
 * fails with a line or yields statements in order inside the input, whose
 * inverses parse, and everything is freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>

#include "analyze/reverse.h"
#include "core/error.h"

static void must_parse(const char *sql)
{
	PgQueryParseResult r = pg_query_parse(sql);
	if (r.error)
		abort();   /* sluice wrote SQL that PostgreSQL would reject */
	pg_query_free_parse_result(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_rev_list l;
	struct sl_error err;
	sl_error_clear(&err);
	if (sl_reverse_analyze((const char *)data, size, &l, &err)) {
		if (err.code != SL_USAGE || l.n || l.v)
			abort();
		return 0;
	}
	size_t end = 0;
	int line = 1;
	for (size_t i = 0; i < l.n; i++) {
		const struct sl_rev_stmt *s = &l.v[i];
		if (s->off < end || s->off + s->len > size || s->line < line)
			abort();
		end = s->off + s->len;
		line = s->line;
		if ((s->inverse && (s->nd || s->inverse_rest || s->harmless)) ||
		    (!s->inverse && !s->harmless && !s->why[0]))
			abort();
		for (size_t k = 0; k < s->nd; k++)
			if (!s->d[k].table || ((s->d[k].kind == SL_DESTROY_DROP_COLUMN ||
						s->d[k].kind == SL_DESTROY_ALTER_TYPE) && !s->d[k].column) ||
			    (s->d[k].kind == SL_DESTROY_ALTER_TYPE && !s->d[k].new_type))
				abort();
		if (s->inverse)
			must_parse(s->inverse);
		if (s->inverse_rest && s->inverse_rest[0])
			must_parse(s->inverse_rest);
	}
	sl_rev_list_free(&l);
	return 0;
}
