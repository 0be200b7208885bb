#!/bin/bash
# deploy.sh - `sluice deploy`, `rollback` and `deployments` on SQLite and on
# a real PostgreSQL: the deployment record, a post-deploy gate failure that
# rolls back to the exact schema and content, a dropped column restored with
# its values, kill -9 in every phase then --resume or rollback, hooks
# (a failing post_deploy hook rolls back, on_rollback runs), two deploys at
# once, forward-only refusing a breaking change, and (PostgreSQL) a deploy
# refused before anything runs when a migration cannot be undone.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL deploy: cannot start PostgreSQL"; fi
fi

# project BACKEND: a feature table at V1, V2 adds a column, V3 drops one;
# a feature contract whose validity gate is the post-deploy gate
project() {
  mkdir -p p/migrations p/features
  cat > p/migrations/V1__features.sql <<'EOF'
CREATE TABLE features (id integer PRIMARY KEY, score real NOT NULL, segment text);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO features (id, score, segment) SELECT i, (i % 100) / 100.0, CASE WHEN i % 3 = 0 THEN 'a' WHEN i % 3 = 1 THEN 'b' ELSE NULL END FROM n;
EOF
  echo 'DROP TABLE features;' > p/migrations/U1__features.sql
  echo 'ALTER TABLE features ADD COLUMN bucket integer;' > p/migrations/V2__bucket.sql
  echo 'ALTER TABLE features DROP COLUMN segment;' > p/migrations/V3__drop_segment.sql
  cat > p/features/features.yaml <<'EOF'
table: features
key: id
description: test features
owner: ml
columns:
  score: {type: real, description: "a score", owner: ml, range: [0, 1]}
EOF
  if [ "$1" = sqlite ]; then
    URL="sqlite:db.sqlite"
    Q() { sqlite3 p/db.sqlite "$1"; }
    # schema and content, column order included (the file is restored whole)
    SNAP() { sqlite3 p/db.sqlite ".schema features" "SELECT * FROM features ORDER BY id"; }
  else
    DB="deploy_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -c "$1"; }
    # columns by name (a column dropped and restored comes back last) and
    # every row as name=value pairs
    SNAP() {
      psql -Atq -d "$DB" -c "SELECT column_name, data_type, is_nullable, coalesce(column_default, '') FROM information_schema.columns WHERE table_name = 'features' ORDER BY column_name" \
        -c "SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (SELECT (SELECT string_agg(key || '=' || coalesce(value, 'NULL'), ',' ORDER BY key) FROM json_each_text(row_to_json(f))) AS r FROM features f) s" \
        -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    }
  fi
  cat > p/sluice.yaml <<EOF
project: deploytest
environments:
  prod:
    url: "$URL"
    gates: [feature-quality-checks]
${HOOKS:-}
EOF
}

dsl() { sl -C p -e prod "$@"; }
current() { dsl status --format json; json 'd["current"]'; }
deps() { dsl deployments --format json; json "[(x['status'], x['from_version'], x['to_version']) for x in d['deployments']]"; }

backends() { echo sqlite; [ "$PG_OK" = 1 ] && echo postgres; return 0; }

check_deploy_records_and_redeploy_is_noop() {
  project "$1"
  dsl deploy --to 1 --format json
  expect_rc 0
  expect_eq "$(json 'd["deployment"]["status"], d["deployment"]["from_version"], d["deployment"]["to_version"], d["applied"]')" "success None 1 ['1']"
  dsl deploy --format json
  expect_rc 0
  expect_eq "$(json 'd["applied"], d["deployment"]["phase"], len(d["deployment"]["plan_digest"])')" "['2', '3'] done 64"
  dsl deploy
  expect_rc 0
  expect_out 'up to date at version 3: nothing to deploy'
  dsl deployments --format json
  expect_eq "$(json 'set(d["deployments"][0].keys()) >= set(["id","environment","from_version","to_version","status","strategy","started_at","finished_at","duration_ms","reason"])')" "True"
  expect_eq "$(deps)" "[('success', '1', '3'), ('success', None, '1')]"
  dsl deployments
  expect_rc 0
  expect_out 'success +standard'
}

