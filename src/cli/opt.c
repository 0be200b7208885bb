/*
 * opt.c - table-driven option parsing (see opt.h).
 */
#include "opt.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"

#include <string.h>

static const struct sl_option *find_long(const struct sl_option *o, const char *name, size_t n)
{
	for (; o->type != SL_OPT_END; o++)
		if (o->long_name && strlen(o->long_name) == n && strncmp(o->long_name, name, n) == 0)
			return o;
	return NULL;
}

static const struct sl_option *find_short(const struct sl_option *o, char c)
{
	for (; o->type != SL_OPT_END; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int set_value(const struct sl_option *o, const char *arg, const char *shown,
		     struct sl_error *err)
{
	/* an option handled before parsing (-C) that came bundled (-vC DIR) */
	if (!o->value)
		return sl_err(err, SL_USAGE, "write %s DIR on its own, not bundled with other options",
			      shown);
	switch (o->type) {
	case SL_OPT_FLAG:
		*(int *)o->value = 1;
		return 0;
	case SL_OPT_STRING:
		*(const char **)o->value = arg;
		return 0;
	case SL_OPT_DURATION:
		if (sl_parse_duration_ms(arg, (long *)o->value))
			return sl_err(err, SL_USAGE, "invalid duration '%s' for %s (write e.g. 60s, 2m, 500ms)",
				      arg, shown);
		return 0;
	default:
		return -1;
	}
}

int sl_parse_options(int argc, char **argv, const struct sl_option *opts,
		     int keep_unknown, struct sl_strvec *rest, struct sl_error *err)
{
	int only_args = 0;
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];
		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (!rest)
				return sl_err(err, SL_USAGE, "unexpected argument '%s'", a);
			sl_strvec_push(rest, a);
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_args = 1;
			if (keep_unknown && rest)
				sl_strvec_push(rest, a);
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t n = eq ? (size_t)(eq - name) : strlen(name);
			const struct sl_option *o = find_long(opts, name, n);
			if (!o) {
				if (keep_unknown && rest) {
					sl_strvec_push(rest, a);
					continue;
				}
				return sl_err(err, SL_USAGE, "unknown option '%.*s'", (int)(n + 2), a);
			}
			const char *arg = NULL;
			if (o->type != SL_OPT_FLAG) {
				if (eq)
					arg = eq + 1;
				else if (i + 1 < argc)
					arg = argv[++i];
				else
					return sl_err(err, SL_USAGE, "option '--%s' needs a value", o->long_name);
			} else if (eq) {
				return sl_err(err, SL_USAGE, "option '--%s' takes no value", o->long_name);
			}
			if (set_value(o, arg, a, err))
				return -1;
			continue;
		}
		/* short options, possibly bundled: -qv, -eprod, -e prod */
		for (char *p = a + 1; *p; p++) {
			const struct sl_option *o = find_short(opts, *p);
			if (!o) {
				if (keep_unknown && rest) {
					sl_strvec_push(rest, a);
					break;
				}
				return sl_err(err, SL_USAGE, "unknown option '-%c'", *p);
			}
			if (o->type == SL_OPT_FLAG) {
				set_value(o, NULL, a, err);
				continue;
			}
			const char *arg;
			if (p[1])
				arg = p + 1;
			else if (i + 1 < argc)
				arg = argv[++i];
			else
				return sl_err(err, SL_USAGE, "option '-%c' needs a value", *p);
			char shown[4] = { '-', *p, 0, 0 };
			if (set_value(o, arg, shown, err))
				return -1;
			break;
		}
	}
	return 0;
}

void sl_print_options(FILE *f, const struct sl_option *opts)
{
	for (const struct sl_option *o = opts; o->type != SL_OPT_END; o++) {
		struct sl_buf b = SL_BUF_INIT;
		if (o->short_name)
			sl_buf_printf(&b, "-%c", o->short_name);
		if (o->long_name)
			sl_buf_printf(&b, "%s--%s", o->short_name ? ", " : "    ", o->long_name);
		if (o->type != SL_OPT_FLAG)
			sl_buf_printf(&b, " %s", o->argh ? o->argh : "VALUE");
		fprintf(f, "  %-28s %s\n", b.s, o->help ? o->help : "");
		sl_buf_free(&b);
	}
}
