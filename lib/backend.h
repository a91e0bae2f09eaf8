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

/* ---- backend.c: backends (agq-backend(7)) ----------------------------- */

/* The agq.conf keys that belong to the backends (config.c stores them in
 * conf->backend): ollama_url, openai_url, anthropic_url (base URLs),
 * ollama_model, openai_model, anthropic_model (default models),
 * openai_key_file, anthropic_key_file (files holding a key on their first
 * line), anthropic_version, max_tokens, backend_timeout (seconds), prices
 * (path of the price table), cli_lock (path of the CLI lock file),
 * registry_check (seconds between agq-sched's endpoint checks), route_wait
 * (seconds before a tier falls back) and route_fallback (yes/no). */
extern const char *const agq_backend_conf_keys[];
int agq_backend_conf_key(const char *key);

/* The value of backend setting KEY in CONF, or DFLT (borrowed).  In
 * config.c with agq_etc_path, so that readers link no libcurl. */
const char *agq_backend_setting(const struct agq_conf *conf, const char *key,
                                const char *dflt);

/* ETC/NAME where ETC is the directory of the compiled-in agq.conf
 * (prices.json, cli-lock.json).  malloc'd. */
char *agq_etc_path(const char *name);

/* The text sent to a model for task T: its prompt, then its context
 * (repo, branch, files), its success_criteria, and its verify_feedback
 * (the corrective text agq-run adds after failed verification), each
 * under a heading.  malloc'd. */
char *agq_backend_prompt(const json_t *t);

/* Cost in US dollars of TIN tokens in and TOUT out for MODEL (may be NULL)
 * on BACKEND, from the price table (setting "prices", default
 * etc/prices.json: {"models": {NAME: {"in": USD, "out": USD}},
 * "backends": {NAME: {...}}}, prices per million tokens; a model's entry
 * wins over its backend's).  0 with *COST set, or -1 when neither has a
 * price (or the table cannot be read). */
int agq_price(const struct agq_conf *conf, const char *backend,
              const char *model, int64_t tin, int64_t tout, double *cost);

/* One HTTP request with libcurl: METHOD ("GET", "POST") to URL with the
 * extra HEADERS (NULL-terminated "Name: value" strings, may be NULL) and
 * a JSON BODY (NULL for none), at most TIMEOUT_S seconds in all (connect
 * at most 10).  The response code goes to *STATUS.  Returns 0 with *OUT a
 * new JSON object when the status is below 400 and the body is a JSON
 * object.  Otherwise -1 with a one-line ERR naming URL and what went
 * wrong: timed out, cannot connect, truncated response, HTTP code (with
 * the API's error message), not JSON, larger than 16 MiB.  Headers are
 * never part of ERR. */
int agq_http_json(const char *method, const char *url,
                  const char *const *headers, const char *body,
                  double timeout_s, long *status, json_t **out, char *err,
                  size_t size);

/* The CLI lock file (setting "cli_lock", default etc/cli-lock.json): an
 * object {TOOL: {"argv": [...], "model_args": [...], "format": F,
 * "version_args": [...], "flags": [...]}}.  New reference, or NULL with
 * ERR set. */
json_t *agq_cli_lock_load(const struct agq_conf *conf, char *err,
                          size_t size);

/* Run backend NAME (shell, ollama, openai, anthropic, cli) for TASK with
 * the settings of CONF; the caller has called curl_global_init.  Returns
 * the result object of agq-backend(7): backend, status "ok"|"error",
 * output, model, tokens_in, tokens_out, cost_usd (null when no price is
 * known), endpoint, duration_ms, error (null when ok). */
json_t *agq_backend_run(const char *name, const json_t *task,
                        const struct agq_conf *conf);

/* The main of the backend executable NAME (libexec/agq/NAME): read the
 * task on standard input, print the result, exit 0 (ok), 1 (error), 65
 * (bad task, still with a result object), 78 (bad agq.conf). */
int agq_backend_main(int argc, char **argv, const char *name);

/* ---- verify.c: verification steps (agq-verify(1)) --------------------- */

/* Validate STEPS, an array of step objects (agq-verify(1)): "type" one of
 * file_exists (needs "path"), command_succeeds (needs "cmd"), test_passes
 * ("cmd", or "auto" or no cmd: detected), git_clean; optional "name"
 * (string), "timeout" (seconds, > 0, at most 86400) and "cwd" (string).
 * 0, or -1 with "[N].FIELD: what is wrong" (or ": not an array") in ERR. */
