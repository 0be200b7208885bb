#!/bin/bash
# tests/e2e/sqlite.sh - the shared migration scenarios (scenarios.inc) on
# SQLite files, plus SQLite-only behaviour.
. "$T_ROOT/tests/lib/t.sh"

BACKEND=sqlite
HIST=sluice_history
OWN_TABLES="sluice_history sluice_lock"

new_db() {
  DBFILE=$T_TMP/test.db
  rm -f "$DBFILE"
  URL="sqlite:$DBFILE"
}

sql() { sqlite3 -batch -cmd '.timeout 10000' "$DBFILE" "$1"; }

tables_like() {
  sql "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\\' AND $1 ORDER BY name" \
    | tr '\n' ' ' | sed 's/ $//'
}
user_tables() { tables_like "name NOT LIKE 'sluice\_%' ESCAPE '\\'"; }
own_tables() { tables_like "name LIKE 'sluice\_%' ESCAPE '\\'"; }

# ~1.5 s of work (SQLite does ~1.5M recursive rows a second here)
slow_sql() {
  cat <<'EOF'
CREATE TABLE slow_a (x INTEGER);
INSERT INTO slow_a SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500000) SELECT x FROM c);
EOF
}

# writes rows until knob.n: the long value means hours, the short one ~0
KNOB_LONG=4000000000
KNOB_SHORT=10
knob_sql() {
  cat <<'EOF'
CREATE TABLE killed_half (x INTEGER);
INSERT INTO killed_half SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM knob)) SELECT x FROM c);
CREATE TABLE killed_done (x INTEGER);
EOF
}

# A lock row of a live process on this host, as another sluice would leave.
hold_lock() {
  sleep 30 &
  HOLDER_PID=$!
  trap t_cleanup EXIT
  sql "CREATE TABLE IF NOT EXISTS sluice_lock (id INTEGER PRIMARY KEY CHECK (id = 1),
         owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, acquired_at TEXT NOT NULL);
       INSERT INTO sluice_lock VALUES (1, 'tester', '$(hostname)', $HOLDER_PID, '2026-01-01T00:00:00Z')"
  HOLDER_RE="tester \(host $(hostname), pid $HOLDER_PID\) since 2026-01-01T00:00:00Z"
}
# How the lock error names a sluice that is mid-migration: its lock row
# cannot be read while it writes, so only that someone writes.
sluice_holder_re() { echo "the migration lock is held: another process is writing"; }

release_holder() {
  [ -n "${HOLDER_PID:-}" ] || return 0
  kill "$HOLDER_PID" 2>/dev/null || true
  wait "$HOLDER_PID" 2>/dev/null || true
  HOLDER_PID=
}

. "$T_ROOT/tests/e2e/scenarios.inc"

# ---- SQLite only ---------------------------------------------------------

test_sqlite_relative_path_is_relative_to_the_config() {
  mkdir -p proj/migrations
  echo "CREATE TABLE rel (id INTEGER);" >proj/migrations/V1__rel.sql
  printf 'project: p\nenvironments:\n  dev: {url: "sqlite:data/dev.db"}\n' >proj/sluice.yaml
  mkdir proj/data
  sl -c proj/sluice.yaml migrate
  expect_rc 0
  [ -f proj/data/dev.db ] || t_fail "proj/data/dev.db was not created"
  [ ! -e data ] || t_fail "created relative to the working directory"
}

test_sqlite_trigger_bodies_split_right() {
  fresh
  mig V1__trigger.sql <<'EOF'
CREATE TABLE tr_src (id INTEGER);
CREATE TABLE tr_log (id INTEGER, what TEXT);
CREATE TRIGGER tr_ins AFTER INSERT ON tr_src
BEGIN
  INSERT INTO tr_log VALUES (NEW.id, 'a;b');
  INSERT INTO tr_log VALUES (NEW.id + 100, 'END;');
END;
INSERT INTO tr_src VALUES (1);
EOF
  sl migrate --format json
  expect_rc 0
  expect_eq "$(json 'd["applied"][0]["statements"]')" 4
  expect_eq "$(sql 'SELECT group_concat(id || what, ",") FROM tr_log')" "1a;b,101END;"
}

test_sqlite_vacuum_runs_outside_a_transaction() {
  fresh
  mig V1__vac.sql <<'EOF'
CREATE TABLE vac (id INTEGER);
VACUUM;
EOF
  sl migrate
  expect_rc 0
  expect_err "note: V1__vac\.sql: ran outside a transaction: VACUUM at line 2"
  expect_eq "$(applied_rows 1)" 1
}

test_sqlite_short_lock_timeout_does_not_limit_waiting_for_readers() {
  fresh
  # ~1.5 s of computing inside the migration's transaction, writing little
  mig V1__compute.sql <<'EOF'
CREATE TABLE computed (n INTEGER);
INSERT INTO computed SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500000) SELECT x FROM c);
EOF
  local pid rc
  bg "$SLUICE" -v --lock-timeout 200ms migrate >mig.out 2>mig.err
  pid=$BG_PID
  wait_for mig.err "applying 1 compute"
  # a reader holds its read transaction across the migration's COMMIT
  python3 - "$DBFILE" <<'EOF'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
c.execute("SELECT count(*) FROM sqlite_master").fetchall()
time.sleep(3)
c.execute("COMMIT")
EOF
  wait $pid && rc=0 || rc=$?
  expect_eq "$rc" 0 "(migrate exit code; stderr: $(cat mig.err))"
  expect_eq "$(sql 'SELECT n FROM computed')" 2500000
}

test_sqlite_unopenable_file_is_exit_3() {
  mkdir -p migrations
  echo "CREATE TABLE x (id INTEGER);" >migrations/V1__x.sql
  sl --url "sqlite:$T_TMP/no/such/dir/x.db" migrate
  expect_rc 3
  expect_err "cannot open SQLite database"
}

t_run
