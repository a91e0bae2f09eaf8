/*
 * spool.c - the spool protocol (agq-spool(5)).
 *
 * A task's state is the directory its file ID.json is in; a state change is
 * one rename(2).  Writers create files in tmp/, fsync them and rename or
 * link them into place (the maildir rule).  A program that changes a task
 * first takes the task's lock (flock(2) on the task file itself, checked to
 * still be the file the path names), moves it with one rename(2) and then
 * replaces it in place; the replacement is locked before it is renamed
 * over, so the lock is held without a gap until the change is complete.
 * New ids are delivered under the spool's submit lock, which makes the
 * "is this id new?" check and the link(2) into the queue one step.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "fskind.h"
#include "util.h"
#include "paths.h"
#include "task.h"
#include "spool.h"

static const char *states[AGQ_NSTATES] = {
	"queue", "defer", "hold", "active", "done", "dead", "review",
	"approval", "blocked"
};

int
agq_agent_name_valid(const char *name)
{
	return agq_id_valid(name);
}

const char *
agq_state_name(int s)
{
	return s >= 0 && s < AGQ_NSTATES ? states[s] : "?";
}

int
agq_state_parse(const char *s)
{
	for (int i = 0; s && i < AGQ_NSTATES; i++)
		if (!strcmp(s, states[i]))
			return i;
	return -1;
}

char *
agq_spool_path(const struct agq_spool *sp, const char *fmt, ...)
{
	va_list ap;
	char *rel, *p;
	va_start(ap, fmt);
	if (vasprintf(&rel, fmt, ap) < 0)
		agq_die(EX_OSERR, "out of memory");
	va_end(ap);
	p = agq_xasprintf("%s/%s", sp->root, rel);
	free(rel);
	return p;
}

/* The permission model of agq-spool(5): directory, mode at creation,
 * bits it must have, bits it must not have.  "" is the spool itself. */
const struct agq_dirmode agq_spool_modes[] = {
	{ "", 0711, 0700, 0022 },
	{ "tmp", 0700, 0700, 0077 },
	{ "inbox", 01730, 01700, 0044 },
	{ "queue", 0700, 0700, 0077 },
	{ "queue/urgent", 0700, 0700, 0077 },
	{ "queue/high", 0700, 0700, 0077 },
	{ "queue/normal", 0700, 0700, 0077 },
	{ "queue/low", 0700, 0700, 0077 },
	{ "defer", 0700, 0700, 0077 },
	{ "hold", 0700, 0700, 0077 },
	{ "active", 0700, 0700, 0077 },
	{ "done", 0700, 0700, 0077 },
	{ "dead", 0700, 0700, 0077 },
	{ "review", 0700, 0700, 0077 },
	{ "approval", 0700, 0700, 0077 },
	{ "reviews", 0700, 0700, 0077 },
	{ "blocked", 0700, 0700, 0077 },
	{ "deps", 0700, 0700, 0077 },
	{ "corrupt", 0700, 0700, 0077 },
	{ "agents", 0700, 0700, 0077 },
	{ "out", 0700, 0700, 0077 },
	{ "ids", 0700, 0700, 0077 },
	{ "prs", 0700, 0700, 0077 },
	{ "prs/open", 0700, 0700, 0077 },
	{ "prs/merged", 0700, 0700, 0077 },
	{ "prs/closed", 0700, 0700, 0077 },
	{ "plans", 0700, 0700, 0077 },
	{ "missions", 0700, 0700, 0077 },
	{ "routines", 0700, 0700, 0077 },
	{ NULL, 0, 0, 0 }
};

int
agq_mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode & 0777) < 0)
		return -1;
	/* exactly MODE, whatever the umask, and the sticky bit */
	return chmod(path, mode);
}

void
agq_loc_path(const struct agq_spool *sp, struct agq_loc *loc, const char *id)
{
	loc->dirfd = -1;
	switch (loc->state) {
	case AGQ_ST_QUEUE:
		snprintf(loc->path, sizeof loc->path, "%s/queue/%s/%s.json",
		    sp->root, agq_lane_name(loc->lane), id);
		break;
	case AGQ_ST_ACTIVE:
		snprintf(loc->path, sizeof loc->path, "%s/active/%s/%s.json",
		    sp->root, loc->agent, id);
		break;
	default:
		snprintf(loc->path, sizeof loc->path, "%s/%s/%s.json",
		    sp->root, agq_state_name(loc->state), id);
	}
}

