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
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* leaks_wanted: 1 if the process's environment at exec has
 * AGQ_TEST_LEAKS=1, else 0.  For __asan_default_options, which runs before
 * libc has set environ (getenv finds nothing there) and before ASan's
 * interceptors are ready: so /proc/self/environ ("NAME=VALUE\0" entries),
 * read through syscall(2) alone.  Unreadable: 0. */
static int
leaks_wanted(void)
{
	static const char key[] = "AGQ_TEST_LEAKS=1";
	const int klen = sizeof key - 1;
	char buf[4096];
	long fd, n, i;
	int m = 0;              /* bytes of key matched in this entry, -1: none */

	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/environ",
	    O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while ((n = syscall(SYS_read, fd, buf, sizeof buf)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\0') {
				if (m == klen)
					break;
				m = 0;
			} else if (m >= 0 && m < klen && buf[i] == key[m])
				m++;
			else
				m = -1;
		}
		if (i < n)
			break;
	}
	syscall(SYS_close, fd);
	return m == klen;
}

/* ASan calls this (a weak hook of its runtime) for its options before it
 * reads $ASAN_OPTIONS, which overrides them.  Returns "detect_leaks=0",
 * a static string, unless AGQ_TEST_LEAKS=1: LeakSanitizer then does not
 * even start (its list of the process's modules: ~250 of a start's ~930
 * page faults, ~15% of the CPU of `agq-ls --help`), where
 * __lsan_is_turned_off below only skips its check at exit. */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return leaks_wanted() ? "" : "detect_leaks=0";
}

/* LeakSanitizer calls this (a weak hook of its runtime) at the exit check:
 * non-zero skips the check.  Returns 1 unless $AGQ_TEST_LEAKS is "1". */
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	const char *e = getenv("AGQ_TEST_LEAKS");

	return !(e && e[0] == '1' && e[1] == '\0');
}
