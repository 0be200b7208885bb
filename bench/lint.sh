#!/bin/bash
# bench/lint.sh - `make bench-lint`: `sluice lint` throughput and peak memory
# against squawk (npm squawk-cli 2.66.0, its native linux-x64 binary) and
# sqlfluff (Debian package), all in the same run.  See docs/BENCHMARKS.md,
# "lint throughput".
#
# Corpora (bench/lintgen.sh builds them in bench/.cache/lint):
#   unleash  397 real PostgreSQL up-migrations (tests/realworld/fetch.sh), a dir
#   sample   the first of them up to ~30 KB: the only corpus sqlfluff gets
#   big5     the up-migrations concatenated, repeated to >= 5 MiB, one file
#   big50    the same to >= 50 MiB
# sluice and squawk run on all four, sqlfluff on the sample only.
#
# Wall time: hyperfine.  Peak RSS: /usr/bin/time -v ("Maximum resident set
# size"), a separate run for unleash/sample; for big5/big50 hyperfine runs the
# tool under /usr/bin/time (and under `timeout`), so one run gives both.
# Throughput = bytes / mean wall seconds, MB = 10^6 bytes.
#
# A benchmark, not a test.  Environment:
#   SLUICE         sluice binary (default build/sluice)
#   LINT_RUNS      timed runs per tool on unleash and sample (default 10)
#   SQLFLUFF_RUNS  timed runs of sqlfluff on the sample (default 3)
#   BIG_RUNS       timed runs per tool on big5/big50 (default 1, no warm-up)
#   LINT_TIMEOUT   seconds before a big-file run is killed (default 300)
#   LINT_CORPORA   which corpora (default "unleash sample big5 big50")
#   LINT_OUT       results dir (default bench/.cache/lint-results): hyperfine
#                  JSON, rss.tsv, results.tsv, table.txt
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
SLUICE=${SLUICE:-build/sluice}
RUNS=${LINT_RUNS:-10}
SF_RUNS=${SQLFLUFF_RUNS:-3}
BIG_RUNS=${BIG_RUNS:-1}
TMO=${LINT_TIMEOUT:-300}
CORPORA=${LINT_CORPORA:-unleash sample big5 big50}
OUT=${LINT_OUT:-$here/.cache/lint-results}
C=$here/.cache/lint
SQUAWK_VER=2.66.0

die() { echo "bench-lint: $*" >&2; exit 1; }
say() { echo "bench-lint: $*" >&2; }

