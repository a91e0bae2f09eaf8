/*
 * mission.c - missions (agq-mission(1)): the records, the task index,
 * the derived state, the handoffs.  A new task enters its mission
 * (agq_mission_enter) in submit.c's delivery, the one all submitters
 * share.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "archive.h"
#include "out.h"
#include "mission.h"

#define MISSION_MAX (1 << 20)   /* bytes of a mission record */

/* vsnprintf FMT into ERR (SIZE bytes) and return 1: a refusal. */
static int __attribute__((format(printf, 3, 4)))
refuse(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return 1;
}

int
agq_mission_state(const struct agq_mission_counts *c)
{
	size_t total = 0;
	for (int i = 0; i < AGQ_NSTATES; i++)
		total += c->n[i];
	if (total == 0)
		return AGQ_MS_OPEN;
	if (c->n[AGQ_ST_DONE] == total)
		return AGQ_MS_DONE;
	if (c->n[AGQ_ST_QUEUE] || c->n[AGQ_ST_DEFER] || c->n[AGQ_ST_ACTIVE] ||
	    c->n[AGQ_ST_REVIEW] || c->n[AGQ_ST_APPROVAL])
		return AGQ_MS_OPEN;
	if (c->n[AGQ_ST_DEAD])
		return AGQ_MS_FAILED;
	return AGQ_MS_BLOCKED;
}

const char *
agq_mission_state_name(int state)
{
	static const char *const names[] = { "open", "blocked", "failed",
	    "done" };
	return state >= 0 && state <= AGQ_MS_DONE ? names[state] : "unknown";
}

json_t *
agq_mission_read(const struct agq_spool *sp, const char *id)
{
	if (!agq_id_valid(id)) {
		errno = EINVAL;
		return NULL;
	}
	char *p = agq_spool_path(sp, "missions/%s.json", id);
	json_t *m = agq_json_read_object(p, MISSION_MAX);
	free(p);
	return m;
}

/* {at, by {uid, user}}: now, the real uid and $USER (no NSS lookup:
 * agq-submit, which links this, is static). */
static json_t *
stamp(void)
{
	char ts[32];
	const char *user = getenv("USER");
	json_t *by = json_pack("{s:I}", "uid", (json_int_t)getuid());
	if (user && *user)
		json_object_set_new(by, "user", json_string(user));
	return json_pack("{s:s, s:o}", "at", agq_fmt_time(agq_now_us(), ts),
	    "by", by);
}

/* Write mission record M (its "id") to missions/ID.json, replacing it
 * unless NOREPLACE: tmp/, fsync, rename (or link), missions/ fsynced. */
static int
put_record(const struct agq_spool *sp, const json_t *m, int noreplace)
{
	char *dir = agq_spool_path(sp, "missions");
	if (agq_mkdirs(dir, 0700) < 0) {
		free(dir);
		return -1;
	}
	char *dst = agq_xasprintf("%s/%s.json", dir, json_string_value(
	    json_object_get(m, "id")));
	int r = agq_write_json(sp->tmp, dst, m, JSON_INDENT(2), 1, noreplace);
	int e = errno;
	free(dst);
	free(dir);
	errno = e;
	return r;
}

