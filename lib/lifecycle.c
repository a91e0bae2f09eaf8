/*
 * lifecycle.c - every decision of a task's lifecycle (lifecycle.h): pure
 * functions of the task and the facts handed in, no I/O.  The words
 * (reasons, events) are the ones agq-spool(5), agq-run(8) and
 * agq-journal(5) show; the tests compare many of them byte for byte.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "lifecycle.h"

/* Keep in step with the table in man/agq-spool.5, "State transitions"
 * (tests/unit/test_lifecycle.c compares the two). */
const struct agq_lc_rule agq_lc_rules[AGQ_LC_NRULES] = {
	[AGQ_LC_SUBMIT]         = { "(new)", "submit", "queue", "agq-submit" },
	[AGQ_LC_SUBMIT_DEFER]   = { "(new)", "submit", "defer", "agq-submit" },
	[AGQ_LC_SUBMIT_HELD]    = { "(new)", "submit", "hold", "agq-submit" },
	[AGQ_LC_ACCEPT]         = { "inbox", "accept", "queue", "agq-sched" },
	[AGQ_LC_ACCEPT_DEFER]   = { "inbox", "accept", "defer", "agq-sched" },
	[AGQ_LC_ACCEPT_REJECT]  = { "inbox", "reject", "corrupt", "agq-sched" },
	[AGQ_LC_PROMOTE]        = { "defer", "promote", "queue", "agq-sched" },
	[AGQ_LC_ASSIGN]         = { "queue", "assign", "active", "agq-sched" },
	[AGQ_LC_RECLAIM]        = { "active", "reclaim", "queue", "agq-sched" },
	[AGQ_LC_RECLAIM_DEAD]   = { "active", "reclaim", "dead", "agq-sched" },
	[AGQ_LC_RECLAIM_INFRA]  = { "active", "reclaim", "queue", "agq-sched" },
	[AGQ_LC_DONE]           = { "active", "done", "done", "agq-run" },
	[AGQ_LC_RETRY]          = { "active", "retry", "defer", "agq-run" },
	[AGQ_LC_FAILED_DEAD]    = { "active", "dead", "dead", "agq-run" },
	[AGQ_LC_VERIFY_DEAD]    = { "active", "dead", "dead", "agq-run" },
	[AGQ_LC_INTERRUPTED_DEAD] = { "active", "dead", "dead", "agq-run" },
	[AGQ_LC_RESTART]        = { "active", "restart", "active", "agq-run" },
	[AGQ_LC_NO_OUTDIR]      = { "active", "dead", "dead", "agq-run" },
	[AGQ_LC_HANDBACK]       = { "active", "handback", "queue", "agq-run" },
	[AGQ_LC_HANDBACK_UNSTARTED] = { "active", "handback", "queue",
	                            "agq-run" },
	[AGQ_LC_THROTTLE]       = { "active", "throttle", "defer", "agq-run" },
	[AGQ_LC_HOLD_QUEUE]     = { "queue", "hold", "hold", "agq-hold" },
	[AGQ_LC_HOLD_DEFER]     = { "defer", "hold", "hold", "agq-hold" },
	[AGQ_LC_RELEASE_DUE]    = { "hold", "release", "queue", "agq-release" },
	[AGQ_LC_RELEASE_LATER]  = { "hold", "release", "defer", "agq-release" },
	[AGQ_LC_CANCEL_QUEUE]   = { "queue", "cancel", "dead", "agq-cancel" },
	[AGQ_LC_CANCEL_DEFER]   = { "defer", "cancel", "dead", "agq-cancel" },
	[AGQ_LC_CANCEL_HOLD]    = { "hold", "cancel", "dead", "agq-cancel" },
	[AGQ_LC_CANCEL_ACTIVE]  = { "active", "cancel", "dead", "agq-cancel" },
	[AGQ_LC_RETRY_DEAD]     = { "dead", "retry", "queue", "agq-retry" },
	[AGQ_LC_REJECT_QUEUE]   = { "queue", "reject", "corrupt", "agq-sched" },
	[AGQ_LC_REJECT_DEFER]   = { "defer", "reject", "corrupt", "agq-sched" },
	[AGQ_LC_REJECT_ACTIVE]  = { "active", "reject", "corrupt", "agq-run" },
	[AGQ_LC_RETRY_DONE]     = { "done", "retry", "queue", "agq-retry" },
	[AGQ_LC_EDIT_QUEUE]     = { "queue", "edit", "queue", "agq-edit" },
	[AGQ_LC_EDIT_HOLD]      = { "hold", "edit", "hold", "agq-edit" },
	[AGQ_LC_PRIO_QUEUE]     = { "queue", "prio", "queue", "agq-prio" },
	[AGQ_LC_PRIO_HOLD]      = { "hold", "prio", "hold", "agq-prio" },
	[AGQ_LC_CLEAN_DONE]     = { "done", "clean", "archive", "agq-clean" },
	[AGQ_LC_CLEAN_DEAD]     = { "dead", "clean", "archive", "agq-clean" },
	[AGQ_LC_REVIEW_WAIT]    = { "active", "review_wait", "review",
	                            "agq-run" },
	[AGQ_LC_APPROVAL_PUSH]  = { "active", "approval_wait", "approval",
	                            "agq-run" },
	[AGQ_LC_REVIEW_CHANGES] = { "review", "review_changes", "queue",
	                            "agq-sched" },
	[AGQ_LC_REVIEW_CONFLICT] = { "review", "review_changes", "queue",
	                            "agq-sched" },
	[AGQ_LC_REVIEW_DEAD]    = { "review", "dead", "dead", "agq-sched" },
	[AGQ_LC_REVIEW_APPROVAL] = { "review", "approval_wait", "approval",
	                            "agq-sched" },
	[AGQ_LC_REVIEW_DONE]    = { "review", "done", "done", "agq-sched" },
	[AGQ_LC_APPROVE_PUSH]   = { "approval", "approve", "queue", "agq-pr" },
	[AGQ_LC_APPROVE_MERGE]  = { "approval", "approve", "review", "agq-pr" },
	[AGQ_LC_DENY]           = { "approval", "deny", "dead", "agq-pr" },
	[AGQ_LC_CLOSE_REVIEW]   = { "review", "pr_close", "dead", "agq-pr" },
	[AGQ_LC_CLOSE_APPROVAL] = { "approval", "pr_close", "dead", "agq-pr" },
	[AGQ_LC_APPROVAL_DONE]  = { "approval", "done", "done", "agq-sched" },
	[AGQ_LC_APPROVAL_DEAD]  = { "approval", "dead", "dead", "agq-sched" },
	[AGQ_LC_REVIEW_HEAD]    = { "review", "review_wait", "review",
	                            "agq-sched" },
	[AGQ_LC_SUBMIT_BLOCKED] = { "(new)", "submit", "blocked", "agq-submit" },
	[AGQ_LC_SUBMIT_DEP_DEAD] = { "(new)", "submit", "dead", "agq-submit" },
	[AGQ_LC_SUBMIT_DEP_HOLD] = { "(new)", "submit", "hold", "agq-submit" },
	[AGQ_LC_DEP_RELEASE]    = { "blocked", "release", "queue", "agq-sched" },
	[AGQ_LC_DEP_RELEASE_DEFER] = { "blocked", "release", "defer",
	    "agq-sched" },
	[AGQ_LC_DEP_CANCEL]     = { "blocked", "dep_fail", "dead", "agq-sched" },
	[AGQ_LC_DEP_HOLD]       = { "blocked", "dep_fail", "hold", "agq-sched" },
	[AGQ_LC_CANCEL_BLOCKED] = { "blocked", "cancel", "dead", "agq-cancel" },
	[AGQ_LC_RETRY_BLOCKED]  = { "dead", "retry", "blocked", "agq-retry" },
};

