/*
 * control: the control socket server, one more set of fds in baton's event loop.
 *
 * PID 1 must not block or die because of a client, so: every socket is non-blocking; a client
 * is checked with SO_PEERCRED before anything is read; its request is read into a fixed buffer
 * of CTL_REQUEST_MAX bytes and parsed by ctl_proto.c; the number of clients is capped, and when
 * every slot is taken the client silent longest is dropped to make room, so that idle
 * connections never lock out a fresh request; and a client that does not send its request
 * (or does not read its reply) within the idle timeout is dropped. The timeouts use one of
 * the loop's timers, armed only while a client has a deadline, so an idle baton makes no
 * wake-ups for it.
 *
 * A connection carries one request. After the final reply line the server shuts down its side
 * and keeps the connection until the client hangs up (or the idle timeout): the core can then
 * wait for ctl_client_count() to reach 0 before it exits, which matters for `drain --wait`
 * run as a Kubernetes preStop hook, since every process of the container dies with PID 1.
 */
#include "baton/control.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "baton/loop.h"
#include "baton/sockets.h"

#define LISTEN_BACKLOG 32
/* Connections taken per readiness event, so a flood cannot hold the loop. */
#define ACCEPT_BATCH 32
/* After accept failed for lack of fds or memory: retry later rather than spin. */
#define ACCEPT_PAUSE_MS 1000
/* Final lines are short: they always fit next to what a waiting client has pending. */
#define LINE_MAX_LEN 400
#define SMALL_OUT 512
/* Waiting clients hold their slot until the core answers: keep the other half of the slots
 * for status and readiness probes. */
#define MAX_WAITING (CTL_MAX_CLIENTS / 2)

enum cl_state {
	CL_FREE,
	CL_READING,     /* until the request line is complete */
	CL_WAIT_RELOAD, /* reload wait: no timeout, answered by ctl_reload_finished */
	CL_WAIT_DRAIN,  /* drain wait: no timeout, answered by ctl_workers_stopped */
	CL_REPLYING,    /* the final line is queued; flushing it */
	CL_LINGER,      /* all sent, our side shut down; waiting for the client to hang up */
};

struct ctl_client {
	struct ctl_server *srv;
	struct loop_watch watch;
	int fd;
	enum cl_state state;
	bool rd_closed;    /* the client shut down its side: stop watching for input */
	int64_t deadline_ms;
	char who[48];      /* "uid U pid P" for log lines; pid 0 (another pid namespace) left out */
	/* The request (CTL_REQUEST_MAX bytes) and a small reply buffer (SMALL_OUT), one block
	 * allocated while the client is connected: an idle server keeps none of them. */
	size_t in_len;
	char *in;
	/* Pending reply bytes [out_off, out_len) in small or, for a long status, on the heap. */
	char *out;
	size_t out_off, out_len, out_cap;
	char *small;
};

struct ctl_server {
	struct loop *loop;
	struct ctl_ops ops;
	int lfd;
	struct loop_watch lwatch;
	struct loop_timer timer;  /* the earliest client deadline or accept resumption */
	int64_t accept_resume_ms; /* -1: accepting */
	int64_t idle_ms;
	unsigned uid;
	char path[CTL_PATH_MAX];
	dev_t dev;
	ino_t ino;
	bool workers_stopped;
	int n_clients;
	unsigned long evicted;    /* silent clients dropped to make room */
	struct ctl_client clients[CTL_MAX_CLIENTS];
	struct ctl_view view; /* scratch for status and ready, grown with the pool */
};

__attribute__((format(printf, 3, 4))) static void note(struct ctl_server *s,
						      enum log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!s->ops.note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->ops.note(s->ops.ctx, level, msg);
}

/* ---- timer ---- */

static void rearm(struct ctl_server *s)
{
	int64_t at = s->accept_resume_ms;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		const struct ctl_client *c = &s->clients[i];

		if (c->state != CL_FREE && c->deadline_ms >= 0 && (at < 0 || c->deadline_ms < at))
			at = c->deadline_ms;
	}
	loop_timer_set(s->loop, &s->timer, at);
}

/* ---- clients ---- */

