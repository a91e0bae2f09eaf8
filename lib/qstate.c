/* qstate.c - pauses/, and the counts the scheduler's limits decide on,
 * rebuilt from active/ and the journal (qstate.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "quota.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "qstate.h"

/* ---- pauses ------------------------------------------------------------- */

int
agq_pause_valid(const char *kind, const char *name, char *err, size_t size)
{
	if (!strcmp(kind, "all"))
		return 1;
	if (strcmp(kind, "lane") && strcmp(kind, "tenant") && strcmp(kind,
	    "backend"))
		return agq_errf(err, size, "'%s' is not lane, tenant, backend or "
		    "all", kind), 0;
	if (!strcmp(kind, "lane") && agq_lane_parse(name) < 0)
		return agq_errf(err, size, "lane '%s' is not urgent, high, normal "
		    "or low", name), 0;
	char e2[128];
	struct agq_limit l;
	char *key = agq_xasprintf("limit.%s.%s.max_running", kind, name);
	int ok = strcmp(name, "*") && agq_limit_parse(key, "1", &l, e2,
	    sizeof e2) == 1;
	free(key);
	if (!ok)
		agq_errf(err, size, "%s '%s' is not a name ([A-Za-z0-9._@+-]"
		    "{1,64})", kind, name);
	return ok;
}

/* pauses/KIND-NAME.json (all.json), malloc'd */
static char *
pause_path(const struct agq_spool *sp, const char *kind, const char *name)
{
	if (!strcmp(kind, "all"))
		return agq_spool_path(sp, "pauses/all.json");
	return agq_spool_path(sp, "pauses/%s-%s.json", kind, name);
}

int
agq_pause_set(const struct agq_spool *sp, const char *kind,
              const char *name, const char *note, uid_t uid,
              const char *user)
{
	int all = !strcmp(kind, "all");
	char *dir = agq_spool_path(sp, "pauses");
	if (agq_mkdirs(dir, 0755) < 0) {
		free(dir);
		return -1;
	}
	free(dir);
	char ts[32];
	json_t *by = json_pack("{s:I}", "uid", (json_int_t)uid);
	if (user)
		json_object_set_new(by, "user", json_string(user));
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s, s:o}", "kind", kind,
	    "name", all ? NULL : name, "note", note, "since",
	    agq_fmt_time(agq_now_us(), ts), "by", by);
	char *p = pause_path(sp, kind, name);
	int rc = agq_write_json(sp->tmp, p, o, JSON_INDENT(2), 1, 0);
	int e = errno;
	free(p);
	json_decref(o);
	if (rc < 0) {
		errno = e;
		return -1;
	}
	agq_journal_w(sp, "pause", NULL, json_pack("{s:s, s:s?, s:s?}",
	    "kind", kind, "name", all ? NULL : name, "note", note));
	return 0;
}

int
agq_pause_clear(const struct agq_spool *sp, const char *kind,
                const char *name)
{
	char *p = pause_path(sp, kind, name);
	int rc = unlink(p);
	free(p);
	if (rc < 0)
		return -1;
	agq_journal_w(sp, "resume", NULL, json_pack("{s:s, s:s?}", "kind",
	    kind, "name", strcmp(kind, "all") ? name : NULL));
	return 0;
}

struct plist { const struct agq_spool *sp; json_t **v; size_t n, cap; };

static int
pause_each(const char *fname, void *arg)
{
	struct plist *pl = arg;
	size_t n = strlen(fname);
	if (n < 6 || strcmp(fname + n - 5, ".json"))
		return 0;
	char *p = agq_spool_path(pl->sp, "pauses/%s", fname);
	json_t *o = agq_json_read_object(p, 65536);
	free(p);
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const char *name = json_string_value(json_object_get(o, "name"));
	char err[128];
	if (!kind || (strcmp(kind, "all") && (!name || !agq_pause_valid(kind,
	    name, err, sizeof err)))) {
		json_decref(o);
		return 0;
	}
	pl->v = agq_grow(pl->v, &pl->cap, pl->n, sizeof *pl->v, 4);
	pl->v[pl->n++] = o;
	return 0;
}

