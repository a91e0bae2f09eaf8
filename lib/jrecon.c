/*
 * jrecon.c - state changes the journal missed, found and reconstructed
 * (agq-journal(5), "Reconstructed events").
 *
 * The tasks looked at (all, or those changed since the journal's last
 * event) are collected first, then the journals are read backwards, the
 * newest line first, each state event of a task still unresolved giving
 * that task its last journaled state; the reading stops when none is
 * left.  Lines appended meanwhile (a writer between its rename and its
 * event while this read) are read again before anything is appended.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "lifecycle.h"
#include "journal.h"
#include "jrecon.h"

/* A file's ctime older than the journal's last event by less than this
 * still makes it a candidate (quick mode): file system times are a
 * coarse clock, and the event is stamped after the rename. */
#define SLACK_US 2000000
/* How long a move may wait for its event before it is taken for one a
 * crash left without: a live writer appends right after its rename, but
 * a loaded machine can delay it by tenths of a second. */
#define GRACE_US 3000000

int
agq_jrecon_ev_state(const json_t *o)
{
	int to = agq_state_parse(json_string_value(json_object_get(o, "to")));
	if (to >= 0)
		return to;
	const char *ev = json_string_value(json_object_get(o, "ev"));
	if (!ev)
		return AGQ_ST_NONE;
	/* a limit's hold (agq-sched(8), "Limits"): the task stays queued */
	if (!strcmp(ev, "throttle") && json_object_get(o, "limit"))
		return AGQ_ST_NONE;
	if (!strcmp(ev, "submit") || !strcmp(ev, "accept")) {
		const char *st = json_string_value(json_object_get(o, "state"));
		return st ? agq_state_parse(st) : AGQ_ST_QUEUE;
	}
	static const struct { const char *ev; int state; } tab[] = {
		{ "promote", AGQ_ST_QUEUE }, { "handback", AGQ_ST_QUEUE },
		{ "reclaim", AGQ_ST_QUEUE }, { "assign", AGQ_ST_ACTIVE },
		{ "retry", AGQ_ST_DEFER }, { "throttle", AGQ_ST_DEFER },
		{ "done", AGQ_ST_DONE }, { "dead", AGQ_ST_DEAD },
		{ "review_wait", AGQ_ST_REVIEW },
		{ "approval_wait", AGQ_ST_APPROVAL },
		{ "blocked", AGQ_ST_BLOCKED },
	};
	for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
		if (!strcmp(ev, tab[i].ev))
			return tab[i].state;
	return AGQ_ST_NONE;
}

/* The tasks looked at: id -> [state, ctime_us, path, last] with last
 * AGQ_ST_NONE until a state event is found (-2: not found yet). */
struct scan {
	json_t *tasks;
	int64_t since_us;       /* files and directories changed before: no */
	char dir[4096];         /* the directory of the last file seen ... */
	int dir_new;            /* ... changed since since_us */
};

static int64_t
ctime_us(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000 +
	    st->st_ctim.tv_nsec / 1000;
}

/* agq_each_task's callback: the task ID at LOC, when it and its
 * directory changed since S->since_us (a rename into a directory
 * changes its mtime; the files of one directory come together). */
static int
scan_task(const struct agq_loc *loc, const char *id, void *arg)
{
	struct scan *S = arg;
	const char *sl = strrchr(loc->path, '/');
	size_t k = sl ? (size_t)(sl - loc->path) : 0;
	if (strlen(S->dir) != k || strncmp(S->dir, loc->path, k)) {
		snprintf(S->dir, sizeof S->dir, "%.*s", (int)k, loc->path);
		struct stat st;
		S->dir_new = stat(S->dir, &st) == 0 &&
		    (int64_t)st.st_mtim.tv_sec * 1000000 +
		    st.st_mtim.tv_nsec / 1000 >= S->since_us;
	}
	struct stat st;
	if (S->dir_new && !json_object_get(S->tasks, id) &&
	    lstat(loc->path, &st) == 0 && S_ISREG(st.st_mode) &&
	    ctime_us(&st) >= S->since_us)
		json_object_set_new(S->tasks, id, json_pack("[i, I, s, i]",
		    loc->state, (json_int_t)ctime_us(&st), loc->path, -2));
	return 0;       /* a second copy (a duplicate) is agq-fsck's */
}

/* The "id" of a journal line, when it is an event about a task we look
 * at that changes a state: that state into *STATE and the entry. */
static json_t *
line_entry(json_t *tasks, const char *line, size_t len, int *state)
{
	/* most lines are not state events of these tasks: look before
	 * parsing */
	if (!memmem(line, len, "\"id\":\"", 6))
		return NULL;
	json_t *o = json_loadb(line, len, 0, NULL);
	json_t *e = json_object_get(tasks, json_string_value(
	    json_object_get(o, "id")));
	*state = e ? agq_jrecon_ev_state(o) : AGQ_ST_NONE;
	json_decref(o);
	return *state == AGQ_ST_NONE ? NULL : e;
}

