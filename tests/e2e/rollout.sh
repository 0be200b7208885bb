#!/bin/bash
# rollout.sh - `sluice rollout`: progressive rollout of a feature flag with
# Argo-style analysis, on real SQLite files and a real PostgreSQL (and a real
# Prometheus for the prometheus provider): a healthy rollout reaches 100%; a
# breach in phase 2 rolls back (flag 0 within one interval plus 1 s, the
# deployment rolled back, on_rollback hooks); kill -9 mid-hold resumes the
# same phase with the hold left; one controller at a time; pause, resume,
# promote and abort with and without a controller; inconclusive pauses;
# failure_limit and consecutive_error_limit; the command, gate and
# prometheus providers; the canary judge; bucketing on 100,000 ids; the
# pipeline's canary-testing and production-rollout; bad config and usage;
# the JSON documents.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"
. "$T_ROOT/tests/lib/prom.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; else echo "FAIL rollout: cannot start PostgreSQL"; fi
fi

FLAG=newf

# python3 without site: a third of its start-up time, and this script runs
# it some hundred times
json() { printf %s "$OUT" | python3 -S -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- helpers ------------------------------------------------------------------

# project BACKEND: p/sluice.yaml (environment prod; $HOOKS, then $RO, the
# rollout section, appended), a metric table serving_metrics(error_rate)
# at 0.001, a migrations dir with V1 (table newfeat) and its undo.
project() {
  BACKEND=$1
  mkdir -p p/migrations
  echo 'CREATE TABLE newfeat (id integer PRIMARY KEY, v real);' > p/migrations/V1__newfeat.sql
  echo 'DROP TABLE newfeat;' > p/migrations/U1__newfeat.sql
  if [ "$1" = sqlite ]; then
    URL="sqlite:db.sqlite"
    # the controller writes meanwhile: wait for its lock as it waits for ours
    Q() { sqlite3 -cmd ".timeout 5000" p/db.sqlite "$1"; }
  else
    DB="rollout_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -c "$1"; }
  fi
  {
    printf 'project: rollouttest\nenvironments:\n  prod:\n    url: "%s"\n' "$URL"
    printf '%s\n' "${HOOKS:-}"
    printf '%s\n' "${RO:-}"
  } > p/sluice.yaml
  Q "CREATE TABLE serving_metrics (error_rate double precision)" >/dev/null
  Q "INSERT INTO serving_metrics VALUES (0.001)" >/dev/null
}
set_metric() { Q "UPDATE serving_metrics SET error_rate = $1" >/dev/null; }

# every sluice command of a test is bounded: a controller that never ends
# (a rollout paused for good, say) fails the test instead of hanging it
rsl() { run timeout 30 "$SLUICE" -C p -e prod "$@"; }
# the flag's percent as sluice flag get prints it ("25%", or "unset")
pct() {
  local o
  o=$("$SLUICE" -C p -e prod flag get "${1:-$FLAG}" 2>/dev/null) || { echo unset; return 0; }
  printf '%s\n' "$o" | awk '$1 == "percent" { print $2 }'
}
# st EXPR [FLAG]: a python expression over the status document (r: the
# rollout, log: every log entry, d: the document); "none" when there is none
st() {
  "$SLUICE" -C p -e prod rollout status "${2:-$FLAG}" -n 100000 --format json 2>/dev/null |
    python3 -S -c "
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print('none'); sys.exit(0)
r, log = d['rollout'], d['log']
print($1)"
}
# jeach EXPR...: each python expression over the JSON in $OUT (d), one a line
jeach() {
  printf %s "$OUT" | python3 -S -c '
import json, sys
d = json.load(sys.stdin)
for e in sys.argv[1:]:
    print(eval(e))' "$@"
}
# steach EXPR...: the same over the status document (r, log, d)
steach() {
  "$SLUICE" -C p -e prod rollout status "$FLAG" -n 100000 --format json 2>/dev/null | python3 -S -c '
import json, sys
d = json.load(sys.stdin)
r, log = d["rollout"], d["log"]
for e in sys.argv[1:]:
    print(eval(e))' "$@"
}
# expect_lines GOT LINE...: GOT is these lines, in order
expect_lines() {
  local got=$1 i=0 line
  shift
  local -a g
  mapfile -t g <<< "$got"
  for line in "$@"; do
    [ "${g[$i]-<missing>}" = "$line" ] || { t_fail "line $((i + 1)): expected '$line', got '${g[$i]-<missing>}'"; return 1; }
    i=$((i + 1))
  done
  [ "${#g[@]}" = $# ] || t_fail "$# lines expected, got ${#g[@]}: $got"
}
# wait_for SECONDS CMD...: poll CMD (every 50 ms) until it succeeds
wait_for() {
  local n=$(($1 * 20)) i
  shift
  for ((i = 0; i < n; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
# the polls read the text status (no python: a tenth of the time)
# "PHASE STATUS", e.g. "2 running", from `rollout status`
phase_status() {
  "$SLUICE" -C p -e prod rollout status "$FLAG" -n 0 2>/dev/null |
    awk '$1 == "status" { s = $2; sub(/:$/, "", s) } $1 == "phase" { split($2, a, "/"); p = a[1] } END { print p, s }'
}
is_phase() { [ "$(phase_status)" = "$1 ${2:-running}" ]; }
is_status() { [ "$(phase_status | cut -d' ' -f2)" = "$1" ]; }
# bg ARGS...: `sluice rollout run ARGS` in the background: $BG, output in bg.out/bg.err
bg() {
  "$SLUICE" -C p -e prod rollout run "$@" > bg.out 2> bg.err &
  BG=$!
}
# bg_done: the background controller has exited (a zombie counts: kill -0 still answers)
bg_done() {
  local s
  s=$(ps -o stat= -p "$BG" 2>/dev/null) || return 0
  [ -z "$s" ] || [[ $s == Z* ]]
}
# bg_wait: wait (at most 30 s) for the background controller; its exit code in $BRC
bg_wait() {
  if ! wait_for 30 bg_done; then
    kill -9 "$BG" 2>/dev/null || true
    wait "$BG" 2>/dev/null || true
    t_fail "the controller did not end within 30 s: $(tail -n 5 bg.out bg.err)"
    return 1
  fi
  wait "$BG" && BRC=0 || BRC=$?
}
# kill9 PID: kill -9 and reap (a zombie still answers kill -0)
kill9() { kill -9 "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
now_ms() { date +%s%3N; }
log_names() { st '" ".join(e["name"] for e in log if e["kind"] == "event")'; }

# a command metric that prints the next line of p/seq.txt per call (the last
# line again when out of lines); ERR: exits 2 after a message on stderr
seq_script() {
  cat > p/next.sh <<'EOF'
#!/bin/sh
n=$(cat idx 2>/dev/null || echo 0); n=$((n + 1)); echo $n > idx
line=$(sed -n "${n}p" seq.txt); [ -n "$line" ] || line=$(tail -n 1 seq.txt)
case $line in ERR) echo "metrics backend down" >&2; exit 2 ;; *) echo "$line" ;; esac
EOF
  chmod +x p/next.sh
  printf '%s\n' "$@" > p/seq.txt
}

backends() { echo sqlite; [ "$PG_OK" = 1 ] && echo postgres; return 0; }

SQLMETRIC='{name: error_rate, provider: sql, query: "select error_rate from serving_metrics", max: 0.01}'

# ---- 1. healthy rollout ----------------------------------------------------------

check_healthy_rollout_reaches_100() {
  RO="rollout:
  flag: $FLAG
  environment: prod
  phases: [{traffic: 5, hold: 300ms}, \"25%: 300ms\", \"phase3: 50% traffic, 300ms\", \"100%: monitor 300ms\"]
  analysis:
    interval: 120ms
    metrics:
      - $SQLMETRIC" project "$1"
  local t0 t1
  t0=$(now_ms)
  rsl rollout run --format json
  t1=$(now_ms)
  expect_rc 0
  # one JSON document with every key
  expect_lines "$(jeach 'list(d)' 'list(d["rollout"])' 'd["ok"], d["command"], d["subcommand"]' \
      '[d["rollout"][k] for k in ("flag", "environment", "status", "phase", "phases_total", "traffic", "remaining_ms", "reason")]' \
      'd["rollout"]["finished_at"] >= d["rollout"]["started_at"], d["rollout"]["id"].startswith("ro-")' \
      '[(p["traffic"], p["hold_ms"]) for p in d["rollout"]["phases"]]' \
      'd["rollout"]["held_ms"] >= d["rollout"]["hold_ms"], d["rollout"]["controller"]' \
      '[(e["event"], e["traffic"]) for e in d["events"] if e["event"] == "phase"]' \
      'd["events"][0]["event"], d["events"][-1]["event"]')" \
    "['ok', 'command', 'subcommand', 'rollout', 'events']" \
    "['id', 'flag', 'environment', 'status', 'phase', 'phases_total', 'traffic', 'held_ms', 'hold_ms', 'remaining_ms', 'phases', 'reason', 'deployment', 'started_at', 'updated_at', 'finished_at', 'controller']" \
    "(True, 'rollout', 'run')" \
    "['$FLAG', 'prod', 'succeeded', 4, 4, 100.0, 0, None]" \
    "(True, True)" \
    "[(5.0, 300), (25.0, 300), (50.0, 300), (100.0, 300)]" \
    "(True, {'owner': None, 'alive': False, 'pending_request': None})" \
    "[('phase', 5.0), ('phase', 25.0), ('phase', 50.0), ('phase', 100.0)]" \
    "('started', 'succeeded')"
  # four phases held 0.3 s each: at least 1.2 s, and not much more
  [ $((t1 - t0)) -ge 1200 ] && [ $((t1 - t0)) -lt 3500 ] || t_fail "healthy rollout took $((t1 - t0)) ms for 1.2 s of holds"
  expect_eq "$(pct)" "100%"
  # the log: one phase event per phase, in order, samples in every phase, all successful
  expect_lines "$(steach 'r["status"], r["phase"], r["traffic"]' \
      '[(e["phase"], e["traffic"], e["detail"]) for e in log if e["name"] == "phase"]' \
      'sorted(set(e["phase"] for e in log if e["kind"] == "sample"))' \
      'set((e["name"], e["outcome"], e["value"]) for e in log if e["kind"] == "sample")' \
      '[e["seq"] for e in log] == list(range(1, len(log) + 1)), log[0]["name"], log[-1]["name"]')" \
    "('succeeded', 4, 100.0)" \
    "[(1, 5.0, 'phase 1/4: 5% for 300ms'), (2, 25.0, 'phase 2/4: 25% for 300ms'), (3, 50.0, 'phase 3/4: 50% for 300ms'), (4, 100.0, 'phase 4/4: 100% for 300ms')]" \
    "[1, 2, 3, 4]" \
    "{('error_rate', 'successful', 0.001)}" \
    "(True, 'started', 'succeeded')"
  # status in text; list shows it
  rsl rollout status "$FLAG"
  expect_rc 0
  expect_out "^status +succeeded"
  expect_out "^phase +4/4 at 100%"
  expect_out "^phases +5%/0.3s 25%/0.3s 50%/0.3s \*100%/0.3s"
  rsl rollout list --format json
  expect_rc 0
  expect_eq "$(json '[(r["flag"], r["status"]) for r in d["rollouts"]]')" "[('$FLAG', 'succeeded')]"
}

# ---- 2 and 16. breach in phase 2 ------------------------------------------------

# BACKEND ROLLBACK_DEPLOY(true|false)
check_breach_in_phase_2_rolls_back() {
  HOOKS='hooks:
  on_rollback: ["echo \"env=$SLUICE_ENV dep=${SLUICE_DEPLOYMENT_ID:-} flag=${SLUICE_FLAG:-}\" >> rolled.txt"]' \
  RO="rollout:
  flag: $FLAG
  rollback_deploy: $2
  phases: [\"5%: 400ms\", \"25%: 5s\", \"50%: 500ms\", \"100%: 500ms\"]
  analysis:
    interval: 300ms
    metrics:
      - $SQLMETRIC" project "$1"
  # the flag was fully on before this change (an earlier release): the
  # failed rollout must still leave it at 0
  rsl flag set "$FLAG" 100 -q
  expect_rc 0
  rsl deploy -q
  expect_rc 0
  rsl deployments --format json
  local dep
  dep=$(json 'd["deployments"][0]["id"] if d["deployments"][0]["status"] == "success" else "not deployed"')
  expect_eq "$(Q "SELECT count(*) FROM newfeat")" 0
  bg
  wait_for 5 is_phase 2 || t_fail "phase 2 not reached: $(cat bg.out bg.err)"
  expect_eq "$(pct)" "25%"
  # the breach; the flag must be at 0 within one interval plus 1 s
  local t0 t1 lat
  set_metric 0.5
  t0=$(now_ms)
  wait_for 5 eval '[ "$(pct)" = 0% ]' || t_fail "flag not at 0: $(pct); $(cat bg.out bg.err)"
  t1=$(now_ms)
  lat=$((t1 - t0))
  echo "decision latency ($1, rollback_deploy $2): $lat ms"
  [ "$lat" -lt 1300 ] || t_fail "flag at 0 $lat ms after the breach (target under 300 ms + 1 s)"
  bg_wait
  expect_eq "$BRC" 1 "(controller exit; $(tail -n 3 bg.err))"
  grep -q "was rolled back: metric error_rate failed" bg.err || t_fail "controller stderr: $(cat bg.err)"
  expect_eq "$(pct)" "0%"
  local depwant=None
  [ "$2" = true ] && depwant="'$dep'"
  # the decision came at the first failed sample, in phase 2, and the log says so
  expect_lines "$(steach 'r["status"], r["phase"], r["traffic"], r["controller"]["owner"], r["finished_at"] is not None' \
      '"error_rate" in r["reason"], "0.5" in r["reason"], r["deployment"]' \
      '[(e["phase"], e["outcome"]) for e in log if e["kind"] == "sample" and e["outcome"] != "successful"]' \
      '[e["name"] for e in log if e["name"] in ("decision", "flag-off", "rollback", "on_rollback", "rolled_back")]' \
      '[e["detail"] for e in log if e["name"] == "flag-off"][0].endswith("ms after the decision")')" \
    "('rolled_back', 2, 0.0, None, True)" \
    "(True, True, $depwant)" \
    "[(2, 'failed')]" \
    "$([ "$2" = true ] && echo "['decision', 'flag-off', 'rollback', 'rolled_back']" || echo "['decision', 'flag-off', 'on_rollback', 'rolled_back']")" \
    "True"
  [ -f p/rolled.txt ] || t_fail "the on_rollback hook did not run"
  rsl deployments --format json
  if [ "$2" = true ]; then
    expect_eq "$(json 'd["deployments"][0]["id"], d["deployments"][0]["status"], "error_rate" in d["deployments"][0]["reason"]')" "$dep rolled_back True"
    expect_eq "$(cat p/rolled.txt)" "env=prod dep=$dep flag="
    # the migration's table is gone
    run Q "SELECT count(*) FROM newfeat"
    [ "$RC" != 0 ] || t_fail "table newfeat still exists after the rollback"
  else
    expect_eq "$(json 'd["deployments"][0]["id"], d["deployments"][0]["status"]')" "$dep success"
    expect_eq "$(cat p/rolled.txt)" "env=prod dep= flag=$FLAG"
    expect_eq "$(Q "SELECT count(*) FROM newfeat")" 0
  fi
  rsl rollout list --format json
  expect_eq "$(json '[r["status"] for r in d["rollouts"]]')" "['rolled_back']"
}

# ---- 3. kill -9 mid-hold, restart --------------------------------------------

check_kill_mid_hold_resumes_same_phase() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 200ms\", \"25%: 1500ms\", \"50%: 300ms\"]
  analysis:
    interval: 200ms
    metrics:
      - $SQLMETRIC" project "$1"
  bg
  wait_for 5 is_phase 2 || t_fail "phase 2 not reached: $(cat bg.out bg.err)"
  wait_for 5 eval '[ "$(st "r[\"held_ms\"] >= 500")" = True ]' || t_fail "held_ms did not reach 0.5 s: $(st r)"
  kill9 "$BG"
  local held rem
  held=$(st 'r["held_ms"]')
  expect_eq "$(st 'r["status"], r["phase"], r["traffic"], r["controller"]["alive"], r["controller"]["owner"] is not None')" "running 2 25.0 False True"
  expect_eq "$(pct)" "25%"
  [ "$held" -gt 0 ] && [ "$held" -lt 1500 ] || t_fail "held_ms $held after the kill"
  # time without a controller is not monitored time
  sleep 0.5
  expect_eq "$(st 'r["held_ms"]')" "$held"
  rem=$((1500 - held + 300))
  local t0 t1
  t0=$(now_ms)
  rsl rollout run --format json
  t1=$(now_ms)
  expect_rc 0
  echo "killed at $held ms of 1500; restart took $((t1 - t0)) ms for $rem ms of hold left"
  [ $((t1 - t0)) -ge $((rem - 300)) ] && [ $((t1 - t0)) -lt $((rem + 1500)) ] ||
    t_fail "restart took $((t1 - t0)) ms for $rem ms of hold left (killed at $held ms)"
  # resumed, not started: phase 2 carried on, then phase 3
  expect_lines "$(jeach 'd["rollout"]["status"], d["rollout"]["phase"], d["rollout"]["traffic"]' \
      '[e["event"] for e in d["events"]][:1], [e["traffic"] for e in d["events"] if e["event"] == "phase"]' \
      'd["events"][0]["detail"].startswith("phase 2/3 at 25%, ")')" \
    "('succeeded', 3, 50.0)" "(['resumed'], [50.0])" "True"
  # one rollout, phase 2 announced once, one started event
  expect_eq "$(st '[e["phase"] for e in log if e["name"] == "phase"], [e["name"] for e in log].count("started"), [e["name"] for e in log].count("resumed")')" "[1, 2, 3] 1 1"
  rsl rollout list --format json
  expect_eq "$(json 'len(d["rollouts"])')" 1
  expect_eq "$(pct)" "50%"
}

# ---- 4. one controller at a time ------------------------------------------------

test_second_controller_refused_then_takes_over_after_kill() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 1500ms\", \"100%: 300ms\"]
  analysis: {interval: 250ms, metrics: [$SQLMETRIC]}" project sqlite
  bg
  local first=$BG
  wait_for 5 eval '[ "$(st "r[\"controller\"][\"alive\"]")" = True ]' || t_fail "no live controller: $(cat bg.err)"
  rsl rollout run
  expect_rc 3
  expect_err "is being run by controller $first@"
  rsl rollout run --format json
  expect_rc 3
  expect_eq "$(json 'd["ok"], d["exit_code"], "controller %s@" % '"$first"' in d["error"]["message"]')" "False 3 True"
  expect_eq "$(st 'r["controller"]["owner"].split("@")[0]')" "$first"
  kill9 "$first"
  local t0 t1
  t0=$(now_ms)
  bg
  wait_for 3 eval '[ "$(st "r[\"controller\"][\"owner\"].split(\"@\")[0] if r[\"controller\"][\"owner\"] else None")" = "$BG" ]' ||
    t_fail "the new controller did not take over: $(cat bg.err)"
  t1=$(now_ms)
  [ $((t1 - t0)) -lt 1500 ] || t_fail "take-over took $((t1 - t0)) ms"
  bg_wait
  expect_eq "$BRC" 0 "$(cat bg.err)"
  expect_eq "$(st 'r["status"], [e["name"] for e in log].count("resumed")')" "succeeded 1"
  expect_eq "$(pct)" "100%"
  # two controllers started at the same moment: exactly one runs it (the
  # other is refused at once; the one running is then aborted)
  timeout 30 "$SLUICE" -C p -e prod rollout run -q > a.out 2>&1 & local a=$!
  timeout 30 "$SLUICE" -C p -e prod rollout run -q > b.out 2>&1 & local b=$!
  wait_for 5 eval '! kill -0 $a 2>/dev/null || ! kill -0 $b 2>/dev/null' || t_fail "neither was refused"
  rsl rollout abort "$FLAG"
  expect_rc 0
  local arc brc
  wait $a && arc=0 || arc=$?
  wait $b && brc=0 || brc=$?
  expect_eq "$(printf '%s\n' $arc $brc | sort | tr '\n' ' ')" "1 3 " "(exits; $(cat a.out b.out))"
  grep -q "is being run by controller\|another controller started" a.out b.out || t_fail "no refusal: $(cat a.out b.out)"
  rsl rollout list --format json
  expect_eq "$(json '[r["status"] for r in d["rollouts"]]')" "['aborted', 'succeeded']"
}

# ---- 5. requests ------------------------------------------------------------------

test_requests_with_a_running_controller() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 2s\", \"25%: 2s\", \"100%: 2s\"]
  analysis: {interval: 200ms, metrics: [$SQLMETRIC]}" project sqlite
  bg
  wait_for 5 is_phase 1 || t_fail "not running: $(cat bg.err)"
  rsl rollout pause "$FLAG" --reason "looking at dashboards"
  expect_rc 0
  expect_out "^rollout ro-.* of flag $FLAG: paused, phase 1/3 at 5%$"
  expect_eq "$(st 'r["status"], r["reason"].startswith("pause by "), r["reason"].endswith(": looking at dashboards"), r["controller"]["alive"]')" "paused True True True"
  # paused: hold time stands still, no samples
  local h1 n1
  h1=$(st 'r["held_ms"]')
  n1=$(st 'len([e for e in log if e["kind"] == "sample"])')
  sleep 0.8
  expect_eq "$(st 'r["held_ms"], len([e for e in log if e["kind"] == "sample"])')" "$h1 $n1"
  rsl rollout pause "$FLAG"
  expect_rc 1
  expect_err "is paused: nothing to pause"
  rsl rollout resume "$FLAG" --format json
  expect_rc 0
  expect_eq "$(json 'd["subcommand"], d["rollout"]["status"], d["rollout"]["reason"]')" "resume running None"
  rsl rollout resume "$FLAG"
  expect_rc 1
  expect_err "is running: nothing to resume"
  rsl rollout promote "$FLAG" --reason "looks good"
  expect_rc 0
  expect_eq "$(st 'r["phase"], r["traffic"]')" "2 25.0"
  expect_eq "$(pct)" "25%"
  expect_eq "$(st '[e["detail"] for e in log if e["name"] == "phase"][-1].endswith(": looks good)")')" True
  rsl rollout abort "$FLAG" --reason "not today"
  expect_rc 0
  bg_wait
  expect_eq "$BRC" 1
  grep -q "was aborted" bg.err || t_fail "controller stderr: $(cat bg.err)"
  expect_eq "$(st 'r["status"], r["reason"].startswith("abort by "), r["reason"].endswith(": not today")')" "aborted True True"
  expect_eq "$(pct)" "0%"
  rsl rollout abort "$FLAG"
  expect_rc 1
  expect_err "no rollout of flag '$FLAG' is running or paused in prod"
}

test_requests_without_a_controller() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 3s\", \"25%: 3s\", \"50%: 300ms\"]
  analysis: {interval: 200ms, metrics: [$SQLMETRIC]}" project sqlite
  # no rollout at all
  rsl rollout pause "$FLAG"
  expect_rc 1
  expect_err "no rollout of flag '$FLAG' is running or paused"
  bg
  wait_for 5 is_phase 1 || t_fail "not running: $(cat bg.err)"
  kill9 "$BG"
  rsl rollout resume "$FLAG"
  expect_rc 1
  rsl rollout pause "$FLAG"
  expect_rc 0
  expect_eq "$(st 'r["status"], r["controller"]["owner"]')" "paused None"
  rsl rollout resume "$FLAG"
  expect_rc 0
  expect_eq "$(st 'r["status"], r["controller"]["owner"], r["phase"]')" "running None 1"
  rsl rollout promote "$FLAG" --format json
  expect_rc 0
  expect_eq "$(json 'd["rollout"]["phase"], d["rollout"]["traffic"], d["rollout"]["status"]')" "2 25.0 running"
  expect_eq "$(st 'r["phase"], r["traffic"], r["controller"]["owner"]')" "2 25.0 None"
  expect_eq "$(pct)" "25%"
  # a controller started now continues phase 2
  bg
  wait_for 5 eval '[ "$(st "r[\"controller\"][\"alive\"]")" = True ]' || t_fail "no controller: $(cat bg.err)"
  kill9 "$BG"
  rsl rollout abort "$FLAG"
  expect_rc 0
  expect_out ": aborted, phase 2/3 at 0%$"
  expect_eq "$(st 'r["status"], r["traffic"], r["controller"]["owner"]')" "aborted 0.0 None"
  expect_eq "$(pct)" "0%"
  rsl rollout promote "$FLAG"
  expect_rc 1
}

# ---- 6. inconclusive ----------------------------------------------------------------

INCONCLUSIVE='{name: error_rate, provider: sql, query: "select error_rate from serving_metrics", success: "result < 0.01", failure: "result > 0.05"}'

test_inconclusive_pauses_and_promote_moves_on() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 2s\", \"25%: 500ms\"]
  analysis: {interval: 200ms, metrics: [$INCONCLUSIVE]}" project sqlite
  set_metric 0.03
  bg
  wait_for 5 is_status paused || t_fail "not paused: $(cat bg.out bg.err)"
  expect_eq "$(st 'r["reason"].startswith("inconclusive"), "error_rate" in r["reason"], r["phase"], r["traffic"], r["controller"]["alive"]')" "True True 1 5.0 True"
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"]')" "['inconclusive']"
  expect_eq "$(pct)" "5%"
  # paused, it stays paused (no more samples)
  sleep 0.6
  expect_eq "$(st 'r["status"], len([e for e in log if e["kind"] == "sample"])')" "paused 1"
  set_metric 0.001
  rsl rollout promote "$FLAG"
  expect_rc 0
  bg_wait
  expect_eq "$BRC" 0 "$(cat bg.err)"
  expect_eq "$(st 'r["status"], r["phase"]')" "succeeded 2"
  expect_eq "$(pct)" "25%"
}

