/*
 * util.h - util.c: messages, memory, files, time, names, running a command.
 *
 * The bottom layer: libc and jansson only.  Conventions used throughout
 * libagq:
 *   - Times are int64_t microseconds since the Unix epoch ("_us") unless a
 *     name says seconds ("_s").  Text times are RFC 3339 UTC with
 *     microseconds, e.g. 2026-11-21T23:44:27.123456Z.
 *   - Functions returning int return 0 on success and -1 on failure with
 *     errno set, unless their comment says otherwise.  They print nothing;
 *     the caller reports (agq_syserr) and picks the exit code.
 *   - Returned char * and json_t * are owned by the caller (free(3) /
 *     json_decref) unless the comment says "borrowed".
 */
#ifndef AGQ_UTIL_H
#define AGQ_UTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#define AGQ_VERSION "0.1.0"

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
 * EINTR/EWOULDBLOCK -> EX_TEMPFAIL (75, try again), EACCES/EPERM/EROFS ->
 * EX_NOPERM (77: the spool cannot be written, permanent; agq(7), "Exit
 * status"), ENOENT -> EX_NOINPUT, ENOMEM -> EX_OSERR, anything else ->
 * EX_IOERR. */
int agq_exit_code(int err);

/* 1 if ERR is a failure of the storage itself rather than of the work:
 * ENOSPC, EDQUOT (no room), EROFS (mounted read-only), EIO (the device).
 * agq-run(8) spends no attempt on them ("A full disk"): the agent goes
 * degraded and retries.  Else 0. */
int agq_errno_infra(int err);

/* malloc/strdup/asprintf that exit with EX_OSERR on out-of-memory. */
void *agq_xmalloc(size_t n);
/* For an array V of N elements of SIZE bytes with room for *CAP: when it
 * is full (N == *CAP), double *CAP (FIRST the first time) and realloc.
 * Returns V, moved or not; exits EX_OSERR when out of memory. */
void *agq_grow(void *v, size_t *cap, size_t n, size_t size, size_t first);
char *agq_xstrdup(const char *s);

/* The N JSON values of V (references the caller owned) sorted by CMP
 * (qsort(3)'s, called with two json_t **) into a new array, which takes
 * those references; V itself is freed (free(3); NULL with N 0 is fine).
 * How a directory's records, read in readdir order, come out in order. */
json_t *agq_json_array_sorted(json_t **v, size_t n,
                              int (*cmp)(const void *, const void *));
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
 * If FD_OUT is not NULL the descriptor is left open and stored there.
 * A regular file is read with one read(2) of its st_size and one byte
 * more, a short read being its end. */
char *agq_read_file(const char *path, size_t max, size_t *len, int *fd_out);

/* agq_read_file of PATH relative to the directory descriptor DFD
 * (openat(2); AT_FDCWD: the working directory), which saves the kernel
 * the walk of the whole path for each file of a large directory. */
char *agq_read_file_at(int dfd, const char *path, size_t max, size_t *len,
                       int *fd_out);

/* Read all of FD (a file opened by the caller) from offset 0, at most MAX
 * bytes (EFBIG past it).  NUL-terminated, malloc'd; NULL with errno. */
char *agq_read_fd(int fd, size_t max, size_t *len);

/* Read the regular file PATH (agq_read_file: not through a symlink, at
 * most MAX bytes) and parse it as one JSON object (json_loadb(3), no
 * flags): the task files, agents/NAME.json, endpoints/NAME.json of
 * agq-spool(5).  Returns a new reference (json_decref), or NULL with
 * errno: that of open(2)/read(2), EINVAL not a regular file, EFBIG over
 * MAX bytes, EBADMSG not a JSON object. */
json_t *agq_json_read_object(const char *path, size_t max);

/* A per-thread bump arena for jansson's allocations, for programs that
 * parse many short-lived objects on several threads (agq-ls over 100,000
 * task files spends a tenth of its time in malloc(3) and free(3)
 * otherwise).  agq_json_arena_init() installs the allocator
 * (json_set_alloc_funcs(3)) once, before threads start; a thread then
 * brackets the life of its objects with agq_json_arena_enter() and
 * agq_json_arena_leave(): in between, jansson's allocations of that
 * thread come from its arena (1 MiB, made at its first enter; malloc(3)
 * once it is full) and their frees cost nothing.  Every object made in
 * between must be gone (json_decref, or a json_dumps string freed) by
 * leave, which makes the arena's memory free for the next; a string to
 * keep is copied first.  Outside enter/leave, and for memory not from an
 * arena, the allocator is malloc(3) and free(3).  At most 16 threads get
 * an arena; the others use malloc.  Enter fails (returns -1, the thread
 * then uses malloc) only when the arena cannot be mapped. */
void agq_json_arena_init(void);
int agq_json_arena_enter(void);
void agq_json_arena_leave(void);

/* agq_json_read_object of PATH relative to the directory descriptor DFD
 * (openat(2), as agq_read_file_at). */
json_t *agq_json_read_object_at(int dfd, const char *path, size_t max);

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

/* agq_write_atomic of the JSON value V as json_dumps(3) writes it with
 * jansson FLAGS (e.g. JSON_INDENT(2)), and a newline: a file people read
 * with cat(1) and jq(1).  SYNC and NOREPLACE as agq_write_atomic's.  0, or
 * -1 with errno (ENOMEM when V cannot be serialized). */
int agq_write_json(const char *tmpdir, const char *dst, const json_t *v,
                   size_t flags, int sync, int noreplace);

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

/* vsnprintf FMT into ERR (SIZE bytes), cut before a character rather
 * than inside one (agq_utf8_trim: errors go into JSON, the journal and
 * task files), and return -1: the one-line error reports of validators
 * ("field cmd: missing"). */
int agq_errf(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* S (NUL-terminated) cut in place before a UTF-8 character that its end
 * cuts short (RFC 3629: a lead byte without all its continuation bytes),
 * as snprintf(3) or a copy into a fixed buffer leaves it: so that a
 * reason made of valid text stays valid UTF-8, which JSON needs. */
void agq_utf8_trim(char *s);

/* N bytes of S (captured output, not necessarily UTF-8) as a new JSON
 * string; when S is not valid UTF-8 (or is cut inside a character) each
 * non-ASCII or NUL byte becomes '?'.  New reference. */
json_t *agq_json_text(const char *s, size_t n);

/* Text for a person (a terminal, a log read with less(1)), agq(7)
 * TERMINAL OUTPUT: N bytes of S (not necessarily UTF-8 or NUL-free) into
 * BUF of SIZE (>= 1) bytes, NUL-terminated, with each C0 control
 * (U+0000-U+001F) and DEL shown as "\xHH", each C1 control (U+0080-
 * U+009F, two bytes in UTF-8) as "\u00HH", each bidirectional formatting
 * character (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069:
 * Unicode UAX #9) and the line and paragraph separators U+2028, U+2029 as
 * "\uHHHH", and each byte that is not part of valid UTF-8 (RFC 3629
 * section 4: no overlong form, no surrogate, nothing past U+10FFFF) as
 * "\xHH"; the rest is copied.  A title then cannot move the cursor, clear
 * the screen, retitle the terminal (ECMA-48 ESC, CSI, OSC), fake a line
 * or reorder the rest of the line (Trojan Source, CVE-2021-42574).  With AGQ_HUMAN_NL, '\n' is kept (a
 * multi-line text).  What does not fit in BUF is left out at a character
 * or escape boundary.  S NULL renders as "-".  Returns BUF. */
#define AGQ_HUMAN_NL 1
char *agq_human_n(char *buf, size_t size, const char *s, size_t n,
                  int flags);
/* N bytes of S, a line of JSON (a journal event), with each character
 * agq_human_n escapes written as the JSON escape "\uHHHH" instead (the C0
 * controls but tab, DEL, the C1 controls, the bidirectional formatting
 * characters and U+2028, U+2029), and each byte that is not part of valid
 * UTF-8 as "\ufffd" (what a JSON reader such as jq(1) reads it as): the
 * same JSON values for a program, safe on a terminal (agq-journal(1)).
 * Text without such characters comes out byte for byte.  malloc'd,
 * NUL-terminated, its length in *OUTLEN (may be NULL); exits EX_OSERR
 * when out of memory. */
char *agq_json_shown(const char *s, size_t n, size_t *outlen);

/* setenv(3), replacing, each member of ENV (a JSON object of strings, or
 * NULL; members that are not strings are skipped): a CLI lock entry's
 * "env" (agq-backend(7)), set in the child before it execs.  0, or -1
 * with errno (setenv(3)'s: EINVAL a name with '=', ENOMEM). */
int agq_setenv_json(const json_t *env);

/* agq_human_n of the NUL-terminated S (or NULL), no flags. */
char *agq_human(char *buf, size_t size, const char *s);

/* agq_human_n of N bytes of S into a buffer of its own, however long:
 * malloc'd (free(3)); exits EX_OSERR when out of memory. */
char *agq_human_dup(const char *s, size_t n, int flags);

/* Columns the UTF-8 text S takes on a terminal: each character 1, except
 * East Asian wide and fullwidth ones (Unicode UAX #11, a short table of
 * its main blocks) 2 and combining marks 0; each invalid byte 1.  No
 * locale involved (not wcwidth(3)): the same count in every program. */
size_t agq_text_cols(const char *s);

/* Cut the UTF-8 text S in place to at most COLS columns (agq_text_cols):
 * when it is wider, it ends in "..." inside those COLS (COLS < 4: just
 * cut).  Never cuts inside a character.  Returns
 * S. */
char *agq_text_cut(char *s, size_t cols);

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

/* A daemon's periodic child (agq-sched's agq-registry check and agq-pr
 * poll): 1 when a new one is due: *CHILD (a pid, or 0) has ended (reaped
 * with waitpid(2) WNOHANG, *CHILD set to 0) and PERIOD_US microseconds
 * have passed since *LAST (agq_mono_us; 0: never), which is then set to
 * now; else 0, nothing changed but the reaping. */
int agq_child_due(pid_t *child, int64_t *last, int64_t period_us);

/* Overwrite the string S (a key, a header holding one) with zeros
 * (explicit_bzero(3), which the compiler may not drop) and free(3) it.
 * S may be NULL. */
void agq_free_secret(char *s);

/* Host name (gethostname(2)), borrowed static storage. */
const char *agq_hostname(void);

/* The running kernel's boot id, /proc/sys/kernel/random/boot_id (proc(5):
 * a UUID new at each boot), without its newline; "" when it cannot be
 * read.  Borrowed static storage.  With agq_hostname and getpid(2) it
 * names a process across hosts and reboots. */
const char *agq_boot_id(void);

/* Random 64-bit value from getrandom(2), falling back to time^pid. */
uint64_t agq_random(void);

/* Is the current directory (getcwd(3), after the chdir(2): symbolic links
 * already resolved, so none can lead out) ROOT or below it?  ROOT NULL or
 * "/" allows any.  0 yes; -1 no or error, with WHY (SIZE bytes) saying so
 * ("cwd /x escapes cwd_root /srv"). */
int agq_cwd_check(const char *root, char *why, size_t size);

/* NAME is "ID.json" with ID a valid task id (agq_id_valid): 1 with ID
 * (65 bytes) filled, else 0.  The names of the files of the state
 * directories, agents/ and the like (agq-spool(5)). */
int agq_id_of_json(const char *name, char id[65]);

/* Set the process's time zone to ZONE (an IANA name, tz(5); NULL or ""
 * UTC) through TZ and tzset(3), for localtime_r(3) and mktime(3); returns
 * the TZ it replaced (malloc'd, NULL when unset) for agq_tz_pop, which
 * puts it back (unset for NULL) and frees it.  Not thread-safe. */
char *agq_tz_push(const char *zone);
void agq_tz_pop(char *old);

#endif
