/*
 * cpus: usable CPUs from the affinity mask and the cgroup CPU quota.
 *
 * The cgroup paths are found without parsing mountinfo: containers mount the hierarchies at
 * /sys/fs/cgroup in a handful of well-known layouts, and a missing file only means "no limit
 * seen here". Every level from the process's own cgroup up to the mount root is read and
 * the smallest limit wins, because the kernel enforces each ancestor's quota as well (a
 * Kubernetes pod's limit sits on the pod cgroup, above the container's).
 */
#include "baton/readfile.h"
#include "baton/cpus.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The default CFS period, used when a v1 hierarchy shows a quota but no period file. */
#define DEFAULT_PERIOD_US 100000L
/* Masks are grown up to this many CPUs; far beyond any machine Linux runs on today. */
#define MAX_CPUS (1 << 20)

int cpus_from_quota(long quota, long period)
{
	long whole;

	if (quota <= 0 || period <= 0)
		return 0;
	/* Divide before rounding so that a huge quota cannot overflow. */
	whole = quota / period + (quota % period != 0);
	if (whole > INT_MAX)
		return INT_MAX;
	return whole < 1 ? 1 : (int)whole;
}

int cpus_limit(int affinity, int quota_cpus)
{
	int n = affinity < 1 ? 1 : affinity;

	if (quota_cpus > 0 && quota_cpus < n)
		n = quota_cpus;
	return n;
}

/* Read a small text file into buf, NUL-terminated. 0 or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n = rf_read_at(AT_FDCWD, path, buf, len);

	return n < 0 ? (int)n : 0;
}

/* A decimal number (optionally negative) followed only by whitespace. 0 or -EINVAL. */
static int parse_long(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	while (*end == ' ' || *end == '\n' || *end == '\t')
		end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* v2 `cpu.max`: "max 100000", "150000 100000", or just the quota. CPUs, or 0 for none. */
static int quota_v2(const char *dir)
{
	char path[PATH_MAX], buf[64], *space;
	long quota, period = DEFAULT_PERIOD_US;

	if (snprintf(path, sizeof(path), "%s/cpu.max", dir) >= (int)sizeof(path))
		return 0;
	if (read_small(path, buf, sizeof(buf)) < 0)
		return 0;
	if (strncmp(buf, "max", 3) == 0)
		return 0;
	space = strchr(buf, ' ');
	if (space) {
		*space = '\0';
		if (parse_long(space + 1, &period) < 0)
			return 0;
	}
	if (parse_long(buf, &quota) < 0)
		return 0;
	return cpus_from_quota(quota, period);
}

/* v1 `cpu.cfs_quota_us` (-1 = none) over `cpu.cfs_period_us`. CPUs, or 0 for none. */
static int quota_v1(const char *dir)
{
	char path[PATH_MAX], buf[64];
	long quota, period = DEFAULT_PERIOD_US;

	if (snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir) >= (int)sizeof(path))
		return 0;
	if (read_small(path, buf, sizeof(buf)) < 0 || parse_long(buf, &quota) < 0)
		return 0;
	/* One byte longer than the quota's name, so it may not fit: then, as when it cannot be
	 * read, the default period. */
	if (snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir) < (int)sizeof(path) &&
	    read_small(path, buf, sizeof(buf)) == 0 && parse_long(buf, &period) < 0)
		return 0;
	return cpus_from_quota(quota, period);
}

