/* test_mcp.c - mcp.c: a session line by line (initialize and its
 * revision, ping, tools/list, tools/call, the JSON-RPC errors, batches
 * by revision) and the arguments' schema. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "unit.h"
#include "util.h"
#include "mcp.h"

static int calls;

static int
echo(void *ctx, const json_t *args, json_t **res, char *err, size_t size)
{
	(void)ctx;
	calls++;
	if (json_object_get(args, "fail"))
		return agq_errf(err, size, "field fail: asked to");
	*res = json_pack("{s:O}", "got", (json_t *)args);
	return 0;
}

static const struct agq_mcp_tool tools[] = {
	{ "echo", "echoes", "{\"type\": \"object\", \"properties\": {"
	  "\"s\": {\"type\": \"string\", \"maxLength\": 3},"
	  "\"ids\": {\"type\": \"array\", \"items\": {\"type\": \"string\"},"
	  " \"maxItems\": 2}, \"n\": {\"type\": \"integer\", \"minimum\": 0,"
	  " \"maximum\": 600}, \"fail\": {\"type\": \"boolean\"}},"
	  " \"required\": [\"s\"], \"additionalProperties\": false}", echo },
};

/* LINE answered by M, parsed (NULL: no answer). */
static json_t *
ask(struct agq_mcp *m, const char *line)
{
	char *s = agq_mcp_line(m, line, strlen(line));
	if (!s)
		return NULL;
	json_t *r = J(s);
	CHECK(!strchr(s, '\n'), "an answer is one line");
	free(s);
	return r;
}

static json_int_t
code(const json_t *r)
{
	return json_integer_value(json_object_get(json_object_get(r, "error"),
	    "code"));
}

static const char *
text(const json_t *r)
{
	return json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(r, "result"), "content"), 0),
	    "text"));
}

static struct agq_mcp
session(void)
{
	return (struct agq_mcp){ .tools = tools, .ntools = 1, .name = "t",
	    .version = "1" };
}

