/*
 * jrecon.h - jrecon.c: state changes the journal missed, found and
 * reconstructed (agq-journal(5), "Reconstructed events").
 *
 * Every state change is a rename(2) followed by its journal event
 * (agq-spool(5)); a process killed between the two leaves a task in a
 * state its journal does not show.  This compares each task's state
 * directory with the last state event of its id in the journal and
 * appends the missing events, marked "reconstructed": true.  Used by
 * agq-fsck(8) and by agq-sched(8) when it starts.  Uses util, task,
 * spool, lifecycle and journal.
 */
#ifndef AGQ_JRECON_H
#define AGQ_JRECON_H

#include <stdint.h>
#include "spool.h"

/* One task whose state has no event. */
struct agq_jmiss {
	const char *id;         /* borrowed */
	int state;              /* AGQ_ST_* it is in */
	int last;               /* the state its last state event names,
	                         * AGQ_ST_NONE when it has none */
	const char *ev;         /* the event reconstructed (static) */
	int64_t ts_us;          /* the time given to it: the last attempt's
	                         * "finished" for done/ and dead/, else the
	                         * file's ctime (when it was renamed), us */
};

/* The state a journal event O (a JSON object) leaves its task in:
 * AGQ_ST_* from its "to" when that names a state (cancel, hold, release,
 * an operator's retry, a reconstructed event), else from its "ev"
 * (submit and accept: their "state"; promote, handback, reclaim: queue;
 * assign: active; retry, throttle: defer; done; dead); AGQ_ST_NONE for
 * an event that changes no state (start, finish, route, ..., and a
 * `throttle` with "limit": a quota's hold, the task left queued). */
int agq_jrecon_ev_state(const json_t *o);

/* Find the tasks of SP whose state directory is not the state of the
 * last state event (agq_jrecon_ev_state) of their id, reading the
 * journals backwards (ROOT/journal, then the rotated ones newest first)
 * until every task looked at is resolved; memory: one entry per task
 * looked at, and agq_jrev's bounded buffer.  QUICK looks only at tasks
 * whose file changed (ctime) no earlier than 2 s before the journal's
 * last event, in state directories changed (mtime) since then: the
 * ones a crash can have left unjournaled since agq last wrote; else at
 * every task.  Tasks whose file is older than the oldest journal file
 * kept (older rotations removed) are not looked at.  A task moved less
 * than 3 s ago is given the rest of those 3 s (this sleeps) for its
 * event to come, as a live writer's does right after its rename; then
 * the lines appended meanwhile are read again.  With FIX the
 * missing events are appended, one batch, each {"reconstructed": true,
 * "from": last state or null, "to": state, "reason"}, with the event of
 * agq-spool(5)'s transition table from the last state to the current
 * one (else the usual event into that state: submit, promote, retry,
 * hold, assign, done, dead) and "ts" as struct agq_jmiss says.  FN, when
 * not NULL, is called for each task found with FIXED 1 (appended), 0
 * (FIX not asked) or -1 (the append failed: errno).  Returns how many
 * were found, or -1 with errno when the spool or a journal cannot be
 * read. */
long agq_jrecon(const struct agq_spool *sp, int quick, int fix,
                void (*fn)(const struct agq_jmiss *m, int fixed, void *arg),
                void *arg);

#endif
