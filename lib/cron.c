/* cron.c - crontab(5) schedules and their next time in a zone: cron.h. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "cron.h"

/* The five fields: their names in messages, ranges and value names. */
static const char *const mon_names[] = { "jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat", NULL };
static const struct field {
	const char *name;
	int lo, hi;
	const char *const *names;   /* value lo + i, or NULL */
} fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },
	{ "month", 1, 12, mon_names },
	{ "day-of-week", 0, 7, dow_names },
};

/* A number or (for fields with names) a three-letter name at *P, moved
 * past it, into *V.  0, or -1 with ERR. */
static int
value(const struct field *f, const char **p, int *v, char *err, size_t size)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long n = 0;
		while (isdigit((unsigned char)*s) && n < 1000)
			n = n * 10 + (*s++ - '0');
		if (isdigit((unsigned char)*s) || n < f->lo || n > f->hi)
			return agq_errf(err, size, "field %s: %.*s is out of "
			    "range %d-%d", f->name, (int)(s - *p + strspn(s,
			    "0123456789")), *p, f->lo, f->hi);
		*v = (int)n;
		*p = s;
		return 0;
	}
	for (int i = 0; f->names && f->names[i]; i++) {
		if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned
		    char)s[3])) {
			*v = f->lo + i;
			*p = s + 3;
			return 0;
		}
	}
	size_t n = strcspn(s, ",-/");
	return agq_errf(err, size, "field %s: '%.*s' is not a %s", f->name,
	    (int)(n ? n : 1), s, f->names ? "number or name" : "number");
}

/* Parse field F's text T (one word) into the bits *BITS.  0, or -1. */
static int
field_parse(const struct field *f, const char *t, uint64_t *bits,
            char *err, size_t size)
{
	*bits = 0;
	const char *p = t;
	for (;;) {
		int a, b, step = 1;
		if (*p == '*') {
			a = f->lo;
			b = f->hi;
			p++;
		} else {
			if (value(f, &p, &a, err, size) < 0)
				return -1;
			b = a;
			if (*p == '-') {
				p++;
				if (value(f, &p, &b, err, size) < 0)
					return -1;
				if (b < a)
					return agq_errf(err, size, "field %s: "
					    "range %d-%d goes backwards", f->name,
					    a, b);
			}
		}
		if (*p == '/') {
			if (a == b && p[-1] != '*')
				return agq_errf(err, size, "field %s: a step "
				    "needs a range or '*' (%d-%d/N)", f->name,
				    a, f->hi);
			p++;
			long n = 0;
			const char *q = p;
			while (isdigit((unsigned char)*p) && n < 1000)
				n = n * 10 + (*p++ - '0');
			if (p == q || n < 1 || n > f->hi - f->lo + 1)
				return agq_errf(err, size, "field %s: step '%.*s'"
				    " is not a number from 1 to %d", f->name,
				    (int)(strcspn(q, ",") ? strcspn(q, ",") : 1),
				    q, f->hi - f->lo + 1);
			step = (int)n;
		}
		for (int v = a; v <= b; v += step)
			*bits |= (uint64_t)1 << v;
		if (!*p)
			return 0;
		if (*p != ',')
			return agq_errf(err, size, "field %s: unexpected '%c' in "
			    "'%s'", f->name, *p, t);
		p++;
	}
}

int
agq_cron_parse(const char *spec, struct agq_cron *c, char *err, size_t size)
{
	static const struct { const char *at, *is; } macros[] = {
		{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },
	};
	memset(c, 0, sizeof *c);
	errno = EINVAL;
	while (isspace((unsigned char)*spec))
		spec++;
	if (*spec == '@') {
		size_t n = strcspn(spec, " \t\n");
		if (spec[n + strspn(spec + n, " \t\n")])
			return agq_errf(err, size, "%.*s takes no fields after "
			    "it", (int)n, spec);
		for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
			if (strlen(macros[i].at) == n && !strncasecmp(spec,
			    macros[i].at, n))
				return agq_cron_parse(macros[i].is, c, err, size);
		return agq_errf(err, size, "'%.*s' is not one of @hourly "
		    "@daily @midnight @weekly @monthly @yearly @annually",
		    (int)n, spec);
	}
	char word[5][128];
	int n = 0;
	const char *p = spec;
	while (*p) {
		size_t len = strcspn(p, " \t\n");
		if (n == 5)
			return agq_errf(err, size, "more than five fields (M H "
			    "DoM Mon DoW): '%s'", p);
		if (len >= sizeof word[0])
			return agq_errf(err, size, "field %s: too long",
			    fields[n].name);
		memcpy(word[n], p, len);
		word[n++][len] = '\0';
		p += len;
		p += strspn(p, " \t\n");
	}
	if (n < 5)
		return agq_errf(err, size, "field %s: missing (five fields: M H "
		    "DoM Mon DoW)", fields[n].name);
	uint64_t bits[5];
	for (int i = 0; i < 5; i++)
		if (field_parse(&fields[i], word[i], &bits[i], err, size) < 0)
			return -1;
	c->min = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->mon = (uint32_t)bits[3];
	c->dow = (uint32_t)((bits[4] | bits[4] >> 7) & 0x7f);  /* 7: Sunday */
	c->dom_star = word[2][0] == '*';
	c->dow_star = word[4][0] == '*';
	c->wild = word[0][0] == '*' || word[1][0] == '*';
	errno = 0;
	return 0;
}

