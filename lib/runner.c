/*
 * runner.c - the agent runner (agq-run(8)).
 *
 * An agent NAME registers agents/NAME.json, heartbeats it, and runs the
 * tasks the scheduler leases to it by moving them into active/NAME/.
 *
 * The tasks run under a shepherd (shepherd.c): one forked copy of the
 * runner per agent, made at start-up (and again should it die), that
 * starts each task in a process group of its own, enforces its timeout,
 * reports its wait status, and kills every task's process group when the
 * runner dies: a task that the scheduler reclaims is never still running
 * somewhere.  The runner makes each task's environment and command line
 * (send_start) and hands them over; a shepherd that dies ends the running
 * jobs as killed (shep_lost).
 *
 * Completion is fenced twice: the task must still be in active/NAME/ (the
 * scheduler's reclaim moves it away, so the rename fails with ENOENT) and
 * its generation must still be the one this run started with; otherwise
 * the result is refused and a `stale` event journaled.
 *
 * Relies on shepherd.c (the tasks' processes), wake.c (its signals and
 * the inotify watch on active/NAME/), spool.c (locks, rewrites, moves),
 * out.c (out/ID), task.c, lifecycle.c and lease.c (what an outcome does
 * to a task), journal.c, reject.c, agent.c (its agent file), runas.c
 * (whom a task runs as, in what environment), resources.c and util.c.
 */

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "paths.h"
#include "redact.h"
#include "cli.h"
#include "conf.h"
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
#include "runas.h"
#include "runner.h"
#include "shepherd.h"
#include "wake.h"
#include "mission.h"
#include "submit.h"

extern char **environ;
static void mission_pr(const struct agq_spool *sp, const char *mid,
                       const char *agent);

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
	int held;               /* its result could not be recorded for the
	                         * storage (agq_errno_infra): held here and
	                         * tried again (record_ended), not counted */
	int64_t ended_us;       /* when its result was first recorded */
	json_t *att;            /* held, its start record never committed:
	                         * its attempt, and its start event (STARTEV), */
	json_t *startev;        /* to record with the result */
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
	struct agq_waiter wt;   /* inotify, or polling (wake.h) */
	int unrecorded;         /* exit status (75: disk full) of a start or
	                         * result it could not record: --once */
	int start_errno;        /* the errno of the last start not made */
	int64_t room_at;        /* no start before (monotonic): a failed one */
	char *spare_tmp;        /* tmp/.spare-NAME: the next start record */
	char spare_out[80];     /* out/.spare-NAME/: the next output dir */
	int spare_ok;           /* both made, for the next start */
	struct agq_shep shep;   /* the shepherd (shepherd.c) */
	uint64_t seq;           /* the last job's number */
	int64_t last_hb;        /* the last heartbeat (monotonic) */
	const char *last_state; /* the state it wrote (static string) */
	int stop_requested;     /* a second signal: every job stopped */
	int64_t degraded_since; /* its storage failed (agq_errno_infra): no
	                         * new start, results held (degrade); 0 not */
	char degraded_why[600]; /* what failed, for the agent file */
	int64_t held_at;        /* held results tried again from (mono) */
	char **secrets;         /* the agent's keys (agq_conf_secrets): kept
	                         * out of cmd tasks' environment */
	uid_t spool_uid;        /* the owner of the spool directory */
	struct agq_agent_claimed claimed; /* what its name claim replaced */
	int replaced;           /* another agent took its name: stop */
	const char *remote_host;/* agq-remote: the remote agent's host, */
	json_t *remote_res;     /* and its resources, as it reports them */
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

/* The number of jobs whose result is held (job.held). */
static int
held_count(const struct runner *R)
{
	int n = 0;
	for (int i = 0; i < R->njobs; i++)
		n += R->jobs[i].held;
	return n;
}

/* The spool's storage failed with ERR (agq_errno_infra) doing WHAT to
 * PATH, reported by the caller: the agent is degraded (agq-run(8), "A
 * full disk") from now until a heartbeat is written with no result held:
 * it starts nothing new, holds its results, and says so in its agent
 * file (state "degraded", "reason", "since") or, when that file cannot
 * be written, touches it (agq_agent_touch) so that agq-sched sees it
 * alive. */
static void
degrade(struct runner *R, const char *what, const char *path, int err)
{
	if (R->degraded_since)
		return;
	R->degraded_since = agq_now_us();
	int n = snprintf(R->degraded_why, sizeof R->degraded_why, "%s: %s (",
	    what, strerror(err));
	if (n > 0 && (size_t)n < sizeof R->degraded_why)
		snprintf(R->degraded_why + n, sizeof R->degraded_why - (size_t)n,
		    "%.*s)", (int)(sizeof R->degraded_why - (size_t)n - 2),
		    path);
	agq_warn("agent %s is degraded: starts no task and holds its results "
	    "until the spool can be written", R->o->agent);
}

/* The state R's agent file says now when none is forced (agq-status(1)):
 * degraded, draining, busy (a task runs or its result is being
 * recorded) or idle.  Static. */
static const char *
state_now(struct runner *R)
{
	return R->degraded_since && held_count(R) ? "degraded" : R->draining ?
	    "draining" : R->njobs ? "busy" : "idle";
}

/* R's agent file as it is now, in STATE (NULL: state_now): a new
 * reference. */
