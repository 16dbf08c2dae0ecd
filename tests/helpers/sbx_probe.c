/*
 * sbx_probe: a test worker that reports what its sandbox lets it do.
 *
 *   sbx_probe [status] [try] [serve] [exit]
 *
 *   status  print "probe uid=.. gid=.. groups=.. capeff=.. capprm=.. capinh=.. capbnd=..
 *           capamb=.. nnp=.. seccomp=.. user=.. home=.." from /proc/self/status and the
 *           environment
 *   try     attempt a few privileged system calls with harmless arguments and print
 *           "try mount=.. ptrace=.. ..." with the errno name of each, or "ok". Calls that
 *           could change the probe itself when allowed (unshare, clone) run in a child.
 *   basic   print "basic getpid=.. uname=.. getcwd=..": calls every program makes, for
 *           allow-list profiles
 *   serve   accept one connection on the inherited listening socket fd 3 (LISTEN_FDS=1),
 *           write "hello\n", close it, and print "served"
 *   exit    exit 0 at the end instead of waiting
 *
 * Without arguments: status then try. Every line is written with one write(2), so lines from
 * several workers never mix. After the modes it prints "probe done" and waits for SIGTERM.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static char line[4096];
static size_t used;

static void add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void add(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	va_end(ap);
	if (n > 0)
		used += (size_t)n < sizeof(line) - used ? (size_t)n : sizeof(line) - used - 1;
}

static void flush_line(void)
{
	add("\n");
	(void)!write(1, line, used);
	used = 0;
}

static void status_field(const char *status, const char *field, const char *key)
{
	char name[64];
	const char *p;
	size_t n;

	snprintf(name, sizeof(name), "\n%s:", field);
	p = strstr(status, name);
	if (!p) {
		add(" %s=?", key);
		return;
	}
	p += strlen(name);
	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, "\n");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	add(" %s=", key);
	/* Uid/Gid: "real effective saved fs" -> keep the effective one; groups: comma list. */
	if (strcmp(field, "Uid") == 0 || strcmp(field, "Gid") == 0) {
		add("%.*s", (int)strcspn(p, "\t "), p);
		return;
	}
	for (size_t i = 0; i < n; i++)
		add("%c", p[i] == ' ' || p[i] == '\t' ? ',' : p[i]);
	if (n == 0)
		add("-");
}

static void do_status(void)
{
	static const char *const fields[][2] = {
		{"Uid", "uid"}, {"Gid", "gid"}, {"Groups", "groups"},
		{"CapEff", "capeff"}, {"CapPrm", "capprm"}, {"CapInh", "capinh"},
		{"CapBnd", "capbnd"}, {"CapAmb", "capamb"}, {"NoNewPrivs", "nnp"},
		{"Seccomp", "seccomp"},
	};
	char buf[8192];
	FILE *f = fopen("/proc/self/status", "re");
	size_t n;
	const char *user = getenv("USER"), *home = getenv("HOME");

	buf[0] = '\n';
	n = f ? fread(buf + 1, 1, sizeof(buf) - 2, f) : 0;
	if (f)
		fclose(f);
	buf[n + 1] = '\0';
	add("probe");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		status_field(buf, fields[i][0], fields[i][1]);
	add(" user=%s home=%s", user ? user : "-", home ? home : "-");
	flush_line();
}

static const char *err_name(int err)
{
	static char num[16];

	switch (err) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case ENODEV: return "ENODEV";
	case ESRCH: return "ESRCH";
	case EFAULT: return "EFAULT";
	case EBADF: return "EBADF";
	case ENOEXEC: return "ENOEXEC";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EEXIST: return "EEXIST";
	case E2BIG: return "E2BIG";
	case ENOKEY: return "ENOKEY";
	}
	snprintf(num, sizeof(num), "E%d", err);
	return num;
}

static void result(const char *name, long rc)
{
	add(" %s=%s", name, err_name(rc < 0 ? errno : 0));
}

