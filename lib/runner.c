/*
 * runner.c - the agent runner (agq-run(8)).
 *
 * An agent NAME registers agents/NAME.json, heartbeats it, and runs the
 * tasks the scheduler leases to it by moving them into active/NAME/.
 *
 * Each task runs under a shepherd: a forked copy of the runner that starts
 * the task in a process group of its own, enforces its timeout (SIGTERM,
 * then SIGKILL after kill_grace), and reports the wait status on a pipe.
 * The shepherd has PR_SET_PDEATHSIG set, so when the runner dies (even by
 * SIGKILL) the shepherd kills the task's whole process group: a task that
 * the scheduler reclaims is never still running somewhere.  The task itself
 * has PR_SET_PDEATHSIG too, for the case of a killed shepherd.  The
 * shepherd sets up the task's environment and working directory in itself
 * and starts the task with vfork(2): no copy of the address space to make,
 * fault in and tear down again at the exec, for every task.
 *
 * Completion is fenced twice: the task must still be in active/NAME/ (the
 * scheduler's reclaim moves it away, so the rename fails with ENOENT) and
 * its generation must still be the one this run started with; otherwise
 * the result is refused and a `stale` event journaled.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "agq.h"
#include "backend.h"

extern char **environ;

struct shep_result {
	int status;             /* wait(2) status of the task */
	int timed_out;          /* killed for its timeout */
	int stopped;            /* killed because the runner asked */
};

struct job {
	char id[65];
	json_int_t gen;
	pid_t shepherd;
	int rfd;                /* result pipe, read end */
	int64_t started_us;
	int stop_sent;
	int handback;           /* hand back to the queue when it ends */
	int unrecorded;         /* its start record failed: stopped, and
	                         * left leased as it was, to start again */
	int exited;             /* its shepherd ended: RES holds the result,
	                         * recorded after the next starts (reap) */
	struct shep_result res;
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

/* What the task's process needs, all made before it exists (task_prepare,
 * in the shepherd): it starts with vfork(2), so it shares the shepherd's
 * memory until its exec and makes nothing but system calls (task_child). */
struct task_exec {
	struct agq_cmd cmd;     /* the program and its argv */
	int agent;              /* agq-attempt, for an agent task */
	int in, out, err;       /* its standard input, output and error, all
	                         * fds above 2 (so no dup2 overwrites another) */
	int ep, epr;            /* a CLOEXEC pipe (write, read end): the
	                         * errno of a failed exec */
};

/* FD, or a CLOEXEC copy of it above 2 (a runner started with 0, 1 or 2
 * closed opens the task's files there); -1 (errno) when it cannot. */
static int
above_stdio(int fd)
{
	return fd > 2 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* In the shepherd, before the task starts: the task's environment and
 * working directory become the shepherd's own (the task inherits them; the
 * shepherd itself uses neither), and its command and standard input go in
 * X.  0, or the exit status the task ends with, without having run (126,
 * 127 when it has no cmd), its reason written to EFD, the task's stderr. */
static int
task_prepare(struct agq_spool *sp, const json_t *t, const char *outdir,
             int ofd, int efd, const char *agent, json_int_t gen,
             int attempt, struct task_exec *x)
{
	memset(x, 0, sizeof *x);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(t, "env"), k, v)
		setenv(k, json_string_value(v), 1);
	char buf[64];
	setenv("AGQ_TASK_ID", agq_task_id(t), 1);
	setenv("AGQ_SPOOL", sp->root, 1);
	setenv("AGQ_AGENT", agent, 1);
	snprintf(buf, sizeof buf, "%lld", (long long)gen);
	setenv("AGQ_GENERATION", buf, 1);
	snprintf(buf, sizeof buf, "%d", attempt);
	setenv("AGQ_ATTEMPT", buf, 1);
	setenv("AGQ_OUT", outdir, 1);
	const char *cwd = json_string_value(json_object_get(t, "cwd"));
	if (!cwd)
		cwd = outdir;
	if (chdir(cwd) < 0) {
		dprintf(efd, "agq-run: cannot change directory: %s (%s)\n",
		    strerror(errno), cwd);
		return 126;
	}
	char why[PATH_MAX * 2 + 64];     /* out/ID, the default, is allowed */
	if (cwd != outdir && agq_cwd_check(sp->conf.cwd_root, why,
	    sizeof why) < 0) {
		dprintf(efd, "agq-run: %s\n", why);
		return 126;
	}
	if (agq_task_is_agent(t)) {
		/* prompt, backend or verify steps: the agent path, in its own
		 * program (libexec/agq-attempt.c), the task on its standard
		 * input */
		char *js = json_dumps(t, JSON_COMPACT);
		x->in = memfd_create("agq-task", MFD_CLOEXEC);
		if (!js || x->in < 0 || agq_write_all(x->in, js,
		    strlen(js)) < 0 || lseek(x->in, 0, SEEK_SET) < 0) {
			if (!js)
				errno = ENOMEM;
			dprintf(efd, "agq-run: cannot pass the task to "
			    "agq-attempt: %s\n", strerror(errno));
			return 126;
		}
		free(js);
		/* after the setenv()s above, as it was when the task's
		 * process resolved it: the task's env may set
		 * AGQ_LIBEXEC_DIR */
		char *prog = agq_backend_path("agq-attempt");
		char **argv = agq_xmalloc(3 * sizeof *argv);
		argv[0] = "agq-attempt";
		argv[1] = (char *)outdir;
		argv[2] = NULL;
		x->cmd = (struct agq_cmd){ .file = prog, .argv = argv };
		x->agent = 1;
	} else {
		json_t *cmd = json_object_get(t, "cmd");
		if (!json_is_string(cmd) && json_array_size(cmd) == 0) {
			dprintf(efd, "agq-run: the task has no cmd\n");
			return 127;
		}
		if (agq_cmd_init(&x->cmd, cmd) < 0) {
			dprintf(efd, "agq-run: cannot run: %s\n",
			    strerror(errno));
			return 126;
		}
		x->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (x->in < 0) {
			dprintf(efd, "agq-run: cannot open: %s (/dev/null)\n",
			    strerror(errno));
			return 126;
		}
	}
	x->in = above_stdio(x->in);
	x->out = above_stdio(ofd);
	x->err = above_stdio(efd);
	int ep[2];
	if (x->in < 0 || x->out < 0 || x->err < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		dprintf(efd, "agq-run: cannot start the task: %s\n",
		    strerror(errno));
		return 126;
	}
	x->ep = ep[1];
	x->epr = ep[0];
	return 0;
}

