/*
 * sandbox: the capability-list parser, the profile parser (fixture files under
 * tests/unit/fixtures/sandbox/profiles), passwd/group parsing and lookups against fixture
 * files, then the compiled filters and the capability changes applied for real in forked
 * children (the filters need no privilege; the capability cases are skipped unless root).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/config.h"
#include "baton/sandbox.h"
#include "../../src/sbx_int.h"

#define FIXTURES "tests/unit/fixtures/sandbox"
#define CAP(n) (UINT64_C(1) << (n))

#include "fixtures.h"

static const char *fixture(const char *name)
{
	static char paths[4][PATH_MAX + 64];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, PATH_MAX + 64, "%s/%s", fixtures, name);
	return p;
}

/* The whole file (also /proc files, whose size stat does not know). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t len = 0, cap = 4096, n;
	char *buf = malloc(cap + 1);

	assert_non_null(f);
	assert_non_null(buf);
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void assert_one_line_with(const char *err, const char *a, const char *b)
{
	if ((a && !strstr(err, a)) || (b && !strstr(err, b)))
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, a ? a : "", b ? b : "");
	assert_null(strchr(err, '\n'));
	assert_true(strlen(err) > 0);
}

/* ---- capability lists ---- */

static void test_caps_good(void **state)
{
	static const struct {
		const char *text;
		enum sbx_caps_mode mode;
		uint64_t mask;
	} cases[] = {
		{"none", SBX_CAPS_NONE, 0},
		{"NONE", SBX_CAPS_NONE, 0},
		{"", SBX_CAPS_NONE, 0},
		{" , ", SBX_CAPS_NONE, 0},
		{NULL, SBX_CAPS_NONE, 0},
		{"all", SBX_CAPS_ALL, 0},
		{"All", SBX_CAPS_ALL, 0},
		{" all ", SBX_CAPS_ALL, 0},
		{"NET_BIND_SERVICE", SBX_CAPS_LIST, CAP(10)},
		{"CAP_NET_RAW", SBX_CAPS_LIST, CAP(13)},
		{"cap_net_bind_service", SBX_CAPS_LIST, CAP(10)},
		{"Net_Admin", SBX_CAPS_LIST, CAP(12)},
		{"chown", SBX_CAPS_LIST, CAP(0)},
		{"NET_BIND_SERVICE,CAP_NET_RAW", SBX_CAPS_LIST, CAP(10) | CAP(13)},
		{"net_bind_service, net_raw  SYS_TIME", SBX_CAPS_LIST, CAP(10) | CAP(13) | CAP(25)},
		{"NET_RAW,NET_RAW", SBX_CAPS_LIST, CAP(13)},
		{"CAP_SYS_ADMIN,", SBX_CAPS_LIST, CAP(21)},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sbx_caps_mode mode = SBX_CAPS_ALL;
		uint64_t mask = ~UINT64_C(0);
		char err[256] = "";
		int rc = sbx_parse_caps(cases[i].text, &mode, &mask, err, sizeof(err));

		if (rc != 0)
			fail_msg("'%s': %d %s", cases[i].text ? cases[i].text : "(null)", rc, err);
		assert_int_equal(mode, cases[i].mode);
		assert_int_equal(mask, cases[i].mask);
	}
}

