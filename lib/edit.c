/*
 * edit.c - agq-edit(1) and agq-prio(1): a queued or held task changed in
 * place.  agq-edit copies the task to a temporary file, runs the user's
 * editor on it, validates the result as agq-submit does (agq_task_parse)
 * and replaces the task only if it is still as it was read (a
 * compare-and-swap under the task's lock); agq-prio moves a task to
 * another lane.  Both journal their event (agq-journal(5): edit, prio).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
#include "ctl.h"
#include "edit.h"

const char *const agq_edit_owned[] = {
	"id", "generation", "attempts", "previous_attempts", "submitted_at",
	"submitted_by",
	"agent", "assigned_at", "next_attempt_at", "reason", "verify_report",
	/* what agq writes for review and merge (agq-task(5)) */
	"kind", "parent", "round", "pr", "head", "avoid_agent",
	"review_feedback", "update_from_base", "approved", "approval_for",
	"verdict",
	/* what agq writes for dependencies (agq-task(5)) */
	"blocked_on", "dep_failed",
	/* missions: indexed by mission, written by agq-run (agq-task(5)) */
	"mission", "handoff_out", "plan_feedback",
	NULL
};

int
agq_keep_record(const struct agq_spool *sp, struct agq_locked *l,
                struct agq_lc *d)
{
	if (d->to == AGQ_ST_QUEUE && d->lane != l->loc.lane)
		return agq_lc_record(sp, l, d);
	return agq_lc_record_here(sp, l, d);
}

/* The exit status for a failed agq_keep_record, reported. */
static int
record_failed(const struct agq_locked *l)
{
	int full = errno == ENOSPC || errno == EDQUOT;
	agq_syserr("cannot replace the task", l->loc.path);
	return full ? EX_TEMPFAIL : EX_IOERR;
}

/* The options of agq-edit and agq-prio. */
static const struct option longopts[] = {
	AGQ_OPT_SPOOL, AGQ_OPT_QUIET, AGQ_OPT_END
};

/* Parse ARGV with USAGE: the shared options and exactly NOPS operands,
 * else the usage exit (64). */
