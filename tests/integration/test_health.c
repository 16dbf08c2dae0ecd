/*
 * Worker health as a real PID 1, under real load where it matters: a worker that stops its
 * heartbeats (a busy loop, SIGSTOP) is replaced by a ready one before it is killed; a worker
 * that grows past --max-memory, or reaches --max-age, is recycled one slot at a time with no
 * failed request; an OOM kill is named with the limit; an idle baton does not wake up; the
 * control socket shows the health of every worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

/* Paths known before baton starts (its run directory exists only once it has). */
static char hang_path[128];
static char ctl_path[128];
static char wrk_path[128];
/* The run of the test in progress: one place, so that the teardown of a failed test stops it. */
static struct bt run;
/* wrk, while it runs. */
static pid_t wrk_pid;

/* ---- load ---- */

struct load {
	pid_t pid;
	long requests;
	long connect, read, write, timeout; /* wrk's "Socket errors" */
	long non2xx;
};

/* wrk -t2 -c8 on 127.0.0.1:port, a new connection for every request. */
static void load_start(struct load *l, int port, int seconds)
{
	char url[64], dur[16];

	memset(l, 0, sizeof(*l));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(dur, sizeof(dur), "%ds", seconds);
	l->pid = fork();
	assert_true(l->pid >= 0);
	wrk_pid = l->pid;
	if (l->pid == 0) {
		int fd = open(wrk_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		execlp("wrk", "wrk", "-t", "2", "-c", "8", "-d", dur, "--timeout", "3s", "-H",
		       "Connection: close", url, (char *)NULL);
		_exit(127);
	}
}

static long after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atol(p + strlen(key)) : 0;
}

/* Wait for wrk and read its counts; it must have seen real traffic. */
static void load_wait(struct load *l, int timeout_ms)
{
	int status = -1;
	char *out, *p;

	for (int64_t end = bt_now_ms() + timeout_ms; bt_now_ms() < end;) {
		if (waitpid(l->pid, &status, WNOHANG) == l->pid) {
			wrk_pid = 0;
			break;
		}
		usleep(20 * 1000);
	}
	if (!WIFEXITED(status)) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
		wrk_pid = 0;
		fail_msg("wrk did not finish");
	}
	out = bt_read_file(wrk_path);
	assert_non_null(out);
	fprintf(stderr, "%s", out);
	p = strstr(out, " requests in ");
	assert_non_null(p);
	while (p > out && p[-1] != '\n' && p[-1] != ' ')
		p--;
	l->requests = atol(p);
	/* "Socket errors: connect 0, read 1, write 0, timeout 2" */
	if ((p = strstr(out, "Socket errors:"))) {
		l->connect = after(p, "connect ");
		l->read = after(p, "read ");
		l->write = after(p, "write ");
		l->timeout = after(p, "timeout ");
	}
	l->non2xx = after(out, "Non-2xx or 3xx responses: ");
	free(out);
	unlink(wrk_path);
	assert_true(l->requests > 200);
}

static long load_failed(const struct load *l)
{
	return l->connect + l->read + l->write + l->timeout;
}

/* ---- baton ---- */

static void start_baton(struct bt *b, int port, const char *const opts[], const char *const app[])
{
	const char *args[64];
	char listen[64];
	int n = 0;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	args[n++] = "-v";
	args[n++] = "--listen";
	args[n++] = listen;
	args[n++] = "--control";
	args[n++] = ctl_path;
	for (int i = 0; opts[i] && n < 40; i++)
		args[n++] = opts[i];
	args[n++] = "--";
	args[n++] = bt_helper("health_app");
	for (int i = 0; app && app[i] && n < 62; i++)
		args[n++] = app[i];
	args[n] = NULL;
	unlink(ctl_path);
	bt_start(b, 0, args, NULL);
	if (!bt_wait_http(port, 15000)) {
		fail_msg("the app does not answer");
	}
}

static void stop_baton(struct bt *b)
{
	bt_signal(b, SIGTERM);
	if (!bt_wait_exit(b, 20000)) {
		fail_msg("baton did not stop");
	}
	bt_cleanup(b);
}

/* `baton ctl --socket CTL ARGS`: exit status, output in out. */
static int ctl(char *out, size_t len, const char *args)
{
	return bt_sh(out, len, "timeout 10 %s ctl --socket %s %s 2>&1", bt_baton(), ctl_path, args);
}

