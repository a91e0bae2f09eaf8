/*
 * edit.h - edit.c: agq-edit(1) and agq-prio(1), changes to a queued or
 * held task that keep it in its state.
 */
#ifndef AGQ_EDIT_H
#define AGQ_EDIT_H

#include <jansson.h>
#include "spool.h"
#include "lifecycle.h"

/* The fields of a task that the spool owns (agq-task(5)): agq-edit
 * refuses a change to any of them.  NULL-terminated. */
extern const char *const agq_edit_owned[];

/* Record the decision D of agq_lc_keep on the task locked in L, whose
 * L->task is the new content: moved to D's lane when it is queued in
 * another (agq_lc_record), else rewritten in place (agq_task_rewrite:
 * tmp/, fsync, rename under the lock); then D's event journaled.  D's
 * event body is consumed.  0, or -1 with errno (ENOSPC, EDQUOT: a full
 * disk, the task file unchanged). */
int agq_keep_record(const struct agq_spool *sp, struct agq_locked *l,
                    struct agq_lc *d);

/* agq-edit's main (agq-edit(1)).  Returns an exit status. */
int agq_edit_main(int argc, char **argv);

/* agq-prio's main (agq-prio(1)).  Returns an exit status. */
int agq_prio_main(int argc, char **argv);

#endif
