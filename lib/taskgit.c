/*
 * taskgit.c - the git chain of a task with a "git" field: worktree,
 * commit, push, PR, each step journaled and each one safe to repeat
 * (taskgit.h; agq-task(5) "Git tasks"; agq-journal(5)).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "git.h"
#include "forge.h"
#include "taskgit.h"

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

void
agq_taskgit_title(const json_t *t, char *buf, size_t size)
{
	const char *s = jstr(t, "title");
	if (!s || !*s)
		s = jstr(t, "prompt");
	json_t *cmd = json_object_get(t, "cmd");
	buf[0] = '\0';
	if (s && *s) {
		snprintf(buf, size, "%s", s);
	} else if (json_is_string(cmd)) {
		snprintf(buf, size, "%s", json_string_value(cmd));
	} else {
		size_t i, n = 0;
		json_t *w;
		json_array_foreach(cmd, i, w) {
			int k = snprintf(buf + n, size - n, "%s%s", i ? " " : "",
			    json_string_value(w));
			if (k < 0 || (size_t)k >= size - n)
				break;
			n += (size_t)k;
		}
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		snprintf(buf, size, "task %s", agq_task_id(t) ? agq_task_id(t) :
		    "");
}

/* The branch of task T's pull request when T comes back for another
 * round of review (it has "pr", issue 18): its last attempt's, in
 * attempts or, after the round moved them, previous_attempts; else NULL.
 * Borrowed from T. */
static const char *
pr_branch(const json_t *t)
{
	static const char *const keys[] = { "attempts", "previous_attempts" };
	if (!jstr(t, "pr"))
		return NULL;
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		const json_t *a = json_object_get(t, keys[k]);
		for (size_t i = json_array_size(a); i-- > 0;) {
			const char *b = jstr(json_object_get(json_array_get(a,
			    i), "git"), "branch");
			if (b)
				return b;
		}
	}
	return NULL;
}

