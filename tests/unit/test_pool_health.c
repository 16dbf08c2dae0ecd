/*
 * Worker health in the supervisor: the watchdog, memory and age recycling, OOM kills named,
 * and the counters kept for metrics.
 *
 * Each test drives the pool as the run loop would (spawns answered with pids 101, 102, ...,
 * readiness, heartbeats, memory samples, exits, time) and checks the actions it decides and
 * the state it keeps. Every replacement of a condemned worker is a one-slot rollout: its new
 * worker ready first, one slot at a time.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baton/pool.h"

#define MIB (1024ull * 1024)
#define MAX_ACTS 256

static struct pool pool;
static int64_t now;
static pid_t next_pid;
/* The actions of the last event, log lines included. */
static struct pool_action acts[MAX_ACTS];
static int n_acts;
/* Every action since the pool started, for "this worker was never touched". */
static struct pool_action all[4096];
static int n_all;

static void settings(struct pool_settings *s)
{
	*s = (struct pool_settings){
		.workers = 2,
		.restart = RESTART_ON_FAILURE,
		.max_restarts = 10,
		.restart_window_ms = 60000,
		.drain_signal = SIGTERM,
		.drain_timeout_ms = 30000,
		.term_timeout_ms = 10000,
		.ready_timeout_ms = 60000,
		.reload_signal = SIGHUP,
		.seed = 42,
	};
}

/* Take the actions the last event decided. */
static void collect(void)
{
	struct pool_action a;

	n_acts = 0;
	while (pool_next_action(&pool, &a)) {
		assert_true(n_acts < MAX_ACTS);
		acts[n_acts++] = a;
		if (n_all < (int)(sizeof(all) / sizeof(all[0])))
			all[n_all++] = a;
	}
}

static int count(enum action_kind kind)
{
	int n = 0;

	for (int i = 0; i < n_acts; i++)
		n += acts[i].kind == kind;
	return n;
}

/* Actions other than log lines. */
static int n_real(void)
{
	return n_acts - count(ACT_LOG);
}

static bool has_signal(enum action_kind kind, pid_t pid, int sig)
{
	for (int i = 0; i < n_acts; i++)
		if (acts[i].kind == kind && acts[i].pid == pid && acts[i].sig == sig)
			return true;
	return false;
}

static bool logged(const char *text)
{
	for (int i = 0; i < n_acts; i++)
		if (acts[i].kind == ACT_LOG && strstr(acts[i].msg, text))
			return true;
	return false;
}

/* The entry of the one ACT_SPAWN of the last event: a candidate of slot. */
static int spawned_candidate(int slot)
{
	int w = -1;

	assert_int_equal(count(ACT_SPAWN), 1);
	for (int i = 0; i < n_acts; i++)
		if (acts[i].kind == ACT_SPAWN)
			w = acts[i].worker;
	assert_int_equal(pool.workers[w].slot, slot);
	assert_true(pool.workers[w].candidate);
	assert_int_equal(pool.slots[slot].cand, w);
	return w;
}

/* Give every pending spawn a pid; the last one given. */
static pid_t answer_spawns(void)
{
	pid_t last = 0;

	for (int w = 0; w < pool_capacity(&pool); w++) {
		if (pool.workers[w].state == WS_SPAWNING) {
			last = next_pid++;
			pool_spawned(&pool, w, last, 0, now);
		}
	}
	collect();
	return last;
}

static void at(int64_t ms)
{
	now += ms;
	pool_tick(&pool, now);
	collect();
}

static void ready(pid_t pid)
{
	pool_ready(&pool, pid, now);
	collect();
}

static void beat(pid_t pid)
{
	pool_heartbeat(&pool, pid, now);
	collect();
}

static void memory(pid_t pid, uint64_t bytes)
{
	pool_memory(&pool, pid, bytes, now);
	collect();
}

/* code: exit status, or 128 + signal. */
static void exited(pid_t pid, int code)
{
	pool_exited(&pool, pid, code > 128 ? code - 128 : code << 8, now);
	collect();
}

