/*
 * nodeipc: baton's side of Node.js's cluster channel, so that an unmodified `node app.js`
 * runs as a cluster worker of baton (cluster.isWorker, cluster.worker.id, process.send()).
 *
 * The protocol is Node's internal one (lib/internal/cluster/{child,primary,utils}.js and
 * lib/internal/child_process.js), checked against Node 18 to 26: newline-delimited JSON on a
 * stream socketpair, internal messages carry a "cmd" starting with "NODE_", the listening
 * socket travels as SCM_RIGHTS on the line that wraps the reply in a NODE_HANDLE envelope,
 * and the receiver answers every handle with NODE_HANDLE_ACK (or NODE_HANDLE_NACK).
 *
 * A worker, from its start:
 *   -> {"cmd":"NODE_CLUSTER","act":"online","seq":0}
 *   -> {"cmd":"NODE_CLUSTER","act":"queryServer","index":0,"data":null,"address":null,
 *       "port":8080,"addressType":4,"backlog":0,"seq":1}                 (one per server)
 *   <- {"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_CLUSTER","errno":0,
 *       "key":"null:8080:4:undefined:0","ack":1,"data":null,"seq":0}}    + the socket fd
 *   -> {"cmd":"NODE_HANDLE_ACK"}
 *   -> "ready"          (only if the app calls process.send('ready'); from a listen callback
 *                        it comes before "listening", which cluster sends from a later one)
 *   -> {"cmd":"NODE_CLUSTER","act":"listening",...same fields...,"seq":2}
 * and to drain it:
 *   <- {"cmd":"NODE_CLUSTER","act":"disconnect","seq":1}
 *   -> {"cmd":"NODE_CLUSTER","act":"close","key":"null:8080:4:undefined:0","seq":3}
 *   then the worker closes its end (EOF here) and exits once its connections are done.
 *
 * The module is split in two. The pure part needs no descriptor: nipc_feed frames bytes into
 * lines, nipc_next_event turns each line into a typed, checked event, and the reply functions
 * queue lines (and the handle to attach) in the connection's output queue. The effectful part
 * is three calls: nipc_read (recvmsg into the connection), nipc_flush (write the queue), and
 * nipc_send (one sendmsg with an optional SCM_RIGHTS fd). Nothing here binds sockets, logs,
 * or closes a handle it was given.
 *
 * Writes never block: the channel is written with MSG_DONTWAIT, and what the kernel does not
 * take stays in the connection's bounded queue until nipc_flush is called again (when the fd
 * is writable). Like Node's own primary, at most one handle is in flight: messages queued
 * after a handle wait for the worker's NODE_HANDLE_ACK, and a NODE_HANDLE_NACK re-sends it
 * (three times at most). The acknowledgements the worker waits for (NODE_HANDLE_ACK for a
 * handle it sent, the ack of its exitedAfterDisconnect) are queued by nipc_next_event itself.
 */
