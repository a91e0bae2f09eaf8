/* steps.c - validation of verification steps (agq-task(5), "verify"),
 * kept apart from running them (verify.c) so that programs that only
 * validate tasks do not link libgit2. */

#include <string.h>

#include "util.h"
#include "steps.h"

static const char *step_types[] = {
	"file_exists", "command_succeeds", "test_passes", "git_clean", NULL
};

static int
cmd_valid(const json_t *v)
{
	size_t i;
	json_t *e;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || json_string_length(e) == 0)
			return 0;
	return 1;
}

int
agq_verify_steps_validate(const json_t *steps, char *err, size_t size)
{
	size_t i;
	json_t *s;
	if (!json_is_array(steps))
		return agq_errf(err, size, ": not an array of steps");
	json_array_foreach(steps, i, s) {
		if (!json_is_object(s))
			return agq_errf(err, size, "[%zu]: not an object", i);
		const char *type = json_string_value(json_object_get(s, "type"));
		int k;
		for (k = 0; step_types[k]; k++)
			if (type && !strcmp(type, step_types[k]))
				break;
		if (!step_types[k])
			return agq_errf(err, size, "[%zu].type: must be one of "
			    "file_exists, command_succeeds, test_passes, "
			    "git_clean", i);
		json_t *v;
		if (k == 0 && !(json_is_string(v = json_object_get(s, "path")) &&
		    json_string_length(v) > 0))
			return agq_errf(err, size, "[%zu].path: missing or not a "
			    "non-empty string", i);
		v = json_object_get(s, "cmd");
		if (k == 1 && !cmd_valid(v))
			return agq_errf(err, size, "[%zu].cmd: missing, or not a "
			    "string or an array of strings", i);
		if (k == 2 && v && !cmd_valid(v))
			return agq_errf(err, size, "[%zu].cmd: not \"auto\", a string "
			    "or an array of strings", i);
		if ((v = json_object_get(s, "timeout")) && (!json_is_number(v)
		    || !(json_number_value(v) > 0) ||
		    json_number_value(v) > 86400))
			return agq_errf(err, size, "[%zu].timeout: not a number of "
			    "seconds from 0 to 86400", i);
		if ((v = json_object_get(s, "name")) && !json_is_string(v))
			return agq_errf(err, size, "[%zu].name: not a string", i);
		if ((v = json_object_get(s, "cwd")) && !(json_is_string(v) &&
		    json_string_length(v) > 0))
			return agq_errf(err, size, "[%zu].cwd: not a non-empty "
			    "string", i);
	}
	return 0;
}

char *
agq_verify_step_label(const json_t *r)
{
	const char *what = json_string_value(json_object_get(r, "name"));
	if (!what)
		what = json_string_value(json_object_get(r, "path"));
	if (what)
		return agq_xstrdup(what);
	json_t *cmd = json_object_get(r, "cmd");
	char *cs = cmd ? json_dumps(cmd, JSON_ENCODE_ANY) : NULL;
	return cs ? cs : agq_xstrdup("");
}
