/* test_ops.c - operations migrations: loading, errors with lines, rendering. */
#include "unit.h"

#include "core/buf.h"
#include "core/error.h"
#include "migrate/ops.h"

static int load(const char *yaml, struct sl_ops *ops, struct sl_error *err)
{
	sl_error_clear(err);
	return sl_ops_load(ops, "V2__x.yaml", yaml, strlen(yaml), err);
}

static char *render(const char *yaml, const char *dialect, struct sl_error *err)
{
	struct sl_ops ops;
	if (load(yaml, &ops, err))
		return NULL;
	struct sl_buf b = SL_BUF_INIT;
	int rc = sl_ops_render(&ops, dialect, &b, err);
	sl_ops_free(&ops);
	if (rc) {
		sl_buf_free(&b);
		return NULL;
	}
	return sl_buf_detach(&b);
}

static void assert_error(const char *yaml, int line, const char *what)
{
	struct sl_ops ops;
	struct sl_error err;
	assert_int_equal(load(yaml, &ops, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_string_equal(err.file, "V2__x.yaml");
	if (err.line != line || !strstr(err.message, what))
		fail_msg("error '%s' at line %d: wanted line %d and '%s'", err.message, err.line, line, what);
}

static void test_both_shapes_of_add_column_and_every_kind(void **state)
{
	(void)state;
	struct sl_ops ops;
	struct sl_error err;
	const char *y = "operations:\n"
			"  - add_column: {table: f, column: {name: ctr, type: real, nullable: false}, up: \"a / b\"}\n"
			"  - add_column: {table: f, column: n, type: int, default: \"0\"}\n"
			"  - alter_column: {table: f, column: s, type: \"numeric(6,4)\", up: \"round(s::numeric, 4)\", down: \"s::float8\"}\n"
			"  - rename_column: {table: f, from: a, to: b}\n"
			"  - drop_column: {table: f, column: z}\n"
			"  - create_index: {name: i, table: f, columns: [a, b], unique: true}\n"
			"  - drop_index: {name: j}\n"
			"  - rename_table: {from: f, to: g}\n"
			"  - raw_sql: {up: \"SELECT 1\", down: \"SELECT 2\"}\n"
			"  - create_table: {table: t, columns: [{name: id, type: bigint, primary_key: true}]}\n";
	assert_int_equal(load(y, &ops, &err), 0);
	assert_int_equal(ops.n, 10);
	assert_int_equal(ops.v[0].kind, SL_OP_ADD_COLUMN);
	assert_string_equal(ops.v[0].column, "ctr");
	assert_int_equal(ops.v[0].nullable, 0);
	assert_string_equal(ops.v[0].up, "a / b");
	assert_int_equal(ops.v[0].line, 2);
	assert_string_equal(ops.v[1].def, "0");
	assert_int_equal(ops.v[1].nullable, 1);
	assert_string_equal(ops.v[2].type, "numeric(6,4)");
	assert_int_equal(ops.v[2].nullable, -1);
	assert_string_equal(ops.v[3].to, "b");
	assert_int_equal(ops.v[5].ncols, 2);
	assert_int_equal(ops.v[5].unique, 1);
	assert_string_equal(ops.v[7].table, "f");
	assert_int_equal(ops.v[9].ntcols, 1);
	assert_int_equal(ops.v[9].tcols[0].primary_key, 1);
	sl_ops_free(&ops);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	assert_error("operations:\n  - add_column: {table: t}\n", 2, "needs 'column'");
	assert_error("operations:\n  - add_column: {table: t, column: c, type: int}\n  - retype: {}\n", 3,
		     "unknown operation 'retype'");
	assert_error("operations:\n  - alter_column: {table: t, column: c, type: int}\n", 2, "needs 'up'");
	assert_error("operations:\n  - alter_column: {table: t, column: c}\n", 2, "changes nothing");
	assert_error("operations:\n  - drop_column: {table: t, column: c, cascade: true}\n", 2, "cascade");
	assert_error("operations:\n  - create_index: {name: i, table: t, columns: [a], method: \"btree; DROP\"}\n", 2,
		     "invalid index method");
	assert_error("operations: []\n", 1, "non-empty list");
	assert_error("- a\n- b\n", 1, "mapping with 'operations:'");
	assert_error("operations:\n  - {add_column: {table: t}, drop_column: {table: t}}\n", 2, "one key");
}

static void test_render_quotes_names_and_keeps_expressions(void **state)
{
	(void)state;
	struct sl_error err;
	char *sql = render("operations:\n"
			   "  - add_column: {table: \"we\\\"ird\", column: {name: ctr, type: real}, up: \"a / b\"}\n"
			   "  - rename_column: {table: f, from: a, to: \"B c\"}\n"
			   "  - alter_column: {table: f, column: s, type: \"numeric(6,4)\", up: \"round(s::numeric, 4)\"}\n",
			   "postgres", &err);
	assert_non_null(sql);
	assert_non_null(strstr(sql, "ALTER TABLE \"we\"\"ird\" ADD COLUMN \"ctr\" real;\n"));
	assert_non_null(strstr(sql, "UPDATE \"we\"\"ird\" SET \"ctr\" = (a / b);\n"));
	assert_non_null(strstr(sql, "ALTER TABLE \"f\" RENAME COLUMN \"a\" TO \"B c\";\n"));
	assert_non_null(strstr(sql, "ALTER TABLE \"f\" ALTER COLUMN \"s\" TYPE numeric(6,4) USING (round(s::numeric, 4));\n"));
	free(sql);
	sql = render("schema: fs\noperations:\n  - drop_index: {name: i}\n  - raw_sql: {up: \"SELECT 1;  \\n\"}\n",
		     "postgres", &err);
	assert_non_null(sql);
	assert_non_null(strstr(sql, "DROP INDEX \"fs\".\"i\";\n"));
	assert_non_null(strstr(sql, "SELECT 1;\n"));
	assert_null(strstr(sql, "SELECT 1;;"));
	free(sql);
}

static void test_sqlite_refuses_what_it_cannot_do_in_place(void **state)
{
	(void)state;
	struct sl_error err;
	char *sql = render("operations:\n  - rename_column: {table: f, from: a, to: b}\n"
			   "  - alter_column: {table: f, column: s, type: int, up: \"s\"}\n", "sqlite", &err);
	assert_null(sql);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.file, "V2__x.yaml");
	assert_non_null(strstr(err.message, "SQLite cannot change a column's type in place"));
	sql = render("operations:\n  - add_column: {table: f, column: c, type: int, nullable: false}\n", "sqlite", &err);
	assert_null(sql);
	assert_non_null(strstr(err.message, "NOT NULL"));
	sql = render("operations:\n  - create_index: {name: i, table: f, columns: [a], method: gin}\n", "sqlite", &err);
	assert_non_null(sql);
	assert_null(strstr(sql, "USING"));
	free(sql);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_shapes_of_add_column_and_every_kind),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_render_quotes_names_and_keeps_expressions),
		cmocka_unit_test(test_sqlite_refuses_what_it_cannot_do_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
