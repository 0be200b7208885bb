/* test_source.c - migration layouts, ordering and dialect variants. */
#include "unit.h"
#include "core/buf.h"
#include "core/error.h"
#include "migrate/source.h"

static void test_versions_compare_numerically(void **state)
{
	(void)state;
	assert_true(sl_version_cmp("1.9", "1.10") < 0);
	assert_true(sl_version_cmp("2", "10") < 0);
	assert_int_equal(sl_version_cmp("0001", "1"), 0);
	assert_int_equal(sl_version_cmp("1", "1.0"), 0);
	assert_true(sl_version_cmp("1.0.1", "1") > 0);
	assert_true(sl_version_cmp("20210410175418000001", "20210410175418000002") < 0);
	assert_true(sl_version_cmp("99999999999999999999999", "100000000000000000000000") < 0);
	assert_true(sl_version_cmp("2017-11-23-064712", "2017-11-23-064713") < 0);
	assert_true(sl_version_cmp("2017-12-01-000000", "2017-11-30-235959") > 0);
}

static void test_flyway_layout_orders_and_pairs_undo(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "V10__ten.sql", "select 10;");
	write_file(d, "V2__two.sql", "select 2;");
	write_file(d, "V1_1__one_point_one.sql", "select 11;");
	write_file(d, "U2__two.sql", "select -2;");
	write_file(d, "R__views.sql", "select 0;");
	write_file(d, "README.md", "not a migration");
	write_file(d, "notes.sql", "-- ignored: no version");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), 0);
	assert_int_equal(set.n, 4);
	assert_string_equal(set.v[0].version, "1.1");
	assert_string_equal(set.v[0].description, "one point one");
	assert_null(set.v[0].down_path);
	assert_string_equal(set.v[1].version, "2");
	assert_non_null(set.v[1].down_path);
	assert_string_equal(set.v[1].down_script, "U2__two.sql");
	assert_string_equal(set.v[2].version, "10");
	assert_int_equal(set.v[3].kind, SL_REPEATABLE);
	assert_string_equal(set.v[3].description, "views");
	sl_migrations_free(&set);
	remove_dir(d);
}

static void test_golang_diesel_dbmate_layouts(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "000001_create_users.up.sql", "create table u(id int);");
	write_file(d, "000001_create_users.down.sql", "drop table u;");
	write_file(d, "2020-01-02-000000_add_items/up.sql", "create table i(id int);");
	write_file(d, "2020-01-02-000000_add_items/down.sql", "drop table i;");
	write_file(d, "20250101000000_add_orders.sql",
		   "-- migrate:up transaction:false\ncreate table o(id int);\n\n-- migrate:down\ndrop table o;\n");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "postgres", &err), 0);
	assert_int_equal(set.n, 3);
	assert_int_equal(set.v[0].layout, SL_GOLANG_MIGRATE);
	assert_string_equal(set.v[0].description, "create users");
	assert_int_equal(set.v[1].layout, SL_DIESEL);
	assert_string_equal(set.v[1].version, "2020-01-02-000000");
	assert_string_equal(set.v[1].up_script, "2020-01-02-000000_add_items/up.sql");
	assert_int_equal(set.v[2].layout, SL_DBMATE);

	struct sl_buf sql = SL_BUF_INIT;
	char sum[65];
	int first, no_tx;
	assert_int_equal(sl_migration_read(&set.v[2], 1, &sql, sum, &first, &no_tx, &err), 0);
	assert_string_equal(sql.s, "create table o(id int);\n\n");
	assert_int_equal(first, 2);
	assert_int_equal(no_tx, 1);
	sl_buf_reset(&sql);
	assert_int_equal(sl_migration_read(&set.v[2], 0, &sql, sum, &first, &no_tx, &err), 0);
	assert_string_equal(sql.s, "drop table o;\n");
	assert_int_equal(first, 5);
	assert_int_equal(no_tx, 0);
	sl_buf_free(&sql);
	sl_migrations_free(&set);
	remove_dir(d);
}

static void test_duplicate_version_is_an_error(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "V1__a.sql", "select 1;");
	write_file(d, "V001__b.sql", "select 1;");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_non_null(strstr(err.message, "defined twice"));
	remove_dir(d);
}

