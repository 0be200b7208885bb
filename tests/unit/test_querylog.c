/* test_querylog.c - reading captured workloads (src/deploy/querylog.c). */
#include "unit.h"
#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "deploy/querylog.h"

#define PG_SPLIT (sl_postgres_driver.split)
#define SQLITE_SPLIT (sl_sqlite_driver.split)

/* Parse text and expect success. */
static void parse_ok(struct sl_querylog *log, const char *text, enum sl_qfmt fmt, sl_split_fn split)
{
	struct sl_error err;
	sl_error_clear(&err);
	int rc = sl_querylog_parse(log, "w.log", text, strlen(text), fmt, split, 0, &err);
	if (rc)
		fail_msg("parse failed: %s (line %d)", err.message, err.line);
}

/* Parse text and expect an SL_USAGE error at line (0: any) mentioning what. */
static void parse_fails(const char *text, size_t len, enum sl_qfmt fmt, int line, const char *what)
{
	struct sl_querylog log;
	struct sl_error err;
	sl_error_clear(&err);
	assert_int_equal(sl_querylog_parse(&log, "w.log", text, len, fmt, PG_SPLIT, 0, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_string_equal(err.file, "w.log");
	if (line)
		assert_int_equal(err.line, line);
	if (!strstr(err.message, what))
		fail_msg("error '%s' lacks '%s'", err.message, what);
	assert_int_equal(log.n, 0);
	assert_null(log.v);
}

static void test_sql_statements_split_by_the_driver_with_their_lines(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "-- a workload\n"
		 "SELECT 'a;b' FROM t;\n"
		 "\n"
		 "UPDATE t\n   SET x = 1\n WHERE id = 2; /* c; */ SELECT 2;\n",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.format, SL_QFMT_SQL);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.v[0].sql, "SELECT 'a;b' FROM t");
	assert_int_equal(log.v[0].line, 2);
	assert_string_equal(log.v[1].sql, "UPDATE t\n   SET x = 1\n WHERE id = 2");
	assert_int_equal(log.v[1].line, 4);
	assert_int_equal(log.v[2].line, 6);
	assert_int_equal(log.v[2].count, 1);
	sl_querylog_free(&log);
	/* SQLite's splitter keeps a trigger body whole */
	parse_ok(&log,
		 "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; END;\nSELECT 1;",
		 SL_QFMT_SQL, SQLITE_SPLIT);
	assert_int_equal(log.n, 2);
	assert_non_null(strstr(log.v[0].sql, "END"));
	sl_querylog_free(&log);
}

static void test_sql_file_without_semicolons_is_one_statement_per_line(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log, "SELECT 1\n\nSELECT a FROM t WHERE b = 'x'\r\nDELETE FROM t WHERE id = 3\n",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.v[1].sql, "SELECT a FROM t WHERE b = 'x'");
	assert_int_equal(log.v[1].line, 3);
	assert_int_equal(log.v[2].line, 4);
	sl_querylog_free(&log);
}

static void test_sql_syntax_error_names_file_and_line(void **state)
{
	(void)state;
	const char *t = "SELECT 1;\nSELECT 2;\nSELEC oops FROM t;\n";
	parse_fails(t, strlen(t), SL_QFMT_SQL, 3, "syntax error");
}

static void test_pglog_default_prefix_statement_and_duration_lines(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "2024-05-01 12:00:00.123 UTC [4242] LOG:  database system is ready to accept connections\n"
		 "2024-05-01 12:00:01.001 UTC [4250] LOG:  statement: SELECT score FROM f WHERE id = 1;\n"
		 "2024-05-01 12:00:01.002 UTC [4250] LOG:  duration: 0.412 ms\n"
		 "2024-05-01 12:00:02.500 UTC [4251] LOG:  duration: 12.034 ms  statement: UPDATE f SET score = 0 WHERE id = 2\n"
		 "2024-05-01 12:00:03.000 UTC [4250] ERROR:  column \"nope\" does not exist at character 8\n"
		 "2024-05-01 12:00:03.000 UTC [4250] STATEMENT:  SELECT nope FROM f\n",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.format, SL_QFMT_PGLOG);
	assert_int_equal(log.n, 2); /* STATEMENT lines repeat a logged statement */
	assert_string_equal(log.v[0].sql, "SELECT score FROM f WHERE id = 1");
	assert_int_equal(log.v[0].line, 2);
	assert_string_equal(log.v[1].sql, "UPDATE f SET score = 0 WHERE id = 2");
	assert_int_equal(log.v[1].line, 4);
	sl_querylog_free(&log);
}

