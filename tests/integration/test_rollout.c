/*
 * Zero-downtime rollouts as a real PID 1 under real load: baton owns the listening socket,
 * HUP replaces workers one at a time, a broken deploy keeps the old workers serving.
 * Load comes from wrk on 127.0.0.1, bounded in time.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

static char app[512];


/* The version file lives in the run's directory, which exists only once baton started:
 * point the app at a path known in advance instead. */
static char version_env[300];
static char version_path[256];

static void set_version(const char *version)
{
	FILE *f = fopen(version_path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", version);
	fclose(f);
}

struct load {
	pid_t pid;
	char out[300];
};

/* wrk on 127.0.0.1:port; every request a new connection unless keep_alive. */
static void load_start(struct load *l, int port, int seconds, bool keep_alive)
{
	char url[64], dur[16];

	snprintf(l->out, sizeof(l->out), "%s.wrk.%d", version_path, port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(dur, sizeof(dur), "%ds", seconds);
	l->pid = fork();
	assert_true(l->pid >= 0);
	if (l->pid == 0) {
		int fd = open(l->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (keep_alive)
			execlp("wrk", "wrk", "-t", "2", "-c", "16", "-d", dur, "--timeout", "5s", url,
			       (char *)NULL);
		else
			execlp("wrk", "wrk", "-t", "2", "-c", "16", "-d", dur, "--timeout", "5s", "-H",
			       "Connection: close", url, (char *)NULL);
		_exit(127);
	}
}

struct all_ready_arg {
	struct bt *b;
	int n;
};

/* Every one of the n workers is ready, as baton reports it. */
static bool all_ready(void *arg)
{
	struct all_ready_arg *a = arg;
	char out[8192], *p = out;
	int ready = 0;

	if (bt_ctl(a->b, out, sizeof(out), "status --json") != 0)
		return false;
	while ((p = strstr(p, "\"state\":\"ready\""))) {
		ready++;
		p++;
	}
	return ready == a->n;
}

/* The rollout must start from a pool whose every worker is ready: the app answering means
 * one is, and a slow start of another must not become part of the test. */
static void all_workers_ready(struct bt *b, int workers)
{
	struct all_ready_arg a = { b, workers };

	if (!bt_poll(all_ready, &a, 20000)) {
		bt_dump(b);
		fail_msg("the %d old workers never were all ready", workers);
	}
}

/* ... and under load: wrk holds a connection to the app. */
static void load_running(struct bt *b, int port)
{
	if (!bt_wait_tcp_client(port, 10000)) {
		bt_dump(b);
		fail_msg("wrk never connected to port %d", port);
	}
}

/* Wait for wrk, then check it saw traffic and not one error. */
static void load_check(struct load *l, int timeout_ms)
{
	int status = -1;
	char *out;
	long requests = 0;

	if (!bt_wait_pid(l->pid, &status, timeout_ms) || !WIFEXITED(status)) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
		fail_msg("wrk did not finish");
	}
	out = bt_read_file(l->out);
	assert_non_null(out);
	fprintf(stderr, "%s", out);
	{
		char *p = strstr(out, " requests in ");

		assert_non_null(p);
		while (p > out && p[-1] != '\n' && p[-1] != ' ')
			p--;
		requests = atol(p);
	}
	assert_true(requests > 200);
	assert_null(strstr(out, "Socket errors"));
	assert_null(strstr(out, "Non-2xx"));
	free(out);
	unlink(l->out);
}

/* ready_timeout: generous where the test is a rollout under load on a busy machine, short
 * where the test waits for it to expire. */
static void start_app(struct bt *b, int port, const char *workers, const char *ready,
		      const char *ready_timeout)
{
	char listen[64];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	bt_start(b, 0,
		 W("-w", workers, "-v", "--listen", listen, "--ready", ready, "--ready-timeout", ready_timeout,
		   "--drain-timeout", "10s", "--", "node", app),
		 W(version_env));
	if (!bt_wait_http(port, 15000)) {
		bt_dump(b);
		fail_msg("the app does not answer");
	}
}

static void rollouts_under_load(const char *workers, const char *ready, bool keep_alive)
{
	struct bt b;
	struct load l;
	int port = bt_free_port();
	char body[256], needle[64];

	set_version("v1");
	start_app(&b, port, workers, ready, "20s");
	all_workers_ready(&b, atoi(workers));
	load_start(&l, port, 8, keep_alive);
	load_running(&b, port);
	for (int i = 2; i <= 4; i++) {
		snprintf(needle, sizeof(needle), "v%d", i);
		set_version(needle);
		bt_signal(&b, SIGHUP);
		snprintf(needle, sizeof(needle), "rollout of generation %d complete", i);
		if (!bt_wait_log(&b, needle, 20000)) {
			bt_dump(&b);
			fail_msg("rollout %d did not complete", i);
		}
	}
	load_check(&l, 30000);
	assert_int_equal(bt_http_get(port, "/", body, sizeof(body)), 200);
	assert_memory_equal(body, "v4 ", 3);
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_exit(&b, 15000));
	assert_int_equal(b.status, 0);
	bt_cleanup(&b);
}

static void test_hup_under_load_one_worker(void **state)
{
	(void)state;
	rollouts_under_load("1", "fd", false);
}

static void test_hup_under_load_four_workers(void **state)
{
	(void)state;
	rollouts_under_load("4", "fd", false);
}

static void test_hup_under_load_notify(void **state)
{
	(void)state;
	rollouts_under_load("2", "notify", false);
}

/* Keep-alive clients lose nothing either: the old worker is given its drain, and an app that
 * drains as tests/apps/http_fd.js does ends each connection after a response. */
static void test_hup_under_load_keep_alive(void **state)
{
	(void)state;
	rollouts_under_load("2", "fd", true);
}

/* After a rollout that did not happen: the very same old workers still serve the old version.
 * Then baton is stopped and cleaned up. */
static void old_workers_still_serve(struct bt *b, int port, const pid_t before[2])
{
	pid_t after[2];
	char body[256];

	if (!bt_wait_children(b, 2, after, 10000) ||
	    !((after[0] == before[0] && after[1] == before[1]) ||
	      (after[0] == before[1] && after[1] == before[0]))) {
		bt_dump(b);
		fail_msg("workers %d %d before, %d %d after", (int)before[0], (int)before[1],
			 (int)after[0], (int)after[1]);
	}
	assert_int_equal(bt_http_get(port, "/", body, sizeof(body)), 200);
	assert_memory_equal(body, "v1 ", 3);
	bt_signal(b, SIGTERM);
	assert_true(bt_wait_exit(b, 15000));
	bt_cleanup(b);
}

/* A deploy whose new worker exits at start, or never becomes ready, keeps the old ones. */
static void broken_deploy(const char *version, const char *expect_log)
{
	struct bt b;
	struct load l;
	int port = bt_free_port();
	pid_t before[2];

	set_version("v1");
	start_app(&b, port, "2", "fd", "3s");
	all_workers_ready(&b, 2);
	assert_true(bt_wait_children(&b, 2, before, 5000));
	load_start(&l, port, 6, false);
	load_running(&b, port);
	set_version(version);
	bt_signal(&b, SIGHUP);
	if (!bt_wait_log(&b, expect_log, 20000)) {
		bt_dump(&b);
		fail_msg("no '%s' in the log", expect_log);
	}
	assert_int_equal(bt_log_count(&b, "keeping the old workers"), 1);
	load_check(&l, 30000);
	old_workers_still_serve(&b, port, before);
}

/* A failing --pre-rollout keeps the old workers, under load with 0 failed requests: one log
 * line, and `ctl reload --wait` reports it. */
static void test_failing_pre_rollout_keeps_serving(void **state)
{
	struct bt b;
	struct load l;
	int port = bt_free_port();
	pid_t before[2];
	char listen[64], out[4096];

	(void)state;
	set_version("v1");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	bt_start(&b, 0,
		 W("-w", "2", "--listen", listen, "--ready", "fd", "--ready-timeout", "3s",
		   "--pre-rollout", "sh -c 'echo migrating; exit 4'", "--", "node", app),
		 W(version_env));
	if (!bt_wait_http(port, 15000)) {
		bt_dump(&b);
		fail_msg("the app does not answer");
	}
	all_workers_ready(&b, 2);
	assert_true(bt_wait_children(&b, 2, before, 5000));
	load_start(&l, port, 6, false);
	load_running(&b, port);
	set_version("v2");
	bt_signal(&b, SIGHUP);
	if (!bt_wait_log(&b, "the pre-rollout command exited with status 4; rollout not started",
			 20000)) {
		bt_dump(&b);
		fail_msg("no failure line");
	}
	assert_int_equal(bt_ctl(&b, out, sizeof(out), "reload --wait"), 1);
	assert_non_null(strstr(out, "the pre-rollout command exited with status 4"));
	load_check(&l, 30000);
	assert_int_equal(bt_log_count(&b, "the pre-rollout command exited with status 4"), 2);
	assert_int_equal(bt_log_count(&b, "rollout of generation"), 0);
	old_workers_still_serve(&b, port, before);
}

static void test_broken_deploy_exits(void **state)
{
	(void)state;
	broken_deploy("crash", "rollout failed: the new version exited with status 1");
}

static void test_broken_deploy_never_ready(void **state)
{
	(void)state;
	broken_deploy("noready", "rollout failed: the new version was not ready after 3000 ms");
}

/* Readiness from a worker in C (sd_notify), in shell (systemd-notify, a ready fd). */
static void test_ready_protocols_from_c_and_shell(void **state)
{
	const struct {
		const char *mode;
		const char *const *cmd;
	} cases[] = {
		{ "notify", W("sh", "-c", "systemd-notify --ready; exec sleep 1000") },
		{ "fd", W("sh", "-c", "echo >&$BATON_READY_FD; exec sleep 1000") },
		{ "notify", W(bt_helper("notify_ready")) },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[16] = { "-v", "--ready", cases[i].mode, "--ready-timeout", "20s", "--" };
		int n = 6;
		struct bt b;

		for (int k = 0; cases[i].cmd[k]; k++)
			args[n++] = cases[i].cmd[k];
		args[n] = NULL;
		bt_start(&b, 0, args, NULL);
		/* Not "(pid 2)": the sandbox is prepared in a short-lived process that may take
		 * the namespace's first pid after baton's. */
		if (!bt_wait_log(&b, ") ready after", 10000)) {
			bt_dump(&b);
			fail_msg("case %zu: no readiness", i);
		}
		/* The C helper also sends STATUS=, which baton logs at -v. */
		if (i == 2 && !bt_wait_log(&b, "worker 1 status: serving (pid ", 5000)) {
			bt_dump(&b);
			fail_msg("case %zu: STATUS= not logged", i);
		}
		bt_cleanup(&b);
	}
	/* And the negative: a worker that says nothing is not ready. */
	{
		struct bt b;

		bt_start(&b, 0, W("-v", "--ready", "fd", "--ready-timeout", "1s", "--", "sleep", "100"),
			 NULL);
		assert_true(bt_wait_log(&b, "not ready after 1000 ms", 10000));
		assert_int_equal(bt_log_count(&b, ") ready after"), 0);
		bt_cleanup(&b);
	}
}

/* The socket-activation environment: LISTEN_PID is the worker's own pid. */
static void test_listen_environment(void **state)
{
	struct bt b;
	char listen1[64], listen2[64], expect[256];
	int p1 = bt_free_port(), p2 = bt_free_port();
	char *out;
	int pid = 0;

	(void)state;
	snprintf(listen1, sizeof(listen1), "127.0.0.1:%d=web", p1);
	snprintf(listen2, sizeof(listen2), "tcp://127.0.0.1:%d=admin", p2);
	bt_start(&b, 0,
		 W("-w", "2", "-l", listen1, "-l", listen2, "--", "sh", "-c",
		   /* One echo, so that the two workers' lines cannot interleave. */
		   "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID self=$$ names=$LISTEN_FDNAMES "
		   "id=$BATON_WORKER_ID n=$BATON_WORKERS open: $(ls /proc/self/fd | tr '\\n' ' ')end\"; "
		   "exec sleep 100"),
		 NULL);
	assert_true(bt_wait_out_n(&b, " end\n", 2, 10000));
	out = bt_read_file(b.out);
	for (int id = 1; id <= 2; id++) {
		char *line;

		snprintf(expect, sizeof(expect), "id=%d n=2", id);
		line = strstr(out, expect);
		assert_non_null(line);
		while (line > out && line[-1] != '\n')
			line--;
		assert_int_equal(sscanf(line, "fds=2 pid=%d self=", &pid), 1);
		snprintf(expect, sizeof(expect), "fds=2 pid=%d self=%d names=web:admin id=%d", pid,
			 pid, id);
		assert_memory_equal(line, expect, strlen(expect));
		/* fds 3 and 4 are the sockets and nothing else of baton's is open (5 is the
		 * directory ls reads). */
		line = strchr(line, '\n');
		assert_non_null(line);
		assert_memory_equal(line - strlen(" open: 0 1 2 3 4 5 end"), " open: 0 1 2 3 4 5 end",
				    strlen(" open: 0 1 2 3 4 5 end"));
	}
	free(out);
	bt_cleanup(&b);
}

static void test_bind_failure_exits_2(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char addr[64];
	struct bt b;
	char *log;

	(void)state;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	bt_start(&b, 0, W("--listen", addr, "--", "sleep", "100"), NULL);
	assert_true(bt_wait_exit(&b, 5000));
	assert_int_equal(b.status, 2);
	log = bt_read_file(b.log);
	assert_non_null(strstr(log, addr));
	assert_int_equal(strchr(log, '\n') - log + 1, (long)strlen(log));
	free(log);
	bt_cleanup(&b);
	close(fd);

	bt_start(&b, 0, W("--listen", "127.0.0.1:99999", "--", "sleep", "100"), NULL);
	assert_true(bt_wait_exit(&b, 5000));
	assert_int_equal(b.status, 2);
	bt_cleanup(&b);
}

/* --stop-delay: after SIGTERM the workers keep serving for that long. */
static void test_stop_delay_keeps_serving(void **state)
{
	struct bt b;
	char listen[64];
	int port = bt_free_port();

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	bt_start(&b, 0,
		 W("--listen", listen, "--stop-delay", "2s", "--ready", "fd", "--", "node", app),
		 W(version_env));
	set_version("v1");
	assert_true(bt_wait_http(port, 15000));
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_log(&b, "stopping in 2000 ms", 5000));
	assert_int_equal(bt_http_get(port, "/", NULL, 0), 200);
	/* A fixed time on purpose: baton must not exit during --stop-delay, and no condition can
	 * end that wait earlier. */
	assert_false(bt_wait_exit(&b, 1000));
	assert_int_equal(bt_http_get(port, "/", NULL, 0), 200);
	assert_true(bt_wait_exit(&b, 10000));
	assert_int_equal(b.status, 0);
	bt_cleanup(&b);
}

static int setup(void **state)
{
	char cwd[400];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(app, sizeof(app), "%s/tests/apps/http_fd.js", cwd);
	snprintf(version_path, sizeof(version_path), "/tmp/baton-rollout-version.%d", (int)getpid());
	snprintf(version_env, sizeof(version_env), "APP_VERSION_FILE=%s", version_path);
	set_version("v1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(version_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_failure_exits_2),
		cmocka_unit_test(test_listen_environment),
		cmocka_unit_test(test_ready_protocols_from_c_and_shell),
		cmocka_unit_test(test_hup_under_load_one_worker),
		cmocka_unit_test(test_hup_under_load_four_workers),
		cmocka_unit_test(test_hup_under_load_notify),
		cmocka_unit_test(test_hup_under_load_keep_alive),
		cmocka_unit_test(test_broken_deploy_exits),
		cmocka_unit_test(test_failing_pre_rollout_keeps_serving),
		cmocka_unit_test(test_broken_deploy_never_ready),
		cmocka_unit_test(test_stop_delay_keeps_serving),
	};

	return cmocka_run_group_tests_name("integration: rollout", tests, setup, teardown);
}
