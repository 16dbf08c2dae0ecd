/*
 * --node-cluster as a real PID 1: an unmodified Node app (server.listen(PORT) and nothing
 * else) runs as N cluster workers of baton, shares baton's socket, rolls on HUP under load
 * with zero errors, is re-forked when it crashes, and drains on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "../helpers/http_client.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

static char plain[512], ids[512], sigint_app[512], ready_fd_app[512], v6only_app[512];
static char drain_app[512];

static void start_drain(struct bt *b, int port, const char *workers, const char *drain,
			const char *app)
{
	static char port_env[32];

	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	bt_start(b, 0,
		 W("-w", workers, "-v", "--node-cluster", "--node-drain", drain, "--drain-timeout",
		   "10s", "--", "node", app),
		 W(port_env));
	if (!bt_wait_http(port, 30000)) {
		bt_dump(b);
		fail_msg("the app does not answer");
	}
}

static void start(struct bt *b, int port, const char *workers, const char *app)
{
	start_drain(b, port, workers, "graceful", app);
}

/* cluster.isWorker is true and cluster.worker.id is baton's slot; N workers listen. */
static void test_workers_are_cluster_workers(void **state)
{
	struct bt b;
	int port = bt_free_port();
	char *out;

	(void)state;
	start(&b, port, "3", ids);
	assert_true(bt_wait_out_n(&b, "isWorker=true", 3, 20000));
	assert_true(bt_wait_log_n(&b, ") ready after", 3, 20000));
	out = bt_read_file(b.out);
	assert_non_null(strstr(out, "isWorker=true id=1 slot=1"));
	assert_non_null(strstr(out, "isWorker=true id=2 slot=2"));
	assert_non_null(strstr(out, "isWorker=true id=3 slot=3"));
	free(out);
	/* One socket, bound once by baton for all of them. */
	assert_int_equal(bt_log_count(&b, "for the Node workers"), 1);
	bt_cleanup(&b);
}

/*
 * wrk on the plain app (2 workers) for 8 s, with three rollouts while it runs: not one request
 * may fail. keep_alive: wrk's 64 connections stay open across requests, as a proxy's or a
 * load balancer's do; otherwise each request has its own connection.
 */
