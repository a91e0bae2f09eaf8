/* agq-pause, agq-resume: the scheduler assigns nothing of a lane, a
 * tenant, a backend or the whole spool until resumed (agq-pause(1)).  One
 * main, built twice with AGQ_PAUSE_OP set by the Makefile; the pauses
 * are lib/qstate.c's. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "qstate.h"

static const char usage_pause[] =
"usage: agq-pause [-s SPOOL] [-q] (--lane L | --tenant T | --backend B |\n"
"                 --all) [-m NOTE]\n"
"       agq-pause [-s SPOOL] [--json]\n"
"Pause scheduling: agq-sched assigns no task of lane L, tenant T or\n"
"backend B (or none at all) until agq-resume; what runs goes on.  Without\n"
"a target, list the pauses in force.  See agq-pause(1).\n"
"      --lane L       urgent, high, normal or low\n"
"      --tenant T     a tenant (agq-task(5), tenant)\n"
"      --backend B    a backend (agq-backend(7)), e.g. claude, ollama, shell\n"
"      --all          the whole spool\n"
"  -m, --note NOTE    why, shown by agq-status and journaled\n"
"  -s, --spool DIR    spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -q, --quiet        print nothing on success\n"
"      --json         the listing as one JSON array\n";

static const char usage_resume[] =
"usage: agq-resume [-s SPOOL] [-q] (--lane L | --tenant T | --backend B |\n"
"                  --all)\n"
"End a pause of agq-pause: agq-sched assigns those tasks again.  See\n"
"agq-pause(1).\n"
"      --lane L       urgent, high, normal or low\n"
"      --tenant T     a tenant\n"
"      --backend B    a backend\n"
"      --all          the pause of the whole spool (not the others)\n"
"  -s, --spool DIR    spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -q, --quiet        print nothing on success\n";

/* "lane low", "the whole spool": a pause for people, into BUF */
static const char *
what(const char *kind, const char *name, char *buf, size_t n)
{
	if (!strcmp(kind, "all"))
		snprintf(buf, n, "the whole spool");
	else
		snprintf(buf, n, "%s %s", kind, name);
	return buf;
}

int
main(int argc, char **argv)
{
	int resume = !strcmp(AGQ_PAUSE_OP, "resume");
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON, AGQ_OPT_QUIET,
		{ "lane", required_argument, NULL, 'l' },
		{ "tenant", required_argument, NULL, 't' },
		{ "backend", required_argument, NULL, 'b' },
		{ "all", no_argument, NULL, 'a' },
		{ "note", required_argument, NULL, 'm' },
		AGQ_OPT_END
	};
	const char *usage = resume ? usage_resume : usage_pause;
	struct agq_cli cl = { .usage = usage, .shortopts = "s:qm:",
	    .longopts = longopts };
	const char *kind = NULL, *name = "all", *note = NULL;
	int c, targets = 0;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'l': case 't': case 'b':
			kind = c == 'l' ? "lane" : c == 't' ? "tenant" :
			    "backend";
			name = optarg;
			targets++;
			break;
		case 'a':
			kind = "all";
			name = "all";
			targets++;
			break;
		case 'm':
			if (resume)
				agq_cli_usage(usage);
			note = optarg;
			break;
		}
	}
	if (targets > 1 || (!targets && (resume || note)) || (targets &&
	    cl.json))
		agq_cli_usage(usage);
	char err[256], buf[128];
	if (targets && !agq_pause_valid(kind, name, err, sizeof err))
		agq_die(EX_USAGE, "%s", err);
	json_t *nj = note ? json_string(note) : NULL;
	if (note && !nj)
		agq_die(EX_USAGE, "-m: not UTF-8 text");
	json_decref(nj);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc = 0;
	if (!targets) {
		json_t *l = agq_pause_list(&sp);
		size_t i;
		json_t *p;
		if (cl.json)
			agq_print_json(l, JSON_COMPACT);
		else
			json_array_foreach(l, i, p)
				printf("%s since %s%s%s\n", agq_shown(what(
				    json_string_value(json_object_get(p,
				    "kind")), json_string_value(json_object_get(
				    p, "name")), buf, sizeof buf)),
				    agq_shown_get(p, "since"), json_is_string(
				    json_object_get(p, "note")) ? ": " : "",
				    json_is_string(json_object_get(p, "note")) ?
				    agq_shown_get(p, "note") : "");
		json_decref(l);
	} else if (resume) {
		if (agq_pause_clear(&sp, kind, name) < 0) {
			if (errno == ENOENT) {
				agq_warn("%s: not paused", what(kind, name, buf,
				    sizeof buf));
				rc = EX_NOINPUT;
			} else {
				rc = agq_spool_syserr(&sp, "cannot resume",
				    "pauses");
			}
		} else if (!cl.quiet) {
			printf("resumed %s\n", what(kind, name, buf, sizeof buf));
		}
	} else {
		errno = 0;
		const struct passwd *pw = getpwuid(getuid());
		if (agq_pause_set(&sp, kind, name, note, getuid(), pw ?
		    pw->pw_name : NULL) < 0)
			rc = agq_spool_syserr(&sp, "cannot pause", "pauses");
		else if (!cl.quiet)
			printf("paused %s\n", what(kind, name, buf, sizeof buf));
	}
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
