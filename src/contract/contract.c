/*
 * contract.c - loading and querying feature and model contracts (see
 * contract.h).
 */
#include "contract.h"
#include "../core/error.h"
#include "../core/yaml.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- types --------------------------------------------------------------- */

/*
 * Both the short names a contract uses and the spellings of PostgreSQL's
 * and SQLite's catalogs (SQLite: by its type-affinity rules, roughly).
 */
static enum sl_type_family family_of(const char *type, int strict)
{
	static const struct { const char *name; enum sl_type_family f; } names[] = {
		{ "smallint", SL_TF_INT }, { "integer", SL_TF_INT }, { "int", SL_TF_INT },
		{ "int2", SL_TF_INT }, { "int4", SL_TF_INT }, { "int8", SL_TF_INT },
		{ "bigint", SL_TF_INT }, { "serial", SL_TF_INT }, { "bigserial", SL_TF_INT },
		{ "smallserial", SL_TF_INT }, { "serial4", SL_TF_INT }, { "serial8", SL_TF_INT },
		{ "real", SL_TF_FLOAT }, { "float", SL_TF_FLOAT }, { "float4", SL_TF_FLOAT },
		{ "float8", SL_TF_FLOAT }, { "double", SL_TF_FLOAT }, { "double precision", SL_TF_FLOAT },
		{ "numeric", SL_TF_FLOAT }, { "decimal", SL_TF_FLOAT }, { "number", SL_TF_FLOAT },
		{ "text", SL_TF_TEXT }, { "string", SL_TF_TEXT }, { "varchar", SL_TF_TEXT },
		{ "character varying", SL_TF_TEXT }, { "char", SL_TF_TEXT }, { "character", SL_TF_TEXT },
		{ "bpchar", SL_TF_TEXT }, { "category", SL_TF_TEXT }, { "categorical", SL_TF_TEXT },
		{ "citext", SL_TF_TEXT }, { "uuid", SL_TF_TEXT }, { "clob", SL_TF_TEXT },
		{ "bool", SL_TF_BOOL }, { "boolean", SL_TF_BOOL },
		{ "timestamp", SL_TF_TIME }, { "timestamptz", SL_TF_TIME }, { "datetime", SL_TF_TIME },
		{ "timestamp with time zone", SL_TF_TIME }, { "timestamp without time zone", SL_TF_TIME },
		{ "date", SL_TF_TIME }, { "time", SL_TF_TIME },
		{ "json", SL_TF_JSON }, { "jsonb", SL_TF_JSON },
		{ "bytea", SL_TF_BYTES }, { "blob", SL_TF_BYTES }, { "bytes", SL_TF_BYTES },
	};
	if (!type || !*type)
		return SL_TF_UNKNOWN;
	/* the base name: up to '(' or '[', trimmed, "pg_catalog." dropped */
	char base[64];
	size_t n = 0;
	const char *p = type;
	if (!strncasecmp(p, "pg_catalog.", 11))
		p += 11;
	for (; *p && *p != '(' && *p != '[' && n < sizeof(base) - 1; p++)
		base[n++] = (char)tolower((unsigned char)*p);
	while (n && base[n - 1] == ' ')
		n--;
	base[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!strcmp(base, names[i].name))
			return names[i].f;
	if (strict)
		return SL_TF_UNKNOWN;
	/* SQLite's affinity rules for the rest (e.g. "UNSIGNED BIG INT") */
	if (strstr(base, "int"))
		return SL_TF_INT;
	if (strstr(base, "char") || strstr(base, "clob") || strstr(base, "text"))
		return SL_TF_TEXT;
	if (strstr(base, "real") || strstr(base, "floa") || strstr(base, "doub"))
		return SL_TF_FLOAT;
	if (strstr(base, "timestamp"))
		return SL_TF_TIME;
	return SL_TF_UNKNOWN;
}

enum sl_type_family sl_type_family(const char *type)
{
	return family_of(type, 0);
}

const char *sl_type_family_name(enum sl_type_family f)
{
	static const char *const names[] = { "unknown", "integer", "float", "text",
					     "boolean", "time", "json", "bytes" };
	return names[f];
}

