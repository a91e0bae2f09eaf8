/*
 * clean.c - agq-clean(8): finished tasks moved into the monthly archive
 * (archive.h).  For each batch of tasks, under their task locks: the
 * records appended to the archive and fsynced first, then the task files,
 * their id claims and their out/ID removed, so that a crash leaves a task
 * in both places, never in neither; a task found in the archive already
 * (such a crash: the same id and submitted_at) is removed without a second
 * record, while a task submitted again under an archived id is archived
 * beside it (agq_archive_find takes the newest).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "out.h"
#include "archive.h"
#include "clean.h"

/* Tasks locked at once: one descriptor each. */
#define BATCH 128

/* Which finished tasks a run takes. */
enum { SEL_DONE = 1, SEL_DEAD = 2, SEL_CANCELLED = 4 };

/* One archive file of the run: the ids it holds, where its last whole
 * member ends, and the lines of the batch to append. */
struct month {
	char name[32];
	json_t *ids;            /* object: id -> its task's submitted_at */
	long records;           /* its lines (an id submitted again: two) */
	off_t good;
	char *buf;
	size_t len, cap;
	int used;               /* a record was appended this run */
};

struct run {
	const struct agq_spool *sp;
	int sel, dry, quiet;
	int64_t older_us, now_us;
	char **ids;             /* candidates */
	size_t n, cap;
	struct month *m;
	size_t nm, mcap;
	long archived, removed, kept;
	int rc;
};

static int
collect(const struct agq_loc *loc, const char *id, void *arg)
{
	struct run *R = arg;
	(void)loc;
	R->ids = agq_grow(R->ids, &R->cap, R->n, sizeof *R->ids, 256);
	R->ids[R->n++] = agq_xstrdup(id);
	return 0;
}

/* Parse LIST ("done,dead,cancelled") into SEL bits; -1 on a bad word. */
static int
parse_states(const char *list, int *sel)
{
	char *s = agq_xstrdup(list), *save = NULL;
	*sel = 0;
	int rc = 0;
	for (char *w = strtok_r(s, ", ", &save); w; w = strtok_r(NULL, ", ",
	    &save)) {
		if (!strcmp(w, "done"))
			*sel |= SEL_DONE;
		else if (!strcmp(w, "dead"))
			*sel |= SEL_DEAD;
		else if (!strcmp(w, "cancelled"))
			*sel |= SEL_CANCELLED;
		else
			rc = -1;
	}
	free(s);
	return rc < 0 || !*sel ? -1 : 0;
}

/* Which task of an id T is (a new reference): its submitted_at, which
 * agq-submit sets once (agq-task(5)), or null.  A task archived by a run
 * that died before removing it has the same; a task submitted again under
 * the same id after the first was archived and removed, another. */
static json_t *
submitted(const json_t *t)
{
	json_t *v = json_object_get(t, "submitted_at");
	return v ? json_incref(v) : json_null();
}

/* The month of archive NAME in the run, loaded on first use: the ids in
 * it and where its whole members end.  NULL when it cannot be read. */
