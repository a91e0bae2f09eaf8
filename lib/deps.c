/* deps.c - task dependencies: the decision, the edge index deps/P/C, and
 * the scheduler's move out of blocked/ (deps.h; agq-task(5),
 * "Dependencies"). */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "lifecycle.h"
#include "journal.h"
#include "lease.h"
#include "archive.h"
#include "deps.h"

const char *
agq_dep_decision_name(int decision)
{
	static const char *const n[] = { "release", "wait", "cancel", "hold",
	    "run" };
	return decision >= 0 && decision <= AGQ_DEP_RUN ? n[decision] : "?";
}

const char *
agq_dep_pstate_name(int pstate)
{
	static const char *const n[] = { "pending", "done", "dead",
	    "cancelled", "gone" };
	return pstate >= 0 && pstate <= AGQ_DEP_GONE ? n[pstate] : "?";
}

void
agq_dep_free(struct agq_dep *d)
{
	json_decref(d->blocked_on);
	d->blocked_on = NULL;
}

/* "parent P ended STATE: REASON" (or "parent P is gone ...") into BUF;
 * REASON cut at 200 bytes, so that the reasons down a chain of
 * cancellations, each quoting its parent's, stay short. */
static void
failed_why(char *buf, size_t size, const char *prefix, const char *p,
           int ps, const char *reason)
{
	if (ps == AGQ_DEP_GONE)
		snprintf(buf, size, "%sparent %s is gone (not in the spool nor "
		    "its archive)", prefix, p);
	else
		snprintf(buf, size, "%sparent %s ended %s%s%.200s", prefix, p,
		    agq_dep_pstate_name(ps), *reason ? ": " : "", reason);
}

int
agq_dep_decide(const json_t *task, agq_dep_state_fn fn, void *arg,
               struct agq_dep *d)
{
	memset(d, 0, sizeof *d);
	d->decision = AGQ_DEP_RELEASE;
	snprintf(d->reason, sizeof d->reason, "parents done");
	const json_t *after = json_object_get(task, "after");
	const char *odf = json_string_value(json_object_get(task,
	    "on_dep_fail"));
	int run = odf && !strcmp(odf, "run"), hold = odf && !strcmp(odf,
	    "hold");
	json_t *pending = json_array();
	char reason[600], first_reason[600] = "";
	size_t i;
	json_t *e;
	json_array_foreach(after, i, e) {
		const char *p = json_string_value(e);
		if (!p)
			continue;
		reason[0] = '\0';
		int ps = fn(p, reason, sizeof reason, arg);
		if (ps < 0) {
			int err = errno;
			json_decref(pending);
			errno = err;
			return -1;
		}
		if (ps == AGQ_DEP_PENDING) {
			json_array_append_new(pending, json_string(p));
		} else if (ps != AGQ_DEP_DONE && !d->parent[0]) {
			snprintf(d->parent, sizeof d->parent, "%s", p);
			d->pstate = ps;
			snprintf(first_reason, sizeof first_reason, "%s", reason);
			if (!run)
				break;  /* cancel or hold now, whatever the rest */
		}
	}
	if (d->parent[0] && !run) {
		d->decision = hold ? AGQ_DEP_HOLD : AGQ_DEP_CANCEL;
		failed_why(d->reason, sizeof d->reason, hold ? "held: " : "",
		    d->parent, d->pstate, first_reason);
	} else if (json_array_size(pending) > 0) {
		d->decision = AGQ_DEP_WAIT;
		d->blocked_on = pending;
		pending = NULL;
		size_t n = (size_t)snprintf(d->reason, sizeof d->reason,
		    "waiting for parent%s ", json_array_size(d->blocked_on) > 1 ?
		    "s" : "");
		json_array_foreach(d->blocked_on, i, e) {
			if (n >= sizeof d->reason - 1)
				break;
			n += (size_t)snprintf(d->reason + n, sizeof d->reason - n,
			    "%s%s", i ? ", " : "", json_string_value(e));
		}
		d->parent[0] = '\0';    /* a failure noted so far: no decision */
	} else if (d->parent[0]) {
		d->decision = AGQ_DEP_RUN;
		failed_why(reason, sizeof reason, "", d->parent, d->pstate,
		    first_reason);
		snprintf(d->reason, sizeof d->reason, "%s; run anyway "
		    "(on_dep_fail run)", reason);
	}
	json_decref(pending);
	return 0;
}

