/*
 * rollout: the rolling restart, as a policy over the pool's tables (pure, like pool.c).
 *
 * One slot at a time, surge one: start the new worker of slot k beside the old one, wait
 * until it is ready, then stop the old one and wait until it is gone before slot k+1. The
 * pool never has fewer ready workers than before. If the new worker fails its start (exits,
 * or is not ready in time) the rollout stops there: it is stopped and every old worker keeps
 * serving. A reload during a rollout is coalesced into one more rollout from the first slot,
 * begun when the current step ends.
 */
#include "pool_int.h"

#include <stdio.h>

static int count_active(const struct pool *pool)
{
	int n = 0;

	for (int k = 1; k <= CFG_MAX_WORKERS; k++)
		n += pool->slots[k].active;
	return n;
}

static void finished(struct pool *pool, int status, const char *msg)
{
	struct pool_action *a;

	pool->ro.active = false;
	pool->ro.again = false;
	a = pool_emit(pool, ACT_ROLLOUT_DONE);
	a->status = status;
	snprintf(a->msg, sizeof(a->msg), "%s", msg);
}

static void start_over(struct pool *pool, int64_t now)
{
	pool->generation++;
	pool->ro.again = false;
	pool->ro.slot = 0;
	pool->ro.old = -1;
	pool->ro.done = 0;
	pool->ro.total = count_active(pool);
	pool->ro.step_started_ms = now;
	pool_emit_log(pool, LOG_INFO, "rollout of generation %u: %d worker%s, one at a time",
		      pool->generation, pool->ro.total, pool->ro.total == 1 ? "" : "s");
}

/* Go on with the next slot that still runs an older generation, or end the rollout. */
static void next_step(struct pool *pool, int64_t now)
{
	if (pool->ro.again && pool->set.pre_rollout) {
		/* The command runs before every rollout, a coalesced one too: this one ends here
		 * and the next begins, after it, from the first slot. */
		pool_emit_log(pool, LOG_INFO, "rollout of generation %u: another reload follows",
			      pool->generation);
		finished(pool, 0, "rollout superseded by another reload");
		pool_hook_begin(pool, now);
		return;
	}
	if (pool->ro.again)
		start_over(pool, now);
	for (int k = pool->ro.slot + 1; k <= CFG_MAX_WORKERS; k++) {
		struct slot *s = &pool->slots[k];

		if (!s->active || s->cur < 0)
			continue; /* an empty slot restarts with the new code anyway */
		if (pool->workers[s->cur].generation == pool->generation)
			continue;
		pool->ro.slot = k;
		pool->ro.old = -1;
		pool->ro.step_started_ms = now;
		if (pool_spawn_worker(pool, k, true, now) < 0) {
			pool_emit_log(pool, LOG_ERROR, "rollout failed: no room for a new worker");
			finished(pool, 1, "no room for a new worker");
		}
		return;
	}
	pool_emit_log(pool, LOG_INFO, "rollout of generation %u complete: %d worker%s replaced",
		      pool->generation, pool->ro.done, pool->ro.done == 1 ? "" : "s");
	finished(pool, 0, "rollout complete");
}

void rollout_begin(struct pool *pool, int64_t now)
{
	pool->ro.active = true;
	start_over(pool, now);
	next_step(pool, now);
}

void rollout_cancel(struct pool *pool, const char *why)
{
	if (!pool->ro.active)
		return;
	pool_emit_log(pool, LOG_INFO, "rollout cancelled: %s", why);
	finished(pool, 1, why);
}

/* The new version failed in the current slot: keep the old workers, unless another reload
 * asked for newer code meanwhile. */
static void failed(struct pool *pool, const char *how, pid_t pid, int64_t now)
{
	char msg[POOL_MSG_LEN];

	snprintf(msg, sizeof(msg), "the new version %s (slot %d, pid %d); keeping the old workers",
		 how, pool->ro.slot, (int)pid);
	pool_emit_log(pool, LOG_ERROR, "rollout failed: %s", msg);
	if (pool->ro.again) {
		next_step(pool, now);
		return;
	}
	finished(pool, 1, msg);
}

bool rollout_on_ready(struct pool *pool, int w, int64_t now)
{
	struct slot *s;
	struct worker *wk = &pool->workers[w];
	int old;

	if (!pool->ro.active || !wk->candidate)
		return false;
	s = &pool->slots[wk->slot];
	if (wk->slot != pool->ro.slot || s->cand != w)
		return false;
	old = s->cur;
	s->cand = -1;
	s->cur = w;
	s->restart_at_ms = -1;
	wk->candidate = false;
	pool->ro.ready_after_ms = now - pool->ro.step_started_ms;
	if (old >= 0) {
		pool_emit_log(pool, LOG_INFO,
			      "rollout: slot %d: new pid %d ready in %lld ms; draining old pid %d",
			      wk->slot, (int)wk->pid, (long long)pool->ro.ready_after_ms,
			      (int)pool->workers[old].pid);
		pool->ro.old = old;
		pool->ro.old_pid = pool->workers[old].pid;
		pool->ro.step_started_ms = now;
		pool_begin_stop(pool, old, WHY_RETIRE, now);
		return true;
	}
	pool_emit_log(pool, LOG_INFO, "rollout: slot %d: new pid %d ready in %lld ms", wk->slot,
		      (int)wk->pid, (long long)pool->ro.ready_after_ms);
	pool->ro.done++;
	next_step(pool, now);
	return true;
}

bool rollout_on_exit(struct pool *pool, int w, const struct worker *gone, int code, int64_t now)
{
	char how[96], ended[48];

	if (!pool->ro.active)
		return false;
	if (w == pool->ro.old) {
		pool_emit_log(pool, LOG_INFO, "rollout: slot %d: old pid %d drained in %lld ms",
			      pool->ro.slot, (int)pool->ro.old_pid,
			      (long long)(now - pool->ro.step_started_ms));
		pool->ro.old = -1;
		pool->ro.done++;
		next_step(pool, now);
		return true;
	}
	if (gone->candidate && gone->state != WS_STOPPING && gone->slot == pool->ro.slot) {
		pool_describe_status(ended, sizeof(ended), code);
		snprintf(how, sizeof(how), "%s before it was ready", ended);
		failed(pool, how, gone->pid, now);
		return true;
	}
	return false;
}

void rollout_on_ready_late(struct pool *pool, int w, int64_t now)
{
	struct worker *wk = &pool->workers[w];
	char how[64];

	snprintf(how, sizeof(how), "was not ready after %lld ms",
		 (long long)pool->set.ready_timeout_ms);
	if (pool->ro.active && wk->slot == pool->ro.slot)
		pool->slots[wk->slot].cand = -1;
	pool_begin_stop(pool, w, WHY_ROLLBACK, now);
	if (pool->ro.active && wk->slot == pool->ro.slot)
		failed(pool, how, wk->pid, now);
}
