/*
 * Core behaviour of baton as a real PID 1: reaping, signal forwarding, exit statuses, the pool,
 * restarts with backoff, the crash-loop guard, the stop sequence, orphans, idle wake-ups.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
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

static bool only_two_left(void *arg)
{
	return bt_ns_procs(arg) == 2;
}

/* Thousands of orphans that exit at once become zombies of PID 1: none may be left. */
static void test_reaps_thousands_of_orphans(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--", bt_helper("worker"), "-z", "1500"), NULL);
	assert_true(bt_wait_out_n(&b, "zombies done", 2, 60000));
	/* Only the two workers remain in the namespace once every zombie is reaped. */
	if (!bt_poll(only_two_left, &b, 20000))
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

/* --signal-map USR1:USR2,WINCH:0: a worker sees SIGUSR2 for each SIGUSR1 sent to baton and
 * never a SIGWINCH. */
static void test_signal_map(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--signal-map", "USR1:USR2,WINCH:0", "--ready", "delay:50ms",
			  "--", bt_helper("worker"), "-s"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	assert_true(bt_wait_log_n(&b, "started (pid", 2, 10000));
	bt_signal(&b, SIGUSR1);
	assert_true(bt_wait_out_n(&b, " got 12\n", 2, 10000));
	bt_signal(&b, SIGWINCH);
	/* A signal sent after the WINCH arrives after it would have: then none came. */
	bt_signal(&b, SIGQUIT);
	assert_true(bt_wait_out_n(&b, " got 3\n", 2, 10000));
	bt_signal(&b, SIGUSR1);
	assert_true(bt_wait_out_n(&b, " got 12\n", 4, 10000));
	{
		char *out = bt_read_file(b.out);

		assert_non_null(out);
		if (strstr(out, " got 28\n") || strstr(out, " got 10\n")) {
			bt_dump(&b);
			fail_msg("a worker saw SIGWINCH or SIGUSR1");
		}
		free(out);
	}
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);
}

/* --reload-signal USR2: SIGUSR2 rolls the pool, and SIGHUP reaches the workers. */
static void test_reload_signal(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--reload-signal", "USR2", "--ready", "delay:50ms", "--",
			  bt_helper("worker"), "-s"), NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	assert_true(bt_wait_log_n(&b, "started (pid", 2, 10000));
	bt_signal(&b, SIGHUP);
	assert_true(bt_wait_out_n(&b, " got 1\n", 2, 10000));
	assert_int_equal(bt_log_count(&b, "rollout"), 0);
	bt_signal(&b, SIGUSR2);
	if (!bt_wait_log(&b, "rollout of generation 2", 10000) ||
	    !bt_wait_out_n(&b, "started", 4, 20000)) {
		bt_dump(&b);
		fail_msg("SIGUSR2 did not roll the pool");
	}
	assert_int_equal(bt_log_count(&b, " got 12\n"), 0);
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 20000);
	bt_cleanup(&b);
}

/* --exit-map 143:0: a worker killed by SIGTERM on its own (not by a stop) is a success: with
 * -w 1 it is not restarted and baton exits 0. Without the map it is a failure, restarted. */
static void test_exit_map(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("-w", "1", "--exit-map", "143:0", "--", "sh", "-c", "kill -TERM $$"),
		 NULL);
	expect_exit(&b, 0, 10000);
	assert_int_equal(bt_log_count(&b, "restarting"), 0);
	bt_cleanup(&b);

	bt_start(&b, 0, W("-w", "1", "--", "sh", "-c", "kill -TERM $$"), NULL);
	assert_true(bt_wait_log(&b, "restarting worker 1", 10000));
	bt_cleanup(&b);
}

/* --pre-start runs exactly once with -w 4, before any worker, in the workers' environment; a
 * failing one ends baton with its status and starts no worker. */