static pid_t pid_of(int slot)
{
	int w = pool.slots[slot].cur;

	assert_true(w >= 0);
	return pool.workers[w].pid;
}

/* A pool of s->workers, every worker spawned and ready at now. */
static void boot(const struct pool_settings *s)
{
	pool_free(&pool);
	assert_int_equal(pool_init(&pool, s), 0);
	now = 1000000;
	next_pid = 101;
	n_all = 0;
	pool_start(&pool, now);
	collect();
	answer_spawns();
	for (int w = 0; w < pool_capacity(&pool); w++)
		if (pool.workers[w].state == WS_STARTING)
			pool_ready(&pool, pool.workers[w].pid, now);
	collect();
	for (int k = 1; k <= s->workers; k++)
		assert_int_equal(pool.workers[pool.slots[k].cur].state, WS_READY);
	n_all = 0; /* from here on */
}

/* No action since boot named pid, or spawned for slot. */
static void untouched(int slot, pid_t pid)
{
	for (int i = 0; i < n_all; i++) {
		if (all[i].kind == ACT_LOG)
			continue;
		assert_false(all[i].pid == pid);
		if (all[i].kind == ACT_SPAWN && all[i].worker >= 0)
			assert_false(pool.workers[all[i].worker].slot == slot &&
				     pool.workers[all[i].worker].state != WS_FREE);
	}
	assert_int_equal(pid_of(slot), pid);
	for (int c = 0; c < POOL_CAUSES; c++)
		assert_int_equal(pool.slots[slot].restarts_by[c], 0);
}

static void watchdog(struct pool_settings *s)
{
	settings(s);
	s->watchdog_ms = 1000;
	s->watchdog_signal = SIGABRT;
	s->term_timeout_ms = 800;
}

/* ---- the watchdog ---- */

static void test_watchdog_replaces_ready_first(void **state)
{
	struct pool_settings s;
	pid_t hung, other, cand;
	int cw;

	(void)state;
	watchdog(&s);
	boot(&s);
	hung = pid_of(1);
	other = pid_of(2);

	/* heartbeats keep both */
	at(600);
	beat(hung);
	beat(other);
	at(600); /* 1200 ms after readiness, 600 after the last beat */
	assert_int_equal(n_real(), 0);
	assert_int_equal(pool.workers[pool.slots[1].cur].recycle, CAUSE_NONE);

	/* slot 1 goes silent; slot 2 keeps beating */
	beat(other);
	at(399); /* 999 ms since its last beat */
	assert_int_equal(n_real(), 0);
	at(1); /* 1000 */
	cw = spawned_candidate(1);
	assert_int_equal(count(ACT_SIGNAL) + count(ACT_DRAIN), 0);
	assert_true(logged("missed its watchdog"));
	assert_true(pool.rep.active);
	assert_int_equal(pool.rep.slot, 1);
	assert_int_equal(pool.rep.cause, CAUSE_WATCHDOG);

	/* the hung one is not signalled while its replacement starts */
	cand = answer_spawns();
	assert_int_equal(pool.workers[cw].pid, cand);
	assert_int_equal(n_real(), 0);
	at(500);
	assert_int_equal(n_real(), 0);
	beat(other);
	assert_int_equal(pid_of(1), hung);

	/* ready: it takes the slot; the hung one gets SIGABRT, then SIGKILL */
	ready(cand);
	assert_int_equal(n_real(), 1);
	assert_true(has_signal(ACT_SIGNAL, hung, SIGABRT));
	assert_int_equal(pool.slots[1].cur, cw);
	assert_false(pool.workers[cw].candidate);
	at(799);
	assert_int_equal(n_real(), 0);
	beat(other);
	beat(cand);
	at(1);
	assert_int_equal(n_real(), 1);
	assert_true(has_signal(ACT_SIGNAL, hung, SIGKILL));

	/* its exit ends the replacement */
	assert_true(pool.rep.active);
	exited(hung, 128 + SIGKILL);
	assert_int_equal(n_real(), 0);
	assert_false(pool.rep.active);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_WATCHDOG);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_WATCHDOG], 1);
	assert_int_equal(pid_of(1), cand);
	untouched(2, other);
}

