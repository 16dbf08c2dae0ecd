/*
 * notify: the message parser as a table, and real round trips through the socket that
 * ntf_open makes (abstract and in a directory), sent the way libsystemd's sd_notify sends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/notify.h"

static void test_parse_table(void **state)
{
	static const struct {
		const char *text;
		int rc;
		bool ready, stopping, reloading, has_status;
		const char *status;
		pid_t mainpid;
	} cases[] = {
		{"READY=1", 0, true, false, false, false, "", 0},
		{"READY=1\n", 0, true, false, false, false, "", 0},
		{"READY=1\nSTATUS=serving on :8080\n", 0, true, false, false, true,
		 "serving on :8080", 0},
		{"STATUS=", 0, false, false, false, true, "", 0},
		{"STATUS=a=b", 0, false, false, false, true, "a=b", 0},
		{"STATUS=tab\there\r", 0, false, false, false, true, "tab here ", 0},
		{"STOPPING=1", 0, false, true, false, false, "", 0},
		{"RELOADING=1\nMONOTONIC_USEC=123", 0, false, false, true, false, "", 0},
		{"MAINPID=4242\nREADY=1", 0, true, false, false, false, "", 4242},
		{"MAINPID=2147483647", 0, false, false, false, false, "", 2147483647},
		{"READY=0", 0, false, false, false, false, "", 0},   /* only "1" counts */
		{"READY=yes", 0, false, false, false, false, "", 0},
		{"READY=1\nREADY=0", 0, true, false, false, false, "", 0},
		{"STATUS=one\nSTATUS=two", 0, false, false, false, true, "two", 0},
		{"\n\nREADY=1\n\n", 0, true, false, false, false, "", 0},
		{"WATCHDOG=1\nFDSTORE=1\nX_CUSTOM=", 0, false, false, false, false, "", 0},
		{"BARRIER=1", 0, false, false, false, false, "", 0},
		{"ERRNO=2", 0, false, false, false, false, "", 0},
		/* malformed */
		{"", -EINVAL, false, false, false, false, "", 0},
		{"READY", -EINVAL, false, false, false, false, "", 0},
		{"READY=1\ngarbage", -EINVAL, false, false, false, false, "", 0},
		{"=1", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=0", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=1", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=-5", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=12ab", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID= 12", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=2147483648", -EINVAL, false, false, false, false, "", 0},
		{"MAINPID=99999999999", -EINVAL, false, false, false, false, "", 0},
	};
	struct ntf_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = ntf_parse(cases[i].text, strlen(cases[i].text), &m);

		if (r != cases[i].rc || m.ready != cases[i].ready ||
		    m.stopping != cases[i].stopping || m.reloading != cases[i].reloading ||
		    m.has_status != cases[i].has_status || strcmp(m.status, cases[i].status) ||
		    m.mainpid != cases[i].mainpid || m.sender != 0)
			fail_msg("case %zu '%s': rc %d ready %d stopping %d reloading %d status %d "
				 "'%s' mainpid %d",
				 i, cases[i].text, r, m.ready, m.stopping, m.reloading, m.has_status,
				 m.status, (int)m.mainpid);
	}
}

static void test_parse_bounds(void **state)
{
	char buf[1024];
	struct ntf_msg m;
	size_t n;

	(void)state;
	/* A NUL inside the datagram is malformed, wherever it is. */
	assert_int_equal(ntf_parse("READY=1\0", 8, &m), -EINVAL);
	assert_int_equal(ntf_parse("READY=1", 7, &m), 0);
	assert_int_equal(ntf_parse("READY=1", 6, &m), 0); /* cut by len: "READY=" */
	assert_false(m.ready);
	assert_int_equal(ntf_parse(NULL, 0, &m), -EINVAL);

	/* The heartbeat of --watchdog, alone or beside READY=1; WATCHDOG=trigger is not one. */
	assert_int_equal(ntf_parse("WATCHDOG=1", 10, &m), 0);
	assert_true(m.watchdog);
	assert_false(m.ready);
	assert_int_equal(ntf_parse("READY=1\nWATCHDOG=1\n", 19, &m), 0);
	assert_true(m.watchdog && m.ready);
	assert_int_equal(ntf_parse("WATCHDOG=trigger", 16, &m), 0);
	assert_false(m.watchdog);

	/* A long STATUS is cut to fit, never overflowing. */
	n = (size_t)snprintf(buf, sizeof(buf), "STATUS=");
	memset(buf + n, 'x', 600);
	n += 600;
	assert_int_equal(ntf_parse(buf, n, &m), 0);
	assert_int_equal(strlen(m.status), NTF_STATUS_MAX - 1);

	/* ... and not inside a UTF-8 character: with "b" before the 2-byte "é"s, the cut
	 * would fall in the middle of one. */
	n = (size_t)snprintf(buf, sizeof(buf), "STATUS=ab");
	while (n + 2 < 7 + 600) {
		buf[n++] = (char)0xc3;
		buf[n++] = (char)0xa9;
	}
	assert_int_equal(ntf_parse(buf, n, &m), 0);
	assert_int_equal(strlen(m.status), NTF_STATUS_MAX - 2);
	assert_int_equal((unsigned char)m.status[strlen(m.status) - 1], 0xa9);
}