[ -x "$SLUICE" ] || die "no $SLUICE (build it, e.g. 'make B=/tmp/blint', and set SLUICE=/tmp/blint/sluice)"
case $SLUICE in /*) ;; *) SLUICE=$root/$SLUICE ;; esac
for t in hyperfine jq timeout awk; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install -y time)"
command -v sqlfluff >/dev/null 2>&1 || die "sqlfluff not found (apt-get install -y sqlfluff)"
for n in "$RUNS" "$SF_RUNS" "$BIG_RUNS" "$TMO"; do
	case $n in ''|*[!0-9]*|0) die "LINT_RUNS, SQLFLUFF_RUNS, BIG_RUNS, LINT_TIMEOUT must be positive numbers" ;; esac
done

# ---- squawk: npm squawk-cli, timed as its native binary ---------------------
# node_modules/.bin/squawk is a node wrapper; the Rust binary comes from the
# optional dependency @squawk-cli/linux-x64.
SQ_PREFIX=$here/.cache/squawk
SQUAWK=$SQ_PREFIX/node_modules/@squawk-cli/linux-x64/bin/squawk
if ! [ -x "$SQUAWK" ] || [ "$("$SQUAWK" --version 2>/dev/null)" != "squawk $SQUAWK_VER" ]; then
	command -v npm >/dev/null 2>&1 || die "npm not found (needed to install squawk-cli)"
	say "installing squawk-cli@$SQUAWK_VER into bench/.cache/squawk (npm)"
	mkdir -p "$SQ_PREFIX"
	npm install --prefix "$SQ_PREFIX" --no-audit --no-fund --loglevel=error "squawk-cli@$SQUAWK_VER" >&2 ||
		die "npm install squawk-cli@$SQUAWK_VER failed"
	[ -x "$SQUAWK" ] || die "squawk-cli installed but no $SQUAWK (optional dependency @squawk-cli/linux-x64 missing?)"
fi

# ---- corpus -------------------------------------------------------------------
# Reuse a verified tests/realworld copy in build/cache if there is one,
# otherwise fetch into bench/.cache.
if [ -f build/cache/unleash/.realworld-stamp ]; then SRC=build/cache/unleash
else SRC=$here/.cache/unleash; fi
bash tests/realworld/fetch.sh "$SRC" || die "tests/realworld/fetch.sh $SRC failed (exit $?)"
sh "$here/lintgen.sh" "$SRC" "$C"

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/rss.tsv "$OUT"/results.tsv "$OUT"/table.txt
printf 'corpus\ttool\tmax_rss_kb\texit\n' >"$OUT/rss.tsv"
printf 'corpus\tbytes\ttool\tmean_s\tstddev_s\truns\tmb_per_s\tmax_rss_kb\tnote\n' >"$OUT/results.tsv"

bytes_of() { # corpus -> bytes linted
	case $1 in
	unleash|sample) cat "$C/$1"/*.sql | wc -c ;;
	*) wc -c <"$C/$1.sql" ;;
	esac
}
# the arguments each tool gets (word-split by hyperfine -N; squawk expands
# its own glob patterns and does not take a directory)
sluice_args() { case $1 in unleash|sample) echo "$C/$1" ;; *) echo "$C/$1.sql" ;; esac; }
squawk_args() { case $1 in unleash|sample) echo "$C/$1/*.sql" ;; *) echo "$C/$1.sql" ;; esac; }
sluice_cmd() { echo "$SLUICE lint --format text $(sluice_args "$1")"; }
squawk_cmd() { echo "$SQUAWK $(squawk_args "$1")"; }
sqlfluff_cmd() { echo "sqlfluff lint --dialect postgres -p 1 --disable-progress-bar $(ls "$C/$1"/*.sql | tr '\n' ' ')"; }

# Exit codes that mean "ran; may have found something".  Anything else is a failure.
ok_exit() { # tool code
	case $1:$2 in
	sluice:0|sluice:1|squawk:0|squawk:1|sqlfluff:0|sqlfluff:1) return 0 ;;
	*) return 1 ;;
	esac
}

# peak RSS of one run; appends to rss.tsv; dies on a bad exit code
rss_run() { # corpus tool cmd...
	local corpus=$1 tool=$2; shift 2
	local tv=$OUT/time-$corpus-$tool.txt code rss
	/usr/bin/time -v -o "$tv" "$@" >/dev/null 2>"$OUT/stderr-$corpus-$tool.txt" || true
	code=$(awk -F': ' '/Exit status/ {print $2}' "$tv")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
	printf '%s\t%s\t%s\t%s\n' "$corpus" "$tool" "$rss" "$code" >>"$OUT/rss.tsv"
	ok_exit "$tool" "$code" || { cat "$OUT/stderr-$corpus-$tool.txt" >&2; die "$tool on $corpus exited $code"; }
}

# ---- findings on the real corpus (side line: the tools check different things)
say "sluice $("$SLUICE" --version | awk '{print $2}'), $("$SQUAWK" --version), $(sqlfluff --version)"
set +e
"$SLUICE" lint --format text "$C/unleash" >"$OUT/findings-sluice-unleash.txt" 2>&1
e1=$?
"$SQUAWK" --reporter gcc "$C/unleash/*.sql" >"$OUT/findings-squawk-unleash.txt" 2>&1
e2=$?
set -e
ok_exit sluice $e1 || die "sluice lint on unleash exited $e1: $(tail -3 "$OUT/findings-sluice-unleash.txt")"
ok_exit squawk $e2 || die "squawk on unleash exited $e2: $(tail -3 "$OUT/findings-squawk-unleash.txt")"
say "findings on unleash: sluice: $(grep '^lint:' "$OUT/findings-sluice-unleash.txt" | tail -1) (exit $e1)"
say "findings on unleash: squawk: $(grep -c ': warning: \|: error: ' "$OUT/findings-squawk-unleash.txt") (exit $e2); by rule:"
sed -n 's/^[^ ]*: \(warning\|error\): \([a-z-]*\) .*/\2/p' "$OUT/findings-squawk-unleash.txt" |
	sort | uniq -c | sort -rn >"$OUT/findings-squawk-rules.txt"
