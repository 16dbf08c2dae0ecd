/*
 * mod_sockets: the --listen sockets, bound once before any worker and inherited by every worker
 * of every generation as fds 3, 4, ... (systemd's LISTEN_FDS protocol), so that a rollout never
 * closes one.
 */
#include <stdio.h>
#include <unistd.h>

#include "baton/log.h"
#include "baton/sockets.h"
#include "run_int.h"

/* dash, Debian's /bin/sh, cannot redirect fds above 9: `echo >&$BATON_READY_FD` must work. */
#define READY_FD_MAX 9

static struct {
	char listen_fds[32], listen_pid[32];
	char listen_fdnames[CFG_MAX_LISTEN * 64 + 32];
} envs;

static bool wanted(const struct config *cfg)
{
	return cfg->n_listen > 0;
}

static int setup(struct runner *r, char **envp)
{
	const struct config *cfg = r->cfg;
	size_t used;

	(void)envp;
	used = (size_t)snprintf(envs.listen_fdnames, sizeof(envs.listen_fdnames), "LISTEN_FDNAMES=");
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
		used += (size_t)snprintf(envs.listen_fdnames + used, sizeof(envs.listen_fdnames) - used,
					 "%s%s", i ? ":" : "", spec.name);
		if (used >= sizeof(envs.listen_fdnames)) {
			log_error("the names of the --listen sockets are too long");
			return 2;
		}
	}
	if (cfg->ready == READY_FD && 3 + r->n_listen > READY_FD_MAX) {
		log_error("--ready fd: with %d sockets the ready fd would be %d; at most %d sockets",
			  r->n_listen, 3 + r->n_listen, READY_FD_MAX - 3);
		return 2;
	}
	snprintf(envs.listen_fds, sizeof(envs.listen_fds), "LISTEN_FDS=%d", r->n_listen);
	snprintf(envs.listen_pid, sizeof(envs.listen_pid), "%s", SPAWN_LISTEN_PID_PLACEHOLDER);
	return 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	(void)r, (void)req;
	if (w < 0 || r->n_listen == 0)
		return n; /* hook commands get no sockets */
	/* The child writes its own pid over the placeholder, in its own copy of this memory. */
	env[n++] = envs.listen_fds;
	env[n++] = envs.listen_pid;
	env[n++] = envs.listen_fdnames;
	return n;
}

static void close_module(struct runner *r)
{
	for (int i = 0; i < r->n_listen; i++)
		close(r->listen_fds[i]);
	r->n_listen = 0;
}

const struct run_module mod_sockets = {
	.name = "sockets",
	.wanted = wanted,
	.setup = setup,
	.worker_env = worker_env,
	.shutdown = close_module,
};
