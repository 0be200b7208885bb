#!/bin/bash
# flag.sh - `sluice flag set|get|list|eval` on SQLite and on a real
# PostgreSQL: text and JSON, bad input (exit 2, nothing written), an unset
# flag is off, raising 5% -> 25% only adds entities, and the C code (CLI),
# the database (sluice.flag_bucket/flag_enabled on PostgreSQL, the loadable
# extension through the sqlite3 shell) and Python's hashlib agree on
# 100,000 ids.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL flag: cannot start PostgreSQL"; fi
fi

# The loadable SQLite extension is built beside the plain binary: $(B)/ for
# $(B)/sluice, and one level up for the sanitized $(B)/asan/sluice.
EXT=
for d in "$(dirname "$SLUICE")" "$(dirname "$SLUICE")/.."; do
  if [ -f "$d/sluice_flags.so" ]; then EXT="$(cd "$d" && pwd)/sluice_flags"; break; fi
done

N=100000
ODD="it's \"odd\" ünï;--"   # a flag name with quotes, unicode and SQL comment marks

# project BACKEND: p/sluice.yaml with one environment, prod
project() {
  mkdir -p p
  if [ "$1" = sqlite ]; then
    URL="sqlite:db.sqlite"
    Q() { sqlite3 p/db.sqlite "$@"; }
  else
    DB="flag_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -F "$(printf '\t')" "$@"; }
  fi
  printf 'project: flagtest\nenvironments:\n  prod:\n    url: "%s"\n' "$URL" > p/sluice.yaml
}

