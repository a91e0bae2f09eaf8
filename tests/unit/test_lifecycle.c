/* Unit tests for lib/lifecycle.c: every transition it decides, each
 * decision against its row of the table, and the table against the one in
 * man/agq-spool.5 ("State transitions"). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agq.h"
#include "lifecycle.h"
#include "unit.h"

#define NOW 1800000000000000LL          /* 2027-01-15T08:00:00Z, in us */

static uint64_t draw;                   /* what the fake random source gives */
static int draws;                       /* how often it was asked */

static uint64_t
fake_random(void)
{
	draws++;
	return draw;
}

/* A normalized task: JSON plus ATTEMPTS closed attempts (generation GEN,
 * the last one open when OPEN). */
static json_t *
task(const char *json, int attempts, int open)
{
	json_t *t = json_loads(json, 0, NULL);
	agq_task_normalize(t, NOW - 60000000);
	json_t *a = json_array();
	for (int i = 0; i < attempts; i++) {
		json_t *at = json_pack("{s:s, s:I, s:s}", "agent", "a1",
		    "generation", agq_task_int(t, "generation", 0), "started",
		    "2027-01-15T07:59:00Z");
		if (!(open && i == attempts - 1))
			json_object_set_new(at, "finished",
			    json_string("2027-01-15T07:59:30Z"));
		json_array_append_new(a, at);
	}
	json_object_set_new(t, "attempts", a);
	return t;
}

/* D took rule RULE, from state FROM to its row's state, with event EV. */
static int
took(const struct agq_lc *d, int rule, const char *from, const char *ev)
{
	const struct agq_lc_rule *r = &agq_lc_rules[rule];
	return d->rule == rule && !strcmp(r->from, from) &&
	    !strcmp(agq_state_name(d->to), r->to) && !strcmp(d->event, ev) &&
	    !strcmp(r->event, ev) && (d->to == AGQ_ST_QUEUE) == (d->lane >= 0);
}

/* The string KEY of D's event body is WANT. */
static int
ev_is(const json_t *ev, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(ev, key));
	return v && !strcmp(v, want);
}

static void
lc_free(struct agq_lc *d)
{
	json_decref(d->ev);
	json_decref(d->ev2);
	d->ev = d->ev2 = NULL;
}

/* ---- the table against man/agq-spool.5 ---------------------------------- */

/* The rows of the "State transitions" table of man/agq-spool.5 (under
 * $AGQ_TOP, else the current directory): each .It line's first four
 * columns, "from event to by", into ROWS (at most MAX).  The count. */
static int
man_rows(char rows[][128], int max)
{
	const char *top = getenv("AGQ_TOP");
	char path[4096];
	snprintf(path, sizeof path, "%s/man/agq-spool.5", top ? top : ".");
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("# cannot open %s (run from the top, or set "
		    "AGQ_TOP)\n", path);
		return -1;
	}
	char line[1024];
	int in = 0, n = 0;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, ".Ss State transitions", 21))
			in = 1;
		else if (in && !strncmp(line, ".El", 3))
			break;
		if (!in || strncmp(line, ".It ", 4) || strstr(line, "Sy From"))
			continue;
		char col[4][64] = { "", "", "", "" };
		char *p = line + 4;
		for (int c = 0; c < 4; c++) {
			char *ta = strstr(p, " Ta ");
			if (!ta)
				break;
			snprintf(col[c], sizeof col[c], "%.*s", (int)(ta - p), p);
			p = ta + 4;
		}
		if (n < max)
			snprintf(rows[n], sizeof rows[n], "%s %s %s %s", col[0],
			    col[1], col[2], col[3]);
		n++;
	}
	fclose(f);
	return n;
}

static void
test_table(void)
{
	char rows[96][128];
	int n = man_rows(rows, 96);
	CHECK(n == AGQ_LC_NRULES, "agq-spool(5) has a row per rule of the code");
	int same = n == AGQ_LC_NRULES;
	for (int i = 0; same && i < n; i++) {
		const struct agq_lc_rule *r = &agq_lc_rules[i];
		char want[128];
		snprintf(want, sizeof want, "%s %s %s %s", r->from, r->event,
		    r->to, r->by);
		if (strcmp(rows[i], want)) {
			printf("# row %d: man \"%s\", code \"%s\"\n", i + 1,
			    rows[i], want);
			same = 0;
		}
	}
	CHECK(same, "agq-spool(5)'s transition table is the code's, row by row");
	int full = 1;
	for (int i = 0; i < AGQ_LC_NRULES; i++)
		full &= agq_lc_rules[i].from && agq_lc_rules[i].to &&
		    agq_lc_rules[i].event && agq_lc_rules[i].by;
	CHECK(full, "every rule is filled in");
}

