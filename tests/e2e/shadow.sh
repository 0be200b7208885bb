#!/bin/bash
# shadow.sh - `sluice shadow`: a captured workload replayed on the current
# schema and on a shadow with the pending migrations, on SQLite and on a
# real PostgreSQL.  A pending rename is caught from a SQL file, from a real
# PostgreSQL log (log_statement=all and log_min_duration_statement, simple
# and extended protocol with parameters, two log_line_prefix styles) and
# from a real pg_stat_statements export; a harmless migration exits 0; one
# that changes data is reported as `differs`; the workload's writes leave
# no trace; the environment's schema is unchanged (PostgreSQL rolled-back
# transaction); a bad file exits 2; a statement timeout stops a runaway
# query; a shadow_url scratch database stays empty.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
PGSS_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then
    PG_OK=1
    trap pg_stop EXIT
    # pg_stat_statements must be preloaded: one restart (pg_ctl keeps the
    # server's options in postmaster.opts)
    psql -q -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" &&
      pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w restart >/dev/null &&
      psql -q -d postgres -c "CREATE EXTENSION pg_stat_statements" && PGSS_OK=1
  else
    echo "FAIL shadow: cannot start PostgreSQL"
  fi
fi

# project BACKEND: user_features at V1 (200 rows), applied; each test
# writes the pending migration
project() {
  mkdir -p p/migrations
  cat > p/migrations/V1__features.sql <<'EOF'
CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL,
                            clicks integer NOT NULL, segment text);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO user_features (user_id, score, clicks, segment)
SELECT i, (i % 100) / 100.0, i % 7,
       CASE WHEN i % 3 = 0 THEN 'a' WHEN i % 3 = 1 THEN 'b' ELSE 'O''Reilly' END FROM n;
EOF
  if [ "$1" = sqlite ]; then
    URL="sqlite:db.sqlite"
    DATA() { sqlite3 p/db.sqlite "SELECT * FROM user_features ORDER BY user_id" "SELECT count(*) FROM sluice_history" | md5sum; }
    SCHEMA() { sqlite3 p/db.sqlite .schema; }
  else
    DB="shadow_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    DATA() { psql -Atq -d "$DB" -c "SELECT * FROM user_features ORDER BY user_id" -c "SELECT count(*) FROM sluice.history" | md5sum; }
    SCHEMA() { pg_dump --schema-only --no-comments -d "$DB" | grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict'; }
  fi
  printf 'project: shadowtest\nenvironments:\n  prod: "%s"\n' "$URL" > p/sluice.yaml
  sl -C p -e prod migrate -q
  expect_rc 0
  # the workload: reads (one over several lines), writes, transaction control
  cat > workload.sql <<'EOF'
SELECT score FROM user_features WHERE user_id = 3;
SELECT user_id, clicks
  FROM user_features
 WHERE segment = 'a' ORDER BY user_id LIMIT 5;
SELECT segment, count(*), sum(clicks) FROM user_features GROUP BY segment ORDER BY segment;
SELECT avg(score) FROM user_features WHERE clicks > 2;
SELECT count(*) FROM user_features WHERE segment = 'O''Reilly';
SELECT user_id FROM user_features WHERE user_id > 180 ORDER BY user_id;
UPDATE user_features SET clicks = clicks + 1 WHERE user_id = 4;
INSERT INTO user_features (user_id, score, clicks, segment) VALUES (9001, 0.5, 1, 'c');
DELETE FROM user_features WHERE user_id = 10;
SELECT score FROM user_features WHERE user_id = 3;
BEGIN;
COMMIT;
EOF
}

pending() { echo "$1" > p/migrations/V2__change.sql; }
RENAME='ALTER TABLE user_features RENAME COLUMN score TO score_v2;'
shadow() { sl -C p -e prod shadow "$@"; }

# every replayed query that reads the renamed column is broken, and no
# other one is
only_score_broken() {
  local v
  v=$(json "[r['query'] for r in d['results'] if r['status'] != 'skipped' and ('score' in r['query']) != (r['status'] == 'broken')]")
  expect_eq "$v" "[]" "(queries whose status does not follow their use of score)"
  expect_eq "$(json "d['summary']['broken'] > 0 and d['ok'] is False")" "True"
}