/* The reasons of reclaims and operator actions were made in 512 bytes:
 * a long note or WHY is cut where it always was. */
#define SHORT_REASON 512

/* D, cleared, taking RULE to state TO (lane LANE when TO is the queue). */
static void
take(struct agq_lc *d, int rule, int to, int lane)
{
	memset(d, 0, sizeof *d);
	d->rule = rule;
	d->to = to;
	d->lane = to == AGQ_ST_QUEUE ? lane : -1;
	d->event = agq_lc_rules[rule].event;
	d->gen = -1;
	d->next_at_us = -1;
	d->not_before_us = -1;
}

void
agq_lc_init(struct agq_lc *d, int rule, int to, int lane)
{
	take(d, rule, to, lane);
}

/* {agent, gen, reason}: the body of most of the events below. */
static json_t *
ev_agr(const char *agent, json_int_t gen, const char *reason)
{
	return json_pack("{s:s, s:I, s:s}", "agent", agent, "gen", gen,
	    "reason", reason);
}

/* D's reason made as snprintf(3) FMT would into its first SIZE bytes (at
 * most sizeof d->reason), cut before a character rather than inside one
 * (agq_utf8_trim): a reason quotes an agent's error or a path, and JSON
 * takes only UTF-8. */
static void __attribute__((format(printf, 3, 4)))
lc_reason(struct agq_lc *d, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->reason, size, fmt, ap);
	va_end(ap);
	agq_utf8_trim(d->reason);
}

