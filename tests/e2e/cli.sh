#!/bin/bash
# tests/e2e/cli.sh - the command line itself: help, version, exit codes,
# global options, init, sluice.yaml errors with file:line:col, JSON error
# documents, password masking and `sluice run` pipelines.  SQLite only (no
# server needed); the database scenarios are in sqlite.sh and postgres.sh.
. "$T_ROOT/tests/lib/t.sh"

# A small project: two SQLite environments and one migration.
project() {
  mkdir -p migrations
  echo "CREATE TABLE t (id INTEGER);" >migrations/V1__create_t.sql
  cat >sluice.yaml <<'EOF'
project: cli
migrations: migrations
environments:
  dev:   {url: "sqlite:dev.db"}
  other: {url: "sqlite:other.db"}
default_environment: dev
EOF
}

# ---- help, version, unknown commands -------------------------------------

test_help_lists_every_command() {
  sl help
  expect_rc 0
  for c in init status migrate validate undo baseline repair run help version; do
    expect_out "^  $c "
  done
  expect_out "exit codes"
}

test_help_for_a_command_shows_its_usage() {
  sl help migrate
  expect_rc 0
  expect_out "usage: sluice migrate \[--to VERSION\]"
  sl migrate --help
  expect_rc 0
  expect_out "usage: sluice migrate"
  sl help frobnicate
  expect_rc 2
  expect_err "unknown command 'frobnicate'"
}

test_no_command_prints_usage_and_exits_2() {
  sl
  expect_rc 2
  expect_err "usage: sluice"
  [ -z "$OUT" ] || t_fail "a usage error must leave stdout empty"
}

test_version() {
  sl version
  expect_rc 0
  expect_out '^sluice [0-9]+\.[0-9]+\.[0-9]+$'
  local v=$OUT
  sl --version
  expect_rc 0
  expect_eq "$OUT" "$v"
  sl --format json version
  expect_rc 0
  expect_eq "$(json 'd["ok"], d["command"]')" "True version"
  expect_eq "sluice $(json 'd["version"]')" "$v"
}

test_unknown_command_exits_2() {
  sl frobnicate
  expect_rc 2
  expect_err "unknown command 'frobnicate'"
  expect_err "sluice help"
  expect_no_out .
}

test_unknown_option_exits_2() {
  project
  sl status --bogus
  expect_rc 2
  expect_err "unknown option '--bogus'"
  sl migrate --to
  expect_rc 2
  expect_err "needs a value"
  sl --format xml status
  expect_rc 2
  expect_err "unknown --format 'xml'"
  sl --lock-timeout soon status
  expect_rc 2
  expect_err "invalid duration 'soon'"
  [ ! -e dev.db ] || t_fail "a usage error opened the database"
}

# ---- global options ------------------------------------------------------

test_global_options_after_the_command() {
  project
  sl migrate -e other
  expect_rc 0
  sl status -e other --format json
  expect_rc 0
  local after=$OUT
  expect_eq "$(json 'd["environment"], d["current"]')" "other 1"
  sl --format json -e other status
  expect_rc 0
  expect_eq "$OUT" "$after" "(options before vs after the command)"
  # and the default environment was left alone
  sl status --format json
  expect_eq "$(json 'd["environment"], d["current"]')" "dev None"
  # long option with =, and a short option glued to its value
  sl status --env=other --format=json
  expect_eq "$(json 'd["environment"]')" "other"
  sl status -eother --format json
  expect_eq "$(json 'd["environment"]')" "other"
}

test_dash_C_runs_in_the_directory() {
  mkdir -p top/proj
  sl -C top/proj init --name p
  expect_rc 0
  [ -f top/proj/sluice.yaml ] || t_fail "init -C did not write top/proj/sluice.yaml"
  [ ! -e sluice.yaml ] || t_fail "init -C wrote into the current directory"
  echo "CREATE TABLE t (id INTEGER);" >top/proj/migrations/V1__t.sql
  sl migrate -C top/proj
  expect_rc 0
  [ -f top/proj/dev.db ] || t_fail "the SQLite file is not next to the config"
  # several -C accumulate, as in git
  sl -C top -C proj status --format json
  expect_rc 0
  expect_eq "$(json 'd["current"]')" "1"
  sl -C does/not/exist status
  expect_rc 2
  expect_err "cannot change to 'does/not/exist'"
}

