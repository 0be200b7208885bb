/*
 * opt.h - one option parser for every command, in the manner of git's
 * parse-options: options are declared as a table, the help text is
 * generated from it, and an unknown option is a usage error (exit 2).
 */
#ifndef SL_OPT_H
#define SL_OPT_H

#include <stdio.h>

struct sl_error;
struct sl_strvec;

enum sl_opt_type { SL_OPT_END = 0, SL_OPT_FLAG, SL_OPT_STRING, SL_OPT_DURATION };

struct sl_option {
	enum sl_opt_type type;
	char short_name;          /* 0 for none */
	const char *long_name;    /* NULL for none */
	void *value;              /* int* (FLAG), const char** (STRING), long* (DURATION ms) */
	const char *argh;         /* argument name in help ("VERSION") */
	const char *help;
};

/*
 * Parse argv[0..argc) against opts.  Non-option arguments are appended to
 * rest (when rest is NULL they are an error).  With keep_unknown, options
 * not in the table are also appended to rest instead of failing (used to
 * pull global options out of a command line).  "--" ends options.
 */
int sl_parse_options(int argc, char **argv, const struct sl_option *opts,
		     int keep_unknown, struct sl_strvec *rest, struct sl_error *err);
void sl_print_options(FILE *f, const struct sl_option *opts);

#endif
