/*
 * via.c - agq-run --via ssh://[USER@]HOST[:PORT]/PATH (agq-run(8) REMOTE):
 * an agent that runs its tasks here, as agq-run does (runner.c's
 * agq_runner_exec, under the shepherd), while every spool operation goes
 * over one ssh(1) connection to agq-remote(8) on the spool's host
 * (remote.c's protocol).
 *
 * The connection is ssh with a fixed argv (agq_remote_ssh_argv), run with
 * posix_spawnp(3): no shell line is built here from any data.  Requests
 * are answered in order; each waits at most a deadline (the heartbeat plus
 * what it asked to wait, at least 10 s), after which the connection is
 * dropped.  A dropped connection changes nothing here: the tasks run on,
 * their output stays in the work directory, and the agent reconnects with
 * backoff (1 s doubling to 10 s), registers again and sends on; meanwhile
 * its heartbeat ages on the spool, and once past the lease agq-sched
 * reclaims its leases, so a result sent after that is fenced by its
 * generation (agq-remote answers "stale") and dropped here.
 *
 * A task's stdout and stderr go to WORK/out/ID/ here and are sent as they
 * grow, from the last byte the spool acknowledged (the output op's offset
 * makes a chunk sent twice harmless); agent.json, an agent task's report,
 * is sent once it has ended, then the result.  WORK/out/ID is removed
 * once the result is recorded or fenced.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "spool.h"
#include "out.h"
#include "resources.h"
#include "remote.h"
#include "shepherd.h"
#include "wake.h"
#include "runner.h"
#include "via.h"

extern char **environ;

struct vjob {
	char id[65];
	json_int_t gen;
	uint64_t seq;
	int exited, stopped;
	int fenced;             /* its output refused (stale): none sent */
	struct shep_result res;
	int64_t sent[2];        /* bytes of stdout, stderr the spool has */
};

struct via {
	struct agq_spool *sp;   /* the local work directory */
	const struct agq_run_opts *o;
	struct agq_remote_url url;
	const char *ssh;
	struct runner *X;
	struct agq_shep shep;
	pid_t pid;              /* ssh, or 0 */
	int to, from;           /* its stdin, its stdout */
	struct agq_rbuf rb;
	json_int_t next_id;
	struct vjob *jobs;
	int njobs;
	uint64_t seq;
	double hb_s;
	int64_t last_hb;        /* monotonic */
	int64_t retry_at;       /* the next connection attempt (monotonic) */
	int backoff_s;
	int64_t start_at;       /* the next lease taken after a failed start */
	int start_backoff_s;    /* its next wait: 1 s doubling to
	                         * START_BACKOFF_MAX */
	int draining, stop_requested;
	int replaced;           /* another agent has its name: exit 75 */
};

/* A backoff's next try: *AT (monotonic, µs) set *S seconds from now, and
 * *S doubled, at most MAX seconds (agq-run(8) REMOTE: 1 s, 2, 4 ...). */
static void
back_off(int64_t *at, int *s, int max)
{
	*at = agq_mono_us() + (int64_t)*s * 1000000;
	*s = *s * 2 > max ? max : *s * 2;
}

static volatile sig_atomic_t got_term;

static void
on_signal(int sig)
{
	if (sig != SIGCHLD)
		got_term++;
}

/* ---- the connection ------------------------------------------------------ */

static void
hang_up(struct via *V, const char *why)
{
	if (!V->pid)
		return;
	agq_warn("connection to %s lost: %s; reconnecting in %d s", V->o->via,
	    why, V->backoff_s);
	close(V->to);
	close(V->from);
	(void)kill(V->pid, SIGTERM);
	int st;
	while (waitpid(V->pid, &st, 0) < 0 && errno == EINTR)
		;
	V->pid = 0;
	agq_rbuf_free(&V->rb);
	back_off(&V->retry_at, &V->backoff_s, 10);
}

/* Send OP with FIELDS (taken) and wait up to WAIT_S for its answer: the
 * result (a new reference), or NULL with the error's code in CODE (64
 * bytes; "conn" when the connection failed, and it is dropped) and its
 * message in MSG (512). */
