/*
 * config: every option by flag and by variable, flags over variables, the value parsers
 * (durations, signals, readiness modes) and the command line's edges (--, COMMAND's own
 * flags, missing values, unknown options), as tables of cases.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "baton/config.h"

/*
 * The copies that cfg_parse makes of list variables (BATON_LISTEN) live as long as the
 * process, since the config points into them; this program parses hundreds of times, so
 * under LeakSanitizer (make SANITIZE=address) they are expected, not leaks.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:apply_env_list\n";
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS 40
#define MAX_ENV 8

/* One call of cfg_parse with everything it needs kept alive: cfg points into argv and envp. */
struct parsed {
	struct config cfg;
	enum cfg_action action;
	int rc;
	char err[512];
	char *argv[MAX_ARGS + 2];
	char *envp[MAX_ENV + 1];
};

/* Parse "baton ARGS..." under the environment ENV (both NULL-terminated; either may be NULL). */
static void parse(struct parsed *p, const char *const *args, const char *const *env)
{
	int argc = 0, n = 0;

	memset(p, 0, sizeof(*p));
	p->argv[argc++] = (char *)"baton";
	for (; args && *args; args++) {
		assert_true(argc < MAX_ARGS);
		p->argv[argc++] = (char *)*args;
	}
	for (; env && *env; env++) {
		assert_true(n < MAX_ENV);
		p->envp[n++] = (char *)*env;
	}
	cfg_defaults(&p->cfg);
	p->action = (enum cfg_action)-1;
	snprintf(p->err, sizeof(p->err), "(no message)");
	p->rc = cfg_parse(&p->cfg, argc, p->argv, p->envp, &p->action, p->err, sizeof(p->err));
}

static const char *describe(const struct parsed *p, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (char *const *e = p->envp; *e && used < len; e++)
		used += (size_t)snprintf(buf + used, len - used, "%s ", *e);
	for (char *const *a = p->argv; *a && used < len; a++)
		used += (size_t)snprintf(buf + used, len - used, "%s'%s'", a == p->argv ? "" : " ", *a);
	return buf;
}

/* The parse succeeded, asks to run, and COMMAND is exactly "app". */
static void expect_run_app(const struct parsed *p)
{
	char what[1024];

	if (p->rc != 0)
		fail_msg("%s: rc %d (%s), want 0", describe(p, what, sizeof(what)), p->rc, p->err);
	if (p->action != CFG_RUN)
		fail_msg("%s: action %d, want CFG_RUN", describe(p, what, sizeof(what)), p->action);
	if (!p->cfg.command || !p->cfg.command[0] || strcmp(p->cfg.command[0], "app") != 0 ||
	    p->cfg.command[1] != NULL)
		fail_msg("%s: COMMAND is not exactly 'app'", describe(p, what, sizeof(what)));
}

/* The parse failed with -EINVAL and one line naming both NAME (flag or variable) and 'VALUE'. */
static void expect_error(const struct parsed *p, const char *name, const char *value)
{
	char what[1024], quoted[300];

	describe(p, what, sizeof(what));
	if (p->rc != -EINVAL)
		fail_msg("%s: rc %d, want -EINVAL", what, p->rc);
	if (name && !strstr(p->err, name))
		fail_msg("%s: message \"%s\" does not name %s", what, p->err, name);
	if (value) {
		snprintf(quoted, sizeof(quoted), "'%s'", value);
		if (!strstr(p->err, quoted))
			fail_msg("%s: message \"%s\" does not quote the value %s", what, p->err, quoted);
	}
	if (strchr(p->err, '\n'))
		fail_msg("%s: message \"%s\" is more than one line", what, p->err);
	if (strcmp(p->err, "(no message)") == 0 || p->err[0] == '\0')
		fail_msg("%s: no message", what);
}

/* ---- fields of struct config, so that one table can check any option ---- */

enum field {
	/* numbers */
	F_WORKERS,
	F_RESTART,
	F_MAX_RESTARTS,
	F_RESTART_WINDOW,
	F_DRAIN_SIGNAL,
	F_DRAIN_TIMEOUT,
	F_TERM_TIMEOUT,
	F_STOP_DELAY,
	F_STOP_TIMEOUT,
	F_STOP_PHASES_GIVEN,
	F_MAP_USR1,
	F_MAP_WINCH,
	F_MAP_QUIT,
	F_RELOAD_SIGNAL,
	F_EXIT_143,
	F_EXIT_1,
	F_READY,
	F_READY_DELAY,
	F_READY_TIMEOUT,
	F_N_LISTEN,
	F_BACKLOG,
	F_TCP_NODELAY,
	F_CONTROL_EXPLICIT,
	F_NODE_CLUSTER,
	F_NODE_DRAIN,
	F_LOG_LEVEL,
	F_LOG_FORMAT,
	F_WATCHDOG,
	F_WATCHDOG_SIGNAL,
	F_MAX_MEMORY_KIND,
	F_MAX_MEMORY,
	F_CHECK_INTERVAL,
	F_MAX_AGE,
	/* strings */
	F_FIRST_STRING,
	F_LISTEN0 = F_FIRST_STRING,
	F_USER,
	F_CAPS,
	F_SECCOMP,
	F_SECCOMP_ACTION,
	F_CONTROL,
	F_METRICS,
	F_PRE_START,
	F_PRE_ROLLOUT,
};

static long long num_field(const struct config *c, enum field f)
{
	switch (f) {
	case F_WORKERS: return c->workers;
	case F_RESTART: return c->restart;
	case F_MAX_RESTARTS: return c->max_restarts;
	case F_RESTART_WINDOW: return c->restart_window_ms;
	case F_DRAIN_SIGNAL: return c->drain_signal;
	case F_DRAIN_TIMEOUT: return c->drain_timeout_ms;
	case F_TERM_TIMEOUT: return c->term_timeout_ms;
	case F_STOP_DELAY: return c->stop_delay_ms;
	case F_STOP_TIMEOUT: return c->stop_timeout_ms;
	case F_STOP_PHASES_GIVEN: return c->stop_phases_given;
	case F_MAP_USR1: return c->signal_map[SIGUSR1];
	case F_MAP_WINCH: return c->signal_map[SIGWINCH];
	case F_MAP_QUIT: return c->signal_map[SIGQUIT];
	case F_RELOAD_SIGNAL: return c->reload_signal;
	case F_EXIT_143: return cfg_map_exit(c->exit_map, 143);
	case F_EXIT_1: return cfg_map_exit(c->exit_map, 1);
	case F_READY: return c->ready;
	case F_READY_DELAY: return c->ready_delay_ms;
	case F_READY_TIMEOUT: return c->ready_timeout_ms;
	case F_N_LISTEN: return c->n_listen;
	case F_BACKLOG: return c->backlog;
	case F_TCP_NODELAY: return c->tcp_nodelay;
	case F_CONTROL_EXPLICIT: return c->control_explicit;
	case F_NODE_CLUSTER: return c->node_cluster;
	case F_NODE_DRAIN: return c->node_drain;
	case F_LOG_LEVEL: return c->log_level;
	case F_LOG_FORMAT: return c->log_format;
	case F_WATCHDOG: return c->watchdog_ms;
	case F_WATCHDOG_SIGNAL: return c->watchdog_signal;
	case F_MAX_MEMORY_KIND: return c->max_memory_kind;
	case F_MAX_MEMORY: return (long long)c->max_memory;
	case F_CHECK_INTERVAL: return c->check_interval_ms;
	case F_MAX_AGE: return c->max_age_ms;
	default: return LLONG_MIN;
	}
}

static const char *str_field(const struct config *c, enum field f)
{
	switch (f) {
	case F_LISTEN0: return c->n_listen > 0 ? c->listen[0] : "(no --listen)";
	case F_USER: return c->user;
	case F_CAPS: return c->caps;
	case F_SECCOMP: return c->seccomp;
	case F_SECCOMP_ACTION: return c->seccomp_action;
	case F_CONTROL: return c->control;
	case F_METRICS: return c->metrics;
	case F_PRE_START: return c->pre_start;
	case F_PRE_ROLLOUT: return c->pre_rollout;
	default: return "(not a string field)";
	}
}

