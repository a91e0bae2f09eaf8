/*
 * shepherd.h - the shepherd of agq-run(8): one forked copy of the runner
 * per agent that starts each task in a process group of its own, enforces
 * its timeout, stops it when asked, reports its wait status, and kills
 * every task's group when the runner dies.  The runner (runner.c) drives
 * it through these functions; the protocol between the two is stated at
 * the top of shepherd.c, which defines them.
 *
 * Every function here runs in the runner; only agq_shep_spawn makes the
 * shepherd process.  Times are microseconds of the monotonic clock
 * (agq_mono_us), durations microseconds.
 */
#ifndef AGQ_SHEPHERD_H
#define AGQ_SHEPHERD_H

#include <stdint.h>
#include <sys/types.h>

/* How a task ended (the name kept from runner.c, whose job records carry
 * it). */
struct shep_result {
	int status;             /* wait(2) status of the task */
	int timed_out;          /* killed for its timeout */
	int stopped;            /* killed because the runner asked */
	/* the task's process ended before its exec (exit 126 or 127): why,
	 * as in its stderr without "agq-run: " ("cannot run: No such file
	 * or directory (./x)"); else "" */
	char why[200];
};

/* The runner's handle on its shepherd: both -1 when there is none. */
struct agq_shep {
	pid_t pid;              /* the shepherd */
	int fd;                 /* its socket (SOCK_SEQPACKET, CLOEXEC) */
	int64_t respawn_at;     /* no new shepherd before (monotonic us) */
};

/* What a task's process does (agq_shep_task.flags). */
#define AGQ_SHEP_AGENT  1       /* it is agq-attempt, for an agent task:
                                 * failing to exec it exits 126 */
#define AGQ_SHEP_SEARCH 2       /* look FILE up in ENV's PATH (execvpe(3));
                                 * else FILE is a path (execve(2)) */
#define AGQ_SHEP_CHECK  4       /* the cwd must be at or below ROOT after
                                 * the chdir (agq_cwd_check's rule) */
#define AGQ_SHEP_USER   64      /* run as UID, GID and GROUPS (a root
                                 * agent's task of another user): set
                                 * before the chdir, so that the user's
                                 * permissions decide it */
#define AGQ_SHEP_OWNCWD 128     /* with AGQ_SHEP_USER: the cwd is agq's
                                 * own (out/ID), entered before the
                                 * credentials change (out/ is not
                                 * searchable by the user) */

/* A task to start, all of it borrowed for the call. */
struct agq_shep_task {
	const char *file;       /* the program */
	char *const *argv;      /* NULL-terminated */
	const char *const *env; /* ENVC "NAME=value": the whole environment */
	size_t envc;
	const char *cwd;        /* its working directory */
	const char *root;       /* AGQ_SHEP_CHECK: cwd_root, resolved (or as
	                         * configured when it could not be: ROOT_ERR);
	                         * else "" */
	int root_err;           /* errno of realpath(3) of cwd_root, or 0 */
	uint32_t flags;         /* AGQ_SHEP_* */
	int64_t timeout_us;     /* 0: none */
	int64_t grace_us;       /* from SIGTERM to SIGKILL (kill_grace) */
	int in;                 /* its stdin, or -1: /dev/null */
	int out, err;           /* its stdout and stderr */
	uid_t uid;              /* AGQ_SHEP_USER: its user, */
	gid_t gid;              /* group */
	const gid_t *groups;    /* and NGROUPS supplementary groups */
	size_t ngroups;
};

/* Fork the shepherd and fill H.  Call it while the runner is small (the
 * fork copies its page tables); the shepherd closes every descriptor of
 * the runner's but its socket, the agent lock above all, and ignores
 * SIGTERM and SIGINT (the runner's to act on).  It sends the runner a
 * SIGCHLD after each EXIT: the runner must catch SIGCHLD to be woken from
 * its wait.  H->respawn_at is set to a second from now.  0; or -1,
 * reported (agq_syserr), H untouched. */
int agq_shep_spawn(struct agq_shep *h);

/* Ask the shepherd to start task X as job SEQ (the runner's number for it,
 * in the EXIT that reports its end).  The fds of X stay the caller's: they
 * are passed (SCM_RIGHTS) and may be closed on return.  A task that cannot
 * start in the shepherd (no fork, no chdir, no exec, cwd outside cwd_root)
 * ends at once with status 126 (127: not found), its reason written to its
 * stderr as "agq-run: what failed: why (path)".  0; or -1 with errno when
 * nothing was sent (EPIPE: no shepherd; ENOMEM, or memfd_create(2)'s
 * errors for a message of over 32 KiB; sendmsg(2)'s). */
int agq_shep_start(struct agq_shep *h, uint64_t seq,
                   const struct agq_shep_task *x);

/* Ask the shepherd to stop job SEQ: SIGTERM to its process group, SIGKILL
 * after its grace; its EXIT says stopped.  Best effort: nothing is sent
 * without a shepherd, and a send that fails shows as EOF later. */
void agq_shep_stop(struct agq_shep *h, uint64_t seq);

/* The next EXIT, without blocking: 1 with *SEQ and *R filled; 0 when none
 * is waiting (or there is no shepherd); -1 when the shepherd is gone (EOF,
 * or a message it would not send): call agq_shep_lost. */
int agq_shep_recv(struct agq_shep *h, uint64_t *seq, struct shep_result *r);

/* The shepherd died: its socket closed, the process SIGKILLed and reaped,
 * H emptied (pid and fd -1).  Its tasks died with it (their
 * PR_SET_PDEATHSIG is SIGKILL).  Returns its wait(2) status. */
int agq_shep_lost(struct agq_shep *h);

/* The runner is done: the socket closed, so that the shepherd, with no
 * task left, sees EOF and exits; it is reaped, H emptied.  Nothing to do
 * without a shepherd. */
void agq_shep_end(struct agq_shep *h);

#endif