/* ---- the end of a run ---------------------------------------------------- */

static struct agq_lc_outcome
outcome(int exited, int code, int sig, int timed_out)
{
	struct agq_lc_outcome o = { .agent = "a1", .gen = 1,
	    .exited = exited, .code = code, .sig = sig,
	    .timed_out = timed_out, .random = fake_random };
	return o;
}

static void
test_finish(void)
{
	struct agq_lc d;
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":1,"
	    "\"timeout\":5,\"backoff\":10}", 1, 0);
	struct agq_lc_outcome o = outcome(1, 0, 0, 0);

	draws = 0;
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_DONE, "active", "done") &&
	    !strcmp(d.status, "done") && !strcmp(d.reason, "exit 0 on a1") &&
	    ev_is(d.ev, "reason", "exit 0 on a1") && d.gen == -1 &&
	    d.clear_agent && draws == 0, "exit 0: done");
	lc_free(&d);

	/* failed, attempts left: retry after the backoff, jitter drawn */
	o = outcome(1, 3, 0, 0);
	draw = 0;
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_RETRY, "active", "retry") &&
	    !strcmp(d.status, "retry") && d.delay_us == 5000000 &&
	    d.next_at_us == NOW + 5000000 && !strcmp(d.reason, "exit 3; "
	    "attempt 1 of 3 failed, next at 2027-01-15T08:00:05.000000Z "
	    "(backoff 5.0 s)") && ev_is(d.ev, "next_attempt_at",
	    "2027-01-15T08:00:05.000000Z") && ev_is(d.ev, "reason", d.reason) &&
	    draws == 1, "exit 3, attempts left: retry, backoff drawn once");
	lc_free(&d);
	draw = 5000000;         /* the top of [5, 10] s */
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(d.delay_us == 10000000, "the jitter's top is the full delay");
	lc_free(&d);
	draw = 0;
	agq_lc_finish(t, &o, NOW, 4, &d);
	CHECK(d.delay_us == 2000000, "the backoff cap (s) bounds the delay");
	lc_free(&d);

	/* each way to fail, attempts left and not */
	static const struct { int ex, code, sig, to; const char *what; } f[] = {
		{ 1, 3, 0, 0, "exit 3" },
		{ 0, -1, SIGKILL, 0, "killed by signal 9 (Killed)" },
		{ 0, -1, SIGKILL, 1, "timed out after 5 s" },
		{ 1, 0, 0, 1, "timed out after 5 s" },
	};
	json_t *spent = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":1,"
	    "\"timeout\":5,\"max_attempts\":2}", 2, 0);
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		o = outcome(f[i].ex, f[i].code, f[i].sig, f[i].to);
		char name[200], want[300];
		agq_lc_finish(t, &o, NOW, 3600, &d);
		snprintf(name, sizeof name, "%s, attempts left: retry", f[i].what);
		CHECK(took(&d, AGQ_LC_RETRY, "active", "retry") &&
		    !strncmp(d.reason, f[i].what, strlen(f[i].what)), name);
		lc_free(&d);
		agq_lc_finish(spent, &o, NOW, 3600, &d);
		snprintf(want, sizeof want, "%s; out of attempts (2 of 2)",
		    f[i].what);
		snprintf(name, sizeof name, "%s, none left: dead", f[i].what);
		CHECK(took(&d, AGQ_LC_FAILED_DEAD, "active", "dead") &&
		    !strcmp(d.status, "dead") && !strcmp(d.reason, want) &&
		    ev_is(d.ev, "reason", want) && d.next_at_us == -1, name);
		lc_free(&d);
	}

	/* handed back: queue, a new generation, whatever the exit */
	json_t *hb = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":1,"
	    "\"priority\":\"high\"}", 1, 0);
	json_object_set_new(json_array_get(json_object_get(hb, "attempts"), 0),
	    "handed_back", json_true());
	o = outcome(0, -1, SIGTERM, 0);
	o.handback = 1;
	agq_lc_finish(hb, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_HANDBACK, "active", "handback") &&
	    !strcmp(d.status, "handed_back") && d.gen == 2 &&
	    d.lane == agq_task_lane(hb) && !strcmp(d.reason, "handed back by "
	    "a1 (stopping); killed by signal 15 (Terminated)") &&
	    json_integer_value(json_object_get(d.ev, "gen")) == 2,
	    "handback: queue, generation + 1");
	lc_free(&d);
	CHECK(agq_task_attempts_used(hb) == 0, "a handed back attempt is not "
	    "counted");

	/* an agent task: its error and verify_failed */
	json_t *ag = json_pack("{s:s, s:s, s:{s:[s]}}", "status",
	    "verify_failed", "error", "steps failed: make test", "verify",
	    "failed", "make test");
	o = outcome(1, 2, 0, 0);
	o.ag = ag;
	agq_lc_finish(spent, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_VERIFY_DEAD, "active", "dead") &&
	    !strcmp(d.reason, "steps failed: make test") &&
	    d.verify_report == json_object_get(ag, "verify") &&
	    json_array_size(json_object_get(d.ev, "failed_steps")) == 1,
	    "verify_failed, none left: dead, failed steps in the event");
	lc_free(&d);
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_VERIFY_DEAD, "active", "dead"),
	    "verify_failed, attempts left: dead all the same");
	lc_free(&d);
	o.timed_out = 1;
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_RETRY, "active", "retry") && !strncmp(d.reason,
	    "timed out after 5 s;", 20), "verify_failed but timed out: retry");
	lc_free(&d);
	o = outcome(1, 1, 0, 0);
	o.ag = ag;
	json_object_set_new(ag, "status", json_string("failed"));
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_RETRY, "active", "retry") && !strncmp(d.reason,
	    "steps failed: make test; attempt 1 of 3", 39),
	    "an agent's error is the reason's start");
	lc_free(&d);
	json_object_set_new(ag, "status", json_string("done"));
	agq_lc_finish(t, &o, NOW, 3600, &d);
	CHECK(!strncmp(d.reason, "exit 1;", 7), "status done: its error is "
	    "not the reason");
	lc_free(&d);
	/* a final failure (a merge's conflict, merge.h): dead at once only
	 * with agent.json's no_retry and exit 2 */
	json_object_set_new(ag, "status", json_string("merge_failed"));
	json_object_set_new(ag, "error", json_string("conflict: a.txt"));
	static const struct { int code, no_retry, rule; const char *what; }
	    fin[] = {
		{ 2, 0, AGQ_LC_RETRY, "exit 2 without no_retry: retried" },
		{ 2, 1, AGQ_LC_VERIFY_DEAD, "no_retry with exit 2: dead at "
		    "once, the agent's error the reason" },
		{ 1, 1, AGQ_LC_RETRY, "no_retry with exit 1: retried" },
	};
	for (size_t i = 0; i < sizeof fin / sizeof fin[0]; i++) {
		json_object_set_new(ag, "no_retry",
		    json_boolean(fin[i].no_retry));
		o = outcome(1, fin[i].code, 0, 0);
		o.ag = ag;
		agq_lc_finish(t, &o, NOW, 3600, &d);
		CHECK(d.rule == fin[i].rule && (fin[i].rule == AGQ_LC_RETRY ||
		    !strcmp(d.reason, "conflict: a.txt")), fin[i].what);
		lc_free(&d);
	}
	o.ag = NULL;
	json_decref(ag);

	/* a usage or rate limit: parked, the attempt not counted, even with
	 * every attempt spent */
	ag = json_pack("{s:s, s:s, s:s, s:s, s:s}", "status", "throttled",
	    "error", "backend anthropic: HTTP 429: rate limited", "backend",
	    "anthropic", "account", "anthropic@http://x#01234567",
	    "not_before", "2027-01-15T09:00:00Z");
	o = outcome(1, AGQ_LC_THROTTLED_EXIT, 0, 0);
	o.ag = ag;
	json_t *th = task("{\"prompt\":\"x\",\"id\":\"t1\",\"generation\":1,"
	    "\"max_attempts\":1,\"next_attempt_at\":\"2027-01-15T07:00:00Z\"}",
	    1, 0);
	agq_lc_finish(th, &o, NOW, 3600, &d);
	CHECK(took(&d, AGQ_LC_THROTTLE, "active", "throttle") &&
	    !strcmp(d.status, "throttled") && d.to == AGQ_ST_DEFER &&
	    d.not_before_us == NOW + 3600000000LL && d.uncount &&
	    ev_is(d.ev, "until", "2027-01-15T09:00:00.000000Z") &&
	    ev_is(d.ev, "account", "anthropic@http://x#01234567") &&
	    ev_is(d.ev, "backend", "anthropic") && !strcmp(d.reason,
	    "backend anthropic: HTTP 429: rate limited; parked until "
	    "2027-01-15T09:00:00.000000Z (attempt not counted)"),
	    "throttled: defer until its not_before, out of attempts or not");
	agq_lc_apply(th, &d);
	CHECK(agq_task_attempts_used(th) == 0 && !json_object_get(th,
	    "next_attempt_at") && agq_task_time(th, "not_before", 0) ==
	    NOW + 3600000000LL, "throttled: not counted, not_before set");
	lc_free(&d);
	json_object_del(ag, "not_before");
	agq_lc_finish(th, &o, NOW, 3600, &d);
	CHECK(d.rule == AGQ_LC_THROTTLE && d.not_before_us == NOW + 60000000LL,
	    "throttled without a reset time: 60 s");
	lc_free(&d);
	o = outcome(1, 1, 0, 0);
	o.ag = ag;
	agq_lc_finish(th, &o, NOW, 3600, &d);
	CHECK(d.rule != AGQ_LC_THROTTLE, "status throttled, exit 1: not "
	    "parked");
	lc_free(&d);
	o.ag = NULL;
	json_decref(ag);
	json_decref(th);

	/* apply: what the retry changes in the task */
	o = outcome(1, 3, 0, 0);
	draw = 0;
	agq_lc_finish(t, &o, NOW, 3600, &d);
	json_object_set_new(t, "agent", json_string("a1"));
	agq_lc_apply(t, &d);
	CHECK(json_is_null(json_object_get(t, "agent")) &&
	    agq_task_time(t, "next_attempt_at", 0) == NOW + 5000000 &&
	    agq_task_int(t, "generation", 0) == 1, "apply: agent cleared, "
	    "next_attempt_at set, generation kept");
	lc_free(&d);
	json_decref(t);
	json_decref(spent);
	json_decref(hb);
}

