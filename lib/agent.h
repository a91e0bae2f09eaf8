/*
 * agent.h - agent.c: agent registrations (agents/NAME.json).
 *
 * Reading and writing agent files, liveness and load.  Uses util, task and
 * spool.
 */
#ifndef AGQ_AGENT_H
#define AGQ_AGENT_H

#include <stdint.h>
#include <jansson.h>
#include "spool.h"

/* Read agents/NAME.json; NULL with errno (ENOENT when not registered,
 * EBADMSG when unparsable). */
json_t *agq_agent_read(const struct agq_spool *sp, const char *name);

/* The registration NAME in directory DIR of spool SP ("agents",
 * "endpoints"): agq_json_read_object of ROOT/DIR/NAME.json, at most 1 MiB.
 * A new reference, or NULL with errno as there, or EINVAL when NAME is
 * not a valid name (agq_agent_name_valid: [A-Za-z0-9._-]{1,64},
 * agq-spool(5)). */
json_t *agq_registration_read(const struct agq_spool *sp, const char *dir,
                              const char *name);

/* Write agents/NAME.json atomically (tmp + rename; not fsynced: a lost
 * heartbeat is harmless, the next one replaces it). */
int agq_agent_write(const struct agq_spool *sp, json_t *agent);

/* How many of its own heartbeat intervals an agent's lease lasts at the
 * least: a lease shorter than that declares a healthy agent dead between
 * two heartbeats (agq-sched(8), "Leases and heartbeats"). */
#define AGQ_LEASE_BEATS 3

/* The effective lease of AGENT (agents/NAME.json) in seconds: the
 * configured LEASE_S (agq.conf lease, agq-sched --lease), raised to
 * AGQ_LEASE_BEATS times the agent's own "heartbeat_s" when that is more.
 * An agent file without a positive "heartbeat_s" (NULL, or written by an
 * older agq-run) gets LEASE_S.  The one rule of liveness: agq-sched,
 * agq-status, agq-fsck and agq-doctor all use it (through
 * agq_agent_alive).  agq-sched(8), "Leases and heartbeats". */
double agq_agent_lease_s(const json_t *agent, double lease_s);

/* 1 if AGENT's "heartbeat" is younger than its effective lease
 * (agq_agent_lease_s of LEASE_S, seconds) at NOW_US (microseconds) and its
 * state is not "down"; else 0. */
int agq_agent_alive(const json_t *agent, int64_t now_us, double lease_s);

/* The last sign of life of agent file A (microseconds since the epoch):
 * the later of its "heartbeat" and, unless its state is "offline" or
 * "down" (written by another program), the mtime of agents/NAME.json.
 * An agent that cannot rewrite its file (ENOSPC, EIO: agq-run(8), "A
 * full disk") touches it instead (agq_agent_touch).  -1 when neither is
 * known. */
int64_t agq_agent_beat_us(const struct agq_spool *sp, const json_t *a);

/* agq_agent_alive with agq_agent_beat_us's time: 1 if A's state is not
 * "down" and its last sign of life is younger than its effective lease
 * (agq_agent_lease_s of LEASE_S) at NOW_US.
 * How agq-sched tells a degraded agent from a dead one. */
int agq_agent_alive_touched(const struct agq_spool *sp, const json_t *a,
                            int64_t now_us, double lease_s);

/* 1 if A is degraded at NOW_US (agq-run(8), "A full disk"): alive
 * (agq_agent_alive_touched) and either its state says "degraded" or
 * only the touched mtime keeps it alive.  Else 0. */
int agq_agent_degraded(const struct agq_spool *sp, const json_t *a,
                       int64_t now_us, double lease_s);

/* Set the mtime of agents/NAME.json to now (utimensat(2)): a heartbeat
 * that needs no free block, for an agent that cannot rewrite its file.
 * 0, or -1 with errno (ENOENT: not registered; EROFS). */
int agq_agent_touch(const struct agq_spool *sp, const char *name);

/* Number of task files in active/NAME/ (-1 on error other than ENOENT). */
int agq_agent_load(const struct agq_spool *sp, const char *name);

#endif