void
agq_lc_apply(json_t *t, const struct agq_lc *d)
{
	if (d->gen >= 0)
		json_object_set_new(t, "generation", json_integer(d->gen));
	if (d->clear_agent)
		json_object_set_new(t, "agent", json_null());
	if (d->clear_assigned)
		json_object_del(t, "assigned_at");
	if (d->next_at_us >= 0)
		agq_task_set_time(t, "next_attempt_at", d->next_at_us);
	if (d->reset_attempts) {
		json_t *hist = json_object_get(t, "previous_attempts");
		if (!json_is_array(hist)) {
			hist = json_array();
			json_object_set_new(t, "previous_attempts", hist);
		}
		json_array_extend(hist, json_object_get(t, "attempts"));
		json_object_set_new(t, "attempts", json_array());
	}
	if (d->clear_due)
		json_object_del(t, "next_attempt_at");
	if (d->clear_due > 1)
		json_object_del(t, "not_before");
	if (d->not_before_us >= 0) {
		agq_task_set_time(t, "not_before", d->not_before_us);
		json_object_del(t, "next_attempt_at");
	}
	if (d->uncount && agq_task_last_attempt(t))
		json_object_set_new(agq_task_last_attempt(t), "throttled",
		    json_true());
	if (d->verify_report)
		json_object_set(t, "verify_report",
		    (json_t *)d->verify_report);
	static const char *const gk[] = { "pr", "head", "approval_for" };
	const char *gv[] = { d->gate_pr, d->gate_head, d->gate_for };
	for (int i = 0; i < 3; i++)
		if (gv[i])
			json_object_set_new(t, gk[i], json_string(gv[i]));
	if (d->gate_round > 0)
		json_object_set_new(t, "round", json_integer(d->gate_round));
	if (d->gate_clear) {
		json_object_del(t, "review_feedback");
		json_object_del(t, "update_from_base");
	}
}

/* An exit 0 of T whose agent.json AG stopped at a gate
 * (AGQ_LC_GATE_REVIEW, AGQ_LC_GATE_APPROVAL, lifecycle.h): D decided and
 * 1; else 0 (a plain done).  A gate without the PR record or commit it
 * names is no gate. */
