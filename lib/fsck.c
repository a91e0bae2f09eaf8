/*
 * fsck.c - check and repair a spool (agq-fsck(8)).  The reclaim of a lease
 * it shares with agq-sched is agq_task_reclaim (lease.c).
 *
 * The checks, in order: missing directories, permissions (the model of
 * agq-spool(5), PERMISSIONS), files in the state directories that are not
 * tasks, tasks in more than one state, leases of dead agents, stale tmp/
 * files (the maildir rule: untouched for 36 hours), the dependency edges
 * deps/P/C (agq-spool(5), "Dependencies"), and the journal (a
 * torn tail, a broken hash chain).  With FIX each problem is repaired by
 * moving things (to corrupt/, back to the queue) or by chmod/mkdir:
 * nothing is deleted.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "jrecon.h"
#include "lease.h"
#include "agent.h"
#include "deps.h"
#include "plan.h"
#include "mission.h"
#include "archive.h"
#include "fsck.h"

/* ---- agq-fsck ----------------------------------------------------------- */

struct fsck {
	struct agq_spool *sp;
	const struct agq_fsck_opts *o;
	struct agq_fsck_counts *c;
	json_t *seen;           /* id -> [ {path, state, gen, where}, ... ] */
	json_t *dups;           /* ids found in more than one state */
	int broken;             /* a journal's chain is broken */
};

/* Report one problem: "KIND: TEXT[ (fixed)]" on stdout. */
static void
report(struct fsck *F, long *counter, int fixed, const char *kind,
       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
report(struct fsck *F, long *counter, int fixed, const char *kind,
       const char *fmt, ...)
{
	va_list ap;
	char text[2048];
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	(*counter)++;
	F->c->problems++;
	if (fixed > 0)
		F->c->fixed++;
	printf("%s: %s%s\n", kind, text, fixed > 0 ? " (fixed)" :
	    fixed < 0 ? " (NOT fixed: see the error above)" : "");
}

/* Quarantine PATH (a file NAME) with WHY when fixing.  1 fixed, 0 not
 * asked to, -1 failed (reported). */
static int
quarantine(struct fsck *F, const char *path, const char *name,
           const char *id, const char *why)
{
	if (!F->o->fix)
		return 0;
	if (agq_quarantine(F->sp, path, name, why) < 0) {
		agq_syserr("cannot quarantine", path);
		return -1;
	}
	json_t *ev = json_pack("{s:s, s:s}", "file", path, "reason", why);
	agq_journal_w(F->sp, "reject", id, ev);
	return 1;
}

static void
check_mode(struct fsck *F, const char *path, const char *rel, mode_t need,
           mode_t forbid, int isdir)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (isdir && !S_ISDIR(st.st_mode))
		return;
	mode_t m = st.st_mode & 07777;
	if ((m & need) == need && !(m & forbid))
		return;
	mode_t want = (m & ~forbid) | need;
	int fixed = 0;
	if (F->o->fix) {
		fixed = chmod(path, want) == 0 ? 1 : -1;
		if (fixed < 0)
			agq_syserr("cannot chmod", path);
	}
	report(F, &F->c->modes, fixed, "permissions", "%s: mode %04o, the "
	    "model wants %04o (all of %04o, none of %04o)", rel, (unsigned)m,
	    (unsigned)want, (unsigned)need, (unsigned)forbid);
}

static void
check_dirs(struct fsck *F)
{
	for (int i = 0; agq_spool_modes[i].name; i++) {
		const struct agq_dirmode *dm = &agq_spool_modes[i];
		char *p = agq_spool_path(F->sp, "%s", dm->name);
		const char *rel = *dm->name ? dm->name : ".";
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
			int missing = lstat(p, &st) < 0;
			int fixed = 0;
			if (F->o->fix && !missing) {
				char *name = agq_xasprintf("dir-%s", dm->name);
				for (char *c = name; *c; c++)
					if (*c == '/')
						*c = '-';
				fixed = quarantine(F, p, name, NULL, "not a "
				    "directory where agq-spool(5) wants one");
				free(name);
			}
			if (F->o->fix && fixed >= 0) {
				fixed = agq_mkdir_mode(p, dm->mode) == 0 ? 1 : -1;
				if (fixed < 0)
					agq_syserr("cannot create", p);
			}
			report(F, &F->c->dirs, fixed, "directory", "%s/: %s",
			    rel, missing ? "missing" : "not a directory");
		} else {
			check_mode(F, p, rel, dm->need, dm->forbid, 1);
		}
		free(p);
	}
}