int
agq_dep_batch_order(json_t *const *tasks, size_t n, size_t *order,
                    size_t *bad, char *err, size_t size)
{
	/* index of each id (the first task with it) */
	json_t *index = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_object_get(tasks[i],
		    "id"));
		if (id && !json_object_get(index, id))
			json_object_set_new(index, id, json_integer((json_int_t)i));
	}
	/* 0 white, 1 on the path (grey), 2 placed (black) */
	unsigned char *color = agq_xmalloc(n + 1);
	size_t *stack = agq_xmalloc((n + 1) * sizeof *stack);
	size_t *next = agq_xmalloc((n + 1) * sizeof *next);
	memset(color, 0, n + 1);
	size_t placed = 0;
	int rc = 0;
	for (size_t root = 0; root < n && rc == 0; root++) {
		if (color[root])
			continue;
		size_t top = 0;
		stack[top++] = root;
		next[root] = 0;
		color[root] = 1;
		while (top > 0) {
			size_t v = stack[top - 1];
			const json_t *after = json_object_get(tasks[v], "after");
			if (next[v] >= json_array_size(after)) {
				color[v] = 2;
				order[placed++] = v;
				top--;
				continue;
			}
			const char *p = json_string_value(json_array_get(after,
			    next[v]++));
			json_t *w = p ? json_object_get(index, p) : NULL;
			if (!w)
				continue;       /* not in the batch */
			size_t u = (size_t)json_integer_value(w);
			if (color[u] == 2)
				continue;
			if (color[u] == 1) {
				/* the cycle: u ... v on the stack, then u */
				size_t k = top;
				while (k > 0 && stack[k - 1] != u)
					k--;
				size_t len = (size_t)snprintf(err, size, "field "
				    "after: a cycle in the batch: ");
				for (size_t j = k - 1; j < top && len < size; j++)
					len += (size_t)snprintf(err + len, size -
					    len, "%s -> ", json_string_value(
					    json_object_get(tasks[stack[j]],
					    "id")));
				if (len < size)
					snprintf(err + len, size - len, "%s", p);
				*bad = u;
				rc = -1;
				break;
			}
			color[u] = 1;
			next[u] = 0;
			stack[top++] = u;
		}
	}
	free(color);
	free(stack);
	free(next);
	json_decref(index);
	return rc;
}

int
agq_dep_parent_state(const char *id, char *reason, size_t size, void *arg)
{
	const struct agq_spool *sp = arg;
	struct agq_loc loc;
	reason[0] = '\0';
	for (int tries = 0; tries < 3; tries++) {
		if (agq_task_find(sp, id, &loc) == 0) {
			if (loc.state == AGQ_ST_DONE)
				return AGQ_DEP_DONE;
			if (loc.state != AGQ_ST_DEAD)
				return AGQ_DEP_PENDING;
			json_t *t = agq_task_read_settled(loc.path,
			    AGQ_SETTLE_MS);
			if (!t)         /* moved on since: look again */
				continue;
			const char *r = json_string_value(json_object_get(t,
			    "reason"));
			/* cut to fit: before a character */
			agq_errf(reason, size, "%s", r ? r : "");
			json_decref(t);
			return !strncmp(reason, "cancelled by ", 13) ?
			    AGQ_DEP_CANCELLED : AGQ_DEP_DEAD;
		}
		/* not found: between two directories while its id is
		 * claimed (agq-spool(5), ids/), or not in the spool */
		char claim[PATH_MAX];
		struct stat st;
		snprintf(claim, sizeof claim, "%s/ids/%s", sp->root, id);
		if (lstat(claim, &st) < 0 || st.st_nlink < 2)
			break;
	}
	if (agq_task_find(sp, id, &loc) == 0)
		return AGQ_DEP_PENDING; /* found at last: it moves still */
	json_t *rec = agq_archive_find(sp, id, NULL);
	if (!rec) {
		if (errno != ENOENT)
			return -1;
		char claim[PATH_MAX];
		struct stat st;
		snprintf(claim, sizeof claim, "%s/ids/%s", sp->root, id);
		/* claimed but not found three times: a task in flight */
		return lstat(claim, &st) == 0 && st.st_nlink >= 2 ?
		    AGQ_DEP_PENDING : AGQ_DEP_GONE;
	}
	const char *st = json_string_value(json_object_get(rec, "state"));
	const char *r = json_string_value(json_object_get(json_object_get(rec,
	    "task"), "reason"));
	agq_errf(reason, size, "%s", r ? r : "");
	int ps = st && !strcmp(st, "done") ? AGQ_DEP_DONE :
	    !strncmp(reason, "cancelled by ", 13) ? AGQ_DEP_CANCELLED :
	    AGQ_DEP_DEAD;
	json_decref(rec);
	return ps;
}

void
agq_dep_apply(json_t *t, const struct agq_dep *d)
{
	json_object_del(t, "blocked_on");
	json_object_del(t, "dep_failed");
	if (d->decision == AGQ_DEP_RELEASE)
		return;
	if (d->decision == AGQ_DEP_WAIT)
		json_object_set(t, "blocked_on", d->blocked_on);
	else
		json_object_set_new(t, "dep_failed", json_pack("{s:s, s:s}",
		    "id", d->parent, "state", agq_dep_pstate_name(d->pstate)));
	json_object_set_new(t, "reason", json_string(d->reason));
}

