/*
 * nodeipc: the JSON reader, line framing, the parsing of messages captured from Node 20
 * workers, the exact replies Node 20 accepts, the output queue (handle in flight, NACK
 * re-sends, acks the worker waits for), and descriptors passed over a real socketpair.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/json.h"
#include "baton/nodeipc.h"

/* ------------------------------------------------------------------ helpers */

static struct nipc_conn *conn(void)
{
	struct nipc_conn *c = nipc_conn_new();
	assert_non_null(c);
	return c;
}

static void feed(struct nipc_conn *c, const char *s)
{
	assert_int_equal(nipc_feed(c, s, strlen(s)), strlen(s));
}

/* Feed one line and return its event; the line must produce exactly one. */
static struct nipc_event one(struct nipc_conn *c, const char *line)
{
	struct nipc_event ev, none;

	feed(c, line);
	feed(c, "\n");
	assert_int_equal(nipc_next_event(c, &ev), 1);
	assert_int_equal(nipc_next_event(c, &none), 0);
	assert_int_equal(none.type, NIPC_EV_NONE);
	return ev;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

/* Receive what is waiting on fd (bounded wait): the bytes, and the descriptors that came. */
static size_t recv_all(int fd, char *buf, size_t cap, int *fds, int *nfds)
{
	size_t got = 0;

	*nfds = 0;
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} u;
		struct iovec iov = { buf + got, cap - 1 - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				      .msg_controllen = sizeof(u.b) };
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, got ? 0 : 2000) <= 0)
			break;
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n <= 0)
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++)
				memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

static void expect_line(int fd, const char *want, int want_fds, int *fd_out)
{
	char buf[8192];
	int fds[16], nfds;

	recv_all(fd, buf, sizeof(buf), fds, &nfds);
	assert_string_equal(buf, want);
	assert_int_equal(nfds, want_fds);
	if (fd_out)
		*fd_out = nfds ? fds[0] : -1;
	else
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
}

static const char *query_plain_line =
	"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
	"\"address\":null,\"port\":18931,\"addressType\":4,\"backlog\":0,\"seq\":1}";

/* ------------------------------------------------------------------ json */

static void test_json_parse_table(void **state)
{
	static const struct {
		const char *text;
		int rc;
		enum json_type type;
	} cases[] = {
		{"null", 0, JSON_NULL},
		{" true ", 0, JSON_TRUE},
		{"false", 0, JSON_FALSE},
		{"0", 0, JSON_NUMBER},
		{"-12.5e+3", 0, JSON_NUMBER},
		{"1E9", 0, JSON_NUMBER},
		{"\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\"", 0, JSON_STRING},
		{"[]", 0, JSON_ARRAY},
		{"[1, [2, {\"a\": []}], \"x\"]", 0, JSON_ARRAY},
		{"{}", 0, JSON_OBJECT},
		{"{\"a\":1,\"b\":{\"c\":null}}", 0, JSON_OBJECT},
		{"\t\r\n{ \"a\" : 1 }\n", 0, JSON_OBJECT},
		/* invalid */
		{"", -EINVAL, JSON_INVALID},
		{"   ", -EINVAL, JSON_INVALID},
		{"nul", -EINVAL, JSON_INVALID},
		{"tru", -EINVAL, JSON_INVALID},
		{"01", -EINVAL, JSON_INVALID},
		{"-", -EINVAL, JSON_INVALID},
		{"1.", -EINVAL, JSON_INVALID},
		{"1e", -EINVAL, JSON_INVALID},
		{".5", -EINVAL, JSON_INVALID},
		{"+1", -EINVAL, JSON_INVALID},
		{"\"abc", -EINVAL, JSON_INVALID},
		{"\"a\tb\"", -EINVAL, JSON_INVALID},   /* raw control character */
		{"\"\\x\"", -EINVAL, JSON_INVALID},
		{"\"\\u12g4\"", -EINVAL, JSON_INVALID},
		{"\"\\u12\"", -EINVAL, JSON_INVALID},
		{"[1,]", -EINVAL, JSON_INVALID},
		{"[1 2]", -EINVAL, JSON_INVALID},
		{"{\"a\"}", -EINVAL, JSON_INVALID},
		{"{\"a\":1,}", -EINVAL, JSON_INVALID},
		{"{a:1}", -EINVAL, JSON_INVALID},
		{"{\"a\":1} x", -EINVAL, JSON_INVALID},
		{"{} {}", -EINVAL, JSON_INVALID},
		{"'a'", -EINVAL, JSON_INVALID},
		{"NaN", -EINVAL, JSON_INVALID},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_span v = { 0 };
		int rc = json_parse(cases[i].text, strlen(cases[i].text), &v);
		if (rc != cases[i].rc || (rc == 0 && v.type != cases[i].type))
			fail_msg("case %zu '%s': rc %d type %d", i, cases[i].text, rc, v.type);
	}
}

