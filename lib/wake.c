/*
 * wake.c - signals caught and spool directories watched, for the programs
 * that wait for the spool to change (wake.h).  Relies on util.c (messages)
 * and spool.c (agq_spool_path), and on libinotifytools.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inotifytools/inotifytools.h>

#include "util.h"
#include "fskind.h"
#include "conf.h"
#include "spool.h"
#include "journal.h"
#include "wake.h"

void
agq_signals_catch(void (*fn)(int), int sa_flags, ...)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	va_list ap;
	va_start(ap, sa_flags);
	for (int sig; (sig = va_arg(ap, int)) != 0;)
		(void)sigaction(sig, &sa, NULL);
	va_end(ap);
}

int
agq_watch_spool(const struct agq_spool *sp, const struct agq_watch *w)
{
	if (!inotifytools_initialize()) {
		errno = inotifytools_error();
		agq_syserr("cannot initialize inotify", NULL);
		return -1;
	}
	if (agq_watch_add(sp, w, 0) < 0) {
		int err = errno;
		inotifytools_cleanup();
		errno = err;
		return -1;
	}
	return 0;
}

int
agq_watch_add(const struct agq_spool *sp, const struct agq_watch *w,
              int quiet)
{
	int err = 0;
	for (; w->rel; w++) {
		char *p = *w->rel ? agq_spool_path(sp, "%s", w->rel) :
		    agq_xstrdup(sp->root);
		if (!inotifytools_watch_file(p, (int)w->mask)) {
			errno = err = inotifytools_error();
			if (!quiet)
				agq_syserr("cannot watch directory", p);
		}
		free(p);
	}
	errno = err;
	return err ? -1 : 0;
}

int
agq_watch_remove(const struct agq_spool *sp, const char *rel)
{
	/* libinotifytools names a watched directory with a '/' at its end */
	char *p = agq_spool_path(sp, "%s/", rel);
	int ok = inotifytools_remove_watch_by_filename(p);
	if (!ok) {
		p[strlen(p) - 1] = '\0';
		ok = inotifytools_remove_watch_by_filename(p);
	}
	free(p);
	if (!ok) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
agq_waiter_setup(struct agq_waiter *wt, const struct agq_spool *sp,
                 const struct agq_watch *w, double poll_s, int quiet,
                 int journal)
{
	memset(wt, 0, sizeof *wt);
	if (poll_s < 0)
		poll_s = sp->remote ? 1 : 0;
	if (poll_s <= 0) {
		if (agq_watch_spool(sp, w) < 0)
			return -1;
		wt->watching = 1;
		return 0;
	}
	wt->poll_us = (int64_t)(poll_s * 1e6);
	if (wt->poll_us < 1000)
		wt->poll_us = 1000;
	const char *fs = agq_fs_name(sp->fs);
	char *why = !sp->remote ? agq_xstrdup("asked (--poll)") :
	    sp->conf.spool_fs == AGQ_SPOOL_FS_REMOTE ?
	    agq_xstrdup("the spool is remote (agq.conf: spool_fs = remote), "
	    "and inotify does not see other hosts' changes") :
	    agq_xasprintf("the spool is on %s (statfs(2)), where inotify does "
	    "not see other hosts' changes", fs);
	if (!quiet)
		agq_warn("polling %s every %g s, not watching it with inotify: "
		    "%s", sp->root, poll_s, why);
	if (journal)
		agq_journal_w(sp, "poll", NULL, json_pack("{s:s, s:s, s:f}",
		    "fs", fs, "why", why, "every", poll_s));
	free(why);
	return 0;
}

struct inotify_event *
agq_waiter_next(struct agq_waiter *wt)
{
	if (wt->watching)
		return inotifytools_next_event(1);
	int64_t now = agq_mono_us();
	if (!wt->last)
		wt->last = now;
	int64_t left = wt->last + wt->poll_us - now;
	if (left > 1000000)
		left = 1000000;
	if (left > 0) {
		struct timespec ts = { (time_t)(left / 1000000),
		    (long)(left % 1000000) * 1000 };
		(void)nanosleep(&ts, NULL);     /* EINTR: a signal, look now */
	}
	now = agq_mono_us();
	wt->due = now - wt->last >= wt->poll_us;
	if (wt->due)
		wt->last = now;
	return NULL;
}

void
agq_waiter_end(struct agq_waiter *wt)
{
	if (wt->watching)
		inotifytools_cleanup();
	memset(wt, 0, sizeof *wt);
}