/* A number in /proc/PID/status. */
static long proc_status_num(pid_t pid, const char *field)
{
	char v[64];

	return bt_proc_status(pid, field, v, sizeof(v)) ? atol(v) : -1;
}

/* The pid of a host process inside baton's namespace (the last NSpid field). */
static int ns_pid(pid_t host)
{
	char v[64], *last;

	if (!bt_proc_status(host, "NSpid", v, sizeof(v)))
		return -1;
	last = strrchr(v, '\t') ? strrchr(v, '\t') + 1 : strrchr(v, ' ') ? strrchr(v, ' ') + 1 : v;
	return atoi(last);
}

/* Host pid of the worker of a slot (its BATON_WORKER_ID), or -1. */
static pid_t worker_of_slot(struct bt *b, int slot)
{
	pid_t pids[16];
	int n = bt_children(b, pids, 16);
	char want[32];

	snprintf(want, sizeof(want), "BATON_WORKER_ID=%d", slot);
	for (int i = 0; i < n && i < 16; i++) {
		char path[64], *env;
		size_t len = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pids[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		env = malloc(65536);
		len = fread(env, 1, 65535, f);
		fclose(f);
		for (size_t off = 0; off < len; off += strlen(env + off) + 1) {
			env[len] = '\0';
			if (strcmp(env + off, want) == 0) {
				free(env);
				return pids[i];
			}
		}
		free(env);
	}
	return -1;
}

/* ---- the log ---- */

/* Offset of the first line at or after from that contains every needle (NULL-terminated),
 * or -1. */
static long log_find(const char *log, long from, const char *const needles[])
{
	const char *line = log + from;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		bool all = true;

		for (int i = 0; needles[i] && all; i++) {
			const char *p = line;

			all = false;
			while ((p = strstr(p, needles[i])) && p + strlen(needles[i]) <= line + len) {
				all = true;
				break;
			}
		}
		if (all)
			return line - log;
		if (!end)
			break;
		line = end + 1;
	}
	return -1;
}

static void log_line(const char *log, long at, char *out, size_t len)
{
	const char *end = strchr(log + at, '\n');

	snprintf(out, len, "%.*s", end ? (int)(end - (log + at)) : (int)strlen(log + at), log + at);
}

/* "worker 1 (pid 2) exited with status 0", "... was killed by SIGKILL", "... stopped by the
 * SIGTERM baton sent", "... was killed by the kernel's OOM killer ..." */
static bool is_exit_line(const char *line)
{
	const char *p = strstr(line, "worker ");

	return p && (p = strstr(p, " (pid ")) && (p = strchr(p, ')')) &&
	       (strncmp(p, ") exited", 8) == 0 || strncmp(p, ") was killed", 12) == 0 ||
		strncmp(p, ") stopped by", 12) == 0);
}

/* Is this line about a worker leaving, or a signal sent to it? */
static bool is_end_line(const char *line)
{
	return strstr(line, "exited") || strstr(line, "killed") || strstr(line, "stopped by") ||
	       strstr(line, "sending SIG") || strstr(line, "SIGABRT") || strstr(line, "SIGKILL");
}

/* Wait until a line with second follows the first line with first. */
static bool wait_log_after(struct bt *b, const char *first, const char *second, int timeout_ms)
{
	for (int64_t end = bt_now_ms() + timeout_ms;; usleep(20 * 1000)) {
		char *log = bt_read_file(b->log);
		long at = log ? log_find(log, 0, W(first)) : -1;
		bool found = at >= 0 && log_find(log, at, W(second)) >= 0;

		free(log);
		if (found)
			return true;
		if (bt_now_ms() > end)
			return false;
	}
}

/* Does the line name "pid N" (not "pid N0")? */
static bool mentions_pid(const char *line, int pid)
{
	for (const char *p = line; (p = strstr(p, "pid ")); p += 4) {
		char *end;

		if (strtol(p + 4, &end, 10) == pid && end != p + 4)
			return true;
	}
	return false;
}

/* Offset of the first line at or after from that names "pid N" and contains word, or -1. */
static long log_find_pid(const char *log, long from, int pid, const char *word)
{
	for (long at = from; (at = log_find(log, at, W(word))) >= 0;) {
		const char *nl = strchr(log + at, '\n');
		char line[512];

		log_line(log, at, line, sizeof(line));
		if (mentions_pid(line, pid))
			return at;
		if (!nl)
			break;
		at = nl - log + 1;
	}
	return -1;
}

