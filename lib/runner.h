/*
 * runner.h - runner.c: an agent's engine (agq-run(8)).
 *
 * The main loop of agq-run.
 */
#ifndef AGQ_RUNNER_H
#define AGQ_RUNNER_H

#include <jansson.h>
#include "spool.h"

struct agq_run_opts {
	const char *agent;
	json_t *caps;           /* array of strings, borrowed */
	int slots;
	int prefetch;           /* leases taken beyond SLOTS (--prefetch) */
	double heartbeat_s;
	int once;
	json_t *backends;       /* --backend: arrays of strings, borrowed; */
	json_t *endpoints;      /* --endpoint  NULL or empty when not given */
	json_t *models;         /* --model     (agq-run(8), routing) */
	const char *cap_token;  /* --cap-token: the token (captoken.h), 64
	                         * hex digits, put in the agent file; NULL */
	double poll_s;          /* --poll (wake.h agq_waiter_setup): < 0 not
	                         * given, 0 inotify even on a remote spool */
	const char *via;        /* --via ssh://...: the spool over ssh */
	const char *ssh;        /* --ssh, $AGQ_SSH: the ssh(1) to run */
};
/* Run agent O->agent on SP (agq-run(8)).  Returns an exit status. */
int agq_runner(struct agq_spool *sp, const struct agq_run_opts *o);

/* ---- a remote agent on the spool's host (agq-remote(8)) ----
 * The spool operations of an agent whose tasks run on another host, done
 * with the code agq-run's own use (the same start record, fence, result,
 * journal events).  struct runner is opaque. */
struct runner;
struct agq_shep;

/* Register agent O->agent (its name, caps, slots, backends...: O is
 * borrowed for the life of the result) on SP for an agent on HOST
 * (borrowed) with RESOURCES (an object as agq_host_resources' on that
 * host, or NULL: this host's; a reference is taken) in its agent file:
 * its lock .agent-NAME.lock taken (held until
 * agq_remote_agent_close), active/NAME/ made and watched, its agent file
 * claimed across hosts as agq-run claims it (its identity agq-remote's:
 * host, boot_id, pid), written with agent_host HOST and "via": "ssh", and
 * agent_up journaled (mode "remote").  The handle; or NULL, reported,
 * with the exit status in *RC (75: the agent runs already, here or on
 * another host). */
struct runner *agq_remote_agent_open(struct agq_spool *sp,
                                     const struct agq_run_opts *o,
                                     const char *host, json_t *resources,
                                     int *rc);

/* A heartbeat of R's agent, which runs the tasks RUNNING (an array of
 * ids), is DRAINING or not, and has RESOURCES (an object, or NULL: as it
 * last said; a reference is taken): its agent file rewritten.  Returns the ids
 * of RUNNING no longer leased to it (cancelled or reclaimed: to stop), a
 * new array; or NULL when another agent took its name meanwhile (it was
 * judged dead and replaced: agq-run(8) "One name, one agent"), R to be
 * closed. */
json_t *agq_remote_agent_beat(struct runner *R, const json_t *running,
                              int draining, json_t *resources);

/* The next lease of R's agent that is not one of RUNNING (ids), waiting up
 * to WAIT_S seconds for one to come (inotify on active/NAME/, else a scan
 * a second): 1 with its id in ID (65 bytes), or 0. */
int agq_remote_agent_next(struct runner *R, const json_t *running,
                          double wait_s, char *id);

/* Start lease ID as agq-run starts one: its attempt and start record
 * committed (the generation bumped for a lease resumed or made by a bare
 * move), out/ID made with empty stdout and stderr, `start` journaled.
 * 0 with *TASK (a copy, the caller's), *GEN and *ATTEMPT; or -1 (reported:
 * not ours, not valid (rejected), out of attempts (dead/), or the spool
 * cannot be written), with why in WHY (SIZE bytes: the spool's error,
 * strerror(3), when it could not write the start record). */
int agq_remote_agent_start(struct runner *R, const char *id, json_t **task,
                           json_int_t *gen, int *attempt, char *why,
                           size_t size);

/* LEN bytes of BUF written at byte OFF of out/ID/NAME (NAME stdout,
 * stderr or agent.json; OFF 0 truncates it first, an OFF past its end
 * is EINVAL: no hole) if lease ID is still
 * R's agent's with generation GEN: 0; 1 fenced, *WHY the reason (static);
 * -1 with errno, *WHY strerror's. */
int agq_remote_agent_output(struct runner *R, const char *id, json_int_t gen,
                            const char *name, int64_t off, const void *buf,
                            size_t len, const char **why);

/* The end of task ID, run by R's agent under generation GEN: wait(2)
 * STATUS, TIMED_OUT, HANDBACK (stopped to hand it back), NEVER_RAN (why
 * its process ended before its command ran, shep_result's why; NULL or
 * "": it ran), recorded as
 * agq-run records a local one (its attempt closed, result.json, the move,
 * the journal; agent.json read from out/ID).  0 recorded; 1 fenced
 * (agq-run(8) "Fencing": the lease was reclaimed or the generation moved
 * on; `stale` journaled), *WHY the reason; -1 held (the spool cannot be
 * written: send it again), *WHY says so.  *WHY is static. */
int agq_remote_agent_result(struct runner *R, const char *id, json_int_t gen,
                            int status, int timed_out, int handback,
                            const char *never_ran,
                            const char **why);

/* The end of R's connection: on BYE (the agent said goodbye) its agent
 * file says "down" and agent_down is journaled; a lost connection writes
 * nothing (its heartbeat ages: agq-sched(8) reclaims its leases after the
 * lease time).  The lock released, R freed.  NULL is fine. */
void agq_remote_agent_close(struct runner *R, int bye);

/* agq-run --via: a handle to start a task here as agq-run does (its
 * environment, cwd, cmd or agq-attempt, timeout) for SP, the agent's local
 * work directory (its out/ID the tasks' output) with its configuration,
 * and O (both borrowed).  agq_runner_exec hands task T (generation GEN,
 * attempt ATTEMPT, output directory OUTDIR, stdout OFD, stderr EFD) to
 * the shepherd SHEP as job SEQ: 0; the exit status it ends with without
 * having run (126, 127), its reason written to EFD and to WHY (SIZE
 * bytes); or -1 with errno, nothing started. */
struct runner *agq_runner_exec_new(struct agq_spool *sp,
                                   const struct agq_run_opts *o);
int agq_runner_exec(struct runner *R, struct agq_shep *shep, uint64_t seq,
                    const json_t *t, const char *outdir, int ofd, int efd,
                    json_int_t gen, int attempt, char *why, size_t size);
void agq_runner_exec_free(struct runner *R);

#endif
