/*
 * reverse.c - what migration statements destroy and how to undo them, read
 * from libpg_query's protobuf parse trees (see reverse.h).
 */
#include "reverse.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"

#include <ctype.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NODE(x) PG_QUERY__NODE__NODE_##x
#define OBJ(x) PG_QUERY__OBJECT_TYPE__OBJECT_##x
#define AT(x) PG_QUERY__ALTER_TABLE_TYPE__AT_##x
#define CASCADE PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE

/* One statement being analysed. */
struct rev {
	struct sl_rev_stmt *st;
	const char *text;       /* the statement alone, NUL-terminated */
	int version;            /* of the parse tree, for the deparser */
	int sets_path;          /* this statement changes search_path or the role */
	int unqualified;        /* an unqualified name went into inverse SQL or d[] */
	struct sl_strvec *added; /* "schema\ttable\tcolumn" added by ADD COLUMN so far in the script */
};

/* ---- small helpers ------------------------------------------------------ */

/* protobuf-c leaves absent strings "" rather than NULL. */
static int set(const char *s)
{
	return s && s[0];
}

/* The text of a String node, or NULL. */
static const char *str_of(const PgQuery__Node *n)
{
	return n && n->node_case == NODE(STRING) && n->string ? n->string->sval : NULL;
}

/* Why the statement cannot be undone; the first reason given stays. */
static void vwhy(struct rev *r, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vwhy(struct rev *r, const char *fmt, va_list ap)
{
	if (!r->st->why[0])
		vsnprintf(r->st->why, sizeof(r->st->why), fmt, ap);
}

static void why(struct rev *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct rev *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwhy(r, fmt, ap);
	va_end(ap);
}

/* The SQL keyword(s) of an object type: "TABLE", "MATERIALIZED VIEW". */
static void obj_kw(PgQuery__ObjectType t, char *out, size_t cap)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&pg_query__object_type__descriptor, (int)t);
	const char *s = v ? v->name : "OBJECT";
	if (t == OBJ(MATVIEW))
		s = "MATERIALIZED VIEW";
	else if (t == OBJ(TABCONSTRAINT))
		s = "CONSTRAINT";
	else if (!strncmp(s, "OBJECT_", 7))
		s += 7;
	snprintf(out, cap, "%s", s);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = ' ';
}

/*
 * [catalog.][schema.]name of relation rv, quoted; name (when not NULL)
 * replaces rv's own, for objects that live in rv's schema (its indexes,
 * its new name after a rename).
 */
static void add_rel(struct rev *r, struct sl_buf *b, const PgQuery__RangeVar *rv,
		    const char *name)
{
	if (set(rv->schemaname)) {
		if (set(rv->catalogname)) {
			sl_quote_ident_std(b, rv->catalogname);
			sl_buf_addc(b, '.');
		}
		sl_quote_ident_std(b, rv->schemaname);
		sl_buf_addc(b, '.');
	} else {
		r->unqualified = 1;
	}
	sl_quote_ident_std(b, name ? name : rv->relname);
}

/* A dotted name given as a list of String nodes (types, domains). */
static void add_names(struct rev *r, struct sl_buf *b, PgQuery__Node *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			sl_buf_addc(b, '.');
		sl_quote_ident_std(b, str_of(v[i]) ? str_of(v[i]) : "");
	}
	if (n < 2)
		r->unqualified = 1;
}

/* Add a destroy item; new_type is taken over.  An unqualified one counts as
 * an unqualified name: restoring it later resolves it by search_path. */
static void destroy(struct rev *r, enum sl_destroy_kind kind, const char *schema,
		    const char *table, const char *column, char *new_type)
{
	struct sl_rev_stmt *st = r->st;
	st->d = sl_realloc(st->d, (st->nd + 1) * sizeof(*st->d));
	struct sl_destroy *d = &st->d[st->nd++];
	d->kind = kind;
	d->schema = set(schema) ? sl_strdup(schema) : NULL;
	d->table = sl_strdup(table ? table : "");
	d->column = column ? sl_strdup(column) : NULL;
	d->new_type = new_type;
	if (!d->schema)
		r->unqualified = 1;
}

static void destroy_rv(struct rev *r, enum sl_destroy_kind kind, const PgQuery__RangeVar *rv)
{
	destroy(r, kind, rv->schemaname, rv->relname, NULL, NULL);
}

/*
 * A column type as SQL, written by libpg_query's deparser from a one-column
 * CREATE TABLE built around the parsed type: the deparser knows every
 * spelling of PostgreSQL's types (intervals, arrays, quoting), where a
 * printer of our own would miss some.  NULL when the deparser declines.
 */
