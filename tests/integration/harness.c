/*
 * harness: see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

extern char **environ;

#define MAX_RUNS 16
/* Runs not cleaned up yet. A copy is kept, not only the pointer: after a failed assertion
 * cmocka jumps out of the test, and its struct bt on the stack is soon reused. */
static struct {
	struct bt *owner;
	struct bt copy;
} active[MAX_RUNS];

int64_t bt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool bt_poll(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t end = bt_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (bt_now_ms() >= end)
			return false;
		usleep(10 * 1000);
	}
}

const char *bt_baton(void)
{
	const char *b = getenv("BATON");

	return b ? b : "build/baton";
}

const char *bt_helper(const char *name)
{
	static char paths[8][PATH_MAX];
	static int next;
	const char *dir = getenv("HELPERS");
	char *p = paths[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir ? dir : "build/tests/helpers", name);
	return p;
}

char *bt_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* A run still tracked here belongs to a test that failed before its bt_cleanup: show the end
 * of what baton said, since the failure is often explained there, then stop it. */
static void cleanup_failed_run(struct bt *copy)
{
	char *log = bt_read_file(copy->log);
	const char *tail = log ? log : "";
	int lines = 0;

	for (const char *p = tail + strlen(tail); p > tail; p--)
		if (p[-1] == '\n' && ++lines > 60) {
			tail = p;
			break;
		}
	fprintf(stderr, "---- failed test: the last lines of baton's stderr (%s) ----\n%s----\n",
		copy->dir, tail);
	free(log);
	bt_cleanup(copy);
}

static void cleanup_all(void)
{
	for (int i = 0; i < MAX_RUNS; i++) {
		if (active[i].owner) {
			active[i].owner = NULL;
			cleanup_failed_run(&active[i].copy);
		}
	}
}

/* A run left over by a failed test whose struct bt lived where this one does. */
static void cleanup_leftover(struct bt *b)
{
	for (int i = 0; i < MAX_RUNS; i++) {
		if (active[i].owner == b) {
			active[i].owner = NULL;
			cleanup_failed_run(&active[i].copy);
		}
	}
}

static void track(struct bt *b)
{
	static bool registered;

	if (!registered) {
		atexit(cleanup_all);
		registered = true;
	}
	for (int i = 0; i < MAX_RUNS; i++) {
		if (!active[i].owner) {
			active[i].owner = b;
			active[i].copy = *b;
			return;
		}
	}
}

static void untrack(struct bt *b)
{
	for (int i = 0; i < MAX_RUNS; i++)
		if (active[i].owner == b || (active[i].owner && active[i].copy.pid == b->pid))
			active[i].owner = NULL;
}

/* Keep the copy's pids current once baton's own pid is known. */
static void track_update(struct bt *b)
{
	for (int i = 0; i < MAX_RUNS; i++)
		if (active[i].owner == b)
			active[i].copy = *b;
}

static pid_t read_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, ppid = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

char bt_proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	char state = 0;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &state) != 1)
		return 0;
	return state;
}

static bool is_baton_exe(pid_t pid)
{
	char path[64], target[PATH_MAX], want[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	if (!realpath(bt_baton(), want))
		return false;
	return strcmp(target, want) == 0;
}

/* The short-lived process in which baton prepares the workers' sandbox at start-up: not a
 * worker. */
static bool is_sandbox_prep(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strcmp(comm, "baton-sandbox\n") == 0;
}

int bt_children(struct bt *b, pid_t *pids, int max)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid > 0 && read_ppid(pid) == b->baton && bt_proc_state(pid) != 'Z' &&
		    !is_sandbox_prep(pid)) {
			if (pids && n < max)
				pids[n] = pid;
			n++;
		}
	}
	closedir(dir);
	return n;
}

struct children_arg {
	struct bt *b;
	int n;
	pid_t *pids;
};

static bool children_cond(void *arg)
{
	struct children_arg *a = arg;

	return bt_children(a->b, a->pids, a->n > 0 ? a->n : 1) == a->n;
}

bool bt_wait_children(struct bt *b, int n, pid_t *pids, int timeout_ms)
{
	struct children_arg a = { b, n, pids };

	return bt_poll(children_cond, &a, timeout_ms);
}

