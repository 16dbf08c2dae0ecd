/*
 * ctl_proto: the control protocol as pure functions (framing rules, request parsing, reply
 * formatting). Everything a client sends is untrusted: it is checked byte by byte here before
 * the server acts on any of it. The grammar is in include/baton/control.h and docs/control.md.
 */
#include "baton/decimal.h"
#include "baton/control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "baton/json.h"

#define MAX_WORDS 4

struct word {
	const char *p;
	size_t len;
};

static bool word_is(const struct word *w, const char *s)
{
	return w->len == strlen(s) && memcmp(w->p, s, w->len) == 0;
}

/* Split on single spaces; an empty word (leading, trailing or doubled space) is malformed. */
static int split(const char *line, size_t len, struct word *words, int *n)
{
	size_t start = 0;

	*n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start)
			return -EINVAL;
		if (*n == MAX_WORDS)
			return -E2BIG;
		words[*n].p = line + start;
		words[*n].len = i - start;
		(*n)++;
		start = i + 1;
	}
	return 0;
}

int ctl_parse_count(const char *text, int *out)
{
	uint64_t v;
	int err = dec_parse_str(text, CFG_MAX_WORKERS, &v);

	if (err < 0)
		return err;
	if (v < 1)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

static int parse_flag(const struct word *words, int n, const char *flag, bool *out, char *err,
		      size_t errlen, const char *cmd)
{
	*out = false;
	if (n == 2)
		return 0;
	if (n == 3 && word_is(&words[2], flag)) {
		*out = true;
		return 0;
	}
	snprintf(err, errlen, "%s takes only the argument \"%s\"", cmd, flag);
	return -EINVAL;
}

int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen)
{
	struct word w[MAX_WORDS];
	const size_t plen = strlen(CTL_PROTO);
	char num[16];
	int n, r;

	memset(req, 0, sizeof(*req));
	if (len == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	if (len >= CTL_REQUEST_MAX) {
		snprintf(err, errlen, "request too long (limit %d bytes)", CTL_REQUEST_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c > 0x7e) {
			snprintf(err, errlen, "request is not printable text");
			return -EINVAL;
		}
	}
	r = split(line, len, w, &n);
	if (r == -E2BIG) {
		snprintf(err, errlen, "too many words in request");
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errlen, "malformed request: words are separated by single spaces");
		return -EINVAL;
	}
	if (w[0].len < 6 || memcmp(w[0].p, "baton/", 6) != 0) {
		snprintf(err, errlen, "not a baton request: expected \"%s COMMAND\"", CTL_PROTO);
		return -EINVAL;
	}
	if (w[0].len != plen || memcmp(w[0].p, CTL_PROTO, plen) != 0) {
		snprintf(err, errlen, "unsupported protocol version %.*s (this baton speaks %s)",
			 (int)(w[0].len > 24 ? 24 : w[0].len), w[0].p, CTL_PROTO);
		return -EPROTONOSUPPORT;
	}
	if (n < 2) {
		snprintf(err, errlen, "missing command");
		return -EINVAL;
	}
	if (word_is(&w[1], "status")) {
		req->cmd = CTL_STATUS;
		return parse_flag(w, n, "json", &req->json, err, errlen, "status");
	}
	if (word_is(&w[1], "ready")) {
		req->cmd = CTL_READY;
		if (n == 2)
			return 0;
		snprintf(err, errlen, "ready takes no argument");
		return -EINVAL;
	}
	if (word_is(&w[1], "live")) {
		req->cmd = CTL_LIVE;
		if (n == 2)
			return 0;
		snprintf(err, errlen, "live takes no argument");
		return -EINVAL;
	}
	if (word_is(&w[1], "reload")) {
		req->cmd = CTL_RELOAD;
		return parse_flag(w, n, "wait", &req->wait, err, errlen, "reload");
	}
	if (word_is(&w[1], "drain")) {
		req->cmd = CTL_DRAIN;
		return parse_flag(w, n, "wait", &req->wait, err, errlen, "drain");
	}
	if (word_is(&w[1], "scale")) {
		req->cmd = CTL_SCALE;
		if (n != 3) {
			snprintf(err, errlen, "scale takes one argument: the number of workers");
			return -EINVAL;
		}
		if (w[2].len < sizeof(num)) {
			memcpy(num, w[2].p, w[2].len);
			num[w[2].len] = '\0';
			if (ctl_parse_count(num, &req->count) == 0)
				return 0;
		}
		snprintf(err, errlen, "scale: \"%.*s\" is not a number from 1 to %d",
			 (int)(w[2].len > 24 ? 24 : w[2].len), w[2].p, CFG_MAX_WORKERS);
		return -EINVAL;
	}
	snprintf(err, errlen, "unknown command \"%.*s\"", (int)(w[1].len > 24 ? 24 : w[1].len),
		 w[1].p);
	return -EINVAL;
}

