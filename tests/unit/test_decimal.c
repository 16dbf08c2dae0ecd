/*
 * decimal: the one parser of unsigned decimals, as a table: digits only, every byte checked,
 * the bound and 64-bit overflow reported as ERANGE, never wrapped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "baton/decimal.h"

static void test_table(void **state)
{
	static const struct {
		const char *text;
		uint64_t max;
		int ret;
		uint64_t value;
	} cases[] = {
		{ "0", 10, 0, 0 },
		{ "10", 10, 0, 10 },
		{ "11", 10, -ERANGE, 0 },
		{ "007", 10, 0, 7 },
		{ "", 10, -EINVAL, 0 },
		{ "-1", 10, -EINVAL, 0 },
		{ "+1", 10, -EINVAL, 0 },
		{ " 1", 10, -EINVAL, 0 },
		{ "1 ", 10, -EINVAL, 0 },
		{ "1x", 10, -EINVAL, 0 },
		{ "99999999999999999999x", 10, -EINVAL, 0 },
		{ "0x10", UINT64_MAX, -EINVAL, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999999", UINT64_MAX, -ERANGE, 0 },
		{ "4096", 4096, 0, 4096 },
		{ "4097", 4096, -ERANGE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int r = dec_parse_str(cases[i].text, cases[i].max, &v);

		if (r != cases[i].ret || (r == 0 && v != cases[i].value) || (r < 0 && v != 12345))
			fail_msg("'%s' max %llu: %d %llu", cases[i].text,
				 (unsigned long long)cases[i].max, r, (unsigned long long)v);
	}
}

static void test_len_and_prefix(void **state)
{
	const char *p = "1234 rest";
	uint64_t v;

	(void)state;
	assert_int_equal(dec_parse("1234", 2, 100, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(dec_parse(NULL, 0, 100, &v), -EINVAL);
	assert_int_equal(dec_parse_prefix(&p, 10000, &v), 0);
	assert_int_equal(v, 1234);
	assert_string_equal(p, " rest");
	assert_int_equal(dec_parse_prefix(&p, 10000, &v), -EINVAL);
	assert_string_equal(p, " rest");
	p = "123456";
	assert_int_equal(dec_parse_prefix(&p, 1000, &v), -ERANGE);
	assert_string_equal(p, "123456");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_len_and_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
