/*
 * routine.h - routine.c: routines, recurring tasks fired by agq-sched
 * (agq-routine(1), agq-spool(5) "Routines", agq-sched(8) ROUTINES).
 *
 * A routine NAME is the record routines/NAME.json, written in tmp/,
 * fsync'd and renamed in: {name, every_s | cron + tz, misfire "skip" |
 * "run-once" | "catch-up:N", jitter_s, task (a task object without id),
 * paused, approval "none" | "pending" | "approved", since (RFC 3339: no
 * slot at or before it fires: the time of add, edit, resume, approve),
 * created {at, by {uid, user}, task}, rev}.
 * Each slot (a time of the schedule, UTC) is claimed before its task is
 * submitted: routines/NAME.slots/SLOT (SLOT "YYYYMMDDTHHMMSSZ", or
 * "now-US" for run-now), written in tmp/ and link(2)ed to its name, so
 * that of two schedulers (or a scheduler and itself after a clock step)
 * one claims it (EEXIST: the other did): at most once.  The task is then
 * submitted with the id r-NAME-SLOT through agq_submit_deliver (an id
 * taken already is a duplicate, not an error), and the claim rewritten
 * with "submitted" (rename over it).  A claim without "submitted" (a
 * crash between the claim and the submission) is submitted again at the
 * scheduler's start and each rescan (the newest 256 claims looked at):
 * exactly once, the id being fixed.
 * Events routine_fire {routine, slot, id}, routine_misfire {routine,
 * skipped, first, last, policy}, and agq-routine's routine_add, _edit,
 * _pause, _resume, _rm, _approve {routine, by, uid, task}.
 * Uses util, cli, cron, spool, journal, task, classify, plan and submit.
 */
#ifndef AGQ_ROUTINE_H
#define AGQ_ROUTINE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "cron.h"
#include "spool.h"

/* Longest routine record read, bytes. */
#define AGQ_ROUTINE_MAX (1 << 20)
/* Claims kept per routine: older ones are removed by the fire pass
 * (history shows these). */
#define AGQ_ROUTINE_KEEP 1000

/* 1 if NAME may name a routine: [a-z0-9][a-z0-9._-]{0,39}; else 0. */
int agq_routine_name_valid(const char *name);

/* Misfire policies. */
enum { AGQ_MISFIRE_SKIP, AGQ_MISFIRE_RUN_ONCE, AGQ_MISFIRE_CATCH_UP };

/* A routine's schedule, the input of the pure decision. */
struct agq_rspec {
	const char *name;       /* borrowed */
	int64_t every_s;        /* > 0: every so many seconds, slots at
	                         * multiples of it from the Unix epoch; 0:
	                         * cron */
	struct agq_cron cron;
	const char *tz;         /* cron's IANA zone (borrowed) */
	int misfire;            /* AGQ_MISFIRE_* */
	int catch_up;           /* N of catch-up:N, 1..100 */
	int64_t jitter_s;       /* 0: none */
};

/* Parse the misfire policy S ("skip", "run-once", "catch-up:N" with N
 * 1..100) into *POLICY and *N.  0, or -1 (EINVAL). */
int agq_routine_misfire_parse(const char *s, int *policy, int *n);

/* The schedule of the routine record R into S (strings borrowed from
 * R).  0, or -1 with ERR (SIZE bytes) naming the field. */
int agq_routine_spec(const json_t *r, struct agq_rspec *s, char *err,
                     size_t size);

/* The record R as a whole checked: name, the schedule (agq_routine_spec),
 * jitter_s 0..86400 and below every_s, task an object without id that
 * agq-submit would take (agq_submit_valid), paused boolean, approval.
 * 0, or -1 with ERR naming the field ("field cron: field hour: 24 is out
 * of range 0-23"). */
int agq_routine_check(const json_t *r, char *err, size_t size);

/* The delay of slot SLOT_S of routine NAME, seconds in [0, JITTER_S):
 * FNV-1a 64 of "NAME\0SLOT_S" modulo JITTER_S, so every host computes the
 * same.  0 when JITTER_S <= 0. */
int64_t agq_routine_jitter(const char *name, int64_t slot_s,
                           int64_t jitter_s);

/* The first slot of S strictly after AFTER_S (UTC seconds) into *SLOT_S.
 * 0, or -1 (ENOENT: a cron schedule that never comes). */
int agq_routine_next_slot(const struct agq_rspec *s, int64_t after_s,
                          int64_t *slot_s);

/* What agq_routine_due decided besides the slots to fire. */
struct agq_rmiss {
	int64_t skipped;        /* missed slots that do not fire */
	int64_t first, last;    /* the oldest and newest of them (UTC s) */
	int more;               /* 1: more were missed than were counted
	                         * (a cron schedule down for very long) */
	int64_t next_s;         /* when a slot is next due (slot + jitter),
	                         * 0 if never */
};

