/*
 * sched.c - the scheduler (agq-sched(8)).
 *
 * One scheduler per spool (flock on .sched.lock).  It keeps an index of the
 * queued tasks in memory (per lane, ordered by submitted_at then id) and a
 * map of the deferred ones, fed by inotify events (libinotifytools) on
 * inbox/, queue/LANE/, defer/, agents/, done/ and dead/.  Events are only
 * hints: the index is rebuilt from the directories at start, after an
 * IN_Q_OVERFLOW, on SIGHUP and every `rescan` seconds, and every action is
 * checked against the file system under the task's lock (a stale index
 * entry just fails its rename with ENOENT and is dropped).
 *
 * A pass does, in order: accept inbox drops (quarantining bad ones),
 * promote due deferred tasks, reclaim the leases of dead agents and of
 * tasks leased but not started in time, and assign queued tasks to alive
 * agents with free slots (lanes by weight, quota.c's fair lanes; FIFO
 * within a lane; least recently assigned agent first; every required
 * capability present; no task a pause or a limit holds, qstate.c).
 *
 * Relies on spool.c (locks, moves, the id index), task.c (the task model,
 * agq_requires_met), journal.c, agent.c (agent files), route.c and
 * registry.c (routing agent tasks to endpoints), and wake.c (its signals
 * and inotify watches).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "backends.h"
#include "util.h"
#include "conf.h"
#include "classify.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "jrecon.h"
#include "lifecycle.h"
#include "lease.h"
#include "reject.h"
#include "agent.h"
#include "captoken.h"
#include "resources.h"
#include "registry.h"
#include "route.h"
#include "throttle.h"
#include "review.h"
#include "deps.h"
#include "mission.h"
#include "submit.h"
#include "quota.h"
#include "qstate.h"
#include "sched.h"
#include "wake.h"
#include "routine.h"

struct qent {
	char id[65];
	int64_t key;            /* submitted_at, microseconds */
	json_int_t seq;         /* alive while S->member[id] == seq */
	json_t *requires;       /* array, owned */
	json_t *avoid;          /* its avoid_agent (route.c), or NULL */
	json_t *run_on;         /* its run_on (route.c), or NULL */
	json_t *rfacts;         /* routing facts (route.c), read when needed */
	int64_t seen_us;        /* when it entered the index (route_wait) */
	int agentish;           /* agq_task_is_agent() when it was indexed */
	int tier;               /* agq_task_tier() when it was indexed */
	uint64_t wait_key;      /* the world (world_key) it was last found
	                         * routable or not in; 0: never looked at */
	char *wait_why;         /* why no agent can take it, as journaled in
	                         * its last `wait` event; NULL: none, or
	                         * routable again */
	int64_t wait_since;     /* since when no agent can take it (us) */
	char held_from[65];     /* the agent its last attempt was reclaimed
	                         * from while it ran, or "" */
	int64_t reclaimed_at;   /* when (us), or -1 (agq_lc_reclaimed_at) */
	json_t *rcap;           /* a task with review: [its review's cap]
	                         * (agents without it preferred), or NULL */
	char tenant[65];        /* agq_task_tenant: limits, pauses */
};

struct lane {
	struct qent **v;
	size_t n, cap, dead;
	int unsorted;
};

struct agent {
	char name[65];
	json_t *caps;           /* borrowed from doc */
	json_t *doc;
	int free;               /* leases it may take: slots + prefetch - load */
	int idle;               /* of those, free slots: slots - load (<= 0:
	                         * every slot is busy, a lease waits) */
	int64_t last;           /* last assignment (sequence) */
};

/* agents/NAME.json as last read, and the stat(2) it was read under: the
 * file is only ever replaced by rename(2) (agq_agent_write), so an unchanged
 * inode, size and mtime mean unchanged content, and a pass costs one stat
 * per agent instead of a read and a parse. */
struct agent_doc {
	char name[65];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	json_t *doc;
};

struct sched {
	struct agq_spool *sp;
	const struct agq_sched_opts *o;
	struct lane lanes[AGQ_NLANES];
	json_t *member;         /* id -> seq of its live index entry */
	json_int_t seq;
	json_t *last_assigned;  /* agent name -> assignment counter */
	json_int_t assign_counter;
	json_t *agent_state;    /* agent name -> "up"/"down" as journaled */
	int64_t clock_off_us;   /* the file server's clock minus ours, from
	                         * .clock-probe at the last reclaim pass */
	json_t *lease_warned;   /* agent name -> the effective lease (s) a
	                         * `warn` event was journaled for */
	int inbox_dirty, defer_dirty, agents_dirty, rescan;
	int new_work;           /* tasks were added to the index */
	int slots_dirty;        /* an agent may have a free slot */
	int have_free;          /* the last assignment left a free slot */
	int64_t next_defer_us;  /* earliest known due time in defer/ */
	int routines_dirty;     /* routines/ changed (or start, rescan) */
	int routine_recover;    /* claims not submitted looked for */
	int64_t next_routine_s; /* a routine's slot is next due then */
	json_t *registry;       /* endpoints, loaded for each assignment pass */
	json_t *pauses;         /* throttle/'s pauses in force, likewise */
	json_t *route;          /* the routing decision for the next assign */
	int64_t room_at;        /* no pass before (monotonic): disk full */
	struct agent_doc *docs; /* agent files read (agent_doc) */
	size_t ndocs, docs_cap;
	int64_t inbox_retry_us; /* a young bad drop is looked at again then
	                         * (drop_settling); 0: none waits */
	int review_dirty;       /* review/ or reviews/ changed, or a task
	                         * ended: the tasks in review/ looked at */
	json_t *review_watched; /* ids whose reviews/ID/ is watched */
	/* dependencies (deps.c): tasks that arrived in blocked/, tasks
	 * that ended (done/, dead/: their deps/ID/ read), both id -> true;
	 * dep_scan: every task in blocked/ looked at (start, overflow) */
	json_t *dep_arrived, *dep_ended;
	int dep_scan;
	json_t *cap_refused;    /* agent name -> the cap_token ("" none) a
	                         * cap_refused event was journaled for, or
	                         * true: verified (cap_check) */
	struct agq_waiter wt;    /* inotify, or polling (wake.h) */
	struct agq_qstate lim;  /* limits, fair lanes (qstate.c, quota.c) */
	json_t *upauses;        /* pauses/ (agq-pause), read for each
	                         * assignment pass */
	json_t *credits;        /* the fair lanes' credits after the next
	                         * assign, for its event, or NULL */
	struct agq_jbatch holds;/* throttle events of limits' holds, written
	                         * at the end of the pass (limit_keys) */
};

/* A drop that fails to read as a task while its mtime is less than this
 * old (microseconds) may still be being written straight into inbox/ (a
 * writer that did not use tmp-then-mv): it is left there and looked at
 * again when it is this old, not quarantined half-written (agq-spool(5),
 * Inbox drops). */
#define DROP_SETTLE_US  (5 * (int64_t)1000000)

static volatile sig_atomic_t got_term, got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

