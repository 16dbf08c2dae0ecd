/*
 * spawn: fork and exec one worker.
 *
 * The child leads its own process group (so signals reach a `sh -c` wrapper's children too),
 * gets the terminal's foreground when asked, a parent-death signal, the listening sockets as
 * fds 3, 4, ..., then the ready pipe and the IPC channel right after them, the environment the
 * caller prepared (with LISTEN_PID patched to its own pid), the sandbox, default signal
 * dispositions and an empty mask, and execs. Whether exec happened is known before
 * spawn_worker returns, through a close-on-exec pipe: a command that cannot run is an error
 * here, not a mysterious exit status later.
 */
#ifndef BATON_SPAWN_H
#define BATON_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct sbx_policy;

struct spawn_request {
	char *const *argv;
	char **envp;              /* complete environment; may hold "LISTEN_PID=" + 10 spaces */
	const int *listen_fds;    /* become fds 3, 4, ... in the child */
	int n_listen;
	int ready_fd;             /* write end of the ready pipe, or -1: becomes fd 3+n_listen */
	int ipc_fd;               /* Node IPC channel, or -1: the next fd after that */
	bool tty_foreground;      /* take the terminal's foreground process group */
	const struct sbx_policy *sandbox; /* NULL: none */
};

struct spawn_result {
	pid_t pid;
	int err;                  /* 0, or -errno of the failed step */
	char step[28];            /* the failed step: "exec", "setpgid", "seccomp", ... */
};

/* Fork and exec. Returns 0 with res->pid, or -errno with res->err/res->step set (the child
 * has then already been reaped). */
int spawn_worker(const struct spawn_request *req, struct spawn_result *res);

/* The fd numbers a worker finds its ready pipe and its IPC channel at, -1 when the request
 * has none: the one statement of the layout (sockets from 3, then the pipe, then the channel),
 * used by the child to place them and by the modules that name them in the environment. */
int spawn_ready_fd_number(const struct spawn_request *req);
int spawn_ipc_fd_number(const struct spawn_request *req);

/* Signal the process group a worker leads, or the worker alone if it left its group (it may
 * call setsid or setpgid itself). Nothing for pid <= 0. */
void spawn_signal_group(pid_t pid, int sig);

/* Placeholders that the child overwrites with its own pid (systemd's contracts: LISTEN_PID is
 * the process meant to use the sockets, WATCHDOG_PID the one whose heartbeats count). */
#define SPAWN_LISTEN_PID_PLACEHOLDER "LISTEN_PID=          "
#define SPAWN_WATCHDOG_PID_PLACEHOLDER "WATCHDOG_PID=          "

#endif
