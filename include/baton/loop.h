/*
 * loop: a thin epoll loop with timers on the monotonic clock and one post-dispatch step.
 *
 * Callers own their struct loop_watch and struct loop_timer (no allocation here); the loop
 * stores a pointer to a watch in epoll's data and calls watch->fn when the fd is ready, and
 * calls a timer's fn once its absolute deadline has passed. Every timer shares the loop's one
 * timerfd, armed for the earliest of them. After every dispatched event (an fd or a timer) the
 * loop runs its post step: the one place where the decisions those events led to are carried
 * out (redis ae's beforesleep, sd-event's post sources), so that no callback has to.
 * The loop never sleeps by polling: with no timer armed it blocks until an fd is ready, so an
 * idle baton makes no wake-ups.
 */
#ifndef BATON_LOOP_H
#define BATON_LOOP_H

#include <stdint.h>

struct epoll_event;
struct loop;
struct loop_watch;
struct loop_timer;

typedef void (*loop_fn)(struct loop_watch *watch, uint32_t events);
typedef void (*loop_timer_fn)(struct loop_timer *timer);
typedef void (*loop_post_fn)(void *ctx);

struct loop_watch {
	int fd;
	uint32_t events; /* what epoll watches now, so that an unchanged loop_mod costs nothing */
	loop_fn fn;
	void *ctx;
};

struct loop_timer {
	int64_t at_ms;                  /* armed absolute monotonic deadline, or -1 */
	loop_timer_fn fn;
	void *ctx;
	struct loop_timer *prev, *next; /* in the loop's list of armed timers */
};

struct loop {
	int epfd;
	int timerfd;
	int64_t timerfd_at_ms; /* what the timerfd is armed for, or -1 */
	struct loop_watch timer_watch;
	struct loop_timer *armed;
	loop_post_fn post;
	void *post_ctx;
	struct epoll_event *batch; /* the events being dispatched, for loop_del */
	int batch_next, batch_len;
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
/* Stop watching; the fd is not closed. Safe on a watch whose fd is -1, and the watch may be
 * freed once this returns, even from inside a callback of the same turn. */
void loop_del(struct loop *loop, struct loop_watch *watch);

/* A timer, disarmed. */
void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn, void *ctx);
/* Arm the timer for at_ms (absolute, monotonic; a time already passed fires on the next
 * turn), or disarm it with -1. Re-arming moves it. Never fails: the timerfd is set when the
 * loop next waits. A timer fires once per arming; its fn may arm it again. */
void loop_timer_set(struct loop *loop, struct loop_timer *timer, int64_t at_ms);

/* The step run after every dispatched event; NULL for none. */
void loop_set_post(struct loop *loop, loop_post_fn fn, void *ctx);

/*
 * Wait until an fd is ready or a timer is due, and dispatch what is: ready fds first, then
 * every due timer, each followed by the post step. Returns 0, or -errno on a failure of epoll
 * or the timerfd itself (EINTR is 0).
 */
int loop_run_once(struct loop *loop);

#endif
