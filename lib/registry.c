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
#include <curl/curl.h>

#include "backend.h"

static const char *types[] = { "ollama", "openai", "anthropic", NULL };

int
agq_endpoint_type_valid(const char *t)
{
	for (int i = 0; t && types[i]; i++)
		if (!strcmp(t, types[i]))
			return 1;
	return 0;
}

json_t *
agq_endpoint_read(const struct agq_spool *sp, const char *name)
{
	if (!agq_agent_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	char *p = agq_spool_path(sp, "endpoints/%s.json", name);
	size_t len;
	char *buf = agq_read_file(p, 1 << 20, &len, NULL);
	free(p);
	if (!buf)
		return NULL;
	json_t *e = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(e)) {
		json_decref(e);
		errno = EBADMSG;
		return NULL;
	}
	return e;
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
	char *s = json_dumps(ep, JSON_INDENT(2));
	int rc = -1;
	if (s) {
		char *buf = agq_xasprintf("%s\n", s);
		rc = agq_write_atomic(sp->tmp, p, buf, strlen(buf), 1, 0);
		free(buf);
		free(s);
	}
	free(p);
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

/* The names in LIST (an array of objects) under KEY, as a new array. */
static json_t *
names_of(const json_t *list, const char *key)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(list, i, m) {
		json_t *v = json_object_get(m, key);
		if (json_is_string(v))
			json_array_append(out, v);
	}
	return out;
}

/* One health probe of EP; fills *MODELS and *WARM, or ERR. */
static int
probe(const struct agq_conf *conf, const json_t *ep, json_t **models,
      json_t **warm, char *err, size_t size)
{
	const char *type = json_string_value(json_object_get(ep, "type"));
	const char *url = json_string_value(json_object_get(ep, "url"));
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	char *u1 = NULL, *u2 = NULL, *key = NULL;
	const char *hdrs[3] = { NULL };
	char *h0 = NULL;
	long status;
	json_t *r = NULL;
	int rc = -1;
	*models = *warm = NULL;
	const char *v = agq_backend_setting(conf, "backend_timeout", NULL);
	int64_t us;
	double to = v && agq_parse_duration(v, &us) == 0 && us > 0 &&
	    us < 5000000 ? (double)us / 1e6 : 5;
	if (!strcmp(type, "ollama")) {
		u1 = agq_xasprintf("%.*s/api/tags", (int)n, url);
		u2 = agq_xasprintf("%.*s/api/ps", (int)n, url);
		if (agq_http_json("GET", u1, NULL, NULL, to, &status, &r, err,
		    size) < 0)
			goto out;
		*models = names_of(json_object_get(r, "models"), "name");
		json_decref(r);
		r = NULL;
		if (agq_http_json("GET", u2, NULL, NULL, to, &status, &r, err,
		    size) < 0)
			goto out;
		*warm = names_of(json_object_get(r, "models"), "name");
		rc = 0;
		goto out;
	}
	u1 = agq_xasprintf("%.*s/v1/models", (int)n, url);
	const char *e = getenv(!strcmp(type, "openai") ? "OPENAI_API_KEY" :
	    "ANTHROPIC_API_KEY");
	const char *kf = agq_backend_setting(conf, !strcmp(type, "openai") ?
	    "openai_key_file" : "anthropic_key_file", NULL);
	if (e && *e) {
		key = agq_xstrdup(e);
	} else if (kf) {
		size_t len;
		key = agq_read_file(kf, 65536, &len, NULL);
		if (key)
			key[strcspn(key, "\r\n")] = '\0';
	}
	if (!strcmp(type, "openai")) {
		if (key && *key) {
			h0 = agq_xasprintf("Authorization: Bearer %s", key);
			hdrs[0] = h0;
		}
	} else {
		if (!key || !*key) {
			snprintf(err, size, "no API key for the check");
			goto out;
		}
		h0 = agq_xasprintf("x-api-key: %s", key);
		hdrs[0] = h0;
		hdrs[1] = "anthropic-version: 2023-06-01";
	}
	if (agq_http_json("GET", u1, hdrs, NULL, to, &status, &r, err,
	    size) < 0)
		goto out;
	*models = names_of(json_object_get(r, "data"), "id");
	*warm = json_array();
	rc = 0;
out:
	if (rc < 0) {
		json_decref(*models);
		json_decref(*warm);
		*models = *warm = NULL;
	}
	json_decref(r);
	free(u1);
	free(u2);
	if (h0) {
		explicit_bzero(h0, strlen(h0));
		free(h0);
	}
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return rc;
}

