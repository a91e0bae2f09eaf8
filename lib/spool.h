/*
 * spool.h - spool.c: the spool protocol (agq-spool(5)).
 *
 * Where a task file is, the per-task lock, moves and rewrites (tmp/,
 * fsync, rename), quarantine, delivery of a new task and the id claims.
 * Journals nothing (journal.h is the layer above).  Uses util, conf and
 * task.
 */
#ifndef AGQ_SPOOL_H
#define AGQ_SPOOL_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "conf.h"

enum agq_state {
	AGQ_ST_NONE = -1,
	AGQ_ST_QUEUE, AGQ_ST_DEFER, AGQ_ST_HOLD, AGQ_ST_ACTIVE,
	AGQ_ST_DONE, AGQ_ST_DEAD,
	AGQ_ST_REVIEW,          /* review/: its PR under review, or merging */
	AGQ_ST_APPROVAL,        /* approval/: waiting for agq-pr approve|deny */
	AGQ_ST_BLOCKED,         /* blocked/: waiting for its parents (after) */
	AGQ_NSTATES
};

struct agq_spool {
	char *root;             /* absolute or as given, no trailing '/' */
	char *tmp;              /* ROOT/tmp */
	struct agq_conf conf;
	int fs;                 /* AGQ_FS_* of ROOT (fskind.h), by statfs(2) */
	int remote;             /* a remote spool (conf.spool_fs, else fs):
	                         * polled, one journal writer (events/) */
};

/* Where one task file is: state, lane (queue only), agent (active only).
 * DIRFD is an open descriptor of PATH's directory while agq_each_task
 * calls its FN (for openat(2): agq_task_read_loc), -1 otherwise. */
struct agq_loc {
	int state;
	int lane;
	char agent[65];
	char path[4096];
	int dirfd;
};

/* A task held under its per-task lock (see agq_task_lock). */
struct agq_locked {
	int fd;                 /* the locked task file */
	struct agq_loc loc;
	json_t *task;           /* its parsed contents */
	char id[65];
};

const char *agq_state_name(int state);
int agq_state_parse(const char *s);

/* The spool's permission model (agq-spool(5), PERMISSIONS): for each
 * directory NAME relative to the spool ("" is the spool itself; NULL ends
 * the table) the MODE it is created with, the bits it must have (NEED)
 * and must not have (FORBID).  agq-fsck checks them. */
struct agq_dirmode { const char *name; mode_t mode, need, forbid; };
extern const struct agq_dirmode agq_spool_modes[];

/* mkdir(2) PATH, then chmod(2) it to exactly MODE (which may include the
 * sticky bit), whatever the umask.  EEXIST when it exists (unchanged). */
int agq_mkdir_mode(const char *path, mode_t mode);

