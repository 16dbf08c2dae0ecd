/*
 * sbx_user: --user USER[:GROUP] against /etc/passwd and /etc/group, read directly.
 *
 * No getpwnam or initgroups: those go through NSS, which a static PID 1 cannot load, and
 * inside a container the files are the whole truth anyway. The files are read the way
 * getpwent(3) reads them: one entry a line, malformed lines skipped.
 */
#include "baton/decimal.h"
#include "baton/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Far above any real passwd or group file; a bound so a runaway file cannot exhaust memory. */
#define SBX_DB_MAX (16u << 20)
/* The kernel's NGROUPS_MAX. */
#define SBX_GROUPS_MAX 65536

/* Split line on ':' into exactly n fields. */
static int split_fields(char *line, char **fields, int n)
{
	int i = 0;

	fields[i++] = line;
	for (char *p = line; *p; p++) {
		if (*p != ':')
			continue;
		if (i == n)
			return -EINVAL;
		*p = '\0';
		fields[i++] = p + 1;
	}
	return i == n ? 0 : -EINVAL;
}

/* A decimal id in [0, 2^32 - 2]: (uid_t)-1 means "unchanged" to the kernel. */
static int parse_id(const char *s, uint32_t *out)
{
	uint64_t v;
	int err = dec_parse_str(s, UINT32_MAX - 1, &v);

	if (err < 0)
		return err;
	*out = (uint32_t)v;
	return 0;
}

static bool is_number(const char *s)
{
	uint64_t v;

	return dec_parse_str(s, UINT64_MAX, &v) != -EINVAL;
}

static bool skippable(const char *line)
{
	return line[0] == '\0' || line[0] == '#' || line[0] == '+' || line[0] == '-';
}

int sbx_parse_passwd_line(char *line, struct sbx_pwent *out)
{
	char *f[7];
	uint32_t uid, gid;

	if (skippable(line) || split_fields(line, f, 7) < 0 || !*f[0])
		return -EINVAL;
	if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
		return -EINVAL;
	out->name = f[0];
	out->uid = uid;
	out->gid = gid;
	out->home = f[5];
	return 0;
}

int sbx_parse_group_line(char *line, struct sbx_grent *out)
{
	char *f[4];
	uint32_t gid;

	if (skippable(line) || split_fields(line, f, 4) < 0 || !*f[0])
		return -EINVAL;
	if (parse_id(f[2], &gid) < 0)
		return -EINVAL;
	out->name = f[0];
	out->gid = gid;
	out->members = f[3];
	return 0;
}

