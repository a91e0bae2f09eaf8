/* agq-cat - print or follow a task's output (agq-cat(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "open.h"
#include "out.h"
#include "wake.h"

static const char usage[] =
"usage: agq-cat [-s SPOOL] [-f | -a N] [-e] ID\n"
"Print the output of task ID (an id, or the start of exactly one id):\n"
"its standard output, of its newest attempt unless -a.  See agq-cat(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -f, --follow      print the output as it comes while the task runs\n"
"                    (waiting for it to start), then exit with its status\n"
"  -e, --stderr      standard error instead of standard output\n"
"  -a, --attempt N   the output of attempt N (1 is the first)\n"
"Exit: 0 ok (with -f: the task is done); with -f, a dead task's exit\n"
"status (128+N killed by signal N, 1 none); 64 usage error, 66 no such\n"
"task or output, 74 cannot read, 75 interrupted.\n";

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

/* Copy what FD has now, from its offset on, to standard output.  0, or
 * the sysexits code of a failure, reported. */
static int
drain(int fd, const char *what)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			agq_syserr("cannot read the output", what);
			return EX_IOERR;
		}
		if (n == 0)
			return 0;
		if (agq_write_all(1, buf, (size_t)n) < 0) {
			if (errno != EPIPE)
				agq_syserr("cannot write", "standard output");
			return EX_IOERR;
		}
	}
}

/* The status agq-cat -f exits with for task ID, found done or dead: 0
 * done; dead, its last attempt's exit code when not 0, 128 + the signal
 * that killed it, else 1 (cancelled, timed out, never run).  Read under
 * the task's lock: a task is moved first and rewritten after (spool.c,
 * agq_task_transition), so its new content is there once the lock is
 * let go. */
static int
end_status(const struct agq_spool *sp, const char *id)
{
	struct agq_locked l;
	if (agq_task_lock(sp, id, NULL, &l) < 0)
		return 1;
	int done = l.loc.state == AGQ_ST_DONE;
	json_t *last = agq_task_last_attempt(l.task);
	json_int_t code = json_integer_value(json_object_get(last, "exit"));
	json_int_t sig = json_integer_value(json_object_get(last, "signal"));
	agq_task_unlock(&l);
	if (done)
		return 0;
	if (sig > 0 && sig < 128)
		return 128 + (int)sig;
	return code > 0 && code < 256 ? (int)code : 1;
}

/* Is the file open as FD no longer the one out/ID/STREAM names (the next
 * attempt has started: agq-spool(5), out/ID)? */
static int
replaced(const struct agq_spool *sp, const char *id, const char *stream,
         int fd)
{
	struct stat a, b;
	int dfd = agq_out_open(sp, id, 0);
	if (dfd < 0)
		return 0;
	int r = fstat(fd, &a) == 0 && fstatat(dfd, stream, &b,
	    AT_SYMLINK_NOFOLLOW) == 0 && (a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev);
	close(dfd);
	return r;
}

