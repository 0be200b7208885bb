/*
 * lint.c - rules over libpg_query's protobuf parse trees (see lint.h).
 */
#include "lint.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../core/yaml.h"
#include "../db/db.h"

#include <ctype.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define W SL_SEV_WARNING
#define E SL_SEV_ERROR
#define I SL_SEV_INFO

const struct sl_lint_rule sl_lint_rules[] = {
	{ "syntax-error", SL_RC_SYNTAX, E, "the script does not parse",
	  "fix the SQL at the position given; PostgreSQL would reject it too" },
	{ "not-postgres-syntax", SL_RC_SYNTAX, I, "SQLite syntax the PostgreSQL parser rejects",
	  "this file targets SQLite; `sluice plan` checks it on a shadow copy" },
	{ "sqlite-error", SL_RC_SYNTAX, E, "SQLite rejects the script on an empty shadow",
	  "fix the SQLite variant (or add one: V<ver>__<desc>.sqlite.sql) at the position given" },
	{ "dialect-variants-diverge", SL_RC_INCOMPATIBLE, W,
	  "the SQLite and PostgreSQL variants of a version create different tables or columns",
	  "make both variants create the same objects, so development and production schemas agree" },
	{ "ban-drop-table", SL_RC_DESTRUCTIVE, W, "dropping a table loses its data",
	  "stop reading and writing it first; archive or rename it, and drop it in a later release" },
	{ "ban-drop-schema", SL_RC_DESTRUCTIVE, W, "dropping a schema loses everything in it",
	  "drop its objects one by one in a later release, after nothing reads them" },
	{ "ban-drop-database", SL_RC_DESTRUCTIVE, E, "dropping a database from a migration",
	  "databases are not dropped by migrations; do it by hand, deliberately" },
	{ "ban-drop-column", SL_RC_DESTRUCTIVE, W, "dropping a column loses its data and breaks its readers",
	  "expand/contract: stop reading the column, deploy, then drop it in a later migration" },
	{ "ban-truncate", SL_RC_DESTRUCTIVE, W, "TRUNCATE deletes every row",
	  "delete in batches with a WHERE clause, or archive the rows first" },
	{ "ban-drop-not-null", SL_RC_INCOMPATIBLE, W, "dropping NOT NULL lets NULLs reach readers that assume none",
	  "make sure every reader (features, models) handles NULL before relaxing the constraint" },
	{ "ban-delete-without-where", SL_RC_DESTRUCTIVE, W, "DELETE without WHERE deletes every row",
	  "add a WHERE clause, or use a batched delete" },
	{ "renaming-table", SL_RC_INCOMPATIBLE, W, "renaming a table breaks every query that names it",
	  "create the new table (or a view under the new name), dual-write, move readers, then drop the old" },
	{ "renaming-column", SL_RC_INCOMPATIBLE, W, "renaming a column breaks every query that names it",
	  "add the new column, backfill and dual-write, move readers, then drop the old one" },
	{ "changing-column-type", SL_RC_INCOMPATIBLE, W, "changing a column's type rewrites the table and can break readers",
	  "add a column of the new type, backfill in batches, switch readers, drop the old column" },
	{ "adding-required-field", SL_RC_INCOMPATIBLE, W, "adding a NOT NULL column without a default fails on existing rows and breaks writers",
	  "add it nullable (or with a default), backfill, then SET NOT NULL via a NOT VALID check constraint" },
	{ "adding-not-nullable-field", SL_RC_INCOMPATIBLE, W, "SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock and breaks writers of NULL",
	  "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL" },
	{ "require-concurrent-index-creation", SL_RC_LOCKING, W, "CREATE INDEX without CONCURRENTLY blocks writes while it builds",
	  "CREATE INDEX CONCURRENTLY (sluice runs that migration outside a transaction)" },
	{ "require-concurrent-index-deletion", SL_RC_LOCKING, W, "DROP INDEX without CONCURRENTLY blocks reads and writes of the table",
	  "DROP INDEX CONCURRENTLY" },
	{ "ban-concurrent-index-creation-in-transaction", SL_RC_LOCKING, E, "CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
	  "remove the BEGIN/COMMIT around it; sluice runs such a migration outside a transaction" },
	{ "constraint-missing-not-valid", SL_RC_LOCKING, W, "adding a foreign key or check constraint validates every row under a heavy lock",
	  "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate migration" },
	{ "disallowed-unique-constraint", SL_RC_LOCKING, W, "adding a UNIQUE/PRIMARY KEY constraint builds its index under an ACCESS EXCLUSIVE lock",
	  "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX" },
	{ "adding-field-with-default", SL_RC_LOCKING, W, "a volatile default rewrites the whole table",
	  "add the column without a default, set the default, backfill in batches" },
	{ "require-timeout-settings", SL_RC_LOCKING, W, "a statement that takes an ACCESS EXCLUSIVE lock without lock_timeout can queue all traffic behind it",
	  "SET lock_timeout = '2s' (and statement_timeout) at the top of the migration" },
	{ "ban-vacuum-full", SL_RC_LOCKING, W, "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
	  "plain VACUUM, or pg_repack outside the migration" },
	{ "ban-cluster", SL_RC_LOCKING, W, "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
	  "pg_repack outside the migration" },
	{ "prefer-bigint-over-int", SL_RC_HYGIENE, I, "32-bit integer keys and counters run out",
	  "bigint (or bigint GENERATED ... AS IDENTITY)" },
	{ "prefer-bigint-over-smallint", SL_RC_HYGIENE, I, "smallint runs out",
	  "bigint" },
	{ "prefer-identity", SL_RC_HYGIENE, I, "serial types have ownership and permission quirks",
	  "bigint GENERATED BY DEFAULT AS IDENTITY" },
	{ "prefer-text-field", SL_RC_HYGIENE, I, "varchar(n) limits need a table rewrite to grow",
	  "text with a CHECK (length(col) <= n) constraint" },
	{ "ban-char-field", SL_RC_HYGIENE, I, "char(n) pads with blanks and surprises comparisons",
	  "text (or varchar)" },
	{ "prefer-timestamptz", SL_RC_HYGIENE, I, "timestamp without time zone is ambiguous across zones",
	  "timestamptz" },
	{ "feature-documentation-complete", SL_RC_ML, W,
	  "a column added to a table with a feature contract is not fully described there",
	  "describe the column in the table's feature contract (features/*.yaml): type, description and owner" },
	{ "bias-assessment-required", SL_RC_ML, W,
	  "a protected attribute (or a column named like one) has no fairness gate",
	  "mark it `protected: true` in the table's feature contract, so the fairness gate measures it" },
	{ "model-input-breaking", SL_RC_ML, E,
	  "dropping, renaming or narrowing a column that a model contract reads",
	  "add the new column beside the old one, retrain and ship a model version that reads it, then drop the old" },
	{ NULL, 0, 0, NULL, NULL },
};

