/*
 * prom: the Prometheus text exposition format (version 0.0.4), as pure functions.
 *
 * A struct prom_out is a caller's buffer and a length that counts every byte asked for, like
 * snprintf: what does not fit is dropped, and out->len then tells the size to retry with. No
 * allocation, no system call: the metrics module walks its sources and calls these; the unit
 * tests call them on fixed values.
 *
 *   # HELP baton_workers Workers by state.
 *   # TYPE baton_workers gauge
 *   baton_workers{state="ready"} 4
 *
 * Label values are escaped (backslash, double quote, newline), help texts too (backslash,
 * newline). Durations are given in milliseconds and written in seconds, exactly (0.25, not
 * 0.250000001); histograms get their _bucket{le=...} lines, cumulative, with +Inf, then
 * _sum and _count.
 */
#ifndef BATON_PROM_H
#define BATON_PROM_H

#include <stddef.h>
#include <stdint.h>

/* The Content-Type of this format. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom_out {
	char *buf;  /* NULL with cap 0 to measure */
	size_t cap;
	size_t len; /* bytes the text needs so far; the buffer holds min(len, cap - 1) and a NUL */
};

struct prom_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*: the caller's constant */
	const char *value; /* any text: escaped */
};

void prom_init(struct prom_out *o, char *buf, size_t cap);

/* Whether everything written so far fitted. */
int prom_fits(const struct prom_out *o);

/* The # HELP and # TYPE lines of a family; type is "gauge", "counter" or "histogram". */
void prom_family(struct prom_out *o, const char *name, const char *type, const char *help);

/* One sample: name{labels} value. n_labels may be 0 (labels NULL). */
void prom_u64(struct prom_out *o, const char *name, const struct prom_label *labels,
	      size_t n_labels, uint64_t value);
void prom_i64(struct prom_out *o, const char *name, const struct prom_label *labels,
	      size_t n_labels, int64_t value);
/* A duration of ms milliseconds as seconds. */
void prom_ms(struct prom_out *o, const char *name, const struct prom_label *labels,
	     size_t n_labels, int64_t ms);

/*
 * A histogram's samples (after its prom_family(..., "histogram", ...)): for each of the n
 * bounds (milliseconds, ascending) name_bucket{le="SECONDS"} le_counts[i] (cumulative: the
 * observations <= bound), then name_bucket{le="+Inf"} count, name_sum (sum_ms as seconds)
 * and name_count.
 */
void prom_histogram_ms(struct prom_out *o, const char *name, const int64_t *bounds_ms,
		       const uint64_t *le_counts, size_t n, uint64_t count, int64_t sum_ms);

/* ms as seconds in the shortest exact decimal ("0.1", "2.5", "30", "-0.001") into buf. */
void prom_format_seconds(int64_t ms, char *buf, size_t len);

/* ---- the HTTP side of the endpoint, pure ---- */

/*
 * Route one HTTP request of len bytes read so far: 0 while its head (request line and
 * headers, up to an empty line, CRLF or LF) is incomplete; else the status to answer with:
 * 200 for GET (or HEAD: *head set) of /metrics (a query string is ignored), 404 for another
 * path, 405 for another method, 400 for anything that is not an HTTP/1.x request line.
 * *head_len is set to the bytes of the head (what follows it is ignored: a scrape has no body).
 */
int prom_http_route(const char *buf, size_t len, int *head, size_t *head_len);

#endif
