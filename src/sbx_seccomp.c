/*
 * sbx_seccomp: a parsed profile -> one classic BPF program, built with libseccomp at start-up.
 *
 * The program is exported once and kept as plain instructions, so that the child only has
 * to make one seccomp(2) call: no libseccomp state, allocation or resolution after fork.
 *
 * The filter covers the native architecture and its compat ones (x86 and x32 on x86_64,
 * arm on aarch64), as Docker's does: a program libseccomp's filter does not know the
 * architecture of is killed at its first system call, so without them a 32-bit program in
 * the image could not run at all; with them it runs and its calls are filtered alike.
 */
#include "sbx_int.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Namespace flags that clone(2) can take. CLONE_NEWTIME is left out: in clone's flags its bit
 * is part of the exit signal byte (it only works with clone3 and unshare). */
static const uint64_t clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

/* personality(2) values a service may set: Docker's list. 0xffffffff only queries. */
static const uint32_t personality_ok[] = { 0x0, 0x0008, 0x20000, 0x20008, 0xffffffff };

/* Where clone's flags are: the first argument, except on s390 where the first two are
 * swapped. */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

static uint32_t scmp_action(enum sbx_action a, int err_no)
{
	switch (a) {
	case SBX_ALLOW:
		return SCMP_ACT_ALLOW;
	case SBX_ERRNO:
		return SCMP_ACT_ERRNO(err_no);
	case SBX_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case SBX_LOG:
		return SCMP_ACT_LOG;
	}
	return SCMP_ACT_KILL_PROCESS;
}

/* Compat architectures filtered along with the native one. */
static size_t compat_arches(uint32_t native, uint32_t *out)
{
	size_t n = 0;

	if (native == SCMP_ARCH_X86_64) {
		out[n++] = SCMP_ARCH_X86;
		out[n++] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64) {
		out[n++] = SCMP_ARCH_ARM;
	}
	return n;
}

static void note_unknown(char **unknown, const char *name)
{
	size_t old = *unknown ? strlen(*unknown) : 0;
	char *more = realloc(*unknown, old + strlen(name) + 2);

	if (!more)
		return; /* only a warning is lost */
	if (old)
		more[old++] = ' ';
	strcpy(more + old, name);
	*unknown = more;
}

static const struct sbx_rule *find_rule(const struct sbx_profile *prof, const char *name)
{
	for (size_t i = 0; i < prof->n_rules; i++)
		if (strcmp(prof->rules[i].name, name) == 0)
			return &prof->rules[i];
	return NULL;
}

/* Every architecture libseccomp knows: a name none of them resolves is no system call at all,
 * a misspelling rather than a call of another machine or kernel. */
static const uint32_t all_arches[] = {
	SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, SCMP_ARCH_AARCH64,
	SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL,
	SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64,
	SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64,
#ifdef SCMP_ARCH_RISCV64
	SCMP_ARCH_RISCV64,
#endif
#ifdef SCMP_ARCH_LOONGARCH64
	SCMP_ARCH_LOONGARCH64,
#endif
#ifdef SCMP_ARCH_M68K
	SCMP_ARCH_M68K,
#endif
#ifdef SCMP_ARCH_SH
	SCMP_ARCH_SH,
#endif
};

bool sbx_syscall_known_anywhere(const char *name)
{
	for (size_t i = 0; i < sizeof(all_arches) / sizeof(all_arches[0]); i++)
		if (seccomp_syscall_resolve_name_arch(all_arches[i], name) != __NR_SCMP_ERROR)
			return true;
	return false;
}

/* Whether name is a system call of one of the filter's architectures. */
static bool known_on(const uint32_t *arches, size_t n_arches, const char *name)
{
	for (size_t a = 0; a < n_arches; a++)
		if (seccomp_syscall_resolve_name_arch(arches[a], name) >= 0)
			return true;
	return false;
}

/*
 * Add one rule. A name that is the default action already needs no rule; a name libseccomp
 * resolves only to a "pseudo" number exists on none of this filter's architectures (iopl on
 * arm64): nothing to filter either.
 */
static int add_simple(scmp_filter_ctx ctx, uint32_t def, uint32_t act, const char *name,
		      char **unknown)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR) {
		if (unknown)
			note_unknown(unknown, name);
		return 0;
	}
	if (act == def)
		return 0;
	rc = seccomp_rule_add(ctx, act, nr, 0);
	if (rc == -EACCES || (rc < 0 && nr < 0))
		return 0;
	return rc;
}