static int
finish_gate(const json_t *t, const struct agq_lc_outcome *o,
            struct agq_lc *d)
{
	const char *agst = json_string_value(json_object_get(o->ag, "status"));
	const json_t *g = json_object_get(o->ag, "gate");
	const char *pr = json_string_value(json_object_get(g, "pr"));
	const char *head = json_string_value(json_object_get(g, "head"));
	json_int_t round = agq_task_int(g, "round", 0);
	if (!agst || !head || strlen(head) < 40)
		return 0;
	if (!strcmp(agst, AGQ_LC_GATE_REVIEW) && pr && round > 0) {
		take(d, AGQ_LC_REVIEW_WAIT, AGQ_ST_REVIEW, -1);
		d->status = "review";
		lc_reason(d, sizeof d->reason, "pull request %s under "
		    "review (round %lld) at %.12s", pr, (long long)round, head);
		d->gate_pr = pr;
		d->gate_round = round;
		d->gate_clear = 1;
		d->ev = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "agent",
		    o->agent, "gen", o->gen, "pr", pr, "round", round, "head",
		    head, "reason", d->reason, "to", "review");
	} else if (!strcmp(agst, AGQ_LC_GATE_APPROVAL)) {
		take(d, AGQ_LC_APPROVAL_PUSH, AGQ_ST_APPROVAL, -1);
		d->status = "approval";
		lc_reason(d, sizeof d->reason, "waiting for approval to "
		    "push %.12s (agq pr approve %s)", head, agq_task_id(t));
		d->gate_for = "push";
		d->ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "agent",
		    o->agent, "gen", o->gen, "for", "push", "head", head,
		    "reason", d->reason, "to", "approval");
	} else {
		return 0;
	}
	d->gate_head = head;
	return 1;
}

void
agq_lc_what(const json_t *t, const struct agq_lc_outcome *o, char *buf,
            size_t size)
{
	const char *agst = json_string_value(json_object_get(o->ag, "status"));
	const char *agerr = json_string_value(json_object_get(o->ag, "error"));
	if (o->timed_out)
		snprintf(buf, size, "timed out after %g s",
		    json_number_value(json_object_get(t, "timeout")));
	else if (o->sig)
		snprintf(buf, size, "killed by signal %d (%s)", o->sig,
		    strsignal(o->sig));
	else if (agst && o->exited && agerr && strcmp(agst, "done"))
		snprintf(buf, size, "%s", agerr);
	else if (o->exited && o->why && *o->why)
		snprintf(buf, size, "exit %d: %s", o->code, o->why);
	else
		snprintf(buf, size, "exit %d", o->code);
	agq_utf8_trim(buf);     /* an agent's error or a path, cut to fit */
}

/* A failed run: retried after a backoff while attempts are left (USED of
 * MAX counted), else dead.  WHAT says what ended it. */
static void
failed(const json_t *t, const struct agq_lc_outcome *o, const char *what,
       int64_t now_us, int64_t cap_s, struct agq_lc *d)
{
	int max = (int)agq_task_int(t, "max_attempts", 3);
	int used = agq_task_attempts_used(t);
	if (used >= max) {
		take(d, AGQ_LC_FAILED_DEAD, AGQ_ST_DEAD, -1);
		d->status = "dead";
		lc_reason(d, sizeof d->reason, "%s; out of attempts "
		    "(%d of %d)", what, used, max);
		d->ev = ev_agr(o->agent, o->gen, d->reason);
		return;
	}
	take(d, AGQ_LC_RETRY, AGQ_ST_DEFER, -1);
	d->status = "retry";
	d->delay_us = agq_backoff_draw_us(t, used, cap_s, o->random());
	d->next_at_us = now_us + d->delay_us;
	char t2[32];
	agq_fmt_time(d->next_at_us, t2);
	lc_reason(d, sizeof d->reason, "%s; attempt %d of %d failed, "
	    "next at %s (backoff %.1f s)", what, used, max, t2,
	    (double)d->delay_us / 1e6);
	d->ev = json_pack("{s:s, s:I, s:s, s:s}", "agent", o->agent, "gen",
	    o->gen, "next_attempt_at", t2, "reason", d->reason);
}

/* A run that met a usage or rate limit (agent.json AG, status
 * "throttled"): parked until its reset, the attempt not counted. */