static void test_pre_start(void **state)
{
	struct bt b;
	char *out;

	(void)state;
	bt_start(&b, 0, W("-w", "4", "--pre-start",
			  "sh -c 'sleep 0.3; echo pre-start ran for $BATON_WORKERS workers'", "--",
			  bt_helper("worker")), NULL);
	assert_true(bt_wait_out_n(&b, "started", 4, 15000));
	out = bt_read_file(b.out);
	assert_non_null(out);
	if (bt_log_count(&b, "--pre-start: done") != 1 || !strstr(out, "pre-start ran for 4") ||
	    strstr(out, "pre-start ran for 4") > strstr(out, "started") ||
	    strstr(strstr(out, "pre-start ran") + 1, "pre-start ran")) {
		bt_dump(&b);
		fail_msg("the pre-start command did not run once, before the workers");
	}
	free(out);
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);

	/* Failing: its status, and nothing started. */
	bt_start(&b, 0, W("-w", "4", "--pre-start", "sh -c 'exit 3'", "--", bt_helper("worker")),
		 NULL);
	expect_exit(&b, 3, 10000);
	assert_int_equal(bt_log_count(&b, "started"), 0);
	assert_int_equal(bt_log_count(&b, "starting nothing"), 1);
	bt_cleanup(&b);

	/* A stop during it: passed on, and nothing is started even when the command then exits 0. */
	for (int i = 0; i < 2; i++) {
		/* the command traps SIGTERM and exits 0, or dies of it: a stop either way */
		bt_start(&b, 0, W("--pre-start", i ? "echo pre-start waits; sleep 30"
					       : "trap 'exit 0' TERM; echo pre-start waits; sleep 30 & wait",
				  "--", bt_helper("worker")), NULL);
		assert_true(bt_wait_out_n(&b, "pre-start waits", 1, 10000));
		bt_signal(&b, SIGTERM);
		expect_exit(&b, 0, 10000);
		assert_int_equal(bt_log_count(&b, "--pre-start: stopped; starting nothing"), 1);
		assert_int_equal(bt_log_count(&b, "started"), 0);
		bt_cleanup(&b);
	}

	/* Run without a shell when it needs none: a command that does not exist is 127. */
	bt_start(&b, 0, W("--pre-start", "/nonexistent/migrate --up", "--", bt_helper("worker")),
		 NULL);
	expect_exit(&b, 127, 10000);
	assert_int_equal(bt_log_count(&b, "cannot run '/nonexistent/migrate'"), 1);
	assert_int_equal(bt_log_count(&b, "started"), 0);
	bt_cleanup(&b);
}

