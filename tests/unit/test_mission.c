/* test_mission.c - mission.c: the derived state of a mission, rule by
 * rule; a mission's record, its index and a plan's checks on a spool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "unit.h"
#include "util.h"
#include "spool.h"
#include "open.h"
#include "task.h"
#include "mission.h"
#include "submit.h"

/* The state of a mission whose tasks are in the states of SPEC, a string
 * of letters: q queue, f defer, h hold, a active, d done, x dead, r
 * review, p approval, b blocked. */
static int
state_of(const char *spec)
{
	static const char letters[] = "qfhadxrpb";
	struct agq_mission_counts c;
	memset(&c, 0, sizeof c);
	for (const char *s = spec; *s; s++)
		c.n[strchr(letters, *s) - letters]++;
	return agq_mission_state(&c);
}

static void
test_rule(void)
{
	CHECK(state_of("") == AGQ_MS_OPEN, "no task yet: open");
	CHECK(state_of("ddd") == AGQ_MS_DONE, "every task done: done");
	CHECK(state_of("dq") == AGQ_MS_OPEN, "a task queued: open");
	CHECK(state_of("df") == AGQ_MS_OPEN, "a task deferred (a retry): open");
	CHECK(state_of("ab") == AGQ_MS_OPEN, "running, one blocked on it: "
	    "open");
	CHECK(state_of("dr") == AGQ_MS_OPEN, "in review: open");
	CHECK(state_of("dp") == AGQ_MS_OPEN, "waiting for approval: open");
	CHECK(state_of("xq") == AGQ_MS_OPEN, "a task dead, another queued: "
	    "still open");
	CHECK(state_of("dx") == AGQ_MS_FAILED, "a task dead, nothing left: "
	    "failed");
	CHECK(state_of("xh") == AGQ_MS_FAILED, "a task dead, the rest held: "
	    "failed");
	CHECK(state_of("dhb") == AGQ_MS_BLOCKED, "held and blocked, none "
	    "dead: blocked");
	CHECK(state_of("h") == AGQ_MS_BLOCKED, "one task held: blocked");
	CHECK(!strcmp(agq_mission_state_name(AGQ_MS_FAILED), "failed") &&
	    !strcmp(agq_mission_state_name(AGQ_MS_BLOCKED), "blocked") &&
	    !strcmp(agq_mission_state_name(AGQ_MS_DONE), "done") &&
	    !strcmp(agq_mission_state_name(AGQ_MS_OPEN), "open"),
	    "the states' names");
}

