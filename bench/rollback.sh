#!/bin/bash
# bench/rollback.sh - `make bench-rollback`: the MTTR figure of issue 7.
# A feature table of ROWS rows (id primary key, a real, a text, an
# integer) is deployed at V1; V2 drops the text column.  Each round times
#
#   deploy    sluice deploy (V2: lint, rollback point, the drop, the archive
#             of the dropped column on PostgreSQL / the backup on SQLite)
#   rollback  sluice rollback (PostgreSQL: sluice's inverse re-adds the
#             column and puts every value back from the archive; SQLite:
#             the backup restored; postgres+soft_drop: deploy.soft_drop
#             made the drop a rename, the rollback renames back)
#
# and then checks that every value of the column is back (count and an
# md5 of the column in id order).  Wall time by date +%s%N around each
# command; peak RSS by /usr/bin/time.  The median of RUNS rounds is
# reported.  PostgreSQL runs on a throwaway server (tests/lib/pg.sh).
# See docs/BENCHMARKS.md, "rollback time (issue 7)".
#
# A benchmark, not a test.  Environment:
#   SLUICE          sluice binary (default build/sluice)
#   ROLLBACK_ROWS   rows (default 1000000)
#   ROLLBACK_RUNS   rounds per backend (default 3)
#   ROLLBACK_ONLY   sqlite or postgres
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SLUICE=${SLUICE:-$root/build/sluice}
ROWS=${ROLLBACK_ROWS:-1000000}
RUNS=${ROLLBACK_RUNS:-3}
ONLY=${ROLLBACK_ONLY:-}
SLUICE=$(cd "$(dirname "$SLUICE")" && pwd)/$(basename "$SLUICE")
work=$(mktemp -d /tmp/sluice-bench-rollback.XXXXXX)
trap 'rm -rf "$work"' EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# timed LABEL CMD...: run, print "ms rss_kb" (exits on failure)
timed() {
  local t0 t1
  t0=$(ms)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; echo "bench: $* failed" >&2; exit 1; }
  t1=$(ms)
  echo "$((t1 - t0)) $(cat "$work/rss")"
}

project() { # $1 url, $2 backend
  rm -rf "$work/p"
  mkdir -p "$work/p/migrations"
  if [ "$2" = sqlite ]; then
    cat > "$work/p/migrations/V1__features.sql" <<EOF
CREATE TABLE features (id integer PRIMARY KEY, score real NOT NULL, segment text, clicks integer);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO features SELECT i, (i % 1000) / 1000.0, 'segment-' || (i % 97), i % 50 FROM n;
EOF
  else
    cat > "$work/p/migrations/V1__features.sql" <<EOF
CREATE TABLE features (id integer PRIMARY KEY, score real NOT NULL, segment text, clicks integer);
INSERT INTO features SELECT i, (i % 1000) / 1000.0, 'segment-' || (i % 97), i % 50 FROM generate_series(1, $ROWS) i;
EOF
  fi
  echo 'DROP TABLE features;' > "$work/p/migrations/U1__features.sql"
  echo 'ALTER TABLE features DROP COLUMN segment;' > "$work/p/migrations/V2__drop_segment.sql"
  cat > "$work/p/sluice.yaml" <<EOF
project: bench
environments:
  prod: {url: "$1"}
deploy: {state_dir: $work/points, soft_drop: ${SOFT:-false}}
EOF
}

run_backend() { # $1 backend[+soft_drop], $2 url, $3 column digest command
  local b=$1 url=$2
  project "$url" "${b%+*}"
  "$SLUICE" -C "$work/p" -e prod -q deploy --to 1
  want=$($3)
  : > "$work/d"; : > "$work/r"
  for _ in $(seq "$RUNS"); do
    timed "$SLUICE" -C "$work/p" -e prod -q deploy >> "$work/d"
    timed "$SLUICE" -C "$work/p" -e prod -q rollback >> "$work/r"
    got=$($3)
    [ "$got" = "$want" ] || { echo "bench: $b: the column did not come back ($got vs $want)" >&2; exit 1; }
  done
  d=$(cut -d' ' -f1 "$work/d" | median); r=$(cut -d' ' -f1 "$work/r" | median)
  drss=$(cut -d' ' -f2 "$work/d" | median); rrss=$(cut -d' ' -f2 "$work/r" | median)
  printf '%-19s %9s %11s %12s %10s %10s %s\n' "$b" "$ROWS" "$d" "$r" \
    "$(awk -v a="$r" -v b="$d" 'BEGIN{printf "%.2f", a/b}')" "$((drss / 1024))/$((rrss / 1024))" "$want"
}

printf '%-19s %9s %11s %12s %10s %10s %s\n' backend rows deploy_ms rollback_ms ratio rss_MB "count md5(segment)"
if [ "$ONLY" != postgres ]; then
  sq() { sqlite3 "$work/p/db.sqlite" "SELECT count(segment) FROM features" | tr '\n' ' '; sqlite3 "$work/p/db.sqlite" "SELECT group_concat(segment, ',') FROM (SELECT segment FROM features ORDER BY id)" | md5sum | cut -c1-12; }
  run_backend sqlite "sqlite:db.sqlite" sq
fi
if [ "$ONLY" != sqlite ]; then
  . "$root/tests/lib/pg.sh"
  PG_FSYNC=on pg_start >/dev/null
  trap 'pg_stop; rm -rf "$work"' EXIT
  pg_createdb bench_rollback
  PGDB=bench_rollback
  pq() { psql -Atq -d "$PGDB" -c "SELECT count(segment) || ' ' || left(md5(string_agg(segment, ',' ORDER BY id)), 12) FROM features"; }
  run_backend postgres "$(pg_url bench_rollback)" pq
  # deploy.soft_drop: the drop is a rename, the rollback renames back
  pg_createdb bench_rollback_soft
  PGDB=bench_rollback_soft
  SOFT=true run_backend postgres+soft_drop "$(pg_url bench_rollback_soft)" pq
fi
