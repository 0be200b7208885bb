/*
 * config.c - load and validate sluice.yaml (see config.h).
 */
#include "config.h"
#include "buf.h"
#include "error.h"
#include "yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const top_keys[] = {
	"project", "migrations", "environments", "default_environment",
	"out_of_order", "group", "lock_timeout", "pipeline", "lint", "features", "models",
	"deploy", "hooks", "rollout", NULL
};
static const char *const env_keys[] = { "url", "description", "shadow_url", "gates", "strategy", "hooks", NULL };

char *sl_path_resolve(const char *base, const char *path)
{
	if (path[0] == '/' || !base || !base[0] || strcmp(base, ".") == 0)
		return sl_strdup(path);
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_adds(&b, base);
	if (b.s[b.len - 1] != '/')
		sl_buf_addc(&b, '/');
	sl_buf_adds(&b, path);
	return sl_buf_detach(&b);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return sl_strdup(".");
	if (slash == path)
		return sl_strdup("/");
	return sl_strndup(path, (size_t)(slash - path));
}

int sl_parse_duration_ms(const char *s, long *out_ms)
{
	static const struct { const char *unit; long ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "sec", 1000 }, { "secs", 1000 },
		{ "second", 1000 }, { "seconds", 1000 }, { "m", 60000 },
		{ "min", 60000 }, { "mins", 60000 }, { "minute", 60000 },
		{ "minutes", 60000 }, { "h", 3600000 }, { "hr", 3600000 },
		{ "hour", 3600000 }, { "hours", 3600000 }, { "d", 86400000 },
		{ "day", 86400000 }, { "days", 86400000 }, { "", 1000 },
	};
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || v < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	size_t ulen = strlen(end);
	while (ulen && isspace((unsigned char)end[ulen - 1]))
		ulen--;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].unit) == ulen &&
		    strncasecmp(units[i].unit, end, ulen) == 0) {
			double ms = v * (double)units[i].ms;
			if (ms > 9.0e15)
				return -1;
			*out_ms = (long)(ms + 0.5);
			return 0;
		}
	}
	return -1;
}

int sl_expand_vars(const char *s, struct sl_buf *out, char *missing, size_t missing_len)
{
	while (*s) {
		if (s[0] == '$' && s[1] == '{') {
			const char *close = strchr(s + 2, '}');
			if (close) {
				const char *name = s + 2;
				const char *dflt = strstr(name, ":-");
				size_t nlen = (size_t)(close - name);
				if (dflt && dflt < close)
					nlen = (size_t)(dflt - name);
				else
					dflt = NULL;
				char *var = sl_strndup(name, nlen);
				const char *val = getenv(var);
				if (val && *val) {
					sl_buf_adds(out, val);
				} else if (dflt) {
					sl_buf_add(out, dflt + 2, (size_t)(close - dflt - 2));
				} else {
					if (missing && missing_len)
						snprintf(missing, missing_len, "%s", var);
					free(var);
					return -1;
				}
				free(var);
				s = close + 1;
				continue;
			}
		}
		sl_buf_addc(out, *s++);
	}
	return 0;
}

struct sl_config *sl_config_default(const char *dir)
{
	struct sl_config *cfg = sl_calloc(1, sizeof(*cfg));
	cfg->path = sl_strdup("");
	cfg->dir = sl_strdup(dir ? dir : ".");
	cfg->project = sl_strdup("");
	cfg->migrations_dir = sl_path_resolve(cfg->dir, "migrations");
	cfg->features_dir = sl_path_resolve(cfg->dir, "features");
	cfg->models_dir = sl_path_resolve(cfg->dir, "models");
	cfg->lock_timeout_ms = -1;
	return cfg;
}

void sl_config_free(struct sl_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nenvs; i++) {
		free(cfg->envs[i].name);
		free(cfg->envs[i].url);
		free(cfg->envs[i].shadow_url);
	}
	free(cfg->envs);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->project);
	free(cfg->migrations_dir);
	free(cfg->features_dir);
	free(cfg->models_dir);
	free(cfg->default_env);
	sl_ydoc_free(cfg->doc);
	free(cfg);
}

