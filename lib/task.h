/*
 * task.h - task.c: the task model (agq-task(5)).
 *
 * Parsing, validating and normalizing a task, its lanes, attempts and
 * backoff.  Pure functions on JSON; uses util and classify.
 */
#ifndef AGQ_TASK_H
#define AGQ_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

enum agq_lane { AGQ_URGENT, AGQ_HIGH, AGQ_NORMAL, AGQ_LOW, AGQ_NLANES };

/* Lane name <-> number.  agq_lane_parse returns -1 for an unknown name. */
const char *agq_lane_name(int lane);
int agq_lane_parse(const char *s);

/* Validate task T (a JSON object as submitted) against agq-task(5).  On the
 * first problem writes "field NAME: what is wrong" into ERR (SIZE bytes)
 * and returns -1; returns 0 when valid.  Unknown fields are allowed.
 * The agent fields are checked by agq_task_validate_agent (backend.h). */
int agq_task_validate(const json_t *t, char *err, size_t size);

/* The most parents a task's "after" may name (agq-task(5),
 * "Dependencies"). */
#define AGQ_AFTER_MAX 64

/* Is NAME a top-level field of agq-task(5) (input, agent, git or
 * written-by-agq fields)?  1 or 0.  The list is one table in task.c. */
int agq_task_field_known(const char *name);

/* The known field (agq_task_field_known) nearest to NAME by optimal
 * string alignment distance (Damerau-Levenshtein: insert, delete,
 * replace, swap two neighbours), when that is at most 2: a likely
 * misspelling ("max_atempts" -> "max_attempts"); else NULL.  Borrowed,
 * static. */
const char *agq_task_field_nearest(const char *name);

/* A line of `agq-ls --json` taken back as a task (agq-ls(1): a task
 * file with "state" and "lane" added): in T, a task taken from a spool
 * (it has "submitted_at"), "state" is removed (where a submitted task
 * goes is agq's to decide) and "lane" too, after it became the task's
 * "priority" when T has none and it names a lane.  A task without
 * "submitted_at" is left alone, so that a person's "state" is still
 * refused as an unknown field (agq_task_check_fields). */
void agq_task_unlist(json_t *t);

/* The submit-time check of agq-task(5): every top-level field of T is a
 * known one (anything goes under "meta").  On the first unknown one
 * writes "field NAME: unknown field (did you mean NEAREST?); ..." into
 * ERR (SIZE bytes) and returns -1; else 0.  Applied by agq-submit and to
 * inbox drops only: a task already in a spool is never refused for a
 * field (agq_task_validate allows unknown fields). */
int agq_task_check_fields(const json_t *t, char *err, size_t size);

/* S is a branch name git accepts (git-check-ref-format(1) for
 * refs/heads/S, and agq's own limits): 1 to 200 bytes; no control
 * character, space, ~ ^ : ? * [ or \; no "..", "//", "@{", "/."; not
 * "@"; not starting with '/', '-' or '.'; not ending with '/', '.' or
 * ".lock", no component ending in ".lock".  1 or 0. */
int agq_ref_name_valid(const char *s);

/* ORIGIN (a task's git.repo) names a local repository by its path: no
 * "scheme://" (file:// included: a URL), and not scp-style
 * [USER@]HOST:PATH, that is no ':' before the first '/' (git-clone(1),
 * "GIT URLS").  1 or 0. */
int agq_origin_local(const char *origin);

/* Parse BUF (LEN bytes, not necessarily NUL-terminated) as one task: JSON
 * object (jansson, rejecting duplicate keys and NUL in strings), then
 * agq_task_validate.  Returns a new reference or NULL with ERR filled. */
json_t *agq_task_parse(const char *buf, size_t len, char *err, size_t size);

/* Fill agq's fields in a valid task T, keeping what is there: id (new
 * agq_gen_id when absent), priority "normal", max_attempts 3, backoff 10,
 * submitted_at (NOW_US), attempts [], generation 0, complexity (replaced
 * by agq_classify's object, backend.h).  not_before given as
 * epoch seconds or any RFC 3339 form is rewritten as RFC 3339 UTC. */
void agq_task_normalize(json_t *t, int64_t now_us);

