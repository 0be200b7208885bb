/* test_flag.c - percentage feature flags (src/deploy/flag.c, flag_store.c,
 * flag_ext.c): the bucketing rule, percents, names, the SQLite functions
 * and the state table. */
#include "unit.h"
#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "deploy/flag.h"

/*
 * Buckets computed independently of this code, with Python's hashlib:
 *
 *   def bucket(name, entity):
 *       h = hashlib.sha256(name.encode() + b":" + entity.encode()).digest()
 *       return int.from_bytes(h[:4], "big") % 10000
 */
struct vector {
	const char *name, *entity;
	int bucket;
};

static const struct vector vectors[] = {
	{ "checkout", "user-1", 6971 },
	{ "checkout", "user-2", 4015 },
	{ "checkout", "user-12345", 5140 },
	{ "checkout", "", 5142 },
	{ "new-ranker", "42", 6818 },
	{ "it's \"quoted\"", "\xc3\xbcn\xc3\xaf\x63\xc3\xb6\x64\xc3\xa9-\xc3\xb8", 8260 }, /* ünïcödé-ø */
	{ "ranker-v2", "u:1", 6501 },
};

static void test_bucket_matches_hashlib_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		assert_int_equal(sl_flag_bucket(vectors[i].name, vectors[i].entity), vectors[i].bucket);
}

/* Inputs longer than the on-stack buffer; and counted bytes with a NUL. */
static void test_bucket_of_long_and_binary_ids(void **state)
{
	(void)state;
	char name[301], entity[301];
	memset(name, 'x', 300);
	memset(entity, 'y', 300);
	name[300] = entity[300] = '\0';
	assert_int_equal(sl_flag_bucket(name, entity), 4986); /* hashlib: "x"*300, "y"*300 */
	assert_int_equal(sl_flag_bucket_n("a", 1, "b\0c", 3), 7526); /* hashlib: b"a:b\x00c" */
}

static void test_enabled_is_bucket_below_threshold(void **state)
{
	(void)state;
	assert_true(sl_flag_enabled(499, 500));
	assert_false(sl_flag_enabled(500, 500));
	assert_false(sl_flag_enabled(0, 0));
	assert_true(sl_flag_enabled(9999, 10000));
	assert_true(sl_flag_enabled(0, 1));
}

/*
 * Raising a percent only adds entities, over 100,000 ids and a ladder of
 * percents; and the counts at 5% and 25% are the ones hashlib gives
 * (494 of the first 10,000 ids, 25,315 of 100,000).
 */
static void test_raising_percent_only_adds_entities(void **state)
{
	(void)state;
	static const int ladder[] = { 0, 1, 500, 2500, 5000, 9999, 10000 };
	const size_t steps = sizeof(ladder) / sizeof(ladder[0]);
	long at5_first10k = 0, at25 = 0;
	char id[32];
	for (int i = 1; i <= 100000; i++) {
		snprintf(id, sizeof(id), "user-%d", i);
		int b = sl_flag_bucket("checkout", id);
		assert_true(b >= 0 && b < SL_FLAG_BUCKETS);
		for (size_t s = 1; s < steps; s++)
			if (sl_flag_enabled(b, ladder[s - 1]))
				assert_true(sl_flag_enabled(b, ladder[s]));
		assert_false(sl_flag_enabled(b, 0));
		assert_true(sl_flag_enabled(b, 10000));
		at5_first10k += i <= 10000 && sl_flag_enabled(b, 500);
		at25 += sl_flag_enabled(b, 2500);
	}
	assert_int_equal(at5_first10k, 494);
	assert_int_equal(at25, 25315);
}

static void test_parse_percent_accepts_what_people_write(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int bp;
	} ok[] = {
		{ "0", 0 }, { "100", 10000 }, { "25", 2500 }, { "12.5", 1250 }, { "0.01", 1 },
		{ "99.99", 9999 }, { "100.00", 10000 }, { "007", 700 }, { ".5", 50 }, { "5.", 500 },
		{ "25%", 2500 }, { "0.29", 29 }, { "000000000000000000000042", 4200 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sl_error err;
		int bp = -1;
		sl_error_clear(&err);
		assert_int_equal(sl_flag_parse_percent(ok[i].s, &bp, &err), 0);
		assert_int_equal(bp, ok[i].bp);
	}
}

