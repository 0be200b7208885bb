#!/bin/bash
# bench/gate.sh - `make bench-gate`: the data gates of issue 4 on a feature
# table (20 columns plus an integer key: 9 double and 9 integer features, a
# protected `country` with 5 values, a 0/1 `label`), in SQLite and in
# PostgreSQL, all measured in the same run:
#
#   floor    the database streaming the same rows to nowhere:
#            sqlite3 DB 'SELECT <cols> FROM t' / psql -c 'COPY (SELECT <cols> FROM t) TO STDOUT'
#   profile  sluice --url URL profile t
#   gate     sluice -C cfg --url URL gate t   (schema, completeness, validity,
#            uniqueness, fairness on country, drift against a stored baseline)
#   pandas   pandas.read_sql + pandas/numpy/scipy computing the same statistics
#            (the script is written to bench/.cache/gate/pandas_gate.py)
#
# Wall time: hyperfine -N (each command runs under `/usr/bin/time -f '%M %x'`,
# so every timed run also gives its peak RSS and exit status).  See
# docs/BENCHMARKS.md, "data gates (issue 4)".
#
# Data: bench/gategen.c (compiled into bench/.cache/gate/gategen) writes the
# same rows to both databases from fixed seeds.  Each database also holds
# t_ref: GATE_REF_ROWS rows of the same generator with another seed; the
# baseline that `gate` compares against was captured from it while it was
# still named t (`sluice baseline capture --table t`, then renamed), and
# pandas reads t_ref as its reference sample.  SQLite files are cached as
# bench/.cache/gate/sqlite-ROWS-seedS-refR.db (rebuilt when gategen is
# newer); PostgreSQL runs on a throwaway server (tests/lib/pg.sh, fsync=on)
# and is loaded on each run (gategen | COPY FROM STDIN, then VACUUM FREEZE
# ANALYZE and CHECKPOINT, untimed).
#
# A benchmark, not a test.  Environment:
#   SLUICE            sluice binary (default build/sluice)
#   GATE_ROWS         row counts, measured in turn (default "1000000 10000000")
#   GATE_REF_ROWS     rows of the reference table t_ref (default 100000)
#   GATE_SEED         seed of t (default 1; t_ref uses GATE_SEED + 1)
#   GATE_RUNS         timed runs of floor, profile and gate (default 3; no
#                     hyperfine warm-up: the untimed byte count of the
#                     floor's output and one checked run each of gate and
#                     profile come first and warm the caches)
#   GATE_PANDAS_RUNS  timed runs of pandas (default 1, no warm-up run)
#   GATE_ONLY         sqlite or postgres: one backend only
#   GATE_MAX_LOAD     if set (e.g. 1.0): before each backend and row count,
#                     wait up to GATE_WAIT seconds (default 1200) for the
#                     1-minute load average to drop below it
#   GATE_OUT          results dir (default bench/.cache/gate/results):
#                     hyperfine JSON, rss-*.txt, results.tsv, table.txt
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
SLUICE=${SLUICE:-build/sluice}
ROWS_LIST=${GATE_ROWS:-1000000 10000000}
REF_ROWS=${GATE_REF_ROWS:-100000}
SEED=${GATE_SEED:-1}
RUNS=${GATE_RUNS:-3}
PD_RUNS=${GATE_PANDAS_RUNS:-1}
ONLY=${GATE_ONLY:-}
MAX_LOAD=${GATE_MAX_LOAD:-}
WAIT=${GATE_WAIT:-1200}
C=$here/.cache/gate
OUT=${GATE_OUT:-$C/results}
PY=/usr/bin/python3
COLS="id, f01, f02, f03, f04, f05, f06, f07, f08, f09, i01, i02, i03, i04, i05, i06, i07, i08, i09, country, label"

die() { echo "bench-gate: $*" >&2; exit 1; }
say() { echo "bench-gate: $*" >&2; }