/* The task's process, a vfork(2) child of the shepherd: its own process
 * group, SIGKILL when the shepherd dies, every signal at its default and
 * none blocked, stdio, exec.  System calls only, on its own stack: the
 * shepherd's memory is shared until the exec.  A failed exec's errno goes
 * to the shepherd on X->ep, the message is written there (shepherd). */
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
	int st = agq_cmd_exec(&x->cmd);
	int e = errno;
	(void)!write(x->ep, &e, sizeof e);
	_exit(x->agent ? 126 : st);
}

/* vfork(2) X's task: its pid (it has exec'd or _exited by the time this
 * returns), or -1 with errno.  Apart, so that nothing of the caller's
 * frame is live across the vfork. */
static __attribute__((noinline)) pid_t
task_spawn(const struct task_exec *x)
{
	pid_t pid = vfork();
	if (pid == 0)
		task_child(x);
	return pid;
}

/* The shepherd: runs in a fork of the runner, never returns. */
static _Noreturn void
shepherd(struct agq_spool *sp, const json_t *t, const char *outdir, int ofd,
         int efd, int wfd, pid_t runner, const char *agent, json_int_t gen,
         int attempt)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, SIGHUP);
	if (getppid() != runner)
		_exit(1);
	inotifytools_cleanup();
	struct shep_result r = { 0, 0, 0 };
	struct task_exec x;
	int fail = task_prepare(sp, t, outdir, ofd, efd, agent, gen, attempt,
	    &x);
	if (fail) {
		r.status = fail << 8;
		(void)!write(wfd, &r, sizeof r);
		_exit(0);
	}
	pid_t pid = task_spawn(&x);
	int e = errno;
	close(x.ep);
	if (pid < 0) {
		dprintf(efd, "agq-run: cannot fork: %s\n", strerror(e));
		r.status = 126 << 8;
		(void)!write(wfd, &r, sizeof r);
		_exit(0);
	}
	/* the write end closed at the exec: nothing to read then */
	int ee;
	if (read(x.epr, &ee, sizeof ee) == (ssize_t)sizeof ee) {
		if (x.agent)
			dprintf(efd, "agq-run: cannot run agq-attempt: %s "
			    "(%s)\n", strerror(ee), x.cmd.file);
		else
			dprintf(efd, "agq-run: cannot run: %s (%s)\n",
			    strerror(ee), x.cmd.file);
	}
	close(x.epr);
	close(ofd);
	close(efd);
	double timeout = 0;
	json_t *tv = json_object_get(t, "timeout");
	if (json_is_number(tv))
		timeout = json_number_value(tv);
	int64_t now = agq_mono_us();
	int64_t deadline = timeout > 0 ? now + (int64_t)(timeout * 1e6) : 0;
	int64_t kill_at = 0;
	int64_t grace = (int64_t)(sp->conf.kill_grace_s * 1e6);
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			r.status = st;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r.status = 126 << 8;
			break;
		}
		now = agq_mono_us();
		int64_t until = 0;
		if (deadline && !r.timed_out)
			until = deadline;
		if (kill_at && (!until || kill_at < until))
			until = kill_at;
		struct timespec ts, *tsp = NULL;
		if (until) {
			int64_t d = until - now;
			if (d < 0)
				d = 0;
			ts.tv_sec = d / 1000000;
			ts.tv_nsec = (d % 1000000) * 1000;
			tsp = &ts;
		}
		int sig = sigtimedwait(&set, NULL, tsp);
		now = agq_mono_us();
		if (sig == SIGHUP) {            /* the runner died */
			kill(-pid, SIGKILL);
			r.stopped = 1;
		} else if (sig == SIGTERM || sig == SIGINT) {
			if (!r.stopped) {
				r.stopped = 1;
				kill(-pid, SIGTERM);
				kill_at = now + grace;
			}
		} else if (sig < 0 && errno == EAGAIN) {
			if (deadline && !r.timed_out && now >= deadline) {
				r.timed_out = 1;
				kill(-pid, SIGTERM);
				kill_at = now + grace;
			} else if (kill_at && now >= kill_at) {
				kill(-pid, SIGKILL);
				kill_at = 0;
			}
		}
	}
	/* Whatever the task left running in its group ends with it. */
	kill(-pid, SIGKILL);
	(void)!write(wfd, &r, sizeof r);
	_exit(0);
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
		int max = (int)agq_task_int(t, "max_attempts", 3);
		if (agq_task_attempts_used(t) >= max) {
			char reason[200];
			snprintf(reason, sizeof reason, "interrupted; out of "
			    "attempts (%d of %d)", agq_task_attempts_used(t), max);
			if (agq_task_transition(sp, &l, AGQ_ST_DEAD, -1, NULL,
			    reason) == 0)
				agq_journal_w(sp, "dead", id, json_pack(
				    "{s:s, s:I, s:s}", "agent", me, "gen", gen,
				    "reason", reason));
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
		if (agq_task_transition(sp, &l, AGQ_ST_DEAD, -1, NULL,
		    reason) < 0)
			agq_syserr("cannot move to dead/", l.loc.path);
		else
			agq_journal_w(sp, "dead", id, json_pack("{s:s, s:I, "
			    "s:s}", "agent", me, "gen", gen, "reason", reason));
		free(outdir);
		goto out;
	}
	int ofd = open_out(odfd, outdir, "stdout");
	int efd = open_out(odfd, outdir, "stderr");
	close(odfd);
	int pfd[2] = { -1, -1 };
	if (ofd < 0 || efd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		int e = errno;
		if (pfd[0] < 0 && ofd >= 0 && efd >= 0)
			agq_syserr("cannot create a pipe", NULL);
		not_started(R, e);
		if (ofd >= 0) close(ofd);
		if (efd >= 0) close(efd);
		agq_task_rewrite_abort(&rw);
		free(outdir);
		goto out;
	}
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot fork", NULL);
		close(ofd); close(efd); close(pfd[0]); close(pfd[1]);
		agq_task_rewrite_abort(&rw);
		free(outdir);
		goto out;
	}
	if (pid == 0) {
		/* The shepherd keeps none of the runner's descriptors: above
		 * all not the agent lock, so a restarted agent can take it
		 * while an orphaned shepherd is still cleaning up. */
		close(pfd[0]);
		close(l.fd);
		close(rw.fd);
		close(R->lockfd);
		for (int k = 0; k < R->njobs; k++)
			close(R->jobs[k].rfd);
		shepherd(sp, t, outdir, ofd, efd, pfd[1], runner, me, gen,
		    attempt);
	}
	close(ofd);
	close(efd);
	close(pfd[1]);
	free(outdir);
	struct job *j = &R->jobs[R->njobs++];
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	j->gen = gen;
	j->shepherd = pid;
	j->rfd = pfd[0];
	j->started_us = now;
	if (agq_task_rewrite_commit(sp, &l, &rw) < 0) {
		not_started(R, errno);
		agq_syserr("cannot record the start", l.loc.path);
		kill(pid, SIGTERM);     /* the shepherd ends the task */
		j->stop_sent = 1;
		j->unrecorded = 1;
		goto out;
	}
	agq_journal_w(sp, "start", id, json_pack("{s:s, s:I, s:i}", "agent", me,
	    "gen", gen, "attempt", attempt));