test_inconclusive_then_abort() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 2s\", \"25%: 500ms\"]
  analysis: {interval: 200ms, metrics: [$INCONCLUSIVE]}" project sqlite
  set_metric 0.03
  bg
  wait_for 5 is_status paused || t_fail "not paused: $(cat bg.out bg.err)"
  rsl rollout abort "$FLAG"
  expect_rc 0
  bg_wait
  expect_eq "$BRC" 1
  expect_eq "$(st 'r["status"]')" aborted
  expect_eq "$(pct)" "0%"
}

# ---- 7. Argo limits -----------------------------------------------------------------

# seq_rollout LIMITS SEQ...: a phase of 1.2 s sampled every 100 ms by p/next.sh, then one of 0.4 s
seq_rollout() {
  local limits=$1
  shift
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 1200ms\", \"10%: 400ms\"]
  analysis:
    interval: 100ms
    $limits
    metrics:
      - {name: seq, provider: command, command: ./next.sh, max: 0.01}" project sqlite
  seq_script "$@"
}

test_failure_limit_tolerates_one_failure() {
  seq_rollout "failure_limit: 1" 0.001 0.5 0.001
  rsl rollout run -q
  expect_rc 0
  expect_eq "$(st 'r["status"], [e["outcome"] for e in log if e["kind"] == "sample" and e["phase"] == 1][:3]')" "succeeded ['successful', 'failed', 'successful']"
  expect_eq "$(st 'len([e for e in log if e["outcome"] == "failed"])')" 1
  expect_eq "$(pct)" "10%"
}

