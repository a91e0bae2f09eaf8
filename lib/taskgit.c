/*
 * taskgit.c - the git chain of a task with a "git" field: worktree,
 * commit, push, PR, each step journaled and each one safe to repeat
 * (taskgit.h; agq-task(5) "Git tasks"; agq-journal(5)).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "git.h"
#include "prrec.h"
#include "forge.h"
#include "mission.h"
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

/* Is MISSION (may be NULL) one whose tasks share one branch and one PR
 * (its record's pr_unit "mission")?  1 with the branch "mission/ID-SLUG"
 * (SLUG agq_git_slug of its title) in OUT (256 bytes), 0 not, -1 with
 * errno (the record cannot be read). */
static int
mission_branch(const struct agq_spool *sp, const char *mission, char *out)
{
	if (!mission)
		return 0;
	json_t *m = agq_mission_read(sp, mission);
	if (!m)
		return errno == ENOENT ? 0 : -1;
	const char *u = jstr(m, "pr_unit");
	int yes = u && !strcmp(u, "mission");
	if (yes) {
		char slug[49];
		agq_git_slug(jstr(m, "title") ? jstr(m, "title") : "", slug);
		snprintf(out, 256, "mission/%s-%s", mission, slug);
	}
	json_decref(m);
	return yes;
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
	int r;
	if ((r = mission_branch(sp, jstr(t, "mission"), g->mbranch)) < 0)
		return agq_errf(err, size, "field mission: %s: cannot read the "
		    "mission: %s", jstr(t, "mission"), strerror(errno));
	if (r == 1) {
		/* the mission's branch: this task's own branch starts from
		 * its tip on the origin (the base when it is not there yet),
		 * and is pushed onto it (agq_taskgit_finish) */
		snprintf(g->mission, sizeof g->mission, "%s", jstr(t,
		    "mission"));
		g->pr = 0;
		char *clone = NULL, tip[41];
		if (agq_git_sync_origin(sp, g->repo, &clone, err, size) < 0)
			return -1;
		if (agq_git_remote_tip(clone, g->mbranch, tip) == 1)
			g->base = g->mbranch;
		free(clone);
		if (agq_git_start_task(sp, g->repo, g->base, g->agent, slug,
		    NULL, g->id, &g->wt, err, size) < 0)
			return -1;
		goto started;
	}
	/* a task whose pull request is open (a later review round, its
	 * conflict iteration): that branch, whichever agent or host runs it
	 * now: its PR record's, else its last attempt's */
	json_t *rec = jstr(t, "pr") ? agq_pr_find(sp, jstr(t, "pr")) : NULL;
	const char *prb = rec && !strcmp(jstr(rec, "id") ? jstr(rec, "id") :
	    "", jstr(t, "pr")) ? jstr(rec, "branch") : NULL;
	if (!prb)
		prb = pr_branch(t);
	r = prb ? agq_git_resume_task(sp, g->repo, g->base, prb, g->id,
	    &g->wt, err, size) : agq_git_start_task(sp, g->repo, g->base,
	    g->agent, slug, g->branch, g->id, &g->wt, err, size);
	json_decref(rec);
	if (r < 0)
		return -1;
started:;
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
	    "s:s, s:s, s:b, s:s*}", "agent", g->agent, "repo", g->repo,
	    "branch", g->wt.branch, "base", g->wt.base, "head", g->wt.head,
	    "path", g->wt.path, "reused", g->wt.reused, "mission",
	    g->mission[0] ? g->mission : NULL));
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

/* Push G->sha onto its mission's branch G->mbranch on the origin, a
 * compare-and-swap (agq_git_push_commit, never forced): refused because
 * another task of the mission moved the branch, the origin fetched again
 * and G's commits replayed on its new tip (agq_git_replay), then pushed
 * again, up to 8 times.  `push` journaled {agent, repo, branch, sha,
 * mission}.  An enum agq_taskgit_rc. */