/* The pure decision: the slots of S to fire at NOW_S (UTC seconds) given
 * SINCE_S (the newest claimed slot, or the routine's since: no slot at
 * or before it fires), into OUT (at most MAX, oldest first; returns how
 * many), and M.  A slot is due when NOW_S >= slot + jitter, slots taken
 * in order (one not yet due stops the walk); on time when NOW_S - (slot +
 * jitter) <= grace, grace = min(60 s, the interval to the next slot / 2);
 * the rest missed (the scheduler was down).  skip: the on-time slot
 * fires, the missed do not; run-once: the on-time slot, else the newest
 * missed, fires; catch-up:N: the newest N missed fire, then the on-time
 * one.  A clock stepped back before SINCE_S fires nothing: slots only
 * go forward.  -1 (errno) only for a cron schedule that fails. */
int agq_routine_due(const struct agq_rspec *s, int64_t since_s,
                    int64_t now_s, int64_t *out, size_t max,
                    struct agq_rmiss *m);

/* SLOT_S as a slot name "YYYYMMDDTHHMMSSZ" into BUF (>= 17 bytes). */
char *agq_routine_slot_name(int64_t slot_s, char *buf);
/* A slot name back to UTC seconds; -1 for "now-..." and anything else. */
int64_t agq_routine_slot_parse(const char *name);

/* The clock routines fire by: Unix seconds now, or $AGQ_ROUTINE_NOW (an
 * RFC 3339 time or epoch seconds, agq_parse_time) when it is set: the
 * tests' clock, documented in agq-sched(8). */
int64_t agq_routine_now(void);

/* routines/NAME.json read and parsed: a new reference, or NULL with errno
 * (ENOENT none, EBADMSG not a JSON object, agq_json_read_object's). */
json_t *agq_routine_read(const struct agq_spool *sp, const char *name);

/* Write the record R to routines/NAME.json (tmp/, fsync, rename; the
 * directories made when missing).  NOREPLACE: EEXIST when it exists (add).
 * 0, or -1 with errno. */
int agq_routine_write(const struct agq_spool *sp, const json_t *r,
                      int noreplace);

/* Every routine record, sorted by name, a new array; an unreadable one
 * as {"name", "error"}.  NULL with errno when routines/ cannot be read
 * (none: an empty array). */
json_t *agq_routine_list(const struct agq_spool *sp);

/* The claims of routine NAME, sorted by slot name (schedule slots by
 * time, then run-now's), a new array of their contents (an unreadable
 * one {"slot", "error"}), "slot" always set; only the last MAX of them
 * (0: all).  Empty when there are none. */
json_t *agq_routine_claims(const struct agq_spool *sp, const char *name,
                           size_t max);

/* The newest claimed schedule slot of NAME (UTC s, "now-" claims not
 * counted) into *LAST (0: none).  0, or -1 with errno. */
int agq_routine_last(const struct agq_spool *sp, const char *name,
                     int64_t *last);

/* Claim slot SLOT (a slot name) of the routine record R and submit its
 * task r-NAME-SLOT (see above), journaling routine_fire; MISS (or NULL)
 * is journaled as routine_misfire by the claim's winner.  Returns 0
 * fired, 1 the slot was claimed already (nothing done), -1 failed
 * (errno; reported on standard error).  The task id into ID (>= 65
 * bytes) when not NULL. */
int agq_routine_fire(const struct agq_spool *sp, const json_t *r,
                     const char *slot, const struct agq_rmiss *miss,
                     char *id);

/* One fire pass over every routine at NOW_S (agq_routine_due for each
 * that is not paused nor pending approval, then agq_routine_fire; a skip
 * with nothing to fire claims the newest missed slot as
 * {"skipped", "first", "last"}, no task, so it is journaled once).  When
 * RECOVER, claims without "submitted" are submitted first (the crash
 * case).  *NEXT_S: the earliest time a slot is next due (0: none).
 * Returns the number of slots fired; a routine that fails is reported on
 * standard error and the others go on. */
int agq_routine_pass(const struct agq_spool *sp, int64_t now_s, int recover,
                     int64_t *next_s);

/* 1 if the task T of a routine needs a person's approval when an agent
 * made the routine: it runs a network backend (agq_task_backend, anything
 * but shell), has git (it pushes a branch, maybe opens a PR), or is a
 * review or merge task.  Else 0. */
int agq_routine_needs_approval(const json_t *t);

/* Journal EV {routine: NAME, by, uid, task} (BY agq_plan_who's), with
 * the fields of EXTRA (stolen; may be NULL). */
void agq_routine_journal(const struct agq_spool *sp, const char *ev,
                         const char *name, const json_t *by, json_t *extra);

#endif