static struct month *
month_get(struct run *R, const char *name)
{
	for (size_t i = 0; i < R->nm; i++)
		if (!strcmp(R->m[i].name, name))
			return &R->m[i];
	char *path = agq_spool_path(R->sp, "%s/%s", AGQ_ARCHIVE_DIR, name);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *text = NULL;
	size_t len = 0;
	off_t good = 0;
	if (fd < 0 && errno != ENOENT) {
		agq_syserr("cannot open the archive", path);
		free(path);
		return NULL;
	}
	if (fd >= 0 && agq_archive_read_fd(fd, &text, &len, &good) < 0) {
		agq_syserr("cannot read the archive", path);
		close(fd);
		free(path);
		return NULL;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	R->m = agq_grow(R->m, &R->mcap, R->nm, sizeof *R->m, 4);
	struct month *m = &R->m[R->nm++];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	m->ids = json_object();
	m->good = good;
	for (char *p = text, *nl; p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		const char *id = json_string_value(json_object_get(o, "id"));
		if (id) {
			json_object_set_new(m->ids, id, submitted(json_object_get(
			    o, "task")));
			m->records++;
		}
		json_decref(o);
	}
	free(text);
	return m;
}

/* out/ID/NAME as JSON, or NULL (none, not JSON, a symbolic link). */
static json_t *
out_json(int dfd, const char *name)
{
	if (dfd < 0)
		return NULL;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len;
	char *buf = agq_read_fd(fd, (size_t)16 << 20, &len);
	close(fd);
	json_t *o = buf ? json_loadb(buf, len, 0, NULL) : NULL;
	free(buf);
	return o;
}

/* Remove NAME in directory DFD and, when it is a directory, all in it,
 * never following a symbolic link.  Best effort. */
static void
rm_tree_at(int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT || depth > 16)
		return;
	int d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (d < 0)
		return;
	DIR *dir = fdopendir(d);
	if (!dir) {
		close(d);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_tree_at(dirfd(dir), de->d_name, depth + 1);
	closedir(dir);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

/* One locked task of a batch. */
struct entry {
	struct agq_locked l;
	struct month *m;        /* its archive, or NULL: not taken */
	int fresh;              /* its record is appended this batch */
};

/* Lock task ID and decide: E->m set when it is to be archived (its record
 * added to its month's buffer unless the month has it already). */
static void
consider(struct run *R, const char *id, struct entry *e)
{
	e->m = NULL;
	e->fresh = 0;
	e->l.fd = -1;
	if (agq_task_lock(R->sp, id, NULL, &e->l) < 0) {
		if (errno != ENOENT)
			agq_warn("%s: cannot lock the task: %s", id,
			    strerror(errno));
		e->l.fd = -1;
		return;
	}
	int st = e->l.loc.state;
	const char *reason = json_string_value(json_object_get(e->l.task,
	    "reason"));
	int cancelled = st == AGQ_ST_DEAD && reason &&
	    !strncmp(reason, "cancelled by ", 13);
	if (!((st == AGQ_ST_DONE && (R->sel & SEL_DONE)) ||
	    (st == AGQ_ST_DEAD && (R->sel & SEL_DEAD)) ||
	    (cancelled && (R->sel & SEL_CANCELLED))))
		return;
	struct stat sb;
	int64_t mtime = fstat(e->l.fd, &sb) == 0 ? (int64_t)sb.st_mtime *
	    1000000 : R->now_us;
	const json_t *last = agq_task_last_attempt(e->l.task);
	int64_t fin = last ? agq_task_time(last, "finished", mtime) : mtime;
	if (R->now_us - fin < R->older_us)
		return;
	char name[32];
	struct month *m = month_get(R, agq_archive_name(fin, name));
	if (!m) {
		R->rc = EX_IOERR;
		return;
	}
	e->m = m;
	json_t *was = json_object_get(m->ids, id), *sub = submitted(e->l.task);
	int same = was && json_equal(was, sub);
	json_decref(sub);
	if (same || R->dry)
		return;         /* archived by a run that died before removing */
	int ofd = agq_out_open(R->sp, id, 0);
	char ts[32];
	json_t *rec = json_pack("{s:s, s:s, s:s, s:O, s:o*, s:o*}", "id", id,
	    "state", agq_state_name(st), "archived_at",
	    agq_fmt_time(R->now_us, ts), "task", e->l.task, "result",
	    out_json(ofd, "result.json"), "agent", out_json(ofd, "agent.json"));
	if (ofd >= 0)
		close(ofd);
	char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	if (!line) {
		agq_warn("%s: cannot serialize the task", id);
		e->m = NULL;
		R->rc = EX_SOFTWARE;
		return;
	}
	size_t n = strlen(line);
	while (m->len + n + 1 > m->cap)
		m->buf = agq_grow(m->buf, &m->cap, m->cap, 1, 65536);
	memcpy(m->buf + m->len, line, n);
	m->buf[m->len + n] = '\n';
	m->len += n + 1;
	free(line);
	e->fresh = 1;
}

/* Remove the archived task of E: its file, its claim (when it is a link
 * to that file) and out/ID.  Under its lock. */
static int
remove_task(struct run *R, struct entry *e, int outfd)
{
	struct stat st, cl;
	char *claim = agq_spool_path(R->sp, "ids/%s", e->l.id);
	int have = fstat(e->l.fd, &st) == 0;
	if (unlink(e->l.loc.path) < 0) {
		agq_syserr("cannot remove the archived task", e->l.loc.path);
		free(claim);
		return -1;
	}
	if (have && lstat(claim, &cl) == 0 && cl.st_ino == st.st_ino &&
	    cl.st_dev == st.st_dev)
		(void)unlink(claim);
	free(claim);
	if (outfd >= 0)
		rm_tree_at(outfd, e->l.id, 0);
	return 0;
}

/* Archive and remove one batch of ids (at most BATCH). */
static void
batch(struct run *R, char **ids, size_t n)
{
	struct entry e[BATCH];
	for (size_t i = 0; i < n; i++)
		consider(R, ids[i], &e[i]);
	/* the records first, fsynced */
	for (size_t k = 0; k < R->nm; k++) {
		struct month *m = &R->m[k];
		if (!m->len)
			continue;
		if (agq_archive_append(R->sp, m->name, m->buf, m->len,
		    &m->good) < 0) {
			int full = errno == ENOSPC || errno == EDQUOT;
			agq_spool_syserr(R->sp, "cannot append to the archive",
			    "%s/%s", AGQ_ARCHIVE_DIR, m->name);
			R->rc = full ? EX_TEMPFAIL : EX_IOERR;
			for (size_t i = 0; i < n; i++)
				if (e[i].m == m && e[i].fresh)
					e[i].m = NULL;  /* stays where it is */
		} else {
			m->used = 1;
			for (size_t i = 0; i < n; i++)
				if (e[i].m == m && e[i].fresh) {
					json_object_set_new(m->ids, e[i].l.id,
					    submitted(e[i].l.task));
					m->records++;
				}
			if (agq_archive_set_count(R->sp, m->name,
			    m->records) < 0)
				agq_warn("cannot write the count of %s: %s",
				    m->name, strerror(errno));
		}
		m->len = 0;
	}
	const char *crash = getenv("AGQ_CLEAN_CRASH");
	if (crash && !strcmp(crash, "after-archive"))
		raise(SIGKILL);         /* tests: a crash before the removal */
	char *out = agq_spool_path(R->sp, "out");
	int outfd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(out);
	int dirty = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].l.fd < 0)
			continue;
		if (e[i].m) {
			if (!R->quiet)
				printf("%s %s/%s\n", e[i].l.id, AGQ_ARCHIVE_DIR,
				    e[i].m->name);
			if (R->dry) {
				R->archived++;
			} else if (remove_task(R, &e[i], outfd) == 0) {
				R->archived += e[i].fresh;
				R->removed++;
				dirty |= 1 << e[i].l.loc.state;
			} else {
				R->rc = EX_IOERR;
			}
		} else {
			R->kept++;
		}
		agq_task_unlock(&e[i].l);
	}
	if (outfd >= 0)
		close(outfd);
	for (int s = AGQ_ST_DONE; s <= AGQ_ST_DEAD; s++) {
		if (!(dirty & (1 << s)))
			continue;
		char *d = agq_spool_path(R->sp, "%s", agq_state_name(s));
		if (agq_fsync_dir(d) < 0)
			agq_syserr("cannot fsync", d);
		free(d);
	}
}

