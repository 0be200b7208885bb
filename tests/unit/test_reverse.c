/* test_reverse.c - destroyed data and inverse SQL of migration statements. */
#include "unit.h"
#include "analyze/reverse.h"
#include "core/buf.h"
#include "core/error.h"

#include <pg_query.h>

/* Every inverse sluice writes must be SQL PostgreSQL's parser accepts. */
static void assert_parses(const char *sql)
{
	PgQueryParseResult r = pg_query_parse(sql);
	if (r.error)
		fail_msg("generated SQL does not parse: %s (%s)", sql, r.error->message);
	pg_query_free_parse_result(r);
}

/* Analyse sql, which must succeed; checks what holds for every analysis. */
static struct sl_rev_list analyse(const char *sql)
{
	struct sl_rev_list l;
	struct sl_error err;
	sl_error_clear(&err);
	if (sl_reverse_analyze(sql, strlen(sql), &l, &err))
		fail_msg("analysis failed: %s (line %d)", err.message, err.line);
	for (size_t i = 0; i < l.n; i++) {
		const struct sl_rev_stmt *st = &l.v[i];
		if (st->inverse)
			assert_parses(st->inverse);
		if (st->inverse_rest && st->inverse_rest[0])
			assert_parses(st->inverse_rest);
		assert_false(st->inverse && st->inverse_rest);
		assert_false(st->inverse && st->nd);
		assert_false(st->harmless && (st->inverse || st->nd));
		if (!st->harmless && !st->inverse)
			assert_true(st->why[0] != '\0');
	}
	return l;
}

/* The one statement of sql. */
static struct sl_rev_list one(const char *sql)
{
	struct sl_rev_list l = analyse(sql);
	assert_int_equal(l.n, 1);
	return l;
}

/* sql is one statement whose inverse is want. */
static void assert_inverse(const char *sql, const char *want)
{
	struct sl_rev_list l = one(sql);
	if (!l.v[0].inverse)
		fail_msg("%s: no inverse (%s)", sql, l.v[0].why);
	assert_string_equal(l.v[0].inverse, want);
	assert_int_equal(l.v[0].harmless, 0);
	assert_int_equal(l.v[0].nd, 0);
	sl_rev_list_free(&l);
}

/* sql is one statement sluice cannot undo, for a reason containing why. */
static void assert_refused(const char *sql, const char *why)
{
	struct sl_rev_list l = one(sql);
	assert_null(l.v[0].inverse);
	assert_int_equal(l.v[0].harmless, 0);
	if (!strstr(l.v[0].why, why))
		fail_msg("%s: why is \"%s\", expected \"%s\" in it", sql, l.v[0].why, why);
	sl_rev_list_free(&l);
}

static void assert_harmless(const char *sql)
{
	struct sl_rev_list l = one(sql);
	if (!l.v[0].harmless)
		fail_msg("%s: not harmless (%s)", sql, l.v[0].why);
	assert_null(l.v[0].inverse);
	assert_int_equal(l.v[0].nd, 0);
	sl_rev_list_free(&l);
}

static void assert_destroy(const struct sl_destroy *d, enum sl_destroy_kind kind,
			   const char *schema, const char *table, const char *column)
{
	assert_int_equal(d->kind, kind);
	if (schema)
		assert_string_equal(d->schema, schema);
	else
		assert_null(d->schema);
	assert_string_equal(d->table, table);
	if (column)
		assert_string_equal(d->column, column);
	else
		assert_null(d->column);
}

static void test_create_table_is_undone_by_drop_table(void **state)
{
	(void)state;
	assert_inverse("CREATE TABLE users (id bigint PRIMARY KEY, email text)", "DROP TABLE \"users\"");
	assert_inverse("create table App.Users (id bigint)", "DROP TABLE \"app\".\"users\"");
	assert_inverse("CREATE UNLOGGED TABLE s.t (x int)", "DROP TABLE \"s\".\"t\"");
	assert_inverse("CREATE TABLE s.p1 PARTITION OF s.p FOR VALUES FROM (1) TO (10)",
		       "DROP TABLE \"s\".\"p1\"");
	assert_harmless("CREATE TEMP TABLE scratch (x int)");
}

