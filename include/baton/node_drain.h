/*
 * node_drain: the drain preload for Node cluster workers (--node-drain graceful).
 *
 * src/node_drain.mjs, built into baton as base64, reaches each worker as
 * NODE_OPTIONS="--import data:text/javascript;base64,...": nothing is written to disk, so it
 * works on a read-only root and under --user. What it does is described in the .mjs.
 */
#ifndef BATON_NODE_DRAIN_H
#define BATON_NODE_DRAIN_H

/* The option that loads the preload: "--import data:text/javascript;base64,...". */
extern const char ndrain_import_option[];

/*
 * The NODE_OPTIONS entry for a worker: "NODE_OPTIONS=" followed by the user's own value (NULL
 * or "" when there is none), a space, and ndrain_import_option; the user's options are kept,
 * in front, as they were. Returns 0 with a malloc'd string in *out, or -ENOMEM.
 */
int ndrain_env(const char *user_options, char **out);

#endif
