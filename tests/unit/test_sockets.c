/*
 * sockets: the --listen parser as a table, then real binds on loopback and in a temporary
 * directory (ephemeral ports only, so that parallel runs do not collide).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/tcp.h>

#include <cmocka.h>

#include "baton/sockets.h"

/* A valid name of exactly the maximum length, filled in by main. */
static char long_name[SOCK_NAME_MAX + 1];

static void test_parse_ok(void **state)
{
	static const struct {
		const char *text;
		int kind;
		const char *where; /* sock_describe */
		const char *name;
	} cases[] = {
		{"8080", SOCK_KIND_TCP, "*:8080", "tcp-8080"},
		{":8080", SOCK_KIND_TCP, "*:8080", "tcp-8080"},
		{"1", SOCK_KIND_TCP, "*:1", "tcp-1"},
		{"65535", SOCK_KIND_TCP, "*:65535", "tcp-65535"},
		{"127.0.0.1:8080", SOCK_KIND_TCP, "127.0.0.1:8080", "tcp-8080"},
		{"0.0.0.0:80", SOCK_KIND_TCP, "0.0.0.0:80", "tcp-80"},
		{"localhost:3000", SOCK_KIND_TCP, "127.0.0.1:3000", "tcp-3000"},
		{"LocalHost:3000", SOCK_KIND_TCP, "127.0.0.1:3000", "tcp-3000"},
		{"[::1]:8080", SOCK_KIND_TCP, "[::1]:8080", "tcp-8080"},
		{"[::]:80", SOCK_KIND_TCP, "[::]:80", "tcp-80"},
		{"[fe80::1%1]:80", SOCK_KIND_TCP, "[fe80::1%1]:80", "tcp-80"},
		{"[fe80::1%lo]:80", SOCK_KIND_TCP, "[fe80::1%1]:80", "tcp-80"},
		{"[::ffff:127.0.0.1]:80", SOCK_KIND_TCP, "[::ffff:127.0.0.1]:80", "tcp-80"},
		{"tcp://127.0.0.1:9000", SOCK_KIND_TCP, "127.0.0.1:9000", "tcp-9000"},
		{"tcp://8080", SOCK_KIND_TCP, "*:8080", "tcp-8080"},
		{"tcp://[::1]:1=web", SOCK_KIND_TCP, "[::1]:1", "web"},
		{"8080=http", SOCK_KIND_TCP, "*:8080", "http"},
		{"8080=A.b_c-9", SOCK_KIND_TCP, "*:8080", "A.b_c-9"},
		{"unix:/run/app.sock", SOCK_KIND_UNIX, "unix:/run/app.sock", "unix-app.sock"},
		{"unix:/tmp/my app@1.sock", SOCK_KIND_UNIX, "unix:/tmp/my app@1.sock",
		 "unix-my_app_1.sock"},
		{"unix:/run/app.sock=api", SOCK_KIND_UNIX, "unix:/run/app.sock", "api"},
		/* The last '=' starts the name, so a path with '=' needs one. */
		{"unix:/tmp/a=b", SOCK_KIND_UNIX, "unix:/tmp/a", "b"},
		{"unix:/", SOCK_KIND_UNIX, "unix:/", "unix-socket"},
	};
	struct sock_spec spec;
	char err[256], where[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (sock_parse(cases[i].text, &spec, err, sizeof(err)) != 0)
			fail_msg("'%s': rejected: %s", cases[i].text, err);
		assert_int_equal(sock_describe(&spec, where, sizeof(where)), 0);
		if ((int)spec.kind != cases[i].kind || strcmp(where, cases[i].where) != 0 ||
		    strcmp(spec.name, cases[i].name) != 0)
			fail_msg("'%s': kind %d '%s' name '%s', want %d '%s' name '%s'",
				 cases[i].text, spec.kind, where, spec.name, cases[i].kind,
				 cases[i].where, cases[i].name);
	}
}

