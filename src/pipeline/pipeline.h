/*
 * pipeline.h - `sluice run`: stages of steps, run in order, stopping at the
 * first failing stage.
 *
 * A step is a built-in found by name in a registry (validate, migrate, run
 * for now); later capabilities register their checks and gates there.  In
 * YAML a step is a bare name ("validate") or a one-key mapping whose value
 * carries its arguments ({migrate: {env: dev}}, {run: "make smoke"}).
 *
 *   pipeline:
 *     name: recsys-ci
 *     stages:
 *       - name: migrate-dev
 *         env: dev                 # default environment of its steps
 *         steps: [validate, {migrate: {to: "3"}}, {run: "./smoke.sh"}]
 *
 * The whole definition is checked before any step runs, so a typo in the
 * last stage fails with file:line before the first stage touches anything.
 */
#ifndef SL_PIPELINE_H
#define SL_PIPELINE_H

#include <stddef.h>

struct sl_error;
struct sl_buf;
struct sl_config;
struct sl_ydoc;
struct sl_ynode;

struct sl_pstep {
	const struct sl_step_def *def;
	const struct sl_ynode *node;   /* the step as written */
	const struct sl_ynode *args;   /* its arguments (NULL for a bare name) */
	char *label;                   /* "migrate dev" */
};

struct sl_stage {
	char *name;
	char *env;                     /* NULL: the default environment */
	struct sl_pstep *steps;
	size_t nsteps;
	int line;
};

struct sl_pipeline {
	char *name;
	struct sl_stage *stages;
	size_t nstages;
	const struct sl_ydoc *doc;     /* borrowed: positions for errors */
};

/* Outcome of one step, for the renderer. */
struct sl_step_outcome {
	const struct sl_stage *stage;
	const struct sl_pstep *step;
	int ok;
	long ms;
	const char *detail;            /* one line of what happened */
	const struct sl_error *err;    /* when !ok */
};

struct sl_run_opts {
	const struct sl_config *cfg;   /* environments, migrations dir */
	const char *env_override;      /* -e given on the command line */
	const char *url_override;      /* --url */
	long lock_timeout_ms;
	int child_stdout_to_stderr;    /* JSON mode: keep stdout for the document */
	double time_scale;             /* rollouts: durations divided by it (>= 1; 0: 1) */
	void (*on_stage)(void *arg, const struct sl_stage *stage, int begin, int ok, long ms);
	void (*on_step)(void *arg, const struct sl_step_outcome *o);
	void *arg;
};

struct sl_step_def {
	const char *name;
	const char *summary;
	/* Check the arguments at load time (may be NULL). */
	int (*check)(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err);
	/* Run; fill detail with one line; 0 pass, -1 fail with err. */
	int (*run)(const struct sl_run_opts *o, const struct sl_stage *stage,
		   const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err);
};

extern const struct sl_step_def sl_step_registry[];

/*
 * Load and check a pipeline.  With cfg, every environment a stage or step
 * names must be one of cfg's (a typo in the last stage fails before the
 * first one runs); pass NULL when the database comes from --url.
 */
int sl_pipeline_load(struct sl_pipeline *out, const struct sl_ydoc *doc,
		     const struct sl_ynode *node, const struct sl_config *cfg,
		     struct sl_error *err);
void sl_pipeline_free(struct sl_pipeline *p);

/*
 * Run every stage.  Returns 0 when all passed; -1 with err naming the
 * failed stage (code SL_FAILED) otherwise.  *failed_stage points at it.
 */
int sl_pipeline_run(const struct sl_pipeline *p, const struct sl_run_opts *o,
		    const struct sl_stage **failed_stage, struct sl_error *err);

/*
 * Run steps (an environment's post-deploy `gates:` list, written like
 * pipeline steps) against env, every one even after a failure; detail
 * gets a line per step.  -1 with the first failure when any failed.
 * Steps that write (migrate, baseline-capture, deploys) are refused.
 */
int sl_pipeline_run_gates(const struct sl_run_opts *o, const char *env,
			  const struct sl_ynode *steps, struct sl_buf *detail,
			  struct sl_error *err);

#endif
