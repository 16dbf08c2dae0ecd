/*
 * run: the thin loop around the supervisor.
 *
 * Signals arrive as data through a signalfd (all of them are blocked; no work is done in
 * handlers), children are reaped in a loop on SIGCHLD, the supervisor's one deadline is a
 * timerfd, and workers' readiness arrives on their pipes or sockets. Every event is turned
 * into a call on the pure pool, and the pool's decisions are carried out in one place,
 * run_actions(). Nothing here decides policy.
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
#include "baton/pool.h"
#include "baton/procs.h"
#include "baton/reap.h"
#include "baton/spawn.h"
#include "run_int.h"

/* Signals that are never blocked: the kernel raises them for faults in baton itself, and
 * blocking them would turn a crash into a hang. */
static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };

/* ---- environment of the workers ---- */

static bool is_env_we_set(const char *entry)
{
	static const char *const names[] = {
		"LISTEN_FDS",	  "LISTEN_PID",	    "LISTEN_FDNAMES",
		"NOTIFY_SOCKET",  "BATON_READY_FD", "BATON_WORKER_ID",
		"BATON_WORKERS",  "NODE_CHANNEL_FD", "NODE_UNIQUE_ID",
		"NODE_CHANNEL_SERIALIZATION_MODE",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i]);

		if (strncmp(entry, names[i], len) == 0 && entry[len] == '=')
			return true;
	}
	return false;
}

static int env_init(struct runner *r, char **envp)
{
	size_t n = 0;

	for (char **e = envp; e && *e; e++)
		n++;
	r->env = calloc(n + RUN_ENV_EXTRA + 1, sizeof(char *));
	if (!r->env)
		return -ENOMEM;
	for (char **e = envp; e && *e; e++)
		if (!is_env_we_set(*e) && !run_env_overridden(r, *e))
			r->env[r->n_env_base++] = *e;
	return 0;
}

/* Fill the per-worker part of the environment; the vector ends with NULL. */
static void env_for_worker(struct runner *r, int w, int ready_fd_num)
{
	size_t n = r->n_env_base;
	const struct worker *wk = &r->pool.workers[w];

	snprintf(r->envs.worker_id, sizeof(r->envs.worker_id), "BATON_WORKER_ID=%d", wk->slot);
	snprintf(r->envs.workers, sizeof(r->envs.workers), "BATON_WORKERS=%d", r->pool.wanted);
	r->env[n++] = r->envs.worker_id;
	r->env[n++] = r->envs.workers;
	if (r->n_listen > 0) {
		snprintf(r->envs.listen_fds, sizeof(r->envs.listen_fds), "LISTEN_FDS=%d", r->n_listen);
		snprintf(r->envs.listen_pid, sizeof(r->envs.listen_pid), "%s",
			 SPAWN_LISTEN_PID_PLACEHOLDER);
		r->env[n++] = r->envs.listen_fds;
		r->env[n++] = r->envs.listen_pid;
		r->env[n++] = r->envs.listen_fdnames;
	}
	if (ready_fd_num >= 0) {
		snprintf(r->envs.ready_fd, sizeof(r->envs.ready_fd), "BATON_READY_FD=%d", ready_fd_num);
		r->env[n++] = r->envs.ready_fd;
	}
	n = run_env_extra(r, w, n);
	r->env[n] = NULL;
}

/* The environment of a --pre-start or --pre-rollout command: the workers' without what is
 * per worker or about the sockets and readiness it does not take part in. */
char **run_env_for_hook(struct runner *r)
{
	size_t n = r->n_env_base;

	snprintf(r->envs.workers, sizeof(r->envs.workers), "BATON_WORKERS=%d", r->pool.wanted > 0
			 ? r->pool.wanted : r->cfg->workers);
	r->env[n++] = r->envs.workers;
	if (r->envs.home[0]) {
		r->env[n++] = r->envs.home;
		r->env[n++] = r->envs.user;
		r->env[n++] = r->envs.logname;
	}
	r->env[n] = NULL;
	return r->env;
}

/* ---- readiness through a pipe (--ready fd) ---- */

/* Only the pipe: the worker's other channels (Node's IPC above all) live on. */
static void release_ready_pipe(struct runner *r, int w)
{
	struct worker_io *io = &r->io[w];

	if (io->ready_fd >= 0) {
		loop_del(&r->loop, &io->ready_watch);
		close(io->ready_fd);
		io->ready_fd = -1;
	}
}

static void on_ready_pipe(struct loop_watch *watch, uint32_t events)
{
	struct worker_io *io = watch->ctx;
	struct runner *r = io->runner;
	int w = (int)(io - r->io);
	char buf[64];
	ssize_t n = read(watch->fd, buf, sizeof(buf));

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* A byte means ready; EOF means the worker closed its end without one, which is no
	 * readiness (its exit or the ready timeout will decide). Either way, one look is enough. */
	if (n > 0)
		pool_ready(&r->pool, r->pool.workers[w].pid, loop_now_ms());
	release_ready_pipe(r, w);
	run_actions(r);
}

void run_io_release(struct runner *r, int w)
{
	release_ready_pipe(r, w);
	run_io_release_extra(r, w);
}

/* ---- carrying out the pool's decisions ---- */

