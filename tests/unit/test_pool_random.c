/*
 * The supervisor under long random sequences of events.
 *
 * A small simulator plays the run loop: it answers every ACT_SPAWN and ACT_RUN_HOOK (at once
 * or some events later, with a pid or a failure), keeps the processes that are alive, lets
 * them become ready, fail, exit with any status or die of the signals baton sends, advances
 * the clock, sends baton signals, scales, reloads, and reaps orphans that are not workers.
 * After every step it checks the invariants below; when baton exits, a new pool starts with
 * other settings.
 *
 *   - a slot has at most one current worker and one candidate (stopping ones aside);
 *   - an active slot without a worker has its restart pending, unless the policy said no;
 *   - slot.cur and slot.cand name live entries of that slot, of the right kind;
 *   - every entry waiting for its spawn stays so until answered; every live process of the
 *     simulator is a worker entry with its pid, and the reverse;
 *   - no action names a freed entry or a pid that is gone; no spawn of an entry in use;
 *   - during a rollout, ready workers never fewer than at its start when no worker died
 *     meanwhile, and at most one fewer per death otherwise;
 *   - ACT_EXIT only when no child is left;
 *   - worker health (watchdog, --max-age, --max-memory): at most one slot replaced at a
 *     time, never during a rollout or its pre-rollout command; a replacement's new worker
 *     is the only candidate of the pool, in its slot, until it is ready; the worker it
 *     replaces is then the only one it stops; while it runs, ready workers never fewer than
 *     at its start, but for workers that died or hung ones stopped without a replacement;
 *   - with none of the health options set, no health action at all.
 *
 * BATON_RANDOM_SEED replays a sequence (the seed is printed at the start and with a failure);
 * BATON_RANDOM_EVENTS sets its length.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/pool.h"

#define DEFAULT_EVENTS 200000
#define MIB (1024ull * 1024)
#define MAX_PROCS 4096

static uint64_t rng;
static bool trace; /* BATON_RANDOM_TRACE: every event and action, to read a failure */

#define TRACE(...) do { if (trace) printf(__VA_ARGS__); } while (0)

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t next_u64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int below(int n)
{
	return n > 0 ? (int)(next_u64() % (uint64_t)n) : 0;
}

static bool chance(int percent)
{
	return below(100) < percent;
}

/* A process of the simulator: a worker entry's, the hook's, or an orphan. */
struct proc {
	pid_t pid;
	int worker;        /* entry, -1 for the hook and orphans */
	bool hook;
	bool termed;       /* got a stopping signal: exits soon */
	bool killed;       /* got SIGKILL: exits at once */
	bool aborted;      /* died of the watchdog's dump signal: exits soon */
	bool silent;       /* sends no heartbeat (hung from the start) */
};

static struct {
	uint64_t seed;
	long step;
	struct pool pool;
	int64_t now;
	pid_t next_pid;
	struct proc procs[MAX_PROCS];
	int n_procs;
	bool *spawn_pending;    /* by worker entry */
	int n_pending_cap;
	bool hook_pending;      /* ACT_RUN_HOOK not answered yet */
	bool exited;
	/* the rollout watched */
	bool ro_active;
	int ro_ready0;
	long ro_deaths0;
	/* the health replacement watched */
	bool health;            /* a health option is set */
	bool rep_active;
	int rep_ready0;
	long rep_deaths0;
	long deaths;            /* ready workers that died, or hung ones stopped outside a
				 * replacement: capacity lost that no policy decided */
	/* counts, for the summary */
	long runs, rollouts, rollouts_ok, exits, spawns;
	long replacements, heartbeats, samples, ooms, hung_stops;
} sim;