test_failure_limit_rolls_back_on_the_second_failure() {
  seq_rollout "failure_limit: 1" 0.001 0.5 0.001 0.001 0.7 0.001
  rsl rollout run --format json
  expect_rc 1
  expect_eq "$(json 'd["ok"], d["exit_code"], d["rollout"]["status"], d["rollout"]["traffic"]')" "False 1 rolled_back 0.0"
  expect_eq "$(json '"metric seq failed (2 failed" in d["error"]["message"]')" True
  expect_eq "$(st '[e["value"] for e in log if e["kind"] == "sample"]')" "[0.001, 0.5, 0.001, 0.001, 0.7]"
  expect_eq "$(pct)" "0%"
}

test_consecutive_error_limit_with_a_failing_query() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 3s\"]
  analysis:
    interval: 150ms
    consecutive_error_limit: 2
    metrics:
      - {name: error_rate, provider: sql, query: \"select error_rate from no_such_table\", max: 0.01}" project sqlite
  rsl rollout run
  expect_rc 1
  expect_eq "$(st 'r["status"], "error_rate error" in r["reason"], "3 consecutive errors" in r["reason"]')" "rolled_back True True"
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"]')" "['error', 'error', 'error']"
  expect_eq "$(st '"no_such_table" in [e for e in log if e["kind"] == "sample"][0]["detail"]')" True
  expect_eq "$(pct)" "0%"
}

test_default_consecutive_error_limit_is_4() {
  seq_rollout "" ERR ERR ERR ERR ERR 0.001
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"]')" "['error', 'error', 'error', 'error', 'error']"
}

# a phase passes only on evidence: a metric never measured successfully in
# the phase (errors below the limit) rolls back when the hold is over
test_phase_without_a_successful_measurement_rolls_back() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 500ms\", \"100%: 300ms\"]
  analysis:
    interval: 100ms
    consecutive_error_limit: -1
    metrics:
      - {name: seq, provider: command, command: ./next.sh, max: 0.01}" project sqlite
  seq_script ERR
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st 'r["status"], r["phase"], r["reason"].startswith("metric seq had no successful measurement in phase 1"), set(e["outcome"] for e in log if e["kind"] == "sample")')" "rolled_back 1 True {'error'}"
  expect_eq "$(pct)" "0%"
}