int sl_type_compatible(const char *want, const char *have)
{
	enum sl_type_family w = sl_type_family(want), h = sl_type_family(have);
	if (w == SL_TF_UNKNOWN || h == SL_TF_UNKNOWN || w == h)
		return 1;
	/* an integer column feeds a float feature without loss */
	return w == SL_TF_FLOAT && h == SL_TF_INT;
}

int sl_protected_name(const char *col)
{
	/* whole words of the name ("user_age", "gender_code"), close variants */
	static const char *const words[] = {
		"sex", "gender", "race", "racial", "ethnicity", "ethnic", "age", "religion",
		"religious", "disability", "disabled", "nationality", "national_origin",
		"marital", "marital_status", "pregnancy", "pregnant", "sexual_orientation",
		"orientation", "citizenship", "veteran", "birth_year", "birthdate", "dob",
		"date_of_birth", "creed", "caste",
	};
	char lower[128];
	size_t n = 0;
	for (const char *p = col; *p && n < sizeof(lower) - 1; p++)
		lower[n++] = (char)tolower((unsigned char)*p);
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
		size_t k = strlen(words[i]);
		for (const char *p = lower; (p = strstr(p, words[i])); p++) {
			int starts = p == lower || p[-1] == '_';
			int ends = p[k] == '\0' || p[k] == '_';
			/* "age" must be a word ("page", "usage", "agent" are not); others too */
			if (starts && ends)
				return 1;
			/* a plural or a suffix such as "age_years", "genders" */
			if (starts && p[k] == 's' && (p[k + 1] == '\0' || p[k + 1] == '_'))
				return 1;
		}
	}
	return 0;
}

/* ---- loading ------------------------------------------------------------- */

static int ynum(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		double *out, struct sl_error *err)
{
	if (!n || n->type != SL_Y_SCALAR || n->quoted)
		return sl_ynode_err(doc, n, err, "expected a number for '%s'", what);
	char *end;
	errno = 0;
	double v = strtod(n->scalar, &end);
	if (!*n->scalar || *end || errno || !isfinite(v))
		return sl_ynode_err(doc, n, err, "expected a number for '%s', not '%s'", what,
				    n->scalar);
	*out = v;
	return 0;
}

static int ystr(const struct sl_ydoc *doc, const struct sl_ynode *map, const char *key,
		char **out, struct sl_error *err)
{
	const struct sl_ynode *n = sl_ymap_get(map, key);
	const char *s;
	if (!n || sl_ynode_is_null(n))
		return 0;
	if (sl_ynode_str(doc, n, key, &s, err))
		return -1;
	free(*out);
	*out = sl_strdup(s);
	return 0;
}

/* A string or a list of strings. */
static int ystrs(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		 struct sl_strvec *out, struct sl_error *err)
{
	const char *s;
	if (!n || sl_ynode_is_null(n))
		return 0;
	if (n->type == SL_Y_SCALAR) {
		if (sl_ynode_str(doc, n, what, &s, err))
			return -1;
		sl_strvec_push(out, s);
		return 0;
	}
	if (n->type != SL_Y_SEQ)
		return sl_ynode_err(doc, n, err, "expected a string or a list for '%s'", what);
	for (size_t i = 0; i < n->n; i++) {
		if (sl_ynode_str(doc, n->items[i], what, &s, err))
			return -1;
		sl_strvec_push(out, s);
	}
	return 0;
}

static int ybool(const struct sl_ydoc *doc, const struct sl_ynode *map, const char *key,
		 int *out, struct sl_error *err)
{
	const struct sl_ynode *n = sl_ymap_get(map, key);
	return n ? sl_ynode_bool(doc, n, key, out, err) : 0;
}

static int need_map(const struct sl_ydoc *doc, const struct sl_ynode *n, const char *what,
		    struct sl_error *err)
{
	if (!n || n->type != SL_Y_MAP)
		return sl_ynode_err(doc, n, err, "expected a map for %s, found %s", what,
				    n ? sl_ynode_type_name(n) : "nothing");
	return 0;
}

