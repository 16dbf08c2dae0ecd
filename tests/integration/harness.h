/*
 * harness: run baton as a real PID 1 (unshare --pid --fork --mount-proc) from cmocka tests,
 * wait for conditions with bounded polling (never fixed sleeps), and clean up every process
 * a test started, even when it fails.
 *
 * Paths come from the environment set by `make integration`: BATON (the binary under test)
 * and HELPERS (the directory of test worker programs).
 */
#ifndef BATON_TEST_HARNESS_H
#define BATON_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bt {
	pid_t pid;       /* the process we forked: unshare, or baton itself with BT_PLAIN */
	pid_t baton;     /* host pid of baton (PID 1 inside its namespace) */
	char dir[64];    /* private temp directory of this run */
	char log[128];   /* baton's stderr */
	char out[128];   /* stdout of baton and its workers */
	char ctl[128];   /* baton's control socket: private to this run (see bt_start) */
	bool exited;
	int status;      /* exit code, or 128+signal */
	bool flags_plain;
};

enum bt_flags {
	BT_PLAIN = 1,    /* run baton directly, not as PID 1 (subreaper mode) */
	BT_KEEP_STDIN = 2, /* keep the test's stdin (default: /dev/null) */
	/* Give baton no --control: it binds its default /run/baton.sock, in a mount namespace of
	 * its own with a tmpfs on /run, so a baton of the host is never touched. Not with
	 * BT_PLAIN. Reach it with bt_ns_sh. */
	BT_DEFAULT_CONTROL = 4,
};

/* Start baton with args (NULL-terminated, without argv[0]) and extra env "K=V" entries
 * (NULL-terminated, may be NULL). Waits until baton has exec'd. Fails the test on error.
 * Unless args or env name a control socket (or BT_DEFAULT_CONTROL), baton is given
 * `--control b->ctl`, a path in the run's private directory: the host's /run/baton.sock is
 * never bound, and two runs never share a socket. */
void bt_start(struct bt *b, int flags, const char *const args[], const char *const env[]);

/* Signal baton (host pid). */
void bt_signal(struct bt *b, int sig);

/* Wait up to timeout_ms for baton to exit; true if it did (b->status set). */
bool bt_wait_exit(struct bt *b, int timeout_ms);

/* Wait until baton's stderr contains needle (count occurrences >= n for the _n form). */
bool bt_wait_log(struct bt *b, const char *needle, int timeout_ms);
bool bt_wait_log_n(struct bt *b, const char *needle, int n, int timeout_ms);
int bt_log_count(struct bt *b, const char *needle);
/* Wait until the workers' stdout contains needle n times. */
bool bt_wait_out_n(struct bt *b, const char *needle, int n, int timeout_ms);

/* Host pids of baton's direct children (workers). Returns the count. */
int bt_children(struct bt *b, pid_t *pids, int max);
/* Wait until baton has exactly n children; fills pids when non-NULL. */
bool bt_wait_children(struct bt *b, int n, pid_t *pids, int timeout_ms);
/* Number of processes in baton's PID namespace other than baton. */
int bt_ns_procs(struct bt *b);

/* Print baton's stderr and the workers' stdout (for a failing test). */
void bt_dump(struct bt *b);

/* Kill everything the run started and remove its temp directory. Call at the end of every
 * test (also registered with atexit, so a failing assertion cleans up too). */
void bt_cleanup(struct bt *b);

/* Path of a test helper program, or the baton binary. */
const char *bt_helper(const char *name);
const char *bt_baton(void);

/* A field of /proc/PID/status ("Uid", "CapEff", ...), value without leading spaces. */
bool bt_proc_status(pid_t pid, const char *field, char *out, size_t len);
/* State letter of /proc/PID/stat, or 0 if gone. */
char bt_proc_state(pid_t pid);

/* A TCP port on 127.0.0.1 that is free right now. */
int bt_free_port(void);
/* One HTTP/1.0 GET to 127.0.0.1:port; returns the status code (or -errno) and the body. */
int bt_http_get(int port, const char *path, char *body, size_t len);
/* Poll until GET succeeds with 200 or the timeout ends. */
bool bt_wait_http(int port, int timeout_ms);

/* Run a shell command line; returns its exit status (or -1). Output goes to out when non-NULL. */
int bt_sh(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* `baton ctl --socket b->ctl ARGS 2>&1` (output and errors in out), bounded by `timeout 30`; returns its exit status. */
int bt_ctl(struct bt *b, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A control socket path in a private directory of this test process (created on first use,
 * removed at exit), for a baton a test starts without bt_start (bt_sh, exec). Nothing is
 * listening on it until such a baton runs. */
const char *bt_spare_control(void);

/* Run a shell command line inside baton's mount namespace (nsenter), as bt_sh. */
int bt_ns_sh(struct bt *b, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Wait up to timeout_ms for child pid to exit (waitpid); *status gets the wait status. */
bool bt_wait_pid(pid_t pid, int *status, int timeout_ms);

/* Wait until some client holds a TCP connection to 127.0.0.1:port (a load generator has
 * really started sending). Only the test's own load may talk to the port meanwhile. */
bool bt_wait_tcp_client(int port, int timeout_ms);

/* Read a whole file into a malloc'd NUL-terminated string (NULL on error). */
char *bt_read_file(const char *path);

/* Monotonic clock in milliseconds, for measuring how long something took. */
int64_t bt_now_ms(void);

/* Sleep-free bounded wait: call cond(arg) every few ms until true or timeout. */
bool bt_poll(bool (*cond)(void *arg), void *arg, int timeout_ms);

#endif