int agq_verify_steps_validate(const json_t *steps, char *err, size_t size);

/* What a step result R of an agq_verify_run report is called in messages:
 * its "name", else its "path", else its "cmd" as JSON, else "".
 * malloc'd. */
char *agq_verify_step_label(const json_t *r);

/* Run the validated STEPS in order, in directory CWD (a step's relative
 * "cwd" and "path" are taken from there), each command step limited to
 * its "timeout" or TIMEOUT_S seconds (its process group gets SIGTERM,
 * then SIGKILL 2 s later).  Returns the report of agq-verify(1):
 * {"status": "pass"|"fail", "passed": N, "failed": N, "steps": [{index,
 * type, name, status "pass"|"fail"|"error"|"skip", reason, duration_ms,
 * output (the last 4 KiB of stdout and stderr), exit, cmd, detected}]};
 * "pass" only when every step passed. */
json_t *agq_verify_run(const json_t *steps, const char *cwd,
                       double timeout_s);

/* The test command detected in DIR for test_passes "auto", first match
 * of: a make target check ("make check"), test ("make test"), a
 * package.json scripts.test ("npm test"), pytest.ini, conftest.py,
 * [tool.pytest in pyproject.toml, [tool:pytest] in setup.cfg or [pytest]
 * in tox.ini ("pytest"), Cargo.toml ("cargo test"), go.mod ("go test
 * ./...").  Borrowed static string, or NULL. */
const char *agq_verify_detect(const char *dir);

/* Run CMD (an array: execvp) with standard input /dev/null, for at most
 * TIMEOUT_S seconds (then its process group is killed), and return the
 * first MAX bytes of its standard output and error together (malloc'd,
 * NUL-terminated, length in *LEN).  *STATUS gets the wait status, or -2
 * when it timed out.  NULL with errno when it could not be started. */
char *agq_command_output(const json_t *cmd, double timeout_s, size_t max,
                         size_t *len, int *status);

/* ---- registry.c: the endpoint registry (agq-registry(1)) -------------- */

/* 1 if T is an endpoint type: ollama, openai, anthropic. */
int agq_endpoint_type_valid(const char *t);

/* ENDPOINTS/NAME.json of SP: {name, url, type, added_at, health
 * "unknown"|"healthy"|"unhealthy", fails (failed checks in a row),
 * checked_at, models [...], warm [...] (loaded in memory), error}.
 * NULL with errno (ENOENT, EBADMSG, EINVAL for a bad name). */
json_t *agq_endpoint_read(const struct agq_spool *sp, const char *name);

/* Write EP (its "name" names the file) atomically and durably, creating
 * endpoints/ when missing.  0 or -1 with errno. */
int agq_endpoint_write(const struct agq_spool *sp, const json_t *ep);

/* Every registered endpoint: a new object NAME -> endpoint (unreadable
 * files left out; an empty object when there is no registry). */
json_t *agq_registry_load(const struct agq_spool *sp);

/* One health check of endpoint NAME: ollama GET /api/tags (the models
 * downloaded) and /api/ps (the warm ones, loaded in memory); openai and
 * anthropic GET /v1/models (with the key when one is configured).  A
 * success marks it healthy and stores the model lists; a failure counts
 * in "fails", and two in a row mark it unhealthy.  A change of health is
 * journaled (`endpoint`).  Read-modify-write under the spool's
 * .registry.lock; the probe itself runs unlocked.  Needs
 * curl_global_init.  Returns 0 healthy now, 1 the check failed, -1 with
 * errno when the endpoint cannot be read or written.  In regcheck.c, the
 * registry's only libcurl user (agq-sched, which reads the registry and
 * runs agq-registry --check as a child, links no libcurl). */
int agq_registry_check(const struct agq_spool *sp, const char *name);

/* For agq-sched's loop: reap the check started before (*CHILD, 0 when
 * none) and, every "registry_check" seconds (agq.conf, default 30; the
 * first call at once) when endpoints are registered, start
 * `agq-registry -s ROOT check` in the background (the agq-registry next
 * to the running program, else in the compiled-in bin directory).
 * *LAST is the monotonic time of the last start (0 at first). */
void agq_registry_tick(const struct agq_spool *sp, pid_t *child,
                       int64_t *last);

/* ---- resources.c: host resources (agq-run(8)) ------------------------- */

