/* agq-pr - the pull request records of a spool (agq-pr(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "git.h"
#include "forge.h"

static const char usage[] =
"usage: agq-pr [-s SPOOL] ls [--state open|merged|closed] [--json]\n"
"       agq-pr [-s SPOOL] show PRID|TASKID [--json]\n"
"       agq-pr [-s SPOOL] merged|closed|reopen PRID\n"
"       agq-pr [-s SPOOL] open PRID|TASKID [--json]\n"
"       agq-pr [-s SPOOL] sync [--json]\n"
"List and show the pull request records of a spool (prs/), and record\n"
"what became of one; open a record's PR on the forge of agq.conf (open),\n"
"or of every open record that has none yet (sync).  See agq-pr(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --state S     only the records in state S (ls)\n"
"      --json        ls, sync: one JSON array; show, open: one JSON object\n"
"Exit: 0 ok, 1 the forge refused, 64 usage, 66 no such record, 75 the\n"
"forge could not be reached or failed (try again), 78 no forge set.\n";

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

/* open (ALL 0: the record KEY) or sync (ALL 1: every open record without
 * a number) on the forge; the records opened are printed "PRID NUMBER
 * URL", or as JSON.  The worst exit status: 1 refused over 75 retry. */
static int
forge_open(struct agq_spool *sp, const char *key, int all, int json)
{
	if (!*agq_backend_setting(&sp->conf, "forge", ""))
		agq_die(EX_CONFIG, "cannot open the pull request: no forge is "
		    "set (forge, agq.conf)");
	json_t *recs;
	if (all) {
		recs = agq_pr_list(sp, "open");
		if (!recs)
			return agq_spool_syserr(sp, "cannot list", "prs/open");
	} else {
		json_t *pr = agq_pr_find(sp, key);
		if (!pr) {
			agq_warn("no PR record %s", key);
			return EX_NOINPUT;
		}
		if (strcmp(jstr(pr, "state"), "open")) {
			agq_warn("cannot open the pull request: the record is %s "
			    "(%s)", jstr(pr, "state"), jstr(pr, "id"));
			json_decref(pr);
			return 1;
		}
		recs = json_pack("[o]", pr);
	}
	int rc = 0;
	size_t i;
	json_t *e, *done = json_array();
	json_array_foreach(recs, i, e) {
		if (all && json_is_integer(json_object_get(e, "number")))
			continue;
		int r = agq_forge_open_task(sp, e, NULL);
		if (r == 0 && json_is_integer(json_object_get(e, "number")))
			json_array_append(done, e);
		if (r && rc != 1)
			rc = r;
	}
	if (json && all)
		agq_print_json(done, JSON_COMPACT);
	else if (json && json_array_size(done))
		agq_print_json(json_array_get(done, 0), JSON_COMPACT);
	else if (!json)
		json_array_foreach(done, i, e)
			printf("%s\t%lld\t%s\n", jstr(e, "id"),
			    json_integer_value(json_object_get(e, "number")),
			    jstr(e, "url"));
	json_decref(done);
	json_decref(recs);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "state", required_argument, NULL, 'S' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	const char *state = NULL;
	while (agq_cli_next(&cl, argc, argv) != -1)     /* 'S' */
		state = optarg;
	int json = cl.json;
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	const char *to = !strcmp(cmd, "merged") ? "merged" :
	    !strcmp(cmd, "closed") ? "closed" : !strcmp(cmd, "reopen") ?
	    "open" : NULL;
	if (!((!strcmp(cmd, "ls") && nargs == 0) ||
	    (!strcmp(cmd, "show") && nargs == 1) || (to && nargs == 1) ||
	    (!strcmp(cmd, "open") && nargs == 1) ||
	    (!strcmp(cmd, "sync") && nargs == 0)))
		agq_cli_usage(usage);
	if (state && strcmp(state, "open") && strcmp(state, "merged") &&
	    strcmp(state, "closed"))
		agq_die(EX_USAGE, "--state: not open, merged or closed: '%s'",
		    state);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc = 0;
	if (!strcmp(cmd, "ls")) {
		json_t *all = agq_pr_list(&sp, state);
		if (!all) {
			rc = agq_spool_syserr(&sp, "cannot list", "prs");
		} else if (json) {
			agq_print_json(all, JSON_COMPACT);
		} else {
			size_t i;
			json_t *e;
			printf("%-19s %-6s %-12s %-32s %s\n", "ID", "STATE",
			    "HEAD", "BRANCH", "TITLE");
			json_array_foreach(all, i, e)
				printf("%-19s %-6s %-12.12s %-32s %s\n",
				    jstr(e, "id"), jstr(e, "state"),
				    jstr(e, "head"), jstr(e, "branch"),
				    jstr(e, "title"));
		}
		json_decref(all);
	} else if (!strcmp(cmd, "show")) {
		json_t *pr = agq_pr_find(&sp, argv[optind]);
		if (!pr) {
			agq_warn("no PR record %s", argv[optind]);
			rc = EX_NOINPUT;
		} else if (json) {
			agq_print_json(pr, JSON_COMPACT);
		} else {
			static const char *keys[] = { "id", "state", "task",
			    "repo", "base", "branch", "head", "title", "url",
			    "number", "created_at", NULL };
			for (int i = 0; keys[i]; i++) {
				json_t *v = json_object_get(pr, keys[i]);
				if (json_is_integer(v))
					printf("%-10s %lld\n", keys[i],
					    json_integer_value(v));
				else
					printf("%-10s %s\n", keys[i],
					    jstr(pr, keys[i]));
			}
		}
		json_decref(pr);
	} else if (!to) {
		rc = forge_open(&sp, argv[optind], !strcmp(cmd, "sync"), json);
	} else if (agq_pr_move(&sp, argv[optind], to) < 0) {
		if (errno == ENOENT) {
			agq_warn("no PR record %s", argv[optind]);
			rc = EX_NOINPUT;
		} else {
			rc = agq_spool_syserr(&sp, "cannot move the PR record",
			    "prs/%s", to);
		}
	}
	agq_spool_close(&sp);
	if (agq_flush_stdout() < 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
