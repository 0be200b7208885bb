/*
 * buf.h - the one growable byte/string buffer used everywhere in sluice.
 *
 * Modelled on git's strbuf: a buffer is always NUL-terminated, so b->s can be
 * handed to any C string API.  A zero-initialised struct (SL_BUF_INIT) is a
 * valid empty buffer that owns nothing; sl_buf_free() releases storage and
 * leaves the buffer empty and reusable.  Allocation failure aborts: sluice has
 * no useful way to continue without memory and every caller would otherwise
 * grow an error path that is never tested.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct sl_buf {
	char *s;      /* NUL-terminated contents, or a static "" when cap == 0 */
	size_t len;   /* bytes used, excluding the NUL */
	size_t cap;   /* bytes allocated */
};

#define SL_BUF_INIT { (char *)"", 0, 0 }

void sl_buf_init(struct sl_buf *b);
void sl_buf_free(struct sl_buf *b);
void sl_buf_reset(struct sl_buf *b);                 /* len = 0, keeps storage */
void sl_buf_grow(struct sl_buf *b, size_t extra);
void sl_buf_add(struct sl_buf *b, const void *data, size_t len);
void sl_buf_adds(struct sl_buf *b, const char *s);
void sl_buf_addc(struct sl_buf *b, char c);
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap);
/* Give up ownership: returns a malloc'd string the caller frees; b is reset. */
char *sl_buf_detach(struct sl_buf *b);

/*
 * Append the whole file at path to b.  Returns 0, or -1 with errno set
 * (the caller words the error: it knows what the file is for).
 */
int sl_buf_read_file(struct sl_buf *b, const char *path);

/* Allocation helpers that abort on failure (see above). */
void *sl_malloc(size_t n);
void *sl_calloc(size_t n, size_t size);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);

/*
 * A growable array of owned strings (NULL-terminated, so v can be an argv).
 */
struct sl_strvec {
	char **v;
	size_t n, cap;
};
#define SL_STRVEC_INIT { NULL, 0, 0 }
void sl_strvec_push(struct sl_strvec *sv, const char *s);
void sl_strvec_push_owned(struct sl_strvec *sv, char *s);
void sl_strvec_free(struct sl_strvec *sv);

#endif
