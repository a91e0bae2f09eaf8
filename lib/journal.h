/*
 * journal.h - journal.c: the journal (agq-journal(5)).
 *
 * Appending events to the hash-chained journal, verifying, rotating and
 * listing its files.  Uses util, redact, task and spool.
 */
#ifndef AGQ_JOURNAL_H
#define AGQ_JOURNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "spool.h"

/* Append event EV about task ID (may be NULL) to the journal, with the
 * fields of EXTRA (a JSON object, stolen; may be NULL), "ts" (now, RFC
 * 3339), "ev", "id", "prog", "pid", "host", then "seq" and "prev" (the
 * hash chain of agq-journal(5)).  Under an flock(2) on ROOT/.journal.lock
 * it reads the last line (cutting off a torn one into corrupt/; not read
 * when the journal still ends with this process's own last append, whose
 * hash and seq it remembers) and writes the new one with one write(2) to
 * the file opened O_APPEND.  Returns 0 or
 * -1 (the caller warns; a journal failure never stops a state change). */
int agq_journal(const struct agq_spool *sp, const char *ev, const char *id,
                json_t *extra);

/* Several events appended in one go: one lock, one read of the last line,
 * the events chained to each other in memory (seq one more, "prev" the hash
 * of the event before) and all written with ONE write(2), so a reader never
 * sees part of a batch and a short write (a full disk) is truncated away
 * whole (agq-journal(5), "Hash chain").  agq_journal is the batch of one.
 * Start with a zeroed struct (struct agq_jbatch b = { NULL }), owned by the
 * caller, usually on its stack. */
struct agq_jbatch {
	json_t *events;         /* JSON array of the events so far, or NULL */
};

/* Add event EV about task ID (may be NULL) with the fields of EXTRA (a
 * JSON object, stolen; may be NULL) to batch B: its "ts" is now, as for
 * agq_journal; "seq" and "prev" come when it is written.  Lines go out in
 * the order they were added. */
void agq_jbatch_add(struct agq_jbatch *b, const char *ev, const char *id,
                    json_t *extra);

/* Append the events of batch B to the journal as agq_journal does, all or
 * none of them, and empty B (its events are freed whatever happens, so B
 * can be reused).  An empty batch writes nothing and returns 0.  Returns 0
 * or -1 with errno (ENOSPC for a short write; the caller warns, a journal
 * failure never stops a state change). */
int agq_jbatch_write(const struct agq_spool *sp, struct agq_jbatch *b);

/* Like agq_jbatch_write, printing a warning on failure. */
void agq_jbatch_w(const struct agq_spool *sp, struct agq_jbatch *b);

/* One writer on a remote spool (SP->remote; agq-journal(5), "One writer
 * on a remote spool"): there agq_jbatch_write (and so agq_journal) does
 * not append: it delivers the batch as one file events/new/TIME-HOST-PID-
 * N.json (a JSON array of the events, without seq and prev; maildir
 * delivery through events/tmp/), unless this process is the writer,
 * which agq-sched says with agq_journal_writer(1) once it holds the
 * scheduler's lock.  On a local spool nothing changes. */
void agq_journal_writer(int on);

/* The writer's part: under the journal lock, every file of events/new/
 * (names not starting with '.') in name order appended as one batch,
 * each of its events given "src": the file's name, then unlinked.  A
 * file whose name is the src of one of the journal's last
 * AGQ_JOURNAL_LOOKBACK lines was appended before a crash kept it from
 * being unlinked: unlinked, not appended again.  A file that is not a
 * JSON array is moved to corrupt/events-NAME (warned).  The count of
 * files appended to *N.  0, or -1 with errno (the files not yet appended
 * stay for the next call). */
int agq_journal_events_append(const struct agq_spool *sp, long *n);

/* How many files wait in SP's events/new/ (0 when there is no such
 * directory: a local spool), or -1 with errno. */
long agq_journal_events_pending(const struct agq_spool *sp);

/* Appends keep the lock file's and the journal's descriptors open for the
 * next append (O_CLOEXEC; reopened when ROOT/journal is another file, as
 * after a rotation, or in a child after fork(2)).  This closes them;
 * agq_spool_close calls it.  Never fails. */
void agq_journal_forget(void);