static void test_parse_bad(void **state)
{
	char long_path[200], long_fdname[300];
	const struct {
		const char *text;
		const char *msg; /* a piece of the message */
	} cases[] = {
		{NULL, "empty"},
		{"", "empty"},
		{"0", "port '0'"},
		{"65536", "port '65536'"},
		{"99999999999", "port"},
		{"abc", "port 'abc'"},
		{"-1", "port"},
		{"+80", "port"},
		{" 8080", "port"},
		{"80a", "port"},
		{"127.0.0.1:", "port ''"},
		{"127.0.0.1:0", "port '0'"},
		{"127.0.0.1:http", "port 'http'"},
		{"example.com:80", "not resolved"},
		{"1.2.3:80", "IPv4"},
		{"127.1:80", "IPv4"},
		{"0x7f.0.0.1:80", "IPv4"},
		{"256.0.0.1:80", "IPv4"},
		{"::1:80", "brackets"},
		{"::1]:80", "brackets"},
		{"[::1:80", "missing ']'"},
		{"[::1]80", "':PORT'"},
		{"[::1]", "':PORT'"},
		{"[::1]:", "port"},
		{"[]:80", "IPv6"},
		{"[127.0.0.1]:80", "IPv6"},
		{"[::1%]:80", "IPv6"},
		{"[fe80::1%nosuchif0]:80", "IPv6"},
		{"unix:", "absolute"},
		{"unix:relative.sock", "absolute"},
		{long_path, "at most"},
		{"tcp://", "no port"},
		{"=web", "no port"},
		{"8080=", "name"},
		{"8080=bad:name", "name"},
		{"8080=a b", "name"},
		{"8080=caf\xc3\xa9", "name"},
		{long_fdname, "name"},
	};
	struct sock_spec spec;
	char err[256];
	size_t i;

	(void)state;
	snprintf(long_path, sizeof(long_path), "unix:/%0150d", 0);
	/* The longest valid name is accepted: the bound is exactly 255. */
	assert_int_equal(strlen(long_name), 255);
	snprintf(long_fdname, sizeof(long_fdname), "8080=%s", long_name);
	assert_int_equal(sock_parse(long_fdname, &spec, NULL, 0), 0);
	assert_string_equal(spec.name, long_name);
	snprintf(long_fdname, sizeof(long_fdname), "8080=%sx", long_name);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		err[0] = '\0';
		r = sock_parse(cases[i].text, &spec, err, sizeof(err));
		if (r != -EINVAL)
			fail_msg("'%s': got %d, want -EINVAL", cases[i].text ? cases[i].text : "(null)",
				 r);
		if (!strstr(err, cases[i].msg) || strchr(err, '\n'))
			fail_msg("'%s': message '%s' should contain '%s' on one line",
				 cases[i].text ? cases[i].text : "(null)", err, cases[i].msg);
	}
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int sock_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ss.ss_family;
}

/* Connect to 127.0.0.1:port and have the listener accept it; whether the accepted socket
 * has TCP_NODELAY. */
static int check_accepts_v4(int lfd, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int c, a, v = -1;
	socklen_t vlen = sizeof(v);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &vlen), 0);
	close(a);
	close(c);
	return v != 0;
}

static void test_bind_ephemeral_and_in_use(void **state)
{
	struct sock_spec spec, again;
	char err[256], want[64];
	int fd = -1, fd2 = -1, port, v = 0;
	socklen_t vlen = sizeof(v);

	(void)state;
	assert_int_equal(sock_parse("127.0.0.1:1", &spec, NULL, 0), 0);
	spec.port = 0; /* the parser refuses 0; sock_bind takes it as "any free port" */
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), 0);
	port = local_port(fd);
	assert_true(port > 0);
	assert_int_equal(sock_family(fd), AF_INET);

	/* Close-on-exec, blocking, SO_REUSEADDR on, SO_REUSEPORT off, listening. */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &vlen), 0);
	assert_true(v != 0);
	vlen = sizeof(v);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &vlen), 0);
	assert_int_equal(v, 0);
	vlen = sizeof(v);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vlen), 0);
	assert_true(v != 0);
	check_accepts_v4(fd, port);

	/* The same address again: in use, and the message names it. */
	again = spec;
	again.port = port;
	err[0] = '\0';
	assert_int_equal(sock_bind(&again, 16, &fd2, err, sizeof(err)), -EADDRINUSE);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	if (!strstr(err, want) || !strstr(err, "in use"))
		fail_msg("message '%s' should name %s and say 'in use'", err, want);
	assert_int_equal(sock_bind_tcp("127.0.0.1", port, 4, 0, 0, &fd2), -EADDRINUSE);
	close(fd);
}

