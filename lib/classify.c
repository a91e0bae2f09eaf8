/* classify.c - the complexity tier of a task and the heuristic that infers
 * it (agq-classify(1), agq-task(5)).  The rules are listed in backend.h
 * and documented in agq-classify(1); keep the three in step. */

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backends.h"
#include "util.h"
#include "paths.h"
#include "steps.h"
#include "classify.h"

static const char *tiers[] = { "trivial", "standard", "complex" };

static const char *complex_words[] = {
	"refactor", "migrate", "migration", "security", "vulnerability",
	"architecture", "redesign", "rewrite", "concurrency", NULL
};
static const char *small_words[] = {
	"typo", "spelling", "bump version", "bump the version", "changelog",
	"copyright year", "rename", NULL
};

const char *
agq_tier_name(int tier)
{
	return tier >= 0 && tier < 3 ? tiers[tier] : "?";
}

int
agq_tier_parse(const char *s)
{
	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, tiers[i]))
			return i;
	return -1;
}

/* Does TEXT contain WORD (lower case) starting at a word boundary,
 * case-insensitively? */
static int
has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = text; *p; p++) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		if (!strncasecmp(p, word, n))
			return 1;
	}
	return 0;
}

static const char *
first_word(const char *text, const char **words)
{
	for (int i = 0; words[i]; i++)
		if (has_word(text, words[i]))
			return words[i];
	return NULL;
}

static void
add_signal(json_t *sig, int *score, const char *name, json_t *value, int weight)
{
	json_array_append_new(sig, json_pack("{s:s, s:o, s:i}", "signal", name,
	    "value", value, "weight", weight));
	*score += weight;
}

json_t *
agq_classify(const json_t *t)
{
	json_t *c = json_object_get(t, "complexity");
	int tier = -1;
	if (json_is_string(c))
		tier = agq_tier_parse(json_string_value(c));
	else if (json_is_object(c) && json_is_string(json_object_get(c,
	    "source")) && !strcmp(json_string_value(json_object_get(c,
	    "source")), "explicit"))
		tier = agq_tier_parse(json_string_value(json_object_get(c,
		    "tier")));
	if (tier >= 0)
		return json_pack("{s:s, s:s, s:i, s:[]}", "tier",
		    tiers[tier], "source", "explicit", "score", 0, "signals");

	json_t *sig = json_array();
	int score = 0;
	const char *prompt = json_string_value(json_object_get(t, "prompt"));
	int has_cmd = json_object_get(t, "cmd") != NULL;
	if (has_cmd && !prompt) {
		add_signal(sig, &score, "cmd_only", json_true(), 0);
		return json_pack("{s:s, s:s, s:i, s:o}", "tier", "trivial",
		    "source", "inferred", "score", score, "signals", sig);
	}
	size_t plen = prompt ? strlen(prompt) : 0;
	if (plen < 200)
		add_signal(sig, &score, "prompt_short", json_integer((json_int_t)plen),
		    -1);
	else if (plen >= 4000)
		add_signal(sig, &score, "prompt_long", json_integer((json_int_t)plen),
		    2);
	else if (plen >= 1000)
		add_signal(sig, &score, "prompt_medium",
		    json_integer((json_int_t)plen), 1);
	size_t nf = json_array_size(json_object_get(json_object_get(t,
	    "context"), "files"));
	if (nf >= 10)
		add_signal(sig, &score, "many_files", json_integer((json_int_t)nf), 2);
	else if (nf >= 3)
		add_signal(sig, &score, "several_files", json_integer((json_int_t)nf),
		    1);
	size_t nv = json_array_size(json_object_get(t, "verify"));
	if (nv >= 4)
		add_signal(sig, &score, "many_verify_steps",
		    json_integer((json_int_t)nv), 1);
	const char *title = json_string_value(json_object_get(t, "title"));
	char *text = agq_xasprintf("%s\n%s", title ? title : "",
	    prompt ? prompt : "");
	const char *w;
	if ((w = first_word(text, complex_words)))
		add_signal(sig, &score, "complex_keyword", json_string(w), 3);
	if ((w = first_word(text, small_words)))
		add_signal(sig, &score, "small_change_keyword", json_string(w), -2);
	free(text);
	tier = score >= 2 ? 2 : score <= -2 && has_cmd ? 0 : 1;
	return json_pack("{s:s, s:s, s:i, s:o}", "tier", tiers[tier],
	    "source", "inferred", "score", score, "signals", sig);
}

int
agq_task_tier(const json_t *t)
{
	json_t *c = json_object_get(t, "complexity");
	if (json_is_object(c)) {
		int tier = agq_tier_parse(json_string_value(json_object_get(c,
		    "tier")));
		if (tier >= 0)
			return tier;
	}
	json_t *k = agq_classify(t);
	int tier = agq_tier_parse(json_string_value(json_object_get(k,
	    "tier")));
	json_decref(k);
	return tier;
}

/* ---- the agent fields of a task (agq-task(5)) -------------------------- */

static int
nonempty_string(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

/* Field NAME's value V is an array of non-empty strings: 0, else -1 with
 * the reason in ERR. */
static int
nonempty_strings(const json_t *v, const char *name, char *err, size_t size)
{
	size_t i;
	const json_t *e;
	if (!json_is_array(v))
		return agq_errf(err, size, "field %s: not an array", name);
	json_array_foreach(v, i, e)
		if (!nonempty_string(e))
			return agq_errf(err, size, "field %s: not an array of "
			    "non-empty strings", name);
	return 0;
}

int
agq_backend_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 32 || !(islower((unsigned char)s[0]) ||
	    isdigit((unsigned char)s[0])))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i])
		    && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

