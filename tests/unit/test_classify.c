/* Unit tests for lib/classify.c: the documented cases of the complexity
 * heuristic (agq-classify(1)) and the agent fields of agq-task(5). */
#include "agq.h"
#include "backend.h"
#include "unit.h"
#include "unit_task.h"

static json_t *last;

/* Classify JSON; return its tier name (borrowed from `last`). */
static const char *
tier(const char *json)
{
	char err[512];
	json_decref(last);
	last = NULL;
	json_t *t = agq_task_parse(json, strlen(json), err, sizeof err);
	if (!t)
		return err[0] ? "invalid" : "?";
	last = agq_classify(t);
	json_decref(t);
	return json_string_value(json_object_get(last, "tier"));
}

static const char *
source(void)
{
	return json_string_value(json_object_get(last, "source"));
}

static int
has_signal(const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(last, "signals"), i, s)
		if (!strcmp(json_string_value(json_object_get(s, "signal")), name))
			return 1;
	return 0;
}

int
main(void)
{
	char big[5000], mid[1500];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (size_t i = 0; i < sizeof big - 1; i += 6)
		big[i] = ' ';
	memcpy(mid, big, sizeof mid - 1);
	mid[sizeof mid - 1] = '\0';
	char buf[8000];

	/* explicit wins */
	CHECK(!strcmp(tier("{\"prompt\":\"Refactor it\",\"complexity\":"
	    "\"trivial\"}"), "trivial") && !strcmp(source(), "explicit"),
	    "explicit tier wins over a complex keyword");
	CHECK(!strcmp(tier("{\"cmd\":\"x\",\"complexity\":\"complex\"}"),
	    "complex"), "explicit complex on a cmd task");
	CHECK(!strcmp(tier("{\"cmd\":\"x\",\"complexity\":{\"tier\":"
	    "\"standard\",\"source\":\"explicit\"}}"), "standard") &&
	    !strcmp(source(), "explicit"), "stored explicit object kept");
	CHECK(!strcmp(tier("{\"cmd\":\"x\",\"complexity\":{\"tier\":"
	    "\"complex\",\"source\":\"inferred\"}}"), "trivial") &&
	    !strcmp(source(), "inferred"), "stored inferred object recomputed");

	/* cmd only */
	CHECK(!strcmp(tier("{\"cmd\":[\"make\",\"test\"]}"), "trivial") &&
	    has_signal("cmd_only"), "cmd without prompt is trivial");

	/* prompt length */
	CHECK(!strcmp(tier("{\"prompt\":\"add a unit test for parse_args\"}"),
	    "standard") && has_signal("prompt_short"),
	    "short plain prompt is standard");
	snprintf(buf, sizeof buf, "{\"prompt\":\"%s\"}", big);
	CHECK(!strcmp(tier(buf), "complex") && has_signal("prompt_long"),
	    "prompt of 4000+ bytes is complex");
	snprintf(buf, sizeof buf, "{\"prompt\":\"%s\"}", mid);
	CHECK(!strcmp(tier(buf), "standard") && has_signal("prompt_medium"),
	    "medium prompt alone stays standard");
	snprintf(buf, sizeof buf, "{\"prompt\":\"%s\",\"context\":{\"files\":"
	    "[\"a\",\"b\",\"c\"]}}", mid);
	CHECK(!strcmp(tier(buf), "complex") && has_signal("several_files"),
	    "medium prompt and 3 files is complex");

	/* files and verify steps */
	CHECK(!strcmp(tier("{\"prompt\":\"update these\",\"context\":{\"files\":"
	    "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]}}"),
	    "standard") && has_signal("many_files"),
	    "short prompt, 10 files: -1 + 2 is standard");
	CHECK(!strcmp(tier("{\"prompt\":\"update these\",\"context\":{\"files\":"
	    "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]},"
	    "\"verify\":[{\"type\":\"git_clean\"},{\"type\":\"git_clean\"},"
	    "{\"type\":\"git_clean\"},{\"type\":\"git_clean\"}]}"),
	    "complex") && has_signal("many_verify_steps"),
	    "10 files and 4 verify steps is complex");

	/* keywords */
	CHECK(!strcmp(tier("{\"prompt\":\"Refactoring the parser\"}"),
	    "complex") && has_signal("complex_keyword"),
	    "refactor keyword (word start, any case) is complex");
	CHECK(!strcmp(tier("{\"prompt\":\"prefactor it\"}"), "standard") &&
	    !has_signal("complex_keyword"), "keyword inside a word ignored");
	CHECK(!strcmp(tier("{\"title\":\"security audit\",\"prompt\":\"look "
	    "at login\"}"), "complex"), "keyword in the title counts");
	CHECK(!strcmp(tier("{\"prompt\":\"migrate the DB schema\"}"),
	    "complex"), "migrate is complex");
	CHECK(!strcmp(tier("{\"prompt\":\"Fix typo in README\"}"), "standard")
	    && has_signal("small_change_keyword"),
	    "typo without cmd stays standard (never trivial)");
	CHECK(!strcmp(tier("{\"prompt\":\"Bump version to 1.2\",\"cmd\":"
	    "\"./bump.sh\"}"), "trivial"),
	    "bump version with a cmd is trivial");
	CHECK(!strcmp(tier("{\"prompt\":\"refactor: fix typo\"}"), "standard"),
	    "refactor and typo: -1 + 3 - 2 is standard");

	/* deterministic */
	const char *a = agq_xstrdup(tier("{\"prompt\":\"rewrite the cache\"}"));
	CHECK(!strcmp(a, tier("{\"prompt\":\"rewrite the cache\"}")),
	    "same task, same tier");
	free((void *)a);

	/* agent fields */
	CHECK(valid("{\"prompt\":\"p\"}"), "prompt without cmd is valid");
	CHECK(valid("{\"prompt\":\"p\",\"model\":\"m\",\"backend\":\"ollama\","
	    "\"context\":{\"repo\":\"r\",\"branch\":\"b\",\"files\":[\"f\"]},"
	    "\"success_criteria\":[\"tests pass\"],\"verify\":[{\"type\":"
	    "\"file_exists\",\"path\":\"x\"},{\"type\":\"command_succeeds\","
	    "\"cmd\":\"true\",\"timeout\":5},{\"type\":\"test_passes\",\"cmd\":"
	    "\"auto\"},{\"type\":\"git_clean\"}],\"max_verify_attempts\":3,"
	    "\"complexity\":\"standard\"}"), "every agent field");
	CHECK(err_has("{}", "field cmd: missing"), "neither cmd nor prompt");
	CHECK(err_has("{\"prompt\":\"\"}", "field prompt"), "empty prompt");
	CHECK(err_has("{\"prompt\":\"p\",\"backend\":\"../x\"}",
	    "field backend"), "backend with a slash");
	CHECK(err_has("{\"prompt\":\"p\",\"context\":{\"files\":[1]}}",
	    "field context.files"), "bad files");
	CHECK(err_has("{\"prompt\":\"p\",\"verify\":[{\"type\":\"nope\"}]}",
	    "field verify[0].type"), "bad step type");
	CHECK(err_has("{\"prompt\":\"p\",\"verify\":[{\"type\":\"file_exists\"}]}",
	    "field verify[0].path"), "file_exists without path");
	CHECK(err_has("{\"prompt\":\"p\",\"verify\":[{\"type\":"
	    "\"command_succeeds\"}]}", "field verify[0].cmd"),
	    "command_succeeds without cmd");
	CHECK(err_has("{\"prompt\":\"p\",\"max_verify_attempts\":0}",
	    "field max_verify_attempts"), "max_verify_attempts 0");
	CHECK(err_has("{\"prompt\":\"p\",\"complexity\":\"huge\"}",
	    "field complexity"), "unknown tier");
	CHECK(err_has("{\"prompt\":\"p\",\"success_criteria\":\"x\"}",
	    "field success_criteria"), "criteria not an array");

	CHECK(err_has("{\"prompt\":\"p\",\"edit\":\"diff\"}",
	    "field edit: must be \"patch\""), "edit other than patch");

	/* who edits through patches: an HTTP backend, with git or edit */
	static const struct { const char *task, *backend; int want; } ep[] = {
		{ "{\"prompt\":\"p\",\"edit\":\"patch\"}", "ollama", 1 },
		{ "{\"prompt\":\"p\",\"edit\":\"patch\"}", "openai", 1 },
		{ "{\"prompt\":\"p\",\"git\":{\"repo\":\"/r\"}}",
		  "anthropic", 1 },
		{ "{\"prompt\":\"p\",\"git\":{\"repo\":\"/r\"}}", "cli", 0 },
		{ "{\"prompt\":\"p\",\"edit\":\"patch\"}", "shell", 0 },
		{ "{\"prompt\":\"p\",\"edit\":\"patch\"}", "mine", 0 },
		{ "{\"prompt\":\"p\",\"edit\":\"patch\"}", NULL, 0 },
		{ "{\"prompt\":\"p\",\"git\":null}", "ollama", 0 },
		{ "{\"prompt\":\"p\"}", "ollama", 0 },
		{ "{\"cmd\":\"x\",\"git\":{\"repo\":\"/r\"}}", "ollama", 0 },
	};
	int epok = 1;
	for (size_t i = 0; i < sizeof ep / sizeof ep[0]; i++) {
		json_t *e = json_loads(ep[i].task, 0, NULL);
		if (agq_task_edits_by_patch(e, ep[i].backend) != ep[i].want) {
			printf("# %s %s\n", ep[i].task, ep[i].backend ?
			    ep[i].backend : "NULL");
			epok = 0;
		}
		json_decref(e);
	}
	CHECK(epok, "agq_task_edits_by_patch: HTTP backends (ollama, openai, "
	    "anthropic) of a prompt task with git or edit patch only");

	/* normalize records the tier */
	json_t *t = json_pack("{s:s}", "prompt", "refactor x");
	agq_task_normalize(t, 1);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(t,
	    "complexity"), "tier")), "complex"), "normalize records the tier");
	CHECK(agq_task_tier(t) == 2, "agq_task_tier reads it");
	json_decref(t);
	json_decref(last);
	DONE();
}