static int
pause_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "kind")),
	    json_string_value(json_object_get(y, "kind")));
	if (c)
		return c;
	const char *p = json_string_value(json_object_get(x, "name"));
	const char *q = json_string_value(json_object_get(y, "name"));
	return strcmp(p ? p : "", q ? q : "");
}

json_t *
agq_pause_list(const struct agq_spool *sp)
{
	struct plist pl = { sp, NULL, 0, 0 };
	char *d = agq_spool_path(sp, "pauses");
	(void)agq_dir_each(d, pause_each, &pl);
	free(d);
	return agq_json_array_sorted(pl.v, pl.n, pause_cmp);
}

const json_t *
agq_pause_match(const json_t *pauses, const struct agq_qkeys *k)
{
	static const struct { const char *kind; int key; } kinds[] = {
		{ "lane", AGQ_QK_LANE }, { "tenant", AGQ_QK_TENANT },
		{ "backend", AGQ_QK_BACKEND },
	};
	size_t i;
	const json_t *p;
	json_array_foreach(pauses, i, p) {
		const char *kind = json_string_value(json_object_get(p, "kind"));
		const char *name = json_string_value(json_object_get(p, "name"));
		if (!strcmp(kind, "all"))
			return p;
		for (size_t j = 0; j < sizeof kinds / sizeof *kinds; j++)
			if (!strcmp(kind, kinds[j].kind) && name &&
			    k->v[kinds[j].key] && !strcmp(name,
			    k->v[kinds[j].key]))
				return p;
	}
	return NULL;
}

/* ---- keys ---------------------------------------------------------------- */

void
agq_qstate_keys(const json_t *t, struct agq_qkeys *k, char buf[32])
{
	const json_t *rt = json_object_get(t, "route");
	const char *b = json_string_value(json_object_get(rt, "backend"));
	if (!b)
		b = json_string_value(json_object_get(t, "backend"));
	k->v[AGQ_QK_LANE] = agq_lane_name(agq_task_lane(t));
	k->v[AGQ_QK_TENANT] = agq_task_tenant(t, buf);
	k->v[AGQ_QK_BACKEND] = b ? b : "shell";
	k->v[AGQ_QK_ENDPOINT] = json_string_value(json_object_get(
	    json_object_get(rt, "endpoint"), "name"));
	k->spends = strcmp(k->v[AGQ_QK_BACKEND], "shell") != 0;
}

static json_t *
keys_json(const struct agq_qkeys *k)
{
	return json_pack("[s, s, s, s?, b]", k->v[0], k->v[1], k->v[2],
	    k->v[3], k->spends);
}

static void
keys_of_json(const json_t *a, struct agq_qkeys *k)
{
	for (int i = 0; i < AGQ_QK_N; i++)
		k->v[i] = json_string_value(json_array_get(a, (size_t)i));
	k->spends = json_is_true(json_array_get(a, AGQ_QK_N));
}

/* The keys of task ID as a JSON array (borrowed from L's maps): running,
 * known, else read from its file wherever it is; NULL when gone. */
static const json_t *
keys_by_id(const struct agq_spool *sp, struct agq_qstate *l, const char *id)
{
	const json_t *a = json_object_get(l->running, id);
	if (!a)
		a = json_object_get(l->known, id);
	if (a)
		return a;
	struct agq_loc loc;
	if (agq_task_find(sp, id, &loc) < 0)
		return NULL;
	json_t *t = agq_task_read(loc.path);
	if (!t)
		return NULL;
	struct agq_qkeys k;
	char buf[32];
	agq_qstate_keys(t, &k, buf);
	json_object_set_new(l->known, id, keys_json(&k));
	json_decref(t);
	return json_object_get(l->known, id);
}

/* ---- the journal --------------------------------------------------------- */