int bt_ns_procs(struct bt *b)
{
	char path[64], ns[128], other[128];
	DIR *dir;
	struct dirent *de;
	ssize_t len;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)b->baton);
	len = readlink(path, ns, sizeof(ns) - 1);
	if (len <= 0)
		return -1;
	ns[len] = '\0';
	dir = opendir("/proc");
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || pid == b->baton)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
		len = readlink(path, other, sizeof(other) - 1);
		if (len <= 0)
			continue;
		other[len] = '\0';
		if (strcmp(ns, other) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

static bool baton_found(void *arg)
{
	struct bt *b = arg;
	int status;

	if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
		b->exited = true;
		b->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		return true;
	}
	if (b->flags_plain) {
		b->baton = b->pid;
		return is_baton_exe(b->pid);
	}
	/* unshare --fork: baton is unshare's child. */
	{
		DIR *dir = opendir("/proc");
		struct dirent *de;
		bool found = false;

		if (!dir)
			return false;
		while ((de = readdir(dir))) {
			pid_t pid = (pid_t)atoi(de->d_name);

			if (pid > 0 && read_ppid(pid) == b->pid && is_baton_exe(pid)) {
				b->baton = pid;
				found = true;
				break;
			}
		}
		closedir(dir);
		return found;
	}
}

/* Does the test choose baton's control socket itself (a test of --control or of
 * BATON_CONTROL)? Then ctl gets the path it chose, when one is named on the command line. */
static bool names_control(const char *const args[], const char *const env[], char *ctl,
			 size_t len)
{
	for (int i = 0; args && args[i]; i++) {
		if (strcmp(args[i], "--") == 0)
			break;
		if (strcmp(args[i], "--control") == 0) {
			if (args[i + 1])
				snprintf(ctl, len, "%s", args[i + 1]);
			return true;
		}
		if (strncmp(args[i], "--control=", 10) == 0) {
			snprintf(ctl, len, "%s", args[i] + 10);
			return true;
		}
	}
	for (int i = 0; env && env[i]; i++) {
		if (strncmp(env[i], "BATON_CONTROL=", 14) == 0) {
			snprintf(ctl, len, "%s", env[i] + 14);
			return true;
		}
	}
	return false;
}

