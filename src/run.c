/*
 * run: the thin loop around the supervisor.
 *
 * Signals arrive as data through a signalfd (all of them are blocked; no work is done in
 * handlers), children are reaped in a loop on SIGCHLD, the supervisor's deadline is one of the
 * loop's timers, and the modules (run_int.h) feed the rest: readiness, control requests, Node's
 * messages. Every event is turned into a call on the pure pool, and the pool's decisions are
 * carried out in one place, the loop's post step (run_post), after every event. Nothing here
 * decides policy, and nothing here names a module.
 *
 * From the moment the loop starts, baton must not die: every failure below is logged and
 * turned into an event the pool already knows (a worker that could not be started, ...).
 */
#include "baton/run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "baton/cpus.h"
#include "baton/log.h"
#include "baton/loop.h"
#include "baton/mem.h"
#include "baton/pool.h"
#include "baton/procs.h"
#include "baton/reap.h"
#include "baton/spawn.h"
#include "run_int.h"

/* Signals that are never blocked: the kernel raises them for faults in baton itself, and
 * blocking them would turn a crash into a hang. */
static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };

/* ---- carrying out the pool's decisions ---- */

/* A worker index of the pool that a module or the runner was handed back: the pool's table
 * may have grown since, never shrunk, so only the range is checked. */
static const struct worker *worker_at(const struct runner *r, int w)
{
	return w >= 0 && w < pool_capacity(&r->pool) ? &r->pool.workers[w] : NULL;
}

static void release_worker(struct runner *r, int w)
{
	for (size_t i = r->n_mods; i-- > 0;)
		if (r->mods[i]->release)
			r->mods[i]->release(r, w);
}

static void do_spawn(struct runner *r, int w)
{
	struct spawn_request req = {
		.argv = r->cfg->command,
		.listen_fds = r->listen_fds,
		.n_listen = r->n_listen,
		.ready_fd = -1,
		.ipc_fd = -1,
		.tty_foreground = r->pool.set.tty_foreground,
		.sandbox = r->sandbox,
	};
	struct spawn_result res;
	size_t prepared;
	int err = 0;

	for (prepared = 0; prepared < r->n_mods && err == 0; prepared++)
		if (r->mods[prepared]->prepare)
			err = r->mods[prepared]->prepare(r, w, &req);
	if (err < 0) {
		/* Those that prepared drop what they made, as after a failed fork. */
		for (size_t i = 0; i < prepared; i++)
			if (r->mods[i]->after_spawn)
				r->mods[i]->after_spawn(r, w, 0, false);
		pool_spawned(&r->pool, w, 0, -EIO, loop_now_ms());
		return;
	}
	req.envp = run_env_build(r, w, &req);
	spawn_worker(&req, &res);
	for (size_t i = 0; i < r->n_mods; i++)
		if (r->mods[i]->after_spawn)
			r->mods[i]->after_spawn(r, w, res.pid, res.err == 0);
	if (res.err < 0) {
		if (strcmp(res.step, "exec") == 0)
			log_error("cannot run '%s': %s", r->cfg->command[0], strerror(-res.err));
		else
			log_error("worker %d could not be started: %s failed: %s",
				  r->pool.workers[w].slot, res.step, strerror(-res.err));
		pool_spawned(&r->pool, w, 0, res.err, loop_now_ms());
		return;
	}
	pool_spawned(&r->pool, w, res.pid, 0, loop_now_ms());
}

static void do_drain(struct runner *r, const struct pool_action *a)
{
	const struct worker *wk = worker_at(r, a->worker);
	char name[16];

	for (size_t i = 0; wk && i < r->n_mods; i++) {
		if (r->mods[i]->drain && r->mods[i]->drain(r, a->worker)) {
			log_debug("worker %d (pid %d): drain by message", wk->slot, (int)a->pid);
			return;
		}
	}
	spawn_signal_group(a->pid, a->sig);
	log_debug("worker %d (pid %d): drain with SIG%s", wk ? wk->slot : 0, (int)a->pid,
		  cfg_signal_name(a->sig, name, sizeof(name)));
}

