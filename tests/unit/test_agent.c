/* Unit tests for lib/agent.c: the effective lease of an agent and its
 * liveness (agq-sched(8), "Leases and heartbeats"), by the agent file's
 * mtime against the file server's clock; its identity; claiming a name
 * (agq-run(8), "One name, one agent"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

#define NOW 1800000000000000LL          /* 2027-01-15T08:00:00Z, in us */

/* An agent file with heartbeat_s HB (none when < 0) that beat AGE_S ago. */
static json_t *
agent(double hb, double age_s)
{
	json_t *a = json_pack("{s:s, s:s}", "name", "a1", "state", "busy");
	if (hb >= 0)
		json_object_set_new(a, "heartbeat_s", json_real(hb));
	agq_task_set_time(a, "heartbeat", NOW - (int64_t)(age_s * 1e6));
	return a;
}

int
main(void)
{
	json_t *a = agent(5, 0);
	CHECK(agq_agent_lease_s(a, 2) == 15, "lease 2 s, heartbeat 5 s: the "
	    "lease is 3 heartbeats, 15 s");
	CHECK(agq_agent_lease_s(a, 20) == 20, "a lease over 3 heartbeats is "
	    "kept");
	json_decref(a);
	a = agent(-1, 0);
	CHECK(agq_agent_lease_s(a, 2) == 2, "no heartbeat_s (an older "
	    "agq-run): the configured lease");
	CHECK(agq_agent_lease_s(NULL, 2) == 2, "no agent file: the configured "
	    "lease");
	json_decref(a);

	a = agent(5, 7);
	CHECK(agq_agent_alive(a, NOW, 2), "heartbeat 5 s, 7 s old, lease 2 s: "
	    "alive (its lease is 15 s)");
	json_decref(a);
	a = agent(5, 16);
	CHECK(!agq_agent_alive(a, NOW, 2), "16 s old: dead");
	json_decref(a);
	a = agent(0.3, 2.5);
	CHECK(agq_agent_alive(a, NOW, 3) && !agq_agent_alive(a, NOW, 2),
	    "heartbeat 0.3 s: the configured lease decides");
	json_object_set_new(a, "state", json_string("down"));
	CHECK(!agq_agent_alive(a, NOW, 3), "down: never alive");
	json_decref(a);

	/* by the mtime (server clock), whatever the JSON heartbeat says */
	a = agent(5, 0);
	CHECK(!agq_agent_live(a, NOW - 16000000, NOW, 2), "JSON fresh, mtime "
	    "16 s old, lease 15 s: dead");
	CHECK(agq_agent_live(a, NOW - 14000000, NOW, 2), "mtime 14 s old: "
	    "alive");
	CHECK(!agq_agent_live(a, -1, NOW, 2), "no mtime: dead");
	CHECK(agq_agent_live(a, NOW - 15500000 + 500000, NOW + 500000, 2),
	    "a whole-second mtime 15.5 s old (sshfs: SFTP v3 truncated "
	    "12.9 s to 12 s), lease 15 s: alive, the beat may have been "
	    "as late as the end of its second");
	CHECK(!agq_agent_live(a, NOW - 15000000, NOW + 999999, 2),
	    "... and dead a lease after the end of its second");
	CHECK(!agq_agent_live(a, NOW - 15500001, NOW, 2), "a mtime with "
	    "microseconds 15.5 s old: dead, as before");
	CHECK(!agq_agent_touched_only(a, NOW + 2000000, 2), "mtime 2 s past "
	    "its heartbeat (a skew): rewritten, not degraded");
	CHECK(agq_agent_touched_only(a, NOW + 15000000, 2), "mtime a lease "
	    "past its heartbeat: only touched (degraded)");
	json_decref(a);

	/* identity: host, boot id and pid together */
	a = json_pack("{s:s, s:s, s:s, s:i}", "name", "a1", "host",
	    agq_hostname(), "boot_id", agq_boot_id(), "pid", (int)getpid());
	CHECK(strlen(agq_boot_id()) == 36, "boot id read");
	CHECK(agq_agent_is_self(a, 0) && agq_agent_is_self(a, 1), "self");
	json_object_set_new(a, "pid", json_integer(getpid() + 1));
	CHECK(!agq_agent_is_self(a, 0) && agq_agent_is_self(a, 1), "another "
	    "pid of this kernel");
	json_object_set_new(a, "pid", json_integer(getpid()));
	json_object_set_new(a, "host", json_string("elsewhere"));
	CHECK(!agq_agent_is_self(a, 0) && !agq_agent_is_self(a, 1), "the same "
	    "pid on another host is not this process");
	json_object_set_new(a, "host", json_string(agq_hostname()));
	json_object_set_new(a, "boot_id", json_string("x"));
	CHECK(!agq_agent_is_self(a, 1), "another boot");
	json_decref(a);

	/* claiming a name by link(2) */
	char dir[] = "/tmp/agq-unit-agent-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char root[300], conf[300];
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	FILE *f = fopen(conf, "w");
	fputs("lease = 10\n", f);
	fclose(f);
	struct agq_spool sp;
	CHECK(agq_spool_open(&sp, root, conf) == 0, "spool");
	int64_t now;
	CHECK(agq_clock_probe(&sp, &now) == 0 && now > 0, "the probe made and "
	    "read");
	CHECK(agq_server_now_us(&sp) >= now, "the server's clock");
	struct agq_agent_claimed c;
	json_t *mine = json_pack("{s:s, s:s, s:s, s:i, s:s}", "name", "a1",
	    "host", agq_hostname(), "boot_id", agq_boot_id(), "pid",
	    (int)getpid(), "state", "idle");
	json_t *other = json_deep_copy(mine);
	json_object_set_new(other, "host", json_string("h2"));
	CHECK(agq_agent_claim(&sp, other, now, 10, &c) == 0 && !c.old,
	    "a free name claimed (as host h2)");
	CHECK(agq_agent_claim(&sp, mine, now, 10, &c) < 0 && errno == EEXIST
	    && c.old && !strcmp(json_string_value(json_object_get(c.old,
	    "host")), "h2"), "taken by h2 while alive: EEXIST with the holder");
	json_decref(c.old);
	CHECK(agq_agent_claim(&sp, mine, now + 11000000, 10, &c) == 0 &&
	    c.other && !c.old_alive, "older than the lease: replaced, another "
	    "host's");
	json_decref(c.old);
	json_t *back = agq_agent_read(&sp, "a1");
	CHECK(back && agq_agent_is_self(back, 0), "the new holder's file");
	json_decref(back);
	CHECK(agq_agent_claim(&sp, mine, now, 10, &c) == 0 && c.old_alive &&
	    !c.other, "this host and boot's own earlier file, alive: replaced "
	    "(the caller holds the local lock)");
	json_decref(c.old);
	char p[400];
	snprintf(p, sizeof p, "%s/agents/a1.json", root);
	f = fopen(p, "w");
	fputs("not json", f);
	fclose(f);
	CHECK(agq_agent_claim(&sp, mine, now, 10, &c) == 0 && !c.old,
	    "a file that is not JSON: replaced");
	json_decref(mine);
	json_decref(other);
	agq_spool_close(&sp);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleaned");
	DONE();
}
