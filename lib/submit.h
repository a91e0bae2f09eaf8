/*
 * submit.h - submit.c: one new task checked, normalized and delivered,
 * as agq-submit(1) does it and every other submitter must (agq-mcp(1)'s
 * agq_submit): its fields validated, its owner and defaults set, its
 * parents decided and edges written (deps.h), its `submit` event
 * journaled before it can be seen, and delivered (spool.h).
 */
#ifndef AGQ_SUBMIT_H
#define AGQ_SUBMIT_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* Task T as submitted is valid (agq_task_validate) and has only known
 * fields (agq_task_check_fields, agq-task(5)): 0, or -1 with ERR (SIZE
 * bytes) naming the first bad field. */
int agq_submit_valid(const json_t *t, char *err, size_t size);

/* Normalize a valid task T, its owner the real uid (getuid(2); no name:
 * agq-submit is linked statically, with no NSS lookup), whatever T said
 * (agq_task_normalize, now); returns the agq_deliver flags: NEW_ID when
 * T had no id (one was made), SYNC when SYNC. */
int agq_submit_normalize(json_t *t, int sync);

/* Deliver one valid normalized task T with FLAGS (agq_deliver's): its
 * parents decided and edges written first (agq_dep_prepare), its
 * `submit` event {state, lane, source: SOURCE ("argv", "stdin",
 * "mcp"), after} journaled under the submit lock just before it appears
 * (agq_deliver_announced), and its dependency events after
 * (agq_dep_journal_new).  Returns 0 delivered; 1 its id exists already
 * (*WHERE its state; nothing written); 2 refused, ERR (SIZE bytes)
 * naming the field (a parent unknown); -1 failed (errno), reported on
 * standard error (agq_spool_syserr) and said in ERR. */
int agq_submit_deliver(struct agq_spool *sp, json_t *t, int flags,
                       const char *source, int *where, char *err,
                       size_t size);

#endif
