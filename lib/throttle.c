/*
 * throttle.c - usage and rate limits (throttle.h): reset times read from
 * HTTP headers and CLI messages, accounts, and the pauses kept in
 * SPOOL/throttle/.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "backends.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "throttle.h"

#define SEC 1000000LL

/* -1 with errno EINVAL: a value that does not parse. */
static int
einval(void)
{
	errno = EINVAL;
	return -1;
}

/* ---- times --------------------------------------------------------------- */

int
agq_throttle_retry_after(const char *v, int64_t now_us, int64_t *until_us)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		char *end;
		errno = 0;
		unsigned long long s = strtoull(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end || errno || s > 100LL * 365 * 86400)
			return einval();
		*until_us = now_us + (int64_t)s * SEC;
		return 0;
	}
	/* IMF-fixdate, rfc850-date, asctime-date (RFC 9110 5.6.7) */
	static const char *const fmts[] = { "%a, %d %b %Y %H:%M:%S GMT",
	    "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y", NULL };
	for (int i = 0; fmts[i]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(v, fmts[i], &tm);
		if (!end)
			continue;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end)
			continue;
		*until_us = (int64_t)timegm(&tm) * SEC;
		return 0;
	}
	return einval();
}

int
agq_throttle_duration(const char *v, int64_t *us)
{
	static const struct { const char *u; double mul; } units[] = {
	    { "ms", 1e3 }, { "us", 1 }, { "\xc2\xb5s", 1 }, { "d", 86400e6 },
	    { "h", 3600e6 }, { "m", 60e6 }, { "s", 1e6 } };
	double total = 0;
	int parts = 0;
	for (;;) {
		while (*v == ' ')
			v++;
		if (!*v)
			break;
		if (!isdigit((unsigned char)*v) && *v != '.')
			return einval();
		char *end;
		double n = strtod(v, &end);
		if (end == v)
			return einval();
		while (*end == ' ')
			end++;
		size_t k, nu = sizeof units / sizeof units[0];
		for (k = 0; k < nu; k++) {
			size_t l = strlen(units[k].u);
			/* "m" is not the start of "ms"; a unit ends there */
			if (!strncmp(end, units[k].u, l) &&
			    !isalpha((unsigned char)end[l]))
				break;
		}
		if (k == nu)
			return einval();
		total += n * units[k].mul;
		v = end + strlen(units[k].u);
		parts++;
	}
	if (!parts || total > 100.0 * 365 * 86400e6)
		return einval();
	*us = (int64_t)total;
	return 0;
}

int
agq_throttle_header(const char *name, const char *value, int64_t now_us,
                    int64_t *until_us)
{
	size_t n = strlen(name);
	int64_t d;
	if (!strcasecmp(name, "retry-after"))
		return agq_throttle_retry_after(value, now_us, until_us) == 0 ?
		    2 : 0;
	if (!strncasecmp(name, "anthropic-ratelimit-", 20) && n > 26 &&
	    !strcasecmp(name + n - 6, "-reset"))
		return agq_parse_time(value, until_us) == 0 ? 1 : 0;
	if (!strncasecmp(name, "x-ratelimit-reset-", 18) &&
	    agq_throttle_duration(value, &d) == 0) {
		*until_us = now_us + d;
		return 1;
	}
	return 0;
}

/* Case-insensitive strstr. */
static const char *
find(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return s;
	return NULL;
}

