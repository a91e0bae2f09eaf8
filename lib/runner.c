/*
 * runner.c - the agent runner (agq-run(8)).
 *
 * An agent NAME registers agents/NAME.json, heartbeats it, and runs the
 * tasks the scheduler leases to it by moving them into active/NAME/.
 *
 * The tasks run under a shepherd: one forked copy of the runner per agent,
 * made at start-up (and again should it die), that starts each task in a
 * process group of its own, enforces its timeout (SIGTERM, then SIGKILL
 * after kill_grace), and reports its wait status, all over a socketpair
 * (shepherd(), below).  The shepherd has PR_SET_PDEATHSIG set, so when the
 * runner dies (even by SIGKILL) the shepherd kills every task's process
 * group: a task that the scheduler reclaims is never still running
 * somewhere.  The task itself has PR_SET_PDEATHSIG too, for the case of a
 * killed shepherd (the runner then ends its jobs as killed).  The task's
 * process starts with vfork(2) and sets up its own working directory; its
 * environment is made by the runner: no process to make, fault in and
 * tear down per task but the task's own.
 *
 * Completion is fenced twice: the task must still be in active/NAME/ (the
 * scheduler's reclaim moves it away, so the rename fails with ENOENT) and
 * its generation must still be the one this run started with; otherwise
 * the result is refused and a `stale` event journaled.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "paths.h"
#include "classify.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "lifecycle.h"
#include "lease.h"
#include "reject.h"
#include "agent.h"
#include "out.h"
#include "resources.h"
#include "runner.h"

extern char **environ;

struct shep_result {
	int status;             /* wait(2) status of the task */
	int timed_out;          /* killed for its timeout */
	int stopped;            /* killed because the runner asked */
};

struct job {
	char id[65];
	json_int_t gen;
	uint64_t seq;           /* its number, to and from the shepherd */
	int64_t started_us;
	int stop_sent;
	int handback;           /* hand back to the queue when it ends */
	int unrecorded;         /* its start record failed: stopped, and
	                         * left leased as it was, to start again */
	int exited;             /* it ended: RES holds the result, recorded
	                         * after the next starts (reap) */
	struct shep_result res;
	int pending;            /* started, its start record written but not
	                         * yet committed (commit_starts); L and RW: */
	struct agq_locked l;    /* its task, locked until then */
	struct agq_rewrite rw;  /* its start record */
	int attempt;
};

struct runner {
	struct agq_spool *sp;
	const struct agq_run_opts *o;
	struct job *jobs;
	int njobs;
	int draining;
	int64_t started_us;
	json_t *once_ids;       /* --once: the leases present at start */
	int lockfd;             /* .agent-NAME.lock, held while running */
	int unrecorded;         /* exit status (75: disk full) of a start or
	                         * result it could not record: --once */
	int64_t room_at;        /* no start before (monotonic): a failed one */
	char *spare_tmp;        /* tmp/.spare-NAME: the next start record */
	char spare_out[80];     /* out/.spare-NAME/: the next output dir */
	int spare_ok;           /* both made, for the next start */
	pid_t shep;             /* the shepherd, -1: none */
	int shep_fd;            /* its socket, -1: none */
	int64_t shep_at;        /* no new shepherd before (monotonic) */
	uint64_t seq;           /* the last job's number */
};

static volatile sig_atomic_t got_term, got_chld;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term++;
}

/* ---- registration ------------------------------------------------------- */

static void
heartbeat(struct runner *R, const char *state)
{
	json_t *running = json_array();
	for (int i = 0; i < R->njobs; i++)
		if (!R->jobs[i].exited)
			json_array_append_new(running, json_string(
			    R->jobs[i].id));
	if (!state)
		state = R->draining ? "draining" : R->njobs ? "busy" : "idle";
	char t1[32], t2[32];
	json_t *a = json_pack("{s:s, s:s, s:i, s:O, s:i, s:s, s:s, s:s, s:o, "
	    "s:s}",
	    "name", R->o->agent, "host", agq_hostname(), "pid", (int)getpid(),
	    "capabilities", R->o->caps, "slots", R->o->slots,
	    "state", state,
	    "heartbeat", agq_fmt_time(agq_now_us(), t1),
	    "started_at", agq_fmt_time(R->started_us, t2),
	    "running", running,
	    "version", AGQ_VERSION);
	json_object_set_new(a, "heartbeat_s", json_real(R->o->heartbeat_s));
	json_object_set_new(a, "prefetch", json_integer(R->o->prefetch));
	/* what it can execute, for routing (agq-sched(8)) */
	if (json_array_size(R->o->backends))
		json_object_set(a, "backends", R->o->backends);
	if (json_array_size(R->o->endpoints))
		json_object_set(a, "endpoints", R->o->endpoints);
	if (json_array_size(R->o->models))
		json_object_set(a, "models", R->o->models);
	json_object_set_new(a, "resources", agq_host_resources());
	if (agq_agent_write(R->sp, a) < 0) {
		agq_spool_syserr(R->sp, "cannot write agent file",
		    "agents/%s.json", R->o->agent);
	}
	json_decref(a);
}

/* ---- starting a task ---------------------------------------------------- */

/* NAME in the output directory open as DFD (DIR, for messages). */
static int
open_out(int dfd, const char *dir, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", dir, name);
		agq_syserr("cannot open output file", p);
	}
	return fd;
}

/* ---- the shepherd -------------------------------------------------------- */

/* The runner and its shepherd talk over a socketpair(2) of type
 * SOCK_SEQPACKET, one message each:
 *
 *   START  runner -> shepherd: start job SEQ.  With SCM_RIGHTS, the task's
 *          stdout and stderr, then its stdin when SM_STDIN (else
 *          /dev/null), then a memfd holding the blob when SM_BLOBFD (a
 *          blob of over SM_INLINE bytes; else the blob follows the header
 *          in the message).  The blob is NUL-terminated strings: the
 *          program, ARGC arguments, ENVC "NAME=value" entries (the task's
 *          whole environment), the cwd, and cwd_root resolved (or as
 *          configured when it could not be: ROOT_ERR) or "".
 *   STOP   runner -> shepherd: stop job SEQ (SIGTERM to its process group,
 *          SIGKILL after its grace), STOPPED in its EXIT.
 *   EXIT   shepherd -> runner: job SEQ ended (and what was left of its
 *          group has been killed), followed by a SIGCHLD to the runner
 *          to wake it from its inotify read.
 *
 * The shepherd never changes its own environment or directory: the task's
 * process (a vfork(2) child: no CLONE_FS) does its chdir, cwd check, PATH
 * search and execve(2) with system calls and its own stack only. */
enum { SM_START = 1, SM_STOP, SM_EXIT };
#define SM_AGENT        1       /* agq-attempt, for an agent task */
#define SM_SEARCH       2       /* look the program up in the env's PATH */
#define SM_CHECK        4       /* the cwd must be at or below cwd_root */
#define SM_STDIN        8       /* a stdin fd comes (else /dev/null) */
#define SM_BLOBFD       16      /* the blob comes in a memfd */
#define SM_INLINE       32768   /* bytes of blob sent in the message */

struct sm_start {
	uint32_t type, flags;
	uint64_t seq;           /* the job's number, from the runner */
	int64_t timeout_us;     /* 0: none */
	int64_t grace_us;       /* from SIGTERM to SIGKILL */
	int32_t root_err;       /* errno of realpath(3) of cwd_root, or 0 */
	uint32_t argc, envc;
	uint32_t len;           /* bytes of blob */
};

struct sm_stop { uint32_t type, pad; uint64_t seq; };
struct sm_exit { uint32_t type, pad; uint64_t seq; struct shep_result r; };

