/*
 * `baton ctl` against baton running as a real PID 1: status, ready, reload --wait (success
 * and rollback), scale, drain --wait (the Kubernetes preStop hook), and no baton at all.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

/* The control socket of the baton that the current test started (its private path). */
static const char *sock = "";

static int ctl(char *out, size_t len, const char *args)
{
	return bt_sh(out, len, "timeout 30 %s ctl --socket %s %s 2>&1", bt_baton(), sock, args);
}

struct ready_arg {
	const char *args;
	int want;
};

static bool ctl_cond(void *arg)
{
	struct ready_arg *a = arg;
	char out[4096];

	return ctl(out, sizeof(out), a->args) == a->want;
}

static void start(struct bt *b, const char *workers, const char *cmd)
{
	bt_start(b, 0,
		 W("-w", workers, "--ready", "delay:200ms", "--ready-timeout", "2s", "--", "sh", "-c",
		   cmd),
		 NULL);
	sock = b->ctl;
	{
		struct ready_arg a = { "ready", 0 };

		if (!bt_poll(ctl_cond, &a, 10000)) {
			bt_dump(b);
			fail_msg("never ready");
		}
	}
}

static void test_status_ready_scale(void **state)
{
	struct bt b;
	char out[8192];

	(void)state;
	start(&b, "2", "exec sleep 1000");
	assert_int_equal(ctl(out, sizeof(out), "status"), 0);
	assert_non_null(strstr(out, "pool: running, 2 workers wanted"));
	assert_non_null(strstr(out, "ready"));
	assert_int_equal(ctl(out, sizeof(out), "status --json"), 0);
	assert_non_null(strstr(out, "\"workers_wanted\":2"));
	assert_non_null(strstr(out, "\"slot\":2"));

	assert_int_equal(ctl(out, sizeof(out), "scale 3"), 0);
	assert_true(bt_wait_children(&b, 3, NULL, 10000));
	assert_int_equal(ctl(out, sizeof(out), "scale 1"), 0);
	assert_true(bt_wait_children(&b, 1, NULL, 10000));
	assert_int_equal(ctl(out, sizeof(out), "status"), 0);
	assert_non_null(strstr(out, "1 worker wanted"));
	assert_int_not_equal(ctl(out, sizeof(out), "scale 0"), 0);
	assert_int_equal(ctl(out, sizeof(out), "bogus"), 2);
	bt_cleanup(&b);
}

/* reload --wait: 0 when the rollout completes; non-zero with the reason when it rolls back. */
static void test_reload_wait(void **state)
{
	struct bt b;
	char out[8192], flag[160], cmd[512];

	(void)state;
	/* Beside the spare control path: a private directory of this process. */
	snprintf(flag, sizeof(flag), "%s.broken", bt_spare_control());
	unlink(flag);
	snprintf(cmd, sizeof(cmd), "if [ -e %s ]; then exit 1; fi; exec sleep 1000", flag);
	start(&b, "2", cmd);
	assert_int_equal(ctl(out, sizeof(out), "reload --wait"), 0);
	assert_non_null(strstr(out, "rollout complete"));
	assert_int_equal(bt_log_count(&b, "rollout of generation 2 complete"), 1);

	assert_int_equal(bt_sh(NULL, 0, "touch %s", flag), 0);
	assert_int_not_equal(ctl(out, sizeof(out), "reload --wait"), 0);
	assert_non_null(strstr(out, "exited with status 1"));
	unlink(flag);
	/* The old workers still serve: the pool is ready. */
	assert_int_equal(ctl(out, sizeof(out), "ready"), 0);
	bt_cleanup(&b);
}

/* The preStop hook: `drain --wait` returns 0 once every worker is gone, even though baton
 * then exits and takes every process of the container with it. */
static void test_drain_wait_as_prestop(void **state)
{
	struct bt b;
	char out[4096];

	(void)state;
	start(&b, "2", "trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.1; done");
	assert_int_equal(ctl(out, sizeof(out), "drain --wait"), 0);
	assert_true(bt_wait_exit(&b, 10000));
	assert_int_equal(b.status, 0);
	/* Not ready while stopping, and nothing to talk to afterwards. */
	assert_int_equal(ctl(out, sizeof(out), "ready"), 1);
	assert_non_null(strstr(out, "baton"));
	bt_cleanup(&b);
}