/* The "ts" of a journal line (agq writes it first), or -1. */
static int64_t
line_ts(const char *line, size_t len)
{
	char b[40];
	if (len < 40 || memcmp(line, "{\"ts\":\"", 7))
		return -1;
	const char *q = memchr(line + 7, '"', 33);
	if (!q)
		return -1;
	memcpy(b, line + 7, (size_t)(q - line - 7));
	b[q - line - 7] = '\0';
	int64_t us;
	return agq_parse_time(b, &us) == 0 ? us : -1;
}

/* Is the event of LINE EV (its "ev" follows "ts")? */
static int
line_is(const char *line, size_t len, const char *ev)
{
	char pat[64];
	int n = snprintf(pat, sizeof pat, "\"ev\":\"%s\"", ev);
	size_t look = len < 60 ? len : 60;
	return memmem(line, look, pat, (size_t)n) != NULL;
}

/* A finish event's cost counted (LINE, at TS). */
static void
line_cost(const struct agq_spool *sp, struct agq_qstate *l, const char *line,
          size_t len, int64_t ts, int64_t now_us)
{
	if (!memmem(line, len, "\"cost_usd\":", 11))
		return;
	json_t *o = json_loadb(line, len, 0, NULL);
	double usd = json_number_value(json_object_get(o, "cost_usd"));
	const char *id = json_string_value(json_object_get(o, "id"));
	const json_t *a = usd > 0 && id ? keys_by_id(sp, l, id) : NULL;
	if (a) {
		struct agq_qkeys k;
		keys_of_json(a, &k);
		agq_quota_spent(l->q, &k, usd, ts, now_us);
	}
	json_decref(o);
}

/* The journal read backwards from the end of its current file (FD, its
 * end END) to DAY_START: costs, holds, credits. */
static int
scan_back(const struct agq_spool *sp, struct agq_qstate *l, int fd, off_t end,
          int64_t day_start, int64_t now_us)
{
	struct agq_jrev r;
	const char *line;
	size_t len;
	int credits = l->drr.strict, rc;
	long past = 0;
	int costs = agq_quota_count(l->q, AGQ_QF_BUDGET) > 0;
	json_t *seen = json_object();
	agq_jrev_open(&r, fd, end);
	while ((rc = agq_jrev_prev(&r, &line, &len, NULL)) > 0) {
		if (!line)
			continue;
		int64_t ts = line_ts(line, len);
		if (ts >= 0 && ts < day_start && (credits || ++past > 100000))
			break;
		int in_day = ts >= day_start;
		if (in_day && costs && line_is(line, len, "finish"))
			line_cost(sp, l, line, len, ts, now_us);
		int thr = line_is(line, len, "throttle");
		if (!thr && !line_is(line, len, "assign"))
			continue;
		json_t *o = json_loadb(line, len, 0, NULL);
		const char *id = json_string_value(json_object_get(o, "id"));
		const json_t *c = json_object_get(o, "credits");
		if (!thr && !credits && json_array_size(c) == 4) {
			for (size_t i = 0; i < 4; i++)
				l->drr.c[i] = json_integer_value(
				    json_array_get(c, i));
			credits = 1;
		}
		if (in_day && id && !json_object_get(seen, id)) {
			json_object_set_new(seen, id, json_true());
			const char *lim = json_string_value(json_object_get(o,
			    "limit"));
			if (thr && lim)
				json_object_set_new(l->held, id,
				    json_string(lim));
		}
		json_decref(o);
	}
	json_decref(seen);
	agq_jrev_close(&r);
	return rc < 0 ? -1 : 0;
}

