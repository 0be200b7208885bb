/*
 * buf.c - growable buffers and allocation helpers (see buf.h).
 */
#include "buf.h"

#include <stdio.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char sl_buf_empty[1];

void *sl_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("sluice: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *sl_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fputs("sluice: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *sl_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fputs("sluice: out of memory\n", stderr);
		abort();
	}
	return q;
}

char *sl_strdup(const char *s)
{
	return sl_strndup(s, strlen(s));
}

char *sl_strndup(const char *s, size_t n)
{
	char *p = sl_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void sl_buf_init(struct sl_buf *b)
{
	b->s = sl_buf_empty;
	b->len = 0;
	b->cap = 0;
}

void sl_buf_free(struct sl_buf *b)
{
	if (b->cap)
		free(b->s);
	sl_buf_init(b);
}

void sl_buf_reset(struct sl_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->s[0] = '\0';
}

void sl_buf_grow(struct sl_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap < (SIZE_MAX / 2) ? cap * 2 : need;
	if (b->cap) {
		b->s = sl_realloc(b->s, cap);
	} else {
		b->s = sl_malloc(cap);
		b->s[0] = '\0';
	}
	b->cap = cap;
}

void sl_buf_add(struct sl_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	sl_buf_grow(b, len);
	memcpy(b->s + b->len, data, len);
	b->len += len;
	b->s[b->len] = '\0';
}

void sl_buf_adds(struct sl_buf *b, const char *s)
{
	sl_buf_add(b, s, strlen(s));
}

void sl_buf_addc(struct sl_buf *b, char c)
{
	sl_buf_add(b, &c, 1);
}

void sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n <= 0)
		return;
	sl_buf_grow(b, (size_t)n);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *sl_buf_detach(struct sl_buf *b)
{
	char *s = b->cap ? b->s : sl_strdup("");
	sl_buf_init(b);
	return s;
}

void sl_strvec_push_owned(struct sl_strvec *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = sl_realloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void sl_strvec_push(struct sl_strvec *sv, const char *s)
{
	sl_strvec_push_owned(sv, sl_strdup(s));
}

void sl_strvec_free(struct sl_strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

int sl_buf_read_file(struct sl_buf *b, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char chunk[65536];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sl_buf_add(b, chunk, r);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		errno = EIO;
		return -1;
	}
	return 0;
}
