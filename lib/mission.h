/*
 * mission.h - mission.c: missions, named sets of tasks (agq-mission(1);
 * agq-spool(5), "Missions"; agq-task(5), mission, role, handoff).
 *
 * A mission is missions/ID.json {id, title, goal, acceptance, created,
 * closed}; the tasks in it are indexed by the empty files
 * missions/ID.tasks/TASKID, written before the task is delivered (as the
 * edges deps/P/C are), so that a listing reads the index, never the
 * spool.  Its state is derived from its tasks' states, never stored
 * (agq_mission_state).  A new task enters its mission (agq_mission_enter)
 * in the one delivery every submitter shares, submit.h's
 * agq_submit_deliver, which also holds the submission of a plan
 * (agq_submit_plan) and the planner (agq_submit_planner).
 * Uses util, task, spool, journal, archive and out.
 */
#ifndef AGQ_MISSION_H
#define AGQ_MISSION_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* A mission's derived state (agq-mission(1), "State"). */
enum agq_mission_state {
	AGQ_MS_OPEN,            /* no task yet, or a task that can run:
	                         * queued, deferred, running, in review or
	                         * waiting for approval */
	AGQ_MS_BLOCKED,         /* unfinished tasks, all blocked/ or hold/,
	                         * none dead: nothing runs until a person
	                         * (or a held parent) moves */
	AGQ_MS_FAILED,          /* a task dead and none that can run */
	AGQ_MS_DONE             /* every task done (and at least one) */
};

/* The counts of a mission's tasks by state (enum agq_state, indexes 0 to
 * AGQ_NSTATES - 1), the tasks found nowhere left out. */
struct agq_mission_counts {
	size_t n[AGQ_NSTATES];
};

/* The rule, in this order (pure): no task -> OPEN; all done -> DONE; any
 * task queued, deferred, active, in review/ or approval/ -> OPEN; any
 * dead -> FAILED; else (the unfinished ones all blocked or held) ->
 * BLOCKED.  An enum agq_mission_state. */
int agq_mission_state(const struct agq_mission_counts *c);

/* "open", "blocked", "failed", "done".  Static. */
const char *agq_mission_state_name(int state);

/* The mission ID's record (missions/ID.json): a new reference, or NULL
 * with errno (ENOENT: no such mission; EINVAL: ID is not an id,
 * agq_id_valid; EBADMSG: not a JSON object). */
json_t *agq_mission_read(const struct agq_spool *sp, const char *id);

/* Create the mission M (an object with "title", a non-empty string, and
 * optional "goal" (string), "acceptance" (array of strings) and
 * "pr_unit" ("mission": its git tasks share one branch and one PR,
 * taskgit.h's agq_taskgit_mission_pr; "task", the default: a PR each); the
 * caller's, unchanged) as missions/ID.json, ID (65 bytes) given, or
 * when empty "m-" and a new task id (agq_gen_id) written there (EEXIST
 * when a given ID is taken): "created" {at, by {uid, user
 * ($USER)}} set, written in tmp/, fsynced, linked in (never replacing),
 * missions/ fsynced; event `mission_new` {mission, title}.  0; 1 with
 * ERR (SIZE bytes) naming the field when M is not valid; -1 with errno. */
int agq_mission_create(const struct agq_spool *sp, const json_t *m,
                       char *id, char *err, size_t size);

/* Write the mission record M (an object with a valid "id", as
 * agq_mission_read gave it, changed) back over missions/ID.json: tmp/,
 * fsync, rename, missions/ fsynced.  0, or -1 with errno (EINVAL: no
 * valid id). */
int agq_mission_save(const struct agq_spool *sp, const json_t *m);

/* Close the mission ID: "closed" {at, by} written into its record
 * (replaced atomically); event `mission_close` {mission}.  A closed
 * mission takes no new task (agq_mission_check).  0; 1 when it was
 * closed already (nothing changed); -1 with errno (ENOENT: no such
 * mission). */
int agq_mission_close(const struct agq_spool *sp, const char *id);

