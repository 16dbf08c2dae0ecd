/*
 * A Node.js cluster worker driven from a test, exactly as baton starts one: a socketpair end
 * as NODE_CHANNEL_FD, serialization json, NODE_UNIQUE_ID, a listening socket the test owns,
 * and the whole protocol spoken through nodeipc. Shared by the unit tests that run a real
 * Node (test_nodeipc_node, test_node_drain); each includes it once. A test skips when there
 * is no `node` on PATH. Every wait is a poll with a deadline; every process is reaped.
 */
#ifndef BATON_TEST_NODE_WORKER_H
#define BATON_TEST_NODE_WORKER_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "baton/nodeipc.h"

#define DEADLINE_MS 20000
#define SLOT_ID 7

struct worker {
	pid_t pid;
	int pidfd;
	int ch;            /* baton's end of the channel */
	int err;           /* the worker's stderr */
	int lfd;           /* the listening socket baton owns */
	int port;
	struct nipc_conn *c;
	char errbuf[8192];
	size_t errlen;
	bool passed;       /* set at the end of a test: its worker's stderr is then not shown */
};

static struct worker W;

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int left_ms(int64_t deadline)
{
	int64_t l = deadline - now_ms();
	return l < 0 ? 0 : (int)l;
}

static inline bool find_node(void)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		return false;
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && n < sizeof(buf) - 6) {
			memcpy(buf, path, n);
			strcpy(buf + n, "/node");
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

/* tests/apps/<name>, from the working directory or above this binary (build/.../tests/unit). */
static inline bool find_app(const char *name, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;

	snprintf(out, cap, "tests/apps/%s", name);
	if (access(out, R_OK) == 0)
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		*slash = '\0';
		if (strlen(exe) + strlen(name) + 13 > cap)
			return false;
		strcpy(out, exe);
		strcat(out, "/tests/apps/");
		strcat(out, name);
		if (access(out, R_OK) == 0)
			return true;
	}
	return false;
}

static inline void drain_stderr(void)
{
	ssize_t n;

	while (W.err >= 0 && W.errlen < sizeof(W.errbuf) - 1 &&
	       (n = read(W.err, W.errbuf + W.errlen, sizeof(W.errbuf) - 1 - W.errlen)) > 0)
		W.errlen += (size_t)n;
	W.errbuf[W.errlen] = '\0';
}

static inline int setup(void **state)
{
	memset(&W, 0, sizeof(W));
	W.pid = -1;
	W.pidfd = W.ch = W.err = W.lfd = -1;
	return 0;
}

static inline int teardown(void **state)
{
	if (W.pid > 0) {
		kill(W.pid, SIGKILL);
		waitpid(W.pid, NULL, 0);
	}
	drain_stderr();
	if (W.errlen && !W.passed)
		fprintf(stderr, "worker stderr:\n%s\n", W.errbuf);
	if (W.pidfd >= 0)
		close(W.pidfd);
	if (W.ch >= 0)
		close(W.ch);
	if (W.err >= 0)
		close(W.err);
	if (W.lfd >= 0)
		close(W.lfd);
	nipc_conn_free(W.c);
	return 0;
}

/* The socket baton would own: 127.0.0.1 on a free port, non-blocking as mod_node.c makes it.
 * Node 18's libuv accepts in a loop until EAGAIN and takes a received handle as it is: on a
 * blocking socket its second accept() blocks the worker's whole event loop, so the first
 * connection is never answered. Node 20's accepts once per wake-up and hid the difference. */
static inline void bind_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	W.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(W.lfd >= 0);
	assert_int_equal(bind(W.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(W.lfd, 64), 0);
	assert_int_equal(getsockname(W.lfd, (struct sockaddr *)&sa, &len), 0);
	W.port = ntohs(sa.sin_port);
}

/* Start the app the way baton does: the channel as fd 3 (right after stderr when there are no
 * LISTEN_FDS sockets and no ready pipe), the three variables, then exec. node_options: the
 * worker's NODE_OPTIONS entry ("NODE_OPTIONS=..."), or NULL for none. */
