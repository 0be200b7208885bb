/*
 * cli.c - context, environment selection and rendering shared by commands.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sl_ctx_config(struct sl_ctx *ctx, struct sl_error *err)
{
	if (ctx->cfg)
		return 0;
	const char *path = ctx->config_path;
	if (!path) {
		if (access("sluice.yaml", F_OK) == 0)
			path = "sluice.yaml";
		else if (access("sluice.yml", F_OK) == 0)
			path = "sluice.yml";
	}
	if (!path) {
		if (ctx->url) {
			ctx->cfg = sl_config_default(".");
			return 0;
		}
		sl_err(err, SL_USAGE, "no sluice.yaml in this directory");
		sl_err_hint(err, "run 'sluice init', pass -c FILE or -C DIR, or give --url");
		return -1;
	}
	return sl_config_load(&ctx->cfg, path, err);
}

int sl_ctx_open(struct sl_ctx *ctx, struct sl_db **db, struct sl_engine *eng,
		struct sl_error *err)
{
	*db = NULL;
	if (sl_ctx_config(ctx, err))
		return -1;
	free(ctx->env_selected);
	free(ctx->url_masked);
	if (sl_engine_open(ctx->cfg, ctx->env_name, ctx->url, ctx->lock_timeout_ms, db, eng,
			   &ctx->env_selected, &ctx->url_masked, err))
		return -1;
	if (!ctx->json && !ctx->quiet) {
		eng->on_event = sl_cli_on_event;
		eng->event_arg = ctx;
	}
	return 0;
}

void sl_ctx_free(struct sl_ctx *ctx)
{
	sl_config_free(ctx->cfg);
	ctx->cfg = NULL;
	free(ctx->env_selected);
	free(ctx->url_masked);
	ctx->env_selected = ctx->url_masked = NULL;
}

void sl_json_set_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, s ? json_string(s) : json_null());
}

json_t *sl_cli_json_error(const struct sl_error *err)
{
	json_t *e = json_object();
	json_object_set_new(e, "code", json_integer(err->code));
	sl_json_set_str(e, "message", err->message);
	sl_json_set_str(e, "file", err->file[0] ? err->file : NULL);
	json_object_set_new(e, "line", err->line ? json_integer(err->line) : json_null());
	json_object_set_new(e, "column", err->column ? json_integer(err->column) : json_null());
	sl_json_set_str(e, "hint", err->hint[0] ? err->hint : NULL);
	return e;
}

int sl_cli_fail(struct sl_ctx *ctx, const struct sl_error *err)
{
	struct sl_buf b = SL_BUF_INIT;
	sl_error_format(err, &b);
	fprintf(stderr, "sluice: %s\n", b.s);
	/* JSON mode: one line on stderr; the hint is in the document. */
	if (err->hint[0] && !ctx->quiet && !ctx->json)
		fprintf(stderr, "hint: %s\n", err->hint);
	sl_buf_free(&b);
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_false());
		sl_json_set_str(doc, "command", ctx->cmd);
		json_object_set_new(doc, "exit_code", json_integer(err->code ? err->code : SL_ENV));
		json_object_set_new(doc, "error", sl_cli_json_error(err));
		sl_cli_json(doc);
	}
	return err->code ? err->code : SL_ENV;
}

int sl_cli_parse(struct sl_ctx *ctx, int argc, char **argv, const struct sl_option *opts,
		 struct sl_strvec *rest)
{
	struct sl_error err;
	sl_error_clear(&err);
	if (ctx->format && !ctx->json && strcmp(ctx->format, "text") != 0 &&
	    strcmp(ctx->cmd, "lint") != 0) {
		sl_err(&err, SL_USAGE, "--format %s is for lint; %s takes text or json", ctx->format,
		       ctx->cmd);
		return sl_cli_fail(ctx, &err);
	}
	if (sl_parse_options(argc, argv, opts, 0, rest, &err) == 0)
		return 0;
	const struct sl_command *c = sl_command_find(ctx->cmd);
	if (c) {
		sl_err_hint(&err, "usage: sluice %s (see 'sluice help %s')", c->usage, c->name);
	}
	return sl_cli_fail(ctx, &err);
}

void sl_cli_json(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

/*
 * Percents (flag, rollout) as JSON numbers.  sl_cli_json writes reals with
 * 17 significant digits, which turns 0.29 into 0.28999999999999998; a
 * percent has at most five, so documents carrying them are written with 15.
 */
json_t *sl_json_percent(int percent_bp)
{
	return json_real(percent_bp / 100.0);
}

void sl_cli_json_percents(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

json_t *sl_cli_subdoc(const char *command, const char *sub, int ok)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "ok", json_boolean(ok));
	sl_json_set_str(doc, "command", command);
	sl_json_set_str(doc, "subcommand", sub);
	return doc;
}

static const char *label(const struct sl_migration *m, int up)
{
	if (m->kind == SL_REPEATABLE)
		return "R";
	return up ? m->version : m->version;
}

void sl_cli_on_event(void *arg, const struct sl_event *ev)
{
	struct sl_ctx *ctx = arg;
	switch (ev->type) {
	case SL_EV_START:
		if (ctx->verbose)
			fprintf(stderr, "  %s %s %s ...\n", ev->up ? "applying" : "undoing",
				label(ev->m, ev->up), ev->m->description);
		break;
	case SL_EV_DONE:
		printf("  %-4s %-16s %-40s %6ld ms\n", ev->up ? "up" : "undo",
		       label(ev->m, ev->up), ev->m->description, ev->ms);
		fflush(stdout);
		break;
	case SL_EV_NOTE:
		fprintf(stderr, "note: %s: %s\n", ev->up ? ev->m->up_script : ev->m->down_script,
			ev->text);
		break;
	}
}

json_t *sl_cli_json_steps(const struct sl_run_result *res)
{
	json_t *a = json_array();
	for (size_t i = 0; i < res->nsteps; i++) {
		const struct sl_step_result *s = &res->steps[i];
		json_t *o = json_object();
		sl_json_set_str(o, "version", s->m->version);
		sl_json_set_str(o, "description", s->m->description);
		sl_json_set_str(o, "kind", s->m->kind == SL_REPEATABLE ? "repeatable" : "versioned");
		sl_json_set_str(o, "script", s->up ? s->m->up_script : s->m->down_script);
		json_object_set_new(o, "statements", json_integer((json_int_t)s->statements));
		json_object_set_new(o, "execution_ms", json_integer(s->ms));
		sl_json_set_str(o, "note", s->note[0] ? s->note : NULL);
		json_array_append_new(a, o);
	}
	return a;
}