/* What the task's process needs, all made before it exists (in the
 * shepherd): it starts with vfork(2), so it shares the shepherd's memory
 * until its exec and makes nothing but system calls (task_child). */
struct task_exec {
	const char *file;       /* the program: a path, or a name to search */
	char **argv, **envp;    /* NULL-terminated */
	const char *cwd, *root; /* its directory; cwd_root for SM_CHECK */
	uint32_t flags;         /* SM_* */
	int root_err;
	int in, out, err;       /* its stdin, stdout and stderr, all fds above
	                         * 2 (so no dup2 overwrites another) */
	int ep;                 /* CLOEXEC pipe, write end: why it failed */
};

/* Why the task's process could not run, on X->ep (the shepherd writes the
 * message to the task's stderr). */
enum { CE_CHDIR = 1, CE_GETCWD, CE_ROOT, CE_ESCAPE, CE_EXEC };
struct child_err {
	int what, err;          /* CE_*, errno */
	char cwd[PATH_MAX];     /* CE_ESCAPE: the directory */
};

static void
child_report(const struct task_exec *x, int what, int err, const char *cwd)
{
	struct child_err ce;
	size_t n = cwd ? strnlen(cwd, sizeof ce.cwd - 1) : 0;
	ce.what = what;
	ce.err = err;
	if (n)
		memcpy(ce.cwd, cwd, n);
	ce.cwd[n] = '\0';
	(void)!write(x->ep, &ce, offsetof(struct child_err, cwd) + n + 1);
}

/* Exec X's program with X's envp: as execve(2), or for SM_SEARCH with
 * execvpe(3), which looks the name up in the PATH of environ: task_spawn
 * points environ at X's envp across the vfork, so that is the task's PATH.
 * Returns only when nothing could be executed, with errno and the exit
 * status for it: 127 when not found (always, without SM_SEARCH:
 * agq_cmd_exec), else 126. */
static int
exec_task(const struct task_exec *x)
{
	if (!(x->flags & SM_SEARCH)) {
		execve(x->file, x->argv, x->envp);
		return 127;
	}
	execvpe(x->file, x->argv, x->envp);
	return errno == ENOENT ? 127 : 126;
}

/* The task's process, a vfork(2) child of the shepherd: its own process
 * group, SIGKILL when the shepherd dies, every signal at its default and
 * none blocked, stdio, its directory (checked against cwd_root: getcwd(2)
 * after the chdir, symbolic links resolved, at or below it; the rule of
 * agq_cwd_check), exec.  System calls only, on its own stack: the
 * shepherd's memory is shared until the exec. */
static _Noreturn void
task_child(const struct task_exec *x)
{
	/* no CLONE_SIGHAND: these change nothing in the shepherd.  The
	 * handlers go before the mask: none of the runner's may run here */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			(void)sigaction(s, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(x->in, 0) < 0 || dup2(x->out, 1) < 0 || dup2(x->err, 2) < 0)
		_exit(126);
	if (chdir(x->cwd) < 0) {
		child_report(x, CE_CHDIR, errno, NULL);
		_exit(126);
	}
	if (x->flags & SM_CHECK) {
		char cwd[PATH_MAX];
		long n = syscall(SYS_getcwd, cwd, sizeof cwd);
		if (n < 0 || cwd[0] != '/') {
			child_report(x, CE_GETCWD, n < 0 ? errno : ENOENT, NULL);
			_exit(126);
		}
		if (x->root_err) {
			child_report(x, CE_ROOT, x->root_err, NULL);
			_exit(126);
		}
		size_t k = strlen(x->root);
		if (strncmp(cwd, x->root, k) || (cwd[k] && cwd[k] != '/')) {
			child_report(x, CE_ESCAPE, 0, cwd);
			_exit(126);
		}
	}
	int st = exec_task(x);
	child_report(x, CE_EXEC, errno, NULL);
	_exit(x->flags & SM_AGENT ? 126 : st);
}

/* vfork(2) X's task: its pid (it has exec'd or _exited by the time this
 * returns), or -1 with errno.  Apart, so that nothing of the caller's
 * frame is live across the vfork. */
static __attribute__((noinline)) pid_t
task_spawn(const struct task_exec *x)
{
	/* the shepherd is single-threaded and reads no environment until
	 * it is put back */
	char **own = environ;
	environ = x->envp;
	pid_t pid = vfork();
	if (pid == 0)
		task_child(x);
	int e = errno;
	environ = own;
	errno = e;
	return pid;
}

/* A task the shepherd runs. */
struct stask {
	uint64_t seq;
	pid_t pid;              /* also its process group */
	int64_t deadline;       /* its timeout (monotonic), 0: none */
	int64_t kill_at;        /* SIGKILL then, 0: not yet asked */
	int64_t grace;
	struct shep_result r;
};

struct shep {
	int sock;               /* to the runner */
	int null;               /* /dev/null, the stdin of a cmd task */
	pid_t runner;
	struct stask *t;
	size_t n, cap;
};

/* The runner is gone (or the socket broken): every task's process group
 * is killed, and the shepherd exits. */
static _Noreturn void
shep_quit(struct shep *S)
{
	for (size_t i = 0; i < S->n; i++)
		kill(-S->t[i].pid, SIGKILL);
	_exit(0);
}

static void
shep_exit_msg(struct shep *S, uint64_t seq, const struct shep_result *r)
{
	struct sm_exit m = { SM_EXIT, 0, seq, *r };
	if (send(S->sock, &m, sizeof m, MSG_NOSIGNAL) < 0)
		shep_quit(S);
	kill(S->runner, SIGCHLD);       /* it waits in an inotify read */
}

/* Start job H, its blob B, the fds FD[NFD] (closed here).  A task that
 * cannot start ends at once, its reason in its stderr. */