/* The lines of FD from L->joff to its end: finish events' costs. */
static void
follow_fd(const struct agq_spool *sp, struct agq_qstate *l, int fd,
          int64_t now_us)
{
	char buf[65536];
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof buf, l->joff);
		if (n <= 0)
			return;
		size_t used = 0;
		for (;;) {
			char *nl = memchr(buf + used, '\n', (size_t)n - used);
			if (!nl)
				break;
			size_t len = (size_t)(nl - buf) - used;
			const char *line = buf + used;
			if (line_is(line, len, "finish"))
				line_cost(sp, l, line, len, line_ts(line, len),
				    now_us);
			used += len + 1;
		}
		if (used == 0) {
			/* a line longer than the buffer: not a finish
			 * event agq wrote; skipped */
			char *nl = NULL;
			off_t o = l->joff + n;
			while (!nl && (n = pread(fd, buf, sizeof buf, o)) > 0) {
				nl = memchr(buf, '\n', (size_t)n);
				o += nl ? nl - buf + 1 : n;
			}
			if (!nl)
				return;
			l->joff = o;
			continue;
		}
		l->joff += (off_t)used;
	}
}

/* The finish events appended since the last look (a rotation: the rest
 * of the rotated file first, found by its inode). */
static void
follow(const struct agq_spool *sp, struct agq_qstate *l, int64_t now_us)
{
	char *p = agq_spool_path(sp, "journal");
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (st.st_dev != l->jdev || st.st_ino != l->jino) {
		char **names;
		size_t n;
		if (l->jino && agq_journal_files(sp, &names, &n) == 0) {
			for (size_t i = n; i-- > 0;) {
				char *rp = agq_spool_path(sp, "%s", names[i]);
				int rfd = open(rp, O_RDONLY | O_CLOEXEC |
				    O_NOFOLLOW);
				struct stat rs;
				free(rp);
				if (rfd >= 0 && fstat(rfd, &rs) == 0 &&
				    rs.st_ino == l->jino && rs.st_dev ==
				    l->jdev) {
					follow_fd(sp, l, rfd, now_us);
					i = 0;
				}
				if (rfd >= 0)
					close(rfd);
			}
			agq_journal_files_free(names, n);
		}
		l->jdev = st.st_dev;
		l->jino = st.st_ino;
		l->joff = 0;
	}
	follow_fd(sp, l, fd, now_us);
	close(fd);
}

