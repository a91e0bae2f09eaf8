/* agq-plan - revisioned plan documents with compare-and-swap (agq-plan(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "plan.h"

static const char usage[] =
"usage: agq-plan [-s SPOOL] get NAME [--rev N] [--json]\n"
"       agq-plan [-s SPOOL] put NAME [--if-rev N] < DOC\n"
"       agq-plan [-s SPOOL] patch NAME [--if-rev N] [--merge] < PATCH\n"
"       agq-plan [-s SPOOL] rm NAME [--if-rev N]\n"
"       agq-plan [-s SPOOL] ls [--json]\n"
"       agq-plan [-s SPOOL] log NAME [--json]\n"
"Shared JSON documents with a revision number each (plans/NAME/): read,\n"
"write, patch (RFC 6902 JSON Patch, or RFC 7396 merge patch with --merge),\n"
"delete, list, and show every revision.  put, patch and rm print the new\n"
"revision.  See agq-plan(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --rev N       get: revision N, not the newest\n"
"      --if-rev N    put, patch, rm: only if the newest revision is N (0:\n"
"                    the plan does not exist); else exit 75 (a conflict)\n"
"      --merge       patch: the patch is an RFC 7396 merge patch\n"
"      --json        get: {\"plan\",\"rev\",\"doc\"}; ls, log: a JSON array\n"
"Exit: 0 ok, 64 usage, 65 bad input (not JSON, a bad name, a patch that\n"
"does not apply), 69 no such plan or revision (or deleted), 74 an I/O\n"
"error, 75 a stale --if-rev (only that), 77 the spool cannot be written.\n";

/* The exit status for errno: agq_exit_code's, except that nothing but a
 * stale --if-rev exits 75 (a full disk is 74 here). */
static int
plan_exit(int err)
{
	int c = agq_exit_code(err);
	return c == EX_TEMPFAIL ? EX_IOERR : c;
}

/* Standard input as one JSON value (duplicate members refused: RFC 6902
 * appendix A.13), or exit 65 naming where it is bad. */
static json_t *
read_stdin(const char *what)
{
	json_error_t e;
	json_t *v = json_loadf(stdin, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &e);
	if (!v)
		agq_die(EX_DATAERR, "%s on standard input: line %d column %d: "
		    "%s", what, e.line, e.column, e.text);
	return v;
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = agq_shown_get(o, k);
	return s ? s : "-";
}

