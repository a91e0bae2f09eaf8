/*
 * deps.h - deps.c: task dependencies, a DAG (agq-task(5), "Dependencies";
 * agq-spool(5), "Dependencies").
 *
 * A task's "after" names its parents in the graph; it waits in blocked/
 * until every one is done.  Whether it may run is decided in one place,
 * agq_dep_decide (pure: the parents' states come from a function handed
 * in), at submit time (agq-submit, agq-sched's inbox) and by agq-sched
 * when a task arrives in blocked/, when a parent ends (found through the
 * edge index deps/P/C, never by a scan of blocked/) and once at start.
 * The rest of this file is that decision's I/O: the parents' states read
 * from the spool and its archive, the edges written and removed, and the
 * scheduler's move out of blocked/, journaled.
 * Uses util, task, spool, lifecycle, journal, lease and archive.
 */
#ifndef AGQ_DEPS_H
#define AGQ_DEPS_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* The decision over a task with "after". */
enum agq_dep_decision {
	AGQ_DEP_RELEASE,        /* every parent done: to its first state */
	AGQ_DEP_WAIT,           /* a parent not ended yet: blocked/ */
	AGQ_DEP_CANCEL,         /* a parent failed, on_dep_fail cancel: dead/ */
	AGQ_DEP_HOLD,           /* a parent failed, on_dep_fail hold: hold/ */
	AGQ_DEP_RUN             /* every parent ended, one failed,
	                         * on_dep_fail run: released like RELEASE */
};

/* A parent's state, as the decision sees it. */
enum agq_dep_pstate {
	AGQ_DEP_PENDING,        /* not ended: any state but done/ and dead/ */
	AGQ_DEP_DONE,           /* done/, or archived done */
	AGQ_DEP_DEAD,           /* dead/ (or archived dead), not cancelled */
	AGQ_DEP_CANCELLED,      /* dead/ by agq-cancel ("cancelled by ...") */
	AGQ_DEP_GONE            /* nowhere: not in the spool nor its archive */
};

/* "release", "wait", "cancel", "hold", "run"; "dead", "cancelled",
 * "gone", "done", "pending".  Static strings. */
const char *agq_dep_decision_name(int decision);
const char *agq_dep_pstate_name(int pstate);

/* The state of the parent ID (an enum agq_dep_pstate), with its "reason"
 * (for a dead one) copied into REASON (SIZE bytes, "" when none); ARG is
 * the caller's.  A negative return is an error (errno): the decision
 * fails with it. */
typedef int (*agq_dep_state_fn)(const char *id, char *reason, size_t size,
                                void *arg);

/* A decision, filled by agq_dep_decide. */
struct agq_dep {
	int decision;           /* enum agq_dep_decision */
	char parent[65];        /* CANCEL, HOLD, RUN: the failed parent (the
	                         * first in "after" order); "" otherwise */
	int pstate;             /* its enum agq_dep_pstate */
	char reason[800];       /* the task's reason: "parent P ended dead:
	                         * REASON" (CANCEL), "held: parent P ended
	                         * dead: REASON" (HOLD), "waiting for
	                         * parents: P, Q" (WAIT), "parents done"
	                         * (RELEASE), "parent P ended dead; run anyway
	                         * (on_dep_fail run)" (RUN) */
	json_t *blocked_on;     /* WAIT: a new array of the parents not ended
	                         * (ids, "after" order); else NULL */
};

/* The one decision (agq-task(5), "Dependencies"): for TASK (a valid task
 * with "after"; without one: RELEASE) and the state of each parent from
 * FN(id, ..., ARG): any parent dead, cancelled or gone decides by
 * "on_dep_fail" (default cancel): cancel -> CANCEL, hold -> HOLD, run ->
 * the failed parent counts as ended; else any parent pending -> WAIT;
 * else (all ended) RUN when one failed, RELEASE when all are done.  A
 * parent archived done counts as done; a gone one (cleaned and not
 * archived, or never there) as failed, so a dependent never waits
 * forever.  0 and D (agq_dep_free it), or -1 with errno from FN. */
int agq_dep_decide(const json_t *task, agq_dep_state_fn fn, void *arg,
                   struct agq_dep *d);
void agq_dep_free(struct agq_dep *d);

/* The order to deliver a batch of N tasks TASKS in (agq-submit's
 * standard input), where a task's "after" may name another task's "id"
 * in the same batch, earlier or later: into ORDER (N indexes) each task
 * after its parents in the batch, otherwise in batch order (a depth-first
 * walk, no recursion: a chain of any length).  0, or -1 with ERR (SIZE
 * bytes) naming the cycle ("field after: a cycle in the batch: a -> b ->
 * a") and *BAD the index of a task on it. */
int agq_dep_batch_order(json_t *const *tasks, size_t n, size_t *order,
                        size_t *bad, char *err, size_t size);

