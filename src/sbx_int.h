/*
 * Internal interface of the sandbox module (sandbox.c, sbx_*.c): what the policy code needs
 * from the profile parser and the seccomp compiler, and nothing else.
 */
#ifndef BATON_SBX_INT_H
#define BATON_SBX_INT_H

#include <linux/filter.h>

#include "baton/sandbox.h"

/* The built-in profile, in the profile file format (see sbx_profile.c). Besides its lines,
 * the compiler adds the rules a plain list cannot express (namespace flags of clone and
 * unshare, personality values) when it is told the profile is the built-in one. */
extern const char sbx_default_profile[];

/* Calls baton itself makes between loading the filter and exec, or that no program can do
 * without: always allowed, and denying them is an error. NULL-terminated. */
extern const char *const sbx_required_syscalls[];

struct sbx_bpf {
	struct sock_filter *insns; /* malloc'd */
	unsigned short len;
};

/* Whether libseccomp resolves name on any architecture it knows (not only this machine's). */
bool sbx_syscall_known_anywhere(const char *name);

/*
 * Compile a parsed profile into a BPF program for the native architecture and its compat
 * ones (x86 and x32 on x86_64, arm on aarch64). deny is the action of `deny` rules. Names of
 * other architectures only are skipped and returned in *unknown (malloc'd, space-separated;
 * NULL when none); a name no architecture knows is an error (-EINVAL, "FILE:LINE: 'NAME' ...").
 * filename is for messages. 0, or -errno with one line in err.
 */
int sbx_compile(const struct sbx_profile *prof, bool builtin, enum sbx_action deny,
		const char *filename, struct sbx_bpf *out, char **unknown, char *err,
		size_t errlen);

#endif