static void test_create_table_as_and_select_into_are_undone(void **state)
{
	(void)state;
	assert_inverse("CREATE TABLE s.copy AS SELECT * FROM t", "DROP TABLE \"s\".\"copy\"");
	assert_inverse("SELECT id, email INTO backup FROM users", "DROP TABLE \"backup\"");
	assert_inverse("CREATE MATERIALIZED VIEW s.mv AS SELECT 1 AS x",
		       "DROP MATERIALIZED VIEW \"s\".\"mv\"");
	assert_harmless("SELECT * INTO TEMP t2 FROM t");
	assert_harmless("CREATE TEMP TABLE t3 AS SELECT 1");
}

static void test_if_not_exists_and_or_replace_are_refused(void **state)
{
	(void)state;
	struct sl_rev_list l = one("CREATE TABLE IF NOT EXISTS t (x int)");
	assert_null(l.v[0].inverse);
	assert_string_equal(l.v[0].why, "CREATE TABLE IF NOT EXISTS may not have created it");
	sl_rev_list_free(&l);
	assert_refused("CREATE TABLE IF NOT EXISTS t2 AS SELECT 1", "IF NOT EXISTS");
	assert_refused("CREATE MATERIALIZED VIEW IF NOT EXISTS mv AS SELECT 1", "IF NOT EXISTS");
	assert_refused("CREATE INDEX IF NOT EXISTS ix ON t (x)", "IF NOT EXISTS");
	assert_refused("CREATE SEQUENCE IF NOT EXISTS s", "IF NOT EXISTS");
	assert_refused("CREATE SCHEMA IF NOT EXISTS s", "IF NOT EXISTS");
	assert_refused("ALTER TABLE t ADD COLUMN IF NOT EXISTS c int", "IF NOT EXISTS");
	assert_refused("CREATE OR REPLACE VIEW v AS SELECT 1", "OR REPLACE");
}

static void test_named_index_is_dropped_in_its_tables_schema(void **state)
{
	(void)state;
	assert_inverse("CREATE INDEX users_email ON app.users (email)",
		       "DROP INDEX \"app\".\"users_email\"");
	assert_inverse("CREATE UNIQUE INDEX CONCURRENTLY u_ix ON users USING btree (lower(email))",
		       "DROP INDEX \"u_ix\"");
	assert_refused("CREATE INDEX ON users (email)", "unnamed index: name it so it can be dropped");
}

static void test_views_sequences_schemas_and_types(void **state)
{
	(void)state;
	assert_inverse("CREATE VIEW s.v AS SELECT 1 AS x", "DROP VIEW \"s\".\"v\"");
	assert_harmless("CREATE TEMP VIEW tv AS SELECT 1");
	assert_inverse("CREATE SEQUENCE s.seq START 10", "DROP SEQUENCE \"s\".\"seq\"");
	assert_inverse("CREATE SCHEMA analytics", "DROP SCHEMA \"analytics\"");
	assert_inverse("CREATE SCHEMA AUTHORIZATION joe", "DROP SCHEMA \"joe\"");
	assert_refused("CREATE SCHEMA s2 CREATE TABLE t (x int)", "elements");
	assert_inverse("CREATE TYPE s.mood AS ENUM ('sad', 'ok')", "DROP TYPE \"s\".\"mood\"");
	assert_inverse("CREATE TYPE pair AS (a int, b text)", "DROP TYPE \"pair\"");
	assert_inverse("CREATE DOMAIN s.posint AS int CHECK (VALUE > 0)", "DROP DOMAIN \"s\".\"posint\"");
}