fsl() { sl -C p -e prod "$@"; }
ids() { seq 1 "$1" | sed 's/^/user-/'; }
# BACKEND FLAG N: ENTITY<TAB>0|1<TAB>BUCKET for user-1..user-N computed by the database
sql_eval() {
  if [ "$1" = sqlite ]; then
    local lit=${2//\'/\'\'}
    sqlite3 -separator "$(printf '\t')" p/db.sqlite ".load $EXT" \
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
       SELECT 'user-' || i, sluice_flag_enabled('$lit', 'user-' || i), sluice_flag_bucket('$lit', 'user-' || i) FROM n ORDER BY i"
  else
    psql -Atq -d "$DB" -F "$(printf '\t')" -v flag="$2" <<EOF
SELECT 'user-' || i, sluice.flag_enabled(:'flag', 'user-' || i)::int, sluice.flag_bucket(:'flag', 'user-' || i)
FROM generate_series(1, $3) i ORDER BY i;
EOF
  fi
}
# python's hashlib over stdin ids: the rule written a fourth time, independently
py_eval() {
  python3 -c '
import hashlib, sys
name, bp = sys.argv[1].encode(), int(sys.argv[2])
for line in sys.stdin.buffer:
    e = line.rstrip(b"\n")
    b = int.from_bytes(hashlib.sha256(name + b":" + e).digest()[:4], "big") % 10000
    sys.stdout.buffer.write(e + b"\t%d\t%d\n" % (int(b < bp), b))' "$1" "$2"
}

backends() { echo sqlite; [ "$PG_OK" = 1 ] && echo postgres; return 0; }

check_set_get_list_in_text_and_json() {
  project "$1"
  fsl flag list
  expect_rc 0
  expect_out "^no flags in prod$"
  fsl flag list --format json
  expect_eq "$(json 'd')" "{'ok': True, 'command': 'flag', 'subcommand': 'list', 'flags': []}"
  SLUICE_ACTOR=alice fsl flag set checkout 5 --reason "canary for EU"
  expect_rc 0
  expect_out "^flag checkout set to 5% in prod \(was not set\)$"
  SLUICE_ACTOR=bob fsl flag set checkout 12.5 --format json
  expect_rc 0
  expect_eq "$(json 'd["flag"]["name"], d["flag"]["percent"], d["flag"]["updated_by"], d["flag"]["reason"], d["previous_percent"]')" "checkout 12.5 bob None 5.0"
  fsl flag get checkout
  expect_rc 0
  expect_out "^percent +12.5%$"
  expect_out "^updated_by +bob$"
  fsl flag get checkout --format json
  expect_rc 0
  expect_eq "$(json 'list(d), list(d["flag"]), d["flag"]["percent"], d["flag"]["updated_at"][:2], d["flag"]["updated_at"][-1]')" \
    "['ok', 'command', 'subcommand', 'flag'] ['name', 'percent', 'updated_at', 'updated_by', 'reason'] 12.5 20 Z"
  fsl flag set "$ODD" 0.29 --reason "it's here"
  expect_rc 0
  fsl flag set zero 0
  fsl flag set all 100%
  fsl flag list --format json
  expect_rc 0
  # byte order of names; 0.29 printed as written (not 0.28999999999999998)
  expect_eq "$(json '[(f["name"], f["percent"]) for f in d["flags"]]')" "[('all', 100.0), ('checkout', 12.5), ('it\\'s \"odd\" ünï;--', 0.29), ('zero', 0.0)]"
  expect_out '"percent": 0.29,'
  fsl flag get "$ODD" --format json
  expect_eq "$(json 'd["flag"]["name"], d["flag"]["reason"]')" "$ODD it's here"
  fsl flag list
  expect_out "^checkout +12.5% "
  expect_out "^all +100% "
  fsl -q flag set checkout 20
  expect_rc 0
  expect_eq "$OUT" ""
  [ "$1" = sqlite ] && expect_eq "$(Q "SELECT count(*) FROM sluice_flags")" 4
  [ "$1" = postgres ] && expect_eq "$(Q -c "SELECT count(*) FROM sluice.flags")" 4
  return 0
}

check_bad_input_exits_2_and_writes_nothing() {
  project "$1"
  # refused before connecting, so the same on both backends: run once
  local cases=
  [ "$1" = sqlite ] && cases="set/checkout/101 set/checkout/100.01 set/checkout/abc
    set/checkout/1.234 set/checkout/1e1 set/checkout set get eval/checkout list/extra frobnicate /
    get/checkout/--stdin eval/checkout/--reason/x/user-1 set/checkout/5/6"
  for c in $cases; do
    local args=${c//\// }
    # shellcheck disable=SC2086
    fsl flag $args
    [ "$RC" = 2 ] || t_fail "flag $args: exit $RC, expected 2 ($ERR)"
    [ "$(printf %s "$ERR" | wc -l)" -le 1 ] || t_fail "flag $args: more than a line and a hint: $ERR"
  done
  fsl flag set checkout -5
  expect_rc 2
  fsl flag set "" 5
  expect_rc 2
  expect_err "the flag name is empty"
  fsl flag set checkout " 5"
  expect_rc 2
  expect_err "percent ' 5' is not a number"
  fsl flag set checkout 5.123 --format json
  expect_rc 2
  expect_eq "$(json 'd["ok"], d["exit_code"], "2 decimals" in d["error"]["message"]')" "False 2 True"
  fsl flag eval checkout user-1 --stdin < /dev/null
  expect_rc 2
  fsl flag set "$(printf 'bad\377name')" 5
  expect_rc 2
  expect_err "not valid UTF-8"
  # nothing was written, not even the table
  fsl flag list
  expect_out "^no flags in prod$"
  # an unknown flag: exit 1 with a message (and a JSON error document)
  fsl flag get nope
  expect_rc 1
  expect_err "flag 'nope' is not set in prod"
  fsl flag get nope --format json
  expect_rc 1
  expect_eq "$(json 'd["ok"], d["exit_code"]')" "False 1"
  # a database that cannot be reached is exit 3
  if [ "$1" = sqlite ]; then
    sl flag get checkout --url "sqlite:/nonexistent/dir/db.sqlite"
  else
    sl flag get checkout --url "postgresql:///nope?host=/nonexistent&port=1"
  fi
  expect_rc 3
}

check_unset_flag_is_off_everywhere() {
  project "$1"
  ids 1000 > ids.txt
  fsl flag eval nope --stdin < ids.txt
  expect_rc 0
  expect_err "flag 'nope' is not set in prod: off for everyone"
  expect_eq "$(printf '%s\n' "$OUT" | cut -f2 | sort -u)" 0
  expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 1000
  fsl flag eval nope user-1 user-2 --format json
  expect_eq "$(json 'list(d), d["flag"], d["percent"], d["set"], [(r["entity"], r["enabled"]) for r in d["results"]]')" \
    "['ok', 'command', 'subcommand', 'flag', 'percent', 'set', 'results'] nope 0.0 False [('user-1', False), ('user-2', False)]"
  expect_eq "$(json 'sorted(d["results"][0])')" "['bucket', 'enabled', 'entity']"
  if [ "$1" = sqlite ]; then
    [ -n "$EXT" ] || t_fail "no sluice_flags.so beside $SLUICE"
    # no sluice_flags table at all: still 0, not an error
    expect_eq "$(sqlite3 p/db.sqlite ".load $EXT" "SELECT sluice_flag_enabled('nope', 'user-1'), sluice_flag_enabled(NULL, 'x') IS NULL")" "0|1"
  else
    fsl flag set other 50   # installs the functions
    expect_eq "$(Q -c "SELECT sluice.flag_enabled('nope', 'user-' || i) FROM generate_series(1, 1000) i" | sort -u)" f
    expect_eq "$(Q -c "SELECT sluice.flag_enabled(NULL, 'x') IS NULL, sluice.flag_bucket('a', NULL) IS NULL")" "t	t"
  fi
}

# an entity enabled at 5% stays enabled at 25% (and at 100% all are on);
# the counts are hashlib's for these ids
check_raising_5_to_25_percent_only_adds_entities() {
  project "$1"
  ids 10000 > ids.txt
  fsl flag set checkout 5
  fsl flag eval checkout --stdin < ids.txt
  expect_rc 0
  printf '%s\n' "$OUT" > at5
  fsl flag set checkout 25
  fsl flag eval checkout --stdin < ids.txt
  printf '%s\n' "$OUT" > at25
  expect_eq "$(grep -c "	1	" at5)" 494
  expect_eq "$(grep -c "	1	" at25)" 2559
  # every id on at 5% is on at 25%, in the same bucket
  expect_eq "$(grep "	1	" at5 | grep -vxFf at25 | wc -l)" 0
  expect_eq "$(cut -f1,3 at5 | cmp - <(cut -f1,3 at25) && echo same)" same
  fsl flag set checkout 100
  fsl flag eval checkout --stdin < ids.txt
  expect_eq "$(printf '%s\n' "$OUT" | grep -c "	1	")" 10000
}

check_c_sql_and_cli_agree_on_100000_ids() {
  project "$1"
  [ "$1" = sqlite ] && { [ -n "$EXT" ] || t_fail "no sluice_flags.so beside $SLUICE"; }
  ids $N > ids.txt
  fsl flag set checkout 25
  expect_rc 0
  # CPU time, not wall time: CI machines are shared (the ASan build takes ~0.5 s)
  local cpu_ms
  cpu_ms=$( { TIMEFORMAT='%3U %3S'; time "$SLUICE" -C p -e prod flag eval checkout --stdin < ids.txt > cli.tsv; } 2>&1 |
            awk 'END { printf "%d", ($1 + $2) * 1000 }')
  echo "flag eval --stdin: $N ids in $cpu_ms ms of CPU"
  [ "$cpu_ms" -lt 1500 ] || t_fail "flag eval --stdin took $cpu_ms ms of CPU for $N ids"
  expect_eq "$(wc -l < cli.tsv)" $N
  sql_eval "$1" checkout $N > sql.tsv
  expect_eq "$(wc -l < sql.tsv)" $N
  cmp cli.tsv sql.tsv || t_fail "CLI and SQL differ: $(diff cli.tsv sql.tsv | head -5)"
  py_eval checkout 2500 < ids.txt > py.tsv
  cmp cli.tsv py.tsv || t_fail "CLI and hashlib differ: $(diff cli.tsv py.tsv | head -5)"
  # the fraction on at 25%: hashlib says 25,315; any sane hash is within 1%
  local on
  on=$(grep -c "	1	" cli.tsv)
  expect_eq "$on" 25315
  [ "$on" -gt 24000 ] && [ "$on" -lt 26000 ] || t_fail "$on of $N on at 25%"
  # the same with a name full of quotes and unicode, at 0.29%
  fsl flag set "$ODD" 0.29
  ids 20000 > few.txt
  "$SLUICE" -C p -e prod flag eval "$ODD" --stdin < few.txt > cli2.tsv
  sql_eval "$1" "$ODD" 20000 > sql2.tsv
  cmp cli2.tsv sql2.tsv || t_fail "CLI and SQL differ for '$ODD': $(diff cli2.tsv sql2.tsv | head -5)"
  py_eval "$ODD" 29 < few.txt | cmp - cli2.tsv || t_fail "CLI and hashlib differ for '$ODD'"
  [ "$(grep -c "	1	" cli2.tsv)" -gt 0 ] || t_fail "nobody on at 0.29%"
}

# PostgreSQL: the functions are STABLE and STRICT, survive a second set,
# and flag_bucket is inlined (a plain expression in the plan, not a call)
check_postgres_functions_are_stable_strict_and_inlined() {
  project postgres
  fsl flag set checkout 25
  fsl flag set checkout 30
  expect_rc 0
  expect_eq "$(Q -c "SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'sluice' AND p.proname LIKE 'flag%' ORDER BY 1" | tr '\t\n' ', ')" \
    "flag_bucket,s,t,s flag_enabled,s,t,s "
  Q -c "EXPLAIN VERBOSE SELECT sluice.flag_bucket('checkout', 'user-' || i) FROM generate_series(1, 3) i" > plan.txt
  grep -q "sha256" plan.txt || t_fail "flag_bucket not inlined: $(cat plan.txt)"
  # a reader with a hostile search_path gets the same answer
  expect_eq "$(Q -c "CREATE SCHEMA evil; CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS 'SELECT ''\\x00000000''::bytea'; SET search_path = evil, public; SELECT sluice.flag_bucket('checkout', 'user-1')")" 6971
}

# Python's sqlite3 loads the extension (the interpreter has to allow it;
# pyenv builds often do not, Debian's does)
test_python_loads_the_sqlite_extension() {
  [ -n "$EXT" ] || t_fail "no sluice_flags.so beside $SLUICE"
  local py=
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import sqlite3; sqlite3.connect(":memory:").enable_load_extension(True)' 2>/dev/null; then py=$p; break; fi
  done
  if [ -z "$py" ]; then echo "no python3 with enable_load_extension: skipped"; return 0; fi
  project sqlite
  fsl flag set checkout 25
  run "$py" -c '
import sqlite3, sys
conn = sqlite3.connect("p/db.sqlite")
conn.enable_load_extension(True)
conn.load_extension(sys.argv[1])
conn.enable_load_extension(False)
print(conn.execute("SELECT sluice_flag_bucket(?, ?), sluice_flag_enabled(?, ?), sluice_flag_enabled(?, ?)",
                   ("checkout", "user-1", "checkout", "user-2", "checkout", "user-12345")).fetchone())' "$EXT"
  expect_rc 0
  expect_eq "$OUT" "(6971, 0, 0)"
  fsl flag set checkout 51.41
  run "$py" -c '
import sqlite3, sys
conn = sqlite3.connect("p/db.sqlite")
conn.enable_load_extension(True)
conn.load_extension(sys.argv[1])
print(conn.execute("SELECT sluice_flag_enabled(?, ?), sluice_flag_enabled(?, ?)", ("checkout", "user-12345", "checkout", "user-2")).fetchone())' "$EXT"
  expect_eq "$OUT" "(1, 1)"
}

for b in $(backends); do
  eval "test_set_get_list_in_text_and_json_$b() { check_set_get_list_in_text_and_json $b; }"
  eval "test_bad_input_exits_2_and_writes_nothing_$b() { check_bad_input_exits_2_and_writes_nothing $b; }"
  eval "test_unset_flag_is_off_everywhere_$b() { check_unset_flag_is_off_everywhere $b; }"
  eval "test_raising_5_to_25_percent_only_adds_entities_$b() { check_raising_5_to_25_percent_only_adds_entities $b; }"
  eval "test_c_sql_and_cli_agree_on_100000_ids_$b() { check_c_sql_and_cli_agree_on_100000_ids $b; }"
done
[ "$PG_OK" = 1 ] && test_postgres_functions_are_stable_strict_and_inlined() { check_postgres_functions_are_stable_strict_and_inlined; }

t_run
