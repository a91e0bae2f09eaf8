/* unit_task.h - task parsing checks shared by the unit tests of task.c
 * and classify.c.  Include after agq.h. */
#ifndef UNIT_TASK_H
#define UNIT_TASK_H
#include <string.h>

/* 1 if JSON parses and validates as a task (agq_task_parse). */
static inline int
valid(const char *json)
{
	char err[512];
	json_t *t = agq_task_parse(json, strlen(json), err, sizeof err);
	json_decref(t);
	return t != NULL;
}

/* 1 if JSON is rejected with an error message containing WANT. */
static inline int
err_has(const char *json, const char *want)
{
	char err[512] = "";
	json_t *t = agq_task_parse(json, strlen(json), err, sizeof err);
	json_decref(t);
	return !t && strstr(err, want) != NULL;
}

#endif
