/*
 * steps.h - steps.c: validating verification steps (agq-verify(1)).
 *
 * The checks of a task's "verify" array, without running anything (verify.h
 * runs them), so that the task validator links no process code.
 */
#ifndef AGQ_STEPS_H
#define AGQ_STEPS_H

#include <stddef.h>
#include <jansson.h>

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

#endif
