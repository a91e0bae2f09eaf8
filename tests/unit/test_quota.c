/* Unit tests for lib/quota.c: limit lines of agq.conf, the token bucket
 * held within 5% over a simulated minute, max_running, `*` (each name) and
 * a name's own limit over it, the budget day and its rollover (UTC and a
 * budget_tz), and the fair lanes' bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agq.h"
#include "unit.h"

#define S 1000000LL
#define NOW 1800000000000000LL          /* 2027-01-15T08:00:00Z, in us */

static struct agq_quota *
quota(const char *const *kv)
{
	struct agq_limit l[16];
	size_t n = 0;
	char err[256];
	for (; kv[0]; kv += 2)
		if (agq_limit_parse(kv[0], kv[1], &l[n], err, sizeof err) == 1)
			n++;
		else
			printf("# %s\n", err);
	return agq_quota_new(l, n, NULL);
}

int
main(void)
{
	struct agq_limit l;
	char err[256];
	struct agq_qhold h;

	/* agq.conf lines */
	CHECK(agq_limit_parse("limit.tenant.alice.max_running", "2", &l, err,
	    sizeof err) == 1 && l.kind == AGQ_QK_TENANT && l.field ==
	    AGQ_QF_MAX_RUNNING && l.max == 2 && !strcmp(l.name, "alice"),
	    "max_running parsed");
	CHECK(agq_limit_parse("limit.backend.*.rate", "10/1m burst 5", &l,
	    err, sizeof err) == 1 && l.rate_n == 10 && l.rate_us == 60 * S &&
	    l.burst == 5 && !strcmp(l.name, "*"), "rate with burst parsed");
	CHECK(agq_limit_parse("limit.endpoint.gpu.box.rate", "3/1h", &l, err,
	    sizeof err) == 1 && l.burst == 3 && !strcmp(l.name, "gpu.box"),
	    "rate without burst: burst N; a dotted name");
	CHECK(agq_limit_parse("limit.lane.low.budget_usd", "2.50", &l, err,
	    sizeof err) == 1 && l.budget == 2.5, "budget_usd parsed");
	CHECK(agq_limit_parse("max_running", "2", &l, err, sizeof err) == 0,
	    "not a limit key");
	CHECK(agq_limit_parse("limit.user.alice.max_running", "2", &l, err,
	    sizeof err) < 0 && strstr(err, "KIND"), "unknown kind refused");
	CHECK(agq_limit_parse("limit.tenant.alice.max", "2", &l, err,
	    sizeof err) < 0 && strstr(err, "FIELD"), "unknown field refused");
	CHECK(agq_limit_parse("limit.tenant.a/b.max_running", "2", &l, err,
	    sizeof err) < 0 && strstr(err, "NAME"), "bad name refused");
	CHECK(agq_limit_parse("limit.tenant.max_running", "2", &l, err,
	    sizeof err) < 0, "no name refused");
	CHECK(agq_limit_parse("limit.tenant.a.rate", "10/0s", &l, err,
	    sizeof err) < 0 && agq_limit_parse("limit.tenant.a.rate",
	    "10/1m burst", &l, err, sizeof err) < 0 &&
	    agq_limit_parse("limit.tenant.a.rate", "ten/1m", &l, err,
	    sizeof err) < 0, "bad rates refused");
	CHECK(agq_limit_parse("limit.tenant.a.budget_usd", "-1", &l, err,
	    sizeof err) < 0 && agq_limit_parse("limit.tenant.a.max_running",
	    "2x", &l, err, sizeof err) < 0, "bad numbers refused");

	int w[4], strict;
	CHECK(agq_lane_weights_parse("8,4,2,1", w, &strict) == 0 && !strict &&
	    w[0] == 8 && w[3] == 1, "lane_weights 8,4,2,1");
	CHECK(agq_lane_weights_parse("strict", w, &strict) == 0 && strict,
	    "lane_weights strict");
	CHECK(agq_lane_weights_parse("8,4,2", w, &strict) < 0 &&
	    agq_lane_weights_parse("8,4,2,0", w, &strict) < 0 &&
	    agq_lane_weights_parse("8,4,2,1,1", w, &strict) < 0,
	    "bad lane_weights refused");

	/* the token bucket over a simulated minute: 600/1m burst 5, a task
	 * ready every 10 ms: 600 in the minute (+ the burst), within 5% */
	{
		static const char *const kv[] = { "limit.backend.claude.rate",
		    "600/1m burst 5", NULL };
		struct agq_quota *q = quota(kv);
		struct agq_qkeys k = { { "normal", "alice", "claude", NULL }, 1 };
		int taken = 0, held = 0;
		for (int64_t t = NOW; t < NOW + 60 * S; t += 10000) {
			if (agq_quota_check(q, &k, t, &h) == 0) {
				agq_quota_take(q, &k, t);
				taken++;
			} else {
				held += h.until_us > t && !strcmp(h.limit,
				    "backend.claude.rate");
			}
		}
		printf("# taken %d in a minute\n", taken);
		CHECK(taken >= 570 && taken <= 630, "token bucket within 5% of "
		    "600 a minute");
		CHECK(held > 0, "held with the limit's name and the next token");
		agq_quota_free(q);
	}

	/* max_running, and `*`: each tenant its own count */
	{
		static const char *const kv[] = {
		    "limit.tenant.*.max_running", "1",
		    "limit.tenant.bob.max_running", "2", NULL };
		struct agq_quota *q = quota(kv);
		struct agq_qkeys a = { { "normal", "alice", "shell", NULL }, 0 };
		struct agq_qkeys b = { { "normal", "bob", "shell", NULL }, 0 };
		struct agq_qkeys c = { { "low", "carol", "shell", NULL }, 0 };
		CHECK(agq_quota_check(q, &a, NOW, &h) == 0, "alice's first");
		agq_quota_take(q, &a, NOW);
		CHECK(agq_quota_check(q, &a, NOW, &h) == 1 && !strcmp(h.limit,
		    "tenant.alice.max_running") && !strcmp(h.current, "1") &&
		    !strcmp(h.value, "1") && h.until_us == 0,
		    "alice's second held by tenant.alice.max_running (*)");
		CHECK(agq_quota_check(q, &c, NOW, &h) == 0, "carol: her own "
		    "count under *");
		agq_quota_take(q, &b, NOW);
		CHECK(agq_quota_check(q, &b, NOW, &h) == 0, "bob's own limit "
		    "wins over *");
		agq_quota_take(q, &b, NOW);
		CHECK(agq_quota_check(q, &b, NOW, &h) == 1 && !strcmp(h.current,
		    "2"), "bob's third held");
		agq_quota_running(q, &a, -1);
		CHECK(agq_quota_check(q, &a, NOW, &h) == 0, "alice again once "
		    "hers ended");
		agq_quota_reset_running(q);
		CHECK(agq_quota_check(q, &b, NOW, &h) == 0, "a recount forgets");
		agq_quota_free(q);
	}

	/* budgets: a day's costs, the next day, a task that spends nothing */
	{
		static const char *const kv[] = {
		    "limit.backend.claude.budget_usd", "5", NULL };
		struct agq_quota *q = quota(kv);
		struct agq_qkeys k = { { "normal", "alice", "claude", NULL }, 1 };
		struct agq_qkeys sh = { { "normal", "alice", "claude", NULL },
		    0 };
		agq_quota_spent(q, &k, 3, NOW - 86400 * S, NOW);
		CHECK(agq_quota_check(q, &k, NOW, &h) == 0, "yesterday's cost "
		    "not counted");
		agq_quota_spent(q, &k, 5.5, NOW - S, NOW);
		CHECK(agq_quota_check(q, &k, NOW, &h) == 1 && !strcmp(h.limit,
		    "backend.claude.budget_usd") && h.until_us == NOW + 16 *
		    3600 * S && !strcmp(h.current, "5.5000"),
		    "spent: held until the next UTC midnight");
		CHECK(agq_quota_check(q, &sh, NOW, &h) == 0, "a task that "
		    "spends nothing is not held");
		CHECK(agq_quota_check(q, &k, NOW + 16 * 3600 * S, &h) == 0,
		    "the next day: counted from 0");
		agq_quota_free(q);
		int64_t a, b;
		CHECK(agq_quota_day(NOW, "Europe/Berlin", &a, &b) == 0 &&
		    a == NOW - 9 * 3600 * S && b == a + 86400 * S,
		    "budget_tz Europe/Berlin: the day from 23:00Z");
		/* 2027-03-28: Berlin springs forward, a 23-hour day */
		CHECK(agq_quota_day(1806220800 * S, "Europe/Berlin", &a, &b) ==
		    0 && b - a == 23 * 3600 * S, "a DST day of 23 hours");
		CHECK(getenv("TZ") == NULL, "TZ put back");
	}

	/* fair lanes: every lane busy, 8,4,2,1: low once in every 15 */
	{
		struct agq_drr d = { 0, { 8, 4, 2, 1 }, { 0 } };
		int served[4] = { 0 }, order[4];
		for (int i = 0; i < 15 * 4; i++) {
			agq_drr_order(&d, 0xf, order);
			served[order[0]]++;
			agq_drr_served(&d, 0xf, order[0]);
		}
		CHECK(served[0] == 32 && served[1] == 16 && served[2] == 8 &&
		    served[3] == 4, "shares 8:4:2:1 with every lane busy");
		/* urgent without end, one low task: low within 15 */
		struct agq_drr e = { 0, { 8, 4, 2, 1 }, { 0 } };
		int when = -1;
		for (int i = 0; i < 100 && when < 0; i++) {
			agq_drr_order(&e, 0x9, order);
			if (order[0] == 3)
				when = i + 1;
			agq_drr_served(&e, 0x9, order[0]);
		}
		CHECK(when > 0 && when <= 15, "low served within 15 of urgent");
		/* the lanes without work come last */
		agq_drr_order(&e, 0x4, order);
		CHECK(order[0] == 2 && order[1] == 0, "empty lanes last");
		struct agq_drr s = { 1, { 1, 1, 1, 1 }, { 0 } };
		agq_drr_order(&s, 0x8, order);
		CHECK(order[0] == 0 && order[3] == 3, "strict: lane order");
	}
	DONE();
}
