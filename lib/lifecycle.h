/*
 * lifecycle.h - lifecycle.c: every decision of a task's lifecycle, in one
 * place (agq-spool(5), "State transitions").
 *
 * Pure functions: they read a task (a validated, normalized JSON object)
 * and facts handed in (the outcome of a run, NOW in microseconds since the
 * epoch, a random draw, the settings) and return a decision (struct
 * agq_lc): where the task goes, the reason, the journal event.  No file,
 * no journal, no clock and no random source is touched: the callers
 * (runner.c, lease.c, ctl.c, sched.c) do the I/O the decision asks for.
 *
 * The transitions are a table (agq_lc_rules): every decision names the
 * row it takes, and tests/unit/test_lifecycle.c checks the table against
 * the one in man/agq-spool.5 and every decision against its row.
 * Uses util, task and spool (the state names).
 */
#ifndef AGQ_LIFECYCLE_H
#define AGQ_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The rows of the transition table, in the order of agq-spool(5)'s. */
enum agq_lc_rule_id {
	AGQ_LC_SUBMIT, AGQ_LC_SUBMIT_DEFER,
	AGQ_LC_SUBMIT_HELD,     /* agq-submit --hold (spool.c's delivery) */
	AGQ_LC_ACCEPT, AGQ_LC_ACCEPT_DEFER, AGQ_LC_ACCEPT_REJECT,
	AGQ_LC_PROMOTE, AGQ_LC_ASSIGN,
	AGQ_LC_RECLAIM, AGQ_LC_RECLAIM_DEAD, AGQ_LC_RECLAIM_INFRA,
	AGQ_LC_DONE, AGQ_LC_RETRY, AGQ_LC_FAILED_DEAD, AGQ_LC_VERIFY_DEAD,
	AGQ_LC_INTERRUPTED_DEAD, AGQ_LC_RESTART, AGQ_LC_NO_OUTDIR,
	AGQ_LC_HANDBACK,
	AGQ_LC_HANDBACK_UNSTARTED, AGQ_LC_THROTTLE,
	AGQ_LC_HOLD_QUEUE, AGQ_LC_HOLD_DEFER,
	AGQ_LC_RELEASE_DUE, AGQ_LC_RELEASE_LATER,
	AGQ_LC_CANCEL_QUEUE, AGQ_LC_CANCEL_DEFER, AGQ_LC_CANCEL_HOLD,
	AGQ_LC_CANCEL_ACTIVE,
	AGQ_LC_RETRY_DEAD,
	AGQ_LC_REJECT_QUEUE, AGQ_LC_REJECT_DEFER, AGQ_LC_REJECT_ACTIVE,
	AGQ_LC_RETRY_DONE,
	AGQ_LC_EDIT_QUEUE, AGQ_LC_EDIT_HOLD, AGQ_LC_PRIO_QUEUE, AGQ_LC_PRIO_HOLD,
	AGQ_LC_CLEAN_DONE, AGQ_LC_CLEAN_DEAD,
	/* review and approval (issue 18: agq-run, review.c, agq-pr) */
	AGQ_LC_REVIEW_WAIT, AGQ_LC_APPROVAL_PUSH,
	AGQ_LC_REVIEW_CHANGES, AGQ_LC_REVIEW_CONFLICT, AGQ_LC_REVIEW_DEAD,
	AGQ_LC_REVIEW_APPROVAL, AGQ_LC_REVIEW_DONE,
	AGQ_LC_APPROVE_PUSH, AGQ_LC_APPROVE_MERGE, AGQ_LC_DENY,
	AGQ_LC_CLOSE_REVIEW, AGQ_LC_CLOSE_APPROVAL,
	AGQ_LC_APPROVAL_DONE, AGQ_LC_APPROVAL_DEAD,
	AGQ_LC_REVIEW_HEAD,
	/* dependencies (issue 19: agq-submit, deps.c, agq-cancel) */
	AGQ_LC_SUBMIT_BLOCKED, AGQ_LC_SUBMIT_DEP_DEAD, AGQ_LC_SUBMIT_DEP_HOLD,
	AGQ_LC_DEP_RELEASE, AGQ_LC_DEP_RELEASE_DEFER, AGQ_LC_DEP_CANCEL,
	AGQ_LC_DEP_HOLD, AGQ_LC_CANCEL_BLOCKED,
	AGQ_LC_RETRY_BLOCKED,   /* agq-retry, a parent not done (ctl.c) */
	AGQ_LC_NRULES
};

