/*
 * A keep-alive HTTP/1.1 client for tests: one connection to 127.0.0.1, one request at a time,
 * every read bounded by a deadline. Enough to see what a server does with a connection that
 * stays open: its next response, its Connection header, and how the connection ends.
 */
#ifndef BATON_TEST_HTTP_CLIENT_H
#define BATON_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline long long hc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket, or -errno. */
static inline int hc_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Send text whole. 0 or -errno. */
static inline int hc_send(int fd, const char *text)
{
	size_t len = strlen(text), done = 0;

	while (done < len) {
		ssize_t n = send(fd, text + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* GET path, keep-alive (HTTP/1.1's default). 0 or -errno. */
static inline int hc_get(int fd, const char *path)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	return hc_send(fd, req);
}

/* One read that waits at most until deadline_ms: bytes read, 0 at EOF, -errno, -ETIMEDOUT. */
static inline ssize_t hc_read(int fd, void *buf, size_t cap, long long deadline_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	long long left = deadline_ms - hc_now_ms();
	ssize_t n;

	if (poll(&p, 1, left < 0 ? 0 : (int)left) != 1)
		return -ETIMEDOUT;
	n = read(fd, buf, cap);
	return n < 0 ? -errno : n;
}

/*
 * Read one response: its head and a Content-Length body (what Node sends for res.end(text)),
 * into buf, NUL-terminated. Its length; 0 at EOF before any byte; -errno (-ECONNRESET,
 * -ETIMEDOUT, -EPROTO for a response cut short or without Content-Length).
 */
static inline int hc_response(int fd, char *buf, size_t cap, int timeout_ms)
{
	long long deadline = hc_now_ms() + timeout_ms;
	size_t got = 0;

	buf[0] = '\0';
	for (;;) {
		char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\nContent-Length:");
		ssize_t n;

		if (end && cl && cl < end && got >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10))
			return (int)got;
		if (end && (!cl || cl > end))
			return -EPROTO;
		if (got >= cap - 1)
			return -EPROTO;
		n = hc_read(fd, buf + got, cap - 1 - got, deadline);
		if (n == 0)
			return got ? -EPROTO : 0;
		if (n < 0)
			return (int)n;
		got += (size_t)n;
		buf[got] = '\0';
	}
}

/* Wait for the server to end the connection: 0 at EOF, -ECONNRESET, -ETIMEDOUT, or -EPROTO
 * when data comes instead. */
static inline int hc_wait_close(int fd, int timeout_ms)
{
	char c;
	ssize_t n = hc_read(fd, &c, 1, hc_now_ms() + timeout_ms);

	return n > 0 ? -EPROTO : (int)n;
}

#endif
