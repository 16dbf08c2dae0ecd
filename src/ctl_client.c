/*
 * ctl_client: `baton ctl`, the client of the control socket, run from a shell, `docker exec`,
 * a Kubernetes probe or preStop hook. Every wait is bounded (connect, reply) except the one
 * asked for with --wait, and every failure is one line on stderr with a clear exit status:
 * 0 success, 1 baton unreachable or the command refused or failed, 2 bad usage.
 */
#include "baton/control.h"
#include "baton/json.h"

#include <errno.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 10000
/* A "busy" answer is retried, the pause doubling from the first to the last, until the reply
 * timeout: baton makes room by dropping idle clients, so a retry soon finds a slot. */
#define BUSY_PAUSE_FIRST_MS 20
#define BUSY_PAUSE_MAX_MS 500
/* Far above the status of a full pool, and a bound should baton send garbage. */
#define REPLY_MAX (4 << 20)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, RETRY_BUSY = -1 };

static const char usage[] =
	"Usage: baton ctl [--socket PATH] COMMAND [ARG]\n"
	"\n"
	"Talk to a running baton through its control socket.\n"
	"\n"
	"Commands:\n"
	"  status [--json]   the pool's state and one line per worker\n"
	"  ready             exit 0 if a worker is ready and baton is not stopping, else 1\n"
	"  live              exit 0 while baton answers and no slot has been without a ready\n"
	"                    worker for longer than twice --ready-timeout (a livenessProbe)\n"
	"  reload [--wait]   start a rolling restart, as SIGHUP does; --wait: until it has\n"
	"                    finished (exit 1 with the reason when it failed)\n"
	"  scale N           run N workers\n"
	"  drain [--wait]    stop the container gracefully, as SIGTERM does; --wait: until\n"
	"                    every worker has stopped (a preStop hook)\n"
	"  top               the status and the metrics' counters, refreshed every second\n"
	"                    until Ctrl-C\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH  the control socket; default $BATON_CONTROL, else the first of\n"
	"                     /run/baton.sock, $XDG_RUNTIME_DIR/baton.sock, /tmp/baton.sock\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: 0 success; 1 baton not reachable, or the command refused or failed;\n"
	"2 bad usage.\n";

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "baton ctl: %s%s%s\nTry 'baton ctl --help'.\n", what, arg ? ": " : "",
		arg ? arg : "");
	return EXIT_USAGE;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arguments after the command: each flag at most once, nothing else. */
static int parse_command(int argc, char **argv, struct ctl_request *req)
{
	const char *cmd = argv[0];
	const char *flag = NULL;
	bool *flag_out = NULL;

	memset(req, 0, sizeof(*req));
	if (!strcmp(cmd, "status")) {
		req->cmd = CTL_STATUS;
		flag = "--json";
		flag_out = &req->json;
	} else if (!strcmp(cmd, "ready")) {
		req->cmd = CTL_READY;
	} else if (!strcmp(cmd, "live")) {
		req->cmd = CTL_LIVE;
	} else if (!strcmp(cmd, "reload")) {
		req->cmd = CTL_RELOAD;
		flag = "--wait";
		flag_out = &req->wait;
	} else if (!strcmp(cmd, "drain")) {
		req->cmd = CTL_DRAIN;
		flag = "--wait";
		flag_out = &req->wait;
	} else if (!strcmp(cmd, "scale")) {
		req->cmd = CTL_SCALE;
		if (argc != 2)
			return bad_usage("scale takes one argument, the number of workers", NULL);
		if (ctl_parse_count(argv[1], &req->count) < 0) {
			char what[64];

			snprintf(what, sizeof(what), "scale: not a number from 1 to %d",
				 CFG_MAX_WORKERS);
			return bad_usage(what, argv[1]);
		}
		return 0;
	} else {
		return bad_usage("unknown command", cmd);
	}
	for (int i = 1; i < argc; i++) {
		if (!flag || strcmp(argv[i], flag) || *flag_out)
			return bad_usage("unexpected argument", argv[i]);
		*flag_out = true;
	}
	return 0;
}

