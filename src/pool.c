/*
 * pool: the supervisor state machine (see include/baton/pool.h).
 *
 * Everything here is a decision; nothing is done. Times are passed in, actions are queued,
 * and the only state is the tables in struct pool, sized once at start-up.
 */
#include "pool_int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_CAP_MS 10000

/* ---- small helpers ---- */

int64_t pool_backoff_ms(int streak)
{
	int64_t ms = BACKOFF_FIRST_MS;

	for (int i = 1; i < streak && ms < BACKOFF_CAP_MS; i++)
		ms *= 2;
	return ms > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : ms;
}

int pool_status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

const char *pool_worker_state_name(const struct worker *w)
{
	switch (w->state) {
	case WS_SPAWNING:
	case WS_STARTING:
		return "starting";
	case WS_READY:
		return "ready";
	case WS_STOPPING:
		return w->step == STOP_DRAIN ? "draining" : "stopping";
	default:
		return "free";
	}
}

const char *pool_phase_name(const struct pool *pool)
{
	switch (pool->phase) {
	case PH_RUNNING:
		return pool->ro.active || pool->hook.running ? "rolling out" : "running";
	case PH_STOP_DELAY:
	case PH_STOPPING:
		return "stopping";
	default:
		return "exiting";
	}
}

struct pool_action *pool_emit(struct pool *pool, enum action_kind kind)
{
	struct pool_action *a;

	/* The loop drains the queue after every event, and no event queues more than a few
	 * actions per worker: the table is sized for the worst case. Should it ever be full,
	 * the newest action overwrites the last one rather than writing out of bounds. */
	if (pool->act_len == POOL_MAX_ACTIONS)
		a = &pool->actions[(pool->act_head + pool->act_len - 1) % POOL_MAX_ACTIONS];
	else
		a = &pool->actions[(pool->act_head + pool->act_len++) % POOL_MAX_ACTIONS];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->worker = -1;
	return a;
}

void pool_emit_log(struct pool *pool, enum log_level level, const char *fmt, ...)
{
	struct pool_action *a = pool_emit(pool, ACT_LOG);
	va_list ap;

	a->level = level;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
}

bool pool_next_action(struct pool *pool, struct pool_action *out)
{
	if (pool->act_len == 0)
		return false;
	*out = pool->actions[pool->act_head];
	pool->act_head = (pool->act_head + 1) % POOL_MAX_ACTIONS;
	/* An empty queue starts again at the front: the loop drains it after every event, so
	 * only the first few entries of the table are ever touched (resident memory). */
	if (--pool->act_len == 0)
		pool->act_head = 0;
	return true;
}

int pool_find(const struct pool *pool, pid_t pid)
{
	if (pid <= 0)
		return -1;
	for (int i = 0; i < POOL_MAX_PROCS; i++)
		if (pool->workers[i].state != WS_FREE && pool->workers[i].pid == pid)
			return i;
	return -1;
}

static int live_workers(const struct pool *pool)
{
	int n = 0;

	for (int i = 0; i < POOL_MAX_PROCS; i++)
		n += pool->workers[i].state != WS_FREE;
	return n;
}

void pool_describe_status(char *buf, size_t len, int code)
{
	char name[16];

	if (code > 128 && code < 128 + 65)
		snprintf(buf, len, "was killed by SIG%s", cfg_signal_name(code - 128, name, sizeof(name)));
	else
		snprintf(buf, len, "exited with status %d", code);
}

int64_t pool_stop_reserve_ms(int64_t stop_timeout_ms)
{
	int64_t r = stop_timeout_ms / 4;

	return r > 2000 ? 2000 : r;
}

int64_t pool_stop_needs_ms(const struct pool_settings *s)
{
	bool term_step = s->drain_signal != SIGTERM || s->drain_by_ipc;

	return s->stop_delay_ms + s->drain_timeout_ms + (term_step ? s->term_timeout_ms : 0) +
	       pool_stop_reserve_ms(s->stop_timeout_ms);
}

/* A stop phase that would end at `want` ends no later than `before_end` ms before the end of
 * --stop-timeout: the phases take their own lengths in order, and the later ones are cut
 * when the budget runs out. Never before now: a deadline already passed fires at once. */
static int64_t fit_stop(const struct pool *pool, int64_t want, int64_t before_end, int64_t now)
{
	int64_t cap;

	if (pool->stop_end_ms < 0)
		return want;
	cap = pool->stop_end_ms - before_end;
	if (cap < now)
		cap = now;
	return want < cap ? want : cap;
}

