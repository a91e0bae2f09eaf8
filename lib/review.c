/* review.c - a coder task's pull request under review (review.h). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "lifecycle.h"
#include "journal.h"
#include "lease.h"
#include "review.h"

/* The first comment quoted in a dead task's reason, at most (bytes). */
#define FIRST_COMMENT 300
/* A comment quoted in review_feedback, at most (bytes). */
#define COMMENT_MAX (16u << 10)

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* O's KEY set to S when S is not NULL and is UTF-8 text (a user name
 * may not be: then none). */
static void
set_text(json_t *o, const char *key, const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	if (v)
		json_object_set_new(o, key, v);
}

char *
agq_review_task_id(char *buf, const char *id, long round, int k)
{
	char tail[48];
	snprintf(tail, sizeof tail, "-r%ld-%d", round, k);
	snprintf(buf, 65, "%.*s%s", (int)(64 - strlen(tail)), id, tail);
	return buf;
}

char *
agq_merge_task_id(char *buf, const char *id, int n)
{
	char tail[24];
	snprintf(tail, sizeof tail, "-m%d", n);
	snprintf(buf, 65, "%.*s%s", (int)(64 - strlen(tail)), id, tail);
	return buf;
}

void
agq_review_conf(const json_t *t, struct agq_review_conf *c)
{
	const json_t *rv = json_object_get(t, "review");
	c->required = rv ? (int)agq_task_int(rv, "required", 1) : 0;
	c->max_rounds = rv ? (int)agq_task_int(rv, "max_rounds", 2) : 2;
	c->cap = jstr(rv, "cap") ? jstr(rv, "cap") : "review";
	c->agents = rv && (json_object_get(rv, "cmd") ||
	    json_object_get(rv, "prompt") || json_object_get(rv, "backend"));
	if (c->required > AGQ_REVIEW_MAX)
		c->required = AGQ_REVIEW_MAX;
}

/* ---- people's verdicts -------------------------------------------------- */

int
agq_review_verdict_write(const struct agq_spool *sp, const json_t *t,
                         const char *verdict, const char *text, uid_t uid,
                         const char *user, int64_t now_us, json_t **out)
{
	const char *id = agq_task_id(t), *pr = jstr(t, "pr"),
	    *head = jstr(t, "head");
	if (out)
		*out = NULL;
	if (!id || !pr || !head) {
		errno = EINVAL;
		return -1;
	}
	long round = (long)agq_task_int(t, "round", 1);
	char ts[32];
	json_t *by = json_pack("{s:I}", "uid", (json_int_t)uid);
	set_text(by, "user", user);
	json_t *comments = json_array();
	if (text && *text)
		json_array_append_new(comments, json_string(text));
	json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:s}",
	    "task", id, "pr", pr, "round", (json_int_t)round, "head", head,
	    "verdict", verdict, "comments", comments, "by", by, "at",
	    agq_fmt_time(now_us, ts));
	char *dir = agq_spool_path(sp, "reviews/%s", id);
	char *dst = agq_xasprintf("%s/%ld.user-%lu-%lld-%ld.json", dir, round,
	    (unsigned long)uid, (long long)now_us, (long)getpid());
	int r = agq_mkdirs(dir, 0700);
	if (r == 0)
		r = agq_write_json(sp->tmp, dst, v, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER, 1, 1);
	int e = errno;
	free(dst);
	free(dir);
	if (r == 0 && out)
		*out = v;
	else
		json_decref(v);
	errno = e;
	return r;
}

static int
by_at(const void *a, const void *b)
{
	const char *x = jstr(*(json_t *const *)a, "at");
	const char *y = jstr(*(json_t *const *)b, "at");
	return strcmp(x ? x : "", y ? y : "");
}

json_t *
agq_review_verdicts_read(const struct agq_spool *sp, const char *id,
                         long round, const char *head)
{
	char *dir = agq_spool_path(sp, "reviews/%s", id);
	DIR *d = opendir(dir);
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%ld.user-", round);
	json_t **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, prefix, strlen(prefix)) || l < 6 ||
		    strcmp(de->d_name + l - 5, ".json"))
			continue;
		char *p = agq_xasprintf("%s/%s", dir, de->d_name);
		json_t *o = agq_json_read_object(p, 1u << 20);
		free(p);
		if (!o || agq_task_int(o, "round", -1) != round || !jstr(o,
		    "verdict") || !jstr(o, "head") || (head && strcmp(jstr(o,
		    "head"), head))) {
			json_decref(o);
			continue;
		}
		v = agq_grow(v, &cap, n, sizeof *v, 8);
		v[n++] = o;
	}
	if (d)
		closedir(d);
	free(dir);
	return agq_json_array_sorted(v, n, by_at);
}

/* ---- the decision ------------------------------------------------------- */

/* One reviewer's last word in the round: who (for people, "user USER"
 * or "uid N"), its verdict and comments (borrowed). */
struct word {
	char who[160];
	json_int_t uid;         /* a person's, else -1 */
	int changes;            /* request_changes */
	const json_t *comments;
};

/* The round's words: each review task's, then each person's last (by
 * "at") one.  Fills W (room for MAX) and returns how many (people past
 * MAX are not counted). */