static const char *const feature_keys[] = {
	"name", "table", "key", "keys", "timestamp", "owner", "description", "label",
	"prediction", "label_timestamp", "columns", "gates", "ground_truth", "second_source", "tags",
	NULL
};
static const char *const column_keys[] = {
	"type", "description", "owner", "nullable", "max_null_fraction", "range", "min", "max",
	"allowed", "regex", "unique", "protected", "pii", "tags", NULL
};
static const char *const gate_names[] = {
	"completeness", "validity", "uniqueness", "freshness", "consistency", "accuracy",
	"relevance", "drift", "fairness", "temporal_consistency", "feature_quality", NULL
};
static const char *const pii_kinds[] = {
	"email", "phone", "ssn", "name", "address", "ip", "dob", "credit_card", "iban",
	"passport", "national_id", "location", "device_id", "other", NULL
};

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static void join(struct sl_buf *b, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		sl_buf_printf(b, "%s%s", i ? ", " : "", list[i]);
}

static int load_column(const struct sl_ydoc *doc, const struct sl_ynode *key,
		       const struct sl_ynode *v, struct sl_feature_col *c, struct sl_error *err)
{
	c->name = sl_strdup(key->scalar);
	c->line = key->line;
	c->column = key->column;
	c->nullable = -1;
	c->max_null_fraction = c->min = c->max = NAN;
	if (sl_ynode_is_null(v))
		return 0; /* listed, nothing said */
	if (v->type == SL_Y_SCALAR) {
		c->type = sl_strdup(v->scalar); /* `age: int` */
		return 0;
	}
	if (need_map(doc, v, "a column", err) ||
	    sl_ymap_check_keys(doc, v, column_keys, "a feature column", err) ||
	    ystr(doc, v, "type", &c->type, err) || ystr(doc, v, "description", &c->description, err) ||
	    ystr(doc, v, "owner", &c->owner, err) || ystr(doc, v, "pii", &c->pii, err) ||
	    ystr(doc, v, "regex", &c->regex, err) || ybool(doc, v, "unique", &c->unique, err) ||
	    ybool(doc, v, "protected", &c->is_protected, err))
		return -1;
	const struct sl_ynode *n;
	if ((n = sl_ymap_get(v, "nullable")) && sl_ynode_bool(doc, n, "nullable", &c->nullable, err))
		return -1;
	if ((n = sl_ymap_get(v, "max_null_fraction"))) {
		if (ynum(doc, n, "max_null_fraction", &c->max_null_fraction, err))
			return -1;
		if (c->max_null_fraction < 0 || c->max_null_fraction > 1)
			return sl_ynode_err(doc, n, err, "max_null_fraction must be between 0 and 1");
	}
	if ((n = sl_ymap_get(v, "range"))) {
		if (n->type != SL_Y_SEQ || n->n != 2)
			return sl_ynode_err(doc, n, err, "expected [min, max] for 'range'");
		if (ynum(doc, n->items[0], "range", &c->min, err) ||
		    ynum(doc, n->items[1], "range", &c->max, err))
			return -1;
	}
	if ((n = sl_ymap_get(v, "min")) && ynum(doc, n, "min", &c->min, err))
		return -1;
	if ((n = sl_ymap_get(v, "max")) && ynum(doc, n, "max", &c->max, err))
		return -1;
	if (!isnan(c->min) && !isnan(c->max) && c->min > c->max)
		return sl_ynode_err(doc, v, err, "the range of %s is empty (min %g > max %g)", c->name,
				    c->min, c->max);
	if (ystrs(doc, sl_ymap_get(v, "allowed"), "allowed", &c->allowed, err))
		return -1;
	if (c->type && family_of(c->type, 1) == SL_TF_UNKNOWN)
		return sl_ynode_err(doc, sl_ymap_get(v, "type"), err,
				    "unknown type '%s' for %s (integer, real, text, boolean, timestamp, "
				    "date, json, bytes, or a SQL type)", c->type, c->name);
	if (c->pii && !in_list(c->pii, pii_kinds)) {
		struct sl_buf b = SL_BUF_INIT;
		join(&b, pii_kinds);
		int rc = sl_ynode_err(doc, sl_ymap_get(v, "pii"), err, "unknown pii kind '%s' (one of %s)",
				      c->pii, b.s);
		sl_buf_free(&b);
		return rc;
	}
	if (c->regex) {
		regex_t re;
		int rc = regcomp(&re, c->regex, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			return sl_ynode_err(doc, sl_ymap_get(v, "regex"), err, "bad regex for %s: %s",
					    c->name, msg);
		}
		regfree(&re);
	}
	return 0;
}

