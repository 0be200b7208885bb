/*
 * reverse.h - what each statement of a PostgreSQL migration destroys, and
 * the SQL that undoes it when sluice can write that SQL itself.
 *
 * The deploy engine asks this module about a script before running it:
 * the data a statement destroys (d[]) is copied to an archive table just
 * before the statement runs, and a migration without a down script can
 * still be rolled back by running the statements' inverses, last statement
 * first.  Statements are split exactly as the PostgreSQL driver splits them
 * (db.h: split), so the i-th analysis is the i-th statement the engine runs,
 * and each is read from libpg_query's parse tree, never from its text.
 *
 * An inverse is only offered when it undoes the statement in every state
 * the database could have been in: "IF NOT EXISTS", "OR REPLACE" and
 * unnamed objects are refused, because the inverse could drop something
 * that existed before the migration.  Names in generated SQL are quoted
 * (sl_quote_ident_std) and schema-qualified when the script qualified
 * them; an unqualified name is resolved by search_path when the inverse
 * runs, so after a statement that changes search_path or the role an
 * inverse that needs an unqualified name is refused (path_changed).
 *
 * Undoing a statement, for the engine:
 *   harmless               nothing to undo;
 *   inverse != NULL        run it;
 *   inverse_rest != NULL   run it (when not ""), then restore d[] from the
 *                          archive, last item first;
 *   otherwise              sluice cannot; why says why (a down script can).
 * Rolling back a statement also loses what was written since it ran
 * (DROP TABLE undoes CREATE TABLE with its rows): the engine's concern.
 *
 * Not known from the script, and so not in d[]: rows other tables lose
 * through ON DELETE CASCADE foreign keys when all rows of a table are
 * deleted, and what a CASCADE drop or truncate reaches (d_incomplete).
 * SET NOT NULL is undone with DROP NOT NULL, which is wrong when the
 * column was already NOT NULL before (the statement then changed nothing).
 */
#ifndef SL_REVERSE_H
#define SL_REVERSE_H

#include <stddef.h>

struct sl_error;

enum sl_destroy_kind {
	SL_DESTROY_DROP_COLUMN,   /* ALTER TABLE t DROP COLUMN c */
	SL_DESTROY_DROP_TABLE,    /* DROP TABLE t[, u] (also IF EXISTS) */
	SL_DESTROY_ALTER_TYPE,    /* ALTER TABLE t ALTER COLUMN c TYPE x: old values may not survive */
	SL_DESTROY_TRUNCATE,      /* TRUNCATE t[, u] */
	SL_DESTROY_DELETE_ALL,    /* DELETE FROM t without WHERE and without USING */
};

/* Data a statement destroys; every string is owned by the list. */
struct sl_destroy {
	enum sl_destroy_kind kind;
	char *schema;             /* NULL when the statement does not qualify the name */
	char *table;
	char *column;             /* DROP_COLUMN, ALTER_TYPE; else NULL */
	char *new_type;           /* ALTER_TYPE: the new type as PostgreSQL's deparser
				   * writes it ("int", "varchar(10)", "public.\"My\"[]"),
				   * without COLLATE or USING; else NULL */
};

struct sl_rev_stmt {
	size_t off, len;          /* byte range of the statement in the script, without ';' */
	int line;                 /* 1-based line of its first token */
	struct sl_destroy *d;     /* data this statement destroys, in order */
	size_t nd;
	char *inverse;            /* SQL that undoes the whole statement (statements
				   * separated by ";\n", no final ';'); NULL when
				   * sluice cannot, and always when nd > 0 */
	char *inverse_rest;       /* nd > 0: SQL that undoes everything but d[], "" when
				   * the statement does nothing else; NULL when some
				   * other part cannot be undone or d_incomplete */
	int harmless;             /* changes nothing that needs undoing (SELECT that
				   * calls no unknown function, SET, ANALYZE, BEGIN, ...) */
	int d_incomplete;         /* may destroy data d[] does not name (CASCADE,
				   * DROP OWNED): an archive of d[] is not enough */
	int path_changed;         /* an earlier statement set search_path or the role:
				   * unqualified names may not mean in a fresh session
				   * what they meant here */
	char why[160];            /* !harmless and inverse NULL: why sluice cannot undo it
				   * (or, with inverse_rest, that d[] needs the archive) */
};

struct sl_rev_list {
	struct sl_rev_stmt *v;
	size_t n;
};

/*
 * Analyse a script of len bytes.  On success *out holds one entry per
 * statement, in order, and the caller frees it with sl_rev_list_free.  A
 * script that does not parse (or holds a NUL byte) fails with SL_USAGE
 * and err->line (and column, when known) 1-based in the script; *out is
 * then empty.
 */
int sl_reverse_analyze(const char *sql, size_t len, struct sl_rev_list *out,
		       struct sl_error *err);
/* Free everything the list owns and leave it empty.  NULL is allowed. */
void sl_rev_list_free(struct sl_rev_list *l);

#endif