int
agq_registry_check(const struct agq_spool *sp, const char *name)
{
	int lock = agq_spool_flock(sp, "registry", 1);
	if (lock < 0)
		return -1;
	json_t *ep = agq_endpoint_read(sp, name);
	if (!ep) {
		int e = errno;
		close(lock);
		errno = e;
		return -1;
	}
	/* the probe runs without the lock: it can take seconds */
	close(lock);
	json_t *models, *warm;
	char err[600] = "";
	int ok = probe(&sp->conf, ep, &models, &warm, err, sizeof err) == 0;
	json_decref(ep);
	lock = agq_spool_flock(sp, "registry", 1);
	if (lock < 0) {
		json_decref(models);
		json_decref(warm);
		return -1;
	}
	ep = agq_endpoint_read(sp, name);       /* removed meanwhile? */
	if (!ep) {
		int e = errno;
		close(lock);
		json_decref(models);
		json_decref(warm);
		errno = e;
		return -1;
	}
	const char *was = json_string_value(json_object_get(ep, "health"));
	char *old = agq_xstrdup(was ? was : "unknown");
	json_int_t fails = agq_task_int(ep, "fails", 0);
	agq_task_set_time(ep, "checked_at", agq_now_us());
	const char *now;
	if (ok) {
		fails = 0;
		now = "healthy";
		json_object_set_new(ep, "models", models);
		json_object_set_new(ep, "warm", warm);
		json_object_set_new(ep, "error", json_null());
	} else {
		fails++;
		now = fails >= 2 ? "unhealthy" : old;
		json_object_set_new(ep, "error", json_string(err));
	}
	json_object_set_new(ep, "fails", json_integer(fails));
	json_object_set_new(ep, "health", json_string(now));
	int rc = agq_endpoint_write(sp, ep);
	int e = errno;
	if (rc == 0 && strcmp(old, now))
		agq_journal_w(sp, "endpoint", NULL, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s?}", "endpoint", name, "health", now, "was", old,
		    "url", json_string_value(json_object_get(ep, "url")), "error",
		    ok ? NULL : err));
	free(old);
	json_decref(ep);
	close(lock);
	errno = e;
	return rc < 0 ? -1 : ok ? 0 : 1;
}

void
agq_registry_tick(const struct agq_spool *sp, pid_t *child, int64_t *last)
{
	if (*child > 0) {
		int st;
		pid_t r = waitpid(*child, &st, WNOHANG);
		if (r == 0)
			return;                 /* still checking */
		*child = 0;
	}
	const char *v = agq_backend_setting(&sp->conf, "registry_check", "30");
	int64_t period;
	if (agq_parse_duration(v, &period) < 0 || period <= 0)
		period = 30000000;
	int64_t now = agq_mono_us();
	if (*last && now - *last < period)
		return;
	*last = now;
	char *d = agq_spool_path(sp, "endpoints");
	json_t *names = json_array();
	agq_dir_each(d, collect, names);
	free(d);
	size_t n = json_array_size(names);
	json_decref(names);
	if (n == 0)
		return;
	char exe[PATH_MAX], *prog = NULL;
	ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (k > 0) {
		exe[k] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			prog = agq_xasprintf("%s/agq-registry", exe);
			if (access(prog, X_OK) < 0) {
				free(prog);
				prog = NULL;
			}
		}
	}
	if (!prog)
		prog = agq_xasprintf("%s/agq-registry", agq_bindir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot fork", NULL);
	} else if (pid == 0) {
		int nfd = open("/dev/null", O_RDWR);
		if (nfd >= 0) {
			dup2(nfd, 0);
			dup2(nfd, 1);
		}
		execl(prog, "agq-registry", "-s", sp->root, "check",
		    (char *)NULL);
		dprintf(2, "agq-sched: cannot run %s: %s\n", prog,
		    strerror(errno));
		_exit(127);
	} else {
		*child = pid;
	}
	free(prog);
}