/* Compare one field; str == NULL for a string field means the field must be NULL. */
static void expect_field(const struct parsed *p, enum field f, long long num, const char *str)
{
	char what[1024];

	describe(p, what, sizeof(what));
	if (f < F_FIRST_STRING) {
		if (num_field(&p->cfg, f) != num)
			fail_msg("%s: field %d is %lld, want %lld", what, f, num_field(&p->cfg, f), num);
		return;
	}
	if (!str) {
		if (str_field(&p->cfg, f) != NULL)
			fail_msg("%s: field %d is '%s', want NULL", what, f, str_field(&p->cfg, f));
	} else if (!str_field(&p->cfg, f) || strcmp(str_field(&p->cfg, f), str) != 0) {
		fail_msg("%s: field %d is '%s', want '%s'", what, f,
			 str_field(&p->cfg, f) ? str_field(&p->cfg, f) : "(null)", str);
	}
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, (const char *[]){ "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_WORKERS, 1, NULL);
	expect_field(&p, F_RESTART, RESTART_ON_FAILURE, NULL);
	expect_field(&p, F_MAX_RESTARTS, 10, NULL);
	expect_field(&p, F_RESTART_WINDOW, 60000, NULL);
	expect_field(&p, F_DRAIN_SIGNAL, SIGTERM, NULL);
	expect_field(&p, F_DRAIN_TIMEOUT, 30000, NULL);
	expect_field(&p, F_TERM_TIMEOUT, 10000, NULL);
	expect_field(&p, F_STOP_DELAY, 0, NULL);
	expect_field(&p, F_STOP_TIMEOUT, 10000, NULL);
	expect_field(&p, F_STOP_PHASES_GIVEN, false, NULL);
	expect_field(&p, F_MAP_USR1, 0, NULL);
	expect_field(&p, F_RELOAD_SIGNAL, SIGHUP, NULL);
	expect_field(&p, F_EXIT_143, 143, NULL);
	expect_field(&p, F_READY, READY_DELAY, NULL);
	expect_field(&p, F_READY_DELAY, 1000, NULL);
	expect_field(&p, F_READY_TIMEOUT, 60000, NULL);
	expect_field(&p, F_N_LISTEN, 0, NULL);
	expect_field(&p, F_BACKLOG, 0, NULL);
	expect_field(&p, F_TCP_NODELAY, true, NULL);
	expect_field(&p, F_USER, 0, NULL);
	expect_field(&p, F_CAPS, 0, "none");
	expect_field(&p, F_SECCOMP, 0, "default");
	expect_field(&p, F_SECCOMP_ACTION, 0, "errno");
	expect_field(&p, F_CONTROL, 0, "/run/baton.sock");
	expect_field(&p, F_CONTROL_EXPLICIT, false, NULL);
	expect_field(&p, F_NODE_CLUSTER, false, NULL);
	expect_field(&p, F_NODE_DRAIN, NODE_DRAIN_GRACEFUL, NULL);
	expect_field(&p, F_LOG_LEVEL, LOG_INFO, NULL);
	expect_field(&p, F_LOG_FORMAT, LOG_TEXT, NULL);
	expect_field(&p, F_WATCHDOG, 0, NULL);
	expect_field(&p, F_WATCHDOG_SIGNAL, SIGABRT, NULL);
	expect_field(&p, F_MAX_MEMORY_KIND, MAX_MEMORY_OFF, NULL);
	expect_field(&p, F_MAX_MEMORY, 0, NULL);
	expect_field(&p, F_CHECK_INTERVAL, 1000, NULL);
	expect_field(&p, F_MAX_AGE, 0, NULL);
}

/* ---- every option, by flag and by variable ---- */

static const struct opt_case {
	const char *flag;  /* long name without "--" */
	char short_flag;   /* 0: none */
	const char *env;
	const char *value;
	enum field field;
	long long num;     /* for number fields */
	const char *str;   /* for string fields; NULL: the field must be NULL */
} opt_cases[] = {
	{ "workers", 'w', "BATON_WORKERS", "4", F_WORKERS, 4, NULL },
	{ "workers", 'w', "BATON_WORKERS", "1", F_WORKERS, 1, NULL },
	{ "workers", 'w', "BATON_WORKERS", "4096", F_WORKERS, 4096, NULL },
	{ "workers", 'w', "BATON_WORKERS", "auto", F_WORKERS, 0, NULL },
	{ "workers", 'w', "BATON_WORKERS", "AUTO", F_WORKERS, 0, NULL },
	{ "restart", 0, "BATON_RESTART", "always", F_RESTART, RESTART_ALWAYS, NULL },
	{ "restart", 0, "BATON_RESTART", "on-failure", F_RESTART, RESTART_ON_FAILURE, NULL },
	{ "restart", 0, "BATON_RESTART", "never", F_RESTART, RESTART_NEVER, NULL },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "0", F_MAX_RESTARTS, 0, NULL },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "3", F_MAX_RESTARTS, 3, NULL },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "10000", F_MAX_RESTARTS, 10000, NULL },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "unlimited", F_MAX_RESTARTS,
	  CFG_RESTARTS_UNLIMITED, NULL },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "UNLIMITED", F_MAX_RESTARTS,
	  CFG_RESTARTS_UNLIMITED, NULL },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", "2m", F_RESTART_WINDOW, 120000, NULL },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", "90", F_RESTART_WINDOW, 90000, NULL },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "QUIT", F_DRAIN_SIGNAL, SIGQUIT, NULL },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "SIGUSR1", F_DRAIN_SIGNAL, SIGUSR1, NULL },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "2", F_DRAIN_SIGNAL, SIGINT, NULL },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "sigwinch", F_DRAIN_SIGNAL, SIGWINCH, NULL },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "5s", F_DRAIN_TIMEOUT, 5000, NULL },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "0", F_DRAIN_TIMEOUT, 0, NULL },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", "250ms", F_TERM_TIMEOUT, 250, NULL },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", "0", F_TERM_TIMEOUT, 0, NULL },
	{ "stop-delay", 0, "BATON_STOP_DELAY", "15s", F_STOP_DELAY, 15000, NULL },
	{ "stop-delay", 0, "BATON_STOP_DELAY", "1.5s", F_STOP_DELAY, 1500, NULL },
	{ "stop-delay", 0, "BATON_STOP_DELAY", "0", F_STOP_PHASES_GIVEN, true, NULL },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "5s", F_STOP_PHASES_GIVEN, true, NULL },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", "5s", F_STOP_PHASES_GIVEN, true, NULL },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "4s", F_STOP_TIMEOUT, 4000, NULL },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "2m", F_STOP_TIMEOUT, 120000, NULL },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "4s", F_STOP_PHASES_GIVEN, false, NULL },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:USR2,WINCH:0", F_MAP_USR1, SIGUSR2, NULL },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:USR2,WINCH:0", F_MAP_WINCH, CFG_SIG_DROP, NULL },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "SIGQUIT:term", F_MAP_QUIT, SIGTERM, NULL },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "3:15, 10:12", F_MAP_USR1, SIGUSR2, NULL },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:USR1", F_MAP_USR1, 0, NULL },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "USR2", F_RELOAD_SIGNAL, SIGUSR2, NULL },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "none", F_RELOAD_SIGNAL, 0, NULL },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "SIGHUP", F_RELOAD_SIGNAL, SIGHUP, NULL },
	{ "exit-map", 0, "BATON_EXIT_MAP", "143:0", F_EXIT_143, 0, NULL },
	{ "exit-map", 0, "BATON_EXIT_MAP", "143:0", F_EXIT_1, 1, NULL },
	{ "exit-map", 0, "BATON_EXIT_MAP", "143:0,1:3", F_EXIT_1, 3, NULL },
	{ "pre-start", 0, "BATON_PRE_START", "migrate --up", F_PRE_START, 0, "migrate --up" },
	{ "pre-rollout", 0, "BATON_PRE_ROLLOUT", "sh -c 'a && b'", F_PRE_ROLLOUT, 0,
	  "sh -c 'a && b'" },
	{ "ready", 0, "BATON_READY", "notify", F_READY, READY_NOTIFY, NULL },
	{ "ready", 0, "BATON_READY", "fd", F_READY, READY_FD, NULL },
	{ "ready", 0, "BATON_READY", "delay:2s", F_READY, READY_DELAY, NULL },
	{ "ready", 0, "BATON_READY", "delay:2s", F_READY_DELAY, 2000, NULL },
	{ "ready", 0, "BATON_READY", "delay:250ms", F_READY_DELAY, 250, NULL },
	{ "ready", 0, "BATON_READY", "delay:0", F_READY_DELAY, 0, NULL },
	{ "ready", 0, "BATON_READY", "delay", F_READY, READY_DELAY, NULL },
	{ "ready", 0, "BATON_READY", "delay", F_READY_DELAY, 1000, NULL },
	{ "ready-timeout", 0, "BATON_READY_TIMEOUT", "90s", F_READY_TIMEOUT, 90000, NULL },
	{ "ready-timeout", 0, "BATON_READY_TIMEOUT", "1h", F_READY_TIMEOUT, 3600000, NULL },
	{ "listen", 'l', "BATON_LISTEN", "8080", F_LISTEN0, 0, "8080" },
	{ "listen", 'l', "BATON_LISTEN", "8080", F_N_LISTEN, 1, NULL },
	{ "listen", 'l', "BATON_LISTEN", "unix:/run/app.sock=api", F_LISTEN0, 0,
	  "unix:/run/app.sock=api" },
	{ "backlog", 0, "BATON_BACKLOG", "128", F_BACKLOG, 128, NULL },
	{ "backlog", 0, "BATON_BACKLOG", "65535", F_BACKLOG, 65535, NULL },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", "off", F_TCP_NODELAY, false, NULL },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", "on", F_TCP_NODELAY, true, NULL },
	{ "node-drain", 0, "BATON_NODE_DRAIN", "close", F_NODE_DRAIN, NODE_DRAIN_CLOSE, NULL },
	{ "node-drain", 0, "BATON_NODE_DRAIN", "graceful", F_NODE_DRAIN, NODE_DRAIN_GRACEFUL, NULL },
	{ "user", 'u', "BATON_USER", "nobody", F_USER, 0, "nobody" },
	{ "user", 'u', "BATON_USER", "1000:1000", F_USER, 0, "1000:1000" },
	{ "caps", 0, "BATON_CAPS", "NET_BIND_SERVICE,CAP_NET_RAW", F_CAPS, 0,
	  "NET_BIND_SERVICE,CAP_NET_RAW" },
	{ "caps", 0, "BATON_CAPS", "all", F_CAPS, 0, "all" },
	{ "seccomp", 0, "BATON_SECCOMP", "off", F_SECCOMP, 0, "off" },
	{ "seccomp", 0, "BATON_SECCOMP", "/etc/baton/app.seccomp", F_SECCOMP, 0,
	  "/etc/baton/app.seccomp" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "kill", F_SECCOMP_ACTION, 0, "kill" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "log", F_SECCOMP_ACTION, 0, "log" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "errno", F_SECCOMP_ACTION, 0, "errno" },
	{ "control", 0, "BATON_CONTROL", "/tmp/b.sock", F_CONTROL, 0, "/tmp/b.sock" },
	{ "control", 0, "BATON_CONTROL", "/tmp/b.sock", F_CONTROL_EXPLICIT, true, NULL },
	{ "control", 0, "BATON_CONTROL", "none", F_CONTROL, 0, NULL },
	{ "control", 0, "BATON_CONTROL", "none", F_CONTROL_EXPLICIT, true, NULL },
	{ "metrics", 0, "BATON_METRICS", "9090", F_METRICS, 0, "9090" },
	{ "metrics", 0, "BATON_METRICS", "127.0.0.1:9090", F_METRICS, 0, "127.0.0.1:9090" },
	{ "metrics", 0, "BATON_METRICS", "unix:/run/m.sock", F_METRICS, 0, "unix:/run/m.sock" },
	{ "metrics", 0, "BATON_METRICS", "off", F_METRICS, 0, NULL },
	{ "log-format", 0, "BATON_LOG_FORMAT", "json", F_LOG_FORMAT, LOG_JSON, NULL },
	{ "log-format", 0, "BATON_LOG_FORMAT", "text", F_LOG_FORMAT, LOG_TEXT, NULL },
	{ "log-level", 0, "BATON_LOG_LEVEL", "debug", F_LOG_LEVEL, LOG_DEBUG, NULL },
	{ "log-level", 0, "BATON_LOG_LEVEL", "warn", F_LOG_LEVEL, LOG_WARN, NULL },
	{ "log-level", 0, "BATON_LOG_LEVEL", "ERROR", F_LOG_LEVEL, LOG_ERROR, NULL },
	{ "log-level", 0, "BATON_LOG_LEVEL", "info", F_LOG_LEVEL, LOG_INFO, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "10s", F_WATCHDOG, 10000, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "100ms", F_WATCHDOG, 100, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "1.5", F_WATCHDOG, 1500, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "off", F_WATCHDOG, 0, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "OFF", F_WATCHDOG, 0, NULL },
	{ "watchdog", 0, "BATON_WATCHDOG", "0", F_WATCHDOG, 0, NULL },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "QUIT", F_WATCHDOG_SIGNAL, SIGQUIT, NULL },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "SIGUSR1", F_WATCHDOG_SIGNAL, SIGUSR1,
	  NULL },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "6", F_WATCHDOG_SIGNAL, SIGABRT, NULL },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "KILL", F_WATCHDOG_SIGNAL, SIGKILL, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300M", F_MAX_MEMORY, 300LL << 20, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300M", F_MAX_MEMORY_KIND, MAX_MEMORY_BYTES, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300MiB", F_MAX_MEMORY, 300LL << 20, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300mb", F_MAX_MEMORY, 300LL << 20, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1G", F_MAX_MEMORY, 1LL << 30, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1.5g", F_MAX_MEMORY, 3LL << 29, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "2048k", F_MAX_MEMORY, 2LL << 20, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1048576", F_MAX_MEMORY, 1LL << 20, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "50%", F_MAX_MEMORY, 50, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "50%", F_MAX_MEMORY_KIND, MAX_MEMORY_PERCENT, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1%", F_MAX_MEMORY, 1, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "100%", F_MAX_MEMORY, 100, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "off", F_MAX_MEMORY_KIND, MAX_MEMORY_OFF, NULL },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "0", F_MAX_MEMORY_KIND, MAX_MEMORY_OFF, NULL },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "500ms", F_CHECK_INTERVAL, 500, NULL },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "5", F_CHECK_INTERVAL, 5000, NULL },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "100ms", F_CHECK_INTERVAL, 100, NULL },
	{ "max-age", 0, "BATON_MAX_AGE", "6h", F_MAX_AGE, 6LL * 3600 * 1000, NULL },
	{ "max-age", 0, "BATON_MAX_AGE", "5s", F_MAX_AGE, 5000, NULL },
	{ "max-age", 0, "BATON_MAX_AGE", "1s", F_MAX_AGE, 1000, NULL },
	{ "max-age", 0, "BATON_MAX_AGE", "off", F_MAX_AGE, 0, NULL },
	{ "max-age", 0, "BATON_MAX_AGE", "0", F_MAX_AGE, 0, NULL },
};