static size_t
words(const struct agq_review_facts *f, int required, struct word *w,
      size_t max)
{
	size_t n = 0;
	const char *id = agq_task_id(f->task);
	long round = (long)agq_task_int(f->task, "round", 1);
	for (int k = 0; k < required; k++) {
		const json_t *v = f->rverdict[k];
		const char *vd = jstr(v, "verdict");
		if (f->rstate[k] != AGQ_ST_DONE || !vd)
			continue;
		char rid[65];
		snprintf(w[n].who, sizeof w[n].who, "review task %s",
		    agq_review_task_id(rid, id, round, k + 1));
		w[n].uid = -1;
		w[n].changes = !strcmp(vd, "request_changes");
		w[n].comments = json_object_get(v, "comments");
		n++;
	}
	size_t i;
	json_t *p;
	json_array_foreach(f->people, i, p) {
		json_t *by = json_object_get(p, "by");
		json_int_t uid = json_is_integer(json_object_get(by, "uid")) ?
		    json_integer_value(json_object_get(by, "uid")) : -2;
		size_t j;
		for (j = 0; j < n; j++)
			if (w[j].uid == uid)
				break;  /* a later word of the same person */
		if (j == n && n == max)
			break;
		if (j == n) {
			if (jstr(by, "user"))
				snprintf(w[j].who, sizeof w[j].who, "%s",
				    jstr(by, "user"));
			else
				snprintf(w[j].who, sizeof w[j].who, "uid %lld",
				    (long long)uid);
			w[j].uid = uid;
			n++;
		}
		w[j].changes = !strcmp(jstr(p, "verdict"), "request_changes");
		w[j].comments = json_object_get(p, "comments");
	}
	return n;
}

/* The feedback of the round's words W (N) that asked for changes, each
 * comment prefixed by who said it, into D (feedback, ncomments), and the
 * first comment into FIRST (SIZE bytes). */
static void
feedback(struct agq_review_dec *d, const struct word *w, size_t n,
         char *first, size_t size)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(70, "out of memory");
	fprintf(f, "Review round %ld asked for changes:", d->round);
	first[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!w[i].changes)
			continue;
		size_t j;
		json_t *c;
		int any = 0;
		json_array_foreach(w[i].comments, j, c) {
			const char *t = json_string_value(c);
			if (!t || !*t)
				continue;
			fprintf(f, "\n- %s: %.*s", w[i].who, (int)(strlen(t) >
			    COMMENT_MAX ? COMMENT_MAX : strlen(t)), t);
			if (!first[0]) {
				size_t l = strlen(t);
				snprintf(first, size, "%.*s%s", (int)(l >
				    FIRST_COMMENT ? FIRST_COMMENT : l), t, l >
				    FIRST_COMMENT ? "\u2026" : "");
			}
			d->ncomments++;
			any = 1;
		}
		if (!any)
			fprintf(f, "\n- %s: changes requested (no comment)",
			    w[i].who);
	}
	if (fclose(f) != 0 || !s)
		agq_die(70, "out of memory");
	d->feedback = s;
	/* a comment on one line in the reason */
	for (char *c = first; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
}

/* Changes requested in the round: CHANGES while rounds are left, else
 * DEAD (the PR left open). */
static void
changes(const struct agq_review_facts *f, int max_rounds,
        const struct word *w, size_t n, struct agq_review_dec *d)
{
	char first[FIRST_COMMENT + 8];
	feedback(d, w, n, first, sizeof first);
	/* the rounds a moved head started re-review an approved change:
	 * they are not rounds of changes (head_rounds, agq-task(5)) */
	long counted = d->round - (long)agq_task_int(f->task, "head_rounds", 0);
	if (counted < 1)
		counted = 1;
	if (counted < max_rounds) {
		d->act = AGQ_RV_CHANGES;
		d->rule = AGQ_LC_REVIEW_CHANGES;
		snprintf(d->reason, sizeof d->reason, "changes requested in "
		    "review round %ld (%d comment%s): round %ld next", d->round,
		    d->ncomments, d->ncomments == 1 ? "" : "s", d->round + 1);
		return;
	}
	d->act = AGQ_RV_DEAD;
	d->rule = AGQ_LC_REVIEW_DEAD;
	snprintf(d->reason, sizeof d->reason, "review: changes requested "
	    "after %ld round%s: %s", counted, counted == 1 ? "" : "s",
	    first[0] ? first : "(no comment)");
}

/* The last round a moved head starts a new one from: review task ids
 * hold rounds up to 20 (AGQ_REVIEW_ID_MAX). */
#define HEAD_ROUNDS 20

/* A merge task's reason WHY "head moved: BRANCH is at SHA, ..."
 * (merge.c): SHA (40 hex digits) into HEAD, 1; else 0 (the branch
 * deleted, or no sha known). */
static int
moved_to(const char *why, char head[41])
{
	const char *at = strncmp(why, "head moved", 10) ? NULL :
	    strstr(why, " is at ");
	if (!at || strspn(at + 7, "0123456789abcdef") != 40)
		return 0;
	snprintf(head, 41, "%.40s", at + 7);
	return 1;
}

/* The merge task of the round (F->merge_n): D decided. */
static void
merged(const struct agq_review_facts *f, struct agq_review_dec *d)
{
	const char *id = agq_task_id(f->task);
	const char *why = f->merge_reason ? f->merge_reason : "failed";
	char mid[65];
	agq_merge_task_id(mid, id, f->merge_n);
	if (f->merge_state == AGQ_ST_DONE) {
		d->act = AGQ_RV_DONE;
		d->rule = AGQ_LC_REVIEW_DONE;
		snprintf(d->reason, sizeof d->reason, "merged by %s", mid);
	} else if (f->merge_state == AGQ_ST_DEAD && f->merge_n == 1 &&
	    (!strncmp(why, "conflict", 8) || !strncmp(why,
	    "verify failed on the merge", 26))) {
		d->act = AGQ_RV_CONFLICT;
		d->rule = AGQ_LC_REVIEW_CONFLICT;
		const char *base = jstr(json_object_get(f->task, "git"), "base");
		d->feedback = agq_xasprintf("The merge of your branch into %s "
		    "failed (%s: %s).  Your worktree has %s merged into your "
		    "branch, with conflict markers where the two disagree: "
		    "resolve them, keep the intent of both sides, and make the "
		    "verification pass.", base ? base : "main", mid, why,
		    base ? base : "main");
		d->ncomments = 1;
		snprintf(d->reason, sizeof d->reason, "the merge failed (%s: "
		    "%.300s): one iteration to update the branch from its base, "
		    "round %ld next", mid, why, d->round + 1);
	} else if (f->merge_state == AGQ_ST_DEAD && d->round < HEAD_ROUNDS &&
	    moved_to(why, d->head)) {
		d->act = AGQ_RV_HEAD;
		d->rule = AGQ_LC_REVIEW_HEAD;
		snprintf(d->reason, sizeof d->reason, "head moved to %s: "
		    "reviewed again", d->head);
	} else if (f->merge_state == AGQ_ST_DEAD) {
		d->act = AGQ_RV_DEAD;
		d->rule = AGQ_LC_REVIEW_DEAD;
		snprintf(d->reason, sizeof d->reason, "merge task %s: %.600s",
		    mid, why);
	}
}