static int connect_path(const char *path, int *out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_MS / 1000 };
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A connect to a unix socket whose backlog is full sleeps for up to the send timeout. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	do {
		r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = (errno == EAGAIN || errno == EINPROGRESS) ? -ETIMEDOUT : -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* Connect to the given path, or to the first default that answers. 0 or EXIT_FAIL. */
static int open_socket(const char *given, int *fd)
{
	char cands[3][CTL_PATH_MAX];
	const char *env = getenv("BATON_CONTROL");
	int n, r, best = 0, err = 0;

	if (!given && env && *env) {
		if (!strcmp(env, "none")) {
			fprintf(stderr, "baton ctl: the control socket is disabled "
					"(BATON_CONTROL=none)\n");
			return EXIT_FAIL;
		}
		given = env;
	}
	if (given) {
		if (strlen(given) >= CTL_PATH_MAX) {
			fprintf(stderr, "baton ctl: socket path too long: %s\n", given);
			return EXIT_FAIL;
		}
		snprintf(cands[0], CTL_PATH_MAX, "%s", given);
		n = 1;
	} else {
		n = ctl_candidates(NULL, getenv("XDG_RUNTIME_DIR"), cands);
	}
	for (int i = 0; i < n; i++) {
		r = connect_path(cands[i], fd);
		if (r == 0)
			return 0;
		/* Report the most telling failure: a missing default says less than a socket
		 * that exists but refuses. */
		if (i == 0 || (err == -ENOENT && r != -ENOENT)) {
			best = i;
			err = r;
		}
	}
	fprintf(stderr, "baton ctl: cannot connect to %s: %s%s\n", cands[best], strerror(-err),
		(err == -ENOENT || err == -ECONNREFUSED) ? " (is baton running?)" : "");
	return EXIT_FAIL;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read the reply: print data lines to stdout as they come, then judge the final line. For
 * --wait the reply timeout covers only the first line (the request was taken); after it the
 * wait is as long as baton needs. A "busy" answer is not printed but kept in busy, and
 * RETRY_BUSY returned.
 */
static int read_reply(int fd, bool wait, FILE *out, char *busy, size_t busylen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
	int rc = EXIT_FAIL;

	if (!buf) {
		fprintf(stderr, "baton ctl: out of memory\n");
		return EXIT_FAIL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int timeout = -1;
		ssize_t n;
		char *line, *nl;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		n = poll(&p, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "baton ctl: waiting for the reply: %s\n", strerror(errno));
			goto out;
		}
		if (n == 0) {
			fprintf(stderr, "baton ctl: no answer from baton within %d s\n",
				REPLY_TIMEOUT_MS / 1000);
			goto out;
		}
		if (len + 1 >= cap) {
			char *bigger;

			if (cap >= REPLY_MAX) {
				fprintf(stderr, "baton ctl: reply too long\n");
				goto out;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				fprintf(stderr, "baton ctl: out of memory\n");
				goto out;
			}
			buf = bigger;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "baton ctl: reading the reply: %s\n", strerror(errno));
			goto out;
		}
		if (n == 0) {
			fprintf(stderr, "baton ctl: baton closed the connection without an answer\n");
			goto out;
		}
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = memchr(line, '\n', len - (size_t)(line - buf)))) {
			const char *text;

			*nl = '\0';
			switch (ctl_classify_line(line, &text)) {
			case CTL_LINE_DATA:
				fprintf(out, "%s\n", text);
				fflush(out);
				if (wait)
					deadline = -1;
				break;
			case CTL_LINE_OK:
				if (*text)
					fprintf(out, "%s\n", text);
				rc = EXIT_OK;
				goto out;
			case CTL_LINE_ERROR:
				if (strncmp(text, "busy", 4) == 0) {
					snprintf(busy, busylen, "%s", text);
					rc = RETRY_BUSY;
					goto out;
				}
				fprintf(stderr, "baton ctl: %s\n", *text ? text : "failed");
				goto out;
			}
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
	}
out:
	fflush(out);
	free(buf);
	return rc;
}

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Send the request and read the reply (its data lines to out); a busy baton is asked again
 * until the reply timeout. */