static char *type_sql(const PgQuery__TypeName *tn, int version)
{
	PgQuery__ColumnDef cd = PG_QUERY__COLUMN_DEF__INIT;
	PgQuery__Node col = PG_QUERY__NODE__INIT, top = PG_QUERY__NODE__INIT;
	PgQuery__RangeVar rv = PG_QUERY__RANGE_VAR__INIT;
	PgQuery__CreateStmt cs = PG_QUERY__CREATE_STMT__INIT;
	PgQuery__RawStmt rs = PG_QUERY__RAW_STMT__INIT;
	PgQuery__ParseResult pr = PG_QUERY__PARSE_RESULT__INIT;
	PgQuery__Node *cols[1] = { &col };
	PgQuery__RawStmt *stmts[1] = { &rs };
	static const char pre[] = "CREATE TABLE t (c ";
	const size_t npre = sizeof(pre) - 1;

	cd.colname = (char *)"c";
	cd.type_name = (PgQuery__TypeName *)tn;
	col.node_case = NODE(COLUMN_DEF);
	col.column_def = &cd;
	rv.relname = (char *)"t";
	rv.inh = 1;
	rv.relpersistence = (char *)"p";
	cs.relation = &rv;
	cs.n_table_elts = 1;
	cs.table_elts = cols;
	top.node_case = NODE(CREATE_STMT);
	top.create_stmt = &cs;
	rs.stmt = &top;
	pr.version = version;
	pr.n_stmts = 1;
	pr.stmts = stmts;

	size_t n = pg_query__parse_result__get_packed_size(&pr);
	uint8_t *buf = sl_malloc(n ? n : 1);
	pg_query__parse_result__pack(&pr, buf);
	PgQueryProtobuf pb = { n, (char *)buf };
	PgQueryDeparseResult d = pg_query_deparse_protobuf(pb);
	char *out = NULL;
	size_t len = !d.error && d.query ? strlen(d.query) : 0;
	if (len > npre + 1 && !strncmp(d.query, pre, npre) && d.query[len - 1] == ')')
		out = sl_strndup(d.query + npre, len - npre - 1);
	pg_query_free_deparse_result(d);
	free(buf);
	return out;
}

/* ---- what a query may change -------------------------------------------- */

/* Functions that read (or only touch session state): a SELECT of them is harmless. */
static const char *const read_only_fns[] = {
	"abs", "age", "array_agg", "array_length", "array_to_string", "avg", "bool_and",
	"bool_or", "btrim", "cardinality", "ceil", "ceiling", "char_length",
	"character_length", "clock_timestamp", "col_description", "concat", "concat_ws",
	"count", "current_database", "current_schema", "current_setting", "date_part",
	"date_trunc", "dense_rank", "every", "extract", "first_value", "floor", "format",
	"format_type", "generate_series", "has_schema_privilege", "has_table_privilege",
	"json_agg", "json_build_object", "jsonb_agg", "jsonb_build_object", "lag",
	"last_value", "lead", "left", "length", "lower", "lpad", "ltrim", "max", "md5", "min",
	"now", "obj_description", "overlay", "pg_advisory_lock", "pg_advisory_unlock",
	"pg_advisory_xact_lock", "pg_backend_pid", "pg_column_size", "pg_get_indexdef",
	"pg_get_viewdef", "pg_is_in_recovery", "pg_relation_size", "pg_size_pretty",
	"pg_sleep", "pg_table_size", "pg_total_relation_size", "pg_try_advisory_lock",
	"pg_try_advisory_xact_lock", "pg_typeof", "position", "random", "rank",
	"regexp_match", "regexp_replace", "replace", "right", "round", "row_number", "rpad",
	"rtrim", "split_part", "statement_timestamp", "string_agg", "strpos", "substr",
	"substring", "sum", "timezone", "to_char", "to_date", "to_regclass", "to_timestamp",
	"transaction_timestamp", "trim", "trunc", "unnest", "upper", "version", NULL
};

/*
 * Is a call known to change nothing that needs undoing?  set_config() is
 * SET: harmless, but one of search_path moves later names (sets_path).
 */
static int read_only_call(struct rev *r, const PgQuery__FuncCall *f, const char **name)
{
	*name = f->n_funcname ? str_of(f->funcname[f->n_funcname - 1]) : NULL;
	if (!*name || f->n_funcname > 2 ||
	    (f->n_funcname == 2 && strcmp(str_of(f->funcname[0]) ? str_of(f->funcname[0]) : "",
					  "pg_catalog")))
		return 0;
	if (!strcmp(*name, "set_config")) {
		const PgQuery__Node *a = f->n_args ? f->args[0] : NULL;
		if (!a || a->node_case != NODE(A_CONST) ||
		    a->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL)
			return 0;
		if (!strcasecmp(a->a_const->sval->sval, "search_path"))
			r->sets_path = 1;
		return 1;
	}
	for (size_t i = 0; read_only_fns[i]; i++)
		if (!strcmp(*name, read_only_fns[i]))
			return 1;
	return 0;
}

/*
 * Does a query change something: call a function not known to be read-only,
 * modify rows in a WITH, or create a table with INTO?  The reason goes to
 * why.  Every message of the tree is visited through protobuf-c's
 * reflection, so no node type can be missed.
 */
