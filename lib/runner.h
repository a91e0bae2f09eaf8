/*
 * runner.h - runner.c: an agent's engine (agq-run(8)).
 *
 * The main loop of agq-run.
 */
#ifndef AGQ_RUNNER_H
#define AGQ_RUNNER_H

#include <jansson.h>
#include "spool.h"

struct agq_run_opts {
	const char *agent;
	json_t *caps;           /* array of strings, borrowed */
	int slots;
	int prefetch;           /* leases taken beyond SLOTS (--prefetch) */
	double heartbeat_s;
	int once;
	json_t *backends;       /* --backend: arrays of strings, borrowed; */
	json_t *endpoints;      /* --endpoint  NULL or empty when not given */
	json_t *models;         /* --model     (agq-run(8), routing) */
	const char *cap_token;  /* --cap-token: the token (captoken.h), 64
	                         * hex digits, put in the agent file; NULL */
	double poll_s;          /* --poll (wake.h agq_waiter_setup): < 0 not
	                         * given, 0 inotify even on a remote spool */
};
/* Run agent O->agent on SP (agq-run(8)).  Returns an exit status. */
int agq_runner(struct agq_spool *sp, const struct agq_run_opts *o);

#endif