static void test_alter_table_subcommands_are_undone_in_reverse_order(void **state)
{
	(void)state;
	assert_inverse("ALTER TABLE app.t ADD COLUMN a int, ADD CONSTRAINT a_pos CHECK (a > 0) NOT VALID,"
		       " ALTER COLUMN b SET NOT NULL, VALIDATE CONSTRAINT old_check",
		       "ALTER TABLE \"app\".\"t\" ALTER COLUMN \"b\" DROP NOT NULL,"
		       " DROP CONSTRAINT \"a_pos\", DROP COLUMN \"a\"");
	assert_inverse("ALTER TABLE t ADD COLUMN c text", "ALTER TABLE \"t\" DROP COLUMN \"c\"");
	assert_inverse("ALTER TABLE IF EXISTS ONLY t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
		       "ALTER TABLE IF EXISTS ONLY \"t\" DROP CONSTRAINT \"t_pkey\"");
	/* a constraint named inside ADD COLUMN goes with the column */
	assert_inverse("ALTER TABLE t ADD COLUMN a int CONSTRAINT a_ref REFERENCES u (id)",
		       "ALTER TABLE \"t\" DROP COLUMN \"a\"");
}

static void test_alter_table_with_one_irreversible_subcommand_is_refused(void **state)
{
	(void)state;
	assert_refused("ALTER TABLE t ADD COLUMN a int, ALTER COLUMN b SET DEFAULT 0",
		       "ALTER COLUMN b SET DEFAULT: the old default is not known");
	assert_refused("ALTER TABLE t ALTER COLUMN b DROP DEFAULT", "DROP DEFAULT");
	assert_refused("ALTER TABLE t ADD CHECK (a > 0)",
		       "unnamed constraint: name it so it can be dropped");
	assert_refused("ALTER TABLE t ADD CONSTRAINT t_pk PRIMARY KEY USING INDEX t_ix", "USING INDEX");
	assert_refused("ALTER TABLE t DROP CONSTRAINT k", "DROP CONSTRAINT k");
	assert_refused("ALTER TABLE t ALTER COLUMN b DROP NOT NULL", "DROP NOT NULL");
	assert_refused("ALTER TABLE t ENABLE ROW LEVEL SECURITY", "EnableRowSecurity");
	assert_refused("ALTER INDEX ix SET (fillfactor = 70)", "ALTER INDEX");
}

static void test_validate_constraint_alone_is_harmless(void **state)
{
	(void)state;
	assert_harmless("ALTER TABLE t VALIDATE CONSTRAINT t_fk");
}

static void test_drop_column_and_alter_type_are_archived(void **state)
{
	(void)state;
	struct sl_rev_list l = one("ALTER TABLE s.t DROP COLUMN c");
	assert_int_equal(l.v[0].nd, 1);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_DROP_COLUMN, "s", "t", "c");
	assert_null(l.v[0].d[0].new_type);
	assert_null(l.v[0].inverse);
	assert_string_equal(l.v[0].inverse_rest, "");
	assert_int_equal(l.v[0].d_incomplete, 0);
	sl_rev_list_free(&l);

	l = one("ALTER TABLE t ALTER COLUMN c TYPE varchar(10), ALTER d TYPE integer USING d::integer,"
		" ALTER e SET DATA TYPE numeric(12, 2)[] COLLATE \"C\", ALTER f TYPE \"My\"\"T\"");
	assert_int_equal(l.v[0].nd, 4);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_ALTER_TYPE, NULL, "t", "c");
	assert_string_equal(l.v[0].d[0].new_type, "varchar(10)");
	assert_string_equal(l.v[0].d[1].new_type, "int");
	assert_string_equal(l.v[0].d[2].new_type, "numeric(12, 2)[]");
	assert_string_equal(l.v[0].d[3].new_type, "\"My\"\"T\"");
	assert_null(l.v[0].inverse);
	assert_string_equal(l.v[0].inverse_rest, "");
	sl_rev_list_free(&l);

	/* the rest of the statement is undone around the archived column */
	l = one("ALTER TABLE t DROP COLUMN old, ADD COLUMN new text, ADD CONSTRAINT new_nn CHECK (new <> '')");
	assert_int_equal(l.v[0].nd, 1);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_DROP_COLUMN, NULL, "t", "old");
	assert_null(l.v[0].inverse);
	assert_string_equal(l.v[0].inverse_rest,
			    "ALTER TABLE \"t\" DROP CONSTRAINT \"new_nn\", DROP COLUMN \"new\"");
	sl_rev_list_free(&l);

	/* ... but not when another part cannot be undone */
	l = one("ALTER TABLE t DROP COLUMN IF EXISTS old, ALTER COLUMN x SET DEFAULT 1");
	assert_int_equal(l.v[0].nd, 1);
	assert_null(l.v[0].inverse_rest);
	assert_non_null(strstr(l.v[0].why, "DEFAULT"));
	sl_rev_list_free(&l);

	l = one("ALTER TABLE t DROP COLUMN c CASCADE");
	assert_int_equal(l.v[0].nd, 1);
	assert_int_equal(l.v[0].d_incomplete, 1);
	assert_null(l.v[0].inverse_rest);
	sl_rev_list_free(&l);
}

