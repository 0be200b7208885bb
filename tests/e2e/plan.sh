#!/bin/bash
# plan.sh - `sluice plan`: shadow apply, classified catalog diff, the
# environment left unchanged, on SQLite and on a real PostgreSQL.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL plan: cannot start PostgreSQL"; fi
fi

evolve() { # a pending migration with one change of each class
  cat > recsys/migrations/V7__evolve.sql <<'SQL'
SET lock_timeout = '2s';
ALTER TABLE user_features DROP COLUMN clicks_30d;
ALTER TABLE items ADD COLUMN stock bigint NOT NULL DEFAULT 0;
CREATE INDEX CONCURRENTLY users_country ON users (country);
CREATE VIEW active_users AS SELECT user_id FROM users;
SQL
}

setup() {
  cp -r "$T_ROOT/examples/recsys" .
  rm -f recsys/recsys.db
  # these scenarios write their own V7: the example's is left out
  rm -f recsys/migrations/[VU]7__*
  # and the conversion model's table (V8, V9) that builds on V7
  rm -f recsys/migrations/[VU][89]__* recsys/migrations/[VU]1[0-9]__* recsys/features/conversion_features.yaml recsys/models/conversion.yaml
}

test_sqlite_plan_classifies_and_leaves_the_file_unchanged() {
  setup
  sl -C recsys -q migrate --to 5
  expect_rc 0
  evolve
  sed -i 's/CREATE INDEX CONCURRENTLY/CREATE INDEX/; /lock_timeout/d' recsys/migrations/V7__evolve.sql
  before=$(md5sum < recsys/recsys.db)
  sl -C recsys plan --format json
  # clicks_30d is an input of the demo's ranker v1 (models/ranker.yaml)
  expect_rc 1
  expect_eq "$(md5sum < recsys/recsys.db)" "$before" "(the database file must not change)"
  expect_eq "$(json 'd["model_breaking"], [(c["features"], c["models"]) for c in d["changes"] if c["object"] == "user_features.clicks_30d"]')" \
    "1 [(['user_features'], ['ranker v1'])]"
  expect_eq "$(json '[c["models"] for c in d["changes"] if c["object"] != "user_features.clicks_30d"]')" "[[], [], [], []]"
  expect_eq "$(json 'd["pending"], d["shadow"]')" "2 shadow (in-memory copy)"
  expect_eq "$(json 'sorted((c["kind"], c["object"], c["class"]) for c in d["changes"])')" \
    "[('add column', 'items.attributes', 'safe'), ('add column', 'items.stock', 'safe'), ('add index', 'users_country', 'safe'), ('add view', 'active_users', 'safe'), ('drop column', 'user_features.clicks_30d', 'destructive')]"
  expect_eq "$(json '[c["rows"] for c in d["changes"] if c["object"] == "user_features.clicks_30d"]')" "[6]"
  sl -C recsys plan --forward-only
  expect_rc 1
  expect_out 'destructive +drop column +user_features\.clicks_30d +6'
  sl -C recsys --format json status
  expect_eq "$(json 'd["current"], len(d["pending"])')" "5 2"
}

test_sqlite_plan_with_nothing_pending() {
  setup
  sl -C recsys -q migrate
  sl -C recsys plan --format json
  expect_rc 0
  expect_eq "$(json 'd["pending"], d["changes"]')" "0 []"
}

pg_db() { pg_createdb "$1"; URL=$(pg_url "$1"); }

test_postgres_plan_leaves_the_database_unchanged() {
  [ "$PG_OK" = 1 ] || return 0
  setup
  pg_db plan_a_$$
  sl -C recsys --url "$URL" -q migrate --to 5
  expect_rc 0
  evolve
  # PostgreSQL-only SQL: a variant (a dialect-free file would also have to
  # run on SQLite, and lint would say it does not)
  mv recsys/migrations/V7__evolve.sql recsys/migrations/V7__evolve.postgres.sql
  psql -q -d plan_a_$$ -c ANALYZE
  pg_dump -d plan_a_$$ | grep -v restrict > before.sql
  sl -C recsys --url "$URL" plan --format json
  expect_rc 1
  pg_dump -d plan_a_$$ | grep -v restrict > after.sql
  cmp -s before.sql after.sql || t_fail "pg_dump changed: $(diff before.sql after.sql | head -c 600)"
  expect_eq "$(json 'd["pending"]')" 2
  expect_eq "$(json 'sorted((c["kind"], c["object"], c["class"]) for c in d["changes"])')" \
    "[('add column', 'items.attributes', 'safe'), ('add column', 'items.stock', 'safe'), ('add index', 'items_attributes', 'safe'), ('add index', 'users_country', 'safe'), ('add view', 'active_users', 'safe'), ('drop column', 'user_features.clicks_30d', 'destructive')]"
  expect_eq "$(json '[c["locks"] for c in d["changes"] if c["kind"] == "drop column"]')" "['ACCESS EXCLUSIVE']"
  expect_eq "$(json '[f["rule"] for f in d["findings"] if "V7__evolve" in f["file"]]')" "['ban-drop-column', 'model-input-breaking']"
  expect_eq "$(json '[(c["features"], c["models"]) for c in d["changes"] if c["object"] == "user_features.clicks_30d"]')" "[(['user_features'], ['ranker v1'])]"
  # the same migrations then apply for real
  sl -C recsys --url "$URL" -q migrate
  expect_rc 0
  expect_eq "$(psql -Atd plan_a_$$ -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_country'")" 1
}

