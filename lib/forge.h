/*
 * forge.h - forge.c: a task's pull request on the forge, GitHub or
 * Gitea/Forgejo, through their REST APIs with libcurl (issue 16).  Never
 * runs gh(1) or curl(1).  Uses util, conf, spool and git (the PR records
 * of agq-spool(5), prs/); conventions are those of util.h.
 *
 * Settings (agq.conf, agq(7)):
 *   forge             "github", "gitea" (Forgejo too), or empty: none
 *   forge_url         the API's base URL: default https://api.github.com
 *                     for github; required for gitea (http://HOST:3000)
 *   forge_token_file  a file whose first line is the token; the token is
 *                     never taken from a task, never printed, never in
 *                     an error, a record or the journal
 *   forge_repo        OWNER/REPO, instead of the one read off the origin
 *
 * The requests (GitHub REST API 2022-11-28, "Pulls"; Gitea API v1,
 * /api/swagger):
 *   github  POST {forge_url}/repos/{owner}/{repo}/pulls with
 *           "Authorization: Bearer TOKEN", "Accept:
 *           application/vnd.github+json", "X-GitHub-Api-Version:
 *           2022-11-28", body {title, head, base, body, draft}; an
 *           existing one: GET .../pulls?head=OWNER:BRANCH&state=all
 *   gitea   POST {forge_url}/api/v1/repos/{owner}/{repo}/pulls with
 *           "Authorization: token TOKEN", body {title, head, base, body};
 *           an existing one: GET .../pulls?state=all&limit=50&page=N, the
 *           one whose head.ref is the branch
 * Every request carries "User-Agent: agq/VERSION", takes at most 30 s
 * (connect 10 s), follows no redirect and reads at most 16 MiB.
 */
#ifndef AGQ_FORGE_H
#define AGQ_FORGE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "spool.h"

/* OWNER and REPO of the forge repository an origin URL names: the last two
 * path components of https://HOST/OWNER/REPO, ssh://[USER@]HOST[:PORT]/
 * OWNER/REPO or scp-style [USER@]HOST:OWNER/REPO, a trailing ".git" and
 * '/' dropped (a path prefix before them, as a Gitea under a sub-path
 * has, is skipped).  When BARE, ORIGIN may also be just "OWNER/REPO" (the
 * forge_repo setting).  Each part must be [A-Za-z0-9._-]{1,100}, not "."
 * or "..".  Into OWNER and REPO (>= 101 bytes each).  0, or -1 with errno
 * EINVAL: a local path or file:// URL (no forge), or no OWNER/REPO. */
int agq_forge_repo_parse(const char *origin, int bare, char owner[101],
                         char repo[101]);

/* What the pull request's description says; every field may be absent.
 * Borrowed pointers: the caller keeps them alive across the call. */
struct agq_pr_body {
	const char *task;         /* the task id */
	const json_t *criteria;   /* the task's success_criteria: an array
	                           * of strings, or NULL */
	const char *verify;       /* the verification report's summary, one
	                           * or more lines, or NULL */
	int64_t tokens_in;        /* tokens, summed over attempts; -1 unknown */
	int64_t tokens_out;
	double cost_usd;          /* US dollars; < 0 unknown */
	int draft;                /* 1: open it as a draft (github only) */
	const json_t *tasks;      /* a mission's PR: its tasks, an array of
	                           * {id, title}, listed under "Tasks"; TASK
	                           * is then the mission's id; or NULL */
	char vbuf[128];           /* agq_pr_body_from_task's verify line */
};

/* Fill B from task T (a task object as agq-task(5) has it, or NULL): task
 * ID, its success_criteria, tokens_in, tokens_out and cost_usd summed
 * over its attempts (each unknown when no attempt has it), the last
 * attempt's verification report (agq-verify(1)) as "verification: STATUS
 * (N passed, N failed)" in B->vbuf, and git.draft.  B borrows from T and
 * ID; a caller may point B->verify at its own summary instead. */
void agq_pr_body_from_task(struct agq_pr_body *b, const char *id,
                           const json_t *t);

/* The description B as Markdown text (GitHub Flavored Markdown, which
 * Gitea renders too): the task id (a mission's, with its "Tasks" as a
 * list, when B->tasks), "Success criteria" as a list, the
 * verification summary, tokens and cost.  malloc'd. */
char *agq_pr_body_text(const struct agq_pr_body *b);

/* What agq_forge_open did. */
enum agq_forge_rc {
	AGQ_FORGE_RETRY = -2,   /* not now: the forge answered 5xx or 429,
	                         * or could not be reached; try again */
	AGQ_FORGE_FAIL = -1,    /* refused (401, 403, 404, 422 ...) or set up
	                         * wrongly: trying again will not help */
	AGQ_FORGE_OK = 0,       /* REC has the forge's url and number */
	AGQ_FORGE_OFF = 1,      /* no forge configured: REC left alone */
	AGQ_FORGE_CONFLICT = 2, /* agq_forge_merge: not mergeable (405) */
	AGQ_FORGE_MOVED = 3     /* agq_forge_merge: the head moved (409) */
};

/* Open the pull request of the PR record REC (agq_pr_open's, with its
 * "state") on the forge of SP's agq.conf, described by B, and rewrite the
 * record with the forge's "url" (html_url) and "number" (agq_pr_save).
 * Idempotent by branch: nothing is sent when REC already has a number;
 * when the forge says the branch already has one (github 422, gitea
 * 409) that one is looked up and used, so a retry after a crash between
 * the forge's answer and the record's rewrite opens no second PR.  The
 * repository is forge_repo, else agq_forge_repo_parse of REC's "repo".
 * Returns an enum agq_forge_rc; FAIL and RETRY fill ERR with one line
 * naming the forge, the HTTP status and the forge's message, and the URL
 * in parentheses ("github answered 401: Bad credentials (URL)"), never
 * the token.  REC is updated in place on OK.  Calls curl_global_init(3)
 * and curl_global_cleanup(3) itself (they are counted). */