static void violated(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violated(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("seed %" PRIu64 ", step %ld: invariant: %s (replay: BATON_RANDOM_SEED=%" PRIu64
		 ")", sim.seed, sim.step, msg, sim.seed);
}

static struct proc *proc_of_pid(pid_t pid)
{
	for (int i = 0; i < sim.n_procs; i++)
		if (sim.procs[i].pid == pid)
			return &sim.procs[i];
	return NULL;
}

static struct proc *proc_of_worker(int w)
{
	for (int i = 0; i < sim.n_procs; i++)
		if (sim.procs[i].worker == w)
			return &sim.procs[i];
	return NULL;
}

static struct proc *add_proc(int worker, bool hook)
{
	struct proc *p;

	if (sim.n_procs == MAX_PROCS)
		violated("more than %d processes", MAX_PROCS);
	p = &sim.procs[sim.n_procs++];
	*p = (struct proc){ .pid = sim.next_pid++, .worker = worker, .hook = hook,
			    .silent = worker >= 0 && chance(15) };
	if (sim.next_pid > 4000000)
		sim.next_pid = 300;
	return p;
}

static void remove_proc(struct proc *p)
{
	*p = sim.procs[--sim.n_procs];
}

static void pending_room(void)
{
	int cap = pool_capacity(&sim.pool);

	if (cap <= sim.n_pending_cap)
		return;
	sim.spawn_pending = realloc(sim.spawn_pending, (size_t)cap * sizeof(bool));
	assert_non_null(sim.spawn_pending);
	memset(sim.spawn_pending + sim.n_pending_cap, 0, (size_t)(cap - sim.n_pending_cap));
	sim.n_pending_cap = cap;
}

static int n_pending(void)
{
	int n = 0;

	for (int i = 0; i < sim.n_pending_cap; i++)
		n += sim.spawn_pending[i];
	return n;
}

static int wstatus_of(int code)
{
	return code >= 128 ? (code - 128) : (code << 8);
}

/* ---- the settings of one run ---- */

static void random_settings(struct pool_settings *s)
{
	static const int drains[] = { SIGTERM, SIGTERM, SIGUSR1, SIGQUIT };

	*s = (struct pool_settings){
		.workers = 1 + below(chance(20) ? 12 : 4),
		.restart = chance(80) ? RESTART_ALWAYS : chance(70) ? RESTART_ON_FAILURE
								    : RESTART_NEVER,
		.max_restarts = chance(30) ? CFG_RESTARTS_UNLIMITED : 5 + below(60),
		.restart_window_ms = 1000 + below(60000),
		.drain_signal = drains[below(4)],
		.drain_by_ipc = chance(20),
		.drain_timeout_ms = 100 + below(5000),
		.term_timeout_ms = 100 + below(3000),
		.stop_delay_ms = chance(30) ? below(3000) : 0,
		.stop_timeout_ms = chance(40) ? 1000 + below(10000) : 0,
		.ready_by_delay = chance(50),
		.ready_delay_ms = below(500),
		.ready_timeout_ms = 200 + below(5000),
		.reload_signal = SIGHUP,
		.pre_rollout = chance(30),
		.hook_timeout_ms = 100 + below(3000),
	};
	if (chance(10))
		s->max_entries = s->workers * 2 + below(3);
	if (chance(10))
		s->signal_map[SIGUSR1] = chance(50) ? CFG_SIG_DROP : SIGUSR2;
	/* worker health, each off or on */
	s->seed = next_u64();
	if (chance(30)) {
		s->watchdog_ms = 200 + below(3000);
		s->watchdog_signal = chance(70) ? SIGABRT : SIGQUIT;
	}
	if (chance(25))
		s->max_age_ms = 1000 + below(20000);
	if (chance(30)) {
		s->max_memory_kind = MAX_MEMORY_BYTES;
		s->max_memory = 64 * MIB;
	}
}

static void new_run(void)
{
	struct pool_settings s;

	pool_free(&sim.pool);
	random_settings(&s);
	TRACE("%ld: new pool: %d workers, restart %d, max %d, drain %d%s, ready %s, hook %d, "
	      "stop delay %lld, max entries %d, watchdog %lld, max age %lld, max memory %llu\n",
	      sim.step, s.workers, s.restart, s.max_restarts, s.drain_signal,
	      s.drain_by_ipc ? " by ipc" : "", s.ready_by_delay ? "delay" : "msg", s.pre_rollout,
	      (long long)s.stop_delay_ms, s.max_entries, (long long)s.watchdog_ms,
	      (long long)s.max_age_ms, (unsigned long long)s.max_memory);
	sim.health = s.watchdog_ms > 0 || s.max_age_ms > 0 || s.max_memory_kind != MAX_MEMORY_OFF;
	assert_int_equal(pool_init(&sim.pool, &s), 0);
	free(sim.spawn_pending);
	sim.spawn_pending = NULL;
	sim.n_pending_cap = 0;
	sim.n_procs = 0;
	sim.hook_pending = false;
	sim.exited = false;
	sim.ro_active = false;
	sim.rep_active = false;
	sim.runs++;
	pending_room();
	pool_start(&sim.pool, sim.now);
}

/* ---- the loop's side: carry out the actions ---- */

static int ready_workers(void)
{
	int n = 0;

	for (int i = 0; i < pool_capacity(&sim.pool); i++)
		n += sim.pool.workers[i].state == WS_READY;
	return n;
}

/* A signal reaches a process: how it will react. */
static void deliver(struct proc *p, int sig)
{
	if (sig == SIGKILL)
		p->killed = true;
	else if (sig == SIGABRT)
		p->aborted = p->aborted || chance(60); /* else it dumps and goes on hanging */
	else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
		p->termed = p->termed || chance(90);
	else if (sig == SIGUSR1 && !p->hook && chance(5))
		p->termed = true; /* a program without a handler dies of it */
}

static void take_actions(void)
{
	struct pool_action a;
	bool replacement_failed = false; /* said so in this batch */

	pending_room();
	while (pool_next_action(&sim.pool, &a)) {
		struct proc *p;
		const struct worker *w = a.worker >= 0 && a.worker < pool_capacity(&sim.pool)
						 ? &sim.pool.workers[a.worker] : NULL;

		TRACE("    action %d worker %d pid %d sig %d status %d %s\n", a.kind, a.worker,
		      (int)a.pid, a.sig, a.status, a.msg);
		if (sim.exited && a.kind != ACT_LOG)
			violated("action %d after ACT_EXIT", a.kind);
		switch (a.kind) {
		case ACT_SPAWN:
			if (!w)
				violated("spawn of entry %d out of 0..%d", a.worker,
					 pool_capacity(&sim.pool) - 1);
			if (w->state != WS_SPAWNING)
				violated("spawn of entry %d in state %d", a.worker, w->state);
			if (sim.spawn_pending[a.worker] || proc_of_worker(a.worker))
				violated("spawn of entry %d still in use", a.worker);
			sim.spawn_pending[a.worker] = true;
			sim.spawns++;
			break;
		case ACT_DRAIN:
		case ACT_SIGNAL:
			if (w && w->hung && a.kind == ACT_SIGNAL && sim.pool.set.watchdog_ms > 0 &&
			    a.sig == sim.pool.set.watchdog_signal &&
			    !(sim.pool.rep.active && sim.pool.rep.old == a.worker)) {
				/* A hung worker is stopped before a new one is ready only when
				 * its replacement failed: its capacity is then gone. */
				if (!replacement_failed)
					violated("hung entry %d stopped before its replacement was "
						 "ready", a.worker);
				sim.deaths++;
			}
			if (w && w->hung && a.kind == ACT_SIGNAL && a.sig == sim.pool.set.watchdog_signal)
				sim.hung_stops++;
			if (w && !sim.health && (w->hung || w->recycle != CAUSE_NONE))
				violated("a health action on entry %d with no health option set",
					 a.worker);
			/* One slot at a time: a condemned worker is drained only as the
			 * replacement's old one. Not so when it failed by itself, its slot was
			 * scaled away, or a rollout replaced it. (A hung one is also stopped
			 * when its replacement failed, and the next replacement may then begin
			 * at once: counted above as capacity lost.) */
			if (w && a.kind == ACT_DRAIN && w->recycle != CAUSE_NONE &&
			    w->why == WHY_RETIRE && w->state == WS_STOPPING &&
			    sim.pool.phase == PH_RUNNING && sim.pool.slots[w->slot].active &&
			    !sim.pool.ro.active && !sim.ro_active &&
			    !(sim.pool.rep.active && sim.pool.rep.old == a.worker))
				violated("entry %d (slot %d) condemned for cause %d stopped outside "
					 "the replacement (%s, slot %d, old %d)", a.worker, w->slot,
					 w->recycle, sim.pool.rep.active ? "active" : "none",
					 sim.pool.rep.slot, sim.pool.rep.old);
			if (a.worker >= 0) {
				if (!w || w->state == WS_FREE)
					violated("signal %d to freed entry %d", a.sig, a.worker);
				p = proc_of_worker(a.worker);
				if (!p || p->pid != a.pid || w->pid != a.pid)
					violated("signal %d to entry %d names pid %d, not its process",
						 a.sig, a.worker, (int)a.pid);
			} else {
				p = proc_of_pid(a.pid);
				if (!p || !p->hook)
					violated("signal %d to pid %d: no such hook", a.sig, (int)a.pid);
			}
			if (a.kind == ACT_DRAIN && sim.pool.set.drain_by_ipc) {
				if (chance(50))
					p->termed = true; /* the message: it closes and exits */
			} else {
				deliver(p, a.sig);
			}
			break;
		case ACT_SIGNAL_ORPHANS: {
			int killed = 0;

			for (int i = 0; i < sim.n_procs; i++) {
				if (sim.procs[i].worker >= 0)
					continue;
				deliver(&sim.procs[i], a.sig);
				killed += a.sig == SIGKILL;
			}
			if (a.sig == SIGKILL)
				pool_orphans_killed(&sim.pool, killed);
			break;
		}
		case ACT_RUN_HOOK:
			if (sim.hook_pending)
				violated("a second ACT_RUN_HOOK before the first was answered");
			for (int i = 0; i < sim.n_procs; i++)
				if (sim.procs[i].hook && sim.procs[i].pid == sim.pool.hook.pid)
					violated("ACT_RUN_HOOK while the command runs");
			sim.hook_pending = true;
			break;
		case ACT_WORKERS_STOPPED:
			for (int i = 0; i < pool_capacity(&sim.pool); i++)
				if (sim.pool.workers[i].state != WS_FREE)
					violated("workers stopped, but entry %d is live", i);
			break;
		case ACT_EXIT:
			if (sim.n_procs > 0 || n_pending() > 0 || sim.hook_pending)
				violated("exit with %d processes, %d spawns and %d hook unanswered",
					 sim.n_procs, n_pending(), sim.hook_pending);
			sim.exited = true;
			sim.exits++;
			break;
		case ACT_ROLLOUT_DONE:
			sim.rollouts_ok += a.status == 0;
			break;
		case ACT_LOG:
			if (strstr(a.msg, "stopping the hung one") ||
			    strstr(a.msg, "no free process entry"))
				replacement_failed = true;
			if (!sim.health && (strstr(a.msg, "replacing it") || strstr(a.msg, "hung") ||
					    strstr(a.msg, "max-memory") || strstr(a.msg, "max-age")))
				violated("a health line with no health option set: %s", a.msg);
			break;
		}
	}
}

/* ---- the invariants ---- */

/* Non-stopping candidates of slot k (0: of every slot). */
static int candidates(int k)
{
	const struct pool *pool = &sim.pool;
	int n = 0;

	for (int i = 0; i < pool_capacity(pool); i++) {
		const struct worker *w = &pool->workers[i];

		if (w->state == WS_FREE || w->state == WS_STOPPING || !w->candidate ||
		    (w->state == WS_SPAWNING && w->why != WHY_NONE))
			continue;
		n += k == 0 || w->slot == k;
	}
	return n;
}

static void check_health(int ready)
{
	const struct pool *pool = &sim.pool;

	if (!sim.health) {
		if (pool->rep.active)
			violated("a replacement with no health option set");
		for (int i = 0; i < pool_capacity(pool); i++)
			if (pool->workers[i].recycle != CAUSE_NONE || pool->workers[i].hung)
				violated("entry %d condemned with no health option set", i);
	}
	if (!pool->rep.active || pool->phase != PH_RUNNING) {
		sim.rep_active = false;
		return;
	}
	if (pool->ro.active || pool->hook.running)
		violated("a replacement of slot %d during a rollout", pool->rep.slot);
	if (pool->rep.slot < 1 || pool->rep.slot >= pool->n_slots)
		violated("a replacement of slot %d", pool->rep.slot);
	if (pool->rep.old < 0) {
		/* its new worker is starting: the only candidate of the pool */
		int c = pool->slots[pool->rep.slot].cand;

		if (c < 0)
			violated("replacement of slot %d without its new worker", pool->rep.slot);
		if (candidates(0) != 1 || candidates(pool->rep.slot) != 1)
			violated("replacement of slot %d: %d candidates, %d of its slot",
				 pool->rep.slot, candidates(0), candidates(pool->rep.slot));
	} else {
		const struct worker *old = &pool->workers[pool->rep.old];

		/* stopping; or, when the condemned worker died meanwhile and its slot
		 * restarted, that restart, retired as soon as it has a pid */
		if ((old->state != WS_STOPPING &&
		     !(old->state == WS_SPAWNING && old->why == WHY_RETIRE)) ||
		    old->slot != pool->rep.slot ||
		    pool->slots[pool->rep.slot].cur == pool->rep.old)
			violated("replacement of slot %d: the old entry %d is in state %d, slot %d",
				 pool->rep.slot, pool->rep.old, old->state, old->slot);
		if (candidates(0) != 0)
			violated("replacement of slot %d ready, but %d candidates", pool->rep.slot,
				 candidates(0));
	}
	if (!sim.rep_active) {
		sim.rep_active = true;
		sim.rep_ready0 = ready;
		sim.rep_deaths0 = sim.deaths;
		sim.replacements++;
	} else if (ready < sim.rep_ready0 - (sim.deaths - sim.rep_deaths0)) {
		violated("replacement of slot %d: %d ready workers, %d at its start, %ld lost "
			 "meanwhile", pool->rep.slot, ready, sim.rep_ready0,
			 sim.deaths - sim.rep_deaths0);
	}
}

static void check(void)
{
	const struct pool *pool = &sim.pool;
	int cap = pool_capacity(pool), ready;

	for (int k = 1; k < pool->n_slots; k++) {
		const struct slot *s = &pool->slots[k];
		int cur = 0, cand = 0;

		for (int i = 0; i < cap; i++) {
			const struct worker *w = &pool->workers[i];

			/* stopping, or to be stopped as soon as it has a pid */
			if (w->state == WS_FREE || w->state == WS_STOPPING || w->slot != k ||
			    (w->state == WS_SPAWNING && w->why != WHY_NONE))
				continue;
			if (w->candidate)
				cand++;
			else
				cur++;
		}
		if (cur > 1 || cand > 1)
			violated("slot %d has %d current and %d candidate workers", k, cur, cand);
		if (cur == 1 && !s->active && pool->phase == PH_RUNNING)
			violated("slot %d is scaled away but a worker still serves it", k);
		/* (with --max-entries, a slot that found no free entry stays empty) */
		if (s->active && pool->phase == PH_RUNNING && s->cur < 0 && s->cand < 0 &&
		    s->restart_at_ms < 0 && !s->done && pool->set.max_entries == 0)
			violated("slot %d has no worker, and no restart is pending", k);
		if (s->cur >= 0 && (s->cur >= cap || pool->workers[s->cur].state == WS_FREE ||
				    pool->workers[s->cur].slot != k || pool->workers[s->cur].candidate))
			violated("slot %d: cur %d is not a live worker of the slot", k, s->cur);
		if (s->cand >= 0 && (s->cand >= cap || pool->workers[s->cand].state == WS_FREE ||
				     pool->workers[s->cand].slot != k || !pool->workers[s->cand].candidate))
			violated("slot %d: cand %d is not a live candidate of the slot", k, s->cand);
	}
	for (int i = 0; i < cap; i++) {
		const struct worker *w = &pool->workers[i];
		struct proc *p = proc_of_worker(i);

		if (w->state != WS_FREE && (w->slot < 1 || w->slot >= pool->n_slots))
			violated("entry %d has slot %d", i, w->slot);
		if (sim.spawn_pending[i] && w->state != WS_SPAWNING)
			violated("entry %d awaits its spawn but is in state %d", i, w->state);
		if (w->state == WS_SPAWNING && !sim.spawn_pending[i])
			violated("entry %d spawning, but no spawn was asked for", i);
		if ((w->state == WS_STARTING || w->state == WS_READY || w->state == WS_STOPPING) &&
		    (!p || p->pid != w->pid))
			violated("entry %d (pid %d) has no process", i, (int)w->pid);
		if (p && (w->state == WS_FREE || w->state == WS_SPAWNING))
			violated("process %d of entry %d, but the entry is %d", (int)p->pid, i,
				 w->state);
		if (p && pool_find(pool, p->pid) != i)
			violated("pool_find(%d) = %d, not %d", (int)p->pid, pool_find(pool, p->pid), i);
	}
	for (int i = 0; i < sim.n_procs; i++)
		if (sim.procs[i].worker < 0 && pool_find(pool, sim.procs[i].pid) >= 0)
			violated("pool_find finds pid %d, not a worker", (int)sim.procs[i].pid);

	/* The rollout: surge one, so the ready workers never drop below where they were. */
	ready = ready_workers();
	if (pool->ro.active && pool->phase == PH_RUNNING) {
		if (!sim.ro_active) {
			sim.ro_active = true;
			sim.ro_ready0 = ready;
			sim.ro_deaths0 = sim.deaths;
			sim.rollouts++;
		} else if (ready < sim.ro_ready0 - (sim.deaths - sim.ro_deaths0)) {
			violated("rollout: %d ready workers, %d at its start, %ld died meanwhile", ready,
				 sim.ro_ready0, sim.deaths - sim.ro_deaths0);
		}
	} else {
		sim.ro_active = false;
	}
	check_health(ready);
}

/* ---- the events ---- */

static struct proc *random_proc(bool workers_only)
{
	int n = 0, pick;

	for (int i = 0; i < sim.n_procs; i++)
		n += !workers_only || sim.procs[i].worker >= 0;
	if (n == 0)
		return NULL;
	pick = below(n);
	for (int i = 0; i < sim.n_procs; i++)
		if ((!workers_only || sim.procs[i].worker >= 0) && pick-- == 0)
			return &sim.procs[i];
	return NULL;
}

/* A worker's process ends: a death that counts against the rollout if it was serving. */
static void reap(struct proc *p, int code)
{
	pid_t pid = p->pid;
	int w = p->worker;

	if (w >= 0 && sim.pool.workers[w].state == WS_READY)
		sim.deaths++;
	TRACE("%ld: exit pid %d (entry %d) code %d\n", sim.step, (int)pid, w, code);
	remove_proc(p);
	pool_exited(&sim.pool, pid, wstatus_of(code), sim.now);
}

static void answer_spawn(void)
{
	int n = n_pending(), pick = below(n);

	for (int i = 0; i < sim.n_pending_cap; i++) {
		if (!sim.spawn_pending[i] || pick-- != 0)
			continue;
		sim.spawn_pending[i] = false;
		if (chance(8)) {
			static const int errs[] = { -ENOMEM, -EAGAIN, -EMFILE, -ENOENT, -EACCES };
			int e = errs[below(chance(90) ? 3 : 5)];

			TRACE("%ld: spawn of entry %d fails %d\n", sim.step, i, e);
			pool_spawned(&sim.pool, i, 0, e, sim.now);
		} else {
			pid_t pid = add_proc(i, false)->pid;

			TRACE("%ld: entry %d spawned as pid %d\n", sim.step, i, (int)pid);
			pool_spawned(&sim.pool, i, pid, 0, sim.now);
		}
		return;
	}
}

static void answer_hook(void)
{
	sim.hook_pending = false;
	if (chance(10))
		pool_hook_started(&sim.pool, 0, -ENOENT, sim.now);
	else
		pool_hook_started(&sim.pool, add_proc(-1, true)->pid, 0, sim.now);
	TRACE("%ld: hook answered\n", sim.step);
}

static int random_code(const struct proc *p)
{
	if (p->aborted && !p->killed)
		return 128 + SIGABRT;
	static const int codes[] = { 0, 1, 2, 3, 128 + SIGKILL, 128 + SIGSEGV, 128 + SIGTERM,
				     128 + SIGINT, 128 + SIGUSR1, 128 + SIGQUIT };

	if (p->killed)
		return 128 + SIGKILL;
	if (p->termed)
		return chance(50) ? 128 + SIGTERM : chance(50) ? 0 : codes[below(10)];
	if (p->hook)
		return chance(80) ? 0 : codes[1 + below(9)];
	return codes[below(10)];
}

static void one_event(void)
{
	struct proc *p;
	char err[128];
	int r = below(100);

	/* SIGKILLed processes die first; those asked to stop soon after. */
	for (int i = 0; i < sim.n_procs; i++) {
		if (sim.procs[i].killed || (sim.procs[i].termed && chance(30))) {
			reap(&sim.procs[i], random_code(&sim.procs[i]));
			return;
		}
	}
	/* Health: heartbeats (but from silent workers), memory samples around the limit, and
	 * now and then the OOM killer. Sent whatever the settings: with none, they change
	 * nothing. */
	if (chance(12) && (p = random_proc(true))) {
		int h = below(100);

		if (h < 65) {
			if (!p->silent && !p->aborted) {
				TRACE("%ld: heartbeat pid %d\n", sim.step, (int)p->pid);
				sim.heartbeats++;
				pool_heartbeat(&sim.pool, p->pid, sim.now);
			}
		} else if (h < 97) {
			uint64_t rss = 64 * MIB / 100 * (uint64_t)(40 + below(chance(90) ? 80 : 200));

			TRACE("%ld: memory pid %d %llu\n", sim.step, (int)p->pid,
			      (unsigned long long)rss);
			sim.samples++;
			pool_memory(&sim.pool, p->pid, rss, sim.now);
		} else {
			TRACE("%ld: OOM kill pid %d\n", sim.step, (int)p->pid);
			sim.ooms++;
			pool_oom_killed(&sim.pool, p->pid, "memory limit 64 MiB");
			p->killed = true;
			reap(p, 128 + SIGKILL);
		}
		return;
	}
	/* The loop starts the command as soon as it is asked to: a stop that comes first
	 * finds it started. */
	if (sim.hook_pending && (sim.pool.phase != PH_RUNNING || chance(50))) {
		answer_hook();
	} else if (n_pending() > 0 && r < 25) {
		answer_spawn();
	} else if (sim.hook_pending && r < 45) {
		answer_hook();
	} else if (r < 55) {
		if ((p = random_proc(true))) {
			TRACE("%ld: ready pid %d\n", sim.step, (int)p->pid);
			pool_ready(&sim.pool, p->pid, sim.now);
		}
	} else if (r < 62) {
		if ((p = random_proc(false)))
			reap(p, random_code(p));
	} else if (r < 64) {
		if ((p = random_proc(true))) {
			if (sim.pool.workers[p->worker].state == WS_READY)
				sim.deaths++;
			TRACE("%ld: failed pid %d\n", sim.step, (int)p->pid);
			pool_failed(&sim.pool, p->pid, "broke the readiness protocol", sim.now);
		}
	} else if (r < 80) {
		int64_t next = pool_next_deadline(&sim.pool);

		if (next >= 0 && chance(50))
			sim.now = next > sim.now ? next : sim.now;
		else
			sim.now += below(chance(80) ? 50 : 5000);
		TRACE("%ld: tick %" PRId64 "\n", sim.step, sim.now);
		pool_tick(&sim.pool, sim.now);
	} else if (r < 83) {
		TRACE("%ld: reload\n", sim.step);
		pool_reload(&sim.pool, sim.now, err, sizeof(err));
	} else if (r < 85) {
		int n = 1 + below(chance(90) ? 8 : 40);

		TRACE("%ld: scale %d\n", sim.step, n);
		pool_scale(&sim.pool, n, sim.now, err, sizeof(err));
	} else if (r < 90) {
		static const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT };
		int sig = sigs[below(chance(95) ? 4 : 6)]; /* a stop now and then: runs last */

		TRACE("%ld: signal %d\n", sim.step, sig);
		pool_signal(&sim.pool, sig, sim.now);
	} else if (r < 95) {
		/* an orphan: reparented to baton, reaped some time later */
		if (chance(50) || !(p = random_proc(false)) || p->worker >= 0)
			add_proc(-1, false);
		else
			reap(p, random_code(p));
	} else if (r < 96 && sim.pool.phase == PH_RUNNING && chance(20)) {
		TRACE("%ld: stop\n", sim.step);
		pool_stop(&sim.pool, sim.now);
	}
}

