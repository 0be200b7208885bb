#!/bin/bash
# gate.sh - `sluice gate`: the data quality gates of the feature contracts
# (schema, completeness, validity, uniqueness, freshness, fairness) on the
# example project, on SQLite and on a real PostgreSQL: a clean table passes;
# a degraded, an invalid, a duplicated and a biased change each fail their
# gate with the keys of the failing rows and the SQL that selects them.
. "$T_ROOT/tests/lib/t.sh"
. "$T_ROOT/tests/lib/pg.sh"

PG_OK=0
if [ -z "${SLUICE_NO_PG:-}" ]; then
  if pg_start >/dev/null; then PG_OK=1; trap pg_stop EXIT; else echo "FAIL gate: cannot start PostgreSQL"; fi
fi

# demo sqlite|postgres: the example project, migrated; Q runs SQL on it
demo() {
  cp -r "$T_ROOT/examples/recsys" .
  rm -f recsys/recsys.db
  # the conversion model's table (V8, V9) is impact.sh's
  rm -f recsys/migrations/[VU][89]__* recsys/migrations/[VU]1[0-9]__* recsys/features/conversion_features.yaml recsys/models/conversion.yaml
  if [ "$1" = sqlite ]; then
    URL="sqlite:$PWD/recsys/recsys.db"
    Q() { sqlite3 recsys/recsys.db "$1"; }
  else
    DB="gate_$$_$RANDOM$RANDOM"
    pg_createdb "$DB"
    URL=$(pg_url "$DB")
    Q() { psql -Atq -d "$DB" -c "$1"; }
  fi
  sl -C recsys --url "$URL" -q migrate
  expect_rc 0
}

gates() { json '[(g["table"], g["gate"], g["column"], g["passed"]) for g in d["gates"]]'; }
gate_of() { # TABLE GATE [COLUMN]: that gate's JSON
  json "[g for g in d['gates'] if g['table'] == '$1' and g['gate'] == '$2' and (g['column'] or '') == '${3:-}'][0]"
}

check_clean_demo_passes() {
  demo "$1"
  sl -C recsys --url "$URL" gate --format json
  expect_rc 0
  expect_eq "$(gates)" "[('user_features', 'schema', None, True), ('user_features', 'completeness', None, True), ('user_features', 'validity', None, True), ('user_features', 'uniqueness', None, True), ('user_features', 'feature_quality', None, True), ('users', 'schema', None, True), ('users', 'completeness', None, True), ('users', 'validity', None, True), ('users', 'uniqueness', None, True), ('users', 'fairness', 'country', True), ('users', 'fairness', 'age_bucket', True), ('users', 'feature_quality', None, True)]"
  # 606 users, one without an age bucket: 1211 of 1212 cells
  expect_eq "$(json '[round(g["score"], 6) for g in d["gates"] if g["table"] == "users" and g["gate"] == "completeness"]')" "[$(python3 -c 'print(round(1 - 1/1212, 6))')]"
  # every country converts at 30% in the synthetic cohort (the 6 seed users add a little)
  f=$(gate_of users fairness country)
  expect_eq "$(printf %s "$f" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(d["outcome"], len(d["groups"]), all(x["n"] >= 120 for x in d["groups"]), g["score"] >= 0.85)')" "label 5 True True"
  sl -C recsys --url "$URL" gate users
  expect_rc 0
  expect_out 'ok +fairness country'
  expect_out '7 gate\(s\) on 1 table\(s\): 0 failed'
}

check_degraded_completeness_fails_with_keys_and_sql() {
  demo "$1"
  Q "UPDATE user_features SET engagement_score = NULL WHERE user_id IN (1, 2)"
  sl -C recsys --url "$URL" gate user_features --format json
  expect_rc 1
  g=$(gate_of user_features completeness)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); c=[c for c in g["details"]["columns"] if c["column"]=="engagement_score"][0]; print(g["passed"], round(g["score"],4), c["nulls"], c["passed"], c["sample_keys"], c["sql"])')" \
    "False 0.9167 2 False ['1', '2'] SELECT \"user_id\" FROM \"user_features\" WHERE \"engagement_score\" IS NULL"
  expect_eq "$(json 'd["passed"], d["ok"]')" "False False"
  sl -C recsys --url "$URL" gate user_features
  expect_rc 1
  expect_out 'FAIL +completeness'
  expect_out 'engagement_score: 2 NULL, keys 1, 2'
}

