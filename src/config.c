/*
 * config: options from argv and BATON_* variables.
 *
 * Each option is one row of a table: its flag, its variable and the function that parses its
 * value. Flags are read first and remembered; a variable is read only for options no flag set,
 * which is what "flags win" means, and a bad variable that a flag overrides is not an error.
 */
#include "baton/decimal.h"
#include "baton/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "baton/sockets.h"

#define MAX_DURATION_MS (366LL * 24 * 3600 * 1000)

const char cfg_usage[] =
	"Usage: baton [OPTIONS] [--] COMMAND [ARG...]\n"
	"       baton ctl [--socket PATH] status [--json] | reload [--wait] | scale N |\n"
	"                 drain [--wait] | ready | live | top\n"
	"\n"
	"A PID 1 for containers: reaps zombies, forwards signals, runs COMMAND as a pool of\n"
	"workers, restarts crashed ones, rolls them on SIGHUP and drains them on SIGTERM.\n"
	"Every option can also be set by the variable in brackets; a flag wins over it.\n"
	"\n"
	"Pool:\n"
	"  -w, --workers N|auto       workers to run; auto = usable CPUs (BATON_WORKERS, 1)\n"
	"      --restart POLICY       always|on-failure|never (BATON_RESTART, on-failure)\n"
	"      --max-restarts N|unlimited  crash-loop guard: restarts allowed per window;\n"
	"                             unlimited: never give up (BATON_MAX_RESTARTS, 10)\n"
	"      --restart-window DUR   (BATON_RESTART_WINDOW, 60s)\n"
	"Stopping:\n"
	"      --drain-signal SIG     first signal of the stop sequence (BATON_DRAIN_SIGNAL, TERM)\n"
	"      --drain-timeout DUR    wait after it (BATON_DRAIN_TIMEOUT, 30s)\n"
	"      --term-timeout DUR     wait after SIGTERM, before SIGKILL (BATON_TERM_TIMEOUT, 10s)\n"
	"      --stop-delay DUR       keep serving this long after SIGTERM (BATON_STOP_DELAY, 0)\n"
	"      --stop-timeout DUR     the whole stop sequence ends within this; its phases are\n"
	"                             cut to fit, in order (BATON_STOP_TIMEOUT, 10s)\n"
	"Signals and exit status:\n"
	"      --signal-map FROM:TO[,...]  forward FROM to the workers as TO; TO 0 drops it\n"
	"                             (BATON_SIGNAL_MAP; e.g. QUIT:TERM,WINCH:0)\n"
	"      --reload-signal SIG|none  the signal that starts a rollout; any other, HUP\n"
	"                             included, is forwarded (BATON_RELOAD_SIGNAL, HUP)\n"
	"      --exit-map CODE:CODE[,...]  statuses taken as others, e.g. 143:0\n"
	"                             (BATON_EXIT_MAP)\n"
	"One-time work (shell syntax runs in /bin/sh -c, else exec; bounded by --ready-timeout):\n"
	"      --pre-start CMD        run once before the first worker; if it fails, exit with\n"
	"                             its status and start nothing (BATON_PRE_START)\n"
	"      --pre-rollout CMD      run before each rollout; if it fails, no rollout and the\n"
	"                             workers keep serving (BATON_PRE_ROLLOUT)\n"
	"Sockets and readiness:\n"
	"  -l, --listen ADDR[=NAME]   PORT, HOST:PORT, [IPV6]:PORT, tcp://HOST:PORT, unix:/PATH;\n"
	"                             repeatable (BATON_LISTEN, comma-separated)\n"
	"      --backlog N            listen backlog (BATON_BACKLOG, the kernel's somaxconn)\n"
	"      --tcp-nodelay on|off   TCP_NODELAY on accepted connections (BATON_TCP_NODELAY, on)\n"
	"      --ready MODE           delay:DUR|notify|fd|message (BATON_READY, delay:1s;\n"
	"                             message: process.send('ready') with --node-cluster)\n"
	"      --ready-timeout DUR    (BATON_READY_TIMEOUT, 60s)\n"
	"      --node-cluster         be the Node.js cluster primary (BATON_NODE_CLUSTER=1)\n"
	"      --node-drain graceful|close  keep-alive connections on a Node worker's drain:\n"
	"                             closed after their next response, or by Node at once\n"
	"                             (BATON_NODE_DRAIN, graceful)\n"
	"Sandbox:\n"
	"  -u, --user USER[:GROUP]    run workers as this user (BATON_USER)\n"
	"      --caps LIST|none|all   capabilities workers keep (BATON_CAPS, none)\n"
	"      --seccomp default|off|PATH  syscall filter (BATON_SECCOMP, default)\n"
	"      --seccomp-action errno|kill|log  (BATON_SECCOMP_ACTION, errno)\n"
	"Worker health (each off unless given; a worker is replaced by a ready one first):\n"
	"      --watchdog DUR|off     a worker must send a heartbeat this often, else it is\n"
	"                             replaced (BATON_WATCHDOG, off)\n"
	"      --watchdog-signal SIG  sent to a hung worker before SIGKILL, to dump its state\n"
	"                             (BATON_WATCHDOG_SIGNAL, ABRT)\n"
	"      --max-memory SIZE|PCT% recycle a worker whose process group's resident memory\n"
	"                             passes SIZE (300M, 1.5G) or PCT% of the container's\n"
	"                             limit divided by the workers (BATON_MAX_MEMORY, off)\n"
	"      --check-interval DUR   how often memory is measured (BATON_CHECK_INTERVAL, 1s)\n"
	"      --max-age DUR|off      recycle workers this old, less up to 10% at random\n"
	"                             (BATON_MAX_AGE, off)\n"
	"Control and logs:\n"
	"      --control PATH|none    control socket (BATON_CONTROL, /run/baton.sock)\n"
	"      --metrics ADDR|off     serve Prometheus metrics (GET /metrics) on PORT, HOST:PORT\n"
	"                             or unix:/PATH (BATON_METRICS, off)\n"
	"  -v, --verbose              more log lines (BATON_LOG_LEVEL=debug)\n"
	"  -q, --quiet                errors only (BATON_LOG_LEVEL=error)\n"
	"      --log-level LEVEL      error|warn|info|debug (BATON_LOG_LEVEL, info)\n"
	"      --log-format text|json (BATON_LOG_FORMAT, text)\n"
	"  -h, --help                 this text\n"
	"  -V, --version              the version\n"
	"\n"
	"Durations: 250ms, 30s, 2m, 1h, or plain seconds. Signals: TERM, SIGTERM, 15, RTMIN+1.\n"
	"Sizes: bytes, or K, M, G (also KiB, MiB, GiB: all binary), e.g. 512k, 300M, 1.5G.\n"
	"Exit status: the worker's (code or 128+signal); 2 bad usage; 126/127 COMMAND cannot run;\n"
	"137 a process had to be SIGKILLed in the stop; --exit-map changes any of them.\n";