/* Read the journal file PATH backwards from its end down to offset STOP,
 * giving each task of TASKS still unresolved (last -2) the state of its
 * newest state event; *LEFT counts them down, the reading ends at 0.
 * *END gets where the file ended (its last whole line).  0 or -1. */
static int
read_back(const char *path, json_t *tasks, long *left, off_t stop,
          off_t *end)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct agq_jtail t;
	if (agq_journal_tail(fd, &t) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (end)
		*end = t.good_len;
	struct agq_jrev rv;
	agq_jrev_open(&rv, fd, t.good_len);
	const char *line;
	size_t len;
	off_t off;
	int r = 0;
	while (*left > 0 && (r = agq_jrev_prev(&rv, &line, &len, &off)) > 0 &&
	    off >= stop) {
		int st;
		json_t *e = line ? line_entry(tasks, line, len, &st) : NULL;
		if (e && json_integer_value(json_array_get(e, 3)) == -2) {
			json_array_set_new(e, 3, json_integer(st));
			(*left)--;
		}
	}
	int err = errno;
	agq_jrev_close(&rv);
	close(fd);
	errno = err;
	return r < 0 ? -1 : 0;
}

/* The event recording a move from LAST to STATE: the row of the table
 * with those states, else the usual event into STATE. */
static const char *
event_for(int last, int state)
{
	const char *from = last >= 0 ? agq_state_name(last) : "(new)";
	for (int i = 0; i < AGQ_LC_NRULES; i++)
		if (!strcmp(agq_lc_rules[i].from, from) &&
		    !strcmp(agq_lc_rules[i].to, agq_state_name(state)))
			return agq_lc_rules[i].event;
	static const char *const into[AGQ_NSTATES] = {
		[AGQ_ST_QUEUE] = "promote", [AGQ_ST_DEFER] = "retry",
		[AGQ_ST_HOLD] = "hold", [AGQ_ST_ACTIVE] = "assign",
		[AGQ_ST_DONE] = "done", [AGQ_ST_DEAD] = "dead",
		[AGQ_ST_REVIEW] = "review_wait",
		[AGQ_ST_APPROVAL] = "approval_wait",
		[AGQ_ST_BLOCKED] = "blocked",
	};
	return into[state];
}

/* When a task in STATE at PATH (its file's ctime CT) got there: the last
 * attempt's "finished" for done and dead, else CT. */
static int64_t
when(const char *path, int state, int64_t ct)
{
	if (state != AGQ_ST_DONE && state != AGQ_ST_DEAD)
		return ct;
	json_t *t = agq_task_read(path);
	int64_t f = agq_task_time(agq_task_last_attempt(t), "finished", -1);
	json_decref(t);
	return f > 0 ? f : ct;
}

/* The journal event reconstructing M for the task at PATH. */
static json_t *
missing_event(const struct agq_jmiss *m, const char *path, const char *who)
{
	char ts[32];
	const char *to = agq_state_name(m->state);
	const char *from = m->last >= 0 ? agq_state_name(m->last) : NULL;
	json_t *x = json_pack("{s:s, s:b, s:s?, s:s, s:s}", "ts",
	    agq_fmt_time(m->ts_us, ts), "reconstructed", 1, "from", from, "to",
	    to, "reason", "");
	if (!strcmp(m->ev, "submit"))
		json_object_set_new(x, "state", json_string(to));
	json_t *t = agq_task_read(path);
	const char *agent = json_string_value(json_object_get(t, "agent"));
	if (agent)
		json_object_set_new(x, "agent", json_string(agent));
	json_decref(t);
	char *why = agq_xasprintf("reconstructed by %s: the task is in %s/ "
	    "but its last state event in the journal %s%s", who, to,
	    from ? "says " : "is none", from ? from : "");
	json_object_set_new(x, "reason", json_string(why));
	free(why);
	return x;
}