static void
shep_start(struct shep *S, const struct sm_start *h, const char *b,
           int *fd, int nfd)
{
	struct shep_result r = { 0, 0, 0 };
	int need = 2 + !!(h->flags & SM_STDIN) + !!(h->flags & SM_BLOBFD);
	char *big = NULL;
	char **v = NULL;
	struct task_exec x;
	memset(&x, 0, sizeof x);
	x.ep = -1;
	if (nfd < need) {
		r.status = 126 << 8;
		goto done;
	}
	int efd = fd[1];
	if (h->flags & SM_BLOBFD) {
		big = malloc(h->len ? h->len : 1);
		if (!big || pread(fd[need - 1], big, h->len, 0) !=
		    (ssize_t)h->len) {
			dprintf(efd, "agq-run: cannot start the task: %s\n",
			    strerror(big ? errno : ENOMEM));
			r.status = 126 << 8;
			goto done;
		}
		b = big;
	}
	/* the strings: the program, argv, envp, cwd, root */
	v = malloc((h->argc + h->envc + 5) * sizeof *v);
	if (!v) {
		dprintf(efd, "agq-run: cannot start the task: %s\n",
		    strerror(ENOMEM));
		r.status = 126 << 8;
		goto done;
	}
	const char *p = b, *end = b + h->len;
	size_t nstr = h->argc + h->envc + 3;
	for (size_t i = 0, k = 0; i < nstr; i++, k++) {
		const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) :
		    NULL;
		if (!z) {
			dprintf(efd, "agq-run: cannot start the task: a bad "
			    "message from the runner\n");
			r.status = 126 << 8;
			goto done;
		}
		if (i == h->argc + 1)
			v[k++] = NULL;          /* ends argv */
		if (i == h->argc + h->envc + 1)
			v[k++] = NULL;          /* ends envp */
		v[k] = (char *)p;
		p = z + 1;
	}
	x.file = v[0];
	x.argv = v + 1;
	x.envp = v + h->argc + 2;
	x.cwd = v[h->argc + h->envc + 3];
	x.root = v[h->argc + h->envc + 4];
	x.flags = h->flags;
	x.root_err = h->root_err;
	x.out = agq_fd_above_stdio(fd[0]);
	x.err = agq_fd_above_stdio(fd[1]);
	x.in = agq_fd_above_stdio(h->flags & SM_STDIN ? fd[2] : S->null);
	int ep[2];
	if (x.in < 0 || x.out < 0 || x.err < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		dprintf(efd, "agq-run: cannot start the task: %s\n",
		    strerror(errno));
		r.status = 126 << 8;
		goto done;
	}
	x.ep = ep[1];
	pid_t pid = task_spawn(&x);
	int e = errno;
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		dprintf(efd, "agq-run: cannot fork: %s\n", strerror(e));
		r.status = 126 << 8;
		goto done;
	}
	/* the write end closed at the exec: nothing to read then */
	struct child_err ce;
	ssize_t n = read(ep[0], &ce, sizeof ce);
	close(ep[0]);
	if (n > (ssize_t)offsetof(struct child_err, cwd)) {
		ce.cwd[sizeof ce.cwd - 1] = '\0';
		switch (ce.what) {
		case CE_CHDIR:
			dprintf(efd, "agq-run: cannot change directory: %s "
			    "(%s)\n", strerror(ce.err), x.cwd);
			break;
		case CE_GETCWD:
			dprintf(efd, "agq-run: cannot get the working "
			    "directory: %s\n", strerror(ce.err));
			break;
		case CE_ROOT:
			dprintf(efd, "agq-run: cannot resolve cwd_root: %s "
			    "(%s)\n", strerror(ce.err), x.root);
			break;
		case CE_ESCAPE:
			dprintf(efd, "agq-run: cwd %s escapes cwd_root %s\n",
			    ce.cwd, x.root);
			break;
		default:
			if (x.flags & SM_AGENT)
				dprintf(efd, "agq-run: cannot run agq-attempt: "
				    "%s (%s)\n", strerror(ce.err), x.file);
			else
				dprintf(efd, "agq-run: cannot run: %s (%s)\n",
				    strerror(ce.err), x.file);
		}
	}
	if (S->n == S->cap) {
		size_t cap = S->cap ? S->cap * 2 : 8;
		struct stask *t = realloc(S->t, cap * sizeof *t);
		if (!t) {
			/* cannot watch it: it ends now */
			kill(-pid, SIGKILL);
			while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR)
				;
			goto done;
		}
		S->t = t;
		S->cap = cap;
	}
	int64_t now = agq_mono_us();
	S->t[S->n++] = (struct stask){ .seq = h->seq, .pid = pid,
	    .deadline = h->timeout_us > 0 ? now + h->timeout_us : 0,
	    .grace = h->grace_us };
	r.status = -1;
done:
	if (x.in >= 0 && x.in != S->null && x.in != fd[2])
		close(x.in);
	if (x.out >= 0 && x.out != fd[0])
		close(x.out);
	if (x.err >= 0 && x.err != fd[1])
		close(x.err);
	for (int i = 0; i < nfd; i++)
		close(fd[i]);
	free(v);
	free(big);
	if (r.status != -1)
		shep_exit_msg(S, h->seq, &r);
}

/* Every task that ended: what was left of its group is killed, its EXIT
 * sent. */
static void
shep_reap(struct shep *S)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			return;
		for (size_t i = 0; i < S->n; i++) {
			if (S->t[i].pid != pid)
				continue;
			/* Whatever the task left running in its group ends
			 * with it. */
			kill(-pid, SIGKILL);
			struct stask t = S->t[i];
			S->t[i] = S->t[--S->n];
			t.r.status = st;
			shep_exit_msg(S, t.seq, &t.r);
			break;
		}
	}
}

/* The runner's messages, until none is left; EOF: the runner is gone. */
static void
shep_read(struct shep *S)
{
	static union {
		struct sm_start h;
		char b[sizeof(struct sm_start) + SM_INLINE];
	} m;
	for (;;) {
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(4 * sizeof(int))];
		} cm;
		struct iovec iov = { m.b, sizeof m.b };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = cm.b, .msg_controllen = sizeof cm.b };
		ssize_t n = recvmsg(S->sock, &mh, MSG_DONTWAIT |
		    MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			shep_quit(S);
		int fd[4] = { -1, -1, -1, -1 }, nfd = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		    c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
				if (nfd < 4)
					fd[nfd++] = f;
				else
					close(f);
			}
		}
		if (n < (ssize_t)sizeof(struct sm_stop)) {
			for (int i = 0; i < nfd; i++)
				close(fd[i]);
			continue;
		}
		if (m.h.type == SM_START && n >= (ssize_t)sizeof m.h &&
		    ((m.h.flags & SM_BLOBFD) || m.h.len == (size_t)n -
		    sizeof m.h)) {
			shep_start(S, &m.h, m.b + sizeof m.h, fd, nfd);
			continue;
		}
		for (int i = 0; i < nfd; i++)
			close(fd[i]);
		if (m.h.type == SM_STOP && n == (ssize_t)sizeof(struct sm_stop)) {
			struct sm_stop s;
			memcpy(&s, m.b, sizeof s);
			for (size_t i = 0; i < S->n; i++) {
				struct stask *t = &S->t[i];
				if (t->seq != s.seq || t->r.stopped)
					continue;
				t->r.stopped = 1;
				kill(-t->pid, SIGTERM);
				t->kill_at = agq_mono_us() + t->grace;
			}
		} else if (m.h.type == SM_START) {
			struct shep_result r = { 126 << 8, 0, 0 };
			shep_exit_msg(S, m.h.seq, &r);
		}
	}
}

/* The shepherd: runs in a fork of the runner RUNNER, started once (and
 * again should it die), and never returns.  SOCK is its end of the
 * socketpair; every other descriptor of the runner's is closed, above all
 * the agent lock, so a restarted agent can take it while an orphaned
 * shepherd is still cleaning up.  It starts each task, enforces its
 * timeout (SIGTERM, then SIGKILL after its grace) and a STOP, reports its
 * end, and kills every task's process group when the runner dies
 * (PR_SET_PDEATHSIG: SIGHUP) or closes the socket.  SIGTERM and SIGINT
 * (a ^C to the agent's process group) are the runner's to act on: it
 * ignores them. */
static _Noreturn void
shepherd(int sock, pid_t runner)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGHUP);
	if (getppid() != runner)
		_exit(1);
	int s = sock > 2 ? sock : fcntl(sock, F_DUPFD_CLOEXEC, 3);
	if (s < 0)
		_exit(1);
	if (s > 3)
		(void)close_range(3, (unsigned)s - 1, 0);
	(void)close_range((unsigned)s + 1, ~0U, 0);
	struct shep S = { .sock = s, .runner = runner };
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	S.null = agq_fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (sfd < 0 || S.null < 0) {
		dprintf(2, "agq-run: cannot start the shepherd: %s\n",
		    strerror(errno));
		_exit(1);
	}
	for (;;) {
		int64_t now = agq_mono_us(), until = 0;
		for (size_t i = 0; i < S.n; i++) {
			struct stask *t = &S.t[i];
			if (t->deadline && !t->r.timed_out &&
			    (!until || t->deadline < until))
				until = t->deadline;
			if (t->kill_at && (!until || t->kill_at < until))
				until = t->kill_at;
		}
		struct timespec ts, *tsp = NULL;
		if (until) {
			int64_t d = until > now ? until - now : 0;
			ts.tv_sec = d / 1000000;
			ts.tv_nsec = (d % 1000000) * 1000;
			tsp = &ts;
		}
		struct pollfd pf[2] = { { sfd, POLLIN, 0 }, { s, POLLIN, 0 } };
		if (ppoll(pf, 2, tsp, NULL) < 0 && errno != EINTR)
			shep_quit(&S);
		if (pf[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				if (si.ssi_signo == SIGHUP)     /* the runner died */
					shep_quit(&S);
			shep_reap(&S);
		}
		if (pf[1].revents)
			shep_read(&S);
		now = agq_mono_us();
		for (size_t i = 0; i < S.n; i++) {
			struct stask *t = &S.t[i];
			if (t->deadline && !t->r.timed_out && now >= t->deadline) {
				t->r.timed_out = 1;
				kill(-t->pid, SIGTERM);
				t->kill_at = now + t->grace;
			} else if (t->kill_at && now >= t->kill_at) {
				kill(-t->pid, SIGKILL);
				t->kill_at = 0;
			}
		}
	}
}

