#!/bin/bash
# bench/expand.sh - `make bench-expand`: the zero-downtime figures of issue 8.
#
# A feature table of ROWS rows (user_id primary key, score double precision,
# sessions, segment) on a throwaway PostgreSQL (fsync on).  V2 retypes score
# to numeric(6,4) and adds a column computed from it.  pgbench clients
# (CLIENTS, a point read and an update per transaction) run through each
# phase and every transaction's latency is logged (pgbench -l):
#
#   idle       the workload alone: the baseline p99
#   expand     `sluice expand` (new columns, triggers, the batched backfill,
#              the view schemas) under old-shape clients on the base table
#   both       old-shape clients through public_v1 and new-shape clients
#              through public_v2 at the same time (the dual writes)
#   complete   `sluice complete` under new-shape clients (search_path
#              public_v2, public: after complete the same names resolve to
#              the base table, in the new shape)
#   plain      for comparison, in the same run: ALTER TABLE ... TYPE on a
#              copy of the table under the same old-shape clients
#
# For each: transactions, failed ones (pgbench aborted clients and errors),
# p99 and max latency in the phase's window (max = the longest a statement
# waited, locks included).  Backfill speed is sluice's own figure.
# See docs/BENCHMARKS.md, "expand/contract (issue 8)".  A benchmark, not a
# test.  Environment: SLUICE, EXPAND_ROWS (1000000), EXPAND_CLIENTS (4),
# EXPAND_WINDOW (seconds of load around expand, 90), EXPAND_BATCH (rows per
# backfill batch, 5000), EXPAND_PAUSE (between batches, 0ms).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SLUICE=${SLUICE:-$root/build/sluice}
SLUICE=$(cd "$(dirname "$SLUICE")" && pwd)/$(basename "$SLUICE")
ROWS=${EXPAND_ROWS:-1000000}
CLIENTS=${EXPAND_CLIENTS:-4}
WINDOW=${EXPAND_WINDOW:-90}
BATCH=${EXPAND_BATCH:-5000}
PAUSE=${EXPAND_PAUSE:-0ms}
work=$(mktemp -d /tmp/sluice-bench-expand.XXXXXX)
. "$root/tests/lib/pg.sh"
PG_FSYNC=on pg_start >/dev/null
trap 'pg_stop; rm -rf "$work"' EXIT
pg_createdb bench_expand
export PGDATABASE=bench_expand
URL=$(pg_url bench_expand)

mkdir -p "$work/p/migrations"
cat > "$work/p/migrations/V1__features.sql" <<SQL
CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL, sessions integer, segment text);
INSERT INTO user_features SELECT i, (i % 1000) / 1000.0 + 0.000123, i % 40, 'seg' || (i % 7) FROM generate_series(1, $ROWS) i;
SQL
cat > "$work/p/migrations/V2__retype_score.yaml" <<'YAML'
operations:
  - alter_column: {table: user_features, column: score, type: "numeric(6,4)",
                   up: "round(score::numeric, 4)", down: "score::double precision"}
  - add_column: {table: user_features, column: {name: high_value, type: boolean}, up: "score > 0.5"}
YAML
printf 'project: bench\nenvironments:\n  prod: {url: "%s"}\n' "$URL" > "$work/p/sluice.yaml"
"$SLUICE" -C "$work/p" -e prod -q migrate --to 1
psql -q -c "VACUUM ANALYZE user_features"
psql -q -c "CREATE TABLE plain_features AS SELECT * FROM user_features" -c "ALTER TABLE plain_features ADD PRIMARY KEY (user_id)" -c "VACUUM ANALYZE plain_features"

script() { # $1 file, $2 relation
  cat > "$1" <<SQL
\\set id random(1, $ROWS)
SELECT score, sessions FROM $2 WHERE user_id = :id;
UPDATE $2 SET score = score + 0.0001 WHERE user_id = :id;
SQL
}
script "$work/old.sql" user_features
# clients choose a shape by search_path (README, "Expand/contract")
script "$work/v1.sql" user_features
script "$work/v2.sql" user_features
script "$work/plain.sql" plain_features

