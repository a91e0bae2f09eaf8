/* routine.c - routines: records, slot claims, the misfire decision, the
 * fire pass: routine.h. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "cron.h"
#include "spool.h"
#include "journal.h"
#include "task.h"
#include "classify.h"
#include "plan.h"
#include "submit.h"
#include "routine.h"

/* Missed slots counted one by one at most; past it a cron schedule's
 * count starts again 35 days before now ("more"). */
#define COUNT_MAX 100000
/* Claims a recovering pass looks at, the newest: more than one pass
 * claims (catch-up:100 and an on-time slot), and run-now's. */
#define RECOVER_MAX 256

int
agq_routine_name_valid(const char *name)
{
	if (!name || !*name || strlen(name) > 40)
		return 0;
	if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", *name))
		return 0;
	return !name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-")];
}

int
agq_routine_misfire_parse(const char *s, int *policy, int *n)
{
	*n = 0;
	if (s && !strcmp(s, "skip")) {
		*policy = AGQ_MISFIRE_SKIP;
		return 0;
	}
	if (s && !strcmp(s, "run-once")) {
		*policy = AGQ_MISFIRE_RUN_ONCE;
		return 0;
	}
	if (s && !strncmp(s, "catch-up:", 9) && s[9] && strlen(s + 9) <= 3 &&
	    !s[9 + strspn(s + 9, "0123456789")]) {
		*n = atoi(s + 9);
		*policy = AGQ_MISFIRE_CATCH_UP;
		if (*n >= 1 && *n <= 100)
			return 0;
	}
	errno = EINVAL;
	return -1;
}

int
agq_routine_spec(const json_t *r, struct agq_rspec *s, char *err,
                 size_t size)
{
	memset(s, 0, sizeof *s);
	s->name = json_string_value(json_object_get(r, "name"));
	json_t *every = json_object_get(r, "every_s");
	json_t *cron = json_object_get(r, "cron");
	if (!every == !cron)
		return agq_errf(err, size, "field every_s or cron: exactly one "
		    "of them");
	if (every) {
		if (!json_is_integer(every) || json_integer_value(every) < 1 ||
		    json_integer_value(every) > 366 * 86400)
			return agq_errf(err, size, "field every_s: not a whole "
			    "number of seconds from 1 to 366 days");
		s->every_s = json_integer_value(every);
	} else {
		char e[200];
		if (!json_is_string(cron) || agq_cron_parse(json_string_value(
		    cron), &s->cron, e, sizeof e) < 0)
			return agq_errf(err, size, "field cron: %s",
			    json_is_string(cron) ? e : "not a string");
		s->tz = json_string_value(json_object_get(r, "tz"));
		if (!agq_cron_tz_valid(s->tz))
			return agq_errf(err, size, "field tz: not a time zone "
			    "(an IANA name such as Europe/Berlin, tz(5))");
	}
	const char *mf = json_string_value(json_object_get(r, "misfire"));
	if (!mf)
		mf = "skip";
	if (agq_routine_misfire_parse(mf, &s->misfire, &s->catch_up) < 0)
		return agq_errf(err, size, "field misfire: '%s' is not skip, "
		    "run-once or catch-up:N (N 1 to 100)", mf);
	json_t *j = json_object_get(r, "jitter_s");
	if (j && (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > 86400))
		return agq_errf(err, size, "field jitter_s: not a whole number "
		    "of seconds from 0 to 86400");
	s->jitter_s = j ? json_integer_value(j) : 0;
	if (s->every_s && s->jitter_s >= s->every_s && s->jitter_s)
		return agq_errf(err, size, "field jitter_s: %lld is not below "
		    "every_s (%lld)", (long long)s->jitter_s,
		    (long long)s->every_s);
	return 0;
}