static json_t *
agent_file(struct runner *R, const char *state)
{
	json_t *running = json_array();
	for (int i = 0; i < R->njobs; i++)
		if (!R->jobs[i].exited)
			json_array_append_new(running, json_string(
			    R->jobs[i].id));
	if (!state)
		state = state_now(R);
	R->last_state = state;
	char t1[32], t2[32];
	json_t *a = json_pack("{s:s, s:s, s:s, s:i, s:O, s:i, s:s, s:s, s:s, "
	    "s:o, s:s}",
	    "name", R->o->agent, "host", agq_hostname(), "boot_id",
	    agq_boot_id(), "pid", (int)getpid(),
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
	if (R->o->cap_token)
		json_object_set_new(a, "cap_token", json_string(
		    R->o->cap_token));
	json_object_set_new(a, "resources", R->remote_res ? json_incref(
	    R->remote_res) : agq_host_resources());
	if (R->remote_host) {   /* agq-remote's, for an agent over ssh: */
		json_object_set_new(a, "via", json_string("ssh"));
		json_object_set_new(a, "agent_host", json_string(
		    R->remote_host));   /* host, boot_id, pid: agq-remote's */
	}
	if (!strcmp(state, "degraded")) {
		char t3[32];
		json_object_set_new(a, "reason", json_string(R->degraded_why));
		json_object_set_new(a, "since", json_string(agq_fmt_time(
		    R->degraded_since, t3)));
	}
	return a;
}

/* Is agents/NAME.json still R's (agq_agent_is_self)?  An agent judged
 * dead whose name another host took meanwhile (agq_agent_claim) finds
 * it is not: it says so once, and R->replaced stops it (runner_turn). */
static int
still_mine(struct runner *R)
{
	if (R->replaced)
		return 0;
	json_t *cur = agq_agent_read(R->sp, R->o->agent);
	if (!cur || agq_agent_is_self(cur, 0)) {
		json_decref(cur);       /* none: written again */
		return 1;
	}
	R->replaced = 1;
	const char *h = agq_shown_get(cur, "host");
	agq_warn("agent %s was replaced by host %s (pid %lld) while it was "
	    "judged dead: stopping its tasks and exiting", R->o->agent,
	    h ? h : "?", (long long)agq_task_int(cur, "pid", 0));
	json_decref(cur);
	return 0;
}

/* A heartbeat: R's agent file rewritten (agent_file), unless another
 * agent holds its name now (still_mine), then its mtime set to the file
 * server's time (agq_agent_touch): the sign of life agq-sched reads. */
static void
heartbeat(struct runner *R, const char *state)
{
	if (!still_mine(R))
		return;
	json_t *a = agent_file(R, state);
	if (agq_agent_write(R->sp, a) < 0) {
		int e = errno;
		if (!R->degraded_since || !agq_errno_infra(e))
			agq_spool_syserr(R->sp, "cannot write agent file",
			    "agents/%s.json", R->o->agent);
		if (agq_errno_infra(e)) {
			char *p = agq_spool_path(R->sp, "agents/%s.json",
			    R->o->agent);
			degrade(R, "cannot write agent file", p, e);
			free(p);
			/* alive all the same: a touch needs no free block */
			(void)agq_agent_touch(R->sp, R->o->agent);
		}
	} else {
		(void)agq_agent_touch(R->sp, R->o->agent);
		if (R->degraded_since && !held_count(R)) {
			R->degraded_since = 0;
			agq_warn("agent %s is no longer degraded",
			    R->o->agent);
		}
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

/* The environment of task T (generation GEN, attempt ATTEMPT, output
 * directory OUTDIR) into E: agq_runas_env's for RA (the runner's, for a
 * cmd task without the agent's keys; for a task run as another user a
 * clean one from its passwd entry), with the task's env and the AGQ_*
 * variables of agq-run(8) set.  Free it with env_free. */
static void
env_make(struct runner *R, struct envb *e, const json_t *t,
         const char *outdir, json_int_t gen, int attempt,
         const struct agq_runas *ra)
{
	size_t room = agq_runas_env_size();
	json_t *tenv = json_object_get(t, "env");
	size_t more = json_object_size(tenv) + 8;
	*e = (struct envb){ agq_xmalloc((room + more) * sizeof *e->v), 0,
	    room + more, agq_xmalloc(more * sizeof *e->own), 0 };
	/* an agent task keeps them: agq-attempt's backend */
	e->n = agq_runas_env(ra, R->secrets, agq_task_attempted(t), e->v);
	const char *k;
	json_t *v;
	json_object_foreach(tenv, k, v)
		env_set(e, k, json_string_value(v));
	char buf[64];
	env_set(e, "AGQ_TASK_ID", agq_task_id(t));
	env_set(e, "AGQ_SPOOL", R->sp->root);
	env_set(e, "AGQ_AGENT", R->o->agent);
	snprintf(buf, sizeof buf, "%lld", (long long)gen);
	env_set(e, "AGQ_GENERATION", buf);
	snprintf(buf, sizeof buf, "%d", attempt);
	env_set(e, "AGQ_ATTEMPT", buf);
	env_set(e, "AGQ_OUT", outdir);
	/* what it is handed, and where it may leave its own (agq-task(5),
	 * handoff) */
	char *ho = agq_mission_handoff_prepare(R->sp, t, outdir);
	if (ho)
		env_set(e, "AGQ_HANDOFF", ho);
	free(ho);
	ho = agq_xasprintf("%s/handoff-out.json", outdir);
	env_set(e, "AGQ_HANDOFF_OUT", ho);
	free(ho);
}

static void
env_free(struct envb *e)
{
	for (size_t i = 0; i < e->nown; i++)
		free(e->own[i]);
	free(e->own);
	free(e->v);
}

/* out/ID, open as ODFD, and its stdout OFD and stderr EFD handed to RA's
 * user (when RA->on), so that the task can write its directory.  Reported
 * when it cannot be: the task then runs with what it can reach. */
static void
runas_chown(const struct agq_runas *ra, int odfd, int ofd, int efd,
            const char *outdir)
{
	if (!ra->on)
		return;
	if (fchown(odfd, ra->uid, ra->gid) < 0 ||
	    fchown(ofd, ra->uid, ra->gid) < 0 ||
	    fchown(efd, ra->uid, ra->gid) < 0)
		agq_syserr("cannot give the output directory to the task's "
		    "user", outdir);
}

/* X's directory: task T's cwd, else (and for a task with git) OUTDIR.  out/ID, the default, is
 * allowed; for another, cwd_root is resolved now into REAL (PATH_MAX
 * bytes) and X->root, AGQ_SHEP_CHECK set, and the cwd checked in the
 * task's process after its chdir (the rule of agq_cwd_check). */
static void
task_cwd(struct runner *R, struct agq_shep_task *x, const json_t *t,
         const char *outdir, char *real)
{
	const char *croot = R->sp->conf.cwd_root;
	x->cwd = json_string_value(json_object_get(t, "cwd"));
	x->root = "";
	if (json_object_get(t, "git"))
		x->cwd = NULL;  /* agq-attempt enters its worktree (and cwd
		                 * in it): agq's own directory, not checked */
	if (x->cwd && croot && strcmp(croot, "/")) {
		if (!realpath(croot, real)) {
			x->root_err = errno;
			x->root = croot;
			x->flags |= AGQ_SHEP_CHECK;
		} else if (strcmp(real, "/")) {
			x->root = real;
			x->flags |= AGQ_SHEP_CHECK;
		}
	}
	if (!x->cwd)
		x->cwd = outdir;
}

/* A task that ends without having run: "agq-run: " and the message
 * (printf(3) FMT) written to EFD, its stderr, and the message into WHY
 * (SIZE bytes, cut to fit) for its reason (shep_result's why). */
static void __attribute__((format(printf, 4, 5)))
never_ran(int efd, char *why, size_t size, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	dprintf(efd, "agq-run: %s\n", line);
	agq_errf(why, size, "%s", line);        /* cut before a character */
}

/* An agent task T (prompt, backend or verify steps) into X: the agent
 * path, in its own program (libexec/agq-attempt.c), with OUTDIR its
 * argument (ARGV: 3 slots) and the task on its standard input, a memfd
 * (X->in, the caller's to close); *PROG, the program's path, is the
 * caller's to free.  0; or 126, the reason written to EFD and WHY
 * (never_ran). */
static int
task_agent(struct agq_shep_task *x, const json_t *t, const struct envb *e,
           const char *outdir, char **argv, char **prog, int efd, char *why,
           size_t size)
{
	char *js = json_dumps(t, JSON_COMPACT);
	x->in = memfd_create("agq-task", MFD_CLOEXEC);
	if (!js || x->in < 0 || agq_write_all(x->in, js, strlen(js)) < 0 ||
	    lseek(x->in, 0, SEEK_SET) < 0) {
		if (!js)
			errno = ENOMEM;
		never_ran(efd, why, size, "cannot pass the task to "
		    "agq-attempt: %s", strerror(errno));
		free(js);
		return 126;
	}
	free(js);
	/* as agq_backend_path, with the task's environment: its env may set
	 * AGQ_LIBEXEC_DIR */
	const char *ld = env_get(e, "AGQ_LIBEXEC_DIR");
	if (ld && *ld)
		*prog = agq_xasprintf("%s/agq-attempt", ld);
	else if (!(*prog = agq_exe_path("../libexec/agq/agq-attempt")))
		*prog = agq_xasprintf("%s/agq-attempt", agq_libexecdir);
	argv[0] = "agq-attempt";
	argv[1] = (char *)outdir;
	argv[2] = NULL;
	x->file = *prog;
	x->argv = argv;
	x->flags |= AGQ_SHEP_AGENT;
	return 0;
}

/* Task T's cmd into X and C (agq_cmd_init; C->argv the caller's to free).
 * 0; or the exit status it ends with without having run (127: no cmd,
 * 126), the reason written to EFD and WHY (never_ran). */
static int
task_cmd(struct agq_shep_task *x, const json_t *t, struct agq_cmd *c,
         int efd, char *why, size_t size)
{
	json_t *cmd = json_object_get(t, "cmd");
	if (!json_is_string(cmd) && json_array_size(cmd) == 0) {
		never_ran(efd, why, size, "the task has no cmd");
		return 127;
	}
	if (agq_cmd_init(c, cmd) < 0) {
		never_ran(efd, why, size, "cannot run: %s", strerror(errno));
		return 126;
	}
	x->file = c->file;
	x->argv = c->argv;
	if (c->search)
		x->flags |= AGQ_SHEP_SEARCH;
	return 0;
}

/* Send the shepherd job SEQ: task T (leased, generation GEN, attempt
 * ATTEMPT, output directory OUTDIR, stdout OFD, stderr EFD; the fds are
 * the caller's to close).  0; or the exit status the task ends with
 * without having run (126, 127), its reason written to EFD and WHY (SIZE
 * bytes, never_ran); or -1 (errno) when it could not be sent: nothing
 * started. */
static int
send_start(struct runner *R, uint64_t seq, const json_t *t,
           const char *outdir, int ofd, int efd, json_int_t gen, int attempt,
           const struct agq_runas *ra, char *why, size_t size)
{
	struct agq_shep_task x = { .in = -1, .out = ofd, .err = efd };
	int agent = agq_task_attempted(t);
	if (agent && ra->on) {
		/* agq-attempt needs the agent's keys and spool: not for
		 * another user's hands */
		never_ran(efd, why, size, "a root agent runs no agent task "
		    "(prompt, backend, verify, git) of another user (%s, uid "
		    "%u): run an agent as that user", ra->user,
		    (unsigned)ra->uid);
		return 126;
	}
	json_t *tv = json_object_get(t, "timeout");
	double timeout = json_is_number(tv) ? json_number_value(tv) : 0;
	x.timeout_us = timeout > 0 ? (int64_t)(timeout * 1e6) : 0;
	x.grace_us = (int64_t)(R->sp->conf.kill_grace_s * 1e6);
	struct envb e;
	env_make(R, &e, t, outdir, gen, attempt, ra);
	x.env = e.v;
	x.envc = e.n;
	char real[PATH_MAX];
	task_cwd(R, &x, t, outdir, real);
	if (ra->on) {
		x.flags |= AGQ_SHEP_USER | (x.cwd == outdir ? AGQ_SHEP_OWNCWD :
		    0);
		x.uid = ra->uid;
		x.gid = ra->gid;
		x.groups = ra->groups;
		x.ngroups = (size_t)ra->ngroups;
	}

	char *prog = NULL, *aargv[3];
	struct agq_cmd c = { NULL, NULL, 0 };
	int rc = agent ? task_agent(&x, t, &e, outdir, aargv, &prog, efd, why,
	    size) : task_cmd(&x, t, &c, efd, why, size);
	if (rc == 0)
		rc = agq_shep_start(&R->shep, seq, &x);
	int err = errno;
	if (x.in >= 0)
		close(x.in);
	if (!agent)
		free(c.argv);
	free(prog);
	env_free(&e);
	errno = err;
	return rc;
}

/* Ask the shepherd to stop J's task. */
static void
shep_stop(struct runner *R, struct job *j)
{
	j->stop_sent = 1;
	if (!j->exited)
		agq_shep_stop(&R->shep, j->seq);
}

/* The shepherd died (EOF on the socket): every job still running ends with
 * its wait status, as killed (its task had SIGKILL from its
 * PR_SET_PDEATHSIG), and is recorded; a new one starts on the next turn
 * (at most one a second). */
static void
shep_lost(struct runner *R)
{
	pid_t pid = R->shep.pid;
	int st = agq_shep_lost(&R->shep);
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
		    "running task(s) ended", (int)pid, WTERMSIG(st), n);
	else
		agq_warn("the shepherd (pid %d) exited %d; %d running task(s) "
		    "ended", (int)pid, WEXITSTATUS(st), n);
}

/* A start that failed with ERR: the lease stays as it was and is tried
 * again in a second (not in a busy loop); --once will exit with ERR's
 * status (75 for a full disk). */
static void
not_started(struct runner *R, int err)
{
	R->unrecorded = agq_exit_code(err);
	R->start_errno = err;
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

static int finish(struct runner *R, struct job *j, const struct shep_result *res);
static void reap(struct runner *R);
static void finish_locked(struct runner *R, struct job *j,
                          const struct shep_result *res, struct agq_locked *lp,
                          json_t *startev);

/* Lease ID locked into L for its start: still in active/NAME/, ours (a
 * lease made by a bare move is taken over, agq-spool(5), "Leases"), and a
 * valid task.  0; or -1: not to start, nothing locked (a file that is not
 * a task is rejected, agq_reject). */
static int
start_lock(struct runner *R, const char *id, struct agq_locked *l)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", me);
	if (agq_task_lock(sp, id, &hint, l) < 0) {
		if (errno == EBADMSG) {
			char *p = agq_spool_path(sp, "active/%s/%s.json", me, id);
			char name[80];
			snprintf(name, sizeof name, "%s.json", id);
			agq_reject(sp, p, name, id, "leased task file is not a "
			    "JSON object");
			free(p);
		}
		return -1;
	}
	json_t *t = l->task;
	const char *owner = json_string_value(json_object_get(t, "agent"));
	if (l->loc.state != AGQ_ST_ACTIVE || strcmp(l->loc.agent, me))
		goto out;
	if (!owner || strcmp(owner, me)) {
		/* A lease made by a bare move (agq-spool(5), "Leases"): this
		 * agent records it, bumping the generation, in the start
		 * rewrite (start).  An agent task needs the scheduler's route:
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
		agq_reject(sp, l->loc.path, name, id, err);
		goto out;
	}
	return 0;
out:
	agq_task_unlock(l);
	return -1;
}

/* Lease ID, ours, locked in L (generation GEN), that was started and
 * never finished: an earlier run of this agent died (its shepherd killed
 * the task), or this one could not record the result (a full disk); its
 * attempt is closed at NOW.  Returns 1 when that was its last attempt: it
 * has been moved to dead/, not to start; else 0. */
static int
close_interrupted(struct runner *R, const char *id, struct agq_locked *l,
                  json_int_t gen, int64_t now)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	json_t *t = l->task;
	json_t *last = agq_task_last_attempt(t);
	if (!agq_task_lease_started(t))
		return 0;
	static const char interrupted[] = "interrupted: its end was "
	    "not recorded (the agent died, or the disk was full)";
	agq_task_set_time(last, "finished", now);
	json_object_set_new(last, "error", json_string(interrupted));
	agq_journal_w(sp, "finish", id, json_pack("{s:s, s:I, s:s}",
	    "agent", me, "gen", gen, "error", interrupted));
	struct agq_lc d;
	if (!agq_lc_interrupted(t, me, &d))
		return 0;
	agq_lc_record(sp, l, &d);
	return 1;
}

/* Lease L, ours, whose interrupted run was closed (close_interrupted)
 * with attempts left, taken up again as a new lease: its generation
 * increased, recorded and journaled (`restart`) before the new run gets
 * it as AGQ_GENERATION, so a writer holding the old one is fenced out
 * (agq-run(8), "Fencing").  The new generation into *GEN.  0; or -1: not
 * to start now (not_started; the lease stays, interrupted, to retry). */
static int
restart_lease(struct runner *R, struct agq_locked *l, json_int_t *gen)
{
	struct agq_lc d;
	agq_lc_restart(l->task, R->o->agent, &d);
	if (agq_lc_record_here(R->sp, l, &d) < 0) {
		not_started(R, errno);
		agq_syserr("cannot record the restart", l->loc.path);
		return -1;
	}
	*gen = d.gen;
	return 0;
}

/* The output directory OUTDIR of lease ID, locked in L (generation GEN),
 * opened, the spare one when SPARE, and its stdout and stderr into *OFD
 * and *EFD.  0; or -1: not to start, its start record RW aborted.  A full
 * disk leaves the lease to start once there is room (not_started); an
 * unusable directory (a symlink or a file in its place) fails the attempt
 * recorded in L, and the task goes to dead/. */
static int
start_out(struct runner *R, const char *id, struct agq_locked *l,
          struct agq_rewrite *rw, int spare, const char *outdir,
          json_int_t gen, int *ofd, int *efd, const struct agq_runas *ra)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	json_t *t = l->task;
	/* never through a symlink; the spare directory when there is one */
	int odfd = agq_out_open_spare(sp, id, 1, spare ? R->spare_out : NULL);
	if (odfd < 0) {
		int e = errno;
		agq_task_rewrite_abort(rw);
		if (e == ENOSPC || e == EDQUOT) {
			/* A full disk (or no inode left): the lease stays,
			 * to start once there is room (agq-run(8)). */
			not_started(R, e);
			errno = e;
			agq_syserr("cannot create output directory", outdir);
			return -1;
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
		if (agq_lc_record(sp, l, &d) < 0)
			agq_syserr("cannot move to dead/", l->loc.path);
		return -1;
	}
	/* the previous attempt's output kept as stdout.N (agq-spool(5)) */
	int n = agq_out_attempts(t);
	if (n > 1 && agq_out_keep(odfd, n - 1) < 0)
		agq_syserr("cannot keep the previous attempt's output", outdir);
	*ofd = open_out(odfd, outdir, "stdout");
	*efd = open_out(odfd, outdir, "stderr");
	if (*ofd >= 0 && *efd >= 0)
		runas_chown(ra, odfd, *ofd, *efd, outdir);
	close(odfd);
	if (*ofd < 0 || *efd < 0) {
		not_started(R, errno);
		if (*ofd >= 0) close(*ofd);
		if (*efd >= 0) close(*efd);
		agq_task_rewrite_abort(rw);
		return -1;
	}
	return 0;
}

/* A lease made ready to start (start_prepare): its task locked in L with
 * its attempt appended, whom it runs as (RA), its start record begun (RW,
 * not committed), its output directory OUTDIR (malloc'd) with stdout OFD
 * and stderr EFD open. */
struct prepared {
	struct agq_locked l;
	struct agq_runas ra;
	struct agq_rewrite rw;
	json_int_t gen;
	int attempt;
	int64_t now;
	char *outdir;
	int ofd, efd;
};

/* Lease ID made ready to start into P, if it is still ours to start: what
 * the local start (start) and a remote agent's (agq_remote_agent_start)
 * share.  0; or -1: not to start, nothing held (the lease left as it was,
 * not_started, or the task ended: dead/, out of attempts or no usable
 * output directory). */
static int
start_prepare(struct runner *R, const char *id, struct prepared *p)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	struct agq_locked *l = &p->l;
	memset(p, 0, sizeof *p);
	if (start_lock(R, id, l) < 0)
		return -1;
	json_t *t = l->task;
	char why[600];
	if (agq_runas_get(R->spool_uid, t, &p->ra, why, sizeof why) < 0) {
		char name[80];
		snprintf(name, sizeof name, "%s.json", id);
		agq_reject(sp, l->loc.path, name, id, why);
		goto out;
	}
	p->gen = agq_task_int(t, "generation", 0);
	p->now = agq_now_us();
	json_t *att = json_object_get(t, "attempts");
	if (!json_is_array(att)) {
		att = json_array();
		json_object_set_new(t, "attempts", att);
	}
	int resumed = agq_task_lease_started(t);
	if (close_interrupted(R, id, l, p->gen, p->now))
		goto out;
	if (resumed && restart_lease(R, l, &p->gen) < 0)
		goto out;
	p->attempt = (int)json_array_size(att) + 1;
	char t1[32];
	json_array_append_new(att, json_pack("{s:s, s:s, s:I, s:s}",
	    "agent", me, "host", R->remote_host ? R->remote_host :
	    agq_hostname(), "generation", p->gen,
	    "started", agq_fmt_time(p->now, t1)));
	json_object_set_new(t, "reason", json_string("running"));
	/* The start record is written now, so a full disk shows before
	 * anything starts, and made durable (fsync, rename) once the task is
	 * on its way: the fsync is off the path from lease to start.  A start
	 * whose record cannot be committed is stopped and not counted. */
	int spare = R->spare_ok;        /* used up now, made again when idle */
	R->spare_ok = 0;
	if ((spare ? agq_task_rewrite_begin_spare(sp, l, &p->rw,
	    R->spare_tmp) : agq_task_rewrite_begin(sp, l, &p->rw)) < 0) {
		not_started(R, errno);
		agq_syserr("cannot record the start", l->loc.path);
		goto out;
	}
	p->outdir = agq_spool_path(sp, "out/%s", id);
	if (start_out(R, id, l, &p->rw, spare, p->outdir, p->gen,
	    &p->ofd, &p->efd, &p->ra) < 0) {
		free(p->outdir);
		goto out;
	}
	return 0;
out:
	agq_runas_free(&p->ra);
	agq_task_unlock(l);
	return -1;
}

/* Start lease ID, if it is still ours to start: its attempt recorded in a
 * start record written now (committed by commit_starts), its output
 * directory opened, and the task handed to the shepherd.  A start that
 * fails leaves the lease as it was (not_started) or ends the task (dead/,
 * out of attempts or no usable output directory). */
static void
start(struct runner *R, const char *id)
{
	struct prepared p;
	if (start_prepare(R, id, &p) < 0)
		return;
	uint64_t seq = ++R->seq;
	char why[sizeof ((struct shep_result *)0)->why] = "";
	int fail = send_start(R, seq, p.l.task, p.outdir, p.ofd, p.efd, p.gen,
	    p.attempt, &p.ra, why, sizeof why);
	agq_runas_free(&p.ra);
	close(p.ofd);
	close(p.efd);
	free(p.outdir);
	if (fail < 0) {
		agq_syserr("cannot pass the task to the shepherd", NULL);
		agq_task_rewrite_abort(&p.rw);
		agq_task_unlock(&p.l);
		return;
	}
	struct job *j = &R->jobs[R->njobs++];
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	j->gen = p.gen;
	j->seq = seq;
	j->started_us = p.now;
	if (fail) {             /* it ends without having run */
		j->exited = 1;
		j->res.status = fail << 8;
		memcpy(j->res.why, why, sizeof why);
	}
	/* committed by commit_starts, after the results of this turn; the
	 * task stays locked until then */
	j->pending = 1;
	j->l = p.l;
	j->rw = p.rw;
	j->attempt = p.attempt;
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
			if (!j->held)   /* else recorded later (record_ended) */
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

/* out/ID/result.json from RES.  0, or -1 with errno, reported unless
 * QUIET (a held result tried again). */
static int
write_result(struct runner *R, const char *id, json_t *res, int quiet)
{
	char *p = agq_spool_path(R->sp, "out/%s/result.json", id);
	char *s = json_dumps(res, JSON_INDENT(2));
	int rc = -1;
	if (!s) {
		errno = ENOMEM;
	} else {
		char *buf = agq_xasprintf("%s\n", s);
		rc = agq_out_write(R->sp, id, "result.json", buf, strlen(buf));
		if (rc < 0 && !quiet)
			agq_syserr("cannot write result", p);
		free(buf);
		free(s);
	}
	int e = errno;
	free(p);
	errno = e;
	return rc;
}

/* Record J's result RES (finish_locked), unless it is fenced: 1 then (a
 * `stale` event journaled), else 0. */
static int
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
	else    /* the fence (agq-run(8), "Fencing") */
		stale = agq_lc_stale(l.task, l.loc.state, l.loc.agent, me,
		    j->gen);
	json_t *sev = j->startev;       /* a held result's (finish_locked) */
	j->startev = NULL;
	if (stale) {
		agq_journal_w(sp, "stale", id, json_pack("{s:s, s:I, s:s, s:i}",
		    "agent", me, "gen", j->gen, "reason", stale,
		    "exit", code));
		if (l.task)
			agq_task_unlock(&l);
		json_decref(sev);
		json_decref(j->att);
		j->att = NULL;
		j->held = 0;
		return 1;
	}
	if (j->att) {   /* held before its start record was committed */
		json_array_append_new(json_object_get(l.task, "attempts"),
		    j->att);
		j->att = NULL;
	}
	finish_locked(R, j, res, &l, sev);
	return 0;
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
    "tokens_in", "tokens_out", "cost_usd", "session_id", NULL };

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
	static const char *const gitkey[] = { "git", NULL };
	copy_keys(last, o->ag, gitkey);
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
		    "verify", "iterations", "git", "cleanup_error", "not_before",
		    "account", "verdict", "forge_review", "forge_error", NULL };
		const char *agst = json_string_value(json_object_get(o->ag,
		    "status"));
		copy_keys(r, o->ag, more);
		json_object_set_new(r, "agent_status", json_string(agst ? agst :
		    "unknown"));
	}
	return r;
}