int
agq_taskgit_begin(const struct agq_spool *sp, const json_t *t,
                  const char *agent, struct agq_taskgit *g, char *err,
                  size_t size)
{
	memset(g, 0, sizeof *g);
	const json_t *gv = json_object_get(t, "git");
	const char *id = agq_task_id(t);
	snprintf(g->id, sizeof g->id, "%s", id ? id : "");
	snprintf(g->agent, sizeof g->agent, "%s", agent && *agent ? agent :
	    "agq");
	g->repo = jstr(gv, "repo");
	g->base = jstr(gv, "base") ? jstr(gv, "base") : "main";
	g->branch = jstr(gv, "branch");
	g->pr = !json_is_false(json_object_get(gv, "pr"));
	g->draft = json_is_true(json_object_get(gv, "draft"));
	if (!g->repo)
		return agq_errf(err, size, "field git.repo: missing");
	char slug[512];
	agq_taskgit_title(t, slug, sizeof slug);
	/* a task whose pull request is open (a later review round, its
	 * conflict iteration): that branch, whichever agent or host runs it
	 * now: its PR record's, else its last attempt's */
	json_t *rec = jstr(t, "pr") ? agq_pr_find(sp, jstr(t, "pr")) : NULL;
	const char *prb = rec && !strcmp(jstr(rec, "id") ? jstr(rec, "id") :
	    "", jstr(t, "pr")) ? jstr(rec, "branch") : NULL;
	if (!prb)
		prb = pr_branch(t);
	int r = prb ? agq_git_resume_task(sp, g->repo, g->base, prb, g->id,
	    &g->wt, err, size) : agq_git_start_task(sp, g->repo, g->base,
	    g->agent, slug, g->branch, g->id, &g->wt, err, size);
	json_decref(rec);
	if (r < 0)
		return -1;
	const char *cwd = jstr(t, "cwd");
	struct stat st;
	if (cwd && *cwd) {
		if ((size_t)snprintf(g->dir, sizeof g->dir, "%s/%s", g->wt.path,
		    cwd) >= sizeof g->dir)
			return agq_errf(err, size, "cwd %s: path too long", cwd);
		if (stat(g->dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return agq_errf(err, size, "cwd %s: no such directory in "
			    "the worktree", cwd);
	} else {
		snprintf(g->dir, sizeof g->dir, "%s", g->wt.path);
	}
	agq_journal(sp, "worktree", g->id, json_pack("{s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:b}", "agent", g->agent, "repo", g->repo, "branch",
	    g->wt.branch, "base", g->wt.base, "head", g->wt.head, "path",
	    g->wt.path, "reused", g->wt.reused));
	return 0;
}

/* The branch's diff against its base (agq_git_status) into EV. */
static void
add_diffstat(json_t *ev, const char *path)
{
	char e[256];
	json_t *st = agq_git_status(path, e, sizeof e);
	static const char *const k[] = { "files", "insertions", "deletions",
	    NULL };
	for (int i = 0; st && k[i]; i++)
		json_object_set(ev, k[i], json_object_get(st, k[i]));
	json_decref(st);
}

/* The worktree at PATH has no change: is its branch ahead of its base
 * (commits of an earlier attempt)?  Its tip into SHA when it is. */
static int
already_committed(const char *path, char sha[41])
{
	char e[256];
	json_t *st = agq_git_status(path, e, sizeof e);
	json_t *ahead = json_object_get(st, "ahead");
	int yes = json_is_integer(ahead) && json_integer_value(ahead) > 0 &&
	    jstr(st, "head");
	if (yes)
		snprintf(sha, 41, "%s", jstr(st, "head"));
	json_decref(st);
	return yes;
}

int
agq_taskgit_commit(const struct agq_spool *sp, struct agq_taskgit *g,
                   const char *title, const char *body, char *err,
                   size_t size)
{
	const char *path = g->wt.path, *branch = g->wt.branch;
	char e[1024];
	int r = agq_git_commit(sp, path, title, body, g->id, g->sha, e,
	    sizeof e);
	if (r < 0) {
		agq_errf(err, size, "cannot commit: %s", e);
		return AGQ_TG_FAIL;
	}
	if (r == 1 && !already_committed(path, g->sha)) {
		agq_errf(err, size, "no changes");
		return AGQ_TG_NOCHANGE;
	}
	if (r == 0) {
		json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "agent", g->agent,
		    "repo", g->repo, "branch", branch, "sha", g->sha);
		add_diffstat(ev, path);
		agq_journal(sp, "commit", g->id, ev);
	}
	return AGQ_TG_OK;
}

int
agq_taskgit_finish(const struct agq_spool *sp, const json_t *t,
                   struct agq_taskgit *g, const char *title,
                   const char *body, char *err, size_t size)
{
	const char *path = g->wt.path, *branch = g->wt.branch;
	char e[1024];
	int r = agq_taskgit_commit(sp, g, title, body, err, size);
	if (r != AGQ_TG_OK)
		return r;
	r = agq_git_push(sp, path, e, sizeof e);
	if (r != 0) {
		agq_errf(err, size, "cannot push: %s", e);
		return r == 1 ? AGQ_TG_REJECTED : AGQ_TG_FAIL;
	}
	g->pushed = 1;
	agq_journal(sp, "push", g->id, json_pack("{s:s, s:s, s:s, s:s}",
	    "agent", g->agent, "repo", g->repo, "branch", branch, "sha",
	    g->sha));
	if (!g->pr)
		return AGQ_TG_OK;
	json_decref(g->rec);
	g->rec = NULL;
	if (agq_pr_open(sp, g->id, g->repo, g->base, branch, g->sha, title,
	    &g->rec) < 0) {
		agq_errf(err, size, "cannot write the PR record: %s",
		    strerror(errno));
		return AGQ_TG_FAIL;
	}
	const char *st = jstr(g->rec, "state"), *hd = jstr(g->rec, "head");
	if (st && !strcmp(st, "open") && (!hd || strcmp(hd, g->sha))) {
		/* a new round pushed to the open PR's branch: its head moved */
		json_object_set_new(g->rec, "head", json_string(g->sha));
		if (agq_pr_save(sp, g->rec) < 0) {
			agq_errf(err, size, "cannot rewrite the PR record: %s",
			    strerror(errno));
			return AGQ_TG_FAIL;
		}
	}
	struct agq_pr_body b;
	agq_pr_body_from_task(&b, g->id, t);
	if (body && *body)
		b.verify = body;
	b.draft = g->draft;
	int f = agq_forge_open(sp, g->rec, &b, e, sizeof e);
	g->retry = f == AGQ_FORGE_RETRY;
	if (f == AGQ_FORGE_FAIL || f == AGQ_FORGE_RETRY) {
		agq_errf(err, size, "cannot open the pull request%s: %s",
		    g->retry ? " now" : "", e);
		return AGQ_TG_FAIL;
	}
	if (json_is_true(json_object_get(g->rec, "journaled")))
		return AGQ_TG_OK;
	json_t *url = json_object_get(g->rec, "url");
	json_t *num = json_object_get(g->rec, "number");
	agq_journal(sp, "pr_open", g->id, json_pack("{s:s, s:s, s:s, s:s, "
	    "s:s, s:O, s:O}", "agent", g->agent, "repo", g->repo, "branch",
	    branch, "sha", g->sha, "pr", jstr(g->rec, "id"), "url",
	    url ? url : json_null(), "number", num ? num : json_null()));
	json_object_set_new(g->rec, "journaled", json_true());
	if (agq_pr_save(sp, g->rec) < 0)
		agq_syserr("cannot rewrite the PR record", jstr(g->rec, "id"));
	return AGQ_TG_OK;
}

json_t *
agq_taskgit_info(const struct agq_taskgit *g)
{
	json_t *url = json_object_get(g->rec, "url");
	json_t *num = json_object_get(g->rec, "number");
	return json_pack("{s:s?, s:s?, s:s, s:s, s:s, s:b, s:s?, s:O, s:O}",
	    "repo", g->repo, "base", g->wt.base[0] ? g->wt.base : g->base,
	    "branch", g->wt.branch, "head", g->sha[0] ? g->sha : g->wt.head,
	    "worktree", g->wt.path, "pushed", g->pushed, "pr",
	    jstr(g->rec, "id"), "url", url ? url : json_null(), "number",
	    num ? num : json_null());
}

int
agq_taskgit_end(struct agq_taskgit *g, int remove, char *err, size_t size)
{
	if (!g->wt.path[0])
		return 0;
	if (agq_git_unlock(g->wt.path, err, size) < 0)
		return -1;
	if (remove && g->pushed)
		return agq_git_remove(g->wt.path, 0, err, size);
	return 0;
}

void
agq_taskgit_free(struct agq_taskgit *g)
{
	json_decref(g->rec);
	g->rec = NULL;
}
