/*
 * cgroup: the parsers of /proc/self/cgroup, mountinfo, limit files and OOM counters as
 * tables, the reading against fixture trees (tests/unit/fixtures/cgroup/CASE/{proc/self,
 * sys/fs/cgroup}), and one look at this machine's own cgroup.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/cgroup.h"

#define FIXTURES "tests/unit/fixtures/cgroup"

#include "fixtures.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_self(void **state)
{
	static const struct {
		const char *text;
		enum cgroup_version v;
		int rc;
		const char *path;
	} cases[] = {
		{ "0::/\n", CGROUP_V2, 0, "/" },
		{ "0::/kubepods/pod1/ctr\n", CGROUP_V2, 0, "/kubepods/pod1/ctr" },
		{ "0::/no/newline", CGROUP_V2, 0, "/no/newline" },
		{ "4:memory:/docker/abc\n0::/\n", CGROUP_V2, 0, "/" },
		{ "4:memory:/docker/abc\n0::/x\n", CGROUP_V1, 0, "/docker/abc" },
		{ "9:name=systemd:/\n4:memory,foo:/a\n1:cpu:/\n", CGROUP_V1, 0, "/a" },
		{ "4:foo,memory:/b\n", CGROUP_V1, 0, "/b" },
		{ "4:foo,memory,bar:/c\n", CGROUP_V1, 0, "/c" },
		/* A path may hold a colon: everything after the second one is the path. */
		{ "4:memory:/a:b\n", CGROUP_V1, 0, "/a:b" },
		/* Names that merely contain "memory" are other controllers. */
		{ "4:memoryx:/a\n5:name=memory:/b\n", CGROUP_V1, -ENOENT, NULL },
		{ "4:memory:/a\n", CGROUP_V2, -ENOENT, NULL },
		{ "0::/\n", CGROUP_V1, -ENOENT, NULL },
		/* Hierarchy 0 with a controller list is not the v2 line; neither is "10::". */
		{ "0:memory:/a\n10::/b\n", CGROUP_V2, -ENOENT, NULL },
		{ "", CGROUP_V2, -ENOENT, NULL },
		{ "garbage\n\n::\n", CGROUP_V2, -ENOENT, NULL },
		{ "0::\n", CGROUP_V2, -ENOENT, NULL },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		char path[64] = "(unset)";
		int rc = cgroup_parse_self(cases[i].text, cases[i].v, path, sizeof(path));

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && strcmp(path, cases[i].path) != 0)
			fail_msg("case %zu: path '%s', want '%s'", i, path, cases[i].path);
	}
	{
		char tiny[4];

		assert_int_equal(cgroup_parse_self("0::/long\n", CGROUP_V2, tiny, sizeof(tiny)),
				 -ENAMETOOLONG);
	}
}

#define V1_LINE(root, mnt, super) \
	"34 30 0:31 " root " " mnt " rw,relatime shared:12 - cgroup cgroup " super "\n"
#define V2_LINE(root, mnt) "40 30 0:37 " root " " mnt " rw,relatime - cgroup2 cgroup2 rw\n"

