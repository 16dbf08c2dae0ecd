/*
 * The supervisor and its rollout as data: each case is a script of events and, after each
 * event, the actions the pool must decide (log lines aside), written as a string:
 *
 *   spawn(W)        spawn worker entry W
 *   drain(PID,SIG)  first step of the stop sequence
 *   sig(PID,SIG)    a signal to a worker's process group
 *   orphans(SIG)    a signal to every remaining process
 *   rollout(S)      a rollout ended with status S (0 ok)
 *   stopped         every worker is gone after a stop
 *   exit(S)         baton exits with S
 *
 * Spawned workers get pids 101, 102, ... in the order of the OK event.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "baton/pool.h"
#include "../../src/pool_int.h" /* pool_emit, for the queue case */

enum ev {
	START,
	OK,        /* every pending spawn succeeds */
	SPAWNFAIL, /* the first pending spawn fails with -a */
	EXIT,      /* pid a exits with code b (b >= 128: signal b-128) */
	READY,     /* pid a reports ready */
	SIG,       /* baton receives signal a */
	TIME,      /* a ms pass */
	GONE,      /* no child left */
	RELOAD,
	SCALE,     /* to a workers */
	KILLED,    /* the end of a stop SIGKILLed a processes besides the workers */
	HOOK,      /* the --pre-rollout command was spawned as pid a (0: failed with -b) */
	END,
};

struct step {
	enum ev ev;
	int a, b;
	const char *expect;
};

struct tcase {
	const char *name;
	void (*tune)(struct pool_settings *s);
	struct step steps[40];
};

static void defaults(struct pool_settings *s)
{
	*s = (struct pool_settings){
		.workers = 2,
		.restart = RESTART_ON_FAILURE,
		.max_restarts = 10,
		.restart_window_ms = 60000,
		.drain_signal = SIGTERM,
		.drain_timeout_ms = 30000,
		.term_timeout_ms = 10000,
		.ready_by_delay = true,
		.ready_delay_ms = 1000,
		.ready_timeout_ms = 60000,
		.reload_signal = SIGHUP,
	};
}

static struct pool pool;

/* A fresh pool for each test: the previous one's tables are freed first. */
static void fresh(const struct pool_settings *s)
{
	pool_free(&pool);
	assert_int_equal(pool_init(&pool, s), 0);
}

static void describe(char *out, size_t len)
{
	struct pool_action a;
	size_t n = 0;

	out[0] = '\0';
	while (pool_next_action(&pool, &a)) {
		char item[64] = "";

		switch (a.kind) {
		case ACT_SPAWN:
			snprintf(item, sizeof(item), "spawn(%d)", a.worker);
			break;
		case ACT_DRAIN:
			snprintf(item, sizeof(item), "drain(%d,%d)", (int)a.pid, a.sig);
			break;
		case ACT_SIGNAL:
			snprintf(item, sizeof(item), "sig(%d,%d)", (int)a.pid, a.sig);
			break;
		case ACT_SIGNAL_ORPHANS:
			snprintf(item, sizeof(item), "orphans(%d)", a.sig);
			break;
		case ACT_ROLLOUT_DONE:
			snprintf(item, sizeof(item), "rollout(%d)", a.status);
			break;
		case ACT_WORKERS_STOPPED:
			snprintf(item, sizeof(item), "stopped");
			break;
		case ACT_EXIT:
			snprintf(item, sizeof(item), "exit(%d)", a.status);
			break;
		case ACT_RUN_HOOK:
			snprintf(item, sizeof(item), "hook");
			break;
		case ACT_LOG:
			continue;
		}
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", item);
	}
}

static int wstatus_of(int code)
{
	return code >= 128 ? (code - 128) : (code << 8);
}

static void run_case(const struct tcase *c)
{
	struct pool_settings s;
	int64_t now = 1000000;
	pid_t next_pid = 101;

	defaults(&s);
	if (c->tune)
		c->tune(&s);
	fresh(&s);
	for (int i = 0; c->steps[i].ev != END; i++) {
		const struct step *st = &c->steps[i];
		char got[1024], err[128];

		switch (st->ev) {
		case START:
			pool_start(&pool, now);
			break;
		case OK:
			for (int w = 0; w < pool_capacity(&pool); w++)
				if (pool.workers[w].state == WS_SPAWNING)
					pool_spawned(&pool, w, next_pid++, 0, now);
			break;
		case SPAWNFAIL:
			for (int w = 0; w < pool_capacity(&pool); w++) {
				if (pool.workers[w].state == WS_SPAWNING) {
					pool_spawned(&pool, w, 0, -st->a, now);
					break;
				}
			}
			break;
		case EXIT:
			pool_exited(&pool, st->a, wstatus_of(st->b), now);
			break;
		case READY:
			pool_ready(&pool, st->a, now);
			break;
		case SIG:
			pool_signal(&pool, st->a, now);
			break;
		case TIME:
			now += st->a;
			pool_tick(&pool, now);
			break;
		case GONE:
			pool_children_gone(&pool, now);
			break;
		case RELOAD:
			pool_reload(&pool, now, err, sizeof(err));
			break;
		case SCALE:
			pool_scale(&pool, st->a, now, err, sizeof(err));
			break;
		case KILLED:
			pool_orphans_killed(&pool, st->a);
			break;
		case HOOK:
			pool_hook_started(&pool, st->a, st->a ? 0 : -st->b, now);
			break;
		case END:
			break;
		}
		describe(got, sizeof(got));
		if (strcmp(got, st->expect) != 0)
			fail_msg("case '%s', step %d: expected '%s', got '%s'", c->name, i, st->expect,
				 got);
	}
}