test_bundled_dash_C_is_a_usage_error() {
  mkdir sub
  (cd sub && project)
  sl -qv -C sub status
  expect_rc 0
  sl -vC sub status
  expect_rc 2
  expect_err "write -C DIR on its own"
  sl -qCsub status
  expect_rc 2
}

test_dash_c_file_resolves_paths_next_to_it() {
  mkdir sub
  (cd sub && project)
  sl -c sub/sluice.yaml migrate
  expect_rc 0
  [ -f sub/dev.db ] || t_fail "sqlite path not resolved against the config's directory"
  [ ! -e dev.db ] || t_fail "sqlite file created in the current directory"
  sl --config sub/sluice.yaml status --format json
  expect_eq "$(json 'd["current"]')" "1"
}

test_no_config_is_a_usage_error() {
  sl status
  expect_rc 2
  expect_err "no sluice.yaml"
  expect_err "hint: .*sluice init"
}

test_url_without_a_config() {
  mkdir migrations
  echo "CREATE TABLE t (id INTEGER);" >migrations/V1__t.sql
  sl --url "sqlite:$T_TMP/u.db" migrate
  expect_rc 0
  [ "$(sqlite3 u.db 'SELECT count(*) FROM sluice_history WHERE version = 1')" = 1 ] \
    || t_fail "no history row in u.db"
  sl --url "mysql://localhost/x" status
  expect_rc 2
  expect_err "unsupported database URL"
}

test_quiet_prints_nothing_on_success() {
  project
  sl -q migrate
  expect_rc 0
  expect_no_out .
  expect_no_err .
}

# ---- init ----------------------------------------------------------------

test_init_writes_config_and_directories() {
  sl init --name demo
  expect_rc 0
  expect_out "wrote sluice.yaml"
  for d in migrations features models; do
    [ -d "$d" ] || t_fail "init did not create $d/"
  done
  grep -q '^project: demo$' sluice.yaml || t_fail "sluice.yaml lacks 'project: demo'"
  # the template is a valid config: status works on its default (dev, SQLite)
  sl status --format json
  expect_rc 0
  expect_eq "$(json 'd["environment"], d["current"]')" "dev None"
}

test_init_refuses_to_overwrite_without_force() {
  sl init --name demo
  expect_rc 0
  echo "# my edits" >>sluice.yaml
  local before
  before=$(cksum <sluice.yaml)
  sl init --name other
  expect_rc 2
  expect_err "sluice.yaml already exists"
  expect_err "--force"
  expect_eq "$(cksum <sluice.yaml)" "$before" "(sluice.yaml was changed)"
  sl init --name other --force
  expect_rc 0
  grep -q '^project: other$' sluice.yaml || t_fail "--force did not rewrite sluice.yaml"
  grep -q 'my edits' sluice.yaml && t_fail "--force kept the old content"
  true
}

test_init_project_name_defaults_to_directory_and_is_checked() {
  mkdir my-proj
  sl -C my-proj init
  expect_rc 0
  grep -q '^project: my-proj$' my-proj/sluice.yaml || t_fail "default name is not the directory's"
  sl init --name 'bad name;rm'
  expect_rc 2
  expect_err "may hold only"
  [ ! -e sluice.yaml ] || t_fail "a rejected name still wrote sluice.yaml"
}

# ---- sluice.yaml errors --------------------------------------------------

