/*
 * cmd_flag.c - `sluice flag set|get|list|eval`: percentage feature flags
 * (the rule and the table are in src/deploy/flag.h).
 *
 * The subcommands are rows of one table, as the commands are in main.c.
 * Arguments are checked before connecting, so bad input is exit 2 even
 * when the database is down.
 */
#include "cli.h"
#include "../deploy/flag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flag_args {
	struct sl_ctx *ctx;
	char **v;                 /* after the subcommand word */
	size_t n;
	const char *reason;       /* set --reason */
	int from_stdin;           /* eval --stdin */
	int percent_bp;           /* set, parsed before connecting */
};

static json_t *flag_json(const struct sl_flag *f)
{
	json_t *o = json_object();
	sl_json_set_str(o, "name", f->name);
	json_object_set_new(o, "percent", sl_json_percent(f->percent_bp));
	sl_json_set_str(o, "updated_at", f->updated_at);
	sl_json_set_str(o, "updated_by", f->updated_by);
	sl_json_set_str(o, "reason", f->reason);
	return o;
}

static int flag_set(struct flag_args *a, struct sl_db *db, struct sl_error *err)
{
	struct sl_flag f;
	int prev;
	if (sl_flag_set(db, a->v[0], a->percent_bp, a->reason, &f, &prev, err))
		return -1;
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("flag", "set", 1);
		json_object_set_new(doc, "flag", flag_json(&f));
		json_object_set_new(doc, "previous_percent", prev >= 0 ? sl_json_percent(prev) : json_null());
		sl_cli_json_percents(doc);
	} else if (!a->ctx->quiet) {
		char now[SL_FLAG_PERCENT_LEN], was[SL_FLAG_PERCENT_LEN];
		sl_flag_format_percent(f.percent_bp, now);
		sl_flag_format_percent(prev, was);
		printf("flag %s set to %s%% in %s (%s%s%s)\n", f.name, now, a->ctx->env_selected,
		       prev >= 0 ? "was " : "was not set", prev >= 0 ? was : "", prev >= 0 ? "%" : "");
	}
	sl_flag_free(&f);
	return 0;
}

static int flag_get(struct flag_args *a, struct sl_db *db, struct sl_error *err)
{
	struct sl_flag f;
	int found;
	if (sl_flag_get(db, a->v[0], &f, &found, err))
		return -1;
	if (!found) {
		sl_err(err, SL_FAILED, "flag '%s' is not set in %s", a->v[0], a->ctx->env_selected);
		sl_err_hint(err, "an unset flag is off for everyone (0%%); 'sluice flag set NAME PERCENT' sets one");
		return -1;
	}
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("flag", "get", 1);
		json_object_set_new(doc, "flag", flag_json(&f));
		sl_cli_json_percents(doc);
	} else {
		char pct[SL_FLAG_PERCENT_LEN];
		sl_flag_format_percent(f.percent_bp, pct);
		printf("name        %s\npercent     %s%%\nupdated_at  %s\nupdated_by  %s\nreason      %s\n",
		       f.name, pct, f.updated_at ? f.updated_at : "", f.updated_by ? f.updated_by : "",
		       f.reason ? f.reason : "");
	}
	sl_flag_free(&f);
	return 0;
}

static int flag_list(struct flag_args *a, struct sl_db *db, struct sl_error *err)
{
	struct sl_flag *v;
	size_t n;
	if (sl_flag_list(db, &v, &n, err))
		return -1;
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("flag", "list", 1), *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, flag_json(&v[i]));
		json_object_set_new(doc, "flags", arr);
		sl_cli_json_percents(doc);
	} else if (!n) {
		printf("no flags in %s\n", a->ctx->env_selected);
	} else {
		printf("%-24s %8s  %-24s %-12s %s\n", "NAME", "PERCENT", "UPDATED_AT", "UPDATED_BY", "REASON");
		for (size_t i = 0; i < n; i++) {
			char pct[SL_FLAG_PERCENT_LEN + 1];
			sl_flag_format_percent(v[i].percent_bp, pct);
			strcat(pct, "%");
			printf("%-24s %8s  %-24s %-12s %s\n", v[i].name, pct, v[i].updated_at ? v[i].updated_at : "",
			       v[i].updated_by ? v[i].updated_by : "", v[i].reason ? v[i].reason : "");
		}
	}
	for (size_t i = 0; i < n; i++)
		sl_flag_free(&v[i]);
	free(v);
	return 0;
}

/* One entity: a text line ENTITY \t 0|1 \t BUCKET, or an element of arr. */
static void eval_one(const char *name, int percent_bp, const char *entity, size_t len, json_t *arr)
{
	int bucket = sl_flag_bucket_n(name, strlen(name), entity, len);
	int on = sl_flag_enabled(bucket, percent_bp);
	if (arr) {
		json_t *o = json_object();
		json_object_set_new(o, "entity", json_stringn(entity, len));
		json_object_set_new(o, "bucket", json_integer(bucket));
		json_object_set_new(o, "enabled", json_boolean(on));
		json_array_append_new(arr, o);
	} else {
		fwrite(entity, 1, len, stdout);
		printf("\t%d\t%d\n", on, bucket);
	}
}

/*
 * --stdin: one id per line, the newline (and a carriage return before
 * it) not part of the id; every line, empty ones too, gets its result
 * line, so the output pairs with the input line by line.  stdout is
 * buffered, so 100,000 ids take about as long as hashing them.
 */