/* Start the runner's shepherd.  0, or -1 (reported). */
static int
shep_spawn(struct runner *R)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		agq_syserr("cannot create a socket pair", NULL);
		return -1;
	}
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot fork", NULL);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		shepherd(sv[1], runner);
	}
	close(sv[1]);
	R->shep = pid;
	R->shep_fd = sv[0];
	R->shep_at = agq_mono_us() + 1000000;
	return 0;
}

/* The shepherd died (EOF on the socket): every job still running ends with
 * its wait status, as killed (its task had SIGKILL from its
 * PR_SET_PDEATHSIG), and is recorded; a new one starts on the next turn
 * (at most one a second). */
static void
shep_lost(struct runner *R)
{
	int st = 0;
	close(R->shep_fd);
	R->shep_fd = -1;
	kill(R->shep, SIGKILL);
	while (waitpid(R->shep, &st, 0) < 0 && errno == EINTR)
		;
	int n = 0;
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (j->exited)
			continue;
		memset(&j->res, 0, sizeof j->res);
		j->res.status = st;
		j->exited = 1;
		n++;
	}
	if (WIFSIGNALED(st))
		agq_warn("the shepherd (pid %d) was killed by signal %d; %d "
		    "running task(s) ended", (int)R->shep, WTERMSIG(st), n);
	else
		agq_warn("the shepherd (pid %d) exited %d; %d running task(s) "
		    "ended", (int)R->shep, WEXITSTATUS(st), n);
	R->shep = -1;
}

/* The runner is done: its shepherd, with no task left, sees EOF and
 * exits. */
static void
shep_end(struct runner *R)
{
	if (R->shep_fd < 0)
		return;
	close(R->shep_fd);
	R->shep_fd = -1;
	while (waitpid(R->shep, NULL, 0) < 0 && errno == EINTR)
		;
	R->shep = -1;
}

/* Ask the shepherd to stop J's task. */
static void
shep_stop(struct runner *R, struct job *j)
{
	j->stop_sent = 1;
	if (R->shep_fd < 0 || j->exited)
		return;
	struct sm_stop m = { SM_STOP, 0, j->seq };
	(void)send(R->shep_fd, &m, sizeof m, MSG_NOSIGNAL);
}

/* The task's environment, as setenv(3) in a copy of the runner would make
 * it: the runner's environ with each NAME set to a "NAME=value" (an entry
 * of that name replaced, else one added). */
struct envb {
	const char **v;         /* the entries, borrowed or in OWN */
	size_t n, cap;
	char **own;             /* made here, to free */
	size_t nown;
};

static void
env_set(struct envb *e, const char *name, const char *value)
{
	char *s = agq_xasprintf("%s=%s", name, value);
	e->own[e->nown++] = s;
	size_t k = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, k) && e->v[i][k] == '=') {
			e->v[i] = s;
			return;
		}
	e->v[e->n++] = s;
}

static const char *
env_get(const struct envb *e, const char *name)
{
	size_t k = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, k) && e->v[i][k] == '=')
			return e->v[i] + k + 1;
	return NULL;
}

static char *
blob_add(char *p, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(p, s, n);
	return p + n;
}

/* Send the shepherd job SEQ: task T (leased, generation GEN, attempt
 * ATTEMPT, output directory OUTDIR, stdout OFD, stderr EFD; the fds are
 * the caller's to close).  0; or the exit status the task ends with
 * without having run (126), its reason written to EFD; or -1 (errno) when
 * it could not be sent: nothing started. */