static void test_json_depth_bound(void **state)
{
	char text[2 * (JSON_MAX_DEPTH + 1) + 1];
	struct json_span v;
	int d;

	/* JSON_MAX_DEPTH nested arrays parse, one more is refused without recursing further. */
	for (d = JSON_MAX_DEPTH; d <= JSON_MAX_DEPTH + 1; d++) {
		memset(text, '[', (size_t)d);
		memset(text + d, ']', (size_t)d);
		text[2 * d] = '\0';
		assert_int_equal(json_parse(text, (size_t)(2 * d), &v), d == JSON_MAX_DEPTH ? 0 : -ELOOP);
	}
}

static void test_json_get_and_values(void **state)
{
	const char *t = "{\"a\":1,\"b\":\"x\",\"a\":-7,\"n\\u0061me\":\"\\ud83d\\ude00\",\"f\":1.5,"
			"\"o\":{\"a\":2},\"big\":12345678901234567890}";
	struct json_span top, v;
	long long x;
	char buf[16];

	assert_int_equal(json_parse(t, strlen(t), &top), 0);
	/* The last duplicate wins, as in JSON.parse; nested members are not found at the top. */
	assert_int_equal(json_get(&top, "a", &v), 0);
	assert_int_equal(json_int(&v, INT_MIN, INT_MAX, &x), 0);
	assert_int_equal(x, -7);
	assert_int_equal(json_get(&top, "zz", &v), -ENOENT);
	assert_int_equal(json_get(&top, "nam", &v), -ENOENT);
	/* Keys are compared decoded. */
	assert_int_equal(json_get(&top, "name", &v), 0);
	assert_int_equal(json_string(&v, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "\xf0\x9f\x98\x80", 5);
	assert_int_equal(json_string(&v, buf, 4), -ERANGE); /* 4 bytes and the NUL do not fit */
	assert_int_equal(json_get(&top, "b", &v), 0);
	assert_true(json_string_eq(&v, "x"));
	assert_false(json_string_eq(&v, "xy"));
	assert_false(json_string_eq(&v, ""));
	assert_int_equal(json_int(&v, 0, 1, &x), -EINVAL);
	assert_int_equal(json_get(&top, "f", &v), 0);
	assert_int_equal(json_int(&v, 0, 10, &x), -EINVAL);
	assert_int_equal(json_get(&top, "big", &v), 0);
	assert_int_equal(json_int(&v, 0, LLONG_MAX, &x), -ERANGE);
	assert_int_equal(json_get(&top, "o", &v), 0);
	assert_int_equal(v.type, JSON_OBJECT);
	assert_int_equal(json_get(&v, "a", &v), 0);
	assert_int_equal(json_int(&v, 0, 1, &x), -ERANGE);
	assert_int_equal(json_get(&v, "a", &v), -EINVAL); /* not an object */

	static const struct {
		const char *text;
		int rc;
	} strs[] = {
		{"\"\\u0000\"", -EILSEQ},         /* a NUL cannot be a C string */
		{"\"\\ud800\"", -EILSEQ},         /* unpaired high surrogate */
		{"\"\\udc00\"", -EILSEQ},         /* unpaired low surrogate */
		{"\"\\ud800\\u0041\"", -EILSEQ},
		{"\"\\u00e9\"", 2},
		{"\"\\u20ac\"", 3},
		{"\"\"", 0},
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		assert_int_equal(json_parse(strs[i].text, strlen(strs[i].text), &v), 0);
		assert_int_equal(json_string(&v, buf, sizeof(buf)), strs[i].rc);
	}
}

/* Every byte the writers escape reads back as itself, and the escapes are the short ones
 * JSON.parse and a reader of logs expect. */
static void test_json_escape_round_trip(void **state)
{
	char text[2 + 6 * 127 + 1], back[128], orig[128], esc[6];
	struct json_span v;
	size_t n = 0;

	(void)state;
	text[n++] = '"';
	for (int c = 1; c < 128; c++) {
		size_t k = json_escape_byte((unsigned char)c, esc);

		assert_true(k >= 1 && k <= 6);
		memcpy(text + n, esc, k);
		n += k;
		orig[c - 1] = (char)c;
	}
	text[n++] = '"';
	orig[127] = '\0';
	assert_int_equal(json_parse(text, n, &v), 0);
	assert_int_equal(v.type, JSON_STRING);
	assert_int_equal(json_string(&v, back, sizeof(back)), 127);
	assert_memory_equal(back, orig, 128);

	assert_int_equal(json_escape_byte('"', esc), 2);
	assert_memory_equal(esc, "\\\"", 2);
	assert_int_equal(json_escape_byte('\\', esc), 2);
	assert_memory_equal(esc, "\\\\", 2);
	assert_int_equal(json_escape_byte('\n', esc), 6);
	assert_memory_equal(esc, "\\u000a", 6);
	assert_int_equal(json_escape_byte(0x7f, esc), 6);
	assert_memory_equal(esc, "\\u007f", 6);
	assert_int_equal(json_escape_byte(0xc3, esc), 1); /* UTF-8 passes through */
	assert_int_equal((unsigned char)esc[0], 0xc3);
}

/* ------------------------------------------------------------------ parsing */

/* Lines as Node 20.20 workers wrote them (strace of the channel), plus hostile variants. */
static void test_parse_table(void **state)
{
	static const struct {
		const char *line;
		enum nipc_event_type type;
		unsigned seq;
		bool has_address;
		const char *address;
		int port;
		enum nipc_addr_type atype;
		int fd, backlog, index;
		const char *data;
		const char *detail;
	} cases[] = {
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}",
		 NIPC_EV_ONLINE, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		/* listen(process.env.PORT) */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		 "\"address\":null,\"port\":18931,\"addressType\":4,\"backlog\":0,\"seq\":1}",
		 NIPC_EV_QUERY_SERVER, 1, false, "", 18931, NIPC_AT_TCP4, -1, 0, 0, "null", ""},
		/* listen(port, '127.0.0.1'), second server on the same address */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":1,\"data\":null,"
		 "\"address\":\"127.0.0.1\",\"port\":18932,\"addressType\":4,\"flags\":0,"
		 "\"backlog\":false,\"seq\":3}",
		 NIPC_EV_QUERY_SERVER, 3, true, "127.0.0.1", 18932, NIPC_AT_TCP4, -1, 0, 1, "null", ""},
		/* listen('/path') */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		 "\"address\":\"/tmp/nx/sock.s\",\"port\":-1,\"addressType\":-1,\"backlog\":0,\"seq\":4}",
		 NIPC_EV_QUERY_SERVER, 4, true, "/tmp/nx/sock.s", -1, NIPC_AT_PIPE, -1, 0, 0, "null", ""},
		/* https.createServer().listen(port, '::1'): TLS ticket keys as data */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":{\"ticketKeys\":"
		 "\"ce8809c2a66dae4f777182ade700792b\"},\"address\":\"::1\",\"port\":18932,"
		 "\"addressType\":6,\"flags\":0,\"backlog\":false,\"seq\":1}",
		 NIPC_EV_QUERY_SERVER, 1, true, "::1", 18932, NIPC_AT_TCP6, -1, 0, 0,
		 "{\"ticketKeys\":\"ce8809c2a66dae4f777182ade700792b\"}", ""},
		/* dgram.bind(process.env.PORT): the port stays a string */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		 "\"address\":\"0.0.0.0\",\"port\":\"18932\",\"addressType\":\"udp4\",\"fd\":-1,"
		 "\"flags\":0,\"seq\":1}",
		 NIPC_EV_QUERY_SERVER, 1, true, "0.0.0.0", 18932, NIPC_AT_UDP4, -1, 0, 0, "null", ""},
		/* listen({fd: 3}) */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		 "\"address\":null,\"port\":null,\"addressType\":null,\"fd\":3,\"backlog\":511,\"seq\":2}",
		 NIPC_EV_QUERY_SERVER, 2, false, "", -1, NIPC_AT_NONE, 3, 511, 0, "null", ""},
		/* listen(0, ...): listening says which port */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"listening\",\"index\":0,\"data\":null,"
		 "\"address\":\"127.0.0.1\",\"port\":36867,\"addressType\":4,\"flags\":0,"
		 "\"backlog\":false,\"seq\":2}",
		 NIPC_EV_LISTENING, 2, true, "127.0.0.1", 36867, NIPC_AT_TCP4, -1, 0, 0, "null", ""},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"close\",\"key\":\"null:18931:4:undefined:0\",\"seq\":3}",
		 NIPC_EV_CLOSE, 3, false, "", 0, 0, 0, 0, 0, "", "null:18931:4:undefined:0"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":9}",
		 NIPC_EV_EXITED_AFTER_DISCONNECT, 9, false, "", 0, 0, 0, 0, 0, "", ""},
		/* app messages */
		{"\"ready\"", NIPC_EV_READY, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"\"rea\\u0064y\"", NIPC_EV_READY, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"\"ready \"", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"\"watchdog\"", NIPC_EV_WATCHDOG, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"\"watchdogs\"", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"{\"cmd\":\"ready\"}", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"{\"hello\":\"world\",\"n\":[1,2.5,null]}", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"42", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"null", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"{\"cmd\":\"NODE_\"}", NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		{"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"my\":\"handle\"}}",
		 NIPC_EV_USER, 0, false, "", 0, 0, 0, 0, 0, "", ""},
		/* internal messages that need nothing */
		{"{\"cmd\":\"NODE_HANDLE_ACK\"}", NIPC_EV_IGNORED, 0, false, "", 0, 0, 0, 0, 0, "",
		 "NODE_HANDLE_ACK with no handle sent"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"ack\":3,\"accepted\":true,\"seq\":4}",
		 NIPC_EV_IGNORED, 4, false, "", 0, 0, 0, 0, 0, "", "ack"},
		{"{\"cmd\":\"NODE_SOCKET_COUNT\",\"key\":\"k\"}", NIPC_EV_IGNORED, 0, false, "", 0, 0, 0, 0, 0,
		 "", "NODE_SOCKET_COUNT"},
		/* another version of the protocol */
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"frobnicate\",\"seq\":3}",
		 NIPC_EV_UNKNOWN, 3, false, "", 0, 0, 0, 0, 0, "", "frobnicate"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"bad\\u0001\\nname\",\"seq\":3}",
		 NIPC_EV_UNKNOWN, 3, false, "", 0, 0, 0, 0, 0, "", "bad??name"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"seq\":1}", NIPC_EV_UNKNOWN, 1, false, "", 0, 0, 0, 0, 0, "",
		 "(no act)"},
		/* broken */
		{"", NIPC_EV_MALFORMED, 0, false, "", 0, 0, 0, 0, 0, "", "empty line"},
		{"{", NIPC_EV_MALFORMED, 0, false, "", 0, 0, 0, 0, 0, "", "not JSON"},
		{"{\"cmd\":\"NODE_CLUSTER\"} x", NIPC_EV_MALFORMED, 0, false, "", 0, 0, 0, 0, 0, "", "not JSON"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":5,\"seq\":1}", NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0,
		 0, "", "act is not a string"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":-1}", NIPC_EV_MALFORMED, 0, false, "",
		 0, 0, 0, 0, 0, "", "bad seq"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":1.5}", NIPC_EV_MALFORMED, 0, false, "",
		 0, 0, 0, 0, 0, "", "bad seq"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"port\":80,\"addressType\":4}",
		 NIPC_EV_MALFORMED, 0, false, "", 0, 0, 0, 0, 0, "", "queryServer without seq"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"port\":70000,\"addressType\":4,\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad port"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"port\":\"80x\",\"addressType\":4,\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad port"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"port\":80,\"addressType\":\"tcp\",\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad addressType"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"port\":80,\"addressType\":5,\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad addressType"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"address\":5,\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "address is not a string"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"address\":\"a\\u0000b\",\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "address too long or not a C string"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"fd\":\"3\",\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad fd"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"flags\":true,\"seq\":1}",
		 NIPC_EV_MALFORMED, 1, false, "", 0, 0, 0, 0, 0, "", "bad flags"},
		{"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\"}",
		 NIPC_EV_MALFORMED, 0, false, "", 0, 0, 0, 0, 0, "", "exitedAfterDisconnect without seq"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nipc_conn *c = conn();
		struct nipc_event ev = one(c, cases[i].line);
		bool server = ev.type == NIPC_EV_QUERY_SERVER || ev.type == NIPC_EV_LISTENING;

		if (ev.type != cases[i].type || ev.seq != cases[i].seq ||
		    strcmp(ev.detail, cases[i].detail) != 0)
			fail_msg("case %zu '%s': type %s seq %u detail '%s'", i, cases[i].line,
				 nipc_event_name(ev.type), ev.seq, ev.detail);
		if (server &&
		    (ev.server.has_address != cases[i].has_address ||
		     strcmp(ev.server.address, cases[i].address) != 0 ||
		     ev.server.port != cases[i].port || ev.server.type != cases[i].atype ||
		     ev.server.fd != cases[i].fd || ev.server.backlog != cases[i].backlog ||
		     ev.server.index != cases[i].index || ev.server.seq != cases[i].seq ||
		     strcmp(ev.server.data, cases[i].data) != 0))
			fail_msg("case %zu: server %d '%s' port %d type %d fd %d backlog %d index %d "
				 "data '%s'", i, ev.server.has_address, ev.server.address,
				 ev.server.port, ev.server.type, ev.server.fd, ev.server.backlog,
				 ev.server.index, ev.server.data);
		nipc_conn_free(c);
	}
}

