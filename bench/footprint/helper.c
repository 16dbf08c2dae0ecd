/*
 * bench/footprint/helper: the processes bench/footprint/run puts under each init, and the
 * sender of its signals. Built by the run script with cc; not part of baton.
 *
 *   helper backlog N ROUNDS OUT   the init's one child. Each round it makes N zombies for the
 *                                 init at once and times how long the init takes to reap
 *                                 them; one line per round in OUT ("WALL_US CPU_US"), then
 *                                 "done", then it waits to be killed.
 *   helper sigrecv SHM            the init's one child: records, in SHM, how long after the
 *                                 sender's kill(2) to the init its SIGUSR1 arrives.
 *   helper sigsend SHM PID N      outside: N times, the time in SHM, then SIGUSR1 to PID (the
 *                                 init); prints "P50_US P99_US MAX_US LOST".
 *
 * The backlog: the child forks X, X forks W and exits, so W is an orphan, a child of the init.
 * W forks N children that exit at once (vfork then _exit) and keeps them as zombies until all
 * N are dead, then exits: its zombie and its N zombie children all go to the init in one
 * step (the kernel moves them and sends the init SIGCHLD). The clock starts when W exits and
 * stops when the last of them is reaped: the kernel reaps a waitpid(-1) in the order of the
 * init's list of children, so W first and W's last child last; that is checked after each
 * round against /proc/1/task/1/children, and waited for if it was not so. The CPU time the
 * init used meanwhile (/proc/1/schedstat) is its work, whatever else the machine did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 100000

struct shm {
	volatile int64_t t0;
	volatile uint32_t seq, ack, ready, n;
	int64_t delta[MAX_SAMPLES];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pause_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t init_cpu_ns(void)
{
	char buf[128];
	int fd = open("/proc/1/schedstat", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* Children of the init other than us: what is left to reap. */
static int init_children_but(pid_t self)
{
	char buf[65536];
	int fd = open("/proc/1/task/1/children", O_RDONLY), count = 0;
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (char *p = buf, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid != self)
			count++;
	}
	return count;
}

static void full_write(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(3);
}

static void full_read(int fd, void *buf, size_t len)
{
	if (read(fd, buf, len) != (ssize_t)len)
		_exit(3);
}