static void test_parse_mountinfo(void **state)
{
	static const struct {
		const char *text;
		enum cgroup_version v;
		const char *path;
		const char *prefix;
		int rc;
		const char *dir;
		size_t top_len;
	} cases[] = {
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/", "", 0, "/sys/fs/cgroup", 14 },
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/a/b", "", 0, "/sys/fs/cgroup/a/b", 14 },
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/a/b/", "", 0, "/sys/fs/cgroup/a/b", 14 },
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/a", "/fx", 0, "/fx/sys/fs/cgroup/a", 17 },
		/* The mount shows a subtree: the path is taken relative to it. */
		{ V2_LINE("/docker/abc", "/sys/fs/cgroup"), CGROUP_V2, "/docker/abc", "", 0,
		  "/sys/fs/cgroup", 14 },
		{ V2_LINE("/docker/abc", "/sys/fs/cgroup"), CGROUP_V2, "/docker/abc/sub", "", 0,
		  "/sys/fs/cgroup/sub", 14 },
		/* A path outside the subtree (or a root that is only a prefix of a name): the
		 * mount point. */
		{ V2_LINE("/docker/abc", "/sys/fs/cgroup"), CGROUP_V2, "/docker/abcd", "", 0,
		  "/sys/fs/cgroup", 14 },
		{ V2_LINE("/docker/abc", "/sys/fs/cgroup"), CGROUP_V2, "/system.slice", "", 0,
		  "/sys/fs/cgroup", 14 },
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/../../x", "", 0, "/sys/fs/cgroup", 14 },
		/* Of several mounts, the one whose root holds the path. */
		{ V2_LINE("/other", "/mnt/other") V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V2, "/a", "",
		  0, "/sys/fs/cgroup/a", 14 },
		{ V2_LINE("/other", "/mnt/other") V2_LINE("/x", "/sys/fs/cgroup"), CGROUP_V2, "/a", "",
		  0, "/mnt/other", 10 },
		/* Escaped spaces in the mount point. */
		{ V2_LINE("/", "/mnt/my\\040cgroups"), CGROUP_V2, "/a", "", 0, "/mnt/my cgroups/a", 15 },
		{ V1_LINE("/", "/sys/fs/cgroup/memory", "rw,memory"), CGROUP_V1, "/a", "", 0,
		  "/sys/fs/cgroup/memory/a", 21 },
		{ V1_LINE("/", "/sys/fs/cgroup/memory", "rw,memory,hugetlb"), CGROUP_V1, "/", "", 0,
		  "/sys/fs/cgroup/memory", 21 },
		{ V1_LINE("/", "/sys/fs/cgroup/cpu", "rw,cpu") V1_LINE("/", "/sys/fs/cgroup/memory",
		  "rw,memory"), CGROUP_V1, "/a", "", 0, "/sys/fs/cgroup/memory/a", 21 },
		/* Not a memory hierarchy, or not the version asked for. */
		{ V1_LINE("/", "/sys/fs/cgroup/cpu", "rw,cpu"), CGROUP_V1, "/", "", -ENOENT, NULL, 0 },
		{ V1_LINE("/", "/sys/fs/cgroup/systemd", "rw,name=memory"), CGROUP_V1, "/", "",
		  -ENOENT, NULL, 0 },
		{ V2_LINE("/", "/sys/fs/cgroup"), CGROUP_V1, "/", "", -ENOENT, NULL, 0 },
		{ V1_LINE("/", "/sys/fs/cgroup/memory", "rw,memory"), CGROUP_V2, "/", "", -ENOENT,
		  NULL, 0 },
		/* No optional fields, and a "-" that is a mount point, not the separator. */
		{ "1 0 0:1 / /- rw - tmpfs tmpfs rw\n2 0 0:2 / /cg rw - cgroup2 none rw\n", CGROUP_V2,
		  "/", "", 0, "/cg", 3 },
		{ "", CGROUP_V2, "/", "", -ENOENT, NULL, 0 },
		{ "truncated line - cgroup2\n", CGROUP_V2, "/", "", -ENOENT, NULL, 0 },
		{ "1 0 0:1 / /x rw -\n", CGROUP_V2, "/", "", -ENOENT, NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct cgroup_memory cg = { .version = CGROUP_NONE, .dir = "(unset)" };
		int rc = cgroup_parse_mountinfo(cases[i].text, cases[i].v, cases[i].path,
						cases[i].prefix, &cg);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc < 0)
			continue;
		if (strcmp(cg.dir, cases[i].dir) != 0 || cg.top_len != cases[i].top_len ||
		    cg.version != cases[i].v)
			fail_msg("case %zu: dir '%s' top %zu version %d, want '%s' top %zu", i, cg.dir,
				 cg.top_len, cg.version, cases[i].dir, cases[i].top_len);
	}
}

