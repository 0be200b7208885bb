#!/bin/bash
# contracts.sh - feature contracts (features/*.yaml) and model contracts
# (models/*.yaml): loading errors, and the ML lint rules and pipeline
# checks that read them: feature-documentation-complete,
# bias-assessment-required, model-input-breaking.
. "$T_ROOT/tests/lib/t.sh"

project() {
  mkdir -p migrations features models
  cat > sluice.yaml <<'YAML'
project: ml
environments:
  dev: {url: "sqlite:dev.db"}
pipeline:
  stages:
    - name: docs
      steps: [feature-documentation-complete]
    - name: bias
      steps: [bias-assessment-required]
    - name: apply
      steps: [migrate]
YAML
  cat > migrations/V1__features.sql <<'SQL'
CREATE TABLE user_features (
    user_id bigint PRIMARY KEY,
    sessions_7d bigint,
    score double precision,
    churned boolean,
    updated_at timestamp
);
SQL
  cat > features/user_features.yaml <<'YAML'
table: user_features
key: user_id
timestamp: updated_at
label: churned
owner: ml-platform
columns:
  sessions_7d: {type: integer, description: "sessions in the last 7 days"}
  score: {type: real, description: "engagement score", range: [0, 1]}
YAML
  cat > models/churn.yaml <<'YAML'
name: churn
task: binary
table: user_features
label: churned
metric: auc
versions:
  - version: 1
    inputs: [sessions_7d, score]
  - version: 2
    inputs: [sessions_7d]
YAML
}

rules() { json '[(f["rule"], f["severity"], f["message"]) for f in d["findings"] if f["rule"] in ("feature-documentation-complete", "bias-assessment-required", "model-input-breaking")]'; }

test_documented_columns_pass() {
  project
  sl lint --format json
  expect_rc 0
  expect_eq "$(rules)" "[]"
}

test_undocumented_column_is_a_finding_and_fails_its_pipeline_check() {
  project
  sl -q migrate
  printf 'ALTER TABLE user_features ADD COLUMN clicks_7d bigint;\n' > migrations/V2__clicks.sql
  sl lint --format json
  expect_rc 0
  expect_eq "$(rules)" "[('feature-documentation-complete', 'warning', 'user_features.clicks_7d is not described in feature contract user_features (features/user_features.yaml)')]"
  sl run
  expect_rc 1
  expect_err "stage 'docs' failed at step 'feature-documentation-complete': .*V2__clicks.sql:1:13: \[feature-documentation-complete\] user_features.clicks_7d is not described"
  sl --format json status
  expect_eq "$(json '[e["version"] for e in d["pending"]]')" "['2']"
  # described without an owner: the contract's owner counts; without a description: named
  printf '  clicks_7d: {type: integer}\n' >> features/user_features.yaml
  sl lint --format json
  expect_eq "$(rules)" "[('feature-documentation-complete', 'warning', 'user_features.clicks_7d in feature contract user_features (features/user_features.yaml:9) lacks description')]"
  sed -i 's/  clicks_7d: {type: integer}/  clicks_7d: {type: text, description: "clicks"}/' features/user_features.yaml
  sl lint --format json
  expect_eq "$(rules)" "[('feature-documentation-complete', 'warning', 'user_features.clicks_7d is added as int8 but feature contract user_features (features/user_features.yaml:9) says text')]"
  sed -i 's/  clicks_7d: {type: text, /  clicks_7d: {type: integer, /' features/user_features.yaml
  sl run
  expect_rc 0
}

test_protected_attribute_needs_a_fairness_gate() {
  project
  sl -q migrate
  printf 'ALTER TABLE user_features ADD COLUMN gender text;\nALTER TABLE user_features ADD COLUMN page_views bigint;\n' > migrations/V2__gender.sql
  printf '  page_views: {type: integer, description: "page views"}\n' >> features/user_features.yaml
  printf '  gender: {type: text, description: "self-reported"}\n' >> features/user_features.yaml
  sl lint --format json
  # "page_views" contains "age" but is not named like a protected attribute
  expect_eq "$(rules)" "[('bias-assessment-required', 'warning', \"user_features.gender looks like a protected attribute and no fairness gate covers it (it is not marked protected in the table's contract)\")]"
  sl run
  expect_rc 1
  expect_err "stage 'bias' failed at step 'bias-assessment-required'"
  sed -i 's/  gender: {type: text, description: "self-reported"}/  gender: {type: text, description: "self-reported", protected: true}/' features/user_features.yaml
  sl lint --format json
  expect_eq "$(rules)" "[]"
  sl run
  expect_rc 0
  # a fairness gate switched off is not an assessment
  printf '  ethnicity: {type: text, description: "self-reported", protected: true}\ngates:\n  fairness: {enabled: false}\n' >> features/user_features.yaml
  printf 'ALTER TABLE user_features ADD COLUMN ethnicity text;\n' > migrations/V3__eth.sql
  sl lint --format json
  expect_eq "$(json '[f["message"] for f in d["findings"] if f["rule"] == "bias-assessment-required"]')" \
    "['user_features.ethnicity is protected but the fairness gate of its contract is disabled']"
}

test_table_without_contract_gets_bias_finding_only() {
  project
  printf 'CREATE TABLE applicants (id bigint PRIMARY KEY, marital_status text, age_years int, agent text);\n' > migrations/V2__applicants.sql
  sl lint --format json
  expect_eq "$(json '[f["message"] for f in d["findings"] if f["rule"] in ("bias-assessment-required", "feature-documentation-complete")]')" \
    "['applicants.marital_status looks like a protected attribute and no fairness gate covers it (the table has no feature contract)', 'applicants.age_years looks like a protected attribute and no fairness gate covers it (the table has no feature contract)']"
}