/* listen({port, host: '::', ipv6Only: true}): the bind flag the socket must honour. */
static void test_parse_flags(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev;

	ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		    "\"address\":\"::\",\"port\":18932,\"addressType\":6,\"flags\":1,\"backlog\":0,"
		    "\"seq\":1}");
	assert_int_equal(ev.type, NIPC_EV_QUERY_SERVER);
	assert_int_equal(ev.server.flags, 1);
	assert_int_equal(ev.server.type, NIPC_AT_TCP6);
	assert_string_equal(ev.server.address, "::");
	ev = one(c, query_plain_line);
	assert_int_equal(ev.server.flags, 0);
	nipc_conn_free(c);
}

static void test_online_flag(void **state)
{
	struct nipc_conn *c = conn();

	assert_false(nipc_online(c));
	one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}");
	assert_true(nipc_online(c));
	nipc_conn_free(c);
	nipc_conn_free(NULL);
}

/* ------------------------------------------------------------------ framing */

static const char *stream =
	"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}\n"
	"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
	"\"address\":null,\"port\":18931,\"addressType\":4,\"backlog\":0,\"seq\":1}\n"
	"{\"cmd\":\"NODE_HANDLE_ACK\"}\n"
	"\"ready\"\n"
	"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"listening\",\"index\":0,\"data\":null,"
	"\"address\":null,\"port\":18931,\"addressType\":4,\"backlog\":0,\"seq\":2}\n";

