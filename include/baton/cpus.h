/*
 * cpus: how many CPUs this container may really use, for `--workers auto`.
 *
 * The answer is the CPU affinity mask (which already reflects cpuset limits) further limited
 * by the cgroup CPU quota, rounded up, and never less than 1. Counting online CPUs, as Node's
 * os.cpus().length does, ignores both: a container given `--cpus 2` on a 64-core host would
 * otherwise start 64 workers that share two CPUs' worth of time.
 *
 * The arithmetic is pure; the file reading takes its roots as arguments so that tests can
 * point it at fixture trees.
 */
#ifndef BATON_CPUS_H
#define BATON_CPUS_H

/*
 * CPUs allowed by a CFS quota of `quota` microseconds per `period`, rounded up (1.5 CPUs
 * is 2 workers: the half CPU is worth using), at least 1. Returns 0 for "no limit": a
 * negative quota (v1's -1, v2's "max") or a period that is not positive.
 */
int cpus_from_quota(long quota, long period);

/*
 * Combine the affinity count with the quota's CPUs (0 = no quota): the smaller of the two,
 * at least 1. An affinity count below 1 is treated as 1.
 */
int cpus_limit(int affinity, int quota_cpus);

/*
 * The strictest CPU quota that applies to the process described by the file at
 * proc_self_cgroup (the format of /proc/self/cgroup), looking under cgroup_root (the
 * cgroup file systems' mount point, normally "/sys/fs/cgroup"). Every ancestor cgroup up
 * to the mount root is read, because a limit on any of them applies. Both the v2 hierarchy
 * (`cpu.max`, also under cgroup_root/unified) and the v1 cpu controller (`cpu,cpuacct`,
 * `cpuacct,cpu` or `cpu` mounts) are consulted. Inside a container the mount root is
 * usually the container's own cgroup while the path in proc_self_cgroup may name the host's
 * view: paths that do not exist are skipped, so the mount root's own limit still counts.
 * Returns the CPUs allowed (>= 1), or 0 when no quota is found or nothing can be read.
 */
int cpus_quota_at(const char *cgroup_root, const char *proc_self_cgroup);

/* cpus_limit(affinity_count, cpus_quota_at(cgroup_root, proc_self_cgroup)). Always >= 1. */
int cpus_usable_at(const char *cgroup_root, const char *proc_self_cgroup, int affinity_count);

/*
 * CPUs in this process's affinity mask (sched_getaffinity, with a mask grown as needed for
 * machines of more than 1024 CPUs). >= 1, or -errno.
 */
int cpus_affinity(void);

/*
 * The number of workers `auto` means: the affinity count (or the online CPUs if it cannot
 * be read) limited by the quota of /sys/fs/cgroup for /proc/self/cgroup. Always >= 1.
 */
int cpus_usable(void);

#endif