static void
say(struct sched *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
say(struct sched *S, const char *fmt, ...)
{
	if (!S->o->verbose)
		return;
	va_list ap;
	char buf[1024];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	agq_warn("%s", buf);
}

/* A change failed with ERR.  With ENOSPC or EDQUOT (a full disk) no pass
 * runs for a second, rather than retrying in a busy loop: the task was
 * left as it was (agq_task_transition) and the next pass tries again
 * (agq-sched(8), "A full disk").  Returns 1 if so: stop the scan. */
static int
no_room(struct sched *S, int err)
{
	if (err != ENOSPC && err != EDQUOT)
		return 0;
	S->room_at = agq_mono_us() + 1000000;
	return 1;
}

/* ---- the queue index ---------------------------------------------------- */

static void
qent_free(struct qent *e)
{
	json_decref(e->requires);
	json_decref(e->avoid);
	json_decref(e->run_on);
	json_decref(e->rcap);
	json_decref(e->rfacts);
	free(e->wait_why);
	free(e);
}

static int
qent_alive(struct sched *S, const struct qent *e)
{
	json_t *v = json_object_get(S->member, e->id);
	return v && json_integer_value(v) == e->seq;
}

static void
index_drop(struct sched *S, const char *id)
{
	json_object_del(S->member, id);
}

static void
index_add(struct sched *S, int lane, const char *id, int64_t key,
          const json_t *t)
{
	json_t *requires = json_object_get(t, "requires");
	struct lane *L = &S->lanes[lane];
	struct qent *e = agq_xmalloc(sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->key = key;
	e->seq = ++S->seq;
	e->requires = requires ? json_incref(requires) : json_array();
	e->avoid = json_object_get(t, "avoid_agent");
	if (e->avoid)
		json_incref(e->avoid);
	e->run_on = json_object_get(t, "run_on");
	if (e->run_on)
		json_incref(e->run_on);
	e->rfacts = NULL;
	e->wait_key = 0;
	e->wait_why = NULL;
	e->wait_since = 0;
	e->seen_us = agq_now_us();
	e->agentish = agq_task_is_agent(t);
	e->tier = agq_task_tier(t);
	e->reclaimed_at = agq_lc_reclaimed_at(t, e->held_from,
	    sizeof e->held_from);
	e->rcap = NULL;
	char tb[32];
	snprintf(e->tenant, sizeof e->tenant, "%s", agq_task_tenant(t, tb));
	if (json_is_object(json_object_get(t, "review"))) {
		struct agq_review_conf rc;
		agq_review_conf(t, &rc);
		e->rcap = json_pack("[s]", rc.cap);
	}
	json_object_set_new(S->member, id, json_integer(e->seq));
	L->v = agq_grow(L->v, &L->cap, L->n, sizeof *L->v, 256);
	if (L->n > 0) {
		const struct qent *p = L->v[L->n - 1];
		if (p->key > key || (p->key == key && strcmp(p->id, id) > 0))
			L->unsorted = 1;
	}
	L->v[L->n++] = e;
	S->new_work = 1;
}

static int
qent_cmp(const void *a, const void *b)
{
	const struct qent *x = *(struct qent *const *)a;
	const struct qent *y = *(struct qent *const *)b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Drop dead entries and sort a lane when needed. */
static void
lane_tidy(struct sched *S, struct lane *L)
{
	size_t dead = 0;
	for (size_t i = 0; i < L->n; i++)
		if (!qent_alive(S, L->v[i]))
			dead++;
	if (dead * 4 > L->n || dead > 4096) {
		size_t j = 0;
		for (size_t i = 0; i < L->n; i++) {
			if (qent_alive(S, L->v[i]))
				L->v[j++] = L->v[i];
			else
				qent_free(L->v[i]);
		}
		L->n = j;
	}
	if (L->unsorted) {
		qsort(L->v, L->n, sizeof *L->v, qent_cmp);
		L->unsorted = 0;
	}
}

/* Strip ".json" from NAME into ID; 0 if NAME is not ID.json. */
static int
id_of(const char *name, char *id)
{
	return agq_id_of_json(name, id);
}

/* Read queue/LANE/NAME into the index, unless it is there already. */
static void
index_file(struct sched *S, int lane, const char *name)
{
	char id[65];
	if (!id_of(name, id))
		return;
	if (json_object_get(S->member, id))
		return;
	char *path = agq_spool_path(S->sp, "queue/%s/%s", agq_lane_name(lane),
	    name);
	size_t len;
	char *buf = agq_read_file(path, S->sp->conf.max_task_bytes * 4, &len, NULL);
	if (!buf) {
		if (errno != ENOENT) {
			char why[256];
			snprintf(why, sizeof why, "unreadable task file: %s",
			    strerror(errno));
			agq_reject(S->sp, path, name, NULL, why);
		}
		free(path);
		return;
	}
	char err[512];
	json_t *t = agq_task_parse(buf, len, err, sizeof err);
	free(buf);
	if (!t) {
		agq_reject(S->sp, path, name, NULL, err);
		free(path);
		return;
	}
	free(path);
	index_add(S, lane, id, agq_task_time(t, "submitted_at", 0), t);
	json_decref(t);
}

struct lane_scan { struct sched *S; int lane; json_t *seen; };

static int
scan_one(const char *name, void *arg)
{
	struct lane_scan *ls = arg;
	char id[65];
	if (id_of(name, id))
		json_object_set_new(ls->seen, id, json_true());
	index_file(ls->S, ls->lane, name);
	return 0;
}

/* Read the lanes again: index the files not indexed yet (a file already
 * in the index is not read again), and forget entries whose file is gone
 * (an event that was missed). */
static void
index_rescan(struct sched *S)
{
	json_t *seen = json_object();
	for (int l = 0; l < AGQ_NLANES; l++) {
		struct lane_scan ls = { S, l, seen };
		char *d = agq_spool_path(S->sp, "queue/%s", agq_lane_name(l));
		if (agq_dir_each(d, scan_one, &ls) < 0)
			agq_syserr("cannot read directory", d);
		free(d);
	}
	const char *id;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(S->member, tmp, id, v)
		if (!json_object_get(seen, id))
			json_object_del(S->member, id);
	json_decref(seen);
	for (int l = 0; l < AGQ_NLANES; l++)
		lane_tidy(S, &S->lanes[l]);
	S->inbox_dirty = S->defer_dirty = S->agents_dirty = 1;
}

/* ---- inbox -------------------------------------------------------------- */

/* Take an accepted drop, locked in L, back to inbox/ at DROP: its claim
 * in ids/ goes first (a drop must have one link).  Under the submit lock,
 * like its delivery. */
static void
undeliver(struct sched *S, struct agq_locked *l, const char *drop)
{
	int lk = agq_spool_flock(S->sp, "submit", 1);
	char *claim = agq_spool_path(S->sp, "ids/%s", l->id);
	struct stat a, b;
	if (lstat(claim, &a) == 0 && fstat(l->fd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev && unlink(claim) < 0)
		agq_syserr("cannot remove", claim);
	if (agq_rename_noreplace(l->loc.path, drop) < 0)
		agq_syserr("cannot move the drop back to inbox/", l->loc.path);
	free(claim);
	if (lk >= 0)
		close(lk);
}

/* Is the uid U a member of group G: its primary group, or listed in
 * G's members (getgrgid(3))?  PW is U's passwd entry.  1 or 0. */
static int
in_group(const struct passwd *pw, gid_t g)
{
	if (pw->pw_gid == g)
		return 1;
	const struct group *gr = getgrgid(g);
	for (char **m = gr ? gr->gr_mem : NULL; m && *m; m++)
		if (!strcmp(*m, pw->pw_name))
			return 1;
	return 0;
}

/* The owner of the inbox drop T, whose file's stat(2) is ST, judged and
 * recorded (agq-spool(5), "Inbox drops"; agq(7), SECURITY): on a spool
 * not owned by root, a uid other than root's and the spool owner's is
 * accepted only as inbox_trust says (group: a member of inbox/'s group;
 * any); then T's owner is set to the file's uid and user name
 * (agq_task_set_owner, whatever T said), which must have a passwd entry
 * unless it is the spool owner's or the scheduler's.  0; or -1 with WHY (SIZE bytes): to
 * be quarantined. */
static int
drop_owner(const struct agq_spool *sp, const struct stat *st, json_t *t,
           char *why, size_t size)
{
	static const char *const trust[] = { "owner", "group", "any" };
	uid_t u = st->st_uid;
	struct stat rs, is;
	if (stat(sp->root, &rs) < 0)
		return agq_errf(why, size, "cannot stat the spool: %s",
		    strerror(errno));
	int own = u == rs.st_uid || u == geteuid();
	errno = 0;
	const struct passwd *pw = getpwuid(u);
	int ok = own || u == 0 || rs.st_uid == 0 ||
	    sp->conf.inbox_trust == AGQ_TRUST_ANY;
	if (!ok && pw && sp->conf.inbox_trust == AGQ_TRUST_GROUP) {
		char *ip = agq_spool_path(sp, "inbox");
		ok = stat(ip, &is) == 0 && in_group(pw, is.st_gid);
		free(ip);
	}
	if (!ok)
		return agq_errf(why, size, "dropped by uid %u (%s), which may "
		    "not drop here (inbox_trust = %s)", (unsigned)u,
		    pw ? pw->pw_name : "no such user",
		    trust[sp->conf.inbox_trust]);
	if (!pw && !own)
		return agq_errf(why, size, "dropped by uid %u: no such user "
		    "(getpwuid)", (unsigned)u);
	agq_task_set_owner(t, u, pw ? pw->pw_name : NULL);
	agq_submit_tenant(t, u, pw ? pw->pw_name : NULL);
	return 0;
}

/* Read the inbox drop PATH: a regular file with one link, at most
 * max_task_bytes, never through a symbolic link, holding one valid task
 * (agq-spool(5), Inbox drops).  The task, normalized (a new reference), or
 * NULL with WHY (SIZE bytes) saying what is wrong with the drop; WHY is
 * empty when the drop went away meanwhile (ENOENT: nothing to do). */
static json_t *
drop_read(const struct agq_spool *sp, const char *path, char *why,
          size_t size)
{
	struct stat st;
	json_t *t = NULL;
	char *buf = NULL;
	size_t len;
	why[0] = '\0';

	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			agq_errf(why, size, "not a regular file: a "
			    "symbolic link (never followed)");
		else if (errno != ENOENT)
			agq_errf(why, size, "cannot open: %s",
			    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		agq_errf(why, size, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		agq_errf(why, size, "not a regular file: %s",
		    S_ISDIR(st.st_mode) ? "a directory" :
		    S_ISFIFO(st.st_mode) ? "a FIFO" :
		    S_ISSOCK(st.st_mode) ? "a socket" : "a device node");
		goto out;
	}
	if (st.st_nlink > 1) {
		agq_errf(why, size, "a hard link (%lu links): drops must "
		    "be renamed in, not linked", (unsigned long)st.st_nlink);
		goto out;
	}
	if ((size_t)st.st_size > sp->conf.max_task_bytes) {
		agq_errf(why, size, "too large: %lld bytes, the limit is "
		    "%zu (max_task_bytes)", (long long)st.st_size,
		    sp->conf.max_task_bytes);
		goto out;
	}
	buf = agq_read_fd(fd, sp->conf.max_task_bytes, &len);
	if (!buf) {
		agq_errf(why, size, "cannot read: %s", strerror(errno));
		goto out;
	}
	t = agq_task_parse(buf, len, why, size);
	if (t)
		agq_task_unlist(t);     /* a line of agq-ls --json */
	if (t && agq_task_check_fields(t, why, size) < 0) {
		json_decref(t);         /* a misspelled field (agq-task(5)) */
		t = NULL;
	}
	if (t && drop_owner(sp, &st, t, why, size) < 0) {
		json_decref(t);
		t = NULL;
	}
	if (t)
		agq_task_normalize(t, agq_now_us());
out:
	close(fd);
	free(buf);
	return t;
}

/* Deliver the drop PATH (inbox/NAME) holding task T (drop_read's): under
 * the submit lock, check that its id is new and rename the drop into its
 * first state directory; then replace it in place with the normalized
 * task, under the task lock; journal `accept` and index it.  Returns 0, 1
 * to stop this pass (a full disk: the drop stays or goes back to inbox/),
 * or -1 with WHY (SIZE bytes) when the drop is to be rejected (its id is
 * taken). */
static int
drop_deliver(struct sched *S, const char *path, const char *name, json_t *t,
             char *why, size_t size)
{
	struct agq_spool *sp = S->sp;
	const char *id = agq_task_id(t);
	struct agq_loc loc;
	struct agq_dep dep;
	/* its mission: there and open, the task indexed in it first */
	const char *mission = json_string_value(json_object_get(t, "mission"));
	int made;
	int r = agq_mission_enter(sp, t, 1, &made, why, size);
	if (r > 0)
		return -1;      /* WHY names the field */
	if (r < 0) {
		int e = errno;
		agq_spool_syserr(sp, "cannot index the task in its mission",
		    "missions/%s.tasks/%s", mission, id);
		return no_room(S, e);
	}
	r = agq_dep_prepare(sp, t, &dep, 1, why, size);
	if (r != 0 && made)
		(void)agq_mission_index_remove(sp, mission, id);
	if (r > 0)
		return -1;      /* a parent unknown: rejected, WHY says */
	if (r < 0) {
		int e = errno;
		agq_spool_syserr(sp, "cannot decide the parents of", "inbox/%s",
		    name);
		return no_room(S, e);
	}
	agq_task_first_loc(sp, t, agq_now_us(), "accepted from inbox", &loc);
	int lk = agq_spool_flock(sp, "submit", 1);
	if (lk < 0) {
		agq_syserr("cannot take the submit lock", sp->root);
		return 0;
	}
	int where, taken = agq_id_taken(sp, id, &where);
	if (taken == 1) {
		close(lk);
		agq_dep_free(&dep);
		if (where == AGQ_ST_NONE)
			agq_errf(why, size, "duplicate id '%s': already "
			    "submitted", id);
		else
			agq_errf(why, size, "duplicate id '%s': already in "
			    "%s/", id, agq_state_name(where));
		return -1;
	}
	if (taken < 0 || agq_rename_noreplace(path, loc.path) < 0) {
		int e = errno;
		close(lk);
		agq_dep_free(&dep);
		errno = e;
		agq_syserr("cannot move an inbox drop", path);
		return no_room(S, e);
	}
	(void)agq_id_claim(sp, id, loc.path);   /* else found by looking */
	close(lk);
	struct agq_locked l;
	if (agq_task_lock(sp, id, &loc, &l) == 0) {
		if (l.loc.state == loc.state && l.loc.lane == loc.lane) {
			json_decref(l.task);
			l.task = json_incref(t);
			if (agq_task_rewrite(sp, &l) < 0) {
				int e = errno;
				agq_syserr("cannot rewrite task", l.loc.path);
				if (no_room(S, e)) {
					/* The drop as it came, maybe without
					 * its id, must not stay in the queue:
					 * back to inbox/ for the next pass. */
					undeliver(S, &l, path);
					agq_task_unlock(&l);
					agq_dep_free(&dep);
					return 1;
				}
			}
		}
		agq_task_unlock(&l);
	}
	agq_journal_w(sp, "accept", id, json_pack("{s:s, s:s, s:s, s:O*, s:O*}",
	    "file", name, "state", agq_state_name(loc.state), "lane",
	    agq_lane_name(agq_task_lane(t)), "after", json_object_get(t,
	    "after"), "mission", json_object_get(t, "mission")));
	agq_dep_journal_new(sp, t, &dep);
	agq_dep_free(&dep);
	say(S, "accepted %s from inbox/%s", id, name);
	if (loc.state == AGQ_ST_QUEUE)
		index_add(S, loc.lane, id, agq_task_time(t, "submitted_at", 0),
		    t);
	else
		S->defer_dirty = 1;
	return 0;
}

/* Is the inbox drop PATH, which did not read as a task, a regular file
 * of one link within max_task_bytes (so what failed is its text) modified
 * less than DROP_SETTLE_US ago, maybe still being written?  Then note
 * when to look at it again (S->inbox_retry_us) and say 1; else 0. */
static int
drop_settling(struct sched *S, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (size_t)st.st_size > S->sp->conf.max_task_bytes)
		return 0;
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000 +
	    st.st_mtim.tv_nsec / 1000, now = agq_now_us();
	if (mtime + DROP_SETTLE_US <= now || mtime > now + DROP_SETTLE_US)
		return 0;
	if (!S->inbox_retry_us || mtime + DROP_SETTLE_US < S->inbox_retry_us)
		S->inbox_retry_us = mtime + DROP_SETTLE_US;
	return 1;
}

/* One inbox drop NAME (agq_dir_each's callback): read, then deliver or
 * quarantine it.  Returns 1 to stop the pass (a full disk), else 0. */
static int
accept_one(const char *name, void *arg)
{
	struct sched *S = arg;
	char *path = agq_spool_path(S->sp, "inbox/%s", name);
	char why[600];
	int stop = 0;
	json_t *t = drop_read(S->sp, path, why, sizeof why);
	if (t)
		stop = drop_deliver(S, path, name, t, why, sizeof why);
	else if (why[0] && drop_settling(S, path))
		why[0] = '\0';         /* not yet: looked at again later */
	if ((!t && why[0]) || stop < 0) {
		stop = 0;
		if (agq_reject(S->sp, path, name, NULL, why) < 0)
			stop = no_room(S, errno);
	}
	json_decref(t);
	free(path);
	return stop;
}

static void
do_inbox(struct sched *S)
{
	char *d = agq_spool_path(S->sp, "inbox");
	S->inbox_retry_us = 0;
	if (agq_dir_each(d, accept_one, S) < 0)
		agq_syserr("cannot read directory", d);
	free(d);
}

/* ---- defer -------------------------------------------------------------- */

static int
promote_one(const char *name, void *arg)
{
	struct sched *S = arg;
	char id[65];
	if (!id_of(name, id))
		return 0;
	struct agq_loc hint = { .state = AGQ_ST_DEFER, .lane = -1 };
	struct agq_locked l;
	int stop = 0;
	if (agq_task_lock(S->sp, id, &hint, &l) < 0) {
		if (errno == EBADMSG) {
			char *p = agq_spool_path(S->sp, "defer/%s", name);
			if (agq_reject(S->sp, p, name, NULL, "not a JSON "
			    "object") < 0)
				stop = no_room(S, errno);
			free(p);
		}
		return stop;
	}
	if (l.loc.state != AGQ_ST_DEFER)
		goto out;
	int64_t due;
	struct agq_lc d;
	if (!agq_lc_promote(l.task, agq_now_us(), &due, &d)) {
		if (S->next_defer_us == 0 || due < S->next_defer_us)
			S->next_defer_us = due;
		goto out;
	}
	if (agq_lc_record(S->sp, &l, &d) < 0) {
		int e = errno;
		agq_syserr("cannot promote", l.loc.path);
		stop = no_room(S, e);
		goto out;
	}
	say(S, "promoted %s to queue/%s", id, agq_lane_name(d.lane));
	index_add(S, d.lane, id, agq_task_time(l.task, "submitted_at", 0),
	    l.task);
out:
	agq_task_unlock(&l);
	return stop;
}

static void
do_defer(struct sched *S)
{
	S->next_defer_us = 0;
	char *d = agq_spool_path(S->sp, "defer");
	if (agq_dir_each(d, promote_one, S) < 0)
		agq_syserr("cannot read directory", d);
	free(d);
}

/* ---- agents and reclaim ------------------------------------------------- */

/* An agent's prefetch (agq-run --prefetch): leases it takes beyond its
 * slots, to start as soon as a slot frees. */
static int
agent_prefetch(const json_t *a)
{
	json_int_t p = agq_task_int(a, "prefetch", 0);
	return p < 0 ? 0 : p > 1024 ? 1024 : (int)p;
}

/* Agent file A of agent NAME as the scheduler counts it: a capability
 * of token_caps only with a cap_token that verifies (captoken.h), else
 * taken out of A's capabilities, and a `cap_refused` event journaled
 * once per agent and token: the token refused ("" none) is kept in
 * S->cap_refused and in agents/.NAME.cap_refused (a dot file: not an
 * agent), so that neither a heartbeat nor another agq-sched (--once from
 * cron) journals it again; the file goes when a token verifies.
 * agq-sched(8). */
static void
cap_check(struct sched *S, const char *name, json_t *a)
{
	json_t *refused = NULL;
	char why[600];
	int r = agq_captoken_filter(S->sp, a, &refused, why, sizeof why);
	json_t *v = json_object_get(S->cap_refused, name);
	if (r == 0 || (r == 2 && json_is_true(v)))
		return;
	char *mark = agq_spool_path(S->sp, "agents/.%s.cap_refused", name);
	if (r == 2) {
		if (unlink(mark) < 0 && errno != ENOENT)
			agq_syserr("cannot remove", mark);
		json_object_set_new(S->cap_refused, name, json_true());
		free(mark);
		return;
	}
	const char *tok = json_string_value(json_object_get(a, "cap_token"));
	if (!tok)
		tok = "";
	size_t n;
	char *had = v && json_is_string(v) ? NULL : agq_read_file(mark, 4096,
	    &n, NULL);
	if (had)
		json_object_set_new(S->cap_refused, name, json_string(had));
	free(had);
	v = json_object_get(S->cap_refused, name);
	if (!json_is_string(v) || strcmp(json_string_value(v), tok)) {
		json_object_set_new(S->cap_refused, name, json_string(tok));
		if (agq_write_atomic(S->sp->tmp, mark, tok, strlen(tok), 0, 0) < 0)
			agq_syserr("cannot write", mark);
		agq_warn("agent %s: capabilities refused: %s", name, why);
		agq_journal_w(S->sp, "cap_refused", NULL, json_pack("{s:s, s:O, "
		    "s:s}", "agent", name, "capabilities", refused, "reason",
		    why));
	}
	free(mark);
	json_decref(refused);
}

/* agents/NAME.json, parsed (a new reference; NULL with errno when it is
 * missing or not a JSON object), from the cache while its stat(2) is
 * unchanged; its capabilities as cap_check counts them.  Read-only: the
 * caller must not modify the object. */
static json_t *
agent_doc(struct sched *S, const char *name)
{
	if (!agq_agent_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	size_t i;
	for (i = 0; i < S->ndocs && strcmp(S->docs[i].name, name); i++)
		;
	char *p = agq_spool_path(S->sp, "agents/%s.json", name);
	struct stat st;
	int r = stat(p, &st);
	int e = errno;
	free(p);
	if (r < 0) {
		if (i < S->ndocs) {
			json_decref(S->docs[i].doc);
			S->docs[i] = S->docs[--S->ndocs];
		}
		errno = e;
		return NULL;
	}
	struct agent_doc *d = i < S->ndocs ? &S->docs[i] : NULL;
	if (d && d->dev == st.st_dev && d->ino == st.st_ino &&
	    d->size == st.st_size && d->mtim.tv_sec == st.st_mtim.tv_sec &&
	    d->mtim.tv_nsec == st.st_mtim.tv_nsec)
		return json_incref(d->doc);
	/* read after the stat: the content is that version or a newer one,
	 * and a newer one fails the comparison next time */
	json_t *a = agq_agent_read(S->sp, name);
	if (!a)
		return NULL;
	cap_check(S, name, a);
	if (!d) {
		S->docs = agq_grow(S->docs, &S->docs_cap, S->ndocs,
		    sizeof *S->docs, 8);
		d = &S->docs[S->ndocs++];
		snprintf(d->name, sizeof d->name, "%s", name);
	} else {
		json_decref(d->doc);
	}
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->size = st.st_size;
	d->mtim = st.st_mtim;
	d->doc = json_incref(a);
	return a;
}

/* The file server's clock now (microseconds): ours corrected by what the
 * last reclaim pass read from .clock-probe (agq_clock_probe). */
static int64_t
server_now(const struct sched *S)
{
	return agq_now_us() + S->clock_off_us;
}

/* The mtime of agents/NAME.json as agent_doc last stat(2)ed it
 * (microseconds, the file server's clock), or -1: the agent's last sign
 * of life (agq_agent_beat_us) without another stat. */
static int64_t
doc_mtime_us(const struct sched *S, const char *name)
{
	for (size_t i = 0; i < S->ndocs; i++)
		if (!strcmp(S->docs[i].name, name))
			return (int64_t)S->docs[i].mtim.tv_sec * 1000000 +
			    S->docs[i].mtim.tv_nsec / 1000;
	return -1;
}

/* agents/NAME.json's mtime set back to BEAT_US (microseconds), the
 * agent's last sign of life, after agq-sched rewrote the file. */
static void
keep_mtime(struct sched *S, const char *name, int64_t beat_us)
{
	char *p = agq_spool_path(S->sp, "agents/%s.json", name);
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)(beat_us /
	    1000000), (long)(beat_us % 1000000) * 1000 } };
	if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) < 0)
		agq_syserr("cannot set the mtime back", p);
	free(p);
}

