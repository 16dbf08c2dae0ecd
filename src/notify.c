/*
 * notify: NOTIFY_SOCKET server side.
 *
 * Every datagram is an untrusted message from a worker: its size is bounded, its sender is
 * taken from the kernel's credentials and not from its text, file descriptors it carries are
 * closed before anything else, and a malformed one is dropped without affecting the next.
 */
#include "baton/decimal.h"
#include "baton/notify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Room for the credentials and a handful of fds; fds beyond it are discarded by the kernel
 * (MSG_CTRUNC), which is what we would do with them anyway. */
#define NTF_MAX_FDS 16

static int new_socket(void)
{
	int one = 1, fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Autobind: binding with only the family makes the kernel pick a unique abstract name. */
static int open_abstract(char *path_out, size_t len, int *fd_out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t slen = sizeof(sa_family_t);
	size_t name_len, i;
	int fd, r;

	fd = new_socket();
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) < 0)
		goto fail_errno;
	slen = sizeof(sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &slen) < 0)
		goto fail_errno;
	if (slen <= offsetof(struct sockaddr_un, sun_path) + 1 || sun.sun_path[0] != '\0') {
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	name_len = slen - offsetof(struct sockaddr_un, sun_path) - 1;
	/* The exported value is text: a name with NULs or control bytes could not be passed. */
	for (i = 1; i <= name_len; i++) {
		if ((unsigned char)sun.sun_path[i] <= ' ' || (unsigned char)sun.sun_path[i] >= 127) {
			r = -EADDRNOTAVAIL;
			goto fail;
		}
	}
	if (name_len + 2 > len) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	path_out[0] = '@';
	memcpy(path_out + 1, sun.sun_path + 1, name_len);
	path_out[name_len + 1] = '\0';
	*fd_out = fd;
	return 0;
fail_errno:
	r = -errno;
fail:
	close(fd);
	return r;
}

static uint32_t random_suffix(void)
{
	uint32_t v;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
}

static int open_in_dir(const char *dir, char *path_out, size_t len, int *fd_out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, r = -EADDRINUSE, tries;

	fd = new_socket();
	if (fd < 0)
		return fd;
	for (tries = 0; tries < 8 && r == -EADDRINUSE; tries++) {
		int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/baton-notify-%08x", dir,
				 random_suffix());

		if (n < 0 || (size_t)n >= sizeof(sun.sun_path) || (size_t)n >= len) {
			r = -ENAMETOOLONG;
			break;
		}
		r = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : -errno;
	}
	if (r == 0) {
		/* Workers may run as another user; sending needs write permission. */
		if (chmod(sun.sun_path, 0666) < 0) {
			r = -errno;
			unlink(sun.sun_path);
		}
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	strcpy(path_out, sun.sun_path);
	*fd_out = fd;
	return 0;
}

int ntf_open(const char *dir, char *path_out, size_t len, int *fd_out)
{
	static const char *const fallback[] = {"/run", "/tmp"};
	size_t i;
	int r;

	if (!path_out || len == 0)
		return -EINVAL;
	if (dir)
		return open_in_dir(dir, path_out, len, fd_out);
	r = open_abstract(path_out, len, fd_out);
	for (i = 0; r < 0 && r != -ENAMETOOLONG && i < sizeof(fallback) / sizeof(fallback[0]); i++)
		if (open_in_dir(fallback[i], path_out, len, fd_out) == 0)
			r = 0;
	return r;
}

void ntf_close(int fd, const char *path)
{
	if (fd >= 0)
		close(fd);
	if (path && path[0] == '/')
		unlink(path);
}

/* Copy a STATUS value: bounded, control characters blanked, never cut inside a UTF-8
 * sequence (the text ends up in logs and JSON). */
static void copy_status(char *dst, const char *src, size_t n)
{
	size_t i;

	if (n > NTF_STATUS_MAX - 1) {
		n = NTF_STATUS_MAX - 1;
		/* Back off over continuation bytes to the start of the cut character. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < ' ' || c == 127) ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

static bool is(const char *key, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

static bool is_one(const char *val, size_t vlen)
{
	return vlen == 1 && val[0] == '1';
}

/* Decimal pid, 2..INT_MAX: 1 is baton itself and 0 is nobody. */
static int parse_pid(const char *val, size_t vlen, pid_t *out)
{
	uint64_t v;

	if (dec_parse(val, vlen, INT_MAX, &v) < 0 || v < 2)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int ntf_parse(const char *buf, size_t len, struct ntf_msg *msg)
{
	struct ntf_msg m;
	const char *p = buf, *end = buf + len;

	memset(msg, 0, sizeof(*msg));
	memset(&m, 0, sizeof(m));
	if (!buf || len == 0 || memchr(buf, '\0', len))
		return -EINVAL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(line_end - p));
		const char *val;
		size_t klen, vlen;

		if (line_end == p) {
			p = line_end + 1;
			continue;
		}
		if (!eq || eq == p)
			return -EINVAL;
		klen = (size_t)(eq - p);
		val = eq + 1;
		vlen = (size_t)(line_end - val);
		if (is(p, klen, "READY"))
			m.ready = m.ready || is_one(val, vlen);
		else if (is(p, klen, "STOPPING"))
			m.stopping = m.stopping || is_one(val, vlen);
		else if (is(p, klen, "WATCHDOG"))
			m.watchdog = m.watchdog || is_one(val, vlen);
		else if (is(p, klen, "RELOADING"))
			m.reloading = m.reloading || is_one(val, vlen);
		else if (is(p, klen, "STATUS")) {
			m.has_status = true;
			copy_status(m.status, val, vlen);
		} else if (is(p, klen, "MAINPID")) {
			if (parse_pid(val, vlen, &m.mainpid) < 0)
				return -EINVAL;
		}
		p = line_end + 1;
	}
	*msg = m;
	return 0;
}

int ntf_recv(int fd, struct ntf_msg *msg)
{
	char buf[NTF_DGRAM_MAX];
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NTF_MAX_FDS)];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = &control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	struct ucred cred = {0};
	bool have_cred = false;
	ssize_t n;

	memset(msg, 0, sizeof(*msg));
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t i, nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; i < nfds; i++) {
				int passed;

				memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(passed);
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			have_cred = true;
		}
	}

	/* With MSG_TRUNC, n is the datagram's real size. */
	if ((size_t)n > sizeof(buf) || (mh.msg_flags & MSG_TRUNC))
		return -EBADMSG;
	/* Pid 0: a sender in a pid namespace that cannot be seen from ours. */
	if (!have_cred || cred.pid <= 0)
		return -EBADMSG;
	if (ntf_parse(buf, (size_t)n, msg) < 0)
		return -EBADMSG;
	msg->sender = cred.pid;
	return 0;
}

pid_t ntf_sender_group(pid_t sender)
{
	pid_t pgid;

	/* getpgid(0) would answer for baton itself. */
	if (sender <= 0)
		return -EINVAL;
	pgid = getpgid(sender);
	return pgid < 0 ? -errno : pgid;
}