/* The whole file, NUL-terminated, in a malloc'd buffer. */
static int read_db(const char *path, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *bigger;

			if (cap >= SBX_DB_MAX) {
				ret = -EFBIG;
				break;
			}
			bigger = realloc(buf, cap * 2 + 1);
			if (!bigger) {
				ret = -ENOMEM;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Iterate over the lines of a buffer, cutting each at its newline. */
static char *next_line(char **cursor)
{
	char *line = *cursor, *nl;

	if (!*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = line + strlen(line);
	}
	return line;
}

static bool member_of(const char *members, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = members; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, name, len) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static int add_group(struct sbx_user *u, gid_t gid)
{
	gid_t *more;

	for (size_t i = 0; i < u->n_groups; i++)
		if (u->groups[i] == gid)
			return 0;
	if (u->n_groups >= SBX_GROUPS_MAX)
		return -E2BIG;
	more = realloc(u->groups, (u->n_groups + 1) * sizeof(*more));
	if (!more)
		return -ENOMEM;
	u->groups = more;
	u->groups[u->n_groups++] = gid;
	return 0;
}

static int find_user(const char *db, bool by_name, const char *name, uid_t uid,
		     struct sbx_user *u, bool *found)
{
	char *copy = strdup(db), *cursor = copy, *line;
	struct sbx_pwent pw;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	*found = false;
	while ((line = next_line(&cursor))) {
		if (sbx_parse_passwd_line(line, &pw) < 0)
			continue;
		if (by_name ? strcmp(pw.name, name) != 0 : pw.uid != uid)
			continue;
		if (strlen(pw.name) > SBX_NAME_MAX || strlen(pw.home) > SBX_HOME_MAX) {
			ret = -ENAMETOOLONG;
			break;
		}
		u->uid = pw.uid;
		u->gid = pw.gid;
		snprintf(u->name, sizeof(u->name), "%s", pw.name);
		snprintf(u->home, sizeof(u->home), "%s", *pw.home ? pw.home : "/");
		*found = true;
		break;
	}
	free(copy);
	return ret;
}

/* Resolve a group name; *found false when group_db has no such name. */
static void find_group(const char *db, const char *name, gid_t *gid, bool *found)
{
	char *copy, *cursor, *line;
	struct sbx_grent gr;

	*found = false;
	if (!db || !(copy = strdup(db)))
		return;
	cursor = copy;
	while ((line = next_line(&cursor))) {
		if (sbx_parse_group_line(line, &gr) == 0 && strcmp(gr.name, name) == 0) {
			*gid = gr.gid;
			*found = true;
			break;
		}
	}
	free(copy);
}

static int collect_groups(const char *db, struct sbx_user *u, bool named)
{
	char *copy, *cursor, *line;
	struct sbx_grent gr;
	int ret;

	if ((ret = add_group(u, u->gid)) < 0)
		return ret;
	if (!named || !db)
		return 0;
	copy = strdup(db);
	if (!copy)
		return -ENOMEM;
	cursor = copy;
	while ((line = next_line(&cursor))) {
		if (sbx_parse_group_line(line, &gr) == 0 && member_of(gr.members, u->name) &&
		    (ret = add_group(u, gr.gid)) < 0)
			break;
	}
	free(copy);
	return ret;
}

int sbx_lookup_user(const char *spec, const char *passwd_path, const char *group_path,
		    struct sbx_user *out, char *err, size_t errlen)
{
	char user[SBX_NAME_MAX + 1], *group = NULL, *colon;
	char *pw_db = NULL, *gr_db = NULL;
	bool found = false, named = false;
	uint32_t id;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!spec || strlen(spec) > SBX_NAME_MAX) {
		snprintf(err, errlen, "--user: '%.64s' is too long", spec ? spec : "");
		return -EINVAL;
	}
	snprintf(user, sizeof(user), "%s", spec);
	colon = strchr(user, ':');
	if (colon) {
		*colon = '\0';
		group = colon + 1;
	}
	if (!*user || (group && !*group) || (group && strchr(group, ':'))) {
		snprintf(err, errlen, "--user: expected USER or USER:GROUP, not '%s'", spec);
		return -EINVAL;
	}

	/* A missing passwd file is only an error when a name must be looked up in it. */
	ret = read_db(passwd_path, &pw_db);
	if (ret < 0 && !(ret == -ENOENT && is_number(user))) {
		snprintf(err, errlen, "--user: cannot read %s: %s", passwd_path, strerror(-ret));
		goto out;
	}
	if (is_number(user)) {
		if (parse_id(user, &id) < 0) {
			snprintf(err, errlen, "--user: uid '%s' is out of range", user);
			ret = -EINVAL;
			goto out;
		}
		ret = pw_db ? find_user(pw_db, false, NULL, id, out, &found) : 0;
		if (ret < 0)
			goto bad_entry;
		if (!found) {
			/* Unknown to passwd: an image may well run a bare uid (OpenShift does). The
			 * group defaults to the same number rather than root's group 0. */
			out->uid = id;
			out->gid = id;
			snprintf(out->name, sizeof(out->name), "%u", id);
			snprintf(out->home, sizeof(out->home), "/");
		}
	} else {
		ret = find_user(pw_db, true, user, 0, out, &found);
		if (ret < 0)
			goto bad_entry;
		if (!found) {
			snprintf(err, errlen, "--user: user '%s' not found in %s", user,
				 passwd_path);
			ret = -EINVAL;
			goto out;
		}
	}
	named = found;

	ret = read_db(group_path, &gr_db);
	if (ret < 0 && !(ret == -ENOENT && (!group || is_number(group)))) {
		snprintf(err, errlen, "--user: cannot read %s: %s", group_path, strerror(-ret));
		goto out;
	}
	ret = 0;
	if (group) {
		if (is_number(group)) {
			if (parse_id(group, &id) < 0) {
				snprintf(err, errlen, "--user: gid '%s' is out of range", group);
				ret = -EINVAL;
				goto out;
			}
			out->gid = id;
		} else {
			find_group(gr_db, group, &out->gid, &found);
			if (!found) {
				snprintf(err, errlen, "--user: group '%s' not found in %s", group,
					 group_path);
				ret = -EINVAL;
				goto out;
			}
		}
	}
	ret = collect_groups(gr_db, out, named);
	if (ret < 0)
		snprintf(err, errlen, "--user: cannot collect the groups of '%s': %s", user,
			 strerror(-ret));
	goto out;

bad_entry:
	snprintf(err, errlen, "--user: the entry of '%s' in %s is too long", user, passwd_path);
out:
	free(pw_db);
	free(gr_db);
	if (ret < 0)
		sbx_user_free(out);
	return ret < 0 ? ret : 0;
}

void sbx_user_free(struct sbx_user *u)
{
	if (!u)
		return;
	free(u->groups);
	u->groups = NULL;
	u->n_groups = 0;
}
