/*
 * fuzz_task.c - libFuzzer harness for the task parser and validator.
 *
 * Each input is what could land in inbox/ or on agq-submit's standard
 * input: it goes through agq_task_parse (jansson, duplicate keys, then
 * agq_task_validate).  A task that is accepted must also survive what
 * agq does with it next: normalize, dump, parse the dump again (it must
 * still be valid, with the same id), and redact a copy for display.  Any
 * crash, sanitizer report, leak or failed invariant is a finding.
 *
 * Built by `make fuzz` / `make check` with clang -fsanitize=fuzzer,address,
 * undefined into build/fuzz/fuzz_task; see tests/fuzz.bats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	agq_prog = "fuzz_task";
	json_t *t = agq_task_parse((const char *)data, size, err, sizeof err);
	if (!t) {
		/* a rejection always says why */
		if (!err[0] || !memchr(err, '\0', sizeof err))
			abort();
		return 0;
	}
	agq_task_normalize(t, 1795304667000000LL);
	const char *id = agq_task_id(t);
	if (!id || !agq_id_valid(id))
		abort();
	size_t len;
	char *buf = agq_task_dump(t, &len);
	if (!buf)
		abort();
	json_t *again = agq_task_parse(buf, len, err, sizeof err);
	if (!again || strcmp(agq_task_id(again), id))
		abort();        /* what agq writes, it must read back */
	json_t *shown = json_deep_copy(t);
	agq_redact(shown);
	json_decref(shown);
	json_decref(again);
	free(buf);
	json_decref(t);
	return 0;
}
