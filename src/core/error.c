/*
 * error.c - filling and formatting struct sl_error (see error.h).
 */
#include "error.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sl_error_clear(struct sl_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

/* Errors are one line: fold newlines that database messages carry. */
static void one_line(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

static int vset(struct sl_error *err, int code, const char *file, int line,
		int column, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	memset(err, 0, sizeof(*err));
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	one_line(err->message);
	if (file)
		snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = line;
	err->column = column;
	return -1;
}

int sl_err(struct sl_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int sl_err_at(struct sl_error *err, int code, const char *file, int line,
	      int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, file, line, column, fmt, ap);
	va_end(ap);
	return -1;
}

void sl_err_hint(struct sl_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
	one_line(err->hint);
}

void sl_err_prefix(struct sl_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	struct sl_buf b = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	sl_buf_adds(&b, err->message);
	size_t n = b.len < sizeof(err->message) - 1 ? b.len : sizeof(err->message) - 1;
	memcpy(err->message, b.s, n);
	err->message[n] = '\0';
	sl_buf_free(&b);
}

void sl_error_format(const struct sl_error *err, struct sl_buf *out)
{
	if (err->file[0]) {
		sl_buf_adds(out, err->file);
		if (err->line > 0) {
			sl_buf_printf(out, ":%d", err->line);
			if (err->column > 0)
				sl_buf_printf(out, ":%d", err->column);
		}
		sl_buf_adds(out, ": ");
	}
	sl_buf_adds(out, err->message[0] ? err->message : "unknown error");
}
