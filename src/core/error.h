/*
 * error.h - the one error type of sluice, and the exit codes.
 *
 * In the manner of libgit2: library functions return 0 on success or -1 on
 * failure and fill a caller-provided struct sl_error.  Nothing below src/cli
 * prints or exits; the command renders the error once, at the top.
 *
 * The code of an error is the process exit code it maps to, so that the
 * decision "is this bad input or a broken database?" is made where the
 * failure is understood, not where it is printed.
 */
#ifndef SL_ERROR_H
#define SL_ERROR_H

enum sl_exit {
	SL_OK = 0,       /* success */
	SL_FAILED = 1,   /* a check, validation or gate failed */
	SL_USAGE = 2,    /* bad usage, configuration or input file */
	SL_ENV = 3,      /* database or environment error */
};

struct sl_error {
	int code;              /* enum sl_exit; 0 when no error is set */
	char message[1024];    /* one line, no trailing newline, secrets masked */
	char file[512];        /* file the error is about, "" if none */
	int line;              /* 1-based line in file, 0 if unknown */
	int column;            /* 1-based column, 0 if unknown */
	char hint[512];        /* how to fix it, "" if nothing useful to say */
};

void sl_error_clear(struct sl_error *err);

/* Set err (if non-NULL) and return -1, so callers can `return sl_err(...)`. */
int sl_err(struct sl_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, with a file position. */
int sl_err_at(struct sl_error *err, int code, const char *file, int line,
	      int column, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Attach a hint to an error already set. */
void sl_err_hint(struct sl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix the message of an error already set ("V3__x.sql: " + message). */
void sl_err_prefix(struct sl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "file:line:col: message" (the parts that are known), into out. */
struct sl_buf;
void sl_error_format(const struct sl_error *err, struct sl_buf *out);

#endif
