/*
 * leak.c - an LD_PRELOAD shim for tests: its constructor allocates 16
 * blocks of 1 KiB and forgets them, so that every process it is loaded
 * into has a leak for LeakSanitizer to find at exit (tests/leaks.bats:
 * which programs of the test build check for leaks).  Built by `make
 * check` into build/fault/leak.so; not part of agq.
 */
#include <stdlib.h>
#include <string.h>

static void leak(void) __attribute__((constructor));

static void
leak(void)
{
	for (int i = 0; i < 16; i++) {
		char *volatile p = malloc(1024);

		if (p)
			memset(p, 'x', 1024);
		p = NULL;
	}
}