/* Task T may go into its "mission" (none: yes): the mission exists and
 * is not closed.  0; 1 with ERR (SIZE bytes) naming the field ("field
 * mission: m-1: no such mission"; a task with review or merge into a
 * mission whose pr_unit is "mission", or approval before_merge: "field
 * review: mission M has one PR per mission, none per task"); -1 with errno (it cannot be read). */
int agq_mission_check(const struct agq_spool *sp, const json_t *t,
                      char *err, size_t size);

/* The index entry missions/MISSION.tasks/TASK (an empty file, mode 0600;
 * the directory made 0700 when missing), fsynced with its directory
 * when SYNC.  0 made, 1 it was there already, -1 with errno. */
int agq_mission_index_add(const struct agq_spool *sp, const char *mission,
                          const char *task, int sync);

/* Remove the index entry missions/MISSION/TASK (agq-fsck --fix); a
 * missing one is fine.  0 or -1 with errno. */
int agq_mission_index_remove(const struct agq_spool *sp,
                             const char *mission, const char *task);

/* Call FN(TASK, ARG) for each task id in mission MISSION's index, in no
 * set order; stops when FN returns non-zero and returns that.  No index:
 * 0. */
int agq_mission_each_task(const struct agq_spool *sp, const char *mission,
                          int (*fn)(const char *task, void *arg), void *arg);

/* The mission ids (missions/ID.json) in a new array of strings, sorted;
 * NULL with errno when missions/ cannot be read (none: empty). */
json_t *agq_mission_ids(const struct agq_spool *sp);

/* The tasks of mission MISSION from its index, each {id, state (the
 * state directory's name, or "done"/"dead" when archived), title, role,
 * after, reason, git} (absent fields left out), found with agq_task_find,
 * else in the archive; an entry found nowhere (a submit cut short, a
 * task removed unarchived) is left out.  Sorted by submitted_at, then
 * id.  Their counts by state into C when not NULL.  A new array, or
 * NULL with errno. */
json_t *agq_mission_tasks(const struct agq_spool *sp, const char *mission,
                          struct agq_mission_counts *c);

/* New task T (valid, normalized, id set) enters its "mission" before it
 * is delivered (none: nothing to do): the mission checked
 * (agq_mission_check), then T's index entry written
 * (agq_mission_index_add, fsynced when SYNC), as the edges deps/P/C are
 * before the task lands.  *MADE is 1 when the entry was made now: the
 * caller removes it (agq_mission_index_remove) when T is then not
 * delivered (refused, or its id another task's).  0; 1 refused with ERR
 * (SIZE bytes) naming the field; -1 with errno and ERR saying what
 * failed and where.  The one caller that delivers is submit.c
 * (agq_submit_deliver); agq-sched's inbox calls it too. */
int agq_mission_enter(const struct agq_spool *sp, const json_t *t, int sync,
                      int *made, char *err, size_t size);

/* ---- handoff (agq-task(5), handoff) ------------------------------------ */

/* Before task T (leased, its out/ID made; OUTDIR that path) starts: a
 * stale out/ID/handoff-out.json of an earlier attempt removed, and what
 * T is handed written to out/ID/handoff.json: {"handoff": T's own
 * handoff, "from": [{id, title, handoff}...], the handoff_out of each
 * parent in T's "after" that left one (found in the spool or its
 * archive)}, either part left out when empty.  Returns that file's path
 * (malloc'd), or NULL when there is nothing to hand (or it could not be
 * written: errno; the task runs without). */
char *agq_mission_handoff_prepare(const struct agq_spool *sp, const json_t *t,
                                  const char *outdir);

/* The handoff task ID left in out/ID/handoff-out.json ($AGQ_HANDOFF_OUT)
 * when its attempt ended: a new reference to it, checked as the field
 * handoff_out (agq-task(5)); NULL when there is none (errno ENOENT) or
 * with ERR (SIZE bytes) saying why it is not taken (not JSON, not a
 * handoff, over 1 MiB). */
json_t *agq_mission_handoff_take(const struct agq_spool *sp, const char *id,
                                 char *err, size_t size);

#endif