static int eval_stdin(const char *name, int percent_bp, json_t *arr, struct sl_error *err)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		eval_one(name, percent_bp, line, (size_t)len, arr);
	}
	int failed = ferror(stdin);
	free(line);
	if (failed)
		return sl_err(err, SL_USAGE, "cannot read the entity ids from stdin");
	return 0;
}

static int flag_eval(struct flag_args *a, struct sl_db *db, struct sl_error *err)
{
	const char *name = a->v[0];
	struct sl_flag f;
	int found;
	if (sl_flag_get(db, name, &f, &found, err))
		return -1;
	int bp = found ? f.percent_bp : 0;
	sl_flag_free(&f);
	if (!found && !a->ctx->quiet && !a->ctx->json)
		fprintf(stderr, "sluice: flag '%s' is not set in %s: off for everyone (0%%)\n", name,
			a->ctx->env_selected);
	json_t *arr = a->ctx->json ? json_array() : NULL;
	int rc = 0;
	if (a->from_stdin) {
		rc = eval_stdin(name, bp, arr, err);
	} else {
		for (size_t i = 1; i < a->n; i++)
			eval_one(name, bp, a->v[i], strlen(a->v[i]), arr);
	}
	if (arr && !rc) {
		json_t *doc = sl_cli_subdoc("flag", "eval", 1);
		sl_json_set_str(doc, "flag", name);
		json_object_set_new(doc, "percent", sl_json_percent(bp));
		json_object_set_new(doc, "set", json_boolean(found));
		json_object_set_new(doc, "results", arr);
		sl_cli_json_percents(doc);
	} else if (arr) {
		json_decref(arr);
	}
	return rc;
}

struct flag_sub {
	const char *name;
	int (*fn)(struct flag_args *a, struct sl_db *db, struct sl_error *err);
	int min_args, max_args;   /* after the subcommand word; -1: no limit */
	const char *usage;
};

static const struct flag_sub subs[] = {
	{ "set", flag_set, 2, 2, "flag set NAME PERCENT [--reason TEXT]" },
	{ "get", flag_get, 1, 1, "flag get NAME" },
	{ "list", flag_list, 0, 0, "flag list" },
	{ "eval", flag_eval, 1, -1, "flag eval NAME ENTITY... | flag eval NAME --stdin" },
	{ NULL, NULL, 0, 0, NULL },
};

/* Everything that can be wrong with the command line, before connecting. */
static int check_args(const struct flag_sub *s, struct flag_args *a, struct sl_error *err)
{
	if (a->reason && strcmp(s->name, "set") != 0)
		return sl_err(err, SL_USAGE, "--reason is for 'flag set'");
	if (a->from_stdin && strcmp(s->name, "eval") != 0)
		return sl_err(err, SL_USAGE, "--stdin is for 'flag eval'");
	if ((int)a->n < s->min_args || (s->max_args >= 0 && (int)a->n > s->max_args)) {
		sl_err(err, SL_USAGE, "%s: expected %s", (int)a->n < s->min_args ? "missing arguments"
										: "too many arguments", s->usage);
		return -1;
	}
	if (!strcmp(s->name, "eval") && a->from_stdin == (a->n > 1))
		return sl_err(err, SL_USAGE, "flag eval takes entity ids as arguments or --stdin, %s",
			      a->from_stdin ? "not both" : "one of them");
	if (a->n && sl_flag_check_name(a->v[0], err))
		return -1;
	if (!strcmp(s->name, "set") && sl_flag_parse_percent(a->v[1], &a->percent_bp, err))
		return -1;
	return 0;
}

int cmd_flag(int argc, char **argv, struct sl_ctx *ctx)
{
	struct flag_args a;
	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "reason", &a.reason, "TEXT", "why (set), kept with the flag" },
		{ SL_OPT_FLAG, 0, "stdin", &a.from_stdin, NULL, "read entity ids from stdin, one a line (eval)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec rest = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &rest);
	if (rc) {
		sl_strvec_free(&rest);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	const struct flag_sub *s = NULL;
	if (!rest.n) {
		sl_err(&err, SL_USAGE, "flag needs a subcommand: set, get, list or eval");
	} else {
		for (s = subs; s->name && strcmp(s->name, rest.v[0]) != 0; s++)
			;
		if (!s->name)
			sl_err(&err, SL_USAGE, "unknown flag subcommand '%s' (set, get, list, eval)", rest.v[0]);
	}
	if (err.code) {
		sl_err_hint(&err, "'sluice help flag' shows the usage");
		sl_strvec_free(&rest);
		return sl_cli_fail(ctx, &err);
	}
	a.v = rest.v + 1;
	a.n = rest.n - 1;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	rc = check_args(s, &a, &err);
	/* sluice's own SQLite connections get the flag functions too (flag_ext.c) */
	if (!rc && sl_flag_sqlite_register())
		rc = sl_err(&err, SL_ENV, "cannot register the SQLite flag functions");
	if (!rc)
		rc = sl_ctx_open(ctx, &db, &eng, &err);
	if (!rc)
		rc = s->fn(&a, db, &err);
	if (rc)
		rc = sl_cli_fail(ctx, &err);
	sl_db_close(db);
	sl_strvec_free(&rest);
	return rc;
}
