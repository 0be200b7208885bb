#!/bin/sh
# bench/run.sh - `make bench`: apply N small migrations (default 1,000) to
# SQLite and to PostgreSQL with sluice, with dbmate, and with a bare
# sqlite3 / psql run of the same SQL (the physical floor), each against a
# fresh database, and print mean times and ratios.  See docs/BENCHMARKS.md.
#
# Not part of `make test`.  Needs: build/sluice, hyperfine, sqlite3, psql and a
# PostgreSQL server (tests/lib/pg.sh starts a throwaway one, fsync ON here),
# npm (dbmate is installed into bench/.cache on first use).
#
# Environment: BENCH_N (migrations, default 1000), BENCH_RUNS (timed runs per
# command, default 5), BENCH_ONLY (sqlite or postgres: one backend only),
# BENCH_OUT (directory for the hyperfine JSON/CSV, default bench/.cache/results).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
N=${BENCH_N:-1000}
RUNS=${BENCH_RUNS:-5}
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$here/.cache/results}
SLUICE=$root/build/sluice

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$SLUICE" ] || die "no $SLUICE: run 'make all' first (or 'make bench')"
for t in hyperfine sqlite3 psql awk; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found"
done

# ---- dbmate, from npm, into bench/.cache --------------------------------
# The npm package `dbmate` is a node wrapper that spawns a native Go binary
# from @dbmate/<platform>; we time the native binary directly so that node's
# start-up (~40 ms per run) is not charged to dbmate.
find_dbmate() {
	for f in "$here"/.cache/node_modules/@dbmate/*/bin/dbmate; do
		[ -x "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}
if ! DBMATE=$(find_dbmate); then
	command -v npm >/dev/null 2>&1 || die "npm not found (needed to install dbmate)"
	echo "bench: installing dbmate into bench/.cache (npm)" >&2
	mkdir -p "$here/.cache"
	npm install --prefix "$here/.cache" --no-audit --no-fund --loglevel=error dbmate >&2 \
		|| die "npm install dbmate failed"
	DBMATE=$(find_dbmate) || die "dbmate installed but no native binary found under bench/.cache"
fi

# ---- workload --------------------------------------------------------------
W=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$W"
PG_STARTED=
cleanup() {
	[ -n "$PG_STARTED" ] && pg_stop
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

sh "$here/gen.sh" "$W" "$N"
mkdir -p "$W/cfg" "$OUT"
printf 'project: bench\nmigrations: %s/migrations\n' "$W" >"$W/cfg/sluice.yaml"
nstmt=$(grep -c ';$' "$W/floor.sql")

echo "bench: $N migrations ($nstmt statements), $RUNS runs per command" >&2
echo "bench: sluice $("$SLUICE" --version 2>&1 | head -1), $("$DBMATE" --version), sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(psql --version)" >&2

# Fail loudly if a command did not apply everything: a fast wrong run is no
# result.  $1 = label, $2 = count query result.
expect() {
	[ "$2" = "$N" ] || die "$1: expected $N tables, found '$2'"
}

# run_hyperfine BACKEND PREPARE then NAME CMD pairs
run_hyperfine() {
	backend=$1 prep=$2
	shift 2
	set -- --runs "$RUNS" --warmup 1 --prepare "$prep" --style basic \
		--export-json "$OUT/$backend.json" --export-csv "$OUT/$backend.csv" "$@"
	hyperfine "$@" >&2
}

# ---- SQLite -------------------------------------------------------------------
bench_sqlite() {
	db=$W/b.db
	prep="rm -f $db $db-journal $db-wal $db-shm"
	floor="sqlite3 -bail $db < $W/floor.sql"
	floor1="sqlite3 -bail $db < $W/floor-1tx.sql"
	sl="$SLUICE -C $W/cfg --url sqlite:$db -q migrate"
	dm="$DBMATE --url sqlite:$db -d $W/migrations --no-dump-schema migrate >/dev/null"
	q="SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 't\\_%' ESCAPE '\\'"
	for c in "$floor" "$floor1" "$sl" "$dm"; do
		sh -c "$prep" && sh -c "$c" || die "sqlite: command failed: $c"
		expect "sqlite: $c" "$(sqlite3 "$db" "$q")"
	done
	run_hyperfine sqlite "$prep" \
		-n floor "$floor" -n floor-1tx "$floor1" -n sluice "$sl" -n dbmate "$dm"
}

# ---- PostgreSQL ----------------------------------------------------------------
bench_postgres() {
	. "$root/tests/lib/pg.sh"
	# Real commits: the test default is fsync=off.
	PG_FSYNC=on
	export PG_FSYNC
	pg_start || die "cannot start PostgreSQL"
	PG_STARTED=1
	PGV=$(psql -X -At -d postgres -c 'SHOW server_version')
	echo "bench: PostgreSQL server $PGV, fsync=$(psql -X -At -d postgres -c 'SHOW fsync')" >&2
	prep="psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' -c CHECKPOINT"
	floor="psql -X -q -v ON_ERROR_STOP=1 -d bench -f $W/floor.sql"
	floor1="psql -X -q -1 -v ON_ERROR_STOP=1 -d bench -f $W/floor.sql"
	sl="$SLUICE -C $W/cfg --url '$(pg_url bench)' -q migrate"
	dm="$DBMATE --url 'postgres://postgres@/bench?socket=$PGDIR&port=$PGPORT&sslmode=disable' -d $W/migrations --no-dump-schema migrate >/dev/null"
	q="SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'"
	for c in "$floor" "$floor1" "$sl" "$dm"; do
		sh -c "$prep" && sh -c "$c" || die "postgres: command failed: $c"
		expect "postgres: $c" "$(psql -X -At -d bench -c "$q")"
	done
	run_hyperfine postgres "$prep" \
		-n floor "$floor" -n floor-1tx "$floor1" -n sluice "$sl" -n dbmate "$dm"
	pg_stop
	PG_STARTED=
}

case $ONLY in
'') bench_sqlite; bench_postgres; backends="sqlite postgres" ;;
sqlite) bench_sqlite; backends=sqlite ;;
postgres) bench_postgres; backends=postgres ;;
*) die "BENCH_ONLY must be sqlite or postgres" ;;
esac

# ---- table ----------------------------------------------------------------------
# hyperfine CSV: command,mean,stddev,median,user,system,min,max
echo
echo "$N migrations, mean of $RUNS runs each on a fresh database (seconds)."
echo "floor = bare 'psql -f' / 'sqlite3 < file' (autocommit: one transaction per statement);"
echo "floor-1tx = the same SQL in one transaction ('psql -1' / BEGIN..COMMIT)."
echo
printf '%-9s %-10s %9s %8s %10s %13s %10s\n' tool backend mean_s stddev 'x floor' 'x floor-1tx' 'x dbmate'
for b in $backends; do
	awk -F, -v b="$b" '
		NR > 1 { name[NR] = $1; mean[$1] = $2; sd[$1] = $3; order[++k] = $1 }
		END {
			for (i = 1; i <= k; i++) {
				t = order[i]
				printf "%-9s %-10s %9.3f %8.3f %9.2fx %12.2fx %9.2fx\n", t, b, mean[t], sd[t],
					mean[t] / mean["floor"], mean[t] / mean["floor-1tx"], mean[t] / mean["dbmate"]
			}
		}' "$OUT/$b.csv"
done
echo
for b in $backends; do
	awk -F, -v b="$b" '
		NR > 1 { mean[$1] = $2 }
		END {
			r = mean["sluice"] / mean["floor"]; d = mean["sluice"] / mean["dbmate"]
			printf "%s: sluice %.2fx the psql/sqlite3 -f floor (target <= 1.30: %s), %.2fx dbmate (target < 1.00: %s)\n",
				b, r, r <= 1.3 ? "met" : "MISSED", d, d < 1 ? "met" : "MISSED"
		}' "$OUT/$b.csv"
done
echo "raw hyperfine results: $OUT/{sqlite,postgres}.{json,csv}"
