/*
 * rollout: the rolling restart, as a policy over the pool's tables (pure, like pool.c).
 *
 * One slot at a time, surge one: start the new worker of slot k beside the old one, wait
 * until it is ready, then stop the old one and wait until it is gone before slot k+1. The
 * pool never has fewer ready workers than before. If the new worker fails its start (exits,
 * or is not ready in time) the rollout stops there: it is stopped and every old worker keeps
 * serving. A reload during a rollout is coalesced into one more rollout from the first slot,
 * begun when the current step ends.
 *
 * The policy only reads the pool: each event's answer is a decision (struct ro_decision) that
 * pool.c applies, so the slot and worker tables have one writer.
 */
#include "pool_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct ro_step *add(struct ro_decision *d, enum ro_op op, int arg)
{
	static struct ro_step spill; /* never used: RO_MAX_STEPS covers the longest answer */
	struct ro_step *st = d->n < RO_MAX_STEPS ? &d->steps[d->n++] : &spill;

	memset(st, 0, sizeof(*st));
	st->op = op;
	st->arg = arg;
	return st;
}

static void say(struct ro_decision *d, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct ro_decision *d, enum log_level level, const char *fmt, ...)
{
	struct ro_step *st = add(d, RO_LOG, 0);
	va_list ap;

	st->level = level;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
}

/* A slot's current worker, as it will be once the steps decided so far are applied. */
static int slot_cur(const struct pool *pool, const struct ro_decision *d, int k)
{
	return d->promoted_slot == k ? d->promoted_worker : pool->slots[k].cur;
}

static int count_active(const struct pool *pool)
{
	int n = 0;

	for (int k = 1; k < pool->n_slots; k++)
		n += pool->slots[k].active;
	return n;
}

static void finished(struct rollout *ro, struct ro_decision *d, int status, const char *msg)
{
	struct ro_step *st;

	ro->active = false;
	ro->again = false;
	st = add(d, RO_DONE, 0);
	st->status = status;
	snprintf(st->msg, sizeof(st->msg), "%s", msg);
}

static void start_over(struct rollout *ro, const struct pool *pool, int64_t now,
		       struct ro_decision *d)
{
	ro->generation++;
	ro->again = false;
	ro->slot = 0;
	ro->old = -1;
	ro->done = 0;
	ro->total = count_active(pool);
	ro->step_started_ms = now;
	say(d, LOG_INFO, "rollout of generation %u: %d worker%s, one at a time", ro->generation,
	    ro->total, ro->total == 1 ? "" : "s");
}

/* Go on with the next slot that still runs an older generation, or end the rollout. */
static void next_step(struct rollout *ro, const struct pool *pool, int64_t now,
		      struct ro_decision *d)
{
	if (ro->again && pool->set.pre_rollout) {
		/* The command runs before every rollout, a coalesced one too: this one ends here
		 * and the next begins, after it, from the first slot. */
		say(d, LOG_INFO, "rollout of generation %u: another reload follows", ro->generation);
		finished(ro, d, 0, "rollout superseded by another reload");
		add(d, RO_RUN_HOOK, 0);
		return;
	}
	if (ro->again)
		start_over(ro, pool, now, d);
	for (int k = ro->slot + 1; k < pool->n_slots; k++) {
		int cur = slot_cur(pool, d, k);

		if (!pool->slots[k].active || cur < 0)
			continue; /* an empty slot restarts with the new code anyway */
		if (pool->workers[cur].generation == ro->generation)
			continue;
		ro->slot = k;
		ro->old = -1;
		ro->step_started_ms = now;
		add(d, RO_SPAWN, k);
		return;
	}
	say(d, LOG_INFO, "rollout of generation %u complete: %d worker%s replaced", ro->generation,
	    ro->done, ro->done == 1 ? "" : "s");
	finished(ro, d, 0, "rollout complete");
}

void rollout_init(struct rollout *ro)
{
	*ro = (struct rollout){ .generation = 1, .old = -1 };
}

void rollout_begin(struct rollout *ro, const struct pool *pool, int64_t now,
		   struct ro_decision *d)
{
	ro->active = true;
	start_over(ro, pool, now, d);
	next_step(ro, pool, now, d);
}

