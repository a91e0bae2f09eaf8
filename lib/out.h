/*
 * out.h - out.c: a task's output directory, out/ID.
 *
 * Opening out/ID without following symbolic links, the agent's spare
 * output directory, and files written there atomically.  Uses util and
 * spool.
 */
#ifndef AGQ_OUT_H
#define AGQ_OUT_H

#include <stddef.h>
#include "spool.h"

/* Open out/ID as a directory (O_DIRECTORY|O_NOFOLLOW on out/ and on ID,
 * so neither is followed if it is a symbolic link: ENOTDIR), creating
 * out/ID (mode 0700) first when CREATE.  Returns the fd or -1. */
int agq_out_open(const struct agq_spool *sp, const char *id, int create);

/* An agent's spare output directory, out/SPARE/ (SPARE a name starting
 * with '.', e.g. ".spare-NAME", so listings skip it) holding empty stdout
 * and stderr, made ahead of time so that starting a task creates no file
 * (creating one can cost far more than renaming one: bench/README.md).
 * agq_out_spare makes or completes it (0, or -1 with errno);
 * agq_out_open_spare is agq_out_open that first renames SPARE (when not
 * NULL) to out/ID with RENAME_NOREPLACE, so out/ID is the spare unless it
 * existed (an earlier attempt's, kept; the spare stays);
 * agq_out_spare_remove removes it (best effort).  All through out/
 * opened with O_NOFOLLOW. */
int agq_out_spare(const struct agq_spool *sp, const char *spare);
int agq_out_open_spare(const struct agq_spool *sp, const char *id,
                       int create, const char *spare);
void agq_out_spare_remove(const struct agq_spool *sp, const char *spare);

/* Write LEN bytes of BUF to out/ID/NAME atomically: a tmp/ file (not
 * fsynced) renameat(2)'d into the directory agq_out_open returned, so
 * the file lands in out/ID even if out/ID is swapped for a symbolic link
 * meanwhile.  0 or -1. */
int agq_out_write(const struct agq_spool *sp, const char *id,
                  const char *name, const char *buf, size_t len);

/* Open OUTDIR, a path SPOOL/out/ID as agq-run gives it to a task, as
 * agq_out_open does without creating: O_DIRECTORY|O_NOFOLLOW on
 * SPOOL/out, then on ID relative to it (a symbolic link: ENOTDIR; a last
 * component that is not a valid id: EINVAL).  Returns the fd or -1. */
int agq_out_open_path(const char *outdir);

/* Replace NAME in the directory open as DFD with LEN bytes of BUF: a file
 * .NAME.UNIQUE created beside it (O_EXCL|O_NOFOLLOW, mode 0644 modulo
 * umask, not fsynced) and renameat(2)'d over NAME, so a reader sees the
 * old or the new file whole, and nothing is written through a symbolic
 * link nor anywhere but in that directory.  0 or -1 (errno). */
int agq_write_at(int dfd, const char *name, const char *buf, size_t len);

#endif
