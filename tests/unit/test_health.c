/*
 * health: age jitter, the --max-memory limit of one worker, and sizes for log lines, as
 * tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baton/cgroup.h"
#include "baton/health.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void test_max_age(void **state)
{
	static const struct {
		int64_t max_age;
		uint64_t rnd;
		int64_t want;
	} cases[] = {
		{ 0, 12345, 0 },                  /* off */
		{ -5, 12345, 0 },
		{ 10000, 0, 10000 },              /* no jitter drawn */
		{ 10000, 1000, 9000 },            /* the whole tenth */
		{ 10000, 1001, 10000 },           /* wraps: the span is 0..1000 inclusive */
		{ 10000, 500, 9500 },
		{ 10000, UINT64_MAX, 10000 - (int64_t)(UINT64_MAX % 1001) },
		{ 5000, 499, 4501 },
		{ 9, 7, 9 },                      /* below 10 ms there is no tenth to take */
		{ 8784LL * 3600 * 1000, UINT64_MAX,
		  8784LL * 3600 * 1000 - (int64_t)(UINT64_MAX % (8784ULL * 360 * 1000 + 1)) },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		int64_t got = health_max_age_ms(cases[i].max_age, cases[i].rnd);

		if (got != cases[i].want)
			fail_msg("max_age %lld rnd %llu: %lld, want %lld", (long long)cases[i].max_age,
				 (unsigned long long)cases[i].rnd, (long long)got,
				 (long long)cases[i].want);
	}
}

/* Over many random draws: always within [90%, 100%], and spread over the whole range, so that
 * workers started together really do expire apart. */
static void test_max_age_spread(void **state)
{
	const int64_t max_age = 60000;
	int64_t lo = INT64_MAX, hi = 0;
	int buckets[10] = { 0 };
	unsigned seed = 42;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t rnd = ((uint64_t)rand_r(&seed) << 33) ^ ((uint64_t)rand_r(&seed) << 2) ^
			       (uint64_t)rand_r(&seed);
		int64_t got = health_max_age_ms(max_age, rnd);

		assert_true(got >= max_age - max_age / 10 && got <= max_age);
		lo = got < lo ? got : lo;
		hi = got > hi ? got : hi;
		buckets[(max_age - got) * 10 / (max_age / 10 + 1)]++;
	}
	assert_true(lo < max_age - max_age / 10 + 60);
	assert_true(hi > max_age - 60);
	for (int b = 0; b < 10; b++)
		if (buckets[b] < 9000 || buckets[b] > 11000)
			fail_msg("bucket %d holds %d of 100000 draws", b, buckets[b]);
}

static void test_memory_limit(void **state)
{
	static const struct {
		enum max_memory_kind kind;
		uint64_t value;
		int limit_rc;
		uint64_t limit;
		int workers;
		int rc;
		uint64_t want;
	} cases[] = {
		{ MAX_MEMORY_OFF, 0, 0, 1ULL << 30, 2, 1, 0 },
		{ MAX_MEMORY_BYTES, 300ULL << 20, 0, 0, 4, 0, 300ULL << 20 },
		/* A size does not depend on the container's limit, or on finding one. */
		{ MAX_MEMORY_BYTES, 300ULL << 20, -ENOENT, 0, 4, 0, 300ULL << 20 },
		{ MAX_MEMORY_PERCENT, 50, 0, 2ULL << 30, 2, 0, 512ULL << 20 },
		{ MAX_MEMORY_PERCENT, 100, 0, 2ULL << 30, 1, 0, 2ULL << 30 },
		{ MAX_MEMORY_PERCENT, 100, 0, 2ULL << 30, 4, 0, 512ULL << 20 },
		{ MAX_MEMORY_PERCENT, 75, 0, 1000000000, 3, 0, 250000000 },
		{ MAX_MEMORY_PERCENT, 1, 0, 1ULL << 30, 1, 0, 10737418 },
		/* No limit to take a share of. */
		{ MAX_MEMORY_PERCENT, 50, CGROUP_UNLIMITED, 0, 2, -ENOENT, 0 },
		{ MAX_MEMORY_PERCENT, 50, -ENOENT, 0, 2, -ENOENT, 0 },
		{ MAX_MEMORY_PERCENT, 50, 0, 1ULL << 30, 0, -EINVAL, 0 },
		/* A share too small to run anything in. */
		{ MAX_MEMORY_PERCENT, 1, 0, 64ULL << 20, 4, -EINVAL, 0 },
		/* No overflow near the largest limit v1 can show. */
		{ MAX_MEMORY_PERCENT, 100, 0, (1ULL << 62) - 1, 1, 0, (1ULL << 62) - 1 },
		{ MAX_MEMORY_PERCENT, 50, 0, (1ULL << 62), 4096, 0, (1ULL << 62) / 2 / 4096 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		uint64_t bytes = 7;
		int rc = health_memory_limit(cases[i].kind, cases[i].value, cases[i].limit_rc,
					     cases[i].limit, cases[i].workers, &bytes);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && bytes != cases[i].want)
			fail_msg("case %zu: %llu bytes, want %llu", i, (unsigned long long)bytes,
				 (unsigned long long)cases[i].want);
	}
}

static void test_format_size(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *want;
	} cases[] = {
		{ 0, "0 B" },
		{ 100, "100 B" },
		{ 1023, "1023 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 512ULL << 10, "512 KiB" },
		{ 300ULL << 20, "300 MiB" },
		{ 512ULL << 20, "512 MiB" },
		{ 3ULL << 29, "1.5 GiB" },
		{ 1ULL << 30, "1 GiB" },
		{ (1ULL << 30) - 1, "1 GiB" },              /* 1023.99 MiB rounds up a unit */
		{ (1ULL << 30) - (1ULL << 15), "1 GiB" },   /* 1023.97 MiB: 1024.0 too */
		{ (1ULL << 30) - (1ULL << 16), "1023.9 MiB" },
		{ (1023ULL << 20) + (900ULL << 10), "1023.9 MiB" },
		{ 314572800 + 52429, "300.1 MiB" },
		{ 314572800 + 52428, "300 MiB" },           /* 300.0499 rounds down */
		{ 10737418, "10.2 MiB" },
		{ 1ULL << 40, "1 TiB" },
		{ 1ULL << 60, "1 EiB" },
		{ UINT64_MAX, "16 EiB" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		char buf[16];
		const char *got = health_format_size(cases[i].bytes, buf, sizeof(buf));

		assert_ptr_equal(got, buf);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%llu bytes: '%s', want '%s'", (unsigned long long)cases[i].bytes, got,
				 cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_max_age_spread),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_format_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
