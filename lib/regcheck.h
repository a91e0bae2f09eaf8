/*
 * regcheck.h - regcheck.c: one endpoint health check.
 *
 * The registry's only libcurl user.  Uses util, conf, task, spool,
 * journal, registry and backend.
 */
#ifndef AGQ_REGCHECK_H
#define AGQ_REGCHECK_H

#include "spool.h"

/* One health check of endpoint NAME: ollama GET /api/tags (the models
 * downloaded) and /api/ps (the warm ones, loaded in memory); openai and
 * anthropic GET /v1/models (with the key when one is configured).  A
 * success marks it healthy and stores the model lists; a failure counts
 * in "fails", and two in a row mark it unhealthy.  A change of health is
 * journaled (`endpoint`).  Read-modify-write under the spool's
 * .registry.lock; the probe itself runs unlocked.  Needs
 * curl_global_init.  Returns 0 healthy now, 1 the check failed, -1 with
 * errno when the endpoint cannot be read or written.  In regcheck.c, the
 * registry's only libcurl user (agq-sched, which reads the registry and
 * runs agq-registry --check as a child, links no libcurl). */
int agq_registry_check(const struct agq_spool *sp, const char *name);

#endif
