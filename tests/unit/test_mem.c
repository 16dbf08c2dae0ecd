/*
 * mem: after the start-up pages are handed back, the code and read-only data are the same,
 * written pages are untouched, and less of the binary is resident.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/mem.h"

static const char text[] = "read-only data of the test binary";
static char written[] = "data that was written to";

static long rss_file_kb(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "RssFile:");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

static __attribute__((noinline)) int twice(int x)
{
	return 2 * x;
}

static void test_release(void **state)
{
	long before, after, dropped;
	char *heap = malloc(1 << 20);

	(void)state;
	assert_non_null(heap);
	memset(heap, 1, 1 << 20);
	free(heap);
	written[0] = 'D';
	before = rss_file_kb();
	dropped = mem_release_startup();
	after = rss_file_kb();
	if (dropped == -ENOENT || dropped == -EACCES)
		skip(); /* no /proc here */
	assert_true(dropped > 0);
	assert_true(after < before);
	/* Everything is still there, faulted back in from the file or kept. */
	assert_string_equal(text, "read-only data of the test binary");
	assert_string_equal(written, "Data that was written to");
	assert_int_equal(twice(21), 42);
	/* A second call is harmless. */
	assert_true(mem_release_startup() >= 0);
	assert_int_equal(twice(4), 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
