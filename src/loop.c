/*
 * loop: epoll over the fds of baton's modules, plus one timerfd for the supervisor's next
 * deadline. All deadlines are absolute times on CLOCK_MONOTONIC so that a wall-clock jump
 * (NTP, a container restored from a checkpoint) can neither fire nor delay them.
 */
#include "baton/loop.h"

#include <errno.h>
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

static void on_timer(struct loop_watch *watch, uint32_t events)
{
	struct loop *loop = watch->ctx;
	uint64_t expirations;

	(void)events;
	/* Drain the counter; a spurious wake-up (EAGAIN) is harmless. */
	if (read(loop->timerfd, &expirations, sizeof(expirations)) > 0)
		loop->timer_fired = 1;
}

int loop_init(struct loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->deadline_ms = -1;
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
	return loop_add(loop, &loop->timer_watch, loop->timerfd, EPOLLIN, on_timer, loop);
}

void loop_close(struct loop *loop)
{
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->timerfd = loop->epfd = -1;
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
	/* Events for this watch may already sit in the current batch: make them no-ops. */
	watch->fn = NULL;
}

int loop_set_deadline(struct loop *loop, int64_t at_ms)
{
	struct itimerspec its = { 0 };

	if (at_ms == loop->deadline_ms)
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
	loop->deadline_ms = at_ms;
	return 0;
}

int loop_run_once(struct loop *loop)
{
	struct epoll_event events[LOOP_BATCH];
	int n;

	loop->timer_fired = 0;
	n = epoll_wait(loop->epfd, events, LOOP_BATCH, -1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_watch *watch = events[i].data.ptr;

		if (watch->fn)
			watch->fn(watch, events[i].events);
	}
	if (loop->timer_fired) {
		/* The kernel disarmed the one-shot timer; remember that. */
		loop->deadline_ms = -1;
		return 1;
	}
	return 0;
}
