#!/bin/bash
# impact.sh - `sluice impact`: the model-impact gate on the example
# project's conversion model (two versions with different inputs), on
# SQLite and on a real PostgreSQL.  A training set is captured at version
# 8; a harmless change (V9) passes; a change that destroys an important
# feature fails both versions; a unit change that retraining would absorb
# still fails the live (baseline) model; a dropped input breaks only the
# version that reads it; stored predictions and the Model Impact Score are
# reported; the pipeline steps gate on the same figures.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL impact: cannot start PostgreSQL"; fi
fi

# demo sqlite|postgres: the example project at version 8 with a training
# set captured, then V9 applied; Q runs SQL on it
demo() {
  cp -r "$T_ROOT/examples/recsys" .
  rm -f recsys/recsys.db
  if [ "$1" = sqlite ]; then
    URL="sqlite:$PWD/recsys/recsys.db"
    Q() { sqlite3 recsys/recsys.db "$1"; }
  else
    DB="impact_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -c "$1"; }
  fi
  sl -C recsys --url "$URL" -q migrate --to 8
  expect_rc 0
  sl -C recsys --url "$URL" baseline capture --format json
  expect_rc 0
  expect_eq "$(json '[(s["table"], s["rows"], s["columns"]) for s in d["training_sets"]]')" "[('conversion_features', 600, 5)]"
  sl -C recsys --url "$URL" -q migrate
  expect_rc 0
}

models() { json '[(m["name"], m["version"], m.get("compatible"), m.get("passed")) for m in d["models"]]'; }

check_harmless_change_passes() {
  demo "$1"
  sl -C recsys --url "$URL" impact conversion --format json
  expect_rc 0
  expect_eq "$(models)" "[('conversion', '1', True, True), ('conversion', '2', True, True)]"
  # the same rows on both sides (bottom-k by key hash): nothing moves
  expect_eq "$(json '[(m["drop"], m["serving_drop"], m["rows"]["baseline"], m["rows"]["candidate"], m["rows"]["candidate_holdout"]) for m in d["models"]]')" \
    "[(0.0, 0.0, 600, 600, 104), (0.0, 0.0, 600, 600, 104)]"
  # the features carry signal: v2 (with days_since_signup) beats v1
  expect_eq "$(json '[m["baseline"] > 0.75 for m in d["models"]], d["models"][1]["baseline"] > d["models"][0]["baseline"] + 0.03')" "[True, True] True"
  expect_eq "$(json 'set(["name","version","compatible","metric","baseline","candidate","drop","passed","impact_score"]) <= set(d["models"][0].keys()), d["passed"]')" "True True"
  expect_eq "$(json '[(m["impact_score"] >= 0.9, m["impact_details"]["parts"]["label_quality"], m["impact_details"]["not_measured"]) for m in d["models"]][0]')" "(True, 1.0, ['temporal_consistency'])"
  sl -C recsys --url "$URL" impact
  expect_rc 0
  expect_out 'conversion v1 +ok'
  expect_out 'ranker v1: no label'
  expect_out '2 model version\(s\) measured on .*, 0 failed'
}

check_destroyed_feature_fails() {
  demo "$1"
  # sessions_7d loses its signal (a broken backfill)
  Q "UPDATE conversion_features SET sessions_7d = (user_id * 7919) % 9"
  sl -C recsys --url "$URL" impact conversion --format json
  expect_rc 1
  expect_eq "$(models)" "[('conversion', '1', True, False), ('conversion', '2', True, False)]"
  expect_eq "$(json '[m["drop"] > 0.02 and m["serving_drop"] > 0.05 for m in d["models"]], d["passed"]')" "[True, True] False"
  expect_eq "$(json 'd["models"][0]["failures"][0].startswith("retrained auc drops")')" "True"
  sl -C recsys --url "$URL" impact conversion
  expect_rc 1
  expect_out 'conversion v1 +FAILED'
  expect_out 'the baseline model on the changed rows drops'
  # a larger max_drop lets it through
  sl -C recsys --url "$URL" impact conversion --max-drop 0.9 --no-score
  expect_rc 0
  # the pipeline step gates on it
  printf 'pipeline:\n  name: impact-only\n  stages:\n    - name: models\n      steps: [{model-performance-drop: "<= 0.02"}]\n' > recsys/impact.yaml
  sl -C recsys --url "$URL" run impact.yaml
  expect_rc 1
  expect_err "step 'model-performance-drop <= 0.02': model conversion v1: retrained auc drops"
}

check_unit_change_breaks_the_live_model() {
  demo "$1"
  # pages per session now in hundredths: a retrained model adapts, the
  # one trained before the change does not
  Q "UPDATE conversion_features SET pages_per_session = pages_per_session * 100"
  sl -C recsys --url "$URL" impact conversion --format json --no-score
  expect_rc 1
  expect_eq "$(json '[(abs(m["drop"]) < 0.01, m["serving_drop"] > 0.02) for m in d["models"]]')" "[(True, True), (True, True)]"
  expect_eq "$(json 'd["models"][0]["failures"][0].startswith("the baseline model on the changed rows")')" "True"
}