static int changes_something(struct rev *r, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > 10000) {
		why(r, "the statement is nested too deeply to analyse");
		return 1;
	}
	if (d == &pg_query__func_call__descriptor) {
		const char *name;
		if (!read_only_call(r, (const PgQuery__FuncCall *)m, &name)) {
			why(r, "calls %s(): sluice cannot tell what it changes", name ? name : "a function");
			return 1;
		}
	} else if (d == &pg_query__insert_stmt__descriptor || d == &pg_query__update_stmt__descriptor ||
		   d == &pg_query__delete_stmt__descriptor || d == &pg_query__merge_stmt__descriptor) {
		why(r, "a data-modifying WITH changes rows");
		return 1;
	} else if (d == &pg_query__into_clause__descriptor) {
		why(r, "SELECT INTO in a compound query");
		return 1;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *p = (const char *)m + f->offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which;
			memcpy(&which, (const char *)m + f->quantifier_offset, sizeof(which));
			if (which != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n;
			const ProtobufCMessage *const *v;
			memcpy(&n, (const char *)m + f->quantifier_offset, sizeof(n));
			memcpy(&v, p, sizeof(v));
			for (size_t k = 0; k < n; k++)
				if (v[k] && changes_something(r, v[k], depth + 1))
					return 1;
		} else {
			const ProtobufCMessage *c;
			memcpy(&c, p, sizeof(c));
			if (c && changes_something(r, c, depth + 1))
				return 1;
		}
	}
	return 0;
}

/* ---- statements that create something ----------------------------------- */

/* A statement that creates relation rv ("CREATE TABLE"), undone by DROP kw. */
static void created(struct rev *r, const char *kw, const PgQuery__RangeVar *rv,
		    int if_not_exists, const char *what)
{
	if (!rv || !set(rv->relname)) {
		why(r, "%s: no name in the statement", what);
		return;
	}
	if (rv->relpersistence && rv->relpersistence[0] == 't') {
		r->st->harmless = 1;   /* temporary: gone with the session */
		return;
	}
	if (if_not_exists) {
		why(r, "%s IF NOT EXISTS may not have created it", what);
		return;
	}
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_printf(&b, "DROP %s ", kw);
	add_rel(r, &b, rv, NULL);
	r->st->inverse = sl_buf_detach(&b);
}

/* A type or domain named by a list of strings, undone by DROP kw. */
static void created_named(struct rev *r, const char *kw, PgQuery__Node *const *names, size_t n)
{
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_printf(&b, "DROP %s ", kw);
	add_names(r, &b, names, n);
	r->st->inverse = sl_buf_detach(&b);
}

/* CREATE INDEX name: DROP INDEX, in the schema of the index's table. */
static void create_index(struct rev *r, const PgQuery__IndexStmt *ix)
{
	if (!set(ix->idxname)) {
		why(r, "unnamed index: name it so it can be dropped");
		return;
	}
	if (ix->if_not_exists) {
		why(r, "CREATE INDEX IF NOT EXISTS may not have created it");
		return;
	}
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_adds(&b, "DROP INDEX ");
	if (ix->relation) {
		add_rel(r, &b, ix->relation, ix->idxname);   /* in its table's schema */
	} else {
		sl_quote_ident_std(&b, ix->idxname);
		r->unqualified = 1;
	}
	r->st->inverse = sl_buf_detach(&b);
}

/* CREATE SCHEMA: DROP SCHEMA, when it created only the (empty) schema. */
static void create_schema(struct rev *r, const PgQuery__CreateSchemaStmt *s)
{
	const char *name = s->schemaname;
	/* CREATE SCHEMA AUTHORIZATION joe creates schema joe */
	if (!set(name) && s->authrole &&
	    s->authrole->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CSTRING)
		name = s->authrole->rolename;
	if (!set(name)) {
		why(r, "CREATE SCHEMA AUTHORIZATION of the current role: its name is not in the script");
	} else if (s->if_not_exists) {
		why(r, "CREATE SCHEMA IF NOT EXISTS may not have created it");
	} else if (s->n_schema_elts) {
		why(r, "CREATE SCHEMA with elements: create them in statements of their own");
	} else {
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_adds(&b, "DROP SCHEMA ");
		sl_quote_ident_std(&b, name);
		r->st->inverse = sl_buf_detach(&b);
	}
}

/* ---- ALTER TABLE and renames -------------------------------------------- */

/* The subcommand cannot be undone: why, and -1. */
static int refuse(struct rev *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct rev *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwhy(r, fmt, ap);
	va_end(ap);
	return -1;
}

/* Was the column added earlier in the script?  With add, remember it. */
static int added_key(struct rev *r, const PgQuery__RangeVar *rv, const char *col, int add)
{
	struct sl_buf k = SL_BUF_INIT;
	sl_buf_printf(&k, "%s\t%s\t%s", set(rv->schemaname) ? rv->schemaname : "", rv->relname, col);
	int found = 0;
	for (size_t i = 0; i < r->added->n && !found; i++)
		found = !strcmp(r->added->v[i], k.s);
	if (!found && add)
		sl_strvec_push(r->added, k.s);
	sl_buf_free(&k);
	return found;
}

