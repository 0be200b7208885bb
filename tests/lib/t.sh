# tests/lib/t.sh - a tiny assertion library for the end-to-end scripts.
# Each test is a shell function named test_<behaviour>; t_run calls every
# such function in a fresh temp dir and prints "PASS name" or
# "FAIL name: reason" (the runner counts those lines).
#
#   SLUICE      the binary under test (plain or sanitized build)
#   T_ROOT      the repository root
#
# Assertions return non-zero and record the reason; a test fails at its
# first failed assertion (tests run under `set -e` semantics via t_check).

T_ROOT=${T_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SLUICE=${SLUICE:-$T_ROOT/build/sluice}
T_FAILS=0
T_PASSES=0

t_fail() { echo "ASSERT: $*" >&2; return 1; }

# run CMD...: capture stdout, stderr and exit code into $OUT $ERR $RC
run() {
  OUT=$("$@" 2>"$T_TMP/.stderr") && RC=0 || RC=$?
  ERR=$(cat "$T_TMP/.stderr")
  return 0
}
# sl ARGS...: run sluice
sl() { run "$SLUICE" "$@"; }

expect_rc() {
  [ "$RC" = "$1" ] || t_fail "expected exit $1, got $RC; stderr: $(printf %s "$ERR" | head -c 600) stdout: $(printf %s "$OUT" | head -c 300)"
}
expect_out() { printf %s "$OUT" | grep -qE -- "$1" || t_fail "stdout lacks /$1/: $(printf %s "$OUT" | head -c 600)"; }
expect_err() { printf %s "$ERR" | grep -qE -- "$1" || t_fail "stderr lacks /$1/: $(printf %s "$ERR" | head -c 600)"; }
expect_no_out() { ! printf %s "$OUT" | grep -qE -- "$1" || t_fail "stdout has /$1/"; }
expect_no_err() { ! printf %s "$ERR" | grep -qE -- "$1" || t_fail "stderr has /$1/"; }
expect_eq() { [ "$1" = "$2" ] || t_fail "expected '$2', got '$1' ${3:-}"; }
# json EXPR: evaluate a python expression on the JSON in $OUT (as d)
json() { printf %s "$OUT" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# t_reap DIR: kill -9 every process whose working directory is in DIR
t_reap() {
  local d cwd
  for d in /proc/[0-9]*; do
    cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
    case $cwd in "$1" | "$1"/*) kill -9 "${d#/proc/}" 2>/dev/null ;; esac
  done
  return 0
}

t_run() {
  for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
    if [ -n "${T_ONLY:-}" ] && ! printf %s "$t" | grep -qE "$T_ONLY"; then continue; fi
    T_TMP=$(mktemp -d /tmp/sluice-t.XXXXXX)
    chmod 755 "$T_TMP"
    # a watchdog: a test that hangs (a background process it waits for)
    # is killed with everything running in its directory after T_TIMEOUT
    ( sleep "${T_TIMEOUT:-300}"; echo "ASSERT: timed out after ${T_TIMEOUT:-300} s" >>"$T_TMP/.log"
      t_reap "$T_TMP" ) >/dev/null 2>&1 &
    local wd=$!
    ( cd "$T_TMP"; set -e; $t ) >"$T_TMP/.log" 2>&1
    local rc=$?
    kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null
    t_reap "$T_TMP"
    if [ $rc = 0 ]; then
      echo "PASS ${T_SUITE:-e2e}: $t"
      T_PASSES=$((T_PASSES + 1))
    else
      echo "FAIL ${T_SUITE:-e2e}: $t: $(tail -n 3 "$T_TMP/.log" | tr '\n' ' ' | head -c 1500)"
      T_FAILS=$((T_FAILS + 1))
    fi
    rm -rf "$T_TMP"
  done
}