static const enum nipc_event_type stream_types[] = {
	NIPC_EV_ONLINE, NIPC_EV_QUERY_SERVER, NIPC_EV_IGNORED, NIPC_EV_READY, NIPC_EV_LISTENING,
};

/* The same stream cut in every chunk size gives the same events, in order. */
static void test_framing_chunks(void **state)
{
	size_t len = strlen(stream);

	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct nipc_conn *c = conn();
		struct nipc_event ev;
		size_t n = 0;

		for (size_t off = 0; off < len; off += chunk) {
			size_t k = len - off < chunk ? len - off : chunk;
			assert_int_equal(nipc_feed(c, stream + off, k), k);
			while (nipc_next_event(c, &ev) == 1) {
				assert_true(n < 5);
				if (ev.type != stream_types[n])
					fail_msg("chunk %zu event %zu: %s", chunk, n,
						 nipc_event_name(ev.type));
				n++;
			}
		}
		assert_int_equal(n, 5);
		nipc_conn_free(c);
	}
}

static void test_framing_partial_line_kept(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev;

	feed(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}\n{\"cmd\":\"NODE_CL");
	assert_int_equal(nipc_next_event(c, &ev), 1);
	assert_int_equal(ev.type, NIPC_EV_ONLINE);
	assert_int_equal(nipc_next_event(c, &ev), 0);
	assert_int_equal(nipc_next_event(c, &ev), 0); /* asking again changes nothing */
	feed(c, "USTER\",\"act\":\"close\",\"key\":\"k\",\"seq\":5}");
	assert_int_equal(nipc_next_event(c, &ev), 0);
	feed(c, "\n");
	assert_int_equal(nipc_next_event(c, &ev), 1);
	assert_int_equal(ev.type, NIPC_EV_CLOSE);
	assert_int_equal(ev.seq, 5);
	assert_string_equal(ev.detail, "k");
	nipc_conn_free(c);
}

