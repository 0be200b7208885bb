/*
 * flag.c - the bucketing rule of percentage feature flags (see flag.h).
 *
 * Nothing here touches a database: the loadable SQLite extension links
 * this file with flag_ext.c and src/core's error and buffer code only.
 */
#include "flag.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * SHA-256 of name ":" entity, the first four bytes big-endian, mod 10000.
 * The three parts are concatenated into one buffer (on the stack when
 * short) so that one EVP_Digest call hashes them: about a microsecond, so
 * 100,000 ids take a tenth of a second.
 */
int sl_flag_bucket_n(const char *name, size_t name_len, const char *entity,
		     size_t entity_len)
{
	unsigned char small[256];
	unsigned char *in = small;
	size_t len = name_len + 1 + entity_len;
	if (len > sizeof(small))
		in = sl_malloc(len);
	if (name_len)
		memcpy(in, name, name_len);
	in[name_len] = ':';
	if (entity_len)
		memcpy(in + name_len + 1, entity, entity_len);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_Digest(in, len, md, &md_len, EVP_sha256(), NULL);
	if (in != small)
		free(in);
	uint32_t top = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 |
		       (uint32_t)md[3];
	return (int)(top % SL_FLAG_BUCKETS);
}

int sl_flag_bucket(const char *name, const char *entity)
{
	return sl_flag_bucket_n(name, strlen(name), entity, strlen(entity));
}

int sl_flag_enabled(int bucket, int percent_bp)
{
	return bucket < percent_bp;
}

/*
 * Strict on purpose: a percent decides who sees a feature, so "5 " or
 * "1e1" or "12.345" is refused with the reason rather than guessed at.
 * Leading zeros are harmless and accepted; the integer part is capped
 * while reading so that a long run of digits cannot overflow.
 */
int sl_flag_parse_percent(const char *s, int *percent_bp, struct sl_error *err)
{
	const char *p = s;
	long whole = 0, frac = 0;
	int int_digits = 0, frac_digits = 0;
	while (*p >= '0' && *p <= '9') {
		if (whole <= 100)
			whole = whole * 10 + (*p - '0');
		int_digits++;
		p++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (frac_digits == 2)
				return sl_err(err, SL_USAGE,
					      "percent '%s' has more than 2 decimals (the finest step is 0.01)", s);
			frac = frac * 10 + (*p - '0');
			frac_digits++;
			p++;
		}
	}
	if (*p == '%')
		p++;
	if (*p || (!int_digits && !frac_digits))
		return sl_err(err, SL_USAGE, "percent '%s' is not a number from 0 to 100", s);
	if (frac_digits == 1)
		frac *= 10;
	long bp = whole * 100 + frac;
	if (bp > SL_FLAG_BUCKETS)
		return sl_err(err, SL_USAGE, "percent '%s' is above 100", s);
	*percent_bp = (int)bp;
	return 0;
}

void sl_flag_format_percent(int percent_bp, char out[SL_FLAG_PERCENT_LEN])
{
	int whole = percent_bp / 100, frac = percent_bp % 100;
	if (percent_bp < 0 || percent_bp > SL_FLAG_BUCKETS)
		snprintf(out, SL_FLAG_PERCENT_LEN, "?");
	else if (!frac)
		snprintf(out, SL_FLAG_PERCENT_LEN, "%d", whole);
	else if (frac % 10 == 0)
		snprintf(out, SL_FLAG_PERCENT_LEN, "%d.%d", whole, frac / 10);
	else
		snprintf(out, SL_FLAG_PERCENT_LEN, "%d.%02d", whole, frac);
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	unsigned min;
	unsigned cp;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, min = 0x80, cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, min = 0x800, cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, min = 0x10000, cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Names are data, bound as parameters, so quotes, blanks and any script
 * are fine.  Invalid UTF-8 is refused here: PostgreSQL would refuse it
 * later as a database error, and the SQL functions could never name it.
 */
int sl_flag_check_name(const char *name, struct sl_error *err)
{
	if (!name || !*name)
		return sl_err(err, SL_USAGE, "the flag name is empty");
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		size_t n = utf8_seq(p);
		if (!n)
			return sl_err(err, SL_USAGE, "the flag name is not valid UTF-8 (byte %zu)",
				      (size_t)(p - (const unsigned char *)name) + 1);
		p += n;
	}
	return 0;
}

void sl_flag_free(struct sl_flag *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->updated_at);
	free(f->updated_by);
	free(f->reason);
	memset(f, 0, sizeof(*f));
}
