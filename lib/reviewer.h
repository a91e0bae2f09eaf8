/*
 * reviewer.h - reviewer.c: one attempt of a review task (agq-task(5),
 * "kind": "review"; issue 18): a worktree detached at the commit under
 * review, the reviewer (a cmd, or an agent through a backend) run there,
 * its verdict recorded in agent.json and posted on the forge as a pull
 * request review.  Uses util, conf, steps, task, spool, open, git and
 * forge; conventions are those of util.h.
 */
#ifndef AGQ_REVIEWER_H
#define AGQ_REVIEWER_H

#include <stddef.h>
#include <jansson.h>

/* Bytes of a reviewer cmd's standard output kept as its comment: 64 KiB
 * (the rest is read and dropped, the comment ends in a note). */
#define AGQ_REVIEW_OUT_MAX (64u << 10)
/* Bytes of the diff an agent reviewer is shown: 256 KiB, then a note. */
#define AGQ_REVIEW_DIFF_MAX (256u << 10)
/* Bytes of the comments joined in the `review` event: 4 KiB. */
#define AGQ_REVIEW_EVENT_MAX 4096

/* A backend call made for the reviewer by its caller (attempt.c, which
 * holds the agent's keys): INPUT is a task-shaped object (prompt, backend,
 * model, route ...) as agq-backend(7) reads it; ARG the caller's.  Returns
 * the backend's result object (new reference) when its status is "ok";
 * else NULL, the attempt's record already saying why, with *RC the
 * attempt's exit status (1, or 75 for a usage or rate limit). */
typedef json_t *agq_review_call(const json_t *input, void *arg, int *rc);

/* The verdict in an agent reviewer's answer TEXT (may be NULL): the
 * whole text (blanks around it aside) a JSON object, or the first
 * ```json fenced block in it one; its "verdict" "approve" or
 * "request_changes", its "comments" (may be absent: none) an array of
 * strings; other members are ignored.  Returns a new object {"verdict",
 * "comments"}, or NULL with WHY (SIZE bytes) saying what was wrong ("no
 * JSON object in the answer", "verdict \"maybe\" is not approve or
 * request_changes", "comments is not an array of strings", ...). */
json_t *agq_review_parse(const char *text, char *why, size_t size);

/* The text an agent reviewer is given (agq-task(5), "Review tasks"): the
 * review task T's prompt (or a default one), the coder task PARENT's
 * title, prompt, success_criteria and verification report (its
 * verify_report, else its last attempt's "verify"; PARENT may be NULL:
 * not found), the DIFF (unified text, may be NULL) in a fence longer than
 * any run of backticks in it, and the answer's contract.  malloc'd. */
char *agq_review_prompt(const json_t *t, const json_t *parent,
                        const char *diff);

/* The diff BASE...HEAD of the repository (or worktree) at PATH: from the
 * merge base of refs/remotes/origin/BASE and the commit HEAD (40 hex
 * digits) to HEAD (git_merge_base(3), git_diff_tree_to_tree(3),
 * git_diff_to_buf(3), patch format with a/ and b/ prefixes), at most MAX
 * bytes, cut at a line's end with the note "[diff cut: N of M bytes
 * shown]".  malloc'd; NULL with ERR (SIZE bytes) when PATH, BASE or HEAD
 * cannot be read. */
char *agq_review_diff(const char *path, const char *base, const char *head,
                      size_t max, char *err, size_t size);

/* Run one attempt of review task T (a task with "kind": "review",
 * "parent", "round", "pr", "head" and "git": {"repo", "base"}) as agent
 * AGENT, in the spool $AGQ_SPOOL, recording into AG (agent.json's object:
 * "status", "error", "verdict", "forge_review", "forge_error", "git"):
 * the worktree detached at head (agq_git_detached), then
 *  - with a "cmd": the cmd run there (a string with /bin/sh -c, an array
 *    by execvp(3)), with AGQ_PR, AGQ_PARENT, AGQ_HEAD, AGQ_BASE, AGQ_ROUND
 *    and AGQ_WORKTREE in its environment, standard input /dev/null,
 *    standard error the task's, standard output read (AGQ_REVIEW_OUT_MAX
 *    bytes kept): exit 0 approves, any other exit status requests
 *    changes, its output the comment; killed by a signal, or 126/127 (it
 *    could not run: the shell's conventions), the attempt fails, with no
 *    verdict;
 *  - else an agent: CALL (with ARG) given the review task with its
 *    prompt replaced by agq_review_prompt (the parent read from the spool,
 *    the diff by agq_review_diff, AGQ_REVIEW_DIFF_MAX), run in the
 *    worktree; an answer agq_review_parse refuses fails the attempt with
 *    the error "reviewer answered no verdict: WHY" (status "no_verdict").
 * The verdict {"verdict", "comments", "head"} goes to AG's "verdict";
 * with a forge configured (agq.conf) it is posted as a review of the PR
 * of record "pr" (agq_forge_review): AG's "forge_review" is the event
 * the forge took, or "forge_error" why it took none (the verdict stands).
 * The worktree is removed at the end.  Returns the attempt's exit status:
 * 0 a verdict, 1 failed (AG's "error" says why), or CALL's *RC. */
int agq_review_attempt(const json_t *t, const char *agent, json_t *ag,
                       agq_review_call *call, void *arg);

#endif