int
agq_dep_prepare(const struct agq_spool *sp, json_t *t, struct agq_dep *d,
                int sync, char *err, size_t size)
{
	memset(d, 0, sizeof *d);
	d->decision = AGQ_DEP_RELEASE;
	json_object_del(t, "blocked_on");
	json_object_del(t, "dep_failed");
	const json_t *after = json_object_get(t, "after");
	size_t i;
	json_t *e;
	char reason[8];
	json_array_foreach(after, i, e) {
		int ps = agq_dep_parent_state(json_string_value(e), reason,
		    sizeof reason, (void *)sp);
		if (ps < 0)
			return -1;
		if (ps == AGQ_DEP_GONE) {
			agq_errf(err, size, "field after: %s: no such task (not "
			    "in the spool nor its archive)", json_string_value(e));
			return 1;
		}
	}
	if (!after)
		return 0;
	if (agq_dep_decide(t, agq_dep_parent_state, (void *)sp, d) < 0)
		return -1;
	agq_dep_apply(t, d);
	if (d->decision == AGQ_DEP_WAIT && agq_dep_edges_write(sp, t, sync) <
	    0) {
		int e2 = errno;
		agq_dep_free(d);
		errno = e2;
		return -1;
	}
	return 0;
}

int
agq_dep_edges_write(const struct agq_spool *sp, const json_t *t, int sync)
{
	const char *c = agq_task_id(t);
	size_t i;
	json_t *e;
	char dir[PATH_MAX], path[PATH_MAX + 80];
	json_array_foreach(json_object_get(t, "after"), i, e) {
		const char *p = json_string_value(e);
		snprintf(dir, sizeof dir, "%s/deps/%s", sp->root, p);
		snprintf(path, sizeof path, "%s/%s", dir, c);
		int fd = -1;
		/* agq-sched removes deps/P/ once empty: made again then */
		for (int tries = 0; tries < 100 && fd < 0; tries++) {
			int made = 0;
			if (mkdir(dir, 0700) == 0)
				made = 1;
			else if (errno != EEXIST)
				return -1;
			fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW |
			    O_CLOEXEC, 0600);
			if (fd < 0 && errno != ENOENT)
				return -1;
			if (fd >= 0 && made && sync) {
				char top[PATH_MAX];
				snprintf(top, sizeof top, "%s/deps", sp->root);
				if (agq_fsync_dir(top) < 0) {
					close(fd);
					return -1;
				}
			}
		}
		if (fd < 0)
			return -1;
		close(fd);
		if (sync && agq_fsync_dir(dir) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

int
agq_dep_edge_remove(const struct agq_spool *sp, const char *p, const char *c)
{
	char dir[PATH_MAX], path[PATH_MAX + 80];
	snprintf(dir, sizeof dir, "%s/deps/%s", sp->root, p);
	snprintf(path, sizeof path, "%s/%s", dir, c);
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST &&
	    errno != ENOENT)
		return -1;
	return 0;
}

struct children { int (*fn)(const char *, void *); void *arg; };

static int
child_each(const char *name, void *arg)
{
	struct children *c = arg;
	return agq_id_valid(name) ? c->fn(name, c->arg) : 0;
}

int
agq_dep_children(const struct agq_spool *sp, const char *p,
                 int (*fn)(const char *c, void *arg), void *arg)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/deps/%s", sp->root, p);
	struct children c = { fn, arg };
	int r = agq_dir_each(dir, child_each, &c);
	return r < 0 && errno == ENOENT ? 0 : r;
}

void
agq_dep_journal_new(const struct agq_spool *sp, const json_t *t,
                    const struct agq_dep *d)
{
	const char *id = agq_task_id(t);
	if (d->decision == AGQ_DEP_WAIT)
		agq_journal_w(sp, "blocked", id, json_pack("{s:O, s:O}",
		    "after", json_object_get(t, "after"), "blocked_on",
		    d->blocked_on));
	else if (d->decision == AGQ_DEP_CANCEL || d->decision == AGQ_DEP_HOLD)
		agq_journal_w(sp, "dep_fail", id, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s}", "parent", d->parent, "state",
		    agq_dep_pstate_name(d->pstate), "decision",
		    agq_dep_decision_name(d->decision), "to", d->decision ==
		    AGQ_DEP_HOLD ? "hold" : "dead", "reason", d->reason));
}

void
agq_dep_edges_remove(const struct agq_spool *sp, const json_t *t)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(t, "after"), i, e)
		if (agq_dep_edge_remove(sp, json_string_value(e),
		    agq_task_id(t)) < 0)
			agq_spool_syserr(sp, "cannot remove the edge", "deps/%s/%s",
			    json_string_value(e), agq_task_id(t));
}

