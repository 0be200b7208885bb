/*
 * metric.c - analysis metrics of a rollout: loading, providers, and Argo
 * Rollouts' judging of measurements (see metric.h).
 */
#include "metric.h"
#include "prom.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/expr.h"
#include "../core/proc.h"
#include "../core/yaml.h"
#include "../db/db.h"
#include "../quality/gate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 1000000     /* observations one query may return */
#define DEFAULT_TIMEOUT_MS 30000

const char *sl_outcome_name(enum sl_outcome o)
{
	switch (o) {
	case SL_OUT_SUCCESS: return "successful";
	case SL_OUT_INCONCLUSIVE: return "inconclusive";
	case SL_OUT_FAILED: return "failed";
	case SL_OUT_ERROR: return "error";
	}
	return "?";
}

const char *sl_metric_status_name(enum sl_metric_status s)
{
	switch (s) {
	case SL_MS_RUNNING: return "running";
	case SL_MS_INCONCLUSIVE: return "inconclusive";
	case SL_MS_ERROR: return "error";
	case SL_MS_FAILED: return "failed";
	}
	return "?";
}

void sl_metric_state_add(struct sl_metric_state *s, enum sl_outcome o)
{
	s->count++;
	switch (o) {
	case SL_OUT_SUCCESS: s->successful++; break;
	case SL_OUT_INCONCLUSIVE: s->inconclusive++; break;
	case SL_OUT_FAILED: s->failed++; break;
	case SL_OUT_ERROR: s->error++; break;
	}
	s->consecutive_error = o == SL_OUT_ERROR ? s->consecutive_error + 1 : 0;
}

/* Argo's assessMetricStatus, limits of -1 never trip. */
enum sl_metric_status sl_metric_assess(const struct sl_metric_state *s, long failure_limit,
				       long inconclusive_limit, long consecutive_error_limit)
{
	if (failure_limit >= 0 && s->failed > failure_limit)
		return SL_MS_FAILED;
	if (consecutive_error_limit >= 0 && s->consecutive_error > consecutive_error_limit)
		return SL_MS_ERROR;
	if (inconclusive_limit >= 0 && s->inconclusive > inconclusive_limit)
		return SL_MS_INCONCLUSIVE;
	return SL_MS_RUNNING;
}

/* ---- loading ------------------------------------------------------------- */

static void metric_free(struct sl_metric_def *m)
{
	free(m->name);
	free(m->environment);
	free(m->query);
	free(m->url);
	free(m->command);
	free(m->table);
	free(m->gate);
	free(m->canary);
	free(m->baseline);
	free(m->success);
	free(m->failure);
}

void sl_analysis_free(struct sl_analysis *a)
{
	for (size_t i = 0; i < a->n; i++)
		metric_free(&a->metrics[i]);
	free(a->metrics);
	memset(a, 0, sizeof(*a));
}

static int ydouble(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		   double *out, struct sl_error *err)
{
	const char *s;
	if (sl_ynode_str(doc, n, what, &s, err))
		return -1;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(d))
		return sl_ynode_err(doc, n, err, "expected a number for '%s', got '%s'", what, s);
	*out = d;
	return 0;
}

static int ystr(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what, char **out,
		struct sl_error *err)
{
	const char *s;
	if (sl_ynode_str(doc, n, what, &s, err))
		return -1;
	if (!*s)
		return sl_ynode_err(doc, n, err, "'%s' is empty", what);
	free(*out);
	*out = sl_strdup(s);
	return 0;
}

static int ylimit(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what, long *out,
		  struct sl_error *err)
{
	if (sl_ynode_long(doc, n, what, out, err))
		return -1;
	if (*out < -1)
		return sl_ynode_err(doc, n, err, "'%s' is a count (or -1 for no limit)", what);
	return 0;
}

static int yduration(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		     long *out, struct sl_error *err)
{
	const char *s;
	if (sl_ynode_str(doc, n, what, &s, err))
		return -1;
	if (sl_parse_duration_ms(s, out) || *out < 0)
		return sl_ynode_err(doc, n, err, "invalid duration '%s' for '%s' (e.g. 30s, 1m, 2h)", s, what);
	return 0;
}

static int ycondition(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		      char **out, struct sl_error *err)
{
	if (ystr(doc, n, what, out, err))
		return -1;
	struct sl_error e;
	sl_error_clear(&e);
	if (sl_expr_check(*out, &e))
		return sl_ynode_err(doc, n, err, "%s: %s", what, e.message);
	return 0;
}