static void
parse(struct agq_cli *cl, const char *usage, int argc, char **argv, int nops)
{
	*cl = (struct agq_cli){ .usage = usage, .shortopts = "s:q",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	agq_cli_parse(cl, argc, argv);
	if (argc - optind != nops)
		agq_cli_usage(usage);
}

/* Lock task ID for a change: 0, or an exit status after a message (66:
 * no such task, 74: cannot lock). */
static int
lock_task(const struct agq_spool *sp, const char *id, struct agq_locked *l)
{
	if (!agq_id_valid(id)) {
		agq_warn("%s: not a valid task id", id);
		return EX_NOINPUT;
	}
	if (agq_task_lock(sp, id, NULL, l) == 0)
		return 0;
	if (errno == ENOENT) {
		agq_warn("%s: no such task", id);
		return EX_NOINPUT;
	}
	agq_syserr("cannot lock task", id);
	return EX_IOERR;
}

/* Open the spool of CL into SP and lock task ID in L: 0, or an exit
 * status (lock_task's, the spool closed again). */
static int
open_locked(const struct agq_cli *cl, const char *id, struct agq_spool *sp,
            struct agq_locked *l)
{
	agq_spool_open_or_exit(sp, cl->spool);
	int rc = lock_task(sp, id, l);
	if (rc)
		agq_spool_close(sp);
	return rc;
}

/* ---- agq-edit ------------------------------------------------------------ */

/* Run the editor ($VISUAL, else $EDITOR, else vi) on FILE, as git(1) does:
 * sh -c 'EDITOR "$@"' EDITOR FILE, so that EDITOR may carry arguments.
 * 0 when it exited 0; else -1 with WHY (SIZE bytes). */
static int
run_editor(const char *file, char *why, size_t size)
{
	const char *ed = getenv("VISUAL");
	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	char *cmd = agq_xasprintf("%s \"$@\"", ed);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, ed, file, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return agq_errf(why, size, "cannot run the editor: %s (%s)",
		    strerror(errno), ed);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return agq_errf(why, size, "the editor exited %d (%s)",
		    WEXITSTATUS(st), ed);
	return agq_errf(why, size, "the editor was killed by signal %d (%s)",
	    WTERMSIG(st), ed);
}

/* The edited task in FILE (at most MAX bytes) checked against the task
 * ORIG it was made from: the validation of agq-submit (agq_task_parse,
 * agq-task(5)) and no change to a field the spool owns.  A new reference,
 * or NULL with ERR (SIZE bytes) naming the field. */
static json_t *
read_edit(const char *file, size_t max, const json_t *orig, char *err,
          size_t size)
{
	size_t len;
	char *buf = agq_read_file(file, max, &len, NULL);
	if (!buf) {
		agq_errf(err, size, "cannot read the edited file: %s",
		    strerror(errno));
		return NULL;
	}
	/* an owned field first: its name, not what validation makes of it
	 * (a kind set without a parent) */
	json_t *raw = json_loadb(buf, len, 0, NULL);
	/* a task's parents are fixed once it is submitted, so no edit can
	 * make a cycle of tasks (agq-task(5), "Dependencies") */
	const json_t *a0 = json_object_get(orig, "after"),
	    *b0 = json_object_get(raw, "after");
	if (json_is_object(raw) && !(a0 == b0 || (a0 && b0 &&
	    json_equal(a0, b0)))) {
		agq_errf(err, size, "field after: fixed once the task is "
		    "submitted (cancel it and submit it again)");
		json_decref(raw);
		free(buf);
		return NULL;
	}
	for (int i = 0; json_is_object(raw) && agq_edit_owned[i]; i++) {
		const char *k = agq_edit_owned[i];
		json_t *a = json_object_get(orig, k), *b = json_object_get(raw, k);
		if (a == b || (a && b && json_equal(a, b)))
			continue;
		agq_errf(err, size, "field %s: owned by the spool, it cannot "
		    "be changed", k);
		json_decref(raw);
		free(buf);
		return NULL;
	}
	json_decref(raw);
	json_t *t = agq_task_parse(buf, len, err, size);
	free(buf);
	return t;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the members in which A and B differ, sorted: a new JSON
 * array. */
static json_t *
changed_fields(const json_t *a, const json_t *b)
{
	json_t *names = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)a, k, v)
		if (!json_equal(v, json_object_get(b, k)))
			json_object_set_new(names, k, json_true());
	json_object_foreach((json_t *)b, k, v)
		if (!json_object_get(a, k))
			json_object_set_new(names, k, json_true());
	json_t *arr = json_array();
	const char **keys = agq_xmalloc((json_object_size(names) + 1) *
	    sizeof *keys);
	size_t n = 0;
	json_object_foreach(names, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof *keys, by_name);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(keys[i]));
	free(keys);
	json_decref(names);
	return arr;
}