static char *stem(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	const char *dot = strrchr(b, '.');
	return sl_strndup(b, dot ? (size_t)(dot - b) : strlen(b));
}

static int load_feature(struct sl_feature_contract *f, struct sl_ydoc *doc, struct sl_error *err)
{
	const struct sl_ynode *root = doc->root, *n;
	f->doc = doc;
	f->path = sl_strdup(doc->path);
	if (!root || root->type != SL_Y_MAP)
		return sl_err_at(err, SL_USAGE, doc->path, root ? root->line : 1, 0,
				 "a feature contract is a map with at least 'table' and 'columns'");
	if (sl_ymap_check_keys(doc, root, feature_keys, "a feature contract", err) ||
	    ystr(doc, root, "name", &f->name, err) || ystr(doc, root, "table", &f->table, err) ||
	    ystr(doc, root, "timestamp", &f->timestamp, err) || ystr(doc, root, "owner", &f->owner, err) ||
	    ystr(doc, root, "description", &f->description, err) ||
	    ystr(doc, root, "label", &f->label, err) || ystr(doc, root, "prediction", &f->prediction, err) ||
	    ystr(doc, root, "label_timestamp", &f->label_timestamp, err) ||
	    ystrs(doc, sl_ymap_get(root, "key"), "key", &f->keys, err) ||
	    ystrs(doc, sl_ymap_get(root, "keys"), "keys", &f->keys, err))
		return -1;
	for (size_t k = 0; k < 2; k++) {
		static const char *const src_keys[] = { "table", "columns", "tolerance", NULL };
		const char *key = k ? "second_source" : "ground_truth";
		struct sl_source *dst = k ? &f->second_source : &f->ground_truth;
		dst->tolerance = 1e-9;
		n = sl_ymap_get(root, key);
		if (n && n->type == SL_Y_MAP) {
			/* {table: T, columns: [..], tolerance: X} */
			const struct sl_ynode *t = sl_ymap_get(n, "tolerance");
			if (sl_ymap_check_keys(doc, n, src_keys, key, err) ||
			    ystr(doc, n, "table", &dst->table, err) ||
			    ystrs(doc, sl_ymap_get(n, "columns"), "columns", &dst->columns, err) ||
			    (t && ynum(doc, t, "tolerance", &dst->tolerance, err)))
				return -1;
			if (!dst->table)
				return sl_ynode_err(doc, n, err, "'%s' needs 'table'", key);
		} else if (ystr(doc, root, key, &dst->table, err)) {
			return -1;
		}
	}
	if (!f->name)
		f->name = stem(doc->path);
	if (!f->table)
		return sl_err_at(err, SL_USAGE, doc->path, root->line, root->column,
				 "a feature contract needs 'table'");
	n = sl_ymap_get(root, "columns");
	if (!n)
		return sl_err_at(err, SL_USAGE, doc->path, root->line, root->column,
				 "a feature contract needs 'columns'");
	if (need_map(doc, n, "'columns' (column name: {type, description, owner, ...})", err))
		return -1;
	f->cols = sl_calloc(n->n ? n->n : 1, sizeof(*f->cols));
	for (size_t i = 0; i < n->n; i++) {
		f->ncols++;
		if (load_column(doc, n->keys[i], n->items[i], &f->cols[i], err))
			return -1;
	}
	if ((n = sl_ymap_get(root, "gates"))) {
		if (need_map(doc, n, "'gates'", err))
			return -1;
		f->gates = n;
		for (size_t i = 0; i < n->n; i++) {
			if (!in_list(n->keys[i]->scalar, gate_names)) {
				struct sl_buf b = SL_BUF_INIT;
				join(&b, gate_names);
				int rc = sl_ynode_err(doc, n->keys[i], err, "unknown gate '%s' (one of %s)",
						      n->keys[i]->scalar, b.s);
				sl_buf_free(&b);
				return rc;
			}
			if (need_map(doc, n->items[i], "a gate's settings", err))
				return -1;
		}
		const struct sl_ynode *fair = sl_ymap_get(n, "fairness");
		int enabled = 1;
		if (fair && ybool(doc, fair, "enabled", &enabled, err))
			return -1;
		f->fairness_off = !enabled;
	}
	return 0;
}

