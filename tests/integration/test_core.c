/*
 * Core behaviour of baton as a real PID 1: reaping, signal forwarding, exit statuses, the pool,
 * restarts with backoff, the crash-loop guard, the stop sequence, orphans, idle wake-ups.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

static void expect_exit(struct bt *b, int status, int timeout_ms)
{
	if (!bt_wait_exit(b, timeout_ms)) {
		bt_dump(b);
		fail_msg("baton did not exit within %d ms", timeout_ms);
	}
	if (b->status != status)
		bt_dump(b);
	assert_int_equal(b->status, status);
}

/* Thousands of orphans that exit at once become zombies of PID 1: none may be left. */
static void test_reaps_thousands_of_orphans(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--", bt_helper("worker"), "-z", "1500"), NULL);
	assert_true(bt_wait_out_n(&b, "zombies done", 2, 60000));
	/* Only the two workers remain in the namespace once every zombie is reaped. */
	for (int i = 0; i < 500 && bt_ns_procs(&b) != 2; i++)
		usleep(10000);
	assert_int_equal(bt_ns_procs(&b), 2);
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);
}

/* Every other catchable signal reaches every worker. */
static void test_forwards_signals_to_every_worker(void **state)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGQUIT, SIGALRM, 0 };
	struct bt b;
	char needle[64];

	(void)state;
	bt_start(&b, 0, W("-w", "3", "--ready", "delay:50ms", "--", bt_helper("worker"), "-s"),
		 NULL);
	assert_true(bt_wait_out_n(&b, "started", 3, 10000));
	assert_true(bt_wait_log_n(&b, "started (pid", 3, 10000));
	for (int i = 0; sigs[i] || i == 6; i++) {
		int sig = sigs[i] ? sigs[i] : SIGRTMIN + 2;

		bt_signal(&b, sig);
		snprintf(needle, sizeof(needle), " got %d\n", sig);
		if (!bt_wait_out_n(&b, needle, 3, 10000)) {
			bt_dump(&b);
			fail_msg("signal %d did not reach 3 workers", sig);
		}
		if (!sigs[i])
			break;
	}
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);
}

/* A signal to baton goes to the worker's process group: a `sh -c` wrapper's child gets it. */
static void test_signals_reach_the_process_group(void **state)
{
	struct bt b;
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s -s & wait", bt_helper("worker"));
	bt_start(&b, 0, W("--", "sh", "-c", cmd), NULL);
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	bt_signal(&b, SIGUSR1);
	assert_true(bt_wait_out_n(&b, " got 10\n", 1, 10000));
	bt_cleanup(&b);
}

struct exit_case {
	const char *const *args;
	int status;
};

static void test_exit_statuses(void **state)
{
	const struct exit_case cases[] = {
		{ W("--restart", "never", "--", "sh", "-c", "exit 0"), 0 },
		{ W("--restart", "never", "--", "sh", "-c", "exit 3"), 3 },
		{ W("--", "sh", "-c", "exit 0"), 0 },
		{ W("--restart", "never", "--", "sh", "-c", "kill -USR1 $$"), 128 + SIGUSR1 },
		{ W("--", "/nonexistent/command"), 127 },
		{ W("--", "no-such-command-anywhere"), 127 },
		{ W("--", "/etc/passwd"), 126 },
		{ W("-w", "3", "--", "/etc/passwd"), 126 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bt b;

		bt_start(&b, 0, cases[i].args, NULL);
		expect_exit(&b, cases[i].status, 10000);
		bt_cleanup(&b);
	}
}

static void test_exec_failure_says_why_once(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("--", "/nonexistent/command"), NULL);
	expect_exit(&b, 127, 10000);
	assert_int_equal(bt_log_count(&b, "cannot run '/nonexistent/command'"), 1);
	assert_int_equal(bt_log_count(&b, "restarting"), 0);
	bt_cleanup(&b);
}

static void test_starts_n_workers_with_ids(void **state)
{
	struct bt b;
	pid_t pids[8];

	(void)state;
	bt_start(&b, 0, W("-w", "4", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_children(&b, 4, pids, 10000));
	assert_true(bt_wait_out_n(&b, "started", 4, 10000));
	for (int id = 1; id <= 4; id++) {
		char needle[32];

		snprintf(needle, sizeof(needle), "started %d ", id);
		assert_true(bt_wait_out_n(&b, needle, 1, 5000));
	}
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);
}