static void test_options_by_flag(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(opt_cases); i++) {
		const struct opt_case *c = &opt_cases[i];
		char longf[64], joined[300], shortf[3] = { '-', c->short_flag, '\0' };
		struct parsed p;

		snprintf(longf, sizeof(longf), "--%s", c->flag);
		snprintf(joined, sizeof(joined), "--%s=%s", c->flag, c->value);

		parse(&p, (const char *[]){ longf, c->value, "app", NULL }, NULL);
		expect_run_app(&p);
		expect_field(&p, c->field, c->num, c->str);

		parse(&p, (const char *[]){ joined, "app", NULL }, NULL);
		expect_run_app(&p);
		expect_field(&p, c->field, c->num, c->str);

		if (c->short_flag) {
			parse(&p, (const char *[]){ shortf, c->value, "app", NULL }, NULL);
			expect_run_app(&p);
			expect_field(&p, c->field, c->num, c->str);
		}
	}
}

static void test_options_by_variable(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(opt_cases); i++) {
		const struct opt_case *c = &opt_cases[i];
		char var[300];
		struct parsed p;

		snprintf(var, sizeof(var), "%s=%s", c->env, c->value);
		parse(&p, (const char *[]){ "app", NULL },
		      (const char *[]){ "PATH=/usr/bin:/bin", var, "HOME=/root", NULL });
		expect_run_app(&p);
		expect_field(&p, c->field, c->num, c->str);
	}
}

/* A flag wins over its variable, and a bad variable that a flag overrides is not an error. */
static void test_flag_wins_over_variable(void **state)
{
	static const char *const overridden[] = { "#not-a-valid-value#", "", "0", "none" };

	(void)state;
	for (size_t i = 0; i < N_OF(opt_cases); i++) {
		const struct opt_case *c = &opt_cases[i];
		char longf[64];

		snprintf(longf, sizeof(longf), "--%s", c->flag);
		for (size_t k = 0; k < N_OF(overridden); k++) {
			char var[300];
			struct parsed p;

			snprintf(var, sizeof(var), "%s=%s", c->env, overridden[k]);
			parse(&p, (const char *[]){ longf, c->value, "app", NULL },
			      (const char *[]){ var, NULL });
			expect_run_app(&p);
			expect_field(&p, c->field, c->num, c->str);
			/* A list variable must not add to the flags' entries either. */
			if (c->field == F_LISTEN0)
				expect_field(&p, F_N_LISTEN, 1, NULL);
		}
	}
}