check_invalid_values_fail_validity() {
  demo "$1"
  Q "UPDATE users SET country = 'usa' WHERE user_id = 3"
  Q "UPDATE users SET age_bucket = '99+' WHERE user_id = 1001"
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 1
  g=$(gate_of users validity)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print(g["passed"], g["details"]["invalid"], [(c["column"], c["reasons"]["regex"], c["reasons"]["allowed"], c.get("sample_keys")) for c in g["details"]["columns"]])')" \
    "False 2 [('country', 1, 0, ['3']), ('age_bucket', 0, 1, ['1001'])]"
  if [ "$1" = postgres ]; then
    # the SQL selects exactly the failing rows
    sql=$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print([c for c in g["details"]["columns"] if c["column"]=="country"][0]["sql"])')
    expect_eq "$(Q "$sql")" 3
  else
    sql=$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print([c for c in g["details"]["columns"] if c["column"]=="age_bucket"][0]["sql"])')
    expect_eq "$(Q "$sql")" 1001
  fi
}

check_biased_change_fails_fairness() {
  demo "$1"
  Q "UPDATE users SET converted = (user_id % 10 = 0) WHERE country = 'BR'"
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 1
  g=$(gate_of users fairness country)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; r={x["group"]: round(x["selection_rate"], 3) for x in d["groups"]}; print(g["passed"], r["BR"] < 0.15, r["DE"] >= 0.3, round(d["ratio"], 3) == round(min(r.values())/max(r.values()), 3), round(d["difference"], 3) == round(max(r.values())-min(r.values()), 3))')" \
    "False True True True True"
  # the age buckets are still fair
  expect_eq "$(gate_of users fairness age_bucket | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["passed"])')" True
}

check_duplicate_keys_and_missing_columns() {
  demo "$1"
  Q "CREATE TABLE scores (user_id bigint, score real)"
  Q "INSERT INTO scores VALUES (1, 0.5), (1, 0.6), (2, 0.1), (3, 0.2), (3, 0.3), (3, 0.4)"
  cat > recsys/features/scores.yaml <<'YAML'
table: scores
key: user_id
columns:
  score: {type: real, description: "a score", owner: me, range: [0, 1]}
YAML
  sl -C recsys --url "$URL" gate scores --format json
  expect_rc 1
  g=$(gate_of scores uniqueness)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], round(g["score"], 4), d["duplicated_keys"], d["rows_with_duplicated_keys"], sorted(d["sample_keys"]))')" \
    "False 0.1667 2 5 ['1', '3']"
  printf '  stale: {type: real, description: "gone", owner: me}\n' >> recsys/features/scores.yaml
  sl -C recsys --url "$URL" gate scores --format json
  expect_rc 1
  expect_eq "$(gate_of scores schema | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print(g["passed"], g["details"]["missing_columns"])')" "False ['stale']"
}

check_freshness_and_explain() {
  demo "$1"
  printf '  freshness: {max_age: 1h}\n' >> recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users --format json --explain
  expect_rc 1
  expect_eq "$(gate_of users freshness signup_at | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print(g["passed"], g["details"]["newest"][:10], g["details"]["max_age_seconds"])')" "False 2026-05-01 3600.0"
  expect_eq "$(json 'any(e.startswith("pass: SELECT") for e in d["explain"]), any(e.startswith("uniqueness: SELECT") for e in d["explain"])')" "True True"
  sed -i 's/max_age: 1h/max_age: 100000d/' recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users
  expect_rc 0
  sed -i 's/max_age: 100000d/max_age: soon/' recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users
  expect_rc 2
  expect_err "freshness max_age 'soon' is not a duration"
}