static int
shep_send_start(struct runner *R, uint64_t seq, const json_t *t,
                const char *outdir, int ofd, int efd, json_int_t gen,
                int attempt)
{
	struct agq_spool *sp = R->sp;
	struct sm_start h;
	memset(&h, 0, sizeof h);
	h.type = SM_START;
	h.seq = seq;
	json_t *tv = json_object_get(t, "timeout");
	double timeout = json_is_number(tv) ? json_number_value(tv) : 0;
	h.timeout_us = timeout > 0 ? (int64_t)(timeout * 1e6) : 0;
	h.grace_us = (int64_t)(sp->conf.kill_grace_s * 1e6);

	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	json_t *tenv = json_object_get(t, "env");
	size_t more = json_object_size(tenv) + 6;
	struct envb e = { agq_xmalloc((nenv + more) * sizeof *e.v), nenv,
	    nenv + more, agq_xmalloc(more * sizeof *e.own), 0 };
	memcpy(e.v, environ, nenv * sizeof *e.v);
	const char *k;
	json_t *v;
	json_object_foreach(tenv, k, v)
		env_set(&e, k, json_string_value(v));
	char buf[64];
	env_set(&e, "AGQ_TASK_ID", agq_task_id(t));
	env_set(&e, "AGQ_SPOOL", sp->root);
	env_set(&e, "AGQ_AGENT", R->o->agent);
	snprintf(buf, sizeof buf, "%lld", (long long)gen);
	env_set(&e, "AGQ_GENERATION", buf);
	snprintf(buf, sizeof buf, "%d", attempt);
	env_set(&e, "AGQ_ATTEMPT", buf);
	env_set(&e, "AGQ_OUT", outdir);

	/* out/ID, the default, is allowed; cwd_root resolved now, the cwd
	 * checked in the task's process after its chdir */
	const char *cwd = json_string_value(json_object_get(t, "cwd"));
	const char *root = "";
	char real[PATH_MAX];
	if (cwd && sp->conf.cwd_root && strcmp(sp->conf.cwd_root, "/")) {
		if (!realpath(sp->conf.cwd_root, real)) {
			h.root_err = errno;
			root = sp->conf.cwd_root;
			h.flags |= SM_CHECK;
		} else if (strcmp(real, "/")) {
			root = real;
			h.flags |= SM_CHECK;
		}
	}
	if (!cwd)
		cwd = outdir;

	int rc = 0, in = -1, bfd = -1;
	char *blob = NULL, *prog = NULL;
	char *aargv[3] = { "agq-attempt", (char *)outdir, NULL };
	struct agq_cmd c = { NULL, NULL, 0 };
	if (agq_task_is_agent(t)) {
		/* prompt, backend or verify steps: the agent path, in its own
		 * program (libexec/agq-attempt.c), the task on its standard
		 * input */
		char *js = json_dumps(t, JSON_COMPACT);
		in = memfd_create("agq-task", MFD_CLOEXEC);
		if (!js || in < 0 || agq_write_all(in, js, strlen(js)) < 0 ||
		    lseek(in, 0, SEEK_SET) < 0) {
			if (!js)
				errno = ENOMEM;
			dprintf(efd, "agq-run: cannot pass the task to "
			    "agq-attempt: %s\n", strerror(errno));
			free(js);
			rc = 126;
			goto out;
		}
		free(js);
		/* as agq_backend_path, with the task's environment: its env
		 * may set AGQ_LIBEXEC_DIR */
		const char *ld = env_get(&e, "AGQ_LIBEXEC_DIR");
		if (ld && *ld)
			prog = agq_xasprintf("%s/agq-attempt", ld);
		else if (!(prog = agq_exe_path("../libexec/agq/agq-attempt")))
			prog = agq_xasprintf("%s/agq-attempt", agq_libexecdir);
		c = (struct agq_cmd){ .file = prog, .argv = aargv };
		h.argc = 2;
		h.flags |= SM_AGENT | SM_STDIN;
	} else {
		json_t *cmd = json_object_get(t, "cmd");
		if (!json_is_string(cmd) && json_array_size(cmd) == 0) {
			dprintf(efd, "agq-run: the task has no cmd\n");
			rc = 127;
			goto out;
		}
		if (agq_cmd_init(&c, cmd) < 0) {
			dprintf(efd, "agq-run: cannot run: %s\n",
			    strerror(errno));
			rc = 126;
			goto out;
		}
		while (c.argv[h.argc])
			h.argc++;
		if (c.search)
			h.flags |= SM_SEARCH;
	}
	h.envc = (uint32_t)e.n;
	size_t len = strlen(c.file) + strlen(cwd) + strlen(root) + 3;
	for (uint32_t i = 0; i < h.argc; i++)
		len += strlen(c.argv[i]) + 1;
	for (size_t i = 0; i < e.n; i++)
		len += strlen(e.v[i]) + 1;
	blob = agq_xmalloc(len);
	char *p = blob_add(blob, c.file);
	for (uint32_t i = 0; i < h.argc; i++)
		p = blob_add(p, c.argv[i]);
	for (size_t i = 0; i < e.n; i++)
		p = blob_add(p, e.v[i]);
	p = blob_add(p, cwd);
	blob_add(p, root);
	h.len = (uint32_t)len;
	if (len > SM_INLINE) {
		h.flags |= SM_BLOBFD;
		bfd = memfd_create("agq-start", MFD_CLOEXEC);
		if (bfd < 0 || agq_write_all(bfd, blob, len) < 0) {
			rc = -1;
			goto out;
		}
	}
	int fds[4] = { ofd, efd }, nfd = 2;
	if (in >= 0)
		fds[nfd++] = in;
	if (bfd >= 0)
		fds[nfd++] = bfd;
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov[2] = { { &h, sizeof h }, { blob, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = bfd < 0 ? 2 : 1,
	    .msg_control = cm.b,
	    .msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int)) };
	struct cmsghdr *cmh = CMSG_FIRSTHDR(&mh);
	cmh->cmsg_level = SOL_SOCKET;
	cmh->cmsg_type = SCM_RIGHTS;
	cmh->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
	memcpy(CMSG_DATA(cmh), fds, (size_t)nfd * sizeof(int));
	ssize_t n;
	do
		n = R->shep_fd < 0 ? (errno = EPIPE, -1) :
		    sendmsg(R->shep_fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = -1;
out:
	;
	int err = errno;
	if (in >= 0)
		close(in);
	if (bfd >= 0)
		close(bfd);
	if (!agq_task_is_agent(t))
		free(c.argv);
	free(prog);
	free(blob);
	for (size_t i = 0; i < e.nown; i++)
		free(e.own[i]);
	free(e.own);
	free(e.v);
	errno = err;
	return rc;
}

/* A start that failed with ERR: the lease stays as it was and is tried
 * again in a second (not in a busy loop); --once will exit with ERR's
 * status (75 for a full disk). */
static void
not_started(struct runner *R, int err)
{
	R->unrecorded = agq_exit_code(err);
	R->room_at = agq_mono_us() + 1000000;
}

static int
job_find(struct runner *R, const char *id)
{
	for (int i = 0; i < R->njobs; i++)
		if (!strcmp(R->jobs[i].id, id))
			return i;
	return -1;
}

static void finish(struct runner *R, struct job *j, const struct shep_result *res);
static void reap(struct runner *R);
static void finish_locked(struct runner *R, struct job *j,
                          const struct shep_result *res, struct agq_locked *lp,
                          json_t *startev);

static void
start(struct runner *R, const char *id)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", me);
	struct agq_locked l;
	if (agq_task_lock(sp, id, &hint, &l) < 0) {
		if (errno == EBADMSG) {
			char *p = agq_spool_path(sp, "active/%s/%s.json", me, id);
			char name[80];
			snprintf(name, sizeof name, "%s.json", id);
			agq_reject(sp, p, name, id, "leased task file is not a "
			    "JSON object");
			free(p);
		}
		return;
	}
	json_t *t = l.task;
	const char *owner = json_string_value(json_object_get(t, "agent"));
	if (l.loc.state != AGQ_ST_ACTIVE || strcmp(l.loc.agent, me))
		goto out;
	if (!owner || strcmp(owner, me)) {
		/* A lease made by a bare move (agq-spool(5), "Leases"): this
		 * agent records it, bumping the generation, in the start
		 * rewrite below.  An agent task needs the scheduler's route:
		 * without one, its assigner died mid-lease; leave it to the
		 * scheduler's reclaim. */
		if (agq_task_is_agent(t) && !json_object_get(t, "route"))
			goto out;
		json_object_set_new(t, "generation", json_integer(
		    agq_task_int(t, "generation", 0) + 1));
		json_object_set_new(t, "agent", json_string(me));
		json_object_del(t, "assigned_at");
	}
	char err[512];
	if (agq_task_validate(t, err, sizeof err) < 0) {
		char name[80];
		snprintf(name, sizeof name, "%s.json", id);
		agq_reject(sp, l.loc.path, name, id, err);
		goto out;
	}
	json_int_t gen = agq_task_int(t, "generation", 0);
	int64_t now = agq_now_us();
	json_t *att = json_object_get(t, "attempts");
	if (!json_is_array(att)) {
		att = json_array();
		json_object_set_new(t, "attempts", att);
	}
	/* A lease of ours that was started and never finished: an earlier
	 * run of this agent died (its shepherd killed the task), or this one
	 * could not record the result (a full disk); close the attempt. */
	json_t *last = agq_task_last_attempt(t);
	if (agq_task_lease_started(t)) {
		static const char interrupted[] = "interrupted: its end was "
		    "not recorded (the agent died, or the disk was full)";
		agq_task_set_time(last, "finished", now);
		json_object_set_new(last, "error", json_string(interrupted));
		agq_journal_w(sp, "finish", id, json_pack("{s:s, s:I, s:s}",
		    "agent", me, "gen", gen, "error", interrupted));
		struct agq_lc d;
		if (agq_lc_interrupted(t, me, &d)) {
			agq_lc_record(sp, &l, &d);
			goto out;
		}
	}
	int attempt = (int)json_array_size(att) + 1;
	char t1[32];
	json_array_append_new(att, json_pack("{s:s, s:s, s:I, s:s}",
	    "agent", me, "host", agq_hostname(), "generation", gen,
	    "started", agq_fmt_time(now, t1)));
	json_object_set_new(t, "reason", json_string("running"));
	/* The start record is written now, so a full disk shows before
	 * anything starts, and made durable (fsync, rename) once the task is
	 * on its way: the fsync is off the path from lease to start.  A start
	 * whose record cannot be committed is stopped and not counted. */
	struct agq_rewrite rw;
	int spare = R->spare_ok;        /* used up now, made again when idle */
	R->spare_ok = 0;
	if ((spare ? agq_task_rewrite_begin_spare(sp, &l, &rw, R->spare_tmp) :
	    agq_task_rewrite_begin(sp, &l, &rw)) < 0) {
		not_started(R, errno);
		agq_syserr("cannot record the start", l.loc.path);
		goto out;
	}
	char *outdir = agq_spool_path(sp, "out/%s", id);
	/* never through a symlink; the spare directory when there is one */
	int odfd = agq_out_open_spare(sp, id, 1, spare ? R->spare_out : NULL);
	if (odfd < 0) {
		int e = errno;
		agq_task_rewrite_abort(&rw);
		if (e == ENOSPC || e == EDQUOT) {
			/* A full disk (or no inode left): the lease stays,
			 * to start once there is room (agq-run(8)). */
			not_started(R, e);
			errno = e;
			agq_syserr("cannot create output directory", outdir);
			free(outdir);
			goto out;
		}
		/* A symlink or a file in its place, or out/ unusable: the
		 * attempt recorded above fails, and so would every other. */
		errno = e;
		char reason[600];
		snprintf(reason, sizeof reason, "cannot open output directory "
		    "%s: %s", outdir, strerror(errno));
		agq_warn("%s", reason);
		json_t *la = agq_task_last_attempt(t);
		agq_task_set_time(la, "finished", agq_now_us());
		json_object_set_new(la, "error", json_string(reason));
		struct agq_lc d;
		agq_lc_no_outdir(t, me, reason, &d);
		if (agq_lc_record(sp, &l, &d) < 0)
			agq_syserr("cannot move to dead/", l.loc.path);
		free(outdir);
		goto out;
	}
	int ofd = open_out(odfd, outdir, "stdout");
	int efd = open_out(odfd, outdir, "stderr");
	close(odfd);
	if (ofd < 0 || efd < 0) {
		not_started(R, errno);
		if (ofd >= 0) close(ofd);
		if (efd >= 0) close(efd);
		agq_task_rewrite_abort(&rw);
		free(outdir);
		goto out;
	}
	uint64_t seq = ++R->seq;
	int fail = shep_send_start(R, seq, t, outdir, ofd, efd, gen, attempt);
	close(ofd);
	close(efd);
	free(outdir);
	if (fail < 0) {
		agq_syserr("cannot pass the task to the shepherd", NULL);
		agq_task_rewrite_abort(&rw);
		goto out;
	}
	struct job *j = &R->jobs[R->njobs++];
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	j->gen = gen;
	j->seq = seq;
	j->started_us = now;
	if (fail) {             /* it ends without having run */
		j->exited = 1;
		j->res.status = fail << 8;
	}
	/* committed by commit_starts, after the results of this turn; the
	 * task stays locked until then */
	j->pending = 1;
	j->l = l;
	j->rw = rw;
	j->attempt = attempt;
	return;
