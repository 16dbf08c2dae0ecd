/*
 * mod_metrics: `--metrics ADDR`, the Prometheus endpoint, served from baton's own loop.
 *
 * PID 1 must not block or die because of a scraper, so the server is bounded like the control
 * socket: every socket is non-blocking; a request's head is read into a fixed buffer of
 * METRICS_REQUEST_MAX bytes; at most METRICS_MAX_CLIENTS connections are kept, and when all
 * are taken the one silent longest among those that have not sent a whole request (or that
 * were served and linger) is dropped to make room; a connection gets METRICS_IDLE_MS to send
 * its request or to read its answer, on one loop timer for all of them, armed only while a
 * client is connected (an idle baton makes no wake-ups for it). The answer is rendered at once
 * into a buffer of its own and sent as the socket takes it (EPOLLOUT), never waiting.
 *
 * One request per connection (Connection: close): a scrape every few seconds gains nothing
 * from keep-alive, and a connection that is done is one less to bound.
 *
 * The numbers are read from the pool when the request comes, with no state kept between
 * scrapes: each metric is the pool's own counter (struct pool_stats), a count of its tables,
 * or a measure taken then (memory, the accept queues, baton's fds).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baton/log.h"
#include "baton/memstat.h"
#include "baton/prom.h"
#include "run_int.h"

/* A scrape's request head is a few hundred bytes; anything longer is not a scraper. */
#define METRICS_REQUEST_MAX 8192
#define METRICS_MAX_CLIENTS 64
#define METRICS_IDLE_MS 10000
#define METRICS_BACKLOG 64
/* Connections taken per readiness event, so that a flood cannot hold the loop. */
#define ACCEPT_BATCH 32
/* After accept failed for lack of fds or memory: try again later rather than spin. */
#define ACCEPT_PAUSE_MS 1000

enum mc_state { MC_FREE, MC_READING, MC_WRITING, MC_LINGER };

struct mclient {
	struct loop_watch watch;
	int fd;
	enum mc_state state;
	int64_t active_ms;  /* connected, or last progress */
	size_t in_len;
	char *out;          /* the whole answer, malloc'd */
	size_t out_off, out_len;
	char in[METRICS_REQUEST_MAX];
};

static struct {
	struct runner *runner;
	int lfd;
	struct sock_spec spec;
	struct loop_watch lwatch;
	struct loop_timer timer;
	int64_t accept_resume_ms; /* -1: accepting */
	int n_clients;
	unsigned long evicted;
	struct mclient *clients;  /* METRICS_MAX_CLIENTS, allocated at set-up */
	char *body;               /* the last rendering, grown as needed */
	size_t body_cap;
	struct memstat_group *groups; /* scratch for the workers' memory */
	int groups_cap;
} st = { .lfd = -1 };

static bool wanted(const struct config *cfg)
{
	return cfg->metrics != NULL;
}

/* ---- the metrics ---- */

static const char *const state_names[] = { "starting", "ready", "draining", "stopping" };

/* The current worker of every slot that has one, with its memory measured: one walk of
 * /proc for all. Returns the number of entries in st.groups, slot k's at k - 1 (pgrp 0: no
 * worker). */
static int measure_slots(const struct pool *p)
{
	int n = p->n_slots - 1;

	if (n <= 0 || run_table_reserve(&st.groups, sizeof(*st.groups), &st.groups_cap, n - 1, n) < 0)
		return 0;
	for (int k = 1; k < p->n_slots; k++) {
		int w = p->slots[k].cur;

		st.groups[k - 1] = (struct memstat_group){
			.pgrp = w >= 0 && p->workers[w].pid > 0 ? p->workers[w].pid : 0,
		};
	}
	/* memstat_groups sorts by pid: the slot of each is found again by pid below. */
	if (memstat_groups(st.groups, (size_t)n) < 0)
		return 0;
	return n;
}

