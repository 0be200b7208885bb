/*
 * pipeline.c - load and run `pipeline.stages` (see pipeline.h).
 */
#include "pipeline.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/proc.h"
#include "../core/yaml.h"
#include "../db/db.h"
#include "../migrate/migrate.h"
#include "../analyze/lint.h"
#include "../analyze/plan.h"
#include "../contract/contract.h"
#include "../quality/gate.h"
#include "../model/impact.h"
#include "../deploy/deploy.h"
#include "../deploy/expand.h"
#include "../deploy/flag.h"
#include "../deploy/rollout.h"

#include <math.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- built-in steps ----------------------------------------------------- */

static const char *const env_args[] = { "env", NULL };
static const char *const migrate_args[] = { "env", "to", "group", NULL };
static const char *const lint_args[] = { "env", "forward_only", NULL };
static const char *const gate_args[] = { "env", "table", NULL };

static int check_map_args(const struct sl_ydoc *doc, const struct sl_ynode *args,
			  const char *const *allowed, const char *what, struct sl_error *err)
{
	if (!args || sl_ynode_is_null(args))
		return 0;
	if (args->type != SL_Y_MAP)
		return sl_ynode_err(doc, args, err, "expected a mapping of arguments for '%s', found %s",
				    what, sl_ynode_type_name(args));
	if (sl_ymap_check_keys(doc, args, allowed, what, err))
		return -1;
	for (size_t i = 0; i < args->n; i++) {
		const char *s;
		if (!strcmp(args->keys[i]->scalar, "phases"))   /* a list, checked by its step */
			continue;
		if (sl_ynode_str(doc, args->items[i], args->keys[i]->scalar, &s, err))
			return -1;
	}
	return 0;
}

static const char *arg_str(const struct sl_ynode *args, const char *key)
{
	const struct sl_ynode *n = sl_ymap_get(args, key);
	return n && n->type == SL_Y_SCALAR ? n->scalar : NULL;
}

static int check_env(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	return check_map_args(doc, args, env_args, "validate", err);
}

static int check_migrate(const struct sl_ydoc *doc, const struct sl_ynode *args,
			 struct sl_error *err)
{
	return check_map_args(doc, args, migrate_args, "migrate", err);
}

static int check_lint(const struct sl_ydoc *doc, const struct sl_ynode *args,
		      struct sl_error *err)
{
	if (check_map_args(doc, args, lint_args, "lint", err))
		return -1;
	const struct sl_ynode *fo = sl_ymap_get(args, "forward_only");
	int b;
	return fo ? sl_ynode_bool(doc, fo, "forward_only", &b, err) : 0;
}

static int check_gate(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	return check_map_args(doc, args, gate_args, "gate", err);
}

static int check_run(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	const char *s;
	if (!args)
		return sl_ynode_err(doc, args, err, "'run' needs a command");
	return sl_ynode_str(doc, args, "run", &s, err);
}

static int load_step(const struct sl_ydoc *doc, const struct sl_ynode *n, struct sl_pstep *out,
		     struct sl_error *err);

static int open_env(const struct sl_run_opts *o, const struct sl_stage *stage,
		    const struct sl_pstep *step, struct sl_db **db, struct sl_engine *eng,
		    char **env_name, struct sl_error *err)
{
	const char *env = arg_str(step->args, "env");
	if (!env)
		env = stage->env;
	if (!env)
		env = o->env_override;
	char *masked = NULL;
	int rc = sl_engine_open(o->cfg, env, o->url_override, o->lock_timeout_ms, db, eng,
				env_name, &masked, err);
	free(masked);
	return rc;
}

static int step_validate(const struct sl_run_opts *o, const struct sl_stage *stage,
			 const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db;
	struct sl_engine eng;
	struct sl_status st;
	char *env = NULL;
	int rc = -1;
	if (open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	if (sl_validate(&eng, &st, err))
		goto out;
	size_t blocking = sl_status_blocking(&eng, &st);
	if (blocking) {
		for (size_t i = 0; i < st.np; i++)
			if (!(eng.out_of_order && strcmp(st.p[i].kind, "out_of_order") == 0)) {
				sl_err(err, SL_FAILED, "%s", st.p[i].message);
				break;
			}
	} else {
		size_t pending = 0, applied = 0;
		for (size_t i = 0; i < st.n; i++) {
			pending += st.e[i].state == SL_ST_PENDING;
			applied += st.e[i].state == SL_ST_APPLIED;
		}
		sl_buf_printf(detail, "%s: %zu applied, %zu pending, no problems", env, applied, pending);
		rc = 0;
	}
	sl_status_free(&st);
out:
	sl_db_close(db);
	free(env);
	return rc;
}

static int step_migrate(const struct sl_run_opts *o, const struct sl_stage *stage,
			const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db;
	struct sl_engine eng;
	char *env = NULL;
	int rc = -1;
	if (open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	const char *g = arg_str(step->args, "group");
	if (g && (!strcmp(g, "true") || !strcmp(g, "yes") || !strcmp(g, "on")))
		eng.group = 1;
	struct sl_run_result res;
	rc = sl_migrate(&eng, arg_str(step->args, "to"), 0, &res, err);
	if (rc == 0)
		sl_buf_printf(detail, "%s: applied %zu migration(s), now at version %s", env,
			      res.nsteps, res.current ? res.current : "none");
	sl_run_result_free(&res);
out:
	sl_db_close(db);
	free(env);
	return rc;
}

/*
 * Lint the pending migrations of the step's environment.  The seed's
 * "no-breaking-changes" check is this in forward-only mode: any
 * destructive or backward-incompatible change fails it.
 */
static int lint_step(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, int forward_only, const char *only_rule,
		     struct sl_buf *detail, struct sl_error *err)
{
	struct sl_contracts contracts;
	memset(&contracts, 0, sizeof(contracts));
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_lint_config lc;
	struct sl_linter *l = NULL;
	char *env = NULL;
	size_t files = 0;
	int rc = -1;
	memset(&lc, 0, sizeof(lc));
	const struct sl_ynode *root = o->cfg->doc ? o->cfg->doc->root : NULL;
	if (sl_lint_config_load(&lc, o->cfg->doc, sl_ymap_get(root, "lint"), err))
		goto out;
	const char *fo = arg_str(step->args, "forward_only");
	if (forward_only || (fo && (!strcmp(fo, "true") || !strcmp(fo, "yes") || !strcmp(fo, "on"))))
		lc.forward_only = 1;
	l = sl_linter_new(&lc);
	if (sl_contracts_load(&contracts, o->cfg->features_dir, o->cfg->models_dir, err))
		goto out;
	sl_linter_set_contracts(l, &contracts);
	if (open_env(o, stage, step, &db, &eng, &env, err) || sl_lint_pending(l, &eng, &files, err))
		goto out;
	size_t n, nerr = sl_linter_count(l, SL_SEV_ERROR);
	const struct sl_finding *f = sl_linter_findings(l, &n);
	if (only_rule) {
		/* a check of one rule: any finding of it fails, whatever its severity */
		size_t hits = 0, first = 0;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i].rule->id, only_rule) && !hits++)
				first = i;
		if (hits) {
			sl_err_at(err, SL_FAILED, f[first].file, f[first].line, f[first].column,
				  "[%s] %s%s", only_rule, f[first].message,
				  hits > 1 ? " (and more: run 'sluice lint')" : "");
			sl_err_hint(err, "%s", f[first].rule->hint);
			goto out;
		}
		sl_buf_printf(detail, "%s: %zu pending file(s), no %s findings", env, files, only_rule);
		rc = 0;
		goto out;
	}
	if (nerr) {
		for (size_t i = 0; i < n; i++)
			if (f[i].severity == SL_SEV_ERROR) {
				sl_err_at(err, SL_FAILED, f[i].file, f[i].line, f[i].column, "[%s] %s%s",
					  f[i].rule->id, f[i].message,
					  nerr > 1 ? " (and more errors: run 'sluice lint')" : "");
				sl_err_hint(err, "%s", f[i].rule->hint);
				break;
			}
		goto out;
	}
	sl_buf_printf(detail, "%s: %zu pending file(s), %zu warning(s), %zu info%s", env, files,
		      sl_linter_count(l, SL_SEV_WARNING), sl_linter_count(l, SL_SEV_INFO),
		      lc.forward_only ? " (forward-only)" : "");
	rc = 0;
