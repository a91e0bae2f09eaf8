/* agq-wait - wait until tasks are done or dead (agq-wait(1)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "archive.h"
#include "open.h"
#include "wake.h"

static const char usage[] =
"usage: agq-wait [-s SPOOL] [--timeout S] [--poll S] [-q] [ID]...\n"
"Wait until every task ID (default: every task queued, deferred, active,\n"
"blocked, in review or waiting for approval now) is done or dead.  On a\n"
"terminal, shows a progress line.\n"
"See agq-wait(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -t, --timeout S   give up after S seconds (exit 75)\n"
"      --poll S      look at the spool every S seconds instead of watching\n"
"                    it with inotify (default: 1 on a remote spool; 0: never)\n"
"  -q, --quiet       no progress line and no summary\n"
"Exit: 0 all done, 1 some are dead, 66 a task does not exist, 75 timed\n"
"out, 64 usage error.\n";

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static int
add_pending(const struct agq_loc *loc, const char *id, void *arg)
{
	json_t *ids = arg;
	if (loc->state == AGQ_ST_QUEUE || loc->state == AGQ_ST_DEFER ||
	    loc->state == AGQ_ST_ACTIVE || loc->state == AGQ_ST_REVIEW ||
	    loc->state == AGQ_ST_APPROVAL || loc->state == AGQ_ST_BLOCKED)
		json_array_append_new(ids, json_string(id));
	return 0;
}

/* Whether watched directory DIR (with or without a trailing '/') is the
 * spool's NAME directory. */
static int
is_dir(const char *dir, const char *name)
{
	if (!dir)
		return 0;
	size_t dl = strlen(dir), nl = strlen(name);
	while (dl > 0 && dir[dl - 1] == '/')
		dl--;
	return dl > nl && dir[dl - nl - 1] == '/' &&
	    !strncmp(dir + dl - nl, name, nl);
}

/* The state task ID ended in when agq-clean(8) archived it
 * (AGQ_ST_DONE or AGQ_ST_DEAD, agq-spool(5) Archive), or -1: not
 * archived. */
static int
archived(const struct agq_spool *sp, const char *id)
{
	json_t *rec = agq_archive_find(sp, id, NULL);
	if (!rec)
		return -1;
	const char *st = json_string_value(json_object_get(rec, "state"));
	int r = st && !strcmp(st, "done") ? AGQ_ST_DONE : AGQ_ST_DEAD;
	json_decref(rec);
	return r;
}

/* How many dead tasks' reasons agq-wait prints at most. */
#define WHY_DEAD_MAX 10

/* For each task of IDS (a JSON array of ids) that is in dead/, "ID:
 * REASON" on stderr, at most WHY_DEAD_MAX of them, then how many more. */
