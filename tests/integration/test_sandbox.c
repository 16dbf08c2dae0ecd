/*
 * The worker sandbox with baton as a real PID 1: what a worker ends up with, read from
 * /proc/<worker>/status, and what it can no longer do, tried by the sbx_probe helper
 * (tests/helpers/sbx_probe.c), which prints one line per probe:
 *   probe uid=.. gid=.. groups=.. capeff=.. ... nnp=.. seccomp=.. user=.. home=..
 *   try mount=EPERM ptrace=EPERM unshare_user=EPERM ...
 * These tests need root with the usual capabilities (as in a container); they skip otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }
#define ZERO_CAPS "0000000000000000"

static bool privileged(void)
{
	char eff[64] = "", bnd[64] = "";

	return geteuid() == 0 && bt_proc_status(getpid(), "CapEff", eff, sizeof(eff)) &&
	       bt_proc_status(getpid(), "CapBnd", bnd, sizeof(bnd)) && strcmp(eff, bnd) == 0 &&
	       strcmp(eff, ZERO_CAPS) != 0;
}

#define NEED_ROOT()                                                                        \
	do {                                                                               \
		if (!privileged()) {                                                       \
			fprintf(stderr, "skipped: needs root with its capabilities\n");    \
			skip();                                                            \
		}                                                                          \
	} while (0)

#ifdef __x86_64__
/* Whether this kernel runs 32-bit system calls at all (it may be built without IA32
 * emulation, or booted with ia32_emulation=0: int $0x80 then raises SIGSEGV). Asked here,
 * outside any filter; where the answer is no, no worker can reach the 32-bit table either. */
static bool kernel_has_compat32(void)
{
	static int known = -1;

	if (known < 0) {
		int status = 0;
		pid_t pid = fork();

		if (pid == 0) {
			long ret;

			signal(SIGSEGV, SIG_DFL); /* cmocka's handler would resume the tests here */
			__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L /* i386 getpid */) : "memory");
			_exit(ret > 0 ? 0 : 1);
		}
		known = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			WEXITSTATUS(status) == 0;
		if (!known)
			fprintf(stderr, "note: this kernel runs no 32-bit system calls; "
					"their checks are skipped\n");
	}
	return known;
}
#endif

/* The value of key in the first line of the workers' stdout that starts with prefix. */
static bool out_value(struct bt *b, const char *prefix, const char *key, char *val, size_t len)
{
	char *out = bt_read_file(b->out), *line, *p, needle[64];
	bool found = false;

	if (!out)
		return false;
	for (line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t n;

		if (strncmp(line, prefix, strlen(prefix)) != 0 || line[strlen(prefix)] != ' ')
			continue;
		snprintf(needle, sizeof(needle), " %s=", key);
		p = strstr(line, needle);
		if (!p || (strchr(line, '\n') && p > strchr(line, '\n')))
			break;
		p += strlen(needle);
		n = strcspn(p, " \n");
		snprintf(val, len, "%.*s", (int)n, p);
		found = true;
		break;
	}
	free(out);
	return found;
}

static void expect_out(struct bt *b, const char *prefix, const char *key, const char *want)
{
	char got[128] = "";

	if (!out_value(b, prefix, key, got, sizeof(got)) || strcmp(got, want) != 0) {
		bt_dump(b);
		fail_msg("%s %s=%s, want %s", prefix, key, got, want);
	}
}

static void expect_status(struct bt *b, pid_t pid, const char *field, const char *want)
{
	char got[256] = "";

	if (!bt_proc_status(pid, field, got, sizeof(got)) || strcmp(got, want) != 0) {
		bt_dump(b);
		fail_msg("worker %s: '%s', want '%s'", field, got, want);
	}
}

/* Start baton with args, wait for the probe to finish its probes, return the worker's pid. */
static pid_t start_probe(struct bt *b, const char *const args[])
{
	pid_t pid = 0;

	bt_start(b, 0, args, NULL);
	if (!bt_wait_out_n(b, "probe done", 1, 10000)) {
		bt_dump(b);
		fail_msg("the probe did not finish");
	}
	if (!bt_wait_children(b, 1, &pid, 5000)) {
		bt_dump(b);
		fail_msg("no single worker");
	}
	return pid;
}

