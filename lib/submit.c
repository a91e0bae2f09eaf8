/* submit.c - one new task checked, normalized and delivered (submit.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "deps.h"
#include "submit.h"

int
agq_submit_valid(const json_t *t, char *err, size_t size)
{
	if (agq_task_validate(t, err, size) < 0)
		return -1;
	return agq_task_check_fields(t, err, size);
}

int
agq_submit_normalize(json_t *t, int sync)
{
	int flags = sync ? AGQ_DELIVER_SYNC : 0;
	if (!json_object_get(t, "id"))
		flags |= AGQ_DELIVER_NEW_ID;
	agq_task_set_owner(t, getuid(), NULL);
	agq_task_normalize(t, agq_now_us());
	return flags;
}

struct announce { const struct agq_spool *sp; const char *source; };

/* agq_deliver_announced's BEFORE: the `submit` event of task T, journaled
 * before the task can be seen in STATE, so that no scheduler's `route` or
 * `assign` of it comes first in the journal (agq-journal(5)). */
static int
announce(const json_t *t, int state, void *arg)
{
	const struct announce *a = arg;
	agq_journal_w(a->sp, "submit", agq_task_id(t), json_pack("{s:s, s:s, "
	    "s:s, s:O*}", "state", agq_state_name(state), "lane", agq_lane_name(
	    agq_task_lane(t)), "source", a->source, "after", json_object_get(t,
	    "after")));
	return 0;
}

int
agq_submit_deliver(struct agq_spool *sp, json_t *t, int flags,
                   const char *source, int *where, char *err, size_t size)
{
	struct announce a = { sp, source };
	struct agq_dep d;
	int rc = agq_dep_prepare(sp, t, &d, flags & AGQ_DELIVER_SYNC, err,
	    size);
	if (rc > 0)
		return 2;
	if (rc < 0) {
		int e = errno;
		agq_spool_syserr(sp, "cannot decide the parents of", "deps/*/%s",
		    agq_task_id(t));
		agq_errf(err, size, "cannot decide the parents: %s", strerror(e));
		errno = e;
		return -1;
	}
	*where = -1;
	int r = agq_deliver_announced(sp, t, flags, where, announce, &a);
	if (r < 0) {
		int e = errno;
		agq_dep_free(&d);
		agq_spool_syserr(sp, "cannot deliver task", "queue");
		agq_errf(err, size, "cannot deliver the task: %s", strerror(e));
		errno = e;
		return -1;
	}
	if (r == 0)
		agq_dep_journal_new(sp, t, &d);
	agq_dep_free(&d);
	return r;
}