/*
 * An UPDATE that only fills columns the script added (the backfill after
 * ADD COLUMN, and what an operations migration's add_column renders) needs
 * no undo of its own: the inverse of the ADD COLUMN drops what it wrote.
 */
static int update_of_added(struct rev *r, const PgQuery__UpdateStmt *u)
{
	if (!u->relation || !set(u->relation->relname) || u->with_clause || u->n_returning_list ||
	    !u->n_target_list)
		return 0;
	for (size_t i = 0; i < u->n_target_list; i++) {
		const PgQuery__Node *t = u->target_list[i];
		if (t->node_case != NODE(RES_TARGET) || !set(t->res_target->name) || t->res_target->n_indirection)
			return 0;
		if (!added_key(r, u->relation, t->res_target->name, 0))
			return 0;
		if (t->res_target->val && changes_something(r, &t->res_target->val->base, 0))
			return 0;
	}
	if (u->where_clause && changes_something(r, &u->where_clause->base, 0))
		return 0;
	for (size_t i = 0; i < u->n_from_clause; i++)
		if (changes_something(r, &u->from_clause[i]->base, 0))
			return 0;
	return 1;
}

/*
 * One ALTER TABLE subcommand: 0 when the action in b undoes it (b empty:
 * nothing to undo), 1 when it destroys data (added to d[]), -1 when sluice
 * cannot undo it (why set).
 */
static int subcommand(struct rev *r, const PgQuery__RangeVar *rv, const PgQuery__AlterTableCmd *c,
		      struct sl_buf *b)
{
	const char *col = set(c->name) ? c->name : "";
	const PgQuery__ColumnDef *cd = c->def && c->def->node_case == NODE(COLUMN_DEF)
					       ? c->def->column_def : NULL;
	switch (c->subtype) {
	case AT(AddColumn):
		if (!cd || !set(cd->colname))
			return refuse(r, "ADD COLUMN without a column name");
		if (c->missing_ok)
			return refuse(r, "ADD COLUMN IF NOT EXISTS may not have added %s", cd->colname);
		/* constraints given with the column go with it */
		added_key(r, rv, cd->colname, 1);
		sl_buf_adds(b, "DROP COLUMN ");
		sl_quote_ident_std(b, cd->colname);
		return 0;
	case AT(AddConstraint): {
		const PgQuery__Constraint *k = c->def && c->def->node_case == NODE(CONSTRAINT)
						       ? c->def->constraint : NULL;
		if (!k || !set(k->conname))
			return refuse(r, "unnamed constraint: name it so it can be dropped");
		if (set(k->indexname))
			return refuse(r, "ADD CONSTRAINT %s USING INDEX: dropping the constraint "
				      "would drop the index too", k->conname);
		sl_buf_adds(b, "DROP CONSTRAINT ");
		sl_quote_ident_std(b, k->conname);
		return 0;
	}
	case AT(SetNotNull):
		sl_buf_adds(b, "ALTER COLUMN ");
		sl_quote_ident_std(b, col);
		sl_buf_adds(b, " DROP NOT NULL");
		return 0;
	case AT(ValidateConstraint):
		return 0;
	case AT(DropColumn):
		destroy(r, SL_DESTROY_DROP_COLUMN, rv->schemaname, rv->relname, col, NULL);
		if (c->behavior == CASCADE)
			r->st->d_incomplete = 1;
		return 1;
	case AT(AlterColumnType): {
		char *t = cd && cd->type_name ? type_sql(cd->type_name, r->version) : NULL;
		if (!t) {
			struct sl_buf q = SL_BUF_INIT;
			const PgQuery__TypeName *tn = cd ? cd->type_name : NULL;
			const char *last = tn && tn->n_names ? str_of(tn->names[tn->n_names - 1]) : NULL;
			sl_quote_ident_std(&q, last ? last : "");
			t = sl_buf_detach(&q);
		}
		destroy(r, SL_DESTROY_ALTER_TYPE, rv->schemaname, rv->relname, col, t);
		return 1;
	}
	case AT(ColumnDefault):
		return refuse(r, "ALTER COLUMN %s %s DEFAULT: the old default is not known", col,
			      c->def ? "SET" : "DROP");
	case AT(DropNotNull):
		return refuse(r, "ALTER COLUMN %s DROP NOT NULL: whether it was NOT NULL before "
			      "is not known", col);
	case AT(DropConstraint):
		return refuse(r, "DROP CONSTRAINT %s: its definition is not in the script", col);
	default: {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&pg_query__alter_table_type__descriptor, (int)c->subtype);
		const char *name = v ? v->name : "?";
		return refuse(r, "ALTER TABLE subcommand %s: sluice does not undo it",
			      strncmp(name, "AT_", 3) ? name : name + 3);
	}
	}
}

/*
 * ALTER TABLE: one ALTER TABLE undoes it, its actions the subcommands' inverses
 * last first, so the whole undo is one statement and as atomic as the change.
 */