/* F's PR merged or closed on the forge (F->pr_state): D decided, DONE by
 * rule RDONE or DEAD by RDEAD. */
static void
pr_gone(const struct agq_review_facts *f, struct agq_review_dec *d,
        int rdone, int rdead)
{
	int done = f->pr_state == AGQ_ST_DONE;
	d->act = done ? AGQ_RV_DONE : AGQ_RV_DEAD;
	d->rule = done ? rdone : rdead;
	const char *by = jstr(f->pr_closed, "by"), *text = jstr(f->pr_closed,
	    "text");
	if (!done && by && json_object_get(f->pr_closed, "uid"))
		/* agq-pr's own words: it ends the task too, and which of the
		 * two gets there first makes no difference */
		snprintf(d->reason, sizeof d->reason, "pull request closed by "
		    "%s%s%.300s", by, text ? ": " : "", text ? text : "");
	else
		snprintf(d->reason, sizeof d->reason, "pull request %s %s",
		    jstr(f->task, "pr"), done ? "merged" : by ?
		    "closed unmerged on the forge" : "closed (agq-pr closed)");
}

void
agq_review_decide_approval(const struct agq_review_facts *f,
                           struct agq_review_dec *d)
{
	memset(d, 0, sizeof *d);
	d->act = AGQ_RV_WAIT;
	d->rule = -1;
	d->round = (long)agq_task_int(f->task, "round", 1);
	if (f->pr_state)
		pr_gone(f, d, AGQ_LC_APPROVAL_DONE, AGQ_LC_APPROVAL_DEAD);
}

void
agq_review_decide(const struct agq_review_facts *f, struct agq_review_dec *d)
{
	memset(d, 0, sizeof *d);
	d->act = AGQ_RV_WAIT;
	d->rule = -1;
	struct agq_review_conf c;
	agq_review_conf(f->task, &c);
	d->required = c.required;
	d->round = (long)agq_task_int(f->task, "round", 1);
	const char *id = agq_task_id(f->task);
	if (f->merge_n > 0 && f->merge_round == d->round) {
		merged(f, d);
		return;
	}
	/* merged (agq-pr poll saw it on the forge, or agq-pr merged), or
	 * closed on the forge */
	if (f->pr_state) {
		pr_gone(f, d, AGQ_LC_REVIEW_DONE, AGQ_LC_REVIEW_DEAD);
		return;
	}
	if (c.agents) {
		for (int k = 0; k < c.required; k++)
			if (f->rstate[k] == AGQ_ST_NONE) {
				d->missing[k] = 1;
				d->act = AGQ_RV_SUBMIT;
			}
		if (d->act == AGQ_RV_SUBMIT) {
			snprintf(d->reason, sizeof d->reason, "review round %ld: "
			    "review tasks queued", d->round);
			return;
		}
	}
	struct word w[AGQ_REVIEW_MAX + 64];
	size_t n = words(f, c.agents ? c.required : 0, w, sizeof w / sizeof *w);
	/* a person's request for changes counts at once */
	for (size_t i = 0; i < n; i++)
		if (w[i].uid != -1 && w[i].changes) {
			changes(f, c.max_rounds, w, n, d);
			return;
		}
	int ended = 1;
	for (int k = 0; c.agents && k < c.required; k++) {
		if (f->rstate[k] == AGQ_ST_DEAD) {
			char rid[65];
			d->act = AGQ_RV_DEAD;
			d->rule = AGQ_LC_REVIEW_DEAD;
			snprintf(d->reason, sizeof d->reason, "review task %s: "
			    "%.600s", agq_review_task_id(rid, id, d->round, k + 1),
			    f->rreason[k] ? f->rreason[k] : "dead");
			return;
		}
		if (f->rstate[k] != AGQ_ST_DONE)
			ended = 0;
	}
	for (size_t i = 0; ended && i < n; i++)
		if (w[i].changes) {
			changes(f, c.max_rounds, w, n, d);
			return;
		}
	for (size_t i = 0; i < n; i++)
		d->approvals += !w[i].changes;
	if (d->approvals < c.required)
		return;
	const json_t *approved = json_object_get(f->task, "approved");
	int merge_ok = 0;
	size_t i;
	json_t *e;
	json_array_foreach(approved, i, e)
		merge_ok |= json_is_string(e) && !strcmp(json_string_value(e),
		    "merge");
	const char *appr = jstr(f->task, "approval");
	if (appr && !strcmp(appr, "before_merge") && !merge_ok) {
		d->act = AGQ_RV_APPROVAL;
		d->rule = AGQ_LC_REVIEW_APPROVAL;
		snprintf(d->reason, sizeof d->reason, "approved (%d of %d): "
		    "waiting for approval to merge (agq pr approve %s)",
		    d->approvals, c.required, id);
	} else if (jstr(f->task, "merge") && !strcmp(jstr(f->task, "merge"),
	    "on-approval")) {
		d->act = AGQ_RV_MERGE;
		d->merge_n = f->merge_n + 1;
		char mid[65];
		snprintf(d->reason, sizeof d->reason, "approved (%d of %d): "
		    "merge task %s queued", d->approvals, c.required,
		    agq_merge_task_id(mid, id, d->merge_n));
	} else {
		d->act = AGQ_RV_DONE;
		d->rule = AGQ_LC_REVIEW_DONE;
		snprintf(d->reason, sizeof d->reason, "approved (%d of %d); "
		    "the pull request %s stays open", d->approvals, c.required,
		    jstr(f->task, "pr") ? jstr(f->task, "pr") : "");
	}
}

