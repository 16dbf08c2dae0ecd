/*
 * sockets: --listen addresses, parsed without a resolver and bound once for all workers.
 *
 * Numeric addresses are read with inet_pton rather than getaddrinfo(AI_NUMERICHOST): the
 * result is the same for the forms we accept, inet_pton refuses the odd legacy spellings
 * ("127.1", "0x7f.1") that getaddrinfo still takes, and it keeps the static binary free of
 * glibc's "getaddrinfo needs the shared NSS libraries at run time" caveat.
 */
#include "baton/decimal.h"
#include "baton/sockets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longer --listen values are certainly mistakes; the bound keeps the copies on the stack. */
#define TEXT_MAX 512

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool name_char_ok(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* 1..65535, digits only. 0 or -EINVAL. */
static int parse_port(const char *s, int *port)
{
	uint64_t v;

	if (dec_parse_str(s, 65535, &v) < 0 || v < 1)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

/* A numeric IPv6 address with an optional %scope (interface name or index). */
static int parse_ip6(const char *host, struct sock_spec *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *pct = strchr(host, '%');
	size_t len = pct ? (size_t)(pct - host) : strlen(host);

	if (len == 0 || len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, host, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET6, addr, &out->addr6) != 1)
		return -EINVAL;
	out->scope_id = 0;
	if (pct) {
		const char *scope = pct + 1;
		char *end;
		unsigned long idx;

		if (!*scope)
			return -EINVAL;
		errno = 0;
		idx = strtoul(scope, &end, 10);
		if (isdigit((unsigned char)*scope) && !*end && !errno && idx <= UINT32_MAX)
			out->scope_id = (uint32_t)idx;
		else if ((out->scope_id = if_nametoindex(scope)) == 0)
			return -EINVAL;
	}
	out->family = AF_INET6;
	return 0;
}

/* A numeric IPv4 address, or "localhost". */
static int parse_ip4(const char *host, struct sock_spec *out)
{
	if (strcasecmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &out->addr4) != 1)
		return -EINVAL;
	out->family = AF_INET;
	return 0;
}

/* PORT, :PORT, HOST:PORT or [IPV6]:PORT. */
static int parse_tcp(const char *orig, char *addr, struct sock_spec *out, char *err,
		     size_t errlen)
{
	char *host, *port;

	out->kind = SOCK_KIND_TCP;
	if (addr[0] == '[') {
		char *close = strchr(addr, ']');

		if (!close) {
			say(err, errlen, "listen address '%.100s': missing ']' after the IPv6 address",
			    orig);
			return -EINVAL;
		}
		if (close[1] != ':') {
			say(err, errlen, "listen address '%.100s': expected ':PORT' after ']'", orig);
			return -EINVAL;
		}
		*close = '\0';
		host = addr + 1;
		port = close + 2;
		if (parse_ip6(host, out) < 0) {
			say(err, errlen, "listen address '%.100s': '%s' is not a numeric IPv6 address",
			    orig, host);
			return -EINVAL;
		}
	} else {
		char *colon = strrchr(addr, ':');

		if (!colon) {
			host = NULL;
			port = addr;
		} else {
			if (strchr(addr, ':') != colon || strchr(addr, ']')) {
				say(err, errlen,
				    "listen address '%.100s': an IPv6 address needs brackets, as in "
				    "[::1]:8080",
				    orig);
				return -EINVAL;
			}
			*colon = '\0';
			host = addr;
			port = colon + 1;
		}
		if (!host || !*host) {
			out->family = AF_UNSPEC;
		} else if (parse_ip4(host, out) < 0) {
			say(err, errlen,
			    "listen address '%.100s': '%s' is not a numeric IPv4 address (host names "
			    "other than localhost are not resolved)",
			    orig, host);
			return -EINVAL;
		}
	}
	if (parse_port(port, &out->port) < 0) {
		say(err, errlen, "listen address '%.100s': port '%s' is not a number from 1 to 65535",
		    orig, port);
		return -EINVAL;
	}
	return 0;
}

static void default_name(struct sock_spec *out)
{
	if (out->kind == SOCK_KIND_TCP) {
		snprintf(out->name, sizeof(out->name), "tcp-%d", out->port);
	} else {
		const char *base = strrchr(out->path, '/');
		char *p;

		base = base && base[1] ? base + 1 : "socket";
		snprintf(out->name, sizeof(out->name), "unix-%s", base);
		for (p = out->name; *p; p++)
			if (!name_char_ok((unsigned char)*p))
				*p = '_';
	}
}

