/*
 * log: what reaches stderr, read back through a pipe: one line per event, the level filter,
 * and JSON lines that a log collector can parse whatever bytes the message holds.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/json.h"
#include "baton/log.h"

static int saved_stderr = -1, pipe_read = -1, pipe_write = -1;

static int open_pipe(void **state)
{
	int p[2];

	(void)state;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	pipe_read = p[0];
	pipe_write = p[1];
	return 0;
}

static int close_pipe(void **state)
{
	(void)state;
	close(pipe_read);
	close(pipe_write);
	log_setup(LOG_INFO, LOG_TEXT);
	return 0;
}

/* stderr goes to the pipe only while baton logs, so that cmocka's own messages stay visible. */
static void begin(void)
{
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(pipe_write, STDERR_FILENO);
}

/* stderr back, and everything logged since begin(), NUL-terminated. */
static char *end(void)
{
	static char buf[16384];
	ssize_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	n = read(pipe_read, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_text_lines_and_levels(void **state)
{
	(void)state;
	log_setup(LOG_INFO, LOG_TEXT);
	begin();
	log_info("worker %d started", 1);
	log_warn("slow");
	log_debug("not shown at info");
	assert_string_equal(end(), "baton: worker 1 started\nbaton: warn: slow\n");

	log_setup(LOG_ERROR, LOG_TEXT);
	begin();
	log_warn("filtered");
	log_error("bad");
	assert_string_equal(end(), "baton: error: bad\n");
	assert_false(log_enabled(LOG_WARN));
}

/* A JSON line: one object per line, its msg the message exactly, whatever bytes it holds. */
static void check_json_line(const char *line, const char *level, const char *want_msg)
{
	struct json_span top, v;
	char msg[2048];
	size_t len = strlen(line);

	assert_true(len > 0 && line[len - 1] == '\n');
	assert_null(memchr(line, '\n', len - 1));
	assert_int_equal(json_parse(line, len - 1, &top), 0);
	assert_int_equal(top.type, JSON_OBJECT);
	assert_int_equal(json_get(&top, "level", &v), 0);
	assert_true(json_string_eq(&v, level));
	assert_int_equal(json_get(&top, "source", &v), 0);
	assert_true(json_string_eq(&v, "baton"));
	assert_int_equal(json_get(&top, "time", &v), 0);
	assert_int_equal(v.type, JSON_NUMBER);
	assert_int_equal(json_get(&top, "msg", &v), 0);
	assert_true(json_string(&v, msg, sizeof(msg)) >= 0);
	if (want_msg)
		assert_string_equal(msg, want_msg);
}

static void test_json_lines_parse(void **state)
{
	static const char *const hostile = "app \"x\" said \\ then\nnewline\ttab \x01 \x7f caf\xc3\xa9";
	char big[1000];

	(void)state;
	log_setup(LOG_INFO, LOG_JSON);
	begin();
	log_info("%s", hostile);
	check_json_line(end(), "info", hostile);
	begin();
	log_error("plain");
	check_json_line(end(), "error", "plain");

	/* A message of control bytes escapes to six times its length: the line is cut at a whole
	 * escape and stays one valid JSON object. */
	memset(big, '\x02', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	begin();
	log_warn("%s", big);
	check_json_line(end(), "warn", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_lines_and_levels, open_pipe, close_pipe),
		cmocka_unit_test_setup_teardown(test_json_lines_parse, open_pipe, close_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
