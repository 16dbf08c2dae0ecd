/*
 * run_modules: the table of modules the runner walks (run_int.h). The order is the set-up
 * order: the sandbox first (a user that does not exist is found before anything is bound;
 * it restricts baton itself once everything is bound, in before_start),
 * the sockets before anything that hands them out, the hook commands last (--pre-start runs
 * when everything else is ready).
 */
#include "run_int.h"

extern const struct run_module mod_sandbox, mod_sockets, mod_ready_fd, mod_notify, mod_control,
	mod_node, mod_health, mod_metrics, mod_hooks;

const struct run_module *const run_modules[] = {
	&mod_sandbox, &mod_sockets, &mod_ready_fd, &mod_notify, &mod_control, &mod_node,
	&mod_health, &mod_metrics, &mod_hooks,
};

const size_t run_n_modules = sizeof(run_modules) / sizeof(run_modules[0]);
