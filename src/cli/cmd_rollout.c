/*
 * cmd_rollout.c - `sluice rollout run|status|list|pause|resume|promote|abort`:
 * progressive rollout of a feature flag (src/deploy/rollout.h).
 */
#include "cli.h"
#include "../deploy/deploy.h"
#include "../deploy/flag.h"
#include "../deploy/rollout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ro_args {
	struct sl_ctx *ctx;
	struct sl_engine *eng;
	struct sl_db *db;
	const char *reason;
	double time_scale;
	long limit;
	long wait_ms;
	json_t *events;          /* JSON mode: what happened, in order */
	int printed;             /* the JSON document is out */
};

static json_t *rollout_json(const struct sl_rollout *r)
{
	json_t *o = json_object();
	sl_json_set_str(o, "id", r->id);
	sl_json_set_str(o, "flag", r->flag);
	sl_json_set_str(o, "environment", r->environment);
	sl_json_set_str(o, "status", r->status);
	json_object_set_new(o, "phase", json_integer(r->phase + 1));
	json_object_set_new(o, "phases_total", json_integer((json_int_t)r->nphases));
	json_object_set_new(o, "traffic", sl_json_percent(r->traffic_bp));
	long hold = r->nphases ? r->phases[r->phase].hold_ms : 0;
	json_object_set_new(o, "held_ms", json_integer(r->held_ms));
	json_object_set_new(o, "hold_ms", json_integer(hold));
	json_object_set_new(o, "remaining_ms", json_integer(hold > r->held_ms ? hold - r->held_ms : 0));
	json_t *ph = json_array();
	for (size_t i = 0; i < r->nphases; i++) {
		json_t *p = json_object();
		json_object_set_new(p, "traffic", sl_json_percent(r->phases[i].traffic_bp));
		json_object_set_new(p, "hold_ms", json_integer(r->phases[i].hold_ms));
		json_array_append_new(ph, p);
	}
	json_object_set_new(o, "phases", ph);
	sl_json_set_str(o, "reason", r->reason);
	sl_json_set_str(o, "deployment", r->deployment);
	sl_json_set_str(o, "started_at", r->started_at);
	sl_json_set_str(o, "updated_at", r->updated_at);
	sl_json_set_str(o, "finished_at", r->finished_at);
	json_t *c = json_object();
	sl_json_set_str(c, "owner", r->owner);
	json_object_set_new(c, "alive", json_boolean(sl_rollout_controller_alive(r)));
	sl_json_set_str(c, "pending_request", r->command);
	json_object_set_new(o, "controller", c);
	return o;
}

static json_t *logent_json(const struct sl_rollout_logent *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "seq", json_integer(e->seq));
	sl_json_set_str(o, "at", e->at);
	json_object_set_new(o, "phase", json_integer(e->phase + 1));
	json_object_set_new(o, "traffic", sl_json_percent(e->traffic_bp));
	sl_json_set_str(o, "kind", e->kind);
	sl_json_set_str(o, "name", e->name);
	sl_json_set_str(o, "outcome", e->outcome);
	json_object_set_new(o, "value", isfinite(e->value) ? json_real(e->value) : json_null());
	sl_json_set_str(o, "detail", e->detail);
	return o;
}

static void on_event(void *arg, const struct sl_rollout *r, const char *name, const char *text)
{
	struct ro_args *a = arg;
	if (a->ctx->json) {
		json_t *o = json_object();
		sl_json_set_str(o, "event", name);
		json_object_set_new(o, "phase", json_integer(r->phase + 1));
		json_object_set_new(o, "traffic", sl_json_percent(r->traffic_bp));
		sl_json_set_str(o, "detail", text);
		json_array_append_new(a->events, o);
		return;
	}
	if (a->ctx->quiet)
		return;
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	char pct[SL_FLAG_PERCENT_LEN];
	sl_flag_format_percent(r->traffic_bp, pct);
	printf("%02d:%02d:%02d  %-5s %-12s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
	       strcat(pct, "%"), name, text);
	fflush(stdout);
}