/* Run fn in a child (so that a success cannot change the probe), report its errno. */
static void in_child(const char *name, int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		add(" %s=fork:%s", name, err_name(errno));
		return;
	}
	if (pid == 0)
		_exit(fn() < 0 ? (errno & 0xff) : 0);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		add(" %s=SIG%d", name, WTERMSIG(status));
	else
		add(" %s=%s", name, err_name(WEXITSTATUS(status)));
}

static int try_unshare_user(void)
{
	return unshare(CLONE_NEWUSER);
}

static int try_unshare_net(void)
{
	return unshare(CLONE_NEWNET);
}

static int try_clone_newns(void)
{
	/* A raw clone without CLONE_VM is a fork: the new child leaves at once. */
	long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWNS | SIGCHLD), 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

static int try_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

#ifdef __x86_64__
/* A 32-bit system call from this 64-bit process: it enters through the compat table with
 * the i386 audit architecture, as a 32-bit program's calls would. */
static long int80(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

static int try_ptrace32(void)
{
	return (int)int80(26 /* i386 ptrace */, PTRACE_PEEKDATA, getppid());
}

static int try_personality32(void)
{
	return int80(136 /* i386 personality */, 0x0040000, 0) < 0 ? -1 : 0;
}
#endif

static void do_try(void)
{
	add("try");
	/* An unknown file system type on an existing directory: ENODEV when allowed, and
	 * nothing is mounted. The kernel checks CAP_SYS_ADMIN first: EPERM without it. */
	result("mount", mount("none", "/", "baton-probe-nofs", 0, NULL));
	/* PEEKDATA on a process we do not trace: ESRCH when allowed, whatever the
	 * capabilities. */
	result("ptrace", ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL));
	in_child("unshare_user", try_unshare_user);
	in_child("unshare_net", try_unshare_net);
	in_child("clone_newns", try_clone_newns);
	/* No image: EFAULT or ENOEXEC when allowed; EPERM without CAP_SYS_MODULE. */
	result("init_module", syscall(SYS_init_module, NULL, 0, ""));
	result("bpf", syscall(SYS_bpf, -1, NULL, 0));
	result("keyctl", syscall(SYS_keyctl, -1, 0, 0, 0, 0));
	/* A size too small to hold clone_args: EINVAL when allowed. */
	result("clone3", syscall(SYS_clone3, NULL, 0));
	result("personality_query", syscall(SYS_personality, 0xffffffffUL));
	/* ADDR_NO_RANDOMIZE: only affects a later exec, and this probe does none. */
	result("personality_set", syscall(SYS_personality, 0x0040000UL));
	in_child("fork", try_fork);
#ifdef __x86_64__
	in_child("ptrace32", try_ptrace32);
	in_child("personality32", try_personality32);
#endif
	/* Last: when allowed and not a no-op, it changes who the probe is. */
	result("setuid0", setuid(0));
	flush_line();
}

static void do_basic(void)
{
	struct utsname u;
	char cwd[256];

	add("basic");
	result("getpid", syscall(SYS_getpid));
	result("uname", uname(&u));
	result("getcwd", getcwd(cwd, sizeof(cwd)) ? 0 : -1);
	flush_line();
}

static void do_serve(void)
{
	int c = accept4(3, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0) {
		add("serve accept=%s", err_name(errno));
		flush_line();
		return;
	}
	(void)!write(c, "hello\n", 6);
	close(c);
	add("served");
	flush_line();
}

int main(int argc, char **argv)
{
	bool done_any = false, exit_after = false;
	sigset_t set;
	int sig;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "status") == 0)
			do_status();
		else if (strcmp(argv[i], "try") == 0)
			do_try();
		else if (strcmp(argv[i], "basic") == 0)
			do_basic();
		else if (strcmp(argv[i], "serve") == 0)
			do_serve();
		else if (strcmp(argv[i], "exit") == 0)
			exit_after = true;
		else {
			fprintf(stderr, "sbx_probe: unknown mode '%s'\n", argv[i]);
			return 2;
		}
		done_any = done_any || strcmp(argv[i], "exit") != 0;
	}
	if (!done_any) {
		do_status();
		do_try();
	}
	add("probe done");
	flush_line();
	if (exit_after)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	return 0;
}