/* Send text to a NOTIFY_SOCKET value the way sd_notify does ('@' = abstract), optionally
 * with explicit credentials and an fd. */
static int notify_send(const char *where, const void *text, size_t len, bool creds, int pass_fd)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = (void *)text, .iov_len = len};
	struct msghdr mh = {.msg_name = &sun, .msg_iov = &iov, .msg_iovlen = 1};
	size_t wlen = strlen(where), clen = 0;
	struct cmsghdr *c;
	int fd, r;

	memcpy(sun.sun_path, where, wlen);
	if (where[0] == '@')
		sun.sun_path[0] = '\0';
	mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + wlen +
				     (where[0] == '@' ? 0 : 1));
	memset(&control, 0, sizeof(control));
	mh.msg_control = &control;
	mh.msg_controllen = sizeof(control);
	c = CMSG_FIRSTHDR(&mh);
	if (creds) {
		struct ucred uc = {.pid = getpid(), .uid = getuid(), .gid = getgid()};

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(uc));
		memcpy(CMSG_DATA(c), &uc, sizeof(uc));
		clen += CMSG_SPACE(sizeof(uc));
		c = CMSG_NXTHDR(&mh, c);
	}
	if (pass_fd >= 0) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
		clen += CMSG_SPACE(sizeof(int));
	}
	mh.msg_controllen = clen;
	if (clen == 0)
		mh.msg_control = NULL;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
	close(fd);
	return r;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static void test_open_abstract_round_trip(void **state)
{
	char where[128];
	struct ntf_msg m;
	int fd = -1, v = 0;
	socklen_t vlen = sizeof(v);

	(void)state;
	assert_int_equal(ntf_open(NULL, where, sizeof(where), &fd), 0);
	assert_int_equal(where[0], '@');
	assert_true(strlen(where) > 1);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, &vlen), 0);
	assert_true(v != 0);

	assert_int_equal(ntf_recv(fd, &m), -EAGAIN);

	/* As sd_notify sends: no credentials of its own; the kernel supplies them. */
	assert_int_equal(notify_send(where, "READY=1\nSTATUS=up", 17, false, -1), 0);
	/* With explicit credentials, as sd_pid_notify does. */
	assert_int_equal(notify_send(where, "STOPPING=1", 10, true, -1), 0);

	assert_int_equal(ntf_recv(fd, &m), 0);
	assert_int_equal(m.sender, getpid());
	assert_true(m.ready);
	assert_string_equal(m.status, "up");
	assert_int_equal(ntf_recv(fd, &m), 0);
	assert_int_equal(m.sender, getpid());
	assert_true(m.stopping);
	assert_false(m.ready);
	assert_int_equal(ntf_recv(fd, &m), -EAGAIN);

	/* Two sockets get two names. */
	{
		char other[128];
		int fd2 = -1;

		assert_int_equal(ntf_open(NULL, other, sizeof(other), &fd2), 0);
		assert_string_not_equal(where, other);
		ntf_close(fd2, other);
	}
	/* The name must fit in path_out. */
	{
		char tiny[3];
		int fd3 = -1;

		assert_int_equal(ntf_open(NULL, tiny, sizeof(tiny), &fd3), -ENAMETOOLONG);
	}
	ntf_close(fd, where);
}

