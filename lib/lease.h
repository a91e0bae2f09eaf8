/*
 * lease.h - lease.c: the I/O of lifecycle decisions: a decision of
 * lifecycle.h made on a locked task, and the reclaim of a lease.
 *
 * Uses util, task, spool, lifecycle, journal, throttle and notify.
 */
#ifndef AGQ_LEASE_H
#define AGQ_LEASE_H

#include <stdint.h>
#include <jansson.h>
#include "spool.h"
#include "lifecycle.h"

/* Make the decision D on the task locked in L: its changes to the task
 * (agq_lc_apply), the move (agq_task_transition, with D's reason), then
 * its events, each its own append (agq_journal_w: D->event with D->ev,
 * and D->event2 with D->ev2 when set).  D's event bodies are consumed
 * either way.  A decision that ends the task runs its notify hook last
 * (agq_lc_notify).  0, or -1 with errno from the move (ENOSPC, EDQUOT: a full
 * disk; the task file and the journal unchanged, L->task changed). */
int agq_lc_record(const struct agq_spool *sp, struct agq_locked *l,
                  struct agq_lc *d);

/* After the decision D was carried out on task ID (its content T): when
 * it ended the task (D->to done or dead), run the task's notify hook
 * (agq_notify_run) with its end state: "cancelled" for agq-cancel's
 * decisions, else "done" or "dead".  agq_lc_record calls it; so does
 * agq-run for a finish, which it records itself.  Returns at once. */
void agq_lc_notify(const struct agq_spool *sp, const char *id,
                   const json_t *t, const struct agq_lc *d);

/* Make the decision D that leaves the task where it is (AGQ_LC_RESTART,
 * AGQ_LC_REVIEW_HEAD: review.c
 * agq_lc_restart) on the task locked in L: its changes (agq_lc_apply)
 * written over the task file (agq_task_rewrite: fsynced, so the new
 * generation is durable before a run holds it), then D->event journaled
 * with D->ev.  D's event body is consumed either way.  0, or -1 with
 * errno from the rewrite (ENOSPC, EDQUOT: a full disk; the task file and
 * the journal unchanged, L->task changed). */
int agq_lc_record_here(const struct agq_spool *sp, struct agq_locked *l,
                       struct agq_lc *d);

/* The pause the throttle decision D (AGQ_LC_THROTTLE, agq_lc_finish)
 * asks for, at NOW_US: the account of D->ev's "account" and "backend"
 * paused until its "until" with its "reason" (agq_throttle_pause,
 * SPOOL/throttle/), so that agq-sched leases no task of that account's
 * backend before then.  Nothing for another decision or one without an
 * account.  0, or -1 with errno (the task is parked either way). */
int agq_lc_pause(const struct agq_spool *sp, const struct agq_lc *d,
                 int64_t now_us);

/* Reclaim the lease of the locked active task L from AGENT because of WHY
 * (words, for the task's attempt and the journal): close a started
 * attempt as reclaimed, increase the generation (stored in *GEN_OUT when
 * not NULL), and move the task back to its lane, or to dead/ when it has
 * no attempts left; journals `reclaim` (and `dead`).  Returns the new
 * state (AGQ_ST_QUEUE or AGQ_ST_DEAD) or -1 with errno. */
int agq_task_reclaim(const struct agq_spool *sp, struct agq_locked *l,
                     const char *agent, const char *why, json_int_t *gen_out);

/* agq_task_reclaim for a lease of AGENT, degraded before it fell silent
 * (agq_lc_reclaim_infra): a started attempt closed as reclaimed and not
 * counted ("handed_back"), the task back to its lane with a new
 * generation, never to dead/; journals `reclaim` with "counted": false.
 * Returns AGQ_ST_QUEUE or -1 with errno from the move. */
int agq_task_reclaim_infra(const struct agq_spool *sp, struct agq_locked *l,
                           const char *agent, const char *why);

#endif
