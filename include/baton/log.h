/*
 * log: baton's own events, one line each on stderr (never stdout, which belongs to the
 * workers), as text or JSON.
 */
#ifndef BATON_LOG_H
#define BATON_LOG_H

#include "baton/config.h"

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);

/* One line at the given level. Never fails visibly: a log write that cannot be done is dropped. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