static int check_env(const struct sl_ydoc *doc, const struct sl_ynode *n, const struct sl_config *cfg,
		     struct sl_error *err)
{
	if (!cfg || sl_config_env(cfg, n->scalar, NULL))
		return 0;
	struct sl_error e;
	sl_config_env(cfg, n->scalar, &e);
	return sl_ynode_err(doc, n, err, "%s", e.message);
}

static const char *const metric_keys[] = {
	"name", "provider", "environment", "env", "query", "url", "command", "table", "gate",
	"canary", "baseline", "max", "min", "success", "failure", "successCondition",
	"failureCondition", "success_condition", "failure_condition", "failure_limit", "failureLimit", "inconclusive_limit",
	"inconclusiveLimit", "consecutive_error_limit", "consecutiveErrorLimit", "timeout",
	"direction", "weight", "critical", "must_have_data", "allowed_increase",
	"allowed_decrease", "min_samples", NULL
};

static int load_metric(const struct sl_ydoc *doc, const struct sl_ynode *mn,
		       const struct sl_config *cfg, struct sl_metric_def *m, struct sl_error *err)
{
	memset(m, 0, sizeof(*m));
	m->failure_limit = m->inconclusive_limit = m->consecutive_error_limit = -2;
	m->timeout_ms = DEFAULT_TIMEOUT_MS;
	m->weight = 1;
	m->allowed_increase = m->allowed_decrease = 1;
	m->min_samples = 3;
	m->direction = SL_JUDGE_EITHER;
	m->line = mn->line;
	if (mn->type != SL_Y_MAP)
		return sl_ynode_err(doc, mn, err, "a metric is a mapping with 'name', 'provider' and 'query'");
	if (sl_ymap_check_keys(doc, mn, metric_keys, "a metric", err))
		return -1;
	const struct sl_ynode *provider = NULL;
	for (size_t i = 0; i < mn->n; i++) {
		const char *k = mn->keys[i]->scalar;
		const struct sl_ynode *v = mn->items[i];
		int rc = 0;
		if (!strcmp(k, "name"))
			rc = ystr(doc, v, k, &m->name, err);
		else if (!strcmp(k, "provider")) {
			const char *s;
			provider = v;
			if ((rc = sl_ynode_str(doc, v, k, &s, err)))
				;
			else if (!strcmp(s, "sql"))
				m->provider = SL_PROV_SQL;
			else if (!strcmp(s, "prometheus"))
				m->provider = SL_PROV_PROMETHEUS;
			else if (!strcmp(s, "command"))
				m->provider = SL_PROV_COMMAND;
			else if (!strcmp(s, "gate"))
				m->provider = SL_PROV_GATE;
			else
				rc = sl_ynode_err(doc, v, err, "unknown provider '%s' (sql, prometheus, command, gate)", s);
		} else if (!strcmp(k, "environment") || !strcmp(k, "env")) {
			rc = ystr(doc, v, k, &m->environment, err) || check_env(doc, v, cfg, err);
		} else if (!strcmp(k, "query"))
			rc = ystr(doc, v, k, &m->query, err);
		else if (!strcmp(k, "url"))
			rc = ystr(doc, v, k, &m->url, err);
		else if (!strcmp(k, "command"))
			rc = ystr(doc, v, k, &m->command, err);
		else if (!strcmp(k, "table"))
			rc = ystr(doc, v, k, &m->table, err);
		else if (!strcmp(k, "gate"))
			rc = ystr(doc, v, k, &m->gate, err);
		else if (!strcmp(k, "canary"))
			rc = ystr(doc, v, k, &m->canary, err);
		else if (!strcmp(k, "baseline"))
			rc = ystr(doc, v, k, &m->baseline, err);
		else if (!strcmp(k, "max")) {
			rc = ydouble(doc, v, k, &m->max, err);
			m->has_max = 1;
		} else if (!strcmp(k, "min")) {
			rc = ydouble(doc, v, k, &m->min, err);
			m->has_min = 1;
		} else if (!strcmp(k, "success") || !strcmp(k, "successCondition") ||
			   !strcmp(k, "success_condition"))
			rc = ycondition(doc, v, k, &m->success, err);
		else if (!strcmp(k, "failure") || !strcmp(k, "failureCondition") ||
			 !strcmp(k, "failure_condition"))
			rc = ycondition(doc, v, k, &m->failure, err);
		else if (!strcmp(k, "failure_limit") || !strcmp(k, "failureLimit"))
			rc = ylimit(doc, v, k, &m->failure_limit, err);
		else if (!strcmp(k, "inconclusive_limit") || !strcmp(k, "inconclusiveLimit"))
			rc = ylimit(doc, v, k, &m->inconclusive_limit, err);
		else if (!strcmp(k, "consecutive_error_limit") || !strcmp(k, "consecutiveErrorLimit"))
			rc = ylimit(doc, v, k, &m->consecutive_error_limit, err);
		else if (!strcmp(k, "timeout"))
			rc = yduration(doc, v, k, &m->timeout_ms, err);
		else if (!strcmp(k, "direction")) {
			const char *s;
			if ((rc = sl_ynode_str(doc, v, k, &s, err)))
				;
			else if (!strcmp(s, "either"))
				m->direction = SL_JUDGE_EITHER;
			else if (!strcmp(s, "increase"))
				m->direction = SL_JUDGE_INCREASE;
			else if (!strcmp(s, "decrease"))
				m->direction = SL_JUDGE_DECREASE;
			else
				rc = sl_ynode_err(doc, v, err,
						  "direction is the change that is bad: increase, decrease or either");
		} else if (!strcmp(k, "weight")) {
			rc = ydouble(doc, v, k, &m->weight, err);
			if (!rc && m->weight <= 0)
				rc = sl_ynode_err(doc, v, err, "a metric's weight is above 0");
		} else if (!strcmp(k, "critical"))
			rc = sl_ynode_bool(doc, v, k, &m->critical, err);
		else if (!strcmp(k, "must_have_data"))
			rc = sl_ynode_bool(doc, v, k, &m->must_have_data, err);
		else if (!strcmp(k, "allowed_increase") || !strcmp(k, "allowed_decrease")) {
			double *d = k[8] == 'i' ? &m->allowed_increase : &m->allowed_decrease;
			rc = ydouble(doc, v, k, d, err);
			if (!rc && *d <= 0)
				rc = sl_ynode_err(doc, v, err, "'%s' is a ratio of means above 0 (1.1: 10%%)", k);
		} else if (!strcmp(k, "min_samples")) {
			rc = sl_ynode_long(doc, v, k, &m->min_samples, err);
			if (!rc && m->min_samples < 1)
				rc = sl_ynode_err(doc, v, err, "min_samples is at least 1");
		}
		if (rc)
			return -1;
	}
	if (!m->name)
		return sl_ynode_err(doc, mn, err, "a metric needs a 'name'");
	if (!provider)
		return sl_ynode_err(doc, mn, err, "metric '%s' needs a 'provider' (sql, prometheus, command, gate)",
				    m->name);
	int compare = m->canary || m->baseline;
	if (compare && !(m->canary && m->baseline))
		return sl_ynode_err(doc, mn, err, "metric '%s': a comparison needs both 'canary' and 'baseline'",
				    m->name);
	if (compare && (m->query || m->command || m->has_max || m->has_min || m->success || m->failure))
		return sl_ynode_err(doc, mn, err,
				    "metric '%s': a comparison ('canary'/'baseline') is judged by the canary judge, "
				    "not by query, command, max, min, success or failure", m->name);
	switch (m->provider) {
	case SL_PROV_SQL:
		if (!compare && !m->query)
			return sl_ynode_err(doc, mn, err, "metric '%s': the sql provider needs a 'query'", m->name);
		break;
	case SL_PROV_PROMETHEUS:
		if (!m->url)
			return sl_ynode_err(doc, mn, err, "metric '%s': the prometheus provider needs a 'url'",
					    m->name);
		if (!compare && !m->query)
			return sl_ynode_err(doc, mn, err, "metric '%s': the prometheus provider needs a 'query'",
					    m->name);
		break;
	case SL_PROV_COMMAND:
		if (!compare && !m->command)
			return sl_ynode_err(doc, mn, err, "metric '%s': the command provider needs a 'command'",
					    m->name);
		break;
	case SL_PROV_GATE:
		if (compare)
			return sl_ynode_err(doc, mn, err, "metric '%s': the gate provider is not a comparison",
					    m->name);
		if (!m->table || !m->gate)
			return sl_ynode_err(doc, mn, err,
					    "metric '%s': the gate provider needs 'table' (a feature contract's) "
					    "and 'gate' (completeness, validity, uniqueness, fairness, ...)", m->name);
		break;
	}
	if (m->query && m->provider == SL_PROV_COMMAND)
		return sl_ynode_err(doc, mn, err, "metric '%s': the command provider runs 'command', not 'query'",
				    m->name);
	return 0;
}

