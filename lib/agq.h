/*
 * agq.h - libagq, the shared code of every agq program.
 *
 * One flat header, grouped by the file that defines each function (the
 * mblaze layout).  The spool protocol itself is written down once, in
 * agq-spool(5); the comments here say how each function keeps it.
 *
 * Conventions used throughout:
 *   - Times are int64_t microseconds since the Unix epoch ("_us") unless a
 *     name says seconds ("_s").  Text times are RFC 3339 UTC with
 *     microseconds, e.g. 2026-11-21T23:44:27.123456Z.
 *   - Functions returning int return 0 on success and -1 on failure with
 *     errno set, unless their comment says otherwise.  They print nothing;
 *     the caller reports (agq_syserr) and picks the exit code.
 *   - Returned char * and json_t * are owned by the caller (free(3) /
 *     json_decref) unless the comment says "borrowed".
 */
#ifndef AGQ_H
#define AGQ_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#define AGQ_VERSION "0.1.0"

/* ---- util.c: messages, memory, files, time, names ---------------------- */

/* Program name used in messages ("agq-submit").  Set once from argv[0]. */
extern const char *agq_prog;
void agq_setprog(const char *argv0);

/* Print "agq-PROG: MSG\n" on stderr (printf-style). */
void agq_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "agq-PROG: WHAT: strerror(errno) (PATH)\n" on stderr, the project's
 * error format; PATH may be NULL.  errno is preserved. */
void agq_syserr(const char *what, const char *path);

/* agq_warn, then exit(code).  code is a sysexits.h value. */
_Noreturn void agq_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* sysexits code for a failed system call's errno: ENOSPC/EDQUOT/EAGAIN/
 * EINTR/EWOULDBLOCK -> EX_TEMPFAIL (75, try again), EACCES/EPERM ->
 * EX_NOPERM, ENOENT -> EX_NOINPUT, anything else -> EX_IOERR. */
int agq_exit_code(int err);

/* malloc/strdup/asprintf that exit with EX_OSERR on out-of-memory. */
void *agq_xmalloc(size_t n);
/* For an array V of N elements of SIZE bytes with room for *CAP: when it
 * is full (N == *CAP), double *CAP (FIRST the first time) and realloc.
 * Returns V, moved or not; exits EX_OSERR when out of memory. */
void *agq_grow(void *v, size_t *cap, size_t n, size_t size, size_t first);
char *agq_xstrdup(const char *s);
char *agq_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mkdir -p with MODE (e.g. 0755) for each missing component.  An existing
 * directory is success; an existing non-directory is ENOTDIR. */
int agq_mkdirs(const char *path, mode_t mode);

/* fsync(2) the directory PATH, making the entries created or renamed in it
 * durable (fsync of a file does not cover its directory entry: fsync(2)). */
int agq_fsync_dir(const char *path);

/* Read a whole regular file, at most MAX bytes.  Opens with O_NOFOLLOW and
 * checks fstat(2): a symlink gives ELOOP, a non-regular file EINVAL (never
 * opened for read if it is a FIFO: O_NONBLOCK), a larger file EFBIG.
 * Returns a NUL-terminated malloc'd buffer and its length in *LEN, or NULL.
 * If FD_OUT is not NULL the descriptor is left open and stored there. */
char *agq_read_file(const char *path, size_t max, size_t *len, int *fd_out);

/* Read all of FD (a file opened by the caller) from offset 0, at most MAX
 * bytes (EFBIG past it).  NUL-terminated, malloc'd; NULL with errno. */
char *agq_read_fd(int fd, size_t max, size_t *len);

/* Write LEN bytes of BUF to FD, retrying short writes and EINTR. */
int agq_write_all(int fd, const void *buf, size_t len);

/* The directory of the running program, read from /proc/self/exe
 * (proc(5)), malloc'd; NULL with errno when it cannot be read. */
char *agq_exe_dir(void);

/* DIR/REL where DIR is agq_exe_dir(), malloc'd, when that is an
 * executable file (access(2) X_OK); else NULL.  How agq's programs find
 * their siblings in the source tree or an installed prefix. */
char *agq_exe_path(const char *rel);

/* Maildir delivery of BUF into DST: create a unique file in TMPDIR (mode
 * 0644 modulo umask, O_EXCL), write it, fsync(2) it when SYNC, close it,
 * rename(2) it to DST, and when SYNC also fsync DST's directory.  The
 * maildir rule (cr.yp.to/proto/maildir.html): a reader sees either nothing
 * or the whole file.  On failure the tmp file is removed; DST is untouched.
 * When NOREPLACE, an existing DST is not replaced: EEXIST (link(2) then
 * unlink(2) of the tmp name instead of rename). */
