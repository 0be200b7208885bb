#!/bin/bash
# lint.sh - `sluice lint` from the command line: exit codes, JSON, modes,
# configuration, suppression, and the pipeline's no-breaking-changes check.
. "$T_ROOT/tests/lib/t.sh"

project() {
  mkdir -p migrations
  cat > sluice.yaml <<'YAML'
project: lintdemo
environments:
  dev: {url: "sqlite:dev.db"}
pipeline:
  stages:
    - name: static-analysis
      steps: [validate, no-breaking-changes]
    - name: migrate
      steps: [migrate]
YAML
  printf 'CREATE TABLE users (id bigint PRIMARY KEY, email text, score bigint);\n' > migrations/V1__users.sql
}

test_clean_history_passes_with_json_schema() {
  project
  sl lint --format json
  expect_rc 0
  expect_eq "$(json 'd["command"], d["files"], d["counts"]["error"], d["findings"]')" "lint 1 0 []"
}

test_pending_only_by_default_and_all_with_flag() {
  project
  sl -q migrate
  expect_rc 0
  printf 'ALTER TABLE users DROP COLUMN email;\n' > migrations/V2__drop_email.sql
  sl lint --format json
  expect_rc 0
  expect_eq "$(json 'd["files"]')" 1
  # the target is SQLite: PostgreSQL lock advice (require-timeout-settings) is left out
  expect_eq "$(json '[f["rule"] for f in d["findings"]]')" "['ban-drop-column']"
  sl lint --format json migrations/V2__drop_email.sql
  expect_eq "$(json '[f["rule"] for f in d["findings"]]')" "['require-timeout-settings', 'ban-drop-column']"
  expect_eq "$(json 'd["findings"][1]["file"].endswith("V2__drop_email.sql"), d["findings"][1]["line"], d["findings"][1]["severity"]')" "True 1 warning"
  sl lint --all --format json
  expect_eq "$(json 'd["files"]')" 2
}

test_forward_only_fails_breaking_changes() {
  project
  sl -q migrate
  printf "SET lock_timeout = '1s';\nALTER TABLE users RENAME COLUMN email TO mail;\n" > migrations/V2__rename.sql
  sl lint
  expect_rc 0
  expect_out 'warning \[renaming-column\]'
  sl lint --forward-only
  expect_rc 1
  expect_out 'V2__rename.sql:2:13: error \[renaming-column\] renaming column users.email to mail'
  expect_out 'hint: add the new column'
}

test_severity_override_and_mode_from_config() {
  project
  sl -q migrate
  printf "ALTER TABLE users ADD COLUMN visits int;\n" > migrations/V2__visits.sql
  sl lint
  expect_rc 0
  expect_out 'info \[prefer-bigint-over-int\]'
  printf 'lint:\n  rules:\n    prefer-bigint-over-int: error\n' >> sluice.yaml
  sl lint
  expect_rc 1
  expect_out 'error \[prefer-bigint-over-int\] users.visits is integer'
  printf 'lint:\n  mode: forward-only\n' > extra.yaml
  sed '/^lint:/,$d' sluice.yaml > s2.yaml; cat extra.yaml >> s2.yaml
  printf "ALTER TABLE users DROP COLUMN score;\n" > migrations/V3__drop.sql
  sl -c s2.yaml lint
  expect_rc 1
  expect_out 'error \[ban-drop-column\]'
  printf 'lint:\n  rules:\n    no-such-rule: error\n' > extra.yaml
  sed '/^lint:/,$d' sluice.yaml > s3.yaml; cat extra.yaml >> s3.yaml
  sl -c s3.yaml lint --all
  expect_rc 2
  expect_err 's3.yaml:[0-9]+:5: unknown lint rule .no-such-rule.'
}

test_suppression_comment() {
  project
  sl -q migrate
  printf -- "-- sluice:ignore ban-drop-column, require-timeout-settings\nALTER TABLE users DROP COLUMN score;\n" > migrations/V2__drop.sql
  sl lint --forward-only --format json
  expect_rc 0
  expect_eq "$(json 'len(d["findings"])')" 0
  printf 'ALTER TABLE users DROP COLUMN email;\n' > migrations/V3__drop.sql
  sl lint --forward-only --format json
  expect_rc 1
  expect_eq "$(json '[f["rule"] for f in d["findings"]]')" "['ban-drop-column']"
}

