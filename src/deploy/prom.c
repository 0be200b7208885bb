/*
 * prom.c - the Prometheus metric provider: instant queries over the HTTP
 * API with libcurl, answers decoded with jansson (see prom.h).
 *
 * Every message that names the server goes through one function (fail),
 * which masks the password of base_url wherever it appears, so that basic
 * auth written in the URL never reaches a log.
 */
#include "prom.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 30000L

/* ---- decoding ---- */

/*
 * Prometheus writes sample values with Go's strconv.FormatFloat(v, 'f', -1):
 * plain decimals, "NaN", "+Inf", "-Inf".  Anything else is refused rather
 * than half-read: strtod alone would also take " 1", "0x1p3" and "nan(12)".
 */
static int parse_value(const char *s, double *out)
{
	if (strcmp(s, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (strcmp(s, "-Inf") == 0) {
		*out = -INFINITY;
		return 0;
	}
	if (!*s || s[strspn(s, "0123456789+-.eE")] != '\0')
		return -1;
	char *end = NULL;
	*out = strtod(s, &end);
	return end && *end == '\0' && end != s ? 0 : -1;
}

/* A [timestamp, "value"] pair of series i, into *out. */
static int decode_sample(const json_t *pair, size_t i, double *out, struct sl_error *err)
{
	if (!json_is_array(pair) || json_array_size(pair) != 2 ||
	    !json_is_number(json_array_get(pair, 0)))
		return sl_err(err, SL_ENV, "Prometheus response: series %zu: a sample is not "
			      "[timestamp, \"value\"]", i);
	const json_t *v = json_array_get(pair, 1);
	if (!json_is_string(v))
		return sl_err(err, SL_ENV, "Prometheus response: series %zu: the value is not a string", i);
	if (parse_value(json_string_value(v), out))
		return sl_err(err, SL_ENV, "Prometheus response: series %zu: value \"%.60s\" is not a number",
			      i, json_string_value(v));
	return 0;
}

/* Series i of a vector (its "value") or of a matrix (the last of its "values"). */
static int decode_series(const json_t *s, size_t i, int matrix, double *out, struct sl_error *err)
{
	if (!json_is_object(s))
		return sl_err(err, SL_ENV, "Prometheus response: series %zu is not an object", i);
	if (!matrix) {
		const json_t *pair = json_object_get(s, "value");
		if (!pair && json_object_get(s, "histogram"))
			return sl_err(err, SL_ENV, "Prometheus response: series %zu is a native histogram, "
				      "which has no single value", i);
		return decode_sample(pair, i, out, err);
	}
	const json_t *vals = json_object_get(s, "values");
	if (!vals && json_object_get(s, "histograms"))
		return sl_err(err, SL_ENV, "Prometheus response: series %zu is a native histogram, "
			      "which has no single value", i);
	if (!json_is_array(vals) || json_array_size(vals) == 0)
		return sl_err(err, SL_ENV, "Prometheus response: series %zu of the matrix has no samples", i);
	return decode_sample(json_array_get(vals, json_array_size(vals) - 1), i, out, err);
}

/* The "data" member of a success response. */
static int decode_data(const json_t *data, double **values, size_t *n, struct sl_error *err)
{
	const char *type = json_string_value(json_object_get(data, "resultType"));
	const json_t *result = json_object_get(data, "result");
	if (!json_is_object(data) || !type || !result)
		return sl_err(err, SL_ENV, "Prometheus response: no data.resultType and data.result");
	if (strcmp(type, "scalar") == 0) {
		double d;
		if (decode_sample(result, 0, &d, err))
			return -1;
		*values = sl_malloc(sizeof(double));
		(*values)[0] = d;
		*n = 1;
		return 0;
	}
	int matrix = strcmp(type, "matrix") == 0;
	if (!matrix && strcmp(type, "vector") != 0)
		return sl_err(err, SL_ENV, "Prometheus query returned a %.20s, not a number "
			      "(a vector, scalar or matrix)", type);
	if (!json_is_array(result))
		return sl_err(err, SL_ENV, "Prometheus response: data.result of a %s is not an array", type);
	size_t count = json_array_size(result);
	if (count == 0)
		return 0;
	double *v = sl_malloc(count * sizeof(double));
	for (size_t i = 0; i < count; i++) {
		if (decode_series(json_array_get(result, i), i, matrix, &v[i], err)) {
			free(v);
			return -1;
		}
	}
	*values = v;
	*n = count;
	return 0;
}

int sl_prom_decode(const char *body, size_t len, double **values, size_t *n, struct sl_error *err)
{
	*values = NULL;
	*n = 0;
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (!root)
		return sl_err(err, SL_ENV, "Prometheus response is not JSON: %s (line %d, column %d)",
			      jerr.text, jerr.line, jerr.column);
	int rc = -1;
	const char *status = json_string_value(json_object_get(root, "status"));
	if (!json_is_object(root) || !status) {
		sl_err(err, SL_ENV, "Prometheus response has no \"status\" (is this the Prometheus HTTP API?)");
	} else if (strcmp(status, "error") == 0) {
		const char *type = json_string_value(json_object_get(root, "errorType"));
		const char *text = json_string_value(json_object_get(root, "error"));
		sl_err(err, SL_ENV, "Prometheus query failed (%.40s): %.800s", type ? type : "no errorType",
		       text ? text : "no error text");
	} else if (strcmp(status, "success") != 0) {
		sl_err(err, SL_ENV, "Prometheus response has status \"%.40s\", not success", status);
	} else {
		rc = decode_data(json_object_get(root, "data"), values, n, err);
	}
	json_decref(root);
	return rc;
}

/* ---- the request ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* libcurl must be initialised once per process, before any handle. */
static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/*
 * Set err to the message (code), with every password of base_url masked:
 * the one in the URL as written and any copy of it inside the text (a
 * server or libcurl may quote the URL back).
 */
__attribute__((format(printf, 4, 5)))
static int fail(struct sl_error *err, int code, const char *base_url, const char *fmt, ...)
{
	struct sl_buf raw = SL_BUF_INIT, masked = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	sl_mask_text(base_url, raw.s, &masked);
	sl_err(err, code, "%s", masked.s);
	sl_buf_free(&raw);
	sl_buf_free(&masked);
	return -1;
}

struct body {
	struct sl_buf b;
	int too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct body *bd = ud;
	size_t len = size * nmemb;
	if (len > SL_PROM_MAX_BODY_BYTES - bd->b.len) {
		bd->too_big = 1;
		return 0;     /* libcurl stops with CURLE_WRITE_ERROR */
	}
	sl_buf_add(&bd->b, data, len);
	return len;
}

/* Up to 200 bytes of a body that is not the API's JSON, printable. */
static void snippet(const struct sl_buf *b, struct sl_buf *out)
{
	for (size_t i = 0; i < b->len && i < 200; i++) {
		unsigned char c = (unsigned char)b->s[i];
		sl_buf_addc(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	if (b->len > 200)
		sl_buf_adds(out, "...");
}

/* The outcome of a finished transfer: decode 200s, word everything else. */
static int judge(const char *base_url, const char *shown, CURLcode rc, long status,
		 const char *location, struct body *bd, const char *errbuf, long timeout_ms,
		 double **values, size_t *n, struct sl_error *err)
{
	if (bd->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: response larger than %u MB",
			    shown, SL_PROM_MAX_BODY_BYTES >> 20);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: no answer within %ld ms",
			    shown, timeout_ms);
	if (rc != CURLE_OK)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: %s", shown,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (sl_prom_decode(bd->b.s, bd->b.len, values, n, err) == 0) {
		if (status == 200)
			return 0;
		free(*values);
		*values = NULL;
		*n = 0;
		return fail(err, SL_ENV, base_url, "Prometheus at %s: HTTP %ld", shown, status);
	}
	/* A Prometheus error body (HTTP 400/422/503 with errorType) says more than the status. */
	char msg[sizeof(err->message)];
	memcpy(msg, err->message, sizeof(msg));
	const char *what = strncmp(msg, "Prometheus ", 11) == 0 ? msg + 11 : msg;
	if (status == 200)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: %s", shown, what);
	if (strncmp(what, "query failed", 12) == 0)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: HTTP %ld: %s", shown, status, what);
	if (status >= 300 && status < 400)
		return fail(err, SL_ENV, base_url, "Prometheus at %s: HTTP %ld, redirected to %.300s "
			    "(redirects are not followed: use the final URL)", shown, status,
			    location ? location : "nowhere");
	struct sl_buf s = SL_BUF_INIT;
	snippet(&bd->b, &s);
	fail(err, SL_ENV, base_url, "Prometheus at %s: HTTP %ld%s%s", shown, status,
	     s.len ? ": " : "", s.s);
	sl_buf_free(&s);
	return -1;
}

int sl_prom_query(const char *base_url, const char *query, long timeout_ms,
		  double **values, size_t *n, struct sl_error *err)
{
	struct sl_error local;
	if (!err)
		err = &local;     /* judge reads the decoder's message back */
	*values = NULL;
	*n = 0;
	if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0)
		return fail(err, SL_USAGE, base_url, "Prometheus URL \"%s\" is not http:// or https://",
			    base_url);
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return sl_err(err, SL_ENV, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));

	struct sl_buf shown = SL_BUF_INIT, url = SL_BUF_INIT;
	struct body bd = { SL_BUF_INIT, 0 };
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = -1;
	sl_mask_url(base_url, &shown);
	CURL *c = curl_easy_init();
	if (!c) {
		sl_err(err, SL_ENV, "cannot initialise libcurl");
		goto done;
	}
	char *q = curl_easy_escape(c, query, 0);
	if (!q) {
		sl_err(err, SL_ENV, "cannot encode the Prometheus query");
		goto done;
	}
	size_t blen = strlen(base_url);
	while (blen && base_url[blen - 1] == '/')
		blen--;
	sl_buf_add(&url, base_url, blen);
	sl_buf_printf(&url, "/api/v1/query?query=%s", q);
	curl_free(q);
	headers = curl_slist_append(headers, "Accept: application/json");

	curl_easy_setopt(c, CURLOPT_URL, url.s);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SL_PROM_MAX_BODY_BYTES);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &bd);

	CURLcode cr = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	char *location = NULL;     /* owned by the handle */
	curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
	rc = judge(base_url, shown.s, cr, status, location, &bd, errbuf, timeout_ms, values, n, err);
done:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	sl_buf_free(&bd.b);
	sl_buf_free(&url);
	sl_buf_free(&shown);
	return rc;
}