static const char *const analysis_keys[] = {
	"interval", "failure_limit", "failureLimit", "inconclusive_limit", "inconclusiveLimit",
	"consecutive_error_limit", "consecutiveErrorLimit", "metrics", "judge", NULL
};
static const char *const judge_keys[] = { "confidence", "outlier_factor", "pass", "marginal", NULL };

int sl_analysis_load(const struct sl_ydoc *doc, const struct sl_ynode *node,
		     const struct sl_config *cfg, struct sl_analysis *a, struct sl_error *err)
{
	memset(a, 0, sizeof(*a));
	a->interval_ms = 60000;
	a->failure_limit = 0;
	a->inconclusive_limit = 0;
	a->consecutive_error_limit = 4;
	sl_judge_opts_default(&a->judge);
	if (!node)
		return 0;
	if (node->type != SL_Y_MAP)
		return sl_ynode_err(doc, node, err, "'analysis' is a mapping with 'interval' and 'metrics'");
	if (sl_ymap_check_keys(doc, node, analysis_keys, "analysis", err))
		return -1;
	const struct sl_ynode *n;
	if ((n = sl_ymap_get(node, "interval"))) {
		if (yduration(doc, n, "interval", &a->interval_ms, err))
			return -1;
		if (a->interval_ms < 1)
			return sl_ynode_err(doc, n, err, "the analysis interval is above 0");
	}
	if (((n = sl_ymap_get(node, "failure_limit")) || (n = sl_ymap_get(node, "failureLimit"))) &&
	    ylimit(doc, n, "failure_limit", &a->failure_limit, err))
		return -1;
	if (((n = sl_ymap_get(node, "inconclusive_limit")) || (n = sl_ymap_get(node, "inconclusiveLimit"))) &&
	    ylimit(doc, n, "inconclusive_limit", &a->inconclusive_limit, err))
		return -1;
	if (((n = sl_ymap_get(node, "consecutive_error_limit")) ||
	     (n = sl_ymap_get(node, "consecutiveErrorLimit"))) &&
	    ylimit(doc, n, "consecutive_error_limit", &a->consecutive_error_limit, err))
		return -1;
	if ((n = sl_ymap_get(node, "judge"))) {
		if (n->type != SL_Y_MAP)
			return sl_ynode_err(doc, n, err, "'judge' is a mapping (confidence, outlier_factor, pass, marginal)");
		if (sl_ymap_check_keys(doc, n, judge_keys, "judge", err))
			return -1;
		const struct sl_ynode *j;
		if ((j = sl_ymap_get(n, "confidence")) && ydouble(doc, j, "confidence", &a->judge.confidence, err))
			return -1;
		if ((j = sl_ymap_get(n, "outlier_factor")) &&
		    ydouble(doc, j, "outlier_factor", &a->judge.outlier_factor, err))
			return -1;
		if ((j = sl_ymap_get(n, "pass")) && ydouble(doc, j, "pass", &a->judge.pass, err))
			return -1;
		if ((j = sl_ymap_get(n, "marginal")) && ydouble(doc, j, "marginal", &a->judge.marginal, err))
			return -1;
		struct sl_judge_metric probe;
		struct sl_judge_metric_result pr;
		struct sl_judge_result jr;
		struct sl_error e;
		sl_judge_metric_init(&probe);
		probe.name = "probe";
		sl_error_clear(&e);
		if (sl_judge(&a->judge, &probe, 1, &pr, &jr, &e))
			return sl_ynode_err(doc, n, err, "judge: %s", e.message);
	}
	n = sl_ymap_get(node, "metrics");
	if (!n)
		return 0;
	if (n->type != SL_Y_SEQ)
		return sl_ynode_err(doc, n, err, "'metrics' is a list of metrics");
	a->metrics = sl_calloc(n->n ? n->n : 1, sizeof(*a->metrics));
	for (size_t i = 0; i < n->n; i++) {
		struct sl_metric_def *m = &a->metrics[a->n];
		int rc = load_metric(doc, n->items[i], cfg, m, err);
		a->n++;
		if (rc)
			goto fail;
		if (!strcmp(m->name, "canary") && !m->canary) {
			sl_ynode_err(doc, n->items[i], err, "'canary' is the name of the judge's verdict: pick another");
			goto fail;
		}
		for (size_t k = 0; k + 1 < a->n; k++)
			if (!strcmp(a->metrics[k].name, m->name)) {
				sl_ynode_err(doc, n->items[i], err, "two metrics are named '%s'", m->name);
				goto fail;
			}
		if (m->canary)
			a->ncompare++;
	}
	return 0;
fail:
	sl_analysis_free(a);
	return -1;
}

