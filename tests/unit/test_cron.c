/* test_cron.c - lib/cron.c: crontab(5) parsing, the next time in a zone,
 * daylight saving as cronie handles it (Europe/Berlin, America/New_York,
 * 2026 and 2027). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "util.h"
#include "cron.h"
#include "unit.h"

static int64_t
T(const char *s)
{
	int64_t us;
	if (agq_parse_time(s, &us) < 0) {
		printf("bad test time %s\n", s);
		exit(2);
	}
	return us / 1000000;
}

/* The next time of SPEC in TZ after AFTER is WANT (RFC 3339 UTC). */
static void
next_is(const char *spec, const char *tz, const char *after,
        const char *want)
{
	struct agq_cron c;
	char err[200], name[300];
	int64_t n = 0;
	int ok = agq_cron_parse(spec, &c, err, sizeof err) == 0 &&
	    agq_cron_next(&c, tz, T(after), &n) == 0;
	snprintf(name, sizeof name, "'%s' in %s after %s: %s", spec, tz,
	    after, want);
	CHECK(ok && n == T(want), name);
	if (ok && n != T(want)) {
		char b[40];
		printf("#   got %s\n", agq_fmt_time(n * 1000000, b));
	}
}

static void
bad(const char *spec, const char *msg)
{
	struct agq_cron c;
	char err[200] = "";
	int r = agq_cron_parse(spec, &c, err, sizeof err);
	CHECK(r < 0 && strstr(err, msg), spec);
	if (r == 0 || !strstr(err, msg))
		printf("#   error: %s\n", err);
}

