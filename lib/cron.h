/*
 * cron.h - cron.c: crontab(5) schedules and their next time in a zone
 * (agq-routine(1) "Schedules").
 *
 * A schedule is the five time fields of a crontab(5) line, "M H DoM Mon
 * DoW", or one of @hourly @daily (@midnight) @weekly @monthly @yearly
 * (@annually), as Vixie cron and cronie read them: lists (1,5), ranges
 * (1-5), steps (*\/15, 1-30/5), month names jan..dec and day names
 * sun..sat (any case; not in ranges' steps), 0 and 7 both Sunday; when
 * both DoM and DoW are restricted (neither begins with '*'), a day
 * matches when EITHER does, else when both do.
 * Times are computed in an IANA zone through libc (tz(5): setenv TZ,
 * tzset(3), localtime_r(3), restored after), with cronie's daylight
 * saving rules: a "fixed-time" schedule (neither M nor H begins with
 * '*') whose local time falls in a spring-forward gap fires once at the
 * first minute after the gap; in a fall-back repeat it fires once, the
 * first time; a "wildcard" schedule (M or H begins with '*') skips the
 * local times of a gap and fires in both passes of a repeat.
 * Uses util only.  Not thread-safe (TZ is process-wide).
 */
#ifndef AGQ_CRON_H
#define AGQ_CRON_H

#include <stddef.h>
#include <stdint.h>

/* A parsed schedule: one bit per allowed value. */
struct agq_cron {
	uint64_t min;           /* bits 0-59 */
	uint32_t hour;          /* bits 0-23 */
	uint32_t dom;           /* bits 1-31 */
	uint32_t mon;           /* bits 1-12 */
	uint32_t dow;           /* bits 0-6, Sunday 0 */
	int dom_star, dow_star; /* the field began with '*' */
	int wild;               /* M or H began with '*': cronie's wildcard */
};

/* Parse SPEC (a NUL-terminated crontab(5) time spec, see above) into C.
 * 0, or -1 with ERR (SIZE bytes) naming the field and what is wrong in
 * it ("field day-of-week: 8 is out of range 0-7"); errno EINVAL. */
int agq_cron_parse(const char *spec, struct agq_cron *c, char *err,
                   size_t size);

/* 1 if ZONE names a time zone file (tz(5)) under $TZDIR or
 * /usr/share/zoneinfo: an IANA name of letters, digits, '/', '_', '+',
 * '-', no "..", not starting with '/'; "UTC" always; else 0.  glibc
 * reads an unknown TZ as UTC silently, so a name is checked first. */
int agq_cron_tz_valid(const char *zone);

/* The local zone's IANA name: $TZ when it is one (agq_cron_tz_valid), else
 * /etc/timezone's first line, else the target of the /etc/localtime link
 * after "zoneinfo/", else "UTC".  Malloc'd. */
char *agq_cron_tz_local(void);

/* The first time of C in zone TZ (an IANA name; NULL: UTC) strictly after
 * AFTER_S (Unix seconds), with the daylight saving rules above, into
 * *NEXT_S (Unix seconds, a whole minute).  TZ is set and restored (the
 * caller's TZ, or its absence, is put back).  0; -1 with errno ENOENT
 * when C never matches in the 28 years after AFTER_S (30 February). */
int agq_cron_next(const struct agq_cron *c, const char *tz, int64_t after_s,
                  int64_t *next_s);

#endif
