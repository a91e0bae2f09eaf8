/* config.c - etc/agq.conf: "key = value" lines, '#' comments. */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agq.h"

/* The backends' settings (agq-backend(7)): accepted here, read with
 * agq_backend_setting.  Kept in config.c so that reading agq.conf does
 * not link libcurl. */
const char *const agq_backend_conf_keys[] = {
	"ollama_url", "openai_url", "anthropic_url",
	"ollama_model", "openai_model", "anthropic_model",
	"openai_key_file", "anthropic_key_file", "anthropic_version",
	"max_tokens", "backend_timeout", "prices", "cli_lock",
	"registry_check", "route_wait", "route_fallback", NULL
};

int
agq_backend_conf_key(const char *key)
{
	for (int i = 0; agq_backend_conf_keys[i]; i++)
		if (!strcmp(key, agq_backend_conf_keys[i]))
			return 1;
	return 0;
}

#include "stats.h"
#include "backend.h"

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
seconds(const char *file, int line, const char *key, const char *val,
        double *out)
{
	int64_t us;
	if (agq_parse_duration(val, &us) < 0) {
		agq_warn("%s:%d: %s: not a number of seconds: '%s'", file, line,
		    key, val);
		return -1;
	}
	*out = (double)us / 1e6;
	return 0;
}

int
agq_conf_load(struct agq_conf *c, const char *path)
{
	free(c->cwd_root);
	c->cwd_root = NULL;
	free(c->spool);
	c->spool = NULL;
	c->lease_s = 15;
	c->heartbeat_s = 5;
	c->assign_timeout_s = 60;
	c->kill_grace_s = 5;
	c->rescan_s = 30;
	c->max_task_bytes = 1024 * 1024;
	c->backoff_cap_s = 3600;
	json_decref(c->obs);
	c->obs = NULL;
	json_decref(c->backend);
	c->backend = NULL;

	int must_exist = 1;
	if (!path)
		path = getenv("AGQ_CONF");
	if (!path || !*path) {
		path = agq_default_conf;
		must_exist = 0;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		agq_syserr("cannot open configuration", path);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int n = 0, rc = 0, obs;
	char oerr[512];
	while (getline(&line, &cap, f) > 0) {
		n++;
		char *s = line;
		char *hash = strchr(s, '#');
		if (hash)
			*hash = '\0';
		s = trim(s);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			agq_warn("%s:%d: expected 'key = value': '%s'", path, n, s);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		double d;
		if (!strcmp(key, "spool")) {
			free(c->spool);
			c->spool = *val ? agq_xstrdup(val) : NULL;
		} else if (!strcmp(key, "cwd_root")) {
			if (*val != '/') {
				agq_warn("%s:%d: cwd_root: not an absolute path: "
				    "'%s'", path, n, val);
				rc = -1;
				break;
			}
			free(c->cwd_root);
			c->cwd_root = agq_xstrdup(val);
		} else if (!strcmp(key, "lease")) {
			if ((rc = seconds(path, n, key, val, &c->lease_s)) < 0)
				break;
		} else if (!strcmp(key, "heartbeat")) {
			if ((rc = seconds(path, n, key, val, &c->heartbeat_s)) < 0)
				break;
		} else if (!strcmp(key, "assign_timeout")) {
			if ((rc = seconds(path, n, key, val, &c->assign_timeout_s)) < 0)
				break;
		} else if (!strcmp(key, "kill_grace")) {
			if ((rc = seconds(path, n, key, val, &c->kill_grace_s)) < 0)
				break;
		} else if (!strcmp(key, "rescan")) {
			if ((rc = seconds(path, n, key, val, &c->rescan_s)) < 0)
				break;
		} else if (!strcmp(key, "backoff_cap")) {
			if ((rc = seconds(path, n, key, val, &d)) < 0)
				break;
			c->backoff_cap_s = (int64_t)d;
		} else if (!strcmp(key, "max_task_bytes")) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(val, &end, 10);
			if (errno || *end || v == 0 || !isdigit((unsigned char)*val)) {
				agq_warn("%s:%d: max_task_bytes: not a positive "
				    "number of bytes: '%s'", path, n, val);
				rc = -1;
				break;
			}
			c->max_task_bytes = (size_t)v;
		} else if (agq_backend_conf_key(key)) {
			if (!c->backend)
				c->backend = json_object();
			json_object_set_new(c->backend, key, json_string(val));
		} else if ((obs = agq_obs_conf(&c->obs, key, val, oerr,
		    sizeof oerr)) != 0) {
			if (obs < 0) {
				agq_warn("%s:%d: %s", path, n, oerr);
				rc = -1;
				break;
			}
		} else {
			agq_warn("%s:%d: unknown setting '%s'", path, n, key);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		agq_syserr("cannot read configuration", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc == 0 && c->heartbeat_s <= 0) {
		agq_warn("%s: heartbeat must be more than 0", path);
		rc = -1;
	}
	if (rc < 0) {
		json_decref(c->backend);
		c->backend = NULL;
	}
	if (rc < 0) {
		json_decref(c->obs);
		c->obs = NULL;
	}
	return rc;
}

/* ---- backend settings (agq-backend(7)): here rather than in backend.c,
 * so that programs reading them (agq-sched) do not link libcurl ---- */

const char *
agq_backend_setting(const struct agq_conf *conf, const char *key,
                    const char *dflt)
{
	const char *v = json_string_value(json_object_get(conf->backend, key));
	return v && *v ? v : dflt;
}

/* A path next to the compiled-in agq.conf: ETC/NAME, malloc'd. */
char *
agq_etc_path(const char *name)
{
	const char *slash = strrchr(agq_default_conf, '/');
	int n = slash ? (int)(slash - agq_default_conf) : 1;
	return agq_xasprintf("%.*s/%s", n, slash ? agq_default_conf : ".",
	    name);
}
