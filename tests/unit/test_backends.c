/* Unit tests for lib/backends.c: the table of backends (backends.h) and
 * what reads it (agq_backend_conf_key, agq_endpoint_type_valid,
 * agq_task_backend).  The Makefile's list is checked in backend.bats. */
#include "agq.h"
#include "backend.h"
#include "unit.h"

static int
same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The row NAME has the values the literals had before the table. */
static int
http_row(const char *name, enum agq_backend_proto proto, const char *url,
         const char *chat, const char *models, const char *key_env)
{
	const struct agq_backend_def *d = agq_backend_def(name);
	return d && d->kind == AGQ_BACKEND_HTTP && d->proto == proto &&
	    same(d->url, url) && same(d->chat_path, chat) &&
	    same(d->models_path, models) &&
	    (key_env ? same(d->key_env, key_env) : !d->key_env);
}

/* agq_task_backend of the task TEXT is WANT. */
static int
task_backend(const char *text, const char *want)
{
	json_t *t = json_loads(text, 0, NULL);
	const char *b = t ? agq_task_backend(t) : "(bad test JSON)";
	int ok = want ? same(b, want) : !b;
	json_decref(t);
	return ok;
}

int
main(void)
{
	/* every row: a valid, unique name; the fields of its kind */
	const struct agq_backend_def *d;
	char names[256] = "";
	int rows_ok = 1, defaults[3] = { 0, 0, 0 };
	size_t n;
	for (n = 0; (d = agq_backend_at(n)); n++) {
		int http = d->kind == AGQ_BACKEND_HTTP;
		if (!agq_backend_name_valid(d->name) ||
		    agq_backend_def(d->name) != d || d->tier < 0 || d->tier > 2 ||
		    http != (d->proto != AGQ_PROTO_NONE) ||
		    (http && (!d->url || !d->url_setting || !d->model_setting ||
		    !d->chat_path || !d->models_path)) ||
		    (!http && (d->flags & (AGQ_BACKEND_ENDPOINT |
		    AGQ_BACKEND_ROUTED))) ||
		    ((d->flags & AGQ_BACKEND_ROUTED) &&
		    !(d->flags & AGQ_BACKEND_ENDPOINT)) ||
		    (!d->key_env != !d->key_setting) ||
		    ((d->flags & AGQ_BACKEND_KEY_REQUIRED) && !d->key_env) ||
		    (!d->version_header != !d->version_default)) {
			printf("# bad row %zu: %s\n", n, d->name);
			rows_ok = 0;
		}
		if (d->flags & AGQ_BACKEND_TIER_DEFAULT)
			defaults[d->tier]++;
		snprintf(names + strlen(names), sizeof names - strlen(names),
		    "%s%s", n ? " " : "", d->name);
	}
	CHECK(rows_ok, "every row has a valid, unique name and the fields "
	    "of its kind");
	CHECK(defaults[0] == 1 && defaults[1] == 1 && defaults[2] == 1,
	    "one default backend per tier");
	CHECK(!strcmp(names, "shell ollama openai anthropic cli"),
	    "the rows, in order");
	CHECK(agq_backend_at(n) == NULL && agq_backend_at((size_t)-1) == NULL,
	    "no row past the last");

	/* look-ups */
	CHECK(!agq_backend_def(NULL) && !agq_backend_def("nope") &&
	    !agq_backend_def("Shell") && !agq_backend_def(""),
	    "no row for NULL, unknown or differently spelt names");
	CHECK(same(agq_backend_tier_default(0), "shell") &&
	    same(agq_backend_tier_default(1), "ollama") &&
	    same(agq_backend_tier_default(2), "anthropic") &&
	    !agq_backend_tier_default(3) && !agq_backend_tier_default(-1),
	    "tier defaults: shell, ollama, anthropic");
	CHECK(agq_backend_def("shell")->kind == AGQ_BACKEND_PROCESS &&
	    agq_backend_def("cli")->kind == AGQ_BACKEND_CLI &&
	    agq_backend_def("cli")->tier == 2, "shell runs a cmd, cli a CLI");
	CHECK(http_row("ollama", AGQ_PROTO_OLLAMA, "http://127.0.0.1:11434",
	    "/api/chat", "/api/tags", NULL) &&
	    same(agq_backend_def("ollama")->warm_path, "/api/ps"),
	    "ollama: URL, paths, no key");
	CHECK(http_row("openai", AGQ_PROTO_OPENAI, "https://api.openai.com",
	    "/v1/chat/completions", "/v1/models", "OPENAI_API_KEY") &&
	    !(agq_backend_def("openai")->flags & AGQ_BACKEND_KEY_REQUIRED),
	    "openai: URL, paths, an optional key");
	CHECK(http_row("anthropic", AGQ_PROTO_ANTHROPIC,
	    "https://api.anthropic.com", "/v1/messages", "/v1/models",
	    "ANTHROPIC_API_KEY") &&
	    (agq_backend_def("anthropic")->flags & AGQ_BACKEND_KEY_REQUIRED) &&
	    same(agq_backend_def("anthropic")->version_default, "2023-06-01"),
	    "anthropic: URL, paths, a required key, the version header");

	/* names in messages */
	char buf[64];
	CHECK(!strcmp(agq_backend_names(-1, AGQ_BACKEND_ENDPOINT, buf,
	    sizeof buf), "ollama, openai or anthropic"),
	    "endpoint types: ollama, openai or anthropic");
	CHECK(!strcmp(agq_backend_names(0, 0, buf, sizeof buf), "shell") &&
	    !strcmp(agq_backend_names(1, 0, buf, sizeof buf),
	    "ollama or openai") &&
	    !strcmp(agq_backend_names(2, 0, buf, sizeof buf),
	    "anthropic or cli") &&
	    !strcmp(agq_backend_names(3, 0, buf, sizeof buf), ""),
	    "the backends of each tier");
	CHECK(!strcmp(agq_backend_names(-1, AGQ_BACKEND_ROUTED,
	    buf, sizeof buf), "ollama or openai"), "routed: ollama or openai");
	char small[10];
	memset(small, 'x', sizeof small);
	agq_backend_names(-1, 0, small, sizeof small);
	CHECK(memchr(small, '\0', sizeof small) &&
	    !strncmp(small, "shell", 5), "a short buffer: truncated, "
	    "terminated");
	small[0] = 'x';
	agq_backend_names(-1, 0, small, 0);
	CHECK(small[0] == 'x', "a buffer of 0 bytes is not written");

	/* the readers */
	static const char *const keys[] = { "ollama_url", "openai_url",
	    "anthropic_url", "ollama_model", "openai_model", "anthropic_model",
	    "openai_key_file", "anthropic_key_file", "anthropic_version",
	    "max_tokens", "backend_timeout", "prices", "cli_lock",
	    "registry_check", "route_wait", "route_fallback", NULL };
	int all = 1;
	for (int i = 0; keys[i]; i++)
		if (!agq_backend_conf_key(keys[i])) {
			printf("# not a backend setting: %s\n", keys[i]);
			all = 0;
		}
	CHECK(all, "agq.conf accepts every backend setting it did before");
	CHECK(!agq_backend_conf_key("shell_url") &&
	    !agq_backend_conf_key("cli_model") &&
	    !agq_backend_conf_key("nope") && !agq_backend_conf_key(""),
	    "and no setting a row does not have");
	CHECK(agq_endpoint_type_valid("ollama") &&
	    agq_endpoint_type_valid("openai") &&
	    agq_endpoint_type_valid("anthropic") &&
	    !agq_endpoint_type_valid("shell") &&
	    !agq_endpoint_type_valid("cli") &&
	    !agq_endpoint_type_valid(NULL) && !agq_endpoint_type_valid("x"),
	    "endpoint types are the rows with AGQ_BACKEND_ENDPOINT");
	CHECK(task_backend("{\"prompt\": \"fix a typo\", \"cmd\": \"x\"}",
	    "shell") &&
	    task_backend("{\"prompt\": \"fix a typo\"}", "ollama") &&
	    task_backend("{\"prompt\": \"p\"}", "ollama") &&
	    task_backend("{\"prompt\": \"refactor the security "
	    "architecture\"}", "anthropic") &&
	    task_backend("{\"prompt\": \"p\", \"backend\": \"mine\"}", "mine") &&
	    task_backend("{\"cmd\": \"x\"}", NULL) &&
	    task_backend("{\"cmd\": \"x\", \"route\": {\"backend\": "
	    "\"shell\"}}", NULL) &&
	    task_backend("{\"cmd\": \"x\", \"route\": {\"backend\": "
	    "\"cli\"}}", "cli"),
	    "a task's backend: explicit, routed, else its tier's default");
	DONE();
}