/* A failed analysis rolls back the deployment the rollout recorded. */
static int do_rollback(void *arg, const char *deployment, const char *reason, struct sl_error *err)
{
	struct ro_args *a = arg;
	struct sl_deploy_opts o;
	memset(&o, 0, sizeof(o));
	o.cfg = a->ctx->cfg;
	o.env = a->ctx->env_selected;
	o.reason = reason;
	struct sl_deploy_result res;
	int rc = sl_rollback(a->eng, &o, deployment, NULL, &res, err);
	sl_deploy_result_free(&res);
	return rc;
}

static void opts_init(struct sl_rollout_opts *o, struct ro_args *a)
{
	memset(o, 0, sizeof(*o));
	o->cfg = a->ctx->cfg;
	o->env = a->ctx->env_selected;
	o->time_scale = a->time_scale;
	o->rollback = do_rollback;
	o->on_event = on_event;
	o->arg = a;
}

static int ro_run(struct ro_args *a, const char *flag, const struct sl_rollout_def *def,
		  struct sl_error *err)
{
	struct sl_rollout_opts o;
	opts_init(&o, a);
	struct sl_rollout r;
	a->events = a->ctx->json ? json_array() : NULL;
	int rc = sl_rollout_run(a->db, def, &o, &r, err);
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("rollout", "run", rc == 0);
		json_object_set_new(doc, "rollout", r.id ? rollout_json(&r) : json_null());
		json_object_set_new(doc, "events", a->events);
		a->events = NULL;
		if (rc) {
			json_object_set_new(doc, "exit_code", json_integer(err->code ? err->code : SL_ENV));
			json_object_set_new(doc, "error", sl_cli_json_error(err));
		}
		sl_cli_json_percents(doc);
		a->printed = 1;
	}
	(void)flag;
	sl_rollout_free(&r);
	return rc;
}

static const char *dur(long ms, char *b, size_t n)
{
	if (ms >= 3600000 && ms % 60000 == 0)
		snprintf(b, n, "%ldh%02ldm", ms / 3600000, ms % 3600000 / 60000);
	else if (ms >= 60000)
		snprintf(b, n, "%ldm%02lds", ms / 60000, ms % 60000 / 1000);
	else
		snprintf(b, n, "%.1fs", ms / 1000.0);
	return b;
}

static int ro_status(struct ro_args *a, const char *flag, struct sl_error *err)
{
	struct sl_rollout r;
	struct sl_rollout_logent *log = NULL;
	size_t nlog = 0;
	int found;
	if (sl_rollout_get(a->db, a->ctx->env_selected, flag, &r, &found, &log, &nlog,
			   (size_t)a->limit, err))
		return -1;
	if (!found) {
		sl_err(err, SL_FAILED, "no rollout of flag '%s' in %s", flag, a->ctx->env_selected);
		sl_err_hint(err, "'sluice rollout run %s' starts one", flag);
		return -1;
	}
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("rollout", "status", 1), *l = json_array();
		json_object_set_new(doc, "rollout", rollout_json(&r));
		for (size_t i = 0; i < nlog; i++)
			json_array_append_new(l, logent_json(&log[i]));
		json_object_set_new(doc, "log", l);
		sl_cli_json_percents(doc);
	} else {
		char pct[SL_FLAG_PERCENT_LEN], b1[32], b2[32];
		sl_flag_format_percent(r.traffic_bp, pct);
		long hold = r.phases[r.phase].hold_ms;
		printf("rollout     %s\nflag        %s (%s)\nstatus      %s%s%s\n", r.id, r.flag, r.environment,
		       r.status, r.reason ? ": " : "", r.reason ? r.reason : "");
		printf("phase       %d/%zu at %s%%, held %s of %s\n", r.phase + 1, r.nphases, pct,
		       dur(r.held_ms, b1, sizeof(b1)), dur(hold, b2, sizeof(b2)));
		printf("phases     ");
		for (size_t i = 0; i < r.nphases; i++) {
			sl_flag_format_percent(r.phases[i].traffic_bp, pct);
			printf(" %s%s%%/%s", (int)i == r.phase ? "*" : "", pct,
			       dur(r.phases[i].hold_ms, b1, sizeof(b1)));
		}
		printf("\ncontroller  %s%s\n", r.owner ? r.owner : "none",
		       sl_rollout_controller_alive(&r) ? " (alive)" : r.owner ? " (gone)" : "");
		printf("deployment  %s\nstarted     %s\nupdated     %s\n", r.deployment ? r.deployment : "-",
		       r.started_at, r.updated_at);
		if (r.finished_at)
			printf("finished    %s\n", r.finished_at);
		if (nlog)
			printf("log:\n");
		for (size_t i = 0; i < nlog; i++) {
			sl_flag_format_percent(log[i].traffic_bp, pct);
			printf("  %s  %5s%%  %-12s %s%s%s\n", log[i].at, pct, log[i].name,
			       log[i].outcome ? log[i].outcome : "", log[i].outcome ? ": " : "",
			       log[i].detail ? log[i].detail : "");
		}
	}
	for (size_t i = 0; i < nlog; i++)
		sl_rollout_logent_free(&log[i]);
	free(log);
	sl_rollout_free(&r);
	return 0;
}