static void client_close(struct ctl_client *c)
{
	struct ctl_server *s = c->srv;

	if (c->state == CL_FREE)
		return;
	loop_del(s->loop, &c->watch);
	close(c->fd);
	if (c->out != c->small)
		free(c->out);
	free(c->in); /* the block holding small too */
	c->fd = -1;
	c->in = c->small = c->out = NULL;
	c->out_off = c->out_len = 0;
	c->out_cap = 0;
	c->state = CL_FREE;
	s->n_clients--;
	rearm(s);
}

static void set_events(struct ctl_client *c)
{
	uint32_t want = (c->rd_closed ? 0 : EPOLLIN) | (c->out_len > c->out_off ? EPOLLOUT : 0);

	if (loop_mod(c->srv->loop, &c->watch, want) < 0)
		c->deadline_ms = 0; /* cannot watch it any more: the timer drops it */
}

/* Room for extra more bytes at the end of the pending output, or NULL without memory. */
static char *reserve(struct ctl_client *c, size_t extra)
{
	size_t pending = c->out_len - c->out_off;
	char *p;

	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
	}
	if (extra > c->out_cap - pending) {
		/* Only a status reply gets here, once per request: no allocation otherwise. */
		p = malloc(pending + extra);
		if (!p)
			return NULL;
		memcpy(p, c->out, pending);
		if (c->out != c->small)
			free(c->out);
		c->out = p;
		c->out_cap = pending + extra;
	}
	return c->out + c->out_len;
}

__attribute__((format(printf, 2, 3))) static int queue(struct ctl_client *c, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* truncated, and the LF must survive */
	line[n] = '\0';
	ctl_sanitize(line);
	line[n++] = '\n';
	p = reserve(c, (size_t)n);
	if (!p)
		return -ENOMEM;
	memcpy(p, line, (size_t)n);
	c->out_len += (size_t)n;
	return 0;
}

/* The final line is queued: from now on the client has idle_ms to read its reply. */
static void final(struct ctl_client *c)
{
	c->state = CL_REPLYING;
	c->deadline_ms = loop_now_ms() + c->srv->idle_ms;
}

/*
 * Send what is pending. Returns -1 when the client was closed. Never blocks: what the socket
 * does not take now goes when the loop reports it writable.
 */
static int flush(struct ctl_client *c)
{
	bool progress = false;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
		progress = true;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out != c->small) {
			free(c->out);
			c->out = c->small;
			c->out_cap = SMALL_OUT;
		}
		if (c->state == CL_REPLYING) {
			/* The client reads to EOF or to the final line; then it hangs up. */
			shutdown(c->fd, SHUT_WR);
			c->state = CL_LINGER;
			progress = true;
		}
	}
	if (progress && (c->state == CL_REPLYING || c->state == CL_LINGER))
		c->deadline_ms = loop_now_ms() + c->srv->idle_ms;
	set_events(c);
	rearm(c->srv);
	return 0;
}

/* A protocol error: one error line, sent now if the socket takes it, then close. */
static void reject(struct ctl_client *c, const char *msg)
{
	note(c->srv, LOG_DEBUG, "control client %s: %s", c->who, msg);
	c->out_off = c->out_len = 0;
	if (queue(c, "error %s", msg) == 0)
		send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	client_close(c);
}

/* Answer a waiting client from outside its own callback: queue only, the loop sends it. */
static void answer(struct ctl_client *c, const char *line)
{
	if (queue(c, "%s", line) < 0) {
		c->deadline_ms = 0; /* cannot happen for lines this short; drop it if it does */
		c->state = CL_REPLYING;
	} else {
		final(c);
	}
	set_events(c);
}

/* A fresh snapshot from the core, in a view grown to what it needs. Without the room for
 * every worker the view holds what fits (its first entries): the answer still comes. */
static void take_view(struct ctl_server *s, bool detailed)
{
	struct ctl_view *v = &s->view;
	int want = s->ops.view_size ? s->ops.view_size(s->ops.ctx) : 0;

	if (want > v->cap) {
		struct ctl_worker_view *grown = realloc(v->w, (size_t)want * sizeof(*grown));

		if (grown) {
			v->w = grown;
			v->cap = want;
		}
	}
	*v = (struct ctl_view){ .w = v->w, .cap = v->cap, .detailed = detailed };
	s->ops.view(s->ops.ctx, v);
}

