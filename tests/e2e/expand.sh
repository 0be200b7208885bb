#!/bin/bash
# expand.sh - operations migrations (V<ver>__<desc>.yaml) and zero-downtime
# expand/contract on a real PostgreSQL: old-shape and new-shape readers and
# writers at once through the versioned view schemas (dual-write triggers
# both ways), the batched backfill, complete, abort (data untouched), a
# kill -9 mid-backfill then expand again, writers during the expansion
# without a failed statement; on SQLite, the same file through plain
# migrate and a clear refusal of expand.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL expand: cannot start PostgreSQL"; fi
fi

ROWS=3000
# project BACKEND: V1 a feature table, V2 the operations of the issue's example
project() {
  mkdir -p p/migrations
  if [ "$1" = sqlite ]; then
    URL="sqlite:db.sqlite"
    Q() { sqlite3 p/db.sqlite "$1"; }
    cat > p/migrations/V1__features.sql <<SQL
CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL, sessions integer, segment text);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO user_features SELECT i, (i % 1000) / 1000.0 + 0.000123, i % 40, 'seg' || (i % 7) FROM n;
SQL
  else
    DB="expand_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
    cat > p/migrations/V1__features.sql <<SQL
CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL, sessions integer, segment text);
INSERT INTO user_features SELECT i, (i % 1000) / 1000.0 + 0.000123, i % 40, 'seg' || (i % 7) FROM generate_series(1, $ROWS) i;
SQL
  fi
  cat > p/migrations/V2__retype_score.yaml <<'YAML'
operations:
  - alter_column: {table: user_features, column: score, type: "numeric(6,4)",
                   up: "round(score::numeric, 4)", down: "score::double precision"}
  - rename_column: {table: user_features, from: sessions, to: sessions_7d}
  - add_column: {table: user_features, column: {name: high_value, type: boolean}, up: "score > 0.5"}
  - drop_column: {table: user_features, column: segment}
  - create_index: {name: uf_sessions, table: user_features, columns: [sessions_7d]}
YAML
  printf 'project: expandtest\nenvironments:\n  prod: {url: "%s"}\n' "$URL" > p/sluice.yaml
}
xsl() { sl -C p -e prod "$@"; }
cols() { Q "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'user_features'::regclass AND attnum > 0 AND NOT attisdropped"; }
content() { Q "SELECT md5(string_agg(t::text, '|' ORDER BY user_id)) FROM user_features t"; }

test_sqlite_runs_operations_as_plain_sql_and_refuses_expand() {
  project sqlite
  # SQLite cannot retype in place: named, with the line
  xsl migrate
  expect_rc 2
  expect_err "V2__retype_score.yaml:2.*SQLite cannot change a column's type in place"
  sed -i '2,3d' p/migrations/V2__retype_score.yaml
  xsl expand
  expect_rc 2
  expect_err "expand/contract needs PostgreSQL"
  xsl migrate
  expect_rc 0
  expect_eq "$(Q "SELECT sql FROM sqlite_master WHERE name = 'user_features'")" 'CREATE TABLE user_features (user_id integer PRIMARY KEY, score double precision NOT NULL, "sessions_7d" integer, "high_value" boolean)'
  expect_eq "$(Q "SELECT count(*), sum(high_value) FROM user_features")" "$ROWS|1500"
  expect_eq "$(Q "SELECT count(*) FROM sqlite_master WHERE name = 'uf_sessions'")" "1"
}

test_bad_operations_file_names_file_and_line() {
  project sqlite
  printf 'operations:\n  - add_column: {table: t, column: {name: c, type: int}}\n  - retype: {table: t}\n' > p/migrations/V2__retype_score.yaml
  xsl migrate
  expect_rc 2
  expect_err "V2__retype_score.yaml:3:.*unknown operation 'retype'"
  printf 'operations:\n  - alter_column: {table: t, column: c, type: int}\n' > p/migrations/V2__retype_score.yaml
  xsl migrate
  expect_rc 2
  expect_err "V2__retype_score.yaml:2:.*needs 'up'"
  # read before anything runs: nothing applied
  xsl status --format json
  expect_eq "$(json 'd["current"]')" "None"
}

