/*
 * sync.h - agq-sync(1): the status block written into a project's docs,
 * the governance gate in front of it, and the git plumbing (libgit2) it
 * uses.  Conventions are those of util.h.
 */
#ifndef AGQ_SYNC_H
#define AGQ_SYNC_H

#include <jansson.h>
#include "spool.h"

/* A growing string: zero-initialize; S is malloc'd (NULL until the first
 * print), N its length. */
struct agq_sbuf { char *s; size_t n, cap; };

/* Append printf-style to B (exits EX_OSERR when out of memory). */
void agq_sb_printf(struct agq_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append S (NULL: "") for a markdown table cell or list item: one line,
 * '|' escaped, '<' as &lt;, at most MAX characters (then "..."). */
void agq_sb_md(struct agq_sbuf *b, const char *s, size_t max);

#define AGQ_SYNC_BEGIN "<!-- agq:status:begin -->"
#define AGQ_SYNC_END "<!-- agq:status:end -->"

/* The markdown status block for SNAP (agq_status_snapshot) and STATS
 * (agq_stats over the whole journal; may be NULL), without the markers.
 * It holds nothing that changes by itself (no clock time, no ages), so a
 * sync of an unchanged spool writes nothing.  malloc'd. */
char *agq_sync_render(const json_t *snap, const json_t *stats);

/* Append to B the section of plan NAME for the status block (02luka
 * Truth Sync's plan snapshot): "**Plan NAME** (revision N, USER, AT)"
 * and the document as indented JSON in a fenced code block, each '<'
 * written as the JSON escape \u003c (so no text of the plan can make a
 * marker or HTML); "**Plan NAME:** none." when REC (a revision record of
 * plan.h, borrowed) is NULL or a tombstone.  Nothing that changes by
 * itself: a sync of an unchanged plan writes nothing. */
void agq_sync_render_plan(struct agq_sbuf *b, const char *name,
                          const json_t *rec);

/* Put BLOCK between the markers of OLD (LEN bytes): everything up to and
 * including the begin marker's line and from the end marker on is kept
 * byte for byte.  Each marker must occur exactly once, begin before end.
 * Returns the new text (malloc'd, *OUTLEN its length), or NULL with ERR
 * filled ("no begin marker", "2 end markers", ...). */
char *agq_sync_splice(const char *old, size_t len, const char *block,
                      size_t *outlen, char *err, size_t size);

/* A unified diff (libgit2 git_patch_from_buffers, 3 lines of context) of
 * A to B, both labelled PATH ("a/PATH", "b/PATH", leading '/' dropped).  "" when they are the
 * same.  malloc'd; NULL with ERR filled if libgit2 fails. */
char *agq_unified_diff(const char *path, const char *a, size_t alen,
                       const char *b, size_t blen, char *err, size_t size);

/* Replace the file PATH with LEN bytes of BUF so that a reader, or the
 * file after a crash, is the whole old or the whole new file: a new file
 * .NAME.agq-sync.XXXXXX in the same directory with PATH's mode, written,
 * fsync(2)ed, renamed over PATH, then the directory fsynced.  Leftover
 * temporary files of an earlier crash are removed first (the caller holds
 * the sync lock).  When the environment variable AGQ_SYNC_CRASH is
 * "before-rename" the process kills itself with SIGKILL between the
 * fsync and the rename (for tests).  0 or -1 with errno. */
int agq_replace_file(const char *path, const char *buf, size_t len);

/* Is the absolute path ABS allowed as a sync target by PATTERNS (the
 * whitespace-separated fnmatch(3) patterns of the sync_allow setting,
 * FNM_PATHNAME)?  1 yes, 0 no (also when PATTERNS is NULL or empty). */
int agq_sync_allowed(const char *patterns, const char *abs);

/* Does the git work tree holding the file ABS have changes (tracked files
 * modified, staged, deleted or renamed; untracked files do not count)?
 * 0 clean, 1 dirty (WHAT names the first changed path), -1 when ABS is
 * not in a git work tree or libgit2 fails (ERR filled). */
int agq_git_dirty(const char *abs, char *what, size_t wsize, char *err,
                  size_t esize);

/* Commit the current content of the file ABS, and nothing else, to the
 * branch HEAD points to in its repository, with MESSAGE; the author is
 * the repository's user.name and user.email, else "agq-sync".  The
 * repository's index is updated for that path.  The new commit's id goes
 * to SHA (41 bytes).  0, or -1 with ERR filled. */
int agq_git_commit_file(const char *abs, const char *message, char *sha,
                        char *err, size_t size);

/* Initialize and shut down libgit2 (git_libgit2_init/shutdown). */
void agq_git_init(void);
void agq_git_shutdown(void);

#endif