static void do_status(struct ctl_server *s, struct ctl_client *c, bool json)
{
	size_t need;
	char *p;

	take_view(s, true);
	need = ctl_format_status(&s->view, json, NULL, 0);
	/* Room for the final line too, so that it needs no second allocation. */
	p = reserve(c, need + 8);
	if (!p) {
		queue(c, "error out of memory");
		return;
	}
	ctl_format_status(&s->view, json, p, need + 1);
	c->out_len += need;
	queue(c, "ok");
}

static void do_ready(struct ctl_server *s, struct ctl_client *c)
{
	char why[64];

	take_view(s, false);
	if (ctl_view_ready(&s->view, why, sizeof(why)))
		queue(c, "ok ready");
	else
		queue(c, "error not ready: %s", why);
}

static void do_live(struct ctl_server *s, struct ctl_client *c)
{
	char why[96];

	take_view(s, false);
	if (ctl_view_live(&s->view, why, sizeof(why)))
		queue(c, "ok live");
	else
		queue(c, "error not live: %s", why);
}

static void refused(struct ctl_client *c, int r, const char *err)
{
	c->out_off = c->out_len = 0;
	queue(c, "error %s", err[0] ? err : strerror(-r));
}

static bool too_many_waiting(struct ctl_server *s, struct ctl_client *c)
{
	int n = 0;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		n += s->clients[i].state == CL_WAIT_RELOAD || s->clients[i].state == CL_WAIT_DRAIN;
	if (n < MAX_WAITING)
		return false;
	queue(c, "error busy: too many waiting clients (limit %d), try again", MAX_WAITING);
	return true;
}

/*
 * For `wait`, the client is put in its waiting state before the core is called: the core may
 * finish at once (a pool with nothing to replace) and call ctl_reload_finished from inside.
 */
static void do_reload(struct ctl_server *s, struct ctl_client *c, bool wait)
{
	char err[256] = "";
	int r;

	if (wait && too_many_waiting(s, c))
		return;
	if (wait) {
		queue(c, "rollout started");
		c->state = CL_WAIT_RELOAD;
		c->deadline_ms = -1;
	}
	r = s->ops.reload(s->ops.ctx, err, sizeof(err));
	if (r < 0) {
		refused(c, r, err);
		final(c);
	} else if (!wait) {
		queue(c, "ok rollout started");
	}
}

static void do_scale(struct ctl_server *s, struct ctl_client *c, int n)
{
	char err[256] = "";
	int r = s->ops.scale(s->ops.ctx, n, err, sizeof(err));

	if (r < 0)
		refused(c, r, err);
	else
		queue(c, "ok scaling to %d worker%s", n, n == 1 ? "" : "s");
}

static void do_drain(struct ctl_server *s, struct ctl_client *c, bool wait)
{
	int r;

	if (wait && too_many_waiting(s, c))
		return;
	if (wait) {
		queue(c, "draining");
		c->state = CL_WAIT_DRAIN;
		c->deadline_ms = -1;
	}
	r = s->ops.drain(s->ops.ctx);
	if (r < 0) {
		char err[128];

		snprintf(err, sizeof(err), "cannot drain: %s", strerror(-r));
		refused(c, r, err);
		final(c);
	} else if (!wait) {
		queue(c, "ok draining");
	} else if (c->state == CL_WAIT_DRAIN && s->workers_stopped) {
		answer(c, "ok all workers stopped");
	}
}

/* trailing: bytes followed the line; the line's own error, if any, is the better message. */
static void handle_request(struct ctl_client *c, const char *line, size_t len, bool trailing)
{
	struct ctl_server *s = c->srv;
	struct ctl_request req;
	char err[128];

	if (ctl_parse_request(line, len, &req, err, sizeof(err)) < 0) {
		reject(c, err);
		return;
	}
	if (trailing) {
		reject(c, "one request per connection");
		return;
	}
	note(s, LOG_DEBUG, "control client %s: %.*s", c->who, (int)(len > 64 ? 64 : len), line);
	/* Until a handler puts the client in a waiting state, the reply is complete. */
	c->state = CL_REPLYING;
	switch (req.cmd) {
	case CTL_STATUS:
		do_status(s, c, req.json);
		break;
	case CTL_READY:
		do_ready(s, c);
		break;
	case CTL_LIVE:
		do_live(s, c);
		break;
	case CTL_RELOAD:
		do_reload(s, c, req.wait);
		break;
	case CTL_SCALE:
		do_scale(s, c, req.count);
		break;
	case CTL_DRAIN:
		do_drain(s, c, req.wait);
		break;
	}
	if (c->state == CL_REPLYING)
		final(c);
	flush(c);
}

