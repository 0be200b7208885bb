/*
 * cmd_deploy.c - `sluice deploy`, `sluice rollback` and `sluice deployments`.
 */
#include "cli.h"
#include "../deploy/deploy.h"
#include "../pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

struct cli_arg {
	struct sl_ctx *ctx;
	struct sl_run_opts ro;
};

static int cli_gates(void *arg, const struct sl_ynode *gates, struct sl_buf *detail,
		     struct sl_error *err)
{
	struct cli_arg *a = arg;
	return sl_pipeline_run_gates(&a->ro, a->ctx->env_selected, gates, detail, err);
}

static void cli_phase(void *arg, const char *phase, const char *text)
{
	struct cli_arg *a = arg;
	if (a->ctx->quiet || a->ctx->json)
		return;
	if (text)
		printf("  %-15s %s\n", phase, text);
	else if (a->ctx->verbose)
		printf("  %-15s ...\n", phase);
}

static json_t *dep_json(const struct sl_deployment *d)
{
	json_t *o = json_object();
	sl_json_set_str(o, "id", d->id);
	sl_json_set_str(o, "environment", d->environment);
	sl_json_set_str(o, "from_version", d->from_version);
	sl_json_set_str(o, "to_version", d->to_version);
	sl_json_set_str(o, "status", d->status);
	sl_json_set_str(o, "strategy", d->strategy);
	sl_json_set_str(o, "phase", d->phase);
	sl_json_set_str(o, "started_at", d->started_at);
	sl_json_set_str(o, "finished_at", d->finished_at);
	if (d->duration_ms >= 0)
		json_object_set_new(o, "duration_ms", json_integer(d->duration_ms));
	else
		json_object_set_new(o, "duration_ms", json_null());
	sl_json_set_str(o, "reason", d->reason);
	sl_json_set_str(o, "plan_digest", d->plan_digest);
	sl_json_set_str(o, "actor", d->actor);
	sl_json_set_str(o, "rollback_point", d->rollback_point);
	json_t *ci = d->ci ? json_loads(d->ci, 0, NULL) : NULL;
	json_object_set_new(o, "ci", ci ? ci : json_object());
	json_t *log = d->log ? json_loads(d->log, 0, NULL) : NULL;
	json_object_set_new(o, "log", log ? log : json_array());
	return o;
}

static json_t *strs_json(const struct sl_strvec *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static int render(struct sl_ctx *ctx, const char *what, const struct sl_deploy_result *res, int rc,
		  const struct sl_error *err)
{
	int code = rc ? (err->code ? err->code : SL_ENV) : SL_OK;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(rc == 0));
		sl_json_set_str(doc, "command", what);
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "noop", json_boolean(res->noop));
		json_object_set_new(doc, "rolled_back", json_boolean(res->rolled_back));
		json_object_set_new(doc, "deployment", res->dep.id || res->noop ? dep_json(&res->dep) : json_null());
		json_object_set_new(doc, "applied", strs_json(&res->applied));
		json_object_set_new(doc, "undone", strs_json(&res->undone));
		sl_json_set_str(doc, "gates", res->gates);
		if (res->rolled_back)
			json_object_set_new(doc, "rollback_ms", json_integer(res->rollback_ms));
		if (rc) {
			json_object_set_new(doc, "exit_code", json_integer(code));
			json_object_set_new(doc, "error", sl_cli_json_error(err));
		}
		sl_cli_json(doc);
		if (rc) {
			struct sl_buf b = SL_BUF_INIT;
			sl_error_format(err, &b);
			fprintf(stderr, "sluice: %s\n", b.s);
			sl_buf_free(&b);
		}
		return code;
	}
	const struct sl_deployment *d = &res->dep;
	if (!ctx->quiet && res->gates && res->gates[0])
		printf("gates:\n  %s\n", res->gates);
	if (rc) {
		if (res->rolled_back && !ctx->quiet)
			printf("deployment %s rolled back in %ld ms; %s is at version %s again\n", d->id,
			       res->rollback_ms, ctx->env_selected, d->from_version ? d->from_version : "none");
		return sl_cli_fail(ctx, err);
	}
	if (ctx->quiet)
		return SL_OK;
	if (res->noop)
		printf("%s is up to date at version %s: nothing to deploy\n", ctx->env_selected,
		       d->to_version ? d->to_version : "none");
	else if (!strcmp(what, "rollback"))
		printf("rolled back deployment %s in %ld ms: %s is at version %s\n", d->id, res->rollback_ms,
		       ctx->env_selected, d->from_version ? d->from_version : "none");
	else
		printf("deployment %s: %s %s -> %s, %zu migration(s) in %ld ms\n", d->id, ctx->env_selected,
		       d->from_version ? d->from_version : "empty", d->to_version, res->applied.n,
		       d->duration_ms);
	return SL_OK;
}

