/*
 * run_modules: connects the optional parts of baton to the run loop: the listening sockets
 * (bound once, before any worker, and inherited by every worker of every generation), the
 * readiness protocols, the worker sandbox, the control socket and the Node cluster channel.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "baton/control.h"
#include "baton/log.h"
#include "baton/notify.h"
#include "baton/sandbox.h"
#include "baton/sockets.h"
#include "run_int.h"

/* dash, Debian's /bin/sh, cannot redirect fds above 9: `echo >&$BATON_READY_FD` must work. */
#define READY_FD_MAX 9

/* ---- listening sockets ---- */

static int bind_listeners(struct runner *r)
{
	const struct config *cfg = r->cfg;
	size_t used = 0;

	used = (size_t)snprintf(r->envs.listen_fdnames, sizeof(r->envs.listen_fdnames),
				"LISTEN_FDNAMES=");
	for (int i = 0; i < cfg->n_listen; i++) {
		struct sock_spec spec;
		char err[256], desc[160];
		int fd;

		if (sock_parse(cfg->listen[i], &spec, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return 2;
		}
		spec.nodelay = cfg->tcp_nodelay && spec.kind == SOCK_KIND_TCP;
		if (sock_bind(&spec, cfg->backlog, &fd, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return 2;
		}
		r->listen_specs[r->n_listen] = spec;
		r->listen_fds[r->n_listen++] = fd;
		sock_describe(&spec, desc, sizeof(desc));
		log_info("listening on %s (fd %d in workers)", desc, 2 + r->n_listen);
		used += (size_t)snprintf(r->envs.listen_fdnames + used,
					 sizeof(r->envs.listen_fdnames) - used, "%s%s",
					 i ? ":" : "", spec.name);
		if (used >= sizeof(r->envs.listen_fdnames)) {
			log_error("the names of the --listen sockets are too long");
			return 2;
		}
	}
	if (cfg->ready == READY_FD && 3 + r->n_listen > READY_FD_MAX) {
		log_error("--ready fd: with %d sockets the ready fd would be %d; at most %d sockets",
			  r->n_listen, 3 + r->n_listen, READY_FD_MAX - 3);
		return 2;
	}
	return 0;
}

/* ---- sd_notify readiness ---- */

/* The worker a notification belongs to: its own pid, the MAINPID it announced, or any
 * process of its process group (systemd-notify runs as a child of the worker). */
static int notify_worker(struct runner *r, pid_t sender)
{
	int w = pool_find(&r->pool, sender);
	pid_t group;

	if (w >= 0)
		return w;
	for (int i = 0; i < pool_capacity(&r->pool); i++)
		if (r->pool.workers[i].state != WS_FREE && r->io[i].mainpid == sender)
			return i;
	group = ntf_sender_group(sender);
	return group > 0 ? pool_find(&r->pool, group) : -1;
}

static void on_notify(struct loop_watch *watch, uint32_t events)
{
	struct runner *r = watch->ctx;
	struct ntf_msg msg;
	int err, budget = 64; /* a flood must not starve the rest of the loop */

	(void)events;
	while (budget-- > 0 && (err = ntf_recv(watch->fd, &msg)) != -EAGAIN) {
		int w;

		if (err < 0)
			continue;
		w = notify_worker(r, msg.sender);
		if (w < 0) {
			log_debug("notification from pid %d, not a worker: ignored", (int)msg.sender);
			continue;
		}
		if (msg.mainpid > 0)
			r->io[w].mainpid = msg.mainpid;
		if (msg.has_status)
			log_debug("worker %d status: %s", r->pool.workers[w].slot, msg.status);
		if (msg.stopping)
			log_debug("worker %d says it is stopping", r->pool.workers[w].slot);
		if (msg.ready)
			pool_ready(&r->pool, r->pool.workers[w].pid, loop_now_ms());
	}
	run_actions(r);
}

static int open_notify(struct runner *r)
{
	int err = ntf_open(NULL, r->notify_path, sizeof(r->notify_path), &r->notify_fd);

	if (err < 0) {
		log_error("--ready notify: cannot create the notification socket: %s",
			  strerror(-err));
		return 1;
	}
	snprintf(r->envs.notify, sizeof(r->envs.notify), "NOTIFY_SOCKET=%s", r->notify_path);
	if (loop_add(&r->loop, &r->notify_watch, r->notify_fd, EPOLLIN, on_notify, r) < 0) {
		log_error("--ready notify: %s", strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- control socket ---- */

static void ctl_fill_view(void *ctx, struct ctl_view *v)
{
	struct runner *r = ctx;
	const struct pool *p = &r->pool;
	int64_t now = loop_now_ms();

	v->pool_state = pool_phase_name(p);
	v->stopping = p->phase != PH_RUNNING;
	v->rollout_done = p->ro.active ? p->ro.done : 0;
	v->rollout_total = p->ro.active ? p->ro.total : 0;
	v->workers_wanted = p->wanted;
	v->n = 0;
	for (int i = 0; i < pool_capacity(p) && v->n < CTL_VIEW_MAX; i++) {
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
		};
		v->n++;
	}
}

static int ctl_do_reload(void *ctx, char *err, size_t errlen)
{
	struct runner *r = ctx;
	int rc = pool_reload(&r->pool, loop_now_ms(), err, errlen);

	if (rc == 0)
		log_info("reload requested on the control socket");
	run_actions(r);
	return rc;
}

static int ctl_do_scale(void *ctx, int n, char *err, size_t errlen)
{
	struct runner *r = ctx;
	int rc = pool_scale(&r->pool, n, loop_now_ms(), err, errlen);

	if (rc == 0)
		log_info("scale to %d worker%s requested on the control socket", n, n == 1 ? "" : "s");
	run_actions(r);
	return rc;
}

static int ctl_do_drain(void *ctx)
{
	struct runner *r = ctx;

	log_info("drain requested on the control socket");
	pool_stop(&r->pool, loop_now_ms());
	run_actions(r);
	return 0;
}

static void ctl_do_note(void *ctx, enum log_level level, const char *msg)
{
	(void)ctx;
	log_msg(level, "%s", msg);
}

static int open_control(struct runner *r)
{
	const struct ctl_ops ops = {
		.ctx = r,
		.view = ctl_fill_view,
		.reload = ctl_do_reload,
		.scale = ctl_do_scale,
		.drain = ctl_do_drain,
		.note = ctl_do_note,
	};
	char err[512];
	bool fallback;
	int e;

	if (!r->cfg->control)
		return 0;
	e = ctl_open(&r->control, &r->loop, r->cfg->control, r->cfg->control_explicit, &ops,
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
		log_debug("control socket on %s", ctl_path(r->control));
	return 0;
}

/* ---- the workers' sandbox, and baton's own capabilities ---- */

static int prepare_sandbox(struct runner *r)
{
	char err[512], desc[256];

	if (sbx_prepare(&r->sandbox, r->cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 2;
	}
	if (sbx_describe(r->sandbox, desc, sizeof(desc)) == 0)
		log_debug("workers' sandbox: %s", desc);
	/* Calls of other architectures or kernels are normal in a portable profile: a line at
	 * -v, not a warning on every start (a misspelt name is an error, found earlier). */
	if (sbx_unknown_syscalls(r->sandbox))
		log_debug("seccomp profile: system calls of other architectures, skipped: %s",
			  sbx_unknown_syscalls(r->sandbox));
	if (sbx_home(r->sandbox)) {
		snprintf(r->envs.home, sizeof(r->envs.home), "HOME=%s", sbx_home(r->sandbox));
		snprintf(r->envs.user, sizeof(r->envs.user), "USER=%s", sbx_user_name(r->sandbox));
		snprintf(r->envs.logname, sizeof(r->envs.logname), "LOGNAME=%s",
			 sbx_user_name(r->sandbox));
	}
	return 0;
}

/* Sockets are bound: from here on baton keeps only what it needs to run workers (and to
 * bind on demand for Node's cluster workers). */
static int restrict_self(struct runner *r)
{
	char err[512];

	if (sbx_restrict_self(r->sandbox, r->cfg->node_cluster, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	return 0;
}

/* ---- hooks of the run loop ---- */

int run_setup_extra(struct runner *r, char **envp)
{
	int status;

	r->notify_fd = -1;
	for (int i = 0; i < RUN_MAX_PROCS; i++)
		r->io[i].ipc_fd = r->io[i].ipc_child_fd = -1;
	/* Everything a user can get wrong is checked before anything is started. */
	if ((status = prepare_sandbox(r)) != 0 || (status = bind_listeners(r)) != 0)
		return status;
	if (r->cfg->ready == READY_NOTIFY && (status = open_notify(r)) != 0)
		return status;
	if ((status = open_control(r)) != 0)
		return status;
	if (r->cfg->node_cluster && (status = node_setup(r, envp)) != 0)
		return status;
	return restrict_self(r);
}

bool run_env_overridden(const struct runner *r, const char *entry)
{
	if (r->envs.node_options && strncmp(entry, "NODE_OPTIONS=", 13) == 0)
		return true;
	if (!r->envs.home[0])
		return false;
	return strncmp(entry, "HOME=", 5) == 0 || strncmp(entry, "USER=", 5) == 0 ||
	       strncmp(entry, "LOGNAME=", 8) == 0;
}

size_t run_env_extra(struct runner *r, int w, size_t n)
{
	if (r->envs.home[0]) {
		r->env[n++] = r->envs.home;
		r->env[n++] = r->envs.user;
		r->env[n++] = r->envs.logname;
	}
	if (r->notify_fd >= 0)
		r->env[n++] = r->envs.notify;
	if (r->cfg->node_cluster)
		n = node_env(r, w, n);
	return n;
}

int run_prepare_extra(struct runner *r, int w, struct spawn_request *req)
{
	return r->cfg->node_cluster ? node_prepare(r, w, req) : 0;
}

void run_after_spawn_extra(struct runner *r, int w, bool spawned)
{
	if (r->cfg->node_cluster)
		node_after_spawn(r, w, spawned);
}

void run_io_release_extra(struct runner *r, int w)
{
	r->io[w].mainpid = 0;
	if (r->cfg->node_cluster)
		node_release(r, w);
}

bool run_drain_extra(struct runner *r, int w)
{
	return r->pool.set.drain_by_ipc && node_drain(r, w);
}

void run_notify_extra(struct runner *r, const struct pool_action *a)
{
	if (a->kind == ACT_ROLLOUT_DONE)
		ctl_reload_finished(r->control, a->status == 0, a->msg);
	else if (a->kind == ACT_WORKERS_STOPPED)
		ctl_workers_stopped(r->control);
}

void run_shutdown_extra(struct runner *r)
{
	/* Every process of the container dies with PID 1: let the control clients that have
	 * their answer (a preStop `drain --wait`) hang up first, for a second at most and never
	 * past --stop-timeout. */
	if (r->control) {
		int64_t end = loop_now_ms() + 1000;

		if (r->pool.stop_end_ms >= 0 && r->pool.stop_end_ms < end)
			end = r->pool.stop_end_ms;
		while (ctl_client_count(r->control) > 0 && loop_now_ms() < end) {
			loop_set_deadline(&r->loop, end);
			loop_run_once(&r->loop);
		}
		ctl_close(r->control);
		r->control = NULL;
	}
	if (r->cfg->node_cluster)
		node_shutdown(r);
	if (r->notify_fd >= 0)
		ntf_close(r->notify_fd, r->notify_path);
	for (int i = 0; i < r->n_listen; i++)
		close(r->listen_fds[i]);
	sbx_free(r->sandbox);
	r->sandbox = NULL;
}
