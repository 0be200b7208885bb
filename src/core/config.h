/*
 * config.h - sluice.yaml: the project configuration.
 *
 * The loader validates the whole file up front (unknown keys, wrong types)
 * so that a typo fails in CI before anything touches a database, with the
 * file:line:column of the culprit.  ${VAR} substitution in URLs is done
 * only when an environment is selected (sl_config_env_url), so a missing
 * PROD_DATABASE_URL does not break `sluice status -e dev`.
 *
 * The parsed YAML document stays attached (cfg->doc) so that modules above
 * core (pipeline, quality, deploy) can read their own sections with
 * positions intact; each of them validates its own keys.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>

struct sl_error;
struct sl_buf;
struct sl_ydoc;
struct sl_ynode;

struct sl_env {
	char *name;
	char *url;                 /* as written, before ${VAR} expansion */
	int line, column;          /* of the url value */
	char *shadow_url;          /* scratch database for plan, or NULL */
	int shadow_line, shadow_column;
	struct sl_ynode *node;     /* its mapping (borrowed from doc), NULL when
				    * written as a bare URL: deploy reads its
				    * gates, strategy and hooks from here */
};

struct sl_config {
	char *path;                /* the file, as given or found */
	char *dir;                 /* its directory: base of relative paths */
	char *project;             /* "" when not set */
	char *migrations_dir;      /* resolved against dir */
	char *features_dir;        /* feature contracts (its *.yaml files) */
	char *models_dir;          /* model contracts (its *.yaml files) */
	char *default_env;         /* NULL when not set */
	int out_of_order;          /* allow pending versions below the newest applied */
	int group;                 /* group commit of one run's migrations */
	long lock_timeout_ms;      /* -1 when not set */
	struct sl_env *envs;
	size_t nenvs;
	struct sl_ydoc *doc;       /* owned; for sections read by other modules */
	struct sl_ynode *pipeline; /* borrowed from doc; NULL if absent */
};

/* Load and validate path.  *out is owned by the caller (sl_config_free). */
int sl_config_load(struct sl_config **out, const char *path, struct sl_error *err);
/* The same from len bytes of data, reported under the name path. */
int sl_config_parse(struct sl_config **out, const char *path, const char *data,
		    size_t len, struct sl_error *err);
/* A config for running without a file (--url): migrations under dir. */
struct sl_config *sl_config_default(const char *dir);
void sl_config_free(struct sl_config *cfg);

/*
 * Pick the environment: name if given, else default_environment, else the
 * only one.  Returns NULL with an SL_USAGE error naming the choices.
 */
const struct sl_env *sl_config_env(const struct sl_config *cfg, const char *name,
				   struct sl_error *err);
/* The env's URL with ${VAR} and ${VAR:-default} expanded, into out. */
int sl_config_env_url(const struct sl_config *cfg, const struct sl_env *env,
		      struct sl_buf *out, struct sl_error *err);
/* The same for its shadow_url (out stays empty when there is none). */
int sl_config_env_shadow_url(const struct sl_config *cfg, const struct sl_env *env,
			     struct sl_buf *out, struct sl_error *err);

/*
 * Expand ${VAR} / ${VAR:-default} in s.  On an unset variable without a
 * default, returns -1 and copies the name into missing (size missing_len).
 */
int sl_expand_vars(const char *s, struct sl_buf *out, char *missing, size_t missing_len);

/* "500ms", "60s", "2m", "15min", "1h", "2d", or a bare number of seconds. */
int sl_parse_duration_ms(const char *s, long *out_ms);

/* Join a path to base unless it is absolute; result owned by caller. */
char *sl_path_resolve(const char *base, const char *path);

/* Text of the commented sluice.yaml written by `sluice init`. */
extern const char sl_config_template[];

#endif
