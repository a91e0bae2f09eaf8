/*
 * route.h - route.c: routing (agq-sched(8)).
 *
 * Uses classify, resources and task (agq_requires_met).
 */
#ifndef AGQ_ROUTE_H
#define AGQ_ROUTE_H

#include <stddef.h>
#include <jansson.h>

/* What routing needs of task T: a new object {agentish (agq_task_is_agent),
 * tier (agq_task_tier), has_cmd, backend (explicit, or absent), model,
 * requires (an array, [] when T has none), avoid_agent (as T has it, or
 * absent)}. */
json_t *agq_route_facts(const json_t *t);

/* 1 if a task whose avoid_agent (agq-task(5), written by agq: on a
 * review task the agents that wrote the change, on a coder task sent back
 * for changes the agents that reviewed it) is AVOID (a string, an array
 * of strings, or NULL: none) must not run on agent AGENT: one of those
 * names.  A hard constraint: agq_route_eval refuses such an agent, and
 * agq-sched assigns no such task to it, plain or agent task.  0
 * otherwise.  The same test says whether AGENT is one of the names of a
 * task's run_on (agq-task(5)), the agents it runs on only. */
int agq_route_avoids(const json_t *avoid, const char *agent);

/* Can AGENT (its agent file) run a task with facts F at TIER, given the
 * endpoints REG (agq_registry_load)?  An agent that declares no backends
 * runs anything (the task's backend, else shell / ollama / anthropic by
 * tier).  Otherwise it needs the task's explicit backend, or for the tier
 * shell (trivial, needs a cmd), ollama or openai (standard), anthropic
 * or cli (complex); for ollama and openai with declared endpoints, one of
 * them registered, of that type, healthy and having the model (its
 * "models", else the agent's --model list), warm ones preferred.
 * For another backend that is a type of endpoint (anthropic; any backend
 * of an agent declaring none), the agent's first declared endpoint of
 * that type is called: a healthy one, else one not checked yet; when all
 * of that type are unhealthy the agent cannot run it; with none of that
 * type, the backend's own URL (agq-backend(7), "Base URLs").
 * Returns -1 with WHY (SIZE bytes) saying why not, or a score (higher is
 * better: warm +100000, minus 1000 x load per CPU) with *CHOICE a new
 * object {backend, model, endpoint {name, url} or null, warm}. */
int agq_route_eval(const json_t *f, int tier, const json_t *agent,
                   const json_t *reg, json_t **choice, char *why,
                   size_t size);

/* Can no agent of AGENTS (an array of agent files, agq_agent_read: the
 * alive ones, busy or not) ever take a task with facts F, the way
 * agq-sched routes it (its requires held by one agent, then
 * agq_route_eval at its tier; with FALLBACK (route_fallback = yes) and no
 * backend named, one tier lower as after route_wait)?  REG is
 * agq_registry_load's.  Returns 0 when some agent can (WHY empty), 1 when
 * none can, with WHY (SIZE bytes, NUL-terminated) the reason journaled in
 * its `wait` event (agq-sched(8), "Tasks no agent can take"): "no agent is
 * alive", "no agent has capability X", "no agent has every required
 * capability (X; Y)", "no agent runs backend B", "no agent runs a TIER
 * backend (...)", "no agent has model M", "no agent has a healthy endpoint
 * for it (AGENT: why; ...)", else "no agent can run it (AGENT: why; ...)".
 * Pure: reads nothing but its arguments. */
int agq_route_unroutable(const json_t *f, const json_t *agents,
                         const json_t *reg, int fallback, char *why,
                         size_t size);

#endif
