/*
 * memstat: statm and stat parsing as tables, the walk over a fixture /proc
 * (tests/unit/fixtures/memstat/proc), and real process groups: a child group that touches a
 * known amount of memory, and this test's own numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/memstat.h"
#include "baton/procs.h"

#define FIXTURES "tests/unit/fixtures/memstat"

#include "fixtures.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_statm(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t pages;
	} cases[] = {
		{ "765 394 355 5 0 99 0\n", 0, 394 },
		{ "765 394", 0, 394 },
		{ "765 394\n", 0, 394 },
		{ "0 0 0 0 0 0 0\n", 0, 0 },
		{ "4503599627370495 4503599627370495 0 0 0 0 0\n", 0, 4503599627370495ULL },
		{ "765\n", -EINVAL, 0 },
		{ "765", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ " 765 394", -EINVAL, 0 },
		{ "765  394", -EINVAL, 0 },
		{ "765 -394", -EINVAL, 0 },
		{ "765 39x4", -EINVAL, 0 },
		{ "abc 394", -EINVAL, 0 },
		{ "765 99999999999999999999999", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		uint64_t pages = 7;
		int rc = memstat_parse_statm(cases[i].text, &pages);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && pages != cases[i].pages)
			fail_msg("'%s': %llu pages, want %llu", cases[i].text,
				 (unsigned long long)pages, (unsigned long long)cases[i].pages);
	}
	assert_int_equal(memstat_parse_statm(NULL, &(uint64_t){ 0 }), -EINVAL);
}

/* The rss field that procs_parse_stat now also reads, without changing what it accepts. */
static void test_stat_rss(void **state)
{
	static const struct {
		const char *line;
		int rc;
		pid_t pgrp;
		unsigned long rss;
	} cases[] = {
		{ "20203 (cat) R 20151 20151 27248 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 1186147 "
		  "3133440 394 18446744073709551615 93952717385728 93952717405609 0 0 0 0 0 0 0 0 0 0 "
		  "17 0 0 0 0 0 0",
		  0, 20151, 394 },
		/* A name with spaces and parentheses, and a vsize past 32 bits. */
		{ "44 (my (odd) worker) R 41 41 1 0 -1 4194560 10 0 0 0 1 1 0 0 20 0 1 0 300 "
		  "123456789012345 2000 18446744073709551615",
		  0, 41, 2000 },
		/* A zombie: no memory left. */
		{ "45 (python3) Z 42 42 1 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0 0", 0, 42, 0 },
		/* Lines that stop early are still read as before, with rss 0. */
		{ "42 (sleep) S 1 42 42 0 -1", 0, 42, 0 },
		{ "42 (sleep) S 1 42 42 0 -1 4194560 10 0 0 0 1 1 0 0 20 0 4 0 400 3133440", 0, 42, 0 },
		{ "9 (x) S", -EINVAL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct proc_entry p;
		int rc = procs_parse_stat(cases[i].line, &p);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && (p.pgrp != cases[i].pgrp || p.rss_pages != cases[i].rss))
			fail_msg("case %zu: pgrp %d rss %lu, want %d %lu", i, (int)p.pgrp, p.rss_pages,
				 (int)cases[i].pgrp, cases[i].rss);
	}
}

/* memstat_add on a sorted table: each process to its own group, others to none. */
static void test_add(void **state)
{
	struct memstat_group g[] = { { .pgrp = 42 }, { .pgrp = 7 }, { .pgrp = 100 } };
	struct proc_entry p = { 0 };

	(void)state;
	memstat_sort(g, N_OF(g));
	assert_int_equal(g[0].pgrp, 7);
	assert_int_equal(g[1].pgrp, 42);
	assert_int_equal(g[2].pgrp, 100);
	p.pgrp = 42;
	p.rss_pages = 10;
	memstat_add(g, N_OF(g), &p, 4096);
	p.rss_pages = 5;
	memstat_add(g, N_OF(g), &p, 4096);
	p.pgrp = 8; /* in no group */
	memstat_add(g, N_OF(g), &p, 4096);
	p.pgrp = 100;
	p.rss_pages = 1;
	memstat_add(g, N_OF(g), &p, 65536);
	assert_int_equal(g[0].nprocs, 0);
	assert_int_equal(g[0].rss_bytes, 0);
	assert_int_equal(g[1].nprocs, 2);
	assert_int_equal(g[1].rss_bytes, 15 * 4096);
	assert_int_equal(g[2].nprocs, 1);
	assert_int_equal(g[2].rss_bytes, 65536);
	memstat_add(g, 0, &p, 4096); /* an empty table */
}