static bool gone(pid_t host)
{
	char state = bt_proc_state(host);

	return state == 0 || state == 'Z';
}

/*
 * The watchdog replaced worker 1 (host pid host, namespace pid old): a new worker of slot 1
 * started after the "missed" line, it was ready before any line about a signal to the old one
 * or its end, and the old one is gone. Returns the new worker's namespace pid.
 */
static int check_ready_first(struct bt *b, pid_t host, int old, int64_t bound_ms)
{
	char line[512];
	char *log = NULL;
	long missed = -1, started = -1, ready = -1;
	int fresh = -1;

	for (int64_t end = bt_now_ms() + bound_ms;; usleep(50 * 1000)) {
		bool old_gone = gone(host);

		free(log);
		log = bt_read_file(b->log);
		missed = log_find(log, 0, W("missed its watchdog"));
		started = missed < 0 ? -1 : log_find(log, missed, W("worker 1 started (pid "));
		if (started >= 0) {
			log_line(log, started, line, sizeof(line));
			sscanf(strstr(line, "(pid ") + 5, "%d", &fresh);
			/* "worker 1 (pid 4) ready after 5 ms", or "new pid 4 ready in 5 ms" */
			ready = log_find_pid(log, started, fresh, "ready");
			if (ready >= 0 && old_gone)
				break;
		}
		if (bt_now_ms() > end) {
			fail_msg("worker 1 (pid %d) was not replaced and stopped in time", old);
		}
	}
	/* Every line about a signal to the old worker or its end comes after the new one's
	 * readiness (the "missed" line itself may name the signal to come). */
	for (long at = missed; at >= 0;) {
		const char *nl = strchr(log + at, '\n');

		log_line(log, at, line, sizeof(line));
		if (at < ready && mentions_pid(line, old) && is_end_line(line) &&
		    !strstr(line, "missed its watchdog")) {
			fail_msg("the hung worker was signalled before its replacement was ready: %s",
				 line);
		}
		at = nl ? nl - log + 1 : -1;
	}
	fprintf(stderr, "worker 1: hung pid %d replaced by pid %d, ready first\n", old, fresh);
	free(log);
	return fresh;
}

/* ---- a, b: the watchdog ---- */

static void watchdog_case(bool sigstop)
{
	struct load l;
	int port = bt_free_port();
	pid_t host1;
	int old;
	int64_t t0, took;

	unlink(hang_path);
	start_baton(&run, port,
		    W("-w", "2", "--ready", "notify", "--watchdog", "1s", "--ready-timeout", "10s",
		      "--drain-timeout", "5s", "--term-timeout", "2s"),
		    W("-b", hang_path));
	assert_true(bt_wait_children(&run, 2, NULL, 10000));
	host1 = worker_of_slot(&run, 1);
	assert_true(host1 > 0);
	old = ns_pid(host1);
	assert_true(old > 0);
	/* No replacement while every worker sends its heartbeats. */
	load_start(&l, port, 10);
	usleep(3000 * 1000);
	assert_int_equal(bt_log_count(&run, "missed its watchdog"), 0);
	if (sigstop) {
		assert_int_equal(kill(host1, SIGSTOP), 0);
		t0 = bt_now_ms();
	} else {
		FILE *f = fopen(hang_path, "w");

		assert_non_null(f);
		fputs("1\n", f);
		fclose(f);
		if (!bt_wait_out_n(&run, "hung 1 ", 1, 5000)) {
			fail_msg("worker 1 did not hang");
		}
		t0 = bt_now_ms();
		/* Its replacement must not hang too. */
		unlink(hang_path);
	}
	/* Its last heartbeat was at most a third of the deadline before; 2 s of slack for a
	 * machine under wrk. */
	if (!bt_wait_log(&run, "missed its watchdog", 1000 + 1000 + 2000)) {
		fail_msg("no 'missed its watchdog' within --watchdog + 1 s (+ 2 s)");
	}
	took = bt_now_ms() - t0;
	fprintf(stderr, "missed its watchdog %lld ms after the %s\n", (long long)took,
		sigstop ? "SIGSTOP" : "hang");
	/* Ready-first: the new one's --ready-timeout, then --term-timeout for the old one. */
	/* The stopped or spinning process goes too: SIGKILL reaches a stopped one as well. */
	check_ready_first(&run, host1, old, 10000 + 2000 + 5000);
	load_wait(&l, 30000);
	/* Only what the hung worker had accepted can fail: at most one request per wrk
	 * connection (8), since a hung worker accepts nothing more. */
	fprintf(stderr, "failed requests: %ld (connect %ld, read %ld, write %ld, timeout %ld), "
			"non-2xx %ld, of %ld\n",
		load_failed(&l), l.connect, l.read, l.write, l.timeout, l.non2xx, l.requests);
	assert_true(load_failed(&l) <= 8);
	assert_int_equal(l.non2xx, 0);
	assert_int_equal(bt_log_count(&run, "missed its watchdog"), 1);
	unlink(hang_path);
	stop_baton(&run);
}