ms() { echo $(( $(date +%s%N) / 1000000 )); }
# load NAME SCRIPT SECONDS: pgbench in the background (its pid in LPID),
# every transaction logged under $work/log_NAME.*
load() {
  local sp=public c=${4:-$CLIENTS}
  case $2 in *v1.sql) sp=public_v1,public ;; *v2.sql) sp=public_v2,public ;; esac
  PGOPTIONS="-c search_path=$sp" pgbench -n -c "$c" -j 2 -T "$3" -f "$2" -l --log-prefix="$work/log_$1" > "$work/out_$1" 2>&1 &
  LPID=$!
}
# stats NAME FROM_MS TO_MS: transactions, failed, p99 ms, max ms in the window
stats() {
  local failed
  failed=$(grep -ciE 'aborted|error' "$work/out_$1" || true)
  cat "$work"/log_"$1".* 2>/dev/null | awk -v a="$2" -v b="$3" '
    { t = $5 * 1000 + int($6 / 1000); if (t >= a && t <= b) print $3 / 1000.0 }' | sort -n |
  awk -v f="$failed" '{ v[NR] = $1 } END {
    if (!NR) { printf "%8d %7d %9s %9s\n", 0, f, "-", "-"; exit }
    i = int(NR * 0.99); if (i < 1) i = 1
    printf "%8d %7d %9.2f %9.2f\n", NR, f, v[i], v[NR] }'
}
row() { printf '%-10s %s  %s\n' "$1" "$(stats "$1" "$2" "$3")" "${4:-}"; }

printf '%-10s %8s %7s %9s %9s  %s\n' phase txns failed p99_ms max_ms note
# idle baseline
t0=$(ms); load idle "$work/old.sql" 10; wait "$LPID" || true; t1=$(ms)
row idle "$t0" "$t1"
# expand under old-shape clients
load expand "$work/old.sql" "$WINDOW"; pid=$LPID; sleep 2
t0=$(ms)
"$SLUICE" -C "$work/p" -e prod expand --batch-size "$BATCH" --batch-pause "$PAUSE" > "$work/expand.out" 2>&1 || { cat "$work/expand.out"; exit 1; }
t1=$(ms)
wait "$pid" || true
bf=$(grep -E 'backfill .* rows in [0-9]+ ms' "$work/expand.out" | sed -E 's/.*: ([0-9]+) rows in ([0-9]+) ms.*/\1 \2/' | awk '{r += $1; m += $2} END {if (m) printf "%d rows in %d ms: %d rows/s", r, m, r * 1000 / m}')
row expand "$t0" "$t1" "expand $((t1 - t0)) ms (batch $BATCH, pause $PAUSE); backfill $bf"
[ $((t1 - t0 + 2000)) -lt $((WINDOW * 1000)) ] || echo "  (expand outlasted the load window: raise EXPAND_WINDOW)"
# both shapes at once
t0=$(ms)
# half the clients on each shape: the same load as idle
half=$(( (CLIENTS + 1) / 2 ))
load both "$work/v1.sql" 10 "$half"; p1=$LPID; load both2 "$work/v2.sql" 10 "$half"; p2=$LPID
wait "$p1" || true; wait "$p2" || true
t1=$(ms)
cat "$work/out_both2" >> "$work/out_both"
for f in "$work"/log_both2.*; do mv "$f" "${f/log_both2/log_both}.2"; done
row both "$t0" "$t1" "old shape via public_v1 + new shape via public_v2"
bad=$(psql -Atq -c "SELECT count(*) FROM user_features WHERE sluice_new_score IS DISTINCT FROM round(score::numeric, 4) OR high_value IS DISTINCT FROM (score > 0.5)")
echo "           shapes consistent after both: $bad rows differ"
# complete under new-shape clients
load complete "$work/v2.sql" 10; pid=$LPID; sleep 2
t0=$(ms)
"$SLUICE" -C "$work/p" -e prod -q complete
t1=$(ms)
wait "$pid" || true
row complete "$t0" "$t1" "complete $((t1 - t0)) ms"
# the plain way, same clients, same run
load plain "$work/plain.sql" 30; pid=$LPID; sleep 2
t0=$(ms)
psql -q -c "ALTER TABLE plain_features ALTER COLUMN score TYPE numeric(6,4) USING round(score::numeric, 4)"
t1=$(ms)
wait "$pid" || true
row plain "$t0" "$t1" "ALTER TABLE ... TYPE $((t1 - t0)) ms"