/* The smaller of two quotas where 0 means "none". */
static int min_quota(int a, int b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

/*
 * The strictest quota from mount/cgroup_path up to mount itself. A cgroup path containing
 * ".." (a process outside our cgroup namespace's root) cannot be mapped into the mount, so
 * only the mount root is read then.
 */
static int walk_up(const char *mount, const char *cgroup_path, bool v2)
{
	char dir[PATH_MAX];
	size_t base_len = strlen(mount);
	int best = 0;
	char *slash;

	if (strstr(cgroup_path, "/..") || strncmp(cgroup_path, "..", 2) == 0)
		cgroup_path = "/";
	if (snprintf(dir, sizeof(dir), "%s/%s", mount, cgroup_path) >= (int)sizeof(dir))
		return 0;
	/* Trim trailing slashes so that the first step reads the cgroup itself. */
	while (strlen(dir) > base_len && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	for (;;) {
		best = min_quota(best, v2 ? quota_v2(dir) : quota_v1(dir));
		if (strlen(dir) <= base_len)
			break;
		slash = strrchr(dir + base_len, '/');
		if (!slash)
			break;
		/* Drop the last component, and any run of slashes before it. */
		while (slash > dir + base_len && slash[-1] == '/')
			slash--;
		*slash = '\0';
	}
	return best;
}

/* Does the comma-separated controller list contain exactly "cpu"? */
static bool has_cpu_controller(const char *list, size_t len)
{
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = (size_t)((comma ? comma : end) - p);

		if (n == 3 && memcmp(p, "cpu", 3) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

int cpus_quota_at(const char *cgroup_root, const char *proc_self_cgroup)
{
	static const char *const v1_mounts[] = {"cpu,cpuacct", "cpuacct,cpu", "cpu"};
	char buf[8192], v2_path[PATH_MAX] = "/", v1_path[PATH_MAX] = "/", mount[PATH_MAX];
	bool v1_found = false;
	char *line, *save = NULL;
	int best = 0;
	size_t i;

	/*
	 * Without /proc/self/cgroup the roots are still worth reading: in a container with its
	 * own cgroup namespace they are the container's cgroups.
	 */
	if (read_small(proc_self_cgroup, buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
			snprintf(v2_path, sizeof(v2_path), "%s", c2 + 1);
		else if (!v1_found && has_cpu_controller(c1 + 1, (size_t)(c2 - c1 - 1))) {
			snprintf(v1_path, sizeof(v1_path), "%s", c2 + 1);
			v1_found = true;
		}
	}

	best = min_quota(best, walk_up(cgroup_root, v2_path, true));
	if (snprintf(mount, sizeof(mount), "%s/unified", cgroup_root) < (int)sizeof(mount))
		best = min_quota(best, walk_up(mount, v2_path, true));
	for (i = 0; i < sizeof(v1_mounts) / sizeof(v1_mounts[0]); i++) {
		if (snprintf(mount, sizeof(mount), "%s/%s", cgroup_root, v1_mounts[i]) >=
		    (int)sizeof(mount))
			continue;
		best = min_quota(best, walk_up(mount, v1_path, false));
	}
	return best;
}

int cpus_usable_at(const char *cgroup_root, const char *proc_self_cgroup, int affinity_count)
{
	return cpus_limit(affinity_count, cpus_quota_at(cgroup_root, proc_self_cgroup));
}

int cpus_affinity(void)
{
	int ncpus = 1024;

	/* The kernel answers EINVAL while the mask is smaller than its own: grow and retry. */
	for (;;) {
		size_t size = CPU_ALLOC_SIZE(ncpus);
		cpu_set_t *set = CPU_ALLOC(ncpus);
		int count, err;

		if (!set)
			return -ENOMEM;
		CPU_ZERO_S(size, set);
		if (sched_getaffinity(0, size, set) == 0) {
			count = CPU_COUNT_S(size, set);
			CPU_FREE(set);
			return count < 1 ? 1 : count;
		}
		err = errno;
		CPU_FREE(set);
		if (err != EINVAL || ncpus >= MAX_CPUS)
			return -err;
		ncpus *= 2;
	}
}

int cpus_usable(void)
{
	int affinity = cpus_affinity();

	if (affinity < 1) {
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		affinity = online < 1 ? 1 : online > INT_MAX ? INT_MAX : (int)online;
	}
	return cpus_usable_at("/sys/fs/cgroup", "/proc/self/cgroup", affinity);
}