out:
	agq_task_unlock(&l);
}

/* The start records of the tasks started this turn, committed once the
 * results of the turn are recorded (record_ended), so that a task that
 * has ended by then gets its final record alone: its start record is
 * never committed (one rewrite, fsync and file fewer; bench/README.md).
 * A crash before that final record is durable leaves the lease as it
 * was, the attempt not counted, as a crash before a start record's
 * commit does.  A start record that cannot be committed stops its task,
 * not counted (agq-run(8), "A full disk"). */
static void
commit_starts(struct runner *R)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	int any = 0;
	for (int i = 0; i < R->njobs; i++)
		any |= R->jobs[i].pending;
	if (!any)
		return;
	reap(R);
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (!j->pending)
			continue;
		j->pending = 0;
		json_t *sev = json_pack("{s:s, s:I, s:i}", "agent", me, "gen",
		    j->gen, "attempt", j->attempt);
		if (j->exited) {
			/* the spare stays for the next start (make_spare) */
			if (R->spare_tmp && !strcmp(j->rw.tmp, R->spare_tmp))
				close(j->rw.fd);
			else
				agq_task_rewrite_abort(&j->rw);
			finish_locked(R, j, &j->res, &j->l, sev);
			R->jobs[i--] = R->jobs[--R->njobs];
			continue;
		}
		if (agq_task_rewrite_commit(sp, &j->l, &j->rw) < 0) {
			not_started(R, errno);
			agq_syserr("cannot record the start", j->l.loc.path);
			shep_stop(R, j);        /* the shepherd ends the task */
			j->unrecorded = 1;
			json_decref(sev);
		} else {
			agq_journal_w(sp, "start", j->id, sev);
		}
		agq_task_unlock(&j->l);
	}
}

/* ---- finishing a task --------------------------------------------------- */

/* out/ID/result.json from RES.  0, or -1 (reported) with errno. */
static int
write_result(struct runner *R, const char *id, json_t *res)
{
	char *p = agq_spool_path(R->sp, "out/%s/result.json", id);
	char *s = json_dumps(res, JSON_INDENT(2));
	int rc = -1;
	if (!s) {
		errno = ENOMEM;
	} else {
		char *buf = agq_xasprintf("%s\n", s);
		rc = agq_out_write(R->sp, id, "result.json", buf, strlen(buf));
		if (rc < 0)
			agq_syserr("cannot write result", p);
		free(buf);
		free(s);
	}
	free(p);
	return rc;
}

static void
finish(struct runner *R, struct job *j, const struct shep_result *res)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	const char *id = j->id;
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", me);
	struct agq_locked l;
	int st = res->status;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;

	const char *stale = NULL;
	if (agq_task_lock(sp, id, &hint, &l) < 0)
		stale = "the task is gone";
	else if (l.loc.state != AGQ_ST_ACTIVE || strcmp(l.loc.agent, me))
		stale = "the task is no longer leased to this agent";
	else if (agq_task_int(l.task, "generation", 0) != j->gen)
		stale = "the generation changed (the lease was reclaimed)";
	if (stale) {
		agq_journal_w(sp, "stale", id, json_pack("{s:s, s:I, s:s, s:i}",
		    "agent", me, "gen", j->gen, "reason", stale,
		    "exit", code));
		if (l.task)
			agq_task_unlock(&l);
		return;
	}
	finish_locked(R, j, res, &l, NULL);
}

/* out/ID/agent.json, the status an agent task's attempt leaves
 * (attempt.c), or NULL.  Through the checked handle: a task that swapped
 * out/ID for a symbolic link cannot hand in a status of its own making. */
static json_t *
agent_report(struct agq_spool *sp, const char *id)
{
	int dfd = agq_out_open(sp, id, 0);
	int afd = dfd < 0 ? -1 : openat(dfd, "agent.json", O_RDONLY |
	    O_NOFOLLOW | O_CLOEXEC);
	json_t *ag = afd < 0 ? NULL : json_loadfd(afd, 0, NULL);
	if (afd >= 0)
		close(afd);
	if (dfd >= 0)
		close(dfd);
	if (!json_is_object(ag)) {
		json_decref(ag);
		ag = NULL;
	}
	return ag;
}

/* What the agent reports of its backend, copied to the attempt and the
 * finish event. */
static const char *const agkeys[] = { "backend", "model", "endpoint",
    "tokens_in", "tokens_out", "cost_usd", NULL };

/* Copy AG's KEYS (NULL-terminated) that it has into DST. */
static void
copy_keys(json_t *dst, const json_t *ag, const char *const *keys)
{
	for (int k = 0; ag && keys[k]; k++)
		if (json_object_get(ag, keys[k]))
			json_object_set(dst, keys[k], json_object_get(ag,
			    keys[k]));
}

/* Close the attempt LAST (may be NULL) with outcome O, at NOW after DUR
 * ms. */