/* The planner (agq-task(5), role "plan"): a plan task T whose attempt
 * ended with exit 0 (O) has its answer submitted (agq_submit_planner)
 * before it is recorded, so that done means its tasks exist.  A refused
 * plan (or one that could not be submitted) fails the attempt: O's
 * exit 1 and agent report with status "plan_refused" and the reason,
 * and T's plan_feedback set for the next attempt's prompt; a plan taken
 * clears it.  Returns the ids submitted (a new array), or NULL. */
static json_t *
plan_step(struct runner *R, json_t *t, struct agq_lc_outcome *o)
{
	const char *role = json_string_value(json_object_get(t, "role"));
	const char *agst = json_string_value(json_object_get(o->ag, "status"));
	if (!role || strcmp(role, "plan") || !o->exited || o->code != 0 ||
	    o->timed_out || o->handback || (agst && (!strcmp(agst,
	    AGQ_LC_GATE_REVIEW) || !strcmp(agst, AGQ_LC_GATE_APPROVAL))))
		return NULL;    /* not ending done: stopped at a gate */
	char err[2048];
	json_t *ids = NULL;
	int r = agq_submit_planner(R->sp, t, &ids, err, sizeof err);
	if (r == 0) {
		json_object_del(t, "plan_feedback");
		return ids;
	}
	json_t *ag = o->ag ? json_deep_copy(o->ag) : json_object();
	json_object_set_new(ag, "status", json_string("plan_refused"));
	json_object_set_new(ag, "error", json_sprintf("plan %s: %s", r > 0 ?
	    "refused" : "not submitted", err));
	json_decref((json_t *)o->ag);
	o->ag = ag;
	o->code = 1;
	if (r > 0)
		json_object_set_new(t, "plan_feedback", json_sprintf("Your plan "
		    "was refused: %s.  Answer again with the whole plan: a JSON "
		    "array of tasks (agq-task(5) fields; \"after\" may hold "
		    "indexes into the array, from 0).", err));
	return NULL;
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
	/* a held result keeps the time it first came */
	int64_t now = j->ended_us ? j->ended_us : agq_now_us();
	j->ended_us = now;
	json_int_t dur = (now - j->started_us) / 1000;
	json_t *sev_copy = startev ? json_deep_copy(startev) : NULL;
	int st = res->status;
	json_t *t = lp->task;
	struct agq_lc_outcome o = { .agent = R->o->agent, .gen = j->gen,
	    .exited = WIFEXITED(st), .code = WIFEXITED(st) ?
	    WEXITSTATUS(st) : -1, .sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	    .timed_out = res->timed_out, .handback = j->handback,
	    .why = res->why,
	    .ag = agq_task_attempted(t) && !j->handback ? agent_report(sp, id) :
	    NULL, .random = agq_random };
	close_attempt(agq_task_last_attempt(t), &o, now, dur);
	json_t *planned = plan_step(R, t, &o);
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
	char herr[700] = "";
	json_t *hout = d.to == AGQ_ST_DONE ? agq_mission_handoff_take(sp, id,
	    herr, sizeof herr) : NULL;
	if (hout)       /* for its dependents (agq-task(5), handoff) */
		json_object_set_new(t, "handoff_out", hout);
	/* a review task's verdict: into the task as it goes done, journaled
	 * after the done event */
	json_t *rev = d.to == AGQ_ST_DONE ? agq_lc_review_event(t, o.ag,
	    o.agent) : NULL;
	if (rev)
		json_object_set(t, "verdict", json_object_get(o.ag, "verdict"));
	if (agq_lc_pause(sp, &d, now) < 0)      /* before the task is seen */
		agq_syserr("cannot pause the backend", "throttle/");
	json_t *r = result_doc(j, t, &o, &d, now, dur);
	if (planned)
		json_object_set_new(r, "plan", planned);
	if (herr[0])
		json_object_set_new(r, "handoff_error", json_string(herr));
	/* result.json first, then the move: whoever sees the task in its
	 * new state (agq-wait) finds the result beside it. */
	int ended = 0;
	int was_held = j->held;
	int wr = write_result(R, id, r, was_held) < 0 &&
	    agq_errno_infra(errno) ? -1 : 0;   /* a full disk: not recorded */
	j->held = 0;
	if (wr == 0 && agq_task_transition(sp, lp, d.to, d.lane, NULL,
	    d.reason) == 0) {
		agq_jbatch_add(&jb, d.event, id, d.ev);
		if (rev)
			agq_jbatch_add(&jb, "review", id, rev);
		rev = NULL;
		ended = 1;
	} else if (agq_errno_infra(errno) && !R->stop_requested) {
		/* The storage failed, not the task: the result is held and
		 * recorded once the spool can be written (record_ended),
		 * the attempt counted once, as it ended (agq-run(8), "A full
		 * disk"); nothing of it is journaled meanwhile. */
		int e = errno;
		j->held = 1;
		R->held_at = agq_mono_us() + 1000000;
		if (startev) {  /* its start record was never committed */
			j->att = json_deep_copy(agq_task_last_attempt(t));
			j->startev = sev_copy;
			sev_copy = NULL;
		}
		int dfd = agq_out_open(sp, id, 0);
		if (dfd >= 0) {
			(void)unlinkat(dfd, "result.json", 0);
			close(dfd);
		}
		if (!was_held) {
			errno = e;
			agq_syserr("cannot record the result, held", lp->loc.path);
		}
		degrade(R, "cannot record the result", lp->loc.path, e);
		json_decref(d.ev);
		json_decref(jb.events);
		jb.events = NULL;
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
	/* a git task of a mission done: its mission's PR, once the task is
	 * unlocked (agq-mission pr is waited for) */
	char *mpr = ended && d.to == AGQ_ST_DONE && json_object_get(t, "git") &&
	    json_is_string(json_object_get(t, "mission")) ? agq_xstrdup(
	    json_string_value(json_object_get(t, "mission"))) : NULL;
	if (ended)      /* done or dead: the task's notify hook, last */
		agq_lc_notify(sp, id, t, &d);
	json_decref(rev);
	json_decref(sev_copy);
	json_decref((json_t *)o.ag);
	json_decref(r);
	agq_task_unlock(lp);
	if (mpr)
		mission_pr(sp, mpr, R->o->agent);
	free(mpr);
}

/* Mission MID, whose tasks share one branch and one PR (pr_unit
 * "mission", agq-mission(1)), has none yet and is done: `agq-mission -s
 * SPOOL pr MID` run for agent AGENT (in $AGQ_AGENT), waited for; it
 * opens the PR once however many agents run it (taskgit.h,
 * agq_taskgit_mission_pr).  A failure is its message on standard error;
 * the next agq-run's start, or agq-mission show, tries again. */
static void
mission_pr(const struct agq_spool *sp, const char *mid, const char *agent)
{
	json_t *m = agq_mission_read(sp, mid);
	const char *u = json_string_value(json_object_get(m, "pr_unit"));
	int go = u && !strcmp(u, "mission") && !json_object_get(m, "pr");
	json_decref(m);
	struct agq_mission_counts c;
	json_t *tasks = go ? agq_mission_tasks(sp, mid, &c) : NULL;
	go = tasks && agq_mission_state(&c) == AGQ_MS_DONE;
	json_decref(tasks);
	if (!go)
		return;
	char *path = agq_exe_path("agq-mission");
	if (!path)
		path = agq_xasprintf("%s/agq-mission", agq_bindir);
	char *ag = agq_xasprintf("AGQ_AGENT=%s", agent);
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = agq_xmalloc((n + 2) * sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "AGQ_AGENT=", 10))
			env[k++] = environ[i];
	env[k++] = ag;
	env[k] = NULL;
	char *argv[] = { "agq-mission", "-s", (char *)sp->root, "pr",
	    (char *)mid, NULL };
	pid_t pid;
	int e = posix_spawn(&pid, path, NULL, NULL, argv, env);
	if (e) {
		errno = e;
		agq_syserr("cannot run agq-mission pr", path);
	} else {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	free(env);
	free(ag);
	free(path);
}

/* agq-run's start: every mission's PR that a crash after its last push
 * left unopened (mission_pr). */
static void
missions_pending(const struct agq_spool *sp, const char *agent)
{
	json_t *ids = agq_mission_ids(sp);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		mission_pr(sp, json_string_value(v), agent);
	json_decref(ids);
}

/* The jobs whose task ended, from the shepherd's EXIT messages: marked
 * exited with their result, recorded after the next starts
 * (record_ended).  EOF: the shepherd died (shep_lost). */
static void
reap(struct runner *R)
{
	uint64_t seq;
	struct shep_result r;
	int got;
	while ((got = agq_shep_recv(&R->shep, &seq, &r)) > 0) {
		for (int i = 0; i < R->njobs; i++) {
			struct job *j = &R->jobs[i];
			if (j->seq == seq && !j->exited) {
				j->exited = 1;
				j->res = r;
				break;
			}
		}
	}
	if (got < 0)
		shep_lost(R);
}

/* ---- the loop ----------------------------------------------------------- */

struct lease_scan { struct runner *R; int collect; };

/* Hand back lease ID, not started, to the queue (the runner is
 * draining): its generation bumped, a handback journaled. */
static void
hand_back(struct runner *R, const char *id)
{
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", R->o->agent);
	struct agq_locked l;
	if (agq_task_lock(R->sp, id, &hint, &l) < 0)
		return;
	if (l.loc.state == AGQ_ST_ACTIVE && !strcmp(l.loc.agent, R->o->agent)) {
		struct agq_lc d;
		agq_lc_handback_unstarted(l.task, R->o->agent, &d);
		agq_lc_record(R->sp, &l, &d);
	}
	agq_task_unlock(&l);
}

/* NAME, an entry of active/NAME/: 1 when it is a lease (ID.json) that
 * is none of R's jobs, its id into ID (65 bytes); else 0. */
static int
lease_name(struct runner *R, const char *name, char *id)
{
	size_t n = strlen(name);
	if (n <= 5 || n - 5 > 64 || strcmp(name + n - 5, ".json"))
		return 0;
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	return agq_id_valid(id) && job_find(R, id) < 0;
}

static int
lease_each(const char *name, void *arg)
{
	struct lease_scan *ls = arg;
	struct runner *R = ls->R;
	char id[65];
	if (!lease_name(R, name, id))
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
		hand_back(R, id);
		return 0;
	}
	int running = 0;
	for (int k = 0; k < R->njobs; k++)
		running += !R->jobs[k].exited;
	if (running >= R->o->slots || agq_mono_us() < R->room_at ||
	    R->shep.fd < 0 || (R->degraded_since && !R->o->once))
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

/* 1 when lease ID is no longer in active/NAME/ (cancelled or reclaimed). */
static int
lease_gone(struct runner *R, const char *id)
{
	char *p = agq_spool_path(R->sp, "active/%s/%s.json", R->o->agent, id);
	struct stat st;
	int gone = lstat(p, &st) < 0 && errno == ENOENT;
	free(p);
	return gone;
}

/* Stop the jobs whose task was moved away (cancelled or reclaimed). */
static void
check_gone(struct runner *R)
{
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (!j->stop_sent && lease_gone(R, j->id))
			shep_stop(R, j);
	}
}

