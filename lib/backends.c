/*
 * backends.c - the table of agq's built-in backends (backends.h,
 * agq-backend(7)).
 *
 * Each row begins with `{ .name = "NAME",` on a line of its own: the
 * Makefile's BACKENDS (the executables libexec/agq/NAME) is read from
 * those lines.
 */

#include <stdio.h>
#include <string.h>

#include "backends.h"

static const struct agq_backend_def table[] = {
	{ .name = "shell",
	  .kind = AGQ_BACKEND_PROCESS, .tier = 0,
	  .flags = AGQ_BACKEND_TIER_DEFAULT },
	{ .name = "ollama",
	  .kind = AGQ_BACKEND_HTTP, .proto = AGQ_PROTO_OLLAMA, .tier = 1,
	  .flags = AGQ_BACKEND_TIER_DEFAULT | AGQ_BACKEND_ENDPOINT |
	      AGQ_BACKEND_ROUTED,
	  .url = "http://127.0.0.1:11434",
	  .url_setting = "ollama_url", .model_setting = "ollama_model",
	  .chat_path = "/api/chat", .models_path = "/api/tags",
	  .warm_path = "/api/ps" },
	{ .name = "openai",
	  .kind = AGQ_BACKEND_HTTP, .proto = AGQ_PROTO_OPENAI, .tier = 1,
	  .flags = AGQ_BACKEND_ENDPOINT | AGQ_BACKEND_ROUTED,
	  .url = "https://api.openai.com",
	  .url_setting = "openai_url", .model_setting = "openai_model",
	  .url_env = "OPENAI_BASE_URL", .url_env_path = "/v1",
	  .chat_path = "/v1/chat/completions", .models_path = "/v1/models",
	  .key_env = "OPENAI_API_KEY", .key_setting = "openai_key_file" },
	{ .name = "anthropic",
	  .kind = AGQ_BACKEND_HTTP, .proto = AGQ_PROTO_ANTHROPIC, .tier = 2,
	  .flags = AGQ_BACKEND_TIER_DEFAULT | AGQ_BACKEND_ENDPOINT |
	      AGQ_BACKEND_KEY_REQUIRED,
	  .url = "https://api.anthropic.com",
	  .url_setting = "anthropic_url", .model_setting = "anthropic_model",
	  .url_env = "ANTHROPIC_BASE_URL",
	  .chat_path = "/v1/messages", .models_path = "/v1/models",
	  .key_env = "ANTHROPIC_API_KEY", .key_setting = "anthropic_key_file",
	  .version_header = "anthropic-version",
	  .version_setting = "anthropic_version",
	  .version_default = "2023-06-01" },
	{ .name = "cli",
	  .kind = AGQ_BACKEND_CLI, .tier = 2 },
};

#define NROWS (sizeof table / sizeof table[0])

const struct agq_backend_def *
agq_backend_at(size_t i)
{
	return i < NROWS ? &table[i] : NULL;
}

const struct agq_backend_def *
agq_backend_def(const char *name)
{
	for (size_t i = 0; name && i < NROWS; i++)
		if (!strcmp(name, table[i].name))
			return &table[i];
	return NULL;
}

const char *
agq_backend_tier_default(int tier)
{
	for (size_t i = 0; i < NROWS; i++)
		if (table[i].tier == tier &&
		    (table[i].flags & AGQ_BACKEND_TIER_DEFAULT))
			return table[i].name;
	return NULL;
}

static int
eq(const char *setting, const char *key)
{
	return setting && !strcmp(setting, key);
}

int
agq_backend_setting_known(const char *key)
{
	for (size_t i = 0; i < NROWS; i++)
		if (eq(table[i].url_setting, key) ||
		    eq(table[i].model_setting, key) ||
		    eq(table[i].key_setting, key) ||
		    eq(table[i].version_setting, key))
			return 1;
	return 0;
}

int
agq_backend_key_env(const char *name)
{
	/* the agent CLIs' own (claude, codex, gemini: their documentation) */
	static const char *const cli[] = { "GEMINI_API_KEY", "GOOGLE_API_KEY",
	    "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CODEX_API_KEY",
	    NULL };
	for (size_t i = 0; i < NROWS; i++)
		if (eq(table[i].key_env, name))
			return 1;
	for (int i = 0; cli[i]; i++)
		if (!strcmp(cli[i], name))
			return 1;
	return 0;
}

/* Row I serves TIER (any when -1) and has every flag of FLAGS. */
static int
listed(size_t i, int tier, unsigned flags)
{
	return (tier < 0 || table[i].tier == tier) &&
	    (table[i].flags & flags) == flags;
}

char *
agq_backend_names(int tier, unsigned flags, char *buf, size_t size)
{
	size_t n = 0, left = 0, i;
	for (i = 0; i < NROWS; i++)
		left += (size_t)listed(i, tier, flags);
	if (size)
		buf[0] = '\0';
	for (i = 0; i < NROWS && size; i++) {
		if (!listed(i, tier, flags))
			continue;
		left--;
		int w = snprintf(buf + n, size - n, "%s%s", table[i].name,
		    left > 1 ? ", " : left == 1 ? " or " : "");
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	return buf;
}