static void hup_under_load(const char *drain, bool keep_alive)
{
	struct bt b;
	int port = bt_free_port();
	char url[64], path[128], out[8192], *text;
	pid_t wrk;
	int rc = -1;

	start_drain(&b, port, "2", drain, plain);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(path, sizeof(path), "%s/wrk.out", b.dir);
	wrk = fork();
	if (wrk == 0) {
		FILE *f = freopen(path, "w", stdout);

		(void)f;
		if (keep_alive)
			execlp("wrk", "wrk", "-t", "2", "-c", "64", "-d", "8s", url, (char *)NULL);
		else
			execlp("wrk", "wrk", "-t", "2", "-c", "16", "-d", "8s", "-H",
			       "Connection: close", url, (char *)NULL);
		_exit(127);
	}
	for (int i = 2; i <= 4; i++) {
		char needle[64];

		bt_signal(&b, SIGHUP);
		snprintf(needle, sizeof(needle), "rollout of generation %d complete", i);
		if (!bt_wait_log(&b, needle, 40000)) {
			bt_dump(&b);
			fail_msg("rollout %d did not complete", i);
		}
	}
	{
		int status = 0;

		if (bt_wait_pid(wrk, &status, 30000))
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	assert_int_equal(rc, 0);
	text = bt_read_file(path);
	snprintf(out, sizeof(out), "%s", text ? text : "");
	free(text);
	fprintf(stderr, "%s", out);
	assert_non_null(strstr(out, " requests in "));
	assert_null(strstr(out, "Socket errors"));
	assert_null(strstr(out, "Non-2xx"));
	bt_cleanup(&b);
}

static void test_hup_under_load_zero_errors(void **state)
{
	(void)state;
	hup_under_load("graceful", false);
}

/* The same with keep-alive connections: Node's own drain resets the idle ones (hundreds of
 * failed requests over three rollouts, with --node-drain close); the preload loses none. */
static void test_hup_keep_alive_under_load_zero_errors(void **state)
{
	(void)state;
	hup_under_load("graceful", true);
}

/*
 * The drain preload under --user nobody, with nothing the worker may write (HOME and TMPDIR
 * do not exist, and the app's directory is root's), and the user's own NODE_OPTIONS: the
 * worker has both the user's option and the drain, which answers a keep-alive connection's
 * next request with Connection: close once the rollout drains its worker.
 */
static void test_drain_as_nobody_keeps_node_options(void **state)
{
	static char port_env[32];
	struct bt b;
	int port = bt_free_port(), fd;
	char resp[4096];

	(void)state;
	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	bt_start(&b, 0,
		 W("-w", "1", "-v", "--node-cluster", "--user", "nobody", "--drain-timeout", "10s",
		   "--", "node", drain_app),
		 W(port_env, "NODE_OPTIONS=--title=baton-user-options", "HOME=/nonexistent",
		   "TMPDIR=/nonexistent"));
	if (!bt_wait_http(port, 30000) || !bt_wait_log(&b, "title ", 10000)) {
		bt_dump(&b);
		fail_msg("the app does not answer");
	}
	if (bt_log_count(&b, "title baton-user-options .") != 1) {
		bt_dump(&b);
		fail_msg("the user's NODE_OPTIONS=--title=baton-user-options was lost");
	}

	fd = hc_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(hc_get(fd, "/"), 0);
	assert_true(hc_response(fd, resp, sizeof(resp), 10000) > 0);
	assert_null(strcasestr(resp, "Connection: close"));
	bt_signal(&b, SIGHUP);
	assert_true(bt_wait_log(&b, "drain by message", 40000));
	/* Well within the idle grace, which has just begun. */
	assert_int_equal(hc_get(fd, "/"), 0);
	if (hc_response(fd, resp, sizeof(resp), 10000) <= 0 ||
	    !strcasestr(resp, "\r\nConnection: close\r\n")) {
		bt_dump(&b);
		fail_msg("no Connection: close from the drained worker: '%s'", resp);
	}
	assert_int_equal(hc_wait_close(fd, 10000), 0);
	close(fd);
	assert_true(bt_wait_log(&b, "rollout of generation 2 complete", 40000));
	bt_cleanup(&b);
}

static void test_crashed_worker_is_reforked(void **state)
{
	struct bt b;
	int port = bt_free_port();
	pid_t pids[2], after[2];

	(void)state;
	start(&b, port, "2", plain);
	assert_true(bt_wait_log_n(&b, ") ready after", 2, 20000));
	assert_true(bt_wait_children(&b, 2, pids, 5000));
	kill(pids[0], SIGKILL);
	assert_true(bt_wait_log(&b, "restarting worker", 20000));
	assert_true(bt_wait_log_n(&b, ") ready after", 3, 20000));
	assert_true(bt_wait_children(&b, 2, after, 5000));
	assert_true(after[0] != pids[0] && after[1] != pids[0]);
	assert_int_equal(bt_http_get(port, "/", NULL, 0), 200);
	bt_cleanup(&b);
}

/* docker stop: SIGTERM to PID 1 disconnects every worker; they exit 0 and so does baton. */
static void test_sigterm_disconnects_and_exits_0(void **state)
{
	struct bt b;
	int port = bt_free_port();
	int64_t t0;

	(void)state;
	start(&b, port, "2", plain);
	assert_true(bt_wait_log_n(&b, ") ready after", 2, 20000));
	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_exit(&b, 20000));
	assert_int_equal(b.status, 0);
	assert_true(bt_now_ms() - t0 < 5000);
	assert_int_equal(bt_log_count(&b, "drain by message"), 2);
	assert_int_equal(bt_log_count(&b, "exited with status 0"), 2);
	bt_cleanup(&b);
}