check_both_shapes_work_during_the_expansion() {
  project postgres
  xsl migrate --to 1 -q
  expect_rc 0
  xsl expand --batch-size 700 --format json
  expect_rc 0
  expect_eq "$(json 'd["expansion"]["phase"], d["expansion"]["old_schema"], d["expansion"]["new_schema"], d["expansion"]["backfilled_rows"]')" "expanded public_v1 public_v2 $ROWS"
  # the backfill converted every row
  expect_eq "$(Q "SELECT count(*) FROM user_features WHERE sluice_new_score IS DISTINCT FROM round(score::numeric, 4) OR high_value IS DISTINCT FROM (score > 0.5)")" "0"
  # an old-shape writer: the new shape follows
  Q "INSERT INTO public_v1.user_features (user_id, score, sessions, segment) VALUES (9001, 0.123456, 3, 'x')"
  expect_eq "$(Q "SELECT score, sessions_7d, high_value FROM public_v2.user_features WHERE user_id = 9001")" "0.1235|3|f"
  Q "UPDATE public_v1.user_features SET score = 0.9 WHERE user_id = 1"
  expect_eq "$(Q "SELECT score, high_value FROM public_v2.user_features WHERE user_id = 1")" "0.9000|t"
  # a new-shape writer: the old shape follows (and readers of each see their shape)
  Q "INSERT INTO public_v2.user_features (user_id, score, sessions_7d) VALUES (9002, 0.75, 5)"
  expect_eq "$(Q "SELECT score, sessions, coalesce(segment, 'NULL') FROM public_v1.user_features WHERE user_id = 9002")" "0.75|5|NULL"
  Q "UPDATE public_v2.user_features SET score = 0.25 WHERE user_id = 2"
  expect_eq "$(Q "SELECT score FROM public_v1.user_features WHERE user_id = 2")" "0.25"
  expect_eq "$(Q "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public_v2' AND table_name = 'user_features'")" "user_id,score,sessions_7d,high_value"
  # clients pick a shape by search_path; unchanged tables resolve to public
  NEWQ() { PGOPTIONS="-c search_path=public_v2,public" psql -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
  expect_eq "$(NEWQ "SELECT score, sessions_7d FROM user_features WHERE user_id = 9001")" "0.1235|3"
  expect_eq "$(NEWQ "SELECT count(*) FROM sluice.expansions")" "1"
  expect_eq "$(Q "SELECT count(*) FROM information_schema.views WHERE table_schema = 'public_v2'")" "1"
  expect_eq "$(Q "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public_v1' AND table_name = 'user_features'")" "user_id,score,sessions,segment"
  # not applied until complete, and nothing migrates beside it
  xsl status --format json
  expect_eq "$(json 'd["current"]')" "1"
  xsl migrate
  expect_rc 1
  expect_err "the expand/contract of version 2 is in progress \\(phase expanded\\)"
  xsl deploy
  expect_rc 1
  expect_err "expand/contract of version 2 is in progress"
  xsl complete
  expect_rc 0
  expect_out "version 2 completed"
  expect_eq "$(cols)" "user_id:integer,sessions_7d:integer,score:numeric(6,4),high_value:boolean"
  expect_eq "$(Q "SELECT score, sessions_7d, high_value FROM user_features WHERE user_id IN (1, 2, 9001, 9002) ORDER BY user_id" | tr '\n' ' ')" "0.9000|1|t 0.2500|2|f 0.1235|3|f 0.7500|5|t "
  expect_eq "$(Q "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'user_features'::regclass AND NOT tgisinternal") $(Q "SELECT count(*) FROM pg_namespace WHERE nspname IN ('public_v1', 'public_v2')") $(Q "SELECT count(*) FROM pg_indexes WHERE indexname = 'uf_sessions'")" "0 0 1"
  # a client on the new shape by search_path reads the same names from the base table now
  expect_eq "$(NEWQ "SELECT score, sessions_7d FROM user_features WHERE user_id = 9001")" "0.1235|3"
  xsl status --format json
  expect_eq "$(json 'd["current"]')" "2"
  xsl complete
  expect_rc 1
  expect_err "no expansion in progress"
}

check_abort_leaves_the_data_untouched() {
  project postgres
  xsl migrate --to 1 -q
  before_cols=$(cols); before=$(content)
  xsl deploy --strategy expand-contract -q
  expect_rc 0
  expect_eq "$(Q "SELECT phase FROM sluice.expansions")" "expanded"
  # the file edited meanwhile: complete refuses, abort undoes what was expanded
  cp p/migrations/V2__retype_score.yaml v2.keep
  sed -i '/create_index/d' p/migrations/V2__retype_score.yaml
  xsl complete
  expect_rc 2
  expect_err "V2__retype_score.yaml changed since its expansion started"
  xsl abort
  expect_rc 0
  expect_out "version 2 aborted"
  expect_eq "$(cols)" "$before_cols"
  expect_eq "$(content)" "$before"
  expect_eq "$(Q "SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v2'") $(Q "SELECT count(*) FROM pg_indexes WHERE indexname = 'uf_sessions'") $(Q "SELECT count(*) FROM pg_proc WHERE proname LIKE 'expand\\_%'")" "0 0 0"
  xsl status --format json
  expect_eq "$(json 'd["current"]')" "1"
  # and it can be expanded again
  cp v2.keep p/migrations/V2__retype_score.yaml
  xsl expand -q
  expect_rc 0
}

check_kill_mid_backfill_then_expand_again() {
  project postgres
  xsl migrate --to 1 -q
  "$SLUICE" -C p -e prod expand --batch-size 20 --batch-pause 30ms > x.log 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    n=$(Q "SELECT coalesce(sum(rows), 0) FROM sluice.expansion_steps" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 200 ] && break
    sleep 0.1
  done
  kill -9 $pid; wait $pid 2>/dev/null || true
  expect_eq "$(Q "SELECT phase FROM sluice.expansions")" "expanding"
  done_rows=$(Q "SELECT sum(rows) FROM sluice.expansion_steps")
  [ "$done_rows" -lt $ROWS ] || t_fail "the kill came too late ($done_rows rows)"
  # a lock left by the killed process is taken over (same database, dead backend)
  xsl expand --batch-size 500 --format json
  expect_rc 0
  expect_eq "$(json 'd["expansion"]["phase"]')" "expanded"
  expect_eq "$(Q "SELECT count(*) FROM user_features WHERE sluice_new_score IS DISTINCT FROM round(score::numeric, 4) OR high_value IS DISTINCT FROM (score > 0.5)")" "0"
  expect_eq "$(Q "SELECT sum(rows) FROM sluice.expansion_steps")" "$ROWS"
}

check_writers_during_expand_see_no_error() {
  project postgres
  xsl migrate --to 1 -q
  # an old-shape writer hammering the table while expand adds columns,
  # installs triggers and backfills; every statement must succeed
  ( for i in $(seq 1 150); do
      psql -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "UPDATE user_features SET score = score + 0.0001, sessions = sessions + 1 WHERE user_id = $(( (i * 37) % ROWS + 1 ))" \
        -c "INSERT INTO user_features (user_id, score, sessions, segment) VALUES ($((20000 + i)), 0.4, 1, 'w')" || echo "WRITE FAILED $i"
    done > writes.log 2>&1 ) &
  wpid=$!
  xsl expand --batch-size 100 --batch-pause 5ms -q
  expect_rc 0
  wait $wpid
  expect_eq "$(grep -c 'FAILED' writes.log)" "0"
  expect_eq "$(Q "SELECT count(*) FROM user_features WHERE sluice_new_score IS DISTINCT FROM round(score::numeric, 4) OR high_value IS DISTINCT FROM (score > 0.5)")" "0"
  expect_eq "$(Q "SELECT count(*) FROM user_features")" "$((ROWS + 150))"
  xsl complete -q
  expect_rc 0
}

# the same file, deployed the plain way and rolled back: sluice's inverse
# plus the archives (the backfill UPDATE of an added column needs no undo)
check_standard_deploy_of_operations_rolls_back() {
  project postgres
  echo 'DROP TABLE user_features;' > p/migrations/U1__features.sql
  xsl deploy --to 1 -q
  expect_rc 0
  byname() { Q "SELECT md5(string_agg((SELECT string_agg(key || '=' || coalesce(value, 'NULL'), ',' ORDER BY key) FROM json_each_text(row_to_json(t))), '|' ORDER BY user_id)) FROM user_features t"; }
  types() { Q "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attname) FROM pg_attribute WHERE attrelid = 'user_features'::regclass AND attnum > 0 AND NOT attisdropped"; }
  before=$(byname); before_types=$(types)
  xsl deploy -q
  expect_rc 0
  expect_eq "$(types)" "high_value:boolean,score:numeric(6,4),sessions_7d:integer,user_id:integer"
  xsl rollback -q
  expect_rc 0
  expect_eq "$(types)" "$before_types"
  expect_eq "$(byname)" "$before"
}

# blue-green: the pipeline's staging-deployment expands and switches new
# sessions to green; switch back to blue; complete (or abort) restores the
# database's own search_path
check_blue_green_switch_and_pipeline() {
  project postgres
  xsl migrate --to 1 -q
  cat >> p/sluice.yaml <<'YAML'
pipeline:
  name: bg
  stages:
    - name: staging
      steps:
        - staging-deployment: {env: prod, strategy: blue-green}
YAML
  xsl run
  expect_rc 0
  expect_out "version 2 expanded .*new sessions read public_v2"
  # a new session that sets no search_path of its own reads green
  expect_eq "$(Q "SELECT score, sessions_7d FROM user_features WHERE user_id = 1")" "0.0011|1"
  xsl switch old --format json
  expect_rc 0
  expect_eq "$(json 'd["expansion"]["phase"]')" "switched to old"
  expect_eq "$(Q "SELECT score, sessions FROM user_features WHERE user_id = 1")" "0.001123|1"
  xsl switch sideways
  expect_rc 2
  xsl switch new -q
  xsl complete -q
  expect_rc 0
  expect_eq "$(Q "SHOW search_path")" '"$user", public'
  expect_eq "$(Q "SELECT score, sessions_7d FROM user_features WHERE user_id = 1")" "0.0011|1"
  # abort puts back a setting the database had before the first switch
  printf 'operations:\n  - rename_column: {table: user_features, from: sessions_7d, to: sessions_week}\n' > p/migrations/V3__rename.yaml
  Q "ALTER DATABASE \"$DB\" SET search_path = public, pg_catalog"
  xsl expand -q
  xsl switch new -q
  expect_eq "$(Q "SELECT sessions_week FROM user_features WHERE user_id = 1")" "1"
  xsl abort -q
  expect_rc 0
  expect_eq "$(Q "SHOW search_path")" "public, pg_catalog"
  expect_eq "$(Q "SELECT sessions_7d FROM user_features WHERE user_id = 1")" "1"
}

if [ "$PG_OK" = 1 ]; then
  test_blue_green_switch_and_pipeline() { check_blue_green_switch_and_pipeline; }
  test_standard_deploy_of_operations_rolls_back() { check_standard_deploy_of_operations_rolls_back; }
  test_both_shapes_work_during_the_expansion() { check_both_shapes_work_during_the_expansion; }
  test_abort_leaves_the_data_untouched() { check_abort_leaves_the_data_untouched; }
  test_kill_mid_backfill_then_expand_again() { check_kill_mid_backfill_then_expand_again; }
  test_writers_during_expand_see_no_error() { check_writers_during_expand_see_no_error; }
fi

t_run
