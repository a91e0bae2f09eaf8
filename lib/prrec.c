/*
 * prrec.c - pull request records: SPOOL/prs/{open,merged,closed}/PRID.json.
 *
 * The spool's side of a pull request (opened, merged or closed), apart
 * from git.c so that the programs that only read the records (agq-show,
 * agq-dash's lists) do not link libgit2.  prrec.h states the record.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fskind.h"
#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "prrec.h"

const char *const agq_pr_states[] = { "open", "merged", "closed", NULL };

static int
pr_state_valid(const char *s)
{
	for (int i = 0; agq_pr_states[i]; i++)
		if (!strcmp(s, agq_pr_states[i]))
			return 1;
	return 0;
}

/* The record at PATH with "state" STATE added; NULL with errno. */
static json_t *
pr_read(const char *path, const char *state)
{
	json_t *o = agq_task_read(path);     /* any JSON object file */
	if (o)
		json_object_set_new(o, "state", json_string(state));
	return o;
}

/* The record PRID in any state, or NULL (errno ENOENT). */
static json_t *
pr_get(const struct agq_spool *sp, const char *prid)
{
	if (!agq_id_valid(prid)) {
		errno = ENOENT;
		return NULL;
	}
	for (int i = 0; agq_pr_states[i]; i++) {
		char *p = agq_spool_path(sp, "prs/%s/%s.json", agq_pr_states[i],
		    prid);
		json_t *o = pr_read(p, agq_pr_states[i]);
		free(p);
		if (o || errno != ENOENT)
			return o;
	}
	return NULL;
}

/* Write record O (its "state" member left out) to prs/STATE/ID.json
 * through tmp/, fsync'd; NOREPLACE as agq_write_atomic's.  0, or -1 with
 * errno. */
static int
pr_write(const struct agq_spool *sp, const json_t *o, const char *state,
         const char *id, int noreplace)
{
	json_t *c = json_deep_copy(o);
	json_object_del(c, "state");
	char *dst = agq_spool_path(sp, "prs/%s/%s.json", state, id);
	int r = agq_write_json(sp->tmp, dst, c, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER, 1, noreplace);
	int e = errno;
	free(dst);
	json_decref(c);
	errno = e;
	return r;
}

int
agq_pr_open(const struct agq_spool *sp, const char *id, const char *repo,
            const char *base, const char *branch, const char *head,
            const char *title, json_t **rec)
{
	*rec = NULL;
	if (!id || !repo || !base || !branch || !head) {
		errno = EINVAL;
		return -1;
	}
	char hex[65], prid[32];
	char *key = agq_xasprintf("%s\n%s", repo, branch);
	agq_sha256_hex(key, strlen(key), hex);
	free(key);
	snprintf(prid, sizeof prid, "pr-%.16s", hex);
	for (int tries = 0; tries < 2; tries++) {
		if ((*rec = pr_get(sp, prid)))
			return 1;
		if (errno != ENOENT)
			return -1;
		char now[40];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, "
		    "s:n, s:n, s:s}", "id", prid, "task", id, "repo", repo,
		    "base", base, "branch", branch, "head", head, "title", title,
		    "url", "number", "created_at", agq_fmt_time(agq_now_us(),
		    now));
		int r = pr_write(sp, o, "open", prid, 1);
		int e = errno;
		if (r == 0) {
			json_object_set_new(o, "state", json_string("open"));
			*rec = o;
			return 0;
		}
		json_decref(o);
		if (e != EEXIST) {
			errno = e;
			return -1;
		}
		/* opened at the same time by another process: read it */
	}
	errno = EEXIST;
	return -1;
}

int
agq_pr_save(const struct agq_spool *sp, const json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	if (!state)
		state = "open";
	if (!id || !agq_id_valid(id) || !pr_state_valid(state)) {
		errno = EINVAL;
		return -1;
	}
	return pr_write(sp, rec, state, id, 0);
}

int
agq_pr_move(const struct agq_spool *sp, const char *prid, const char *state)
{
	if (!pr_state_valid(state)) {
		errno = EINVAL;
		return -1;
	}
	json_t *o = pr_get(sp, prid);
	if (!o)
		return -1;
	const char *from = json_string_value(json_object_get(o, "state"));
	int rc = 0;
	if (strcmp(from, state)) {
		char *src = agq_spool_path(sp, "prs/%s/%s.json", from, prid);
		char *dst = agq_spool_path(sp, "prs/%s/%s.json", state, prid);
		char *sd = agq_spool_path(sp, "prs/%s", from);
		char *dd = agq_spool_path(sp, "prs/%s", state);
		rc = agq_rename_checked(src, dst) < 0 ||
		    agq_fsync_dir(dd) < 0 || agq_fsync_dir(sd) < 0 ? -1 : 0;
		free(src);
		free(dst);
		free(sd);
		free(dd);
	}
	json_decref(o);
	return rc;
}

static int
by_created(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a,
	    "created_at"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b,
	    "created_at"));
	return strcmp(x ? x : "", y ? y : "");
}

json_t *
agq_pr_list(const struct agq_spool *sp, const char *state)
{
	if (state && !pr_state_valid(state)) {
		errno = EINVAL;
		return NULL;
	}
	json_t **v = NULL;
	size_t n = 0, cap = 0;
	for (int i = 0; agq_pr_states[i]; i++) {
		if (state && strcmp(state, agq_pr_states[i]))
			continue;
		char *dir = agq_spool_path(sp, "prs/%s", agq_pr_states[i]);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (e->d_name[0] == '.' || l < 6 ||
			    strcmp(e->d_name + l - 5, ".json"))
				continue;
			char *p = agq_xasprintf("%s/%s", dir, e->d_name);
			json_t *o = pr_read(p, agq_pr_states[i]);
			free(p);
			if (!o)
				continue;   /* moved meanwhile, or not a record */
			v = agq_grow(v, &cap, n, sizeof *v, 16);
			v[n++] = o;
		}
		if (d)
			closedir(d);
		free(dir);
	}
	return agq_json_array_sorted(v, n, by_created);
}

json_t *
agq_pr_find(const struct agq_spool *sp, const char *key)
{
	json_t *o = pr_get(sp, key);
	if (o)
		return o;
	json_t *all = agq_pr_list(sp, NULL);
	size_t i;
	json_t *e;
	json_array_foreach(all, i, e)
		if (!strcmp(key, json_string_value(json_object_get(e, "task")) ?
		    json_string_value(json_object_get(e, "task")) : ""))
			o = e;
	if (o)
		json_incref(o);
	json_decref(all);
	if (!o)
		errno = ENOENT;
	return o;
}