int
agq_qstate_open(const struct agq_spool *sp, struct agq_qstate *l,
                int64_t now_us)
{
	const struct agq_conf *c = &sp->conf;
	l->q = c->nlimits ? agq_quota_new(c->limits, c->nlimits,
	    c->budget_tz) : NULL;
	l->drr.strict = c->lane_strict;
	memcpy(l->drr.w, c->lane_w, sizeof l->drr.w);
	memset(l->drr.c, 0, sizeof l->drr.c);
	l->running = json_object();
	l->known = json_object();
	l->held = json_object();
	if (!l->q && l->drr.strict)
		return 0;
	char *p = agq_spool_path(sp, "journal");
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	struct agq_jtail t;
	int64_t day_start, day_end;
	int rc = -1;
	if (fstat(fd, &st) == 0 && agq_journal_tail(fd, &t) == 0) {
		if (agq_quota_day(now_us, c->budget_tz, &day_start,
		    &day_end) < 0)
			day_start = now_us - now_us % 86400000000;
		rc = scan_back(sp, l, fd, t.good_len, day_start, now_us);
		l->jdev = st.st_dev;
		l->jino = st.st_ino;
		l->joff = t.good_len;
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

void
agq_qstate_close(struct agq_qstate *l)
{
	agq_quota_free(l->q);
	json_decref(l->running);
	json_decref(l->known);
	json_decref(l->held);
	memset(l, 0, sizeof *l);
}

struct recount {
	const struct agq_spool *sp;
	struct agq_qstate *l;
	json_t *now;
	const char *agent;
};

static int
recount_task(const char *fname, void *arg)
{
	struct recount *rc = arg;
	char id[65];
	if (!agq_id_of_json(fname, id))
		return 0;
	json_t *a = json_object_get(rc->l->running, id);
	if (a) {
		json_object_set(rc->now, id, a);
		return 0;
	}
	char *p = agq_spool_path(rc->sp, "active/%s/%s", rc->agent, fname);
	json_t *t = agq_task_read(p);
	free(p);
	if (!t)
		return 0;
	struct agq_qkeys k;
	char buf[32];
	agq_qstate_keys(t, &k, buf);
	json_object_set_new(rc->now, id, keys_json(&k));
	json_decref(t);
	return 0;
}

static int
recount_agent(const char *name, void *arg)
{
	struct recount *rc = arg;
	if (!agq_agent_name_valid(name))
		return 0;
	rc->agent = name;
	char *d = agq_spool_path(rc->sp, "active/%s", name);
	(void)agq_dir_each(d, recount_task, rc);
	free(d);
	return 0;
}

void
agq_qstate_refresh(const struct agq_spool *sp, struct agq_qstate *l,
                   int64_t now_us)
{
	if (!l->q)
		return;
	if (agq_quota_count(l->q, AGQ_QF_BUDGET) > 0)
		follow(sp, l, now_us);
	struct recount rc = { sp, l, json_object(), NULL };
	char *d = agq_spool_path(sp, "active");
	(void)agq_dir_each(d, recount_agent, &rc);
	free(d);
	/* the tasks that left active/ are kept for their finish's cost */
	const char *id;
	json_t *a;
	json_object_foreach(l->running, id, a)
		if (!json_object_get(rc.now, id))
			json_object_set(l->known, id, a);
	json_decref(l->running);
	l->running = rc.now;
	if (json_object_size(l->known) > 100000)
		json_object_clear(l->known);
	agq_quota_reset_running(l->q);
	json_object_foreach(l->running, id, a) {
		struct agq_qkeys k;
		keys_of_json(a, &k);
		agq_quota_running(l->q, &k, 1);
	}
}

int
agq_qstate_hold(struct agq_qstate *l, struct agq_jbatch *jb, const char *id,
                const struct agq_qkeys *k, int64_t now_us)
{
	struct agq_qhold h;
	if (!l->q || agq_quota_check(l->q, k, now_us, &h) == 0)
		return 0;
	const char *last = json_string_value(json_object_get(l->held, id));
	if (last && !strcmp(last, h.limit))
		return 1;
	char reason[300], ts[32];
	if (h.field == AGQ_QF_MAX_RUNNING)
		snprintf(reason, sizeof reason, "%s of %s running", h.current,
		    h.value);
	else if (h.field == AGQ_QF_RATE)
		snprintf(reason, sizeof reason, "rate %s: %s tokens, the next "
		    "at %s", h.value, h.current, agq_fmt_time(h.until_us, ts));
	else
		snprintf(reason, sizeof reason, "$%s of $%s spent today; until "
		    "%s", h.current, h.value, agq_fmt_time(h.until_us, ts));
	double cur = atof(h.current);
	json_t *ev = json_pack("{s:s, s:s, s:o, s:s}", "limit", h.limit,
	    "value", h.value, "current", h.field == AGQ_QF_MAX_RUNNING ?
	    json_integer((json_int_t)cur) : json_real(cur), "reason", reason);
	if (h.until_us)
		json_object_set_new(ev, "until", json_string(agq_fmt_time(
		    h.until_us, ts)));
	agq_jbatch_add(jb, "throttle", id, ev);
	json_object_set_new(l->held, id, json_string(h.limit));
	return 1;
}

void
agq_qstate_leased(struct agq_qstate *l, const char *id,
                  const struct agq_qkeys *k, int64_t now_us)
{
	json_object_del(l->held, id);
	if (!l->q)
		return;
	agq_quota_take(l->q, k, now_us);
	json_object_set_new(l->running, id, keys_json(k));
}

json_t *
agq_qstate_credits(const struct agq_qstate *l)
{
	return json_pack("[I, I, I, I]", (json_int_t)l->drr.c[0],
	    (json_int_t)l->drr.c[1], (json_int_t)l->drr.c[2],
	    (json_int_t)l->drr.c[3]);
}