static int64_t workers_phase_end(const struct pool *pool, int64_t want, int64_t now)
{
	return fit_stop(pool, want, pool_stop_reserve_ms(pool->set.stop_timeout_ms), now);
}

/* ---- set-up ---- */

int pool_capacity(const struct pool *pool)
{
	(void)pool;
	return POOL_MAX_PROCS;
}

int pool_init(struct pool *pool, const struct pool_settings *settings)
{
	/* Everything but the action table, which pool_emit clears entry by entry: leaving it
	 * untouched keeps most of its pages out of baton's resident memory. */
	memset(pool, 0, offsetof(struct pool, actions));
	pool->act_head = pool->act_len = 0;
	pool->set = *settings;
	pool->wanted = settings->workers;
	pool->generation = 1;
	pool->stop_status = -1;
	pool->phase_deadline_ms = -1;
	pool->stop_end_ms = -1;
	pool->hook.deadline_ms = -1;
	pool->ro.old = -1;
	for (int k = 0; k <= CFG_MAX_WORKERS; k++) {
		struct slot *s = &pool->slots[k];

		s->active = k >= 1 && k <= pool->wanted;
		s->cur = s->cand = -1;
		s->restart_at_ms = -1;
		s->last_status = -1;
	}
	return 0;
}

int pool_spawn_worker(struct pool *pool, int slot, bool candidate, int64_t now)
{
	for (int i = 0; i < POOL_MAX_PROCS; i++) {
		struct worker *w = &pool->workers[i];
		struct pool_action *a;

		if (w->state != WS_FREE)
			continue;
		memset(w, 0, sizeof(*w));
		w->state = WS_SPAWNING;
		w->slot = slot;
		w->generation = pool->generation;
		w->candidate = candidate;
		w->started_ms = now;
		w->deadline_ms = -1;
		if (candidate)
			pool->slots[slot].cand = i;
		else
			pool->slots[slot].cur = i;
		a = pool_emit(pool, ACT_SPAWN);
		a->worker = i;
		return i;
	}
	pool_emit_log(pool, LOG_ERROR, "worker %d: no free process entry; not started", slot);
	return -1;
}

void pool_start(struct pool *pool, int64_t now)
{
	for (int k = 1; k <= pool->wanted; k++)
		pool_spawn_worker(pool, k, false, now);
}

/* ---- the stop sequence ---- */

void pool_begin_stop(struct pool *pool, int w, enum stop_reason why, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct pool_action *a;

	if (wk->state == WS_STOPPING) {
		if (why == WHY_SHUTDOWN)
			wk->why = why;
		return;
	}
	if (wk->state != WS_STARTING && wk->state != WS_READY)
		return;
	wk->state = WS_STOPPING;
	wk->why = why;
	wk->step = STOP_DRAIN;
	wk->stop_started_ms = now;
	wk->deadline_ms = workers_phase_end(pool, now + pool->set.drain_timeout_ms, now);
	a = pool_emit(pool, ACT_DRAIN);
	a->worker = w;
	a->pid = wk->pid;
	a->sig = pool->set.drain_signal;
}

static void advance_stop(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct pool_action *a;
	char name[16];

	if (wk->state != WS_STOPPING || wk->step == STOP_KILL)
		return;
	a = pool_emit(pool, ACT_SIGNAL);
	a->worker = w;
	a->pid = wk->pid;
	if (wk->step == STOP_DRAIN &&
	    (pool->set.drain_signal != SIGTERM || pool->set.drain_by_ipc)) {
		a->sig = SIGTERM;
		wk->step = STOP_TERM;
		wk->deadline_ms = workers_phase_end(pool, now + pool->set.term_timeout_ms, now);
	} else {
		a->sig = SIGKILL;
		wk->step = STOP_KILL;
		wk->deadline_ms = -1;
	}
	a->level = LOG_WARN;
	snprintf(a->msg, sizeof(a->msg), "worker %d (pid %d) still running after %lld ms; sending SIG%s",
		 wk->slot, (int)wk->pid, (long long)(now - wk->stop_started_ms),
		 cfg_signal_name(a->sig, name, sizeof(name)));
}

