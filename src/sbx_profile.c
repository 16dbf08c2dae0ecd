/*
 * sbx_profile: the seccomp profile format, and the built-in profile written in it.
 *
 *   # comment
 *   default allow|errno|kill|log
 *   allow NAME...
 *   deny NAME...
 *
 * Pure: text in, rules out. Whether a name is a system call of this machine is the
 * compiler's business (unknown names are skipped there, since a profile may well list calls
 * newer or older than the kernel); what this file rejects is text that cannot be what the
 * author meant: an unknown keyword, a word that cannot be a system call name, a call both
 * allowed and denied.
 */
#include "sbx_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds for a hand-written file; a BPF program cannot hold much more anyway. */
#define SBX_MAX_RULES 4096

/*
 * Calls that break out of or attack the container, and that a service has no use for. The
 * compiler adds, for this profile only: clone and unshare with any namespace flag, clone3
 * (ENOSYS, so that libc falls back to clone, whose flags a filter can see), and personality
 * other than the default ones (0, PER_LINUX32, UNAME26 and both, and the 0xffffffff query).
 */
const char sbx_default_profile[] =
	"default allow\n"
	"# kernel modules and replacing the kernel\n"
	"deny init_module finit_module delete_module kexec_load kexec_file_load reboot\n"
	"# the mount family\n"
	"deny mount umount umount2 move_mount open_tree fsopen fsmount fsconfig fspick\n"
	"deny mount_setattr pivot_root\n"
	"deny swapon swapoff\n"
	"# other processes' memory\n"
	"deny ptrace process_vm_readv process_vm_writev\n"
	"# kernel attack surface that services do not use\n"
	"deny bpf perf_event_open userfaultfd\n"
	"deny keyctl add_key request_key\n"
	"# joining other namespaces\n"
	"deny setns\n"
	"deny acct quotactl quotactl_fd\n"
	"# bypassing path-based access checks\n"
	"deny open_by_handle_at name_to_handle_at\n"
	"deny iopl ioperm lookup_dcookie syslog\n"
	"# the system clock belongs to the host\n"
	"deny settimeofday stime clock_settime clock_adjtime adjtimex\n";

const char *const sbx_required_syscalls[] = {
	"execve", "exit", "exit_group", "rt_sigreturn", "sigreturn", "rt_sigprocmask", NULL,
};

