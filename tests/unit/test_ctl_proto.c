/* The control protocol: request parsing (hostile input included) and reply formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baton/control.h"

struct req_case {
	const char *line;
	size_t len; /* 0: strlen(line) */
	int ret;
	enum ctl_cmd cmd;
	bool json, wait;
	int count;
	const char *err_has; /* substring of the error message */
};

static const struct req_case req_cases[] = {
	{ "baton/1 status", 0, 0, CTL_STATUS, false, false, 0, NULL },
	{ "baton/1 status json", 0, 0, CTL_STATUS, true, false, 0, NULL },
	{ "baton/1 ready", 0, 0, CTL_READY, false, false, 0, NULL },
	{ "baton/1 reload", 0, 0, CTL_RELOAD, false, false, 0, NULL },
	{ "baton/1 reload wait", 0, 0, CTL_RELOAD, false, true, 0, NULL },
	{ "baton/1 drain", 0, 0, CTL_DRAIN, false, false, 0, NULL },
	{ "baton/1 drain wait", 0, 0, CTL_DRAIN, false, true, 0, NULL },
	{ "baton/1 scale 1", 0, 0, CTL_SCALE, false, false, 1, NULL },
	{ "baton/1 scale 4", 0, 0, CTL_SCALE, false, false, 4, NULL },
	{ "baton/1 scale 007", 0, 0, CTL_SCALE, false, false, 7, NULL },
	{ "baton/1 scale 4096", 0, 0, CTL_SCALE, false, false, 4096, NULL },
	/* Empty, framing, bytes. */
	{ "", 0, -EINVAL, 0, false, false, 0, "empty" },
	{ " ", 0, -EINVAL, 0, false, false, 0, "single spaces" },
	{ "baton/1  status", 0, -EINVAL, 0, false, false, 0, "single spaces" },
	{ " baton/1 status", 0, -EINVAL, 0, false, false, 0, "single spaces" },
	{ "baton/1 status ", 0, -EINVAL, 0, false, false, 0, "single spaces" },
	{ "baton/1 status\r", 0, -EINVAL, 0, false, false, 0, "printable" },
	{ "baton/1\tstatus", 0, -EINVAL, 0, false, false, 0, "printable" },
	{ "baton/1 st\0tus", 14, -EINVAL, 0, false, false, 0, "printable" },
	{ "baton/1 \xff\xfe", 0, -EINVAL, 0, false, false, 0, "printable" },
	{ "\x1b[2J", 0, -EINVAL, 0, false, false, 0, "printable" },
	{ "baton/1 status json x y", 0, -EINVAL, 0, false, false, 0, "too many" },
	/* Version and command. */
	{ "status", 0, -EINVAL, 0, false, false, 0, "not a baton request" },
	{ "GET / HTTP/1.1", 0, -EINVAL, 0, false, false, 0, "not a baton request" },
	{ "baton/2 status", 0, -EPROTONOSUPPORT, 0, false, false, 0, "baton/2" },
	{ "baton/10 status", 0, -EPROTONOSUPPORT, 0, false, false, 0, "this baton speaks baton/1" },
	{ "baton/ status", 0, -EPROTONOSUPPORT, 0, false, false, 0, "version" },
	{ "baton/1", 0, -EINVAL, 0, false, false, 0, "missing command" },
	{ "baton/1 STATUS", 0, -EINVAL, 0, false, false, 0, "unknown command" },
	{ "baton/1 restart", 0, -EINVAL, 0, false, false, 0, "unknown command \"restart\"" },
	{ "baton/1 statusjson", 0, -EINVAL, 0, false, false, 0, "unknown command" },
	/* Arguments. */
	{ "baton/1 status --json", 0, -EINVAL, 0, false, false, 0, "json" },
	{ "baton/1 status wait", 0, -EINVAL, 0, false, false, 0, "json" },
	{ "baton/1 status json json", 0, -EINVAL, 0, false, false, 0, "json" },
	{ "baton/1 ready now", 0, -EINVAL, 0, false, false, 0, "no argument" },
	{ "baton/1 reload json", 0, -EINVAL, 0, false, false, 0, "wait" },
	{ "baton/1 drain now", 0, -EINVAL, 0, false, false, 0, "wait" },
	/* scale with bad numbers. */
	{ "baton/1 scale", 0, -EINVAL, 0, false, false, 0, "one argument" },
	{ "baton/1 scale 2 3", 0, -EINVAL, 0, false, false, 0, "one argument" },
	{ "baton/1 scale 0", 0, -EINVAL, 0, false, false, 0, "from 1 to 4096" },
	{ "baton/1 scale 4097", 0, -EINVAL, 0, false, false, 0, "from 1 to 4096" },
	{ "baton/1 scale -1", 0, -EINVAL, 0, false, false, 0, "\"-1\"" },
	{ "baton/1 scale +3", 0, -EINVAL, 0, false, false, 0, "\"+3\"" },
	{ "baton/1 scale 3x", 0, -EINVAL, 0, false, false, 0, "not a number" },
	{ "baton/1 scale 0x10", 0, -EINVAL, 0, false, false, 0, "not a number" },
	{ "baton/1 scale 1e2", 0, -EINVAL, 0, false, false, 0, "not a number" },
	{ "baton/1 scale 4294967297", 0, -EINVAL, 0, false, false, 0, "not a number" },
	{ "baton/1 scale 99999999999999999999999999999999", 0, -EINVAL, 0, false, false, 0,
	  "not a number" },
};

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		struct ctl_request req;
		char err[128] = "";
		size_t len = c->len ? c->len : strlen(c->line);
		int r = ctl_parse_request(c->line, len, &req, err, sizeof(err));

		if (r != c->ret)
			fail_msg("case %zu \"%s\": got %d (%s), want %d", i, c->line, r, err, c->ret);
		if (r == 0) {
			assert_int_equal(req.cmd, c->cmd);
			assert_int_equal(req.json, c->json);
			assert_int_equal(req.wait, c->wait);
			if (c->cmd == CTL_SCALE)
				assert_int_equal(req.count, c->count);
			continue;
		}
		if (!strstr(err, c->err_has))
			fail_msg("case %zu \"%s\": error \"%s\" lacks \"%s\"", i, c->line, err,
				 c->err_has);
		/* The message goes back as one protocol line: printable, no newline. */
		for (const char *p = err; *p; p++)
			assert_true(*p >= 0x20 && *p <= 0x7e);
	}
}

