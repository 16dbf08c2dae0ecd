/*
 * libFuzzer target for every parser that reads what comes from outside baton: control socket
 * requests, Node cluster IPC lines, sd_notify datagrams, --listen addresses, seccomp profiles,
 * /etc/passwd and /etc/group lines, durations and signal names, the JSON reader, and the
 * metrics endpoint's HTTP requests. The
 * first byte picks the parser; the rest is its input. Run with `make fuzz`.
 *
 * A parser may reject anything; it must never read or write out of bounds, leak, loop, or
 * abort (ASan and UBSan, built in, turn each of those into a crash report).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "baton/config.h"
#include "baton/control.h"
#include "baton/json.h"
#include "baton/nodeipc.h"
#include "baton/notify.h"
#include "baton/prom.h"
#include "baton/sandbox.h"
#include "baton/sockets.h"

/* The input as a NUL-terminated string, for the parsers that take one. */
static char *as_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void fuzz_nodeipc(const uint8_t *data, size_t size)
{
	struct nipc_conn *c = nipc_conn_new();
	struct nipc_event ev;
	size_t off = 0;

	if (!c)
		abort();
	/* Fed in pieces of varying size, as reads split a stream anywhere. */
	while (off < size) {
		size_t piece = 1 + data[off] % 97;

		if (piece > size - off)
			piece = size - off;
		off += nipc_feed(c, data + off, piece);
		while (nipc_next_event(c, &ev) == 1)
			;
		if (piece == 0)
			break;
	}
	nipc_conn_free(c);
}

static void fuzz_json(const char *s, size_t n)
{
	struct json_span top, v;
	char buf[64];
	long long x;

	if (json_parse(s, n, &top) < 0)
		return;
	if (json_get(&top, "cmd", &v) == 0) {
		(void)json_string(&v, buf, sizeof(buf));
		(void)json_string_eq(&v, "NODE_CLUSTER");
	}
	if (json_get(&top, "seq", &v) == 0)
		(void)json_int(&v, 0, 1000000, &x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *s;
	uint8_t which;

	if (size < 1)
		return 0;
	which = data[0] % 10;
	data++;
	size--;
	s = as_string(data, size);

	switch (which) {
	case 0: {
		struct ctl_request req;

		(void)ctl_parse_request(s, size, &req, err, sizeof(err));
		break;
	}
	case 1:
		fuzz_nodeipc(data, size);
		break;
	case 2: {
		struct ntf_msg msg;

		(void)ntf_parse(s, size, &msg);
		break;
	}
	case 3: {
		struct sock_spec spec;

		(void)sock_parse(s, &spec, err, sizeof(err));
		break;
	}
	case 4: {
		struct sbx_profile prof;

		if (sbx_parse_profile(s, "fuzz.profile", &prof, err, sizeof(err)) == 0)
			sbx_profile_free(&prof);
		break;
	}
	case 5: {
		struct sbx_pwent pw;

		(void)sbx_parse_passwd_line(s, &pw);
		break;
	}
	case 6: {
		struct sbx_grent gr;

		(void)sbx_parse_group_line(s, &gr);
		break;
	}
	case 7: {
		int64_t ms;
		int sig, n;

		(void)cfg_parse_duration(s, &ms);
		(void)cfg_parse_signal(s, &sig);
		(void)ctl_parse_count(s, &n);
		break;
	}
	case 8:
		fuzz_json(s, size);
		break;
	case 9: {
		int head;
		size_t head_len;

		(void)prom_http_route(s, size, &head, &head_len);
		break;
	}
	}
	free(s);
	return 0;
}