/* Files at the top of the spool: the journal, rotated journals and the
 * lock files hold events and can be held: 0600. */
static void
check_top_files(struct fsck *F)
{
	DIR *d = opendir(F->sp->root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t k = strlen(n);
		int ours = !strcmp(n, "journal") || !strncmp(n, "journal.", 8) ||
		    (n[0] == '.' && k > 6 && !strcmp(n + k - 5, ".lock"));
		if (!ours)
			continue;
		char *p = agq_spool_path(F->sp, "%s", n);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
			check_mode(F, p, n, 0600, 0077, 0);
		free(p);
	}
	closedir(d);
}

/* Order of precedence among copies of one task (agq-fsck(8)): a copy in
 * done/ always wins, then the highest generation, then dead, review,
 * approval, active, hold, defer, queue, blocked. */
static int
state_rank(int s)
{
	switch (s) {
	case AGQ_ST_DONE: return 7;
	case AGQ_ST_DEAD: return 6;
	case AGQ_ST_BLOCKED: return -1;         /* the first state of all */
	case AGQ_ST_REVIEW: return 5;
	case AGQ_ST_APPROVAL: return 4;
	case AGQ_ST_ACTIVE: return 3;
	case AGQ_ST_HOLD: return 2;
	case AGQ_ST_DEFER: return 1;
	default: return 0;
	}
}

static int
better(const json_t *a, const json_t *b)
{
	int sa = (int)json_integer_value(json_object_get(a, "state"));
	int sb = (int)json_integer_value(json_object_get(b, "state"));
	if ((sa == AGQ_ST_DONE) != (sb == AGQ_ST_DONE))
		return sa == AGQ_ST_DONE;
	json_int_t ga = json_integer_value(json_object_get(a, "gen"));
	json_int_t gb = json_integer_value(json_object_get(b, "gen"));
	if (ga != gb)
		return ga > gb;
	return state_rank(sa) > state_rank(sb);
}

struct leaf { struct fsck *F; int state; const char *rel; };

static int
leaf_entry(const char *name, void *arg)
{
	struct leaf *L = arg;
	struct fsck *F = L->F;
	char *p = agq_spool_path(F->sp, "%s/%s", L->rel, name);
	char why[512] = "", id[65] = "";
	size_t n = strlen(name);
	struct stat st;
	json_t *t = NULL;
	if (lstat(p, &st) < 0) {
		free(p);
		return 0;       /* gone meanwhile */
	}
	if (n <= 5 || n - 5 > 64 || strcmp(name + n - 5, ".json")) {
		snprintf(why, sizeof why, "not named ID.json");
	} else {
		memcpy(id, name, n - 5);
		id[n - 5] = '\0';
		if (!agq_id_valid(id))
			snprintf(why, sizeof why, "not a valid task id: %s", id);
	}
	if (!why[0] && !S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	if (!why[0]) {
		size_t len;
		char *buf = agq_read_file(p, 16 * 1024 * 1024, &len, NULL);
		char err[256];
		if (!buf) {
			snprintf(why, sizeof why, "cannot read: %s",
			    strerror(errno));
		} else if (!(t = agq_task_parse(buf, len, err, sizeof err))) {
			snprintf(why, sizeof why, "%s", err);
		} else if (strcmp(agq_task_id(t), id)) {
			snprintf(why, sizeof why, "its id is %s, not %s",
			    agq_task_id(t), id);
		}
		free(buf);
	}
	if (why[0]) {
		char *full = agq_xasprintf("not a task: %s", why);
		int fixed = quarantine(F, p, name, NULL, full);
		report(F, &F->c->strays, fixed, "not a task", "%s/%s: %s",
		    L->rel, name, why);
		free(full);
	} else {
		F->c->tasks++;
		json_t *arr = json_object_get(F->seen, id);
		if (!arr) {
			arr = json_array();
			json_object_set_new(F->seen, id, arr);
		}
		json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:s}",
		    "path", p, "state", L->state, "gen", (json_int_t)
		    agq_task_int(t, "generation", 0), "where", L->rel));
	}
	json_decref(t);
	free(p);
	return 0;
}

static void
scan_leaf(struct fsck *F, int state, const char *rel)
{
	struct leaf L = { F, state, rel };
	char *d = agq_spool_path(F->sp, "%s", rel);
	if (agq_dir_each(d, leaf_entry, &L) < 0 && errno != ENOENT &&
	    errno != ENOTDIR)
		agq_syserr("cannot read", d);
	free(d);
}

struct parent { struct fsck *F; const char *rel; };