static int
mission_push(const struct agq_spool *sp, struct agq_taskgit *g, char *err,
             size_t size)
{
	char e[1024], tip[41], sha[41];
	char *clone = NULL;
	int r = -1, tries;
	for (tries = 0; tries < 8; tries++) {
		free(clone);
		clone = NULL;
		if (agq_git_sync_origin(sp, g->repo, &clone, e, sizeof e) < 0) {
			agq_errf(err, size, "cannot push: %s", e);
			r = AGQ_TG_FAIL;
			goto out;
		}
		if (tries > 0 && agq_git_remote_tip(clone, g->mbranch, tip) ==
		    1) {
			/* another task of the mission moved the branch */
			int x = agq_git_replay(sp, clone, g->sha, tip, sha, e,
			    sizeof e);
			if (x != 0) {
				agq_errf(err, size, "cannot push: onto %s: %s",
				    g->mbranch, e);
				r = x > 0 ? AGQ_TG_REJECTED : AGQ_TG_FAIL;
				goto out;
			}
			snprintf(g->sha, sizeof g->sha, "%s", sha);
		}
		r = agq_git_push_commit(sp, clone, g->sha, g->mbranch, e,
		    sizeof e);
		if (r != 1)
			break;
	}
	if (r != 0) {
		agq_errf(err, size, "cannot push: %s", e);
		r = r == 1 ? AGQ_TG_REJECTED : AGQ_TG_FAIL;
		goto out;
	}
	g->pushed = 1;
	agq_journal(sp, "push", g->id, json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "agent", g->agent, "repo", g->repo, "branch", g->mbranch, "sha",
	    g->sha, "mission", g->mission));
	r = AGQ_TG_OK;
out:
	free(clone);
	return r;
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
	if (g->mission[0])
		return mission_push(sp, g, err, size);
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
	    "branch", g->mbranch[0] ? g->mbranch : g->wt.branch, "head", g->sha[0] ? g->sha : g->wt.head,
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
	if (remove && g->pushed)        /* a mission task's own branch is
	                                 * not pushed by its name: its
	                                 * commits are on the mission's */
		return agq_git_remove(g->wt.path, g->mission[0] != 0, err,
		    size);
	return 0;
}

void
agq_taskgit_free(struct agq_taskgit *g)
{
	json_decref(g->rec);
	g->rec = NULL;
}

/* Open mission M's PR (record MR, its state done), under the lock of
 * agq_taskgit_mission_pr: the PR record of its branch, the forge's PR,
 * `pr_open` once, the mission's "pr".  0 or -1 with ERR. */