void
agq_review_dec_free(struct agq_review_dec *d)
{
	free(d->feedback);
	d->feedback = NULL;
}

/* ---- the actions -------------------------------------------------------- */

/* The state of task ID (AGQ_ST_NONE: none) and, when TASK is not NULL,
 * its content (a new reference, or NULL). */
static int
task_state(const struct agq_spool *sp, const char *id, json_t **task)
{
	struct agq_loc loc;
	if (task)
		*task = NULL;
	if (agq_task_find(sp, id, &loc) < 0)
		return AGQ_ST_NONE;
	if (task)       /* its content as of that directory: a verdict or a
	                 * merge's reason is written just after the move */
		*task = agq_task_read_settled(loc.path, AGQ_SETTLE_MS);
	return loc.state;
}

/* Where PR record PR ("pr-" and 16 hex digits, agq-pr(1)) is: 0 in
 * prs/open/ (or none, or a malformed id), AGQ_ST_DONE in prs/merged/,
 * AGQ_ST_DEAD in prs/closed/, whoever closed it (agq-pr poll, a
 * person's agq-pr close or closed): a task arriving in review/ after its
 * PR was closed ends at once.  F's pr_state and pr_closed set, the
 * record kept in KEEP (an array). */
static void
pr_state(const struct agq_spool *sp, const char *pr,
         struct agq_review_facts *f, json_t *keep)
{
	f->pr_state = 0;
	f->pr_closed = NULL;
	if (!pr || strlen(pr) != 19 || strncmp(pr, "pr-", 3) ||
	    strspn(pr + 3, "0123456789abcdef") != 16)
		return;
	static const struct { const char *dir; int st; } where[] = {
		{ "merged", AGQ_ST_DONE }, { "closed", AGQ_ST_DEAD } };
	for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
		char *path = agq_spool_path(sp, "prs/%s/%s.json", where[i].dir,
		    pr);
		json_t *rec = agq_json_read_object(path, 1 << 20);
		free(path);
		if (rec) {
			f->pr_state = where[i].st;
			f->pr_closed = json_object_get(rec, "closed");
			json_array_append_new(keep, rec);
			return;
		}
	}
}

/* The facts of coder task T (locked) into F; the references they borrow
 * from are put in KEEP (a new array the caller frees). */
static void
gather(const struct agq_spool *sp, const json_t *t,
       struct agq_review_facts *f, json_t *keep)
{
	memset(f, 0, sizeof *f);
	f->task = t;
	const char *id = agq_task_id(t);
	long round = (long)agq_task_int(t, "round", 1);
	struct agq_review_conf c;
	agq_review_conf(t, &c);
	for (int k = 0; k < AGQ_REVIEW_MAX; k++) {
		f->rstate[k] = AGQ_ST_NONE;
		if (!c.agents || k >= c.required)
			continue;
		char rid[65];
		json_t *rt;
		f->rstate[k] = task_state(sp, agq_review_task_id(rid, id, round,
		    k + 1), &rt);
		if (!rt)
			continue;
		json_array_append_new(keep, rt);
		f->rverdict[k] = json_object_get(rt, "verdict");
		f->rreason[k] = jstr(rt, "reason");
		f->ragent[k] = jstr(agq_task_last_attempt(rt), "agent");
	}
	json_t *people = agq_review_verdicts_read(sp, id, round, jstr(t,
	    "head"));
	json_array_append_new(keep, people);
	f->people = people;
	pr_state(sp, jstr(t, "pr"), f, keep);
	for (int n = 1; n <= 20; n++) {
		char mid[65];
		json_t *mt;
		int st = task_state(sp, agq_merge_task_id(mid, id, n), &mt);
		if (st == AGQ_ST_NONE)
			break;
		f->merge_n = n;
		f->merge_state = st;
		f->merge_round = (long)agq_task_int(mt, "round", 0);
		f->merge_reason = jstr(mt, "reason");
		if (mt)
			json_array_append_new(keep, mt);
	}
}

struct announce { const struct agq_spool *sp; const char *parent; };

/* agq_deliver_announced's BEFORE: the `submit` event of a task agq-sched
 * queues for PARENT, before it can be seen. */
static int
announce(const json_t *t, int state, void *arg)
{
	const struct announce *a = arg;
	agq_journal_w(a->sp, "submit", agq_task_id(t), json_pack("{s:s, s:s, "
	    "s:s, s:s, s:s}", "state", agq_state_name(state), "lane",
	    agq_lane_name(agq_task_lane(t)), "source", "agq-sched", "kind",
	    jstr(t, "kind"), "parent", a->parent));
	return 0;
}

/* Deliver task N (stolen), made for coder task T: owned like T, queued
 * now.  1 queued, 0 it existed (a repeated step), -1 with errno. */
