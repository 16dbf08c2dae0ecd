/*
 * procs: the processes of /proc, for the end of a stop: whom baton is about to SIGKILL, by
 * pid and command, so that the warning names them.
 *
 * The parsing is pure (procs_parse_stat, procs_cmdline) and unit-tested; procs_each reads
 * /proc and does nothing else.
 */
#ifndef BATON_PROCS_H
#define BATON_PROCS_H

#include <stddef.h>
#include <sys/types.h>

#define PROCS_CMD_LEN 160

struct proc_entry {
	pid_t pid, ppid, pgrp;
	char state;                /* R, S, D, Z, ... */
	unsigned long rss_pages;   /* resident pages (field 24), 0 when the line ends before it */
	char cmd[PROCS_CMD_LEN];   /* the command line, arguments separated by spaces */
};

/* The fields of a /proc/PID/stat line into *out (cmd gets the (comm) name). 0 or -EINVAL;
 * a line that ends before the rss field is still valid, with rss_pages 0. */
int procs_parse_stat(const char *line, struct proc_entry *out);

/* A /proc/PID/cmdline (arguments separated by NULs, len bytes) as one line into out; leaves
 * out unchanged when raw is empty (a kernel thread, a zombie). Truncated to fit. */
void procs_cmdline(const char *raw, size_t len, char *out, size_t outlen);

typedef void (*procs_fn)(const struct proc_entry *p, void *ctx);

/* Calls fn for every process in /proc but the caller. 0, or -errno when /proc cannot be read. */
int procs_each(procs_fn fn, void *ctx);

/* One process, by pid. 0, or -errno (-ENOENT: gone). */
int procs_get(pid_t pid, struct proc_entry *out);

#endif
