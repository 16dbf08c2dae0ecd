/*
 * sandbox: what a worker may do. An unprivileged user, a reduced capability set, no_new_privs
 * and a seccomp filter, all resolved once at start-up and applied in every worker between
 * fork and exec.
 *
 * Everything that can fail for a reason the user can fix (an unknown user, a misspelt
 * capability, a bad profile line) fails in sbx_prepare, before any worker starts, with one
 * line that names the culprit. What is left for the child (sbx_apply) is a fixed sequence of
 * system calls over data prepared in advance: no parsing and no name lookups after fork.
 *
 * Users and groups come from /etc/passwd and /etc/group read directly, never through NSS:
 * baton is PID 1 of a container, often a static binary, where glibc cannot load NSS modules.
 *
 * The seccomp filter is built with libseccomp at start-up and kept as a plain BPF program;
 * the child loads it with one seccomp(2) call. Capabilities are changed with libcap-ng in the
 * workers, with capget/capset in baton itself.
 *
 * The whole preparation runs in a short-lived child of baton, named "baton-sandbox", that
 * hands the policy back through a pipe: libseccomp's code and heap, the passwd and group
 * files and libcap-ng's /proc reads are then never touched by PID 1, which keeps a few
 * kilobytes of policy for the container's life. That child takes a pid of the namespace
 * (the first worker is pid 3, not 2).
 */
#ifndef BATON_SANDBOX_H
#define BATON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct sbx_policy; /* opaque */

/*
 * Resolve cfg->user, cfg->caps, cfg->seccomp and cfg->seccomp_action into a policy. NULL
 * fields mean their defaults (no user, "none", "default", "errno"). Also checks that baton
 * itself holds what the policy needs (CAP_SETUID/CAP_SETGID to switch users, every kept
 * capability in its permitted set), so that a worker never fails later for a reason known now.
 * On error returns -errno (-EINVAL for bad input) and writes ONE line naming the problem to
 * err: for profile files "FILE:LINE: ... 'WORD' ...". baton then exits with status 2.
 */
int sbx_prepare(struct sbx_policy **out, const struct config *cfg, char *err, size_t errlen);

/*
 * In the forked child, after process group, parent-death signal and environment, right
 * before exec. In order: supplementary groups, uid/gid with the kept capabilities
 * (libcap-ng; the bounding set reduced to the kept ones), ambient capabilities, no_new_privs,
 * the seccomp filter last. Returns 0, or -errno with *step naming the step that failed
 * ("setgroups", "capng_update", "bounding", "capng_change_id", "capset", "setgid", "setuid",
 * "ambient", "no_new_privs", "seccomp"). A NULL policy, or --seccomp off --caps all without a user,
 * does nothing at all. Uses no stdio; meant for a single-threaded parent's child.
 */
int sbx_apply(const struct sbx_policy *p, const char **step);

/* HOME of the target user (for the worker's environment), or NULL when no user is set.
 * A numeric uid that /etc/passwd does not know gets "/". */
const char *sbx_home(const struct sbx_policy *p);

/* The target user's name for USER and LOGNAME (the decimal uid when /etc/passwd does not
 * know it), or NULL when no user is set. */
const char *sbx_user_name(const struct sbx_policy *p);

/*
 * Reduce baton's own capabilities, once its sockets are bound: it keeps CAP_KILL (signal
 * workers of another user), CAP_SETUID, CAP_SETGID and CAP_SETPCAP (switch users and shrink
 * the bounding set in each child), CAP_NET_BIND_SERVICE when need_bind (it must bind again
 * later), and the capabilities the workers keep, which also go to the inheritable set so that
 * a child can raise them as ambient. Effective, permitted, inheritable and (with CAP_SETPCAP)
 * bounding sets are all reduced. With caps "all" nothing is dropped. A capability baton does
 * not have is simply not kept. Returns 0 or -errno with one line in err.
 */
int sbx_restrict_self(const struct sbx_policy *p, bool need_bind, char *err, size_t errlen);

/* NULL-safe. */
void sbx_free(struct sbx_policy *p);

/*
 * One line for the start-up log, e.g.
 * "user=nobody(65534:65534) caps=none seccomp=default(errno) nnp=1". A bounding set that
 * cannot be reduced (baton lacks CAP_SETPCAP) adds " bounding=unchanged". 0, or -ENOSPC
 * when buf was too small (the text is cut, and NUL-terminated when len > 0).
 */
int sbx_describe(const struct sbx_policy *p, char *buf, size_t len);

/* System call names of the profile that libseccomp does not know on any architecture of the
 * filter, space-separated (they were skipped), or NULL when there are none. For a warning:
 * usually a typo, sometimes a call newer than this build. */
