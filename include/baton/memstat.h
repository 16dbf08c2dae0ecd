/*
 * memstat: resident memory of workers and of baton itself, from /proc.
 *
 * A worker is measured as the sum of the resident set of every process in its process
 * group (baton makes each worker a group leader, so the group is the worker and whatever it
 * forked: a shell's child, a Python app's subprocesses). The sum counts a page shared by two
 * processes twice; it is what `ps` and PM2 show, cheap to read, and only ever errs high,
 * which for a recycling limit errs on the side of recycling.
 *
 * One walk of /proc measures every group at once, so that a check costs one pass whatever
 * the number of workers. The parsing is pure (memstat_parse_statm, memstat_add, and
 * procs_parse_stat of procs.h); the reading takes the /proc directory as an argument so that
 * tests run it on a fixture tree.
 */
#ifndef BATON_MEMSTAT_H
#define BATON_MEMSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "baton/procs.h"

/* One process group to measure: pgrp is set by the caller, the rest by the walk. */
struct memstat_group {
	pid_t pgrp;          /* the worker's pid: it leads its group */
	uint64_t rss_bytes;  /* sum over the group's processes */
	int nprocs;          /* processes found in the group (0: the group is gone) */
};

/* baton's own numbers, for metrics. */
struct memstat_self {
	uint64_t rss_bytes;
	int fds;             /* open file descriptors */
};

/* The resident pages (second field) of a /proc/PID/statm text. 0 or -EINVAL. */
int memstat_parse_statm(const char *text, uint64_t *resident_pages);

/*
 * Add one process (as procs_parse_stat read it) to the group of groups[0..n) that it
 * belongs to, if any: rss_pages * page_size to rss_bytes, 1 to nprocs. groups must be sorted
 * by pgrp, ascending (memstat_sort). Pure.
 */
void memstat_add(struct memstat_group *groups, size_t n, const struct proc_entry *p,
		 uint64_t page_size);

/* The resident bytes of the group led by pgrp in groups[0..n), sorted as memstat_groups
 * leaves them (a binary search); 0 when it is not there or had no process left. */
uint64_t memstat_rss_of(const struct memstat_group *groups, size_t n, pid_t pgrp);

/* Sort groups[0..n) by pgrp, ascending, as memstat_add needs. */
void memstat_sort(struct memstat_group *groups, size_t n);

/*
 * One walk of proc_dir ("/proc", or a fixture tree with PID/stat files): zero every group,
 * sort them (memstat_sort: their order changes), then add every process. A process that
 * exits during the walk is skipped. 0, or -errno when proc_dir cannot be read.
 */
int memstat_groups_at(const char *proc_dir, struct memstat_group *groups, size_t n);

/* memstat_groups_at("/proc", groups, n). */
int memstat_groups(struct memstat_group *groups, size_t n);

/* The resident bytes of one process group. 0 (and 0 bytes when the group is gone) or -errno. */
int memstat_group_rss(pid_t pgrp, uint64_t *bytes);

/* The open descriptors listed in dir (a /proc/PID/fd of another process, or a fixture):
 * its entries whose names are numbers. >= 0, or -errno. */
int memstat_count_fds(const char *dir);

/* baton's resident memory (/proc/self/statm) and open descriptors (/proc/self/fd). 0 or -errno. */
int memstat_self(struct memstat_self *out);

#endif