/* One row: FROM --EVENT--> TO, made BY a program.  FROM and TO are state
 * names (agq_state_name) or "(new)", "inbox", "corrupt", "archive"; EVENT is the
 * journal event that records it (agq-journal(5)).  Static strings. */
struct agq_lc_rule {
	const char *from, *event, *to, *by;
};

/* The table, AGQ_LC_NRULES rows indexed by enum agq_lc_rule_id. */
extern const struct agq_lc_rule agq_lc_rules[AGQ_LC_NRULES];

/* A decision.  Filled by the agq_lc_* functions below; the changes to the
 * task's own fields are made by agq_lc_apply. */
struct agq_lc {
	int rule;               /* enum agq_lc_rule_id taken */
	int to;                 /* AGQ_ST_* the task moves to */
	int lane;               /* its lane when TO is AGQ_ST_QUEUE, else -1 */
	const char *event;      /* journal event (agq_lc_rules[rule].event) */
	const char *status;     /* result.json "status" (finish only), static */
	char reason[800];       /* the task's "reason" after the move (a
	                         * refused action: why), NUL-terminated */
	json_t *ev;             /* the event's body: a new reference, the
	                         * caller's to journal (agq_lc_record) or
	                         * json_decref; NULL when refused */
	const char *event2;     /* a second event (`dead` after `reclaim`) */
	json_t *ev2;            /* its body, likewise, or NULL */
	/* changes to the task (agq_lc_apply), in this order: */
	json_int_t gen;         /* the new generation, or -1: unchanged */
	int clear_agent;        /* "agent" set to null */
	int clear_assigned;     /* "assigned_at" removed */
	int64_t next_at_us;     /* "next_attempt_at" set to it (us), or -1 */
	int clear_due;          /* "next_attempt_at" (and, when 2, also
	                         * "not_before") removed */
	int reset_attempts;     /* "attempts" appended to
	                         * "previous_attempts" and emptied */
	const json_t *verify_report; /* borrowed: set as "verify_report" */
	int64_t delay_us;       /* the retry's backoff (us), else 0 */
	int64_t not_before_us;  /* "not_before" set to it (us) and
	                         * "next_attempt_at" removed, or -1 */
	int uncount;            /* the last attempt marked "throttled":
	                         * not counted (agq_task_attempts_used) */
	/* a coder task stopping at a gate (AGQ_LC_REVIEW_WAIT,
	 * AGQ_LC_APPROVAL_PUSH): "pr", "head", "approval_for" set from
	 * these when not NULL (borrowed: the outcome's agent.json), "round"
	 * when > 0; "review_feedback" and "update_from_base" removed (the
	 * round's feedback is spent) when gate_clear */
	const char *gate_pr, *gate_head, *gate_for;
	json_int_t gate_round;
	int gate_clear;
};

/* D cleared and set to take RULE (enum agq_lc_rule_id) to state TO
 * (AGQ_ST_*), in LANE when TO is AGQ_ST_QUEUE (else -1): its event the
 * rule's, no change to the task yet (gen, next_at_us, not_before_us -1).
 * For the deciders outside this file (review.c); the caller fills in the
 * reason, the event's body and the changes. */
void agq_lc_init(struct agq_lc *d, int rule, int to, int lane);

/* Make the changes of D to the task T (no I/O).  D's ev, ev2 untouched. */
void agq_lc_apply(json_t *t, const struct agq_lc *d);

/* The outcome of one run of a task (runner.c). */
struct agq_lc_outcome {
	const char *agent;      /* the agent that ran it */
	json_int_t gen;         /* the generation it ran as */
	int exited, code;       /* WIFEXITED and WEXITSTATUS (code -1 if not) */
	int sig;                /* WTERMSIG, 0 if not signalled */
	int timed_out;          /* killed for its timeout */
	int handback;           /* stopped by a stopping agent: hand back */
	const char *why;        /* it never ran: why (shep_result), or NULL */
	const json_t *ag;       /* out/ID/agent.json (an agent task), or NULL */
	uint64_t (*random)(void); /* random draws (agq_random), for the
	                         * backoff's jitter: called for a retry only */
};

/* A coder attempt that stopped at a gate (agq-run(8), "Review and
 * approval"): its agent.json says status "review" (pushed, PR opened,
 * the task has review, merge or approval before_merge) or "approval"
 * (committed, not pushed: approval before_push), with "gate": {"round":
 * N, "pr": PRID, "head": SHA}.  agq_lc_finish takes it for an exit 0. */
#define AGQ_LC_GATE_REVIEW "review"
#define AGQ_LC_GATE_APPROVAL "approval"

/* The exit status of an attempt that met a usage or rate limit
 * (agq-attempt, attempt.h), EX_TEMPFAIL: its agent.json has status
 * "throttled", "not_before", "backend" and "account". */
