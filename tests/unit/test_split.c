/* test_split.c - statement splitting by the SQLite and PostgreSQL drivers. */
#include "unit.h"
#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"

static char *stmt_text(const char *sql, const struct sl_stmt *s)
{
	return strndup(sql + s->off, s->len);
}

static void test_sqlite_splits_on_complete_statements(void **state)
{
	(void)state;
	const struct sl_db_driver *d = sl_db_driver_named("sqlite");
	const char *sql =
		"-- header comment; with a semicolon\n"
		"CREATE TABLE a (x TEXT DEFAULT 'a;b');\n"
		"\n"
		"CREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
		"  UPDATE a SET x = 'y;'; INSERT INTO a VALUES ('z');\n"
		"END;\n"
		"/* block; comment */ INSERT INTO a VALUES ('q');;\n"
		"VACUUM;\n"
		"SELECT 1";
	struct sl_stmt_list l = { 0 };
	struct sl_error err;
	assert_int_equal(d->split(sql, strlen(sql), &l, &err), 0);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.v[0].line, 2);
	char *t = stmt_text(sql, &l.v[0]);
	assert_string_equal(t, "CREATE TABLE a (x TEXT DEFAULT 'a;b')");
	free(t);
	assert_int_equal(l.v[1].line, 4);
	t = stmt_text(sql, &l.v[1]);
	assert_non_null(strstr(t, "END"));
	free(t);
	assert_int_equal(l.v[2].line, 7);
	assert_int_equal(l.v[3].no_tx, 1);
	assert_string_equal(l.v[3].no_tx_what, "VACUUM");
	assert_int_equal(l.v[4].line, 9);
	sl_stmt_list_free(&l);
}

static void test_sqlite_marks_transaction_control(void **state)
{
	(void)state;
	const struct sl_db_driver *d = sl_db_driver_named("sqlite");
	const char *sql = "BEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n";
	struct sl_stmt_list l = { 0 };
	struct sl_error err;
	assert_int_equal(d->split(sql, strlen(sql), &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].tx_control, 1);
	assert_int_equal(l.v[1].tx_control, 0);
	assert_int_equal(l.v[2].tx_control, 1);
	sl_stmt_list_free(&l);
}

static void test_postgres_splits_dollar_quotes_and_do_blocks(void **state)
{
	(void)state;
	const struct sl_db_driver *d = sl_db_driver_named("postgres");
	const char *sql =
		"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
		"BEGIN\n"
		"  PERFORM 1; RETURN 2;\n"
		"END $body$;\n"
		"DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;\n"
		"/* nested /* comment */ ; */\n"
		"CREATE TABLE t (x text DEFAULT E'\\';');\n";
	struct sl_stmt_list l = { 0 };
	struct sl_error err;
	assert_int_equal(d->split(sql, strlen(sql), &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].line, 1);
	assert_int_equal(l.v[1].line, 5);
	assert_int_equal(l.v[2].line, 7);
	char *t = stmt_text(sql, &l.v[2]);
	assert_string_equal(t, "CREATE TABLE t (x text DEFAULT E'\\';')");
	free(t);
	assert_int_equal(l.v[0].tx_control, 0);
	sl_stmt_list_free(&l);
}

static void test_postgres_detects_non_transactional_statements(void **state)
{
	(void)state;
	const struct sl_db_driver *d = sl_db_driver_named("postgres");
	const char *sql =
		"CREATE INDEX CONCURRENTLY i ON t (x);\n"
		"CREATE INDEX j ON t (y);\n"
		"VACUUM ANALYZE t;\n"
		"ANALYZE t;\n"
		"ALTER TYPE mood ADD VALUE 'meh';\n"
		"DROP INDEX CONCURRENTLY i;\n"
		"REINDEX INDEX CONCURRENTLY j;\n"
		"SELECT 'CONCURRENTLY';\n"
		"BEGIN;\n"
		"COMMIT;\n";
	struct sl_stmt_list l = { 0 };
	struct sl_error err;
	assert_int_equal(d->split(sql, strlen(sql), &l, &err), 0);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.v[0].no_tx, 1);
	assert_string_equal(l.v[0].no_tx_what, "CREATE INDEX CONCURRENTLY");
	assert_int_equal(l.v[1].no_tx, 0);
	assert_int_equal(l.v[2].no_tx, 1);
	assert_string_equal(l.v[2].no_tx_what, "VACUUM");
	assert_int_equal(l.v[3].no_tx, 0);
	assert_int_equal(l.v[4].no_tx, 2); /* only before PostgreSQL 12 */
	assert_int_equal(l.v[5].no_tx, 1);
	assert_int_equal(l.v[6].no_tx, 1);
	assert_int_equal(l.v[7].no_tx, 0); /* a string, not a statement */
	assert_int_equal(l.v[8].tx_control, 1);
	assert_int_equal(l.v[9].tx_control, 1);
	sl_stmt_list_free(&l);
}

