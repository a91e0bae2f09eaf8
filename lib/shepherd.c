/*
 * shepherd.c - the shepherd of agq-run(8), and the runner's side of its
 * protocol (shepherd.h).
 *
 * The shepherd is one forked copy of the runner per agent, made at start-up
 * (and again should it die).  It starts each task in a process group of its
 * own, enforces its timeout (SIGTERM, then SIGKILL after kill_grace) and
 * the runner's STOP, and reports its wait status.  It has PR_SET_PDEATHSIG
 * set, so when the runner dies (even by SIGKILL) it kills every task's
 * process group: a task that the scheduler reclaims is never still running
 * somewhere.  The task itself has PR_SET_PDEATHSIG too, for the case of a
 * killed shepherd.  The task's process starts with vfork(2) and sets up its
 * own working directory; its environment is made by the runner: no process
 * to make, fault in and tear down per task but the task's own.
 *
 * The protocol.  The runner and its shepherd talk over a socketpair(2) of
 * type SOCK_SEQPACKET, one message each:
 *
 *   START  runner -> shepherd: start job SEQ.  With SCM_RIGHTS, the task's
 *          stdout and stderr, then its stdin when SM_STDIN (else
 *          /dev/null), then a memfd holding the blob when SM_BLOBFD (a
 *          blob of over SM_INLINE bytes; else the blob follows the header
 *          in the message).  The blob is NUL-terminated strings: the
 *          program, ARGC arguments, ENVC "NAME=value" entries (the task's
 *          whole environment), the cwd, and cwd_root resolved (or as
 *          configured when it could not be: ROOT_ERR) or ""; with SM_USER
 *          then NGROUPS gid_t (the supplementary groups of UID, GID: a
 *          root agent's task of another user, agq-run(8) SECURITY).  A
 *          START the shepherd cannot act on gets an EXIT with status 126
 *          at once.
 *   STOP   runner -> shepherd: stop job SEQ (SIGTERM to its process group,
 *          SIGKILL after its grace), STOPPED in its EXIT.
 *   EXIT   shepherd -> runner: job SEQ ended (and what was left of its
 *          group has been killed), followed by a SIGCHLD to the runner
 *          to wake it from its inotify read.
 *   EOF    either way: the other side is gone.  The shepherd kills every
 *          task's process group and exits; the runner ends every running
 *          job as killed, and starts a new shepherd (agq_shep_lost).
 *
 * The shepherd never changes its own environment or directory: the task's
 * process (a vfork(2) child: no CLONE_FS) does its chdir, cwd check, PATH
 * search and execve(2) with system calls and its own stack only.
 *
 * Relies on util.c (agq_mono_us, agq_fd_above_stdio, agq_write_all,
 * agq_xmalloc, messages) and runas.c (agq_runas_become, the credential
 * change) and nothing else of libagq: the shepherd touches no spool.
 * The runner is runner.c.
 */

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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "runas.h"
#include "shepherd.h"

extern char **environ;

/* ---- the protocol -------------------------------------------------------- */

enum { SM_START = 1, SM_STOP, SM_EXIT };
#define SM_AGENT        AGQ_SHEP_AGENT  /* agq-attempt, for an agent task */
#define SM_SEARCH       AGQ_SHEP_SEARCH /* look the program up in the env's
                                         * PATH */
#define SM_CHECK        AGQ_SHEP_CHECK  /* the cwd must be at or below
                                         * cwd_root */
#define SM_USER         AGQ_SHEP_USER   /* run as UID, GID, the groups */
#define SM_OWNCWD       AGQ_SHEP_OWNCWD /* enter the cwd before that */
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
	uint32_t uid, gid;      /* SM_USER: whom it runs as */
	uint32_t ngroups;       /* gid_t at the end of the blob */
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
	uid_t uid;              /* SM_USER: its credentials */
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	int in, out, err;       /* its stdin, stdout and stderr, all fds above
	                         * 2 (so no dup2 overwrites another) */
	int ep;                 /* CLOEXEC pipe, write end: why it failed */
};

/* Why the task's process could not run, on X->ep (the shepherd writes the
 * message to the task's stderr). */
enum { CE_CHDIR = 1, CE_GETCWD, CE_ROOT, CE_ESCAPE, CE_EXEC, CE_USER };
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