int
main(void)
{
	setenv("TZ", "Asia/Tokyo", 1);
	/* plain fields, lists, ranges, steps, names, Sunday as 0 and 7 */
	next_is("*/15 * * * *", "UTC", "2026-05-01T10:07:00Z",
	    "2026-05-01T10:15:00Z");
	next_is("5,35 1-2 * * *", "UTC", "2026-05-01T02:35:00Z",
	    "2026-05-02T01:05:00Z");
	next_is("0 9 * jan-mar MON-fri", "UTC", "2026-03-31T09:00:00Z",
	    "2027-01-01T09:00:00Z");
	next_is("0 0 * * 7", "UTC", "2026-05-01T00:00:00Z",
	    "2026-05-03T00:00:00Z");
	next_is("0 0 * * 0", "UTC", "2026-05-01T00:00:00Z",
	    "2026-05-03T00:00:00Z");
	next_is("0 12 10-20/5 * *", "UTC", "2026-05-10T12:00:00Z",
	    "2026-05-15T12:00:00Z");
	next_is("@hourly", "UTC", "2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z");
	next_is("@daily", "UTC", "2026-05-01T10:00:00Z", "2026-05-02T00:00:00Z");
	next_is("@weekly", "UTC", "2026-05-01T10:00:00Z", "2026-05-03T00:00:00Z");
	next_is("@monthly", "UTC", "2026-05-01T10:00:00Z", "2026-06-01T00:00:00Z");
	next_is("@yearly", "UTC", "2026-05-01T10:00:00Z", "2027-01-01T00:00:00Z");
	next_is("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z",
	    "2028-02-29T00:00:00Z");
	/* DoM and DoW both restricted: either (Sunday 2026-02-01) */
	next_is("0 0 13 * 5", "UTC", "2026-02-01T00:00:00Z",
	    "2026-02-06T00:00:00Z");
	next_is("0 0 13 * 5", "UTC", "2026-02-06T00:00:00Z",
	    "2026-02-13T00:00:00Z");
	/* one begins with '*' (even a step of it): both must match */
	next_is("0 0 */2 * 5", "UTC", "2026-02-01T00:00:00Z",
	    "2026-02-13T00:00:00Z");
	next_is("0 0 13 * *", "UTC", "2026-02-01T00:00:00Z",
	    "2026-02-13T00:00:00Z");
	/* zones */
	next_is("0 3 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z",
	    "2026-01-10T02:00:00Z");
	next_is("0 3 * * *", "America/New_York", "2026-07-10T00:00:00Z",
	    "2026-07-10T07:00:00Z");

	/* Europe/Berlin 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z).
	 * fixed-time in the gap: at the first minute after it, once */
	next_is("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
	    "2026-03-29T01:00:00Z");
	next_is("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
	    "2026-03-30T00:30:00Z");
	/* wildcard: the gap's local times do not occur */
	next_is("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
	    "2026-03-29T00:30:00Z");
	next_is("30 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z",
	    "2026-03-29T01:30:00Z");
	/* 2026-10-25: 03:00 CEST -> 02:00 CET (01:00Z): fixed once, first */
	next_is("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
	    "2026-10-25T00:30:00Z");
	next_is("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
	    "2026-10-26T01:30:00Z");
	/* wildcard: both passes */
	next_is("30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z",
	    "2026-10-25T00:30:00Z");
	next_is("30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
	    "2026-10-25T01:30:00Z");
	next_is("30 * * * *", "Europe/Berlin", "2026-10-25T01:30:00Z",
	    "2026-10-25T02:30:00Z");
	next_is("*/30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
	    "2026-10-25T01:00:00Z");
	/* 2027-03-28 and 2027-10-31 */
	next_is("0 2 * * *", "Europe/Berlin", "2027-03-27T12:00:00Z",
	    "2027-03-28T01:00:00Z");
	next_is("0 2 * * *", "Europe/Berlin", "2027-10-30T12:00:00Z",
	    "2027-10-31T00:00:00Z");
	next_is("0 2 * * *", "Europe/Berlin", "2027-10-31T00:00:00Z",
	    "2027-11-01T01:00:00Z");

	/* America/New_York 2026-03-08: 02:00 EST -> 03:00 EDT (07:00Z) */
	next_is("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
	    "2026-03-08T07:00:00Z");
	next_is("30 * * * *", "America/New_York", "2026-03-08T06:30:00Z",
	    "2026-03-08T07:30:00Z");
	/* 2026-11-01: 02:00 EDT -> 01:00 EST (06:00Z) */
	next_is("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
	    "2026-11-01T05:30:00Z");
	next_is("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z",
	    "2026-11-02T06:30:00Z");
	next_is("30 * * * *", "America/New_York", "2026-11-01T05:30:00Z",
	    "2026-11-01T06:30:00Z");
	/* 2027-03-14 and 2027-11-07 */
	next_is("15 2 * * *", "America/New_York", "2027-03-13T12:00:00Z",
	    "2027-03-14T07:00:00Z");
	next_is("0 1 * * *", "America/New_York", "2027-11-06T12:00:00Z",
	    "2027-11-07T05:00:00Z");
	next_is("0 1 * * *", "America/New_York", "2027-11-07T05:00:00Z",
	    "2027-11-08T06:00:00Z");
	next_is("0 * * * *", "America/New_York", "2027-11-07T05:00:00Z",
	    "2027-11-07T06:00:00Z");

	/* the caller's TZ is put back */
	CHECK(!strcmp(getenv("TZ"), "Asia/Tokyo"), "TZ restored");
	unsetenv("TZ");
	next_is("0 0 * * *", "UTC", "2026-05-01T10:00:00Z",
	    "2026-05-02T00:00:00Z");
	CHECK(getenv("TZ") == NULL, "TZ unset again");

	/* never */
	struct agq_cron c;
	char err[200];
	int64_t n;
	CHECK(agq_cron_parse("0 0 30 2 *", &c, err, sizeof err) == 0 &&
	    agq_cron_next(&c, "UTC", T("2026-01-01T00:00:00Z"), &n) < 0,
	    "30 February never comes");

	/* errors name the field */
	bad("61 * * * *", "field minute: 61 is out of range 0-59");
	bad("* 24 * * *", "field hour: 24 is out of range 0-23");
	bad("* * 0 * *", "field day-of-month: 0 is out of range 1-31");
	bad("* * * foo *", "field month: 'foo' is not a number or name");
	bad("* * * * 8", "field day-of-week: 8 is out of range 0-7");
	bad("* *", "field day-of-month: missing");
	bad("* * * * * *", "more than five fields");
	bad("5-1 * * * *", "field minute: range 5-1 goes backwards");
	bad("*/0 * * * *", "field minute: step");
	bad("5/10 * * * *", "field minute: a step needs a range");
	bad("1,,2 * * * *", "field minute");
	bad("@reboot", "is not one of @hourly");
	bad("@daily 1", "takes no fields");

	CHECK(agq_cron_tz_valid("Europe/Berlin"), "Europe/Berlin is a zone");
	CHECK(agq_cron_tz_valid("UTC"), "UTC is a zone");
	CHECK(!agq_cron_tz_valid("Mars/Olympus"), "Mars/Olympus is not");
	CHECK(!agq_cron_tz_valid("../etc/passwd"), "no ..");
	CHECK(!agq_cron_tz_valid("/etc/passwd"), "no absolute path");
	setenv("TZ", "America/New_York", 1);
	char *z = agq_cron_tz_local();
	CHECK(!strcmp(z, "America/New_York"), "local zone from TZ");
	free(z);
	DONE();
}