/* The workers are gone: signal every process left. After SIGTERM, the deadline leads to
 * SIGKILL, half the reserve before the end of --stop-timeout at the latest; after SIGKILL,
 * which cannot be ignored, it only guards against a process stuck in the kernel, so that
 * baton still exits, by the end of --stop-timeout. */
static void signal_orphans(struct pool *pool, enum pool_phase phase, int sig, int64_t now)
{
	struct pool_action *a;
	int64_t before_end = sig == SIGKILL ? 0 : pool_stop_reserve_ms(pool->set.stop_timeout_ms) / 2;

	pool->phase = phase;
	pool->phase_deadline_ms = fit_stop(pool, now + pool->set.term_timeout_ms, before_end, now);
	a = pool_emit(pool, ACT_SIGNAL_ORPHANS);
	a->sig = sig;
}

static void finish(struct pool *pool, int64_t now, int status)
{
	if (!pool->exit_forced)
		pool->exit_status = status;
	signal_orphans(pool, PH_ORPHANS_TERM, SIGTERM, now);
}

static void check_all_stopped(struct pool *pool, int64_t now)
{
	if (pool->phase != PH_STOPPING || live_workers(pool) > 0)
		return;
	pool_emit(pool, ACT_WORKERS_STOPPED);
	finish(pool, now, pool->stop_status >= 0 ? pool->stop_status : 0);
}

static void enter_stopping(struct pool *pool, int64_t now)
{
	int n = live_workers(pool);

	pool->phase = PH_STOPPING;
	pool->phase_deadline_ms = -1;
	if (n > 0)
		pool_emit_log(pool, LOG_INFO, "stopping %d worker%s", n, n == 1 ? "" : "s");
	for (int i = 0; i < POOL_MAX_PROCS; i++) {
		struct worker *w = &pool->workers[i];

		if (w->state == WS_FREE)
			continue;
		pool_begin_stop(pool, i, WHY_SHUTDOWN, now);
		/* A worker already in its stop sequence (a rollout's or a scale's) keeps its
		 * step, within the container's deadline. */
		if (w->state == WS_STOPPING && w->deadline_ms >= 0)
			w->deadline_ms = workers_phase_end(pool, w->deadline_ms, now);
	}
	check_all_stopped(pool, now);
}

/* ---- the --pre-rollout command ---- */

void pool_hook_begin(struct pool *pool, int64_t now)
{
	pool->hook.running = true;
	pool->hook.pid = 0;
	pool->hook.deadline_ms = now + pool->set.hook_timeout_ms;
	pool_emit_log(pool, LOG_INFO, "reload: running the pre-rollout command");
	pool_emit(pool, ACT_RUN_HOOK);
}

/* The rollout is not started and the workers keep serving: one line, and the answer of
 * `ctl reload --wait`. */
static void hook_failed(struct pool *pool, int code)
{
	struct pool_action *a;
	char how[64];

	pool->hook.running = false;
	pool->hook.deadline_ms = -1;
	pool_describe_status(how, sizeof(how), code);
	a = pool_emit(pool, ACT_ROLLOUT_DONE);
	a->status = 1;
	snprintf(a->msg, sizeof(a->msg), "the pre-rollout command %s; rollout not started, the "
		 "workers keep serving", how);
	pool_emit_log(pool, LOG_WARN, "%s", a->msg);
}

/* The container stops: no rollout will follow. The command gets SIGTERM now, and whatever
 * is left of it the end of the stop sequence. */
static void hook_cancel(struct pool *pool)
{
	struct pool_action *a;

	if (!pool->hook.running)
		return;
	pool->hook.running = false;
	pool->hook.deadline_ms = -1;
	a = pool_emit(pool, ACT_ROLLOUT_DONE);
	a->status = 1;
	snprintf(a->msg, sizeof(a->msg), "the container is stopping");
	if (pool->hook.pid > 0) {
		a = pool_emit(pool, ACT_SIGNAL);
		a->pid = pool->hook.pid;
		a->sig = SIGTERM;
	}
}

void pool_hook_started(struct pool *pool, pid_t pid, int err, int64_t now)
{
	(void)now;
	if (!pool->hook.running)
		return;
	if (err < 0) {
		hook_failed(pool, pool_spawn_error_status(err));
		return;
	}
	pool->hook.pid = pid;
}

