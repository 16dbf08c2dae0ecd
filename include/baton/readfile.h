/*
 * readfile: the one reader of the small files baton learns from: /proc/PID/stat and statm,
 * cgroup controls (memory.max, cpu.max, ...), /proc/self/cgroup.
 */
#ifndef BATON_READFILE_H
#define BATON_READFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Read the file name (relative to dirfd; AT_FDCWD or an absolute name for a path) into buf,
 * NUL-terminated: at most len - 1 bytes, in one read (such files are produced whole by the
 * kernel on each read). Returns the bytes read, or -errno.
 */
ssize_t rf_read_at(int dirfd, const char *name, char *buf, size_t len);

#endif