static int
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int
agq_task_find(const struct agq_spool *sp, const char *id, struct agq_loc *loc)
{
	memset(loc, 0, sizeof *loc);
	loc->lane = -1;
	if (!agq_id_valid(id)) {
		errno = ENOENT;
		return -1;
	}
	loc->state = AGQ_ST_QUEUE;
	for (int l = 0; l < AGQ_NLANES; l++) {
		loc->lane = l;
		agq_loc_path(sp, loc, id);
		if (exists(loc->path))
			return 0;
	}
	loc->lane = -1;
	static const int order[] = { AGQ_ST_DEFER, AGQ_ST_HOLD, -1,
	    AGQ_ST_DONE, AGQ_ST_DEAD, AGQ_ST_REVIEW, AGQ_ST_APPROVAL,
	    AGQ_ST_BLOCKED };
	for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
		if (order[i] < 0) {
			/* active/AGENT/ID.json: look in every agent's dir */
			char dir[PATH_MAX];
			snprintf(dir, sizeof dir, "%s/active", sp->root);
			DIR *d = opendir(dir);
			if (!d)
				continue;
			struct dirent *de;
			int found = 0;
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.' || strlen(de->d_name) > 64)
					continue;
				loc->state = AGQ_ST_ACTIVE;
				snprintf(loc->agent, sizeof loc->agent, "%s",
				    de->d_name);
				agq_loc_path(sp, loc, id);
				if (exists(loc->path)) {
					found = 1;
					break;
				}
			}
			closedir(d);
			if (found)
				return 0;
			loc->agent[0] = '\0';
			continue;
		}
		loc->state = order[i];
		agq_loc_path(sp, loc, id);
		if (exists(loc->path))
			return 0;
	}
	loc->state = AGQ_ST_NONE;
	loc->path[0] = '\0';
	errno = ENOENT;
	return -1;
}

/* Is FD (its fstat(2) into *A) the file PATH names now: the same inode,
 * not moved away or replaced since it was opened? */
static int
same_file(int fd, const char *path, struct stat *a)
{
	struct stat b;
	return fstat(fd, a) == 0 && stat(path, &b) == 0 &&
	    a->st_ino == b.st_ino && a->st_dev == b.st_dev;
}

/* The task file open as FD, read and parsed (json_loadb FLAGS): a new
 * object, or NULL with errno (EBADMSG: not a JSON object). */
static json_t *
task_of_fd(int fd, size_t flags)
{
	size_t len;
	char *buf = agq_read_fd(fd, 16 * 1024 * 1024, &len);
	if (!buf)
		return NULL;
	json_error_t je;
	json_t *t = json_loadb(buf, len, flags, &je);
	free(buf);
	if (!json_is_object(t)) {
		json_decref(t);
		errno = EBADMSG;
		return NULL;
	}
	return t;
}

int
agq_task_lock(const struct agq_spool *sp, const char *id,
              const struct agq_loc *hint, struct agq_locked *l)
{
	memset(l, 0, sizeof *l);
	l->fd = -1;
	snprintf(l->id, sizeof l->id, "%s", id);
	for (int tries = 0; tries < 1000; tries++) {
		if (hint && tries == 0) {
			l->loc = *hint;
			agq_loc_path(sp, &l->loc, id);
		} else if (agq_task_find(sp, id, &l->loc) < 0) {
			return -1;
		}
		int fd = open(l->loc.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				int e = errno;
				close(fd);
				errno = e;
				return -1;
			}
		}
		struct stat a;
		if (!same_file(fd, l->loc.path, &a)) {
			close(fd);
			continue;       /* it moved or was replaced: look again */
		}
		if (!S_ISREG(a.st_mode)) {
			close(fd);
			errno = EBADMSG;
			return -1;
		}
		if (!(l->task = task_of_fd(fd, JSON_REJECT_DUPLICATES))) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		l->fd = fd;
		return 0;
	}
	errno = EAGAIN;
	return -1;
}

void
agq_task_unlock(struct agq_locked *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	json_decref(l->task);
	l->task = NULL;
}

/* rename(2) that never replaces: agq_renameat_noreplace (fskind.h). */
int
agq_rename_noreplace(const char *from, const char *to)
{
	return agq_renameat_noreplace(AT_FDCWD, from, AT_FDCWD, to);
}

int
agq_task_move(const struct agq_spool *sp, struct agq_locked *l, int state,
              int lane, const char *agent)
{
	struct agq_loc to;
	memset(&to, 0, sizeof to);
	to.state = state;
	to.lane = state == AGQ_ST_QUEUE ? lane : -1;
	if (state == AGQ_ST_ACTIVE) {
		if (!agent || !agq_agent_name_valid(agent)) {
			errno = EINVAL;
			return -1;
		}
		snprintf(to.agent, sizeof to.agent, "%s", agent);
		char *d = agq_spool_path(sp, "active/%s", agent);
		int r = agq_mkdir_mode(d, 0700);
		int e = errno;
		free(d);
		if (r < 0 && e != EEXIST) {
			errno = e;
			return -1;
		}
	}
	agq_loc_path(sp, &to, l->id);
	if (!strcmp(to.path, l->loc.path))
		return 0;
	if (agq_rename_noreplace(l->loc.path, to.path) < 0)
		return -1;
	l->loc = to;
	return 0;
}

