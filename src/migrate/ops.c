/*
 * ops.c - operations migrations (see ops.h): the YAML loader and the plain
 * SQL rendering.  The zero-downtime staging lives in src/deploy/expand.c.
 */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/yaml.h"
#include "../db/db.h"

static const char *const kind_names[] = {
	"create_table", "add_column", "alter_column", "rename_column", "drop_column",
	"create_index", "drop_index", "rename_table", "raw_sql",
};

const char *sl_op_kind_name(enum sl_op_kind k)
{
	return (size_t)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

/* ---- loading ------------------------------------------------------------------ */

struct ld {
	const struct sl_ydoc *doc;
	struct sl_error *err;
};

/* Optional string key into *out (a copy); -1 on a non-string. */
static int opt_str(struct ld *l, const struct sl_ynode *map, const char *key, char **out)
{
	const struct sl_ynode *n = sl_ymap_get(map, key);
	const char *s;
	if (!n || sl_ynode_is_null(n))
		return 0;
	if (sl_ynode_str(l->doc, n, key, &s, l->err))
		return -1;
	free(*out);
	*out = sl_strdup(s);
	return 0;
}

/* Required non-empty string. */
static int req_str(struct ld *l, const struct sl_ynode *map, const char *key, const char *op,
		   char **out)
{
	if (opt_str(l, map, key, out))
		return -1;
	if (!*out || !**out)
		return sl_ynode_err(l->doc, map, l->err, "%s needs '%s'", op, key);
	return 0;
}

static int opt_bool(struct ld *l, const struct sl_ynode *map, const char *key, int *out)
{
	const struct sl_ynode *n = sl_ymap_get(map, key);
	if (!n || sl_ynode_is_null(n))
		return 0;
	return sl_ynode_bool(l->doc, n, key, out, l->err);
}

static int load_column(struct ld *l, const struct sl_ynode *n, struct sl_op_column *c,
		       int with_refs)
{
	static const char *const keys[] = { "name", "type", "default", "nullable", "unique",
					    "primary_key", "references", NULL };
	static const char *const keys_add[] = { "name", "type", "default", "nullable", "unique", NULL };
	memset(c, 0, sizeof(*c));
	c->nullable = 1;
	if (n->type != SL_Y_MAP)
		return sl_ynode_err(l->doc, n, l->err, "expected a column mapping {name, type, ...}");
	if (sl_ymap_check_keys(l->doc, n, with_refs ? keys : keys_add, "column", l->err) ||
	    req_str(l, n, "name", "a column", &c->name) || req_str(l, n, "type", "a column", &c->type) ||
	    opt_str(l, n, "default", &c->def) || opt_bool(l, n, "nullable", &c->nullable) ||
	    opt_bool(l, n, "unique", &c->unique) || opt_bool(l, n, "primary_key", &c->primary_key) ||
	    opt_str(l, n, "references", &c->references))
		return -1;
	return 0;
}

static void column_free(struct sl_op_column *c)
{
	free(c->name);
	free(c->type);
	free(c->def);
	free(c->references);
}

static int load_op(struct ld *l, const struct sl_ynode *item, struct sl_op *op)
{
	static const char *const k_create_table[] = { "table", "columns", NULL };
	static const char *const k_add[] = { "table", "column", "type", "default", "nullable", "unique", "up", NULL };
	static const char *const k_alter[] = { "table", "column", "type", "default", "nullable", "unique", "up", "down", NULL };
	static const char *const k_rename_col[] = { "table", "from", "to", NULL };
	static const char *const k_drop_col[] = { "table", "column", "down", NULL };
	static const char *const k_create_index[] = { "name", "table", "columns", "unique", "method", NULL };
	static const char *const k_drop_index[] = { "name", NULL };
	static const char *const k_rename_table[] = { "from", "to", NULL };
	static const char *const k_raw[] = { "up", "down", NULL };
	static const char *const *const allowed[] = {
		k_create_table, k_add, k_alter, k_rename_col, k_drop_col, k_create_index,
		k_drop_index, k_rename_table, k_raw,
	};
	memset(op, 0, sizeof(*op));
	op->nullable = -1;
	op->line = item->line;
	if (item->type != SL_Y_MAP || item->n != 1)
		return sl_ynode_err(l->doc, item, l->err,
				    "each operation is a mapping with one key (add_column: {...}, alter_column: {...}, ...)");
	const char *name = item->keys[0]->scalar;
	const struct sl_ynode *b = item->items[0];
	size_t k;
	for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
		if (!strcmp(name, kind_names[k]))
			break;
	if (k == sizeof(kind_names) / sizeof(kind_names[0]))
		return sl_ynode_err(l->doc, item->keys[0], l->err,
				    "unknown operation '%s' (create_table, add_column, alter_column, rename_column, drop_column, create_index, drop_index, rename_table, raw_sql)",
				    name);
	op->kind = (enum sl_op_kind)k;
	if (b->type != SL_Y_MAP)
		return sl_ynode_err(l->doc, b, l->err, "expected a mapping for '%s'", name);
	if (sl_ymap_check_keys(l->doc, b, allowed[k], name, l->err))
		return -1;
	switch (op->kind) {
	case SL_OP_CREATE_TABLE: {
		const struct sl_ynode *cols = sl_ymap_get(b, "columns");
		if (req_str(l, b, "table", name, &op->table))
			return -1;
		if (!cols || cols->type != SL_Y_SEQ || !cols->n)
			return sl_ynode_err(l->doc, cols ? cols : b, l->err, "create_table needs a list of 'columns'");
		op->tcols = sl_calloc(cols->n, sizeof(*op->tcols));
		for (size_t i = 0; i < cols->n; i++) {
			op->ntcols = i + 1;
			if (load_column(l, cols->items[i], &op->tcols[i], 1))
				return -1;
		}
		return 0;
	}
	case SL_OP_ADD_COLUMN: {
		const struct sl_ynode *c = sl_ymap_get(b, "column");
		if (req_str(l, b, "table", name, &op->table) || opt_str(l, b, "up", &op->up))
			return -1;
		if (c && c->type == SL_Y_MAP) {
			/* pgroll's shape: column: {name, type, nullable, default, unique} */
			struct sl_op_column col;
			int rc = load_column(l, c, &col, 0);
			if (!rc) {
				op->column = col.name;
				op->type = col.type;
				op->def = col.def;
				op->nullable = col.nullable;
				op->unique = col.unique;
			} else {
				column_free(&col);
			}
			return rc;
		}
		if (req_str(l, b, "column", name, &op->column) || req_str(l, b, "type", name, &op->type) ||
		    opt_str(l, b, "default", &op->def) || opt_bool(l, b, "unique", &op->unique))
			return -1;
		op->nullable = 1;
		return opt_bool(l, b, "nullable", &op->nullable);
	}
	case SL_OP_ALTER_COLUMN: {
		int nl = -1;
		if (req_str(l, b, "table", name, &op->table) || req_str(l, b, "column", name, &op->column) ||
		    opt_str(l, b, "type", &op->type) || opt_str(l, b, "default", &op->def) ||
		    opt_bool(l, b, "unique", &op->unique) || opt_str(l, b, "up", &op->up) ||
		    opt_str(l, b, "down", &op->down))
			return -1;
		if (sl_ymap_get(b, "nullable")) {
			if (opt_bool(l, b, "nullable", &nl))
				return -1;
			op->nullable = nl;
		}
		if (op->type && !op->up)
			return sl_ynode_err(l->doc, b, l->err,
					    "alter_column with a new 'type' needs 'up' (the expression that converts an old value; e.g. \"%s::%s\")",
					    op->column, op->type);
		if (!op->type && !op->def && op->nullable < 0 && !op->unique)
			return sl_ynode_err(l->doc, b, l->err,
					    "alter_column changes nothing: give 'type', 'default', 'nullable' or 'unique'");
		return 0;
	}
	case SL_OP_RENAME_COLUMN:
		return req_str(l, b, "table", name, &op->table) || req_str(l, b, "from", name, &op->column) ||
		       req_str(l, b, "to", name, &op->to) ? -1 : 0;
	case SL_OP_DROP_COLUMN:
		return req_str(l, b, "table", name, &op->table) || req_str(l, b, "column", name, &op->column) ||
		       opt_str(l, b, "down", &op->down) ? -1 : 0;
	case SL_OP_CREATE_INDEX: {
		const struct sl_ynode *cols = sl_ymap_get(b, "columns");
		if (req_str(l, b, "name", name, &op->index) || req_str(l, b, "table", name, &op->table) ||
		    opt_bool(l, b, "unique", &op->unique) || opt_str(l, b, "method", &op->method))
			return -1;
		if (!cols || cols->type != SL_Y_SEQ || !cols->n)
			return sl_ynode_err(l->doc, cols ? cols : b, l->err, "create_index needs a list of 'columns'");
		op->cols = sl_calloc(cols->n, sizeof(*op->cols));
		for (size_t i = 0; i < cols->n; i++) {
			const char *s;
			if (sl_ynode_str(l->doc, cols->items[i], "columns", &s, l->err))
				return -1;
			op->cols[op->ncols++] = sl_strdup(s);
		}
		if (op->method) {
			for (const char *p = op->method; *p; p++)
				if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
					return sl_ynode_err(l->doc, b, l->err, "invalid index method '%s'", op->method);
		}
		return 0;
	}
	case SL_OP_DROP_INDEX:
		return req_str(l, b, "name", name, &op->index);
	case SL_OP_RENAME_TABLE:
		return req_str(l, b, "from", name, &op->table) || req_str(l, b, "to", name, &op->to) ? -1 : 0;
	case SL_OP_RAW_SQL:
		return req_str(l, b, "up", name, &op->up) || opt_str(l, b, "down", &op->down) ? -1 : 0;
	}
	return 0;
}

int sl_ops_load(struct sl_ops *out, const char *path, const char *data, size_t len,
		struct sl_error *err)
{
	static const char *const top[] = { "operations", "schema", "description", NULL };
	struct sl_ydoc *doc = NULL;
	memset(out, 0, sizeof(*out));
	out->path = sl_strdup(path);
	if (sl_yaml_load(&doc, path, data ? data : "", data ? len : 0, err))
		goto fail;
	struct ld l = { doc, err };
	const struct sl_ynode *root = doc->root;
	if (!root || root->type != SL_Y_MAP) {
		sl_err_at(err, SL_USAGE, path, root ? root->line : 1, 0,
			  "an operations migration is a mapping with 'operations:' (a list)");
		goto fail;
	}
	if (sl_ymap_check_keys(doc, root, top, "an operations migration", err) ||
	    opt_str(&l, root, "schema", &out->schema))
		goto fail;
	const struct sl_ynode *ops = sl_ymap_get(root, "operations");
	if (!ops || ops->type != SL_Y_SEQ || !ops->n) {
		sl_ynode_err(doc, ops ? ops : root, err, "expected a non-empty list for 'operations'");
		goto fail;
	}
	out->v = sl_calloc(ops->n, sizeof(*out->v));
	for (size_t i = 0; i < ops->n; i++) {
		out->n = i + 1;
		if (load_op(&l, ops->items[i], &out->v[i]))
			goto fail;
	}
	sl_ydoc_free(doc);
	return 0;
fail:
	sl_ydoc_free(doc);
	sl_ops_free(out);
	return -1;
}

void sl_ops_free(struct sl_ops *ops)
{
	for (size_t i = 0; i < ops->n; i++) {
		struct sl_op *op = &ops->v[i];
		free(op->table);
		free(op->column);
		free(op->to);
		free(op->type);
		free(op->def);
		free(op->up);
		free(op->down);
		free(op->index);
		free(op->method);
		for (size_t k = 0; k < op->ncols; k++)
			free(op->cols[k]);
		free(op->cols);
		for (size_t k = 0; k < op->ntcols; k++)
			column_free(&op->tcols[k]);
		free(op->tcols);
	}
	free(ops->v);
	free(ops->path);
	free(ops->schema);
	memset(ops, 0, sizeof(*ops));
}

/* ---- plain SQL ---------------------------------------------------------------- */

static void qname(struct sl_buf *b, const struct sl_ops *ops, const char *name)
{
	if (ops->schema) {
		sl_quote_ident_std(b, ops->schema);
		sl_buf_addc(b, '.');
	}
	sl_quote_ident_std(b, name);
}

static void column_def(struct sl_buf *b, const struct sl_op_column *c)
{
	sl_quote_ident_std(b, c->name);
	sl_buf_printf(b, " %s", c->type);
	if (c->primary_key)
		sl_buf_adds(b, " PRIMARY KEY");
	if (!c->nullable && !c->primary_key)
		sl_buf_adds(b, " NOT NULL");
	if (c->unique)
		sl_buf_adds(b, " UNIQUE");
	if (c->def)
		sl_buf_printf(b, " DEFAULT (%s)", c->def);
	if (c->references)
		sl_buf_printf(b, " REFERENCES %s", c->references);
}

/* "ALTER TABLE t ALTER COLUMN c" */
static void alter_col(struct sl_buf *b, const struct sl_ops *ops, const struct sl_op *op)
{
	sl_buf_adds(b, "ALTER TABLE ");
	qname(b, ops, op->table);
	sl_buf_adds(b, " ALTER COLUMN ");
	sl_quote_ident_std(b, op->column);
}

/* The unique index of unique: true, named as PostgreSQL names a UNIQUE column's. */
static void unique_index(struct sl_buf *b, const struct sl_ops *ops, const struct sl_op *op)
{
	struct sl_buf ix = SL_BUF_INIT;
	sl_buf_printf(&ix, "%s_%s_key", op->table, op->column);
	sl_buf_adds(b, "CREATE UNIQUE INDEX ");
	sl_quote_ident_std(b, ix.s);
	sl_buf_free(&ix);
	sl_buf_adds(b, " ON ");
	qname(b, ops, op->table);
	sl_buf_adds(b, " (");
	sl_quote_ident_std(b, op->column);
	sl_buf_adds(b, ");\n");
}

static int cannot(const struct sl_ops *ops, const struct sl_op *op, const char *what,
		  struct sl_error *err)
{
	return sl_err_at(err, SL_USAGE, ops->path, op->line, 0,
			 "%s: SQLite cannot %s in place; write a SQL migration that rebuilds the table",
			 sl_op_kind_name(op->kind), what);
}

int sl_ops_render(const struct sl_ops *ops, const char *dialect, struct sl_buf *b,
		  struct sl_error *err)
{
	int sqlite = dialect && !strcmp(dialect, "sqlite");
	for (size_t i = 0; i < ops->n; i++) {
		const struct sl_op *op = &ops->v[i];
		sl_buf_printf(b, "-- %s (line %d)\n", sl_op_kind_name(op->kind), op->line);
		switch (op->kind) {
		case SL_OP_CREATE_TABLE:
			sl_buf_adds(b, "CREATE TABLE ");
			qname(b, ops, op->table);
			sl_buf_adds(b, " (");
			for (size_t k = 0; k < op->ntcols; k++) {
				sl_buf_adds(b, k ? ", " : "");
				column_def(b, &op->tcols[k]);
			}
			sl_buf_adds(b, ");\n");
			break;
		case SL_OP_ADD_COLUMN: {
			struct sl_op_column c = { op->column, op->type, op->def, 1, 0, 0, NULL };
			sl_buf_adds(b, "ALTER TABLE ");
			qname(b, ops, op->table);
			sl_buf_adds(b, " ADD COLUMN ");
			column_def(b, &c);
			sl_buf_adds(b, ";\n");
			if (op->up) {
				sl_buf_adds(b, "UPDATE ");
				qname(b, ops, op->table);
				sl_buf_adds(b, " SET ");
				sl_quote_ident_std(b, op->column);
				sl_buf_printf(b, " = (%s);\n", op->up);
			}
			if (op->nullable == 0) {
				if (sqlite)
					return cannot(ops, op, "add a NOT NULL column filled by 'up'", err);
				alter_col(b, ops, op);
				sl_buf_adds(b, " SET NOT NULL;\n");
			}
			if (op->unique)
				unique_index(b, ops, op);
			break;
		}
		case SL_OP_ALTER_COLUMN:
			if (sqlite && (op->type || op->nullable >= 0 || op->def))
				return cannot(ops, op, op->type ? "change a column's type" :
					      op->def ? "change a column's default" : "change NOT NULL", err);
			if (op->type) {
				alter_col(b, ops, op);
				sl_buf_printf(b, " TYPE %s USING (%s);\n", op->type, op->up);
			}
			if (op->def) {
				alter_col(b, ops, op);
				sl_buf_printf(b, " SET DEFAULT (%s);\n", op->def);
			}
			if (op->nullable >= 0) {
				alter_col(b, ops, op);
				sl_buf_adds(b, op->nullable ? " DROP NOT NULL;\n" : " SET NOT NULL;\n");
			}
			if (op->unique)
				unique_index(b, ops, op);
			break;
		case SL_OP_RENAME_COLUMN:
			sl_buf_adds(b, "ALTER TABLE ");
			qname(b, ops, op->table);
			sl_buf_adds(b, " RENAME COLUMN ");
			sl_quote_ident_std(b, op->column);
			sl_buf_adds(b, " TO ");
			sl_quote_ident_std(b, op->to);
			sl_buf_adds(b, ";\n");
			break;
		case SL_OP_DROP_COLUMN:
			sl_buf_adds(b, "ALTER TABLE ");
			qname(b, ops, op->table);
			sl_buf_adds(b, " DROP COLUMN ");
			sl_quote_ident_std(b, op->column);
			sl_buf_adds(b, ";\n");
			break;
		case SL_OP_CREATE_INDEX:
			sl_buf_adds(b, op->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
			sl_quote_ident_std(b, op->index);
			sl_buf_adds(b, " ON ");
			qname(b, ops, op->table);
			if (op->method && !sqlite)
				sl_buf_printf(b, " USING %s", op->method);
			sl_buf_adds(b, " (");
			for (size_t k = 0; k < op->ncols; k++) {
				sl_buf_adds(b, k ? ", " : "");
				sl_quote_ident_std(b, op->cols[k]);
			}
			sl_buf_adds(b, ");\n");
			break;
		case SL_OP_DROP_INDEX:
			sl_buf_adds(b, "DROP INDEX ");
			qname(b, ops, op->index);
			sl_buf_adds(b, ";\n");
			break;
		case SL_OP_RENAME_TABLE:
			sl_buf_adds(b, "ALTER TABLE ");
			qname(b, ops, op->table);
			sl_buf_adds(b, " RENAME TO ");
			sl_quote_ident_std(b, op->to);
			sl_buf_adds(b, ";\n");
			break;
		case SL_OP_RAW_SQL: {
			size_t n = strlen(op->up);
			while (n && (op->up[n - 1] == ' ' || op->up[n - 1] == '\n' || op->up[n - 1] == '\t'))
				n--;
			sl_buf_add(b, op->up, n);
			sl_buf_adds(b, n && op->up[n - 1] == ';' ? "\n" : ";\n");
			break;
		}
		}
	}
	return 0;
}
