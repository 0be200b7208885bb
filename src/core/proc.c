/*
 * proc.c - run one external shell command (see proc.h).
 *
 * Shape: the parent builds everything the child needs (argv, envp, pipes)
 * before fork(), so that the child only makes async-signal-safe calls
 * (setpgid, sigprocmask, signal, chdir, open, dup2, execve) before exec: sluice
 * has threads (src/model/impact.c), and after fork() in a threaded process
 * anything that may take a lock, malloc and setenv included, can deadlock.
 * A failure before exec is reported through a close-on-exec pipe, which the
 * parent reads until EOF (= exec succeeded), so a bad directory is an error
 * of sl_proc_run and not an exit status 127 that looks like the command's.
 *
 * Waiting: one poll() covers the output pipe, the child's exit and the
 * deadline.  The child's exit is a pidfd (pidfd_open, Linux >= 5.3), which
 * becomes readable when the child exits: no periodic wake-ups, and no SIGCHLD
 * handler, which would be process-wide state a library must not own.  A pipe
 * inherited by the child would do the same only until the command starts a
 * background job: that job inherits it too and keeps it open, so we would
 * wait for `daemon &`.  Without pidfd_open, poll() wakes every
 * PROC_POLL_STEP_MS to ask waitpid(WNOHANG): a bounded latency, not a busy
 * loop.  Either way, every turn of the loop asks waitpid(WNOHANG) first, so
 * both paths run the same code.
 *
 * SIGPIPE: sluice only ever reads from the pipes here (the child writes), so
 * nothing in this file can raise SIGPIPE in sluice.  When we stop reading
 * (the shell has exited) and a background job of the command writes on, the
 * job gets SIGPIPE, as it would under a shell.
 */
#include "proc.h"
#include "buf.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROC_DEFAULT_CAPTURE_BYTES ((size_t)64 * 1024)
#define PROC_KILL_GRACE_MS 2000L
#define PROC_POLL_STEP_MS 20L
/* Bytes read per turn of the wait loop: a command that writes faster than we
 * read must not keep us from the clock (timeout) or from waitpid. */
#define PROC_DRAIN_TURN_BYTES ((size_t)256 * 1024)
/* After the shell exits, read what is already in the pipe, but at most this
 * much: a background job that writes forever must not keep us here. */
#define PROC_DRAIN_AFTER_EXIT_BYTES ((size_t)1024 * 1024)

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- environment -------------------------------------------------------- */

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Does an entry of extra at index >= from set the same NAME as entry? */
static int env_overridden(const char *entry, const char *const *extra, size_t from)
{
	size_t n = env_name_len(entry);
	for (size_t i = from; extra[i]; i++)
		if (env_name_len(extra[i]) == n && memcmp(extra[i], entry, n) == 0)
			return 1;
	return 0;
}

/*
 * The child's envp: environ without the names extra sets, then extra (the last
 * of duplicate names only).  Returns a malloc'd array of borrowed strings that
 * the caller frees (the strings stay owned by environ and extra), or NULL with
 * err set when an entry of extra has no '='.
 */
static const char **env_build(const char *const *extra, struct sl_error *err)
{
	size_t n_env = 0, n_extra = 0;
	for (char **e = environ; e && *e; e++)
		n_env++;
	for (size_t i = 0; extra[i]; i++) {
		if (!strchr(extra[i], '=') || extra[i][0] == '=') {
			sl_err(err, SL_USAGE, "environment entry '%s' is not NAME=value", extra[i]);
			return NULL;
		}
		n_extra++;
	}
	const char **envp = sl_calloc(n_env + n_extra + 1, sizeof(*envp));
	size_t k = 0;
	for (size_t i = 0; i < n_env; i++)
		if (!env_overridden(environ[i], extra, 0))
			envp[k++] = environ[i];
	for (size_t i = 0; i < n_extra; i++)
		if (!env_overridden(extra[i], extra, i + 1))
			envp[k++] = extra[i];
	envp[k] = NULL;
	return envp;
}

/* ---- output capture ----------------------------------------------------- */

/*
 * The first head_max bytes go straight into out; after that the last tail_max
 * bytes are kept in a ring, which capture_finish() appends behind the cut
 * marker.  Memory stays at max_capture however much the command writes.
 */
struct capture {
	struct sl_buf *out;
	size_t start;              /* out->len when the command started */
	size_t head_max, tail_max;
	char *ring;                /* tail_max bytes, allocated when the head is full */
	size_t ring_pos;           /* where the next byte goes */
	size_t ring_len;           /* bytes held, <= tail_max */
	unsigned long long total;  /* bytes the command wrote */
};