static void test_watchdog_busy_loop_under_load(void **state)
{
	(void)state;
	watchdog_case(false);
}

static void test_watchdog_sigstop(void **state)
{
	(void)state;
	watchdog_case(true);
}

/* With --ready fd every byte after the first is a heartbeat: a worker that writes them keeps
 * its slot, and one that stops writing them is replaced. */
static void test_watchdog_ready_fd(void **state)
{
	int port = bt_free_port();
	pid_t host1;
	int old;

	(void)state;
	start_baton(&run, port, W("-w", "1", "--ready", "fd", "--watchdog", "1s",
				  "--drain-timeout", "5s", "--term-timeout", "1s"),
		    W("-w", "300"));
	assert_true(bt_wait_children(&run, 1, &host1, 10000));
	old = ns_pid(host1);
	assert_true(old > 0);
	/* Three deadlines pass with heartbeats only on the ready fd. */
	assert_false(bt_wait_log(&run, "missed its watchdog", 3000));
	assert_int_equal(kill(host1, SIGSTOP), 0);
	assert_true(bt_wait_log(&run, "missed its watchdog", 1000 + 1000 + 2000));
	check_ready_first(&run, host1, old, 10000 + 1000 + 5000);
	stop_baton(&run);
}

/* ---- c: memory ---- */

