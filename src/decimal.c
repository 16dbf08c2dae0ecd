/*
 * decimal: unsigned decimal numbers, checked for every byte and for overflow (see
 * include/baton/decimal.h).
 */
#include "baton/decimal.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static int accumulate(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	bool too_big = false;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)text[i] - '0';

		/* Every byte is checked even past the bound: "99x" is malformed, not large. */
		if (d > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			too_big = true;
		else
			v = v * 10 + d;
	}
	if (too_big || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int dec_parse(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	if (!text)
		return -EINVAL;
	return accumulate(text, len, max, out);
}

int dec_parse_str(const char *text, uint64_t max, uint64_t *out)
{
	if (!text)
		return -EINVAL;
	return accumulate(text, strlen(text), max, out);
}

int dec_parse_prefix(const char **p, uint64_t max, uint64_t *out)
{
	size_t n = 0;
	int err;

	while ((unsigned)(*p)[n] - '0' <= 9)
		n++;
	if ((err = accumulate(*p, n, max, out)) < 0)
		return err;
	*p += n;
	return 0;
}