/* ---- leases -------------------------------------------------------------- */

static void
test_reclaim(void)
{
	struct agq_lc d;
	json_t *started = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":4,"
	    "\"agent\":\"a1\",\"assigned_at\":\"2027-01-15T07:58:00Z\"}", 1, 1);
	CHECK(agq_task_lease_started(started), "(a started lease)");
	agq_lc_reclaim(started, "a1", "agent a1 is dead", &d);
	CHECK(took(&d, AGQ_LC_RECLAIM, "active", "reclaim") && d.gen == 5 &&
	    d.clear_agent && d.clear_assigned && !d.ev2 &&
	    !strcmp(d.reason, "reclaimed from a1 (agent a1 is dead)") &&
	    ev_is(d.ev, "reason", "agent a1 is dead") &&
	    json_integer_value(json_object_get(d.ev, "gen")) == 5,
	    "reclaim of a started lease, attempts left: queue, generation + 1");
	agq_lc_apply(started, &d);
	CHECK(json_is_null(json_object_get(started, "agent")) &&
	    !json_object_get(started, "assigned_at") &&
	    agq_task_int(started, "generation", 0) == 5,
	    "apply: agent and assigned_at cleared, generation 5");
	lc_free(&d);

	json_t *unstarted = task("{\"cmd\":\"x\",\"id\":\"t2\"}", 0, 0);
	agq_lc_reclaim(unstarted, "a1", "prefetched and not started; agent a2 "
	    "is idle", &d);
	CHECK(took(&d, AGQ_LC_RECLAIM, "active", "reclaim") && d.gen == 1,
	    "reclaim of an unstarted lease: queue, no attempt counted");
	lc_free(&d);

	json_t *spent = task("{\"cmd\":\"x\",\"id\":\"t3\",\"generation\":2,"
	    "\"max_attempts\":2}", 2, 1);
	agq_lc_reclaim(spent, "a1", "agent a1 is dead", &d);
	CHECK(took(&d, AGQ_LC_RECLAIM_DEAD, "active", "reclaim") &&
	    d.to == AGQ_ST_DEAD && !strcmp(d.event2, "dead") &&
	    !strcmp(d.reason, "reclaimed from a1 (agent a1 is dead); out of "
	    "attempts (2 of 2)") && ev_is(d.ev2, "reason", d.reason) &&
	    ev_is(d.ev, "reason", "agent a1 is dead"),
	    "reclaim, no attempts left: dead, reclaim and dead events");
	lc_free(&d);
	agq_lc_reclaim_infra(spent, "a1", "heartbeat older than 3 s", &d);
	CHECK(took(&d, AGQ_LC_RECLAIM_INFRA, "active", "reclaim") &&
	    d.to == AGQ_ST_QUEUE && !d.ev2 && d.gen == 3 && d.clear_agent &&
	    d.clear_assigned && !strcmp(d.reason, "reclaimed from a1 "
	    "(heartbeat older than 3 s); the agent was degraded, attempt not "
	    "counted") && json_is_false(json_object_get(d.ev, "counted")) &&
	    ev_is(d.ev, "reason", "heartbeat older than 3 s"),
	    "reclaim from a degraded agent, no attempts left: queue, not "
	    "counted, never dead");
	lc_free(&d);

	char why[128];
	CHECK(!agq_lc_lease_overdue(unstarted, NOW - 1000000, NOW, 30, why,
	    sizeof why), "a lease within assign_timeout is not overdue");
	CHECK(agq_lc_lease_overdue(unstarted, NOW - 31000000, NOW, 30, why,
	    sizeof why) && !strcmp(why, "leased but not started within 30 s"),
	    "an unstarted lease past assign_timeout is overdue");
	json_t *running = task("{\"cmd\":\"x\",\"id\":\"t5\"}", 1, 1);
	CHECK(!agq_lc_lease_overdue(running, NOW - 31000000, NOW, 30, why,
	    sizeof why), "a started lease is never overdue");
	json_decref(running);
	CHECK(!agq_lc_lease_overdue(unstarted, -1, NOW, 30, why, sizeof why),
	    "a lease of unknown age is not overdue");

	/* interrupted: its end not recorded */
	json_t *left = task("{\"cmd\":\"x\",\"id\":\"t4\",\"generation\":3}", 1,
	    0);
	CHECK(agq_lc_interrupted(left, "a1", &d) == 0, "interrupted, "
	    "attempts left: it runs again");
	CHECK(agq_lc_interrupted(spent, "a1", &d) == 1 &&
	    took(&d, AGQ_LC_INTERRUPTED_DEAD, "active", "dead") &&
	    !strcmp(d.reason, "interrupted; out of attempts (2 of 2)") &&
	    json_integer_value(json_object_get(d.ev, "gen")) == 2 &&
	    d.gen == -1 && !d.clear_agent, "interrupted, none left: dead");
	lc_free(&d);

	agq_lc_no_outdir(left, "a1", "cannot open output directory x: Too "
	    "many levels of symbolic links", &d);
	CHECK(took(&d, AGQ_LC_NO_OUTDIR, "active", "dead") &&
	    !strncmp(d.reason, "cannot open output directory x:", 31) &&
	    ev_is(d.ev, "reason", d.reason), "no output directory: dead");
	lc_free(&d);

	agq_lc_handback_unstarted(left, "a1", &d);
	CHECK(took(&d, AGQ_LC_HANDBACK_UNSTARTED, "active", "handback") &&
	    d.gen == 4 && d.clear_agent && !strcmp(d.reason, "handed back: "
	    "agent stopping before it started") && ev_is(d.ev, "reason",
	    "agent stopping"), "handback before the start: queue, gen + 1");
	lc_free(&d);

	json_decref(started);
	json_decref(unstarted);
	json_decref(spent);
	json_decref(left);
}

