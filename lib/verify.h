/*
 * verify.h - verify.c: running verification steps (agq-verify(1)).
 *
 * Uses util and steps.
 */
#ifndef AGQ_VERIFY_H
#define AGQ_VERIFY_H

#include <stddef.h>
#include <jansson.h>

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
/* agq_command_output with the variables of ENV (a JSON object of
 * strings, or NULL: agq_setenv_json) set in CMD's environment, over those
 * it inherits: agq-doctor(8) runs a CLI with its lock entry's "env", as
 * a real call does (agq-backend(7)). */
char *agq_command_output_env(const json_t *cmd, const json_t *env,
                             double timeout_s, size_t max, size_t *len,
                             int *status);

#endif