/* An entry of queue/ or active/ that is not one of its subdirectories. */
static int
parent_entry(const char *name, void *arg)
{
	struct parent *P = arg;
	struct fsck *F = P->F;
	char *p = agq_spool_path(F->sp, "%s/%s", P->rel, name);
	struct stat st;
	int ok = 0;
	if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!strcmp(P->rel, "queue"))
			ok = agq_lane_parse(name) >= 0;
		else
			ok = agq_agent_name_valid(name);
	}
	if (!ok) {
		char *q = agq_xasprintf("%s-%s", P->rel, name);
		char *why = agq_xasprintf("not a task: %s/%s is not a %s",
		    P->rel, name, strcmp(P->rel, "queue") ? "directory named "
		    "after an agent" : "lane directory");
		int fixed = quarantine(F, p, q, NULL, why);
		report(F, &F->c->strays, fixed, "not a task", "%s/%s: not a %s",
		    P->rel, name, strcmp(P->rel, "queue") ? "directory named "
		    "after an agent" : "lane directory");
		free(q);
		free(why);
	} else if (!strcmp(P->rel, "active")) {
		char *rel = agq_xasprintf("active/%s", name);
		check_mode(F, p, rel, 0700, 0077, 1);
		scan_leaf(F, AGQ_ST_ACTIVE, rel);
		free(rel);
	}
	free(p);
	return 0;
}

static void
scan_states(struct fsck *F)
{
	for (int l = 0; l < AGQ_NLANES; l++) {
		char *rel = agq_xasprintf("queue/%s", agq_lane_name(l));
		scan_leaf(F, AGQ_ST_QUEUE, rel);
		free(rel);
	}
	static const int flat[] = { AGQ_ST_DEFER, AGQ_ST_HOLD, AGQ_ST_DONE,
	    AGQ_ST_DEAD, AGQ_ST_REVIEW, AGQ_ST_APPROVAL, AGQ_ST_BLOCKED };
	for (size_t i = 0; i < sizeof flat / sizeof *flat; i++)
		scan_leaf(F, flat[i], agq_state_name(flat[i]));
	static const char *parents[] = { "queue", "active" };
	for (size_t i = 0; i < 2; i++) {
		struct parent P = { F, parents[i] };
		char *d = agq_spool_path(F->sp, "%s", parents[i]);
		agq_dir_each(d, parent_entry, &P);
		free(d);
	}
}

static void
check_duplicates(struct fsck *F)
{
	const char *id;
	json_t *arr;
	json_object_foreach(F->seen, id, arr) {
		size_t n = json_array_size(arr);
		if (n < 2)
			continue;
		size_t best = 0;
		for (size_t i = 1; i < n; i++)
			if (better(json_array_get(arr, i),
			    json_array_get(arr, best)))
				best = i;
		json_t *b = json_array_get(arr, best);
		const char *bw = json_string_value(json_object_get(b, "where"));
		json_int_t bg = json_integer_value(json_object_get(b, "gen"));
		for (size_t i = 0; i < n; i++) {
			if (i == best)
				continue;
			json_t *x = json_array_get(arr, i);
			const char *xw = json_string_value(json_object_get(x,
			    "where"));
			const char *xp = json_string_value(json_object_get(x,
			    "path"));
			json_int_t xg = json_integer_value(json_object_get(x,
			    "gen"));
			char *why = agq_xasprintf("duplicate: %s is also in %s/ "
			    "(generation %lld), which agq-fsck kept", id, bw,
			    (long long)bg);
			char *name = agq_xasprintf("%s.json", id);
			int fixed = quarantine(F, xp, name, id, why);
			report(F, &F->c->duplicates, fixed, "duplicate",
			    "%s: in %s/ (generation %lld) and %s/ (generation "
			    "%lld): keeping %s/", id, xw, (long long)xg, bw,
			    (long long)bg, bw);
			free(name);
			free(why);
		}
		/* the claim goes with the copy kept */
		if (F->o->fix && agq_id_claim(F->sp, id, json_string_value(
		    json_object_get(b, "path"))) < 0)
			agq_syserr("cannot claim", id);
		json_object_set_new(F->dups, id, json_true());
	}
}

/* ids/: every task's claim is a link to its file; a claim with no task
 * (its file was removed by hand) holds a copy of the removed file. */