/* "user" or "user (task ID)" of a record's "by". */
static const char *
by_text(const json_t *by, char *buf, size_t size)
{
	const char *task = agq_shown_get(by, "task");
	const char *user = agq_shown_get(by, "user");
	char uid[32] = "-";
	if (!user && json_is_integer(json_object_get(by, "uid")))
		snprintf(uid, sizeof uid, "uid %lld", (long long)
		    json_integer_value(json_object_get(by, "uid")));
	snprintf(buf, size, "%s%s%s%s", user ? user : uid,
	    task ? " (task " : "", task ? task : "", task ? ")" : "");
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON,
		{ "rev", required_argument, NULL, 'r' },
		{ "if-rev", required_argument, NULL, 'i' },
		{ "merge", no_argument, NULL, 'm' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	long rev = 0, if_rev = -1;
	int merge = 0, c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'r': rev = agq_cli_long("--rev", optarg, 1, LONG_MAX); break;
		case 'i': if_rev = agq_cli_long("--if-rev", optarg, 0,
		    LONG_MAX); break;
		case 'm': merge = 1; break;
		}
	}
	const char *cmd = argv[optind], *name = argv[optind + 1];
	int nargs = argc - optind;
	int is_ls = !strcmp(cmd, "ls"), is_get = !strcmp(cmd, "get"),
	    is_patch = !strcmp(cmd, "patch"), is_log = !strcmp(cmd, "log");
	int writes = !strcmp(cmd, "put") || is_patch || !strcmp(cmd, "rm");
	if ((!is_ls && !is_get && !is_log && !writes) ||
	    nargs != (is_ls ? 1 : 2) || (rev && !is_get) ||
	    (if_rev >= 0 && !writes) || (merge && !is_patch) ||
	    (cl.json && writes))
		agq_cli_usage(usage);
	if (name && !agq_plan_name_valid(name))
		agq_die(EX_DATAERR, "bad plan name '%s': letters, digits, '.', "
		    "'_' and '-', at most 64, not starting with '.'",
		    agq_shown(name));
	json_t *input = NULL;
	if (writes && strcmp(cmd, "rm"))
		input = read_stdin(is_patch ? "the patch" : "the document");
	if (is_patch && !merge && !json_is_array(input))
		agq_die(EX_DATAERR, "the patch on standard input is not a JSON "
		    "array (RFC 6902; --merge for an RFC 7396 merge patch)");

	struct agq_spool sp;
	if (agq_spool_open(&sp, cl.spool, NULL) < 0)
		return plan_exit(errno);
	int rc = 0, r;
	long nrev = 0;
	char err[1024] = "";
	if (is_get) {
		json_t *doc;
		r = agq_plan_get(&sp, name, rev, &doc, &nrev);
		if (r == AGQ_PLAN_ABSENT) {
			agq_warn("no plan %s%s", name, rev ? " at that revision"
			    : nrev ? " (deleted)" : "");
			rc = EX_UNAVAILABLE;
		} else if (r < 0) {
			rc = plan_exit(errno);
			agq_spool_syserr(&sp, "cannot read", "plans/%s/%010ld.json",
			    name, nrev);
		} else if (cl.json) {
			json_t *o = json_pack("{s:s, s:I, s:o}", "plan", name,
			    "rev", (json_int_t)nrev, "doc", doc);
			agq_print_json(o, JSON_COMPACT);
			json_decref(o);
		} else {
			agq_print_json(doc, JSON_INDENT(2) | JSON_ENCODE_ANY);
			json_decref(doc);
		}
	} else if (writes) {
		if (!strcmp(cmd, "put"))
			r = agq_plan_put(&sp, name, input, if_rev, &nrev);
		else if (is_patch)
			r = agq_plan_patch(&sp, name, input, merge, if_rev, &nrev,
			    err, sizeof err);
		else
			r = agq_plan_rm(&sp, name, if_rev, &nrev);
		if (r == 0) {
			printf("%ld\n", nrev);
		} else if (r == AGQ_PLAN_CONFLICT) {
			agq_warn("plan %s: stale revision: --if-rev %ld, the newest "
			    "is %ld", name, if_rev, nrev);
			rc = EX_TEMPFAIL;
		} else if (r == AGQ_PLAN_ABSENT) {
			agq_warn("no plan %s", name);
			rc = EX_UNAVAILABLE;
		} else if (r == AGQ_PLAN_BADPATCH) {
			agq_warn("plan %s: the patch does not apply: %s", name,
			    err);
			rc = EX_DATAERR;
		} else {
			rc = plan_exit(errno);
			agq_spool_syserr(&sp, "cannot write", "plans/%s", name);
		}
	} else if (is_ls) {
		json_t *l = agq_plan_list(&sp);
		size_t i;
		json_t *e;
		if (!l) {
			rc = plan_exit(errno);
			agq_spool_syserr(&sp, "cannot list", "plans");
		} else if (cl.json) {
			agq_print_json(l, JSON_INDENT(2));
		} else {
			json_array_foreach(l, i, e) {
				char b[256];
				printf("%-24s %6lld  %s  %s%s\n", jstr(e, "plan"),
				    (long long)json_integer_value(json_object_get(
				    e, "rev")), jstr(e, "at"), by_text(
				    json_object_get(e, "by"), b, sizeof b),
				    json_is_true(json_object_get(e, "deleted")) ?
				    "  deleted" : json_object_get(e, "error") ?
				    "  unreadable" : "");
			}
		}
		json_decref(l);
	} else {
		json_t *l = agq_plan_log(&sp, name);
		size_t i;
		json_t *e;
		if (!l && errno == ENOENT) {
			agq_warn("no plan %s", name);
			rc = EX_UNAVAILABLE;
		} else if (!l) {
			rc = plan_exit(errno);
			agq_spool_syserr(&sp, "cannot list", "plans/%s", name);
		} else if (cl.json) {
			agq_print_json(l, JSON_INDENT(2));
		} else {
			json_array_foreach(l, i, e) {
				char b[256];
				const char *op = jstr(e, "op");
				if (json_object_get(e, "error"))
					op = "unreadable:";
				printf("%6lld  %s  %s  %s%s%s\n", (long long)
				    json_integer_value(json_object_get(e, "rev")),
				    jstr(e, "at"), by_text(json_object_get(e,
				    "by"), b, sizeof b), op,
				    json_is_true(json_object_get(e, "merge")) ?
				    " --merge" : "", json_object_get(e, "error")
				    ? jstr(e, "error") : "");
				if (!strcmp(op, "patch")) {
					char *p = json_dumps(json_object_get(e,
					    "patch"), JSON_COMPACT |
					    JSON_ENCODE_ANY);
					printf("        %s\n", agq_shown(p));
					free(p);
				}
			}
		}
		json_decref(l);
	}
	json_decref(input);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