/* X's working directory entered (the child's): chdir(2), then for
 * SM_CHECK the cwd checked against cwd_root (getcwd(2) after the chdir,
 * symbolic links resolved, at or below it; the rule of agq_cwd_check).
 * _exits 126 when it cannot be. */
static void
task_enter(const struct task_exec *x)
{
	if (chdir(x->cwd) < 0) {
		child_report(x, CE_CHDIR, errno, NULL);
		_exit(126);
	}
	if (!(x->flags & SM_CHECK))
		return;
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

/* SM_USER: the child becomes X's user for good (agq_runas_become: its
 * groups, group and user, with the raw system calls), then
 * PR_SET_PDEATHSIG, which a change of credentials clears (prctl(2)), is
 * set again.  _exits 126 when it cannot be. */
static void
task_become(const struct task_exec *x)
{
	if (agq_runas_become(x->uid, x->gid, x->groups, x->ngroups) < 0) {
		child_report(x, CE_USER, errno, NULL);
		_exit(126);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The task's process, a vfork(2) child of the shepherd: its own process
 * group, SIGKILL when the shepherd dies, every signal at its default and
 * none blocked, stdio, its user (SM_USER) and its directory (in that
 * order, but for SM_OWNCWD: the directory first), exec.  System calls
 * only, on its own stack: the shepherd's memory is shared until the
 * exec. */
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
	int first = !(x->flags & SM_USER) || (x->flags & SM_OWNCWD);
	if (first)
		task_enter(x);
	if (x->flags & SM_USER)
		task_become(x);
	if (!first)
		task_enter(x);
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


/* ---- the shepherd process ------------------------------------------------ */

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

/* The strings of START H's blob B into V (H->argc + H->envc + 5 slots)
 * and X: the program, argv and envp (each NULL-terminated), cwd, root;
 * and for SM_USER the groups into G (H->ngroups slots).  0, or -1 when
 * the blob is short of a string or of the groups. */
static int
shep_unpack(const struct sm_start *h, const char *b, char **v, gid_t *g,
            struct task_exec *x)
{
	size_t glen = (size_t)h->ngroups * sizeof *g;
	if (glen > h->len)
		return -1;
	const char *p = b, *end = b + h->len - glen;
	if (glen)
		memcpy(g, end, glen);
	x->groups = g;
	x->ngroups = h->ngroups;
	x->uid = (uid_t)h->uid;
	x->gid = (gid_t)h->gid;
	size_t nstr = h->argc + h->envc + 3;
	for (size_t i = 0, k = 0; i < nstr; i++, k++) {
		const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) :
		    NULL;
		if (!z)
			return -1;
		if (i == h->argc + 1)
			v[k++] = NULL;          /* ends argv */
		if (i == h->argc + h->envc + 1)
			v[k++] = NULL;          /* ends envp */
		v[k] = (char *)p;
		p = z + 1;
	}
	x->file = v[0];
	x->argv = v + 1;
	x->envp = v + h->argc + 2;
	x->cwd = v[h->argc + h->envc + 3];
	x->root = v[h->argc + h->envc + 4];
	x->flags = h->flags;
	x->root_err = h->root_err;
	return 0;
}

/* Why X's process could not run, if it says so on EP (the read end of its
 * CLOEXEC pipe: nothing to read when it exec'd): into WHY (SIZE bytes;
 * "" when it ran) and, after "agq-run: ", to EFD, the task's stderr. */
static void
child_explain(int ep, int efd, const struct task_exec *x, char *why,
              size_t size)
{
	struct child_err ce;
	char line[2 * PATH_MAX + 100];
	ssize_t n = read(ep, &ce, sizeof ce);
	why[0] = '\0';
	if (n <= (ssize_t)offsetof(struct child_err, cwd))
		return;
	ce.cwd[sizeof ce.cwd - 1] = '\0';
	switch (ce.what) {
	case CE_CHDIR:
		snprintf(line, sizeof line, "cannot change directory: %s (%s)",
		    strerror(ce.err), x->cwd);
		break;
	case CE_GETCWD:
		snprintf(line, sizeof line, "cannot get the working "
		    "directory: %s", strerror(ce.err));
		break;
	case CE_ROOT:
		snprintf(line, sizeof line, "cannot resolve cwd_root: %s (%s)",
		    strerror(ce.err), x->root);
		break;
	case CE_ESCAPE:
		snprintf(line, sizeof line, "cwd %s escapes cwd_root %s",
		    ce.cwd, x->root);
		break;
	case CE_USER:
		snprintf(line, sizeof line, "cannot run as uid %u gid %u: %s",
		    (unsigned)x->uid, (unsigned)x->gid, strerror(ce.err));
		break;
	default:
		snprintf(line, sizeof line, "cannot run%s: %s (%s)", x->flags &
		    SM_AGENT ? " agq-attempt" : "", strerror(ce.err), x->file);
	}
	dprintf(efd, "agq-run: %s\n", line);
	agq_errf(why, size, "%s", line);        /* cut before a character */
}

/* Job SEQ, task PID, watched from now on (its timeout TIMEOUT_US, 0: none,
 * then GRACE_US to its SIGKILL).  0; or -1 when there is no memory to
 * watch it: it has been killed and reaped, its status in *ST. */
static int
shep_track(struct shep *S, uint64_t seq, pid_t pid, int64_t timeout_us,
           int64_t grace_us, int *st)
{
	if (S->n == S->cap) {
		size_t cap = S->cap ? S->cap * 2 : 8;
		struct stask *t = realloc(S->t, cap * sizeof *t);
		if (!t) {
			/* cannot watch it: it ends now */
			kill(-pid, SIGKILL);
			while (waitpid(pid, st, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		S->t = t;
		S->cap = cap;
	}
	int64_t now = agq_mono_us();
	S->t[S->n++] = (struct stask){ .seq = seq, .pid = pid,
	    .deadline = timeout_us > 0 ? now + timeout_us : 0,
	    .grace = grace_us };
	return 0;
}

/* Start job H, its blob B, the fds FD[NFD] (closed here).  A task that
 * cannot start ends at once, its reason in its stderr. */
static void
shep_start(struct shep *S, const struct sm_start *h, const char *b,
           int *fd, int nfd)
{
	struct shep_result r = { 0, 0, 0, "" };
	int need = 2 + !!(h->flags & SM_STDIN) + !!(h->flags & SM_BLOBFD);
	char *big = NULL;
	char **v = NULL;
	gid_t *g = NULL;
	struct task_exec x;
	memset(&x, 0, sizeof x);
	x.ep = -1;
	r.status = 126 << 8;    /* until it runs */
	if (nfd < need)
		goto done;
	int efd = fd[1];
	if (h->flags & SM_BLOBFD) {
		big = malloc(h->len ? h->len : 1);
		if (!big || pread(fd[need - 1], big, h->len, 0) !=
		    (ssize_t)h->len) {
			dprintf(efd, "agq-run: cannot start the task: %s\n",
			    strerror(big ? errno : ENOMEM));
			goto done;
		}
		b = big;
	}
	/* the strings: the program, argv, envp, cwd, root */
	v = malloc((h->argc + h->envc + 5) * sizeof *v);
	g = malloc((h->ngroups + 1) * sizeof *g);
	if (!v || !g) {
		dprintf(efd, "agq-run: cannot start the task: %s\n",
		    strerror(ENOMEM));
		goto done;
	}
	if (shep_unpack(h, b, v, g, &x) < 0) {
		dprintf(efd, "agq-run: cannot start the task: a bad message "
		    "from the runner\n");
		goto done;
	}
	x.out = agq_fd_above_stdio(fd[0]);
	x.err = agq_fd_above_stdio(fd[1]);
	x.in = agq_fd_above_stdio(h->flags & SM_STDIN ? fd[2] : S->null);
	int ep[2];
	if (x.in < 0 || x.out < 0 || x.err < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		dprintf(efd, "agq-run: cannot start the task: %s\n",
		    strerror(errno));
		goto done;
	}
	x.ep = ep[1];
	pid_t pid = task_spawn(&x);
	int e = errno;
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		dprintf(efd, "agq-run: cannot fork: %s\n", strerror(e));
		goto done;
	}
	child_explain(ep[0], efd, &x, r.why, sizeof r.why);
	close(ep[0]);
	if (shep_track(S, h->seq, pid, h->timeout_us, h->grace_us,
	    &r.status) == 0) {
		memcpy(S->t[S->n - 1].r.why, r.why, sizeof r.why);
		r.status = -1;  /* running: its EXIT comes from shep_reap */
	}
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
	free(g);
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

/* The descriptors of message MH (SCM_RIGHTS), the first 4 into FD (the
 * rest closed).  Returns how many are in FD. */
static int
shep_fds(struct msghdr *mh, int fd[4])
{
	int nfd = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
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
	return nfd;
}

/* STOP: job SEQ's process group gets SIGTERM, and SIGKILL after its
 * grace (shepherd). */
static void
shep_stop(struct shep *S, uint64_t seq)
{
	for (size_t i = 0; i < S->n; i++) {
		struct stask *t = &S->t[i];
		if (t->seq != seq || t->r.stopped)
			continue;
		t->r.stopped = 1;
		kill(-t->pid, SIGTERM);
		t->kill_at = agq_mono_us() + t->grace;
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
		int fd[4] = { -1, -1, -1, -1 };
		int nfd = shep_fds(&mh, fd);
		if (m.h.type == SM_START && n >= (ssize_t)sizeof m.h &&
		    ((m.h.flags & SM_BLOBFD) || m.h.len == (size_t)n -
		    sizeof m.h)) {
			shep_start(S, &m.h, m.b + sizeof m.h, fd, nfd);
			continue;
		}
		for (int i = 0; i < nfd; i++)
			close(fd[i]);
		if (n < (ssize_t)sizeof(struct sm_stop))
			continue;
		if (m.h.type == SM_STOP && n == (ssize_t)sizeof(struct sm_stop)) {
			struct sm_stop s;
			memcpy(&s, m.b, sizeof s);
			shep_stop(S, s.seq);
		} else if (m.h.type == SM_START) {
			struct shep_result r = { 126 << 8, 0, 0, "" };
			shep_exit_msg(S, m.h.seq, &r);
		}
	}
}

/* The shepherd's set-up in the fork of the runner RUNNER, SOCK its end of
 * the socketpair: SIGCHLD and SIGHUP blocked (read from the signalfd it
 * returns), SIGTERM, SIGINT (a ^C to the agent's process group: the
 * runner's to act on) and SIGPIPE ignored, SIGHUP when the runner dies,
 * and every descriptor of the runner's closed but SOCK, moved above 2 into
 * S->sock: above all the agent lock, so a restarted agent can take it
 * while an orphaned shepherd is still cleaning up.  Exits on failure. */
static int
shep_setup(struct shep *S, int sock, pid_t runner)
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
	*S = (struct shep){ .sock = s, .runner = runner };
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	S->null = agq_fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (sfd < 0 || S->null < 0) {
		dprintf(2, "agq-run: cannot start the shepherd: %s\n",
		    strerror(errno));
		_exit(1);
	}
	return sfd;
}

/* The next deadline of S's tasks (a timeout or a SIGKILL; monotonic), or
 * 0: none. */
static int64_t
shep_until(const struct shep *S)
{
	int64_t until = 0;
	for (size_t i = 0; i < S->n; i++) {
		const struct stask *t = &S->t[i];
		if (t->deadline && !t->r.timed_out &&
		    (!until || t->deadline < until))
			until = t->deadline;
		if (t->kill_at && (!until || t->kill_at < until))
			until = t->kill_at;
	}
	return until;
}

/* The deadlines passed by NOW (monotonic): a timeout's SIGTERM to the
 * task's group, then its SIGKILL after its grace. */
static void
shep_timers(struct shep *S, int64_t now)
{
	for (size_t i = 0; i < S->n; i++) {
		struct stask *t = &S->t[i];
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

/* The shepherd: runs in a fork of the runner RUNNER, started once (and
 * again should it die), and never returns.  SOCK is its end of the
 * socketpair (shep_setup).  It starts each task, enforces its timeout
 * (SIGTERM, then SIGKILL after its grace) and a STOP, reports its end, and
 * kills every task's process group when the runner dies (PR_SET_PDEATHSIG:
 * SIGHUP) or closes the socket. */
static _Noreturn void
shepherd(int sock, pid_t runner)
{
	struct shep S;
	int sfd = shep_setup(&S, sock, runner);
	for (;;) {
		int64_t now = agq_mono_us(), until = shep_until(&S);
		struct timespec ts, *tsp = NULL;
		if (until) {
			int64_t d = until > now ? until - now : 0;
			ts.tv_sec = d / 1000000;
			ts.tv_nsec = (d % 1000000) * 1000;
			tsp = &ts;
		}
		struct pollfd pf[2] = { { sfd, POLLIN, 0 },
		    { S.sock, POLLIN, 0 } };
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
		shep_timers(&S, agq_mono_us());
	}
}

/* ---- the runner's side --------------------------------------------------- */

int
agq_shep_spawn(struct agq_shep *h)
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
	h->pid = pid;
	h->fd = sv[0];
	h->respawn_at = agq_mono_us() + 1000000;
	return 0;
}

static char *
blob_add(char *p, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(p, s, n);
	return p + n;
}

/* X's strings (and AGQ_SHEP_USER's groups), packed (the START blob): a
 * malloc'd buffer (agq_xmalloc) of *LEN bytes; *ARGC is X's argument
 * count. */
static char *
shep_pack(const struct agq_shep_task *x, size_t *len, uint32_t *argc)
{
	uint32_t ac = 0;
	while (x->argv[ac])
		ac++;
	size_t glen = x->flags & AGQ_SHEP_USER ? x->ngroups * sizeof(gid_t) : 0;
	size_t n = strlen(x->file) + strlen(x->cwd) + strlen(x->root) + 3 +
	    glen;
	for (uint32_t i = 0; i < ac; i++)
		n += strlen(x->argv[i]) + 1;
	for (size_t i = 0; i < x->envc; i++)
		n += strlen(x->env[i]) + 1;
	char *blob = agq_xmalloc(n);
	char *p = blob_add(blob, x->file);
	for (uint32_t i = 0; i < ac; i++)
		p = blob_add(p, x->argv[i]);
	for (size_t i = 0; i < x->envc; i++)
		p = blob_add(p, x->env[i]);
	p = blob_add(p, x->cwd);
	p = blob_add(p, x->root);
	if (glen)
		memcpy(p, x->groups, glen);
	*len = n;
	*argc = ac;
	return blob;
}

int
agq_shep_start(struct agq_shep *h, uint64_t seq, const struct agq_shep_task *x)
{
	struct sm_start m;
	memset(&m, 0, sizeof m);        /* no padding sent uninitialized */
	m.type = SM_START;
	m.seq = seq;
	m.flags = x->flags | (x->in >= 0 ? SM_STDIN : 0);
	m.timeout_us = x->timeout_us;
	m.grace_us = x->grace_us;
	m.root_err = x->root_err;
	m.envc = (uint32_t)x->envc;
	if (x->flags & AGQ_SHEP_USER) {
		m.uid = (uint32_t)x->uid;
		m.gid = (uint32_t)x->gid;
		m.ngroups = (uint32_t)x->ngroups;
	}
	size_t len;
	char *blob = shep_pack(x, &len, &m.argc);
	m.len = (uint32_t)len;
	int bfd = -1, rc = -1;
	if (len > SM_INLINE) {
		m.flags |= SM_BLOBFD;
		bfd = memfd_create("agq-start", MFD_CLOEXEC);
		if (bfd < 0 || agq_write_all(bfd, blob, len) < 0)
			goto out;
	}
	int fds[4] = { x->out, x->err }, nfd = 2;
	if (x->in >= 0)
		fds[nfd++] = x->in;
	if (bfd >= 0)
		fds[nfd++] = bfd;
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov[2] = { { &m, sizeof m }, { blob, len } };
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
		n = h->fd < 0 ? (errno = EPIPE, -1) :
		    sendmsg(h->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	rc = n < 0 ? -1 : 0;
out:
	;
	int err = errno;
	if (bfd >= 0)
		close(bfd);
	free(blob);
	errno = err;
	return rc;
}

void
agq_shep_stop(struct agq_shep *h, uint64_t seq)
{
	if (h->fd < 0)
		return;
	struct sm_stop m = { SM_STOP, 0, seq };
	(void)send(h->fd, &m, sizeof m, MSG_NOSIGNAL);
}

int
agq_shep_recv(struct agq_shep *h, uint64_t *seq, struct shep_result *r)
{
	if (h->fd < 0)
		return 0;
	for (;;) {
		struct sm_exit m;
		ssize_t n = recv(h->fd, &m, sizeof m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n != (ssize_t)sizeof m || m.type != SM_EXIT)
			return -1;
		*seq = m.seq;
		*r = m.r;
		return 1;
	}
}

int
agq_shep_lost(struct agq_shep *h)
{
	int st = 0;
	close(h->fd);
	h->fd = -1;
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR)
		;
	h->pid = -1;
	return st;
}

void
agq_shep_end(struct agq_shep *h)
{
	if (h->fd < 0)
		return;
	close(h->fd);
	h->fd = -1;
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	h->pid = -1;
}