static void on_input(struct ctl_client *c)
{
	char scratch[256];
	ssize_t n;

	if (c->state != CL_READING) {
		/* Nothing more may come: data is a protocol error, EOF a hang-up or a half-close. */
		n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n == 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };

			/* POLLHUP: both directions closed, the client is gone. Otherwise it only
			 * shut down its side (as `socat` does at the end of its input) and still
			 * waits for the answer. */
			if (poll(&p, 1, 0) == 1 && !(p.revents & (POLLHUP | POLLERR))) {
				c->rd_closed = true;
				set_events(c);
				return;
			}
		}
		client_close(c);
		return;
	}
	for (;;) {
		size_t room = CTL_REQUEST_MAX - c->in_len;
		char *nl;

		if (room == 0) {
			reject(c, "request too long (limit 1024 bytes)");
			return;
		}
		n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(c);
			return;
		}
		if (n == 0) {
			if (c->in_len == 0)
				client_close(c); /* a connect-only probe */
			else
				reject(c, "incomplete request: no newline before end of input");
			return;
		}
		nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl) {
			handle_request(c, c->in, (size_t)(nl - c->in),
				       nl + 1 != c->in + c->in_len);
			return;
		}
	}
}

static void on_client(struct loop_watch *w, uint32_t events)
{
	struct ctl_client *c = w->ctx;

	/* Act on what the syscalls say, not on the flags alone: a flag can be stale when the
	 * slot was reused within one batch of events. */
	if (c->state == CL_FREE)
		return;
	if ((events & EPOLLOUT) && flush(c) < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_input(c);
}

/* ---- accepting ---- */

static void refuse_now(int fd, const char *msg)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "error %s\n", msg);

	if (n > 0)
		send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
		     MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void describe(char *buf, size_t len, const struct ucred *cred)
{
	if (cred->pid > 0)
		snprintf(buf, len, "uid %u pid %d", (unsigned)cred->uid, (int)cred->pid);
	else
		snprintf(buf, len, "uid %u", (unsigned)cred->uid);
}

/* Whether a client has sent anything: read, or waiting in its socket to be read (it may
 * have been accepted in this very batch, before its request could be read). */
static bool has_spoken(const struct ctl_client *c)
{
	int pending = 0;

	return c->state != CL_READING || c->in_len > 0 ||
	       (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0);
}

/*
 * Every slot is taken: make room by dropping the client that has been silent longest (one
 * that has sent nothing since it connected; its deadline is the oldest). A flood of idle
 * connections, a leaking health-check script, must not lock the operator out. NULL when
 * every client has spoken: those are served, and the newcomer is told busy.
 */
static struct ctl_client *evict_silent(struct ctl_server *s)
{
	struct ctl_client *oldest = NULL;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];

		if (c->state == CL_READING && !has_spoken(c) &&
		    (!oldest || c->deadline_ms < oldest->deadline_ms))
			oldest = c;
	}
	if (!oldest)
		return NULL;
	/* Warn once: in a flood, a line per dropped connection would drown the log. */
	note(s, s->evicted ? LOG_DEBUG : LOG_WARN,
	     "control socket: all %d slots taken; dropped %s, silent for %lld ms, to make room",
	     CTL_MAX_CLIENTS, oldest->who,
	     (long long)(loop_now_ms() - (oldest->deadline_ms - s->idle_ms)));
	s->evicted++;
	reject(oldest, "dropped: every control client slot is taken and this connection sent "
		       "nothing");
	return oldest;
}