static void
test_promote(void)
{
	struct agq_lc d;
	int64_t due;
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\",\"priority\":\"low\","
	    "\"not_before\":\"2027-01-15T08:00:10Z\"}", 0, 0);
	CHECK(agq_lc_promote(t, NOW, &due, &d) == 0 && due == NOW + 10000000,
	    "not_before to come: stays, due then");
	json_object_set_new(t, "next_attempt_at",
	    json_string("2027-01-15T07:59:59Z"));
	CHECK(agq_lc_promote(t, NOW, &due, &d) == 1 &&
	    took(&d, AGQ_LC_PROMOTE, "defer", "promote") &&
	    d.lane == agq_task_lane(t) && !strcmp(d.reason, "due: waiting in "
	    "queue") && ev_is(d.ev, "lane", "low") && ev_is(d.ev, "reason",
	    "next attempt is due"), "next_attempt_at has come (before "
	    "not_before): promoted");
	agq_lc_apply(t, &d);
	CHECK(!json_object_get(t, "next_attempt_at") &&
	    json_object_get(t, "not_before"), "apply: next_attempt_at goes");
	lc_free(&d);
	json_decref(t);
}

/* ---- the operator's actions ---------------------------------------------- */

static void
test_ops(void)
{
	static const char *ops[] = { "cancel", "hold", "release", "retry" };
	static const int states[] = { AGQ_ST_QUEUE, AGQ_ST_DEFER, AGQ_ST_HOLD,
	    AGQ_ST_ACTIVE, AGQ_ST_DONE, AGQ_ST_DEAD, AGQ_ST_BLOCKED };
	/* the rule of each op (row) from each state (column), -1: refused;
	 * only agq-sched moves a blocked task but to cancel it */
	static const int want[4][7] = {
		{ AGQ_LC_CANCEL_QUEUE, AGQ_LC_CANCEL_DEFER, AGQ_LC_CANCEL_HOLD,
		  AGQ_LC_CANCEL_ACTIVE, -1, -1, AGQ_LC_CANCEL_BLOCKED },
		{ AGQ_LC_HOLD_QUEUE, AGQ_LC_HOLD_DEFER, -1, -1, -1, -1, -1 },
		{ -1, -1, AGQ_LC_RELEASE_DUE, -1, -1, -1, -1 },
		{ -1, -1, -1, -1, AGQ_LC_RETRY_DONE, AGQ_LC_RETRY_DEAD, -1 },
	};
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":2}", 1,
	    0);
	struct agq_lc d;
	for (int i = 0; i < 4; i++) {
		for (int s = 0; s < 7; s++) {
			const char *from = agq_state_name(states[s]);
			char name[200], refusal[100];
			int r = agq_lc_op(ops[i], states[s], t, "op", NULL, NOW,
			    &d);
			if (want[i][s] < 0) {
				snprintf(refusal, sizeof refusal, "cannot %s a "
				    "task in %s/", ops[i], from);
				snprintf(name, sizeof name, "%s from %s: "
				    "refused", ops[i], from);
				CHECK(r == -1 && !strcmp(d.reason, refusal) &&
				    !d.ev, name);
				continue;
			}
			snprintf(name, sizeof name, "%s from %s: to %s", ops[i],
			    from, agq_lc_rules[want[i][s]].to);
			CHECK(r == 0 && took(&d, want[i][s], from, ops[i]) &&
			    ev_is(d.ev, "from", from) && ev_is(d.ev, "to",
			    agq_state_name(d.to)) && ev_is(d.ev, "by", "op") &&
			    ev_is(d.ev, "reason", d.reason), name);
			lc_free(&d);
		}
	}

	agq_lc_op("cancel", AGQ_ST_ACTIVE, t, "op", "too slow", NOW, &d);
	CHECK(!strcmp(d.reason, "cancelled by op: too slow") && d.gen == 3 &&
	    d.clear_agent, "cancel of an active task: note, generation + 1");
	lc_free(&d);
	agq_lc_op("cancel", AGQ_ST_QUEUE, t, "op", NULL, NOW, &d);
	CHECK(!strcmp(d.reason, "cancelled by op") && d.gen == -1 &&
	    !d.clear_agent, "cancel of a queued task: generation kept");
	lc_free(&d);
	agq_lc_op("hold", AGQ_ST_DEFER, t, "op", "wait", NOW, &d);
	CHECK(!strcmp(d.reason, "held by op: wait"), "hold: its note");
	lc_free(&d);
	char note[600];
	memset(note, 'n', sizeof note - 1);
	note[sizeof note - 1] = '\0';
	agq_lc_op("hold", AGQ_ST_QUEUE, t, "op", note, NOW, &d);
	CHECK(strlen(d.reason) == 511, "a long note is cut at 511 bytes, as "
	    "ever");
	lc_free(&d);

	/* release: defer while next_attempt_at (else not_before) is to come */
	json_object_set_new(t, "not_before", json_string("2027-01-15T08:00:10Z"));
	agq_lc_op("release", AGQ_ST_HOLD, t, "op", "ignored", NOW, &d);
	CHECK(took(&d, AGQ_LC_RELEASE_LATER, "hold", "release") &&
	    !strcmp(d.reason, "released by op"), "release before not_before: "
	    "defer");
	lc_free(&d);
	json_object_set_new(t, "next_attempt_at",
	    json_string("2027-01-15T07:00:00Z"));
	agq_lc_op("release", AGQ_ST_HOLD, t, "op", NULL, NOW, &d);
	CHECK(took(&d, AGQ_LC_RELEASE_DUE, "hold", "release") &&
	    d.lane == agq_task_lane(t), "release, next_attempt_at past: queue");
	lc_free(&d);

	/* retry: the attempts reset, kept in previous_attempts */
	agq_lc_op("retry", AGQ_ST_DEAD, t, "op", NULL, NOW, &d);
	CHECK(!strcmp(d.reason, "retried by op (attempts reset)"),
	    "retry: its reason");
	agq_lc_apply(t, &d);
	CHECK(json_array_size(json_object_get(t, "attempts")) == 0 &&
	    json_array_size(json_object_get(t, "previous_attempts")) == 1 &&
	    !json_object_get(t, "next_attempt_at") &&
	    !json_object_get(t, "not_before") && agq_task_attempts_used(t) == 0,
	    "apply retry: attempts to previous_attempts, due times gone");
	lc_free(&d);
	json_decref(t);
}

