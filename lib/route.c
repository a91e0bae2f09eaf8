/*
 * route.c - model-aware routing (agq-sched(8)): which agent, backend,
 * model and endpoint a task goes to, given its tier (agq-classify(1)),
 * what each agent declares (agq-run --backend, --endpoint, --model) and
 * the health of the registered endpoints (agq-registry(1)).
 */

#include <string.h>

#include "backends.h"
#include "classify.h"
#include "resources.h"
#include "route.h"

json_t *
agq_route_facts(const json_t *t)
{
	const char *b = json_string_value(json_object_get(t, "backend"));
	const char *m = json_string_value(json_object_get(t, "model"));
	return json_pack("{s:b, s:i, s:b, s:s?, s:s?}", "agentish",
	    agq_task_is_agent(t), "tier", agq_task_tier(t), "has_cmd",
	    json_object_get(t, "cmd") != NULL, "backend", b, "model", m);
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

int
agq_route_eval(const json_t *f, int tier, const json_t *agent,
               const json_t *reg, json_t **choice, char *why, size_t size)
{
	*choice = NULL;
	why[0] = '\0';
	const char *explicit = json_string_value(json_object_get(f, "backend"));
	const char *model = json_string_value(json_object_get(f, "model"));
	int has_cmd = json_is_true(json_object_get(f, "has_cmd"));
	json_t *backends = json_object_get(agent, "backends");
	json_t *amodels = json_object_get(agent, "models");
	double load = agq_host_load(agent);
	int loadpen = load * 1000 > 99999 ? 99999 : (int)(load * 1000);
	if (tier == 0 && !has_cmd && !explicit) {
		snprintf(why, size, "trivial needs a cmd");
		return -1;
	}
	if (!json_array_size(backends)) {
		/* an agent that declares nothing runs anything */
		const char *b = explicit ? explicit :
		    agq_backend_tier_default(tier);
		*choice = json_pack("{s:s, s:s?, s:n, s:b}", "backend", b,
		    "model", model, "endpoint", "warm", 0);
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
		if (explicit)
			snprintf(why, size, "does not run backend %s", explicit);
		else
			snprintf(why, size, "no %s backend (%s)",
			    agq_tier_name(tier), agq_backend_names(tier, 0,
			    names, sizeof names));
		return -1;
	}
	if (model && json_array_size(amodels) && !has_str(amodels, model) &&
	    !json_array_size(json_object_get(agent, "endpoints"))) {
		snprintf(why, size, "does not offer model %s", model);
		return -1;
	}
	json_t *eps = json_object_get(agent, "endpoints");
	const struct agq_backend_def *bd = agq_backend_def(b);
	if (!bd || !(bd->flags & AGQ_BACKEND_ROUTED) ||
	    !json_array_size(eps)) {
		const char *m = model ? model : json_array_size(amodels) ?
		    json_string_value(json_array_get(amodels, 0)) : NULL;
		*choice = json_pack("{s:s, s:s?, s:n, s:b}", "backend", b,
		    "model", m, "endpoint", "warm", 0);
		return 1000000 - loadpen;
	}
	/* a local model: a healthy endpoint of this agent with the model,
	 * warm ones first */
	json_t *best = NULL;
	int best_warm = -1;
	const char *best_model = NULL;
	json_array_foreach(eps, i, v) {
		const char *n = json_string_value(v);
		json_t *ep = n ? json_object_get(reg, n) : NULL;
		if (!ep) {
			append(why, size, "endpoint %s is not registered", n ? n :
			    "?", NULL);
			continue;
		}
		const char *type = json_string_value(json_object_get(ep, "type"));
		if (!type || strcmp(type, b)) {
			append(why, size, "endpoint %s is not %s", n, b);
			continue;
		}
		const char *h = json_string_value(json_object_get(ep, "health"));
		if (!h || strcmp(h, "healthy")) {
			append(why, size, "endpoint %s is %s", n, h ? h : "unknown");
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
	if (!best)
		return -1;
	why[0] = '\0';
	*choice = json_pack("{s:s, s:s?, s:{s:O, s:O}, s:b}", "backend", b,
	    "model", best_model, "endpoint", "name", json_object_get(best,
	    "name"), "url", json_object_get(best, "url"), "warm", best_warm);
	return 1000000 + (best_warm ? 100000 : 0) - loadpen;
}