/* auto follows the CPU affinity mask, not the machine's CPU count. */
static void test_workers_auto_uses_cpus(void **state)
{
	char out[4096];
	int rc;

	(void)state;
	rc = bt_sh(out, sizeof(out), "timeout 10 taskset -c 0 %s -w auto --restart never -- true 2>&1",
		   bt_baton());
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "workers: auto = 1 "));
	assert_int_equal(bt_sh(out, sizeof(out), "timeout 10 taskset -c 0 %s -w auto --restart never -- "
				   "sh -c 'echo id=$BATON_WORKER_ID' 2>/dev/null", bt_baton()), 0);
	assert_string_equal(out, "id=1\n");
}

/* A worker that was ready and is killed is restarted at once; one that keeps failing before
 * it is ready backs off: 100 ms, 200 ms, 400 ms... */
static void test_restart_and_backoff(void **state)
{
	struct bt b;
	pid_t first, second;

	(void)state;
	bt_start(&b, 0, W("--ready", "delay:100ms", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_children(&b, 1, &first, 10000));
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	usleep(300 * 1000); /* let it become ready (delay:100ms) */
	kill(first, SIGKILL);
	assert_true(bt_wait_log(&b, "restarting worker 1 in 0 ms", 10000));
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	assert_true(bt_wait_children(&b, 1, &second, 10000));
	assert_int_not_equal(first, second);
	bt_cleanup(&b);

	bt_start(&b, 0, W("--", "sh", "-c", "exit 1"), NULL);
	assert_true(bt_wait_log(&b, "restarting worker 1 in 400 ms", 10000));
	assert_int_equal(bt_log_count(&b, "restarting worker 1 in 100 ms"), 1);
	assert_int_equal(bt_log_count(&b, "restarting worker 1 in 200 ms"), 1);
	bt_cleanup(&b);
}

static void test_crash_loop_guard(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("--max-restarts", "3", "--restart-window", "60s", "--", "sh", "-c", "exit 7"),
		 NULL);
	expect_exit(&b, 7, 20000);
	assert_true(bt_log_count(&b, "crash loop") == 1);
	assert_int_equal(bt_log_count(&b, "restarting worker 1"), 3);
	bt_cleanup(&b);
}

/* A worker that ignores the drain signal and SIGTERM is SIGKILLed after both timeouts, and
 * baton exits 137 so that a too-short drain shows. */
static void test_stop_sequence_escalates(void **state)
{
	struct bt b;
	int64_t t0;

	(void)state;
	bt_start(&b, 0,
		 W("-w", "2", "--drain-signal", "USR1", "--drain-timeout", "500ms", "--term-timeout",
		   "700ms", "--", bt_helper("worker"), "-i", "10", "-i", "15"),
		 NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 137, 15000);
	assert_true(bt_now_ms() - t0 >= 1200);
	assert_int_equal(bt_log_count(&b, "sending SIGTERM"), 2);
	assert_int_equal(bt_log_count(&b, "sending SIGKILL"), 2);
	bt_cleanup(&b);
}