/* agq-cat -f: follow out/ID/STREAM until task ID is done or dead. */
static int
follow(const struct agq_spool *sp, const char *id, const char *stream)
{
	agq_signals_catch(on_signal, SA_RESTART, SIGINT, SIGTERM, 0);
	static const struct agq_watch watched[] = {
		{ "out", IN_CREATE | IN_MOVED_TO },
		{ "done", IN_MOVED_TO | IN_CREATE },
		{ "dead", IN_MOVED_TO | IN_CREATE },
		{ NULL, 0 } };
	if (agq_watch_spool(sp, watched) < 0)
		return EX_OSERR;
	char rel[80];
	snprintf(rel, sizeof rel, "out/%s", id);
	const struct agq_watch outdir[] = {
		{ rel, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM },
		{ NULL, 0 } };
	char *what = agq_spool_path(sp, "out/%s/%s", id, stream);
	int fd = -1, watching = 0, rc;
	for (;;) {
		/* the state first, the output after: once done or dead is
		 * seen, what is read next is all there is */
		struct agq_loc loc;
		if (agq_task_find(sp, id, &loc) < 0 &&
		    agq_task_find(sp, id, &loc) < 0) {
			agq_warn("%s: no such task (any more)", id);
			rc = EX_NOINPUT;
			break;
		}
		int end = loc.state == AGQ_ST_DONE || loc.state == AGQ_ST_DEAD;
		if (!watching)
			watching = agq_watch_add(sp, outdir, 1) == 0;
		if (fd >= 0 && replaced(sp, id, stream, fd)) {
			/* the next attempt: the rest of this one, then it */
			if ((rc = drain(fd, what)) != 0)
				break;
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			fd = agq_out_open_stream(sp, id, NULL, stream, 0);
			if (fd < 0 && errno != ENOENT) {
				agq_syserr("cannot open the output", what);
				rc = agq_exit_code(errno);
				break;
			}
		}
		if (fd >= 0 && (rc = drain(fd, what)) != 0)
			break;
		if (end) {
			rc = end_status(sp, id);
			break;
		}
		if (stop) {
			rc = EX_TEMPFAIL;
			break;
		}
		/* woken by a write, the task's move or a second passing: the
		 * events are hints, the state and the file are looked at */
		(void)inotifytools_next_event(1);
	}
	if (fd >= 0)
		close(fd);
	free(what);
	inotifytools_cleanup();
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "follow", no_argument, NULL, 'f' },
		{ "stderr", no_argument, NULL, 'e' },
		{ "attempt", required_argument, NULL, 'a' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:fea:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	int fol = 0, n = 0, c;
	const char *stream = "stdout";
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		if (c == 'f')
			fol = 1;
		else if (c == 'e')
			stream = "stderr";
		else    /* 'a' */
			n = (int)agq_cli_long("--attempt", optarg, 1, 1000000);
	}
	if (optind + 1 != argc)
		agq_cli_usage(usage);
	if (fol && n)
		agq_die(EX_USAGE, "--follow and --attempt exclude each other");
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	char id[65];
	struct agq_loc loc;
	if (agq_task_resolve(&sp, argv[optind], id, &loc) < 0) {
		int e = errno;
		agq_spool_close(&sp);
		if (e == ENOTUNIQ)
			agq_die(EX_USAGE, "%s: more than one task starts so "
			    "(%s ...)", argv[optind], id);
		if (e == EINVAL || e == ENOENT)
			agq_die(EX_NOINPUT, "%s: no such task", argv[optind]);
		errno = e;
		agq_syserr("cannot look for the task", argv[optind]);
		return agq_exit_code(e);
	}
	int rc;
	if (fol) {
		rc = follow(&sp, id, stream);
	} else {
		json_t *t = agq_task_read(loc.path);
		if (!t && errno == ENOENT && agq_task_find(&sp, id, &loc) == 0)
			t = agq_task_read(loc.path);    /* it moved */
		int fd = agq_out_open_stream(&sp, id, t, stream, n);
		char *what = agq_spool_path(&sp, "out/%s/%s", id, stream);
		if (fd >= 0) {
			rc = drain(fd, what);
			close(fd);
		} else if (errno == ENOENT && (n ? n > agq_out_attempts(t) :
		    agq_out_attempts(t) == 0)) {
			/* nothing run yet: no output, or not this attempt */
			if (n)
				agq_warn("%s: no attempt %d (it has had %d)", id,
				    n, agq_out_attempts(t));
			rc = n ? EX_NOINPUT : 0;
		} else if (errno == ENOENT) {
			agq_warn("%s: no %s kept for attempt %d", id, stream,
			    n ? n : agq_out_attempts(t));
			rc = EX_NOINPUT;
		} else {
			agq_syserr("cannot open the output", what);
			rc = agq_exit_code(errno);
		}
		free(what);
		json_decref(t);
	}
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
