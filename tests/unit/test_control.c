/*
 * The control socket server in a real loop, driven by real client connections in the same
 * process (and by forked ones for another uid and for `baton ctl` itself). Every wait pumps
 * the loop in short slices up to a bound, so a broken server fails a test instead of hanging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/control.h"
#include "baton/loop.h"

#define BOUND_MS 5000

static struct loop loop;
static struct ctl_server *srv;
static char dir[64];
static char sock_path[128];

/* ---- fake core ---- */

static struct fake {
	int views, reloads, scales, drains;
	int scale_n;
	int reload_ret;
	const char *reload_err;
	int drain_ret;
	const char *w0_state;
	bool stopping;
	bool drain_stops_at_once; /* ctl_workers_stopped from inside drain */
	int notes;
} fake;

static int fake_view_size(void *ctx)
{
	return 2;
}

static void fake_view(void *ctx, struct ctl_view *v)
{
	fake.views++;
	v->pool_state = fake.stopping ? "stopping" : "running";
	v->stopping = fake.stopping;
	v->workers_wanted = 2;
	v->n = 2;
	v->w[0] = (struct ctl_worker_view){ 1, 101, fake.w0_state, 1500, 0, -1, 1, 0, false, 0, NULL };
	v->w[1] = (struct ctl_worker_view){ 2, 102, "starting", 20, 2, 1, 1, 0, false, 0, NULL };
}

static int fake_reload(void *ctx, char *err, size_t errlen)
{
	fake.reloads++;
	if (fake.reload_err)
		snprintf(err, errlen, "%s", fake.reload_err);
	return fake.reload_ret;
}

static int fake_scale(void *ctx, int n, char *err, size_t errlen)
{
	fake.scales++;
	fake.scale_n = n;
	return 0;
}

static int fake_drain(void *ctx)
{
	fake.drains++;
	if (fake.drain_stops_at_once)
		ctl_workers_stopped(srv);
	return fake.drain_ret;
}

static void fake_note(void *ctx, enum log_level level, const char *msg)
{
	fake.notes++;
}

static const struct ctl_ops ops = {
	.view_size = fake_view_size,
	.view = fake_view,
	.reload = fake_reload,
	.scale = fake_scale,
	.drain = fake_drain,
	.note = fake_note,
};

/* ---- loop pumping ---- */

static long loop_turns;

static void on_slice_end(struct loop_timer *t)
{
	(void)t; /* only bounds a turn of the loop */
}

/* Run the loop in slices of 10 ms until cond(arg) holds or ms have passed. */
static bool pump_until(bool (*cond)(void *), void *arg, int ms)
{
	int64_t end = loop_now_ms() + ms;
	struct loop_timer slice;

	loop_timer_init(&slice, on_slice_end, NULL);
	for (;;) {
		int64_t now = loop_now_ms();

		bool met = cond && cond(arg);

		if (met || now >= end) {
			loop_timer_set(&loop, &slice, -1);
			return met || !cond;
		}
		loop_timer_set(&loop, &slice, now + 10 < end ? now + 10 : end);
		assert_true(loop_run_once(&loop) >= 0);
		loop_turns++;
	}
}

static void pump(int ms)
{
	pump_until(NULL, NULL, ms);
}

static bool count_is(void *arg)
{
	return ctl_client_count(srv) == *(int *)arg;
}

static void wait_count(int n)
{
	if (!pump_until(count_is, &n, BOUND_MS))
		fail_msg("client count %d, want %d", ctl_client_count(srv), n);
}

/* ---- in-process clients ---- */

static void sun_set(struct sockaddr_un *addr, const char *path)
{
	size_t len = strlen(path);

	assert_true(len < sizeof(addr->sun_path));
	memcpy(addr->sun_path, path, len + 1);
}

struct cl {
	int fd;
	char buf[8192];
	size_t len;
	bool eof;
};

static void cl_connect(struct cl *c)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	sun_set(&addr, sock_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
}

