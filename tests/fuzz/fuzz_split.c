/*
 * fuzz_split.c - libFuzzer harness for statement splitting by both drivers
 * and the linter; checks the splitters' invariants:
 * statements are in order, inside the input, and do not overlap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "migrate/source.h"
#include "analyze/lint.h"

static void check(const struct sl_stmt_list *l, size_t size)
{
	size_t end = 0;
	int line = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].off < end || l->v[i].off + l->v[i].len > size || l->v[i].line < line)
			abort();
		end = l->v[i].off + l->v[i].len;
		line = l->v[i].line;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "sqlite", "postgres" };
	if (memchr(data, 0, size))
		return 0; /* scripts are text; NUL is rejected earlier */
	for (int k = 0; k < 2; k++) {
		struct sl_stmt_list l = { 0 };
		struct sl_error err;
		const struct sl_db_driver *d = sl_db_driver_named(names[k]);
		if (d->split((const char *)data, size, &l, &err) == 0)
			check(&l, size);
		sl_stmt_list_free(&l);
	}
	/* the linter must turn anything into findings, never crash */
	struct sl_linter *l = sl_linter_new(NULL);
	sl_linter_learn(l, (const char *)data, size);
	sl_linter_check(l, "fuzz.sql", (const char *)data, size, 1);
	size_t nf;
	const struct sl_finding *f = sl_linter_findings(l, &nf);
	for (size_t i = 0; i < nf; i++)
		if (f[i].line < 1 || f[i].column < 1 || !f[i].rule)
			abort();
	sl_linter_free(l);
	char v1[32], v2[32];
	size_t n = size < 31 ? size : 31;
	memcpy(v1, data, n);
	v1[n] = 0;
	memcpy(v2, data + size - n, n);
	v2[n] = 0;
	int a = sl_version_cmp(v1, v2), b = sl_version_cmp(v2, v1);
	if ((a > 0) != (b < 0) || (a == 0) != (b == 0))
		abort(); /* the order must be antisymmetric */
	return 0;
}