static void
throttled(const struct agq_lc_outcome *o, const json_t *ag, int64_t now_us,
          struct agq_lc *d)
{
	take(d, AGQ_LC_THROTTLE, AGQ_ST_DEFER, -1);
	d->status = "throttled";
	d->uncount = 1;
	int64_t until = agq_task_time(ag, "not_before", 0);
	if (until <= now_us)
		until = now_us + 60 * (int64_t)1000000;
	d->not_before_us = until;
	const char *b = json_string_value(json_object_get(ag, "backend"));
	const char *acct = json_string_value(json_object_get(ag, "account"));
	const char *e = json_string_value(json_object_get(ag, "error"));
	char t2[32];
	agq_fmt_time(until, t2);
	lc_reason(d, sizeof d->reason, "%s; parked until %s (attempt "
	    "not counted)", e ? e : "rate limited", t2);
	d->ev = json_pack("{s:s, s:I, s:s?, s:s?, s:s, s:s}", "agent",
	    o->agent, "gen", o->gen, "backend", b, "account", acct, "until",
	    t2, "reason", e ? e : "rate limited");
}

void
agq_lc_finish(const json_t *t, const struct agq_lc_outcome *o,
              int64_t now_us, int64_t cap_s, struct agq_lc *d)
{
	char what[384];
	agq_lc_what(t, o, what, sizeof what);
	const char *agst = json_string_value(json_object_get(o->ag, "status"));
	const json_t *verify = json_object_get(o->ag, "verify");
	if (o->handback) {
		take(d, AGQ_LC_HANDBACK, AGQ_ST_QUEUE, agq_task_lane(t));
		d->status = "handed_back";
		lc_reason(d, sizeof d->reason, "handed back by %s "
		    "(stopping); %s", o->agent, what);
		d->gen = o->gen + 1;
		d->ev = ev_agr(o->agent, d->gen, d->reason);
	} else if (agst && o->exited && !o->timed_out && o->code ==
	    AGQ_LC_THROTTLED_EXIT && !strcmp(agst, "throttled")) {
		throttled(o, o->ag, now_us, d);
	} else if (o->exited && o->code == 0 && !o->timed_out &&
	    finish_gate(t, o, d)) {
		/* stopped at a gate: review/ or approval/ */
	} else if (o->exited && o->code == 0 && !o->timed_out) {
		take(d, AGQ_LC_DONE, AGQ_ST_DONE, -1);
		d->status = "done";
		lc_reason(d, sizeof d->reason, "exit 0 on %s", o->agent);
		d->ev = ev_agr(o->agent, o->gen, d->reason);
	} else if (agst && o->exited && !o->timed_out && o->code == 2 &&
	    (!strcmp(agst, "verify_failed") ||
	    json_is_true(json_object_get(o->ag, "no_retry")))) {
		/* the steps failed every iteration (or the agent says, with
		 * "no_retry", that its failure is final: a merge's conflict):
		 * more attempts of the same would not help; agq-retry sends
		 * it back */
		take(d, AGQ_LC_VERIFY_DEAD, AGQ_ST_DEAD, -1);
		d->status = "dead";
		lc_reason(d, sizeof d->reason, "%s", what);
		d->verify_report = verify;
		d->ev = json_pack("{s:s, s:I, s:s, s:O?}", "agent", o->agent,
		    "gen", o->gen, "reason", d->reason, "failed_steps",
		    json_object_get(verify, "failed"));
	} else {
		failed(t, o, what, now_us, cap_s, d);
	}
	d->clear_agent = 1;
}

#define REVIEW_EVENT_MAX 4096   /* bytes of comments in a review event */