static void one_worker(struct pool_settings *s) { s->workers = 1; }
static void never(struct pool_settings *s) { s->workers = 1; s->restart = RESTART_NEVER; }
static void always(struct pool_settings *s) { s->workers = 1; s->restart = RESTART_ALWAYS; }
static void guard2(struct pool_settings *s) { s->workers = 1; s->max_restarts = 2; }
static void usr1_drain(struct pool_settings *s)
{
	s->workers = 1;
	s->drain_signal = SIGUSR1;
	s->drain_timeout_ms = 500;
	s->term_timeout_ms = 700;
}
static void ipc_drain(struct pool_settings *s)
{
	s->workers = 1;
	s->drain_by_ipc = true;
}
static void stop_delay(struct pool_settings *s) { s->workers = 1; s->stop_delay_ms = 5000; }
static void by_message(struct pool_settings *s)
{
	s->ready_by_delay = false;
	s->ready_timeout_ms = 3000;
}
static void tty(struct pool_settings *s) { s->workers = 1; s->tty_foreground = true; }
static void mapped(struct pool_settings *s)
{
	s->signal_map[SIGUSR1] = SIGUSR2;
	s->signal_map[SIGWINCH] = CFG_SIG_DROP;
}
static void reload_usr2(struct pool_settings *s) { s->reload_signal = SIGUSR2; }
static void reload_none(struct pool_settings *s) { s->reload_signal = 0; }
static void exit_143_is_0(struct pool_settings *s)
{
	s->workers = 1;
	s->exit_map[143] = 0 + 1;
}
static void exit_137_is_3(struct pool_settings *s)
{
	s->workers = 1;
	s->exit_map[137] = 3 + 1;
}
static void pre_rollout(struct pool_settings *s)
{
	s->pre_rollout = true;
	s->hook_timeout_ms = 5000;
}
static void pre_rollout1(struct pool_settings *s)
{
	pre_rollout(s);
	s->workers = 1;
}
static void stop10(struct pool_settings *s) { s->workers = 1; s->stop_timeout_ms = 10000; }
static void stop4(struct pool_settings *s) { s->workers = 1; s->stop_timeout_ms = 4000; }
static void stop10_delay7(struct pool_settings *s)
{
	stop10(s);
	s->stop_delay_ms = 7000;
}
static void stop10_usr1(struct pool_settings *s)
{
	stop10(s);
	s->drain_signal = SIGUSR1;
	s->drain_timeout_ms = 6000;
	s->term_timeout_ms = 6000;
}