/* ---- value parsers: pure, shared with other modules ---- */

int cfg_parse_duration(const char *text, int64_t *out_ms)
{
	const char *p = text;
	int64_t whole = 0, frac = 0, frac_div = 1, unit_ms;

	if (!text || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > MAX_DURATION_MS)
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < 1000000) {
				frac = frac * 10 + (*p - '0');
				frac_div *= 10;
			}
		}
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		unit_ms = 1000;
	else if (strcmp(p, "ms") == 0)
		unit_ms = 1;
	else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
		unit_ms = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		unit_ms = 3600 * 1000;
	else
		return -EINVAL;
	if (whole > MAX_DURATION_MS / unit_ms)
		return -EINVAL;
	*out_ms = whole * unit_ms + frac * unit_ms / frac_div;
	return 0;
}

int cfg_parse_size(const char *text, uint64_t *out_bytes)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "", 1 },           { "b", 1 },
		{ "k", 1ULL << 10 }, { "kb", 1ULL << 10 }, { "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 },
	};
	const char *p = text;
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 0;
	bool has_frac = false;

	if (!text || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > CFG_SIZE_MAX)
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		has_frac = true;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		/* Six digits of a fraction are more than a memory size needs; the rest are
		 * read and dropped, as cfg_parse_duration does. */
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
		}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(p, units[i].suffix) == 0)
			mult = units[i].mult;
	/* A fraction of a byte is a mistake, not a size. */
	if (mult == 0 || (has_frac && mult == 1) || whole > CFG_SIZE_MAX / mult)
		return -EINVAL;
	whole = whole * mult + frac * mult / frac_div;
	if (whole > CFG_SIZE_MAX)
		return -EINVAL;
	*out_bytes = whole;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{ "HUP", SIGHUP },     { "INT", SIGINT },       { "QUIT", SIGQUIT },   { "ILL", SIGILL },
	{ "TRAP", SIGTRAP },   { "ABRT", SIGABRT },     { "IOT", SIGIOT },     { "BUS", SIGBUS },
	{ "FPE", SIGFPE },     { "KILL", SIGKILL },     { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 },   { "PIPE", SIGPIPE },     { "ALRM", SIGALRM },   { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD },   { "CONT", SIGCONT },   { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },     { "TTOU", SIGTTOU },   { "URG", SIGURG },
	{ "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },     { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH }, { "IO", SIGIO },         { "POLL", SIGPOLL },   { "PWR", SIGPWR },
	{ "SYS", SIGSYS },
};