static void test_watchdog_one_replacement_at_a_time(void **state)
{
	struct pool_settings s;
	pid_t a, b, cand;

	(void)state;
	watchdog(&s);
	boot(&s);
	a = pid_of(1);
	b = pid_of(2);
	at(300);
	beat(b);
	at(700); /* a misses */
	spawned_candidate(1);
	at(300); /* b misses too, while a's replacement runs */
	assert_int_equal(n_real(), 0);
	assert_int_equal(pool.workers[pool.slots[2].cur].recycle, CAUSE_WATCHDOG);
	cand = answer_spawns();
	at(100);
	assert_int_equal(n_real(), 0);
	ready(cand);
	assert_true(has_signal(ACT_SIGNAL, a, SIGABRT));
	assert_int_equal(count(ACT_SPAWN), 0);
	assert_int_equal(pool.slots[2].cand, -1);
	at(800);
	assert_true(has_signal(ACT_SIGNAL, a, SIGKILL));
	assert_int_equal(count(ACT_SPAWN), 0);
	/* b still serves: capacity never below N-1 */
	assert_int_equal(pool.workers[pool.slots[2].cur].state, WS_READY);
	exited(a, 128 + SIGKILL);
	spawned_candidate(2);
	assert_int_equal(pool.rep.slot, 2);
	assert_int_equal(count(ACT_SIGNAL), 0);
}

static void test_watchdog_candidate_fails(void **state)
{
	struct pool_settings s;
	pid_t hung, other, cand, again;

	(void)state;
	watchdog(&s);
	boot(&s);
	hung = pid_of(1);
	other = pid_of(2);
	at(500);
	beat(other);
	at(500);
	spawned_candidate(1);
	cand = answer_spawns();
	at(100);
	beat(other);
	exited(cand, 1); /* before it was ready */
	assert_true(has_signal(ACT_SIGNAL, hung, SIGABRT));
	assert_int_equal(count(ACT_SPAWN), 0);
	assert_false(pool.rep.active);
	at(800);
	assert_true(has_signal(ACT_SIGNAL, hung, SIGKILL));
	beat(other);
	exited(hung, 128 + SIGKILL);
	/* the slot restarts as after any exit */
	for (int i = 0; i < 20 && count(ACT_SPAWN) == 0; i++) {
		beat(other);
		at(100);
	}
	assert_int_equal(count(ACT_SPAWN), 1);
	again = answer_spawns();
	ready(again);
	assert_int_equal(pid_of(1), again);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_WATCHDOG);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_WATCHDOG], 1);
	assert_int_equal(pid_of(2), other);
}

/* With one worker, the hung one's end without a replacement is not "no worker left". */
static void test_watchdog_candidate_fails_single(void **state)
{
	struct pool_settings s;
	pid_t hung;

	(void)state;
	watchdog(&s);
	s.workers = 1;
	boot(&s);
	hung = pid_of(1);
	at(1000);
	spawned_candidate(1);
	exited(answer_spawns(), 1);
	assert_true(has_signal(ACT_SIGNAL, hung, SIGABRT));
	at(800);
	assert_true(has_signal(ACT_SIGNAL, hung, SIGKILL));
	exited(hung, 128 + SIGKILL);
	assert_int_equal(pool.phase, PH_RUNNING);
	assert_int_equal(count(ACT_SIGNAL_ORPHANS), 0);
	assert_true(pool.slots[1].restart_at_ms >= now);
	assert_int_equal(pool_next_deadline(&pool), pool.slots[1].restart_at_ms);
}

/* ---- memory ---- */

static void mem64(struct pool_settings *s)
{
	settings(s);
	s->max_memory_kind = MAX_MEMORY_BYTES;
	s->max_memory = 64 * MIB;
	s->drain_signal = SIGUSR1;
	s->drain_timeout_ms = 1000;
}