int
agq_mission_create(const struct agq_spool *sp, const json_t *m, char *id,
                   char *err, size_t size)
{
	const json_t *v = json_object_get(m, "title"), *e;
	size_t i;
	if (!json_is_string(v) || !*json_string_value(v))
		return refuse(err, size, "field title: missing or empty");
	if ((v = json_object_get(m, "goal")) && !json_is_string(v))
		return refuse(err, size, "field goal: not a string");
	v = json_object_get(m, "acceptance");
	if (v && !json_is_array(v))
		return refuse(err, size, "field acceptance: not an array of "
		    "strings");
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return refuse(err, size, "field acceptance[%zu]: not a "
			    "string", i);
	if ((v = json_object_get(m, "pr_unit")) && (!json_is_string(v) ||
	    (strcmp(json_string_value(v), "mission") &&
	    strcmp(json_string_value(v), "task"))))
		return refuse(err, size, "field pr_unit: must be mission or "
		    "task");
	char gen[65];
	if (!*id) {
		agq_gen_id(gen);
		snprintf(id, 65, "m-%.61s", gen);
	}
	if (!agq_id_valid(id))
		return refuse(err, size, "field id: not a mission id "
		    "([A-Za-z0-9._-]{1,64})");
	json_t *rec = json_pack("{s:s, s:O, s:O*, s:O*, s:o}", "id", id,
	    "title", json_object_get(m, "title"), "goal", json_object_get(m,
	    "goal"), "acceptance", json_object_get(m, "acceptance"),
	    "created", stamp());
	if ((v = json_object_get(m, "pr_unit")))
		json_object_set(rec, "pr_unit", (json_t *)v);
	int r = put_record(sp, rec, 1);
	if (r == 0)
		agq_journal_w(sp, "mission_new", id, json_pack("{s:s, s:O}",
		    "mission", id, "title", json_object_get(rec, "title")));
	json_decref(rec);
	return r;
}

int
agq_mission_close(const struct agq_spool *sp, const char *id)
{
	json_t *m = agq_mission_read(sp, id);
	if (!m)
		return -1;
	int r = 1;
	if (!json_object_get(m, "closed")) {
		json_object_set_new(m, "closed", stamp());
		r = put_record(sp, m, 0);
		if (r == 0)
			agq_journal_w(sp, "mission_close", id, json_pack(
			    "{s:s}", "mission", id));
	}
	json_decref(m);
	return r;
}

int
agq_mission_save(const struct agq_spool *sp, const json_t *m)
{
	if (!agq_id_valid(json_string_value(json_object_get(m, "id")))) {
		errno = EINVAL;
		return -1;
	}
	return put_record(sp, m, 0);
}

int
agq_mission_check(const struct agq_spool *sp, const json_t *t, char *err,
                  size_t size)
{
	const char *id = json_string_value(json_object_get(t, "mission"));
	if (!id)
		return 0;
	json_t *m = agq_mission_read(sp, id);
	if (!m) {
		if (errno == ENOENT || errno == EINVAL)
			return refuse(err, size, "field mission: %s: no such "
			    "mission (agq-mission ls)", id);
		return -1;
	}
	int closed = json_object_get(m, "closed") != NULL;
	const char *u = json_string_value(json_object_get(m, "pr_unit"));
	int one = u && !strcmp(u, "mission");
	json_decref(m);
	if (closed)
		return refuse(err, size, "field mission: %s is closed", id);
	/* a task of a mission with one PR has none of its own to review or
	 * merge (agq-mission(1), "One PR per mission") */
	static const char *const gated[] = { "review", "merge", NULL };
	for (int i = 0; one && gated[i]; i++) {
		const json_t *v = json_object_get(t, gated[i]);
		if (v && !json_is_false(v))
			return refuse(err, size, "field %s: mission %s has one "
			    "PR per mission, none per task", gated[i], id);
	}
	const char *ap = json_string_value(json_object_get(t, "approval"));
	if (one && ap && !strcmp(ap, "before_merge"))
		return refuse(err, size, "field approval: mission %s has one PR "
		    "per mission, none per task to merge", id);
	return 0;
}

int
agq_mission_index_add(const struct agq_spool *sp, const char *mission,
                      const char *task, int sync)
{
	char dir[PATH_MAX], path[PATH_MAX + 80];
	snprintf(dir, sizeof dir, "%s/missions/%s.tasks", sp->root, mission);
	snprintf(path, sizeof path, "%s/%s", dir, task);
	int made = 0;
	if (mkdir(dir, 0700) == 0)
		made = 1;
	else if (errno != EEXIST)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 1 : -1;
	close(fd);
	if (!sync)
		return 0;
	if (made) {
		char top[PATH_MAX];
		snprintf(top, sizeof top, "%s/missions", sp->root);
		if (agq_fsync_dir(top) < 0)
			return -1;
	}
	return agq_fsync_dir(dir);
}