test_errors_interleaved_with_successes_do_not_trip() {
  seq_rollout "consecutive_error_limit: 2" ERR ERR 0.001 ERR ERR 0.001 ERR ERR 0.001 ERR ERR 0.001
  rsl rollout run -q
  expect_rc 0
  expect_eq "$(st 'r["status"]')" succeeded
  expect_eq "$(st 'len([e for e in log if e["outcome"] == "error"]) >= 6')" True
}

# ---- 8. command provider --------------------------------------------------------------

test_command_provider_sees_flag_phase_and_traffic() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 300ms\", \"25%: 300ms\"]
  analysis:
    interval: 100ms
    metrics:
      - {name: cmd, provider: command, command: 'echo \"\$SLUICE_FLAG \$SLUICE_PHASE \$SLUICE_TRAFFIC\" >> env.log; printf \"0.001\\n0.002, 0.003\\n\"', max: 0.01}" project sqlite
  rsl rollout run -q
  expect_rc 0
  expect_eq "$(sort -u p/env.log | tr '\n' '|')" "$FLAG 1 5|$FLAG 2 25|"
  expect_eq "$(st '[(e["value"], e["detail"]) for e in log if e["kind"] == "sample"][0]')" "(0.001, 'values 0.001, 0.002, 0.003')"
}

