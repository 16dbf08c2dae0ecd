/*
 * nodeipc against a real Node.js: each test starts `node tests/apps/<app>.js` exactly as baton
 * starts a cluster worker (a socketpair end as NODE_CHANNEL_FD, serialization json,
 * NODE_UNIQUE_ID), owns the listening socket itself, and drives the whole protocol through
 * nodeipc: online, queryServer answered with the socket as a shared handle, listening, HTTP
 * served by the worker, then the disconnect drain and a clean exit. Skipped when there is no
 * `node` on PATH. Every wait is a poll with a deadline; every process is reaped.
 */
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
#include "node_worker.h"

static void test_plain_app_serves_and_drains(void **state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct nipc_event ev;
	char resp[4096], want[64];
	int r;

	start("plain.js", NULL);
	bring_up(deadline, APP_PLAIN);

	/* The worker serves on baton's socket and knows its slot id. */
	http_get(resp, sizeof(resp), deadline);
	snprintf(want, sizeof(want), "\r\n\r\nhello from %d\n", SLOT_ID);
	if (!strstr(resp, want))
		fail_msg("response: '%s'", resp);
	assert_non_null(strstr(resp, "HTTP/1.0 200") ? resp : strstr(resp, "HTTP/1.1 200"));

	/* Drain: the worker closes its server, closes the channel, exits 0. */
	assert_int_equal(nipc_disconnect(W.c), 0);
	expect(NIPC_EV_CLOSE, &ev, deadline);
	expect_eof(deadline);
	r = wait_exit(deadline);
	assert_true(r >= 0);
	assert_true(WIFEXITED(r));
	assert_int_equal(WEXITSTATUS(r), 0);

	/* baton's socket outlives the worker: a new connection waits in its queue. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)W.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	W.passed = true;
}

/* process.send('ready') arrives as READY (before listening: see bring_up). */
static void test_ready_message(void **state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct nipc_event ev;
	char resp[4096];
	int r;

	start("cluster_ready.js", NULL);
	bring_up(deadline, APP_READY);
	http_get(resp, sizeof(resp), deadline);
	assert_non_null(strstr(resp, "\r\n\r\nready 7\n"));
	assert_int_equal(nipc_disconnect(W.c), 0);
	expect(NIPC_EV_CLOSE, &ev, deadline);
	expect_eof(deadline);
	r = wait_exit(deadline);
	assert_true(r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	W.passed = true;
}

/* A worker that leaves on its own waits for the ack of exitedAfterDisconnect, which the
 * connection queues by itself; without it the worker would never exit. */
static void test_worker_initiated_disconnect(void **state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct nipc_event ev;
	int r;

	start("cluster_leave.js", NULL);
	bring_up(deadline, APP_LEAVE);
	expect(NIPC_EV_CLOSE, &ev, deadline);
	expect(NIPC_EV_EXITED_AFTER_DISCONNECT, &ev, deadline);
	expect_eof(deadline);
	r = wait_exit(deadline);
	assert_true(r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	W.passed = true;
}

/* A refused queryServer makes the worker's listen() fail with that error. */
static void test_listen_error_reaches_app(void **state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct nipc_event ev;
	int r;

	start("plain.js", NULL);
	expect(NIPC_EV_ONLINE, &ev, deadline);
	expect(NIPC_EV_QUERY_SERVER, &ev, deadline);
	assert_int_equal(nipc_reply_server_error(W.c, &ev.server, -EADDRINUSE), 0);
	/* The app has no 'error' handler: Node dies of it, and says why. */
	while ((r = next_event(&ev, deadline)) == 1)
		assert_true(ev.type != NIPC_EV_LISTENING);
	assert_int_equal(r, 0);
	r = wait_exit(deadline);
	assert_true(r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) != 0);
	assert_non_null(strstr(W.errbuf, "EADDRINUSE"));
	W.passed = true;
}

/* Closing the channel without a disconnect is Node's "primary died": the worker exits. */
static void test_channel_close_stops_worker(void **state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	int r;

	start("plain.js", NULL);
	bring_up(deadline, APP_PLAIN);
	close(W.ch);
	W.ch = -1;
	r = wait_exit(deadline);
	assert_true(r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	W.passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_app_serves_and_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_initiated_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_error_reaches_app, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_close_stops_worker, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