int
agq_routine_check(const json_t *r, char *err, size_t size)
{
	struct agq_rspec s;
	if (!json_is_object(r))
		return agq_errf(err, size, "not a JSON object");
	if (!agq_routine_name_valid(json_string_value(json_object_get(r,
	    "name"))))
		return agq_errf(err, size, "field name: not [a-z0-9][a-z0-9._-]"
		    " of at most 40");
	if (agq_routine_spec(r, &s, err, size) < 0)
		return -1;
	json_t *t = json_object_get(r, "task"), *v;
	if (!json_is_object(t))
		return agq_errf(err, size, "field task: not an object");
	if (json_object_get(t, "id"))
		return agq_errf(err, size, "field task.id: a routine's tasks "
		    "are named r-NAME-SLOT");
	json_t *probe = json_deep_copy(t);
	json_object_set_new(probe, "id", json_string("r-probe"));
	char e[300];
	int bad = agq_submit_valid(probe, e, sizeof e) < 0;
	json_decref(probe);
	if (bad)
		return agq_errf(err, size, "task: %s", e);
	if ((v = json_object_get(r, "paused")) && !json_is_boolean(v))
		return agq_errf(err, size, "field paused: not true or false");
	const char *a = json_string_value(json_object_get(r, "approval"));
	if (json_object_get(r, "approval") && (!a || (strcmp(a, "none") &&
	    strcmp(a, "pending") && strcmp(a, "approved"))))
		return agq_errf(err, size, "field approval: not none, pending "
		    "or approved");
	return 0;
}

int64_t
agq_routine_jitter(const char *name, int64_t slot_s, int64_t jitter_s)
{
	if (jitter_s <= 0)
		return 0;
	char buf[128];
	int n = snprintf(buf, sizeof buf, "%s%c%lld", name, 0,
	    (long long)slot_s);
	uint64_t h = 14695981039346656037ULL;   /* FNV-1a 64 */
	for (int i = 0; i < n && i < (int)sizeof buf; i++) {
		h ^= (unsigned char)buf[i];
		h *= 1099511628211ULL;
	}
	return (int64_t)(h % (uint64_t)jitter_s);
}

int
agq_routine_next_slot(const struct agq_rspec *s, int64_t after_s,
                      int64_t *slot_s)
{
	if (s->every_s > 0) {
		int64_t k = after_s >= 0 ? after_s / s->every_s :
		    -((-after_s + s->every_s - 1) / s->every_s);
		*slot_s = (k + 1) * s->every_s;
		return 0;
	}
	return agq_cron_next(&s->cron, s->tz, after_s, slot_s);
}

int
agq_routine_due(const struct agq_rspec *s, int64_t since_s, int64_t now_s,
                int64_t *out, size_t max, struct agq_rmiss *m)
{
	memset(m, 0, sizeof *m);
	size_t keep = s->misfire == AGQ_MISFIRE_CATCH_UP ? (size_t)s->catch_up
	    : 1;
	if (keep > max)
		keep = max;
	/* the newest KEEP + 1 missed slots: those that may fire, and the
	 * newest skipped one before them */
	int64_t ring[102];
	size_t nring = 0;
	int64_t ontime[2];
	size_t nontime = 0;
	int64_t slot, next, count = 0;
	if (agq_routine_next_slot(s, since_s, &slot) < 0)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		int64_t due = slot + agq_routine_jitter(s->name, slot,
		    s->jitter_s);
		if (now_s < due) {
			m->next_s = due;
			break;
		}
		if (agq_routine_next_slot(s, slot, &next) < 0) {
			if (errno != ENOENT)
				return -1;
			next = 0;
		}
		int64_t grace = next ? (next - slot) / 2 : 60;
		if (grace > 60)
			grace = 60;
		if (now_s - due <= grace) {
			if (nontime < 2)
				ontime[nontime++] = slot;
		} else {
			if (!m->skipped++)
				m->first = slot;
			if (nring == keep + 1) {
				memmove(ring, ring + 1, keep * sizeof *ring);
				nring--;
			}
			ring[nring++] = slot;
		}
		if (!next)
			break;
		slot = next;
		count++;
		if (s->every_s && slot + (int64_t)(keep + 4) * s->every_s <
		    now_s) {
			/* a long way behind: count the slots in between */
			int64_t to = (now_s / s->every_s - (int64_t)keep - 3) *
			    s->every_s;
			m->skipped += (to - slot) / s->every_s;
			slot = to;
		} else if (!s->every_s && count >= COUNT_MAX && slot < now_s -
		    35 * 86400) {
			m->more = 1;    /* counted this far: start again nearer */
			count = 0;
			if (agq_routine_next_slot(s, now_s - 35 * 86400, &slot) < 0)
				return -1;
		}
	}
	size_t n = 0, nfire = 0;
	if (s->misfire == AGQ_MISFIRE_CATCH_UP || (s->misfire ==
	    AGQ_MISFIRE_RUN_ONCE && !nontime))
		nfire = nring < keep ? nring : keep;
	for (size_t i = nring - nfire; i < nring && n < max; i++)
		out[n++] = ring[i];
	for (size_t i = 0; i < nontime && n < max; i++)
		out[n++] = ontime[i];
	m->skipped -= (int64_t)nfire;
	if (m->skipped > 0)
		m->last = ring[nring - nfire - 1];
	else
		m->first = m->last = 0;
	return (int)n;
}

