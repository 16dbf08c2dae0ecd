/*
 * health_app: a test app for baton's worker health checks (--watchdog, --max-memory,
 * --max-age, OOM kills).
 *
 *   health_app [-b FILE] [-m MB_PER_S] [-M FILE] [-a MB] [-i DIV] [-w MS] [-d MS] [-c MB]
 *
 *   -b FILE      hang: once FILE exists and holds this worker's slot number, the next request
 *                it accepts is never answered and the worker spins in a busy loop forever
 *                (without a request within a second, it spins all the same)
 *   -m MB_PER_S  grow: allocate and touch this many MiB every second (in quarter-second steps)
 *   -M FILE      with -m, grow only while FILE exists
 *   -a MB        allocate and touch MB MiB at start, before becoming ready (for an OOM kill)
 *   -i DIV       send a heartbeat every WATCHDOG_USEC/DIV (default 3)
 *   -w MS        send a heartbeat every MS milliseconds, whatever WATCHDOG_USEC says
 *   -d MS        on SIGTERM, go on serving for MS milliseconds before leaving, as an app
 *                finishing its work would (default 0)
 *   -c MB        never grow past MB MiB with -m (default 512), so that a baton that does not
 *                recycle cannot take a shared machine's memory
 *
 * It serves HTTP on fd 3 (LISTEN_FDS): every request gets "ok SLOT PID\n" and the connection
 * is closed. It becomes ready with sd_notify READY=1 when NOTIFY_SOCKET is set, else with a
 * byte on $BATON_READY_FD. When WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this
 * process) it sends heartbeats: WATCHDOG=1 to NOTIFY_SOCKET, or one more byte on the ready fd.
 * Heartbeats come from the same loop that serves, as in a single-threaded server, so that a
 * hang stops them. SIGTERM ends it with status 0 after the request in hand (or after -d).
 *
 * On stdout: "started SLOT PID" at start, "hung SLOT PID" when it hangs.
 * Exit status: 0 on SIGTERM, 3 no listening socket, 4 readiness cannot be sent, 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http_head.h"

#define MIB (1024L * 1024L)

static volatile sig_atomic_t stopping;
static int slot;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(1, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What sd_notify(0, text) does: one datagram to $NOTIFY_SOCKET ('@' is abstract). */
static int sd_notify_like(const char *text)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len;
	int fd, r;

	if (!e)
		return -ENOENT;
	len = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || len < 2 || len >= sizeof(sun.sun_path))
		return -EINVAL;
	memcpy(sun.sun_path, e, len);
	if (e[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'))) < 0
		    ? -errno
		    : 0;
	close(fd);
	return r;
}

/* READY=1 or WATCHDOG=1 over the notify socket, or a byte on the ready fd. */
static int tell_baton(const char *what)
{
	const char *fd = getenv("BATON_READY_FD");

	if (getenv("NOTIFY_SOCKET"))
		return sd_notify_like(what);
	if (fd)
		return write(atoi(fd), "1", 1) == 1 ? 0 : -errno;
	return -ENOENT;
}

/* The last block grown, kept where the compiler must assume it is read, so that neither
 * the allocation nor the writes are optimised away. */
static char *volatile kept;

/* Pages that are allocated and written, so that they count as resident. */
static bool grow(long bytes)
{
	char *p = malloc((size_t)bytes);

	if (!p)
		return false;
	memset(p, 1, (size_t)bytes);
	kept = p;
	return true;
}

/* The slot named in the hang file, or 0 when there is none. */
static int hang_slot(const char *path)
{
	char buf[16] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return atoi(buf);
}

static void hang(void)
{
	volatile unsigned long spin = 0;

	say("hung %d %d\n", slot, (int)getpid());
	for (;;)
		spin++;
}

static void answer(int c)
{
	char req[4096], resp[256];
	struct timeval tv = { .tv_sec = 2 };
	int n;

	/* A slow client must not stop the heartbeats for longer than this. */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	read_request_head(c, req, sizeof(req));
	n = snprintf(resp, sizeof(resp), "ok %d %d\n", slot, (int)getpid());
	dprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", n, resp);
	shutdown(c, SHUT_WR);
	close(c);
}

int main(int argc, char **argv)
{
	const char *hang_file = NULL, *grow_file = NULL, *wd_usec = getenv("WATCHDOG_USEC"),
		   *wd_pid = getenv("WATCHDOG_PID");
	long grow_mb = 0, start_mb = 0, cap_mb = 512, grown = 0, divisor = 3, drain_ms = 0;
	int64_t beat_ms = -1, next_beat = -1, next_grow = -1, hang_seen = -1, leave_at = -1;
	struct sigaction sa = { .sa_handler = on_term };
	struct rlimit no_core = { 0, 0 };
	int opt, rc;

	if (getenv("BATON_WORKER_ID"))
		slot = atoi(getenv("BATON_WORKER_ID"));
	while ((opt = getopt(argc, argv, "b:m:M:a:i:w:d:c:")) != -1) {
		switch (opt) {
		case 'b':
			hang_file = optarg;
			break;
		case 'm':
			grow_mb = atol(optarg);
			break;
		case 'M':
			grow_file = optarg;
			break;
		case 'a':
			start_mb = atol(optarg);
			break;
		case 'i':
			divisor = atol(optarg);
			break;
		case 'w':
			beat_ms = atol(optarg);
			break;
		case 'd':
			drain_ms = atol(optarg);
			break;
		case 'c':
			cap_mb = atol(optarg);
			break;
		default:
			return 64;
		}
	}
	if (divisor < 1 || grow_mb < 0 || start_mb < 0)
		return 64;
	/* The watchdog's SIGABRT must not leave core files in the test's directory. */
	setrlimit(RLIMIT_CORE, &no_core);
	/* A client that went away, or a baton that reads no more heartbeats on the ready fd,
	 * is an error to handle, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	/* No SA_RESTART: poll returns at once on SIGTERM. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	say("started %d %d\n", slot, (int)getpid());

	for (long i = 0; i < start_mb; i++)
		if (!grow(MIB))
			break;
	/* Neither variable: readiness is baton's --ready delay, nothing to send. */
	rc = tell_baton("READY=1");
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "health_app: cannot tell baton it is ready: %s\n", strerror(-rc));
		return 4;
	}
	if (beat_ms < 0 && wd_usec && (!wd_pid || atol(wd_pid) == (long)getpid())) {
		beat_ms = atoll(wd_usec) / 1000 / divisor;
		if (beat_ms < 1)
			beat_ms = 1;
	}
	if (beat_ms > 0)
		next_beat = now_ms() + beat_ms;
	if (grow_mb > 0)
		next_grow = now_ms() + 250;
	/* Every worker accepts on the same socket: another one may take the connection that
	 * woke this one, and a blocking accept would then stop the heartbeats. */
	if (fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) < 0) {
		fprintf(stderr, "health_app: no listening socket on fd 3\n");
		return 3;
	}

	for (;;) {
		struct pollfd pfd = { .fd = 3, .events = POLLIN };
		int64_t now = now_ms(), wait = 100;
		int c;

		if (stopping && leave_at < 0)
			leave_at = now + drain_ms;
		if (leave_at >= 0 && now >= leave_at)
			break;

		if (next_beat >= 0 && now >= next_beat) {
			tell_baton("WATCHDOG=1");
			next_beat = now + beat_ms;
		}
		if (hang_file && slot > 0 && hang_slot(hang_file) == slot) {
			if (hang_seen < 0)
				hang_seen = now;
			else if (now - hang_seen >= 1000)
				hang();
		} else {
			hang_seen = -1;
		}
		if (next_grow >= 0 && now >= next_grow) {
			if ((!grow_file || access(grow_file, F_OK) == 0) && grown < cap_mb * MIB &&
			    grow(grow_mb * MIB / 4))
				grown += grow_mb * MIB / 4;
			next_grow = now + 250;
		}
		if (next_beat >= 0 && next_beat - now < wait)
			wait = next_beat - now;
		if (next_grow >= 0 && next_grow - now < wait)
			wait = next_grow - now;
		if (leave_at >= 0 && leave_at - now < wait)
			wait = leave_at - now;
		if (poll(&pfd, 1, (int)(wait < 0 ? 0 : wait)) <= 0)
			continue;
		c = accept4(3, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (hang_file && slot > 0 && hang_slot(hang_file) == slot)
			hang(); /* with the accepted request in hand, as a stuck handler would */
		answer(c);
	}
	return 0;
}
