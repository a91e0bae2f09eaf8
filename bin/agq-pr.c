/* agq-pr - the pull request records of a spool (agq-pr(1)). */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "git.h"
#include "prrec.h"
#include "forge.h"
#include "review.h"
#include "merge.h"

static const char usage[] =
"usage: agq-pr [-s SPOOL] ls [--state open|merged|closed] [--json]\n"
"       agq-pr [-s SPOOL] show PRID|TASKID [--json]\n"
"       agq-pr [-s SPOOL] merged|closed|reopen PRID\n"
"       agq-pr [-s SPOOL] open PRID|TASKID [--json]\n"
"       agq-pr [-s SPOOL] sync [--json]\n"
"       agq-pr [-s SPOOL] poll [--json]\n"
"       agq-pr [-s SPOOL] approve|request-changes|deny|close ID [-m TEXT]\n"
"List and show the pull request records of a spool (prs/), and record\n"
"what became of one; open a record's PR on the forge of agq.conf (open),\n"
"or of every open record that has none yet (sync); ask the forge what\n"
"became of each open record's PR (poll).  Review and approve a task's\n"
"pull request: ID is a task id, the start of one, or a PR record id.\n"
"See agq-pr(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --state S     only the records in state S (ls; repeated, or S,S...:\n"
"                    in any of them)\n"
"      --json        ls, sync, poll: one JSON array; show, open: one object\n"
"  -m, --message T   approve, request-changes, deny, close: the comment\n"
"Exit: 0 ok, 1 the forge refused or the task is not in a state for it\n"
"(review/ or approval/), 64 usage, 66 no such record or task, 75 the\n"
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

/* The task ARG names (agq-pr(1)): a PR record id (its task), a task id,
 * or the start of one; into ID (65 bytes).  0, or an exit status
 * (reported). */
static int
task_of(struct agq_spool *sp, const char *arg, char *id)
{
	struct agq_loc loc;
	json_t *rec = !strncmp(arg, "pr-", 3) ? agq_pr_find(sp, arg) : NULL;
	if (rec) {
		snprintf(id, 65, "%s", jstr(rec, "task"));
		json_decref(rec);
		return 0;
	}
	if (agq_task_resolve(sp, arg, id, &loc) == 0)
		return 0;
	if (errno == ENOTUNIQ) {
		agq_warn("%s: more than one task starts with it (%s)", arg, id);
		return EX_USAGE;
	}
	agq_warn("%s: no such task or PR record", arg);
	return EX_NOINPUT;
}

/* approve, request-changes, deny or close (VERB, agq_review_person) of
 * the task ARG names, with TEXT (may be NULL), by the real uid running
 * agq-pr; close also closes the PR on the forge and moves its record to
 * prs/closed/.  Returns the exit status. */
static int
person(struct agq_spool *sp, int verb, const char *arg, const char *text)
{
	char id[65], msg[1200];
	int rc = task_of(sp, arg, id);
	if (rc)
		return rc;
	uid_t uid = getuid();
	struct passwd *pw = getpwuid(uid);
	const char *user = pw ? pw->pw_name : NULL;
	json_t *rec = NULL;
	if (verb == AGQ_PR_CLOSE) {
		rec = agq_pr_find(sp, !strncmp(arg, "pr-", 3) ? arg : id);
		if (!rec) {
			agq_warn("%s: no PR record to close", id);
			return EX_NOINPUT;
		}
		char err[1024];
		int f = agq_forge_close(sp, rec, err, sizeof err);
		if (f == AGQ_FORGE_FAIL || f == AGQ_FORGE_RETRY) {
			agq_warn("cannot close the pull request%s: %s", f ==
			    AGQ_FORGE_RETRY ? " now (try again)" : "", err);
			json_decref(rec);
			return f == AGQ_FORGE_RETRY ? EX_TEMPFAIL : 1;
		}
		/* who closed it, in the record: agq-sched ends a task that
		 * reaches review/ or approval/ after this with that name */
		char at[32], whobuf[32];
		if (!user)
			snprintf(whobuf, sizeof whobuf, "uid %lu",
			    (unsigned long)uid);
		agq_fmt_time(agq_now_us(), at);
		json_t *cl = json_pack("{s:s, s:I, s:s}", "by", user ? user :
		    whobuf, "uid", (json_int_t)uid, "at", at);
		json_t *tj = text ? json_string(text) : NULL;
		if (tj)
			json_object_set_new(cl, "text", tj);
		if (strcmp(jstr(rec, "state"), "closed"))
			json_object_set_new(rec, "closed", cl);
		else
			json_decref(cl);
		if (strcmp(jstr(rec, "state"), "closed") && (agq_pr_save(sp,
		    rec) < 0 || agq_pr_move(sp, jstr(rec, "id"), "closed") <
		    0)) {
			rc = agq_spool_syserr(sp, "cannot move the PR record",
			    "prs/closed/%s.json", jstr(rec, "id"));
			json_decref(rec);
			return rc;
		}
	}
	int r = agq_review_person(sp, id, verb, text, uid, user, msg,
	    sizeof msg);
	json_decref(rec);
	if (r == 0) {
		printf("%s\n", msg);
		return 0;
	}
	agq_warn("%s", msg);
	return r > 0 ? 1 : errno == ENOENT ? EX_NOINPUT : agq_exit_code(errno);
}