/* A worker that exits early ends the wait at once: no fixed grace sleep. */
static void test_stop_is_fast_when_workers_exit(void **state)
{
	struct bt b;
	int64_t t0;

	(void)state;
	bt_start(&b, 0, W("-w", "3", "--drain-timeout", "30s", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_out_n(&b, "started", 3, 10000));
	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	assert_true(bt_now_ms() - t0 < 5000);
	bt_cleanup(&b);
}

/* A second SIGTERM during the stop skips to the next step. */
static void test_second_term_skips_a_step(void **state)
{
	struct bt b;
	int64_t t0;

	(void)state;
	bt_start(&b, 0,
		 W("--drain-timeout", "60s", "--", bt_helper("worker"), "-i", "15"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_log(&b, "stopping 1 worker", 5000));
	bt_signal(&b, SIGINT);
	expect_exit(&b, 137, 10000);
	assert_true(bt_now_ms() - t0 < 8000);
	bt_cleanup(&b);
}

/* Exit status after a stop: a worker that handles TERM with its own code is "another status". */
static void test_stop_status(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--", bt_helper("worker"), "-t", "0"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);

	bt_start(&b, 0, W("--", bt_helper("worker"), "-t", "4"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	bt_signal(&b, SIGINT);
	expect_exit(&b, 4, 10000);
	bt_cleanup(&b);
}

/* After the workers, the orphans get SIGTERM, then SIGKILL after --term-timeout. */
static void test_orphans_terminated_on_stop(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("--term-timeout", "1s", "--", bt_helper("worker"), "-o", "3"), NULL);
	assert_true(bt_wait_out_n(&b, "orphan ", 3, 10000));
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	assert_true(bt_wait_out_n(&b, "orphan got 15", 3, 2000));
	bt_cleanup(&b);

	/* Orphans that ignore SIGTERM: baton waits --term-timeout for them, then SIGKILLs them
	 * (as PID 1 its own exit would kill them too, so the wait and the log line are what
	 * tell the escalation happened). */
	bt_start(&b, 0, W("-v", "--term-timeout", "500ms", "--", bt_helper("worker"), "-o", "2", "-O"),
		 NULL);
	assert_true(bt_wait_out_n(&b, "orphan ", 2, 10000));
	{
		int64_t t0 = bt_now_ms();

		bt_signal(&b, SIGTERM);
		expect_exit(&b, 0, 10000);
		assert_true(bt_now_ms() - t0 >= 400);
	}
	assert_int_equal(bt_log_count(&b, "sent SIGTERM to the remaining processes"), 1);
	assert_int_equal(bt_log_count(&b, "sent SIGKILL to the remaining processes"), 1);
	bt_cleanup(&b);
}

/* Not PID 1: baton makes itself a subreaper, so orphans come back to it and are reaped. */
static void test_subreaper_when_not_pid1(void **state)
{
	struct bt b;
	char *out;
	int orphan = 0;
	char path[64], stat[256];

	(void)state;
	bt_start(&b, BT_PLAIN, W("--", bt_helper("worker"), "-o", "1"), NULL);
	assert_true(bt_wait_out_n(&b, "orphan ", 1, 10000));
	out = bt_read_file(b.out);
	assert_non_null(strstr(out, "orphan "));
	sscanf(strstr(out, "orphan "), "orphan %d", &orphan);
	free(out);
	assert_true(orphan > 0);
	snprintf(path, sizeof(path), "/proc/%d/stat", orphan);
	{
		char *text = bt_read_file(path);
		int ppid = 0;

		assert_non_null(text);
		snprintf(stat, sizeof(stat), "%s", strrchr(text, ')') + 1);
		free(text);
		sscanf(stat, " %*c %d", &ppid);
		assert_int_equal(ppid, b.baton);
	}
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	assert_true(bt_wait_out_n(&b, "orphan got 15", 1, 2000));
	bt_cleanup(&b);
}

/* The child starts with default dispositions, an empty mask and no fd of baton's. */
static void test_child_is_clean(void **state)
{
	struct bt b;
	char *out;

	(void)state;
	bt_start(&b, 0, W("--", bt_helper("worker"), "-f"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	out = bt_read_file(b.out);
	assert_non_null(strstr(out, "fds: 0 1 2\n"));
	assert_non_null(strstr(out, "SigIgn:\t0000000000000000"));
	assert_non_null(strstr(out, "SigBlk:\t0000000000000000"));
	free(out);
	bt_cleanup(&b);

	/* Through a shell that ignores INT and QUIT before exec'ing baton, as `cmd &` does. */
	{
		char out2[4096];
		int rc = bt_sh(out2, sizeof(out2),
			       "sh -c \"trap '' INT QUIT; exec timeout 10 %s --restart never -- %s -f -e 0:0\" 2>/dev/null",
			       bt_baton(), bt_helper("worker"));

		if (rc != 0 || !strstr(out2, "SigIgn:\t0000000000000000"))
			fprintf(stderr, "output: %s\n", out2);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out2, "SigIgn:\t0000000000000000"));
	}
}

/* Idle means asleep: no wake-ups while workers run and nothing happens. */
static void test_zero_idle_wakeups(void **state)
{
	struct bt b;
	char before[32], after[32];

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--ready", "delay:100ms", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	usleep(500 * 1000); /* past the readiness delay: nothing is scheduled any more */
	assert_true(bt_proc_status(b.baton, "voluntary_ctxt_switches", before, sizeof(before)));
	sleep(3);
	assert_true(bt_proc_status(b.baton, "voluntary_ctxt_switches", after, sizeof(after)));
	assert_int_equal(atol(before), atol(after));
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);
}

static void test_bad_input_exits_2(void **state)
{
	/* Each bad input, and a word its one line must name. */
	const struct {
		const char *const *args;
		const char *names;
	} cases[] = {
		{ W("--bogus", "true"), "'--bogus'" },
		{ W("-w", "0", "true"), "'0' for --workers" },
		{ W("-w", "abc", "true"), "'abc' for --workers" },
		{ W("-w", "257", "true"), "'257' for --workers" },
		{ W("--drain-timeout", "5x", "true"), "'5x' for --drain-timeout" },
		{ W("--drain-signal", "NOPE", "true"), "'NOPE' for --drain-signal" },
		{ W("--restart", "sometimes", "true"), "'sometimes' for --restart" },
		{ W("--ready", "maybe", "true"), "'maybe' for --ready" },
		{ W("--log-format", "xml", "true"), "'xml' for --log-format" },
		{ W("--node-drain", "soft", "true"), "'soft' for --node-drain" },
		{ W("--tcp-nodelay", "maybe", "true"), "'maybe' for --tcp-nodelay" },
		{ W("--ready", "message", "true"), "--node-cluster" },
		{ W("--control", "/nonexistent/dir/baton.sock", "true"), "/nonexistent/dir/baton.sock" },
		{ W("--listen", "127.0.0.1:99999", "true"), "99999" },
		{ W("--user", "no-such-user", "true"), "no-such-user" },
		{ W("-w"), "'-w' needs a value" },
		{ W("-w", "2"), "no COMMAND" },
		{ W("--"), "no COMMAND" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bt b;
		char *log;

		bt_start(&b, BT_PLAIN, cases[i].args, NULL);
		expect_exit(&b, 2, 5000);
		log = bt_read_file(b.log);
		assert_non_null(log);
		/* One clear line, naming the culprit. */
		assert_non_null(strstr(log, "baton: "));
		assert_int_equal(strchr(log, '\n') - log + 1, (long)strlen(log));
		if (!strstr(log, cases[i].names))
			fail_msg("case %zu: '%s' does not name '%s'", i, log, cases[i].names);
		free(log);
		bt_cleanup(&b);
	}
	{
		struct bt b;

		bt_start(&b, BT_PLAIN, W("true"), W("BATON_WORKERS=zero"));
		expect_exit(&b, 2, 5000);
		assert_int_equal(bt_log_count(&b, "BATON_WORKERS"), 1);
		bt_cleanup(&b);
		/* A flag wins over its variable, even a bad one. */
		bt_start(&b, BT_PLAIN, W("-w", "1", "--restart", "never", "true"),
			 W("BATON_WORKERS=zero"));
		expect_exit(&b, 0, 5000);
		bt_cleanup(&b);
	}
}

/* With a terminal and one worker, the worker gets the terminal's foreground: Ctrl-C reaches
 * it (not baton), and a worker that dies of it means "stop": baton exits 130. */
static void test_ctrl_c_on_a_terminal(void **state)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	pid_t pid;
	int status = -1;
	char buf[4096];
	size_t got = 0;
	int64_t end;

	(void)state;
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int slave;

		setsid();
		slave = open(ptsname(master), O_RDWR); /* becomes the controlling terminal */
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close_range(3, ~0U, 0);
		execlp("unshare", "unshare", "--pid", "--fork", "--mount-proc", bt_baton(), "--",
		       bt_helper("worker"), (char *)NULL);
		_exit(127);
	}
	/* Wait until the worker runs, then type Ctrl-C. */
	end = bt_now_ms() + 10000;
	fcntl(master, F_SETFL, O_NONBLOCK);
	while (bt_now_ms() < end && !strstr(buf, "started 1")) {
		ssize_t n = read(master, buf + got, sizeof(buf) - 1 - got);

		if (n > 0)
			got += (size_t)n;
		buf[got] = '\0';
		usleep(10000);
	}
	assert_non_null(strstr(buf, "started 1"));
	usleep(100 * 1000);
	assert_int_equal(write(master, "\003", 1), 1);
	end = bt_now_ms() + 10000;
	while (bt_now_ms() < end && waitpid(pid, &status, WNOHANG) != pid) {
		ssize_t n = read(master, buf, sizeof(buf) - 1); /* keep the terminal drained */

		(void)n;
		usleep(10000);
	}
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("baton did not exit after Ctrl-C");
	}
	assert_int_equal(WEXITSTATUS(status), 130);
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input_exits_2),
		cmocka_unit_test(test_exit_statuses),
		cmocka_unit_test(test_exec_failure_says_why_once),
		cmocka_unit_test(test_starts_n_workers_with_ids),
		cmocka_unit_test(test_workers_auto_uses_cpus),
		cmocka_unit_test(test_forwards_signals_to_every_worker),
		cmocka_unit_test(test_signals_reach_the_process_group),
		cmocka_unit_test(test_restart_and_backoff),
		cmocka_unit_test(test_crash_loop_guard),
		cmocka_unit_test(test_stop_sequence_escalates),
		cmocka_unit_test(test_stop_is_fast_when_workers_exit),
		cmocka_unit_test(test_second_term_skips_a_step),
		cmocka_unit_test(test_stop_status),
		cmocka_unit_test(test_orphans_terminated_on_stop),
		cmocka_unit_test(test_subreaper_when_not_pid1),
		cmocka_unit_test(test_child_is_clean),
		cmocka_unit_test(test_zero_idle_wakeups),
		cmocka_unit_test(test_ctrl_c_on_a_terminal),
		cmocka_unit_test(test_reaps_thousands_of_orphans),
	};

	return cmocka_run_group_tests_name("integration: core", tests, NULL, NULL);
}
