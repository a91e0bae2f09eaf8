/*
 * stats.h - the numbers of a spool: stats over the journal, the state
 * snapshot of agq-status --json, and the fast journal line scanner they
 * share.  Used by agq-stats(1), agq-status(1), agq-sync(1), agq-dash(1)
 * and agq-alert(1).  Conventions are those of util.h.
 */
#ifndef AGQ_STATS_H
#define AGQ_STATS_H

#include "spool.h"

/* ---- scanning journal lines -------------------------------------------- */

/* One top-level member of a journal line: KEY (KLEN bytes, without quotes)
 * and its raw VALUE text (VLEN bytes; a string keeps its quotes).  Both
 * point into the scanned line (borrowed). */
struct agq_jfield {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

#define AGQ_JFIELDS 48

/* A scanned journal line: its top-level members, in order. */
struct agq_jline {
	int n;
	struct agq_jfield f[AGQ_JFIELDS];
};

/* Split LINE (LEN bytes, a trailing newline allowed) into the top-level
 * members of one JSON object, without building a tree: nested values are
 * skipped with string and depth awareness, strings are not decoded.  This
 * is what keeps agq-stats at about a microsecond a line where a jansson
 * parse of each line costs four.  Members past AGQ_JFIELDS are ignored.
 * Returns 0, or -1 when LINE is not one JSON object (a torn or damaged
 * line: unbalanced, a bare value, trailing text). */
int agq_jscan(const char *line, size_t len, struct agq_jline *jl);

/* The raw value of member KEY (NUL-terminated name), or NULL (borrowed). */
const struct agq_jfield *agq_jget(const struct agq_jline *jl,
                                  const char *key);

/* The string value of KEY decoded into BUF (SIZE bytes, NUL-terminated;
 * escapes are decoded with jansson).  Returns BUF, or NULL when KEY is
 * absent, not a string, or does not fit. */
char *agq_jstr(const struct agq_jline *jl, const char *key, char *buf,
               size_t size);

/* The number value of KEY in *OUT; 0, or -1 when absent or not a number. */
int agq_jnum(const struct agq_jline *jl, const char *key, double *out);

/* A journal "ts" (RFC 3339; the writers' fixed form
 * YYYY-MM-DDTHH:MM:SS.uuuuuuZ is parsed without strptime) in
 * microseconds, or -1. */
int64_t agq_jtime(const struct agq_jline *jl);

/* Parse an option value naming a start time: RFC 3339, epoch seconds, or
 * a duration ago ("10m", "2h") counted back from NOW_US.  Same rules as
 * agq-journal --since.  0 with *US set, or -1 (EINVAL). */
int agq_parse_since(const char *s, int64_t now_us, int64_t *us);

/* Read SP's journal backwards, at most its last LIMIT bytes, calling
 * FN(line, its ts in us, ARG) for each whole line that scans and has a
 * time, newest first, until FN returns non-zero.  0 (also without a
 * journal), or -1 with errno. */
int agq_journal_back(const struct agq_spool *sp, off_t limit,
                     int (*fn)(const struct agq_jline *jl, int64_t ts,
                     void *arg), void *arg);

/* ---- stats over the journal (agq-stats(1)) ----------------------------- */

struct agq_stats_opts {
	int64_t since_us;       /* window start; 0: the first event */
	int64_t now_us;         /* window end, normally agq_now_us() */
	int buckets;            /* points in the time series (0: none) */
	int recent;             /* recent completions and failures kept */
	int rotated;            /* also read the rotated journals, oldest
	                         * first (agq_journal_files) */
};

/* Stream SP's journal (with O->rotated, every journal file of the chain
 * in turn) once, line by line, and combine it with the
 * spool's current counts.  Returns a new JSON object whose members are
 * documented in agq-stats(1) (window, counts, events, throughput, latency
 * percentiles by the nearest-rank method, agent utilization, tokens and
 * cost per backend and model, series, recent completions and failures,
 * damaged line count).  A missing journal gives zero events.  NULL with
 * errno when the journal cannot be read (the caller reports it). */
json_t *agq_stats(const struct agq_spool *sp, const struct agq_stats_opts *o);

/* ---- the state snapshot (agq-status(1)) -------------------------------- */

/* The counts object of agq-status --json: inbox, queue, queue_lanes
 * {urgent, high, normal, low}, defer, hold, active, done, dead, corrupt.
 * New reference. */
json_t *agq_status_counts(const struct agq_spool *sp);

/* The registered agents, one object each (name, state as shown: idle,
 * busy, draining, offline or down; slots, running, capabilities,
 * heartbeat_age_s, host, pid, boot_id, started_at, uptime_s, and any
 * "resources" object the agent publishes), sorted by name.  Liveness and
 * heartbeat_age_s are the agent file's mtime against the file server's
 * clock (agq_clock_probe; NOW_US moved by the difference), the rule of
 * agq-sched (agq_agent_live).  New reference. */
json_t *agq_status_agents(const struct agq_spool *sp, int64_t now_us);

/* The whole snapshot of agq-status --json: spool, counts, agents, recent
 * (the last N done and dead tasks, read backwards from the journal's end)
 * and health (scheduler running, agents alive, oldest queued task,
 * corrupt files, free disk space, problems) and paused (the backends
 * paused by a usage or rate limit, agq_throttle_list).  New reference. */
json_t *agq_status_snapshot(const struct agq_spool *sp, int64_t now_us,
                            int recent);

/* Fill a "recent" member like the snapshot's: the task's title (or its
 * command), lane, attempts and meta.pr_url, read from its task file, for
 * each element of ARR (objects with "id"). */
void agq_recent_enrich(const struct agq_spool *sp, json_t *arr);

/* ---- settings of agq-sync, agq-dash and agq-alert (etc/agq.conf) ----- */

/* The value of setting KEY of SP's configuration, or DFLT (borrowed). */
const char *agq_obs_get(const struct agq_spool *sp, const char *key,
                        const char *dflt);

/* 1 if the yes/no setting KEY is yes. */
int agq_obs_bool(const struct agq_spool *sp, const char *key);

#endif
