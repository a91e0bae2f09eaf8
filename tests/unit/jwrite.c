/* jwrite - a test helper, not a unit test: append the JSON objects of
 * standard input (one per line, each with "ev" and optionally "id", "ts"
 * and any other member) to the journal of the spool $AGQ_SPOOL through
 * libagq's own writer (agq_jbatch_add, agq_jbatch_write: journal.h), so
 * the fixtures of tests/report.bats carry a real hash chain, at the times
 * their "ts" says (an event's members replace the writer's "ts").
 * Exit 0, 65 a line is not such an object, 74 the journal was not
 * written. */
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "spool.h"
#include "journal.h"
#include "open.h"

int
main(int argc, char **argv)
{
	(void)argc;
	agq_setprog(argv[0]);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, NULL);
	struct agq_jbatch b = { NULL };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *o = json_loadb(line, (size_t)n, 0, NULL);
		const char *ev = json_string_value(json_object_get(o, "ev"));
		if (!json_is_object(o) || !ev)
			agq_die(EX_DATAERR, "not an event: %s", line);
		char *e = agq_xstrdup(ev), *id = NULL;
		if (json_is_string(json_object_get(o, "id")))
			id = agq_xstrdup(json_string_value(json_object_get(o,
			    "id")));
		json_object_del(o, "ev");
		json_object_del(o, "id");
		agq_jbatch_add(&b, e, id, o);
		free(e);
		free(id);
	}
	free(line);
	int rc = agq_jbatch_write(&sp, &b) < 0 ? EX_IOERR : 0;
	if (rc)
		agq_syserr("cannot write the journal", sp.root);
	agq_spool_close(&sp);
	return rc;
}
