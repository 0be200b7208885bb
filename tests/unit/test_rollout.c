/* test_rollout.c - phases as the seed writes them, the rollout section of
 * sluice.yaml, and Argo Rollouts' judging of measurements. */
#include "unit.h"

#include "core/config.h"
#include "core/error.h"
#include "deploy/metric.h"
#include "deploy/rollout.h"

static void phase_ok(const char *s, int bp, long ms)
{
	struct sl_phase ph;
	char why[300] = "";
	int rc = sl_phase_parse(s, &ph, why, sizeof(why));
	if (rc)
		fail_msg("'%s': %s", s, why);
	assert_int_equal(ph.traffic_bp, bp);
	assert_int_equal(ph.hold_ms, ms);
}

static void phase_bad(const char *s, const char *want)
{
	struct sl_phase ph;
	char why[300] = "";
	assert_int_equal(sl_phase_parse(s, &ph, why, sizeof(why)), -1);
	if (!strstr(why, want))
		fail_msg("'%s': got '%s', want '%s'", s, why, want);
}

static void test_seed_phase_strings(void **state)
{
	(void)state;
	phase_ok("phase1: 5% traffic, 15min", 500, 15 * 60000);
	phase_ok("phase2: 25% traffic, 30min", 2500, 30 * 60000);
	phase_ok("phase4: 100% traffic, monitor 2h", 10000, 2 * 3600000L);
	phase_ok("5%: 15min", 500, 15 * 60000);
	phase_ok("100%: monitor 2h", 10000, 2 * 3600000L);
	phase_ok("12.5% 90s", 1250, 90000);
	phase_ok("  25%   ,   30m ", 2500, 30 * 60000);
	phase_ok("50%: 0s", 5000, 0);
}

static void test_bad_phase_strings(void **state)
{
	(void)state;
	phase_bad("5: 15min", "neither a percent");
	phase_bad("5%", "no hold time");
	phase_bad("15min", "no traffic percent");
	phase_bad("5% 25% 1m", "two percents");
	phase_bad("5% 1m 2m", "two durations");
	phase_bad("101%: 1m", "phase '101%: 1m'");
	phase_bad("5%: soon", "'soon' is neither");
	phase_bad("", "no traffic percent");
}

static struct sl_config *load(const char *yaml, struct sl_error *err)
{
	struct sl_config *cfg = NULL;
	sl_error_clear(err);
	if (sl_config_parse(&cfg, "sluice.yaml", yaml, strlen(yaml), err))
		return NULL;
	return cfg;
}

