/*
 * health: the arithmetic of the worker health checks, pure: how old a worker may grow
 * (--max-age with its jitter), how much memory it may hold (--max-memory, a size or a share
 * of the container's limit), and sizes written for people in log lines.
 */
#ifndef BATON_HEALTH_H
#define BATON_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "baton/config.h"

/* Share of --max-age taken off at random, at most: 1/HEALTH_AGE_JITTER_DIV (10%). */
#define HEALTH_AGE_JITTER_DIV 10

/*
 * The age at which one worker is recycled: max_age_ms less up to a tenth of it, chosen by rnd
 * (any random 64-bit value, one per worker start), so that workers started together do not
 * all expire together and the slots are replaced one at a time. The result lies in
 * [max_age_ms - max_age_ms / 10, max_age_ms]. The caller adds it to the worker's start
 * time. 0 when max_age_ms <= 0 (age recycling off).
 */
int64_t health_max_age_ms(int64_t max_age_ms, uint64_t rnd);

/*
 * One worker's memory limit in bytes under --max-memory (kind, value as struct config holds
 * them): the size itself, or value percent of the container's limit divided by the worker
 * count. limit_rc and limit are what cgroup_memory_limit returned (0 with the limit in bytes,
 * else no limit was found); it is read only for MAX_MEMORY_PERCENT. Since the share depends
 * on the count, the caller computes it again after a scale.
 * 0 with *bytes set; 1 when kind is MAX_MEMORY_OFF; -ENOENT for a percentage without a
 * container limit; -EINVAL for workers < 1 or a share below 1 MiB (CFG_MAX_MEMORY_MIN).
 */
int health_memory_limit(enum max_memory_kind kind, uint64_t value, int limit_rc, uint64_t limit,
			int workers, uint64_t *bytes);

/*
 * bytes for a log line, in the largest binary unit it reaches, with at most one decimal,
 * rounded to the nearest: "100 B", "512 KiB", "300 MiB", "1.5 GiB", "1 GiB" (never
 * "1024 MiB"). Returns buf; 16 bytes are always enough.
 */
const char *health_format_size(uint64_t bytes, char *buf, size_t len);

#endif
