/*
 * quota.h - quota.c: limits on what the scheduler assigns, and fair lanes
 * (agq.conf(5), "Limits"; agq-sched(8), "Limits" and "Fair lanes").
 *
 * Pure decisions, no I/O: the scheduler (sched.c) feeds them what it
 * counts (tasks running, costs journaled, the clock) and asks, before
 * leasing a task, whether a limit holds it; and in which order the lanes
 * are looked at.  Uses util only (below conf.c, which checks the keys
 * with it).
 *
 * A limit is an agq.conf line `limit.KIND.NAME.FIELD = VALUE`: KIND is
 * lane, tenant, backend or endpoint; NAME the lane, tenant, backend or
 * endpoint it limits, or `*`, each of them separately (a NAME's own
 * limit of the same FIELD wins over `*`); FIELD max_running (tasks
 * running at once), rate (a token bucket: "N/INTERVAL [burst B]") or
 * budget_usd (US dollars of recorded cost per day).
 */
#ifndef AGQ_QUOTA_H
#define AGQ_QUOTA_H

#include <stddef.h>
#include <stdint.h>

/* What a limit counts by: the task's lane, tenant, backend, endpoint. */
enum { AGQ_QK_LANE, AGQ_QK_TENANT, AGQ_QK_BACKEND, AGQ_QK_ENDPOINT,
    AGQ_QK_N };
/* What it limits. */
enum { AGQ_QF_MAX_RUNNING, AGQ_QF_RATE, AGQ_QF_BUDGET, AGQ_QF_N };

/* The names of AGQ_QK_* ("lane", ...) and AGQ_QF_* ("max_running",
 * "rate", "budget_usd"): static strings. */
const char *agq_quota_kind_name(int kind);
const char *agq_quota_field_name(int field);

/* One limit as agq.conf states it. */
struct agq_limit {
	int kind;               /* AGQ_QK_* */
	int field;              /* AGQ_QF_* */
	char name[65];          /* the name it limits, or "*" */
	long max;               /* max_running: 0 to 1000000 */
	double rate_n;          /* rate: N tokens ... */
	int64_t rate_us;        /* ... every INTERVAL (us, > 0) */
	double burst;           /* the bucket's size (default N) */
	double budget;          /* budget_usd: dollars a day (>= 0) */
	char text[64];          /* VALUE as written, for messages */
};

/* Parse the agq.conf line KEY = VAL when KEY starts with "limit.": 1
 * with *L filled; 0 when KEY is not a limit key (another setting); -1
 * with ERR (SIZE bytes) saying what is wrong: an unknown KIND or FIELD,
 * a NAME that is not `*` or [A-Za-z0-9._@+-]{1,64} (an id, a user name,
 * an endpoint), a VAL that does not parse: max_running a whole number
 * 0..1000000; rate N/INTERVAL with N a whole number 1..1000000 and
 * INTERVAL an agq duration (agq_parse_duration: "1m", "30s", "1h", a
 * bare number is seconds) above 0, then optionally "burst B", B a whole
 * number 1..1000000; budget_usd a decimal number >= 0. */
int agq_limit_parse(const char *key, const char *val, struct agq_limit *l,
                    char *err, size_t size);

/* lane_weights (agq.conf(5)): "strict" (today's order: *STRICT 1) or
 * four whole numbers 1..1000, comma-separated, for the lanes urgent,
 * high, normal, low (W[0..3], *STRICT 0).  0, or -1 (EINVAL). */
int agq_lane_weights_parse(const char *s, int w[4], int *strict);

/* The day a budget counts in (agq.conf(5), budget_tz): the calendar day
 * of NOW_US in time zone TZ (an IANA name as tz(5) knows it; NULL or ""
 * UTC), as [*START, *END) in microseconds: local midnight to the next
 * local midnight (23 or 25 hours on a day DST changes).  The zone is
 * read through TZ and tzset(3); the process's TZ is put back.  0, or -1
 * (EINVAL) when mktime(3) cannot place it. */
int agq_quota_day(int64_t now_us, const char *tz, int64_t *start,
                  int64_t *end);