static void test_rollout_section_loads(void **state)
{
	(void)state;
	struct sl_error err;
	struct sl_config *cfg = load(
		"environments:\n"
		"  production: {url: \"sqlite:p.db\"}\n"
		"rollout:\n"
		"  flag: new_features\n"
		"  environment: production\n"
		"  phases: [{traffic: 5, hold: 15m}, \"25%: 30min\", {phase3: \"50% traffic, 60min\"},\n"
		"           \"100%: monitor 2h\"]\n"
		"  analysis:\n"
		"    interval: 1m\n"
		"    failure_limit: 1\n"
		"    metrics:\n"
		"      - {name: error_rate, provider: sql, query: \"select 1\", max: 0.01}\n"
		"      - {name: lat, provider: sql, canary: \"select 1\", baseline: \"select 2\", critical: true}\n",
		&err);
	assert_non_null(cfg);
	assert_int_equal(sl_rollout_config_check(cfg, &err), 0);
	struct sl_rollout_def d;
	assert_int_equal(sl_rollout_def_find(cfg, NULL, &d, &err), 0);
	assert_string_equal(d.flag, "new_features");
	assert_string_equal(d.environment, "production");
	assert_int_equal(d.nphases, 4);
	int bp[] = { 500, 2500, 5000, 10000 };
	long ms[] = { 900000, 1800000, 3600000, 7200000 };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(d.phases[i].traffic_bp, bp[i]);
		assert_int_equal(d.phases[i].hold_ms, ms[i]);
	}
	assert_int_equal(d.analysis.interval_ms, 60000);
	assert_int_equal(d.analysis.failure_limit, 1);
	assert_int_equal(d.analysis.consecutive_error_limit, 4);
	assert_int_equal(d.analysis.n, 2);
	assert_int_equal(d.analysis.ncompare, 1);
	assert_true(d.rollback_deploy);
	/* a metric without its own limits takes the analysis defaults */
	long fl, il, cel;
	sl_analysis_limits(&d.analysis, 0, &fl, &il, &cel);
	assert_int_equal(fl, 1);
	assert_int_equal(il, 0);
	assert_int_equal(cel, 4);
	sl_rollout_def_free(&d);
	/* a flag that has no rollout */
	assert_int_equal(sl_rollout_def_find(cfg, "other", &d, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_non_null(strstr(err.message, "no rollout of flag 'other'"));
	sl_config_free(cfg);
}

/* Each bad section fails at load with the line of the culprit. */
static void bad_section(const char *section, int line, const char *want)
{
	char yaml[2048];
	snprintf(yaml, sizeof(yaml), "environments:\n  production: {url: \"sqlite:p.db\"}\nrollout:\n%s", section);
	struct sl_error err;
	struct sl_config *cfg = load(yaml, &err);
	assert_non_null(cfg);
	assert_int_equal(sl_rollout_config_check(cfg, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	if (!strstr(err.message, want) || err.line != line)
		fail_msg("got line %d '%s', want line %d '%s'", err.line, err.message, line, want);
	sl_config_free(cfg);
}

static void test_bad_rollout_sections(void **state)
{
	(void)state;
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  colour: red\n", 6, "unknown key 'colour'");
	bad_section("  phases: [\"5%: 1m\"]\n", 4, "needs the 'flag'");
	bad_section("  flag: f\n  phases: [\"5: 15min\"]\n", 5, "neither a percent");
	bad_section("  flag: f\n  phases: [\"50%: 1m\", \"25%: 1m\"]\n", 5, "only raise traffic");
	bad_section("  flag: f\n  phases: [\"0%: 1m\"]\n", 5, "above 0%");
	bad_section("  flag: f\n  phases: []\n", 5, "non-empty list");
	bad_section("  flag: f\n  environment: prod\n  phases: [\"5%: 1m\"]\n", 5, "prod");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    metrics:\n"
		    "      - {name: m, provider: carrier-pigeon, query: x}\n", 8, "unknown provider");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    metrics:\n"
		    "      - {name: m, provider: sql, query: x, success: \"result <\"}\n", 8, "success");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    metrics:\n"
		    "      - {name: m, provider: sql}\n", 8, "needs a 'query'");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    metrics:\n"
		    "      - {name: m, provider: sql, canary: \"select 1\"}\n", 8, "both 'canary' and 'baseline'");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    metrics:\n"
		    "      - {name: m, provider: sql, query: x}\n      - {name: m, provider: sql, query: y}\n",
		    9, "two metrics are named 'm'");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    judge: {pass: 50, marginal: 80}\n", 7,
		    "judge");
	bad_section("  flag: f\n  phases: [\"5%: 1m\"]\n  analysis:\n    interval: soon\n", 7, "invalid duration");
	bad_section("  - {flag: f, phases: [\"5%: 1m\"]}\n  - {flag: f, phases: [\"5%: 1m\"]}\n", 5,
		    "two rollouts of flag 'f'");
}

/* Argo's evaluation of a metric over an analysis run. */
static void test_metric_assessment(void **state)
{
	(void)state;
	struct sl_metric_state s;
	memset(&s, 0, sizeof(s));
	sl_metric_state_add(&s, SL_OUT_SUCCESS);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_RUNNING);
	sl_metric_state_add(&s, SL_OUT_FAILED);
	/* failure_limit 0: the first failure fails; 1 tolerates it; -1 never */
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_FAILED);
	assert_int_equal(sl_metric_assess(&s, 1, 0, 4), SL_MS_RUNNING);
	assert_int_equal(sl_metric_assess(&s, -1, 0, 4), SL_MS_RUNNING);
	sl_metric_state_add(&s, SL_OUT_FAILED);
	assert_int_equal(sl_metric_assess(&s, 1, 0, 4), SL_MS_FAILED);
	/* consecutive errors: more than the limit; a success in between resets */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 4; i++)
		sl_metric_state_add(&s, SL_OUT_ERROR);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_RUNNING);
	sl_metric_state_add(&s, SL_OUT_SUCCESS);
	assert_int_equal(s.consecutive_error, 0);
	for (int i = 0; i < 4; i++)
		sl_metric_state_add(&s, SL_OUT_ERROR);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_RUNNING);
	sl_metric_state_add(&s, SL_OUT_ERROR);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_ERROR);
	assert_int_equal(s.error, 9);
	assert_int_equal(s.count, 10);
	/* inconclusive: more than inconclusive_limit pauses */
	memset(&s, 0, sizeof(s));
	sl_metric_state_add(&s, SL_OUT_INCONCLUSIVE);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_INCONCLUSIVE);
	assert_int_equal(sl_metric_assess(&s, 0, 1, 4), SL_MS_RUNNING);
	/* failed outranks inconclusive */
	sl_metric_state_add(&s, SL_OUT_FAILED);
	assert_int_equal(sl_metric_assess(&s, 0, 0, 4), SL_MS_FAILED);
	assert_string_equal(sl_outcome_name(SL_OUT_INCONCLUSIVE), "inconclusive");
	assert_string_equal(sl_metric_status_name(SL_MS_ERROR), "error");
}