static void stop(struct bt *b)
{
	bt_signal(b, SIGTERM);
	if (!bt_wait_exit(b, 10000)) {
		bt_dump(b);
		fail_msg("baton did not stop");
	}
	bt_cleanup(b);
}

/* Every probe of the "try" line that the default sandbox must deny with EPERM. */
static void expect_denied(struct bt *b)
{
	static const char *const denied[] = {
		"mount", "ptrace", "unshare_user", "unshare_net", "clone_newns", "init_module",
		"bpf", "keyctl", "personality_set",
	};

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		expect_out(b, "try", denied[i], "EPERM");
	expect_out(b, "try", "clone3", "ENOSYS");
	expect_out(b, "try", "fork", "ok");
	expect_out(b, "try", "personality_query", "ok");
#ifdef __x86_64__
	/* 32-bit calls enter through the compat table: the filter covers them too. */
	if (kernel_has_compat32()) {
		expect_out(b, "try", "ptrace32", "EPERM");
		expect_out(b, "try", "personality32", "EPERM");
	}
#endif
}

/* The filter alone: with every capability kept, the kernel would allow these calls (see
 * test_off_and_all_changes_nothing), so each EPERM here comes from the seccomp filter. */
static void test_filter_denies_with_all_caps(void **state)
{
	static struct bt b; /* static: still tracked by the harness after a failed test */
	pid_t w;

	(void)state;
	NEED_ROOT();
	w = start_probe(&b, W("-w", "1", "--caps", "all", "--", bt_helper("sbx_probe")));
	expect_status(&b, w, "Seccomp", "2");
	expect_denied(&b);
	stop(&b);
}

/* By default, as root: no capabilities at all, no_new_privs, the filter. */
static void test_default_sandbox(void **state)
{
	static struct bt b; /* static: still tracked by the harness after a failed test */
	pid_t w;

	(void)state;
	NEED_ROOT();
	w = start_probe(&b, W("-w", "1", "--", bt_helper("sbx_probe")));
	expect_status(&b, w, "CapEff", ZERO_CAPS);
	expect_status(&b, w, "CapPrm", ZERO_CAPS);
	expect_status(&b, w, "CapInh", ZERO_CAPS);
	expect_status(&b, w, "CapBnd", ZERO_CAPS);
	expect_status(&b, w, "CapAmb", ZERO_CAPS);
	expect_status(&b, w, "NoNewPrivs", "1");
	expect_status(&b, w, "Seccomp", "2");
	expect_out(&b, "probe", "capeff", ZERO_CAPS);
	expect_denied(&b);
	stop(&b);
}

/* --seccomp-action kill: the first denied call kills the worker with SIGSYS. */
static void test_kill_action(void **state)
{
	static struct bt b; /* static: still tracked by the harness after a failed test */

	(void)state;
	NEED_ROOT();
	bt_start(&b, 0, W("-w", "1", "--restart", "never", "--seccomp-action", "kill", "--",
			  bt_helper("sbx_probe"), "status", "try"), NULL);
	if (!bt_wait_log(&b, "SIGSYS", 10000)) {
		bt_dump(&b);
		fail_msg("no worker killed by SIGSYS");
	}
	/* It got as far as the status line, and no further than the first denied call. */
	expect_out(&b, "probe", "seccomp", "2");
	{
		char *out = bt_read_file(b.out);

		assert_non_null(out);
		assert_null(strstr(out, "try "));
		free(out);
	}
	bt_signal(&b, SIGTERM);
	bt_wait_exit(&b, 10000);
	bt_cleanup(&b);
}

