/* plan.c - plan documents, revisioned JSON with compare-and-swap: plan.h. */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "spool.h"
#include "journal.h"
#include "jsonpatch.h"
#include "plan.h"

/* A writer that never wins a race gives up (EAGAIN) after this many
 * tries; each lost try means another writer's revision went in. */
#define PLAN_TRIES 100000

int
agq_plan_name_valid(const char *name)
{
	return name && agq_id_valid(name);
}

long
agq_plan_rev_name(const char *name)
{
	size_t n = strspn(name, "0123456789");
	if (n == 0 || n > 18 || strcmp(name + n, ".json"))
		return 0;
	return strtol(name, NULL, 10);
}

json_t *
agq_plan_who(void)
{
	const struct passwd *pw = getpwuid(getuid());
	json_t *by = json_pack("{s:I}", "uid", (json_int_t)getuid());
	if (pw)
		json_object_set_new(by, "user", json_string(pw->pw_name));
	const char *task = getenv("AGQ_TASK_ID");
	if (task && *task && agq_id_valid(task))
		json_object_set_new(by, "task", json_string(task));
	return by;
}

json_t *
agq_plan_by_fields(const json_t *by, const char *key, const char *name)
{
	const char *user = json_string_value(json_object_get(by, "user"));
	json_int_t uid = json_integer_value(json_object_get(by, "uid"));
	char num[32];
	snprintf(num, sizeof num, "%lld", (long long)uid);
	json_t *ev = json_pack("{s:s, s:s, s:I}", key, name, "by",
	    user ? user : num, "uid", uid);
	if (json_object_get(by, "task"))
		json_object_set(ev, "task", json_object_get(by, "task"));
	return ev;
}

int
agq_plan_head(const struct agq_spool *sp, const char *name, long *rev,
              int *deleted)
{
	*rev = 0;
	if (deleted)
		*deleted = 0;
	if (!agq_plan_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char *dir = agq_spool_path(sp, "plans/%s", name);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		long r = agq_plan_rev_name(e->d_name);
		if (r > *rev)
			*rev = r;
	}
	closedir(d);
	if (*rev && deleted) {
		json_t *rec = agq_plan_record(sp, name, *rev);
		if (!rec)
			return -1;
		*deleted = json_is_true(json_object_get(rec, "deleted"));
		json_decref(rec);
	}
	return 0;
}

json_t *
agq_plan_record(const struct agq_spool *sp, const char *name, long rev)
{
	char *p = agq_spool_path(sp, "plans/%s/%010ld.json", name, rev);
	json_t *rec = agq_json_read_object(p, AGQ_PLAN_MAX);
	free(p);
	return rec;
}

int
agq_plan_get(const struct agq_spool *sp, const char *name, long rev,
             json_t **doc, long *rev_out)
{
	*doc = NULL;
	int deleted = 0;
	if (rev <= 0 && agq_plan_head(sp, name, &rev, NULL) < 0)
		return -1;
	if (rev_out)
		*rev_out = rev;
	if (rev == 0)
		return AGQ_PLAN_ABSENT;
	json_t *rec = agq_plan_record(sp, name, rev);
	if (!rec)
		return errno == ENOENT ? AGQ_PLAN_ABSENT : -1;
	deleted = json_is_true(json_object_get(rec, "deleted"));
	json_t *d = json_object_get(rec, "doc");
	if (!deleted && !d) {
		json_decref(rec);
		errno = EBADMSG;
		return -1;
	}
	if (!deleted)
		*doc = json_incref(d);
	json_decref(rec);
	return deleted ? AGQ_PLAN_ABSENT : 0;
}

/* What a change does. */
enum plan_op { PLAN_PUT, PLAN_PATCH, PLAN_RM };
static const char *const op_name[] = { "put", "patch", "rm" };

/* The one writer: put, patch or rm (OP) of plan NAME with INPUT (a
 * document or a patch, borrowed), as agq_plan_put and agq_plan_patch
 * say. */