/* clone and unshare with any namespace flag get the deny action: one rule per flag, since
 * libseccomp ORs the rules of a call and allows one comparison per argument in a rule. */
static int add_namespace_rules(scmp_filter_ctx ctx, uint32_t deny)
{
	int rc;

	for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		uint64_t f = clone_ns_flags[i];

		rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
				      SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, f, f));
		if (rc < 0)
			return rc;
		rc = seccomp_rule_add(ctx, deny, SCMP_SYS(unshare), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (rc < 0)
			return rc;
	}
	return seccomp_rule_add(ctx, deny, SCMP_SYS(unshare), 1,
				SCMP_A0(SCMP_CMP_MASKED_EQ, (uint64_t)CLONE_NEWTIME,
					(uint64_t)CLONE_NEWTIME));
}

/*
 * "personality is denied unless its argument is one of a few values" is a set complement that
 * libseccomp cannot express in a default-allow filter (one comparison per argument and rule),
 * so it is a short hand-written prefix run before libseccomp's program. BPF jumps are
 * relative and forward only, so prepending code leaves the rest valid. The kernel reads the
 * argument as an unsigned int: only its low 32 bits are compared.
 */
static int personality_prefix(const uint32_t *arches, size_t n_arches, uint32_t deny,
			      struct sock_filter *out, size_t max, size_t *len)
{
	const uint32_t arg0_lo = offsetof(struct seccomp_data, args[0]) +
				 (__BYTE_ORDER == __BIG_ENDIAN ? 4 : 0);
	const size_t n_ok = sizeof(personality_ok) / sizeof(personality_ok[0]);
	struct { uint32_t arch, nr; } pairs[4];
	size_t k = 0, i = 0, check, end;

	for (size_t a = 0; a < n_arches && k < 4; a++) {
		int nr = seccomp_syscall_resolve_name_arch(arches[a], "personality");

		if (nr < 0)
			continue;
		/* x32 is not an audit architecture of its own: its calls arrive as x86_64 ones
		 * with the x32 bit set in the number, which libseccomp already put in nr. */
		pairs[k].arch = arches[a] == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arches[a];
		pairs[k].nr = (uint32_t)nr;
		k++;
	}
	if (k == 0) {
		*len = 0;
		return 0;
	}
	check = 4 * k + 1;
	end = check + 1 + n_ok + 1;
	if (end > max)
		return -E2BIG;
	for (size_t p = 0; p < k; p++) {
		out[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							offsetof(struct seccomp_data, arch));
		out[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, pairs[p].arch,
							0, 2);
		out[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							offsetof(struct seccomp_data, nr));
		out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, pairs[p].nr,
						      (uint8_t)(check - i - 1), 0);
		i++;
	}
	out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, (uint32_t)(end - i - 1), 0, 0);
	i++;
	out[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_lo);
	for (size_t v = 0; v < n_ok; v++) {
		out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, personality_ok[v],
						      (uint8_t)(end - i - 1), 0);
		i++;
	}
	out[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
	*len = i;
	return 0;
}

