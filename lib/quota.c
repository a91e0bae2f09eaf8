/* quota.c - limits on what the scheduler assigns, and fair lanes: pure
 * decisions (quota.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "quota.h"

static const char *const kinds[AGQ_QK_N] = { "lane", "tenant", "backend",
    "endpoint" };
static const char *const fields[AGQ_QF_N] = { "max_running", "rate",
    "budget_usd" };

const char *
agq_quota_kind_name(int kind)
{
	return kind >= 0 && kind < AGQ_QK_N ? kinds[kind] : "?";
}

const char *
agq_quota_field_name(int field)
{
	return field >= 0 && field < AGQ_QF_N ? fields[field] : "?";
}

/* A limit's NAME: `*` or 1 to 64 of [A-Za-z0-9._@+-]. */
static int
limit_name_ok(const char *s, size_t n)
{
	if (n == 1 && *s == '*')
		return 1;
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._@+-", s[i]))
			return 0;
	return 1;
}

/* A whole number LO..HI in S (all of it): 0 with *V, else -1. */
static int
whole(const char *s, long lo, long hi, long *v)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

/* rate's VALUE: "N/INTERVAL [burst B]" into L.  0, or -1. */
static int
rate_parse(const char *val, struct agq_limit *l)
{
	char buf[128], *sp, *tok[4];
	int n = 0;
	if (strlen(val) >= sizeof buf)
		return -1;
	snprintf(buf, sizeof buf, "%s", val);
	for (char *t = strtok_r(buf, " \t", &sp); t; t = strtok_r(NULL,
	    " \t", &sp))
		if (n < 4)
			tok[n++] = t;
		else
			return -1;
	if (n != 1 && !(n == 3 && !strcmp(tok[1], "burst")))
		return -1;
	char *slash = strchr(tok[0], '/');
	long num, burst;
	if (!slash)
		return -1;
	*slash = '\0';
	if (whole(tok[0], 1, 1000000, &num) < 0 ||
	    agq_parse_duration(slash + 1, &l->rate_us) < 0 || l->rate_us <= 0)
		return -1;
	l->rate_n = (double)num;
	l->burst = (double)num;
	if (n == 3) {
		if (whole(tok[2], 1, 1000000, &burst) < 0)
			return -1;
		l->burst = (double)burst;
	}
	return 0;
}

int
agq_limit_parse(const char *key, const char *val, struct agq_limit *l,
                char *err, size_t size)
{
	if (strncmp(key, "limit.", 6))
		return 0;
	memset(l, 0, sizeof *l);
	const char *k = key + 6, *d1 = strchr(k, '.'), *d2 = strrchr(k, '.');
	if (!d1 || d1 == d2)
		return agq_errf(err, size, "%s: not limit.KIND.NAME.FIELD", key);
	l->kind = l->field = -1;
	for (int i = 0; i < AGQ_QK_N; i++)
		if ((size_t)(d1 - k) == strlen(kinds[i]) && !strncmp(k,
		    kinds[i], (size_t)(d1 - k)))
			l->kind = i;
	if (l->kind < 0)
		return agq_errf(err, size, "%s: KIND must be lane, tenant, "
		    "backend or endpoint", key);
	for (int i = 0; i < AGQ_QF_N; i++)
		if (!strcmp(d2 + 1, fields[i]))
			l->field = i;
	if (l->field < 0)
		return agq_errf(err, size, "%s: FIELD must be max_running, rate "
		    "or budget_usd", key);
	size_t nl = (size_t)(d2 - d1 - 1);
	if (!limit_name_ok(d1 + 1, nl))
		return agq_errf(err, size, "%s: NAME must be * or 1 to 64 of "
		    "[A-Za-z0-9._@+-]", key);
	memcpy(l->name, d1 + 1, nl);
	l->name[nl] = '\0';
	snprintf(l->text, sizeof l->text, "%s", val);
	if (l->field == AGQ_QF_MAX_RUNNING) {
		if (whole(val, 0, 1000000, &l->max) < 0)
			return agq_errf(err, size, "%s: not a whole number from "
			    "0 to 1000000: '%s'", key, val);
	} else if (l->field == AGQ_QF_RATE) {
		if (rate_parse(val, l) < 0)
			return agq_errf(err, size, "%s: not N/INTERVAL [burst B] "
			    "(N, B 1 to 1000000; INTERVAL a duration above 0, "
			    "e.g. 10/1m burst 5): '%s'", key, val);
	} else {
		char *end;
		errno = 0;
		l->budget = strtod(val, &end);
		if (errno || end == val || *end || !(l->budget >= 0) ||
		    l->budget > 1e9 || !isdigit((unsigned char)*val))
			return agq_errf(err, size, "%s: not a number of US "
			    "dollars (0 or more, e.g. 25 or 2.50): '%s'", key,
			    val);
	}
	return 1;
}

