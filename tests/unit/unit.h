/* unit.h - a tiny TAP producer for agq's C unit tests. */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_n, unit_failed;

#define CHECK(cond, name) do { \
	unit_n++; \
	if (cond) { \
		printf("ok %d - %s\n", unit_n, name); \
	} else { \
		unit_failed++; \
		printf("not ok %d - %s\n#   %s:%d: %s\n", unit_n, name, \
		    __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define DONE() do { printf("1..%d\n", unit_n); \
	return unit_failed ? 1 : 0; } while (0)

#endif