static void
check_claims(struct fsck *F)
{
	int fix = F->o->fix || F->o->rebuild_index, failed = 0;
	const char *id;
	json_t *arr;
	json_object_foreach(F->seen, id, arr) {
		if (json_array_size(arr) != 1 || json_object_get(F->dups, id))
			continue;
		const char *p = json_string_value(json_object_get(
		    json_array_get(arr, 0), "path"));
		char *c = agq_spool_path(F->sp, "ids/%s", id);
		struct stat a, b;
		int ok = lstat(c, &a) == 0 && lstat(p, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
		int missing = !ok && lstat(c, &a) < 0;
		free(c);
		if (ok)
			continue;
		int fixed = 0;
		if (fix) {
			fixed = agq_id_claim(F->sp, id, p) == 0 ? 1 : -1;
			if (fixed < 0) {
				agq_syserr("cannot claim", p);
				failed = 1;
			}
		}
		report(F, &F->c->claims, fixed, "claim", "ids/%s: %s", id,
		    missing ? "missing" : "not a link to the task's file");
	}
	/* Every task has its claim now: say so, for agq_id_taken. */
	if (!agq_id_index_ok(F->sp)) {
		int fixed = 0;
		if (fix && failed) {
			agq_warn("ids/%s not made: some claims could not be "
			    "made", AGQ_ID_INDEX_MARK);
			fixed = -1;
		} else if (fix) {
			fixed = agq_id_index_mark(F->sp) == 0 ? 1 : -1;
			if (fixed < 0)
				agq_spool_syserr(F->sp, "cannot create", "ids/%s",
				    AGQ_ID_INDEX_MARK);
		}
		report(F, &F->c->claims, fixed, "claim", "ids/%s: missing: "
		    "the id index may predate id claims", AGQ_ID_INDEX_MARK);
	}
	char *d = agq_spool_path(F->sp, "ids");
	DIR *dir = opendir(d);
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		char *c = agq_spool_path(F->sp, "ids/%s", de->d_name);
		struct stat st;
		if (lstat(c, &st) == 0 && (!S_ISREG(st.st_mode) ||
		    st.st_nlink < 2)) {
			char *q = agq_xasprintf("claim-%s", de->d_name);
			int fixed = quarantine(F, c, q, NULL, "stale claim: "
			    "no task has this id any more (a task file removed "
			    "by hand); this is a copy of the removed file");
			report(F, &F->c->claims, fixed, "claim", "ids/%s: "
			    "stale: no task has this id any more", de->d_name);
			free(q);
		}
		free(c);
	}
	if (dir)
		closedir(dir);
	free(d);
}

/* The state of the one copy of task ID seen, or AGQ_ST_NONE. */
static int
seen_state(struct fsck *F, const char *id, const char **path)
{
	json_t *arr = json_object_get(F->seen, id);
	if (json_array_size(arr) != 1)
		return AGQ_ST_NONE;
	if (path)
		*path = json_string_value(json_object_get(json_array_get(arr,
		    0), "path"));
	return (int)json_integer_value(json_object_get(json_array_get(arr, 0),
	    "state"));
}

struct edge_walk { struct fsck *F; const char *p; };

/* deps/P/NAME: stale unless NAME is a task in blocked/ whose "after"
 * names P (then agq-sched releases it through this edge). */
static int
edge_entry(const char *name, void *arg)
{
	struct edge_walk *w = arg;
	struct fsck *F = w->F;
	const char *path = NULL;
	int ok = 0;
	if (agq_id_valid(name) && seen_state(F, name, &path) == AGQ_ST_BLOCKED) {
		json_t *t = agq_task_read(path);
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(t, "after"), i, e)
			ok |= !strcmp(json_string_value(e), w->p);
		json_decref(t);
	}
	if (ok)
		return 0;
	int fixed = 0;
	if (F->o->fix) {
		fixed = agq_dep_edge_remove(F->sp, w->p, name) == 0 ? 1 : -1;
		if (fixed < 0)
			agq_spool_syserr(F->sp, "cannot remove", "deps/%s/%s",
			    w->p, name);
	}
	report(F, &F->c->edges, fixed, "edge", "deps/%s/%s: stale: %s is not "
	    "a blocked task after %s", w->p, name, name, w->p);
	return 0;
}

static int
edge_parent(const char *name, void *arg)
{
	struct edge_walk w = { arg, name };
	char *d = agq_spool_path(w.F->sp, "deps/%s", name);
	if (agq_dir_each(d, edge_entry, &w) < 0 && errno != ENOENT &&
	    errno != ENOTDIR)
		agq_syserr("cannot read", d);
	free(d);
	return 0;
}

/* The dependency edges (agq-spool(5), "Dependencies"): every task in
 * blocked/ has deps/P/ID for each P of its "after" (made with FIX), and
 * no edge names a task that is not blocked (removed with FIX). */
