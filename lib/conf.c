/* conf.c - etc/agq.conf: "key = value" lines, '#' comments. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "paths.h"
#include "conf.h"
#include "backends.h"
#include "redact.h"

/* The backends' settings (agq-backend(7)): accepted here, read with
 * agq_backend_setting.  Kept in conf.c so that reading agq.conf does
 * not link libcurl.  Those of one backend (NAME_url, NAME_model, ...) are
 * in its row of the table of backends (backends.h). */
const char *const agq_backend_conf_keys[] = {
	"max_tokens", "backend_timeout", "prices", "cli_lock",
	"registry_check", "route_wait", "route_fallback",
	"workspace_root", "git_author_name", "git_author_email", "git_ssh_key",
	"git_token_file", "git_token_hosts", "forge", "forge_url",
	"forge_token_file", "forge_repo", "pr_poll", NULL
};

int
agq_backend_conf_key(const char *key)
{
	for (int i = 0; agq_backend_conf_keys[i]; i++)
		if (!strcmp(key, agq_backend_conf_keys[i]))
			return 1;
	return agq_backend_setting_known(key);
}


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
agq_trust_parse(const char *s)
{
	static const char *const names[] = { "owner", "group", "any", NULL };
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* The words of VAL separated by characters of SEP, as a new array of
 * strings; NULL when there is none or one has a character other than
 * [A-Za-z0-9._:=-] (a capability, agq-run -c, written as one word). */
static json_t *
word_list(char *val, const char *sep)
{
	json_t *a = json_array();
	char *save = NULL;
	for (char *w = strtok_r(val, sep, &save); w;
	    w = strtok_r(NULL, sep, &save)) {
		if (strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._:=-") != strlen(w)) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_string(w));
	}
	if (!json_array_size(a)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The field of C that KEY, a setting in seconds, sets, or NULL. */
static double *
seconds_field(struct agq_conf *c, const char *key)
{
	const struct { const char *key; double *field; } f[] = {
		{ "lease", &c->lease_s },
		{ "heartbeat", &c->heartbeat_s },
		{ "assign_timeout", &c->assign_timeout_s },
		{ "kill_grace", &c->kill_grace_s },
		{ "rescan", &c->rescan_s },
		{ "notify_timeout", &c->notify_timeout_s },
		{ "clock_skew_max", &c->clock_skew_max_s },
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (!strcmp(key, f[i].key))
			return f[i].field;
	return NULL;
}

/* The settings of quota.h: limit.KIND.NAME.FIELD, lane_weights and
 * budget_tz (agq.conf(5)).  1 taken, 0 not one of them, -1 with ERR. */
static int
quota_line(struct agq_conf *c, const char *key, const char *val, char *err,
           size_t size)
{
	struct agq_limit l;
	int r = agq_limit_parse(key, val, &l, err, size);
	if (r > 0) {
		size_t i;
		for (i = 0; i < c->nlimits; i++)
			if (c->limits[i].kind == l.kind && c->limits[i].field ==
			    l.field && !strcmp(c->limits[i].name, l.name))
				break;
		if (i == c->nlimits)
			c->limits = realloc(c->limits, ++c->nlimits *
			    sizeof l);
		if (!c->limits)
			agq_die(EX_OSERR, "out of memory");
		c->limits[i] = l;
		return 1;
	}
	if (r < 0)
		return -1;
	if (!strcmp(key, "lane_weights")) {
		if (agq_lane_weights_parse(val, c->lane_w, &c->lane_strict) < 0)
			return agq_errf(err, size, "lane_weights: not strict or "
			    "four weights 1 to 1000 for urgent, high, normal, "
			    "low (8,4,2,1): '%s'", val);
		return 1;
	}
	if (!strcmp(key, "budget_tz")) {
		char *zf = agq_xasprintf("/usr/share/zoneinfo/%s", val);
		int ok = *val && *val != '/' && !strstr(val, "..") &&
		    access(zf, R_OK) == 0;
		free(zf);
		if (!ok)
			return agq_errf(err, size, "budget_tz: not a time zone "
			    "of /usr/share/zoneinfo (tz(5)): '%s'", val);
		free(c->budget_tz);
		c->budget_tz = agq_xstrdup(val);
		return 1;
	}
	return 0;
}

int
agq_conf_load(struct agq_conf *c, const char *path)
{
	free(c->cwd_root);
	c->cwd_root = NULL;
	free(c->journal_key_file);
	c->journal_key_file = NULL;
	free(c->spool);
	c->spool = NULL;
	c->lease_s = 15;
	c->heartbeat_s = 5;
	c->assign_timeout_s = 60;
	c->kill_grace_s = 5;
	c->rescan_s = 30;
	c->notify_timeout_s = 60;
	c->clock_skew_max_s = 2;
	c->inbox_trust = AGQ_TRUST_OWNER;
	c->max_task_bytes = 1024 * 1024;
	c->backoff_cap_s = 3600;
	c->mcp_max_subtasks = 20;
	c->spool_fs = AGQ_SPOOL_FS_AUTO;
	free(c->limits);
	c->limits = NULL;
	c->nlimits = 0;
	free(c->budget_tz);
	c->budget_tz = NULL;
	(void)agq_lane_weights_parse("8,4,2,1", c->lane_w, &c->lane_strict);
	json_decref(c->obs);
	c->obs = NULL;
	json_decref(c->backend);
	c->backend = NULL;
	json_decref(c->token_caps);
	c->token_caps = NULL;

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
		double d, *dp;
		if (!strcmp(key, "spool")) {
			free(c->spool);
			c->spool = *val ? agq_xstrdup(val) : NULL;
		} else if (!strcmp(key, "cwd_root") ||
		    !strcmp(key, "journal_key_file")) {
			char **field = !strcmp(key, "cwd_root") ? &c->cwd_root :
			    &c->journal_key_file;
			if (*val != '/') {
				agq_warn("%s:%d: %s: not an absolute path: '%s'",
				    path, n, key, val);
				rc = -1;
				break;
			}
			free(*field);
			*field = agq_xstrdup(val);
		} else if (!strcmp(key, "inbox_trust")) {
			if ((c->inbox_trust = agq_trust_parse(val)) < 0) {
				agq_warn("%s:%d: inbox_trust: not owner, group or "
				    "any: '%s'", path, n, val);
				rc = -1;
				break;
			}
		} else if ((dp = seconds_field(c, key))) {
			if ((rc = seconds(path, n, key, val, dp)) < 0)
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
		} else if (!strcmp(key, "mcp_max_subtasks")) {
			char *end;
			errno = 0;
			long v = strtol(val, &end, 10);
			if (errno || *end || !isdigit((unsigned char)*val) ||
			    v > 1000) {
				agq_warn("%s:%d: mcp_max_subtasks: not a whole "
				    "number from 0 to 1000: '%s'", path, n, val);
				rc = -1;
				break;
			}
			c->mcp_max_subtasks = (int)v;
		} else if (!strcmp(key, "token_caps")) {
			json_decref(c->token_caps);
			c->token_caps = NULL;
			if (*val && !(c->token_caps = word_list(val,
			    ", \t"))) {
				agq_warn("%s:%d: token_caps: not a list of "
				    "capabilities: '%s'", path, n, val);
				rc = -1;
				break;
			}
		} else if (!strcmp(key, "spool_fs")) {
			static const char *fs[] = { "auto", "local", "remote" };
			c->spool_fs = -1;
			for (int i = 0; i < 3; i++)
				if (!strcmp(val, fs[i]))
					c->spool_fs = i;
			if (c->spool_fs < 0) {
				agq_warn("%s:%d: spool_fs: not auto, local or "
				    "remote: '%s'", path, n, val);
				rc = -1;
				break;
			}
		} else if ((rc = quota_line(c, key, val, oerr,
		    sizeof oerr)) != 0) {
			if (rc < 0) {
				agq_warn("%s:%d: %s", path, n, oerr);
				break;
			}
			rc = 0;
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
		json_decref(c->token_caps);
		c->token_caps = NULL;
	}
	return rc;
}

/* ---- backend settings (agq-backend(7)): here rather than in backend.c,
 * so that programs reading them (agq-sched) do not link libcurl ---- */

void
agq_conf_free(struct agq_conf *c)
{
	free(c->spool);
	free(c->cwd_root);
	free(c->journal_key_file);
	c->journal_key_file = NULL;
	json_decref(c->obs);
	json_decref(c->backend);
	json_decref(c->token_caps);
	c->token_caps = NULL;
	c->spool = c->cwd_root = NULL;
	c->obs = c->backend = NULL;
	free(c->limits);
	free(c->budget_tz);
	c->limits = NULL;
	c->nlimits = 0;
	c->budget_tz = NULL;
}

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

/* ---- settings of agq-sync, agq-dash and agq-alert ---------------------- */

int
agq_conf_bool(const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") ||
	    !*v)
		return 0;
	return -1;
}

int
agq_obs_conf(json_t **obs, const char *key, const char *val, char *err,
             size_t size)
{
	static const char *keys[] = { "sync_target", "sync_allow",
	    "sync_require_clean", "dash_refresh", "alert_queue_depth",
	    "alert_agent_offline", "alert_dead_letters", "alert_endpoint",
	    "alert_no_progress", "alert_hook", "clean_after", "clean_states",
	    NULL };
	int k;
	for (k = 0; keys[k] && strcmp(keys[k], key); k++)
		;
	if (!keys[k])
		return 0;
	int64_t us;
	long n;
	char *end, unit[32];
	if (!strcmp(key, "sync_require_clean") ||
	    !strcmp(key, "alert_agent_offline")) {
		if (agq_conf_bool(val) < 0) {
			agq_errf(err, size, "%s: not yes or no: '%s'", key, val);
			return -1;
		}
	} else if (!strcmp(key, "dash_refresh")) {
		if (agq_parse_duration(val, &us) < 0 || us < 1000000 ||
		    us > 3600000000LL) {
			agq_errf(err, size, "%s: not a number of seconds from 1 "
			    "to 3600: '%s'", key, val);
			return -1;
		}
	} else if (!strcmp(key, "clean_after")) {
		if (agq_parse_duration(val, &us) < 0) {
			agq_errf(err, size, "%s: not a duration: '%s'", key, val);
			return -1;
		}
	} else if (!strcmp(key, "clean_states")) {
		/* agq-clean(8): done, dead and cancelled, comma-separated */
		char *save = NULL, *s = agq_xstrdup(val);
		int bad = !*val;
		for (char *w = strtok_r(s, ", ", &save); w; w =
		    strtok_r(NULL, ", ", &save))
			bad |= strcmp(w, "done") && strcmp(w, "dead") &&
			    strcmp(w, "cancelled");
		free(s);
		if (bad) {
			agq_errf(err, size, "%s: not a list of done, dead, "
			    "cancelled: '%s'", key, val);
			return -1;
		}
	} else if (!strcmp(key, "alert_no_progress")) {
		if (*val && (agq_parse_duration(val, &us) < 0 || us <= 0)) {
			agq_errf(err, size, "%s: not a duration: '%s'", key, val);
			return -1;
		}
	} else if (!strcmp(key, "alert_dead_letters")) {
		errno = 0;
		n = strtol(val, &end, 10);
		if (*val && (errno || *end || n < 1)) {
			agq_errf(err, size, "%s: not a positive number: '%s'",
			    key, val);
			return -1;
		}
	} else if (!strcmp(key, "alert_queue_depth")) {
		/* "N for DURATION" or "N" */
		errno = 0;
		n = strtol(val, &end, 10);
		int bad = *val && (errno || n < 0 || end == val);
		if (!bad && *val) {
			while (*end == ' ' || *end == '\t')
				end++;
			if (*end) {
				bad = strncmp(end, "for", 3) != 0;
				if (!bad) {
					end += 3;
					while (*end == ' ' || *end == '\t')
						end++;
					bad = sscanf(end, "%31s", unit) != 1 ||
					    agq_parse_duration(unit, &us) < 0 ||
					    strlen(end) != strlen(unit);
				}
			}
		}
		if (bad) {
			agq_errf(err, size, "%s: expected 'N' or 'N for "
			    "DURATION': '%s'", key, val);
			return -1;
		}
	}
	if (!*obs)
		*obs = json_object();
	const char *prev = json_string_value(json_object_get(*obs, key));
	if (prev && !strcmp(key, "sync_allow") && *val) {
		char *both = agq_xasprintf("%s %s", prev, val);
		json_object_set_new(*obs, key, json_string(both));
		free(both);
	} else {
		json_object_set_new(*obs, key, json_string(val));
	}
	return 1;
}

/* ---- the backends' keys and base URLs ------------------------------------ */

/* The first line (without its newline) of the key file PATH, at most
 * 64 KiB, malloc'd; or NULL with ERR: unreadable (strerror and path) or
 * empty. */
static char *
key_line(const char *path, char *err, size_t size)
{
	size_t len;
	char *k = agq_read_file(path, 65536, &len, NULL);
	if (!k) {
		agq_errf(err, size, "cannot read the key file: %s (%s)",
		    strerror(errno), path);
		return NULL;
	}
	k[strcspn(k, "\r\n")] = '\0';
	if (!*k) {
		agq_free_secret(k);
		agq_errf(err, size, "the key file is empty (%s)", path);
		return NULL;
	}
	return k;
}

char *
agq_backend_key(const struct agq_conf *conf, const struct agq_backend_def *d,
                char *err, size_t size)
{
	const char *envname = d->key_env, *filekey = d->key_setting;
	const char *e = getenv(envname);
	if (e && *e)
		return agq_xstrdup(e);
	const char *path = agq_backend_setting(conf, filekey, NULL);
	if (!path) {
		agq_errf(err, size, "no API key: set %s or %s in agq.conf", envname,
		    filekey);
		return NULL;
	}
	return key_line(path, err, size);
}

extern char **environ;

/* Add S (malloc'd, or NULL: nothing) to the NULL-terminated V of *N
 * entries and room for *CAP. */
static char **
secret_add(char **v, size_t *n, size_t *cap, char *s)
{
	if (!s)
		return v;
	v = agq_grow(v, cap, *n + 1, sizeof *v, 8);
	v[(*n)++] = s;
	v[*n] = NULL;
	return v;
}

char **
agq_conf_secrets(const struct agq_conf *conf)
{
	static const char *const files[] = { "git_token_file",
	    "forge_token_file", NULL };
	size_t n = 0, cap = 1;
	char **v = agq_xmalloc(sizeof *v);
	v[0] = NULL;
	char err[PATH_MAX + 64];
	const struct agq_backend_def *d;
	for (size_t i = 0; (d = agq_backend_at(i)); i++) {
		const char *path = d->key_setting ?
		    agq_backend_setting(conf, d->key_setting, NULL) : NULL;
		if (path)
			v = secret_add(v, &n, &cap, key_line(path, err,
			    sizeof err));
	}
	if (conf->journal_key_file)
		v = secret_add(v, &n, &cap, key_line(conf->journal_key_file, err,
		    sizeof err));
	for (int i = 0; files[i]; i++) {
		const char *path = agq_backend_setting(conf, files[i], NULL);
		if (path)
			v = secret_add(v, &n, &cap, key_line(path, err,
			    sizeof err));
	}
	for (char **e = environ; *e; e++)
		if (agq_env_is_key(*e, NULL) && strchr(*e, '=')[1])
			v = secret_add(v, &n, &cap, agq_xstrdup(strchr(*e,
			    '=') + 1));
	return v;
}

void
agq_conf_secrets_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		agq_free_secret(v[i]);
	free(v);
}

char *
agq_backend_base(const struct agq_conf *conf, const struct agq_backend_def *d,
                 const char *ep_url, const json_t *task_env)
{
	const char *u = ep_url;
	if (!u)
		u = agq_backend_setting(conf, d->url_setting, NULL);
	if (u)
		return agq_xstrdup(u);
	/* the operator's environment, never the task's: a task's env that
	 * sets it would send the key to a URL of the task's choosing */
	const char *env = d->url_env && !json_object_get(task_env, d->url_env) ?
	    getenv(d->url_env) : NULL;
	if (!env || !*env)
		return d->url ? agq_xstrdup(d->url) : NULL;
	size_t n = strlen(env), p = d->url_env_path ?
	    strlen(d->url_env_path) : 0;
	while (n && env[n - 1] == '/')
		n--;
	if (p && n >= p && !memcmp(env + n - p, d->url_env_path, p))
		n -= p;
	return agq_xasprintf("%.*s", (int)n, env);
}
