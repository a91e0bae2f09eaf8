/*
 * taskgit.h - taskgit.c: the git chain of a task with a "git" field
 * (agq-task(5), issue 16), as one attempt runs it (attempt.c) and as
 * agq-git finish runs it by hand: the worktree when the attempt starts;
 * after a successful attempt, commit, push, the PR record and the PR on
 * the forge; the worktree removed once pushed.  Each step is journaled
 * (agq-journal(5)): worktree, commit, push, pr_open.  Uses util, task,
 * spool, journal, git and forge; conventions are those of util.h.
 *
 * Every step can be repeated: a retried or reclaimed attempt finds its
 * worktree or branch again (agq_git_start_task), a branch whose commits
 * are already there needs no new commit, a push of a pushed branch changes
 * nothing, and the PR record and the forge's PR are found by branch
 * (agq_pr_open, agq_forge_open).  So a crash between any two steps ends,
 * after the retry, with exactly one commit chain, one PR record, one forge
 * PR and one pr_open event (the record's "journaled" member says the
 * event is written; a crash between the event and that rewrite is the one
 * window in which a second pr_open event can be written).
 */
#ifndef AGQ_TASKGIT_H
#define AGQ_TASKGIT_H

#include <limits.h>
#include <stddef.h>
#include <jansson.h>
#include "spool.h"
#include "git.h"

/* One task's git chain. */
struct agq_taskgit {
	char id[65];            /* the task's id */
	char agent[128];        /* the agent running it ("agq-git" by hand) */
	const char *repo;       /* the origin (borrowed from the task) */
	const char *base;       /* the base branch, default "main" */
	const char *branch;     /* the branch asked for, or NULL */
	int pr;                 /* 1: open a PR (git.pr, default true) */
	int draft;              /* 1: as a draft (git.draft) */
	struct agq_worktree wt; /* agq_taskgit_begin's worktree */
	char dir[PATH_MAX];     /* where the task runs: the worktree, or its
	                         * subdirectory named by the task's cwd */
	char sha[41];           /* the commit pushed, once agq_taskgit_finish
	                         * has committed or found it */
	int pushed;             /* 1: the branch is on the origin */
	json_t *rec;            /* the PR record, once opened (owned) */
	char mission[65];       /* the task's mission when it shares one
	                         * branch and PR (pr_unit "mission"), else "" */
	char mbranch[256];      /* then its branch, "mission/ID-SLUG" */
	int retry;              /* agq_taskgit_finish failed at the forge
	                         * with an answer worth retrying (5xx, 429,
	                         * unreachable: AGQ_FORGE_RETRY) */
};

/* The text a task's branch slug and commit subject come from: its title,
 * else its prompt, else its cmd (a string, or an array's words joined by
 * spaces), into BUF (SIZE bytes); its first line only. */
void agq_taskgit_title(const json_t *t, char *buf, size_t size);

/* Start the chain of task T (it has a valid "git" field, agq-task(5))
 * run by AGENT: G filled from T; the worktree made or found
 * (agq_git_start_task: fetch, branch AGENT/SLUG, locked; a task back for
 * another round of review, one with "pr", through agq_git_resume_task on
 * its PR record's branch, else its last attempt's, whichever agent or
 * host runs it); G->dir is the
 * worktree, or WORKTREE/CWD for a task whose cwd (relative) names a
 * directory in it; the `worktree` event journaled {agent, repo, branch,
 * base, head, path, reused}.  0, or -1 with ERR ("cannot fetch ...", "no
 * base branch main on ORIGIN", "cwd src: no such directory in the
 * worktree").  Call agq_taskgit_free(G) whatever it returns. */
int agq_taskgit_begin(const struct agq_spool *sp, const json_t *t,
                      const char *agent, struct agq_taskgit *g, char *err,
                      size_t size);

/* What agq_taskgit_finish did, when it did not finish. */
enum agq_taskgit_rc {
	AGQ_TG_FAIL = -1,       /* a step failed: ERR says which and why */
	AGQ_TG_OK = 0,          /* committed (or found), pushed, PR opened */
	AGQ_TG_NOCHANGE = 1,    /* nothing to commit and no commit on the
	                         * branch: ERR "no changes" */
	AGQ_TG_REJECTED = 2     /* the origin refused the push: ERR "cannot
	                         * push: push rejected: REASON" */
};

