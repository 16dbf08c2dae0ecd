/*
 * procs: the processes of /proc (see include/baton/procs.h).
 */
#include "baton/readfile.h"
#include "baton/decimal.h"
#include "baton/procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Field 24 (rss) of a stat line, from just after the name's ')': 21 fields (state to vsize)
 * to skip. 0 when the line ends before it. */
static unsigned long stat_rss(const char *p)
{
	uint64_t v;

	for (int field = 3; field < 24; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return 0;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		p++;
	return dec_parse_prefix(&p, ULONG_MAX, &v) == 0 ? (unsigned long)v : 0;
}

int procs_parse_stat(const char *line, struct proc_entry *out)
{
	/* The command name may hold spaces and parentheses: it runs from the first '(' to the
	 * last ')'. */
	const char *open = strchr(line, '('), *close = strrchr(line, ')');
	int pid, ppid, pgrp;
	char state;
	size_t len;

	if (!open || !close || close < open || sscanf(line, "%d", &pid) != 1 ||
	    sscanf(close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
		return -EINVAL;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(out->cmd))
		len = sizeof(out->cmd) - 1;
	memcpy(out->cmd, open + 1, len);
	out->cmd[len] = '\0';
	out->pid = pid;
	out->ppid = ppid;
	out->pgrp = pgrp;
	out->state = state;
	out->rss_pages = stat_rss(close + 1);
	return 0;
}

void procs_cmdline(const char *raw, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	while (len > 0 && raw[len - 1] == '\0')
		len--;
	if (len == 0 || outlen == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < outlen; i++)
		out[n++] = raw[i] ? raw[i] : ' ';
	out[n] = '\0';
}

static ssize_t read_small(const char *path, char *buf, size_t len)
{
	return rf_read_at(AT_FDCWD, path, buf, len);
}

int procs_get(pid_t pid, struct proc_entry *out)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return (int)n;
	if (procs_parse_stat(buf, out) < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf))) > 0)
		procs_cmdline(buf, (size_t)n, out->cmd, sizeof(out->cmd));
	return 0;
}

int procs_each(procs_fn fn, void *ctx)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid();

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		struct proc_entry p;
		uint64_t n;
		pid_t pid = dec_parse_str(de->d_name, INT_MAX, &n) == 0 ? (pid_t)n : 0;

		if (pid > 0 && pid != self && procs_get(pid, &p) == 0)
			fn(&p, ctx);
	}
	closedir(dir);
	return 0;
}