void sl_analysis_limits(const struct sl_analysis *a, size_t i, long *fl, long *il, long *cel)
{
	*fl = a->failure_limit;
	*il = a->inconclusive_limit;
	*cel = a->consecutive_error_limit;
	/* threshold metrics come first, in order; the canary verdict last */
	size_t k = 0;
	for (size_t j = 0; j < a->n; j++) {
		const struct sl_metric_def *m = &a->metrics[j];
		if (m->canary)
			continue;
		if (k++ == i) {
			if (m->failure_limit != -2)
				*fl = m->failure_limit;
			if (m->inconclusive_limit != -2)
				*il = m->inconclusive_limit;
			if (m->consecutive_error_limit != -2)
				*cel = m->consecutive_error_limit;
			return;
		}
	}
}

/* ---- providers ------------------------------------------------------------ */

void sl_measure_ctx_close(struct sl_measure_ctx *c)
{
	for (size_t i = 0; i < c->nother; i++) {
		sl_db_close(c->other[i]);
		free(c->other_names[i]);
	}
	free(c->other);
	free(c->other_names);
	c->other = NULL;
	c->other_names = NULL;
	c->nother = 0;
}

static int env_db(struct sl_measure_ctx *c, const char *env, struct sl_db **out, struct sl_error *err)
{
	if (!env || !strcmp(env, c->env)) {
		*out = c->db;
		return 0;
	}
	for (size_t i = 0; i < c->nother; i++)
		if (!strcmp(c->other_names[i], env)) {
			*out = c->other[i];
			return 0;
		}
	const struct sl_env *e = sl_config_env(c->cfg, env, err);
	if (!e)
		return -1;
	struct sl_buf url = SL_BUF_INIT;
	struct sl_db *db = NULL;
	if (sl_config_env_url(c->cfg, e, &url, err) || sl_db_open(&db, url.s, c->cfg->dir, err)) {
		sl_buf_free(&url);
		return -1;
	}
	sl_buf_free(&url);
	c->other = realloc(c->other, (c->nother + 1) * sizeof(*c->other));
	c->other_names = realloc(c->other_names, (c->nother + 1) * sizeof(*c->other_names));
	if (!c->other || !c->other_names)
		abort();
	c->other[c->nother] = db;
	c->other_names[c->nother++] = sl_strdup(env);
	*out = db;
	return 0;
}

