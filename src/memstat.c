/*
 * memstat: resident memory from /proc (see include/baton/memstat.h).
 *
 * The walk reads only /proc/PID/stat, with procs_parse_stat: procs_each also reads every
 * command line, which a check made every second has no use for.
 */
#include "baton/readfile.h"
#include "baton/decimal.h"
#include "baton/memstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int memstat_parse_statm(const char *text, uint64_t *resident_pages)
{
	const char *p = text;
	const char *end;
	uint64_t resident;

	/* "size resident shared text lib data dt": the first two are all that is needed, and
	 * each must be a plain number. */
	if (!p || !isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != ' ' || !isdigit((unsigned char)p[1]))
		return -EINVAL;
	end = p + 1;
	if (dec_parse_prefix(&end, UINT64_MAX, &resident) < 0 ||
	    (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	*resident_pages = resident;
	return 0;
}

static int cmp_pgrp(const void *a, const void *b)
{
	pid_t x = ((const struct memstat_group *)a)->pgrp;
	pid_t y = ((const struct memstat_group *)b)->pgrp;

	return (x > y) - (x < y);
}

void memstat_sort(struct memstat_group *groups, size_t n)
{
	if (n > 1)
		qsort(groups, n, sizeof(groups[0]), cmp_pgrp);
}

void memstat_add(struct memstat_group *groups, size_t n, const struct proc_entry *p,
		 uint64_t page_size)
{
	struct memstat_group key = { .pgrp = p->pgrp }, *g;

	g = bsearch(&key, groups, n, sizeof(groups[0]), cmp_pgrp);
	if (!g)
		return;
	g->rss_bytes += (uint64_t)p->rss_pages * page_size;
	g->nprocs++;
}

static uint64_t page_size(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (uint64_t)n : 4096;
}


int memstat_groups_at(const char *proc_dir, struct memstat_group *groups, size_t n)
{
	uint64_t psize = page_size();
	struct dirent *de;
	DIR *dir;

	for (size_t i = 0; i < n; i++) {
		groups[i].rss_bytes = 0;
		groups[i].nprocs = 0;
	}
	memstat_sort(groups, n);
	dir = opendir(proc_dir);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		/* A stat line is under 1 KiB even with a 64-byte name in it. */
		char path[300], buf[1024];
		struct proc_entry p;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/stat", de->d_name);
		if (rf_read_at(dirfd(dir), path, buf, sizeof(buf)) <= 0 ||
		    procs_parse_stat(buf, &p) < 0)
			continue;
		memstat_add(groups, n, &p, psize);
	}
	closedir(dir);
	return 0;
}

int memstat_groups(struct memstat_group *groups, size_t n)
{
	return memstat_groups_at("/proc", groups, n);
}

int memstat_group_rss(pid_t pgrp, uint64_t *bytes)
{
	struct memstat_group g = { .pgrp = pgrp };
	int ret = memstat_groups(&g, 1);

	if (ret == 0)
		*bytes = g.rss_bytes;
	return ret;
}

/* Numeric entries of dir, less the descriptor of the listing itself when self. */
static int count_fds(const char *path, bool self)
{
	uint64_t fd;
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (isdigit((unsigned char)de->d_name[0]) &&
		    !(self && dec_parse_str(de->d_name, INT_MAX, &fd) == 0 &&
		      fd == (uint64_t)dirfd(dir)))
			n++;
	closedir(dir);
	return n;
}

int memstat_count_fds(const char *dir)
{
	return count_fds(dir, false);
}

int memstat_self(struct memstat_self *out)
{
	char buf[256];
	uint64_t pages;
	ssize_t n;
	int fds;

	n = rf_read_at(AT_FDCWD, "/proc/self/statm", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (memstat_parse_statm(buf, &pages) < 0)
		return -EINVAL;
	fds = count_fds("/proc/self/fd", true);
	if (fds < 0)
		return fds;
	out->rss_bytes = pages * page_size();
	out->fds = fds;
	return 0;
}

uint64_t memstat_rss_of(const struct memstat_group *groups, size_t n, pid_t pgrp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (groups[mid].pgrp < pgrp)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pgrp <= 0 || lo == n || groups[lo].pgrp != pgrp || groups[lo].nprocs == 0)
		return 0;
	return groups[lo].rss_bytes;
}
