/*
 * mod_node: baton as the primary of Node's `cluster` module (--node-cluster).
 *
 * Each worker gets one end of a socketpair as Node's IPC channel. When a worker's server
 * listens, Node asks the primary for the socket (queryServer); baton answers with one it owns:
 * a --listen socket of that port, or one it binds on the first request and keeps for the
 * container's life. Every worker of every generation gets the same socket, so a rollout never
 * closes it. Readiness is the worker's "listening" message (or process.send('ready') with
 * --ready message); the drain is Node's "disconnect".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baton/log.h"
#include "baton/node_drain.h"
#include "baton/nodeipc.h"
#include "baton/sockets.h"
#include "run_int.h"

#define NODE_MAX_SOCKETS 32
/* Reads of a worker's channel per wake-up of the loop. */
#define CHANNEL_READS_PER_WAKEUP 16

/* A socket baton owns for the workers, and the server data (TLS ticket keys) that the first
 * worker attached to it, which every later worker must share. */
struct node_socket {
	bool used;
	bool any;
	char address[NIPC_ADDR_MAX];
	int port;
	enum nipc_addr_type type;
	int flags;
	int fd;
	bool from_listen; /* a --listen socket: closed with the others, not by this module */
	char data[NIPC_DATA_MAX];
};

static struct node_socket sockets[NODE_MAX_SOCKETS];

/* A worker's channel. */
struct channel {
	struct runner *runner;
	int w;
	pid_t pid;
	int fd;                   /* ours, -1 */
	int child_fd;             /* the worker's end until it is spawned, -1 */
	struct loop_watch watch;
	struct nipc_conn *ipc;
};

static struct {
	struct channel **channels; /* by worker index */
	int cap;
	char env_fd[48], env_id[48], env_mode[64];
	char *node_options;        /* NODE_OPTIONS with the drain preload, or NULL */
} st;

static struct channel *channel_of(int w)
{
	return w >= 0 && w < st.cap ? st.channels[w] : NULL;
}

static bool same_address(const struct nipc_server *q, const struct sock_spec *spec)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (spec->kind != SOCK_KIND_TCP || spec->port != q->port)
		return false;
	if (!q->has_address)
		return true;
	if (inet_pton(AF_INET, q->address, a) == 1)
		return spec->family == AF_INET && memcmp(a, &spec->addr4, sizeof(spec->addr4)) == 0;
	if (inet_pton(AF_INET6, q->address, a) == 1)
		return spec->family == AF_INET6 && memcmp(a, &spec->addr6, sizeof(spec->addr6)) == 0;
	return false;
}

static struct node_socket *find_socket(const struct nipc_server *q)
{
	for (int i = 0; i < NODE_MAX_SOCKETS; i++) {
		struct node_socket *s = &sockets[i];

		if (s->used && s->port == q->port && s->any == !q->has_address &&
		    s->type == q->type && s->flags == q->flags &&
		    (s->any || strcmp(s->address, q->address) == 0))
			return s;
	}
	return NULL;
}

/* The socket for a worker's queryServer: found, taken from --listen, or bound now. */
static int socket_for(struct runner *r, const struct nipc_server *q, struct node_socket **out)
{
	struct node_socket *s = find_socket(q), *slot = NULL;
	int fd = -1, err;

	if (s) {
		*out = s;
		return 0;
	}
	if (q->type != NIPC_AT_TCP4 && q->type != NIPC_AT_TCP6 && q->type != NIPC_AT_NONE)
		return -EAFNOSUPPORT; /* unix paths and UDP: not shared by baton */
	for (int i = 0; i < NODE_MAX_SOCKETS && !slot; i++)
		if (!sockets[i].used)
			slot = &sockets[i];
	if (!slot)
		return -EMFILE;
	for (int i = 0; i < r->n_listen && fd < 0; i++)
		if (same_address(q, &r->listen_specs[i]))
			fd = r->listen_fds[i];
	*slot = (struct node_socket){ .used = true, .any = !q->has_address, .port = q->port,
				      .type = q->type, .flags = q->flags, .fd = fd,
				      .from_listen = fd >= 0 };
	if (fd < 0) {
		int family = q->type == NIPC_AT_TCP6 ? 6 : q->type == NIPC_AT_TCP4 ? 4 : 0;
		bool v6 = q->has_address && strchr(q->address, ':');
		unsigned flags = ((q->flags & NIPC_FLAG_IPV6_ONLY) ? SOCK_TCP_V6ONLY : 0) |
				 (r->cfg->tcp_nodelay ? SOCK_TCP_NODELAY : 0);

		/* A backlog of 0 (not set) is the kernel's somaxconn, as for --listen. */
		err = sock_bind_tcp(q->has_address ? q->address : NULL, q->port, family, flags,
				    r->cfg->backlog, &slot->fd);
		if (err < 0) {
			slot->used = false;
			return err;
		}
		log_info("listening on %s%s%s:%d%s for the Node workers", v6 ? "[" : "",
			 q->has_address ? q->address : "*", v6 ? "]" : "", q->port,
			 (q->flags & NIPC_FLAG_IPV6_ONLY) ? " (IPv6 only)" : "");
	}
	/* Node's primary creates its sockets non-blocking, and a worker that receives one as a
	 * handle takes it as it is. A blocking one shared by several workers would let all of
	 * them wake for one connection and all but one block in accept() for good, deaf to the
	 * disconnect that drains them; Node 18, whose libuv accepts until EAGAIN, blocks so even
	 * alone, after its first connection. O_NONBLOCK belongs to the open socket, so this also
	 * covers every copy already handed out. */
	fcntl(slot->fd, F_SETFL, fcntl(slot->fd, F_GETFL) | O_NONBLOCK);
	snprintf(slot->address, sizeof(slot->address), "%s", q->address);
	snprintf(slot->data, sizeof(slot->data), "%s", q->data[0] ? q->data : "null");
	*out = slot;
	return 0;
}

