#!/bin/bash
# group.sh - `migrate --group`: one transaction for the run with a savepoint
# per migration, on SQLite and PostgreSQL.  Each migration stays atomic; a
# failure keeps the ones before it; a crash rolls the whole run back.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL group: cannot start PostgreSQL"; fi
fi

project() { # project sqlite|postgres
  mkdir -p migrations
  if [ "$1" = sqlite ]; then
    URL="sqlite:$PWD/g.db"
    Q() { sqlite3 g.db "$1"; }
    NOTX="VACUUM;"
  else
    DB="g_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -c "$1"; }
    NOTX="CREATE INDEX CONCURRENTLY g2_id ON g2 (id);"
  fi
  printf 'project: g\n' > sluice.yaml
  echo "CREATE TABLE g1 (id INTEGER);" > migrations/V1__one.sql
  echo "CREATE TABLE g2 (id INTEGER);" > migrations/V2__two.sql
  echo "$NOTX" > migrations/V3__notx.sql
  echo "CREATE TABLE g4 (id INTEGER);" > migrations/V4__four.sql
}

check_group_applies_all() {
  project "$1"
  sl --url "$URL" migrate --group
  expect_rc 0
  expect_out 'applied 4 migration\(s\)'
  expect_eq "$(Q "SELECT count(*) FROM $2 WHERE success")" 4
}

check_group_failure_keeps_the_ones_before() {
  project "$1"
  printf "CREATE TABLE g5 (id INTEGER);\nINSERT INTO missing_table VALUES (1);\n" > migrations/V5__bad.sql
  echo "CREATE TABLE g6 (id INTEGER);" > migrations/V6__six.sql
  sl --url "$URL" migrate --group --format json
  expect_rc 3
  expect_eq "$(json 'd["current"], [s["version"] for s in d["applied"]]')" "4 ['1', '2', '3', '4']"
  expect_eq "$(Q "SELECT count(*) FROM $2")" 4
  sl --url "$URL" --format json status
  expect_eq "$(json '[e["version"] for e in d["pending"]]')" "['5', '6']"
  Q "SELECT count(*) FROM g5" >/dev/null 2>&1 && t_fail "the failed migration's first statement survived"
  return 0
}

test_sqlite_group_applies_all() { check_group_applies_all sqlite sluice_history; }
test_sqlite_group_failure_keeps_the_ones_before() { check_group_failure_keeps_the_ones_before sqlite sluice_history; }
test_postgres_group_applies_all() { [ "$PG_OK" = 1 ] || return 0; check_group_applies_all postgres sluice.history; }
test_postgres_group_failure_keeps_the_ones_before() { [ "$PG_OK" = 1 ] || return 0; check_group_failure_keeps_the_ones_before postgres sluice.history; }

test_sqlite_group_crash_rolls_the_run_back() {
  project sqlite
  rm migrations/V3__notx.sql
  # V4 runs (nearly) forever
  echo "CREATE TABLE g4 AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 4000000000) SELECT count(*) AS n FROM c;" > migrations/V4__four.sql
  "$SLUICE" --url "$URL" -v migrate --group > k.out 2> k.err &
  pid=$!
  for i in $(seq 1 100); do grep -q 'applying 4' k.err && break; sleep 0.1; done
  sleep 0.5
  kill -9 $pid; wait $pid 2>/dev/null || true
  sl --url "$URL" --format json status
  expect_eq "$(json '[e["version"] for e in d["pending"]]')" "['1', '2', '4']"
  echo "CREATE TABLE g4 (id INTEGER);" > migrations/V4__four.sql
  sl --url "$URL" --lock-timeout 10s migrate --group
  expect_rc 0
  expect_out 'applied 3 migration\(s\)'
}

t_run
