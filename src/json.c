/*
 * json: a small, bounded, validating JSON reader. See include/baton/json.h.
 *
 * The grammar is RFC 8259's. Bytes of 0x80 and above inside strings are taken as they are:
 * the peers are Node.js processes, which write UTF-8, and nothing here interprets them.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "baton/json.h"

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (which must have them): the code unit, or -1. */
static long hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static int scan_string(const char **pp, const char *end)
{
	const char *p = *pp + 1; /* past the opening quote */

	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			*pp = p + 1;
			return 0;
		}
		if (c < 0x20)
			return -EINVAL; /* control characters must be escaped */
		if (c == '\\') {
			if (++p >= end)
				return -EINVAL;
			switch (*p) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				p++;
				break;
			case 'u':
				if (hex4(p + 1, end) < 0)
					return -EINVAL;
				p += 5;
				break;
			default:
				return -EINVAL;
			}
			continue;
		}
		p++;
	}
	return -EINVAL;
}

static int scan_number(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return -EINVAL;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return -EINVAL;
	}
	if (p < end && *p == '.') {
		const char *digits = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return -EINVAL;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		const char *digits = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return -EINVAL;
	}
	*pp = p;
	return 0;
}

static int scan_literal(const char **pp, const char *end, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(end - *pp) < n || memcmp(*pp, word, n) != 0)
		return -EINVAL;
	*pp += n;
	return 0;
}

/* Parse one value at *pp (no leading whitespace); on success *pp is just past it. */
static int parse_value(const char **pp, const char *end, int depth, struct json_span *out)
{
	const char *start = *pp;
	const char *p = start;
	enum json_type type;
	int r;

	if (p >= end)
		return -EINVAL;
	switch (*p) {
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';
		bool object = *p == '{';

		if (depth >= JSON_MAX_DEPTH)
			return -ELOOP;
		type = object ? JSON_OBJECT : JSON_ARRAY;
		p = skip_ws(p + 1, end);
		if (p < end && *p == close) {
			p++;
			break;
		}
		for (;;) {
			struct json_span item;

			if (object) {
				if (p >= end || *p != '"')
					return -EINVAL;
				if ((r = scan_string(&p, end)) < 0)
					return r;
				p = skip_ws(p, end);
				if (p >= end || *p != ':')
					return -EINVAL;
				p = skip_ws(p + 1, end);
			}
			if ((r = parse_value(&p, end, depth + 1, &item)) < 0)
				return r;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == close) {
				p++;
				break;
			}
			return -EINVAL;
		}
		break;
	}
	case '"':
		type = JSON_STRING;
		if ((r = scan_string(&p, end)) < 0)
			return r;
		break;
	case 't':
		type = JSON_TRUE;
		if ((r = scan_literal(&p, end, "true")) < 0)
			return r;
		break;
	case 'f':
		type = JSON_FALSE;
		if ((r = scan_literal(&p, end, "false")) < 0)
			return r;
		break;
	case 'n':
		type = JSON_NULL;
		if ((r = scan_literal(&p, end, "null")) < 0)
			return r;
		break;
	default:
		type = JSON_NUMBER;
		if ((r = scan_number(&p, end)) < 0)
			return r;
		break;
	}
	out->type = type;
	out->p = start;
	out->len = (size_t)(p - start);
	*pp = p;
	return 0;
}

int json_parse(const char *s, size_t n, struct json_span *out)
{
	const char *end = s + n;
	const char *p = skip_ws(s, end);
	struct json_span v;
	int r;

	if ((r = parse_value(&p, end, 0, &v)) < 0)
		return r;
	if (skip_ws(p, end) != end)
		return -EINVAL; /* trailing garbage */
	*out = v;
	return 0;
}

/*
 * Decode a string span, either into buf (cmp == NULL) or comparing with cmp. Returns the
 * decoded length (or, when comparing, 1 for equal and 0 for different), or -errno.
 */