static const struct tcase cases[] = {
	{ "start, ready, idle", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" },
		{ OK, 0, 0, "" },
		{ TIME, 1000, 0, "" },
		{ END, 0, 0, NULL } } },
	{ "crash after ready restarts at once", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ EXIT, 101, 128 + SIGKILL, "" },
		{ TIME, 0, 0, "spawn(0)" },
		{ OK, 0, 0, "" },
		{ END, 0, 0, NULL } } },
	{ "deaths before ready back off 100, 200, 400 ms", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 101, 1, "" }, { TIME, 99, 0, "" }, { TIME, 1, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 102, 1, "" }, { TIME, 199, 0, "" }, { TIME, 1, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 103, 1, "" }, { TIME, 399, 0, "" }, { TIME, 1, 0, "spawn(0)" }, { OK, 0, 0, "" },
		/* ready: the backoff resets */
		{ TIME, 1000, 0, "" }, { EXIT, 104, 1, "" }, { TIME, 0, 0, "spawn(0)" },
		{ END, 0, 0, NULL } } },
	{ "crash-loop guard exits with the worker's status", guard2, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 101, 7, "" }, { TIME, 100, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 102, 7, "" }, { TIME, 200, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 103, 7, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(7)" },
		{ END, 0, 0, NULL } } },
	{ "exit 0 is done with on-failure; the pool ends with it", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 101, 0, "orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "restart never: a crash ends the pool with its status", never, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 101, 3, "orphans(15)" },
		{ GONE, 0, 0, "exit(3)" },
		{ END, 0, 0, NULL } } },
	{ "restart always restarts a clean exit", always, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ EXIT, 101, 0, "" }, { TIME, 0, 0, "spawn(0)" },
		{ END, 0, 0, NULL } } },
	{ "stop: drain all, SIGKILL the one that stays, exit 137", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15) drain(102,15)" },
		{ EXIT, 101, 128 + SIGTERM, "" },
		{ TIME, 29999, 0, "" },
		{ TIME, 1, 0, "sig(102,9)" },
		{ EXIT, 102, 128 + SIGKILL, "stopped orphans(15)" },
		{ TIME, 10000, 0, "orphans(9)" },
		{ GONE, 0, 0, "exit(137)" },
		{ END, 0, 0, NULL } } },
	{ "stop: killed by TERM and exit 0 both count as clean", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" },
		{ SIG, SIGINT, 0, "drain(101,15) drain(102,15)" },
		{ EXIT, 101, 128 + SIGTERM, "" },
		{ EXIT, 102, 0, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "drain signal other than TERM escalates to TERM then KILL", usr1_drain, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,10)" },
		{ TIME, 500, 0, "sig(101,15)" },
		{ TIME, 700, 0, "sig(101,9)" },
		{ EXIT, 101, 128 + SIGKILL, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(137)" },
		{ END, 0, 0, NULL } } },
	{ "a drain by message is always followed by TERM", ipc_drain, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ TIME, 30000, 0, "sig(101,15)" },
		{ EXIT, 101, 128 + SIGTERM, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "a second TERM skips to the next step", usr1_drain, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,10)" },
		{ SIG, SIGTERM, 0, "sig(101,15)" },
		{ SIG, SIGINT, 0, "sig(101,9)" },
		{ END, 0, 0, NULL } } },
	{ "stop delay keeps serving, a second TERM skips it", stop_delay, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "" },
		{ TIME, 4999, 0, "" },
		{ TIME, 1, 0, "drain(101,15)" },
		{ END, 0, 0, NULL } } },
	{ "stop delay, skipped", stop_delay, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ END, 0, 0, NULL } } },
	{ "orphans that outlive TERM get KILL", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ EXIT, 101, 0, "stopped orphans(15)" },
		{ SIG, SIGTERM, 0, "orphans(9)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "a command that cannot be executed exits 127 at once", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" },
		{ SPAWNFAIL, ENOENT, 0, "" },
		{ SPAWNFAIL, ENOENT, 0, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(127)" },
		{ END, 0, 0, NULL } } },
	{ "not executable exits 126", one_worker, {
		{ START, 0, 0, "spawn(0)" },
		{ SPAWNFAIL, EACCES, 0, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(126)" },
		{ END, 0, 0, NULL } } },
	{ "Ctrl-C on the terminal's worker stops baton with 130", tty, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ EXIT, 101, 128 + SIGINT, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(130)" },
		{ END, 0, 0, NULL } } },
	{ "forwarded signals reach every worker", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" },
		{ SIG, SIGUSR1, 0, "sig(101,10) sig(102,10)" },
		{ END, 0, 0, NULL } } },

	/* ---- --stop-timeout: the phases are cut to fit, in order ---- */
	{ "stop-timeout 10s: a 30 s drain is cut, everything is over by 10 s", stop10, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		/* the workers' phases end 2 s (the reserve) before the deadline */
		{ TIME, 7999, 0, "" },
		{ TIME, 1, 0, "sig(101,9)" },
		{ EXIT, 101, 128 + SIGKILL, "stopped orphans(15)" },
		/* the other processes' SIGTERM gets what is left but half the reserve */
		{ TIME, 999, 0, "" },
		{ TIME, 1, 0, "orphans(9)" },
		/* a process stuck in the kernel does not keep baton past its deadline */
		{ TIME, 999, 0, "" },
		{ TIME, 1, 0, "exit(137)" },
		{ END, 0, 0, NULL } } },
	{ "stop-timeout 4s: the reserve is a quarter of it", stop4, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ TIME, 2999, 0, "" },
		{ TIME, 1, 0, "sig(101,9)" },
		{ EXIT, 101, 128 + SIGKILL, "stopped orphans(15)" },
		{ TIME, 500, 0, "orphans(9)" },
		{ GONE, 0, 0, "exit(137)" },
		{ END, 0, 0, NULL } } },
	{ "stop-timeout: the stop delay comes first, the drain gets what is left", stop10_delay7, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "" },
		{ TIME, 7000, 0, "drain(101,15)" },
		{ TIME, 1000, 0, "sig(101,9)" },
		{ EXIT, 101, 128 + SIGKILL, "stopped orphans(15)" },
		{ END, 0, 0, NULL } } },
	{ "stop-timeout: the drain keeps its length, the SIGTERM step is cut", stop10_usr1, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,10)" },
		{ TIME, 6000, 0, "sig(101,15)" },
		{ TIME, 2000, 0, "sig(101,9)" },
		{ END, 0, 0, NULL } } },
	{ "stop-timeout: a quick stop leaves the other processes their SIGTERM time", stop10, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ EXIT, 101, 128 + SIGTERM, "stopped orphans(15)" },
		{ TIME, 8999, 0, "" },
		{ TIME, 1, 0, "orphans(9)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "stop-timeout: a retiring worker's drain is cut by a stop", stop10, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "spawn(1)" }, { OK, 0, 0, "" },
		{ TIME, 1000, 0, "drain(101,15)" },
		{ TIME, 20000, 0, "" },
		{ SIG, SIGTERM, 0, "rollout(1) drain(102,15)" },
		{ TIME, 8000, 0, "sig(101,9) sig(102,9)" },
		{ END, 0, 0, NULL } } },

	{ "other processes SIGKILLed at the end of a stop: exit 137", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ EXIT, 101, 128 + SIGTERM, "stopped orphans(15)" },
		{ TIME, 10000, 0, "orphans(9)" },
		{ KILLED, 2, 0, "" },
		{ GONE, 0, 0, "exit(137)" },
		{ END, 0, 0, NULL } } },
	{ "... but a worker's own failure status stays", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ EXIT, 101, 3, "stopped orphans(15)" },
		{ TIME, 10000, 0, "orphans(9)" },
		{ KILLED, 1, 0, "" },
		{ GONE, 0, 0, "exit(3)" },
		{ END, 0, 0, NULL } } },

	/* ---- --signal-map, --reload-signal, --exit-map ---- */
	{ "signal map: USR1 is sent as USR2, WINCH is dropped, others as they are", mapped, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" },
		{ SIG, SIGUSR1, 0, "sig(101,12) sig(102,12)" },
		{ SIG, SIGWINCH, 0, "" },
		{ SIG, SIGQUIT, 0, "sig(101,3) sig(102,3)" },
		{ END, 0, 0, NULL } } },
	{ "reload signal USR2: USR2 rolls the pool, HUP is forwarded", reload_usr2, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "sig(101,1) sig(102,1)" },
		{ SIG, SIGUSR2, 0, "spawn(2)" },
		{ END, 0, 0, NULL } } },
	{ "reload signal none: HUP is forwarded, ctl reload still rolls", reload_none, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "sig(101,1) sig(102,1)" },
		{ RELOAD, 0, 0, "spawn(2)" },
		{ END, 0, 0, NULL } } },
	{ "exit map 143:0: a worker's own SIGTERM is a success, not restarted", exit_143_is_0, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ EXIT, 101, 128 + SIGTERM, "orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "exit map 137:3: baton's own status after a SIGKILL in the stop", exit_137_is_3, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "drain(101,15)" },
		{ TIME, 30000, 0, "sig(101,9)" },
		{ EXIT, 101, 128 + SIGKILL, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(3)" },
		{ END, 0, 0, NULL } } },

	/* ---- --pre-rollout ---- */
	{ "pre-rollout: the command runs first, then the rollout", pre_rollout, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "hook" }, { HOOK, 900, 0, "" },
		/* reloads meanwhile are taken in by the rollout that follows */
		{ RELOAD, 0, 0, "" }, { SIG, SIGHUP, 0, "" },
		{ EXIT, 900, 0, "spawn(2)" },
		{ END, 0, 0, NULL } } },
	{ "pre-rollout fails: no rollout, the workers keep serving", pre_rollout, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "hook" }, { HOOK, 900, 0, "" },
		{ EXIT, 900, 4, "rollout(1)" },
		{ TIME, 60000, 0, "" },
		{ SIG, SIGUSR1, 0, "sig(101,10) sig(102,10)" },
		/* the next reload runs it again */
		{ RELOAD, 0, 0, "hook" },
		{ END, 0, 0, NULL } } },
	{ "pre-rollout cannot be run: a failure too", pre_rollout, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "hook" }, { HOOK, 0, ENOENT, "rollout(1)" },
		{ END, 0, 0, NULL } } },
	{ "pre-rollout past its timeout: SIGKILL, a failure", pre_rollout, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "hook" }, { HOOK, 900, 0, "" },
		{ TIME, 4999, 0, "" },
		{ TIME, 1, 0, "sig(900,9)" },
		{ EXIT, 900, 128 + SIGKILL, "rollout(1)" },
		{ END, 0, 0, NULL } } },
	{ "pre-rollout: a stop cancels it", pre_rollout, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "hook" }, { HOOK, 900, 0, "" },
		{ SIG, SIGTERM, 0, "rollout(1) sig(900,15) drain(101,15) drain(102,15)" },
		{ EXIT, 900, 128 + SIGTERM, "" },
		{ EXIT, 101, 0, "" }, { EXIT, 102, 0, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "pre-rollout: a reload during the rollout runs the command again", pre_rollout1, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "hook" }, { HOOK, 900, 0, "" }, { EXIT, 900, 0, "spawn(1)" },
		{ OK, 0, 0, "" }, { RELOAD, 0, 0, "" },
		{ TIME, 1000, 0, "drain(101,15)" },
		{ EXIT, 101, 0, "rollout(0) hook" },
		{ END, 0, 0, NULL } } },

	/* ---- rollout ---- */
	{ "rollout: one slot at a time, new ready before old drains", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "spawn(2)" }, { OK, 0, 0, "" },
		/* the candidate (103) is spared forwarded signals until it is ready */
		{ SIG, SIGUSR2, 0, "sig(101,12) sig(102,12)" },
		{ TIME, 1000, 0, "drain(101,15)" },
		{ EXIT, 101, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ TIME, 1000, 0, "drain(102,15)" },
		{ EXIT, 102, 128 + SIGTERM, "rollout(0)" },
		{ SIG, SIGUSR2, 0, "sig(104,12) sig(103,12)" },
		{ END, 0, 0, NULL } } },
	{ "rollout with one worker", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ RELOAD, 0, 0, "spawn(1)" }, { OK, 0, 0, "" },
		{ TIME, 1000, 0, "drain(101,15)" },
		{ EXIT, 101, 0, "rollout(0)" },
		{ END, 0, 0, NULL } } },
	{ "rollout: new version exits: rollback, old workers untouched", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "spawn(2)" }, { OK, 0, 0, "" },
		{ EXIT, 103, 1, "rollout(1)" },
		{ TIME, 60000, 0, "" },
		{ SIG, SIGUSR1, 0, "sig(101,10) sig(102,10)" },
		{ END, 0, 0, NULL } } },
	{ "rollout: new version never ready: stopped, rollback", by_message, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" },
		{ READY, 101, 0, "" }, { READY, 102, 0, "" },
		{ RELOAD, 0, 0, "spawn(2)" }, { OK, 0, 0, "" },
		{ TIME, 3000, 0, "drain(103,15) rollout(1)" },
		{ EXIT, 103, 128 + SIGTERM, "" },
		{ END, 0, 0, NULL } } },
	{ "rollout: reloads during a rollout coalesce into one more", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "spawn(1)" }, { OK, 0, 0, "" },
		{ SIG, SIGHUP, 0, "" }, { SIG, SIGHUP, 0, "" }, { RELOAD, 0, 0, "" },
		{ TIME, 1000, 0, "drain(101,15)" },
		/* the step ends: one more rollout from the first slot */
		{ EXIT, 101, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ TIME, 1000, 0, "drain(102,15)" },
		{ EXIT, 102, 0, "rollout(0)" },
		{ END, 0, 0, NULL } } },
	{ "rollout: a stop cancels it and stops everything", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "spawn(2)" }, { OK, 0, 0, "" },
		{ SIG, SIGTERM, 0, "rollout(1) drain(101,15) drain(102,15) drain(103,15)" },
		{ EXIT, 101, 0, "" }, { EXIT, 102, 0, "" }, { EXIT, 103, 0, "stopped orphans(15)" },
		{ GONE, 0, 0, "exit(0)" },
		{ END, 0, 0, NULL } } },
	{ "rollout: a crash of the new version follows the backoff", one_worker, {
		{ START, 0, 0, "spawn(0)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SIG, SIGHUP, 0, "spawn(1)" }, { OK, 0, 0, "" },
		{ TIME, 1000, 0, "drain(101,15)" }, { EXIT, 101, 0, "rollout(0)" },
		{ EXIT, 102, 1, "" }, { TIME, 0, 0, "spawn(0)" }, { OK, 0, 0, "" },
		{ EXIT, 103, 1, "" }, { TIME, 99, 0, "" }, { TIME, 1, 0, "spawn(0)" },
		{ END, 0, 0, NULL } } },

	/* ---- scale ---- */
	{ "scale up and down", NULL, {
		{ START, 0, 0, "spawn(0) spawn(1)" }, { OK, 0, 0, "" }, { TIME, 1000, 0, "" },
		{ SCALE, 3, 0, "spawn(2)" }, { OK, 0, 0, "" },
		{ SCALE, 1, 0, "drain(102,15) drain(103,15)" },
		{ EXIT, 102, 0, "" }, { EXIT, 103, 0, "" },
		{ SIG, SIGUSR1, 0, "sig(101,10)" },
		{ END, 0, 0, NULL } } },
};

