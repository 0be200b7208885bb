/*
 * fuzz_prom.c - libFuzzer harness for decoding Prometheus /api/v1/query
 * answers (sl_prom_decode in src/deploy/prom.c).  The whole input is the
 * body, NULs and all.  Accepted: *n values, *values NULL exactly when *n is
 * 0.  Refused: SL_ENV with a one-line message, *values NULL and *n 0.
 * ASan checks the rest (no read past len, nothing leaked).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "deploy/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double *v = (double *)&size;
	size_t n = 77;
	struct sl_error err;
	sl_error_clear(&err);
	if (sl_prom_decode((const char *)data, size, &v, &n, &err) == 0) {
		if ((n == 0) != (v == NULL))
			abort();
		volatile double sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += v[i];     /* every value was written: ASan/MSan-visible reads */
		(void)sum;
		free(v);
	} else if (err.code != SL_ENV || !err.message[0] || strchr(err.message, '\n') ||
		   v != NULL || n != 0) {
		abort();
	}
	return 0;
}