static int load_envs(struct sl_config *cfg, struct sl_ynode *envs, struct sl_error *err)
{
	const struct sl_ydoc *doc = cfg->doc;
	if (envs->type != SL_Y_MAP)
		return sl_ynode_err(doc, envs, err,
				    "expected a mapping of environment names for 'environments', found %s",
				    sl_ynode_type_name(envs));
	cfg->envs = sl_calloc(envs->n ? envs->n : 1, sizeof(*cfg->envs));
	for (size_t i = 0; i < envs->n; i++) {
		struct sl_ynode *v = envs->items[i];
		struct sl_ynode *url = v;
		const char *s;
		if (v->type == SL_Y_MAP) {
			if (sl_ymap_check_keys(doc, v, env_keys, "an environment", err))
				return -1;
			url = sl_ymap_get(v, "url");
			if (!url)
				return sl_ynode_err(doc, v, err,
						    "environment '%s' has no 'url'",
						    envs->keys[i]->scalar);
			struct sl_ynode *d = sl_ymap_get(v, "description");
			if (d && sl_ynode_str(doc, d, "description", &s, err))
				return -1;
		}
		if (sl_ynode_str(doc, url, "url", &s, err))
			return -1;
		struct sl_env *e = &cfg->envs[cfg->nenvs++];
		e->name = sl_strdup(envs->keys[i]->scalar);
		e->url = sl_strdup(s);
		e->line = url->line;
		e->column = url->column;
		e->node = v->type == SL_Y_MAP ? v : NULL;
		struct sl_ynode *sh = v->type == SL_Y_MAP ? sl_ymap_get(v, "shadow_url") : NULL;
		if (sh) {
			if (sl_ynode_str(doc, sh, "shadow_url", &s, err))
				return -1;
			e->shadow_url = sl_strdup(s);
			e->shadow_line = sh->line;
			e->shadow_column = sh->column;
		}
	}
	return 0;
}

int sl_config_load(struct sl_config **out, const char *path, struct sl_error *err)
{
	return sl_config_parse(out, path, NULL, 0, err);
}

int sl_config_parse(struct sl_config **out, const char *path, const char *data,
		    size_t len, struct sl_error *err)
{
	*out = NULL;
	struct sl_ydoc *doc;
	if (sl_yaml_load(&doc, path, data, len, err))
		return -1;
	struct sl_config *cfg = sl_calloc(1, sizeof(*cfg));
	cfg->doc = doc;
	cfg->path = sl_strdup(path);
	cfg->dir = dir_of(path);
	cfg->lock_timeout_ms = -1;
	struct sl_ynode *root = doc->root;
	const char *s;
	struct sl_ynode *n;

	if (!root || sl_ynode_is_null(root)) {
		sl_err_at(err, SL_USAGE, path, 1, 1, "the file is empty");
		sl_err_hint(err, "run 'sluice init' for a commented example");
		goto fail;
	}
	if (root->type != SL_Y_MAP) {
		sl_ynode_err(doc, root, err, "expected a mapping at the top level, found %s",
			     sl_ynode_type_name(root));
		goto fail;
	}
	if (sl_ymap_check_keys(doc, root, top_keys, "sluice.yaml", err))
		goto fail;

	n = sl_ymap_get(root, "project");
	if (n && sl_ynode_str(doc, n, "project", &s, err))
		goto fail;
	cfg->project = sl_strdup(n ? s : "");

	n = sl_ymap_get(root, "migrations");
	if (n && sl_ynode_str(doc, n, "migrations", &s, err))
		goto fail;
	cfg->migrations_dir = sl_path_resolve(cfg->dir, n ? s : "migrations");
	n = sl_ymap_get(root, "features");
	if (n && sl_ynode_str(doc, n, "features", &s, err))
		goto fail;
	cfg->features_dir = sl_path_resolve(cfg->dir, n ? s : "features");
	n = sl_ymap_get(root, "models");
	if (n && sl_ynode_str(doc, n, "models", &s, err))
		goto fail;
	cfg->models_dir = sl_path_resolve(cfg->dir, n ? s : "models");

	n = sl_ymap_get(root, "default_environment");
	if (n) {
		if (sl_ynode_str(doc, n, "default_environment", &s, err))
			goto fail;
		cfg->default_env = sl_strdup(s);
	}
	n = sl_ymap_get(root, "out_of_order");
	if (n && sl_ynode_bool(doc, n, "out_of_order", &cfg->out_of_order, err))
		goto fail;
	n = sl_ymap_get(root, "group");
	if (n && sl_ynode_bool(doc, n, "group", &cfg->group, err))
		goto fail;
	n = sl_ymap_get(root, "lock_timeout");
	if (n) {
		if (sl_ynode_str(doc, n, "lock_timeout", &s, err))
			goto fail;
		if (sl_parse_duration_ms(s, &cfg->lock_timeout_ms)) {
			sl_ynode_err(doc, n, err, "invalid duration '%s' for 'lock_timeout'", s);
			sl_err_hint(err, "write e.g. 60s, 2m or 500ms");
			goto fail;
		}
	}
	n = sl_ymap_get(root, "environments");
	if (n && load_envs(cfg, n, err))
		goto fail;
	if (cfg->default_env && !sl_config_env(cfg, cfg->default_env, NULL)) {
		n = sl_ymap_get(root, "default_environment");
		sl_ynode_err(doc, n, err, "default_environment '%s' is not among 'environments'",
			     cfg->default_env);
		goto fail;
	}
	n = sl_ymap_get(root, "pipeline");
	if (n && n->type != SL_Y_MAP) {
		sl_ynode_err(doc, n, err, "expected a mapping for 'pipeline', found %s",
			     sl_ynode_type_name(n));
		goto fail;
	}
	cfg->pipeline = n;
	*out = cfg;
	return 0;
fail:
	sl_config_free(cfg);
	return -1;
}

