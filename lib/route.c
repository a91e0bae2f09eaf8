/*
 * route.c - model-aware routing (agq-sched(8)): which agent, backend,
 * model and endpoint a task goes to, given its tier (agq-classify(1)),
 * what each agent declares (agq-run --backend, --endpoint, --model) and
 * the health of the registered endpoints (agq-registry(1)).
 */

#include <string.h>

#include "util.h"
#include "backends.h"
#include "classify.h"
#include "resources.h"
#include "route.h"
#include "task.h"

json_t *
agq_route_facts(const json_t *t)
{
	const char *b = json_string_value(json_object_get(t, "backend"));
	const char *m = json_string_value(json_object_get(t, "model"));
	json_t *r = json_object_get(t, "requires");
	return json_pack("{s:b, s:i, s:b, s:s?, s:s?, s:o, s:O?, s:O*}",
	    "agentish", agq_task_is_agent(t), "tier", agq_task_tier(t),
	    "has_cmd", json_object_get(t, "cmd") != NULL, "backend", b, "model",
	    m, "requires", json_is_array(r) ? json_incref(r) : json_array(),
	    "avoid_agent", json_object_get(t, "avoid_agent"), "run_on",
	    json_object_get(t, "run_on"));
}

static int
has_str(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

int
agq_route_avoids(const json_t *avoid, const char *agent)
{
	if (!agent)
		return 0;
	if (json_is_string(avoid))
		return !strcmp(json_string_value(avoid), agent);
	return has_str(avoid, agent);
}

/* AVOID (a string or an array of strings) as "a, b" into BUF (SIZE). */
static const char *
avoid_str(const json_t *avoid, char *buf, size_t size)
{
	if (json_is_string(avoid)) {
		snprintf(buf, size, "%s", json_string_value(avoid));
		return buf;
	}
	size_t i, n = 0;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(avoid, i, v)
		if (json_is_string(v) && n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " :
			    "", json_string_value(v));
	return buf;
}

static void
append(char *why, size_t size, const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(why);
	if (n + 3 >= size)
		return;
	if (n)
		n += (size_t)snprintf(why + n, size - n, "; ");
	if (n < size)
		snprintf(why + n, size - n, fmt, a, b ? b : "");
}

/* Why an agent cannot run a task (route_eval's *CAT), for the summary of
 * agq_route_unroutable. */
enum { CAT_OTHER, CAT_BACKEND, CAT_TIER, CAT_MODEL, CAT_ENDPOINT };

/* An endpoint of AGENT's for backend B that is not routed by model
 * (anthropic, or any backend of an agent that declares none): the first
 * registered one of type B that is healthy, else the first whose health
 * is not known yet (a key-less scheduler does not check anthropic's), else
 * NULL with WHY (SIZE bytes) naming the unhealthy ones.  *ANY is set when
 * the agent declares an endpoint of type B at all. */
static json_t *
plain_endpoint(const json_t *agent, const json_t *reg, const char *b,
               int *any, char *why, size_t size)
{
	size_t i;
	json_t *v, *unknown = NULL;
	*any = 0;
	json_array_foreach(json_object_get(agent, "endpoints"), i, v) {
		const char *n = json_string_value(v);
		json_t *ep = n ? json_object_get(reg, n) : NULL;
		const char *type = json_string_value(json_object_get(ep, "type"));
		if (!type || strcmp(type, b))
			continue;
		*any = 1;
		const char *h = json_string_value(json_object_get(ep, "health"));
		if (h && !strcmp(h, "healthy"))
			return ep;
		if (!h || strcmp(h, "unhealthy")) {
			if (!unknown)
				unknown = ep;
		} else {
			append(why, size, "endpoint %s is %s", n, h);
		}
	}
	return unknown;
}

/* The choice of backend B with model M for AGENT: with the endpoint of
 * plain_endpoint when B is a type of endpoint.  NULL when the agent's
 * endpoints of type B are all unhealthy (WHY says which). */
static json_t *
plain_choice(const json_t *agent, const json_t *reg, const char *b,
             const char *m, char *why, size_t size)
{
	const struct agq_backend_def *bd = agq_backend_def(b);
	int any = 0;
	json_t *pe = bd && (bd->flags & AGQ_BACKEND_ENDPOINT) ?
	    plain_endpoint(agent, reg, b, &any, why, size) : NULL;
	if (any && !pe)
		return NULL;
	why[0] = '\0';
	if (pe)
		return json_pack("{s:s, s:s?, s:{s:O, s:O}, s:b}", "backend",
		    b, "model", m, "endpoint", "name", json_object_get(pe,
		    "name"), "url", json_object_get(pe, "url"), "warm", 0);
	return json_pack("{s:s, s:s?, s:n, s:b}", "backend", b, "model", m,
	    "endpoint", "warm", 0);
}

static int
route_eval(const json_t *f, int tier, const json_t *agent, const json_t *reg,
           json_t **choice, char *why, size_t size, int *cat)
{
	*choice = NULL;
	*cat = CAT_OTHER;
	why[0] = '\0';
	const char *explicit = json_string_value(json_object_get(f, "backend"));
	const char *model = json_string_value(json_object_get(f, "model"));
	int has_cmd = json_is_true(json_object_get(f, "has_cmd"));
	const json_t *avoid = json_object_get(f, "avoid_agent");
	const json_t *on = json_object_get(f, "run_on");
	if (json_is_null(on))
		on = NULL;
	const char *name = json_string_value(json_object_get(agent, "name"));
	if (agq_route_avoids(avoid, name)) {
		char who[256];
		agq_errf(why, size, "avoid_agent: the task must not run on %s",
		    avoid_str(avoid, who, sizeof who));
		return -1;
	}
	if (on && !agq_route_avoids(on, name)) {
		char who[256];
		agq_errf(why, size, "run_on: the task runs only on %s",
		    avoid_str(on, who, sizeof who));
		return -1;
	}
	json_t *backends = json_object_get(agent, "backends");
	json_t *amodels = json_object_get(agent, "models");
	double load = agq_host_load(agent);
	int loadpen = load * 1000 > 99999 ? 99999 : (int)(load * 1000);
	if (tier == 0 && !has_cmd && !explicit) {
		agq_errf(why, size, "trivial needs a cmd");
		return -1;
	}
	if (!json_array_size(backends)) {
		/* an agent that declares nothing runs anything */
		const char *b = explicit ? explicit :
		    agq_backend_tier_default(tier);
		if (!(*choice = plain_choice(agent, reg, b, model, why,
		    size))) {
			*cat = CAT_ENDPOINT;
			return -1;
		}
		return 1000000 - loadpen;
	}
	/* the explicit backend, else the first declared one that serves
	 * the tier (the rows of backends.h) */
	const char *b = NULL;
	size_t i;
	json_t *v;
	json_array_foreach(backends, i, v) {
		const char *s = json_string_value(v);
		if (!s)
			continue;
		const struct agq_backend_def *d = agq_backend_def(s);
		if (explicit ? !strcmp(s, explicit) : d && d->tier == tier) {
			b = s;
			break;
		}
	}
	if (!b) {
		char names[256];
		if (explicit) {
			*cat = CAT_BACKEND;
			agq_errf(why, size, "does not run backend %s", explicit);
		} else {
			*cat = CAT_TIER;
			agq_errf(why, size, "no %s backend (%s)",
			    agq_tier_name(tier), agq_backend_names(tier, 0,
			    names, sizeof names));
		}
		return -1;
	}
	if (model && json_array_size(amodels) && !has_str(amodels, model) &&
	    !json_array_size(json_object_get(agent, "endpoints"))) {
		*cat = CAT_MODEL;
		agq_errf(why, size, "does not offer model %s", model);
		return -1;
	}
	json_t *eps = json_object_get(agent, "endpoints");
	const struct agq_backend_def *bd = agq_backend_def(b);
	if (!bd || !(bd->flags & AGQ_BACKEND_ROUTED) ||
	    !json_array_size(eps)) {
		const char *m = model ? model : json_array_size(amodels) ?
		    json_string_value(json_array_get(amodels, 0)) : NULL;
		/* an endpoint of the agent's for a backend not routed by
		 * model (anthropic): its URL is the one called */
		if (!(*choice = plain_choice(agent, reg, b, m, why, size))) {
			*cat = CAT_ENDPOINT;
			return -1;
		}
		return 1000000 - loadpen;
	}
	/* a local model: a healthy endpoint of this agent with the model,
	 * warm ones first */
	json_t *best = NULL;
	int best_warm = -1, other = 0;
	const char *best_model = NULL;
	json_array_foreach(eps, i, v) {
		const char *n = json_string_value(v);
		json_t *ep = n ? json_object_get(reg, n) : NULL;
		if (!ep) {
			append(why, size, "endpoint %s is not registered", n ? n :
			    "?", NULL);
			other = 1;
			continue;
		}
		const char *type = json_string_value(json_object_get(ep, "type"));
		if (!type || strcmp(type, b)) {
			append(why, size, "endpoint %s is not %s", n, b);
			other = 1;
			continue;
		}
		const char *h = json_string_value(json_object_get(ep, "health"));
		if (!h || strcmp(h, "healthy")) {
			append(why, size, "endpoint %s is %s", n, h ? h : "unknown");
			other = 1;
			continue;
		}
		json_t *em = json_object_get(ep, "models");
		json_t *ew = json_object_get(ep, "warm");
		const char *m = model;
		if (m && json_array_size(em) && !has_str(em, m)) {
			append(why, size, "endpoint %s does not have model %s", n, m);
			continue;
		}
		if (m && !json_array_size(em) && json_array_size(amodels) &&
		    !has_str(amodels, m)) {
			append(why, size, "does not offer model %s%s", m, NULL);
			continue;
		}
		if (!m)
			m = json_array_size(ew) ? json_string_value(json_array_get(
			    ew, 0)) : json_array_size(amodels) ? json_string_value(
			    json_array_get(amodels, 0)) : json_string_value(
			    json_array_get(em, 0));
		int warm = m && has_str(ew, m);
		if (warm > best_warm) {
			best = ep;
			best_warm = warm;
			best_model = m;
		}
	}
	if (!best) {
		*cat = other ? CAT_ENDPOINT : CAT_MODEL;
		return -1;
	}
	why[0] = '\0';
	*choice = json_pack("{s:s, s:s?, s:{s:O, s:O}, s:b}", "backend", b,
	    "model", best_model, "endpoint", "name", json_object_get(best,
	    "name"), "url", json_object_get(best, "url"), "warm", best_warm);
	return 1000000 + (best_warm ? 100000 : 0) - loadpen;
}

int
agq_route_eval(const json_t *f, int tier, const json_t *agent,
               const json_t *reg, json_t **choice, char *why, size_t size)
{
	int cat;
	return route_eval(f, tier, agent, reg, choice, why, size, &cat);
}

/* Can any of AGENTS run a task with facts F at TIER (agq_route_eval), the
 * required capabilities aside?  0 if one can; else -1, with WHY (SIZE
 * bytes) the summary of why none can. */
static int
none_can(const json_t *f, int tier, const json_t *agents, const json_t *reg,
         char *why, size_t size)
{
	int cats = 0, n = 0;
	char one[512], all[1024] = "";
	size_t i;
	json_t *a;
	json_array_foreach(agents, i, a) {
		json_t *ch;
		int cat;
		if (!agq_requires_met(json_object_get(f, "requires"),
		    json_object_get(a, "capabilities")))
			continue;
		if (route_eval(f, tier, a, reg, &ch, one, sizeof one, &cat) >=
		    0) {
			json_decref(ch);
			return 0;
		}
		cats |= 1 << cat;
		n++;
		const char *name = json_string_value(json_object_get(a, "name"));
		append(all, sizeof all, "%s: %s", name ? name : "?", one);
	}
	const char *model = json_string_value(json_object_get(f, "model"));
	const char *b = json_string_value(json_object_get(f, "backend"));
	char names[256];
	if (cats == 1 << CAT_BACKEND)
		agq_errf(why, size, "no agent runs backend %s", b);
	else if (cats == 1 << CAT_TIER)
		agq_errf(why, size, "no agent runs a %s backend (%s)",
		    agq_tier_name(tier), agq_backend_names(tier, 0, names,
		    sizeof names));
	else if (cats == 1 << CAT_MODEL && model)
		agq_errf(why, size, "no agent has model %s", model);
	else if (cats == 1 << CAT_ENDPOINT)
		agq_errf(why, size, "no agent has a healthy endpoint for it "
		    "(%s)", all);
	else
		agq_errf(why, size, "no agent can run it (%s)", n ? all :
		    "none has the required capabilities");
	return -1;
}

static int
unroutable_among(const json_t *f, const json_t *agents, const json_t *reg,
                 int fallback, char *why, size_t size)
{
	why[0] = '\0';
	if (!json_array_size(agents)) {
		agq_errf(why, size, "no agent is alive");
		return 1;
	}
	/* each required capability held by some agent, then by one agent */
	json_t *req = json_object_get(f, "requires");
	size_t i, k;
	json_t *c, *a;
	char miss[512] = "";
	json_array_foreach(req, i, c) {
		int held = 0;
		json_array_foreach(agents, k, a)
			if (has_str(json_object_get(a, "capabilities"),
			    json_string_value(c)))
				held = 1;
		if (!held)
			append(miss, sizeof miss, "%s%s",
			    json_string_value(c), NULL);
	}
	if (miss[0]) {
		agq_errf(why, size, "no agent has capability %s", miss);
		return 1;
	}
	int any = 0;
	json_array_foreach(agents, k, a)
		any |= agq_requires_met(req, json_object_get(a,
		    "capabilities"));
	if (!any) {
		char all[512] = "";
		json_array_foreach(req, i, c)
			append(all, sizeof all, "%s%s", json_string_value(c),
			    NULL);
		agq_errf(why, size, "no agent has every required capability "
		    "(%s)", all);
		return 1;
	}
	/* a plain command runs on any agent that declares no backends */
	if (!json_is_true(json_object_get(f, "agentish")))
		json_array_foreach(agents, k, a)
			if (agq_requires_met(req, json_object_get(a,
			    "capabilities")) && !json_array_size(
			    json_object_get(a, "backends")))
				return 0;
	/* the tiers of route_pick (sched.c): a trivial task without cmd is
	 * standard; after route_wait, one tier lower */
	int tier = (int)json_integer_value(json_object_get(f, "tier"));
	int has_cmd = json_is_true(json_object_get(f, "has_cmd"));
	if (tier == 0 && !has_cmd)
		tier = 1;
	if (none_can(f, tier, agents, reg, why, size) == 0)
		return 0;
	char lower[8];
	if (fallback && !json_is_string(json_object_get(f, "backend")) &&
	    tier > 0 && !(tier == 1 && !has_cmd) &&
	    none_can(f, tier - 1, agents, reg, lower, sizeof lower) == 0) {
		why[0] = '\0';
		return 0;
	}
	return 1;
}

int
agq_route_unroutable(const json_t *f, const json_t *agents,
                     const json_t *reg, int fallback, char *why, size_t size)
{
	const json_t *avoid = json_object_get(f, "avoid_agent");
	const json_t *on = json_object_get(f, "run_on");
	if (json_is_null(on))
		on = NULL;
	if (!avoid && !on)
		return unroutable_among(f, agents, reg, fallback, why, size);
	/* the agents the task avoids, or does not run on, are not there for
	 * it */
	json_t *kept = json_array();
	size_t k;
	json_t *a;
	int avoided = 0, elsewhere = 0;
	json_array_foreach(agents, k, a) {
		const char *name = json_string_value(json_object_get(a, "name"));
		if (agq_route_avoids(avoid, name))
			avoided = 1;
		else if (on && !agq_route_avoids(on, name))
			elsewhere = 1;
		else
			json_array_append(kept, a);
	}
	int r = unroutable_among(f, kept, reg, fallback, why, size);
	size_t left = json_array_size(kept);
	json_decref(kept);
	char who[256];
	size_t n = strlen(why);
	if (r && on && !left)
		agq_errf(why, size, "no alive agent is one it runs on (run_on: "
		    "%s)", avoid_str(on, who, sizeof who));
	else if (r && avoided && !left)
		agq_errf(why, size, "every alive agent is one it must not run on "
		    "(avoid_agent: %s)", avoid_str(avoid, who, sizeof who));
	else if (r && avoided && n < size)
		snprintf(why + n, size - n, "; not counting %s, which it must "
		    "not run on (avoid_agent)", avoid_str(avoid, who,
		    sizeof who));
	else if (r && elsewhere && n < size)
		snprintf(why + n, size - n, "; it runs only on %s (run_on)",
		    avoid_str(on, who, sizeof who));
	return r;
}