struct dvec {
	double *v;
	size_t n, cap;
};

static void dvec_push(struct dvec *d, double x)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = realloc(d->v, d->cap * sizeof(*d->v));
		if (!d->v)
			abort();
	}
	d->v[d->n++] = x;
}

/* A number as text: decimal, exponent, NaN, Inf; the whole string. */
static int parse_num(const char *s, double *out)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return -1;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (end == s || *end || errno == EINVAL)
		return -1;
	*out = d;
	return 0;
}

struct sql_rows {
	struct dvec *out;
	long row;
	char bad[96];
};

static int sql_row(void *arg, int ncols, const char *const *vals)
{
	struct sql_rows *r = arg;
	r->row++;
	if (ncols < 1)
		return 0;
	double d = NAN;
	if (vals[0] && parse_num(vals[0], &d)) {
		snprintf(r->bad, sizeof(r->bad), "row %ld: '%.40s' is not a number", r->row, vals[0]);
		return 1;
	}
	if (r->out->n >= MAX_VALUES) {
		snprintf(r->bad, sizeof(r->bad), "more than %d rows", MAX_VALUES);
		return 1;
	}
	dvec_push(r->out, d);
	return 0;
}

static int fetch_sql(struct sl_measure_ctx *c, const struct sl_metric_def *m, const char *q,
		     struct dvec *out, struct sl_error *err)
{
	struct sl_db *db;
	if (env_db(c, m->environment, &db, err))
		return -1;
	struct sql_rows r;
	memset(&r, 0, sizeof(r));
	r.out = out;
	if (db->driver->query(db, q, NULL, 0, sql_row, &r, err))
		return -1;
	if (r.bad[0])
		return sl_err(err, SL_ENV, "%s", r.bad);
	return 0;
}

static int fetch_prom(const struct sl_metric_def *m, const char *q, struct dvec *out,
		      struct sl_error *err)
{
	double *v = NULL;
	size_t n = 0;
	if (sl_prom_query(m->url, q, m->timeout_ms, &v, &n, err))
		return -1;
	for (size_t i = 0; i < n; i++)
		dvec_push(out, v[i]);
	free(v);
	return 0;
}