static void test_parse_percent_refuses_bad_input_as_usage(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "-1", "+1", "101", "100.01", "1.234", "5.120", "abc", "1e1", " 5", "5 ", "nan",
		"inf", "%", ".", "5%%", "1,5", "99999999999999999999", "0x10", "%5", "1000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_error err;
		int bp = -7;
		sl_error_clear(&err);
		assert_int_equal(sl_flag_parse_percent(bad[i], &bp, &err), -1);
		assert_int_equal(err.code, SL_USAGE);
		assert_non_null(strstr(err.message, "percent"));
		assert_int_equal(bp, -7);
	}
}

static void test_format_percent_is_the_shortest_exact_form(void **state)
{
	(void)state;
	char out[SL_FLAG_PERCENT_LEN];
	static const struct {
		int bp;
		const char *s;
	} v[] = { { 0, "0" }, { 1, "0.01" }, { 10, "0.1" }, { 1250, "12.5" }, { 2500, "25" },
		  { 9999, "99.99" }, { 10000, "100" }, { 505, "5.05" } };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sl_flag_format_percent(v[i].bp, out);
		assert_string_equal(out, v[i].s);
	}
	for (int bp = 0; bp <= 10000; bp++) {
		int back = -1;
		sl_flag_format_percent(bp, out);
		assert_int_equal(sl_flag_parse_percent(out, &back, NULL), 0);
		assert_int_equal(back, bp);
	}
}

static void test_names_are_any_nonempty_utf8(void **state)
{
	(void)state;
	struct sl_error err;
	static const char *const good[] = { "checkout", "it's \"q\"", "a b;--", "\xc3\xbc", "\xf0\x9f\x9a\x80" };
	static const char *const bad[] = {
		"", "\xff", "\xc0\x80" /* overlong */, "\xed\xa0\x80" /* surrogate */, "\xe2\x82" /* cut */,
		"ok\x80", "\xf4\x90\x80\x80" /* above U+10FFFF */,
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(sl_flag_check_name(good[i], &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sl_error_clear(&err);
		assert_int_equal(sl_flag_check_name(bad[i], &err), -1);
		assert_int_equal(err.code, SL_USAGE);
	}
}

static int int_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long *)arg = v[0] ? atol(v[0]) : -1;
	return 1;
}

/* One integer (-1 for NULL) from sql with np (0..2) text parameters. */
static long sql_int(struct sl_db *db, const char *sql, int np, const char *a, const char *b)
{
	struct sl_error err;
	const char *p[] = { a, b };
	long v = -2;
	sl_error_clear(&err);
	assert_int_equal(db->driver->query(db, sql, p, np, int_cb, &v, &err), 0);
	return v;
}

static struct sl_db *open_sqlite(const char *dir)
{
	struct sl_db *db = NULL;
	struct sl_error err;
	char url[4200];
	snprintf(url, sizeof(url), "sqlite:%s/db.sqlite", dir);
	assert_int_equal(sl_db_open(&db, url, NULL, &err), 0);
	return db;
}

/* sluice_flag_bucket and sluice_flag_enabled on sluice's own connections
 * give what the C functions give, and read the flags table. */
