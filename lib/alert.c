/* alert.c - agq-alert: rules, alert state in the spool, hooks (alert.h). */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "registry.h"
#include "stats.h"
#include "alert.h"

/* A condition that holds now: KEY identifies it (one alert per key). */
static void
cond(json_t *conds, const char *key, const char *rule, const char *msg,
     json_t *value, json_t *threshold)
{
	json_t *c = json_pack("{s:s, s:s, s:s}", "alert", key, "rule", rule,
	    "message", msg);
	if (value)
		json_object_set_new(c, "value", value);
	if (threshold)
		json_object_set_new(c, "threshold", threshold);
	json_object_set_new(conds, key, c);
}

/* ---- the rules ----------------------------------------------------------- */

static void
rule_queue_depth(const struct agq_spool *sp, const json_t *counts,
                 json_t *conds, json_t *fordur)
{
	const char *v = agq_obs_get(sp, "alert_queue_depth", "");
	if (!*v)
		return;
	char *end;
	long n = strtol(v, &end, 10);
	int64_t dur = 0;
	while (*end == ' ' || *end == '\t')
		end++;
	if (!strncmp(end, "for", 3)) {
		end += 3;
		while (*end == ' ' || *end == '\t')
			end++;
		agq_parse_duration(end, &dur);
	}
	json_int_t q = json_integer_value(json_object_get(counts, "queue"));
	if (q <= n)
		return;
	char msg[256];
	snprintf(msg, sizeof msg, "queue depth %lld over %ld%s%s",
	    (long long)q, n, dur ? " for " : "", dur ? end : "");
	cond(conds, "queue_depth", "queue_depth", msg, json_integer(q),
	    json_integer(n));
	if (dur)
		json_object_set_new(fordur, "queue_depth", json_integer(dur));
}

static void
rule_agent_offline(const struct agq_spool *sp, const json_t *agents,
                   json_t *conds)
{
	if (!agq_obs_bool(sp, "alert_agent_offline"))
		return;
	size_t i;
	json_t *a;
	json_array_foreach(agents, i, a) {
		const char *st = json_string_value(json_object_get(a, "state"));
		if (!st || strcmp(st, "offline"))
			continue;
		const char *name = json_string_value(json_object_get(a, "name"));
		char key[128], msg[256];
		snprintf(key, sizeof key, "agent_offline:%s", name);
		double age = json_number_value(json_object_get(a,
		    "heartbeat_age_s"));
		snprintf(msg, sizeof msg, "agent %s is offline: %s", name,
		    age >= 0 ? "its heartbeat is older than the lease" :
		    "it has no heartbeat");
		cond(conds, key, "agent_offline", msg, json_real(age),
		    json_real(sp->conf.lease_s));
	}
}

struct deadcount { int64_t since; long n; };

static int
dead_line(const struct agq_jline *jl, int64_t ts, void *arg)
{
	struct deadcount *D = arg;
	if (ts < D->since)
		return 1;
	char ev[16];
	if (agq_jstr(jl, "ev", ev, sizeof ev) && !strcmp(ev, "dead"))
		D->n++;
	return 0;
}

