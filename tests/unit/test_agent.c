/* Unit tests for lib/agent.c: the effective lease of an agent and its
 * liveness (agq-sched(8), "Leases and heartbeats"). */
#include <stdio.h>
#include <string.h>

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
	DONE();
}