static void capture_add(struct capture *c, const char *p, size_t n)
{
	c->total += n;
	size_t head = c->out->len - c->start;
	if (head < c->head_max) {
		size_t k = n < c->head_max - head ? n : c->head_max - head;
		sl_buf_add(c->out, p, k);
		p += k;
		n -= k;
	}
	if (n == 0 || c->tail_max == 0)
		return;
	if (!c->ring)
		c->ring = sl_malloc(c->tail_max);
	if (n >= c->tail_max) {
		memcpy(c->ring, p + n - c->tail_max, c->tail_max);
		c->ring_pos = 0;
		c->ring_len = c->tail_max;
		return;
	}
	size_t first = c->tail_max - c->ring_pos;
	if (first > n)
		first = n;
	memcpy(c->ring + c->ring_pos, p, first);
	memcpy(c->ring, p + first, n - first);
	c->ring_pos = (c->ring_pos + n) % c->tail_max;
	c->ring_len = c->ring_len + n < c->tail_max ? c->ring_len + n : c->tail_max;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence (bytes that are not UTF-8 at all are left alone). */
static size_t utf8_whole_prefix(const unsigned char *s, size_t n)
{
	size_t j = n;
	while (j > 0 && n - j < 3 && (s[j - 1] & 0xC0) == 0x80)
		j--;
	if (j == 0)
		return n;
	unsigned char lead = s[j - 1];
	size_t need = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3
		: (lead & 0xF8) == 0xF0 ? 4 : 1;
	return n - (j - 1) < need ? j - 1 : n;
}

/* Append the kept tail (and the cut marker when bytes were dropped); free the
 * ring.  Returns 1 when the output was cut. */
static int capture_finish(struct capture *c)
{
	size_t len = c->ring_len;
	char *tail = sl_malloc(len ? len : 1);
	size_t oldest = (c->ring_pos + c->tail_max - len) % (c->tail_max ? c->tail_max : 1);
	for (size_t i = 0; i < len; i++)
		tail[i] = c->ring[(oldest + i) % c->tail_max];
	size_t head = c->out->len - c->start;
	unsigned long long cut = c->total - head - len;
	if (cut > 0) {
		size_t keep = utf8_whole_prefix((const unsigned char *)c->out->s + c->start, head);
		if (keep < head) {
			cut += head - keep;
			c->out->len = c->start + keep;
			c->out->s[c->out->len] = '\0';
		}
		size_t skip = 0;
		while (skip < 3 && skip < len && ((unsigned char)tail[skip] & 0xC0) == 0x80)
			skip++;
		cut += skip;
		sl_buf_printf(c->out, "\n[... %llu bytes cut ...]\n", cut);
		sl_buf_add(c->out, tail + skip, len - skip);
	} else {
		sl_buf_add(c->out, tail, len);
	}
	free(tail);
	free(c->ring);
	c->ring = NULL;
	return cut > 0;
}

/*
 * Read what the pipe holds now, up to limit bytes.  Closes *fd and sets it to
 * -1 at EOF or on a read error (the output is then just shorter).
 */
static void capture_drain(int *fd, struct capture *c, size_t limit)
{
	char chunk[16384];
	size_t got = 0;
	while (*fd >= 0 && got < limit) {
		ssize_t n = read(*fd, chunk, sizeof(chunk));
		if (n > 0) {
			capture_add(c, chunk, (size_t)n);
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(*fd);
		*fd = -1;
	}
}

/* ---- starting the child ------------------------------------------------- */

enum child_stage { STAGE_CHDIR = 1, STAGE_STDIN, STAGE_OUTPUT, STAGE_EXEC };

struct child_failure {
	int stage;   /* enum child_stage */
	int errnum;
};

/* What the child needs, prepared by the parent before fork(). */
struct child_plan {
	char *argv[4];
	char *const *envp;
	const char *dir;
	int own_group;
	int out_fd;           /* write end of the capture pipe, or -1 */
	int stdout_to_stderr;
	int fail_fd;          /* write end of the failure pipe */
};

/* In the child: report the failed stage through the failure pipe and exit. */
static void child_fail(const struct child_plan *p, int stage)
{
	struct child_failure f = { stage, errno };
	ssize_t w = write(p->fail_fd, &f, sizeof(f));
	(void)w;
	_exit(127);
}

/* In the child, after fork(): async-signal-safe calls only (see the top). */
static void child_exec(const struct child_plan *p)
{
	if (p->own_group)
		setpgid(0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);   /* an ignored SIGPIPE would survive exec */
	if (p->dir && p->dir[0] && chdir(p->dir) != 0)
		child_fail(p, STAGE_CHDIR);
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0 || dup2(nul, 0) < 0)
		child_fail(p, STAGE_STDIN);
	if (nul != 0)
		close(nul);
	if (p->out_fd >= 0) {
		if (dup2(p->out_fd, 1) < 0 || dup2(p->out_fd, 2) < 0)
			child_fail(p, STAGE_OUTPUT);
	} else if (p->stdout_to_stderr) {
		dup2(2, 1);   /* as before: with stderr closed, stdout stays */
	}
	execve("/bin/sh", p->argv, p->envp);
	child_fail(p, STAGE_EXEC);
}

/*
 * pipe2 with close-on-exec on both ends, both above 2: the child dup2()s onto
 * 0, 1 and 2, which must not be one of these (sluice started with a closed
 * stdin would otherwise get its pipe in slot 0).
 */
static int pipe_above_stdio(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (fds[i] > 2)
			continue;
		int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (moved < 0) {
			int e = errno;
			close(fds[0]);
			close(fds[1]);
			errno = e;
			return -1;
		}
		close(fds[i]);
		fds[i] = moved;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int pidfd_for(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0 && fd <= 2) {   /* keep stdio slots free, as above */
		int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		fd = moved;
	}
	return fd;   /* pidfds are close-on-exec */
#else
	(void)pid;
	return -1;
#endif
}

/* Blocking waitpid that retries on EINTR. */
static int reap(pid_t pid, int *status)
{
	for (;;) {
		if (waitpid(pid, status, 0) == pid)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static void fill_result(struct sl_proc_result *res, int status)
{
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
	}
}

/* ---- waiting ------------------------------------------------------------ */

/*
 * Wait for the child, reading the capture pipe (*out_fd, or -1) and enforcing
 * deadline_ms (a mono_ms() value, or -1).  Returns 0 with *status, or -1 with
 * errno when waitpid fails; the child is then killed and reaped if possible.
 */
static int wait_child(pid_t pid, int own_group, int *out_fd, struct capture *cap,
		      long deadline_ms, struct sl_proc_result *res, int *status)
{
	if (*out_fd < 0 && deadline_ms < 0)
		return reap(pid, status);
	int pidfd = pidfd_for(pid);
	long kill_at_ms = -1;   /* when SIGKILL is due, once SIGTERM went out */
	int rc = 0;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			int e = errno;
			kill(own_group ? -pid : pid, SIGKILL);
			reap(pid, status);
			errno = e;
			rc = -1;
			break;
		}
		long now = mono_ms();
		if (deadline_ms >= 0 && !res->timed_out && now >= deadline_ms) {
			kill(-pid, SIGTERM);
			res->timed_out = 1;
			kill_at_ms = now + PROC_KILL_GRACE_MS;
		}
		if (kill_at_ms >= 0 && now >= kill_at_ms) {
			kill(-pid, SIGKILL);
			kill_at_ms = -1;
		}
		long wait_ms = -1;
		if (deadline_ms >= 0 && !res->timed_out)
			wait_ms = deadline_ms - now;
		else if (kill_at_ms >= 0)
			wait_ms = kill_at_ms - now;
		if (pidfd < 0 && (wait_ms < 0 || wait_ms > PROC_POLL_STEP_MS))
			wait_ms = PROC_POLL_STEP_MS;
		if (wait_ms > INT_MAX)
			wait_ms = INT_MAX;
		struct pollfd fds[2];
		nfds_t n = 0;
		if (*out_fd >= 0)
			fds[n++] = (struct pollfd){ .fd = *out_fd, .events = POLLIN };
		if (pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		int ready = poll(fds, n, (int)wait_ms);
		if (ready < 0 && errno != EINTR) {
			/* Only EINVAL/ENOMEM: fall back to a plain sleep step. */
			struct timespec step = { 0, PROC_POLL_STEP_MS * 1000000L };
			nanosleep(&step, NULL);
			continue;
		}
		if (ready > 0 && *out_fd >= 0 && fds[0].revents)
			capture_drain(out_fd, cap, PROC_DRAIN_TURN_BYTES);
	}
	if (rc == 0 && *out_fd >= 0)
		capture_drain(out_fd, cap, PROC_DRAIN_AFTER_EXIT_BYTES);
	/* After a timeout nothing of the command outlives its shell: background
	 * jobs still in the group (they ignored or outlived SIGTERM) end now. */
	if (res->timed_out)
		kill(-pid, SIGKILL);
	close_fd(&pidfd);
	return rc;
}

/* ---- the entry points --------------------------------------------------- */

int sl_proc_run(const char *cmd, const struct sl_proc_opts *o,
		struct sl_proc_result *res, struct sl_error *err)
{
	static const struct sl_proc_opts defaults;
	if (!o)
		o = &defaults;
	*res = (struct sl_proc_result){ .exit_code = -1 };
	int rc = -1;
	const char **envp = NULL;
	int out_pipe[2] = { -1, -1 }, fail_pipe[2] = { -1, -1 };
	struct capture cap = { 0 };

	if (o->env) {
		envp = env_build(o->env, err);
		if (!envp)
			return -1;
	}
	if (o->capture) {
		size_t max = o->max_capture ? o->max_capture : PROC_DEFAULT_CAPTURE_BYTES;
		cap.out = o->capture;
		cap.start = o->capture->len;
		cap.head_max = max / 2;
		cap.tail_max = max - cap.head_max;
		if (pipe_above_stdio(out_pipe) != 0 ||
		    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK) != 0) {
			sl_err(err, SL_ENV, "cannot start '%s': pipe: %s", cmd, strerror(errno));
			goto out;
		}
	}
	if (pipe_above_stdio(fail_pipe) != 0) {
		sl_err(err, SL_ENV, "cannot start '%s': pipe: %s", cmd, strerror(errno));
		goto out;
	}
	struct child_plan plan = {
		.argv = { (char *)"sh", (char *)"-c", (char *)cmd, NULL },
		.envp = envp ? (char *const *)envp : environ,
		.dir = o->dir,
		.own_group = o->timeout_ms > 0,
		.out_fd = out_pipe[1],
		.stdout_to_stderr = o->stdout_to_stderr,
		.fail_fd = fail_pipe[1],
	};

	fflush(stdout);
	fflush(stderr);
	long start_ms = mono_ms();
	long deadline_ms = o->timeout_ms > 0 ? start_ms + o->timeout_ms : -1;
	pid_t pid = fork();
	if (pid < 0) {
		sl_err(err, SL_ENV, "cannot start '%s': %s", cmd, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(&plan);   /* does not return */
	if (plan.own_group)
		setpgid(pid, pid);   /* the child does it too; whoever is first wins */
	close_fd(&out_pipe[1]);
	close_fd(&fail_pipe[1]);

	/* EOF on the failure pipe: exec succeeded (close-on-exec) or the child died. */
	struct child_failure failure = { 0, 0 };
	ssize_t got;
	do
		got = read(fail_pipe[0], &failure, sizeof(failure));
	while (got < 0 && errno == EINTR);
	close_fd(&fail_pipe[0]);

	int status = 0;
	if (got == (ssize_t)sizeof(failure)) {
		reap(pid, &status);
		res->ms = mono_ms() - start_ms;
		fill_result(res, status);
		if (failure.stage == STAGE_CHDIR)
			sl_err(err, SL_ENV, "cannot change to directory '%s' to run '%s': %s",
			       o->dir, cmd, strerror(failure.errnum));
		else if (failure.stage == STAGE_EXEC)
			sl_err(err, SL_ENV, "cannot run /bin/sh for '%s': %s", cmd,
			       strerror(failure.errnum));
		else
			sl_err(err, SL_ENV, "cannot start '%s': redirecting %s: %s", cmd,
			       failure.stage == STAGE_STDIN ? "stdin" : "output",
			       strerror(failure.errnum));
		goto out;
	}

	if (wait_child(pid, plan.own_group, &out_pipe[0], &cap, deadline_ms, res, &status) != 0) {
		sl_err(err, SL_ENV, "waiting for '%s': %s", cmd, strerror(errno));
		res->ms = mono_ms() - start_ms;
		goto out;
	}
	res->ms = mono_ms() - start_ms;
	fill_result(res, status);
	rc = 0;
out:
	if (cap.out)
		res->truncated = capture_finish(&cap);
	close_fd(&out_pipe[0]);
	close_fd(&out_pipe[1]);
	close_fd(&fail_pipe[0]);
	close_fd(&fail_pipe[1]);
	free(envp);
	return rc;
}

void sl_proc_describe(const struct sl_proc_result *res, struct sl_buf *out)
{
	if (res->timed_out)
		sl_buf_printf(out, "timed out after %.1f s", (double)res->ms / 1000.0);
	else if (res->signal)
		sl_buf_printf(out, "killed by signal %d", res->signal);
	else
		sl_buf_printf(out, "exited %d", res->exit_code);
}