/* The hook's exit; false when pid is not the hook. */
static bool hook_exited(struct pool *pool, pid_t pid, int code, int64_t now)
{
	if (pid <= 0 || pid != pool->hook.pid)
		return false;
	pool->hook.pid = 0;
	if (!pool->hook.running)
		return true; /* cancelled by a stop */
	if (code != 0) {
		hook_failed(pool, code);
		return true;
	}
	pool->hook.running = false;
	pool->hook.deadline_ms = -1;
	rollout_begin(pool, now);
	return true;
}

static void hook_tick(struct pool *pool, int64_t now)
{
	struct pool_action *a;

	if (!pool->hook.running || pool->hook.pid <= 0 || pool->hook.deadline_ms < 0 ||
	    pool->hook.deadline_ms > now)
		return;
	pool->hook.deadline_ms = -1;
	a = pool_emit(pool, ACT_SIGNAL);
	a->pid = pool->hook.pid;
	a->sig = SIGKILL;
	a->level = LOG_WARN;
	snprintf(a->msg, sizeof(a->msg),
		 "the pre-rollout command (pid %d) still running after %lld ms (--ready-timeout); "
		 "sending SIGKILL", (int)pool->hook.pid, (long long)pool->set.hook_timeout_ms);
}

/* Stop the container: cancel what is pending, then (after --stop-delay) the stop sequence. */
static void begin_shutdown(struct pool *pool, int64_t now, bool skip_delay)
{
	if (pool->phase != PH_RUNNING)
		return;
	rollout_cancel(pool, "the container is stopping");
	hook_cancel(pool);
	for (int k = 1; k <= CFG_MAX_WORKERS; k++)
		pool->slots[k].restart_at_ms = -1;
	/* The deadline counts from the first stop request: a forced exit during --stop-delay
	 * does not move it. */
	if (pool->set.stop_timeout_ms > 0 && pool->stop_end_ms < 0)
		pool->stop_end_ms = now + pool->set.stop_timeout_ms;
	if (pool->set.stop_delay_ms > 0 && !skip_delay) {
		pool->phase = PH_STOP_DELAY;
		pool->phase_deadline_ms = workers_phase_end(pool, now + pool->set.stop_delay_ms, now);
		pool_emit_log(pool, LOG_INFO, "stopping in %lld ms (--stop-delay); workers keep serving",
			      (long long)(pool->phase_deadline_ms - now));
		return;
	}
	enter_stopping(pool, now);
}

/* Stop everything and exit with `status`, whatever the workers then say. */
static void force_exit(struct pool *pool, int64_t now, int status)
{
	if (!pool->exit_forced) {
		pool->exit_forced = true;
		pool->exit_status = status;
	}
	if (pool->phase == PH_RUNNING || pool->phase == PH_STOP_DELAY) {
		pool->phase = PH_RUNNING;
		begin_shutdown(pool, now, true);
	}
}

void pool_stop(struct pool *pool, int64_t now)
{
	begin_shutdown(pool, now, false);
}

/* ---- restarts ---- */

/* Record a restart; false when it is one more than --max-restarts within --restart-window. */
static bool restart_allowed(struct pool *pool, int64_t now)
{
	int cap = pool->set.max_restarts + 1;
	int oldest;

	if (pool->set.max_restarts == CFG_RESTARTS_UNLIMITED)
		return true; /* the backoff alone paces the restarts */
	if (cap > POOL_MAX_RESTART_LOG)
		cap = POOL_MAX_RESTART_LOG;
	pool->restart_log[(pool->restart_log_head + pool->restart_log_len) % cap] = now;
	if (pool->restart_log_len < cap)
		pool->restart_log_len++;
	else
		pool->restart_log_head = (pool->restart_log_head + 1) % cap;
	if (pool->restart_log_len < cap)
		return true;
	oldest = pool->restart_log_head;
	return pool->restart_log[oldest] <= now - pool->set.restart_window_ms;
}

static void schedule_restart(struct pool *pool, int slot, bool was_ready, int code, int64_t now)
{
	struct slot *s = &pool->slots[slot];
	int64_t delay;

	if (!restart_allowed(pool, now)) {
		char how[64];

		pool_describe_status(how, sizeof(how), code);
		pool_emit_log(pool, LOG_ERROR,
			      "crash loop: more than %d restarts within %lld ms; giving up "
			      "(worker %d %s)",
			      pool->set.max_restarts, (long long)pool->set.restart_window_ms, slot, how);
		force_exit(pool, now, code);
		return;
	}
	if (was_ready) {
		s->fail_streak = 0;
		delay = 0;
	} else {
		delay = pool_backoff_ms(++s->fail_streak);
	}
	s->restarts++;
	s->restart_at_ms = now + delay;
	pool_emit_log(pool, LOG_INFO, "restarting worker %d in %lld ms", slot, (long long)delay);
}