out:
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(db);
	free(env);
	return rc;
}

static int step_lint(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return lint_step(o, stage, step, 0, NULL, detail, err);
}

static int step_feature_docs(const struct sl_run_opts *o, const struct sl_stage *stage,
			     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return lint_step(o, stage, step, 0, "feature-documentation-complete", detail, err);
}

static int step_bias_required(const struct sl_run_opts *o, const struct sl_stage *stage,
			      const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return lint_step(o, stage, step, 0, "bias-assessment-required", detail, err);
}

static int step_no_breaking(const struct sl_run_opts *o, const struct sl_stage *stage,
			    const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return lint_step(o, stage, step, 1, NULL, detail, err);
}

/*
 * `plan`: apply the pending migrations to a shadow and classify the
 * changes; with forward_only (argument or lint mode) a breaking or
 * destructive change fails the step.  The environment is only read.
 */
static int plan_step(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, int models_only, struct sl_buf *detail,
		     struct sl_error *err)
{
	struct sl_contracts contracts;
	memset(&contracts, 0, sizeof(contracts));
	struct sl_db *db = NULL, *scratch = NULL;
	struct sl_engine eng;
	struct sl_lint_config lc;
	struct sl_plan plan;
	char *env = NULL;
	int rc = -1;
	memset(&lc, 0, sizeof(lc));
	memset(&plan, 0, sizeof(plan));
	const struct sl_ynode *root = o->cfg->doc ? o->cfg->doc->root : NULL;
	if (sl_lint_config_load(&lc, o->cfg->doc, sl_ymap_get(root, "lint"), err))
		goto out;
	const char *fo = arg_str(step->args, "forward_only");
	if (fo && (!strcmp(fo, "true") || !strcmp(fo, "yes") || !strcmp(fo, "on")))
		lc.forward_only = 1;
	if (sl_contracts_load(&contracts, o->cfg->features_dir, o->cfg->models_dir, err) ||
	    open_env(o, stage, step, &db, &eng, &env, err) ||
	    sl_plan_open_scratch(o->cfg, o->url_override ? NULL : env, NULL, &scratch, err) ||
	    sl_plan_compute(&eng, scratch, &plan, err))
		goto out;
	size_t nb = sl_plan_count(&plan, SL_CH_BREAKING), nd = sl_plan_count(&plan, SL_CH_DESTRUCTIVE);
	size_t nm = sl_plan_contracts(&plan, &contracts);
	if (nm) {
		for (size_t i = 0; i < plan.n; i++) {
			const struct sl_change *c = &plan.v[i];
			if (!c->models.n || c->cls == SL_CH_SAFE || !strcmp(c->kind, "add column"))
				continue;
			struct sl_buf models = SL_BUF_INIT;
			for (size_t k = 0; k < c->models.n; k++)
				sl_buf_printf(&models, "%s%s", k ? ", " : "", c->models.v[k]);
			sl_err(err, SL_FAILED, "%s %s breaks %s (%s)%s", c->kind, c->object, models.s,
			       c->detail, nm > 1 ? "; and more: run 'sluice plan'" : "");
			sl_buf_free(&models);
			break;
		}
		goto out;
	}
	if (models_only) {
		size_t nmod = 0;
		for (size_t i = 0; i < plan.n; i++)
			nmod += plan.v[i].models.n != 0;
		sl_buf_printf(detail, "%s: %zu pending, %zu model version(s) checked, %zu change(s) "
			      "touch model inputs, none breaking", env, plan.pending,
			      contracts.nmodels, nmod);
		rc = 0;
		goto out;
	}
	if (lc.forward_only && (nb || nd)) {
		for (size_t i = 0; i < plan.n; i++)
			if (plan.v[i].cls != SL_CH_SAFE) {
				sl_err(err, SL_FAILED, "%s %s %s (%s)%s", sl_change_class_name(plan.v[i].cls),
				       plan.v[i].kind, plan.v[i].object, plan.v[i].detail,
				       nb + nd > 1 ? "; and more: run 'sluice plan'" : "");
				break;
			}
		goto out;
	}
	sl_buf_printf(detail, "%s: %zu pending, %zu change(s): %zu safe, %zu breaking, %zu destructive",
		      env, plan.pending, plan.n, sl_plan_count(&plan, SL_CH_SAFE), nb, nd);
	rc = 0;
out:
	sl_plan_free(&plan);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(scratch);
	sl_db_close(db);
	free(env);
	return rc;
}

static int step_plan(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return plan_step(o, stage, step, 0, detail, err);
}

static int step_model_compat(const struct sl_run_opts *o, const struct sl_stage *stage,
			     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return plan_step(o, stage, step, 1, detail, err);
}

/*
 * The data gates of the feature contracts (one table's, with {table}); a
 * step that names a family runs only those gates: "data-drift-threshold"
 * the drift gate, "bias-ratio-threshold" the fairness gates,
 * "feature-quality-checks" every other gate (schema, completeness, validity,
 * uniqueness, freshness, consistency, accuracy, feature_quality).
 */