static void cl_send(struct cl *c, const char *data, size_t len)
{
	assert_int_equal(send(c->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Take what has arrived; eof on end of stream or a reset. */
static void cl_read(struct cl *c)
{
	while (!c->eof && c->len < sizeof(c->buf) - 1) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			c->eof = true;
			break;
		}
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
}

static bool cl_eof(void *arg)
{
	struct cl *c = arg;

	cl_read(c);
	return c->eof;
}

static bool cl_has_line(void *arg)
{
	struct cl *c = arg;

	cl_read(c);
	return memchr(c->buf, '\n', c->len) != NULL;
}

static void cl_wait_eof(struct cl *c)
{
	if (!pump_until(cl_eof, c, BOUND_MS))
		fail_msg("no end of reply; got \"%s\"", c->buf);
}

static void cl_close(struct cl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* One whole exchange; the reply is left in c->buf. */
static void exchange(struct cl *c, const char *req, size_t len)
{
	int before = ctl_client_count(srv);

	cl_connect(c);
	cl_send(c, req, len);
	cl_wait_eof(c);
	cl_close(c);
	wait_count(before);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	char err[256];
	bool fb = true;

	memset(&fake, 0, sizeof(fake));
	fake.w0_state = "ready";
	snprintf(dir, sizeof(dir), "/tmp/baton-ctl-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);
	if (loop_init(&loop) < 0)
		return -1;
	if (ctl_open(&srv, &loop, sock_path, true, &ops, &fb, err, sizeof(err)) < 0) {
		fprintf(stderr, "ctl_open: %s\n", err);
		return -1;
	}
	if (fb || strcmp(ctl_path(srv), sock_path))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct stat st;

	ctl_close(srv);
	srv = NULL;
	loop_close(&loop);
	/* ctl_close removed the socket file: the directory is empty again. */
	if (lstat(sock_path, &st) == 0) {
		fprintf(stderr, "socket file left behind\n");
		unlink(sock_path);
		rmdir(dir);
		return -1;
	}
	return rmdir(dir);
}

/* ---- tests ---- */

static void test_status(void **state)
{
	struct cl c;
	struct stat st;

	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	exchange(&c, "baton/1 status\n", 15);
	assert_string_equal(c.buf, "pool: running, 2 workers wanted\n"
				   "SLOT  PID      STATE     UPTIME  RESTARTS LAST  GEN  MEMORY    "
				   "HEARTBEAT REPLACED\n"
				   "1     101      ready     1s      0        -     1    -         -         -\n"
				   "2     102      starting  20ms    2        1     1    -         -         -\n"
				   "ok\n");
	exchange(&c, "baton/1 status json\n", 20);
	assert_true(c.buf[0] == '{');
	assert_non_null(strstr(c.buf, "\"workers\":[{\"slot\":1,\"pid\":101,\"state\":\"ready\""));
	assert_non_null(strstr(c.buf, "}]}\nok\n"));
	assert_int_equal(fake.views, 2);
}

static void test_ready(void **state)
{
	struct cl c;

	exchange(&c, "baton/1 ready\n", 14);
	assert_string_equal(c.buf, "ok ready\n");
	fake.w0_state = "starting";
	exchange(&c, "baton/1 ready\n", 14);
	assert_string_equal(c.buf, "error not ready: no worker is ready\n");
	fake.w0_state = "ready";
	fake.stopping = true;
	exchange(&c, "baton/1 ready\n", 14);
	assert_string_equal(c.buf, "error not ready: baton is stopping\n");
}

struct cmd_case {
	const char *req;
	size_t len; /* 0: strlen */
	int reload_ret;
	const char *reload_err;
	const char *reply;
	int reloads, scales, scale_n, drains;
};

static const struct cmd_case cmd_cases[] = {
	{ "baton/1 reload\n", 0, 0, NULL, "ok rollout started\n", 1, 0, 0, 0 },
	{ "baton/1 reload\n", 0, -EBUSY, "baton is stopping", "error baton is stopping\n", 1, 0, 0,
	  0 },
	{ "baton/1 reload\n", 0, -EIO, NULL, "error Input/output error\n", 1, 0, 0, 0 },
	{ "baton/1 scale 3\n", 0, 0, NULL, "ok scaling to 3 workers\n", 0, 1, 3, 0 },
	{ "baton/1 scale 1\n", 0, 0, NULL, "ok scaling to 1 worker\n", 0, 1, 1, 0 },
	{ "baton/1 drain\n", 0, 0, NULL, "ok draining\n", 0, 0, 0, 1 },
	/* Hostile or broken requests: an error line, and the core is never called. */
	{ "baton/1 scale 0\n", 0, 0, NULL, "error scale: \"0\" is not a number from 1 to 4096\n",
	  0, 0, 0, 0 },
	{ "baton/1 scale -5\n", 0, 0, NULL,
	  "error scale: \"-5\" is not a number from 1 to 4096\n", 0, 0, 0, 0 },
	{ "baton/2 status\n", 0, 0, NULL,
	  "error unsupported protocol version baton/2 (this baton speaks baton/1)\n", 0, 0, 0, 0 },
	{ "baton/1 reboot\n", 0, 0, NULL, "error unknown command \"reboot\"\n", 0, 0, 0, 0 },
	{ "\n", 0, 0, NULL, "error empty request\n", 0, 0, 0, 0 },
	{ "baton/1 drain\0\n", 15, 0, NULL, "error request is not printable text\n", 0, 0, 0, 0 },
	{ "baton/1 drain\r\n", 0, 0, NULL, "error request is not printable text\n", 0, 0, 0, 0 },
	{ "baton/1 drain\nbaton/1 drain\n", 0, 0, NULL, "error one request per connection\n", 0,
	  0, 0, 0 },
	{ "baton/9 drain\nbaton/1 drain\n", 0, 0, NULL,
	  "error unsupported protocol version baton/9 (this baton speaks baton/1)\n", 0, 0, 0, 0 },
	{ "GET / HTTP/1.0\n", 0, 0, NULL,
	  "error not a baton request: expected \"baton/1 COMMAND\"\n", 0, 0, 0, 0 },
};

static void test_commands(void **state)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *k = &cmd_cases[i];
		struct cl c;

		memset(&fake, 0, sizeof(fake));
		fake.w0_state = "ready";
		fake.reload_ret = k->reload_ret;
		fake.reload_err = k->reload_err;
		exchange(&c, k->req, k->len ? k->len : strlen(k->req));
		if (strcmp(c.buf, k->reply))
			fail_msg("case %zu: reply \"%s\", want \"%s\"", i, c.buf, k->reply);
		assert_int_equal(fake.reloads, k->reloads);
		assert_int_equal(fake.scales, k->scales);
		assert_int_equal(fake.scale_n, k->scale_n);
		assert_int_equal(fake.drains, k->drains);
		assert_int_equal(fake.views, 0);
	}
}

static void test_incomplete_request(void **state)
{
	struct cl c;

	/* The client ends its input before the newline. */
	cl_connect(&c);
	cl_send(&c, "baton/1 sta", 11);
	shutdown(c.fd, SHUT_WR);
	cl_wait_eof(&c);
	assert_string_equal(c.buf, "error incomplete request: no newline before end of input\n");
	cl_close(&c);
	wait_count(0);

	/* A connect-only probe is closed without a word. */
	cl_connect(&c);
	wait_count(1);
	cl_close(&c);
	wait_count(0);
}

static void test_reload_wait(void **state)
{
	struct cl a, b, st;

	ctl_set_idle_timeout(srv, 100);
	cl_connect(&a);
	cl_send(&a, "baton/1 reload wait\n", 20);
	assert_true(pump_until(cl_has_line, &a, BOUND_MS));
	assert_string_equal(a.buf, "rollout started\n");
	assert_int_equal(fake.reloads, 1);

	/* Waiting clients have no idle timeout. */
	pump(400);
	cl_read(&a);
	assert_false(a.eof);
	assert_string_equal(a.buf, "rollout started\n");
	assert_int_equal(ctl_client_count(srv), 1);

	/* Other clients are served meanwhile. */
	exchange(&st, "baton/1 ready\n", 14);
	assert_string_equal(st.buf, "ok ready\n");
	wait_count(1);

	ctl_reload_finished(srv, true, "rollout complete");
	cl_wait_eof(&a);
	assert_string_equal(a.buf, "rollout started\nok rollout complete\n");
	cl_close(&a);
	wait_count(0);

	/* Two waiters, and a failed rollout. */
	cl_connect(&a);
	cl_connect(&b);
	cl_send(&a, "baton/1 reload wait\n", 20);
	cl_send(&b, "baton/1 reload wait\n", 20);
	assert_true(pump_until(cl_has_line, &a, BOUND_MS));
	assert_true(pump_until(cl_has_line, &b, BOUND_MS));
	ctl_reload_finished(srv, false, "worker 1 exited with status 3\n(before ready)");
	cl_wait_eof(&a);
	cl_wait_eof(&b);
	assert_string_equal(a.buf, "rollout started\n"
				   "error rollout failed: worker 1 exited with status 3?(before ready)\n");
	assert_string_equal(b.buf, a.buf);
	cl_close(&a);
	cl_close(&b);
	wait_count(0);

	/* A refused reload is answered at once, even with wait. */
	fake.reload_ret = -EBUSY;
	fake.reload_err = "baton is stopping";
	exchange(&a, "baton/1 reload wait\n", 20);
	assert_string_equal(a.buf, "error baton is stopping\n");

	/* A waiter that hangs up is forgotten. */
	fake.reload_ret = 0;
	cl_connect(&a);
	cl_send(&a, "baton/1 reload wait\n", 20);
	assert_true(pump_until(cl_has_line, &a, BOUND_MS));
	cl_close(&a);
	wait_count(0);
	ctl_reload_finished(srv, true, NULL);
	pump(20);
}

static void test_wait_half_closed(void **state)
{
	struct cl a;

	/* Like `socat`: the request, then the end of its input, then it still reads. */
	cl_connect(&a);
	cl_send(&a, "baton/1 reload wait\n", 20);
	shutdown(a.fd, SHUT_WR);
	assert_true(pump_until(cl_has_line, &a, BOUND_MS));
	pump(100);
	assert_int_equal(ctl_client_count(srv), 1);
	ctl_reload_finished(srv, true, NULL);
	cl_wait_eof(&a);
	assert_string_equal(a.buf, "rollout started\nok rollout complete\n");
	cl_close(&a);
	wait_count(0);
}

static void test_drain_wait(void **state)
{
	struct cl d, r;

	cl_connect(&d);
	cl_connect(&r);
	cl_send(&d, "baton/1 drain wait\n", 19);
	cl_send(&r, "baton/1 reload wait\n", 20);
	assert_true(pump_until(cl_has_line, &d, BOUND_MS));
	assert_true(pump_until(cl_has_line, &r, BOUND_MS));
	assert_string_equal(d.buf, "draining\n");
	assert_int_equal(fake.drains, 1);
	pump(100);
	assert_int_equal(ctl_client_count(srv), 2);

	ctl_workers_stopped(srv);
	cl_wait_eof(&d);
	cl_wait_eof(&r);
	assert_string_equal(d.buf, "draining\nok all workers stopped\n");
	assert_string_equal(r.buf,
			    "rollout started\nerror rollout interrupted: baton is stopping\n");
	/* Until they hang up, they count: the core waits for this before exiting. */
	assert_int_equal(ctl_client_count(srv), 2);
	cl_close(&d);
	cl_close(&r);
	wait_count(0);

	/* Once stopped, a drain wait is answered at once. */
	exchange(&d, "baton/1 drain wait\n", 19);
	assert_string_equal(d.buf, "draining\nok all workers stopped\n");
	assert_int_equal(fake.drains, 2);
}

static void test_drain_wait_sync(void **state)
{
	struct cl d;

	/* The core may stop everything from inside the drain call (no worker running). */
	fake.drain_stops_at_once = true;
	exchange(&d, "baton/1 drain wait\n", 19);
	assert_string_equal(d.buf, "draining\nok all workers stopped\n");

	fake.drain_stops_at_once = false;
	fake.drain_ret = -EPERM;
	exchange(&d, "baton/1 drain\n", 14);
	assert_string_equal(d.buf, "error cannot drain: Operation not permitted\n");
}

static void test_wait_cap(void **state)
{
	struct cl w[CTL_MAX_CLIENTS / 2], extra;

	for (int i = 0; i < CTL_MAX_CLIENTS / 2; i++) {
		cl_connect(&w[i]);
		cl_send(&w[i], "baton/1 reload wait\n", 20);
		assert_true(pump_until(cl_has_line, &w[i], BOUND_MS));
	}
	exchange(&extra, "baton/1 drain wait\n", 19);
	assert_string_equal(extra.buf, "error busy: too many waiting clients (limit 8), try again\n");
	assert_int_equal(fake.drains, 0);
	/* Status still works. */
	exchange(&extra, "baton/1 ready\n", 14);
	assert_string_equal(extra.buf, "ok ready\n");
	for (int i = 0; i < CTL_MAX_CLIENTS / 2; i++)
		cl_close(&w[i]);
	wait_count(0);
}

static void test_idle_timeout(void **state)
{
	struct cl c;
	struct epoll_event ev[4];
	int64_t t0;

	ctl_set_idle_timeout(srv, 500);
	t0 = loop_now_ms();
	cl_connect(&c);
	pump(50);
	assert_int_equal(ctl_client_count(srv), 1);
	cl_wait_eof(&c);
	assert_true(loop_now_ms() - t0 >= 490);
	assert_string_equal(c.buf, "error timed out waiting for a request\n");
	wait_count(0);
	cl_close(&c);

	/* A partial request does not reset the clock forever: same end. */
	cl_connect(&c);
	cl_send(&c, "baton/1 st", 10);
	cl_wait_eof(&c);
	assert_string_equal(c.buf, "error timed out waiting for a request\n");
	cl_close(&c);
	wait_count(0);

	/* A client that has its reply but never hangs up is let go too. */
	cl_connect(&c);
	cl_send(&c, "baton/1 ready\n", 14);
	cl_wait_eof(&c);
	assert_string_equal(c.buf, "ok ready\n");
	assert_int_equal(ctl_client_count(srv), 1);
	wait_count(0);
	cl_close(&c);

	/* No client, no wake-up: nothing in the loop becomes ready. */
	pump(30);
	assert_int_equal(epoll_wait(loop.epfd, ev, 4, 400), 0);
}

static void test_busy(void **state)
{
	struct cl c[CTL_MAX_CLIENTS], extra, fresh;

	ctl_set_idle_timeout(srv, 60000);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		cl_connect(&c[i]);
		wait_count(i + 1); /* accepted in order: c[0] is the one silent longest */
	}

	/* Every slot is taken by a silent client: the one silent longest makes room. */
	exchange(&extra, "baton/1 ready\n", 14);
	assert_string_equal(extra.buf, "ok ready\n");
	cl_wait_eof(&c[0]);
	assert_string_equal(c[0].buf, "error dropped: every control client slot is taken and this "
				      "connection sent nothing\n");
	cl_close(&c[0]);

	/* The silent ones left are still served when they speak. */
	cl_send(&c[3], "baton/1 ready\n", 14);
	cl_wait_eof(&c[3]);
	assert_string_equal(c[3].buf, "ok ready\n");
	cl_close(&c[3]);

	/* Clients that have spoken are never dropped: a partial request counts, and so do bytes
	 * sent before baton accepted the connection. */
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (c[i].fd < 0)
			cl_connect(&c[i]);
		cl_send(&c[i], "baton/1 st", 10);
	}
	wait_count(CTL_MAX_CLIENTS);
	cl_connect(&fresh);
	cl_send(&fresh, "baton/1 ready\n", 14);
	cl_wait_eof(&fresh);
	assert_string_equal(fresh.buf,
			    "error busy: too many control clients (limit 16), try again\n");
	cl_close(&fresh);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		cl_read(&c[i]);
		assert_false(c[i].eof);
		assert_int_equal(c[i].len, 0);
	}

	/* A freed slot takes a new client. */
	cl_close(&c[5]);
	wait_count(CTL_MAX_CLIENTS - 1);
	exchange(&extra, "baton/1 ready\n", 14);
	assert_string_equal(extra.buf, "ok ready\n");
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (i != 5)
			cl_close(&c[i]);
	wait_count(0);
}

