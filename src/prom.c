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