#define AGQ_LC_THROTTLED_EXIT 75

/* What ended the run of O, as words for the reason and result.json:
 * "timed out after N s", "killed by signal N (NAME)", the agent's own
 * error (its status not "done"), "exit N: WHY" for a process that never
 * ran (O's why), else "exit N".  Into BUF (SIZE bytes). */
void agq_lc_what(const json_t *t, const struct agq_lc_outcome *o, char *buf,
                 size_t size);

/* The end of a run of T (active, its last attempt closed with O's facts,
 * so "handed_back" is set on it for a handback), at NOW_US, retry backoff
 * capped at CAP_S seconds: handed back (queue, generation + 1), done
 * (exit 0 in time), or for an exit 0 whose agent.json stopped at a gate
 * (AGQ_LC_GATE_REVIEW: review/, event `review_wait` {agent, gen, pr,
 * round, head, reason, to}; AGQ_LC_GATE_APPROVAL: approval/ with
 * approval_for "push", event `approval_wait` {agent, gen, for, head,
 * reason, to}), dead on verify_failed (the agent's status with exit
 * 2: more attempts would not help) or on exit 2 with agent.json's
 * "no_retry" true (a merge task's conflict, merge.h), retry (defer/ until next_attempt_at)
 * while attempts are left (agq_task_attempts_used < max_attempts), else
 * dead.  Before these, a throttled attempt (exit AGQ_LC_THROTTLED_EXIT
 * with agent.json status "throttled") is parked: defer/ with not_before
 * = its "not_before" (else NOW_US + 60 s), the attempt not counted, the
 * `throttle` event {agent, gen, backend, account, until, reason}, and
 * the account paused (agq_lc_pause).  D->ev is the outcome event's body;
 * d->status result.json's "status".  Rules: agq-run(8), "Finishing a
 * task". */
void agq_lc_finish(const json_t *t, const struct agq_lc_outcome *o,
                   int64_t now_us, int64_t cap_s, struct agq_lc *d);

/* The `review` event of review task T ("kind": "review", agq-task(5))
 * whose attempt by AGENT ended done with agent.json AG holding its
 * "verdict" {verdict, comments, head} (reviewer.h): {parent, pr, round,
 * head, verdict, comments (joined by blank lines: the first 4096 bytes,
 * cut at a character), agent, and forge_review or forge_error when AG
 * has them}, a new object (agq-journal(5)); NULL when T is not a review
 * task or AG has no valid verdict.  agq-run writes AG's verdict into T
 * as T moves to done/ and journals this after the `done` event. */
json_t *agq_lc_review_event(const json_t *t, const json_t *ag,
                            const char *agent);

/* Reclaim of T's lease (active/AGENT/) because of WHY (words): a new
 * generation, the agent cleared; back to its lane, or dead when no
 * attempt is left ("out of attempts (N of M)").  D->ev is the `reclaim`
 * event, d->ev2 the `dead` one or NULL.  Whether a started attempt is
 * closed as reclaimed: agq_task_lease_started(T), asked before any
 * change.  agq-spool(5), "Leases". */
void agq_lc_reclaim(const json_t *t, const char *agent, const char *why,
                    struct agq_lc *d);

/* Reclaim of T's lease from AGENT, which said it was degraded (its
 * spool's storage failing: ENOSPC, EROFS, EIO, agq-run(8) "A full
 * disk") before it fell silent, because of WHY (words): an uncounted
 * hand-back, as throttle's is (the storage failed, not the task): back
 * to its lane with a new generation and the agent cleared, never dead
 * whatever its attempts.  The caller marks a started attempt
 * "handed_back" (not counted, agq_task_attempts_used).  D->ev is the
 * `reclaim` event {agent, gen, reason, counted: false}.  agq-spool(5),
 * "Leases". */
void agq_lc_reclaim_infra(const json_t *t, const char *agent,
                          const char *why, struct agq_lc *d);

/* A lease of AGENT's found started but never finished when it starts the
 * task again (its end was not recorded), its last attempt already closed:
 * 1 and D (dead, "interrupted; out of attempts (N of M)") when no attempt
 * is left, else 0 (it runs again; D untouched). */
int agq_lc_interrupted(const json_t *t, const char *agent, struct agq_lc *d);

