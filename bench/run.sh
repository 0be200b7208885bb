#!/bin/sh
# bench/run.sh - `make bench`: apply N small migrations (default 1,000) to
# SQLite and to PostgreSQL with sluice, with dbmate, and with a bare
# sqlite3 / psql run of the same SQL (the physical floor), each run against a
# fresh database, and print mean times and ratios.  See docs/BENCHMARKS.md.
#
# A benchmark, not a test: `make test` does not run it.  Needs build/sluice,
# sqlite3, psql, a PostgreSQL server (tests/lib/pg.sh starts a throwaway one,
# here with fsync=on) and npm (dbmate is installed into bench/.cache once).
#
# Environment:
#   BENCH_N     migrations (default 1000)
#   BENCH_RUNS  timed runs per tool and backend (default 7)
#   BENCH_ONLY  sqlite or postgres: one backend only
#   BENCH_OUT   where raw.tsv and table.txt go (default bench/.cache/results)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
N=${BENCH_N:-1000}
RUNS=${BENCH_RUNS:-7}
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$here/.cache/results}
SLUICE=$root/build/sluice

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$SLUICE" ] || die "no $SLUICE: run 'make all' first (or 'make bench')"
for t in sqlite3 psql awk date; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
case $N in ''|*[!0-9]*|0) die "BENCH_N must be a positive number" ;; esac
case $RUNS in ''|*[!0-9]*|0) die "BENCH_RUNS must be a positive number" ;; esac

# ---- dbmate, from npm, into bench/.cache ------------------------------------
# The npm package `dbmate` is a node wrapper that spawns the native Go binary
# of @dbmate/<platform>.  We time that binary directly so that node's start-up
# (~40 ms a run) is not charged to dbmate.
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
	DBMATE=$(find_dbmate) || die "dbmate installed but no native binary under bench/.cache"
fi

# ---- workload -----------------------------------------------------------------
W=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$W"
PG_STARTED=
cleanup() {
	if [ -n "$PG_STARTED" ]; then pg_stop; fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh "$here/gen.sh" "$W" "$N"
sh "$here/gen.sh" "$W/warm" 10
mkdir -p "$W/cfg" "$W/warm/cfg" "$OUT"
printf 'project: bench\nmigrations: %s/migrations\n' "$W" >"$W/cfg/sluice.yaml"
printf 'project: bench\nmigrations: %s/warm/migrations\n' "$W" >"$W/warm/cfg/sluice.yaml"
nstmt=$(grep -c ';$' "$W/floor.sql")

echo "bench: $N migrations ($nstmt statements), $RUNS timed runs per tool" >&2
# Other work on the machine (a test suite, a build) shows up as noise in
# these numbers, disk-bound as they are: say so up front.
load0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
case $load0 in [0]*|'?') ;; *) echo "bench: warning: load average is $load0 before starting; results will be noisy" >&2 ;; esac
echo "bench: $("$SLUICE" --version 2>&1 | head -1), $("$DBMATE" --version)," \
	"sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(psql --version)" >&2

# Fail loudly if a run did not apply everything: a fast wrong run is no result.
expect() {
	[ "$2" = "$3" ] || die "$1: expected $3 tables, found '$2'"
}

cmd_of() {
	case $1 in
	floor) echo "$c_floor" ;;
	floor-1tx) echo "$c_floor1tx" ;;
	sluice) echo "$c_sluice" ;;
	sluice-group) echo "$c_sluice_group" ;;
	dbmate) echo "$c_dbmate" ;;
	dbmate-full) echo "$c_dbmate_full" ;;
	*) die "unknown tool $1" ;;
	esac
}

