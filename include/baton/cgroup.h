/*
 * cgroup: the container's memory limit and the kernel's count of OOM kills, from the memory
 * cgroup of baton (whose workers share it), on cgroup v2 and v1.
 *
 * The limit turns `--max-memory PERCENT%` into bytes and names the limit when a worker is
 * OOM-killed. The OOM-kill counter is what tells a kernel OOM kill from any other SIGKILL:
 * the caller reads it when a worker starts (or at start-up) and again when a worker dies by
 * a SIGKILL that baton did not send; a higher count means the kernel killed it.
 *
 * The parsers are pure and take the files' text; the reading functions take a root prefix
 * (normally "") under which /proc/self and the cgroup mounts are looked up, so that tests
 * run them on fixture trees.
 */
#ifndef BATON_CGROUP_H
#define BATON_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Returned by the limit functions when the cgroup sets no memory limit: not an error, and
 * not a number of bytes either. */
#define CGROUP_UNLIMITED 1

/* v1's memory.limit_in_bytes holds LONG_MAX rounded down to a page (9223372036854771712 with
 * 4 KiB pages) when no limit is set; any value from this one up means the same. */
#define CGROUP_V1_UNLIMITED_FROM (1ULL << 62)

enum cgroup_version { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

/* Where the memory cgroup of the process is. */
struct cgroup_memory {
	enum cgroup_version version;
	char dir[PATH_MAX];   /* the process's memory cgroup directory, root prefix included */
	size_t top_len;       /* dir[0..top_len) is the mount point: walks up stop there */
};

/*
 * The memory cgroup's path in the text of /proc/PID/cgroup: for CGROUP_V2 the "0::PATH"
 * line, for CGROUP_V1 the line whose controller list holds "memory" ("4:memory:/PATH",
 * "4:memory,foo:/PATH"). Copies PATH into path. 0, -ENOENT (no such line), -ENAMETOOLONG.
 */
int cgroup_parse_self(const char *text, enum cgroup_version v, char *path, size_t len);

/*
 * From the text of /proc/PID/mountinfo, the directory of the cgroup at cgroup_path (as
 * cgroup_parse_self gave it): for CGROUP_V2 a "cgroup2" mount, for CGROUP_V1 a "cgroup"
 * mount with "memory" in its super options. The mount's root (the fourth field) is the part
 * of the hierarchy it shows: a mount whose root holds cgroup_path gives
 * prefix + mount point + the rest of the path; without one (inside a container the path
 * may name the host's view of a cgroup that the container sees as its mount root), the
 * first such mount's point itself. Octal escapes (\040) in the fields are decoded. Fills
 * out->version, out->dir and out->top_len. 0, -ENOENT (no such mount), -ENAMETOOLONG.
 */
int cgroup_parse_mountinfo(const char *text, enum cgroup_version v, const char *cgroup_path,
			   const char *prefix, struct cgroup_memory *out);

/*
 * A limit file's text: v2 memory.max ("max" or bytes), v1 memory.limit_in_bytes (bytes, at
 * least CGROUP_V1_UNLIMITED_FROM meaning none). 0 with *bytes set, CGROUP_UNLIMITED, or
 * -EINVAL. A trailing newline is allowed.
 */
int cgroup_parse_limit(const char *text, uint64_t *bytes);

/*
 * The "oom_kill N" line of v2 memory.events or v1 memory.oom_control into *count.
 * 0, -ENOENT (no such line: a v1 kernel before 4.13), -EINVAL (a malformed count).
 */
int cgroup_parse_oom_kills(const char *text, uint64_t *count);

/*
 * The memory cgroup of this process, from ROOT/proc/self/cgroup and ROOT/proc/self/mountinfo
 * (root "" for the real system). A v1 memory hierarchy is preferred when both exist: on a
 * hybrid system the memory controller is there, and the v2 mount has none. When the
 * cgroup's directory does not exist (a container without its own cgroup namespace), the
 * mount point is used. 0, or -ENOENT (no memory cgroup mounted), -errno.
 */
int cgroup_memory_find(const char *root, struct cgroup_memory *out);

/*
 * The memory limit that applies to the cgroup: the smallest of the limit files from its
 * directory up to the mount point, since the kernel enforces every ancestor's limit (a
 * Kubernetes pod's limit may sit above the container's cgroup). 0 with *bytes set,
 * CGROUP_UNLIMITED when the files say no limit, -ENOENT when no level has a limit file
 * (a root cgroup, or a v2 hierarchy without the memory controller), -errno.
 */
int cgroup_memory_limit(const struct cgroup_memory *cg, uint64_t *bytes);

/*
 * The count of OOM kills of processes in the cgroup (its own directory: both versions count
 * a kill in the victim's cgroup, where baton's workers are). 0 with *count set, -ENOENT (no
 * counter: a root cgroup, a v1 kernel before 4.13), -errno.
 */
int cgroup_oom_kills(const struct cgroup_memory *cg, uint64_t *count);

#endif