/* SHA-256 (FIPS 180-4, computed by Nettle's sha256_*) of LEN bytes of BUF
 * as 64 lowercase hex digits and a NUL in OUT.  Always returns 0 (the -1
 * of the old libcrypto version is kept in the signature for callers). */
int agq_sha256_hex(const void *buf, size_t len, char out[65]);

/* The longest journal line agq parses (bytes, without the newline): a
 * longer one is not an agq event (agq's own lines are a few KiB) and is
 * skipped unread where the journal is read backwards (agq-journal(5)). */
#define AGQ_JOURNAL_LINE_MAX (1 << 20)
/* How many lines without a "seq" a writer looks back past for the last
 * seq before it refuses to append (agq-journal(5), "Hash chain"). */
#define AGQ_JOURNAL_LOOKBACK 64

/* Reading a journal file backwards, a line at a time, in blocks: memory
 * is bounded by AGQ_JOURNAL_LINE_MAX and a block whatever the file holds.
 * Open with agq_jrev_open, free with agq_jrev_close; the fields are
 * private. */
struct agq_jrev {
	int fd;                 /* borrowed */
	off_t pos;              /* lines before this offset are unread */
	off_t wstart;           /* buf holds the bytes [wstart, pos) */
	char *buf;
	size_t cap;
};
/* Start reading FD (a journal file, borrowed) backwards from offset END,
 * which must be 0 or just after a newline (agq_jtail's good_len). */
void agq_jrev_open(struct agq_jrev *r, int fd, off_t end);
/* The line before the last one returned (the last line of the file at
 * first), without its newline: 1 with *LINE (borrowed until the next call)
 * and *LEN bytes at file offset *OFF (OFF may be NULL); *LINE is NULL for
 * a line longer than AGQ_JOURNAL_LINE_MAX, skipped unread (its *LEN and
 * *OFF still given).  0 at the start of the file, -1 with errno (EIO on
 * a short read). */
int agq_jrev_prev(struct agq_jrev *r, const char **line, size_t *len,
                  off_t *off);
void agq_jrev_close(struct agq_jrev *r);

/* The end of a journal file: the last whole line's SHA-256 ("0"x64 when
 * empty) and "seq" (when that line has none, as a line appended by hand,
 * the seq of the nearest line before it that has one, looked for in the
 * last AGQ_JOURNAL_LOOKBACK lines, a line of any length counting as one;
 * 0 when the file has none at all), and a torn tail (bytes after the last
 * newline: a writer that died mid-line).  Memory is bounded as
 * agq_jrev's: a line too long to parse is hashed in blocks. */
struct agq_jtail {
	int64_t seq;
	int foreign;            /* whole lines at the end without a seq */
	int no_seq;             /* 1: the look-back ended with lines left
	                         * before it and no seq found: the seq is
	                         * unknown (a writer refuses: never reuse) */
	char hash[65];
	off_t good_len;         /* bytes up to and including the last '\n' */
	off_t torn_off;         /* where the torn tail starts, when torn_len */
	size_t torn_len;        /* 0 when the file ends with a newline */
};
/* Read the tail of the journal open as FD (read with pread(2); the offset
 * is not used).  0 or -1 with errno. */
int agq_journal_tail(int fd, struct agq_jtail *t);

/* Keep the torn tail described by T (of FD, the journal at PATH, named in
 * the note) in corrupt/journal-torn.UNIQUE with a .why note, then truncate
 * FD to T->good_len.  Call with the journal lock held.  0 or -1. */
int agq_journal_cut_torn(const struct agq_spool *sp, int fd,
                         const struct agq_jtail *t, const char *path);

/* Rotate the journal: under the journal lock rename ROOT/journal to
 * ROOT/journal.YYYYMMDDTHHMMSS.uuuuuuZ (never replacing; its name, malloc'd,
 * goes to *OLDNAME) and start a new journal with a `rotate` event whose
 * "from" is that name and whose seq/prev continue the old file's chain.
 * 0 or -1 with errno. */
int agq_journal_rotate(const struct agq_spool *sp, char **oldname);

