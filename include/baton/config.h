/*
 * config: the command line and BATON_* environment, turned into a struct config.
 *
 * Pure: no I/O besides what the caller passes in. Every option can also be set from
 * an environment variable because `docker run`-style use often cannot pass flags;
 * a flag always wins over its variable.
 */
#ifndef BATON_CONFIG_H
#define BATON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound on worker slots: far above what a container runs, and it lets the
 * supervisor size its tables once at start-up. */
#define CFG_MAX_WORKERS 256
#define CFG_MAX_LISTEN 16

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum ready_mode { READY_DELAY, READY_NOTIFY, READY_FD, READY_MESSAGE };
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };
/* How a Node cluster worker treats its open connections when drained (--node-drain). */
enum node_drain { NODE_DRAIN_GRACEFUL, NODE_DRAIN_CLOSE };

struct config {
	/* Pool. workers == 0 means "auto": resolved from the CPUs at start-up. */
	int workers;
	enum restart_policy restart;
	int max_restarts;
	int64_t restart_window_ms;

	/* Stop sequence: drain signal, then TERM, then KILL. */
	int drain_signal;
	bool drain_signal_explicit; /* given by flag or variable (see cfg_drains_by_message) */
	int64_t drain_timeout_ms;
	int64_t term_timeout_ms;
	int64_t stop_delay_ms;

	/* Readiness. */
	enum ready_mode ready;
	int64_t ready_delay_ms;
	int64_t ready_timeout_ms;

	/* Listening sockets, as given; parsed and bound by the sockets module. */
	const char *listen[CFG_MAX_LISTEN];
	int n_listen;
	int backlog; /* 0: the kernel's somaxconn */
	bool tcp_nodelay; /* TCP_NODELAY on the TCP listeners, inherited by accepted sockets */

	/* Worker sandbox, as given; resolved by the sandbox module. */
	const char *user;           /* NULL: keep baton's own */
	const char *caps;           /* "none", "all" or a list */
	const char *seccomp;        /* "default", "off" or a path */
	const char *seccomp_action; /* "errno", "kill" or "log" */

	/* Control socket path, or NULL when disabled ("none"). */
	const char *control;
	bool control_explicit; /* given by flag or variable: no fallback */

	bool node_cluster;
	enum node_drain node_drain; /* with node_cluster: the drain preload, or Node's own */

	enum log_level log_level;
	enum log_format log_format;

	/* The worker command: argv[0..] of the app, NULL-terminated. */
	char **command;
};

/* Result of cfg_parse beyond success: what main should do next. */
enum cfg_action { CFG_RUN, CFG_HELP, CFG_VERSION };

/* Fill *cfg with defaults. */
void cfg_defaults(struct config *cfg);

/*
 * Parse argv (argv[0] is the program name) over the defaults, then the variables of envp
 * for options that no flag set. On error returns -EINVAL and writes one line naming the
 * problem to err. *action says whether to run, print help or print the version.
 * The strings of cfg point into argv and envp, which must outlive cfg.
 */
int cfg_parse(struct config *cfg, int argc, char **argv, char **envp, enum cfg_action *action,
	      char *err, size_t errlen);

/* "250ms", "30s", "2m", "1h", "5" (seconds) -> milliseconds. 0 or -EINVAL. */
int cfg_parse_duration(const char *text, int64_t *out_ms);

/* "TERM", "SIGTERM", "15", "RTMIN+2" -> signal number. 0 or -EINVAL. */
int cfg_parse_signal(const char *text, int *out_sig);

/* Whether a worker's drain is the Node cluster `disconnect` message rather than a signal:
 * with --node-cluster, unless a drain signal was given, in which case the app is trusted to
 * drain itself on it (as PM2 apps do on SIGINT), with its own handling of open connections. */
bool cfg_drains_by_message(const struct config *cfg);

/* Signal number -> "TERM" (without SIG), or "RTMIN+n"; buf used for numbers. */
const char *cfg_signal_name(int sig, char *buf, size_t len);

/* The usage text printed by --help. */
extern const char cfg_usage[];

#endif
