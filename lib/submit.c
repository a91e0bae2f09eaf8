/* submit.c - one new task checked, normalized and delivered; a plan's
 * tasks delivered all or none (submit.h). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "deps.h"
#include "mission.h"
#include "out.h"
#include "classify.h"
#include "submit.h"

#define PLAN_MAX 1000           /* tasks in one plan, at most */

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
	agq_submit_tenant(t, getuid(), NULL);
	agq_task_normalize(t, agq_now_us());
	return flags;
}

void
agq_submit_tenant(json_t *t, uid_t uid, const char *user)
{
	/* the last uid looked up: a batch of JSON lines reads the file once */
	static uid_t cached_uid;
	static char *cached;
	if (json_object_get(t, "tenant"))
		return;
	if (!user && cached && cached_uid == uid) {
		json_object_set_new(t, "tenant", json_string(cached));
		return;
	}
	char *name = user ? agq_xstrdup(user) : NULL;
	FILE *f = name ? NULL : fopen("/etc/passwd", "re");
	struct passwd *pw;
	while (f && (pw = fgetpwent(f)))
		if (pw->pw_uid == uid) {
			name = agq_xstrdup(pw->pw_name);
			break;
		}
	if (f)
		fclose(f);
	if (!name || !agq_id_valid(name)) {
		free(name);
		name = agq_xasprintf("uid-%lu", (unsigned long)uid);
	}
	json_object_set_new(t, "tenant", json_string(name));
	if (!user) {
		free(cached);
		cached = name;
		cached_uid = uid;
	} else {
		free(name);
	}
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
	    "s:s, s:O*, s:O*}", "state", agq_state_name(state), "lane",
	    agq_lane_name(agq_task_lane(t)), "source", a->source, "after",
	    json_object_get(t, "after"), "mission", json_object_get(t,
	    "mission")));
	return 0;
}

int
agq_submit_deliver(const struct agq_spool *sp, json_t *t, int flags,
                   const char *source, int *where, char *err, size_t size)
{
	struct announce a = { sp, source };
	struct agq_dep d;
	const char *id = agq_task_id(t);
	const char *mission = json_string_value(json_object_get(t, "mission"));
	int sync = flags & AGQ_DELIVER_SYNC, made;
	int rc = agq_mission_enter(sp, t, sync, &made, err, size);
	if (rc > 0)
		return 2;
	if (rc < 0) {
		int e = errno;
		agq_spool_syserr(sp, "cannot index the task in its mission",
		    "missions/%s.tasks/%s", mission, id);
		errno = e;
		return -1;
	}
	rc = agq_dep_prepare(sp, t, &d, sync, err, size);
	if (rc != 0) {
		int e = errno;
		if (made)
			(void)agq_mission_index_remove(sp, mission, id);
		if (rc > 0)
			return 2;
		agq_spool_syserr(sp, "cannot decide the parents of", "deps/*/%s",
		    id);
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
	else if (made)  /* the id is another task's: not ours to index */
		(void)agq_mission_index_remove(sp, mission, id);
	agq_dep_free(&d);
	return r;
}

/* Plan task I's "after" (in T) with its integers, indexes into the plan
 * of N tasks whose ids are IDS, made ids.  0, else -1 with ERR. */
static int
after_ids(json_t *t, size_t i, json_t *ids, size_t n, char *err,
          size_t size)
{
	json_t *after = json_object_get(t, "after"), *e;
	size_t k;
	json_array_foreach(after, k, e) {
		if (!json_is_integer(e))
			continue;
		json_int_t x = json_integer_value(e);
		if (x < 0 || (size_t)x >= n)
			return agq_errf(err, size, "task %zu: field after[%zu]: "
			    "%lld is not an index of the plan (0 to %zu)", i, k,
			    (long long)x, n - 1);
		json_array_set(after, k, json_array_get(ids, (size_t)x));
	}
	return 0;
}

/* Plan task I (a copy, T) made whole as O says, with the id IDS[I]. */
static int
plan_task(json_t *t, size_t i, json_t *ids, size_t n,
          const struct agq_submit_plan_opts *o, char *err, size_t size)
{
	const char *m = json_string_value(json_object_get(t, "mission"));
	if (json_object_get(t, "mission") && (!m || !o->mission ||
	    strcmp(m, o->mission)))
		return agq_errf(err, size, "task %zu: field mission: set by the "
		    "plan (%s)", i, o->mission ? o->mission : "none");
	if (o->mission)
		json_object_set_new(t, "mission", json_string(o->mission));
	json_object_set(t, "id", json_array_get(ids, i));
	if (after_ids(t, i, ids, n, err, size) < 0)
		return -1;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o->inherit, k, v)
		if (!json_object_get(t, k) && !(!strcmp(k, "cwd") &&
		    json_object_get(t, "git")))
			json_object_set(t, k, v);
	char e2[600];
	if (agq_submit_valid(t, e2, sizeof e2) < 0)
		return agq_errf(err, size, "task %zu: %s", i, e2);
	agq_task_set_owner(t, o->uid, o->user);
	agq_submit_tenant(t, o->uid, o->user);
	agq_task_normalize(t, agq_now_us());
	return 0;
}