/* Each case is a test of its own, named by its description (see main). */
static void test_case(void **state)
{
	run_case(*state);
}

/* What the start-up warning compares with --stop-timeout. */
static void test_stop_needs(void **state)
{
	struct pool_settings s;

	(void)state;
	defaults(&s);
	s.stop_timeout_ms = 10000;
	assert_int_equal(pool_stop_reserve_ms(10000), 2000);
	assert_int_equal(pool_stop_reserve_ms(4000), 1000);
	assert_int_equal(pool_stop_reserve_ms(60000), 2000);
	/* SIGTERM is the drain: no separate SIGTERM step */
	assert_int_equal(pool_stop_needs_ms(&s), 30000 + 2000);
	s.drain_timeout_ms = 6000;
	s.stop_delay_ms = 2000;
	assert_int_equal(pool_stop_needs_ms(&s), 10000);
	s.drain_signal = SIGQUIT;
	assert_int_equal(pool_stop_needs_ms(&s), 20000);
	s.drain_signal = SIGTERM;
	s.drain_by_ipc = true;
	assert_int_equal(pool_stop_needs_ms(&s), 20000);
}

static void test_backoff_table(void **state)
{
	static const int64_t want[] = { 100, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000 };

	(void)state;
	for (int streak = 1; streak < 10; streak++)
		assert_int_equal(pool_backoff_ms(streak), want[streak]);
	assert_int_equal(pool_backoff_ms(1000), 10000);
}

