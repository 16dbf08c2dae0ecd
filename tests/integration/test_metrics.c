/*
 * --metrics as a real PID 1: the output passes `promtool check metrics`; a real Prometheus
 * server scrapes baton every second and answers queries for the worker, rollout and queue
 * metrics; a rollout, a broken deploy and a SIGKILLed worker move their counters; the accept
 * queue of the --listen socket shows the connections waiting while every worker is stopped;
 * 200 idle connections to the metrics port do not stop a status or a fresh scrape; and without
 * --metrics nothing more listens and an idle baton does not wake up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define W(...) (const char *const[]){ __VA_ARGS__, NULL }

/* Idle connections to the metrics port, and how much baton's memory may grow with them: the
 * server keeps at most 64 connections (the rest are dropped to make room), each a slot of a
 * table allocated once with an 8 KiB request buffer that an idle connection never touches. */
#define IDLE_CONNS 200
#define IDLE_RSS_BOUND_KB 1024
#define QUEUED 50

static struct bt run;
static char ctl_path[128];
static char version_path[128];
static char version_env[200];
static char app_cmd[512];
static pid_t prom_pid;
static char prom_dir[128];

/* ---- helpers ---- */

static void set_version(const char *v)
{
	FILE *f = fopen(version_path, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", v);
	fclose(f);
}

static long proc_status_num(pid_t pid, const char *field)
{
	char v[64];

	return bt_proc_status(pid, field, v, sizeof(v)) ? atol(v) : -1;
}

/* One HTTP/1.0 request to 127.0.0.1:port; the status, the whole response in resp. Bounded
 * by a 5 s socket timeout. */
static int http(int port, const char *req, char *resp, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code = -1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		code = -errno;
		close(fd);
		return code;
	}
	while (got < len - 1 && (n = read(fd, resp + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*s %d", &code) != 1)
		return -EPROTO;
	return code;
}

static int scrape(int port, char *body, size_t len)
{
	char *resp = malloc(len + 1024), *b;
	int code;

	assert_non_null(resp);
	code = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, len + 1024);
	b = strstr(resp, "\r\n\r\n");
	snprintf(body, len, "%s", b ? b + 4 : "");
	free(resp);
	return code;
}

/* The value of the sample whose line starts with `series ` (name and labels exactly as
 * baton writes them), or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

static double scraped(int port, const char *series)
{
	static char body[65536];

	if (scrape(port, body, sizeof(body)) != 200)
		return -2;
	return sample(body, series);
}

struct wait_sample {
	int port;
	const char *series;
	double want;
};

static bool sample_is(void *arg)
{
	struct wait_sample *w = arg;

	return scraped(w->port, w->series) == w->want;
}

/* Poll a fresh scrape until series has the value want; report what it had last. */
static void expect_scraped(int port, const char *series, double want, int timeout_ms)
{
	struct wait_sample w = { port, series, want };

	if (!bt_poll(sample_is, &w, timeout_ms)) {
		bt_dump(&run);
		fail_msg("%s is %g, expected %g", series, scraped(port, series), want);
	}
}

/* Host pid of the worker of a slot (its BATON_WORKER_ID), or -1. */
static pid_t worker_of_slot(struct bt *b, int slot)
{
	pid_t pids[16];
	int n = bt_children(b, pids, 16);
	char want[32];

	snprintf(want, sizeof(want), "BATON_WORKER_ID=%d", slot);
	for (int i = 0; i < n && i < 16; i++) {
		char path[64], env[16384];
		size_t len;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pids[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		len = fread(env, 1, sizeof(env) - 1, f);
		fclose(f);
		env[len] = '\0';
		for (size_t off = 0; off < len; off += strlen(env + off) + 1)
			if (strcmp(env + off, want) == 0)
				return pids[i];
	}
	return -1;
}

/* ---- the Prometheus server ---- */

static int prom_port;

static bool prom_up(void *arg)
{
	char resp[4096];

	(void)arg;
	return http(prom_port, "GET /-/ready HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 200;
}

/* A Prometheus server on 127.0.0.1 scraping 127.0.0.1:metrics_port every second, with its
 * data in a temporary directory. false (and a line saying so) when there is no prometheus. */
static bool prom_start(int metrics_port)
{
	char path[256];
	FILE *f;

	if (bt_sh(NULL, 0, "command -v prometheus >/dev/null") != 0) {
		fprintf(stderr, "skipped: the Prometheus server parts: no prometheus binary "
				"(Debian's package prometheus; scripts/install-deps installs it)\n");
		return false;
	}
	snprintf(prom_dir, sizeof(prom_dir), "/tmp/baton-metrics-prom.%d", (int)getpid());
	mkdir(prom_dir, 0700);
	snprintf(path, sizeof(path), "%s/prometheus.yml", prom_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
		   "  evaluation_interval: 1s\n"
		   "scrape_configs:\n  - job_name: baton\n    static_configs:\n"
		   "      - targets: ['127.0.0.1:%d']\n",
		metrics_port);
	fclose(f);
	prom_port = bt_free_port();
	prom_pid = fork();
	assert_true(prom_pid >= 0);
	if (prom_pid == 0) {
		char cfg[300], data[300], listen[64], log[300];
		int fd;

		snprintf(cfg, sizeof(cfg), "--config.file=%s", path);
		snprintf(data, sizeof(data), "--storage.tsdb.path=%s/data", prom_dir);
		snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", prom_port);
		snprintf(log, sizeof(log), "%s/log", prom_dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp("prometheus", "prometheus", cfg, data, listen, "--log.level=warn",
		       (char *)NULL);
		_exit(127);
	}
	if (!bt_poll(prom_up, NULL, 60000)) {
		bt_sh(NULL, 0, "cat %s/log >&2", prom_dir);
		fail_msg("prometheus did not become ready");
	}
	return true;
}

static void prom_stop(void)
{
	if (prom_pid > 0) {
		kill(prom_pid, SIGTERM);
		if (!bt_wait_pid(prom_pid, NULL, 10000)) {
			kill(prom_pid, SIGKILL);
			waitpid(prom_pid, NULL, 0);
		}
		prom_pid = 0;
	}
	if (prom_dir[0]) {
		bt_sh(NULL, 0, "rm -rf %s", prom_dir);
		prom_dir[0] = '\0';
	}
}

/* The value Prometheus has now for an instant query (one series), or -1. */
static double prom_query(const char *query)
{
	char req[1024], resp[16384], *p = req;
	const char *v;

	p += sprintf(p, "GET /api/v1/query?query=");
	for (const char *q = query; *q && p < req + sizeof(req) - 64; q++) {
		if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		    *q == '_')
			*p++ = *q;
		else
			p += sprintf(p, "%%%02X", (unsigned char)*q);
	}
	sprintf(p, " HTTP/1.0\r\n\r\n");
	if (http(prom_port, req, resp, sizeof(resp)) != 200)
		return -2;
	/* {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
	 * "value":[1700000000.123,"2"]}]}} */
	v = strstr(resp, "\"value\":[");
	if (!v || !(v = strchr(v, ',')) || v[1] != '"')
		return -1;
	return atof(v + 2);
}

struct wait_query {
	const char *query;
	double want;
};

static bool query_is(void *arg)
{
	struct wait_query *w = arg;

	return prom_query(w->query) == w->want;
}

static void expect_queried(const char *query, double want, int timeout_ms)
{
	struct wait_query w = { query, want };

	if (!bt_poll(query_is, &w, timeout_ms))
		fail_msg("Prometheus answers %g for %s, expected %g", prom_query(query), query, want);
	fprintf(stderr, "Prometheus: %s = %g\n", query, want);
}

/* ---- baton ---- */

/* 2 workers of the test app behind --listen, ready by fd; the version file decides whether a
 * new worker starts ("crash": it exits 1 at once). */
static void start(int port, int metrics_port)
{
	char listen[64], metrics[64];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", metrics_port);
	snprintf(app_cmd, sizeof(app_cmd),
		 "[ \"$(cat %s)\" = crash ] && exit 1; exec %s -H -r 100", version_path,
		 bt_helper("worker"));
	set_version("v1");
	unlink(ctl_path);
	bt_start(&run, 0,
		 W("-w", "2", "-v", "--listen", listen, "--metrics", metrics, "--control", ctl_path,
		   "--ready", "fd", "--ready-timeout", "5s", "--drain-timeout", "2s", "--", "sh",
		   "-c", app_cmd),
		 W(version_env));
	if (!bt_wait_log_n(&run, ") ready after", 2, 15000)) {
		bt_dump(&run);
		fail_msg("the workers did not become ready");
	}
}

static void stop(void)
{
	bt_signal(&run, SIGTERM);
	if (!bt_wait_exit(&run, 20000))
		fail_msg("baton did not stop");
	bt_cleanup(&run);
}

static int ctl(char *out, size_t len, const char *args)
{
	return bt_sh(out, len, "timeout 10 %s ctl --socket %s %s 2>&1", bt_baton(), ctl_path, args);
}

/* ---- tests ---- */

/* The answer's head and the format, checked by promtool; 404, 405, 400 for the rest. */
static void test_format_and_promtool(void **state)
{
	int port = bt_free_port(), mport = bt_free_port();
	static char resp[65536], path[256];
	FILE *f;
	char *body;

	(void)state;
	start(port, mport);
	assert_int_equal(http(mport, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp)),
			 200);
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Length: "));
	body = strstr(resp, "\r\n\r\n") + 4;
	assert_int_equal(atol(strstr(resp, "Content-Length: ") + 16), (long)strlen(body));
	assert_true(sample(body, "baton_build_info{version=\"" BATON_VERSION "\"}") == 1);
	assert_true(sample(body, "baton_workers_wanted") == 2);
	assert_true(sample(body, "baton_workers{state=\"ready\"}") == 2);
	assert_true(sample(body, "baton_worker_uptime_seconds{slot=\"1\"}") > 0);
	assert_true(sample(body, "baton_worker_resident_memory_bytes{slot=\"2\"}") > 0);
	assert_true(sample(body, "baton_resident_memory_bytes") > 0);
	assert_true(sample(body, "baton_open_fds") > 0);
	snprintf(path, sizeof(path), "/tmp/baton-metrics-out.%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	if (bt_sh(NULL, 0, "command -v promtool >/dev/null") != 0) {
		fprintf(stderr, "skipped: promtool check: no promtool (Debian's package prometheus)\n");
	} else {
		char out[4096];
		int rc = bt_sh(out, sizeof(out), "promtool check metrics < %s 2>&1", path);

		if (rc != 0) {
			fprintf(stderr, "%s\n%s\n", body, out);
			fail_msg("promtool check metrics failed");
		}
		fprintf(stderr, "promtool check metrics: ok (%zu bytes)\n", strlen(body));
	}
	unlink(path);
	assert_int_equal(http(mport, "GET / HTTP/1.1\r\n\r\n", resp, sizeof(resp)), 404);
	assert_int_equal(http(mport, "POST /metrics HTTP/1.1\r\n\r\n", resp, sizeof(resp)), 405);
	assert_int_equal(http(mport, "hello there\r\n\r\n", resp, sizeof(resp)), 400);
	stop();
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static bool both_stopped(void *arg)
{
	const pid_t *p = arg;

	return bt_proc_state(p[0]) == 'T' && bt_proc_state(p[1]) == 'T';
}

/* Counters move with what happens, and a real Prometheus reads them back. */
static void test_counters_and_prometheus(void **state)
{
	int port = bt_free_port(), mport = bt_free_port(), fds[QUEUED];
	bool prom;
	pid_t pids[2], victim;
	char series[128], limit[128];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	(void)state;
	start(port, mport);
	prom = prom_start(mport);
	if (prom) {
		expect_queried("baton_workers{state=\"ready\"}", 2, 30000);
		expect_queried("baton_workers_wanted", 2, 10000);
	}

	/* Every worker stopped, QUEUED connections wait in the accept queue. */
	assert_true(bt_wait_children(&run, 2, pids, 5000));
	kill(pids[0], SIGSTOP);
	kill(pids[1], SIGSTOP);
	/* Stopped for real (the signal is asynchronous) before the first connection comes. */
	assert_true(bt_poll(both_stopped, pids, 5000));
	for (int i = 0; i < QUEUED; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	snprintf(series, sizeof(series),
		 "baton_listen_queue_length{socket=\"127.0.0.1:%d\",name=\"tcp-%d\"}", port, port);
	expect_scraped(mport, series, QUEUED, 5000);
	snprintf(limit, sizeof(limit),
		 "baton_listen_queue_limit{socket=\"127.0.0.1:%d\",name=\"tcp-%d\"}", port, port);
	fprintf(stderr, "accept queue with every worker stopped: %g (limit %g)\n",
		scraped(mport, series), scraped(mport, limit));
	if (prom)
		expect_queried("baton_listen_queue_length", QUEUED, 15000);
	/* Each waiting connection sends its request now, so that the workers, which read one
	 * request per connection, take them all once they run again. */
	for (int i = 0; i < QUEUED; i++)
		assert_true(write(fds[i], "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	kill(pids[0], SIGCONT);
	kill(pids[1], SIGCONT);
	expect_scraped(mport, series, 0, 10000);
	if (prom)
		expect_queried("baton_listen_queue_length", 0, 15000);
	for (int i = 0; i < QUEUED; i++)
		close(fds[i]);


	/* A rollout: complete +1. */
	expect_scraped(mport, "baton_rollouts_total{outcome=\"complete\"}", 0, 5000);
	bt_signal(&run, SIGHUP);
	assert_true(bt_wait_log(&run, "complete: 2 workers replaced", 30000));
	expect_scraped(mport, "baton_rollouts_total{outcome=\"complete\"}", 1, 5000);
	assert_true(scraped(mport, "baton_last_rollout_duration_seconds") > 0);
	/* Its two old workers drained: exited after the drain signal, within the histogram. */
	assert_true(scraped(mport, "baton_drains_total{how=\"exited\"}") >= 2);
	assert_true(scraped(mport, "baton_drain_duration_seconds_count") >= 2);
	assert_true(scraped(mport, "baton_drain_duration_seconds_bucket{le=\"+Inf\"}") ==
		    scraped(mport, "baton_drain_duration_seconds_count"));
	if (prom)
		expect_queried("baton_rollouts_total{outcome=\"complete\"}", 1, 15000);

	/* A broken deploy: rolled back +1, and the old workers stay. */
	set_version("crash");
	bt_signal(&run, SIGHUP);
	assert_true(bt_wait_log(&run, "keeping the old workers", 30000));
	expect_scraped(mport, "baton_rollouts_total{outcome=\"rolled_back\"}", 1, 5000);
	expect_scraped(mport, "baton_rollouts_total{outcome=\"complete\"}", 1, 1000);
	if (prom)
		expect_queried("baton_rollouts_total{outcome=\"rolled_back\"}", 1, 15000);
	set_version("v1");

	/* SIGKILL the worker of slot 2: its restarts by "signal" +1. */
	snprintf(series, sizeof(series), "baton_worker_restarts_total{slot=\"2\",cause=\"signal\"}");
	expect_scraped(mport, series, 0, 5000);
	victim = worker_of_slot(&run, 2);
	assert_true(victim > 0);
	kill(victim, SIGKILL);
	expect_scraped(mport, series, 1, 10000);
	expect_scraped(mport, "baton_worker_restarts_total{slot=\"1\",cause=\"signal\"}", 0, 1000);
	expect_scraped(mport, "baton_workers{state=\"ready\"}", 2, 15000);
	if (prom)
		expect_queried(series, 1, 15000);

	/* The same numbers in `ctl status --json`, and `ctl top` until Ctrl-C. */
	{
		static char out[65536];
		int rc;

		assert_int_equal(ctl(out, sizeof(out), "status --json"), 0);
		if (!strstr(out, "\"rollouts\":{\"complete\":1,\"rolled_back\":1,") ||
		    !strstr(out, "\"2\":{\"exit\":") || !strstr(out, "\"listen_queues\":[{"))
			fail_msg("status --json: %s", out);
		rc = bt_sh(out, sizeof(out),
			   "timeout --preserve-status -s INT 2.5 %s ctl --socket %s top 2>&1",
			   bt_baton(), ctl_path);
		if (rc != 0 || !strstr(out, "rollouts: complete 1, rolled_back 1") ||
		    !strstr(out, "\033[H\033[2J") || !strstr(out, "accept queue 127.0.0.1:"))
			fail_msg("ctl top: exit %d: %s", rc, out);
		fprintf(stderr, "ctl top: redrawn %d times in 2.5 s, then exit 0 on SIGINT\n",
			count_of(out, "baton top "));
	}

	prom_stop();
	stop();
}

/* 200 connections to the metrics port that never send a byte. */
static void test_idle_connections(void **state)
{
	int port = bt_free_port(), mport = bt_free_port(), fds[IDLE_CONNS], n_ok = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)mport),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	long rss_before, rss_after, sw_before, sw_after;
	int64_t t0, t_status, t_scrape;
	char out[16384];
	static char body[65536];

	(void)state;
	start(port, mport);
	assert_int_equal(scrape(mport, body, sizeof(body)), 200); /* the answer's buffer exists */
	rss_before = proc_status_num(run.baton, "VmRSS");
	for (int i = 0; i < IDLE_CONNS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		n_ok += connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0;
	}
	assert_int_equal(n_ok, IDLE_CONNS);
	/* baton has taken them all (the newest are held, the oldest dropped to make room). */
	usleep(200 * 1000);
	t0 = bt_now_ms();
	assert_int_equal(ctl(out, sizeof(out), "status"), 0);
	t_status = bt_now_ms() - t0;
	t0 = bt_now_ms();
	assert_int_equal(scrape(mport, body, sizeof(body)), 200);
	t_scrape = bt_now_ms() - t0;
	rss_after = proc_status_num(run.baton, "VmRSS");
	fprintf(stderr,
		"%d idle connections to the metrics port: ctl status in %lld ms, a scrape in %lld "
		"ms; baton's RSS %ld kB -> %ld kB (bound +%d kB)\n",
		IDLE_CONNS, (long long)t_status, (long long)t_scrape, rss_before, rss_after,
		IDLE_RSS_BOUND_KB);
	assert_true(t_status < 1000);
	assert_true(t_scrape < 1000);
	assert_true(rss_after - rss_before < IDLE_RSS_BOUND_KB);
	assert_true(sample(body, "baton_workers{state=\"ready\"}") == 2);
	for (int i = 0; i < IDLE_CONNS; i++)
		close(fds[i]);
	/* Every connection gone, the one timer of the endpoint is disarmed: baton sleeps. */
	usleep(500 * 1000);
	sw_before = proc_status_num(run.baton, "voluntary_ctxt_switches");
	usleep(5 * 1000 * 1000);
	sw_after = proc_status_num(run.baton, "voluntary_ctxt_switches");
	fprintf(stderr, "--metrics on, no client: %ld voluntary context switches in 5 s idle\n",
		sw_after - sw_before);
	assert_int_equal(sw_after - sw_before, 0);
	stop();
}

/* The socket inodes of /proc/net/tcp and tcp6 in state LISTEN (0A) that pid holds. */
static int listening_sockets(pid_t pid)
{
	char out[8192];
	int n;

	n = bt_sh(out, sizeof(out),
		  "for i in $(awk '$4 == \"0A\" { print $10 }' /proc/net/tcp /proc/net/tcp6); do "
		  "ls -l /proc/%d/fd 2>/dev/null | grep -c \"socket:\\[$i\\]\"; done | "
		  "awk '{ s += $1 } END { print s + 0 }'",
		  (int)pid);
	return n == 0 ? atoi(out) : -1;
}

/* Without --metrics: the --listen socket is baton's only TCP listener, and idle baton sleeps. */
static void test_off_listens_nothing_and_sleeps(void **state)
{
	int port = bt_free_port();
	char listen[64];
	long before, after;

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	unlink(ctl_path);
	bt_start(&run, 0,
		 W("-w", "1", "--listen", listen, "--control", ctl_path, "--ready", "fd", "--",
		   bt_helper("worker"), "-H", "-r", "100"),
		 NULL);
	assert_true(bt_wait_http(port, 15000));
	assert_int_equal(listening_sockets(run.baton), 1);
	usleep(1000 * 1000);
	before = proc_status_num(run.baton, "voluntary_ctxt_switches");
	usleep(10 * 1000 * 1000);
	after = proc_status_num(run.baton, "voluntary_ctxt_switches");
	fprintf(stderr, "--metrics off: 1 TCP listener (--listen), %ld voluntary context switches "
			"in 10 s idle\n",
		after - before);
	assert_int_equal(after - before, 0);
	stop();
}

static int after_test(void **state)
{
	(void)state;
	prom_stop();
	if (run.pid > 0) {
		bt_dump(&run);
		bt_cleanup(&run);
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(ctl_path, sizeof(ctl_path), "/tmp/baton-metrics-ctl.%d.sock", (int)getpid());
	snprintf(version_path, sizeof(version_path), "/tmp/baton-metrics-version.%d", (int)getpid());
	snprintf(version_env, sizeof(version_env), "APP_VERSION_FILE=%s", version_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(ctl_path);
	unlink(version_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_format_and_promtool, after_test),
		cmocka_unit_test_teardown(test_counters_and_prometheus, after_test),
		cmocka_unit_test_teardown(test_idle_connections, after_test),
		cmocka_unit_test_teardown(test_off_listens_nothing_and_sleeps, after_test),
	};

	return cmocka_run_group_tests_name("integration: metrics", tests, setup, teardown);
}