/* Reclaim the locked lease L from AGENT because of WHY
 * (agq_task_reclaim; agq_task_reclaim_infra, uncounted, when INFRA: the
 * agent was degraded); a task back in its lane joins the index.  Returns
 * the new state, or -1 (reported; *STOP set when the disk is full). */
static int
reclaim_locked(struct sched *S, struct agq_locked *l, const char *agent,
               const char *why, int infra, int *stop)
{
	int to = infra ? agq_task_reclaim_infra(S->sp, l, agent, why) :
	    agq_task_reclaim(S->sp, l, agent, why, NULL);
	if (to < 0) {
		int e = errno;
		agq_syserr("cannot reclaim", l->loc.path);
		*stop = no_room(S, e);
		return -1;
	}
	if (to == AGQ_ST_QUEUE)
		index_add(S, agq_task_lane(l->task), l->id,
		    agq_task_time(l->task, "submitted_at", 0), l->task);
	say(S, "reclaimed %s from %s: %s", l->id, agent, why);
	return to;
}

/* Lock task ID, leased to AGENT, in L (hint: active/AGENT/).  Returns 0,
 * or -1 when it is gone or no longer AGENT's lease (nothing held). */
static int
lock_lease(struct sched *S, const char *agent, const char *id,
           struct agq_locked *l)
{
	struct agq_loc hint = { .state = AGQ_ST_ACTIVE, .lane = -1 };
	snprintf(hint.agent, sizeof hint.agent, "%s", agent);
	if (agq_task_lock(S->sp, id, &hint, l) < 0)
		return -1;
	if (l->loc.state != AGQ_ST_ACTIVE || strcmp(l->loc.agent, agent)) {
		agq_task_unlock(l);
		return -1;
	}
	return 0;
}

/* Returns 1 when the disk is full (no_room): stop the scan. */
static int
reclaim(struct sched *S, const char *agent, const char *id, const char *why,
        int infra)
{
	struct agq_locked l;
	int stop = 0;
	if (lock_lease(S, agent, id, &l) < 0)
		return 0;
	reclaim_locked(S, &l, agent, why, infra, &stop);
	agq_task_unlock(&l);
	return stop;
}

struct reclaim_scan { struct sched *S; const char *agent; int dead;
    const char *why; int waiting_ok; int infra; };

static int
reclaim_each(const char *name, void *arg)
{
	struct reclaim_scan *rs = arg;
	char id[65];
	if (!id_of(name, id))
		return 0;
	if (rs->dead)
		return reclaim(rs->S, rs->agent, id, rs->why, rs->infra);
	/* Alive agent: reclaim leases it has not started in time. */
	char *p = agq_spool_path(rs->S->sp, "active/%s/%s", rs->agent, name);
	size_t len;
	int fd = -1;
	struct stat st;
	char *buf = agq_read_file(p, 16 * 1024 * 1024, &len, &fd);
	free(p);
	if (!buf)
		return 0;
	int stok = fstat(fd, &st) == 0;
	close(fd);
	json_t *t = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!t)
		return 0;
	if (rs->waiting_ok && !agq_task_is_agent(t)) {
		/* prefetched behind a running task: it waits for a slot
		 * (or is taken back for an idle agent: take_back) */
		json_decref(t);
		return 0;
	}
	int64_t at = agq_task_time(t, "assigned_at", -1);
	int64_t now = agq_now_us();     /* assigned_at is a scheduler's */
	const char *owner = json_string_value(json_object_get(t, "agent"));
	if ((at < 0 || !owner || strcmp(owner, rs->agent)) && stok) {
		/* Moved here but not rewritten: the assigner died between the
		 * move and the rewrite (agq-spool(5), Invariants), so the
		 * runner will not start it.  Time the lease from the move,
		 * which set the file's ctime: the file server's clock. */
		at = (int64_t)st.st_ctim.tv_sec * 1000000 +
		    st.st_ctim.tv_nsec / 1000;
		now = server_now(rs->S);
	}
	char why[128];
	if (agq_lc_lease_overdue(t, at, now,
	    rs->S->sp->conf.assign_timeout_s, why, sizeof why)) {
		if (reclaim(rs->S, rs->agent, id, why, 0)) {
			json_decref(t);
			return 1;
		}
	}
	json_decref(t);
	return 0;
}