static void test_renames_are_reversed(void **state)
{
	(void)state;
	assert_inverse("ALTER TABLE s.t RENAME TO u", "ALTER TABLE \"s\".\"u\" RENAME TO \"t\"");
	/* when t did not exist, the inverse would rename a u that did */
	assert_refused("ALTER TABLE IF EXISTS t RENAME TO u", "may have renamed nothing");
	assert_inverse("ALTER TABLE IF EXISTS t RENAME COLUMN a TO b",
		       "ALTER TABLE IF EXISTS \"t\" RENAME COLUMN \"b\" TO \"a\"");
	assert_inverse("ALTER TABLE t RENAME COLUMN a TO b",
		       "ALTER TABLE \"t\" RENAME COLUMN \"b\" TO \"a\"");
	assert_inverse("ALTER TABLE t RENAME a TO b", "ALTER TABLE \"t\" RENAME COLUMN \"b\" TO \"a\"");
	assert_inverse("ALTER INDEX s.i1 RENAME TO i2", "ALTER INDEX \"s\".\"i2\" RENAME TO \"i1\"");
	assert_inverse("ALTER VIEW v RENAME TO w", "ALTER VIEW \"w\" RENAME TO \"v\"");
	assert_inverse("ALTER MATERIALIZED VIEW s.m RENAME TO n",
		       "ALTER MATERIALIZED VIEW \"s\".\"n\" RENAME TO \"m\"");
	assert_inverse("ALTER SEQUENCE q RENAME TO r", "ALTER SEQUENCE \"r\" RENAME TO \"q\"");
	assert_inverse("ALTER TABLE t RENAME CONSTRAINT k1 TO k2",
		       "ALTER TABLE \"t\" RENAME CONSTRAINT \"k2\" TO \"k1\"");
	assert_inverse("ALTER SCHEMA a RENAME TO b", "ALTER SCHEMA \"b\" RENAME TO \"a\"");
	assert_refused("ALTER FUNCTION f(int) RENAME TO g", "FUNCTION");
}

static void test_quoted_identifiers_stay_quoted(void **state)
{
	(void)state;
	const char *sql =
		"CREATE TABLE \"We\"\"ird\".\"Mixed Case\" (\"Col\" int);\n"
		"ALTER TABLE \"We\"\"ird\".\"Mixed Case\" RENAME COLUMN \"Col\" TO \"new\"\"Col\";\n"
		"DROP TABLE \"We\"\"ird\".\"Mixed Case\";\n"
		"CREATE INDEX \"Ix\" ON \"We\"\"ird\".\"T\" (a);\n";
	struct sl_rev_list l = analyse(sql);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].inverse, "DROP TABLE \"We\"\"ird\".\"Mixed Case\"");
	assert_string_equal(l.v[1].inverse, "ALTER TABLE \"We\"\"ird\".\"Mixed Case\""
			    " RENAME COLUMN \"new\"\"Col\" TO \"Col\"");
	assert_destroy(&l.v[2].d[0], SL_DESTROY_DROP_TABLE, "We\"ird", "Mixed Case", NULL);
	assert_string_equal(l.v[3].inverse, "DROP INDEX \"We\"\"ird\".\"Ix\"");
	sl_rev_list_free(&l);
}