static void test_status_codes(void **state)
{
	(void)state;
	assert_int_equal(pool_status_code(3 << 8), 3);
	assert_int_equal(pool_status_code(SIGKILL), 137);
	assert_int_equal(pool_status_code(SIGTERM), 143);
}

/* With every worker ready and nothing pending, nothing is scheduled: baton sleeps. */
static void test_idle_has_no_deadline(void **state)
{
	struct pool_settings s;

	(void)state;
	defaults(&s);
	fresh(&s);
	pool_start(&pool, 0);
	for (int w = 0; w < 2; w++)
		pool_spawned(&pool, w, 200 + w, 0, 0);
	assert_int_equal(pool_next_deadline(&pool), 1000);
	pool_tick(&pool, 1000);
	assert_int_equal(pool_next_deadline(&pool), -1);
}

/* The action queue grows when full and never overwrites: a burst far larger than its first
 * size comes out whole and in order, across the wrap of the ring. */
static void test_queue_grows_and_keeps_every_action(void **state)
{
	struct pool_settings s;
	struct pool_action a;
	char want[32];
	int n = 0;

	(void)state;
	defaults(&s);
	fresh(&s);
	/* move the head off the front, so that the growth has a wrapped ring to unroll */
	for (int i = 0; i < 5; i++)
		pool_emit_log(&pool, LOG_INFO, "x");
	for (int i = 0; i < 3; i++)
		assert_true(pool_next_action(&pool, &a));
	for (int i = 0; i < 5000; i++)
		pool_emit_log(&pool, LOG_INFO, "filler %d", i);
	pool_emit(&pool, ACT_EXIT)->status = 7;
	assert_true(pool_next_action(&pool, &a));
	assert_true(pool_next_action(&pool, &a));
	assert_string_equal(a.msg, "x");
	while (pool_next_action(&pool, &a)) {
		if (n < 5000) {
			snprintf(want, sizeof(want), "filler %d", n);
			assert_string_equal(a.msg, want);
		}
		n++;
	}
	assert_int_equal(n, 5001);
	assert_int_equal(a.kind, ACT_EXIT);
	assert_int_equal(a.status, 7);
	assert_string_equal(a.msg, "");
	assert_int_equal(pool.act_dropped, 0);
}

