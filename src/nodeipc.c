/*
 * nodeipc: the primary's side of Node.js's cluster channel. See include/baton/nodeipc.h for
 * the protocol and the contract; the comments here explain the choices.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "baton/json.h"
#include "baton/nodeipc.h"

/* Output queue size. A record is a reply line and the handle that goes with it; replies are a
 * few hundred bytes, so this holds dozens of them (an app with many servers asks for all of
 * them at once while the first handle waits for its ACK). */
#define OUT_MAX NIPC_QUEUE_MAX
/* Longest line we write: an address escaped six times over, its key, and the data. */
#define MSG_MAX (4 * 1024)
/* Descriptors one recvmsg may carry (all closed at once). */
#define RECV_FDS 16

/* What the writer is in the middle of. A line must be finished before another starts, or the
 * worker would read interleaved halves. */
enum writing { WR_NONE, WR_ACK, WR_HEAD };

/* A queued record: header then `len` bytes of the line. */
struct rec {
	uint32_t len;
	int32_t fd;      /* handle to attach to the first byte, or -1 */
};

static const char handle_ack_line[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";

struct nipc_conn {
	/* Input: [in_off, in_len) is unconsumed; lines end with '\n'. */
	size_t in_off, in_len;
	bool discarding;         /* inside an oversized line, dropping bytes up to its newline */
	bool oversized;          /* an oversized line is still to be reported */

	/* Output: [out_head, out_len) holds records. */
	size_t out_head, out_len;
	enum writing wr;
	size_t wr_off;           /* bytes of the current line already written */
	bool awaiting_ack;       /* the head record's handle went out; the rest waits */
	int nacks;
	unsigned acks_owed;      /* NODE_HANDLE_ACK lines owed for handles the worker sent */
	unsigned seq;            /* our message counter (Node's "seq"; workers ignore it) */

	bool online;
	bool draining;           /* disconnect sent, or the worker is leaving on its own */
	bool disconnect_sent;

	char out[OUT_MAX];
	char in[NIPC_LINE_MAX];
};

struct nipc_conn *nipc_conn_new(void)
{
	struct nipc_conn *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	/* Only the header needs zeroing: the buffers are written before they are read. */
	memset(c, 0, offsetof(struct nipc_conn, out));
	c->wr = WR_NONE;
	return c;
}

void nipc_conn_free(struct nipc_conn *c)
{
	free(c);
}

const char *nipc_event_name(enum nipc_event_type t)
{
	switch (t) {
	case NIPC_EV_NONE: return "none";
	case NIPC_EV_ONLINE: return "online";
	case NIPC_EV_QUERY_SERVER: return "queryServer";
	case NIPC_EV_LISTENING: return "listening";
	case NIPC_EV_CLOSE: return "close";
	case NIPC_EV_EXITED_AFTER_DISCONNECT: return "exitedAfterDisconnect";
	case NIPC_EV_READY: return "ready";
	case NIPC_EV_WATCHDOG: return "watchdog";
	case NIPC_EV_USER: return "user message";
	case NIPC_EV_IGNORED: return "ignored";
	case NIPC_EV_HANDLE_ACK: return "handle ack";
	case NIPC_EV_HANDLE_NACK: return "handle nack";
	case NIPC_EV_HANDLE_LOST: return "handle lost";
	case NIPC_EV_UNKNOWN: return "unknown act";
	case NIPC_EV_MALFORMED: return "malformed";
	case NIPC_EV_OVERSIZED: return "oversized";
	}
	return "?";
}

/* ---------------------------------------------------------------- input framing */

static bool has_line(const struct nipc_conn *c)
{
	return memchr(c->in + c->in_off, '\n', c->in_len - c->in_off) != NULL;
}

/* Make room at the end of the input buffer and return how much there is. 0 means complete
 * lines fill it: the caller must drain events first. */
static size_t in_prepare(struct nipc_conn *c)
{
	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == sizeof(c->in)) {
		if (has_line(c))
			return 0;
		/* One line fills the whole buffer: it can never be accepted. Drop it up to its
		 * newline, and say so once, in order. */
		c->in_len = 0;
		c->discarding = true;
		c->oversized = true;
	}
	return sizeof(c->in) - c->in_len;
}

