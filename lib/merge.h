/*
 * merge.h - merge.c: merging a reviewed pull request into its base (issue
 * 18, agq-task(5) "Merge tasks"): a task with "kind": "merge" run by an
 * agent (attempt.c), with libgit2 in the origin's clone or through the
 * forge's merge API; the PR state polled from the forge (agq-pr poll); the
 * coder's conflict iteration (its worktree updated from its base).  Uses
 * util, task, spool, journal, verify, git and forge; conventions are
 * those of util.h.
 *
 * A merge task (agq-task(5)): "kind" "merge", "parent" (the coder task's
 * id), "pr" (the PR record's id), "head" (the sha to merge), "git"
 * {repo, base}, "merge_method" ("merge" default, "squash", "rebase") and
 * the parent's "verify" steps.
 */
#ifndef AGQ_MERGE_H
#define AGQ_MERGE_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* The exit status of a merge attempt that failed for good: a conflict,
 * "head moved", "verify failed on the merge: ..."; its agent.json has
 * "no_retry": true and agq-run sends the task to dead/ at once
 * (agq_lc_finish), where the scheduler decides what comes next. */
#define AGQ_MERGE_FINAL 2

/* Run merge task T as AGENT (agq-run(8), agq-task(5) "Merge tasks"):
 *   1. already merged?  the PR record in prs/merged/, or a commit of the
 *      origin's BASE (its first 1,000 from the tip) whose message has the
 *      trailer "Agq-PR: PRID", or (forge) the forge's PR merged: that
 *      outcome is recorded, nothing is merged again;
 *   2. the forge (forge set in agq.conf and the record has a number):
 *      agq_forge_merge;
 *   3. else, in the origin's clone (fetched): the PR branch's tip must be
 *      HEAD ("head moved: ..."), then git_merge_commits(3) of BASE's tip
 *      and HEAD (conflicts: "conflict: FILE, FILE"), the result by
 *      METHOD: "merge" a merge commit (parents BASE, HEAD), "squash" one
 *      commit on BASE (author HEAD's), "rebase" each commit of the branch
 *      not on BASE cherry-picked in order (git_cherrypick_commit(3),
 *      authors kept); committer agq_git_signature; the message (the last
 *      commit's for rebase) with the trailers "Agq-Task: PARENT" and
 *      "Agq-PR: PRID"; T's verify steps run in a worktree of the origin
 *      detached at the result (agq_git_detached with the merge task's id,
 *      removed after: a step's git(1) sees the merge as HEAD; "verify
 *      failed on the merge: N of M steps failed: LABEL, ..."); the result
 *      pushed to BASE, never forced (agq_git_push_commit); a push refused
 *      while base moved (another merge won the race) is redone in the
 *      same attempt, at most 3 times: fetched, merged onto the new base,
 *      verified and pushed again, each redo journaled (`merge_redo`); a
 *      push refused otherwise, or a fourth time, fails the attempt, to be
 *      retried;
 *   4. agq_merge_record.
 * AG (agent.json) gets status "done" and "merge" {pr, sha, method, base,
 * already (bool)}, or status "merge_failed", "error" and, for a failure
 * that must not be retried, "no_retry": true, and "verify" (the report).
 * Returns 0 merged (or found merged), AGQ_MERGE_FINAL, or 1 (to retry). */
int agq_merge_run(const struct agq_spool *sp, const json_t *t,
                  const char *agent, json_t *ag);

/* Record that PR record REC (with its "state", as agq_pr_find gives it)
 * was merged as commit SHA with METHOD (NULL: not known, JSON null) by BY
 * (an agent's name, or "forge"): REC gets "merged" {sha, method, at
 * (RFC 3339), by} (rewritten in prs/open/), the journal the event `merge`
 * {id: the coder task (REC's "task"), task: TASK (the merge task's id, or
 * null), pr, method, sha, base, source: SOURCE (when not NULL, "forge")},
 * then REC moves to prs/merged/.  A record already in prs/merged/ is left
 * alone (no second event).  0, or -1 with errno. */
int agq_merge_record(const struct agq_spool *sp, json_t *rec,
                     const char *sha, const char *method, const char *by,
                     const char *task, const char *source);

/* agq-pr poll: each record of prs/open/ with a "number" fetched from the
 * forge (agq_forge_pr_get, with the record's "etag" as If-None-Match):
 * 304 unchanged; merged -> agq_merge_record (method null, by "forge",
 * source "forge"); closed unmerged -> prs/closed/ and the event
 * `pr_close` {id: its task, pr, source: "forge"}; else the record's
 * "etag" kept.  *OUT (a new array) gets one {pr, task, number, state:
 * "unchanged"|"open"|"merged"|"closed"|"error", sha, error} per record
 * asked.  Returns 0, 1 when the forge refused one (4xx), EX_TEMPFAIL (75)
 * when one could not be asked (5xx, 429, no answer), EX_CONFIG (78) with
 * no forge set; the coder tasks are left to the scheduler (agq-sched
 * ends a task whose PR record is in prs/merged/ or prs/closed/). */
int agq_merge_poll(const struct agq_spool *sp, json_t **out);

/* The conflict iteration of a coder task (update_from_base true): merge
 * refs/remotes/origin/BASE (fetched by agq_git_start_task) into the
 * branch of the worktree at PATH (git_merge(3), conflict markers written
 * in the files, MERGE_HEAD left).  Up to date: 0, nothing done.  No
 * conflict: the merge commit made at once (agq_git_commit, two parents,
 * subject "Merge BASE into BRANCH", trailer "Agq-Task: ID"), 0.
 * Conflicts: 1, *CONFLICTS (a new array) the conflicted paths, the merge
 * left for the task to resolve (its commit, agq_git_commit, then has two
 * parents).  A merge already in progress (a retried attempt) is not
 * started again: its conflicts are listed.  -1 with ERR. */
int agq_merge_update_from_base(const struct agq_spool *sp, const char *path,
                               const char *base, const char *id,
                               json_t **conflicts, char *err, size_t size);

#endif