test_unparsable_file_is_a_finding_not_a_crash() {
  printf 'CREATE TABLE ok (id bigint);\nALTER TABLE ok ADDD COLUMN x int;\n' > bad.sql
  sl lint bad.sql --format json
  expect_rc 1
  expect_eq "$(json 'd["findings"][0]["rule"], d["findings"][0]["line"]')" "syntax-error 2"
}

test_pipeline_no_breaking_changes_stops_the_pipeline() {
  project
  sl -q run
  expect_rc 0
  printf 'ALTER TABLE users DROP COLUMN email;\n' > migrations/V2__drop.sql
  sl run
  expect_rc 1
  expect_err "stage 'static-analysis' failed at step 'no-breaking-changes'"
  expect_err 'ban-drop-column'
  sl --format json status
  expect_eq "$(json 'len(d["pending"])')" 1
}

test_demo_project_lints_clean() {
  cp -r "$T_ROOT/examples/recsys" .
  rm -f recsys/recsys.db
  sl -C recsys lint --all --forward-only
  expect_rc 0
  expect_out 'lint: 10 file\(s\), 0 error\(s\), 0 warning\(s\)'
}

test_ci_formats_sarif_junit_github() {
  printf "SET lock_timeout = '1s';\nALTER TABLE users DROP COLUMN email;\nCREATE TABLE t (id int);\n" > a.sql
  printf "CREATE TABLE u (id bigint);\n" > b.sql
  sl lint --forward-only --format sarif a.sql b.sql
  expect_rc 1
  expect_eq "$(json 'd["version"], d["runs"][0]["tool"]["driver"]["name"]')" "2.1.0 sluice"
  expect_eq "$(json '[(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in d["runs"][0]["results"]]')" "[('ban-drop-column', 'error', 2), ('prefer-bigint-over-int', 'note', 3)]"
  expect_eq "$(json 'all(d["runs"][0]["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in d["runs"][0]["results"])')" True
  sl lint --forward-only --format junit a.sql b.sql
  expect_rc 1
  printf %s "$OUT" > junit.xml
  expect_eq "$(python3 -c "import xml.etree.ElementTree as E; s=E.parse('junit.xml').getroot()[0]; print(s.get('tests'), s.get('failures'), [len(c.findall('failure')) for c in s])")" "2 1 [1, 0]"
  sl lint --format github a.sql
  expect_rc 0
  expect_out '^::warning file=a\.sql,line=2,col=13,title=ban-drop-column::dropping column users\.email\. '
  expect_out '^::notice file=a\.sql,line=3,'
  sl status --format sarif
  expect_rc 2
  expect_err 'is for lint'
}

test_dialect_variants_checked_on_a_sqlite_shadow() {
  project
  printf "ALTER TABLE users ADD COLUMN stock bigint;\nALTER TABLE users ADD COLUMN tags text;\n" > migrations/V2__stock.postgres.sql
  printf "ALTER TABLE users ADD COLUMN stock INTEGER;\nCREATE TABLE user_tags (user_id INTEGER, tag TEXT);\n" > migrations/V2__stock.sqlite.sql
  printf "ALTER TABLE users ADD COLUMN x bigint;\n" > migrations/V3__x.postgres.sql
  printf "ALTER TABLE users ADD COLUMN x INTEGER;\n\nALTER TABLE nope ADD COLUMN y INTEGER;\n" > migrations/V3__x.sqlite.sql
  sl lint --all --format json
  expect_rc 1
  expect_eq "$(json '[(f["rule"], f["file"].split("/")[-1], f["line"]) for f in d["findings"] if f["rule"] in ("sqlite-error", "dialect-variants-diverge")]')" \
    "[('dialect-variants-diverge', 'V2__stock.postgres.sql', 1), ('sqlite-error', 'V3__x.sqlite.sql', 3)]"
  expect_eq "$(json '[f["message"] for f in d["findings"] if f["rule"] == "dialect-variants-diverge"][0]')" \
    "version 2: only the SQLite variant creates column user_tags.tag, column user_tags.user_id, table user_tags; only the PostgreSQL variant creates column users.tags"
  expect_eq "$(json '[f["message"] for f in d["findings"] if f["rule"] == "sqlite-error"][0]')" "no such table: nope"
  # variants that agree pass
  printf "ALTER TABLE users ADD COLUMN stock INTEGER;\nALTER TABLE users ADD COLUMN tags TEXT;\n" > migrations/V2__stock.sqlite.sql
  printf "ALTER TABLE users ADD COLUMN x INTEGER;\n" > migrations/V3__x.sqlite.sql
  sl lint --all --format json
  expect_rc 0
  expect_eq "$(json '[f["rule"] for f in d["findings"] if f["rule"] in ("sqlite-error", "dialect-variants-diverge")]')" "[]"
}


