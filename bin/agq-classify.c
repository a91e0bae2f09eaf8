/* agq-classify - print the complexity tier agq would give a task, without
 * submitting it (agq-classify(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "classify.h"
#include "task.h"

static const char usage[] =
"usage: agq-classify [--json] [FILE...]\n"
"Print the complexity tier of each task (a JSON object in FILE, or on\n"
"standard input when no FILE or FILE is -) and the signals behind it.\n"
"Nothing is submitted.  See agq-classify(1).\n"
"      --json   print the complexity object agq stores in the task\n"
"Exit: 0 ok, 65 a task is not valid, 66 a file cannot be read.\n";

static int
classify(const char *name, const char *buf, size_t len, int json)
{
	char err[512];
	json_t *t = agq_task_parse(buf, len, err, sizeof err);
	if (!t) {
		agq_warn("%s: %s", name, err);
		return EX_DATAERR;
	}
	json_t *c = agq_classify(t);
	if (json) {
		agq_print_json(c, JSON_COMPACT);
	} else {
		printf("%s\t%s\tscore %d", json_string_value(json_object_get(c,
		    "tier")), json_string_value(json_object_get(c, "source")),
		    (int)json_integer_value(json_object_get(c, "score")));
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(c, "signals"), i, s) {
			char *v = json_dumps(json_object_get(s, "value"),
			    JSON_ENCODE_ANY | JSON_COMPACT);
			printf("%s%s=%s(%+d)", i ? " " : "\t",
			    json_string_value(json_object_get(s, "signal")),
			    v ? v : "?",
			    (int)json_integer_value(json_object_get(s, "weight")));
			free(v);
		}
		printf("\t%s\n", name);
	}
	json_decref(c);
	json_decref(t);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	agq_cli_parse(&cl, argc, argv);
	int rc = 0;
	static char *stdin_only[] = { "-", NULL };
	char **files = optind < argc ? argv + optind : stdin_only;
	for (; *files; files++) {
		size_t len;
		char *buf;
		if (!strcmp(*files, "-"))
			buf = agq_read_fd(0, 16 << 20, &len);
		else
			buf = agq_read_file(*files, 16 << 20, &len, NULL);
		if (!buf) {
			agq_syserr("cannot read task", strcmp(*files, "-") ?
			    *files : "standard input");
			rc = rc ? rc : EX_NOINPUT;
			continue;
		}
		int r = classify(strcmp(*files, "-") ? *files : "-", buf, len,
		    cl.json);
		free(buf);
		if (r && !rc)
			rc = r;
	}
	if (agq_flush_stdout() < 0 && !rc)
		rc = EX_IOERR;
	return rc;
}
