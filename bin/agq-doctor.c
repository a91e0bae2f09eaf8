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
	agq_setprog(argv[0]);
	agq_cli_help(argc, argv, usage);
	static const struct option longopts[] = {
		{ "spool", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *spool = NULL;
	int json = 0, c;
	while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'j': json = 1; break;
		default: agq_cli_usage(usage);
		}
	}
	if (optind < argc)
		agq_cli_usage(usage);
	json_t *rep = agq_doctor(spool);
	if (json) {
		char *s = json_dumps(rep, JSON_INDENT(2));
		printf("%s\n", s ? s : "null");
		free(s);
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
	if (agq_flush_stdout() < 0)
		rc = EX_IOERR;
	return rc;
}