int agq_write_atomic(const char *tmpdir, const char *dst, const char *buf,
                     size_t len, int sync, int noreplace);

/* Current time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t agq_now_us(void);
/* Monotonic clock in microseconds (CLOCK_MONOTONIC), for intervals. */
int64_t agq_mono_us(void);

/* Format US as RFC 3339 UTC with microseconds into BUF (>= 32 bytes):
 * "2026-11-21T23:44:27.123456Z".  Returns BUF. */
char *agq_fmt_time(int64_t us, char *buf);

/* Parse S as an RFC 3339 date-time (RFC 3339 section 5.6: "T" or space,
 * optional fraction, "Z" or +hh:mm/-hh:mm) or as epoch seconds (digits,
 * optional fraction).  Parsing uses strptime(3) and timegm(3).  Stores
 * microseconds in *US and returns 0, or returns -1 (EINVAL). */
int agq_parse_time(const char *s, int64_t *us);

/* Parse a duration in seconds: "90", "1.5", or with a unit suffix s/m/h/d
 * ("10m").  Stores microseconds in *US; -1/EINVAL on bad input. */
int agq_parse_duration(const char *s, int64_t *us);

/* A maildir unique name (SECONDS.MMICROSPPIDQCOUNTER.HOST, with '/' and ':'
 * in the host name escaped as the maildir spec says) into BUF of SIZE. */
void agq_unique_name(char *buf, size_t size);

/* A new task id into BUF (>= 65 bytes): "YYYYMMDD-HHMMSS.uuuuuu-NNNNNN-
 * HHHHHHHH-PID": UTC time, a per-process counter, a hash of the host name
 * and the pid.  Ids from one host sort in submission order; host hash and
 * pid keep ids of different hosts and processes apart. */
void agq_gen_id(char *buf);

/* 1 if S is a valid task id: [A-Za-z0-9._-]{1,64}, not "." or "..", not
 * starting with '.' (maildir readers skip dot names); else 0. */
int agq_id_valid(const char *s);

/* vsnprintf FMT into ERR (SIZE bytes) and return -1: the one-line error
 * reports of validators ("field cmd: missing"). */
