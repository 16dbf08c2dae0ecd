/*
 * cpus: quota arithmetic as tables, cgroup reading against fixture trees
 * (tests/unit/fixtures/cpus/CASE/{proc-self-cgroup,sys-fs-cgroup/}), and the real affinity.
 */
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/cpus.h"

#define FIXTURES "tests/unit/fixtures/cpus"

#include "fixtures.h"

static void test_from_quota(void **state)
{
	static const struct {
		long quota, period;
		int want;
	} cases[] = {
		{-1, 100000, 0},          /* v1 "no limit" */
		{0, 100000, 0},           /* not a real quota */
		{100000, 0, 0},           /* bad period */
		{100000, -5, 0},
		{100000, 100000, 1},
		{150000, 100000, 2},      /* rounded up */
		{200000, 100000, 2},
		{200001, 100000, 3},
		{1000, 100000, 1},        /* a hundredth of a CPU is still one worker */
		{50000, 25000, 2},
		{LONG_MAX, 1, INT_MAX},   /* no overflow */
		{LONG_MAX, 100000, INT_MAX},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = cpus_from_quota(cases[i].quota, cases[i].period);

		if (got != cases[i].want)
			fail_msg("quota %ld period %ld: got %d, want %d", cases[i].quota,
				 cases[i].period, got, cases[i].want);
	}
}

static void test_limit(void **state)
{
	static const struct {
		int affinity, quota, want;
	} cases[] = {
		{8, 0, 8},  /* no quota */
		{8, 2, 2},  /* quota smaller */
		{2, 4, 2},  /* affinity smaller */
		{4, 4, 4},
		{0, 0, 1},  /* never below 1 */
		{-3, 0, 1},
		{0, 5, 1},
		{1, 1, 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = cpus_limit(cases[i].affinity, cases[i].quota);

		if (got != cases[i].want)
			fail_msg("affinity %d quota %d: got %d, want %d", cases[i].affinity,
				 cases[i].quota, got, cases[i].want);
	}
}

static void test_fixtures(void **state)
{
	static const struct {
		const char *dir;
		int affinity;
		int want_quota, want_usable;
	} cases[] = {
		{"v2", 8, 2, 2},         /* 150000/100000 on the container's cgroup */
		{"v2", 1, 2, 1},         /* affinity is the tighter limit */
		{"v2-nolimit", 8, 0, 8}, /* "max" */
		{"v2-nested", 8, 3, 3},  /* the pod's limit, two levels up, applies */
		{"v2-ns", 8, 1, 1},      /* host path not in the mount: the mount root counts */
		{"v1", 8, 3, 3},         /* cpu,cpuacct: 250000/100000 */
		{"v1-nolimit", 4, 0, 4}, /* -1 */
		{"v1-split", 8, 2, 2},   /* "cpu" alone, not "cpuacct" or "cpuset" */
		{"missing", 6, 0, 6},    /* nothing to read at all */
	};
	char root[PATH_MAX + 32], proc[PATH_MAX + 32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int quota, usable;

		snprintf(root, sizeof(root), "%s/%s/sys-fs-cgroup", fixtures, cases[i].dir);
		snprintf(proc, sizeof(proc), "%s/%s/proc-self-cgroup", fixtures, cases[i].dir);
		quota = cpus_quota_at(root, proc);
		usable = cpus_usable_at(root, proc, cases[i].affinity);
		if (quota != cases[i].want_quota || usable != cases[i].want_usable)
			fail_msg("%s (affinity %d): quota %d usable %d, want %d and %d",
				 cases[i].dir, cases[i].affinity, quota, usable,
				 cases[i].want_quota, cases[i].want_usable);
	}
}

static void test_affinity(void **state)
{
	cpu_set_t saved, one;
	int all;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	all = cpus_affinity();
	assert_int_equal(all, CPU_COUNT(&saved));
	assert_true(cpus_usable() >= 1);
	assert_true(cpus_usable() <= all);

	/* Pinned to one CPU, the mask says 1 whatever the machine has. */
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			break;
		}
	}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(cpus_affinity(), 1);
	assert_int_equal(cpus_usable(), 1);
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_quota),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_affinity),
	};

	return cmocka_run_group_tests_name("cpus", tests, find_fixtures, NULL);
}