static const char *const model_keys[] = {
	"name", "version", "versions", "owner", "description", "task", "table", "inputs", "label",
	"metric", "max_drop", "baseline", "predictions", "mlflow", "tags", "key", "impact", NULL
};
static const char *const tasks[] = { "binary", "regression", NULL };
static const char *const metrics[] = { "auc", "accuracy", "f1", "logloss", "rmse", "mae", NULL };

/* Read the keys of one version from map into m (which may hold defaults). */
static int load_model_fields(struct sl_model_contract *m, const struct sl_ydoc *doc,
			     const struct sl_ynode *map, struct sl_error *err)
{
	const struct sl_ynode *n;
	if (ystr(doc, map, "owner", &m->owner, err) || ystr(doc, map, "task", &m->task, err) ||
	    ystr(doc, map, "table", &m->table, err) || ystr(doc, map, "label", &m->label, err) ||
	    ystr(doc, map, "metric", &m->metric, err))
		return -1;
	if ((n = sl_ymap_get(map, "version"))) {
		if (n->type != SL_Y_SCALAR || sl_ynode_is_null(n))
			return sl_ynode_err(doc, n, err, "expected a version such as 2 or \"2024-06\"");
		free(m->version);
		m->version = sl_strdup(n->scalar);
		m->line = n->line;
	}
	if ((n = sl_ymap_get(map, "inputs"))) {
		sl_strvec_free(&m->inputs);
		if (n->type != SL_Y_SEQ)
			return sl_ynode_err(doc, n, err, "expected a list of columns for 'inputs'");
		if (ystrs(doc, n, "inputs", &m->inputs, err))
			return -1;
	}
	if ((n = sl_ymap_get(map, "max_drop")) && ynum(doc, n, "max_drop", &m->max_drop, err))
		return -1;
	if ((n = sl_ymap_get(map, "baseline")) && ynum(doc, n, "baseline", &m->baseline, err))
		return -1;
	if ((n = sl_ymap_get(map, "mlflow"))) {
		const char *s;
		if (n->type == SL_Y_MAP)
			n = sl_ymap_get(n, "uri");
		if (!n || sl_ynode_str(doc, n, "mlflow", &s, err))
			return n ? -1 : sl_err_at(err, SL_USAGE, doc->path, map->line, 0,
						  "'mlflow' is a model URI or {uri: ...}");
		free(m->mlflow_uri);
		m->mlflow_uri = sl_strdup(s);
	}
	if ((n = sl_ymap_get(map, "key"))) {
		sl_strvec_free(&m->keys);
		if (ystrs(doc, n, "key", &m->keys, err))
			return -1;
	}
	if ((n = sl_ymap_get(map, "impact"))) {
		static const char *const ik[] = { "c", "alpha", "max_categories", "sample_rows",
						  "min_score", "weights", NULL };
		static const char *const wk[] = { "data_quality", "feature_quality", "label_quality",
						  "temporal_consistency", NULL };
		const struct sl_ynode *v;
		double x;
		if (need_map(doc, n, "'impact'", err) || sl_ymap_check_keys(doc, n, ik, "impact", err))
			return -1;
		if ((v = sl_ymap_get(n, "c")) && (ynum(doc, v, "c", &m->c, err) ||
		    (!(m->c > 0) && sl_ynode_err(doc, v, err, "'c' must be positive"))))
			return -1;
		if ((v = sl_ymap_get(n, "alpha")) && (ynum(doc, v, "alpha", &m->alpha, err) ||
		    (!(m->alpha > 0) && sl_ynode_err(doc, v, err, "'alpha' must be positive"))))
			return -1;
		if ((v = sl_ymap_get(n, "max_categories"))) {
			if (ynum(doc, v, "max_categories", &x, err))
				return -1;
			if (x < 2 || x > 1000 || x != floor(x))
				return sl_ynode_err(doc, v, err, "'max_categories' is a whole number from 2 to 1000");
			m->max_categories = (int)x;
		}
		if ((v = sl_ymap_get(n, "sample_rows"))) {
			if (ynum(doc, v, "sample_rows", &x, err))
				return -1;
			if (x < 0 || x != floor(x) || x > 1e12)
				return sl_ynode_err(doc, v, err, "'sample_rows' is a row count (0: every row)");
			m->sample_rows = (long long)x;
		}
		if ((v = sl_ymap_get(n, "min_score")) && ynum(doc, v, "min_score", &m->impact_min, err))
			return -1;
		if ((v = sl_ymap_get(n, "weights"))) {
			if (need_map(doc, v, "'weights'", err) ||
			    sl_ymap_check_keys(doc, v, wk, "weights", err))
				return -1;
			for (int k = 0; wk[k]; k++) {
				const struct sl_ynode *w = sl_ymap_get(v, wk[k]);
				if (w && ynum(doc, w, wk[k], &m->weights[k], err))
					return -1;
				if (w && m->weights[k] < 0)
					return sl_ynode_err(doc, w, err, "a weight must not be negative");
			}
		}
	}
	if ((n = sl_ymap_get(map, "predictions"))) {
		static const char *const pk[] = { "table", "column", "sql", NULL };
		if (need_map(doc, n, "'predictions' ({table, column} or {sql})", err) ||
		    sl_ymap_check_keys(doc, n, pk, "predictions", err) ||
		    ystr(doc, n, "table", &m->pred_table, err) ||
		    ystr(doc, n, "column", &m->pred_column, err) || ystr(doc, n, "sql", &m->pred_sql, err))
			return -1;
		if (!m->pred_sql && !m->pred_column)
			return sl_ynode_err(doc, n, err, "'predictions' needs 'column' or 'sql'");
	}
	return 0;
}

