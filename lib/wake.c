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
#include <inotifytools/inotifytools.h>

#include "util.h"
#include "spool.h"
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
