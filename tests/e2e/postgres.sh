#!/bin/bash
# tests/e2e/postgres.sh - the shared migration scenarios (scenarios.inc) on a
# throwaway PostgreSQL (tests/lib/pg.sh), one database per test, plus
# PostgreSQL-only behaviour.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

if ! pg_start; then
  [ -n "${SLUICE_NO_PG:-}" ] && exit 0
  echo "FAIL postgres: cannot start PostgreSQL"
  exit 0   # the FAIL line is the report; run.sh counts it
fi
trap pg_stop EXIT

BACKEND=postgres
HIST=sluice.history
OWN_TABLES="sluice.history"

new_db() {
  PGDB="sl_${T_TMP##*.}_$RANDOM"
  pg_createdb "$PGDB"
  URL=$(pg_url "$PGDB")
}

sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$PGDB" -c "$1"; }

user_tables() {
  sql "SELECT string_agg(table_name, ' ' ORDER BY table_name) FROM information_schema.tables
       WHERE table_schema = 'public'"
}
own_tables() {
  sql "SELECT string_agg(table_schema || '.' || table_name, ' ' ORDER BY 1) FROM information_schema.tables
       WHERE table_schema NOT IN ('public', 'pg_catalog', 'information_schema')"
}

slow_sql() {
  cat <<'EOF'
CREATE TABLE slow_a (x INTEGER);
SELECT pg_sleep(1.5);
EOF
}

KNOB_LONG=30
KNOB_SHORT=0
knob_sql() {
  cat <<'EOF'
CREATE TABLE killed_half (x INTEGER);
SELECT pg_sleep(n) FROM knob;
CREATE TABLE killed_done (x INTEGER);
EOF
}

# Another session holding sluice's advisory lock.
hold_lock() {
  psql -X -q -d "$PGDB" -c "SELECT pg_advisory_lock(126939627856741); SELECT pg_sleep(20)" >/dev/null 2>&1 &
  HOLDER_PID=$!
  trap t_cleanup EXIT
  local i=0
  until [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { t_fail "the holder never got the lock"; return 1; }
    sleep 0.1
  done
  local bpid
  bpid=$(sql "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
  HOLDER_RE="psql \(backend pid $bpid, local socket, since [0-9-]+ [0-9:]+"
}
# How the lock error names a sluice that is mid-migration.
sluice_holder_re() { echo "the migration lock is held by sluice [^ ]+ pid $1 \\(backend pid [0-9]+, local socket"; }

release_holder() {
  [ -n "${HOLDER_PID:-}" ] || return 0
  kill "$HOLDER_PID" 2>/dev/null || true
  wait "$HOLDER_PID" 2>/dev/null || true
  HOLDER_PID=
  # the backend of the killed psql sleeps on: end it
  psql -X -q -At -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = '$PGDB' AND application_name = 'psql' AND pid <> pg_backend_pid()" >/dev/null 2>&1 || true
}

. "$T_ROOT/tests/e2e/scenarios.inc"

# ---- PostgreSQL only -----------------------------------------------------

test_pg_create_index_concurrently_runs_outside_a_transaction() {
  fresh
  mig V1__table.sql <<'EOF'
CREATE TABLE ix (id INTEGER, score DOUBLE PRECISION);
INSERT INTO ix SELECT g, g * 0.5 FROM generate_series(1, 1000) g;
EOF
  mig V2__index.sql <<'EOF'
-- build the index without blocking writers
CREATE INDEX CONCURRENTLY ix_score ON ix (score);
EOF
  sl migrate
  expect_rc 0
  expect_err "note: V2__index\.sql: ran outside a transaction: CREATE INDEX CONCURRENTLY at line 2"
  expect_eq "$(sql "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_score'")" t
  expect_eq "$(applied_rows 2)" 1
  sl migrate --dry-run --format json
  expect_rc 0
  echo "DROP INDEX CONCURRENTLY ix_score;" | mig U2__index.sql
  sl undo
  expect_rc 0
  expect_err "outside a transaction: DROP INDEX CONCURRENTLY"
  expect_eq "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'ix_score'")" 0
}

test_pg_failure_outside_a_transaction_needs_repair() {
  fresh
  echo "CREATE TABLE nt (id INTEGER);" | mig V1__table.sql
  mig V2__indexes.sql <<'EOF'
CREATE INDEX CONCURRENTLY nt_a ON nt (id);
CREATE INDEX CONCURRENTLY nt_b ON nt_missing (id);
EOF
  sl migrate
  expect_rc 3
  expect_err "V2__indexes\.sql:2: .*nt_missing"
  # it ran part-way: a failed row is recorded and migrate refuses to go on
  expect_eq "$(sql "SELECT count(*) FROM $HIST WHERE version = '2' AND NOT success")" 1
  status_json
  expect_eq "$(json '[(e["version"], e["state"]) for e in d["other"]]')" "[('2', 'failed')]"
  expect_eq "$(json 'd["problems"][0]["kind"]')" failed
  sl validate
  expect_rc 1
  sl migrate
  expect_rc 1
  expect_err "failed part-way"
  # fixed by hand (the file made idempotent), repaired, it applies
  sed -i 's/nt_missing/nt/; s/CONCURRENTLY nt_a/CONCURRENTLY IF NOT EXISTS nt_a/' migrations/V2__indexes.sql
  sl repair
  expect_rc 0
  expect_out "removed 1 failed row"
  sl migrate
  expect_rc 0
  expect_eq "$(applied_rows 2)" 1
  expect_eq "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'nt'")" 2
}

