/* ctl.c - the operator commands agq-cancel, agq-hold, agq-release and
 * agq-retry (agq-cancel(1)): one task state change each, journaled. */

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "ctl.h"

static const char *
who(void)
{
	const char *u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

/* Returns 0 done, 1 not applicable in its state, 2 no such task, 3 error. */
static int
act(struct agq_spool *sp, const char *op, const char *id, const char *note)
{
	struct agq_locked l;
	if (!agq_id_valid(id)) {
		agq_warn("%s: not a valid task id", id);
		return 2;
	}
	if (agq_task_lock(sp, id, NULL, &l) < 0) {
		if (errno == ENOENT) {
			agq_warn("%s: no such task", id);
			return 2;
		}
		agq_syserr("cannot lock task", id);
		return 3;
	}
	int from = l.loc.state;
	char reason[512];
	int to = -1, lane = agq_task_lane(l.task);
	const char *ev = op;
	if (!strcmp(op, "cancel")) {
		if (from == AGQ_ST_DONE || from == AGQ_ST_DEAD)
			goto wrong;
		to = AGQ_ST_DEAD;
		snprintf(reason, sizeof reason, "cancelled by %s%s%s", who(),
		    note ? ": " : "", note ? note : "");
		if (from == AGQ_ST_ACTIVE) {
			json_object_set_new(l.task, "generation", json_integer(
			    agq_task_int(l.task, "generation", 0) + 1));
			json_object_set_new(l.task, "agent", json_null());
		}
	} else if (!strcmp(op, "hold")) {
		if (from != AGQ_ST_QUEUE && from != AGQ_ST_DEFER)
			goto wrong;
		to = AGQ_ST_HOLD;
		snprintf(reason, sizeof reason, "held by %s%s%s", who(),
		    note ? ": " : "", note ? note : "");
	} else if (!strcmp(op, "release")) {
		if (from != AGQ_ST_HOLD)
			goto wrong;
		int64_t due = agq_task_time(l.task, "next_attempt_at",
		    agq_task_time(l.task, "not_before", 0));
		to = due > agq_now_us() ? AGQ_ST_DEFER : AGQ_ST_QUEUE;
		snprintf(reason, sizeof reason, "released by %s", who());
	} else { /* retry */
		if (from != AGQ_ST_DEAD)
			goto wrong;
		to = AGQ_ST_QUEUE;
		json_t *old = json_object_get(l.task, "attempts");
		json_t *hist = json_object_get(l.task, "previous_attempts");
		if (!json_is_array(hist)) {
			hist = json_array();
			json_object_set_new(l.task, "previous_attempts", hist);
		}
		json_array_extend(hist, old);
		json_object_set_new(l.task, "attempts", json_array());
		json_object_del(l.task, "next_attempt_at");
		json_object_del(l.task, "not_before");
		snprintf(reason, sizeof reason, "retried by %s (attempts reset)",
		    who());
	}
	if (agq_task_transition(sp, &l, to, to == AGQ_ST_QUEUE ? lane : -1,
	    NULL, reason) < 0) {
		int full = errno == ENOSPC || errno == EDQUOT;
		agq_syserr("cannot move task", l.loc.path);
		agq_task_unlock(&l);
		return full ? 4 : 3;    /* a full disk: the task is unchanged */
	}
	agq_journal_w(sp, ev, id, json_pack("{s:s, s:s, s:s, s:s}", "from",
	    agq_state_name(from), "to", agq_state_name(to), "by", who(),
	    "reason", reason));
	agq_task_unlock(&l);
	return 0;
wrong:
	agq_warn("%s: cannot %s a task in %s/", id, op, agq_state_name(from));
	agq_task_unlock(&l);
	return 1;
}

int
agq_ctl_main(int argc, char **argv, const char *op)
{
	char usage[1024];
	snprintf(usage, sizeof usage,
	    "usage: agq-%s [-s SPOOL] [-m NOTE] [-q] [ID ...]\n"
	    "%s each task ID (read from standard input, one per line, when no\n"
	    "ID is given) and journal it.  See agq-%s(1).\n"
	    "  -s SPOOL   spool directory (default: $AGQ_SPOOL or the built-in)\n"
	    "  -m NOTE    add NOTE to the reason (cancel, hold)\n"
	    "  -q         print nothing on success\n"
	    "Exit: 0 all done, 1 a task was in a state where this does not\n"
	    "apply, 66 no such task, 64 usage error.\n",
	    op,
	    !strcmp(op, "cancel") ? "Cancel (move to dead/)" :
	    !strcmp(op, "hold") ? "Hold (park in hold/)" :
	    !strcmp(op, "release") ? "Release (hold/ back to the queue)" :
	    "Retry (dead/ back to the queue, attempts reset)", op);
	agq_cli_help(argc, argv, usage);
	const char *spool = NULL, *note = NULL;
	int quiet = 0, c;
	while ((c = getopt(argc, argv, "s:m:q")) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'm': note = optarg; break;
		case 'q': quiet = 1; break;
		default:
			agq_cli_usage(usage);
		}
	}
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, spool);
	int worst = 0;
	int rcmap[] = { 0, 1, EX_NOINPUT, EX_IOERR, EX_TEMPFAIL };
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			int r = act(&sp, op, argv[i], note);
			if (r == 0 && !quiet)
				printf("%s\n", argv[i]);
			if (rcmap[r] > worst)
				worst = rcmap[r];
		}
	} else if (!isatty(0)) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) > 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
				line[--n] = '\0';
			if (!n)
				continue;
			int r = act(&sp, op, line, note);
			if (r == 0 && !quiet)
				printf("%s\n", line);
			if (rcmap[r] > worst)
				worst = rcmap[r];
		}
		free(line);
	} else {
		agq_spool_close(&sp);
		agq_cli_usage(usage);
	}
	agq_spool_close(&sp);
	return worst;
}
