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
#define CFG_MAX_WORKERS 4096
#define CFG_MAX_LISTEN 16
/* Bounds of a --pre-start or --pre-rollout command line. */
#define CFG_HOOK_MAX 4096
#define CFG_HOOK_WORDS 64

/* Signal numbers are below this (Linux: 1..64). */
#define CFG_NSIG 65
/* --signal-map FROM:0: the signal is dropped, not forwarded. */
#define CFG_SIG_DROP (-1)

/* --max-restarts unlimited: the crash-loop guard never gives up. 0 keeps its meaning (no
 * restart at all is allowed), so "never give up" is a word of its own. */
#define CFG_RESTARTS_UNLIMITED (-1)

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum ready_mode { READY_DELAY, READY_NOTIFY, READY_FD, READY_MESSAGE };
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };
/* How a Node cluster worker treats its open connections when drained (--node-drain). */
enum node_drain { NODE_DRAIN_GRACEFUL, NODE_DRAIN_CLOSE };
/* --max-memory: off, a size per worker, or a share of the container's memory limit. */
enum max_memory_kind { MAX_MEMORY_OFF, MAX_MEMORY_BYTES, MAX_MEMORY_PERCENT };

/* Lower bounds of the health options: below them a check costs more wake-ups than it can
 * be worth, or (--max-age) recycles workers faster than most apps boot. */
#define CFG_WATCHDOG_MIN_MS 100
#define CFG_CHECK_INTERVAL_MIN_MS 100
#define CFG_MAX_AGE_MIN_MS 1000
/* A --max-memory SIZE below this is taken for a mistake of units (300 meant as 300M). */
#define CFG_MAX_MEMORY_MIN (1024 * 1024)
/* Sizes above this (1 EiB) are refused: no machine has it, and sums of them cannot overflow. */
#define CFG_SIZE_MAX (1ULL << 60)

struct config {
	/* Pool. workers == 0 means "auto": resolved from the CPUs at start-up. */
	int workers;
	enum restart_policy restart;
	int max_restarts;           /* CFG_RESTARTS_UNLIMITED: never give up */
	int64_t restart_window_ms;

	/* Stop sequence: drain signal, then TERM, then KILL. */
	int drain_signal;
	bool drain_signal_explicit; /* given by flag or variable (see cfg_drains_by_message) */
	int64_t drain_timeout_ms;
	int64_t term_timeout_ms;
	int64_t stop_delay_ms;

	/* Signals. signal_map[FROM]: 0 forwarded as is, CFG_SIG_DROP dropped, else sent as that
	 * signal. reload_signal: the one that starts a rollout, 0 none. */
	int signal_map[CFG_NSIG];
	int reload_signal;
	/* --exit-map: exit_map[CODE] is 0 when CODE stays, else the status it becomes + 1. */
	short exit_map[256];

	/* One-time work: run once before the first worker, and before each rollout. NULL none. */
	const char *pre_start;
	const char *pre_rollout;

	/* The whole stop sequence ends within this, whatever the phases above say. */
	int64_t stop_timeout_ms;
	bool stop_phases_given; /* a phase above was given by flag or variable */

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

	/* --metrics: the Prometheus endpoint's address (a sockets.h form), NULL: off. */
	const char *metrics;

	bool node_cluster;
	enum node_drain node_drain; /* with node_cluster: the drain preload, or Node's own */

	/* Worker health. Every check is off unless given, and costs nothing when off. */
	int64_t watchdog_ms;        /* 0: no watchdog; else a heartbeat is due this often */
	int watchdog_signal;        /* sent to a hung worker before the SIGKILL, for a dump */
	enum max_memory_kind max_memory_kind;
	uint64_t max_memory;        /* MAX_MEMORY_BYTES: bytes; MAX_MEMORY_PERCENT: 1..100 */
	int64_t check_interval_ms;  /* how often memory is sampled, with --max-memory */
	int64_t max_age_ms;         /* 0: no age recycling; else before jitter (health.h) */

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

/* "300M", "300MiB", "512k", "1.5G", "1048576" -> bytes. The suffixes K, M, G are binary
 * (KiB, MiB, GiB) whether written K, KB or KiB, in any case, as `docker run -m` reads them;
 * B or nothing is bytes. A fraction is allowed with a suffix. At most CFG_SIZE_MAX.
 * 0 or -EINVAL. */
int cfg_parse_size(const char *text, uint64_t *out_bytes);

/* "TERM", "SIGTERM", "15", "RTMIN+2" -> signal number. 0 or -EINVAL. */
int cfg_parse_signal(const char *text, int *out_sig);

/* Whether a worker's drain is the Node cluster `disconnect` message rather than a signal:
 * with --node-cluster, unless a drain signal was given, in which case the app is trusted to
 * drain itself on it (as PM2 apps do on SIGINT), with its own handling of open connections. */
bool cfg_drains_by_message(const struct config *cfg);

/* How --pre-start and --pre-rollout run CMD: with a character of the shell's syntax in it
 * (quotes, $, ;, &, |, <, >, parentheses, wildcards, #, ~, a backslash, a newline) through
 * /bin/sh -c; otherwise split at blanks and executed directly, found in PATH, so that an image
 * without /bin/sh can run "migrate --up". Fills argv (NULL-terminated, at most max - 1 words,
 * pointing into buf or cmd). Returns the number of words, or -EINVAL (empty, too long). */
int cfg_hook_argv(const char *cmd, char *buf, size_t buflen, char *argv[], int max);

/* A status as --exit-map says: a worker's, as baton judges it, and baton's own. */
int cfg_map_exit(const short exit_map[256], int status);

/* Signal number -> "TERM" (without SIG), or "RTMIN+n"; buf used for numbers. */
const char *cfg_signal_name(int sig, char *buf, size_t len);

/* The usage text printed by --help. */
extern const char cfg_usage[];

#endif