static void test_drop_table_lists_each_table(void **state)
{
	(void)state;
	struct sl_rev_list l = one("DROP TABLE IF EXISTS a.b, c");
	assert_int_equal(l.v[0].nd, 2);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_DROP_TABLE, "a", "b", NULL);
	assert_destroy(&l.v[0].d[1], SL_DESTROY_DROP_TABLE, NULL, "c", NULL);
	assert_null(l.v[0].inverse);
	assert_string_equal(l.v[0].inverse_rest, "");
	assert_int_equal(l.v[0].d_incomplete, 0);
	sl_rev_list_free(&l);

	l = one("DROP TABLE t CASCADE");
	assert_int_equal(l.v[0].nd, 1);
	assert_int_equal(l.v[0].d_incomplete, 1);
	assert_null(l.v[0].inverse_rest);
	assert_non_null(strstr(l.v[0].why, "CASCADE"));
	sl_rev_list_free(&l);

	assert_refused("DROP INDEX CONCURRENTLY ix", "DROP INDEX: its definition is not in the script");
	assert_refused("DROP VIEW v", "DROP VIEW");
	assert_refused("DROP MATERIALIZED VIEW mv", "DROP MATERIALIZED VIEW");
	l = one("DROP SCHEMA s CASCADE");
	assert_int_equal(l.v[0].nd, 0);
	assert_int_equal(l.v[0].d_incomplete, 1);
	sl_rev_list_free(&l);
}

static void test_truncate_lists_each_table(void **state)
{
	(void)state;
	struct sl_rev_list l = one("TRUNCATE a, s.b");
	assert_int_equal(l.v[0].nd, 2);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_TRUNCATE, NULL, "a", NULL);
	assert_destroy(&l.v[0].d[1], SL_DESTROY_TRUNCATE, "s", "b", NULL);
	assert_string_equal(l.v[0].inverse_rest, "");
	sl_rev_list_free(&l);

	l = one("TRUNCATE TABLE ONLY a RESTART IDENTITY");
	assert_int_equal(l.v[0].nd, 1);
	assert_null(l.v[0].inverse_rest);
	assert_non_null(strstr(l.v[0].why, "RESTART IDENTITY"));
	sl_rev_list_free(&l);

	l = one("TRUNCATE a CASCADE");
	assert_int_equal(l.v[0].d_incomplete, 1);
	assert_null(l.v[0].inverse_rest);
	sl_rev_list_free(&l);
}

static void test_delete_without_where_destroys_all_rows(void **state)
{
	(void)state;
	struct sl_rev_list l = one("DELETE FROM s.events");
	assert_int_equal(l.v[0].nd, 1);
	assert_destroy(&l.v[0].d[0], SL_DESTROY_DELETE_ALL, "s", "events", NULL);
	assert_string_equal(l.v[0].inverse_rest, "");
	sl_rev_list_free(&l);

	l = one("DELETE FROM events WHERE created < now() - interval '1 year'");
	assert_int_equal(l.v[0].nd, 0);
	assert_null(l.v[0].inverse);
	assert_non_null(strstr(l.v[0].why, "changes rows"));
	sl_rev_list_free(&l);

	l = one("DELETE FROM events e USING old o");
	assert_int_equal(l.v[0].nd, 0);
	assert_non_null(strstr(l.v[0].why, "changes rows"));
	sl_rev_list_free(&l);
}