static void alter_table(struct rev *r, const PgQuery__AlterTableStmt *a)
{
	struct sl_rev_stmt *st = r->st;
	if (a->objtype != OBJ(TABLE) || !a->relation) {
		char kw[48];
		obj_kw(a->objtype, kw, sizeof(kw));
		why(r, "ALTER %s: sluice does not undo it", kw);
		return;
	}
	const PgQuery__RangeVar *rv = a->relation;
	struct sl_strvec acts = SL_STRVEC_INIT;   /* inverse actions, in statement order */
	int refused = 0;
	for (size_t i = 0; i < a->n_cmds; i++) {
		if (a->cmds[i]->node_case != NODE(ALTER_TABLE_CMD))
			continue;
		struct sl_buf b = SL_BUF_INIT;
		if (subcommand(r, rv, a->cmds[i]->alter_table_cmd, &b) < 0)
			refused = 1;
		if (b.len)
			sl_strvec_push_owned(&acts, sl_buf_detach(&b));
		sl_buf_free(&b);
	}
	char *sql = NULL;
	if (!refused && acts.n) {
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "ALTER TABLE %s%s", a->missing_ok ? "IF EXISTS " : "",
			      rv->inh ? "" : "ONLY ");
		add_rel(r, &b, rv, NULL);
		for (size_t k = acts.n; k-- > 0;) {   /* undone last first */
			sl_buf_adds(&b, k + 1 == acts.n ? " " : ", ");
			sl_buf_adds(&b, acts.v[k]);
		}
		sql = sl_buf_detach(&b);
	}
	sl_strvec_free(&acts);
	if (refused) {
		free(sql);
	} else if (st->nd && st->d_incomplete) {
		free(sql);
		why(r, "DROP COLUMN ... CASCADE may also drop objects the script does not name");
	} else if (st->nd) {
		st->inverse_rest = sql ? sql : sl_strdup("");
		why(r, "DROP COLUMN and ALTER COLUMN TYPE: the old column comes back from the archive");
	} else if (sql) {
		st->inverse = sql;
	} else {
		st->harmless = 1;   /* VALIDATE CONSTRAINT only */
	}
}

/* Relations renamed with ALTER <kind> name RENAME TO. */
static int is_rel_kind(PgQuery__ObjectType t)
{
	return t == OBJ(TABLE) || t == OBJ(INDEX) || t == OBJ(VIEW) || t == OBJ(MATVIEW) ||
	       t == OBJ(SEQUENCE) || t == OBJ(FOREIGN_TABLE);
}

/* A rename is undone by the opposite rename (relations, columns,
 * constraints, schemas). */
static void rename_stmt(struct rev *r, const PgQuery__RenameStmt *n)
{
	struct sl_buf b = SL_BUF_INIT;
	char kw[48];
	const char *ex = n->missing_ok ? "IF EXISTS " : "";
	if (is_rel_kind(n->rename_type) && n->relation && n->missing_ok) {
		/* when it renamed nothing, the inverse would rename what has the new name */
		obj_kw(n->rename_type, kw, sizeof(kw));
		why(r, "ALTER %s IF EXISTS ... RENAME may have renamed nothing", kw);
		return;
	} else if (is_rel_kind(n->rename_type) && n->relation) {
		/* renamed in place: the new name is in the old one's schema */
		obj_kw(n->rename_type, kw, sizeof(kw));
		sl_buf_printf(&b, "ALTER %s ", kw);
		add_rel(r, &b, n->relation, n->newname);
		sl_buf_adds(&b, " RENAME TO ");
		sl_quote_ident_std(&b, n->relation->relname);
	} else if ((n->rename_type == OBJ(COLUMN) && is_rel_kind(n->relation_type) &&
		    n->relation_type != OBJ(INDEX) && n->relation_type != OBJ(SEQUENCE)) ||
		   n->rename_type == OBJ(TABCONSTRAINT)) {
		int column = n->rename_type == OBJ(COLUMN);
		obj_kw(column ? n->relation_type : OBJ(TABLE), kw, sizeof(kw));
		if (n->relation) {
			sl_buf_printf(&b, "ALTER %s %s%s", kw, ex,
				      !n->relation->inh && !strcmp(kw, "TABLE") ? "ONLY " : "");
			add_rel(r, &b, n->relation, NULL);
			sl_buf_adds(&b, column ? " RENAME COLUMN " : " RENAME CONSTRAINT ");
			sl_quote_ident_std(&b, n->newname);
			sl_buf_adds(&b, " TO ");
			sl_quote_ident_std(&b, n->subname);
		}
	} else if (n->rename_type == OBJ(SCHEMA) && set(n->subname)) {
		sl_buf_adds(&b, "ALTER SCHEMA ");
		sl_quote_ident_std(&b, n->newname);
		sl_buf_adds(&b, " RENAME TO ");
		sl_quote_ident_std(&b, n->subname);
	}
	if (b.len) {
		r->st->inverse = sl_buf_detach(&b);
	} else {
		obj_kw(n->rename_type, kw, sizeof(kw));
		why(r, "renaming a %s: sluice does not undo it", kw);
	}
	sl_buf_free(&b);
}

