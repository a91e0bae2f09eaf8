/*
 * mcptools.h - mcptools.c: agq-mcp(1)'s tools, the table mcp.c serves.
 *
 * agq_submit, agq_show, agq_wait and the plan tools work on the spool
 * through libagq (submit.h, spool.h, plan.h: the same code as agq-plan's);
 * agq_mission_show runs the sibling program agq-mission show --json
 * (posix_spawn(3) with an argv, never a shell).  Every call is journaled
 * as `mcp_call` {id: the calling task, tool, ok, subtask, error}
 * (agq-journal(5)).
 */
#ifndef AGQ_MCPTOOLS_H
#define AGQ_MCPTOOLS_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"
#include "mcp.h"

/* What the tools work with: the open spool SP; TASK, the calling task's
 * id ($AGQ_TASK_ID: a subtask's parent, whose git origin and mission it
 * inherits, and whose budget of subtasks it spends), or NULL: agq-mcp
 * run by a person, no parent and no budget; MAX, agq.conf's
 * mcp_max_subtasks. */
struct agq_mcp_ctx {
	struct agq_spool *sp;
	const char *task;
	int max;
};

/* The table (agq_mcp_ntools entries), CTX a struct agq_mcp_ctx *. */
extern const struct agq_mcp_tool agq_mcp_tools[];
extern const size_t agq_mcp_ntools;

/* The id of the Nth (from 1) subtask of task PARENT into ID (65 bytes):
 * "PARENT-sN", PARENT cut at its end so that it fits in 64 bytes
 * (agq_id_valid).  Fixed by N, so a subtask submitted again (a re-run, a
 * retried call) is the same task and the budget is counted from the
 * spool itself, durably. */
void agq_mcp_subtask_id(const char *parent, int n, char *id);

#endif