static json_t *
call(struct via *V, int op, json_t *fields, double wait_s, char *code,
     char *msg)
{
	strcpy(code, "conn");
	msg[0] = '\0';
	if (!V->pid) {
		json_decref(fields);
		snprintf(msg, 512, "not connected");
		return NULL;
	}
	json_int_t id = ++V->next_id;
	char *line = agq_remote_request(id, op, fields);
	int w = agq_write_all(V->to, line, strlen(line));
	free(line);
	if (w < 0) {
		hang_up(V, strerror(errno));
		return NULL;
	}
	int64_t end = agq_mono_us() + (int64_t)((wait_s + 10 + V->hb_s * 2) *
	    1e6);
	for (;;) {
		size_t len;
		int over;
		char *l = agq_rbuf_line(&V->rb, &len, &over);
		if (l) {
			json_int_t aid;
			json_t *r;
			int bad = agq_remote_answer(l, len, &aid, &r, code, 64,
			    msg, 512);
			free(l);
			if (bad || over) {
				hang_up(V, "agq-remote sent something that is "
				    "not an answer");
				strcpy(code, "conn");
				return NULL;
			}
			if (aid != id) {        /* an answer to nothing asked */
				json_decref(r);
				continue;
			}
			return r;
		}
		int64_t left = end - agq_mono_us();
		if (left <= 0) {
			hang_up(V, "no answer in time");
			return NULL;
		}
		struct pollfd p = { V->from, POLLIN, 0 };
		int n = poll(&p, 1, (int)(left / 1000) + 1);
		if (n < 0 && errno != EINTR) {
			hang_up(V, strerror(errno));
			return NULL;
		}
		if (n > 0) {
			ssize_t got = agq_rbuf_read(&V->rb, V->from);
			if (got == 0 || (got < 0 && errno != EINTR &&
			    errno != EAGAIN)) {
				hang_up(V, got ? strerror(errno) : "end of file");
				return NULL;
			}
		}
	}
}

/* The ids of the jobs still running, a new array. */
static json_t *
running(const struct via *V)
{
	json_t *a = json_array();
	for (int i = 0; i < V->njobs; i++)
		json_array_append_new(a, json_string(V->jobs[i].id));
	return a;
}

/* Start ssh and say hello and register: 0, or -1 (the connection
 * dropped, retried after the backoff). */
static int
dial(struct via *V)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	char port[8], alive[32];
	int alive_s = V->hb_s > 0 ? (int)V->hb_s + 1 : 5;
	char **argv = agq_remote_ssh_argv(&V->url, V->ssh, alive_s, port,
	    alive);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	pid_t pid;
	int e = posix_spawnp(&pid, V->ssh, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	free(argv);
	close(in[0]);
	close(out[1]);
	if (e) {
		close(in[1]);
		close(out[0]);
		errno = e;
		agq_syserr("cannot run ssh", V->ssh);
		back_off(&V->retry_at, &V->backoff_s, 10);
		return -1;
	}
	V->pid = pid;
	V->to = in[1];
	V->from = out[0];
	char code[64], msg[512];
	json_t *r = call(V, AGQ_R_HELLO, json_pack("{s:i}", "version",
	    AGQ_REMOTE_VERSION), 0, code, msg);
	if (r) {
		json_decref(r);
		json_t *f = json_pack("{s:s, s:O, s:i, s:s, s:i, s:o}", "agent",
		    V->o->agent, "caps", V->o->caps, "slots", V->o->slots,
		    "host", agq_hostname(), "prefetch", V->o->prefetch,
		    "resources", agq_host_resources());
		if (json_array_size(V->o->backends))
			json_object_set(f, "backends", V->o->backends);
		if (json_array_size(V->o->endpoints))
			json_object_set(f, "endpoints", V->o->endpoints);
		if (json_array_size(V->o->models))
			json_object_set(f, "models", V->o->models);
		if (V->o->cap_token)    /* the spool's scheduler verifies it */
			json_object_set_new(f, "cap_token", json_string(
			    V->o->cap_token));
		r = call(V, AGQ_R_REGISTER, f, 5, code, msg);
	}
	if (!r) {
		if (strcmp(code, "conn")) {
			agq_warn("%s: %s: %s", V->o->via, code, msg);
			hang_up(V, "refused");
		}
		return -1;
	}
	json_t *hb = json_object_get(r, "heartbeat_s");
	if (V->o->heartbeat_s <= 0 && json_is_number(hb) &&
	    json_number_value(hb) > 0)
		V->hb_s = json_number_value(hb);
	json_decref(r);
	V->backoff_s = 1;
	V->last_hb = agq_mono_us();
	agq_warn("agent %s registered on %s", V->o->agent, V->o->via);
	return 0;
}