#ifndef BATON_NODEIPC_H
#define BATON_NODEIPC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest line accepted from a worker, newline included. Node's own messages are a few
 * hundred bytes; a longer line (an app's huge process.send) is reported as NIPC_EV_OVERSIZED. */
#define NIPC_LINE_MAX (64 * 1024)
/* An address or a unix socket path in queryServer, NUL included. */
#define NIPC_ADDR_MAX 256
/* The queryServer `data` member (TLS ticket keys), as raw JSON text, NUL included. */
#define NIPC_DATA_MAX 512
/* Readable detail of an UNKNOWN or MALFORMED event, NUL included. */
#define NIPC_DETAIL_MAX 96
/* Bytes of output the worker has not taken yet (replies are ~150 bytes each); when the queue
 * is full the reply calls fail with -ENOBUFS instead of growing it. */
#define NIPC_QUEUE_MAX (16 * 1024)
/* Re-sends of a handle after NODE_HANDLE_NACK before giving up (Node's primary does 3). */
#define NIPC_MAX_RETRANSMIT 3

/* The environment variables a worker needs, beside PORT and the app's own. */
#define NIPC_ENV_CHANNEL_FD "NODE_CHANNEL_FD"
#define NIPC_ENV_SERIALIZATION "NODE_CHANNEL_SERIALIZATION_MODE"
#define NIPC_ENV_UNIQUE_ID "NODE_UNIQUE_ID"

struct nipc_conn;

/* Node's addressType: 4, 6, -1 (a unix socket path), "udp4", "udp6"; null when listening on
 * an inherited fd. */
enum nipc_addr_type {
	NIPC_AT_NONE = 0,
	NIPC_AT_TCP4,
	NIPC_AT_TCP6,
	NIPC_AT_PIPE,
	NIPC_AT_UDP4,
	NIPC_AT_UDP6,
};

/* libuv's UV_TCP_IPV6ONLY, which Node puts in queryServer's flags for listen({ipv6Only}). */
#define NIPC_FLAG_IPV6_ONLY 1

/* A server in the worker: what queryServer asks for, what listening announces. */
struct nipc_server {
	bool has_address;            /* false: "address":null, i.e. any address (Node binds [::]
				      * dual-stack, and 0.0.0.0 when IPv6 is missing) */
	char address[NIPC_ADDR_MAX]; /* host, or a unix socket path (type NIPC_AT_PIPE) */
	int port;                    /* 0..65535; 0 means any free port; -1 for a path or none */
	enum nipc_addr_type type;
	int fd;                      /* listen({fd}) in the worker (its own fd number), or -1 */
	/* listen()'s backlog, 0 when not set. Read but not applied: one socket serves every
	 * worker of every generation, so baton's --backlog sizes it. */
	int backlog;
	int flags;                   /* libuv bind flags: NIPC_FLAG_IPV6_ONLY */
	int index;                   /* Node's count of servers on the same address in this worker */
	unsigned seq;                /* the worker's message number: the reply's "ack" */
	char data[NIPC_DATA_MAX];    /* "data" as raw JSON ("null", or TLS ticket keys) */
};

enum nipc_event_type {
	NIPC_EV_NONE = 0,        /* no complete line buffered: read more */
	NIPC_EV_ONLINE,          /* the worker's cluster module started */
	NIPC_EV_QUERY_SERVER,    /* ev.server wants a listening socket: nipc_reply_server() */
	NIPC_EV_LISTENING,       /* ev.server listens: the worker is ready (Node's readiness) */
	NIPC_EV_CLOSE,           /* a server of the worker closed its copy of a shared socket */
	NIPC_EV_EXITED_AFTER_DISCONNECT, /* the worker leaves on its own (worker.disconnect() or
				  * destroy()): an expected exit follows; its ack is queued */
	NIPC_EV_READY,           /* process.send('ready'): PM2's wait_ready convention */
	NIPC_EV_WATCHDOG,        /* process.send('watchdog'): a heartbeat for --watchdog, as
				  * sd_notify's WATCHDOG=1 */
	NIPC_EV_USER,            /* any other message of the app: ignore it */
	NIPC_EV_IGNORED,         /* an internal message that needs nothing (e.g. a queryServer
				  * after disconnect, which Node's primary does not answer either) */
	NIPC_EV_HANDLE_ACK,      /* the worker took the handle sent last */
	NIPC_EV_HANDLE_NACK,     /* the worker did not get it: it is being re-sent */
	NIPC_EV_HANDLE_LOST,     /* ... NIPC_MAX_RETRANSMIT times: the worker cannot listen */
	NIPC_EV_UNKNOWN,         /* a NODE_CLUSTER act unknown here: another version of Node's
				  * protocol; ev.detail names it. Fail the worker. */
	NIPC_EV_MALFORMED,       /* not JSON, or a cluster message with bad fields. Fail it. */
	NIPC_EV_OVERSIZED,       /* a line over NIPC_LINE_MAX (skipped). Fail the worker. */
};

struct nipc_event {
	enum nipc_event_type type;
	unsigned seq;                     /* the worker's "seq", when the message has one */
	struct nipc_server server;        /* QUERY_SERVER, LISTENING */
	char detail[NIPC_DETAIL_MAX];     /* UNKNOWN: the act; MALFORMED: why; printable ASCII */
};

/* A new connection (heap: about 80 KiB), or NULL when out of memory. */
struct nipc_conn *nipc_conn_new(void);
/* Free it; accepts NULL. Closes nothing: the channel fd and the handles are the caller's. */
void nipc_conn_free(struct nipc_conn *c);

/* --- Pure part: no system call. --- */

/* Append bytes read from the worker. Returns how many were taken: fewer than n only when the
 * buffer is full of complete lines, which nipc_next_event must drain first. A line that
 * outgrows NIPC_LINE_MAX is dropped up to its newline and reported as NIPC_EV_OVERSIZED. */
size_t nipc_feed(struct nipc_conn *c, const void *bytes, size_t n);

/* The next event, in the order the worker sent them. Returns 1 with *ev set, 0 when no
 * complete line is buffered (ev->type = NIPC_EV_NONE). May queue the acknowledgements the
 * worker waits for, so check nipc_want_write() after a batch of events. */
int nipc_next_event(struct nipc_conn *c, struct nipc_event *ev);

/* Answer a queryServer with a socket: `sock_fd` (bound, listening or not: the worker calls
 * listen() itself) travels as a shared handle and the worker's listen() succeeds on it.
 * data_json: the "data" to give back (Node's primary hands every worker the first worker's
 * data for the same socket, which shares TLS ticket keys); NULL gives q->data back. The fd is
 * neither duplicated nor closed: keep it open while the connection lives. 0, -EINVAL,
 * -ENAMETOOLONG (reply over the line limit), -ENOBUFS (queue full). */
int nipc_reply_server(struct nipc_conn *c, const struct nipc_server *q, int sock_fd,
		      const char *data_json);

/* Refuse a queryServer: the worker's listen() fails with `err` (-errno, e.g. -EADDRINUSE),
 * an 'error' event on its server. 0, -EINVAL, -ENAMETOOLONG, -ENOBUFS. */
int nipc_reply_server_error(struct nipc_conn *c, const struct nipc_server *q, int err);

/* Drain the worker (what cluster's worker.disconnect() sends): it closes its servers, lets
 * open connections finish, closes the channel and exits 0. Sent once; later calls do
 * nothing. 0 or -ENOBUFS. */
int nipc_disconnect(struct nipc_conn *c);

/* Whether nipc_flush has something it can write now. */
bool nipc_want_write(const struct nipc_conn *c);

/* Whether the worker announced itself ("online"). A worker that does not within a few
 * seconds of its start does not speak this protocol (not `node script.js`, or another Node). */
bool nipc_online(const struct nipc_conn *c);

/* --- Effectful part. --- */

/* One sendmsg of [buf, buf+len) on the channel, with handle_fd attached as SCM_RIGHTS when
 * it is >= 0; never blocks, never raises SIGPIPE. Bytes written (possibly fewer than len, the
 * fd then went with the first of them), or -errno (-EAGAIN: try again when writable). */
ssize_t nipc_send(int fd, const void *buf, size_t len, int handle_fd);

/* Write what the queue holds. 0 when nothing writable is left, -EAGAIN when the channel is
 * full (call again on EPOLLOUT), another -errno when the channel is broken (EPIPE: gone). */
int nipc_flush(struct nipc_conn *c, int fd);

/* One recvmsg from the channel into the connection. Descriptors the worker sends along
 * (process.send(msg, handle)) are closed at once; baton takes no handle from a worker.
 * Returns the bytes read (> 0), 0 at end of file (the worker closed the channel: disconnect
 * done, or it is exiting), -EAGAIN when nothing is there, -ENOBUFS when the events already
 * buffered were not drained with nipc_next_event, another -errno on failure. */
ssize_t nipc_read(struct nipc_conn *c, int fd);

/* A short name for an event type, for logs. */
const char *nipc_event_name(enum nipc_event_type t);

#endif
