/* agq-verify - run verification steps and report (agq-verify(1)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "steps.h"
#include "verify.h"

static const char usage[] =
"usage: agq-verify --steps FILE [--cwd DIR] [--timeout SECONDS] [--json]\n"
"Run verification steps (file_exists, command_succeeds, test_passes,\n"
"git_clean) and report each.  FILE holds a JSON array of steps or a task\n"
"with a \"verify\" array; - is standard input.  See agq-verify(1).\n"
"      --steps FILE      the steps\n"
"      --cwd DIR         where the steps run (default: here)\n"
"      --timeout SECONDS default limit of a step (default 120)\n"
"      --json            print the JSON report\n"
"Exit: 0 every step passed, 1 a step did not pass, 64 usage, 65 bad\n"
"steps, 66 FILE cannot be read.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "steps", required_argument, NULL, 'f' },
		{ "cwd", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 't' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "",
	    .longopts = longopts };
	const char *file = NULL, *cwd = ".";
	double timeout = 120;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'C': cwd = optarg; break;
		case 't': timeout = agq_cli_seconds("--timeout", optarg); break;
		}
	}
	if (!file)
		agq_cli_usage(usage);
	if (!(timeout > 0))
		agq_die(EX_USAGE, "--timeout: must be more than 0");
	size_t len;
	char *buf = strcmp(file, "-") ? agq_read_file(file, 16u << 20, &len,
	    NULL) : agq_read_fd(0, 16u << 20, &len);
	if (!buf) {
		agq_syserr("cannot read steps", strcmp(file, "-") ? file :
		    "standard input");
		return EX_NOINPUT;
	}
	json_error_t je;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!doc) {
		agq_warn("%s: invalid JSON at line %d column %d: %s", file,
		    je.line, je.column, je.text);
		return EX_DATAERR;
	}
	json_t *steps = json_is_object(doc) ? json_object_get(doc, "verify") :
	    doc;
	char err[512];
	if (!steps) {
		agq_warn("%s: no \"verify\" array in the object", file);
		json_decref(doc);
		return EX_DATAERR;
	}
	if (agq_verify_steps_validate(steps, err, sizeof err) < 0) {
		agq_warn("%s: steps%s", file, err);
		json_decref(doc);
		return EX_DATAERR;
	}
	char abs[PATH_MAX];
	if (!realpath(cwd, abs)) {
		agq_syserr("cannot use directory", cwd);
		json_decref(doc);
		return EX_NOINPUT;
	}
	json_t *rep = agq_verify_run(steps, abs, timeout);
	if (cl.json) {
		agq_print_json(rep, JSON_INDENT(2));
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(rep, "steps"), i, r) {
			const char *st = json_string_value(json_object_get(r,
			    "status"));
			char *what = agq_verify_step_label(r);
			const char *reason = json_string_value(json_object_get(r,
			    "reason"));
			printf("%-5s %-16s %s%s%s (%lld ms)\n", st,
			    json_string_value(json_object_get(r, "type")), what,
			    reason ? ": " : "", reason ? reason : "",
			    (long long)json_integer_value(json_object_get(r,
			    "duration_ms")));
			free(what);
			const char *out = json_string_value(json_object_get(r,
			    "output"));
			if (strcmp(st, "pass") && out && *out) {
				/* the output's tail, indented */
				const char *p = out;
				while (*p) {
					const char *e = strchr(p, '\n');
					int n = e ? (int)(e - p) : (int)strlen(p);
					printf("    | %.*s\n", n, p);
					p += n + (e != NULL);
				}
			}
		}
		printf("verify: %s, %lld passed, %lld not passed\n",
		    json_string_value(json_object_get(rep, "status")),
		    (long long)json_integer_value(json_object_get(rep, "passed")),
		    (long long)json_integer_value(json_object_get(rep, "failed")));
	}
	int rc = !strcmp(json_string_value(json_object_get(rep, "status")),
	    "pass") ? 0 : 1;
	json_decref(rep);
	json_decref(doc);
	return agq_cli_done(rc);
}