static int parse_small_int(const char *text, long min, long max, long *out)
{
	uint64_t v;

	if (dec_parse_str(text, (uint64_t)max, &v) < 0 || (long)v < min)
		return -EINVAL;
	*out = (long)v;
	return 0;
}

int cfg_parse_signal(const char *text, int *out_sig)
{
	long n;

	if (!text || !*text)
		return -EINVAL;
	if (isdigit((unsigned char)*text)) {
		if (parse_small_int(text, 1, SIGRTMAX, &n) < 0)
			return -EINVAL;
		*out_sig = (int)n;
		return 0;
	}
	if (strncasecmp(text, "SIG", 3) == 0)
		text += 3;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (strcasecmp(text, signal_names[i].name) == 0) {
			*out_sig = signal_names[i].sig;
			return 0;
		}
	}
	if (strncasecmp(text, "RTMIN", 5) == 0 || strncasecmp(text, "RTMAX", 5) == 0) {
		bool from_min = strncasecmp(text, "RTMIN", 5) == 0;
		const char *rest = text + 5;
		long off = 0;

		if (*rest) {
			if (*rest != (from_min ? '+' : '-'))
				return -EINVAL;
			if (parse_small_int(rest + 1, 0, SIGRTMAX - SIGRTMIN, &off) < 0)
				return -EINVAL;
		}
		*out_sig = from_min ? SIGRTMIN + (int)off : SIGRTMAX - (int)off;
		return 0;
	}
	return -EINVAL;
}

const char *cfg_signal_name(int sig, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "RTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "%d", sig);
	return buf;
}

int cfg_hook_argv(const char *cmd, char *buf, size_t buflen, char *argv[], int max)
{
	static const char shell_syntax[] = "'\"\\$`;&|<>()*?[]#~\n";
	int n = 0;
	char *save = NULL;

	if (!cmd || !*cmd || max < 4 || strlen(cmd) >= buflen)
		return -EINVAL;
	if (strpbrk(cmd, shell_syntax)) {
		argv[0] = (char *)"/bin/sh";
		argv[1] = (char *)"-c";
		argv[2] = (char *)cmd;
		argv[3] = NULL;
		return 3;
	}
	strcpy(buf, cmd);
	for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n >= max - 1)
			return -EINVAL;
		argv[n++] = w;
	}
	argv[n] = NULL;
	return n > 0 ? n : -EINVAL;
}

int cfg_map_exit(const short exit_map[256], int status)
{
	if (status < 0 || status > 255 || exit_map[status] == 0)
		return status;
	return exit_map[status] - 1;
}

/* ---- the option table ---- */

typedef int (*opt_setter)(struct config *cfg, const char *value, const char **expected);

static int set_workers(struct config *cfg, const char *v, const char **expected)
{
	long n;

	*expected = "a number from 1 to 4096, or auto";
	if (strcasecmp(v, "auto") == 0) {
		cfg->workers = 0;
		return 0;
	}
	if (parse_small_int(v, 1, CFG_MAX_WORKERS, &n) < 0)
		return -EINVAL;
	cfg->workers = (int)n;
	return 0;
}

static int set_restart(struct config *cfg, const char *v, const char **expected)
{
	*expected = "always, on-failure or never";
	if (strcmp(v, "always") == 0)
		cfg->restart = RESTART_ALWAYS;
	else if (strcmp(v, "on-failure") == 0)
		cfg->restart = RESTART_ON_FAILURE;
	else if (strcmp(v, "never") == 0)
		cfg->restart = RESTART_NEVER;
	else
		return -EINVAL;
	return 0;
}

static int set_max_restarts(struct config *cfg, const char *v, const char **expected)
{
	long n;

	*expected = "a number from 0 to 10000, or unlimited";
	if (strcasecmp(v, "unlimited") == 0) {
		cfg->max_restarts = CFG_RESTARTS_UNLIMITED;
		return 0;
	}
	if (parse_small_int(v, 0, 10000, &n) < 0)
		return -EINVAL;
	cfg->max_restarts = (int)n;
	return 0;
}

static int set_duration(int64_t *field, const char *v, const char **expected, bool allow_zero)
{
	int64_t ms;

	*expected = allow_zero ? "a duration such as 250ms, 30s, 2m or 0"
			       : "a positive duration such as 250ms, 30s or 2m";
	if (cfg_parse_duration(v, &ms) < 0 || (!allow_zero && ms == 0))
		return -EINVAL;
	*field = ms;
	return 0;
}

static int set_restart_window(struct config *cfg, const char *v, const char **expected)
{
	return set_duration(&cfg->restart_window_ms, v, expected, false);
}

