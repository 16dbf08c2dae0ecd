/*
 * pool: the supervisor state machine (see include/baton/pool.h).
 *
 * Everything here is a decision; nothing is done. Times are passed in, actions are queued,
 * and the only state is the tables in struct pool, sized at start-up for the pool asked for
 * and grown when it needs more. This file is the only writer of the slot and worker tables:
 * the rollout policy (rollout.c) answers with decisions that apply_decision carries out.
 */
#include "pool_int.h"

#include "baton/health.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_CAP_MS 10000

/* ---- small helpers ---- */

const int64_t pool_drain_bucket_ms[POOL_DRAIN_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000,
};

const char *pool_rollout_outcome_name(enum rollout_outcome outcome)
{
	static const char *const names[] = { "complete", "rolled_back", "cancelled" };

	return (unsigned)outcome < ROLLOUT_OUTCOMES ? names[outcome] : "unknown";
}

const char *pool_drain_end_name(enum drain_end end)
{
	static const char *const names[] = { "exited", "SIGTERM", "SIGKILL" };

	return (unsigned)end < DRAIN_ENDS ? names[end] : "unknown";
}

/* A rollout ended (or a reload's pre-rollout command failed or was cancelled). */
static void count_rollout(struct pool *pool, int status, int64_t now)
{
	struct pool_stats *st = &pool->stats;
	enum rollout_outcome o = status == 0	       ? ROLLOUT_COMPLETE
				 : pool->stats.cancelling ? ROLLOUT_CANCELLED
							  : ROLLOUT_ROLLED_BACK;

	st->rollouts[o]++;
	if (st->rollout_started_ms >= 0)
		st->last_rollout_ms = now - st->rollout_started_ms;
	st->rollout_started_ms = -1;
}

static void rollout_started(struct pool *pool, int64_t now)
{
	if (pool->stats.rollout_started_ms < 0)
		pool->stats.rollout_started_ms = now;
}

/* A worker in its stop sequence is gone: which step ended it, and how long it took. */
static void count_drain(struct pool *pool, const struct worker *wk, int64_t now)
{
	struct pool_stats *st = &pool->stats;
	int64_t took = now - wk->stop_started_ms;
	enum drain_end end = wk->step == STOP_KILL ? DRAIN_SIGKILL
			     : wk->step == STOP_TERM ? DRAIN_SIGTERM
						     : DRAIN_EXITED;

	st->drains[end]++;
	st->drain_count++;
	st->drain_sum_ms += took;
	for (int i = 0; i < POOL_DRAIN_BUCKETS; i++)
		if (took <= pool_drain_bucket_ms[i])
			st->drain_le[i]++;
}

static void try_replacement(struct pool *pool, int64_t now);

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

