/*
 * pool: the supervisor, as a pure state machine.
 *
 * The pool never makes a system call. The run loop feeds it events (a worker was spawned,
 * exited, became ready; a signal arrived; time passed) with the current monotonic time, and
 * drains the actions it decided (spawn a worker for slot k, signal a process group, signal the
 * orphans, log a line, exit). That keeps every policy of baton (restarts, backoff, the crash-loop
 * guard, the stop sequence, the rollout) testable as data: tables of events and expected actions.
 */
#ifndef BATON_POOL_H
#define BATON_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "baton/config.h"

#define POOL_MSG_LEN 240

enum worker_state {
	WS_FREE = 0,  /* table entry unused */
	WS_SPAWNING,  /* spawn requested, pid not known yet */
	WS_STARTING,  /* running, not ready yet */
	WS_READY,     /* serving */
	WS_STOPPING,  /* in the stop sequence */
};

/* Where a worker is in the stop sequence. */
enum stop_step { STOP_NONE, STOP_DRAIN, STOP_TERM, STOP_KILL };

/* Why a worker is being stopped: decides what happens when it exits. */
enum stop_reason {
	WHY_NONE,
	WHY_SHUTDOWN,    /* the container is stopping */
	WHY_RETIRE,      /* replaced by a rollout, or its slot was scaled away */
	WHY_READY_LATE,  /* did not become ready in time: a failed start, restarted with backoff */
	WHY_ROLLBACK,    /* a rollout's candidate that failed its start */
};

/* Why a slot's worker was last replaced (ctl status, metrics). */
enum pool_cause {
	CAUSE_NONE,
	CAUSE_EXIT,      /* it exited on its own */
	CAUSE_SIGNAL,    /* a signal killed it */
	CAUSE_OOM,       /* the kernel's OOM killer killed it */
	CAUSE_WATCHDOG,  /* it missed its --watchdog heartbeat */
	CAUSE_MEMORY,    /* it grew past --max-memory */
	CAUSE_AGE,       /* it reached --max-age */
	CAUSE_ROLLOUT,   /* a rollout replaced it */
};
#define POOL_CAUSES (CAUSE_ROLLOUT + 1)

/* How a rollout ended, and how a drain did (metrics). */
enum rollout_outcome { ROLLOUT_COMPLETE, ROLLOUT_ROLLED_BACK, ROLLOUT_CANCELLED };
#define ROLLOUT_OUTCOMES 3
enum drain_end { DRAIN_EXITED, DRAIN_SIGTERM, DRAIN_SIGKILL };
#define DRAIN_ENDS 3

/* Upper bounds of the drain-duration histogram, in ms (a last bucket, +Inf, is implied). */
#define POOL_DRAIN_BUCKETS 10
extern const int64_t pool_drain_bucket_ms[POOL_DRAIN_BUCKETS];

/* What the pool counts for metrics and views, since start. */
struct pool_stats {
	uint64_t rollouts[ROLLOUT_OUTCOMES];
	int64_t rollout_started_ms; /* of the one running, -1 none */
	int64_t last_rollout_ms;    /* how long the last one that ended took, -1 none */
	uint64_t crash_loops;       /* the guard gave up (baton then exits) */
	uint64_t drains[DRAIN_ENDS]; /* workers stopped, by the step that ended them */
	uint64_t drain_le[POOL_DRAIN_BUCKETS]; /* cumulative: drains that took <= bound */
	uint64_t drain_count;
	int64_t drain_sum_ms;
	bool cancelling;            /* a stop is cancelling the rollout: not a rollback */
};

struct worker {
	enum worker_state state;
	int slot;               /* 1..n_slots - 1 */
	pid_t pid;
	unsigned generation;    /* which rollout started it */
	bool candidate;         /* a rollout's new worker, not serving yet */
	int64_t started_ms;
	int64_t ready_ms;
	int64_t deadline_ms;    /* readiness or stop-step deadline, -1 none */
	enum stop_step step;
	enum stop_reason why;
	int64_t stop_started_ms;
	/* Health (issue of its own, each off unless set): */
	int64_t beat_ms;        /* its last heartbeat, or its readiness (--watchdog) */
	int64_t expire_ms;      /* when it reaches --max-age, -1 never */
	uint64_t rss_bytes;     /* its process group's last memory sample, 0 none */
	enum pool_cause recycle; /* it is to be replaced for this cause, CAUSE_NONE not */
	bool hung;              /* stopped for a missed watchdog: dump signal, then SIGKILL */
	bool oom;               /* the OOM killer killed it (pool_oom_killed) */
};