static void take(struct ctl_server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_client *c = NULL;
	char msg[160], who[48];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	describe(who, sizeof(who), &cred);
	if (cred.uid != 0 && cred.uid != s->uid) {
		snprintf(msg, sizeof(msg),
			 "permission denied: uid %u may not use the control socket (only root%s)",
			 (unsigned)cred.uid, s->uid ? " and baton's own uid" : "");
		note(s, LOG_WARN, "control socket: refused %s: not root nor baton's uid", who);
		refuse_now(fd, msg);
		return;
	}
	for (int i = 0; i < CTL_MAX_CLIENTS && !c; i++)
		if (s->clients[i].state == CL_FREE)
			c = &s->clients[i];
	if (!c)
		c = evict_silent(s);
	if (!c) {
		snprintf(msg, sizeof(msg), "busy: too many control clients (limit %d), try again",
			 CTL_MAX_CLIENTS);
		note(s, LOG_WARN, "control socket: %d clients already; refused %s", CTL_MAX_CLIENTS,
		     who);
		refuse_now(fd, msg);
		return;
	}
	c->in = malloc(CTL_REQUEST_MAX + SMALL_OUT);
	if (!c->in) {
		refuse_now(fd, "busy: out of memory, try again");
		return;
	}
	if (loop_add(s->loop, &c->watch, fd, EPOLLIN, on_client, c) < 0) {
		free(c->in);
		c->in = NULL;
		close(fd);
		return;
	}
	c->small = c->in + CTL_REQUEST_MAX;
	c->out = c->small;
	c->out_off = c->out_len = 0;
	c->out_cap = SMALL_OUT;
	c->fd = fd;
	c->state = CL_READING;
	c->rd_closed = false;
	memcpy(c->who, who, sizeof(c->who));
	c->in_len = 0;
	c->deadline_ms = loop_now_ms() + s->idle_ms;
	s->n_clients++;
}

static void set_accepting(struct ctl_server *s, bool on)
{
	if (loop_mod(s->loop, &s->lwatch, on ? EPOLLIN : 0) == 0)
		s->accept_resume_ms = on ? -1 : loop_now_ms() + ACCEPT_PAUSE_MS;
}

static void on_listen(struct loop_watch *w, uint32_t events)
{
	struct ctl_server *s = w->ctx;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			take(s, fd);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		/* Out of fds or memory (or worse): the socket stays readable, so stop watching
		 * it for a while instead of spinning on it. */
		note(s, LOG_WARN, "control socket: accept: %s; pausing for %d ms", strerror(errno),
		     ACCEPT_PAUSE_MS);
		set_accepting(s, false);
		break;
	}
	rearm(s);
}

static void on_timer(struct loop_timer *t)
{
	struct ctl_server *s = t->ctx;
	int64_t now = loop_now_ms();

	if (s->accept_resume_ms >= 0 && s->accept_resume_ms <= now)
		set_accepting(s, true);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];

		if (c->state == CL_FREE || c->deadline_ms < 0 || c->deadline_ms > now)
			continue;
		note(s, LOG_DEBUG, "control client %s: no progress for %lld ms; dropped", c->who,
		     (long long)s->idle_ms);
		if (c->state == CL_READING)
			reject(c, "timed out waiting for a request");
		else
			client_close(c);
	}
	rearm(s);
}

/* ---- opening ---- */

static int bind_path(struct ctl_server *s, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r = 0;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (int attempt = 0;; attempt++) {
		/* The mode is set at creation, so there is no moment when others could connect. */
		mode_t old = umask(0177);

		r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
		r = r < 0 ? -errno : 0;
		umask(old);
		if (r == 0)
			break;
		if (r != -EADDRINUSE || attempt > 0)
			goto fail;
		/* A socket file left by a baton that is gone can be replaced; a live one cannot. */
		r = sock_clear_stale_unix(&addr);
		if (r < 0)
			goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0 || lstat(path, &st) < 0) {
		r = -errno;
		unlink(path);
		goto fail;
	}
	s->lfd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	/* From the copy whose length was checked, which the compiler can see fits. */
	snprintf(s->path, sizeof(s->path), "%s", addr.sun_path);
	return 0;
fail:
	close(fd);
	return r;
}

/* Errors that say "this directory cannot hold the socket", where another one may. */
static bool dir_unusable(int r)
{
	return r == -EACCES || r == -EPERM || r == -EROFS || r == -ENOENT || r == -ENOTDIR ||
	       r == -ENAMETOOLONG;
}

static const char *reason(int r)
{
	if (r == -EADDRINUSE)
		return "another process is listening on it";
	if (r == -EEXIST)
		return "the file exists and is not a socket";
	return strerror(-r);
}

