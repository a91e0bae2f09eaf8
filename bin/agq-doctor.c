/* agq-doctor - check an installation for agent work (agq-doctor(8)). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "doctor.h"

static const char usage[] =
"usage: agq-doctor [-s SPOOL] [--json]\n"
"Check the spool, the backends, the price table, the CLI lock file, each\n"
"agent CLI (found, version, pinned flags accepted), the API keys and the\n"
"registered endpoints.  See agq-doctor(8).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --json        print the report as JSON\n"
"Exit: 0 nothing failed (warnings allowed), 1 a check failed.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	agq_cli_parse(&cl, argc, argv);
	json_t *rep = agq_doctor(cl.spool);
	if (cl.json) {
		agq_print_json(rep, JSON_INDENT(2));
	} else {
		size_t i;
		json_t *ch;
		json_array_foreach(json_object_get(rep, "checks"), i, ch)
			printf("%-4s  %-20s %s\n", json_string_value(
			    json_object_get(ch, "status")), json_string_value(
			    json_object_get(ch, "check")), json_string_value(
			    json_object_get(ch, "detail")));
		printf("doctor: %s, %lld failed\n", json_string_value(
		    json_object_get(rep, "status")), (long long)
		    json_integer_value(json_object_get(rep, "failed")));
	}
	int rc = strcmp(json_string_value(json_object_get(rep, "status")),
	    "ok") ? 1 : 0;
	json_decref(rep);
	return agq_cli_done(rc);
}