int agq_errf(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* N bytes of S (captured output, not necessarily UTF-8) as a new JSON
 * string; when S is not valid UTF-8 (or is cut inside a character) each
 * non-ASCII or NUL byte becomes '?'.  New reference. */
json_t *agq_json_text(const char *s, size_t n);

/* In a child process: exec a task-style command CMD (a string runs with
 * /bin/sh -c, an array with execvp(3)).  Never returns: on failure it
 * writes "agq-PROG: cannot run: WHY (ARGV0)" to fd 2 and _exits 127 (not
 * found) or 126, the shell's conventions.  agq_cmd_init and agq_cmd_exec
 * below are its two halves, for a child that may not allocate (vfork). */
_Noreturn void agq_exec_cmd(const json_t *cmd);

/* A task-style command (agq-task(5) "cmd") made ready to exec. */
struct agq_cmd {
	const char *file;       /* what runs: "/bin/sh" for a string cmd, or
	                         * argv[0] of an array, looked up in PATH */
	char **argv;            /* NULL-terminated; the array is owned (free()
	                         * it), the strings are borrowed from cmd */
	int search;             /* 1: execvp(3) FILE, 0: execv(2) FILE */
};

/* Fill C for CMD: a string becomes {"sh", "-c", CMD} run as /bin/sh, an
 * array of strings its argv.  0, or -1 with errno EINVAL (CMD is not a
 * string or a non-empty array of strings) or ENOMEM. */
int agq_cmd_init(struct agq_cmd *c, const json_t *cmd);

/* Exec C in the current process (environ, the cwd and fds as they are).
 * Only system calls, no allocation: safe in a vfork(2) child.  Returns
 * only when the exec failed, with its errno, giving the exit status for
 * it: 127 when no shell could be run or the program was not found
 * (ENOENT), else 126, the shell's conventions. */
int agq_cmd_exec(const struct agq_cmd *c);

/* FD when it is above 2 (or -1), else a close-on-exec copy of it above 2
 * (fcntl(2) F_DUPFD_CLOEXEC), FD left open: so that a process started with
 * fd 0, 1 or 2 closed, whose pipes and files land there, can dup2(2) them
 * onto 0, 1 and 2 without one replacing another.  -1 with errno on
 * failure. */
int agq_fd_above_stdio(int fd);

/* In a forked child that will run a command: a process group of its own
 * (setpgid(2), so the whole group can be killed), SIGKILL when its parent
 * dies (prctl(2) PR_SET_PDEATHSIG), standard input /dev/null, standard
 * output OUT and standard error ERR (fds, any of them 0, 1 or 2:
 * moved above 2 first, agq_fd_above_stdio, then dup2(2)'d).  On failure
 * it _exits 126, the shell's "cannot execute". */
void agq_child_stdio(int out, int err);

/* Host name (gethostname(2)), borrowed static storage. */
const char *agq_hostname(void);

/* Random 64-bit value from getrandom(2), falling back to time^pid. */
uint64_t agq_random(void);

/* ---- config.c: etc/agq.conf ------------------------------------------- */

/* The settings of etc/agq.conf (documented there and in agq(7)).  Times in
 * seconds.  Command-line options override them. */
struct agq_conf {
	char *spool;            /* spool directory, NULL = compiled default */
	double lease_s;         /* heartbeat age after which an agent is dead */
	double heartbeat_s;     /* how often agq-run heartbeats */
	double assign_timeout_s;/* leased but not started: reclaim after */
	double kill_grace_s;    /* SIGTERM to SIGKILL on timeout */
	double rescan_s;        /* agq-sched full rescan period */
	size_t max_task_bytes;  /* larger inbox drops are quarantined */
	int64_t backoff_cap_s;  /* retry backoff ceiling */
	char *cwd_root;         /* tasks' cwd must be at or below, NULL: any */
	json_t *obs;            /* agq-sync, agq-dash, agq-alert settings
	                         * (stats.h agq_obs_conf): key -> string */
	json_t *backend;        /* backend settings (backend.h: the keys of
	                         * agq_backend_conf_keys), an object of
	                         * strings or NULL; freed by agq_spool_close */
};

/* Fill CONF with built-in defaults, then read the file PATH (or, when PATH
 * is NULL, $AGQ_CONF, else the compiled-in etc/agq.conf; a missing default
 * file is not an error).  Format: "key = value" lines, '#' comments, blank
 * lines.  Returns 0, or -1 after printing "agq-PROG: FILE:LINE: ..." for an
 * unreadable file or a bad line (exit EX_CONFIG). */
int agq_conf_load(struct agq_conf *conf, const char *path);

/* Compiled-in paths (paths.c, built differently for the source tree and
 * for `make install`): default spool, etc/agq.conf, bin and libexec dirs.
 * Borrowed static strings. */
extern const char agq_default_spool[];
extern const char agq_default_conf[];
extern const char agq_bindir[];
extern const char agq_libexecdir[];

/* ---- task.c: the task model (agq-task(5)) ------------------------------ */

enum agq_lane { AGQ_URGENT, AGQ_HIGH, AGQ_NORMAL, AGQ_LOW, AGQ_NLANES };

/* Lane name <-> number.  agq_lane_parse returns -1 for an unknown name. */
const char *agq_lane_name(int lane);
int agq_lane_parse(const char *s);

/* Validate task T (a JSON object as submitted) against agq-task(5).  On the
 * first problem writes "field NAME: what is wrong" into ERR (SIZE bytes)
 * and returns -1; returns 0 when valid.  Unknown fields are allowed.
 * The agent fields are checked by agq_task_validate_agent (backend.h). */
int agq_task_validate(const json_t *t, char *err, size_t size);

/* Parse BUF (LEN bytes, not necessarily NUL-terminated) as one task: JSON
 * object (jansson, rejecting duplicate keys and NUL in strings), then
 * agq_task_validate.  Returns a new reference or NULL with ERR filled. */
json_t *agq_task_parse(const char *buf, size_t len, char *err, size_t size);

/* Fill agq's fields in a valid task T, keeping what is there: id (new
 * agq_gen_id when absent), priority "normal", max_attempts 3, backoff 10,
 * submitted_at (NOW_US), attempts [], generation 0, complexity (replaced
 * by agq_classify's object, backend.h).  not_before given as
 * epoch seconds or any RFC 3339 form is rewritten as RFC 3339 UTC. */
void agq_task_normalize(json_t *t, int64_t now_us);

/* Accessors on a validated, normalized task (borrowed strings). */
const char *agq_task_id(const json_t *t);
int agq_task_lane(const json_t *t);
int64_t agq_task_int(const json_t *t, const char *key, int64_t dflt);
/* A time field (RFC 3339 string or epoch number) in microseconds, or DFLT
 * when absent or unparsable. */
int64_t agq_task_time(const json_t *t, const char *key, int64_t dflt);
/* Set KEY to US formatted as RFC 3339. */
void agq_task_set_time(json_t *t, const char *key, int64_t us);

/* Retry delay after attempt number ATTEMPT (1-based) of T, in microseconds:
 * backoff * 2^(ATTEMPT-1) seconds, capped at CAP_S, then "equal jitter":
 * a uniform value in [delay/2, delay].  backoff 0 gives 0. */
int64_t agq_backoff_us(const json_t *t, int attempt, int64_t cap_s);

/* 1 if every capability in T's "requires" is in CAPS (a JSON array of
 * strings, may be NULL = none). */
int agq_caps_match(const json_t *t, const json_t *caps);

/* Attempts that count against max_attempts: every entry of "attempts"
 * except those handed back by a stopping agent. */
int agq_task_attempts_used(const json_t *t);

/* The last entry of T's "attempts" (borrowed), or NULL. */
json_t *agq_task_last_attempt(const json_t *t);

/* 1 if T's current lease has started: its last attempt carries T's
 * generation and has no "finished". */
int agq_task_lease_started(const json_t *t);

/* Serialize T for a task file: indented JSON, sorted keys preserved in
 * insertion order, trailing newline.  malloc'd; *LEN gets the length. */
char *agq_task_dump(const json_t *t, size_t *len);

/* ---- spool.c: the spool protocol (agq-spool(5)) ------------------------ */

enum agq_state {
	AGQ_ST_NONE = -1,
	AGQ_ST_QUEUE, AGQ_ST_DEFER, AGQ_ST_HOLD, AGQ_ST_ACTIVE,
	AGQ_ST_DONE, AGQ_ST_DEAD, AGQ_NSTATES
};

struct agq_spool {
	char *root;             /* absolute or as given, no trailing '/' */
	char *tmp;              /* ROOT/tmp */
	struct agq_conf conf;
};

/* Where one task file is: state, lane (queue only), agent (active only). */
struct agq_loc {
	int state;
	int lane;
	char agent[65];
	char path[4096];
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

/* The spool's permission model (agq-spool(5), PERMISSIONS): for each
 * directory NAME relative to the spool ("" is the spool itself; NULL ends
 * the table) the MODE it is created with, the bits it must have (NEED)
 * and must not have (FORBID).  agq-fsck checks them. */
struct agq_dirmode { const char *name; mode_t mode, need, forbid; };
extern const struct agq_dirmode agq_spool_modes[];

/* mkdir(2) PATH, then chmod(2) it to exactly MODE (which may include the
 * sticky bit), whatever the umask.  EEXIST when it exists (unchanged). */
int agq_mkdir_mode(const char *path, mode_t mode);

/* agq_spool_open for a program's main: on failure exit with EX_CONFIG (bad
 * configuration) or agq_exit_code(errno). */
void agq_spool_open_or_exit(struct agq_spool *sp, const char *arg);

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
 * done, dead).  Fills LOC and returns 0, or returns -1 with ENOENT.
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

/* agq_quarantine, then warn "quarantined PATH: WHY" and journal a
 * `reject` event (with ID when known).  A failure is reported on stderr
 * and returned (-1 with errno): the file stays where it was for the next
 * pass. */
int agq_reject(const struct agq_spool *sp, const char *path,
               const char *name, const char *id, const char *why);

/* Spool-wide locks: flock(2) on ROOT/.NAME.lock ("sched", "submit").
 * BLOCK waits; otherwise EWOULDBLOCK when held.  Returns the fd or -1. */
int agq_spool_flock(const struct agq_spool *sp, const char *name, int block);

/* The first state of a new task T (normalized), for agq_deliver and the
 * inbox (agq-spool(5), Submitting): defer/ when its not_before is later
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
 *                      link(2) still refuses a name taken in its directory).
 * Returns 0 delivered, 1 duplicate, -1 error (errno). */
#define AGQ_DELIVER_SYNC        1
#define AGQ_DELIVER_NEW_ID      2
int agq_deliver(const struct agq_spool *sp, json_t *t, int flags,
                int *where);

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
 * (renameat2 RENAME_NOREPLACE; link+unlink where unsupported). */
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

/* Call FN(LOC, ID, ARG) for each task file ID.json in the state
 * directories (queue lanes in lane order, defer, hold, active/AGENT,
 * done, dead), or only in STATE when STATE >= 0.  Stops when FN returns
 * non-zero and returns that value; 0 when all were visited, -1 with errno
 * when a directory cannot be read. */
int agq_each_task(const struct agq_spool *sp, int state,
                  int (*fn)(const struct agq_loc *loc, const char *id,
                  void *arg), void *arg);

/* ---- journal.c: the journal (agq-journal(5)) --------------------------- */

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

/* Appends keep the lock file's and the journal's descriptors open for the
 * next append (O_CLOEXEC; reopened when ROOT/journal is another file, as
 * after a rotation, or in a child after fork(2)).  This closes them;
 * agq_spool_close calls it.  Never fails. */
void agq_journal_forget(void);

/* SHA-256 (FIPS 180-4, computed by Nettle's sha256_*) of LEN bytes of BUF
 * as 64 lowercase hex digits and a NUL in OUT.  Always returns 0 (the -1
 * of the old libcrypto version is kept in the signature for callers). */
int agq_sha256_hex(const void *buf, size_t len, char out[65]);

/* The end of a journal file: the last whole line's SHA-256 ("0"x64 when
 * empty) and "seq" (when that line has none, as a line appended by hand,
 * the seq of the nearest line before it that has one, looked for in the
 * last 64 lines or 1 MiB; 0 when none), and a torn tail (bytes after the
 * last newline: a writer that died mid-line). */
struct agq_jtail {
	int64_t seq;
	int foreign;            /* whole lines at the end without a seq */
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
};
/* Walk the chain of the journal file PATH (agq-journal(5)): every line a
 * JSON object with "seq" one more than the line before and "prev" the
 * SHA-256 of the line before.  Line 1's prev is not checked here (it is
 * zeros, or the last hash of the file it was rotated from).  A last line
 * without a newline is a tolerated torn tail (R->torn).  Returns 0 intact,
 * 1 broken (R->bad_line, R->why), -1 with errno if PATH cannot be read. */
int agq_journal_verify(const char *path, struct agq_jverify *r);

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
 * "id" is ID (when ID is not NULL), its "ev" is EV (when not NULL) and its
 * "ts" is at or after SINCE_US (when > 0)?  1 yes, 0 no, -1 when the line
 * is not a JSON object (a torn or damaged line). */
int agq_journal_match(const char *line, size_t len, const char *id,
                      int64_t since_us, const char *ev);

/* ---- agent.c: agent registrations (agents/NAME.json) ------------------- */

/* Read agents/NAME.json; NULL with errno (ENOENT when not registered,
 * EBADMSG when unparsable). */
json_t *agq_agent_read(const struct agq_spool *sp, const char *name);

/* Write agents/NAME.json atomically (tmp + rename; not fsynced: a lost
 * heartbeat is harmless, the next one replaces it). */
int agq_agent_write(const struct agq_spool *sp, json_t *agent);

/* 1 if AGENT's "heartbeat" is younger than LEASE_S at NOW_US and its state
 * is not "down". */
int agq_agent_alive(const json_t *agent, int64_t now_us, double lease_s);

/* Number of task files in active/NAME/ (-1 on error other than ENOENT). */
int agq_agent_load(const struct agq_spool *sp, const char *name);

/* 1 if NAME is valid for an agent (same rule as a task id). */
int agq_agent_name_valid(const char *name);

/* ---- secure.c: secrets kept out of sight, output kept in out/ID -------- */

/* 1 if NAME (an environment variable's name) looks secret: it contains
 * TOKEN, KEY, SECRET or PASSWORD, in any case (agq-task(5)). */
int agq_secret_name(const char *name);

/* S with every bearer token (RFC 6750: "Bearer", blanks, then b64token
 * characters; "bearer" in any case) replaced by "[redacted]", malloc'd;
 * NULL when S has none. */
char *agq_redact_bearer(const char *s);

/* Redact the JSON value V in place, for showing or journaling, never for
 * running: in every object member "env" (an object) the string values of
 * secret names (agq_secret_name) become "[redacted]", and bearer tokens in
 * every string are redacted.  Call it on a copy a task will not get. */
void agq_redact(json_t *v);

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

/* Is the current directory (getcwd(3), after the chdir(2): symbolic links
 * already resolved, so none can lead out) ROOT or below it?  ROOT NULL or
 * "/" allows any.  0 yes; -1 no or error, with WHY (SIZE bytes) saying so
 * ("cwd /x escapes cwd_root /srv"). */
int agq_cwd_check(const char *root, char *why, size_t size);

/* ---- fsck.c: checking and repairing a spool (agq-fsck(8)) -------------- */

/* Reclaim the lease of the locked active task L from AGENT because of WHY
 * (words, for the task's attempt and the journal): close a started
 * attempt as reclaimed, increase the generation (stored in *GEN_OUT when
 * not NULL), and move the task back to its lane, or to dead/ when it has
 * no attempts left; journals `reclaim` (and `dead`).  Returns the new
 * state (AGQ_ST_QUEUE or AGQ_ST_DEAD) or -1 with errno. */
int agq_task_reclaim(const struct agq_spool *sp, struct agq_locked *l,
                     const char *agent, const char *why, json_int_t *gen_out);

struct agq_fsck_opts {
	int fix;                /* repair what is found */
	int64_t tmp_age_us;     /* tmp/ files untouched this long are stale */
	int rebuild_index;      /* repair the id claims (ids/) only */
};
/* Problems found, by kind (agq-fsck(8)), and how many were repaired. */
struct agq_fsck_counts {
	long tasks, problems, fixed;
	long dirs, modes, strays, duplicates, leases, claims, tmp, journal;
};
/* Check SP, printing one line per problem on standard output ("KIND:
 * WHAT[ (fixed)]"), and repair with O->fix.  Fills C.  Returns 1 when a
 * problem was found (fixed or not), 0 when the spool is clean.  Call with
 * the spool opened AGQ_OPEN_NOCREATE so missing directories are seen. */
int agq_fsck(struct agq_spool *sp, const struct agq_fsck_opts *o,
             struct agq_fsck_counts *c);

/* ---- sched.c / runner.c / ctl.c: the programs' engines ----------------- */

struct agq_sched_opts { int once; double lease_s; int verbose; };
/* Run the scheduler on SP (agq-sched(8)).  Returns an exit status. */
int agq_sched(struct agq_spool *sp, const struct agq_sched_opts *o);

struct agq_run_opts {
	const char *agent;
	json_t *caps;           /* array of strings, borrowed */
	int slots;
	int prefetch;           /* leases taken beyond SLOTS (--prefetch) */
	double heartbeat_s;
	int once;
	json_t *backends;       /* --backend: arrays of strings, borrowed; */
	json_t *endpoints;      /* --endpoint  NULL or empty when not given */
	json_t *models;         /* --model     (agq-run(8), routing) */
};
/* Run agent O->agent on SP (agq-run(8)).  Returns an exit status. */
int agq_runner(struct agq_spool *sp, const struct agq_run_opts *o);

/* The operator commands' shared main: OP is "cancel", "hold", "release"
 * or "retry" (agq-cancel(1)).  Returns an exit status. */
int agq_ctl_main(int argc, char **argv, const char *op);

/* ---- cli.c: option parsing shared by the programs ---------------------- */

/* If ARGV has "--help" or "-h" anywhere before "--", print USAGE (a
 * complete usage text) on stdout and exit 0.  "--version" prints the
 * version and exits 0. */
void agq_cli_help(int argc, char **argv, const char *usage);

/* A usage error: USAGE on standard error, exit EX_USAGE (64). */
_Noreturn void agq_cli_usage(const char *usage);

/* Parse a non-negative number of seconds (agq_parse_duration) for option
 * OPT or exit EX_USAGE with a message naming it. */
double agq_cli_seconds(const char *opt, const char *val);
/* Parse a positive integer for option OPT or exit EX_USAGE. */
long agq_cli_long(const char *opt, const char *val, long min, long max);

/* Print O on standard output as JSON (json_dumpf(3) with jansson FLAGS,
 * e.g. JSON_COMPACT) and a newline; write errors show at the next
 * agq_flush_stdout. */
void agq_print_json(const json_t *o, size_t flags);

/* fflush(stdout) and check for a write error (a full disk, a closed
 * pipe); reports "cannot write: WHY (standard output)".  0 or -1. */
int agq_flush_stdout(void);

#endif