static void
rule_dead_letters(const struct agq_spool *sp, int64_t now, json_t *conds)
{
	const char *v = agq_obs_get(sp, "alert_dead_letters", "");
	if (!*v)
		return;
	long n = strtol(v, NULL, 10);
	struct deadcount D = { now - 3600 * (int64_t)1000000, 0 };
	agq_journal_back(sp, (off_t)64 << 20, dead_line, &D);
	if (D.n < n)
		return;
	char msg[128];
	snprintf(msg, sizeof msg, "%ld dead letter%s in the last hour", D.n,
	    D.n == 1 ? "" : "s");
	cond(conds, "dead_letters", "dead_letters", msg, json_integer(D.n),
	    json_integer(n));
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* The word "registered" in alert_endpoint: every endpoint of
 * agq-registry(1) that its health checks (two failures in a row) marked
 * unhealthy; key endpoint:NAME. */
static void
rule_registered(const struct agq_spool *sp, json_t *conds)
{
	json_t *reg = agq_registry_load(sp);
	const char *name;
	json_t *ep;
	json_object_foreach(reg, name, ep) {
		const char *h = json_string_value(json_object_get(ep, "health"));
		if (!h || strcmp(h, "unhealthy"))
			continue;
		const char *url = json_string_value(json_object_get(ep, "url"));
		const char *err = json_string_value(json_object_get(ep,
		    "error"));
		char key[600], msg[1024];
		snprintf(key, sizeof key, "endpoint:%s", name);
		snprintf(msg, sizeof msg, "registered endpoint %s (%s) is "
		    "unhealthy%s%s", name, url ? url : "?", err ? ": " : "",
		    err ? err : "");
		cond(conds, key, "endpoint", msg, json_integer(0), NULL);
	}
	json_decref(reg);
}

static void
rule_endpoint(const struct agq_spool *sp, json_t *conds)
{
	const char *v = agq_obs_get(sp, "alert_endpoint", "");
	if (!*v)
		return;
	char *copy = agq_xstrdup(v), *save = NULL;
	for (char *u = strtok_r(copy, " \t", &save); u;
	    u = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(u, "registered")) {
			rule_registered(sp, conds);
			continue;
		}
		CURL *c = curl_easy_init();
		char why[CURL_ERROR_SIZE + 64] = "";
		long code = 0;
		if (!c) {
			snprintf(why, sizeof why, "cannot start libcurl");
		} else {
			char eb[CURL_ERROR_SIZE] = "";
			curl_easy_setopt(c, CURLOPT_URL, u);
			curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
			curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
			curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
			curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
			CURLcode r = curl_easy_perform(c);
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			if (r != CURLE_OK)
				snprintf(why, sizeof why, "%s", eb[0] ? eb :
				    curl_easy_strerror(r));
			else if (code >= 400 || code < 100)
				snprintf(why, sizeof why, "HTTP status %ld", code);
			curl_easy_cleanup(c);
		}
		if (!why[0])
			continue;
		char key[600], msg[1024];
		snprintf(key, sizeof key, "endpoint:%s", u);
		snprintf(msg, sizeof msg, "endpoint %s is unhealthy: %s", u, why);
		cond(conds, key, "endpoint", msg, json_integer(code), NULL);
	}
	free(copy);
}

struct lanes_seen { int64_t since; int seen[AGQ_NLANES]; };

static int
assign_line(const struct agq_jline *jl, int64_t ts, void *arg)
{
	struct lanes_seen *L = arg;
	if (ts < L->since)
		return 1;
	char ev[16], lane[16];
	if (agq_jstr(jl, "ev", ev, sizeof ev) && !strcmp(ev, "assign") &&
	    agq_jstr(jl, "lane", lane, sizeof lane)) {
		int l = agq_lane_parse(lane);
		if (l >= 0)
			L->seen[l] = 1;
	}
	return 0;
}

struct oldest_lane { int64_t t[AGQ_NLANES]; };

static int
oldest_in_lane(const struct agq_loc *loc, const char *id, void *arg)
{
	struct oldest_lane *O = arg;
	struct stat sb;
	if (loc->lane < 0 || loc->lane >= AGQ_NLANES || stat(loc->path, &sb) < 0)
		return 0;
	int64_t m = (int64_t)sb.st_mtim.tv_sec * 1000000 +
	    sb.st_mtim.tv_nsec / 1000;
	if (!O->t[loc->lane] || m < O->t[loc->lane])
		O->t[loc->lane] = m;
	return 0;
}