static void test_parse_limit(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t bytes;
	} cases[] = {
		{ "536870912\n", 0, 536870912 },
		{ "536870912", 0, 536870912 },
		{ "0\n", 0, 0 },
		{ "max\n", CGROUP_UNLIMITED, 0 },
		{ "max", CGROUP_UNLIMITED, 0 },
		/* v1's "none", for 4 KiB and 64 KiB pages, and LONG_MAX itself. */
		{ "9223372036854771712\n", CGROUP_UNLIMITED, 0 },
		{ "9223372036854710272\n", CGROUP_UNLIMITED, 0 },
		{ "9223372036854775807\n", CGROUP_UNLIMITED, 0 },
		{ "4611686018427387903\n", 0, 4611686018427387903ULL },
		{ "18446744073709551615\n", CGROUP_UNLIMITED, 0 },
		{ "18446744073709551616\n", -EINVAL, 0 },
		{ "99999999999999999999999\n", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "\n", -EINVAL, 0 },
		{ "-1\n", -EINVAL, 0 },
		{ "maxx\n", -EINVAL, 0 },
		{ "12 34\n", -EINVAL, 0 },
		{ "12\n\n", -EINVAL, 0 },
		{ "12k\n", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		uint64_t bytes = 7;
		int rc = cgroup_parse_limit(cases[i].text, &bytes);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && bytes != cases[i].bytes)
			fail_msg("'%s': %llu bytes, want %llu", cases[i].text,
				 (unsigned long long)bytes, (unsigned long long)cases[i].bytes);
		if (rc != 0 && bytes != 7)
			fail_msg("'%s': *bytes written without a limit", cases[i].text);
	}
}

static void test_parse_oom_kills(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t count;
	} cases[] = {
		{ "low 0\nhigh 0\nmax 17\noom 2\noom_kill 2\noom_group_kill 0\n", 0, 2 },
		{ "oom_kill_disable 0\nunder_oom 0\noom_kill 41\n", 0, 41 },
		{ "oom_kill 0", 0, 0 },
		{ "oom_kill 18446744073709551615\n", 0, UINT64_MAX },
		/* oom_kill_disable and oom_group_kill are other keys. */
		{ "oom_kill_disable 1\nunder_oom 0\n", -ENOENT, 0 },
		{ "oom_group_kill 3\n", -ENOENT, 0 },
		{ "", -ENOENT, 0 },
		{ "oom_kill x\n", -EINVAL, 0 },
		{ "oom_kill \n", -EINVAL, 0 },
		{ "oom_kill 5 6\n", -EINVAL, 0 },
		{ "oom_kill 99999999999999999999999\n", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		uint64_t count = 7;
		int rc = cgroup_parse_oom_kills(cases[i].text, &count);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && count != cases[i].count)
			fail_msg("case %zu: %llu, want %llu", i, (unsigned long long)count,
				 (unsigned long long)cases[i].count);
	}
}