static void test_pglog_other_prefixes_and_several_statements_on_one_line(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "2024-05-01 12:00:01 UTC [77]: [3-1] user=app,db=prod LOG:  statement: BEGIN; UPDATE f SET x = 1; COMMIT\n"
		 "2024-05-01 12:00:01 UTC [78]: [1-1] user=,db= LOG:  statement: SELECT 'LOG:  statement: no'\n"
		 "LOG:  statement: SELECT 3\n",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.n, 5);
	assert_string_equal(log.v[0].sql, "BEGIN");
	assert_string_equal(log.v[1].sql, "UPDATE f SET x = 1");
	assert_string_equal(log.v[2].sql, "COMMIT");
	assert_int_equal(log.v[2].line, 1);
	assert_string_equal(log.v[3].sql, "SELECT 'LOG:  statement: no'");
	assert_string_equal(log.v[4].sql, "SELECT 3");
	assert_int_equal(log.v[4].line, 3);
	sl_querylog_free(&log);
}

static void test_pglog_multiline_statement_is_joined(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "2024-05-01 12:00:01.001 UTC [9] LOG:  statement: SELECT user_id,\n"
		 "\t       score\n"
		 "\tFROM user_features\r\n"
		 "\tWHERE note = 'two\n"
		 "\tlines'\n"
		 "2024-05-01 12:00:01.002 UTC [9] LOG:  statement: SELECT 2\n",
		 SL_QFMT_PGLOG, PG_SPLIT);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.v[0].sql,
			    "SELECT user_id,\n       score\nFROM user_features\nWHERE note = 'two\nlines'");
	assert_int_equal(log.v[1].line, 6);
	sl_querylog_free(&log);
}

static void test_pglog_execute_parameters_are_substituted_as_quoted_literals(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "2024-05-01 12:00:01.001 UTC [5] LOG:  execute <unnamed>: SELECT * FROM u WHERE name = $1 AND id = $2 AND note <> '$1' AND k = $10 AND z IS NOT DISTINCT FROM $3\n"
		 "2024-05-01 12:00:01.001 UTC [5] DETAIL:  parameters: $1 = 'O''Reilly', $2 = '42', $3 = NULL, $4 = 'a', $5 = 'b', $6 = 'c', $7 = 'd', $8 = 'e', $9 = 'f', $10 = 'ten'\n"
		 "2024-05-01 12:00:01.002 UTC [5] LOG:  duration: 0.050 ms  execute S_1: INSERT INTO t (a, b) VALUES ($1, $2)\n"
		 "2024-05-01 12:00:01.002 UTC [5] DETAIL:  parameters: $1 = 'back\\slash', $2 = 'new\n"
		 "\tline'\n",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.format, SL_QFMT_PGLOG);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.v[0].sql,
			    "SELECT * FROM u WHERE name = 'O''Reilly' AND id = '42' AND note <> '$1' "
			    "AND k = 'ten' AND z IS NOT DISTINCT FROM NULL");
	assert_int_equal(log.v[0].normalized, 0);
	assert_string_equal(log.v[1].sql, "INSERT INTO t (a, b) VALUES (E'back\\\\slash', 'new\nline')");
	assert_int_equal(log.v[1].normalized, 0);
	sl_querylog_free(&log);
}