/* ---- the scheduler's counters ------------------------------------------ */

/* The names a task has for each AGQ_QK_* (borrowed strings; NULL: it
 * has none, e.g. no endpoint), and whether it can spend money (a task
 * that runs a model; a plain command costs nothing and no budget holds
 * it). */
struct agq_qkeys {
	const char *v[AGQ_QK_N];
	int spends;
};

/* The limits and what they count.  Made by agq_quota_new, freed with
 * agq_quota_free; private fields. */
struct agq_quota;

/* A new struct agq_quota for the N limits L (copied), budgets counted by
 * the day of zone TZ (agq_quota_day; NULL: UTC; copied).  Token buckets
 * start full (agq-sched(8)).  Never NULL (exits EX_OSERR when out of
 * memory, as agq_xmalloc). */
struct agq_quota *agq_quota_new(const struct agq_limit *l, size_t n,
                                const char *tz);
void agq_quota_free(struct agq_quota *q);

/* How many limits Q has, and how many of FIELD. */
size_t agq_quota_count(const struct agq_quota *q, int field);

/* The running counts forgotten (before a recount: agq_quota_running for
 * each task running). */
void agq_quota_reset_running(struct agq_quota *q);
/* A task with keys K started running (DELTA 1) or stopped (-1). */
void agq_quota_running(struct agq_quota *q, const struct agq_qkeys *k,
                       int delta);
/* A task with keys K recorded a cost of USD dollars at TS_US: counted
 * when TS_US falls in the budget day of NOW_US (agq_quota_day), which
 * becomes the day counted (the counts of an earlier day are dropped
 * when the day changes). */
void agq_quota_spent(struct agq_quota *q, const struct agq_qkeys *k,
                     double usd, int64_t ts_us, int64_t now_us);

/* Why a limit holds a task. */
struct agq_qhold {
	char limit[160];        /* "tenant.alice.max_running" (the task's
	                         * own name even under a `*` limit) */
	char value[64];         /* the limit: "2", "10/1m burst 5", "5.00" */
	char current[64];       /* what it is at: "2" running, "0.40"
	                         * tokens, "5.0312" dollars */
	int64_t until_us;       /* when it lets go: the next token, the next
	                         * budget day; 0: when a task ends */
	int field;              /* AGQ_QF_* */
};

/* May a task with keys K be leased at NOW_US?  0: every limit that
 * applies lets it; 1: the first that holds it (max_running, then rate,
 * then budget; kinds in AGQ_QK_* order) described in *H. */
int agq_quota_check(struct agq_quota *q, const struct agq_qkeys *k,
                    int64_t now_us, struct agq_qhold *h);

/* A task with keys K was leased at NOW_US: one running more, a token
 * taken from each bucket that applies. */
void agq_quota_take(struct agq_quota *q, const struct agq_qkeys *k,
                    int64_t now_us);

/* ---- fair lanes --------------------------------------------------------- */

/* Smooth weighted round robin among the lanes with work (agq-sched(8),
 * "Fair lanes"), the deficit scheme of nginx's upstream balancing: each
 * lane keeps a credit; at each assignment every lane with work gains its
 * weight, the lane served loses the sum of the weights of the lanes with
 * work, and a lane without work has its credit cleared.  With the lanes
 * that have work unchanged, a lane of weight w is served w times in every
 * W assignments (W the sum of their weights); so with weights 8,4,2,1
 * and every lane busy, low is served once in every 15. */
struct agq_drr {
	int strict;             /* lane order only (lane_weights = strict) */
	int w[4];               /* urgent, high, normal, low */
	int64_t c[4];           /* credits */
};

/* The lanes in the order an assignment looks at them into ORDER[4]:
 * those with work (bit l of MASK) by credit plus weight, highest first,
 * ties to the more urgent lane; then the others.  Strict: 0,1,2,3. */
void agq_drr_order(const struct agq_drr *d, unsigned mask, int order[4]);

/* LANE was served while the lanes of MASK had work: credits moved as
 * above (LANE counts as having work). */
void agq_drr_served(struct agq_drr *d, unsigned mask, int lane);

#endif