static void
close_attempt(json_t *last, const struct agq_lc_outcome *o,
              int64_t now, json_int_t dur)
{
	if (!last)
		return;
	copy_keys(last, o->ag, agkeys);
	if (o->ag)
		json_object_set_new(last, "iterations", json_integer(
		    (json_int_t)json_array_size(json_object_get(o->ag,
		    "iterations"))));
	agq_task_set_time(last, "finished", now);
	json_object_set_new(last, "duration_ms", json_integer(dur));
	if (o->exited)
		json_object_set_new(last, "exit", json_integer(o->code));
	if (o->sig)
		json_object_set_new(last, "signal", json_integer(o->sig));
	if (o->timed_out)
		json_object_set_new(last, "timed_out", json_true());
	if (o->handback)
		json_object_set_new(last, "handed_back", json_true());
}

/* result.json's content for job J's outcome O (decided: D), at NOW after
 * DUR ms; the task T has its attempt closed. */
static json_t *
result_doc(const struct job *j, const json_t *t,
           const struct agq_lc_outcome *o, const struct agq_lc *d,
           int64_t now, json_int_t dur)
{
	char t1[32], t3[32];
	json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:i, s:I, s:s, s:s, s:s}",
	    "id", j->id, "status", d->status, "agent", o->agent, "generation",
	    j->gen, "attempt", (int)json_array_size(json_object_get(t,
	    "attempts")), "duration_ms", dur,
	    "started", agq_fmt_time(j->started_us, t1),
	    "finished", agq_fmt_time(now, t3), "reason", d->reason);
	if (o->exited)
		json_object_set_new(r, "exit", json_integer(o->code));
	if (o->sig)
		json_object_set_new(r, "signal", json_integer(o->sig));
	json_object_set_new(r, "timed_out", json_boolean(o->timed_out));
	if (o->ag) {
		static const char *const more[] = { "backend", "model",
		    "endpoint", "tokens_in", "tokens_out", "cost_usd", "error",
		    "verify", "iterations", NULL };
		const char *agst = json_string_value(json_object_get(o->ag,
		    "status"));
		copy_keys(r, o->ag, more);
		json_object_set_new(r, "agent_status", json_string(agst ? agst :
		    "unknown"));
	}
	return r;
}

/* Record the result RES of job J, its task locked in LP (ours, its
 * generation J's): the attempt, the outcome's move (agq_lc_finish
 * decides it), result.json and the journal (STARTEV, when not NULL,
 * first: the start of a task whose start record was never committed,
 * commit_starts).  Unlocks LP. */
static void
finish_locked(struct runner *R, struct job *j, const struct shep_result *res,
              struct agq_locked *lp, json_t *startev)
{
	struct agq_spool *sp = R->sp;
	const char *id = j->id;
	int64_t now = agq_now_us();
	json_int_t dur = (now - j->started_us) / 1000;
	int st = res->status;
	json_t *t = lp->task;
	struct agq_lc_outcome o = { .agent = R->o->agent, .gen = j->gen,
	    .exited = WIFEXITED(st), .code = WIFEXITED(st) ?
	    WEXITSTATUS(st) : -1, .sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	    .timed_out = res->timed_out, .handback = j->handback,
	    .ag = agq_task_is_agent(t) && !j->handback ? agent_report(sp, id) :
	    NULL, .random = agq_random };
	close_attempt(agq_task_last_attempt(t), &o, now, dur);
	json_t *fev = json_pack("{s:s, s:I, s:i, s:i, s:b, s:I}", "agent",
	    o.agent, "gen", j->gen, "exit", o.code, "signal", o.sig,
	    "timed_out", o.timed_out, "duration_ms", dur);
	copy_keys(fev, o.ag, agkeys);
	/* finish and the outcome: one append, after the change (below) */
	struct agq_jbatch jb = { NULL };
	if (startev)
		agq_jbatch_add(&jb, "start", id, startev);
	agq_jbatch_add(&jb, "finish", id, fev);

	struct agq_lc d;
	agq_lc_finish(t, &o, now, sp->conf.backoff_cap_s, &d);
	agq_lc_apply(t, &d);
	json_t *r = result_doc(j, t, &o, &d, now, dur);
	/* result.json first, then the move: whoever sees the task in its
	 * new state (agq-wait) finds the result beside it. */
	int wr = write_result(R, id, r) < 0 && (errno == ENOSPC ||
	    errno == EDQUOT) ? -1 : 0;  /* a full disk: not recorded */
	if (wr == 0 && agq_task_transition(sp, lp, d.to, d.lane, NULL,
	    d.reason) == 0) {
		agq_jbatch_add(&jb, d.event, id, d.ev);
	} else {
		/* The task stays leased here with its start record (a failed
		 * agq_task_transition changes nothing): the next scan runs it
		 * again, at least once (agq-run(8), "A full disk"); the
		 * result.json of a result not recorded goes. */
		int e = errno;
		R->unrecorded = agq_exit_code(e);
		int dfd = agq_out_open(sp, id, 0);
		if (dfd >= 0) {
			(void)unlinkat(dfd, "result.json", 0);
			close(dfd);
		}
		errno = e;
		agq_syserr("cannot record the result", lp->loc.path);
		json_decref(d.ev);
	}
	agq_jbatch_w(sp, &jb);
	json_decref((json_t *)o.ag);
	json_decref(r);
	agq_task_unlock(lp);
}

/* The jobs whose task ended, from the shepherd's EXIT messages: marked
 * exited with their result, recorded after the next starts
 * (record_ended).  EOF: the shepherd died (shep_lost). */
static void
reap(struct runner *R)
{
	if (R->shep_fd < 0)
		return;
	for (;;) {
		struct sm_exit m;
		ssize_t n = recv(R->shep_fd, &m, sizeof m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n != (ssize_t)sizeof m || m.type != SM_EXIT)
			break;
		for (int i = 0; i < R->njobs; i++) {
			struct job *j = &R->jobs[i];
			if (j->seq == m.seq && !j->exited) {
				j->exited = 1;
				j->res = m.r;
				break;
			}
		}
	}
	shep_lost(R);
}

/* ---- the loop ----------------------------------------------------------- */

struct lease_scan { struct runner *R; int collect; };

static int
lease_each(const char *name, void *arg)
{
	struct lease_scan *ls = arg;
	struct runner *R = ls->R;
	size_t n = strlen(name);
	if (n <= 5 || n - 5 > 64 || strcmp(name + n - 5, ".json"))
		return 0;
	char id[65];
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (!agq_id_valid(id) || job_find(R, id) >= 0)
		return 0;
	if (ls->collect) {
		json_array_append_new(R->once_ids, json_string(id));
		return 0;
	}
	size_t once_at = 0;
	if (R->once_ids) {
		size_t i;
		json_t *v;
		int found = 0;
		json_array_foreach(R->once_ids, i, v)
			if (!strcmp(json_string_value(v), id)) {
				found = 1;
				once_at = i;
			}
		if (!found)
			return 0;
	}
	if (R->draining) {
		/* Hand back a lease we will not start. */
		struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
		snprintf(hint.agent, sizeof hint.agent, "%s", R->o->agent);
		struct agq_locked l;
		if (agq_task_lock(R->sp, id, &hint, &l) < 0)
			return 0;
		if (l.loc.state == AGQ_ST_ACTIVE &&
		    !strcmp(l.loc.agent, R->o->agent)) {
			struct agq_lc d;
			agq_lc_handback_unstarted(l.task, R->o->agent, &d);
			agq_lc_record(R->sp, &l, &d);
		}
		agq_task_unlock(&l);
		return 0;
	}
	int running = 0;
	for (int k = 0; k < R->njobs; k++)
		running += !R->jobs[k].exited;
	if (running >= R->o->slots || agq_mono_us() < R->room_at ||
	    R->shep_fd < 0)
		return 1;
	start(R, id);
	if (R->once_ids)
		json_array_remove(R->once_ids, once_at);
	return 0;
}