struct slot {
	bool active;            /* within the wanted pool size */
	int cur;                /* serving (or starting) worker index, -1 none */
	int cand;               /* rollout candidate index, -1 none */
	int fail_streak;        /* consecutive deaths before ready, for the backoff */
	int64_t restart_at_ms;  /* pending restart, -1 none */
	int restarts;
	int last_status;        /* exit code or 128+signal of its last worker, -1 none */
	bool done;              /* its worker ended and the policy says no restart */
	enum pool_cause last_cause; /* why its last worker was replaced */
	uint64_t restarts_by[POOL_CAUSES]; /* workers replaced, by cause (not by a rollout) */
	int64_t unready_since_ms; /* since when it has had no ready worker, -1: it has one */
};

enum pool_phase {
	PH_RUNNING,
	PH_STOP_DELAY,     /* still serving for --stop-delay after a stop request */
	PH_STOPPING,       /* stop sequence on every worker */
	PH_ORPHANS_TERM,   /* workers gone; remaining processes got SIGTERM */
	PH_ORPHANS_KILL,   /* ... and then SIGKILL */
	PH_EXITED,
};

enum action_kind {
	ACT_SPAWN,           /* spawn worker `worker` (slot, generation in the table) */
	ACT_DRAIN,           /* first step of the stop sequence for `worker`: send `sig` (or the
			      * Node cluster disconnect, when the loop speaks it) */
	ACT_SIGNAL,          /* send `sig` to the process group of `pid`; a step of the stop
			      * sequence carries its line in `msg` at `level`, which the loop logs
			      * with the command of `pid` */
	ACT_SIGNAL_ORPHANS,  /* send `sig` to every other process left, then report
			      * pool_children_gone() if none is left */
	ACT_LOG,             /* log `msg` at `level` */
	ACT_ROLLOUT_DONE,    /* a rollout ended: status 0 ok, else failed with `msg` */
	ACT_RUN_HOOK,        /* run the --pre-rollout command; report with pool_hook_started,
			      * its exit comes through pool_exited */
	ACT_WORKERS_STOPPED, /* every worker is gone after a stop request */
	ACT_EXIT,            /* exit baton with `status` */
};

struct pool_action {
	enum action_kind kind;
	int worker;
	pid_t pid;
	int sig;
	int status;
	enum log_level level;
	char msg[POOL_MSG_LEN];
};

/* The settings the supervisor needs, taken from struct config. */
struct pool_settings {
	int workers;
	int max_entries;        /* at most this many worker entries (pool_capacity); 0 no bound */
	enum restart_policy restart;
	int max_restarts;
	int64_t restart_window_ms;
	int drain_signal;
	bool drain_by_ipc;      /* the drain is a message (Node cluster); TERM always follows it */
	int64_t drain_timeout_ms;
	int64_t term_timeout_ms;
	int64_t stop_delay_ms;
	int64_t stop_timeout_ms; /* the whole stop sequence ends within this; 0: no such bound */
	bool ready_by_delay;
	int64_t ready_delay_ms;
	int64_t ready_timeout_ms;
	bool tty_foreground;    /* one worker holds the terminal: Ctrl-C means "stop" */
	int reload_signal;      /* starts a rollout; 0 none */
	bool pre_rollout;       /* a command runs before each rollout (ACT_RUN_HOOK) */
	int64_t hook_timeout_ms; /* then SIGKILL, and it failed */
	int signal_map[CFG_NSIG]; /* as struct config's: 0 as is, CFG_SIG_DROP, or the signal */
	/* Worker health: each 0 when off. */
	int64_t watchdog_ms;    /* a ready worker's heartbeats are due this often */
	int watchdog_signal;    /* a hung worker gets this, then SIGKILL after term_timeout */
	int64_t max_age_ms;     /* recycled at this age, less up to 10% */
	enum max_memory_kind max_memory_kind; /* --max-memory as struct config holds it */
	uint64_t max_memory;
	uint64_t memory_limit;  /* the container's, for a percentage; 0 none */
	uint64_t seed;          /* for the --max-age jitter */
	short exit_map[256];    /* as struct config's (cfg_map_exit) */
};