static void test_changing_rows_and_comments_cannot_be_undone(void **state)
{
	(void)state;
	assert_refused("INSERT INTO t VALUES (1)", "changes rows");
	assert_refused("insert into t select * from u", "changes rows");
	assert_refused("UPDATE t SET a = 1 WHERE b = 2", "changes rows");
	assert_refused("WITH x AS (SELECT 1) UPDATE t SET a = 1", "changes rows");
	assert_refused("COPY t FROM STDIN", "changes rows");
	assert_refused("COMMENT ON TABLE t IS 'users'", "old comment");
	assert_refused("COMMENT ON COLUMN t.c IS NULL", "old comment");
}

/* the backfill after ADD COLUMN: the inverse drops what it wrote */
static void test_update_of_a_column_added_by_the_script(void **state)
{
	(void)state;
	struct sl_rev_list l;
	const char *sql = "ALTER TABLE f ADD COLUMN ctr real;\n"
			  "UPDATE f SET ctr = clicks::real / greatest(views, 1) WHERE views > 0;\n"
			  "UPDATE f SET views = 0;\n"
			  "UPDATE g SET ctr = 1;\n"
			  "UPDATE s.f SET ctr = 1;\n"
			  "UPDATE f SET ctr = nextval('seq');\n"
			  "UPDATE f SET ctr = 1 RETURNING id;\n";
	assert_int_equal(sl_reverse_analyze(sql, strlen(sql), &l, NULL), 0);
	assert_int_equal(l.n, 7);
	assert_true(l.v[1].harmless);
	assert_false(l.v[2].harmless);   /* a column that was there before */
	assert_non_null(strstr(l.v[2].why, "changes rows"));
	assert_false(l.v[3].harmless);   /* another table */
	assert_false(l.v[4].harmless);   /* another schema */
	assert_false(l.v[5].harmless);   /* a function that changes something */
	assert_false(l.v[6].harmless);   /* RETURNING */
	sl_rev_list_free(&l);
	assert_refused("UPDATE f SET ctr = 1", "changes rows");   /* alone: not added here */
}

static void test_harmless_statements(void **state)
{
	(void)state;
	static const char *const sqls[] = {
		"SELECT 1", "SELECT count(*) FROM t WHERE x > 0", "SELECT pg_catalog.now()",
		"SET lock_timeout = '2s'", "SET LOCAL statement_timeout TO 0", "RESET lock_timeout",
		"ANALYZE t", "VACUUM (ANALYZE) t", "BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION",
		"EXPLAIN SELECT * FROM t", "EXPLAIN (ANALYZE false) DELETE FROM t", "NOTIFY ch, 'x'",
		"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "SHOW search_path",
		"SELECT set_config('lock_timeout', '2s', false)", "COPY t TO STDOUT",
		"SELECT pg_advisory_lock(42)",
	};
	for (size_t i = 0; i < sizeof(sqls) / sizeof(*sqls); i++)
		assert_harmless(sqls[i]);
}

static void test_select_that_may_change_something_is_not_harmless(void **state)
{
	(void)state;
	assert_refused("SELECT create_hypertable('metrics', 'ts')", "create_hypertable()");
	assert_refused("SELECT setval('s', 10)", "setval()");
	assert_refused("SELECT count(*) FROM t WHERE my.check(x)", "check()");
	assert_refused("WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
		       "data-modifying WITH");
	assert_refused("COPY (DELETE FROM t RETURNING *) TO STDOUT", "data-modifying");
	assert_refused("DO $$ BEGIN PERFORM 1; END $$", "DO: sluice does not undo it");
	assert_refused("CREATE EXTENSION IF NOT EXISTS pgcrypto", "CREATE EXTENSION:");
	assert_refused("GRANT SELECT ON t TO reader", "GRANT");
	/* EXPLAIN ANALYZE runs its statement */
	assert_inverse("EXPLAIN ANALYZE CREATE TABLE s.x AS SELECT 1", "DROP TABLE \"s\".\"x\"");
	assert_refused("EXPLAIN (ANALYZE) INSERT INTO t VALUES (1)", "changes rows");
}