int
agq_lane_weights_parse(const char *s, int w[4], int *strict)
{
	if (!strcmp(s, "strict")) {
		*strict = 1;
		for (int i = 0; i < 4; i++)
			w[i] = 1;
		return 0;
	}
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		char *end;
		while (*p == ' ')
			p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || v < 1 || v > 1000)
			goto bad;
		w[i] = (int)v;
		for (p = end; *p == ' '; p++)
			;
		if (i < 3 && *p++ != ',')
			goto bad;
	}
	if (*p)
		goto bad;
	*strict = 0;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* local midnight of the day of T (seconds, in the zone set), DAYS later */
static time_t
midnight(time_t t, int days)
{
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

int
agq_quota_day(int64_t now_us, const char *tz, int64_t *start, int64_t *end)
{
	char *old = agq_tz_push(tz);
	time_t now = (time_t)(now_us / 1000000 - (now_us % 1000000 < 0));
	time_t a = midnight(now, 0), b = midnight(now, 1);
	agq_tz_pop(old);
	if (a == (time_t)-1 || b == (time_t)-1 || b <= a) {
		errno = EINVAL;
		return -1;
	}
	*start = (int64_t)a * 1000000;
	*end = (int64_t)b * 1000000;
	return 0;
}

/* ---- counters ----------------------------------------------------------- */

struct bucket { double tokens; int64_t last; };

struct agq_quota {
	struct agq_limit *l;
	size_t n;
	char *tz;
	json_t *running;        /* "KIND.NAME" -> tasks running */
	json_t *spent;          /* "KIND.NAME" -> dollars in the day */
	int64_t day_start, day_end;
	json_t *bidx;           /* "LIMIT#NAME" -> index into b */
	struct bucket *b;
	size_t nb, bcap;
};

struct agq_quota *
agq_quota_new(const struct agq_limit *l, size_t n, const char *tz)
{
	struct agq_quota *q = agq_xmalloc(sizeof *q);
	memset(q, 0, sizeof *q);
	q->l = agq_xmalloc((n ? n : 1) * sizeof *l);
	if (n)
		memcpy(q->l, l, n * sizeof *l);
	q->n = n;
	q->tz = tz && *tz ? agq_xstrdup(tz) : NULL;
	q->running = json_object();
	q->spent = json_object();
	q->bidx = json_object();
	return q;
}

void
agq_quota_free(struct agq_quota *q)
{
	if (!q)
		return;
	free(q->l);
	free(q->tz);
	json_decref(q->running);
	json_decref(q->spent);
	json_decref(q->bidx);
	free(q->b);
	free(q);
}

size_t
agq_quota_count(const struct agq_quota *q, int field)
{
	size_t c = 0;
	for (size_t i = 0; q && i < q->n; i++)
		c += field < 0 || q->l[i].field == field;
	return c;
}

/* The limit of KIND and FIELD for NAME: its own, else `*`'s; NULL. */
static const struct agq_limit *
find(const struct agq_quota *q, int kind, int field, const char *name)
{
	const struct agq_limit *any = NULL;
	for (size_t i = 0; i < q->n; i++) {
		const struct agq_limit *l = &q->l[i];
		if (l->kind != kind || l->field != field)
			continue;
		if (!strcmp(l->name, name))
			return l;
		if (!strcmp(l->name, "*"))
			any = l;
	}
	return any;
}

static void
ckey(char *buf, size_t n, int kind, const char *name)
{
	snprintf(buf, n, "%s.%s", kinds[kind], name);
}

void
agq_quota_reset_running(struct agq_quota *q)
{
	json_object_clear(q->running);
}

void
agq_quota_running(struct agq_quota *q, const struct agq_qkeys *k, int delta)
{
	char key[128];
	for (int i = 0; i < AGQ_QK_N; i++) {
		if (!k->v[i])
			continue;
		ckey(key, sizeof key, i, k->v[i]);
		json_int_t c = json_integer_value(json_object_get(q->running,
		    key)) + delta;
		json_object_set_new(q->running, key, json_integer(c > 0 ?
		    c : 0));
	}
}

/* The budget day moved to the one of NOW_US: counts of another dropped. */
static void
roll_day(struct agq_quota *q, int64_t now_us)
{
	if (q->day_end && now_us >= q->day_start && now_us < q->day_end)
		return;
	int64_t a, b;
	if (agq_quota_day(now_us, q->tz, &a, &b) < 0) {
		a = now_us - now_us % 86400000000;      /* a UTC day */
		b = a + 86400000000;
	}
	q->day_start = a;
	q->day_end = b;
	json_object_clear(q->spent);
}

void
agq_quota_spent(struct agq_quota *q, const struct agq_qkeys *k, double usd,
                int64_t ts_us, int64_t now_us)
{
	roll_day(q, now_us);
	if (ts_us < q->day_start || ts_us >= q->day_end || !(usd > 0))
		return;
	char key[128];
	for (int i = 0; i < AGQ_QK_N; i++) {
		if (!k->v[i])
			continue;
		ckey(key, sizeof key, i, k->v[i]);
		json_object_set_new(q->spent, key, json_real(json_real_value(
		    json_object_get(q->spent, key)) + usd));
	}
}

/* The bucket of limit L for NAME, full when new, refilled to NOW_US. */
static struct bucket *
bucket(struct agq_quota *q, const struct agq_limit *l, const char *name,
       int64_t now_us)
{
	char key[160];
	snprintf(key, sizeof key, "%zu#%s", (size_t)(l - q->l), name);
	json_t *ix = json_object_get(q->bidx, key);
	struct bucket *b;
	if (!ix) {
		q->b = agq_grow(q->b, &q->bcap, q->nb, sizeof *q->b, 8);
		b = &q->b[q->nb];
		b->tokens = l->burst;
		b->last = now_us;
		json_object_set_new(q->bidx, key, json_integer((json_int_t)
		    q->nb++));
		return b;
	}
	b = &q->b[json_integer_value(ix)];
	if (now_us > b->last) {
		b->tokens += (double)(now_us - b->last) * l->rate_n /
		    (double)l->rate_us;
		if (b->tokens > l->burst)
			b->tokens = l->burst;
		b->last = now_us;
	}
	return b;
}

int
agq_quota_check(struct agq_quota *q, const struct agq_qkeys *k,
                int64_t now_us, struct agq_qhold *h)
{
	char key[128];
	for (int f = 0; f < AGQ_QF_N; f++) {
		if (f == AGQ_QF_BUDGET) {
			if (!k->spends)
				continue;
			roll_day(q, now_us);
		}
		for (int i = 0; i < AGQ_QK_N; i++) {
			const char *name = k->v[i];
			const struct agq_limit *l = name ? find(q, i, f, name) :
			    NULL;
			if (!l)
				continue;
			ckey(key, sizeof key, i, name);
			int hold = 0;
			double cur = 0;
			h->until_us = 0;
			if (f == AGQ_QF_MAX_RUNNING) {
				cur = (double)json_integer_value(json_object_get(
				    q->running, key));
				hold = cur >= (double)l->max;
				snprintf(h->current, sizeof h->current, "%.0f",
				    cur);
			} else if (f == AGQ_QF_RATE) {
				struct bucket *b = bucket(q, l, name, now_us);
				cur = b->tokens;
				hold = cur < 1;
				h->until_us = now_us + (int64_t)((1 - cur) *
				    (double)l->rate_us / l->rate_n) + 1;
				snprintf(h->current, sizeof h->current, "%.2f",
				    cur);
			} else {
				cur = json_real_value(json_object_get(q->spent,
				    key));
				hold = cur >= l->budget;
				h->until_us = q->day_end;
				snprintf(h->current, sizeof h->current, "%.4f",
				    cur);
			}
			if (!hold)
				continue;
			snprintf(h->limit, sizeof h->limit, "%s.%s", key,
			    fields[f]);
			snprintf(h->value, sizeof h->value, "%s", l->text);
			h->field = f;
			return 1;
		}
	}
	return 0;
}

void
agq_quota_take(struct agq_quota *q, const struct agq_qkeys *k, int64_t now_us)
{
	agq_quota_running(q, k, 1);
	for (int i = 0; i < AGQ_QK_N; i++) {
		const struct agq_limit *l = k->v[i] ? find(q, i, AGQ_QF_RATE,
		    k->v[i]) : NULL;
		if (l)
			bucket(q, l, k->v[i], now_us)->tokens -= 1;
	}
}

/* ---- fair lanes --------------------------------------------------------- */

void
agq_drr_order(const struct agq_drr *d, unsigned mask, int order[4])
{
	int n = 0;
	for (int l = 0; l < 4; l++)
		if (d->strict || (mask & (1u << l)))
			order[n++] = l;
	/* insertion sort by credit + weight, stable: ties keep lane order */
	for (int i = 1; i < n && !d->strict; i++)
		for (int j = i; j > 0; j--) {
			int a = order[j - 1], b = order[j];
			if (d->c[b] + d->w[b] <= d->c[a] + d->w[a])
				break;
			order[j - 1] = b;
			order[j] = a;
		}
	for (int l = 0; l < 4 && !d->strict; l++)
		if (!(mask & (1u << l)))
			order[n++] = l;
}

void
agq_drr_served(struct agq_drr *d, unsigned mask, int lane)
{
	if (d->strict || lane < 0 || lane > 3)
		return;
	mask |= 1u << lane;
	int64_t total = 0;
	for (int l = 0; l < 4; l++) {
		if (mask & (1u << l)) {
			d->c[l] += d->w[l];
			total += d->w[l];
		} else {
			d->c[l] = 0;
		}
	}
	d->c[lane] -= total;
	/* a lane with work that cannot be served (its tasks held by a
	 * limit, or no agent takes them) gains no more than one round */
	for (int l = 0; l < 4; l++)
		if (d->c[l] > total)
			d->c[l] = total;
}