int
agq_task_validate_agent(const json_t *t, char *err, size_t size)
{
	const json_t *v;
	if ((v = json_object_get(t, "prompt")) && !nonempty_string(v))
		return agq_errf(err, size, "field prompt: not a non-empty string");
	if ((v = json_object_get(t, "model")) && !nonempty_string(v))
		return agq_errf(err, size, "field model: not a non-empty string");
	if ((v = json_object_get(t, "backend")) && (!json_is_string(v) ||
	    !agq_backend_name_valid(json_string_value(v))))
		return agq_errf(err, size, "field backend: not a backend name "
		    "([a-z0-9][a-z0-9_-]*, at most 32 characters)");
	if ((v = json_object_get(t, "context"))) {
		if (!json_is_object(v))
			return agq_errf(err, size, "field context: not an object");
		const json_t *c;
		if ((c = json_object_get(v, "repo")) && !nonempty_string(c))
			return agq_errf(err, size, "field context.repo: not a "
			    "non-empty string");
		if ((c = json_object_get(v, "branch")) && !nonempty_string(c))
			return agq_errf(err, size, "field context.branch: not a "
			    "non-empty string");
		if ((c = json_object_get(v, "files")) &&
		    nonempty_strings(c, "context.files", err, size) < 0)
			return -1;
	}
	if ((v = json_object_get(t, "success_criteria")) &&
	    nonempty_strings(v, "success_criteria", err, size) < 0)
		return -1;
	if ((v = json_object_get(t, "verify"))) {
		char sub[400];
		if (agq_verify_steps_validate(v, sub, sizeof sub) < 0)
			return agq_errf(err, size, "field verify%s", sub);
	}
	if ((v = json_object_get(t, "edit")) && (!json_is_string(v) ||
	    strcmp(json_string_value(v), "patch")))
		return agq_errf(err, size, "field edit: must be \"patch\"");
	if ((v = json_object_get(t, "mcp")) && !json_is_boolean(v))
		return agq_errf(err, size, "field mcp: not true or false");
	if ((v = json_object_get(t, "max_verify_attempts")) &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 100))
		return agq_errf(err, size, "field max_verify_attempts: not a whole "
		    "number from 1 to 100");
	if ((v = json_object_get(t, "complexity"))) {
		if (json_is_string(v)) {
			if (agq_tier_parse(json_string_value(v)) < 0)
				return agq_errf(err, size, "field complexity: must be "
				    "one of trivial, standard, complex");
		} else if (!json_is_object(v) ||
		    agq_tier_parse(json_string_value(json_object_get(v,
		    "tier"))) < 0) {
			return agq_errf(err, size, "field complexity: not a tier "
			    "name or an object with a tier");
		}
	}
	return 0;
}

/* ---- what kind of task, and where its programs are (agq-run, routing):
 * here rather than in attempt.c, so that agq-run links none of the
 * attempt's libraries (libgit2) --------------------------------------- */

int
agq_task_is_agent(const json_t *t)
{
	return json_object_get(t, "prompt") || json_object_get(t, "backend")
	    || json_array_size(json_object_get(t, "verify"));
}

int
agq_task_attempted(const json_t *t)
{
	const char *kind = json_string_value(json_object_get(t, "kind"));
	return agq_task_is_agent(t) || json_object_get(t, "git") ||
	    json_object_get(t, "setup") || json_object_get(t, "cleanup") ||
	    (kind && !strcmp(kind, "review"));
}

const char *
agq_task_backend(const json_t *t)
{
	const char *b = json_string_value(json_object_get(t, "backend"));
	if (b)
		return b;
	/* the scheduler's routing decision (route.c) */
	b = json_string_value(json_object_get(json_object_get(t, "route"),
	    "backend"));
	/* (a cmd task routed to a backend that runs cmds runs its cmd) */
	const struct agq_backend_def *d = agq_backend_def(b);
	if (b && agq_backend_name_valid(b) && (json_object_get(t, "prompt") ||
	    !d || d->kind != AGQ_BACKEND_PROCESS))
		return b;
	if (!json_object_get(t, "prompt"))
		return NULL;            /* a cmd task runs its cmd */
	/* the default of the tier (backends.h); trivial runs a cmd */
	int tier = agq_task_tier(t);
	if ((tier == 0 && !json_object_get(t, "cmd")) || tier < 0 || tier > 2)
		tier = 1;
	return agq_backend_tier_default(tier);
}

int
agq_task_edits_by_patch(const json_t *t, const char *backend)
{
	const struct agq_backend_def *d = agq_backend_def(backend);
	const json_t *git = json_object_get(t, "git");
	const char *edit = json_string_value(json_object_get(t, "edit"));
	return json_object_get(t, "prompt") && d && d->kind ==
	    AGQ_BACKEND_HTTP && ((git && !json_is_null(git)) || (edit &&
	    !strcmp(edit, "patch")));
}

char *
agq_backend_path(const char *name)
{
	const char *env = getenv("AGQ_LIBEXEC_DIR");
	if (env && *env)
		return agq_xasprintf("%s/%s", env, name);
	char *rel = agq_xasprintf("../libexec/agq/%s", name);
	char *p = agq_exe_path(rel);
	free(rel);
	if (p)
		return p;
	return agq_xasprintf("%s/%s", agq_libexecdir, name);
}