static void test_memory_replaces_gracefully(void **state)
{
	struct pool_settings s;
	pid_t old, other, cand;
	int cw;

	(void)state;
	mem64(&s);
	boot(&s);
	old = pid_of(1);
	other = pid_of(2);
	assert_int_equal(pool_memory_limit(&pool), 64 * MIB);
	memory(old, 60 * MIB);
	memory(old, 64 * MIB); /* at the limit: not over it */
	memory(other, 10 * MIB);
	assert_int_equal(n_acts, 0);
	assert_int_equal(pool.workers[pool.slots[1].cur].rss_bytes, 64 * MIB);

	memory(old, 65 * MIB);
	cw = spawned_candidate(1);
	assert_true(logged("over --max-memory 64 MiB"));
	assert_int_equal(count(ACT_DRAIN) + count(ACT_SIGNAL), 0);
	cand = answer_spawns();
	memory(old, 100 * MIB);
	at(100);
	assert_int_equal(n_real(), 0);

	ready(cand);
	assert_int_equal(n_real(), 1);
	assert_true(has_signal(ACT_DRAIN, old, SIGUSR1));
	assert_int_equal(pool.slots[1].cur, cw);

	/* over twice the limit, but within its drain timeout: left to drain */
	at(500);
	memory(old, 200 * MIB);
	assert_int_equal(n_real(), 0);
	at(500); /* the drain timeout: the next step of the stop sequence */
	assert_true(has_signal(ACT_SIGNAL, old, SIGTERM));
	memory(old, 128 * MIB); /* twice, not over: no kill */
	assert_int_equal(n_real(), 0);
	memory(old, 129 * MIB);
	assert_int_equal(n_real(), 1);
	assert_true(has_signal(ACT_SIGNAL, old, SIGKILL));
	assert_non_null(strstr(acts[n_acts - 1].msg, "over twice --max-memory 64 MiB"));
	memory(old, 300 * MIB); /* once */
	assert_int_equal(n_real(), 0);
	exited(old, 128 + SIGKILL);
	assert_false(pool.rep.active);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_MEMORY);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_MEMORY], 1);
	untouched(2, other);
}

/* A worker that drains under twice the limit is never killed for its memory. */
static void test_memory_drain_under_twice_not_killed(void **state)
{
	struct pool_settings s;
	pid_t old;

	(void)state;
	mem64(&s);
	s.drain_signal = SIGTERM;
	s.drain_timeout_ms = 5000;
	boot(&s);
	old = pid_of(1);
	memory(old, 100 * MIB);
	ready(answer_spawns());
	assert_true(has_signal(ACT_DRAIN, old, SIGTERM));
	at(2000);
	memory(old, 120 * MIB);
	assert_int_equal(n_real(), 0);
	at(2999);
	memory(old, 127 * MIB);
	assert_int_equal(n_real(), 0);
	exited(old, 0);
	assert_false(pool.rep.active);
	assert_int_equal(pool.stats.drains[DRAIN_EXITED], 1);
}

static void test_memory_percent(void **state)
{
	struct pool_settings s;

	(void)state;
	settings(&s);
	s.max_memory_kind = MAX_MEMORY_PERCENT;
	s.max_memory = 50;
	s.memory_limit = 1024 * MIB;
	pool_free(&pool);
	assert_int_equal(pool_init(&pool, &s), 0);
	assert_int_equal(pool_memory_limit(&pool), 256 * MIB);
	/* without a container limit, no percentage */
	s.memory_limit = 0;
	pool_free(&pool);
	assert_int_equal(pool_init(&pool, &s), 0);
	assert_int_equal(pool_memory_limit(&pool), 0);
	settings(&s);
	pool_free(&pool);
	assert_int_equal(pool_init(&pool, &s), 0);
	assert_int_equal(pool_memory_limit(&pool), 0);
}