/* The worker entries grow when every one is taken (workers slow to go while the pool is
 * scaled up and down): indices stay valid, pids are still found. */
static void test_worker_entries_grow(void **state)
{
	struct pool_settings s;
	struct pool_action a;
	char err[128];
	pid_t pid = 500;
	bool refused = false;
	int cap;

	(void)state;
	defaults(&s);
	s.workers = 1;
	fresh(&s);
	cap = pool_capacity(&pool);
	assert_int_equal(cap, 2);
	pool_start(&pool, 0);
	pool_spawned(&pool, 0, pid++, 0, 0);
	while (pool_next_action(&pool, &a))
		;
	/* each scale down leaves a worker draining; each scale up needs a new entry */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pool_scale(&pool, 2, 0, err, sizeof(err)), 0);
		while (pool_next_action(&pool, &a))
			if (a.kind == ACT_SPAWN)
				pool_spawned(&pool, a.worker, pid++, 0, 0);
		assert_int_equal(pool_scale(&pool, 1, 0, err, sizeof(err)), 0);
		while (pool_next_action(&pool, &a))
			;
	}
	assert_true(pool_capacity(&pool) >= 21);
	for (pid_t p = 500; p < pid; p++) {
		int w = pool_find(&pool, p);

		assert_true(w >= 0 && w < pool_capacity(&pool));
		assert_int_equal(pool.workers[w].pid, p);
	}
	assert_int_equal(pool_find(&pool, pid), -1);
	/* a bound on the entries: the spawn that finds none is refused, as before */
	defaults(&s);
	s.workers = 2;
	s.max_entries = 2;
	fresh(&s);
	pool_start(&pool, 0);
	pool_spawned(&pool, 0, 101, 0, 0);
	pool_spawned(&pool, 1, 102, 0, 0);
	pool_tick(&pool, 1000);
	while (pool_next_action(&pool, &a))
		;
	assert_int_equal(pool_reload(&pool, 1000, err, sizeof(err)), 0);
	while (pool_next_action(&pool, &a)) {
		assert_int_not_equal(a.kind, ACT_SPAWN);
		if (a.kind == ACT_ROLLOUT_DONE) {
			assert_int_equal(a.status, 1);
			assert_string_equal(a.msg, "no room for a new worker");
			refused = true;
		}
	}
	assert_true(refused);
	assert_int_equal(pool_capacity(&pool), 2);
}

