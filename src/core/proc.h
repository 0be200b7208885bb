/*
 * proc.h - run one external shell command: the pipeline's `run:` step and the
 * deploy hooks (pre_deploy, post_deploy, on_rollback) share this runner.
 *
 * The command runs as `/bin/sh -c cmd` with stdin from /dev/null, optionally
 * in another directory, with extra environment entries, a timeout and its
 * output captured.  sl_proc_run() returns when the shell has exited and been
 * reaped; it never leaves a zombie.  It does not wait for background jobs the
 * command leaves behind (`daemon &`), as a shell would not: their later
 * output is not captured.
 *
 * Nothing here touches global state: the parent's environ, signal
 * dispositions and working directory are left as they were.
 */
#ifndef SL_PROC_H
#define SL_PROC_H

#include <stddef.h>

struct sl_buf;
struct sl_error;

struct sl_proc_result {
	int exit_code;     /* exit status when it exited, else -1 */
	int signal;        /* the signal that killed it, else 0 */
	int timed_out;     /* killed by us after timeout_ms */
	long ms;           /* wall time, from fork to reaping */
	int truncated;     /* captured output was cut */
};

/*
 * Options; a zero-initialised struct (or o == NULL) runs the command in the
 * current directory, with the inherited environment and stdout/stderr, and
 * without a time limit.
 */
struct sl_proc_opts {
	const char *dir;                 /* chdir here first (NULL/"": stay) */
	const char *const *env;          /* extra "NAME=value" entries (NULL-terminated),
					    added to / overriding the inherited environment;
					    of two entries with one NAME the last wins */
	long timeout_ms;                 /* <= 0: no limit */
	struct sl_buf *capture;          /* non-NULL: stdout+stderr (interleaved, as one
					    pipe) appended here; see below */
	size_t max_capture;              /* bytes of output kept; 0: 64 KiB */
	int stdout_to_stderr;            /* not capturing: send the child's stdout to our
					    stderr (for --format json runs) */
};

/*
 * Run cmd with /bin/sh -c, stdin from /dev/null.  Returns 0 when it ran
 * (whatever its exit status, including 127 for a command the shell cannot
 * find: look at res), -1 with SL_ENV in err when it could not be started
 * (fork, pipes, chdir to o->dir, exec of /bin/sh) or waited for, and -1 with
 * SL_USAGE for an o->env entry without '='.  res is filled in either case.
 *
 * Timeout: with timeout_ms > 0 the command runs in its own process group;
 * when the time is up the whole group (background jobs included) gets
 * SIGTERM, and SIGKILL 2 s later if any of it is still alive; res->timed_out
 * is set.  Without a timeout the command stays in our process group, so that
 * a Ctrl-C at the terminal reaches it as it reaches sluice.
 *
 * Capture: when the output exceeds max_capture bytes, the first half and the
 * last half are kept, joined by a line "\n[... N bytes cut ...]\n" (which is
 * not counted in max_capture), and res->truncated is set; the cut points are
 * moved to UTF-8 character boundaries.  The rest is read and discarded, so
 * the command is never blocked by a full pipe.
 */
int sl_proc_run(const char *cmd, const struct sl_proc_opts *o,
		struct sl_proc_result *res, struct sl_error *err);

/* "exited 3", "killed by signal 9", "timed out after 2.0 s" appended to out. */
void sl_proc_describe(const struct sl_proc_result *res, struct sl_buf *out);

#endif