# measure BACKEND TOOL...: time each tool's command (cmd_of), each run on a
# fresh database ($prep, untimed), checking with $count that the run created
# all N tables.  Rounds are interleaved - round r runs every tool once, in an
# order rotated by r - rather than all runs of one tool then all of the next,
# because this machine's fsync latency drifts over minutes and would bias
# the ratios.  Appends "backend tool round nanoseconds" to $OUT/raw.tsv.
measure() {
	backend=$1
	shift
	tools=$*
	# Warm-up: every command once on a 10-migration set (page cache, shared
	# libraries); untimed.
	for name in $tools; do
		cmd=$(cmd_of "$name" | sed -e "s#$W/floor#$W/warm/floor#g" \
			-e "s#$W/cfg#$W/warm/cfg#g" -e "s#$W/migrations#$W/warm/migrations#g")
		sh -c "$prep" >/dev/null 2>&1 || die "$backend: prepare failed: $prep"
		sh -c "$cmd" >/dev/null || die "$backend: warm-up failed: $cmd"
		expect "$backend warm-up $name" "$(sh -c "$count")" 10
	done
	r=1
	while [ "$r" -le "$RUNS" ]; do
		set -- $tools
		k=1
		while [ "$k" -lt "$r" ]; do x=$1; shift; set -- "$@" "$x"; k=$((k + 1)); done
		for name in "$@"; do
			cmd=$(cmd_of "$name")
			sh -c "$prep" >/dev/null 2>&1 || die "$backend: prepare failed: $prep"
			t0=$(date +%s%N)
			sh -c "$cmd" >/dev/null || die "$backend: failed: $cmd"
			t1=$(date +%s%N)
			expect "$backend $name run $r" "$(sh -c "$count")" "$N"
			printf '%s\t%s\t%s\t%s\n' "$backend" "$name" "$r" "$((t1 - t0))" >>"$OUT/raw.tsv"
			printf 'bench: %-8s %-11s run %d/%d %7.3f s\n' "$backend" "$name" "$r" "$RUNS" \
				"$(awk -v ns=$((t1 - t0)) 'BEGIN { print ns / 1e9 }')" >&2
		done
		r=$((r + 1))
	done
}

# ---- SQLite --------------------------------------------------------------------
bench_sqlite() {
	db=$W/b.db
	prep="rm -f $db $db-journal $db-wal $db-shm"
	c_floor="sqlite3 -bail $db < $W/floor.sql"
	c_floor1tx="sqlite3 -bail $db < $W/floor-1tx.sql"
	c_sluice="$SLUICE -C $W/cfg --url sqlite:$db -q migrate"
	c_sluice_group="$SLUICE -C $W/cfg --url sqlite:$db -q migrate --group"
	c_dbmate="$DBMATE --url sqlite:$db -d $W/migrations --no-dump-schema migrate"
	# dbmate's driver (mattn/go-sqlite3) sets PRAGMA synchronous=NORMAL unless
	# told otherwise; sluice and the sqlite3 shell keep SQLite's FULL.  This
	# row runs dbmate with the same durability as the others.
	c_dbmate_full="$DBMATE --url 'sqlite:$db?_sync=FULL' -d $W/migrations --no-dump-schema migrate"
	count="sqlite3 $db \"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't_[0-9]*'\""
	measure sqlite floor floor-1tx sluice sluice-group dbmate dbmate-full
}

# ---- PostgreSQL ------------------------------------------------------------------
bench_postgres() {
	. "$root/tests/lib/pg.sh"
	# Real commits: tests/lib/pg.sh defaults to fsync=off.
	PG_FSYNC=on
	export PG_FSYNC
	pg_start || die "cannot start PostgreSQL"
	PG_STARTED=1
	echo "bench: PostgreSQL server $(psql -X -At -d postgres -c 'SHOW server_version')," \
		"fsync=$(psql -X -At -d postgres -c 'SHOW fsync')," \
		"synchronous_commit=$(psql -X -At -d postgres -c 'SHOW synchronous_commit')" >&2
	# CHECKPOINT so that no run pays for the previous run's dirty pages.
	prep="psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' -c CHECKPOINT"
	c_floor="psql -X -q -v ON_ERROR_STOP=1 -d bench -f $W/floor.sql"
	c_floor1tx="psql -X -q -1 -v ON_ERROR_STOP=1 -d bench -f $W/floor.sql"
	c_sluice="$SLUICE -C $W/cfg --url '$(pg_url bench)' -q migrate"
	c_sluice_group="$SLUICE -C $W/cfg --url '$(pg_url bench)' -q migrate --group"
	c_dbmate="$DBMATE --url 'postgres://postgres@/bench?socket=$PGDIR&port=$PGPORT&sslmode=disable' -d $W/migrations --no-dump-schema migrate"
	count="psql -X -At -d bench -c \"SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t_[0-9]+\\\$'\""
	measure postgres floor floor-1tx sluice sluice-group dbmate
	pg_stop
	PG_STARTED=
}