static void test_malformed_names_are_errors(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "V1_create.sql", "select 1;");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), -1);
	assert_non_null(strstr(err.message, "'__'"));
	remove_dir(d);
	d = temp_dir();
	write_file(d, "0001_no_markers.sql", "select 1;");
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), -1);
	assert_non_null(strstr(err.message, "migrate:up"));
	remove_dir(d);
	d = temp_dir();
	write_file(d, "U3__orphan.sql", "select 1;");
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), -1);
	assert_non_null(strstr(err.message, "no forward migration"));
	remove_dir(d);
}

static void test_dialect_variant_wins_for_its_target(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "V1__base.sql", "create table t(id int);");
	write_file(d, "V2__score.sql", "alter table t add score real;");
	write_file(d, "V2__score.postgres.sql", "alter table t add score double precision;");
	write_file(d, "0003_pg_only.postgres.up.sql", "create extension x;");
	write_file(d, "2020-01-01-000000_diesel/up.sqlite3.sql", "select 1;");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "postgres", &err), 0);
	assert_int_equal(set.n, 4);
	assert_string_equal(set.v[1].up_script, "V2__score.postgres.sql");
	assert_string_equal(set.v[1].dialect, "postgres");
	assert_int_equal(set.v[2].skipped, 0);
	assert_int_equal(set.v[3].skipped, 1);
	assert_string_equal(set.v[3].skipped_dialects, "sqlite");
	sl_migrations_free(&set);
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), 0);
	assert_string_equal(set.v[1].up_script, "V2__score.sql");
	assert_string_equal(set.v[1].dialect, "");
	assert_int_equal(set.v[2].skipped, 1);
	assert_string_equal(set.v[2].skipped_dialects, "postgres");
	assert_int_equal(set.v[3].skipped, 0);
	sl_migrations_free(&set);
	remove_dir(d);
}

static void test_autocommit_tag_runs_outside_a_transaction(void **state)
{
	(void)state;
	char *d = temp_dir();
	write_file(d, "0001_base.up.sql", "create table t(id int);");
	write_file(d, "0002_index.autocommit.up.sql", "create index concurrently i on t(id);");
	write_file(d, "0002_index.down.sql", "drop index i;");
	write_file(d, "0003_x.sqlite3.autocommit.up.sql", "vacuum;");
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, d, "sqlite", &err), 0);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.v[1].description, "index");
	struct sl_buf sql = SL_BUF_INIT;
	char sum[65];
	int first, no_tx;
	assert_int_equal(sl_migration_read(&set.v[0], 1, &sql, sum, &first, &no_tx, &err), 0);
	assert_int_equal(no_tx, 0);
	assert_int_equal(sl_migration_read(&set.v[1], 1, &sql, sum, &first, &no_tx, &err), 0);
	assert_int_equal(no_tx, 1);
	assert_int_equal(sl_migration_read(&set.v[1], 0, &sql, sum, &first, &no_tx, &err), 0);
	assert_int_equal(no_tx, 0);
	assert_string_equal(set.v[2].dialect, "sqlite");
	assert_int_equal(sl_migration_read(&set.v[2], 1, &sql, sum, &first, &no_tx, &err), 0);
	assert_int_equal(no_tx, 1);
	sl_buf_free(&sql);
	sl_migrations_free(&set);
	remove_dir(d);
}

static void test_missing_dir_is_empty(void **state)
{
	(void)state;
	struct sl_migration_set set;
	struct sl_error err;
	assert_int_equal(sl_migrations_load(&set, "/nonexistent/migrations", "sqlite", &err), 0);
	assert_int_equal(set.n, 0);
	sl_migrations_free(&set);
}

static void test_checksum_is_sha256_of_file_bytes(void **state)
{
	(void)state;
	char out[65];
	sl_sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sl_sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	char *d = temp_dir();
	const char *p = write_file(d, "V1__x.sql", "abc");
	struct sl_error err;
	assert_int_equal(sl_sha256_file(p, out, &err), 0);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	remove_dir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_compare_numerically),
		cmocka_unit_test(test_flyway_layout_orders_and_pairs_undo),
		cmocka_unit_test(test_golang_diesel_dbmate_layouts),
		cmocka_unit_test(test_duplicate_version_is_an_error),
		cmocka_unit_test(test_malformed_names_are_errors),
		cmocka_unit_test(test_dialect_variant_wins_for_its_target),
		cmocka_unit_test(test_autocommit_tag_runs_outside_a_transaction),
		cmocka_unit_test(test_missing_dir_is_empty),
		cmocka_unit_test(test_checksum_is_sha256_of_file_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