static int
deliver(const struct agq_spool *sp, const json_t *t, json_t *n)
{
	json_t *by = json_object_get(t, "submitted_by");
	if (by)
		json_object_set(n, "submitted_by", by);
	if (jstr(t, "priority"))
		json_object_set(n, "priority", json_object_get(t, "priority"));
	json_t *git = json_object_get(t, "git");
	json_t *g = json_pack("{s:O*, s:O*, s:O*}", "repo", json_object_get(git,
	    "repo"), "base", json_object_get(git, "base"), "branch",
	    json_object_get(json_object_get(agq_task_last_attempt(t), "git"),
	    "branch") ? json_object_get(json_object_get(
	    agq_task_last_attempt(t), "git"), "branch") : json_object_get(git,
	    "branch"));
	json_object_set_new(n, "git", g);
	char err[512];
	if (agq_task_validate(n, err, sizeof err) < 0) {
		agq_warn("%s: cannot queue %s: %s", agq_task_id(t),
		    agq_task_id(n), err);
		json_decref(n);
		errno = EINVAL;
		return -1;
	}
	agq_task_normalize(n, agq_now_us());
	struct announce a = { sp, agq_task_id(t) };
	int where;
	int r = agq_deliver_announced(sp, n, AGQ_DELIVER_SYNC, &where,
	    announce, &a);
	json_decref(n);
	return r < 0 ? -1 : r == 0;
}

/* The title of a task made for T: PREFIX and T's title (else its id). */
static json_t *
title_for(const json_t *t, const char *prefix)
{
	const char *title = jstr(t, "title");
	return json_sprintf("%s%.200s", prefix, title ? title :
	    agq_task_id(t));
}

/* NAMES (a new array of distinct agent names) as an avoid_agent value:
 * NULL when empty, the one name, else the array; NAMES is consumed. */
static json_t *
avoid_value(json_t *names)
{
	json_t *v = json_array_size(names) == 0 ? NULL :
	    json_array_size(names) == 1 ? json_incref(json_array_get(names, 0)) :
	    json_incref(names);
	json_decref(names);
	return v;
}

/* NAME added to NAMES (an array) unless there, or NULL; at most 16. */
static void
add_name(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	if (!name || json_array_size(names) >= 16)
		return;
	json_array_foreach(names, i, v)
		if (!strcmp(json_string_value(v), name))
			return;
	json_array_append_new(names, json_string(name));
}

/* Every agent that ran an attempt of coder T, this round's and earlier
 * rounds' (previous_attempts): who wrote the change, so none of them
 * reviews it (avoid_agent).  A new reference, or NULL: none. */
static json_t *
coder_agents(const json_t *t)
{
	json_t *names = json_array();
	static const char *const keys[] = { "previous_attempts", "attempts" };
	for (int k = 0; k < 2; k++) {
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(t, keys[k]), i, a)
			add_name(names, jstr(a, "agent"));
	}
	return avoid_value(names);
}

/* Queue the review tasks D->missing of coder T.  Returns how many were
 * queued; `review_start` journaled when any was. */
static int
submit_reviews(const struct agq_spool *sp, const json_t *t,
               const struct agq_review_dec *d)
{
	const char *id = agq_task_id(t);
	const json_t *rv = json_object_get(t, "review");
	struct agq_review_conf c;
	agq_review_conf(t, &c);
	json_t *coders = coder_agents(t);
	json_t *ids = json_array();
	for (int k = 0; k < c.required; k++) {
		if (!d->missing[k])
			continue;
		char rid[65], pre[48];
		agq_review_task_id(rid, id, d->round, k + 1);
		snprintf(pre, sizeof pre, "review r%ld of ", d->round);
		json_t *n = json_pack("{s:s, s:s, s:s, s:I, s:s*, s:s*, s:[s], "
		    "s:o}", "id", rid, "kind", "review", "parent", id, "round",
		    (json_int_t)d->round, "pr", jstr(t, "pr"), "head", jstr(t,
		    "head"), "requires", c.cap, "title", title_for(t, pre));
		if (coders)
			json_object_set(n, "avoid_agent", coders);
		static const char *const keys[] = { "cmd", "prompt", "backend",
		    "model", "timeout", NULL };
		for (int i = 0; keys[i]; i++)
			if (json_object_get(rv, keys[i]))
				json_object_set(n, keys[i], json_object_get(rv,
				    keys[i]));
		if (!json_object_get(n, "cmd") && !json_object_get(n, "prompt"))
			json_object_set_new(n, "prompt", json_string("Review "
			    "this pull request against the task's success "
			    "criteria and verification report."));
		int r = deliver(sp, t, n);
		if (r > 0)
			json_array_append_new(ids, json_string(rid));
	}
	int queued = (int)json_array_size(ids);
	if (queued)
		agq_journal_w(sp, "review_start", id, json_pack("{s:s?, s:I, "
		    "s:s?, s:o, s:I}", "pr", jstr(t, "pr"), "round",
		    (json_int_t)d->round, "head", jstr(t, "head"), "tasks", ids,
		    "required", (json_int_t)c.required));
	else
		json_decref(ids);
	json_decref(coders);
	return queued;
}

/* Queue merge task D->merge_n of coder T: 1 queued, 0 it was, -1. */
static int
submit_merge(const struct agq_spool *sp, const json_t *t,
             const struct agq_review_dec *d)
{
	const char *id = agq_task_id(t);
	char mid[65];
	agq_merge_task_id(mid, id, d->merge_n);
	json_t *n = json_pack("{s:s, s:s, s:s, s:I, s:s*, s:s*, s:s, s:o}",
	    "id", mid, "kind", "merge", "parent", id, "round",
	    (json_int_t)d->round, "pr", jstr(t, "pr"), "head", jstr(t, "head"),
	    "merge_method", jstr(t, "merge_method") ? jstr(t, "merge_method") :
	    "merge", "title", title_for(t, "merge of "));
	/* the coder's checks, and its retry policy: a push refused because
	 * the base moved is retried as the user asked (agq-task(5)) */
	static const char *const keys[] = { "verify", "max_attempts",
	    "backoff", NULL };
	for (int i = 0; keys[i]; i++)
		if (json_object_get(t, keys[i]))
			json_object_set(n, keys[i], json_object_get(t, keys[i]));
	return deliver(sp, t, n);
}