/* An explicit --drain-signal is the app's own drain: sent instead of the cluster disconnect. */
static void test_explicit_drain_signal_replaces_disconnect(void **state)
{
	static char port_env[32];
	struct bt b;
	int port = bt_free_port();

	(void)state;
	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	bt_start(&b, 0,
		 W("-w", "2", "-v", "--node-cluster", "--drain-signal", "INT", "--drain-timeout", "10s",
		   "--", "node", sigint_app),
		 W(port_env));
	if (!bt_wait_log_n(&b, ") ready after", 2, 30000)) {
		bt_dump(&b);
		fail_msg("the workers did not become ready");
	}
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_exit(&b, 20000));
	assert_int_equal(b.status, 0);
	assert_int_equal(bt_log_count(&b, "drain with SIGINT"), 2);
	assert_int_equal(bt_log_count(&b, "drain by message"), 0);
	assert_true(bt_wait_out_n(&b, "drains on SIGINT", 2, 10000));
	bt_cleanup(&b);
}

/* --ready fd with --node-cluster: done with the ready pipe, the worker keeps its Node channel
 * (losing it, Node would make the worker exit) and goes on serving. */
static void test_ready_fd_keeps_the_channel(void **state)
{
	static char port_env[32];
	struct bt b;
	int port = bt_free_port();
	pid_t before[2], after[2];

	(void)state;
	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	bt_start(&b, 0,
		 W("-w", "2", "-v", "--node-cluster", "--ready", "fd", "--", "node", ready_fd_app),
		 W(port_env));
	if (!bt_wait_log_n(&b, ") ready after", 2, 30000)) {
		bt_dump(&b);
		fail_msg("the workers did not become ready");
	}
	assert_true(bt_wait_children(&b, 2, before, 5000));
	/* Long enough for a worker whose channel was closed to notice and exit. A fixed time on
	 * purpose: what is tested is that nothing happens (no worker exits), and no condition
	 * can end that wait earlier. */
	usleep(1500 * 1000);
	assert_int_equal(bt_log_count(&b, "exited"), 0);
	assert_true(bt_wait_children(&b, 2, after, 5000));
	assert_true((before[0] == after[0] && before[1] == after[1]) ||
		    (before[0] == after[1] && before[1] == after[0]));
	assert_true(bt_wait_http(port, 5000));
	bt_cleanup(&b);
}

/* A worker that speaks another version of the protocol, or garbage, fails with a clear line. */
static void test_protocol_violations_fail_the_worker(void **state)
{
	static const struct {
		const char *line;
		const char *log;
	} cases[] = {
		{ "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"teleport\",\"seq\":0}",
		  "speaks another version of Node's cluster protocol (act 'teleport')" },
		{ "{not json", "broke Node's cluster protocol" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bt b;
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "echo '%s' >&$NODE_CHANNEL_FD; exec sleep 100", cases[i].line);
		bt_start(&b, 0, W("--node-cluster", "--max-restarts", "0", "--drain-timeout", "1s", "--", "sh", "-c", cmd), NULL);
		if (!bt_wait_log(&b, cases[i].log, 20000)) {
			bt_dump(&b);
			fail_msg("no '%s'", cases[i].log);
		}
		/* It is stopped, and baton is still there to say so (no hang, no crash). */
		assert_true(bt_wait_exit(&b, 30000));
		/* --max-restarts 0: the failed worker ends baton, with a failure status. */
		assert_true(b.status > 0);
		bt_cleanup(&b);
	}
}

/* 0 when a TCP connection to addr:port is accepted, else the connect errno. */
static int try_connect(int family, const char *addr, int port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, r;

	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &in->sin_addr);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	r = connect(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
	close(fd);
	return r;
}

/* listen({host: '::', ipv6Only: true}) gets a socket that takes no IPv4 connection, as
 * under Node's own primary. */
static void test_ipv6_only_is_honoured(void **state)
{
	struct bt b;
	int port = bt_free_port();
	char port_env[32], needle[96];
	int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 lo = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	(void)state;
	if (probe < 0 || bind(probe, (struct sockaddr *)&lo, sizeof(lo)) < 0) {
		if (probe >= 0)
			close(probe);
		skip(); /* no IPv6 loopback here */
	}
	close(probe);
	snprintf(port_env, sizeof(port_env), "PORT=%d", port);
	bt_start(&b, 0, W("-w", "1", "-v", "--node-cluster", "--", "node", v6only_app),
		 W(port_env));
	snprintf(needle, sizeof(needle), "listening on [::]:%d (IPv6 only)", port);
	if (!bt_wait_log(&b, needle, 30000) || !bt_wait_log(&b, ") ready after", 20000)) {
		bt_dump(&b);
		fail_msg("no IPv6-only socket");
	}
	assert_int_equal(try_connect(AF_INET6, "::1", port), 0);
	assert_int_equal(try_connect(AF_INET, "127.0.0.1", port), ECONNREFUSED);
	bt_cleanup(&b);
}