struct started_scan { struct sched *S; const char *agent; int n; };

static int
started_each(const char *name, void *arg)
{
	struct started_scan *ss = arg;
	char id[65];
	if (!id_of(name, id))
		return 0;
	char *p = agq_spool_path(ss->S->sp, "active/%s/%s", ss->agent, name);
	json_t *t = agq_task_read(p);
	free(p);
	ss->n += t && agq_task_lease_started(t);
	json_decref(t);
	return 0;
}

/* How many of AGENT's leases have started (every one of its slots busy
 * when it is its slots: a prefetched lease waits for one to free). */
static int
agent_started(struct sched *S, const char *agent)
{
	struct started_scan ss = { S, agent, 0 };
	char *d = agq_spool_path(S->sp, "active/%s", agent);
	(void)agq_dir_each(d, started_each, &ss);
	free(d);
	return ss.n;
}

static int
agent_dir_each(const char *name, void *arg)
{
	struct sched *S = arg;
	if (!agq_agent_name_valid(name))
		return 0;
	json_t *a = agent_doc(S, name);
	int64_t now = server_now(S);
	double lease = S->o->lease_s;
	struct reclaim_scan rs = { S, name, 0, NULL, 0, 0 };
	char why[256];
	if (a && agent_prefetch(a) > 0 && agent_started(S, name) >=
	    (int)agq_task_int(a, "slots", 1))
		rs.waiting_ok = 1;
	if (!a) {
		snprintf(why, sizeof why, "agent is not registered");
		rs.dead = 1;
	} else if (!agq_agent_live(a, doc_mtime_us(S, name), now, lease)) {
		const char *st = json_string_value(json_object_get(a, "state"));
		if (st && !strcmp(st, "down"))
			snprintf(why, sizeof why, "agent is down");
		else
			snprintf(why, sizeof why, "heartbeat older than %g s",
			    agq_agent_lease_s(a, lease));
		rs.dead = 1;
		/* its storage failed before it fell silent (degraded, or
		 * marked offline since: agent_watch_one keeps "since"):
		 * uncounted */
		rs.infra = st && (!strcmp(st, "degraded") ||
		    (!strcmp(st, "offline") && json_object_get(a, "since")));
	}
	rs.why = why;
	char *d = agq_spool_path(S->sp, "active/%s", name);
	int full = agq_dir_each(d, reclaim_each, &rs) > 0;
	free(d);
	json_decref(a);
	return full;
}

/* The lease (agq-sched --lease, agq.conf lease) shorter than
 * AGQ_LEASE_BEATS heartbeats of agent NAME (its file A): its effective
 * lease is raised (agq_agent_lease_s), and a `warn` event says so, with
 * both numbers, once per agent and effective lease, not once per pass. */
static void
lease_warn(struct sched *S, const char *name, const json_t *a)
{
	double lease = S->o->lease_s, eff = agq_agent_lease_s(a, lease);
	json_t *v = json_object_get(S->lease_warned, name);
	if (eff <= lease || (v && json_real_value(v) == eff))
		return;
	json_object_set_new(S->lease_warned, name, json_real(eff));
	double hb = json_number_value(json_object_get(a, "heartbeat_s"));
	char why[300];
	snprintf(why, sizeof why, "lease %g s is shorter than %d heartbeats "
	    "of agent %s (heartbeat_s %g): its lease is raised to %g s", lease,
	    AGQ_LEASE_BEATS, name, hb, eff);
	agq_warn("%s", why);
	agq_journal_w(S->sp, "warn", NULL, json_pack("{s:s, s:s, s:f, s:f, "
	    "s:f, s:s}", "agent", name, "setting", "lease", "lease_s", lease,
	    "heartbeat_s", hb, "effective_s", eff, "reason", why));
}

/* Journal agent_down once when a registered agent's heartbeat expires, and
 * mark its file offline (agq-run journals agent_up when it comes back). */
static int
agent_watch_one(const char *fname, void *arg)
{
	struct sched *S = arg;
	char name[65];
	if (!id_of(fname, name))
		return 0;
	json_t *a = agq_agent_read(S->sp, name);
	if (!a)
		return 0;
	lease_warn(S, name, a);
	const char *st = json_string_value(json_object_get(a, "state"));
	int64_t beat = agq_agent_mtime_us(S->sp, name);
	int alive = agq_agent_live(a, beat, server_now(S), S->o->lease_s);
	if (!alive && st && strcmp(st, "down") && strcmp(st, "offline")) {
		char why[128];
		snprintf(why, sizeof why, "heartbeat older than %g s",
		    agq_agent_lease_s(a, S->o->lease_s));
		json_object_set_new(a, "state", json_string("offline"));
		json_object_set_new(a, "reason", json_string(why));
		if (agq_agent_write(S->sp, a) < 0) {
			agq_spool_syserr(S->sp, "cannot update agent file",
			    "agents/%s.json", name);
			if (no_room(S, errno)) {
				json_decref(a);
				return 1;
			}
		} else if (beat >= 0) {
			/* its sign of life stays the agent's last (the
			 * mtime: agq_agent_beat_us), not this rewrite */
			keep_mtime(S, name, beat);
		}
		agq_journal_w(S->sp, "agent_down", NULL, json_pack("{s:s, s:s}",
		    "agent", name, "reason", why));
		say(S, "agent %s is offline: %s", name, why);
	}
	json_decref(a);
	return 0;
}

static void
do_reclaim(struct sched *S)
{
	if (agq_mono_us() < S->room_at)
		return;
	/* the server's clock, read just before the agents are judged */
	int64_t probe, before = agq_now_us();
	if (agq_clock_probe(S->sp, &probe) == 0)
		S->clock_off_us = probe - (before + agq_now_us()) / 2;
	char *d = agq_spool_path(S->sp, "agents");
	agq_dir_each(d, agent_watch_one, S);
	free(d);
	if (agq_mono_us() < S->room_at)
		return;
	d = agq_spool_path(S->sp, "active");
	if (agq_dir_each(d, agent_dir_each, S) < 0)
		agq_syserr("cannot read directory", d);
	free(d);
}

/* ---- assignment --------------------------------------------------------- */

struct agent_list { struct sched *S; struct agent *v; size_t n, cap; };

/* Does agent file A take new work: alive by its heartbeat (not only by a
 * touch: agq_agent_degraded), and not draining, offline or degraded? */
static int
agent_takes_work(const struct sched *S, const json_t *a)
{
	const char *st = json_string_value(json_object_get(a, "state"));
	const char *name = json_string_value(json_object_get(a, "name"));
	int64_t beat = name ? doc_mtime_us(S, name) : -1;
	return agq_agent_live(a, beat, server_now(S), S->o->lease_s) &&
	    !agq_agent_touched_only(a, beat, S->o->lease_s) &&
	    !(st && (!strcmp(st, "draining") || !strcmp(st, "offline") ||
	    !strcmp(st, "degraded")));
}

static int
agent_collect(const char *fname, void *arg)
{
	struct agent_list *al = arg;
	char name[65];
	if (!id_of(fname, name))
		return 0;
	json_t *a = agent_doc(al->S, name);
	if (!a)
		return 0;
	if (!agent_takes_work(al->S, a)) {
		json_decref(a);
		return 0;
	}
	int slots = (int)agq_task_int(a, "slots", 1);
	int prefetch = agent_prefetch(a);
	int load = agq_agent_load(al->S->sp, name);
	if (load < 0 || load >= slots + prefetch) {
		json_decref(a);
		return 0;
	}
	al->v = agq_grow(al->v, &al->cap, al->n, sizeof *al->v, 8);
	struct agent *g = &al->v[al->n++];
	snprintf(g->name, sizeof g->name, "%s", name);
	g->doc = a;
	g->caps = json_object_get(a, "capabilities");
	g->free = slots + prefetch - load;
	g->idle = slots - load;
	json_t *v = json_object_get(al->S->last_assigned, name);
	g->last = v ? json_integer_value(v) : 0;
	return 0;
}

/* Does agent NAME with capabilities CAPS have every capability E
 * requires (agq-task(5), requires), is it not one E avoids (avoid_agent,
 * agq_route_avoids), and one E runs on when it names them (run_on)? */
static int
caps_ok(const struct qent *e, const json_t *caps, const char *name)
{
	return agq_requires_met(e->requires, caps) &&
	    !agq_route_avoids(e->avoid, name) &&
	    (!e->run_on || agq_route_avoids(e->run_on, name));
}

/* Is entry E, reclaimed from agent G while it ran, held back from G:
 * the reclaimed run's process may still be inside its kill grace
 * (agq_lc_reclaim_held, with G's heartbeat_s and kill_grace)? */
static int
held(struct sched *S, const struct qent *e, const struct agent *g)
{
	if (e->reclaimed_at < 0 || strcmp(e->held_from, g->name))
		return 0;
	double hb = json_number_value(json_object_get(g->doc, "heartbeat_s"));
	return agq_lc_reclaim_held(e->reclaimed_at, agq_now_us(),
	    hb > 0 ? hb : S->sp->conf.heartbeat_s, S->sp->conf.kill_grace_s);
}

/* Queued task ID (lane LANE) locked into L, still queued.  0; or -1,
 * nothing locked (a file that is not JSON is rejected, agq_reject). */
static int
lock_queued(struct sched *S, int lane, const char *id, struct agq_locked *l)
{
	struct agq_loc hint = { .state = AGQ_ST_QUEUE, .lane = lane };
	if (agq_task_lock(S->sp, id, &hint, l) < 0) {
		if (errno == EBADMSG) {
			char *p = agq_spool_path(S->sp, "queue/%s/%s.json",
			    agq_lane_name(lane), id);
			char name[80];
			snprintf(name, sizeof name, "%s.json", id);
			agq_reject(S->sp, p, name, NULL, "not a JSON object");
			free(p);
		}
		return -1;
	}
	if (l->loc.state != AGQ_ST_QUEUE) {
		agq_task_unlock(l);
		return -1;
	}
	return 0;
}

/* Why a task first in lane LANE went to agent G, for its assign event:
 * into WHY (N bytes). */
static void
assign_why(char *why, size_t n, int lane, const struct agent *g)
{
	if (g->idle > 0)
		snprintf(why, n, "first in lane %s; %s has every required "
		    "capability and %d free slot%s, least recently assigned",
		    agq_lane_name(lane), g->name, g->idle,
		    g->idle == 1 ? "" : "s");
	else
		snprintf(why, n, "first in lane %s; %s has every required "
		    "capability; every agent that could take it is busy: "
		    "prefetched, to start when a slot of %s frees (prefetch)",
		    agq_lane_name(lane), g->name, g->name);
}

/* The soft placement rule of a task with review (agq-sched(8),
 * "Placement"): agent G holds the review capability of entry E's review
 * (E->rcap): is there another agent of AL with a free slot, without it,
 * that takes E as G would (every capability E requires, not avoided, not
 * held back; for a plain command, a plain agent: routing decides between
 * agents with backends, route_best), for G to leave E to?  The same
 * agents of the same pass give the same answer: the choice does not
 * depend on which agent the pass looks at first. */