test_command_exiting_2_is_an_error() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 2s\"]
  analysis:
    interval: 150ms
    consecutive_error_limit: 0
    metrics:
      - {name: cmd, provider: command, command: 'echo 0.001; exit 2', max: 0.01}" project sqlite
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st 'r["status"], [e["outcome"] for e in log if e["kind"] == "sample"]')" "rolled_back ['error']"
  expect_eq "$(st '"exit" in [e for e in log if e["kind"] == "sample"][0]["detail"] and "2" in [e for e in log if e["kind"] == "sample"][0]["detail"]')" True
  # a command printing no number is an error too
  sed -i "s/command: 'echo 0.001; exit 2'/command: 'echo fine'/" p/sluice.yaml
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st '[e["detail"] for e in log if e["kind"] == "sample"]')" "[\"provider error: command printed 'fine', not a number\"]"
}

# ---- 9. canary judge -----------------------------------------------------------------

# canary_project SLOWER: latency(cohort, ms), 200 rows per cohort; the
# canary's values SLOWER ms above the baseline's
canary_project() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 400ms\", \"25%: 400ms\"]
  analysis:
    interval: 150ms
    metrics:
      - {name: latency_ms, provider: sql, direction: increase,
         canary: \"select ms from latency where cohort = 'canary'\",
         baseline: \"select ms from latency where cohort = 'baseline'\"}" project sqlite
  Q "CREATE TABLE latency (cohort text, ms real);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
     INSERT INTO latency SELECT 'baseline', 100 + (i * 37) % 50 FROM n;
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
     INSERT INTO latency SELECT 'canary', 100 + $1 + (i * 53) % 50 FROM n;"
}

test_canary_judge_equal_distributions_pass() {
  canary_project 0
  rsl rollout run -q
  expect_rc 0
  expect_eq "$(st 'r["status"], set((e["name"], e["outcome"], e["value"]) for e in log if e["kind"] == "sample")')" "succeeded {('canary', 'successful', 100.0)}"
  expect_eq "$(st '"latency_ms Pass (200 vs 200)" in [e for e in log if e["kind"] == "sample"][0]["detail"]')" True
}

test_canary_judge_slower_canary_rolls_back() {
  canary_project 30
  rsl rollout run
  expect_rc 1
  expect_eq "$(st 'r["status"], r["phase"], [(e["name"], e["outcome"], e["value"]) for e in log if e["kind"] == "sample"]')" "rolled_back 1 [('canary', 'failed', 0.0)]"
  expect_eq "$(st '"latency_ms High" in r["reason"]')" True
  expect_eq "$(pct)" "0%"
}

# ---- 10. gate provider -----------------------------------------------------------------

gate_project() {
  RO="rollout:
  flag: $FLAG
  phases: [$1]
  analysis:
    interval: 150ms
    metrics:
      - {name: quality, provider: gate, table: user_features, gate: completeness}" project sqlite
  mkdir -p p/features
  cat > p/features/user_features.yaml <<'EOF'
table: user_features
key: user_id
owner: ml
description: per-user features
columns:
  score: {type: real, description: "a score", owner: ml}
gates:
  completeness: {min: 0.95}
EOF
  Q "CREATE TABLE user_features (user_id integer PRIMARY KEY, score real);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
     INSERT INTO user_features SELECT i, (i % 100) / 100.0 FROM n;"
}

# the gate runs on the flagged cohort only: NULLs outside the 50% cohort do
# not fail phases at 5% and 25%, and fail the phase at 100%
test_gate_provider_judges_the_flagged_cohort() {
  gate_project '"5%: 300ms", "25%: 300ms", "100%: 1s"'
  rsl flag set "$FLAG" 50
  seq 1 2000 | "$SLUICE" -C p -e prod flag eval "$FLAG" --stdin | awk -F'\t' '$2 == 0 { print $1 }' > off50.txt
  local n
  n=$(wc -l < off50.txt)
  [ "$n" -gt 800 ] && [ "$n" -lt 1200 ] || t_fail "$n of 2000 ids off at 50%"
  Q "UPDATE user_features SET score = NULL WHERE user_id IN ($(paste -sd, off50.txt))"
  # the whole table fails the gate
  rsl gate user_features
  expect_rc 1
  rsl rollout run
  expect_rc 1
  expect_eq "$(st 'r["status"], r["phase"]')" "rolled_back 3"
  expect_eq "$(st 'sorted(set((e["phase"], e["outcome"]) for e in log if e["kind"] == "sample"))')" "[(1, 'successful'), (2, 'successful'), (3, 'failed')]"
  expect_eq "$(st '"gate failed" in r["reason"]')" True
  expect_eq "$(pct)" "0%"
}