char *
agq_routine_slot_name(int64_t slot_s, char *buf)
{
	time_t t = (time_t)slot_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
	return buf;
}

int64_t
agq_routine_slot_parse(const char *name)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (strlen(name) != 16)
		return -1;
	const char *e = strptime(name, "%Y%m%dT%H%M%SZ", &tm);
	if (!e || *e)
		return -1;
	return (int64_t)timegm(&tm);
}

int64_t
agq_routine_now(void)
{
	const char *s = getenv("AGQ_ROUTINE_NOW");
	int64_t us;
	if (s && *s && agq_parse_time(s, &us) == 0)
		return us / 1000000;
	return agq_now_us() / 1000000;
}

json_t *
agq_routine_read(const struct agq_spool *sp, const char *name)
{
	if (!agq_routine_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	char *p = agq_spool_path(sp, "routines/%s.json", name);
	json_t *r = agq_json_read_object(p, AGQ_ROUTINE_MAX);
	free(p);
	return r;
}

/* Write V (agq_write_json with FLAGS, fsync'd; NOREPLACE: EEXIST when it
 * exists) to DIR/FILE in the spool, DIR made (0700) when missing.  0, or
 * -1 with errno. */
static int
write_in(const struct agq_spool *sp, const char *dir, const char *file,
         const json_t *v, size_t flags, int noreplace)
{
	char *d = agq_spool_path(sp, "%s", dir);
	char *tmp = agq_spool_path(sp, "tmp");
	char *dst = agq_spool_path(sp, "%s/%s", dir, file);
	int rc = agq_mkdir_mode(d, 0700) < 0 && errno != EEXIST ? -1 : 0;
	if (rc == 0)
		rc = agq_write_json(tmp, dst, v, flags, 1, noreplace);
	int e = errno;
	free(d);
	free(tmp);
	free(dst);
	errno = e;
	return rc;
}

int
agq_routine_write(const struct agq_spool *sp, const json_t *r, int noreplace)
{
	char *file = agq_xasprintf("%s.json", json_string_value(
	    json_object_get(r, "name")));
	int rc = write_in(sp, "routines", file, r, JSON_INDENT(2), noreplace);
	free(file);
	return rc;
}

/* Order of two records or claims by their "name" or "slot". */
static int
by_key(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *k = json_object_get(x, "slot") ? "slot" : "name";
	const char *p = json_string_value(json_object_get(x, k));
	const char *q = json_string_value(json_object_get(y, k));
	return strcmp(p ? p : "", q ? q : "");
}

/* qsort(3)'s order of two strings (const char **). */
static int
by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Entries of the directory REL (of the spool) that END with SUFFIX (""
 * any), not starting with '.', as a new array of strings (the names
 * without SUFFIX); NULL with errno. */
static json_t *
names_in(const struct agq_spool *sp, const char *rel, const char *suffix)
{
	char *d = agq_spool_path(sp, "%s", rel);
	DIR *dir = opendir(d);
	free(d);
	if (!dir)
		return NULL;
	json_t *a = json_array();
	struct dirent *e;
	size_t sl = strlen(suffix);
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' || n <= sl || strcmp(e->d_name + n - sl,
		    suffix))
			continue;
		json_array_append_new(a, json_stringn(e->d_name, n - sl));
	}
	closedir(dir);
	return a;
}

json_t *
agq_routine_list(const struct agq_spool *sp)
{
	json_t *names = names_in(sp, "routines", ".json");
	if (!names)
		return errno == ENOENT ? json_array() : NULL;
	size_t i, n = json_array_size(names);
	json_t **v = agq_xmalloc((n ? n : 1) * sizeof *v), *e;
	json_array_foreach(names, i, e) {
		const char *name = json_string_value(e);
		json_t *r = agq_routine_name_valid(name) ? agq_routine_read(sp,
		    name) : NULL;
		if (!r)
			r = json_pack("{s:s, s:s}", "name", name, "error",
			    agq_routine_name_valid(name) ? strerror(errno) :
			    "not a routine name");
		v[i] = r;
	}
	json_decref(names);
	return agq_json_array_sorted(v, n, by_key);
}