static void test_pglog_parameters_follow_their_own_process_and_execute(void **state)
{
	(void)state;
	struct sl_querylog log;
	/* log_min_duration_statement = 0 with the extended protocol: parse,
	 * bind (with its own parameters) and execute; two backends interleave */
	parse_ok(&log,
		 "2024-05-01 12:00:01.001 UTC [11] LOG:  duration: 0.010 ms  parse <unnamed>: SELECT $1::int\n"
		 "2024-05-01 12:00:01.001 UTC [11] LOG:  duration: 0.010 ms  bind <unnamed>: SELECT $1::int\n"
		 "2024-05-01 12:00:01.001 UTC [11] DETAIL:  parameters: $1 = '7'\n"
		 "2024-05-01 12:00:01.001 UTC [11] LOG:  execute <unnamed>: SELECT $1::int\n"
		 "2024-05-01 12:00:01.001 UTC [12] LOG:  execute <unnamed>: SELECT $1::text\n"
		 "2024-05-01 12:00:01.001 UTC [11] DETAIL:  parameters: $1 = '7'\n"
		 "2024-05-01 12:00:01.001 UTC [12] DETAIL:  parameters: $1 = 'twelve'\n"
		 "2024-05-01 12:00:01.001 UTC [11] LOG:  execute fetch from <unnamed>/C_1: SELECT $1::int\n"
		 "2024-05-01 12:00:01.001 UTC [13] LOG:  execute <unnamed>: SELECT $1 + $2\n"
		 "2024-05-01 12:00:01.001 UTC [13] DETAIL:  parameters: garbled\n",
		 SL_QFMT_PGLOG, PG_SPLIT);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.v[0].sql, "SELECT '7'::int");
	assert_string_equal(log.v[1].sql, "SELECT 'twelve'::text");
	/* parameters that cannot be read leave placeholders: checked by PREPARE */
	assert_string_equal(log.v[2].sql, "SELECT $1 + $2");
	assert_int_equal(log.v[2].normalized, 1);
	sl_querylog_free(&log);
}

static void test_pglog_without_statements_is_an_error(void **state)
{
	(void)state;
	const char *t = "2024-05-01 12:00:00.123 UTC [1] LOG:  checkpoint starting: time\n";
	parse_fails(t, strlen(t), SL_QFMT_PGLOG, 0, "no statements found");
}

static void test_pgss_csv_quoting_multiline_fields_and_calls(void **state)
{
	(void)state;
	struct sl_querylog log;
	parse_ok(&log,
		 "userid,dbid,queryid,query,calls,total_exec_time\r\n"
		 "10,5,-123,\"SELECT score FROM user_features WHERE user_id = $1\",1500,12.5\r\n"
		 "10,5,77,\"SELECT \"\"Mixed\"\", x\n FROM t\n WHERE s = 'a,b'\",3,0.1\n"
		 "\n"
		 "10,5,78,SELECT now(),2,0.0\n"
		 "10,5,79,\"BEGIN; UPDATE t SET x = 1\",1,0.0",
		 SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.format, SL_QFMT_PGSS);
	assert_int_equal(log.n, 5);
	assert_string_equal(log.v[0].sql, "SELECT score FROM user_features WHERE user_id = $1");
	assert_int_equal(log.v[0].count, 1500);
	assert_int_equal(log.v[0].normalized, 1);
	assert_int_equal(log.v[0].line, 2);
	assert_string_equal(log.v[1].sql, "SELECT \"Mixed\", x\n FROM t\n WHERE s = 'a,b'");
	assert_int_equal(log.v[1].count, 3);
	assert_int_equal(log.v[1].normalized, 0);
	assert_int_equal(log.v[1].line, 3);
	assert_string_equal(log.v[2].sql, "SELECT now()");
	assert_int_equal(log.v[2].line, 7);
	/* a row holding two statements is split: COMMIT cannot sneak in */
	assert_string_equal(log.v[3].sql, "BEGIN");
	assert_string_equal(log.v[4].sql, "UPDATE t SET x = 1");
	sl_querylog_free(&log);
	/* calls is optional */
	parse_ok(&log, "query\n\"SELECT 1\"\n", SL_QFMT_AUTO, PG_SPLIT);
	assert_int_equal(log.format, SL_QFMT_PGSS);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.v[0].count, 1);
	sl_querylog_free(&log);
}