/* --pre-rollout runs before each rollout, and the rollout follows when it succeeds. */
static void test_pre_rollout(void **state)
{
	struct bt b;
	char *log;

	(void)state;
	bt_start(&b, 0, W("-w", "2", "--ready", "delay:50ms", "--pre-rollout", "echo pre-rollout ran",
			  "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_log_n(&b, "started (pid", 2, 10000));
	for (int i = 1; i <= 2; i++) {
		bt_signal(&b, SIGHUP);
		if (!bt_wait_log_n(&b, "complete: 2 workers replaced", i, 20000)) {
			bt_dump(&b);
			fail_msg("rollout %d did not complete", i);
		}
	}
	assert_true(bt_wait_out_n(&b, "pre-rollout ran", 2, 10000));
	log = bt_read_file(b.log);
	assert_non_null(log);
	assert_true(strstr(log, "--pre-rollout: running") < strstr(log, "rollout of generation 2"));
	free(log);
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
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
	/* Started without bt_start: the private control path is given here. */
	rc = bt_sh(out, sizeof(out),
		   "timeout 10 taskset -c 0 %s --control %s -w auto --restart never -- true 2>&1",
		   bt_baton(), bt_spare_control());
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "workers: auto = 1 "));
	assert_int_equal(bt_sh(out, sizeof(out),
			       "timeout 10 taskset -c 0 %s --control %s -w auto --restart never -- "
			       "sh -c 'echo id=$BATON_WORKER_ID' 2>/dev/null",
			       bt_baton(), bt_spare_control()),
			 0);
	assert_string_equal(out, "id=1\n");
}

/* A worker that was ready and is killed is restarted at once; one that keeps failing before
 * it is ready backs off: 100 ms, 200 ms, 400 ms... */
static void test_restart_and_backoff(void **state)
{
	struct bt b;
	pid_t first, second;

	(void)state;
	bt_start(&b, 0, W("-v", "--ready", "delay:100ms", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_children(&b, 1, &first, 10000));
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	/* Killed once ready (delay:100ms), so that it counts as a worker that served. */
	assert_true(bt_wait_log(&b, ") ready after", 10000));
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

	/* --max-restarts unlimited never gives up: a worker that is ready, then crashes, is
	 * restarted at once, far more often than the default guard of 10 per minute allows. */
	bt_start(&b, 0, W("--max-restarts", "unlimited", "--ready", "delay:10ms", "--", "sh", "-c",
			  "sleep 0.05; exit 7"), NULL);
	if (!bt_wait_log_n(&b, "restarting worker 1", 15, 30000)) {
		bt_dump(&b);
		fail_msg("fewer than 15 restarts");
	}
	assert_false(bt_wait_exit(&b, 0));
	assert_int_equal(bt_log_count(&b, "crash loop"), 0);
	bt_signal(&b, SIGTERM);
	assert_true(bt_wait_exit(&b, 10000));
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

/* With no flags, a worker and a daemon of its own session that both ignore SIGTERM: baton
 * has exited within docker stop's 10 s (--stop-timeout's default), so docker never has to
 * SIGKILL it; with --stop-timeout 4s, within 4 s. Returns how long the stop took. */
static int64_t stop_with_stubborn_daemon(const char *const *args)
{
	struct bt b;
	char cmd[512];
	const char *full[8];
	int64_t t0, took;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "setsid %s -i 15 & exec %s -i 15", bt_helper("worker"),
		 bt_helper("worker"));
	for (; args && args[n]; n++)
		full[n] = args[n];
	full[n++] = "--";
	full[n++] = "sh";
	full[n++] = "-c";
	full[n++] = cmd;
	full[n] = NULL;
	bt_start(&b, 0, full, NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	assert_true(bt_wait_log(&b, "worker 1 started", 10000));
	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 137, 60000);
	took = bt_now_ms() - t0;
	print_message("stop took %lld ms (%s)\n", (long long)took, args ? args[1] : "no flags");
	assert_int_equal(bt_log_count(&b, "will be cut to fit"), 0);
	/* One warning for each process SIGKILLed, naming its pid and command. */
	if (bt_log_count(&b, "sending SIGKILL") != 2 ||
	    bt_log_count(&b, "still running at the end of the stop; sending SIGKILL") != 1 ||
	    bt_log_count(&b, "worker -i 15) still running at the end") != 1 ||
	    bt_log_count(&b, "; sending SIGKILL (") != 1) {
		bt_dump(&b);
		fail_msg("expected one SIGKILL warning for the worker and one for the daemon");
	}
	bt_cleanup(&b);
	return took;
}

static void test_stop_fits_stop_timeout(void **state)
{
	(void)state;
	assert_true(stop_with_stubborn_daemon(NULL) < 10000);
	assert_true(stop_with_stubborn_daemon(W("--stop-timeout", "4s")) < 4000);
}

/* Values given that cannot fit are announced at start-up; the defaults are cut silently. */
static void test_stop_timeout_warns_when_values_cannot_fit(void **state)
{
	struct bt b;

	(void)state;
	bt_start(&b, 0, W("--drain-timeout", "20s", "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_log(&b, "will be cut to fit", 10000));
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	bt_cleanup(&b);

	bt_start(&b, 0, W("--stop-timeout", "40s", "--drain-timeout", "20s", "--term-timeout", "5s",
			  "--", bt_helper("worker")), NULL);
	assert_true(bt_wait_out_n(&b, "started", 1, 10000));
	bt_signal(&b, SIGINT);
	expect_exit(&b, 0, 10000);
	assert_int_equal(bt_log_count(&b, "will be cut to fit"), 0);
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
	/* Dying of the SIGTERM baton sent is a normal stop, not "killed by SIGTERM". */
	assert_int_equal(bt_log_count(&b, "stopped by the SIGTERM baton sent"), 3);
	assert_int_equal(bt_log_count(&b, "killed by"), 0);
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
	assert_true(bt_wait_out_n(&b, "orphan got 15", 3, 10000));
	bt_cleanup(&b);

	/* Orphans that ignore SIGTERM: baton waits --term-timeout for them, then SIGKILLs them,
	 * with a warning for each, and its exit status says so (as PID 1 its own exit would kill
	 * them too, so the wait, the lines and the status are what tell the escalation happened). */
	bt_start(&b, 0, W("-v", "--term-timeout", "500ms", "--", bt_helper("worker"), "-o", "2", "-O"),
		 NULL);
	assert_true(bt_wait_out_n(&b, "orphan ", 2, 10000));
	{
		int64_t t0 = bt_now_ms();

		bt_signal(&b, SIGTERM);
		expect_exit(&b, 137, 10000);
		assert_true(bt_now_ms() - t0 >= 400);
	}
	assert_int_equal(bt_log_count(&b, "sent SIGTERM to the remaining processes"), 1);
	assert_int_equal(bt_log_count(&b, "sent SIGKILL to the remaining processes"), 1);
	assert_int_equal(bt_log_count(&b, "warn: pid "), 2);
	assert_int_equal(bt_log_count(&b, "still running at the end of the stop; sending SIGKILL"), 2);
	bt_cleanup(&b);
}

/* Not PID 1: baton makes itself a subreaper, so orphans come back to it and are reaped. */
struct reparent_arg {
	pid_t pid, parent;
};

static bool reparented(void *arg)
{
	struct reparent_arg *a = arg;
	char path[64], *text, *p;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)a->pid);
	text = bt_read_file(path);
	if (!text)
		return false;
	p = strrchr(text, ')');
	if (p)
		sscanf(p + 1, " %*c %d", &ppid);
	free(text);
	return ppid == a->parent;
}

static void test_subreaper_when_not_pid1(void **state)
{
	struct bt b;
	char *out;
	int orphan = 0;

	(void)state;
	bt_start(&b, BT_PLAIN, W("--", bt_helper("worker"), "-o", "1"), NULL);
	assert_true(bt_wait_out_n(&b, "orphan ", 1, 10000));
	out = bt_read_file(b.out);
	assert_non_null(strstr(out, "orphan "));
	sscanf(strstr(out, "orphan "), "orphan %d", &orphan);
	free(out);
	assert_true(orphan > 0);
	{
		/* The orphan is printed before its parent, the worker, exits: it comes back to
		 * baton a moment later. */
		struct reparent_arg a = { orphan, b.baton };

		if (!bt_poll(reparented, &a, 10000)) {
			bt_dump(&b);
			fail_msg("orphan %d never became baton's child", orphan);
		}
	}
	bt_signal(&b, SIGTERM);
	expect_exit(&b, 0, 10000);
	assert_true(bt_wait_out_n(&b, "orphan got 15", 1, 10000));
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
			       "sh -c \"trap '' INT QUIT; exec timeout 10 %s --control %s --restart never -- %s -f -e 0:0\" 2>/dev/null",
			       bt_baton(), bt_spare_control(), bt_helper("worker"));

		if (rc != 0 || !strstr(out2, "SigIgn:\t0000000000000000"))
			fprintf(stderr, "output: %s\n", out2);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out2, "SigIgn:\t0000000000000000"));
	}
}