test_model_input_breaking_names_the_versions() {
  project
  sl -q migrate
  printf "ALTER TABLE user_features DROP COLUMN score;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_rc 1
  expect_eq "$(rules)" "[('model-input-breaking', 'error', 'dropping user_features.score breaks churn v1')]"
  printf "ALTER TABLE user_features RENAME COLUMN sessions_7d TO sessions_week;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_rc 1
  expect_eq "$(rules)" "[('model-input-breaking', 'error', 'renaming user_features.sessions_7d breaks churn v1, churn v2')]"
  printf "ALTER TABLE user_features ALTER COLUMN churned TYPE text;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_eq "$(rules)" "[('model-input-breaking', 'error', 'narrowing user_features.churned breaks churn v1 (label), churn v2 (label)')]"
  printf "DROP TABLE user_features;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_eq "$(rules)" "[('model-input-breaking', 'error', 'dropping table user_features breaks churn v1, churn v2')]"
  # widening an input is not breaking; dropping a column no model reads is not either
  printf "ALTER TABLE user_features ALTER COLUMN score TYPE double precision;\nALTER TABLE user_features DROP COLUMN updated_at;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_eq "$(rules)" "[]"
  # suppression works like for every rule
  printf -- "-- sluice:ignore model-input-breaking\nALTER TABLE user_features DROP COLUMN score;\n" > migrations/V2__drop.sql
  sl lint --format json
  expect_rc 0
  expect_eq "$(rules)" "[]"
}

test_plan_names_features_and_models_and_fails_on_model_input() {
  project
  sl -q migrate
  printf "ALTER TABLE user_features DROP COLUMN score;\nALTER TABLE user_features ADD COLUMN clicks bigint;\n" > migrations/V2__drop.sql
  sl plan --format json
  expect_rc 1
  expect_eq "$(json 'd["model_breaking"], sorted((c["kind"], c["object"], c["features"], c["models"]) for c in d["changes"])')" \
    "1 [('add column', 'user_features.clicks', [], []), ('drop column', 'user_features.score', ['user_features'], ['churn v1'])]"
  sl plan
  expect_rc 1
  expect_out 'models: churn v1'
  expect_out "1 breaking change\(s\) reach a model's inputs: plan fails"
}

test_contract_errors_name_file_line_and_cause() {
  project
  printf 'table: t\ncolumns:\n  a: {type: integr}\n' > features/bad.yaml
  sl lint
  expect_rc 2
  expect_err "features/bad.yaml:3:13: unknown type 'integr' for a"
  printf 'table: t\ncolumns:\n  a: {type: int, range: [5, 1]}\n' > features/bad.yaml
  sl lint
  expect_rc 2
  expect_err 'features/bad.yaml:3:6: the range of a is empty'
  printf 'table: t\ncolumns:\n  a: {type: int, colour: red}\n' > features/bad.yaml
  sl lint
  expect_rc 2
  expect_err "features/bad.yaml:3:18: unknown key 'colour'"
  printf 'table: t\ncolumns: {a: int}\ngates:\n  fairnes: {min_ratio: 0.8}\n' > features/bad.yaml
  sl lint
  expect_rc 2
  expect_err "features/bad.yaml:4:3: unknown gate 'fairnes'"
  printf 'columns: {a: int}\n' > features/bad.yaml
  sl lint
  expect_rc 2
  expect_err "features/bad.yaml:1:1: a feature contract needs 'table'"
  rm features/bad.yaml
  printf 'name: churn\nversion: 1\ntable: t\ninputs: [a]\n' > models/dup.yaml
  sl lint
  expect_rc 2
  expect_err 'models/dup.yaml:2: model churn v1 is also defined in .*churn.yaml'
  printf 'name: x\nversion: 1\ntable: t\ninputs: [a]\nmetric: r2\n' > models/dup.yaml
  sl lint --format json
  expect_rc 2
  expect_err "models/dup.yaml:2: model x: unknown metric 'r2'"
  expect_eq "$(json 'd["error"]["file"].endswith("models/dup.yaml"), d["error"]["line"]')" "True 2"
  printf 'name: x\nversion: 1\ntable: t\n' > models/dup.yaml
  sl plan
  expect_rc 2
  expect_err "model x v1 needs 'inputs'"
}

test_contract_check_against_the_live_schema() {
  project
  sl contract check
  expect_rc 1
  expect_out "user_features: missing-table: table user_features does not exist"
  sl -q migrate
  sl contract check --format json
  expect_rc 0
  expect_eq "$(json 'd["problems"], [(m["name"], m["version"], m["inputs"]) for m in d["models"]]')" "[] [('churn', '1', 2), ('churn', '2', 1)]"
  printf 'ALTER TABLE user_features DROP COLUMN score;\nALTER TABLE user_features ADD COLUMN score text;\n' > migrations/V2__retype.sql
  sl -q migrate
  sl contract check --format json
  expect_rc 1
  expect_eq "$(json '[(p["contract"], p["kind"]) for p in d["problems"]]')" \
    "[('user_features', 'type-mismatch'), ('churn v1', 'incompatible-input')]"
  expect_eq "$(json 'd["problems"][0]["message"]')" "features/user_features.yaml:8: user_features.score is TEXT in the database but real in the contract"
  sl contract list --format json
  expect_rc 0
  expect_eq "$(json '[f["name"] for f in d["features"]]')" "['user_features']"
}

t_run