static void test_pgss_malformed_csv_names_the_line(void **state)
{
	(void)state;
	const char *t1 = "query,calls\n\"SELECT 1\",1\n\"SELECT\n 2,1\n";
	parse_fails(t1, strlen(t1), SL_QFMT_PGSS, 3, "never closed");
	const char *t2 = "query,calls\n\"SELECT 1\"x,1\n";
	parse_fails(t2, strlen(t2), SL_QFMT_PGSS, 2, "after the closing quote");
	const char *t3 = "queryid,calls\n1,2\n";
	parse_fails(t3, strlen(t3), SL_QFMT_PGSS, 1, "no `query` column");
	const char *t4 = "calls,query\n1,SELECT 1\n2\n";
	parse_fails(t4, strlen(t4), SL_QFMT_PGSS, 3, "field");
	const char *t5 = "query,calls\nSELECT 1,many\n";
	parse_fails(t5, strlen(t5), SL_QFMT_PGSS, 2, "not a count");
}

static void test_garbage_input_is_rejected_with_its_line(void **state)
{
	(void)state;
	const char bin[] = "SELECT 1;\n\x01\x02\0\xff";
	parse_fails(bin, sizeof(bin) - 1, SL_QFMT_AUTO, 2, "NUL byte");
	parse_fails("", 0, SL_QFMT_AUTO, 0, "no statements");
	parse_fails("  \n-- only a comment\n", 20, SL_QFMT_SQL, 0, "no statements");
	/* random bytes read as SQL: the PostgreSQL splitter refuses them */
	const char *junk = "\x89PNG\r\n\x1a\n\x7f\x45\x4c\x46 ((( ';";
	parse_fails(junk, strlen(junk), SL_QFMT_AUTO, 0, "syntax error");
	struct sl_querylog log;
	struct sl_error err;
	assert_int_equal(sl_querylog_load(&log, "/nonexistent/q.sql", SL_QFMT_AUTO, PG_SPLIT, 0, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_string_equal(err.file, "/nonexistent/q.sql");
	assert_non_null(strstr(err.message, "cannot read"));
}

static void test_limit_keeps_the_first_statements(void **state)
{
	(void)state;
	struct sl_querylog log;
	struct sl_error err;
	const char *t = "SELECT 1; SELECT 2; SELECT 3; SELECT 4;";
	assert_int_equal(sl_querylog_parse(&log, "q", t, strlen(t), SL_QFMT_SQL, PG_SPLIT, 2, &err), 0);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.v[1].sql, "SELECT 2");
	sl_querylog_free(&log);
	/* a log cut at the limit still gets the parameters of its last execute */
	const char *l = "LOG:  execute <unnamed>: SELECT $1\nDETAIL:  parameters: $1 = 'x'\n"
			"LOG:  statement: SELECT 9\n";
	assert_int_equal(sl_querylog_parse(&log, "q", l, strlen(l), SL_QFMT_PGLOG, PG_SPLIT, 1, &err), 0);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.v[0].sql, "SELECT 'x'");
	sl_querylog_free(&log);
}

static void test_formats_are_detected_and_named(void **state)
{
	(void)state;
	const char *pgss = "\"query\",\"calls\"\nSELECT 1,1\n";
	assert_int_equal(sl_querylog_detect(pgss, strlen(pgss)), SL_QFMT_PGSS);
	const char *sel = "SELECT query, calls FROM pg_stat_statements;";
	assert_int_equal(sl_querylog_detect(sel, strlen(sel)), SL_QFMT_SQL);
	const char *log = "x\ny [1] LOG:  duration: 1.0 ms  statement: SELECT 1\n";
	assert_int_equal(sl_querylog_detect(log, strlen(log)), SL_QFMT_PGLOG);
	enum sl_qfmt f;
	assert_int_equal(sl_qfmt_parse("pglog", &f), 0);
	assert_int_equal(f, SL_QFMT_PGLOG);
	assert_int_equal(sl_qfmt_parse("csv", &f), -1);
	assert_string_equal(sl_qfmt_name(SL_QFMT_PGSS), "pgss");
}

