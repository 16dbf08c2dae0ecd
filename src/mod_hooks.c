/*
 * mod_hooks: one-time work around the workers. --pre-start runs once, before the first
 * worker; --pre-rollout before each rollout. Both run as a worker would (its user, sandbox and
 * environment, its own process group), but without the listening sockets, and are bounded by
 * --ready-timeout, after which they are SIGKILLed and count as failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baton/log.h"
#include "run_int.h"

/* Spawn CMD like a worker, in the foreground of nothing, with no inherited fds. */
static int spawn_hook(struct runner *r, const char *what, const char *cmd, pid_t *pid)
{
	char buf[CFG_HOOK_MAX];
	char *argv[CFG_HOOK_WORDS];
	struct spawn_request req = {
		.argv = argv,
		.envp = run_env_build(r, -1, NULL),
		.ready_fd = -1,
		.ipc_fd = -1,
		.sandbox = r->sandbox,
	};
	struct spawn_result res;

	/* Checked by the config already: cannot fail here. */
	if (cfg_hook_argv(cmd, buf, sizeof(buf), argv, CFG_HOOK_WORDS) < 0)
		return -EINVAL;
	if (spawn_worker(&req, &res) < 0) {
		if (strcmp(res.step, "exec") == 0)
			log_error("%s: cannot run '%s': %s", what, argv[0], strerror(-res.err));
		else
			log_error("%s: could not be started: %s failed: %s", what, res.step,
				  strerror(-res.err));
		return res.err;
	}
	log_info("%s: running '%s' (pid %d)", what, cmd, (int)res.pid);
	*pid = res.pid;
	return 0;
}

/*
 * Before the loop runs, nothing else needs baton: wait for the command with sigtimedwait on
 * the signals that are blocked anyway, reaping whatever exits. Every signal is passed on to the
 * command; after SIGTERM or SIGINT nothing is started, whatever its status.
 */
static int pre_start(struct runner *r)
{
	sigset_t all;
	int64_t deadline = loop_now_ms() + r->cfg->ready_timeout_ms;
	bool killed = false;
	int stop_sig = 0;
	pid_t pid;
	int err = spawn_hook(r, "--pre-start", r->cfg->pre_start, &pid);

	if (err < 0)
		return pool_spawn_error_status(err);
	sigfillset(&all);
	for (;;) {
		siginfo_t si;
		struct timespec ts;
		int64_t left;
		pid_t got;
		int wstatus, sig;

		while ((got = waitpid(-1, &wstatus, WNOHANG)) > 0) {
			int code = pool_status_code(wstatus);

			if (got != pid)
				continue;
			/* Dying of the stop signal passed on is how a stop ends, as for a worker. */
			if (stop_sig && (code == 0 || code == 128 + stop_sig)) {
				log_info("--pre-start: stopped; starting nothing");
				return 0;
			}
			if (code != 0) {
				char how[64];

				pool_describe_status(how, sizeof(how), code);
				log_error("--pre-start: the command %s; starting nothing", how);
				return code;
			}
			log_info("--pre-start: done");
			return RUN_GO_ON;
		}
		left = deadline - loop_now_ms();
		if (left <= 0 && !killed) {
			log_warn("--pre-start: the command (pid %d) still running after %lld ms "
				 "(--ready-timeout); sending SIGKILL",
				 (int)pid, (long long)r->cfg->ready_timeout_ms);
			spawn_signal_group(pid, SIGKILL);
			killed = true;
		}
		if (left <= 0)
			left = 1000; /* SIGKILL is not ignored: its SIGCHLD comes */
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		sig = sigtimedwait(&all, &si, &ts);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			char name[16];

			stop_sig = sig;
			log_info("--pre-start: received SIG%s; passing it on",
				 cfg_signal_name(sig, name, sizeof(name)));
		}
		spawn_signal_group(pid, sig);
	}
}

static bool wanted(const struct config *cfg)
{
	return cfg->pre_start || cfg->pre_rollout;
}

static int before_start(struct runner *r)
{
	return r->cfg->pre_start ? pre_start(r) : RUN_GO_ON;
}

/* ACT_RUN_HOOK: its exit arrives as any child's, through the pool. */
static void on_action(struct runner *r, const struct pool_action *a)
{
	pid_t pid = 0;
	int err;

	if (a->kind != ACT_RUN_HOOK)
		return;
	err = spawn_hook(r, "--pre-rollout", r->cfg->pre_rollout, &pid);
	pool_hook_started(&r->pool, pid, err, loop_now_ms());
}

const struct run_module mod_hooks = {
	.name = "hooks",
	.wanted = wanted,
	.before_start = before_start,
	.on_action = on_action,
};