[ -x "$SLUICE" ] || die "no $SLUICE (build it, e.g. 'make B=/tmp/bgate /tmp/bgate/sluice', and set SLUICE=/tmp/bgate/sluice)"
case $SLUICE in /*) ;; *) SLUICE=$root/$SLUICE ;; esac
for t in hyperfine jq sqlite3 psql cc awk; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install -y time)"
$PY -c 'import pandas, scipy.stats, psycopg2' 2>/dev/null ||
	die "$PY lacks pandas/scipy/psycopg2 (apt-get install -y python3-pandas python3-scipy python3-psycopg2)"
for n in $ROWS_LIST $REF_ROWS $SEED $RUNS $PD_RUNS $WAIT; do
	case $n in ''|*[!0-9]*) die "GATE_ROWS, GATE_REF_ROWS, GATE_SEED, GATE_RUNS, GATE_PANDAS_RUNS, GATE_WAIT must be numbers" ;; esac
done
case $ONLY in ''|sqlite|postgres) ;; *) die "GATE_ONLY must be sqlite or postgres" ;; esac

mkdir -p "$C/cfg/features" "$C/cfg/migrations" "$OUT"

# ---- generator ------------------------------------------------------------------
GEN=$C/gategen
if ! [ -x "$GEN" ] || [ "$here/gategen.c" -nt "$GEN" ]; then
	say "compiling bench/gategen.c"
	cc -O2 -Wall -Wextra -o "$GEN" "$here/gategen.c" -lsqlite3 -lm || die "cannot compile bench/gategen.c"
fi

# ---- the feature contract: all 20 columns -----------------------------------------
printf 'project: bench-gate\nmigrations: migrations\nfeatures: features\n' >"$C/cfg/sluice.yaml"
cat >"$C/cfg/features/t.yaml" <<'EOF'
# written by bench/gate.sh
table: t
key: id
label: label
owner: bench
columns:
  f01: {type: real, description: "normal(0,1)", range: [-10, 10]}
  f02: {type: real, description: "normal(50,10), 1% NULL", max_null_fraction: 0.02}
  f03: {type: real, description: "exponential(1)", range: [0, 100]}
  f04: {type: real, description: "uniform [0,1)", range: [0, 1]}
  f05: {type: real, description: "lognormal(0,0.5)", min: 0}
  f06: {type: real, description: "normal(-3,2), 0.5% NULL", max_null_fraction: 0.01}
  f07: {type: real, description: "uniform [-100,100)", range: [-100, 100]}
  f08: {type: real, description: "gamma(2,1)"}
  f09: {type: real, description: "uniform squared", range: [0, 1]}
  i01: {type: integer, description: "age", range: [18, 90], nullable: false}
  i02: {type: integer, description: "count", range: [0, 1000]}
  i03: {type: integer, description: "rating", range: [0, 4]}
  i04: {type: integer, description: "uniform 0..999999", range: [0, 999999]}
  i05: {type: integer, description: "binomial(10,0.3)", range: [0, 10]}
  i06: {type: integer, description: "geometric(0.2)"}
  i07: {type: integer, description: "days since, 2% NULL", range: [0, 3650], max_null_fraction: 0.05}
  i08: {type: integer, description: "flag", allowed: [0, 1]}
  i09: {type: integer, description: "uniform 0..2^40-1"}
  country: {type: text, description: "country", protected: true, allowed: [US, IN, DE, BR, FR], nullable: false}
  label: {type: integer, description: "binary label", allowed: [0, 1], nullable: false}
gates:
  completeness: {min: 0.95}
  fairness: {min_ratio: 0.8}
EOF

# ---- pandas + scipy: the same statistics ---------------------------------------------
cat >"$C/pandas_gate.py" <<'EOF'
# written by bench/gate.sh: what `sluice profile` + `sluice gate` compute,
# done the usual pandas way.  usage: pandas_gate.py sqlite DB OUT.json
#                                    pandas_gate.py postgres DSN OUT.json
import json, sys
import numpy as np
import pandas as pd
from scipy import stats

backend, target, out = sys.argv[1:4]
if backend == "sqlite":
    import sqlite3
    con = sqlite3.connect(target)
else:
    import psycopg2
    con = psycopg2.connect(target)

NUM = [f"f{k:02d}" for k in range(1, 10)] + [f"i{k:02d}" for k in range(1, 10)]
COLS = ["id"] + NUM + ["country", "label"]
QS = [0.01, 0.05, 0.25, 0.50, 0.75, 0.95, 0.99]
RANGES = {"f01": (-10, 10), "f03": (0, 100), "f04": (0, 1), "f05": (0, np.inf),
          "f07": (-100, 100), "f09": (0, 1), "i01": (18, 90), "i02": (0, 1000),
          "i03": (0, 4), "i04": (0, 999999), "i05": (0, 10), "i07": (0, 3650)}
ALLOWED = {"country": ["US", "IN", "DE", "BR", "FR"], "label": [0, 1], "i08": [0, 1]}


def read(table):
    sql = f"SELECT {', '.join(COLS)} FROM {table}"
    if backend == "sqlite":
        chunks = pd.read_sql(sql, con, chunksize=1_000_000)
    else:
        # read_sql on a psycopg2 connection uses a client-side cursor: libpq
        # holds the whole result before the first chunk.  A server-side
        # cursor streams it; each chunk becomes a frame the way read_sql
        # builds one (from_records).
        cur = con.cursor(name=f"read_{table}")
        cur.execute(sql)
        chunks = (pd.DataFrame.from_records(rows, columns=COLS)
                  for rows in iter(lambda: cur.fetchmany(1_000_000), []))
    return pd.concat(chunks, ignore_index=True)


df = read("t")
ref = read("t_ref")
num = df[NUM]
r = {"rows": len(df)}

# profile: nulls, moments, extremes, quantiles, distinct counts, top values, histograms
nulls = df.isna().sum()
r["nulls"] = nulls.to_dict()
r["mean"] = num.mean().to_dict()
r["var"] = num.var(ddof=0).to_dict()
r["min"] = num.min().to_dict()
r["max"] = num.max().to_dict()
r["quantiles"] = num.quantile(QS).to_dict()
r["nunique"] = df.nunique().to_dict()
r["country_counts"] = df["country"].value_counts().to_dict()
r["hist"] = {c: np.histogram(num[c].dropna().to_numpy(), bins=20)[0].tolist() for c in NUM}

# completeness, validity, uniqueness
r["completeness"] = 1 - nulls[NUM + ["country", "label"]].sum() / (len(df) * (len(NUM) + 2))
bad = {c: int(((num[c] < lo) | (num[c] > hi)).sum()) for c, (lo, hi) in RANGES.items()}
for c, vals in ALLOWED.items():
    bad[c] = int((df[c].notna() & ~df[c].isin(vals)).sum())
r["invalid"] = bad
r["duplicate_keys"] = int(df["id"].duplicated().sum())

# drift against the reference: KS for numbers, chi-square for categories
drift = {}
for c in NUM:
    res = stats.ks_2samp(num[c].dropna(), ref[c].dropna())
    drift[c] = {"test": "ks", "statistic": res.statistic, "p_value": res.pvalue}
for c in ["country", "label"]:
    cur = df[c].value_counts()
    exp = ref[c].value_counts(normalize=True).reindex(cur.index, fill_value=0) * cur.sum()
    res = stats.chisquare(cur, exp)
    drift[c] = {"test": "chisquare", "statistic": res.statistic, "p_value": res.pvalue}
r["drift"] = drift

# fairness: selection rate of the label per protected group, demographic parity ratio
rates = df.groupby("country")["label"].mean()
r["selection_rate"] = rates.to_dict()
r["dp_ratio"] = rates.min() / rates.max()
r["dp_difference"] = rates.max() - rates.min()

with open(out, "w") as f:
    json.dump(r, f, default=float, indent=1)
EOF

# ---- helpers ------------------------------------------------------------------------
wait_load() {
	[ -n "$MAX_LOAD" ] || return 0
	local t=0 l
	while :; do
		l=$(cut -d' ' -f1 /proc/loadavg)
		awk -v l="$l" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }' && break
		[ "$t" -ge "$WAIT" ] && { say "load average still $l after ${WAIT}s; measuring anyway"; break; }
		[ "$t" = 0 ] && say "load average $l >= $MAX_LOAD: waiting (up to ${WAIT}s)"
		sleep 15
		t=$((t + 15))
	done
}

# run one command untimed, keep its output; exit codes other than $2 are fatal
check_run() { # name allowed-exits cmd...
	local name=$1 ok=$2 code=0
	shift 2
	"$@" >"$OUT/out-$name.txt" 2>"$OUT/err-$name.txt" || code=$?
	case " $ok " in *" $code "*) ;; *) cat "$OUT/err-$name.txt" >&2; die "$name exited $code: $*" ;; esac
	say "$name: exit $code"
}

# measure BACKEND ROWS URL TABLE_BYTES STREAM_BYTES FLOOR_CMD PANDAS_TARGET
measure() {
	local be=$1 n=$2 url=$3 tbytes=$4 sbytes=$5 floor=$6 pdt=$7 tag=$1-$2 load
	local tm="/usr/bin/time -f '%M %x' -a -o $OUT/rss-$1-$2"
	check_run "gate-$tag" "0 1" "$SLUICE" -C "$C/cfg" --url "$url" gate t
	check_run "profile-$tag" "0" "$SLUICE" --url "$url" profile t
	wait_load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	rm -f "$OUT/rss-$tag"-*
	say "$be, $n rows: floor, sluice profile, sluice gate ($RUNS runs each; load $load)"
	hyperfine -N -i --warmup 0 --runs "$RUNS" --export-json "$OUT/$tag.json" \
		-n floor "$tm-floor $floor" \
		-n profile "$tm-profile $SLUICE --url '$url' profile t" \
		-n gate "$tm-gate $SLUICE -C $C/cfg --url '$url' gate t" >&2
	# warm the interpreter's files, then time pandas
	$PY -c 'import pandas, scipy.stats, sqlite3, psycopg2'
	say "$be, $n rows: pandas+scipy ($PD_RUNS run(s))"
	hyperfine -N -i --warmup 0 --runs "$PD_RUNS" --export-json "$OUT/$tag-pandas.json" \
		-n pandas "$tm-pandas $PY $C/pandas_gate.py $be '$pdt' $OUT/pandas-$tag.json" >&2
	local tool code
	for tool in floor profile gate pandas; do
		while read -r _ code; do
			case $tool:$code in floor:0|profile:0|gate:0|gate:1|pandas:0) ;;
			*) die "$be $n $tool: a timed run exited $code" ;; esac
		done <"$OUT/rss-$tag-$tool"
	done
	jq -r --arg be "$be" --arg n "$n" --arg tb "$tbytes" --arg sb "$sbytes" --arg load "$load" \
		--slurpfile p "$OUT/$tag-pandas.json" \
		'(.results + $p[0].results)[] | [$be, $n, $tb, $sb, .command, .mean, (.stddev // 0), (.times | length), $load] | @tsv' \
		"$OUT/$tag.json" | while IFS=$'\t' read -r a b c d tool mean sd runs l; do
		rss=$(cut -d' ' -f1 "$OUT/rss-$tag-$tool" | sort -n | tail -1)
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$a" "$b" "$c" "$d" "$tool" "$mean" "$sd" "$runs" "$rss" "$l"
	done >>"$OUT/results.tsv"
}

# ---- SQLite ---------------------------------------------------------------------------
bench_sqlite() {
	local n db tmp url tbytes sbytes
	for n in $ROWS_LIST; do
		db=$C/sqlite-$n-seed$SEED-ref$REF_ROWS.db
		if ! [ -f "$db" ] || [ "$GEN" -nt "$db" ]; then
			tmp=$db.tmp
			rm -f "$tmp"
			say "generating $db: t_ref ($REF_ROWS rows, seed $((SEED + 1))), baseline, t ($n rows, seed $SEED)"
			"$GEN" sqlite "$tmp" t "$REF_ROWS" $((SEED + 1))
			"$SLUICE" -C "$C/cfg" --url "sqlite:$tmp" -q baseline capture --table t >&2
			sqlite3 "$tmp" 'ALTER TABLE t RENAME TO t_ref'
			"$GEN" sqlite "$tmp" t "$n" "$SEED"
			mv "$tmp" "$db"
		fi
		url=sqlite:$db
		tbytes=$(sqlite3 "$db" "SELECT sum(pgsize) FROM dbstat WHERE name = 't'")
		sbytes=$(sqlite3 "$db" "SELECT $COLS FROM t" | wc -c)
		measure sqlite "$n" "$url" "$tbytes" "$sbytes" "sqlite3 $db 'SELECT $COLS FROM t'" "$db"
	done
}

# ---- PostgreSQL -------------------------------------------------------------------------
PG_STARTED=
cleanup() { if [ -n "$PG_STARTED" ]; then pg_stop; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_postgres() {
	local n d url tbytes sbytes q
	. "$root/tests/lib/pg.sh"
	PG_FSYNC=on
	export PG_FSYNC
	pg_start || die "cannot start PostgreSQL"
	PG_STARTED=1
	say "PostgreSQL $(psql -X -At -d postgres -c 'SHOW server_version'), fsync=$(psql -X -At -d postgres -c 'SHOW fsync')," \
		"shared_buffers=$(psql -X -At -d postgres -c 'SHOW shared_buffers')"
	q="psql -X -q -v ON_ERROR_STOP=1"
	for n in $ROWS_LIST; do
		d=gate_$n
		url=$(pg_url "$d")
		say "loading $d: t_ref ($REF_ROWS rows, seed $((SEED + 1))), baseline, t ($n rows, seed $SEED)"
		$q -d postgres -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d"
		"$GEN" ddl postgres t | $q -d "$d"
		"$GEN" copy "$REF_ROWS" $((SEED + 1)) | $q -d "$d" -c 'COPY t FROM STDIN'
		$q -d "$d" -c 'ALTER TABLE t ADD PRIMARY KEY (id)'
		"$SLUICE" -C "$C/cfg" --url "$url" -q baseline capture --table t >&2
		$q -d "$d" -c 'ALTER TABLE t RENAME TO t_ref' -c 'ALTER INDEX t_pkey RENAME TO t_ref_pkey'
		"$GEN" ddl postgres t | $q -d "$d"
		"$GEN" copy "$n" "$SEED" | $q -d "$d" -c 'COPY t FROM STDIN'
		$q -d "$d" -c 'ALTER TABLE t ADD PRIMARY KEY (id)' -c 'VACUUM (FREEZE, ANALYZE)' -c CHECKPOINT
		tbytes=$(psql -X -At -d "$d" -c "SELECT pg_table_size('t')")
		sbytes=$(psql -X -At -d "$d" -c "COPY (SELECT $COLS FROM t) TO STDOUT" | wc -c)
		measure postgres "$n" "$url" "$tbytes" "$sbytes" \
			"psql -X -q -d $d -c 'COPY (SELECT $COLS FROM t) TO STDOUT'" \
			"dbname=$d host=$PGDIR port=$PGPORT user=postgres"
		$q -d postgres -c "DROP DATABASE $d"
	done
	pg_stop
	PG_STARTED=
}

say "$("$SLUICE" --version), sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(psql --version)," \
	"$($PY -c 'import sys, pandas, scipy, numpy; print("python", sys.version.split()[0], "pandas", pandas.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__)')"
load0=$(cut -d' ' -f1 /proc/loadavg)
printf 'backend\trows\ttable_bytes\tstream_bytes\ttool\tmean_s\tstddev_s\truns\tmax_rss_kb\tload\n' >"$OUT/results.tsv"
case $ONLY in
'') bench_sqlite; bench_postgres ;;
sqlite) bench_sqlite ;;
postgres) bench_postgres ;;
esac

# ---- table -----------------------------------------------------------------------------
# Targets: sluice within 2x of the floor, >= 10x faster than pandas+scipy,
# peak RSS under 64 MB (64,000,000 bytes = 62,500 KiB) at every row count.
{
echo
echo "seconds (mean of hyperfine runs), peak RSS in MiB (max over runs, client process only); MB = 10^6 bytes"
awk -F'\t' 'NR > 1 {
		k = $1 SUBSEP $2
		if (!(k in seen)) { seen[k] = 1; K[++nk] = k; be[nk] = $1; n[nk] = $2; tb[nk] = $3; sb[nk] = $4; ld[nk] = $10 }
		m[k, $5] = $6; sd[k, $5] = $7; r[k, $5] = $8; rss[k, $5] = $9
	}
	END {
		printf "%-8s %9s %8s %8s | %7s %7s %7s %8s | %6s %6s %6s %6s | %6s %6s %6s %7s\n", "backend", "rows", "tableMB",
			"streamMB", "floor", "profile", "gate", "pandas", "prof/fl", "gate/fl", "pd/prof", "pd/gate",
			"flMiB", "profMiB", "gateMiB", "pdMiB"
		for (i = 1; i <= nk; i++) {
			k = K[i]
			printf "%-8s %9d %8.0f %8.0f | %7.3f %7.3f %7.3f %8.2f | %6.2fx %6.2fx %6.1fx %6.1fx | %6.1f %6.1f %6.1f %7.0f\n",
				be[i], n[i], tb[i] / 1e6, sb[i] / 1e6, m[k, "floor"], m[k, "profile"], m[k, "gate"], m[k, "pandas"],
				m[k, "profile"] / m[k, "floor"], m[k, "gate"] / m[k, "floor"],
				m[k, "pandas"] / m[k, "profile"], m[k, "pandas"] / m[k, "gate"],
				rss[k, "floor"] / 1024, rss[k, "profile"] / 1024, rss[k, "gate"] / 1024, rss[k, "pandas"] / 1024
		}
		print ""
		for (i = 1; i <= nk; i++) {
			k = K[i]
			printf "%s %d rows (load %s): stddev floor %.3f profile %.3f gate %.3f pandas %.2f s; runs %d/%d/%d/%d\n",
				be[i], n[i], ld[i], sd[k, "floor"], sd[k, "profile"], sd[k, "gate"], sd[k, "pandas"],
				r[k, "floor"], r[k, "profile"], r[k, "gate"], r[k, "pandas"]
		}
		print ""
		for (i = 1; i <= nk; i++) {
			k = K[i]
			printf "%s %d rows: within 2x of the floor: profile %s (%.2fx), gate %s (%.2fx); >= 10x faster than pandas: gate %s (%.1fx), profile %s (%.1fx); RSS < 64 MB: %s (max %.1f MB)\n",
				be[i], n[i], (m[k, "profile"] / m[k, "floor"] <= 2) ? "met" : "MISSED", m[k, "profile"] / m[k, "floor"],
				(m[k, "gate"] / m[k, "floor"] <= 2) ? "met" : "MISSED", m[k, "gate"] / m[k, "floor"],
				(m[k, "pandas"] / m[k, "gate"] >= 10) ? "met" : "MISSED", m[k, "pandas"] / m[k, "gate"],
				(m[k, "pandas"] / m[k, "profile"] >= 10) ? "met" : "MISSED", m[k, "pandas"] / m[k, "profile"],
				(rss[k, "profile"] < 62500 && rss[k, "gate"] < 62500) ? "met" : "MISSED",
				(rss[k, "profile"] > rss[k, "gate"] ? rss[k, "profile"] : rss[k, "gate"]) * 1024 / 1e6
		}
	}' "$OUT/results.tsv"
echo "load average: $load0 at start, $(cut -d' ' -f1 /proc/loadavg) at end"
echo "raw: $OUT/results.tsv, hyperfine JSON and rss-* in $OUT"
} | tee "$OUT/table.txt"