out:
	agq_task_unlock(&l);
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
	int64_t now = agq_now_us();
	json_int_t dur = (now - j->started_us) / 1000;
	int st = res->status;
	int exited = WIFEXITED(st), code = exited ? WEXITSTATUS(st) : -1;
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;

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
	json_t *t = l.task;
	json_t *last = agq_task_last_attempt(t);
	char t1[32];
	/* An agent task's attempt leaves out/ID/agent.json (attempt.c). */
	json_t *ag = NULL;
	int verify_failed = 0;
	if (agq_task_is_agent(t) && !j->handback) {
		/* through the checked handle: a task that swapped out/ID for
		 * a symbolic link cannot hand in a status of its own making */
		int dfd = agq_out_open(sp, id, 0);
		int afd = dfd < 0 ? -1 : openat(dfd, "agent.json", O_RDONLY |
		    O_NOFOLLOW | O_CLOEXEC);
		ag = afd < 0 ? NULL : json_loadfd(afd, 0, NULL);
		if (afd >= 0)
			close(afd);
		if (dfd >= 0)
			close(dfd);
		if (!json_is_object(ag)) {
			json_decref(ag);
			ag = NULL;
		}
	}
	const char *agst = json_string_value(json_object_get(ag, "status"));
	if (agst && exited && !res->timed_out && code == 2 &&
	    !strcmp(agst, "verify_failed"))
		verify_failed = 1;
	static const char *agkeys[] = { "backend", "model", "endpoint",
	    "tokens_in", "tokens_out", "cost_usd", NULL };
	if (last) {
		for (int k = 0; ag && agkeys[k]; k++)
			if (json_object_get(ag, agkeys[k]))
				json_object_set(last, agkeys[k],
				    json_object_get(ag, agkeys[k]));
		if (ag)
			json_object_set_new(last, "iterations", json_integer(
			    (json_int_t)json_array_size(json_object_get(ag,
			    "iterations"))));
		json_object_set_new(last, "finished",
		    json_string(agq_fmt_time(now, t1)));
		json_object_set_new(last, "duration_ms", json_integer(dur));
		if (exited)
			json_object_set_new(last, "exit", json_integer(code));
		if (sig)
			json_object_set_new(last, "signal", json_integer(sig));
		if (res->timed_out)
			json_object_set_new(last, "timed_out", json_true());
		if (j->handback)
			json_object_set_new(last, "handed_back", json_true());
	}
	char what[384];
	if (res->timed_out)
		snprintf(what, sizeof what, "timed out after %g s",
		    json_number_value(json_object_get(t, "timeout")));
	else if (sig)
		snprintf(what, sizeof what, "killed by signal %d (%s)", sig,
		    strsignal(sig));
	else if (agst && exited && json_string_value(json_object_get(ag,
	    "error")) && strcmp(agst, "done"))
		snprintf(what, sizeof what, "%s", json_string_value(
		    json_object_get(ag, "error")));
	else
		snprintf(what, sizeof what, "exit %d", code);
	json_t *fev = json_pack("{s:s, s:I, s:i, s:i, s:b, s:I}", "agent", me,
	    "gen", j->gen, "exit", code, "signal", sig, "timed_out",
	    res->timed_out, "duration_ms", dur);
	for (int k = 0; ag && agkeys[k]; k++)
		if (json_object_get(ag, agkeys[k]))
			json_object_set(fev, agkeys[k], json_object_get(ag,
			    agkeys[k]));
	/* finish and the outcome: one append, after the change (below) */
	struct agq_jbatch jb = { NULL };
	agq_jbatch_add(&jb, "finish", id, fev);

	int ok = exited && code == 0 && !res->timed_out;
	int max = (int)agq_task_int(t, "max_attempts", 3);
	int used = agq_task_attempts_used(t);
	char reason[800];
	const char *status, *evname;
	json_t *ev;
	int to, lane = -1;
	json_object_set_new(t, "agent", json_null());
	if (j->handback) {
		status = "handed_back";
		snprintf(reason, sizeof reason, "handed back by %s (stopping); "
		    "%s", me, what);
		json_object_set_new(t, "generation", json_integer(j->gen + 1));
		to = AGQ_ST_QUEUE;
		lane = agq_task_lane(t);
		evname = "handback";
		ev = json_pack("{s:s, s:I, s:s}", "agent", me, "gen", j->gen + 1,
		    "reason", reason);
	} else if (ok) {
		status = "done";
		snprintf(reason, sizeof reason, "exit 0 on %s", me);
		to = AGQ_ST_DONE;
		evname = "done";
		ev = json_pack("{s:s, s:I, s:s}", "agent", me, "gen", j->gen,
		    "reason", reason);
	} else if (verify_failed) {
		/* the steps failed every iteration: more attempts of the
		 * same would not help; agq-retry sends it back */
		status = "dead";
		snprintf(reason, sizeof reason, "%s", what);
		json_object_set(t, "verify_report", json_object_get(ag,
		    "verify"));
		to = AGQ_ST_DEAD;
		evname = "dead";
		ev = json_pack("{s:s, s:I, s:s, s:O?}", "agent", me, "gen",
		    j->gen, "reason", reason, "failed_steps", json_object_get(
		    json_object_get(ag, "verify"), "failed"));
	} else if (used < max) {
		status = "retry";
		int64_t delay = agq_backoff_us(t, used, sp->conf.backoff_cap_s);
		int64_t at = now + delay;
		char t2[32];
		agq_fmt_time(at, t2);
		agq_task_set_time(t, "next_attempt_at", at);
		snprintf(reason, sizeof reason, "%s; attempt %d of %d failed, "
		    "next at %s (backoff %.1f s)", what, used, max, t2,
		    (double)delay / 1e6);
		to = AGQ_ST_DEFER;
		evname = "retry";
		ev = json_pack("{s:s, s:I, s:s, s:s}", "agent", me, "gen",
		    j->gen, "next_attempt_at", t2, "reason", reason);
	} else {
		status = "dead";
		snprintf(reason, sizeof reason, "%s; out of attempts (%d of %d)",
		    what, used, max);
		to = AGQ_ST_DEAD;
		evname = "dead";
		ev = json_pack("{s:s, s:I, s:s}", "agent", me, "gen", j->gen,
		    "reason", reason);
	}
	char t3[32];
	json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:i, s:I, s:s, s:s, s:s}",
	    "id", id, "status", status, "agent", me, "generation", j->gen,
	    "attempt", (int)json_array_size(json_object_get(t, "attempts")),
	    "duration_ms", dur,
	    "started", agq_fmt_time(j->started_us, t1),
	    "finished", agq_fmt_time(now, t3), "reason", reason);
	if (exited)
		json_object_set_new(r, "exit", json_integer(code));
	if (sig)
		json_object_set_new(r, "signal", json_integer(sig));
	json_object_set_new(r, "timed_out", json_boolean(res->timed_out));
	if (ag) {
		static const char *more[] = { "backend", "model", "endpoint",
		    "tokens_in", "tokens_out", "cost_usd", "error", "verify",
		    "iterations", NULL };
		for (int k = 0; more[k]; k++)
			if (json_object_get(ag, more[k]))
				json_object_set(r, more[k], json_object_get(ag,
				    more[k]));
		json_object_set_new(r, "agent_status", json_string(agst ? agst :
		    "unknown"));
	}
	/* result.json first, then the move: whoever sees the task in its
	 * new state (agq-wait) finds the result beside it. */
	int wr = write_result(R, id, r) < 0 && (errno == ENOSPC ||
	    errno == EDQUOT) ? -1 : 0;  /* a full disk: not recorded */
	if (wr == 0 && agq_task_transition(sp, &l, to, lane, NULL,
	    reason) == 0) {
		agq_jbatch_add(&jb, evname, id, ev);
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
		agq_syserr("cannot record the result", l.loc.path);
		json_decref(ev);
	}
	agq_jbatch_w(sp, &jb);
	json_decref(ag);
	json_decref(r);
	agq_task_unlock(&l);
}