/* Coder task T's next round after ROUND, in its event EV: round and
 * from_round; a person's approval was of the head they saw, so the
 * next round's push or merge is approved again: "approved" removed
 * from T, listed in EV's approvals_cleared. */
static void
next_round(json_t *t, json_t *ev, long round)
{
	if (json_object_get(t, "approved"))
		json_object_set(ev, "approvals_cleared",
		    json_object_get(t, "approved"));
	json_object_del(t, "approved");
	json_object_set_new(ev, "round", json_integer(round + 1));
	json_object_set_new(ev, "from_round", json_integer(round));
}

/* Carry decision D over facts F out on coder task L (locked, in
 * review/): its fields changed, the move recorded (agq_lc_record).  0 or
 * -1 with errno. */
static int
move(const struct agq_spool *sp, struct agq_locked *l,
     const struct agq_review_dec *d, const struct agq_review_facts *f)
{
	json_t *t = l->task;
	static const int to[] = {
		[AGQ_RV_CHANGES] = AGQ_ST_QUEUE, [AGQ_RV_CONFLICT] = AGQ_ST_QUEUE,
		[AGQ_RV_DEAD] = AGQ_ST_DEAD, [AGQ_RV_APPROVAL] = AGQ_ST_APPROVAL,
		[AGQ_RV_DONE] = AGQ_ST_DONE, [AGQ_RV_HEAD] = AGQ_ST_REVIEW,
	};
	struct agq_lc lc;
	agq_lc_init(&lc, d->rule, to[d->act], agq_task_lane(t));
	snprintf(lc.reason, sizeof lc.reason, "%s", d->reason);
	json_t *ev = json_pack("{s:s?, s:I, s:s?, s:s, s:s, s:s}", "pr",
	    jstr(t, "pr"), "round", (json_int_t)d->round, "head", jstr(t,
	    "head"), "reason", lc.reason, "by", "agq-sched", "to",
	    agq_state_name(lc.to));
	if (d->act == AGQ_RV_CHANGES || d->act == AGQ_RV_CONFLICT) {
		/* a new round: not a failed attempt, and a new lease */
		json_object_set_new(t, "review_feedback",
		    json_string(d->feedback));
		json_object_set_new(t, "round", json_integer(d->round + 1));
		if (d->act == AGQ_RV_CONFLICT)
			json_object_set_new(t, "update_from_base", json_true());
		lc.reset_attempts = 1;
		lc.gen = agq_task_int(t, "generation", 0) + 1;
		/* the author writes the next round, not its reviewers, who
		 * then could not review it (avoid_agent on review tasks) */
		json_t *rv = json_array();
		for (int k = 0; k < AGQ_REVIEW_MAX; k++)
			add_name(rv, f->ragent[k]);
		json_t *av = avoid_value(rv);
		if (av)
			json_object_set_new(t, "avoid_agent", av);
		else
			json_object_del(t, "avoid_agent");
		next_round(t, ev, d->round);
		json_object_set_new(ev, "comments", json_integer(
		    d->ncomments));
		if (d->act == AGQ_RV_CONFLICT)
			json_object_set_new(ev, "update_from_base", json_true());
	} else if (d->act == AGQ_RV_HEAD) {
		/* the new commits reviewed as they are: no coder run, no
		 * attempt spent, the task stays in review/ */
		json_object_set_new(t, "head", json_string(d->head));
		json_object_set_new(t, "round", json_integer(d->round + 1));
		json_object_set_new(t, "head_rounds", json_integer(
		    agq_task_int(t, "head_rounds", 0) + 1));
		json_object_set_new(ev, "head", json_string(d->head));
		next_round(t, ev, d->round);
		lc.ev = ev;
		return agq_lc_record_here(sp, l, &lc);
	} else if (d->act == AGQ_RV_APPROVAL) {
		json_object_set_new(t, "approval_for", json_string("merge"));
		json_object_set_new(ev, "for", json_string("merge"));
	} else if (d->approvals > 0) {
		/* counted when approvals decided it (not after a merge task,
		 * or a PR merged or closed on the forge) */
		json_object_set_new(ev, "approvals", json_integer(d->approvals));
	}
	if (d->act == AGQ_RV_DONE || d->act == AGQ_RV_DEAD) {
		/* the coder's agent: agq-stats credits the end to it */
		const char *who = jstr(agq_task_last_attempt(t), "agent");
		if (who)
			json_object_set_new(ev, "agent", json_string(who));
	}
	lc.ev = ev;
	return agq_lc_record(sp, l, &lc);
}

/* Task ID locked into L when it is in STATE: 1; 0 when it is not (or
 * not at all: nothing locked), -1 with errno. */
static int
lock_in(const struct agq_spool *sp, const char *id, int state,
        struct agq_locked *l)
{
	struct agq_loc hint = { .state = state, .lane = -1 };
	agq_loc_path(sp, &hint, id);
	if (agq_task_lock(sp, id, &hint, l) < 0)
		return errno == ENOENT ? 0 : -1;
	if (l->loc.state == state)
		return 1;
	agq_task_unlock(l);
	return 0;
}