int
agq_cron_tz_valid(const char *zone)
{
	if (!zone || !*zone || *zone == '/' || strstr(zone, "..") ||
	    strlen(zone) > 200 || zone[strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789/_+-")])
		return 0;
	if (!strcmp(zone, "UTC"))
		return 1;
	const char *dir = getenv("TZDIR");
	char *path = agq_xasprintf("%s/%s", dir && *dir ? dir :
	    "/usr/share/zoneinfo", zone);
	struct stat st;
	int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok;
}

char *
agq_cron_tz_local(void)
{
	const char *tz = getenv("TZ");
	if (tz && *tz == ':')
		tz++;
	if (tz && agq_cron_tz_valid(tz))
		return agq_xstrdup(tz);
	char buf[256] = "";
	FILE *f = fopen("/etc/timezone", "re");
	if (f) {
		if (fgets(buf, sizeof buf, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
		if (agq_cron_tz_valid(buf))
			return agq_xstrdup(buf);
	}
	ssize_t n = readlink("/etc/localtime", buf, sizeof buf - 1);
	if (n > 0) {
		buf[n] = '\0';
		char *z = strstr(buf, "zoneinfo/");
		if (z && agq_cron_tz_valid(z + 9))
			return agq_xstrdup(z + 9);
	}
	return agq_xstrdup("UTC");
}

/* The day of the broken-down time TM matches C (the DoM/DoW rule). */
static int
day_ok(const struct agq_cron *c, const struct tm *tm)
{
	int dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
	return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first wall-clock minute at or after G matching C, as seconds of a
 * calendar read as UTC (timegm), into *OUT; 0, or -1 past LIMIT. */
static int
wall_next(const struct agq_cron *c, int64_t g, int64_t limit, int64_t *out)
{
	g = (g + 59) / 60 * 60;
	while (g <= limit) {
		time_t tt = (time_t)g;
		struct tm tm;
		gmtime_r(&tt, &tm);
		if (!((c->mon >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mday = 1;
			tm.tm_mon++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
			g = timegm(&tm);
		} else if (!day_ok(c, &tm)) {
			g += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
		} else if (!((c->hour >> tm.tm_hour) & 1)) {
			g += 3600 - tm.tm_min * 60;
		} else {
			int m = tm.tm_min;
			while (m < 60 && !((c->min >> m) & 1))
				m++;
			if (m == 60) {
				g += 3600 - tm.tm_min * 60;
				continue;
			}
			*out = g + (m - tm.tm_min) * 60;
			return 0;
		}
	}
	return -1;
}

/* The zone's UTC offset at T, seconds east. */
static long
offset_at(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return tm.tm_gmtoff;
}

/* The instants whose local time is the wall minute G: into T (sorted),
 * their number returned: 1, 2 (a fall-back repeat) or 0 (a gap: then
 * T[0] is the first whole minute after the gap). */
static int
instants(int64_t g, int64_t t[2])
{
	long o[3] = { offset_at(g - 86400), offset_at(g), offset_at(g + 86400) };
	int n = 0;
	for (int i = 0; i < 3; i++) {
		int dup = 0;
		for (int k = 0; k < i; k++)
			dup |= o[k] == o[i];
		int64_t x = g - o[i];
		if (dup || x + offset_at(x) != g)
			continue;
		if (n == 2)
			break;
		t[n++] = x;
	}
	if (n == 2 && t[0] > t[1]) {
		int64_t s = t[0];
		t[0] = t[1];
		t[1] = s;
	}
	if (n)
		return n;
	/* a gap: the local time jumps over G at the transition between
	 * g - max(o) (before it) and g - min(o) (after it) */
	long lo_o = o[0], hi_o = o[0];
	for (int i = 1; i < 3; i++) {
		if (o[i] < lo_o)
			lo_o = o[i];
		if (o[i] > hi_o)
			hi_o = o[i];
	}
	int64_t a = g - hi_o, b = g - lo_o;     /* local(a) < g < local(b) */
	while (b - a > 1) {
		int64_t m = a + (b - a) / 2;
		if (m + offset_at(m) > g)
			b = m;
		else
			a = m;
	}
	t[0] = (b + 59) / 60 * 60;
	return 0;
}

int
agq_cron_next(const struct agq_cron *c, const char *tz, int64_t after_s,
              int64_t *next_s)
{
	char *val = agq_xasprintf(":%s", tz && *tz ? tz : "UTC");
	char *saved = agq_tz_push(val);
	free(val);
	/* wall times go back at most a few hours (a repeat): start 3 h
	 * before the wall time of AFTER_S; a later wall time more than 4 h
	 * past the best one found cannot give an earlier instant */
	int64_t g = after_s + offset_at(after_s) - 3 * 3600;
	int64_t limit = g + (int64_t)28 * 366 * 86400, w, best = 0, best_g = 0;
	int found = 0;
	while (wall_next(c, g, limit, &w) == 0) {
		if (found && w > best_g + 4 * 3600)
			break;
		int64_t t[2];
		int n = instants(w, t);
		int k = n == 0 ? (c->wild ? 0 : 1) : n == 2 && c->wild ? 2 : 1;
		for (int i = 0; i < k; i++) {
			if (t[i] > after_s && (!found || t[i] < best)) {
				best = t[i];
				best_g = w;
				found = 1;
			}
		}
		g = w + 60;
	}
	agq_tz_pop(saved);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	*next_s = best;
	return 0;
}
