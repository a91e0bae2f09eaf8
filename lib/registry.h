/*
 * registry.h - registry.c: the endpoint registry (agq-registry(1)).
 *
 * Reading and writing endpoints/NAME.json, and starting the periodic
 * health check from agq-sched.  Uses util, paths, conf, spool and agent.
 */
#ifndef AGQ_REGISTRY_H
#define AGQ_REGISTRY_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "spool.h"

/* 1 if T is an endpoint type: ollama, openai, anthropic. */
int agq_endpoint_type_valid(const char *t);

/* ENDPOINTS/NAME.json of SP: {name, url, type, added_at, health
 * "unknown"|"healthy"|"unhealthy", fails (failed checks in a row),
 * checked_at, models [...], warm [...] (loaded in memory), error}.
 * NULL with errno (ENOENT, EBADMSG, EINVAL for a bad name). */
json_t *agq_endpoint_read(const struct agq_spool *sp, const char *name);

/* Write EP (its "name" names the file) atomically and durably, creating
 * endpoints/ when missing.  0 or -1 with errno. */
int agq_endpoint_write(const struct agq_spool *sp, const json_t *ep);

/* Every registered endpoint: a new object NAME -> endpoint (unreadable
 * files left out; an empty object when there is no registry). */
json_t *agq_registry_load(const struct agq_spool *sp);

/* For agq-sched's loop: reap the check started before (*CHILD, 0 when
 * none) and, every "registry_check" seconds (agq.conf, default 30; the
 * first call at once) when endpoints are registered, start
 * `agq-registry -s ROOT check` in the background (the agq-registry next
 * to the running program, else in the compiled-in bin directory).
 * *LAST is the monotonic time of the last start (0 at first). */
void agq_registry_tick(const struct agq_spool *sp, pid_t *child,
                       int64_t *last);

#endif
