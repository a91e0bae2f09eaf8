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
#include "lifecycle.h"
#include "lease.h"
#include "open.h"
#include "deps.h"
#include "ctl.h"

const char *
agq_ctl_user(void)
{
	const char *u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

/* agq-retry of task L (locked, in dead/) that a parent's failure
 * ended (its "dep_failed", deps.h): its parents decided on again
 * (agq_dep_decide, agq-retry(1)) into *D (agq_lc_op's retry): every parent done, or on_dep_fail run and all ended -> D
 * unchanged, the task to its lane; a parent not ended (retried first) ->
 * D to blocked/ (rule AGQ_LC_RETRY_BLOCKED) with its blocked_on and its
 * edges written (fsynced) before the move, agq-sched releasing it when
 * the parents are done; a parent still failed -> refused with a message
 * naming it.  0; 1 refused (reported); 3 an error (reported, errno). */
static int
retry_deps(struct agq_spool *sp, struct agq_locked *l, struct agq_lc *d)
{
	struct agq_dep dd;
	if (agq_dep_decide(l->task, agq_dep_parent_state, sp, &dd) < 0) {
		agq_syserr("cannot read the states of the parents of", l->id);
		return 3;
	}
	int rc = 0;
	if (dd.decision == AGQ_DEP_CANCEL || dd.decision == AGQ_DEP_HOLD) {
		agq_warn("%s: cannot retry it: %s (retry the parent first: "
		    "agq-retry %s %s)", l->id, dd.reason, dd.parent, l->id);
		rc = 1;
	} else if (dd.decision == AGQ_DEP_WAIT) {
		agq_dep_apply(l->task, &dd);
		if (agq_dep_edges_write(sp, l->task, 1) < 0) {
			agq_syserr("cannot write the edges of", l->id);
			rc = 3;
		} else {
			json_t *ev = d->ev;
			d->ev = NULL;
			char why[sizeof d->reason];
			snprintf(why, sizeof why, "%.300s; %.400s", d->reason,
			    dd.reason);
			agq_lc_init(d, AGQ_LC_RETRY_BLOCKED, AGQ_ST_BLOCKED, -1);
			snprintf(d->reason, sizeof d->reason, "%s", why);
			d->reset_attempts = 1;
			d->clear_due = 2;
			json_object_set_new(ev, "to", json_string("blocked"));
			json_object_set_new(ev, "reason", json_string(why));
			json_object_set(ev, "blocked_on", dd.blocked_on);
			d->ev = ev;
		}
	} else {
		agq_dep_apply(l->task, &dd);    /* dep_failed kept for RUN */
	}
	agq_dep_free(&dd);
	return rc;
}

/* Returns 0 done, 1 not applicable in its state, 2 no such task, 3 error
 * (errno), 4 a full disk (the task unchanged). */
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
	struct agq_lc d;
	if (agq_lc_op(op, from, l.task, agq_ctl_user(), note, agq_now_us(),
	    &d) < 0) {
		agq_warn("%s: %s", id, d.reason);
		agq_task_unlock(&l);
		return 1;
	}
	if (!strcmp(op, "retry") && from == AGQ_ST_DEAD &&
	    json_object_get(l.task, "dep_failed") &&
	    json_array_size(json_object_get(l.task, "after"))) {
		int r = retry_deps(sp, &l, &d);
		if (r) {
			int e = errno;
			json_decref(d.ev);
			agq_task_unlock(&l);
			errno = e;
			return r;
		}
	}
	if (agq_lc_record(sp, &l, &d) < 0) {
		int e = errno;
		int full = e == ENOSPC || e == EDQUOT;
		agq_syserr("cannot move task", l.loc.path);
		agq_task_unlock(&l);
		errno = e;
		return full ? 4 : 3;    /* a full disk: the task is unchanged */
	}
	if (from == AGQ_ST_BLOCKED)     /* cancelled: its edges go with it */
		agq_dep_edges_remove(sp, l.task);
	agq_task_unlock(&l);
	return 0;
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
	    "apply, 66 no such task, 64 usage error, 75 a full disk, 77 the\n"
	    "spool cannot be written.\n",
	    op,
	    !strcmp(op, "cancel") ? "Cancel (move to dead/)" :
	    !strcmp(op, "hold") ? "Hold (park in hold/)" :
	    !strcmp(op, "release") ? "Release (hold/ back to the queue)" :
	    "Retry (dead/ or done/ back to the queue, attempts reset)", op);
	struct agq_cli cl = { .usage = usage, .shortopts = "s:m:q",
	    .operands = AGQ_CLI_ANY };
	const char *note = NULL;
	while (agq_cli_next(&cl, argc, argv) != -1)     /* 'm' */
		note = optarg;
	int quiet = cl.quiet;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int worst = 0;
	/* act's 3 is its errno's status: 77 for a read-only spool (agq(7)) */
	int rcmap[] = { 0, 1, EX_NOINPUT, EX_IOERR, EX_TEMPFAIL };
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			int r = act(&sp, op, argv[i], note);
			int code = r == 3 ? agq_exit_code(errno) : rcmap[r];
			if (r == 0 && !quiet)
				printf("%s\n", argv[i]);
			if (code > worst)
				worst = code;
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
			int code = r == 3 ? agq_exit_code(errno) : rcmap[r];
			if (r == 0 && !quiet)
				printf("%s\n", line);
			if (code > worst)
				worst = code;
		}
		free(line);
	} else {
		agq_spool_close(&sp);
		agq_cli_usage(usage);
	}
	agq_spool_close(&sp);
	return worst;
}