static void test_bad_datagrams_are_dropped(void **state)
{
	char where[128], big[NTF_DGRAM_MAX + 100];
	struct ntf_msg m;
	int fd = -1, pipefd[2], before;
	struct pollfd pfd;

	(void)state;
	assert_int_equal(ntf_open(NULL, where, sizeof(where), &fd), 0);

	/* Too big: truncated by the read, and so rejected whole. */
	memcpy(big, "READY=1\n", 8);
	memset(big + 8, 'x', sizeof(big) - 8);
	memcpy(big + 8, "STATUS=", 7);
	assert_int_equal(notify_send(where, big, sizeof(big), false, -1), 0);
	/* Exactly the limit is fine. */
	assert_int_equal(notify_send(where, big, NTF_DGRAM_MAX, false, -1), 0);
	/* Malformed, and empty. */
	assert_int_equal(notify_send(where, "garbage", 7, false, -1), 0);
	assert_int_equal(notify_send(where, "", 0, false, -1), 0);
	assert_int_equal(ntf_recv(fd, &m), -EBADMSG);
	assert_int_equal(ntf_recv(fd, &m), 0);
	assert_true(m.ready);
	assert_int_equal(strlen(m.status), NTF_STATUS_MAX - 1);
	assert_int_equal(ntf_recv(fd, &m), -EBADMSG);
	assert_int_equal(ntf_recv(fd, &m), -EBADMSG);
	assert_int_equal(ntf_recv(fd, &m), -EAGAIN);

	/* An fd sent along (systemd-notify's BARRIER=1) is closed at once: the sender sees
	 * its pipe hang up, and baton keeps no descriptor. */
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_equal(notify_send(where, "BARRIER=1", 9, false, pipefd[1]), 0);
	close(pipefd[1]);
	before = count_fds();
	assert_int_equal(ntf_recv(fd, &m), 0);
	assert_false(m.ready);
	assert_int_equal(count_fds(), before);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_true(pfd.revents & POLLHUP);
	close(pipefd[0]);

	/* The fd is closed even when the message is malformed. */
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_equal(notify_send(where, "nonsense", 8, false, pipefd[1]), 0);
	close(pipefd[1]);
	before = count_fds();
	assert_int_equal(ntf_recv(fd, &m), -EBADMSG);
	assert_int_equal(count_fds(), before);
	close(pipefd[0]);
	ntf_close(fd, where);
}

static void test_no_credentials_dropped(void **state)
{
	struct ntf_msg m;
	int sv[2];

	(void)state;
	/* Without SO_PASSCRED on the receiver and none sent, a datagram has no sender. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(send(sv[1], "READY=1", 7, 0), 7);
	assert_int_equal(ntf_recv(sv[0], &m), -EBADMSG);
	assert_false(m.ready);
	assert_int_equal(ntf_recv(sv[0], &m), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

static void test_dir_socket_and_child_sender(void **state)
{
	char dir[] = "/tmp/baton-test-notify.XXXXXX";
	char where[128];
	struct ntf_msg m;
	struct stat st;
	int fd = -1, go[2], status;
	pid_t child;
	char c = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(ntf_open(dir, where, sizeof(where), &fd), 0);
	assert_int_equal(strncmp(where, dir, strlen(dir)), 0);
	assert_int_equal(stat(where, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);

	/* A child of the worker sends (as `systemd-notify --ready` in a script does) and stays
	 * alive until baton has looked it up. */
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(go[1]);
		if (notify_send(where, "READY=1\nMAINPID=12345", 21, false, -1) < 0)
			_exit(1);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	close(go[0]);
	for (int i = 0; i < 200; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (poll(&pfd, 1, 50) == 1)
			break;
	}
	assert_int_equal(ntf_recv(fd, &m), 0);
	assert_int_equal(m.sender, child);
	assert_int_equal(m.mainpid, 12345);
	assert_int_equal(ntf_sender_group(m.sender), getpgrp());
	close(go[1]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Reaped: no group to find. */
	assert_int_equal(ntf_sender_group(child), -ESRCH);
	assert_int_equal(ntf_sender_group(0), -EINVAL);
	assert_int_equal(ntf_sender_group(-1), -EINVAL);

	ntf_close(fd, where);
	assert_int_equal(stat(where, &st), -1);
	assert_int_equal(rmdir(dir), 0);

	/* A directory that does not exist. */
	assert_int_equal(ntf_open("/nonexistent-dir-for-baton", where, sizeof(where), &fd),
			 -ENOENT);
	ntf_close(-1, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_open_abstract_round_trip),
		cmocka_unit_test(test_bad_datagrams_are_dropped),
		cmocka_unit_test(test_no_credentials_dropped),
		cmocka_unit_test(test_dir_socket_and_child_sender),
	};

	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
