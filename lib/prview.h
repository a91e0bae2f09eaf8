/*
 * prview.h - prview.c: a pull request's way from submit to merge (issue
 * 18), read from the journal, the task files, reviews/ and prs/: the
 * chain of agq-show(1) and the open and merged pull requests of
 * agq-dash(1).  Reads only.  Conventions are those of util.h.
 */
#ifndef AGQ_PRVIEW_H
#define AGQ_PRVIEW_H

#include <stddef.h>
#include "spool.h"

/* The coder task a review or merge task belongs to (agq-task(5), `kind`,
 * `parent`): TASK's "parent" when it is a valid id, else the PARENT of an
 * ID of the form PARENT-rN-K (a review task) or PARENT-mN (a merge task);
 * else ID itself.  Into BUF (65 bytes); returns BUF. */
char *agq_chain_root(const json_t *task, const char *id, char buf[65]);

/* The chain of coder task ROOT (agq_chain_root), oldest first, read from
 * SP's journal files (agq_journal_grep: back to ROOT's submit): the
 * events about ROOT, about its review tasks (ROOT-rN-K) and merge tasks
 * (ROOT-mN), and those naming ROOT as their "parent", of the names
 * agq_chain_events lists.  Each element is {"at": the event's ts, "ev",
 * then the event's members but its writer's (prog, pid, host, seq, prev)}
 * with, added: "attempt" (1..) on a coder's start; "comment" (the first
 * line of the first comment) on a review; before the coder's first start
 * after a round with request_changes verdicts, an element {"at", "ev":
 * "feedback", "round", "from": [who asked], "comments": [first lines]}
 * (what was fed back); on the last dead, "pr" and "pr_state" (the record's
 * state, prs/ of agq-spool(5)) when a PR record exists.  A new array. */
json_t *agq_chain(const struct agq_spool *sp, const char *root);

/* Call FN(event, ARG) for each line of SP's journal files that contains
 * the text NEEDLE (a task id: a cheap pre-filter) and parses as a JSON
 * object, oldest first, until FN returns non-zero; the event is borrowed
 * for the call (FN may change it).  The files are those of
 * agq_journal_files, read newest first (journal, then the rotated
 * journal.TIME files) back to the first one that holds NEEDLE's first
 * event (its submit, or its accept from inbox/: agq-journal(5)), no
 * further: a task submitted since the last rotation costs a read of the
 * current file alone, while one whose first event is in no file (lost in
 * a crash, or in a rotated file since removed) costs a read of them all
 * (agq-show(1), CAVEATS).  A rotated file removed meanwhile is skipped.
 * The events of the files read are held in memory until FN has seen
 * them.  Returns FN's last value, 0 also without a journal, or -1 with
 * errno when the spool directory or a file cannot be read (FN is still
 * called for the newer files' events). */
int agq_journal_grep(const struct agq_spool *sp, const char *needle,
                     int (*fn)(json_t *ev, void *arg), void *arg);

/* The journal events agq_chain takes, NULL-terminated. */
extern const char *const agq_chain_events[];

/* The review state of the open PR record REC (prs/open/, agq-spool(5))
 * from its task (REC's "task", found in any state) and that task's
 * review tasks and reviews/ files: a new object {"round" (0: none yet),
 * "required" (review.required, 1 by default; 0 without review),
 * "approvals" (distinct approvals of the round for the task's head: done
 * review tasks ROOT-rN-K, K 1..required, with an approve verdict, and
 * people's reviews/ files, one per uid),
 * "changes" (request_changes verdicts of the round), "review_state"
 * (agq-dash(1): "awaiting approval" in approval/, "merging" in review/
 * with a merge task not ended, "changes requested" in review/ with a
 * request_changes verdict or back in queue/, defer/, active/ or hold/
 * after a round, "reviewing" in review/ (a merge task is the last of
 * ROOT-m1, ROOT-m2, ... that exists), "approved" done with the PR left
 * open, "stopped" dead, "open" otherwise), "task_state"}. */
json_t *agq_pr_review_state(const struct agq_spool *sp, const json_t *rec);

/* The merged PR records of SP (prs/merged/), the newest "merged"."at"
 * first, at most MAX, each with "time_to_merge_s" added: from its task's
 * submitted_at to the merge, null when the task is no longer in the
 * spool.  A new array (empty when there are none). */
json_t *agq_prs_merged(const struct agq_spool *sp, size_t max);

/* The open PR records of SP (prs/open/), newest created_at first, at most
 * MAX, each with the members of agq_pr_review_state added.  A new array. */
json_t *agq_prs_open(const struct agq_spool *sp, size_t max);

#endif
