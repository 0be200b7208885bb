/*
 * fuzz_flag.c - libFuzzer harness for the feature flag input checks
 * (src/deploy/flag.c).  The input, cut at its first NUL, is handed to
 * sl_flag_parse_percent and sl_flag_check_name.  A refusal must be
 * SL_USAGE with a message and leave the output alone; an accepted percent
 * must be 0..10000 basis points, and its printed form must parse back to
 * the same value.  The input is also bucketed as a flag name and as an
 * entity (with its NULs, as SQLite hands blobs over): always 0..9999, and
 * the same twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "deploy/flag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct sl_error err;
	sl_error_clear(&err);
	int bp = -7;
	if (sl_flag_parse_percent(s, &bp, &err) == 0) {
		if (bp < 0 || bp > SL_FLAG_BUCKETS)
			abort();
		char out[SL_FLAG_PERCENT_LEN];
		int back = -1;
		sl_flag_format_percent(bp, out);
		if (sl_flag_parse_percent(out, &back, NULL) || back != bp)
			abort();
	} else if (err.code != SL_USAGE || !err.message[0] || bp != -7) {
		abort();
	}
	sl_error_clear(&err);
	if (sl_flag_check_name(s, &err) != 0 && (err.code != SL_USAGE || !err.message[0]))
		abort();
	int b1 = sl_flag_bucket_n(s, strlen(s), (const char *)data, size);
	int b2 = sl_flag_bucket_n(s, strlen(s), (const char *)data, size);
	if (b1 < 0 || b1 >= SL_FLAG_BUCKETS || b1 != b2)
		abort();
	free(s);
	return 0;
}
