/*
 * run_env: the environment of the workers and of the hook commands.
 *
 * Built once per spawn in one vector: the inherited entries (kept at the front, counted once at
 * start), then the runner's own and each enabled module's. The strings a module adds are its
 * own, valid until its next call: spawn_worker copies nothing, but the environment is only
 * used by the fork that follows at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_int.h"

/* The protocol variables between baton and its workers: whatever baton inherited of them was
 * meant for baton (a LISTEN_FDS from systemd, a NOTIFY_SOCKET of a supervisor above), never
 * for a worker, whether or not this configuration sets them again. */
static bool is_protocol_variable(const char *entry)
{
	static const char *const names[] = {
		"LISTEN_FDS",	  "LISTEN_PID",	    "LISTEN_FDNAMES",
		"NOTIFY_SOCKET",  "BATON_READY_FD", "BATON_WORKER_ID",
		"BATON_WORKERS",  "NODE_CHANNEL_FD", "NODE_UNIQUE_ID",
		"NODE_CHANNEL_SERIALIZATION_MODE", "WATCHDOG_USEC", "WATCHDOG_PID",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i]);

		if (strncmp(entry, names[i], len) == 0 && entry[len] == '=')
			return true;
	}
	return false;
}

static bool replaced_by_module(const struct runner *r, const char *entry)
{
	for (size_t i = 0; i < r->n_mods; i++)
		if (r->mods[i]->replaces_env && r->mods[i]->replaces_env(r, entry))
			return true;
	return false;
}

int run_env_init(struct runner *r, char **envp)
{
	size_t n = 0;

	for (char **e = envp; e && *e; e++)
		n++;
	r->env = calloc(n + RUN_ENV_EXTRA + 1, sizeof(char *));
	if (!r->env)
		return -ENOMEM;
	for (char **e = envp; e && *e; e++)
		if (!is_protocol_variable(*e) && !replaced_by_module(r, *e))
			r->env[r->n_env_base++] = *e;
	return 0;
}

char **run_env_build(struct runner *r, int w, const struct spawn_request *req)
{
	static char worker_id[32], workers[32];
	size_t n = r->n_env_base;
	int wanted = r->pool.wanted > 0 ? r->pool.wanted : r->cfg->workers;

	if (w >= 0) {
		snprintf(worker_id, sizeof(worker_id), "BATON_WORKER_ID=%d", r->pool.workers[w].slot);
		r->env[n++] = worker_id;
	}
	snprintf(workers, sizeof(workers), "BATON_WORKERS=%d", wanted);
	r->env[n++] = workers;
	for (size_t i = 0; i < r->n_mods; i++)
		if (r->mods[i]->worker_env)
			n = r->mods[i]->worker_env(r, w, req, r->env, n);
	r->env[n] = NULL;
	return r->env;
}