/* pool_find over many workers and many pids that are not: every worker found, none other. */
static void test_find_many(void **state)
{
	struct pool_settings s;

	(void)state;
	defaults(&s);
	s.workers = 1000;
	fresh(&s);
	pool_start(&pool, 0);
	for (int w = 0; w < 1000; w++)
		pool_spawned(&pool, w, 40000 + 7 * w, 0, 0);
	for (int w = 0; w < 1000; w++)
		assert_int_equal(pool_find(&pool, 40000 + 7 * w), w);
	for (pid_t p = 1; p < 100000; p++)
		if (p < 40000 || (p - 40000) % 7 != 0 || p >= 40000 + 7 * 1000)
			assert_int_equal(pool_find(&pool, p), -1);
	/* half of them exit: the others are still found (deletion keeps the probes whole) */
	for (int w = 0; w < 1000; w += 2)
		pool_exited(&pool, 40000 + 7 * w, 0, 0);
	for (int w = 0; w < 1000; w++)
		assert_int_equal(pool_find(&pool, 40000 + 7 * w), w % 2 ? w : -1);
}

/* A rollback says how the new version ended, in the words of the exit lines: a signal by its
 * name, a status by its number; the reply to `reload --wait` carries the same words. */
struct end_case {
	int code;
	const char *want;
};

static const struct end_case ends[] = {
	{ 128 + SIGSEGV, "the new version was killed by SIGSEGV before it was ready (slot 1, pid 102)" },
	{ 3, "the new version exited with status 3 before it was ready (slot 1, pid 102)" },
};

static void test_rollback_says_how_the_new_version_ended(void **state)
{
	const struct end_case *e = *state;

	{
		struct pool_settings s;
		struct pool_action a;
		char err[128], logged[512] = "", reply[512] = "";

		defaults(&s);
		s.workers = 1;
		fresh(&s);
		pool_start(&pool, 0);
		pool_spawned(&pool, 0, 101, 0, 0);
		pool_tick(&pool, 1000); /* ready by delay */
		assert_int_equal(pool_reload(&pool, 1000, err, sizeof(err)), 0);
		while (pool_next_action(&pool, &a))
			if (a.kind == ACT_SPAWN)
				pool_spawned(&pool, a.worker, 102, 0, 1000);
		pool_exited(&pool, 102, wstatus_of(e->code), 1200);
		while (pool_next_action(&pool, &a)) {
			if (a.kind == ACT_LOG && strstr(a.msg, "rollout failed"))
				snprintf(logged, sizeof(logged), "%s", a.msg);
			if (a.kind == ACT_ROLLOUT_DONE)
				snprintf(reply, sizeof(reply), "%s", a.msg);
		}
		assert_non_null(strstr(logged, e->want));
		assert_non_null(strstr(reply, e->want));
	}
}

/* The lines of a stop: the worker's own death by the signal baton sent is a normal stop; a
 * SIGKILL step is a warning carried by the signal action (the loop adds the command). */
struct line_case {
	int drain_signal, code;
	int64_t wait_ms;         /* time before the exit: 0, or past the drain step */
	const char *want;
	enum log_level level;
};

static const struct line_case lines[] = {
		{ SIGTERM, 128 + SIGTERM, 0, "worker 1 (pid 101) stopped by the SIGTERM baton sent", LOG_INFO },
		{ SIGQUIT, 128 + SIGQUIT, 0, "worker 1 (pid 101) stopped by the SIGQUIT baton sent", LOG_INFO },
		{ SIGQUIT, 128 + SIGTERM, 30000, "worker 1 (pid 101) stopped by the SIGTERM baton sent", LOG_INFO },
		{ SIGTERM, 0, 0, "worker 1 (pid 101) exited with status 0", LOG_INFO },
		/* not the signal baton sent: says what happened */
		{ SIGTERM, 128 + SIGSEGV, 0, "worker 1 (pid 101) was killed by SIGSEGV", LOG_INFO },
		{ SIGQUIT, 128 + SIGTERM, 0, "worker 1 (pid 101) was killed by SIGTERM", LOG_INFO },
		{ SIGTERM, 128 + SIGKILL, 30000, "worker 1 (pid 101) stopped by the SIGKILL baton sent", LOG_INFO },
};

