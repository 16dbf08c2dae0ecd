/*
 * run: baton's main loop. Sets up what PID 1 needs (signals as data, subreaper, sockets,
 * sandbox, control socket), then carries out the supervisor's decisions until it says exit.
 */
#ifndef BATON_RUN_H
#define BATON_RUN_H

#include "baton/config.h"

/* Run the pool described by cfg. envp is baton's environment (passed on to workers).
 * Returns baton's exit status. Set-up errors are logged and return 2 (bad usage) or 1. */
int baton_run(struct config *cfg, char **envp);

#endif
