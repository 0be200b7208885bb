/*
 * fuzz_config.c - libFuzzer harness for the YAML loader and sluice.yaml
 * validation, plus ${VAR} expansion and duration parsing of what it finds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_config *cfg = NULL;
	struct sl_error err;
	if (sl_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &err) == 0) {
		for (size_t i = 0; i < cfg->nenvs; i++) {
			struct sl_buf url = SL_BUF_INIT;
			sl_config_env_url(cfg, &cfg->envs[i], &url, &err);
			sl_buf_free(&url);
		}
		sl_config_env(cfg, NULL, &err);
		sl_config_free(cfg);
	} else if (err.message[0] == '\0') {
		abort(); /* every failure must say why */
	}
	char *s = strndup((const char *)data, size < 64 ? size : 64);
	long ms;
	sl_parse_duration_ms(s, &ms);
	free(s);
	return 0;
}