const char *sbx_unknown_syscalls(const struct sbx_policy *p);

/* The compiled seccomp filter: *len instructions of 8 bytes each (a struct sock_filter), or
 * NULL and 0 when there is none. For tests: the policy sbx_prepare hands back from the child
 * that built it must hold the very program the compiler made. */
const void *sbx_filter(const struct sbx_policy *p, size_t *len);

/* ---- the pure parts, exposed for tests ---- */

/* Capability lists. */
enum sbx_caps_mode { SBX_CAPS_NONE, SBX_CAPS_ALL, SBX_CAPS_LIST };

/*
 * "none", "all", or names separated by commas and/or spaces, with or without the CAP_
 * prefix, in any case ("NET_BIND_SERVICE,cap_net_raw"). An empty or blank text is "none".
 * *mask gets bit N for capability N. Unknown names, and "none"/"all" mixed with names, are
 * -EINVAL with one line naming the word.
 */
int sbx_parse_caps(const char *text, enum sbx_caps_mode *mode, uint64_t *mask, char *err,
		   size_t errlen);

/* "NET_BIND_SERVICE,NET_RAW" (without CAP_, in capability order), "none" for 0. */
int sbx_format_caps(uint64_t mask, char *buf, size_t len);

/* Seccomp actions, for --seccomp-action, `default` lines and deny rules. */
enum sbx_action { SBX_ALLOW, SBX_ERRNO, SBX_KILL, SBX_LOG };

/* "allow", "errno", "kill", "log" (any case) -> action. 0 or -EINVAL. */
int sbx_parse_action(const char *text, enum sbx_action *out);
const char *sbx_action_name(enum sbx_action a);

#define SBX_SYSCALL_NAME_MAX 63

struct sbx_rule {
	char name[SBX_SYSCALL_NAME_MAX + 1];
	bool deny;  /* deny: the --seccomp-action; else allow */
	int line;   /* where it was given, for messages */
};

/* A parsed profile: syntax only, names not yet resolved. */
struct sbx_profile {
	enum sbx_action def;
	struct sbx_rule *rules;
	size_t n_rules;
	size_t cap_rules;
};

/*
 * Parse a profile text. One rule a line; `#` starts a comment; words are separated by
 * blanks or commas:
 *   default allow|errno|kill|log     exactly once
 *   allow NAME...
 *   deny NAME...
 * Keywords and actions are case-insensitive; a name is [a-z0-9_] (upper case is folded),
 * starting with a letter or '_'. Listing a name both allowed and denied, and denying a call
 * baton needs to start the worker (execve, exit, exit_group, rt_sigreturn, sigreturn,
 * rt_sigprocmask), are errors. filename is only used in messages. On error returns -EINVAL
 * and writes "FILENAME:LINE: ... 'WORD' ..." to err; *out is then empty.
 */
int sbx_parse_profile(const char *text, const char *filename, struct sbx_profile *out,
		      char *err, size_t errlen);
void sbx_profile_free(struct sbx_profile *prof);

/* Users and groups. */
#define SBX_NAME_MAX 255
#define SBX_HOME_MAX 1023

/* One /etc/passwd line, split in place: pointers into the line. */
struct sbx_pwent {
	const char *name;
	uid_t uid;
	gid_t gid;
	const char *home;
};

/* One /etc/group line, split in place; members is the raw comma-separated list. */
struct sbx_grent {
	const char *name;
	gid_t gid;
	const char *members;
};

/* Split one line (without its newline; modified in place). Comments, blank lines, NIS
 * "+"/"-" entries and malformed lines are -EINVAL: the lookups skip them, as getpwent does. */
int sbx_parse_passwd_line(char *line, struct sbx_pwent *out);
int sbx_parse_group_line(char *line, struct sbx_grent *out);

struct sbx_user {
	uid_t uid;
	gid_t gid;
	char name[SBX_NAME_MAX + 1]; /* passwd name, or the decimal uid */
	char home[SBX_HOME_MAX + 1]; /* passwd home, or "/" */
	gid_t *groups;               /* supplementary groups: gid, then memberships; malloc'd */
	size_t n_groups;
};

/*
 * Resolve "USER[:GROUP]" (names or numbers) against the given passwd and group files. A
 * user name must exist; a numeric uid need not (its gid is then the same number, HOME "/").
 * The supplementary groups are the primary gid plus every group of group_path that lists
 * the user's name, as initgroups(3) would give. 0, or -errno with one line in err.
 */
int sbx_lookup_user(const char *spec, const char *passwd_path, const char *group_path,
		    struct sbx_user *out, char *err, size_t errlen);
void sbx_user_free(struct sbx_user *u);

#endif