/* The pool has nothing left to run: every slot is done and no restart is pending. */
static void check_pool_empty(struct pool *pool, int64_t now)
{
	if (pool->phase != PH_RUNNING || pool->ro.active || pool->hook.running ||
	    live_workers(pool) > 0)
		return;
	for (int k = 1; k <= CFG_MAX_WORKERS; k++)
		if (pool->slots[k].active && pool->slots[k].restart_at_ms >= 0)
			return;
	pool_emit_log(pool, LOG_INFO, "no worker left; exiting");
	finish(pool, now, pool->natural_status);
}

/* Did the worker die of the signal the stop sequence sent it last? */
static bool died_of_our_signal(const struct pool *pool, const struct worker *w, int code)
{
	int sig = code > 128 ? code - 128 : 0;

	if (w->state != WS_STOPPING || sig == 0)
		return false;
	switch (w->step) {
	case STOP_DRAIN:
		return sig == pool->set.drain_signal && !pool->set.drain_by_ipc;
	case STOP_TERM:
		return sig == SIGTERM;
	case STOP_KILL:
		return sig == SIGKILL;
	default:
		return false;
	}
}

/* Was this death one the stop sequence asked for? */
static bool expected_stop_status(const struct pool *pool, const struct worker *w, int code)
{
	int sig = code > 128 ? code - 128 : 0;

	if (code == 0)
		return true;
	if (w->step >= STOP_DRAIN && sig == pool->set.drain_signal && !pool->set.drain_by_ipc)
		return true;
	return w->step >= STOP_DRAIN && sig == SIGTERM &&
	       (pool->set.drain_signal == SIGTERM || w->step >= STOP_TERM);
}

/* A worker is gone (exited, or could not be started: code is then 125/126/127). */
static void worker_gone(struct pool *pool, int w, int code, int64_t now)
{
	struct worker wk = pool->workers[w];
	struct slot *s = &pool->slots[wk.slot];
	bool was_ready = wk.ready_ms > 0;
	/* What the status counts as (--exit-map): 143:0 makes a SIGTERM of the worker's own a
	 * success for --restart on-failure. The real status is what is logged and kept; the
	 * map is applied to baton's exit status once, at the exit (pool_children_gone). */
	int judged = cfg_map_exit(pool->set.exit_map, code);
	char how[64];

	/* Dying of the signal baton sent is how a stop ends, not a crash: "killed by SIGTERM"
	 * on every stop would read as a failure. A SIGKILL was already warned about. */
	if (died_of_our_signal(pool, &wk, code)) {
		char name[16];

		snprintf(how, sizeof(how), "stopped by the SIG%s baton sent",
			 cfg_signal_name(code - 128, name, sizeof(name)));
	} else {
		pool_describe_status(how, sizeof(how), code);
	}
	pool_emit_log(pool, wk.state == WS_STOPPING || code == 0 ? LOG_INFO : LOG_WARN,
		      "worker %d (pid %d) %s", wk.slot, (int)wk.pid, how);
	if (s->cur == w)
		s->cur = -1;
	if (s->cand == w)
		s->cand = -1;
	if (!wk.candidate || wk.state == WS_STOPPING)
		s->last_status = code;
	memset(&pool->workers[w], 0, sizeof(pool->workers[w]));

	if (pool->phase != PH_RUNNING) {
		bool by_stop = wk.state == WS_STOPPING && wk.why == WHY_SHUTDOWN;

		if (pool->stop_status < 0 && judged != 0 &&
		    !(by_stop && expected_stop_status(pool, &wk, code)))
			pool->stop_status = code;
		check_all_stopped(pool, now);
		return;
	}

	if (rollout_on_exit(pool, w, &wk, code, now)) {
		check_pool_empty(pool, now);
		return;
	}
	if (wk.state == WS_STOPPING) {
		if (wk.why == WHY_READY_LATE && s->active)
			schedule_restart(pool, wk.slot, false, code, now);
		check_pool_empty(pool, now);
		return;
	}
	if (wk.candidate) /* a candidate of a rollout that already ended */
		return;

	if (pool->set.tty_foreground && code == 128 + SIGINT) {
		pool_emit_log(pool, LOG_INFO, "worker interrupted from the terminal; stopping");
		force_exit(pool, now, code);
		return;
	}
	if (pool->set.restart == RESTART_ALWAYS ||
	    (pool->set.restart == RESTART_ON_FAILURE && judged != 0)) {
		if (s->active && s->cur < 0)
			schedule_restart(pool, wk.slot, was_ready, code, now);
	} else {
		s->done = true;
		if (judged != 0 && pool->natural_status == 0)
			pool->natural_status = code;
	}
	check_pool_empty(pool, now);
}