/* --user: the ids, groups and environment of the user; setuid(0) is then EPERM too. */
static void test_user(void **state)
{
	static const struct {
		const char *user, *uid, *gid;
	} cases[] = {
		{"nobody", "65534", "65534"},
		{"65534:65534", "65534", "65534"},
		{"nobody:0", "65534", "0"},
		{"4321:4321", "4321", "4321"}, /* not in /etc/passwd: fine for numbers */
	};

	(void)state;
	NEED_ROOT();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ids[64];
		static struct bt b; /* static: still tracked by the harness after a failed test */
		pid_t w;

		w = start_probe(&b, W("-w", "1", "--user", cases[i].user, "--",
				      bt_helper("sbx_probe")));
		snprintf(ids, sizeof(ids), "%s\t%s\t%s\t%s", cases[i].uid, cases[i].uid,
			 cases[i].uid, cases[i].uid);
		expect_status(&b, w, "Uid", ids);
		snprintf(ids, sizeof(ids), "%s\t%s\t%s\t%s", cases[i].gid, cases[i].gid,
			 cases[i].gid, cases[i].gid);
		expect_status(&b, w, "Gid", ids);
		expect_status(&b, w, "CapEff", ZERO_CAPS);
		expect_status(&b, w, "CapBnd", ZERO_CAPS);
		expect_status(&b, w, "NoNewPrivs", "1");
		expect_status(&b, w, "Seccomp", "2");
		expect_denied(&b);
		expect_out(&b, "try", "setuid0", "EPERM");
		if (i == 0) {
			expect_out(&b, "probe", "user", "nobody");
			expect_out(&b, "probe", "home", "/nonexistent");
		}
		if (i == 3)
			expect_out(&b, "probe", "home", "/");
		stop(&b);
	}
}

/* --caps: exactly the kept ones, in every set, ambient included (so a non-root exec keeps
 * them). */
static void test_kept_caps(void **state)
{
	static const struct {
		const char *user, *caps, *want;
	} cases[] = {
		{NULL, "NET_BIND_SERVICE", "0000000000000400"},
		{"nobody", "NET_BIND_SERVICE", "0000000000000400"},
		{"nobody", "cap_net_bind_service,CAP_NET_RAW", "0000000000002400"},
	};

	(void)state;
	NEED_ROOT();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct bt b; /* static: still tracked by the harness after a failed test */
		pid_t w;

		if (cases[i].user)
			w = start_probe(&b, W("-w", "1", "--user", cases[i].user, "--caps",
					      cases[i].caps, "--", bt_helper("sbx_probe")));
		else
			w = start_probe(&b, W("-w", "1", "--caps", cases[i].caps, "--",
					      bt_helper("sbx_probe")));
		expect_status(&b, w, "CapEff", cases[i].want);
		expect_status(&b, w, "CapPrm", cases[i].want);
		expect_status(&b, w, "CapInh", cases[i].want);
		expect_status(&b, w, "CapAmb", cases[i].want);
		expect_status(&b, w, "CapBnd", cases[i].want);
		expect_status(&b, w, "NoNewPrivs", "1");
		expect_status(&b, w, "Seccomp", "2");
		expect_out(&b, "try", "mount", "EPERM");
		stop(&b);
	}
}

/* A private directory for files a test hands to baton. */
static void write_file(char *dir, size_t dirlen, char *path, size_t len, const char *name,
		       const char *text)
{
	FILE *f;

	if (!dir[0]) {
		snprintf(dir, dirlen, "/tmp/baton-sbx.XXXXXX");
		assert_non_null(mkdtemp(dir));
	}
	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(const char *dir)
{
	char cmd[128];

	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		(void)!system(cmd);
	}
}

/* An allow-list profile: what it allows works, everything else is EPERM. */
static void test_allowlist_profile(void **state)
{
	static const char profile[] =
		"# what sbx_probe needs, and nothing else\n"
		"default errno\n"
		"allow read write openat open close fstat newfstatat stat lstat lseek pread64\n"
		"allow mmap munmap mprotect brk arch_prctl set_tid_address set_robust_list rseq\n"
		"allow prlimit64 getrandom access futex exit_group rt_sigaction rt_sigprocmask\n"
		"allow rt_sigtimedwait getpid getppid gettid\n"
		"allow s390_runtime_instr   # another architecture's: skipped\n";
	char dir[64] = "", path[128];
	static struct bt b; /* static: still tracked by the harness after a failed test */
	pid_t w;

	(void)state;
	NEED_ROOT();
	write_file(dir, sizeof(dir), path, sizeof(path), "allow.profile", profile);
	w = start_probe(&b, W("-w", "1", "--seccomp", path, "--", bt_helper("sbx_probe"),
			      "status", "basic"));
	expect_status(&b, w, "Seccomp", "2");
	expect_status(&b, w, "NoNewPrivs", "1");
	expect_out(&b, "basic", "getpid", "ok");
	expect_out(&b, "basic", "uname", "EPERM");
	expect_out(&b, "basic", "getcwd", "EPERM");
	/* The other architecture's name was skipped, and said so once, at -v only. */
	assert_int_equal(bt_log_count(&b, "s390_runtime_instr"), 0);
	/* The worker still stops on SIGTERM: rt_sigtimedwait and exit_group are allowed. */
	stop(&b);
	remove_dir(dir);
}