/* Variables of options that no flag set still apply next to flags of other options. */
static void test_flags_and_variables_mix(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, (const char *[]){ "-w", "3", "--restart", "never", "app", NULL },
	      (const char *[]){ "BATON_WORKERS=7", "BATON_DRAIN_TIMEOUT=5s", "BATON_LISTEN=80,81",
				"BATON_LOG_FORMAT=json", NULL });
	expect_run_app(&p);
	expect_field(&p, F_WORKERS, 3, NULL);
	expect_field(&p, F_RESTART, RESTART_NEVER, NULL);
	expect_field(&p, F_DRAIN_TIMEOUT, 5000, NULL);
	expect_field(&p, F_N_LISTEN, 2, NULL);
	expect_field(&p, F_LOG_FORMAT, LOG_JSON, NULL);

	/* Only the exact name counts. */
	parse(&p, (const char *[]){ "app", NULL },
	      (const char *[]){ "BATON_WORKERS_MAX=9", "XBATON_WORKERS=9", "BATON_WORKERS",
				"baton_workers=9", NULL });
	expect_run_app(&p);
	expect_field(&p, F_WORKERS, 1, NULL);

	/* The last flag of an option wins; -w 2 then -w auto. */
	parse(&p, (const char *[]){ "-w", "2", "--workers", "auto", "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_WORKERS, 0, NULL);

	/* A bare "delay" resets the delay to its default of 1s. */
	parse(&p, (const char *[]){ "--ready", "delay:5s", "--ready", "delay", "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_READY_DELAY, 1000, NULL);
}

/* ---- bad values: each names its flag or variable and the value ---- */

static const struct bad_case {
	const char *flag;
	char short_flag;
	const char *env;
	const char *value;
} bad_cases[] = {
	{ "workers", 'w', "BATON_WORKERS", "0" },
	{ "workers", 'w', "BATON_WORKERS", "4097" },
	{ "workers", 'w', "BATON_WORKERS", "abc" },
	{ "workers", 'w', "BATON_WORKERS", "-1" },
	{ "workers", 'w', "BATON_WORKERS", "" },
	{ "workers", 'w', "BATON_WORKERS", "2x" },
	{ "workers", 'w', "BATON_WORKERS", " 2" },
	{ "workers", 'w', "BATON_WORKERS", "+2" },
	{ "workers", 'w', "BATON_WORKERS", "1.5" },
	{ "workers", 'w', "BATON_WORKERS", "99999999999999999999999" },
	{ "workers", 'w', "BATON_WORKERS", "autox" },
	{ "restart", 0, "BATON_RESTART", "sometimes" },
	{ "restart", 0, "BATON_RESTART", "" },
	{ "restart", 0, "BATON_RESTART", "Always" },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "-1" },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "10001" },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "many" },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "unlimitedx" },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", "infinite" },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", "0" },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", "5x" },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", "" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "NOPE" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "0" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "65" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "RTMIN+99" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "" },
	/* A stop that cannot be a stop: STOP suspends, CHLD is ignored by default. */
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "STOP" },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", "SIGCHLD" },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "5x" },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "" },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "-1" },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "s" },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", "999999999999h" },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", "1." },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", "ten" },
	{ "stop-delay", 0, "BATON_STOP_DELAY", "1d" },
	{ "stop-delay", 0, "BATON_STOP_DELAY", "-5s" },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "0" },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "" },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", "soon" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", ":USR2" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:NOPE" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:USR2,," },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:USR2,WINCH" },
	/* what baton acts on itself is never forwarded */
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "TERM:QUIT" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "INT:0" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "KILL:USR1" },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", "USR1:STOP" },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "TERM" },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "KILL" },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "bogus" },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", "" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "143" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "143:" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "256:0" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "1:-1" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "a:b" },
	{ "exit-map", 0, "BATON_EXIT_MAP", "" },
	{ "pre-start", 0, "BATON_PRE_START", "" },
	{ "pre-start", 0, "BATON_PRE_START", "   " },
	{ "pre-rollout", 0, "BATON_PRE_ROLLOUT", "" },
	{ "ready", 0, "BATON_READY", "delay:" },
	{ "ready", 0, "BATON_READY", "delay:5x" },
	{ "ready", 0, "BATON_READY", "delay:-1s" },
	{ "ready", 0, "BATON_READY", "delay=2s" },
	{ "ready", 0, "BATON_READY", "notify:1" },
	{ "ready", 0, "BATON_READY", "Notify" },
	{ "ready", 0, "BATON_READY", "fd:3" },
	{ "ready", 0, "BATON_READY", "listening" },
	{ "ready", 0, "BATON_READY", "" },
	{ "ready-timeout", 0, "BATON_READY_TIMEOUT", "0" },
	{ "ready-timeout", 0, "BATON_READY_TIMEOUT", "soon" },
	{ "backlog", 0, "BATON_BACKLOG", "0" },
	{ "backlog", 0, "BATON_BACKLOG", "65536" },
	{ "backlog", 0, "BATON_BACKLOG", "big" },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", "yes" },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", "ON" },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", "" },
	{ "node-drain", 0, "BATON_NODE_DRAIN", "drain" },
	{ "node-drain", 0, "BATON_NODE_DRAIN", "Close" },
	{ "node-drain", 0, "BATON_NODE_DRAIN", "" },
	{ "user", 'u', "BATON_USER", "" },
	{ "caps", 0, "BATON_CAPS", "" },
	{ "seccomp", 0, "BATON_SECCOMP", "" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "allow" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "" },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", "KILL" },
	{ "control", 0, "BATON_CONTROL", "baton.sock" },
	{ "metrics", 0, "BATON_METRICS", "http" },
	{ "metrics", 0, "BATON_METRICS", "99999" },
	{ "metrics", 0, "BATON_METRICS", "example.com:9090" },
	{ "metrics", 0, "BATON_METRICS", "9090=name" },
	{ "control", 0, "BATON_CONTROL", "" },
	{ "control", 0, "BATON_CONTROL", "NONE" },
	/* sun_path holds 108 bytes with the NUL: 108 characters do not fit. */
	{ "control", 0, "BATON_CONTROL",
	  "/0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789012345678" },
	{ "log-format", 0, "BATON_LOG_FORMAT", "xml" },
	{ "log-format", 0, "BATON_LOG_FORMAT", "" },
	{ "log-level", 0, "BATON_LOG_LEVEL", "loud" },
	{ "log-level", 0, "BATON_LOG_LEVEL", "" },
	/* Below the minimum a check wakes baton more than it can be worth. */
	{ "watchdog", 0, "BATON_WATCHDOG", "99ms" },
	{ "watchdog", 0, "BATON_WATCHDOG", "1ms" },
	{ "watchdog", 0, "BATON_WATCHDOG", "10x" },
	{ "watchdog", 0, "BATON_WATCHDOG", "-1s" },
	{ "watchdog", 0, "BATON_WATCHDOG", "" },
	{ "watchdog", 0, "BATON_WATCHDOG", "on" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "STOP" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "CHLD" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "CONT" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "0" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "NOPE" },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", "" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300" },      /* bytes: surely meant 300M */
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1048575" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "1023k" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300X" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "300 M" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "M" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "-300M" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "0%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "101%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "50.5%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "50%%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "-5%" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "2000000000000G" },
	{ "max-memory", 0, "BATON_MAX_MEMORY", "" },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "0" },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "off" },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "50ms" },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "often" },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", "" },
	{ "max-age", 0, "BATON_MAX_AGE", "999ms" },
	{ "max-age", 0, "BATON_MAX_AGE", "1d" },
	{ "max-age", 0, "BATON_MAX_AGE", "forever" },
	{ "max-age", 0, "BATON_MAX_AGE", "" },
};

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char longf[64], joined[300], var[300], shortf[3] = { '-', c->short_flag, '\0' };
		struct parsed p;

		snprintf(longf, sizeof(longf), "--%s", c->flag);
		snprintf(joined, sizeof(joined), "--%s=%s", c->flag, c->value);
		snprintf(var, sizeof(var), "%s=%s", c->env, c->value);

		parse(&p, (const char *[]){ longf, c->value, "app", NULL }, NULL);
		expect_error(&p, longf, c->value);
		parse(&p, (const char *[]){ joined, "app", NULL }, NULL);
		expect_error(&p, longf, c->value);
		/* A short flag is named by its long name, which says what it is. */
		if (c->short_flag) {
			parse(&p, (const char *[]){ shortf, c->value, "app", NULL }, NULL);
			expect_error(&p, longf, c->value);
		}
		parse(&p, (const char *[]){ "app", NULL }, (const char *[]){ var, NULL });
		expect_error(&p, c->env, c->value);
		/* A bad variable is an error even when flags set other options. */
		parse(&p, (const char *[]){ "-q", "app", NULL }, (const char *[]){ var, NULL });
		if (strcmp(c->env, "BATON_LOG_LEVEL") != 0)
			expect_error(&p, c->env, c->value);
	}
}