int ctl_format_request(const struct ctl_request *req, char *buf, size_t len)
{
	int n;

	switch (req->cmd) {
	case CTL_STATUS:
		n = snprintf(buf, len, "%s status%s\n", CTL_PROTO, req->json ? " json" : "");
		break;
	case CTL_READY:
		n = snprintf(buf, len, "%s ready\n", CTL_PROTO);
		break;
	case CTL_LIVE:
		n = snprintf(buf, len, "%s live\n", CTL_PROTO);
		break;
	case CTL_RELOAD:
		n = snprintf(buf, len, "%s reload%s\n", CTL_PROTO, req->wait ? " wait" : "");
		break;
	case CTL_DRAIN:
		n = snprintf(buf, len, "%s drain%s\n", CTL_PROTO, req->wait ? " wait" : "");
		break;
	case CTL_SCALE:
		n = snprintf(buf, len, "%s scale %d\n", CTL_PROTO, req->count);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

void ctl_format_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s;

	if (ms < 0)
		ms = 0;
	s = ms / 1000;
	if (ms < 1000)
		snprintf(buf, len, "%" PRId64 "ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

/* An snprintf that appends and keeps counting past the end of the buffer. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->pos < o->len ? o->buf + o->pos : NULL,
		      o->pos < o->len ? o->len - o->pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

/* A JSON string. The core's strings are plain words, but nothing here relies on it. */
static void put_json_string(struct out *o, const char *s)
{
	if (!s) {
		put(o, "null");
		return;
	}
	put(o, "\"");
	for (; *s; s++) {
		char esc[6];
		size_t n = json_escape_byte((unsigned char)*s, esc);

		put(o, "%.*s", (int)n, esc);
	}
	put(o, "\"");
}

/* A word for the text table: no spaces or control bytes may break its columns. */
static void put_word(struct out *o, const char *s, int width)
{
	char w[24];
	size_t i = 0;

	for (; s && s[i] && i + 1 < sizeof(w); i++) {
		unsigned char c = (unsigned char)s[i];

		w[i] = (c <= 0x20 || c >= 0x7f) ? '_' : (char)c;
	}
	w[i] = '\0';
	put(o, "%-*s", width, i ? w : "-");
}

/* Free text on one line: only control bytes and non-ASCII are replaced. */
static void put_text(struct out *o, const char *s)
{
	for (size_t i = 0; s[i] && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];

		put(o, "%c", (c < 0x20 || c > 0x7e) ? '?' : (char)c);
	}
}

static int view_count(const struct ctl_view *view)
{
	if (view->n < 0)
		return 0;
	return view->n > view->cap ? view->cap : view->n;
}

/* "512M", "1.5G", "-" when not measured: a column narrow enough for a terminal. */
static void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	double v = (double)bytes / 1024;
	int u = 0;

	if (bytes == 0) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void status_text(const struct ctl_view *v, struct out *o)
{
	int n = view_count(v);

	put(o, "pool: ");
	put_text(o, v->pool_state ? v->pool_state : "unknown");
	if (v->rollout_total > 0)
		put(o, " %d/%d", v->rollout_done, v->rollout_total);
	put(o, ", %d worker%s wanted\n", v->workers_wanted, v->workers_wanted == 1 ? "" : "s");
	if (n == 0) {
		put(o, "no workers\n");
		return;
	}
	put(o, "%-5s %-8s %-9s %-7s %-8s %-5s %-4s %-9s %-9s %s\n", "SLOT", "PID", "STATE",
	    "UPTIME", "RESTARTS", "LAST", "GEN", "MEMORY", "HEARTBEAT", "REPLACED");
	for (int i = 0; i < n; i++) {
		const struct ctl_worker_view *w = &v->w[i];
		char up[24], pid[16], last[16], mem[24], beat[24];

		ctl_format_duration(w->uptime_ms, up, sizeof(up));
		if (w->pid > 0)
			snprintf(pid, sizeof(pid), "%d", w->pid);
		else
			snprintf(pid, sizeof(pid), "-");
		if (w->last_status >= 0)
			snprintf(last, sizeof(last), "%d", w->last_status);
		else
			snprintf(last, sizeof(last), "-");
		format_size(w->rss_bytes, mem, sizeof(mem));
		if (w->has_heartbeat)
			ctl_format_duration(w->heartbeat_age_ms, beat, sizeof(beat));
		else
			snprintf(beat, sizeof(beat), "-");
		put(o, "%-5d %-8s ", w->slot, pid);
		put_word(o, w->state, 9);
		put(o, " %-7s %-8d %-5s %-4u %-9s %-9s ", up, w->restarts, last, w->generation, mem,
		    beat);
		put_word(o, w->last_cause ? w->last_cause : "-", 0);
		put(o, "\n");
	}
}

static void json_counts(struct out *o, const struct ctl_count *c, int n)
{
	put(o, "{");
	for (int i = 0; i < n && i < CTL_MAX_COUNTS; i++) {
		put(o, "%s", i ? "," : "");
		put_json_string(o, c[i].name);
		put(o, ":%" PRIu64, c[i].n);
	}
	put(o, "}");
}

static void metrics_json(const struct ctl_metrics *m, struct out *o)
{
	/* Restarts keyed by slot: an object, so that the workers' {"slot": entries stay the only
	 * ones a reader finds. */
	put(o, ",\"metrics\":{\"restarts\":{");
	for (int i = 0; i < m->n_restarts; i++) {
		put(o, "%s\"%d\":", i ? "," : "", m->restarts[i].slot);
		json_counts(o, m->restarts[i].by, m->restarts[i].n);
	}
	put(o, "},\"crash_loops\":%" PRIu64 ",\"rollouts\":", m->crash_loops);
	json_counts(o, m->rollouts, m->n_rollouts);
	put(o, ",\"last_rollout_ms\":");
	if (m->last_rollout_ms >= 0)
		put(o, "%" PRId64, m->last_rollout_ms);
	else
		put(o, "null");
	put(o, ",\"drains\":");
	json_counts(o, m->drains, m->n_drains);
	put(o, ",\"drain_duration\":{\"count\":%" PRIu64 ",\"sum_ms\":%" PRId64 ",\"buckets\":[",
	    m->drain_count, m->drain_sum_ms);
	for (int i = 0; i < m->n_drain_buckets; i++)
		put(o, "%s{\"le_ms\":%" PRId64 ",\"count\":%" PRIu64 "}", i ? "," : "",
		    m->drain_bucket_ms[i], m->drain_le[i]);
	put(o, "]},\"listen_queues\":[");
	for (int i = 0; i < m->n_queues && i < CFG_MAX_LISTEN; i++) {
		put(o, "%s{\"socket\":", i ? "," : "");
		put_json_string(o, m->queues[i].socket);
		put(o, ",\"name\":");
		put_json_string(o, m->queues[i].name);
		put(o, ",\"length\":%u,\"limit\":%u}", m->queues[i].length, m->queues[i].limit);
	}
	put(o, "],\"resident_memory_bytes\":%" PRIu64 ",\"open_fds\":", m->rss_bytes);
	if (m->open_fds >= 0)
		put(o, "%d", m->open_fds);
	else
		put(o, "null");
	put(o, "}");
}

static void status_json(const struct ctl_view *v, struct out *o)
{
	int n = view_count(v);
	char why[64];
	bool ready = ctl_view_ready(v, why, sizeof(why));

	put(o, "{\"pool\":{\"state\":");
	put_json_string(o, v->pool_state ? v->pool_state : "unknown");
	put(o, ",\"stopping\":%s,\"ready\":%s,\"live\":%s,\"workers_wanted\":%d,\"rollout\":",
	    v->stopping ? "true" : "false", ready ? "true" : "false",
	    ctl_view_live(v, why, sizeof(why)) ? "true" : "false", v->workers_wanted);
	if (v->rollout_total > 0)
		put(o, "{\"done\":%d,\"total\":%d}", v->rollout_done, v->rollout_total);
	else
		put(o, "null");
	put(o, "},\"workers\":[");
	for (int i = 0; i < n; i++) {
		const struct ctl_worker_view *w = &v->w[i];

		put(o, "%s{\"slot\":%d,\"pid\":", i ? "," : "", w->slot);
		if (w->pid > 0)
			put(o, "%d", w->pid);
		else
			put(o, "null");
		put(o, ",\"state\":");
		put_json_string(o, w->state);
		put(o, ",\"uptime_ms\":%" PRId64 ",\"restarts\":%d,\"last_status\":",
		    w->uptime_ms < 0 ? 0 : w->uptime_ms, w->restarts);
		if (w->last_status >= 0)
			put(o, "%d", w->last_status);
		else
			put(o, "null");
		put(o, ",\"generation\":%u,\"rss_bytes\":", w->generation);
		if (w->rss_bytes > 0)
			put(o, "%" PRIu64, w->rss_bytes);
		else
			put(o, "null");
		put(o, ",\"heartbeat_age_ms\":");
		if (w->has_heartbeat)
			put(o, "%" PRId64, w->heartbeat_age_ms < 0 ? 0 : w->heartbeat_age_ms);
		else
			put(o, "null");
		put(o, ",\"last_replacement\":");
		put_json_string(o, w->last_cause);
		put(o, "}");
	}
	put(o, "]");
	if (v->metrics)
		metrics_json(v->metrics, o);
	put(o, "}\n");
}

size_t ctl_format_status(const struct ctl_view *view, bool json, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };

	if (buf && len)
		buf[0] = '\0';
	if (json)
		status_json(view, &o);
	else
		status_text(view, &o);
	return o.pos;
}

bool ctl_view_ready(const struct ctl_view *view, char *why, size_t whylen)
{
	int n = view_count(view);

	if (view->stopping) {
		snprintf(why, whylen, "baton is stopping");
		return false;
	}
	for (int i = 0; i < n; i++) {
		if (view->w[i].state && strcmp(view->w[i].state, "ready") == 0) {
			snprintf(why, whylen, "ready");
			return true;
		}
	}
	snprintf(why, whylen, "no worker is ready");
	return false;
}

bool ctl_view_live(const struct ctl_view *view, char *why, size_t whylen)
{
	char for_how_long[24];

	if (view->stopping || view->live_bound_ms <= 0 || view->unready_ms <= view->live_bound_ms) {
		snprintf(why, whylen, "live");
		return true;
	}
	ctl_format_duration(view->unready_ms, for_how_long, sizeof(for_how_long));
	snprintf(why, whylen, "slot %d has had no ready worker for %s", view->unready_slot,
		 for_how_long);
	return false;
}

enum ctl_line ctl_classify_line(const char *line, const char **text)
{
	if (strcmp(line, "ok") == 0) {
		*text = "";
		return CTL_LINE_OK;
	}
	if (strncmp(line, "ok ", 3) == 0) {
		*text = line + 3;
		return CTL_LINE_OK;
	}
	if (strcmp(line, "error") == 0) {
		*text = "";
		return CTL_LINE_ERROR;
	}
	if (strncmp(line, "error ", 6) == 0) {
		*text = line + 6;
		return CTL_LINE_ERROR;
	}
	*text = line;
	return CTL_LINE_DATA;
}

void ctl_sanitize(char *text)
{
	for (; *text; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c > 0x7e)
			*text = '?';
	}
}

int ctl_candidates(const char *first, const char *xdg, char out[3][CTL_PATH_MAX])
{
	const char *dirs[2] = { xdg, "/tmp" };
	int n = 0;

	if (!first)
		first = CTL_DEFAULT_PATH;
	if (strlen(first) < CTL_PATH_MAX)
		snprintf(out[n++], CTL_PATH_MAX, "%s", first);
	for (int i = 0; i < 2; i++) {
		char p[CTL_PATH_MAX];
		int len;
		bool dup = false;

		if (!dirs[i] || dirs[i][0] != '/')
			continue;
		len = snprintf(p, sizeof(p), "%s%s%s", dirs[i],
			       dirs[i][strlen(dirs[i]) - 1] == '/' ? "" : "/", CTL_SOCKET_NAME);
		if (len < 0 || (size_t)len >= sizeof(p))
			continue;
		for (int j = 0; j < n; j++)
			dup |= strcmp(out[j], p) == 0;
		if (!dup)
			memcpy(out[n++], p, sizeof(p));
	}
	return n;
}