check_profile_and_merge_of_shards() {
  demo "$1"
  sl -C recsys --url "$URL" profile users --format json
  expect_rc 0
  expect_eq "$(json '[(c["name"], c["kind"], c["count"], c["nulls"]) for c in d["profile"]["columns"]]')" \
    "[('user_id', 'numeric', 606, 0), ('country', 'categorical', 606, 0), ('signup_at', 'time', 606, 0), ('age_bucket', 'categorical', 606, 1), ('converted', 'categorical', 606, 0)]"
  sl -C recsys --url "$URL" profile users -o whole.json -q
  sl -C recsys --url "$URL" profile users --where "user_id < 1000" -o a.json -q
  sl -C recsys --url "$URL" profile users --where "user_id >= 1000" -o b.json -q
  sl profile merge recsys/a.json recsys/b.json -o merged.json --format json
  expect_rc 0
  /usr/bin/python3 - <<'PY' || t_fail "merged shards differ from the whole"
import base64, json, struct
w = json.load(open("recsys/whole.json")); m = json.load(open("merged.json"))
assert m["rows"] == w["rows"] == 606, (m["rows"], w["rows"])
for a, b in zip(w["columns"], m["columns"]):
    assert a["name"] == b["name"] and a["count"] == b["count"] and a["nulls"] == b["nulls"], (a["name"],)
    if a["kind"] == "numeric":
        assert abs(a["mean"] - b["mean"]) < 1e-9 and abs(a["variance"] - b["variance"]) < 1e-6, a["name"]
        assert a["min"] == b["min"] and a["max"] == b["max"]
        dec = lambda v: sorted(struct.unpack("<%dd" % (len(base64.b64decode(v)) // 8), base64.b64decode(v)))
        assert dec(a["values"]) == dec(b["values"]) and len(dec(a["values"])) == 606
    if a["kind"] == "categorical":
        assert a["frequencies"] == b["frequencies"], a["name"]
    if a["kind"] == "time":
        assert (a["min"], a["max"]) == (b["min"], b["max"])
    assert abs(a["distinct"] - b["distinct"]) <= 0.03 * max(a["distinct"], 1), (a["name"], a["distinct"], b["distinct"])
PY
  # profiles of different tables do not merge
  sl -C recsys --url "$URL" profile items -o c.json -q
  sl profile merge recsys/a.json recsys/c.json
  expect_rc 2
  expect_err 'profiles of different tables \(users, items\)'
  echo '{"format": "sluice-profile", "version": 1, "table": "t", "columns": 3}' > bad.json
  sl profile merge recsys/a.json bad.json
  expect_rc 2
  expect_err "bad.json: profile: 'table' and 'columns' are required"
}

check_baseline_capture_and_drift_gate() {
  demo "$1"
  sl -C recsys --url "$URL" baseline capture --format json
  expect_rc 0
  expect_eq "$(json '[(c["table"], c["rows"], c["schema_version"]) for c in d["captured"]]')" "[('user_features', 6, '7'), ('users', 606, '7')]"
  sl -C recsys --url "$URL" baseline list --format json
  expect_eq "$(json '[(b["name"], b["table"]) for b in d["baselines"]]')" "[('default', 'users'), ('default', 'user_features')]"
  # nothing changed: no drift
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 0
  expect_eq "$(gate_of users drift | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], [(c["column"], c["method"], c["drifted"], c["exact"]) for c in d["columns"]])')" \
    "True [('country', 'chisquare', False, True), ('age_bucket', 'chisquare', False, True)]"
  # a drifted change: a third of the users move to one country, half the ages to one bucket
  Q "UPDATE users SET country = 'US' WHERE user_id % 3 = 0"
  Q "UPDATE users SET age_bucket = '55+' WHERE user_id % 2 = 0"
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 1
  expect_eq "$(gate_of users drift | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], d["share"], d["dataset_drift"], [(c["column"], c["drifted"], c["p_value"] < 1e-10) for c in d["columns"]])')" \
    "False 1.0 True [('country', True, True), ('age_bucket', True, True)]"
  sl -C recsys --url "$URL" baseline diff users
  expect_rc 1
  expect_out 'country +chisquare +266'
  expect_out 'dataset drift$'
  sl -C recsys --url "$URL" run --time-scale 100000 --format json >/dev/null 2>&1 || true
  sl -C recsys --url "$URL" baseline diff nosuch
  expect_rc 2
  expect_err "no baseline 'default' of nosuch"
  # a reference read live: the training table against the serving one
  Q "CREATE TABLE users_training AS SELECT * FROM users WHERE user_id % 3 <> 0"
  printf '  drift: {reference_table: users_training}\n' >> recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users --format json
  expect_eq "$(gate_of users drift | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(d["baseline"], [(c["column"], c["reference_n"]) for c in d["columns"]], d["columns"][0]["drifted"])')" \
    "table users_training (read now) [('country', 404), ('age_bucket', 404)] True"
}

check_consistency_accuracy_and_quality_score() {
  demo "$1"
  Q "CREATE TABLE uf_online AS SELECT * FROM user_features"
  Q "UPDATE uf_online SET engagement_score = engagement_score + 0.5 WHERE user_id = 3"
  Q "DELETE FROM uf_online WHERE user_id = 6"
  printf 'second_source: {table: uf_online, tolerance: 0.001}\n' >> recsys/features/user_features.yaml
  Q "CREATE TABLE users_truth AS SELECT user_id, converted FROM users"
  Q "UPDATE users_truth SET converted = NOT converted WHERE user_id BETWEEN 1000 AND 1009"
  printf 'ground_truth: {table: users_truth, columns: [converted]}\n' >> recsys/features/users.yaml
  sl -C recsys --url "$URL" gate --format json
  expect_rc 1
  expect_eq "$(gate_of user_features consistency | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], round(g["score"], 4), d["rows"], d["missing_rows"], d["cells"], d["agreeing"], sorted(d["sample_keys"]), [(c["column"], round(c["agreement"], 3)) for c in d["columns"]])')" \
    "False 0.7917 6 1 24 19 ['3', '6'] [('views_30d', 0.833), ('clicks_30d', 0.833), ('purchases_30d', 0.833), ('engagement_score', 0.667)]"
  expect_eq "$(gate_of users accuracy | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], round(g["score"], 4), d["cells"], d["agreeing"], len(d["sample_keys"]))')" \
    "True $(python3 -c 'print(round(596/606, 4))') 606 596 10"
  # the feature-quality score is the mean of the parts that ran
  expect_eq "$(gate_of user_features feature_quality | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); p=g["details"]["parts"]; print(sorted(p), round(g["score"], 4) == round(sum(v["score"] for v in p.values())/len(p), 4), g["passed"])')" \
    "['completeness', 'consistency', 'uniqueness', 'validity'] True True"
  # the SQL of the disagreeing rows selects exactly them
  sql=$(gate_of user_features consistency | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["details"]["sql"])')
  expect_eq "$(Q "$sql" | sort | tr '\n' ' ')" "3 6 "
}

check_temporal_leakage() {
  demo "$1"
  Q "ALTER TABLE users ADD COLUMN converted_at TIMESTAMP"
  Q "UPDATE users SET converted_at = '2026-06-01 00:00:00'"
  sed -i 's/^label: converted$/label: converted\nlabel_timestamp: converted_at/' recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 0
  expect_eq "$(gate_of users temporal_consistency signup_at | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print(g["passed"], g["score"], g["details"]["leaked_rows"])')" "True 1.0 0"
  # five rows whose features are stamped after their label was known
  Q "UPDATE users SET converted_at = '2026-04-01 00:00:00' WHERE user_id BETWEEN 1000 AND 1004"
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 1
  expect_eq "$(gate_of users temporal_consistency signup_at | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], d["leaked_rows"], d["rows"], sorted(d["sample_keys"]))')" \
    "False 5 606 ['1000', '1001', '1002', '1003', '1004']"
  sed -i 's/^  fairness: {min_ratio: 0.85, min_group_size: 30}$/  fairness: {min_ratio: 0.85, min_group_size: 30}\n  temporal_consistency: {max_share: 0.01}/' recsys/features/users.yaml
  sl -C recsys --url "$URL" gate users
  expect_rc 0
}

check_relevance_of_model_inputs() {
  demo "$1"
  cat > recsys/models/conversion.yaml <<'YAML'
name: conversion
table: users
label: converted
version: 1
inputs: [country, age_bucket]
YAML
  # conversion depends on the age bucket only
  Q "UPDATE users SET converted = (age_bucket = '55+' OR age_bucket = '45-54')"
  sl -C recsys --url "$URL" gate users --format json
  expect_rc 1
  g=$(gate_of users relevance)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(g["passed"], g["score"], d["sample_rows"], [(c["column"], c["signal"], c["used_by"]) for c in d["columns"]])')" \
    "False 0.5 606 [('country', False, ['conversion v1']), ('age_bucket', True, ['conversion v1'])]"
  # NMI as scikit-learn defines it (arithmetic mean of the entropies), from the rows
  Q "SELECT age_bucket, converted FROM users" > rows.txt
  want=$(/usr/bin/python3 - <<'PY'
from collections import Counter
from math import log
rows = [l.rstrip("\n").split("|") for l in open("rows.txt")]
n = len(rows)
def H(c): return -sum(v / n * log(v / n) for v in c.values())
x = Counter(r[0] for r in rows); y = Counter(r[1] for r in rows); xy = Counter((r[0], r[1]) for r in rows)
mi = sum(v / n * log((v / n) / (x[a] / n * y[b] / n)) for (a, b), v in xy.items())
print(round(mi / ((H(x) + H(y)) / 2), 9))
PY
)
  expect_eq "$(printf %s "$g" | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print([round(c["nmi"], 9) for c in g["details"]["columns"] if c["column"] == "age_bucket"][0])')" "$want"
  # a table no model reads has no relevance gate
  expect_eq "$(json '[g["gate"] for g in d["gates"] if g["table"] == "user_features" and g["gate"] == "relevance"]')" "[]"
}

check_fairness_rates_on_a_hand_checked_table() {
  demo "$1"
  Q "CREATE TABLE preds (id integer PRIMARY KEY, grp text, label integer, pred integer)"
  # A: (1,1) (1,0) (0,1) (0,0): TPR .5, FPR .5, FNR .5; B: (1,1) (1,1) (0,0) (0,0): TPR 1, FPR 0
  Q "INSERT INTO preds VALUES (1,'A',1,1),(2,'A',1,0),(3,'A',0,1),(4,'A',0,0),(5,'B',1,1),(6,'B',1,1),(7,'B',0,0),(8,'B',0,0)"
  cat > recsys/features/preds.yaml <<'YAML'
table: preds
key: id
label: label
prediction: pred
columns:
  grp: {type: text, description: "group", owner: me, protected: true}
gates:
  fairness: {min_ratio: 0.8, min_group_size: 1}
YAML
  sl -C recsys --url "$URL" gate preds --format json
  expect_rc 0
  expect_eq "$(gate_of preds fairness grp | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); d=g["details"]; print(d["outcome"], d["ratio"], d["difference"], d["equal_opportunity_difference"], d["equal_opportunity_ratio"], d["equalized_odds_difference"], d["equalized_odds_ratio"], [(x["group"], x["selection_rate"], x["tpr"], x["fpr"], x["fnr"]) for x in d["groups"]])')" \
    "prediction 1.0 0.0 0.5 0.5 0.5 0.0 [('A', 0.5, 0.5, 0.5, 0.5), ('B', 0.5, 1.0, 0.0, 0.0)]"
  sed -i 's/min_group_size: 1}/min_group_size: 1, metric: equalized_odds}/' recsys/features/preds.yaml
  sl -C recsys --url "$URL" gate preds --format json
  expect_rc 1
  expect_eq "$(gate_of preds fairness grp | python3 -c 'import ast,sys; g=ast.literal_eval(sys.stdin.read()); print(g["passed"], g["score"], g["details"]["metric"])')" "False 0.0 equalized_odds"
}

check_wide_table_profile() {
  demo "$1"
  # 24 columns: wider than any first guess of a row's width
  cols=$(python3 -c 'print(", ".join("c%d integer" % i for i in range(23)))')
  vals=$(python3 -c 'print(", ".join(str(i) for i in range(23)))')
  Q "CREATE TABLE wide (id integer PRIMARY KEY, $cols)"
  Q "INSERT INTO wide VALUES (1, $vals), (2, $vals)"
  sl -C recsys --url "$URL" profile wide --format json
  expect_rc 0
  expect_eq "$(json '[(c["name"], c["count"], c["min"]) for c in d["profile"]["columns"]][-3:]')" "[('c20', 2, 20.0), ('c21', 2, 21.0), ('c22', 2, 22.0)]"
}

for c in wide_table_profile fairness_rates_on_a_hand_checked_table relevance_of_model_inputs temporal_leakage consistency_accuracy_and_quality_score profile_and_merge_of_shards baseline_capture_and_drift_gate clean_demo_passes degraded_completeness_fails_with_keys_and_sql invalid_values_fail_validity \
         biased_change_fails_fairness duplicate_keys_and_missing_columns freshness_and_explain; do
  eval "test_sqlite_$c() { check_$c sqlite; }"
  eval "test_postgres_$c() { [ \"\$PG_OK\" = 1 ] || return 0; check_$c postgres; }"
done

# PostgreSQL hands profiles and gates their rows through binary COPY; the
# text form (SLUICE_PG_TEXT_COPY=1) must give byte-identical results, for
# every type the decoder reads itself and for those the server turns into
# text (timestamps, uuid, json, arrays, enums, inet, domains), over more
# than 16 columns, with NULLs, NaN, infinities, subnormals, extreme
# integers and text full of COPY's escapes.
test_postgres_binary_copy_reads_what_the_text_form_reads() {
  [ "$PG_OK" = 1 ] || return 0
  DB="bincopy_$$_$RANDOM"
  pg_createdb "$DB"
  URL=$(pg_url "$DB")
  Q() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
  Q "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"
  Q "CREATE DOMAIN score AS double precision"
  Q "CREATE DOMAIN amount AS numeric"
  Q "CREATE TABLE wide_types (id integer PRIMARY KEY, k bigint, b boolean, s2 smallint, i4 integer,
       f4 real, f8 double precision, n numeric, n2 numeric(12,2), amt amount, sc score, tx text,
       vc varchar(20), bp char(5), nm name, ts timestamp, tz timestamptz, dt date, u uuid, j jsonb,
       arr text[], m mood, ip inet, ch \"char\", grp text)"
  Q "INSERT INTO wide_types VALUES
     (1, 9223372036854775807, true, -32768, -2147483648, 0.1, 0.1, -123.4500, -0.01, 12.50, 0.30000000000000004,
      E'tab\there\nnewline\\\\back', 'a', 'ab', 'nm', '2024-01-02 03:04:05.678', '2024-01-02 03:04:05+02',
      '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{1,NULL,\"a b\"}', 'ok', '10.0.0.1', 'x', 'A'),
     (2, -9223372036854775808, false, 32767, 2147483647, 'Infinity', 'NaN', 'NaN', 99999999.99, 'NaN', 'NaN',
      '', 'ü', 'x', 'n2', 'infinity', '-infinity', '0001-01-01 BC', NULL, 'null', '{}', 'happy', '10.0.0.0/8', 'y', 'B'),
     (3, 1000000000000000, NULL, NULL, NULL, NULL, '-Infinity', 100000000000000000000.5, 0, -0.000000001234, 5e-324,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'A'),
     (4, 999999999999999, true, 0, 0, -1e-45, 5e-324, 1234567890123456, -0.5, 0, 1.7976931348623157e308,
      E'\\\\N', 'b', 'z', 'w', now(), now(), now(), gen_random_uuid(), '[]', NULL, 'sad', NULL, NULL, 'B'),
     (5, -1000000000000000, false, 1, 1, 16777216, -0, 42, 1.5, 7, 2.5, 'a', 'b', 'c', 'd',
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'A')"
  Q "INSERT INTO wide_types (id, k, b, i4, f8, n, tx, grp)
     SELECT g, g::bigint * 1000000007, g % 3 = 0, g % 100 - 50, g / 7.0, g * 1.25, 'row ' || g, CASE WHEN g % 2 = 0 THEN 'A' ELSE 'B' END
     FROM generate_series(6, 3000) g"
  psql -X -q -d postgres -c "ALTER DATABASE \"$DB\" SET log_statement = 'all'"
  # profiles: every column, and a WHERE clause
  for where in "" "id > 2"; do
    set -- --url "$URL" profile wide_types --format json
    [ -n "$where" ] && set -- "$@" --where "$where"
    sl "$@"
    expect_rc 0
    printf %s "$OUT" > binary.json
    SLUICE_PG_TEXT_COPY=1 sl "$@"
    expect_rc 0
    printf %s "$OUT" > text.json
    /usr/bin/python3 - <<'PY' || t_fail "the profiles of binary and text COPY differ (where: $where)"
import json
b, t = (json.load(open(f)) for f in ("binary.json", "text.json"))
for d in (b, t):
    d["profile"].pop("taken_at")
assert json.dumps(b, sort_keys=True) == json.dumps(t, sort_keys=True)
cols = {c["name"]: c for c in b["profile"]["columns"]}
assert len(cols) == 25 and b["profile"]["rows"] >= 2998, (len(cols), b["profile"]["rows"])
PY
  done
  # the profile read real values, not an empty table
  expect_eq "$(json 'len(d["profile"]["columns"]), d["profile"]["rows"]')" "25 2998"
  sl --url "$URL" profile wide_types --where "id <= 5" --format json
  expect_eq "$(json '[c["frequencies"] for c in d["profile"]["columns"] if c["name"] in ("tx", "b", "amt")]')" \
    "[{'t': 2, 'f': 2}, {'12.50': 1, 'NaN': 1, '-0.000000001234': 1, '0': 1, '7': 1}, {'tab\there\nnewline\\\\back': 1, '': 1, '\\\\N': 1, 'a': 1}]"
  expect_eq "$(json '[(c["name"], c["invalid"], c["min"], c["max"]) for c in d["profile"]["columns"] if c["name"] in ("k", "f8", "n")]')" \
    "[('k', 0, -9.223372036854776e+18, 9.223372036854776e+18), ('f8', 3, 0.0, 0.1), ('n', 1, -123.45, 1e+20)]"
  # a gate reading keys, labels, groups and checked columns of most types
  mkdir -p proj/features
  printf 'project: t\nmigrations: migrations\nfeatures: features\n' > proj/sluice.yaml
  cat > proj/features/wide_types.yaml <<'YAML'
table: wide_types
key: k
label: b
columns:
  i4:  {type: integer, description: "i4", owner: me, range: [-40, 40]}
  f8:  {type: real, description: "f8", owner: me, range: [0, 100]}
  n:   {type: real, description: "n", owner: me, min: 0}
  n2:  {type: real, description: "n2", owner: me, allowed: [1.5, -0.5]}
  sc:  {type: real, description: "sc", owner: me}
  amt: {type: text, description: "amt", owner: me, regex: "^[0-9]+$"}
  tx:  {type: text, description: "tx", owner: me, regex: "^row [0-9]+$"}
  vc:  {type: text, description: "vc", owner: me, allowed: [a, b]}
  ts:  {type: timestamp, description: "ts", owner: me}
  u:   {type: text, description: "u", owner: me}
  grp: {type: text, description: "grp", owner: me, protected: true, nullable: false}
gates:
  fairness: {min_ratio: 0.5, min_group_size: 1}
YAML
  sl -C proj --url "$URL" gate wide_types --format json
  printf %s "$OUT" > gate-binary.json
  brc=$RC
  SLUICE_PG_TEXT_COPY=1 sl -C proj --url "$URL" gate wide_types --format json
  printf %s "$OUT" > gate-text.json
  expect_eq "$RC" "$brc"
  cmp -s gate-binary.json gate-text.json || t_fail "the gates of binary and text COPY differ: $(diff gate-binary.json gate-text.json | head -c 800)"
  expect_eq "$(json '[(g["gate"], g["column"], g["passed"]) for g in d["gates"]]')" \
    "[('schema', None, True), ('completeness', None, False), ('validity', None, False), ('uniqueness', None, True), ('fairness', 'grp', True), ('feature_quality', None, False)]"
  expect_eq "$(json '[c["sample_keys"][:3] for g in d["gates"] if g["gate"] == "validity" for c in g["details"]["columns"] if c["column"] == "i4"][0]')" \
    "['9223372036854775807', '-9223372036854775808', '6000000042']"
  # and the binary form was what was read (the server logs this database's statements)
  /usr/bin/python3 -c 'import re, sys
entries = re.split(r"\n(?=\d{4}-\d\d-\d\d )", open(sys.argv[1]).read())
sys.exit(not any("\"wide_types\"" in e and "TO STDOUT (FORMAT binary)" in e for e in entries))' "$PGDIR/server.log" ||
    t_fail "the server log shows no binary COPY of wide_types"
}

test_unknown_table_and_no_contracts_are_usage_errors() {
  demo sqlite
  sl -C recsys --url "$URL" gate nosuch
  expect_rc 2
  expect_err 'no feature contract for table nosuch'
  rm -r recsys/features
  sl -C recsys --url "$URL" gate
  expect_rc 2
  expect_err 'no feature contracts in'
}

t_run