/* ---- the jobs ------------------------------------------------------------ */

static void
job_stop(struct via *V, struct vjob *j)
{
	if (!j->stopped && !j->exited)
		agq_shep_stop(&V->shep, j->seq);
	j->stopped = 1;
}

/* Send what is new in J's local NAME (stdout, stderr; K its index in
 * J->sent) from the last byte acknowledged.  0; -1 when it could not be
 * sent (the connection dropped: sent again later). */
static int
send_output(struct via *V, struct vjob *j, const char *name, int k)
{
	char *p = agq_spool_path(V->sp, "out/%s/%s", j->id, name);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return 0;
	static char buf[AGQ_REMOTE_CHUNK];
	int rc = 0;
	for (;;) {
		int64_t off = k >= 0 ? j->sent[k] : 0;
		ssize_t n = pread(fd, buf, sizeof buf, (off_t)off);
		if (n <= 0 && (k >= 0 || off > 0 || n < 0))
			break;
		char code[64], msg[512];
		json_t *r = call(V, AGQ_R_OUTPUT, json_pack("{s:s, s:I, s:s, "
		    "s:I, s:o}", "task_id", j->id, "generation", j->gen, "name", name,
		    "offset", (json_int_t)off, "data", agq_remote_b64(buf,
		    (size_t)n)), 0, code, msg);
		if (!r) {
			if (!strcmp(code, "stale")) {
				j->fenced = 1;
				job_stop(V, j);
			} else if (strcmp(code, "conn")) {
				agq_warn("%s: cannot send %s of %s: %s", V->o->via,
				    name, j->id, msg);
			}
			rc = -1;
			break;
		}
		json_decref(r);
		if (k < 0)              /* agent.json: sent whole */
			break;
		j->sent[k] += n;
	}
	close(fd);
	return rc;
}

/* Remove J (index I) and its local output directory. */
static void
job_drop(struct via *V, int i)
{
	struct vjob *j = &V->jobs[i];
	char *p = agq_spool_path(V->sp, "out/%s", j->id);
	const char *names[] = { "stdout", "stderr", "agent.json",
	    "handoff.json", "handoff-out.json", NULL };
	for (int k = 0; names[k]; k++) {
		char *f = agq_xasprintf("%s/%s", p, names[k]);
		(void)unlink(f);
		free(f);
	}
	(void)rmdir(p);
	free(p);
	V->jobs[i] = V->jobs[--V->njobs];
}

/* J ended: the rest of its output, agent.json, then its result.  1 when
 * it is done with (recorded or fenced), 0 to try again. */
static int
send_result(struct via *V, struct vjob *j)
{
	if (!j->fenced && (send_output(V, j, "stdout", 0) < 0 ||
	    send_output(V, j, "stderr", 1) < 0 ||
	    send_output(V, j, "agent.json", -1) < 0) && !j->fenced)
		return 0;
	/* sent even when fenced: agq-remote journals it `stale`, as
	 * agq-run does a late local result */
	int st = j->res.status;
	json_t *f = json_pack("{s:s, s:I, s:b, s:b}", "task_id", j->id, "generation",
	    j->gen, "timed_out", j->res.timed_out, "handback",
	    V->stop_requested && j->stopped);
	if (WIFEXITED(st))
		json_object_set_new(f, "exit", json_integer(WEXITSTATUS(st)));
	if (j->res.why[0])      /* it never ran: why (agq-remote(8)) */
		json_object_set_new(f, "why", json_string(j->res.why));
	else if (WIFSIGNALED(st))
		json_object_set_new(f, "signal", json_integer(WTERMSIG(st)));
	char code[64], msg[512];
	json_t *r = call(V, AGQ_R_RESULT, f, 0, code, msg);
	if (r) {
		json_decref(r);
		return 1;
	}
	if (!strcmp(code, "stale")) {
		agq_warn("the result of %s (generation %lld) was fenced: %s",
		    j->id, (long long)j->gen, msg);
		return 1;
	}
	if (strcmp(code, "conn"))
		agq_warn("%s: cannot record the result of %s: %s", V->o->via,
		    j->id, msg);
	return 0;
}