json_t *
agq_routine_claims(const struct agq_spool *sp, const char *name,
                   size_t max)
{
	char *rel = agq_xasprintf("routines/%s.slots", name);
	json_t *names = names_in(sp, rel, "");
	if (!names) {
		free(rel);
		return json_array();
	}
	size_t i, n = json_array_size(names), first;
	const char **s = agq_xmalloc((n ? n : 1) * sizeof *s);
	for (i = 0; i < n; i++)
		s[i] = json_string_value(json_array_get(names, i));
	qsort(s, n, sizeof *s, by_string);
	first = max && n > max ? n - max : 0;
	json_t **v = agq_xmalloc((n ? n : 1) * sizeof *v);
	for (i = first; i < n; i++) {
		char *p = agq_spool_path(sp, "%s/%s", rel, s[i]);
		json_t *c = agq_json_read_object(p, 65536);
		free(p);
		if (!c)
			c = json_pack("{s:s}", "error", strerror(errno));
		json_object_set_new(c, "slot", json_string(s[i]));
		v[i - first] = c;
	}
	free(s);
	free(rel);
	json_decref(names);
	return agq_json_array_sorted(v, n - first, by_key);
}

int
agq_routine_last(const struct agq_spool *sp, const char *name, int64_t *last)
{
	*last = 0;
	char *rel = agq_xasprintf("routines/%s.slots", name);
	json_t *names = names_in(sp, rel, "");
	free(rel);
	if (!names)
		return errno == ENOENT ? 0 : -1;
	size_t i;
	json_t *e;
	json_array_foreach(names, i, e) {
		int64_t s = agq_routine_slot_parse(json_string_value(e));
		if (s > *last)
			*last = s;
	}
	json_decref(names);
	return 0;
}

void
agq_routine_journal(const struct agq_spool *sp, const char *ev,
                    const char *name, const json_t *by, json_t *extra)
{
	json_t *o = agq_plan_by_fields(by, "routine", name);
	if (extra)
		json_object_update(o, extra);
	json_decref(extra);
	agq_journal_w(sp, ev, NULL, o);
}

int
agq_routine_needs_approval(const json_t *t)
{
	const char *b = agq_task_backend(t);
	const char *kind = json_string_value(json_object_get(t, "kind"));
	return (b && strcmp(b, "shell")) || json_object_get(t, "git") ||
	    (kind && (!strcmp(kind, "review") || !strcmp(kind, "merge")));
}

/* The journal fields of a misfire M of routine R: {routine, skipped,
 * first, last, more, policy}.  New reference. */
static json_t *
miss_fields(const json_t *r, const struct agq_rmiss *m)
{
	char a[32], b[32];
	const char *mf = json_string_value(json_object_get(r, "misfire"));
	json_t *o = json_pack("{s:O, s:I, s:s, s:s, s:s}", "routine",
	    json_object_get(r, "name"), "skipped", (json_int_t)m->skipped,
	    "first", agq_fmt_time(m->first * 1000000, a), "last",
	    agq_fmt_time(m->last * 1000000, b), "policy", mf ? mf : "skip");
	if (m->more)
		json_object_set_new(o, "more", json_true());
	return o;
}

/* Write the claim C to routines/NAME.slots/SLOT: linked (EEXIST: taken)
 * when !REPLACE, else renamed over.  0 or -1. */
static int
claim_write(const struct agq_spool *sp, const char *name, const char *slot,
            const json_t *c, int replace)
{
	char *dir = agq_xasprintf("routines/%s.slots", name);
	int rc = write_in(sp, dir, slot, c, JSON_COMPACT, !replace);
	free(dir);
	return rc;
}

/* Submit the task of slot SLOT of routine R with id ID and mark claim C
 * (borrowed, changed) submitted.  0, or -1 (reported). */