/* Record the result of every task that ended (reap), and forget it; a
 * result held (the storage failed: job.held) is kept and tried again at
 * most once a second. */
static void
record_ended(struct runner *R)
{
	int due = agq_mono_us() >= R->held_at;
	for (int i = 0; i < R->njobs; i++) {
		struct job *j = &R->jobs[i];
		if (!j->exited || j->pending || (j->held && !due))
			continue;
		if (!j->unrecorded)
			finish(R, j, &j->res);
		if (j->held)
			continue;
		R->jobs[i--] = R->jobs[--R->njobs];
	}
}

/* The agent's lock, .agent-NAME.lock: its descriptor, or -1 (reported)
 * with errno (EWOULDBLOCK: the agent runs already). */
static int
agent_lock(struct agq_spool *sp, const char *agent)
{
	char lockname[80];
	snprintf(lockname, sizeof lockname, "agent-%s", agent);
	/* A predecessor killed a moment ago may not have exited yet: wait
	 * for its lock a little before calling the name taken. */
	int lock = -1;
	for (int i = 0; i < 20; i++) {
		lock = agq_spool_flock(sp, lockname, 0);
		if (lock >= 0 || errno != EWOULDBLOCK)
			break;
		usleep(100000);
	}
	if (lock < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			agq_warn("agent %s is already running on this spool "
			    "(%s/.%s.lock)", agent, sp->root, lockname);
		else
			agq_spool_syserr(sp, "cannot lock", ".%s.lock",
			    lockname);
		errno = e;
	}
	return lock;
}