test_malformed_yaml_names_line_and_column() {
  cat >sluice.yaml <<'EOF'
project: x
environments:
  dev: {url: "sqlite:a.db"
default_environment: dev
EOF
  sl status
  expect_rc 2
  expect_err 'sluice\.yaml:4:1: invalid YAML'
  printf 'project: x\n  bad: indent\n' >sluice.yaml
  sl migrate
  expect_rc 2
  expect_err 'sluice\.yaml:2:[0-9]+: invalid YAML'
  [ ! -e a.db ] || t_fail "a bad config still opened the database"
}

test_unknown_key_names_its_line() {
  cat >sluice.yaml <<'EOF'
project: x
environments:
  dev: {url: "sqlite:a.db"}
projcet: y
EOF
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:4:1: unknown key 'projcet'"
  expect_err "hint: known keys: .*project"
  cat >sluice.yaml <<'EOF'
project: x
environments:
  dev:
    description: local
    ulr: "sqlite:a.db"
EOF
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:5:5: unknown key 'ulr' in an environment"
}

test_wrong_types_name_their_line() {
  printf 'project: x\nenvironments:\n  dev: {url: "sqlite:a.db"}\nout_of_order: maybe\n' >sluice.yaml
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:4:[0-9]+: expected true or false for 'out_of_order'"
  printf 'project: x\nenvironments: [a, b]\n' >sluice.yaml
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:2:[0-9]+: expected a mapping .* found a list"
  printf 'project: [x]\n' >sluice.yaml
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:1:[0-9]+: expected a string for 'project'"
  printf 'project: x\nenvironments:\n  dev: {url: "sqlite:a.db"}\nlock_timeout: soon\n' >sluice.yaml
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:4:[0-9]+: invalid duration 'soon'"
  printf 'project: x\nenvironments:\n  dev: {url: "sqlite:a.db"}\ndefault_environment: prod\n' >sluice.yaml
  sl status
  expect_rc 2
  expect_err "sluice\.yaml:4:[0-9]+: default_environment 'prod' is not among"
}

test_unknown_environment_lists_the_known_ones() {
  project
  sl status -e prod
  expect_rc 2
  expect_err "unknown environment 'prod' \(known: dev, other\)"
}

test_unset_variable_fails_only_when_its_environment_is_used() {
  unset SLUICE_T_PROD_URL || true
  cat >sluice.yaml <<'EOF'
project: x
environments:
  dev:  {url: "sqlite:dev.db"}
  dflt: {url: "${SLUICE_T_UNSET_VAR:-sqlite:dflt.db}"}
  prod: {url: "${SLUICE_T_PROD_URL}"}
default_environment: dev
EOF
  sl status
  expect_rc 0
  sl status -e dflt --format json
  expect_rc 0
  expect_eq "$(json 'd["url"]')" "sqlite:dflt.db"
  sl status -e prod
  expect_rc 2
  expect_err "sluice\.yaml:5:[0-9]+: environment 'prod': variable SLUICE_T_PROD_URL is not set"
  run env SLUICE_T_PROD_URL="sqlite:prod.db" "$SLUICE" status -e prod --format json
  expect_rc 0
  expect_eq "$(json 'd["url"]')" "sqlite:prod.db"
}

test_malformed_migration_files_are_usage_errors_naming_the_file() {
  project
  echo "CREATE TABLE t1 (id INTEGER);" >migrations/1_dup.up.sql
  sl validate
  expect_rc 2
  expect_err "migrations/(V1__create_t|1_dup\.up)\.sql: version 1 is defined twice"
  rm migrations/1_dup.up.sql
  echo "SELECT 1;" >migrations/V2_one_underscore.sql
  sl migrate
  expect_rc 2
  expect_err "migrations/V2_one_underscore\.sql: a Flyway migration name needs '__'"
  rm migrations/V2_one_underscore.sql
  echo "SELECT 1;" >migrations/3_no_direction.sql
  sl status
  expect_rc 2
  expect_err "migrations/3_no_direction\.sql:1: looks like a migration"
  rm migrations/3_no_direction.sql
  echo "DROP TABLE t;" >migrations/U4__orphan.sql
  sl status --format json
  expect_rc 2
  expect_eq "$(json 'd["error"]["file"]')" "migrations/U4__orphan.sql"
  rm migrations/U4__orphan.sql
  # files that do not look like migrations are ignored, as Flyway does
  echo "notes" >migrations/README.md
  echo "SELECT 1;" >migrations/helpers.sql
  sl migrate
  expect_rc 0
  expect_eq "$(sqlite3 dev.db 'SELECT group_concat(script) FROM sluice_history')" "V1__create_t.sql"
}

# ---- JSON error documents -----------------------------------------------# ---- JSON error documents -----------------------------------------------

test_json_error_document() {
  sl --format json status
  expect_rc 2
  expect_eq "$(json 'd["ok"], d["command"], d["exit_code"], d["error"]["code"]')" "False status 2 2"
  expect_eq "$(json '"no sluice.yaml" in d["error"]["message"], d["error"]["hint"] is not None')" "True True"
  expect_eq "$(json 'sorted(d) == ["command", "error", "exit_code", "ok"]')" "True"
  expect_eq "$(json 'sorted(d["error"])')" "['code', 'column', 'file', 'hint', 'line', 'message']"
  expect_eq "$(printf '%s\n' "$ERR" | wc -l)" "1" "(stderr lines in JSON mode: $ERR)"
  expect_err "^sluice: no sluice.yaml"
}

test_json_error_document_carries_file_line_column() {
  printf 'project: x\nenvironments:\n  dev: {url: "sqlite:a.db"}\nprojcet: y\n' >sluice.yaml
  sl status --format json
  expect_rc 2
  expect_eq "$(json 'd["error"]["file"], d["error"]["line"], d["error"]["column"]')" "sluice.yaml 4 1"
  expect_eq "$(json '"projcet" in d["error"]["message"]')" "True"
  expect_eq "$(printf '%s\n' "$ERR" | wc -l)" "1" "(stderr lines in JSON mode: $ERR)"
}

test_json_error_document_for_a_database_error() {
  sl --format json --url "postgresql:///x?host=$T_TMP/no-server" migrate
  expect_rc 3
  expect_eq "$(json 'd["ok"], d["exit_code"], d["error"]["code"]')" "False 3 3"
  expect_err "^sluice: "
}

# ---- password masking ----------------------------------------------------

test_password_is_masked_everywhere() {
  local sock=$T_TMP/no-such-socket-dir
  local u
  for u in "postgresql://alice:s3cr3t@localhost/db?host=$sock" \
           "postgres://alice:s3cr3t@/db?host=$sock" \
           "postgresql:///db?host=$sock&password=s3cr3t&user=alice" \
           "postgresql://alice:pa?s3cr3t@/db?host=$sock" \
           "postgresql://alice:pa#s3cr3t@/db?host=$sock" \
           "postgresql://alice:s3cr3t%@/db?host=$sock" \
           "postgresql:///db?host=$sock&password=s3cr3t%zz"; do
    for fmt in text json; do
      sl --format "$fmt" --url "$u" status
      expect_rc 3
      expect_no_out s3cr3t
      expect_no_err s3cr3t
      expect_err '\*\*\*'
      sl --format "$fmt" --url "$u" migrate
      expect_rc 3
      expect_no_out s3cr3t
      expect_no_err s3cr3t
    done
  done
  # from sluice.yaml, with the password from the environment
  cat >sluice.yaml <<EOF
project: x
environments:
  prod: {url: "postgresql://alice:\${SLUICE_T_PW}@/db?host=$sock"}
pipeline:
  stages:
    - name: deploy
      steps: [{migrate: {env: prod}}]
EOF
  run env SLUICE_T_PW=s3cr3t "$SLUICE" -v status
  expect_rc 3
  expect_no_out s3cr3t
  expect_no_err s3cr3t
  expect_err 'alice:\*\*\*@'
  run env SLUICE_T_PW=s3cr3t "$SLUICE" run
  expect_rc 1
  expect_no_out s3cr3t
  expect_no_err s3cr3t
  run env SLUICE_T_PW=s3cr3t "$SLUICE" --format json run
  expect_rc 1
  expect_no_out s3cr3t
  expect_no_err s3cr3t
  # not a known scheme: still masked in the "unsupported URL" message
  sl --url "mysql://alice:s3cr3t@localhost/db" status
  expect_rc 2
  expect_no_err s3cr3t
}

# ---- sluice run ----------------------------------------------------------

pipeline_project() {
  project
  cat >>sluice.yaml <<'EOF'
pipeline:
  name: ci
  stages:
    - name: check
      steps: [validate]
    - name: first
      steps:
        - migrate: {env: dev}
        - run: "touch first.done"
    - name: broken
      steps:
        - run: "echo noise; exit 3"
        - run: "touch broken-second-step.done"
    - name: later
      steps:
        - run: "touch later.done"
EOF
}

test_run_pipeline_passes() {
  project
  cat >>sluice.yaml <<'EOF'
pipeline:
  name: ci
  stages:
    - name: check
      steps: [validate]
    - name: deploy
      env: dev
      steps:
        - migrate
        - run: "test -f dev.db && touch deployed.done"
    - name: verify
      steps: [{validate: {env: dev}}]
EOF
  sl run
  expect_rc 0
  expect_out "== stage check passed"
  expect_out "== stage deploy passed"
  expect_out "== stage verify passed"
  expect_out "pipeline ci passed"
  [ -f deployed.done ] || t_fail "the run step did not run"
  [ "$(sqlite3 dev.db 'SELECT count(*) FROM sluice_history WHERE version = 1 AND success')" = 1 ] \
    || t_fail "the migrate step did not record version 1"
}

test_run_failing_stage_stops_the_pipeline() {
  pipeline_project
  sl run
  expect_rc 1
  expect_err "stage 'broken' failed at step 'run echo noise; exit 3'"
  expect_err "exited 3"
  expect_out "== stage broken FAILED"
  expect_no_out "== stage later"
  [ -f first.done ] || t_fail "an earlier stage did not run"
  [ ! -e broken-second-step.done ] || t_fail "a step after the failed one ran"
  [ ! -e later.done ] || t_fail "a stage after the failed one ran"
}

test_run_json_report_names_the_failed_stage() {
  pipeline_project
  sl --format json run
  expect_rc 1
  # the child's stdout ("noise") must not corrupt the JSON document
  expect_eq "$(json 'd["ok"], d["failed_stage"], d["exit_code"]')" "False broken 1"
  expect_eq "$(json '[s["name"] + ":" + s["status"] for s in d["stages"]]')" \
    "['check:passed', 'first:passed', 'broken:failed']"
  expect_eq "$(json 'd["stages"][2]["steps"][0]["error"]["code"]')" "1"
  expect_err noise
}

test_run_unknown_step_exits_2_before_anything_runs() {
  project
  cat >>sluice.yaml <<'EOF'
pipeline:
  stages:
    - name: first
      steps:
        - run: "touch first.done"
    - name: second
      steps:
        - validate
        - migarte: {env: dev}
EOF
  sl run
  expect_rc 2
  expect_err "sluice\.yaml:15:11: unknown step 'migarte'"
  expect_err "hint: known steps: .*validate.*migrate.*run"
  [ ! -e first.done ] || t_fail "a stage ran although the pipeline is invalid"
  [ ! -e dev.db ] || t_fail "the database was touched although the pipeline is invalid"
}

# Documents pipeline.h's promise ("the whole definition is checked before
# any step runs"): an unknown environment in a later stage should fail the
# load with file:line (exit 2) before the first stage runs.
test_run_unknown_environment_fails_before_anything_runs() {
  project
  cat >>sluice.yaml <<'EOF'
pipeline:
  stages:
    - name: first
      steps:
        - run: "touch first.done"
    - name: second
      steps:
        - migrate: {env: prdo}
EOF
  sl run
  expect_rc 2
  expect_err "sluice\.yaml:14:[0-9]+: .*unknown environment 'prdo'"
  [ ! -e first.done ] || t_fail "a stage ran although the pipeline names an unknown environment"
}

test_run_pipeline_from_a_file() {
  project
  cat >ci.yaml <<'EOF'
pipeline:
  name: from-file
  stages:
    - name: only
      steps:
        - run: "touch from-file.done"
EOF
  sl run ci.yaml
  expect_rc 0
  expect_out "pipeline from-file passed"
  [ -f from-file.done ] || t_fail "the file's pipeline did not run"
  printf 'pipeline:\n  stages:\n    - name: x\n      steps: [nope]\n' >bad.yaml
  sl run bad.yaml
  expect_rc 2
  expect_err "bad\.yaml:4:[0-9]+: unknown step 'nope'"
  sl run
  expect_rc 2
  expect_err "no 'pipeline' section"
}

test_run_step_argument_errors_name_their_line() {
  project
  cat >>sluice.yaml <<'EOF'
pipeline:
  stages:
    - name: a
      steps:
        - migrate: {env: dev, too: "2"}
EOF
  sl run
  expect_rc 2
  expect_err "sluice\.yaml:11:[0-9]+: unknown key 'too'"
}

t_run