# A file larger than the linter's 256 KB window is read and parsed a window
# at a time.  Statements cut by a window's end, dollar-quoted bodies with
# semicolons, comments, suppressions and BEGIN ATOMIC bodies must come out
# exactly as when the same statements are in a small file.
test_large_file_is_linted_in_windows_with_exact_positions() {
  python3 - <<'PY'
block = (
    "-- filler comment with a ; semicolon\n"
    "CREATE FUNCTION f{i}() RETURNS int LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  PERFORM 1; PERFORM 2;\n  RETURN {i};\nEND $$;\n"
    "CREATE FUNCTION g{i}() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT {i};\nEND;\n"
    "INSERT INTO t VALUES ('a string ; with a semicolon {i}', E'esc\\'aped;');\n"
    "ALTER TABLE t DROP COLUMN c{i};\n"
    "-- sluice:ignore ban-drop-column\n"
    "ALTER TABLE t DROP COLUMN d{i};\n"
    "/* a block comment ; spanning\n   two lines */ DROP TABLE x{i};\n"
)
with open("big.sql", "w") as f:
    f.write("SET lock_timeout = '1s';\n")
    i = 0
    while f.tell() < 1_600_000:
        f.write(block.replace("{i}", str(i)))
        i += 1
with open("n.txt", "w") as f:
    f.write(str(i))
PY
  n=$(cat n.txt)
  sl lint --format json big.sql
  expect_rc 0
  # per block: one ban-drop-column (the other is suppressed), one ban-drop-table
  expect_eq "$(json 'len([f for f in d["findings"] if f["rule"]=="ban-drop-column"]), len([f for f in d["findings"] if f["rule"]=="ban-drop-table"]), len([f for f in d["findings"] if f["rule"]=="syntax-error"])')" "$n $n 0"
  # block k starts at line 2 + 17*k; its DROP COLUMN c<k> is the block's 13th line
  last=$((n - 1))
  expect_eq "$(json '[(f["line"], f["column"]) for f in d["findings"] if f["rule"]=="ban-drop-column"][-1]')" "($((2 + 17 * last + 12)), 13)"
  expect_eq "$(json '[f["line"] for f in d["findings"] if f["rule"]=="ban-drop-table"][-1]')" "$((2 + 17 * last + 16))"
  # every finding line is where the whole-file position says it is
  expect_eq "$(json 'sorted(set((f["line"] - 2) % 17 for f in d["findings"]))')" "[12, 16]"
}

test_syntax_error_deep_in_large_file_is_reported_at_its_line() {
  python3 - <<'PY'
with open("big.sql", "w") as f:
    f.write("SET lock_timeout = '1s';\n")
    while f.tell() < 1_200_000:
        f.write("ALTER TABLE t ADD COLUMN a text;\n")
    f.write("ALTER TABLE t ADD COLUM b text;\n")
    f.write("DROP TABLE after_error;\n")
    while f.tell() < 2_000_000:
        f.write("ALTER TABLE t ADD COLUMN a text;\n")
PY
  sl lint --format json big.sql
  expect_rc 1
  expect_eq "$(json '[f["rule"] for f in d["findings"] if f["rule"] in ("syntax-error", "ban-drop-table")]')" "['syntax-error']"
  line=$(grep -n 'ADD COLUM b' big.sql | cut -d: -f1)
  expect_eq "$(json '[f["line"] for f in d["findings"] if f["rule"]=="syntax-error"]')" "[$line]"
}
t_run
