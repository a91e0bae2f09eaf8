/*
 * attempt.h - attempt.c: one attempt of an agent task (agq-run(8)).
 *
 * Run by libexec/agq-attempt, so that agq-run links none of its libraries.
 * Uses util, task, classify, steps, verify, out and patch.
 */
#ifndef AGQ_ATTEMPT_H
#define AGQ_ATTEMPT_H

#include <jansson.h>

/* The exit status of a throttled attempt: agq-run parks the task
 * (agq_lc_finish, AGQ_LC_THROTTLED_EXIT; agq-run(8)). */
#define AGQ_ATTEMPT_THROTTLED 75

/* The corrective text for the next iteration: the steps of REPORT (an
 * agq_verify_run report) that did not pass, each with its reason and the
 * last 2000 bytes of its output.  malloc'd. */
char *agq_verify_feedback(const json_t *report, int iteration, int max);

/* Run one attempt of agent task T in the current directory, with the
 * output directory OUTDIR: up to max_verify_attempts iterations (1 when T
 * has no verify steps) of backend (or cmd) then verify steps, each
 * iteration after the first with the failed steps' output as
 * "verify_feedback", and each backend call with "resume_session", the
 * agent CLI session to resume: the one the previous iteration left, else
 * the "session_id" of T's last attempt record that has one, when that
 * attempt ran the same backend and CLI.  A task that edits through
 * patches (agq_task_edits_by_patch) has its answer's diff applied before
 * the steps run (agq_patch_step), and max_verify_attempts iterations even
 * without steps: a diff missing or not applying is a failed iteration
 * whose reason is the feedback.  Writes OUTDIR/agent.json ({status "done"
 * | "backend_error" | "cmd_failed" | "verify_failed" | "patch_failed",
 * backend, model, endpoint, session_id (the last one the CLI named),
 * tokens_in, tokens_out, cost_usd (sums), error, verify (the last
 * report), iterations [{iteration, status, backend, exit, verify,
 * patch}]}), OUTDIR/output (the last answer), OUTDIR/patch-K.diff
 * (iteration K's diff), OUTDIR/backend-input.json and
 * backend-result.json (the last call; no key is ever in them).
 * A backend that met a usage or rate limit (result status "throttled",
 * agq-backend(7)) ends the attempt with status "throttled" and its
 * "not_before" (RFC 3339 UTC, when the limit resets) and "account".
 * Returns the exit status for the attempt: 0 done, 1 backend error, 2
 * verify or patch failed, AGQ_ATTEMPT_THROTTLED (75, EX_TEMPFAIL)
 * throttled, or the cmd's failing status. */
int agq_agent_attempt(const json_t *t, const char *outdir);

#endif
