/*
 * agent.h - agent.c: agent registrations (agents/NAME.json).
 *
 * Reading and writing agent files, liveness and load, the spool's clock
 * (.clock-probe), claiming a name.  Uses util, task and spool.
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
 * state is not "down"; else 0.  The agent's own clock against NOW_US:
 * for a reader on the agent's host only; liveness across hosts is
 * agq_agent_alive_touched. */
int agq_agent_alive(const json_t *agent, int64_t now_us, double lease_s);

/* The last sign of life of agent file A (microseconds since the epoch):
 * the mtime of agents/NAME.json, which the file server set when the
 * agent rewrote or touched it (agq_agent_touch; agq-sched keeps it when
 * it marks the file offline).  Its "heartbeat" field, the agent's own
 * clock, is not read.  -1 when the file cannot be stat(2)ed. */
int64_t agq_agent_beat_us(const struct agq_spool *sp, const json_t *a);

/* agq_agent_live of A with its mtime (agq_agent_beat_us): 1 if A's state
 * is not "down" and its last sign of life is younger than its effective
 * lease (agq_agent_lease_s of LEASE_S) at NOW_US, the server's clock
 * (agq_server_now_us).  How agq-sched, agq-status, agq-fsck tell a live
 * agent from a dead one. */
int agq_agent_alive_touched(const struct agq_spool *sp, const json_t *a,
                            int64_t now_us, double lease_s);

/* 1 if A is degraded at NOW_US (agq-run(8), "A full disk"): alive
 * (agq_agent_alive_touched) and either its state says "degraded" or
 * it was only touched, not rewritten, for longer than its lease
 * (agq_agent_touched_only).  Else 0. */
int agq_agent_degraded(const struct agq_spool *sp, const json_t *a,
                       int64_t now_us, double lease_s);

/* Set the mtime of agents/NAME.json to now (utimensat(2)): a heartbeat
 * that needs no free block, for an agent that cannot rewrite its file.
 * 0, or -1 with errno (ENOENT: not registered; EROFS). */
int agq_agent_touch(const struct agq_spool *sp, const char *name);

/* Number of task files in active/NAME/ (-1 on error other than ENOENT). */
int agq_agent_load(const struct agq_spool *sp, const char *name);

/* ---- liveness across hosts (agq-sched(8), "Leases and heartbeats") ----
 * An agent's sign of life is the mtime of agents/NAME.json, which the file
 * server sets (a rewrite, then utimensat(2) with NULL times: "set to the
 * current time", the server's on NFS, RFC 8881 18.30 SET_TO_SERVER_TIME4).
 * A reader judges its age against the server's clock too: the mtime of
 * the spool's .clock-probe, touched the same way just before, never its
 * own wall clock against another host's. */

/* Touch ROOT/.clock-probe (created 0644 if missing) with utimensat(2)
 * NULL times and store its mtime, the file server's "now", in *NOW_US
 * (microseconds since the epoch).  0; or -1 with errno (EACCES, EROFS: a
 * reader who may not write the spool). */
int agq_clock_probe(const struct agq_spool *sp, int64_t *now_us);

/* The file server's clock now (agq_clock_probe), or this host's
 * (agq_now_us) when the probe cannot be touched.  Microseconds. */
int64_t agq_server_now_us(const struct agq_spool *sp);

/* The mtime of agents/NAME.json in microseconds since the epoch (set by
 * the file server), or -1 with errno (ENOENT). */
int64_t agq_agent_mtime_us(const struct agq_spool *sp, const char *name);

/* Pure liveness: 1 if agent file A's state is not "down" and BEAT_US (its
 * mtime, agq_agent_mtime_us; -1 unknown) is younger than its effective
 * lease (agq_agent_lease_s of LEASE_S) at NOW_US (the server's clock,
 * agq_server_now_us).  Else 0.  A BEAT_US of a whole second is taken as
 * the end of that second: a file system may store whole seconds (sshfs,
 * SFTP v3), and a lease must not run out early. */
int agq_agent_live(const json_t *a, int64_t beat_us, int64_t now_us,
                   double lease_s);

/* 1 if agent file A was only touched, not rewritten, for longer than its
 * effective lease: its mtime BEAT_US is more than that past the
 * "heartbeat" it last wrote (agq-run(8), "A full disk").  The one
 * comparison of the agent's own clock with the server's, bounded by
 * clock_skew_max (agq(7)) and far below a lease.  Else 0. */
int agq_agent_touched_only(const json_t *a, int64_t beat_us, double lease_s);

/* This process's identity in agent files: gethostname(2) (agq_hostname),
 * the kernel's boot id (agq_boot_id) and getpid(2).  1 if agent file A
 * names this host and boot (SAME_KERNEL) and, unless SAME_KERNEL, this
 * pid too; else 0.  Pids are never compared alone: two hosts, or two pid
 * namespaces, can both have pid 3 (issue 20). */
int agq_agent_is_self(const json_t *a, int same_kernel);

/* What agq_agent_claim found at agents/NAME.json before it. */
struct agq_agent_claimed {
	json_t *old;    /* the agent file replaced (a new reference), or NULL:
	                 * none, or one that was not a JSON object */
	int old_alive;  /* it was alive by its mtime (agq_agent_live) */
	int other;      /* it was another host's or boot's (not
	                 * agq_agent_is_self(old, 1)): journal agent_replaced */
};

/* Claim the name of agent file A ("name"; its identity fields host,
 * boot_id, pid this process's) without flock(2), which NFS only emulates:
 * A written in tmp/ and linked(2) to agents/NAME.json.  On EEXIST the
 * file there is judged: one of this host and boot (the caller holds the
 * local lock .agent-NAME.lock, so its writer is gone), one not alive at
 * NOW_US by its mtime (the server's clock, LEASE_S as agq_agent_live),
 * or one that is not a JSON object is moved away (renamed to tmp/, its
 * inode checked to be the one judged, else put back) and the link tried
 * again; a live one of another host or boot keeps the name.  Returns 0,
 * *OUT filled (OUT->old to json_decref); or -1 with errno: EEXIST (the
 * name is taken: OUT->old is the holder's file), or that of the write or
 * link (ENOSPC, EACCES...).  agq-run(8), "One name, one agent". */
int agq_agent_claim(const struct agq_spool *sp, json_t *a, int64_t now_us,
                    double lease_s, struct agq_agent_claimed *out);

#endif