static void test_memory_recycle_under_load(void **state)
{
	struct load l;
	int port = bt_free_port();
	char *log, line[512], needle[64];
	long over, started, at;
	int slot = 0, units = 0;

	(void)state;
	start_baton(&run, port,
		    W("-w", "2", "--ready", "notify", "--ready-timeout", "10s", "--max-memory", "64M",
		      "--check-interval", "200ms"),
		    W("-m", "16"));
	load_start(&l, port, 10);
	/* 16 MiB/s from a few MiB: past 64 MiB after about 4 s. */
	if (!bt_wait_log(&run, "over --max-memory", 10000)) {
		fail_msg("no worker was found over --max-memory");
	}
	log = bt_read_file(run.log);
	over = log_find(log, 0, W("over --max-memory"));
	log_line(log, over, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
	/* The size and the limit: "uses 67 MiB, over --max-memory 64 MiB". */
	assert_non_null(strstr(line, "64 MiB"));
	assert_non_null(strstr(line, "worker "));
	assert_int_equal(sscanf(strstr(line, "worker "), "worker %d", &slot), 1);
	for (const char *p = line; (p = strstr(p, "iB")); p += 2)
		units++;
	assert_true(units >= 2);
	free(log);
	/* A new worker for its slot, ready, then the old one drained, not killed. */
	snprintf(needle, sizeof(needle), "worker %d started (pid ", slot);
	if (!wait_log_after(&run, "over --max-memory", needle, 10000)) {
		fail_msg("no new worker for slot %d", slot);
	}
	load_wait(&l, 30000);
	log = bt_read_file(run.log);
	over = log_find(log, 0, W("over --max-memory"));
	started = log_find(log, over, W(needle));
	assert_true(started >= 0);
	log_line(log, started, line, sizeof(line));
	{
		int fresh = 0;

		sscanf(strstr(line, "(pid ") + 5, "%d", &fresh);
		assert_true(log_find_pid(log, started, fresh, "ready") >= 0);
	}
	assert_null(strstr(log, "SIGKILL"));
	assert_null(strstr(log, "killed by"));
	at = log_find(log, 0, W("missed its watchdog"));
	assert_true(at < 0);
	free(log);
	fprintf(stderr, "failed requests: %ld, non-2xx %ld, of %ld\n", load_failed(&l), l.non2xx,
		l.requests);
	assert_int_equal(load_failed(&l), 0);
	assert_int_equal(l.non2xx, 0);
	stop_baton(&run);
}

/* ---- d: age ---- */

/* How many slots have more than one worker in `ctl status --json` (-1: no answer). */
static int slots_replacing(void)
{
	char out[16384];
	int per_slot[64] = { 0 }, n = 0;

	if (ctl(out, sizeof(out), "status --json") != 0)
		return -1;
	for (const char *p = out; (p = strstr(p, "{\"slot\":")); p += 8) {
		int s = atoi(p + 8);

		if (s > 0 && s < 64 && ++per_slot[s] == 2)
			n++;
	}
	return n;
}

static void test_max_age_one_at_a_time(void **state)
{
	struct load l;
	int port = bt_free_port(), samples = 0, replacing_samples = 0, most = 0;
	char *log;
	int recycles, live = 0, most_live = 0;

	(void)state;
	start_baton(&run, port,
		    W("-w", "2", "--ready", "notify", "--ready-timeout", "10s", "--max-age", "5s"),
		    W("-d", "500"));
	load_start(&l, port, 20);
	for (int64_t end = bt_now_ms() + 20000; bt_now_ms() < end; usleep(100 * 1000)) {
		int r = slots_replacing();

		if (r < 0)
			continue;
		samples++;
		replacing_samples += r > 0;
		if (r > most)
			most = r;
	}
	load_wait(&l, 30000);
	recycles = bt_log_count(&run, "reached --max-age");
	fprintf(stderr, "%d recycles in 20 s; %d of %d status samples saw a slot being replaced, "
			"at most %d at once\n",
		recycles, replacing_samples, samples, most);
	/* The log agrees: counting "started" lines up and exit lines down, there are never more
	 * than 2 + 1 workers, i.e. one slot being replaced at a time. */
	log = bt_read_file(run.log);
	for (long at = 0; at >= 0 && log[at];) {
		const char *nl = strchr(log + at, '\n');
		char line[512];

		log_line(log, at, line, sizeof(line));
		if (strstr(line, " started (pid "))
			live++;
		else if (is_exit_line(line))
			live--;
		if (live > most_live)
			most_live = live;
		at = nl ? nl - log + 1 : -1;
	}
	free(log);
	fprintf(stderr, "at most %d workers at once in the log\n", most_live);
	assert_true(samples > 50);
	assert_true(recycles >= 3);
	/* Each old worker drains for 500 ms, so the samples see replacements... */
	assert_true(replacing_samples > 0);
	/* ...and never two slots at once. */
	assert_true(most <= 1);
	assert_int_equal(most_live, 3);
	fprintf(stderr, "failed requests: %ld, non-2xx %ld, of %ld\n", load_failed(&l), l.non2xx,
		l.requests);
	assert_int_equal(load_failed(&l), 0);
	assert_int_equal(l.non2xx, 0);
	stop_baton(&run);
}

/* ---- e: OOM ---- */

static char cg_dir[320];
static char cg_home[256]; /* where this process was, to go back to */

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* A child memory cgroup of this process's own, limited to 64 MiB; false if none can be made. */
static bool cg_make(char *why, size_t len)
{
	char *self = bt_read_file("/proc/self/cgroup"), *p, path[512];
	char *controllers = bt_read_file("/sys/fs/cgroup/cgroup.controllers");
	bool v1 = access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0;
	bool v2 = controllers && strstr(controllers, "memory");
	const char *key = v1 ? ":memory:" : "0::";

	if (!self) {
		snprintf(why, len, "cannot read /proc/self/cgroup");
		return false;
	}
	p = strstr(self, key);
	free(controllers);
	if (!p || (!v1 && !v2)) {
		snprintf(why, len, "no cgroup v1 memory hierarchy and no v2 memory controller");
		free(self);
		return false;
	}
	p += strlen(key);
	*strchrnul(p, '\n') = '\0';
	snprintf(cg_home, sizeof(cg_home), "%s%s", v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup",
		 strcmp(p, "/") == 0 ? "" : p);
	free(self);
	snprintf(cg_dir, sizeof(cg_dir), "%s/baton-oom-test.%d", cg_home, (int)getpid());
	if (mkdir(cg_dir, 0755) < 0 && errno != EEXIST) {
		snprintf(why, len, "cannot create %s: %s", cg_dir, strerror(errno));
		cg_dir[0] = '\0';
		return false;
	}
	if (v1) {
		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cg_dir);
		if (!write_file(path, "67108864"))
			goto fail;
		snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", cg_dir);
		if (access(path, F_OK) == 0 && !write_file(path, "67108864"))
			goto fail;
	} else {
		snprintf(path, sizeof(path), "%s/memory.max", cg_dir);
		if (!write_file(path, "67108864"))
			goto fail;
		snprintf(path, sizeof(path), "%s/memory.swap.max", cg_dir);
		if (access(path, F_OK) == 0)
			write_file(path, "0");
	}
	return true;
fail:
	snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
	rmdir(cg_dir);
	cg_dir[0] = '\0';
	return false;
}

