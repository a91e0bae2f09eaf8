/* prview.c - a pull request's way from submit to merge: agq-show's chain,
 * agq-dash's open and merged pull requests (prview.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "git.h"
#include "prrec.h"
#include "journal.h"
#include "prview.h"

#define JS(o, k) json_string_value(json_object_get((o), (k)))

char *
agq_chain_root(const json_t *task, const char *id, char buf[65])
{
	const char *p = JS(task, "parent");
	if (p && agq_id_valid(p)) {
		snprintf(buf, 65, "%s", p);
		return buf;
	}
	if (!agq_task_child_of(id, buf))
		snprintf(buf, 65, "%s", id);
	return buf;
}

const char *const agq_chain_events[] = {
	"submit", "accept", "hold", "release", "start", "finish", "retry",
	"reclaim", "handback", "cancel", "done", "dead", "worktree", "commit",
	"push", "pr_open", "review_wait", "approval_wait", "review_start",
	"review", "approve", "deny", "merge_redo", "merge", "pr_close", NULL
};

static int
chain_event(const char *ev)
{
	for (int i = 0; ev && agq_chain_events[i]; i++)
		if (!strcmp(ev, agq_chain_events[i]))
			return 1;
	return 0;
}

/* Is the event O about ROOT: its id ROOT or a child's (ROOT-rN-K,
 * ROOT-mN), or its parent ROOT? */
static int
about(const json_t *o, const char *root)
{
	const char *id = JS(o, "id"), *parent = JS(o, "parent");
	char p[65];
	if (parent && !strcmp(parent, root))
		return 1;
	return id && (!strcmp(id, root) || (agq_task_child_of(id, p) &&
	    !strcmp(p, root)));
}

/* The first line of S, at most 200 bytes, malloc'd. */
static char *
first_line(const char *s)
{
	if (!s)
		return agq_xstrdup("");
	size_t n = strcspn(s, "\n\r");
	return agq_xasprintf("%.*s", (int)(n > 200 ? 200 : n), s);
}

/* Who gave the review event E: "user NAME" for a person, else its review
 * task's id (and agent).  malloc'd. */
static char *
reviewer(const json_t *e)
{
	if (JS(e, "user"))
		return agq_xasprintf("user %s", JS(e, "user"));
	if (JS(e, "agent"))
		return agq_xasprintf("%s (agent %s)", JS(e, "id") ? JS(e, "id") :
		    "?", JS(e, "agent"));
	return agq_xstrdup(JS(e, "id") ? JS(e, "id") : "?");
}

static int
by_at(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(JS(x, "at") ? JS(x, "at") : "", JS(y, "at") ?
	    JS(y, "at") : "");
	if (c)
		return c;
	/* the journal's order: the index kept in "_n" */
	json_int_t i = json_integer_value(json_object_get(x, "_n"));
	json_int_t j = json_integer_value(json_object_get(y, "_n"));
	return (i > j) - (i < j);
}

/* Is the event O the first one of task ID: its submit, or its accept
 * from inbox/ (agq-journal(5))? */
static int
first_event(const json_t *o, const char *id)
{
	const char *ev = JS(o, "ev"), *oid = JS(o, "id");
	return ev && oid && !strcmp(oid, id) && (!strcmp(ev, "submit") ||
	    !strcmp(ev, "accept"));
}

/* The lines of the journal file NAME (relative to SP's root) that contain
 * NEEDLE and parse as JSON objects, appended to A in file order; *FIRST
 * set when one is NEEDLE's first event.  0, or -1 with errno (ENOENT: a
 * rotated file expired since it was listed). */