/* A SIGKILL at the end of a stop is a warning that names whom it reaches: a worker's process
 * group (the worker itself is named by the pool's line), or the processes left after the
 * workers. Those are orphans reparented to us: as PID 1 every process of the namespace, as a
 * subreaper our own children, since kill(-1) would reach far beyond the container. */
struct kill_walk {
	pid_t self;
	pid_t group;    /* a worker's process group, or 0 for the processes left */
	int slot;
	int sig;
	int n;
};

static void kill_one(const struct proc_entry *p, void *ctx)
{
	struct kill_walk *k = ctx;
	bool ours = k->group > 0 ? p->pgrp == k->group && p->pid != k->group
				 : k->self == 1 || p->ppid == k->self;

	if (!ours || p->state == 'Z' || kill(p->pid, k->sig) < 0)
		return;
	k->n++;
	if (k->sig != SIGKILL)
		return;
	if (k->group > 0 && k->slot > 0)
		log_warn("pid %d (%s) of worker %d's process group still running; sending SIGKILL",
			 (int)p->pid, p->cmd, k->slot);
	else if (k->group > 0)
		log_warn("pid %d (%s) of its process group still running; sending SIGKILL",
			 (int)p->pid, p->cmd);
	else
		log_warn("pid %d (%s) still running at the end of the stop; sending SIGKILL",
			 (int)p->pid, p->cmd);
}

static int signal_orphans(int sig)
{
	struct kill_walk k = { .self = getpid(), .sig = sig };
	int err;

	/* As PID 1, kill(-1) reaches every process at once: the walk is only there to name
	 * them when they get SIGKILL. */
	if (k.self == 1 && sig != SIGKILL)
		return kill(-1, sig) == 0 ? 1 : 0;
	err = procs_each(kill_one, &k);
	if (k.self != 1)
		return k.n;
	/* Those forked during the walk; or, when /proc cannot be read, all of them unnamed. */
	if (kill(-1, sig) == 0 && err < 0) {
		log_warn("processes still running at the end of the stop (/proc: %s); sending SIGKILL",
			 strerror(-err));
		k.n++;
	}
	return k.n;
}

/* A stop-sequence step on a worker: the pool's line names the worker, and the command is
 * added here, read before the signal can turn it into a zombie without one. */
static void signal_stop_step(struct runner *r, const struct pool_action *a)
{
	struct proc_entry p;

	if (a->msg[0] && procs_get(a->pid, &p) == 0)
		log_msg(a->level, "%s (%s)", a->msg, p.cmd);
	else if (a->msg[0])
		log_msg(a->level, "%s", a->msg);
	if (a->sig == SIGKILL) {
		const struct worker *wk = worker_at(r, a->worker);
		struct kill_walk k = { .self = getpid(), .group = a->pid, .sig = SIGKILL,
				       .slot = wk ? wk->slot : 0 };

		procs_each(kill_one, &k);
	}
	spawn_signal_group(a->pid, a->sig);
}

static void on_reaped(void *ctx, pid_t pid, int wstatus)
{
	struct runner *r = ctx;
	int w = pool_find(&r->pool, pid);

	for (size_t i = 0; w >= 0 && i < r->n_mods; i++)
		if (r->mods[i]->exited)
			r->mods[i]->exited(r, w, wstatus);
	if (w >= 0)
		release_worker(r, w);
	pool_exited(&r->pool, pid, wstatus, loop_now_ms());
}

static void reap_children(struct runner *r)
{
	if (reap_all(on_reaped, r) == 0)
		pool_children_gone(&r->pool, loop_now_ms());
}

static void notify_modules(struct runner *r, const struct pool_action *a)
{
	for (size_t i = 0; i < r->n_mods; i++)
		if (r->mods[i]->on_action)
			r->mods[i]->on_action(r, a);
}

static void on_pool_timer(struct loop_timer *t)
{
	struct runner *r = t->ctx;

	pool_tick(&r->pool, loop_now_ms());
}

/* The loop's post step: carry out what the pool decided, in order, until it decides nothing
 * more (carrying out an action is itself an event: a spawn's result, a reaped child), then
 * arm the pool's next deadline. The only place where actions are done. */