/* The first step of agq_taskgit_finish alone: commit every change of
 * G's worktree with subject TITLE and body BODY (may be NULL), or find
 * the commit of an earlier attempt (the branch ahead of its base), its
 * sha into G->sha; `commit` journaled for a new commit.  Nothing is
 * pushed: for a task waiting for approval before its push (agq-task(5),
 * approval).  AGQ_TG_OK, AGQ_TG_NOCHANGE or AGQ_TG_FAIL, ERR filled when
 * not OK. */
int agq_taskgit_commit(const struct agq_spool *sp, struct agq_taskgit *g,
                       const char *title, const char *body, char *err,
                       size_t size);

/* Finish the chain of G (after agq_taskgit_begin, or with G->wt.path,
 * G->id, G->agent, G->repo, G->base filled by the caller): commit every
 * change of the worktree with subject TITLE and body BODY (the
 * verification summary, may be NULL) (agq_git_commit; when there is no
 * change but the branch is ahead of its base, its tip is the commit: a
 * retry after a crash), journal `commit` {agent, repo, branch, sha,
 * files, insertions, deletions (the branch against its base)}; push it
 * (agq_git_push), journal `push` {agent, repo, branch, sha}; unless
 * G->pr is 0, open the PR record (agq_pr_open; an open one found with
 * another head, a new round's push, gets G->sha as head, rewritten) and,
 * when a forge is configured, the forge's PR (agq_forge_open, described
 * by T through agq_pr_body_from_task with BODY as its verification
 * summary, T may be NULL), then journal `pr_open` {agent, repo, branch,
 * sha, pr, url, number} once per record.  Returns an enum agq_taskgit_rc, with ERR
 * filled when not OK ("cannot commit: ...", "cannot push: ...", "cannot
 * open the pull request: github answered 401: ...", and "cannot open the
 * pull request now: ..." with G->retry set). */
int agq_taskgit_finish(const struct agq_spool *sp, const json_t *t,
                       struct agq_taskgit *g, const char *title,
                       const char *body, char *err, size_t size);

/* What G has come to, as a new object for agent.json and the attempt
 * record: {repo, base, branch, head (the commit, or the worktree's tip),
 * worktree (path), pushed (bool), pr (the record's id or null), url,
 * number}. */
json_t *agq_taskgit_info(const struct agq_taskgit *g);

/* End G's attempt: unlock the worktree; when REMOVE and the branch is
 * pushed, remove the worktree (agq_git_remove, never forced: a worktree
 * whose branch is not on the origin stays for the retry or for agq-git
 * gc).  0, or -1 with ERR. */
int agq_taskgit_end(struct agq_taskgit *g, int remove, char *err,
                    size_t size);

/* The one PR of MISSION when its tasks share a branch (its record's
 * pr_unit "mission", agq-mission(1) "One PR per mission") and it is done
 * (agq_mission_state): under an flock(2) of missions/MISSION.prlock, so
 * that two callers at once open it once, and again after a crash at any
 * step: the PR record of its branch "mission/ID-SLUG" on the origin of
 * its first git task (agq_pr_open, its "task" the mission's id, with
 * "mission" and "tasks" [{id, title}] added), head the branch's tip on
 * the origin; the forge's PR (agq_forge_open: titled with the mission's
 * title, its body listing the tasks and the acceptance criteria);
 * `pr_open` {agent (AGENT, "agq" when NULL), repo, branch, sha, pr, url,
 * number, mission, tasks} journaled once (the record's "journaled"); the
 * mission record's "pr" set (agq_mission_save).  0 opened (now or
 * before); 1 nothing to do (not such a mission, or not done); -1 with
 * ERR (SIZE bytes): the mission cannot be read, no task of it pushed, the
 * forge refused ("cannot open the pull request now: ..."). */
int agq_taskgit_mission_pr(const struct agq_spool *sp, const char *mission,
                           const char *agent, char *err, size_t size);

/* Free what G holds (its PR record).  G itself is the caller's. */
void agq_taskgit_free(struct agq_taskgit *g);

#endif