/* W: N zombie children, then exit. */
static void make_backlog(int n, int report, int go)
{
	pid_t *pids = calloc((size_t)n, sizeof(*pids)), self = getpid();
	int64_t t0;
	char c;

	if (!pids)
		_exit(3);
	full_write(report, &self, sizeof(self));
	for (int i = 0; i < n; i++) {
		pid_t pid = vfork();

		if (pid == 0)
			_exit(0);
		if (pid < 0)
			_exit(3);
		pids[i] = pid;
	}
	for (int i = 0; i < n; i++) {
		siginfo_t si;

		while (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
	}
	full_write(report, &pids[n - 1], sizeof(pid_t));
	full_read(go, &c, 1);
	/* The clock starts as W exits: the kernel then moves its children to the init, the same
	 * work whatever the init, and the init can reap none before that is done. */
	t0 = now_ns();
	full_write(report, &t0, sizeof(t0));
	_exit(0);
}

static int backlog(int n, int rounds, const char *out_path)
{
	pid_t self = getpid();
	FILE *out = fopen(out_path, "w");

	if (!out)
		return 1;
	setvbuf(out, NULL, _IOLBF, 0);
	prctl(PR_SET_TIMERSLACK, 1UL);
	pause_ns(300000000); /* the init settles: its own start is not measured */
	for (int r = 0; r < rounds; r++) {
		int report[2], go[2], pidfd;
		pid_t x, w, last;
		int64_t t0, t1, c0, c1;

		if (pipe(report) < 0 || pipe(go) < 0)
			return 1;
		x = fork();
		if (x == 0) {
			if (fork() == 0) {
				close(report[0]);
				close(go[1]);
				make_backlog(n, report[1], go[0]);
			}
			_exit(0);
		}
		waitpid(x, NULL, 0);
		close(report[1]);
		close(go[0]);
		full_read(report[0], &w, sizeof(w));
		full_read(report[0], &last, sizeof(last));
		pidfd = (int)syscall(SYS_pidfd_open, last, 0);
		if (pidfd < 0)
			return 1;
		c0 = init_cpu_ns();
		full_write(go[1], "g", 1);
		full_read(report[0], &t0, sizeof(t0));
		/* Until W's last child is reaped: a signal 0 to a zombie succeeds, to a reaped
		 * process fails with ESRCH. */
		while (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0)
			pause_ns(200000);
		t1 = now_ns();
		c1 = init_cpu_ns();
		/* Whatever the order, the round ends when nothing is left to reap. */
		while (init_children_but(self) > 0) {
			pause_ns(1000000);
			t1 = now_ns();
			c1 = init_cpu_ns();
		}
		close(pidfd);
		close(report[0]);
		close(go[1]);
		fprintf(out, "%lld %lld\n", (long long)((t1 - t0) / 1000),
			(long long)((c1 - c0) / 1000));
		pause_ns(200000000);
	}
	fprintf(out, "done\n");
	fclose(out);
	for (;;)
		pause();
}

static struct shm *map_shm(const char *path, bool create)
{
	int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
	void *m;

	if (fd < 0)
		return NULL;
	if (create && ftruncate(fd, sizeof(struct shm)) < 0)
		return NULL;
	m = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

static struct shm *rx;

static void on_usr1(int sig)
{
	int64_t t = now_ns();

	(void)sig;
	if (rx->n < MAX_SAMPLES)
		rx->delta[rx->n++] = t - rx->t0;
	__atomic_store_n(&rx->ack, rx->seq, __ATOMIC_RELEASE);
}

static int sigrecv(const char *path)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };

	rx = map_shm(path, false);
	if (!rx)
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	__atomic_store_n(&rx->ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int sigsend(const char *path, pid_t pid, int samples)
{
	struct shm *s = map_shm(path, false);
	int lost = 0;
	uint32_t n;

	if (!s || samples > MAX_SAMPLES)
		return 1;
	prctl(PR_SET_TIMERSLACK, 1UL);
	for (int i = 0; i < 5000 && !__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE); i++)
		pause_ns(1000000);
	if (!s->ready)
		return 1;
	srand(1);
	for (int i = 0; i < samples; i++) {
		uint32_t seq = (uint32_t)i + 1;
		int64_t deadline;

		s->seq = seq;
		__atomic_store_n(&s->t0, now_ns(), __ATOMIC_RELEASE);
		if (kill(pid, SIGUSR1) < 0)
			return 1;
		deadline = now_ns() + 1000000000;
		while (__atomic_load_n(&s->ack, __ATOMIC_ACQUIRE) != seq) {
			if (now_ns() > deadline) {
				lost++;
				break;
			}
			pause_ns(10000);
		}
		/* A random gap, so that no init's timer lines up with the samples. */
		pause_ns(200000 + rand() % 300000);
	}
	n = s->n;
	if (n == 0)
		return 1;
	qsort(s->delta, n, sizeof(s->delta[0]), cmp64);
	printf("%.1f %.1f %.1f %d\n", s->delta[n / 2] / 1000.0,
	       s->delta[(size_t)((n - 1) * 0.99)] / 1000.0, s->delta[n - 1] / 1000.0, lost);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "backlog") == 0)
		return backlog(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (argc == 3 && strcmp(argv[1], "sigrecv") == 0)
		return sigrecv(argv[2]);
	if (argc == 3 && strcmp(argv[1], "shm") == 0)
		return map_shm(argv[2], true) ? 0 : 1;
	if (argc == 5 && strcmp(argv[1], "sigsend") == 0)
		return sigsend(argv[2], (pid_t)atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: helper backlog N ROUNDS OUT | sigrecv SHM | shm SHM | "
			"sigsend SHM PID N\n");
	return 2;
}
