/*
 * sandbox: the worker policy, from options to what the child does before exec (see
 * include/baton/sandbox.h). Parsing lives in sbx_caps.c, sbx_user.c and sbx_profile.c, the
 * seccomp compiler in sbx_seccomp.c.
 */
#include "baton/sandbox.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baton/config.h"
#include "sbx_int.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* A profile is a hand-written text file: anything larger is a mistake (a wrong path). */
#define SBX_PROFILE_MAX (1u << 20)

#define CAPBIT(c) (UINT64_C(1) << (c))

struct sbx_policy {
	bool has_user;
	struct sbx_user user;

	enum sbx_caps_mode caps_mode;
	uint64_t caps;

	char seccomp[256];           /* "off", "default" or the profile path, for messages */
	enum sbx_action action;      /* of deny rules */
	struct sbx_bpf bpf;          /* len 0: no filter */
	char *unknown;

	bool nnp;
	bool change_id;      /* baton can switch users: capng_change_id (or setres[ug]id) */
	bool set_groups;     /* baton can set supplementary groups */
	bool drop_bounding;  /* baton has CAP_SETPCAP: the bounding set can shrink */
};

/* ---- start-up ---- */

static int read_profile(const char *path, char **out, char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = malloc(SBX_PROFILE_MAX + 1);
	int fd, ret = 0;

	if (!buf) {
		snprintf(err, errlen, "--seccomp: out of memory");
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "--seccomp: cannot read profile '%s': %s", path,
			 strerror(errno));
		free(buf);
		return ret;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, SBX_PROFILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "--seccomp: cannot read profile '%s': %s", path,
				 strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SBX_PROFILE_MAX) {
			ret = -EFBIG;
			snprintf(err, errlen, "--seccomp: profile '%s' is larger than %u bytes",
				 path, SBX_PROFILE_MAX);
			break;
		}
	}
	close(fd);
	if (ret == 0 && memchr(buf, '\0', len)) {
		snprintf(err, errlen, "--seccomp: profile '%s' is not a text file", path);
		ret = -EINVAL;
	}
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int prepare_seccomp(struct sbx_policy *p, const struct config *cfg, char *err,
			   size_t errlen)
{
	const char *which = cfg->seccomp && *cfg->seccomp ? cfg->seccomp : "default";
	const char *action = cfg->seccomp_action && *cfg->seccomp_action ? cfg->seccomp_action
									   : "errno";
	struct sbx_profile prof;
	bool builtin = strcmp(which, "default") == 0;
	char *text = NULL;
	int ret;

	if (sbx_parse_action(action, &p->action) < 0 || p->action == SBX_ALLOW) {
		snprintf(err, errlen, "--seccomp-action: '%s' is not one of errno, kill, log",
			 action);
		return -EINVAL;
	}
	snprintf(p->seccomp, sizeof(p->seccomp), "%s", which);
	if (strcmp(which, "off") == 0)
		return 0;
	if (!builtin && (ret = read_profile(which, &text, err, errlen)) < 0)
		return ret;
	ret = sbx_parse_profile(builtin ? sbx_default_profile : text,
				builtin ? "default profile" : which, &prof, err, errlen);
	free(text);
	if (ret < 0)
		return ret;
	ret = sbx_compile(&prof, builtin, p->action, builtin ? "default profile" : which,
			  &p->bpf, &p->unknown, err, errlen);
	sbx_profile_free(&prof);
	return ret;
}

/* What baton itself holds decides what the child can do; fail now rather than in every
 * worker. */
static int check_privileges(struct sbx_policy *p, char *err, size_t errlen)
{
	bool can_setuid, can_setgid;

	if (capng_get_caps_process() < 0) {
		int e = errno ? errno : EIO;

		snprintf(err, errlen, "cannot read baton's own capabilities: %s", strerror(e));
		return -e;
	}
	can_setuid = capng_have_capability(CAPNG_PERMITTED, CAP_SETUID) == 1;
	can_setgid = capng_have_capability(CAPNG_PERMITTED, CAP_SETGID) == 1;
	p->drop_bounding = capng_have_capability(CAPNG_PERMITTED, CAP_SETPCAP) == 1;

	if (p->has_user) {
		bool same = p->user.uid == getuid() && p->user.uid == geteuid() &&
			    p->user.gid == getgid() && p->user.gid == getegid();

		p->change_id = can_setuid && can_setgid;
		p->set_groups = can_setgid;
		if (!same && !p->change_id) {
			snprintf(err, errlen, "--user %s: baton cannot switch users: it lacks %s",
				 p->user.name, can_setuid ? "CAP_SETGID" : "CAP_SETUID");
			return -EPERM;
		}
	}
	if (p->caps_mode == SBX_CAPS_LIST) {
		for (int c = 0; c < 64; c++) {
			char name[64];

			if (!(p->caps & CAPBIT(c)) ||
			    capng_have_capability(CAPNG_PERMITTED, (unsigned)c) == 1)
				continue;
			sbx_format_caps(CAPBIT(c), name, sizeof(name));
			snprintf(err, errlen,
				 "--caps: baton itself does not have CAP_%s, so its workers cannot "
				 "keep it", name);
			return -EPERM;
		}
	}
	return 0;
}

