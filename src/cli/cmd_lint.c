/*
 * cmd_lint.c - `sluice lint [--forward-only] [--all] [FILE|DIR...]`: static
 * analysis of migrations with the PostgreSQL parser.  Default: the pending
 * migrations of the selected environment.  Exit 1 on an error finding.
 */
#include "cli.h"
#include "../contract/contract.h"
#include "../analyze/lint.h"
#include "../core/yaml.h"
#include "../observe/report.h"

#include <string.h>
#include <unistd.h>

static json_t *findings_json(const struct sl_linter *l)
{
	size_t n;
	const struct sl_finding *f = sl_linter_findings(l, &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		sl_json_set_str(o, "rule", f[i].rule->id);
		sl_json_set_str(o, "severity", sl_severity_name(f[i].severity));
		sl_json_set_str(o, "class", sl_rule_class_name(f[i].rule->cls));
		sl_json_set_str(o, "file", f[i].file);
		json_object_set_new(o, "line", json_integer(f[i].line));
		json_object_set_new(o, "column", json_integer(f[i].column));
		sl_json_set_str(o, "message", f[i].message);
		sl_json_set_str(o, "hint", f[i].rule->hint);
		json_array_append_new(a, o);
	}
	return a;
}

/* Findings are printed as they are found (see sl_linter_set_sink). */
static void print_text(const struct sl_finding *f, void *arg)
{
	const struct sl_ctx *ctx = arg;
	if (ctx->quiet && f->severity != SL_SEV_ERROR)
		return;
	printf("%s:%d:%d: %s [%s] %s\n", f->file, f->line, f->column, sl_severity_name(f->severity),
	       f->rule->id, f->message);
	if (!ctx->quiet)
		printf("  hint: %s\n", f->rule->hint);
}

static void print_github(const struct sl_finding *f, void *arg)
{
	struct sl_buf b = SL_BUF_INIT;
	sl_report_github(&b, f, 1);
	fputs(b.s, stdout);
	sl_buf_free(&b);
}

int cmd_lint(int argc, char **argv, struct sl_ctx *ctx)
{
	int forward_only = 0, all = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_FLAG, 0, "forward-only", &forward_only, NULL,
		  "destructive and backward-incompatible findings are errors" },
		{ SL_OPT_FLAG, 'a', "all", &all, NULL, "every migration, without a database" },
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
	struct sl_lint_config lc;
	memset(&lc, 0, sizeof(lc));
	struct sl_linter *l = NULL;
	struct sl_db *db = NULL;
	struct sl_contracts contracts;
	memset(&contracts, 0, sizeof(contracts));
	size_t files = 0;
	int have_cfg = args.n == 0 || ctx->config_path || access("sluice.yaml", F_OK) == 0;
	if (have_cfg && sl_ctx_config(ctx, &err))
		goto fail;
	if (ctx->cfg && ctx->cfg->doc && ctx->cfg->doc->root &&
	    sl_lint_config_load(&lc, ctx->cfg->doc, sl_ymap_get(ctx->cfg->doc->root, "lint"), &err))
		goto fail;
	if (forward_only)
		lc.forward_only = 1;
	l = sl_linter_new(&lc);
	if (ctx->cfg &&
	    sl_contracts_load(&contracts, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	sl_linter_set_contracts(l, &contracts);
	const char *fmt = ctx->format ? ctx->format : "text";
	int streaming = !strcmp(fmt, "github") || (!ctx->json && !strcmp(fmt, "text"));
	if (streaming)
		sl_linter_set_sink(l, !strcmp(fmt, "github") ? print_github : print_text, ctx);
	if (args.n) {
		for (size_t i = 0; i < args.n; i++)
			if (sl_lint_file(l, args.v[i], &files, &err))
				goto fail;
	} else if (all) {
		const char *dialect = "postgres";
		const struct sl_env *env = ctx->url ? NULL : sl_config_env(ctx->cfg, ctx->env_name, NULL);
		const char *url = ctx->url ? ctx->url : env ? env->url : "";
		if (strncmp(url, "sqlite", 6) == 0 || strncmp(url, "file:", 5) == 0)
			dialect = "sqlite";
		if (sl_lint_dir(l, ctx->cfg->migrations_dir, dialect, &files, &err))
			goto fail;
	} else {
		struct sl_engine eng;
		if (sl_ctx_open(ctx, &db, &eng, &err) || sl_lint_pending(l, &eng, &files, &err))
			goto fail;
	}
	size_t nerr = sl_linter_count(l, SL_SEV_ERROR), nwarn = sl_linter_count(l, SL_SEV_WARNING),
	       ninfo = sl_linter_count(l, SL_SEV_INFO);
	if (!strcmp(fmt, "sarif") || !strcmp(fmt, "junit")) {
		size_t n, nfiles;
		const struct sl_finding *f = sl_linter_findings(l, &n);
		if (!strcmp(fmt, "sarif")) {
			sl_cli_json(sl_report_sarif(SL_VERSION, sl_lint_rules, f, n));
		} else {
			struct sl_buf b = SL_BUF_INIT;
			const char *const *names = sl_linter_files(l, &nfiles);
			sl_report_junit(&b, "sluice lint", names, nfiles, f, n);
			fputs(b.s, stdout);
			sl_buf_free(&b);
		}
	} else if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_boolean(nerr == 0));
		sl_json_set_str(doc, "command", "lint");
		json_object_set_new(doc, "forward_only", json_boolean(lc.forward_only));
		json_object_set_new(doc, "files", json_integer((json_int_t)files));
		json_object_set_new(doc, "findings", findings_json(l));
		json_t *counts = json_object();
		json_object_set_new(counts, "error", json_integer((json_int_t)nerr));
		json_object_set_new(counts, "warning", json_integer((json_int_t)nwarn));
		json_object_set_new(counts, "info", json_integer((json_int_t)ninfo));
		json_object_set_new(doc, "counts", counts);
		sl_cli_json(doc);
	} else if (!strcmp(fmt, "text")) {
		if (!ctx->quiet)
			printf("lint: %zu file(s), %zu error(s), %zu warning(s), %zu info%s\n", files, nerr,
			       nwarn, ninfo, lc.forward_only ? " (forward-only)" : "");
	}
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(db);
	sl_strvec_free(&args);
	return nerr ? SL_FAILED : SL_OK;
fail:
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	sl_db_close(db);
	sl_strvec_free(&args);
	return sl_cli_fail(ctx, &err);
}