: >"$OUT/raw.tsv"
case $ONLY in
'') bench_sqlite; bench_postgres ;;
sqlite) bench_sqlite ;;
postgres) bench_postgres ;;
*) die "BENCH_ONLY must be sqlite or postgres" ;;
esac

# ---- table ------------------------------------------------------------------------
# raw.tsv: backend tool round nanoseconds.  "x ..." columns are ratios of
# means; the verdict lines also give the median of the per-round (paired)
# ratios, which drift in disk latency between rounds does not move.
{
echo
echo "$N migrations ($nstmt statements), $RUNS timed runs per tool, each on a fresh database; seconds."
echo "floor       = the same SQL through bare 'psql -f' / 'sqlite3 < file' (autocommit: a transaction per statement)"
echo "floor-1tx   = the same SQL in one transaction ('psql -1 -f' / BEGIN..COMMIT): stricter, not the target's floor"
[ -z "$ONLY" ] || [ "$ONLY" = sqlite ] &&
echo "dbmate-full = dbmate with ?_sync=FULL (SQLite's default durability, as sluice and sqlite3 use)"
echo
awk -F'\t' '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		s = $4 / 1e9; k = $1 SUBSEP $2
		if (!($1 in seenb)) { seenb[$1] = 1; B[++nb] = $1 }
		if (!(k in seent)) { seent[k] = 1; T[$1, ++nt[$1]] = $2 }
		n[k]++; sum[k] += s; sq[k] += s * s; v[k, n[k]] = s; at[$1, $2, $3] = s
		if (!(k in mn) || s < mn[k]) mn[k] = s
	}
	END {
		printf "%-11s %-8s %7s %7s %7s %7s %8s %11s %9s\n", "tool", "backend", "mean", "stddev", "median", "min",
			"x floor", "x floor-1tx", "x dbmate"
		for (b = 1; b <= nb; b++) {
			be = B[b]
			for (t = 1; t <= nt[be]; t++) { k = be SUBSEP T[be, t]; m[T[be, t]] = sum[k] / n[k] }
			for (t = 1; t <= nt[be]; t++) {
				tool = T[be, t]; k = be SUBSEP tool; mean = m[tool]
				var = n[k] > 1 ? (sq[k] - n[k] * mean * mean) / (n[k] - 1) : 0
				delete a; for (i = 1; i <= n[k]; i++) a[i] = v[k, i]
				printf "%-11s %-8s %7.3f %7.3f %7.3f %7.3f %7.2fx %10.2fx %8.2fx\n", tool, be, mean,
					sqrt(var > 0 ? var : 0), median(a, n[k]), mn[k],
					mean / m["floor"], mean / m["floor-1tx"], mean / m["dbmate"]
			}
			f = m["floor"]; s = m["sluice"]; d = m["dbmate"]
			delete a; delete c; nr = 0
			for (r = 1; (be, "sluice", r) in at; r++) {
				nr++; a[nr] = at[be, "sluice", r] / at[be, "floor", r]; c[nr] = at[be, "sluice", r] / at[be, "dbmate", r]
			}
			verdict[b] = sprintf("%s: sluice is %.2fx the bare floor (target <= 1.30x: %s; paired median %.2fx) and %.2fx dbmate (target < 1.00x: %s; paired median %.2fx)",
				be, s / f, s / f <= 1.3 ? "met" : "MISSED", median(a, nr), s / d,
				s / d >= 0.97 && s / d <= 1.03 ? "tie within 3%" : s < d ? "met" : "MISSED", median(c, nr))
		}
		print ""
		for (b = 1; b <= nb; b++) print verdict[b]
	}' "$OUT/raw.tsv"
echo "load average: $load0 at start, $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?') at end"
echo "raw times: $OUT/raw.tsv"
} | tee "$OUT/table.txt"
