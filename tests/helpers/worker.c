/*
 * worker: a test app for baton's integration tests.
 *
 *   worker [-i SIG]... [-s] [-e MS:CODE] [-t CODE] [-z N] [-o N] [-O] [-r MS] [-f] [-H]
 *
 *   -i SIG    ignore this signal (number), e.g. -i 15 to ignore SIGTERM
 *   -s        print "worker ID got SIGNUM" on stdout for every catchable signal
 *   -e MS:CODE  exit with CODE after MS milliseconds
 *   -t CODE   exit with CODE on SIGTERM (default: die of SIGTERM)
 *   -z N      create N orphans that exit at once (zombies for PID 1 to reap)
 *   -o N      create N orphans that sleep; they print "orphan got 15" on SIGTERM and exit
 *   -O        the orphans of -o ignore SIGTERM
 *   -r MS     write a byte to $BATON_READY_FD after MS milliseconds
 *   -f        print "fds: ..." (open fds) and "sigign/sigblk" lines at start
 *   -H        serve HTTP on fd 3 (LISTEN_FDS): "ok ID PID\n" with Connection: close
 *
 * On start it prints "started ID PID". ID is $BATON_WORKER_ID.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *id = "?";
static int term_code = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(1, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void on_signal(int sig)
{
	if (sig == SIGTERM && term_code >= 0)
		_exit(term_code);
	say("worker %s got %d\n", id, sig);
	if (sig == SIGTERM) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
	}
}

static void on_orphan_term(int sig)
{
	say("orphan got %d\n", sig);
	_exit(0);
}

static void make_orphans(int n, bool sleepers, bool ignore_term)
{
	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p < 0) {
			/* Out of processes for the moment: wait for the earlier ones to be reaped. */
			usleep(1000);
			i--;
			continue;
		}
		if (p == 0) {
			if (fork() == 0) {
				if (!sleepers)
					_exit(0);
				signal(SIGTERM, ignore_term ? SIG_IGN : on_orphan_term);
				setpgid(0, 0); /* not in the worker's group: only PID 1 can reach it */
				say("orphan %d\n", (int)getpid());
				for (;;)
					pause();
			}
			_exit(0);
		}
		waitpid(p, NULL, 0);
	}
}

static void print_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char line[512] = "fds:";
	char status[4096];
	FILE *f;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		strncat(line, " ", sizeof(line) - strlen(line) - 1);
		strncat(line, de->d_name, sizeof(line) - strlen(line) - 1);
	}
	if (d)
		closedir(d);
	say("%s\n", line);
	f = fopen("/proc/self/status", "r");
	while (f && fgets(status, sizeof(status), f))
		if (!strncmp(status, "SigIgn:", 7) || !strncmp(status, "SigBlk:", 7))
			say("%s", status);
	if (f)
		fclose(f);
}

static void serve_http(void)
{
	for (;;) {
		char req[2048], resp[256];
		int c = accept(3, NULL, NULL);
		int n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		(void)!read(c, req, sizeof(req));
		n = snprintf(resp, sizeof(resp), "ok %s %d\n", id, (int)getpid());
		dprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", n,
			resp);
		close(c);
	}
}

int main(int argc, char **argv)
{
	int exit_ms = -1, exit_code = 0, ready_ms = -1, zombies = 0, orphans = 0;
	bool trace = false, fds = false, http = false, orphans_ignore = false;
	struct sigaction sa = { .sa_handler = on_signal };
	int opt;

	if (getenv("BATON_WORKER_ID"))
		id = getenv("BATON_WORKER_ID");
	sigemptyset(&sa.sa_mask);
	while ((opt = getopt(argc, argv, "i:se:t:z:o:Or:fH")) != -1) {
		switch (opt) {
		case 'i':
			signal(atoi(optarg), SIG_IGN);
			break;
		case 's':
			trace = true;
			break;
		case 'e':
			if (sscanf(optarg, "%d:%d", &exit_ms, &exit_code) != 2)
				return 64;
			break;
		case 't':
			term_code = atoi(optarg);
			sigaction(SIGTERM, &sa, NULL);
			break;
		case 'z':
			zombies = atoi(optarg);
			break;
		case 'o':
			orphans = atoi(optarg);
			break;
		case 'O':
			orphans_ignore = true;
			break;
		case 'r':
			ready_ms = atoi(optarg);
			break;
		case 'f':
			fds = true;
			break;
		case 'H':
			http = true;
			break;
		default:
			return 64;
		}
	}
	if (trace) {
		for (int sig = 1; sig < NSIG; sig++) {
			struct sigaction old;

			if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD)
				continue;
			if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
				continue;
			sigaction(sig, &sa, NULL);
		}
	}
	if (fds)
		print_fds();
	say("started %s %d\n", id, (int)getpid());
	if (zombies)
		make_orphans(zombies, false, false);
	if (orphans)
		make_orphans(orphans, true, orphans_ignore);
	if (zombies)
		say("zombies done %s\n", id);
	if (ready_ms >= 0) {
		const char *fd = getenv("BATON_READY_FD");

		usleep((useconds_t)ready_ms * 1000);
		if (fd)
			(void)!write(atoi(fd), "1", 1);
	}
	if (http)
		serve_http();
	if (exit_ms >= 0) {
		struct timespec ts = { exit_ms / 1000, (exit_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return exit_code;
	}
	for (;;)
		pause();
}
