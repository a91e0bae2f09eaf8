/*
 * clean.h - clean.c: agq-clean(8), finished tasks moved into the archive
 * (archive.h).
 */
#ifndef AGQ_CLEAN_H
#define AGQ_CLEAN_H

/* agq-clean's main (agq-clean(8)): archive the done and dead tasks that
 * finished at least --older-than (agq.conf clean_after, default 30 days)
 * ago and are in --state (clean_states, default done,dead; "cancelled":
 * the dead tasks that agq-cancel(1) ended), with --dry-run changing
 * nothing.  Returns an exit status (sysexits(3)). */
int agq_clean_main(int argc, char **argv);

#endif