static void test_random_events(void **state)
{
	const char *seed_env = getenv("BATON_RANDOM_SEED");
	const char *events_env = getenv("BATON_RANDOM_EVENTS");
	long events = events_env ? atol(events_env) : DEFAULT_EVENTS;

	(void)state;
	trace = getenv("BATON_RANDOM_TRACE") != NULL;
	sim.seed = seed_env ? strtoull(seed_env, NULL, 0)
			    : ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid()) * 0x9e3779b97f4a7c15ull;
	rng = sim.seed;
	printf("pool random: seed %" PRIu64 ", %ld events (BATON_RANDOM_SEED=%" PRIu64
	       " to replay)\n", sim.seed, events, sim.seed);
	fflush(stdout);
	sim.now = 1000000;
	sim.next_pid = 300;
	new_run();
	take_actions();
	check();
	for (sim.step = 1; sim.step <= events; sim.step++) {
		if (sim.exited) {
			new_run();
		} else {
			one_event();
			/* the loop reports that no child is left once the stop signals them */
			if ((sim.pool.phase == PH_ORPHANS_TERM || sim.pool.phase == PH_ORPHANS_KILL) &&
			    sim.n_procs == 0 && n_pending() == 0 && !sim.hook_pending) {
				take_actions();
				pool_children_gone(&sim.pool, sim.now);
			}
		}
		take_actions();
		check();
	}
	printf("pool random: %ld runs, %ld exits, %ld rollouts (%ld ended well), %ld spawns\n",
	       sim.runs, sim.exits, sim.rollouts, sim.rollouts_ok, sim.spawns);
	printf("pool random: %ld replacements, %ld hung stops, %ld heartbeats, %ld memory "
	       "samples, %ld OOM kills\n", sim.replacements, sim.hung_stops, sim.heartbeats,
	       sim.samples, sim.ooms);
	pool_free(&sim.pool);
	free(sim.spawn_pending);
	sim.spawn_pending = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_events),
	};

	return cmocka_run_group_tests_name("pool random", tests, NULL, NULL);
}