static void test_search_path_change_refuses_unqualified_inverses(void **state)
{
	(void)state;
	const char *sql =
		"CREATE TABLE a (x int);\n"
		"SET search_path = app, public;\n"
		"CREATE TABLE b (x int);\n"
		"CREATE TABLE app.c (x int);\n"
		"DROP TABLE d;\n"
		"DROP TABLE app.e;\n";
	struct sl_rev_list l = analyse(sql);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.v[0].path_changed, 0);
	assert_string_equal(l.v[0].inverse, "DROP TABLE \"a\"");
	assert_int_equal(l.v[1].harmless, 1);
	assert_int_equal(l.v[2].path_changed, 1);
	assert_null(l.v[2].inverse);
	assert_non_null(strstr(l.v[2].why, "search_path"));
	assert_string_equal(l.v[3].inverse, "DROP TABLE \"app\".\"c\"");
	assert_int_equal(l.v[4].nd, 1);
	assert_null(l.v[4].inverse_rest);
	assert_string_equal(l.v[5].inverse_rest, "");
	sl_rev_list_free(&l);

	l = analyse("SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE t (x int);");
	assert_int_equal(l.v[0].harmless, 1);
	assert_null(l.v[1].inverse);
	sl_rev_list_free(&l);

	l = analyse("SET ROLE migrator;\nCREATE INDEX ix ON t (x);");
	assert_null(l.v[1].inverse);
	sl_rev_list_free(&l);
}

static void test_multi_statement_script_has_offsets_and_lines(void **state)
{
	(void)state;
	const char *sql =
		"-- V3: users\n"
		"SET lock_timeout = '2s';\n"
		"\n"
		"/* the table */ CREATE TABLE users (\n"
		"  id bigint,\n"
		"  note text DEFAULT 'a;b'\n"
		");\n"
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
		"ALTER TABLE users ADD COLUMN email text; TRUNCATE users;\n"
		"DELETE FROM old_users\n";
	struct sl_rev_list l = analyse(sql);
	assert_int_equal(l.n, 6);
	static const int lines[] = { 2, 4, 8, 9, 9, 10 };
	static const char *const starts[] = { "SET lock_timeout = '2s'", "CREATE TABLE users (",
					      "CREATE FUNCTION f()", "ALTER TABLE users ADD",
					      "TRUNCATE users", "DELETE FROM old_users" };
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.v[i].line, lines[i]);
		assert_true(l.v[i].off + l.v[i].len <= strlen(sql));
		assert_memory_equal(sql + l.v[i].off, starts[i], strlen(starts[i]));
	}
	assert_memory_equal(sql + l.v[1].off + l.v[1].len - 1, ")", 1);   /* without ';' */
	assert_int_equal(l.v[4].len, strlen("TRUNCATE users"));
	assert_int_equal(l.v[5].len, strlen("DELETE FROM old_users"));
	assert_int_equal(l.v[0].harmless, 1);
	assert_string_equal(l.v[1].inverse, "DROP TABLE \"users\"");
	assert_null(l.v[2].inverse);
	assert_non_null(strstr(l.v[2].why, "CREATE FUNCTION"));
	assert_string_equal(l.v[3].inverse, "ALTER TABLE \"users\" DROP COLUMN \"email\"");
	assert_int_equal(l.v[4].d[0].kind, SL_DESTROY_TRUNCATE);
	assert_int_equal(l.v[5].d[0].kind, SL_DESTROY_DELETE_ALL);
	sl_rev_list_free(&l);

	l = analyse("-- nothing but a comment\n");
	assert_int_equal(l.n, 0);
	sl_rev_list_free(&l);
}

static void test_syntax_error_reports_its_line(void **state)
{
	(void)state;
	const char *sql = "CREATE TABLE a (x int);\n\nCREATE TABLEE b (y int);\n";
	struct sl_rev_list l;
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_reverse_analyze(sql, strlen(sql), &l, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "syntax error"));
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	sl_rev_list_free(&l);

	const char nul[] = "SELECT 1;\nSELECT\0 2;";
	assert_int_equal(sl_reverse_analyze(nul, sizeof(nul) - 1, &l, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.line, 2);
	assert_int_equal(l.n, 0);
}