/* ---- events ---- */

static bool is_exec_error(int err)
{
	return err == -ENOENT || err == -EACCES || err == -ENOEXEC || err == -ENOTDIR ||
	       err == -ELOOP || err == -ENAMETOOLONG || err == -EISDIR || err == -EPERM;
}

static int exec_error_code(int err)
{
	return err == -ENOENT || err == -ENOTDIR ? 127 : 126;
}

int pool_spawn_error_status(int err)
{
	return is_exec_error(err) ? exec_error_code(err) : 125;
}

void pool_spawned(struct pool *pool, int w, pid_t pid, int err, int64_t now)
{
	struct worker *wk = &pool->workers[w];

	if (w < 0 || w >= POOL_MAX_PROCS || wk->state != WS_SPAWNING)
		return;
	if (err < 0) {
		int code = pool_spawn_error_status(err);

		if (is_exec_error(err) && !pool->ever_ready) {
			/* The command itself cannot run: restarting would only repeat this. */
			struct slot *s = &pool->slots[wk->slot];

			if (s->cur == w)
				s->cur = -1;
			if (s->cand == w)
				s->cand = -1;
			s->last_status = code;
			memset(wk, 0, sizeof(*wk));
			force_exit(pool, now, code);
			check_all_stopped(pool, now);
			check_pool_empty(pool, now);
			return;
		}
		wk->pid = 0;
		worker_gone(pool, w, code, now);
		return;
	}
	wk->pid = pid;
	wk->state = WS_STARTING;
	wk->started_ms = now;
	wk->deadline_ms = now + (pool->set.ready_by_delay ? pool->set.ready_delay_ms
							  : pool->set.ready_timeout_ms);
	pool_emit_log(pool, LOG_INFO, "worker %d started (pid %d%s)", wk->slot, (int)pid,
		      wk->candidate ? ", new version" : "");
	if (pool->phase != PH_RUNNING && pool->phase != PH_STOP_DELAY)
		pool_begin_stop(pool, w, WHY_SHUTDOWN, now);
}

static void mark_ready(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];

	wk->state = WS_READY;
	wk->ready_ms = now;
	wk->deadline_ms = -1;
	pool->ever_ready = true;
	pool->slots[wk->slot].fail_streak = 0;
	pool_emit_log(pool, LOG_DEBUG, "worker %d (pid %d) ready after %lld ms", wk->slot,
		      (int)wk->pid, (long long)(now - wk->started_ms));
	rollout_on_ready(pool, w, now);
}

void pool_ready(struct pool *pool, pid_t pid, int64_t now)
{
	int w = pool_find(pool, pid);

	if (w >= 0 && pool->workers[w].state == WS_STARTING)
		mark_ready(pool, w, now);
}

/* A worker that did not become ready: stop it, and let its exit decide what follows. */
static void start_failed(struct pool *pool, int w, int64_t now)
{
	if (pool->workers[w].candidate)
		rollout_on_ready_late(pool, w, now);
	else
		pool_begin_stop(pool, w, WHY_READY_LATE, now);
}

void pool_failed(struct pool *pool, pid_t pid, const char *why, int64_t now)
{
	int w = pool_find(pool, pid);

	if (w < 0 || pool->workers[w].state == WS_STOPPING)
		return;
	pool_emit_log(pool, LOG_WARN, "worker %d (pid %d): %s", pool->workers[w].slot, (int)pid, why);
	if (pool->workers[w].state == WS_STARTING && pool->phase == PH_RUNNING)
		start_failed(pool, w, now);
	else
		pool_begin_stop(pool, w, pool->phase == PH_RUNNING ? WHY_READY_LATE : WHY_SHUTDOWN, now);
}