static uint64_t rss_of(int n, pid_t pid)
{
	return memstat_rss_of(st.groups, (size_t)n, pid);
}

/* Every listening TCP socket baton owns: the length and the limit of its accept queue
 * (sock_accept_queue). A unix socket has no such numbers: it is left out. */
static void render_sockets(struct prom_out *o, const struct runner *r)
{
	static const char *const names[2] = { "baton_listen_queue_length",
					      "baton_listen_queue_limit" };
	static const char *const helps[2] = {
		"Connections waiting in the accept queue of a listening socket baton owns.",
		"The accept queue's limit (the listen backlog) of a listening socket baton owns.",
	};

	for (int pass = 0; pass < 2; pass++) {
		prom_family(o, names[pass], "gauge", helps[pass]);
		for (int i = 0; i < r->n_listen; i++) {
			uint32_t length, limit;
			char desc[160];
			struct prom_label l[] = { { "socket", desc }, { "name", r->listen_specs[i].name } };

			if (r->listen_specs[i].kind != SOCK_KIND_TCP)
				continue;
			if (sock_accept_queue(r->listen_fds[i], &length, &limit) < 0)
				continue;
			sock_describe(&r->listen_specs[i], desc, sizeof(desc));
			prom_u64(o, names[pass], l, 2, pass ? limit : length);
		}
	}
}