static bool push_garbage(void *arg)
{
	struct cl *c = arg;
	static char junk[100 * 1024];
	static size_t sent;

	if (!arg) {
		/* Binary, no newline in the first kilobytes. */
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i % 251 == 10 ? 11 : i % 251);
		sent = 0;
		return false;
	}
	while (sent < sizeof(junk)) {
		ssize_t n = send(c->fd, junk + sent, sizeof(junk) - sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	return cl_eof(c);
}

static void test_garbage(void **state)
{
	struct cl c;

	push_garbage(NULL);
	cl_connect(&c);
	assert_true(pump_until(push_garbage, &c, BOUND_MS));
	assert_string_equal(c.buf, "error request too long (limit 1024 bytes)\n");
	cl_close(&c);
	wait_count(0);

	/* And baton goes on. */
	exchange(&c, "baton/1 ready\n", 14);
	assert_string_equal(c.buf, "ok ready\n");

	/* Exactly one byte over the limit, with the newline: refused; at the limit: parsed. */
	{
		char req[CTL_REQUEST_MAX + 1];

		memset(req, 'x', sizeof(req));
		memcpy(req, "baton/1 scale ", 14);
		req[CTL_REQUEST_MAX] = '\n';
		exchange(&c, req, sizeof(req));
		assert_string_equal(c.buf, "error request too long (limit 1024 bytes)\n");
		req[CTL_REQUEST_MAX - 1] = '\n';
		exchange(&c, req, CTL_REQUEST_MAX);
		assert_non_null(strstr(c.buf, "is not a number"));
	}
	assert_int_equal(fake.scales, 0);
}

static void test_out_of_fds(void **state)
{
	struct rlimit saved, low;
	struct cl a, b;
	long turns;
	int probe;

	cl_connect(&a);
	cl_connect(&b);
	/* No fd left for accept: the listening socket stays readable. */
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	fake.notes = 0;
	turns = loop_turns;
	pump(300);
	turns = loop_turns - turns;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	/* Paused, not spinning: about one turn per 10 ms slice, not thousands. */
	if (turns > 100)
		fail_msg("%ld loop turns in 300 ms", turns);
	assert_true(fake.notes >= 1);
	assert_int_equal(ctl_client_count(srv), 0);

	/* With fds back, accepting resumes by itself. */
	cl_send(&a, "baton/1 ready\n", 14);
	cl_wait_eof(&a);
	assert_string_equal(a.buf, "ok ready\n");
	cl_send(&b, "baton/1 ready\n", 14);
	cl_wait_eof(&b);
	assert_string_equal(b.buf, "ok ready\n");
	cl_close(&a);
	cl_close(&b);
	wait_count(0);
}

/* ---- forked clients ---- */

static bool child_done(void *arg)
{
	int *st = arg;
	pid_t pid = (pid_t)st[0];

	return waitpid(pid, &st[1], WNOHANG) == pid;
}

static int wait_child(pid_t pid)
{
	int st[2] = { pid, 0 };

	if (!pump_until(child_done, st, BOUND_MS)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("child did not finish");
	}
	return WIFEXITED(st[1]) ? WEXITSTATUS(st[1]) : 128 + WTERMSIG(st[1]);
}

/* In a child as uid 65534: 0 if the expectation held. */
static int other_uid_child(bool expect_eacces)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char buf[512];
	size_t len = 0;
	int fd;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	sun_set(&addr, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return expect_eacces && errno == EACCES ? 0 : 11;
	if (expect_eacces)
		return 12;
	send(fd, "baton/1 drain\n", 14, MSG_NOSIGNAL);
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return strcmp(buf, "error permission denied: uid 65534 may not use the control socket "
			   "(only root)\n") == 0 ? 0 : 13;
}

static void test_other_uid(void **state)
{
	pid_t pid;

	if (geteuid() != 0)
		skip();
	/* The socket's mode keeps others out already. */
	assert_int_equal(chmod(dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(other_uid_child(true));
	assert_int_equal(wait_child(pid), 0);

	/* And if the mode were opened up, SO_PEERCRED still refuses them. */
	assert_int_equal(chmod(sock_path, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(other_uid_child(false));
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(fake.drains, 0);
	assert_int_equal(ctl_client_count(srv), 0);
	assert_true(fake.notes > 0);
}

/* ---- ctl_client_main ---- */

static pid_t client_pid;

struct run {
	int status;
	char out[8192], err[2048];
};

static void drain_pipe(int fd, char *buf, size_t cap)
{
	size_t len = strlen(buf);

	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

/*
 * Run ctl_client_main(args) in a child with stdout and stderr captured, pumping the loop
 * meanwhile; hook(arg) runs between slices (to answer --wait clients).
 */
static void run_client(struct run *r, const char *const *args, bool (*hook)(void *))
{
	int out[2], err[2], argc = 0;
	char *argv[16];
	pid_t pid;
	int st[2];
	int64_t end = loop_now_ms() + BOUND_MS;

	memset(r, 0, sizeof(*r));
	argv[argc++] = "ctl";
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;
	assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC | O_NONBLOCK), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		int rc = ctl_client_main(argc, argv);

		fflush(NULL);
		_exit(rc);
	}
	close(out[1]);
	close(err[1]);
	client_pid = pid;
	st[0] = pid;
	for (;;) {
		drain_pipe(out[0], r->out, sizeof(r->out));
		drain_pipe(err[0], r->err, sizeof(r->err));
		if (child_done(st))
			break;
		if (loop_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("ctl client did not finish; out \"%s\" err \"%s\"", r->out, r->err);
		}
		if (hook)
			hook(NULL);
		pump(10);
	}
	drain_pipe(out[0], r->out, sizeof(r->out));
	drain_pipe(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	r->status = WIFEXITED(st[1]) ? WEXITSTATUS(st[1]) : 128 + WTERMSIG(st[1]);
}

static bool one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

static void test_client_no_server(void **state)
{
	char path[160], stale[160];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct run r;
	int fd;

	snprintf(path, sizeof(path), "%s/none.sock", dir);
	run_client(&r, (const char *[]){ "--socket", path, "status", NULL }, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_true(one_line(r.err));
	assert_non_null(strstr(r.err, "baton ctl: cannot connect to "));
	assert_non_null(strstr(r.err, "(is baton running?)"));

	/* A socket file left by a baton that is gone. */
	snprintf(stale, sizeof(stale), "%s/stale.sock", dir);
	sun_set(&addr, stale);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	run_client(&r, (const char *[]){ "--socket", stale, "ready", NULL }, NULL);
	unlink(stale);
	assert_int_equal(r.status, 1);
	assert_true(one_line(r.err));
	assert_non_null(strstr(r.err, "Connection refused (is baton running?)"));

	setenv("BATON_CONTROL", "none", 1);
	run_client(&r, (const char *[]){ "ready", NULL }, NULL);
	unsetenv("BATON_CONTROL");
	assert_int_equal(r.status, 1);
	assert_true(one_line(r.err));
}

static const struct usage_case {
	const char *args[5];
	int status;
} usage_cases[] = {
	{ { NULL }, 2 },
	{ { "bogus", NULL }, 2 },
	{ { "scale", NULL }, 2 },
	{ { "scale", "abc", NULL }, 2 },
	{ { "scale", "0", NULL }, 2 },
	{ { "scale", "4097", NULL }, 2 },
	{ { "scale", "2", "3", NULL }, 2 },
	{ { "status", "--wait", NULL }, 2 },
	{ { "status", "--json", "--json", NULL }, 2 },
	{ { "ready", "now", NULL }, 2 },
	{ { "reload", "--json", NULL }, 2 },
	{ { "--socket", NULL }, 2 },
	{ { "--socket=", "status", NULL }, 2 },
	{ { "--frob", "status", NULL }, 2 },
};

static void test_client_usage(void **state)
{
	struct run r;

	for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
		run_client(&r, usage_cases[i].args, NULL);
		if (r.status != usage_cases[i].status)
			fail_msg("case %zu: status %d, err \"%s\"", i, r.status, r.err);
		assert_string_equal(r.out, "");
		assert_non_null(strstr(r.err, "Try 'baton ctl --help'."));
	}
	assert_int_equal(fake.views + fake.reloads + fake.scales + fake.drains, 0);
	run_client(&r, (const char *[]){ "--help", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: baton ctl"));
}

static bool finish_rollout_once(void *arg)
{
	static int64_t seen;

	if (fake.reloads == 0) {
		seen = 0;
		return false;
	}
	if (!seen)
		seen = loop_now_ms();
	else if (seen > 0 && loop_now_ms() - seen > 100) {
		ctl_reload_finished(srv, false, "worker 1 was not ready in time");
		seen = -1;
	}
	return true;
}

static bool stop_workers_once(void *arg)
{
	static bool done;

	if (fake.drains == 0) {
		done = false;
		return false;
	}
	if (!done)
		ctl_workers_stopped(srv);
	done = true;
	return true;
}

/* What baton does once the workers are gone: SIGTERM to every process left, the waiting
 * client included, and only then the answer. */
static bool sweep_then_stop(void *arg)
{
	static int step;

	if (fake.drains == 0) {
		step = 0;
		return false;
	}
	if (step++ == 5) {
		kill(client_pid, SIGTERM);
		ctl_workers_stopped(srv);
	}
	return true;
}

static void test_client_drain_survives_sweep(void **state)
{
	struct run r;

	sweep_then_stop(NULL);
	run_client(&r, (const char *[]){ "--socket", sock_path, "drain", "--wait", NULL },
		   sweep_then_stop);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "draining\nall workers stopped\n");
	wait_count(0);
}

static void test_client_commands(void **state)
{
	char opt[160];
	struct run r;

	snprintf(opt, sizeof(opt), "--socket=%s", sock_path);
	run_client(&r, (const char *[]){ "--socket", sock_path, "status", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "pool: running, 2 workers wanted\nSLOT"));
	assert_string_equal(r.err, "");

	run_client(&r, (const char *[]){ opt, "status", "--json", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_true(r.out[0] == '{' && one_line(r.out));

	setenv("BATON_CONTROL", sock_path, 1);
	run_client(&r, (const char *[]){ "ready", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "ready\n");
	fake.w0_state = "draining";
	run_client(&r, (const char *[]){ "ready", NULL }, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "baton ctl: not ready: no worker is ready\n");
	fake.w0_state = "ready";

	run_client(&r, (const char *[]){ "scale", "4", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(fake.scale_n, 4);
	assert_string_equal(r.out, "scaling to 4 workers\n");

	run_client(&r, (const char *[]){ "reload", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "rollout started\n");
	fake.reload_ret = -EBUSY;
	fake.reload_err = "baton is stopping";
	run_client(&r, (const char *[]){ "reload", NULL }, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "baton ctl: baton is stopping\n");
	fake.reload_ret = 0;
	fake.reload_err = NULL;

	/* --wait: the answer comes when the core says so, and its outcome is the exit status. */
	fake.reloads = 0;
	finish_rollout_once(NULL);
	run_client(&r, (const char *[]){ "reload", "--wait", NULL }, finish_rollout_once);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "rollout started\n");
	assert_string_equal(r.err, "baton ctl: rollout failed: worker 1 was not ready in time\n");

	stop_workers_once(NULL);
	run_client(&r, (const char *[]){ "drain", "--wait", NULL }, stop_workers_once);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "draining\nall workers stopped\n");
	unsetenv("BATON_CONTROL");
	wait_count(0);
}

static void test_client_other_uid(void **state)
{
	pid_t pid;
	int pipefd[2], st;
	char buf[512] = "";

	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(sock_path, 0666), 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "ctl", "--socket", sock_path, "reload", NULL };

		dup2(pipefd[1], 2);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		_exit(ctl_client_main(4, argv));
	}
	close(pipefd[1]);
	st = wait_child(pid);
	assert_true(read(pipefd[0], buf, sizeof(buf) - 1) > 0);
	close(pipefd[0]);
	assert_int_equal(st, 1);
	if (!one_line(buf) || !strstr(buf, "baton ctl: permission denied: uid 65534"))
		fail_msg("stderr \"%s\"", buf);
	assert_int_equal(fake.reloads, 0);
}

/* ---- opening ---- */

static void test_open_paths(void **state)
{
	struct ctl_server *other = NULL;
	char err[512], path[160], xdg[96], file[160];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	bool fb = false;
	int fd;

	/* A live socket is not taken over. */
	assert_int_equal(ctl_open(&other, &loop, sock_path, true, &ops, &fb, err, sizeof(err)),
			 -EADDRINUSE);
	assert_null(other);
	assert_non_null(strstr(err, "another process is listening on it"));
	assert_int_equal(lstat(sock_path, &st), 0);

	/* A stale one is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	sun_set(&addr, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(ctl_open(&other, &loop, path, true, &ops, &fb, err, sizeof(err)), 0);
	assert_false(fb);
	ctl_close(other);
	assert_int_equal(lstat(path, &st), -1);

	/* Anything else is left alone. */
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	assert_int_equal(ctl_open(&other, &loop, file, true, &ops, &fb, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(lstat(file, &st), 0);
	unlink(file);

	/* An explicit path has no fallback. */
	assert_int_equal(ctl_open(&other, &loop, "/nonexistent-baton-dir/b.sock", true, &ops, &fb,
				  err, sizeof(err)),
			 -ENOENT);
	assert_false(fb);
	assert_non_null(strstr(err, "/nonexistent-baton-dir/b.sock"));

	/* The default one falls back to $XDG_RUNTIME_DIR, and says so. */
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	assert_int_equal(mkdir(xdg, 0700), 0);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	assert_int_equal(ctl_open(&other, &loop, "/nonexistent-baton-dir/b.sock", false, &ops, &fb,
				  err, sizeof(err)),
			 0);
	unsetenv("XDG_RUNTIME_DIR");
	assert_true(fb);
	snprintf(path, sizeof(path), "%s/baton.sock", xdg);
	assert_string_equal(ctl_path(other), path);
	assert_non_null(strstr(err, "/nonexistent-baton-dir/b.sock"));
	assert_non_null(strstr(err, path));
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A file that replaced ours is not removed on close. */
	unlink(path);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	ctl_close(other);
	assert_int_equal(lstat(path, &st), 0);
	unlink(path);
	rmdir(xdg);

	/* Path too long for sun_path. */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(ctl_open(&other, &loop, path, true, &ops, &fb, err, sizeof(err)),
			 -ENAMETOOLONG);
	ctl_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_half_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_wait_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_no_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_drain_survives_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_other_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_paths, setup, teardown),
	};

	/* A peer that hangs up must not kill the test process either. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