static void opts_init(struct sl_deploy_opts *o, struct cli_arg *a, struct sl_ctx *ctx)
{
	memset(o, 0, sizeof(*o));
	memset(a, 0, sizeof(*a));
	a->ctx = ctx;
	a->ro.cfg = ctx->cfg;
	a->ro.env_override = ctx->env_selected;
	a->ro.url_override = ctx->url;
	a->ro.lock_timeout_ms = ctx->lock_timeout_ms;
	a->ro.child_stdout_to_stderr = ctx->json;
	o->cfg = ctx->cfg;
	o->env = ctx->env_selected;
	o->gates = cli_gates;
	o->on_phase = cli_phase;
	o->arg = a;
}

int cmd_deploy(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *to = NULL, *strategy = NULL;
	int resume = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "to", &to, "VERSION", "deploy up to and including VERSION" },
		{ SL_OPT_STRING, 0, "strategy", &strategy, "S", "standard, forward-only (refuses breaking changes) or expand-contract (sluice expand)" },
		{ SL_OPT_FLAG, 0, "resume", &resume, NULL, "finish (or roll back) an interrupted deployment first" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	sl_error_clear(&err);
	if (strategy && !strcmp(strategy, "expand-contract")) {
		if (to || resume) {
			sl_err(&err, SL_USAGE, "--strategy expand-contract expands the next operations migration: no --to or --resume");
			return sl_cli_fail(ctx, &err);
		}
		return sl_cli_deploy_expand(ctx);
	}
	if (sl_ctx_open(ctx, &db, &eng, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (!ctx->json && !ctx->quiet)
		eng.on_event = sl_cli_on_event;
	struct sl_deploy_opts o;
	struct cli_arg a;
	opts_init(&o, &a, ctx);
	o.to = to;
	o.strategy = strategy;
	o.resume = resume;
	struct sl_deploy_result res;
	rc = sl_deploy(&eng, &o, &res, &err);
	int code = render(ctx, "deploy", &res, rc, &err);
	sl_deploy_result_free(&res);
	sl_db_close(db);
	return code;
}

int cmd_rollback(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *id = NULL, *to = NULL, *reason = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "deployment", &id, "ID", "the deployment to roll back (default: the newest)" },
		{ SL_OPT_STRING, 0, "to", &to, "VERSION", "roll back every deployment above VERSION" },
		{ SL_OPT_STRING, 0, "reason", &reason, "TEXT", "why, for the record" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	sl_error_clear(&err);
	if (id && to) {
		sl_err(&err, SL_USAGE, "--deployment and --to are exclusive");
		return sl_cli_fail(ctx, &err);
	}
	struct sl_db *db = NULL;
	struct sl_engine eng;
	if (sl_ctx_open(ctx, &db, &eng, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (!ctx->json && !ctx->quiet)
		eng.on_event = sl_cli_on_event;
	struct sl_deploy_opts o;
	struct cli_arg a;
	opts_init(&o, &a, ctx);
	o.reason = reason;
	struct sl_deploy_result res;
	rc = sl_rollback(&eng, &o, id, to, &res, &err);
	int code = render(ctx, "rollback", &res, rc, &err);
	sl_deploy_result_free(&res);
	sl_db_close(db);
	return code;
}

int cmd_deployments(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *limit_s = NULL;
	int all = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 'n', "limit", &limit_s, "N", "at most N (default 20; 0: all)" },
		{ SL_OPT_FLAG, 'a', "all", &all, NULL, "every environment of the database" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	sl_error_clear(&err);
	long limit = 20;
	if (limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*end || limit < 0) {
			sl_err(&err, SL_USAGE, "invalid --limit '%s' (a number, 0 for all)", limit_s);
			return sl_cli_fail(ctx, &err);
		}
	}
	if (sl_ctx_open(ctx, &db, &eng, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	struct sl_deployment *v = NULL;
	size_t n = 0;
	if (sl_deployments_list(db, all ? NULL : ctx->env_selected, limit > 0 ? (size_t)limit : 0, &v, &n,
				&err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object(), *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, dep_json(&v[i]));
		json_object_set_new(doc, "deployments", a);
		sl_cli_json(doc);
	} else if (!n) {
		printf("no deployments in %s\n", ctx->env_selected);
	} else {
		printf("%-24s %-10s %-8s %-8s %-12s %-11s %9s  %s\n", "ID", "ENV", "FROM", "TO", "STATUS",
		       "STRATEGY", "DURATION", "REASON");
		for (size_t i = 0; i < n; i++) {
			char dur[32];
			if (v[i].duration_ms >= 0)
				snprintf(dur, sizeof(dur), "%.1fs", v[i].duration_ms / 1000.0);
			else
				snprintf(dur, sizeof(dur), "-");
			printf("%-24s %-10s %-8s %-8s %-12s %-11s %9s  %s\n", v[i].id, v[i].environment,
			       v[i].from_version ? v[i].from_version : "-", v[i].to_version ? v[i].to_version : "-",
			       !strcmp(v[i].status, "in_progress") ? v[i].phase : v[i].status, v[i].strategy, dur,
			       v[i].reason ? v[i].reason : "");
		}
	}
	for (size_t i = 0; i < n; i++)
		sl_deployment_free(&v[i]);
	free(v);
	sl_db_close(db);
	return SL_OK;
}
