/*
 * cmd_run.c - `sluice run [FILE]`: the pipeline of sluice.yaml, or of FILE.
 */
#include "cli.h"
#include "../core/yaml.h"
#include "../pipeline/pipeline.h"

#include <string.h>
#include <unistd.h>

struct run_render {
	struct sl_ctx *ctx;
	json_t *stages;      /* JSON mode */
	json_t *cur;         /* current stage object */
};

static void on_stage(void *arg, const struct sl_stage *st, int begin, int ok, long ms)
{
	struct run_render *r = arg;
	if (r->ctx->json) {
		if (begin) {
			r->cur = json_object();
			sl_json_set_str(r->cur, "name", st->name);
			json_object_set_new(r->cur, "steps", json_array());
			json_array_append_new(r->stages, r->cur);
		} else {
			sl_json_set_str(r->cur, "status", ok ? "passed" : "failed");
			json_object_set_new(r->cur, "duration_ms", json_integer(ms));
		}
		return;
	}
	if (r->ctx->quiet)
		return;
	if (begin)
		printf("== stage %s\n", st->name);
	else
		printf("== stage %s %s (%ld ms)\n", st->name, ok ? "passed" : "FAILED", ms);
	fflush(stdout);
}

static void on_step(void *arg, const struct sl_step_outcome *o)
{
	struct run_render *r = arg;
	if (r->ctx->json) {
		json_t *s = json_object();
		sl_json_set_str(s, "step", o->step->label);
		sl_json_set_str(s, "status", o->ok ? "passed" : "failed");
		json_object_set_new(s, "duration_ms", json_integer(o->ms));
		sl_json_set_str(s, "detail", o->ok ? o->detail : NULL);
		json_object_set_new(s, "error", o->ok ? json_null() : sl_cli_json_error(o->err));
		json_array_append_new(json_object_get(r->cur, "steps"), s);
		return;
	}
	if (r->ctx->quiet && o->ok)
		return;
	if (o->ok) {
		printf("   ok   %-32s %s\n", o->step->label, o->detail);
	} else {
		struct sl_buf b = SL_BUF_INIT;
		sl_error_format(o->err, &b);
		printf("   FAIL %-32s %s\n", o->step->label, b.s);
		sl_buf_free(&b);
	}
	fflush(stdout);
}

int cmd_run(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *scale_s = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "time-scale", &scale_s, "N", "divide every rollout duration by N (tests, demos)" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	double time_scale = 1;
	if (scale_s) {
		char *end;
		time_scale = strtod(scale_s, &end);
		if (*end || !(time_scale >= 1) || time_scale > 1e9) {
			sl_err(&err, SL_USAGE, "invalid --time-scale '%s' (a number >= 1)", scale_s);
			sl_strvec_free(&args);
			return sl_cli_fail(ctx, &err);
		}
	}
	struct sl_ydoc *extra = NULL;
	const struct sl_ydoc *doc;
	const struct sl_ynode *node;
	struct sl_pipeline p;
	memset(&p, 0, sizeof(p));
	int code;
	if (args.n > 1) {
		sl_err(&err, SL_USAGE, "run takes at most one pipeline FILE");
		goto fail;
	}
	if (args.n == 1 && !ctx->config_path && access("sluice.yaml", F_OK) != 0)
		ctx->config_path = args.v[0]; /* a self-contained file */
	if (sl_ctx_config(ctx, &err))
		goto fail;
	if (args.n == 1 && (!ctx->cfg->path[0] || strcmp(args.v[0], ctx->cfg->path) != 0)) {
		if (sl_yaml_load(&extra, args.v[0], NULL, 0, &err))
			goto fail;
		doc = extra;
		node = extra->root ? sl_ymap_get(extra->root, "pipeline") : NULL;
		if (!node) {
			sl_err_at(&err, SL_USAGE, args.v[0], 1, 1, "no 'pipeline' section");
			goto fail;
		}
	} else {
		doc = ctx->cfg->doc;
		node = ctx->cfg->pipeline;
		if (!node) {
			sl_err_at(&err, SL_USAGE, ctx->cfg->path, 1, 1, "no 'pipeline' section");
			sl_err_hint(&err, "add pipeline: {stages: [...]} (see docs/CONFIG.md)");
			goto fail;
		}
	}
	if (sl_pipeline_load(&p, doc, node, ctx->url ? NULL : ctx->cfg, &err))
		goto fail;

	struct run_render r = { ctx, json_array(), NULL };
	struct sl_run_opts o;
	memset(&o, 0, sizeof(o));
	o.cfg = ctx->cfg;
	o.env_override = ctx->env_name;
	o.url_override = ctx->url;
	o.lock_timeout_ms = ctx->lock_timeout_ms;
	o.child_stdout_to_stderr = ctx->json;
	o.time_scale = time_scale;
	o.on_stage = on_stage;
	o.on_step = on_step;
	o.arg = &r;
	if (!ctx->json && !ctx->quiet)
		printf("pipeline %s: %zu stage(s)%s%s%s\n", p.name, p.nstages,
		       scale_s ? " (rollout durations divided by " : "", scale_s ? scale_s : "", scale_s ? ")" : "");
	const struct sl_stage *failed = NULL;
	rc = sl_pipeline_run(&p, &o, &failed, &err);
	if (ctx->json) {
		json_t *doc_out = json_object();
		json_object_set_new(doc_out, "ok", json_boolean(rc == 0));
		sl_json_set_str(doc_out, "command", "run");
		sl_json_set_str(doc_out, "pipeline", p.name);
		json_object_set_new(doc_out, "stages", r.stages);
		sl_json_set_str(doc_out, "failed_stage", failed ? failed->name : NULL);
		if (rc)
			json_object_set_new(doc_out, "exit_code", json_integer(SL_FAILED));
		sl_cli_json(doc_out);
	} else {
		json_decref(r.stages);
	}
	if (rc) {
		struct sl_buf b = SL_BUF_INIT;
		sl_error_format(&err, &b);
		fprintf(stderr, "sluice: %s\n", b.s);
		sl_buf_free(&b);
		code = SL_FAILED;
	} else {
		if (!ctx->json && !ctx->quiet)
			printf("pipeline %s passed\n", p.name);
		code = SL_OK;
	}
	sl_pipeline_free(&p);
	sl_ydoc_free(extra);
	sl_strvec_free(&args);
	return code;
fail:
	sl_pipeline_free(&p);
	sl_ydoc_free(extra);
	sl_strvec_free(&args);
	return sl_cli_fail(ctx, &err);
}