/* The ids of the N tasks of PLAN, as O says, into the new array *IDS. */
static int
plan_ids(const json_t *plan, size_t n, const struct agq_submit_plan_opts *o,
         json_t *ids, char *err, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		const json_t *t = json_array_get(plan, i);
		const json_t *given = json_object_get(t, "id");
		char id[80];
		if (!json_is_object(t))
			return agq_errf(err, size, "task %zu: not a JSON object",
			    i);
		if (given && o->prefix)
			return agq_errf(err, size, "task %zu: field id: set by "
			    "agq (%s-p%zu)", i, o->prefix, i);
		if (o->prefix)
			snprintf(id, sizeof id, "%s-p%zu", o->prefix, i);
		else if (json_is_string(given))
			snprintf(id, sizeof id, "%s", json_string_value(given));
		else if (given)
			return agq_errf(err, size, "task %zu: field id: not a "
			    "string", i);
		else
			agq_gen_id(id);
		if (!agq_id_valid(id))
			return agq_errf(err, size, "task %zu: field id: '%s' is "
			    "not a task id ([A-Za-z0-9._-]{1,64})", i, id);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(id, json_string_value(json_array_get(ids,
			    j))))
				return agq_errf(err, size, "task %zu: field id: "
				    "%s given twice", i, id);
		json_array_append_new(ids, json_string(id));
	}
	return 0;
}

/* The parents of task T outside the plan (IDS) exist: 0, else -1 with
 * ERR naming task I's field; -2 with errno when they cannot be looked
 * up. */
static int
outside_parents(const struct agq_spool *sp, const json_t *t, size_t i,
                const json_t *ids, char *err, size_t size)
{
	size_t k, j;
	json_t *e, *x;
	char reason[8];
	json_array_foreach(json_object_get(t, "after"), k, e) {
		int in = 0;
		json_array_foreach(ids, j, x)
			in |= json_equal(x, e);
		if (in)
			continue;
		int ps = agq_dep_parent_state(json_string_value(e), reason,
		    sizeof reason, (void *)sp);
		if (ps < 0)
			return -2;
		if (ps == AGQ_DEP_GONE)
			return agq_errf(err, size, "task %zu: field after[%zu]: "
			    "%s: no such task (not in the plan, the spool nor "
			    "its archive)", i, k, json_string_value(e));
	}
	return 0;
}