/* A lease of AGENT found started but never finished, with attempts left
 * (agq_lc_interrupted returned 0), taken up again by AGENT: a new lease
 * of the same agent, so a new generation (T's + 1), which fences out the
 * interrupted run (AGQ_GENERATION strictly increases with every lease of
 * the task: agq-run(8), "Fencing").  D stays in active/ (no move: the
 * caller applies it, agq_lc_apply, in the start record of the new
 * attempt); D->ev is the `restart` event {agent, gen (the new), from_gen,
 * reason}. */
void agq_lc_restart(const json_t *t, const char *agent, struct agq_lc *d);

/* The fence: may the run of T by AGENT under generation GEN record its
 * result, T being in state STATE (AGQ_ST_*) leased to LEASED_TO (its
 * active/ directory's agent, or "")?  NULL if so; else why not, a static
 * string ("the task is no longer leased to this agent", "the generation
 * changed (the lease was reclaimed or restarted)").  agq-run(8),
 * "Fencing". */
const char *agq_lc_stale(const json_t *t, int state, const char *leased_to,
                         const char *agent, json_int_t gen);

/* When T's last attempt was reclaimed while it ran (its "reclaimed" true):
 * the time of the reclaim (its "finished", us) and its agent's name into
 * AGENT (SIZE bytes); else -1 and AGENT "". */
int64_t agq_lc_reclaimed_at(const json_t *t, char *agent, size_t size);

/* A task reclaimed at RECLAIMED_US (agq_lc_reclaimed_at) from an agent is
 * not leased to that agent again while the reclaimed run's process may
 * still live: its runner sees the lease gone within one of its heartbeat
 * intervals (HEARTBEAT_S, the agent's) and stops it, SIGKILL coming
 * KILL_GRACE_S seconds after the SIGTERM.  1 while NOW_US is before
 * RECLAIMED_US + (HEARTBEAT_S + KILL_GRACE_S) s, else 0 (and 0 when
 * RECLAIMED_US < 0).  agq-sched(8), "Leases and heartbeats". */
int agq_lc_reclaim_held(int64_t reclaimed_us, int64_t now_us,
                        double heartbeat_s, double kill_grace_s);

/* The run of T cannot even start because out/ID cannot be opened (a
 * symbolic link, out/ unusable): dead with REASON, every attempt would
 * fail the same.  */
void agq_lc_no_outdir(const json_t *t, const char *agent, const char *reason,
                      struct agq_lc *d);

/* A lease that stopping AGENT hands back without starting it: back to
 * its lane with a new generation. */
void agq_lc_handback_unstarted(const json_t *t, const char *agent,
                               struct agq_lc *d);

/* A deferred task T at NOW_US: 1 and D (queue, "due: waiting in queue")
 * when next_attempt_at (else not_before) has come, else 0 with *DUE_US
 * set to when it will. */
int agq_lc_promote(const json_t *t, int64_t now_us, int64_t *due_us,
                   struct agq_lc *d);

/* Is the lease of T, timed from AT_US (its assigned_at, or the ctime of
 * a bare move; -1: unknown, never overdue), overdue at NOW_US, with
 * LIMIT_S seconds (assign_timeout) to start it?  1, with WHY (SIZE bytes)
 * "leased but not started within N s", the reason to reclaim it; else 0
 * (a started lease is never).  agq-spool(5), "Leases". */
int agq_lc_lease_overdue(const json_t *t, int64_t at_us, int64_t now_us,
                         double limit_s, char *why, size_t size);

/* The operator action OP ("cancel", "hold", "release" or "retry") on T in
 * state FROM, by user BY with NOTE (or NULL; cancel and hold add it), at
 * NOW_US: 0 and D, or -1 when OP does not apply in FROM, with D->reason
 * the refusal ("cannot hold a task in done/").  D->ev: {from, to, by,
 * reason}, the event named OP.  agq-cancel(1). */
int agq_lc_op(const char *op, int from, const json_t *t, const char *by,
              const char *note, int64_t now_us, struct agq_lc *d);

/* A change of a task T in state FROM that keeps it in its state, made by
 * user BY: OP "prio" (agq-prio(1): T's "priority" already set to its new
 * lane by the caller) or "edit" (agq-edit(1): T already the edited
 * task; FIELDS, a JSON array of the names of the fields changed,
 * borrowed).  Allowed from queue/ (the task goes to the lane of its
 * priority) and hold/ (it stays there).  0 and D, with D->reason T's
 * reason as it is (unchanged) and D->ev {from, to, lane, by, fields (edit
 * only)}, or -1 with D->reason the refusal ("cannot edit a task in
 * done/", "cannot move a task in done/ to another lane").  agq-spool(5),
 * "State transitions". */
int agq_lc_keep(const char *op, int from, const json_t *t, const char *by,
                const json_t *fields, struct agq_lc *d);

#endif