static void test_parse_oversized(void **state)
{
	size_t len = 100 * 1024;
	char *big = malloc(len);
	struct ctl_request req;
	char err[128];

	assert_non_null(big);
	memset(big, 'a', len);
	memcpy(big, "baton/1 status ", 15);
	assert_int_equal(ctl_parse_request(big, len, &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
	/* Exactly at the limit (the LF would make it CTL_REQUEST_MAX + 1). */
	assert_int_equal(ctl_parse_request(big, CTL_REQUEST_MAX, &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
	/* Binary garbage of every byte value never crashes and is refused. */
	for (size_t i = 0; i < len; i++)
		big[i] = (char)(i * 7 + 3);
	for (size_t n = 1; n < 600; n += 37)
		assert_int_equal(ctl_parse_request(big, n, &req, err, sizeof(err)), -EINVAL);
	/* A tiny error buffer is respected. */
	assert_int_equal(ctl_parse_request("baton/1 nope", 12, &req, err, 8), -EINVAL);
	assert_true(strlen(err) < 8);
	free(big);
}

static void test_format_request_roundtrip(void **state)
{
	static const struct ctl_request reqs[] = {
		{ CTL_STATUS, false, false, 0 }, { CTL_STATUS, true, false, 0 },
		{ CTL_READY, false, false, 0 },  { CTL_RELOAD, false, false, 0 },
		{ CTL_RELOAD, false, true, 0 },  { CTL_DRAIN, false, false, 0 },
		{ CTL_DRAIN, false, true, 0 },   { CTL_SCALE, false, false, 12 },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct ctl_request back;
		char err[128];
		int n = ctl_format_request(&reqs[i], buf, sizeof(buf));

		assert_true(n > 0);
		assert_int_equal(buf[n - 1], '\n');
		assert_int_equal(ctl_parse_request(buf, (size_t)n - 1, &back, err, sizeof(err)), 0);
		assert_int_equal(back.cmd, reqs[i].cmd);
		assert_int_equal(back.json, reqs[i].json);
		assert_int_equal(back.wait, reqs[i].wait);
		assert_int_equal(back.count, reqs[i].count);
	}
	assert_int_equal(ctl_format_request(&reqs[0], buf, 5), -ENOSPC);
}

static void test_parse_count(void **state)
{
	static const struct {
		const char *text;
		int ret, value;
	} cases[] = {
		{ "1", 0, 1 },	     { "4096", 0, 4096 },	       { "0", -ERANGE, 0 },
		{ "4097", -ERANGE, 0 }, { "", -EINVAL, 0 },     { "-2", -EINVAL, 0 },
		{ " 2", -EINVAL, 0 },  { "2 ", -EINVAL, 0 },   { "1.5", -EINVAL, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int v = -1;

		assert_int_equal(ctl_parse_count(cases[i].text, &v), cases[i].ret);
		if (cases[i].ret == 0)
			assert_int_equal(v, cases[i].value);
	}
	assert_int_equal(ctl_parse_count(NULL, &(int){ 0 }), -EINVAL);
}

static void test_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ -5, "0ms" },	       { 0, "0ms" },	       { 850, "850ms" },
		{ 1000, "1s" },	       { 59999, "59s" },       { 60000, "1m00s" },
		{ 185000, "3m05s" },   { 3600000, "1h00m" },   { 7620000, "2h07m" },
		{ 86400000, "1d00h" }, { 356400000, "4d03h" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ctl_format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

/* A view of the size a pool of 4096 workers in a rollout can need. */
#define VIEW_CAP (4096 * 2)
static struct ctl_worker_view view_workers[VIEW_CAP];
static struct ctl_view view;

static void clear_view(void)
{
	view = (struct ctl_view){ .w = view_workers, .cap = VIEW_CAP };
}

static void fill_view(void)
{
	clear_view();
	view.pool_state = "rolling out";
	view.rollout_done = 1;
	view.rollout_total = 2;
	view.workers_wanted = 2;
	view.n = 3;
	view.w[0] = (struct ctl_worker_view){ 1, 101, "ready", 185000, 0, -1, 2, 52428800, true, 1200, "memory" };
	view.w[1] = (struct ctl_worker_view){ 2, 102, "draining", 7620000, 3, 137, 1, 0, false, 0, NULL };
	view.w[2] = (struct ctl_worker_view){ 2, 103, "starting", 850, 0, -1, 2, 0, false, 0, NULL };
}

static void test_status_text(void **state)
{
	char buf[4096];
	size_t n;

	fill_view();
	n = ctl_format_status(&view, false, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
			    "pool: rolling out 1/2, 2 workers wanted\n"
			    "SLOT  PID      STATE     UPTIME  RESTARTS LAST  GEN  MEMORY    HEARTBEAT "
			    "REPLACED\n"
			    "1     101      ready     3m05s   0        -     2    50M       1s        memory\n"
			    "2     102      draining  2h07m   3        137   1    -         -         -\n"
			    "2     103      starting  850ms   0        -     2    -         -         -\n");

	/* Sizing call, then truncation like snprintf. */
	assert_int_equal(ctl_format_status(&view, false, NULL, 0), n);
	assert_int_equal(ctl_format_status(&view, false, buf, 10), n);
	assert_string_equal(buf, "pool: rol");

	/* Every data line must not look like a final line. */
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		const char *text;

		assert_int_equal(ctl_classify_line(line, &text), CTL_LINE_DATA);
	}

	clear_view();
	view.pool_state = "running";
	view.workers_wanted = 1;
	ctl_format_status(&view, false, buf, sizeof(buf));
	assert_string_equal(buf, "pool: running, 1 worker wanted\nno workers\n");

	/* Strings from the core cannot break the table or the line. */
	view.pool_state = "bad\nstate";
	view.n = 1;
	view.w[0] = (struct ctl_worker_view){ 1, 0, "two words\n", 5, 0, -1, 1, 0, false, 0, NULL };
	ctl_format_status(&view, false, buf, sizeof(buf));
	assert_non_null(strstr(buf, "pool: bad?state, 1 worker wanted\n"));
	assert_non_null(strstr(buf, "\n1     -        two_words_ 5ms"));

	/* A count out of range is clamped, not trusted. */
	view.n = -3;
	ctl_format_status(&view, false, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no workers"));
	view.n = 1 << 30;
	assert_true(ctl_format_status(&view, false, NULL, 0) < 200 * (size_t)VIEW_CAP);
}

static void test_status_json(void **state)
{
	char buf[4096];

	fill_view();
	ctl_format_status(&view, true, buf, sizeof(buf));
	assert_string_equal(
		buf,
		"{\"pool\":{\"state\":\"rolling out\",\"stopping\":false,\"ready\":true,"
		"\"live\":true,\"workers_wanted\":2,\"rollout\":{\"done\":1,\"total\":2}},"
		"\"workers\":["
		"{\"slot\":1,\"pid\":101,\"state\":\"ready\",\"uptime_ms\":185000,\"restarts\":0,"
		"\"last_status\":null,\"generation\":2,\"rss_bytes\":52428800,"
		"\"heartbeat_age_ms\":1200,\"last_replacement\":\"memory\"},"
		"{\"slot\":2,\"pid\":102,\"state\":\"draining\",\"uptime_ms\":7620000,"
		"\"restarts\":3,\"last_status\":137,\"generation\":1,\"rss_bytes\":null,"
		"\"heartbeat_age_ms\":null,\"last_replacement\":null},"
		"{\"slot\":2,\"pid\":103,\"state\":\"starting\",\"uptime_ms\":850,\"restarts\":0,"
		"\"last_status\":null,\"generation\":2,\"rss_bytes\":null,"
		"\"heartbeat_age_ms\":null,\"last_replacement\":null}]}\n");

	clear_view();
	view.pool_state = "stop\"ping\\\n";
	view.stopping = true;
	view.n = 1;
	view.w[0] = (struct ctl_worker_view){ 1, 0, NULL, -4, 0, 0, 1, 0, false, 0, NULL };
	ctl_format_status(&view, true, buf, sizeof(buf));
	assert_string_equal(
		buf,
		"{\"pool\":{\"state\":\"stop\\\"ping\\\\\\u000a\",\"stopping\":true,\"ready\":false,"
		"\"live\":true,\"workers_wanted\":0,\"rollout\":null},\"workers\":["
		"{\"slot\":1,\"pid\":null,\"state\":null,\"uptime_ms\":0,\"restarts\":0,"
		"\"last_status\":0,\"generation\":1,\"rss_bytes\":null,\"heartbeat_age_ms\":null,"
		"\"last_replacement\":null}]}\n");
}

/* The metrics object: every counter of the metrics endpoint, after the workers. */
static void test_status_json_metrics(void **state)
{
	static const int64_t bounds[] = { 100, 1000 };
	static const uint64_t le[] = { 1, 2 };
	struct ctl_slot_restarts restarts[] = {
		{ 1, 2, { { "exit", 0 }, { "signal", 1 } } },
		{ 2, 2, { { "exit", 3 }, { "signal", 0 } } },
	};
	struct ctl_metrics m = {
		.restarts = restarts,
		.n_restarts = 2,
		.crash_loops = 1,
		.rollouts = { { "complete", 4 }, { "rolled_back", 1 }, { "cancelled", 0 } },
		.n_rollouts = 3,
		.last_rollout_ms = 2500,
		.drains = { { "exited", 5 }, { "SIGTERM", 1 }, { "SIGKILL", 0 } },
		.n_drains = 3,
		.drain_bucket_ms = bounds,
		.drain_le = le,
		.n_drain_buckets = 2,
		.drain_count = 6,
		.drain_sum_ms = 31234,
		.queues = { { "127.0.0.1:8080", "web", 3, 4096 } },
		.n_queues = 1,
		.rss_bytes = 2621440,
		.open_fds = 12,
	};
	char buf[4096];

	(void)state;
	clear_view();
	view.pool_state = "running";
	view.metrics = &m;
	ctl_format_status(&view, true, buf, sizeof(buf));
	assert_string_equal(
		buf,
		"{\"pool\":{\"state\":\"running\",\"stopping\":false,\"ready\":false,"
		"\"live\":true,\"workers_wanted\":0,\"rollout\":null},\"workers\":[],"
		"\"metrics\":{\"restarts\":{\"1\":{\"exit\":0,\"signal\":1},"
		"\"2\":{\"exit\":3,\"signal\":0}},\"crash_loops\":1,"
		"\"rollouts\":{\"complete\":4,\"rolled_back\":1,\"cancelled\":0},"
		"\"last_rollout_ms\":2500,"
		"\"drains\":{\"exited\":5,\"SIGTERM\":1,\"SIGKILL\":0},"
		"\"drain_duration\":{\"count\":6,\"sum_ms\":31234,\"buckets\":["
		"{\"le_ms\":100,\"count\":1},{\"le_ms\":1000,\"count\":2}]},"
		"\"listen_queues\":[{\"socket\":\"127.0.0.1:8080\",\"name\":\"web\",\"length\":3,"
		"\"limit\":4096}],\"resident_memory_bytes\":2621440,\"open_fds\":12}}\n");

	m.last_rollout_ms = -1;
	m.open_fds = -1;
	m.n_restarts = m.n_rollouts = m.n_drains = m.n_drain_buckets = m.n_queues = 0;
	ctl_format_status(&view, true, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"metrics\":{\"restarts\":{},\"crash_loops\":1,"
				    "\"rollouts\":{},\"last_rollout_ms\":null,\"drains\":{},"
				    "\"drain_duration\":{\"count\":6,\"sum_ms\":31234,\"buckets\":[]},"
				    "\"listen_queues\":[],\"resident_memory_bytes\":2621440,"
				    "\"open_fds\":null}}\n"));
	view.metrics = NULL;
}

static void test_status_full_pool(void **state)
{
	size_t n, n2;
	char *buf;

	clear_view();
	view.pool_state = "running";
	view.n = VIEW_CAP;
	for (int i = 0; i < VIEW_CAP; i++)
		view.w[i] = (struct ctl_worker_view){ i + 1, 100000 + i, "stopping", INT64_MAX / 2,
						      2147483647, 255, 4294967295u, UINT64_MAX, true, INT64_MAX / 2, "watchdog" };
	for (int json = 0; json < 2; json++) {
		n = ctl_format_status(&view, json, NULL, 0);
		buf = malloc(n + 1);
		assert_non_null(buf);
		n2 = ctl_format_status(&view, json, buf, n + 1);
		assert_int_equal(n, n2);
		assert_int_equal(strlen(buf), n);
		assert_int_equal(buf[n - 1], '\n');
		free(buf);
	}
}

static void test_live(void **state)
{
	char why[96];

	fill_view();
	view.live_bound_ms = 20000;
	view.unready_ms = 20000;
	view.unready_slot = 2;
	assert_true(ctl_view_live(&view, why, sizeof(why)));
	view.unready_ms = 20001;
	assert_false(ctl_view_live(&view, why, sizeof(why)));
	assert_string_equal(why, "slot 2 has had no ready worker for 20s");
	/* A draining baton stays live: a probe must not kill it in the middle of its stop. */
	view.stopping = true;
	assert_true(ctl_view_live(&view, why, sizeof(why)));
}

static void test_ready(void **state)
{
	char why[64];

	fill_view();
	assert_true(ctl_view_ready(&view, why, sizeof(why)));
	view.stopping = true;
	assert_false(ctl_view_ready(&view, why, sizeof(why)));
	assert_string_equal(why, "baton is stopping");
	view.stopping = false;
	view.w[0].state = "starting";
	assert_false(ctl_view_ready(&view, why, sizeof(why)));
	assert_string_equal(why, "no worker is ready");
	view.n = 0;
	assert_false(ctl_view_ready(&view, why, sizeof(why)));
}

static void test_classify(void **state)
{
	static const struct {
		const char *line;
		enum ctl_line kind;
		const char *text;
	} cases[] = {
		{ "ok", CTL_LINE_OK, "" },
		{ "ok rollout started", CTL_LINE_OK, "rollout started" },
		{ "error", CTL_LINE_ERROR, "" },
		{ "error busy: x", CTL_LINE_ERROR, "busy: x" },
		{ "okay", CTL_LINE_DATA, "okay" },
		{ "errors", CTL_LINE_DATA, "errors" },
		{ "pool: running", CTL_LINE_DATA, "pool: running" },
		{ "", CTL_LINE_DATA, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text = NULL;

		assert_int_equal(ctl_classify_line(cases[i].line, &text), cases[i].kind);
		assert_string_equal(text, cases[i].text);
	}
}

static void test_sanitize(void **state)
{
	char s[] = "a\nb\tc\x7f\xc3\xa9 d";

	ctl_sanitize(s);
	assert_string_equal(s, "a?b?c??? d");
}

static void test_candidates(void **state)
{
	char out[3][CTL_PATH_MAX];
	char longdir[200];

	assert_int_equal(ctl_candidates(NULL, "/run/user/1000", out), 3);
	assert_string_equal(out[0], "/run/baton.sock");
	assert_string_equal(out[1], "/run/user/1000/baton.sock");
	assert_string_equal(out[2], "/tmp/baton.sock");
	/* Unset, empty or relative XDG_RUNTIME_DIR: skipped; a trailing slash is not doubled. */
	assert_int_equal(ctl_candidates(NULL, NULL, out), 2);
	assert_string_equal(out[1], "/tmp/baton.sock");
	assert_int_equal(ctl_candidates(NULL, "", out), 2);
	assert_int_equal(ctl_candidates(NULL, "relative", out), 2);
	assert_int_equal(ctl_candidates("/x/b.sock", "/tmp/", out), 2);
	assert_string_equal(out[0], "/x/b.sock");
	assert_string_equal(out[1], "/tmp/baton.sock");
	/* Too long for sun_path: left out. */
	memset(longdir, 'd', sizeof(longdir));
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(ctl_candidates(NULL, longdir, out), 2);
	assert_int_equal(ctl_candidates(longdir, NULL, out), 1);
	assert_string_equal(out[0], "/tmp/baton.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_oversized),
		cmocka_unit_test(test_format_request_roundtrip),
		cmocka_unit_test(test_parse_count),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_status_json),
		cmocka_unit_test(test_status_json_metrics),
		cmocka_unit_test(test_status_full_pool),
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_candidates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