/* The rollout's own state: only rollout.c writes it (see src/pool_int.h). */
struct rollout {
	unsigned generation;    /* the code new workers run; a rollout starts the next one */
	bool active;
	bool again;             /* another reload was asked for during this one */
	int slot;               /* slot being replaced */
	int old;                /* worker index being drained, -1 while the candidate starts */
	pid_t old_pid;
	int done;
	int total;
	int64_t step_started_ms;
	int64_t ready_after_ms;
};

/* The tables are allocated by pool_init for the pool asked for and grown when it needs more
 * (pool_scale, a spawn with every entry taken, a burst of actions): a pool of one worker
 * costs a few hundred bytes, not the largest pool's. */
struct pool {
	struct pool_settings set;
	struct slot *slots;     /* n_slots entries; index 0 unused: slots are 1-based */
	int n_slots;
	struct worker *workers; /* n_workers entries (pool_capacity): the array may move when it
				 * grows, so keep indices, never pointers */
	int n_workers;
	int *by_pid;            /* open-addressing index: pid -> worker entry, -1 empty */
	int by_pid_mask;        /* its size - 1, a power of two above twice n_workers */
	int wanted;
	enum pool_phase phase;
	int64_t phase_deadline_ms;
	int64_t stop_end_ms;    /* when the stop began + --stop-timeout, -1 before a stop */
	bool ever_ready;
	struct rollout ro;

	/* The --pre-rollout command: a rollout asked for waits for it. */
	struct {
		bool running;
		pid_t pid;              /* 0 until spawned */
		int64_t deadline_ms;    /* -1 none */
	} hook;

	/* Exit status: forced (crash loop, exec failure, Ctrl-C), else from the stop sequence,
	 * else from the workers that ended on their own. */
	bool exit_forced;
	int exit_status;
	int stop_status;        /* first unexpected status among stopped workers, -1 none */
	int natural_status;     /* first non-zero status of a worker that was not restarted */

	/* Crash-loop guard: times of the last --max-restarts + 1 restarts, a ring (NULL when
	 * unlimited). */
	int64_t *restart_log;
	int restart_log_cap, restart_log_len, restart_log_head;

	/* The one-slot replacement of a worker that health checks condemned: at most one at a
	 * time, its new worker ready before the old one goes, as a rollout's step. */
	struct {
		bool active;
		int slot;
		int old;                /* the worker replaced, -1 once it is gone */
		enum pool_cause cause;
		int64_t retry_at_ms;    /* after a failed replacement, none before this; -1 */
		bool reload_after;      /* a reload asked for meanwhile starts when it ends */
	} rep;
	uint64_t rng;               /* splitmix64 state, from settings.seed */
	struct pool_stats stats;
	char oom_detail[64];        /* pool_oom_killed's text for the exit line */

	/* Decided actions, a ring that grows when full: an action is never overwritten. */
	struct pool_action *actions;
	int act_cap, act_head, act_len;
	unsigned act_dropped;   /* actions lost because the ring could not grow (out of memory) */
};

/* 0, or -ENOMEM (nothing is left allocated). Call pool_free when done, even after a failure. */
int pool_init(struct pool *pool, const struct pool_settings *settings);

/* Free the tables; safe on a pool whose init failed or that was freed already. */
void pool_free(struct pool *pool);

/* Number of worker entries: indices 0 .. pool_capacity() - 1 of pool->workers are valid. It
 * only grows (a spawn that found every entry taken), and the array may move when it does. */
int pool_capacity(const struct pool *pool);

/* Spawn every slot. */
void pool_start(struct pool *pool, int64_t now);

/* Result of ACT_SPAWN: pid > 0, or err < 0 (-ENOENT/-EACCES...: the command cannot be executed;
 * other: the worker could not be set up). */
void pool_spawned(struct pool *pool, int worker, pid_t pid, int err, int64_t now);

/* A reaped child. wstatus as from waitpid: a worker, or the --pre-rollout command. Unknown
 * pids (orphans) are ignored. */
void pool_exited(struct pool *pool, pid_t pid, int wstatus, int64_t now);

/* Result of ACT_RUN_HOOK: pid > 0, or err < 0 (it could not be started: a failed hook). */
void pool_hook_started(struct pool *pool, pid_t pid, int err, int64_t now);