/* ---- statements that destroy data --------------------------------------- */

/* DROP: tables are destroy items (one per table); nothing else dropped can
 * be recreated, as its definition is not in the script. */
static void drop(struct rev *r, const PgQuery__DropStmt *d)
{
	struct sl_rev_stmt *st = r->st;
	char kw[48];
	obj_kw(d->remove_type, kw, sizeof(kw));
	if (d->behavior == CASCADE)
		st->d_incomplete = 1;
	for (size_t i = 0; d->remove_type == OBJ(TABLE) && i < d->n_objects; i++) {
		const PgQuery__Node *o = d->objects[i];
		if (o->node_case != NODE(LIST) || !o->list->n_items)
			continue;
		PgQuery__Node *const *v = o->list->items;
		size_t n = o->list->n_items;
		destroy(r, SL_DESTROY_DROP_TABLE, n >= 2 ? str_of(v[n - 2]) : NULL, str_of(v[n - 1]),
			NULL, NULL);
	}
	if (st->d_incomplete)
		why(r, "DROP %s ... CASCADE may also drop objects the script does not name", kw);
	else if (st->nd) {
		st->inverse_rest = sl_strdup("");
		why(r, "DROP TABLE: its rows come back from the archive");
	} else
		why(r, "DROP %s: its definition is not in the script", kw);
}

/* TRUNCATE: one destroy item per table. */
static void truncate_stmt(struct rev *r, const PgQuery__TruncateStmt *t)
{
	struct sl_rev_stmt *st = r->st;
	for (size_t i = 0; i < t->n_relations; i++)
		if (t->relations[i]->node_case == NODE(RANGE_VAR))
			destroy_rv(r, SL_DESTROY_TRUNCATE, t->relations[i]->range_var);
	if (t->behavior == CASCADE) {
		st->d_incomplete = 1;
		why(r, "TRUNCATE ... CASCADE also empties the tables that reference these");
	} else if (t->restart_seqs) {
		why(r, "TRUNCATE ... RESTART IDENTITY: the old sequence values are not known");
	} else {
		st->inverse_rest = sl_strdup("");
		why(r, "TRUNCATE: the rows come back from the archive");
	}
}

/* DELETE of every row is a destroy item; any other DELETE changes rows. */
static void delete_stmt(struct rev *r, const PgQuery__DeleteStmt *d)
{
	if (d->where_clause || d->n_using_clause || !d->relation) {
		why(r, "DELETE with %s changes rows", d->where_clause ? "WHERE" : "USING");
		return;
	}
	/* every row goes, whatever else the statement does */
	destroy_rv(r, SL_DESTROY_DELETE_ALL, d->relation);
	if (d->with_clause && changes_something(r, &d->with_clause->base, 0))
		return;
	r->st->inverse_rest = sl_strdup("");
	why(r, "DELETE without WHERE: the rows come back from the archive");
}

/* ---- one statement ------------------------------------------------------ */

/* EXPLAIN runs its statement only with ANALYZE (not "ANALYZE false"). */
static int explain_runs(const PgQuery__ExplainStmt *e)
{
	for (size_t i = 0; i < e->n_options; i++) {
		const PgQuery__Node *o = e->options[i];
		if (o->node_case != NODE(DEF_ELEM) || strcmp(o->def_elem->defname, "analyze"))
			continue;
		const PgQuery__Node *a = o->def_elem->arg;
		if (!a)
			return 1;
		if (a->node_case == NODE(INTEGER))
			return a->integer->ival != 0;
		if (a->node_case == NODE(BOOLEAN))
			return a->boolean->boolval;
		const char *s = str_of(a);
		return !s || (strcasecmp(s, "false") && strcasecmp(s, "off") && strcasecmp(s, "no") &&
			      strcmp(s, "0"));
	}
	return 0;
}

/* The leading keywords of the statement, for messages: "CREATE EXTENSION". */
static void leading_keywords(const char *text, char *out, size_t cap)
{
	PgQueryScanResult s = pg_query_scan(text);
	PgQuery__ScanResult *t = s.error ? NULL : pg_query__scan_result__unpack(
		NULL, s.pbuf.len, (const uint8_t *)s.pbuf.data);
	size_t n = 0, tl = strlen(text);
	out[0] = '\0';
	for (size_t i = 0; t && i < t->n_tokens && i < 4; i++) {
		const PgQuery__ScanToken *k = t->tokens[i];
		if (k->keyword_kind == PG_QUERY__KEYWORD_KIND__NO_KEYWORD || k->start < 0 ||
		    k->end <= k->start || (size_t)k->end > tl ||
		    (i && k->end - k->start == 2 && !strncasecmp(text + k->start, "if", 2)))
			break;
		for (int c = k->start; c < k->end && n + 2 < cap; c++)
			out[n++] = (char)toupper((unsigned char)text[c]);
		out[n++] = ' ';
		out[n] = '\0';
	}
	if (n)
		out[n - 1] = '\0';
	else
		snprintf(out, cap, "this statement");
	if (t)
		pg_query__scan_result__free_unpacked(t, NULL);
	pg_query_free_scan_result(s);
}

