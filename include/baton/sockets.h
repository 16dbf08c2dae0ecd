/*
 * sockets: parse and bind the --listen addresses that baton hands to every worker.
 *
 * baton binds each address once, as root, before any worker starts, and keeps the listening
 * socket open for the life of the container; workers receive it as fd 3, 4, ... (systemd's
 * LISTEN_FDS protocol). Connections that arrive while workers change wait in the socket's
 * queue instead of being refused, which is why SO_REUSEPORT is never used: closing one of
 * several reuseport listeners resets the connections queued on it.
 *
 * Accepted forms (each optionally followed by `=NAME` for LISTEN_FDNAMES):
 *   PORT             every interface: one dual-stack [::] socket, or 0.0.0.0 without IPv6
 *   :PORT            the same (Go's spelling)
 *   HOST:PORT        HOST a numeric IPv4 address or "localhost" (127.0.0.1)
 *   [IPV6]:PORT      a numeric IPv6 address, optionally with a %scope (name or number);
 *                    an explicit [::] follows the kernel's net.ipv6.bindv6only
 *   tcp://ADDR       any of the TCP forms above
 *   unix:/PATH       a unix stream socket at an absolute path
 * Host names other than "localhost" are refused rather than resolved: baton runs as PID 1
 * before anything else in the container, often in a static binary where glibc's NSS modules
 * cannot be loaded, and a listening address that depends on DNS at start-up is fragile.
 *
 * The default name is "tcp-PORT" for TCP sockets and "unix-BASENAME" for unix sockets (with
 * characters outside the allowed set replaced by '_'). A name is 1 to 255 characters of
 * [A-Za-z0-9_.-]: systemd forbids ':' in names because it separates them in LISTEN_FDNAMES,
 * and the stricter set keeps names safe to use in shell code.
 */
#ifndef BATON_SOCKETS_H
#define BATON_SOCKETS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#define SOCK_NAME_MAX 255
#define SOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

enum sock_kind {
	SOCK_KIND_TCP,
	SOCK_KIND_UNIX,
};

struct sock_spec {
	enum sock_kind kind;
	/* TCP: AF_INET or AF_INET6 for one address, AF_UNSPEC for every interface. */
	int family;
	struct in_addr addr4;
	struct in6_addr addr6;
	uint32_t scope_id; /* IPv6 link-local scope, 0 if none */
	bool v6only;       /* an IPv6 socket that does not also take IPv4 (Node's ipv6Only) */
	bool nodelay;      /* TCP_NODELAY on the listener: Linux copies it to accepted sockets */
	int port;          /* 1..65535 from the parser; sock_bind also accepts 0 (ephemeral) */
	/* UNIX: the absolute path. */
	char path[SOCK_PATH_MAX + 1];
	/* LISTEN_FDNAMES entry: given with =NAME, or the default described above. */
	char name[SOCK_NAME_MAX + 1];
};

/*
 * Parse one --listen value into *out. On error returns -EINVAL and writes one line naming
 * the problem (and the text) to err. Pure: no system calls besides if_nametoindex for an
 * IPv6 scope given by interface name.
 */
int sock_parse(const char *text, struct sock_spec *out, char *err, size_t errlen);

/*
 * Create, bind and listen: SOCK_STREAM, close-on-exec, blocking (servers set O_NONBLOCK
 * themselves when they want it; a blocking fd suits the simple ones), SO_REUSEADDR for TCP
 * so that a restarted container can bind again while old connections sit in TIME_WAIT, and
 * TCP_NODELAY when spec->nodelay (responses are not held back by Nagle's algorithm waiting
 * for the client's delayed ACK).
 * backlog <= 0 means sock_somaxconn(). For AF_UNSPEC a [::] socket with IPV6_V6ONLY off
 * serves IPv4 and IPv6 alike; a kernel without IPv6 gets 0.0.0.0 instead. For a unix path,
 * an existing socket file that nobody listens on any more is removed first; a live one gives
 * -EADDRINUSE and a file that is not a socket -EEXIST. Returns 0 with the fd in *fd_out, or
 * -errno with one line in err naming the address and the reason (err may be NULL).
 */
int sock_bind(const struct sock_spec *spec, int backlog, int *fd_out, char *err, size_t errlen);

/* Flags of sock_bind_tcp. */
enum {
	SOCK_TCP_V6ONLY = 1,  /* Node's listen({ipv6Only: true}) */
	SOCK_TCP_NODELAY = 2, /* as sock_spec.nodelay */
};

/*
 * Bind a TCP listener for Node's cluster module, which asks the primary for sockets by
 * address, port and addressType at run time. address NULL or "" means every interface
 * (dual-stack [::] with a 0.0.0.0 fallback, as Node itself does); otherwise family 4 means
 * an IPv4 address, 6 an IPv6 address and 0 "guess from the text". port may be 0 (the kernel
 * picks one); backlog as for sock_bind. SOCK_TCP_V6ONLY makes an IPv6 socket, every
 * interface included, take no IPv4 connections, and refuses an IPv4 address;
 * SOCK_TCP_NODELAY sets TCP_NODELAY. 0 with *fd_out, or -errno (-EINVAL for a bad address
 * or port).
 */
int sock_bind_tcp(const char *address, int port, int family, unsigned flags, int backlog,
		  int *fd_out);

/*
 * Remove a unix socket file left behind by an earlier run, but never one that a live
 * process still listens on (that would silently steal its address), nor a file that is
 * not a socket. 0 when the path is free, -EADDRINUSE when something listens there,
 * -EEXIST when it is not a socket, or another -errno.
 */
int sock_clear_stale_unix(const struct sockaddr_un *sun);

/*
 * The accept queue of a listening TCP socket: the connections waiting to be accepted and the
 * queue's limit (its backlog), from TCP_INFO, where for a listening socket the kernel reports
 * them in tcpi_unacked and tcpi_sacked. 0, or -errno (-ENOPROTOOPT for a unix socket).
 */
int sock_accept_queue(int fd, uint32_t *length, uint32_t *limit);

/* The kernel's listen backlog limit (/proc/sys/net/core/somaxconn), or SOMAXCONN. >= 1. */
int sock_somaxconn(void);

/*
 * A short text for logs: "127.0.0.1:8080", "[::1]:8080", "*:8080" (every interface),
 * "unix:/run/app.sock". 0, or -ENOSPC when buf was too small (the text is cut, and always
 * NUL-terminated when len > 0).
 */
int sock_describe(const struct sock_spec *spec, char *buf, size_t len);

#endif