static bool asleep_in_epoll(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	char path[64], *wchan;
	bool asleep;

	if (bt_proc_state(pid) != 'S')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	wchan = bt_read_file(path);
	/* A kernel that hides wchan shows "0": the state alone must do then. */
	asleep = !wchan || strcmp(wchan, "0") == 0 || strstr(wchan, "epoll") || strstr(wchan, "ep_poll");
	free(wchan);
	return asleep;
}

/* Idle means asleep: no wake-ups while workers run and nothing happens. */
static void test_zero_idle_wakeups(void **state)
{
	struct bt b;
	char before[32], after[32];

	(void)state;
	/* The harness gives baton a control socket of its own: nobody else polls it. */
	bt_start(&b, 0, W("-v", "-w", "2", "--ready", "delay:100ms", "--", bt_helper("worker")),
		 NULL);
	assert_true(bt_wait_out_n(&b, "started", 2, 10000));
	/* Both past the readiness delay: nothing is scheduled any more. Then baton goes back to
	 * its epoll wait, which is itself a voluntary switch: count from there. */
	assert_true(bt_wait_log_n(&b, ") ready after", 2, 10000));
	assert_true(bt_poll(asleep_in_epoll, &b.baton, 10000));
	assert_true(bt_proc_status(b.baton, "voluntary_ctxt_switches", before, sizeof(before)));
	/* A fixed time on purpose: what is tested is that nothing at all happens during it, and
	 * no condition can end that wait earlier. */
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
		{ W("-w", "4097", "true"), "'4097' for --workers" },
		{ W("--drain-timeout", "5x", "true"), "'5x' for --drain-timeout" },
		{ W("--drain-signal", "NOPE", "true"), "'NOPE' for --drain-signal" },
		{ W("--restart", "sometimes", "true"), "'sometimes' for --restart" },
		{ W("--ready", "maybe", "true"), "'maybe' for --ready" },
		{ W("--log-format", "xml", "true"), "'xml' for --log-format" },
		{ W("--node-drain", "soft", "true"), "'soft' for --node-drain" },
		{ W("--tcp-nodelay", "maybe", "true"), "'maybe' for --tcp-nodelay" },
		{ W("--stop-timeout", "0", "true"), "'0' for --stop-timeout" },
		{ W("--max-restarts", "forever", "true"), "'forever' for --max-restarts" },
		{ W("--signal-map", "TERM:QUIT", "true"), "'TERM:QUIT' for --signal-map" },
		{ W("--signal-map", "HUP:USR1", "true"), "--reload-signal" },
		{ W("--reload-signal", "KILL", "true"), "'KILL' for --reload-signal" },
		{ W("--exit-map", "300:0", "true"), "'300:0' for --exit-map" },
		{ W("--pre-start", "", "true"), "'' for --pre-start" },
		{ W("--pre-rollout", " ", "true"), "' ' for --pre-rollout" },
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

struct term {
	int master;
	pid_t pid;
	int status;
	char buf[4096];
	size_t got;
};

/* Read what the terminal shows so far (and keep it drained). */
static void term_read(struct term *t)
{
	ssize_t n;

	while (t->got < sizeof(t->buf) - 1 &&
	       (n = read(t->master, t->buf + t->got, sizeof(t->buf) - 1 - t->got)) > 0)
		t->got += (size_t)n;
	t->buf[t->got] = '\0';
	if (t->got == sizeof(t->buf) - 1) { /* full: keep only the end */
		memmove(t->buf, t->buf + t->got / 2, t->got - t->got / 2 + 1);
		t->got -= t->got / 2;
	}
}

static bool term_started(void *arg)
{
	struct term *t = arg;

	term_read(t);
	return strstr(t->buf, "started 1") != NULL;
}

/* The terminal's foreground process group is the worker's (led by the worker itself). */
static bool term_worker_in_foreground(void *arg)
{
	struct term *t = arg;
	char path[64], exe[PATH_MAX], want[PATH_MAX];
	pid_t pg = tcgetpgrp(t->master);
	ssize_t n;

	term_read(t);
	if (pg <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pg);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0 || !realpath(bt_helper("worker"), want))
		return false;
	exe[n] = '\0';
	return strcmp(exe, want) == 0;
}