static void
scan_leases(struct runner *R, int collect)
{
	struct lease_scan ls = { R, collect };
	char *d = agq_spool_path(R->sp, "active/%s", R->o->agent);
	if (agq_dir_each(d, lease_each, &ls) < 0 && errno != ENOENT)
		agq_syserr("cannot read directory", d);
	free(d);
}

/* Spares for the next start, made while idle: the file for its start
 * record and its output directory with stdout and stderr, so that the
 * start itself creates no file (a creation can cost far more than a
 * rename: on an ext4 without a journal, ~0.3 ms; bench/README.md).  Best
 * effort: without them a start creates its files. */
static void
make_spare(struct runner *R)
{
	if (R->spare_ok || !R->spare_tmp || R->draining)
		return;
	int fd = open(R->spare_tmp, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	close(fd);
	if (agq_out_spare(R->sp, R->spare_out) == 0)
		R->spare_ok = 1;
}

/* Stop the jobs whose task was moved away (cancelled or reclaimed). */
static void
check_gone(struct runner *R)
{
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (j->stop_sent)
			continue;
		char *p = agq_spool_path(R->sp, "active/%s/%s.json", R->o->agent,
		    j->id);
		struct stat st;
		if (lstat(p, &st) < 0 && errno == ENOENT)
			shep_stop(R, j);
		free(p);
	}
}

/* Record the result of every task that ended (reap), and forget it. */
static void
record_ended(struct runner *R)
{
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (!j->exited || j->pending)
			continue;
		if (!j->unrecorded)
			finish(R, j, &j->res);
		R->jobs[i--] = R->jobs[--R->njobs];
	}
}

int
agq_runner(struct agq_spool *sp, const struct agq_run_opts *o)
{
	struct runner R;
	memset(&R, 0, sizeof R);
	R.sp = sp;
	R.o = o;
	R.started_us = agq_now_us();
	if (!o->once) {         /* --once starts what it finds, then exits */
		R.spare_tmp = agq_spool_path(sp, "tmp/.spare-%s", o->agent);
		snprintf(R.spare_out, sizeof R.spare_out, ".spare-%s",
		    o->agent);
	}
	/* the running, and as many ended whose result is being recorded */
	R.jobs = calloc((size_t)o->slots * 2, sizeof *R.jobs);
	if (!R.jobs)
		agq_die(EX_OSERR, "out of memory");

	char lockname[80];
	snprintf(lockname, sizeof lockname, "agent-%s", o->agent);
	/* A predecessor killed a moment ago may not have exited yet: wait
	 * for its lock a little before calling the name taken. */
	int lock = -1;
	for (int i = 0; i < 20; i++) {
		lock = agq_spool_flock(sp, lockname, 0);
		if (lock >= 0 || errno != EWOULDBLOCK)
			break;
		usleep(100000);
	}
	R.lockfd = lock;
	if (lock < 0) {
		if (errno == EWOULDBLOCK)
			agq_warn("agent %s is already running on this spool "
			    "(%s/.%s.lock)", o->agent, sp->root, lockname);
		else
			agq_syserr("cannot lock", sp->root);
		free(R.jobs);
		return EX_TEMPFAIL;
	}
	char *adir = agq_spool_path(sp, "active/%s", o->agent);
	if (agq_mkdir_mode(adir, 0700) < 0 && errno != EEXIST) {
		agq_syserr("cannot create directory", adir);
		free(adir);
		free(R.jobs);
		close(lock);
		return agq_exit_code(errno);
	}
	/* the shepherd, forked while the runner is small; it closes all the
	 * runner's descriptors (the lock above all) */
	R.shep = -1;
	R.shep_fd = -1;
	if (shep_spawn(&R) < 0) {
		free(adir);
		free(R.jobs);
		close(lock);
		return EX_OSERR;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!inotifytools_initialize() ||
	    !inotifytools_watch_file(adir, IN_MOVED_TO | IN_CREATE |
	    IN_MOVED_FROM | IN_DELETE)) {
		errno = inotifytools_error();
		agq_syserr("cannot watch directory", adir);
		free(adir);
		free(R.jobs);
		shep_end(&R);
		close(lock);
		return EX_OSERR;
	}
	free(adir);

	json_t *prev = agq_agent_read(sp, o->agent);
	const char *pst = prev ? json_string_value(json_object_get(prev,
	    "state")) : NULL;
	int was_alive = prev && agq_agent_alive(prev, agq_now_us(),
	    sp->conf.lease_s);
	int was_offline = pst && !strcmp(pst, "offline");
	json_decref(prev);      /* pst is borrowed from prev: not used below */
	heartbeat(&R, NULL);
	if (!o->once || !was_alive || was_offline)
		agq_journal_w(sp, "agent_up", NULL, json_pack("{s:s, s:O, s:i, "
		    "s:s}", "agent", o->agent, "capabilities", o->caps, "slots",
		    o->slots, "mode", o->once ? "once" : "daemon"));
	if (o->once) {
		R.once_ids = json_array();
		scan_leases(&R, 1);
	}
	int64_t last_hb = agq_mono_us();
	int stop_requested = 0;
	for (;;) {
		got_chld = 0;
		reap(&R);
		if (R.shep_fd < 0 && !R.draining && agq_mono_us() >= R.shep_at)
			(void)shep_spawn(&R);
		if (got_term && !R.draining) {
			R.draining = 1;
			heartbeat(&R, NULL);
		}
		if (got_term > 1 && !stop_requested) {
			stop_requested = 1;
			for (int i = 0; i < R.njobs; i++) {
				R.jobs[i].handback = 1;
				shep_stop(&R, &R.jobs[i]);
			}
		}
		/* a slot freed by a task that ended goes to the next lease
		 * (prefetched: already here) before the result is recorded,
		 * so the record's fsyncs overlap the next task */
		scan_leases(&R, 0);
		record_ended(&R);
		commit_starts(&R);
		check_gone(&R);
		int64_t mono = agq_mono_us();
		if (mono - last_hb >= (int64_t)(o->heartbeat_s * 1e6)) {
			heartbeat(&R, NULL);
			last_hb = mono;
		}
		if (R.njobs == 0) {
			if (R.draining)
				break;
			/* --once: done when every lease from the start has
			 * been run (or could not be) */
			if (o->once && json_array_size(R.once_ids) == 0)
				break;
		}
		if (got_chld)
			continue;
		make_spare(&R);
		/* One event (or a signal, or a second) per turn: in this
		 * libinotifytools a timeout of 0 blocks, so there is no
		 * non-blocking drain; each wake-up rescans active/NAME/. */
		(void)inotifytools_next_event(1);
	}
	if (o->once) {
		heartbeat(&R, "idle");
	} else {
		heartbeat(&R, "down");
		agq_journal_w(sp, "agent_down", NULL, json_pack("{s:s, s:s}",
		    "agent", o->agent, "reason", got_term ? "stopped by signal" :
		    "stopped"));
	}
	if (R.spare_tmp) {
		(void)unlink(R.spare_tmp);
		agq_out_spare_remove(sp, R.spare_out);
		free(R.spare_tmp);
	}
	inotifytools_cleanup();
	shep_end(&R);
	json_decref(R.once_ids);
	free(R.jobs);
	close(lock);
	return o->once ? R.unrecorded : 0;
}