/* agq_dep_state_fn for a spool (ARG: the const struct agq_spool *): the
 * task ID found in the state directories (a task between two of them,
 * its id claimed in ids/, is looked for again, then taken as pending),
 * else in the archive (agq_archive_find), else GONE. */
int agq_dep_parent_state(const char *id, char *reason, size_t size,
                         void *arg);

/* Before a task T with decision D is delivered: T's "blocked_on",
 * "dep_failed" and "reason" set from D (agq_task_first_loc reads them:
 * blocked/ for WAIT, dead/ or hold/ for CANCEL and HOLD; for RUN
 * "dep_failed" is kept as a note), any earlier values removed.  No I/O. */
void agq_dep_apply(json_t *t, const struct agq_dep *d);

/* A new task T (valid, normalized; from agq-submit or agq-sched's inbox)
 * decided on its parents' states now: T's earlier "blocked_on" and
 * "dep_failed" removed, D filled (agq_dep_decide with
 * agq_dep_parent_state; RELEASE for a T without "after"), T's fields set
 * from it (agq_dep_apply), and its edges written when it waits
 * (agq_dep_edges_write, fsynced when SYNC), all before T is delivered.  0 (agq_dep_free D);
 * 1 with ERR (SIZE bytes) naming the field when a parent is neither in
 * the spool nor in its archive (refused: nothing written, D empty); -1
 * with errno (reading the states or writing the edges failed; D empty). */
int agq_dep_prepare(const struct agq_spool *sp, json_t *t, struct agq_dep *d,
                    int sync, char *err, size_t size);

/* The edges of task T (its id C, each parent P in "after"): the empty
 * files deps/P/C (mode 0600; deps/P/ made 0700 when missing).  When SYNC,
 * deps/P/ (and deps/ when P's directory was made) are fsynced, so that
 * the edge is durable before T is delivered; without (agq-submit's JSON
 * lines, made durable in groups by syncfs(2) like the tasks) a crash
 * may keep a task and lose its edge, which agq-sched's start pass writes
 * again (agq_dep_settle).  0, or -1 with errno (edges already made are
 * left: a stale edge is harmless, agq-fsck(8) removes it). */
int agq_dep_edges_write(const struct agq_spool *sp, const json_t *t,
                        int sync);

/* Remove the edge deps/P/C, and deps/P/ when it is then empty.  Missing
 * ones are fine.  0, or -1 with errno. */
int agq_dep_edge_remove(const struct agq_spool *sp, const char *p,
                        const char *c);

/* Every edge P -> ID of task T removed (T, locked by the caller, has just
 * left blocked/: agq-sched's release or decision, agq-cancel), for each P
 * in its "after".  A failure is reported (agq_spool_syserr) and leaves a
 * stale edge, which is harmless: agq-sched removes it when P ends, and
 * agq-fsck(8) --fix at once. */
void agq_dep_edges_remove(const struct agq_spool *sp, const json_t *t);

/* Call FN(C, ARG) for each dependent C of parent P (deps/P/C), in no set
 * order; stops when FN returns non-zero and returns that.  No deps/P/:
 * 0. */
int agq_dep_children(const struct agq_spool *sp, const char *p,
                     int (*fn)(const char *c, void *arg), void *arg);

/* The events of a task T just delivered with decision D (by agq-submit or
 * agq-sched's inbox): `blocked` {after, blocked_on} for WAIT, `dep_fail`
 * {parent, state, decision, to} for CANCEL and HOLD, RUN and RELEASE
 * none.  Appended with agq_journal_w (failures reported there). */
void agq_dep_journal_new(const struct agq_spool *sp, const json_t *t,
                         const struct agq_dep *d);

/* agq-sched's settle of the task ID in blocked/: decided again
 * (agq_dep_decide with agq_dep_parent_state) on its file read unlocked,
 * and when that is WAIT with "blocked_on" as it was, nothing more than
 * its missing edges written (fsynced); else locked, decided again, and
 * then: WAIT -> its "blocked_on" rewritten; RELEASE, RUN -> moved to its
 * first state (queue/LANE, or defer/ before its not_before), event
 * `release` {from, to, lane, parent: TRIGGER (the parent whose end was
 * seen; null at arrival or start), decision}; CANCEL -> dead/, HOLD ->
 * hold/, event `dep_fail` {from, to, parent, state, decision, reason},
 * the notify hook of a dead one run.  On every move out of blocked/ its
 * edges are removed.  A task no longer in blocked/ (released, cancelled
 * meanwhile): the edge TRIGGER -> ID removed, when TRIGGER is set.
 * Returns the decision taken (enum agq_dep_decision), -2 when ID is not
 * in blocked/, or -1 with errno (the move failed: ENOSPC...). */
int agq_dep_settle(const struct agq_spool *sp, const char *id,
                   const char *trigger);

#endif