json_t *
agq_lc_review_event(const json_t *t, const json_t *ag, const char *agent)
{
	const char *kind = json_string_value(json_object_get(t, "kind"));
	const json_t *v = json_object_get(ag, "verdict");
	const char *vs = json_string_value(json_object_get(v, "verdict"));
	if (!kind || strcmp(kind, "review") || !vs)
		return NULL;
	char buf[REVIEW_EVENT_MAX + 1];
	size_t n = 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(v, "comments"), i, c) {
		const char *s = json_string_value(c);
		if (!s)
			continue;
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? "\n\n" :
		    "", s);
		if (n >= sizeof buf - 1) {
			n = sizeof buf - 1;
			break;
		}
	}
	if (n == REVIEW_EVENT_MAX) {    /* cut: not inside a character */
		size_t l = n;
		while (l > 0 && ((unsigned char)buf[l - 1] & 0xc0) == 0x80)
			l--;
		unsigned char lead = l ? (unsigned char)buf[l - 1] : 0;
		size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ?
		    2 : 1;
		if (l > 0 && l - 1 + want > n)
			n = l - 1;
	}
	buf[n] = '\0';
	json_t *ev = json_pack("{s:O?, s:O?, s:O?, s:O?, s:s, s:s%, s:s}",
	    "parent", json_object_get(t, "parent"), "pr", json_object_get(t,
	    "pr"), "round", json_object_get(t, "round"), "head",
	    json_object_get(v, "head"), "verdict", vs, "comments", buf, n,
	    "agent", agent);
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "forge_error" : "forge_review";
		json_t *x = json_object_get(ag, key);
		if (json_is_string(x))
			json_object_set(ev, key, x);
	}
	return ev;
}

void
agq_lc_reclaim(const json_t *t, const char *agent, const char *why,
               struct agq_lc *d)
{
	json_int_t gen = agq_task_int(t, "generation", 0) + 1;
	int max = (int)agq_task_int(t, "max_attempts", 3);
	int used = agq_task_attempts_used(t);
	char reason[SHORT_REASON];
	if (used >= max) {
		take(d, AGQ_LC_RECLAIM_DEAD, AGQ_ST_DEAD, -1);
		snprintf(reason, sizeof reason, "reclaimed from %s (%s); out of "
		    "attempts (%d of %d)", agent, why, used, max);
		d->event2 = "dead";
		d->ev2 = ev_agr(agent, gen, reason);
	} else {
		take(d, AGQ_LC_RECLAIM, AGQ_ST_QUEUE, agq_task_lane(t));
		snprintf(reason, sizeof reason, "reclaimed from %s (%s)", agent,
		    why);
	}
	lc_reason(d, sizeof d->reason, "%s", reason);
	d->ev = ev_agr(agent, gen, why);
	d->gen = gen;
	d->clear_agent = 1;
	d->clear_assigned = 1;
}

void
agq_lc_reclaim_infra(const json_t *t, const char *agent, const char *why,
                     struct agq_lc *d)
{
	take(d, AGQ_LC_RECLAIM_INFRA, AGQ_ST_QUEUE, agq_task_lane(t));
	lc_reason(d, SHORT_REASON, "reclaimed from %s (%s); the "
	    "agent was degraded, attempt not counted", agent, why);
	d->gen = agq_task_int(t, "generation", 0) + 1;
	d->ev = json_pack("{s:s, s:I, s:s, s:b}", "agent", agent, "gen",
	    d->gen, "reason", why, "counted", 0);
	d->clear_agent = 1;
	d->clear_assigned = 1;
}

int
agq_lc_interrupted(const json_t *t, const char *agent, struct agq_lc *d)
{
	int max = (int)agq_task_int(t, "max_attempts", 3);
	int used = agq_task_attempts_used(t);
	if (used < max)
		return 0;
	take(d, AGQ_LC_INTERRUPTED_DEAD, AGQ_ST_DEAD, -1);
	lc_reason(d, sizeof d->reason, "interrupted; out of attempts (%d of %d)",
	    used, max);
	d->ev = ev_agr(agent, agq_task_int(t, "generation", 0), d->reason);
	return 1;
}

void
agq_lc_restart(const json_t *t, const char *agent, struct agq_lc *d)
{
	json_int_t from = agq_task_int(t, "generation", 0);
	take(d, AGQ_LC_RESTART, AGQ_ST_ACTIVE, -1);
	lc_reason(d, sizeof d->reason, "running");
	d->gen = from + 1;
	d->ev = json_pack("{s:s, s:I, s:I, s:s}", "agent", agent, "gen",
	    d->gen, "from_gen", from, "reason", "interrupted run taken up "
	    "again by its agent: a new generation");
}

