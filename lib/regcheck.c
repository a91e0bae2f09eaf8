/*
 * regcheck.c - the registry's health check of one endpoint
 * (agq-registry(1), --check): an HTTP probe with libcurl through
 * agq_http_json.  Apart from registry.c so that the programs that only
 * read the registry (agq-sched) do not link libcurl.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "backends.h"
#include "util.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "backend.h"
#include "registry.h"
#include "regcheck.h"

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
	const struct agq_backend_def *d = agq_backend_def(type);
	const char *url = json_string_value(json_object_get(ep, "url"));
	size_t n = url ? strlen(url) : 0;
	while (n && url[n - 1] == '/')
		n--;
	char *u1 = NULL, *u2 = NULL, *key = NULL;
	const char *hdrs[3] = { NULL };
	char *h0 = NULL, *h1 = NULL;
	long status;
	json_t *r = NULL;
	int rc = -1;
	*models = *warm = NULL;
	const char *v = agq_backend_setting(conf, "backend_timeout", NULL);
	int64_t us;
	double to = v && agq_parse_duration(v, &us) == 0 && us > 0 &&
	    us < 5000000 ? (double)us / 1e6 : 5;
	if (!d || !(d->flags & AGQ_BACKEND_ENDPOINT)) {
		char names[256];
		agq_errf(err, size, "endpoint type '%s' is not %s", type ? type :
		    "(none)", agq_backend_names(-1, AGQ_BACKEND_ENDPOINT, names,
		    sizeof names));
		goto out;
	}
	if (!n) {       /* a hand-edited file: say so, never strlen(NULL) */
		agq_errf(err, size, "endpoint has no \"url\"");
		goto out;
	}
	if (d->proto == AGQ_PROTO_OLLAMA) {
		u1 = agq_xasprintf("%.*s%s", (int)n, url, d->models_path);
		u2 = agq_xasprintf("%.*s%s", (int)n, url, d->warm_path);
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
	u1 = agq_xasprintf("%.*s%s", (int)n, url, d->models_path);
	char ignore[256];
	if (d->key_env)
		key = agq_backend_key(conf, d, ignore, sizeof ignore);
	if ((d->flags & AGQ_BACKEND_KEY_REQUIRED) && (!key || !*key)) {
		agq_errf(err, size, "no API key for the check");
		goto out;
	}
	if (d->proto == AGQ_PROTO_ANTHROPIC) {
		h0 = agq_xasprintf("x-api-key: %s", key);
		/* the default version, not the anthropic_version setting */
		h1 = agq_xasprintf("%s: %s", d->version_header,
		    d->version_default);
		hdrs[0] = h0;
		hdrs[1] = h1;
	} else if (d->proto == AGQ_PROTO_OPENAI && key && *key) {
		h0 = agq_xasprintf("Authorization: Bearer %s", key);
		hdrs[0] = h0;
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
	agq_free_secret(h0);
	free(h1);
	agq_free_secret(key);
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
