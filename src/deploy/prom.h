/*
 * prom.h - the Prometheus metric provider of rollout analysis: one instant
 * query against a server's HTTP API, its answer as plain doubles.
 *
 * What each result type gives (one value per series, in the order the
 * server returns them):
 *   vector  the value of each series; an empty vector gives *n = 0, which is
 *           not an error (a condition decides what "no data" means: len(result))
 *   scalar  its one value
 *   matrix  the last sample of each series (a range selector such as
 *           `up[5m]` queried as an instant query: the newest point is the one
 *           a condition can judge)
 *   string  an error
 * Values arrive as strings; "NaN", "+Inf" and "-Inf" decode to NaN and the
 * infinities.  Native histogram samples have no single value: an error.
 */
#ifndef SL_PROM_H
#define SL_PROM_H

#include <stddef.h>

#include "../core/error.h"

/* Largest response body read; a larger one is an error, not a truncation. */
#define SL_PROM_MAX_BODY_BYTES (16u << 20)

/*
 * Run query as an instant query: GET base_url/api/v1/query?query=... with
 * libcurl, Accept: application/json, redirects not followed, at most
 * timeout_ms in all (<= 0: 30 s).  base_url is http:// or https://, with
 * optional basic auth (http://user:pass@host:9090) and path prefix
 * (http://host/prometheus).  On success *values (malloc'd, the caller frees;
 * NULL when *n is 0) and *n are set.  Errors:
 *   SL_USAGE  base_url is not an http(s) URL
 *   SL_ENV    transport failure, timeout, an HTTP status other than 200, a
 *             body over SL_PROM_MAX_BODY_BYTES, or status "error" (the
 *             message carries Prometheus' errorType and error text); every
 *             URL in a message has its password masked
 * On error *values is NULL and *n is 0.
 */
int sl_prom_query(const char *base_url, const char *query, long timeout_ms,
		  double **values, size_t *n, struct sl_error *err);

/*
 * Decode a /api/v1/query response body of len bytes (need not be
 * NUL-terminated) as above: 0 with *values (malloc'd, caller frees, NULL
 * when *n is 0) and *n, or -1 with SL_ENV (not JSON, status "error", a
 * missing or mistyped field, a value that is not a number) and *values NULL,
 * *n 0.  Separate from the transport so that it can be fuzzed and tested
 * without a server.
 */
int sl_prom_decode(const char *body, size_t len, double **values, size_t *n,
		   struct sl_error *err);

#endif