static void
check_edges(struct fsck *F)
{
	const char *id;
	json_t *arr;
	json_object_foreach(F->seen, id, arr) {
		const char *path = NULL;
		if (seen_state(F, id, &path) != AGQ_ST_BLOCKED)
			continue;
		json_t *t = agq_task_read(path);
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(t, "after"), i, e) {
			char *p = agq_spool_path(F->sp, "deps/%s/%s",
			    json_string_value(e), id);
			struct stat st;
			if (lstat(p, &st) < 0) {
				int fixed = 0;
				if (F->o->fix) {
					fixed = agq_dep_edges_write(F->sp, t,
					    1) == 0 ? 1 : -1;
					if (fixed < 0)
						agq_syserr("cannot write", p);
				}
				report(F, &F->c->edges, fixed, "edge", "deps/%s/"
				    "%s: missing: blocked task %s waits for %s",
				    json_string_value(e), id, id,
				    json_string_value(e));
			}
			free(p);
		}
		json_decref(t);
	}
	char *d = agq_spool_path(F->sp, "deps");
	if (agq_dir_each(d, edge_parent, F) < 0 && errno != ENOENT)
		agq_syserr("cannot read", d);
	free(d);
}

struct plan_walk { struct fsck *F; const char *plan; };

/* One file of plans/NAME/: a revision that parses (a JSON object with
 * its "rev" and a "doc" or "deleted"), else reported and, with FIX,
 * quarantined like a file that is not a task. */
static int
plan_rev_entry(const char *name, void *arg)
{
	struct plan_walk *w = arg;
	long rev = agq_plan_rev_name(name);
	char why[256] = "";
	json_t *rec = rev ? agq_plan_record(w->F->sp, w->plan, rev) : NULL;
	if (!rev)
		snprintf(why, sizeof why, "not named REV.json");
	else if (!rec)
		snprintf(why, sizeof why, "%s", errno == EBADMSG ?
		    "not a JSON object" : strerror(errno));
	else if (json_integer_value(json_object_get(rec, "rev")) != rev ||
	    (!json_object_get(rec, "doc") &&
	    !json_is_true(json_object_get(rec, "deleted"))))
		snprintf(why, sizeof why, "not a plan revision (\"rev\" %ld "
		    "with \"doc\" or \"deleted\")", rev);
	json_decref(rec);
	if (why[0]) {
		char *p = agq_spool_path(w->F->sp, "plans/%s/%s", w->plan, name);
		char *q = agq_xasprintf("plan-%s-%s", w->plan, name);
		char *full = agq_xasprintf("not a plan revision: %s", why);
		int fixed = quarantine(w->F, p, q, NULL, full);
		report(w->F, &w->F->c->plans, fixed, "plan", "plans/%s/%s: %s",
		    w->plan, name, why);
		free(full);
		free(q);
		free(p);
	}
	return 0;
}

static int
plan_entry(const char *name, void *arg)
{
	struct plan_walk w = { arg, name };
	char *d = agq_spool_path(w.F->sp, "plans/%s", name);
	if (!agq_plan_name_valid(name))
		report(w.F, &w.F->c->plans, 0, "plan", "plans/%s: not a plan "
		    "name", name);
	else if (agq_dir_each(d, plan_rev_entry, &w) < 0)
		report(w.F, &w.F->c->plans, 0, "plan", "plans/%s: cannot read: "
		    "%s", name, strerror(errno));
	free(d);
	return 0;
}

/* The plan documents (agq-plan(1)): every revision file parses. */
static void
check_plans(struct fsck *F)
{
	char *d = agq_spool_path(F->sp, "plans");
	if (agq_dir_each(d, plan_entry, F) < 0 && errno != ENOENT)
		agq_syserr("cannot read", d);
	free(d);
}

#define MISSION_GRACE_S 600     /* an index entry this new: a submit on
                                 * its way (written before the task) */

struct mission_walk { struct fsck *F; const char *m; char *dir; };

/* missions/M.tasks/NAME: stale when no task NAME is in the spool nor in
 * its archive, and the entry is older than MISSION_GRACE_S. */
