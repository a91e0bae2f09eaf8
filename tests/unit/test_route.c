/* Unit tests for lib/route.c: agq_route_eval, the routing rules of
 * agq-sched(8), and agq_route_unroutable, why no agent can take a task. */
#include "agq.h"
#include "backend.h"
#include "unit.h"

/* Evaluate; keep the choice's backend in BACKEND and WHY. */
static int
eval(const char *facts, int tier, const char *agent, const json_t *reg,
     char *backend, char *why)
{
	json_t *f = J(facts), *a = J(agent), *ch = NULL;
	int sc = agq_route_eval(f, tier, a, reg, &ch, why, 512);
	backend[0] = '\0';
	if (ch) {
		const char *b = json_string_value(json_object_get(ch, "backend"));
		snprintf(backend, 64, "%s", b ? b : "");
		json_t *ep = json_object_get(ch, "endpoint");
		if (json_is_object(ep))
			snprintf(backend + strlen(backend), 64 - strlen(backend),
			    "@%s", json_string_value(json_object_get(ep, "name")));
	}
	json_decref(ch);
	json_decref(f);
	json_decref(a);
	return sc;
}

/* agq_route_unroutable on JSON texts, WHY 512 bytes. */
static int
unroutable(const char *facts, const char *agents, const json_t *reg,
           int fallback, char *why)
{
	json_t *f = J(facts), *a = J(agents);
	int r = agq_route_unroutable(f, a, reg, fallback, why, 512);
	json_decref(f);
	json_decref(a);
	return r;
}