/* Account for n bytes just placed at c->in + c->in_len. */
static void in_commit(struct nipc_conn *c, size_t n)
{
	char *p = c->in + c->in_len;

	if (c->discarding) {
		char *nl = memchr(p, '\n', n);
		if (!nl)
			return;
		c->discarding = false;
		n -= (size_t)(nl + 1 - p);
		memmove(p, nl + 1, n);
	}
	c->in_len += n;
}

size_t nipc_feed(struct nipc_conn *c, const void *bytes, size_t n)
{
	const char *src = bytes;
	size_t taken = 0;

	while (taken < n) {
		size_t room = in_prepare(c);
		size_t k;

		if (room == 0)
			break;
		k = n - taken < room ? n - taken : room;
		memcpy(c->in + c->in_len, src + taken, k);
		in_commit(c, k);
		taken += k;
	}
	return taken;
}

/* ---------------------------------------------------------------- output queue */

static size_t out_used(const struct nipc_conn *c)
{
	return c->out_len - c->out_head;
}

static struct rec head_rec(const struct nipc_conn *c)
{
	struct rec r;

	memcpy(&r, c->out + c->out_head, sizeof(r));
	return r;
}

static void pop_head(struct nipc_conn *c)
{
	struct rec r = head_rec(c);

	c->out_head += sizeof(r) + r.len;
	if (c->out_head == c->out_len)
		c->out_head = c->out_len = 0;
}

static int enqueue(struct nipc_conn *c, const char *line, size_t len, int fd)
{
	struct rec r = { .len = (uint32_t)len, .fd = fd };
	size_t need = sizeof(r) + len;

	if (c->out_len + need > sizeof(c->out) && c->out_head > 0) {
		/* Offsets are relative to the head, so moving the queue keeps wr_off right. */
		memmove(c->out, c->out + c->out_head, out_used(c));
		c->out_len -= c->out_head;
		c->out_head = 0;
	}
	if (c->out_len + need > sizeof(c->out))
		return -ENOBUFS;
	memcpy(c->out + c->out_len, &r, sizeof(r));
	memcpy(c->out + c->out_len + sizeof(r), line, len);
	c->out_len += need;
	return 0;
}

bool nipc_want_write(const struct nipc_conn *c)
{
	return c->wr != WR_NONE || c->acks_owed > 0 || (out_used(c) > 0 && !c->awaiting_ack);
}

bool nipc_online(const struct nipc_conn *c)
{
	return c->online;
}

/* ---------------------------------------------------------------- encoders */

struct sbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->overflow || b->len + n >= b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s, then v in decimal: the format stays a literal, which the compiler checks against v. */
static void put_num(struct sbuf *b, const char *s, long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", v);

	puts_(b, s);
	put(b, tmp, (size_t)n);
}

/* A JSON string body (no quotes): what JSON.parse reads back as s. */
static void put_escaped(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		char esc[6];

		put(b, esc, json_escape_byte((unsigned char)*s, esc));
	}
}

static const char *type_text(enum nipc_addr_type t)
{
	switch (t) {
	case NIPC_AT_TCP4: return "4";
	case NIPC_AT_TCP6: return "6";
	case NIPC_AT_PIPE: return "-1";
	case NIPC_AT_UDP4: return "udp4";
	case NIPC_AT_UDP6: return "udp6";
	case NIPC_AT_NONE: break;
	}
	return "null";
}

/* Node's key for a shared server, `${address}:${port}:${addressType}:${fd}:${index}`. The
 * worker uses it only to name the server in its "close" message, and as a map key, so it
 * must differ between servers of one worker: the index sees to that. */
static void put_key(struct sbuf *b, const struct nipc_server *q)
{
	put(b, "\"", 1);
	if (q->has_address)
		put_escaped(b, q->address);
	else
		puts_(b, "null");
	put_num(b, ":", q->port);
	put(b, ":", 1);
	puts_(b, type_text(q->type));
	if (q->fd >= 0)
		put_num(b, ":", q->fd);
	else
		puts_(b, ":undefined");
	put_num(b, ":", q->index);
	put(b, "\"", 1);
}