static int request(const char *socket_path, const char *line, size_t len, bool wait, FILE *out,
		   bool close_after)
{
	int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
	int pause = BUSY_PAUSE_FIRST_MS;
	char busy[256] = "";

	for (;;) {
		int fd = -1, r;

		if (open_socket(socket_path, &fd))
			return EXIT_FAIL;
		r = send_all(fd, line, len);
		/* Refused at once (busy, not allowed): baton has hung up, but its reason is
		 * waiting to be read. */
		if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
			fprintf(stderr, "baton ctl: sending the request: %s\n", strerror(-r));
			return EXIT_FAIL;
		}
		/*
		 * On an answer the socket is not closed here but by the exit that follows: when
		 * baton is PID 1 and waits for this hang-up before it exits (drain --wait in a
		 * preStop hook), the kernel kills every process of the container right after;
		 * closing in exit means our exit status is already set by then.
		 */
		r = read_reply(fd, wait, out, busy, sizeof(busy));
		if (r != RETRY_BUSY) {
			if (close_after)
				close(fd);
			return r;
		}
		close(fd);
		if (now_ms() + pause >= deadline) {
			fprintf(stderr, "baton ctl: %s (for %d s)\n", busy, REPLY_TIMEOUT_MS / 1000);
			return EXIT_FAIL;
		}
		pause_ms(pause);
		pause = pause * 2 > BUSY_PAUSE_MAX_MS ? BUSY_PAUSE_MAX_MS : pause * 2;
	}
}

/* ---- top: a live view for a terminal ---- */

/* The slots whose restarts top shows. */
#define TOP_MAX_SLOTS 16

static volatile sig_atomic_t top_stop;

static void on_top_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

/* One request's data lines, in a malloc'd string (NULL when it failed: the reason is on
 * stderr). */
static char *fetch(const char *socket_path, bool json)
{
	struct ctl_request req = { .cmd = CTL_STATUS, .json = json };
	char line[64], *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int n = ctl_format_request(&req, line, sizeof(line)), r;

	if (!out)
		return NULL;
	r = request(socket_path, line, (size_t)n, false, out, true);
	fclose(out);
	if (r != EXIT_OK) {
		free(text);
		return NULL;
	}
	return text;
}

/* The elements of a JSON array span, one at a time: *at starts at 0. */
static bool json_next(const struct json_span *arr, size_t *at, struct json_span *el)
{
	const char *p = arr->p, *end = arr->p + arr->len - 1; /* the closing ']' */
	size_t i = *at ? *at : 1, start;
	int depth = 0;
	bool str = false;

	while (p + i < end && (p[i] == ' ' || p[i] == ','))
		i++;
	if (p + i >= end)
		return false;
	start = i;
	for (; p + i < end; i++) {
		char c = p[i];

		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
		} else if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 0) {
			break;
		}
	}
	*at = i;
	return json_parse(p + start, i - start, el) == 0;
}

/* "complete 4, rolled_back 1" from an object of counts. */
static void print_counts(const struct json_span *obj)
{
	const char *p = obj->p + 1, *end = obj->p + obj->len - 1;
	bool first = true;

	/* The object is baton's own: "name":number pairs, names without escapes. */
	while (p < end) {
		const char *q = strchr(p, '"'), *e;

		if (!q || q >= end || !(e = strchr(q + 1, '"')) || e >= end)
			break;
		printf("%s%.*s %lld", first ? "" : ", ", (int)(e - q - 1), q + 1,
		       atoll(e + 2));
		first = false;
		p = strchr(e + 2, ',') ? strchr(e + 2, ',') + 1 : end;
	}
	if (first)
		printf("-");
}

static long long num(const struct json_span *obj, const char *key)
{
	struct json_span v;
	long long n = -1;

	if (json_get(obj, key, &v) == 0)
		json_int(&v, -1, INT64_MAX, &n);
	return n;
}