/*
 * Measurements through the command provider (no database needed): max,
 * success/failure conditions and their Argo combinations, and provider
 * errors.
 */
static enum sl_outcome measure_one(const char *metric_yaml, char **detail)
{
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "environments:\n  production: {url: \"sqlite::memory:\"}\nrollout:\n  flag: f\n"
		 "  phases: [\"5%%: 1m\"]\n  analysis:\n    metrics:\n      - %s\n", metric_yaml);
	struct sl_error err;
	struct sl_config *cfg = load(yaml, &err);
	assert_non_null(cfg);
	struct sl_rollout_def d;
	if (sl_rollout_def_find(cfg, NULL, &d, &err))
		fail_msg("%s", err.message);
	struct sl_measure_ctx mc;
	memset(&mc, 0, sizeof(mc));
	mc.cfg = cfg;
	mc.env = "production";
	mc.flag = "f";
	struct sl_measurement *m;
	size_t n;
	assert_int_equal(sl_analysis_measure(&d.analysis, &mc, &m, &n, &err), 0);
	assert_int_equal(n, 1);
	enum sl_outcome o = m[0].outcome;
	*detail = strdup(m[0].detail);
	sl_measurement_free(&m[0]);
	free(m);
	sl_measure_ctx_close(&mc);
	sl_rollout_def_free(&d);
	sl_config_free(cfg);
	return o;
}

static void outcome(const char *metric_yaml, enum sl_outcome want, const char *detail_has)
{
	char *detail;
	enum sl_outcome got = measure_one(metric_yaml, &detail);
	if (got != want || !strstr(detail, detail_has))
		fail_msg("%s: got %s '%s', want %s '%s'", metric_yaml, sl_outcome_name(got), detail,
			 sl_outcome_name(want), detail_has);
	free(detail);
}

static void test_measurement_outcomes(void **state)
{
	(void)state;
	outcome("{name: m, provider: command, command: \"echo 0.005\", max: 0.01}", SL_OUT_SUCCESS, "0.005");
	outcome("{name: m, provider: command, command: \"echo 0.5\", max: 0.01}", SL_OUT_FAILED, "above max 0.01");
	outcome("{name: m, provider: command, command: \"echo 3 4\", min: 3.5}", SL_OUT_FAILED, "below min");
	outcome("{name: m, provider: command, command: \"echo 3 4\", min: 3}", SL_OUT_SUCCESS, "values 3, 4");
	/* success only: not met is failed; failure only: not met is successful */
	outcome("{name: m, provider: command, command: \"echo 7\", success: \"result < 5\"}", SL_OUT_FAILED, "7");
	outcome("{name: m, provider: command, command: \"echo 7\", failure: \"result > 10\"}", SL_OUT_SUCCESS, "7");
	outcome("{name: m, provider: command, command: \"echo 12\", failure: \"result > 10\"}", SL_OUT_FAILED,
		"failure condition");
	/* both and neither: inconclusive */
	outcome("{name: m, provider: command, command: \"echo 7\", success: \"result < 5\", failure: \"result > 10\"}",
		SL_OUT_INCONCLUSIVE, "neither");
	/* no condition at all: successful */
	outcome("{name: m, provider: command, command: \"echo 7\"}", SL_OUT_SUCCESS, "7");
	/* NaN is never within max */
	outcome("{name: m, provider: command, command: \"echo nan\", max: 1}", SL_OUT_FAILED, "above max");
	/* provider errors */
	outcome("{name: m, provider: command, command: \"exit 2\", max: 1}", SL_OUT_ERROR, "exited 2");
	outcome("{name: m, provider: command, command: \"echo many\", max: 1}", SL_OUT_ERROR, "not a number");
	outcome("{name: m, provider: command, command: \"true\", max: 1}", SL_OUT_ERROR, "no value");
	outcome("{name: m, provider: command, command: \"echo 1\", success: \"result[2] < 1\"}", SL_OUT_ERROR,
		"out of range");
	outcome("{name: m, provider: command, command: \"sleep 5\", timeout: 200ms, max: 1}", SL_OUT_ERROR,
		"timed out");
	/* the environment the command sees */
	outcome("{name: m, provider: command, command: \"test $SLUICE_METRIC = m && echo 1\", max: 1}",
		SL_OUT_SUCCESS, "value 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_phase_strings),
		cmocka_unit_test(test_bad_phase_strings),
		cmocka_unit_test(test_rollout_section_loads),
		cmocka_unit_test(test_bad_rollout_sections),
		cmocka_unit_test(test_metric_assessment),
		cmocka_unit_test(test_measurement_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