long
agq_jrecon(const struct agq_spool *sp, int quick, int fix,
           void (*fn)(const struct agq_jmiss *m, int fixed, void *arg),
           void *arg)
{
	char **names;
	size_t n;
	if (agq_journal_files(sp, &names, &n) < 0)
		return -1;
	struct scan S = { json_object(), INT64_MIN, "", 0 };
	long found = 0, left;
	int rc = 0;
	if (n == 0)
		goto out;       /* no journal: nothing to compare with */
	/* Tasks older than the oldest journal kept: their events were
	 * rotated away and removed. */
	char *p = agq_spool_path(sp, "%s", names[0]);
	json_t *o = agq_journal_rotate_head(p);
	if (o)
		S.since_us = agq_task_time(o, "ts", INT64_MIN);
	json_decref(o);
	free(p);
	if (quick) {
		/* only what changed since the journal's last event */
		p = agq_spool_path(sp, "journal");
		int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		free(p);
		struct agq_jrev rv;
		const char *line;
		size_t len;
		struct agq_jtail t;
		int64_t last = -1;
		if (fd >= 0 && agq_journal_tail(fd, &t) == 0) {
			agq_jrev_open(&rv, fd, t.good_len);
			if (agq_jrev_prev(&rv, &line, &len, NULL) > 0 && line) {
				json_t *lo = json_loadb(line, len, 0, NULL);
				last = agq_task_time(lo, "ts", -1);
				json_decref(lo);
			}
			agq_jrev_close(&rv);
		}
		if (fd >= 0)
			close(fd);
		if (last < 0)
			goto out;       /* an empty or damaged journal */
		if (last - SLACK_US > S.since_us)
			S.since_us = last - SLACK_US;
	}
	if (agq_each_task(sp, -1, scan_task, &S) < 0) {
		rc = -1;
		goto out;
	}
	left = (long)json_object_size(S.tasks);
	off_t end = 0;
	for (size_t i = n; i-- > 0 && left > 0 && rc == 0;) {
		p = agq_spool_path(sp, "%s", names[i]);
		rc = read_back(p, S.tasks, &left, 0, i + 1 == n ? &end : NULL);
		free(p);
	}
	if (rc < 0)
		goto out;
	/* The mismatched ones: read what was appended meanwhile first. */
	json_t *miss = json_object();
	const char *id;
	json_t *e;
	json_object_foreach(S.tasks, id, e) {
		int st = (int)json_integer_value(json_array_get(e, 0));
		int last = (int)json_integer_value(json_array_get(e, 3));
		if (last != st) {
			json_array_set_new(e, 3, json_integer(-2));
			json_object_set_new(miss, id, json_pack("[O, i]", e,
			    last < 0 ? AGQ_ST_NONE : last));
		}
	}
	json_t *again = json_object();
	int64_t newest = 0;
	json_object_foreach(miss, id, e) {
		json_t *te = json_array_get(e, 0);
		json_object_set(again, id, te);
		int64_t ct = json_integer_value(json_array_get(te, 1));
		if (ct > newest)
			newest = ct;
	}
	/* a move younger than GRACE_US: give its writer that long */
	int64_t wait = newest + GRACE_US - agq_now_us();
	if (wait > GRACE_US)
		wait = GRACE_US;
	if (json_object_size(again) && wait > 0) {
		struct timespec ts = { (time_t)(wait / 1000000),
		    (long)(wait % 1000000) * 1000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	left = (long)json_object_size(again);
	if (left && !strcmp(names[n - 1], "journal")) {
		p = agq_spool_path(sp, "journal");
		rc = read_back(p, again, &left, end, NULL);
		free(p);
	}
	struct agq_jbatch b = { NULL };
	json_t *list = json_array();
	json_object_foreach(miss, id, e) {
		json_t *te = json_array_get(e, 0);
		int st = (int)json_integer_value(json_array_get(te, 0));
		int now = (int)json_integer_value(json_array_get(te, 3));
		if (now == st)
			continue;       /* its event came meanwhile */
		const char *path = json_string_value(json_array_get(te, 2));
		struct agq_jmiss m = { id, st, now >= 0 ? now : (int)
		    json_integer_value(json_array_get(e, 1)), NULL, 0 };
		m.ev = event_for(m.last, st);
		m.ts_us = when(path, st, json_integer_value(json_array_get(te,
		    1)));
		found++;
		if (fix)
			agq_jbatch_add(&b, m.ev, id, missing_event(&m, path,
			    agq_prog));
		json_array_append_new(list, json_pack("{s:s, s:i, s:i, s:s, "
		    "s:I}", "id", id, "state", m.state, "last", m.last, "ev",
		    m.ev, "ts", (json_int_t)m.ts_us));
	}
	int fixed = 0, err = 0;
	if (fix && found) {
		fixed = agq_jbatch_write(sp, &b) == 0 ? 1 : -1;
		err = errno;
	}
	size_t i;
	json_array_foreach(list, i, e) {
		struct agq_jmiss m = {
			json_string_value(json_object_get(e, "id")),
			(int)json_integer_value(json_object_get(e, "state")),
			(int)json_integer_value(json_object_get(e, "last")),
			NULL, json_integer_value(json_object_get(e, "ts")) };
		m.ev = event_for(m.last, m.state);
		if (fn) {
			errno = err;
			fn(&m, fixed, arg);
		}
	}
	json_decref(list);
	json_decref(again);
	json_decref(miss);
out:
	json_decref(S.tasks);
	agq_journal_files_free(names, n);
	return rc < 0 ? -1 : found;
}
