#!/bin/bash
# bench/shadow.sh - `make bench-shadow`: the shadow-replay figure of issue 8.
# A feature table of ROWS rows (user_features: user_id primary key, score,
# clicks, sessions, segment, updated_at) is deployed at V1; the pending V2
# renames score to score_v2.  A workload of QUERIES statements is
# generated (a fixed seed): point reads by key (half of them read score),
# range reads of 100 keys, aggregates over 2,000 keys grouped by segment,
# and writes (UPDATE by key, INSERT ... ON CONFLICT DO NOTHING).  Then
#
#   sluice shadow --queries workload.sql --format json
#
# replays it on PostgreSQL (default --runs 3: every distinct query three
# times on each side) with the rename applied in a rolled-back transaction
# on the same database.  Reported: wall time, queries/s, the summary, and
# whether the rename was caught (every broken query reads score, every
# query reading score is broken, exit 1).  Also checks that the table is
# unchanged afterwards.  PostgreSQL runs on a throwaway server
# (tests/lib/pg.sh).  See docs/BENCHMARKS.md, "shadow replay (issue 8)".
#
# A benchmark, not a test.  Environment:
#   SLUICE          sluice binary (default build/sluice)
#   SHADOW_ROWS     rows (default 100000)
#   SHADOW_QUERIES  statements in the workload (default 10000)
#   SHADOW_RUNS     --runs (default 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SLUICE=${SLUICE:-$root/build/sluice}
ROWS=${SHADOW_ROWS:-100000}
QUERIES=${SHADOW_QUERIES:-10000}
RUNS=${SHADOW_RUNS:-3}
SLUICE=$(cd "$(dirname "$SLUICE")" && pwd)/$(basename "$SLUICE")
work=$(mktemp -d /tmp/sluice-bench-shadow.XXXXXX)
. "$root/tests/lib/pg.sh"
pg_start >/dev/null || { echo "bench: PostgreSQL is needed" >&2; exit 1; }
trap 'pg_stop; rm -rf "$work"' EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }

DB=shadowbench
pg_createdb "$DB"
URL=$(pg_url "$DB")
mkdir -p "$work/p/migrations"
cat > "$work/p/migrations/V1__features.sql" <<EOF
CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL,
  clicks integer NOT NULL, sessions integer NOT NULL, segment text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT '2026-01-01');
INSERT INTO user_features (user_id, score, clicks, sessions, segment)
SELECT i, (i % 1000) / 1000.0, i % 50, i % 13, 'segment-' || (i % 20) FROM generate_series(1, $ROWS) i;
ANALYZE user_features;
EOF
echo 'ALTER TABLE user_features RENAME COLUMN score TO score_v2;' > "$work/p/migrations/V2__rename_score.sql"
printf 'project: shadowbench\nenvironments:\n  bench: "%s"\n' "$URL" > "$work/p/sluice.yaml"
"$SLUICE" -C "$work/p" -e bench migrate --to 1 -q

python3 - "$QUERIES" "$ROWS" > "$work/workload.sql" <<'EOF'
import random, sys
n, rows = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(8)
for _ in range(n):
    k, x = r.randrange(1, rows + 1), r.random()
    if x < 0.25:
        print(f"SELECT user_id, score, clicks FROM user_features WHERE user_id = {k};")
    elif x < 0.50:
        print(f"SELECT clicks, sessions, segment FROM user_features WHERE user_id = {k};")
    elif x < 0.70:
        print(f"SELECT user_id, clicks FROM user_features WHERE user_id BETWEEN {k} AND {k + 99} ORDER BY user_id;")
    elif x < 0.80:
        col = "avg(score)" if x < 0.75 else "avg(clicks)"
        print(f"SELECT segment, count(*), {col} FROM user_features WHERE user_id BETWEEN {k} AND {k + 1999} GROUP BY segment;")
    elif x < 0.90:
        print(f"UPDATE user_features SET clicks = clicks + 1, updated_at = now() WHERE user_id = {k};")
    elif x < 0.95:
        print(f"UPDATE user_features SET score = score * 0.9 WHERE user_id = {k};")
    else:
        print(f"INSERT INTO user_features (user_id, score, clicks, sessions, segment) VALUES ({rows + k}, 0.5, 1, 1, 'new') ON CONFLICT (user_id) DO NOTHING;")
EOF

before=$(psql -Atq -d "$DB" -c "SELECT md5(string_agg(t::text, ',' ORDER BY user_id)) FROM user_features t")
t0=$(ms)
rc=0
/usr/bin/time -f '%M' -o "$work/rss" "$SLUICE" -C "$work/p" -e bench shadow --queries "$work/workload.sql" \
  --runs "$RUNS" --format json > "$work/out.json" || rc=$?
t1=$(ms)
after=$(psql -Atq -d "$DB" -c "SELECT md5(string_agg(t::text, ',' ORDER BY user_id)) FROM user_features t")
wall=$((t1 - t0))
python3 - "$work/out.json" "$wall" "$rc" "$(cat "$work/rss")" "$RUNS" "$ROWS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
wall, rc, rss, runs, rows = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4].split()[-1]), sys.argv[5], sys.argv[6]
res = [r for r in d["results"] if r["status"] != "skipped"]
mismatch = [r["query"] for r in res if ("score" in r["query"]) != (r["status"] == "broken")]
caught = rc == 1 and d["summary"]["broken"] > 0 and not mismatch
print(f"shadow replay: {d['queries']} queries ({d['distinct']} distinct) on {rows} rows, --runs {runs}, PostgreSQL rollback mode")
print(f"  wall {wall / 1000:.1f} s, {d['queries'] / (wall / 1000):.0f} queries/s, peak RSS {rss / 1024:.0f} MB")
print(f"  summary {d['summary']}")
print(f"  rename caught: {'yes' if caught else 'NO'} (exit {rc}; {d['summary']['broken']} broken, all reading score; "
      f"{len(mismatch)} mismatches)")
EOF
[ "$before" = "$after" ] && echo "  table unchanged after the replay: yes" || { echo "  table CHANGED after the replay" >&2; exit 1; }