static int
submit_slot(const struct agq_spool *sp, const json_t *r, const char *slot,
            const char *id, json_t *c)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	json_t *t = json_deep_copy(json_object_get(r, "task"));
	json_object_set_new(t, "id", json_string(id));
	char err[400];
	int where = -1, rc;
	if (agq_submit_valid(t, err, sizeof err) < 0) {
		rc = 2;
	} else {
		int flags = agq_submit_normalize(t, 1);
		const json_t *by = json_object_get(json_object_get(r, "created"),
		    "by");
		json_t *uid = json_object_get(by, "uid");
		if (json_is_integer(uid))
			agq_task_set_owner(t, (uid_t)json_integer_value(uid),
			    json_string_value(json_object_get(by, "user")));
		rc = agq_submit_deliver(sp, t, flags, "routine", &where, err,
		    sizeof err);
	}
	json_decref(t);
	if (rc < 0)
		return -1;
	char at[40];
	json_object_set_new(c, "submitted", json_string(agq_fmt_time(
	    agq_now_us(), at)));
	if (rc == 1)
		json_object_set_new(c, "duplicate", json_true());
	if (rc == 2) {
		agq_warn("routine %s: slot %s: task refused: %s", name, slot, err);
		json_object_set_new(c, "error", json_string(err));
	}
	if (claim_write(sp, name, slot, c, 1) < 0) {
		agq_spool_syserr(sp, "cannot mark the claim submitted",
		    "routines/%s.slots/%s", name, slot);
		return -1;
	}
	return 0;
}

int
agq_routine_fire(const struct agq_spool *sp, const json_t *r,
                 const char *slot, const struct agq_rmiss *miss, char *id)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	char tid[65], at[40];
	if ((size_t)snprintf(tid, sizeof tid, "r-%s-%s", name, slot) >=
	    sizeof tid || !agq_id_valid(tid)) {
		errno = EINVAL;
		return -1;
	}
	if (id)
		memcpy(id, tid, sizeof tid);
	json_t *c = json_pack("{s:s, s:s, s:{s:s, s:I}, s:s, s:I}", "slot",
	    slot, "fired_at", agq_fmt_time(agq_now_us(), at), "by", "host",
	    agq_hostname(), "pid", (json_int_t)getpid(), "id", tid, "rev",
	    json_integer_value(json_object_get(r, "rev")));
	if (miss && miss->skipped)
		json_object_set_new(c, "misfire", miss_fields(r, miss));
	if (claim_write(sp, name, slot, c, 0) < 0) {
		int e = errno;
		json_decref(c);
		if (e == EEXIST)
			return 1;
		agq_spool_syserr(sp, "cannot claim", "routines/%s.slots/%s",
		    name, slot);
		errno = e;
		return -1;
	}
	if (miss && miss->skipped)
		agq_journal_w(sp, "routine_misfire", NULL, miss_fields(r, miss));
	agq_journal_w(sp, "routine_fire", tid, json_pack("{s:s, s:s}",
	    "routine", name, "slot", slot));
	const char *crash = getenv("AGQ_ROUTINE_CRASH");
	if (crash && !strcmp(crash, "after-claim"))
		raise(SIGKILL);         /* tests: a crash before the submit */
	int rc = submit_slot(sp, r, slot, tid, c);
	json_decref(c);
	return rc;
}

/* Claims of routine R without "submitted" submitted (the crash case). */
static void
recover(const struct agq_spool *sp, const json_t *r)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	json_t *cl = agq_routine_claims(sp, name, RECOVER_MAX), *c;
	size_t i;
	json_array_foreach(cl, i, c) {
		const char *slot = json_string_value(json_object_get(c, "slot"));
		const char *id = json_string_value(json_object_get(c, "id"));
		if (json_object_get(c, "submitted") || json_object_get(c,
		    "skipped") || json_object_get(c, "error") || !id)
			continue;
		agq_warn("routine %s: slot %s was claimed but its task %s not "
		    "submitted (a crash): submitting it", name, slot, id);
		(void)submit_slot(sp, r, slot, id, c);
	}
	json_decref(cl);
}

