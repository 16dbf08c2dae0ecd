/*
 * control: the control socket (`baton ctl status|ready|reload|scale|drain`).
 *
 * Three parts, one prefix:
 * - the protocol (src/ctl_proto.c): pure functions that parse requests and format replies;
 * - the server (src/control.c): a unix stream socket in baton's event loop. It never blocks and
 *   never dies whatever a client sends: every client is checked with SO_PEERCRED, requests are
 *   length-limited, a client that says nothing is dropped after an idle timeout (or sooner, to
 *   make room for a new one when every slot is taken), and the number of clients is capped.
 *   The core stays in charge: the server only calls the struct ctl_ops
 *   it was given, and the core tells it when a rollout or the stop sequence has ended;
 * - the client (src/ctl_client.c): `baton ctl`, the same binary.
 *
 * The protocol, version 1 (see also docs/control.md). One request per connection:
 *
 *   request  = "baton/1" SP command *(SP argument) LF      ; at most CTL_REQUEST_MAX bytes
 *   command  = "status" ["json"] / "ready" / "live" / "reload" ["wait"] / "scale" SP count
 *            / "drain" ["wait"]
 *   reply    = *data-line final-line
 *   final    = "ok" [SP text] LF / "error" SP text LF
 *
 * Requests are printable ASCII; words are separated by single spaces; a line ends with LF alone.
 * Data lines never begin with "ok" or "error" as a word, so the first line that does is the
 * final one. After the final line the server shuts down its side; the client hangs up. A request
 * that is too long, not printable, malformed, of another version or unknown gets one error line
 * and the connection is closed.
 */
#ifndef BATON_CONTROL_H
#define BATON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baton/config.h"

struct loop;
struct ctl_server;

#define CTL_PROTO "baton/1"
#define CTL_DEFAULT_PATH "/run/baton.sock"
#define CTL_SOCKET_NAME "baton.sock"
/* A request line, LF included. Every valid request is far shorter. */
#define CTL_REQUEST_MAX 1024
/* Concurrent clients. When all are taken, the one that has sent nothing for longest is dropped
 * to make room; only when every one has sent its request is the next one told "busy". */
#define CTL_MAX_CLIENTS 16
/* How long a client may take to send its request, or to read its reply. */
#define CTL_IDLE_TIMEOUT_MS 5000
/* sun_path holds 108 bytes, the NUL included. */
#define CTL_PATH_MAX 108

/* ---- views: what the core shows of itself ---- */

struct ctl_worker_view {
	int slot;
	int pid;              /* 0: none */
	const char *state;    /* "starting", "ready", "draining", "stopping" */
	int64_t uptime_ms;
	int restarts;
	int last_status;      /* -1: none, else exit code or 128+signal */
	unsigned generation;
	uint64_t rss_bytes;   /* its process group's resident memory, 0: not measured */
	bool has_heartbeat;   /* --watchdog: a heartbeat came */
	int64_t heartbeat_age_ms; /* ... this long ago */
	const char *last_cause; /* why its slot's last worker was replaced: "exit", "signal",
				 * "oom", "watchdog", "memory", "age", "rollout"; NULL none */
};

/* A counter by name ("signal", "complete", "SIGKILL", ...). */
struct ctl_count {
	const char *name;
	uint64_t n;
};

#define CTL_MAX_COUNTS 8

/* The restarts of one slot, by cause. */
struct ctl_slot_restarts {
	int slot;
	int n;
	struct ctl_count by[CTL_MAX_COUNTS];
};

struct ctl_listen_queue {
	char socket[80];  /* "127.0.0.1:8080", as sockets.h describes it */
	char name[64];    /* its LISTEN_FDNAMES name */
	uint32_t length;  /* connections waiting in the accept queue */
	uint32_t limit;   /* the queue's limit, the backlog */
};