static void test_statement_kinds_decide_how_it_is_replayed(void **state)
{
	(void)state;
	static const struct {
		const char *sql;
		enum sl_qkind kind;
	} cases[] = {
		{ "SELECT a FROM t", SL_QK_READ },
		{ "  (SELECT 1) UNION (SELECT 2)", SL_QK_READ },
		{ "with x as (select 1) select * from x", SL_QK_READ },
		{ "VALUES (1), (2)", SL_QK_READ },
		{ "TABLE t", SL_QK_READ },
		{ "SELECT 'update' AS \"delete\" FROM t -- insert", SL_QK_READ },
		{ "SELECT * INTO copy FROM t", SL_QK_WRITE },
		{ "SELECT * FROM t FOR UPDATE", SL_QK_WRITE },
		{ "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", SL_QK_WRITE },
		{ "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d", SL_QK_WRITE },
		{ "SHOW search_path", SL_QK_SHOW },
		{ "EXPLAIN SELECT 1", SL_QK_SHOW },
		{ "EXPLAIN (FORMAT JSON) SELECT 1", SL_QK_SHOW },
		{ "EXPLAIN QUERY PLAN SELECT 1", SL_QK_SHOW },
		{ "EXPLAIN ANALYZE DELETE FROM t", SL_QK_WRITE },
		{ "EXPLAIN (BUFFERS, ANALYZE) SELECT 1", SL_QK_WRITE },
		{ "UPDATE t SET x = 1", SL_QK_WRITE },
		{ "INSERT INTO t VALUES (1)", SL_QK_WRITE },
		{ "CREATE TEMP TABLE x (a int)", SL_QK_WRITE },
		{ "DO $$BEGIN PERFORM 1; END$$", SL_QK_WRITE },
		{ "BEGIN", SL_QK_SKIP },
		{ "commit", SL_QK_SKIP },
		{ "SET statement_timeout = 0", SL_QK_SKIP },
		{ "COPY t FROM STDIN", SL_QK_SKIP },
		{ "VACUUM t", SL_QK_SKIP },
		{ "CREATE INDEX CONCURRENTLY i ON t (a)", SL_QK_SKIP },
		{ "CREATE DATABASE x", SL_QK_SKIP },
		{ "-- nothing", SL_QK_SKIP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		enum sl_qkind k = sl_query_kind(cases[i].sql, &why);
		if (k != cases[i].kind)
			fail_msg("%s: %s, expected %s", cases[i].sql, sl_qkind_name(k),
				 sl_qkind_name(cases[i].kind));
		if (k == SL_QK_SKIP)
			assert_non_null(why);
	}
}

static void test_placeholders_are_found_outside_strings_only(void **state)
{
	(void)state;
	assert_true(sl_query_has_params("SELECT * FROM t WHERE id = $1"));
	assert_true(sl_query_has_params("SELECT $12"));
	assert_false(sl_query_has_params("SELECT '$1', \"$2\" -- $3"));
	assert_false(sl_query_has_params("SELECT $$ $1 $$, $tag$ $2 $tag$"));
	assert_false(sl_query_has_params("SELECT a$1 FROM t"));
	assert_false(sl_query_has_params("SELECT E'\\' $1'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sql_statements_split_by_the_driver_with_their_lines),
		cmocka_unit_test(test_sql_file_without_semicolons_is_one_statement_per_line),
		cmocka_unit_test(test_sql_syntax_error_names_file_and_line),
		cmocka_unit_test(test_pglog_default_prefix_statement_and_duration_lines),
		cmocka_unit_test(test_pglog_other_prefixes_and_several_statements_on_one_line),
		cmocka_unit_test(test_pglog_multiline_statement_is_joined),
		cmocka_unit_test(test_pglog_execute_parameters_are_substituted_as_quoted_literals),
		cmocka_unit_test(test_pglog_parameters_follow_their_own_process_and_execute),
		cmocka_unit_test(test_pglog_without_statements_is_an_error),
		cmocka_unit_test(test_pgss_csv_quoting_multiline_fields_and_calls),
		cmocka_unit_test(test_pgss_malformed_csv_names_the_line),
		cmocka_unit_test(test_garbage_input_is_rejected_with_its_line),
		cmocka_unit_test(test_limit_keeps_the_first_statements),
		cmocka_unit_test(test_formats_are_detected_and_named),
		cmocka_unit_test(test_statement_kinds_decide_how_it_is_replayed),
		cmocka_unit_test(test_placeholders_are_found_outside_strings_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