/* A rotation on a remote spool, where only agq-sched appends (agq-
 * journal(5), "One writer on a remote spool"): any other program asks for
 * it with agq_journal_rotate_ask, the file AGQ_ROTATE_ASK ({"host",
 * "pid", "uid"} of the asker, written in events/tmp/, fsynced and
 * renamed in: asking twice is asking once; 0 or -1 with errno); the
 * writer, at every look at the spool, calls agq_journal_rotate_asked: when
 * the file is there, agq_journal_rotate with the asker in the rotate
 * event ("asked_by"), then the file removed: 1 (the old name, malloc'd, in
 * *OLDNAME), 0 nothing asked, -1 with errno (the request stays). */
#define AGQ_ROTATE_ASK "events/rotate"
int agq_journal_rotate_ask(const struct agq_spool *sp);
int agq_journal_rotate_asked(const struct agq_spool *sp, char **oldname);

/* The first line of the journal file PATH when it is a rotate event with
 * a "from" (the file continues the chain of the file it names,
 * agq_journal_rotate): the event, a new object; else NULL (no such file,
 * or another first line). */
json_t *agq_journal_rotate_head(const char *path);

/* Is NAME the name agq_journal_rotate gives a rotated journal,
 * journal.YYYYMMDDTHHMMSS.uuuuuuZ?  1 or 0. */
int agq_journal_rotated_name(const char *name);

/* The journal files of the spool in chain order: the rotated journals
 * (agq_journal_rotated_name) oldest first (their names sort so), then
 * "journal" when it exists.  *NAMES gets a malloc'd array of *N malloc'd
 * names relative to the spool (free with agq_journal_files_free).  0, or
 * -1 with errno if the spool directory cannot be read. */
int agq_journal_files(const struct agq_spool *sp, char ***names, size_t *n);
void agq_journal_files_free(char **names, size_t n);

/* The journal file NAME (as agq_journal_files names it, relative to the
 * spool) opened for reading (close-on-exec): a stdio stream the caller
 * fcloses, or NULL with errno (ENOENT: a rotated file expired since it
 * was listed). */
FILE *agq_journal_fopen(const struct agq_spool *sp, const char *name);

/* The journal's HMAC key (agq-journal(5), "Keyed journal"): the first
 * line of the file agq.conf's journal_key_file names (its newline not
 * included), at most 256 bytes. */
struct agq_jkey {
	unsigned char key[256];
	size_t len;
};
/* Load SP's key into K.  The file must be a regular file (not followed
 * through a symbolic link) of the caller's euid or root, with no group
 * or other permission bits (it is for the spool owner only, never for
 * tasks): 1 loaded; 0 no journal_key_file is configured; -1 configured
 * but not usable, with the reason in WHY (SIZE bytes: "cannot read:
 * Permission denied", "mode 0644: group or others can read it", "empty
 * first line").  Nettle's HMAC-SHA256 (RFC 2104, FIPS 180-4) uses it. */
int agq_journal_key(const struct agq_spool *sp, struct agq_jkey *k,
                    char *why, size_t size);

/* The anchor (agq-journal(5), "Anchor"): the seq and SHA-256 of the
 * journal's last line, kept apart in ROOT/journal.anchor, one JSON line
 * {"seq":N,"hash":H} (and "mac" with a key), replaced by rename(2) under
 * the journal lock after every append and rotation.  Not fsynced. */
struct agq_janchor {
	int64_t seq;
	char hash[65];
	int mac;                /* -1 no "mac", 0 wrong (or no key to check
	                         * it with: see KEY below), 1 checked */
};
/* Read SP's anchor into A, checking its "mac" with KEY when not NULL.
 * 1 read, 0 there is none (ENOENT), -1 with errno (EBADMSG: not an
 * anchor). */
int agq_journal_anchor_read(const struct agq_spool *sp,
                            const struct agq_jkey *key,
                            struct agq_janchor *a);

