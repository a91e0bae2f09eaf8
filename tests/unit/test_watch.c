/* test_watch - the object of a journal event (lib/watch.c,
 * agq_watch_object): the rule of agq-watch(1). */
#include <jansson.h>
#include "unit.h"
#include "watch.h"

static const char *const cases[][2] = {
	{ "{\"ev\":\"plan_put\",\"plan\":\"p\",\"task\":\"t1\"}", "plan/p" },
	{ "{\"ev\":\"conflict\",\"plan\":\"p\",\"expected\":1}", "plan/p" },
	{ "{\"ev\":\"mission_new\",\"mission\":\"m-1\"}", "mission/m-1" },
	{ "{\"ev\":\"mission_close\",\"mission\":\"m-1\",\"id\":\"x\"}",
	  "mission/m-1" },
	/* a task's submit into a mission is about the task */
	{ "{\"ev\":\"submit\",\"id\":\"t1\",\"mission\":\"m-1\"}", "task/t1" },
	{ "{\"ev\":\"assign\",\"id\":\"t1\",\"agent\":\"a\"}", "task/t1" },
	{ "{\"ev\":\"agent_up\",\"agent\":\"a\"}", "agent/a" },
	{ "{\"ev\":\"sched_up\"}", "" },
	{ "{\"ev\":\"rotate\",\"from\":\"journal.x\"}", "" },
	{ "{\"ev\":\"mission_new\"}", "" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *ev = J(cases[i][0]);
		char buf[128];
		int r = agq_watch_object(ev, buf, sizeof buf);
		CHECK(r == (cases[i][1][0] != '\0') && !strcmp(buf, cases[i][1]),
		    cases[i][0]);
		json_decref(ev);
	}
	DONE();
}