void rollout_no_room(struct rollout *ro, struct ro_decision *d)
{
	say(d, LOG_ERROR, "rollout failed: no room for a new worker");
	finished(ro, d, 1, "no room for a new worker");
}

void rollout_cancel(struct rollout *ro, const char *why, struct ro_decision *d)
{
	if (!ro->active)
		return;
	say(d, LOG_INFO, "rollout cancelled: %s", why);
	finished(ro, d, 1, why);
}

bool rollout_coalesce(struct rollout *ro, struct ro_decision *d)
{
	if (!ro->active)
		return false;
	if (!ro->again)
		say(d, LOG_INFO, "reload during a rollout: it restarts from the first slot after "
		    "the current step");
	ro->again = true;
	return true;
}

/* The new version failed in the current slot: keep the old workers, unless another reload
 * asked for newer code meanwhile. */
static void failed(struct rollout *ro, const struct pool *pool, const char *how, pid_t pid,
		   int64_t now, struct ro_decision *d)
{
	char msg[POOL_MSG_LEN];

	snprintf(msg, sizeof(msg), "the new version %s (slot %d, pid %d); keeping the old workers",
		 how, ro->slot, (int)pid);
	say(d, LOG_ERROR, "rollout failed: %s", msg);
	if (ro->again) {
		next_step(ro, pool, now, d);
		return;
	}
	finished(ro, d, 1, msg);
}

void rollout_on_ready(struct rollout *ro, const struct pool *pool, int w, int64_t now,
		      struct ro_decision *d)
{
	const struct worker *wk = &pool->workers[w];
	int old;

	if (!ro->active || !wk->candidate)
		return;
	if (wk->slot != ro->slot || pool->slots[wk->slot].cand != w)
		return;
	d->handled = true;
	old = pool->slots[wk->slot].cur;
	add(d, RO_PROMOTE, w);
	d->promoted_slot = wk->slot;
	d->promoted_worker = w;
	ro->ready_after_ms = now - ro->step_started_ms;
	if (old >= 0) {
		say(d, LOG_INFO, "rollout: slot %d: new pid %d ready in %lld ms; draining old pid %d",
		    wk->slot, (int)wk->pid, (long long)ro->ready_after_ms,
		    (int)pool->workers[old].pid);
		ro->old = old;
		ro->old_pid = pool->workers[old].pid;
		ro->step_started_ms = now;
		add(d, RO_STOP, old)->why = WHY_RETIRE;
		return;
	}
	say(d, LOG_INFO, "rollout: slot %d: new pid %d ready in %lld ms", wk->slot, (int)wk->pid,
	    (long long)ro->ready_after_ms);
	ro->done++;
	next_step(ro, pool, now, d);
}

void rollout_on_exit(struct rollout *ro, const struct pool *pool, int w,
		     const struct worker *gone, const char *ended, int64_t now,
		     struct ro_decision *d)
{
	char how[96];

	if (!ro->active)
		return;
	if (w == ro->old) {
		d->handled = true;
		say(d, LOG_INFO, "rollout: slot %d: old pid %d drained in %lld ms", ro->slot,
		    (int)ro->old_pid, (long long)(now - ro->step_started_ms));
		ro->old = -1;
		ro->done++;
		next_step(ro, pool, now, d);
		return;
	}
	if (gone->candidate && gone->state != WS_STOPPING && gone->slot == ro->slot) {
		d->handled = true;
		snprintf(how, sizeof(how), "%s before it was ready", ended);
		failed(ro, pool, how, gone->pid, now, d);
	}
}

void rollout_on_ready_late(struct rollout *ro, const struct pool *pool, int w, int64_t now,
			   struct ro_decision *d)
{
	const struct worker *wk = &pool->workers[w];
	bool ours = ro->active && wk->slot == ro->slot;
	char how[64];

	snprintf(how, sizeof(how), "was not ready after %lld ms",
		 (long long)pool->set.ready_timeout_ms);
	if (ours)
		add(d, RO_UNCAND, wk->slot);
	add(d, RO_STOP, w)->why = WHY_ROLLBACK;
	if (ours) {
		d->handled = true;
		failed(ro, pool, how, wk->pid, now, d);
	}
}
