/*
 * qstate.h - qstate.c: the spool's side of quotas and pauses (agq-sched(8),
 * "Limits", "Pauses"; agq-spool(5), pauses/).
 *
 * Pauses: one file SPOOL/pauses/KIND-NAME.json per pause (KIND lane,
 * tenant or backend; the whole spool: pauses/all.json), {kind, name, note,
 * since, by: {uid, user}}, written by agq-pause and removed by agq-resume,
 * each with its journal event (pause, resume).
 *
 * The scheduler's counts (struct agq_qstate): what quota.c decides on,
 * rebuilt from the spool: the tasks running from active/ (each pass), the
 * day's costs from the journal's finish events (read backwards at start,
 * then followed as it grows), the holds already journaled (a `throttle`
 * with "limit" once per task and limit) and the fair lanes' credits (the
 * last `assign` event's "credits").  Uses util, quota, conf, task, spool
 * and journal.
 */
#ifndef AGQ_QSTATE_H
#define AGQ_QSTATE_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "quota.h"
#include "spool.h"
#include "journal.h"

/* ---- pauses ------------------------------------------------------------- */

/* KIND for agq_pause_set and friends: "lane", "tenant", "backend", or
 * "all" (NAME ignored: the whole spool). */

/* Is KIND NAME a pause agq-pause may write: KIND one of the above, NAME a
 * lane name (urgent, high, normal, low) for a lane, else
 * [A-Za-z0-9._@+-]{1,64}?  1, or 0 with ERR (SIZE bytes) saying why. */
int agq_pause_valid(const char *kind, const char *name, char *err,
                    size_t size);

/* Pause KIND NAME: write SPOOL/pauses/KIND-NAME.json (all.json for
 * "all"; made with its directory, tmp/ then rename, fsynced) as {kind,
 * name, note (NOTE or null), since (now), by {uid UID, user USER or
 * absent}}, and journal `pause` {kind, name, note}.  An existing pause is
 * replaced (its note updated), journaled again.  0, or -1 with errno. */
int agq_pause_set(const struct agq_spool *sp, const char *kind,
                  const char *name, const char *note, uid_t uid,
                  const char *user);

/* Remove the pause KIND NAME and journal `resume` {kind, name}.  0; -1
 * with ENOENT when there is none, or another errno. */
int agq_pause_clear(const struct agq_spool *sp, const char *kind,
                    const char *name);

/* The pauses in force: a new array of the objects of pauses/, sorted by
 * kind then name; files that do not read as a pause are left out.  An
 * empty array when there are none (or no pauses/). */
json_t *agq_pause_list(const struct agq_spool *sp);

/* In PAUSES (agq_pause_list), the one a task with keys K matches (the
 * whole spool, its lane, tenant or backend): borrowed, or NULL. */
const json_t *agq_pause_match(const json_t *pauses,
                              const struct agq_qkeys *k);

/* ---- the scheduler's counts --------------------------------------------- */

/* Private fields: zero it, then agq_qstate_open. */
struct agq_qstate {
	struct agq_quota *q;    /* NULL: no limit in agq.conf */
	struct agq_drr drr;     /* lane_weights, credits */
	json_t *running;        /* id -> its keys [lane, tenant, backend,
	                         * endpoint or null, spends] */
	json_t *known;          /* id -> keys of tasks not running (costs) */
	json_t *held;           /* id -> the limit last journaled */
	dev_t jdev;             /* the journal followed for costs */
	ino_t jino;
	off_t joff;
};

/* The keys of task T (a parsed task file) into K, the strings borrowed
 * from T or BUF: lane, tenant (agq_task_tenant), backend (its route's,
 * else its own "backend", else "shell"), endpoint (its route's endpoint
 * name, or NULL); spends: the backend is not shell. */
void agq_qstate_keys(const json_t *t, struct agq_qkeys *k, char buf[32]);

/* Set L up for SP's agq.conf at NOW_US: the limits (none: L->q NULL),
 * lane_weights; then, when there are limits or fair lanes, read the
 * journal backwards from its end to the start of the budget day (at most
 * its current file): the day's costs (finish events' cost_usd), the
 * holds already journaled, the last credits.  0; -1 with errno when the
 * journal cannot be read (L usable: counts from now). */
int agq_qstate_open(const struct agq_spool *sp, struct agq_qstate *l,
                    int64_t now_us);
void agq_qstate_close(struct agq_qstate *l);

/* Before an assignment pass at NOW_US: the running counts rebuilt from
 * active/ (a task file read once, then known by id), and the costs of
 * the finish events appended to the journal since the last look. */
void agq_qstate_refresh(const struct agq_spool *sp, struct agq_qstate *l,
                        int64_t now_us);

/* May task ID with keys K be leased now?  0: yes.  1: a limit holds it;
 * when that limit is not the one last journaled for ID, its `throttle`
 * event {limit, value, current, reason, until (rate, budget)} is added
 * to JB (journal.h; the caller writes it: a pass's holds in one append,
 * they change no state). */
int agq_qstate_hold(struct agq_qstate *l, struct agq_jbatch *jb,
                    const char *id, const struct agq_qkeys *k,
                    int64_t now_us);

/* Task ID with keys K was leased at NOW_US: counted running, a token
 * taken, its hold forgotten. */
void agq_qstate_leased(struct agq_qstate *l, const char *id,
                       const struct agq_qkeys *k, int64_t now_us);

/* The fair lanes' credits as a JSON array of four integers (new
 * reference), for the assign event that records them. */
json_t *agq_qstate_credits(const struct agq_qstate *l);

#endif
