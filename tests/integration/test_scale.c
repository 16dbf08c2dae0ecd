/*
 * A wide pool as a real PID 1: `-w 1024` over a tiny worker starts every worker in under 10 s,
 * baton's resident memory at that width is stated, and SIGTERM stops it all in under 5 s.
 *
 * BT_SCALE_WORKERS=N runs the same test at another width. A baton whose -w limit is below the
 * width refuses it with exit status 2: the test then says so and is skipped.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

/* The bounds, for the build users run. A sanitizer build (BT_SANITIZE, set by the
 * Makefile) forks a process with terabytes of shadow mappings for every worker: three times
 * the bounds, said in the output. */
enum { START_LIMIT_MS = 10000, STOP_LIMIT_MS = 5000 };

static int slowdown(void)
{
	const char *s = getenv("BT_SANITIZE");

	return s && *s ? 3 : 1;
}

struct started_arg {
	struct bt *b;
	int n;
};

/* Every worker started, or baton is gone (refused the width, or failed). */
static bool all_started_or_exited(void *arg)
{
	struct started_arg *a = arg;

	return bt_wait_exit(a->b, 0) || bt_log_count(a->b, " started (pid ") >= a->n;
}

static void test_wide_pool_starts_and_stops(void **state)
{
	static struct bt b; /* static: still tracked by the harness after a failed test */
	const char *env = getenv("BT_SCALE_WORKERS");
	int n = env && atoi(env) > 0 ? atoi(env) : 1024;
	char width[16], rss[64] = "?", hwm[64] = "?";
	struct started_arg a = { &b, n };
	int64_t t0, started_ms, stopped_ms;
	int children;

	(void)state;
	snprintf(width, sizeof(width), "%d", n);
	t0 = bt_now_ms();
	bt_start(&b, 0, W("-w", width, "--", "sleep", "100000"), NULL);
	/* Wait past the limit so that a slow start is measured, not only failed. */
	bt_poll(all_started_or_exited, &a, 3 * slowdown() * START_LIMIT_MS);
	started_ms = bt_now_ms() - t0;
	if (b.exited) {
		char *log = bt_read_file(b.log);

		if (b.status == 2 && log && strstr(log, "--workers")) {
			fprintf(stderr, "skipped: this baton refuses -w %d (exit status 2): %s", n, log);
			free(log);
			bt_cleanup(&b);
			skip();
		}
		free(log);
		bt_dump(&b);
		fail_msg("baton exited with status %d before all %d workers started", b.status, n);
	}
	if (bt_log_count(&b, " started (pid ") < n) {
		bt_dump(&b);
		fail_msg("%d of %d workers started in %lld ms", bt_log_count(&b, " started (pid "), n,
			 (long long)started_ms);
	}
	/* What the log says is what runs: n children of baton. */
	children = bt_children(&b, NULL, 0);
	assert_int_equal(children, n);
	assert_true(bt_proc_status(b.baton, "VmRSS", rss, sizeof(rss)));
	assert_true(bt_proc_status(b.baton, "VmHWM", hwm, sizeof(hwm)));
	print_message("-w %d: all %d workers started in %lld ms; baton's VmRSS %s (peak %s)%s\n", n,
		      children, (long long)started_ms, rss, hwm,
		      slowdown() > 1 ? " (sanitizer build: bounds x3)" : "");
	assert_true(started_ms < slowdown() * START_LIMIT_MS);

	t0 = bt_now_ms();
	bt_signal(&b, SIGTERM);
	if (!bt_wait_exit(&b, 6 * STOP_LIMIT_MS)) {
		bt_dump(&b);
		fail_msg("baton did not exit within %d ms of SIGTERM", 6 * STOP_LIMIT_MS);
	}
	stopped_ms = bt_now_ms() - t0;
	print_message("-w %d: SIGTERM to exit in %lld ms, status %d\n", n, (long long)stopped_ms,
		      b.status);
	assert_true(stopped_ms < slowdown() * STOP_LIMIT_MS);
	assert_int_equal(b.status, 0);
	bt_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wide_pool_starts_and_stops),
	};

	return cmocka_run_group_tests_name("integration: scale", tests, NULL, NULL);
}
