/*
 * mod_ready_fd: readiness through a pipe (--ready fd). Each worker gets the write end as
 * BATON_READY_FD (the fd right after the sockets); one byte on it means ready. End of file
 * without a byte is no readiness: its exit or the ready timeout decides. With --watchdog the
 * pipe stays open and every later write is a heartbeat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "baton/log.h"
#include "run_int.h"

struct ready_pipe {
	struct runner *runner;
	int w;
	int read_fd;      /* ours */
	int write_fd;     /* the worker's, until it is spawned */
	pid_t pid;
	bool ready;       /* its first byte came */
	struct loop_watch watch;
};

static struct {
	struct ready_pipe **pipes; /* by worker index */
	int cap;
	char env[32];
} st;

static bool wanted(const struct config *cfg)
{
	return cfg->ready == READY_FD;
}

static void close_pipe(struct runner *r, int w)
{
	struct ready_pipe *p = w < st.cap ? st.pipes[w] : NULL;

	if (!p)
		return;
	if (p->read_fd >= 0) {
		loop_del(&r->loop, &p->watch);
		close(p->read_fd);
	}
	if (p->write_fd >= 0)
		close(p->write_fd);
	free(p);
	st.pipes[w] = NULL;
}

static void on_pipe(struct loop_watch *watch, uint32_t events)
{
	struct ready_pipe *p = watch->ctx;
	char buf[64];
	ssize_t n = read(watch->fd, buf, sizeof(buf));

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && p->ready && p->runner->cfg->watchdog_ms > 0) {
		pool_heartbeat(&p->runner->pool, p->pid, loop_now_ms());
		return;
	}
	if (n > 0) {
		pool_ready(&p->runner->pool, p->pid, loop_now_ms());
		p->ready = true;
		/* The first byte may come with heartbeats; the watchdog counts from here. */
		if (p->runner->cfg->watchdog_ms > 0)
			return;
	}
	close_pipe(p->runner, p->w);
}

static int prepare(struct runner *r, int w, struct spawn_request *req)
{
	struct ready_pipe *p;
	int fds[2];

	if (run_table_reserve(&st.pipes, sizeof(*st.pipes), &st.cap, w, pool_capacity(&r->pool)) < 0 ||
	    !(p = calloc(1, sizeof(*p)))) {
		log_error("worker %d: out of memory for its ready pipe", r->pool.workers[w].slot);
		return -ENOMEM;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		int err = -errno;

		log_error("worker %d: cannot create its ready pipe: %s", r->pool.workers[w].slot,
			  strerror(-err));
		free(p);
		return err;
	}
	*p = (struct ready_pipe){ .runner = r, .w = w, .read_fd = fds[0], .write_fd = fds[1],
				 .watch = { .fd = -1 } };
	st.pipes[w] = p;
	req->ready_fd = fds[1];
	return 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	(void)r;
	if (w < 0 || spawn_ready_fd_number(req) < 0)
		return n;
	snprintf(st.env, sizeof(st.env), "BATON_READY_FD=%d", spawn_ready_fd_number(req));
	env[n++] = st.env;
	return n;
}

static void after_spawn(struct runner *r, int w, pid_t pid, bool spawned)
{
	struct ready_pipe *p = w < st.cap ? st.pipes[w] : NULL;

	if (!p)
		return;
	close(p->write_fd);
	p->write_fd = -1;
	p->pid = pid;
	/* Without a watch on its pipe, a worker is never ready: the ready timeout restarts it. */
	if (!spawned || loop_add(&r->loop, &p->watch, p->read_fd, EPOLLIN, on_pipe, p) < 0)
		close_pipe(r, w);
}

static void close_module(struct runner *r)
{
	for (int w = 0; w < st.cap; w++)
		close_pipe(r, w);
	free(st.pipes);
	st.pipes = NULL;
	st.cap = 0;
}

const struct run_module mod_ready_fd = {
	.name = "ready-fd",
	.wanted = wanted,
	.prepare = prepare,
	.worker_env = worker_env,
	.after_spawn = after_spawn,
	.release = close_pipe,
	.shutdown = close_module,
};