const char *
agq_lc_stale(const json_t *t, int state, const char *leased_to,
             const char *agent, json_int_t gen)
{
	if (state != AGQ_ST_ACTIVE || strcmp(leased_to, agent))
		return "the task is no longer leased to this agent";
	if (agq_task_int(t, "generation", 0) != gen)
		return "the generation changed (the lease was reclaimed or "
		    "restarted)";
	return NULL;
}

int64_t
agq_lc_reclaimed_at(const json_t *t, char *agent, size_t size)
{
	const json_t *last = agq_task_last_attempt(t);
	const char *a = json_string_value(json_object_get(last, "agent"));
	int64_t at = agq_task_time(last, "finished", -1);
	if (!json_is_true(json_object_get(last, "reclaimed")) || !a || at < 0) {
		if (size)
			agent[0] = '\0';
		return -1;
	}
	snprintf(agent, size, "%s", a);
	return at;
}

int
agq_lc_reclaim_held(int64_t reclaimed_us, int64_t now_us,
                    double heartbeat_s, double kill_grace_s)
{
	return reclaimed_us >= 0 && now_us < reclaimed_us +
	    (int64_t)((heartbeat_s + kill_grace_s) * 1e6);
}

void
agq_lc_no_outdir(const json_t *t, const char *agent, const char *reason,
                 struct agq_lc *d)
{
	take(d, AGQ_LC_NO_OUTDIR, AGQ_ST_DEAD, -1);
	lc_reason(d, sizeof d->reason, "%s", reason);
	d->ev = ev_agr(agent, agq_task_int(t, "generation", 0), d->reason);
}

void
agq_lc_handback_unstarted(const json_t *t, const char *agent,
                          struct agq_lc *d)
{
	take(d, AGQ_LC_HANDBACK_UNSTARTED, AGQ_ST_QUEUE, agq_task_lane(t));
	lc_reason(d, sizeof d->reason, "handed back: agent stopping "
	    "before it started");
	d->gen = agq_task_int(t, "generation", 0) + 1;
	d->clear_agent = 1;
	d->ev = ev_agr(agent, d->gen, "agent stopping");
}

int
agq_lc_lease_overdue(const json_t *t, int64_t at_us, int64_t now_us,
                     double limit_s, char *why, size_t size)
{
	if (at_us < 0 || agq_task_lease_started(t) ||
	    now_us - at_us <= (int64_t)(limit_s * 1e6))
		return 0;
	agq_errf(why, size, "leased but not started within %g s", limit_s);
	return 1;
}

/* When a deferred or held task T is due: next_attempt_at, else
 * not_before, else at once (0). */
static int64_t
due_us(const json_t *t)
{
	return agq_task_time(t, "next_attempt_at",
	    agq_task_time(t, "not_before", 0));
}

int
agq_lc_promote(const json_t *t, int64_t now_us, int64_t *due,
               struct agq_lc *d)
{
	*due = due_us(t);
	if (*due > now_us)
		return 0;
	int lane = agq_task_lane(t);
	take(d, AGQ_LC_PROMOTE, AGQ_ST_QUEUE, lane);
	lc_reason(d, sizeof d->reason, "due: waiting in queue");
	d->clear_due = 1;
	d->ev = json_pack("{s:s, s:s}", "lane", agq_lane_name(lane), "reason",
	    "next attempt is due");
	return 1;
}

/* The row of operator action OP from state FROM, at NOW_US, or -1 when
 * OP does not apply there. */