static void
test_spool(void)
{
	char dir[] = "/tmp/agq-test-mission-XXXXXX";
	if (!mkdtemp(dir))
		exit(2);
	char *root = agq_xasprintf("%s/spool", dir);
	struct agq_spool sp;
	if (agq_spool_open(&sp, root, NULL) < 0)
		exit(2);
	char id[65] = "", err[600];
	json_t *m = J("{\"title\": \"\"}");
	CHECK(agq_mission_create(&sp, m, id, err, sizeof err) == 1 &&
	    strstr(err, "field title"), "an empty title is refused");
	json_decref(m);
	m = J("{\"title\": \"t\", \"acceptance\": [\"a\", 2]}");
	CHECK(agq_mission_create(&sp, m, id, err, sizeof err) == 1 &&
	    strstr(err, "field acceptance[1]"), "acceptance: strings only");
	json_decref(m);
	m = J("{\"title\": \"t\", \"goal\": \"g\"}");
	id[0] = '\0';
	CHECK(agq_mission_create(&sp, m, id, err, sizeof err) == 0 &&
	    !strncmp(id, "m-", 2), "a mission made, its id m-...");
	json_t *rec = agq_mission_read(&sp, id);
	CHECK(rec && !strcmp(json_string_value(json_object_get(rec, "goal")),
	    "g") && json_object_get(json_object_get(rec, "created"), "at"),
	    "its record: goal, created");
	json_decref(rec);
	CHECK(agq_mission_create(&sp, m, id, err, sizeof err) == -1 &&
	    errno == EEXIST, "a given id taken: EEXIST, not replaced");
	json_decref(m);
	m = J("{\"title\": \"t\", \"pr_unit\": \"both\"}");
	char id2[65] = "";
	CHECK(agq_mission_create(&sp, m, id2, err, sizeof err) == 1 &&
	    strstr(err, "field pr_unit"), "pr_unit: mission or task");
	json_decref(m);
	m = J("{\"title\": \"t\", \"pr_unit\": \"mission\"}");
	CHECK(agq_mission_create(&sp, m, id2, err, sizeof err) == 0,
	    "a mission with one PR");
	json_decref(m);
	json_t *gt = json_pack("{s:s, s:s, s:{s:s}, s:s}", "cmd", "true",
	    "mission", id2, "git", "repo", "/r", "merge", "on-approval");
	CHECK(agq_mission_check(&sp, gt, err, sizeof err) == 1 &&
	    strstr(err, "field merge: mission") && strstr(err, "one PR per "
	    "mission"), "its task with merge is refused");
	json_object_del(gt, "merge");
	json_object_set_new(gt, "approval", json_string("before_merge"));
	CHECK(agq_mission_check(&sp, gt, err, sizeof err) == 1 &&
	    strstr(err, "field approval"), "and one with approval "
	    "before_merge");
	json_object_del(gt, "approval");
	CHECK(agq_mission_check(&sp, gt, err, sizeof err) == 0, "one without "
	    "is taken");
	json_decref(gt);
	rec = agq_mission_read(&sp, id2);
	json_object_set_new(rec, "pr", json_string("pr-1"));
	CHECK(rec && agq_mission_save(&sp, rec) == 0, "saved");
	json_decref(rec);
	rec = agq_mission_read(&sp, id2);
	CHECK(rec && !strcmp(json_string_value(json_object_get(rec, "pr")),
	    "pr-1") && !strcmp(json_string_value(json_object_get(rec,
	    "pr_unit")), "mission"), "read back: pr, pr_unit");
	json_decref(rec);
	rec = json_pack("{s:s}", "id", "../x");
	CHECK(agq_mission_save(&sp, rec) == -1 && errno == EINVAL,
	    "no valid id: EINVAL");
	json_decref(rec);
	json_t *t = json_pack("{s:s, s:s}", "cmd", "true", "mission", id);
	CHECK(agq_mission_check(&sp, t, err, sizeof err) == 0, "an open "
	    "mission takes tasks");
	json_t *u = J("{\"cmd\": \"true\", \"mission\": \"m-none\"}");
	CHECK(agq_mission_check(&sp, u, err, sizeof err) == 1 &&
	    strstr(err, "field mission: m-none: no such mission"),
	    "an unknown mission is refused, the field named");
	json_decref(u);
	CHECK(agq_mission_index_add(&sp, id, "t1", 1) == 0 &&
	    agq_mission_index_add(&sp, id, "t1", 1) == 1, "an index entry, "
	    "once");
	struct agq_mission_counts c;
	json_t *tasks = agq_mission_tasks(&sp, id, &c);
	CHECK(tasks && json_array_size(tasks) == 0 &&
	    agq_mission_state(&c) == AGQ_MS_OPEN, "an entry naming no task is "
	    "left out");
	json_decref(tasks);
	CHECK(agq_mission_index_remove(&sp, id, "t1") == 0 &&
	    agq_mission_index_remove(&sp, id, "t1") == 0, "an entry removed");
	CHECK(agq_mission_close(&sp, id) == 0 && agq_mission_close(&sp, id) ==
	    1, "closed, then closed already");
	CHECK(agq_mission_check(&sp, t, err, sizeof err) == 1 &&
	    strstr(err, "is closed"), "a closed mission takes no task");
	json_decref(t);
	/* a plan's checks, nothing delivered */
	struct agq_submit_plan_opts o = { .prefix = "P", .uid = getuid(),
	    .source = "test", .dry = 1 };
	json_t *plan = J("[{\"cmd\": \"true\"}, {\"cmd\": \"true\", "
	    "\"after\": [0]}]");
	json_t *ids = NULL;
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    0, "a good plan passes");
	json_decref(plan);
	plan = J("[{\"cmd\": \"true\", \"after\": [1]}, {\"cmd\": \"true\", "
	    "\"after\": [0]}]");
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "cycle"), "a cycle is refused");
	json_decref(plan);
	plan = J("[{\"cmd\": \"true\"}, {\"cmd\": \"true\", \"after\": [7]}]");
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "task 1: field after[0]: 7 is not an index"),
	    "an index out of the plan is refused, the task and field named");
	json_decref(plan);
	plan = J("[{\"cmd\": \"true\", \"id\": \"mine\"}]");
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "task 0: field id: set by agq (P-p0)"),
	    "with a prefix, an id of its own is refused");
	json_decref(plan);
	plan = J("[{\"prompt\": \"x\", \"verfy\": []}]");
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "task 0: field verfy: unknown field (did you mean "
	    "verify?)"), "fields checked as agq-submit checks them");
	json_decref(plan);
	plan = J("[{\"cmd\": \"true\", \"after\": [\"nosuch\"]}]");
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "nosuch: no such task"), "a parent outside the "
	    "plan must exist");
	json_decref(plan);
	plan = json_array();
	CHECK(agq_submit_plan(&sp, plan, &o, &ids, err, sizeof err) ==
	    1 && strstr(err, "not a JSON array of 1"), "an empty plan is "
	    "refused");
	json_decref(plan);
	agq_spool_close(&sp);
	char *cmd = agq_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		exit(2);
	free(cmd);
	free(root);
}

int
main(void)
{
	test_rule();
	test_spool();
	DONE();
}