/* poll: each open record's PR asked of the forge (agq_merge_poll); what
 * changed printed "PRID STATE [SHA]", or every record asked as JSON. */
static int
poll(struct agq_spool *sp, int json)
{
	json_t *out;
	int rc = agq_merge_poll(sp, &out);
	if (rc == EX_CONFIG)
		agq_warn("cannot poll the forge: no forge is set (forge, "
		    "agq.conf)");
	size_t i;
	json_t *e;
	json_array_foreach(out, i, e) {
		if (json_object_get(e, "error"))
			agq_warn("cannot poll %s: %s", jstr(e, "pr"), jstr(e,
			    "error"));
		else if (!json && strcmp(jstr(e, "state"), "unchanged"))
			printf("%s\t%s%s%s\n", jstr(e, "pr"), jstr(e, "state"),
			    json_is_string(json_object_get(e, "sha")) ? "\t" : "",
			    json_is_string(json_object_get(e, "sha")) ?
			    jstr(e, "sha") : "");
	}
	if (json && rc != EX_CONFIG)
		agq_print_json(out, JSON_COMPACT);
	json_decref(out);
	return rc;
}

/* agq_cli_words' FN for --state: W added to the set ARG (a JSON
 * object); exits 64 when it is not open, merged or closed. */
static void
state_word(const char *w, void *arg)
{
	if (strcmp(w, "open") && strcmp(w, "merged") && strcmp(w, "closed"))
		agq_die(EX_USAGE, "--state: not open, merged or closed: '%s'",
		    w);
	json_object_set_new(arg, w, json_true());
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "state", required_argument, NULL, 'S' },
		{ "message", required_argument, NULL, 'm' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:m:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	const char *text = NULL;
	json_t *states = json_object();         /* --state's; empty: any */
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		if (c == 'S')
			agq_cli_words("--state", optarg, state_word, states);
		else
			text = optarg;  /* 'm' */
	}
	int json = cl.json;
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	const char *to = !strcmp(cmd, "merged") ? "merged" :
	    !strcmp(cmd, "closed") ? "closed" : !strcmp(cmd, "reopen") ?
	    "open" : NULL;
	static const char *const verbs[] = { [AGQ_PR_APPROVE] = "approve",
	    [AGQ_PR_REQUEST_CHANGES] = "request-changes", [AGQ_PR_DENY] =
	    "deny", [AGQ_PR_CLOSE] = "close" };
	int verb = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(cmd, verbs[i]))
			verb = i;
	if (text && verb < 0)
		agq_die(EX_USAGE, "-m: only with approve, request-changes, "
		    "deny or close");
	json_t *tj = text ? json_string(text) : NULL;
	if (text && !tj)
		agq_die(EX_USAGE, "-m: not UTF-8 text");
	json_decref(tj);
	if (!((!strcmp(cmd, "ls") && nargs == 0) || (verb >= 0 && nargs == 1) ||
	    (!strcmp(cmd, "show") && nargs == 1) || (to && nargs == 1) ||
	    (!strcmp(cmd, "open") && nargs == 1) ||
	    (!strcmp(cmd, "sync") && nargs == 0) ||
	    (!strcmp(cmd, "poll") && nargs == 0)))
		agq_cli_usage(usage);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc = 0;
	if (verb >= 0) {
		rc = person(&sp, verb, argv[optind], text);
	} else if (!strcmp(cmd, "ls")) {
		json_t *all = agq_pr_list(&sp, NULL);
		for (size_t i = all ? json_array_size(all) : 0; i-- > 0;)
			if (json_object_size(states) && !json_object_get(states,
			    jstr(json_array_get(all, i), "state")))
				json_array_remove(all, i);
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
	} else if (!strcmp(cmd, "poll")) {
		rc = poll(&sp, json);
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
	json_decref(states);
	if (agq_flush_stdout() < 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