int sock_parse(const char *text, struct sock_spec *out, char *err, size_t errlen)
{
	char buf[TEXT_MAX + 1], *addr, *eq;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		say(err, errlen, "listen address is empty");
		return -EINVAL;
	}
	len = strlen(text);
	if (len > TEXT_MAX) {
		say(err, errlen, "listen address '%.40s...' is too long", text);
		return -EINVAL;
	}
	memcpy(buf, text, len + 1);

	/* The last '=' starts the name: a unix path containing '=' needs an explicit name. */
	eq = strrchr(buf, '=');
	if (eq) {
		const char *name = eq + 1;
		size_t i, n = strlen(name);

		if (n == 0 || n > SOCK_NAME_MAX) {
			say(err, errlen, "listen address '%.100s': the name after '=' must be 1 to %d "
				     "characters", text, SOCK_NAME_MAX);
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (!name_char_ok((unsigned char)name[i])) {
				say(err, errlen,
				    "listen address '%.100s': the name may only contain letters, digits, "
				    "'_', '.' and '-'",
				    text);
				return -EINVAL;
			}
		}
		memcpy(out->name, name, n + 1);
		*eq = '\0';
	}
	addr = buf;

	if (strncmp(addr, "unix:", 5) == 0) {
		const char *path = addr + 5;

		out->kind = SOCK_KIND_UNIX;
		out->family = AF_UNIX;
		if (path[0] != '/') {
			say(err, errlen, "listen address '%.100s': a unix socket needs an absolute path",
			    text);
			return -EINVAL;
		}
		if (strlen(path) > SOCK_PATH_MAX) {
			say(err, errlen,
			    "listen address '%.100s': a unix socket path is at most %zu characters",
			    text, (size_t)SOCK_PATH_MAX);
			return -EINVAL;
		}
		strcpy(out->path, path);
	} else {
		if (strncmp(addr, "tcp://", 6) == 0)
			addr += 6;
		if (!*addr) {
			say(err, errlen, "listen address '%.100s': no port", text);
			return -EINVAL;
		}
		if (parse_tcp(text, addr, out, err, errlen) < 0)
			return -EINVAL;
	}
	if (!out->name[0])
		default_name(out);
	return 0;
}