/* The agent's name claimed across hosts (agq_agent_claim: flock(2) only
 * excludes the agents of this host when the spool is on NFS): its agent
 * file linked in, what it replaced in R->claimed.  0; or -1 (reported)
 * with errno, EEXIST when a live agent of another host or boot has it. */
static int
claim_name(struct runner *R)
{
	struct agq_spool *sp = R->sp;
	json_t *a = agent_file(R, NULL);
	int r = agq_agent_claim(sp, a, agq_server_now_us(sp), sp->conf.lease_s,
	    &R->claimed);
	int e = errno;
	json_decref(a);
	if (r < 0 && e == EEXIST) {
		json_t *o = R->claimed.old;
		const char *h = agq_shown_get(o, "host");
		agq_warn("agent %s is already running on host %s (pid %lld): "
		    "its heartbeat is younger than its lease (%g s) (%s/agents/"
		    "%s.json)", R->o->agent, h ? h : "?", (long long)
		    agq_task_int(o, "pid", 0), agq_agent_lease_s(o,
		    sp->conf.lease_s), sp->root, R->o->agent);
	} else if (r < 0) {
		agq_spool_syserr(sp, "cannot claim the agent's name",
		    "agents/%s.json", R->o->agent);
		if (agq_errno_infra(e)) {
			/* a full disk: start degraded, on the local lock;
			 * another host's live file there still stops it at
			 * its first heartbeat (still_mine) */
			json_decref(R->claimed.old);
			memset(&R->claimed, 0, sizeof R->claimed);
			return 0;
		}
	}
	if (r < 0) {
		json_decref(R->claimed.old);
		R->claimed.old = NULL;
	}
	errno = e;
	return r;
}

