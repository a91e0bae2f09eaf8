/*
 * classify.h - classify.c: complexity tiers and the agent fields of a task.
 *
 * The complexity heuristic of agq-classify(1), the validation of a task's
 * agent fields (agq-task(5)), and which backend a task runs.  Uses util,
 * paths and steps.
 */
#ifndef AGQ_CLASSIFY_H
#define AGQ_CLASSIFY_H

#include <stddef.h>
#include <jansson.h>

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
 * success_criteria, verify, edit, max_verify_attempts, complexity) as
 * agq-task(5) says; called by agq_task_validate.  0, or -1 with "field
 * NAME: what is wrong" in ERR (SIZE bytes). */
int agq_task_validate_agent(const json_t *t, char *err, size_t size);

/* 1 if S can name a backend: [a-z0-9][a-z0-9_-]*, at most 32 bytes (it
 * names an executable in libexec/agq/, so never a path). */
int agq_backend_name_valid(const char *s);

/* The tier of T: its stored complexity when valid, else agq_classify. */
int agq_task_tier(const json_t *t);

/* 1 if T runs through the agent path (a prompt, a backend or verify
 * steps); 0 for a plain cmd task, run as before. */
int agq_task_is_agent(const json_t *t);

/* Task T runs through agq-attempt (agq-run(8)): an agent task
 * (agq_task_is_agent), a review task ("kind": "review"), or one with git,
 * setup or cleanup (agq-task(5)), even a plain cmd.  Routing does not use this: a cmd task with git is
 * still a plain command for the scheduler.  1 or 0. */
int agq_task_attempted(const json_t *t);

/* The backend of T: its "backend", else for a prompt task by tier
 * (complex: anthropic, standard: ollama, trivial: shell with a cmd,
 * else ollama); NULL for a task that runs its cmd itself.  Borrowed. */
const char *agq_task_backend(const json_t *t);

/* 1 if task T, run by BACKEND (agq_task_backend's answer, may be NULL),
 * edits its tree through patches (agq-backend(7), Editing through
 * patches): T has a prompt, BACKEND is a built-in HTTP backend (ollama,
 * openai, anthropic: AGQ_BACKEND_HTTP, which only answer text), and T has
 * a "git" field (its worktree, issue 16) or "edit": "patch" (its cwd is
 * in a git work tree that agq does not manage); else 0. */
int agq_task_edits_by_patch(const json_t *t, const char *backend);

/* Path of the backend executable NAME: $AGQ_LIBEXEC_DIR/NAME, else
 * ../libexec/agq/NAME next to the running program when it exists, else
 * the compiled-in libexec directory.  malloc'd. */
char *agq_backend_path(const char *name);

#endif
