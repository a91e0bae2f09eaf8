/*
 * wake.h - how a waiting agq program is woken: its signals caught and its
 * spool directories watched with inotify(7) (libinotifytools), set up the
 * same way by agq-run (runner.c), agq-sched (sched.c), agq-wait,
 * agq-journal --follow and agq-cat --follow.  Defined in wake.c.
 *
 * Each of them waits in inotifytools_next_event(1) (one event, or a signal,
 * or a second) and rechecks the spool when woken: the events are hints,
 * never the truth (agq-spool(5)).
 */
#ifndef AGQ_WAKE_H
#define AGQ_WAKE_H

#include <stdint.h>

#include "spool.h"

/* Catch each signal of the list that follows SA_FLAGS, ended by 0, with
 * FN: sigaction(2), no other signal blocked while FN runs.  SA_FLAGS are
 * sigaction's: 0 makes a blocking system call that the signal interrupts
 * fail with EINTR (signal(7), "Interruption of system calls"), so that a
 * runner's or scheduler's wait for an event ends at once; SA_RESTART is
 * what signal(2) sets in glibc.  A signal that cannot be caught (an
 * invalid number) is skipped: sigaction's EINVAL is not reported. */
void agq_signals_catch(void (*fn)(int), int sa_flags, ...);

/* A spool directory to watch: REL, relative to the spool's root ("" is
 * the root itself), for the inotify(7) events of MASK (IN_*). */
struct agq_watch {
	const char *rel;
	uint32_t mask;
};

/* libinotifytools initialized (inotifytools_initialize) and every
 * directory of W, a list ended by an entry with a NULL rel, watched
 * (inotifytools_watch_file, named SP->root/REL, or SP->root for "", which
 * is what inotifytools_filename_from_wd returns for its events).  0; or -1
 * with errno, every failure reported ("cannot initialize inotify", or
 * "cannot watch directory: why (path)" for each directory that could not
 * be watched) and libinotifytools cleaned up again
 * (inotifytools_cleanup). */
int agq_watch_spool(const struct agq_spool *sp, const struct agq_watch *w);

/* More directories watched once agq_watch_spool has set libinotifytools
 * up: every directory of W (ended by a NULL rel) as agq_watch_spool
 * watches them, for a directory that appears later (agq-cat(1) watches
 * out/ID once the task has started).  Each failure is reported as
 * agq_watch_spool reports it unless QUIET (ENOENT is to be expected for
 * a directory not made yet).  0, or -1 with errno of the last failure;
 * libinotifytools stays set up either way. */
int agq_watch_add(const struct agq_spool *sp, const struct agq_watch *w,
                  int quiet);

/* Stop watching spool directory REL (relative to SP's root), one that
 * agq_watch_add watched: a directory the program no longer needs, so
 * that a long-running one does not use up fs.inotify.max_user_watches
 * (inotify(7)).  0, or -1 with errno (EINVAL: not watched). */
int agq_watch_remove(const struct agq_spool *sp, const char *rel);

/* How a waiting program waits (agq-spool(5), "Network file systems"):
 * watching with inotify(7), or, on a remote spool where inotify sees no
 * other host's change, polling: a sleep of POLL_US between two looks. */
struct agq_waiter {
	int64_t poll_us;        /* > 0: polling every POLL_US us, no inotify */
	int watching;           /* libinotifytools set up (agq_watch_spool) */
	int due;                /* polling: a whole period has passed since
	                         * the last look (agq_waiter_next) */
	int64_t last;           /* when that look was (agq_mono_us) */
};

/* Set WT up for SP: POLL_S is the program's --poll in seconds (< 0: not
 * given; 0: inotify even on a remote spool).  Polls every POLL_S seconds
 * when POLL_S > 0, or every second when not given and SP is remote
 * (SP->remote: agq.conf spool_fs, else statfs(2), fskind.h); and then
 * says so once: on stderr unless QUIET ("polling ROOT every S s, not
 * watching it with inotify: WHY"), and in the journal when JOURNAL (a
 * `poll` event {fs, why, every}: agq-journal(5)).  Else watches the
 * directories of W as agq_watch_spool does.  0, or -1 with errno as
 * agq_watch_spool's (reported). */
int agq_waiter_setup(struct agq_waiter *wt, const struct agq_spool *sp,
                     const struct agq_watch *w, double poll_s, int quiet,
                     int journal);

/* Wait once: the next inotify event (NULL after a second without one, or
 * a signal: inotifytools_next_event(1)), or, polling, NULL after WT's
 * period or a second, whichever is shorter, or a signal (nanosleep(2),
 * never restarted: signal(7)), with WT->due set when the period is over
 * (the caller's full look; a runner's heartbeat is not put off by a long
 * period).  The event is libinotifytools' (borrowed, valid until the
 * next call). */
struct inotify_event *agq_waiter_next(struct agq_waiter *wt);

/* libinotifytools cleaned up when WT watched; WT zeroed. */
void agq_waiter_end(struct agq_waiter *wt);

#endif