sed -n 's/.* \(error\|warning\|info\) \[\([a-z-]*\)\].*/\2/p' "$OUT/findings-sluice-unleash.txt" |
	sort | uniq -c | sort -rn >"$OUT/findings-sluice-rules.txt"
sed 's/^/    squawk /' "$OUT/findings-squawk-rules.txt" >&2
say "findings on unleash: sluice by rule:"
sed 's/^/    sluice /' "$OUT/findings-sluice-rules.txt" >&2

# ---- measure --------------------------------------------------------------------
for corpus in $CORPORA; do
	case $corpus in unleash|sample|big5|big50) ;; *) die "unknown corpus $corpus" ;; esac
	b=$(bytes_of "$corpus")
	say "== $corpus ($b bytes)"
	case $corpus in
	unleash|sample)
		rss_run "$corpus" sluice $(sluice_cmd "$corpus")
		set -f   # squawk expands its own glob, as under hyperfine -N
		rss_run "$corpus" squawk $(squawk_cmd "$corpus")
		set +f
		hyperfine -N -i --warmup 1 --runs "$RUNS" --export-json "$OUT/$corpus.json" \
			-n sluice "$(sluice_cmd "$corpus")" -n squawk "$(squawk_cmd "$corpus")" >&2
		if [ "$corpus" = sample ]; then
			rss_run "$corpus" sqlfluff $(sqlfluff_cmd "$corpus")
			hyperfine -N -i --warmup 1 --runs "$SF_RUNS" --export-json "$OUT/$corpus-sqlfluff.json" \
				-n sqlfluff "$(sqlfluff_cmd "$corpus")" >&2
		fi
		;;
	*)
		# one pass: hyperfine times `time -v timeout T tool`; time's report
		# of the last run gives the peak RSS (timeout waits for the tool, so
		# the tool's RSS is in time's RUSAGE_CHILDREN) and the exit code.
		for tool in sluice squawk; do
			rm -f "$OUT/time-$corpus-$tool.txt"
		done
		hyperfine -N -i --warmup 0 --runs "$BIG_RUNS" --export-json "$OUT/$corpus.json" \
			-n sluice "/usr/bin/time -v -o $OUT/time-$corpus-sluice.txt timeout $TMO $(sluice_cmd "$corpus")" \
			-n squawk "/usr/bin/time -v -o $OUT/time-$corpus-squawk.txt timeout $TMO $(squawk_cmd "$corpus")" >&2
		for tool in sluice squawk; do
			tv=$OUT/time-$corpus-$tool.txt
			code=$(awk -F': ' '/Exit status/ {print $2}' "$tv")
			rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
			printf '%s\t%s\t%s\t%s\n' "$corpus" "$tool" "$rss" "$code" >>"$OUT/rss.tsv"
			if [ "$code" = 124 ]; then say "$tool on $corpus: killed after ${TMO}s (LINT_TIMEOUT)"
			elif ! ok_exit "$tool" "$code"; then
				say "$tool on $corpus exited $code; re-running it once to show its stderr:"
				timeout "$TMO" $( [ $tool = sluice ] && sluice_cmd "$corpus" || squawk_cmd "$corpus") 2>&1 >/dev/null | tail -5 >&2 || true
			fi
		done
		;;
	esac
	# results.tsv rows
	for js in "$OUT/$corpus.json" "$OUT/$corpus-sqlfluff.json"; do
		[ -f "$js" ] || continue
		jq -r '.results[] | [.command, .mean, (.stddev // 0), (.times|length)] | @tsv' "$js" |
		while IFS='	' read -r tool mean sd n; do
			read -r rss code <<EOF
