/*
 * json: a small, bounded, validating JSON reader (RFC 8259) for messages from outside.
 *
 * It never allocates and never copies: json_parse checks that a text is exactly one JSON value
 * and returns a span (type, start, length) over the caller's bytes; json_get finds a member of
 * an object span; json_string and json_int turn a span into a C value with range checks.
 * Nesting is limited to JSON_MAX_DEPTH, so a hostile peer cannot exhaust the stack.
 * Member lookup rescans the object: fine for the short, flat messages it is meant for.
 */
#ifndef BATON_JSON_H
#define BATON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 32

enum json_type {
	JSON_INVALID = 0,
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,   /* the span includes the quotes */
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_span {
	enum json_type type;
	const char *p;   /* first byte of the value in the source text */
	size_t len;      /* its length, without surrounding whitespace */
};

/* Check that [s, s+n) is exactly one JSON value, with optional whitespace around it.
 * 0 with *out set, -EINVAL on a syntax error, -ELOOP when nested deeper than JSON_MAX_DEPTH. */
int json_parse(const char *s, size_t n, struct json_span *out);

/* The member `key` of an object span (the last one when repeated, as JavaScript's JSON.parse
 * does). 0, -ENOENT when absent, -EINVAL when obj is not a parsed object. */
int json_get(const struct json_span *obj, const char *key, struct json_span *out);

/* Decode a string span into buf (UTF-8, NUL-terminated). Returns the length, -EINVAL when v
 * is not a string, -ERANGE when it does not fit in cap bytes with its NUL, -EILSEQ when it
 * holds a NUL character or an unpaired surrogate (neither can be a C string). */
int json_string(const struct json_span *v, char *buf, size_t cap);

/* True when v is a string whose decoded value is exactly s. */
bool json_string_eq(const struct json_span *v, const char *s);

/* An integer number (no fraction, no exponent) within [min, max]. 0, -EINVAL when v is not
 * such a number, -ERANGE when it is out of range. */
int json_int(const struct json_span *v, long long min, long long max, long long *out);

/* The JSON text of one byte of a string body: the byte itself, a backslash pair for '"' and
 * '\\', or \u00XX for a control byte (and DEL). Writes 1 to 6 bytes, no NUL, to out and
 * returns how many. The one escaper behind every JSON writer: the control replies, the Node
 * channel and the JSON log lines. */
size_t json_escape_byte(unsigned char c, char out[6]);

#endif