static void test_memory_candidate_fails_keeps_old(void **state)
{
	struct pool_settings s;
	pid_t old, cand;
	int64_t retry;

	(void)state;
	mem64(&s);
	boot(&s);
	old = pid_of(1);
	memory(old, 80 * MIB);
	spawned_candidate(1);
	cand = answer_spawns();
	at(50);
	exited(cand, 1);
	assert_int_equal(n_real(), 0); /* no drain, no kill, no spawn yet */
	assert_false(pool.rep.active);
	assert_int_equal(pid_of(1), old);
	assert_int_equal(pool.workers[pool.slots[1].cur].state, WS_READY);
	assert_int_equal(pool.slots[1].cand, -1);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_MEMORY], 0);
	retry = pool_next_deadline(&pool);
	assert_true(retry > now);
	assert_int_equal(retry, pool.rep.retry_at_ms);
	at(retry - now - 1);
	assert_int_equal(n_real(), 0);
	at(1);
	spawned_candidate(1);
	assert_true(pool.rep.active);
	ready(answer_spawns());
	assert_true(has_signal(ACT_DRAIN, old, SIGUSR1));
}

/* ---- age ---- */

static void test_age_jitter_and_one_at_a_time(void **state)
{
	struct pool_settings s;
	int64_t t0;
	pid_t first, second, cand;
	int slot_first, slot_second, w;

	(void)state;
	settings(&s);
	s.max_age_ms = 5000;
	boot(&s);
	t0 = now;
	for (int k = 1; k <= 2; k++) {
		const struct worker *wk = &pool.workers[pool.slots[k].cur];

		assert_true(wk->expire_ms >= wk->started_ms + 4500);
		assert_true(wk->expire_ms <= wk->started_ms + 5000);
	}
	/* the seed gives them different ages */
	assert_true(pool.workers[pool.slots[1].cur].expire_ms !=
		    pool.workers[pool.slots[2].cur].expire_ms);
	assert_int_equal(pool_next_deadline(&pool),
			 pool.workers[pool.slots[1].cur].expire_ms <
					 pool.workers[pool.slots[2].cur].expire_ms
				 ? pool.workers[pool.slots[1].cur].expire_ms
				 : pool.workers[pool.slots[2].cur].expire_ms);
	at(4499);
	assert_int_equal(n_real(), 0);

	/* both reach their age at once: one slot, then the other */
	at(5000 - (now - t0));
	assert_true(logged("reached --max-age"));
	assert_int_equal(count(ACT_SPAWN), 1);
	slot_first = pool.rep.slot;
	slot_second = 3 - slot_first;
	first = pid_of(slot_first);
	second = pid_of(slot_second);
	w = spawned_candidate(slot_first);
	assert_int_equal(pool.rep.cause, CAUSE_AGE);
	cand = answer_spawns();
	assert_true(pool.workers[w].expire_ms >= now + 4500 && pool.workers[w].expire_ms <= now + 5000);
	at(10);
	assert_int_equal(n_real(), 0);
	ready(cand);
	assert_int_equal(n_real(), 1);
	assert_true(has_signal(ACT_DRAIN, first, SIGTERM));
	at(10);
	assert_int_equal(n_real(), 0); /* the other waits for the first's exit */
	exited(first, 128 + SIGTERM);
	spawned_candidate(slot_second);
	assert_int_equal(pool.slots[slot_first].last_cause, CAUSE_AGE);
	cand = answer_spawns();
	ready(cand);
	assert_true(has_signal(ACT_DRAIN, second, SIGTERM));
	exited(second, 0);
	assert_false(pool.rep.active);
	assert_int_equal(pool.slots[slot_second].last_cause, CAUSE_AGE);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_AGE], 1);
	assert_int_equal(pool.slots[2].restarts_by[CAUSE_AGE], 1);
}

/* ---- OOM ---- */

static void test_oom_named(void **state)
{
	struct pool_settings s;
	pid_t victim;

	(void)state;
	settings(&s);
	boot(&s);
	victim = pid_of(1);
	pool_oom_killed(&pool, 9999, "not a worker"); /* ignored */
	pool_oom_killed(&pool, victim, "memory limit 64 MiB");
	collect();
	assert_int_equal(n_acts, 0);
	exited(victim, 128 + SIGKILL);
	assert_true(logged("was killed by the kernel's OOM killer (memory limit 64 MiB)"));
	assert_false(logged("was killed by SIGKILL"));
	assert_int_equal(pool.slots[1].last_cause, CAUSE_OOM);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_OOM], 1);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_SIGNAL], 0);
	/* the next SIGKILL, not the OOM killer's, is named as such */
	at(0);
	victim = answer_spawns();
	ready(victim);
	exited(victim, 128 + SIGKILL);
	assert_true(logged("was killed by SIGKILL"));
	assert_int_equal(pool.slots[1].last_cause, CAUSE_SIGNAL);
}

