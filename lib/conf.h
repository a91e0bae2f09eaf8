/*
 * conf.h - conf.c: etc/agq.conf.
 *
 * The settings file and its keys, including the backends' and the
 * observers' (agq-sync, agq-dash, agq-alert) keys, so that reading a
 * configuration links nothing above util.  See etc/agq.conf and agq(7).
 */
#ifndef AGQ_CONF_H
#define AGQ_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "quota.h"

/* The settings of etc/agq.conf (documented there and in agq(7)).  Times in
 * seconds.  Command-line options override them. */
struct agq_conf {
	char *spool;            /* spool directory, NULL = compiled default */
	double lease_s;         /* heartbeat age after which an agent is dead */
	double heartbeat_s;     /* how often agq-run heartbeats */
	double assign_timeout_s;/* leased but not started: reclaim after */
	double kill_grace_s;    /* SIGTERM to SIGKILL on timeout */
	double rescan_s;        /* agq-sched full rescan period */
	double notify_timeout_s;/* a task's notify hook is killed after */
	size_t max_task_bytes;  /* larger inbox drops are quarantined */
	int64_t backoff_cap_s;  /* retry backoff ceiling */
	char *cwd_root;         /* tasks' cwd must be at or below, NULL: any */
	int inbox_trust;        /* whose inbox drops are accepted: AGQ_TRUST_* */
	json_t *obs;            /* agq-sync, agq-dash, agq-alert settings
	                         * (agq_obs_conf below): key -> string */
	json_t *backend;        /* backend settings (the keys of
	                         * agq_backend_conf_keys below), an object of
	                         * strings or NULL; freed by agq_conf_free */
	char *journal_key_file; /* the journal's HMAC key (agq-journal(5),
	                         * "Keyed journal"), an absolute path or NULL */
	int mcp_max_subtasks;   /* agq-mcp(1): subtasks one task may submit
	                         * (0 to 1000, default 20) */
	json_t *token_caps;     /* token_caps: capabilities that count only
	                         * with a verified token (captoken.h), an
	                         * array of strings or NULL: none */
	double clock_skew_max_s;/* agq-doctor fails when this host's clock
	                         * and the spool's file server's differ by
	                         * more (agq(7); default 2) */
	int spool_fs;           /* spool_fs: AGQ_SPOOL_FS_* (agq.conf(5)) */
	struct agq_limit *limits; /* limit.KIND.NAME.FIELD lines (quota.h,
	                         * agq.conf(5) "Limits"), NLIMITS of them,
	                         * in file order; a later line of the same
	                         * key replaces the earlier */
	size_t nlimits;
	char *budget_tz;        /* budget_usd's day: its zone, NULL: UTC */
	int lane_w[4];          /* lane_weights: urgent..low (8,4,2,1) */
	int lane_strict;        /* lane_weights = strict */
};

/* spool_fs (agq.conf(5), agq-spool(5) "Network file systems"): is the
 * spool on a remote file system, where inotify(7) sees no other host's
 * change and one program writes the journal?  auto asks statfs(2)
 * (fskind.h); local and remote say so for a file system it cannot tell. */
enum { AGQ_SPOOL_FS_AUTO, AGQ_SPOOL_FS_LOCAL, AGQ_SPOOL_FS_REMOTE };

/* inbox_trust (agq-spool(5), "Inbox drops"; agq(7)): on a spool not owned
 * by root, the drops of which uids agq-sched accepts.  The values are
 * those of agq_trust_parse. */
enum {
	AGQ_TRUST_OWNER,        /* the spool's owner's (and root's): default */
	AGQ_TRUST_GROUP,        /* and the members of inbox/'s group */
	AGQ_TRUST_ANY           /* anyone's */
};

/* The AGQ_TRUST_* value of S ("owner", "group", "any"), or -1. */
int agq_trust_parse(const char *s);

/* Fill CONF with built-in defaults, then read the file PATH (or, when PATH
 * is NULL, $AGQ_CONF, else the compiled-in etc/agq.conf; a missing default
 * file is not an error).  Format: "key = value" lines, '#' comments, blank
 * lines.  Returns 0, or -1 after printing "agq-PROG: FILE:LINE: ..." for an
 * unreadable file or a bad line (exit EX_CONFIG). */
int agq_conf_load(struct agq_conf *conf, const char *path);

/* Free what agq_conf_load allocated in CONF (its strings and objects) and
 * set those fields to NULL; the numbers stay.  CONF itself is the
 * caller's.  agq_spool_close calls it. */