static int
mission_entry(const char *name, void *arg)
{
	struct mission_walk *w = arg;
	struct fsck *F = w->F;
	struct stat st;
	char path[PATH_MAX];
	if (json_object_get(F->seen, name))
		return 0;
	snprintf(path, sizeof path, "%s/%s", w->dir, name);
	if (lstat(path, &st) < 0 || st.st_mtime > time(NULL) - MISSION_GRACE_S)
		return 0;
	json_t *rec = agq_archive_find(F->sp, name, NULL);
	json_decref(rec);
	if (rec || errno != ENOENT)
		return 0;
	int fixed = 0;
	if (F->o->fix) {
		fixed = agq_mission_index_remove(F->sp, w->m, name) == 0 ? 1 :
		    -1;
		if (fixed < 0)
			agq_syserr("cannot remove", path);
	}
	report(F, &F->c->missions, fixed, "mission", "missions/%s.tasks/%s: "
	    "stale: no task %s (in the spool nor its archive)", w->m, name,
	    name);
	return 0;
}

static int
mission_dir(const char *name, void *arg)
{
	size_t n = strlen(name);
	if (n <= 6 || strcmp(name + n - 6, ".tasks"))
		return 0;
	char m[80];
	snprintf(m, sizeof m, "%.*s", (int)(n - 6), name);
	struct mission_walk w = { arg, m, agq_spool_path(((struct fsck *)
	    arg)->sp, "missions/%s", name) };
	if (agq_dir_each(w.dir, mission_entry, &w) < 0 && errno != ENOENT &&
	    errno != ENOTDIR)
		agq_syserr("cannot read", w.dir);
	free(w.dir);
	return 0;
}

/* The missions' task index (agq-spool(5), "Missions"): every entry
 * missions/M.tasks/T names a task in the spool or its archive (a stale
 * one, left by a submit cut short, removed with FIX). */
static void
check_missions(struct fsck *F)
{
	char *d = agq_spool_path(F->sp, "missions");
	if (agq_dir_each(d, mission_dir, F) < 0 && errno != ENOENT)
		agq_syserr("cannot read", d);
	free(d);
}

/* Is agent NAME's agq-run holding its lock (alive whatever its
 * heartbeat says)? */
static int
agent_locked(const struct agq_spool *sp, const char *name)
{
	char *lk = agq_xasprintf("agent-%s", name);
	int fd = agq_spool_flock(sp, lk, 0);
	int e = errno;
	free(lk);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return e == EWOULDBLOCK;
}

struct lease_scan { struct fsck *F; const char *agent; const char *why; };

static int
lease_entry(const struct agq_loc *loc, const char *id, void *arg)
{
	struct lease_scan *ls = arg;
	struct fsck *F = ls->F;
	if (strcmp(loc->agent, ls->agent))
		return 0;
	int fixed = 0;
	const char *to = "";
	if (F->o->fix) {
		struct agq_locked l;
		fixed = -1;
		if (agq_task_lock(F->sp, id, loc, &l) < 0) {
			agq_syserr("cannot lock", loc->path);
		} else {
			if (l.loc.state == AGQ_ST_ACTIVE &&
			    !strcmp(l.loc.agent, ls->agent)) {
				int s = agq_task_reclaim(F->sp, &l, ls->agent,
				    ls->why, NULL);
				if (s < 0)
					agq_syserr("cannot reclaim", l.loc.path);
				else {
					fixed = 1;
					to = s == AGQ_ST_DEAD ? ": moved to "
					    "dead/ (no attempts left)" :
					    ": moved back to the queue";
				}
			}
			agq_task_unlock(&l);
		}
	}
	report(F, &F->c->leases, fixed, "lease", "%s: leased to %s, whose %s%s",
	    id, ls->agent, ls->why, to);
	return 0;
}

static int
agent_entry(const char *name, void *arg)
{
	struct fsck *F = arg;
	if (!agq_agent_name_valid(name) || agent_locked(F->sp, name))
		return 0;
	json_t *a = agq_agent_read(F->sp, name);
	char why[128] = "";
	if (!a)
		snprintf(why, sizeof why, "agent file is missing");
	else if (!agq_agent_alive_touched(F->sp, a, agq_server_now_us(F->sp),
	    F->sp->conf.lease_s)) {
		const char *st = json_string_value(json_object_get(a, "state"));
		if (st && !strcmp(st, "down"))
			snprintf(why, sizeof why, "state is down");
		else
			snprintf(why, sizeof why, "heartbeat is older than "
			    "%g s", agq_agent_lease_s(a, F->sp->conf.lease_s));
	}
	json_decref(a);
	if (why[0]) {
		struct lease_scan ls = { F, name, why };
		agq_each_task(F->sp, AGQ_ST_ACTIVE, lease_entry, &ls);
	}
	return 0;
}

