/* test_config.c - sluice.yaml loading, validation and substitution. */
#include "unit.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/yaml.h"

static void test_valid_config_loads_every_key(void **state)
{
	(void)state;
	char *d = temp_dir();
	const char *p = write_file(d, "sluice.yaml",
		"project: recsys\n"
		"migrations: db/migrations\n"
		"environments:\n"
		"  dev: {url: \"sqlite:dev.db\"}\n"
		"  prod: \"postgres://u@h/db\"\n"
		"default_environment: dev\n"
		"out_of_order: true\n"
		"lock_timeout: 2m\n");
	struct sl_config *cfg;
	struct sl_error err;
	assert_int_equal(sl_config_load(&cfg, p, &err), 0);
	assert_string_equal(cfg->project, "recsys");
	assert_non_null(strstr(cfg->migrations_dir, "/db/migrations"));
	assert_int_equal(cfg->nenvs, 2);
	assert_string_equal(cfg->envs[1].name, "prod");
	assert_string_equal(cfg->envs[1].url, "postgres://u@h/db");
	assert_int_equal(cfg->out_of_order, 1);
	assert_int_equal(cfg->lock_timeout_ms, 120000);
	const struct sl_env *e = sl_config_env(cfg, NULL, &err);
	assert_non_null(e);
	assert_string_equal(e->name, "dev");
	sl_config_free(cfg);
	remove_dir(d);
}

static void test_unknown_key_names_line_and_column(void **state)
{
	(void)state;
	char *d = temp_dir();
	const char *p = write_file(d, "sluice.yaml",
		"project: x\n"
		"environments:\n"
		"  dev: {url: \"sqlite:a.db\"}\n"
		"migratons: m\n");
	struct sl_config *cfg;
	struct sl_error err;
	assert_int_equal(sl_config_load(&cfg, p, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_int_equal(err.line, 4);
	assert_int_equal(err.column, 1);
	assert_non_null(strstr(err.message, "migratons"));
	assert_non_null(strstr(err.hint, "migrations"));
	remove_dir(d);
}

static void test_wrong_type_is_an_error(void **state)
{
	(void)state;
	char *d = temp_dir();
	const char *p = write_file(d, "sluice.yaml", "project: x\nout_of_order: maybe\n");
	struct sl_config *cfg;
	struct sl_error err;
	assert_int_equal(sl_config_load(&cfg, p, &err), -1);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 15);
	assert_non_null(strstr(err.message, "true or false"));
	p = write_file(d, "b.yaml", "environments: [a, b]\n");
	assert_int_equal(sl_config_load(&cfg, p, &err), -1);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.message, "mapping"));
	remove_dir(d);
}

static void test_syntax_error_has_position(void **state)
{
	(void)state;
	char *d = temp_dir();
	const char *p = write_file(d, "sluice.yaml", "project: x\nenvironments:\n  dev: {url: \"a\"\n");
	struct sl_config *cfg;
	struct sl_error err;
	assert_int_equal(sl_config_load(&cfg, p, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_true(err.line >= 3);
	assert_non_null(strstr(err.message, "invalid YAML"));
	p = write_file(d, "dup.yaml", "project: x\nproject: y\n");
	assert_int_equal(sl_config_load(&cfg, p, &err), -1);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.message, "duplicate"));
	remove_dir(d);
}

static void test_missing_file_is_usage_error(void **state)
{
	(void)state;
	struct sl_config *cfg;
	struct sl_error err;
	assert_int_equal(sl_config_load(&cfg, "/nonexistent/sluice.yaml", &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_string_equal(err.file, "/nonexistent/sluice.yaml");
}

static void test_env_vars_expand_only_when_used(void **state)
{
	(void)state;
	char *d = temp_dir();
	const char *p = write_file(d, "sluice.yaml",
		"environments:\n"
		"  dev: {url: \"sqlite:${SL_TEST_DB:-dev.db}\"}\n"
		"  prod: {url: \"${SL_TEST_UNSET_URL}\"}\n");
	struct sl_config *cfg;
	struct sl_error err;
	unsetenv("SL_TEST_UNSET_URL");
	unsetenv("SL_TEST_DB");
	assert_int_equal(sl_config_load(&cfg, p, &err), 0);
	struct sl_buf url = SL_BUF_INIT;
	const struct sl_env *dev = sl_config_env(cfg, "dev", &err);
	assert_int_equal(sl_config_env_url(cfg, dev, &url, &err), 0);
	assert_string_equal(url.s, "sqlite:dev.db");
	sl_buf_reset(&url);
	setenv("SL_TEST_DB", "other.db", 1);
	assert_int_equal(sl_config_env_url(cfg, dev, &url, &err), 0);
	assert_string_equal(url.s, "sqlite:other.db");
	sl_buf_reset(&url);
	const struct sl_env *prod = sl_config_env(cfg, "prod", &err);
	assert_int_equal(sl_config_env_url(cfg, prod, &url, &err), -1);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "SL_TEST_UNSET_URL"));
	sl_buf_free(&url);
	/* several environments and no default: must choose */
	assert_null(sl_config_env(cfg, NULL, &err));
	assert_non_null(strstr(err.message, "choose one with -e"));
	assert_null(sl_config_env(cfg, "nope", &err));
	assert_non_null(strstr(err.message, "unknown environment"));
	sl_config_free(cfg);
	remove_dir(d);
}

static void test_durations_parse_with_units(void **state)
{
	(void)state;
	long ms;
	assert_int_equal(sl_parse_duration_ms("60s", &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(sl_parse_duration_ms("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(sl_parse_duration_ms("15min", &ms), 0);
	assert_int_equal(ms, 900000);
	assert_int_equal(sl_parse_duration_ms("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(sl_parse_duration_ms("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(sl_parse_duration_ms("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(sl_parse_duration_ms("soon", &ms), -1);
	assert_int_equal(sl_parse_duration_ms("5 parsecs", &ms), -1);
	assert_int_equal(sl_parse_duration_ms("-1s", &ms), -1);
}

static void test_yaml_aliases_are_bounded(void **state)
{
	(void)state;
	/* a "billion laughs" document must be refused, not expanded */
	const char *bomb =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	struct sl_ydoc *doc;
	struct sl_error err;
	assert_int_equal(sl_yaml_load(&doc, "bomb.yaml", bomb, strlen(bomb), &err), -1);
	assert_non_null(strstr(err.message, "too large"));
	/* an ordinary alias resolves */
	const char *ok = "base: &b {url: x}\ncopy: *b\n";
	assert_int_equal(sl_yaml_load(&doc, "ok.yaml", ok, strlen(ok), &err), 0);
	assert_string_equal(sl_ymap_get(sl_ymap_get(doc->root, "copy"), "url")->scalar, "x");
	sl_ydoc_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_config_loads_every_key),
		cmocka_unit_test(test_unknown_key_names_line_and_column),
		cmocka_unit_test(test_wrong_type_is_an_error),
		cmocka_unit_test(test_syntax_error_has_position),
		cmocka_unit_test(test_missing_file_is_usage_error),
		cmocka_unit_test(test_env_vars_expand_only_when_used),
		cmocka_unit_test(test_durations_parse_with_units),
		cmocka_unit_test(test_yaml_aliases_are_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