int sock_describe(const struct sock_spec *spec, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (len == 0)
		return -ENOSPC;
	if (spec->kind == SOCK_KIND_UNIX) {
		n = snprintf(buf, len, "unix:%s", spec->path);
	} else if (spec->family == AF_INET) {
		inet_ntop(AF_INET, &spec->addr4, host, sizeof(host));
		n = snprintf(buf, len, "%s:%d", host, spec->port);
	} else if (spec->family == AF_INET6) {
		inet_ntop(AF_INET6, &spec->addr6, host, sizeof(host));
		if (spec->scope_id)
			n = snprintf(buf, len, "[%s%%%u]:%d", host, (unsigned)spec->scope_id,
				     spec->port);
		else
			n = snprintf(buf, len, "[%s]:%d", host, spec->port);
	} else {
		n = snprintf(buf, len, "*:%d", spec->port);
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int sock_somaxconn(void)
{
	char buf[32];
	ssize_t n;
	long v;
	int fd = open("/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return SOMAXCONN;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return SOMAXCONN;
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	if (v < 1)
		return SOMAXCONN;
	return v > 65535 ? 65535 : (int)v;
}

/* A readable reason for the bind errors people actually meet. */
static void bind_error(const struct sock_spec *spec, int e, char *err, size_t errlen)
{
	char where[SOCK_PATH_MAX + 16];
	const char *why;

	sock_describe(spec, where, sizeof(where));
	switch (e) {
	case EADDRINUSE:
		why = spec->kind == SOCK_KIND_UNIX ? "a process is listening on this socket already"
						   : "address already in use";
		break;
	case EACCES:
		why = spec->kind == SOCK_KIND_UNIX
			      ? "permission denied"
			      : "permission denied (ports below 1024 need root or "
				"CAP_NET_BIND_SERVICE)";
		break;
	case EADDRNOTAVAIL:
		why = "address not available (no interface of this host has it)";
		break;
	case EEXIST:
		why = "the path exists and is not a socket";
		break;
	case ENOENT:
		why = "the directory does not exist";
		break;
	case EAFNOSUPPORT:
		why = "this kernel has no support for the address family";
		break;
	default:
		why = strerror(e);
		break;
	}
	say(err, errlen, "cannot listen on %s: %s", where, why);
}

int sock_clear_stale_unix(const struct sockaddr_un *sun)
{
	struct stat st;
	int probe, r;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	r = connect(probe, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? 0 : errno;
	close(probe);
	switch (r) {
	case ECONNREFUSED:
		if (unlink(sun->sun_path) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	case ENOENT:
		return 0;
	case 0:
	case EAGAIN:
	case EINPROGRESS:
	case EPROTOTYPE: /* a live socket of another type */
		return -EADDRINUSE;
	default:
		return -r;
	}
}

static int bind_unix(const struct sock_spec *spec, int backlog, int *fd_out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, r;

	memcpy(sun.sun_path, spec->path, strlen(spec->path) + 1);
	r = sock_clear_stale_unix(&sun);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
}

static int bind_inet(const struct sock_spec *spec, int backlog, int *fd_out)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int family = spec->family, fd, one = 1, zero = 0, r;

	memset(&ss, 0, sizeof(ss));
	fd = socket(family == AF_INET ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && family == AF_UNSPEC && errno == EAFNOSUPPORT && !spec->v6only) {
		/* No IPv6 in this kernel: every interface means 0.0.0.0. */
		family = AF_INET;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)spec->port);
		sin->sin_addr = spec->family == AF_INET ? spec->addr4
						       : (struct in_addr){htonl(INADDR_ANY)};
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)spec->port);
		sin6->sin6_addr = family == AF_INET6 ? spec->addr6 : in6addr_any;
		sin6->sin6_scope_id = family == AF_INET6 ? spec->scope_id : 0;
		sslen = sizeof(*sin6);
		/* Every interface means IPv4 too, whatever net.ipv6.bindv6only says, unless the
		 * socket was asked to be IPv6 only. */
		if (spec->v6only) {
			if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
				goto fail;
		} else if (family == AF_UNSPEC &&
			   setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
			goto fail;
		}
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* Set on the listener, before any connection: each accepted socket starts as a copy. */
	if (spec->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, backlog) < 0)
		goto fail;
	*fd_out = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

int sock_bind(const struct sock_spec *spec, int backlog, int *fd_out, char *err, size_t errlen)
{
	int r;

	if (backlog <= 0)
		backlog = sock_somaxconn();
	if (spec->kind == SOCK_KIND_UNIX)
		r = bind_unix(spec, backlog, fd_out);
	else if (spec->port < 0 || spec->port > 65535)
		r = -EINVAL;
	else
		r = bind_inet(spec, backlog, fd_out);
	if (r < 0)
		bind_error(spec, -r, err, errlen);
	return r;
}

int sock_bind_tcp(const char *address, int port, int family, unsigned flags, int backlog,
		  int *fd_out)
{
	struct sock_spec spec;
	int r;

	memset(&spec, 0, sizeof(spec));
	spec.kind = SOCK_KIND_TCP;
	if (port < 0 || port > 65535)
		return -EINVAL;
	spec.port = port;
	if (!address || !*address) {
		spec.family = AF_UNSPEC;
	} else {
		if (family == 0)
			family = strchr(address, ':') ? 6 : 4;
		if (family == 4)
			r = parse_ip4(address, &spec);
		else if (family == 6)
			r = parse_ip6(address, &spec);
		else
			r = -EINVAL;
		if (r < 0)
			return r;
	}
	spec.v6only = (flags & SOCK_TCP_V6ONLY) != 0;
	spec.nodelay = (flags & SOCK_TCP_NODELAY) != 0;
	if (spec.v6only && spec.family == AF_INET)
		return -EINVAL;
	return sock_bind(&spec, backlog, fd_out, NULL, 0);
}

int sock_accept_queue(int fd, uint32_t *length, uint32_t *limit)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	if (ti.tcpi_state != TCP_LISTEN)
		return -EINVAL;
	*length = ti.tcpi_unacked;
	*limit = ti.tcpi_sacked;
	return 0;
}
