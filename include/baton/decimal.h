/*
 * decimal: the one parser of unsigned decimal numbers from outside input (options, control
 * requests, sd_notify fields, /proc and cgroup files, passwd). Digits only: no sign, no
 * spaces, no base prefix; a number too large for its field is an error, never a wrap.
 */
#ifndef BATON_DECIMAL_H
#define BATON_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* text[0..len) as a number in [0, max]. 0, -EINVAL (empty, or a byte that is not a digit),
 * or -ERANGE (above max). */
int dec_parse(const char *text, size_t len, uint64_t max, uint64_t *out);

/* The same for a NUL-terminated string. */
int dec_parse_str(const char *text, uint64_t max, uint64_t *out);

/* The longest run of digits at *p (at least one), in [0, max], advancing *p past it. 0,
 * -EINVAL (no digit at *p) or -ERANGE; *p is unchanged on failure. */
int dec_parse_prefix(const char **p, uint64_t max, uint64_t *out);

#endif
