/*
 * backend.h - agent execution in libagq: the complexity heuristic
 * (classify.c), the backend protocol and its HTTP/CLI clients
 * (backend.c, agq-backend(7)) and verification steps (verify.c,
 * agq-verify(1)).  Conventions as in agq.h: 0/-1 returns, returned
 * char * and json_t * owned by the caller.
 */
#ifndef AGQ_BACKEND_H
#define AGQ_BACKEND_H

#include <jansson.h>
#include "agq.h"

/* ---- classify.c: complexity tiers (agq-classify(1)) -------------------- */

/* Tier name <-> number: 0 trivial, 1 standard, 2 complex; -1 unknown. */
const char *agq_tier_name(int tier);
int agq_tier_parse(const char *s);

/* Classify task T (validated, not necessarily normalized).  Returns a new
 * object {"tier": NAME, "source": "explicit"|"inferred", "score": N,
 * "signals": [{"signal": S, "value": V, "weight": W}...]}.
 * An explicit "complexity" (a tier name, or an object with "tier" and
 * source "explicit") wins with no signals.  Otherwise the heuristic of
 * agq-classify(1), which is deterministic (same task, same answer):
 *   cmd and no prompt                     -> trivial (signal cmd_only)
 *   else score = sum of weights:
 *     prompt bytes < 200 -1, >= 1000 +1, >= 4000 +2
 *     context.files >= 3 +1, >= 10 +2
 *     verify steps >= 4 +1
 *     first complex keyword (refactor, migrate, migration, security,
 *       vulnerability, architecture, redesign, rewrite, concurrency)  +3
 *     first small-change keyword (typo, spelling, bump version,
 *       bump the version, changelog, copyright year, rename)           -2
 *   score >= 2 -> complex; score <= -2 with a cmd -> trivial;
 *   otherwise standard (a task without cmd is never trivial: only the
 *   shell backend runs trivial tasks, and it needs a cmd).
 * An inferred "complexity" object stored in T is recomputed. */
json_t *agq_classify(const json_t *t);

/* Validate the agent fields of task T (prompt, model, backend, context,
 * success_criteria, verify, max_verify_attempts, complexity) as
 * agq-task(5) says; called by agq_task_validate.  0, or -1 with "field
 * NAME: what is wrong" in ERR (SIZE bytes). */
int agq_task_validate_agent(const json_t *t, char *err, size_t size);

/* 1 if S can name a backend: [a-z0-9][a-z0-9_-]*, at most 32 bytes (it
 * names an executable in libexec/agq/, so never a path). */
int agq_backend_name_valid(const char *s);

/* The tier of T: its stored complexity when valid, else agq_classify. */
int agq_task_tier(const json_t *t);

/* ---- verify.c: verification steps (agq-verify(1)) --------------------- */

/* Validate STEPS, an array of step objects (agq-verify(1)): "type" one of
 * file_exists (needs "path"), command_succeeds (needs "cmd"), test_passes
 * ("cmd", or "auto" or no cmd: detected), git_clean; optional "name"
 * (string), "timeout" (seconds, > 0, at most 86400) and "cwd" (string).
 * 0, or -1 with "[N].FIELD: what is wrong" (or ": not an array") in ERR. */
int agq_verify_steps_validate(const json_t *steps, char *err, size_t size);

#endif