/* Double the action ring, its entries moved to the front in order. */
static int grow_actions(struct pool *pool)
{
	int cap = pool->act_cap ? pool->act_cap * 2 : 8;
	struct pool_action *n = malloc((size_t)cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (int i = 0; i < pool->act_len; i++)
		n[i] = pool->actions[(pool->act_head + i) % pool->act_cap];
	free(pool->actions);
	pool->actions = n;
	pool->act_cap = cap;
	pool->act_head = 0;
	return 0;
}

struct pool_action *pool_emit(struct pool *pool, enum action_kind kind)
{
	static struct pool_action lost; /* where an action goes when there is no memory for it */
	struct pool_action *a;

	/* The loop drains the queue after every event, so it stays short; a burst (a stop of
	 * every worker) grows it. An action is never overwritten: were memory to run out, the
	 * new one is counted as dropped instead. */
	if (pool->act_len == pool->act_cap && grow_actions(pool) < 0) {
		pool->act_dropped++;
		a = &lost;
	} else {
		a = &pool->actions[(pool->act_head + pool->act_len++) % pool->act_cap];
	}
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
	pool->act_head = (pool->act_head + 1) % pool->act_cap;
	/* An empty queue starts again at the front: the loop drains it after every event, so
	 * only the first few entries of the ring are ever touched (resident memory). */
	if (--pool->act_len == 0)
		pool->act_head = 0;
	return true;
}

/* ---- the pid index ----
 *
 * Every reaped process goes through pool_find, and a backlog of orphans is thousands of pids
 * that are not workers: an open-addressing table (linear probing, deletion by backward
 * shift) answers those in a probe or two, whatever the pool's size. */

static int pid_home(const struct pool *pool, pid_t pid)
{
	return (int)(((uint32_t)pid * 2654435761u) & (uint32_t)pool->by_pid_mask);
}

static void index_add(struct pool *pool, int w)
{
	int i = pid_home(pool, pool->workers[w].pid);

	while (pool->by_pid[i] >= 0)
		i = (i + 1) & pool->by_pid_mask;
	pool->by_pid[i] = w;
}

static void index_del(struct pool *pool, int w)
{
	int mask = pool->by_pid_mask, i = pid_home(pool, pool->workers[w].pid);

	while (pool->by_pid[i] != w) {
		if (pool->by_pid[i] < 0)
			return;
		i = (i + 1) & mask;
	}
	/* Close the gap: an entry further on moves back unless its home lies in (i, j]. */
	for (int j = (i + 1) & mask; pool->by_pid[j] >= 0; j = (j + 1) & mask) {
		int k = pid_home(pool, pool->workers[pool->by_pid[j]].pid);

		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		pool->by_pid[i] = pool->by_pid[j];
		i = j;
	}
	pool->by_pid[i] = -1;
}

/* A table for n worker entries, at most half full; NULL when out of memory. */
static int *index_new(int n, int *mask)
{
	int size = 8, *t;

	while (size < 2 * n)
		size *= 2;
	t = malloc((size_t)size * sizeof(*t));
	if (!t)
		return NULL;
	for (int i = 0; i < size; i++)
		t[i] = -1;
	*mask = size - 1;
	return t;
}

int pool_find(const struct pool *pool, pid_t pid)
{
	if (pid <= 0 || !pool->by_pid)
		return -1;
	for (int i = pid_home(pool, pid); pool->by_pid[i] >= 0; i = (i + 1) & pool->by_pid_mask) {
		int w = pool->by_pid[i];

		if (pool->workers[w].pid == pid && pool->workers[w].state != WS_FREE)
			return w;
	}
	return -1;
}

int pool_capacity(const struct pool *pool)
{
	return pool->n_workers;
}

static int live_workers(const struct pool *pool)
{
	int n = 0;

	for (int i = 0; i < pool->n_workers; i++)
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

static void slot_reset(struct slot *s, bool active)
{
	*s = (struct slot){ .active = active, .cur = -1, .cand = -1, .restart_at_ms = -1,
			    .last_status = -1, .unready_since_ms = -1 };
}

/* Room for slots 1..n; the new ones are empty and inactive. Nothing changes on failure. */
static int grow_slots(struct pool *pool, int n)
{
	struct slot *t;

	if (n + 1 <= pool->n_slots)
		return 0;
	t = realloc(pool->slots, (size_t)(n + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	pool->slots = t;
	for (int k = pool->n_slots; k <= n; k++)
		slot_reset(&t[k], false);
	pool->n_slots = n + 1;
	return 0;
}

/* Twice the worker entries (within --max-entries), and a new pid index for them. */
static int grow_workers(struct pool *pool)
{
	int n = pool->n_workers * 2, mask, *idx;
	struct worker *t;

	if (pool->set.max_entries > 0 && n > pool->set.max_entries)
		n = pool->set.max_entries;
	if (n <= pool->n_workers)
		return -ENOSPC;
	idx = index_new(n, &mask);
	if (!idx)
		return -ENOMEM;
	t = realloc(pool->workers, (size_t)n * sizeof(*t));
	if (!t) {
		free(idx);
		return -ENOMEM;
	}
	memset(&t[pool->n_workers], 0, (size_t)(n - pool->n_workers) * sizeof(*t));
	pool->workers = t;
	pool->n_workers = n;
	free(pool->by_pid);
	pool->by_pid = idx;
	pool->by_pid_mask = mask;
	for (int i = 0; i < n; i++)
		if (t[i].state != WS_FREE && t[i].pid > 0)
			index_add(pool, i);
	return 0;
}

void pool_free(struct pool *pool)
{
	free(pool->slots);
	free(pool->workers);
	free(pool->by_pid);
	free(pool->restart_log);
	free(pool->actions);
	pool->slots = NULL;
	pool->workers = NULL;
	pool->by_pid = NULL;
	pool->restart_log = NULL;
	pool->actions = NULL;
	pool->n_slots = pool->n_workers = pool->restart_log_cap = pool->act_cap = 0;
	pool->act_len = pool->act_head = 0;
}

int pool_init(struct pool *pool, const struct pool_settings *settings)
{
	/* A slot holds at most its current worker and a candidate or a retiring one: two
	 * entries per slot, and more only when workers are slow to go. */
	int entries = settings->workers > 0 ? 2 * settings->workers : 2;

	if (settings->max_entries > 0 && entries > settings->max_entries)
		entries = settings->max_entries;
	memset(pool, 0, sizeof(*pool));
	pool->set = *settings;
	pool->wanted = settings->workers;
	pool->stop_status = -1;
	pool->phase_deadline_ms = -1;
	pool->stop_end_ms = -1;
	pool->hook.deadline_ms = -1;
	rollout_init(&pool->ro);
	pool->rep.old = -1;
	pool->rep.retry_at_ms = -1;
	pool->rng = settings->seed;
	pool->stats.rollout_started_ms = -1;
	pool->stats.last_rollout_ms = -1;
	pool->workers = calloc((size_t)entries, sizeof(*pool->workers));
	pool->by_pid = index_new(entries, &pool->by_pid_mask);
	if (!pool->workers || !pool->by_pid || grow_slots(pool, pool->wanted) < 0 ||
	    grow_actions(pool) < 0)
		goto nomem;
	pool->n_workers = entries;
	for (int k = 1; k <= pool->wanted; k++)
		pool->slots[k].active = true;
	if (settings->max_restarts != CFG_RESTARTS_UNLIMITED) {
		pool->restart_log_cap = settings->max_restarts + 1;
		pool->restart_log = calloc((size_t)pool->restart_log_cap, sizeof(*pool->restart_log));
		if (!pool->restart_log)
			goto nomem;
	}
	return 0;
nomem:
	pool_free(pool);
	return -ENOMEM;
}

/* Take a free worker entry for slot and ask the loop to spawn it; -1 when there is none and
 * the table cannot grow. */
static int spawn_worker(struct pool *pool, int slot, bool candidate, int64_t now)
{
	struct pool_action *a;
	struct worker *w;
	int i = 0;

	while (i < pool->n_workers && pool->workers[i].state != WS_FREE)
		i++;
	if (i == pool->n_workers && grow_workers(pool) < 0) {
		pool_emit_log(pool, LOG_ERROR, "worker %d: no free process entry; not started", slot);
		return -1;
	}
	w = &pool->workers[i];
	memset(w, 0, sizeof(*w));
	w->state = WS_SPAWNING;
	w->slot = slot;
	w->generation = pool->ro.generation;
	w->candidate = candidate;
	w->started_ms = now;
	w->deadline_ms = -1;
	w->beat_ms = -1;
	w->expire_ms = -1;
	if (candidate)
		pool->slots[slot].cand = i;
	else
		pool->slots[slot].cur = i;
	a = pool_emit(pool, ACT_SPAWN);
	a->worker = i;
	return i;
}

void pool_start(struct pool *pool, int64_t now)
{
	for (int k = 1; k <= pool->wanted; k++) {
		pool->slots[k].unready_since_ms = now;
		spawn_worker(pool, k, false, now);
	}
}

/* ---- readiness of the slots (ctl live) ---- */

static bool slot_has_ready(const struct pool *pool, int slot)
{
	for (int i = 0; i < pool->n_workers; i++)
		if (pool->workers[i].state == WS_READY && pool->workers[i].slot == slot)
			return true;
	return false;
}

/* A ready worker of slot stopped serving: from now the slot has none, unless another. */
static void slot_lost_ready(struct pool *pool, int slot, int64_t now)
{
	struct slot *s = &pool->slots[slot];

	if (s->unready_since_ms < 0 && !slot_has_ready(pool, slot))
		s->unready_since_ms = now;
}

/* ---- the stop sequence ---- */

/* A starting or ready worker enters the stop sequence at step, until now + step_ms (within
 * --stop-timeout); the action that begins it is returned for the caller to complete. */
static struct pool_action *enter_stop(struct pool *pool, int w, enum stop_reason why,
				      enum stop_step step, enum action_kind kind, int64_t step_ms,
				      int64_t now)
{
	struct worker *wk = &pool->workers[w];
	bool was_ready = wk->state == WS_READY;
	struct pool_action *a;

	wk->state = WS_STOPPING;
	wk->why = why;
	wk->step = step;
	wk->stop_started_ms = now;
	wk->deadline_ms = workers_phase_end(pool, now + step_ms, now);
	a = pool_emit(pool, kind);
	a->worker = w;
	a->pid = wk->pid;
	if (was_ready)
		slot_lost_ready(pool, wk->slot, now);
	return a;
}

static void begin_stop(struct pool *pool, int w, enum stop_reason why, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct pool_action *a;

	if (wk->state == WS_STOPPING) {
		if (why == WHY_SHUTDOWN)
			wk->why = why;
		return;
	}
	if (wk->state == WS_SPAWNING) {
		/* No pid to signal yet: its stop begins as soon as it has one (pool_spawned).
		 * Forgetting it would leave a replaced or scaled-away worker serving. */
		if (wk->why == WHY_NONE || why == WHY_SHUTDOWN)
			wk->why = why;
		return;
	}
	if (wk->state != WS_STARTING && wk->state != WS_READY)
		return;
	a = enter_stop(pool, w, why, STOP_DRAIN, ACT_DRAIN, pool->set.drain_timeout_ms, now);
	a->sig = pool->set.drain_signal;
}

/* A hung worker cannot drain: it gets --watchdog-signal, for a dump of its state, and
 * SIGKILL after --term-timeout. */
static void stop_hung(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct pool_action *a;
	char name[16];

	if (wk->state != WS_STARTING && wk->state != WS_READY)
		return;
	wk->hung = true;
	a = enter_stop(pool, w, WHY_RETIRE, STOP_TERM, ACT_SIGNAL, pool->set.term_timeout_ms, now);
	a->sig = pool->set.watchdog_signal > 0 ? pool->set.watchdog_signal : SIGABRT;
	a->level = LOG_WARN;
	snprintf(a->msg, sizeof(a->msg),
		 "worker %d (pid %d) is hung: sending SIG%s for a dump of its state, then SIGKILL "
		 "in %lld ms", wk->slot, (int)wk->pid, cfg_signal_name(a->sig, name, sizeof(name)),
		 (long long)(wk->deadline_ms - now));
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
	for (int i = 0; i < pool->n_workers; i++) {
		struct worker *w = &pool->workers[i];

		if (w->state == WS_FREE)
			continue;
		begin_stop(pool, i, WHY_SHUTDOWN, now);
		/* A worker already in its stop sequence (a rollout's or a scale's) keeps its
		 * step, within the container's deadline. */
		if (w->state == WS_STOPPING && w->deadline_ms >= 0)
			w->deadline_ms = workers_phase_end(pool, w->deadline_ms, now);
	}
	check_all_stopped(pool, now);
}

/* ---- the --pre-rollout command ---- */

static void hook_begin(struct pool *pool, int64_t now)
{
	pool->hook.running = true;
	pool->hook.pid = 0;
	pool->hook.deadline_ms = now + pool->set.hook_timeout_ms;
	rollout_started(pool, now);
	pool_emit_log(pool, LOG_INFO, "reload: running the pre-rollout command");
	pool_emit(pool, ACT_RUN_HOOK);
}

/* ---- the rollout's decisions ---- */

static void decision_init(struct ro_decision *d)
{
	d->handled = false;
	d->n = 0;
	d->promoted_slot = 0;
	d->promoted_worker = -1;
}

/* Carry out what the rollout policy decided, in its order. */
static void apply_decision(struct pool *pool, const struct ro_decision *d, int64_t now)
{
	bool ended = false;

	for (int i = 0; i < d->n; i++) {
		const struct ro_step *st = &d->steps[i];
		struct pool_action *a;
		struct ro_decision f;

		switch (st->op) {
		case RO_LOG:
			pool_emit_log(pool, st->level, "%s", st->msg);
			break;
		case RO_SPAWN:
			if (spawn_worker(pool, st->arg, true, now) < 0) {
				decision_init(&f);
				rollout_no_room(&pool->ro, &f);
				apply_decision(pool, &f, now);
			}
			break;
		case RO_PROMOTE: {
			struct worker *wk = &pool->workers[st->arg];
			struct slot *s = &pool->slots[wk->slot];

			s->cand = -1;
			s->cur = st->arg;
			s->restart_at_ms = -1;
			s->last_cause = CAUSE_ROLLOUT;
			wk->candidate = false;
			break;
		}
		case RO_UNCAND:
			pool->slots[st->arg].cand = -1;
			break;
		case RO_STOP:
			begin_stop(pool, st->arg, st->why, now);
			break;
		case RO_RUN_HOOK:
			hook_begin(pool, now);
			break;
		case RO_DONE:
			a = pool_emit(pool, ACT_ROLLOUT_DONE);
			a->status = st->status;
			snprintf(a->msg, sizeof(a->msg), "%s", st->msg);
			count_rollout(pool, st->status, now);
			ended = true;
			break;
		}
	}
	/* A worker condemned meanwhile waited for the rollout; once the whole decision is
	 * carried out, since a rollout superseded by another reload ends with the next one's
	 * --pre-rollout command (RO_RUN_HOOK after RO_DONE), and that one goes first. */
	if (ended)
		try_replacement(pool, now);
}

static void start_rollout(struct pool *pool, int64_t now)
{
	struct ro_decision d;

	decision_init(&d);
	rollout_started(pool, now);
	rollout_begin(&pool->ro, pool, now, &d);
	apply_decision(pool, &d, now);
}

/* The rollout is not started and the workers keep serving: one line, and the answer of
 * `ctl reload --wait`. */
static void hook_failed(struct pool *pool, int code, int64_t now)
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
	count_rollout(pool, 1, now);
	pool_emit_log(pool, LOG_WARN, "%s", a->msg);
	try_replacement(pool, now);
}

/* The container stops: no rollout will follow. The command gets SIGTERM now, and whatever
 * is left of it the end of the stop sequence. */
static void hook_cancel(struct pool *pool, int64_t now)
{
	struct pool_action *a;

	if (!pool->hook.running)
		return;
	pool->hook.running = false;
	pool->hook.deadline_ms = -1;
	count_rollout(pool, 1, now);
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
		hook_failed(pool, pool_spawn_error_status(err), now);
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
		hook_failed(pool, code, now);
		return true;
	}
	pool->hook.running = false;
	pool->hook.deadline_ms = -1;
	start_rollout(pool, now);
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
	struct ro_decision d;

	if (pool->phase != PH_RUNNING)
		return;
	/* A replacement under way ends with the stop: its new worker stops with the others. */
	pool->rep.active = false;
	pool->rep.reload_after = false;
	pool->stats.cancelling = true;
	decision_init(&d);
	rollout_cancel(&pool->ro, "the container is stopping", &d);
	apply_decision(pool, &d, now);
	hook_cancel(pool, now);
	pool->stats.cancelling = false;
	for (int k = 1; k < pool->n_slots; k++)
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

/* ---- health: the one-slot replacement of a condemned worker ---- */

const char *pool_cause_name(enum pool_cause cause)
{
	static const char *const names[] = {
		[CAUSE_EXIT] = "exit",	       [CAUSE_SIGNAL] = "signal", [CAUSE_OOM] = "oom",
		[CAUSE_WATCHDOG] = "watchdog", [CAUSE_MEMORY] = "memory", [CAUSE_AGE] = "age",
		[CAUSE_ROLLOUT] = "rollout",
	};

	return cause > CAUSE_NONE && cause <= CAUSE_ROLLOUT ? names[cause] : NULL;
}

uint64_t pool_memory_limit(const struct pool *pool)
{
	const struct pool_settings *s = &pool->set;
	uint64_t bytes;

	if (health_memory_limit(s->max_memory_kind, s->max_memory, s->memory_limit ? 0 : -ENOENT,
				s->memory_limit, pool->wanted, &bytes) != 0)
		return 0;
	return bytes;
}

/* splitmix64: the --max-age jitter needs spread, not secrecy, and the pool stays pure. */
static uint64_t next_random(struct pool *pool)
{
	uint64_t z = (pool->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A worker that can be condemned: serving, of an active slot, and not already. */
static bool can_condemn(const struct pool *pool, const struct worker *wk)
{
	return pool->phase == PH_RUNNING && wk->state == WS_READY && !wk->candidate &&
	       wk->recycle == CAUSE_NONE && pool->slots[wk->slot].active;
}

static void condemn(struct pool *pool, int w, enum pool_cause cause, int64_t now)
{
	pool->workers[w].recycle = cause;
	try_replacement(pool, now);
}

/*
 * Start replacing the next condemned worker, if nothing else replaces workers now: a new
 * worker for its slot first, as a rollout's step; the old one goes once it is ready. A hung
 * worker goes before the others and does not wait for a failed replacement's pause.
 */
static void try_replacement(struct pool *pool, int64_t now)
{
	int pick = -1;

	if (pool->rep.active || pool->ro.active || pool->hook.running || pool->phase != PH_RUNNING)
		return;
	for (int i = 0; i < pool->n_workers; i++) {
		const struct worker *wk = &pool->workers[i];

		if (wk->state != WS_READY || wk->candidate || wk->recycle == CAUSE_NONE ||
		    pool->slots[wk->slot].cand >= 0)
			continue;
		if (wk->recycle == CAUSE_WATCHDOG) {
			pick = i;
			break;
		}
		if (pick < 0 && (pool->rep.retry_at_ms < 0 || now >= pool->rep.retry_at_ms))
			pick = i;
	}
	if (pick < 0)
		return;
	pool->rep.active = true;
	pool->rep.slot = pool->workers[pick].slot;
	pool->rep.old = -1;
	pool->rep.cause = pool->workers[pick].recycle;
	pool_emit_log(pool, LOG_INFO, "worker %d (pid %d): replacing it (%s); the new worker "
		      "starts first", pool->rep.slot, (int)pool->workers[pick].pid,
		      pool_cause_name(pool->rep.cause));
	if (spawn_worker(pool, pool->rep.slot, true, now) < 0) {
		pool->rep.active = false;
		if (pool->rep.cause == CAUSE_WATCHDOG)
			stop_hung(pool, pick, now);
	}
}

/* The replacement ended; the next may start at retry_at (-1: at once). */
static void replacement_done(struct pool *pool, int64_t retry_at, int64_t now)
{
	char err[128];

	pool->rep.active = false;
	pool->rep.old = -1;
	pool->rep.retry_at_ms = retry_at;
	if (pool->rep.reload_after) {
		pool->rep.reload_after = false;
		if (pool_reload(pool, now, err, sizeof(err)) < 0)
			pool_emit_log(pool, LOG_WARN, "reload after the replacement: %s", err);
	}
	try_replacement(pool, now);
}

/* The replacement's new worker is ready: it takes the slot, and the old one goes. */
static bool replacement_on_ready(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct slot *s = &pool->slots[wk->slot];
	int old = s->cur;

	if (!pool->rep.active || pool->rep.old >= 0 || wk->slot != pool->rep.slot || s->cand != w)
		return false;
	s->cand = -1;
	s->cur = w;
	s->restart_at_ms = -1;
	s->last_cause = pool->rep.cause;
	s->restarts_by[pool->rep.cause]++;
	wk->candidate = false;
	if (old < 0 || old == w) {
		pool_emit_log(pool, LOG_INFO, "worker %d: new pid %d ready in %lld ms", wk->slot,
			      (int)wk->pid, (long long)(now - wk->started_ms));
		replacement_done(pool, -1, now);
		return true;
	}
	pool_emit_log(pool, LOG_INFO, "worker %d: new pid %d ready in %lld ms; %s old pid %d",
		      wk->slot, (int)wk->pid, (long long)(now - wk->started_ms),
		      pool->workers[old].recycle == CAUSE_WATCHDOG ? "stopping the hung" : "draining",
		      (int)pool->workers[old].pid);
	pool->rep.old = old;
	if (pool->workers[old].recycle == CAUSE_WATCHDOG)
		stop_hung(pool, old, now);
	else
		begin_stop(pool, old, WHY_RETIRE, now);
	return true;
}

/* The new worker did not make it: a hung worker goes all the same (its slot restarts as
 * after any exit); any other keeps serving, and is tried again after a pause. */
static void replacement_failed(struct pool *pool, const char *how, int64_t now)
{
	struct slot *s = &pool->slots[pool->rep.slot];
	int64_t pause = pool_backoff_ms(++s->fail_streak);

	if (pool->rep.cause == CAUSE_WATCHDOG && s->cur >= 0) {
		pool_emit_log(pool, LOG_WARN, "worker %d: its new worker %s; stopping the hung one",
			      pool->rep.slot, how);
		stop_hung(pool, s->cur, now);
		replacement_done(pool, -1, now);
		return;
	}
	pool_emit_log(pool, LOG_WARN, "worker %d: its new worker %s; keeping the old one, "
		      "trying again in %lld ms", pool->rep.slot, how, (long long)pause);
	replacement_done(pool, now + pause, now);
}

/* A worker's exit that belongs to the replacement: true when handled. */
static bool replacement_on_exit(struct pool *pool, int w, const struct worker *gone, int code,
				int64_t now)
{
	char how[80], ended[48];

	if (!pool->rep.active)
		return false;
	if (pool->rep.old >= 0 && w == pool->rep.old) {
		replacement_done(pool, -1, now);
		return true;
	}
	if (gone->candidate && gone->slot == pool->rep.slot && pool->rep.old < 0) {
		if (gone->state != WS_STOPPING) {
			pool_describe_status(ended, sizeof(ended), code);
			snprintf(how, sizeof(how), "%s before it was ready", ended);
			replacement_failed(pool, how, now);
		}
		return true;
	}
	return false;
}

/* The replacement's new worker was not ready in time: it is stopped. */
static bool replacement_ready_late(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	char how[64];

	if (!pool->rep.active || !wk->candidate || wk->slot != pool->rep.slot || pool->rep.old >= 0)
		return false;
	pool->slots[wk->slot].cand = -1;
	begin_stop(pool, w, WHY_ROLLBACK, now);
	snprintf(how, sizeof(how), "was not ready after %lld ms",
		 (long long)pool->set.ready_timeout_ms);
	replacement_failed(pool, how, now);
	return true;
}

/* Deadlines of the health checks: a missed heartbeat, an age reached. */
static void health_tick(struct pool *pool, int64_t now)
{
	for (int i = 0; i < pool->n_workers; i++) {
		struct worker *wk = &pool->workers[i];

		if (!can_condemn(pool, wk))
			continue;
		if (pool->set.watchdog_ms > 0 && wk->beat_ms >= 0 &&
		    now >= wk->beat_ms + pool->set.watchdog_ms) {
			pool_emit_log(pool, LOG_WARN, "worker %d (pid %d) missed its watchdog: no "
				      "heartbeat for %lld ms (--watchdog %lld ms); replacing it",
				      wk->slot, (int)wk->pid, (long long)(now - wk->beat_ms),
				      (long long)pool->set.watchdog_ms);
			wk->recycle = CAUSE_WATCHDOG;
		} else if (wk->expire_ms >= 0 && now >= wk->expire_ms) {
			pool_emit_log(pool, LOG_INFO, "worker %d (pid %d) reached --max-age: %lld.%lld s "
				      "old; replacing it", wk->slot, (int)wk->pid,
				      (long long)((now - wk->started_ms) / 1000),
				      (long long)((now - wk->started_ms) % 1000 / 100));
			wk->recycle = CAUSE_AGE;
		}
	}
	try_replacement(pool, now);
}

static int64_t health_next_deadline(const struct pool *pool, int64_t next)
{
	bool waiting = false;

	for (int i = 0; i < pool->n_workers; i++) {
		const struct worker *wk = &pool->workers[i];
		int64_t d = -1;

		if (wk->state == WS_READY && wk->recycle != CAUSE_NONE)
			waiting = true;
		if (!can_condemn(pool, wk))
			continue;
		if (pool->set.watchdog_ms > 0 && wk->beat_ms >= 0)
			d = wk->beat_ms + pool->set.watchdog_ms;
		if (wk->expire_ms >= 0 && (d < 0 || wk->expire_ms < d))
			d = wk->expire_ms;
		if (d >= 0 && (next < 0 || d < next))
			next = d;
	}
	/* A condemned worker waits for a failed replacement's pause (a rollout's or the
	 * current replacement's end wakes it by itself). */
	if (waiting && !pool->rep.active && pool->rep.retry_at_ms >= 0 &&
	    (next < 0 || pool->rep.retry_at_ms < next))
		next = pool->rep.retry_at_ms;
	return next;
}

void pool_heartbeat(struct pool *pool, pid_t pid, int64_t now)
{
	int w = pool_find(pool, pid);

	if (w >= 0 && pool->workers[w].state == WS_READY)
		pool->workers[w].beat_ms = now;
}

void pool_memory(struct pool *pool, pid_t pid, uint64_t rss_bytes, int64_t now)
{
	int w = pool_find(pool, pid);
	uint64_t limit = pool_memory_limit(pool);
	struct worker *wk;
	char size[16], max[16];

	if (w < 0)
		return;
	wk = &pool->workers[w];
	wk->rss_bytes = rss_bytes;
	if (limit == 0 || rss_bytes <= limit)
		return;
	health_format_size(rss_bytes, size, sizeof(size));
	health_format_size(limit, max, sizeof(max));
	if (can_condemn(pool, wk)) {
		pool_emit_log(pool, LOG_INFO, "worker %d (pid %d) uses %s, over --max-memory %s; "
			      "replacing it", wk->slot, (int)wk->pid, size, max);
		condemn(pool, w, CAUSE_MEMORY, now);
	} else if (wk->state == WS_STOPPING && wk->recycle == CAUSE_MEMORY &&
		   wk->step != STOP_KILL && rss_bytes > 2 * limit &&
		   now - wk->stop_started_ms >= pool->set.drain_timeout_ms) {
		struct pool_action *a = pool_emit(pool, ACT_SIGNAL);

		a->worker = w;
		a->pid = wk->pid;
		a->sig = SIGKILL;
		a->level = LOG_WARN;
		snprintf(a->msg, sizeof(a->msg), "worker %d (pid %d) still uses %s, over twice "
			 "--max-memory %s, after its drain timeout; sending SIGKILL", wk->slot,
			 (int)wk->pid, size, max);
		wk->step = STOP_KILL;
		wk->deadline_ms = -1;
	}
}

void pool_oom_killed(struct pool *pool, pid_t pid, const char *detail)
{
	int w = pool_find(pool, pid);

	if (w < 0)
		return;
	pool->workers[w].oom = true;
	snprintf(pool->oom_detail, sizeof(pool->oom_detail), "%s", detail ? detail : "");
}

/* ---- restarts ---- */

/* Record a restart; false when it is one more than --max-restarts within --restart-window. */
static bool restart_allowed(struct pool *pool, int64_t now)
{
	int cap = pool->restart_log_cap;
	int oldest;

	if (!pool->restart_log)
		return true; /* unlimited: the backoff alone paces the restarts */
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
		pool->stats.crash_loops++;
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
	for (int k = 1; k < pool->n_slots; k++)
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
	if (w->hung && sig == pool->set.watchdog_signal)
		return true;
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
	bool handled = false;
	char how[128];

	/* A worker told to stop before it had a pid ends as a stopped one. */
	if (wk.state == WS_SPAWNING && wk.why != WHY_NONE) {
		wk.state = WS_STOPPING;
		wk.step = STOP_NONE;
	}

	/* Dying of the signal baton sent is how a stop ends, not a crash: "killed by SIGTERM"
	 * on every stop would read as a failure. A SIGKILL was already warned about. */
	if (died_of_our_signal(pool, &wk, code)) {
		char name[16];

		snprintf(how, sizeof(how), "stopped by the SIG%s baton sent",
			 cfg_signal_name(code - 128, name, sizeof(name)));
	} else if (wk.oom) {
		snprintf(how, sizeof(how), "was killed by the kernel's OOM killer (%s)",
			 pool->oom_detail);
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
	if (!wk.candidate && wk.state != WS_STOPPING) {
		s->last_cause = wk.oom ? CAUSE_OOM : code > 128 ? CAUSE_SIGNAL : CAUSE_EXIT;
		s->restarts_by[s->last_cause]++;
	}
	if (wk.state == WS_STOPPING && wk.step != STOP_NONE)
		count_drain(pool, &wk, now);
	if (wk.pid > 0)
		index_del(pool, w);
	memset(&pool->workers[w], 0, sizeof(pool->workers[w]));
	if (wk.state == WS_READY)
		slot_lost_ready(pool, wk.slot, now);

	if (pool->phase != PH_RUNNING) {
		bool by_stop = wk.state == WS_STOPPING && wk.why == WHY_SHUTDOWN;

		if (pool->stop_status < 0 && judged != 0 &&
		    !(by_stop && expected_stop_status(pool, &wk, code)))
			pool->stop_status = code;
		check_all_stopped(pool, now);
		return;
	}

	if (pool->ro.active) {
		struct ro_decision d;
		char ended[48];

		decision_init(&d);
		pool_describe_status(ended, sizeof(ended), code);
		rollout_on_exit(&pool->ro, pool, w, &wk, ended, now, &d);
		apply_decision(pool, &d, now);
		handled = d.handled;
	}
	if (!handled)
		handled = replacement_on_exit(pool, w, &wk, code, now);
	if (handled) {
		check_pool_empty(pool, now);
		return;
	}
	if (wk.state == WS_STOPPING) {
		if (wk.why == WHY_READY_LATE && s->active) {
			schedule_restart(pool, wk.slot, false, code, now);
		} else if (wk.hung && s->active && s->cur < 0 && s->restart_at_ms < 0) {
			/* A hung worker stopped without a ready replacement (its new worker
			 * failed, or could not be spawned): nothing else fills its slot, so
			 * it restarts as after any death, with the backoff of that failure. */
			s->last_cause = CAUSE_WATCHDOG;
			s->restarts_by[CAUSE_WATCHDOG]++;
			schedule_restart(pool, wk.slot, false, code, now);
		}
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
	struct worker *wk;

	if (w < 0 || w >= pool->n_workers || pool->workers[w].state != WS_SPAWNING)
		return;
	wk = &pool->workers[w];
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
	index_add(pool, w);
	wk->state = WS_STARTING;
	wk->started_ms = now;
	if (pool->set.max_age_ms > 0)
		wk->expire_ms = now + health_max_age_ms(pool->set.max_age_ms, next_random(pool));
	wk->deadline_ms = now + (pool->set.ready_by_delay ? pool->set.ready_delay_ms
							  : pool->set.ready_timeout_ms);
	pool_emit_log(pool, LOG_INFO, "worker %d started (pid %d%s)", wk->slot, (int)pid,
		      !wk->candidate ? ""
		      : pool->rep.active && wk->slot == pool->rep.slot ? ", its replacement"
								    : ", new version");
	if (pool->phase != PH_RUNNING && pool->phase != PH_STOP_DELAY) {
		begin_stop(pool, w, WHY_SHUTDOWN, now);
	} else if (wk->why != WHY_NONE) {
		enum stop_reason why = wk->why;

		wk->why = WHY_NONE;
		begin_stop(pool, w, why, now);
	}
}

static void mark_ready(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	struct ro_decision d;

	wk->state = WS_READY;
	wk->ready_ms = now;
	wk->beat_ms = now; /* the watchdog counts from readiness */
	wk->deadline_ms = -1;
	pool->ever_ready = true;
	pool->slots[wk->slot].fail_streak = 0;
	pool->slots[wk->slot].unready_since_ms = -1;
	if (replacement_on_ready(pool, w, now))
		return;
	pool_emit_log(pool, LOG_DEBUG, "worker %d (pid %d) ready after %lld ms", wk->slot,
		      (int)wk->pid, (long long)(now - wk->started_ms));
	decision_init(&d);
	rollout_on_ready(&pool->ro, pool, w, now, &d);
	apply_decision(pool, &d, now);
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
	struct ro_decision d;

	if (replacement_ready_late(pool, w, now))
		return;
	if (pool->workers[w].candidate) {
		decision_init(&d);
		rollout_on_ready_late(&pool->ro, pool, w, now, &d);
		apply_decision(pool, &d, now);
	} else {
		begin_stop(pool, w, WHY_READY_LATE, now);
	}
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
		begin_stop(pool, w, pool->phase == PH_RUNNING ? WHY_READY_LATE : WHY_SHUTDOWN, now);
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
			for (int i = 0; i < pool->n_workers; i++)
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
	for (int i = 0; i < pool->n_workers; i++) {
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
	struct ro_decision d;

	if (pool->hook.running)
		return 0; /* the rollout that follows the command takes this reload in */
	if (pool->rep.active) {
		/* One slot at a time: the rollout begins when the replacement has ended. */
		pool->rep.reload_after = true;
		return 0;
	}
	decision_init(&d);
	if (rollout_coalesce(&pool->ro, &d)) {
		apply_decision(pool, &d, now);
		return 0;
	}
	if (pool->set.pre_rollout)
		hook_begin(pool, now);
	else
		start_rollout(pool, now);
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
	if (pool->rep.active) {
		snprintf(err, errlen, "worker %d is being replaced; scale when that has ended",
			 pool->rep.slot);
		return -EBUSY;
	}
	if (grow_slots(pool, n) < 0) {
		snprintf(err, errlen, "scale: out of memory for %d workers", n);
		return -ENOMEM;
	}
	pool->wanted = n;
	for (int k = from + 1; k <= n; k++) {
		slot_reset(&pool->slots[k], true);
		pool->slots[k].unready_since_ms = now;
		spawn_worker(pool, k, false, now);
	}
	for (int k = n + 1; k <= from; k++) {
		struct slot *s = &pool->slots[k];

		s->active = false;
		s->restart_at_ms = -1;
		if (s->cur >= 0) {
			begin_stop(pool, s->cur, WHY_RETIRE, now);
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
	for (int i = 0; i < pool->n_workers; i++) {
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
	health_tick(pool, now);
	if (pool->phase != PH_RUNNING)
		return;
	for (int k = 1; k < pool->n_slots; k++) {
		struct slot *s = &pool->slots[k];

		if (s->restart_at_ms < 0 || s->restart_at_ms > now)
			continue;
		s->restart_at_ms = -1;
		if (s->active && s->cur < 0)
			spawn_worker(pool, k, false, now);
	}
}

int64_t pool_next_deadline(const struct pool *pool)
{
	int64_t next = pool->phase_deadline_ms;

	if (pool->hook.running && pool->hook.pid > 0 && pool->hook.deadline_ms >= 0 &&
	    (next < 0 || pool->hook.deadline_ms < next))
		next = pool->hook.deadline_ms;

	for (int i = 0; i < pool->n_workers; i++) {
		int64_t d = pool->workers[i].deadline_ms;

		if (pool->workers[i].state != WS_FREE && d >= 0 && (next < 0 || d < next))
			next = d;
	}
	if (pool->phase == PH_RUNNING) {
		for (int k = 1; k < pool->n_slots; k++) {
			int64_t d = pool->slots[k].restart_at_ms;

			if (d >= 0 && (next < 0 || d < next))
				next = d;
		}
	}
	if (pool->phase == PH_RUNNING)
		next = health_next_deadline(pool, next);
	return next;
}