static int
grep_file(const struct agq_spool *sp, const char *name, const char *needle,
          json_t *a, int *first)
{
	FILE *f = agq_journal_fopen(sp, name);
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (!strstr(line, needle))
			continue;       /* cheap pre-filter */
		json_t *o = json_loadb(line, (size_t)n - (line[n - 1] == '\n'),
		    0, NULL);
		if (json_is_object(o)) {
			*first |= first_event(o, needle);
			json_array_append(a, o);
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return 0;
}

int
agq_journal_grep(const struct agq_spool *sp, const char *needle,
                 int (*fn)(json_t *ev, void *arg), void *arg)
{
	char **names;
	size_t n;
	if (agq_journal_files(sp, &names, &n) < 0)
		return -1;
	/* newest file first, back to the one with the task's first event */
	json_t **got = agq_xmalloc((n ? n : 1) * sizeof *got);
	size_t from = n;
	int first = 0, r = 0, e = 0;
	while (from > 0 && !first && !e) {
		got[--from] = json_array();
		if (grep_file(sp, names[from], needle, got[from], &first) < 0 &&
		    errno != ENOENT)
			e = errno;
	}
	size_t i;
	json_t *o;
	for (size_t k = from; k < n; k++) {
		json_array_foreach(got[k], i, o)
			if (!r)
				r = fn(o, arg);
		json_decref(got[k]);
	}
	free(got);
	agq_journal_files_free(names, n);
	if (e && !r) {
		errno = e;
		return -1;
	}
	return r;
}

struct gather { const char *root; json_t *a; };

/* One event about ROOT as a chain element {at, ev, _n (its place in
 * the journal), its members but its writer's}. */
static int
gather_one(json_t *o, void *arg)
{
	static const char *const writer[] = { "ts", "prog", "pid", "host",
	    "seq", "prev", NULL };
	struct gather *g = arg;
	if (!chain_event(JS(o, "ev")) || !about(o, g->root) || !JS(o, "ts"))
		return 0;
	json_t *e = json_pack("{s:O, s:O, s:I}", "at", json_object_get(o,
	    "ts"), "ev", json_object_get(o, "ev"), "_n",
	    (json_int_t)json_array_size(g->a));
	for (int w = 0; writer[w]; w++)
		json_object_del(o, writer[w]);
	json_object_del(o, "ev");
	json_object_update_missing(e, o);
	json_array_append_new(g->a, e);
	return 0;
}

/* The events about ROOT in SP's journal, as chain elements, oldest
 * first (by "at", then journal order).  A new array. */
static json_t *
chain_read(const struct agq_spool *sp, const char *root)
{
	struct gather g = { root, json_array() };
	json_t *a = g.a;
	agq_journal_grep(sp, root, gather_one, &g);
	size_t len = json_array_size(a);
	if (len > 1) {
		json_t **v = agq_xmalloc(len * sizeof *v);
		for (size_t i = 0; i < len; i++)
			v[i] = json_incref(json_array_get(a, i));
		qsort(v, len, sizeof *v, by_at);
		json_array_clear(a);
		for (size_t i = 0; i < len; i++)
			json_array_append_new(a, v[i]);
		free(v);
	}
	return a;
}

json_t *
agq_chain(const struct agq_spool *sp, const char *root)
{
	json_t *in = chain_read(sp, root), *out = json_array();
	json_t *from = json_array(), *said = json_array();
	json_int_t attempt = 0, round = 0;
	size_t i;
	json_t *e;
	json_array_foreach(in, i, e) {
		const char *ev = JS(e, "ev"), *id = JS(e, "id");
		int mine = id && !strcmp(id, root);
		json_object_del(e, "_n");
		if (!strcmp(ev, "review")) {
			/* a review task's event joins its comments into one
			 * string, a person's keeps the array (agq-journal(5)) */
			const json_t *c = json_object_get(e, "comments");
			if (json_is_array(c))
				c = json_array_get(c, 0);
			char *fl = first_line(json_string_value(c));
			json_object_set_new(e, "comment", json_string(fl));
			if (!strcmp(JS(e, "verdict") ? JS(e, "verdict") : "",
			    "request_changes")) {
				char *who = reviewer(e);
				json_array_append_new(from, json_string(who));
				json_array_append_new(said, json_string(fl));
				free(who);
				round = json_integer_value(json_object_get(e,
				    "round"));
			}
			free(fl);
		} else if (mine && !strcmp(ev, "start")) {
			if (json_array_size(from)) {
				/* what the coder's next attempt was given */
				json_array_append_new(out, json_pack("{s:O, s:s, "
				    "s:I, s:o, s:o}", "at", json_object_get(e,
				    "at"), "ev", "feedback", "round", round,
				    "from", from, "comments", said));
				from = json_array();
				said = json_array();
			}
			json_object_set_new(e, "attempt", json_integer(++attempt));
		}
		json_array_append(out, e);
	}
	json_decref(in);
	json_decref(from);
	json_decref(said);
	/* the end: a dead task's PR, open or not */
	for (size_t k = json_array_size(out); k-- > 0;) {
		e = json_array_get(out, k);
		if (strcmp(JS(e, "ev"), "dead") || !JS(e, "id") ||
		    strcmp(JS(e, "id"), root))
			continue;
		json_t *rec = agq_pr_find(sp, JS(e, "pr") ? JS(e, "pr") : root);
		if (rec) {
			json_object_set(e, "pr", json_object_get(rec, "id"));
			json_object_set(e, "pr_state", json_object_get(rec,
			    "state"));
		}
		json_decref(rec);
		break;
	}
	return out;
}

/* ---- the PRs of agq-dash -------------------------------------------------- */

/* The task ID read from wherever it is, its state in *STATE; NULL. */
static json_t *
task_at(const struct agq_spool *sp, const char *id, int *state)
{
	struct agq_loc loc;
	*state = AGQ_ST_NONE;
	json_t *t = id ? agq_task_find_settled(sp, id, &loc,
	    AGQ_SETTLE_VIEW_MS) : NULL;
	if (t)
		*state = loc.state;
	return t;
}

/* Does verdict V (a task's "verdict" or a reviews/ file) count for HEAD:
 * its head is HEAD, or either is not known? */
static int
same_head(const json_t *v, const char *head)
{
	return !head || !JS(v, "head") || !strcmp(JS(v, "head"), head);
}

struct people { const struct agq_spool *sp; const char *root, *head;
                long round, approvals, changes; json_t *seen; };

/* One file of reviews/ROOT/: ROUND.user-UID-UNIQUE.json (agq-spool(5)),
 * counted once per person (uid). */
static int
person_one(const char *name, void *arg)
{
	struct people *P = arg;
	char pre[32];
	snprintf(pre, sizeof pre, "%ld.", P->round);
	size_t n = strlen(name);
	if (strncmp(name, pre, strlen(pre)) || n < 5 ||
	    strcmp(name + n - 5, ".json"))
		return 0;
	char *p = agq_spool_path(P->sp, "reviews/%s/%s", P->root, name);
	json_t *v = agq_json_read_object(p, 1 << 20);
	free(p);
	const char *verdict = JS(v, "verdict");
	json_t *by = json_object_get(v, "by");
	char who[64];
	snprintf(who, sizeof who, "%lld", (long long)json_integer_value(
	    json_object_get(by, "uid")));
	if (verdict && json_integer_value(json_object_get(v, "round")) ==
	    P->round && same_head(v, P->head) && !json_object_get(P->seen,
	    who)) {
		json_object_set_new(P->seen, who, json_string(verdict));
		if (!strcmp(verdict, "approve"))
			P->approvals++;
		else if (!strcmp(verdict, "request_changes"))
			P->changes++;
	}
	json_decref(v);
	return 0;
}

json_t *
agq_pr_review_state(const struct agq_spool *sp, const json_t *rec)
{
	const char *root = JS(rec, "task");
	int state;
	json_t *t = task_at(sp, root, &state);
	const json_t *rv = json_object_get(t, "review");
	long round = (long)json_integer_value(json_object_get(t, "round"));
	long required = !json_is_object(rv) ? 0 :
	    json_is_integer(json_object_get(rv, "required")) ?
	    (long)json_integer_value(json_object_get(rv, "required")) : 1;
	struct people P = { sp, root, JS(t, "head"), round, 0, 0,
	    json_object() };
	if (t && round > 0) {
		/* the agents' verdicts: done/ROOT-rN-K.json, K 1..required */
		for (long k = 1; k <= required && k <= 9; k++) {
			char id[96];
			int st = AGQ_ST_NONE;
			snprintf(id, sizeof id, "%s-r%ld-%ld", root, round, k);
			json_t *r = agq_id_valid(id) ? task_at(sp, id, &st) : NULL;
			const json_t *v = json_object_get(r, "verdict");
			const char *verdict = JS(v, "verdict");
			if (st == AGQ_ST_DONE && verdict && same_head(v, P.head)) {
				P.approvals += !strcmp(verdict, "approve");
				P.changes += !strcmp(verdict, "request_changes");
			}
			json_decref(r);
		}
		char *d = agq_spool_path(sp, "reviews/%s", root);
		if (agq_id_valid(root))
			agq_dir_each(d, person_one, &P);
		free(d);
	}
	/* the merge tries ROOT-m1, -m2, ...: the last one not ended */
	int merging = 0;
	for (int m = 1; t && m <= 20; m++) {
		char id[96];
		int st = AGQ_ST_NONE;
		snprintf(id, sizeof id, "%s-m%d", root, m);
		json_t *mt = agq_id_valid(id) ? task_at(sp, id, &st) : NULL;
		json_decref(mt);
		if (!mt)
			break;
		merging = st != AGQ_ST_DONE && st != AGQ_ST_DEAD;
	}
	const char *rs = "open";
	switch (state) {
	case AGQ_ST_APPROVAL: rs = "awaiting approval"; break;
	case AGQ_ST_REVIEW:
		rs = merging ? "merging" : P.changes ? "changes requested" :
		    "reviewing";
		break;
	case AGQ_ST_QUEUE: case AGQ_ST_DEFER: case AGQ_ST_ACTIVE:
	case AGQ_ST_HOLD:
		if (round > 0)
			rs = "changes requested";
		break;
	case AGQ_ST_DONE: rs = round > 0 ? "approved" : "open"; break;
	case AGQ_ST_DEAD: rs = "stopped"; break;
	}
	json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:s, s:s?}", "round",
	    (int)round, "required", (int)required, "approvals", (int)P.approvals,
	    "changes", (int)P.changes, "review_state", rs, "task_state",
	    state == AGQ_ST_NONE ? NULL : agq_state_name(state));
	json_decref(P.seen);
	json_decref(t);
	return o;
}

