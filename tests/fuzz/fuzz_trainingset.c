/*
 * fuzz_trainingset.c - libFuzzer harness for training-set decoding (the
 * model-impact gate's stored rows, model/impact.h): a JSON document must
 * either decode (row count, codes and dictionaries consistent) or fail
 * with a message; never crash, over-allocate or leak.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "model/impact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, 0, &je);
	if (!j)
		return 0;
	struct sl_error err;
	sl_error_clear(&err);
	size_t rows, cols;
	if (sl_training_set_check(j, &rows, &cols, &err) != 0 && err.message[0] == '\0')
		abort(); /* every failure must say why */
	json_decref(j);
	return 0;
}