/* Remove the oldest claims of NAME past AGQ_ROUTINE_KEEP. */
static void
prune(const struct agq_spool *sp, const char *name)
{
	char *rel = agq_xasprintf("routines/%s.slots", name);
	json_t *names = names_in(sp, rel, "");
	if (names && json_array_size(names) > AGQ_ROUTINE_KEEP + 100) {
		size_t n = json_array_size(names), i;
		const char **v = agq_xmalloc(n * sizeof *v);
		for (i = 0; i < n; i++)
			v[i] = json_string_value(json_array_get(names, i));
		qsort(v, n, sizeof *v, by_string);
		/* schedule slots sort by time, "now-" after them: keep the
		 * newest schedule slot whatever happens */
		for (i = 0; i + AGQ_ROUTINE_KEEP < n; i++) {
			char *p = agq_spool_path(sp, "%s/%s", rel, v[i]);
			(void)unlink(p);
			free(p);
		}
		free(v);
	}
	json_decref(names);
	free(rel);
}

/* One routine R's turn of the pass.  The number fired. */
static int
routine_turn(const struct agq_spool *sp, const json_t *r, int64_t now_s,
             int64_t *next_s)
{
	struct agq_rspec s;
	char err[300];
	const char *name = json_string_value(json_object_get(r, "name"));
	if (agq_routine_check(r, err, sizeof err) < 0) {
		agq_warn("routine %s: not fired: %s (%s/routines/%s.json)",
		    agq_shown(name), err, sp->root, agq_shown(name));
		return 0;
	}
	const char *appr = json_string_value(json_object_get(r, "approval"));
	if (json_is_true(json_object_get(r, "paused")) || (appr &&
	    !strcmp(appr, "pending")))
		return 0;
	(void)agq_routine_spec(r, &s, err, sizeof err);
	int64_t last, since_us = 0;
	if (agq_routine_last(sp, name, &last) < 0) {
		agq_spool_syserr(sp, "cannot list", "routines/%s.slots", name);
		return 0;
	}
	const char *since = json_string_value(json_object_get(r, "since"));
	if (since && agq_parse_time(since, &since_us) == 0 &&
	    since_us / 1000000 > last)
		last = since_us / 1000000;
	int64_t out[128];
	struct agq_rmiss m;
	int n = agq_routine_due(&s, last, now_s, out, 128, &m);
	if (n < 0) {
		agq_warn("routine %s: cannot compute its slots: %s", name,
		    strerror(errno));
		return 0;
	}
	if (m.next_s && (!*next_s || m.next_s < *next_s))
		*next_s = m.next_s;
	int fired = 0;
	char slot[20];
	if (n == 0 && m.skipped) {
		/* nothing fires: the newest missed slot claimed as skipped,
		 * so the misfire is journaled once */
		char at[40];
		agq_routine_slot_name(m.last, slot);
		json_t *c = json_pack("{s:s, s:s, s:{s:s, s:I}, s:I}", "slot",
		    slot, "fired_at", agq_fmt_time(agq_now_us(), at), "by",
		    "host", agq_hostname(), "pid", (json_int_t)getpid(),
		    "skipped", (json_int_t)m.skipped);
		if (claim_write(sp, name, slot, c, 0) == 0)
			agq_journal_w(sp, "routine_misfire", NULL,
			    miss_fields(r, &m));
		else if (errno != EEXIST)
			agq_spool_syserr(sp, "cannot claim", "routines/%s.slots/%s",
			    name, slot);
		json_decref(c);
	}
	for (int i = 0; i < n; i++) {
		int rc = agq_routine_fire(sp, r, agq_routine_slot_name(out[i],
		    slot), i == 0 ? &m : NULL, NULL);
		if (rc == 0)
			fired++;
	}
	if (n)
		prune(sp, name);
	return fired;
}

int
agq_routine_pass(const struct agq_spool *sp, int64_t now_s, int recover_,
                 int64_t *next_s)
{
	*next_s = 0;
	json_t *l = agq_routine_list(sp), *r;
	if (!l) {
		agq_spool_syserr(sp, "cannot list", "routines");
		return 0;
	}
	int fired = 0;
	size_t i;
	json_array_foreach(l, i, r) {
		if (json_object_get(r, "error")) {
			agq_warn("routine %s: cannot read it: %s (%s/routines/"
			    "%s.json)", agq_shown_get(r, "name"), agq_shown_get(r,
			    "error"), sp->root, agq_shown_get(r, "name"));
			continue;
		}
		if (recover_)
			recover(sp, r);
		fired += routine_turn(sp, r, now_s, next_s);
	}
	json_decref(l);
	return fired;
}