static const char usage[] =
"usage: agq-clean [-s SPOOL] [--older-than DURATION] [--state LIST]\n"
"                 [--dry-run] [-q]\n"
"Move finished tasks into the monthly archive SPOOL/archive/YYYY-MM.jsonl.gz\n"
"(gzip, one JSON line per task), then remove their files and output.\n"
"See agq-clean(8).\n"
"  -s, --spool DIR        spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --older-than D     finished at least D ago (90, 12h, 30d; default:\n"
"                         agq.conf clean_after, else 30d)\n"
"      --state LIST       done, dead, cancelled, comma-separated (default:\n"
"                         agq.conf clean_states, else done,dead)\n"
"  -n, --dry-run          print what would be archived, change nothing\n"
"  -q, --quiet            print nothing (else: ID ARCHIVE per task)\n"
"Exit: 0 ok, 64 usage, 74 I/O error, 75 another agq-clean is running or\n"
"the disk is full (the tasks stay where they are).\n";

int
agq_clean_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_QUIET,
		{ "older-than", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:qn",
	    .longopts = longopts };
	const char *older = NULL, *states = NULL;
	struct run R = { .rc = 0 };
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'o': older = optarg; break;
		case 't': states = optarg; break;
		case 'n': R.dry = 1; break;
		}
	}
	R.quiet = cl.quiet;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	R.sp = &sp;
	R.now_us = agq_now_us();
	const json_t *conf = sp.conf.obs;
	if (!older)
		older = json_string_value(json_object_get(conf, "clean_after"));
	if (!states)
		states = json_string_value(json_object_get(conf,
		    "clean_states"));
	if (agq_parse_duration(older ? older : "30d", &R.older_us) < 0) {
		agq_spool_close(&sp);
		agq_die(EX_USAGE, "--older-than: not a duration: '%s'", older);
	}
	if (parse_states(states ? states : "done,dead", &R.sel) < 0) {
		agq_spool_close(&sp);
		agq_die(EX_USAGE, "--state: not a list of done, dead, "
		    "cancelled: '%s'", states);
	}
	/* one clean at a time (a dry run changes nothing: no lock file) */
	int lk = R.dry ? -2 : agq_spool_flock(&sp, "clean", 0);
	if (lk == -1) {
		int e = errno;
		agq_spool_close(&sp);
		if (e == EWOULDBLOCK)
			agq_die(EX_TEMPFAIL, "another agq-clean is running");
		errno = e;
		return agq_spool_fail(&sp, "cannot lock", ".clean.lock");
	}
	if (R.sel & SEL_DONE)
		agq_each_task(&sp, AGQ_ST_DONE, collect, &R);
	if (R.sel & (SEL_DEAD | SEL_CANCELLED))
		agq_each_task(&sp, AGQ_ST_DEAD, collect, &R);
	for (size_t i = 0; i < R.n; i += BATCH)
		batch(&R, R.ids + i, R.n - i < BATCH ? R.n - i : BATCH);
	if (!R.dry) {
		json_t *files = json_array();
		for (size_t k = 0; k < R.nm; k++)
			if (R.m[k].used)
				json_array_append_new(files, json_sprintf(
				    "%s/%s", AGQ_ARCHIVE_DIR, R.m[k].name));
		agq_journal_w(&sp, "clean", NULL, json_pack("{s:I, s:I, s:o, "
		    "s:s, s:I}", "count", (json_int_t)R.removed, "archived",
		    (json_int_t)R.archived, "archives", files, "states",
		    states ? states : "done,dead", "older_than_s",
		    (json_int_t)(R.older_us / 1000000)));
	}
	for (size_t i = 0; i < R.n; i++)
		free(R.ids[i]);
	free(R.ids);
	for (size_t k = 0; k < R.nm; k++) {
		json_decref(R.m[k].ids);
		free(R.m[k].buf);
	}
	free(R.m);
	if (lk >= 0)
		close(lk);
	agq_spool_close(&sp);
	return agq_cli_done(R.rc);
}