static void test_caps_bad(void **state)
{
	static const struct {
		const char *text, *word;
	} cases[] = {
		{"NET_BIND", "'NET_BIND'"},
		{"CAP_", "'CAP_'"},
		{"NET_RAW,bogus", "'bogus'"},
		{"NET_RAW bogus NET_ADMIN", "'bogus'"},
		{"12", "'12'"},
		{"none,NET_RAW", "none"},
		{"NET_RAW,all", "all"},
		{"all all", "all"},
		{"CAP_NET_RAWXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
		 "CAP_NET_RAWXXX"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sbx_caps_mode mode;
		uint64_t mask;
		char err[256] = "";

		assert_int_equal(sbx_parse_caps(cases[i].text, &mode, &mask, err, sizeof(err)),
				 -EINVAL);
		assert_one_line_with(err, "--caps", cases[i].word);
	}
}

static void test_caps_format(void **state)
{
	char buf[128], tiny[8];

	(void)state;
	assert_int_equal(sbx_format_caps(0, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");
	sbx_format_caps(CAP(13) | CAP(10), buf, sizeof(buf));
	assert_string_equal(buf, "NET_BIND_SERVICE,NET_RAW");
	sbx_format_caps(CAP(0), buf, sizeof(buf));
	assert_string_equal(buf, "CHOWN");
	/* Truncation still reports the whole length, and the buffer stays a string. */
	assert_int_equal(sbx_format_caps(CAP(13) | CAP(10), tiny, sizeof(tiny)),
			 (int)strlen("NET_BIND_SERVICE,NET_RAW"));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_actions(void **state)
{
	static const struct {
		const char *text;
		int rc;
		enum sbx_action a;
		const char *name;
	} cases[] = {
		{"allow", 0, SBX_ALLOW, "allow"}, {"errno", 0, SBX_ERRNO, "errno"},
		{"KILL", 0, SBX_KILL, "kill"},    {"log", 0, SBX_LOG, "log"},
		{"trap", -EINVAL, 0, NULL},       {"", -EINVAL, 0, NULL},
		{NULL, -EINVAL, 0, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sbx_action a = SBX_ALLOW;

		assert_int_equal(sbx_parse_action(cases[i].text, &a), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(a, cases[i].a);
			assert_string_equal(sbx_action_name(a), cases[i].name);
		}
	}
}

/* ---- profiles ---- */

static bool has_rule(const struct sbx_profile *p, const char *name, bool deny)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (strcmp(p->rules[i].name, name) == 0)
			return p->rules[i].deny == deny;
	return false;
}

static void test_profile_good(void **state)
{
	static const struct {
		const char *file;
		enum sbx_action def;
		size_t n_rules;
		const char *allowed, *denied;
	} cases[] = {
		{"profiles/denylist.profile", SBX_ALLOW, 5, NULL, "process_vm_writev"},
		{"profiles/allowlist.profile", SBX_ERRNO, 15, "exit_group", "ptrace"},
		{"profiles/kill.profile", SBX_KILL, 2, "write", NULL},
		{"profiles/nonewline.profile", SBX_LOG, 1, "write", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = slurp(fixture(cases[i].file)), err[512] = "";
		struct sbx_profile p;
		int rc = sbx_parse_profile(text, cases[i].file, &p, err, sizeof(err));

		if (rc != 0)
			fail_msg("%s: %s", cases[i].file, err);
		assert_int_equal(p.def, cases[i].def);
		assert_int_equal(p.n_rules, cases[i].n_rules);
		if (cases[i].allowed)
			assert_true(has_rule(&p, cases[i].allowed, false));
		if (cases[i].denied)
			assert_true(has_rule(&p, cases[i].denied, true));
		sbx_profile_free(&p);
		free(text);
	}
}

static void test_profile_inline_texts(void **state)
{
	struct sbx_profile p;
	char err[512];

	(void)state;
	assert_int_equal(sbx_parse_profile("default errno\nallow futex\n", "t", &p, err,
					   sizeof(err)), 0);
	assert_int_equal(p.n_rules, 1);
	assert_int_equal(p.rules[0].line, 2);
	sbx_profile_free(&p);
	/* Only comments and blanks around the default: an allow-everything profile. */
	assert_int_equal(sbx_parse_profile("\n  # x\n\tdefault ALLOW # y\n\n", "t", &p, err,
					   sizeof(err)), 0);
	assert_int_equal(p.def, SBX_ALLOW);
	assert_int_equal(p.n_rules, 0);
	sbx_profile_free(&p);
	/* CRLF line ends are blanks. */
	assert_int_equal(sbx_parse_profile("default kill\r\nallow read\r\n", "t", &p, err,
					   sizeof(err)), 0);
	assert_true(has_rule(&p, "read", false));
	sbx_profile_free(&p);
}

static void test_profile_bad(void **state)
{
	static const struct {
		const char *file;
		int line;     /* 0: no line number */
		const char *word;
	} cases[] = {
		{"profiles/bad-keyword.profile", 3, "'alow'"},
		{"profiles/bad-name.profile", 3, "'open$at'"},
		{"profiles/bad-action.profile", 2, "'permit'"},
		{"profiles/no-default.profile", 0, "'default'"},
		{"profiles/two-defaults.profile", 3, "'default'"},
		{"profiles/conflict.profile", 4, "'ptrace'"},
		{"profiles/deny-execve.profile", 2, "'execve'"},
		{"profiles/empty-allow.profile", 2, "'allow'"},
		{"profiles/extra-word.profile", 1, "'kill'"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = fixture(cases[i].file);
		char *text = slurp(path), err[512] = "", where[PATH_MAX + 80];
		struct sbx_profile p;

		if (cases[i].line)
			snprintf(where, sizeof(where), "%s:%d: ", path, cases[i].line);
		else
			snprintf(where, sizeof(where), "%s: ", path);
		assert_int_equal(sbx_parse_profile(text, path, &p, err, sizeof(err)), -EINVAL);
		assert_one_line_with(err, where, cases[i].word);
		assert_null(p.rules);
		free(text);
	}
}

static void test_profile_bad_inline(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"default errno\nallow 1read\n", "t:2: '1read'"},
		{"default errno\nallow re-ad\n", "t:2: 're-ad'"},
		{"default errno\nallow "
		 "a234567890123456789012345678901234567890123456789012345678901234\n", "t:2: "},
		{"default\n", "t:1: 'default' needs an action"},
		{"DEFAULT errno\nDENY exit_group\n", "t:2: 'exit_group'"},
		{"default errno\nallow: read\n", "t:2: unknown keyword 'allow:'"},
		{"", "t: no 'default' line"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_profile p;
		char err[512] = "";

		assert_int_equal(sbx_parse_profile(cases[i].text, "t", &p, err, sizeof(err)),
				 -EINVAL);
		assert_one_line_with(err, cases[i].want, NULL);
	}
}

/* ---- passwd and group ---- */

static void test_passwd_lines(void **state)
{
	static const struct {
		const char *line;
		int rc;
		const char *name, *home;
		unsigned uid, gid;
	} cases[] = {
		{"root:x:0:0:root:/root:/bin/bash", 0, "root", "/root", 0, 0},
		{"app:x:1000:1001:The App,,,:/home/app:/bin/sh", 0, "app", "/home/app", 1000, 1001},
		{"nohome:x:7:8:::", 0, "nohome", "", 7, 8},
		{"big:x:4294967294:4294967294::/:/bin/sh", 0, "big", "/", 4294967294u, 4294967294u},
		{"", -EINVAL, NULL, NULL, 0, 0},
		{"# comment:x:0:0::/:", -EINVAL, NULL, NULL, 0, 0},
		{"+nis::::::", -EINVAL, NULL, NULL, 0, 0},
		{"-nis::::::", -EINVAL, NULL, NULL, 0, 0},
		{"short:x:5:5", -EINVAL, NULL, NULL, 0, 0},
		{"long:x:5:5:g:/h:/s:extra", -EINVAL, NULL, NULL, 0, 0},
		{":x:5:5:g:/h:/s", -EINVAL, NULL, NULL, 0, 0},
		{"neg:x:-1:5:g:/h:/s", -EINVAL, NULL, NULL, 0, 0},
		{"big:x:4294967295:5:g:/h:/s", -EINVAL, NULL, NULL, 0, 0},
		{"empty:x::5:g:/h:/s", -EINVAL, NULL, NULL, 0, 0},
		{"hex:x:0x10:5:g:/h:/s", -EINVAL, NULL, NULL, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		struct sbx_pwent pw;

		snprintf(line, sizeof(line), "%s", cases[i].line);
		assert_int_equal(sbx_parse_passwd_line(line, &pw), cases[i].rc);
		if (cases[i].rc)
			continue;
		assert_string_equal(pw.name, cases[i].name);
		assert_string_equal(pw.home, cases[i].home);
		assert_int_equal(pw.uid, cases[i].uid);
		assert_int_equal(pw.gid, cases[i].gid);
	}
}

static void test_group_lines(void **state)
{
	static const struct {
		const char *line;
		int rc;
		const char *name, *members;
		unsigned gid;
	} cases[] = {
		{"adm:x:4:app,daemon", 0, "adm", "app,daemon", 4},
		{"users:x:100:", 0, "users", "", 100},
		{"users:x:100", -EINVAL, NULL, NULL, 0},
		{"users:x:1e2:", -EINVAL, NULL, NULL, 0},
		{"a:x:1:b:c", -EINVAL, NULL, NULL, 0},
		{"#c:x:1:", -EINVAL, NULL, NULL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		struct sbx_grent gr;

		snprintf(line, sizeof(line), "%s", cases[i].line);
		assert_int_equal(sbx_parse_group_line(line, &gr), cases[i].rc);
		if (cases[i].rc)
			continue;
		assert_string_equal(gr.name, cases[i].name);
		assert_string_equal(gr.members, cases[i].members);
		assert_int_equal(gr.gid, cases[i].gid);
	}
}

static void test_lookup_good(void **state)
{
	static const struct {
		const char *spec;
		unsigned uid, gid;
		const char *name, *home;
		unsigned groups[6];
		size_t n_groups;
	} cases[] = {
		{"app", 1000, 1000, "app", "/home/app", {1000, 4, 50, 3000}, 4},
		{"1000", 1000, 1000, "app", "/home/app", {1000, 4, 50, 3000}, 4},
		{"app:staff", 1000, 50, "app", "/home/app", {50, 4, 3000}, 3},
		{"app:33", 1000, 33, "app", "/home/app", {33, 4, 50, 3000}, 4},
		{"nobody", 65534, 65534, "nobody", "/nonexistent", {65534}, 1},
		{"daemon:nogroup", 1, 65534, "daemon", "/usr/sbin", {65534, 4}, 2},
		{"nohome", 1001, 1001, "nohome", "/", {1001}, 1},
		{"4242", 4242, 4242, "4242", "/", {4242}, 1},
		{"4242:users", 4242, 100, "4242", "/", {100}, 1},
		{"0", 0, 0, "root", "/root", {0}, 1},
		{"twin", 2000, 2000, "twin", "/home/twin1", {2000}, 1},
		{"last", 3000, 3000, "last", "/home/last", {3000}, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_user u;
		char err[512] = "";
		int rc = sbx_lookup_user(cases[i].spec, fixture("passwd"), fixture("group"), &u, err,
					 sizeof(err));

		if (rc != 0)
			fail_msg("'%s': %s", cases[i].spec, err);
		assert_int_equal(u.uid, cases[i].uid);
		assert_int_equal(u.gid, cases[i].gid);
		assert_string_equal(u.name, cases[i].name);
		assert_string_equal(u.home, cases[i].home);
		if (u.n_groups != cases[i].n_groups)
			fail_msg("'%s': %zu groups, want %zu", cases[i].spec, u.n_groups,
				 cases[i].n_groups);
		for (size_t g = 0; g < u.n_groups; g++)
			assert_int_equal(u.groups[g], cases[i].groups[g]);
		sbx_user_free(&u);
	}
}

static void test_lookup_bad(void **state)
{
	static const struct {
		const char *spec, *want;
	} cases[] = {
		{"nosuchuser", "user 'nosuchuser' not found in"},
		{"broken", "user 'broken' not found"},
		{"short", "user 'short' not found"},
		{"nisuser", "user 'nisuser' not found"},
		{"App", "user 'App' not found"},
		{"app:nosuchgroup", "group 'nosuchgroup' not found in"},
		{"app:broken", "group 'broken' not found"},
		{"", "expected USER or USER:GROUP"},
		{":staff", "expected USER or USER:GROUP"},
		{"app:", "expected USER or USER:GROUP"},
		{"app:staff:x", "expected USER or USER:GROUP"},
		{"4294967295", "out of range"},
		{"99999999999", "out of range"},
		{"app:4294967295", "out of range"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_user u;
		char err[512] = "";

		assert_true(sbx_lookup_user(cases[i].spec, fixture("passwd"), fixture("group"), &u,
					    err, sizeof(err)) < 0);
		assert_one_line_with(err, "--user: ", cases[i].want);
		assert_null(u.groups);
	}
}

static void test_lookup_missing_files(void **state)
{
	struct sbx_user u;
	char err[512] = "";

	(void)state;
	/* A name needs the file... */
	assert_int_equal(sbx_lookup_user("app", "/nonexistent/passwd", fixture("group"), &u, err,
					 sizeof(err)), -ENOENT);
	assert_one_line_with(err, "cannot read /nonexistent/passwd", NULL);
	assert_int_equal(sbx_lookup_user("app:staff", fixture("passwd"), "/nonexistent/group", &u,
					 err, sizeof(err)), -ENOENT);
	assert_one_line_with(err, "cannot read /nonexistent/group", NULL);
	/* ...numbers do not (an image without /etc/passwd). */
	assert_int_equal(sbx_lookup_user("123:456", "/nonexistent/passwd", "/nonexistent/group",
					 &u, err, sizeof(err)), 0);
	assert_int_equal(u.uid, 123);
	assert_int_equal(u.gid, 456);
	assert_string_equal(u.home, "/");
	assert_int_equal(u.n_groups, 1);
	sbx_user_free(&u);
}

/* ---- sbx_prepare ---- */

static int prepare(struct sbx_policy **p, const char *user, const char *caps,
		   const char *seccomp, const char *action, char *err, size_t errlen)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.user = user;
	cfg.caps = caps;
	cfg.seccomp = seccomp;
	cfg.seccomp_action = action;
	err[0] = '\0';
	return sbx_prepare(p, &cfg, err, errlen);
}

/* The policy comes back from the child that prepared it with the same program that the
 * compiler makes here, byte for byte. */
static void test_prepare_hands_back_the_filter(void **state)
{
	static const struct {
		const char *action;
		enum sbx_action deny;
	} cases[] = {
		{ "errno", SBX_ERRNO },
		{ "kill", SBX_KILL },
		{ "log", SBX_LOG },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_policy *p = NULL;
		struct sbx_profile prof;
		struct sbx_bpf want;
		char err[512], *unknown = NULL;
		const void *got;
		size_t len;

		assert_int_equal(prepare(&p, NULL, "none", "default", cases[i].action, err,
					 sizeof(err)), 0);
		assert_int_equal(sbx_parse_profile(sbx_default_profile, "default profile", &prof,
						   err, sizeof(err)), 0);
		assert_int_equal(sbx_compile(&prof, true, cases[i].deny, "default profile", &want,
					     &unknown, err, sizeof(err)), 0);
		got = sbx_filter(p, &len);
		assert_non_null(got);
		assert_int_equal(len, want.len);
		assert_memory_equal(got, want.insns, len * sizeof(struct sock_filter));
		free(want.insns);
		free(unknown);
		sbx_profile_free(&prof);
		sbx_free(p);
	}
}

static void test_prepare_describes(void **state)
{
	char buf[512];

	static const struct {
		const char *caps, *seccomp, *action, *want;
	} cases[] = {
		{NULL, NULL, NULL, "user=- caps=none seccomp=default(errno) nnp=1"},
		{"all", "off", "errno", "user=- caps=all seccomp=off nnp=0"},
		{"all", "default", "kill", "user=- caps=all seccomp=default(kill) nnp=1"},
		{"all", "default", "LOG", "user=- caps=all seccomp=default(log) nnp=1"},
		{"none", "off", NULL, "user=- caps=none seccomp=off nnp=1"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_policy *p;
		char err[512];

		if (prepare(&p, NULL, cases[i].caps, cases[i].seccomp, cases[i].action, err,
			    sizeof(err)) != 0)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(sbx_describe(p, buf, sizeof(buf)), 0);
		/* Without CAP_SETPCAP the line says the bounding set stays. */
		if (strncmp(buf, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("'%s', want '%s'", buf, cases[i].want);
		assert_null(sbx_home(p));
		assert_null(sbx_user_name(p));
		assert_null(sbx_unknown_syscalls(p));
		/* Too small a buffer: cut, terminated, and said so. */
		assert_int_equal(sbx_describe(p, buf, 10), -ENOSPC);
		assert_int_equal(strlen(buf), 9);
		sbx_free(p);
	}
	assert_int_equal(sbx_describe(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "user=- caps=all seccomp=off nnp=0");
	sbx_free(NULL);
}

static void test_prepare_profiles(void **state)
{
	struct sbx_policy *p;
	char err[512], buf[PATH_MAX + 128], want[PATH_MAX + 64];

	(void)state;
	assert_int_equal(prepare(&p, NULL, "all", fixture("profiles/allowlist.profile"), NULL,
				 err, sizeof(err)), 0);
	/* Names of other architectures only are skipped, not fatal, and reported. */
	assert_string_equal(sbx_unknown_syscalls(p), "s390_runtime_instr");
	sbx_describe(p, buf, sizeof(buf));
	snprintf(want, sizeof(want), "seccomp=%s(errno)",
		 fixture("profiles/allowlist.profile"));
	assert_non_null(strstr(buf, want));
	sbx_free(p);

	assert_int_equal(prepare(&p, NULL, "all", fixture("profiles/denylist.profile"), "kill",
				 err, sizeof(err)), 0);
	assert_null(sbx_unknown_syscalls(p));
	sbx_free(p);
}

static void test_prepare_errors(void **state)
{
	static const struct {
		const char *user, *caps, *seccomp, *action;
		int rc;
		const char *a, *b;
	} cases[] = {
		{NULL, "NET_BIND_SERVICE,bogus", NULL, NULL, -EINVAL, "--caps", "'bogus'"},
		{NULL, NULL, NULL, "allow", -EINVAL, "--seccomp-action", "'allow'"},
		{NULL, NULL, NULL, "bogus", -EINVAL, "--seccomp-action", "'bogus'"},
		{NULL, NULL, "/nonexistent/profile", NULL, -ENOENT, "cannot read profile",
		 "/nonexistent/profile"},
		{NULL, NULL, "profiles/bad-keyword.profile", NULL, -EINVAL,
		 "bad-keyword.profile:3:", "'alow'"},
		{NULL, NULL, "/", NULL, -EISDIR, "cannot read profile", "'/'"},
		/* a name no architecture knows: file, line and name */
		{NULL, NULL, "profiles/misspelt.profile", NULL, -EINVAL,
		 "misspelt.profile:4: 'not_a_syscall_xyz'", "not a system call on any architecture"},
		{"no_such_user_in_etc_passwd", NULL, NULL, NULL, -EINVAL,
		 "user 'no_such_user_in_etc_passwd' not found", "/etc/passwd"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_policy *p = (struct sbx_policy *)1;
		char err[512];
		const char *seccomp = cases[i].seccomp;

		if (seccomp && seccomp[0] != '/')
			seccomp = fixture(seccomp);
		assert_int_equal(prepare(&p, cases[i].user, cases[i].caps, seccomp, cases[i].action,
					 err, sizeof(err)),
				 cases[i].rc);
		assert_null(p);
		assert_one_line_with(err, cases[i].a, cases[i].b);
	}
}

/* ---- applied for real, in children ---- */

/* A field of /proc/self/status as a number (hex for Cap*), or -1. */
static long long self_status(const char *field)
{
	char *text = slurp("/proc/self/status"), key[64], *p;
	long long v = -1;

	snprintf(key, sizeof(key), "\n%s:", field);
	p = strstr(text, key);
	if (p)
		v = strtoll(p + strlen(key), NULL, strncmp(field, "Cap", 3) == 0 ? 16 : 10);
	free(text);
	return v;
}

enum probe_result { P_OK, P_EPERM, P_ENOSYS, P_OTHER };

static int classify(long rc)
{
	if (rc >= 0)
		return P_OK;
	return errno == EPERM ? P_EPERM : errno == ENOSYS ? P_ENOSYS : P_OTHER;
}

/* Calls made by a child after sbx_apply. */
enum call {
	C_GETPID, C_UNAME, C_MOUNT, C_PTRACE, C_UNSHARE_USER, C_UNSHARE_FILES, C_CLONE3,
	C_PERSONALITY_QUERY, C_PERSONALITY_SET, C_SETNS, C_KEYCTL,
};

static int make_call(enum call c)
{
	struct utsname u;

	switch (c) {
	case C_GETPID:
		return classify(syscall(SYS_getpid));
	case C_UNAME:
		return classify(uname(&u));
	case C_MOUNT:
		return classify(mount("none", "/", "baton-test-nofs", 0, NULL));
	case C_PTRACE:
		return classify(ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL));
	case C_UNSHARE_USER:
		return classify(unshare(CLONE_NEWUSER));
	case C_UNSHARE_FILES:
		return classify(unshare(CLONE_FILES));
	case C_CLONE3:
		return classify(syscall(SYS_clone3, NULL, 0));
	case C_PERSONALITY_QUERY:
		return classify(syscall(SYS_personality, 0xffffffffUL));
	case C_PERSONALITY_SET:
		return classify(syscall(SYS_personality, 0x0040000UL));
	case C_SETNS:
		return classify(syscall(SYS_setns, -1, 0));
	case C_KEYCTL:
		return classify(syscall(SYS_keyctl, -1, 0, 0, 0, 0));
	}
	return P_OTHER;
}

/* Leave a filtered child without running anything of the sanitizers' exit hooks, whose own
 * system calls an allow-list would deny. */
static void raw_exit(int code)
{
	syscall(SYS_exit_group, code);
	_exit(code);
}

/* Fork; the child applies p and makes one call; returns the child's result or, when it was
 * killed, 100 + the signal. */
static int child_call(const struct sbx_policy *p, enum call c)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		const char *step;
		int rc = sbx_apply(p, &step);

		if (rc < 0) {
			fprintf(stderr, "sbx_apply: %s: %s\n", step, strerror(-rc));
			_exit(99);
		}
		raw_exit(make_call(c));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? 100 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void test_filters_applied(void **state)
{
	static const struct {
		const char *seccomp, *action;
		enum call call;
		int want;
	} cases[] = {
		/* The default profile. */
		{"default", "errno", C_GETPID, P_OK},
		{"default", "errno", C_UNAME, P_OK},
		{"default", "errno", C_MOUNT, P_EPERM},
		{"default", "errno", C_PTRACE, P_EPERM},
		{"default", "errno", C_UNSHARE_USER, P_EPERM},
		{"default", "errno", C_UNSHARE_FILES, P_OK},  /* no namespace flag */
		{"default", "errno", C_CLONE3, P_ENOSYS},
		{"default", "errno", C_PERSONALITY_QUERY, P_OK},
		{"default", "errno", C_PERSONALITY_SET, P_EPERM},
		{"default", "errno", C_SETNS, P_EPERM},
		{"default", "errno", C_KEYCTL, P_EPERM},
		{"default", "kill", C_GETPID, P_OK},
		{"default", "kill", C_MOUNT, 100 + SIGSYS},
		{"default", "kill", C_PERSONALITY_SET, 100 + SIGSYS},
		{"default", "kill", C_CLONE3, P_ENOSYS}, /* never killed: libc's fallback */
		{"default", "log", C_PTRACE, P_OTHER},   /* logged, then ESRCH */
		/* Without a filter: what the kernel says. */
		{"off", "errno", C_PTRACE, P_OTHER},
		{"off", "errno", C_CLONE3, P_OTHER},
		{"off", "errno", C_PERSONALITY_QUERY, P_OK},
		/* Profile files. */
		{"profiles/allowlist.profile", "errno", C_GETPID, P_EPERM},
		{"profiles/allowlist.profile", "errno", C_UNAME, P_EPERM},
		{"profiles/allowlist.profile", "errno", C_CLONE3, P_ENOSYS},
		{"profiles/allowlist.profile", "kill", C_PTRACE, 100 + SIGSYS},
		{"profiles/denylist.profile", "errno", C_UNAME, P_OK},
		{"profiles/denylist.profile", "errno", C_MOUNT, P_EPERM},
		{"profiles/denylist.profile", "errno", C_PTRACE, P_EPERM},
		{"profiles/denylist.profile", "errno", C_UNSHARE_USER, P_OK},
		{"profiles/kill.profile", "errno", C_UNAME, 100 + SIGSYS},
		{"profiles/clone3.profile", "errno", C_CLONE3, P_ENOSYS},
		{"profiles/clone3.profile", "errno", C_MOUNT, P_EPERM},
		{"profiles/clone3.profile", "kill", C_CLONE3, 100 + SIGSYS},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *seccomp = cases[i].seccomp;
		struct sbx_policy *p;
		char err[512];
		int got;

		if (strchr(seccomp, '/'))
			seccomp = fixture(seccomp);
		if (prepare(&p, NULL, "all", seccomp, cases[i].action, err, sizeof(err)) != 0)
			fail_msg("%s: %s", seccomp, err);
		got = child_call(p, cases[i].call);
		if (got != cases[i].want)
			fail_msg("case %zu (%s, %s, call %d): got %d, want %d", i, cases[i].seccomp,
				 cases[i].action, cases[i].call, got, cases[i].want);
		sbx_free(p);
	}
}

/* What a child reads from /proc/self/status; -2: do not check. */
struct expect {
	long long uid, gid, eff, prm, inh, bnd, amb, nnp, seccomp;
};

/* Fork; the child runs sbx_restrict_self(restrict_p) when restrict_p is set, then
 * sbx_apply(apply_p), then checks its status. Returns 0, or the index + 1 of the first
 * field that differs (98/99: the calls failed). */
static int child_status(const struct sbx_policy *restrict_p, bool need_bind,
			const struct sbx_policy *apply_p, const struct expect *e)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		const char *step = "?";
		char err[256];
		const char *fields[] = { "Uid", "Gid", "CapEff", "CapPrm", "CapInh", "CapBnd",
					 "CapAmb", "NoNewPrivs", "Seccomp" };
		const long long want[] = { e->uid, e->gid, e->eff, e->prm, e->inh, e->bnd,
					   e->amb, e->nnp, e->seccomp };
		int rc;

		if (restrict_p && sbx_restrict_self(restrict_p, need_bind, err, sizeof(err)) < 0) {
			fprintf(stderr, "sbx_restrict_self: %s\n", err);
			_exit(98);
		}
		if ((rc = sbx_apply(apply_p, &step)) < 0) {
			fprintf(stderr, "sbx_apply: %s: %s\n", step, strerror(-rc));
			_exit(99);
		}
		for (int i = 0; i < 9; i++) {
			long long got = self_status(fields[i]);

			if (want[i] != -2 && got != want[i]) {
				fprintf(stderr, "%s: got %llx, want %llx\n", fields[i], got, want[i]);
				_exit(i + 1);
			}
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* --seccomp off --caps all and no user: the child is exactly its parent. */
static void test_nothing_applied_when_nothing_asked(void **state)
{
	struct sbx_policy *p;
	struct expect e = { (long long)getuid(),      (long long)getgid(),
			    self_status("CapEff"),    self_status("CapPrm"),
			    self_status("CapInh"),    self_status("CapBnd"),
			    self_status("CapAmb"),    self_status("NoNewPrivs"),
			    self_status("Seccomp") };
	char err[512];

	(void)state;
	assert_int_equal(prepare(&p, NULL, "all", "off", NULL, err, sizeof(err)), 0);
	assert_int_equal(child_status(p, false, p, &e), 0);
	sbx_free(p);
}

static void test_capabilities_applied(void **state)
{
	/* CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP */
	static const uint64_t keeps = CAP(5) | CAP(6) | CAP(7) | CAP(8);
	static const uint64_t nbs = CAP(10), raw = CAP(13);
	static const struct {
		const char *user, *caps;
		bool restrict_self, need_bind, apply;
		struct expect e;
	} cases[] = {
		{NULL, "none", false, false, true, {0, 0, 0, 0, 0, 0, 0, 1, 0}},
		{"nobody", "none", false, false, true, {65534, 65534, 0, 0, 0, 0, 0, 1, 0}},
		{"nobody", "NET_BIND_SERVICE", false, false, true,
		 {65534, 65534, nbs, nbs, nbs, nbs, nbs, 1, 0}},
		/* The same after baton restricted itself, as in real use. */
		{"nobody", "NET_BIND_SERVICE", true, true, true,
		 {65534, 65534, nbs, nbs, nbs, nbs, nbs, 1, 0}},
		{NULL, "CAP_NET_RAW,NET_BIND_SERVICE", true, false, true,
		 {0, 0, nbs | raw, nbs | raw, nbs | raw, nbs | raw, nbs | raw, 1, 0}},
		/* --caps all: the kernel's rules, which leave a non-root user nothing. */
		{"nobody:users", "all", false, false, true, {65534, 100, 0, 0, 0, -2, 0, 1, 0}},
		/* baton itself after sbx_restrict_self. */
		{"nobody", "NET_RAW", true, false, false,
		 {0, 0, keeps | raw, keeps | raw, raw, keeps | raw, 0, 0, 0}},
		{NULL, "none", true, true, false,
		 {0, 0, keeps | nbs, keeps | nbs, 0, keeps | nbs, 0, 0, 0}},
	};

	(void)state;
	/* Needs a root with every capability, as baton has in a container. */
	if (geteuid() != 0 || self_status("CapEff") != self_status("CapBnd"))
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_policy *p;
		char err[512];
		int got;

		if (prepare(&p, cases[i].user, cases[i].caps, "off", NULL, err, sizeof(err)) != 0)
			fail_msg("case %zu: %s", i, err);
		got = child_status(cases[i].restrict_self ? p : NULL, cases[i].need_bind,
				   cases[i].apply ? p : NULL, &cases[i].e);
		if (got != 0)
			fail_msg("case %zu (%s, %s): check %d failed", i,
				 cases[i].user ? cases[i].user : "-", cases[i].caps, got);
		sbx_free(p);
	}
}

static void test_user_from_etc_passwd(void **state)
{
	struct sbx_policy *p;
	char err[512], buf[512];
	int rc;

	(void)state;
	rc = prepare(&p, "0", "none", "default", NULL, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(sbx_user_name(p), "root");
	assert_non_null(sbx_home(p));
	sbx_describe(p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "user=root(0:0) "));
	sbx_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_good),
		cmocka_unit_test(test_caps_bad),
		cmocka_unit_test(test_caps_format),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_profile_good),
		cmocka_unit_test(test_profile_inline_texts),
		cmocka_unit_test(test_profile_bad),
		cmocka_unit_test(test_profile_bad_inline),
		cmocka_unit_test(test_passwd_lines),
		cmocka_unit_test(test_group_lines),
		cmocka_unit_test(test_lookup_good),
		cmocka_unit_test(test_lookup_bad),
		cmocka_unit_test(test_lookup_missing_files),
		cmocka_unit_test(test_prepare_hands_back_the_filter),
		cmocka_unit_test(test_prepare_describes),
		cmocka_unit_test(test_prepare_profiles),
		cmocka_unit_test(test_prepare_errors),
		cmocka_unit_test(test_filters_applied),
		cmocka_unit_test(test_nothing_applied_when_nothing_asked),
		cmocka_unit_test(test_capabilities_applied),
		cmocka_unit_test(test_user_from_etc_passwd),
	};

	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