/* libseccomp writes its program to a file descriptor: a memfd, read back. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter *buf, size_t max, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = memfd_create("baton-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	if (ret < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (st.st_size % sizeof(struct sock_filter) != 0) {
		ret = -EIO;
		goto out;
	}
	if ((size_t)st.st_size / sizeof(struct sock_filter) > max) {
		ret = -E2BIG;
		goto out;
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		ret = n < 0 ? -errno : -EIO;
		goto out;
	}
	*len = (size_t)st.st_size / sizeof(struct sock_filter);
out:
	close(fd);
	return ret;
}

int sbx_compile(const struct sbx_profile *prof, bool builtin, enum sbx_action deny,
		const char *filename, struct sbx_bpf *out, char **unknown, char *err,
		size_t errlen)
{
	uint32_t def = scmp_action(prof->def, EPERM);
	uint32_t deny_act = scmp_action(deny, EPERM);
	uint32_t arches[4];
	size_t n_arches = 0, pre = 0, body = 0;
	struct sock_filter *insns = NULL;
	const struct sbx_rule *clone3;
	scmp_filter_ctx ctx;
	const char *what = "";
	int rc;

	memset(out, 0, sizeof(*out));
	*unknown = NULL;
	ctx = seccomp_init(def);
	if (!ctx) {
		snprintf(err, errlen, "%s: libseccomp cannot create a filter with action '%s'",
			 filename, sbx_action_name(prof->def));
		return -EINVAL;
	}
	arches[n_arches++] = seccomp_arch_native();
	n_arches += compat_arches(arches[0], arches + 1);
	for (size_t a = 1; a < n_arches; a++) {
		rc = seccomp_arch_add(ctx, arches[a]);
		if (rc < 0 && rc != -EEXIST) {
			what = "adding an architecture";
			goto fail;
		}
	}
	/* A binary tree of the calls: the default profile is checked on every system call. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	for (size_t i = 0; i < prof->n_rules; i++) {
		const struct sbx_rule *r = &prof->rules[i];
		uint32_t act = r->deny ? deny_act : SCMP_ACT_ALLOW;

		/* clone3 gets ENOSYS, never EPERM: glibc then falls back to clone. */
		if (strcmp(r->name, "clone3") == 0 && r->deny && deny == SBX_ERRNO)
			act = SCMP_ACT_ERRNO(ENOSYS);
		/* A call of another machine is normal in a portable profile and is skipped; a
		 * name that no machine knows is a mistake, which would otherwise show only as a
		 * worker crashing in a loop on the call it meant. */
		if (!known_on(arches, n_arches, r->name)) {
			if (!sbx_syscall_known_anywhere(r->name)) {
				snprintf(err, errlen,
					 "%s:%d: '%s' is not a system call on any architecture "
					 "libseccomp knows (misspelt?)", filename, r->line, r->name);
				rc = -EINVAL;
				goto out_err;
			}
			note_unknown(unknown, r->name);
			continue;
		}
		rc = add_simple(ctx, def, act, r->name, unknown);
		if (rc < 0) {
			snprintf(err, errlen, "%s:%d: cannot add a rule for '%s': %s", filename,
				 r->line, r->name, strerror(-rc));
			goto out_err;
		}
	}
	if (prof->def != SBX_ALLOW) {
		/* What baton needs between the filter and exec, and what no program can do
		 * without: allowed unless listed (denying them is a parse error). */
		for (const char *const *s = sbx_required_syscalls; *s; s++) {
			if (find_rule(prof, *s))
				continue;
			rc = add_simple(ctx, def, SCMP_ACT_ALLOW, *s, NULL);
			if (rc < 0) {
				what = *s;
				goto fail;
			}
		}
	}
	clone3 = find_rule(prof, "clone3");
	if (builtin || (!clone3 && prof->def != SBX_ALLOW && prof->def != SBX_LOG)) {
		/* Threads: glibc tries clone3 first and falls back to clone only on ENOSYS. An
		 * allow-list that does not mention clone3 would otherwise break pthread_create. */
		rc = add_simple(ctx, def, SCMP_ACT_ERRNO(ENOSYS), "clone3", NULL);
		if (rc < 0) {
			what = "clone3";
			goto fail;
		}
	}
	if (builtin) {
		rc = add_namespace_rules(ctx, deny_act);
		if (rc < 0) {
			what = "clone/unshare";
			goto fail;
		}
	}

	insns = calloc(BPF_MAXINSNS, sizeof(*insns));
	if (!insns) {
		rc = -ENOMEM;
		what = "the program";
		goto fail;
	}
	if (builtin) {
		rc = personality_prefix(arches, n_arches, deny_act, insns, BPF_MAXINSNS, &pre);
		if (rc < 0) {
			what = "personality";
			goto fail;
		}
	}
	rc = export_bpf(ctx, insns + pre, BPF_MAXINSNS - pre, &body);
	if (rc == -E2BIG) {
		snprintf(err, errlen, "%s: the filter is larger than the kernel's limit of %d "
			 "instructions", filename, BPF_MAXINSNS);
		goto out_err;
	}
	if (rc < 0) {
		what = "exporting the program";
		goto fail;
	}
	out->insns = insns;
	out->len = (unsigned short)(pre + body);
	seccomp_release(ctx);
	return 0;

fail:
	snprintf(err, errlen, "%s: cannot build the seccomp filter (%s): %s", filename, what,
		 strerror(-rc));
out_err:
	free(insns);
	free(*unknown);
	*unknown = NULL;
	seccomp_release(ctx);
	return rc < 0 ? rc : -EINVAL;
}