/* ---- requests during a replacement ---- */

static void test_reload_waits_scale_refused(void **state)
{
	struct pool_settings s;
	char err[128];
	pid_t old;

	(void)state;
	mem64(&s);
	boot(&s);
	old = pid_of(1);
	memory(old, 70 * MIB);
	spawned_candidate(1);
	assert_int_equal(pool_scale(&pool, 3, now, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "being replaced"));
	assert_int_equal(pool.wanted, 2);
	assert_int_equal(pool_reload(&pool, now, err, sizeof(err)), 0);
	collect();
	assert_int_equal(n_real(), 0);
	assert_true(pool.rep.reload_after);
	assert_false(pool.ro.active);
	ready(answer_spawns());
	assert_true(has_signal(ACT_DRAIN, old, SIGUSR1));
	assert_false(pool.ro.active);
	exited(old, 0);
	/* the replacement ended: the rollout begins */
	assert_false(pool.rep.active);
	assert_false(pool.rep.reload_after);
	assert_true(pool.ro.active);
	assert_int_equal(count(ACT_SPAWN), 1);
}

/* A worker condemned during a rollout that another reload supersedes: the next rollout's
 * --pre-rollout command goes first, and no replacement runs beside it or its rollout. */
static void test_condemned_waits_for_superseding_rollout(void **state)
{
	struct pool_settings s;
	char err[128];
	pid_t old1, old2, cand;

	(void)state;
	mem64(&s);
	s.pre_rollout = true;
	s.hook_timeout_ms = 10000;
	boot(&s);
	old1 = pid_of(1);
	old2 = pid_of(2);
	assert_int_equal(pool_reload(&pool, now, err, sizeof(err)), 0);
	collect();
	assert_int_equal(count(ACT_RUN_HOOK), 1);
	pool_hook_started(&pool, 900, 0, now);
	exited(900, 0);
	spawned_candidate(1);
	assert_true(pool.ro.active);
	cand = answer_spawns();
	assert_int_equal(pool_reload(&pool, now, err, sizeof(err)), 0); /* supersedes it */
	collect();
	memory(old2, 80 * MIB);
	assert_true(logged("replacing it"));
	assert_int_equal(count(ACT_SPAWN), 0);
	ready(cand);
	assert_true(has_signal(ACT_DRAIN, old1, SIGUSR1));
	exited(old1, 0);
	/* the rollout ends, superseded: the command runs, and nothing else starts */
	assert_int_equal(count(ACT_ROLLOUT_DONE), 1);
	assert_int_equal(count(ACT_RUN_HOOK), 1);
	assert_int_equal(count(ACT_SPAWN), 0);
	assert_false(pool.rep.active);
	pool_hook_started(&pool, 901, 0, now);
	exited(901, 0);
	assert_true(pool.ro.active);
	assert_false(pool.rep.active);
	spawned_candidate(1);
	for (int k = 1; k <= 2; k++)
		assert_true(pool.slots[k].cand < 0 || k == 1);
}

/* ---- costs nothing when off ---- */

static void test_off_no_wakeups(void **state)
{
	struct pool_settings s;

	(void)state;
	settings(&s);
	boot(&s);
	assert_int_equal(pool_next_deadline(&pool), -1);
	beat(pid_of(1));
	memory(pid_of(1), 1ull << 40);
	at(1000000);
	assert_int_equal(n_acts, 0);
	assert_int_equal(pool_next_deadline(&pool), -1);
	assert_false(pool.rep.active);
}

/* With the watchdog on, the only wake-up is the earliest heartbeat due. */
static void test_watchdog_deadline(void **state)
{
	struct pool_settings s;

	(void)state;
	watchdog(&s);
	boot(&s);
	assert_int_equal(pool_next_deadline(&pool), now + 1000);
	at(400);
	beat(pid_of(1));
	beat(pid_of(2));
	assert_int_equal(pool_next_deadline(&pool), now + 1000);
}

