#!/bin/bash
# tests/run.sh - the whole suite: unit tests (cmocka) and end-to-end
# scenarios (real SQLite files, a real PostgreSQL started here), first on
# the plain build, then on the ASan+UBSan build, then short fuzz runs.
# Last line: "N passed, N failed".  Exit 1 when anything failed.
#
#   SLUICE_NO_ASAN=1   skip the sanitizer pass
#   SLUICE_NO_FUZZ=1   skip the fuzz runs
#   SLUICE_NO_PG=1     skip PostgreSQL scenarios (they are reported as failed
#                      if PostgreSQL cannot start and this is not set)
#   T_ONLY=REGEX       run only matching e2e tests
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
LOG=$(mktemp /tmp/sluice-run.XXXXXX)
passed=0
failed=0

count() { # count PASS/FAIL lines of a phase's output (from $LOG)
  local p f
  p=$(grep -c '^PASS ' "$LOG" || true)
  f=$(grep -c '^FAIL ' "$LOG" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  grep '^FAIL ' "$LOG" || true
}

unit() { # $1: directory of unit test binaries, $2: label
  : >"$LOG"
  for t in "$1"/test_*; do
    [ -x "$t" ] || continue
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$LOG.one" 2>&1
    rc=$?
    name=$(basename "$t")
    grep -E '^ok ' "$LOG.one" | sed "s/^ok [0-9]* - /PASS $2 $name: /" >>"$LOG"
    grep -E '^not ok ' "$LOG.one" | sed "s/^not ok [0-9]* - /FAIL $2 $name: /" >>"$LOG"
    if [ $rc != 0 ] && ! grep -q '^not ok ' "$LOG.one"; then
      echo "FAIL $2 $name: exited $rc: $(tail -n 5 "$LOG.one" | tr '\n' ' ')" >>"$LOG"
    fi
  done
  echo "unit ($2): $(grep -c '^PASS' "$LOG") passed, $(grep -c '^FAIL' "$LOG") failed"
  count
}

e2e() { # $1: sluice binary, $2: label
  : >"$LOG"
  for s in tests/e2e/*.sh; do
    T_SUITE="$2 $(basename "$s" .sh)" SLUICE="$1" T_ROOT="$ROOT" bash "$s" >>"$LOG" 2>&1 \
      || echo "FAIL $2 $(basename "$s"): script exited $?" >>"$LOG"
  done
  echo "e2e ($2): $(grep -c '^PASS' "$LOG") passed, $(grep -c '^FAIL' "$LOG") failed"
  count
}

start=$(date +%s)
unit build/tests plain
e2e "$ROOT/build/sluice" plain
if [ -z "${SLUICE_NO_ASAN:-}" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98
  export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
  unit build/asan/tests asan
  e2e "$ROOT/build/asan/sluice" asan
fi
if [ -z "${SLUICE_NO_FUZZ:-}" ]; then
  : >"$LOG"
  # two harnesses at a time (the machine has two cores), results in order
  fuzz_one() {
    f=$1 n=$(basename "$1")
    mkdir -p "build/fuzz/corpus-$n"
    seeds="tests/fuzz/corpus/$n"
    # the splitter and linter also start from the project's real SQL
    [ "$n" = fuzz_split ] && seeds="$seeds tests/lint examples/recsys/migrations"
    # shellcheck disable=SC2086
    if "$f" -max_total_time="${FUZZ_SECONDS:-15}" -max_len=65536 "build/fuzz/corpus-$n" $seeds >"$LOG.fuzz.$n" 2>&1; then
      echo "PASS fuzz: $n ($(grep -Eo 'Done [0-9]+ runs' "$LOG.fuzz.$n" | head -1))" >"$LOG.res.$n"
    else
      echo "FAIL fuzz: $n: $(grep -E 'ERROR|SUMMARY' "$LOG.fuzz.$n" | head -3 | tr '\n' ' ')" >"$LOG.res.$n"
    fi
    rm -f "$LOG.fuzz.$n"
  }
  running=0
  for f in build/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    fuzz_one "$f" &
    running=$((running + 1))
    if [ "$running" -ge 2 ]; then wait -n 2>/dev/null || wait; running=$((running - 1)); fi
  done
  wait
  for f in build/fuzz/fuzz_*; do
    n=$(basename "$f")
    [ -f "$LOG.res.$n" ] || continue
    cat "$LOG.res.$n" >>"$LOG"
    rm -f "$LOG.res.$n"
  done
  cat "$LOG"
  count >/dev/null
fi
rm -f "$LOG" "$LOG.one" "$LOG.fuzz"
echo "suite took $(( $(date +%s) - start ))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
