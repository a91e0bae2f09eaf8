/*
 * open.h - open.c: opening and closing a spool.
 *
 * Resolves the spool directory, loads the configuration, creates what is
 * missing, and on close forgets the journal's cached descriptors.  Uses
 * conf, spool and journal.
 */
#ifndef AGQ_OPEN_H
#define AGQ_OPEN_H

#include "spool.h"

/* Resolve the spool directory (ARG, else $AGQ_SPOOL, else conf "spool",
 * else the compiled-in default), load the configuration, and create every
 * missing spool directory with the mode of agq_spool_modes (agq-spool(5)).
 * Returns 0 or -1 after printing what failed; the caller exits with
 * agq_exit_code(errno). */
int agq_spool_open(struct agq_spool *sp, const char *arg, const char *conf);
void agq_spool_close(struct agq_spool *sp);

/* agq_spool_open, with FLAGS: AGQ_OPEN_NOCREATE creates nothing (ENOENT,
 * reported, when the spool does not exist; agq-fsck reports what is
 * missing instead). */
#define AGQ_OPEN_NOCREATE 1
int agq_spool_open_flags(struct agq_spool *sp, const char *arg,
                         const char *conf, int flags);

/* agq_spool_open for a program's main: on failure exit with EX_CONFIG (bad
 * configuration) or agq_exit_code(errno). */
void agq_spool_open_or_exit(struct agq_spool *sp, const char *arg);

/* A program's main failing on its spool: agq_spool_syserr(SP, WHAT, REL)
 * ("agq-PROG: WHAT: strerror(errno) (ROOT/REL)"), then agq_spool_close(SP).
 * Returns the sysexits(3) code for errno (agq_exit_code). */
int agq_spool_fail(struct agq_spool *sp, const char *what, const char *rel);

#endif