/* The phases of the stop sequence: a value given is one the user expects to be honoured, so
 * baton says at start-up when --stop-timeout will cut it (see stop_phases_given). */
static int set_stop_phase(struct config *cfg, int64_t *field, const char *v,
			  const char **expected)
{
	int ret = set_duration(field, v, expected, true);

	if (ret == 0)
		cfg->stop_phases_given = true;
	return ret;
}

static int set_drain_timeout(struct config *cfg, const char *v, const char **expected)
{
	return set_stop_phase(cfg, &cfg->drain_timeout_ms, v, expected);
}

static int set_term_timeout(struct config *cfg, const char *v, const char **expected)
{
	return set_stop_phase(cfg, &cfg->term_timeout_ms, v, expected);
}

static int set_stop_delay(struct config *cfg, const char *v, const char **expected)
{
	return set_stop_phase(cfg, &cfg->stop_delay_ms, v, expected);
}

static int set_stop_timeout(struct config *cfg, const char *v, const char **expected)
{
	return set_duration(&cfg->stop_timeout_ms, v, expected, false);
}

static int set_ready_timeout(struct config *cfg, const char *v, const char **expected)
{
	return set_duration(&cfg->ready_timeout_ms, v, expected, false);
}

static int set_drain_signal(struct config *cfg, const char *v, const char **expected)
{
	int sig;

	*expected = "a signal such as TERM, SIGINT, QUIT or 15";
	if (cfg_parse_signal(v, &sig) < 0 || sig == SIGSTOP || sig == SIGCHLD)
		return -EINVAL;
	cfg->drain_signal = sig;
	cfg->drain_signal_explicit = true;
	return 0;
}

/* Signals baton acts on itself, never forwarded: they cannot be a --signal-map FROM or the
 * --reload-signal. */
static bool own_signal(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGCHLD || sig == SIGKILL || sig == SIGSTOP;
}

/* Each "A:B" of a comma-separated list, NUL-terminated in a copy, to fn. */
static int each_pair(struct config *cfg, const char *v,
		     int (*fn)(struct config *cfg, const char *a, const char *b))
{
	char copy[512], *rest = copy, *item;
	int n = 0;

	if (strlen(v) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, v);
	/* strsep, not strtok: an empty item ("A:B,,") is a mistake, not nothing. */
	while ((item = strsep(&rest, ","))) {
		char *colon;

		while (*item == ' ')
			item++;
		colon = strchr(item, ':');
		if (!colon || colon == item)
			return -EINVAL;
		*colon = '\0';
		if (fn(cfg, item, colon + 1) < 0)
			return -EINVAL;
		n++;
	}
	return n > 0 ? 0 : -EINVAL;
}

static int map_signal(struct config *cfg, const char *a, const char *b)
{
	int from, to;

	if (cfg_parse_signal(a, &from) < 0 || own_signal(from))
		return -EINVAL;
	if (strcmp(b, "0") == 0)
		to = CFG_SIG_DROP;
	else if (cfg_parse_signal(b, &to) < 0 || to == SIGSTOP || to == SIGCHLD)
		return -EINVAL;
	cfg->signal_map[from] = to == from ? 0 : to;
	return 0;
}

static int set_signal_map(struct config *cfg, const char *v, const char **expected)
{
	*expected = "FROM:TO[,FROM:TO...] of signals such as USR1:USR2 or WINCH:0 (TO 0 drops "
		    "it; TERM, INT, CHLD, KILL and STOP are not forwarded)";
	return each_pair(cfg, v, map_signal);
}

static int set_reload_signal(struct config *cfg, const char *v, const char **expected)
{
	int sig;

	*expected = "a signal such as HUP or USR2, or none (not TERM, INT, CHLD, KILL or STOP)";
	if (strcasecmp(v, "none") == 0) {
		cfg->reload_signal = 0;
		return 0;
	}
	if (cfg_parse_signal(v, &sig) < 0 || own_signal(sig))
		return -EINVAL;
	cfg->reload_signal = sig;
	return 0;
}

static int map_exit(struct config *cfg, const char *a, const char *b)
{
	long from, to;

	if (parse_small_int(a, 0, 255, &from) < 0 || parse_small_int(b, 0, 255, &to) < 0)
		return -EINVAL;
	cfg->exit_map[from] = (short)(to + 1);
	return 0;
}

static int set_exit_map(struct config *cfg, const char *v, const char **expected)
{
	*expected = "CODE:CODE[,CODE:CODE...] of statuses from 0 to 255, such as 143:0";
	return each_pair(cfg, v, map_exit);
}

