/*
 * mod_sandbox: the workers' sandbox (user, capabilities, no_new_privs, seccomp), prepared once
 * before anything starts, and baton's own capabilities, cut to what it still needs once every
 * socket is bound.
 */
#include <stdio.h>
#include <string.h>

#include "baton/log.h"
#include "baton/sandbox.h"
#include "run_int.h"

/* HOME, USER and LOGNAME of the workers' user, when --user names one. */
static struct {
	char home[SBX_HOME_MAX + sizeof("HOME=")];
	char user[SBX_NAME_MAX + sizeof("USER=")], logname[SBX_NAME_MAX + sizeof("LOGNAME=")];
} envs;

static int setup(struct runner *r, char **envp)
{
	char err[512], desc[256];

	(void)envp;
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
		snprintf(envs.home, sizeof(envs.home), "HOME=%s", sbx_home(r->sandbox));
		snprintf(envs.user, sizeof(envs.user), "USER=%s", sbx_user_name(r->sandbox));
		snprintf(envs.logname, sizeof(envs.logname), "LOGNAME=%s",
			 sbx_user_name(r->sandbox));
	}
	return 0;
}

static bool replaces_env(const struct runner *r, const char *entry)
{
	(void)r;
	if (!envs.home[0])
		return false;
	return strncmp(entry, "HOME=", 5) == 0 || strncmp(entry, "USER=", 5) == 0 ||
	       strncmp(entry, "LOGNAME=", 8) == 0;
}

static size_t worker_env(struct runner *r, int w, const struct spawn_request *req, char **env,
			 size_t n)
{
	(void)r, (void)w, (void)req;
	if (envs.home[0]) {
		env[n++] = envs.home;
		env[n++] = envs.user;
		env[n++] = envs.logname;
	}
	return n;
}

/* Every socket is bound: from here on baton keeps only what it needs to run workers (and to
 * bind on demand for Node's cluster workers). */
static int before_start(struct runner *r)
{
	char err[512];

	if (sbx_restrict_self(r->sandbox, r->cfg->node_cluster, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	return RUN_GO_ON;
}

static void close_module(struct runner *r)
{
	sbx_free(r->sandbox);
	r->sandbox = NULL;
}

const struct run_module mod_sandbox = {
	.name = "sandbox",
	.setup = setup,
	.replaces_env = replaces_env,
	.worker_env = worker_env,
	.before_start = before_start,
	.shutdown = close_module,
};
