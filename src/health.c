/*
 * health: pure arithmetic of the worker health checks (see include/baton/health.h).
 */
#include "baton/health.h"

#include <errno.h>
#include <stdio.h>

int64_t health_max_age_ms(int64_t max_age_ms, uint64_t rnd)
{
	uint64_t span;

	if (max_age_ms <= 0)
		return 0;
	/* From 0 to a tenth, inclusive. A tenth of the longest duration is below 2^32, so the
	 * modulo's bias is below one part in 2^32. */
	span = (uint64_t)(max_age_ms / HEALTH_AGE_JITTER_DIV) + 1;
	return max_age_ms - (int64_t)(rnd % span);
}

int health_memory_limit(enum max_memory_kind kind, uint64_t value, int limit_rc, uint64_t limit,
			int workers, uint64_t *bytes)
{
	unsigned __int128 share;

	switch (kind) {
	case MAX_MEMORY_OFF:
		return 1;
	case MAX_MEMORY_BYTES:
		*bytes = value;
		return 0;
	case MAX_MEMORY_PERCENT:
		break;
	default:
		return -EINVAL;
	}
	if (limit_rc != 0)
		return -ENOENT;
	if (workers < 1)
		return -EINVAL;
	/* 128 bits: a limit near 2^62 times 100 does not fit in 64. */
	share = (unsigned __int128)limit * value / 100 / (unsigned)workers;
	if (share < CFG_MAX_MEMORY_MIN)
		return -EINVAL;
	*bytes = (uint64_t)share;
	return 0;
}

const char *health_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1, tenths;
	size_t u = 0;

	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >= unit * 1024) {
		unit *= 1024;
		u++;
	}
	if (u == 0) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	/* Tenths of the unit, rounded; (bytes % unit) * 10 fits since unit <= 2^60. */
	tenths = bytes / unit * 10 + ((bytes % unit) * 10 + unit / 2) / unit;
	/* 1023.96 MiB rounds to 1024.0: say 1 GiB instead. */
	if (tenths >= 10240 && u + 1 < sizeof(units) / sizeof(units[0])) {
		u++;
		tenths = 10;
	}
	if (tenths % 10 == 0)
		snprintf(buf, len, "%llu %s", (unsigned long long)(tenths / 10), units[u]);
	else
		snprintf(buf, len, "%llu.%llu %s", (unsigned long long)(tenths / 10),
			 (unsigned long long)(tenths % 10), units[u]);
	return buf;
}