static void model_free(struct sl_model_contract *m)
{
	free(m->path);
	free(m->name);
	free(m->version);
	free(m->owner);
	free(m->task);
	free(m->table);
	free(m->label);
	free(m->metric);
	free(m->mlflow_uri);
	free(m->pred_table);
	free(m->pred_column);
	free(m->pred_sql);
	sl_strvec_free(&m->inputs);
	sl_strvec_free(&m->keys);
}

static int check_model(const struct sl_model_contract *m, const struct sl_ydoc *doc,
		       struct sl_error *err)
{
	if (!m->version)
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0, "model %s needs a 'version'",
				 m->name);
	if (!m->table)
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
				 "model %s v%s needs 'table' (the feature table it reads)", m->name,
				 m->version);
	if (!m->inputs.n)
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
				 "model %s v%s needs 'inputs' (its input columns)", m->name, m->version);
	if (m->task && !in_list(m->task, tasks))
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
				 "model %s: task '%s' is not binary or regression", m->name, m->task);
	if (m->metric && !in_list(m->metric, metrics))
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
				 "model %s: unknown metric '%s' (auc, accuracy, f1, logloss, rmse, mae)",
				 m->name, m->metric);
	if (m->max_drop < 0)
		return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
				 "model %s: max_drop must not be negative", m->name);
	if (m->metric && m->task) {
		int reg = !strcmp(m->task, "regression");
		int regmetric = !strcmp(m->metric, "rmse") || !strcmp(m->metric, "mae");
		if (reg != regmetric)
			return sl_err_at(err, SL_USAGE, doc->path, m->line, 0,
					 "model %s: metric %s does not apply to a %s task (%s)", m->name,
					 m->metric, m->task,
					 reg ? "rmse or mae" : "auc, accuracy, f1 or logloss");
	}
	return 0;
}

static void model_copy(struct sl_model_contract *d, const struct sl_model_contract *s)
{
#define DUP(f) d->f = s->f ? sl_strdup(s->f) : NULL
	DUP(path); DUP(name); DUP(version); DUP(owner); DUP(task); DUP(table); DUP(label);
	DUP(metric); DUP(mlflow_uri); DUP(pred_table); DUP(pred_column); DUP(pred_sql);
#undef DUP
	memset(&d->inputs, 0, sizeof(d->inputs));
	for (size_t i = 0; i < s->inputs.n; i++)
		sl_strvec_push(&d->inputs, s->inputs.v[i]);
	memset(&d->keys, 0, sizeof(d->keys));
	for (size_t i = 0; i < s->keys.n; i++)
		sl_strvec_push(&d->keys, s->keys.v[i]);
	d->max_drop = s->max_drop;
	d->baseline = s->baseline;
	d->line = s->line;
	d->c = s->c;
	d->alpha = s->alpha;
	d->max_categories = s->max_categories;
	d->sample_rows = s->sample_rows;
	d->impact_min = s->impact_min;
	memcpy(d->weights, s->weights, sizeof(d->weights));
}