test_pg_do_blocks_and_function_bodies_split_right() {
  fresh
  mig V1__plpgsql.sql <<'EOF'
CREATE FUNCTION add_one(i integer) RETURNS integer AS $$
BEGIN
  -- semicolons inside the body; a quote: it's fine
  RETURN i + 1;
END;
$$ LANGUAGE plpgsql;

DO $body$
DECLARE
  n integer := 0;
BEGIN
  CREATE TABLE from_do (id integer, note text);
  FOR n IN 1..3 LOOP
    INSERT INTO from_do VALUES (add_one(n), 'a;b $$ c');
  END LOOP;
END
$body$;

CREATE TABLE after_do (id integer DEFAULT add_one(41));
INSERT INTO after_do DEFAULT VALUES;
/* a block comment; with /* a nested one; */ and a semicolon */
INSERT INTO after_do VALUES (E'7'::integer);
EOF
  sl migrate --format json
  expect_rc 0
  expect_eq "$(json 'd["applied"][0]["statements"]')" 5
  expect_eq "$(sql 'SELECT string_agg(id::text, $$,$$ ORDER BY id) FROM from_do')" "2,3,4"
  expect_eq "$(sql 'SELECT DISTINCT note FROM from_do')" 'a;b $$ c'
  expect_eq "$(sql 'SELECT string_agg(id::text, $$,$$ ORDER BY id) FROM after_do')" "7,42"
}

test_pg_error_line_points_into_a_multiline_statement() {
  fresh
  mig V1__multi.sql <<'EOF'
CREATE TABLE ml (id integer, name text);
DO $$ BEGIN PERFORM 1; END $$;
INSERT INTO ml (id, name)
SELECT g, 'x'
FROM generate_series(1, 3) g
JOIN ml_missing m ON m.id = g;
EOF
  sl migrate
  expect_rc 3
  expect_err "V1__multi\.sql:6: ERROR 42P01: relation \"ml_missing\" does not exist"
  ! has_table ml || t_fail "the failed migration was not rolled back"
}

test_pg_password_is_masked_in_output() {
  fresh
  # trust authentication ignores the password, so the connection works
  local u="postgresql://postgres:s3cr3t@/$PGDB?host=$PGDIR&port=$PGPORT"
  echo "CREATE TABLE pw (id INTEGER);" | mig V1__pw.sql
  sl --url "$u" migrate
  expect_rc 0
  expect_no_out s3cr3t
  expect_no_err s3cr3t
  sl --url "$u" status --format json
  expect_rc 0
  expect_no_out s3cr3t
  expect_eq "$(json 'd["url"]')" "postgresql://postgres:***@/$PGDB?host=$PGDIR&port=$PGPORT"
  sl --url "$u" status
  expect_no_out s3cr3t
  expect_out "postgres:\*\*\*@"
  sl --url "${u}&password=s3cr3t" -v --lock-timeout 1s status
  expect_rc 0
  expect_no_out s3cr3t
  expect_no_err s3cr3t
  # a database error names the statement, not the URL
  echo "SELECT * FROM pw_missing;" | mig V2__bad.sql
  sl --url "$u" migrate --format json
  expect_rc 3
  expect_no_out s3cr3t
  expect_no_err s3cr3t
}

test_pg_unknown_database_is_exit_3() {
  mkdir migrations
  sl --url "$(pg_url no_such_db_here)" status
  expect_rc 3
  expect_err "cannot connect"
  expect_err "no_such_db_here"
}

t_run
