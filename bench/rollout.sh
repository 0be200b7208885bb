#!/bin/bash
# bench/rollout.sh - decision latency of `sluice rollout run`: the time from
# a metric breach (the row an sql metric reads is updated and committed) to
# the flag at 0 (the flags table's updated_at, written in the transaction
# that sets it), on SQLite and on PostgreSQL.  Target (issue 9): under one
# analysis interval plus 1 s.
#
# Each trial starts a rollout held in its first phase (5% for an hour),
# waits a random time so the breach falls anywhere in an interval, breaks
# the metric, and reads both timestamps from the database.  The breach time
# is taken right after the UPDATE returns, so the figure slightly favours
# nobody: it includes the controller's wait for its next measurement, the
# query, the decision, the log write and the flag update.
#
#   SLUICE          the binary (default build/sluice)
#   ROLLOUT_TRIALS  trials per backend and interval (default 10)
#   ROLLOUT_INTERVALS  analysis intervals to try (default "1s 5s")
#   ROLLOUT_ONLY    sqlite or postgres
#
# Output: one line per backend and interval: median, p90 and max latency in
# ms, and the target.  Not a test: nothing here fails on a slow machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$root/build/sluice}
case $SLUICE in /*) ;; *) SLUICE=$root/$SLUICE ;; esac
trials=${ROLLOUT_TRIALS:-10}
intervals=${ROLLOUT_INTERVALS:-1s 5s}
only=${ROLLOUT_ONLY:-}
work=$(mktemp -d /tmp/sluice-bench-rollout.XXXXXX)
trap 'rm -rf "$work"' EXIT

ms_of() { # ISO 8601 UTC with milliseconds -> epoch ms
  python3 -c 'import sys,datetime; t=datetime.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc); print(int(t.timestamp()*1000))' "$1"
}

# $1 backend label, $2 url, $3 sql runner (a function taking SQL)
run_backend() {
  local label=$1 url=$2 sql=$3 interval lat
  for interval in $intervals; do
    : >"$work/lat"
    for t in $(seq 1 "$trials"); do
      local dir=$work/$label-$interval-$t
      mkdir -p "$dir/migrations"
      cat >"$dir/sluice.yaml" <<EOF
environments:
  production: {url: "$url"}
rollout:
  flag: bench_flag_$t
  environment: production
  phases: ["5%: 1h", "100%: 1h"]
  rollback_deploy: false
  analysis:
    interval: $interval
    metrics:
      - {name: error_rate, provider: sql, query: "select error_rate from serving_metrics_$t", max: 0.01}
EOF
      $sql "DROP TABLE IF EXISTS serving_metrics_$t; CREATE TABLE serving_metrics_$t (error_rate real); INSERT INTO serving_metrics_$t VALUES (0.001);"
      (cd "$dir" && "$SLUICE" rollout run -q >/dev/null 2>&1 || true) &
      local pid=$!
      # past the first measurement, then anywhere in an interval
      local iv_ms
      iv_ms=$(python3 -c 'import sys; s=sys.argv[1]; print(int(float(s[:-1])*1000) if s.endswith("s") and not s.endswith("ms") else int(s[:-2]))' "$interval")
      sleep "$(python3 -c "import random; print(($iv_ms * 1.2 + random.random() * $iv_ms) / 1000)")"
      $sql "UPDATE serving_metrics_$t SET error_rate = 0.5;"
      local breach
      breach=$(date +%s%3N)
      wait "$pid" || true
      local at
      at=$($sql "SELECT updated_at FROM $FLAGS WHERE name = 'bench_flag_$t';" | tr -d ' \n')
      lat=$(( $(ms_of "$at") - breach ))
      echo "$lat" >>"$work/lat"
    done
    python3 - "$label" "$interval" "$iv_ms" "$work/lat" <<'PY'
import sys, statistics
label, interval, iv, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
v = sorted(int(x) for x in open(path))
p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
target = iv + 1000
print(f"{label:9s} interval {interval:>5s}: {len(v)} trials, median {statistics.median(v):.0f} ms, "
      f"p90 {p90} ms, max {v[-1]} ms; target < {target} ms: {'met' if v[-1] < target else 'MISSED'}")
PY
  done
}

sqlite_sql() { sqlite3 "$work/bench.db" "$1"; }
pg_sql() { PGOPTIONS='--client-min-messages=warning' psql -qAt -d bench_rollout -c "$1"; }

if [ "$only" != postgres ]; then
  FLAGS=sluice_flags
  run_backend sqlite "sqlite:$work/bench.db" sqlite_sql
fi
if [ "$only" != sqlite ]; then
  . "$root/tests/lib/pg.sh"
  PG_FSYNC=on pg_start >/dev/null
  trap 'pg_stop; rm -rf "$work"' EXIT
  pg_createdb bench_rollout
  FLAGS=sluice.flags
  run_backend postgres "$(pg_url bench_rollout)" pg_sql
fi
