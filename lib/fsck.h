/*
 * fsck.h - fsck.c: checking and repairing a spool (agq-fsck(8)).
 *
 * Uses util, task, spool, journal, agent, deps and plan.
 */
#ifndef AGQ_FSCK_H
#define AGQ_FSCK_H

#include <stdint.h>
#include <jansson.h>
#include "spool.h"

struct agq_fsck_opts {
	int fix;                /* repair what is found */
	int64_t tmp_age_us;     /* tmp/ files untouched this long are stale */
	int rebuild_index;      /* repair the id claims (ids/) only */
};
/* Problems found, by kind (agq-fsck(8)), and how many were repaired. */
struct agq_fsck_counts {
	long tasks, problems, fixed;
	long dirs, modes, strays, duplicates, leases, claims, tmp, journal;
	long edges;             /* deps/P/C missing or stale */
	long plans;             /* plans/NAME/REV.json that do not parse */
	long missions;          /* missions/M.tasks/T naming no task */
};
/* Check SP, printing one line per problem on standard output ("KIND:
 * WHAT[ (fixed)]"), and repair with O->fix.  Fills C.  Returns 1 when a
 * problem was found (fixed or not), 0 when the spool is clean.  Call with
 * the spool opened AGQ_OPEN_NOCREATE so missing directories are seen. */
int agq_fsck(struct agq_spool *sp, const struct agq_fsck_opts *o,
             struct agq_fsck_counts *c);

#endif
