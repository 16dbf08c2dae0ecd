/*
 * procs: /proc/PID/stat and cmdline parsing as tables, and a walk of the real /proc.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/procs.h"

static void test_parse_stat(void **state)
{
	static const struct {
		const char *line;
		int rc, pid, ppid, pgrp;
		char st;
		const char *cmd;
	} cases[] = {
		{ "42 (sleep) S 1 42 42 0 -1", 0, 42, 1, 42, 'S', "sleep" },
		/* a name with spaces and parentheses: up to the last ')' */
		{ "7 (a (b) c) Z 3 5 5 0", 0, 7, 3, 5, 'Z', "a (b) c" },
		{ "9 () R 2 9 9", 0, 9, 2, 9, 'R', "" },
		{ "9 sleep S 1 2 3", -EINVAL, 0, 0, 0, 0, NULL },
		{ "9 (x) S", -EINVAL, 0, 0, 0, 0, NULL },
		{ "(x) S 1 2 3", -EINVAL, 0, 0, 0, 0, NULL },
		{ "", -EINVAL, 0, 0, 0, 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proc_entry p;
		int rc = procs_parse_stat(cases[i].line, &p);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].line, rc, cases[i].rc);
		if (rc < 0)
			continue;
		assert_int_equal(p.pid, cases[i].pid);
		assert_int_equal(p.ppid, cases[i].ppid);
		assert_int_equal(p.pgrp, cases[i].pgrp);
		assert_int_equal(p.state, cases[i].st);
		assert_string_equal(p.cmd, cases[i].cmd);
	}
}

static void test_cmdline(void **state)
{
	char out[16];

	(void)state;
	strcpy(out, "comm");
	procs_cmdline("sh\0-c\0exec x\0", 14, out, sizeof(out));
	assert_string_equal(out, "sh -c exec x");
	strcpy(out, "comm");
	procs_cmdline("", 0, out, sizeof(out));
	assert_string_equal(out, "comm"); /* a zombie keeps its (comm) name */
	procs_cmdline("abcdefghij\0klmnopqrstuvwxyz", 27, out, sizeof(out));
	assert_string_equal(out, "abcdefghij klmn"); /* truncated, terminated */
}

struct seen {
	pid_t want;
	bool found, self;
	char cmd[PROCS_CMD_LEN];
};

static void look(const struct proc_entry *p, void *ctx)
{
	struct seen *s = ctx;

	if (p->pid == getpid())
		s->self = true;
	if (p->pid == s->want) {
		s->found = true;
		snprintf(s->cmd, sizeof(s->cmd), "%s", p->cmd);
	}
}

/* The walk finds our parent with its command line, and never the caller. */
static void test_walk(void **state)
{
	struct seen s = { .want = getppid() };
	struct proc_entry self;

	(void)state;
	assert_int_equal(procs_each(look, &s), 0);
	assert_true(s.found);
	assert_false(s.self);
	assert_true(s.cmd[0] != '\0');
	assert_int_equal(procs_get(getpid(), &self), 0);
	assert_int_equal(self.ppid, getppid());
	assert_non_null(strstr(self.cmd, "test_procs"));
	assert_int_equal(procs_get(0x7ffffff0, &self), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