/* malloc'd "ROOT/REL" path, REL printf-style. */
char *agq_spool_path(const struct agq_spool *sp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* agq_syserr(WHAT, "ROOT/REL") for a path in the spool (REL printf-style)
 * and return agq_exit_code(errno), the sysexits code for the failure.
 * errno is preserved. */
int agq_spool_syserr(const struct agq_spool *sp, const char *what,
                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Path of the task file of ID in STATE (LANE for queue, AGENT for active)
 * into BUF of SIZE. */
void agq_loc_path(const struct agq_spool *sp, struct agq_loc *loc,
                  const char *id);

/* Find ID in the state directories (queue lanes, defer, hold, active/AGENT,
 * done, dead, review, approval, blocked).  Fills LOC and returns 0, or returns -1 with ENOENT.
 * Without a lock the answer can be stale by the time it is used. */
int agq_task_find(const struct agq_spool *sp, const char *id,
                  struct agq_loc *loc);

/* Take the per-task lock of ID: open its file, flock(2) it exclusively,
 * and check that the path still names the locked inode (retrying if the
 * task moved meanwhile).  Every program that changes a task (moves it or
 * rewrites it) holds this lock for the whole change, so a move and the
 * rewrite that follows it are never interleaved with another change.
 * HINT, if not NULL, is tried first.  Fills L (including the parsed task)
 * and returns 0; -1 with ENOENT if the task does not exist, EBADMSG if it
 * does not parse (the caller quarantines it). */
int agq_task_lock(const struct agq_spool *sp, const char *id,
                  const struct agq_loc *hint, struct agq_locked *l);
void agq_task_unlock(struct agq_locked *l);

/* Move a locked task to STATE (LANE or AGENT where they apply) with one
 * rename(2), creating active/AGENT/ when needed.  The destination must not
 * exist (EEXIST).  Updates L->loc. */
int agq_task_move(const struct agq_spool *sp, struct agq_locked *l,
                  int state, int lane, const char *agent);

/* Replace a locked task's file with L->task: written in tmp/, fsynced,
 * renamed over the file.  The lock stays held. */
int agq_task_rewrite(const struct agq_spool *sp, struct agq_locked *l);

/* agq_task_rewrite in two steps, for a caller with work to do between
 * writing and installing (agq-run starts the task in between, so the
 * fsync is off the path from lease to start).  _begin writes L->task to a
 * new file in tmp/ (RW->tmp, open as RW->fd), not yet fsynced: a full
 * disk (ENOSPC, EDQUOT) fails here, before anything is done.  _commit
 * fsyncs it and renames it over L's file (the maildir rule: fsync, then
 * rename), passing L's lock on to it; on failure the new file is removed
 * and L is as it was.  _abort removes a begun file that will not be
 * committed (no-op when RW->fd is -1; keeps errno).  Both _begin and
 * _commit return 0, or -1 with errno. */
struct agq_rewrite {
	int fd;
	char tmp[PATH_MAX];
};
int agq_task_rewrite_begin(const struct agq_spool *sp, struct agq_locked *l,
                           struct agq_rewrite *rw);
int agq_task_rewrite_commit(const struct agq_spool *sp, struct agq_locked *l,
                            struct agq_rewrite *rw);
void agq_task_rewrite_abort(struct agq_rewrite *rw);

/* As agq_task_rewrite_begin, but writing into SPARE, an empty regular file
 * in tmp/ with one link made ahead of time (agq-run's tmp/.spare-NAME),
 * instead of creating a file; it is renamed over the task by _commit, or
 * removed by _abort.  Falls back to creating a file when SPARE is not
 * such a file (it is then left alone). */
int agq_task_rewrite_begin_spare(const struct agq_spool *sp,
                                 struct agq_locked *l,
                                 struct agq_rewrite *rw, const char *spare);

/* Move, then rewrite: the one way a task changes state.  Sets "reason"
 * to REASON when not NULL.  Journals nothing.  The new file is written in
 * tmp/ before the move.  Returns 0, or -1 with errno and the task as it
 * was, in L->loc (ENOSPC, EDQUOT: no room for the new file, a full disk;
 * a failed rename over the moved file moves it back), except when only
 * the fsync of a done/ or dead/ directory failed (agq-spool(5),
 * Invariants). */
int agq_task_transition(const struct agq_spool *sp, struct agq_locked *l,
                        int state, int lane, const char *agent,
                        const char *reason);

/* Quarantine the file at SRC: write corrupt/NAME.why with WHY and a
 * newline, then rename SRC to corrupt/NAME (NAME made unique if taken).
 * The file is moved, never deleted.  Returns 0, or -1 with errno and SRC
 * where it was (ENOSPC: no room for the note, a full disk). */
int agq_quarantine(const struct agq_spool *sp, const char *src,
                   const char *name, const char *why);

/* Spool-wide locks: flock(2) on ROOT/.NAME.lock ("sched", "submit").
 * BLOCK waits; otherwise EWOULDBLOCK when held.  Returns the fd or -1. */
int agq_spool_flock(const struct agq_spool *sp, const char *name, int block);

/* The first state of a new task T (normalized), for agq_deliver and the
 * inbox (agq-spool(5), Submitting): when the caller decided it on T's
 * parents (deps.h; agq-task(5), "Dependencies"), dead/ or hold/ for a
 * T with "dep_failed" (on_dep_fail "hold": hold/, "run": as if it had
 * none, else dead/) and
 * blocked/ for a T with a non-empty "blocked_on", the reason as the
 * caller set it; else defer/ when its not_before is later
 * than NOW_US (microseconds since the epoch), with next_attempt_at set to
 * it and "reason" "waiting for not_before"; else queue/ in the lane of its
 * priority, with "reason" QUEUED_REASON when not NULL.  Sets LOC's state,
 * lane (-1 for defer/) and path (agq_loc_path); clears the rest. */
void agq_task_first_loc(const struct agq_spool *sp, json_t *t, int64_t now_us,
                        const char *queued_reason, struct agq_loc *loc);

/* Deliver a new task T (normalized) into its first state: defer/ when
 * not_before is in the future, else queue/LANE.  Under the submit lock it
 * checks that the id exists nowhere (returns 1, nothing written, *WHERE
 * set to the state it is in), links the tmp file in and claims the id
 * (ids/ID).  FLAGS, or-ed:
 *   AGQ_DELIVER_SYNC   the file, its directory, then ids/ are fsynced before
 *                      returning, so the task and its claim survive a power
 *                      cut (without it the caller syncs, e.g. syncfs(2));
 *   AGQ_DELIVER_NEW_ID T's id was made by agq_gen_id in this process just
 *                      now (agq_task_normalize): unique by construction, so
 *                      the look-up of the id in every state is skipped (the
 *                      link(2) still refuses a name taken in its directory);
 *   AGQ_DELIVER_HOLD   into hold/ instead of queue/ or defer/ (agq-submit
 *                      --hold), its reason "held at submit"; agq-release
 *                      queues (or defers) it.  Not for a task that waits in
 *                      blocked/, which goes there as without it.
 * Returns 0 delivered, 1 duplicate, -1 error (errno). */
#define AGQ_DELIVER_SYNC        1
#define AGQ_DELIVER_NEW_ID      2
#define AGQ_DELIVER_HOLD        4
int agq_deliver(const struct agq_spool *sp, json_t *t, int flags,
                int *where);

/* agq_deliver, calling BEFORE(T, STATE, ARG) under the submit lock once
 * the id is known to be new, just before the task file appears in its
 * first state directory STATE (an AGQ_ST_ value): what must be recorded
 * before any other process can see the task.  agq-submit journals its
 * `submit` event there, so that a running scheduler's `route` and
 * `assign` come after it (agq-journal(5)).  BEFORE returns 0 to go on,
 * -1 (errno set) to deliver nothing and return -1.  BEFORE NULL is
 * agq_deliver. */
int agq_deliver_announced(const struct agq_spool *sp, json_t *t, int flags,
                          int *where,
                          int (*before)(const json_t *t, int state,
                                        void *arg),
                          void *arg);

/* Id claims (agq-spool(5), Submitting): ids/ID is one more hard link to
 * the task file of ID, moved to each new inode when the task is rewritten
 * (before the rename over it), so "ID exists" is one lstat(2) of ids/ID
 * (st_nlink >= 2), whatever state directory the task is moving through.
 * agq_id_claim makes ids/ID a link to PATH (link to a dot name, rename
 * over: replaces a stale claim).  0 or -1. */
int agq_id_claim(const struct agq_spool *sp, const char *id,
                 const char *path);
/* With .submit.lock held: is ID taken?  1 yes (*WHERE = its state, or
 * AGQ_ST_NONE if it could not be found at that instant), 0 no, -1 error.
 * Without a live claim (a task from before claims, or a crash between a
 * delivery and its claim) the state directories are searched and a task
 * found is claimed. */
int agq_id_taken(const struct agq_spool *sp, const char *id, int *where);

/* The id index mark (agq-spool(5), ids/): ids/.index-v1 exists when every
 * task of the spool has a claim, as in a spool created by this version or
 * after agq_id_index_rebuild.  Without it, agq_id_taken warns once a
 * process that a task from before claims can be missed while it moves. */
#define AGQ_ID_INDEX_MARK ".index-v1"
/* 1 if the mark is there, else 0. */
int agq_id_index_ok(const struct agq_spool *sp);
/* fsync ids/, create the mark (mode 0600), fsync ids/ again.  0 or -1. */
int agq_id_index_mark(const struct agq_spool *sp);
/* Claim every task that lacks a live claim (each under its task lock),
 * then agq_id_index_mark; *CLAIMED counts the claims made.  Holds the
 * submit lock meanwhile; the caller must hold the sched lock, so that no
 * task moves without a rewrite (which claims) during the scan.  0, or -1
 * with errno (failures are reported on stderr; the mark is not made). */
int agq_id_index_rebuild(const struct agq_spool *sp, long *claimed);

/* rename(2) FROM to TO, failing with EEXIST instead of replacing TO
 * (renameat2 RENAME_NOREPLACE; link+unlink where unsupported, NFS among
 * them).  Checked as fskind.h's agq_rename_checked and agq_link_checked
 * are: a failure reported for a move that was done is success. */
int agq_rename_noreplace(const char *from, const char *to);

/* Call FN(name, ARG) for each entry of directory DIR that does not start
 * with '.', in readdir order.  Stops early and returns FN's value when it
 * is non-zero.  -1 with errno if DIR cannot be read. */
int agq_dir_each(const char *dir, int (*fn)(const char *name, void *arg),
                 void *arg);

/* Read and parse the task file PATH without locking it (a reader sees a
 * whole old or a whole new file: writers rename complete files in).
 * NULL with errno (EBADMSG: not a JSON object). */
json_t *agq_task_read(const char *path);

/* agq_task_read of PATH as it is once no writer holds it: for a reader
 * that decides on what a task file says in the state directory it was
 * found in (a merge task's reason in dead/, a review task's verdict in
 * done/).  agq_task_transition moves a task's file first and replaces its
 * content second (agq-spool(5), Invariants), its writer holding the
 * file's flock(2) meanwhile, so a plain read between the two sees the new
 * directory with the old content ("running").  This one takes a shared
 * flock (LOCK_SH | LOCK_NB, polled every 1 ms) and checks the path still
 * names the inode it locked, reading again when it does not; after
 * WAIT_MS milliseconds of a writer holding it, it reads without the lock
 * (a person's agq-edit must not stall the scheduler).  NULL with errno as
 * agq_task_read (ENOENT: the task moved on; look it up again). */
json_t *agq_task_read_settled(const char *path, int wait_ms);

/* agq_task_read_settled's wait in the scheduler's readers (ms): a
 * finishing runner holds the lock for a journal append or two. */
#define AGQ_SETTLE_MS 2000

/* The wait of a reader that shows a task rather than decides on it
 * (agq-show, agq-mcp's task look-up, a PR's view): a person's agq-edit
 * holding the file delays it this long at most (milliseconds). */
#define AGQ_SETTLE_VIEW_MS 200

/* Task ID found (agq_task_find) and read as agq_task_read_settled does
 * (WAIT_MS), found again when it moved on between the two (up to 5
 * times): a new object, its place in *LOC (LOC's dirfd -1); NULL with
 * errno (ENOENT: no such task in the spool's state directories, EBADMSG:
 * not a JSON object). */
json_t *agq_task_find_settled(const struct agq_spool *sp, const char *id,
                              struct agq_loc *loc, int wait_ms);

/* agq_task_read of LOC's file, through LOC->dirfd when it is open (one
 * name for the kernel to look up instead of the whole path: what listing
 * 100,000 tasks costs, agq-ls(1)).  NULL with errno as agq_task_read. */
json_t *agq_task_read_loc(const struct agq_loc *loc);

/* Call FN(LOC, ID, ARG) for each task file ID.json in the state
 * directories (queue lanes in lane order, defer, hold, active/AGENT,
 * done, dead), or only in STATE when STATE >= 0.  Stops when FN returns
 * non-zero and returns that value; 0 when all were visited, -1 with errno
 * when a directory cannot be read. */
int agq_each_task(const struct agq_spool *sp, int state,
                  int (*fn)(const struct agq_loc *loc, const char *id,
                  void *arg), void *arg);

/* agq_each_task with the files read by agq_each_task_workers() threads
 * at once (one alone for a few hundred tasks): the names
 * are gathered first (readdir(3), the directories kept open), then each
 * worker calls FN(LOC, ID, ARG, WORKER) for its share, WORKER in
 * 0..agq_each_task_workers()-1, in no set order: FN must keep what it makes per WORKER
 * and must not touch state shared with other workers (jansson's parse is
 * safe in threads, json_loadb(3) "Thread safety").  LOC->dirfd is open.
 * Returns 0, or -1 with errno when a directory cannot be read (then FN
 * was not called); FN's return value is ignored.  *NWORKERS_OUT, when
 * Size per-worker storage with agq_each_task_workers(). */
int agq_each_task_par(const struct agq_spool *sp, int state,
                      void (*fn)(const struct agq_loc *loc, const char *id,
                      void *arg, int worker), void *arg);

/* How many workers agq_each_task_par uses at most: one per online CPU
 * (sysconf(3) _SC_NPROCESSORS_ONLN), 1 to 8. */
int agq_each_task_workers(void);

/* The task ARG names, as the programs that take a task id read it
 * (agq-cat(1)): the id itself, else the one task whose id starts with
 * ARG (a prefix, as git(1) takes a short commit name).  Stores the id in
 * ID (65 bytes) and where it is in LOC, and returns 0; or -1 with errno
 * EINVAL (ARG is not an id nor the start of one: agq_id_valid), ENOENT
 * (no task), ENOTUNIQ (more than one task starts with ARG; ID holds two
 * of them, "A B", in 65 bytes cut), or that of a directory that could
 * not be read.  A prefix costs a scan of every state directory
 * (agq_each_task). */
int agq_task_resolve(const struct agq_spool *sp, const char *arg,
                     char *id, struct agq_loc *loc);

/* 1 if NAME is valid for an agent (same rule as a task id). */
int agq_agent_name_valid(const char *name);

/* Start PROG (an agq program: beside the running one, agq_exe_path, else
 * in the compiled-in bin directory) as "PROG -s SP's root CMD", a child
 * with standard input and output /dev/null and standard error shared:
 * its pid, or -1 (fork failed: reported on standard error).  The caller
 * reaps it (agq_child_due).  An exec that fails exits 127, saying so. */
pid_t agq_spool_spawn(const struct agq_spool *sp, const char *prog,
                      const char *cmd);

#endif