/* Fill r->st from the statement's parse tree. */
static void analyse_node(struct rev *r, const PgQuery__Node *n)
{
	struct sl_rev_stmt *st = r->st;
	switch (n->node_case) {
	case NODE(CREATE_STMT):
		created(r, "TABLE", n->create_stmt->relation, n->create_stmt->if_not_exists,
			"CREATE TABLE");
		break;
	case NODE(CREATE_TABLE_AS_STMT): {
		const PgQuery__CreateTableAsStmt *c = n->create_table_as_stmt;
		const PgQuery__RangeVar *rel = c->into ? c->into->rel : NULL;
		if (c->objtype == OBJ(MATVIEW))
			created(r, "MATERIALIZED VIEW", rel, c->if_not_exists, "CREATE MATERIALIZED VIEW");
		else
			created(r, "TABLE", rel, c->if_not_exists,
				c->is_select_into ? "SELECT INTO" : "CREATE TABLE AS");
		break;
	}
	case NODE(SELECT_STMT): {
		const PgQuery__SelectStmt *s = n->select_stmt;
		if (s->into_clause)
			created(r, "TABLE", s->into_clause->rel, 0, "SELECT INTO");
		else if (!changes_something(r, &s->base, 0))
			st->harmless = 1;
		break;
	}
	case NODE(INDEX_STMT):
		create_index(r, n->index_stmt);
		break;
	case NODE(VIEW_STMT):
		if (n->view_stmt->replace)
			why(r, "CREATE OR REPLACE VIEW may have replaced a view that existed");
		else
			created(r, "VIEW", n->view_stmt->view, 0, "CREATE VIEW");
		break;
	case NODE(CREATE_SEQ_STMT):
		created(r, "SEQUENCE", n->create_seq_stmt->sequence, n->create_seq_stmt->if_not_exists,
			"CREATE SEQUENCE");
		break;
	case NODE(CREATE_SCHEMA_STMT):
		create_schema(r, n->create_schema_stmt);
		break;
	case NODE(COMPOSITE_TYPE_STMT):
		created(r, "TYPE", n->composite_type_stmt->typevar, 0, "CREATE TYPE");
		break;
	case NODE(CREATE_ENUM_STMT):
		created_named(r, "TYPE", n->create_enum_stmt->type_name, n->create_enum_stmt->n_type_name);
		break;
	case NODE(CREATE_RANGE_STMT):
		created_named(r, "TYPE", n->create_range_stmt->type_name,
			      n->create_range_stmt->n_type_name);
		break;
	case NODE(CREATE_DOMAIN_STMT):
		created_named(r, "DOMAIN", n->create_domain_stmt->domainname,
			      n->create_domain_stmt->n_domainname);
		break;
	case NODE(ALTER_TABLE_STMT):
		alter_table(r, n->alter_table_stmt);
		break;
	case NODE(RENAME_STMT):
		rename_stmt(r, n->rename_stmt);
		break;
	case NODE(DROP_STMT):
		drop(r, n->drop_stmt);
		break;
	case NODE(DROP_OWNED_STMT):
		st->d_incomplete = 1;
		why(r, "DROP OWNED drops objects the script does not name");
		break;
	case NODE(TRUNCATE_STMT):
		truncate_stmt(r, n->truncate_stmt);
		break;
	case NODE(DELETE_STMT):
		delete_stmt(r, n->delete_stmt);
		break;
	case NODE(INSERT_STMT):
		why(r, "INSERT changes rows");
		break;
	case NODE(UPDATE_STMT):
		if (update_of_added(r, n->update_stmt))
			r->st->harmless = 1;
		else
			why(r, "UPDATE changes rows");
		break;
	case NODE(MERGE_STMT):
		why(r, "MERGE changes rows");
		break;
	case NODE(COPY_STMT):
		if (n->copy_stmt->is_from)
			why(r, "COPY FROM changes rows");
		else if (!n->copy_stmt->query || !changes_something(r, &n->copy_stmt->query->base, 0))
			st->harmless = 1;
		break;
	case NODE(COMMENT_STMT):
		why(r, "COMMENT ON: the old comment is not known");
		break;
	case NODE(EXPLAIN_STMT):
		if (explain_runs(n->explain_stmt) && n->explain_stmt->query)
			analyse_node(r, n->explain_stmt->query);   /* EXPLAIN ANALYZE runs it */
		else
			st->harmless = 1;
		break;
	case NODE(VARIABLE_SET_STMT): {
		const PgQuery__VariableSetStmt *v = n->variable_set_stmt;
		const char *name = v->name ? v->name : "";
		if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL ||
		    !strcmp(name, "search_path") || !strcmp(name, "role") ||
		    !strcmp(name, "session_authorization"))
			r->sets_path = 1;
		st->harmless = 1;
		break;
	}
	case NODE(VARIABLE_SHOW_STMT):
	case NODE(VACUUM_STMT):            /* VACUUM and ANALYZE */
	case NODE(TRANSACTION_STMT):
	case NODE(NOTIFY_STMT):
	case NODE(LISTEN_STMT):
	case NODE(UNLISTEN_STMT):
	case NODE(LOCK_STMT):
	case NODE(CHECK_POINT_STMT):
	case NODE(DISCARD_STMT):
	case NODE(CONSTRAINTS_SET_STMT):
	case NODE(REINDEX_STMT):
	case NODE(DEALLOCATE_STMT):
		st->harmless = 1;
		break;
	default: {
		char kw[64];
		leading_keywords(r->text, kw, sizeof(kw));
		why(r, "%s: sluice does not undo it (a down script can)", kw);
		break;
	}
	}
}