#undef W
#undef E
#undef I

const struct sl_lint_rule *sl_lint_rule_find(const char *id)
{
	for (const struct sl_lint_rule *r = sl_lint_rules; r->id; r++)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

const char *sl_severity_name(enum sl_severity s)
{
	switch (s) {
	case SL_SEV_ERROR: return "error";
	case SL_SEV_WARNING: return "warning";
	case SL_SEV_INFO: return "info";
	default: return "off";
	}
}

const char *sl_rule_class_name(enum sl_rule_class c)
{
	static const char *const n[] = { "syntax", "destructive", "backward-incompatible",
					 "locking", "type-hygiene", "ml" };
	return n[c];
}

/* ---- configuration ------------------------------------------------------ */

static int parse_severity(const char *s, enum sl_severity *out)
{
	static const struct { const char *n; enum sl_severity s; } t[] = {
		{ "error", SL_SEV_ERROR }, { "warning", SL_SEV_WARNING }, { "warn", SL_SEV_WARNING },
		{ "info", SL_SEV_INFO }, { "off", SL_SEV_OFF }, { "ignore", SL_SEV_OFF },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(s, t[i].n) == 0) {
			*out = t[i].s;
			return 0;
		}
	return -1;
}

int sl_lint_config_load(struct sl_lint_config *out, const struct sl_ydoc *doc,
			const struct sl_ynode *node, struct sl_error *err)
{
	static const char *const keys[] = { "mode", "rules", NULL };
	memset(out, 0, sizeof(*out));
	if (!node || sl_ynode_is_null(node))
		return 0;
	if (node->type != SL_Y_MAP)
		return sl_ynode_err(doc, node, err, "expected a mapping for 'lint'");
	if (sl_ymap_check_keys(doc, node, keys, "lint", err))
		return -1;
	const struct sl_ynode *n = sl_ymap_get(node, "mode");
	const char *s;
	if (n) {
		if (sl_ynode_str(doc, n, "mode", &s, err))
			return -1;
		if (strcmp(s, "forward-only") == 0)
			out->forward_only = 1;
		else if (strcmp(s, "standard") != 0)
			return sl_ynode_err(doc, n, err, "lint mode '%s' is not standard or forward-only", s);
	}
	n = sl_ymap_get(node, "rules");
	if (!n)
		return 0;
	if (n->type != SL_Y_MAP)
		return sl_ynode_err(doc, n, err, "expected a mapping of rule ids to severities for 'rules'");
	out->overrides = sl_calloc(n->n ? n->n : 1, sizeof(*out->overrides));
	for (size_t i = 0; i < n->n; i++) {
		const char *id = n->keys[i]->scalar;
		if (!sl_lint_rule_find(id)) {
			sl_ynode_err(doc, n->keys[i], err, "unknown lint rule '%s'", id);
			sl_lint_config_free(out);
			return -1;
		}
		enum sl_severity sev;
		if (sl_ynode_str(doc, n->items[i], id, &s, err) || parse_severity(s, &sev)) {
			if (err && !err->message[0])
				sl_ynode_err(doc, n->items[i], err, "severity for '%s' must be error, warning, info or off", id);
			else if (err)
				sl_ynode_err(doc, n->items[i], err, "severity for '%s' must be error, warning, info or off", id);
			sl_lint_config_free(out);
			return -1;
		}
		out->overrides[out->noverrides].rule = sl_strdup(id);
		out->overrides[out->noverrides].severity = sev;
		out->noverrides++;
	}
	return 0;
}

void sl_lint_config_free(struct sl_lint_config *c)
{
	for (size_t i = 0; i < c->noverrides; i++)
		free(c->overrides[i].rule);
	free(c->overrides);
	memset(c, 0, sizeof(*c));
}

/* ---- the linter --------------------------------------------------------- */

struct col {
	char *name, *type;
	int mod[2];
};

struct table {
	char *name;
	int fresh;           /* created by a script checked in this run: empty */
	struct col *cols;
	size_t ncols;
};

static void table_clear(struct table *t)
{
	for (size_t k = 0; k < t->ncols; k++) {
		free(t->cols[k].name);
		free(t->cols[k].type);
	}
	free(t->cols);
	free(t->name);
}

struct ignore {
	int line;
	char *rules;   /* "ban-drop-column,renaming-column" or "all" */
};

struct sl_linter {
	struct sl_lint_config cfg;
	int learning;
	int sqlite;
	struct sl_finding *f;
	size_t nf, capf;
	struct table *t;             /* tables created by this run */
	size_t nt;
	struct sl_strvec indexes;    /* indexes created by this run */
	struct sl_strvec files;      /* scripts checked */
	struct sl_strvec names;      /* file names of findings */
	size_t counts[3];            /* findings by severity */
	void (*sink)(const struct sl_finding *, void *);
	void *sink_ctx;
	const struct sl_contracts *contracts;   /* NULL: no ML rules */
	/* the script being checked */
	const char *file, *sql;
	size_t len;
	int first_line;
	size_t loc_base;             /* parse-tree locations are from here */
	size_t pos_off;              /* pos_of's cache */
	int pos_line, pos_col;
	int lock_timeout_set, in_tx, timeout_reported;
	struct ignore *ign;
	size_t nign;
};

struct sl_linter *sl_linter_new(const struct sl_lint_config *cfg)
{
	struct sl_linter *l = sl_calloc(1, sizeof(*l));
	if (cfg) {
		l->cfg.forward_only = cfg->forward_only;
		l->cfg.overrides = sl_calloc(cfg->noverrides ? cfg->noverrides : 1,
					     sizeof(*l->cfg.overrides));
		for (size_t i = 0; i < cfg->noverrides; i++) {
			l->cfg.overrides[i].rule = sl_strdup(cfg->overrides[i].rule);
			l->cfg.overrides[i].severity = cfg->overrides[i].severity;
		}
		l->cfg.noverrides = cfg->noverrides;
	}
	return l;
}

static void free_ignores(struct sl_linter *l)
{
	for (size_t i = 0; i < l->nign; i++)
		free(l->ign[i].rules);
	free(l->ign);
	l->ign = NULL;
	l->nign = 0;
}

void sl_linter_free(struct sl_linter *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nf; i++)
		free(l->f[i].message);
	sl_strvec_free(&l->names);
	free(l->f);
	for (size_t i = 0; i < l->nt; i++)
		table_clear(&l->t[i]);
	free(l->t);
	sl_strvec_free(&l->indexes);
	sl_strvec_free(&l->files);
	free_ignores(l);
	sl_lint_config_free(&l->cfg);
	free(l);
}

const struct sl_finding *sl_linter_findings(const struct sl_linter *l, size_t *n)
{
	*n = l->nf;
	return l->f;
}