/* The longest control path that fits, and one more character. */
/* How a hook command runs: shell syntax through /bin/sh -c, plain words executed directly. */
static void test_hook_argv(void **state)
{
	static const struct {
		const char *cmd;
		int n;
		const char *words; /* joined by '|' */
	} cases[] = {
		{ "migrate", 1, "migrate" },
		{ "  /app/migrate --up\t--db=main ", 3, "/app/migrate|--up|--db=main" },
		{ "sh -c 'migrate && exec true'", 3, "/bin/sh|-c|sh -c 'migrate && exec true'" },
		{ "migrate && seed", 3, "/bin/sh|-c|migrate && seed" },
		{ "echo $HOME", 3, "/bin/sh|-c|echo $HOME" },
		{ "a; b", 3, "/bin/sh|-c|a; b" },
		{ "cat < x", 3, "/bin/sh|-c|cat < x" },
		{ "ls *.sql", 3, "/bin/sh|-c|ls *.sql" },
		{ "", -EINVAL, NULL },
		{ " \t ", -EINVAL, NULL },
	};
	char buf[CFG_HOOK_MAX], joined[512], *argv[CFG_HOOK_WORDS], big[CFG_HOOK_MAX + 8];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		int n = cfg_hook_argv(cases[i].cmd, buf, sizeof(buf), argv, CFG_HOOK_WORDS);
		size_t used = 0;

		if (n != cases[i].n)
			fail_msg("'%s': %d words, want %d", cases[i].cmd, n, cases[i].n);
		if (n < 0)
			continue;
		assert_null(argv[n]);
		joined[0] = '\0';
		for (int k = 0; k < n; k++)
			used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s",
						 k ? "|" : "", argv[k]);
		assert_string_equal(joined, cases[i].words);
	}
	/* Too long, too many words: refused, not cut. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cfg_hook_argv(big, buf, sizeof(buf), argv, CFG_HOOK_WORDS), -EINVAL);
	assert_int_equal(cfg_hook_argv("a b c d e", buf, sizeof(buf), argv, 5), -EINVAL);
	assert_int_equal(cfg_hook_argv("a b c d", buf, sizeof(buf), argv, 5), 4);
}

/* The rollout's signal cannot also be forwarded: mapping it is an error unless another one
 * starts the rollout. */
static void test_reload_signal_is_not_mapped(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, (const char *[]){ "--signal-map", "HUP:USR1", "app", NULL }, NULL);
	expect_error(&p, "--reload-signal", NULL);
	parse(&p, (const char *[]){ "--reload-signal", "USR2", "app", NULL },
	      (const char *[]){ "BATON_SIGNAL_MAP=USR2:0", NULL });
	expect_error(&p, "SIGUSR2", NULL);
	parse(&p, (const char *[]){ "--signal-map", "HUP:USR1", "--reload-signal", "USR2", "app",
				    NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_MAP_USR1, 0, NULL);
	parse(&p, (const char *[]){ "--reload-signal", "none", "app", NULL },
	      (const char *[]){ "BATON_SIGNAL_MAP=HUP:0", NULL });
	expect_run_app(&p);
}