static int
change(const struct agq_spool *sp, const char *name, enum plan_op op,
       const json_t *input, int merge, long if_rev, long *new_rev,
       char *err, size_t size)
{
	*new_rev = 0;
	if (!agq_plan_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char *dir = agq_spool_path(sp, "plans/%s", name);
	json_t *by = agq_plan_who();
	int rc = -1;
	for (long tries = 0; tries < PLAN_TRIES; tries++) {
		long cur;
		int deleted;
		if (agq_plan_head(sp, name, &cur, &deleted) < 0)
			break;
		int absent = cur == 0 || deleted;
		if (if_rev >= 0 && if_rev != cur && !(if_rev == 0 && absent)) {
			*new_rev = cur;
			json_t *ev = agq_plan_by_fields(by, "plan", name);
			json_object_set_new(ev, "expected", json_integer(if_rev));
			json_object_set_new(ev, "current", json_integer(cur));
			json_object_set_new(ev, "op", json_string(op_name[op]));
			agq_journal_w(sp, "conflict", NULL, ev);
			rc = AGQ_PLAN_CONFLICT;
			break;
		}
		if (op != PLAN_PUT && absent) {
			rc = AGQ_PLAN_ABSENT;
			break;
		}
		char ts[32];
		json_t *rec = json_pack("{s:I, s:s, s:s, s:O, s:s}", "rev",
		    (json_int_t)(cur + 1), "plan", name, "op", op_name[op],
		    "by", by, "at", agq_fmt_time(agq_now_us(), ts));
		if (op == PLAN_PUT) {
			json_object_set_new(rec, "doc", json_deep_copy(input));
		} else if (op == PLAN_RM) {
			json_object_set_new(rec, "deleted", json_true());
		} else {
			json_t *base;
			int g = agq_plan_get(sp, name, cur, &base, NULL);
			if (g == AGQ_PLAN_ABSENT) {
				json_decref(rec);
				continue;       /* removed meanwhile: look again */
			}
			if (g < 0) {
				json_decref(rec);
				break;
			}
			json_t *doc = merge ? agq_mergepatch_apply(base, input)
			    : agq_jsonpatch_apply(base, input, err, size);
			json_decref(base);
			if (!doc) {
				json_decref(rec);
				rc = AGQ_PLAN_BADPATCH;
				break;
			}
			json_object_set_new(rec, "doc", doc);
			json_object_set_new(rec, "patch", json_deep_copy(input));
			json_object_set_new(rec, "merge", json_boolean(merge));
		}
		char *path = agq_xasprintf("%s/%010ld.json", dir, cur + 1);
		int w = agq_mkdirs(dir, 0700);
		if (w == 0)
			w = agq_write_json(sp->tmp, path, rec, JSON_INDENT(2), 1,
			    1);
		free(path);
		json_decref(rec);
		if (w == 0 && cur == 0) {
			/* a new plans/NAME/: its entry in plans/ made durable
			 * before the revision is reported written */
			char *pd = agq_spool_path(sp, "plans");
			w = agq_fsync_dir(pd);
			free(pd);
			if (w < 0)
				break;
		}
		if (w == 0) {
			*new_rev = cur + 1;
			json_t *ev = agq_plan_by_fields(by, "plan", name);
			json_object_set_new(ev, "rev", json_integer(cur + 1));
			if (op == PLAN_PATCH)
				json_object_set_new(ev, "merge",
				    json_boolean(merge));
			char evname[16];
			snprintf(evname, sizeof evname, "plan_%s", op_name[op]);
			agq_journal_w(sp, evname, NULL, ev);
			rc = 0;
			break;
		}
		if (errno != EEXIST)
			break;
		/* another writer made revision cur + 1 first: with IF_REV a
		 * conflict (found by the next look), else try again on it */
		errno = EAGAIN;
	}
	json_decref(by);
	free(dir);
	return rc;
}

int
agq_plan_put(const struct agq_spool *sp, const char *name,
             const json_t *doc, long if_rev, long *new_rev)
{
	return change(sp, name, PLAN_PUT, doc, 0, if_rev, new_rev, NULL, 0);
}

int
agq_plan_patch(const struct agq_spool *sp, const char *name,
               const json_t *patch, int merge, long if_rev, long *new_rev,
               char *err, size_t size)
{
	return change(sp, name, PLAN_PATCH, patch, merge, if_rev, new_rev,
	    err, size);
}

int
agq_plan_rm(const struct agq_spool *sp, const char *name, long if_rev,
            long *new_rev)
{
	return change(sp, name, PLAN_RM, NULL, 0, if_rev, new_rev, NULL, 0);
}

static int
cmp_plan(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "plan")), json_string_value(json_object_get(*(json_t *const *)b,
	    "plan")));
}

static int
cmp_rev(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a,
	    "rev")), y = json_integer_value(json_object_get(
	    *(json_t *const *)b, "rev"));
	return x < y ? -1 : x > y;
}

json_t *
agq_plan_list(const struct agq_spool *sp)
{
	char *dir = agq_spool_path(sp, "plans");
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return errno == ENOENT ? json_array() : NULL;
	json_t **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long rev;
		if (!agq_plan_name_valid(e->d_name) ||
		    agq_plan_head(sp, e->d_name, &rev, NULL) < 0 || rev == 0)
			continue;
		json_t *rec = agq_plan_record(sp, e->d_name, rev);
		json_t *row = json_pack("{s:s, s:I}", "plan", e->d_name, "rev",
		    (json_int_t)rev);
		if (rec) {
			json_object_set_new(row, "deleted", json_boolean(
			    json_is_true(json_object_get(rec, "deleted"))));
			json_object_set(row, "at", json_object_get(rec, "at") ?
			    json_object_get(rec, "at") : json_null());
			json_object_set(row, "by", json_object_get(rec, "by") ?
			    json_object_get(rec, "by") : json_null());
			json_decref(rec);
		} else {
			json_object_set_new(row, "error",
			    json_string(strerror(errno)));
		}
		v = agq_grow(v, &cap, n, sizeof *v, 16);
		v[n++] = row;
	}
	closedir(d);
	return agq_json_array_sorted(v, n, cmp_plan);
}

json_t *
agq_plan_log(const struct agq_spool *sp, const char *name)
{
	if (!agq_plan_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	char *dir = agq_spool_path(sp, "plans/%s", name);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return NULL;
	json_t **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long rev = agq_plan_rev_name(e->d_name);
		if (!rev)
			continue;
		json_t *rec = agq_plan_record(sp, name, rev);
		if (!rec)
			rec = json_pack("{s:I, s:s}", "rev", (json_int_t)rev,
			    "error", strerror(errno));
		else    /* the file's name sorts the log */
			json_object_set_new(rec, "rev", json_integer(rev));
		v = agq_grow(v, &cap, n, sizeof *v, 16);
		v[n++] = rec;
	}
	closedir(d);
	if (n == 0) {
		free(v);
		errno = ENOENT;
		return NULL;
	}
	return agq_json_array_sorted(v, n, cmp_rev);
}
