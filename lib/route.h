/*
 * route.h - route.c: routing (agq-sched(8)).
 *
 * Uses classify and resources.
 */
#ifndef AGQ_ROUTE_H
#define AGQ_ROUTE_H

#include <stddef.h>
#include <jansson.h>

/* What routing needs of task T: a new object {agentish (agq_task_is_agent),
 * tier (agq_task_tier), has_cmd, backend (explicit, or absent), model}. */
json_t *agq_route_facts(const json_t *t);

/* Can AGENT (its agent file) run a task with facts F at TIER, given the
 * endpoints REG (agq_registry_load)?  An agent that declares no backends
 * runs anything (the task's backend, else shell / ollama / anthropic by
 * tier).  Otherwise it needs the task's explicit backend, or for the tier
 * shell (trivial, needs a cmd), ollama or openai (standard), anthropic
 * or cli (complex); for ollama and openai with declared endpoints, one of
 * them registered, of that type, healthy and having the model (its
 * "models", else the agent's --model list), warm ones preferred.
 * Returns -1 with WHY (SIZE bytes) saying why not, or a score (higher is
 * better: warm +100000, minus 1000 x load per CPU) with *CHOICE a new
 * object {backend, model, endpoint {name, url} or null, warm}. */
int agq_route_eval(const json_t *f, int tier, const json_t *agent,
                   const json_t *reg, json_t **choice, char *why,
                   size_t size);

#endif
