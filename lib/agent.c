/* agent.c - agent registrations: agents/NAME.json (agq-spool(5)). */

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "agent.h"

json_t *
agq_registration_read(const struct agq_spool *sp, const char *dir,
                      const char *name)
{
	if (!agq_agent_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	char *p = agq_spool_path(sp, "%s/%s.json", dir, name);
	json_t *o = agq_json_read_object(p, 1024 * 1024);
	int e = errno;
	free(p);
	errno = e;
	return o;
}

json_t *
agq_agent_read(const struct agq_spool *sp, const char *name)
{
	return agq_registration_read(sp, "agents", name);
}

int
agq_agent_write(const struct agq_spool *sp, json_t *agent)
{
	const char *name = json_string_value(json_object_get(agent, "name"));
	if (!name || !agq_agent_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	int r = agq_write_json(sp->tmp, p, agent, JSON_INDENT(2), 0, 0);
	int e = errno;
	free(p);
	errno = e;
	return r;
}

double
agq_agent_lease_s(const json_t *agent, double lease_s)
{
	double hb = json_number_value(json_object_get(agent, "heartbeat_s"));
	return hb > 0 && AGQ_LEASE_BEATS * hb > lease_s ?
	    AGQ_LEASE_BEATS * hb : lease_s;
}

int
agq_agent_alive(const json_t *agent, int64_t now_us, double lease_s)
{
	lease_s = agq_agent_lease_s(agent, lease_s);
	const char *st = json_string_value(json_object_get(agent, "state"));
	if (st && !strcmp(st, "down"))
		return 0;
	int64_t hb = agq_task_time(agent, "heartbeat", -1);
	if (hb < 0)
		return 0;
	return now_us - hb < (int64_t)(lease_s * 1e6);
}

int64_t
agq_agent_beat_us(const struct agq_spool *sp, const json_t *a)
{
	int64_t hb = agq_task_time(a, "heartbeat", -1);
	const char *st = json_string_value(json_object_get(a, "state"));
	const char *name = json_string_value(json_object_get(a, "name"));
	if ((st && (!strcmp(st, "offline") || !strcmp(st, "down"))) ||
	    !name || !agq_agent_name_valid(name))
		return hb;
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	struct stat sb;
	int r = stat(p, &sb);
	free(p);
	int64_t mt = r < 0 ? -1 : (int64_t)sb.st_mtim.tv_sec * 1000000 +
	    sb.st_mtim.tv_nsec / 1000;
	return mt > hb ? mt : hb;
}

int
agq_agent_alive_touched(const struct agq_spool *sp, const json_t *a,
                        int64_t now_us, double lease_s)
{
	lease_s = agq_agent_lease_s(a, lease_s);        /* the effective one */
	const char *st = json_string_value(json_object_get(a, "state"));
	if (st && !strcmp(st, "down"))
		return 0;
	int64_t beat = agq_agent_beat_us(sp, a);
	return beat >= 0 && now_us - beat < (int64_t)(lease_s * 1e6);
}

int
agq_agent_degraded(const struct agq_spool *sp, const json_t *a,
                   int64_t now_us, double lease_s)
{
	const char *st = json_string_value(json_object_get(a, "state"));
	if (!agq_agent_alive_touched(sp, a, now_us, lease_s))
		return 0;
	return (st && !strcmp(st, "degraded")) ||
	    !agq_agent_alive(a, now_us, lease_s);
}

int
agq_agent_touch(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	int r = utimensat(AT_FDCWD, p, NULL, AT_SYMLINK_NOFOLLOW);
	int e = errno;
	free(p);
	errno = e;
	return r;
}

int
agq_agent_load(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "active/%s", name);
	DIR *d = opendir(p);
	free(p);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l > 5 &&
		    !strcmp(de->d_name + l - 5, ".json"))
			n++;
	}
	closedir(d);
	return n;
}