/* Ask on the terminal whether to edit again: 1 yes (Enter, y), 0 no. */
static int
again(void)
{
	fprintf(stderr, "Edit again? [Y/n] ");
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 0;
	return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

static const char edit_usage[] =
"usage: agq-edit [-s SPOOL] [-q] ID\n"
"Edit a queued or held task's JSON with $VISUAL or $EDITOR (default vi),\n"
"validate it as agq-submit does, and replace the task if it did not\n"
"change meanwhile.  See agq-edit(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -q, --quiet       print nothing on success (else the id)\n"
"Exit: 0 replaced or unchanged, 1 the task is not queued or held, 65 the\n"
"edit is not a valid task (kept in the file named), 66 no such task,\n"
"74 I/O error, 75 the task changed while you edited (edit kept).\n";

int
agq_edit_main(int argc, char **argv)
{
	struct agq_cli cl;
	parse(&cl, edit_usage, argc, argv, 1);
	const char *id = argv[optind];
	struct agq_spool sp;
	struct agq_locked l;
	int rc = open_locked(&cl, id, &sp, &l);
	if (rc)
		return rc;
	/* read under the lock, then let it go while the editor runs */
	int from = l.loc.state;
	json_t *orig = json_incref(l.task);
	struct agq_lc d;
	if (agq_lc_keep("edit", from, orig, "", NULL, &d) < 0) {
		agq_warn("%s: %s", id, d.reason);
		agq_task_unlock(&l);
		json_decref(orig);
		agq_spool_close(&sp);
		return 1;
	}
	json_decref(d.ev);
	agq_task_unlock(&l);
	const char *tmpdir = getenv("TMPDIR");
	char *file = agq_xasprintf("%s/agq-edit-%s-XXXXXX.json", tmpdir &&
	    *tmpdir ? tmpdir : "/tmp", id);
	int fd = mkstemps(file, 5);
	size_t olen;
	char *obuf = agq_task_dump(orig, &olen);
	if (fd < 0 || agq_write_all(fd, obuf, olen) < 0 || close(fd) < 0) {
		agq_syserr("cannot write the file to edit", file);
		rc = EX_IOERR;
		goto out;
	}
	char err[800];
	json_t *t = NULL;
	for (;;) {
		if (run_editor(file, err, sizeof err) < 0) {
			agq_warn("%s: %s; the task is unchanged, the edit is "
			    "kept (%s)", id, err, file);
			rc = 1;
			goto out;
		}
		t = read_edit(file, sp.conf.max_task_bytes, orig, err,
		    sizeof err);
		if (t)
			break;
		agq_warn("%s: %s", id, err);
		if (isatty(0) && isatty(2) && again())
			continue;
		agq_warn("%s: the task is unchanged; the edit is kept (%s)", id,
		    file);
		rc = EX_DATAERR;
		goto out;
	}
	agq_task_normalize(t, agq_task_time(orig, "submitted_at",
	    agq_now_us()));
	json_t *fields = changed_fields(orig, t);
	if (!json_array_size(fields)) {
		if (!cl.quiet)
			agq_warn("%s: no changes", id);
		unlink(file);
		json_decref(fields);
		json_decref(t);
		goto out;
	}
	rc = lock_task(&sp, id, &l);
	if (rc == 0 && (l.loc.state != from || !json_equal(l.task, orig))) {
		agq_warn("%s: task changed while you edited (now in %s/); the "
		    "edit is kept (%s)", id, agq_state_name(l.loc.state), file);
		agq_task_unlock(&l);
		rc = EX_TEMPFAIL;
	} else if (rc == 0) {
		json_decref(l.task);
		l.task = json_incref(t);
		agq_lc_keep("edit", from, t, agq_ctl_user(), fields, &d);
		if (agq_keep_record(&sp, &l, &d) < 0) {
			rc = record_failed(&l);
		} else {
			unlink(file);
			if (!cl.quiet)
				printf("%s\n", id);
		}
		agq_task_unlock(&l);
	}
	json_decref(fields);
	json_decref(t);
out:
	free(obuf);
	free(file);
	json_decref(orig);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}

/* ---- agq-prio ------------------------------------------------------------ */

static const char prio_usage[] =
"usage: agq-prio [-s SPOOL] [-q] ID LANE\n"
"Move a queued or held task to lane LANE (urgent, high, normal, low): its\n"
"priority is set, a queued task moves to queue/LANE/.  See agq-prio(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -q, --quiet       print nothing on success (else the id)\n"
"Exit: 0 done (or already there), 1 the task is not queued or held,\n"
"64 usage, 66 no such task, 74 I/O error, 75 a full disk.\n";

int
agq_prio_main(int argc, char **argv)
{
	struct agq_cli cl;
	parse(&cl, prio_usage, argc, argv, 2);
	const char *id = argv[optind];
	int lane = agq_lane_parse(argv[optind + 1]);
	if (lane < 0)
		agq_die(EX_USAGE, "%s: not a lane (urgent, high, normal, low)",
		    argv[optind + 1]);
	struct agq_spool sp;
	struct agq_locked l;
	int rc = open_locked(&cl, id, &sp, &l);
	if (rc)
		return rc;
	int from = l.loc.state, was = agq_task_lane(l.task);
	json_object_set_new(l.task, "priority", json_string(
	    agq_lane_name(lane)));
	struct agq_lc d;
	if (agq_lc_keep("prio", from, l.task, agq_ctl_user(), NULL, &d) < 0) {
		agq_warn("%s: %s", id, d.reason);
		rc = 1;
	} else if (was == lane && (from != AGQ_ST_QUEUE ||
	    l.loc.lane == lane)) {
		json_decref(d.ev);      /* already there: nothing to record */
	} else {
		json_object_set_new(d.ev, "was", json_string(
		    agq_lane_name(was)));
		if (agq_keep_record(&sp, &l, &d) < 0)
			rc = record_failed(&l);
	}
	if (!rc && !cl.quiet)
		printf("%s\n", id);
	agq_task_unlock(&l);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
