/*
 * loop: epoll over the fds of baton's modules, and one timerfd armed for the earliest of the
 * modules' timers. All deadlines are absolute times on CLOCK_MONOTONIC so that a wall-clock
 * jump (NTP, a container restored from a checkpoint) can neither fire nor delay them.
 *
 * Armed timers are a short unsorted list (the pool's deadline, the control socket's idle
 * clients, the health checks, the metrics clients): finding the earliest is a walk of a
 * handful of entries, cheaper than keeping a heap in order.
 */
#include "baton/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 32

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_timerfd(struct loop_watch *watch, uint32_t events)
{
	struct loop *loop = watch->ctx;
	uint64_t expirations;

	(void)events;
	/* Drain the counter; the due timers are found by time, not by this count. */
	if (read(loop->timerfd, &expirations, sizeof(expirations)) > 0)
		loop->timerfd_at_ms = -1; /* the kernel disarmed the one-shot timer */
}

int loop_init(struct loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->timerfd_at_ms = -1;
	loop->timerfd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->timerfd < 0) {
		int err = -errno;

		close(loop->epfd);
		return err;
	}
	return loop_add(loop, &loop->timer_watch, loop->timerfd, EPOLLIN, on_timerfd, loop);
}

void loop_close(struct loop *loop)
{
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->timerfd = loop->epfd = -1;
	loop->armed = NULL;
}

int loop_add(struct loop *loop, struct loop_watch *watch, int fd, uint32_t events, loop_fn fn,
	     void *ctx)
{
	struct epoll_event ev = { .events = events, .data.ptr = watch };

	watch->fd = fd;
	watch->events = events;
	watch->fn = fn;
	watch->ctx = ctx;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_mod(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = watch };

	if (events == watch->events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, watch->fd, &ev) < 0)
		return -errno;
	watch->events = events;
	return 0;
}

void loop_del(struct loop *loop, struct loop_watch *watch)
{
	if (watch->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
	watch->fn = NULL;
	/* Events for this watch may already sit in the batch being dispatched, and its owner
	 * may free it as soon as this returns: forget them. */
	for (int i = loop->batch_next; i < loop->batch_len; i++)
		if (loop->batch[i].data.ptr == watch)
			loop->batch[i].data.ptr = NULL;
}

void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn, void *ctx)
{
	memset(timer, 0, sizeof(*timer));
	timer->at_ms = -1;
	timer->fn = fn;
	timer->ctx = ctx;
}

static void unlink_timer(struct loop *loop, struct loop_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->armed = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

void loop_timer_set(struct loop *loop, struct loop_timer *timer, int64_t at_ms)
{
	bool was_armed = timer->at_ms >= 0;

	if (at_ms < 0) {
		if (was_armed)
			unlink_timer(loop, timer);
		timer->at_ms = -1;
		return;
	}
	timer->at_ms = at_ms;
	if (!was_armed) {
		timer->prev = NULL;
		timer->next = loop->armed;
		if (loop->armed)
			loop->armed->prev = timer;
		loop->armed = timer;
	}
}

void loop_set_post(struct loop *loop, loop_post_fn fn, void *ctx)
{
	loop->post = fn;
	loop->post_ctx = ctx;
}

static int64_t earliest(const struct loop *loop)
{
	int64_t next = -1;

	for (const struct loop_timer *t = loop->armed; t; t = t->next)
		if (next < 0 || t->at_ms < next)
			next = t->at_ms;
	return next;
}

/* Set the timerfd for the earliest timer, or disarm it: one system call only when that
 * changes, so a loop whose timers stay put costs nothing more per turn. */
static int arm_timerfd(struct loop *loop)
{
	struct itimerspec its = { 0 };
	int64_t at_ms = earliest(loop);

	if (at_ms == loop->timerfd_at_ms)
		return 0;
	if (at_ms >= 0) {
		/* An absolute time of 0 would disarm the timer: a past deadline fires at once. */
		if (at_ms < 1)
			at_ms = 1;
		its.it_value.tv_sec = at_ms / 1000;
		its.it_value.tv_nsec = (at_ms % 1000) * 1000000;
	}
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	loop->timerfd_at_ms = at_ms;
	return 0;
}

static void post(struct loop *loop)
{
	if (loop->post)
		loop->post(loop->post_ctx);
}

/* Fire every timer due by now, one at a time: a timer's fn or the post step may arm, move or
 * disarm any timer, so the list is walked again from its head after each. */
static void fire_due_timers(struct loop *loop)
{
	int64_t now = loop_now_ms();
	struct loop_timer *t;

	for (;;) {
		for (t = loop->armed; t && t->at_ms > now; t = t->next)
			;
		if (!t)
			return;
		unlink_timer(loop, t);
		t->at_ms = -1;
		t->fn(t);
		post(loop);
	}
}

int loop_run_once(struct loop *loop)
{
	struct epoll_event events[LOOP_BATCH];
	int n, err;

	if ((err = arm_timerfd(loop)) < 0)
		return err;
	n = epoll_wait(loop->epfd, events, LOOP_BATCH, -1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->batch = events;
	loop->batch_len = n;
	for (int i = 0; i < n; i++) {
		struct loop_watch *watch = events[i].data.ptr;

		loop->batch_next = i + 1;
		if (!watch || !watch->fn)
			continue;
		watch->fn(watch, events[i].events);
		if (watch != &loop->timer_watch)
			post(loop);
	}
	loop->batch = NULL;
	loop->batch_len = loop->batch_next = 0;
	fire_due_timers(loop);
	return 0;
}
