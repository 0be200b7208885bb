/*
 * fuzz_profile.c - libFuzzer harness for profile decoding: a JSON document
 * (a saved profile, a stored baseline) must either decode into a profile
 * that re-encodes, merges with itself and answers queries, or fail with a
 * message; never crash or leak.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "stats/profile.h"
#include "stats/sketch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, 0, &je);
	if (!j)
		return 0;
	struct sl_profile p, q;
	struct sl_error err;
	sl_error_clear(&err);
	if (sl_profile_from_json(&p, j, &err) == 0) {
		json_t *again = sl_profile_to_json(&p);
		if (sl_profile_from_json(&q, again, &err) != 0)
			abort(); /* what sluice writes, sluice reads */
		sl_profile_merge(&q, &p, &err);
		for (size_t i = 0; i < q.ncols; i++) {
			sl_colprof_distinct(&q.cols[i]);
			sl_colprof_variance(&q.cols[i]);
			if (q.cols[i].kll)
				sl_kll_quantile(q.cols[i].kll, 0.5);
		}
		sl_profile_free(&q);
		sl_profile_free(&p);
		json_decref(again);
	} else if (err.message[0] == '\0') {
		abort(); /* every failure must say why */
	}
	json_decref(j);
	return 0;
}
