/*
 * plan.h - plan.c: plan documents, revisioned JSON in the spool
 * (agq-plan(1), agq-spool(5) "Plans").
 *
 * A plan NAME is the directory plans/NAME/ holding one file per revision,
 * plans/NAME/REV.json (REV zero-padded to 10 digits, from 1), never
 * rewritten: {"rev", "plan", "op" put|patch|rm, "doc" (the whole document
 * after the change; absent in a tombstone), "patch" and "merge" (a
 * patch's text and kind), "deleted" true (rm's tombstone), "by" {"uid",
 * "user", "task" when AGQ_TASK_ID is set}, "at" (RFC 3339)}.
 * A revision is written in tmp/, fsync'd and link(2)ed to its name: the
 * link fails with EEXIST when another writer made that revision first.
 * That is the compare-and-swap; no lock is taken.
 * Every change is journaled: plan_put, plan_patch, plan_rm {plan, rev,
 * by, uid, task}, and a refused --if-rev as `conflict` {plan, expected,
 * current, by, uid, task} (agq-journal(5)).
 * Uses util, spool, journal and jsonpatch.
 */
#ifndef AGQ_PLAN_H
#define AGQ_PLAN_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* Results besides 0 (done) and -1 (errno: the spool cannot be read or
 * written; EROFS, EACCES, ENOSPC...). */
#define AGQ_PLAN_CONFLICT 1     /* IF_REV is not the newest revision */
#define AGQ_PLAN_ABSENT   2     /* no such plan (or deleted), no such REV */
#define AGQ_PLAN_BADPATCH 3     /* the patch does not apply (ERR says why) */

/* Longest plan document file read, bytes. */
#define AGQ_PLAN_MAX (16 << 20)

/* 1 if NAME may name a plan: the task id rule (agq_id_valid: [A-Za-z0-9.
 * _-]{1,64}, not starting with '.'), so it is one safe file name; else 0. */
int agq_plan_name_valid(const char *name);

/* Who changes a plan (or a routine, routine.h): {"uid", "user", "task"}
 * (user: getpwuid(3)'s name of the real uid, when there is one; task:
 * AGQ_TASK_ID, when it is set, the task a program runs for).  New
 * reference. */
json_t *agq_plan_who(void);

/* The journal fields of BY (agq_plan_who's) for a change of NAME:
 * {KEY: NAME, "by": the user (else the uid as text), "uid", "task" (when
 * BY has one)}.  New reference. */
json_t *agq_plan_by_fields(const json_t *by, const char *key,
                           const char *name);

/* The newest revision of plan NAME into *REV (0: none) and whether it is a
 * tombstone into *DELETED (may be NULL).  Found by listing plans/NAME/.
 * 0, or -1 with errno (EINVAL: a bad NAME). */
int agq_plan_head(const struct agq_spool *sp, const char *name, long *rev,
                  int *deleted);

/* The revision record REV (> 0) of plan NAME, parsed: a new reference, or
 * NULL with errno (ENOENT no such revision, EBADMSG it does not parse). */
json_t *agq_plan_record(const struct agq_spool *sp, const char *name,
                        long rev);

/* Plan NAME's document at revision REV (0: the newest) into *DOC (a new
 * reference) and that revision into *REV_OUT (may be NULL).  0;
 * AGQ_PLAN_ABSENT when there is no such plan or revision, or it is a
 * tombstone (*REV_OUT still set to it); -1 with errno (EBADMSG: the
 * revision file does not parse). */
int agq_plan_get(const struct agq_spool *sp, const char *name, long rev,
                 json_t **doc, long *rev_out);

/* Write DOC (any JSON value, borrowed) as plan NAME's next revision.
 * IF_REV -1: no condition; on a race (another writer made the revision
 * first) it reads the newest again and retries.  IF_REV >= 0: only when
 * the newest revision is IF_REV (0: the plan does not exist or is
 * deleted), else AGQ_PLAN_CONFLICT with the newest revision in *NEW_REV
 * and a `conflict` event journaled.  0 with the revision written in
 * *NEW_REV; -1 with errno. */
int agq_plan_put(const struct agq_spool *sp, const char *name,
                 const json_t *doc, long if_rev, long *new_rev);

/* Apply PATCH (borrowed: an RFC 6902 JSON Patch array, or with MERGE an
 * RFC 7396 merge patch) to the newest revision of plan NAME and write the
 * result as the next one.  IF_REV as for agq_plan_put (the patch applies
 * to revision IF_REV, which must be the newest); without it a race
 * re-reads the newest and applies the patch to it again.  0 with
 * *NEW_REV; AGQ_PLAN_ABSENT (no such plan, or deleted); AGQ_PLAN_CONFLICT
 * (*NEW_REV the newest); AGQ_PLAN_BADPATCH with the reason in ERR (SIZE
 * bytes, jsonpatch.h's message), nothing written; -1 with errno. */
int agq_plan_patch(const struct agq_spool *sp, const char *name,
                   const json_t *patch, int merge, long if_rev,
                   long *new_rev, char *err, size_t size);

/* Delete plan NAME: a tombstone revision.  IF_REV as for agq_plan_put.
 * 0 with *NEW_REV (the tombstone's revision); AGQ_PLAN_ABSENT; or
 * AGQ_PLAN_CONFLICT; -1 with errno. */
int agq_plan_rm(const struct agq_spool *sp, const char *name, long if_rev,
                long *new_rev);

/* The plans, sorted by name: a JSON array (new reference) of {"plan",
 * "rev", "deleted", "at", "by"} from each plan's newest revision (a
 * deleted plan is listed, with "deleted" true; a newest revision that does
 * not parse is listed with "error").  NULL with errno when plans/ cannot
 * be read (none yet: an empty array). */
json_t *agq_plan_list(const struct agq_spool *sp);

/* Every revision record of plan NAME, oldest first: a JSON array (new
 * reference); a file that does not parse appears as {"rev", "error"}.
 * AGQ_PLAN_ABSENT-like: NULL with ENOENT when the plan has none; other
 * errno when plans/NAME/ cannot be read. */
json_t *agq_plan_log(const struct agq_spool *sp, const char *name);

/* Is NAME a revision file's name, REV.json with REV digits?  The revision,
 * or 0. */
long agq_plan_rev_name(const char *name);

#endif
