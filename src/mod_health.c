/*
 * mod_health: what the pool needs to judge a worker's health that only the system can tell.
 *
 * - --max-memory: every --check-interval (and only while it is set), one walk of /proc
 *   measures every worker's process group, and each sample goes to the pool, which decides on
 *   a recycling. Percentages are of the container's memory limit, read once at start.
 * - --watchdog: the workers learn the deadline systemd's way (WATCHDOG_USEC, WATCHDOG_PID);
 *   the heartbeats themselves arrive through the readiness modules.
 * - OOM kills: a worker killed by a SIGKILL that baton did not send is checked against the
 *   cgroup's OOM-kill counter, so the log can say what happened instead of "killed by SIGKILL".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "baton/cgroup.h"
#include "baton/health.h"
#include "baton/log.h"
#include "baton/memstat.h"
#include "run_int.h"

static struct {
	struct runner *runner;
	struct cgroup_memory *cgroup; /* NULL: none found */
	uint64_t oom_kills;           /* the counter as last read */
	struct loop_timer check;      /* the next memory sample */
	struct memstat_group *groups;
	int groups_cap;
	char watchdog_usec[48], watchdog_pid[32];
} st;

/* Read the OOM-kill counter; false when there is none to read. */
static bool read_oom_kills(uint64_t *count)
{
	return st.cgroup && cgroup_oom_kills(st.cgroup, count) == 0;
}

static void sample_memory(struct loop_timer *t)
{
	struct runner *r = t->ctx;
	const struct pool *p = &r->pool;
	int n = 0;
	int64_t now;

	if (run_table_reserve(&st.groups, sizeof(*st.groups), &st.groups_cap,
			      pool_capacity(p) - 1, pool_capacity(p)) == 0) {
		for (int i = 0; i < pool_capacity(p); i++)
			if (p->workers[i].state != WS_FREE && p->workers[i].pid > 0)
				st.groups[n++] = (struct memstat_group){ .pgrp = p->workers[i].pid };
		if (n > 0 && memstat_groups(st.groups, (size_t)n) == 0) {
			now = loop_now_ms();
			for (int i = 0; i < n; i++)
				if (st.groups[i].nprocs > 0)
					pool_memory(&r->pool, st.groups[i].pgrp, st.groups[i].rss_bytes,
						    now);
		}
	}
	loop_timer_set(&r->loop, &st.check, loop_now_ms() + r->cfg->check_interval_ms);
}

static int setup(struct runner *r, char **envp)
{
	const struct config *cfg = r->cfg;
	uint64_t limit = 0, share;
	int limit_rc = -ENOENT, rc;
	char a[16], b[16];

	(void)envp;
	st.runner = r;
	loop_timer_init(&st.check, sample_memory, r);
	st.cgroup = calloc(1, sizeof(*st.cgroup));
	if (st.cgroup && cgroup_memory_find("", st.cgroup) < 0) {
		free(st.cgroup);
		st.cgroup = NULL;
	}
	if (st.cgroup)
		limit_rc = cgroup_memory_limit(st.cgroup, &limit);
	if (limit_rc == 0)
		r->memory_limit = limit;
	if (!read_oom_kills(&st.oom_kills))
		st.oom_kills = 0;

	if (cfg->watchdog_ms > 0 && cfg->ready == READY_DELAY && !cfg->node_cluster) {
		log_error("--watchdog: with --ready delay a worker has no channel to send its "
			  "heartbeats on; use --ready notify, --ready fd or --node-cluster");
		return 2;
	}
	rc = health_memory_limit(cfg->max_memory_kind, cfg->max_memory, limit_rc, limit,
				 cfg->workers, &share);
	if (rc == -ENOENT) {
		log_error("--max-memory %llu%%: no container memory limit found (cgroup %s)",
			  (unsigned long long)cfg->max_memory,
			  st.cgroup ? "memory.max / memory.limit_in_bytes is unlimited"
				    : "memory controller not found");
		return 2;
	}
	if (rc == -EINVAL) {
		log_error("--max-memory %llu%%: %s of the container's %s for %d workers is below %s",
			  (unsigned long long)cfg->max_memory,
			  "the share", health_format_size(limit, a, sizeof(a)), cfg->workers,
			  health_format_size(CFG_MAX_MEMORY_MIN, b, sizeof(b)));
		return 2;
	}
	if (rc == 0) {
		log_debug("--max-memory: %s per worker", health_format_size(share, a, sizeof(a)));
		loop_timer_set(&r->loop, &st.check, loop_now_ms() + cfg->check_interval_ms);
	}
	if (cfg->watchdog_ms > 0) {
		snprintf(st.watchdog_usec, sizeof(st.watchdog_usec), "WATCHDOG_USEC=%lld",
			 (long long)cfg->watchdog_ms * 1000);
		snprintf(st.watchdog_pid, sizeof(st.watchdog_pid), "%s",
			 SPAWN_WATCHDOG_PID_PLACEHOLDER);
	}
	return 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	(void)req;
	if (w < 0 || r->cfg->watchdog_ms <= 0)
		return n;
	env[n++] = st.watchdog_usec;
	env[n++] = st.watchdog_pid;
	return n;
}

/* A SIGKILL that the stop sequence did not send: was it the kernel's OOM killer? The counter
 * is the cgroup's, so a kill of another process of the container since the last reading
 * would be taken for this one; the kernel tells no more. */
static void exited(struct runner *r, int w, int wstatus)
{
	const struct worker *wk = &r->pool.workers[w];
	uint64_t count;
	char limit[16], detail[64];

	if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGKILL || wk->step == STOP_KILL ||
	    !read_oom_kills(&count) || count <= st.oom_kills)
		return;
	st.oom_kills = count;
	if (r->memory_limit > 0)
		snprintf(detail, sizeof(detail), "memory limit %s",
			 health_format_size(r->memory_limit, limit, sizeof(limit)));
	else
		snprintf(detail, sizeof(detail), "no memory limit set");
	pool_oom_killed(&r->pool, wk->pid, detail);
}

static void close_module(struct runner *r)
{
	loop_timer_set(&r->loop, &st.check, -1);
	free(st.groups);
	st.groups = NULL;
	st.groups_cap = 0;
	free(st.cgroup);
	st.cgroup = NULL;
}

const struct run_module mod_health = {
	.name = "health",
	.setup = setup,
	.worker_env = worker_env,
	.exited = exited,
	.shutdown = close_module,
};