void bt_start(struct bt *b, int flags, const char *const args[], const char *const env[])
{
	const char *argv[64];
	char *envp[256];
	int argc = 0, envc = 0;

	cleanup_leftover(b);
	memset(b, 0, sizeof(*b));
	b->flags_plain = flags & BT_PLAIN;
	snprintf(b->dir, sizeof(b->dir), "/tmp/baton-test.XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->log, sizeof(b->log), "%s/stderr", b->dir);
	snprintf(b->out, sizeof(b->out), "%s/stdout", b->dir);
	snprintf(b->ctl, sizeof(b->ctl), "%s/ctl.sock", b->dir);
	assert_false((flags & BT_PLAIN) && (flags & BT_DEFAULT_CONTROL));

	if (!(flags & BT_PLAIN)) {
		argv[argc++] = "unshare";
		argv[argc++] = "--pid";
		argv[argc++] = "--fork";
		argv[argc++] = "--mount-proc";
	}
	if (flags & BT_DEFAULT_CONTROL) {
		/* --mount-proc gave baton a mount namespace with private propagation: a tmpfs on
		 * /run there is seen by nobody else. sh execs baton, so baton is still unshare's
		 * child. A failed mount ends the run with status 97 before baton starts. */
		argv[argc++] = "sh";
		argv[argc++] = "-c";
		argv[argc++] = "mount -t tmpfs -o size=1m,mode=0755 baton-test-run /run || exit 97; "
			       "exec \"$0\" \"$@\"";
		snprintf(b->ctl, sizeof(b->ctl), "/run/baton.sock");
	}
	argv[argc++] = bt_baton();
	if (!(flags & BT_DEFAULT_CONTROL) && !names_control(args, env, b->ctl, sizeof(b->ctl))) {
		/* First, so that it stays among the options whatever the test's args are. */
		argv[argc++] = "--control";
		argv[argc++] = b->ctl;
	}
	for (int i = 0; args && args[i] && argc < 63; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	for (char **e = environ; *e && envc < 200; e++)
		if (strncmp(*e, "BATON", 5) != 0 || strncmp(*e, "BATON=", 6) == 0)
			envp[envc++] = *e;
	for (int i = 0; env && env[i] && envc < 255; i++)
		envp[envc++] = (char *)env[i];
	envp[envc] = NULL;

	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(b->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		sigset_t empty;

		if (!(flags & BT_KEEP_STDIN))
			dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		/* Only 0, 1, 2 go to baton: whatever the test runner inherited stays here, so the
		 * tests can tell what baton itself passes on. */
		close_range(3, ~0U, 0);
		/* The test's own process group, so a terminal's Ctrl-C never reaches it. */
		setpgid(0, 0);
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
		execvpe(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	track(b);
	if (!bt_poll(baton_found, b, 10000))
		fail_msg("baton did not start within 10 s");
	track_update(b);
}

void bt_signal(struct bt *b, int sig)
{
	if (!b->exited && b->baton > 0)
		kill(b->baton, sig);
}

static bool exit_cond(void *arg)
{
	struct bt *b = arg;
	int status;

	pid_t got;

	if (b->exited)
		return true;
	got = waitpid(b->pid, &status, WNOHANG);
	if (got < 0 && errno == ECHILD) { /* already collected through another copy */
		b->exited = true;
		b->status = -1; /* unknown here: no status assertion may pass on it */
		return true;
	}
	if (got != b->pid)
		return false;
	b->exited = true;
	b->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return true;
}

bool bt_wait_exit(struct bt *b, int timeout_ms)
{
	return bt_poll(exit_cond, b, timeout_ms);
}

static int count_in(const char *path, const char *needle)
{
	char *text = bt_read_file(path);
	int n = 0;

	if (!text)
		return 0;
	for (char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}

int bt_log_count(struct bt *b, const char *needle)
{
	return count_in(b->log, needle);
}

struct log_arg {
	const char *path;
	const char *needle;
	int n;
};

static bool log_cond(void *arg)
{
	struct log_arg *a = arg;

	return count_in(a->path, a->needle) >= a->n;
}

bool bt_wait_log_n(struct bt *b, const char *needle, int n, int timeout_ms)
{
	struct log_arg a = { b->log, needle, n };

	return bt_poll(log_cond, &a, timeout_ms);
}

bool bt_wait_log(struct bt *b, const char *needle, int timeout_ms)
{
	return bt_wait_log_n(b, needle, 1, timeout_ms);
}

bool bt_wait_out_n(struct bt *b, const char *needle, int n, int timeout_ms)
{
	struct log_arg a = { b->out, needle, n };

	return bt_poll(log_cond, &a, timeout_ms);
}

void bt_dump(struct bt *b)
{
	char *log = bt_read_file(b->log);
	char *out = bt_read_file(b->out);

	fprintf(stderr, "---- baton stderr (%s) ----\n%s---- stdout ----\n%s----\n", b->dir,
		log ? log : "", out ? out : "");
	free(log);
	free(out);
}

void bt_cleanup(struct bt *b)
{
	char cmd[128];

	if (b->pid <= 0)
		return;
	if (!b->exited) {
		if (b->baton > 0)
			kill(b->baton, SIGKILL);
		kill(b->pid, SIGKILL);
		bt_wait_exit(b, 5000);
	}
	if (getenv("BT_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
		(void)!system(cmd);
	}
	untrack(b);
	b->pid = 0;
}

bool bt_proc_status(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], *text, *p;
	size_t flen = strlen(field);
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = bt_read_file(path);
	if (!text)
		return false;
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
			char *v = p + flen + 1, *end;

			while (*v == ' ' || *v == '\t')
				v++;
			end = strchr(v, '\n');
			snprintf(out, len, "%.*s", end ? (int)(end - v) : (int)strlen(v), v);
			found = true;
			break;
		}
	}
	free(text);
	return found;
}

int bt_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int bt_http_get(int port, const char *path, char *body, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char req[256], resp[8192];
	size_t got = 0;
	ssize_t n;
	int fd, code = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		code = -errno;
		close(fd);
		return code;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		 path);
	if (write(fd, req, strlen(req)) < 0) {
		code = -errno;
		close(fd);
		return code;
	}
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*s %d", &code) != 1)
		return -EPROTO;
	if (body && len) {
		char *b = strstr(resp, "\r\n\r\n");

		snprintf(body, len, "%s", b ? b + 4 : "");
	}
	return code;
}

struct http_arg {
	int port;
};

static bool http_cond(void *arg)
{
	struct http_arg *a = arg;

	return bt_http_get(a->port, "/", NULL, 0) == 200;
}

bool bt_wait_http(int port, int timeout_ms)
{
	struct http_arg a = { port };

	return bt_poll(http_cond, &a, timeout_ms);
}

int bt_sh(char *out, size_t len, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;
	size_t got = 0;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && len) {
		size_t n;

		while (got < len - 1 && (n = fread(out + got, 1, len - 1 - got, p)) > 0)
			got += n;
		out[got] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int vsh(char *out, size_t len, const char *prefix, const char *fmt, va_list ap)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "%s", prefix);

	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	return bt_sh(out, len, "%s", cmd);
}

int bt_ctl(struct bt *b, char *out, size_t len, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return bt_sh(out, len, "timeout 30 %s ctl --socket %s %s 2>&1", bt_baton(), b->ctl, args);
}

int bt_ns_sh(struct bt *b, char *out, size_t len, const char *fmt, ...)
{
	char prefix[128];
	va_list ap;
	int r;

	/* The pid namespace too: its /proc is the one mounted there, and a process of another
	 * namespace finds no /proc/self in it (which a sanitizer build's runtime reads). */
	snprintf(prefix, sizeof(prefix), "nsenter --target %d --mount --pid -- ", (int)b->baton);
	va_start(ap, fmt);
	r = vsh(out, len, prefix, fmt, ap);
	va_end(ap);
	return r;
}

static char spare_dir[64];

static void spare_remove(void)
{
	char cmd[128];

	if (spare_dir[0] && getenv("BT_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spare_dir);
		(void)!system(cmd);
	}
}

const char *bt_spare_control(void)
{
	static char path[128];

	if (!spare_dir[0]) {
		snprintf(spare_dir, sizeof(spare_dir), "/tmp/baton-test.XXXXXX");
		assert_non_null(mkdtemp(spare_dir));
		atexit(spare_remove);
		snprintf(path, sizeof(path), "%s/ctl.sock", spare_dir);
	}
	return path;
}

struct pid_arg {
	pid_t pid;
	int *status;
};

static bool pid_cond(void *arg)
{
	struct pid_arg *a = arg;

	return waitpid(a->pid, a->status, WNOHANG) == a->pid;
}

bool bt_wait_pid(pid_t pid, int *status, int timeout_ms)
{
	int dummy;
	struct pid_arg a = { pid, status ? status : &dummy };

	return bt_poll(pid_cond, &a, timeout_ms);
}

/* A client's connection to 127.0.0.1:port is open: a TCP socket whose remote port is port,
 * past the handshake and not yet gone. Asked of the kernel through sock_diag, which walks
 * only the states asked for: /proc/net/tcp lists every TIME_WAIT socket too, and after a few
 * load tests on a shared machine it holds tens of thousands, one read of it then taking
 * seconds. A client that closes at once (`Connection: close`) holds each socket a few ms,
 * too short to match its inodes to its pid: any client of the port counts, and only the
 * test's own load may talk to it. */
static bool client_cond(void *arg)
{
	enum {
		STATES = 1 << 1 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 11, /* ESTABLISHED,
			FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING */
	};
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = AF_INET, .sdiag_protocol = IPPROTO_TCP, .idiag_states = STATES },
	};
	struct timeval tv = { .tv_sec = 5 };
	int port = *(int *)arg, fd;
	bool found = false, done = false;
	static char buf[32768] __attribute__((aligned(8)));

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return false;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (ntohs(m->id.idiag_dport) == port)
				found = true;
		}
	}
	close(fd);
	return found;
}

bool bt_wait_tcp_client(int port, int timeout_ms)
{
	return bt_poll(client_cond, &port, timeout_ms);
}