/* `data` goes back verbatim, so it must be one JSON value on one line. */
static bool data_ok(const char *data)
{
	struct json_span v;

	return data && strlen(data) < NIPC_DATA_MAX && !strchr(data, '\n') && !strchr(data, '\r') &&
	       json_parse(data, strlen(data), &v) == 0;
}

static int reply(struct nipc_conn *c, const struct nipc_server *q, int sock_fd, int err,
		 const char *data)
{
	char line[MSG_MAX];
	struct sbuf b = { .p = line, .cap = sizeof(line) };
	int r;

	if (!c || !q)
		return -EINVAL;
	if (!data)
		data = q->data[0] ? q->data : "null";
	if (!data_ok(data))
		return -EINVAL;
	/* The worker's listen() takes the reply's handle only from a NODE_HANDLE envelope; the
	 * envelope's type says how to wrap it. "net.Native" hands the raw handle over as is,
	 * which is what Node's primary sends for a shared handle (a TCP or Pipe wrap). */
	if (sock_fd >= 0)
		puts_(&b, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":");
	puts_(&b, "{\"cmd\":\"NODE_CLUSTER\"");
	put_num(&b, ",\"errno\":", err);
	puts_(&b, ",\"key\":");
	put_key(&b, q);
	put_num(&b, ",\"ack\":", q->seq);
	puts_(&b, ",\"data\":");
	puts_(&b, data);
	put_num(&b, ",\"seq\":", c->seq);
	puts_(&b, "}");
	if (sock_fd >= 0)
		puts_(&b, "}");
	puts_(&b, "\n");
	if (b.overflow)
		return -ENAMETOOLONG;
	if ((r = enqueue(c, line, b.len, sock_fd)) < 0)
		return r;
	c->seq++;
	return 0;
}

int nipc_reply_server(struct nipc_conn *c, const struct nipc_server *q, int sock_fd,
		      const char *data_json)
{
	if (sock_fd < 0)
		return -EINVAL;
	return reply(c, q, sock_fd, 0, data_json);
}

int nipc_reply_server_error(struct nipc_conn *c, const struct nipc_server *q, int err)
{
	if (err >= 0)
		return -EINVAL;
	return reply(c, q, -1, err, NULL);
}

int nipc_disconnect(struct nipc_conn *c)
{
	char line[64];
	int n, r;

	if (c->disconnect_sent)
		return 0;
	n = snprintf(line, sizeof(line), "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"disconnect\",\"seq\":%u}\n",
		     c->seq);
	if ((r = enqueue(c, line, (size_t)n, -1)) < 0)
		return r;
	c->seq++;
	c->disconnect_sent = true;
	c->draining = true;
	return 0;
}

/* The reply a worker waits for before it closes its channel after exitedAfterDisconnect. */
static int queue_ack(struct nipc_conn *c, unsigned ack)
{
	char line[80];
	int n, r;

	n = snprintf(line, sizeof(line), "{\"cmd\":\"NODE_CLUSTER\",\"ack\":%u,\"seq\":%u}\n", ack,
		     c->seq);
	if ((r = enqueue(c, line, (size_t)n, -1)) < 0)
		return r;
	c->seq++;
	return 0;
}

/* ---------------------------------------------------------------- decoding */