json_t *
agq_prs_open(const struct agq_spool *sp, size_t max)
{
	json_t *all = agq_pr_list(sp, "open"), *out = json_array();
	for (size_t k = json_array_size(all); k-- > 0 &&
	    json_array_size(out) < max;) {
		json_t *r = json_deep_copy(json_array_get(all, k));
		json_t *s = agq_pr_review_state(sp, r);
		json_object_update(r, s);
		json_decref(s);
		json_array_append_new(out, r);
	}
	json_decref(all);
	return out;
}

static int64_t
merged_at(const json_t *r)
{
	int64_t us;
	const char *at = JS(json_object_get(r, "merged"), "at");
	return at && agq_parse_time(at, &us) == 0 ? us : 0;
}

static int
newest_merge(const void *a, const void *b)
{
	int64_t x = merged_at(*(json_t *const *)a);
	int64_t y = merged_at(*(json_t *const *)b);
	return (x < y) - (x > y);
}

json_t *
agq_prs_merged(const struct agq_spool *sp, size_t max)
{
	json_t *all = agq_pr_list(sp, "merged"), *out = json_array();
	size_t n = json_array_size(all);
	json_t **v = agq_xmalloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(all, i);
	qsort(v, n, sizeof *v, newest_merge);
	for (size_t i = 0; i < n && i < max; i++) {
		json_t *r = json_deep_copy(v[i]);
		int st;
		json_t *t = task_at(sp, JS(r, "task"), &st);
		int64_t sub = agq_task_time(t, "submitted_at", -1);
		int64_t at = merged_at(r);
		json_object_set_new(r, "time_to_merge_s", sub > 0 && at >= sub ?
		    json_real((double)((at - sub) / 1000) / 1000.0) :
		    json_null());
		json_decref(t);
		json_array_append_new(out, r);
	}
	free(v);
	json_decref(all);
	return out;
}