/* A JSON string line of exactly `len` bytes before its newline. */
static char *string_line(size_t len)
{
	char *s = malloc(len + 2);
	assert_non_null(s);
	memset(s, 'a', len);
	s[0] = '"';
	s[len - 1] = '"';
	s[len] = '\n';
	s[len + 1] = '\0';
	return s;
}

static void test_framing_oversized(void **state)
{
	static const size_t chunks[] = { 1000, 4096, NIPC_LINE_MAX, 3 * NIPC_LINE_MAX };
	const char *after = "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}\n";

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct nipc_conn *c = conn();
		struct nipc_event ev;
		char *big = string_line(NIPC_LINE_MAX + 5000);
		char *fits = string_line(NIPC_LINE_MAX - 1); /* with its newline: exactly the limit */
		size_t len = strlen(big), types[3], n = 0;

		for (size_t off = 0; off < len; off += chunks[i]) {
			size_t k = len - off < chunks[i] ? len - off : chunks[i];
			assert_int_equal(nipc_feed(c, big + off, k), k);
			while (nipc_next_event(c, &ev) == 1)
				types[n++] = ev.type;
		}
		feed(c, after);
		while (nipc_next_event(c, &ev) == 1)
			types[n++] = ev.type;
		assert_int_equal(n, 2);
		assert_int_equal(types[0], NIPC_EV_OVERSIZED);
		assert_int_equal(types[1], NIPC_EV_ONLINE);

		/* The longest line allowed still goes through, after the oversized one. */
		size_t fl = strlen(fits), off = 0;
		while (off < fl) {
			off += nipc_feed(c, fits + off, fl - off);
			while (nipc_next_event(c, &ev) == 1)
				assert_int_equal(ev.type, NIPC_EV_USER);
		}
		assert_int_equal(nipc_next_event(c, &ev), 0);
		free(big);
		free(fits);
		nipc_conn_free(c);
	}
}

/* More complete lines than the buffer holds: nipc_feed takes what fits, nothing is lost. */
static void test_framing_backpressure(void **state)
{
	const char *line = "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"close\",\"key\":\"k\",\"seq\":1}\n";
	size_t ll = strlen(line), count = 3 * NIPC_LINE_MAX / ll + 7, len = ll * count;
	char *all = malloc(len);
	struct nipc_conn *c = conn();
	struct nipc_event ev;
	size_t off = 0, events = 0, short_feeds = 0;

	assert_non_null(all);
	for (size_t i = 0; i < count; i++)
		memcpy(all + i * ll, line, ll);
	while (off < len) {
		size_t k = nipc_feed(c, all + off, len - off);
		if (k < len - off)
			short_feeds++;
		off += k;
		while (nipc_next_event(c, &ev) == 1) {
			assert_int_equal(ev.type, NIPC_EV_CLOSE);
			events++;
		}
	}
	assert_int_equal(events, count);
	assert_true(short_feeds >= 2);
	free(all);
	nipc_conn_free(c);
}

/* ------------------------------------------------------------------ replies and fds */


