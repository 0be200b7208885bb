/*
 * fuzz_ops.c - libFuzzer harness for operations migrations (migrate/ops.c):
 * the YAML loader and the plain SQL rendering for both dialects.  Every
 * failure must say why; everything rendered must come out in one piece.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "migrate/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_ops ops;
	struct sl_error err;
	sl_error_clear(&err);
	if (sl_ops_load(&ops, "V1__fuzz.yaml", (const char *)data, size, &err)) {
		if (!err.message[0])
			abort();
		return 0;
	}
	const char *dialects[] = { "postgres", "sqlite" };
	for (int d = 0; d < 2; d++) {
		struct sl_buf sql = SL_BUF_INIT;
		sl_error_clear(&err);
		if (sl_ops_render(&ops, dialects[d], &sql, &err) && !err.message[0])
			abort();
		sl_buf_free(&sql);
	}
	sl_ops_free(&ops);
	return 0;
}