int
agq_mission_index_remove(const struct agq_spool *sp, const char *mission,
                         const char *task)
{
	char *p = agq_spool_path(sp, "missions/%s.tasks/%s", mission, task);
	int r = unlink(p) < 0 && errno != ENOENT ? -1 : 0;
	free(p);
	return r;
}

struct each_task { int (*fn)(const char *, void *); void *arg; };

static int
task_each(const char *name, void *arg)
{
	struct each_task *c = arg;
	return agq_id_valid(name) ? c->fn(name, c->arg) : 0;
}

int
agq_mission_each_task(const struct agq_spool *sp, const char *mission,
                      int (*fn)(const char *task, void *arg), void *arg)
{
	char *dir = agq_spool_path(sp, "missions/%s.tasks", mission);
	struct each_task c = { fn, arg };
	int r = agq_dir_each(dir, task_each, &c);
	free(dir);
	return r < 0 && errno == ENOENT ? 0 : r;
}

static int
add_mission_id(const char *name, void *arg)
{
	size_t n = strlen(name);
	if (n > 5 && !strcmp(name + n - 5, ".json")) {
		char id[80];
		snprintf(id, sizeof id, "%.*s", (int)(n - 5), name);
		if (agq_id_valid(id))
			json_array_append_new(arg, json_string(id));
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	    json_string_value(*(json_t *const *)b));
}