/* The walk over a fixture /proc: groups summed, a gone group at zero, non-pid entries, a pid
 * without stat and a malformed stat skipped. */
static void test_fixture_walk(void **state)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct memstat_group g[] = {
		{ .pgrp = 42, .rss_bytes = 123, .nprocs = 9 }, /* stale values are reset */
		{ .pgrp = 41 },
		{ .pgrp = 1 },
		{ .pgrp = 99 },
	};
	char proc[PATH_MAX];

	(void)state;
	snprintf(proc, sizeof(proc), "%.4000s/proc", fixtures);
	assert_int_equal(memstat_groups_at(proc, g, N_OF(g)), 0);
	/* Sorted: 1, 41, 42, 99. */
	assert_int_equal(g[0].pgrp, 1);
	assert_int_equal(g[0].nprocs, 1);
	assert_int_equal(g[0].rss_bytes, 500 * page);
	assert_int_equal(g[1].pgrp, 41);
	assert_int_equal(g[1].nprocs, 2); /* the leader and its child; "self" is not a pid */
	assert_int_equal(g[1].rss_bytes, 12000 * page);
	assert_int_equal(g[2].pgrp, 42);
	assert_int_equal(g[2].nprocs, 2); /* with the zombie, which holds nothing */
	assert_int_equal(g[2].rss_bytes, 3000 * page);
	assert_int_equal(g[3].pgrp, 99);
	assert_int_equal(g[3].nprocs, 0);
	assert_int_equal(g[3].rss_bytes, 0);

	assert_int_equal(memstat_groups_at("/nonexistent/proc", g, N_OF(g)), -ENOENT);
}

static void test_fixture_fds(void **state)
{
	char dir[PATH_MAX];

	(void)state;
	snprintf(dir, sizeof(dir), "%.4000s/fd", fixtures);
	assert_int_equal(memstat_count_fds(dir), 4);
	assert_int_equal(memstat_count_fds("/nonexistent/fd"), -ENOENT);
}

/* A child that leads its own group, touches 64 MiB and forks a grandchild that touches 32 MiB
 * more: the group holds both, at least 96 MiB. */
#define CHILD_MIB 64
#define GRANDCHILD_MIB 32

static void touch_and_report(size_t mib, int wfd)
{
	size_t len = mib << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		_exit(1);
	memset(mem, 0x5a, len);
	if (write(wfd, "x", 1) != 1)
		_exit(1);
}