/* A worker reported readiness (notify, ready fd, Node "listening"). */
void pool_ready(struct pool *pool, pid_t pid, int64_t now);

/* A worker broke its readiness protocol: treated like an exit before ready. */
void pool_failed(struct pool *pool, pid_t pid, const char *why, int64_t now);

/* Health events: a heartbeat (sd_notify WATCHDOG=1, a byte on the ready fd after the first,
 * Node's process.send('watchdog')); a memory sample of the worker's process group; and, just
 * before its exit is reported, the word that the kernel's OOM killer killed it (detail names
 * the limit, for the log line). Unknown pids are ignored. */
void pool_heartbeat(struct pool *pool, pid_t pid, int64_t now);
void pool_memory(struct pool *pool, pid_t pid, uint64_t rss_bytes, int64_t now);
void pool_oom_killed(struct pool *pool, pid_t pid, const char *detail);

/* The per-worker --max-memory limit in bytes now (a percentage depends on the pool's size),
 * 0 when off. */
uint64_t pool_memory_limit(const struct pool *pool);

/* "exit", "signal", "oom", "watchdog", "memory", "age", "rollout"; NULL for CAUSE_NONE. */
const char *pool_cause_name(enum pool_cause cause);
/* "complete", "rolled_back", "cancelled"; "exited", "SIGTERM", "SIGKILL". */
const char *pool_rollout_outcome_name(enum rollout_outcome outcome);
const char *pool_drain_end_name(enum drain_end end);

/* A signal that baton itself received. */
void pool_signal(struct pool *pool, int sig, int64_t now);

/* Requests (signals and the control socket). 0, or -errno with the reason in err; pool_scale
 * refuses with -ENOMEM when its slot table cannot grow, and nothing changes. */
int pool_reload(struct pool *pool, int64_t now, char *err, size_t errlen);
int pool_scale(struct pool *pool, int n, int64_t now, char *err, size_t errlen);
void pool_stop(struct pool *pool, int64_t now);

/* Time passed: fire every deadline <= now. */
void pool_tick(struct pool *pool, int64_t now);

/* The end of a stop had to SIGKILL n processes besides the workers: unless baton already
 * exits with a failure, its status says so, 137 as for a worker. */
void pool_orphans_killed(struct pool *pool, int n);

/* No child process is left (waitpid said ECHILD). */
void pool_children_gone(struct pool *pool, int64_t now);

/* Earliest pending deadline, or -1 when nothing is scheduled (baton may sleep). */
int64_t pool_next_deadline(const struct pool *pool);

/* Take the next decided action; false when there is none. */
bool pool_next_action(struct pool *pool, struct pool_action *out);

/* Worker index of a pid, or -1. Cheap for pids that are not workers (orphans): a hash. */
int pool_find(const struct pool *pool, pid_t pid);

/* The backoff before restarting a slot after `streak` consecutive failed starts:
 * 100 ms, doubling, capped at 10 s. */
int64_t pool_backoff_ms(int streak);

/* The end of --stop-timeout kept for the SIGKILLs and baton's own exit: a quarter of it, at
 * most 2 s, so that a loaded machine still sees baton gone in time. The workers' phases end
 * by stop_end - reserve, the other processes' SIGTERM by stop_end - reserve / 2. */
int64_t pool_stop_reserve_ms(int64_t stop_timeout_ms);

/* How long the workers' part of the stop sequence can take as set (stop delay, drain, the
 * SIGTERM step when the drain is not SIGTERM, and the reserve). When that is more than
 * stop_timeout_ms, the phases will be cut to fit: the caller says so at start-up. */
int64_t pool_stop_needs_ms(const struct pool_settings *s);

/* How a process ended, for logs: "exited with status 3", "was killed by SIGKILL". */
void pool_describe_status(char *buf, size_t len, int code);

/* The status of a child that never reached exec (spawn_worker's err): 127 not found, 126
 * cannot be executed, 125 could not be set up. */
int pool_spawn_error_status(int err);

/* Exit code or 128+signal of a waitpid status. */
int pool_status_code(int wstatus);

/* "starting", "ready", "draining", "stopping" for views. */
const char *pool_worker_state_name(const struct worker *w);
const char *pool_phase_name(const struct pool *pool);

#endif