check_gate_failure_rolls_back_to_the_exact_state() {
  project "$1"
  dsl deploy --to 1 -q
  expect_rc 0
  before=$(SNAP)
  # V4 breaks the contract's range after V2 and V3 applied
  echo 'UPDATE features SET score = -score WHERE id % 2 = 0;' > p/migrations/V4__break.sql
  echo 'UPDATE features SET score = -score WHERE id % 2 = 0;' > p/migrations/U4__break.sql
  dsl deploy --format json
  expect_rc 1
  expect_eq "$(json 'd["rolled_back"], d["deployment"]["status"], d["applied"], d["error"]["message"].startswith("post-deploy gate failed")')" "True rolled_back ['2', '3', '4'] True"
  expect_eq "$(SNAP)" "$before"
  expect_eq "$(current)" "1"
  expect_eq "$(deps)" "[('rolled_back', '1', '4'), ('success', None, '1')]"
  dsl deployments --format json
  expect_eq "$(json 'd["deployments"][0]["reason"].startswith("post-deploy gate failed")')" "True"
  # fixed: the same deploy now goes through
  rm p/migrations/V4__break.sql p/migrations/U4__break.sql
  dsl deploy -q
  expect_rc 0
  expect_eq "$(current)" "3"
}

check_rollback_restores_a_dropped_column_with_its_values() {
  project "$1"
  dsl deploy --to 2 -q
  expect_rc 0
  before=$(SNAP)
  expect_eq "$(Q "SELECT count(segment) FROM features")" "200"
  dsl deploy -q
  expect_rc 0
  expect_eq "$(current)" "3"
  dsl rollback --reason "segment still read by the ranker" --format json
  expect_rc 0
  expect_eq "$(json 'd["deployment"]["status"], d["deployment"]["reason"], d["rolled_back"]')" "rolled_back segment still read by the ranker True"
  expect_eq "$(SNAP)" "$before"
  expect_eq "$(Q "SELECT count(segment), min(segment), max(segment) FROM features")" "200|a|b"
  expect_eq "$(current)" "2"
  dsl rollback
  expect_rc 0
  expect_eq "$(current)" "None"
  dsl rollback
  expect_rc 1
  expect_err "nothing to roll back"
  dsl rollback --deployment nosuch
  expect_rc 2
}

check_kill_in_every_phase_then_resume_or_rollback() {
  project "$1"
  dsl deploy --to 1 -q
  expect_rc 0
  before=$(SNAP)
  i=0
  for phase in validate lint governance pre_deploy rollback_point apply apply-mid gates post_deploy done; do
    i=$((i + 1))
    SLUICE_CRASH_AT=$phase dsl deploy -q
    expect_rc 137 || { t_fail "phase $phase"; return 1; }
    dsl deploy -q
    if [ $phase = done ]; then
      # killed after the success was recorded: deployed
      expect_rc 0
      expect_eq "$(current)" "3"
      dsl rollback -q
      expect_rc 0
    elif [ $((i % 2)) = 1 ]; then
      expect_rc 3 || { t_fail "after $phase"; return 1; }
      expect_err "interrupted in phase ${phase%-mid}"
      dsl deploy --resume -q
      expect_rc 0 || { t_fail "resume after $phase"; return 1; }
      expect_eq "$(current)" "3" "after resume at $phase"
      dsl rollback -q
      expect_rc 0 || { t_fail "rollback after resumed $phase"; return 1; }
    else
      expect_rc 3
      dsl rollback -q
      expect_rc 0 || { t_fail "rollback after $phase"; return 1; }
    fi
    expect_eq "$(current)" "1" "after $phase"
    expect_eq "$(SNAP)" "$before" "after $phase"
  done
  # killed while rolling back a failed deploy: --resume finishes the rollback
  echo 'UPDATE features SET score = -score WHERE id % 2 = 0;' > p/migrations/V4__break.sql
  echo 'UPDATE features SET score = -score WHERE id % 2 = 0;' > p/migrations/U4__break.sql
  for phase in rollback on_rollback; do
    SLUICE_CRASH_AT=$phase dsl deploy -q
    expect_rc 137
    dsl deploy --resume -q
    expect_rc 1
    expect_err "rolled back"
    expect_eq "$(current)" "1" "after $phase"
    dsl deployments --format json
    expect_eq "$(json 'd["deployments"][0]["status"], d["deployments"][0]["to_version"], d["deployments"][0]["reason"].startswith("post-deploy gate failed")')" "rolled_back 4 True" "after $phase"
  done
  expect_eq "$(Q "SELECT count(*) FROM features WHERE score < 0")" "0"
}

