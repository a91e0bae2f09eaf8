/*
 * git.h - git.c: a task's git work through libgit2 (issue 16): the clone
 * kept per origin, a worktree and a branch per task, commit, push, patch
 * apply, status, removal and gc of worktrees, and the PR records of the
 * spool (agq-spool(5), prs/).  Never runs git(1).  Uses util, conf, spool
 * and journal (agq_sha256_hex); conventions are those of util.h.
 *
 * Layout under the workspace root W (agq_git_workspace):
 *   W/KEY.git            a bare clone of one origin, remote "origin"
 *                        (+refs/heads/(*):refs/remotes/origin/(*)); KEY is
 *                        the origin's last path component, cleaned, a '-'
 *                        and 12 hex digits of the SHA-256 of the origin
 *   W/KEY.lock           flock(2)ed around fetch and the choice and making
 *                        of a task's branch (not its checkout), gc, and
 *                        the remote-tracking branch a push writes;
 *                        it holds the time the last good fetch began (us
 *                        since the epoch, decimal): a call that waited for
 *                        the lock while a fetch began does not fetch again
 *   W/KEY.trees/ID       the worktree of task ID (worktree name ID)
 * The task owning a branch and the branch's base are kept in the clone's
 * config as branch.BRANCH.agqtask and branch.BRANCH.agqbase.
 *
 * Functions taking ERR (SIZE bytes) fill it with one line saying what
 * failed and why (libgit2's message, git_error_last) when they fail.
 */
#ifndef AGQ_GIT_H
#define AGQ_GIT_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* libgit2's global state (git_libgit2_init(3)); idempotent, counted.
 * Every function below calls it itself; a program calls
 * agq_git_lib_done() before exiting to free it (optional). */
void agq_git_lib_init(void);
void agq_git_lib_done(void);

/* The workspace root: the agq.conf setting workspace_root, else the
 * spool's path with ".work" appended (SPOOL.work).  malloc'd. */
char *agq_git_workspace(const struct agq_spool *sp);

/* The branch name part SLUG made from TEXT (a title or a prompt): ASCII
 * letters lowered, every run of other bytes one '-', no '-' at either end,
 * at most 48 bytes ([a-z0-9-]{1,48}); "task" when nothing is left.  Into
 * OUT (>= 49 bytes); returns OUT. */
char *agq_git_slug(const char *text, char *out);

/* The bare clone of ORIGIN (a path, file://, ssh://, scp-style
 * user@host:path, or https:// URL; a relative path is made absolute)
 * under the workspace root, cloned on first use and fetched on every call
 * (unless a fetch began after this call did: W/KEY.lock above), so that
 * refs/remotes/origin/(*) are the origin's newest as of the call.  The path of
 * the clone (W/KEY.git) goes to *CLONE (malloc'd).  0, or -1 with ERR
 * ("cannot fetch: ..."). */
int agq_git_sync_origin(const struct agq_spool *sp, const char *origin,
                        char **clone, char *err, size_t size);

/* A task's worktree (agq_git_start_task). */
struct agq_worktree {
	char path[4096];        /* the worktree's directory, W/KEY.trees/ID */
	char branch[256];       /* its branch, e.g. "claude/fix-the-typo" */
	char base[256];         /* the base branch on the origin, "main" */
	char head[41];          /* the branch's tip, hex */
	int reused;             /* 1: the task's existing branch (a retry) */
};

/* Give task ID a worktree of ORIGIN: agq_git_sync_origin, then, under the
 * clone's lock: when ID's worktree exists, that one; else when BRANCH (or,
 * when BRANCH is NULL, AGENT/SLUG with SLUG = agq_git_slug(SLUGTEXT),
 * AGENT "agq" when NULL) belongs to ID, a worktree on it with its commits;
 * when it belongs to another task or is on the origin, SLUG-2, SLUG-3 ...
 * (an explicit BRANCH is not renamed: EEXIST); else a new branch from
 * refs/remotes/origin/BASE's tip (BASE NULL: "main").  The worktree is
 * locked (git_worktree_lock(3), reason "agq task ID") until
 * agq_git_unlock; two tasks never share one.  Fills WT.  0, or -1 with
 * ERR ("no base branch main on ORIGIN", "branch X belongs to task Y"). */
int agq_git_start_task(const struct agq_spool *sp, const char *origin,
                       const char *base, const char *agent,
                       const char *slugtext, const char *branch,
                       const char *id, struct agq_worktree *wt, char *err,
                       size_t size);