void agq_conf_free(struct agq_conf *conf);

/* The agq.conf keys that belong to the backends (conf.c stores them in
 * conf->backend): those of each row of the table of backends (backends.h:
 * ollama_url, openai_url, anthropic_url (base URLs), ollama_model,
 * openai_model, anthropic_model (default models), openai_key_file,
 * anthropic_key_file (files holding a key on their first line),
 * anthropic_version), which agq_backend_conf_key also accepts, and in
 * agq_backend_conf_keys: max_tokens, backend_timeout (seconds), prices
 * (path of the price table), cli_lock (path of the CLI lock file),
 * registry_check (seconds between agq-sched's endpoint checks), route_wait
 * (seconds before a tier falls back), route_fallback (yes/no), and
 * git.h's workspace_root, git_author_name, git_author_email,
 * git_ssh_key, git_token_file (paths, a name, an address) and
 * git_token_hosts (words: HOST or HOST:PORT), and
 * forge.h's forge, forge_url, forge_token_file and forge_repo. */
extern const char *const agq_backend_conf_keys[];
int agq_backend_conf_key(const char *key);

/* The value of backend setting KEY in CONF, or DFLT (borrowed).  In
 * conf.c with agq_etc_path, so that readers link no libcurl. */
const char *agq_backend_setting(const struct agq_conf *conf, const char *key,
                                const char *dflt);

/* ETC/NAME where ETC is the directory of the compiled-in agq.conf
 * (prices.json, cli-lock.json).  malloc'd. */
char *agq_etc_path(const char *name);

/* The observers' settings (agq-sync, agq-dash and agq-alert, etc/agq.conf).
 * Called by agq_conf_load for each "KEY = VAL" line: 0 when KEY is not
 * one of these programs' settings (sync_target, sync_allow,
 * sync_require_clean, dash_refresh, alert_queue_depth,
 * alert_agent_offline, alert_dead_letters, alert_endpoint,
 * alert_no_progress, alert_hook, and agq-clean(8)'s clean_after and
 * clean_states); 1 when it is and VAL is valid (stored
 * in *OBS, an object created on first use, KEY -> string; sync_allow
 * lines add up); -1 with ERR filled when VAL is not valid. */
int agq_obs_conf(json_t **obs, const char *key, const char *val, char *err,
                 size_t size);

/* A yes/no setting's value V: 1 for yes, true or 1; 0 for no, false, 0 or
 * empty; -1 for anything else (etc/agq.conf). */
int agq_conf_bool(const char *v);

struct agq_backend_def;
/* The API key of backend D (a row of backends.h with a key_env): $KEY_ENV
 * when set and not empty, else the first line (without its newline) of the
 * file named by D's key_setting in CONF.  malloc'd (free it with
 * agq_free_secret), or NULL with ERR (SIZE bytes) saying why: no key
 * configured, the key file unreadable (strerror and path), or empty.
 * In conf.c, not backend.c: agq-sched names a backend's account with it
 * (agq_throttle_account) and links no libcurl. */
char *agq_backend_key(const struct agq_conf *conf,
                      const struct agq_backend_def *d, char *err,
                      size_t size);

/* The agent's secrets, for keeping them out of what tasks get
 * (agq_env_is_key): the first line of every backend's key file
 * (anthropic_key_file, openai_key_file), of git_token_file,
 * forge_token_file and journal_key_file set in CONF, and the value of
 * every variable of the environment that holds a key
 * (agq_backend_key_env).  A file that cannot
 * be read gives nothing.  A NULL-terminated malloc'd array of malloc'd
 * strings, never NULL: free it with agq_conf_secrets_free, which zeroes
 * them (agq_free_secret). */
char **agq_conf_secrets(const struct agq_conf *conf);
void agq_conf_secrets_free(char **secrets);

/* The base URL of backend D (a row of backends.h), malloc'd: EP_URL (the
 * endpoint chosen for the task, its route; may be NULL), else agq.conf's
 * D->url_setting, else the environment's D->url_env as the vendor's SDK
 * reads it (without its trailing D->url_env_path: OPENAI_BASE_URL ends
 * with /v1, which agq's paths begin with; ignored when TASK_ENV, the
 * task's "env" object or NULL, sets it), else D->url.  An explicit
 * setting beats the environment, as in the vendors' SDKs
 * (agq-backend(7), "Base URLs"). */
char *agq_backend_base(const struct agq_conf *conf,
                       const struct agq_backend_def *d, const char *ep_url,
                       const json_t *task_env);

#endif