/* ---- counters ---- */

static void one(struct pool_settings *s)
{
	settings(s);
	s->workers = 1;
}

static void test_count_rollout_complete(void **state)
{
	struct pool_settings s;
	char err[128];
	pid_t old, cand;

	(void)state;
	one(&s);
	boot(&s);
	old = pid_of(1);
	assert_int_equal(pool.stats.last_rollout_ms, -1);
	assert_int_equal(pool_reload(&pool, now, err, sizeof(err)), 0);
	collect();
	assert_int_equal(count(ACT_SPAWN), 1);
	cand = answer_spawns();
	at(150);
	ready(cand);
	assert_true(has_signal(ACT_DRAIN, old, SIGTERM));
	at(100);
	exited(old, 0);
	assert_int_equal(count(ACT_ROLLOUT_DONE), 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_COMPLETE], 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_ROLLED_BACK], 0);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_CANCELLED], 0);
	assert_int_equal(pool.stats.last_rollout_ms, 250);
	assert_int_equal(pool.stats.rollout_started_ms, -1);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_ROLLOUT);
	/* a rollout is not a restart */
	for (int c = 0; c < POOL_CAUSES; c++)
		assert_int_equal(pool.slots[1].restarts_by[c], 0);
	assert_int_equal(pool.stats.drains[DRAIN_EXITED], 1);
}

static void test_count_rollout_rolled_back(void **state)
{
	struct pool_settings s;
	char err[128];

	(void)state;
	one(&s);
	boot(&s);
	pool_reload(&pool, now, err, sizeof(err));
	collect();
	at(40);
	exited(answer_spawns(), 1);
	assert_int_equal(count(ACT_ROLLOUT_DONE), 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_ROLLED_BACK], 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_COMPLETE], 0);
	assert_int_equal(pool.stats.last_rollout_ms, 40);
}

static void test_count_rollout_cancelled(void **state)
{
	struct pool_settings s;
	char err[128];

	(void)state;
	one(&s);
	boot(&s);
	pool_reload(&pool, now, err, sizeof(err));
	collect();
	answer_spawns();
	at(10);
	pool_stop(&pool, now);
	collect();
	assert_int_equal(count(ACT_ROLLOUT_DONE), 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_CANCELLED], 1);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_ROLLED_BACK], 0);
	assert_int_equal(pool.stats.rollouts[ROLLOUT_COMPLETE], 0);
}

static void test_count_restarts_by_cause(void **state)
{
	struct pool_settings s;
	pid_t p;

	(void)state;
	one(&s);
	boot(&s);
	assert_int_equal(pool.slots[1].unready_since_ms, -1);
	p = pid_of(1);
	at(100);
	exited(p, 128 + SIGKILL); /* not sent by baton */
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_SIGNAL], 1);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_SIGNAL);
	assert_int_equal(pool.slots[1].unready_since_ms, now);
	assert_int_equal(count(ACT_SPAWN), 0);
	at(0);
	p = answer_spawns();
	at(20);
	assert_int_equal(pool.slots[1].unready_since_ms, now - 20);
	ready(p);
	assert_int_equal(pool.slots[1].unready_since_ms, -1);
	exited(p, 3);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_EXIT], 1);
	assert_int_equal(pool.slots[1].restarts_by[CAUSE_SIGNAL], 1);
	assert_int_equal(pool.slots[1].last_cause, CAUSE_EXIT);
	assert_int_equal(pool.slots[1].unready_since_ms, now);
	assert_int_equal(pool.slots[1].last_status, 3);
}

