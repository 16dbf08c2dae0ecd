/*
 * cgroup: memory limit and OOM-kill counter (see include/baton/cgroup.h).
 *
 * Unlike cpus.c, the mounts are found from mountinfo: the memory limit is also used to name
 * an OOM kill, so the cgroup read must be the one the kernel charges, not a guess at a
 * well-known path.
 */
#include "baton/readfile.h"
#include "baton/decimal.h"
#include "baton/cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mountinfo on a host with many containers runs to hundreds of kilobytes; past this, the
 * file is not one baton should be reading. */
#define MAX_TEXT (4 << 20)
/* Words kept of one mountinfo line: six fixed, a few optional ("shared:N"), "-", three. */
#define MAX_WORDS 32

/* ---- pure parsers ---- */

/* Decimal digits at *p into *out, advancing *p. 0, or -EINVAL (no digit, or past 64 bits). */
static int parse_u64(const char **p, uint64_t *out)
{
	return dec_parse_prefix(p, UINT64_MAX, out) < 0 ? -EINVAL : 0;
}

/* Does the comma-separated list [list, list + len) hold exactly word? */
static bool list_has(const char *list, size_t len, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = (size_t)((comma ? comma : end) - p);

		if (n == wlen && memcmp(p, word, n) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

int cgroup_parse_self(const char *text, enum cgroup_version v, char *path, size_t len)
{
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n'), *end = eol ? eol : line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;

		if (c2) {
			size_t ctl_len = (size_t)(c2 - c1 - 1), plen = (size_t)(end - c2 - 1);
			bool match = v == CGROUP_V2
					     ? c1 - line == 1 && line[0] == '0' && ctl_len == 0
					     : list_has(c1 + 1, ctl_len, "memory");

			if (match && plen > 0) {
				if (plen >= len)
					return -ENAMETOOLONG;
				memcpy(path, c2 + 1, plen);
				path[plen] = '\0';
				return 0;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

/* A mountinfo field with its octal escapes (\040 for a space, \011, \012, \134) decoded. */
static int unescape(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Is root a whole-component prefix of path ("/" is one of every absolute path)? A path
 * that climbs out with ".." lies outside every mount's root. */
static bool under_root(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (strstr(path, "/..") || strncmp(path, "..", 2) == 0)
		return false;
	if (strcmp(root, "/") == 0)
		return path[0] == '/';
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* out->dir = prefix + mnt + rel, without trailing slashes past the mount point. */
static int join(struct cgroup_memory *out, const char *prefix, const char *mnt, const char *rel)
{
	size_t top;
	int n;

	n = snprintf(out->dir, sizeof(out->dir), "%s%s", prefix, mnt);
	if (n < 0 || (size_t)n >= sizeof(out->dir))
		return -ENAMETOOLONG;
	top = (size_t)n;
	while (top > 1 && out->dir[top - 1] == '/')
		out->dir[--top] = '\0';
	n = snprintf(out->dir + top, sizeof(out->dir) - top, "%s", rel);
	if (n < 0 || (size_t)n >= sizeof(out->dir) - top)
		return -ENAMETOOLONG;
	for (size_t len = strlen(out->dir); len > top && out->dir[len - 1] == '/'; len--)
		out->dir[len - 1] = '\0';
	out->top_len = top;
	return 0;
}

int cgroup_parse_mountinfo(const char *text, enum cgroup_version v, const char *cgroup_path,
			   const char *prefix, struct cgroup_memory *out)
{
	char first_mnt[PATH_MAX] = "";
	bool have_first = false;
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n'), *end = eol ? eol : line + strlen(line);
		const char *word[MAX_WORDS];
		char root[PATH_MAX], mnt[PATH_MAX];
		size_t wlen[MAX_WORDS], n = 0, dash = 0;
		const char *p = line;

		line = eol ? eol + 1 : NULL;
		while (p < end && n < MAX_WORDS) {
			const char *sp;

			while (p < end && *p == ' ')
				p++;
			if (p >= end)
				break;
			sp = memchr(p, ' ', (size_t)(end - p));
			word[n] = p;
			wlen[n] = (size_t)((sp ? sp : end) - p);
			if (wlen[n] == 1 && *p == '-' && dash == 0 && n >= 6)
				dash = n;
			n++;
			p += wlen[n - 1];
		}
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		if (dash == 0 || dash + 1 >= n)
			continue;
		if (v == CGROUP_V2) {
			if (wlen[dash + 1] != 7 || memcmp(word[dash + 1], "cgroup2", 7) != 0)
				continue;
		} else {
			if (wlen[dash + 1] != 6 || memcmp(word[dash + 1], "cgroup", 6) != 0 ||
			    dash + 3 >= n || !list_has(word[dash + 3], wlen[dash + 3], "memory"))
				continue;
		}

		if (unescape(word[3], wlen[3], root, sizeof(root)) < 0 ||
		    unescape(word[4], wlen[4], mnt, sizeof(mnt)) < 0)
			return -ENAMETOOLONG;
		if (!have_first) {
			memcpy(first_mnt, mnt, sizeof(mnt));
			have_first = true;
		}
		if (cgroup_path && under_root(root, cgroup_path)) {
			const char *rel = strcmp(root, "/") == 0 ? cgroup_path
								 : cgroup_path + strlen(root);

			out->version = v;
			return join(out, prefix ? prefix : "", mnt, rel);
		}
	}
	if (!have_first)
		return -ENOENT;
	out->version = v;
	return join(out, prefix ? prefix : "", first_mnt, "");
}

int cgroup_parse_limit(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t v = 0;

	if (!text)
		return -EINVAL;
	if (strncmp(text, "max", 3) == 0) {
		p = text + 3;
		return *p == '\0' || strcmp(p, "\n") == 0 ? CGROUP_UNLIMITED : -EINVAL;
	}
	if (parse_u64(&p, &v) < 0)
		return -EINVAL;
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	if (v >= CGROUP_V1_UNLIMITED_FROM)
		return CGROUP_UNLIMITED;
	*bytes = v;
	return 0;
}

int cgroup_parse_oom_kills(const char *text, uint64_t *count)
{
	static const char key[] = "oom_kill ";
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n');

		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			const char *p = line + sizeof(key) - 1;
			uint64_t v = 0;

			if (parse_u64(&p, &v) < 0)
				return -EINVAL;
			if (*p != '\n' && *p != '\0')
				return -EINVAL;
			*count = v;
			return 0;
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

/* ---- reading ---- */

/* A whole file into a malloc'ed, NUL-terminated buffer (*out, freed by the caller). Files of
 * /proc report a size of 0, so the buffer grows as the reads go. 0 or -errno. */
static int read_text(const char *path, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL, *bigger;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (!buf || len + 1 >= cap) {
			if (buf)
				cap *= 2;
			if (cap > MAX_TEXT) {
				ret = -EFBIG;
				goto out;
			}
			bigger = realloc(buf, cap);
			if (!bigger) {
				ret = -ENOMEM;
				goto out;
			}
			buf = bigger;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
out:
	close(fd);
	if (ret < 0)
		free(buf);
	else
		*out = buf;
	return ret;
}

/* A file of a cgroup directory, small enough for buf. 0 or -errno. */
static int read_cgroup_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX + 32];
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = rf_read_at(AT_FDCWD, path, buf, len);
	return n < 0 ? (int)n : 0;
}

static int find_version(const char *root, const char *self, const char *mountinfo,
			enum cgroup_version v, struct cgroup_memory *out)
{
	char path[PATH_MAX];
	struct stat st;
	int ret;

	ret = cgroup_parse_self(self, v, path, sizeof(path));
	if (ret < 0)
		return ret;
	ret = cgroup_parse_mountinfo(mountinfo, v, path, root, out);
	if (ret < 0)
		return ret;
	if (stat(out->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		out->dir[out->top_len] = '\0';
	return 0;
}

int cgroup_memory_find(const char *root, struct cgroup_memory *out)
{
	char path[PATH_MAX], *self = NULL, *mountinfo = NULL;
	int ret;

	if (!root)
		root = "";
	if (snprintf(path, sizeof(path), "%s/proc/self/cgroup", root) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((ret = read_text(path, &self)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
	if ((ret = read_text(path, &mountinfo)) < 0)
		goto out;
	ret = find_version(root, self, mountinfo, CGROUP_V1, out);
	if (ret < 0)
		ret = find_version(root, self, mountinfo, CGROUP_V2, out);
out:
	free(self);
	free(mountinfo);
	return ret;
}

int cgroup_memory_limit(const struct cgroup_memory *cg, uint64_t *bytes)
{
	const char *name = cg->version == CGROUP_V2 ? "memory.max" : "memory.limit_in_bytes";
	char dir[PATH_MAX], buf[64], *slash;
	uint64_t best = 0;
	bool found = false, limited = false;
	int err = -ENOENT;

	if (cg->version == CGROUP_NONE)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", cg->dir);
	for (;;) {
		uint64_t v;
		int ret = read_cgroup_file(dir, name, buf, sizeof(buf));

		if (ret == 0) {
			ret = cgroup_parse_limit(buf, &v);
			if (ret < 0)
				return ret;
			found = true;
			if (ret == 0 && (!limited || v < best)) {
				best = v;
				limited = true;
			}
		} else if (ret != -ENOENT) {
			err = ret;
		}
		if (strlen(dir) <= cg->top_len)
			break;
		slash = strrchr(dir + cg->top_len, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	if (limited) {
		*bytes = best;
		return 0;
	}
	return found ? CGROUP_UNLIMITED : err;
}

int cgroup_oom_kills(const struct cgroup_memory *cg, uint64_t *count)
{
	const char *name = cg->version == CGROUP_V2 ? "memory.events" : "memory.oom_control";
	char buf[512];
	int ret;

	if (cg->version == CGROUP_NONE)
		return -ENOENT;
	ret = read_cgroup_file(cg->dir, name, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	return cgroup_parse_oom_kills(buf, count);
}