/* The numbers of the metrics endpoint (docs/metrics.md), for `status --json`. */
struct ctl_metrics {
	struct ctl_slot_restarts *restarts; /* n_restarts entries, by slot */
	int n_restarts;
	uint64_t crash_loops;
	struct ctl_count rollouts[CTL_MAX_COUNTS]; /* by outcome */
	int n_rollouts;
	int64_t last_rollout_ms;  /* -1: none yet */
	struct ctl_count drains[CTL_MAX_COUNTS];   /* by how they ended */
	int n_drains;
	const int64_t *drain_bucket_ms; /* the histogram of drain durations: upper bounds */
	const uint64_t *drain_le;       /* ... and the drains within each (cumulative) */
	int n_drain_buckets;
	uint64_t drain_count;
	int64_t drain_sum_ms;
	struct ctl_listen_queue queues[CFG_MAX_LISTEN]; /* TCP sockets only */
	int n_queues;
	uint64_t rss_bytes;       /* baton's own */
	int open_fds;             /* baton's own, -1: unknown */
};

struct ctl_view {
	const char *pool_state; /* "running", "rolling out", "stopping", "exiting" */
	bool stopping;          /* a stop was requested (the --stop-delay included): not ready */
	int rollout_done, rollout_total; /* total 0: no rollout */
	int workers_wanted;
	/* Liveness: the longest time an active slot has now been without a ready worker, the
	 * slot, and the bound beyond which baton is not live. */
	int64_t unready_ms;
	int unready_slot;
	int64_t live_bound_ms;
	bool detailed;          /* set by the server for status: measure what costs (memory) */
	const struct ctl_metrics *metrics; /* with detailed: the counters; NULL none */
	int n;                  /* entries filled, at most cap */
	int cap;                /* entries w has room for */
	struct ctl_worker_view *w;
};

/* ---- protocol (pure) ---- */

enum ctl_cmd { CTL_STATUS, CTL_READY, CTL_RELOAD, CTL_SCALE, CTL_DRAIN, CTL_LIVE };

struct ctl_request {
	enum ctl_cmd cmd;
	bool json;  /* status */
	bool wait;  /* reload, drain */
	int count;  /* scale */
};

/*
 * Parse one request line of len bytes, without its LF (the caller framed it). 0, or -EINVAL
 * (malformed, unknown command or argument) / -EPROTONOSUPPORT (another protocol version) with
 * one printable line in err that can be sent back as "error <err>".
 */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen);

/* Format a request, LF included, into buf. Returns its length, or -ENOSPC. */
int ctl_format_request(const struct ctl_request *req, char *buf, size_t len);

/* A worker count for `scale`: decimal digits only, 1..CFG_MAX_WORKERS. 0 or -EINVAL/-ERANGE. */
int ctl_parse_count(const char *text, int *out);

/* Human duration for status: "850ms", "42s", "3m05s", "2h07m", "4d03h". */
void ctl_format_duration(int64_t ms, char *buf, size_t len);

/*
 * The data lines of a status reply (each ending with LF; text: the pool line then one line per
 * worker; json: one line holding one object) into buf, truncated to len like snprintf.
 * Returns the length the whole text needs, NUL excluded: call with len 0 to size a buffer.
 */
size_t ctl_format_status(const struct ctl_view *view, bool json, char *buf, size_t len);

/* Ready for traffic: some worker is "ready" and no stop was requested. Else false, why says
 * why in a few words. */
bool ctl_view_ready(const struct ctl_view *view, char *why, size_t whylen);

/* Live (for a livenessProbe): no active slot has been without a ready worker for longer than
 * the view's bound. A stopping baton is live: its probe must not kill it mid-drain. Else
 * false, why says which slot and for how long. */
bool ctl_view_live(const struct ctl_view *view, char *why, size_t whylen);

enum ctl_line { CTL_LINE_DATA, CTL_LINE_OK, CTL_LINE_ERROR };

/* Classify one reply line (without LF); *text points at what follows "ok " / "error " (""
 * when nothing does) for final lines, at the whole line for data. */
enum ctl_line ctl_classify_line(const char *line, const char **text);