/* A hook command: checked here, so that a bad one exits 2 before anything starts. */
static int set_hook(const char **field, const char *v, const char **expected)
{
	char buf[CFG_HOOK_MAX];
	char *argv[CFG_HOOK_WORDS];

	*expected = "a command line (at most 4095 bytes and 63 words)";
	if (cfg_hook_argv(v, buf, sizeof(buf), argv, CFG_HOOK_WORDS) < 0)
		return -EINVAL;
	*field = v;
	return 0;
}

static int set_pre_start(struct config *cfg, const char *v, const char **expected)
{
	return set_hook(&cfg->pre_start, v, expected);
}

static int set_pre_rollout(struct config *cfg, const char *v, const char **expected)
{
	return set_hook(&cfg->pre_rollout, v, expected);
}

static int set_ready(struct config *cfg, const char *v, const char **expected)
{
	*expected = "delay:DURATION, notify, fd or message";
	if (strcmp(v, "message") == 0) {
		cfg->ready = READY_MESSAGE;
	} else if (strcmp(v, "notify") == 0) {
		cfg->ready = READY_NOTIFY;
	} else if (strcmp(v, "fd") == 0) {
		cfg->ready = READY_FD;
	} else if (strcmp(v, "delay") == 0) {
		cfg->ready = READY_DELAY;
		cfg->ready_delay_ms = 1000;
	} else if (strncmp(v, "delay:", 6) == 0) {
		if (cfg_parse_duration(v + 6, &cfg->ready_delay_ms) < 0)
			return -EINVAL;
		cfg->ready = READY_DELAY;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int set_listen(struct config *cfg, const char *v, const char **expected)
{
	*expected = "at most 16 addresses";
	if (!*v)
		return 0;
	if (cfg->n_listen >= CFG_MAX_LISTEN)
		return -EINVAL;
	cfg->listen[cfg->n_listen++] = v;
	return 0;
}

static int set_backlog(struct config *cfg, const char *v, const char **expected)
{
	long n;

	*expected = "a number from 1 to 65535";
	if (parse_small_int(v, 1, 65535, &n) < 0)
		return -EINVAL;
	cfg->backlog = (int)n;
	return 0;
}

/* Which of n words v is (its index, in the order of the field's values), or -EINVAL. */
static int word_index(const char *v, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, words[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static int set_tcp_nodelay(struct config *cfg, const char *v, const char **expected)
{
	static const char *const words[] = { "off", "on" };
	int i = word_index(v, words, 2);

	*expected = "on or off";
	if (i >= 0)
		cfg->tcp_nodelay = i == 1;
	return i < 0 ? i : 0;
}

static int set_nonempty(const char **field, const char *v, const char **expected)
{
	*expected = "a non-empty value";
	if (!*v)
		return -EINVAL;
	*field = v;
	return 0;
}

static int set_user(struct config *cfg, const char *v, const char **expected)
{
	return set_nonempty(&cfg->user, v, expected);
}

static int set_caps(struct config *cfg, const char *v, const char **expected)
{
	return set_nonempty(&cfg->caps, v, expected);
}

static int set_seccomp(struct config *cfg, const char *v, const char **expected)
{
	return set_nonempty(&cfg->seccomp, v, expected);
}

static int set_seccomp_action(struct config *cfg, const char *v, const char **expected)
{
	*expected = "errno, kill or log";
	if (strcmp(v, "errno") && strcmp(v, "kill") && strcmp(v, "log"))
		return -EINVAL;
	cfg->seccomp_action = v;
	return 0;
}

static int set_control(struct config *cfg, const char *v, const char **expected)
{
	*expected = "an absolute path or none";
	if (strcmp(v, "none") == 0) {
		cfg->control = NULL;
	} else if (v[0] == '/' && strlen(v) < 108) {
		cfg->control = v;
	} else {
		return -EINVAL;
	}
	cfg->control_explicit = true;
	return 0;
}

/* Checked here so that a bad address is bad usage (2) before anything starts; the metrics
 * module parses it again to bind it. */
static int set_metrics(struct config *cfg, const char *v, const char **expected)
{
	struct sock_spec spec;
	char err[256];

	*expected = "PORT, HOST:PORT, [IPV6]:PORT, unix:/PATH or off";
	if (!*v || strcmp(v, "off") == 0 || strcmp(v, "none") == 0) {
		cfg->metrics = NULL;
		return 0;
	}
	if (strchr(v, '=') || sock_parse(v, &spec, err, sizeof(err)) < 0)
		return -EINVAL;
	cfg->metrics = v;
	return 0;
}

static int set_bool(bool *field, const char *v, const char **expected)
{
	*expected = "1, 0, true, false, yes or no";
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
		*field = true;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !*v)
		*field = false;
	else
		return -EINVAL;
	return 0;
}

static int set_node_cluster(struct config *cfg, const char *v, const char **expected)
{
	return set_bool(&cfg->node_cluster, v, expected);
}

static int set_node_drain(struct config *cfg, const char *v, const char **expected)
{
	static const char *const words[] = { [NODE_DRAIN_GRACEFUL] = "graceful",
					     [NODE_DRAIN_CLOSE] = "close" };
	int i = word_index(v, words, 2);

	*expected = "graceful or close";
	if (i >= 0)
		cfg->node_drain = (enum node_drain)i;
	return i < 0 ? i : 0;
}

/* A health check's period: "off" or 0 turns it off (so that a variable can undo a default
 * of an image), anything else must be at least min_ms. */
static int set_check_duration(int64_t *field, const char *v, int64_t min_ms, bool can_be_off)
{
	int64_t ms;

	if (can_be_off && strcasecmp(v, "off") == 0) {
		*field = 0;
		return 0;
	}
	if (cfg_parse_duration(v, &ms) < 0 || (ms == 0 && !can_be_off) || (ms > 0 && ms < min_ms))
		return -EINVAL;
	*field = ms;
	return 0;
}

static int set_watchdog(struct config *cfg, const char *v, const char **expected)
{
	*expected = "a duration of at least 100ms such as 10s, or off";
	return set_check_duration(&cfg->watchdog_ms, v, CFG_WATCHDOG_MIN_MS, true);
}

static int set_watchdog_signal(struct config *cfg, const char *v, const char **expected)
{
	int sig;

	/* STOP would freeze the hung worker, CHLD and CONT do nothing: none of them ends it or
	 * makes it tell why it hung. */
	*expected = "a signal such as ABRT, QUIT, USR1 or KILL (not STOP, CHLD or CONT)";
	if (cfg_parse_signal(v, &sig) < 0 || sig == SIGSTOP || sig == SIGCHLD || sig == SIGCONT)
		return -EINVAL;
	cfg->watchdog_signal = sig;
	return 0;
}

static int set_max_memory(struct config *cfg, const char *v, const char **expected)
{
	size_t len = strlen(v);
	uint64_t bytes;
	long pct;

	*expected = "a size of at least 1M such as 300M, 512MiB or 1.5G, a percentage from 1% "
		    "to 100% of the container's memory limit, or off";
	if (strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0) {
		cfg->max_memory_kind = MAX_MEMORY_OFF;
		cfg->max_memory = 0;
		return 0;
	}
	if (len > 1 && v[len - 1] == '%') {
		char num[8];

		if (len - 1 >= sizeof(num))
			return -EINVAL;
		memcpy(num, v, len - 1);
		num[len - 1] = '\0';
		if (parse_small_int(num, 1, 100, &pct) < 0)
			return -EINVAL;
		cfg->max_memory_kind = MAX_MEMORY_PERCENT;
		cfg->max_memory = (uint64_t)pct;
		return 0;
	}
	if (cfg_parse_size(v, &bytes) < 0 || bytes < CFG_MAX_MEMORY_MIN)
		return -EINVAL;
	cfg->max_memory_kind = MAX_MEMORY_BYTES;
	cfg->max_memory = bytes;
	return 0;
}

static int set_check_interval(struct config *cfg, const char *v, const char **expected)
{
	*expected = "a duration of at least 100ms such as 1s or 500ms";
	return set_check_duration(&cfg->check_interval_ms, v, CFG_CHECK_INTERVAL_MIN_MS, false);
}

static int set_max_age(struct config *cfg, const char *v, const char **expected)
{
	*expected = "a duration of at least 1s such as 30m, 6h or 3600, or off";
	return set_check_duration(&cfg->max_age_ms, v, CFG_MAX_AGE_MIN_MS, true);
}

static int set_log_level(struct config *cfg, const char *v, const char **expected)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	*expected = "error, warn, info or debug";
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, names[i]) == 0) {
			cfg->log_level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_log_format(struct config *cfg, const char *v, const char **expected)
{
	*expected = "text or json";
	if (strcmp(v, "text") == 0)
		cfg->log_format = LOG_TEXT;
	else if (strcmp(v, "json") == 0)
		cfg->log_format = LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

enum { OPT_FLAG_ONLY = 0x100 }; /* getopt values for options without a short letter */

struct option_row {
	const char *name;
	int short_opt;      /* letter, or OPT_FLAG_ONLY + index */
	const char *env;
	opt_setter set;
	bool list;          /* the variable holds a comma-separated list */
};

static const struct option_row rows[] = {
	{ "workers", 'w', "BATON_WORKERS", set_workers, false },
	{ "restart", 0, "BATON_RESTART", set_restart, false },
	{ "max-restarts", 0, "BATON_MAX_RESTARTS", set_max_restarts, false },
	{ "restart-window", 0, "BATON_RESTART_WINDOW", set_restart_window, false },
	{ "drain-signal", 0, "BATON_DRAIN_SIGNAL", set_drain_signal, false },
	{ "drain-timeout", 0, "BATON_DRAIN_TIMEOUT", set_drain_timeout, false },
	{ "term-timeout", 0, "BATON_TERM_TIMEOUT", set_term_timeout, false },
	{ "stop-delay", 0, "BATON_STOP_DELAY", set_stop_delay, false },
	{ "stop-timeout", 0, "BATON_STOP_TIMEOUT", set_stop_timeout, false },
	{ "signal-map", 0, "BATON_SIGNAL_MAP", set_signal_map, false },
	{ "reload-signal", 0, "BATON_RELOAD_SIGNAL", set_reload_signal, false },
	{ "exit-map", 0, "BATON_EXIT_MAP", set_exit_map, false },
	{ "pre-start", 0, "BATON_PRE_START", set_pre_start, false },
	{ "pre-rollout", 0, "BATON_PRE_ROLLOUT", set_pre_rollout, false },
	{ "ready", 0, "BATON_READY", set_ready, false },
	{ "ready-timeout", 0, "BATON_READY_TIMEOUT", set_ready_timeout, false },
	{ "listen", 'l', "BATON_LISTEN", set_listen, true },
	{ "backlog", 0, "BATON_BACKLOG", set_backlog, false },
	{ "tcp-nodelay", 0, "BATON_TCP_NODELAY", set_tcp_nodelay, false },
	{ "user", 'u', "BATON_USER", set_user, false },
	{ "caps", 0, "BATON_CAPS", set_caps, false },
	{ "seccomp", 0, "BATON_SECCOMP", set_seccomp, false },
	{ "seccomp-action", 0, "BATON_SECCOMP_ACTION", set_seccomp_action, false },
	{ "control", 0, "BATON_CONTROL", set_control, false },
	{ "metrics", 0, "BATON_METRICS", set_metrics, false },
	{ "watchdog", 0, "BATON_WATCHDOG", set_watchdog, false },
	{ "watchdog-signal", 0, "BATON_WATCHDOG_SIGNAL", set_watchdog_signal, false },
	{ "max-memory", 0, "BATON_MAX_MEMORY", set_max_memory, false },
	{ "check-interval", 0, "BATON_CHECK_INTERVAL", set_check_interval, false },
	{ "max-age", 0, "BATON_MAX_AGE", set_max_age, false },
	{ "log-format", 0, "BATON_LOG_FORMAT", set_log_format, false },
	{ "node-drain", 0, "BATON_NODE_DRAIN", set_node_drain, false },
	{ "log-level", 0, "BATON_LOG_LEVEL", set_log_level, false },
	{ "node-cluster", 0, "BATON_NODE_CLUSTER", set_node_cluster, false },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))
#define ROW_NODE_CLUSTER (N_ROWS - 1)
#define ROW_LOG_LEVEL (N_ROWS - 2)

void cfg_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 1;
	cfg->restart = RESTART_ON_FAILURE;
	cfg->max_restarts = 10;
	cfg->restart_window_ms = 60 * 1000;
	cfg->drain_signal = SIGTERM;
	cfg->drain_timeout_ms = 30 * 1000;
	cfg->term_timeout_ms = 10 * 1000;
	cfg->stop_timeout_ms = 10 * 1000; /* docker stop's own grace period */
	cfg->reload_signal = SIGHUP;
	cfg->ready = READY_DELAY;
	cfg->ready_delay_ms = 1000;
	cfg->ready_timeout_ms = 60 * 1000;
	cfg->tcp_nodelay = true;
	cfg->node_drain = NODE_DRAIN_GRACEFUL;
	cfg->caps = "none";
	cfg->seccomp = "default";
	cfg->seccomp_action = "errno";
	cfg->control = "/run/baton.sock";
	cfg->watchdog_signal = SIGABRT;
	cfg->max_memory_kind = MAX_MEMORY_OFF;
	cfg->check_interval_ms = 1000;
	cfg->log_level = LOG_INFO;
	cfg->log_format = LOG_TEXT;
}

static const char *env_get(char **envp, const char *name)
{
	size_t len = strlen(name);

	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static int apply(struct config *cfg, size_t row, const char *value, bool from_env, char *err,
		 size_t errlen)
{
	const char *expected = "a valid value";

	if (rows[row].set(cfg, value, &expected) == 0)
		return 0;
	if (from_env)
		snprintf(err, errlen, "invalid %s='%s': expected %s", rows[row].env, value, expected);
	else
		snprintf(err, errlen, "invalid value '%s' for --%s: expected %s", value,
			 rows[row].name, expected);
	return -EINVAL;
}

/* Split a comma-separated variable into list entries. The copies live as long as the process:
 * the config points into them, as it points into argv for flags. */
static int apply_env_list(struct config *cfg, size_t row, const char *value, char *err,
			  size_t errlen)
{
	/* Kept for the life of the process (the entries point into it); one variable has a
	 * list, so one copy is all there is. */
	static char *copy;
	char *save = NULL;

	free(copy);
	copy = strdup(value);

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if (apply(cfg, row, item, true, err, errlen) < 0)
			return -EINVAL; /* copy stays referenced by entries already added */
	}
	return 0;
}

int cfg_parse(struct config *cfg, int argc, char **argv, char **envp, enum cfg_action *action,
	      char *err, size_t errlen)
{
	struct option longopts[N_ROWS + 5];
	bool set_by_flag[N_ROWS] = { false };
	size_t n = 0;
	int c;

	*action = CFG_RUN;
	for (size_t i = 0; i < N_ROWS; i++) {
		bool takes_arg = i != ROW_NODE_CLUSTER;

		longopts[n++] = (struct option){ rows[i].name, takes_arg ? required_argument : no_argument,
						 NULL, rows[i].short_opt ? rows[i].short_opt
									 : OPT_FLAG_ONLY + (int)i };
	}
	longopts[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	longopts[n++] = (struct option){ "quiet", no_argument, NULL, 'q' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	longopts[n] = (struct option){ 0 };

	/* '+': stop at the first non-option so COMMAND's own flags stay its own;
	 * ':': report a missing argument distinctly from an unknown option. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:w:l:u:vqhV", longopts, NULL)) != -1) {
		size_t row = N_ROWS;

		switch (c) {
		case 'h':
			*action = CFG_HELP;
			return 0;
		case 'V':
			*action = CFG_VERSION;
			return 0;
		case 'v':
			cfg->log_level = LOG_DEBUG;
			set_by_flag[ROW_LOG_LEVEL] = true;
			continue;
		case 'q':
			cfg->log_level = LOG_ERROR;
			set_by_flag[ROW_LOG_LEVEL] = true;
			continue;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		case '?':
			if (strncmp(argv[optind - 1], "--", 2) == 0 && strchr(argv[optind - 1], '=') &&
			    optopt)
				snprintf(err, errlen, "option '%.*s' takes no value",
					 (int)(strchr(argv[optind - 1], '=') - argv[optind - 1]),
					 argv[optind - 1]);
			else if (optopt && optopt < OPT_FLAG_ONLY)
				snprintf(err, errlen, "unknown option '-%c' (see baton --help)", optopt);
			else
				snprintf(err, errlen, "unknown option '%s' (see baton --help)",
					 argv[optind - 1]);
			return -EINVAL;
		default:
			for (size_t i = 0; i < N_ROWS; i++)
				if (rows[i].short_opt == c || OPT_FLAG_ONLY + (int)i == c)
					row = i;
			break;
		}
		if (row >= N_ROWS)
			continue;
		set_by_flag[row] = true;
		if (row == ROW_NODE_CLUSTER) {
			cfg->node_cluster = true;
			continue;
		}
		if (apply(cfg, row, optarg, false, err, errlen) < 0)
			return -EINVAL;
	}

	for (size_t i = 0; i < N_ROWS; i++) {
		const char *value;

		if (set_by_flag[i] || !(value = env_get(envp, rows[i].env)))
			continue;
		if (rows[i].list) {
			if (apply_env_list(cfg, i, value, err, errlen) < 0)
				return -EINVAL;
		} else if (apply(cfg, i, value, true, err, errlen) < 0) {
			return -EINVAL;
		}
	}

	if (cfg->reload_signal && cfg->signal_map[cfg->reload_signal]) {
		char name[16];

		snprintf(err, errlen, "--signal-map: SIG%s starts a rollout and is not forwarded "
			 "(choose another with --reload-signal, or none)",
			 cfg_signal_name(cfg->reload_signal, name, sizeof(name)));
		return -EINVAL;
	}
	if (cfg->ready == READY_MESSAGE && !cfg->node_cluster) {
		snprintf(err, errlen, "--ready message needs --node-cluster");
		return -EINVAL;
	}
	if (optind >= argc) {
		snprintf(err, errlen, "no COMMAND given (usage: baton [OPTIONS] [--] COMMAND [ARG...])");
		return -EINVAL;
	}
	if (argv[optind][0] == '\0') {
		snprintf(err, errlen, "COMMAND is an empty string");
		return -EINVAL;
	}
	cfg->command = argv + optind;
	return 0;
}

bool cfg_drains_by_message(const struct config *cfg)
{
	return cfg->node_cluster && !cfg->drain_signal_explicit;
}
