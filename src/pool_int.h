/*
 * Internal interface between the supervisor (pool.c) and its rolling-restart policy
 * (rollout.c). Not part of any public header: both files are one module, split by concern.
 *
 * The calls go one way. The policy reads the pool through a const view, keeps its own state
 * (struct rollout) and answers each event with a decision: an ordered list of steps (log a
 * line, spawn a candidate, stop a worker, ...) that pool.c applies. Only pool.c writes the
 * slot and worker tables, and rollout.c calls no function of pool.c.
 */
#ifndef BATON_POOL_INT_H
#define BATON_POOL_INT_H

#include "baton/pool.h"

enum ro_op {
	RO_LOG,        /* log msg at level */
	RO_SPAWN,      /* spawn a candidate for slot `arg`; on failure tell rollout_no_room */
	RO_PROMOTE,    /* candidate worker `arg` becomes its slot's current worker */
	RO_UNCAND,     /* slot `arg` has no candidate any more */
	RO_STOP,       /* begin the stop sequence of worker `arg`, for `why` */
	RO_RUN_HOOK,   /* run the --pre-rollout command; the rollout begins after it */
	RO_DONE,       /* the rollout ended: status 0 ok, else failed, with msg */
};

struct ro_step {
	enum ro_op op;
	int arg;
	enum stop_reason why;
	enum log_level level;
	int status;
	char msg[POOL_MSG_LEN];
};

/* The longest answer: a rollback's stop and line, then the next rollout's start. */
#define RO_MAX_STEPS 8

struct ro_decision {
	bool handled;           /* the event belonged to the rollout */
	int n;
	struct ro_step steps[RO_MAX_STEPS];
	/* A promotion decided above, seen by the steps decided after it. */
	int promoted_slot, promoted_worker;
};

void rollout_init(struct rollout *ro);
void rollout_begin(struct rollout *ro, const struct pool *pool, int64_t now,
		   struct ro_decision *d);
void rollout_cancel(struct rollout *ro, const char *why, struct ro_decision *d);
/* A reload asked for while one runs: true when it is taken in (one more, coalesced). */
bool rollout_coalesce(struct rollout *ro, struct ro_decision *d);
/* The events; `ended` says how the worker ended (pool_describe_status); d->handled says
 * whether the event belonged to the rollout. */
void rollout_on_ready(struct rollout *ro, const struct pool *pool, int w, int64_t now,
		      struct ro_decision *d);
void rollout_on_exit(struct rollout *ro, const struct pool *pool, int w,
		     const struct worker *gone, const char *ended, int64_t now,
		     struct ro_decision *d);
void rollout_on_ready_late(struct rollout *ro, const struct pool *pool, int w, int64_t now,
			   struct ro_decision *d);
/* The candidate of RO_SPAWN could not be given an entry. */
void rollout_no_room(struct rollout *ro, struct ro_decision *d);

/* For tests: queue an action or a line as pool.c does. */
void pool_emit_log(struct pool *pool, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct pool_action *pool_emit(struct pool *pool, enum action_kind kind);

#endif
