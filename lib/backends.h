/*
 * backends.h - the table of agq's built-in backends (agq-backend(7)).
 *
 * One row per backend holds what used to be spelled out wherever a
 * backend was named: its name, its kind (a process, an HTTP API, an agent
 * CLI), the wire protocol of an HTTP API, its default base URL and API
 * paths, its agq.conf settings, the environment variable and setting of
 * its API key, and the complexity tier it serves.  Every file that names
 * a backend reads this table: the backend executables (backend.c), the
 * health checks of the endpoint registry (regcheck.c, registry.c,
 * agq-registry(1)), routing (route.c, classify.c, sched.c), agq.conf
 * (conf.c) and agq-doctor(8) (doctor.c).
 *
 * Adding a built-in backend is one row in backends.c.  Its executable
 * libexec/agq/NAME is built from the one main of libexec/backend.c: the
 * Makefile reads its list of backend executables (BACKENDS) from the rows
 * of backends.c, each of which begins with `{ .name = "NAME",` on a line
 * of its own, and tests/backend.bats fails when that list and the
 * compiled table (as agq-doctor(8) reports it) differ.  The usage text
 * of agq-registry(1) lists the endpoint types by hand; tests/registry.bats
 * checks it against the table.  A backend of a new kind or wire protocol
 * also needs its code: the request and the reading of the response in
 * backend.c (be_http), its health probe in regcheck.c.  A backend that is not built in is an executable dropped
 * into libexec/agq/ (agq-backend(7)); it has no row, and a task names it
 * explicitly.
 *
 * The lowest layer of libagq: it depends on nothing but libc.  The rows
 * are static and never change; every pointer returned is borrowed.
 */
#ifndef AGQ_BACKENDS_H
#define AGQ_BACKENDS_H

#include <stddef.h>

/* How a backend does its work (agq_backend_run dispatches on it). */
enum agq_backend_kind {
	AGQ_BACKEND_PROCESS,    /* runs the task's cmd itself (shell) */
	AGQ_BACKEND_HTTP,       /* one HTTP request to a model API */
	AGQ_BACKEND_CLI         /* an agent CLI pinned in cli-lock.json */
};

/* The wire protocol of an HTTP backend: the shape of its request and
 * response, how the key is sent, and its health probe. */
enum agq_backend_proto {
	AGQ_PROTO_NONE,         /* not an HTTP backend */
	AGQ_PROTO_OLLAMA,       /* Ollama: POST /api/chat with "stream":
	                         * false; no key; models from GET /api/tags,
	                         * the warm ones from GET /api/ps */
	AGQ_PROTO_OPENAI,       /* OpenAI chat completions: an optional
	                         * "Authorization: Bearer KEY"; models from
	                         * GET /v1/models */
	AGQ_PROTO_ANTHROPIC     /* Anthropic messages: "x-api-key: KEY" and
	                         * a version header, "max_tokens" in the
	                         * request; models from GET /v1/models */
};

/* Flags of a row (struct agq_backend_def.flags). */
/* The backend of its tier when nothing else chooses one: a prompt task
 * with no backend (agq_task_backend) and an agent that declares no
 * backends (agq_route_eval).  One row per tier has it. */
#define AGQ_BACKEND_TIER_DEFAULT 0x1u
/* A type of registered endpoint (agq-registry(1) add --type). */
#define AGQ_BACKEND_ENDPOINT     0x2u
/* agq-sched routes a task of this backend to one of the agent's declared
 * endpoints of this type that is healthy and has the model
 * (agq_route_eval): a model server the agent runs itself. */
#define AGQ_BACKEND_ROUTED       0x4u
/* Without an API key the call fails before any request (backend.c) and
 * the health check is not made (regcheck.c); otherwise the key is sent
 * only when one is configured. */
#define AGQ_BACKEND_KEY_REQUIRED 0x8u

/* One built-in backend.  A field that does not apply is NULL. */
struct agq_backend_def {
	const char *name;       /* libexec/agq/NAME, a task's "backend", an
	                         * agent's --backend, a key of the price
	                         * table's "backends"; [a-z0-9][a-z0-9_-]*,
	                         * at most 32 bytes */
	enum agq_backend_kind kind;
	enum agq_backend_proto proto;   /* AGQ_PROTO_NONE unless HTTP */
	int tier;               /* the tier it serves for an agent that
	                         * declares it (agq_route_eval): 0 trivial,
	                         * 1 standard, 2 complex (agq_tier_parse) */
	unsigned flags;         /* AGQ_BACKEND_* above */
	const char *url;        /* default base URL, "scheme://host[:port]" */
	const char *url_setting;        /* agq.conf: base URL */
	const char *url_env;    /* environment variable with a base URL, as
	                         * the vendor's SDK reads it; agq.conf's
	                         * url_setting wins over it (agq-backend(7)) */
	const char *url_env_path;       /* the leading part of chat_path and
	                         * models_path that url_env's value already
	                         * ends with ("/v1" for OPENAI_BASE_URL) */
	const char *model_setting;      /* agq.conf: the default model */
	const char *chat_path;  /* path of the model call, appended to the
	                         * base URL (POST) */
	const char *models_path;/* path of the health probe (GET): the
	                         * models the server has */
	const char *warm_path;  /* path (GET): the models loaded in memory */
	const char *key_env;    /* environment variable holding the API key */
	const char *key_setting;/* agq.conf: a file whose first line is it */
	const char *version_header;     /* an API version header's name */
	const char *version_setting;    /* agq.conf: its value */
	const char *version_default;    /* its value when not set */
};

/* Row I of the table (0, 1, ...), in the table's order, which is the
 * order of agq-doctor(8)'s backend checks; NULL past the last row.  For
 * iteration: for (i = 0; (d = agq_backend_at(i)); i++). */
const struct agq_backend_def *agq_backend_at(size_t i);

/* The row of the built-in backend NAME (compared exactly), or NULL when
 * NAME is NULL or not built in (a dropped-in executable). */
const struct agq_backend_def *agq_backend_def(const char *name);

/* The name of the backend with AGQ_BACKEND_TIER_DEFAULT for TIER (0, 1,
 * 2: shell, ollama, anthropic), or NULL for another TIER. */
const char *agq_backend_tier_default(int tier);

/* 1 if KEY is an agq.conf setting of some row (its url_setting,
 * model_setting, key_setting or version_setting), else 0.  conf.c
 * accepts these besides agq_backend_conf_keys. */
int agq_backend_setting_known(const char *key);

/* 1 if NAME is an environment variable that holds an API key for a
 * backend: the key_env of a row of the table (ANTHROPIC_API_KEY,
 * OPENAI_API_KEY), or one that the agent CLIs of the cli backend read
 * (GEMINI_API_KEY, GOOGLE_API_KEY, ANTHROPIC_AUTH_TOKEN,
 * CLAUDE_CODE_OAUTH_TOKEN, CODEX_API_KEY; agq-backend(7)); else 0.  Such
 * a variable of the agent's reaches only the backend process, never a
 * cmd task or a verify step (agq-run(8), SECURITY). */
int agq_backend_key_env(const char *name);

/* The names of the rows that serve TIER (any tier when TIER is -1) and
 * have every flag of FLAGS, in table order, joined as in a sentence:
 * "a", "a or b", "a, b or c".  Written to BUF (SIZE bytes, always
 * NUL-terminated, truncated to fit); returns BUF.  For messages such as
 * agq-registry(1)'s "--type: must be ollama, openai or anthropic". */
char *agq_backend_names(int tier, unsigned flags, char *buf, size_t size);

#endif
