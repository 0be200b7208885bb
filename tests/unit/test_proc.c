/* test_proc.c - running external commands (src/core/proc.c). */
#include "unit.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every child was reaped: we have none left (orphaned grandchildren belong to
 * pid 1, not to us). */
static void assert_no_children(void)
{
	int status;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* Dead, or a zombie waiting for a parent that is not us (the pid 1 of a
 * container may never reap): either way it does not run. */
static int process_gone(pid_t pid)
{
	if (kill(pid, 0) != 0)
		return errno == ESRCH;
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* Wait up to ms for pid to be gone (SIGKILL is delivered asynchronously). */
static int gone_within(pid_t pid, long ms)
{
	long until = now_ms() + ms;
	while (!process_gone(pid)) {
		if (now_ms() > until)
			return 0;
		usleep(10000);
	}
	return 1;
}

static pid_t read_pid(const char *dir, const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct sl_buf b = SL_BUF_INIT;
	assert_int_equal(sl_buf_read_file(&b, path), 0);
	pid_t pid = (pid_t)atoi(b.s);
	sl_buf_free(&b);
	assert_true(pid > 1);
	return pid;
}

static void test_exit_status_is_reported_not_an_error(void **state)
{
	(void)state;
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("exit 3", NULL, &res, &err), 0);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.signal, 0);
	assert_int_equal(res.timed_out, 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(sl_proc_run("true", NULL, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	assert_no_children();
}

static void test_kill_by_signal_is_reported(void **state)
{
	(void)state;
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("kill -9 $$", NULL, &res, &err), 0);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.signal, 9);
	assert_int_equal(res.timed_out, 0);
	assert_no_children();
}

static void test_missing_command_exits_127(void **state)
{
	(void)state;
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .capture = &out };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("sluice-no-such-command-xyz", &o, &res, &err), 0);
	assert_int_equal(res.exit_code, 127);
	assert_non_null(strstr(out.s, "not found"));
	sl_buf_free(&out);
	assert_no_children();
}

static void test_env_entries_are_added_and_override_without_touching_ours(void **state)
{
	(void)state;
	setenv("SL_PROC_T_KEEP", "inherited", 1);
	setenv("SL_PROC_T_OVER", "ours", 1);
	const char *const env[] = {
		"SL_PROC_T_NEW=new value", "SL_PROC_T_OVER=theirs",
		"SL_PROC_T_DUP=first", "SL_PROC_T_DUP=second", NULL,
	};
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .env = env, .capture = &out };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("printf '%s|%s|%s|%s|' \"$SL_PROC_T_NEW\" \"$SL_PROC_T_OVER\" "
				     "\"$SL_PROC_T_KEEP\" \"$SL_PROC_T_DUP\"; "
				     "env | grep -c '^SL_PROC_T_DUP='", &o, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(out.s, "new value|theirs|inherited|second|1\n");
	assert_null(getenv("SL_PROC_T_NEW"));
	assert_string_equal(getenv("SL_PROC_T_OVER"), "ours");
	sl_buf_free(&out);
	unsetenv("SL_PROC_T_KEEP");
	unsetenv("SL_PROC_T_OVER");
}

static void test_env_entry_without_equals_is_refused(void **state)
{
	(void)state;
	const char *const env[] = { "SL_PROC_T_BROKEN", NULL };
	struct sl_proc_opts o = { .env = env };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("true", &o, &res, &err), -1);
	assert_int_equal(err.code, SL_USAGE);
	assert_non_null(strstr(err.message, "SL_PROC_T_BROKEN"));
	assert_no_children();
}

static void test_command_runs_in_dir_with_stdin_from_dev_null(void **state)
{
	(void)state;
	char *dir = temp_dir();
	char real[PATH_MAX];
	assert_non_null(realpath(dir, real));
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .dir = dir, .capture = &out };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("pwd -P; wc -c", &o, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	struct sl_buf want = SL_BUF_INIT;
	sl_buf_printf(&want, "%s\n0\n", real);
	assert_string_equal(out.s, want.s);
	sl_buf_free(&want);
	sl_buf_free(&out);
	remove_dir(dir);
}