/* The longest wait (s) before a lease whose start failed is asked for
 * again: agq-run's own retries a second apart, spread out over a link. */
#define START_BACKOFF_MAX 30

/* Run lease ID (the task T, generation GEN, attempt ATTEMPT) here. */
static void
run_here(struct via *V, const char *id, const json_t *t, json_int_t gen,
         int attempt)
{
	char *outdir = agq_spool_path(V->sp, "out/%s", id);
	int dfd = agq_out_open(V->sp, id, 1);
	int ofd = -1, efd = -1;
	if (dfd >= 0) {
		ofd = openat(dfd, "stdout", O_WRONLY | O_CREAT | O_TRUNC |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
		efd = openat(dfd, "stderr", O_WRONLY | O_CREAT | O_TRUNC |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
		(void)unlinkat(dfd, "agent.json", 0);
		close(dfd);
	}
	struct vjob *j = &V->jobs[V->njobs++];
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	j->gen = gen;
	j->seq = ++V->seq;
	int rc = ofd < 0 || efd < 0 ? -1 : agq_runner_exec(V->X, &V->shep,
	    j->seq, t, outdir, ofd, efd, gen, attempt, j->res.why,
	    sizeof j->res.why);
	if (rc < 0) {
		agq_syserr("cannot start the task here", outdir);
		j->exited = 1;
		j->res.status = 126 << 8;
	} else if (rc) {
		j->exited = 1;
		j->res.status = rc << 8;
	}
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	free(outdir);
}

/* Ask for the next lease (waiting up to WAIT_S) and start it here. */
static void
take_lease(struct via *V, double wait_s)
{
	char code[64], msg[512];
	json_t *r = call(V, AGQ_R_NEXT, json_pack("{s:f, s:o}", "wait", wait_s,
	    "running", running(V)), wait_s, code, msg);
	const char *id = json_string_value(json_object_get(json_object_get(r,
	    "lease"), "id"));
	if (!id || !agq_id_valid(id)) {
		json_decref(r);
		return;
	}
	char tid[65];
	snprintf(tid, sizeof tid, "%s", id);
	json_decref(r);
	r = call(V, AGQ_R_START, json_pack("{s:s}", "task_id", tid), 0, code, msg);
	json_t *t = json_object_get(r, "task");
	json_t *g = json_object_get(r, "generation");
	json_t *a = json_object_get(r, "attempt");
	if (json_is_object(t) && json_is_integer(g) && json_is_integer(a)) {
		V->start_backoff_s = 1;
		run_here(V, tid, t, json_integer_value(g),
		    (int)json_integer_value(a));
	} else if (!r && strcmp(code, "conn")) {
		/* the spool's side could not start it (its disk, say): the
		 * lease stays, asked for again after a backoff, not at once */
		int wait = V->start_backoff_s;
		back_off(&V->start_at, &V->start_backoff_s, START_BACKOFF_MAX);
		agq_warn("%s: cannot start %s: %s (asked again in %d s)",
		    V->o->via, tid, msg, wait);
	}
	json_decref(r);
}

static void
reap(struct via *V)
{
	uint64_t seq;
	struct shep_result r;
	int got;
	while ((got = agq_shep_recv(&V->shep, &seq, &r)) > 0)
		for (int i = 0; i < V->njobs; i++)
			if (V->jobs[i].seq == seq && !V->jobs[i].exited) {
				V->jobs[i].exited = 1;
				V->jobs[i].res = r;
			}
	if (got < 0) {
		int st = agq_shep_lost(&V->shep);
		for (int i = 0; i < V->njobs; i++)
			if (!V->jobs[i].exited) {
				V->jobs[i].exited = 1;
				memset(&V->jobs[i].res, 0, sizeof V->jobs[i].res);
				V->jobs[i].res.status = st;
			}
		agq_warn("the shepherd died; its tasks ended");
	}
}

static void
beat(struct via *V)
{
	char code[64], msg[512];
	json_t *r = call(V, AGQ_R_HEARTBEAT, json_pack("{s:o, s:s, s:o}",
	    "running", running(V), "state", V->draining ? "draining" :
	    "running", "resources", agq_host_resources()), 0, code, msg);
	if (!r && !strcmp(code, "replaced")) {
		agq_warn("agent %s: %s: stopping its tasks and exiting",
		    V->o->agent, msg);
		V->replaced = 1;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(r, "gone"), i, v)
		for (int k = 0; k < V->njobs; k++)
			if (!strcmp(V->jobs[k].id, json_string_value(v)))
				job_stop(V, &V->jobs[k]);
	json_decref(r);
	V->last_hb = agq_mono_us();
}

/* One turn: 1 when the agent is done. */
static int
turn(struct via *V)
{
	reap(V);
	if (V->shep.fd < 0 && !V->draining &&
	    agq_mono_us() >= V->shep.respawn_at)
		(void)agq_shep_spawn(&V->shep);
	if (got_term && !V->draining)
		V->draining = 1;
	if (got_term > 1 && !V->stop_requested) {
		V->stop_requested = 1;
		for (int i = 0; i < V->njobs; i++)
			job_stop(V, &V->jobs[i]);
	}
	if (!V->pid && agq_mono_us() >= V->retry_at)
		(void)dial(V);
	if (V->pid && agq_mono_us() - V->last_hb >= (int64_t)(V->hb_s * 1e6))
		beat(V);
	if (V->replaced)        /* its tasks end with the shepherd */
		return 1;
	for (int i = 0; V->pid && i < V->njobs; i++) {
		struct vjob *j = &V->jobs[i];
		if (j->exited) {
			if (send_result(V, j))
				job_drop(V, i--);
		} else if (!j->fenced) {
			(void)send_output(V, j, "stdout", 0);
			(void)send_output(V, j, "stderr", 1);
		}
	}
	int busy = 0;
	for (int i = 0; i < V->njobs; i++)
		busy += !V->jobs[i].exited;
	if (V->pid && !V->draining && busy < V->o->slots && V->shep.fd >= 0 &&
	    agq_mono_us() >= V->start_at) {
		int before = V->njobs;
		double w = V->njobs || V->o->once ? 0 : V->hb_s;
		take_lease(V, w > 5 ? 5 : w);
		if (V->o->once && V->njobs == before && V->njobs == 0)
			return 1;       /* nothing leased now, nothing running */
	}
	return V->draining && V->njobs == 0;
}

int
agq_via_runner(struct agq_spool *sp, const struct agq_run_opts *o)
{
	struct via V;
	memset(&V, 0, sizeof V);
	char err[512];
	if (agq_remote_url_parse(o->via, &V.url, err, sizeof err) < 0) {
		agq_warn("--via: %s", err);
		return EX_USAGE;
	}
	V.sp = sp;
	V.o = o;
	V.ssh = o->ssh && *o->ssh ? o->ssh : "ssh";
	V.hb_s = o->heartbeat_s > 0 ? o->heartbeat_s : sp->conf.heartbeat_s;
	V.backoff_s = 1;
	V.start_backoff_s = 1;
	V.jobs = calloc((size_t)o->slots * 2 + 1, sizeof *V.jobs);
	if (!V.jobs)
		agq_die(EX_OSERR, "out of memory");
	V.shep = (struct agq_shep){ -1, -1, 0 };
	if (agq_shep_spawn(&V.shep) < 0) {
		free(V.jobs);
		return EX_OSERR;
	}
	V.X = agq_runner_exec_new(sp, o);
	agq_signals_catch(on_signal, 0, SIGTERM, SIGINT, SIGCHLD, 0);
	signal(SIGPIPE, SIG_IGN);
	int rc = 0;
	while (!turn(&V)) {
		if (o->once && !V.pid && !V.njobs) {
			rc = EX_UNAVAILABLE;    /* --once: no connection */
			break;
		}
		/* a task's end (the shepherd's message), or a quarter second:
		 * the output sent as it grows */
		struct pollfd p = { V.shep.fd, POLLIN, 0 };
		(void)poll(&p, V.shep.fd >= 0, 250);
	}
	if (V.pid && !V.replaced) {
		char code[64], msg[512];
		json_decref(call(&V, AGQ_R_BYE, NULL, 0, code, msg));
	}
	if (V.pid) {
		close(V.to);
		close(V.from);
		int st;
		while (waitpid(V.pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	agq_rbuf_free(&V.rb);
	if (V.replaced) {
		(void)agq_shep_lost(&V.shep);   /* SIGKILL: its tasks with it */
		rc = EX_TEMPFAIL;
	}
	agq_shep_end(&V.shep);
	agq_runner_exec_free(V.X);
	free(V.jobs);
	return rc;
}