void pool_exited(struct pool *pool, pid_t pid, int wstatus, int64_t now)
{
	int w = pool_find(pool, pid);

	if (w >= 0)
		worker_gone(pool, w, pool_status_code(wstatus), now);
	else
		hook_exited(pool, pid, pool_status_code(wstatus), now);
}

void pool_orphans_killed(struct pool *pool, int n)
{
	if (n > 0 && pool->exit_status == 0)
		pool->exit_status = 128 + SIGKILL;
}

void pool_children_gone(struct pool *pool, int64_t now)
{
	struct pool_action *a;

	(void)now;
	if (pool->phase != PH_ORPHANS_TERM && pool->phase != PH_ORPHANS_KILL)
		return;
	pool->phase = PH_EXITED;
	pool->phase_deadline_ms = -1;
	a = pool_emit(pool, ACT_EXIT);
	/* baton's own status too: a 137 of the stop, a crash loop's status, 126 or 127. */
	a->status = cfg_map_exit(pool->set.exit_map, pool->exit_status);
	if (a->status != pool->exit_status)
		pool_emit_log(pool, LOG_INFO, "exit status %d, mapped to %d (--exit-map)",
			      pool->exit_status, a->status);
}

void pool_signal(struct pool *pool, int sig, int64_t now)
{
	char buf[16], err[128];

	if (sig == SIGTERM || sig == SIGINT) {
		const char *name = cfg_signal_name(sig, buf, sizeof(buf));

		switch (pool->phase) {
		case PH_RUNNING:
			pool_emit_log(pool, LOG_INFO, "received SIG%s; stopping", name);
			begin_shutdown(pool, now, false);
			break;
		case PH_STOP_DELAY:
			pool_emit_log(pool, LOG_INFO, "received SIG%s again; skipping --stop-delay", name);
			enter_stopping(pool, now);
			break;
		case PH_STOPPING:
			pool_emit_log(pool, LOG_INFO, "received SIG%s again; next step of the stop sequence",
				      name);
			for (int i = 0; i < POOL_MAX_PROCS; i++)
				if (pool->workers[i].state == WS_STOPPING)
					advance_stop(pool, i, now);
			break;
		case PH_ORPHANS_TERM:
			signal_orphans(pool, PH_ORPHANS_KILL, SIGKILL, now);
			break;
		default:
			break;
		}
		return;
	}
	if (sig == pool->set.reload_signal) {
		if (pool_reload(pool, now, err, sizeof(err)) < 0)
			pool_emit_log(pool, LOG_WARN, "SIG%s ignored: %s",
				      cfg_signal_name(sig, buf, sizeof(buf)), err);
		return;
	}
	if (sig > 0 && sig < CFG_NSIG && pool->set.signal_map[sig]) {
		int to = pool->set.signal_map[sig];

		pool_emit_log(pool, LOG_DEBUG, "SIG%s %s (--signal-map)",
			      cfg_signal_name(sig, buf, sizeof(buf)),
			      to == CFG_SIG_DROP ? "dropped" : "forwarded as mapped");
		if (to == CFG_SIG_DROP)
			return;
		sig = to;
	}
	/* Everything else goes to the serving workers' process groups. A rollout's new worker
	 * that is not ready yet is spared: most programs die of USR1 before they install a
	 * handler, and that would roll the rollout back. */
	for (int i = 0; i < POOL_MAX_PROCS; i++) {
		struct worker *w = &pool->workers[i];
		struct pool_action *a;

		if (w->state == WS_FREE || w->state == WS_SPAWNING ||
		    (w->candidate && w->state == WS_STARTING))
			continue;
		a = pool_emit(pool, ACT_SIGNAL);
		a->worker = i;
		a->pid = w->pid;
		a->sig = sig;
	}
}

int pool_reload(struct pool *pool, int64_t now, char *err, size_t errlen)
{
	if (pool->phase != PH_RUNNING) {
		snprintf(err, errlen, "baton is stopping");
		return -EBUSY;
	}
	if (pool->hook.running)
		return 0; /* the rollout that follows the command takes this reload in */
	if (pool->ro.active) {
		if (!pool->ro.again)
			pool_emit_log(pool, LOG_INFO,
				      "reload during a rollout: it restarts from the first slot after "
				      "the current step");
		pool->ro.again = true;
		return 0;
	}
	if (pool->set.pre_rollout)
		pool_hook_begin(pool, now);
	else
		rollout_begin(pool, now);
	return 0;
}