static void
rule_no_progress(const struct agq_spool *sp, const json_t *counts,
                 int64_t now, json_t *conds)
{
	const char *v = agq_obs_get(sp, "alert_no_progress", "");
	int64_t dur;
	if (!*v || agq_parse_duration(v, &dur) < 0 || dur <= 0)
		return;
	const json_t *lanes = json_object_get(counts, "queue_lanes");
	if (json_integer_value(json_object_get(counts, "queue")) <= 0)
		return;
	struct oldest_lane O = { { 0 } };
	agq_each_task(sp, AGQ_ST_QUEUE, oldest_in_lane, &O);
	struct lanes_seen L = { now - dur, { 0 } };
	agq_journal_back(sp, (off_t)64 << 20, assign_line, &L);
	for (int l = 0; l < AGQ_NLANES; l++) {
		json_int_t q = json_integer_value(json_object_get(lanes,
		    agq_lane_name(l)));
		if (q <= 0 || L.seen[l] || !O.t[l] || now - O.t[l] < dur)
			continue;
		char key[64], msg[256];
		snprintf(key, sizeof key, "no_progress:%s", agq_lane_name(l));
		snprintf(msg, sizeof msg, "lane %s: %lld queued, none assigned "
		    "for %s (the oldest waits %.0f s)", agq_lane_name(l),
		    (long long)q, v, (double)(now - O.t[l]) / 1e6);
		cond(conds, key, "no_progress", msg, json_integer(q),
		    json_real((double)dur / 1e6));
	}
}

/* ---- the hook ------------------------------------------------------------ */