check_dropped_input_breaks_only_its_version() {
  demo "$1"
  Q "ALTER TABLE conversion_features DROP COLUMN days_since_signup"
  sl -C recsys --url "$URL" impact conversion --format json --no-score
  expect_rc 1
  expect_eq "$(models)" "[('conversion', '1', True, True), ('conversion', '2', False, False)]"
  expect_eq "$(json 'd["models"][1]["reasons"]')" "['input conversion_features.days_since_signup does not exist']"
}

check_stored_predictions_and_baseline_env() {
  demo "$1"
  # a model that stores its predictions (here an SQL rule over the table)
  cat > recsys/models/rule.yaml <<'YAML'
name: rule
version: 1
table: conversion_features
inputs: [sessions_7d]
label: converted
metric: auc
predictions: {sql: "CASE WHEN sessions_7d >= 6 THEN 1 ELSE 0 END"}
YAML
  sl -C recsys --url "$URL" -q baseline capture --name withrule
  expect_rc 0
  Q "UPDATE conversion_features SET sessions_7d = 0 WHERE user_id % 2 = 0"
  sl -C recsys --url "$URL" impact rule --baseline withrule --format json --no-score
  expect_rc 1
  expect_eq "$(json '[(sp["baseline"] > sp["candidate"] + 0.02, sp["baseline_rows"], sp["candidate_rows"], sp["baseline_from"]) for sp in [d["models"][0]["stored_predictions"]]][0]')" "(True, 600, 600, 'baseline rows')"
  expect_eq "$(json 'any(f.startswith("stored predictions") for f in d["models"][0]["failures"])')" "True"
  # no training set of that name: a usage error that says what to do
  sl -C recsys --url "$URL" impact rule --baseline nosuch
  expect_rc 2
  expect_err "no training set 'nosuch' of conversion_features"
  expect_err "sluice baseline capture --name nosuch"
  if [ "$1" = sqlite ]; then
    # the baseline read live from another environment (a copy taken now)
    cp recsys/recsys.db recsys/prod.db
    sed -i 's|^  dev: .*|&\n  prod:    {url: "sqlite:prod.db"}|' recsys/sluice.yaml
    sl -C recsys --url "$URL" impact conversion --baseline-env prod --format json --no-score
    expect_rc 0
    expect_eq "$(json '[(m["drop"], m["baseline_source"]["kind"], m["baseline_source"]["environment"]) for m in d["models"]]')" \
      "[(0.0, 'environment', 'prod'), (0.0, 'environment', 'prod')]"
  fi
}

# `gate --baseline-env`: drift against the same table read live in
# another environment (training vs serving skew), not a stored baseline
check_gate_drift_against_another_environment() {
  [ "$1" = sqlite ] || return 0
  demo sqlite
  cp recsys/recsys.db recsys/prod.db
  sed -i 's|^  dev: .*|&\n  prod:    {url: "sqlite:prod.db"}|' recsys/sluice.yaml
  sl -C recsys --url "$URL" gate users --baseline-env prod --format json
  expect_rc 0
  expect_eq "$(json '[(g["passed"], g["details"]["baseline"]) for g in d["gates"] if g["gate"] == "drift"]')" "[(True, 'table users in prod (read now)')]"
  Q "UPDATE users SET country = 'US' WHERE user_id % 3 = 0"
  sl -C recsys --url "$URL" gate users --baseline-env prod --format json
  expect_rc 1
  expect_eq "$(json '[[(c["column"], c["drifted"]) for c in g["details"]["columns"]] for g in d["gates"] if g["gate"] == "drift"]')" "[[('country', True), ('age_bucket', False)]]"
  sl -C recsys --url "$URL" gate users --baseline-env nosuch
  expect_rc 2
}

check_bad_contract_is_a_usage_error() {
  demo "$1"
  printf 'name: bad\nversion: 1\ntask: regression\ntable: conversion_features\ninputs: [plan]\nlabel: converted\nmetric: auc\n' > recsys/models/bad.yaml
  sl -C recsys --url "$URL" impact
  expect_rc 2
  expect_err 'models/bad.yaml:2:.*metric auc does not apply to a regression task'
}

for b in sqlite postgres; do
  for c in harmless_change_passes destroyed_feature_fails unit_change_breaks_the_live_model \
           dropped_input_breaks_only_its_version stored_predictions_and_baseline_env \
           gate_drift_against_another_environment bad_contract_is_a_usage_error; do
    if [ $b = sqlite ]; then
      eval "test_${b}_$c() { check_$c $b; }"
    else
      eval "test_${b}_$c() { [ \"\$PG_OK\" = 1 ] || return 0; check_$c $b; }"
    fi
  done
done

t_run
