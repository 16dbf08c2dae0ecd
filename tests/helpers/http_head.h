/*
 * The test servers' one piece of HTTP: read a request head. They answer only GET /, so the
 * head is all a client sends; reading it whole before answering matters, since closing a
 * socket with unread data resets the connection instead of ending it.
 */
#ifndef BATON_TEST_HTTP_HEAD_H
#define BATON_TEST_HTTP_HEAD_H

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Reads from fd into buf (NUL-terminated) until the blank line that ends the head, EOF, an
 * error or a full buffer; returns the number of bytes read. */
static inline size_t read_request_head(int fd, char *buf, size_t cap)
{
	size_t got = 0;

	buf[0] = '\0';
	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	return got;
}

#endif