const struct sl_env *sl_config_env(const struct sl_config *cfg, const char *name,
				   struct sl_error *err)
{
	if (!name)
		name = cfg->default_env;
	if (!name && cfg->nenvs == 1)
		return &cfg->envs[0];
	if (name) {
		for (size_t i = 0; i < cfg->nenvs; i++)
			if (strcmp(cfg->envs[i].name, name) == 0)
				return &cfg->envs[i];
	}
	struct sl_buf list = SL_BUF_INIT;
	for (size_t i = 0; i < cfg->nenvs; i++)
		sl_buf_printf(&list, "%s%s", i ? ", " : "", cfg->envs[i].name);
	if (!cfg->nenvs)
		sl_err_at(err, SL_USAGE, cfg->path[0] ? cfg->path : NULL, 0, 0,
			  "no environments are configured");
	else if (name)
		sl_err_at(err, SL_USAGE, cfg->path[0] ? cfg->path : NULL, 0, 0,
			  "unknown environment '%s' (known: %s)", name, list.s);
	else
		sl_err_at(err, SL_USAGE, cfg->path[0] ? cfg->path : NULL, 0, 0,
			  "several environments are configured (%s): choose one with -e",
			  list.s);
	if (err && !cfg->nenvs)
		sl_err_hint(err, "add 'environments: {dev: {url: \"sqlite:dev.db\"}}' or pass --url");
	sl_buf_free(&list);
	return NULL;
}

static int expand_env(const struct sl_config *cfg, const struct sl_env *env, const char *raw,
		      int line, int column, struct sl_buf *out, struct sl_error *err)
{
	char missing[256];
	if (sl_expand_vars(raw, out, missing, sizeof(missing))) {
		sl_err_at(err, SL_USAGE, cfg->path, line, column,
			  "environment '%s': variable %s is not set", env->name, missing);
		sl_err_hint(err, "export %s, or write ${%s:-default}", missing, missing);
		return -1;
	}
	return 0;
}

int sl_config_env_url(const struct sl_config *cfg, const struct sl_env *env,
		      struct sl_buf *out, struct sl_error *err)
{
	return expand_env(cfg, env, env->url, env->line, env->column, out, err);
}

int sl_config_env_shadow_url(const struct sl_config *cfg, const struct sl_env *env,
			     struct sl_buf *out, struct sl_error *err)
{
	if (!env->shadow_url)
		return 0;
	return expand_env(cfg, env, env->shadow_url, env->shadow_line, env->shadow_column, out, err);
}

const char sl_config_template[] =
"# sluice.yaml - project configuration (docs/CONFIG.md lists every key)\n"
"\n"
"# A name for reports, metrics and the audit trail.\n"
"project: @NAME@\n"
"\n"
"# Where the versioned migrations live, relative to this file. Layouts:\n"
"#   Flyway         V1__create_users.sql, U1__create_users.sql (undo), R__views.sql\n"
"#   golang-migrate 0001_create_users.up.sql / 0001_create_users.down.sql\n"
"#   diesel         2024-01-01-000000_create_users/up.sql + down.sql\n"
"#   dbmate         20240101000000_create_users.sql with -- migrate:up / -- migrate:down\n"
"migrations: migrations\n"
"\n"
"# Feature contracts (one YAML file per table) and model contracts (one per\n"
"# model): lint, plan and the data gates read them (README: contracts).\n"
"features: features\n"
"models: models\n"
"\n"
"# Databases, by name (-e NAME). sqlite: paths are relative to this file.\n"
"# ${VAR} and ${VAR:-default} are read from the environment when used.\n"
"environments:\n"
"  dev:        {url: \"sqlite:dev.db\"}\n"
"  staging:    {url: \"${STAGING_DATABASE_URL:-postgres://localhost/staging}\"}\n"
"  production: {url: \"${PROD_DATABASE_URL}\"}\n"
"default_environment: dev\n"
"\n"
"# Allow applying a pending version older than the newest applied one.\n"
"out_of_order: false\n"
"\n"
"# How long a second sluice waits for the migration lock before exit 3.\n"
"lock_timeout: 60s\n"
"\n"
"# `sluice run` runs these stages in order and stops at the first failure.\n"
"pipeline:\n"
"  name: @NAME@-ci\n"
"  stages:\n"
"    - name: validate\n"
"      steps: [validate]\n"
"    - name: migrate-dev\n"
"      steps:\n"
"        - migrate: {env: dev}\n"
"    # once features/ holds contracts: the data gates after each migration\n"
"    # - name: data-gates\n"
"    #   steps: [feature-quality-checks, bias-ratio-threshold]\n";