/* The reply Node 20's primary sent in the strace, byte for byte, with a working fd. */
static void test_reply_with_handle_and_disconnect(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev = one(c, query_plain_line);
	int sv[2], pfd[2], got;
	char buf[16];

	pair(sv);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(ev.type, NIPC_EV_QUERY_SERVER);
	assert_false(nipc_want_write(c));
	assert_int_equal(nipc_reply_server(c, &ev.server, pfd[1], NULL), 0);
	/* Queued behind the handle until its ACK. */
	assert_int_equal(nipc_disconnect(c), 0);
	assert_int_equal(nipc_disconnect(c), 0); /* once only */
	assert_true(nipc_want_write(c));
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	assert_false(nipc_want_write(c));
	expect_line(sv[1],
		    "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		    "\"errno\":0,\"key\":\"null:18931:4:undefined:0\",\"ack\":1,\"data\":null,"
		    "\"seq\":0}}\n", 1, &got);

	/* The descriptor that arrived is the pipe. */
	assert_int_equal(write(got, "via fd", 6), 6);
	close(got);
	close(pfd[1]);
	assert_int_equal(read(pfd[0], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "via fd", 6);
	close(pfd[0]);

	assert_int_equal(nipc_flush(c, sv[0]), 0); /* still held */
	ev = one(c, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
	assert_int_equal(ev.type, NIPC_EV_HANDLE_ACK);
	assert_true(nipc_want_write(c));
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1], "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"disconnect\",\"seq\":1}\n", 0, NULL);

	/* After the disconnect Node's primary answers no queryServer: neither do we. */
	ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":1,\"data\":null,"
		    "\"address\":null,\"port\":80,\"addressType\":4,\"backlog\":0,\"seq\":7}");
	assert_int_equal(ev.type, NIPC_EV_IGNORED);
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

static void test_reply_error_and_data(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev;
	int sv[2];

	pair(sv);
	ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,"
		    "\"address\":\"127.0.0.1\",\"port\":8080,\"addressType\":4,\"flags\":0,"
		    "\"backlog\":false,\"seq\":1}");
	assert_int_equal(nipc_reply_server_error(c, &ev.server, -EADDRINUSE), 0);
	assert_int_equal(nipc_reply_server_error(c, &ev.server, 0), -EINVAL);
	assert_int_equal(nipc_reply_server(c, &ev.server, -1, NULL), -EINVAL);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1],
		    "{\"cmd\":\"NODE_CLUSTER\",\"errno\":-98,\"key\":\"127.0.0.1:8080:4:undefined:0\","
		    "\"ack\":1,\"data\":null,\"seq\":0}\n", 0, NULL);

	/* data: the query's own by default, or the one given (the first worker's for a key). */
	ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":"
		    "{\"ticketKeys\":\"00ff\"},\"address\":\"::1\",\"port\":443,\"addressType\":6,"
		    "\"flags\":0,\"backlog\":false,\"seq\":4}");
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, NULL), 0);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1],
		    "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		    "\"errno\":0,\"key\":\"::1:443:6:undefined:0\",\"ack\":4,"
		    "\"data\":{\"ticketKeys\":\"00ff\"},\"seq\":1}}\n", 1, NULL);
	one(c, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
	ev.server.seq = 5;
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, "{\"ticketKeys\":\"abcd\"}"), 0);
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, "{\"a\":"), -EINVAL);
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, "{\n}"), -EINVAL);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1],
		    "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		    "\"errno\":0,\"key\":\"::1:443:6:undefined:0\",\"ack\":5,"
		    "\"data\":{\"ticketKeys\":\"abcd\"},\"seq\":2}}\n", 1, NULL);
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