$(awk -F'\t' -v c="$corpus" -v t="$tool" '$1==c && $2==t {print $3, $4}' "$OUT/rss.tsv" | tail -1)
EOF
			note=ok
			[ "$code" = 124 ] && note="killed at ${TMO}s"
			ok_exit "$tool" "$code" || [ "$code" = 124 ] || note="exit $code"
			mbs=$(awk -v b="$b" -v m="$mean" 'BEGIN { printf "%.4f", b / 1e6 / m }')
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$corpus" "$b" "$tool" "$mean" "$sd" "$n" "$mbs" "$rss" "$note" >>"$OUT/results.tsv"
		done
	done
done

# ---- table ------------------------------------------------------------------------
awk -F'\t' '
NR == 1 { next }
{
	k = $1 SUBSEP $3; mean[k] = $4; sd[k] = $5; n[k] = $6; mbs[k] = $7; rss[k] = $8; note[k] = $9
	bytes[$1] = $2
	if (!($1 in seen)) { seen[$1] = 1; order[++nc] = $1 }
}
function t(c, tool,   k) {
	k = c SUBSEP tool
	if (!(k in mean)) return "-"
	if (note[k] ~ /^killed/) return sprintf(">%.0f", mean[k])
	return sprintf("%.3f", mean[k])
}
function m(c, tool,   k) {
	k = c SUBSEP tool
	if (!(k in mean)) return "-"
	if (note[k] ~ /^killed/) return sprintf("<%.3f", mbs[k])
	return sprintf("%.3f", mbs[k])
}
function r(c, tool,   k) { k = c SUBSEP tool; return (k in rss) ? sprintf("%.1f", rss[k] / 1024) : "-" }
function ratio(c, a, b,   ka, kb) {
	ka = c SUBSEP a; kb = c SUBSEP b
	if (!(ka in mean) || !(kb in mean)) return "-"
	if (note[ka] ~ /^killed/ && note[kb] ~ /^killed/) return "?"
	if (note[ka] ~ /^killed/) return sprintf("<%.2fx", mean[kb] / mean[ka])
	if (note[kb] ~ /^killed/) return sprintf(">%.2fx", mean[kb] / mean[ka])
	return sprintf("%.2fx", mean[kb] / mean[ka])
}
END {
	printf "%-8s %10s | %9s %9s %9s | %8s %8s %8s | %8s %8s | %8s %8s %8s\n", \
		"corpus", "bytes", "sluice s", "squawk s", "sqlfl s", "sluice", "squawk", "sqlfluff", \
		"sl/sq", "sl/sqlf", "sluice", "squawk", "sqlfluff"
	printf "%-8s %10s | %9s %9s %9s | %8s %8s %8s | %8s %8s | %8s %8s %8s\n", \
		"", "", "(mean)", "(mean)", "(mean)", "MB/s", "MB/s", "MB/s", "speed", "speed", "RSS MiB", "RSS MiB", "RSS MiB"
	for (i = 1; i <= nc; i++) {
		c = order[i]
		printf "%-8s %10d | %9s %9s %9s | %8s %8s %8s | %8s %8s | %8s %8s %8s\n", c, bytes[c], \
			t(c, "sluice"), t(c, "squawk"), t(c, "sqlfluff"), \
			m(c, "sluice"), m(c, "squawk"), m(c, "sqlfluff"), \
			ratio(c, "sluice", "squawk"), ratio(c, "sluice", "sqlfluff"), \
			r(c, "sluice"), r(c, "squawk"), r(c, "sqlfluff")
	}
}' "$OUT/results.tsv" >"$OUT/table.txt"
{
	echo
	echo "sluice $("$SLUICE" --version | awk '{print $2}') ($SLUICE), $("$SQUAWK" --version), $(sqlfluff --version)"
	echo "speed ratio = other tool's mean time / sluice's mean time on the same bytes (>1: sluice faster)"
	echo "runs: unleash/sample $RUNS (+1 warm-up), sqlfluff $SF_RUNS (+1), big5/big50 $BIG_RUNS (no warm-up, timeout ${TMO}s)"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$OUT/table.txt"
echo
cat "$OUT/table.txt"
echo "(raw: $OUT/results.tsv, rss.tsv, *.json)"