static void run_post(void *ctx)
{
	struct runner *r = ctx;
	struct pool_action a;
	char name[16];

	while (pool_next_action(&r->pool, &a)) {
		switch (a.kind) {
		case ACT_SPAWN:
			do_spawn(r, a.worker);
			break;
		case ACT_DRAIN:
			do_drain(r, &a);
			break;
		case ACT_SIGNAL:
			signal_stop_step(r, &a);
			break;
		case ACT_SIGNAL_ORPHANS: {
			int n = signal_orphans(a.sig);

			if (n > 0)
				log_debug("sent SIG%s to the remaining processes",
					  cfg_signal_name(a.sig, name, sizeof(name)));
			if (n > 0 && a.sig == SIGKILL)
				pool_orphans_killed(&r->pool, n);
			reap_children(r);
			break;
		}
		case ACT_LOG:
			log_msg(a.level, "%s", a.msg);
			break;
		case ACT_RUN_HOOK:
		case ACT_ROLLOUT_DONE:
		case ACT_WORKERS_STOPPED:
			notify_modules(r, &a);
			break;
		case ACT_EXIT:
			r->exiting = true;
			r->exit_status = a.status;
			break;
		}
	}
	loop_timer_set(&r->loop, &r->pool_timer, pool_next_deadline(&r->pool));
}

/* ---- signals ---- */

static void on_signal(struct loop_watch *watch, uint32_t events)
{
	struct runner *r = watch->ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(watch->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap_children(r);
		else
			pool_signal(&r->pool, (int)si.ssi_signo, loop_now_ms());
	}
}

static int setup_signals(struct runner *r)
{
	sigset_t all;
	struct sigaction ign = { .sa_handler = SIG_IGN };

	sigfillset(&all);
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		sigdelset(&all, fault_signals[i]);
	/* A write to a closed pipe or socket must be an EPIPE, not a signal to forward. */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	sigdelset(&all, SIGPIPE);
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		return -errno;
	r->sigfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->sigfd < 0)
		return -errno;
	return loop_add(&r->loop, &r->sig_watch, r->sigfd, EPOLLIN, on_signal, r);
}

/* ---- set-up and the loop ---- */

static void settings_from_config(struct runner *r, struct pool_settings *s)
{
	const struct config *cfg = r->cfg;

	*s = (struct pool_settings){
		.workers = cfg->workers,
		.restart = cfg->restart,
		.max_restarts = cfg->max_restarts,
		.restart_window_ms = cfg->restart_window_ms,
		.drain_signal = cfg->drain_signal,
		.drain_by_ipc = cfg_drains_by_message(cfg),
		.drain_timeout_ms = cfg->drain_timeout_ms,
		.term_timeout_ms = cfg->term_timeout_ms,
		.stop_delay_ms = cfg->stop_delay_ms,
		.stop_timeout_ms = cfg->stop_timeout_ms,
		.ready_by_delay = cfg->ready == READY_DELAY && !cfg->node_cluster,
		.ready_delay_ms = cfg->ready_delay_ms,
		.ready_timeout_ms = cfg->ready_timeout_ms,
		/* Ctrl-C semantics only make sense when one worker owns the terminal and we were
		 * started in the foreground of it. */
		.tty_foreground = cfg->workers == 1 && isatty(STDIN_FILENO) &&
				  tcgetpgrp(STDIN_FILENO) == getpgrp(),
		.reload_signal = cfg->reload_signal,
		.pre_rollout = cfg->pre_rollout != NULL,
		.hook_timeout_ms = cfg->ready_timeout_ms,
	};
	memcpy(s->signal_map, cfg->signal_map, sizeof(s->signal_map));
	memcpy(s->exit_map, cfg->exit_map, sizeof(s->exit_map));
	s->watchdog_ms = cfg->watchdog_ms;
	s->watchdog_signal = cfg->watchdog_signal;
	s->max_age_ms = cfg->max_age_ms;
	s->max_memory_kind = cfg->max_memory_kind;
	s->max_memory = cfg->max_memory;
	s->memory_limit = r->memory_limit;
	/* The --max-age jitter only needs to differ between containers started together. */
	s->seed = (uint64_t)loop_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() ^
		  (uint64_t)(uintptr_t)&s;
}