/* Whatever the address holds, the reply stays one valid JSON line naming it. */
static void test_reply_key_escaping(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_server q;
	struct json_span top, msg, key;
	char buf[8192], decoded[600];
	int sv[2], fds[4], nfds;
	size_t n;

	pair(sv);
	memset(&q, 0, sizeof(q));
	q.has_address = true;
	strcpy(q.address, "/tmp/a \"b\"\\c\n\x01\x7f\xc3\xa9");
	q.port = -1;
	q.type = NIPC_AT_PIPE;
	q.fd = -1;
	q.index = 2;
	q.seq = 12;
	strcpy(q.data, "null");
	assert_int_equal(nipc_reply_server(c, &q, 0, NULL), 0);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	n = recv_all(sv[1], buf, sizeof(buf), fds, &nfds);
	assert_int_equal(nfds, 1);
	close(fds[0]);
	assert_true(n > 1 && buf[n - 1] == '\n');
	assert_null(memchr(buf, '\n', n - 1));
	assert_int_equal(json_parse(buf, n - 1, &top), 0);
	assert_int_equal(json_get(&top, "msg", &msg), 0);
	assert_int_equal(json_get(&msg, "key", &key), 0);
	assert_true(json_string(&key, decoded, sizeof(decoded)) > 0);
	assert_string_equal(decoded, "/tmp/a \"b\"\\c\n\x01\x7f\xc3\xa9:-1:-1:undefined:2");

	/* The longest address, all of it needing escapes, still fits in one line. */
	memset(q.address, '"', sizeof(q.address) - 1);
	q.address[sizeof(q.address) - 1] = '\0';
	one(c, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
	assert_int_equal(nipc_reply_server(c, &q, 0, NULL), 0);
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

/* NODE_HANDLE_NACK re-sends the same line and fd, three times, then gives up. */
static void test_nack_retransmits(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev = one(c, query_plain_line);
	const char *want =
		"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		"\"errno\":0,\"key\":\"null:18931:4:undefined:0\",\"ack\":1,\"data\":null,\"seq\":0}}\n";
	int sv[2];

	pair(sv);
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, NULL), 0);
	assert_int_equal(nipc_disconnect(c), 0);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1], want, 1, NULL);
	for (int i = 0; i < NIPC_MAX_RETRANSMIT; i++) {
		ev = one(c, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
		assert_int_equal(ev.type, NIPC_EV_HANDLE_NACK);
		assert_true(nipc_want_write(c));
		assert_int_equal(nipc_flush(c, sv[0]), 0);
		expect_line(sv[1], want, 1, NULL);
	}
	ev = one(c, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
	assert_int_equal(ev.type, NIPC_EV_HANDLE_LOST);
	/* The queue moves on. */
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1], "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"disconnect\",\"seq\":1}\n", 0, NULL);
	ev = one(c, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
	assert_int_equal(ev.type, NIPC_EV_IGNORED);
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

/* The acks a worker waits for are queued by the parser, and a handle ack goes out even while
 * our own handle waits for its ack. A handle the worker sends is closed on reception. */
static void test_auto_acks_and_received_fds(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev = one(c, query_plain_line);
	const char *handle_msg =
		"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"my\":\"handle\"}}\n";
	int sv[2], pfd[2], cnt = 0;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)handle_msg, strlen(handle_msg) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	char b;

	pair(sv);
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, NULL), 0);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1],
		    "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		    "\"errno\":0,\"key\":\"null:18931:4:undefined:0\",\"ack\":1,\"data\":null,"
		    "\"seq\":0}}\n", 1, NULL);

	/* The worker sends a pipe's write end along with a message. */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pfd[1], sizeof(int));
	assert_int_equal(sendmsg(sv[1], &msg, 0), (ssize_t)strlen(handle_msg));
	close(pfd[1]);
	assert_int_equal(nipc_read(c, sv[0]), (ssize_t)strlen(handle_msg));
	/* Our copy was closed: the pipe has no writer left. */
	assert_int_equal(read(pfd[0], &b, 1), 0);
	close(pfd[0]);
	while (nipc_next_event(c, &ev) == 1) {
		assert_int_equal(ev.type, NIPC_EV_USER);
		cnt++;
	}
	assert_int_equal(cnt, 1);
	assert_true(nipc_want_write(c));
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1], "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", 0, NULL);

	/* exitedAfterDisconnect: the worker waits for this ack before closing its channel. */
	one(c, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
	ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":9}");
	assert_int_equal(ev.type, NIPC_EV_EXITED_AFTER_DISCONNECT);
	assert_int_equal(nipc_flush(c, sv[0]), 0);
	expect_line(sv[1], "{\"cmd\":\"NODE_CLUSTER\",\"ack\":9,\"seq\":1}\n", 0, NULL);

	/* Read: nothing there, then the end of file. */
	assert_int_equal(nipc_read(c, sv[0]), -EAGAIN);
	close(sv[1]);
	assert_int_equal(nipc_read(c, sv[0]), 0);
	assert_int_equal(nipc_flush(c, sv[0]), 0); /* nothing to write is not an error */
	assert_int_equal(nipc_disconnect(c), 0);
	assert_int_equal(nipc_flush(c, sv[0]), -EPIPE);
	close(sv[0]);
	nipc_conn_free(c);
}

/* A full channel: flush says -EAGAIN and keeps its place; later the worker gets every byte,
 * in order, and the fd exactly once. */