/* Month of "Jan".."Dec" at S (0-11), or -1. */
static int
month(const char *s)
{
	static const char m[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	for (int i = 0; i < 12; i++)
		if (!strncasecmp(s, m + 3 * i, 3) && !isalpha((unsigned char)
		    s[3]))
			return i;
	return -1;
}

/* A clock time at *P: "3pm", "3:30pm", "3:15 PM", "15:00"; *P moved past
 * it.  0 with *H (0-23) and *MIN, or -1. */
static int
clock_at(const char **p, int *h, int *min)
{
	const char *s = *p;
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	long hh = strtol(s, &end, 10), mm = 0;
	if (*end == ':') {
		if (!isdigit((unsigned char)end[1]))
			return -1;
		mm = strtol(end + 1, &end, 10);
	} else if (!strchr("aApP", end[0]) && !strchr("aApP", end[end[0] ==
	    ' ' ? 1 : 0])) {
		return -1;      /* a bare number is no clock time */
	}
	const char *q = end;
	while (*q == ' ')
		q++;
	int ampm = 0;
	if ((q[0] == 'a' || q[0] == 'A' || q[0] == 'p' || q[0] == 'P') &&
	    (q[1] == 'm' || q[1] == 'M') && !isalpha((unsigned char)q[2])) {
		ampm = q[0] == 'p' || q[0] == 'P' ? 2 : 1;
		end = (char *)q + 2;
	}
	if (mm < 0 || mm > 59 || hh < 0 || hh > 23 || (ampm && (hh < 1 ||
	    hh > 12)))
		return -1;
	if (ampm)
		hh = hh % 12 + (ampm == 2 ? 12 : 0);
	*h = (int)hh;
	*min = (int)mm;
	*p = end;
	return 0;
}

/* When, after NOW_US, it is H:MIN in time zone TZ (NULL: the process's),
 * on month MON (0-11, -1: the next such time) day DAY of YEAR (-1: this
 * one, or the next when that has passed). */
static int64_t
local_at(const char *tz, int year, int mon, int day, int h, int min,
         int64_t now_us)
{
	char *old = tz ? agq_tz_push(tz) : NULL;
	time_t now = (time_t)(now_us / SEC);
	struct tm tm;
	localtime_r(&now, &tm);
	if (mon >= 0) {
		tm.tm_mon = mon;
		tm.tm_mday = day;
	}
	if (year >= 0)
		tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = min;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	struct tm keep = tm;
	time_t t = mktime(&tm);
	if (t != (time_t)-1 && t <= now && year < 0) {
		tm = keep;
		if (mon >= 0)
			tm.tm_year++;   /* "Jan 2, 3pm" read on Dec 30 */
		else
			tm.tm_mday++;   /* "3pm" read at 4pm */
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (tz)
		agq_tz_pop(old);
	return t == (time_t)-1 ? -1 : (int64_t)t * SEC;
}

/* The reset time written at S: "[Mon D[th][, YYYY][,]] CLOCK [(TZ)]".
 * 0 with *US, or -1. */
static int
when_at(const char *s, int64_t now_us, int64_t *us)
{
	int mon = -1, day = 0, year = -1, h, min;
	while (*s == ' ')
		s++;
	if ((mon = month(s)) >= 0) {
		char *end;
		day = (int)strtol(s + 4, &end, 10);
		if (day < 1 || day > 31)
			return -1;
		s = end;
		while (isalpha((unsigned char)*s))      /* 7th */
			s++;
		if (*s == ',')
			s++;
		while (*s == ' ')
			s++;
		/* a year: four digits not followed by ':' or am/pm */
		if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])
		    && isdigit((unsigned char)s[2]) && isdigit((unsigned char)
		    s[3]) && !isalnum((unsigned char)s[4]) && s[4] != ':') {
			year = atoi(s);
			s += 4;
			if (*s == ',')
				s++;
			while (*s == ' ')
				s++;
		}
	}
	if (clock_at(&s, &h, &min) < 0)
		return -1;
	while (*s == ' ')
		s++;
	char tz[64] = "";
	if (*s == '(') {
		size_t n = strcspn(s + 1, ")");
		if (s[1 + n] == ')' && n > 0 && n < sizeof tz) {
			memcpy(tz, s + 1, n);
			tz[n] = '\0';
			for (size_t i = 0; i < n; i++)
				if (!isalnum((unsigned char)tz[i]) &&
				    !strchr("/_+-", tz[i]))
					tz[0] = '\0';
		}
	}
	int64_t t = local_at(tz[0] ? tz : NULL, year, mon, day, h, min, now_us);
	if (t < 0)
		return -1;
	*us = t;
	return 0;
}

int
agq_throttle_text(const char *text, int64_t now_us, int64_t *until_us)
{
	static const char *const limits[] = { "you've hit your",
	    "you\xe2\x80\x99ve hit your", "usage limit reached",
	    "limit reached|", "rate_limit_error", "rate limit exceeded",
	    "rate limit reached", "429 too many requests", "usage limit", NULL };
	int hit = 0;
	for (int i = 0; limits[i] && !hit; i++)
		hit = find(text, limits[i]) != NULL;
	/* "You've hit your" a limit, not "your maximum turns" */
	if (!hit || (!find(text, "limit") && !find(text, "429")))
		return 0;
	*until_us = now_us + AGQ_THROTTLE_DEFAULT_S * SEC;
	const char *p, *q;
	int64_t d;
	if ((p = find(text, "limit reached|")) != NULL) {
		int64_t t;
		char num[32];
		snprintf(num, sizeof num, "%.*s", (int)strspn(p + 14,
		    "0123456789"), p + 14);
		if (num[0] && agq_parse_time(num, &t) == 0 && t > now_us)
			*until_us = t;
	} else if ((p = find(text, "resets in ")) != NULL ||
	    (p = find(text, "try again in ")) != NULL) {
		p = strstr(p, " in ") + 4;
		char dur[64];
		/* up to the end of the duration: "2h 5m", "20s", "1.5 seconds"
		 * ("1.5 s" of it) */
		size_t n = strspn(p, "0123456789.hmsdu ");
		snprintf(dur, sizeof dur, "%.*s", (int)(n < sizeof dur ? n :
		    sizeof dur - 1), p);
		size_t l = strlen(dur);
		while (l && (dur[l - 1] == ' ' || dur[l - 1] == '.'))
			dur[--l] = '\0';       /* the sentence's end */
		if (agq_throttle_duration(dur, &d) == 0 && d > 0)
			*until_us = now_us + d;
	} else if ((p = find(text, "resets ")) != NULL ||
	    (p = find(text, "try again at ")) != NULL) {
		q = strchr(p, ' ');
		q = !strncasecmp(p, "try", 3) ? p + 13 : q + 1;
		if (!strncasecmp(q, "at ", 3))
			q += 3;
		int64_t t;
		if (when_at(q, now_us, &t) == 0 && t > now_us)
			*until_us = t;
	}
	return 1;
}