/* Replace every byte that is not printable ASCII with '?', so that a message can travel in
 * one line of the protocol. */
void ctl_sanitize(char *text);

/*
 * The default socket paths, in the order the server tries them and the client looks for them:
 * first (CTL_DEFAULT_PATH when NULL), then $XDG_RUNTIME_DIR/baton.sock when xdg is an absolute
 * directory, then /tmp/baton.sock; duplicates and paths too long for sun_path are left out.
 * Returns how many were written (at most 3).
 */
int ctl_candidates(const char *first, const char *xdg, char out[3][CTL_PATH_MAX]);

/* ---- server ---- */

struct ctl_ops {
	void *ctx;
	/* How many worker entries a view needs now (the pool's live workers, at most); the server
	 * grows its view to that before it calls view. */
	int (*view_size)(void *ctx);
	/* Fill a snapshot for status and ready: at most out->cap workers. Must set n, pool_state
	 * and each state. */
	void (*view)(void *ctx, struct ctl_view *out);
	/* Start a rollout (as SIGHUP does). 0, or -errno and one line in err (e.g. stopping). */
	int (*reload)(void *ctx, char *err, size_t errlen);
	/* Resize the pool to n (1..CFG_MAX_WORKERS, already checked). 0, or -errno and err. */
	int (*scale)(void *ctx, int n, char *err, size_t errlen);
	/* Begin the graceful stop of the container (as SIGTERM does). 0 or -errno. */
	int (*drain)(void *ctx);
	/* Optional: something the operator may want in the log (a refused peer, a dropped client).
	 * The server itself never logs. */
	void (*note)(void *ctx, enum log_level level, const char *msg);
};

/*
 * Open the control socket and watch it in loop. path NULL means CTL_DEFAULT_PATH. When
 * explicit_path is false and the directory of path cannot hold the socket (missing, read-only,
 * not writable), $XDG_RUNTIME_DIR/baton.sock and then /tmp/baton.sock are tried: *fallback_used
 * is then true and err holds one line for the log naming both paths. A stale socket file (no
 * one listening) is replaced; a live one is -EADDRINUSE; a file of another kind -EEXIST. The
 * socket is mode 0600 and close-on-exec. The ops callbacks are called from the loop, and may
 * call ctl_reload_finished/ctl_workers_stopped, but not ctl_close. 0, or -errno with err set.
 */
int ctl_open(struct ctl_server **out, struct loop *loop, const char *path, bool explicit_path,
	     const struct ctl_ops *ops, bool *fallback_used, char *err, size_t errlen);

/* The path the socket is bound to. */
const char *ctl_path(const struct ctl_server *s);

/* Override CTL_IDLE_TIMEOUT_MS (tests; > 0). Applies to deadlines set from now on. */
void ctl_set_idle_timeout(struct ctl_server *s, int64_t ms);

/* A rollout ended (ok, or failed and rolled back with reason): answer every `reload --wait`. */
void ctl_reload_finished(struct ctl_server *s, bool ok, const char *reason);

/* Every worker has stopped after a stop request: answer every `drain --wait` (and any later
 * one at once); `reload --wait` clients are told the rollout will not finish. */
void ctl_workers_stopped(struct ctl_server *s);

/* Connected clients, those that are reading their last reply included: before exiting, the core
 * waits (bounded) for this to reach 0 so that a `drain --wait` preStop hook is not killed with
 * the container before it has its answer. */
int ctl_client_count(const struct ctl_server *s);

/* Close every client and the socket, and remove the socket file if it is still ours. NULL-safe. */
void ctl_close(struct ctl_server *s);

/* ---- client ---- */

/*
 * `baton ctl [--socket PATH] COMMAND [ARG...]`; argv[0] is "ctl". Exit status: 0 success,
 * 1 when baton cannot be reached or the command was refused or failed (not ready included),
 * 2 for bad usage.
 */
int ctl_client_main(int argc, char **argv);

#endif