/* R set up to run: the agent's lock held (R->lockfd), active/NAME/ made,
 * the shepherd started, its signals caught and active/NAME/ watched
 * (wake.c).  0; or the exit status, reported, with none of them left. */
static int
runner_open(struct runner *R)
{
	struct agq_spool *sp = R->sp;
	const char *me = R->o->agent;
	R->shep = (struct agq_shep){ -1, -1, 0 };
	R->lockfd = agent_lock(sp, me);
	if (R->lockfd < 0)      /* a read-only spool is 77 (agq(7)) */
		return errno == EWOULDBLOCK ? EX_TEMPFAIL :
		    agq_exit_code(errno);
	if (claim_name(R) < 0) {
		close(R->lockfd);
		return errno == EEXIST ? EX_TEMPFAIL : agq_exit_code(errno);
	}
	char *adir = agq_spool_path(sp, "active/%s", me);
	int rc = 0;
	if (agq_mkdir_mode(adir, 0700) < 0 && errno != EEXIST) {
		agq_syserr("cannot create directory", adir);
		rc = agq_exit_code(errno);
		goto out;
	}
	free(adir);
	adir = NULL;
	/* the shepherd, forked while the runner is small; it closes all the
	 * runner's descriptors (the lock above all) */
	if (agq_shep_spawn(&R->shep) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	agq_signals_catch(on_signal, 0, SIGTERM, SIGINT, SIGCHLD, 0);
	signal(SIGPIPE, SIG_IGN);
	char rel[80];
	snprintf(rel, sizeof rel, "active/%s", me);
	const struct agq_watch w[] = { { rel, IN_MOVED_TO | IN_CREATE |
	    IN_MOVED_FROM | IN_DELETE }, { NULL, 0 } };
	if (agq_waiter_setup(&R->wt, sp, w, R->o->poll_s,
	    R->o->once, !R->o->once) < 0) {
		agq_shep_end(&R->shep);
		rc = EX_OSERR;
	}
out:
	free(adir);
	if (rc)
		close(R->lockfd);
	return rc;
}

/* The agent file R's name claim replaced (R->claimed), when it was
 * another host's or boot's, judged dead: agent_replaced journaled, and 1;
 * else 0. */
static int
claimed_replaced(struct runner *R)
{
	json_t *prev = R->claimed.old;
	if (!R->claimed.other)
		return 0;
	const char *pst = json_string_value(json_object_get(prev, "state"));
	char why[160];
	snprintf(why, sizeof why, pst && !strcmp(pst, "down") ?
	    "it stopped (state down)" : "its heartbeat was older than "
	    "its lease (%g s)", agq_agent_lease_s(prev, R->sp->conf.lease_s));
	agq_journal_w(R->sp, "agent_replaced", NULL, json_pack("{s:s, "
	    "s:O?, s:O?, s:O?, s:s}", "agent", R->o->agent, "old_host",
	    json_object_get(prev, "host"), "old_boot_id",
	    json_object_get(prev, "boot_id"), "old_pid",
	    json_object_get(prev, "pid"), "reason", why));
	return 1;
}

/* The agent's start: its first heartbeat, and agent_up journaled, but not
 * for a --once run of an agent whose last run is still alive (cron). */
static void
runner_up(struct runner *R)
{
	struct agq_spool *sp = R->sp;
	const struct agq_run_opts *o = R->o;
	json_t *prev = R->claimed.old;
	const char *pst = prev ? json_string_value(json_object_get(prev,
	    "state")) : NULL;
	int was_alive = R->claimed.old_alive;
	int was_offline = pst && !strcmp(pst, "offline");
	if (claimed_replaced(R))
		was_alive = 0;
	json_decref(prev);      /* pst is borrowed from prev: not used below */
	R->claimed.old = NULL;
	heartbeat(R, NULL);
	if (!o->once || !was_alive || was_offline)
		agq_journal_w(sp, "agent_up", NULL, json_pack("{s:s, s:O, s:i, "
		    "s:s}", "agent", o->agent, "capabilities", o->caps, "slots",
		    o->slots, "mode", o->once ? "once" : "daemon"));
	if (o->once) {
		R->once_ids = json_array();
		scan_leases(R, 1);
	}
}

/* One turn of the runner's loop: the ended jobs reaped, signals acted on,
 * leases started, results and start records recorded, a heartbeat when
 * due.  Returns 1 when the runner is done (drained, or --once and every
 * lease from the start run). */
static int
runner_turn(struct runner *R)
{
	if (R->replaced)        /* its name is another agent's now */
		return 1;
	reap(R);
	if (R->shep.fd < 0 && !R->draining &&
	    agq_mono_us() >= R->shep.respawn_at)
		(void)agq_shep_spawn(&R->shep);
	if (got_term && !R->draining) {
		R->draining = 1;
		heartbeat(R, NULL);
	}
	if (got_term > 1 && !R->stop_requested) {
		R->stop_requested = 1;
		for (int i = 0; i < R->njobs; i++) {
			R->jobs[i].handback = 1;
			shep_stop(R, &R->jobs[i]);
		}
	}
	/* a slot freed by a task that ended goes to the next lease
	 * (prefetched: already here) before the result is recorded, so the
	 * record's fsyncs overlap the next task */
	scan_leases(R, 0);
	record_ended(R);
	commit_starts(R);
	check_gone(R);
	int64_t mono = agq_mono_us();
	/* a heartbeat when due, and soon when the state changed (busy to
	 * idle when its last task was recorded): agq-status(1) and the
	 * dashboard show what the agent does, not what it did a beat ago;
	 * at most 5 a second, so back-to-back short tasks write no more */
	if (mono - R->last_hb >= (int64_t)(R->o->heartbeat_s * 1e6) ||
	    (R->last_state && strcmp(R->last_state, state_now(R)) &&
	    mono - R->last_hb >= 200000)) {
		heartbeat(R, NULL);
		R->last_hb = mono;
	}
	if (R->njobs == 0) {
		if (R->draining)
			return 1;
		/* --once: done when every lease from the start has been run
		 * (or could not be) */
		if (R->o->once && json_array_size(R->once_ids) == 0)
			return 1;
	}
	return 0;
}

int
agq_runner(struct agq_spool *sp, const struct agq_run_opts *o)
{
	struct runner R;
	memset(&R, 0, sizeof R);
	R.sp = sp;
	R.o = o;
	R.started_us = agq_now_us();
	R.secrets = agq_conf_secrets(&sp->conf);
	R.spool_uid = agq_runas_spool_uid(sp->root);
	if (!o->once) {         /* --once starts what it finds, then exits */
		R.spare_tmp = agq_spool_path(sp, "tmp/.spare-%s", o->agent);
		snprintf(R.spare_out, sizeof R.spare_out, ".spare-%s",
		    o->agent);
	}
	/* the running, and as many ended whose result is being recorded */
	R.jobs = calloc((size_t)o->slots * 2, sizeof *R.jobs);
	if (!R.jobs)
		agq_die(EX_OSERR, "out of memory");
	int rc = runner_open(&R);
	if (rc) {
		free(R.jobs);
		free(R.spare_tmp);
		agq_conf_secrets_free(R.secrets);
		return rc;
	}
	runner_up(&R);
	missions_pending(sp, o->agent);
	R.last_hb = agq_mono_us();
	for (;;) {
		got_chld = 0;
		if (runner_turn(&R))
			break;
		if (got_chld)
			continue;
		make_spare(&R);
		/* One event (or a signal, or a second) per turn: in this
		 * libinotifytools a timeout of 0 blocks, so there is no
		 * non-blocking drain; each wake-up rescans active/NAME/. */
		(void)agq_waiter_next(&R.wt);
	}
	if (R.replaced) {
		/* nothing written: the agent file and active/NAME/ are the
		 * new holder's, who restarts the leases left there under a
		 * new generation (agq-run(8), "Fencing") */
	} else if (o->once) {
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
	agq_waiter_end(&R.wt);
	agq_shep_end(&R.shep);
	json_decref(R.once_ids);
	free(R.jobs);
	agq_conf_secrets_free(R.secrets);
	close(R.lockfd);
	return R.replaced ? EX_TEMPFAIL : o->once ? R.unrecorded : 0;
}

/* ---- a remote agent, on the spool's host (agq-remote) -------------------- */

/* agq-runner's state for a remote agent (agq-remote(8)): the same struct
 * runner, with no shepherd (its tasks run on the agent's host), whose jobs
 * are the tasks the agent says it runs (remote_running). */

struct runner *
agq_remote_agent_open(struct agq_spool *sp, const struct agq_run_opts *o,
                      const char *host, json_t *resources, int *rc)
{
	struct runner *R = calloc(1, sizeof *R);
	if (!R || !(R->jobs = calloc((size_t)o->slots * 2, sizeof *R->jobs)))
		agq_die(EX_OSERR, "out of memory");
	R->sp = sp;
	R->o = o;
	R->started_us = agq_now_us();
	R->spool_uid = agq_runas_spool_uid(sp->root);
	R->remote_host = host;
	R->shep = (struct agq_shep){ -1, -1, 0 };
	*rc = 0;
	R->remote_res = json_incref(resources);
	R->lockfd = agent_lock(sp, o->agent);
	if (R->lockfd >= 0 && claim_name(R) < 0) {
		int e = errno;
		close(R->lockfd);
		R->lockfd = -1;
		errno = e == EEXIST ? EWOULDBLOCK : e;
	}
	if (R->lockfd < 0) {
		*rc = errno == EWOULDBLOCK ? EX_TEMPFAIL : agq_exit_code(errno);
		json_decref(R->remote_res);
		free(R->jobs);
		free(R);
		return NULL;
	}
	(void)claimed_replaced(R);
	json_decref(R->claimed.old);
	R->claimed.old = NULL;
	char *adir = agq_spool_path(sp, "active/%s", o->agent);
	if (agq_mkdir_mode(adir, 0700) < 0 && errno != EEXIST) {
		agq_syserr("cannot create directory", adir);
		*rc = agq_exit_code(errno);
		free(adir);
		close(R->lockfd);
		json_decref(R->remote_res);
		free(R->jobs);
		free(R);
		return NULL;
	}
	free(adir);
	char rel[80];
	snprintf(rel, sizeof rel, "active/%s", o->agent);
	const struct agq_watch w[] = { { rel, IN_MOVED_TO | IN_CREATE },
	    { NULL, 0 } };
	(void)agq_watch_spool(sp, w);   /* else next polls once a second */
	heartbeat(R, NULL);
	agq_journal_w(sp, "agent_up", NULL, json_pack("{s:s, s:O, s:i, s:s, "
	    "s:s}", "agent", o->agent, "capabilities", o->caps, "slots",
	    o->slots, "mode", "remote", "host", host));
	return R;
}

/* R's jobs: the tasks of RUNNING (an array of ids), the agent's own
 * account of what it runs, as many as R has room for. */
static void
remote_running(struct runner *R, const json_t *running)
{
	size_t i;
	json_t *v;
	R->njobs = 0;
	json_array_foreach(running, i, v) {
		const char *id = json_string_value(v);
		if (R->njobs >= R->o->slots * 2 || !id || !agq_id_valid(id))
			continue;
		struct job *j = &R->jobs[R->njobs++];
		memset(j, 0, sizeof *j);
		snprintf(j->id, sizeof j->id, "%s", id);
	}
}

json_t *
agq_remote_agent_beat(struct runner *R, const json_t *running, int draining,
                      json_t *resources)
{
	remote_running(R, running);
	R->draining = draining;
	if (resources) {
		json_decref(R->remote_res);
		R->remote_res = json_incref(resources);
	}
	heartbeat(R, NULL);
	if (R->replaced)        /* its name is another agent's now */
		return NULL;
	json_t *gone = json_array();
	for (int i = 0; i < R->njobs; i++)
		if (lease_gone(R, R->jobs[i].id))
			json_array_append_new(gone, json_string(R->jobs[i].id));
	return gone;
}

struct remote_scan { struct runner *R; char *id; };

/* The first lease of active/NAME/ that is not one of R's jobs. */
static int
remote_each(const char *name, void *arg)
{
	struct remote_scan *rs = arg;
	return lease_name(rs->R, name, rs->id);
}

int
agq_remote_agent_next(struct runner *R, const json_t *running, double wait_s,
                      char *id)
{
	remote_running(R, running);
	int64_t end = agq_mono_us() + (int64_t)(wait_s * 1e6);
	char *d = agq_spool_path(R->sp, "active/%s", R->o->agent);
	struct remote_scan rs = { R, id };
	int found = 0;
	for (;;) {
		id[0] = '\0';
		if (agq_dir_each(d, remote_each, &rs) < 0 && errno != ENOENT)
			agq_syserr("cannot read directory", d);
		if ((found = id[0] != '\0') || agq_mono_us() >= end)
			break;
		(void)inotifytools_next_event(1);
	}
	free(d);
	return found;
}

int
agq_remote_agent_start(struct runner *R, const char *id, json_t **task,
                       json_int_t *gen, int *attempt, char *why, size_t size)
{
	struct prepared p;
	R->start_errno = 0;
	agq_errf(why, size, "not leased to this agent, not a valid task, or "
	    "out of attempts");
	if (start_prepare(R, id, &p) < 0) {
		if (R->start_errno)
			agq_errf(why, size, "the spool cannot record the start: "
			    "%s", strerror(R->start_errno));
		return -1;
	}
	agq_runas_free(&p.ra);
	close(p.ofd);
	close(p.efd);
	free(p.outdir);
	if (agq_task_rewrite_commit(R->sp, &p.l, &p.rw) < 0) {
		not_started(R, errno);
		agq_errf(why, size, "the spool cannot record the start: %s",
		    strerror(errno));
		agq_syserr("cannot record the start", p.l.loc.path);
		agq_task_unlock(&p.l);
		return -1;
	}
	agq_journal_w(R->sp, "start", id, json_pack("{s:s, s:I, s:i}", "agent",
	    R->o->agent, "gen", p.gen, "attempt", p.attempt));
	*task = json_deep_copy(p.l.task);
	*gen = p.gen;
	*attempt = p.attempt;
	agq_task_unlock(&p.l);
	return 0;
}

/* Lease ID locked in L if it is R's agent's with generation GEN: 0; else
 * 1, nothing locked, and *WHY (static) the reason. */
static int
remote_fence(struct runner *R, const char *id, json_int_t gen,
             struct agq_locked *l, const char **why)
{
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", R->o->agent);
	if (agq_task_lock(R->sp, id, &hint, l) < 0) {
		*why = "the task is gone";
		return 1;
	}
	*why = agq_lc_stale(l->task, l->loc.state, l->loc.agent, R->o->agent,
	    gen);
	if (*why)
		agq_task_unlock(l);
	return *why != NULL;
}

int
agq_remote_agent_output(struct runner *R, const char *id, json_int_t gen,
                        const char *name, int64_t off, const void *buf,
                        size_t len, const char **why)
{
	struct agq_locked l;
	if (remote_fence(R, id, gen, &l, why))
		return 1;
	int rc = -1;
	int dfd = agq_out_open(R->sp, id, 1);
	int fd = dfd < 0 ? -1 : openat(dfd, name, O_WRONLY | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	struct stat st;
	if (fd >= 0 && off > 0 && fstat(fd, &st) == 0 && off > st.st_size) {
		errno = EINVAL;         /* a hole: never, a chunk is missing */
	} else if (fd >= 0 && (off > 0 || ftruncate(fd, 0) == 0)) {
		size_t done = 0;
		ssize_t w = 0;
		while (done < len && (w = pwrite(fd, (const char *)buf + done,
		    len - done, (off_t)(off + (int64_t)done))) > 0)
			done += (size_t)w;
		rc = done == len ? 0 : -1;
	}
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	agq_task_unlock(&l);
	*why = rc ? strerror(e) : NULL;
	errno = e;
	return rc;
}

int
agq_remote_agent_result(struct runner *R, const char *id, json_int_t gen,
                        int status, int timed_out, int handback,
                        const char *never_ran,
                        const char **why)
{
	struct agq_locked l;
	if (remote_fence(R, id, gen, &l, why)) {
		/* journaled as a local late result is (finish) */
		struct job j = { .gen = gen };
		snprintf(j.id, sizeof j.id, "%s", id);
		struct shep_result r = { .status = status };
		(void)finish(R, &j, &r);
		return 1;
	}
	if (!agq_task_lease_started(l.task)) {
		/* a result for a lease never started: nothing to record */
		agq_task_unlock(&l);
		*why = "the lease was not started";
		return 1;
	}
	struct job j = { .gen = gen, .handback = handback };
	snprintf(j.id, sizeof j.id, "%s", id);
	const char *st = json_string_value(json_object_get(
	    agq_task_last_attempt(l.task), "started"));
	if (!st || agq_parse_time(st, &j.started_us) < 0)
		j.started_us = agq_now_us();
	agq_task_unlock(&l);
	struct shep_result r = { .status = status, .timed_out = timed_out };
	if (never_ran)          /* cut to fit, as the shepherd does */
		agq_errf(r.why, sizeof r.why, "%s", never_ran);
	if (finish(R, &j, &r)) {
		*why = "fenced";
		return 1;
	}
	json_decref(j.att);
	json_decref(j.startev);
	*why = j.held ? "the spool cannot be written: held, send it again" :
	    NULL;
	return j.held ? -1 : 0;
}

void
agq_remote_agent_close(struct runner *R, int bye)
{
	if (!R)
		return;
	if (bye && !R->replaced) {      /* a lost connection says nothing */
		R->njobs = 0;
		heartbeat(R, "down");
		agq_journal_w(R->sp, "agent_down", NULL, json_pack("{s:s, s:s}",
		    "agent", R->o->agent, "reason", "stopped"));
	}
	inotifytools_cleanup();
	close(R->lockfd);
	json_decref(R->remote_res);
	free(R->jobs);
	free(R);
}

/* ---- agq-run --via: running a task here for a spool elsewhere ------------ */

struct runner *
agq_runner_exec_new(struct agq_spool *sp, const struct agq_run_opts *o)
{
	struct runner *R = calloc(1, sizeof *R);
	if (!R)
		agq_die(EX_OSERR, "out of memory");
	R->sp = sp;
	R->o = o;
	R->secrets = agq_conf_secrets(&sp->conf);
	R->spool_uid = getuid();
	R->shep = (struct agq_shep){ -1, -1, 0 };
	R->lockfd = -1;
	return R;
}

int
agq_runner_exec(struct runner *R, struct agq_shep *shep, uint64_t seq,
                const json_t *t, const char *outdir, int ofd, int efd,
                json_int_t gen, int attempt, char *why, size_t size)
{
	struct agq_runas ra;
	memset(&ra, 0, sizeof ra);
	R->shep = *shep;
	int rc = send_start(R, seq, t, outdir, ofd, efd, gen, attempt, &ra,
	    why, size);
	R->shep = (struct agq_shep){ -1, -1, 0 };
	return rc;
}

void
agq_runner_exec_free(struct runner *R)
{
	if (!R)
		return;
	agq_conf_secrets_free(R->secrets);
	free(R);
}
