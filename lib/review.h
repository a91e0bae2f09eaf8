/*
 * review.h - review.c: a coder task's pull request under review
 * (agq-spool(5), "Review and approval"; agq-task(5), review, merge,
 * approval; issue 18).
 *
 * Three parts: people's verdicts, the files reviews/ID/ROUND.user-UID-
 * UNIQUE.json (written once, read a round at a time); the decision over
 * a coder task in review/ (agq_review_decide: pure, lifecycle.c's style);
 * and the actions that carry a decision out on the spool (review tasks
 * and the merge task submitted with their fixed ids, the coder task
 * moved with agq_lc_record), each journaled and each idempotent: a
 * scheduler killed between two steps and started again takes the same
 * decision once.  The people's side (agq-pr approve, request-changes,
 * deny, close) is here too, below the forge: agq-pr closes the forge's
 * PR and moves the PR record itself.  Uses util, task, spool, lifecycle,
 * journal and lease.
 */
#ifndef AGQ_REVIEW_H
#define AGQ_REVIEW_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "spool.h"

/* review.required is at most this (agq-task(5)). */
#define AGQ_REVIEW_MAX 9

/* The longest id a task with review or merge may have: its review tasks
 * are ID-rN-K (N up to 20, K up to 9) and merge tasks ID-mN, at most 64
 * bytes (agq_id_valid). */
#define AGQ_REVIEW_ID_MAX 56

/* Review task K (1-based) of ROUND of coder task ID, "ID-rROUND-K", into
 * BUF (at least 65 bytes); merge try N, "ID-mN".  Returns BUF. */
char *agq_review_task_id(char *buf, const char *id, long round, int k);
char *agq_merge_task_id(char *buf, const char *id, int n);

/* The review settings of T with their defaults (agq-task(5)): required
 * (1 with review, 0 without), max_rounds (2), cap ("review"), agents (1
 * when review has a cmd, a prompt or a backend: review tasks are
 * queued; 0: people review with agq-pr only). */
struct agq_review_conf {
	int required, max_rounds, agents;
	const char *cap;        /* borrowed from T, or static */
};
void agq_review_conf(const json_t *t, struct agq_review_conf *c);

/* ---- people's verdicts: reviews/ ---------------------------------------- */

/* Write a person's verdict on the PR of coder task T (in review/: its
 * id, pr, round and head are the file's): VERDICT "approve" or
 * "request_changes", TEXT the comment (may be NULL: none), by UID and
 * USER (may be NULL), at NOW_US, as reviews/ID/ROUND.user-UID-UNIQUE.json
 * (agq-spool(5)), written in tmp/ and linked in without replacing
 * anything (never rewritten), fsynced.  *OUT (when not NULL) gets the
 * file's content, a new reference.  0, or -1 with errno (EINVAL: T has
 * no pr, head or id). */
int agq_review_verdict_write(const struct agq_spool *sp, const json_t *t,
                             const char *verdict, const char *text,
                             uid_t uid, const char *user, int64_t now_us,
                             json_t **out);

/* The people's verdicts of ROUND of task ID whose "head" is HEAD: a new
 * array of the files' objects, oldest "at" first (files that do not
 * parse are skipped).  An empty array when there are none. */
json_t *agq_review_verdicts_read(const struct agq_spool *sp, const char *id,
                                 long round, const char *head);

/* ---- the decision (pure) ----------------------------------------------- */

