/*
 * loop: a thin epoll loop with one deadline on the monotonic clock.
 *
 * Callers own their struct loop_watch (no allocation here); the loop stores a pointer to it
 * in epoll's data and calls watch->fn when the fd is ready. The loop never sleeps by polling:
 * with no deadline armed it blocks until an fd is ready, so an idle baton makes no wake-ups.
 */
#ifndef BATON_LOOP_H
#define BATON_LOOP_H

#include <stdint.h>

struct loop;
struct loop_watch;

typedef void (*loop_fn)(struct loop_watch *watch, uint32_t events);

struct loop_watch {
	int fd;
	uint32_t events; /* what epoll watches now, so that an unchanged loop_mod costs nothing */
	loop_fn fn;
	void *ctx;
};

struct loop {
	int epfd;
	int timerfd;
	int64_t deadline_ms; /* armed absolute monotonic deadline, or -1 */
	struct loop_watch timer_watch;
	int timer_fired;
};

/* Monotonic clock in milliseconds. */
int64_t loop_now_ms(void);

/* 0 or -errno. */
int loop_init(struct loop *loop);
void loop_close(struct loop *loop);

/* Watch fd for events (EPOLLIN, ...); calls fn(watch, events). 0 or -errno. */
int loop_add(struct loop *loop, struct loop_watch *watch, int fd, uint32_t events, loop_fn fn,
	     void *ctx);
/* Change what fd is watched for. 0 or -errno; no system call when events are unchanged, so
 * callers can state what they want after every step without tracking it themselves. */
int loop_mod(struct loop *loop, struct loop_watch *watch, uint32_t events);
/* Stop watching; the fd is not closed. Safe on a watch whose fd is -1. */
void loop_del(struct loop *loop, struct loop_watch *watch);

/* Arm the one deadline (absolute, monotonic ms), or disarm with -1. 0 or -errno. */
int loop_set_deadline(struct loop *loop, int64_t at_ms);

/*
 * Wait for ready fds or the deadline and dispatch them. Returns 1 if the deadline passed
 * during this call, 0 otherwise, -errno on a failure of epoll itself (EINTR is 0).
 */
int loop_run_once(struct loop *loop);

#endif