/* The whole preparation, in whichever process runs it. */
static int prepare_here(struct sbx_policy **out, const struct config *cfg, char *err,
			size_t errlen)
{
	struct sbx_policy *p = calloc(1, sizeof(*p));
	int ret;

	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "sandbox: out of memory");
		return -ENOMEM;
	}
	ret = sbx_parse_caps(cfg->caps ? cfg->caps : "none", &p->caps_mode, &p->caps, err,
			     errlen);
	if (ret < 0)
		goto fail;
	ret = prepare_seccomp(p, cfg, err, errlen);
	if (ret < 0)
		goto fail;
	if (cfg->user && *cfg->user) {
		ret = sbx_lookup_user(cfg->user, "/etc/passwd", "/etc/group", &p->user, err,
				      errlen);
		if (ret < 0)
			goto fail;
		p->has_user = true;
	}
	ret = check_privileges(p, err, errlen);
	if (ret < 0)
		goto fail;
	/* Any restriction at all also closes the setuid-binary and file-capability doors; with
	 * nothing restricted the worker must be exactly as it would be without baton. */
	p->nnp = p->has_user || p->caps_mode != SBX_CAPS_ALL || p->bpf.len > 0;
	*out = p;
	return 0;

fail:
	sbx_free(p);
	return ret;
}

/*
 * The policy travels from the preparing child as: the result and the error line, the policy
 * struct itself (the same binary, so the same layout; its pointers are meaningless here),
 * then what the pointers pointed at: groups, BPF instructions, the unknown names.
 */
struct sbx_wire {
	int ret;
	char err[512];
	size_t unknown_len;
	struct sbx_policy policy;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static __attribute__((noreturn)) void prepare_child(int fd, const struct config *cfg)
{
	static struct sbx_wire w; /* static: the child's stack stays small */
	struct sbx_policy *p = NULL;
	int bad = 0;

	w.ret = prepare_here(&p, cfg, w.err, sizeof(w.err));
	if (p) {
		w.policy = *p;
		w.unknown_len = p->unknown ? strlen(p->unknown) : 0;
	}
	bad |= write_all(fd, &w, sizeof(w));
	if (p) {
		bad |= write_all(fd, p->user.groups, p->user.n_groups * sizeof(gid_t));
		bad |= write_all(fd, p->bpf.insns, p->bpf.len * sizeof(struct sock_filter));
		bad |= write_all(fd, p->unknown ? p->unknown : "", w.unknown_len);
	}
	_exit(bad ? 1 : 0);
}

static int receive(int fd, struct sbx_policy **out, char *err, size_t errlen)
{
	struct sbx_wire w; /* on the stack: a page of .bss would stay resident in PID 1 */
	struct sbx_policy *p;

	if (read_all(fd, &w, sizeof(w)) < 0)
		return -EIO;
	if (w.ret < 0) {
		snprintf(err, errlen, "%s", w.err);
		return w.ret;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = w.policy;
	p->user.groups = NULL;
	p->bpf.insns = NULL;
	p->unknown = NULL;
	if ((p->user.n_groups &&
	     !(p->user.groups = malloc(p->user.n_groups * sizeof(gid_t)))) ||
	    (p->bpf.len && !(p->bpf.insns = malloc(p->bpf.len * sizeof(struct sock_filter)))) ||
	    (w.unknown_len && !(p->unknown = calloc(1, w.unknown_len + 1)))) {
		sbx_free(p);
		return -ENOMEM;
	}
	if (read_all(fd, p->user.groups, p->user.n_groups * sizeof(gid_t)) < 0 ||
	    read_all(fd, p->bpf.insns, p->bpf.len * sizeof(struct sock_filter)) < 0 ||
	    read_all(fd, p->unknown, w.unknown_len) < 0) {
		sbx_free(p);
		return -EIO;
	}
	*out = p;
	return 0;
}

/*
 * The preparation runs in a short-lived child that hands back the result: libseccomp's code,
 * its heap and the passwd and group files are then touched by that child only, and PID 1
 * keeps nothing of them but the few kilobytes of the policy for the container's life. If
 * there is no child to be had, the same work is done here.
 */
int sbx_prepare(struct sbx_policy **out, const struct config *cfg, char *err, size_t errlen)
{
	int fds[2], ret, status;
	pid_t pid;

	*out = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return prepare_here(out, cfg, err, errlen);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return prepare_here(out, cfg, err, errlen);
	}
	if (pid == 0) {
		/* A name of its own, for ps and for whoever counts baton's children. */
		prctl(PR_SET_NAME, "baton-sandbox", 0, 0, 0);
		close(fds[0]);
		prepare_child(fds[1], cfg);
	}
	close(fds[1]);
	ret = receive(fds[0], out, err, errlen);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == -EIO || ret == -ENOMEM)
		snprintf(err, errlen, "sandbox: the process preparing the policy failed: %s",
			 strerror(-ret));
	return ret;
}