/* Task ID's worktree of ORIGIN on BRANCH, the branch its pull request
 * already has (a later review round, or a retry after its push), so that
 * a round run by another agent, or on another host, continues the same
 * branch and pull request instead of opening a new one: ID's worktree
 * when it exists; else the local BRANCH when it is ID's and the origin's
 * is not newer (git_graph_descendant_of(3)); else a local BRANCH made (or
 * reset) at the origin's tip, marked ID's.  Never a new branch from BASE:
 * -1 with errno ENOENT and ERR when the origin has no BRANCH.  Locked and
 * filled as agq_git_start_task; WT->reused is 1.  0, or -1 with ERR. */
int agq_git_resume_task(const struct agq_spool *sp, const char *origin,
                        const char *base, const char *branch,
                        const char *id, struct agq_worktree *wt, char *err,
                        size_t size);

/* A worktree of ORIGIN for task ID detached at the commit SHA (40 hex
 * digits), for a task that reads a commit and makes none (a review task,
 * agq-task(5) "kind"): agq_git_sync_origin, then W/KEY.trees/ID checked
 * out at SHA with a detached HEAD (a branch agq-detached/ID made for the
 * checkout, libgit2 knowing no other way, and its ref deleted after it:
 * git_reference_delete(3), not git_branch_delete, whose config cleanup
 * leaks in libgit2 1.5's git_regexp_match), locked
 * as agq_git_start_task's are; a worktree ID left by an earlier attempt
 * is removed first.  Fills WT's path and head (branch and base empty).
 * Remove it with agq_git_remove(PATH, 1, ...) when done.  0, or -1 with
 * ERR and errno (EINVAL a bad ID or SHA; ENOENT "commit SHA is not on
 * ORIGIN", after the fetch). */
int agq_git_detached(const struct agq_spool *sp, const char *origin,
                     const char *sha, const char *id,
                     struct agq_worktree *wt, char *err, size_t size);

/* The origin and base a task submitted from the repository at or above
 * DIR should have (agq-git submit): *ORIGIN the URL of its remote
 * "origin" (remote.origin.url), else the repository itself (its work
 * tree, or its directory when bare); *BASE the branch HEAD is on, or,
 * when that branch has an upstream on origin (branch.B.remote "origin",
 * branch.B.merge refs/heads/U), U.  Both malloc'd.  0, or -1 with ERR
 * ("not a git repository", "HEAD is not on a branch"). */
int agq_git_here(const char *dir, char **origin, char **base, char *err,
                 size_t size);

/* Unlock the worktree at PATH (the task has ended).  0 (also when it was
 * not locked), or -1 with ERR. */
int agq_git_unlock(const char *path, char *err, size_t size);

/* Commit every change of the worktree at PATH, untracked files included
 * and .gitignore'd files excluded (git_index_add_all(3),
 * git_index_update_all(3)), on its branch: subject TITLE (its first line),
 * a blank line, BODY when not NULL or empty, and the trailer "Agq-Task:
 * ID" (git-interpret-trailers(1)).  Author and committer are the agq.conf
 * settings git_author_name and git_author_email of SP (defaults "agq" and
 * "agq@HOSTNAME"), never the task's.  The new commit's id goes to SHA (41
 * bytes).  When a merge is in progress in the worktree (MERGE_HEAD, left
 * by agq_merge_update_from_base), the commit has two parents, HEAD and
 * MERGE_HEAD, is made even when the tree is HEAD's, and ends the merge
 * (git_repository_state_cleanup(3)).  0 committed; 1 no change at all (nothing committed: the caller
 * fails the attempt with "no changes"); -1 with ERR. */
int agq_git_commit(const struct agq_spool *sp, const char *path,
                   const char *title, const char *body, const char *id,
                   char sha[41], char *err, size_t size);

/* The signature agq's commits carry as author and committer: the agq.conf
 * settings git_author_name and git_author_email of SP (defaults "agq" and
 * "agq@HOSTNAME"), at the current time (git_signature_now(3)).  *SIG is
 * the caller's to git_signature_free.  0, or -1 (libgit2's error: a bad
 * name or email). */
struct git_signature;
int agq_git_signature(const struct agq_spool *sp, struct git_signature **sig);

/* Push the branch of the worktree at PATH to its origin, fast-forward
 * only (refs/heads/B:refs/heads/B, no '+').  Credentials, asked for by
 * the remote only: the key file of the agq.conf setting git_ssh_key (its
 * public key beside it as KEY.pub when present), else ssh-agent, for ssh;
 * the token on the first line of the file named by git_token_file, as the
 * password of user "x-access-token" (GitHub, Gitea), for https.  Never
 * from the task.  0 pushed (refs/remotes/origin/B updated); 1 the remote
 * rejected it, with ERR its reason (the per-reference status of
 * push_update_reference, or libgit2's, e.g. "cannot push
 * non-fastforwardable reference"); -1 with ERR for any other failure. */
