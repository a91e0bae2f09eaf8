/*
 * lease.c - the I/O of lifecycle decisions (lease.h): a decision made on
 * a locked task, and the reclaim of a lease shared by agq-sched (a dead
 * agent, a lease not started in time, a prefetched lease taken back) and
 * agq-fsck --fix.
 */

#include <errno.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "lifecycle.h"
#include "journal.h"
#include "throttle.h"
#include "notify.h"
#include "lease.h"

int
agq_lc_record(const struct agq_spool *sp, struct agq_locked *l,
              struct agq_lc *d)
{
	agq_lc_apply(l->task, d);
	if (agq_task_transition(sp, l, d->to, d->lane, NULL, d->reason) < 0) {
		int e = errno;
		json_decref(d->ev);
		json_decref(d->ev2);
		errno = e;
		return -1;
	}
	agq_journal_w(sp, d->event, l->id, d->ev);
	if (d->ev2)
		agq_journal_w(sp, d->event2, l->id, d->ev2);
	agq_lc_notify(sp, l->id, l->task, d);
	return 0;
}

void
agq_lc_notify(const struct agq_spool *sp, const char *id, const json_t *t,
              const struct agq_lc *d)
{
	if (d->to != AGQ_ST_DONE && d->to != AGQ_ST_DEAD)
		return;
	int cancel = d->rule >= AGQ_LC_CANCEL_QUEUE &&
	    d->rule <= AGQ_LC_CANCEL_ACTIVE;
	agq_notify_run(sp, id, t, cancel ? "cancelled" :
	    agq_state_name(d->to));
}

int
agq_lc_record_here(const struct agq_spool *sp, struct agq_locked *l,
                   struct agq_lc *d)
{
	agq_lc_apply(l->task, d);
	if (agq_task_rewrite(sp, l) < 0) {
		int e = errno;
		json_decref(d->ev);
		errno = e;
		return -1;
	}
	agq_journal_w(sp, d->event, l->id, d->ev);
	return 0;
}

int
agq_lc_pause(const struct agq_spool *sp, const struct agq_lc *d,
              int64_t now_us)
{
	const char *acct = json_string_value(json_object_get(d->ev,
	    "account"));
	const char *b = json_string_value(json_object_get(d->ev, "backend"));
	if (d->rule != AGQ_LC_THROTTLE || !acct || !b)
		return 0;
	return agq_throttle_pause(sp, b, acct, d->not_before_us,
	    json_string_value(json_object_get(d->ev, "reason")), now_us);
}

/* T's started attempt (if its lease was started: asked before any
 * change) closed as reclaimed because of WHY, at now; not counted
 * ("handed_back") when UNCOUNTED. */
static void
close_reclaimed(json_t *t, const char *why, int uncounted)
{
	if (!agq_task_lease_started(t))
		return;
	int64_t now = agq_now_us();
	json_t *last = agq_task_last_attempt(t);
	agq_task_set_time(last, "finished", now);
	json_object_set_new(last, "reclaimed", json_true());
	json_object_set_new(last, "error", json_string(why));
	int64_t st = agq_task_time(last, "started", now);
	json_object_set_new(last, "duration_ms",
	    json_integer((now - st) / 1000));
	if (uncounted)
		json_object_set_new(last, "handed_back", json_true());
}

int
agq_task_reclaim(const struct agq_spool *sp, struct agq_locked *l,
                 const char *agent, const char *why, json_int_t *gen_out)
{
	json_t *t = l->task;
	struct agq_lc d;
	agq_lc_reclaim(t, agent, why, &d);
	close_reclaimed(t, why, 0);
	if (gen_out)
		*gen_out = d.gen;
	return agq_lc_record(sp, l, &d) < 0 ? -1 : d.to;
}

int
agq_task_reclaim_infra(const struct agq_spool *sp, struct agq_locked *l,
                       const char *agent, const char *why)
{
	struct agq_lc d;
	agq_lc_reclaim_infra(l->task, agent, why, &d);
	close_reclaimed(l->task, why, 1);
	return agq_lc_record(sp, l, &d) < 0 ? -1 : d.to;
}
