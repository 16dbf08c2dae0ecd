/* The Prometheus text format: escaping, seconds, histograms, and truncation like snprintf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "baton/prom.h"

struct sec_case {
	int64_t ms;
	const char *text;
};

static const struct sec_case sec_cases[] = {
	{ 0, "0" },        { 1, "0.001" },       { 10, "0.01" },     { 100, "0.1" },
	{ 250, "0.25" },   { 1000, "1" },        { 2500, "2.5" },    { 30000, "30" },
	{ 61001, "61.001" }, { -1, "-0.001" },   { -1500, "-1.5" },
	{ INT64_MIN, "-9223372036854775.808" },
};

static void test_seconds(void **state)
{
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(sec_cases) / sizeof(sec_cases[0]); i++) {
		prom_format_seconds(sec_cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, sec_cases[i].text);
	}
}

static void test_family_and_samples(void **state)
{
	char buf[1024];
	struct prom_out o;
	const struct prom_label l[] = { { "slot", "1" }, { "cause", "signal" } };

	(void)state;
	prom_init(&o, buf, sizeof(buf));
	prom_family(&o, "baton_worker_restarts_total", "counter", "Restarts, by \\ slot\nand cause.");
	prom_u64(&o, "baton_worker_restarts_total", l, 2, 3);
	prom_family(&o, "baton_workers_wanted", "gauge", "Workers wanted.");
	prom_i64(&o, "baton_workers_wanted", NULL, 0, -2);
	prom_ms(&o, "baton_worker_uptime_seconds", l, 1, 1500);
	assert_true(prom_fits(&o));
	assert_string_equal(buf,
			    "# HELP baton_worker_restarts_total Restarts, by \\\\ slot\\nand cause.\n"
			    "# TYPE baton_worker_restarts_total counter\n"
			    "baton_worker_restarts_total{slot=\"1\",cause=\"signal\"} 3\n"
			    "# HELP baton_workers_wanted Workers wanted.\n"
			    "# TYPE baton_workers_wanted gauge\n"
			    "baton_workers_wanted -2\n"
			    "baton_worker_uptime_seconds{slot=\"1\"} 1.5\n");
	assert_int_equal(o.len, strlen(buf));
}

struct esc_case {
	const char *value;
	const char *line;
};

static const struct esc_case esc_cases[] = {
	{ "127.0.0.1:8080", "m{socket=\"127.0.0.1:8080\"} 1\n" },
	{ "a\"b", "m{socket=\"a\\\"b\"} 1\n" },
	{ "a\\b", "m{socket=\"a\\\\b\"} 1\n" },
	{ "a\nb", "m{socket=\"a\\nb\"} 1\n" },
	{ "", "m{socket=\"\"} 1\n" },
	{ NULL, "m{socket=\"\"} 1\n" },
	{ "unix:/run/a b.sock", "m{socket=\"unix:/run/a b.sock\"} 1\n" },
};

static void test_label_escaping(void **state)
{
	char buf[128];
	struct prom_out o;

	(void)state;
	for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		struct prom_label l = { "socket", esc_cases[i].value };

		prom_init(&o, buf, sizeof(buf));
		prom_u64(&o, "m", &l, 1, 1);
		assert_string_equal(buf, esc_cases[i].line);
	}
}

static void test_histogram(void **state)
{
	static const int64_t bounds[] = { 100, 1000, 2500 };
	static const uint64_t le[] = { 1, 3, 3 };
	char buf[1024];
	struct prom_out o;

	(void)state;
	prom_init(&o, buf, sizeof(buf));
	prom_histogram_ms(&o, "d_seconds", bounds, le, 3, 4, 12345);
	assert_string_equal(buf, "d_seconds_bucket{le=\"0.1\"} 1\n"
				 "d_seconds_bucket{le=\"1\"} 3\n"
				 "d_seconds_bucket{le=\"2.5\"} 3\n"
				 "d_seconds_bucket{le=\"+Inf\"} 4\n"
				 "d_seconds_sum 12.345\n"
				 "d_seconds_count 4\n");
}

/* Measure with no buffer, then a buffer one byte short keeps a NUL-terminated prefix. */
static void test_truncation(void **state)
{
	char full[256], small[256];
	struct prom_out o;
	size_t need;

	(void)state;
	prom_init(&o, NULL, 0);
	prom_family(&o, "baton_open_fds", "gauge", "Open fds.");
	prom_u64(&o, "baton_open_fds", NULL, 0, 12);
	need = o.len;
	assert_false(prom_fits(&o));

	prom_init(&o, full, need + 1);
	prom_family(&o, "baton_open_fds", "gauge", "Open fds.");
	prom_u64(&o, "baton_open_fds", NULL, 0, 12);
	assert_true(prom_fits(&o));
	assert_int_equal(strlen(full), need);

	prom_init(&o, small, need);
	prom_family(&o, "baton_open_fds", "gauge", "Open fds.");
	prom_u64(&o, "baton_open_fds", NULL, 0, 12);
	assert_false(prom_fits(&o));
	assert_int_equal(o.len, need);
	assert_int_equal(strlen(small), need - 1);
	assert_memory_equal(small, full, need - 1);
}

struct route_case {
	const char *req;
	int status;
	int head;
};

static const struct route_case route_cases[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.0\n\n", 200, 0 },
	{ "GET /metrics?x=1 HTTP/1.1\r\n\r\n", 200, 0 },
	{ "HEAD /metrics HTTP/1.1\r\n\r\n", 200, 1 },
	{ "GET http://h:9090/metrics HTTP/1.1\r\n\r\n", 200, 0 },
	{ "GET / HTTP/1.1\r\n\r\n", 404, 0 },
	{ "GET /metricsx HTTP/1.1\r\n\r\n", 404, 0 },
	{ "GET /metric HTTP/1.1\r\n\r\n", 404, 0 },
	{ "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, 0 },
	{ "DELETE / HTTP/1.1\r\n\r\n", 405, 0 },
	/* Incomplete: wait for more. */
	{ "", 0, 0 },
	{ "GE", 0, 0 },
	{ "GET /metrics HTTP/1.1\r\n", 0, 0 },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, 0 },
	/* Garbage. */
	{ "\r\n\r\n", 400, 0 },
	{ "hello\n\n", 400, 0 },
	{ "GET\n\n", 400, 0 },
	{ "GET /metrics\r\n\r\n", 400, 0 },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/2.0\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1x\r\n\r\n", 400, 0 },
	{ "GET metrics HTTP/1.1\r\n\r\n", 400, 0 },
	{ "\x16\x03\x01\x02", 400, 0 }, /* a TLS hello: wrong from its first byte */
	{ "G\x01T", 400, 0 },
};

static void test_http_route(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		const struct route_case *c = &route_cases[i];
		int head = -1;
		size_t head_len = 99;
		int got = prom_http_route(c->req, strlen(c->req), &head, &head_len);

		if (got != c->status)
			fail_msg("case %zu \"%s\": %d, expected %d", i, c->req, got, c->status);
		assert_int_equal(head, c->head);
		if (got == 200)
			assert_int_equal(head_len, strlen(c->req));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_http_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