void sbx_free(struct sbx_policy *p)
{
	if (!p)
		return;
	sbx_user_free(&p->user);
	free(p->bpf.insns);
	free(p->unknown);
	free(p);
}

const char *sbx_home(const struct sbx_policy *p)
{
	return p && p->has_user ? p->user.home : NULL;
}

const char *sbx_user_name(const struct sbx_policy *p)
{
	return p && p->has_user ? p->user.name : NULL;
}

const void *sbx_filter(const struct sbx_policy *p, size_t *len)
{
	*len = p ? p->bpf.len : 0;
	return *len ? p->bpf.insns : NULL;
}

const char *sbx_unknown_syscalls(const struct sbx_policy *p)
{
	return p ? p->unknown : NULL;
}

int sbx_describe(const struct sbx_policy *p, char *buf, size_t len)
{
	char user[SBX_NAME_MAX + 48] = "-", caps[1024] = "none", seccomp[sizeof(p->seccomp) + 16];
	const char *bounding = "";
	int n;

	if (!p) {
		n = snprintf(buf, len, "user=- caps=all seccomp=off nnp=0");
		return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
	}
	if (p->has_user)
		snprintf(user, sizeof(user), "%s(%u:%u)", p->user.name, (unsigned)p->user.uid,
			 (unsigned)p->user.gid);
	if (p->caps_mode == SBX_CAPS_ALL)
		snprintf(caps, sizeof(caps), "all");
	else
		sbx_format_caps(p->caps, caps, sizeof(caps));
	if (p->bpf.len == 0)
		snprintf(seccomp, sizeof(seccomp), "off");
	else
		snprintf(seccomp, sizeof(seccomp), "%s(%s)", p->seccomp,
			 sbx_action_name(p->action));
	if (p->caps_mode != SBX_CAPS_ALL && !p->drop_bounding)
		bounding = " bounding=unchanged";
	n = snprintf(buf, len, "user=%s caps=%s seccomp=%s nnp=%d%s", user, caps, seccomp, p->nnp,
		     bounding);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---- baton itself ---- */

/* Raw capget/capset: PID 1 stays clear of libcap-ng, which reads /proc/self/status with stdio
 * and sscanf, code and buffers that would otherwise stay resident in it. */
static int caps_get(uint64_t *eff, uint64_t *perm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int sbx_restrict_self(const struct sbx_policy *p, bool need_bind, char *err, size_t errlen)
{
	uint64_t keep = CAPBIT(CAP_KILL) | CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID) |
			CAPBIT(CAP_SETPCAP);
	uint64_t eff = 0, perm = 0, inh = 0, bnd = 0;
	int last = -1, ret;

	if (!p || p->caps_mode == SBX_CAPS_ALL)
		return 0;
	if (need_bind)
		keep |= CAPBIT(CAP_NET_BIND_SERVICE);
	keep |= p->caps;
	if ((ret = caps_get(&eff, &perm, &inh)) < 0) {
		snprintf(err, errlen, "cannot read baton's own capabilities: %s", strerror(-ret));
		return ret;
	}
	/* The bounding set, and the last capability this kernel knows (EINVAL past it). */
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0);

		if (r < 0)
			break;
		last = c;
		if (r == 1)
			bnd |= CAPBIT(c);
	}
	/* Effective and permitted: what baton keeps of what it has; inheritable: what the
	 * workers keep, as ambient raising in a child needs it there. The sets first: that also
	 * makes a permitted CAP_SETPCAP effective, which dropping from the bounding set needs. */
	if ((ret = caps_set(keep & perm, keep & perm, p->caps & perm)) < 0) {
		snprintf(err, errlen, "cannot reduce baton's capabilities: %s", strerror(-ret));
		return ret;
	}
	if (!(perm & CAPBIT(CAP_SETPCAP)))
		return 0;
	for (int c = 0; c <= last; c++) {
		if (!(keep & bnd & CAPBIT(c)) && (bnd & CAPBIT(c)) &&
		    prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot reduce baton's bounding set: %s",
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* ---- in the child ---- */

/* libcap-ng returns its own codes; the failing system call left errno. */
static int capng_fail(const char *what, const char **step)
{
	*step = what;
	return errno > 0 ? -errno : -EPERM;
}

static int apply_caps(const struct sbx_policy *p, const char **step)
{
	/* libcap-ng keeps per-thread state that may have been filled in the parent, pid
	 * included: point it at this process before anything else. */
	capng_setpid((int)getpid());
	capng_clear(CAPNG_SELECT_BOTH);
	for (int c = 0; c < 64; c++) {
		if ((p->caps & CAPBIT(c)) &&
		    capng_update(CAPNG_ADD,
				 CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE |
					 CAPNG_BOUNDING_SET,
				 (unsigned)c) < 0)
			return capng_fail("capng_update", step);
	}
	/* The bounding set is what the worker could ever get back through exec (root's file
	 * capabilities): only the kept ones. */
	errno = 0;
	if (p->drop_bounding && capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		return capng_fail("bounding", step);
	errno = 0;
	if (p->has_user && p->change_id) {
		/* Keeps the kept capabilities across the uid change and drops the rest, CAP_SETUID,
		 * CAP_SETGID and CAP_SETPCAP included. */
		if (capng_change_id((int)p->user.uid, (int)p->user.gid, CAPNG_NO_FLAG) < 0)
			return capng_fail("capng_change_id", step);
	} else if (capng_apply(CAPNG_SELECT_CAPS) < 0) {
		return capng_fail("capset", step);
	}
	/* A uid change clears the ambient set, so this comes after it. Ambient capabilities
	 * survive the exec of a program without file capabilities: that is how a non-root
	 * worker keeps them. Whatever baton itself had as ambient goes first. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && p->caps) {
		*step = "ambient";
		return -errno;
	}
	for (int c = 0; c < 64; c++) {
		if ((p->caps & CAPBIT(c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)c, 0, 0) < 0) {
			*step = "ambient";
			return -errno;
		}
	}
	return 0;
}

static int load_filter(const struct sbx_bpf *bpf)
{
	struct sock_fprog prog = { .len = bpf->len, .filter = bpf->insns };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Kernels before 3.17 have only the prctl. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return 0;
	return -errno;
}

int sbx_apply(const struct sbx_policy *p, const char **step)
{
	int ret;

	*step = NULL;
	if (!p)
		return 0;
	if (p->has_user && p->set_groups &&
	    setgroups(p->user.n_groups, p->user.groups) < 0) {
		*step = "setgroups";
		return -errno;
	}
	if (p->caps_mode != SBX_CAPS_ALL) {
		if ((ret = apply_caps(p, step)) < 0)
			return ret;
	} else if (p->has_user && p->change_id) {
		/* --caps all: capabilities are left to the kernel's rules, which give a non-root
		 * user none after exec. */
		if (setresgid(p->user.gid, p->user.gid, p->user.gid) < 0) {
			*step = "setgid";
			return -errno;
		}
		if (setresuid(p->user.uid, p->user.uid, p->user.uid) < 0) {
			*step = "setuid";
			return -errno;
		}
	}
	if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*step = "no_new_privs";
		return -errno;
	}
	/* Last: every call above would otherwise have to pass the filter. */
	if (p->bpf.len > 0 && (ret = load_filter(&p->bpf)) < 0) {
		*step = "seccomp";
		return ret;
	}
	return 0;
}