/* ---- fencing and re-leasing ---------------------------------------------- */

static void
test_restart(void)
{
	struct agq_lc d;
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\",\"generation\":4,"
	    "\"agent\":\"a1\"}", 1, 1);
	CHECK(agq_task_lease_started(t), "an interrupted lease: started, not "
	    "finished");
	agq_lc_restart(t, "a1", &d);
	CHECK(took(&d, AGQ_LC_RESTART, "active", "restart") && d.gen == 5 &&
	    d.to == AGQ_ST_ACTIVE && !d.clear_agent && ev_is(d.ev, "agent",
	    "a1") && json_integer_value(json_object_get(d.ev, "gen")) == 5 &&
	    json_integer_value(json_object_get(d.ev, "from_gen")) == 4,
	    "restart: stays active, generation + 1, journaled with both");
	CHECK(!agq_lc_stale(t, AGQ_ST_ACTIVE, "a1", "a1", 4), "before the "
	    "restart, generation 4 may record its result");
	agq_lc_apply(t, &d);
	CHECK(agq_task_int(t, "generation", 0) == 5, "apply: generation 5");
	CHECK(agq_lc_stale(t, AGQ_ST_ACTIVE, "a1", "a1", 4) &&
	    strstr(agq_lc_stale(t, AGQ_ST_ACTIVE, "a1", "a1", 4),
	    "generation changed"), "after it, the run of generation 4 is "
	    "fenced out: its result is refused");
	CHECK(!agq_lc_stale(t, AGQ_ST_ACTIVE, "a1", "a1", 5), "the run of "
	    "generation 5 records its result");
	CHECK(agq_lc_stale(t, AGQ_ST_ACTIVE, "a2", "a1", 5) &&
	    agq_lc_stale(t, AGQ_ST_QUEUE, "", "a1", 5), "leased to another "
	    "agent, or not leased: refused");
	lc_free(&d);
	json_decref(t);
}

