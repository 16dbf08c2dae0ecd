/*
 * Where a unit test's fixture files are: found from the working directory (make runs tests
 * from the top of the tree) or by walking up from the test binary. Include after defining
 * FIXTURES (the directory relative to the top of the tree); use find_fixtures as the group
 * set-up and the global `fixtures` as the directory.
 */
#ifndef BATON_TEST_FIXTURES_H
#define BATON_TEST_FIXTURES_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fixtures[PATH_MAX];

static int find_fixtures(void **state)
{
	char exe[PATH_MAX - 64];
	struct stat st;
	ssize_t n;
	char *slash;

	(void)state;
	if (stat(FIXTURES, &st) == 0) {
		snprintf(fixtures, sizeof(fixtures), "%s", FIXTURES);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	while ((slash = strrchr(exe, '/')) != NULL) {
		*slash = '\0';
		snprintf(fixtures, sizeof(fixtures), "%s/%s", exe, FIXTURES);
		if (stat(fixtures, &st) == 0)
			return 0;
	}
	return -1;
}

#endif