/* --seccomp off --caps all: the worker is as it would be without baton. */
static void test_off_and_all_changes_nothing(void **state)
{
	static const char *const fields[] = { "CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb",
					      "NoNewPrivs", "Seccomp", "Uid", "Gid" };
	static struct bt b; /* static: still tracked by the harness after a failed test */
	pid_t w;

	(void)state;
	NEED_ROOT();
	w = start_probe(&b, W("-w", "1", "--seccomp", "off", "--caps", "all", "--",
			      bt_helper("sbx_probe")));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char mine[256] = "";

		assert_true(bt_proc_status(getpid(), fields[i], mine, sizeof(mine)));
		expect_status(&b, w, fields[i], mine);
	}
	/* Each call expect_denied checks is allowed here: only the filter denies them. */
	expect_out(&b, "try", "mount", "ENODEV");
	expect_out(&b, "try", "ptrace", "ESRCH"); /* allowed: only "not traced" */
	expect_out(&b, "try", "unshare_user", "ok");
	expect_out(&b, "try", "unshare_net", "ok");
	expect_out(&b, "try", "clone_newns", "ok");
	expect_out(&b, "try", "personality_set", "ok");
	expect_out(&b, "try", "clone3", "EINVAL");
#ifdef __x86_64__
	if (kernel_has_compat32()) {
		expect_out(&b, "try", "ptrace32", "ESRCH");
		expect_out(&b, "try", "personality32", "ok");
	}
#endif
	stop(&b);
}

/* Bad input is found before any worker starts: exit 2 and one line that names it. */
static void test_bad_input_exits_2(void **state)
{
	char dir[64] = "", bad[128], good[128], misspelt[128];
	struct {
		const char *const *args;
		const char *a, *b;
	} cases[] = {
		{NULL, "'alow'", ":3:"},
		{W("--seccomp", "/nonexistent/baton.profile", "true"), "/nonexistent/baton.profile",
		 NULL},
		{W("--user", "no_such_user_xyz", "true"), "'no_such_user_xyz'", NULL},
		{W("--user", "nobody:no_such_group_xyz", "true"), "'no_such_group_xyz'", NULL},
		{W("--caps", "NET_BIND_SERVICE,NET_BOGUS", "true"), "'NET_BOGUS'", NULL},
		{W("--caps", "none,NET_RAW", "true"), "--caps", NULL},
		{W("--seccomp-action", "maybe", "true"), "maybe", NULL},
		{NULL, "'execve'", ":2:"},
		/* a name no architecture knows: a mistake, not a call of another machine */
		{NULL, "misspelt.profile:3: 'not_a_syscall_xyz'", "any architecture"},
	};

	(void)state;
	write_file(dir, sizeof(dir), bad, sizeof(bad), "bad.profile",
		   "default allow\ndeny mount\nalow read\n");
	write_file(dir, sizeof(dir), good, sizeof(good), "execve.profile",
		   "default allow\ndeny execve\n");
	cases[0].args = W("--seccomp", bad, "true");
	cases[7].args = W("--seccomp", good, "true");
	write_file(dir, sizeof(dir), misspelt, sizeof(misspelt), "misspelt.profile",
		   "default allow\nallow read write\nallow not_a_syscall_xyz\n");
	cases[8].args = W("--seccomp", misspelt, "true");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct bt b; /* static: still tracked by the harness after a failed test */
		char *log;

		bt_start(&b, BT_PLAIN, cases[i].args, NULL);
		if (!bt_wait_exit(&b, 5000)) {
			bt_dump(&b);
			fail_msg("case %zu: baton did not exit", i);
		}
		log = bt_read_file(b.log);
		assert_non_null(log);
		if (b.status != 2 || !strstr(log, cases[i].a) ||
		    (cases[i].b && !strstr(log, cases[i].b)) ||
		    strchr(log, '\n') - log + 1 != (long)strlen(log)) {
			bt_dump(&b);
			fail_msg("case %zu: status %d, want 2 and one line with %s", i, b.status,
				 cases[i].a);
		}
		free(log);
		bt_cleanup(&b);
	}
	remove_dir(dir);
}