static int
review_elsewhere(struct sched *S, const struct qent *e,
                 const struct agent_list *al, const struct agent *g)
{
	if (!e->rcap || !agq_requires_met(e->rcap, g->caps))
		return 0;
	for (size_t k = 0; k < al->n; k++) {
		const struct agent *o = &al->v[k];
		if (o != g && o->idle > 0 && !agq_requires_met(e->rcap,
		    o->caps) && caps_ok(e, o->caps, o->name) && !held(S, e, o) &&
		    !e->agentish && !json_array_size(json_object_get(o->doc,
		    "backends")))
			return 1;
	}
	return 0;
}

/* Lease the task of entry E to agent G.  Returns 1 if assigned. */
static int
assign(struct sched *S, int lane, struct qent *e, struct agent *g)
{
	struct agq_locked l;
	struct agq_jbatch jb = { NULL };    /* route, assign: one append */
	char id[65];
	snprintf(id, sizeof id, "%s", e->id);
	index_drop(S, id);      /* leaves the queue either way */
	if (lock_queued(S, lane, id, &l) < 0)
		return 0;
	json_int_t gen = agq_task_int(l.task, "generation", 0) + 1;
	if (!S->route) {
		/* A plain command task: the lease is the move alone, one
		 * rename(2) and no fsync on the scheduler's path.  agq-run
		 * records the lease (generation GEN, agent) when it starts
		 * the task; until then the file's ctime times the lease
		 * (agq-spool(5), "Leases"). */
		if (agq_task_move(S->sp, &l, AGQ_ST_ACTIVE, -1, g->name) < 0) {
			int err = errno;
			agq_syserr("cannot lease task", l.loc.path);
			no_room(S, err);
			agq_task_unlock(&l);
			return 0;
		}
		/* the routing decision, one event like every other */
		agq_jbatch_add(&jb, "route", id, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:[]}", "tier", agq_tier_name(e->tier), "backend",
		    agq_backend_tier_default(0),
		    "agent", g->name, "reason", "a command task and an agent "
		    "that declares no backends: its cmd runs as a shell job",
		    "rejected"));
		goto leased;
	}
	json_object_set_new(l.task, "generation", json_integer(gen));
	agq_task_set_time(l.task, "assigned_at", agq_now_us());
	if (S->route) {
		/* what agq-run uses: backend, model, endpoint (route.c) */
		json_t *rt = json_deep_copy(json_object_get(S->route, "choice"));
		json_object_set(rt, "tier", json_object_get(S->route, "tier"));
		json_object_set_new(l.task, "route", rt);
	}
	char reason[300];
	snprintf(reason, sizeof reason, "leased to %s", g->name);
	if (agq_task_transition(S->sp, &l, AGQ_ST_ACTIVE, -1, g->name,
	    reason) < 0) {
		int err = errno;
		agq_syserr("cannot lease task", l.loc.path);
		no_room(S, err);
		agq_task_unlock(&l);
		return 0;
	}
leased:;
	char why[300];
	assign_why(why, sizeof why, lane, g);
	if (S->route) {
		json_t *ev = json_deep_copy(S->route);
		json_object_del(ev, "choice");
		agq_jbatch_add(&jb, "route", id, ev);
	}
	agq_jbatch_add(&jb, "assign", id, json_pack("{s:s, s:I, s:s, s:s, "
	    "s:O*}", "agent", g->name, "gen", gen, "lane", agq_lane_name(lane),
	    "reason", why, "credits", S->credits));
	agq_jbatch_w(S->sp, &jb);
	say(S, "assigned %s (lane %s) to %s, generation %lld", id,
	    agq_lane_name(lane), g->name, (long long)gen);
	agq_task_unlock(&l);
	return 1;
}

/* Agents with a free slot first (a prefetched lease only when every agent
 * that could take the task is busy), then the least recently assigned. */
static int
agent_cmp(const void *a, const void *b)
{
	const struct agent *x = a, *y = b;
	if ((x->idle > 0) != (y->idle > 0))
		return x->idle > 0 ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The pauses of usage and rate limits in force (agq_throttle_list, the
 * expired ones removed), read once per pass.  Borrowed. */
static const json_t *
pauses(struct sched *S)
{
	if (!S->pauses)
		S->pauses = agq_throttle_list(S->sp, agq_now_us(), 1);
	return S->pauses;
}

/* Is the account that the routing choice CH (agq_route_eval's: backend,
 * model, endpoint) calls paused?  1 with WHY (SIZE bytes) the wait
 * reason, "backend B paused until T: REASON"; else 0. */
static int
choice_paused(struct sched *S, const json_t *ch, char *why, size_t size)
{
	const json_t *p = pauses(S);
	if (!json_array_size(p))
		return 0;
	char *acct = agq_throttle_account(&S->sp->conf, json_string_value(
	    json_object_get(ch, "backend")), json_string_value(
	    json_object_get(ch, "model")), json_string_value(json_object_get(
	    json_object_get(ch, "endpoint"), "url")));
	int r = agq_throttle_find(p, acct, why, size) != NULL;
	free(acct);
	return r;
}

/* The free agents of AL evaluated for entry E at tier TIER (agq_route_eval
 * on its routing facts): each that cannot run it appended to REJECTED
 * with why; one that scores above BEST becomes the best, its index in *BI
 * and its choice in *BCHOICE (owned; the one it replaces is freed).
 * REVIEWERS 0: only the agents without E's review capability (E->rcap),
 * 1: only those with it, -1: all.  Returns the best score, BEST when none
 * beat it. */
static int
route_best(struct sched *S, const struct qent *e, int tier,
           const struct agent_list *al, int best, size_t *bi,
           json_t **bchoice, json_t *rejected, int reviewers)
{
	for (size_t k = 0; k < al->n; k++) {
		json_t *ch = NULL;
		char why[512];
		int sc = -1;
		if (al->v[k].idle <= 0)
			continue;       /* busy: no prefetch of agent tasks */
		if (reviewers >= 0 && agq_requires_met(e->rcap,
		    al->v[k].caps) != reviewers)
			continue;       /* the other part of the two */
		if (!caps_ok(e, al->v[k].caps, al->v[k].name))
			snprintf(why, sizeof why, "lacks a required capability, "
			    "is an agent the task avoids, or not one it runs on");
		else
			sc = agq_route_eval(e->rfacts, tier, al->v[k].doc,
			    S->registry, &ch, why, sizeof why);
		if (sc >= 0 && choice_paused(S, ch, why, sizeof why)) {
			sc = -1;        /* a usage or rate limit: not yet */
			json_decref(ch);
			ch = NULL;
		}
		if (sc < 0) {
			json_array_append_new(rejected, json_pack(
			    "{s:s, s:s, s:s}", "agent", al->v[k].name,
			    "tier", agq_tier_name(tier), "why", why));
		} else if (sc > best) {
			best = sc;
			*bi = k;
			json_decref(*bchoice);
			*bchoice = ch;
		} else {
			json_decref(ch);
		}
	}
	return best;
}

/* The routing facts of entry E in lane LANE (agq_route_facts), read from
 * its task file the first time they are needed; NULL when the file cannot
 * be read (gone: assign() or the index sorts it out).  Borrowed. */
static const json_t *
qent_facts(struct sched *S, int lane, struct qent *e)
{
	if (!e->rfacts) {
		char *p = agq_spool_path(S->sp, "queue/%s/%s.json",
		    agq_lane_name(lane), e->id);
		json_t *t = agq_task_read(p);
		free(p);
		if (!t)
			return NULL;
		e->rfacts = agq_route_facts(t);
		json_decref(t);
	}
	return e->rfacts;
}

/* Routing (route.c): may agent G take the agent task E now?  Every free
 * agent is evaluated for E's tier; G must be the best (warm model, then
 * the less loaded host; ties to the least recently assigned).  With no
 * agent for the tier during route_wait seconds, one tier lower is tried
 * (never trivial for a task without cmd).  Sets S->route for assign(). */
static int
route_pick(struct sched *S, int lane, struct qent *e,
           struct agent_list *al, struct agent *g)
{
	json_decref(S->route);
	S->route = NULL;
	if (!e->agentish && !json_array_size(json_object_get(g->doc,
	    "backends")))
		/* a plain command, a plain agent; a task with review left
		 * to an agent without the review capability */
		return !review_elsewhere(S, e, al, g);
	const json_t *f = qent_facts(S, lane, e);
	if (!f)
		return 1;               /* assign() sorts it out */
	if (!json_is_true(json_object_get(f, "agentish")) &&
	    !json_array_size(json_object_get(g->doc, "backends")))
		return 1;               /* a plain command, a plain agent */
	if (!S->registry)
		S->registry = agq_registry_load(S->sp);
	int tier = (int)json_integer_value(json_object_get(f, "tier"));
	int has_cmd = json_is_true(json_object_get(f, "has_cmd"));
	int explicit = json_is_string(json_object_get(f, "backend"));
	if (tier == 0 && !has_cmd)
		tier = 1;
	int from = -1, best = -1;
	size_t bi = 0;
	json_t *bchoice = NULL, *rejected = json_array();
	for (;;) {
		/* a task with review: the agents without its review
		 * capability first (review_elsewhere) */
		best = route_best(S, e, tier, al, best, &bi, &bchoice, rejected,
		    e->rcap ? 0 : -1);
		if (best < 0 && e->rcap)
			best = route_best(S, e, tier, al, best, &bi, &bchoice,
			    rejected, 1);
		if (best >= 0 || explicit || from >= 0)
			break;
		const char *fb = agq_backend_setting(&S->sp->conf,
		    "route_fallback", "yes");
		const char *w = agq_backend_setting(&S->sp->conf, "route_wait",
		    "60");
		int64_t wait_us;
		if (agq_parse_duration(w, &wait_us) < 0)
			wait_us = 60000000;
		if (strcmp(fb, "yes") || agq_now_us() - e->seen_us < wait_us ||
		    tier == 0 || (tier == 1 && !has_cmd))
			break;
		from = tier--;
	}
	if (best < 0 || strcmp(al->v[bi].name, g->name)) {
		json_decref(rejected);
		json_decref(bchoice);
		return 0;
	}
	const char *b = json_string_value(json_object_get(bchoice, "backend"));
	const char *m = json_string_value(json_object_get(bchoice, "model"));
	json_t *ep = json_object_get(bchoice, "endpoint");
	const char *epn = json_string_value(json_object_get(ep, "name"));
	char reason[600];
	snprintf(reason, sizeof reason, "tier %s%s%s%s: %s runs %s%s%s%s%s%s, "
	    "load %.2f per CPU%s", agq_tier_name(tier),
	    from >= 0 ? " (fallback from " : "",
	    from >= 0 ? agq_tier_name(from) : "", from >= 0 ? " after the "
	    "wait)" : "", g->name, b, m ? ", model " : "", m ? m : "",
	    epn ? " on " : "", epn ? epn : "", epn ? (json_is_true(
	    json_object_get(bchoice, "warm")) ? " (warm)" : " (cold)") : "",
	    agq_host_load(g->doc), explicit ? "; backend named by the task" :
	    json_array_size(json_object_get(g->doc, "backends")) ?
	    "; best of the free agents" : "; the agent runs any backend");
	S->route = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:o, s:o}",
	    "tier", agq_tier_name(tier), "backend", b, "model", m,
	    "endpoint", epn, "agent", g->name, "reason", reason, "rejected",
	    rejected, "choice", bchoice);
	if (from >= 0)
		json_object_set_new(S->route, "fallback_from",
		    json_string(agq_tier_name(from)));
	return 1;
}

/* Taking back prefetched leases (agq-sched(8), "Prefetch"). */
struct take_scan {
	struct sched *S;
	struct agent *idlers;   /* free slot, nothing in the queue to take */
	size_t n;
	int left;               /* free slots of the idlers */
	const char *agent;      /* whose leases are looked at */
};

