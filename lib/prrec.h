/*
 * prrec.h - prrec.c: pull request records in the spool.
 */
#ifndef AGQ_PRREC_H
#define AGQ_PRREC_H

#include <jansson.h>
#include "spool.h"

/* PR records: SPOOL/prs/{open,merged,closed}/PRID.json:
 * {"id", "task", "repo", "base", "branch", "head", "title", "url" (null
 * without a forge), "number" (null), "created_at" (RFC 3339)}.  PRID is
 * "pr-" and 16 hex digits of the SHA-256 of "REPO\nBRANCH": one record per
 * repository and branch.  Written through tmp/ (agq_write_atomic, fsync),
 * moved between states by rename(2) like a task. */

/* The state names of PR records, NULL-terminated: open, merged, closed. */
extern const char *const agq_pr_states[];

/* Open a PR record for task ID: REPO, BASE, BRANCH, HEAD (sha), TITLE.
 * Idempotent by REPO and BRANCH: when a record exists in any state it is
 * returned unchanged.  *REC gets the record (new reference).  0 written,
 * 1 it existed, -1 with errno (EINVAL: a field missing). */
int agq_pr_open(const struct agq_spool *sp, const char *id,
                const char *repo, const char *base, const char *branch,
                const char *head, const char *title, json_t **rec);

/* Write record REC back over its file prs/STATE/ID.json, STATE its
 * "state" member (as agq_pr_find and agq_pr_list add it, "open" when it
 * has none), without that member: through tmp/, fsync'd, replacing the
 * old file (forge.c adds the forge's url and number).  0, or -1 with
 * errno (EINVAL: no valid "id" or state). */
int agq_pr_save(const struct agq_spool *sp, const json_t *rec);

/* Move record PRID from its state to STATE ("merged", "closed" or
 * "open") by rename(2), then fsync the directories.  0, or -1 with errno
 * (ENOENT no such record, EINVAL bad state). */
int agq_pr_move(const struct agq_spool *sp, const char *prid,
                const char *state);

/* The records in STATE (NULL: all states), oldest created_at first, each
 * with "state" added: a new array, NULL with errno. */
json_t *agq_pr_list(const struct agq_spool *sp, const char *state);

/* The record whose id is KEY, else the newest of task KEY, with "state"
 * added; NULL with errno ENOENT when there is none. */
json_t *agq_pr_find(const struct agq_spool *sp, const char *key);

#endif
