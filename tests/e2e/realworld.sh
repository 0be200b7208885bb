#!/bin/bash
# realworld.sh - a real open-source migration history on a real PostgreSQL:
# Unleash's 397 up/down pairs (npm unleash-server@8.2.0, AGPL: fetched and
# converted to the golang-migrate layout at test time by
# tests/realworld/fetch.sh, cached in build/cache, never committed).
#
# Checks the foundation issue's "done when": the history applies with the
# same resulting schema as psql; where a file fails, sluice stops at exactly
# that file with the server's message, everything before it applied and
# recorded; undo walks the down scripts back and stops cleanly at the first
# one that fails.  SLUICE_NO_NETWORK=1 skips (says so) when the npm registry
# cannot be reached.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

CACHE="$T_ROOT/build/cache/unleash"
if ! bash "$T_ROOT/tests/realworld/fetch.sh" "$CACHE" >/tmp/sluice-rw-fetch.log 2>&1; then
  rc=$?
  if [ "$rc" = 2 ] && [ -n "${SLUICE_NO_NETWORK:-}" ]; then
    echo "SKIP realworld: npm registry unreachable (SLUICE_NO_NETWORK set)"
    exit 0
  fi
  echo "FAIL realworld: fetching the Unleash history failed (exit $rc): $(tail -n 3 /tmp/sluice-rw-fetch.log | tr '\n' ' ')"
  exit 0
fi
if ! pg_start; then
  [ -n "${SLUICE_NO_PG:-}" ] && exit 0
  echo "FAIL realworld: cannot start PostgreSQL"
  exit 0
fi
trap pg_stop EXIT

project() { # a sluice project pointing at the fetched history
  printf 'project: unleash\nmigrations: %s/migrations\n' "$CACHE" > sluice.yaml
}
newdb() { # newdb NAME [noprelude]: create a database, apply the prelude
  pg_createdb "$1"
  [ "${2:-}" = noprelude ] || psql -q -d "$1" -f "$CACHE/prelude.sql" >/dev/null
  URL=$(pg_url "$1")
}
schema() { pg_dump -s -N sluice "$1" | grep -v '^\\\(un\)\?restrict '; }

test_unleash_history_applies_with_the_schema_psql_gives() {
  project
  newdb rw_psql_$$
  newdb rw_sluice_$$
  sl --url "$URL" -q migrate
  expect_rc 0
  for f in "$CACHE"/migrations/*.up.sql; do
    psql -q -v ON_ERROR_STOP=1 --single-transaction -d rw_psql_$$ -f "$f" >/dev/null 2>&1 \
      || t_fail "psql rejected $f"
  done
  schema rw_sluice_$$ > a.sql
  schema rw_psql_$$ > b.sql
  [ "$(wc -l < a.sql)" -gt 1000 ] || t_fail "schema dump too small"
  diff a.sql b.sql > schema.diff || t_fail "schemas differ: $(head -c 800 schema.diff)"
  expect_eq "$(psql -Atd rw_sluice_$$ -c "SELECT count(*) FROM sluice.history WHERE kind = 'versioned' AND success")" 397
  sl --url "$URL" -q migrate
  expect_rc 0
  expect_eq "$(psql -Atd rw_sluice_$$ -c "SELECT count(*) FROM sluice.history")" 397 "(re-run must apply nothing)"
}

test_unleash_history_stops_at_exactly_the_failing_file() {
  project
  newdb rw_fail_$$ noprelude   # without db-migrate's table, 0133 must fail
  sl --url "$URL" migrate
  expect_rc 3
  expect_err '0133_20221103111940-fix-migrations\.up\.sql:4: ERROR 42P01: relation "migrations" does not exist'
  sl --url "$URL" --format json status
  expect_eq "$(json 'd["current"]')" 0132
  expect_eq "$(json 'len(d["applied"])')" 132
  expect_eq "$(json 'd["pending"][0]["version"]')" 0133
  expect_eq "$(psql -Atd rw_fail_$$ -c "SELECT count(*) FROM sluice.history")" 132
}

test_unleash_undo_walks_back_and_stops_at_the_first_failing_down() {
  project
  newdb rw_undo_$$
  sl --url "$URL" -q migrate
  expect_rc 0
  # a view outside the history pins a table that 0001's down drops
  psql -q -d rw_undo_$$ -c "CREATE VIEW blocker AS SELECT name FROM strategies"
  sl --url "$URL" -q undo --to 0
  expect_rc 3
  expect_err '0001_20141020151056-initial-schema\.down\.sql:6: ERROR 2BP01: cannot drop table strategies'
  sl --url "$URL" --format json status
  expect_eq "$(json 'd["current"]')" 0001
  expect_eq "$(json 'len(d["applied"])')" 1
  expect_eq "$(json 'len(d["pending"])')" 396
  # 0001's down ran in a transaction: its first DROP was rolled back too
  expect_eq "$(psql -Atd rw_undo_$$ -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('events', 'features', 'strategies')")" 3
  psql -q -d rw_undo_$$ -c "DROP VIEW blocker"
  sl --url "$URL" -q undo --to 0
  expect_rc 0
  expect_eq "$(psql -Atd rw_undo_$$ -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'")" 0
}

t_run