static void fail_worker(struct channel *ch, const char *why)
{
	pool_failed(&ch->runner->pool, ch->pid, why, loop_now_ms());
}

static void flush(struct channel *ch)
{
	int err = nipc_flush(ch->ipc, ch->fd);

	/* Write interest only while replies wait for room (loop_mod is free when nothing
	 * changes). A broken channel shows as end of file on the next read. */
	if (err == -EAGAIN)
		loop_mod(&ch->runner->loop, &ch->watch, EPOLLIN | EPOLLOUT);
	else if (err == 0)
		loop_mod(&ch->runner->loop, &ch->watch, EPOLLIN);
}

static void handle_event(struct channel *ch, const struct nipc_event *ev)
{
	struct runner *r = ch->runner;
	int slot = r->pool.workers[ch->w].slot;
	char why[200];

	switch (ev->type) {
	case NIPC_EV_QUERY_SERVER: {
		struct node_socket *s;
		int err = socket_for(r, &ev->server, &s);

		if (err < 0) {
			log_error("worker %d: cannot give it a socket for %s:%d: %s", slot,
				  ev->server.has_address ? ev->server.address : "*", ev->server.port,
				  strerror(-err));
			nipc_reply_server_error(ch->ipc, &ev->server, err);
		} else {
			nipc_reply_server(ch->ipc, &ev->server, s->fd, s->data);
		}
		break;
	}
	case NIPC_EV_LISTENING:
		if (r->cfg->ready != READY_MESSAGE)
			pool_ready(&r->pool, ch->pid, loop_now_ms());
		break;
	case NIPC_EV_READY:
		if (r->cfg->ready == READY_MESSAGE)
			pool_ready(&r->pool, ch->pid, loop_now_ms());
		break;
	case NIPC_EV_WATCHDOG:
		pool_heartbeat(&r->pool, ch->pid, loop_now_ms());
		break;
	case NIPC_EV_UNKNOWN:
		snprintf(why, sizeof(why),
			 "speaks another version of Node's cluster protocol (act '%s'); baton is "
			 "tested with Node 18 to 26",
			 ev->detail);
		fail_worker(ch, why);
		break;
	case NIPC_EV_MALFORMED:
	case NIPC_EV_OVERSIZED:
	case NIPC_EV_HANDLE_LOST:
		snprintf(why, sizeof(why), "broke Node's cluster protocol: %s %s",
			 nipc_event_name(ev->type), ev->detail);
		fail_worker(ch, why);
		break;
	default:
		break;
	}
}

static void close_channel(struct channel *ch)
{
	if (ch->fd >= 0) {
		loop_del(&ch->runner->loop, &ch->watch);
		close(ch->fd);
		ch->fd = -1;
	}
}

static void on_channel(struct loop_watch *watch, uint32_t events)
{
	struct channel *ch = watch->ctx;
	struct nipc_event ev;
	ssize_t n;

	if (events & EPOLLOUT)
		flush(ch);
	/* A bounded number of reads, each drained of its events: a worker that sends without
	 * pause cannot hold PID 1 here; the level-triggered watch brings it back for the rest. */
	for (int reads = 0; reads < CHANNEL_READS_PER_WAKEUP; reads++) {
		n = nipc_read(ch->ipc, ch->fd);
		while (nipc_next_event(ch->ipc, &ev) == 1)
			handle_event(ch, &ev);
		if (n <= 0)
			break;
	}
	if (nipc_want_write(ch->ipc))
		flush(ch);
	if (n == 0 || (n < 0 && n != -EAGAIN)) {
		/* The worker closed its channel: it is leaving. One that never spoke the protocol
		 * is most likely not `node script.js`. */
		if (!nipc_online(ch->ipc) && ch->runner->pool.workers[ch->w].state == WS_STARTING)
			fail_worker(ch,
				    "closed its channel before starting Node's cluster protocol "
				    "(is the command `node script.js`?)");
		close_channel(ch);
	}
}