/* Run CMD with sh -c, JSON on its stdin; NULL or why it failed. */
static char *
hook(const char *cmd, const char *json, double timeout_s)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return agq_xasprintf("cannot make a pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return agq_xasprintf("cannot fork: %s", strerror(e));
	}
	if (pid == 0) {
		if (dup2(p[0], 0) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	agq_write_all(p[1], json, strlen(json));
	close(p[1]);
	signal(SIGPIPE, old);
	int st = 0;
	int64_t end = agq_mono_us() + (int64_t)(timeout_s * 1e6);
	pid_t r;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0) {
		if (agq_mono_us() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return agq_xasprintf("the hook did not finish in %g s "
			    "and was killed", timeout_s);
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (r < 0)
		return agq_xasprintf("cannot wait for the hook: %s",
		    strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return NULL;
	if (WIFEXITED(st))
		return agq_xasprintf("the hook exited %d", WEXITSTATUS(st));
	return agq_xasprintf("the hook was killed by signal %d", WTERMSIG(st));
}

/* Journal, hook and record one alert that starts or clears. */
static void
announce(const struct agq_spool *sp, json_t *a, const char *state,
         int64_t now, json_t *list, json_t *errors, double timeout_s)
{
	char ts[32];
	json_object_set_new(a, "state", json_string(state));
	json_object_set_new(a, "ts", json_string(agq_fmt_time(now, ts)));
	json_object_set_new(a, "spool", json_string(sp->root));
	json_object_set_new(a, "host", json_string(agq_hostname()));
	json_t *ev = json_pack("{s:O, s:O, s:s, s:O}", "alert",
	    json_object_get(a, "alert"), "rule", json_object_get(a, "rule"),
	    "state", !strcmp(state, "firing") ? "start" : "clear", "message",
	    json_object_get(a, "message"));
	if (json_object_get(a, "value"))
		json_object_set(ev, "value", json_object_get(a, "value"));
	if (json_object_get(a, "since"))
		json_object_set(ev, "since", json_object_get(a, "since"));
	agq_journal_w(sp, "alert", NULL, ev);
	const char *cmd = agq_obs_get(sp, "alert_hook", "");
	if (*cmd) {
		char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(12));
		char *line = agq_xasprintf("%s\n", s ? s : "{}");
		char *err = hook(cmd, line, timeout_s);
		if (err) {
			agq_warn("alert %s: %s", json_string_value(
			    json_object_get(a, "alert")), err);
			json_array_append_new(errors, json_pack("{s:O, s:s}",
			    "alert", json_object_get(a, "alert"), "error", err));
			free(err);
		}
		free(line);
		free(s);
	}
	json_array_append(list, a);
}

/* ---- the state ------------------------------------------------------------ */

static json_t *
load_state(const struct agq_spool *sp)
{
	char *p = agq_spool_path(sp, "alerts.json");
	size_t len;
	char *buf = agq_read_file(p, 16u << 20, &len, NULL);
	json_t *st = NULL;
	if (buf) {
		st = json_loadb(buf, len, 0, NULL);
		if (!json_is_object(st)) {
			/* never lose data: keep the bad file aside */
			agq_warn("%s is not a JSON object: moved to corrupt/, "
			    "starting afresh", p);
			agq_quarantine(sp, p, "alerts.json", "not a JSON object "
			    "(agq-alert state)");
			json_decref(st);
			st = NULL;
		}
	} else if (errno != ENOENT) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	free(buf);
	free(p);
	if (!st)
		st = json_object();
	if (!json_is_object(json_object_get(st, "active")))
		json_object_set_new(st, "active", json_object());
	if (!json_is_object(json_object_get(st, "pending")))
		json_object_set_new(st, "pending", json_object());
	return st;
}

static int
save_state(const struct agq_spool *sp, const json_t *st)
{
	char *p = agq_spool_path(sp, "alerts.json");
	int r = agq_write_json(sp->tmp, p, st, JSON_INDENT(2) |
	    JSON_SORT_KEYS | JSON_REAL_PRECISION(12), 1, 0);
	int e = errno;
	free(p);
	errno = e;
	return r;
}

json_t *
agq_alert_run(const struct agq_spool *sp, int64_t now, double timeout_s)
{
	int lock = agq_spool_flock(sp, "alert", 1);
	if (lock < 0)
		return NULL;
	json_t *st = load_state(sp);
	if (!st) {
		int e = errno;
		close(lock);
		errno = e;
		return NULL;
	}
	json_t *active = json_object_get(st, "active");
	json_t *pending = json_object_get(st, "pending");
	json_t *counts = agq_status_counts(sp);
	json_t *agents = agq_status_agents(sp, now);
	json_t *conds = json_object(), *fordur = json_object();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rule_queue_depth(sp, counts, conds, fordur);
	rule_agent_offline(sp, agents, conds);
	rule_dead_letters(sp, now, conds);
	rule_endpoint(sp, conds);
	rule_no_progress(sp, counts, now, conds);
	curl_global_cleanup();

	json_t *started = json_array(), *cleared = json_array(),
	    *errors = json_array();
	char ts[32];
	const char *key;
	json_t *c, *tmp;
	/* pending conditions: forget those that no longer hold */
	json_object_foreach_safe(pending, tmp, key, c)
		if (!json_object_get(conds, key))
			json_object_del(pending, key);
	json_object_foreach(conds, key, c) {
		if (json_object_get(active, key))
			continue;
		json_t *d = json_object_get(fordur, key);
		if (d) {
			json_t *p = json_object_get(pending, key);
			int64_t since = p ? agq_task_time(pending, key, now) :
			    now;
			if (!p)
				json_object_set_new(pending, key, json_string(
				    agq_fmt_time(now, ts)));
			if (now - since < json_integer_value(d))
				continue;
			json_object_set_new(c, "pending_since", json_string(
			    agq_fmt_time(since, ts)));
			json_object_del(pending, key);
		}
		json_object_set_new(c, "since", json_string(agq_fmt_time(now,
		    ts)));
		announce(sp, c, "firing", now, started, errors, timeout_s);
		json_object_set(active, key, c);
	}
	json_object_foreach_safe(active, tmp, key, c) {
		json_t *now_c = json_object_get(conds, key);
		if (now_c) {
			/* still firing: keep its start, refresh its message */
			json_object_set(c, "message", json_object_get(now_c,
			    "message"));
			if (json_object_get(now_c, "value"))
				json_object_set(c, "value", json_object_get(
				    now_c, "value"));
			continue;
		}
		json_t *a = json_deep_copy(c);
		announce(sp, a, "cleared", now, cleared, errors, timeout_s);
		json_decref(a);
		json_object_del(active, key);
	}
	json_t *list = json_array();
	json_object_foreach(active, key, c)
		json_array_append(list, c);
	int r = save_state(sp, st);
	int e = errno;
	json_decref(st);
	json_decref(conds);
	json_decref(fordur);
	json_decref(counts);
	json_decref(agents);
	close(lock);
	json_t *out = json_pack("{s:o, s:o, s:o, s:o}", "active", list,
	    "started", started, "cleared", cleared, "errors", errors);
	if (r < 0) {
		json_decref(out);
		errno = e;
		return NULL;
	}
	return out;
}
