/*
 * sched.h - sched.c: the scheduler's engine (agq-sched(8)).
 *
 * The main loop of agq-sched.
 */
#ifndef AGQ_SCHED_H
#define AGQ_SCHED_H

#include "spool.h"

/* POLL_S: --poll (wake.h agq_waiter_setup: < 0 not given, 0 inotify). */
struct agq_sched_opts { int once; double lease_s; int verbose; double poll_s; };
/* Run the scheduler on SP (agq-sched(8)).  Returns an exit status. */
int agq_sched(struct agq_spool *sp, const struct agq_sched_opts *o);

#endif