static int load_models(struct sl_contracts *c, const struct sl_ydoc *doc, struct sl_error *err)
{
	const struct sl_ynode *root = doc->root;
	if (!root || root->type != SL_Y_MAP)
		return sl_err_at(err, SL_USAGE, doc->path, root ? root->line : 1, 0,
				 "a model contract is a map with name, version, table and inputs");
	if (sl_ymap_check_keys(doc, root, model_keys, "a model contract", err))
		return -1;
	struct sl_model_contract base;
	memset(&base, 0, sizeof(base));
	base.path = sl_strdup(doc->path);
	base.max_drop = 0.02;
	base.baseline = NAN;
	base.c = 1.0;
	base.alpha = 1.0;
	base.max_categories = 20;
	base.sample_rows = 200000;
	base.impact_min = 0.90;
	for (int k = 0; k < 4; k++)
		base.weights[k] = 0.25;
	base.line = root->line;
	int rc = -1;
	if (ystr(doc, root, "name", &base.name, err) || load_model_fields(&base, doc, root, err))
		goto out;
	if (!base.name)
		base.name = stem(doc->path);
	const struct sl_ynode *vs = sl_ymap_get(root, "versions");
	size_t nv = vs ? vs->n : 1;
	if (vs && (vs->type != SL_Y_SEQ || !vs->n)) {
		sl_ynode_err(doc, vs, err, "expected a list of versions for 'versions'");
		goto out;
	}
	for (size_t i = 0; i < nv; i++) {
		struct sl_model_contract m;
		model_copy(&m, &base);
		if (vs) {
			static const char *const vkeys[] = { "version", "owner", "task", "table", "inputs",
							     "label", "metric", "max_drop", "baseline",
							     "predictions", "mlflow", "description", "key", "impact",
							     NULL };
			m.line = vs->items[i]->line;
			if (need_map(doc, vs->items[i], "a version", err) ||
			    sl_ymap_check_keys(doc, vs->items[i], vkeys, "a model version", err) ||
			    load_model_fields(&m, doc, vs->items[i], err)) {
				model_free(&m);
				goto out;
			}
		}
		if (check_model(&m, doc, err)) {
			model_free(&m);
			goto out;
		}
		for (size_t k = 0; k < c->nmodels; k++)
			if (!strcmp(c->models[k].name, m.name) && !strcmp(c->models[k].version, m.version)) {
				sl_err_at(err, SL_USAGE, doc->path, m.line, 0,
					  "model %s v%s is also defined in %s", m.name, m.version,
					  c->models[k].path);
				model_free(&m);
				goto out;
			}
		c->models = sl_realloc(c->models, (c->nmodels + 1) * sizeof(*c->models));
		c->models[c->nmodels++] = m;
	}
	rc = 0;
out:
	model_free(&base);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The YAML files of dir, sorted; a missing dir has none. */
static int list_yaml(const char *dir, struct sl_strvec *out, struct sl_error *err)
{
	if (!dir)
		return 0;
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return sl_err_at(err, SL_USAGE, dir, 0, 0, "cannot read the directory: %s",
				 strerror(errno));
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' ||
		    !((n > 5 && !strcmp(e->d_name + n - 5, ".yaml")) ||
		      (n > 4 && !strcmp(e->d_name + n - 4, ".yml"))))
			continue;
		struct sl_buf p = SL_BUF_INIT;
		sl_buf_printf(&p, "%s/%s", dir, e->d_name);
		sl_strvec_push_owned(out, sl_buf_detach(&p));
	}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