static void test_real_group(void **state)
{
	int ready[2];
	pid_t child;
	char buf[2];
	uint64_t bytes = 0;
	struct memstat_group g[2];
	int reports, rc1, rc2;

	(void)state;
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t grandchild;

		close(ready[0]);
		if (setpgid(0, 0) < 0)
			_exit(1);
		/* The grandchild forks before the child touches its memory, so that the
		 * pages counted for each are their own, not shared ones counted twice. */
		grandchild = fork();
		if (grandchild < 0)
			_exit(1);
		if (grandchild == 0) {
			touch_and_report(GRANDCHILD_MIB, ready[1]);
			for (;;)
				pause();
		}
		touch_and_report(CHILD_MIB, ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	/* Both report; a read that returns 0 means one died. Nothing is asserted until both are
	 * killed, so that a failure leaves no process behind. */
	reports = (read(ready[0], buf, 1) == 1) + (read(ready[0], buf, 1) == 1);
	rc1 = memstat_group_rss(child, &bytes);
	g[0] = (struct memstat_group){ .pgrp = child };
	g[1] = (struct memstat_group){ .pgrp = getpgrp() };
	rc2 = memstat_groups(g, 2);
	kill(-child, SIGKILL);
	kill(child, SIGKILL);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	close(ready[0]);
	assert_int_equal(reports, 2);
	assert_int_equal(rc1, 0);
	assert_int_equal(rc2, 0);

	print_message("group of 2 touching %d MiB: %llu KiB\n", CHILD_MIB + GRANDCHILD_MIB,
		      (unsigned long long)(bytes >> 10));
	if (bytes < (uint64_t)(CHILD_MIB + GRANDCHILD_MIB) << 20)
		fail_msg("group rss %llu bytes, want at least %d MiB", (unsigned long long)bytes,
			 CHILD_MIB + GRANDCHILD_MIB);
	/* Not this process's memory as well: well under a gigabyte. */
	assert_true(bytes < (1ULL << 30));
	for (int i = 0; i < 2; i++) {
		if (g[i].pgrp == child) {
			assert_int_equal(g[i].nprocs, 2);
			assert_true(g[i].rss_bytes >= (uint64_t)(CHILD_MIB + GRANDCHILD_MIB) << 20);
		} else {
			/* This test's own group: this process at least, with memory. */
			assert_true(g[i].nprocs >= 1);
			assert_true(g[i].rss_bytes > 0);
		}
	}
	/* Gone: reaped, so the group is empty. */
	assert_int_equal(memstat_group_rss(child, &bytes), 0);
	assert_int_equal(bytes, 0);
}

/* This process's own numbers: resident memory that grows with touched pages, and exactly the
 * descriptors it opens. */
static void test_self(void **state)
{
	struct memstat_self before, after;
	size_t len = 16 << 20;
	char *mem;
	int fds[3];

	(void)state;
	assert_int_equal(memstat_self(&before), 0);
	assert_true(before.rss_bytes > 0);
	assert_true(before.fds >= 0);
	for (int i = 0; i < 3; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	memset(mem, 1, len);
	assert_int_equal(memstat_self(&after), 0);
	assert_int_equal(after.fds, before.fds + 3);
	if (after.rss_bytes < before.rss_bytes + len)
		fail_msg("rss %llu -> %llu after touching %zu bytes",
			 (unsigned long long)before.rss_bytes, (unsigned long long)after.rss_bytes,
			 len);
	munmap(mem, len);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(memstat_self(&after), 0);
	assert_int_equal(after.fds, before.fds);
}

/* The lookup after a walk: by pid in the sorted groups, 0 for a group gone or absent. */
static void test_rss_of(void **state)
{
	struct memstat_group g[] = {
		{ .pgrp = 40, .rss_bytes = 4000, .nprocs = 1 },
		{ .pgrp = 7, .rss_bytes = 700, .nprocs = 2 },
		{ .pgrp = 99, .rss_bytes = 0, .nprocs = 0 },
		{ .pgrp = 12, .rss_bytes = 1200, .nprocs = 1 },
	};

	(void)state;
	memstat_sort(g, 4);
	assert_int_equal(memstat_rss_of(g, 4, 7), 700);
	assert_int_equal(memstat_rss_of(g, 4, 12), 1200);
	assert_int_equal(memstat_rss_of(g, 4, 40), 4000);
	assert_int_equal(memstat_rss_of(g, 4, 99), 0);
	assert_int_equal(memstat_rss_of(g, 4, 8), 0);
	assert_int_equal(memstat_rss_of(g, 4, 100), 0);
	assert_int_equal(memstat_rss_of(g, 4, 0), 0);
	assert_int_equal(memstat_rss_of(g, 0, 7), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rss_of),
		cmocka_unit_test(test_parse_statm),
		cmocka_unit_test(test_stat_rss),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_fixture_walk),
		cmocka_unit_test(test_fixture_fds),
		cmocka_unit_test(test_real_group),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