int sbx_parse_action(const char *text, enum sbx_action *out)
{
	static const char *const names[] = { "allow", "errno", "kill", "log" };

	for (size_t i = 0; text && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(text, names[i]) == 0) {
			*out = (enum sbx_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sbx_action_name(enum sbx_action a)
{
	switch (a) {
	case SBX_ALLOW:
		return "allow";
	case SBX_ERRNO:
		return "errno";
	case SBX_KILL:
		return "kill";
	case SBX_LOG:
		return "log";
	}
	return "?";
}

void sbx_profile_free(struct sbx_profile *prof)
{
	if (!prof)
		return;
	free(prof->rules);
	memset(prof, 0, sizeof(*prof));
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\v' || c == '\f';
}

/* The next word of [*pos, end): its start and length, or false at the end of the line. */
static bool next_word(const char **pos, const char *end, const char **word, size_t *len)
{
	const char *p = *pos;

	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return false;
	*word = p;
	while (p < end && !is_blank(*p))
		p++;
	*len = (size_t)(p - *word);
	*pos = p;
	return true;
}

static bool word_is(const char *word, size_t len, const char *kw)
{
	return strlen(kw) == len && strncasecmp(word, kw, len) == 0;
}

/* Fold and validate a system call name into buf. */
static bool valid_name(const char *word, size_t len, char *buf)
{
	if (len == 0 || len > SBX_SYSCALL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)word[i]);

		if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
		buf[i] = c;
	}
	buf[len] = '\0';
	return true;
}

static bool is_required(const char *name)
{
	for (const char *const *r = sbx_required_syscalls; *r; r++)
		if (strcmp(*r, name) == 0)
			return true;
	return false;
}

/* Quote at most 64 bytes of a word in messages: a binary file should not flood the log. */
#define QWORD(w, l) (int)((l) > 64 ? 64 : (l)), (w)

static int add_rule(struct sbx_profile *prof, const char *name, bool deny, int line,
		    const char *filename, char *err, size_t errlen)
{
	for (size_t i = 0; i < prof->n_rules; i++) {
		const struct sbx_rule *r = &prof->rules[i];

		if (strcmp(r->name, name) != 0)
			continue;
		if (r->deny == deny)
			return 0; /* listed twice the same way: harmless */
		snprintf(err, errlen, "%s:%d: '%s' is %s on line %d and %s here", filename, line,
			 name, r->deny ? "denied" : "allowed", r->line,
			 deny ? "denied" : "allowed");
		return -EINVAL;
	}
	if (prof->n_rules == SBX_MAX_RULES) {
		snprintf(err, errlen, "%s:%d: too many rules (at most %d names)", filename, line,
			 SBX_MAX_RULES);
		return -EINVAL;
	}
	if (prof->n_rules == prof->cap_rules) {
		size_t cap = prof->cap_rules ? prof->cap_rules * 2 : 64;
		struct sbx_rule *more = realloc(prof->rules, cap * sizeof(*more));

		if (!more) {
			snprintf(err, errlen, "%s: out of memory", filename);
			return -ENOMEM;
		}
		prof->rules = more;
		prof->cap_rules = cap;
	}
	snprintf(prof->rules[prof->n_rules].name, sizeof(prof->rules[0].name), "%s", name);
	prof->rules[prof->n_rules].deny = deny;
	prof->rules[prof->n_rules].line = line;
	prof->n_rules++;
	return 0;
}

static int parse_line(struct sbx_profile *prof, const char *p, const char *end, int line,
		      const char *filename, int *default_line, char *err, size_t errlen)
{
	const char *word, *kw;
	size_t len, kwlen;
	char name[SBX_SYSCALL_NAME_MAX + 1];
	bool deny;
	int ret;

	if (!next_word(&p, end, &kw, &kwlen))
		return 0;
	if (word_is(kw, kwlen, "default")) {
		char act[16];

		if (*default_line) {
			snprintf(err, errlen, "%s:%d: 'default' given again (first on line %d)",
				 filename, line, *default_line);
			return -EINVAL;
		}
		if (!next_word(&p, end, &word, &len)) {
			snprintf(err, errlen,
				 "%s:%d: 'default' needs an action: allow, errno, kill or log",
				 filename, line);
			return -EINVAL;
		}
		snprintf(act, sizeof(act), "%.*s", (int)(len < sizeof(act) ? len : 0), word);
		if (len >= sizeof(act) || sbx_parse_action(act, &prof->def) < 0) {
			snprintf(err, errlen,
				 "%s:%d: unknown action '%.*s' (expected allow, errno, kill or log)",
				 filename, line, QWORD(word, len));
			return -EINVAL;
		}
		if (next_word(&p, end, &word, &len)) {
			snprintf(err, errlen, "%s:%d: unexpected '%.*s' after 'default %s'",
				 filename, line, QWORD(word, len), act);
			return -EINVAL;
		}
		*default_line = line;
		return 0;
	}
	if (word_is(kw, kwlen, "allow"))
		deny = false;
	else if (word_is(kw, kwlen, "deny"))
		deny = true;
	else {
		snprintf(err, errlen,
			 "%s:%d: unknown keyword '%.*s' (expected default, allow or deny)",
			 filename, line, QWORD(kw, kwlen));
		return -EINVAL;
	}
	if (!next_word(&p, end, &word, &len)) {
		snprintf(err, errlen, "%s:%d: '%.*s' needs at least one system call name",
			 filename, line, QWORD(kw, kwlen));
		return -EINVAL;
	}
	do {
		if (!valid_name(word, len, name)) {
			snprintf(err, errlen, "%s:%d: '%.*s' is not a system call name", filename,
				 line, QWORD(word, len));
			return -EINVAL;
		}
		if (deny && is_required(name)) {
			snprintf(err, errlen,
				 "%s:%d: '%s' cannot be denied: no worker could start without it",
				 filename, line, name);
			return -EINVAL;
		}
		if ((ret = add_rule(prof, name, deny, line, filename, err, errlen)) < 0)
			return ret;
	} while (next_word(&p, end, &word, &len));
	return 0;
}

int sbx_parse_profile(const char *text, const char *filename, struct sbx_profile *out,
		      char *err, size_t errlen)
{
	const char *p = text;
	int line = 0, default_line = 0, ret;

	memset(out, 0, sizeof(*out));
	if (!filename)
		filename = "profile";
	while (*p) {
		const char *eol = strchr(p, '\n'), *hash;

		if (!eol)
			eol = p + strlen(p);
		line++;
		hash = memchr(p, '#', (size_t)(eol - p));
		ret = parse_line(out, p, hash ? hash : eol, line, filename, &default_line, err,
				 errlen);
		if (ret < 0) {
			sbx_profile_free(out);
			return ret;
		}
		p = *eol ? eol + 1 : eol;
	}
	if (!default_line) {
		snprintf(err, errlen, "%s: no 'default' line (default allow, errno, kill or log)",
			 filename);
		sbx_profile_free(out);
		return -EINVAL;
	}
	return 0;
}