static int decode(const struct json_span *v, char *buf, size_t cap, const char *cmp)
{
	const char *p, *end;
	size_t n = 0;

	if (!v || v->type != JSON_STRING || v->len < 2)
		return -EINVAL;
	p = v->p + 1;
	end = v->p + v->len - 1;
	while (p < end) {
		unsigned char u[4];
		size_t k = 0;

		if (*p != '\\') {
			u[k++] = (unsigned char)*p++;
		} else {
			p++;
			if (p >= end)
				return -EINVAL;
			char e = *p++;
			switch (e) {
			case '"': u[k++] = '"'; break;
			case '\\': u[k++] = '\\'; break;
			case '/': u[k++] = '/'; break;
			case 'b': u[k++] = '\b'; break;
			case 'f': u[k++] = '\f'; break;
			case 'n': u[k++] = '\n'; break;
			case 'r': u[k++] = '\r'; break;
			case 't': u[k++] = '\t'; break;
			case 'u': {
				long cp = hex4(p, end);
				if (cp < 0)
					return -EINVAL;
				p += 4;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return -EILSEQ;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					long lo;
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
						return -EILSEQ;
					lo = hex4(p + 2, end);
					if (lo < 0xDC00 || lo > 0xDFFF)
						return -EILSEQ;
					p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (cp == 0)
					return -EILSEQ;
				if (cp < 0x80) {
					u[k++] = (unsigned char)cp;
				} else if (cp < 0x800) {
					u[k++] = (unsigned char)(0xC0 | (cp >> 6));
					u[k++] = (unsigned char)(0x80 | (cp & 0x3F));
				} else if (cp < 0x10000) {
					u[k++] = (unsigned char)(0xE0 | (cp >> 12));
					u[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					u[k++] = (unsigned char)(0x80 | (cp & 0x3F));
				} else {
					u[k++] = (unsigned char)(0xF0 | (cp >> 18));
					u[k++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
					u[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					u[k++] = (unsigned char)(0x80 | (cp & 0x3F));
				}
				break;
			}
			default:
				return -EINVAL;
			}
		}
		if (cmp) {
			/* A decoded byte is never NUL, so cmp's end shows up as a mismatch and
			 * nothing past it is read. */
			for (size_t i = 0; i < k; i++)
				if (cmp[n + i] != (char)u[i])
					return 0;
		} else {
			if (n + k + 1 > cap)
				return -ERANGE;
			memcpy(buf + n, u, k);
		}
		n += k;
		if (n > INT_MAX - 8)
			return -ERANGE;
	}
	if (cmp)
		return cmp[n] == '\0';
	if (cap < 1)
		return -ERANGE;
	buf[n] = '\0';
	return (int)n;
}

int json_string(const struct json_span *v, char *buf, size_t cap)
{
	return decode(v, buf, cap, NULL);
}

bool json_string_eq(const struct json_span *v, const char *s)
{
	return decode(v, NULL, 0, s) == 1;
}

int json_get(const struct json_span *obj, const char *key, struct json_span *out)
{
	const char *p, *end;
	bool found = false;
	int r;

	if (!obj || obj->type != JSON_OBJECT)
		return -EINVAL;
	end = obj->p + obj->len;
	p = skip_ws(obj->p + 1, end);
	if (p < end && *p == '}')
		return -ENOENT;
	for (;;) {
		struct json_span k, v;

		if ((r = parse_value(&p, end, 1, &k)) < 0 || k.type != JSON_STRING)
			return -EINVAL;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return -EINVAL;
		p = skip_ws(p + 1, end);
		if ((r = parse_value(&p, end, 1, &v)) < 0)
			return r;
		if (json_string_eq(&k, key)) {
			*out = v;
			found = true; /* keep going: the last duplicate wins */
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			break;
		return -EINVAL;
	}
	return found ? 0 : -ENOENT;
}

int json_int(const struct json_span *v, long long min, long long max, long long *out)
{
	long long x = 0;
	bool neg = false;
	size_t i = 0;

	if (!v || v->type != JSON_NUMBER || v->len == 0)
		return -EINVAL;
	if (v->p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == v->len)
		return -EINVAL;
	for (; i < v->len; i++) {
		char c = v->p[i];
		if (c < '0' || c > '9')
			return -EINVAL; /* a fraction or an exponent: not an integer here */
		if (x > (LLONG_MAX - (c - '0')) / 10)
			return -ERANGE;
		x = x * 10 + (c - '0');
	}
	if (neg)
		x = -x;
	if (x < min || x > max)
		return -ERANGE;
	*out = x;
	return 0;
}

size_t json_escape_byte(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c == 0x7f) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		return 6;
	}
	out[0] = (char)c;
	return 1;
}