# NULL out the feature for exactly the ids the flag enables in phase 2: rolled back
test_gate_provider_rolls_back_when_the_cohort_degrades() {
  gate_project '"5%: 500ms", "25%: 4s", "100%: 300ms"'
  bg
  wait_for 5 is_phase 2 || t_fail "phase 2 not reached: $(cat bg.out bg.err)"
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"][0]')" successful
  # the ids the flag enables now (25%), then NULL out exactly those rows in
  # the sqlite3 shell through the loadable extension
  seq 1 2000 | "$SLUICE" -C p -e prod flag eval "$FLAG" --stdin | awk -F'\t' '$2 == 1 { print $1 }' > on.txt
  [ "$(wc -l < on.txt)" -gt 300 ] || t_fail "$(wc -l < on.txt) of 2000 ids enabled at 25%; $(st log)"
  local ext
  ext=$(cd "$(dirname "$SLUICE")" && pwd)/sluice_flags
  [ -f "$ext.so" ] || ext=$(cd "$(dirname "$SLUICE")/.." && pwd)/sluice_flags
  sqlite3 -cmd ".timeout 5000" p/db.sqlite ".load $ext" "UPDATE user_features SET score = NULL WHERE sluice_flag_enabled('$FLAG', CAST(user_id AS TEXT))"
  local nulled
  nulled=$(Q "SELECT group_concat(user_id, ' ') FROM (SELECT user_id FROM user_features WHERE score IS NULL ORDER BY user_id)")
  expect_eq "$nulled" "$(tr '\n' ' ' < on.txt | sed 's/ $//')" "(NULLed rows vs the ids flag eval enables; $(st log))"
  bg_wait
  expect_eq "$BRC" 1 "$(cat bg.err)"
  expect_eq "$(st 'r["status"], r["phase"], "quality failed" in r["reason"]')" "rolled_back 2 True"
  expect_eq "$(pct)" "0%"
}

# ---- 11. bucketing -----------------------------------------------------------------------

check_bucketing_on_100000_ids() {
  project "$1"
  seq 1 100000 > ids.txt
  local p prev=
  for p in 5 25 50 100; do
    rsl flag set "$FLAG" $p
    expect_rc 0
    "$SLUICE" -C p -e prod flag eval "$FLAG" --stdin < ids.txt | awk -F'\t' '$2 == 1 { print $1 }' | sort > on$p.txt
    local n
    n=$(wc -l < on$p.txt)
    python3 -c "import sys; n, p = int(sys.argv[1]), int(sys.argv[2]); sys.exit(0 if abs(n / 1000 - p) <= 0.5 else 1)" "$n" "$p" ||
      t_fail "$n of 100000 enabled at $p% (more than 0.5 points off)"
    echo "$p%: $n enabled"
    if [ -n "$prev" ]; then
      expect_eq "$(comm -23 on$prev.txt on$p.txt | wc -l)" 0 "(ids on at $prev% and off at $p%)"
    fi
    prev=$p
  done
  expect_eq "$(wc -l < on100.txt)" 100000
}

# ---- 12. prometheus -------------------------------------------------------------------------

prom_ready() {
  [ -n "$PROM_DIR" ] || t_fail "no prometheus started"
  wait_for 30 eval '[ -s "$PROM_DIR/ready" ] || [ -f "$PROM_DIR/failed" ]'
  [ -s "$PROM_DIR/ready" ] || t_fail "prometheus did not start: $(cat "$PROM_DIR/start.log")"
  read -r PROM_URL PROM_PID PROM_EXPORTER_PID < "$PROM_DIR/ready"
  export PROM_URL
}

