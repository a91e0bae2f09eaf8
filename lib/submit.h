/*
 * submit.h - submit.c: one new task checked, normalized and delivered,
 * as agq-submit(1) does it and every other submitter must (agq-mcp(1)'s
 * agq_submit, agq-mission(1)'s --plan, agq-run's planner): its fields
 * validated, its owner and defaults set, its mission checked and its
 * index entry written (mission.h), its parents decided and edges written
 * (deps.h), its `submit` event journaled before it can be seen, and
 * delivered (spool.h).  A plan, an array of such tasks, is delivered all
 * or none (agq_submit_plan); a plan task's answer is one
 * (agq_submit_planner).
 */
#ifndef AGQ_SUBMIT_H
#define AGQ_SUBMIT_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "spool.h"

/* Task T as submitted is valid (agq_task_validate) and has only known
 * fields (agq_task_check_fields, agq-task(5)): 0, or -1 with ERR (SIZE
 * bytes) naming the first bad field. */
int agq_submit_valid(const json_t *t, char *err, size_t size);

/* Normalize a valid task T, its owner the real uid (getuid(2); no name:
 * agq-submit is linked statically, with no NSS lookup), whatever T said
 * (agq_task_normalize, now); returns the agq_deliver flags: NEW_ID when
 * T had no id (one was made), SYNC when SYNC. */
int agq_submit_normalize(json_t *t, int sync);

/* Task T's tenant when it names none (agq-task(5), tenant): the user
 * name USER of its owner UID, else (USER NULL: agq-submit, linked
 * statically, has no NSS) the name of UID in /etc/passwd (fgetpwent(3),
 * no NSS), else "uid-UID"; a name that is not [A-Za-z0-9._-]{1,64} is
 * replaced by "uid-UID" too.  T's own tenant is kept. */
void agq_submit_tenant(json_t *t, uid_t uid, const char *user);

/* Deliver one valid normalized task T with FLAGS (agq_deliver's;
 * AGQ_DELIVER_SYNC also fsyncs the index entry and the edges): it enters
 * its mission first (agq_mission_enter: the mission exists and is open,
 * missions/M.tasks/ID written), its parents are decided and edges
 * written (agq_dep_prepare), its `submit` event {state, lane, source:
 * SOURCE ("argv", "stdin", "mcp", "mission", "plan"), after, mission}
 * journaled under the submit lock just before it appears
 * (agq_deliver_announced), and its dependency events after
 * (agq_dep_journal_new).  An index entry made here is removed again when
 * the task is refused or its id is another's.  Returns 0 delivered; 1
 * its id exists already (*WHERE its state; nothing written); 2 refused,
 * ERR (SIZE bytes) naming the field (a mission missing or closed, a
 * parent unknown); -1 failed (errno), reported on standard error
 * (agq_spool_syserr) and said in ERR. */
int agq_submit_deliver(const struct agq_spool *sp, json_t *t, int flags,
                       const char *source, int *where, char *err,
                       size_t size);

/* The options of agq_submit_plan. */
struct agq_submit_plan_opts {
	const char *mission;    /* the tasks' mission, or NULL: none */
	const char *prefix;     /* ids PREFIX-pN (N the index from 0), an
	                         * "id" in the plan refused; NULL: a task's
	                         * own "id", else a generated one */
	const json_t *inherit;  /* fields a task without them takes (the
	                         * plan task's cwd), or NULL */
	uid_t uid;              /* the owner (agq_task_set_owner) */
	const char *user;       /* its name, or NULL */
	const char *source;     /* the submit event's source */
	int dry;                /* check only: nothing delivered, the
	                         * mission not looked up */
};

/* Submit the plan PLAN: a JSON array of 1 to 1000 task objects, in which
 * "after" may hold integers, the index (from 0) of another task of the
 * array, besides task ids.  Every task is made whole first (the
 * mission, its id, after's indexes as ids, the owner, O->inherit,
 * normalized) and checked as agq-submit checks one (agq_submit_valid),
 * the graph of the array walked (agq_dep_batch_order: no cycle), parents
 * outside the array looked up and the mission checked: any failure
 * refuses the whole plan, nothing delivered (O->dry: it ends there, 0).
 * O->inherit's "cwd" is not given to a task with "git" (its cwd is
 * inside its worktree).  Then each is delivered (agq_submit_deliver,
 * fsynced), parents first; one whose id exists already is skipped quietly (a
 * re-run after a crash submits the missing ones).  *IDS (when not NULL)
 * a new array of the tasks' ids in plan order.  0; 1 refused with ERR
 * (SIZE bytes) naming the task and the field ("task 2: field after[0]:
 * 7 is not an index of the plan (0 to 3)"); -1 with errno and ERR (a
 * delivery failed: those before it are in). */
int agq_submit_plan(const struct agq_spool *sp, const json_t *plan,
                    const struct agq_submit_plan_opts *o, json_t **ids,
                    char *err, size_t size);

/* The plan task T (role "plan", its attempt ended with exit 0) answered:
 * its result text, the model's final answer (out/ID/output) for an agent
 * task, else its standard output (out/ID/stdout), holding a JSON array
 * of tasks (the whole text, else from its first '[' to its last ']':
 * a fenced or introduced answer), submitted with agq_submit_plan into
 * T's mission, ids ID-pN, owner T's, cwd T's for a task without one,
 * source "plan"; event `plan_submit` {id,
 * mission, tasks}.  *IDS (when not NULL) a new array of the ids.  0; 1
 * refused with ERR (SIZE bytes) naming the task and field (nothing
 * submitted); -1 with errno and ERR (the text could not be read, or a
 * delivery failed: a re-run submits the missing ones). */
int agq_submit_planner(const struct agq_spool *sp, const json_t *t,
                       json_t **ids, char *err, size_t size);

#endif