static int gate_step(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, const char *family, struct sl_buf *detail,
		     struct sl_error *err)
{
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_contracts contracts;
	struct sl_gate_report rep;
	char *env = NULL;
	int rc = -1;
	memset(&contracts, 0, sizeof(contracts));
	memset(&rep, 0, sizeof(rep));
	const char *table = arg_str(step->args, "table");
	if (sl_contracts_load(&contracts, o->cfg->features_dir, o->cfg->models_dir, err) ||
	    open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	struct sl_gate_opts go = { 0, NULL, &contracts, NULL, NULL };
	size_t tables = 0;
	for (size_t i = 0; i < contracts.nfeatures; i++) {
		if (table && !sl_table_is(contracts.features[i].table, table))
			continue;
		tables++;
		if (sl_gates_run(db, &contracts.features[i], &go, &rep, err))
			goto out;
	}
	if (!tables) {
		sl_err(err, SL_USAGE, "no feature contract%s%s in %s", table ? " for table " : "s",
		       table ? table : "", o->cfg->features_dir);
		goto out;
	}
	size_t run = 0;
	for (size_t i = 0; i < rep.n; i++) {
		const struct sl_gate_result *g = &rep.v[i];
		int in = !family || (!strcmp(family, "drift") ? !strcmp(g->gate, "drift")
				     : !strcmp(family, "fairness") ? !strcmp(g->gate, "fairness")
				     : strcmp(g->gate, "drift") && strcmp(g->gate, "fairness"));
		if (!in)
			continue;
		run++;
		if (!g->passed) {
			sl_err(err, SL_FAILED, "gate %s%s%s of %s: %.4g %s %.4g%s", g->gate,
			       g->subject ? " " : "", g->subject ? g->subject : "", g->table, g->score,
			       g->higher_is_better ? "<" : ">", g->threshold,
			       sl_gate_failed(&rep) > 1 ? " (and more: run 'sluice gate')" : "");
			sl_err_hint(err, "sluice gate %s --explain shows the rows and the SQL", g->table);
			goto out;
		}
	}
	sl_buf_printf(detail, "%s: %zu gate(s) on %zu table(s) passed", env, run, tables);
	rc = 0;
out:
	sl_gate_report_free(&rep);
	sl_contracts_free(&contracts);
	sl_db_close(db);
	free(env);
	return rc;
}

static int step_gate(const struct sl_run_opts *o, const struct sl_stage *stage,
		     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return gate_step(o, stage, step, NULL, detail, err);
}

static int step_quality(const struct sl_run_opts *o, const struct sl_stage *stage,
			const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return gate_step(o, stage, step, "quality", detail, err);
}

static int step_drift(const struct sl_run_opts *o, const struct sl_stage *stage,
		      const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return gate_step(o, stage, step, "drift", detail, err);
}

static int step_fairness(const struct sl_run_opts *o, const struct sl_stage *stage,
			 const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return gate_step(o, stage, step, "fairness", detail, err);
}

/* ---- baselines and the model-impact gate ---- */

static const char *const capture_args[] = { "env", "table", "name", NULL };
static const char *const impact_args[] = { "env", "model", "baseline", "baseline_env", "max_drop",
					   "min_score", NULL };

static int check_capture(const struct sl_ydoc *doc, const struct sl_ynode *args,
			 struct sl_error *err)
{
	return check_map_args(doc, args, capture_args, "baseline-capture", err);
}

/* A threshold as the seed writes it: 0.02, "<= 0.02", ">= 0.90". */
static int threshold_of(const char *s, double *out)
{
	while (*s == ' ' || *s == '<' || *s == '>' || *s == '=')
		s++;
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int check_impact(const struct sl_ydoc *doc, const struct sl_ynode *args,
			struct sl_error *err)
{
	double v;
	if (args && args->type == SL_Y_SCALAR && !sl_ynode_is_null(args)) {
		if (threshold_of(args->scalar, &v))
			return sl_ynode_err(doc, args, err, "expected a threshold such as 0.02, '<= 0.02' "
					    "or '>= 0.90', not '%s'", args->scalar);
		return 0;
	}
	if (check_map_args(doc, args, impact_args, "model impact", err))
		return -1;
	static const char *const nums[] = { "max_drop", "min_score", NULL };
	for (int i = 0; nums[i]; i++) {
		const struct sl_ynode *n = sl_ymap_get(args, nums[i]);
		if (n && threshold_of(n->scalar, &v))
			return sl_ynode_err(doc, n, err, "expected a number for '%s'", nums[i]);
	}
	return 0;
}

static int step_capture(const struct sl_run_opts *o, const struct sl_stage *stage,
			const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_contracts contracts;
	struct sl_status st;
	char *env = NULL;
	json_t *profiles = json_array(), *sets = json_array();
	int rc = -1, have_st = 0;
	memset(&contracts, 0, sizeof(contracts));
	const char *name = arg_str(step->args, "name");
	if (sl_contracts_load(&contracts, o->cfg->features_dir, o->cfg->models_dir, err) ||
	    open_env(o, stage, step, &db, &eng, &env, err) || sl_status_compute(&eng, &st, err))
		goto out;
	have_st = 1;
	if (sl_capture_baselines(db, &contracts, arg_str(step->args, "table"),
				 name ? name : "default", st.current, profiles, sets, err))
		goto out;
	sl_buf_printf(detail, "%s: %zu baseline(s), %zu training set(s) at version %s", env,
		      json_array_size(profiles), json_array_size(sets),
		      st.current ? st.current : "none");
	rc = 0;
out:
	if (have_st)
		sl_status_free(&st);
	json_decref(profiles);
	json_decref(sets);
	sl_contracts_free(&contracts);
	sl_db_close(db);
	free(env);
	return rc;
}

enum impact_kind { IMPACT_RETRAIN, IMPACT_DROP, IMPACT_SCORE };

/*
 * The model-impact gate over every labelled model contract (or {model}):
 * "model-training-with-new-features" retrains the proxy on the changed
 * rows, "model-performance-drop" adds the stored predictions and takes a
 * max_drop, "model-impact-score" judges the Model Impact Score only.
 */
static int impact_step(const struct sl_run_opts *o, const struct sl_stage *stage,
		       const struct sl_pstep *step, enum impact_kind kind, struct sl_buf *detail,
		       struct sl_error *err)
{
	struct sl_db *db = NULL, *bdb = NULL;
	struct sl_engine eng, beng;
	struct sl_contracts contracts;
	char *env = NULL, *benv = NULL, *bmask = NULL;
	int rc = -1;
	memset(&contracts, 0, sizeof(contracts));
	struct sl_impact_opts io = { NULL, NULL, NULL, NULL, -1, -1, -1, kind != IMPACT_SCORE };
	const struct sl_ynode *a = step->args;
	double t = -1;
	if (a && a->type == SL_Y_SCALAR && !sl_ynode_is_null(a))
		(void)threshold_of(a->scalar, &t);
	const char *model = arg_str(a, "model");
	io.baseline_name = arg_str(a, "baseline");
	const char *bname = arg_str(a, "baseline_env");
	if (arg_str(a, "max_drop"))
		(void)threshold_of(arg_str(a, "max_drop"), &t);
	if (arg_str(a, "min_score"))
		(void)threshold_of(arg_str(a, "min_score"), &t);
	if (kind == IMPACT_SCORE)
		io.min_score = t;
	else
		io.max_drop = t;
	if (sl_contracts_load(&contracts, o->cfg->features_dir, o->cfg->models_dir, err) ||
	    open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	if (bname) {
		if (sl_engine_open(o->cfg, bname, NULL, o->lock_timeout_ms, &bdb, &beng, &benv,
				   &bmask, err))
			goto out;
		io.baseline_db = bdb;
		io.baseline_label = bname;
	}
	size_t n = 0;
	double worst = NAN;
	for (size_t i = 0; i < contracts.nmodels; i++) {
		const struct sl_model_contract *m = &contracts.models[i];
		if ((model && strcmp(m->name, model)) || !m->label)
			continue;
		json_t *r;
		int passed;
		if (sl_impact_model(db, &contracts, m, &io, &r, &passed, err))
			goto out;
		n++;
		const char *why = NULL;
		json_t *f = json_object_get(r, "failures");
		if (!json_is_true(json_object_get(r, "compatible"))) {
			why = "incompatible with the live schema";
		} else if (kind == IMPACT_SCORE) {
			double sc = json_number_value(json_object_get(r, "impact_score"));
			double min = json_number_value(json_object_get(r, "impact_min"));
			if (json_is_number(json_object_get(r, "impact_score")) && sc < min) {
				sl_err(err, SL_FAILED, "model %s v%s: Model Impact Score %.4f < %.2f", m->name,
				       m->version, sc, min);
				json_decref(r);
				goto out;
			}
			if (isnan(worst) || sc < worst)
				worst = sc;
		} else {
			for (size_t k = 0; k < json_array_size(f) && !why; k++) {
				const char *s = json_string_value(json_array_get(f, k));
				if (kind == IMPACT_DROP || strncmp(s, "stored", 6))
					why = s;
			}
			double d = json_number_value(json_object_get(r, "drop"));
			if (isnan(worst) || d > worst)
				worst = d;
		}
		if (why) {
			sl_err(err, SL_FAILED, "model %s v%s: %s", m->name, m->version, why);
			sl_err_hint(err, "sluice impact %s shows the figures", m->name);
			json_decref(r);
			goto out;
		}
		json_decref(r);
	}
	if (!n) {
		sl_err(err, SL_USAGE, "no model contract with a label%s%s in %s", model ? " named " : "",
		       model ? model : "", o->cfg->models_dir);
		goto out;
	}
	if (kind == IMPACT_SCORE)
		sl_buf_printf(detail, "%s: %zu model version(s), lowest impact score %.3f", env, n, worst);
	else
		sl_buf_printf(detail, "%s: %zu model version(s), largest drop %+.4f", env, n, worst);
	rc = 0;
out:
	sl_contracts_free(&contracts);
	sl_db_close(bdb);
	sl_db_close(db);
	free(env);
	free(benv);
	free(bmask);
	return rc;
}

static int step_retrain(const struct sl_run_opts *o, const struct sl_stage *stage,
			const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return impact_step(o, stage, step, IMPACT_RETRAIN, detail, err);
}

static int step_perf_drop(const struct sl_run_opts *o, const struct sl_stage *stage,
			  const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return impact_step(o, stage, step, IMPACT_DROP, detail, err);
}

static int step_impact_score(const struct sl_run_opts *o, const struct sl_stage *stage,
			     const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	return impact_step(o, stage, step, IMPACT_SCORE, detail, err);
}

static int step_run(const struct sl_run_opts *o, const struct sl_stage *stage,
		    const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	(void)stage;
	const char *cmd = step->args->scalar;
	struct sl_proc_opts popts = {
		.dir = o->cfg->dir,
		.stdout_to_stderr = o->child_stdout_to_stderr,
	};
	struct sl_proc_result res;
	if (sl_proc_run(cmd, &popts, &res, err) != 0)
		return -1;
	if (res.exit_code == 0) {
		sl_proc_describe(&res, detail);
		return 0;
	}
	if (res.exit_code > 0)
		return sl_err(err, SL_FAILED, "'%s' exited %d", cmd, res.exit_code);
	return sl_err(err, SL_FAILED, "'%s' was killed by signal %d", cmd, res.signal);
}

/* ---- deploy ----------------------------------------------------------- */

static const char *const deploy_args[] = { "env", "to", "strategy", NULL };

static int check_deploy(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	if (check_map_args(doc, args, deploy_args, "deploy", err))
		return -1;
	const struct sl_ynode *s = args && args->type == SL_Y_MAP ? sl_ymap_get(args, "strategy") : NULL;
	if (s && (s->type != SL_Y_SCALAR || (strcmp(s->scalar, "standard") && strcmp(s->scalar, "forward-only") &&
					     strcmp(s->scalar, "expand-contract") && strcmp(s->scalar, "blue-green"))))
		return sl_ynode_err(doc, s, err, "unknown strategy (standard, forward-only, expand-contract, blue-green)");
	if (s && (!strcmp(s->scalar, "expand-contract") || !strcmp(s->scalar, "blue-green")) &&
	    sl_ymap_get(args, "to"))
		return sl_ynode_err(doc, s, err, "'%s' stages the next operations migration: no 'to'", s->scalar);
	return 0;
}

/*
 * expand-contract: `sluice expand` of the next operations migration;
 * blue-green: the same, then new sessions switched to the new shape (green
 * beside blue, blue kept for an instant `sluice switch old` until
 * `sluice complete`).
 */
static int step_expand(struct sl_engine *eng, const char *env, int blue_green, struct sl_buf *detail,
		       struct sl_error *err)
{
	struct sl_expand_opts xo;
	struct sl_expand_result r;
	sl_expand_opts_init(&xo);
	int rc = sl_expand(eng, &xo, &r, err);
	if (!rc) {
		sl_buf_printf(detail, "%s: version %s expanded (%ld rows backfilled), old shape %s, new shape %s",
			      env, r.version, r.backfilled, r.old_schema, r.new_schema);
		sl_expand_result_free(&r);
		if (blue_green && !(rc = sl_switch(eng, &xo, "new", &r, err))) {
			sl_buf_printf(detail, "; new sessions read %s (blue %s kept until complete)", r.new_schema,
				      r.old_schema);
			sl_expand_result_free(&r);
		}
	}
	return rc;
}

struct gates_arg {
	const struct sl_run_opts *o;
	const char *env;
};

static int deploy_gates(void *arg, const struct sl_ynode *gates, struct sl_buf *detail,
			struct sl_error *err)
{
	struct gates_arg *g = arg;
	return sl_pipeline_run_gates(g->o, g->env, gates, detail, err);
}

/* The guarded deploy of a step (strategy standard or forward-only). */
static int do_deploy(const struct sl_run_opts *o, struct sl_engine *eng, const char *env,
		     const char *to, const char *strategy, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_deploy_result res;
	memset(&res, 0, sizeof(res));
	struct gates_arg ga = { o, env };
	struct sl_deploy_opts d;
	memset(&d, 0, sizeof(d));
	d.cfg = o->cfg;
	d.env = env;
	d.to = to;
	d.strategy = strategy;
	d.gates = deploy_gates;
	d.arg = &ga;
	int rc = sl_deploy(eng, &d, &res, err);
	if (!rc && res.noop)
		sl_buf_printf(detail, "%s: nothing to deploy (at version %s)", env,
			      res.dep.to_version ? res.dep.to_version : "none");
	else if (!rc)
		sl_buf_printf(detail, "%s: deployment %s, %s -> %s, %zu migration(s), %ld ms", env, res.dep.id,
			      res.dep.from_version ? res.dep.from_version : "empty", res.dep.to_version,
			      res.applied.n, res.dep.duration_ms);
	else if (res.rolled_back)
		sl_err_prefix(err, "deployment %s rolled back in %ld ms: ", res.dep.id, res.rollback_ms);
	sl_deploy_result_free(&res);
	return rc;
}

static int step_deploy(const struct sl_run_opts *o, const struct sl_stage *stage,
		       const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db = NULL;
	struct sl_engine eng;
	char *env = NULL;
	int rc = -1;
	if (open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	const char *strategy = arg_str(step->args, "strategy");
	if (strategy && (!strcmp(strategy, "expand-contract") || !strcmp(strategy, "blue-green")))
		rc = step_expand(&eng, env, !strcmp(strategy, "blue-green"), detail, err);
	else
		rc = do_deploy(o, &eng, env, arg_str(step->args, "to"), strategy, detail, err);
out:
	free(env);
	sl_db_close(db);
	return rc;
}

/* ---- progressive rollout (production-rollout, canary-testing) ------------- */

static const char *const rollout_args[] = { "env", "to", "strategy", "flag", "phases", "deploy", NULL };
static const char *const canary_args[] = { "env", "flag", "traffic", "hold", NULL };

static int is_progressive(const char *strategy)
{
	return strategy && (!strcmp(strategy, "progressive") || !strcmp(strategy, "phased"));
}

static int check_rollout(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	if (check_map_args(doc, args, rollout_args, "production-rollout", err))
		return -1;
	if (!args || args->type != SL_Y_MAP)
		return 0;
	const struct sl_ynode *s = sl_ymap_get(args, "strategy");
	if (s && (s->type != SL_Y_SCALAR || (strcmp(s->scalar, "standard") && strcmp(s->scalar, "forward-only") &&
					     strcmp(s->scalar, "expand-contract") && strcmp(s->scalar, "blue-green") &&
					     !is_progressive(s->scalar))))
		return sl_ynode_err(doc, s, err, "unknown strategy (standard, forward-only, expand-contract, "
				    "blue-green, progressive, phased)");
	const struct sl_ynode *ph = sl_ymap_get(args, "phases");
	if (ph) {
		struct sl_phase *v;
		size_t n;
		if (sl_phases_load(doc, ph, &v, &n, err))
			return -1;
		free(v);
	}
	const struct sl_ynode *d = sl_ymap_get(args, "deploy");
	int yes;
	if (d && sl_ynode_bool(doc, d, "deploy", &yes, err))
		return -1;
	const struct sl_ynode *f = sl_ymap_get(args, "flag");
	struct sl_error e;
	if (f && (f->type != SL_Y_SCALAR || sl_flag_check_name(f->scalar, &e)))
		return sl_ynode_err(doc, f, err, "'flag' is a flag name");
	return 0;
}

/*
 * canary-testing's traffic and hold: "5% traffic" (the seed), or
 * {traffic: 5, hold: 15m}; the hold defaults to the first phase's of the
 * flag's rollout, else 15 minutes.
 */
static int canary_phase(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_phase *ph,
			int *have_hold, struct sl_error *err)
{
	struct sl_error e;
	ph->traffic_bp = 500;
	ph->hold_ms = 15 * 60 * 1000;
	*have_hold = 0;
	if (!args || sl_ynode_is_null(args))
		return 0;
	if (args->type == SL_Y_SCALAR) {
		/* "5% traffic", "5%", "5%: 10m" */
		char why[300];
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_adds(&b, args->scalar);
		int has_dur = 0;
		for (const char *c = args->scalar; *c; c++)
			if (*c == '%' && c[1])
				has_dur = strpbrk(c + 1, "0123456789") != NULL;
		if (!has_dur)
			sl_buf_adds(&b, " 15min");
		int rc = sl_phase_parse(b.s, ph, why, sizeof(why));
		sl_buf_free(&b);
		if (rc)
			return sl_ynode_err(doc, args, err, "%s", why);
		*have_hold = has_dur;
		return 0;
	}
	if (check_map_args(doc, args, canary_args, "canary-testing", err))
		return -1;
	const struct sl_ynode *t = sl_ymap_get(args, "traffic"), *h = sl_ymap_get(args, "hold");
	if (t && (t->type != SL_Y_SCALAR || sl_flag_parse_percent(t->scalar, &ph->traffic_bp, &e)))
		return sl_ynode_err(doc, t, err, "'traffic' is a percent (5, \"5%%\")");
	if (t && ph->traffic_bp == 0)
		return sl_ynode_err(doc, t, err, "canary traffic is above 0%%");
	if (h && (h->type != SL_Y_SCALAR || sl_parse_duration_ms(h->scalar, &ph->hold_ms) || ph->hold_ms < 0))
		return sl_ynode_err(doc, h, err, "'hold' is a duration (15m)");
	*have_hold = h != NULL;
	const struct sl_ynode *f = sl_ymap_get(args, "flag");
	if (f && (f->type != SL_Y_SCALAR || sl_flag_check_name(f->scalar, &e)))
		return sl_ynode_err(doc, f, err, "'flag' is a flag name");
	return 0;
}

static int check_canary(const struct sl_ydoc *doc, const struct sl_ynode *args, struct sl_error *err)
{
	struct sl_phase ph;
	int hh;
	return canary_phase(doc, args, &ph, &hh, err);
}

struct rollout_arg {
	const struct sl_run_opts *o;
	struct sl_engine *eng;
	const char *env;
};

static int pipeline_rollback(void *arg, const char *deployment, const char *reason, struct sl_error *err)
{
	struct rollout_arg *a = arg;
	struct sl_deploy_opts d;
	memset(&d, 0, sizeof(d));
	d.cfg = a->o->cfg;
	d.env = a->env;
	d.reason = reason;
	struct sl_deploy_result res;
	int rc = sl_rollback(a->eng, &d, deployment, NULL, &res, err);
	sl_deploy_result_free(&res);
	return rc;
}

static void pipeline_rollout_event(void *arg, const struct sl_rollout *r, const char *name,
				   const char *text)
{
	struct rollout_arg *a = arg;
	FILE *f = a->o->child_stdout_to_stderr ? stderr : stdout;
	/* the pipeline shows decisions, and measurements only when they are
	 * not successful ('sluice rollout status' has them all) */
	if (!strcmp(name, "sample") && strstr(text, " successful: "))
		return;
	char pct[SL_FLAG_PERCENT_LEN];
	sl_flag_format_percent(r->traffic_bp, pct);
	fprintf(f, "        %5s%% %-12s %s\n", pct, name, text);
	fflush(f);
}

/*
 * The rollout a step runs: the flag's `rollout:` of sluice.yaml (the flag
 * named, else the only one), its phases replaced by the step's when given.
 * Without a configured rollout the step names the flag and the phases, and
 * the rollout has no analysis (phases only).
 */
static int step_rollout_def(const struct sl_run_opts *o, const struct sl_ynode *args, const char *flag,
			    const struct sl_phase *one, const char *env, struct sl_rollout_def *def,
			    struct sl_error *err)
{
	const struct sl_ydoc *doc = o->cfg->doc;
	const struct sl_ynode *ph = args && args->type == SL_Y_MAP ? sl_ymap_get(args, "phases") : NULL;
	struct sl_error e;
	sl_error_clear(&e);
	if (sl_rollout_def_find(o->cfg, flag, def, &e)) {
		if (e.line) {          /* the rollout exists and is malformed */
			*err = e;
			return -1;
		}
		if (!flag || (!ph && !one)) {
			*err = e;
			sl_err_hint(err, "configure 'rollout:' in sluice.yaml or give the step 'flag' and 'phases'");
			return -1;
		}
		memset(def, 0, sizeof(*def));
		def->flag = sl_strdup(flag);
		def->rollback_deploy = 1;
		if (sl_analysis_load(doc, NULL, o->cfg, &def->analysis, err))
			return -1;
	}
	if (def->environment && strcmp(def->environment, env)) {
		sl_err(err, SL_USAGE, "the rollout of flag '%s' is for environment '%s'; this step runs on '%s'",
		       def->flag, def->environment, env);
		sl_err_hint(err, "give the step env: %s", def->environment);
		sl_rollout_def_free(def);
		return -1;
	}
	if (one) {
		free(def->phases);
		def->phases = sl_calloc(1, sizeof(*def->phases));
		def->phases[0] = *one;
		def->nphases = 1;
	} else if (ph) {
		free(def->phases);
		def->phases = NULL;
		if (sl_phases_load(doc, ph, &def->phases, &def->nphases, err)) {
			sl_rollout_def_free(def);
			return -1;
		}
	}
	return 0;
}

static int run_rollout(const struct sl_run_opts *o, struct sl_engine *eng, struct sl_db *db,
		       const char *env, const struct sl_rollout_def *def, struct sl_buf *detail,
		       struct sl_error *err)
{
	if (sl_flag_sqlite_register())
		return sl_err(err, SL_ENV, "cannot register the SQLite flag functions");
	struct rollout_arg ra = { o, eng, env };
	struct sl_rollout_opts ro;
	memset(&ro, 0, sizeof(ro));
	ro.cfg = o->cfg;
	ro.env = env;
	ro.time_scale = o->time_scale;
	ro.rollback = pipeline_rollback;
	ro.on_event = pipeline_rollout_event;
	ro.arg = &ra;
	struct sl_rollout r;
	int rc = sl_rollout_run(db, def, &ro, &r, err);
	if (!rc) {
		char pct[SL_FLAG_PERCENT_LEN];
		sl_flag_format_percent(r.traffic_bp, pct);
		sl_buf_printf(detail, "%srollout %s: flag %s at %s%% after %zu phase(s)", detail->len ? "; " : "",
			      r.id, r.flag, pct, r.nphases);
	}
	sl_rollout_free(&r);
	return rc;
}

static int step_production_rollout(const struct sl_run_opts *o, const struct sl_stage *stage,
				   const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db = NULL;
	struct sl_engine eng;
	char *env = NULL;
	int rc = -1;
	const struct sl_ynode *args = step->args;
	struct sl_rollout_def def;
	memset(&def, 0, sizeof(def));
	if (open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	const char *strategy = arg_str(args, "strategy"), *flag = arg_str(args, "flag");
	if (strategy && (!strcmp(strategy, "expand-contract") || !strcmp(strategy, "blue-green"))) {
		rc = step_expand(&eng, env, !strcmp(strategy, "blue-green"), detail, err);
		goto out;
	}
	int want = flag || sl_ymap_get(args, "phases") || is_progressive(strategy);
	const struct sl_ynode *dn = sl_ymap_get(args, "deploy");
	int deploy = 1;
	if (dn && sl_ynode_bool(o->cfg->doc, dn, "deploy", &deploy, err))
		goto out;
	/* the definition first: a bad one fails before anything is deployed */
	if (want && step_rollout_def(o, args, flag, NULL, env, &def, err))
		goto out;
	if (deploy && do_deploy(o, &eng, env, arg_str(args, "to"), is_progressive(strategy) ? NULL : strategy,
				detail, err))
		goto out;
	rc = want ? run_rollout(o, &eng, db, env, &def, detail, err) : 0;
out:
	sl_rollout_def_free(&def);
	free(env);
	sl_db_close(db);
	return rc;
}

static int step_canary(const struct sl_run_opts *o, const struct sl_stage *stage,
		       const struct sl_pstep *step, struct sl_buf *detail, struct sl_error *err)
{
	struct sl_db *db = NULL;
	struct sl_engine eng;
	char *env = NULL;
	int rc = -1, have_hold;
	struct sl_phase ph;
	struct sl_rollout_def def;
	memset(&def, 0, sizeof(def));
	const struct sl_ynode *args = step->args;
	if (canary_phase(o->cfg->doc, args, &ph, &have_hold, err) || open_env(o, stage, step, &db, &eng, &env, err))
		goto out;
	const char *flag = args && args->type == SL_Y_MAP ? arg_str(args, "flag") : NULL;
	/* the hold of the rollout's first phase unless the step sets one */
	struct sl_rollout_def cfgdef;
	struct sl_error e;
	if (!have_hold && !sl_rollout_def_find(o->cfg, flag, &cfgdef, &e)) {
		ph.hold_ms = cfgdef.phases[0].hold_ms;
		sl_rollout_def_free(&cfgdef);
	}
	if (step_rollout_def(o, args, flag, &ph, env, &def, err))
		goto out;
	rc = run_rollout(o, &eng, db, env, &def, detail, err);
out:
	sl_rollout_def_free(&def);
	free(env);
	sl_db_close(db);
	return rc;
}

/* Steps that change the database cannot be post-deploy gates. */
static const char *const writing_steps[] = {
	"migrate", "baseline-capture", "staging-deployment", "production-rollout", "canary-testing",
	"deploy", NULL
};

int sl_pipeline_run_gates(const struct sl_run_opts *o, const char *env, const struct sl_ynode *steps,
			  struct sl_buf *detail, struct sl_error *err)
{
	const struct sl_ydoc *doc = o->cfg->doc;
	struct sl_stage st;
	memset(&st, 0, sizeof(st));
	st.name = (char *)"post-deploy gates";
	st.env = (char *)env;
	int rc = 0, failed = 0;
	struct sl_error first;
	sl_error_clear(&first);
	for (size_t i = 0; i < steps->n; i++) {
		struct sl_pstep step;
		if (load_step(doc, steps->items[i], &step, err))
			return -1;
		for (size_t k = 0; writing_steps[k]; k++)
			if (!strcmp(step.def->name, writing_steps[k])) {
				sl_ynode_err(doc, steps->items[i], err,
					     "'%s' changes the database: it cannot be a post-deploy gate", step.def->name);
				free(step.label);
				return -1;
			}
		struct sl_buf one = SL_BUF_INIT;
		struct sl_error serr;
		sl_error_clear(&serr);
		int bad = step.def->run(o, &st, &step, &one, &serr);
		if (bad) {
			struct sl_buf why = SL_BUF_INIT;
			sl_error_format(&serr, &why);
			sl_buf_printf(detail, "%s%s: FAILED %s", detail->len ? "\n" : "", step.label, why.s);
			sl_buf_free(&why);
			if (!failed++)
				first = serr;
		} else {
			sl_buf_printf(detail, "%s%s: ok %s", detail->len ? "\n" : "", step.label, one.s);
		}
		sl_buf_free(&one);
		free(step.label);
	}
	if (failed) {
		struct sl_buf why = SL_BUF_INIT;
		sl_error_format(&first, &why);
		sl_err(err, first.code == SL_FAILED || !first.code ? SL_FAILED : first.code,
		       "post-deploy gate failed%s: %s", failed > 1 ? " (and more)" : "", why.s);
		sl_buf_free(&why);
		rc = -1;
	}
	return rc;
}

const struct sl_step_def sl_step_registry[] = {
	{ "validate", "checksums, missing files, order and syntax of pending migrations",
	  check_env, step_validate },
	{ "migrate", "apply pending migrations to an environment ({env, to})",
	  check_migrate, step_migrate },
	{ "lint", "lint pending migrations ({env, forward_only}); fails on error findings",
	  check_lint, step_lint },
	{ "no-breaking-changes", "lint pending migrations in forward-only mode ({env})",
	  check_env, step_no_breaking },
	{ "plan", "shadow-apply pending migrations and classify the changes ({env, forward_only}); "
	  "fails when a breaking change reaches a model's input", check_lint, step_plan },
	{ "feature-documentation-complete", "every column added to a table with a feature contract "
	  "is described there ({env})", check_env, step_feature_docs },
	{ "bias-assessment-required", "every protected attribute added has a fairness gate ({env})",
	  check_env, step_bias_required },
	{ "model-compatibility", "no pending change drops, renames or narrows a model contract's "
	  "input or label (shadow plan; {env})", check_env, step_model_compat },
	{ "gate", "every data gate of the feature contracts ({env, table})", check_gate, step_gate },
	{ "feature-quality-checks", "every data gate but fairness and drift ({env, table})",
	  check_gate, step_quality },
	{ "data-drift-threshold", "the drift gate against each table's baseline ({env, table})",
	  check_gate, step_drift },
	{ "bias-ratio-threshold", "the fairness gates of the protected columns ({env, table})",
	  check_gate, step_fairness },
	{ "baseline-capture", "store baselines and training sets of the contracts' tables "
	  "({env, table, name})", check_capture, step_capture },
	{ "model-training-with-new-features", "retrain each labelled model's proxy on the changed "
	  "rows; fails above max_drop ({env, model, baseline, baseline_env, max_drop})",
	  check_impact, step_retrain },
	{ "model-performance-drop", "proxy retraining and stored predictions; fails above max_drop "
	  "(\"<= 0.02\" or {env, model, baseline, baseline_env, max_drop})", check_impact,
	  step_perf_drop },
	{ "model-impact-score", "the seed's Model Impact Score; fails below min_score "
	  "(\">= 0.90\" or {env, model, baseline, baseline_env, min_score})", check_impact,
	  step_impact_score },
	{ "staging-deployment", "guarded deploy with rollback point, post-deploy gates and automatic "
	  "rollback ({env, to, strategy})", check_deploy, step_deploy },
	{ "canary-testing", "one rollout phase: the flag at a small share of traffic, held under the "
	  "rollout's analysis (\"5% traffic\" or {env, flag, traffic, hold})", check_canary, step_canary },
	{ "production-rollout", "the guarded deploy, then the flag's progressive rollout through its phases "
	  "with automatic rollback ({env, to, strategy, flag, phases, deploy})", check_rollout,
	  step_production_rollout },
	{ "deploy", "guarded deploy ({env, to, strategy})", check_deploy, step_deploy },
	{ "run", "an external command; its exit code decides", check_run, step_run },
	{ NULL, NULL, NULL, NULL },
};

/* ---- loading ------------------------------------------------------------ */

static const struct sl_step_def *find_step(const char *name)
{
	for (const struct sl_step_def *d = sl_step_registry; d->name; d++)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static int unknown_step(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *name,
			struct sl_error *err)
{
	struct sl_buf known = SL_BUF_INIT;
	for (const struct sl_step_def *d = sl_step_registry; d->name; d++)
		sl_buf_printf(&known, "%s%s", known.len ? ", " : "", d->name);
	sl_ynode_err(doc, n, err, "unknown step '%s'", name);
	sl_err_hint(err, "known steps: %s", known.s);
	sl_buf_free(&known);
	return -1;
}

static int load_step(const struct sl_ydoc *doc, const struct sl_ynode *n, struct sl_pstep *out,
		     struct sl_error *err)
{
	const char *name;
	const struct sl_ynode *args = NULL;
	memset(out, 0, sizeof(*out));
	if (n->type == SL_Y_SCALAR && !sl_ynode_is_null(n)) {
		name = n->scalar;
	} else if (n->type == SL_Y_MAP && n->n == 1) {
		name = n->keys[0]->scalar;
		args = n->items[0];
	} else {
		return sl_ynode_err(doc, n, err,
				    "a step is a name (validate) or a one-key mapping ({migrate: {env: dev}})");
	}
	const struct sl_step_def *d = find_step(name);
	if (!d)
		return unknown_step(doc, n, name, err);
	if (d->check && d->check(doc, args, err))
		return -1;
	out->def = d;
	out->node = n;
	out->args = args;
	struct sl_buf label = SL_BUF_INIT;
	sl_buf_adds(&label, name);
	if (args && args->type == SL_Y_SCALAR)
		sl_buf_printf(&label, " %s", args->scalar);
	else if (args && args->type == SL_Y_MAP)
		for (size_t i = 0; i < args->n; i++)
			sl_buf_printf(&label, " %s=%s", args->keys[i]->scalar,
				      args->items[i]->type == SL_Y_SCALAR ? args->items[i]->scalar : "...");
	out->label = sl_buf_detach(&label);
	return 0;
}

static const char *const pipeline_keys[] = { "name", "stages", NULL };
static const char *const stage_keys[] = { "name", "env", "steps", NULL };

/* An environment named at node must exist in cfg. */
static int check_env_name(const struct sl_ydoc *doc, const struct sl_ynode *node,
			  const struct sl_config *cfg, struct sl_error *err)
{
	if (!cfg || !node || node->type != SL_Y_SCALAR || sl_config_env(cfg, node->scalar, NULL))
		return 0;
	struct sl_error e2;
	sl_config_env(cfg, node->scalar, &e2); /* for the list of known ones */
	return sl_ynode_err(doc, node, err, "%s", e2.message);
}

int sl_pipeline_load(struct sl_pipeline *out, const struct sl_ydoc *doc,
		     const struct sl_ynode *node, const struct sl_config *cfg,
		     struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	out->doc = doc;
	const char *s;
	if (!node || node->type != SL_Y_MAP)
		return sl_ynode_err(doc, node, err, "expected a 'pipeline' mapping with 'stages'");
	if (sl_ymap_check_keys(doc, node, pipeline_keys, "pipeline", err))
		return -1;
	const struct sl_ynode *n = sl_ymap_get(node, "name");
	if (n && sl_ynode_str(doc, n, "name", &s, err))
		return -1;
	out->name = sl_strdup(n ? s : "pipeline");
	const struct sl_ynode *stages = sl_ymap_get(node, "stages");
	if (!stages || stages->type != SL_Y_SEQ) {
		sl_ynode_err(doc, stages ? stages : node, err, "expected a list of stages for 'stages'");
		goto fail;
	}
	out->stages = sl_calloc(stages->n ? stages->n : 1, sizeof(*out->stages));
	for (size_t i = 0; i < stages->n; i++) {
		const struct sl_ynode *sn = stages->items[i];
		struct sl_stage *st = &out->stages[out->nstages++];
		st->line = sn->line;
		if (sn->type != SL_Y_MAP) {
			sl_ynode_err(doc, sn, err, "a stage is a mapping with 'name' and 'steps'");
			goto fail;
		}
		if (sl_ymap_check_keys(doc, sn, stage_keys, "a stage", err))
			goto fail;
		n = sl_ymap_get(sn, "name");
		if (!n) {
			sl_ynode_err(doc, sn, err, "a stage needs a 'name'");
			goto fail;
		}
		if (sl_ynode_str(doc, n, "name", &s, err))
			goto fail;
		st->name = sl_strdup(s);
		for (size_t k = 0; k + 1 < out->nstages; k++)
			if (strcmp(out->stages[k].name, s) == 0) {
				sl_ynode_err(doc, n, err, "two stages are named '%s'", s);
				goto fail;
			}
		n = sl_ymap_get(sn, "env");
		if (n) {
			if (sl_ynode_str(doc, n, "env", &s, err) || check_env_name(doc, n, cfg, err))
				goto fail;
			st->env = sl_strdup(s);
		}
		const struct sl_ynode *steps = sl_ymap_get(sn, "steps");
		if (!steps || steps->type != SL_Y_SEQ || steps->n == 0) {
			sl_ynode_err(doc, steps ? steps : sn, err, "stage '%s' needs a non-empty list of 'steps'",
				     st->name);
			goto fail;
		}
		st->steps = sl_calloc(steps->n, sizeof(*st->steps));
		for (size_t k = 0; k < steps->n; k++) {
			if (load_step(doc, steps->items[k], &st->steps[k], err))
				goto fail;
			st->nsteps++;
			const struct sl_ynode *a = st->steps[k].args;
			if (a && a->type == SL_Y_MAP &&
			    check_env_name(doc, sl_ymap_get(a, "env"), cfg, err))
				goto fail;
		}
	}
	return 0;
fail:
	sl_pipeline_free(out);
	return -1;
}

void sl_pipeline_free(struct sl_pipeline *p)
{
	for (size_t i = 0; i < p->nstages; i++) {
		for (size_t k = 0; k < p->stages[i].nsteps; k++)
			free(p->stages[i].steps[k].label);
		free(p->stages[i].steps);
		free(p->stages[i].name);
		free(p->stages[i].env);
	}
	free(p->stages);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/* ---- running ------------------------------------------------------------ */

int sl_pipeline_run(const struct sl_pipeline *p, const struct sl_run_opts *o,
		    const struct sl_stage **failed_stage, struct sl_error *err)
{
	*failed_stage = NULL;
	for (size_t i = 0; i < p->nstages; i++) {
		const struct sl_stage *st = &p->stages[i];
		long t_stage = mono_ms();
		if (o->on_stage)
			o->on_stage(o->arg, st, 1, 1, 0);
		int ok = 1;
		for (size_t k = 0; k < st->nsteps && ok; k++) {
			const struct sl_pstep *step = &st->steps[k];
			struct sl_buf detail = SL_BUF_INIT;
			struct sl_error serr;
			sl_error_clear(&serr);
			long t0 = mono_ms();
			int rc = step->def->run(o, st, step, &detail, &serr);
			struct sl_step_outcome out = {
				st, step, rc == 0, mono_ms() - t0, detail.s, rc ? &serr : NULL
			};
			if (o->on_step)
				o->on_step(o->arg, &out);
			if (rc) {
				ok = 0;
				struct sl_buf why = SL_BUF_INIT;
				sl_error_format(&serr, &why);
				sl_err(err, SL_FAILED, "stage '%s' failed at step '%s': %s", st->name,
				       step->label, why.s);
				if (serr.hint[0])
					sl_err_hint(err, "%s", serr.hint);
				sl_buf_free(&why);
			}
			sl_buf_free(&detail);
		}
		if (o->on_stage)
			o->on_stage(o->arg, st, 0, ok, mono_ms() - t_stage);
		if (!ok) {
			*failed_stage = st;
			return -1;
		}
	}
	return 0;
}
