/*
 * baton: argv and the environment -> struct config -> baton_run(), or `baton ctl ...`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "baton/config.h"
#include "baton/control.h"
#include "baton/log.h"
#include "baton/run.h"

extern char **environ;

int main(int argc, char **argv)
{
	struct config cfg;
	enum cfg_action action;
	char err[512];

	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_client_main(argc - 1, argv + 1);
	cfg_defaults(&cfg);
	if (cfg_parse(&cfg, argc, argv, environ, &action, err, sizeof(err)) < 0) {
		fprintf(stderr, "baton: %s\n", err);
		return 2;
	}
	if (action == CFG_HELP) {
		fputs(cfg_usage, stdout);
		return 0;
	}
	if (action == CFG_VERSION) {
		printf("baton %s\n", BATON_VERSION);
		return 0;
	}
	log_setup(cfg.log_level, cfg.log_format);
	return baton_run(&cfg, environ);
}