/* TCP_NODELAY set on the listener reaches the connections it accepts (--tcp-nodelay), by
 * sock_bind and by sock_bind_tcp; off, they have Nagle's algorithm as usual. */
static void test_bind_nodelay_inherited(void **state)
{
	struct sock_spec spec;
	char err[256];
	int fd;

	(void)state;
	for (int on = 0; on <= 1; on++) {
		assert_int_equal(sock_parse("127.0.0.1:1", &spec, NULL, 0), 0);
		spec.port = 0;
		spec.nodelay = on;
		assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), 0);
		assert_int_equal(check_accepts_v4(fd, local_port(fd)), on);
		close(fd);

		assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 4, on ? SOCK_TCP_NODELAY : 0, 0, &fd),
				 0);
		assert_int_equal(check_accepts_v4(fd, local_port(fd)), on);
		close(fd);
	}
}

static void test_bind_not_available(void **state)
{
	struct sock_spec spec;
	char err[256];
	int fd = -1;

	(void)state;
	/* 192.0.2.0/24 is reserved for documentation: no interface here has it. Binding sends
	 * nothing. */
	assert_int_equal(sock_parse("192.0.2.1:8080", &spec, NULL, 0), 0);
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), -EADDRNOTAVAIL);
	if (!strstr(err, "192.0.2.1:8080") || !strstr(err, "not available"))
		fail_msg("message '%s'", err);
}

/* The kernel has IPv6 (an AF_INET6 socket can be made). */
static int have_ipv6(void)
{
	return access("/proc/net/if_inet6", F_OK) == 0;
}

/* ... and ::1 is configured (containers often run with IPv6 disabled by sysctl). */
static int have_ipv6_loopback(void)
{
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/net/if_inet6", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, "00000000000000000000000000000001", 32) == 0;
	fclose(f);
	return found;
}

static void test_bind_any_dual_stack(void **state)
{
	int fd = -1, v = -1, port;
	socklen_t vlen = sizeof(v);

	(void)state;
	assert_int_equal(sock_bind_tcp(NULL, 0, 0, 0, 0, &fd), 0);
	port = local_port(fd);
	if (have_ipv6()) {
		assert_int_equal(sock_family(fd), AF_INET6);
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vlen), 0);
		assert_int_equal(v, 0);
	} else {
		assert_int_equal(sock_family(fd), AF_INET);
	}
	/* IPv4 clients reach the one socket either way. */
	check_accepts_v4(fd, port);
	close(fd);

	assert_int_equal(sock_bind_tcp("", 0, 4, 0, 8, &fd), 0);
	close(fd);
}

/* Node's listen({ipv6Only: true}): the IPv6 socket leaves IPv4 to others, so a 0.0.0.0
 * listener can share its port; without it, the dual-stack socket holds both. */
static void test_bind_v6only(void **state)
{
	int fd = -1, fd4 = -1, v = -1, port;
	socklen_t vlen = sizeof(v);

	(void)state;
	assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 4, SOCK_TCP_V6ONLY, 0, &fd), -EINVAL);
	if (!have_ipv6()) {
		skip();
		return;
	}
	assert_int_equal(sock_bind_tcp(NULL, 0, 6, SOCK_TCP_V6ONLY, 0, &fd), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vlen), 0);
	assert_int_equal(v, 1);
	port = local_port(fd);
	assert_int_equal(sock_bind_tcp("0.0.0.0", port, 4, 0, 0, &fd4), 0);
	close(fd4);
	close(fd);

	assert_int_equal(sock_bind_tcp(NULL, 0, 0, 0, 0, &fd), 0);
	port = local_port(fd);
	assert_int_equal(sock_bind_tcp("0.0.0.0", port, 4, 0, 0, &fd4), -EADDRINUSE);
	close(fd);
	assert_int_equal(sock_bind_tcp("::", 0, 6, SOCK_TCP_V6ONLY, 0, &fd), 0);
	port = local_port(fd);
	assert_int_equal(sock_bind_tcp("0.0.0.0", port, 4, 0, 0, &fd4), 0);
	close(fd4);
	close(fd);
}