static void test_flush_eagain(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev = one(c, query_plain_line);
	static char junk[1 << 20], buf[(1 << 20) + 8192];
	int sv[2], fds[8], nfds, sz = 4096;
	size_t filled = 0, got = 0;
	ssize_t n;
	const char *want =
		"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\","
		"\"errno\":0,\"key\":\"null:18931:4:undefined:0\",\"ack\":1,\"data\":null,\"seq\":0}}\n";
	int total_fds = 0, r;

	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(junk, 'j', sizeof(junk));
	while ((n = nipc_send(sv[0], junk, sizeof(junk) - filled, -1)) > 0)
		filled += (size_t)n;
	assert_int_equal(n, -EAGAIN);
	assert_int_equal(nipc_reply_server(c, &ev.server, 0, NULL), 0);
	assert_int_equal(nipc_flush(c, sv[0]), -EAGAIN);
	assert_true(nipc_want_write(c));
	/* Drain the worker's side a bit at a time, flushing in between. */
	for (int rounds = 0; rounds < 100000; rounds++) {
		size_t k = recv_all(sv[1], buf + got, sizeof(buf) - got, fds, &nfds);
		got += k;
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		total_fds += nfds;
		r = nipc_flush(c, sv[0]);
		assert_true(r == 0 || r == -EAGAIN);
		if (r == 0 && got >= filled + strlen(want))
			break;
	}
	got += recv_all(sv[1], buf + got, sizeof(buf) - got, fds, &nfds);
	total_fds += nfds;
	assert_int_equal(got, filled + strlen(want));
	assert_memory_equal(buf + filled, want, strlen(want));
	assert_int_equal(total_fds, 1);
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

static void test_queue_bounded(void **state)
{
	struct nipc_conn *c = conn();
	struct nipc_event ev = one(c, query_plain_line);
	int i, r = 0;

	/* Nothing is flushed: the queue fills and says so instead of growing. */
	for (i = 0; i < 10000 && (r = nipc_reply_server(c, &ev.server, 0, NULL)) == 0; i++)
		;
	assert_int_equal(r, -ENOBUFS);
	assert_true(i >= 16);
	/* An exitedAfterDisconnect that cannot be acknowledged is reported, not dropped. */
	for (i = 0; i < 100; i++) {
		ev = one(c, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":9}");
		if (ev.type != NIPC_EV_EXITED_AFTER_DISCONNECT)
			break;
	}
	assert_int_equal(ev.type, NIPC_EV_MALFORMED);
	assert_string_equal(ev.detail, "output queue full");
	assert_int_equal(nipc_disconnect(c), -ENOBUFS);
	nipc_conn_free(c);
}

static void test_send_args(void **state)
{
	int sv[2];

	pair(sv);
	assert_int_equal(nipc_send(sv[0], "x", 0, -1), -EINVAL);
	assert_int_equal(nipc_send(-1, "x", 1, -1), -EBADF);
	assert_int_equal(nipc_send(sv[0], "x", 1, 9999), -EBADF); /* not an open fd */
	close(sv[1]);
	assert_int_equal(nipc_send(sv[0], "x", 1, -1), -EPIPE); /* and no SIGPIPE */
	close(sv[0]);
}

/* Whatever a worker writes, every line gives one well-formed event: a fixed-seed mix of
 * real messages with bytes flipped, cut, and spliced (run under ASan/UBSan by SANITIZE). */
static void test_garbage_in(void **state)
{
	static const char *seeds[] = {
		"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":{\"ticketKeys\":"
		"\"ce88\"},\"address\":\"::1\",\"port\":18932,\"addressType\":6,\"flags\":0,"
		"\"backlog\":false,\"seq\":1}",
		"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"my\":[\"h\\u00e9\",1e5]}}",
		"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":9}",
		"\"ready\"",
		"{\"cmd\":\"NODE_HANDLE_NACK\"}",
		"[[[[[[[[[[{\"a\":[[[[[[[[]]]]]]]]}]]]]]]]]]]",
	};
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefnrtNODE_ \t-.eE+";
	struct nipc_conn *c = conn();
	unsigned x = 12345;
	char line[512];
	int sv[2];

	pair(sv);
	for (int i = 0; i < 200000; i++) {
		const char *seed = seeds[i % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(seed);
		struct nipc_event ev;

		memcpy(line, seed, n);
		for (int k = 0; k < 1 + i % 4; k++) {
			x = x * 1103515245u + 12345u;
			size_t at = (x >> 8) % n;
			x = x * 1103515245u + 12345u;
			switch ((x >> 8) % 4) {
			case 0: line[at] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)]; break;
			case 1: n = at + 1; break;                            /* cut */
			case 2: line[at] = (char)(x >> 16); break;            /* any byte */
			case 3: if (n < sizeof(line) - 8) { memmove(line + at + 1, line + at, n - at);
					line[at] = '"'; n++; } break;
			}
		}
		for (size_t k = 0; k < n; k++)
			if (line[k] == '\n')
				line[k] = ' ';
		line[n++] = '\n';
		assert_int_equal(nipc_feed(c, line, n), n);
		assert_int_equal(nipc_next_event(c, &ev), 1);
		assert_true(ev.type > NIPC_EV_NONE && ev.type <= NIPC_EV_OVERSIZED);
		for (const char *d = ev.detail; *d; d++)
			assert_true(*d >= 0x20 && *d < 0x7f);
		assert_int_equal(nipc_next_event(c, &ev), 0);
		/* Keep the queue from filling: let the writer run and the peer read. */
		if (nipc_want_write(c))
			nipc_flush(c, sv[0]);
		char sink[4096];
		while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	close(sv[0]);
	close(sv[1]);
	nipc_conn_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_parse_table),
		cmocka_unit_test(test_json_depth_bound),
		cmocka_unit_test(test_json_get_and_values),
		cmocka_unit_test(test_json_escape_round_trip),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_flags),
		cmocka_unit_test(test_online_flag),
		cmocka_unit_test(test_framing_chunks),
		cmocka_unit_test(test_framing_partial_line_kept),
		cmocka_unit_test(test_framing_oversized),
		cmocka_unit_test(test_framing_backpressure),
		cmocka_unit_test(test_reply_with_handle_and_disconnect),
		cmocka_unit_test(test_reply_error_and_data),
		cmocka_unit_test(test_reply_key_escaping),
		cmocka_unit_test(test_nack_retransmits),
		cmocka_unit_test(test_auto_acks_and_received_fds),
		cmocka_unit_test(test_flush_eagain),
		cmocka_unit_test(test_queue_bounded),
		cmocka_unit_test(test_send_args),
		cmocka_unit_test(test_garbage_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