int sl_contracts_load(struct sl_contracts *c, const char *features_dir, const char *models_dir,
		      struct sl_error *err)
{
	memset(c, 0, sizeof(*c));
	struct sl_strvec files = SL_STRVEC_INIT;
	int rc = -1;
	if (list_yaml(features_dir, &files, err))
		goto out;
	c->features = sl_calloc(files.n ? files.n : 1, sizeof(*c->features));
	for (size_t i = 0; i < files.n; i++) {
		struct sl_ydoc *doc;
		if (sl_yaml_load(&doc, files.v[i], NULL, 0, err))
			goto out;
		struct sl_feature_contract *f = &c->features[c->nfeatures++];
		if (load_feature(f, doc, err))
			goto out;
		for (size_t k = 0; k + 1 < c->nfeatures; k++)
			if (!strcmp(c->features[k].name, f->name)) {
				sl_err_at(err, SL_USAGE, f->path, 1, 0,
					  "feature contract '%s' is also defined in %s", f->name,
					  c->features[k].path);
				goto out;
			}
	}
	sl_strvec_free(&files);
	if (list_yaml(models_dir, &files, err))
		goto out;
	for (size_t i = 0; i < files.n; i++) {
		struct sl_ydoc *doc;
		if (sl_yaml_load(&doc, files.v[i], NULL, 0, err))
			goto out;
		c->docs = sl_realloc(c->docs, (c->ndocs + 1) * sizeof(*c->docs));
		c->docs[c->ndocs++] = doc;
		if (load_models(c, doc, err))
			goto out;
	}
	rc = 0;
out:
	sl_strvec_free(&files);
	if (rc)
		sl_contracts_free(c);
	return rc;
}

void sl_contracts_free(struct sl_contracts *c)
{
	for (size_t i = 0; i < c->nfeatures; i++) {
		struct sl_feature_contract *f = &c->features[i];
		for (size_t k = 0; k < f->ncols; k++) {
			struct sl_feature_col *col = &f->cols[k];
			free(col->name);
			free(col->type);
			free(col->description);
			free(col->owner);
			free(col->pii);
			free(col->regex);
			sl_strvec_free(&col->allowed);
		}
		free(f->cols);
		free(f->path);
		free(f->name);
		free(f->table);
		free(f->timestamp);
		free(f->owner);
		free(f->description);
		free(f->label);
		free(f->prediction);
		free(f->label_timestamp);
		free(f->ground_truth.table);
		sl_strvec_free(&f->ground_truth.columns);
		free(f->second_source.table);
		sl_strvec_free(&f->second_source.columns);
		sl_strvec_free(&f->keys);
		sl_ydoc_free(f->doc);
	}
	free(c->features);
	for (size_t i = 0; i < c->nmodels; i++)
		model_free(&c->models[i]);
	free(c->models);
	for (size_t i = 0; i < c->ndocs; i++)
		sl_ydoc_free(c->docs[i]);
	free(c->docs);
	memset(c, 0, sizeof(*c));
}

/* ---- queries ------------------------------------------------------------- */

int sl_table_is(const char *contract_table, const char *table)
{
	if (!contract_table || !table)
		return 0;
	if (!strncasecmp(contract_table, "public.", 7))
		contract_table += 7;
	if (!strncasecmp(table, "public.", 7))
		table += 7;
	return strcasecmp(contract_table, table) == 0;
}

const struct sl_feature_contract *sl_contracts_feature_next(const struct sl_contracts *c,
							    const char *table,
							    const struct sl_feature_contract *prev)
{
	size_t i = prev ? (size_t)(prev - c->features) + 1 : 0;
	for (; i < c->nfeatures; i++)
		if (sl_table_is(c->features[i].table, table))
			return &c->features[i];
	return NULL;
}

const struct sl_feature_col *sl_feature_col_find(const struct sl_feature_contract *f,
						 const char *col)
{
	for (size_t i = 0; i < f->ncols; i++)
		if (!strcasecmp(f->cols[i].name, col))
			return &f->cols[i];
	return NULL;
}

int sl_model_reads(const struct sl_model_contract *m, const char *table, const char *col,
		   int label_too)
{
	for (size_t i = 0; i < m->inputs.n; i++) {
		const char *in = m->inputs.v[i], *dot = strrchr(in, '.');
		if (dot) {
			/* "table.column": another table than the model's */
			char *t = sl_strndup(in, (size_t)(dot - in));
			int hit = sl_table_is(t, table) && (!col || !strcasecmp(dot + 1, col));
			free(t);
			if (hit)
				return 1;
		} else if (sl_table_is(m->table, table) && (!col || !strcasecmp(in, col))) {
			return 1;
		}
	}
	return label_too && m->label && sl_table_is(m->table, table) &&
	       (!col || !strcasecmp(m->label, col));
}

void sl_model_id(struct sl_buf *b, const struct sl_model_contract *m)
{
	sl_buf_printf(b, "%s v%s", m->name, m->version);
}