/* What the scheduler knows of a coder task in review/. */
struct agq_review_facts {
	const json_t *task;     /* the coder task (borrowed) */
	/* review task K+1 of the task's round: its state (AGQ_ST_NONE:
	 * not submitted), and when it ended, its verdict object (done) or
	 * its reason (dead), borrowed */
	int rstate[AGQ_REVIEW_MAX];
	const json_t *rverdict[AGQ_REVIEW_MAX];
	const char *rreason[AGQ_REVIEW_MAX];
	const char *ragent[AGQ_REVIEW_MAX]; /* the agent its last attempt
	                         * ran on, or NULL */
	const json_t *people;   /* agq_review_verdicts_read of the round */
	int merge_n;            /* the newest merge task's try (0: none) */
	int merge_state;        /* its state */
	long merge_round;       /* the coder's round it was queued in */
	const char *merge_reason; /* its reason (borrowed), or NULL */
	int pr_state;           /* the task's PR record: 0 open (or none),
	                         * AGQ_ST_DONE in prs/merged/ (agq-pr poll
	                         * or agq-pr merged), AGQ_ST_DEAD in
	                         * prs/closed/ (closed on the forge and seen
	                         * by agq-pr poll, or by a person: agq-pr
	                         * close, agq-pr closed) */
	const json_t *pr_closed; /* AGQ_ST_DEAD: the record's "closed"
	                         * {by, at} (by "forge") or {by, uid, text,
	                         * at} (a person's agq-pr close), or NULL
	                         * (agq-pr closed); borrowed */
};

enum agq_review_act {
	AGQ_RV_WAIT,            /* nothing to do yet */
	AGQ_RV_SUBMIT,          /* queue the review tasks in missing[] */
	AGQ_RV_CHANGES,         /* back to the queue with feedback, round+1 */
	AGQ_RV_CONFLICT,        /* the same, with update_from_base */
	AGQ_RV_DEAD,            /* dead/ with reason */
	AGQ_RV_APPROVAL,        /* approval/, approval_for "merge" */
	AGQ_RV_MERGE,           /* queue merge task merge_n */
	AGQ_RV_DONE,            /* done/ */
	AGQ_RV_HEAD             /* a new round at head (the branch moved
	                         * after approval): stays in review/ */
};

struct agq_review_dec {
	int act;                /* enum agq_review_act */
	int rule;               /* the AGQ_LC_ row of a move, else -1 */
	int missing[AGQ_REVIEW_MAX]; /* SUBMIT: 1 for each K-1 to queue */
	int merge_n;            /* MERGE: the try to queue */
	int approvals, required; /* distinct approvals counted, needed */
	long round;             /* the task's round */
	char reason[800];       /* the move's reason, in words */
	char *feedback;         /* CHANGES, CONFLICT: review_feedback
	                         * (malloc'd; agq_review_dec_free) */
	int ncomments;          /* comments in it */
	char head[41];          /* HEAD: the branch's new tip */
};

/* The one decision over F (agq-spool(5), "Review and approval";
 * review18's THE SCHEDULER 1-5), in this order:
 *   the merge task of the round exists: done -> DONE; dead with a reason
 *   starting "conflict" or "verify failed on the merge" and no conflict
 *   iteration spent (try 1) -> CONFLICT; dead with "head moved: BRANCH
 *   is at SHA, ..." (someone pushed to the PR's branch after approval)
 *   and rounds left (the round below 20, review ids' bound) -> HEAD (rule
 *   AGQ_LC_REVIEW_HEAD, D->head SHA: reviewed again as it is, no coder
 *   run); dead otherwise -> DEAD with its reason; else WAIT;
 *   the PR merged -> DONE, closed (by anyone) -> DEAD (pr_state);
 *   review tasks of the round missing (agent reviewers) -> SUBMIT;
 *   a person's request_changes (their last verdict of the round) ->
 *   CHANGES, or DEAD after max_rounds (the rounds a moved head started,
 *   the task's head_rounds, not counted);
 *   a review task dead -> DEAD "review task ID: REASON";
 *   every review task ended and one requested changes -> as above;
 *   approvals (distinct: each review task, each person by uid) >=
 *   required -> APPROVAL (approval before_merge, "merge" not approved),
 *   MERGE (merge on-approval), else DONE;
 *   else WAIT.
 * D is filled; free it with agq_review_dec_free. */
void agq_review_decide(const struct agq_review_facts *f,
                       struct agq_review_dec *d);
void agq_review_dec_free(struct agq_review_dec *d);

