/*
 * loop: dispatch of a ready fd, interest changes through loop_mod, and the one deadline,
 * against a real epoll and a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "baton/loop.h"

static int calls;

static void on_ready(struct loop_watch *watch, uint32_t events)
{
	(void)watch;
	if (events & EPOLLIN)
		calls++;
}

static void on_turn_end(struct loop_timer *t)
{
	(void)t;
}

/* One turn of the loop, bounded: a timer 20 ms ahead ends it if no fd is ready. */
static void turn(struct loop *loop)
{
	struct loop_timer t;

	loop_timer_init(&t, on_turn_end, NULL);
	loop_timer_set(loop, &t, loop_now_ms() + 20);
	assert_true(loop_run_once(loop) >= 0);
	loop_timer_set(loop, &t, -1);
}

static void test_mod_changes_interest(void **state)
{
	struct loop loop;
	struct loop_watch w;
	int p[2];

	(void)state;
	assert_int_equal(loop_init(&loop), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(loop_add(&loop, &w, p[0], EPOLLIN, on_ready, NULL), 0);
	assert_int_equal(write(p[1], "x", 1), 1);

	calls = 0;
	turn(&loop);
	assert_int_equal(calls, 1);

	/* No interest: the readable pipe is not dispatched. */
	assert_int_equal(loop_mod(&loop, &w, 0), 0);
	turn(&loop);
	assert_int_equal(calls, 1);

	/* Interest back: it is. */
	assert_int_equal(loop_mod(&loop, &w, EPOLLIN), 0);
	turn(&loop);
	assert_int_equal(calls, 2);

	/* With the fd gone from epoll, a change fails, while an unchanged interest makes no
	 * system call at all and so cannot fail. */
	assert_int_equal(epoll_ctl(loop.epfd, EPOLL_CTL_DEL, p[0], NULL), 0);
	assert_int_equal(loop_mod(&loop, &w, EPOLLIN), 0);
	assert_int_equal(loop_mod(&loop, &w, EPOLLIN | EPOLLOUT), -ENOENT);
	assert_int_equal(w.events, EPOLLIN); /* unchanged by the failure */

	close(p[0]);
	close(p[1]);
	loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mod_changes_interest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