static int
tmp_entry(const char *name, void *arg)
{
	struct fsck *F = arg;
	char *p = agq_spool_path(F->sp, "tmp/%s", name);
	struct stat st;
	if (lstat(p, &st) == 0) {
		int64_t t = (int64_t)st.st_mtime * 1000000;
		int64_t at = (int64_t)st.st_atime * 1000000;
		if (at > t)
			t = at;
		int64_t age = agq_now_us() - t;
		if (age >= F->o->tmp_age_us) {
			char *why = agq_xasprintf("stale tmp/ file: untouched "
			    "for %.1f h (maildir rule: 36 h)", age / 3.6e9);
			char *q = agq_xasprintf("tmp-%s", name);
			int fixed = quarantine(F, p, q, NULL, why);
			report(F, &F->c->tmp, fixed, "stale tmp", "tmp/%s: "
			    "untouched for %.1f h", name, age / 3.6e9);
			free(q);
			free(why);
		}
	}
	free(p);
	return 0;
}

/* Every file of tmp/ to tmp_entry: the dot names too (a claim of an
 * agent's name, .claim-NAME.UNIQUE, or a replaced agent file,
 * .agent-NAME.UNIQUE, left by a kill between its write and its link or
 * unlink: agent.c), but for an agent's spare start record,
 * .spare-NAME, which waits for its next start (runner.c). */
static void
check_tmp(struct fsck *F)
{
	char *p = agq_spool_path(F->sp, "tmp");
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strncmp(de->d_name, ".spare-", 7))
			tmp_entry(de->d_name, F);
	if (d)
		closedir(d);
	else if (errno != ENOENT)
		agq_syserr("cannot read directory", p);
	free(p);
}

/* The chain of the journals set aside by agq-journal --rotate, each in
 * itself and linked to the one before, up to the current journal's link
 * to the newest of them (its own lines: check_journal). */
static void
check_rotated(struct fsck *F, char **names, size_t n)
{
	struct agq_jverify prev, r;
	char *prevpath = NULL;
	int prevbroken = 0;
	for (size_t i = 0; i < n; i++) {
		char *path = agq_spool_path(F->sp, "%s", names[i]);
		char why[1024] = "";
		long bad = 0;
		if (agq_journal_verify(path, &r) < 0) {
			agq_syserr("cannot read", path);
			free(path);
			break;
		}
		if (r.why[0] && strcmp(names[i], "journal")) {
			bad = r.bad_line;
			snprintf(why, sizeof why, "%s", r.why);
		} else if (!prevbroken) {  /* the current one's own lines:
		                             * check_journal */
			bad = agq_journal_link_check(names, n, i, &r,
			    i ? &prev : NULL, prevpath, why, sizeof why);
		}
		/* past a break, the last hash is not the file's: no link */
		prevbroken = r.why[0] != '\0';
		F->broken |= prevbroken || why[0];
		if (why[0])
			report(F, &F->c->journal, 0, "journal", "%s:%ld: chain "
			    "broken: %s (not repairable: see agq-journal(5))",
			    names[i], bad, why);
		free(prevpath);
		prevpath = path;
		prev = r;
	}
	free(prevpath);
}

/* events/new/ of a remote spool (agq-journal(5), "One writer on a remote
 * spool"): files agq-sched has not appended.  With a scheduler running
 * they are on their way; without one they are reported, and with --fix
 * (agq-fsck holds the scheduler's lock then) appended, this program the
 * one writer until the end (agq_journal_writer(0) then).  Returns 1 when
 * it became the writer, else 0. */
static int
check_events(struct fsck *F)
{
	long n = agq_journal_events_pending(F->sp);
	if (n <= 0)
		return 0;
	int fixed = 0;
	long done;
	if (F->o->fix) {
		agq_journal_writer(1);
		fixed = agq_journal_events_append(F->sp, &done) == 0 ? 1 : -1;
		if (fixed < 0)
			agq_spool_syserr(F->sp, "cannot append the events of",
			    "events/new");
	} else {
		int lock = agq_spool_flock(F->sp, "sched", 0);
		if (lock < 0)
			return 0;       /* agq-sched runs: it appends them */
		close(lock);
	}
	report(F, &F->c->journal, fixed, "journal", "events/new/: %ld file(s) "
	    "of events not appended to the journal, and no agq-sched running "
	    "to append them", n);
	return F->o->fix;
}