static int
op_rule(const char *op, int from, const json_t *t, int64_t now_us)
{
	static const struct { const char *op; int from, rule; } rows[] = {
		{ "cancel", AGQ_ST_QUEUE, AGQ_LC_CANCEL_QUEUE },
		{ "cancel", AGQ_ST_DEFER, AGQ_LC_CANCEL_DEFER },
		{ "cancel", AGQ_ST_HOLD, AGQ_LC_CANCEL_HOLD },
		{ "cancel", AGQ_ST_ACTIVE, AGQ_LC_CANCEL_ACTIVE },
		{ "cancel", AGQ_ST_BLOCKED, AGQ_LC_CANCEL_BLOCKED },
		{ "hold", AGQ_ST_QUEUE, AGQ_LC_HOLD_QUEUE },
		{ "hold", AGQ_ST_DEFER, AGQ_LC_HOLD_DEFER },
		{ "release", AGQ_ST_HOLD, AGQ_LC_RELEASE_DUE },
		{ "retry", AGQ_ST_DEAD, AGQ_LC_RETRY_DEAD },
		{ "retry", AGQ_ST_DONE, AGQ_LC_RETRY_DONE },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		if (strcmp(rows[i].op, op) || rows[i].from != from)
			continue;
		if (rows[i].rule == AGQ_LC_RELEASE_DUE && due_us(t) > now_us)
			return AGQ_LC_RELEASE_LATER;
		return rows[i].rule;
	}
	return -1;
}

int
agq_lc_op(const char *op, int from, const json_t *t, const char *by,
          const char *note, int64_t now_us, struct agq_lc *d)
{
	int rule = op_rule(op, from, t, now_us);
	if (rule < 0) {
		memset(d, 0, sizeof *d);
		lc_reason(d, sizeof d->reason, "cannot %s a task in %s/",
		    op, agq_state_name(from));
		return -1;
	}
	int to = agq_state_parse(agq_lc_rules[rule].to);
	take(d, rule, to, agq_task_lane(t));
	const char *sep = note ? ": " : "", *n = note ? note : "";
	if (!strcmp(op, "cancel"))
		lc_reason(d, SHORT_REASON, "cancelled by %s%s%s", by,
		    sep, n);
	else if (!strcmp(op, "hold"))
		lc_reason(d, SHORT_REASON, "held by %s%s%s", by, sep, n);
	else if (!strcmp(op, "release"))
		lc_reason(d, SHORT_REASON, "released by %s", by);
	else
		lc_reason(d, SHORT_REASON, "retried by %s (attempts "
		    "reset)", by);
	if (rule == AGQ_LC_CANCEL_ACTIVE) {
		d->gen = agq_task_int(t, "generation", 0) + 1;
		d->clear_agent = 1;
	}
	if (rule == AGQ_LC_RETRY_DEAD || rule == AGQ_LC_RETRY_DONE) {
		d->reset_attempts = 1;
		d->clear_due = 2;
	}
	d->ev = json_pack("{s:s, s:s, s:s, s:s}", "from", agq_state_name(from),
	    "to", agq_state_name(to), "by", by, "reason", d->reason);
	return 0;
}

int
agq_lc_keep(const char *op, int from, const json_t *t, const char *by,
            const json_t *fields, struct agq_lc *d)
{
	int edit = !strcmp(op, "edit");
	int rule = from == AGQ_ST_QUEUE ? (edit ? AGQ_LC_EDIT_QUEUE :
	    AGQ_LC_PRIO_QUEUE) : from == AGQ_ST_HOLD ? (edit ?
	    AGQ_LC_EDIT_HOLD : AGQ_LC_PRIO_HOLD) : -1;
	if (rule < 0 || (!edit && strcmp(op, "prio"))) {
		memset(d, 0, sizeof *d);
		if (edit)
			lc_reason(d, sizeof d->reason, "cannot edit a "
			    "task in %s/", agq_state_name(from));
		else
			lc_reason(d, sizeof d->reason, "cannot move a "
			    "task in %s/ to another lane", agq_state_name(from));
		return -1;
	}
	int lane = agq_task_lane(t);
	take(d, rule, from, lane);
	const char *r = json_string_value(json_object_get(t, "reason"));
	lc_reason(d, sizeof d->reason, "%s", r ? r : "");
	d->ev = json_pack("{s:s, s:s, s:s, s:s}", "from", agq_state_name(from),
	    "to", agq_state_name(from), "lane", agq_lane_name(lane), "by", by);
	if (edit)
		json_object_set_new(d->ev, "fields", fields ?
		    json_deep_copy(fields) : json_array());
	return 0;
}