/* ---- the module ---- */

static bool wanted(const struct config *cfg)
{
	return cfg->node_cluster;
}

static int setup(struct runner *r, char **envp)
{
	const char *user = NULL;

	if (r->cfg->node_drain != NODE_DRAIN_GRACEFUL)
		return 0;
	/* The user's own NODE_OPTIONS stay, the preload's --import after them; the entry is
	 * the same for every worker, so it is made once. */
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, "NODE_OPTIONS=", 13) == 0)
			user = *e + 13;
	if (ndrain_env(user, &st.node_options) < 0) {
		log_error("out of memory");
		return 1;
	}
	log_debug("Node workers drain their keep-alive connections gracefully (a preload in "
		  "NODE_OPTIONS; --node-drain close for Node's own drain)");
	return 0;
}

static bool replaces_env(const struct runner *r, const char *entry)
{
	(void)r;
	return st.node_options && strncmp(entry, "NODE_OPTIONS=", 13) == 0;
}

static void release(struct runner *r, int w)
{
	struct channel *ch = channel_of(w);

	(void)r;
	if (!ch)
		return;
	close_channel(ch);
	if (ch->child_fd >= 0)
		close(ch->child_fd);
	nipc_conn_free(ch->ipc);
	free(ch);
	st.channels[w] = NULL;
}

static int prepare(struct runner *r, int w, struct spawn_request *req)
{
	int slot = r->pool.workers[w].slot;
	struct channel *ch;
	int sv[2];

	if (run_table_reserve(&st.channels, sizeof(*st.channels), &st.cap, w,
			      pool_capacity(&r->pool)) < 0 ||
	    !(ch = calloc(1, sizeof(*ch)))) {
		log_error("worker %d: out of memory for its Node channel", slot);
		return -ENOMEM;
	}
	*ch = (struct channel){ .runner = r, .w = w, .fd = -1, .child_fd = -1,
				.watch = { .fd = -1 } };
	st.channels[w] = ch;
	if (!(ch->ipc = nipc_conn_new())) {
		log_error("worker %d: out of memory for its Node channel", slot);
		release(r, w);
		return -ENOMEM;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		int err = -errno;

		log_error("worker %d: cannot create its Node channel: %s", slot, strerror(-err));
		release(r, w);
		return err;
	}
	ch->fd = sv[0];
	ch->child_fd = sv[1];
	req->ipc_fd = sv[1];
	return 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	if (w < 0 || spawn_ipc_fd_number(req) < 0)
		return n;
	snprintf(st.env_fd, sizeof(st.env_fd), "%s=%d", NIPC_ENV_CHANNEL_FD,
		 spawn_ipc_fd_number(req));
	snprintf(st.env_id, sizeof(st.env_id), "%s=%d", NIPC_ENV_UNIQUE_ID,
		 r->pool.workers[w].slot);
	snprintf(st.env_mode, sizeof(st.env_mode), "%s=json", NIPC_ENV_SERIALIZATION);
	env[n++] = st.env_fd;
	env[n++] = st.env_id;
	env[n++] = st.env_mode;
	if (st.node_options)
		env[n++] = st.node_options;
	return n;
}

static void after_spawn(struct runner *r, int w, pid_t pid, bool spawned)
{
	struct channel *ch = channel_of(w);

	if (!ch)
		return;
	if (ch->child_fd >= 0) {
		close(ch->child_fd);
		ch->child_fd = -1;
	}
	ch->pid = pid;
	if (!spawned || loop_add(&r->loop, &ch->watch, ch->fd, EPOLLIN, on_channel, ch) < 0)
		release(r, w);
}

static bool drain(struct runner *r, int w)
{
	struct channel *ch = channel_of(w);

	if (!r->pool.set.drain_by_ipc || !ch || ch->fd < 0 || nipc_disconnect(ch->ipc) < 0)
		return false;
	flush(ch);
	return true;
}

static void close_module(struct runner *r)
{
	for (int w = 0; w < st.cap; w++)
		release(r, w);
	free(st.channels);
	st.channels = NULL;
	st.cap = 0;
	free(st.node_options);
	st.node_options = NULL;
	for (int i = 0; i < NODE_MAX_SOCKETS; i++) {
		if (sockets[i].used && !sockets[i].from_listen)
			close(sockets[i].fd);
		sockets[i].used = false;
	}
}

const struct run_module mod_node = {
	.name = "node",
	.wanted = wanted,
	.setup = setup,
	.replaces_env = replaces_env,
	.prepare = prepare,
	.worker_env = worker_env,
	.after_spawn = after_spawn,
	.release = release,
	.drain = drain,
	.shutdown = close_module,
};
