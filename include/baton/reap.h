/*
 * reap: collect every exited child. One SIGCHLD can stand for many exits, so this loops on
 * waitpid(-1, WNOHANG) until nothing is left to collect.
 */
#ifndef BATON_REAP_H
#define BATON_REAP_H

#include <sys/types.h>

typedef void (*reap_fn)(void *ctx, pid_t pid, int wstatus);

/* Calls fn for every exited child. Returns 1 if children remain, 0 if none is left (ECHILD). */
int reap_all(reap_fn fn, void *ctx);

#endif
