/*
 * notify_ready: a test worker for `--ready notify`.
 *
 *   notify_ready [--from-child] [DELAY_MS]
 *
 * After DELAY_MS (default 0) it sends "READY=1\nSTATUS=..." to $NOTIFY_SOCKET the way
 * libsystemd's sd_notify does ('@' for an abstract address, or an absolute path; no
 * credentials of its own, so the kernel supplies them). With --from-child the message is
 * sent by a short-lived child process instead, as `systemd-notify --ready` in a shell script
 * would, and the child waits for the receiver to read it (BARRIER=1, as systemd-notify does). Then, if LISTEN_FDS is set (and LISTEN_PID is this process, as sd_listen_fds
 * checks), it serves HTTP on fd 3: every request gets "ok\n" and the connection is closed.
 * Without LISTEN_FDS it just waits. SIGTERM ends it with status 0.
 *
 * Exit status: 0 on SIGTERM, 3 for bad LISTEN_* variables, 4 when the message cannot be sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_head.h"

static const char reply[] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n";

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

/* What sd_notify(0, text) does (sd_pid_notify_with_fds when pass_fd >= 0). 0, or -errno. */
static int sd_notify_like(const char *text, int pass_fd)
{
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
	struct msghdr mh = {.msg_name = &sun, .msg_iov = &iov, .msg_iovlen = 1};
	size_t len;
	int fd, r;

	if (!e)
		return -ENOENT;
	len = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || len < 2 || len >= sizeof(sun.sun_path))
		return -EINVAL;
	memcpy(sun.sun_path, e, len);
	if (e[0] == '@')
		sun.sun_path[0] = '\0';
	/* A path's length includes its NUL; an abstract name's does not. */
	mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));
	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = &control;
		mh.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/*
 * What sd_notify_barrier does (and `systemd-notify` after its message): send BARRIER=1 with
 * the write end of a pipe and wait until the receiver closes it, which proves that every
 * earlier message was read while this process was still alive to be looked up.
 */
static int barrier(int timeout_ms)
{
	struct pollfd pfd = {.events = POLLIN};
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = sd_notify_like("BARRIER=1", p[1]);
	close(p[1]);
	pfd.fd = p[0];
	if (r == 0) {
		r = poll(&pfd, 1, timeout_ms);
		r = r == 1 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
	}
	close(p[0]);
	return r;
}

static void serve(int lfd)
{
	for (;;) {
		char req[4096];
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("notify_ready: accept");
			exit(5);
		}
		read_request_head(c, req, sizeof(req));
		(void)!send(c, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
		shutdown(c, SHUT_WR);
		close(c);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	const char *fds = getenv("LISTEN_FDS"), *lpid = getenv("LISTEN_PID");
	char text[128];
	long delay_ms = 0;
	int from_child = 0, i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from-child") == 0)
			from_child = 1;
		else
			delay_ms = strtol(argv[i], NULL, 10);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);

	if (fds && (!lpid || atol(lpid) != (long)getpid())) {
		fprintf(stderr, "notify_ready: LISTEN_PID=%s, but this is pid %ld\n",
			lpid ? lpid : "(unset)", (long)getpid());
		return 3;
	}
	if (delay_ms > 0) {
		struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}

	snprintf(text, sizeof(text), "READY=1\nSTATUS=serving (pid %ld)", (long)getpid());
	if (from_child) {
		int status;
		pid_t child = fork();

		if (child == 0)
			_exit(sd_notify_like(text, -1) < 0 || barrier(5000) < 0 ? 4 : 0);
		if (child < 0 || waitpid(child, &status, 0) < 0)
			r = -ECHILD;
		else
			r = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
	} else {
		r = sd_notify_like(text, -1);
	}
	if (r < 0) {
		fprintf(stderr, "notify_ready: cannot notify %s: %s\n",
			getenv("NOTIFY_SOCKET") ? getenv("NOTIFY_SOCKET") : "(NOTIFY_SOCKET unset)",
			strerror(-r));
		return 4;
	}

	if (fds && atoi(fds) >= 1)
		serve(3);
	for (;;)
		pause();
}