check_rename_is_caught_from_a_sql_file() {
  project "$1"
  pending "$RENAME"
  shadow --queries ../workload.sql
  expect_rc 1
  expect_out "broken +2  SELECT score FROM user_features WHERE user_id = 3 .*score"
  expect_out "ok 6 broken 3 differs 0 slower 0 failing 0 prepared 0 skipped 2"
  shadow --queries ../workload.sql --format json
  expect_rc 1
  only_score_broken
  expect_eq "$(json "(d['format'], d['queries'], d['distinct'], d['applied'])")" "('sql', 12, 11, ['2 change'])"
  expect_eq "$(json "[r['count'] for r in d['results'] if r['query'].startswith('SELECT score')]")" "[2]"
  # the same file one statement per line, without semicolons
  grep -v -e '^ ' -e '^BEGIN' -e '^COMMIT' workload.sql | sed 's/;$//' | grep -v 'SELECT user_id, clicks' > lines.sql
  shadow --queries ../lines.sql --format json
  expect_rc 1
  only_score_broken
  expect_eq "$(json "d['distinct']")" "8"
}

# capture WHAT: run the workload against the project's PostgreSQL database
# with statement logging on and keep what the server logged.  The simple
# protocol (psql) with log_statement=all; the extended protocol (pgbench
# -M extended / prepared, parameters logged on DETAIL lines) with
# log_min_duration_statement=0 and log_statement=all.
capture_log() {
  local off
  off=$(stat -c %s "$PGDIR/server.log")
  { echo 'BEGIN;'; grep -v -e '^BEGIN' -e '^COMMIT' workload.sql; echo 'ROLLBACK;'; } > captured.sql
  PGOPTIONS="-c log_statement=all" psql -q -d "$DB" -f captured.sql >/dev/null
  cat > pgbench.sql <<'EOF'
\set id random(1, 200)
SELECT score FROM user_features WHERE user_id = :id;
SELECT count(*) FROM user_features WHERE segment = :who;
UPDATE user_features SET clicks = clicks WHERE user_id = :id;
EOF
  PGOPTIONS="-c log_min_duration_statement=0" pgbench -n -M extended -t 3 -D "who=O'Reilly" -f pgbench.sql "$DB" >/dev/null 2>&1
  # the other common prefix: '%t [%p]: [%l-1] user=%u,db=%d '
  psql -q -d postgres -c "ALTER SYSTEM SET log_line_prefix = '%t [%p]: [%l-1] user=%u,db=%d '" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
  PGOPTIONS="-c log_statement=all" pgbench -n -M prepared -t 2 -D "who=O'Reilly" -f pgbench.sql "$DB" >/dev/null 2>&1
  psql -q -d postgres -c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
  tail -c +$((off + 1)) "$PGDIR/server.log" > captured.log
}

test_postgres_rename_is_caught_from_a_real_server_log() {
  [ "$PG_OK" = 1 ] || return 0
  project postgres
  capture_log
  grep -q 'LOG:  duration: [0-9.]* ms  execute <unnamed>: SELECT count(\*) FROM user_features WHERE segment = \$1' captured.log
  grep -q "DETAIL:  parameters: \$1 = 'O''Reilly'" captured.log
  grep -q '\]: \[[0-9]*-1\] user=postgres,db=.* LOG:  execute P_[0-9]*: SELECT' captured.log
  grep -qP '^\t  FROM user_features' captured.log
  pending "$RENAME"
  shadow --queries ../captured.log --format json
  expect_rc 1
  expect_eq "$(json "d['format']")" "pglog"
  only_score_broken
  # parameters came back as literals, quoted; the multi-line read is whole
  expect_eq "$(json "[r['status'] for r in d['results'] if r['query'] == \"SELECT count(*) FROM user_features WHERE segment = 'O''Reilly'\"]")" "['ok']"
  expect_eq "$(json "[r['status'] for r in d['results'] if r['query'].startswith('SELECT user_id, clicks\n  FROM user_features\n WHERE segment')]")" "['ok']"
  expect_eq "$(json "sum(1 for r in d['results'] if '\$' in r['query'])")" "0"
  # the skipped BEGIN / ROLLBACK of the capture
  expect_eq "$(json "sorted(r['query'] for r in d['results'] if r['status'] == 'skipped')")" "['BEGIN', 'ROLLBACK']"
  # the same capture replayed on the SQLite project (the workload is portable)
  rm -rf p
  project sqlite
  pending "$RENAME"
  shadow --queries ../captured.log --format json
  expect_rc 1
  only_score_broken
}