static void
reap(struct runner *R)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			return;
		for (int i = 0; i < R->njobs; i++) {
			struct job *j = &R->jobs[i];
			if (j->shepherd != pid)
				continue;
			struct shep_result res;
			ssize_t n = read(j->rfd, &res, sizeof res);
			if (n != (ssize_t)sizeof res) {
				/* the shepherd died without a word */
				memset(&res, 0, sizeof res);
				res.status = st;
			}
			close(j->rfd);
			j->exited = 1;
			j->res = res;
			break;
		}
	}
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
			json_int_t gen = agq_task_int(l.task, "generation", 0) + 1;
			json_object_set_new(l.task, "generation",
			    json_integer(gen));
			json_object_set_new(l.task, "agent", json_null());
			if (agq_task_transition(R->sp, &l, AGQ_ST_QUEUE,
			    agq_task_lane(l.task), NULL, "handed back: agent "
			    "stopping before it started") == 0)
				agq_journal_w(R->sp, "handback", id, json_pack(
				    "{s:s, s:I, s:s}", "agent", R->o->agent,
				    "gen", gen, "reason", "agent stopping"));
		}
		agq_task_unlock(&l);
		return 0;
	}
	int running = 0;
	for (int k = 0; k < R->njobs; k++)
		running += !R->jobs[k].exited;
	if (running >= R->o->slots || agq_mono_us() < R->room_at)
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
		if (lstat(p, &st) < 0 && errno == ENOENT) {
			kill(j->shepherd, SIGTERM);
			j->stop_sent = 1;
		}
		free(p);
	}
}

/* Record the result of every task that ended (reap), and forget it. */
static void
record_ended(struct runner *R)
{
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (!j->exited)
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
		if (got_term && !R.draining) {
			R.draining = 1;
			heartbeat(&R, NULL);
		}
		if (got_term > 1 && !stop_requested) {
			stop_requested = 1;
			for (int i = 0; i < R.njobs; i++) {
				R.jobs[i].handback = 1;
				kill(R.jobs[i].shepherd, SIGTERM);
				R.jobs[i].stop_sent = 1;
			}
		}
		/* a slot freed by a task that ended goes to the next lease
		 * (prefetched: already here) before the result is recorded,
		 * so the record's fsyncs overlap the next task */
		scan_leases(&R, 0);
		record_ended(&R);
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
	json_decref(R.once_ids);
	free(R.jobs);
	close(lock);
	return o->once ? R.unrecorded : 0;
}