size_t sl_linter_count(const struct sl_linter *l, enum sl_severity s)
{
	return s >= SL_SEV_INFO && s <= SL_SEV_ERROR ? l->counts[s] : 0;
}

static int suppressed(const struct sl_linter *l, const char *rule, int from, int to)
{
	for (size_t i = 0; i < l->nign; i++) {
		const struct ignore *g = &l->ign[i];
		if (g->line < from - 1 || g->line > to)
			continue;
		if (strcmp(g->rules, "all") == 0)
			return 1;
		const char *p = g->rules;
		size_t n = strlen(rule);
		while ((p = strstr(p, rule))) {
			if ((p == g->rules || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
				return 1;
			p += n;
		}
	}
	return 0;
}

/* Collect "-- sluice:ignore a, b" comments with their lines. */
static void scan_ignores(struct sl_linter *l)
{
	free_ignores(l);
	int line = l->first_line;
	const char *s = l->sql, *end = l->sql + l->len;
	for (const char *p = s; p < end; p++) {
		if (*p == '\n') {
			line++;
			continue;
		}
		if (p + 15 < end && p[0] == '-' && p[1] == '-') {
			const char *q = p + 2;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if (end - q >= 13 && strncmp(q, "sluice:ignore", 13) == 0) {
				q += 13;
				struct sl_buf rules = SL_BUF_INIT;
				while (q < end && *q != '\n') {
					if (!isspace((unsigned char)*q))
						sl_buf_addc(&rules, *q);
					q++;
				}
				l->ign = sl_realloc(l->ign, (l->nign + 1) * sizeof(*l->ign));
				l->ign[l->nign].line = line;
				l->ign[l->nign].rules = rules.len ? sl_buf_detach(&rules) : sl_strdup("all");
				sl_buf_free(&rules);
				l->nign++;
				p = q - 1;
			}
		}
	}
}

/* Line and column of an offset; cached, as findings come in order. */
static void pos_of(struct sl_linter *l, size_t off, int *line, int *col)
{
	if (off > l->len)
		off = l->len;
	size_t i = 0;
	int ln = l->first_line, c = 1;
	if (off >= l->pos_off) {
		i = l->pos_off;
		ln = l->pos_line;
		c = l->pos_col;
	}
	for (; i < off; i++) {
		if (l->sql[i] == '\n') {
			ln++;
			c = 1;
		} else {
			c++;
		}
	}
	l->pos_off = off;
	l->pos_line = *line = ln;
	l->pos_col = *col = c;
}

struct stmt_ctx {
	size_t off, len;   /* of the statement in the script */
};

static void report(struct sl_linter *l, const struct stmt_ctx *st, int location,
		   const char *rule_id, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A rule's severity under the configuration (mode, then per-rule). */
static enum sl_severity severity_of(const struct sl_linter *l, const struct sl_lint_rule *r)
{
	enum sl_severity sev = r->severity;
	if (l->cfg.forward_only && (r->cls == SL_RC_DESTRUCTIVE || r->cls == SL_RC_INCOMPATIBLE))
		sev = SL_SEV_ERROR;
	for (size_t i = 0; i < l->cfg.noverrides; i++)
		if (strcmp(l->cfg.overrides[i].rule, r->id) == 0)
			sev = l->cfg.overrides[i].severity;
	return sev;
}

/* The linter's copy of a file name: findings share one per file. */
static const char *intern(struct sl_linter *l, const char *name)
{
	for (size_t i = l->names.n; i-- > 0;)
		if (strcmp(l->names.v[i], name) == 0)
			return l->names.v[i];
	sl_strvec_push(&l->names, name);
	return l->names.v[l->names.n - 1];
}

/* Append a finding; msg is taken over. */
static void push_finding(struct sl_linter *l, const struct sl_lint_rule *r, enum sl_severity sev,
			 const char *file, int line, int column, char *msg)
{
	if (l->nf == l->capf) {
		l->capf = l->capf ? l->capf * 2 : 16;
		l->f = sl_realloc(l->f, l->capf * sizeof(*l->f));
	}
	struct sl_finding *f = &l->f[l->nf++];
	f->rule = r;
	f->severity = sev;
	f->file = intern(l, file ? file : "");
	f->line = line > 0 ? line : 1;
	f->column = column > 0 ? column : 1;
	f->message = msg;
	if (sev >= SL_SEV_INFO && sev <= SL_SEV_ERROR)
		l->counts[sev]++;
	if (l->sink) {
		l->sink(f, l->sink_ctx);
		free(f->message);
		l->nf--;
	}
}

void sl_linter_set_sink(struct sl_linter *l, void (*fn)(const struct sl_finding *, void *),
			void *ctx)
{
	l->sink = fn;
	l->sink_ctx = ctx;
}

static void report(struct sl_linter *l, const struct stmt_ctx *st, int location,
		   const char *rule_id, const char *fmt, ...)
{
	if (l->learning)
		return;
	const struct sl_lint_rule *r = sl_lint_rule_find(rule_id);
	if (l->sqlite && r->cls == SL_RC_LOCKING)
		return; /* PostgreSQL lock advice; SQLite locks the whole file anyway */
	enum sl_severity sev = severity_of(l, r);
	if (sev == SL_SEV_OFF)
		return;
	size_t off = st->off;
	if (location >= 0 && l->loc_base + (size_t)location < l->len)
		off = l->loc_base + (size_t)location;
	int line, col, sline, scol, eline;
	pos_of(l, st->off, &sline, &scol);
	pos_of(l, off, &line, &col);
	/* the statement's last line, without moving pos_of's cache past the
	 * next finding of the same statement */
	eline = line;
	for (size_t i = off; i < st->off + st->len && i < l->len; i++)
		eline += l->sql[i] == '\n';
	if (suppressed(l, rule_id, sline, eline))
		return;
	struct sl_buf msg = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	push_finding(l, r, sev, l->file, line, col, sl_buf_detach(&msg));
}

/* ---- catalog of the run ------------------------------------------------- */

static char *rel_name(const PgQuery__RangeVar *rv)
{
	struct sl_buf b = SL_BUF_INIT;
	if (rv->schemaname && rv->schemaname[0] && strcmp(rv->schemaname, "public") != 0)
		sl_buf_printf(&b, "%s.", rv->schemaname);
	sl_buf_adds(&b, rv->relname ? rv->relname : "");
	return sl_buf_detach(&b);
}

static struct table *table_find(struct sl_linter *l, const char *name)
{
	for (size_t i = 0; i < l->nt; i++)
		if (strcmp(l->t[i].name, name) == 0)
			return &l->t[i];
	return NULL;
}

static struct table *table_add(struct sl_linter *l, const char *name)
{
	struct table *t = table_find(l, name);
	if (t)
		return t;
	l->t = sl_realloc(l->t, (l->nt + 1) * sizeof(*l->t));
	t = &l->t[l->nt++];
	memset(t, 0, sizeof(*t));
	t->name = sl_strdup(name);
	t->fresh = !l->learning;
	return t;
}

/* Was name created by a script of this run (so it holds no rows yet)? */
static int is_fresh(struct sl_linter *l, const char *name)
{
	struct table *t = table_find(l, name);
	return t && t->fresh;
}

static void table_forget(struct sl_linter *l, const char *name)
{
	struct table *t = table_find(l, name);
	if (!t)
		return;
	table_clear(t);
	*t = l->t[--l->nt];
}

static struct col *col_find(struct table *t, const char *name)
{
	for (size_t i = 0; t && i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

/* ---- tree helpers ------------------------------------------------------- */

static const char *str_of(const PgQuery__Node *n)
{
	return n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string ? n->string->sval : NULL;
}

/* The type's own name (last component): "int4", "varchar", "serial". */
static const char *type_of(const PgQuery__TypeName *t, int mod[2])
{
	mod[0] = mod[1] = -1;
	if (!t || !t->n_names)
		return "";
	for (size_t i = 0; i < t->n_typmods && i < 2; i++) {
		const PgQuery__Node *m = t->typmods[i];
		if (m->node_case == PG_QUERY__NODE__NODE_A_CONST && m->a_const->val_case ==
		    PG_QUERY__A__CONST__VAL_IVAL && m->a_const->ival)
			mod[i] = m->a_const->ival->ival;
	}
	const char *s = str_of(t->names[t->n_names - 1]);
	return s ? s : "";
}

/* Does changing old to new keep every existing value and reader valid? */
static int widens(const char *old, const int om[2], const char *nw, const int nm[2])
{
	static const char *const ints[] = { "int2", "int4", "int8" };
	int oi = -1, ni = -1;
	if (!strcmp(old, "serial") || !strcmp(old, "serial4"))
		old = "int4";
	if (!strcmp(old, "smallserial") || !strcmp(old, "serial2"))
		old = "int2";
	if (!strcmp(old, "bigserial") || !strcmp(old, "serial8"))
		old = "int8";
	for (int i = 0; i < 3; i++) {
		if (!strcmp(old, ints[i]))
			oi = i;
		if (!strcmp(nw, ints[i]))
			ni = i;
	}
	if (oi >= 0 && ni >= 0)
		return ni >= oi;
	if (!strcmp(old, "varchar") && !strcmp(nw, "text"))
		return 1;
	if (!strcmp(old, "varchar") && !strcmp(nw, "varchar"))
		return nm[0] < 0 || (om[0] >= 0 && nm[0] >= om[0]);
	if (!strcmp(old, "float4") && !strcmp(nw, "float8"))
		return 1;
	if (!strcmp(old, "numeric") && !strcmp(nw, "numeric"))
		return nm[0] < 0 || (om[0] >= 0 && nm[0] >= om[0] && nm[1] == om[1]);
	return !strcmp(old, nw) && om[0] == nm[0] && om[1] == nm[1];
}

static int is_volatile(const PgQuery__Node *n)
{
	static const char *const vol[] = {
		"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
		"uuid_generate_v4", "clock_timestamp", "timeofday", "nextval", "random_normal", NULL
	};
	if (!n)
		return 0;
	if (n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
		return is_volatile(n->type_cast->arg);
	if (n->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
		return 0;
	const PgQuery__FuncCall *f = n->func_call;
	const char *name = f->n_funcname ? str_of(f->funcname[f->n_funcname - 1]) : NULL;
	for (size_t i = 0; name && vol[i]; i++)
		if (!strcmp(name, vol[i]))
			return 1;
	for (size_t i = 0; i < f->n_args; i++)
		if (is_volatile(f->args[i]))
			return 1;
	return 0;
}

/* Type hygiene of a column being defined. */
/* ---- ML rules: what feature and model contracts say about a change ----- */

void sl_linter_set_contracts(struct sl_linter *l, const struct sl_contracts *c)
{
	l->contracts = c;
}

/* A column named by the contract itself (key, timestamp, label, prediction). */
static int contract_names(const struct sl_feature_contract *f, const char *col)
{
	for (size_t i = 0; i < f->keys.n; i++)
		if (!strcasecmp(f->keys.v[i], col))
			return 1;
	return (f->timestamp && !strcasecmp(f->timestamp, col)) ||
	       (f->label && !strcasecmp(f->label, col)) ||
	       (f->prediction && !strcasecmp(f->prediction, col));
}

/* A column appears on table (added, or created with it). */
static void ml_column_added(struct sl_linter *l, const struct stmt_ctx *st, const char *table,
			    const PgQuery__ColumnDef *cd, int loc)
{
	if (!l->contracts || !cd->colname)
		return;
	const char *col = cd->colname;
	int mod[2];
	const char *sqltype = type_of(cd->type_name, mod);
	int fair = 0, covered = 0;
	for (const struct sl_feature_contract *f = NULL;
	     (f = sl_contracts_feature_next(l->contracts, table, f));) {
		covered = 1;
		const struct sl_feature_col *c = sl_feature_col_find(f, col);
		if (c && c->is_protected && !f->fairness_off)
			fair = 1;
		if (contract_names(f, col))
			continue;
		if (!c) {
			report(l, st, loc, "feature-documentation-complete",
			       "%s.%s is not described in feature contract %s (%s)", table, col, f->name,
			       f->path);
			continue;
		}
		struct sl_buf missing = SL_BUF_INIT;
		if (!c->type)
			sl_buf_adds(&missing, "type");
		if (!c->description)
			sl_buf_printf(&missing, "%sdescription", missing.len ? ", " : "");
		if (!c->owner && !f->owner)
			sl_buf_printf(&missing, "%sowner", missing.len ? ", " : "");
		if (missing.len)
			report(l, st, loc, "feature-documentation-complete",
			       "%s.%s in feature contract %s (%s:%d) lacks %s", table, col, f->name,
			       f->path, c->line, missing.s);
		else if (!sl_type_compatible(c->type, sqltype))
			report(l, st, loc, "feature-documentation-complete",
			       "%s.%s is added as %s but feature contract %s (%s:%d) says %s", table,
			       col, sqltype, f->name, f->path, c->line, c->type);
		sl_buf_free(&missing);
	}
	if (fair)
		return;
	int named = sl_protected_name(col), marked = 0;
	for (const struct sl_feature_contract *f = NULL;
	     (f = sl_contracts_feature_next(l->contracts, table, f));) {
		const struct sl_feature_col *c = sl_feature_col_find(f, col);
		marked |= c && c->is_protected;
	}
	if (marked)
		report(l, st, loc, "bias-assessment-required",
		       "%s.%s is protected but the fairness gate of its contract is disabled", table, col);
	else if (named)
		report(l, st, loc, "bias-assessment-required",
		       "%s.%s looks like a protected attribute and no fairness gate covers it%s", table,
		       col, covered ? " (it is not marked protected in the table's contract)"
				    : " (the table has no feature contract)");
}

/*
 * A column (col NULL: the whole table) stops being readable as it was:
 * what = "dropping", "renaming", "narrowing".  Reports the model versions
 * that read it.
 */
static void ml_column_broken(struct sl_linter *l, const struct stmt_ctx *st, const char *table,
			     const char *col, int loc, const char *what)
{
	if (!l->contracts)
		return;
	struct sl_buf models = SL_BUF_INIT;
	for (size_t i = 0; i < l->contracts->nmodels; i++) {
		const struct sl_model_contract *m = &l->contracts->models[i];
		if (!sl_model_reads(m, table, col, 1))
			continue;
		sl_buf_adds(&models, models.len ? ", " : "");
		sl_model_id(&models, m);
		if (col && m->label && !strcasecmp(m->label, col) && sl_table_is(m->table, table))
			sl_buf_adds(&models, " (label)");
	}
	if (models.len) {
		if (col)
			report(l, st, loc, "model-input-breaking", "%s %s.%s breaks %s", what, table, col,
			       models.s);
		else
			report(l, st, loc, "model-input-breaking", "%s table %s breaks %s", what, table,
			       models.s);
	}
	sl_buf_free(&models);
}

static void check_col_type(struct sl_linter *l, const struct stmt_ctx *st, const char *table,
			   const PgQuery__ColumnDef *cd)
{
	int mod[2];
	const char *t = type_of(cd->type_name, mod);
	int loc = cd->type_name ? cd->type_name->location : cd->location;
	if (!strcmp(t, "int4"))
		report(l, st, loc, "prefer-bigint-over-int", "%s.%s is integer (32-bit)", table, cd->colname);
	else if (!strcmp(t, "int2"))
		report(l, st, loc, "prefer-bigint-over-smallint", "%s.%s is smallint", table, cd->colname);
	else if (!strcmp(t, "serial") || !strcmp(t, "serial4") || !strcmp(t, "bigserial") ||
		 !strcmp(t, "serial8") || !strcmp(t, "smallserial") || !strcmp(t, "serial2"))
		report(l, st, loc, "prefer-identity", "%s.%s is %s", table, cd->colname, t);
	else if (!strcmp(t, "varchar") && mod[0] >= 0)
		report(l, st, loc, "prefer-text-field", "%s.%s is varchar(%d)", table, cd->colname, mod[0]);
	else if (!strcmp(t, "bpchar"))
		report(l, st, loc, "ban-char-field", "%s.%s is char(%d)", table, cd->colname, mod[0] < 0 ? 1 : mod[0]);
	else if (!strcmp(t, "timestamp"))
		report(l, st, loc, "prefer-timestamptz", "%s.%s is timestamp without time zone", table, cd->colname);
}

static void remember_col(struct table *t, const PgQuery__ColumnDef *cd)
{
	if (!t || !cd->colname)
		return;
	int mod[2];
	const char *ty = type_of(cd->type_name, mod);
	struct col *c = col_find(t, cd->colname);
	if (!c) {
		t->cols = sl_realloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
		c = &t->cols[t->ncols++];
		c->name = sl_strdup(cd->colname);
	} else {
		free(c->type);
	}
	c->type = sl_strdup(ty);
	c->mod[0] = mod[0];
	c->mod[1] = mod[1];
}

static void need_lock_timeout(struct sl_linter *l, const struct stmt_ctx *st, int loc,
			      const char *what)
{
	if (l->lock_timeout_set || l->timeout_reported)
		return;
	l->timeout_reported = 1;
	report(l, st, loc, "require-timeout-settings",
	       "%s takes an ACCESS EXCLUSIVE lock and no lock_timeout is set before it", what);
}

/* ---- rules per statement ------------------------------------------------ */

static void check_add_column(struct sl_linter *l, const struct stmt_ctx *st, const char *table,
			     int is_new, const PgQuery__ColumnDef *cd, int loc)
{
	int not_null = cd->is_not_null, has_default = cd->raw_default != NULL;
	const PgQuery__Node *dflt = cd->raw_default;
	for (size_t i = 0; i < cd->n_constraints; i++) {
		const PgQuery__Node *c = cd->constraints[i];
		if (c->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
			continue;
		switch (c->constraint->contype) {
		case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
			not_null = 1;
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
			has_default = 1;
			dflt = c->constraint->raw_expr;
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
		case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
			has_default = 1;
			break;
		default:
			break;
		}
	}
	check_col_type(l, st, table, cd);
	ml_column_added(l, st, table, cd, loc);
	if (is_new)
		return;
	if (not_null && !has_default)
		report(l, st, loc, "adding-required-field",
		       "adding NOT NULL column %s.%s without a default", table, cd->colname);
	if (has_default && is_volatile(dflt))
		report(l, st, loc, "adding-field-with-default",
		       "column %s.%s has a volatile default: every row is rewritten", table, cd->colname);
}

static void check_alter_table(struct sl_linter *l, const struct stmt_ctx *st,
			      const PgQuery__AlterTableStmt *a)
{
	if (!a->relation)
		return;
	char *table = rel_name(a->relation);
	int loc = a->relation->location;
	struct table *t = table_find(l, table);
	int is_new = t && t->fresh;
	if (!is_new && a->n_cmds)
		need_lock_timeout(l, st, loc, "ALTER TABLE");
	for (size_t i = 0; i < a->n_cmds; i++) {
		if (a->cmds[i]->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
			continue;
		const PgQuery__AlterTableCmd *c = a->cmds[i]->alter_table_cmd;
		const char *col = c->name ? c->name : "";
		switch (c->subtype) {
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
			report(l, st, loc, "ban-drop-column", "dropping column %s.%s", table, col);
			ml_column_broken(l, st, table, col, loc, "dropping");
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropNotNull:
			report(l, st, loc, "ban-drop-not-null", "dropping NOT NULL on %s.%s", table, col);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
			if (!is_new)
				report(l, st, loc, "adding-not-nullable-field", "SET NOT NULL on %s.%s", table, col);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: {
			if (!c->def || c->def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF)
				break;
			const PgQuery__ColumnDef *cd = c->def->column_def;
			int nm[2];
			const char *nt = type_of(cd->type_name, nm);
			struct col *old = col_find(t, col);
			if (!old)
				report(l, st, loc, "changing-column-type",
				       "changing the type of %s.%s to %s (its old type is not known here)",
				       table, col, nt);
			else if (!widens(old->type, old->mod, nt, nm))
				report(l, st, loc, "changing-column-type",
				       "changing %s.%s from %s to %s narrows or changes its values",
				       table, col, old->type, nt);
			if (!old || !widens(old->type, old->mod, nt, nm))
				ml_column_broken(l, st, table, col, loc,
						 old ? "narrowing" : "changing the type of");
			if (old) {
				free(old->type);
				old->type = sl_strdup(nt);
				old->mod[0] = nm[0];
				old->mod[1] = nm[1];
			}
			break;
		}
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
			if (c->def && c->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) {
				check_add_column(l, st, table, is_new, c->def->column_def, loc);
				remember_col(t, c->def->column_def);
			}
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint: {
			if (is_new || !c->def || c->def->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
				break;
			const PgQuery__Constraint *k = c->def->constraint;
			if ((k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN ||
			     k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK) && !k->skip_validation)
				report(l, st, k->location, "constraint-missing-not-valid",
				       "%s constraint on %s is validated against every row",
				       k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN ? "foreign key" : "check",
				       table);
			else if ((k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE ||
				  k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY) &&
				 (!k->indexname || !k->indexname[0]))
				report(l, st, k->location, "disallowed-unique-constraint",
				       "%s constraint on %s builds its index under an ACCESS EXCLUSIVE lock",
				       k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE ? "unique" : "primary key",
				       table);
			break;
		}
		default:
			break;
		}
	}
	free(table);
}

static void check_drop(struct sl_linter *l, const struct stmt_ctx *st, const PgQuery__DropStmt *d)
{
	for (size_t i = 0; i < d->n_objects; i++) {
		/* objects are lists of name parts */
		struct sl_buf name = SL_BUF_INIT;
		const PgQuery__Node *o = d->objects[i];
		if (o->node_case == PG_QUERY__NODE__NODE_LIST) {
			for (size_t k = 0; k < o->list->n_items; k++) {
				const char *s = str_of(o->list->items[k]);
				if (s && !(k == 0 && o->list->n_items > 1 && !strcmp(s, "public")))
					sl_buf_printf(&name, "%s%s", name.len ? "." : "", s);
			}
		} else if (str_of(o)) {
			sl_buf_adds(&name, str_of(o));
		}
		switch (d->remove_type) {
		case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
			if (!is_fresh(l, name.s)) {
				report(l, st, -1, "ban-drop-table", "dropping table %s", name.s);
				need_lock_timeout(l, st, -1, "DROP TABLE");
				ml_column_broken(l, st, name.s, NULL, -1, "dropping");
			}
			table_forget(l, name.s);
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
			report(l, st, -1, "ban-drop-schema", "dropping schema %s", name.s);
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: {
			int mine = 0;
			for (size_t k = 0; k < l->indexes.n; k++)
				if (!strcmp(l->indexes.v[k], name.s))
					mine = 1;
			if (!d->concurrent && !mine)
				report(l, st, -1, "require-concurrent-index-deletion", "dropping index %s", name.s);
			break;
		}
		default:
			break;
		}
		sl_buf_free(&name);
	}
}

static void check_stmt(struct sl_linter *l, const struct stmt_ctx *st, const PgQuery__Node *n)
{
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_CREATE_STMT: {
		const PgQuery__CreateStmt *c = n->create_stmt;
		if (!c->relation)
			break;
		char *name = rel_name(c->relation);
		struct table *t = table_add(l, name);
		for (size_t i = 0; i < c->n_table_elts; i++)
			if (c->table_elts[i]->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF) {
				const PgQuery__ColumnDef *cd = c->table_elts[i]->column_def;
				check_col_type(l, st, name, cd);
				ml_column_added(l, st, name, cd, cd->location);
				remember_col(t, cd);
			}
		free(name);
		break;
	}
	case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
		check_alter_table(l, st, n->alter_table_stmt);
		break;
	case PG_QUERY__NODE__NODE_DROP_STMT:
		check_drop(l, st, n->drop_stmt);
		break;
	case PG_QUERY__NODE__NODE_DROPDB_STMT:
		report(l, st, -1, "ban-drop-database", "dropping database %s", n->dropdb_stmt->dbname);
		break;
	case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
		report(l, st, -1, "ban-truncate", "TRUNCATE deletes every row");
		need_lock_timeout(l, st, -1, "TRUNCATE");
		break;
	case PG_QUERY__NODE__NODE_DELETE_STMT:
		if (!n->delete_stmt->where_clause && n->delete_stmt->relation) {
			char *name = rel_name(n->delete_stmt->relation);
			report(l, st, n->delete_stmt->relation->location, "ban-delete-without-where",
			       "DELETE FROM %s without WHERE", name);
			free(name);
		}
		break;
	case PG_QUERY__NODE__NODE_RENAME_STMT: {
		const PgQuery__RenameStmt *r = n->rename_stmt;
		char *name = r->relation ? rel_name(r->relation) : sl_strdup("?");
		int loc = r->relation ? r->relation->location : -1;
		int fresh = is_fresh(l, name);   /* before the rename moves it */
		if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE) {
			if (!fresh) {
				report(l, st, loc, "renaming-table", "renaming table %s to %s", name, r->newname);
				ml_column_broken(l, st, name, NULL, loc, "renaming");
			}
			struct table *t = table_find(l, name);
			if (t) {
				free(t->name);
				t->name = sl_strdup(r->newname);
			}
		} else if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) {
			struct table *t = table_find(l, name);
			if (!fresh) {
				report(l, st, loc, "renaming-column", "renaming column %s.%s to %s", name,
				       r->subname, r->newname);
				ml_column_broken(l, st, name, r->subname, loc, "renaming");
			}
			struct col *c = col_find(t, r->subname);
			if (c) {
				free(c->name);
				c->name = sl_strdup(r->newname);
			}
		}
		if ((r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
		     r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) && !fresh)
			need_lock_timeout(l, st, loc, "a rename");
		free(name);
		break;
	}
	case PG_QUERY__NODE__NODE_INDEX_STMT: {
		const PgQuery__IndexStmt *ix = n->index_stmt;
		char *name = ix->relation ? rel_name(ix->relation) : sl_strdup("?");
		int loc = ix->relation ? ix->relation->location : -1;
		if (ix->concurrent && l->in_tx)
			report(l, st, loc, "ban-concurrent-index-creation-in-transaction",
			       "CREATE INDEX CONCURRENTLY on %s inside BEGIN ... COMMIT", name);
		else if (!ix->concurrent && !is_fresh(l, name))
			report(l, st, loc, "require-concurrent-index-creation",
			       "CREATE INDEX%s on existing table %s without CONCURRENTLY",
			       ix->unique ? " (UNIQUE)" : "", name);
		if (ix->idxname && ix->idxname[0])
			sl_strvec_push(&l->indexes, ix->idxname);
		free(name);
		break;
	}
	case PG_QUERY__NODE__NODE_VACUUM_STMT: {
		const PgQuery__VacuumStmt *v = n->vacuum_stmt;
		for (size_t i = 0; i < v->n_options; i++)
			if (v->options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM &&
			    !strcmp(v->options[i]->def_elem->defname, "full"))
				report(l, st, -1, "ban-vacuum-full", "VACUUM FULL");
		break;
	}
	case PG_QUERY__NODE__NODE_CLUSTER_STMT:
		report(l, st, -1, "ban-cluster", "CLUSTER");
		break;
	case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
		if (n->variable_set_stmt->name && !strcmp(n->variable_set_stmt->name, "lock_timeout"))
			l->lock_timeout_set = 1;
		break;
	case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
		switch (n->transaction_stmt->kind) {
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
			l->in_tx = 1;
			break;
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
			l->in_tx = 0;
			break;
		default:
			break;
		}
		break;
	default:
		break;
	}
}

/* Past the blanks and comments (nested, as PostgreSQL's) from off. */
static size_t skip_blanks(const char *s, size_t off, size_t len)
{
	while (off < len) {
		if (isspace((unsigned char)s[off])) {
			off++;
		} else if (off + 1 < len && s[off] == '-' && s[off + 1] == '-') {
			while (off < len && s[off] != '\n')
				off++;
		} else if (off + 1 < len && s[off] == '/' && s[off + 1] == '*') {
			int depth = 0;
			do {
				if (off + 1 < len && s[off] == '/' && s[off + 1] == '*') {
					depth++;
					off += 2;
				} else if (off + 1 < len && s[off] == '*' && s[off + 1] == '/') {
					depth--;
					off += 2;
				} else {
					off++;
				}
			} while (off < len && depth > 0);
		} else {
			break;
		}
	}
	return off;
}

/*
 * Statements no rule looks at (INSERT, UPDATE, SELECT, COPY, GRANT, ...)
 * are only checked for syntax: serialising their parse trees to protobuf
 * and back is most of the cost of a data-heavy script.  What a rule reads
 * starts with one of these keywords.
 */
static size_t next_word(const char *s, size_t off, size_t len, char *word, size_t cap)
{
	size_t n = 0;
	off = skip_blanks(s, off, len);
	while (off < len && (isalpha((unsigned char)s[off]) || s[off] == '_')) {
		if (n < cap - 1)
			word[n++] = (char)tolower((unsigned char)s[off]);
		off++;
	}
	word[n] = '\0';
	return off;
}

static int inspected(const char *s, size_t off, size_t len)
{
	static const char *const kw[] = { "alter", "analyse", "analyze", "abort", "begin",
					  "cluster", "commit", "delete", "drop", "end",
					  "reset", "rollback", "set", "start", "truncate",
					  "vacuum", "with" };
	char w[16];
	off = next_word(s, off, len, w, sizeof(w));
	if (strcmp(w, "create") == 0) {
		/* CREATE [OR REPLACE] [UNIQUE] [TEMP|UNLOGGED|...] TABLE|INDEX|SCHEMA */
		for (int k = 0; k < 5; k++) {
			off = next_word(s, off, len, w, sizeof(w));
			if (!strcmp(w, "table") || !strcmp(w, "index") || !strcmp(w, "schema"))
				return 1;
			if (strcmp(w, "or") && strcmp(w, "replace") && strcmp(w, "unique") &&
			    strcmp(w, "global") && strcmp(w, "local") && strcmp(w, "temp") &&
			    strcmp(w, "temporary") && strcmp(w, "unlogged"))
				return 0;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(kw) / sizeof(*kw); i++)
		if (strcmp(w, kw[i]) == 0)
			return 1;
	return 0;
}

/* Run the rules over sql[base..base+len), statements that parse. */
static void check_run(struct sl_linter *l, size_t base, size_t len)
{
	char *s = sl_strndup(l->sql + base, len);
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(s);
	PgQuery__ParseResult *tree = NULL;
	if (!r.error)
		tree = pg_query__parse_result__unpack(NULL, r.parse_tree.len,
						      (const uint8_t *)r.parse_tree.data);
	l->loc_base = base;
	for (size_t i = 0; tree && i < tree->n_stmts; i++) {
		const PgQuery__RawStmt *rs = tree->stmts[i];
		if (!rs->stmt)
			continue;
		struct stmt_ctx st = { base + (size_t)rs->stmt_location, (size_t)rs->stmt_len };
		/* the statement's position is its first token's */
		size_t start = skip_blanks(l->sql, st.off, base + len);
		st.len = st.len ? st.len - (start - st.off) : base + len - start;
		st.off = start;
		check_stmt(l, &st, rs->stmt);
	}
	l->loc_base = 0;
	if (tree)
		pg_query__parse_result__free_unpacked(tree, NULL);
	pg_query_free_protobuf_parse_result(r);
	free(s);
}

/*
 * Check one part of a script: complete statements, sql[0..len).  When it
 * does not parse and may_retry is set, returns -1 and reports nothing.
 * libpg_query's parser splits and checks the syntax of all of it; runs of
 * consecutive inspected statements are then parsed again into trees for
 * the rules.
 */
static int check_part(struct sl_linter *l, const char *sql, size_t len, int first_line,
		      int may_retry)
{
	l->sql = sql;
	l->len = len;
	l->first_line = first_line;
	l->pos_off = 0;
	l->pos_line = first_line;
	l->pos_col = 1;
	char *s = sl_strndup(sql, len);
	PgQuerySplitResult r = pg_query_split_with_parser(s);
	if (r.error && may_retry) {
		pg_query_free_split_result(r);
		free(s);
		return -1;
	}
	if (!l->learning)
		scan_ignores(l);
	if (r.error) {
		if (!l->learning) {
			size_t off = 0;
			for (int c = 1; off < len && c < r.error->cursorpos; off++)
				if (((unsigned char)s[off] & 0xC0) != 0x80)
					c++;
			struct stmt_ctx st = { off, 0 };
			if (strlen(s) != len)
				report(l, &st, -1, "syntax-error", "the script contains a NUL byte");
			else if (l->sqlite)
				report(l, &st, (int)off, "not-postgres-syntax",
				       "not checked: the PostgreSQL parser says %s", r.error->message);
			else
				report(l, &st, (int)off, "syntax-error", "%s", r.error->message);
		}
	} else {
		size_t run = 0, run_end = 0;
		int in_run = 0;
		for (int i = 0; i < r.n_stmts; i++) {
			size_t off = (size_t)r.stmts[i]->stmt_location;
			size_t end = off + (size_t)r.stmts[i]->stmt_len;
			if (r.stmts[i]->stmt_len == 0 || end > len)
				end = len;
			if (inspected(s, off, end)) {
				if (!in_run)
					run = off;
				in_run = 1;
				run_end = end;
			} else if (in_run) {
				check_run(l, run, run_end - run);
				in_run = 0;
			}
		}
		if (in_run)
			check_run(l, run, run_end - run);
	}
	pg_query_free_split_result(r);
	free(s);
	free_ignores(l);
	return 0;
}

/*
 * Where the complete statements of a window end: the start of the last
 * statement the scanner sees (it may be cut off by the window's end), or 0
 * when there is no such point yet (one statement, or the window ends in an
 * unterminated literal or comment).  s is NUL-terminated.
 */
static size_t complete_prefix(const char *s)
{
	PgQuerySplitResult r = pg_query_split_with_scanner(s);
	size_t cut = 0;
	if (!r.error && r.n_stmts > 1)
		cut = (size_t)r.stmts[r.n_stmts - 1]->stmt_location;
	pg_query_free_split_result(r);
	return cut;
}

/*
 * A script is read and parsed in windows of about LINT_WINDOW bytes that
 * end at statement boundaries, so memory stays flat however large the
 * file is: libpg_query's parse tree is many times the size of its input,
 * and a 50 MB data-migration script is not unusual.  A script smaller than
 * a window is parsed in one piece.  Where a window's statements do not
 * parse although the whole file might (a BEGIN ATOMIC body cut at one of
 * its semicolons), the window is doubled a few times before the error is
 * reported.
 */
#define LINT_WINDOW (256u * 1024u)

struct reader {
	size_t (*read)(void *ctx, char *dst, size_t n);
	void *ctx;
};

static void run(struct sl_linter *l, const char *file, struct reader *rd, int first_line,
		int learning)
{
	l->file = file;
	l->learning = learning;
	l->lock_timeout_set = l->in_tx = l->timeout_reported = 0;
	if (!learning)
		sl_strvec_push(&l->files, file ? file : "");
	struct sl_buf w = SL_BUF_INIT;
	size_t want = LINT_WINDOW;
	int eof = 0, line = first_line, retries = 0;
	for (;;) {
		while (!eof && w.len < want) {
			sl_buf_grow(&w, want - w.len);
			size_t n = rd->read(rd->ctx, w.s + w.len, want - w.len);
			if (n == 0)
				eof = 1;
			w.len += n;
			w.s[w.len] = '\0';
		}
		if (eof) {
			if (w.len)
				check_part(l, w.s, w.len, line, 0);
			break;
		}
		size_t cut = complete_prefix(w.s);
		if (cut && check_part(l, w.s, cut, line, retries < 3) != 0) {
			retries++;
			cut = 0;
		}
		if (!cut) {
			want = w.len + LINT_WINDOW / 4;
			continue;
		}
		for (size_t i = 0; i < cut; i++)
			line += w.s[i] == '\n';
		memmove(w.s, w.s + cut, w.len - cut + 1);
		w.len -= cut;
#ifdef __GLIBC__
		/* the parse trees' memory goes back to the system between
		 * windows; without this glibc's heap grows with the file */
		malloc_trim(0);
#endif
		want = LINT_WINDOW;
		retries = 0;
	}
	sl_buf_free(&w);
	l->file = l->sql = NULL;
	l->len = 0;
}

struct mem_src {
	const char *s;
	size_t len, off;
};

static size_t mem_read(void *ctx, char *dst, size_t n)
{
	struct mem_src *m = ctx;
	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(dst, m->s + m->off, n);
	m->off += n;
	return n;
}

static size_t file_read(void *ctx, char *dst, size_t n)
{
	return fread(dst, 1, n, (FILE *)ctx);
}

void sl_linter_check(struct sl_linter *l, const char *file, const char *sql, size_t len,
		     int first_line)
{
	struct mem_src m = { sql, len, 0 };
	struct reader rd = { mem_read, &m };
	run(l, file, &rd, first_line, 0);
}

int sl_linter_check_stream(struct sl_linter *l, const char *file, FILE *fp)
{
	struct reader rd = { file_read, fp };
	run(l, file, &rd, 1, 0);
	return ferror(fp) ? -1 : 0;
}

void sl_linter_learn(struct sl_linter *l, const char *sql, size_t len)
{
	struct mem_src m = { sql, len, 0 };
	struct reader rd = { mem_read, &m };
	run(l, NULL, &rd, 1, 1);
}

void sl_linter_set_sqlite(struct sl_linter *l, int on)
{
	l->sqlite = on;
}

const char *const *sl_linter_files(const struct sl_linter *l, size_t *n)
{
	*n = l->files.n;
	return (const char *const *)l->files.v;
}

void sl_linter_add(struct sl_linter *l, const char *rule_id, const char *file, int line,
		   int column, const char *fmt, ...)
{
	const struct sl_lint_rule *r = sl_lint_rule_find(rule_id);
	enum sl_severity sev = severity_of(l, r);
	if (sev == SL_SEV_OFF)
		return;
	struct sl_buf msg = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	push_finding(l, r, sev, file, line, column, sl_buf_detach(&msg));
}

static void push_lower(struct sl_strvec *out, const char *prefix, const char *name)
{
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_adds(&b, prefix);
	for (const char *p = name; *p; p++)
		sl_buf_addc(&b, (char)tolower((unsigned char)*p));
	sl_strvec_push_owned(out, sl_buf_detach(&b));
}

void sl_lint_created(const char *sql, size_t len, struct sl_strvec *out)
{
	char *s = sl_strndup(sql, len);
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(s);
	if (!r.error) {
		PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
			NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
		for (size_t i = 0; tree && i < tree->n_stmts; i++) {
			const PgQuery__Node *n = tree->stmts[i]->stmt;
			if (!n)
				continue;
			if (n->node_case == PG_QUERY__NODE__NODE_CREATE_STMT && n->create_stmt->relation) {
				char *t = rel_name(n->create_stmt->relation);
				push_lower(out, "table:", t);
				for (size_t k = 0; k < n->create_stmt->n_table_elts; k++) {
					const PgQuery__Node *e = n->create_stmt->table_elts[k];
					if (e->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF)
						continue;
					struct sl_buf c = SL_BUF_INIT;
					sl_buf_printf(&c, "%s.%s", t, e->column_def->colname);
					push_lower(out, "column:", c.s);
					sl_buf_free(&c);
				}
				free(t);
			} else if (n->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_STMT &&
				   n->alter_table_stmt->relation) {
				char *t = rel_name(n->alter_table_stmt->relation);
				for (size_t k = 0; k < n->alter_table_stmt->n_cmds; k++) {
					const PgQuery__Node *c = n->alter_table_stmt->cmds[k];
					if (c->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD ||
					    c->alter_table_cmd->subtype != PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn ||
					    !c->alter_table_cmd->def ||
					    c->alter_table_cmd->def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF)
						continue;
					struct sl_buf b = SL_BUF_INIT;
					sl_buf_printf(&b, "%s.%s", t, c->alter_table_cmd->def->column_def->colname);
					push_lower(out, "column:", b.s);
					sl_buf_free(&b);
				}
				free(t);
			}
		}
		if (tree)
			pg_query__parse_result__free_unpacked(tree, NULL);
	}
	pg_query_free_protobuf_parse_result(r);
	free(s);
}
