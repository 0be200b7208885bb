/*
 * fuzz_rollout.c - libFuzzer harness for the rollout section of sluice.yaml
 * (phases in both forms, the analysis and its metrics, conditions) and for
 * the seed's phase strings on their own.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "deploy/rollout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_config *cfg = NULL;
	struct sl_error err;
	if (sl_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &err) == 0) {
		sl_error_clear(&err);
		if (sl_rollout_config_check(cfg, &err) && err.message[0] == '\0')
			abort(); /* every failure must say why */
		struct sl_rollout_def d;
		if (sl_rollout_def_find(cfg, NULL, &d, &err) == 0) {
			for (size_t i = 1; i < d.nphases; i++)
				if (d.phases[i].traffic_bp < d.phases[i - 1].traffic_bp || !d.phases[i].traffic_bp)
					abort(); /* phases only go up */
			sl_rollout_def_free(&d);
		}
		sl_config_free(cfg);
	}
	char *s = strndup((const char *)data, size < 300 ? size : 300);
	struct sl_phase ph;
	char why[300];
	if (sl_phase_parse(s, &ph, why, sizeof(why)) == 0) {
		if (ph.traffic_bp < 0 || ph.traffic_bp > 10000 || ph.hold_ms < 0)
			abort();
	} else if (!why[0]) {
		abort();
	}
	free(s);
	return 0;
}