int
agq_review_step(const struct agq_spool *sp, const char *id, int *act)
{
	if (act)
		*act = AGQ_RV_WAIT;
	struct agq_locked l;
	int rc = lock_in(sp, id, AGQ_ST_REVIEW, &l);
	if (rc <= 0)
		return rc;
	rc = 0;
	json_t *keep = json_array();
	struct agq_review_facts f;
	gather(sp, l.task, &f, keep);
	struct agq_review_dec d;
	agq_review_decide(&f, &d);
	if (act)
		*act = d.act;
	switch (d.act) {
	case AGQ_RV_WAIT:
		break;
	case AGQ_RV_SUBMIT:
		rc = submit_reviews(sp, l.task, &d) < 0 ? -1 : 0;
		break;
	case AGQ_RV_MERGE:
		rc = submit_merge(sp, l.task, &d) < 0 ? -1 : 0;
		break;
	default:
		rc = move(sp, &l, &d, &f);
	}
	int e = errno;
	agq_review_dec_free(&d);
	json_decref(keep);
	agq_task_unlock(&l);
	errno = e;
	return rc;
}

/* Coder task ID if it is in approval/ and its PR was merged or closed
 * on the forge: ended (agq_review_decide_approval).  *ACT as
 * agq_review_step's.  0, or -1 with errno. */
static int
approval_step(const struct agq_spool *sp, const char *id, int *act)
{
	*act = AGQ_RV_WAIT;
	struct agq_locked l;
	int rc = lock_in(sp, id, AGQ_ST_APPROVAL, &l);
	if (rc <= 0)
		return rc;
	struct agq_review_facts f = { .task = l.task };
	json_t *keep = json_array();
	pr_state(sp, jstr(l.task, "pr"), &f, keep);
	struct agq_review_dec d;
	agq_review_decide_approval(&f, &d);
	*act = d.act;
	rc = d.act != AGQ_RV_WAIT ? move(sp, &l, &d, &f) : 0;
	agq_review_dec_free(&d);
	int e = errno;
	json_decref(keep);
	agq_task_unlock(&l);
	errno = e;
	return rc;
}

struct scan { const struct agq_spool *sp; void (*seen)(const char *, void *);
              void *arg; int acted; };

static int
scan_one(const struct agq_loc *loc, const char *id, void *arg)
{
	struct scan *S = arg;
	int act;
	if (loc->state == AGQ_ST_APPROVAL) {
		if (approval_step(S->sp, id, &act) < 0)
			agq_syserr("cannot end the task in approval/", id);
		else if (act != AGQ_RV_WAIT)
			S->acted++;
		return 0;
	}
	if (S->seen)
		S->seen(id, S->arg);
	if (agq_review_step(S->sp, id, &act) < 0)
		agq_syserr("cannot carry out the review decision", id);
	else if (act != AGQ_RV_WAIT)
		S->acted++;
	return 0;
}

int
agq_review_scan(const struct agq_spool *sp,
                void (*seen)(const char *id, void *arg), void *arg)
{
	struct scan S = { sp, seen, arg, 0 };
	if (agq_each_task(sp, AGQ_ST_REVIEW, scan_one, &S) < 0 ||
	    agq_each_task(sp, AGQ_ST_APPROVAL, scan_one, &S) < 0)
		return -1;
	return S.acted;
}

/* ---- people ------------------------------------------------------------- */

/* {pr, uid, user, text} and the rest of a person's event. */
static json_t *
person_ev(const json_t *t, uid_t uid, const char *user, const char *text)
{
	json_t *ev = json_pack("{s:s?, s:I}", "pr", jstr(t, "pr"), "uid",
	    (json_int_t)uid);
	set_text(ev, "user", user);
	set_text(ev, "text", text);
	return ev;
}

/* A person's verdict VERDICT on task L (in review/): the file and the
 * events.  0 or -1. */
static int
person_verdict(const struct agq_spool *sp, struct agq_locked *l,
               const char *verdict, const char *text, uid_t uid,
               const char *user, char *err, size_t size)
{
	json_t *v;
	if (agq_review_verdict_write(sp, l->task, verdict, text, uid, user,
	    agq_now_us(), &v) < 0) {
		agq_errf(err, size, "%s: cannot write the verdict in reviews/: "
		    "%s", l->id, strerror(errno));
		return -1;
	}
	struct agq_jbatch b = { NULL };
	json_t *ev = person_ev(l->task, uid, user, NULL);
	json_object_set(ev, "parent", json_object_get(v, "task"));
	json_object_set(ev, "round", json_object_get(v, "round"));
	json_object_set(ev, "head", json_object_get(v, "head"));
	json_object_set_new(ev, "verdict", json_string(verdict));
	json_object_set(ev, "comments", json_object_get(v, "comments"));
	agq_jbatch_add(&b, "review", l->id, ev);
	if (!strcmp(verdict, "approve")) {
		json_t *a = person_ev(l->task, uid, user, text);
		json_object_set_new(a, "for", json_string("review"));
		json_object_set(a, "round", json_object_get(v, "round"));
		agq_jbatch_add(&b, "approve", l->id, a);
	}
	agq_jbatch_w(sp, &b);
	agq_errf(err, size, "%s: %s recorded for round %lld of %s", l->id,
	    !strcmp(verdict, "approve") ? "approval" : "request for changes",
	    json_integer_value(json_object_get(v, "round")), jstr(l->task,
	    "pr") ? jstr(l->task, "pr") : "its pull request");
	json_decref(v);
	return 0;
}

/* agq_lc_record of LC on L, and what was done (or why not) in ERR. */
static int
record(const struct agq_spool *sp, struct agq_locked *l, struct agq_lc *lc,
       char *err, size_t size)
{
	if (agq_lc_record(sp, l, lc) < 0) {
		agq_errf(err, size, "%s: cannot move the task to %s/: %s", l->id,
		    agq_state_name(lc->to), strerror(errno));
		return -1;
	}
	agq_errf(err, size, "%s: %s", l->id, lc->reason);
	return 0;
}