static void
why_dead(const struct agq_spool *sp, const json_t *ids)
{
	size_t i, shown = 0, more = 0;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		struct agq_loc loc;
		if (agq_task_find(sp, id, &loc) < 0 ||
		    loc.state != AGQ_ST_DEAD)
			continue;       /* only the dead ones are read */
		if (shown == WHY_DEAD_MAX) {
			more++;
			continue;
		}
		json_t *t = agq_task_find_settled(sp, id, &loc,
		    AGQ_SETTLE_VIEW_MS);
		const char *r = json_string_value(json_object_get(t, "reason"));
		agq_warn("%s: %s", agq_shown(id), r ? agq_shown(r) :
		    "dead, no reason given");
		shown++;
		json_decref(t);
	}
	if (more)
		agq_warn("and %zu more", more);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "timeout", required_argument, NULL, 't' },
		{ "poll", required_argument, NULL, 'W' },
		AGQ_OPT_QUIET, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:t:q",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	double timeout = 0, poll = -1;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		if (c == 'W')
			poll = agq_cli_seconds("--poll", optarg);
		else            /* 't' */
			timeout = agq_cli_seconds("--timeout", optarg);
	}
	int quiet = cl.quiet;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	/* every id checked before the list is made: nothing is held when
	 * agq_die exits (LeakSanitizer in the test build) */
	for (int i = optind; i < argc; i++)
		if (!agq_id_valid(argv[i]))
			agq_die(EX_USAGE, "'%s' is not a valid task id", argv[i]);
	json_t *ids = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(ids, json_string(argv[i]));
	if (optind >= argc)
		agq_each_task(&sp, -1, add_pending, ids);
	agq_signals_catch(on_signal, SA_RESTART, SIGINT, SIGTERM, 0);
	static const struct agq_watch watched[] = {
		{ "done", IN_MOVED_TO | IN_CREATE },
		{ "dead", IN_MOVED_TO | IN_CREATE },
		{ "hold", IN_MOVED_TO | IN_CREATE },
		{ "approval", IN_MOVED_TO | IN_CREATE },
		{ NULL, 0 } };
	struct agq_waiter wt;   /* its note on stderr, not journaled */
	if (agq_waiter_setup(&wt, &sp, watched, poll, quiet, 0) < 0)
		return EX_OSERR;
	/* Each id's state is looked up once at start and then only when
	 * something may have changed: an inotify event naming it in done/,
	 * dead/ or hold/ settles it without a lookup, and a quiet second
	 * re-checks just the ids still pending (an event may have been
	 * missed, or a task may be between two directories).  Waiting for
	 * N tasks costs O(N), not O(N) per event. */
	size_t total = json_array_size(ids);
	json_t *pending = json_object();	/* id -> state (int) */
	size_t ndone = 0, ndead = 0, missing = 0, held = 0, approval = 0;
	int tty = !quiet && isatty(2);
	int64_t start = agq_mono_us();
	int rc = 0;
	int recheck = 1;
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		json_object_set_new(pending, json_string_value(v),
		    json_integer(-1));
	for (;;) {
		if (recheck) {
			const char *id;
			void *tmp;
			missing = held = approval = 0;
			json_object_foreach_safe(pending, tmp, id, v) {
				struct agq_loc loc;
				/* it may be between two directories: look
				 * once more before calling it missing */
				if (agq_task_find(&sp, id, &loc) < 0 &&
				    agq_task_find(&sp, id, &loc) < 0) {
					/* archived by agq-clean(8): ended */
					int st = archived(&sp, id);
					if (st < 0) {
						missing++;
						continue;
					}
					loc.state = st;
				}
				if (loc.state == AGQ_ST_DONE ||
				    loc.state == AGQ_ST_DEAD) {
					loc.state == AGQ_ST_DONE ? ndone++ :
					    ndead++;
					json_object_del(pending, id);
				} else if (loc.state == AGQ_ST_HOLD) {
					held++;
				} else if (loc.state == AGQ_ST_APPROVAL) {
					approval++;     /* not an end */
				}
			}
			recheck = 0;
		}
		size_t left = json_object_size(pending) - missing;
		if (tty)
			fprintf(stderr, "\ragq-wait: %zu/%zu done, %zu dead, "
			    "%zu waiting%s%s   ", ndone, total, ndead, left,
			    held ? " (some held)" : "", approval ? " (some for "
			    "approval: agq pr approve)" : "");
		if (left == 0)
			break;
		if (stop) {
			rc = EX_TEMPFAIL;
			break;
		}
		if (timeout > 0 && agq_mono_us() - start > (int64_t)(timeout * 1e6)) {
			rc = EX_TEMPFAIL;
			break;
		}
		struct inotify_event *ev = agq_waiter_next(&wt);
		if (!ev || (ev->mask & IN_Q_OVERFLOW) || !ev->len) {
			recheck = 1;
			continue;
		}
		size_t n = strlen(ev->name);
		char id[65];	/* ids are at most 64 bytes */
		if (n <= 5 || n - 5 > 64 ||
		    strcmp(ev->name + n - 5, ".json"))
			continue;
		memcpy(id, ev->name, n - 5);
		id[n - 5] = '\0';
		if (!json_object_get(pending, id))
			continue;
		const char *dir = inotifytools_filename_from_wd(ev->wd);
		if (is_dir(dir, "done")) {
			ndone++;
			json_object_del(pending, id);
		} else if (is_dir(dir, "dead")) {
			ndead++;
			json_object_del(pending, id);
		} else {
			recheck = 1;	/* held, or unknown: look it up */
		}
	}
	json_decref(pending);
	if (tty)
		fputc('\n', stderr);
	if (rc == EX_TEMPFAIL && !quiet)
		agq_warn("gave up waiting: %zu of %zu not finished",
		    total - ndone - ndead - missing, total);
	if (!rc && missing) {
		json_array_foreach(ids, i, v) {
			struct agq_loc loc;
			if (agq_task_find(&sp, json_string_value(v), &loc) < 0 &&
			    archived(&sp, json_string_value(v)) < 0)
				agq_warn("%s: no such task", json_string_value(v));
		}
		rc = EX_NOINPUT;
	}
	if (!rc && ndead) {
		if (!quiet) {
			agq_warn("%zu of %zu tasks are dead (agq ls --state "
			    "dead)", ndead, total);
			why_dead(&sp, ids);
		}
		rc = 1;
	}
	agq_waiter_end(&wt);
	json_decref(ids);
	agq_spool_close(&sp);
	return rc;
}
