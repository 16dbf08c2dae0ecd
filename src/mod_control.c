/*
 * mod_control: the control socket (`baton ctl ...`) in the runner. Requests become pool
 * events; the rollout's and the stop's ends, which the pool reports as actions, answer the
 * clients that wait for them (`reload --wait`, `drain --wait`).
 */
#include <stdio.h>
#include <stdlib.h>

#include "baton/control.h"
#include "baton/log.h"
#include "baton/memstat.h"
#include "run_int.h"

/* At exit, how long the clients that have their answer get to hang up. */
#define CONTROL_LINGER_MS 1000

static struct {
	struct runner *runner;
	struct ctl_server *server;
	struct memstat_group *groups; /* scratch for a status's memory column */
	int groups_cap;
	struct ctl_metrics metrics;   /* a status's counters */
	struct ctl_slot_restarts *restarts; /* ... by slot */
	int restarts_cap;
} st;

static bool wanted(const struct config *cfg)
{
	return cfg->control != NULL;
}

static int view_size(void *ctx)
{
	struct runner *r = ctx;
	int n = 0;

	for (int i = 0; i < pool_capacity(&r->pool); i++)
		n += r->pool.workers[i].state != WS_FREE;
	return n;
}

/* The memory column of a status: one walk of /proc for every worker's process group. */
static void measure_memory(struct ctl_view *v)
{
	if (v->n == 0 || run_table_reserve(&st.groups, sizeof(*st.groups), &st.groups_cap,
					   v->n - 1, v->n) < 0)
		return;
	for (int i = 0; i < v->n; i++)
		st.groups[i] = (struct memstat_group){ .pgrp = v->w[i].pid };
	if (memstat_groups(st.groups, (size_t)v->n) < 0)
		return;
	/* memstat_groups sorted the groups by pid: each is found again by its pid. */
	for (int i = 0; i < v->n; i++)
		if (v->w[i].pid > 0)
			v->w[i].rss_bytes = memstat_rss_of(st.groups, (size_t)v->n, v->w[i].pid);
}

/* The pool's counters (struct pool_stats, and each slot's restarts by cause). */
static void pool_metrics_fill(struct runner *r, struct ctl_metrics *m)
{
	const struct pool *p = &r->pool;
	const struct pool_stats *ps = &p->stats;
	int n = p->n_slots - 1;

	if (n > 0 && run_table_reserve(&st.restarts, sizeof(*st.restarts), &st.restarts_cap, n - 1,
				       n) == 0) {
		m->restarts = st.restarts;
		for (int k = 1; k < p->n_slots; k++) {
			struct ctl_slot_restarts *sr = &st.restarts[m->n_restarts++];

			*sr = (struct ctl_slot_restarts){ .slot = k };
			for (int c = CAUSE_EXIT; c <= CAUSE_AGE && c < POOL_CAUSES; c++)
				sr->by[sr->n++] = (struct ctl_count){ pool_cause_name(c),
								      p->slots[k].restarts_by[c] };
		}
	}
	m->crash_loops = ps->crash_loops;
	for (int i = 0; i < ROLLOUT_OUTCOMES && i < CTL_MAX_COUNTS; i++)
		m->rollouts[m->n_rollouts++] = (struct ctl_count){ pool_rollout_outcome_name(i),
								   ps->rollouts[i] };
	m->last_rollout_ms = ps->last_rollout_ms;
	for (int i = 0; i < DRAIN_ENDS && i < CTL_MAX_COUNTS; i++)
		m->drains[m->n_drains++] = (struct ctl_count){ pool_drain_end_name(i), ps->drains[i] };
	m->drain_bucket_ms = pool_drain_bucket_ms;
	m->drain_le = ps->drain_le;
	m->n_drain_buckets = POOL_DRAIN_BUCKETS;
	m->drain_count = ps->drain_count;
	m->drain_sum_ms = ps->drain_sum_ms;
}

/* The numbers of the metrics endpoint (docs/metrics.md), read now. */
static void fill_metrics(struct runner *r, struct ctl_view *v)
{
	struct ctl_metrics *m = &st.metrics;
	struct memstat_self self;

	*m = (struct ctl_metrics){ .restarts = st.restarts, .last_rollout_ms = -1, .open_fds = -1 };
	pool_metrics_fill(r, m);
	for (int i = 0; i < r->n_listen && m->n_queues < CFG_MAX_LISTEN; i++) {
		struct ctl_listen_queue *q = &m->queues[m->n_queues];

		if (r->listen_specs[i].kind != SOCK_KIND_TCP ||
		    sock_accept_queue(r->listen_fds[i], &q->length, &q->limit) < 0)
			continue;
		sock_describe(&r->listen_specs[i], q->socket, sizeof(q->socket));
		snprintf(q->name, sizeof(q->name), "%s", r->listen_specs[i].name);
		m->n_queues++;
	}
	if (memstat_self(&self) == 0) {
		m->rss_bytes = self.rss_bytes;
		m->open_fds = self.fds;
	}
	v->metrics = m;
}