int agq_forge_open(const struct agq_spool *sp, json_t *rec,
                   const struct agq_pr_body *b, char *err, size_t size);

/* Close the pull request of PR record REC on the forge of SP's
 * agq.conf: PATCH {forge_url}/repos/OWNER/REPO/pulls/NUMBER (gitea: under
 * /api/v1) with {"state": "closed"} (GitHub REST "Update a pull
 * request"; Gitea "repoEditPullRequest").  Closing a closed one is no
 * error (the forge answers 200).  Returns an enum agq_forge_rc: OFF
 * with no forge set; OK also for a record without a number (nothing on
 * the forge to close); FAIL and RETRY with ERR as agq_forge_open's.
 * The record itself is the caller's (agq_pr_move). */
int agq_forge_close(const struct agq_spool *sp, const json_t *rec,
                    char *err, size_t size);

/* For the programs (agq-git finish, agq-pr open and sync): agq_forge_open
 * of REC described from its task as the spool has it now
 * (agq_pr_body_from_task of REC's "task", found in any state; a task the
 * spool does not have gives only its id), with VERIFY, when not NULL, as
 * the verification summary.  On FAIL prints "agq-PROG: cannot open the
 * pull request: ERR", on RETRY "agq-PROG: cannot open the pull request
 * now (try again: agq-pr open PRID): ERR".  Returns an exit status
 * (sysexits.h): 0 opened, found or no forge; 1 refused; EX_TEMPFAIL (75)
 * to be retried. */
int agq_forge_open_task(const struct agq_spool *sp, json_t *rec,
                        const char *verify);

/* Post a review verdict on the pull request of the PR record REC (it has
 * the forge's "number"): on the commit HEAD (40 hex digits), with the
 * Markdown text BODY, approving when APPROVE, else requesting changes.
 *   github  POST .../pulls/NUMBER/reviews {commit_id, body, event:
 *           "APPROVE" | "REQUEST_CHANGES"} (REST API 2022-11-28, "Pull
 *           request reviews"); 200 is posted
 *   gitea   POST /api/v1/repos/O/R/pulls/NUMBER/reviews {commit_id, body,
 *           event: "APPROVED" | "REQUEST_CHANGES"}
 * A forge that refuses it because the token's user opened the pull
 * request (422 saying one cannot approve or request changes on "your own
 * pull request") is asked once more with event "COMMENT": BODY carries
 * the verdict.  The event the forge took goes to EVENT (16 bytes, "" when
 * none).  Returns an enum agq_forge_rc: OFF no forge configured; FAIL
 * (with ERR as agq_forge_open's, or "the PR record PRID has no number on
 * the forge") or RETRY (5xx, 429, unreachable) when nothing was posted.
 * The token is never in ERR.  Calls curl_global_init(3) itself. */
int agq_forge_review(const struct agq_spool *sp, const json_t *rec,
                     const char *head, int approve, const char *body,
                     char event[16], char *err, size_t size);

/* The pull request of the PR record REC (it has a "number") as the forge
 * of SP's agq.conf has it now: github GET {forge_url}/repos/O/R/pulls/N,
 * gitea GET {forge_url}/api/v1/repos/O/R/pulls/N, with "If-None-Match:
 * ETAG" when REC has an "etag" (RFC 9110 section 13.1.2).  On
 * AGQ_FORGE_OK *PR is the forge's object ({state "open"|"closed",
 * merged (bool), merge_commit_sha, ...}, a new reference) and *ETAG its
 * ETag header (malloc'd, NULL without one), or both NULL when the forge
 * answered 304 (unchanged).  ETAG may be NULL.  AGQ_FORGE_OFF: no forge;
 * FAIL (no number, 4xx) and RETRY (5xx, 429, unreachable) with ERR as
 * agq_forge_open's. */
int agq_forge_pr_get(const struct agq_spool *sp, const json_t *rec,
                     json_t **pr, char **etag, char *err, size_t size);

/* Merge the pull request of REC (it has a "number") on the forge with
 * METHOD ("merge", "squash" or "rebase"), only when its head is HEAD (a
 * sha): github PUT {forge_url}/repos/O/R/pulls/N/merge {merge_method,
 * sha, commit_title, commit_message} (answer 200 {sha, merged}); gitea
 * POST {forge_url}/api/v1/repos/O/R/pulls/N/merge {Do, head_commit_id,
 * MergeTitleField, MergeMessageField} (answer 200, no body: the merge
 * commit is then read from the PR's merge_commit_sha).  TITLE and MESSAGE
 * (the body, with the trailers) are the merge commit's.  AGQ_FORGE_OK
 * with SHA (41 bytes) the merge commit; AGQ_FORGE_CONFLICT on 405, ERR
 * "conflict: not mergeable: MESSAGE"; AGQ_FORGE_MOVED on 409, ERR "head
 * moved: KIND answered 409: MESSAGE"; RETRY on 5xx, 429 or no answer;
 * FAIL otherwise; OFF without a forge.  GitHub REST API 2022-11-28,
 * "Merge a pull request"; Gitea API v1 repoMergePullRequest. */
int agq_forge_merge(const struct agq_spool *sp, const json_t *rec,
                    const char *method, const char *head, const char *title,
                    const char *message, char sha[41], char *err,
                    size_t size);

#endif