static int
take_each(const char *fname, void *arg)
{
	struct take_scan *ts = arg;
	char id[65];
	if (!id_of(fname, id))
		return 0;
	struct agq_locked l;
	if (lock_lease(ts->S, ts->agent, id, &l) < 0)
		return 0;
	int stop = 0;
	size_t k = ts->n;
	/* only a plain task not started yet, under its lock: the agent
	 * starts it under the same lock, so one of the two wins */
	if (!agq_task_lease_started(l.task) && !agq_task_is_agent(l.task))
		for (k = 0; k < ts->n; k++)
			if (ts->idlers[k].idle > 0 && agq_requires_met(
			    json_object_get(l.task, "requires"),
			    ts->idlers[k].caps))
				break;
	if (k == ts->n)
		goto out;
	char why[200];
	snprintf(why, sizeof why, "prefetched and not started; agent %s is "
	    "idle", ts->idlers[k].name);
	if (reclaim_locked(ts->S, &l, ts->agent, why, 0, &stop) ==
	    AGQ_ST_QUEUE) {
		ts->idlers[k].idle--;
		ts->S->slots_dirty = 1;         /* the next pass assigns it */
		if (--ts->left <= 0)
			stop = 1;
	}
out:
	agq_task_unlock(&l);
	return stop;
}

static int
take_agent(const char *name, void *arg)
{
	struct take_scan *ts = arg;
	if (!agq_agent_name_valid(name))
		return 0;
	for (size_t k = 0; k < ts->n; k++)
		if (!strcmp(ts->idlers[k].name, name))
			return 0;
	json_t *a = agent_doc(ts->S, name);
	if (!a)
		return 0;
	int slots = (int)agq_task_int(a, "slots", 1);
	int prefetch = agent_prefetch(a);
	json_decref(a);
	/* more leases than slots: one at least is waiting */
	if (!prefetch || agq_agent_load(ts->S->sp, name) <= slots)
		return 0;
	ts->agent = name;
	char *d = agq_spool_path(ts->S->sp, "active/%s", name);
	int r = agq_dir_each(d, take_each, ts);
	free(d);
	return r > 0 || ts->left <= 0;
}

/* IDLERS (N agents) have a free slot and nothing in the queue they can
 * take: take back, for them, plain tasks prefetched by busy agents and not
 * started.  Each goes back to its lane (agq_task_reclaim: no attempt is
 * counted), and the next pass gives it to an idler, agents with a free
 * slot coming first. */
static void
take_back(struct sched *S, struct agent *idlers, size_t n)
{
	struct take_scan ts = { S, idlers, n, 0, NULL };
	for (size_t k = 0; k < n; k++)
		ts.left += idlers[k].idle;
	char *d = agq_spool_path(S->sp, "active");
	if (agq_dir_each(d, take_agent, &ts) < 0 && errno != ENOENT)
		agq_syserr("cannot read directory", d);
	free(d);
}

/* ---- tasks no agent can take (agq-sched(8)) ---------------------------- */

/* FNV-1a of the NUL-terminated S, continuing from H. */
static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (h ^ 0xff) * 1099511628211u;
}

/* What an agent or an endpoint shows of itself to routing: the members
 * KEYS of O, serialized into the hash H. */
static uint64_t
hash_members(uint64_t h, const json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		char *d = json_dumps(json_object_get(o, *keys),
		    JSON_COMPACT | JSON_ENCODE_ANY);
		h = fnv(fnv(h, *keys), d ? d : "null");
		free(d);
	}
	return h;
}

struct world { struct sched *S; json_t *agents; };

static int
world_agent(const char *fname, void *arg)
{
	struct world *w = arg;
	char name[65];
	if (!id_of(fname, name))
		return 0;
	json_t *a = agent_doc(w->S, name);
	if (!a)
		return 0;
	if (agent_takes_work(w->S, a)) {
		json_t *c = json_deep_copy(a);  /* agent_doc's is read-only */
		json_object_set_new(c, "name", json_string(name));
		json_array_append_new(w->agents, c);
	}
	json_decref(a);
	return 0;
}

/* The alive agents (busy or not; not draining) in *AGENTS (a new array of
 * their files) and a key of all that routing reads of them and of the
 * endpoints' registry: names, capabilities, backends, models, endpoints,
 * and each endpoint's type, health and models.  Not their load or
 * heartbeat: a task is diagnosed again only when this key changes. */
static uint64_t
world_key(struct sched *S, json_t **agents)
{
	static const char *const akeys[] = { "capabilities", "backends",
	    "models", "endpoints", NULL };
	static const char *const ekeys[] = { "type", "health", "models",
	    NULL };
	struct world w = { S, json_array() };
	char *d = agq_spool_path(S->sp, "agents");
	(void)agq_dir_each(d, world_agent, &w);
	free(d);
	uint64_t h = 14695981039346656037u;
	size_t i;
	json_t *a;
	json_array_foreach(w.agents, i, a)
		h = hash_members(fnv(h, json_string_value(json_object_get(a,
		    "name"))), a, akeys);
	const char *n;
	json_object_foreach(S->registry, n, a)
		h = hash_members(fnv(h, n), a, ekeys);
	static const char *const pkeys[] = { "account", "until", NULL };
	json_array_foreach(pauses(S), i, a)
		h = hash_members(h, a, pkeys);
	*agents = w.agents;
	return h | 1;
}

/* A task with facts F that agq_route_unroutable finds some agent of
 * AGENTS can take: does every such agent call a paused account
 * (choice_paused)?  1 with WHY (SIZE bytes) the first pause's reason. */
static int
all_paused(struct sched *S, const json_t *f, const json_t *agents,
           char *why, size_t size)
{
	if (!json_array_size(pauses(S)) || !json_is_true(json_object_get(f,
	    "agentish")))
		return 0;
	int tier = (int)json_integer_value(json_object_get(f, "tier"));
	if (tier == 0 && !json_is_true(json_object_get(f, "has_cmd")))
		tier = 1;
	int paused = 0;
	size_t k;
	json_t *a;
	json_array_foreach(agents, k, a) {
		json_t *ch = NULL;
		char w[512];
		if (!agq_requires_met(json_object_get(f, "requires"),
		    json_object_get(a, "capabilities")) || agq_route_eval(f,
		    tier, a, S->registry, &ch, w, sizeof w) < 0)
			continue;
		int p = choice_paused(S, ch, w, sizeof w);
		json_decref(ch);
		if (!p)
			return 0;
		if (!paused++)
			agq_errf(why, size, "%s", w);
	}
	return paused > 0;
}

/* Journal E's `wait` event: WHY, no agent can take it (since
 * E->wait_since), or NULL: it can be taken again. */
static void
wait_event(struct sched *S, struct qent *e, const char *why)
{
	char ts[32];
	if (why)
		agq_journal_w(S->sp, "wait", e->id, json_pack("{s:b, s:s, "
		    "s:s}", "routable", 0, "reason", why, "since",
		    agq_fmt_time(e->wait_since, ts)));
	else
		agq_journal_w(S->sp, "wait", e->id, json_pack("{s:b, s:s}",
		    "routable", 1, "reason", "an agent can take it now; it "
		    "waits for a free slot"));
	say(S, "%s waits: %s", e->id, why ? why : "routable again");
}

/* The queued tasks that agents with a free slot left in the queue: for
 * each, in a world (world_key) it was not looked at in yet, can any alive
 * agent ever take it (agq_route_unroutable)?  A `wait` event when the
 * answer or its reason changes, never one per pass.  Called after an
 * assignment pass that left a free slot, so a routable task, taken at
 * once, costs nothing here. */
static void
do_waits(struct sched *S)
{
	size_t left = 0;
	for (int l = 0; l < AGQ_NLANES && !left; l++)
		for (size_t i = 0; i < S->lanes[l].n && !left; i++)
			left += qent_alive(S, S->lanes[l].v[i]);
	if (!left)
		return;
	if (!S->registry)
		S->registry = agq_registry_load(S->sp);
	json_t *agents;
	uint64_t key = world_key(S, &agents);
	int fallback = !strcmp(agq_backend_setting(&S->sp->conf,
	    "route_fallback", "yes"), "yes");
	for (int l = 0; l < AGQ_NLANES; l++) {
		struct lane *L = &S->lanes[l];
		for (size_t i = 0; i < L->n; i++) {
			struct qent *e = L->v[i];
			if (e->wait_key == key || !qent_alive(S, e))
				continue;
			const json_t *f = qent_facts(S, l, e);
			if (!f)
				continue;
			e->wait_key = key;
			char why[1024];
			if (agq_route_unroutable(f, agents, S->registry,
			    fallback, why, sizeof why) || all_paused(S, f,
			    agents, why, sizeof why)) {
				if (e->wait_why && !strcmp(e->wait_why, why))
					continue;
				if (!e->wait_why)
					e->wait_since = agq_now_us();
				free(e->wait_why);
				e->wait_why = agq_xstrdup(why);
				wait_event(S, e, why);
			} else if (e->wait_why) {
				free(e->wait_why);
				e->wait_why = NULL;
				wait_event(S, e, NULL);
			}
		}
	}
	json_decref(agents);
}

/* The lanes with a live entry at or after their cursor CURSOR[l]: bit
 * l set (the fair lanes' "lanes with work", agq_drr_order). */
static unsigned
lanes_with_work(struct sched *S, const size_t *cursor)
{
	unsigned mask = 0;
	for (int l = 0; l < AGQ_NLANES; l++)
		for (size_t i = cursor[l]; i < S->lanes[l].n; i++)
			if (qent_alive(S, S->lanes[l].v[i])) {
				mask |= 1u << l;
				break;
			}
	return mask;
}

/* The limit keys of entry E of lane LANE into K: its lane and tenant,
 * and when ROUTED (after route_pick: S->route, or NULL for a plain
 * command left to a plain agent) its backend and endpoint.  Then: is E
 * paused (agq-pause) or held by a limit (agq_qstate_hold: its throttle
 * event once)?  1: not now; 0: it may go. */
static int
limit_keys(struct sched *S, int lane, const struct qent *e, int routed,
           struct agq_qkeys *k)
{
	memset(k, 0, sizeof *k);
	k->v[AGQ_QK_LANE] = agq_lane_name(lane);
	k->v[AGQ_QK_TENANT] = e->tenant;
	if (!json_array_size(S->upauses) && !S->lim.q)
		return 0;
	if (routed) {
		const json_t *ch = json_object_get(S->route, "choice");
		const char *b = json_string_value(json_object_get(ch,
		    "backend"));
		k->v[AGQ_QK_BACKEND] = b ? b : "shell";
		k->v[AGQ_QK_ENDPOINT] = json_string_value(json_object_get(
		    json_object_get(ch, "endpoint"), "name"));
		k->spends = b && strcmp(b, "shell");
	}
	if (agq_pause_match(S->upauses, k))
		return 1;
	if (!agq_qstate_hold(&S->lim, &S->holds, e->id, k, agq_now_us()))
		return 0;
	if (json_array_size(S->holds.events) >= 1024)
		agq_jbatch_w(S->sp, &S->holds);
	return 1;
}

