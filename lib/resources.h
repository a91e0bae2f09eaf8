/*
 * resources.h - resources.c: host resources (agq-run(8)).
 *
 * Uses util and task.
 */
#ifndef AGQ_RESOURCES_H
#define AGQ_RESOURCES_H

#include <jansson.h>

/* What this host has, for the agent file: {load1, load5, load15 (from
 * $AGQ_LOADAVG_FILE, default /proc/loadavg), cpus (online), mem_total_mb,
 * mem_available_mb (/proc/meminfo), gpus [{name, mem_total_mb,
 * mem_used_mb}] (only when nvidia-smi is in PATH; asked at most every 30
 * s)}.  Fields that cannot be read are left out.  New reference. */
json_t *agq_host_resources(void);

/* The load of the host of agent file AGENT: load1 / cpus of its
 * "resources", 0 when unknown. */
double agq_host_load(const json_t *agent);

#endif