test_postgres_rename_is_caught_from_pg_stat_statements() {
  [ "$PGSS_OK" = 1 ] || { [ "$PG_OK" = 1 ] && t_fail "pg_stat_statements could not be loaded"; return $?; }
  project postgres
  psql -q -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
  { echo 'BEGIN;'; grep -v -e '^BEGIN' -e '^COMMIT' workload.sql; echo 'ROLLBACK;'; } > captured.sql
  psql -q -d "$DB" -f captured.sql >/dev/null
  psql -q -d postgres -c "\\copy (SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$DB' ORDER BY s.query) TO 'pgss.csv' WITH (FORMAT csv, HEADER)"
  head -1 pgss.csv | grep -q '^query,calls,total_exec_time$'
  grep -q 'WHERE user_id = \$1' pgss.csv
  pending "$RENAME"
  shadow --queries ../pgss.csv --format json
  expect_rc 1
  expect_eq "$(json "d['format']")" "pgss"
  only_score_broken
  # normalised queries are prepared, not run: no timings or rows compared
  expect_eq "$(json "sorted(set((r['status'], r['rows_current']) for r in d['results'] if '\$' in r['query']))")" "[('broken', None), ('prepared', None)]"
  # calls became counts: the SELECT score query ran twice
  expect_eq "$(json "[r['count'] for r in d['results'] if r['query'].startswith('SELECT score FROM user_features WHERE user_id')]")" "[2]"
  # the same export checked against the SQLite project
  rm -rf p
  project sqlite
  pending "$RENAME"
  shadow --queries ../pgss.csv --format json
  expect_rc 1
  only_score_broken
}

check_harmless_migration_exits_0() {
  project "$1"
  pending 'ALTER TABLE user_features ADD COLUMN note text;'
  shadow --queries ../workload.sql --format json
  expect_rc 0
  expect_eq "$(json "(d['ok'], d['summary'])")" "(True, {'ok': 9, 'broken': 0, 'differs': 0, 'slower': 0, 'failing': 0, 'prepared': 0, 'skipped': 2})"
  shadow --queries ../workload.sql
  expect_rc 0
  expect_out "no query breaks"
}

check_migration_that_changes_data_differs() {
  project "$1"
  pending "UPDATE user_features SET clicks = clicks + 10 WHERE segment = 'a';
DELETE FROM user_features WHERE user_id > 190;"
  shadow --queries ../workload.sql --format json
  expect_rc 0
  expect_eq "$(json "[(r['status'], r['reason']) for r in d['results'] if r['query'].startswith('SELECT segment')]")" "[('differs', 'same 3 rows, different values (checksum)')]"
  expect_eq "$(json "[(r['status'], r['reason'], r['rows_current'], r['rows_shadow']) for r in d['results'] if 'user_id > 180' in r['query']]")" "[('differs', 'rows: 20 -> 10', 20, 10)]"
  expect_eq "$(json "[r['status'] for r in d['results'] if r['query'].startswith('SELECT score')]")" "['ok']"
  expect_eq "$(json "d['summary']['broken']")" "0"
}

check_workload_writes_leave_no_trace() {
  project "$1"
  pending "$RENAME"
  local data schema
  data=$(DATA)
  schema=$(SCHEMA)
  mkdir tmp
  TMPDIR=$T_TMP/tmp shadow --queries ../workload.sql --runs 5
  expect_rc 1
  expect_eq "$(DATA)" "$data" "(the table and history after the replay)"
  expect_eq "$(SCHEMA)" "$schema" "(the schema after the replay)"
  expect_eq "$(ls tmp | wc -l)" "0" "(files left in TMPDIR)"
  sl -C p -e prod status --format json
  expect_eq "$(json "d['current']")" "1"
  if [ "$1" = postgres ]; then
    # the rolled-back transaction and its connection are gone
    expect_eq "$(psql -Atq -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'")" "0"
    expect_eq "$(psql -Atq -d "$DB" -c "SELECT count(*) FROM pg_prepared_statements")" "0"
  fi
}