static void
test_reclaim_held(void)
{
	char who[65];
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\"}", 1, 0);
	CHECK(agq_lc_reclaimed_at(t, who, sizeof who) == -1 && !who[0],
	    "an attempt that ended by itself: no reclaim");
	json_t *last = agq_task_last_attempt(t);
	json_object_set_new(last, "reclaimed", json_true());
	int64_t at = agq_lc_reclaimed_at(t, who, sizeof who);
	CHECK(at == NOW - 30000000 && !strcmp(who, "a1"), "reclaimed while it "
	    "ran: when (its finished) and from whom");
	CHECK(agq_lc_reclaim_held(at, at + 1000000, 0.3, 1),
	    "1 s later, heartbeat 0.3 s, kill_grace 1 s: held");
	CHECK(!agq_lc_reclaim_held(at, at + 1300000, 0.3, 1),
	    "1.3 s later: no longer");
	CHECK(agq_lc_reclaim_held(at, at + 9000000, 5, 5),
	    "heartbeat 5 s, kill_grace 5 s: held 10 s");
	CHECK(!agq_lc_reclaim_held(-1, at, 5, 5), "never reclaimed: not held");
	json_decref(t);
}

/* agq-edit and agq-prio: the task stays in its state, the reason kept. */
static void
test_keep(void)
{
	static const int states[] = { AGQ_ST_QUEUE, AGQ_ST_DEFER, AGQ_ST_HOLD,
	    AGQ_ST_ACTIVE, AGQ_ST_DONE, AGQ_ST_DEAD };
	json_t *t = task("{\"cmd\":\"x\",\"id\":\"t1\",\"priority\":\"high\","
	    "\"reason\":\"held by op\"}", 0, 0);
	json_t *fields = json_pack("[s]", "title");
	struct agq_lc d;
	for (int s = 0; s < 6; s++) {
		int from = states[s], ok = from == AGQ_ST_QUEUE ||
		    from == AGQ_ST_HOLD;
		int r = agq_lc_keep("edit", from, t, "op", fields, &d);
		char name[128];
		snprintf(name, sizeof name, "edit from %s: %s",
		    agq_state_name(from), ok ? "kept there" : "refused");
		if (!ok) {
			char want[64];
			snprintf(want, sizeof want, "cannot edit a task in %s/",
			    agq_state_name(from));
			CHECK(r == -1 && !d.ev && !strcmp(d.reason, want), name);
			continue;
		}
		CHECK(r == 0 && took(&d, from == AGQ_ST_QUEUE ?
		    AGQ_LC_EDIT_QUEUE : AGQ_LC_EDIT_HOLD, agq_state_name(from),
		    "edit") && d.to == from && !strcmp(d.reason, "held by op") &&
		    json_equal(json_object_get(d.ev, "fields"), fields) &&
		    ev_is(d.ev, "lane", "high") && ev_is(d.ev, "by", "op"),
		    name);
		lc_free(&d);
	}
	CHECK(agq_lc_keep("prio", AGQ_ST_QUEUE, t, "op", NULL, &d) == 0 &&
	    took(&d, AGQ_LC_PRIO_QUEUE, "queue", "prio") &&
	    d.lane == AGQ_HIGH && !json_object_get(d.ev, "fields"),
	    "prio of a queued task: to the lane of its priority");
	lc_free(&d);
	CHECK(agq_lc_keep("prio", AGQ_ST_HOLD, t, "op", NULL, &d) == 0 &&
	    took(&d, AGQ_LC_PRIO_HOLD, "hold", "prio") && d.lane == -1,
	    "prio of a held task: it stays in hold/");
	lc_free(&d);
	CHECK(agq_lc_keep("prio", AGQ_ST_DONE, t, "op", NULL, &d) == -1 &&
	    !strcmp(d.reason, "cannot move a task in done/ to another lane"),
	    "prio of a done task: refused");
	json_decref(fields);
	json_decref(t);
}