static int fetch_command(struct sl_measure_ctx *c, const struct sl_metric_def *m, const char *cmd,
			 const char *cohort, struct dvec *out, struct sl_error *err)
{
	size_t ne = 0;
	while (c->proc_env && c->proc_env[ne])
		ne++;
	const char **envv = sl_calloc(ne + 3, sizeof(*envv));
	for (size_t i = 0; i < ne; i++)
		envv[i] = c->proc_env[i];
	struct sl_buf e1 = SL_BUF_INIT, e2 = SL_BUF_INIT, cap = SL_BUF_INIT;
	sl_buf_printf(&e1, "SLUICE_METRIC=%s", m->name);
	sl_buf_printf(&e2, "SLUICE_COHORT=%s", cohort);
	envv[ne] = e1.s;
	envv[ne + 1] = e2.s;
	struct sl_proc_opts po;
	struct sl_proc_result pr;
	memset(&po, 0, sizeof(po));
	po.dir = c->cfg ? c->cfg->dir : NULL;
	po.env = envv;
	po.timeout_ms = m->timeout_ms;
	po.capture = &cap;
	int rc = sl_proc_run(cmd, &po, &pr, err);
	if (!rc && (pr.exit_code != 0 || pr.timed_out)) {
		struct sl_buf why = SL_BUF_INIT;
		sl_proc_describe(&pr, &why);
		rc = sl_err(err, SL_ENV, "command %s", why.s);
		sl_buf_free(&why);
	}
	/* the numbers it printed, separated by blanks, commas or newlines */
	for (char *p = cap.s, *tok; !rc && p && (tok = strsep(&p, " \t\r\n,"));) {
		if (!*tok)
			continue;
		double d;
		if (parse_num(tok, &d)) {
			rc = sl_err(err, SL_ENV, "command printed '%.40s', not a number", tok);
			break;
		}
		if (out->n >= MAX_VALUES) {
			rc = sl_err(err, SL_ENV, "command printed more than %d numbers", MAX_VALUES);
			break;
		}
		dvec_push(out, d);
	}
	sl_buf_free(&e1);
	sl_buf_free(&e2);
	sl_buf_free(&cap);
	free(envv);
	return rc;
}

/*
 * The gate provider: the contract's gate re-run on the rows whose key the
 * flag enables.  The flag's name travels as a quoted literal and the key
 * as a quoted identifier: nothing from config reaches the SQL unquoted.
 */
static int fetch_gate(struct sl_measure_ctx *c, const struct sl_metric_def *m, struct dvec *out,
		      int *passed, struct sl_error *err)
{
	struct sl_db *db;
	if (env_db(c, m->environment, &db, err))
		return -1;
	struct sl_contracts cs;
	memset(&cs, 0, sizeof(cs));
	if (sl_contracts_load(&cs, c->cfg->features_dir, c->cfg->models_dir, err))
		return -1;
	const struct sl_feature_contract *f = NULL;
	for (size_t i = 0; i < cs.nfeatures && !f; i++)
		if (sl_table_is(cs.features[i].table, m->table))
			f = &cs.features[i];
	int rc = 0;
	if (!f) {
		rc = sl_err(err, SL_USAGE, "no feature contract for table '%s'", m->table);
		goto out;
	}
	if (f->keys.n != 1) {
		rc = sl_err(err, SL_USAGE, "the gate provider buckets one key column; %s has %zu",
			    f->table, f->keys.n);
		goto out;
	}
	struct sl_buf where = SL_BUF_INIT;
	int pg = !strcmp(db->driver->name, "postgres");
	sl_buf_adds(&where, pg ? "sluice.flag_enabled(" : "sluice_flag_enabled(");
	sl_quote_literal_std(&where, c->flag);
	sl_buf_adds(&where, ", CAST(");
	db->driver->quote_ident(&where, f->keys.v[0]);
	sl_buf_adds(&where, pg ? " AS text))" : " AS TEXT))");
	struct sl_gate_opts go;
	struct sl_gate_report rep;
	memset(&go, 0, sizeof(go));
	memset(&rep, 0, sizeof(rep));
	go.where = where.s;
	go.contracts = &cs;
	rc = sl_gates_run(db, f, &go, &rep, err);
	size_t found = 0;
	*passed = 1;
	for (size_t i = 0; !rc && i < rep.n; i++) {
		if (strcmp(rep.v[i].gate, m->gate))
			continue;
		found++;
		dvec_push(out, rep.v[i].score);
		if (!rep.v[i].passed)
			*passed = 0;
	}
	if (!rc && !found)
		rc = sl_err(err, SL_USAGE, "table %s has no '%s' gate", f->table, m->gate);
	sl_gate_report_free(&rep);
	sl_buf_free(&where);
out:
	sl_contracts_free(&cs);
	return rc;
}