static bool cg_enter(const char *dir)
{
	char path[512], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_file(path, pid);
}

/* Remove the cgroup once whatever was left in it has gone. */
static void cg_remove(void)
{
	char path[512];

	if (!cg_dir[0])
		return;
	/* Back home first, in case a failure came while this process was in it. */
	cg_enter(cg_home);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg_dir);
	for (int64_t end = bt_now_ms() + 5000; bt_now_ms() < end; usleep(20 * 1000)) {
		char *procs = bt_read_file(path);
		bool empty = !procs || !procs[0];

		free(procs);
		if (empty && rmdir(cg_dir) == 0)
			break;
	}
	if (access(cg_dir, F_OK) == 0)
		fprintf(stderr, "could not remove %s\n", cg_dir);
	cg_dir[0] = '\0';
}

static void test_oom_kill_named(void **state)
{
	char why[600];
	bool named;

	(void)state;
	if (!cg_make(why, sizeof(why))) {
		fprintf(stderr, "skipped: %s\n", why);
		skip();
	}
	/* baton and everything it starts inherit the cgroup of the process that forks it: this
	 * one, which is in the cgroup only while bt_start forks. */
	if (!cg_enter(cg_dir)) {
		fprintf(stderr, "skipped: cannot move into %s: %s\n", cg_dir, strerror(errno));
		cg_remove();
		skip();
	}
	bt_start(&run, 0, W("-w", "1", "-v", "--control", ctl_path, "--", bt_helper("health_app"),
			  "-a", "200"),
		 NULL);
	if (!cg_enter(cg_home))
		fprintf(stderr, "could not move back to %s: %s\n", cg_home, strerror(errno));
	named = bt_wait_log(&run, "was killed by the kernel's OOM killer (memory limit 64 MiB)", 20000);
	if (!named) {
		bt_dump(&run);
	} else {
		char *log = bt_read_file(run.log), line[512];

		log_line(log, log_find(log, 0, W("OOM killer")), line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		free(log);
	}
	bt_cleanup(&run);
	cg_remove();
	assert_true(named);
}

/* ---- f: idle ---- */

/* baton's voluntary context switches over 10 s, from 1 s after its worker is ready. */
static long idle_switches(const char *const opts[], const char *const app[])
{
	int port = bt_free_port();
	long before, after;

	start_baton(&run, port, opts, app);
	assert_true(bt_wait_log(&run, ") ready after", 10000));
	usleep(1000 * 1000);
	before = proc_status_num(run.baton, "voluntary_ctxt_switches");
	usleep(10 * 1000 * 1000);
	after = proc_status_num(run.baton, "voluntary_ctxt_switches");
	assert_true(before >= 0 && after >= 0);
	stop_baton(&run);
	return after - before;
}

static void test_idle_no_context_switches(void **state)
{
	long none, wd;

	(void)state;
	none = idle_switches(W("-w", "1", "--ready", "notify"), NULL);
	fprintf(stderr, "idle, no health option: %ld voluntary context switches in 10 s\n", none);
	assert_int_equal(none, 0);
	/* With --watchdog 1s and a heartbeat every 500 ms: one wake-up per heartbeat received
	 * (20 in 10 s) and at most 2 a second of baton's own. */
	wd = idle_switches(W("-w", "1", "--ready", "notify", "--watchdog", "1s"), W("-i", "2"));
	fprintf(stderr, "idle, --watchdog 1s, heartbeat every 500 ms: %ld voluntary context "
			"switches in 10 s (bound 40)\n",
		wd);
	assert_true(wd < 40);
}

/* ---- g: status and live ---- */

static void test_ctl_live_and_status(void **state)
{
	int port = bt_free_port(), workers = 0, rc;
	char out[16384];

	(void)state;
	start_baton(&run, port, W("-w", "2", "--ready", "notify", "--watchdog", "2s"), NULL);
	assert_true(bt_wait_log_n(&run, ") ready after", 2, 10000));
	assert_int_equal(ctl(out, sizeof(out), "status --json"), 0);
	fprintf(stderr, "%s", out);
	for (const char *p = out; (p = strstr(p, "{\"slot\":")); p += 8) {
		const char *end = strchr(p, '}');
		const char *rss = strstr(p, "\"rss_bytes\":");
		const char *hb = strstr(p, "\"heartbeat_age_ms\":");
		const char *last = strstr(p, "\"last_replacement\":");

		workers++;
		assert_true(rss && rss < end && hb && hb < end && last && last < end);
		assert_true(atoll(rss + strlen("\"rss_bytes\":")) > 0);
		assert_true(atoll(hb + strlen("\"heartbeat_age_ms\":")) >= 0);
		assert_memory_equal(last + strlen("\"last_replacement\":"), "null", 4);
	}
	assert_int_equal(workers, 2);
	assert_int_equal(ctl(out, sizeof(out), "status"), 0);
	fprintf(stderr, "%s", out);
	assert_non_null(strstr(out, "MEMORY"));
	assert_non_null(strstr(out, "HEARTBEAT"));
	assert_non_null(strstr(out, "REPLACED"));
	rc = ctl(out, sizeof(out), "live");
	fprintf(stderr, "ctl live: %d %s", rc, out);
	assert_int_equal(rc, 0);
	stop_baton(&run);

	/* A worker that is never ready: after twice --ready-timeout without a ready worker in its
	 * slot, live says no. */
	unlink(ctl_path);
	bt_start(&run, 0, W("-w", "1", "--ready", "fd", "--ready-timeout", "1s", "--control", ctl_path,
			  "--", "sleep", "1000"),
		 NULL);
	assert_true(bt_wait_log(&run, "not ready after 1000 ms", 10000));
	for (int64_t end = bt_now_ms() + 10000; (rc = ctl(out, sizeof(out), "live")) != 1;) {
		if (bt_now_ms() > end) {
			fail_msg("ctl live still says %d: %s", rc, out);
		}
		usleep(200 * 1000);
	}
	bt_cleanup(&run);
}

/* Whatever a failed test left: baton, wrk, files. */
static int after_test(void **state)
{
	(void)state;
	if (run.pid > 0) {
		/* Still running: the test failed before it stopped baton. */
		bt_dump(&run);
		bt_cleanup(&run);
	}
	if (wrk_pid > 0) {
		kill(wrk_pid, SIGKILL);
		waitpid(wrk_pid, NULL, 0);
		wrk_pid = 0;
	}
	unlink(hang_path);
	unlink(ctl_path);
	unlink(wrk_path);
	cg_remove();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(hang_path, sizeof(hang_path), "/tmp/baton-health-hang.%d", (int)getpid());
	snprintf(ctl_path, sizeof(ctl_path), "/tmp/baton-health-ctl.%d.sock", (int)getpid());
	snprintf(wrk_path, sizeof(wrk_path), "/tmp/baton-health-wrk.%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(hang_path);
	unlink(ctl_path);
	unlink(wrk_path);
	cg_remove();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ctl_live_and_status, after_test),
		cmocka_unit_test_teardown(test_idle_no_context_switches, after_test),
		cmocka_unit_test_teardown(test_watchdog_busy_loop_under_load, after_test),
		cmocka_unit_test_teardown(test_watchdog_sigstop, after_test),
		cmocka_unit_test_teardown(test_watchdog_ready_fd, after_test),
		cmocka_unit_test_teardown(test_memory_recycle_under_load, after_test),
		cmocka_unit_test_teardown(test_max_age_one_at_a_time, after_test),
		cmocka_unit_test_teardown(test_oom_kill_named, after_test),
	};

	return cmocka_run_group_tests_name("integration: health", tests, setup, teardown);
}