static void test_missing_dir_is_an_error(void **state)
{
	(void)state;
	struct sl_proc_opts o = { .dir = "/nonexistent/sluice-proc-test" };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("true", &o, &res, &err), -1);
	assert_int_equal(err.code, SL_ENV);
	assert_non_null(strstr(err.message, "/nonexistent/sluice-proc-test"));
	assert_no_children();
}

static void test_capture_interleaves_stdout_and_stderr_after_existing_text(void **state)
{
	(void)state;
	struct sl_buf out = SL_BUF_INIT;
	sl_buf_adds(&out, "before:");
	struct sl_proc_opts o = { .capture = &out };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("echo out; echo err >&2; echo out2", &o, &res, &err), 0);
	assert_string_equal(out.s, "before:out\nerr\nout2\n");
	assert_int_equal(res.truncated, 0);
	sl_buf_free(&out);
}

static void test_large_output_keeps_head_and_tail_without_blocking(void **state)
{
	(void)state;
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .capture = &out, .max_capture = 1000 };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("printf S; head -c 1000000 /dev/zero | tr '\\0' x; printf E",
				     &o, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.truncated, 1);
	const char *marker = "\n[... 999002 bytes cut ...]\n";
	assert_int_equal(out.len, 1000 + strlen(marker));
	assert_int_equal(out.s[0], 'S');
	assert_int_equal(out.s[out.len - 1], 'E');
	assert_memory_equal(out.s + 500, marker, strlen(marker));
	assert_true(res.ms < 3000);

	/* Default limit: 64 KiB kept. */
	sl_buf_reset(&out);
	o.max_capture = 0;
	assert_int_equal(sl_proc_run("head -c 1000000 /dev/zero | tr '\\0' x", &o, &res, &err), 0);
	assert_int_equal(res.truncated, 1);
	marker = "\n[... 934464 bytes cut ...]\n";
	assert_int_equal(out.len, 65536 + strlen(marker));

	/* Exactly the limit: nothing cut. */
	sl_buf_reset(&out);
	o.max_capture = 1000;
	assert_int_equal(sl_proc_run("head -c 1000 /dev/zero | tr '\\0' y", &o, &res, &err), 0);
	assert_int_equal(res.truncated, 0);
	assert_int_equal(out.len, 1000);
	assert_null(strchr(out.s, '['));

	/* Many small writes: the tail ring wraps around many times. */
	sl_buf_reset(&out);
	o.max_capture = 20;
	assert_int_equal(sl_proc_run("i=1; while [ $i -le 300 ]; do echo $i; i=$((i+1)); done",
				     &o, &res, &err), 0);
	assert_int_equal(res.truncated, 1);
	assert_string_equal(out.s, "1\n2\n3\n4\n5\n\n[... 1072 bytes cut ...]\n8\n299\n300\n");
	sl_buf_free(&out);
}

static void test_cut_points_fall_on_utf8_boundaries(void **state)
{
	(void)state;
	struct sl_buf out = SL_BUF_INIT;
	/* 7 bytes: head 3 (would end inside the second e-acute), tail 4. */
	struct sl_proc_opts o = { .capture = &out, .max_capture = 7 };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	assert_int_equal(sl_proc_run("printf '\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251'",
				     &o, &res, &err), 0);
	assert_int_equal(res.truncated, 1);
	assert_string_equal(out.s, "\xc3\xa9\n[... 4 bytes cut ...]\n\xc3\xa9\xc3\xa9");
	sl_buf_free(&out);
}

static void test_timeout_kills_the_whole_process_group(void **state)
{
	(void)state;
	char *dir = temp_dir();
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .dir = dir, .capture = &out, .timeout_ms = 300 };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	long t0 = now_ms();
	assert_int_equal(sl_proc_run("sleep 30 & echo $! > grandchild.pid; echo started; wait",
				     &o, &res, &err), 0);
	long took = now_ms() - t0;
	assert_int_equal(res.timed_out, 1);
	assert_int_equal(res.signal, SIGTERM);
	assert_true(took >= 300 && took < 800);
	assert_true(res.ms >= 300 && res.ms < 800);
	assert_string_equal(out.s, "started\n");
	assert_true(gone_within(read_pid(dir, "grandchild.pid"), 300));
	assert_no_children();

	/* A command that never stops writing still meets its deadline. */
	sl_buf_reset(&out);
	o.timeout_ms = 200;
	o.max_capture = 100;
	t0 = now_ms();
	assert_int_equal(sl_proc_run("yes", &o, &res, &err), 0);
	assert_int_equal(res.timed_out, 1);
	assert_int_equal(res.truncated, 1);
	assert_true(now_ms() - t0 < 700);
	assert_no_children();
	sl_buf_free(&out);
	remove_dir(dir);
}