static int
mission_pr_open(const struct agq_spool *sp, json_t *mr, const json_t *tasks,
                const char *agent, char *err, size_t size)
{
	const char *mid = jstr(mr, "id"), *repo = NULL, *base = NULL;
	char branch[256], e[1024], tip[41];
	char *clone = NULL;
	json_t *rec = NULL, *list = json_array();
	int rc = -1;
	size_t i;
	json_t *v;
	json_array_foreach(tasks, i, v) {
		const json_t *gv = json_object_get(v, "git");
		if (!repo && jstr(gv, "repo")) {
			repo = jstr(gv, "repo");
			base = jstr(gv, "base");
		}
		json_array_append_new(list, json_pack("{s:s, s:s?}", "id",
		    jstr(v, "id"), "title", jstr(v, "title")));
	}
	if (mission_branch(sp, mid, branch) != 1 || !repo) {
		agq_errf(err, size, "mission %s: no git task in it", mid);
		goto out;
	}
	if (agq_git_sync_origin(sp, repo, &clone, e, sizeof e) < 0) {
		agq_errf(err, size, "%s", e);
		goto out;
	}
	if (agq_git_remote_tip(clone, branch, tip) != 1) {
		agq_errf(err, size, "no branch %s on %s: no task of mission %s "
		    "pushed", branch, repo, mid);
		goto out;
	}
	const char *crash = getenv("AGQ_MISSION_PR_CRASH");
	if (crash && !strcmp(crash, "before-pr"))
		raise(SIGKILL);         /* tests: a crash after the last push */
	int r = agq_pr_open(sp, mid, repo, base ? base : "main", branch, tip,
	    jstr(mr, "title"), &rec);
	if (r == 0) {
		json_object_set_new(rec, "mission", json_string(mid));
		json_object_set(rec, "tasks", list);
		if (agq_pr_save(sp, rec) < 0) {
			agq_errf(err, size, "cannot rewrite the PR record: %s",
			    strerror(errno));
			goto out;
		}
	} else if (r < 0) {
		agq_errf(err, size, "cannot write the PR record: %s",
		    strerror(errno));
		goto out;
	}
	struct agq_pr_body b;
	agq_pr_body_from_task(&b, mid, NULL);
	const json_t *acc = json_object_get(mr, "acceptance");
	b.criteria = json_is_array(acc) ? acc : NULL;
	b.tasks = list;
	int f = agq_forge_open(sp, rec, &b, e, sizeof e);
	if (f == AGQ_FORGE_FAIL || f == AGQ_FORGE_RETRY) {
		agq_errf(err, size, "cannot open the pull request%s: %s",
		    f == AGQ_FORGE_RETRY ? " now" : "", e);
		goto out;
	}
	const char *prid = jstr(rec, "id");
	if (!json_is_true(json_object_get(rec, "journaled"))) {
		json_t *url = json_object_get(rec, "url");
		json_t *num = json_object_get(rec, "number");
		agq_journal(sp, "pr_open", mid, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s, s:O, s:O, s:s, s:O}", "agent", agent, "repo", repo,
		    "branch", branch, "sha", jstr(rec, "head"), "pr", prid,
		    "url", url ? url : json_null(), "number", num ? num :
		    json_null(), "mission", mid, "tasks", list));
		json_object_set_new(rec, "journaled", json_true());
		if (agq_pr_save(sp, rec) < 0)
			agq_syserr("cannot rewrite the PR record", prid);
	}
	json_object_set_new(mr, "pr", json_string(prid));
	if (agq_mission_save(sp, mr) < 0) {
		agq_errf(err, size, "cannot rewrite the mission: %s",
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(clone);
	json_decref(rec);
	json_decref(list);
	return rc;
}

int
agq_taskgit_mission_pr(const struct agq_spool *sp, const char *mission,
                       const char *agent, char *err, size_t size)
{
	json_t *mr = agq_mission_read(sp, mission), *tasks = NULL;
	int rc = 1, fd = -1;
	if (!agent || !*agent)
		agent = "agq";
	if (!mr)
		return agq_errf(err, size, "cannot read mission %s: %s",
		    mission, strerror(errno));
	const char *u = jstr(mr, "pr_unit");
	if (!u || strcmp(u, "mission"))
		goto out;
	if (jstr(mr, "pr")) {
		rc = 0;
		goto out;
	}
	struct agq_mission_counts c;
	if (!(tasks = agq_mission_tasks(sp, mission, &c))) {
		rc = agq_errf(err, size, "cannot list mission %s: %s", mission,
		    strerror(errno));
		goto out;
	}
	if (agq_mission_state(&c) != AGQ_MS_DONE)
		goto out;
	/* one opener at a time: two agents ending the last tasks at once,
	 * agq-mission show, agq-run's start */
	char *lp = agq_spool_path(sp, "missions/%s.prlock", mission);
	fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(lp);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		rc = agq_errf(err, size, "cannot lock mission %s: %s", mission,
		    strerror(errno));
		goto out;
	}
	json_decref(mr);
	if (!(mr = agq_mission_read(sp, mission))) {
		rc = agq_errf(err, size, "cannot read mission %s: %s", mission,
		    strerror(errno));
		goto out;
	}
	rc = jstr(mr, "pr") ? 0 : mission_pr_open(sp, mr, tasks, agent, err,
	    size);
out:
	if (fd >= 0)
		close(fd);
	json_decref(tasks);
	json_decref(mr);
	return rc;
}