/* The decision over a coder task in approval/ (F's task, pr_state and
 * pr_closed only): its PR merged -> DONE (rule AGQ_LC_APPROVAL_DONE,
 * "pull request PRID merged"), closed -> DEAD (AGQ_LC_APPROVAL_DEAD,
 * "pull request PRID closed unmerged on the forge", "pull request closed by
 * USER: TEXT" for a person's agq-pr close, "... closed (agq-pr closed)" for a
 * record moved by hand), as agq_review_decide ends one in review/ (even
 * one arriving there after its PR was closed); else WAIT (agq-pr
 * approve, deny or close decide).  D is
 * filled (nothing to free, agq_review_dec_free harmless). */
void agq_review_decide_approval(const struct agq_review_facts *f,
                                struct agq_review_dec *d);

/* ---- the actions -------------------------------------------------------- */

/* Look at coder task ID if it is in review/: gather its facts, decide,
 * and carry the decision out (under its task lock): review tasks and the
 * merge task delivered with their fixed ids (a duplicate is not queued
 * again), `review_start` {pr, round, head, tasks} journaled when one was
 * queued; the task moved by agq_lc_record with its event
 * (review_changes {pr, round, from_round, comments, reason, to}, dead,
 * approval_wait, done; for HEAD the task rewritten in review/ with
 * head the new tip, round + 1 and "approved" removed, event review_wait
 * {pr, round, from_round, head, reason "head moved to SHA: reviewed
 * again", approvals_cleared, by, to}).  *ACT (when not NULL) gets the action taken
 * (enum agq_review_act).  0 (also when ID is not in review/), or -1 with
 * errno. */
int agq_review_step(const struct agq_spool *sp, const char *id, int *act);

/* agq_review_step for every task in review/; SEEN(ID, ARG), when not
 * NULL, is called first for each (agq-sched watches reviews/ID there).
 * Then every task in approval/ whose PR was merged or closed on the
 * forge ended (agq_review_decide_approval; SEEN is not called for them).
 * Returns the number of tasks that moved or had tasks queued, or -1 with
 * errno when review/ or approval/ cannot be read. */
int agq_review_scan(const struct agq_spool *sp,
                    void (*seen)(const char *id, void *arg), void *arg);

/* ---- people: agq-pr approve | request-changes | deny | close ------------ */

enum agq_review_verb {
	AGQ_PR_APPROVE, AGQ_PR_REQUEST_CHANGES, AGQ_PR_DENY, AGQ_PR_CLOSE
};

/* A person's VERB on coder task ID, with TEXT (may be NULL), by UID and
 * USER (may be NULL), agq-pr(1):
 *   approve: in approval/, "push" or "merge" (its approval_for) added
 *   to approved and the task to its lane (push: attempts reset, the next
 *   attempt pushes the commit) or back to review/ (merge); in review/,
 *   an approving verdict file for the round (agq_review_verdict_write);
 *   request-changes: in review/, a verdict file;
 *   deny: in approval/, dead/ "denied by USER: TEXT";
 *   close: in review/ or approval/, dead/ "pull request closed by USER";
 *   queued, deferred, held or active, ended as agq-cancel ends it
 *   (agq_lc_op "cancel": an active run's generation bumped) with that
 *   reason, `cancel` {from, to, by, reason, pr} and `pr_close` {..., to}
 *   journaled; done or dead, left (the PR record and the forge are the
 *   caller's).
 * Journaled: approve {pr, for (push, merge, review), uid, user, text},
 * review {parent, pr, round, head, verdict, comments, uid, user} for a
 * verdict, deny, pr_close {pr, uid, user, text}.  Works with no
 * scheduler running.  Returns 0; 1 when the task is not in a state for
 * VERB (ERR says where it is); -1 with errno (ENOENT: no such task).
 * ERR (SIZE bytes) gets a line for people either way: what was done or
 * why not. */
int agq_review_person(const struct agq_spool *sp, const char *id, int verb,
                      const char *text, uid_t uid, const char *user,
                      char *err, size_t size);

#endif