/* TCP_NODELAY of the socket baton listens on at port (a copy taken with pidfd_getfd), or -1
 * when baton has no such listener. */
static int listener_nodelay(struct bt *b, int port)
{
	char dir[64];
	int pidfd = (int)syscall(SYS_pidfd_open, b->baton, 0), found = -1;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)b->baton);
	d = opendir(dir);
	assert_true(pidfd >= 0 && d);
	while (found < 0 && (de = readdir(d))) {
		struct sockaddr_in6 sa;
		socklen_t len = sizeof(sa), vlen = sizeof(int);
		int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0), listening = 0, v;

		if (fd < 0)
			continue;
		/* The port is at the same place in sockaddr_in and sockaddr_in6. */
		if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
		    (sa.sin6_family == AF_INET || sa.sin6_family == AF_INET6) &&
		    ntohs(sa.sin6_port) == port &&
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &vlen) == 0 && listening &&
		    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen) == 0)
			found = v != 0;
		close(fd);
	}
	closedir(d);
	close(pidfd);
	return found;
}

/* TCP_NODELAY is on the sockets baton binds for Node workers and on --listen sockets, so on
 * every connection accepted from them; --tcp-nodelay off leaves it off. */
static void test_tcp_nodelay_on_listeners(void **state)
{
	(void)state;
	for (int on = 1; on >= 0; on--) {
		struct bt b;
		int port = bt_free_port(), listen_port = bt_free_port();
		char port_env[32], listen[32];

		snprintf(port_env, sizeof(port_env), "PORT=%d", port);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", listen_port);
		bt_start(&b, 0,
			 W("-w", "1", "--node-cluster", "--tcp-nodelay", on ? "on" : "off", "--listen",
			   listen, "--", "node", plain),
			 W(port_env));
		if (!bt_wait_http(port, 30000)) {
			bt_dump(&b);
			fail_msg("the app does not answer");
		}
		assert_int_equal(listener_nodelay(&b, port), on);
		assert_int_equal(listener_nodelay(&b, listen_port), on);
		bt_cleanup(&b);
	}
}

static int setup(void **state)
{
	char cwd[400];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(plain, sizeof(plain), "%s/tests/apps/plain.js", cwd);
	snprintf(ids, sizeof(ids), "%s/tests/apps/cluster_id.js", cwd);
	snprintf(sigint_app, sizeof(sigint_app), "%s/tests/apps/cluster_sigint.js", cwd);
	snprintf(ready_fd_app, sizeof(ready_fd_app), "%s/tests/apps/cluster_ready_fd.js", cwd);
	snprintf(v6only_app, sizeof(v6only_app), "%s/tests/apps/ipv6_only.js", cwd);
	snprintf(drain_app, sizeof(drain_app), "%s/tests/apps/drain_app.js", cwd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_are_cluster_workers),
		cmocka_unit_test(test_sigterm_disconnects_and_exits_0),
		cmocka_unit_test(test_explicit_drain_signal_replaces_disconnect),
		cmocka_unit_test(test_ready_fd_keeps_the_channel),
		cmocka_unit_test(test_crashed_worker_is_reforked),
		cmocka_unit_test(test_protocol_violations_fail_the_worker),
		cmocka_unit_test(test_ipv6_only_is_honoured),
		cmocka_unit_test(test_tcp_nodelay_on_listeners),
		cmocka_unit_test(test_drain_as_nobody_keeps_node_options),
		cmocka_unit_test(test_hup_under_load_zero_errors),
		cmocka_unit_test(test_hup_keep_alive_under_load_zero_errors),
	};

	return cmocka_run_group_tests_name("integration: node cluster", tests, setup, NULL);
}
