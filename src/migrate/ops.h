/*
 * ops.h - migrations written as operations (V<ver>__<desc>.yaml), in the
 * manner of pgroll: each operation says what changes in terms a zero-
 * downtime engine can stage (add a column with the expression that fills
 * it, retype a column with the expressions that convert both ways, ...).
 *
 *   operations:
 *     - add_column: {table: user_features, column: {name: ctr, type: real},
 *                    up: "clicks::real / greatest(views, 1)"}
 *     - alter_column: {table: user_features, column: score, type: "numeric(6,4)",
 *                      up: "round(score::numeric, 4)", down: "score::double precision"}
 *     - rename_column: {table: user_features, from: sessions, to: sessions_7d}
 *
 * Two ways to run them: sl_ops_render() writes the plain SQL that does the
 * whole change at once (sluice migrate, deploy --strategy standard; the
 * engine treats it like any SQL file: checksum of the YAML file, lint,
 * sluice's inverse for rollback), and src/deploy/expand.c stages it
 * (expand, then complete or abort).  Names from the file are identifiers
 * and always quoted; `type`, `default`, `up`, `down` and raw_sql are SQL
 * written by the migration's author, like the text of a .sql migration.
 */
#ifndef SL_OPS_H
#define SL_OPS_H

#include <stddef.h>

struct sl_error;
struct sl_buf;

enum sl_op_kind {
	SL_OP_CREATE_TABLE,
	SL_OP_ADD_COLUMN,
	SL_OP_ALTER_COLUMN,
	SL_OP_RENAME_COLUMN,
	SL_OP_DROP_COLUMN,
	SL_OP_CREATE_INDEX,
	SL_OP_DROP_INDEX,
	SL_OP_RENAME_TABLE,
	SL_OP_RAW_SQL,
};

struct sl_op_column {
	char *name;
	char *type;
	char *def;           /* DEFAULT expression or NULL */
	int nullable;        /* 1 unless `nullable: false` */
	int unique;
	int primary_key;
	char *references;    /* "table(column)" or NULL (create_table only) */
};

struct sl_op {
	enum sl_op_kind kind;
	int line;                   /* of the operation in the file */
	char *table;                /* every kind but drop_index, raw_sql */
	char *column;               /* add (the new one), alter, drop; rename: from */
	char *to;                   /* rename_column, rename_table: the new name */
	char *type;                 /* add: the column's type; alter: the new type or NULL */
	char *def;                  /* add/alter: DEFAULT, or NULL */
	int nullable;               /* add/alter: -1 unchanged, 0 NOT NULL, 1 nullable */
	int unique;                 /* add/alter/create_index */
	char *up, *down;            /* expressions (raw_sql: statements) or NULL */
	char *index;                /* create_index, drop_index: the index name */
	char *method;               /* create_index: USING method, or NULL */
	char **cols;                /* create_index: its columns (names) */
	size_t ncols;
	struct sl_op_column *tcols; /* create_table */
	size_t ntcols;
};

struct sl_ops {
	char *path;
	char *schema;               /* `schema:` of the file, NULL: the default */
	struct sl_op *v;
	size_t n;
};

const char *sl_op_kind_name(enum sl_op_kind k);

/*
 * Parse an operations file (data/len, reported as path).  SL_USAGE with
 * file:line on anything malformed: an unknown operation or key, a missing
 * table or column, an alter_column with a type but no `up`, ...
 */
int sl_ops_load(struct sl_ops *out, const char *path, const char *data, size_t len,
		struct sl_error *err);
void sl_ops_free(struct sl_ops *ops);

/*
 * The plain SQL that makes the whole change at once on a target of the
 * given dialect ("postgres" or "sqlite"), one statement per line group.
 * SL_USAGE naming the operation's line when the dialect cannot do it
 * (SQLite cannot retype a column or change NOT NULL in place).
 */
int sl_ops_render(const struct sl_ops *ops, const char *dialect, struct sl_buf *sql,
		  struct sl_error *err);

#endif
