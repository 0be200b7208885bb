/*
 * metric.h - the analysis of a rollout: metrics, their providers, and the
 * way Argo Rollouts judges them.
 *
 * A metric is measured every interval by a provider:
 *
 *   sql         a query against an environment: one value per row (first
 *               column); NULL is NaN
 *   prometheus  an instant query against the HTTP API (src/deploy/prom.c):
 *               one value per series
 *   command     a shell command: the numbers it prints on stdout
 *   gate        a sluice quality gate of a feature contract re-run on the
 *               flagged cohort (rows whose key the flag enables): its score
 *
 * A measurement is successful, failed, inconclusive or an error, decided as
 * Argo Rollouts decides it: `max`/`min` (every value within) and `success`
 * form the success condition, `failure` the failure condition (expressions
 * over `result`, src/core/expr.h).  With only a success condition a
 * measurement that does not meet it failed; with only a failure condition
 * one that does not meet it succeeded; with both and neither true it is
 * inconclusive; with neither it succeeded.  A provider that fails (a
 * database or HTTP error, a non-number, no value at all) is an error.
 *
 * A comparison metric has `canary` and `baseline` queries instead of
 * `query`: each returns observations of one cohort (one row per request or
 * per minute, say), and the comparison metrics of a measurement round are
 * judged together by the Kayenta judge (src/stats/judge.h): a Mann-Whitney
 * interval per metric, a weighted score, pass/marginal thresholds.  The
 * verdict is one measurement of a metric named "canary": pass is
 * successful, marginal inconclusive, fail failed.
 *
 * A metric's status over the measurements of one analysis run (a phase, or
 * since the last resume): failed when failures exceed failure_limit
 * (default 0; -1 never), inconclusive when inconclusives exceed
 * inconclusive_limit (default 0), error when consecutive errors exceed
 * consecutive_error_limit (default 4); the worst metric decides, in the
 * order failed, error, inconclusive, running.
 */
#ifndef SL_METRIC_H
#define SL_METRIC_H

#include <stddef.h>

#include "../core/buf.h"
#include "../stats/judge.h"

struct sl_config;
struct sl_db;
struct sl_error;
struct sl_ydoc;
struct sl_ynode;

enum sl_provider { SL_PROV_SQL, SL_PROV_PROMETHEUS, SL_PROV_COMMAND, SL_PROV_GATE };

enum sl_outcome {
	SL_OUT_SUCCESS,
	SL_OUT_INCONCLUSIVE,
	SL_OUT_FAILED,
	SL_OUT_ERROR,
};
const char *sl_outcome_name(enum sl_outcome o);   /* successful, failed, ... */

struct sl_metric_def {
	char *name;
	enum sl_provider provider;
	char *environment;        /* sql, gate: NULL = the rollout's */
	char *query;              /* sql, prometheus: the threshold query */
	char *url;                /* prometheus */
	char *command;            /* command */
	char *table;              /* gate: the feature contract's table */
	char *gate;               /* gate: its name (completeness, ...); NULL: all, min score */
	char *canary, *baseline;  /* comparison metric: one query (or command) per cohort */
	int has_max, has_min;
	double max, min;
	char *success, *failure;  /* expressions over result */
	long failure_limit;       /* -2: the analysis default */
	long inconclusive_limit;
	long consecutive_error_limit;
	long timeout_ms;          /* of one measurement (command, prometheus) */
	/* comparison metrics */
	enum sl_judge_direction direction;
	double weight;
	int critical, must_have_data;
	double allowed_increase, allowed_decrease;
	long min_samples;         /* fewer observations in a cohort: no data */
	int line;
};

struct sl_analysis {
	long interval_ms;
	long failure_limit, inconclusive_limit, consecutive_error_limit;
	struct sl_metric_def *metrics;
	size_t n;
	size_t ncompare;          /* of which comparison metrics */
	struct sl_judge_opts judge;
	/* the "canary" pseudo-metric's limits (the analysis defaults) */
};

/*
 * Load an `analysis:` mapping.  Every key is checked, every expression
 * parsed, every environment named must exist in cfg (NULL: not checked).
 */
int sl_analysis_load(const struct sl_ydoc *doc, const struct sl_ynode *node,
		     const struct sl_config *cfg, struct sl_analysis *out, struct sl_error *err);
void sl_analysis_free(struct sl_analysis *a);

/* Counters of one metric over an analysis run (Argo's MetricResult). */
struct sl_metric_state {
	long count, successful, failed, inconclusive, error, consecutive_error;
};
enum sl_metric_status {
	SL_MS_RUNNING,            /* no limit exceeded */
	SL_MS_INCONCLUSIVE,
	SL_MS_ERROR,
	SL_MS_FAILED,
};
const char *sl_metric_status_name(enum sl_metric_status s);
void sl_metric_state_add(struct sl_metric_state *s, enum sl_outcome o);
enum sl_metric_status sl_metric_assess(const struct sl_metric_state *s, long failure_limit,
				       long inconclusive_limit, long consecutive_error_limit);

/* What a measurement round needs from the controller. */
struct sl_measure_ctx {
	const struct sl_config *cfg;
	const char *env;          /* the rollout's environment */
	struct sl_db *db;         /* open on env */
	const char *flag;         /* for the gate provider's cohort */
	const char *const *proc_env;  /* extra NAME=value for command providers */
	/* connections to other environments, opened on first use */
	struct sl_db **other;
	char **other_names;
	size_t nother;
};
void sl_measure_ctx_close(struct sl_measure_ctx *c);

/* One measurement of one metric. */
struct sl_measurement {
	const char *metric;       /* name (borrowed) */
	enum sl_outcome outcome;
	double value;             /* the first value, NaN when none */
	size_t nvalues;
	char *detail;             /* one line: values, condition, error or judgement */
};
void sl_measurement_free(struct sl_measurement *m);

/*
 * Measure every metric of a once.  out gets one entry per threshold metric,
 * then one for "canary" when there are comparison metrics (nout is set).
 * Provider failures are error measurements, not a failure of this call;
 * -1 only for out-of-memory-like trouble.
 */
int sl_analysis_measure(const struct sl_analysis *a, struct sl_measure_ctx *c,
			struct sl_measurement **out, size_t *nout, struct sl_error *err);

/* The limits that apply to measurement i of an sl_analysis_measure round. */
void sl_analysis_limits(const struct sl_analysis *a, size_t i, long *failure_limit,
			long *inconclusive_limit, long *consecutive_error_limit);

#endif