static void fill_view(void *ctx, struct ctl_view *v)
{
	struct runner *r = ctx;
	const struct pool *p = &r->pool;
	int64_t now = loop_now_ms();

	v->pool_state = pool_phase_name(p);
	v->stopping = p->phase != PH_RUNNING;
	v->rollout_done = p->ro.active ? p->ro.done : 0;
	v->rollout_total = p->ro.active ? p->ro.total : 0;
	v->workers_wanted = p->wanted;
	/* Liveness: how long the slot worst off has gone without a ready worker. A slot keeps
	 * restarting a crashing worker with backoff, and the crash-loop guard ends baton when
	 * that is hopeless; twice --ready-timeout without one means something hangs. */
	v->live_bound_ms = 2 * r->cfg->ready_timeout_ms;
	for (int k = 1; k < p->n_slots; k++) {
		const struct slot *s = &p->slots[k];

		if (s->active && s->unready_since_ms >= 0 && now - s->unready_since_ms > v->unready_ms) {
			v->unready_ms = now - s->unready_since_ms;
			v->unready_slot = k;
		}
	}
	v->n = 0;
	for (int i = 0; i < pool_capacity(p) && v->n < v->cap; i++) {
		const struct worker *w = &p->workers[i];
		const struct slot *s;
		int j;

		if (w->state == WS_FREE)
			continue;
		s = &p->slots[w->slot];
		/* Sorted by slot, then generation: the table order means nothing to a reader. */
		for (j = v->n; j > 0 && (v->w[j - 1].slot > w->slot ||
					 (v->w[j - 1].slot == w->slot &&
					  v->w[j - 1].generation > w->generation));
		     j--)
			v->w[j] = v->w[j - 1];
		v->w[j] = (struct ctl_worker_view){
			.slot = w->slot,
			.pid = (int)w->pid,
			.state = pool_worker_state_name(w),
			.uptime_ms = w->pid > 0 ? now - w->started_ms : 0,
			.restarts = s->restarts,
			.last_status = s->last_status,
			.generation = w->generation,
			.rss_bytes = w->rss_bytes,
			.has_heartbeat = p->set.watchdog_ms > 0 && w->beat_ms >= 0,
			.heartbeat_age_ms = now - w->beat_ms,
			.last_cause = pool_cause_name(s->last_cause),
		};
		v->n++;
	}
	if (v->detailed) {
		measure_memory(v);
		fill_metrics(r, v);
	}
}

/* The requests feed the pool and return: the loop's post step carries out what follows. */
static int do_reload(void *ctx, char *err, size_t errlen)
{
	struct runner *r = ctx;
	int rc = pool_reload(&r->pool, loop_now_ms(), err, errlen);

	if (rc == 0)
		log_info("reload requested on the control socket");
	return rc;
}

static int do_scale(void *ctx, int n, char *err, size_t errlen)
{
	struct runner *r = ctx;
	int rc = pool_scale(&r->pool, n, loop_now_ms(), err, errlen);

	if (rc == 0)
		log_info("scale to %d worker%s requested on the control socket", n, n == 1 ? "" : "s");
	return rc;
}

static int do_drain(void *ctx)
{
	struct runner *r = ctx;

	log_info("drain requested on the control socket");
	pool_stop(&r->pool, loop_now_ms());
	return 0;
}

static void do_note(void *ctx, enum log_level level, const char *msg)
{
	(void)ctx;
	log_msg(level, "%s", msg);
}

static int setup(struct runner *r, char **envp)
{
	const struct ctl_ops ops = {
		.ctx = r,
		.view_size = view_size,
		.view = fill_view,
		.reload = do_reload,
		.scale = do_scale,
		.drain = do_drain,
		.note = do_note,
	};
	char err[512];
	bool fallback;
	int e;

	(void)envp;
	st.runner = r;
	e = ctl_open(&st.server, &r->loop, r->cfg->control, r->cfg->control_explicit, &ops,
		     &fallback, err, sizeof(err));
	if (e < 0 && r->cfg->control_explicit) { /* a socket that cannot be bound, like --listen */
		log_error("%s", err);
		return 2;
	}
	if (e < 0)
		log_warn("%s; going on without a control socket", err);
	else if (fallback)
		log_warn("%s", err);
	else
		log_debug("control socket on %s", ctl_path(st.server));
	return 0;
}

static void on_action(struct runner *r, const struct pool_action *a)
{
	(void)r;
	if (a->kind == ACT_ROLLOUT_DONE)
		ctl_reload_finished(st.server, a->status == 0, a->msg);
	else if (a->kind == ACT_WORKERS_STOPPED)
		ctl_workers_stopped(st.server);
}

static void on_linger_end(struct loop_timer *t)
{
	(void)t; /* only wakes the loop */
}

/* Every process of the container dies with PID 1: let the control clients that have their
 * answer (a preStop `drain --wait`) hang up first, for a second at most and never past
 * --stop-timeout. */
static void close_module(struct runner *r)
{
	struct loop_timer linger;
	int64_t end = loop_now_ms() + CONTROL_LINGER_MS;

	if (!st.server)
		return;
	if (r->pool.stop_end_ms >= 0 && r->pool.stop_end_ms < end)
		end = r->pool.stop_end_ms;
	loop_timer_init(&linger, on_linger_end, NULL);
	loop_timer_set(&r->loop, &linger, end);
	while (ctl_client_count(st.server) > 0 && loop_now_ms() < end)
		loop_run_once(&r->loop);
	loop_timer_set(&r->loop, &linger, -1);
	ctl_close(st.server);
	st.server = NULL;
	free(st.groups);
	st.groups = NULL;
	st.groups_cap = 0;
	free(st.restarts);
	st.restarts = NULL;
	st.restarts_cap = 0;
}

const struct run_module mod_control = {
	.name = "control",
	.wanted = wanted,
	.setup = setup,
	.on_action = on_action,
	.shutdown = close_module,
};