static inline void start(const char *app, const char *node_options)
{
	char path[PATH_MAX], port[16];
	int sv[2], ep[2];

	if (!find_node())
		skip();
	assert_true(find_app(app, path, sizeof(path)));
	W.c = nipc_conn_new();
	assert_non_null(W.c);
	bind_socket();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	snprintf(port, sizeof(port), "%d", W.port);

	W.pid = fork();
	assert_true(W.pid >= 0);
	if (W.pid == 0) {
		/* dup2 onto itself would keep close-on-exec: clear it by hand then. */
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(sv[1], 3) < 0)
			_exit(126);
		if (dup2(ep[1], 2) < 0)
			_exit(126);
		if (node_options)
			putenv((char *)node_options); /* a whole "NODE_OPTIONS=..." entry */
		else
			unsetenv("NODE_OPTIONS");
		setenv("PORT", port, 1);
		setenv(NIPC_ENV_CHANNEL_FD, "3", 1);
		setenv(NIPC_ENV_SERIALIZATION, "json", 1);
		setenv(NIPC_ENV_UNIQUE_ID, "7", 1);
		execlp("node", "node", path, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	W.ch = sv[0];
	W.err = ep[0];
	assert_int_equal(fcntl(W.ch, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(W.err, F_SETFL, O_NONBLOCK), 0);
	W.pidfd = (int)syscall(SYS_pidfd_open, W.pid, 0);
	assert_true(W.pidfd >= 0);
}

/*
 * The next event from the worker: 1 with *ev, 0 at the end of the channel, -ETIMEDOUT.
 * Writes whatever the connection has queued on the way, as the run loop will.
 */
static inline int next_event(struct nipc_event *ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p[2];
		ssize_t n;
		int r;

		if (nipc_next_event(W.c, ev) == 1)
			return 1;
		r = nipc_want_write(W.c) ? nipc_flush(W.c, W.ch) : 0;
		assert_true(r == 0 || r == -EAGAIN);
		p[0] = (struct pollfd){ W.ch, POLLIN | (r == -EAGAIN ? POLLOUT : 0), 0 };
		p[1] = (struct pollfd){ W.err, POLLIN, 0 };
		if (poll(p, 2, left_ms(deadline)) == 0)
			return -ETIMEDOUT;
		drain_stderr();
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = nipc_read(W.c, W.ch);
		if (n == 0)
			return 0;
		assert_true(n > 0 || n == -EAGAIN);
	}
}

/* Expect the next events to be exactly `want` (skipping nothing). */
static inline void expect(enum nipc_event_type want, struct nipc_event *ev, int64_t deadline)
{
	int r = next_event(ev, deadline);

	if (r != 1 || ev->type != want)
		fail_msg("wanted %s, got r=%d %s (%s)", nipc_event_name(want), r,
			 r == 1 ? nipc_event_name(ev->type) : "-", r == 1 ? ev->detail : "");
}

/* The worker closes its end of the channel. */
static inline void expect_eof(int64_t deadline)
{
	struct nipc_event ev;
	int r = next_event(&ev, deadline);

	if (r != 0)
		fail_msg("wanted the end of the channel, got r=%d %s", r,
			 r == 1 ? nipc_event_name(ev.type) : "");
}

static inline int wait_exit(int64_t deadline)
{
	struct pollfd p = { W.pidfd, POLLIN, 0 };
	int status;

	if (poll(&p, 1, left_ms(deadline)) != 1)
		return -ETIMEDOUT;
	assert_int_equal(waitpid(W.pid, &status, 0), W.pid);
	W.pid = -1;
	drain_stderr();
	return status;
}

/* Wait until the worker's stderr holds needle. */
static inline bool wait_stderr(const char *needle, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { W.err, POLLIN, 0 };

		drain_stderr();
		if (strstr(W.errbuf, needle))
			return true;
		if (poll(&p, 1, left_ms(deadline)) != 1)
			return false;
	}
}

/* Whether the worker is still running (not exited, reaped or not). */
static inline bool worker_alive(void)
{
	struct pollfd p = { W.pidfd, POLLIN, 0 };

	return W.pid > 0 && poll(&p, 1, 0) == 0;
}

/* GET / on the port; the whole response, or fails the test. */
static inline void http_get(char *out, size_t cap, int64_t deadline)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)W.port) };
	const char *req = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, left_ms(deadline)) != 1)
			fail_msg("no HTTP response in time (got '%.*s')", (int)got, out);
		n = read(fd, out + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
}

/* What the app does in its listen callback, which runs before cluster's own 'listening'
 * handler: nothing, process.send('ready'), or worker.disconnect() (then the worker never
 * announces listening, its server being closed already). */
enum app_kind { APP_PLAIN, APP_READY, APP_LEAVE };

/* Up to listening: online, queryServer for the app's port answered with our socket, the
 * worker's ACK of the handle, then what the app does, then listening. */
static inline void bring_up(int64_t deadline, enum app_kind kind)
{
	struct nipc_event ev;

	expect(NIPC_EV_ONLINE, &ev, deadline);
	assert_true(nipc_online(W.c));
	expect(NIPC_EV_QUERY_SERVER, &ev, deadline);
	assert_false(ev.server.has_address);
	assert_int_equal(ev.server.port, W.port);
	assert_int_equal(ev.server.type, NIPC_AT_TCP4);
	assert_int_equal(ev.server.index, 0);
	assert_int_equal(nipc_reply_server(W.c, &ev.server, W.lfd, NULL), 0);
	expect(NIPC_EV_HANDLE_ACK, &ev, deadline);
	if (kind == APP_LEAVE)
		return;
	if (kind == APP_READY)
		expect(NIPC_EV_READY, &ev, deadline);
	expect(NIPC_EV_LISTENING, &ev, deadline);
	assert_int_equal(ev.server.port, W.port);
}

#endif
