/*
 * backend.h - backend.c: backends (agq-backend(7)).
 *
 * The prompt sent to a model, prices, the HTTP and CLI clients, and the
 * backend executables' main.  Links libcurl.  Uses util, conf, task,
 * classify and cli; libgit2 for the file list of a task that edits
 * through patches.
 */
#ifndef AGQ_BACKEND_H
#define AGQ_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "backends.h"
#include "conf.h"

/* The text sent to a model for task T: its prompt, then its context
 * (repo, branch, files), its success_criteria, and its verify_feedback
 * (the corrective text agq-run adds after failed verification), each
 * under a heading.  malloc'd. */
char *agq_backend_prompt(const json_t *t);

/* The section of the prompt that asks for a patch, for task T that edits
 * through patches (agq_task_edits_by_patch) in DIR, a directory of a git
 * work tree (its top, or below it: libgit2 searches upwards as git(1)
 * does; agq-backend(7), Editing through patches): the prompt contract
 * (one fenced ```diff block in the format of git diff, git-diff(1)
 * GENERATING PATCH TEXT WITH -P, a/ and b/ prefixes, paths relative to
 * the top), the paths of the repository's index (at most 2000, then how
 * many more), and the content of each file T's context.files names that
 * is a tracked regular file (each at most 64 KiB, all at most 256 KiB,
 * no binary file), paths relative to the top.  Read with libgit2, never
 * git(1).  malloc'd, starting with a blank line; NULL with ERR (SIZE
 * bytes) when DIR is not in a git work tree. */
char *agq_backend_patch_prompt(const json_t *t, const char *dir, char *err,
                               size_t size);

/* Cost in US dollars of TIN tokens in and TOUT out for MODEL (may be NULL)
 * on BACKEND, from the price table (setting "prices", default
 * etc/prices.json: {"models": {NAME: {"in": USD, "out": USD}},
 * "backends": {NAME: {...}}}, prices per million tokens; a model's entry
 * wins over its backend's).  0 with *COST set, or -1 when neither has a
 * price (or the table cannot be read). */
int agq_price(const struct agq_conf *conf, const char *backend,
              const char *model, int64_t tin, int64_t tout, double *cost);

/* What every HTTP request of agq sets on CURL (a libcurl easy handle,
 * CURL *): URL, the header list HEADERS (borrowed until the request is
 * done), the error buffer EBUF (CURL_ERROR_SIZE bytes), no signals
 * (CURLOPT_NOSIGNAL), http and https only, the User-Agent "agq/VERSION",
 * and METHOD ("GET", "POST", ...) with BODY (NUL-terminated, borrowed;
 * NULL for none).  Where the answer goes and the timeouts are the
 * caller's (curl_easy_setopt(3)). */
struct curl_slist;
void agq_curl_request(void *curl, const char *method, const char *url,
                      struct curl_slist *headers, char *ebuf,
                      const char *body);

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
 * "version_args": [...], "flags": [...]}}, and optionally "help_args",
 * "prompt_via", "stdin_args", "resume_args", "resume_missing"
 * (agq-backend(7)).  New reference, or NULL with ERR set. */
json_t *agq_cli_lock_load(const struct agq_conf *conf, char *err,
                          size_t size);

/* Prompt bytes an agent CLI gets on its command line at most: 64 KiB,
 * far below Linux's 128 KiB limit on one argument (MAX_ARG_STRLEN,
 * execve(2)), beyond which execve fails with E2BIG. */
#define AGQ_CLI_ARGV_MAX (64u << 10)

/* Whether lock entry E (an object of the CLI lock file) gets a prompt of
 * PROMPT_LEN bytes on standard input: 1 when E's "prompt_via" is "stdin"
 * or when it is "argv" (the default) and PROMPT_LEN is over
 * AGQ_CLI_ARGV_MAX, else 0; -1 when "prompt_via" is another value. */
int agq_cli_prompt_on_stdin(const json_t *e, size_t prompt_len);

/* The command line of lock entry E (agq-backend(7), The CLI lock file)
 * for PROMPT, MODEL (NULL: none) and the CLI session SESSION to resume
 * (NULL: a new one), as a new JSON array of strings: E's "argv" with
 * each element "{prompt}" replaced by PROMPT (when ON_STDIN, by the
 * elements of E's "stdin_args", none when absent), "{model}" by MODEL,
 * "{session_id}" by SESSION, and "{model_args}" by E's "resume_args"
 * filled the same way when SESSION is not NULL, then E's "model_args"
 * when MODEL is not NULL (by nothing otherwise).  Without a
 * "{model_args}" element those arguments come last, as before the
 * placeholder existed. */
json_t *agq_cli_argv(const json_t *e, const char *prompt, const char *model,
                     const char *session, int on_stdin);

/* agq-mcp(1) given to a CLI for a task with "mcp": true (agq-backend(7),
 * "MCP"): CONFIG, the path of the JSON file of its MCP servers
 * ({"mcpServers": {"agq": {"command", "args", "env"}}}, claude's
 * --mcp-config and gemini's settings); COMMAND, agq-mcp's path as a
 * TOML basic string, quotes included; ENV, agq-mcp's environment
 * (AGQ_TASK_ID, AGQ_SPOOL, AGQ_CONF) as a TOML inline table (codex's -c
 * mcp_servers.agq.*).  Strings malloc'd: agq_cli_mcp_free. */
struct agq_cli_mcp {
	char *config, *command, *env;
};

/* agq_cli_argv, with E's "mcp_args" (when MCP is not NULL) after its
 * "model_args", "{mcp_config}", "{mcp_command}" and "{mcp_env}" replaced
 * by MCP's wherever they stand in an element. */
json_t *agq_cli_argv_mcp(const json_t *e, const char *prompt,
                         const char *model, const char *session,
                         int on_stdin, const struct agq_cli_mcp *mcp);

/* Make M for the task TASK (its "id") run by the CLI of lock entry E
 * named TOOL: agq-mcp found beside the running program (../../bin from
 * libexec/agq, else the compiled-in bin directory), and the file
 * DIR/mcp-TOOL.json written (agq_write_atomic, fsync'd), its server
 * entry with E's "mcp_server" object's members added (gemini's "trust").
 * The environment given to agq-mcp: AGQ_TASK_ID (TASK's id), and
 * AGQ_SPOOL and AGQ_CONF as this process has them.  0, or -1 with ERR
 * (SIZE bytes). */
int agq_cli_mcp_prepare(const json_t *e, const char *tool,
                        const json_t *task, const char *dir,
                        struct agq_cli_mcp *m, char *err, size_t size);
void agq_cli_mcp_free(struct agq_cli_mcp *m);

/* Run backend NAME (shell, ollama, openai, anthropic, cli) for TASK with
 * the settings of CONF; the caller has called curl_global_init.  Returns
 * the result object of agq-backend(7): backend, status "ok"|"error",
 * output, model, tokens_in, tokens_out, cost_usd (null when no price is
 * known), endpoint, duration_ms, error (null when ok), and for cli the
 * CLI's session_id.  A cli TASK with "resume_session" resumes that
 * session where the lock entry has "resume_args"; when the CLI says it no
 * longer knows it (the entry's "resume_missing" on its standard error),
 * the call is made once more without resuming, saying so on standard
 * error. */
json_t *agq_backend_run(const char *name, const json_t *task,
                        const struct agq_conf *conf);

/* The main of the backend executable NAME (libexec/agq/NAME): read the
 * task on standard input, print the result, exit 0 (ok), 1 (error), 65
 * (bad task, still with a result object), 78 (bad agq.conf). */
int agq_backend_main(int argc, char **argv, const char *name);

#endif
