/*
 * Internal interface of the runner and its modules.
 *
 * run.c is the loop around the pure pool: it turns signals, exits and time into pool events,
 * and its post step (run after every event by the loop) carries out the pool's decisions in
 * one place. Everything optional is a module (struct run_module): the listening sockets,
 * readiness, the sandbox, the control socket, the Node cluster primary, the hook commands.
 * The runner walks the modules a configuration enables and never names one; a module owns its
 * state, feeds events to the pool and returns, and never calls the runner: what it needs of
 * the runner is data in struct runner.
 */
#ifndef BATON_RUN_INT_H
#define BATON_RUN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "baton/config.h"
#include "baton/loop.h"
#include "baton/pool.h"
#include "baton/sockets.h"
#include "baton/spawn.h"

/* Environment entries the runner and the modules may add to the inherited ones, at most. */
#define RUN_ENV_EXTRA 24

#define RUN_MAX_MODULES 16

struct sbx_policy;
struct run_module;

struct runner {
	struct config *cfg;
	struct loop loop;
	struct pool pool;
	struct loop_timer pool_timer; /* the pool's next deadline */
	int sigfd;                    /* every signal but faults, as data */
	struct loop_watch sig_watch;
	const struct run_module *mods[RUN_MAX_MODULES]; /* those this configuration enables */
	size_t n_mods;

	/* Facts one module sets up and others, or spawn, use. */
	int listen_fds[CFG_MAX_LISTEN]; /* the sockets module's, fds 3.. in every worker */
	struct sock_spec listen_specs[CFG_MAX_LISTEN];
	int n_listen;
	struct sbx_policy *sandbox;     /* the sandbox module's, NULL for none */
	uint64_t memory_limit;          /* the container's, in bytes (health module), 0 none */

	/* The environment: the inherited entries, then room for the runner's and modules'. */
	char **env;
	size_t n_env_base;

	bool exiting;
	int exit_status;
};

/*
 * A module: each entry point may be NULL. w is a worker index of the pool; the pool's entry
 * for it is valid for the duration of the call.
 */
struct run_module {
	const char *name;
	/* Whether this configuration uses the module at all. NULL: always. */
	bool (*wanted)(const struct config *cfg);
	/* Before any worker: bind, open, check. 0, or the status baton exits with (2 for a bad
	 * setting, 1 for a failure), having logged one line. Runs in the table's order. */
	int (*setup)(struct runner *r, char **envp);
	/* The inherited environment entry is one this module sets itself: drop it. */
	bool (*replaces_env)(const struct runner *r, const char *entry);
	/* Before a worker's fork: add its fds to req. 0, or -errno (logged): not started. */
	int (*prepare)(struct runner *r, int w, struct spawn_request *req);
	/* Append the module's entries for worker w (or, with w = -1, for a hook command, which
	 * gets no sockets and takes part in no readiness protocol); returns the new count. */
	size_t (*worker_env)(struct runner *r, int w, const struct spawn_request *req, char **env,
			     size_t n);
	/* The fork is done (spawned) or failed: keep or drop what prepare made. */
	void (*after_spawn)(struct runner *r, int w, pid_t pid, bool spawned);
	/* Worker w exited with wstatus (as from waitpid), before the pool hears of it. */
	void (*exited)(struct runner *r, int w, int wstatus);
	/* Worker w is gone: free what the module holds for it. */
	void (*release)(struct runner *r, int w);
	/* Drain worker w by a message instead of the drain signal: true when sent. */
	bool (*drain)(struct runner *r, int w);
	/* An action of the pool that the module carries out or follows (spawn and signals are
	 * the runner's). */
	void (*on_action)(struct runner *r, const struct pool_action *a);
	/* After every module's set-up, before the first worker: RUN_GO_ON, or the status baton
	 * exits with, having started nothing (--pre-start). */
	int (*before_start)(struct runner *r);
	/* baton exits: close, remove, free. Runs in reverse order. */
	void (*shutdown)(struct runner *r);
};

/* before_start's "go on". */
#define RUN_GO_ON (-1)

/* The modules, in set-up order (run_modules.c: a table, no code). */
extern const struct run_module *const run_modules[];
extern const size_t run_n_modules;

/* run_env.c: the environment of the workers and hook commands. */
/* Keep the inherited entries that neither baton nor an enabled module sets. 0 or -ENOMEM. */
int run_env_init(struct runner *r, char **envp);
/* The environment of worker w (or of a hook command, w = -1, req NULL) in r->env,
 * NULL-terminated: valid until the next call. */
char **run_env_build(struct runner *r, int w, const struct spawn_request *req);

/* run_table.c: a per-worker table a module keeps (table: the address of its pointer to
 * elem-sized entries), grown to hold index w, and the pool's capacity `want`, with new entries
 * zeroed. 0, or -ENOMEM (the table is unchanged). */
int run_table_reserve(void *table, size_t elem, int *cap, int w, int want);

#endif