static void
do_assign(struct sched *S)
{
	struct agent_list al = { S, NULL, 0, 0 };
	char *d = agq_spool_path(S->sp, "agents");
	if (agq_dir_each(d, agent_collect, &al) < 0)
		agq_syserr("cannot read directory", d);
	free(d);
	for (int l = 0; l < AGQ_NLANES; l++)
		lane_tidy(S, &S->lanes[l]);
	agq_qstate_refresh(S->sp, &S->lim, agq_now_us());
	S->upauses = agq_pause_list(S->sp);
	size_t cursor[AGQ_NLANES] = { 0 };
	int have_free = 0;
	struct agent *idlers = NULL;    /* free slots, nothing to take */
	size_t nidle = 0, nidle_cap = 0;
	while (al.n > 0 && agq_mono_us() >= S->room_at) {
		/* the least recently assigned agent with a free slot */
		qsort(al.v, al.n, sizeof *al.v, agent_cmp);
		struct agent *g = &al.v[0];
		int done = 0, order[AGQ_NLANES];
		unsigned mask = lanes_with_work(S, cursor);
		agq_drr_order(&S->lim.drr, mask, order);
		for (int oi = 0; oi < AGQ_NLANES && !done; oi++) {
			int l = order[oi];
			struct lane *L = &S->lanes[l];
			for (size_t i = cursor[l]; i < L->n && !done; i++) {
				struct qent *e = L->v[i];
				if (!qent_alive(S, e)) {
					if (i == cursor[l])
						cursor[l]++;
					continue;
				}
				if (!caps_ok(e, g->caps, g->name) || held(S, e, g))
					continue;
				if (g->idle <= 0 && e->agentish)
					continue;       /* prefetch: plain tasks */
				struct agq_qkeys k;
				if (limit_keys(S, l, e, 0, &k)) {
					/* by lane or tenant: held for every
					 * agent for the rest of the pass */
					if (i == cursor[l])
						cursor[l]++;
					continue;
				}
				if (!route_pick(S, l, e, &al, g))
					continue;
				if (limit_keys(S, l, e, 1, &k)) {
					json_decref(S->route);
					S->route = NULL;
					continue;
				}
				if (S->holds.events && json_object_get(
				    S->lim.held, e->id))
					/* its hold (for another agent) first */
					agq_jbatch_w(S->sp, &S->holds);
				struct agq_drr next = S->lim.drr;
				agq_drr_served(&next, mask, l);
				if (!next.strict)
					S->credits = json_pack("[I, I, I, I]",
					    (json_int_t)next.c[0], (json_int_t)
					    next.c[1], (json_int_t)next.c[2],
					    (json_int_t)next.c[3]);
				int ok = assign(S, l, e, g);
				if (ok)         /* K's strings are S->route's */
					agq_qstate_leased(&S->lim, e->id, &k,
					    agq_now_us());
				json_decref(S->route);
				S->route = NULL;
				json_decref(S->credits);
				S->credits = NULL;
				if (ok) {
					S->lim.drr = next;
					done = 1;
					g->free--;
					g->idle--;
					g->last = ++S->assign_counter;
					json_object_set_new(S->last_assigned,
					    g->name, json_integer(g->last));
				}
				if (i == cursor[l])
					cursor[l]++;
			}
		}
		if (!done || g->free == 0) {
			if (g->free > 0)
				have_free = 1;  /* idle: nothing it can take */
			if (!done && g->idle > 0 && !json_array_size(
			    json_object_get(g->doc, "backends"))) {
				/* a free slot and nothing in the queue for it:
				 * it may take a lease prefetched elsewhere */
				idlers = agq_grow(idlers, &nidle_cap, nidle,
				    sizeof *idlers, 4);
				idlers[nidle++] = *g;   /* with its doc */
			} else {
				json_decref(g->doc);
			}
			al.v[0] = al.v[--al.n];
		}
	}
	S->have_free = have_free;
	if (nidle > 0 && agq_mono_us() >= S->room_at)
		take_back(S, idlers, nidle);
	for (size_t k = 0; k < nidle; k++)
		json_decref(idlers[k].doc);
	free(idlers);
	while (al.n > 0)        /* left when the disk filled (no_room) */
		json_decref(al.v[--al.n].doc);
	free(al.v);
	if (have_free && agq_mono_us() >= S->room_at)
		do_waits(S);
	json_decref(S->registry);       /* read again next time */
	S->registry = NULL;
	json_decref(S->pauses);
	S->pauses = NULL;
	json_decref(S->upauses);
	S->upauses = NULL;
	if (S->holds.events)
		agq_jbatch_w(S->sp, &S->holds);
}

/* ---- the loop ----------------------------------------------------------- */

/* agq_review_scan's SEEN: reviews/ID/ watched, made first when needed,
 * so that a person's verdict (agq-pr) wakes the scheduler; marked seen
 * in this scan (true), for do_review. */
static void
review_seen(const char *id, void *arg)
{
	struct sched *S = arg;
	if (!S->review_watched)
		return;
	if (json_object_get(S->review_watched, id)) {
		json_object_set_new(S->review_watched, id, json_true());
		return;
	}
	char rel[128];
	snprintf(rel, sizeof rel, "reviews/%s", id);
	char *dir = agq_spool_path(S->sp, "%s", rel);
	if (agq_mkdirs(dir, 0700) < 0)
		agq_syserr("cannot make", dir);
	free(dir);
	const struct agq_watch w[] = { { rel, IN_MOVED_TO | IN_CREATE },
	    { NULL, 0 } };
	if (agq_watch_add(S->sp, w, 1) == 0)
		json_object_set_new(S->review_watched, id, json_true());
}

/* The tasks in review/: one decision each (review.c), when something
 * they depend on may have changed. */
static void
do_review(struct sched *S)
{
	const char *id;
	json_t *v;
	void *tmp;
	json_object_foreach(S->review_watched, id, v)
		json_object_set_new(S->review_watched, id, json_false());
	if (agq_review_scan(S->sp, review_seen, S) < 0) {
		if (errno != ENOENT)
			agq_spool_syserr(S->sp, "cannot read", "review");
		return;         /* nothing known left review/ */
	}
	/* the tasks that left review/: their reviews/ID/ no longer watched */
	json_object_foreach_safe(S->review_watched, tmp, id, v) {
		if (json_is_true(v))
			continue;
		char rel[128];
		snprintf(rel, sizeof rel, "reviews/%s", id);
		agq_watch_remove(S->sp, rel);
		json_object_del(S->review_watched, id);
	}
}

/* ---- dependencies (deps.c) ---------------------------------------------- */

/* agq_dep_settle of ID, with TRIGGER the parent that ended (or NULL); a
 * dependent cancelled or released as it ended (dead/) noted as ended
 * itself, so a chain is settled in this pass.  1 to stop (a full disk),
 * else 0. */
static int
dep_settle(struct sched *S, const char *id, const char *trigger)
{
	int r = agq_dep_settle(S->sp, id, trigger);
	if (r == -1) {
		int e = errno;
		agq_spool_syserr(S->sp, "cannot settle the dependencies of",
		    "blocked/%s.json", id);
		return no_room(S, e);
	}
	if (r == AGQ_DEP_CANCEL)
		json_object_set_new(S->dep_ended, id, json_true());
	if (r >= 0 && r != AGQ_DEP_WAIT)
		say(S, "%s: %s (blocked/)", id, agq_dep_decision_name(r));
	return 0;
}

struct dep_child { struct sched *S; const char *parent; };

static int
dep_child(const char *c, void *arg)
{
	struct dep_child *dc = arg;
	return dep_settle(dc->S, c, dc->parent);
}

static int
dep_scan_one(const struct agq_loc *loc, const char *id, void *arg)
{
	(void)loc;
	return dep_settle(arg, id, NULL);
}

/* deps/P/ at start: P ended while no scheduler watched (or its end was
 * missed): noted as ended, so that its stale edges go too. */
static int
dep_scan_parent(const char *p, void *arg)
{
	struct sched *S = arg;
	char reason[8];
	if (agq_id_valid(p) && agq_dep_parent_state(p, reason, sizeof reason,
	    S->sp) > AGQ_DEP_PENDING)
		json_object_set_new(S->dep_ended, p, json_true());
	return 0;
}

/* The tasks in blocked/ that need a decision: all of them once (S->dep_scan:
 * at start, after an inotify overflow, with the parents in deps/ that
 * ended), those that arrived, and the dependents of the tasks that ended
 * (deps/P/, never a scan of blocked/). */
static void
do_deps(struct sched *S)
{
	const char *id;
	json_t *v;
	void *tmp;
	if (S->dep_scan) {
		S->dep_scan = 0;
		json_object_clear(S->dep_arrived);
		if (agq_each_task(S->sp, AGQ_ST_BLOCKED, dep_scan_one, S) < 0)
			agq_spool_syserr(S->sp, "cannot read", "blocked");
		char *d = agq_spool_path(S->sp, "deps");
		if (agq_dir_each(d, dep_scan_parent, S) < 0 && errno != ENOENT)
			agq_syserr("cannot read", d);
		free(d);
	}
	json_object_foreach_safe(S->dep_arrived, tmp, id, v) {
		if (agq_mono_us() < S->room_at)
			return;
		dep_settle(S, id, NULL);
		json_object_del(S->dep_arrived, id);
	}
	while (json_object_size(S->dep_ended) > 0) {
		json_object_foreach_safe(S->dep_ended, tmp, id, v) {
			if (agq_mono_us() < S->room_at)
				return;
			char p[65];
			snprintf(p, sizeof p, "%s", id);
			json_object_del(S->dep_ended, p);
			struct dep_child dc = { S, p };
			if (agq_dep_children(S->sp, p, dep_child, &dc) < 0)
				agq_spool_syserr(S->sp, "cannot read", "deps/%s", p);
		}
	}
}

static void
pass(struct sched *S)
{
	if (agq_mono_us() < S->room_at)
		return;         /* the disk is full: the work waits (no_room) */
	if (S->dep_scan || json_object_size(S->dep_arrived) ||
	    json_object_size(S->dep_ended))
		do_deps(S);
	if (S->routines_dirty || S->rescan || (S->next_routine_s &&
	    agq_routine_now() >= S->next_routine_s)) {
		/* before the index: the tasks fired are in this pass */
		S->routines_dirty = 0;
		(void)agq_routine_pass(S->sp, agq_routine_now(),
		    S->routine_recover || S->rescan, &S->next_routine_s);
		S->routine_recover = 0;
	}
	if (S->rescan) {
		index_rescan(S);
		S->rescan = 0;
		S->review_dirty = 1;
	}
	if (S->review_dirty) {
		S->review_dirty = 0;
		do_review(S);
	}
	if (S->inbox_dirty || (S->inbox_retry_us && agq_now_us() >=
	    S->inbox_retry_us)) {
		S->inbox_dirty = 0;
		do_inbox(S);
	}
	if (S->defer_dirty || (S->next_defer_us && agq_now_us() >=
	    S->next_defer_us)) {
		S->defer_dirty = 0;
		do_defer(S);
	}
	/* Assign when there is new work and maybe a free slot, or when a
	 * slot may have come free; with every agent busy, a burst of new
	 * tasks costs no agent reads. */
	if (S->slots_dirty || (S->new_work && S->have_free)) {
		S->slots_dirty = 0;
		S->new_work = 0;
		do_assign(S);
	}
}

/* libinotifytools set up with a watch on every directory whose change the
 * scheduler acts on (note_event).  0, or -1 (reported). */
static int
sched_watch(struct sched *S)
{
	struct agq_spool *sp = S->sp;
	uint32_t chg = IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE |
	    IN_MOVED_FROM | IN_DELETE;
	char qrel[AGQ_NLANES][32];
	struct agq_watch w[AGQ_NLANES + 14], *p = w;
	/* a drop is judged once moved in or closed after writing, not
	 * when created (maybe still empty or half-written) */
	*p++ = (struct agq_watch){ "inbox", IN_MOVED_TO | IN_CLOSE_WRITE };
	for (int l = 0; l < AGQ_NLANES; l++) {
		snprintf(qrel[l], sizeof qrel[l], "queue/%s", agq_lane_name(l));
		*p++ = (struct agq_watch){ qrel[l], chg };
	}
	*p++ = (struct agq_watch){ "defer", IN_MOVED_TO | IN_CREATE };
	*p++ = (struct agq_watch){ "agents", IN_MOVED_TO | IN_CLOSE_WRITE |
	    IN_DELETE };
	*p++ = (struct agq_watch){ "done", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "dead", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "hold", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "blocked", IN_MOVED_TO | IN_CREATE };
	*p++ = (struct agq_watch){ "review", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "approval", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "reviews", IN_MOVED_TO | IN_CREATE };
	/* a PR merged or closed on the forge (agq-pr poll): its task's
	 * decision (review.c) */
	*p++ = (struct agq_watch){ "prs/merged", IN_MOVED_TO };
	*p++ = (struct agq_watch){ "prs/closed", IN_MOVED_TO };
	/* a routine added, edited, resumed or removed (agq-routine) */
	*p++ = (struct agq_watch){ "routines", IN_MOVED_TO | IN_CREATE |
	    IN_DELETE };
	*p = (struct agq_watch){ NULL, 0 };
	return agq_waiter_setup(&S->wt, sp, w, S->o->poll_s, 0, 1);
}

