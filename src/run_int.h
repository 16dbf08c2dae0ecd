/*
 * Internal interface of the run loop: run.c is the loop and the carrying out of the pool's
 * actions; run_modules.c connects the optional parts (listening sockets, readiness
 * protocols, sandbox, control socket, Node cluster) to it. One module, split by concern.
 */
#ifndef BATON_RUN_INT_H
#define BATON_RUN_INT_H

#include <stdbool.h>

#include "baton/config.h"
#include "baton/loop.h"
#include "baton/pool.h"
#include "baton/sockets.h"
#include "baton/spawn.h"

#define RUN_ENV_EXTRA 16

struct runner;
struct sbx_policy;
struct ctl_server;
struct nipc_conn;

/* Worker entries the loop has room for (pool_settings.max_entries). */
#define RUN_MAX_PROCS (CFG_MAX_WORKERS * 3)

/* What the loop holds for each worker entry besides the pool's record. */
struct worker_io {
	struct runner *runner;
	int ready_fd;                 /* read end of the ready pipe, -1 */
	struct loop_watch ready_watch;
	int ipc_fd;                   /* Node cluster channel, -1 */
	int ipc_child_fd;             /* the worker's end until it is spawned, -1 */
	struct loop_watch ipc_watch;
	struct nipc_conn *ipc;
	pid_t mainpid;                /* MAINPID= from sd_notify, 0 */
};

struct runner {
	struct config *cfg;
	struct loop loop;
	struct pool pool;
	int sigfd;
	struct loop_watch sig_watch;

	int listen_fds[CFG_MAX_LISTEN];
	struct sock_spec listen_specs[CFG_MAX_LISTEN];
	int n_listen;
	int notify_fd;
	char notify_path[128];
	struct loop_watch notify_watch;
	struct sbx_policy *sandbox;
	struct ctl_server *control;

	char **env;
	size_t n_env_base;
	struct {
		char worker_id[32], workers[32], listen_fds[32], listen_pid[32];
		char listen_fdnames[CFG_MAX_LISTEN * 64 + 32];
		char ready_fd[32], notify[160];
		char node_fd[48], node_id[48], node_mode[64];
		char home[512], user[300], logname[300];
		char *node_options; /* NODE_OPTIONS with the drain preload, or NULL */
	} envs;

	struct worker_io io[RUN_MAX_PROCS]; /* by worker entry: the pool is bounded to it */
	bool exiting;
	int exit_status;
};

/* run.c */
void run_actions(struct runner *r);
void run_io_release(struct runner *r, int w);
char **run_env_for_hook(struct runner *r);
/* Signal the process group led by pid, or pid alone if it left its group (setsid). */
void run_signal_group(pid_t pid, int sig);

/* run_hooks.c: --pre-start (before the loop: RUN_GO_ON, or the status baton exits with,
 * having started nothing) and --pre-rollout (ACT_RUN_HOOK; its exit is reaped like a
 * worker's). */
#define RUN_GO_ON (-1)
int run_pre_start(struct runner *r);
void run_hook_rollout(struct runner *r);

/* run_modules.c: each returns quickly and never kills baton once the loop runs. */
int run_setup_extra(struct runner *r, char **envp);        /* 0, or an exit status */
bool run_env_overridden(const struct runner *r, const char *entry);
size_t run_env_extra(struct runner *r, int w, size_t n);     /* appends, returns new count */
int run_prepare_extra(struct runner *r, int w, struct spawn_request *req);
void run_after_spawn_extra(struct runner *r, int w, bool spawned);
void run_io_release_extra(struct runner *r, int w);
bool run_drain_extra(struct runner *r, int w);               /* true: drained by message */
void run_notify_extra(struct runner *r, const struct pool_action *a);
void run_shutdown_extra(struct runner *r);

/* run_node.c: the Node cluster primary (--node-cluster). */
int node_setup(struct runner *r, char **envp);              /* 0, or an exit status */
int node_prepare(struct runner *r, int w, struct spawn_request *req);
size_t node_env(struct runner *r, int w, size_t n);
void node_after_spawn(struct runner *r, int w, bool spawned);
void node_release(struct runner *r, int w);
bool node_drain(struct runner *r, int w);
void node_shutdown(struct runner *r);

#endif
