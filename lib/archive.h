/*
 * archive.h - archive.c: the archive of finished tasks,
 * SPOOL/archive/YYYY-MM.jsonl.gz (agq-spool(5), "Archive").
 *
 * agq-clean(8) moves done and dead tasks out of the state directories into
 * one gzip file per month (RFC 1952; each clean appends one more gzip
 * member, which zcat(1) and gzread(3) read as one stream): one JSON object
 * per line and per task, {"id", "state", "archived_at", "task", "result",
 * "agent"}, the task file and its out/ID/result.json and agent.json.
 * agq-show(1) and agq-stats(1) read it back.  Uses util, spool (zlib).
 */
#ifndef AGQ_ARCHIVE_H
#define AGQ_ARCHIVE_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "spool.h"

/* The archive's directory, relative to the spool. */
#define AGQ_ARCHIVE_DIR "archive"

/* The archive file of the month of US (microseconds since the epoch, UTC)
 * into BUF (>= 32 bytes): "2026-12.jsonl.gz".  Returns BUF. */
char *agq_archive_name(int64_t us, char *buf);

/* Is NAME an archive file's name (YYYY-MM.jsonl.gz)?  1 or 0. */
int agq_archive_name_valid(const char *name);

/* The archive files of SP, newest month first: *NAMES gets a malloc'd
 * array of *N malloc'd names (free each, then the array).  No archive/
 * directory is an empty list.  0, or -1 with errno. */
int agq_archive_files(const struct agq_spool *sp, char ***names, size_t *n);

/* Read the archive file open as FD (at most 1 GiB) and decompress it: the
 * gzip members that are whole, their lines in *TEXT (malloc'd,
 * NUL-terminated, *TEXT_LEN bytes; NULL allowed to get only the offsets)
 * and in *GOOD the offset where the last whole member ends.  Bytes after
 * it are a torn member (a writer that died mid-append) or damage, which
 * the next append cuts off.  0, or -1 with errno (EFBIG, ENOMEM, EIO). */
int agq_archive_read_fd(int fd, char **text, size_t *text_len, off_t *good);

/* Append the lines LINES (LEN bytes, each a JSON object and a newline) to
 * archive/NAME as one new gzip member: archive/ created (mode 0700) and
 * the file (0600, never through a symbolic link) when missing, a torn
 * tail after *GOOD (the offset agq_archive_read_fd gave; -1: find it
 * here) cut off first, then gzwrite(3), the member finished, fsync(2) of
 * the file (and of archive/ when it was created).  *GOOD is then the
 * file's new end.  On failure the file is cut back to where it was.  0,
 * or -1 with errno (ENOSPC: a full disk; nothing was appended). */
int agq_archive_append(const struct agq_spool *sp, const char *name,
                       const char *lines, size_t len, off_t *good);

/* The archived record of task ID: the newest line with that id in the
 * archive files, newest month first.  A new reference, with *FILE (when
 * not NULL) the file's name, malloc'd; NULL with errno ENOENT when ID is
 * not archived (or another errno when archive/ cannot be read). */
json_t *agq_archive_find(const struct agq_spool *sp, const char *id,
                         char **file);

/* Call FN(LINE, LEN, ID, ARG) for each record of SP's archive, newest
 * month first and each file's records in file order: LINE the record's
 * JSON text (LEN bytes, no newline; borrowed for the call), ID its task
 * id, read from the line's start {"id":"ID", (as agq-clean writes it;
 * other lines are skipped).  Each file is decompressed whole
 * (agq_archive_read_fd) when its turn comes; one that cannot be read is
 * skipped.  Stops at the first non-zero FN returns and returns it; 0
 * after the last record (or without archive/); -1 with errno when
 * archive/ cannot be listed. */
int agq_archive_each(const struct agq_spool *sp,
                     int (*fn)(const char *line, size_t len, const char *id,
                               void *arg), void *arg);

/* Record that archive/NAME holds N tasks: archive/NAME.count, the number
 * and a newline, written through tmp/ and renamed (not fsynced: a hint
 * that agq_archive_count checks against the archive's time).  0 or -1
 * with errno. */
int agq_archive_set_count(const struct agq_spool *sp, const char *name,
                          long n);

/* The number of archived tasks: for each archive file, its NAME.count
 * when that is not older than the file (agq_archive_set_count), else the
 * lines of the file, decompressed (a reader of agq-stats, agq-dash and
 * agq-sync should not inflate a month at every call).  -1 with errno
 * when archive/ cannot be read. */
long agq_archive_count(const struct agq_spool *sp);

#endif