static int
dir_of(const char *path, char *dir, size_t size)
{
	snprintf(dir, size, "%s", path);
	char *s = strrchr(dir, '/');
	if (!s)
		return -1;
	*s = '\0';
	return 0;
}

/* Create a tmp/ file holding BUF, fsynced when SYNC, opened O_RDWR and
 * locked with flock(2).  Its path goes to TMP.  Returns the fd or -1. */
static int
tmp_create(const struct agq_spool *sp, const char *buf, size_t len, int sync,
           char *tmp, size_t size)
{
	char name[256];
	agq_unique_name(name, sizeof name);
	snprintf(tmp, size, "%s/%s", sp->tmp, name);
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -1;
	if (agq_write_all(fd, buf, len) < 0 || (sync && fsync(fd) < 0) ||
	    flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- id claims: ids/ID, one more link to the task's file --------------- */

int
agq_id_claim(const struct agq_spool *sp, const char *id, const char *path)
{
	char name[256], tmp[PATH_MAX], dst[PATH_MAX];
	agq_unique_name(name, sizeof name);
	snprintf(tmp, sizeof tmp, "%s/ids/.%s.%s", sp->root, id, name);
	snprintf(dst, sizeof dst, "%s/ids/%s", sp->root, id);
	if (agq_link_checked(path, tmp) < 0)
		return -1;
	if (agq_rename_checked(tmp, dst) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The claim of a new task: ids/ID linked straight to PATH, one link(2);
 * a claim already there (stale: its task is gone, or agq_id_taken was
 * skipped for a new id) is replaced as agq_id_claim does. */
static int
claim_new(const struct agq_spool *sp, const char *id, const char *path)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof dst, "%s/ids/%s", sp->root, id);
	if (agq_link_checked(path, dst) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	return agq_id_claim(sp, id, path);
}

int
agq_id_taken(const struct agq_spool *sp, const char *id, int *where)
{
	char dst[PATH_MAX];
	struct stat st;
	struct agq_loc found;
	snprintf(dst, sizeof dst, "%s/ids/%s", sp->root, id);
	*where = AGQ_ST_NONE;
	if (lstat(dst, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink >= 2) {
		/* the claim is a link to the task's file, wherever it is now */
		if (agq_task_find(sp, id, &found) == 0)
			*where = found.state;
		return 1;
	}
	/* No live claim: a task from before claims, or one whose claim a
	 * crash left behind.  Look for it, and claim it when found. */
	static int index_checked;       /* once a process: one spool each */
	if (!index_checked) {
		index_checked = 1;
		if (!agq_id_index_ok(sp))
			agq_warn("%s/ids: no %s: the id index may predate id "
			    "claims, and a submit of an id without a claim can "
			    "miss its task while the scheduler moves it; "
			    "agq-sched rebuilds the index when it starts, or run "
			    "agq-fsck --rebuild-index", sp->root,
			    AGQ_ID_INDEX_MARK);
	}
	if (agq_task_find(sp, id, &found) == 0) {
		*where = found.state;
		if (agq_id_claim(sp, id, found.path) < 0 && errno != ENOENT)
			return -1;
		return 1;
	}
	return 0;
}

int
agq_id_index_ok(const struct agq_spool *sp)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof p, "%s/ids/%s", sp->root, AGQ_ID_INDEX_MARK);
	return lstat(p, &st) == 0;
}

int
agq_id_index_mark(const struct agq_spool *sp)
{
	char d[PATH_MAX], p[PATH_MAX + 32];
	snprintf(d, sizeof d, "%s/ids", sp->root);
	snprintf(p, sizeof p, "%s/%s", d, AGQ_ID_INDEX_MARK);
	/* the claims first, then the mark that says they are complete */
	if (agq_fsync_dir(d) < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) < 0)
		return -1;
	return agq_fsync_dir(d);
}

struct index_ctx {
	const struct agq_spool *sp;
	long claimed;
	int failed;
};

static int
index_one(const struct agq_loc *loc, const char *id, void *arg)
{
	struct index_ctx *c = arg;
	char claim[PATH_MAX];
	struct stat a, b;
	snprintf(claim, sizeof claim, "%s/ids/%s", c->sp->root, id);
	if (lstat(claim, &a) == 0 && lstat(loc->path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return 0;
	/* Claimed under the task's lock, which every move and rewrite
	 * holds: the claim cannot end up on a file just replaced. */
	struct agq_locked l;
	if (agq_task_lock(c->sp, id, loc, &l) < 0) {
		if (errno != ENOENT) {
			agq_syserr("cannot lock", loc->path);
			c->failed = 1;
		}
		return 0;               /* gone: nothing to claim */
	}
	if (lstat(claim, &a) == 0 && fstat(l.fd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		agq_task_unlock(&l);
		return 0;
	}
	if (agq_id_claim(c->sp, id, l.loc.path) < 0) {
		agq_syserr("cannot claim", l.loc.path);
		c->failed = 1;
	} else {
		c->claimed++;
	}
	agq_task_unlock(&l);
	return 0;
}

int
agq_id_index_rebuild(const struct agq_spool *sp, long *claimed)
{
	*claimed = 0;
	int lk = agq_spool_flock(sp, "submit", 1);
	if (lk < 0)
		return -1;
	struct index_ctx c = { sp, 0, 0 };
	int r = agq_each_task(sp, -1, index_one, &c);
	*claimed = c.claimed;
	if (r == 0 && c.failed) {
		errno = EIO;
		r = -1;
	}
	if (r == 0)
		r = agq_id_index_mark(sp);
	int e = errno;
	close(lk);
	errno = e;
	return r;
}

/* The first half of a rewrite: L->task written to a new file in tmp/,
 * fsynced and locked.  Returns its fd (its path in TMP), or -1. */
static int
rewrite_prepare(const struct agq_spool *sp, struct agq_locked *l, char *tmp,
                size_t size)
{
	size_t len;
	char *buf = agq_task_dump(l->task, &len);
	int fd = tmp_create(sp, buf, len, 1, tmp, size);
	free(buf);
	return fd;
}

/* The second half: the prepared file (FD, at TMP) renamed over L's file,
 * and the lock passed on to it.  On failure the prepared file is removed
 * and L is as it was, unless only the fsync of the directory failed. */
static int
rewrite_install(const struct agq_spool *sp, struct agq_locked *l, int fd,
                const char *tmp, int syncdir)
{
	/* Move the id's claim to the new inode first, so the claim is a link
	 * to a live file at every instant (best effort: a failure only makes
	 * agq_id_taken look for the task instead). */
	(void)agq_id_claim(sp, l->id, tmp);
	if (agq_rename_checked(tmp, l->loc.path) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	close(l->fd);
	l->fd = fd;
	if (syncdir) {
		char dir[PATH_MAX];
		if (dir_of(l->loc.path, dir, sizeof dir) == 0 &&
		    agq_fsync_dir(dir) < 0)
			return -1;
	}
	return 0;
}

static int
rewrite(const struct agq_spool *sp, struct agq_locked *l, int syncdir)
{
	char tmp[PATH_MAX];
	int fd = rewrite_prepare(sp, l, tmp, sizeof tmp);
	if (fd < 0)
		return -1;
	return rewrite_install(sp, l, fd, tmp, syncdir);
}

int
agq_task_rewrite(const struct agq_spool *sp, struct agq_locked *l)
{
	return rewrite(sp, l, 0);
}

int
agq_task_rewrite_begin(const struct agq_spool *sp, struct agq_locked *l,
                       struct agq_rewrite *rw)
{
	size_t len;
	char *buf = agq_task_dump(l->task, &len);
	rw->fd = tmp_create(sp, buf, len, 0, rw->tmp, sizeof rw->tmp);
	free(buf);
	return rw->fd < 0 ? -1 : 0;
}

int
agq_task_rewrite_begin_spare(const struct agq_spool *sp, struct agq_locked *l,
                             struct agq_rewrite *rw, const char *spare)
{
	int fd = open(spare, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || (st.st_size && ftruncate(fd, 0) < 0) ||
	    flock(fd, LOCK_EX) < 0 ||
	    (size_t)snprintf(rw->tmp, sizeof rw->tmp, "%s", spare) >=
	    sizeof rw->tmp) {
		if (fd >= 0)
			close(fd);
		return agq_task_rewrite_begin(sp, l, rw);
	}
	size_t len;
	char *buf = agq_task_dump(l->task, &len);
	int r = agq_write_all(fd, buf, len);
	free(buf);
	rw->fd = fd;
	if (r < 0) {
		agq_task_rewrite_abort(rw);     /* the spare goes too */
		return -1;
	}
	return 0;
}

int
agq_task_rewrite_commit(const struct agq_spool *sp, struct agq_locked *l,
                        struct agq_rewrite *rw)
{
	int fd = rw->fd;
	rw->fd = -1;
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(rw->tmp);
		errno = e;
		return -1;
	}
	return rewrite_install(sp, l, fd, rw->tmp, 0);
}

void
agq_task_rewrite_abort(struct agq_rewrite *rw)
{
	if (rw->fd < 0)
		return;
	int e = errno;
	close(rw->fd);
	unlink(rw->tmp);
	rw->fd = -1;
	errno = e;
}

int
agq_task_transition(const struct agq_spool *sp, struct agq_locked *l,
                    int state, int lane, const char *agent, const char *reason)
{
	struct agq_loc from = l->loc;
	json_t *rv = reason ? json_string(reason) : NULL;
	if (reason && !rv)      /* not UTF-8 (never ours): made so */
		rv = agq_json_text(reason, strlen(reason));
	if (rv)
		json_object_set_new(l->task, "reason", rv);
	if (state == AGQ_ST_ACTIVE)
		json_object_set_new(l->task, "agent", json_string(agent));
	/* The new content first: with no room for it (a full disk) nothing
	 * has changed yet, and the task never leaves its directory for a
	 * moment (a runner would take that for a cancel). */
	char tmp[PATH_MAX];
	int fd = rewrite_prepare(sp, l, tmp, sizeof tmp);
	if (fd < 0)
		return -1;
	if (agq_task_move(sp, l, state, lane, agent) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	/* A finished task's state is made durable: a power cut must not bring
	 * back a done task as leased and run it again. */
	int oldfd = l->fd;
	if (rewrite_install(sp, l, fd, tmp, state == AGQ_ST_DONE ||
	    state == AGQ_ST_DEAD) == 0)
		return 0;
	if (l->fd == oldfd && strcmp(from.path, l->loc.path)) {
		/* Moved but not replaced (the rename over it failed): move it
		 * back with its old content, so the change did not happen
		 * rather than half (agq-spool(5), Invariants). */
		int e = errno;
		if (agq_rename_noreplace(l->loc.path, from.path) == 0)
			l->loc = from;
		errno = e;
	}
	return -1;
}

int
agq_quarantine(const struct agq_spool *sp, const char *src, const char *name,
               const char *why)
{
	char dst[PATH_MAX], whyp[PATH_MAX + 8];
	size_t wl = strlen(why);
	char *text = agq_xmalloc(wl + 2);
	memcpy(text, why, wl);
	text[wl] = '\n';
	text[wl + 1] = '\0';
	char *tmp = agq_spool_path(sp, "tmp");
	int r = -1, e = EEXIST;
	for (int n = 0; n < 10000; n++) {
		if (n == 0)
			snprintf(dst, sizeof dst, "%s/corrupt/%s", sp->root, name);
		else
			snprintf(dst, sizeof dst, "%s/corrupt/%s.%d", sp->root,
			    name, n);
		snprintf(whyp, sizeof whyp, "%s.why", dst);
		if (exists(whyp) || exists(dst))
			continue;
		/* The note first, then the file: with no room for the note (a
		 * full disk) the file stays where it was for the next try,
		 * rather than lie in corrupt/ unexplained. */
		if (agq_write_atomic(tmp, whyp, text, wl + 1, 1, 1) < 0) {
			e = errno;
			if (e == EEXIST)
				continue;
			break;
		}
		if (agq_rename_noreplace(src, dst) == 0) {
			r = 0;
			break;
		}
		e = errno;
		unlink(whyp);
		if (e != EEXIST)
			break;
	}
	free(tmp);
	free(text);
	if (r < 0)
		errno = e;
	return r;
}

int
agq_spool_flock(const struct agq_spool *sp, const char *name, int block)
{
	char *p = agq_spool_path(sp, ".%s.lock", name);
	/* 0600: anyone who could open a lock file could hold it */
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | (block ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
agq_task_first_loc(const struct agq_spool *sp, json_t *t, int64_t now_us,
                   const char *queued_reason, struct agq_loc *loc)
{
	memset(loc, 0, sizeof *loc);
	int64_t nb = agq_task_time(t, "not_before", -1);
	const char *odf = json_string_value(json_object_get(t, "on_dep_fail"));
	if (json_object_get(t, "dep_failed") && !(odf && !strcmp(odf,
	    "run"))) {
		loc->state = odf && !strcmp(odf, "hold") ? AGQ_ST_HOLD :
		    AGQ_ST_DEAD;
		loc->lane = -1;
	} else if (json_array_size(json_object_get(t, "blocked_on")) > 0) {
		loc->state = AGQ_ST_BLOCKED;
		loc->lane = -1;
	} else if (nb > now_us) {
		loc->state = AGQ_ST_DEFER;
		loc->lane = -1;
		agq_task_set_time(t, "next_attempt_at", nb);
		json_object_set_new(t, "reason", json_string("waiting for "
		    "not_before"));
	} else {
		loc->state = AGQ_ST_QUEUE;
		loc->lane = agq_task_lane(t);
		if (queued_reason)
			json_object_set_new(t, "reason",
			    json_string(queued_reason));
	}
	agq_loc_path(sp, loc, agq_task_id(t));
}

int
agq_deliver(const struct agq_spool *sp, json_t *t, int flags, int *where)
{
	return agq_deliver_announced(sp, t, flags, where, NULL, NULL);
}

int
agq_deliver_announced(const struct agq_spool *sp, json_t *t, int flags,
                      int *where,
                      int (*before)(const json_t *t, int state, void *arg),
                      void *arg)
{
	int sync = flags & AGQ_DELIVER_SYNC;
	const char *id = agq_task_id(t);
	struct agq_loc loc;
	agq_task_first_loc(sp, t, agq_now_us(), NULL, &loc);
	if (flags & AGQ_DELIVER_HOLD && (loc.state == AGQ_ST_QUEUE ||
	    loc.state == AGQ_ST_DEFER)) {
		loc.state = AGQ_ST_HOLD;
		loc.lane = -1;
		json_object_set_new(t, "reason", json_string("held at submit"));
		agq_loc_path(sp, &loc, id);
	}
	size_t len;
	char tmp[PATH_MAX];
	char *buf = agq_task_dump(t, &len);
	int fd = tmp_create(sp, buf, len, sync, tmp, sizeof tmp);
	free(buf);
	if (fd < 0)
		return -1;
	close(fd);
	int lk = agq_spool_flock(sp, "submit", 1);
	if (lk < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	int rc = flags & AGQ_DELIVER_NEW_ID ? 0 : agq_id_taken(sp, id, where);
	if (rc == 0 && before && before(t, loc.state, arg) < 0)
		rc = -1;
	if (rc == 0 && agq_link_checked(tmp, loc.path) < 0) {
		if (errno == EEXIST) {
			*where = loc.state;
			rc = 1;
		} else {
			rc = -1;
		}
	}
	if (rc == 0 && claim_new(sp, id, loc.path) < 0) {
		/* delivered; without a claim the next check looks for it */
	}
	int e = errno;
	close(lk);
	unlink(tmp);
	if (rc == 0 && sync) {
		char dir[PATH_MAX];
		dir_of(loc.path, dir, sizeof dir);
		if (agq_fsync_dir(dir) < 0)
			return -1;
		/* The claim too, before the id is acknowledged: made before
		 * the fsync above, it is normally in the journal commit that
		 * fsync forced, so this one finds little left to write. */
		snprintf(dir, sizeof dir, "%s/ids", sp->root);
		if (agq_fsync_dir(dir) < 0)
			return -1;
	}
	if (rc == 0)
		*where = loc.state;
	errno = e;
	return rc;
}

/* agq_dir_each, with DIR's descriptor stored in *DFD (when not NULL)
 * while FN is called. */
static int
dir_walk(const char *dir, int (*fn)(const char *name, void *arg), void *arg,
         int *dfd)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	if (dfd)
		*dfd = dirfd(d);
	struct dirent *de;
	int r = 0;
	errno = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((r = fn(de->d_name, arg)) != 0)
			break;
		errno = 0;
	}
	int e = errno;
	closedir(d);
	if (r == 0 && e) {
		errno = e;
		return -1;
	}
	return r;
}

int
agq_dir_each(const char *dir, int (*fn)(const char *name, void *arg),
             void *arg)
{
	return dir_walk(dir, fn, arg, NULL);
}

json_t *
agq_task_read(const char *path)
{
	return agq_json_read_object(path, 16 * 1024 * 1024);
}

json_t *
agq_task_read_settled(const char *path, int wait_ms)
{
	int64_t end = agq_now_us() + (int64_t)wait_ms * 1000;
	for (;;) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (fd < 0)
			return NULL;
		int r;
		while ((r = flock(fd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
			;
		if (r < 0 && errno == EWOULDBLOCK && agq_now_us() < end) {
			close(fd);      /* a writer has it: again shortly */
			struct timespec ms = { 0, 1000000 };
			nanosleep(&ms, NULL);
			continue;
		}
		struct stat a;
		if (r == 0 && !same_file(fd, path, &a)) {
			close(fd);      /* replaced meanwhile: the new one */
			if (agq_now_us() >= end)
				return agq_task_read(path);
			continue;
		}
		json_t *t = task_of_fd(fd, 0);
		int e = errno;
		close(fd);          /* the lock with it */
		errno = e;
		return t;
	}
}

json_t *
agq_task_find_settled(const struct agq_spool *sp, const char *id,
                      struct agq_loc *loc, int wait_ms)
{
	json_t *t = NULL;
	for (int tries = 0; tries < 5 && !t; tries++) {
		if (agq_task_find(sp, id, loc) < 0)
			return NULL;
		t = agq_task_read_settled(loc->path, wait_ms);
		if (!t && errno != ENOENT)
			return NULL;    /* not a task: no use asking again */
	}
	return t;
}

json_t *
agq_task_read_loc(const struct agq_loc *loc)
{
	const char *base = strrchr(loc->path, '/');
	if (loc->dirfd < 0 || !base)
		return agq_task_read(loc->path);
	return agq_json_read_object_at(loc->dirfd, base + 1, 16 * 1024 * 1024);
}

struct each_ctx {
	const struct agq_spool *sp;
	struct agq_loc loc;
	int dfd;                /* the directory being read */
	int (*fn)(const struct agq_loc *, const char *, void *);
	void *arg;
};

static int each_file(const char *name, void *arg);
static int each_agent(const char *name, void *arg);

/* agq_dir_each of DIR with each_file (or each_agent when AGENTS), with
 * C->dfd open on DIR meanwhile; restores C->dfd after. */
static int
each_in(const char *dir, struct each_ctx *c, int agents)
{
	int saved = c->dfd;
	int r = dir_walk(dir, agents ? each_agent : each_file, c, &c->dfd);
	c->dfd = saved;
	return r;
}

static int
each_file(const char *name, void *arg)
{
	struct each_ctx *c = arg;
	char id[65];
	if (!agq_id_of_json(name, id))
		return 0;
	agq_loc_path(c->sp, &c->loc, id);
	c->loc.dirfd = c->dfd;
	int r = c->fn(&c->loc, id, c->arg);
	c->loc.dirfd = -1;
	return r;
}

static int
each_agent(const char *name, void *arg)
{
	struct each_ctx *c = arg;
	if (!agq_agent_name_valid(name))
		return 0;
	snprintf(c->loc.agent, sizeof c->loc.agent, "%s", name);
	char *d = agq_spool_path(c->sp, "active/%s", name);
	int r = each_in(d, c, 0);
	free(d);
	return r > 0 ? r : 0;
}

int
agq_each_task(const struct agq_spool *sp, int state,
              int (*fn)(const struct agq_loc *, const char *, void *),
              void *arg)
{
	struct each_ctx c = { sp, { 0 }, -1, fn, arg };
	for (int s = 0; s < AGQ_NSTATES; s++) {
		if (state >= 0 && s != state)
			continue;
		memset(&c.loc, 0, sizeof c.loc);
		c.loc.dirfd = -1;
		c.loc.state = s;
		c.loc.lane = -1;
		int r = 0;
		if (s == AGQ_ST_QUEUE) {
			for (int l = 0; l < AGQ_NLANES && r == 0; l++) {
				c.loc.lane = l;
				char *d = agq_spool_path(sp, "queue/%s",
				    agq_lane_name(l));
				r = each_in(d, &c, 0);
				free(d);
				if (r < 0 && errno == ENOENT)
					r = 0;
			}
		} else {
			char *d = agq_spool_path(sp, "%s", agq_state_name(s));
			r = each_in(d, &c, s == AGQ_ST_ACTIVE);
			free(d);
			if (r < 0 && errno == ENOENT)
				r = 0;
		}
		if (r != 0)
			return r;
	}
	return 0;
}

int
agq_each_task_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* agq_each_task_par's gathered names: the directories (kept open) and
 * each task's directory and id. */
struct par_dir { int fd, state, lane; char agent[65]; };
struct par_item { size_t dir; char *id; };
struct par {
	const struct agq_spool *sp;
	struct par_dir *dirs;
	size_t ndirs, dircap;
	struct par_item *items;
	size_t n, cap;
	void (*fn)(const struct agq_loc *, const char *, void *, int);
	void *arg;
	int nworkers, failed;
};
struct par_worker { struct par *p; int w; };

static int
par_gather(const struct agq_loc *loc, const char *id, void *arg)
{
	struct par *p = arg;
	struct par_dir *d = p->ndirs ? &p->dirs[p->ndirs - 1] : NULL;
	if (!d || d->state != loc->state || d->lane != loc->lane ||
	    strcmp(d->agent, loc->agent)) {
		int fd = fcntl(loc->dirfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			p->failed = errno;
			return -1;
		}
		p->dirs = agq_grow(p->dirs, &p->dircap, p->ndirs, sizeof
		    *p->dirs, 8);
		d = &p->dirs[p->ndirs++];
		d->fd = fd;
		d->state = loc->state;
		d->lane = loc->lane;
		snprintf(d->agent, sizeof d->agent, "%s", loc->agent);
	}
	p->items = agq_grow(p->items, &p->cap, p->n, sizeof *p->items, 1024);
	p->items[p->n].dir = p->ndirs - 1;
	p->items[p->n++].id = agq_xstrdup(id);
	return 0;
}

static void *
par_run(void *arg)
{
	struct par_worker *pw = arg;
	struct par *p = pw->p;
	struct agq_loc loc;
	memset(&loc, 0, sizeof loc);
	for (size_t i = (size_t)pw->w; i < p->n; i += (size_t)p->nworkers) {
		const struct par_dir *d = &p->dirs[p->items[i].dir];
		loc.state = d->state;
		loc.lane = d->lane;
		memcpy(loc.agent, d->agent, sizeof loc.agent);
		agq_loc_path(p->sp, &loc, p->items[i].id);
		loc.dirfd = d->fd;
		p->fn(&loc, p->items[i].id, p->arg, pw->w);
	}
	return NULL;
}

int
agq_each_task_par(const struct agq_spool *sp, int state,
                  void (*fn)(const struct agq_loc *, const char *, void *,
                  int), void *arg)
{
	struct par p = { .sp = sp, .fn = fn, .arg = arg };
	int r = agq_each_task(sp, state, par_gather, &p);
	if (r == 0) {
		/* a thread pays for itself over a few hundred files */
		p.nworkers = agq_each_task_workers();
		if ((size_t)p.nworkers > p.n / 256 + 1)
			p.nworkers = (int)(p.n / 256 + 1);
		struct par_worker pw[8];
		pthread_t th[8];
		int started = 1;
		for (int w = 0; w < p.nworkers; w++)
			pw[w] = (struct par_worker){ &p, w };
		for (int w = 1; w < p.nworkers; w++) {
			if (pthread_create(&th[w], NULL, par_run, &pw[w]) != 0)
				break;
			started++;
		}
		/* a thread that could not start: its share done here */
		for (int w = started; w < p.nworkers; w++)
			par_run(&pw[w]);
		par_run(&pw[0]);
		for (int w = 1; w < started; w++)
			pthread_join(th[w], NULL);
	} else if (p.failed) {
		errno = p.failed;
	}
	int e = errno;
	for (size_t i = 0; i < p.n; i++)
		free(p.items[i].id);
	free(p.items);
	for (size_t i = 0; i < p.ndirs; i++)
		close(p.dirs[i].fd);
	free(p.dirs);
	errno = e;
	return r < 0 ? -1 : 0;
}

int
agq_spool_syserr(const struct agq_spool *sp, const char *what,
                 const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	char *rel;
	va_start(ap, fmt);
	if (vasprintf(&rel, fmt, ap) < 0)
		agq_die(EX_OSERR, "out of memory");
	va_end(ap);
	char *p = agq_xasprintf("%s/%s", sp->root, rel);
	errno = e;
	agq_syserr(what, p);
	free(rel);
	free(p);
	errno = e;
	return agq_exit_code(e);
}

/* agq_task_resolve's scan: the tasks whose id starts with PREFIX. */
struct resolve_ctx {
	const char *prefix;
	size_t len;
	char first[65];
	char other[65];
	struct agq_loc loc;
};

static int
resolve_each(const struct agq_loc *loc, const char *id, void *arg)
{
	struct resolve_ctx *c = arg;
	if (strncmp(id, c->prefix, c->len))
		return 0;
	if (!c->first[0]) {
		snprintf(c->first, sizeof c->first, "%s", id);
		c->loc = *loc;
	} else if (strcmp(c->first, id)) {      /* not the same one moved */
		snprintf(c->other, sizeof c->other, "%s", id);
		return 1;
	}
	return 0;
}

int
agq_task_resolve(const struct agq_spool *sp, const char *arg, char *id,
                 struct agq_loc *loc)
{
	id[0] = '\0';
	if (!agq_id_valid(arg)) {
		errno = EINVAL;
		return -1;
	}
	/* the id itself; looked for twice: it may be between two states */
	if (agq_task_find(sp, arg, loc) == 0 || agq_task_find(sp, arg, loc) == 0) {
		snprintf(id, 65, "%s", arg);
		return 0;
	}
	struct resolve_ctx c = { .prefix = arg, .len = strlen(arg) };
	int r = agq_each_task(sp, -1, resolve_each, &c);
	if (r < 0)
		return -1;
	if (r == 1) {
		snprintf(id, 65, "%.31s %.31s", c.first, c.other);
		errno = ENOTUNIQ;
		return -1;
	}
	if (!c.first[0]) {
		errno = ENOENT;
		return -1;
	}
	snprintf(id, 65, "%s", c.first);
	*loc = c.loc;
	return 0;
}

pid_t
agq_spool_spawn(const struct agq_spool *sp, const char *prog,
                const char *cmd)
{
	char *path = agq_exe_path(prog);
	if (!path)
		path = agq_xasprintf("%s/%s", agq_bindir, prog);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot fork", NULL);
	} else if (pid == 0) {
		int nfd = open("/dev/null", O_RDWR);
		if (nfd >= 0) {
			dup2(nfd, 0);
			dup2(nfd, 1);
		}
		execl(path, prog, "-s", sp->root, cmd, (char *)NULL);
		dprintf(2, "%s: cannot run %s: %s\n", agq_prog, path,
		    strerror(errno));
		_exit(127);
	}
	free(path);
	return pid;
}