int
agq_review_person(const struct agq_spool *sp, const char *id, int verb,
                  const char *text, uid_t uid, const char *user, char *err,
                  size_t size)
{
	struct agq_locked l;
	if (agq_task_lock(sp, id, NULL, &l) < 0) {
		agq_errf(err, size, "%s: no such task", id);
		return -1;
	}
	int st = l.loc.state, rc = 1;
	const char *who = user ? user : "?";
	char whobuf[32];
	if (!user) {
		snprintf(whobuf, sizeof whobuf, "uid %lu", (unsigned long)uid);
		who = whobuf;
	}
	char forbuf[16] = "";
	if (jstr(l.task, "approval_for"))
		snprintf(forbuf, sizeof forbuf, "%s", jstr(l.task,
		    "approval_for"));
	const char *afor = forbuf[0] ? forbuf : NULL;
	struct agq_lc lc;
	if (verb == AGQ_PR_APPROVE && st == AGQ_ST_APPROVAL && afor) {
		int push = !strcmp(afor, "push");
		json_t *ap = json_object_get(l.task, "approved");
		if (!json_is_array(ap)) {
			ap = json_array();
			json_object_set_new(l.task, "approved", ap);
		}
		json_array_append_new(ap, json_string(afor));
		json_object_del(l.task, "approval_for");
		agq_lc_init(&lc, push ? AGQ_LC_APPROVE_PUSH :
		    AGQ_LC_APPROVE_MERGE, push ? AGQ_ST_QUEUE : AGQ_ST_REVIEW,
		    agq_task_lane(l.task));
		snprintf(lc.reason, sizeof lc.reason, "%s approved by %s%s%.300s",
		    push ? "push" : "merge", who, text ? ": " : "",
		    text ? text : "");
		/* the attempt that stopped for approval is not a failed one */
		lc.reset_attempts = push;
		lc.ev = person_ev(l.task, uid, user, text);
		json_object_set_new(lc.ev, "for", json_string(afor));
		json_object_set_new(lc.ev, "to", json_string(agq_state_name(
		    lc.to)));
		rc = record(sp, &l, &lc, err, size);
	} else if ((verb == AGQ_PR_APPROVE || verb == AGQ_PR_REQUEST_CHANGES) &&
	    st == AGQ_ST_REVIEW) {
		rc = person_verdict(sp, &l, verb == AGQ_PR_APPROVE ? "approve" :
		    "request_changes", text, uid, user, err, size);
	} else if (verb == AGQ_PR_DENY && st == AGQ_ST_APPROVAL) {
		agq_lc_init(&lc, AGQ_LC_DENY, AGQ_ST_DEAD, -1);
		snprintf(lc.reason, sizeof lc.reason, "denied by %s%s%.300s",
		    who, text ? ": " : "", text ? text : "");
		lc.ev = person_ev(l.task, uid, user, text);
		json_object_set(lc.ev, "for", json_object_get(l.task,
		    "approval_for"));
		json_object_set_new(lc.ev, "to", json_string("dead"));
		rc = record(sp, &l, &lc, err, size);
	} else if (verb == AGQ_PR_CLOSE && (st == AGQ_ST_REVIEW ||
	    st == AGQ_ST_APPROVAL)) {
		agq_lc_init(&lc, st == AGQ_ST_REVIEW ? AGQ_LC_CLOSE_REVIEW :
		    AGQ_LC_CLOSE_APPROVAL, AGQ_ST_DEAD, -1);
		snprintf(lc.reason, sizeof lc.reason, "pull request closed by "
		    "%s%s%.300s", who, text ? ": " : "", text ? text : "");
		lc.ev = person_ev(l.task, uid, user, text);
		json_object_set_new(lc.ev, "to", json_string("dead"));
		rc = record(sp, &l, &lc, err, size);
	} else if (verb == AGQ_PR_CLOSE && agq_lc_op("cancel", st, l.task, who,
	    NULL, agq_now_us(), &lc) == 0) {
		/* queued, deferred, held or running (a new round): ended as
		 * agq-cancel ends it, its run killed (a new generation) */
		snprintf(lc.reason, sizeof lc.reason, "pull request closed by "
		    "%s%s%.300s", who, text ? ": " : "", text ? text : "");
		json_object_set_new(lc.ev, "reason", json_string(lc.reason));
		set_text(lc.ev, "pr", jstr(l.task, "pr"));
		json_t *ev = person_ev(l.task, uid, user, text);
		json_object_set_new(ev, "to", json_string("dead"));
		agq_journal_w(sp, "pr_close", id, ev);
		rc = record(sp, &l, &lc, err, size);
	} else if (verb == AGQ_PR_CLOSE) {
		/* the PR closed (agq-pr's part); the task, done or dead,
		 * stays where it is */
		json_t *ev = person_ev(l.task, uid, user, text);
		json_object_set_new(ev, "state", json_string(agq_state_name(st)));
		agq_journal_w(sp, "pr_close", id, ev);
		agq_errf(err, size, "%s: pull request closed by %s; the task "
		    "stays in %s/", id, who, agq_state_name(st));
		rc = 0;
	} else {
		static const char *const verbs[] = { "approve",
		    "request-changes", "deny", "close" };
		agq_errf(err, size, "%s: cannot %s a task in %s/%s", id,
		    verbs[verb], agq_state_name(st), verb == AGQ_PR_DENY ||
		    (verb == AGQ_PR_APPROVE && st != AGQ_ST_REVIEW) ?
		    " (approve and deny answer a task in approval/)" :
		    verb == AGQ_PR_REQUEST_CHANGES ? " (a verdict is for a "
		    "task in review/)" : "");
	}
	agq_task_unlock(&l);
	return rc;
}