static void render(struct prom_out *o, int n_measured)
{
	const struct runner *r = st.runner;
	const struct pool *p = &r->pool;
	int64_t now = loop_now_ms();
	uint64_t by_state[4] = { 0 };
	struct memstat_self self;
	char slot[16];
	struct prom_label sl = { "slot", slot };

	prom_family(o, "baton_build_info", "gauge", "baton's version, as a label; the value is 1.");
	prom_u64(o, "baton_build_info", &(struct prom_label){ "version", BATON_VERSION }, 1, 1);

	prom_family(o, "baton_workers_wanted", "gauge", "Workers the pool is sized for.");
	prom_i64(o, "baton_workers_wanted", NULL, 0, p->wanted);

	for (int i = 0; i < pool_capacity(p); i++) {
		const struct worker *w = &p->workers[i];
		const char *name;

		if (w->state == WS_FREE)
			continue;
		name = pool_worker_state_name(w);
		for (size_t k = 0; k < 4; k++)
			if (strcmp(name, state_names[k]) == 0)
				by_state[k]++;
	}
	prom_family(o, "baton_workers", "gauge", "Workers by state.");
	for (size_t k = 0; k < 4; k++)
		prom_u64(o, "baton_workers", &(struct prom_label){ "state", state_names[k] }, 1,
			 by_state[k]);

	/* The six causes a worker is replaced for (a rollout's replacements are counted as
	 * rollouts). Every slot there is, so that a series never appears from nowhere. */
	prom_family(o, "baton_worker_restarts_total", "counter",
		    "Workers of a slot replaced, by cause: it exited, a signal killed it, the OOM "
		    "killer killed it, it missed its watchdog heartbeat, it passed --max-memory, it "
		    "reached --max-age.");
	for (int k = 1; k < p->n_slots; k++) {
		snprintf(slot, sizeof(slot), "%d", k);
		for (int c = CAUSE_EXIT; c <= CAUSE_AGE && c < POOL_CAUSES; c++) {
			const struct prom_label l[] = { { "slot", slot },
							{ "cause", pool_cause_name(c) } };

			prom_u64(o, "baton_worker_restarts_total", l, 2, p->slots[k].restarts_by[c]);
		}
	}
	prom_family(o, "baton_crash_loops_total", "counter",
		    "Times the crash-loop guard (--max-restarts in --restart-window) tripped.");
	prom_u64(o, "baton_crash_loops_total", NULL, 0, p->stats.crash_loops);
	prom_family(o, "baton_rollouts_total", "counter", "Rollouts, by how they ended.");
	for (int i = 0; i < ROLLOUT_OUTCOMES; i++)
		prom_u64(o, "baton_rollouts_total",
			 &(struct prom_label){ "outcome", pool_rollout_outcome_name(i) }, 1,
			 p->stats.rollouts[i]);
	prom_family(o, "baton_last_rollout_duration_seconds", "gauge",
		    "How long the last rollout took (none before the first).");
	if (p->stats.last_rollout_ms >= 0)
		prom_ms(o, "baton_last_rollout_duration_seconds", NULL, 0, p->stats.last_rollout_ms);
	prom_family(o, "baton_drains_total", "counter",
		    "Workers stopped, by how they ended: exited after the drain, needed SIGTERM, "
		    "needed SIGKILL.");
	for (int i = 0; i < DRAIN_ENDS; i++)
		prom_u64(o, "baton_drains_total",
			 &(struct prom_label){ "how", pool_drain_end_name(i) }, 1, p->stats.drains[i]);
	prom_family(o, "baton_drain_duration_seconds", "histogram",
		    "How long the stop of a worker took, from its drain to its exit.");
	prom_histogram_ms(o, "baton_drain_duration_seconds", pool_drain_bucket_ms,
			  p->stats.drain_le, POOL_DRAIN_BUCKETS, p->stats.drain_count,
			  p->stats.drain_sum_ms);

	prom_family(o, "baton_worker_uptime_seconds", "gauge",
		    "How long the current worker of a slot has been running.");
	for (int k = 1; k < p->n_slots; k++) {
		int w = p->slots[k].cur;

		if (w < 0 || p->workers[w].pid <= 0)
			continue;
		snprintf(slot, sizeof(slot), "%d", k);
		prom_ms(o, "baton_worker_uptime_seconds", &sl, 1, now - p->workers[w].started_ms);
	}
	prom_family(o, "baton_worker_resident_memory_bytes", "gauge",
		    "Resident memory of the current worker of a slot: the sum over its process "
		    "group.");
	for (int k = 1; k < p->n_slots; k++) {
		int w = p->slots[k].cur;

		if (w < 0 || p->workers[w].pid <= 0)
			continue;
		snprintf(slot, sizeof(slot), "%d", k);
		prom_u64(o, "baton_worker_resident_memory_bytes", &sl, 1,
			 rss_of(n_measured, p->workers[w].pid));
	}

	render_sockets(o, r);

	if (memstat_self(&self) == 0) {
		prom_family(o, "baton_resident_memory_bytes", "gauge", "baton's own resident memory.");
		prom_u64(o, "baton_resident_memory_bytes", NULL, 0, self.rss_bytes);
		prom_family(o, "baton_open_fds", "gauge", "baton's own open file descriptors.");
		prom_u64(o, "baton_open_fds", NULL, 0, (uint64_t)self.fds);
	}
}