static int ro_list(struct ro_args *a, struct sl_error *err)
{
	struct sl_rollout *v;
	size_t n;
	if (sl_rollout_list(a->db, a->ctx->env_selected, &v, &n, err))
		return -1;
	if (a->ctx->json) {
		json_t *doc = sl_cli_subdoc("rollout", "list", 1), *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, rollout_json(&v[i]));
		json_object_set_new(doc, "rollouts", arr);
		sl_cli_json_percents(doc);
	} else if (!n) {
		printf("no rollouts in %s\n", a->ctx->env_selected);
	} else {
		printf("%-28s %-16s %-12s %-6s %-8s %s\n", "ID", "FLAG", "STATUS", "PHASE", "TRAFFIC", "STARTED");
		for (size_t i = 0; i < n; i++) {
			char pct[SL_FLAG_PERCENT_LEN], ph[16];
			sl_flag_format_percent(v[i].traffic_bp, pct);
			snprintf(ph, sizeof(ph), "%d/%zu", v[i].phase + 1, v[i].nphases);
			printf("%-28s %-16s %-12s %-6s %7s%% %s\n", v[i].id, v[i].flag, v[i].status, ph, pct,
			       v[i].started_at);
		}
	}
	for (size_t i = 0; i < n; i++)
		sl_rollout_free(&v[i]);
	free(v);
	return 0;
}

static int ro_request(struct ro_args *a, const char *sub, const char *flag, struct sl_error *err)
{
	struct sl_rollout_opts o;
	opts_init(&o, a);
	struct sl_rollout r;
	a->events = a->ctx->json ? json_array() : NULL;
	int rc = sl_rollout_request(a->db, flag, sub, a->reason, &o, a->wait_ms, &r, err);
	if (!rc && a->ctx->json) {
		json_t *doc = sl_cli_subdoc("rollout", sub, 1);
		json_object_set_new(doc, "rollout", rollout_json(&r));
		json_object_set_new(doc, "events", a->events);
		a->events = NULL;
		sl_cli_json_percents(doc);
	} else if (!rc && !a->ctx->quiet) {
		char pct[SL_FLAG_PERCENT_LEN];
		sl_flag_format_percent(r.traffic_bp, pct);
		printf("rollout %s of flag %s: %s, phase %d/%zu at %s%%\n", r.id, r.flag, r.status, r.phase + 1,
		       r.nphases, pct);
	}
	if (a->events)
		json_decref(a->events);
	a->events = NULL;
	sl_rollout_free(&r);
	return rc;
}

