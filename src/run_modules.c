/*
 * run_modules: connects the optional parts of baton to the run loop: the listening sockets
 * (bound once, before any worker, and inherited by every worker of every generation), the
 * readiness protocols, the worker sandbox, the control socket and the Node cluster channel.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "baton/log.h"
#include "run_int.h"

int run_setup_extra(struct runner *r, char **envp)
{
	(void)envp;
	r->notify_fd = -1;
	return 0;
}

bool run_env_overridden(const struct runner *r, const char *entry)
{
	(void)r;
	(void)entry;
	return false;
}

size_t run_env_extra(struct runner *r, int w, size_t n)
{
	(void)r;
	(void)w;
	return n;
}

int run_prepare_extra(struct runner *r, int w, struct spawn_request *req)
{
	(void)r;
	(void)w;
	(void)req;
	return 0;
}

void run_after_spawn_extra(struct runner *r, int w, bool spawned)
{
	(void)r;
	(void)w;
	(void)spawned;
}

void run_io_release_extra(struct runner *r, int w)
{
	(void)r;
	(void)w;
}

bool run_drain_extra(struct runner *r, int w)
{
	(void)r;
	(void)w;
	return false;
}

void run_notify_extra(struct runner *r, const struct pool_action *a)
{
	(void)r;
	(void)a;
}

void run_shutdown_extra(struct runner *r)
{
	(void)r;
}