/* A new array of the N values of A sorted by CMP. */
static json_t *
sorted(json_t *a, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(a);
	json_t **v = agq_xmalloc((n + 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	json_decref(a);
	return agq_json_array_sorted(v, n, cmp);
}

json_t *
agq_mission_ids(const struct agq_spool *sp)
{
	char *dir = agq_spool_path(sp, "missions");
	json_t *a = json_array();
	int r = agq_dir_each(dir, add_mission_id, a);
	int e = errno;
	free(dir);
	if (r < 0 && e != ENOENT) {
		json_decref(a);
		errno = e;
		return NULL;
	}
	return sorted(a, cmp_str);
}

struct collect {
	const struct agq_spool *sp;
	json_t *tasks;
	struct agq_mission_counts *c;
	int err;
};

/* The entry of task ID for a listing, from its file T in STATE. */
static json_t *
entry(const char *id, const char *state, const json_t *t)
{
	json_t *e = json_pack("{s:s, s:s}", "id", id, "state", state);
	static const char *const keys[] = { "title", "role", "after",
	    "reason", "submitted_at", "git", NULL };
	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(t, keys[i]);
		if (v)
			json_object_set(e, keys[i], v);
	}
	return e;
}

/* Task ID's file, in the spool (a task moving meanwhile looked for
 * again) or its archive ("task" of its record), with its state in
 * *STATE (archived: done or dead): a new reference; NULL with errno
 * ENOENT when it is nowhere, or another errno. */
static json_t *
task_lookup(const struct agq_spool *sp, const char *id, int *state)
{
	struct agq_loc loc;
	json_t *t = agq_task_find_settled(sp, id, &loc, AGQ_SETTLE_MS);
	if (t) {
		*state = loc.state;
		return t;
	}
	json_t *rec = agq_archive_find(sp, id, NULL);
	if (!rec)
		return NULL;
	const char *st = json_string_value(json_object_get(rec, "state"));
	*state = st && !strcmp(st, "done") ? AGQ_ST_DONE : AGQ_ST_DEAD;
	t = json_incref(json_object_get(rec, "task"));
	json_decref(rec);
	if (!t)
		errno = ENOENT;
	return t;
}

static int
collect_one(const char *id, void *arg)
{
	struct collect *c = arg;
	int s;
	json_t *t = task_lookup(c->sp, id, &s);
	if (!t) {
		if (errno != ENOENT) {
			c->err = errno;
			return -1;
		}
		return 0;       /* nowhere: left out (agq-fsck reports it) */
	}
	json_array_append_new(c->tasks, entry(id, agq_state_name(s), t));
	if (c->c)
		c->c->n[s]++;
	json_decref(t);
	return 0;
}

/* submitted_at (RFC 3339, which sorts as text), then id. */
static int
cmp_task(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *sx = json_string_value(json_object_get(x, "submitted_at"));
	const char *sy = json_string_value(json_object_get(y, "submitted_at"));
	int r = strcmp(sx ? sx : "", sy ? sy : "");
	return r ? r : strcmp(json_string_value(json_object_get(x, "id")),
	    json_string_value(json_object_get(y, "id")));
}

json_t *
agq_mission_tasks(const struct agq_spool *sp, const char *mission,
                  struct agq_mission_counts *c)
{
	struct collect col = { sp, json_array(), c, 0 };
	if (c)
		memset(c, 0, sizeof *c);
	if (agq_mission_each_task(sp, mission, collect_one, &col) < 0) {
		json_decref(col.tasks);
		errno = col.err ? col.err : errno;
		return NULL;
	}
	return sorted(col.tasks, cmp_task);
}

int
agq_mission_enter(const struct agq_spool *sp, const json_t *t, int sync,
                  int *made, char *err, size_t size)
{
	const char *mission = json_string_value(json_object_get(t, "mission"));
	*made = 0;
	int r = agq_mission_check(sp, t, err, size);
	if (r > 0)
		return 1;
	if (r == 0 && mission) {
		r = agq_mission_index_add(sp, mission, agq_task_id(t), sync);
		*made = r == 0;
	}
	if (r < 0) {
		int e = errno;
		agq_errf(err, size, "cannot index the task in its mission: %s "
		    "(%s/missions/%s.tasks/%s)", strerror(e), sp->root,
		    mission ? mission : "", agq_task_id(t));
		errno = e;
		return -1;
	}
	return 0;
}

char *
agq_mission_handoff_prepare(const struct agq_spool *sp, const json_t *t,
                            const char *outdir)
{
	const char *id = agq_task_id(t);
	int dfd = agq_out_open(sp, id, 0);
	if (dfd >= 0) {
		(void)unlinkat(dfd, "handoff-out.json", 0);
		close(dfd);
	}
	json_t *ho = json_object(), *from = json_array(), *e;
	size_t i;
	json_array_foreach(json_object_get(t, "after"), i, e) {
		int st;
		json_t *p = task_lookup(sp, json_string_value(e), &st);
		json_t *out = json_object_get(p, "handoff_out");
		if (json_is_object(out))
			json_array_append_new(from, json_pack("{s:O, s:O*, s:O}",
			    "id", e, "title", json_object_get(p, "title"),
			    "handoff", out));
		json_decref(p);
	}
	if (json_object_get(t, "handoff"))
		json_object_set(ho, "handoff", json_object_get(t, "handoff"));
	if (json_array_size(from))
		json_object_set(ho, "from", from);
	json_decref(from);
	char *path = NULL;
	if (json_object_size(ho)) {
		char *js = json_dumps(ho, JSON_INDENT(2));
		char *buf = js ? agq_xasprintf("%s\n", js) : NULL;
		if (buf && agq_out_write(sp, id, "handoff.json", buf,
		    strlen(buf)) == 0)
			path = agq_xasprintf("%s/handoff.json", outdir);
		free(buf);
		free(js);
	}
	json_decref(ho);
	return path;
}

json_t *
agq_mission_handoff_take(const struct agq_spool *sp, const char *id,
                         char *err, size_t size)
{
	size_t len;
	char *s = agq_out_read(sp, id, "handoff-out.json", 1 << 20, &len);
	err[0] = '\0';
	if (!s) {
		if (errno != ENOENT)
			agq_errf(err, size, "handoff-out.json: %s",
			    strerror(errno));
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
	free(s);
	if (!v) {
		agq_errf(err, size, "handoff-out.json: not JSON: %s", je.text);
		return NULL;
	}
	json_t *one = json_pack("{s:s, s:O}", "cmd", "true", "handoff_out", v);
	char e2[600];
	if (agq_task_validate(one, e2, sizeof e2) < 0) {
		agq_errf(err, size, "handoff-out.json: %s", e2);
		json_decref(v);
		v = NULL;
	}
	json_decref(one);
	return v;
}