/* Each fixture tree: which hierarchy is found, where, the limit, and the OOM count. */
static void test_fixtures(void **state)
{
	static const struct {
		const char *name;
		int find_rc;
		enum cgroup_version v;
		const char *dir;       /* relative to the fixture's root */
		int limit_rc;
		uint64_t limit;
		int oom_rc;
		uint64_t oom;
	} cases[] = {
		{ "v1", 0, CGROUP_V1, "/sys/fs/cgroup/memory/process_api/abc", 0, 512ULL << 20, 0, 3 },
		{ "v1-docker", 0, CGROUP_V1, "/sys/fs/cgroup/memory", 0, 256ULL << 20, 0, 1 },
		{ "v1-old", 0, CGROUP_V1, "/sys/fs/cgroup/memory", CGROUP_UNLIMITED, 0, -ENOENT, 0 },
		{ "hybrid", 0, CGROUP_V1, "/sys/fs/cgroup/memory/user.slice", 0, 2ULL << 30, 0, 0 },
		{ "v2", 0, CGROUP_V2, "/sys/fs/cgroup", 0, 512ULL << 20, 0, 2 },
		{ "v2-nested", 0, CGROUP_V2, "/sys/fs/cgroup/kubepods/burstable/pod1/ctr", 0, 1ULL << 30,
		  0, 0 },
		{ "v2-hostpath", 0, CGROUP_V2, "/sys/fs/cgroup", 0, 300ULL << 20, 0, 1 },
		{ "v2-unlimited", 0, CGROUP_V2, "/sys/fs/cgroup", CGROUP_UNLIMITED, 0, 0, 0 },
		{ "v2-root", 0, CGROUP_V2, "/sys/fs/cgroup", -ENOENT, 0, -ENOENT, 0 },
		{ "none", -ENOENT, CGROUP_NONE, NULL, 0, 0, 0, 0 },
		{ "no-such-case", -ENOENT, CGROUP_NONE, NULL, 0, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		char root[PATH_MAX], want[PATH_MAX * 2 + 64];
		struct cgroup_memory cg;
		uint64_t limit = 7, oom = 7;
		int rc;

		snprintf(root, sizeof(root), "%.3000s/%s", fixtures, cases[i].name);
		rc = cgroup_memory_find(root, &cg);
		if (rc != cases[i].find_rc)
			fail_msg("%s: find rc %d, want %d", cases[i].name, rc, cases[i].find_rc);
		if (rc < 0)
			continue;
		snprintf(want, sizeof(want), "%s%s", root, cases[i].dir);
		if (cg.version != cases[i].v || strcmp(cg.dir, want) != 0)
			fail_msg("%s: version %d dir '%s', want %d '%s'", cases[i].name, cg.version,
				 cg.dir, cases[i].v, want);
		rc = cgroup_memory_limit(&cg, &limit);
		if (rc != cases[i].limit_rc || (rc == 0 && limit != cases[i].limit))
			fail_msg("%s: limit rc %d (%llu), want %d (%llu)", cases[i].name, rc,
				 (unsigned long long)limit, cases[i].limit_rc,
				 (unsigned long long)cases[i].limit);
		rc = cgroup_oom_kills(&cg, &oom);
		if (rc != cases[i].oom_rc || (rc == 0 && oom != cases[i].oom))
			fail_msg("%s: oom rc %d (%llu), want %d (%llu)", cases[i].name, rc,
				 (unsigned long long)oom, cases[i].oom_rc, (unsigned long long)cases[i].oom);
	}
}

static void test_no_cgroup(void **state)
{
	struct cgroup_memory cg = { .version = CGROUP_NONE };
	uint64_t n;

	(void)state;
	assert_int_equal(cgroup_memory_limit(&cg, &n), -ENOENT);
	assert_int_equal(cgroup_oom_kills(&cg, &n), -ENOENT);
}

/* This machine's own cgroup, whichever it is: found or plainly absent, and when found, a
 * directory whose limit and counter read as one of their documented answers. */
static void test_this_machine(void **state)
{
	struct cgroup_memory cg;
	struct stat st;
	uint64_t n;
	int rc;

	(void)state;
	rc = cgroup_memory_find("", &cg);
	if (rc == -ENOENT) {
		print_message("no memory cgroup mounted here\n");
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(stat(cg.dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(cg.top_len <= strlen(cg.dir));
	rc = cgroup_memory_limit(&cg, &n);
	assert_true(rc == 0 || rc == CGROUP_UNLIMITED || rc == -ENOENT);
	if (rc == 0)
		assert_true(n > 0);
	rc = cgroup_oom_kills(&cg, &n);
	assert_true(rc == 0 || rc == -ENOENT);
	print_message("v%d %s\n", cg.version, cg.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_parse_mountinfo),
		cmocka_unit_test(test_parse_limit),
		cmocka_unit_test(test_parse_oom_kills),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_no_cgroup),
		cmocka_unit_test(test_this_machine),
	};

	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