static void do_spawn(struct runner *r, int w)
{
	struct spawn_request req = {
		.argv = r->cfg->command,
		.envp = r->env,
		.listen_fds = r->listen_fds,
		.n_listen = r->n_listen,
		.ready_fd = -1,
		.ipc_fd = -1,
		.tty_foreground = r->pool.set.tty_foreground,
		.sandbox = r->sandbox,
	};
	struct spawn_result res;
	int pipefd[2] = { -1, -1 };
	int64_t now;

	if (r->cfg->ready == READY_FD) {
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
			log_error("worker %d: cannot create its ready pipe: %s",
				  r->pool.workers[w].slot, strerror(errno));
			pool_spawned(&r->pool, w, 0, -errno, loop_now_ms());
			return;
		}
		req.ready_fd = pipefd[1];
	}
	if (run_prepare_extra(r, w, &req) < 0) {
		if (pipefd[0] >= 0) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		pool_spawned(&r->pool, w, 0, -EIO, loop_now_ms());
		return;
	}
	env_for_worker(r, w, req.ready_fd >= 0 ? 3 + r->n_listen : -1);
	spawn_worker(&req, &res);
	now = loop_now_ms();
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	run_after_spawn_extra(r, w, res.err == 0);
	if (res.err < 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		if (strcmp(res.step, "exec") == 0)
			log_error("cannot run '%s': %s", r->cfg->command[0], strerror(-res.err));
		else
			log_error("worker %d could not be started: %s failed: %s",
				  r->pool.workers[w].slot, res.step, strerror(-res.err));
		pool_spawned(&r->pool, w, 0, res.err, now);
		return;
	}
	if (pipefd[0] >= 0) {
		r->io[w].ready_fd = pipefd[0];
		if (loop_add(&r->loop, &r->io[w].ready_watch, pipefd[0], EPOLLIN, on_ready_pipe,
			     &r->io[w]) < 0) {
			close(pipefd[0]);
			r->io[w].ready_fd = -1;
		}
	}
	pool_spawned(&r->pool, w, res.pid, 0, now);
}

/* Signal a worker's process group; fall back to the process if the group is gone (the
 * worker may have called setsid or setpgid itself). */
void run_signal_group(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
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
		struct kill_walk k = { .self = getpid(), .group = a->pid, .sig = SIGKILL,
				       .slot = a->worker >= 0 ? r->pool.workers[a->worker].slot : 0 };

		procs_each(kill_one, &k);
	}
	run_signal_group(a->pid, a->sig);
}

static void on_reaped(void *ctx, pid_t pid, int wstatus)
{
	struct runner *r = ctx;
	int w = pool_find(&r->pool, pid);

	if (w >= 0)
		run_io_release(r, w);
	pool_exited(&r->pool, pid, wstatus, loop_now_ms());
}

static void reap_children(struct runner *r)
{
	if (reap_all(on_reaped, r) == 0)
		pool_children_gone(&r->pool, loop_now_ms());
}

void run_actions(struct runner *r)
{
	struct pool_action a;
	char name[16];

	while (pool_next_action(&r->pool, &a)) {
		switch (a.kind) {
		case ACT_SPAWN:
			do_spawn(r, a.worker);
			break;
		case ACT_DRAIN:
			if (run_drain_extra(r, a.worker)) {
				log_debug("worker %d (pid %d): drain by message",
					  r->pool.workers[a.worker].slot, (int)a.pid);
				break;
			}
			run_signal_group(a.pid, a.sig);
			log_debug("worker %d (pid %d): drain with SIG%s", r->pool.workers[a.worker].slot,
				  (int)a.pid, cfg_signal_name(a.sig, name, sizeof(name)));
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
			run_hook_rollout(r);
			break;
		case ACT_ROLLOUT_DONE:
		case ACT_WORKERS_STOPPED:
			run_notify_extra(r, &a);
			break;
		case ACT_EXIT:
			r->exiting = true;
			r->exit_status = a.status;
			break;
		}
	}
	if (loop_set_deadline(&r->loop, pool_next_deadline(&r->pool)) < 0)
		log_error("cannot arm the timer: %s", strerror(errno));
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
		run_actions(r);
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
		.max_entries = RUN_MAX_PROCS,
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
}

int baton_run(struct config *cfg, char **envp)
{
	static struct runner runner; /* large tables: not on the stack */
	struct runner *r = &runner;
	struct pool_settings settings;
	int err, status;

	r->cfg = cfg;
	r->sigfd = -1;
	for (int i = 0; i < RUN_MAX_PROCS; i++) {
		r->io[i].runner = r;
		r->io[i].ready_fd = -1;
	}
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
	if ((status = run_setup_extra(r, envp)) != 0)
		return status;
	if (env_init(r, envp) < 0) {
		log_error("out of memory");
		return 1;
	}
	if ((err = setup_signals(r)) < 0) {
		log_error("cannot set up signal handling: %s", strerror(-err));
		return 1;
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
		log_error("out of memory");
		return 1;
	}
	log_debug("starting %d worker%s of '%s'", cfg->workers, cfg->workers == 1 ? "" : "s",
		  cfg->command[0]);

	if (cfg->pre_start && (status = run_pre_start(r)) != RUN_GO_ON) {
		run_shutdown_extra(r);
		return cfg_map_exit(cfg->exit_map, status);
	}

	/* From here on, baton must not die. */
	pool_start(&r->pool, loop_now_ms());
	run_actions(r);
	while (!r->exiting) {
		err = loop_run_once(&r->loop);
		if (err < 0) {
			log_error("event loop: %s", strerror(-err));
			continue;
		}
		if (err == 1) {
			pool_tick(&r->pool, loop_now_ms());
			run_actions(r);
		}
	}
	run_shutdown_extra(r);
	return r->exit_status;
}