int ctl_open(struct ctl_server **out, struct loop *loop, const char *path, bool explicit_path,
	     const struct ctl_ops *ops, bool *fallback_used, char *err, size_t errlen)
{
	char cands[3][CTL_PATH_MAX];
	struct ctl_server *s;
	int n, r = -EINVAL, first = 0, tried = 0;

	*out = NULL;
	if (fallback_used)
		*fallback_used = false;
	if (errlen)
		err[0] = '\0';
	if (!ops || !ops->view || !ops->reload || !ops->scale || !ops->drain) {
		snprintf(err, errlen, "control socket: incomplete operations");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "control socket: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	s->loop = loop;
	s->ops = *ops;
	s->lfd = -1;
	s->lwatch.fd = -1;
	s->accept_resume_ms = -1;
	loop_timer_init(&s->timer, on_timer, s);
	s->idle_ms = CTL_IDLE_TIMEOUT_MS;
	s->uid = (unsigned)geteuid();
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];

		c->srv = s;
		c->fd = -1;
		c->watch.fd = -1;
	}

	if (!path)
		path = CTL_DEFAULT_PATH;
	if (explicit_path) {
		n = 0;
		if (strlen(path) < CTL_PATH_MAX)
			snprintf(cands[n++], CTL_PATH_MAX, "%s", path);
		else
			r = -ENAMETOOLONG;
	} else {
		n = ctl_candidates(path, getenv("XDG_RUNTIME_DIR"), cands);
	}
	for (int i = 0; i < n; i++) {
		r = bind_path(s, cands[i]);
		tried = i;
		if (r == 0) {
			if (i > 0) {
				if (fallback_used)
					*fallback_used = true;
				snprintf(err, errlen, "control socket %s: %s; using %s instead",
					 cands[0], reason(first), cands[i]);
			}
			break;
		}
		if (i == 0)
			first = r;
		if (explicit_path || !dir_unusable(r))
			break;
	}
	if (r < 0) {
		if (n == 0)
			snprintf(err, errlen, "control socket %s: %s", path, reason(r));
		else if (tried == 0)
			snprintf(err, errlen, "control socket %s: %s", cands[0], reason(r));
		else
			snprintf(err, errlen, "control socket %s: %s; %s: %s", cands[0],
				 reason(first), cands[tried], reason(r));
		first = r;
		goto fail;
	}
	r = loop_add(loop, &s->lwatch, s->lfd, EPOLLIN, on_listen, s);
	if (r < 0) {
		first = r;
		snprintf(err, errlen, "control socket: epoll: %s", strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	ctl_close(s);
	return first;
}

const char *ctl_path(const struct ctl_server *s)
{
	return s->path;
}

void ctl_set_idle_timeout(struct ctl_server *s, int64_t ms)
{
	if (ms > 0)
		s->idle_ms = ms;
}

void ctl_reload_finished(struct ctl_server *s, bool ok, const char *why)
{
	char line[LINE_MAX_LEN];

	if (!s)
		return;
	if (ok)
		snprintf(line, sizeof(line), "ok %s", why && *why ? why : "rollout complete");
	else
		snprintf(line, sizeof(line), "error rollout failed: %s", why && *why ? why : "unknown");
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->clients[i].state == CL_WAIT_RELOAD)
			answer(&s->clients[i], line);
	rearm(s);
}

void ctl_workers_stopped(struct ctl_server *s)
{
	if (!s)
		return;
	s->workers_stopped = true;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];

		if (c->state == CL_WAIT_DRAIN)
			answer(c, "ok all workers stopped");
		else if (c->state == CL_WAIT_RELOAD)
			answer(c, "error rollout interrupted: baton is stopping");
	}
	rearm(s);
}

int ctl_client_count(const struct ctl_server *s)
{
	return s ? s->n_clients : 0;
}

void ctl_close(struct ctl_server *s)
{
	struct stat st;

	if (!s)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		client_close(&s->clients[i]);
	if (s->lfd >= 0) {
		loop_del(s->loop, &s->lwatch);
		close(s->lfd);
		/* Remove the file only if it is still the one this server made. */
		if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
			unlink(s->path);
	}
	loop_timer_set(s->loop, &s->timer, -1);
	free(s->view.w);
	free(s);
}
