/*
 * via.h - via.c: agq-run --via, an agent here whose spool is reached over
 * ssh (agq-run(8) REMOTE; agq-remote(8) on the spool's host).
 */
#ifndef AGQ_VIA_H
#define AGQ_VIA_H

#include "spool.h"
#include "runner.h"

/* Run agent O->agent here, its spool reached over one ssh(1) connection
 * to O->via (ssh://[USER@]HOST[:PORT]/PATH, agq_remote_url_parse), the
 * ssh program O->ssh (NULL: "ssh").  SP is its local work directory,
 * opened: WORK/out/ID holds a running task's output until it is sent.
 * Returns an exit status: 0 after a signal's drain (or --once done), 64
 * a bad URL, 69 --once could not connect, 71 no shepherd. */
int agq_via_runner(struct agq_spool *sp, const struct agq_run_opts *o);

#endif