/* Call every enabled module's shutdown, the last set up first. */
static void shutdown_modules(struct runner *r, size_t n_set_up)
{
	for (size_t i = n_set_up; i-- > 0;)
		if (r->mods[i]->shutdown)
			r->mods[i]->shutdown(r);
}

/* Set up the modules this configuration enables, in the table's order; on a failure, those
 * already set up are shut down again. 0, or the status to exit with. */
static int setup_modules(struct runner *r, char **envp)
{
	for (size_t i = 0; i < run_n_modules; i++)
		if (!run_modules[i]->wanted || run_modules[i]->wanted(r->cfg))
			r->mods[r->n_mods++] = run_modules[i];
	for (size_t i = 0; i < r->n_mods; i++) {
		int status = r->mods[i]->setup ? r->mods[i]->setup(r, envp) : 0;

		if (status != 0) {
			shutdown_modules(r, i);
			return status;
		}
	}
	return 0;
}

static int before_start(struct runner *r)
{
	for (size_t i = 0; i < r->n_mods; i++) {
		int status = r->mods[i]->before_start ? r->mods[i]->before_start(r) : RUN_GO_ON;

		if (status != RUN_GO_ON)
			return status;
	}
	return RUN_GO_ON;
}

int baton_run(struct config *cfg, char **envp)
{
	static struct runner runner; /* its address is every callback's context */
	struct runner *r = &runner;
	struct pool_settings settings;
	bool released = false;
	int err, status;

	r->cfg = cfg;
	r->sigfd = -1;
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("cannot become a child subreaper: %s", strerror(errno));
	if (cfg->workers == 0) {
		cfg->workers = cpus_usable();
		log_info("workers: auto = %d (usable CPUs)", cfg->workers);
	}
	if ((err = loop_init(&r->loop)) < 0) {
		log_error("cannot create the event loop: %s", strerror(-err));
		return 1;
	}
	loop_set_post(&r->loop, run_post, r);
	loop_timer_init(&r->pool_timer, on_pool_timer, r);
	/* Everything a user can get wrong is checked before anything is started. */
	if ((status = setup_modules(r, envp)) != 0)
		return status;
	status = 1;
	if (run_env_init(r, envp) < 0) {
		log_error("out of memory");
		goto fail;
	}
	if ((err = setup_signals(r)) < 0) {
		log_error("cannot set up signal handling: %s", strerror(-err));
		goto fail;
	}
	settings_from_config(r, &settings);
	/* The defaults are cut silently (a 30 s drain inside docker stop's 10 s is what they
	 * mean); values the user gave are expected to hold, so a cut is announced. */
	if (cfg->stop_phases_given && pool_stop_needs_ms(&settings) > settings.stop_timeout_ms)
		log_warn("the stop sequence as set (--stop-delay %lld ms, --drain-timeout %lld ms, "
			 "--term-timeout %lld ms) can take %lld ms, more than --stop-timeout %lld ms: "
			 "its phases will be cut to fit, in that order",
			 (long long)cfg->stop_delay_ms, (long long)cfg->drain_timeout_ms,
			 (long long)cfg->term_timeout_ms, (long long)pool_stop_needs_ms(&settings),
			 (long long)cfg->stop_timeout_ms);
	if (pool_init(&r->pool, &settings) < 0) {
		log_error("out of memory for %d workers", cfg->workers);
		goto fail;
	}
	log_debug("starting %d worker%s of '%s'", cfg->workers, cfg->workers == 1 ? "" : "s",
		  cfg->command[0]);
	if ((status = before_start(r)) != RUN_GO_ON) {
		status = cfg_map_exit(cfg->exit_map, status);
		goto fail;
	}

	/* From here on, baton must not die. */
	pool_start(&r->pool, loop_now_ms());
	run_post(r);
	while (!r->exiting) {
		/* Start-up is over once a worker serves (its first lines logged): what it paged
		 * in and will not use again goes back, so that PID 1 keeps only what its loop
		 * touches for the container's life. */
		if (!released && r->pool.ever_ready) {
			mem_release_startup();
			released = true;
		}
		err = loop_run_once(&r->loop);
		if (err < 0)
			log_error("event loop: %s", strerror(-err));
	}
	status = r->exit_status;
fail:
	shutdown_modules(r, r->n_mods);
	pool_free(&r->pool);
	return status;
}