/* Does the statement start with word (its first token)? */
static int starts_with(const char *s, const char *word)
{
	size_t n = strlen(word);
	return !strncasecmp(s, word, n) && !isalnum((unsigned char)s[n]) && s[n] != '_';
}

/*
 * Analyse the statement st locates in sql, parsed on its own.  *path_changed
 * carries "search_path or the role was set" from statement to statement.
 */
static int analyse_stmt(const char *sql, struct sl_rev_stmt *st, int *path_changed,
			struct sl_strvec *added, struct sl_error *err)
{
	char *text = sl_strndup(sql + st->off, st->len);
	struct rev r = { st, text, 0, 0, 0, added };
	st->path_changed = *path_changed;
	/* data scripts are mostly INSERTs: no need for their trees */
	if (starts_with(text, "insert") || (starts_with(text, "update") && !added->n)) {
		why(&r, "%s changes rows", starts_with(text, "insert") ? "INSERT" : "UPDATE");
		free(text);
		return 0;
	}
	PgQueryProtobufParseResult pr = pg_query_parse_protobuf(text);
	PgQuery__ParseResult *tree = NULL;
	int rc = 0;
	if (pr.error) {
		rc = sl_err_at(err, SL_USAGE, NULL, st->line, 0, "syntax error: %s", pr.error->message);
		goto out;
	}
	tree = pg_query__parse_result__unpack(NULL, pr.parse_tree.len,
					      (const uint8_t *)pr.parse_tree.data);
	if (!tree || tree->n_stmts != 1 || !tree->stmts[0]->stmt) {
		why(&r, "the statement could not be analysed");
		goto out;
	}
	r.version = tree->version;
	analyse_node(&r, tree->stmts[0]->stmt);
	if (st->path_changed && r.unqualified && (st->inverse || st->inverse_rest)) {
		free(st->inverse);
		free(st->inverse_rest);
		st->inverse = st->inverse_rest = NULL;
		snprintf(st->why, sizeof(st->why), "search_path or the role was changed before this "
			 "statement: schema-qualify its names so sluice can undo it");
	}
	if (r.sets_path)
		*path_changed = 1;
out:
	if (tree)
		pg_query__parse_result__free_unpacked(tree, NULL);
	pg_query_free_protobuf_parse_result(pr);
	free(text);
	return rc;
}

int sl_reverse_analyze(const char *sql, size_t len, struct sl_rev_list *out,
		       struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *nul = memchr(sql, 0, len);
	if (nul)
		return sl_err_at(err, SL_USAGE, NULL, sl_line_of(sql, (size_t)(nul - sql)), 0,
				 "the script contains a NUL byte");
	/* the driver's split: the same statements, offsets and lines the engine runs */
	struct sl_stmt_list l = { 0 };
	if (sl_db_driver_named("postgres")->split(sql, len, &l, err)) {
		sl_stmt_list_free(&l);
		return -1;
	}
	out->v = sl_calloc(l.n ? l.n : 1, sizeof(*out->v));
	int path_changed = 0, rc = 0;
	struct sl_strvec added = SL_STRVEC_INIT;
	for (size_t i = 0; i < l.n && !rc; i++) {
		struct sl_rev_stmt *st = &out->v[out->n++];
		st->off = l.v[i].off;
		st->len = l.v[i].len;
		st->line = l.v[i].line;
		rc = analyse_stmt(sql, st, &path_changed, &added, err);
	}
	sl_strvec_free(&added);
	sl_stmt_list_free(&l);
	if (rc)
		sl_rev_list_free(out);
	return rc;
}

void sl_rev_list_free(struct sl_rev_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct sl_rev_stmt *st = &l->v[i];
		for (size_t k = 0; k < st->nd; k++) {
			free(st->d[k].schema);
			free(st->d[k].table);
			free(st->d[k].column);
			free(st->d[k].new_type);
		}
		free(st->d);
		free(st->inverse);
		free(st->inverse_rest);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