check_failing_hook_rolls_back_and_on_rollback_runs() {
  HOOKS='hooks:
  pre_deploy: ["echo pre $SLUICE_ENV $SLUICE_TO_VERSION"]
  post_deploy: ["echo checking the serving API; exit 4"]
  on_rollback: ["echo $SLUICE_DEPLOYMENT_ID $SLUICE_FROM_VERSION $SLUICE_TO_VERSION > rolled.txt"]
deploy:
  hook_timeout: 10s' project "$1"
  dsl deploy --to 1 -q
  expect_rc 1
  expect_err "post_deploy hook 'echo checking the serving API; exit 4' exited 4"
  [ -f p/rolled.txt ] || t_fail "on_rollback did not run"
  dsl deployments --format json
  id=$(json 'd["deployments"][0]["id"]')
  expect_eq "$(cat p/rolled.txt)" "$id 1"
  expect_eq "$(json '[(h["hook"], h["exit_code"], h["output"]) for h in d["deployments"][0]["log"] if "hook" in h]')" \
    "[('pre_deploy', 0, 'pre prod 1\\n'), ('post_deploy', 4, 'checking the serving API\\n'), ('on_rollback', 0, '')]"
  expect_eq "$(Q "SELECT count(*) FROM sqlite_master WHERE name = 'features'" 2>/dev/null || Q "SELECT count(*) FROM pg_class WHERE relname = 'features'")" "0"
}

check_two_deploys_at_once_one_waits_or_refuses() {
  HOOKS='hooks:
  pre_deploy: ["touch started; sleep 3"]' project "$1"
  "$SLUICE" -C p -e prod -q deploy >first.out 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -f p/started ] && break; sleep 0.05; done
  dsl --lock-timeout 500ms deploy
  expect_rc 3
  expect_err "lock"
  wait $pid
  expect_eq "$?" "0" "$(cat first.out)"
  expect_eq "$(current)" "3"
  dsl deploy
  expect_rc 0
  expect_out 'nothing to deploy'
}

check_forward_only_refuses_a_breaking_change() {
  project "$1"
  dsl deploy --to 2 -q
  expect_rc 0
  dsl deploy --strategy forward-only --format json
  expect_rc 1
  expect_eq "$(json 'd["deployment"]["status"], d["deployment"]["phase"], d["applied"], d["rolled_back"]')" "failed lint [] False"
  expect_eq "$(current)" "2"
  dsl deploy --strategy sideways
  expect_rc 2
}

check_postgres_refuses_what_cannot_be_undone() {
  project "$1"
  # (filling the column it adds would be undone with the column: an
  # UPDATE of a column that was there before cannot be)
  echo "UPDATE features SET score = score / 2;" >> p/migrations/V2__bucket.sql
  dsl deploy
  expect_rc 1
  expect_err "cannot be undone: 2 \\(V2__bucket.sql\\): line 2"
  expect_eq "$(current)" "None"
  expect_eq "$(deps)" "[('failed', None, '3')]"
  printf 'ALTER TABLE features DROP COLUMN bucket;\n' > p/migrations/U2__bucket.sql
  dsl deploy -q
  expect_rc 0
  dsl rollback -q
  expect_rc 0
  expect_eq "$(current)" "None"
  expect_eq "$(Q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sluice' AND c.relname LIKE 'archive\\_%'")" "0"
}