/* The review event of a review task's verdict (agq_lc_review_event). */
static void
test_review_event(void)
{
	json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", "p-r2-1",
	    "kind", "review", "parent", "p", "pr", "pr-00", "round", 2, "head",
	    "abc");
	json_t *ag = json_pack("{s:s, s:{s:s, s:[s, s], s:s}, s:s}", "status",
	    "done", "verdict", "verdict", "request_changes", "comments",
	    "add a test", "say why", "head", "abc", "forge_review", "COMMENT");
	json_t *ev = agq_lc_review_event(t, ag, "a1");
	json_t *want = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}",
	    "parent", "p", "pr", "pr-00", "round", 2, "head", "abc", "verdict",
	    "request_changes", "comments", "add a test\n\nsay why", "agent",
	    "a1", "forge_review", "COMMENT");
	CHECK(ev && json_equal(ev, want), "review: the event of a verdict, "
	    "comments joined, the forge's event");
	json_decref(want);
	json_decref(ev);
	/* 4 KiB of comments at most, never cut inside a character */
	char big[5000];
	memset(big, 'x', sizeof big);
	strcpy(big + 4094, "\xc3\xa9\xc3\xa9");   /* é at bytes 4094 and 4096 */
	json_object_set_new(json_object_get(ag, "verdict"), "comments",
	    json_pack("[s]", big));
	ev = agq_lc_review_event(t, ag, "a1");
	const char *c = json_string_value(json_object_get(ev, "comments"));
	CHECK(c && strlen(c) == 4096 && !strcmp(c + 4094, "\xc3\xa9"),
	    "review: comments cut at 4096 bytes after a whole character");
	json_decref(ev);
	big[4094] = 'x';        /* é at 4095: cut before it */
	strcpy(big + 4095, "\xc3\xa9");
	json_object_set_new(json_object_get(ag, "verdict"), "comments",
	    json_pack("[s]", big));
	ev = agq_lc_review_event(t, ag, "a1");
	c = json_string_value(json_object_get(ev, "comments"));
	CHECK(c && strlen(c) == 4095, "review: never inside a character");
	json_decref(ev);
	json_object_del(ag, "verdict");
	CHECK(!agq_lc_review_event(t, ag, "a1"), "review: no verdict, no event");
	json_object_set_new(ag, "verdict", json_pack("{s:s}", "verdict",
	    "approve"));
	json_object_del(t, "kind");
	CHECK(!agq_lc_review_event(t, ag, "a1"), "review: not a review task, "
	    "no event");
	json_decref(ag);
	json_decref(t);
}

int
main(void)
{
	test_table();
	test_restart();
	test_reclaim_held();
	test_finish();
	test_reclaim();
	test_promote();
	test_ops();
	test_keep();
	test_review_event();
	DONE();
}