/* Every inverse sluice can write, in one script: each must parse. */
static void test_every_inverse_parses(void **state)
{
	(void)state;
	const char *sql =
		"CREATE TABLE \"a\"\"b\".\"C\" (x int);\n"
		"CREATE TABLE t AS SELECT 1 AS x;\n"
		"SELECT 1 AS x INTO u;\n"
		"CREATE UNIQUE INDEX CONCURRENTLY \"select\" ON \"from\".t (x);\n"
		"CREATE VIEW \"user\" AS SELECT 1;\n"
		"CREATE MATERIALIZED VIEW m AS SELECT 1;\n"
		"CREATE SEQUENCE \"Seq\";\n"
		"CREATE SCHEMA \"order\";\n"
		"CREATE TYPE e AS ENUM ('a');\n"
		"CREATE TYPE \"table\".c AS (a int);\n"
		"CREATE DOMAIN d AS int;\n"
		"ALTER TABLE ONLY \"group\" ADD COLUMN \"where\" int, ADD CONSTRAINT \"check\" UNIQUE (x),"
		" ALTER COLUMN \"limit\" SET NOT NULL;\n"
		"ALTER TABLE t DROP COLUMN y, ADD COLUMN z int;\n"
		"ALTER TABLE \"T\" RENAME TO \"U\";\n"
		"ALTER TABLE ONLY t RENAME COLUMN \"A\" TO b;\n"
		"ALTER INDEX \"I\" RENAME TO j;\n"
		"ALTER FOREIGN TABLE f RENAME TO g;\n"
		"ALTER VIEW v RENAME COLUMN a TO b;\n"
		"ALTER TABLE t RENAME CONSTRAINT a TO \"B\";\n"
		"ALTER SCHEMA s RENAME TO \"S\";\n";
	struct sl_rev_list l = analyse(sql);   /* asserts that each inverse parses */
	assert_int_equal(l.n, 20);
	for (size_t i = 0; i < l.n; i++)
		if (!l.v[i].inverse && !(l.v[i].inverse_rest && l.v[i].inverse_rest[0]))
			fail_msg("statement %zu (line %d) has no inverse: %s", i, l.v[i].line, l.v[i].why);
	sl_rev_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_table_is_undone_by_drop_table),
		cmocka_unit_test(test_create_table_as_and_select_into_are_undone),
		cmocka_unit_test(test_if_not_exists_and_or_replace_are_refused),
		cmocka_unit_test(test_named_index_is_dropped_in_its_tables_schema),
		cmocka_unit_test(test_views_sequences_schemas_and_types),
		cmocka_unit_test(test_alter_table_subcommands_are_undone_in_reverse_order),
		cmocka_unit_test(test_alter_table_with_one_irreversible_subcommand_is_refused),
		cmocka_unit_test(test_validate_constraint_alone_is_harmless),
		cmocka_unit_test(test_drop_column_and_alter_type_are_archived),
		cmocka_unit_test(test_renames_are_reversed),
		cmocka_unit_test(test_quoted_identifiers_stay_quoted),
		cmocka_unit_test(test_drop_table_lists_each_table),
		cmocka_unit_test(test_truncate_lists_each_table),
		cmocka_unit_test(test_delete_without_where_destroys_all_rows),
		cmocka_unit_test(test_changing_rows_and_comments_cannot_be_undone),
		cmocka_unit_test(test_update_of_a_column_added_by_the_script),
		cmocka_unit_test(test_harmless_statements),
		cmocka_unit_test(test_select_that_may_change_something_is_not_harmless),
		cmocka_unit_test(test_search_path_change_refuses_unqualified_inverses),
		cmocka_unit_test(test_multi_statement_script_has_offsets_and_lines),
		cmocka_unit_test(test_syntax_error_reports_its_line),
		cmocka_unit_test(test_every_inverse_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
