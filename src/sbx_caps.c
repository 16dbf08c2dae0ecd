/*
 * sbx_caps: the --caps list, as text <-> a 64-bit mask of capability numbers.
 *
 * Names are looked up with libcap-ng, which knows every capability of the kernel headers it
 * was built with and matches without case; the CAP_ prefix that people copy from man pages
 * and Docker's --cap-add is accepted and stripped here.
 */
#include "baton/sandbox.h"

#include <cap-ng.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

int sbx_parse_caps(const char *text, enum sbx_caps_mode *mode, uint64_t *mask, char *err,
		   size_t errlen)
{
	const char *p = text ? text : "";
	bool keyword = false; /* "none" or "all" was seen */
	size_t words = 0;
	char word[64];

	*mode = SBX_CAPS_NONE;
	*mask = 0;
	for (;;) {
		const char *start, *name;
		size_t len;
		int cap;

		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && !is_sep(*p))
			p++;
		len = (size_t)(p - start);
		if (len >= sizeof(word)) {
			snprintf(err, errlen, "--caps: unknown capability '%.*s...'", 40, start);
			return -EINVAL;
		}
		memcpy(word, start, len);
		word[len] = '\0';
		words++;

		if (strcasecmp(word, "none") == 0 || strcasecmp(word, "all") == 0) {
			keyword = true;
			*mode = tolower((unsigned char)word[0]) == 'a' ? SBX_CAPS_ALL
								      : SBX_CAPS_NONE;
			if (words > 1)
				goto mixed;
			continue;
		}
		if (keyword)
			goto mixed;
		name = strncasecmp(word, "CAP_", 4) == 0 ? word + 4 : word;
		cap = *name ? capng_name_to_capability(name) : -1;
		if (cap < 0 || cap > 63) {
			snprintf(err, errlen, "--caps: unknown capability '%s'", word);
			return -EINVAL;
		}
		*mode = SBX_CAPS_LIST;
		*mask |= UINT64_C(1) << cap;
	}
	if (*mode == SBX_CAPS_LIST && *mask == 0)
		*mode = SBX_CAPS_NONE;
	return 0;

mixed:
	snprintf(err, errlen, "--caps: 'none' and 'all' stand alone, not in a list: '%s'",
		 text);
	*mode = SBX_CAPS_NONE;
	*mask = 0;
	return -EINVAL;
}

int sbx_format_caps(uint64_t mask, char *buf, size_t len)
{
	size_t used = 0;
	int total = 0;

	if (len)
		buf[0] = '\0';
	if (mask == 0)
		return snprintf(buf, len, "none");
	for (int cap = 0; cap < 64; cap++) {
		const char *name;
		char upper[64], num[16];
		int n;

		if (!(mask & (UINT64_C(1) << cap)))
			continue;
		name = capng_capability_to_name((unsigned)cap);
		if (!name) {
			snprintf(num, sizeof(num), "%d", cap);
			name = num;
		}
		for (n = 0; name[n] && n < (int)sizeof(upper) - 1; n++)
			upper[n] = (char)toupper((unsigned char)name[n]);
		upper[n] = '\0';
		n = snprintf(buf + used, len > used ? len - used : 0, "%s%s", total ? "," : "",
			     upper);
		total += n;
		used = (size_t)total < len ? (size_t)total : (len ? len - 1 : 0);
	}
	return total;
}