/* Printable ASCII for logs: whatever a worker sends, the log line stays one clean line. */
static void set_detail(struct nipc_event *ev, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < sizeof(ev->detail) - 1; i++) {
		unsigned char ch = (unsigned char)s[i];
		ev->detail[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	ev->detail[i] = '\0';
}

static int malformed(struct nipc_event *ev, const char *why)
{
	ev->type = NIPC_EV_MALFORMED;
	set_detail(ev, why);
	return 1;
}

/* An optional integer member: absent or null gives def. 0, or -EINVAL. */
static int get_int(const struct json_span *obj, const char *key, long long min, long long max,
		   long long def, long long *out)
{
	struct json_span v;

	if (json_get(obj, key, &v) < 0 || v.type == JSON_NULL) {
		*out = def;
		return 0;
	}
	return json_int(&v, min, max, out) < 0 ? -EINVAL : 0;
}

/* The fields of queryServer and listening (the worker sends the same object for both). */
static const char *parse_server(const struct json_span *obj, struct nipc_server *s)
{
	struct json_span v;
	long long x;

	memset(s, 0, sizeof(*s));
	if (json_get(obj, "address", &v) == 0 && v.type != JSON_NULL) {
		if (v.type != JSON_STRING)
			return "address is not a string";
		if (json_string(&v, s->address, sizeof(s->address)) < 0)
			return "address too long or not a C string";
		s->has_address = true;
	}
	/* dgram sends the port as it was given, often a string (listen(process.env.PORT)). */
	if (json_get(obj, "port", &v) == 0 && v.type == JSON_STRING) {
		char num[16], *end;
		if (json_string(&v, num, sizeof(num)) <= 0 || num[0] < '0' || num[0] > '9')
			return "bad port";
		errno = 0;
		x = strtoll(num, &end, 10);
		if (errno || *end || x > 65535)
			return "bad port";
	} else if (get_int(obj, "port", -1, 65535, -1, &x) < 0) {
		return "bad port";
	}
	s->port = (int)x;
	s->type = NIPC_AT_NONE;
	if (json_get(obj, "addressType", &v) == 0 && v.type != JSON_NULL) {
		if (json_int(&v, -1, 6, &x) == 0 && (x == 4 || x == 6 || x == -1))
			s->type = x == 4 ? NIPC_AT_TCP4 : x == 6 ? NIPC_AT_TCP6 : NIPC_AT_PIPE;
		else if (json_string_eq(&v, "udp4"))
			s->type = NIPC_AT_UDP4;
		else if (json_string_eq(&v, "udp6"))
			s->type = NIPC_AT_UDP6;
		else
			return "bad addressType";
	}
	if (get_int(obj, "fd", -1, INT_MAX, -1, &x) < 0)
		return "bad fd";
	s->fd = (int)x;
	if (get_int(obj, "flags", 0, INT_MAX, 0, &x) < 0)
		return "bad flags";
	s->flags = (int)x;
	/* Only a hint (the worker calls listen() with its own), and Node 20 sends `false` when
	 * the app gave none: anything but a non-negative integer is the default. */
	if (json_get(obj, "backlog", &v) == 0 && json_int(&v, 0, INT_MAX, &x) == 0)
		s->backlog = (int)x;
	if (get_int(obj, "index", 0, INT_MAX, 0, &x) < 0)
		return "bad index";
	s->index = (int)x;
	if (json_get(obj, "data", &v) == 0) {
		if (v.len >= sizeof(s->data))
			return "data too long";
		memcpy(s->data, v.p, v.len);
		s->data[v.len] = '\0';
	} else {
		strcpy(s->data, "null");
	}
	return NULL;
}

/* A NODE_CLUSTER message. */
static int cluster_event(struct nipc_conn *c, const struct json_span *obj, struct nipc_event *ev)
{
	struct json_span act, v;
	char name[NIPC_DETAIL_MAX];
	bool has_seq = false;
	const char *why;
	long long x;

	if (json_get(obj, "seq", &v) == 0) {
		if (json_int(&v, 0, UINT_MAX, &x) < 0)
			return malformed(ev, "bad seq");
		ev->seq = (unsigned)x;
		has_seq = true;
	}
	if (json_get(obj, "act", &act) < 0) {
		/* Only replies to the primary's own requests come without an act (round-robin
		 * connections, which baton does not use): nothing to do. */
		if (json_get(obj, "ack", &v) == 0) {
			ev->type = NIPC_EV_IGNORED;
			set_detail(ev, "ack");
			return 1;
		}
		ev->type = NIPC_EV_UNKNOWN;
		set_detail(ev, "(no act)");
		return 1;
	}
	if (act.type != JSON_STRING)
		return malformed(ev, "act is not a string");
	if (json_string(&act, name, sizeof(name)) < 0)
		strcpy(name, "(unreadable)");

	if (strcmp(name, "online") == 0) {
		c->online = true;
		ev->type = NIPC_EV_ONLINE;
	} else if (strcmp(name, "queryServer") == 0 || strcmp(name, "listening") == 0) {
		bool query = name[0] == 'q';
		if (!has_seq && query)
			return malformed(ev, "queryServer without seq");
		if ((why = parse_server(obj, &ev->server)) != NULL)
			return malformed(ev, why);
		ev->server.seq = ev->seq;
		ev->type = query ? NIPC_EV_QUERY_SERVER : NIPC_EV_LISTENING;
		if (query && c->draining) {
			/* Node's primary stops answering a worker on its way out. */
			ev->type = NIPC_EV_IGNORED;
			set_detail(ev, "queryServer while disconnecting");
		}
	} else if (strcmp(name, "close") == 0) {
		char key[NIPC_DETAIL_MAX];
		ev->type = NIPC_EV_CLOSE;
		if (json_get(obj, "key", &v) == 0 && json_string(&v, key, sizeof(key)) >= 0)
			set_detail(ev, key);
	} else if (strcmp(name, "exitedAfterDisconnect") == 0) {
		if (!has_seq)
			return malformed(ev, "exitedAfterDisconnect without seq");
		/* The worker closes its channel only once this is acknowledged. A full queue means
		 * a worker that does not read: it is reported, the caller fails the worker. */
		if (queue_ack(c, ev->seq) < 0)
			return malformed(ev, "output queue full");
		c->draining = true;
		ev->type = NIPC_EV_EXITED_AFTER_DISCONNECT;
	} else {
		ev->type = NIPC_EV_UNKNOWN;
		set_detail(ev, name);
	}
	return 1;
}

/* Node's isInternal(): an object whose "cmd" is a string longer than and starting with "NODE_". */
static bool internal_cmd(const struct json_span *obj, char *cmd, size_t cap)
{
	struct json_span v;
	int n;

	if (obj->type != JSON_OBJECT || json_get(obj, "cmd", &v) < 0 || v.type != JSON_STRING)
		return false;
	n = json_string(&v, cmd, cap);
	if (n == -ERANGE) {
		/* Too long to name in full; its raw start still tells whether it is internal. */
		size_t k = v.len - 2 < cap - 1 ? v.len - 2 : cap - 1;
		memcpy(cmd, v.p + 1, k);
		cmd[k] = '\0';
		n = (int)k;
	}
	return n > 5 && strncmp(cmd, "NODE_", 5) == 0;
}

static int parse_line(struct nipc_conn *c, const char *line, size_t len, struct nipc_event *ev)
{
	struct json_span top, v;
	char cmd[64];

	if (len == 0)
		return malformed(ev, "empty line");
	if (json_parse(line, len, &top) < 0)
		return malformed(ev, "not JSON");

	if (top.type == JSON_STRING) {
		/* PM2's wait_ready: the app calls process.send('ready'); and the heartbeat of
		 * --watchdog, process.send('watchdog'). */
		if (json_string_eq(&top, "ready"))
			ev->type = NIPC_EV_READY;
		else if (json_string_eq(&top, "watchdog"))
			ev->type = NIPC_EV_WATCHDOG;
		else
			ev->type = NIPC_EV_USER;
		return 1;
	}
	if (!internal_cmd(&top, cmd, sizeof(cmd))) {
		ev->type = NIPC_EV_USER;
		return 1;
	}
	if (strcmp(cmd, "NODE_CLUSTER") == 0)
		return cluster_event(c, &top, ev);
	if (strcmp(cmd, "NODE_HANDLE") == 0) {
		/* The worker sent a handle along with a message (process.send(msg, handle)). Its
		 * descriptor was closed on reception; acknowledge it anyway, or the worker would
		 * hold every later message (its listening too) waiting for our answer. */
		c->acks_owed++;
		ev->type = NIPC_EV_USER;
		if (json_get(&top, "msg", &v) == 0 && internal_cmd(&v, cmd, sizeof(cmd))) {
			ev->type = NIPC_EV_IGNORED;
			set_detail(ev, "NODE_HANDLE");
		}
		return 1;
	}
	if (strcmp(cmd, "NODE_HANDLE_ACK") == 0) {
		if (!c->awaiting_ack) {
			ev->type = NIPC_EV_IGNORED;
			set_detail(ev, "NODE_HANDLE_ACK with no handle sent");
			return 1;
		}
		c->awaiting_ack = false;
		c->nacks = 0;
		pop_head(c);
		ev->type = NIPC_EV_HANDLE_ACK;
		return 1;
	}
	if (strcmp(cmd, "NODE_HANDLE_NACK") == 0) {
		if (!c->awaiting_ack) {
			ev->type = NIPC_EV_IGNORED;
			set_detail(ev, "NODE_HANDLE_NACK with no handle sent");
			return 1;
		}
		/* Re-send the same line and fd: the head record stays, the writer starts it again. */
		c->awaiting_ack = false;
		if (c->nacks++ < NIPC_MAX_RETRANSMIT) {
			ev->type = NIPC_EV_HANDLE_NACK;
		} else {
			c->nacks = 0;
			pop_head(c);
			ev->type = NIPC_EV_HANDLE_LOST;
		}
		return 1;
	}
	/* Other internal messages (Node's socket-list bookkeeping, debugger) are not for the
	 * cluster primary; Node's primary ignores them as well. */
	ev->type = NIPC_EV_IGNORED;
	set_detail(ev, cmd);
	return 1;
}

int nipc_next_event(struct nipc_conn *c, struct nipc_event *ev)
{
	char *start, *nl;
	size_t len;

	memset(ev, 0, sizeof(*ev));
	if (c->oversized) {
		c->oversized = false;
		ev->type = NIPC_EV_OVERSIZED;
		snprintf(ev->detail, sizeof(ev->detail), "a line over %d bytes", NIPC_LINE_MAX);
		return 1;
	}
	start = c->in + c->in_off;
	nl = memchr(start, '\n', c->in_len - c->in_off);
	if (!nl) {
		ev->type = NIPC_EV_NONE;
		return 0;
	}
	len = (size_t)(nl - start);
	c->in_off += len + 1;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	return parse_line(c, start, len, ev);
}

/* ---------------------------------------------------------------- system calls */

ssize_t nipc_send(int fd, const void *buf, size_t len, int handle_fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (len == 0)
		return -EINVAL;
	if (handle_fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.b;
		msg.msg_controllen = sizeof(u.b);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &handle_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int nipc_flush(struct nipc_conn *c, int fd)
{
	for (;;) {
		const char *buf;
		size_t len;
		int hfd = -1;
		ssize_t n;

		if (c->wr == WR_NONE) {
			/* Acks first: they are what the worker's own queue waits for. */
			if (c->acks_owed > 0) {
				c->acks_owed--;
				c->wr = WR_ACK;
			} else if (out_used(c) > 0 && !c->awaiting_ack) {
				c->wr = WR_HEAD;
			} else {
				return 0;
			}
			c->wr_off = 0;
		}
		if (c->wr == WR_ACK) {
			buf = handle_ack_line;
			len = sizeof(handle_ack_line) - 1;
		} else {
			struct rec r = head_rec(c);
			buf = c->out + c->out_head + sizeof(r);
			len = r.len;
			/* The fd rides with the line's first byte; Node keeps a received handle
			 * until the NODE_HANDLE line it belongs to is complete. */
			if (c->wr_off == 0)
				hfd = r.fd;
		}
		n = nipc_send(fd, buf + c->wr_off, len - c->wr_off, hfd);
		if (n < 0)
			return (int)n;
		c->wr_off += (size_t)n;
		if (c->wr_off < len)
			return -EAGAIN; /* the socket buffer is full */
		if (c->wr == WR_HEAD) {
			if (head_rec(c).fd >= 0)
				c->awaiting_ack = true; /* kept for a re-send until ACKed */
			else
				pop_head(c);
		}
		c->wr = WR_NONE;
	}
}

ssize_t nipc_read(struct nipc_conn *c, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * RECV_FDS)];
	} u;
	struct iovec iov;
	struct msghdr msg;
	size_t room = in_prepare(c);
	ssize_t n;

	if (room == 0)
		return -ENOBUFS;
	iov.iov_base = c->in + c->in_len;
	iov.iov_len = room;
	do {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = u.b;
		msg.msg_controllen = sizeof(u.b);
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int got;
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(got);
		}
	}
	if (n > 0)
		in_commit(c, (size_t)n);
	return n;
}
