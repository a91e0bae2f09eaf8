/* test_jsonpatch - RFC 6902 JSON Patch, RFC 6901 JSON Pointer and RFC 7396
 * JSON Merge Patch (lib/jsonpatch.c) on the RFCs' own examples. */
#include <jansson.h>
#include "unit.h"
#include "jsonpatch.h"

/* RFC 6902 appendix A: document, patch, result (NULL: an error). */
static const char *const a6902[][4] = {
	{ "A.1", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	  "{\"baz\":\"qux\",\"foo\":\"bar\"}" },
	{ "A.2", "{\"foo\":[\"bar\",\"baz\"]}",
	  "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	  "{\"foo\":[\"bar\",\"qux\",\"baz\"]}" },
	{ "A.3", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
	  "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}" },
	{ "A.4", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
	  "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
	  "{\"foo\":[\"bar\",\"baz\"]}" },
	{ "A.5", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
	  "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
	  "{\"baz\":\"boo\",\"foo\":\"bar\"}" },
	{ "A.6", "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},"
	  "\"qux\":{\"corge\":\"grault\"}}",
	  "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	  "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\","
	  "\"thud\":\"fred\"}}" },
	{ "A.7", "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	  "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
	  "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}" },
	{ "A.8", "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	  "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
	  "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
	  "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}" },
	{ "A.9", "{\"baz\":\"qux\"}",
	  "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL },
	{ "A.10", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/child\",\"value\":"
	  "{\"grandchild\":{}}}]",
	  "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}" },
	{ "A.11", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
	  "{\"foo\":\"bar\",\"baz\":\"qux\"}" },
	{ "A.12", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL },
	{ "A.14", "{\"/\":9,\"~1\":10}",
	  "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
	  "{\"/\":9,\"~1\":10}" },
	{ "A.15", "{\"/\":9,\"~1\":10}",
	  "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", NULL },
	{ "A.16", "{\"foo\":[\"bar\"]}",
	  "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
	  "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}" },
	/* error cases and corners beyond the appendix */
	{ "remove of a missing member", "{\"a\":1}",
	  "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL },
	{ "replace of a missing member", "{\"a\":1}",
	  "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", NULL },
	{ "a pointer without '/'", "{\"a\":1}",
	  "[{\"op\":\"add\",\"path\":\"a\",\"value\":2}]", NULL },
	{ "a bad ~ escape", "{\"a\":1}",
	  "[{\"op\":\"add\",\"path\":\"/~2\",\"value\":2}]", NULL },
	{ "an index with a leading zero", "{\"a\":[1,2]}",
	  "[{\"op\":\"remove\",\"path\":\"/a/01\"}]", NULL },
	{ "an index past the end", "{\"a\":[1,2]}",
	  "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":0}]", NULL },
	{ "'-' in a remove", "{\"a\":[1,2]}",
	  "[{\"op\":\"remove\",\"path\":\"/a/-\"}]", NULL },
	{ "an unknown op", "{}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", NULL },
	{ "add without a value", "{}", "[{\"op\":\"add\",\"path\":\"/a\"}]",
	  NULL },
	{ "move into itself", "{\"a\":{\"b\":1}}",
	  "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL },
	{ "copy", "{\"a\":{\"b\":1}}",
	  "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
	  "{\"a\":{\"b\":1},\"c\":{\"b\":1}}" },
	{ "add at the root replaces it", "{\"a\":1}",
	  "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]" },
	{ "test: numbers by value, members in any order",
	  "{\"a\":{\"x\":1,\"y\":[2.0]}}",
	  "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":[2],\"x\":1.0}}]",
	  "{\"a\":{\"x\":1,\"y\":[2.0]}}" },
	{ "all or nothing: a failure after a change", "{\"a\":1}",
	  "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},"
	  "{\"op\":\"test\",\"path\":\"/a\",\"value\":3}]", NULL },
	{ "not an array", "{}", "{\"op\":\"add\"}", NULL },
};

/* RFC 7396 appendix A: target, patch, result. */
static const char *const a7396[][3] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	  "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", "null" },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
};

static json_t *
JA(const char *s)
{
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	if (!j) {
		printf("bad test JSON: %s\n", s);
		exit(2);
	}
	return j;
}

int
main(void)
{
	char err[1024];
	for (size_t i = 0; i < sizeof a6902 / sizeof a6902[0]; i++) {
		json_t *doc = JA(a6902[i][1]), *patch = JA(a6902[i][2]);
		char *before = json_dumps(doc, JSON_SORT_KEYS);
		err[0] = '\0';
		json_t *r = agq_jsonpatch_apply(doc, patch, err, sizeof err);
		char name[256];
		snprintf(name, sizeof name, "RFC 6902 %s", a6902[i][0]);
		if (a6902[i][3]) {
			json_t *want = JA(a6902[i][3]);
			CHECK(r && json_equal(r, want), name);
			if (!r)
				printf("#   %s\n", err);
			json_decref(want);
		} else {
			CHECK(!r && err[0], name);
			printf("#   %s\n", err);
		}
		char *after = json_dumps(doc, JSON_SORT_KEYS);
		CHECK(!strcmp(before, after), "the document is not changed");
		free(before);
		free(after);
		json_decref(r);
		json_decref(doc);
		json_decref(patch);
	}
	/* A.13: a duplicate "op" is an invalid patch: the parse refuses it */
	CHECK(!json_loads("[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\","
	    "\"op\":\"remove\"}]", JSON_REJECT_DUPLICATES, NULL),
	    "RFC 6902 A.13 (duplicate member refused when parsed)");

	for (size_t i = 0; i < sizeof a7396 / sizeof a7396[0]; i++) {
		json_t *doc = JA(a7396[i][0]), *patch = JA(a7396[i][1]);
		json_t *want = JA(a7396[i][2]);
		json_t *r = agq_mergepatch_apply(doc, patch);
		char name[64];
		snprintf(name, sizeof name, "RFC 7396 appendix A, row %zu",
		    i + 1);
		CHECK(r && json_equal(r, want), name);
		json_decref(r);
		json_decref(doc);
		json_decref(patch);
		json_decref(want);
	}

	/* RFC 6901 section 5 */
	json_t *d = JA("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,"
	    "\"c%d\":2,\"e^f\":3,\"g|h\":4,\"i\\\\j\":5,\"k\\\"l\":6,"
	    "\" \":7,\"m~n\":8}");
	static const struct { const char *ptr; int want; } p6901[] = {
		{ "/", 0 }, { "/a~1b", 1 }, { "/c%d", 2 }, { "/e^f", 3 },
		{ "/g|h", 4 }, { "/i\\j", 5 }, { "/k\"l", 6 }, { "/ ", 7 },
		{ "/m~0n", 8 },
	};
	for (size_t i = 0; i < sizeof p6901 / sizeof p6901[0]; i++) {
		json_t *v = agq_jsonptr_get(d, p6901[i].ptr, err, sizeof err);
		CHECK(v && json_integer_value(v) == p6901[i].want,
		    p6901[i].ptr);
	}
	CHECK(agq_jsonptr_get(d, "", err, sizeof err) == d, "\"\" is the "
	    "whole document");
	CHECK(!strcmp(json_string_value(agq_jsonptr_get(d, "/foo/0", err,
	    sizeof err)), "bar"), "/foo/0");
	CHECK(!agq_jsonptr_get(d, "/foo/2", err, sizeof err) &&
	    strstr(err, "out of range"), "/foo/2 is out of range");
	CHECK(!agq_jsonptr_get(d, "/nope", err, sizeof err) &&
	    strstr(err, "no member 'nope'"), "a missing member named");
	json_decref(d);
	DONE();
}