static void test_bind_tcp_helper(void **state)
{
	int fd = -1;

	(void)state;
	assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 4, 0, 0, &fd), 0);
	assert_int_equal(sock_family(fd), AF_INET);
	close(fd);
	assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 0, 0, 0, &fd), 0);
	assert_int_equal(sock_family(fd), AF_INET);
	close(fd);
	if (have_ipv6_loopback()) {
		assert_int_equal(sock_bind_tcp("::1", 0, 6, 0, 0, &fd), 0);
		assert_int_equal(sock_family(fd), AF_INET6);
		close(fd);
		assert_int_equal(sock_bind_tcp("::1", 0, 0, 0, 0, &fd), 0);
		assert_int_equal(sock_family(fd), AF_INET6);
		close(fd);
	}
	assert_int_equal(sock_bind_tcp("abc", 0, 4, 0, 0, &fd), -EINVAL);
	assert_int_equal(sock_bind_tcp("::1", 0, 4, 0, 0, &fd), -EINVAL);
	assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 6, 0, 0, &fd), -EINVAL);
	assert_int_equal(sock_bind_tcp("127.0.0.1", 0, 5, 0, 0, &fd), -EINVAL);
	assert_int_equal(sock_bind_tcp("127.0.0.1", 65536, 4, 0, 0, &fd), -EINVAL);
	assert_int_equal(sock_bind_tcp("127.0.0.1", -1, 4, 0, 0, &fd), -EINVAL);
}

static void test_bind_unix(void **state)
{
	char dir[] = "/tmp/baton-test-sockets.XXXXXX";
	char text[160], path[128], err[256];
	struct sock_spec spec;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd = -1, fd2 = -1, c, a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/app.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(sock_parse(text, &spec, NULL, 0), 0);
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* A client connects through the path. */
	strcpy(sun.sun_path, path);
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sun, sizeof(sun)), 0);
	a = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	close(a);
	close(c);

	/* A live listener is never unlinked from under its owner. */
	err[0] = '\0';
	assert_int_equal(sock_bind(&spec, 0, &fd2, err, sizeof(err)), -EADDRINUSE);
	if (!strstr(err, path))
		fail_msg("message '%s' should name %s", err, path);

	/* Once its owner is gone, the file left behind is stale and is replaced. */
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), 0);
	close(fd);

	/* Not a socket: left alone. */
	assert_int_equal(unlink(path), 0);
	c = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(c >= 0);
	close(c);
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), -EEXIST);
	if (!strstr(err, "not a socket"))
		fail_msg("message '%s'", err);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* A missing directory. */
	snprintf(text, sizeof(text), "unix:%s/nodir/app.sock", dir);
	assert_int_equal(sock_parse(text, &spec, NULL, 0), 0);
	assert_int_equal(sock_bind(&spec, 0, &fd, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "nodir/app.sock"))
		fail_msg("message '%s'", err);
	rmdir(dir);
}

static void test_somaxconn_and_describe(void **state)
{
	struct sock_spec spec;
	char buf[8];
	FILE *f;
	int want = SOMAXCONN;

	(void)state;
	f = fopen("/proc/sys/net/core/somaxconn", "re");
	if (f) {
		assert_int_equal(fscanf(f, "%d", &want), 1);
		fclose(f);
	}
	assert_int_equal(sock_somaxconn(), want);

	assert_int_equal(sock_parse("127.0.0.1:8080", &spec, NULL, 0), 0);
	assert_int_equal(sock_describe(&spec, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(sock_describe(&spec, buf, 0), -ENOSPC);
}

int main(void)
{
	memset(long_name, 'n', SOCK_NAME_MAX);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_bind_ephemeral_and_in_use),
		cmocka_unit_test(test_bind_nodelay_inherited),
		cmocka_unit_test(test_bind_not_available),
		cmocka_unit_test(test_bind_any_dual_stack),
		cmocka_unit_test(test_bind_tcp_helper),
		cmocka_unit_test(test_bind_v6only),
		cmocka_unit_test(test_bind_unix),
		cmocka_unit_test(test_somaxconn_and_describe),
	};

	return cmocka_run_group_tests_name("sockets", tests, NULL, NULL);
}
