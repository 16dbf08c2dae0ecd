/*
 * Internal interface between the supervisor (pool.c) and its rolling-restart policy
 * (rollout.c). Not part of any public header: both files are one module, split by concern.
 */
#ifndef BATON_POOL_INT_H
#define BATON_POOL_INT_H

#include "baton/pool.h"

void pool_emit_log(struct pool *pool, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct pool_action *pool_emit(struct pool *pool, enum action_kind kind);

/* Take a free worker entry for slot and ask the loop to spawn it; -1 if the table is full. */
int pool_spawn_worker(struct pool *pool, int slot, bool candidate, int64_t now);


/* Begin the stop sequence on a live worker. */
void pool_begin_stop(struct pool *pool, int w, enum stop_reason why, int64_t now);

/* Run the --pre-rollout command; the rollout begins when it has succeeded. */
void pool_hook_begin(struct pool *pool, int64_t now);

/* rollout.c */
void rollout_begin(struct pool *pool, int64_t now);
void rollout_cancel(struct pool *pool, const char *why);
/* Hooks called by pool.c; each returns true when the event belonged to the rollout. */
bool rollout_on_ready(struct pool *pool, int w, int64_t now);
bool rollout_on_exit(struct pool *pool, int w, const struct worker *gone, int code, int64_t now);
void rollout_on_ready_late(struct pool *pool, int w, int64_t now);

#endif