/* The fast way of agq_dep_settle: task ID in blocked/ read unlocked and
 * decided; when it still waits for the same parents, its missing edges
 * written and 1 returned (nothing else to do); else 0 (the locked way
 * decides). */
static int
settle_unchanged(const struct agq_spool *sp, const char *id,
                 const char *path)
{
	json_t *t = agq_task_read(path);
	struct agq_dep d;
	if (!t || agq_dep_decide(t, agq_dep_parent_state, (void *)sp, &d) < 0) {
		json_decref(t);
		return 0;
	}
	int same = d.decision == AGQ_DEP_WAIT && json_equal(d.blocked_on,
	    json_object_get(t, "blocked_on"));
	agq_dep_free(&d);
	size_t i;
	json_t *e;
	int missing = 0;
	json_array_foreach(json_object_get(t, "after"), i, e) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof p, "%s/deps/%s/%s", sp->root,
		    json_string_value(e), id);
		missing |= same && lstat(p, &st) < 0;
	}
	if (missing && agq_dep_edges_write(sp, t, 1) < 0)
		agq_spool_syserr(sp, "cannot write the edges of", "deps/*/%s",
		    id);
	json_decref(t);
	return same;
}

int
agq_dep_settle(const struct agq_spool *sp, const char *id,
               const char *trigger)
{
	struct agq_loc hint = { .state = AGQ_ST_BLOCKED, .lane = -1 };
	struct agq_locked l;
	agq_loc_path(sp, &hint, id);
	if (settle_unchanged(sp, id, hint.path))
		return AGQ_DEP_WAIT;
	if (agq_task_lock(sp, id, &hint, &l) < 0 ||
	    l.loc.state != AGQ_ST_BLOCKED) {
		int found = l.task != NULL;
		if (found)
			agq_task_unlock(&l);
		if (trigger)    /* a stale edge: its dependent left blocked/ */
			agq_dep_edge_remove(sp, trigger, id);
		return -2;
	}
	struct agq_dep d;
	if (agq_dep_decide(l.task, agq_dep_parent_state, (void *)sp, &d) < 0) {
		int e = errno;
		agq_task_unlock(&l);
		errno = e;
		return -1;
	}
	int rc = d.decision;
	if (d.decision == AGQ_DEP_WAIT) {
		if (!json_equal(d.blocked_on, json_object_get(l.task,
		    "blocked_on"))) {
			agq_dep_apply(l.task, &d);
			if (agq_task_rewrite(sp, &l) < 0)
				rc = -1;
		}
		agq_dep_free(&d);
		int e = errno;
		agq_task_unlock(&l);
		errno = e;
		return rc;
	}
	struct agq_lc lc;
	const char *from = agq_state_name(AGQ_ST_BLOCKED);
	if (d.decision == AGQ_DEP_RELEASE || d.decision == AGQ_DEP_RUN) {
		struct agq_loc to;
		agq_dep_apply(l.task, &d);
		json_object_del(l.task, "blocked_on");
		agq_task_first_loc(sp, l.task, agq_now_us(), NULL, &to);
		agq_lc_init(&lc, to.state == AGQ_ST_DEFER ?
		    AGQ_LC_DEP_RELEASE_DEFER : AGQ_LC_DEP_RELEASE, to.state,
		    to.lane);
		const char *r = json_string_value(json_object_get(l.task,
		    "reason"));
		snprintf(lc.reason, sizeof lc.reason, "%s", to.state ==
		    AGQ_ST_DEFER && r ? r : d.reason);
		lc.ev = json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "from", from,
		    "to", agq_state_name(to.state), "lane", to.state ==
		    AGQ_ST_QUEUE ? agq_lane_name(to.lane) : NULL, "parent",
		    trigger, "decision", agq_dep_decision_name(d.decision));
	} else {
		int hold = d.decision == AGQ_DEP_HOLD;
		agq_dep_apply(l.task, &d);
		agq_lc_init(&lc, hold ? AGQ_LC_DEP_HOLD : AGQ_LC_DEP_CANCEL,
		    hold ? AGQ_ST_HOLD : AGQ_ST_DEAD, -1);
		snprintf(lc.reason, sizeof lc.reason, "%s", d.reason);
		lc.ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "from", from,
		    "to", hold ? "hold" : "dead", "parent", d.parent, "state",
		    agq_dep_pstate_name(d.pstate), "decision",
		    agq_dep_decision_name(d.decision), "reason", d.reason);
	}
	agq_dep_free(&d);
	if (agq_lc_record(sp, &l, &lc) < 0) {
		int e = errno;
		agq_task_unlock(&l);
		errno = e;
		return -1;
	}
	agq_dep_edges_remove(sp, l.task);
	agq_task_unlock(&l);
	return rc;
}
