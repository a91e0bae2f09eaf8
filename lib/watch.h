/*
 * watch.h - watch.c: the journal read in seq order across its rotated
 * files and followed as it grows (agq-watch(1)), and the object each
 * event is about.
 *
 * Uses util, spool, journal and wake (inotify(7), libinotifytools).
 */
#ifndef AGQ_WATCH_H
#define AGQ_WATCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "spool.h"

/* The object journal event EV is about, into BUF (SIZE bytes): the first
 * rule that applies of
 *   a string "plan"                  -> "plan/NAME"
 *   "ev" starting with "mission_" and a string "mission"
 *                                    -> "mission/ID"
 *   a string "id" (a task's)         -> "task/ID"
 *   a string "agent"                 -> "agent/NAME"
 * (a task's submit into a mission, which carries "mission", is task/ID).
 * 1 with BUF set; 0 when the event is about none of them (sched_up,
 * rotate, cut, clean, sync, alert...), BUF "". */
int agq_watch_object(const json_t *ev, char *buf, size_t size);

/* Called for each event, in seq order: EV (the line parsed, borrowed) and
 * its SEQ; return 0 to go on, -1 to stop (agq_journal_follow then returns
 * -1 with the errno FN left). */
typedef int (*agq_follow_fn)(json_t *ev, int64_t seq, void *arg);

/* Call FN for every journal event whose "seq" is above SINCE, in seq
 * order, from the oldest journal file kept (agq_journal_files) that holds
 * seq SINCE + 1 on, through each later file to ROOT/journal; SINCE -1:
 * only events appended from now on (the journal's last seq).  Each event
 * is given once: lines at or below the last seq given are skipped (a
 * rotation reread), as are lines without a seq (appended by hand) or
 * that do not parse, and a torn last line until its newline is there.
 * With FOLLOW it then waits (inotify on the spool directory, 1 s at most
 * per wait) for more, also past a rotation (the old file is read to its
 * end first), until *STOP is set (a signal handler's flag) or FN stops
 * it; without, it returns at the end.  0; -1 with errno (a journal that
 * cannot be read, inotify that cannot be set up: nothing printed). */
int agq_journal_follow(const struct agq_spool *sp, int64_t since, int follow,
                       volatile sig_atomic_t *stop, agq_follow_fn fn,
                       void *arg);

#endif
