/*
 * reject.h - reject.c: quarantine a bad file and say so.
 *
 * agq_quarantine (spool.h) with a warning and a `reject` journal event.
 * Uses spool and journal.
 */
#ifndef AGQ_REJECT_H
#define AGQ_REJECT_H

#include "spool.h"

/* agq_quarantine, then warn "quarantined PATH: WHY" and journal a
 * `reject` event (with ID when known).  A failure is reported on stderr
 * and returned (-1 with errno): the file stays where it was for the next
 * pass. */
int agq_reject(const struct agq_spool *sp, const char *path,
               const char *name, const char *id, const char *why);

#endif
