#include "baton/reap.h"

#include <errno.h>
#include <sys/wait.h>

int reap_all(reap_fn fn, void *ctx)
{
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);

		if (pid > 0) {
			fn(ctx, pid, wstatus);
			continue;
		}
		if (pid == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return 0; /* ECHILD */
	}
}
