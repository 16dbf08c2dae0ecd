/*
 * spawn: fork/exec of one worker (see include/baton/spawn.h).
 *
 * Everything in the child between fork and exec uses only calls that are safe there in a
 * single-threaded parent; failures are reported to the parent through the error pipe as
 * (step, errno) and the child leaves with _exit.
 */
#include "baton/spawn.h"

#include "baton/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>


/* Exit statuses of a child that never reached exec. 126/127 follow the shell's convention
 * for "cannot execute" and "not found"; 125 means baton could not set the worker up. */
#define EXIT_SETUP_FAILED 125

struct child_error {
	int err;
	char step[28];
};

static void child_fail(int errfd, const char *step, int err)
{
	struct child_error ce = { .err = err };
	int code = EXIT_SETUP_FAILED;

	snprintf(ce.step, sizeof(ce.step), "%s", step);
	(void)!write(errfd, &ce, sizeof(ce));
	if (strcmp(step, "exec") == 0)
		code = (err == ENOENT || err == ENOTDIR) ? 127 : 126;
	_exit(code);
}

int spawn_ready_fd_number(const struct spawn_request *req)
{
	return req->ready_fd >= 0 ? 3 + req->n_listen : -1;
}

int spawn_ipc_fd_number(const struct spawn_request *req)
{
	return req->ipc_fd >= 0 ? 3 + req->n_listen + (req->ready_fd >= 0) : -1;
}

/* Put the inherited fds in place: listen fds at 3.., then the ready pipe, then the IPC channel.
 * Sources are first duplicated above every target so no dup2 can clobber a later source. */
static int place_fds(const struct spawn_request *req, const char **step)
{
	int src[64], n = 0, high;

	for (int i = 0; i < req->n_listen && n < 62; i++)
		src[n++] = req->listen_fds[i];
	if (req->ready_fd >= 0)
		src[n++] = req->ready_fd;
	if (req->ipc_fd >= 0)
		src[n++] = req->ipc_fd;
	high = 3 + n;
	for (int i = 0; i < n; i++) {
		src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, high);
		if (src[i] < 0) {
			*step = "dup";
			return -errno;
		}
	}
	for (int i = 0; i < n; i++) {
		/* dup2 clears close-on-exec on the target: exactly these fds survive exec. */
		if (dup2(src[i], 3 + i) < 0) {
			*step = "dup2";
			return -errno;
		}
	}
	return 0;
}

/* LISTEN_PID and WATCHDOG_PID name the worker itself, known only here. */
static void patch_own_pid(char **envp)
{
	static const char *const placeholders[] = { SPAWN_LISTEN_PID_PLACEHOLDER,
						    SPAWN_WATCHDOG_PID_PLACEHOLDER };

	for (char **e = envp; e && *e; e++) {
		for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
			size_t plen = strchr(placeholders[i], '=') + 1 - placeholders[i];

			/* The placeholder has room for any pid: 10 digits. */
			if (strcmp(*e, placeholders[i]) == 0)
				snprintf(*e + plen, strlen(*e) - plen + 1, "%d", (int)getpid());
		}
	}
}

/* Default dispositions for every signal. glibc refuses to touch the two real-time signals
 * it reserves (32 and 33), yet an ignored one would be inherited across exec all the same,
 * so the kernel is asked directly. */
static void reset_signals(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = { .handler = SIG_DFL };

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
}

static void child(const struct spawn_request *req, int errfd, pid_t parent)
{
	const char *step = NULL;
	sigset_t empty;
	int err;

	if (setpgid(0, 0) < 0)
		child_fail(errfd, "setpgid", errno);
	/* Signals are still blocked here (inherited mask), so SIGTTOU cannot stop us. */
	if (req->tty_foreground && tcsetpgrp(STDIN_FILENO, getpid()) < 0 && errno != ENOTTY)
		child_fail(errfd, "tcsetpgrp", errno);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errfd, "pdeathsig", errno);
	if (getppid() != parent) /* baton died before the line above took effect */
		_exit(EXIT_SETUP_FAILED);
	if ((err = place_fds(req, &step)) < 0)
		child_fail(errfd, step, -err);
	patch_own_pid(req->envp);
	reset_signals();
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	/* Last before exec: a filter must not forbid what the set-up above still needs. */
	if (req->sandbox && (err = sbx_apply(req->sandbox, &step)) < 0)
		child_fail(errfd, step ? step : "sandbox", -err);
	execvpe(req->argv[0], req->argv, req->envp);
	child_fail(errfd, "exec", errno);
}

int spawn_worker(const struct spawn_request *req, struct spawn_result *res)
{
	struct child_error ce;
	pid_t parent = getpid();
	int pipefd[2];
	ssize_t n;

	memset(res, 0, sizeof(*res));
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		res->err = -errno;
		snprintf(res->step, sizeof(res->step), "pipe");
		return res->err;
	}
	res->pid = fork();
	if (res->pid < 0) {
		res->err = -errno;
		snprintf(res->step, sizeof(res->step), "fork");
		close(pipefd[0]);
		close(pipefd[1]);
		return res->err;
	}
	if (res->pid == 0) {
		close(pipefd[0]);
		child(req, pipefd[1], parent);
	}
	close(pipefd[1]);
	/* Also from the parent: signals sent to the group right after fork must not miss. */
	setpgid(res->pid, res->pid);
	do {
		n = read(pipefd[0], &ce, sizeof(ce));
	} while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n <= 0)
		return 0; /* EOF: exec closed the pipe */

	/* The child failed before exec and is exiting now: reap it here, so the pid never
	 * reaches the supervisor. */
	while (waitpid(res->pid, NULL, 0) < 0 && errno == EINTR)
		;
	ce.step[sizeof(ce.step) - 1] = '\0';
	res->err = n == sizeof(ce) && ce.err > 0 ? -ce.err : -EIO;
	memcpy(res->step, ce.step, sizeof(res->step));
	res->pid = 0;
	return res->err;
}

void spawn_signal_group(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
}