static int fetch(struct sl_measure_ctx *c, const struct sl_metric_def *m, const char *what,
		 const char *cohort, struct dvec *out, struct sl_error *err)
{
	switch (m->provider) {
	case SL_PROV_SQL: return fetch_sql(c, m, what, out, err);
	case SL_PROV_PROMETHEUS: return fetch_prom(m, what, out, err);
	case SL_PROV_COMMAND: return fetch_command(c, m, what, cohort, out, err);
	case SL_PROV_GATE: break;
	}
	return sl_err(err, SL_USAGE, "provider cannot fetch");
}

/* ---- judging ------------------------------------------------------------- */

static int all_within(const struct sl_metric_def *m, const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m->has_max && !(v[i] <= m->max))
			return 0;
		if (m->has_min && !(v[i] >= m->min))
			return 0;
	}
	return 1;
}

static void values_text(struct sl_buf *b, const double *v, size_t n)
{
	sl_buf_adds(b, n == 1 ? "value " : "values ");
	for (size_t i = 0; i < n && i < 5; i++)
		sl_buf_printf(b, "%s%.6g", i ? ", " : "", v[i]);
	if (n > 5)
		sl_buf_printf(b, ", ... (%zu)", n);
}

/* Argo's evaluateResult, with max/min as part of the success condition. */
static enum sl_outcome evaluate(const struct sl_metric_def *m, const double *v, size_t n,
				int gate_passed, struct sl_buf *detail)
{
	int has_succ = m->has_max || m->has_min || m->success;
	int has_fail = m->failure != NULL;
	int succ = 1, fail = 0;
	struct sl_error e;
	sl_error_clear(&e);
	if (!n) {
		sl_buf_adds(detail, "no value");
		return SL_OUT_ERROR;
	}
	values_text(detail, v, n);
	if (m->provider == SL_PROV_GATE && !has_succ && !has_fail) {
		sl_buf_adds(detail, gate_passed ? ": gate passed" : ": gate failed");
		return gate_passed ? SL_OUT_SUCCESS : SL_OUT_FAILED;
	}
	if (m->has_max || m->has_min) {
		succ = all_within(m, v, n);
		if (!succ) {
			if (m->has_max && m->has_min)
				sl_buf_printf(detail, " outside [%.6g, %.6g]", m->min, m->max);
			else if (m->has_max)
				sl_buf_printf(detail, " above max %.6g", m->max);
			else
				sl_buf_printf(detail, " below min %.6g", m->min);
		}
	}
	if (m->success) {
		int t;
		if (sl_expr_eval(m->success, v, n, &t, &e)) {
			sl_buf_printf(detail, "; success condition: %s", e.message);
			return SL_OUT_ERROR;
		}
		succ = succ && t;
	}
	if (has_fail) {
		if (sl_expr_eval(m->failure, v, n, &fail, &e)) {
			sl_buf_printf(detail, "; failure condition: %s", e.message);
			return SL_OUT_ERROR;
		}
	}
	if (!has_succ && !has_fail)
		return SL_OUT_SUCCESS;
	if (has_succ && !has_fail)
		fail = !succ;
	else if (!has_succ && has_fail)
		succ = !fail;
	if (fail) {
		if (has_fail)
			sl_buf_printf(detail, "; failure condition '%s' is true", m->failure);
		return SL_OUT_FAILED;
	}
	if (!succ) {
		sl_buf_printf(detail, "; neither the success nor the failure condition holds");
		return SL_OUT_INCONCLUSIVE;
	}
	return SL_OUT_SUCCESS;
}

void sl_measurement_free(struct sl_measurement *m)
{
	free(m->detail);
	m->detail = NULL;
}

static void measure_threshold(struct sl_measure_ctx *c, const struct sl_metric_def *m,
			      struct sl_measurement *out)
{
	struct dvec v = { 0 };
	struct sl_buf d = SL_BUF_INIT;
	struct sl_error e;
	sl_error_clear(&e);
	int gate_passed = 1, rc;
	if (m->provider == SL_PROV_GATE)
		rc = fetch_gate(c, m, &v, &gate_passed, &e);
	else
		rc = fetch(c, m, m->provider == SL_PROV_COMMAND ? m->command : m->query, "all", &v, &e);
	out->metric = m->name;
	out->nvalues = v.n;
	out->value = v.n ? v.v[0] : NAN;
	if (rc) {
		out->outcome = SL_OUT_ERROR;
		sl_buf_printf(&d, "provider error: %s", e.message);
	} else {
		out->outcome = evaluate(m, v.v, v.n, gate_passed, &d);
	}
	out->detail = sl_buf_detach(&d);
	free(v.v);
}

