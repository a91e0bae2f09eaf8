/*
 * out.h - out.c: a task's output directory, out/ID.
 *
 * Opening out/ID without following symbolic links, the agent's spare
 * output directory, files written there atomically, and the output kept
 * of each attempt.  Uses util and spool.
 */
#ifndef AGQ_OUT_H
#define AGQ_OUT_H

#include <stddef.h>
#include <jansson.h>
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

/* The file NAME of out/ID (opened through agq_out_open, never created),
 * at most MAX bytes (EFBIG past it): NUL-terminated and malloc'd (the
 * caller frees it) with its length in *LEN; NULL with errno (ENOENT: no
 * such file or no out/ID). */
char *agq_out_read(const struct agq_spool *sp, const char *id,
                   const char *name, size_t max, size_t *len);

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

/* ---- each attempt's output (agq-spool(5), out/ID) ----------------------
 * An attempt writes out/ID/stdout and out/ID/stderr; when the next one
 * starts, agq-run renames them to stdout.N and stderr.N, N the number of
 * the attempt that wrote them, so the plain names are always the newest
 * attempt's (what agq-show, the dashboard and agq-attempt read) and the
 * older ones stay beside them.  Attempts are numbered from 1 over the
 * task's whole history: "previous_attempts" (agq-retry) then "attempts"
 * (agq-task(5)). */

/* How many attempts task T has had: the sizes of its "previous_attempts"
 * and "attempts" arrays added (0 when it has neither). */
int agq_out_attempts(const json_t *t);

/* In the directory open as DFD (out/ID), rename stdout and stderr to
 * stdout.N and stderr.N (renameat2(2) RENAME_NOREPLACE: an existing
 * stdout.N is kept and so is stdout): the output of attempt N (>= 1) kept
 * before the next one starts.  A missing file is not an error.  0, or -1
 * with errno of the first rename that failed otherwise. */
int agq_out_keep(int dfd, int n);

/* Open for reading the output STREAM ("stdout" or "stderr") of attempt N
 * of task ID, T its task file's contents: with N 0 the newest attempt's
 * (out/ID/STREAM); else out/ID/STREAM.N when it exists, or out/ID/STREAM
 * when N is the newest attempt (agq_out_attempts(T)).  Never through a
 * symbolic link (agq_out_open, O_NOFOLLOW).  The fd (O_RDONLY), or -1
 * with errno: ENOENT no such output (not kept, not started yet), ELOOP a
 * symbolic link, EINVAL a bad ID or STREAM. */
int agq_out_open_stream(const struct agq_spool *sp, const char *id,
                        const json_t *t, const char *stream, int n);

#endif