int
main(void)
{
	json_t *reg = J("{"
	    "\"warm\": {\"name\": \"warm\", \"url\": \"http://w\", \"type\": "
	    "\"ollama\", \"health\": \"healthy\", \"models\": [\"m1\", \"m2\"], "
	    "\"warm\": [\"m1\"]},"
	    "\"cold\": {\"name\": \"cold\", \"url\": \"http://c\", \"type\": "
	    "\"ollama\", \"health\": \"healthy\", \"models\": [\"m1\"], "
	    "\"warm\": []},"
	    "\"sick\": {\"name\": \"sick\", \"url\": \"http://s\", \"type\": "
	    "\"ollama\", \"health\": \"unhealthy\", \"models\": [\"m1\"]},"
	    "\"oai\": {\"name\": \"oai\", \"url\": \"http://o\", \"type\": "
	    "\"openai\", \"health\": \"healthy\", \"models\": []},"
	    "\"ant\": {\"name\": \"ant\", \"url\": \"http://a\", \"type\": "
	    "\"anthropic\", \"health\": \"unhealthy\"},"
	    "\"ant2\": {\"name\": \"ant2\", \"url\": \"http://a2\", "
	    "\"type\": \"anthropic\", \"health\": \"unknown\"}}");
	char b[64], why[512];
	const char *std = "{\"agentish\": true, \"tier\": 1, \"has_cmd\": false, "
	    "\"backend\": null, \"model\": \"m1\"}";
	int s;

	s = eval(std, 1, "{\"name\": \"g\"}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "ollama"), "an agent declaring nothing "
	    "runs a standard task on ollama");
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": null}", 2,
	    "{\"name\": \"g\"}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "anthropic"), "complex defaults to "
	    "anthropic");
	s = eval(std, 1, "{\"backends\": [\"shell\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "no standard backend"), "a shell agent "
	    "cannot take a standard task");
	CHECK(!strcmp(why, "no standard backend (ollama or openai)"),
	    "the reason names the standard tier's backends");
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": null}", 2,
	    "{\"backends\": [\"shell\", \"openai\"]}", reg, b, why);
	CHECK(s < 0 && !strcmp(why, "no complex backend (anthropic or cli)"),
	    "and the complex tier's");
	s = eval("{\"tier\": 0, \"has_cmd\": true, \"backend\": null}", 0,
	    "{\"backends\": [\"ollama\"]}", reg, b, why);
	CHECK(s < 0 && !strcmp(why, "no trivial backend (shell)"),
	    "and the trivial tier's");
	s = eval("{\"tier\": 0, \"has_cmd\": false, \"backend\": null}", 0,
	    "{\"backends\": [\"shell\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "trivial needs a cmd"), "trivial needs a "
	    "cmd");
	s = eval("{\"tier\": 0, \"has_cmd\": true, \"backend\": null}", 0,
	    "{\"backends\": [\"shell\"]}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "shell"), "a trivial cmd task goes to "
	    "shell");
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": null}", 2,
	    "{\"backends\": [\"ollama\", \"cli\"]}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "cli"), "complex goes to cli");

	int warm = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"warm\"]}", reg, b, why);
	CHECK(warm >= 0 && !strcmp(b, "ollama@warm"), "healthy endpoint with "
	    "the model");
	int cold = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"cold\"]}", reg, b, why);
	CHECK(cold >= 0 && warm > cold, "warm scores above cold");
	s = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"cold\", \"warm\"]}", reg, b, why);
	CHECK(!strcmp(b, "ollama@warm"), "the warm one of an agent's "
	    "endpoints");
	int busy = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"warm\"], \"resources\": {\"load1\": 3.0, \"cpus\": 2}}", reg, b,
	    why);
	CHECK(busy >= 0 && busy < warm && busy > cold, "load lowers the "
	    "score, but less than a cold model");
	s = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"sick\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "endpoint sick is unhealthy"),
	    "an unhealthy endpoint is skipped");
	s = eval(std, 1, "{\"backends\": [\"ollama\"], \"endpoints\": "
	    "[\"nope\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "endpoint nope is not registered"),
	    "an unregistered endpoint");
	s = eval("{\"tier\": 1, \"has_cmd\": false, \"backend\": null, "
	    "\"model\": \"m9\"}", 1, "{\"backends\": [\"ollama\"], "
	    "\"endpoints\": [\"warm\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "does not have model m9"), "a model the "
	    "endpoint lacks");
	s = eval(std, 1, "{\"backends\": [\"openai\"], \"endpoints\": "
	    "[\"warm\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "endpoint warm is not openai"), "endpoint "
	    "of another type");
	s = eval(std, 1, "{\"backends\": [\"openai\"], \"endpoints\": "
	    "[\"oai\"], \"models\": [\"m1\"]}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "openai@oai"), "an endpoint without a "
	    "model list: the agent's --model list decides");
	s = eval(std, 1, "{\"backends\": [\"openai\"], \"endpoints\": "
	    "[\"oai\"], \"models\": [\"m2\"]}", reg, b, why);
	CHECK(s < 0, "... and refuses a model not in it");
	s = eval("{\"tier\": 1, \"has_cmd\": false, \"backend\": \"cli\"}", 1,
	    "{\"backends\": [\"ollama\"]}", reg, b, why);
	CHECK(s < 0 && strstr(why, "does not run backend cli"), "a named "
	    "backend the agent lacks");
	s = eval("{\"tier\": 1, \"has_cmd\": false, \"backend\": \"cli\"}", 1,
	    "{\"backends\": [\"ollama\", \"cli\"]}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "cli"), "a named backend the agent has");

	/* agq_route_unroutable: why no agent can ever take a task */
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": "
	    "\"anthropic\", \"model\": \"m\"}", 2, "{\"backends\": "
	    "[\"anthropic\"], \"endpoints\": [\"ant\", \"warm\"]}", reg, b,
	    why);
	CHECK(s < 0 && strstr(why, "endpoint ant is unhealthy"), "an agent "
	    "whose anthropic endpoints are all unhealthy cannot run it");
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": "
	    "\"anthropic\", \"model\": \"m\"}", 2, "{\"backends\": "
	    "[\"anthropic\"], \"endpoints\": [\"ant\", \"ant2\"]}", reg, b,
	    why);
	CHECK(s >= 0 && !strcmp(b, "anthropic@ant2"), "an anthropic endpoint "
	    "not checked yet is called");
	s = eval("{\"tier\": 2, \"has_cmd\": false, \"backend\": null}", 2,
	    "{\"endpoints\": [\"ant2\"]}", reg, b, why);
	CHECK(s >= 0 && !strcmp(b, "anthropic@ant2"), "an agent declaring no "
	    "backend calls its endpoint of the backend's type");
	s = unroutable("{\"agentish\": false, \"tier\": 0, \"has_cmd\": "
	    "true, \"requires\": [\"tpu\"]}", "[{\"name\": \"a\", "
	    "\"capabilities\": [\"gpu\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent has capability tpu"),
	    "a capability no agent has");
	s = unroutable("{\"agentish\": false, \"tier\": 0, \"has_cmd\": "
	    "true, \"requires\": [\"tpu\", \"gpu\"]}", "[{\"name\": \"a\", "
	    "\"capabilities\": [\"gpu\"]}, {\"name\": \"b\", "
	    "\"capabilities\": [\"tpu\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent has every required capability "
	    "(tpu; gpu)"), "capabilities held, but not by one agent");
	s = unroutable("{\"agentish\": false, \"tier\": 0, \"has_cmd\": "
	    "true, \"requires\": [\"gpu\"]}", "[{\"name\": \"a\", "
	    "\"capabilities\": [\"gpu\"]}]", reg, 1, why);
	CHECK(s == 0 && !why[0], "a plain task, a plain agent with the "
	    "capability");
	s = unroutable(std, "[]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent is alive"), "no agent");
	s = unroutable("{\"agentish\": true, \"tier\": 1, \"backend\": "
	    "\"cli\"}", "[{\"name\": \"a\", \"backends\": [\"shell\"]}, "
	    "{\"name\": \"b\", \"backends\": [\"ollama\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent runs backend cli"), "a backend "
	    "nobody runs");
	s = unroutable("{\"agentish\": true, \"tier\": 1, \"model\": "
	    "\"m9\"}", "[{\"name\": \"a\", \"backends\": [\"ollama\"], "
	    "\"models\": [\"m1\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent has model m9"), "a model "
	    "nobody has");
	s = unroutable("{\"agentish\": true, \"tier\": 1, \"model\": "
	    "\"m1\"}", "[{\"name\": \"a\", \"backends\": [\"ollama\"], "
	    "\"endpoints\": [\"sick\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent has a healthy endpoint for it "
	    "(a: endpoint sick is unhealthy)"), "an unhealthy endpoint");
	s = unroutable("{\"agentish\": true, \"tier\": 2}",
	    "[{\"name\": \"a\", \"backends\": [\"ollama\"]}]", reg, 1, why);
	CHECK(s == 0, "complex falls back to standard after route_wait");
	s = unroutable("{\"agentish\": true, \"tier\": 2}",
	    "[{\"name\": \"a\", \"backends\": [\"ollama\"]}]", reg, 0, why);
	CHECK(s == 1 && !strcmp(why, "no agent runs a complex backend "
	    "(anthropic or cli)"), "... not with route_fallback = no");
	s = unroutable("{\"agentish\": true, \"tier\": 1, \"model\": "
	    "\"m9\"}", "[{\"name\": \"a\", \"backends\": [\"shell\"]}, "
	    "{\"name\": \"b\", \"backends\": [\"ollama\"], \"models\": "
	    "[\"m1\"]}]", reg, 1, why);
	CHECK(s == 1 && !strcmp(why, "no agent can run it (a: no standard "
	    "backend (ollama or openai); b: does not offer model m9)"),
	    "mixed reasons: each agent's");

	/* facts */
	json_t *t = J("{\"prompt\": \"refactor\", \"cmd\": \"x\", \"model\": "
	    "\"m\"}");
	json_t *f = agq_route_facts(t);
	CHECK(json_is_true(json_object_get(f, "agentish")) &&
	    json_integer_value(json_object_get(f, "tier")) == 2 &&
	    json_is_true(json_object_get(f, "has_cmd")), "route facts");
	json_decref(f);
	json_decref(t);
	json_decref(reg);
	/* avoid_agent: a hard constraint (a review task and its coder) */
	s = eval("{\"agentish\": true, \"tier\": 1, \"has_cmd\": false, "
	    "\"backend\": null, \"model\": \"m1\", \"avoid_agent\": \"g\"}", 1,
	    "{\"name\": \"g\"}", reg, b, why);
	CHECK(s < 0 && strstr(why, "avoid_agent"), "the agent a task avoids "
	    "cannot take it");
	s = eval("{\"agentish\": true, \"tier\": 1, \"has_cmd\": false, "
	    "\"backend\": null, \"model\": \"m1\", \"avoid_agent\": \"g\"}", 1,
	    "{\"name\": \"h\"}", reg, b, why);
	CHECK(s >= 0, "another agent can");
	json_t *g = json_string("g"), *gk = J("[\"k\", \"g\"]");
	CHECK(agq_route_avoids(g, "g") && !agq_route_avoids(g, "h") &&
	    !agq_route_avoids(NULL, "g"), "agq_route_avoids");
	CHECK(agq_route_avoids(gk, "g") && agq_route_avoids(gk, "k") &&
	    !agq_route_avoids(gk, "h"), "agq_route_avoids: a list");
	json_decref(g);
	json_decref(gk);
	/* unroutable: the avoided agents do not count */
	json_t *two = J("[{\"name\": \"r1\", \"capabilities\": [\"review\"]},"
	    " {\"name\": \"a1\", \"capabilities\": []}]");
	json_t *rv = J("{\"agentish\": false, \"tier\": 0, \"has_cmd\": true, "
	    "\"requires\": [\"review\"], \"avoid_agent\": [\"r1\"]}");
	CHECK(agq_route_unroutable(rv, two, reg, 1, why, sizeof why) == 1 &&
	    !strcmp(why, "no agent has capability review; not counting r1, "
	    "which it must not run on (avoid_agent)"), "unroutable: the only "
	    "agent with the capability is avoided");
	json_object_set_new(rv, "requires", json_array());
	CHECK(agq_route_unroutable(rv, two, reg, 1, why, sizeof why) == 0,
	    "routable: another agent can");
	json_object_set_new(rv, "avoid_agent", J("[\"r1\", \"a1\"]"));
	CHECK(agq_route_unroutable(rv, two, reg, 1, why, sizeof why) == 1 &&
	    !strcmp(why, "every alive agent is one it must not run on "
	    "(avoid_agent: r1, a1)"), "unroutable: every agent avoided");
	json_decref(rv);
	json_decref(two);
	json_t *rt = json_pack("{s:s, s:s}", "cmd", "true", "avoid_agent", "a1");
	json_t *rf = agq_route_facts(rt);
	CHECK(!strcmp(json_string_value(json_object_get(rf, "avoid_agent")),
	    "a1"), "the routing facts carry avoid_agent");
	json_decref(rf);
	json_decref(rt);
	DONE();
}