static void print_metrics(const char *json)
{
	struct json_span root, m, v, el;
	size_t at = 0;
	long long n;

	if (!json || json_parse(json, strlen(json), &root) < 0 ||
	    json_get(&root, "metrics", &m) < 0 || m.type != JSON_OBJECT)
		return;
	printf("\nrollouts: ");
	if (json_get(&m, "rollouts", &v) == 0)
		print_counts(&v);
	n = num(&m, "last_rollout_ms");
	if (n >= 0) {
		char d[24];

		ctl_format_duration(n, d, sizeof(d));
		printf("; the last took %s", d);
	}
	printf("\ndrains: ");
	if (json_get(&m, "drains", &v) == 0)
		print_counts(&v);
	printf("; crash loops: %lld\n", num(&m, "crash_loops"));
	if (json_get(&m, "restarts", &v) == 0 && v.type == JSON_OBJECT) {
		struct json_span by;
		char key[16];

		printf("restarts by slot:");
		for (int k = 1; snprintf(key, sizeof(key), "%d", k), json_get(&v, key, &by) == 0;
		     k++) {
			if (k > TOP_MAX_SLOTS) { /* a screen, not the whole of a big pool */
				printf(" ...");
				break;
			}
			printf(" %d[", k);
			print_counts(&by);
			printf("]");
		}
		printf("\n");
	}
	at = 0;
	if (json_get(&m, "listen_queues", &v) == 0 && v.type == JSON_ARRAY)
		while (json_next(&v, &at, &el)) {
			struct json_span sock;
			char name[96] = "?";

			if (json_get(&el, "socket", &sock) == 0)
				json_string(&sock, name, sizeof(name));
			printf("accept queue %s: %lld of %lld\n", name, num(&el, "length"),
			       num(&el, "limit"));
		}
	n = num(&m, "resident_memory_bytes");
	printf("baton: %lld KiB resident, %lld open fds\n", n < 0 ? -1 : n / 1024,
	       num(&m, "open_fds"));
}

/* Until Ctrl-C: clear the screen, the status and the counters, once a second. */
static int top(const char *socket_path)
{
	struct sigaction sa = { .sa_handler = on_top_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!top_stop) {
		char *text = fetch(socket_path, false), *json = text ? fetch(socket_path, true) : NULL;
		time_t t = time(NULL);
		char when[16];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		/* Home, clear to the end: the new view over the old one, no flicker. */
		printf("\033[H\033[2Jbaton top %s, every 1 s (Ctrl-C quits)\n\n", when);
		if (text)
			fputs(text, stdout);
		else
			printf("(no answer from baton)\n");
		print_metrics(json);
		fflush(stdout);
		free(text);
		free(json);
		for (int i = 0; i < 10 && !top_stop; i++)
			pause_ms(100);
	}
	printf("\n");
	return EXIT_OK;
}

int ctl_client_main(int argc, char **argv)
{
	const char *socket_path = NULL;
	struct ctl_request req;
	char line[CTL_REQUEST_MAX];
	int i = 1, r;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-s") || !strcmp(a, "--socket")) {
			if (i + 1 >= argc)
				return bad_usage("option needs a path", a);
			socket_path = argv[++i];
		} else if (!strncmp(a, "--socket=", 9)) {
			socket_path = a + 9;
		} else {
			return bad_usage("unknown option", a);
		}
		if (!*socket_path)
			return bad_usage("empty socket path", NULL);
	}
	if (i >= argc)
		return bad_usage("missing command", NULL);
	if (!strcmp(argv[i], "top")) {
		if (i + 1 < argc)
			return bad_usage("unexpected argument", argv[i + 1]);
		return top(socket_path);
	}
	r = parse_command(argc - i, argv + i, &req);
	if (r)
		return r;
	r = ctl_format_request(&req, line, sizeof(line));
	if (r < 0)
		return bad_usage("cannot format the request", NULL);
	/*
	 * Once the workers are gone, baton sends SIGTERM to every process left in the container,
	 * and a `drain --wait` run inside it (a preStop hook) is one of them: it must live to
	 * read its answer and end with status 0.
	 */
	if (req.cmd == CTL_DRAIN && req.wait)
		signal(SIGTERM, SIG_IGN);
	return request(socket_path, line, (size_t)r, req.wait, stdout, false);
}