static void test_control_path_length(void **state)
{
	char path[120];
	struct parsed p;

	(void)state;
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	parse(&p, (const char *[]){ "--control", path, "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_CONTROL, 0, path);

	path[107] = 'a';
	path[108] = '\0';
	parse(&p, (const char *[]){ "--control", path, "app", NULL }, NULL);
	expect_error(&p, "--control", path);
}

/* ---- --listen and BATON_LISTEN ---- */

static void test_listen_lists(void **state)
{
	static const struct {
		const char *args[12];
		const char *env;
		int n;
		const char *want[4];
	} cases[] = {
		{ { "--listen", "80", "-l", "[::1]:81", "--listen=unix:/run/a.sock", "app" }, NULL, 3,
		  { "80", "[::1]:81", "unix:/run/a.sock" } },
		{ { "-l", "8080=web", "-l", "8080=web", "app" }, NULL, 2, { "8080=web", "8080=web" } },
		{ { "app" }, "BATON_LISTEN=80,127.0.0.1:81,unix:/run/a.sock=api", 3,
		  { "80", "127.0.0.1:81", "unix:/run/a.sock=api" } },
		{ { "app" }, "BATON_LISTEN=8080", 1, { "8080" } },
		{ { "app" }, "BATON_LISTEN=80, 81,  [::]:82", 3, { "80", "81", "[::]:82" } },
		{ { "app" }, "BATON_LISTEN=80,,81,", 2, { "80", "81" } },
		{ { "app" }, "BATON_LISTEN=", 0, { NULL } },
		{ { "app" }, "BATON_LISTEN=,", 0, { NULL } },
		{ { "-l", "9000", "app" }, "BATON_LISTEN=80,81", 1, { "9000" } },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *env[2] = { cases[i].env, NULL };
		char what[1024];
		struct parsed p;

		parse(&p, cases[i].args, env);
		expect_run_app(&p);
		describe(&p, what, sizeof(what));
		if (p.cfg.n_listen != cases[i].n)
			fail_msg("%s: %d entries, want %d", what, p.cfg.n_listen, cases[i].n);
		for (int k = 0; k < cases[i].n; k++)
			if (strcmp(p.cfg.listen[k], cases[i].want[k]) != 0)
				fail_msg("%s: entry %d is '%s', want '%s'", what, k, p.cfg.listen[k],
					 cases[i].want[k]);
	}
}

/* CFG_MAX_LISTEN entries fit; one more is an error naming the flag or the variable. */
static void test_listen_limit(void **state)
{
	const char *args[2 * (CFG_MAX_LISTEN + 1) + 2];
	char env[CFG_MAX_LISTEN * 8 + 32];
	size_t used;
	struct parsed p;
	int n = 0;

	(void)state;
	for (int i = 0; i < CFG_MAX_LISTEN; i++) {
		args[n++] = "-l";
		args[n++] = "80";
	}
	args[n] = "app";
	args[n + 1] = NULL;
	parse(&p, args, NULL);
	expect_run_app(&p);
	assert_int_equal(p.cfg.n_listen, CFG_MAX_LISTEN);

	args[n++] = "-l";
	args[n++] = "81";
	args[n++] = "app";
	args[n] = NULL;
	parse(&p, args, NULL);
	expect_error(&p, "--listen", "81");

	used = (size_t)snprintf(env, sizeof(env), "BATON_LISTEN=");
	for (int i = 0; i < CFG_MAX_LISTEN; i++)
		used += (size_t)snprintf(env + used, sizeof(env) - used, "%s%d", i ? "," : "", 1000 + i);
	parse(&p, (const char *[]){ "app", NULL }, (const char *[]){ env, NULL });
	expect_run_app(&p);
	assert_int_equal(p.cfg.n_listen, CFG_MAX_LISTEN);
	assert_string_equal(p.cfg.listen[CFG_MAX_LISTEN - 1], "1015");

	snprintf(env + used, sizeof(env) - used, ",2000");
	parse(&p, (const char *[]){ "app", NULL }, (const char *[]){ env, NULL });
	expect_error(&p, "BATON_LISTEN", "2000");
}

/* ---- --node-cluster and BATON_NODE_CLUSTER ---- */

static void test_node_cluster(void **state)
{
	static const struct {
		const char *env;
		int want; /* 1, 0, or -1 for an error */
	} cases[] = {
		{ "BATON_NODE_CLUSTER=1", 1 },     { "BATON_NODE_CLUSTER=true", 1 },
		{ "BATON_NODE_CLUSTER=TRUE", 1 },  { "BATON_NODE_CLUSTER=yes", 1 },
		{ "BATON_NODE_CLUSTER=0", 0 },     { "BATON_NODE_CLUSTER=false", 0 },
		{ "BATON_NODE_CLUSTER=False", 0 }, { "BATON_NODE_CLUSTER=no", 0 },
		{ "BATON_NODE_CLUSTER=", 0 },      { "BATON_NODE_CLUSTER=bogus", -1 },
		{ "BATON_NODE_CLUSTER=2", -1 },    { "BATON_NODE_CLUSTER= 1", -1 },
	};
	struct parsed p;

	(void)state;
	parse(&p, (const char *[]){ "--node-cluster", "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_NODE_CLUSTER, true, NULL);

	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *env[2] = { cases[i].env, NULL };

		parse(&p, (const char *[]){ "app", NULL }, env);
		if (cases[i].want < 0) {
			expect_error(&p, "BATON_NODE_CLUSTER", strchr(cases[i].env, '=') + 1);
			continue;
		}
		expect_run_app(&p);
		expect_field(&p, F_NODE_CLUSTER, cases[i].want, NULL);

		/* The flag wins over any variable, a bad one included. */
		parse(&p, (const char *[]){ "--node-cluster", "app", NULL }, env);
		expect_run_app(&p);
		expect_field(&p, F_NODE_CLUSTER, true, NULL);
	}
	parse(&p, (const char *[]){ "--node-cluster", "app", NULL },
	      (const char *[]){ "BATON_NODE_CLUSTER=bogus", NULL });
	expect_run_app(&p);
	expect_field(&p, F_NODE_CLUSTER, true, NULL);

	/* The flag takes no value: the next word is COMMAND. */
	parse(&p, (const char *[]){ "--node-cluster", "node", "app.js", NULL }, NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.command[0], "node");
	assert_string_equal(p.cfg.command[1], "app.js");
}

/* The cluster disconnect drains a Node worker unless a drain signal was asked for. */
static void test_node_cluster_drain(void **state)
{
	static const struct {
		const char *args[5];
		const char *env;
		bool by_message;
	} cases[] = {
		{ { "--node-cluster", "app" }, NULL, true },
		{ { "--node-cluster", "--drain-signal", "INT", "app" }, NULL, false },
		{ { "--node-cluster", "--drain-signal", "TERM", "app" }, NULL, false },
		{ { "--node-cluster", "app" }, "BATON_DRAIN_SIGNAL=SIGINT", false },
		{ { "app" }, "BATON_NODE_CLUSTER=1", true },
		{ { "app" }, NULL, false },
		{ { "--drain-signal", "INT", "app" }, NULL, false },
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *env[2] = { cases[i].env, NULL };

		parse(&p, cases[i].args, env);
		expect_run_app(&p);
		if (cfg_drains_by_message(&p.cfg) != cases[i].by_message)
			fail_msg("case %zu: drains by message %d, want %d", i,
				 cfg_drains_by_message(&p.cfg), cases[i].by_message);
	}
}

/* ---- -v, -q and BATON_LOG_LEVEL ---- */

static void test_log_level_flags(void **state)
{
	static const struct {
		const char *args[6];
		const char *env;
		int want;
	} cases[] = {
		{ { "-v", "app" }, NULL, LOG_DEBUG },
		{ { "--verbose", "app" }, NULL, LOG_DEBUG },
		{ { "-q", "app" }, NULL, LOG_ERROR },
		{ { "--quiet", "app" }, NULL, LOG_ERROR },
		{ { "-v", "-q", "app" }, NULL, LOG_ERROR },
		{ { "-q", "-v", "app" }, NULL, LOG_DEBUG },
		{ { "-vq", "app" }, NULL, LOG_ERROR },
		{ { "-qv", "app" }, NULL, LOG_DEBUG },
		{ { "-v", "-w", "2", "app" }, NULL, LOG_DEBUG },
		{ { "-vw", "2", "app" }, NULL, LOG_DEBUG },
		{ { "app" }, "BATON_LOG_LEVEL=debug", LOG_DEBUG },
		{ { "app" }, "BATON_LOG_LEVEL=error", LOG_ERROR },
		{ { "app" }, "BATON_LOG_LEVEL=Warn", LOG_WARN },
		{ { "-v", "app" }, "BATON_LOG_LEVEL=error", LOG_DEBUG },
		{ { "-q", "app" }, "BATON_LOG_LEVEL=debug", LOG_ERROR },
		{ { "-q", "app" }, "BATON_LOG_LEVEL=loud", LOG_ERROR },
		{ { "-v", "app" }, "BATON_LOG_LEVEL=", LOG_DEBUG },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *env[2] = { cases[i].env, NULL };
		struct parsed p;

		parse(&p, cases[i].args, env);
		expect_run_app(&p);
		expect_field(&p, F_LOG_LEVEL, cases[i].want, NULL);
	}
}

/* ---- the command line's shape ---- */

static void test_command(void **state)
{
	static const struct {
		const char *args[10];
		int workers;
		const char *want[6]; /* COMMAND, NULL-terminated */
	} cases[] = {
		{ { "app" }, 1, { "app" } },
		{ { "-w", "2", "node", "--inspect", "app.js" }, 2, { "node", "--inspect", "app.js" } },
		{ { "node", "-w", "3" }, 1, { "node", "-w", "3" } },
		{ { "app", "--help" }, 1, { "app", "--help" } },
		{ { "app", "--version" }, 1, { "app", "--version" } },
		{ { "app", "--bogus", "-x" }, 1, { "app", "--bogus", "-x" } },
		{ { "-w", "2", "--", "app" }, 2, { "app" } },
		{ { "--", "app", "-w", "3" }, 1, { "app", "-w", "3" } },
		{ { "--", "-w", "3" }, 1, { "-w", "3" } },
		{ { "--", "--help" }, 1, { "--help" } },
		{ { "--", "--" }, 1, { "--" } },
		{ { "-w", "2", "sh", "-c", "exec app -- x", "--" }, 2,
		  { "sh", "-c", "exec app -- x", "--" } },
		{ { "app", "--", "x" }, 1, { "app", "--", "x" } },
		{ { "-", "x" }, 1, { "-", "x" } },
		{ { "-w2", "app" }, 2, { "app" } },
		{ { "--workers=3", "app", "-w", "4" }, 3, { "app", "-w", "4" } },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		char what[1024];
		struct parsed p;
		int k;

		parse(&p, cases[i].args, NULL);
		describe(&p, what, sizeof(what));
		if (p.rc != 0 || p.action != CFG_RUN)
			fail_msg("%s: rc %d action %d (%s)", what, p.rc, p.action, p.err);
		if (p.cfg.workers != cases[i].workers)
			fail_msg("%s: workers %d, want %d", what, p.cfg.workers, cases[i].workers);
		for (k = 0; cases[i].want[k]; k++)
			if (!p.cfg.command[k] || strcmp(p.cfg.command[k], cases[i].want[k]) != 0)
				fail_msg("%s: COMMAND word %d is '%s', want '%s'", what, k,
					 p.cfg.command[k] ? p.cfg.command[k] : "(end)", cases[i].want[k]);
		if (p.cfg.command[k])
			fail_msg("%s: COMMAND has an extra word '%s'", what, p.cfg.command[k]);
	}
}

static void test_command_line_errors(void **state)
{
	static const struct {
		const char *args[6];
		const char *names; /* what the message must name */
	} cases[] = {
		/* no COMMAND */
		{ { NULL }, "COMMAND" },
		{ { "-w", "2" }, "COMMAND" },
		{ { "--" }, "COMMAND" },
		{ { "-v", "--" }, "COMMAND" },
		{ { "--node-cluster" }, "COMMAND" },
		{ { "" }, "COMMAND" },
		{ { "--", "" }, "COMMAND" },
		/* unknown options */
		{ { "--bogus", "app" }, "--bogus" },
		{ { "--bogus=1", "app" }, "--bogus" },
		{ { "-x", "app" }, "-x" },
		{ { "-vx", "app" }, "-x" },
		{ { "-W", "2", "app" }, "-W" },
		/* an option missing its value */
		{ { "-w" }, "-w" },
		{ { "--workers" }, "--workers" },
		{ { "-v", "--listen" }, "--listen" },
		{ { "-l" }, "-l" },
		{ { "-u" }, "-u" },
		{ { "--ready" }, "--ready" },
		{ { "--drain-signal" }, "--drain-signal" },
		{ { "--control" }, "--control" },
		{ { "--log-format" }, "--log-format" },
		/* ... and a value taken as is, even when it looks like a flag or "--" */
		{ { "-w", "--", "app" }, "--workers" },
		{ { "--workers", "-v", "app" }, "--workers" },
		{ { "-w", "app" }, "--workers" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct parsed p;

		parse(&p, cases[i].args, NULL);
		expect_error(&p, cases[i].names, NULL);
	}
}

/*
 * An option that takes no value, given one with '=': the message must name the option.
 * getopt_long reports this case as '?' with optopt set to the option's val, which cfg_parse
 * maps back to the option's long name ("--verbose takes no value"), not to "-<optopt>".
 */
static void test_flag_given_a_value(void **state)
{
	static const struct {
		const char *arg;
		const char *names;
	} cases[] = {
		{ "--node-cluster=1", "--node-cluster" },
		{ "--verbose=1", "--verbose" },
		{ "--quiet=yes", "--quiet" },
		{ "--help=1", "--help" },
		{ "--version=2", "--version" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct parsed p;

		parse(&p, (const char *[]){ cases[i].arg, "app", NULL }, NULL);
		expect_error(&p, cases[i].names, NULL);
	}
}

/* ---- --help and --version ---- */

static void test_help_and_version(void **state)
{
	static const struct {
		const char *args[6];
		const char *env;
		enum cfg_action want;
	} cases[] = {
		{ { "--help" }, NULL, CFG_HELP },
		{ { "-h" }, NULL, CFG_HELP },
		{ { "--help", "app" }, NULL, CFG_HELP },
		{ { "-w", "2", "--help" }, NULL, CFG_HELP },
		{ { "-vh" }, NULL, CFG_HELP },
		{ { "--version" }, NULL, CFG_VERSION },
		{ { "-V" }, NULL, CFG_VERSION },
		{ { "-V", "--help" }, NULL, CFG_VERSION },
		{ { "-h", "-V" }, NULL, CFG_HELP },
		/* Help and version work whatever the environment holds. */
		{ { "--help" }, "BATON_WORKERS=abc", CFG_HELP },
		{ { "--version" }, "BATON_DRAIN_SIGNAL=NOPE", CFG_VERSION },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *env[2] = { cases[i].env, NULL };
		char what[1024];
		struct parsed p;

		parse(&p, cases[i].args, env);
		describe(&p, what, sizeof(what));
		if (p.rc != 0 || p.action != cases[i].want)
			fail_msg("%s: rc %d action %d, want 0 and %d (%s)", what, p.rc, p.action,
				 cases[i].want, p.err);
	}
}

/* The usage text names every documented flag and variable. */
static void test_usage_mentions_options(void **state)
{
	static const char *const words[] = {
		"--workers", "-w,", "BATON_WORKERS", "--restart ", "BATON_RESTART,",
		"--max-restarts", "unlimited", "BATON_MAX_RESTARTS", "--restart-window", "BATON_RESTART_WINDOW",
		"--drain-signal", "BATON_DRAIN_SIGNAL", "--drain-timeout", "BATON_DRAIN_TIMEOUT",
		"--term-timeout", "BATON_TERM_TIMEOUT", "--stop-delay", "BATON_STOP_DELAY",
		"--stop-timeout", "BATON_STOP_TIMEOUT", "--signal-map", "BATON_SIGNAL_MAP",
		"--reload-signal", "BATON_RELOAD_SIGNAL", "--exit-map", "BATON_EXIT_MAP",
		"--pre-start", "BATON_PRE_START", "--pre-rollout", "BATON_PRE_ROLLOUT",
		"--listen", "-l,", "BATON_LISTEN", "--backlog", "BATON_BACKLOG", "--ready ",
		"--tcp-nodelay", "BATON_TCP_NODELAY", "--node-drain", "BATON_NODE_DRAIN",
		"BATON_READY,", "--ready-timeout", "BATON_READY_TIMEOUT", "--node-cluster",
		"BATON_NODE_CLUSTER", "--user", "-u,", "BATON_USER", "--caps", "BATON_CAPS",
		"--seccomp ", "BATON_SECCOMP,", "--seccomp-action", "BATON_SECCOMP_ACTION",
		"--control", "BATON_CONTROL", "--verbose", "--quiet", "BATON_LOG_LEVEL",
		"--log-format", "BATON_LOG_FORMAT", "--help", "--version", "baton ctl",
		"--watchdog ", "BATON_WATCHDOG,", "--watchdog-signal", "BATON_WATCHDOG_SIGNAL",
		"--max-memory", "BATON_MAX_MEMORY", "--check-interval", "BATON_CHECK_INTERVAL",
		"--max-age", "BATON_MAX_AGE",
	};

	(void)state;
	for (size_t i = 0; i < N_OF(words); i++)
		if (!strstr(cfg_usage, words[i]))
			fail_msg("the usage text does not mention '%s'", words[i]);
}

/* A short error buffer gets a truncated, terminated line. */
static void test_short_error_buffer(void **state)
{
	char *argv[] = { (char *)"baton", (char *)"-w", (char *)"abc", (char *)"app", NULL };
	char *envp[] = { NULL };
	char err[8];
	struct config cfg;
	enum cfg_action action;

	(void)state;
	memset(err, 'X', sizeof(err));
	cfg_defaults(&cfg);
	assert_int_equal(cfg_parse(&cfg, 4, argv, envp, &action, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* ---- durations ---- */

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int64_t ms; /* -1: rejected */
	} cases[] = {
		{ "250ms", 250 },
		{ "30s", 30000 },
		{ "2m", 120000 },
		{ "2min", 120000 },
		{ "1h", 3600000 },
		{ "5", 5000 },
		{ "1.5s", 1500 },
		{ "1.5", 1500 },
		{ "0.5m", 30000 },
		{ "1.25h", 4500000 },
		{ "0.001s", 1 },
		{ "1.0001s", 1000 },
		{ "0", 0 },
		{ "0ms", 0 },
		{ "0s", 0 },
		{ "007s", 7000 },
		{ "8784h", 8784LL * 3600 * 1000 },       /* 366 days: the longest */
		{ "31622400000ms", 31622400000LL },
		{ "5x", -1 },
		{ "", -1 },
		{ "-1", -1 },
		{ "+1", -1 },
		{ "s", -1 },
		{ "ms", -1 },
		{ ".5s", -1 },
		{ "1.", -1 },
		{ "1.s", -1 },
		{ "1.5.5", -1 },
		{ " 5", -1 },
		{ "5 ", -1 },
		{ "5 s", -1 },
		{ "5S", -1 },
		{ "5sec", -1 },
		{ "1e3", -1 },
		{ "1h30m", -1 },
		{ "0x10", -1 },
		{ "999999999999h", -1 },
		{ "8785h", -1 },
		{ "31622400001ms", -1 },
		{ "99999999999999999999999999", -1 },
		{ "99999999999999999999999999ms", -1 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		int64_t ms = -12345;
		int rc = cfg_parse_duration(cases[i].text, &ms);

		if (cases[i].ms < 0) {
			if (rc != -EINVAL)
				fail_msg("duration '%s': rc %d (%lld ms), want -EINVAL", cases[i].text, rc,
					 (long long)ms);
		} else if (rc != 0 || ms != cases[i].ms) {
			fail_msg("duration '%s': rc %d, %lld ms, want %lld ms", cases[i].text, rc,
				 (long long)ms, (long long)cases[i].ms);
		}
	}
	assert_int_equal(cfg_parse_duration(NULL, &(int64_t){ 0 }), -EINVAL);
}

/* ---- sizes ---- */

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		long long bytes; /* -1: rejected */
	} cases[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "1048576", 1048576 },
		{ "512b", 512 },
		{ "512B", 512 },
		{ "512k", 512LL << 10 },
		{ "512K", 512LL << 10 },
		{ "512KiB", 512LL << 10 },
		{ "512kib", 512LL << 10 },
		{ "512KB", 512LL << 10 },
		{ "300M", 300LL << 20 },
		{ "300m", 300LL << 20 },
		{ "300MiB", 300LL << 20 },
		{ "300MB", 300LL << 20 },
		{ "1G", 1LL << 30 },
		{ "1g", 1LL << 30 },
		{ "1GiB", 1LL << 30 },
		{ "1.5G", 3LL << 29 },
		{ "0.5M", 512LL << 10 },
		{ "1.25k", 1280 },
		{ "1.0000001G", 1LL << 30 },         /* digits past the sixth dropped */
		{ "007M", 7LL << 20 },
		{ "1073741824G", 1LL << 60 },        /* CFG_SIZE_MAX exactly */
		{ "1073741825G", -1 },
		{ "1152921504606846977", -1 },       /* CFG_SIZE_MAX + 1 */
		{ "99999999999999999999999999", -1 },
		{ "1.5", -1 },                       /* a fraction of a byte */
		{ "1.5b", -1 },
		{ "", -1 },
		{ "M", -1 },
		{ ".5M", -1 },
		{ "1.M", -1 },
		{ "-1M", -1 },
		{ "+1M", -1 },
		{ " 1M", -1 },
		{ "1M ", -1 },
		{ "1 M", -1 },
		{ "1T", -1 },
		{ "1Mi", -1 },
		{ "1MiBs", -1 },
		{ "1e6", -1 },
		{ "0x10", -1 },
		{ "50%", -1 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		uint64_t bytes = 12345;
		int rc = cfg_parse_size(cases[i].text, &bytes);

		if (cases[i].bytes < 0) {
			if (rc != -EINVAL)
				fail_msg("size '%s': rc %d (%llu bytes), want -EINVAL", cases[i].text, rc,
					 (unsigned long long)bytes);
		} else if (rc != 0 || bytes != (uint64_t)cases[i].bytes) {
			fail_msg("size '%s': rc %d, %llu bytes, want %lld", cases[i].text, rc,
				 (unsigned long long)bytes, cases[i].bytes);
		}
	}
	assert_int_equal(cfg_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

/* The last of several health flags wins, and "off" undoes one given before. */
static void test_health_off(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, (const char *[]){ "--max-memory", "300M", "--max-memory", "off", "app", NULL },
	      NULL);
	expect_run_app(&p);
	expect_field(&p, F_MAX_MEMORY_KIND, MAX_MEMORY_OFF, NULL);
	expect_field(&p, F_MAX_MEMORY, 0, NULL);

	parse(&p, (const char *[]){ "--max-memory", "50%", "--max-memory", "1G", "app", NULL }, NULL);
	expect_run_app(&p);
	expect_field(&p, F_MAX_MEMORY_KIND, MAX_MEMORY_BYTES, NULL);
	expect_field(&p, F_MAX_MEMORY, 1LL << 30, NULL);

	/* A variable set in an image is undone by a flag. */
	parse(&p, (const char *[]){ "--watchdog", "off", "--max-age", "0", "app", NULL },
	      (const char *[]){ "BATON_WATCHDOG=5s", "BATON_MAX_AGE=1h", NULL });
	expect_run_app(&p);
	expect_field(&p, F_WATCHDOG, 0, NULL);
	expect_field(&p, F_MAX_AGE, 0, NULL);

	/* Every health option together, by variable. */
	parse(&p, (const char *[]){ "app", NULL },
	      (const char *[]){ "BATON_WATCHDOG=2s", "BATON_WATCHDOG_SIGNAL=QUIT",
				"BATON_MAX_MEMORY=25%", "BATON_CHECK_INTERVAL=250ms",
				"BATON_MAX_AGE=30m", NULL });
	expect_run_app(&p);
	expect_field(&p, F_WATCHDOG, 2000, NULL);
	expect_field(&p, F_WATCHDOG_SIGNAL, SIGQUIT, NULL);
	expect_field(&p, F_MAX_MEMORY_KIND, MAX_MEMORY_PERCENT, NULL);
	expect_field(&p, F_MAX_MEMORY, 25, NULL);
	expect_field(&p, F_CHECK_INTERVAL, 250, NULL);
	expect_field(&p, F_MAX_AGE, 30LL * 60 * 1000, NULL);
}

/* ---- signals ---- */

static void test_signals(void **state)
{
	const struct {
		const char *text;
		int sig; /* 0: rejected */
	} cases[] = {
		{ "TERM", SIGTERM },
		{ "SIGTERM", SIGTERM },
		{ "sigterm", SIGTERM },
		{ "term", SIGTERM },
		{ "SigTerm", SIGTERM },
		{ "15", SIGTERM },
		{ "9", SIGKILL },
		{ "1", SIGHUP },
		{ "HUP", SIGHUP },
		{ "INT", SIGINT },
		{ "QUIT", SIGQUIT },
		{ "USR1", SIGUSR1 },
		{ "SIGUSR2", SIGUSR2 },
		{ "WINCH", SIGWINCH },
		{ "IOT", SIGABRT },
		{ "POLL", SIGIO },
		{ "PWR", SIGPWR },
		{ "RTMIN", SIGRTMIN },
		{ "RTMIN+0", SIGRTMIN },
		{ "RTMIN+2", SIGRTMIN + 2 },
		{ "SIGRTMIN+2", SIGRTMIN + 2 },
		{ "rtmin+2", SIGRTMIN + 2 },
		{ "RTMAX", SIGRTMAX },
		{ "RTMAX-1", SIGRTMAX - 1 },
		{ "SIGRTMAX-1", SIGRTMAX - 1 },
		{ "RTMIN+30", SIGRTMIN + 30 },
		{ "64", 64 },
		{ "0", 0 },
		{ "65", 0 },
		{ "00", 0 },
		{ "-15", 0 },
		{ "+15", 0 },
		{ "15x", 0 },
		{ "NOPE", 0 },
		{ "SIGNOPE", 0 },
		{ "SIG", 0 },
		{ "SIGSIGTERM", 0 },
		{ "TERM ", 0 },
		{ " TERM", 0 },
		{ "", 0 },
		{ "RTMIN+99", 0 },
		{ "RTMIN+31", 0 },
		{ "RTMIN-1", 0 },
		{ "RTMAX+1", 0 },
		{ "RTMAX-31", 0 },
		{ "RTMIN+", 0 },
		{ "RTMIN+x", 0 },
		{ "RTMIN++1", 0 },
		{ "RTMIN+-1", 0 },
		{ "RTMINX", 0 },
		{ "RT", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		int sig = -1;
		int rc = cfg_parse_signal(cases[i].text, &sig);

		if (cases[i].sig == 0) {
			if (rc != -EINVAL)
				fail_msg("signal '%s': rc %d (%d), want -EINVAL", cases[i].text, rc, sig);
		} else if (rc != 0 || sig != cases[i].sig) {
			fail_msg("signal '%s': rc %d, %d, want %d", cases[i].text, rc, sig, cases[i].sig);
		}
	}
	assert_int_equal(cfg_parse_signal(NULL, &(int){ 0 }), -EINVAL);
}

static void test_signal_names(void **state)
{
	const struct {
		int sig;
		const char *name;
	} cases[] = {
		{ SIGTERM, "TERM" },         { SIGKILL, "KILL" },       { SIGHUP, "HUP" },
		{ SIGINT, "INT" },           { SIGUSR1, "USR1" },       { SIGCHLD, "CHLD" },
		{ SIGABRT, "ABRT" },         { SIGIO, "IO" },           { SIGSYS, "SYS" },
		{ SIGRTMIN, "RTMIN+0" },     { SIGRTMIN + 2, "RTMIN+2" },
		{ SIGRTMAX, "RTMIN+30" },    { 0, "0" },                { 65, "65" },
	};
	char buf[32];

	(void)state;
	assert_int_equal(SIGRTMAX - SIGRTMIN, 30); /* the table above assumes glibc's layout */
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *got = cfg_signal_name(cases[i].sig, buf, sizeof(buf));

		if (strcmp(got, cases[i].name) != 0)
			fail_msg("signal %d: name '%s', want '%s'", cases[i].sig, got, cases[i].name);
	}
}

/* Every signal's name parses back to it, with and without "SIG". */
static void test_signal_round_trip(void **state)
{
	(void)state;
	for (int sig = 1; sig <= SIGRTMAX; sig++) {
		char buf[32], prefixed[40];
		const char *name = cfg_signal_name(sig, buf, sizeof(buf));
		int back = -1;

		if (strncmp(name, "SIG", 3) == 0)
			fail_msg("signal %d: name '%s' starts with SIG", sig, name);
		if (cfg_parse_signal(name, &back) != 0 || back != sig)
			fail_msg("signal %d: name '%s' parses to %d", sig, name, back);
		snprintf(prefixed, sizeof(prefixed), "SIG%s", name);
		back = -1;
		if (name[0] >= 'A' && name[0] <= 'Z' &&
		    (cfg_parse_signal(prefixed, &back) != 0 || back != sig))
			fail_msg("signal %d: '%s' parses to %d", sig, prefixed, back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_options_by_flag),
		cmocka_unit_test(test_options_by_variable),
		cmocka_unit_test(test_flag_wins_over_variable),
		cmocka_unit_test(test_flags_and_variables_mix),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_control_path_length),
		cmocka_unit_test(test_reload_signal_is_not_mapped),
		cmocka_unit_test(test_hook_argv),
		cmocka_unit_test(test_listen_lists),
		cmocka_unit_test(test_listen_limit),
		cmocka_unit_test(test_node_cluster),
		cmocka_unit_test(test_node_cluster_drain),
		cmocka_unit_test(test_log_level_flags),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_command_line_errors),
		cmocka_unit_test(test_flag_given_a_value),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_usage_mentions_options),
		cmocka_unit_test(test_short_error_buffer),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_health_off),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_signal_names),
		cmocka_unit_test(test_signal_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