/* ---- accounts ------------------------------------------------------------ */

char *
agq_throttle_http_account(const char *backend, const char *base,
                          const char *key)
{
	if (!key)
		return agq_xasprintf("%s@%s", backend, base);
	char hex[65];
	agq_sha256_hex(key, strlen(key), hex);
	return agq_xasprintf("%s@%s#%.8s", backend, base, hex);
}

char *
agq_throttle_cli_account(const char *tool)
{
	static const struct { const char *tool, *env, *dir; } dirs[] = {
		{ "claude", "CLAUDE_CONFIG_DIR", ".claude" },
		{ "codex", "CODEX_HOME", ".codex" },
		{ "gemini", NULL, ".gemini" },
	};
	const char *home = getenv("HOME");
	if (!home)
		home = "";
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (strcmp(tool, dirs[i].tool))
			continue;
		const char *e = dirs[i].env ? getenv(dirs[i].env) : NULL;
		if (e && *e)
			return agq_xasprintf("%s@%s", tool, e);
		return agq_xasprintf("%s@%s/%s", tool, home, dirs[i].dir);
	}
	return agq_xasprintf("%s@%s", tool, home);
}

char *
agq_throttle_account(const struct agq_conf *conf, const char *backend,
                     const char *model, const char *ep_url)
{
	const struct agq_backend_def *d = backend ? agq_backend_def(backend) :
	    NULL;
	if (!d || d->kind == AGQ_BACKEND_PROCESS)
		return NULL;
	if (d->kind == AGQ_BACKEND_CLI) {
		if (!model)
			return NULL;
		char tool[64];
		snprintf(tool, sizeof tool, "%.*s", (int)strcspn(model, "/"),
		    model);
		return agq_throttle_cli_account(tool);
	}
	char *base = agq_backend_base(conf, d, ep_url, NULL);
	if (!base)
		return NULL;
	char ignore[256];
	char *key = d->key_env ? agq_backend_key(conf, d, ignore,
	    sizeof ignore) : NULL;
	char *a = agq_throttle_http_account(d->name, base, key);
	agq_free_secret(key);
	free(base);
	return a;
}

/* ---- pauses -------------------------------------------------------------- */

int
agq_throttle_pause(const struct agq_spool *sp, const char *backend,
                   const char *account, int64_t until_us, const char *reason,
                   int64_t now_us)
{
	char hex[65], t1[32], t2[32];
	agq_sha256_hex(account, strlen(account), hex);
	char *dir = agq_spool_path(sp, "throttle");
	char *p = agq_spool_path(sp, "throttle/%s-%.16s.json", backend, hex);
	int rc = -1;
	if (agq_mkdirs(dir, 0755) < 0)
		goto out;
	json_t *old = agq_json_read_object(p, 65536);
	int64_t was = agq_task_time(old, "until", 0);
	json_decref(old);
	if (was >= until_us) {
		rc = 0;
		goto out;
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "backend", backend,
	    "account", account, "until", agq_fmt_time(until_us, t1), "reason",
	    reason, "since", agq_fmt_time(now_us, t2));
	rc = agq_write_json(sp->tmp, p, o, JSON_INDENT(2), 0, 0);
	json_decref(o);
out:
	free(dir);
	free(p);
	return rc;
}

static int
by_until(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int64_t u = agq_task_time(x, "until", 0), v = agq_task_time(y,
	    "until", 0);
	return u < v ? -1 : u > v;
}

json_t *
agq_throttle_list(const struct agq_spool *sp, int64_t now_us, int remove)
{
	char *dir = agq_spool_path(sp, "throttle");
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 0;
	json_t **v = NULL;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5,
		    ".json"))
			continue;
		char *p = agq_xasprintf("%s/%s", dir, e->d_name);
		json_t *o = agq_json_read_object(p, 65536);
		int64_t until = agq_task_time(o, "until", 0);
		if (o && json_is_string(json_object_get(o, "backend")) &&
		    json_is_string(json_object_get(o, "account")) &&
		    until > now_us) {
			v = agq_grow(v, &cap, n, sizeof *v, 8);
			v[n++] = o;
		} else {
			if (o && remove && until <= now_us)
				(void)unlink(p);
			json_decref(o);
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
	return agq_json_array_sorted(v, n, by_until);
}

const json_t *
agq_throttle_find(const json_t *pauses, const char *account, char *why,
                  size_t size)
{
	size_t i;
	json_t *o;
	if (!account)
		return NULL;
	json_array_foreach(pauses, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "account")),
		    account))
			continue;
		if (why)
			agq_errf(why, size, "backend %s paused until %s: %s",
			    json_string_value(json_object_get(o, "backend")),
			    json_string_value(json_object_get(o, "until")),
			    json_string_value(json_object_get(o, "reason")) ?
			    json_string_value(json_object_get(o, "reason")) :
			    "rate limited");
		return o;
	}
	return NULL;
}