/* The whole answer for status, head and body, in a fresh buffer. NULL without memory. */
static char *answer(int status, bool head, size_t *len)
{
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" :
			     status == 405 ? "Method Not Allowed" : "Bad Request";
	const char *body = NULL;
	size_t body_len = 0;
	char hdr[256];
	int hlen;
	char *out;

	if (status == 200) {
		int n = measure_slots(&st.runner->pool);
		struct prom_out o;

		for (;;) {
			prom_init(&o, st.body, st.body_cap);
			render(&o, n);
			if (prom_fits(&o))
				break;
			free(st.body);
			st.body_cap = o.len + 1024;
			st.body = malloc(st.body_cap);
			if (!st.body) {
				st.body_cap = 0;
				return NULL;
			}
		}
		body = st.body;
		body_len = o.len;
	} else {
		body = status == 404 ? "not found: the metrics are at /metrics\n" :
		       status == 405 ? "method not allowed: GET /metrics\n" : "bad request\n";
		body_len = strlen(body);
	}
	hlen = snprintf(hdr, sizeof(hdr),
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			"Connection: close\r\n\r\n",
			status, reason, status == 200 ? PROM_CONTENT_TYPE : "text/plain; charset=utf-8",
			body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (head)
		body_len = 0;
	out = malloc((size_t)hlen + body_len);
	if (!out)
		return NULL;
	memcpy(out, hdr, (size_t)hlen);
	memcpy(out + hlen, body, body_len);
	*len = (size_t)hlen + body_len;
	return out;
}

/* ---- clients ---- */

static void rearm(void)
{
	int64_t at = st.accept_resume_ms;

	for (int i = 0; i < METRICS_MAX_CLIENTS; i++) {
		const struct mclient *c = &st.clients[i];
		int64_t d = c->active_ms + METRICS_IDLE_MS;

		if (c->state != MC_FREE && (at < 0 || d < at))
			at = d;
	}
	loop_timer_set(&st.runner->loop, &st.timer, at);
}

static void client_close(struct mclient *c)
{
	if (c->state == MC_FREE)
		return;
	loop_del(&st.runner->loop, &c->watch);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = MC_FREE;
	st.n_clients--;
}

/* Send what the socket takes; once all is sent, shut down our side and wait for the
 * client's hang-up (closing first, with its bytes unread, could reset the answer). */
static void flush(struct mclient *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
		c->active_ms = loop_now_ms();
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = 0;
		shutdown(c->fd, SHUT_WR);
		c->state = MC_LINGER;
	}
	if (loop_mod(&st.runner->loop, &c->watch, c->state == MC_WRITING ? EPOLLOUT : EPOLLIN) < 0)
		client_close(c);
}

static void on_input(struct mclient *c)
{
	for (;;) {
		size_t room = sizeof(c->in) - c->in_len;
		ssize_t n;
		size_t head_len;
		int status, head;

		if (c->state == MC_LINGER) {
			char scratch[512];

			n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
			if (n > 0)
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			client_close(c);
			return;
		}
		n = room ? recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 || (n == 0 && room)) {
			client_close(c); /* gone, or hung up before its request was whole */
			return;
		}
		c->in_len += (size_t)n;
		c->active_ms = loop_now_ms();
		status = prom_http_route(c->in, c->in_len, &head, &head_len);
		if (status == 0 && c->in_len == sizeof(c->in))
			status = 400; /* no end of head within the limit */
		if (status == 0)
			continue;
		c->out = answer(status, head, &c->out_len);
		if (!c->out) {
			client_close(c);
			return;
		}
		c->out_off = 0;
		c->state = MC_WRITING;
		flush(c);
		return;
	}
}

static void on_client(struct loop_watch *w, uint32_t events)
{
	struct mclient *c = w->ctx;

	if (c->state == MC_FREE)
		return;
	if (c->state == MC_WRITING) {
		if (events & (EPOLLERR | EPOLLHUP))
			client_close(c);
		else if (events & EPOLLOUT)
			flush(c);
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		on_input(c);
	}
	rearm();
}

/* Every slot is taken: drop the connection that has been silent longest among those that
 * have not sent a whole request or have their answer. NULL when every one is being answered. */
static struct mclient *evict(void)
{
	struct mclient *oldest = NULL;

	for (int i = 0; i < METRICS_MAX_CLIENTS; i++) {
		struct mclient *c = &st.clients[i];

		if ((c->state == MC_READING || c->state == MC_LINGER) &&
		    (!oldest || c->active_ms < oldest->active_ms))
			oldest = c;
	}
	if (!oldest)
		return NULL;
	/* Once: in a flood a line per connection would drown the log. */
	if (st.evicted++ == 0)
		log_warn("metrics: all %d connections taken; dropping the one silent longest to "
			 "make room", METRICS_MAX_CLIENTS);
	client_close(oldest);
	return oldest;
}