/* fd gets a connection to 127.0.0.1:80 once something accepts there. */
static bool port_80_connects(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int *fd = arg;

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return false;
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return true;
	close(*fd);
	*fd = -1;
	return false;
}

/* The worker as nobody, without any capability, serves port 80 through baton's socket. */
static void test_nobody_serves_port_80(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	char buf[64] = "";
	static struct bt b; /* static: still tracked by the harness after a failed test */
	int fd, one = 1;
	ssize_t n = 0;
	pid_t w = 0;

	(void)state;
	NEED_ROOT();
	/* The PID namespace shares the host's network: port 80 must be free here. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "skipped: 127.0.0.1:80 is busy (%s)\n", strerror(errno));
		close(fd);
		skip();
	}
	close(fd);

	bt_start(&b, 0, W("-w", "1", "--listen", "127.0.0.1:80", "--user", "nobody", "--",
			  bt_helper("sbx_probe"), "status", "serve"), NULL);
	if (!bt_wait_children(&b, 1, &w, 10000) || !bt_wait_out_n(&b, "probe uid=", 1, 10000)) {
		bt_dump(&b);
		fail_msg("no worker");
	}
	expect_status(&b, w, "CapEff", ZERO_CAPS);
	expect_out(&b, "probe", "uid", "65534");
	fd = -1;
	if (!bt_poll(port_80_connects, &fd, 10000)) {
		bt_dump(&b);
		fail_msg("127.0.0.1:80 never answered");
	}
	{
		struct timeval tv = { .tv_sec = 5 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n != 6 || memcmp(buf, "hello\n", 6) != 0) {
		bt_dump(&b);
		fail_msg("read %zd bytes: '%s'", n, n > 0 ? buf : "");
	}
	assert_true(bt_wait_out_n(&b, "served", 1, 5000));
	stop(&b);
}

/* Ordinary programs must not notice the default sandbox: node's HTTP server, threads and
 * child processes, as nobody. */
static void test_node_under_default_sandbox(void **state)
{
	static const char script[] =
		"const {Worker}=require('worker_threads');"
		"new Worker('1',{eval:true}).on('exit',()=>{"
		" require('child_process').execSync('true');"
		" require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',()=>"
		"  console.log('node ok'))})";
	static struct bt b; /* static: still tracked by the harness after a failed test */

	(void)state;
	NEED_ROOT();
	if (bt_sh(NULL, 0, "command -v node >/dev/null") != 0) {
		fprintf(stderr, "skipped: no node\n");
		skip();
	}
	bt_start(&b, 0, W("-w", "1", "--user", "nobody", "--seccomp-action", "kill", "--",
			  "node", "-e", script), NULL);
	if (!bt_wait_out_n(&b, "node ok", 1, 20000)) {
		bt_dump(&b);
		fail_msg("node did not run under the default sandbox");
	}
	assert_int_equal(bt_log_count(&b, "SIGSYS"), 0);
	stop(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_sandbox),
		cmocka_unit_test(test_filter_denies_with_all_caps),
		cmocka_unit_test(test_kill_action),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_kept_caps),
		cmocka_unit_test(test_allowlist_profile),
		cmocka_unit_test(test_off_and_all_changes_nothing),
		cmocka_unit_test(test_bad_input_exits_2),
		cmocka_unit_test(test_nobody_serves_port_80),
		cmocka_unit_test(test_node_under_default_sandbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
