/*
 * mod_notify: readiness by sd_notify (--ready notify). One datagram socket for every worker,
 * named in NOTIFY_SOCKET; a READY=1 from a worker, from the MAINPID it announced, or from any
 * process of its process group (systemd-notify runs as a child of the worker) makes it ready.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "baton/log.h"
#include "baton/notify.h"
#include "run_int.h"

/* Datagrams read per wake-up: a flood must not starve the rest of the loop. */
#define NOTIFY_READS_PER_WAKEUP 64

static struct {
	struct runner *runner;
	int fd;
	char path[128];
	struct loop_watch watch;
	char env[160];
	pid_t *mainpid; /* MAINPID= by worker index, 0 none */
	int cap;
} st = { .fd = -1 };

static bool wanted(const struct config *cfg)
{
	return cfg->ready == READY_NOTIFY;
}

/* The worker a notification belongs to: its own pid, the MAINPID it announced, or any
 * process of its process group. */
static int notify_worker(const struct pool *pool, pid_t sender)
{
	int w = pool_find(pool, sender);
	pid_t group;

	if (w >= 0)
		return w;
	for (int i = 0; i < st.cap && i < pool_capacity(pool); i++)
		if (st.mainpid[i] == sender && pool->workers[i].state != WS_FREE)
			return i;
	group = ntf_sender_group(sender);
	return group > 0 ? pool_find(pool, group) : -1;
}

static void on_notify(struct loop_watch *watch, uint32_t events)
{
	struct runner *r = st.runner;
	struct ntf_msg msg;
	int err, budget = NOTIFY_READS_PER_WAKEUP;

	(void)events;
	while (budget-- > 0 && (err = ntf_recv(watch->fd, &msg)) != -EAGAIN) {
		int w;

		if (err < 0)
			continue;
		w = notify_worker(&r->pool, msg.sender);
		if (w < 0) {
			log_debug("notification from pid %d, not a worker: ignored", (int)msg.sender);
			continue;
		}
		if (msg.mainpid > 0 &&
		    run_table_reserve(&st.mainpid, sizeof(*st.mainpid), &st.cap, w, pool_capacity(&r->pool)) == 0)
			st.mainpid[w] = msg.mainpid;
		if (msg.has_status)
			log_debug("worker %d status: %s", r->pool.workers[w].slot, msg.status);
		if (msg.stopping)
			log_debug("worker %d says it is stopping", r->pool.workers[w].slot);
		if (msg.ready)
			pool_ready(&r->pool, r->pool.workers[w].pid, loop_now_ms());
		if (msg.watchdog)
			pool_heartbeat(&r->pool, r->pool.workers[w].pid, loop_now_ms());
	}
}

static int setup(struct runner *r, char **envp)
{
	int err = ntf_open(NULL, st.path, sizeof(st.path), &st.fd);

	(void)envp;
	st.runner = r;
	if (err < 0) {
		log_error("--ready notify: cannot create the notification socket: %s", strerror(-err));
		return 1;
	}
	snprintf(st.env, sizeof(st.env), "NOTIFY_SOCKET=%s", st.path);
	if ((err = loop_add(&r->loop, &st.watch, st.fd, EPOLLIN, on_notify, r)) < 0) {
		log_error("--ready notify: %s", strerror(-err));
		return 1;
	}
	return 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	(void)r, (void)req;
	if (w >= 0)
		env[n++] = st.env;
	return n;
}

static void release(struct runner *r, int w)
{
	(void)r;
	if (w < st.cap)
		st.mainpid[w] = 0;
}

static void close_module(struct runner *r)
{
	(void)r;
	if (st.fd >= 0)
		ntf_close(st.fd, st.path);
	st.fd = -1;
	free(st.mainpid);
	st.mainpid = NULL;
	st.cap = 0;
}

const struct run_module mod_notify = {
	.name = "notify",
	.wanted = wanted,
	.setup = setup,
	.worker_env = worker_env,
	.release = release,
	.shutdown = close_module,
};
