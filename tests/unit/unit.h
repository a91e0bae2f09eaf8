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

#ifdef JANSSON_H
/* J(TEXT): TEXT parsed (a test's own JSON; exits 2 if it does not
 * parse), a new reference. */
static inline json_t *
J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	if (!j) {
		printf("bad test JSON: %s\n", s);
		exit(2);
	}
	return j;
}
#endif

#define DONE() do { printf("1..%d\n", unit_n); \
	return unit_failed ? 1 : 0; } while (0)

#endif