int
agq_submit_plan(const struct agq_spool *sp, const json_t *plan,
                const struct agq_submit_plan_opts *o, json_t **ids, char *err,
                size_t size)
{
	size_t n = json_array_size(plan);
	if (ids)
		*ids = NULL;
	if (!json_is_array(plan) || n < 1 || n > PLAN_MAX) {
		agq_errf(err, size, "the plan: not a JSON array of 1 to %d "
		    "tasks", PLAN_MAX);
		return 1;
	}
	json_t *id = json_array();
	json_t **v = agq_xmalloc(n * sizeof *v);
	size_t *order = agq_xmalloc(n * sizeof *order), made = 0, bad;
	int rc = 1;
	char e2[2048];
	if (plan_ids(plan, n, o, id, err, size) < 0)
		goto out;
	for (; made < n; made++) {
		v[made] = json_deep_copy(json_array_get(plan, made));
		if (plan_task(v[made], made, id, n, o, err, size) < 0) {
			made++;
			goto out;
		}
	}
	if (agq_dep_batch_order(v, n, order, &bad, e2, sizeof e2) < 0) {
		agq_errf(err, size, "task %zu: %s", bad, e2);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int r = outside_parents(sp, v[i], i, id, err, size);
		if (r == -2) {
			agq_errf(err, size, "cannot look up the parents: %s",
			    strerror(errno));
			rc = -1;
			goto out;
		}
		if (r < 0)
			goto out;
	}
	if (o->dry) {
		rc = 0;
		goto out;
	}
	json_t *one = json_pack("{s:s*}", "mission", o->mission);
	int r = agq_mission_check(sp, one, err, size);
	json_decref(one);
	if (r != 0) {
		rc = r;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int where;
		r = agq_submit_deliver(sp, v[order[i]], AGQ_DELIVER_SYNC,
		    o->source, &where, e2, sizeof e2);
		if (r == 2 || r < 0) {
			agq_errf(err, size, "task %zu: %s", order[i], e2);
			rc = r < 0 ? -1 : 1;
			goto out;
		}
	}
	rc = 0;
	if (ids) {
		*ids = id;
		id = NULL;
	}
out:
	while (made > 0)
		json_decref(v[--made]);
	free(v);
	free(order);
	json_decref(id);
	return rc;
}

/* The JSON array in TEXT (LEN bytes): the whole text, else from its
 * first '[' to its last ']'.  A new reference, or NULL. */
static json_t *
plan_parse(const char *text, size_t len)
{
	json_t *v = json_loadb(text, len, 0, NULL);
	if (json_is_array(v))
		return v;
	json_decref(v);
	const char *a = memchr(text, '[', len), *b = NULL;
	for (const char *p = text + len; p > text; p--)
		if (p[-1] == ']') {
			b = p;
			break;
		}
	if (!a || !b || b <= a)
		return NULL;
	v = json_loadb(a, (size_t)(b - a), 0, NULL);
	if (json_is_array(v))
		return v;
	json_decref(v);
	return NULL;
}

int
agq_submit_planner(const struct agq_spool *sp, const json_t *t, json_t **ids,
                   char *err, size_t size)
{
	const char *id = agq_task_id(t);
	const char *name = agq_task_attempted(t) ? "output" : "stdout";
	size_t len;
	if (ids)
		*ids = NULL;
	char *text = agq_out_read(sp, id, name, (size_t)16 << 20, &len);
	if (!text && errno == ENOENT) {
		agq_errf(err, size, "the plan: no answer (out/%s/%s missing)",
		    id, name);
		return 1;
	}
	if (!text) {
		int e = errno;
		agq_errf(err, size, "cannot read the plan: %s (%s/out/%s/%s)",
		    strerror(e), sp->root, id, name);
		errno = e;
		return -1;
	}
	json_t *plan = plan_parse(text, len);
	free(text);
	if (!plan) {
		agq_errf(err, size, "the plan: no JSON array of tasks in the "
		    "answer (out/%s/%s)", id, name);
		return 1;
	}
	const json_t *by = json_object_get(t, "submitted_by");
	json_t *inherit = json_pack("{s:O*}", "cwd", json_object_get(t,
	    "git") ? NULL : json_object_get(t, "cwd"));
	struct agq_submit_plan_opts o = { .mission = json_string_value(
	    json_object_get(t, "mission")), .prefix = id, .inherit = inherit,
	    .uid = (uid_t)json_integer_value(json_object_get(by, "uid")),
	    .user = json_string_value(json_object_get(by, "user")),
	    .source = "plan" };
	json_t *got = NULL;
	int r = agq_submit_plan(sp, plan, &o, &got, err, size);
	int e = errno;
	if (r == 0) {
		agq_journal_w(sp, "plan_submit", id, json_pack("{s:s?, s:O}",
		    "mission", o.mission, "tasks", got));
		if (ids)
			*ids = json_incref(got);
	}
	json_decref(got);
	json_decref(inherit);
	json_decref(plan);
	errno = e;
	return r;
}