test_postgres_plan_breaking_changes_fail_forward_only() {
  [ "$PG_OK" = 1 ] || return 0
  setup
  pg_db plan_b_$$
  sl -C recsys --url "$URL" -q migrate
  printf "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN age_bucket TYPE varchar(8);\nALTER TABLE users ALTER COLUMN age_bucket SET NOT NULL;\nALTER TABLE interactions ALTER COLUMN interaction_id TYPE numeric;\n" > recsys/migrations/V7__narrow.sql
  sed -i "s/^\(INSERT INTO users.*\)$/\1/" recsys/migrations/V7__narrow.sql
  psql -q -d plan_b_$$ -c "UPDATE users SET age_bucket = 'n/a' WHERE age_bucket IS NULL"
  sl -C recsys --url "$URL" plan --forward-only --format json
  expect_rc 1
  expect_eq "$(json 'sorted((c["kind"], c["object"], c["class"]) for c in d["changes"])')" \
    "[('change column type', 'interactions.interaction_id', 'breaking'), ('change column type', 'users.age_bucket', 'breaking'), ('set not null', 'users.age_bucket', 'breaking')]"
  printf "ALTER TABLE users ALTER COLUMN age_bucket TYPE text;\n" > recsys/migrations/V7__narrow.sql
  sl -C recsys --url "$URL" plan --forward-only --format json
  expect_rc 0
  expect_eq "$(json 'd["changes"]')" "[]"
}

test_postgres_plan_reports_a_failing_migration() {
  [ "$PG_OK" = 1 ] || return 0
  setup
  pg_db plan_c_$$
  sl -C recsys --url "$URL" -q migrate
  printf "ALTER TABLE no_such_table ADD COLUMN x int;\n" > recsys/migrations/V7__bad.sql
  sl -C recsys --url "$URL" plan
  expect_rc 3
  expect_err 'V7__bad\.sql:1: on the shadow: ERROR 42P01'
  sl -C recsys --url "$URL" --format json status
  expect_eq "$(json 'd["current"], len(d["pending"])')" "6 1"
}

test_pipeline_plan_step_fails_forward_only_on_destructive_change() {
  setup
  sl -C recsys -q migrate
  printf "ALTER TABLE items DROP COLUMN category;\n" > recsys/migrations/V7__drop.sql
  cat > recsys/ci.yaml <<'YAML'
pipeline:
  stages:
    - name: plan-only
      steps: [plan]
    - name: gate
      steps:
        - plan: {forward_only: true}
    - name: never
      steps:
        - run: "touch never.ran"
YAML
  sl -C recsys run ci.yaml
  expect_rc 1
  expect_out 'ok +plan +dev: 1 pending, 1 change\(s\): 0 safe, 0 breaking, 1 destructive'
  expect_err "stage 'gate' failed at step 'plan forward_only=true': destructive drop column items.category"
  [ ! -e recsys/never.ran ] || t_fail "a stage after the failed one ran"
  sl -C recsys --format json status
  expect_eq "$(json '[e["version"] for e in d["pending"]]')" "['7']"
}

test_pipeline_model_compatibility_names_the_broken_version() {
  setup
  sl -C recsys -q migrate
  cat > recsys/ci.yaml <<'YAML'
pipeline:
  stages:
    - name: models
      steps: [model-compatibility]
YAML
  # engagement_score is read by v2 only; dropping it breaks v2, not v1
  printf "DROP INDEX user_features_engagement;\nALTER TABLE user_features DROP COLUMN engagement_score;\n" > recsys/migrations/V7__drop.sql
  sl -C recsys run ci.yaml
  expect_rc 1
  expect_err "stage 'models' failed at step 'model-compatibility': drop column user_features.engagement_score breaks ranker v2 "
  # a harmless change passes and says what it checked
  printf "ALTER TABLE user_features ADD COLUMN sessions_7d bigint;\n" > recsys/migrations/V7__drop.sql
  sl -C recsys run ci.yaml
  expect_rc 0
  expect_out 'ok +model-compatibility +dev: 1 pending, 2 model version\(s\) checked'
}