check_bad_queries_file_exits_2() {
  project "$1"
  pending "$RENAME"
  local data
  data=$(DATA)
  shadow --queries ../missing.sql
  expect_rc 2
  expect_err "missing.sql: cannot read the queries"
  printf 'query,calls\n"SELECT 1",1\n"SELECT\n 2,1\n' > bad.csv
  shadow --queries ../bad.csv
  expect_rc 2
  expect_err "bad.csv:3: a quoted CSV field is never closed"
  printf 'SELECT 1;\nSELECT 2 FROM;\x00\n' > nul.sql
  shadow --queries ../nul.sql --format json
  expect_rc 2
  expect_eq "$(json "(d['exit_code'], d['error']['file'], d['error']['line'])")" "(2, '../nul.sql', 2)"
  shadow --queries ../workload.sql --queries-format csv
  expect_rc 2
  expect_err "unknown --queries-format"
  shadow --queries ../workload.sql --runs 0
  expect_rc 2
  expect_eq "$(DATA)" "$data"
}

check_statement_timeout_stops_a_runaway_query() {
  project "$1"
  pending "$RENAME"
  if [ "$1" = sqlite ]; then
    echo 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT count(*) FROM c;' > slow.sql
  else
    echo 'SELECT pg_sleep(30);' > slow.sql
  fi
  cat workload.sql >> slow.sql
  local t0=$SECONDS
  shadow --queries ../slow.sql --timeout 300ms --format json
  expect_rc 1
  [ $((SECONDS - t0)) -lt 10 ] || t_fail "took $((SECONDS - t0)) s"
  expect_eq "$(json "[(r['status'], r['reason']) for r in d['results'] if 'c(i)' in r['query'] or 'pg_sleep' in r['query']]")" "[('failing', 'times out on both schemas (300 ms)')]"
  only_score_broken
}

test_postgres_shadow_url_scratch_stays_empty() {
  [ "$PG_OK" = 1 ] || return 0
  project postgres
  local scratch="scratch_$$_$RANDOM"
  pg_createdb "$scratch"
  printf 'project: shadowtest\nenvironments:\n  prod:\n    url: "%s"\n    shadow_url: "%s"\n' "$URL" "$(pg_url "$scratch")" > p/sluice.yaml
  pending "$RENAME"
  echo "SELECT '{\"a\": 1}'::jsonb ? 'a';" >> workload.sql
  local data schema
  data=$(DATA)
  schema=$(SCHEMA)
  shadow --queries ../workload.sql --format json
  expect_rc 1
  only_score_broken
  expect_eq "$(json "d['mode']")" "scratch"
  # the '?' operator reached the server unchanged; V1's rows were replayed
  expect_eq "$(json "[(r['status'], r['rows_current']) for r in d['results'] if 'jsonb' in r['query']]")" "[('ok', 1)]"
  expect_eq "$(json "[r['rows_current'] for r in d['results'] if 'user_id > 180' in r['query']]")" "[20]"
  expect_eq "$(psql -Atq -d "$scratch" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')")" "0"
  expect_eq "$(DATA)" "$data"
  expect_eq "$(SCHEMA)" "$schema"
  # a scratch database with tables but no sluice history is refused
  psql -q -d "$scratch" -c "CREATE TABLE leftover (id int)"
  shadow --queries ../workload.sql
  expect_rc 3
  expect_err "has tables but no sluice history"
}

backends() { echo sqlite; [ "$PG_OK" = 1 ] && echo postgres; return 0; }
for b in $(backends); do
  eval "test_rename_is_caught_from_a_sql_file_$b() { check_rename_is_caught_from_a_sql_file $b; }"
  eval "test_harmless_migration_exits_0_$b() { check_harmless_migration_exits_0 $b; }"
  eval "test_migration_that_changes_data_differs_$b() { check_migration_that_changes_data_differs $b; }"
  eval "test_workload_writes_leave_no_trace_$b() { check_workload_writes_leave_no_trace $b; }"
  eval "test_bad_queries_file_exits_2_$b() { check_bad_queries_file_exits_2 $b; }"
  eval "test_statement_timeout_stops_a_runaway_query_$b() { check_statement_timeout_stops_a_runaway_query $b; }"
done

t_run