int agq_git_push(const struct agq_spool *sp, const char *path, char *err,
                 size_t size);

/* Push commit SHA (40 hex digits, in the bare clone CLONE, agq_git_sync_
 * origin's) to refs/heads/BRANCH of the clone's origin, never forced: the
 * origin's BRANCH must be an ancestor of SHA.  Through a reference
 * refs/agq/push/SHA of the clone, deleted after; credentials as
 * agq_git_push's.  To an origin on this file system (agq_origin_local),
 * whose push libgit2's local transport does not check against a branch
 * moved meanwhile, the commit goes over under refs/agq/push/SHA of the
 * origin and BRANCH is moved with git_reference_create_matching(3) from
 * the value SHA descends from (a compare-and-swap under the origin's
 * reference lock, as git-receive-pack(1) checks a push; a lock held by
 * another writer is waited for up to 100 ms), so of two pushes at once
 * one wins and the other is refused, never lost.  0 pushed
 * (refs/remotes/origin/BRANCH set to SHA), 1 rejected (ERR "push
 * rejected: ..."), -1 with ERR. */
int agq_git_push_commit(const struct agq_spool *sp, const char *clone,
                        const char *sha, const char *branch, char *err,
                        size_t size);

/* Is BRANCH on the origin of the bare clone CLONE (agq_git_sync_origin's),
 * as of its last fetch (refs/remotes/origin/BRANCH)?  1 with its tip in
 * SHA (41 bytes), 0 not (SHA empty), -1 the clone cannot be opened. */
int agq_git_remote_tip(const char *clone, const char *branch, char sha[41]);

/* The commits reachable from SHA and not from ONTO (both 40 hex digits,
 * in the bare clone CLONE), oldest first, replayed on ONTO one by one
 * (git_cherrypick_commit(3), as git-rebase(1) does), each keeping its
 * author and message, committed by agq (agq_git_signature); a commit
 * whose change ONTO has already is dropped.  The last commit's id goes
 * to OUT (41 bytes; ONTO when nothing was left).  Nothing is pushed and
 * no reference moves.  0; 1 a commit conflicts with ONTO (ERR "commit X
 * conflicts with Y"); -1 with ERR (a merge commit cannot be replayed). */
int agq_git_replay(const struct agq_spool *sp, const char *clone,
                   const char *sha, const char *onto, char out[41],
                   char *err, size_t size);

/* Apply PATCH (LEN bytes of a unified diff, git diff or diff -u format) to
 * the work tree at PATH (git_diff_from_buffer(3), git_apply(3) with
 * GIT_APPLY_LOCATION_WORKDIR): all of it or nothing.  0; 1 when it does
 * not apply, with ERR libgit2's reason ("patch does not apply: ..."), -1
 * for other failures (ERR). */
int agq_git_apply(const char *path, const char *patch, size_t len,
                  char *err, size_t size);

/* The state of the worktree (or any work tree) at PATH as a new object:
 * {"path", "branch" (null when HEAD is detached), "task" and "base" (null
 * when not an agq worktree), "head" (sha), "origin" (remote origin's URL
 * or null), "ahead", "behind" (commits
 * against refs/remotes/origin/BASE, null without it), "files",
 * "insertions", "deletions" (the diff of that base, else of HEAD, to the
 * work tree with the index), "uncommitted" (changed or untracked paths,
 * git_status_list_new(3)), "locked" (bool)}.  NULL with ERR. */
json_t *agq_git_status(const char *path, char *err, size_t size);

/* Remove the worktree at PATH: its directory and its administrative files
 * in the clone (git_worktree_prune(3) with _VALID, _LOCKED and
 * _WORKING_TREE); the branch and every object stay, so nothing another
 * worktree needs is pruned.  Unless FORCE, only when the branch is pushed
 * (its tip is refs/remotes/origin/BRANCH's) and not locked: else EBUSY
 * with ERR saying why.  0, or -1 with ERR. */
int agq_git_remove(const char *path, int force, char *err, size_t size);

/* The worktrees of every clone under SP's workspace root as a new array
 * of {"path", "clone", "task", "branch", "locked", "state" (the task's
 * state name, or null when no task has the id), "orphan"}: an orphan is
 * one whose task is done or dead, or one that no task owns and that is
 * not locked (a running task's is never one).  When REMOVE, orphans are
 * removed (agq_git_remove with FORCE) and "removed" set true, or "error"
 * set.  NULL with ERR when the workspace cannot be read (a missing one is
 * an empty array). */
json_t *agq_git_gc(const struct agq_spool *sp, int remove, char *err,
                   size_t size);

#endif