test_sqlite_plan_on_a_scratch_database_reports_drift() {
  setup
  sed -i 's|  dev:     {url: "sqlite:recsys.db", description: "local SQLite file",|  dev:     {url: "sqlite:recsys.db", shadow_url: "sqlite:scratch.db",|' recsys/sluice.yaml
  sl -C recsys -q migrate --to 5
  printf "ALTER TABLE items ADD COLUMN stock bigint;\n" > recsys/migrations/V7__stock.sql
  sqlite3 recsys/recsys.db "CREATE TABLE hand_made (id integer)"
  before=$(md5sum < recsys/recsys.db)
  sl -C recsys plan --format json
  expect_rc 0
  expect_eq "$(md5sum < recsys/recsys.db)" "$before"
  expect_eq "$(json 'd["pending"], sorted((c["kind"], c["object"]) for c in d["changes"]), d["drift"]')" \
    "2 [('add column', 'items.attributes'), ('add column', 'items.stock')] ['add table hand_made']"
  expect_eq "$(json '[c["rows"] for c in d["changes"]]')" "[4, 4]"
  expect_eq "$(sqlite3 recsys/scratch.db "SELECT count(*) FROM sqlite_master")" 0
  sl -C recsys plan
  expect_out 'drift: dev differs from its replayed migration history:'
  expect_out '  add table hand_made'
  # a scratch database that is not empty is refused
  sqlite3 recsys/scratch.db "CREATE TABLE leftover (id integer)"
  sl -C recsys plan
  expect_rc 3
  expect_err 'the shadow database sqlite:scratch.db is not empty \(it has tables\)'
}

test_postgres_plan_on_a_scratch_database_leaves_both_unchanged() {
  [ "$PG_OK" = 1 ] || return 0
  setup
  pg_db plan_d_$$
  pg_createdb plan_d_scratch_$$
  sl -C recsys --url "$URL" -q migrate --to 5
  evolve
  mv recsys/migrations/V7__evolve.sql recsys/migrations/V7__evolve.postgres.sql
  pg_dump -d plan_d_$$ | grep -v restrict > before.sql
  sl -C recsys --url "$URL" plan --shadow-url "$(pg_url plan_d_scratch_$$)" --format json
  expect_rc 1   # drops ranker v1's input
  pg_dump -d plan_d_$$ | grep -v restrict > after.sql
  cmp -s before.sql after.sql || t_fail "pg_dump changed: $(diff before.sql after.sql | head -c 600)"
  expect_eq "$(json 'd["pending"], d["drift"], d["shadow"].startswith("postgres")')" "2 [] True"
  expect_eq "$(json 'sorted((c["kind"], c["object"], c["class"]) for c in d["changes"])')" \
    "[('add column', 'items.attributes', 'safe'), ('add column', 'items.stock', 'safe'), ('add index', 'items_attributes', 'safe'), ('add index', 'users_country', 'safe'), ('add view', 'active_users', 'safe'), ('drop column', 'user_features.clicks_30d', 'destructive')]"
  expect_eq "$(json '[c["rows"] for c in d["changes"] if c["object"] == "user_features.clicks_30d"]')" "[6]"
  expect_eq "$(psql -Atd plan_d_scratch_$$ -c "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" 0
}

check_impact_static() { # sqlite|postgres
  setup
  T="DOUBLE PRECISION" U=""
  if [ "$1" = postgres ]; then pg_db plan_i_$$; U="--url $URL"; T="double precision"; fi
  sl -C recsys $U -q migrate
  expect_rc 0
  printf "DROP INDEX user_features_engagement;\nALTER TABLE user_features DROP COLUMN engagement_score;\n" > recsys/migrations/V7__drop.sql
  sl -C recsys $U impact --static --format json
  expect_rc 1
  expect_eq "$(json '[(m["version"], m["compatible"], m["reasons"]) for m in d["models"]], d["pending"]')" \
    "[('1', True, []), ('2', False, ['drop column user_features.engagement_score ($T; its values are lost)'])] 1"
  sl -C recsys $U impact --static ranker
  expect_rc 1
  expect_out 'ranker v2 +BROKEN'
  sl -C recsys $U impact --static nosuch
  expect_rc 2
  expect_err 'no model contract named nosuch'
  # without --static: the models with a label are measured; ranker has none
  sl -C recsys $U impact ranker
  expect_rc 0
  expect_out 'ranker v1: no label'
  expect_out '0 model version\(s\) measured'
}
test_sqlite_impact_static() { check_impact_static sqlite; }
test_postgres_impact_static() { [ "$PG_OK" = 1 ] || return 0; check_impact_static postgres; }

t_run
