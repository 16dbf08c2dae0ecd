/*
 * log: one line per event on stderr. Lines are built in a local buffer and written with a
 * single write(2), so lines from baton never interleave mid-line with the workers' output
 * on a shared stderr pipe (writes up to PIPE_BUF are atomic).
 */
#include "baton/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "baton/json.h"

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_setup(enum log_level level, enum log_format format)
{
	current_level = level;
	current_format = format;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

/* Append text to a JSON string body; a byte whose escape no longer fits ends it there. */
static size_t json_escape(char *out, size_t cap, const char *text)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p && n + 7 < cap; p++)
		n += json_escape_byte(*p, out + n);
	out[n] = '\0';
	return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[1024], line[2200];
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (current_format == LOG_JSON) {
		char escaped[2048];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		json_escape(escaped, sizeof(escaped), msg);
		n = snprintf(line, sizeof(line),
			     "{\"time\":%lld.%03ld,\"level\":\"%s\",\"source\":\"baton\",\"msg\":\"%s\"}\n",
			     (long long)ts.tv_sec, ts.tv_nsec / 1000000, level_names[level], escaped);
	} else {
		n = snprintf(line, sizeof(line), "baton: %s%s%s\n",
			     level == LOG_INFO ? "" : level_names[level], level == LOG_INFO ? "" : ": ",
			     msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* Cut, but still one line. */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* A failed write of a log line has nowhere better to be reported. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}