int
main(void)
{
	struct agq_mcp m = session();
	json_t *r;
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	CHECK(code(r) == -32600, "tools/list before initialize: -32600");
	json_decref(r);
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	CHECK(json_is_object(json_object_get(r, "result")), "ping before "
	    "initialize: answered");
	json_decref(r);
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
	    "\"clientInfo\":{\"name\":\"c\",\"version\":\"1\"}}}");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r,
	    "result"), "protocolVersion")), "2025-06-18"), "a known revision is "
	    "kept");
	CHECK(!strcmp(json_string_value(json_object_get(r, "id")), "i"),
	    "a string id comes back");
	CHECK(json_is_object(json_object_get(json_object_get(json_object_get(r,
	    "result"), "capabilities"), "tools")), "capabilities: tools");
	json_decref(r);
	CHECK(ask(&m, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/initialized\"}") == NULL && m.initialized,
	    "notifications/initialized: no answer, noted");
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
	json_t *t0 = json_array_get(json_object_get(json_object_get(r, "result"),
	    "tools"), 0);
	CHECK(!strcmp(json_string_value(json_object_get(t0, "name")), "echo") &&
	    json_is_object(json_object_get(t0, "inputSchema")),
	    "tools/list: the tool and its inputSchema");
	json_decref(r);
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"ab\"}}}");
	CHECK(json_is_false(json_object_get(json_object_get(r, "result"),
	    "isError")) && !strcmp(text(r), "{\"got\":{\"s\":\"ab\"}}"),
	    "tools/call: the tool's answer as text");
	CHECK(json_is_object(json_object_get(json_object_get(r, "result"),
	    "structuredContent")), "structuredContent in 2025-06-18");
	json_decref(r);
	static const struct { const char *args, *want; } bad[] = {
		{ "{}", "field s: missing" },
		{ "{\"s\":1}", "field s: not a string (integer given)" },
		{ "{\"s\":\"abcd\"}", "field s: more than 3 bytes" },
		{ "{\"s\":\"a\",\"ids\":[\"x\",2]}", "field ids[1]: not a string "
		  "(integer given)" },
		{ "{\"s\":\"a\",\"ids\":[\"x\",\"y\",\"z\"]}", "field ids: more "
		  "than 2 items" },
		{ "{\"s\":\"a\",\"n\":601}", "field n: more than 600" },
		{ "{\"s\":\"a\",\"n\":-1}", "field n: less than 0" },
		{ "{\"s\":\"a\",\"x\":1}", "field x: unknown" },
		{ "{\"s\":\"a\",\"fail\":true}", "field fail: asked to" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char line[300];
		snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":5,"
		    "\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
		    "\"arguments\":%s}}", bad[i].args);
		r = ask(&m, line);
		CHECK(json_is_true(json_object_get(json_object_get(r, "result"),
		    "isError")) && text(r) && !strcmp(text(r), bad[i].want),
		    bad[i].want);
		if (!text(r) || strcmp(text(r), bad[i].want))
			printf("#   got: %s\n", text(r) ? text(r) : "(none)");
		json_decref(r);
	}
	static const struct { const char *line; int code; const char *name; }
	    errs[] = {
		{ "not json", -32700, "garbage: -32700" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"nope\"}", -32601,
		  "unknown method: -32601" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":6,\"method\":\"ping\"}", -32600,
		  "jsonrpc not 2.0: -32600" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", -32600,
		  "id null: -32600" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":7}", -32600,
		  "method not a string: -32600" },
		{ "[1, 2]", -32600, "a batch in 2025-06-18: -32600" },
		{ "42", -32600, "a number: -32600" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
		  "\"params\":{\"name\":\"none\"}}", -32602, "unknown tool: -32602" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
		  "\"params\":{}}", -32602, "no tool name: -32602" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
		  "\"params\":{\"name\":\"echo\",\"arguments\":[]}}", -32602,
		  "arguments not an object: -32602" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\","
		  "\"params\":3}", -32602, "params not an object: -32602" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"initialize\","
		  "\"params\":{\"protocolVersion\":\"2025-06-18\"}}", -32600,
		  "initialize twice: -32600" },
	};
	for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
		r = ask(&m, errs[i].line);
		CHECK(code(r) == errs[i].code, errs[i].name);
		json_decref(r);
	}
	CHECK(ask(&m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}") ==
	    NULL, "an unknown notification: no answer");
	CHECK(ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}") == NULL,
	    "a response: no answer");
	calls = 0;
	r = ask(&m, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"echo\"}}");
	CHECK(calls == 0 && json_is_true(json_object_get(json_object_get(r,
	    "result"), "isError")), "no arguments: checked as {}, not run");
	json_decref(r);

	/* an unknown revision: the newest offered; 2025-03-26's batches */
	struct agq_mcp m2 = session();
	r = ask(&m2, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"1999-01-01\"}}");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r,
	    "result"), "protocolVersion")), AGQ_MCP_LATEST), "an unknown "
	    "revision: the newest offered");
	json_decref(r);
	struct agq_mcp m3 = session();
	json_decref(ask(&m3, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"initialize\",\"params\":{\"protocolVersion\":\"2025-03-26\"}}"));
	r = ask(&m3, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"a\"}}}]");
	CHECK(json_array_size(r) == 2 && json_integer_value(json_object_get(
	    json_array_get(r, 1), "id")) == 2, "2025-03-26: a batch answered "
	    "as one array, notifications left out");
	CHECK(!json_object_get(json_object_get(json_array_get(r, 1), "result"),
	    "structuredContent"), "no structuredContent before 2025-06-18");
	json_decref(r);
	r = ask(&m3, "[]");
	CHECK(code(r) == -32600, "an empty batch: -32600");
	json_decref(r);
	CHECK(ask(&m3, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]")
	    == NULL, "a batch of notifications: no answer");
	DONE();
}