static void
check_journal(struct fsck *F)
{
	char **names = NULL;
	size_t n = 0;
	if (agq_journal_files(F->sp, &names, &n) == 0 && n > 0)
		check_rotated(F, names, n);
	if (names)
		agq_journal_files_free(names, n);
	char *p = agq_spool_path(F->sp, "journal");
	struct agq_jverify r;
	int rc = agq_journal_verify(p, &r);
	if (rc < 0) {
		if (errno != ENOENT)
			agq_syserr("cannot read", p);
		free(p);
		return;
	}
	if (rc == 1) {
		F->broken = 1;
		report(F, &F->c->journal, 0, "journal", "journal:%ld: chain "
		    "broken: %s (not repairable: see agq-journal(5))",
		    r.bad_line, r.why);
	}
	char why[512];
	if (rc == 0 && agq_journal_anchor_check(F->sp, NULL, &r, why,
	    sizeof why)) {
		/* lines lost from the end: --fix journals a cut event saying
		 * so, and the anchor moves on */
		int fixed = 0;
		if (F->o->fix) {
			fixed = agq_journal_record_cut(F->sp) == 0 ? 1 : -1;
			if (fixed < 0)
				agq_spool_syserr(F->sp, "cannot append to the "
				    "journal", "journal");
		}
		F->broken = fixed <= 0;
		report(F, &F->c->journal, fixed, "journal", "journal:%ld: chain "
		    "broken: %s%s", r.lines, why, fixed > 0 ? ": a cut event "
		    "records it" : "");
	}
	if (r.torn) {
		int fixed = 0;
		if (F->o->fix) {
			fixed = -1;
			int lk = agq_spool_flock(F->sp, "journal", 1);
			int fd = lk < 0 ? -1 : open(p, O_RDWR | O_NOFOLLOW |
			    O_CLOEXEC);
			struct agq_jtail t;
			if (fd >= 0 && agq_journal_tail(fd, &t) == 0 &&
			    agq_journal_cut_torn(F->sp, fd, &t, p) == 0)
				fixed = 1;
			else
				agq_syserr("cannot cut the torn tail of", p);
			if (fd >= 0)
				close(fd);
			if (lk >= 0)
				close(lk);
		}
		report(F, &F->c->journal, fixed, "journal", "journal:%ld: torn "
		    "last line (%zu bytes at offset %lld)%s", r.lines + 1,
		    r.torn_len, (long long)r.torn_off, fixed > 0 ? ": cut "
		    "off, kept in corrupt/journal-torn.*" : "");
	}
	free(p);
}

/* A task whose state has no event (agq_jrecon): reported as a journal
 * problem, unless it is a duplicate's (reported as one, and its event
 * made with the duplicate's fix) or not a task (quarantined). */
static void
missing_event(const struct agq_jmiss *m, int fixed, void *arg)
{
	struct fsck *F = arg;
	if (json_object_get(F->dups, m->id) || !json_object_get(F->seen,
	    m->id))
		return;
	if (fixed < 0)
		agq_spool_syserr(F->sp, "cannot append to the journal",
		    "journal");
	report(F, &F->c->journal, fixed, "journal", "%s: in %s/, but its "
	    "last state event in the journal %s%s: the event of that move is "
	    "missing (a crash between the move and its event)%s%s%s", m->id,
	    agq_state_name(m->state), m->last >= 0 ? "says " : "is none",
	    m->last >= 0 ? agq_state_name(m->last) : "", fixed > 0 ?
	    ": a reconstructed " : "", fixed > 0 ? m->ev : "", fixed > 0 ?
	    " event appended" : "");
}

int
agq_fsck(struct agq_spool *sp, const struct agq_fsck_opts *o,
         struct agq_fsck_counts *c)
{
	memset(c, 0, sizeof *c);
	struct fsck F = { sp, o, c, json_object(), json_object(), 0 };
	/* the journal first: repairs below append to it */
	check_journal(&F);
	int writer = check_events(&F);
	check_dirs(&F);
	check_top_files(&F);
	scan_states(&F);
	check_duplicates(&F);
	check_claims(&F);
	check_edges(&F);
	check_plans(&F);
	check_missions(&F);
	char *d = agq_spool_path(sp, "active");
	agq_dir_each(d, agent_entry, &F);
	free(d);
	check_tmp(&F);
	/* last: the repairs above journal their own moves; not on a broken
	 * chain (its lost lines are not to be made up) */
	if (!F.broken && agq_jrecon(sp, 0, o->fix, missing_event, &F) < 0)
		agq_spool_syserr(sp, "cannot compare the tasks with", "journal");
	if (writer)
		agq_journal_writer(0);
	json_decref(F.seen);
	json_decref(F.dups);
	return c->problems ? 1 : 0;
}