int cmd_rollout(int argc, char **argv, struct sl_ctx *ctx)
{
	struct ro_args a;
	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	const char *scale_s = NULL, *limit_s = NULL, *wait_s = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "time-scale", &scale_s, "N", "run: divide every duration by N (tests, demos)" },
		{ SL_OPT_STRING, 0, "reason", &a.reason, "TEXT", "pause, resume, promote, abort: why, for the record" },
		{ SL_OPT_STRING, 'n', "limit", &limit_s, "N", "status: log entries shown (default 20)" },
		{ SL_OPT_STRING, 0, "wait", &wait_s, "DUR", "requests: how long to wait for a running controller (default 10s)" },
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
	static const char *const subs[] = { "run", "status", "list", "pause", "resume", "promote", "abort", NULL };
	const char *sub = rest.n ? rest.v[0] : NULL;
	const char *flag = rest.n > 1 ? rest.v[1] : NULL;
	int known = 0;
	for (size_t i = 0; sub && subs[i]; i++)
		known |= !strcmp(sub, subs[i]);
	a.time_scale = 1;
	a.limit = 20;
	a.wait_ms = 10000;
	struct sl_rollout_def def;
	memset(&def, 0, sizeof(def));
	if (!sub)
		sl_err(&err, SL_USAGE, "rollout needs a subcommand: run, status, list, pause, resume, promote or abort");
	else if (!known)
		sl_err(&err, SL_USAGE, "unknown rollout subcommand '%s' (run, status, list, pause, resume, promote, abort)", sub);
	else if (rest.n > 2 || (!strcmp(sub, "list") && rest.n > 1))
		sl_err(&err, SL_USAGE, "too many arguments: rollout %s%s", sub, strcmp(sub, "list") ? " [FLAG]" : "");
	else if (scale_s && strcmp(sub, "run"))
		sl_err(&err, SL_USAGE, "--time-scale is for 'rollout run'");
	else if (a.reason && (!strcmp(sub, "run") || !strcmp(sub, "status") || !strcmp(sub, "list")))
		sl_err(&err, SL_USAGE, "--reason is for pause, resume, promote and abort");
	if (!err.code && scale_s) {
		char *end;
		a.time_scale = strtod(scale_s, &end);
		if (*end || !(a.time_scale >= 1) || !isfinite(a.time_scale))
			sl_err(&err, SL_USAGE, "invalid --time-scale '%s' (a number >= 1)", scale_s);
	}
	if (!err.code && limit_s) {
		char *end;
		a.limit = strtol(limit_s, &end, 10);
		if (*end || a.limit < 0)
			sl_err(&err, SL_USAGE, "invalid --limit '%s'", limit_s);
	}
	if (!err.code && wait_s && (sl_parse_duration_ms(wait_s, &a.wait_ms) || a.wait_ms < 0))
		sl_err(&err, SL_USAGE, "invalid --wait '%s' (e.g. 10s)", wait_s);
	if (!err.code && flag)
		sl_flag_check_name(flag, &err);
	if (err.code) {
		sl_err_hint(&err, "'sluice help rollout' shows the usage");
		sl_strvec_free(&rest);
		return sl_cli_fail(ctx, &err);
	}
	/* the rollout's definition (run), which also names flag and environment */
	if (!sl_ctx_config(ctx, &err) && (!strcmp(sub, "run") || !flag) && strcmp(sub, "list")) {
		if (!sl_rollout_def_find(ctx->cfg, flag, &def, &err)) {
			flag = def.flag;
			if (def.environment && ctx->env_name && strcmp(def.environment, ctx->env_name))
				sl_err(&err, SL_USAGE, "the rollout of flag '%s' is for environment '%s', not '%s'",
				       def.flag, def.environment, ctx->env_name);
			else if (def.environment)
				ctx->env_name = def.environment;
		}
	}
	struct sl_db *db = NULL;
	struct sl_engine eng;
	rc = err.code ? -1 : 0;
	if (!rc && sl_flag_sqlite_register())
		rc = sl_err(&err, SL_ENV, "cannot register the SQLite flag functions");
	if (!rc)
		rc = sl_ctx_open(ctx, &db, &eng, &err);
	a.db = db;
	a.eng = &eng;
	if (!rc) {
		if (!strcmp(sub, "run"))
			rc = ro_run(&a, flag, &def, &err);
		else if (!strcmp(sub, "status"))
			rc = ro_status(&a, flag, &err);
		else if (!strcmp(sub, "list"))
			rc = ro_list(&a, &err);
		else
			rc = ro_request(&a, sub, flag, &err);
	}
	int code = SL_OK;
	if (rc) {
		if (a.printed) {
			/* the document is out already; the error once on stderr */
			struct sl_buf b = SL_BUF_INIT;
			sl_error_format(&err, &b);
			fprintf(stderr, "sluice: %s\n", b.s);
			sl_buf_free(&b);
			code = err.code ? err.code : SL_ENV;
		} else {
			code = sl_cli_fail(ctx, &err);
		}
	}
	if (a.events)
		json_decref(a.events);
	sl_rollout_def_free(&def);
	sl_db_close(db);
	sl_strvec_free(&rest);
	return code;
}