/* Record UID as the owner of task T: "submitted_by": {"uid": UID,
 * "user": USER}, replacing what T had (agq-task(5): agq sets it, from the inbox
 * file's owner or agq-submit's real uid; the user a root agent runs the
 * task as, agq-run(8) SECURITY).  USER (getpwuid(3)'s pw_name) may be
 * NULL, or not UTF-8: no "user" then.  No NSS lookup here: agq-submit,
 * which links this, is linked statically. */
void agq_task_set_owner(json_t *t, uid_t uid, const char *user);

/* The uid of T's owner, "submitted_by": {"uid": ...} (a whole number from
 * 0 to 2^32 - 2), or -1 when T has none or it is not one (not validated:
 * whatever a task says there is replaced when it is submitted or
 * accepted). */
long long agq_task_owner_uid(const json_t *t);

/* Accessors on a validated, normalized task (borrowed strings). */
const char *agq_task_id(const json_t *t);
int agq_task_lane(const json_t *t);
/* T's tenant (agq-task(5), tenant; the quotas of agq.conf(5)): its
 * "tenant", else its owner's user name (submitted_by.user) when that is
 * a name ([A-Za-z0-9._-]{1,64}), else "uid-N" (N its owner's uid, -1
 * without one) written into BUF.  Borrowed from T or BUF. */
const char *agq_task_tenant(const json_t *t, char buf[32]);
int64_t agq_task_int(const json_t *t, const char *key, int64_t dflt);
/* A time field (RFC 3339 string or epoch number) in microseconds, or DFLT
 * when absent or unparsable. */
int64_t agq_task_time(const json_t *t, const char *key, int64_t dflt);
/* Set KEY to US formatted as RFC 3339. */
void agq_task_set_time(json_t *t, const char *key, int64_t us);

/* Retry delay after attempt number ATTEMPT (1-based) of T, in microseconds:
 * backoff * 2^(ATTEMPT-1) seconds, capped at CAP_S, then "equal jitter":
 * a uniform value in [delay/2, delay].  backoff 0 gives 0. */
int64_t agq_backoff_us(const json_t *t, int attempt, int64_t cap_s);
/* The same with the jitter picked by RND (any 64-bit draw: agq_random(),
 * or a test's constant): a pure function (lifecycle.c). */
int64_t agq_backoff_draw_us(const json_t *t, int attempt, int64_t cap_s,
                            uint64_t rnd);

/* 1 if every capability in T's "requires" is in CAPS (a JSON array of
 * strings, may be NULL = none). */
int agq_caps_match(const json_t *t, const json_t *caps);
/* The same rule on the "requires" array itself (borrowed; NULL or not an
 * array: none), for a caller that keeps it apart from its task (the
 * scheduler's queue index): 1 if every entry is json_equal to one of
 * CAPS, else 0 (agq-task(5), requires).  No allocation: it is on
 * agq-sched's assignment path. */
int agq_requires_met(const json_t *requires, const json_t *caps);

/* Attempts that count against max_attempts: every entry of "attempts"
 * except those handed back by a stopping agent and those that met a
 * usage or rate limit ("throttled": agq-backend(7)). */
int agq_task_attempts_used(const json_t *t);

/* The last entry of T's "attempts" (borrowed), or NULL. */
json_t *agq_task_last_attempt(const json_t *t);

/* 1 if T's current lease has started: its last attempt carries T's
 * generation and has no "finished". */
int agq_task_lease_started(const json_t *t);

/* Serialize T for a task file: indented JSON, sorted keys preserved in
 * insertion order, trailing newline.  malloc'd; *LEN gets the length. */
char *agq_task_dump(const json_t *t, size_t *len);

/* The coder task of a review or merge task by its id (agq-task(5),
 * `kind`): ID of the form PARENT-rN-K (a review task: round N, reviewer
 * K) or PARENT-mN (a merge task: try N), N and K decimal, PARENT a valid
 * id.  Copies PARENT into BUF (65 bytes) and returns 'r' or 'm'; 0 for
 * any other ID (BUF then unchanged). */
int agq_task_child_of(const char *id, char buf[65]);

#endif
