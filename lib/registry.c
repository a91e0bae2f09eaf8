/*
 * registry.c - the endpoint registry (agq-registry(1)): model servers
 * known to the spool, in ENDPOINTS/NAME.json, and their health.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "util.h"
#include "paths.h"
#include "conf.h"
#include "spool.h"
#include "agent.h"
#include "registry.h"

int
agq_endpoint_type_valid(const char *t)
{
	const struct agq_backend_def *d = agq_backend_def(t);
	return d && (d->flags & AGQ_BACKEND_ENDPOINT);
}

json_t *
agq_endpoint_read(const struct agq_spool *sp, const char *name)
{
	return agq_registration_read(sp, "endpoints", name);
}

int
agq_endpoint_write(const struct agq_spool *sp, const json_t *ep)
{
	char *d = agq_spool_path(sp, "endpoints");
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		free(d);
		return -1;
	}
	free(d);
	char *p = agq_spool_path(sp, "endpoints/%s.json",
	    json_string_value(json_object_get(ep, "name")));
	int rc = agq_write_json(sp->tmp, p, ep, JSON_INDENT(2), 1, 0);
	int e = errno;
	free(p);
	errno = e;
	return rc;
}

static int
collect(const char *name, void *arg)
{
	json_t *names = arg;
	size_t n = strlen(name);
	if (n > 5 && !strcmp(name + n - 5, ".json"))
		json_array_append_new(names, json_stringn(name, n - 5));
	return 0;
}

json_t *
agq_registry_load(const struct agq_spool *sp)
{
	json_t *all = json_object();
	json_t *names = json_array();
	char *d = agq_spool_path(sp, "endpoints");
	agq_dir_each(d, collect, names);        /* none: an empty registry */
	free(d);
	/* in name order */
	size_t cnt = json_array_size(names);
	for (size_t a = 1; a < cnt; a++)
		for (size_t b = a; b > 0 && strcmp(json_string_value(
		    json_array_get(names, b - 1)), json_string_value(
		    json_array_get(names, b))) > 0; b--) {
			json_t *x = json_incref(json_array_get(names, b));
			json_array_set(names, b, json_array_get(names, b - 1));
			json_array_set_new(names, b - 1, x);
		}
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n) {
		json_t *e = agq_endpoint_read(sp, json_string_value(n));
		if (e)
			json_object_set_new(all, json_string_value(n), e);
	}
	json_decref(names);
	return all;
}

void
agq_registry_tick(const struct agq_spool *sp, pid_t *child, int64_t *last)
{
	const char *v = agq_backend_setting(&sp->conf, "registry_check", "30");
	int64_t period;
	if (agq_parse_duration(v, &period) < 0 || period <= 0)
		period = 30000000;
	if (!agq_child_due(child, last, period))
		return;
	char *d = agq_spool_path(sp, "endpoints");
	json_t *names = json_array();
	agq_dir_each(d, collect, names);
	free(d);
	size_t n = json_array_size(names);
	json_decref(names);
	if (n > 0)
		*child = agq_spool_spawn(sp, "agq-registry", "check");
}