# deploy.soft_drop: a plain DROP COLUMN becomes a rename that rollback
# renames back (same position, NOT NULL and default restored); an indexed
# column takes the archive path; the real drop happens at retention
check_postgres_soft_drop_renames_and_rolls_back_in_place() {
  project "$1"
  printf 'ALTER TABLE features ADD COLUMN bucket integer;\nALTER TABLE features ADD COLUMN tier text NOT NULL DEFAULT %s;\nCREATE INDEX features_bucket ON features (bucket);\nALTER TABLE features ADD CONSTRAINT bucket_positive CHECK (bucket >= 0);\n' "'gold'" > p/migrations/V2__bucket.sql
  echo 'ALTER TABLE features DROP COLUMN tier;' > p/migrations/V4__drop_tier.sql
  echo 'ALTER TABLE features DROP COLUMN bucket;' > p/migrations/V5__drop_bucket.sql
  printf 'deploy: {soft_drop: true, retain: 1}\n' >> p/sluice.yaml
  ORDER() { Q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'features'::regclass AND attnum > 0 AND NOT attisdropped"; }
  HIDDEN() { Q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'features'::regclass AND attname LIKE 'sluice\\_dropped\\_%' AND NOT attisdropped"; }
  ARCH() { Q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sluice' AND c.relname LIKE 'archive\\_%'"; }
  dsl deploy --to 2 -q
  expect_rc 0
  Q "UPDATE features SET tier = 'silver' WHERE id % 2 = 0" >/dev/null
  before=$(SNAP); order=$(ORDER)
  expect_eq "$order" "id,score,segment,bucket,tier"
  dsl deploy
  expect_rc 0
  expect_out "soft drop: renamed public.features.segment to sluice_dropped_"
  expect_eq "$(HIDDEN) $(ARCH)" "2 1"
  # writers of the new shape work: the renamed columns are nullable
  Q "INSERT INTO features (id, score) VALUES (1000, 0.5)" >/dev/null
  expect_rc 0
  dsl rollback -q
  expect_rc 0
  expect_eq "$(ORDER) $(HIDDEN) $(ARCH)" "id,score,segment,tier,bucket 0 0"
  expect_eq "$(Q "SELECT tier, coalesce(segment, 'NULL') FROM features WHERE id = 1000")" "gold|NULL"
  expect_eq "$(Q "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'features'::regclass AND attname = 'tier'")" "t"
  # the archive path puts back what DROP COLUMN took along: index, constraint
  expect_eq "$(Q "SELECT count(*) FROM pg_indexes WHERE indexname = 'features_bucket'") $(Q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'bucket_positive'")" "1 CHECK ((bucket >= 0))"
  Q "DELETE FROM features WHERE id = 1000" >/dev/null
  expect_eq "$(SNAP)" "$before"
  expect_eq "$(Q "SELECT count(*) FROM features WHERE tier = 'silver'")" "150"
  # retention: the next deployment's prune really drops the column
  dsl deploy --to 3 -q
  expect_rc 0
  expect_eq "$(HIDDEN)" "1"
  dsl deploy --to 4 -q
  expect_rc 0
  expect_eq "$(HIDDEN) $(ORDER)" "1 id,score,sluice_dropped_$(dsl deployments --format json; json 'd["deployments"][0]["id"].lower().replace("-", "_")')_1,bucket"
}

for b in $(backends); do
  eval "test_deploy_records_and_redeploy_is_noop_$b() { check_deploy_records_and_redeploy_is_noop $b; }"
  eval "test_gate_failure_rolls_back_to_the_exact_state_$b() { check_gate_failure_rolls_back_to_the_exact_state $b; }"
  eval "test_rollback_restores_a_dropped_column_with_its_values_$b() { check_rollback_restores_a_dropped_column_with_its_values $b; }"
  eval "test_kill_in_every_phase_then_resume_or_rollback_$b() { check_kill_in_every_phase_then_resume_or_rollback $b; }"
  eval "test_failing_hook_rolls_back_and_on_rollback_runs_$b() { check_failing_hook_rolls_back_and_on_rollback_runs $b; }"
  eval "test_two_deploys_at_once_one_waits_or_refuses_$b() { check_two_deploys_at_once_one_waits_or_refuses $b; }"
  eval "test_forward_only_refuses_a_breaking_change_$b() { check_forward_only_refuses_a_breaking_change $b; }"
done
[ "$PG_OK" = 1 ] && test_postgres_refuses_what_cannot_be_undone() { check_postgres_refuses_what_cannot_be_undone postgres; }
[ "$PG_OK" = 1 ] && test_postgres_soft_drop_renames_and_rolls_back_in_place() { check_postgres_soft_drop_renames_and_rolls_back_in_place postgres; }

t_run
