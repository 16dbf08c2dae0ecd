/*
 * prom: the Prometheus text exposition format (prom.h). Pure: writes into the caller's buffer.
 */
#include "baton/prom.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void prom_init(struct prom_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = buf ? cap : 0;
	o->len = 0;
	if (o->cap)
		o->buf[0] = '\0';
}

int prom_fits(const struct prom_out *o)
{
	return o->len < o->cap;
}

static void put(struct prom_out *o, const char *s, size_t n)
{
	if (o->len + 1 < o->cap) {
		size_t room = o->cap - 1 - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
		o->buf[o->len + (n < room ? n : room)] = '\0';
	}
	o->len += n;
}

static void puts_(struct prom_out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct prom_out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Escape backslash and newline, and in a label value the double quote too. */
static void escaped(struct prom_out *o, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(o, "\\\\");
		else if (*s == '\n')
			puts_(o, "\\n");
		else if (*s == '"' && quote)
			puts_(o, "\\\"");
		else
			put(o, s, 1);
	}
}

void prom_family(struct prom_out *o, const char *name, const char *type, const char *help)
{
	puts_(o, "# HELP ");
	puts_(o, name);
	puts_(o, " ");
	escaped(o, help, 0);
	puts_(o, "\n# TYPE ");
	puts_(o, name);
	puts_(o, " ");
	puts_(o, type);
	puts_(o, "\n");
}

static void head(struct prom_out *o, const char *name, const char *suffix,
		 const struct prom_label *labels, size_t n)
{
	puts_(o, name);
	if (suffix)
		puts_(o, suffix);
	if (n == 0)
		return;
	puts_(o, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(o, ",");
		puts_(o, labels[i].name);
		puts_(o, "=\"");
		escaped(o, labels[i].value ? labels[i].value : "", 1);
		puts_(o, "\"");
	}
	puts_(o, "}");
}

void prom_u64(struct prom_out *o, const char *name, const struct prom_label *labels,
	      size_t n_labels, uint64_t value)
{
	head(o, name, NULL, labels, n_labels);
	putf(o, " %" PRIu64 "\n", value);
}

void prom_i64(struct prom_out *o, const char *name, const struct prom_label *labels,
	      size_t n_labels, int64_t value)
{
	head(o, name, NULL, labels, n_labels);
	putf(o, " %" PRId64 "\n", value);
}

void prom_format_seconds(int64_t ms, char *buf, size_t len)
{
	/* Exact: whole seconds, then the milliseconds without trailing zeros. Unsigned
	 * arithmetic so that INT64_MIN has a magnitude too. */
	uint64_t mag = ms < 0 ? 0 - (uint64_t)ms : (uint64_t)ms;
	unsigned frac = (unsigned)(mag % 1000);
	char f[8] = "";

	if (frac) {
		snprintf(f, sizeof(f), ".%03u", frac);
		for (size_t i = strlen(f); f[i - 1] == '0'; i--)
			f[i - 1] = '\0';
	}
	snprintf(buf, len, "%s%" PRIu64 "%s", ms < 0 ? "-" : "", mag / 1000, f);
}

void prom_ms(struct prom_out *o, const char *name, const struct prom_label *labels,
	     size_t n_labels, int64_t ms)
{
	char s[32];

	prom_format_seconds(ms, s, sizeof(s));
	head(o, name, NULL, labels, n_labels);
	putf(o, " %s\n", s);
}

void prom_histogram_ms(struct prom_out *o, const char *name, const int64_t *bounds_ms,
		       const uint64_t *le_counts, size_t n, uint64_t count, int64_t sum_ms)
{
	char le[32];
	struct prom_label l = { "le", le };

	for (size_t i = 0; i < n; i++) {
		prom_format_seconds(bounds_ms[i], le, sizeof(le));
		head(o, name, "_bucket", &l, 1);
		putf(o, " %" PRIu64 "\n", le_counts[i]);
	}
	snprintf(le, sizeof(le), "+Inf");
	head(o, name, "_bucket", &l, 1);
	putf(o, " %" PRIu64 "\n", count);
	prom_format_seconds(sum_ms, le, sizeof(le));
	head(o, name, "_sum", NULL, 0);
	putf(o, " %s\n", le);
	head(o, name, "_count", NULL, 0);
	putf(o, " %" PRIu64 "\n", count);
}

/* A token of RFC 9110: the characters a method may have. */
static int tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int prom_http_route(const char *buf, size_t len, int *head, size_t *head_len)
{
	const char *end = NULL, *p, *sp1, *sp2, *eol;
	size_t mlen, tlen;

	*head = 0;
	*head_len = 0;
	for (size_t i = 0; i + 1 < len && !end; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i + 2;
		else if (buf[i] == '\n' && buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			end = buf + i + 3;
	}
	if (!end) {
		/* A NUL, or a request line that cannot be one, needs no more bytes to be wrong. */
		if (memchr(buf, '\0', len))
			return 400;
		for (p = buf; p < buf + len && tchar(*p); p++)
			;
		if (p < buf + len && *p != ' ')
			return 400;
		return 0;
	}
	*head_len = (size_t)(end - buf);
	eol = memchr(buf, '\n', *head_len);
	if (eol > buf && eol[-1] == '\r')
		eol--;
	for (p = buf; p < eol && tchar(*p); p++)
		;
	sp1 = p;
	mlen = (size_t)(sp1 - buf);
	if (mlen == 0 || sp1 >= eol || *sp1 != ' ')
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	tlen = (size_t)(sp2 - sp1 - 1);
	if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return 400;
	for (p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 400;
	if (sp1[1] != '/' && !(tlen > 7 && memcmp(sp1 + 1, "http://", 7) == 0))
		return 400;
	if (!((mlen == 3 && memcmp(buf, "GET", 3) == 0) ||
	      (mlen == 4 && memcmp(buf, "HEAD", 4) == 0)))
		return 405;
	*head = mlen == 4;
	/* The path: /metrics, with or without a query. An absolute form names it after the
	 * authority. */
	p = sp1 + 1;
	if (*p != '/') {
		p = memchr(p + 7, '/', (size_t)(sp2 - p - 7));
		if (!p)
			return 404;
	}
	tlen = (size_t)(sp2 - p);
	if (tlen >= 8 && memcmp(p, "/metrics", 8) == 0 && (tlen == 8 || p[8] == '?'))
		return 200;
	return 404;
}