static void test_stop_lines(void **state)
{
	const struct line_case *l = *state;

	{
		struct pool_settings s;
		struct pool_action a;
		bool found = false, kill_warned = false;

		defaults(&s);
		s.workers = 1;
		s.drain_signal = l->drain_signal;
		fresh(&s);
		pool_start(&pool, 0);
		pool_spawned(&pool, 0, 101, 0, 0);
		pool_signal(&pool, SIGTERM, 1000);
		if (l->wait_ms)
			pool_tick(&pool, 1000 + l->wait_ms);
		pool_exited(&pool, 101, wstatus_of(l->code), 1000 + l->wait_ms);
		while (pool_next_action(&pool, &a)) {
			if (a.kind == ACT_LOG && strcmp(a.msg, l->want) == 0) {
				found = true;
				assert_int_equal(a.level, l->level);
			}
			if (a.kind == ACT_LOG)
				assert_null(strstr(a.msg, "sending SIG"));
			if (a.kind == ACT_SIGNAL && a.sig == SIGKILL) {
				assert_int_equal(a.level, LOG_WARN);
				assert_non_null(strstr(a.msg, "worker 1 (pid 101) still running after"));
				kill_warned = true;
			}
		}
		if (!found)
			fail_msg("no line '%s'", l->want);
		assert_int_equal(kill_warned, l->code == 128 + SIGKILL);
	}
}

/* --max-restarts unlimited: far more crashes than the ring of the guard holds, none gives up;
 * each waits its backoff. */
static void test_unlimited_restarts(void **state)
{
	struct pool_settings s;
	struct pool_action a;
	int64_t now = 0;
	pid_t pid = 300;

	(void)state;
	defaults(&s);
	s.workers = 1;
	s.max_restarts = CFG_RESTARTS_UNLIMITED;
	fresh(&s);
	pool_start(&pool, now);
	pool_spawned(&pool, 0, pid, 0, now);
	for (int i = 0; i < 10050; i++) {
		pool_exited(&pool, pid, 7 << 8, now);
		assert_int_equal(pool.phase, PH_RUNNING);
		now = pool_next_deadline(&pool);
		assert_true(now >= 0);
		pool_tick(&pool, now);
		assert_int_equal(pool.workers[0].state, WS_SPAWNING);
		pool_spawned(&pool, 0, ++pid, 0, now);
		while (pool_next_action(&pool, &a))
			assert_int_not_equal(a.kind, ACT_EXIT);
	}
}

/* The window of the crash-loop guard slides: restarts spread over time are fine. */
static void test_guard_window_slides(void **state)
{
	struct pool_settings s;
	struct pool_action a;
	int64_t now = 0;
	pid_t pid = 300;

	(void)state;
	defaults(&s);
	s.workers = 1;
	s.max_restarts = 2;
	s.restart_window_ms = 10000;
	fresh(&s);
	pool_start(&pool, now);
	pool_spawned(&pool, 0, pid, 0, now);
	for (int i = 0; i < 10; i++) {
		now += 6000; /* ready and running for 6 s, then crash */
		pool_tick(&pool, now);
		pool_exited(&pool, pid, 1 << 8, now);
		pool_tick(&pool, now);
		assert_int_equal(pool.phase, PH_RUNNING);
		assert_int_equal(pool.workers[0].state, WS_SPAWNING);
		pool_spawned(&pool, 0, ++pid, 0, now);
	}
	while (pool_next_action(&pool, &a))
		assert_int_not_equal(a.kind, ACT_EXIT);
}

#define N_OF(t) (sizeof(t) / sizeof((t)[0]))

static int teardown(void **state)
{
	(void)state;
	pool_free(&pool);
	return 0;
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_backoff_table),
		cmocka_unit_test(test_stop_needs),
		cmocka_unit_test(test_unlimited_restarts),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_idle_has_no_deadline),
		cmocka_unit_test(test_guard_window_slides),
		cmocka_unit_test(test_queue_grows_and_keeps_every_action),
		cmocka_unit_test(test_worker_entries_grow),
		cmocka_unit_test(test_find_many),
	};
	/* One test per table case, named by it, with the case as its state. */
	static struct CMUnitTest tests[N_OF(fixed) + N_OF(cases) + N_OF(lines) + N_OF(ends)];
	static char names[N_OF(lines) + N_OF(ends)][96];
	size_t n = 0, m = 0;

	for (size_t i = 0; i < N_OF(fixed); i++)
		tests[n++] = fixed[i];
	for (size_t i = 0; i < N_OF(cases); i++)
		tests[n++] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case,
						  .initial_state = (void *)&cases[i] };
	for (size_t i = 0; i < N_OF(lines); i++, m++) {
		snprintf(names[m], sizeof(names[m]), "stop line %zu: %s", i + 1, lines[i].want);
		tests[n++] = (struct CMUnitTest){ .name = names[m], .test_func = test_stop_lines,
						  .initial_state = (void *)&lines[i] };
	}
	for (size_t i = 0; i < N_OF(ends); i++, m++) {
		snprintf(names[m], sizeof(names[m]), "rollback: %s", ends[i].want);
		tests[n++] = (struct CMUnitTest){ .name = names[m],
						  .test_func = test_rollback_says_how_the_new_version_ended,
						  .initial_state = (void *)&ends[i] };
	}
	return _cmocka_run_group_tests("pool", tests, n, NULL, teardown);
}