/* REL (a watched directory relative to the spool, as libinotifytools
 * names it: with a trailing '/') is the directory NAME. */
static int
dir_is(const char *rel, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(rel, name, n) && (!rel[n] || (rel[n] == '/' &&
	    !rel[n + 1]));
}

/* Note what an event changed.  Returns 1 if it needs a full rescan. */
static int
note_event(struct sched *S, struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return 1;
	const char *dir = inotifytools_filename_from_wd(ev->wd);
	if (!dir)
		return 0;
	const char *rel = dir + strlen(S->sp->root);
	while (*rel == '/')
		rel++;
	const char *name = ev->len ? ev->name : "";
	if (!strncmp(rel, "inbox", 5)) {
		S->inbox_dirty = 1;
	} else if (!strncmp(rel, "queue/", 6)) {
		char lanename[16];
		snprintf(lanename, sizeof lanename, "%s", rel + 6);
		char *slash = strchr(lanename, '/');
		if (slash)
			*slash = '\0';
		int lane = agq_lane_parse(lanename);
		char id[65];
		if (lane < 0 || !id_of(name, id))
			return 0;
		if (ev->mask & (IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE))
			index_file(S, lane, name);
		else if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
			index_drop(S, id);
	} else if (!strncmp(rel, "defer", 5)) {
		S->defer_dirty = 1;
		S->slots_dirty = 1;     /* a retry left an agent */
	} else if (!strncmp(rel, "agents", 6)) {
		/* an agent came, went or beat: reclaim now if it stopped */
		S->agents_dirty = 1;
		S->slots_dirty = 1;
	} else if (dir_is(rel, "blocked")) {
		/* a task arrived in blocked/: decided now, which closes the
		 * window of a parent that ended after its submitter looked */
		char id[65];
		if (id_of(name, id) && (ev->mask & (IN_MOVED_TO | IN_CREATE)))
			json_object_set_new(S->dep_arrived, id, json_true());
	} else if (!strncmp(rel, "review", 6)) {
		/* review/, reviews/, reviews/ID/: a decision to take; a coder
		 * task moved into review/ also left its agent's slot free */
		S->review_dirty = 1;
		if (!strcmp(rel, "review"))
			S->slots_dirty = 1;
	} else if (dir_is(rel, "routines")) {
		S->routines_dirty = 1;
	} else if (!strcmp(rel, "approval")) {
		/* a coder task waiting for a person: its slot is free */
		S->slots_dirty = 1;
	} else {
		/* done/, dead/, hold/: a slot may be free.  No reclaim: a
		 * finished task changes no lease; reclaim runs every second.
		 * A review or merge task that ended: its parent's decision */
		S->slots_dirty = 1;
		if (strncmp(rel, "hold", 4))
			S->review_dirty = 1;
		char id[65];
		if ((dir_is(rel, "done") || dir_is(rel, "dead")) &&
		    id_of(name, id))
			json_object_set_new(S->dep_ended, id, json_true());
	}
	return 0;
}

/* The spool's scheduler lock (.sched.lock), and the id index checked
 * before the first move.  The lock's descriptor; or minus the exit status
 * (reported): EX_TEMPFAIL when another scheduler holds it. */
/* agq_jrecon's report of a task whose move had no event. */
static void
sched_missing(const struct agq_jmiss *m, int fixed, void *arg)
{
	(void)arg;
	agq_warn("%s: in %s/ with no event for that move in the journal (a "
	    "crash between the move and its event): %s", m->id,
	    agq_state_name(m->state), fixed > 0 ? "reconstructed" :
	    "cannot append to the journal");
}

/* A remote spool's events, delivered to events/new/ by the programs of
 * every host, appended to the journal by this one writer (journal.c). */
static void
events_drain(struct agq_spool *sp)
{
	long n;
	if (sp->remote && agq_journal_events_append(sp, &n) < 0)
		agq_spool_syserr(sp, "cannot append the events of", "events/new");
	char *old = NULL;       /* a rotation another program asked for */
	if (sp->remote && agq_journal_rotate_asked(sp, &old) < 0)
		agq_spool_syserr(sp, "cannot rotate the journal as asked",
		    AGQ_ROTATE_ASK);
	free(old);
}

static int
sched_lock(struct agq_spool *sp)
{
	int lock = agq_spool_flock(sp, "sched", 0);
	if (lock < 0) {
		if (errno == EWOULDBLOCK) {
			agq_warn("another agq-sched is running on this spool "
			    "(%s/.sched.lock)", sp->root);
			return -EX_TEMPFAIL;
		}
		agq_spool_syserr(sp, "cannot lock", ".sched.lock");
		return -agq_exit_code(errno);
	}
	if (!agq_id_index_ok(sp)) {
		/* A spool from before id claims: claim every task before the
		 * first move (agq-spool(5), ids/). */
		long n;
		if (agq_id_index_rebuild(sp, &n) < 0)
			agq_spool_syserr(sp, "cannot rebuild the id index", "ids");
		else if (n > 0)         /* quiet for a spool just made */
			agq_warn("%s/ids: id index rebuilt: %ld task(s) without "
			    "a claim claimed", sp->root, n);
	}
	if (sp->remote) {       /* the one writer; its events first */
		agq_journal_writer(1);
		events_drain(sp);
	}
	/* State changes a crash left without their event (agq-sched(8)) */
	if (agq_jrecon(sp, 1, 1, sched_missing, NULL) < 0)
		agq_spool_syserr(sp, "cannot compare the tasks with", "journal");
	return lock;
}

/* Everything S holds freed. */
static void
sched_free(struct sched *S)
{
	for (int l = 0; l < AGQ_NLANES; l++) {
		for (size_t i = 0; i < S->lanes[l].n; i++)
			qent_free(S->lanes[l].v[i]);
		free(S->lanes[l].v);
	}
	json_decref(S->member);
	json_decref(S->last_assigned);
	json_decref(S->agent_state);
	json_decref(S->lease_warned);
	json_decref(S->cap_refused);
	json_decref(S->review_watched);
	json_decref(S->dep_arrived);
	json_decref(S->dep_ended);
	agq_qstate_close(&S->lim);
	for (size_t i = 0; i < S->ndocs; i++)
		json_decref(S->docs[i].doc);
	free(S->docs);
}

/* Wait for one event (or a signal, or a second) and note it.  One event per
 * turn (a timeout of 0 blocks in this libinotifytools, so there is no
 * non-blocking drain); events already read sit in its buffer and return
 * at once. */
static void
sched_wait(struct sched *S)
{
	struct inotify_event *ev = agq_waiter_next(&S->wt);
	if (ev && note_event(S, ev))
		S->rescan = S->dep_scan = 1;
	if (S->wt.poll_us) {    /* polling: each period a full look */
		if (S->wt.due) {
			S->rescan = S->dep_scan = S->inbox_dirty = 1;
			S->defer_dirty = S->agents_dirty = S->slots_dirty = 1;
		}
		return;
	}
	int e = inotifytools_error();
	if (e && e != EINTR) {
		errno = e;
		agq_syserr("cannot read inotify events", NULL);
		S->rescan = 1;
		sleep(1);
	}
}

/* Every pr_poll seconds (agq.conf, default 60; 0 off), when a forge is
 * set: `agq-pr poll` started as a child (*CHILD), which the loop never
 * waits for: reaped here once it has ended (WNOHANG), and not started
 * again while it runs.  *LAST: when the last one started (monotonic us).
 * agq-sched(8), agq-pr(1) poll. */
static void
pr_poll_tick(const struct agq_spool *sp, pid_t *child, int64_t *last)
{
	int64_t period;
	if (*agq_backend_setting(&sp->conf, "forge", "") &&
	    agq_parse_duration(agq_backend_setting(&sp->conf, "pr_poll", "60"),
	    &period) == 0 && period > 0 && agq_child_due(child, last, period))
		*child = agq_spool_spawn(sp, "agq-pr", "poll");
}

int
agq_sched(struct agq_spool *sp, const struct agq_sched_opts *o)
{
	struct sched S;
	memset(&S, 0, sizeof S);
	S.sp = sp;
	S.o = o;
	int lock = sched_lock(sp);
	if (lock < 0)
		return -lock;

	S.member = json_object();
	S.last_assigned = json_object();
	S.agent_state = json_object();
	S.lease_warned = json_object();
	S.cap_refused = json_object();
	S.review_watched = json_object();
	S.dep_arrived = json_object();
	S.dep_ended = json_object();
	S.dep_scan = 1;         /* once at start: the restart case */
	S.routines_dirty = S.routine_recover = 1;       /* likewise */
	int ret = 0;
	/* limits and fair lanes: counts and credits from the journal */
	if (agq_qstate_open(sp, &S.lim, agq_now_us()) < 0)
		agq_spool_syserr(sp, "cannot read the day's costs and holds "
		    "from", "journal");

	if (o->once) {
		json_decref(S.review_watched);  /* nothing is watched */
		S.review_watched = NULL;
		S.rescan = 1;
		S.slots_dirty = 1;
		do_reclaim(&S);
		S.slots_dirty = 1;
		pass(&S);
		events_drain(sp);
		if (S.room_at)          /* a change found no room: cron retries */
			ret = EX_TEMPFAIL;
		goto out;
	}

	agq_signals_catch(on_signal, 0, SIGTERM, SIGINT, SIGHUP, 0);
	if (sched_watch(&S) < 0) {
		ret = EX_OSERR;
		goto out;
	}
	if (S.wt.poll_us) {     /* nothing watched: reviews/ID/ looked at */
		json_decref(S.review_watched);
		S.review_watched = NULL;
	}
	agq_journal_w(sp, "sched_up", NULL, json_pack("{s:s}", "spool",
	    sp->root));
	if (o->verbose)
		agq_warn("scheduling %s", sp->root);

	S.rescan = 1;
	S.slots_dirty = 1;
	int64_t last_rescan = agq_mono_us(), last_reclaim = 0;
	pid_t reg_child = 0;            /* the endpoint check running */
	int64_t reg_last = 0;
	pid_t poll_child = 0;           /* agq-pr poll running */
	int64_t poll_last = 0;
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			S.rescan = S.dep_scan = 1;
		}
		int64_t mono = agq_mono_us();
		if (mono - last_rescan > (int64_t)(sp->conf.rescan_s * 1e6)) {
			S.rescan = 1;
			last_rescan = mono;
		}
		pass(&S);
		if (mono - last_reclaim >= 1000000 || S.agents_dirty) {
			S.agents_dirty = 0;
			S.slots_dirty = 1;
			last_reclaim = mono;
			do_reclaim(&S);
			pass(&S);
		}
		events_drain(sp);
		agq_registry_tick(sp, &reg_child, &reg_last);
		pr_poll_tick(sp, &poll_child, &poll_last);
		sched_wait(&S);
	}
	agq_journal_w(sp, "sched_down", NULL, NULL);
	agq_waiter_end(&S.wt);
out:
	sched_free(&S);
	close(lock);
	return ret;
}