int pool_scale(struct pool *pool, int n, int64_t now, char *err, size_t errlen)
{
	int from = pool->wanted;

	if (n < 1 || n > CFG_MAX_WORKERS) {
		snprintf(err, errlen, "scale: %d is not between 1 and %d", n, CFG_MAX_WORKERS);
		return -EINVAL;
	}
	if (pool->phase != PH_RUNNING) {
		snprintf(err, errlen, "baton is stopping");
		return -EBUSY;
	}
	if (pool->ro.active || pool->hook.running) {
		snprintf(err, errlen, "a rollout is in progress; scale when it has ended");
		return -EBUSY;
	}
	pool->wanted = n;
	for (int k = from + 1; k <= n; k++) {
		struct slot *s = &pool->slots[k];

		*s = (struct slot){ .active = true, .cur = -1, .cand = -1, .restart_at_ms = -1,
				    .last_status = -1 };
		pool_spawn_worker(pool, k, false, now);
	}
	for (int k = n + 1; k <= from; k++) {
		struct slot *s = &pool->slots[k];

		s->active = false;
		s->restart_at_ms = -1;
		if (s->cur >= 0) {
			pool_begin_stop(pool, s->cur, WHY_RETIRE, now);
			s->cur = -1;
		}
	}
	if (n != from)
		pool_emit_log(pool, LOG_INFO, "scaling from %d to %d workers", from, n);
	check_pool_empty(pool, now);
	return 0;
}

void pool_tick(struct pool *pool, int64_t now)
{
	if (pool->phase_deadline_ms >= 0 && pool->phase_deadline_ms <= now) {
		pool->phase_deadline_ms = -1;
		if (pool->phase == PH_STOP_DELAY) {
			enter_stopping(pool, now);
		} else if (pool->phase == PH_ORPHANS_TERM) {
			signal_orphans(pool, PH_ORPHANS_KILL, SIGKILL, now);
		} else if (pool->phase == PH_ORPHANS_KILL) {
			pool_emit_log(pool, LOG_WARN, "processes survive SIGKILL; exiting anyway");
			pool_children_gone(pool, now);
		}
	}
	hook_tick(pool, now);
	for (int i = 0; i < POOL_MAX_PROCS; i++) {
		struct worker *w = &pool->workers[i];

		if (w->state == WS_FREE || w->deadline_ms < 0 || w->deadline_ms > now)
			continue;
		if (w->state == WS_STOPPING) {
			advance_stop(pool, i, now);
		} else if (w->state == WS_STARTING && pool->set.ready_by_delay) {
			mark_ready(pool, i, now);
		} else if (w->state == WS_STARTING) {
			w->deadline_ms = -1;
			pool_emit_log(pool, LOG_WARN, "worker %d (pid %d) not ready after %lld ms",
				      w->slot, (int)w->pid, (long long)pool->set.ready_timeout_ms);
			if (pool->phase == PH_RUNNING)
				start_failed(pool, i, now);
		}
	}
	if (pool->phase != PH_RUNNING)
		return;
	for (int k = 1; k <= CFG_MAX_WORKERS; k++) {
		struct slot *s = &pool->slots[k];

		if (s->restart_at_ms < 0 || s->restart_at_ms > now)
			continue;
		s->restart_at_ms = -1;
		if (s->active && s->cur < 0)
			pool_spawn_worker(pool, k, false, now);
	}
}

int64_t pool_next_deadline(const struct pool *pool)
{
	int64_t next = pool->phase_deadline_ms;

	if (pool->hook.running && pool->hook.pid > 0 && pool->hook.deadline_ms >= 0 &&
	    (next < 0 || pool->hook.deadline_ms < next))
		next = pool->hook.deadline_ms;

	for (int i = 0; i < POOL_MAX_PROCS; i++) {
		int64_t d = pool->workers[i].deadline_ms;

		if (pool->workers[i].state != WS_FREE && d >= 0 && (next < 0 || d < next))
			next = d;
	}
	if (pool->phase == PH_RUNNING) {
		for (int k = 1; k <= CFG_MAX_WORKERS; k++) {
			int64_t d = pool->slots[k].restart_at_ms;

			if (d >= 0 && (next < 0 || d < next))
				next = d;
		}
	}
	return next;
}