static int connect_ctl(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%.100s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Hostile clients against the real PID 1: more silent connections than the cap, garbage, an
 * oversized request, a client that hangs up mid-request. baton keeps serving its workers and
 * answers a real client, making room by dropping the silent ones. */
static void test_hostile_clients(void **state)
{
	enum { SILENT = 24 };
	struct bt b;
	char out[8192], big[70000], reply[512];
	pid_t before[2], after[2];
	int silent[SILENT], fd;
	ssize_t n;

	(void)state;
	start(&b, "2", "exec sleep 1000");
	assert_true(bt_wait_children(&b, 2, before, 10000));

	/* Garbage gets an error reply and the connection is closed. */
	fd = connect_ctl();
	assert_true(fd >= 0);
	assert_true(write(fd, "\x01\x02 nonsense\n", 12) == 12);
	n = read(fd, reply, sizeof(reply) - 1);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_non_null(strstr(reply, "error"));
	close(fd);

	/* An oversized request: an error, not a crash or a stall. */
	memset(big, 'x', sizeof(big));
	fd = connect_ctl();
	assert_true(fd >= 0);
	(void)!write(fd, big, sizeof(big));
	n = read(fd, reply, sizeof(reply) - 1);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_non_null(strstr(reply, "error"));
	close(fd);

	/* Half a request, then gone. */
	fd = connect_ctl();
	assert_true(fd >= 0);
	assert_true(write(fd, "BATON 1 sta", 11) == 11);
	close(fd);

	/* More silent clients than baton accepts at once. */
	for (int i = 0; i < SILENT; i++)
		silent[i] = connect_ctl();
	/* The silent ones are dropped to make room (or after the idle timeout); a real client is
	 * answered. */
	{
		struct ready_arg a = { "status", 0 };

		if (!bt_poll(ctl_cond, &a, 20000)) {
			bt_dump(&b);
			fail_msg("baton never answered again after the silent clients");
		}
	}
	for (int i = 0; i < SILENT; i++)
		if (silent[i] >= 0)
			close(silent[i]);
	assert_int_equal(bt_log_count(&b, "slots taken; dropped"), 1); /* warned once */
	/* The workers were never touched, and baton is still PID 1 of its namespace. */
	assert_true(bt_wait_children(&b, 2, after, 5000));
	assert_true((before[0] == after[0] && before[1] == after[1]) ||
		    (before[0] == after[1] && before[1] == after[0]));
	assert_false(bt_wait_exit(&b, 0)); /* a check, not a wait */
	assert_int_equal(ctl(out, sizeof(out), "ready"), 0);
	bt_cleanup(&b);
}

/* A connection that has sent nothing, opened again when baton dropped it: what a leaking
 * health-check script keeps up. -1 while the socket's backlog is full. */
static void keep_open(int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct pollfd p = { .fd = *fd, .events = POLLIN };

	if (*fd >= 0 && poll(&p, 1, 0) == 0)
		return; /* still held by baton */
	if (*fd >= 0)
		close(*fd);
	snprintf(a.sun_path, sizeof(a.sun_path), "%.100s", sock);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd >= 0 && connect(*fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(*fd);
		*fd = -1;
	}
}

/* 200 idle control connections held open never lock the operator out: `baton ctl status`
 * from root answers within 2 s, every time. */
static void test_idle_flood_never_locks_out(void **state)
{
	enum { FLOOD = 200, TRIES = 10 };
	static int fds[FLOOD];
	struct bt b;
	char out[8192];
	int64_t worst = 0;

	(void)state;
	start(&b, "1", "exec sleep 1000");
	for (int i = 0; i < FLOOD; i++)
		fds[i] = -1;
	for (int t = 0; t < TRIES; t++) {
		int64_t t0, took;
		int rc;

		for (int i = 0; i < FLOOD; i++)
			keep_open(&fds[i]);
		t0 = bt_now_ms();
		rc = ctl(out, sizeof(out), "status");
		took = bt_now_ms() - t0;
		if (rc != 0 || took >= 2000) {
			bt_dump(&b);
			fail_msg("try %d: status %d after %lld ms: %s", t, rc, (long long)took, out);
		}
		worst = took > worst ? took : worst;
	}
	print_message("ctl status under a flood of %d idle connections: at most %lld ms\n", FLOOD,
		      (long long)worst);
	for (int i = 0; i < FLOOD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	assert_int_equal(bt_log_count(&b, "slots taken; dropped"), 1);
	bt_cleanup(&b);
}

static void test_no_baton(void **state)
{
	char out[4096];

	(void)state;
	/* A path in a private directory where no baton listens. */
	assert_int_equal(bt_sh(out, sizeof(out), "%s ctl --socket %s status 2>&1", bt_baton(),
			       bt_spare_control()),
			 1);
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

struct ns_ctl_arg {
	struct bt *b;
	char *out;
	size_t len;
};

static bool ns_ctl_status(void *arg)
{
	struct ns_ctl_arg *a = arg;

	return bt_ns_sh(a->b, a->out, a->len, "env -u BATON_CONTROL %s ctl status 2>&1",
			bt_baton()) == 0;
}

/* With no --control, baton binds /run/baton.sock and `baton ctl` finds it there without
 * --socket. Run where it cannot meet a baton of the host: its own mount namespace, with a
 * tmpfs on /run (BT_DEFAULT_CONTROL). */
static void test_default_path_in_private_run(void **state)
{
	struct bt b;
	char out[4096];

	(void)state;
	bt_start(&b, BT_DEFAULT_CONTROL, W("-w", "1", "--", "sleep", "1000"), NULL);
	if (b.exited) {
		bt_dump(&b);
		bt_cleanup(&b);
		fprintf(stderr, "skipped: no private /run here (mount of a tmpfs on it failed)\n");
		skip();
	}
	if (!bt_wait_log(&b, "worker 1 started", 10000)) {
		bt_dump(&b);
		fail_msg("no worker");
	}
	/* The socket shows up inside, where ctl's default lookup finds it. */
	{
		struct ns_ctl_arg a = { &b, out, sizeof(out) };

		if (!bt_poll(ns_ctl_status, &a, 10000)) {
			bt_dump(&b);
			fail_msg("`baton ctl status` without --socket: %s", out);
		}
	}
	assert_int_equal(bt_ns_sh(&b, NULL, 0, "test -S /run/baton.sock"), 0);
	assert_non_null(strstr(out, "worker"));
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_exit(&b, 10000));
	assert_int_equal(b.status, 0);
	bt_cleanup(&b);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* a hostile client's write may meet a closed connection */
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_baton),
		cmocka_unit_test(test_status_ready_scale),
		cmocka_unit_test(test_reload_wait),
		cmocka_unit_test(test_drain_wait_as_prestop),
		cmocka_unit_test(test_hostile_clients),
		cmocka_unit_test(test_idle_flood_never_locks_out),
		cmocka_unit_test(test_default_path_in_private_run),
	};

	return cmocka_run_group_tests_name("integration: control", tests, setup, NULL);
}