/* What this host has, for the agent file: {load1, load5, load15 (from
 * $AGQ_LOADAVG_FILE, default /proc/loadavg), cpus (online), mem_total_mb,
 * mem_available_mb (/proc/meminfo), gpus [{name, mem_total_mb,
 * mem_used_mb}] (only when nvidia-smi is in PATH; asked at most every 30
 * s)}.  Fields that cannot be read are left out.  New reference. */
json_t *agq_host_resources(void);

/* The load of the host of agent file AGENT: load1 / cpus of its
 * "resources", 0 when unknown. */
double agq_host_load(const json_t *agent);

/* ---- route.c: routing (agq-sched(8)) ---------------------------------- */

/* What routing needs of task T: a new object {agentish (agq_task_is_agent),
 * tier (agq_task_tier), has_cmd, backend (explicit, or absent), model}. */
json_t *agq_route_facts(const json_t *t);

/* Can AGENT (its agent file) run a task with facts F at TIER, given the
 * endpoints REG (agq_registry_load)?  An agent that declares no backends
 * runs anything (the task's backend, else shell / ollama / anthropic by
 * tier).  Otherwise it needs the task's explicit backend, or for the tier
 * shell (trivial, needs a cmd), ollama or openai (standard), anthropic
 * or cli (complex); for ollama and openai with declared endpoints, one of
 * them registered, of that type, healthy and having the model (its
 * "models", else the agent's --model list), warm ones preferred.
 * Returns -1 with WHY (SIZE bytes) saying why not, or a score (higher is
 * better: warm +100000, minus 1000 x load per CPU) with *CHOICE a new
 * object {backend, model, endpoint {name, url} or null, warm}. */
int agq_route_eval(const json_t *f, int tier, const json_t *agent,
                   const json_t *reg, json_t **choice, char *why,
                   size_t size);

/* ---- doctor.c: agq-doctor(8) ------------------------------------------ */

/* Check this installation for agent work, with the spool SPOOL_ARG (NULL:
 * the default): the spool and configuration, every backend executable,
 * the price table, the CLI lock file and each CLI in it (found in PATH,
 * its version from version_args, and whether each pinned flag appears in
 * the output of help_args), the API keys (present, never shown) and the
 * registered endpoints' health.  Returns {"status": "ok"|"fail",
 * "failed": N, "checks": [{check, status "ok"|"warn"|"fail", detail}]}. */
json_t *agq_doctor(const char *spool_arg);

/* ---- attempt.c: one attempt of an agent task (agq-run(8)) ------------- */

/* (agq_task_is_agent, agq_task_backend and agq_backend_path are in
 * classify.c, so that agq-run links none of attempt.c's libraries.) */

/* 1 if T runs through the agent path (a prompt, a backend or verify
 * steps); 0 for a plain cmd task, run as before. */
int agq_task_is_agent(const json_t *t);

/* The backend of T: its "backend", else for a prompt task by tier
 * (complex: anthropic, standard: ollama, trivial: shell with a cmd,
 * else ollama); NULL for a task that runs its cmd itself.  Borrowed. */
const char *agq_task_backend(const json_t *t);

/* Path of the backend executable NAME: $AGQ_LIBEXEC_DIR/NAME, else
 * ../libexec/agq/NAME next to the running program when it exists, else
 * the compiled-in libexec directory.  malloc'd. */
char *agq_backend_path(const char *name);

/* The corrective text for the next iteration: the steps of REPORT (an
 * agq_verify_run report) that did not pass, each with its reason and the
 * last 2000 bytes of its output.  malloc'd. */
char *agq_verify_feedback(const json_t *report, int iteration, int max);

/* Run one attempt of agent task T in the current directory, with the
 * output directory OUTDIR: up to max_verify_attempts iterations (1 when T
 * has no verify steps) of backend (or cmd) then verify steps, each
 * iteration after the first with the failed steps' output as
 * "verify_feedback".  Writes OUTDIR/agent.json ({status "done" |
 * "backend_error" | "cmd_failed" | "verify_failed", backend, model,
 * endpoint, tokens_in, tokens_out, cost_usd (sums), error, verify (the
 * last report), iterations [{iteration, status, backend, exit, verify}]}),
 * OUTDIR/output (the last answer), OUTDIR/backend-input.json and
 * backend-result.json (the last call; no key is ever in them).
 * Returns the exit status for the attempt: 0 done, 1 backend error, 2
 * verify failed, or the cmd's failing status. */
int agq_agent_attempt(const json_t *t, const char *outdir);

#endif