/* Result of agq_journal_verify. */
struct agq_jverify {
	long lines;             /* whole lines read (the torn tail excluded) */
	long bad_line;          /* first line that breaks the chain, from 1 */
	char why[256];          /* what is wrong with it */
	int torn;               /* the file ends in a torn line ... */
	off_t torn_off;         /* ... at this offset ... */
	size_t torn_len;        /* ... of this many bytes */
	int64_t last_seq;       /* seq of the last line checked */
	char last_hash[65];     /* its SHA-256 */
	int64_t first_seq;      /* "seq" of line 1 (0 when the file is empty) */
	char first_prev[65];    /* "prev" of line 1 */
	char first_from[256];   /* "from" of line 1 when it is a rotate event */
	long macs;              /* lines whose "mac" was checked (with a key) */
	long unkeyed;           /* lines before the first with a "mac" */
	long cuts;              /* `cut` events: lines had been lost */
	long cut_line;          /* the line of the last of them */
};
/* Walk the chain of the journal file PATH (agq-journal(5)): every line a
 * JSON object with "seq" one more than the line before and "prev" the
 * SHA-256 of the line before.  Line 1's prev is not checked here (it is
 * zeros, or the last hash of the file it was rotated from).  A last line
 * without a newline is a tolerated torn tail (R->torn).  Returns 0 intact,
 * 1 broken (R->bad_line, R->why), -1 with errno if PATH cannot be read. */
int agq_journal_verify(const char *path, struct agq_jverify *r);
/* agq_journal_verify with KEY (NULL: as agq_journal_verify, "mac" fields
 * not checked): each line's "mac" must also be the HMAC-SHA256 with KEY
 * of the line without it, from the first line that has one on (the
 * lines before it, written before there was a key, are counted in
 * R->unkeyed); a wrong or missing "mac" after it breaks the chain. */
int agq_journal_verify_key(const char *path, const struct agq_jkey *key,
                           struct agq_jverify *r);

/* Check the end of the chain against the anchor (agq-journal(5),
 * "Anchor"): R is the agq_journal_verify_key result of ROOT/journal (the
 * last file of the chain), KEY as given to it.  An anchor AHEAD of the
 * journal (a larger seq), or at its last seq with another hash, means
 * lines were cut from its end or it was replaced: 1, with WHY (SIZE
 * bytes).  An anchor behind it (a crash between an append and the
 * anchor's update, or lines of an older agq), or none, is not: 0, with
 * WHY saying how the tail was checked ("the tail against journal.anchor
 * (seq N)", "no journal.anchor: the tail is not checked").  With KEY, a
 * missing or wrong anchor "mac" on a keyed journal is 1. */
int agq_journal_anchor_check(const struct agq_spool *sp,
                             const struct agq_jkey *key,
                             const struct agq_jverify *r, char *why,
                             size_t size);

/* Every append checks the journal's end against the anchor first (unless
 * the end is this process's own last append): when the anchor is ahead
 * (lines lost: a crash or a cut), a `cut` event recording it goes before
 * the appended events, and the anchor moves on with them.  This appends
 * that event alone, when there is one to append (agq-fsck --fix).  0 or
 * -1 with errno. */
int agq_journal_record_cut(const struct agq_spool *sp);

/* The link between two journal files (agq-journal(5), Rotation): R is the
 * agq_journal_verify result of NAMES[I] (the agq_journal_files list of N
 * names, oldest first), PREV that of NAMES[I-1], read from PREVPATH.  Line
 * 1 of NAMES[I] must be the rotate event naming NAMES[I-1], continue its
 * seq and chain to its last hash.  Returns 1 with a reason in WHY (SIZE
 * bytes) when the link is broken (at line 1), 0 when it holds or there is
 * nothing to link (I == 0, PREV NULL, an empty file). */
long agq_journal_link_check(char **names, size_t n, size_t i,
                            const struct agq_jverify *r,
                            const struct agq_jverify *prev,
                            const char *prevpath, char *why, size_t size);

/* Like agq_journal, printing a warning on failure. */
void agq_journal_w(const struct agq_spool *sp, const char *ev,
                   const char *id, json_t *extra);

/* Does the journal line LINE (LEN bytes, no newline needed) match: its
 * "id" is one of IDS' keys (when IDS, a JSON object, is not NULL), its
 * "ev" one of EVS' keys (when not NULL) and its "ts" at or after SINCE_US
 * (when > 0)?  1 yes, 0 no, -1 when the line is not a JSON object (a torn
 * or damaged line). */
int agq_journal_match(const char *line, size_t len, const json_t *ids,
                      int64_t since_us, const json_t *evs);

#endif
