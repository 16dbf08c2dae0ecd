/*
 * worker: the app of the container tests, built with `gcc -static` so that it runs in an
 * image that holds nothing but busybox, baton and itself.
 *
 *   worker [-r MS] [-d MS]
 *
 *   -r MS   write a byte to $BATON_READY_FD this long after start (default 100)
 *   -d MS   on SIGTERM, go on serving this long before it stops accepting (default 0),
 *           as an app that finishes its in-flight work would
 *
 * It serves HTTP/1.1 on the listening socket baton passes as fd 3 (LISTEN_FDS=1) and answers
 * every request with "ok ID PID\n" and Connection: close, so that a client can tell which
 * worker, and which generation of it, served it. On SIGTERM it stops accepting, finishes
 * the connection it holds and exits 0: connections still queued on the shared socket are
 * left to the other workers. It logs "worker ID PID serving" and "worker ID PID drained".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/http_head.h"

#define LISTEN_FD 3

static const char *id = "?";

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads the request head (a client sends nothing more to GET /), answers and closes. */
static void serve_one(int c)
{
	struct timeval tv = { .tv_sec = 5 };
	char req[4096], body[64], resp[256];
	int n, len;

	/* A client that connects and says nothing must not hold the worker forever. */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read_request_head(c, req, sizeof(req)) > 0) {
		n = snprintf(body, sizeof(body), "ok %s %d\n", id, (int)getpid());
		len = snprintf(resp, sizeof(resp),
			       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			       "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			       n, body);
		(void)!write(c, resp, (size_t)len);
	}
	close(c);
}

int main(int argc, char **argv)
{
	int ready_ms = 100, drain_ms = 0, opt, sfd;
	long stop_at = -1;
	const char *fds = getenv("LISTEN_FDS");
	const char *ready_fd = getenv("BATON_READY_FD");
	sigset_t set;

	if (getenv("BATON_WORKER_ID"))
		id = getenv("BATON_WORKER_ID");
	while ((opt = getopt(argc, argv, "r:d:")) != -1) {
		switch (opt) {
		case 'r':
			ready_ms = atoi(optarg);
			break;
		case 'd':
			drain_ms = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: worker [-r MS] [-d MS]\n");
			return 64;
		}
	}
	if (!fds || atoi(fds) < 1) {
		fprintf(stderr, "worker: no listening socket (LISTEN_FDS is not set)\n");
		return 1;
	}

	/* SIGTERM is read from a signalfd, so that it is seen between two requests and never
	 * interrupts one half-written. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("worker: signalfd");
		return 1;
	}

	/* The workers share one socket: another one may take the connection that woke this one
	 * up, and a blocking accept would then wait, deaf to SIGTERM, for the next. Node's libuv
	 * sets the same flag on the same socket. */
	if (fcntl(LISTEN_FD, F_SETFL, fcntl(LISTEN_FD, F_GETFL) | O_NONBLOCK) < 0) {
		perror("worker: fd 3");
		return 1;
	}
	if (ready_ms > 0)
		usleep((useconds_t)ready_ms * 1000);
	printf("worker %s %d serving\n", id, (int)getpid());
	fflush(stdout);
	if (ready_fd && write(atoi(ready_fd), "1", 1) != 1) {
		perror("worker: BATON_READY_FD");
		return 1;
	}

	for (;;) {
		struct pollfd p[2] = { { .fd = LISTEN_FD, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		int timeout = -1;

		if (stop_at >= 0) {
			long left = stop_at - now_ms();

			if (left <= 0)
				break;
			timeout = (int)left;
		}
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("worker: poll");
			return 1;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) && stop_at < 0) {
				printf("worker %s %d draining\n", id, (int)getpid());
				fflush(stdout);
				stop_at = now_ms() + drain_ms;
			}
			continue;
		}
		if (p[0].revents & POLLIN) {
			/* Accepted sockets do not inherit O_NONBLOCK: serve_one reads with a timeout. */
			int c = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				serve_one(c);
		}
	}
	printf("worker %s %d drained\n", id, (int)getpid());
	fflush(stdout);
	return 0;
}