static void test_count_drains(void **state)
{
	struct pool_settings s;
	pid_t a, b;

	(void)state;
	settings(&s);
	boot(&s);
	a = pid_of(1);
	b = pid_of(2);
	pool_stop(&pool, now);
	collect();
	assert_int_equal(count(ACT_DRAIN), 2);
	at(50);
	exited(a, 128 + SIGTERM);
	at(29950); /* b's drain timeout */
	assert_true(has_signal(ACT_SIGNAL, b, SIGKILL));
	exited(b, 128 + SIGKILL);
	assert_int_equal(pool.stats.drains[DRAIN_EXITED], 1);
	assert_int_equal(pool.stats.drains[DRAIN_SIGTERM], 0);
	assert_int_equal(pool.stats.drains[DRAIN_SIGKILL], 1);
	assert_int_equal(pool.stats.drain_count, 2);
	assert_int_equal(pool.stats.drain_sum_ms, 50 + 30000);
	for (int i = 0; i < POOL_DRAIN_BUCKETS; i++)
		assert_int_equal(pool.stats.drain_le[i], pool_drain_bucket_ms[i] >= 30000 ? 2 : 1);
}

/* A drain that ends with the SIGTERM step. */
static void test_count_drain_sigterm(void **state)
{
	struct pool_settings s;
	pid_t a;

	(void)state;
	one(&s);
	s.drain_signal = SIGUSR1;
	s.drain_timeout_ms = 200;
	boot(&s);
	a = pid_of(1);
	pool_stop(&pool, now);
	collect();
	at(200);
	assert_true(has_signal(ACT_SIGNAL, a, SIGTERM));
	at(100);
	exited(a, 128 + SIGTERM);
	assert_int_equal(pool.stats.drains[DRAIN_SIGTERM], 1);
	assert_int_equal(pool.stats.drain_sum_ms, 300);
	assert_int_equal(pool.stats.drain_le[0], 0);
	assert_int_equal(pool.stats.drain_le[1], 0);
	assert_int_equal(pool.stats.drain_le[2], 1);
}

static void test_count_crash_loop(void **state)
{
	struct pool_settings s;

	(void)state;
	one(&s);
	s.max_restarts = 2;
	boot(&s);
	exited(pid_of(1), 1);
	for (int i = 0; i < 10 && pool.phase == PH_RUNNING; i++) {
		at(20000);
		exited(answer_spawns(), 1);
	}
	assert_int_not_equal(pool.phase, PH_RUNNING);
	assert_int_equal(pool.stats.crash_loops, 1);
	assert_true(pool.slots[1].restarts_by[CAUSE_EXIT] >= 3);
}

static int teardown(void **state)
{
	(void)state;
	pool_free(&pool);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_watchdog_replaces_ready_first, teardown),
		cmocka_unit_test_teardown(test_watchdog_one_replacement_at_a_time, teardown),
		cmocka_unit_test_teardown(test_watchdog_candidate_fails, teardown),
		cmocka_unit_test_teardown(test_watchdog_candidate_fails_single, teardown),
		cmocka_unit_test_teardown(test_watchdog_deadline, teardown),
		cmocka_unit_test_teardown(test_memory_replaces_gracefully, teardown),
		cmocka_unit_test_teardown(test_memory_drain_under_twice_not_killed, teardown),
		cmocka_unit_test_teardown(test_memory_percent, teardown),
		cmocka_unit_test_teardown(test_memory_candidate_fails_keeps_old, teardown),
		cmocka_unit_test_teardown(test_age_jitter_and_one_at_a_time, teardown),
		cmocka_unit_test_teardown(test_oom_named, teardown),
		cmocka_unit_test_teardown(test_reload_waits_scale_refused, teardown),
		cmocka_unit_test_teardown(test_condemned_waits_for_superseding_rollout, teardown),
		cmocka_unit_test_teardown(test_off_no_wakeups, teardown),
		cmocka_unit_test_teardown(test_count_rollout_complete, teardown),
		cmocka_unit_test_teardown(test_count_rollout_rolled_back, teardown),
		cmocka_unit_test_teardown(test_count_rollout_cancelled, teardown),
		cmocka_unit_test_teardown(test_count_restarts_by_cause, teardown),
		cmocka_unit_test_teardown(test_count_drains, teardown),
		cmocka_unit_test_teardown(test_count_drain_sigterm, teardown),
		cmocka_unit_test_teardown(test_count_crash_loop, teardown),
	};

	return cmocka_run_group_tests_name("pool health", tests, NULL, NULL);
}