static void test_sqlite_functions_agree_with_c(void **state)
{
	(void)state;
	char *dir = temp_dir();
	assert_int_equal(sl_flag_sqlite_register(), 0);
	assert_int_equal(sl_flag_sqlite_register(), 0); /* idempotent */
	struct sl_db *db = open_sqlite(dir);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		assert_int_equal(sql_int(db, "SELECT sluice_flag_bucket(?, ?)", 2, vectors[i].name, vectors[i].entity),
				 vectors[i].bucket);
	assert_int_equal(sql_int(db, "SELECT sluice_flag_bucket(?, ?)", 2, NULL, "x"), -1);
	/* no table yet: every flag is off */
	assert_int_equal(sql_int(db, "SELECT sluice_flag_enabled(?, ?)", 2, "checkout", "user-2"), 0);
	struct sl_flag f;
	struct sl_error err;
	int prev;
	assert_int_equal(sl_flag_set(db, "checkout", 4016, NULL, &f, &prev, &err), 0);
	sl_flag_free(&f);
	assert_int_equal(sql_int(db, "SELECT sluice_flag_enabled(?, ?)", 2, "checkout", "user-2"), 1); /* 4015 */
	assert_int_equal(sl_flag_set(db, "checkout", 4015, NULL, &f, &prev, &err), 0);
	sl_flag_free(&f);
	assert_int_equal(prev, 4016);
	assert_int_equal(sql_int(db, "SELECT sluice_flag_enabled(?, ?)", 2, "checkout", "user-2"), 0);
	/* a constant flag over many rows (the cached percent) counts as C does */
	assert_int_equal(sl_flag_set(db, "checkout", 2500, NULL, &f, &prev, &err), 0);
	sl_flag_free(&f);
	assert_int_equal(sql_int(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
				     " WHERE i < 100000) SELECT sum(sluice_flag_enabled(?, 'user-' || i))"
				     " FROM n", 1, "checkout", NULL),
			 25315);
	sl_db_close(db);
	remove_dir(dir);
}

static void test_set_get_list_round_trip(void **state)
{
	(void)state;
	char *dir = temp_dir();
	struct sl_db *db = open_sqlite(dir);
	struct sl_error err;
	struct sl_flag f;
	int found = 7, prev = 7;
	sl_error_clear(&err);
	/* a fresh database: nothing set, and reading creates no table */
	assert_int_equal(sl_flag_get(db, "checkout", &f, &found, &err), 0);
	assert_int_equal(found, 0);
	assert_null(f.name);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = ?", 1,
				 "sluice_flags", NULL), 0);
	/* 0.29 is the double 0.28999...: it must still read back as 29 */
	assert_int_equal(sl_flag_set(db, "checkout", 29, "canary", &f, &prev, &err), 0);
	assert_int_equal(prev, -1);
	assert_string_equal(f.reason, "canary");
	sl_flag_free(&f);
	assert_int_equal(sl_flag_get(db, "checkout", &f, &found, &err), 0);
	assert_int_equal(found, 1);
	assert_int_equal(f.percent_bp, 29);
	assert_string_equal(f.reason, "canary");
	assert_non_null(f.updated_at);
	assert_non_null(f.updated_by);
	sl_flag_free(&f);
	/* names are data: a quote and a semicolon are stored as they are */
	assert_int_equal(sl_flag_set(db, "a'; DROP TABLE sluice_flags; --", 10000, NULL, &f, &prev, &err), 0);
	sl_flag_free(&f);
	assert_int_equal(sl_flag_set(db, "\xc3\xbc", 1, NULL, &f, &prev, &err), 0);
	sl_flag_free(&f);
	struct sl_flag *v;
	size_t n;
	assert_int_equal(sl_flag_list(db, &v, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "a'; DROP TABLE sluice_flags; --"); /* byte order */
	assert_int_equal(v[0].percent_bp, 10000);
	assert_null(v[0].reason);
	assert_string_equal(v[1].name, "checkout");
	assert_string_equal(v[2].name, "\xc3\xbc");
	for (size_t i = 0; i < n; i++)
		sl_flag_free(&v[i]);
	free(v);
	assert_int_equal(sl_flag_get(db, "missing", &f, &found, &err), 0);
	assert_int_equal(found, 0);
	sl_db_close(db);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_matches_hashlib_vectors),
		cmocka_unit_test(test_bucket_of_long_and_binary_ids),
		cmocka_unit_test(test_enabled_is_bucket_below_threshold),
		cmocka_unit_test(test_raising_percent_only_adds_entities),
		cmocka_unit_test(test_parse_percent_accepts_what_people_write),
		cmocka_unit_test(test_parse_percent_refuses_bad_input_as_usage),
		cmocka_unit_test(test_format_percent_is_the_shortest_exact_form),
		cmocka_unit_test(test_names_are_any_nonempty_utf8),
		cmocka_unit_test(test_sqlite_functions_agree_with_c),
		cmocka_unit_test(test_set_get_list_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