static void test_postgres_syntax_error_has_line_and_column(void **state)
{
	(void)state;
	const struct sl_db_driver *d = sl_db_driver_named("postgres");
	const char *sql = "CREATE TABLE a (x int);\n\nCREAT TABLE b (y int);\n";
	struct sl_stmt_list l = { 0 };
	struct sl_error err;
	assert_int_equal(d->split(sql, strlen(sql), &l, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 1);
	assert_non_null(strstr(err.message, "CREAT"));
	sl_stmt_list_free(&l);
}

static void test_identifiers_are_quoted(void **state)
{
	(void)state;
	struct sl_buf b = SL_BUF_INIT;
	sl_db_driver_named("postgres")->quote_ident(&b, "we\"ird; DROP TABLE x");
	assert_string_equal(b.s, "\"we\"\"ird; DROP TABLE x\"");
	sl_buf_reset(&b);
	sl_db_driver_named("sqlite")->state_table(&b, "history");
	assert_string_equal(b.s, "\"sluice_history\"");
	sl_buf_reset(&b);
	sl_db_driver_named("postgres")->state_table(&b, "history");
	assert_string_equal(b.s, "\"sluice\".\"history\"");
	sl_buf_free(&b);
}

static void test_passwords_are_masked(void **state)
{
	(void)state;
	struct sl_buf b = SL_BUF_INIT;
	sl_mask_url("postgres://alice:s3cr3t@db.example:5432/app?sslmode=require", &b);
	assert_string_equal(b.s, "postgres://alice:***@db.example:5432/app?sslmode=require");
	sl_buf_reset(&b);
	sl_mask_url("postgresql:///app?host=/tmp&password=s3cr3t&user=x", &b);
	assert_string_equal(b.s, "postgresql:///app?host=/tmp&password=***&user=x");
	sl_buf_reset(&b);
	sl_mask_url("host=db password='s3 cr\\'3t' user=x", &b);
	assert_null(strstr(b.s, "s3"));
	assert_non_null(strstr(b.s, "user=x"));
	sl_buf_reset(&b);
	sl_mask_url("postgres://alice@db/app", &b);
	assert_string_equal(b.s, "postgres://alice@db/app");
	sl_buf_free(&b);
}

static void test_driver_found_by_scheme(void **state)
{
	(void)state;
	struct sl_error err;
	assert_ptr_equal(sl_db_find_driver("sqlite:x.db", &err), &sl_sqlite_driver);
	assert_ptr_equal(sl_db_find_driver("postgresql://h/db", &err), &sl_postgres_driver);
	assert_ptr_equal(sl_db_find_driver("postgres://h/db", &err), &sl_postgres_driver);
	assert_null(sl_db_find_driver("mysql://u:pw@h/db", &err));
	assert_int_equal(err.code, SL_USAGE);
	assert_null(strstr(err.message, "pw"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite_splits_on_complete_statements),
		cmocka_unit_test(test_sqlite_marks_transaction_control),
		cmocka_unit_test(test_postgres_splits_dollar_quotes_and_do_blocks),
		cmocka_unit_test(test_postgres_detects_non_transactional_statements),
		cmocka_unit_test(test_postgres_syntax_error_has_line_and_column),
		cmocka_unit_test(test_identifiers_are_quoted),
		cmocka_unit_test(test_passwords_are_masked),
		cmocka_unit_test(test_driver_found_by_scheme),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