static void test_timeout_without_capture_escalates_to_sigkill(void **state)
{
	(void)state;
	char *dir = temp_dir();
	struct sl_proc_opts o = { .dir = dir, .timeout_ms = 100 };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	long t0 = now_ms();
	assert_int_equal(sl_proc_run("trap '' TERM; sleep 30 & echo $! > grandchild.pid; wait",
				     &o, &res, &err), 0);
	long took = now_ms() - t0;
	assert_int_equal(res.timed_out, 1);
	assert_int_equal(res.signal, SIGKILL);
	assert_true(took >= 2100 && took < 2700);
	assert_true(gone_within(read_pid(dir, "grandchild.pid"), 300));
	assert_no_children();
	remove_dir(dir);
}

static void test_background_job_does_not_hold_the_run(void **state)
{
	(void)state;
	char *dir = temp_dir();
	struct sl_buf out = SL_BUF_INIT;
	struct sl_proc_opts o = { .dir = dir, .capture = &out };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	long t0 = now_ms();
	assert_int_equal(sl_proc_run("sleep 30 & echo $! > job.pid; echo hi", &o, &res, &err), 0);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(out.s, "hi\n");
	pid_t job = read_pid(dir, "job.pid");
	assert_false(process_gone(job));   /* not ours to kill without a timeout */
	kill(job, SIGKILL);
	assert_true(gone_within(job, 300));
	assert_no_children();
	sl_buf_free(&out);
	remove_dir(dir);
}

static void test_stdout_can_go_to_stderr(void **state)
{
	(void)state;
	char *dir = temp_dir();
	char path[4200];
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	struct sl_proc_opts o = { .stdout_to_stderr = 1 };
	struct sl_proc_result res;
	struct sl_error err = { 0 };
	int rc = sl_proc_run("echo to-stdout", &o, &res, &err);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 0);
	struct sl_buf got = SL_BUF_INIT;
	assert_int_equal(sl_buf_read_file(&got, path), 0);
	assert_string_equal(got.s, "to-stdout\n");
	sl_buf_free(&got);
	remove_dir(dir);
}

static void test_describe_names_how_it_ended(void **state)
{
	(void)state;
	struct sl_buf b = SL_BUF_INIT;
	struct sl_proc_result r = { .exit_code = 3 };
	sl_proc_describe(&r, &b);
	assert_string_equal(b.s, "exited 3");
	sl_buf_reset(&b);
	r = (struct sl_proc_result){ .exit_code = -1, .signal = 9 };
	sl_proc_describe(&r, &b);
	assert_string_equal(b.s, "killed by signal 9");
	sl_buf_reset(&b);
	r = (struct sl_proc_result){ .exit_code = -1, .signal = 15, .timed_out = 1, .ms = 2049 };
	sl_proc_describe(&r, &b);
	assert_string_equal(b.s, "timed out after 2.0 s");
	sl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status_is_reported_not_an_error),
		cmocka_unit_test(test_kill_by_signal_is_reported),
		cmocka_unit_test(test_missing_command_exits_127),
		cmocka_unit_test(test_env_entries_are_added_and_override_without_touching_ours),
		cmocka_unit_test(test_env_entry_without_equals_is_refused),
		cmocka_unit_test(test_command_runs_in_dir_with_stdin_from_dev_null),
		cmocka_unit_test(test_missing_dir_is_an_error),
		cmocka_unit_test(test_capture_interleaves_stdout_and_stderr_after_existing_text),
		cmocka_unit_test(test_large_output_keeps_head_and_tail_without_blocking),
		cmocka_unit_test(test_cut_points_fall_on_utf8_boundaries),
		cmocka_unit_test(test_timeout_kills_the_whole_process_group),
		cmocka_unit_test(test_timeout_without_capture_escalates_to_sigkill),
		cmocka_unit_test(test_background_job_does_not_hold_the_run),
		cmocka_unit_test(test_stdout_can_go_to_stderr),
		cmocka_unit_test(test_describe_names_how_it_ended),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
