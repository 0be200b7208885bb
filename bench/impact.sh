#!/bin/bash
# bench/impact.sh - the model-impact gate's proxy retraining against
# scikit-learn, in one run (issue 6): train and evaluate on a 1M-row,
# 20-column feature table read from SQLite (bench/gategen.c's table t: 18
# numeric inputs, the categorical country, the 0/1 label).
#
#   sluice   sluice impact m --baseline-env base --no-score (sample_rows: 0):
#            read the baseline and the candidate table (the same file here),
#            fit the featuriser and the L2 logistic regression on each side's
#            80%, score both holdouts and the baseline model on the
#            candidate's;
#   sklearn  bench/sklearn_impact.py: the same work with pandas.read_sql and
#            scikit-learn's LogisticRegression(C=1, lbfgs) in a Pipeline
#            with the same featuriser and the same split.
#
# Both print the three AUCs; the script checks they agree within 0.002.
# Wall time by hyperfine (IMPACT_RUNS, default 3), peak RSS by
# /usr/bin/time -v.  Needs the SQLite file of bench/gate.sh (built here if
# missing), hyperfine, jq and /usr/bin/python3 with python3-pandas and
# python3-sklearn.  Knobs: IMPACT_ROWS (default 1000000), IMPACT_RUNS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SLUICE=${SLUICE:-$root/build/sluice}
ROWS=${IMPACT_ROWS:-1000000}
RUNS=${IMPACT_RUNS:-3}
C=$here/.cache/gate
OUT=$here/.cache/impact
mkdir -p "$C" "$OUT/models"
say() { echo "impact: $*" >&2; }
die() { say "$*"; exit 1; }
for t in hyperfine jq sqlite3 cc; do command -v $t >/dev/null || die "needs $t"; done
/usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null || die "needs python3-sklearn and python3-pandas (apt-get install python3-sklearn python3-pandas)"

GEN=$C/gategen
if ! [ -x "$GEN" ] || [ "$here/gategen.c" -nt "$GEN" ]; then
	cc -O2 -Wall -Wextra -o "$GEN" "$here/gategen.c" -lsqlite3 -lm || die "cannot compile bench/gategen.c"
fi
# bench/gate.sh's file when it is there (table t, seed 1), else our own
DB=$C/sqlite-$ROWS-seed1-ref100000.db
if ! [ -f "$DB" ]; then
	DB=$OUT/impact-$ROWS-seed1.db
	if ! [ -f "$DB" ] || [ "$GEN" -nt "$DB" ]; then
		say "writing $ROWS rows into $DB"
		rm -f "$DB.tmp"
		"$GEN" sqlite "$DB.tmp" t "$ROWS" 1 && mv "$DB.tmp" "$DB"
	fi
fi
INPUTS="f01 f02 f03 f04 f05 f06 f07 f08 f09 i01 i02 i03 i04 i05 i06 i07 i08 i09 country"
cat > "$OUT/sluice.yaml" <<YAML
project: bench-impact
environments:
  cand: {url: "sqlite:$DB"}
  base: {url: "sqlite:$DB"}
default_environment: cand
YAML
cat > "$OUT/models/m.yaml" <<YAML
name: m
version: 1
task: binary
table: t
key: id
inputs: [$(echo $INPUTS | sed 's/ /, /g')]
label: label
metric: auc
impact: {sample_rows: 0}
YAML
S_CMD="$SLUICE -C $OUT impact m --baseline-env base --no-score --format json"
P_CMD="/usr/bin/python3 $here/sklearn_impact.py $DB $DB t id label $INPUTS"

say "checking that both agree"
$S_CMD > "$OUT/sluice.json" || [ $? = 1 ]
$P_CMD > "$OUT/sklearn.json"
s_auc=$(jq -r '.models[0] | [.baseline, .candidate, .serving] | @tsv' "$OUT/sluice.json")
p_auc=$(jq -r '[.baseline, .candidate, .serving] | @tsv' "$OUT/sklearn.json")
echo "AUC (baseline, candidate, serving): sluice $s_auc; scikit-learn $p_auc"
paste <(echo "$s_auc" | tr '\t' '\n') <(echo "$p_auc" | tr '\t' '\n') |
	awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.002) { print "AUC differs by " d; exit 1 } }'

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }'; }
say "peak memory"
s_rss=$(rss $S_CMD)
p_rss=$(rss $P_CMD)
say "timing ($RUNS runs each; load $(cut -d' ' -f1-3 /proc/loadavg))"
hyperfine -N -r "$RUNS" -i --export-json "$OUT/hyperfine.json" -n sluice "$S_CMD" -n sklearn "$P_CMD" >&2
s_t=$(jq -r '.results[] | select(.command == "sluice") | .mean' "$OUT/hyperfine.json")
p_t=$(jq -r '.results[] | select(.command == "sklearn") | .mean' "$OUT/hyperfine.json")
printf '%-8s %10s %10s %8s | %10s %10s %8s\n' rows sluice_s sklearn_s speedup sluice_MiB sklearn_MiB mem_ratio
printf '%-8s %10.2f %10.2f %7.2fx | %10s %10s %8.2f\n' "$ROWS" "$s_t" "$p_t" \
	"$(echo "$p_t / $s_t" | bc -l)" "$s_rss" "$p_rss" "$(echo "$s_rss / $p_rss" | bc -l)"
echo "$(uname -m), $(nproc) cores; $("$SLUICE" --version); scikit-learn $(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)'), pandas $(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)'); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