static bool term_exited(void *arg)
{
	struct term *t = arg;

	term_read(t);
	return waitpid(t->pid, &t->status, WNOHANG) == t->pid;
}

/* With a terminal and one worker, the worker gets the terminal's foreground: Ctrl-C reaches
 * it (not baton), and a worker that dies of it means "stop": baton exits 130. */
static void test_ctrl_c_on_a_terminal(void **state)
{
	static struct term t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.status = -1;
	t.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(t.master >= 0);
	assert_int_equal(grantpt(t.master), 0);
	assert_int_equal(unlockpt(t.master), 0);
	t.pid = fork();
	assert_true(t.pid >= 0);
	if (t.pid == 0) {
		int slave;

		setsid();
		slave = open(ptsname(t.master), O_RDWR); /* becomes the controlling terminal */
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close_range(3, ~0U, 0);
		/* Started without bt_start: the private control path is given here. */
		execlp("unshare", "unshare", "--pid", "--fork", "--mount-proc", bt_baton(),
		       "--control", bt_spare_control(), "--", bt_helper("worker"), (char *)NULL);
		_exit(127);
	}
	/* Wait until the worker runs and holds the terminal's foreground, then type Ctrl-C. */
	fcntl(t.master, F_SETFL, O_NONBLOCK);
	if (!bt_poll(term_started, &t, 10000) || !bt_poll(term_worker_in_foreground, &t, 10000)) {
		kill(t.pid, SIGKILL);
		waitpid(t.pid, NULL, 0);
		fail_msg("the worker never ran in the foreground; the terminal shows: %s", t.buf);
	}
	assert_int_equal(write(t.master, "\003", 1), 1);
	if (!bt_poll(term_exited, &t, 10000) || !WIFEXITED(t.status)) {
		kill(t.pid, SIGKILL);
		waitpid(t.pid, NULL, 0);
		fail_msg("baton did not exit after Ctrl-C; the terminal shows: %s", t.buf);
	}
	assert_int_equal(WEXITSTATUS(t.status), 130);
	close(t.master);
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
		cmocka_unit_test(test_signal_map),
		cmocka_unit_test(test_reload_signal),
		cmocka_unit_test(test_exit_map),
		cmocka_unit_test(test_pre_start),
		cmocka_unit_test(test_pre_rollout),
		cmocka_unit_test(test_restart_and_backoff),
		cmocka_unit_test(test_crash_loop_guard),
		cmocka_unit_test(test_stop_sequence_escalates),
		cmocka_unit_test(test_stop_is_fast_when_workers_exit),
		cmocka_unit_test(test_stop_fits_stop_timeout),
		cmocka_unit_test(test_stop_timeout_warns_when_values_cannot_fit),
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