/*
 * The comparison metrics of a round, judged together: the verdict is one
 * measurement named "canary".  A cohort with fewer than min_samples
 * observations is no data; a provider error makes the round an error.
 */
static void measure_canary(const struct sl_analysis *a, struct sl_measure_ctx *c,
			   struct sl_measurement *out)
{
	struct dvec *cv = sl_calloc(a->ncompare, sizeof(*cv));
	struct dvec *bv = sl_calloc(a->ncompare, sizeof(*bv));
	struct sl_judge_metric *jm = sl_calloc(a->ncompare, sizeof(*jm));
	struct sl_judge_metric_result *jr = sl_calloc(a->ncompare, sizeof(*jr));
	struct sl_buf d = SL_BUF_INIT;
	struct sl_error e;
	sl_error_clear(&e);
	size_t k = 0;
	int bad = 0;
	out->metric = "canary";
	out->value = NAN;
	for (size_t i = 0; i < a->n && !bad; i++) {
		const struct sl_metric_def *m = &a->metrics[i];
		if (!m->canary)
			continue;
		if (fetch(c, m, m->canary, "canary", &cv[k], &e) || fetch(c, m, m->baseline, "baseline", &bv[k], &e)) {
			sl_buf_printf(&d, "provider error: %s: %s", m->name, e.message);
			bad = 1;
			break;
		}
		sl_judge_metric_init(&jm[k]);
		jm[k].name = m->name;
		jm[k].canary = cv[k].v;
		jm[k].ncanary = cv[k].n >= (size_t)m->min_samples ? cv[k].n : 0;
		jm[k].baseline = bv[k].v;
		jm[k].nbaseline = bv[k].n >= (size_t)m->min_samples ? bv[k].n : 0;
		jm[k].direction = m->direction;
		jm[k].weight = m->weight;
		jm[k].critical = m->critical;
		jm[k].must_have_data = m->must_have_data;
		jm[k].allowed_increase = m->allowed_increase;
		jm[k].allowed_decrease = m->allowed_decrease;
		k++;
	}
	struct sl_judge_result res;
	if (!bad && sl_judge(&a->judge, jm, k, jr, &res, &e)) {
		sl_buf_printf(&d, "judge: %s", e.message);
		bad = 1;
	}
	if (bad) {
		out->outcome = SL_OUT_ERROR;
	} else {
		out->value = res.score;
		out->nvalues = 1;
		out->outcome = res.verdict == SL_JUDGE_VERDICT_PASS ? SL_OUT_SUCCESS :
			       res.verdict == SL_JUDGE_VERDICT_MARGINAL ? SL_OUT_INCONCLUSIVE : SL_OUT_FAILED;
		/* too little data to judge is not a failure of the canary: the
		 * decision goes to a person (Argo's inconclusive) */
		if (res.verdict == SL_JUDGE_VERDICT_FAIL && res.nodata_failed && !res.critical_failed &&
		    !res.nfailed)
			out->outcome = SL_OUT_INCONCLUSIVE;
		sl_buf_printf(&d, "score %.1f (%s; pass %.0f, marginal %.0f)", res.score,
			      sl_judge_verdict_name(res.verdict), a->judge.pass, a->judge.marginal);
		if (res.critical_failed)
			sl_buf_printf(&d, "; critical metric %s did not pass", res.critical_metric);
		for (size_t i = 0; i < k; i++)
			sl_buf_printf(&d, "; %s %s (%zu vs %zu): %s", jm[i].name, sl_judge_class_name(jr[i].cls),
				      jr[i].ncanary_used, jr[i].nbaseline_used, jr[i].reason);
	}
	out->detail = sl_buf_detach(&d);
	for (size_t i = 0; i < a->ncompare; i++) {
		free(cv[i].v);
		free(bv[i].v);
	}
	free(cv);
	free(bv);
	free(jm);
	free(jr);
}

int sl_analysis_measure(const struct sl_analysis *a, struct sl_measure_ctx *c,
			struct sl_measurement **out, size_t *nout, struct sl_error *err)
{
	size_t n = a->n - a->ncompare + (a->ncompare ? 1 : 0), k = 0;
	struct sl_measurement *v = sl_calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < a->n; i++)
		if (!a->metrics[i].canary)
			measure_threshold(c, &a->metrics[i], &v[k++]);
	if (a->ncompare)
		measure_canary(a, c, &v[k++]);
	*out = v;
	*nout = k;
	return 0;
}
