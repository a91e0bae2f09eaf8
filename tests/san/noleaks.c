/*
 * noleaks.c - linked into the sanitizer build (make check, SAN=1) of
 * agq's one-shot programs and backends, not into the daemons (agq-sched,
 * agq-run, agq-dash) nor the unit tests; not part of agq.
 *
 * LeakSanitizer's check at exit costs a sanitizer-built process about
 * 47 ms of CPU (78 ms against 31 ms: it stops the process and scans its
 * memory, libubsan's 6 MB .bss included), and the bats files start
 * thousands of one-shot programs whose memory is returned at exit anyway.
 * So LeakSanitizer stays where a leak matters: the unit tests of lib/
 * (and their valgrind runs), where each function's ownership is checked,
 * and the daemons, where a leak in a loop grows.  The rule is the
 * program's, decided at link time, not the environment's: a daemon's
 * children (agq-attempt, the backends, agq-submit from a task) inherit
 * its environment and still skip the check, and a daemon started any way
 * at all (start_sched, a test's own `agq-sched --once &`) keeps it.
 * tests/leaks.bats proves both.
 *
 * AGQ_TEST_LEAKS=1 in the environment turns the check back on for the
 * one-shot programs too (hunting a leak: AGQ_TEST_LEAKS=1 tests/run X).
 */
#include <stdlib.h>

/* LeakSanitizer calls this (a weak hook of its runtime) at the exit check:
 * non-zero skips the check.  Returns 1 unless $AGQ_TEST_LEAKS is "1". */
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	const char *e = getenv("AGQ_TEST_LEAKS");

	return !(e && e[0] == '1' && e[1] == '\0');
}