prom_project() {
  RO="rollout:
  flag: $FLAG
  phases: [$1]
  analysis:
    interval: 300ms
    metrics:
      - {name: serving_error_rate, provider: prometheus, url: \"$PROM_URL\", query: 'serving_error_rate', max: 0.01}" project sqlite
}

test_prometheus_healthy_rollout() {
  prom_ready
  prom_exporter_set "$PROM_DIR" 'serving_error_rate 0.001'
  prom_wait_value serving_error_rate 0.001
  prom_project '"5%: 500ms", "50%: 500ms", "100%: 300ms"'
  rsl rollout run -q
  expect_rc 0
  expect_eq "$(st 'r["status"], set((e["name"], e["outcome"], e["value"]) for e in log if e["kind"] == "sample")')" "succeeded {('serving_error_rate', 'successful', 0.001)}"
  expect_eq "$(pct)" "100%"
}

test_prometheus_breach_rolls_back() {
  prom_ready
  prom_exporter_set "$PROM_DIR" 'serving_error_rate 0.001'
  prom_wait_value serving_error_rate 0.001
  prom_project '"5%: 500ms", "25%: 20s", "100%: 300ms"'
  bg
  wait_for 5 is_phase 2 || t_fail "phase 2 not reached: $(cat bg.out bg.err)"
  prom_exporter_set "$PROM_DIR" 'serving_error_rate 0.5'
  prom_wait_value serving_error_rate 0.5
  local t0
  t0=$(now_ms)
  wait_for 5 eval '[ "$(pct)" = 0% ]' || t_fail "flag not at 0: $(pct)"
  echo "prometheus: flag at 0 $(($(now_ms) - t0)) ms after Prometheus had the value"
  bg_wait
  expect_eq "$BRC" 1
  expect_eq "$(st 'r["status"], r["phase"], "serving_error_rate failed" in r["reason"], "0.5" in r["reason"]')" "rolled_back 2 True True"
  prom_exporter_set "$PROM_DIR" 'serving_error_rate 0.001'
}

test_prometheus_unreachable_is_an_error() {
  # a port nobody listens on: each measurement is an error
  local port
  port=$(prom_free_port)
  PROM_URL="http://127.0.0.1:$port" prom_project '"5%: 3s"'
  sed -i 's/interval: 300ms/interval: 150ms\n    consecutive_error_limit: 1/' p/sluice.yaml
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"]')" "['error', 'error']"
}

# ---- 13. the pipeline ------------------------------------------------------------------------

test_pipeline_canary_and_production_rollout() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 15min\", \"25%: 30min\", \"50%: 60min\", \"100%: monitor 2h\"]
  analysis:
    interval: 10m
    metrics:
      - $SQLMETRIC
pipeline:
  name: release
  stages:
    - name: canary
      env: prod
      steps:
        - canary-testing: \"5% traffic\"
    - name: production
      env: prod
      steps:
        - production-rollout: {strategy: progressive, phases: [\"5%: 15min\", \"25%: 30min\", \"50%: 60min\", \"100%: monitor 2h\"]}" project sqlite
  local t0 t1
  t0=$(now_ms)
  rsl run --time-scale 10000
  t1=$(now_ms)
  expect_rc 0
  echo "pipeline: $((t1 - t0)) ms for 3h45m of phases at --time-scale 10000"
  [ $((t1 - t0)) -ge 1350 ] && [ $((t1 - t0)) -lt 8000 ] || t_fail "pipeline took $((t1 - t0)) ms"
  expect_eq "$(pct)" "100%"
  rsl rollout list --format json
  expect_rc 0
  expect_eq "$(json '[(r["flag"], r["status"], r["phases_total"], r["traffic"]) for r in d["rollouts"]]')" \
    "[('$FLAG', 'succeeded', 4, 100.0), ('$FLAG', 'succeeded', 1, 5.0)]"
  expect_eq "$(json '[p["hold_ms"] for p in d["rollouts"][0]["phases"]], d["rollouts"][1]["phases"]')" \
    "[900000, 1800000, 3600000, 7200000] [{'traffic': 5.0, 'hold_ms': 900000}]"
  # the production rollout deployed V1 first
  expect_eq "$(Q "SELECT count(*) FROM newfeat")" 0
  rsl rollout list
  expect_out "succeeded +4/4 +100%"
  expect_out "succeeded +1/1 +5%"
}

test_pipeline_rollout_breach_fails_the_stage() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 15min\", \"100%: 15min\"]
  analysis:
    interval: 5m
    metrics:
      - $SQLMETRIC
pipeline:
  name: release
  stages:
    - name: production
      env: prod
      steps:
        - production-rollout: {strategy: progressive}" project sqlite
  set_metric 0.2
  rsl run --time-scale 10000
  expect_rc 1
  expect_eq "$(st 'r["status"], r["deployment"] is not None')" "rolled_back True"
  expect_eq "$(pct)" "0%"
  rsl deployments --format json
  expect_eq "$(json 'd["deployments"][0]["status"]')" rolled_back
}

# ---- 14. bad config and usage ---------------------------------------------------------------

# bad_config LINE MESSAGE_REGEX ROLLOUT_YAML: rollout run exits 2 naming sluice.yaml:LINE
bad_config() {
  RO=$3 project sqlite
  rsl rollout run
  [ "$RC" = 2 ] || t_fail "exit $RC, expected 2, for: $3 ($ERR)"
  printf %s "$ERR" | grep -qE -- "sluice.yaml:$1:[0-9]+: .*$2" || t_fail "stderr lacks sluice.yaml:$1: /$2/: $ERR"
  # nothing was started
  rsl rollout list
  expect_out "^no rollouts in prod$"
  rm -rf p
}

test_bad_config_exits_2_with_file_and_line() {
  # the project's header is 4 lines and a blank one: rollout: is line 7
  bad_config 9 "unknown key 'bogus' in rollout" "
rollout:
  flag: $FLAG
  bogus: 1
  phases: [\"5%: 1s\"]"
  bad_config 9 "'5: 15min'" "
rollout:
  flag: $FLAG
  phases: [\"5: 15min\"]"
  bad_config 10 "phases only raise traffic" "
rollout:
  flag: $FLAG
  phases: [\"25%: 1s\",
           \"5%: 1s\"]"
  bad_config 13 "unknown provider 'graphite'" "
rollout:
  flag: $FLAG
  phases: [\"5%: 1s\"]
  analysis:
    metrics:
      - name: m
        provider: graphite
        query: x"
  bad_config 12 "result <" "
rollout:
  flag: $FLAG
  phases: [\"5%: 1s\"]
  analysis:
    metrics:
      - {name: m, provider: sql, query: \"select 1\", success: \"result <\"}"
  bad_config 9 "nope" "
rollout:
  flag: $FLAG
  environment: nope
  phases: [\"5%: 1s\"]"
  bad_config 12 "nope" "
rollout:
  flag: $FLAG
  phases: [\"5%: 1s\"]
  analysis:
    metrics:
      - {name: m, provider: sql, environment: nope, query: \"select 1\"}"
  bad_config 10 "" "
rollout:
  flag: $FLAG
  phases: [\"5%: 1s\"]
  analysis: {interval: soon}"
}

test_validate_checks_the_rollout_section() {
  RO="rollout:
  flag: $FLAG
  bogus: 1
  phases: [\"5%: 1s\"]" project sqlite
  rsl validate
  expect_rc 2
  expect_err "sluice.yaml:8:"
}

test_bad_usage_exits_2() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 1s\"]" project sqlite
  rsl rollout bogus
  expect_rc 2
  expect_err "unknown rollout subcommand 'bogus'"
  rsl rollout
  expect_rc 2
  local s
  for s in 0 -1 0.5 abc inf nan; do
    rsl rollout run --time-scale "$s"
    [ "$RC" = 2 ] || t_fail "--time-scale $s: exit $RC"
  done
  expect_err "invalid --time-scale"
  rsl rollout status --time-scale 10
  expect_rc 2
  rsl rollout run --reason x
  expect_rc 2
  rsl rollout list extra
  expect_rc 2
  rsl rollout run "$FLAG" extra
  expect_rc 2
  rsl rollout run other_flag
  expect_rc 2
  expect_err "no rollout of flag 'other_flag'"
  rsl rollout status --limit x
  expect_rc 2
  rsl run --time-scale 0
  expect_rc 2
  # status of an unknown flag: 1 (before and after the tables exist)
  rsl rollout status nosuch
  expect_rc 1
  expect_err "no rollout of flag 'nosuch' in prod"
  rsl rollout status nosuch --format json
  expect_rc 1
  expect_eq "$(json 'd["ok"], d["exit_code"]')" "False 1"
  rsl rollout run -q
  expect_rc 0
  rsl rollout status nosuch
  expect_rc 1
  rsl rollout status
  expect_rc 0
  expect_out "^flag +$FLAG \(prod\)"
}

# ---- 15. JSON of status -------------------------------------------------------------------------

test_status_json_has_rollout_and_log() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 300ms\", \"100%: 300ms\"]
  analysis: {interval: 100ms, metrics: [$SQLMETRIC]}" project sqlite
  rsl rollout list --format json
  expect_rc 0
  expect_eq "$(json 'd')" "{'ok': True, 'command': 'rollout', 'subcommand': 'list', 'rollouts': []}"
  rsl rollout run -q
  expect_rc 0
  rsl rollout status "$FLAG" --format json -n 3
  expect_rc 0
  expect_eq "$(json 'list(d), d["subcommand"], len(d["log"]), d["log"][-1]["name"]')" "['ok', 'command', 'subcommand', 'rollout', 'log'] status 3 succeeded"
  expect_eq "$(json 'sorted(d["log"][0])')" "['at', 'detail', 'kind', 'name', 'outcome', 'phase', 'seq', 'traffic', 'value']"
  expect_eq "$(json 'd["rollout"]["id"].startswith("ro-"), d["rollout"]["started_at"] <= d["rollout"]["updated_at"], d["rollout"]["started_at"].endswith("Z")')" "True True True"
  rsl rollout status "$FLAG" --format json
  expect_eq "$(json 'len(d["log"]) <= 20, [e["seq"] for e in d["log"]] == sorted(e["seq"] for e in d["log"])')" "True True"
}

# ---- more: heartbeat, counters across a restart, timeouts, no data ------------------

# a live controller keeps its heartbeat fresh (BEAT_MS = 1 s), also when it
# measures more often than that: a stale one is "gone" after 15 s and a
# second controller would take over while the first still runs
test_heartbeat_is_fresh_while_measuring_often() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 3s\"]
  analysis: {interval: 200ms, metrics: [$SQLMETRIC]}" project sqlite
  bg
  wait_for 5 is_phase 1 || t_fail "not running: $(cat bg.err)"
  sleep 2
  local age
  age=$(( $(now_ms) - $(Q "SELECT heartbeat_ms FROM sluice_rollouts") ))
  kill9 "$BG"
  [ "$age" -lt 1500 ] || t_fail "heartbeat $age ms old after 2 s of a live controller (interval 200ms; beat every 1 s)"
}

# the Argo counters of the analysis run survive a restart: one failure
# before the kill, one after, failure_limit 1: rolled back at once
test_failure_count_survives_a_restart() {
  seq_rollout "failure_limit: 1" 0.001 0.5 0.001
  sed -i 's/5%: 1200ms/5%: 5s/' p/sluice.yaml
  bg
  wait_for 5 eval '[ "$(st "[e[\"outcome\"] for e in log if e[\"kind\"] == \"sample\"][:3]")" = "['"'successful', 'failed', 'successful'"']" ]' ||
    t_fail "no failure sampled: $(st log)"
  kill9 "$BG"
  echo 0.5 > p/seq.txt
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st 'r["status"], r["phase"]')" "rolled_back 1"
  # after the restart: one sample, the failed one that decided
  expect_eq "$(st '[e["outcome"] for e in log[[e["name"] for e in log].index("resumed"):] if e["kind"] == "sample"]')" "['failed']"
  expect_eq "$(st '"(2 failed" in r["reason"]')" True
}

test_command_timeout_is_an_error() {
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 5s\"]
  analysis:
    interval: 100ms
    consecutive_error_limit: 0
    metrics:
      - {name: slow, provider: command, command: 'sleep 5; echo 0', timeout: 300ms, max: 1}" project sqlite
  local t0 t1
  t0=$(now_ms)
  rsl rollout run -q
  t1=$(now_ms)
  expect_rc 1
  [ $((t1 - t0)) -lt 2500 ] || t_fail "a 300ms timeout took $((t1 - t0)) ms"
  expect_eq "$(st '[e["outcome"] for e in log if e["kind"] == "sample"]')" "['error']"
}

# a cohort without observations is NoData: too little data to judge is
# inconclusive (the rollout pauses for a person), not a failure
test_canary_judge_without_data_is_inconclusive() {
  canary_project 0
  Q "DELETE FROM latency WHERE cohort = 'canary'"
  bg -q
  wait_for 5 is_status paused || t_fail "not paused: $(cat bg.out bg.err)"
  expect_eq "$(st '[(e["name"], e["outcome"]) for e in log if e["kind"] == "sample"], r["reason"].startswith("inconclusive"), "latency_ms NoData (0 vs 200)" in r["reason"]')" "[('canary', 'inconclusive')] True True"
  rsl rollout abort "$FLAG"
  expect_rc 0
  bg_wait
  expect_eq "$BRC" 1
  expect_eq "$(pct)" "0%"
}

# a metric measured on another environment's database
test_sql_metric_on_another_environment() {
  RO="rollout:
  flag: $FLAG
  environment: prod
  phases: [\"5%: 1500ms\"]
  analysis:
    interval: 100ms
    metrics:
      - {name: remote, provider: sql, environment: metrics, query: \"select v from m\", max: 0.01}" project sqlite
  sed -i 's/^environments:$/environments:\n  metrics:\n    url: "sqlite:metrics.sqlite"/' p/sluice.yaml
  sqlite3 p/metrics.sqlite "CREATE TABLE m (v real); INSERT INTO m VALUES (0.001)"
  bg
  wait_for 5 eval '[ "$(st "len([e for e in log if e[\"kind\"] == \"sample\"]) >= 2")" = True ]' || t_fail "no samples: $(cat bg.err)"
  sqlite3 -cmd ".timeout 5000" p/metrics.sqlite "UPDATE m SET v = 0.7"
  bg_wait
  expect_eq "$BRC" 1 "$(cat bg.err)"
  expect_eq "$(st 'r["status"], r["environment"], "remote failed" in r["reason"], [e["value"] for e in log if e["outcome"] == "failed"]')" "rolled_back prod True [0.7]"
  expect_eq "$(sqlite3 p/metrics.sqlite "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sluice%'")" 0
}

test_prometheus_query_without_series_is_an_error() {
  prom_ready
  RO="rollout:
  flag: $FLAG
  phases: [\"5%: 3s\"]
  analysis:
    interval: 150ms
    consecutive_error_limit: 1
    metrics:
      - {name: absent, provider: prometheus, url: \"$PROM_URL\", query: 'no_such_metric_total', max: 1}" project sqlite
  rsl rollout run -q
  expect_rc 1
  expect_eq "$(st '[(e["outcome"], e["detail"]) for e in log if e["kind"] == "sample"]')" "[('error', 'no value'), ('error', 'no value')]"
}

# the seed's phase forms, no analysis (phases only), --time-scale: the
# record keeps logical time
test_time_scale_and_the_seed_phase_forms() {
  RO="rollout:
  flag: $FLAG
  phases: [{phase1: \"5% traffic, 15min\"}, \"phase2: 25% traffic, 30min\", {traffic: 50, hold: 1h}, \"100%: monitor 2h\"]" project sqlite
  local t0 t1
  t0=$(now_ms)
  rsl rollout run --time-scale 9000 --format json
  t1=$(now_ms)
  expect_rc 0
  echo "3h45m at --time-scale 9000 took $((t1 - t0)) ms"
  [ $((t1 - t0)) -ge 1450 ] && [ $((t1 - t0)) -lt 3500 ] || t_fail "3h45m at --time-scale 9000 took $((t1 - t0)) ms (1.5 s expected)"
  expect_lines "$(jeach '[(p["traffic"], p["hold_ms"]) for p in d["rollout"]["phases"]]' \
      'd["rollout"]["status"], d["rollout"]["held_ms"] >= 7200000, d["rollout"]["held_ms"] < 7200000 + 9000 * 300' \
      '[e["detail"] for e in d["events"] if e["event"] == "phase"]')" \
    "[(5.0, 900000), (25.0, 1800000), (50.0, 3600000), (100.0, 7200000)]" \
    "('succeeded', True, True)" \
    "['phase 1/4: 5% for 15m', 'phase 2/4: 25% for 30m', 'phase 3/4: 50% for 1h', 'phase 4/4: 100% for 2h']"
  expect_eq "$(pct)" "100%"
}

for b in $(backends); do
  eval "test_healthy_rollout_reaches_100_$b() { check_healthy_rollout_reaches_100 $b; }"
  eval "test_breach_in_phase_2_rolls_back_the_deployment_$b() { check_breach_in_phase_2_rolls_back $b true; }"
  eval "test_breach_in_phase_2_without_deploy_rollback_$b() { check_breach_in_phase_2_rolls_back $b false; }"
  eval "test_kill_mid_hold_resumes_same_phase_$b() { check_kill_mid_hold_resumes_same_phase $b; }"
done

test_bucketing_on_100000_ids() { check_bucketing_on_100000_ids sqlite; }

# One Prometheus for every prometheus test (when one is selected), started
# in the background before the tests (it takes ~7 s) and stopped on exit;
# the tests wait for $PROM_DIR/ready.
PROM_DIR=
if declare -F | awk '{ print $3 }' | grep '^test_prometheus' | grep -qE "${T_ONLY:-.}"; then
  PROM_DIR=$(mktemp -d /tmp/sluice-prom.XXXXXX)
  prom_exporter_set "$PROM_DIR" 'serving_error_rate 0.001'
  ( if prom_exporter_start "$PROM_DIR" && prom_start "$PROM_DIR"; then
      printf '%s %s %s\n' "$PROM_URL" "$PROM_PID" "$PROM_EXPORTER_PID" > "$PROM_DIR/ready.tmp"
      mv "$PROM_DIR/ready.tmp" "$PROM_DIR/ready"
    else
      prom_stop
      : > "$PROM_DIR/failed"
    fi ) >"$PROM_DIR/start.log" 2>&1 &
  PROM_STARTER=$!
fi
cleanup() {
  pg_stop
  if [ -n "$PROM_DIR" ]; then
    wait "$PROM_STARTER" 2>/dev/null || true
    if [ -s "$PROM_DIR/ready" ]; then
      read -r _ PROM_PID PROM_EXPORTER_PID < "$PROM_DIR/ready"
      prom_stop
    fi
    rm -rf "$PROM_DIR"
  fi
}
trap cleanup EXIT


t_run