static void take(int fd)
{
	struct mclient *c = NULL;

	for (int i = 0; i < METRICS_MAX_CLIENTS && !c; i++)
		if (st.clients[i].state == MC_FREE)
			c = &st.clients[i];
	if (!c)
		c = evict();
	if (!c || loop_add(&st.runner->loop, &c->watch, fd, EPOLLIN, on_client, c) < 0) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->state = MC_READING;
	c->in_len = 0;
	c->out = NULL;
	c->out_off = c->out_len = 0;
	c->active_ms = loop_now_ms();
	st.n_clients++;
}

static void on_listen(struct loop_watch *w, uint32_t events)
{
	(void)w, (void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(st.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			take(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Stop watching until the timer resumes: the pending connection would
			 * wake the loop again at once. */
			log_warn("metrics: cannot accept: %s; pausing for %d ms", strerror(errno),
				 ACCEPT_PAUSE_MS);
			loop_mod(&st.runner->loop, &st.lwatch, 0);
			st.accept_resume_ms = loop_now_ms() + ACCEPT_PAUSE_MS;
		}
		break;
	}
	rearm();
}

static void on_timer(struct loop_timer *t)
{
	int64_t now = loop_now_ms();

	(void)t;
	if (st.accept_resume_ms >= 0 && now >= st.accept_resume_ms) {
		st.accept_resume_ms = -1;
		loop_mod(&st.runner->loop, &st.lwatch, EPOLLIN);
	}
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++) {
		struct mclient *c = &st.clients[i];

		if (c->state != MC_FREE && now >= c->active_ms + METRICS_IDLE_MS)
			client_close(c);
	}
	rearm();
}

/* ---- the module ---- */

static int setup(struct runner *r, char **envp)
{
	char err[256], desc[160];

	(void)envp;
	st.runner = r;
	st.accept_resume_ms = -1;
	if (sock_parse(r->cfg->metrics, &st.spec, err, sizeof(err)) < 0) {
		log_error("--metrics: %s", err);
		return 2;
	}
	st.clients = calloc(METRICS_MAX_CLIENTS, sizeof(*st.clients));
	if (!st.clients) {
		log_error("--metrics: out of memory");
		return 1;
	}
	if (sock_bind(&st.spec, METRICS_BACKLOG, &st.lfd, err, sizeof(err)) < 0) {
		log_error("--metrics: %s", err);
		return 2;
	}
	/* sock_bind hands out a blocking fd: accept must not wait when a connection that woke
	 * the loop was reset before it was taken. */
	if (fcntl(st.lfd, F_SETFL, fcntl(st.lfd, F_GETFL) | O_NONBLOCK) < 0 ||
	    loop_add(&r->loop, &st.lwatch, st.lfd, EPOLLIN, on_listen, NULL) < 0) {
		log_error("--metrics: cannot watch the socket");
		return 1;
	}
	loop_timer_init(&st.timer, on_timer, NULL);
	sock_describe(&st.spec, desc, sizeof(desc));
	log_info("metrics on http://%s/metrics", desc);
	return 0;
}

static void shutdown_module(struct runner *r)
{
	if (!st.clients)
		return;
	for (int i = 0; i < METRICS_MAX_CLIENTS; i++)
		client_close(&st.clients[i]);
	loop_timer_set(&r->loop, &st.timer, -1);
	if (st.lfd >= 0) {
		loop_del(&r->loop, &st.lwatch);
		close(st.lfd);
		if (st.spec.kind == SOCK_KIND_UNIX)
			unlink(st.spec.path);
		st.lfd = -1;
	}
	free(st.clients);
	st.clients = NULL;
	free(st.body);
	st.body = NULL;
	st.body_cap = 0;
	free(st.groups);
	st.groups = NULL;
	st.groups_cap = 0;
}

const struct run_module mod_metrics = {
	.name = "metrics",
	.wanted = wanted,
	.setup = setup,
	.shutdown = shutdown_module,
};
