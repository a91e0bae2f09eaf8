/* mcp.c - the Model Context Protocol's server side, pure (mcp.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "mcp.h"

/* The revisions spoken, newest first (MCP "Versioning"). */
static const char *const revisions[] = {
	AGQ_MCP_LATEST, "2025-06-18", "2025-03-26", "2024-11-05", NULL
};

/* ---- the arguments' schema ------------------------------------------- */

static const char *
type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

/* V is of the JSON Schema type name T (an integer is a number too). */
static int
is_type(const json_t *v, const char *t)
{
	const char *have = type_of(v);
	return !strcmp(have, t) || (!strcmp(t, "number") &&
	    !strcmp(have, "integer"));
}

static int
check(const json_t *s, const json_t *v, const char *path, char *err,
      size_t size)
{
	const char *shown = *path ? path : "arguments";
	json_t *t = json_object_get(s, "type");
	if (json_is_string(t) && !is_type(v, json_string_value(t)))
		return agq_errf(err, size, "field %s: not %s %s (%s given)",
		    shown, strchr("aeiou", json_string_value(t)[0]) ? "an" :
		    "a", json_string_value(t), type_of(v));
	if (json_is_array(t)) {
		size_t i;
		json_t *x;
		int ok = 0;
		json_array_foreach(t, i, x)
			ok |= json_is_string(x) && is_type(v,
			    json_string_value(x));
		if (!ok)
			return agq_errf(err, size, "field %s: of the wrong type "
			    "(%s given)", shown, type_of(v));
	}
	json_t *en = json_object_get(s, "enum");
	if (json_is_array(en)) {
		size_t i;
		json_t *x;
		int ok = 0;
		json_array_foreach(en, i, x)
			ok |= json_equal(x, (json_t *)v);
		if (!ok)
			return agq_errf(err, size, "field %s: not one of the "
			    "values its schema lists", shown);
	}
	json_t *lo = json_object_get(s, "minimum"),
	    *hi = json_object_get(s, "maximum");
	if (json_is_number(v) && json_is_number(lo) &&
	    json_number_value(v) < json_number_value(lo))
		return agq_errf(err, size, "field %s: less than %g", shown,
		    json_number_value(lo));
	if (json_is_number(v) && json_is_number(hi) &&
	    json_number_value(v) > json_number_value(hi))
		return agq_errf(err, size, "field %s: more than %g", shown,
		    json_number_value(hi));
	json_int_t n = -1;
	const char *what = NULL;
	if (json_is_string(v)) {
		n = (json_int_t)json_string_length(v);
		what = "bytes";
		lo = json_object_get(s, "minLength");
		hi = json_object_get(s, "maxLength");
	} else if (json_is_array(v)) {
		n = (json_int_t)json_array_size(v);
		what = "items";
		lo = json_object_get(s, "minItems");
		hi = json_object_get(s, "maxItems");
	}
	if (what && json_is_integer(lo) && n < json_integer_value(lo))
		return agq_errf(err, size, "field %s: fewer than %lld %s",
		    shown, (long long)json_integer_value(lo), what);
	if (what && json_is_integer(hi) && n > json_integer_value(hi))
		return agq_errf(err, size, "field %s: more than %lld %s",
		    shown, (long long)json_integer_value(hi), what);
	char sub[256];
	if (json_is_array(v) && json_is_object(json_object_get(s, "items"))) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			snprintf(sub, sizeof sub, "%s[%zu]", shown, i);
			if (check(json_object_get(s, "items"), x, sub, err,
			    size) < 0)
				return -1;
		}
	}
	if (!json_is_object(v))
		return 0;
	json_t *props = json_object_get(s, "properties");
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(s, "required"), i, r)
		if (json_is_string(r) && !json_object_get(v,
		    json_string_value(r)))
			return agq_errf(err, size, "field %s%s%s: missing",
			    path, *path ? "." : "", json_string_value(r));
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		char kh[128];
		agq_human(kh, sizeof kh, k);
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", kh);
		json_t *ps = json_object_get(props, k);
		if (ps) {
			if (check(ps, x, sub, err, size) < 0)
				return -1;
		} else if (json_is_false(json_object_get(s,
		    "additionalProperties"))) {
			return agq_errf(err, size, "field %s: unknown", sub);
		}
	}
	return 0;
}

int
agq_mcp_check_args(const json_t *schema, const json_t *args, char *err,
                   size_t size)
{
	return check(schema, args, "", err, size);
}

/* ---- messages -------------------------------------------------------- */

/* A new error response to ID (borrowed; NULL: null) */
static json_t *
error(const json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
	    id ? id : json_null(), "error", "code", code, "message", msg);
}

static json_t *
result(const json_t *id, json_t *res)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
	    "result", res);
}

static json_t *
initialize(struct agq_mcp *m, const json_t *id, const json_t *params)
{
	const char *want = json_string_value(json_object_get(params,
	    "protocolVersion"));
	if (!json_is_object(params) || !want)
		return error(id, AGQ_MCP_INVALID_PARAMS, "initialize: params."
		    "protocolVersion: missing or not a string");
	if (m->proto[0])
		return error(id, AGQ_MCP_INVALID_REQUEST, "initialize: already "
		    "initialized");
	/* the client's revision when spoken here, else the newest (the
	 * client then disconnects if it cannot speak it) */
	const char *v = AGQ_MCP_LATEST;
	for (int i = 0; revisions[i]; i++)
		if (!strcmp(want, revisions[i]))
			v = revisions[i];
	snprintf(m->proto, sizeof m->proto, "%s", v);
	return result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}",
	    "protocolVersion", v, "capabilities", "tools", "listChanged", 0,
	    "serverInfo", "name", m->name, "version", m->version,
	    "instructions", "agq's shared state: submit subtasks, show and "
	    "wait for tasks, read and change plan documents, show missions."));
}

static json_t *
tools_list(struct agq_mcp *m, const json_t *id)
{
	json_t *a = json_array();
	for (size_t i = 0; i < m->ntools; i++) {
		const struct agq_mcp_tool *t = &m->tools[i];
		json_t *s = json_loads(t->schema, 0, NULL);
		if (!s)         /* a bug in the table: shown, not hidden */
			s = json_pack("{s:s}", "type", "object");
		json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name",
		    t->name, "description", t->description, "inputSchema", s));
	}
	return result(id, json_pack("{s:o}", "tools", a));
}

/* The result of a tools/call: TEXT as the one text content; STRUCT (a
 * new reference or NULL) as structuredContent where the revision has it
 * (2025-06-18 on). */
static json_t *
call_result(struct agq_mcp *m, const json_t *id, const char *text,
            json_t *strct, int is_error)
{
	json_t *r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type",
	    "text", "text", text, "isError", is_error);
	if (strct && strcmp(m->proto, "2025-06-18") >= 0)
		json_object_set(r, "structuredContent", strct);
	json_decref(strct);
	return result(id, r);
}

static json_t *
tools_call(struct agq_mcp *m, const json_t *id, const json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	if (!json_is_object(params) || !name)
		return error(id, AGQ_MCP_INVALID_PARAMS, "tools/call: params.name:"
		    " missing or not a string");
	if (args && !json_is_object(args))
		return error(id, AGQ_MCP_INVALID_PARAMS, "tools/call: params."
		    "arguments: not an object");
	const struct agq_mcp_tool *t = NULL;
	for (size_t i = 0; i < m->ntools && !t; i++)
		if (!strcmp(m->tools[i].name, name))
			t = &m->tools[i];
	if (!t) {
		char msg[200], shown[100];
		snprintf(msg, sizeof msg, "tools/call: unknown tool: %s",
		    agq_human(shown, sizeof shown, name));
		return error(id, AGQ_MCP_INVALID_PARAMS, msg);
	}
	json_t *empty = args ? NULL : json_object();
	json_t *schema = json_loads(t->schema, 0, NULL);
	char err[1024];
	json_t *out = NULL;
	int rc = agq_mcp_check_args(schema, args ? args : empty, err,
	    sizeof err);
	json_decref(schema);
	if (rc == 0)
		rc = t->call(m->ctx, args ? args : empty, &out, err, sizeof err);
	json_decref(empty);
	if (rc < 0) {
		json_decref(out);
		return call_result(m, id, err, NULL, 1);
	}
	char *text = json_dumps(out, JSON_COMPACT);
	json_t *r = call_result(m, id, text ? text : "{}", out, 0);
	free(text);
	return r;
}

/* The answer to one message V (borrowed), or NULL for none. */
static json_t *
one(struct agq_mcp *m, const json_t *v, int in_batch)
{
	if (!json_is_object(v))
		return error(NULL, AGQ_MCP_INVALID_REQUEST, "not a JSON-RPC "
		    "message (an object)");
	json_t *id = json_object_get(v, "id");
	const char *method = json_string_value(json_object_get(v, "method"));
	int has_id = id != NULL;
	/* an id is a string or an integer (MCP: not null) */
	if (id && !json_is_string(id) && !json_is_integer(id))
		return error(NULL, AGQ_MCP_INVALID_REQUEST, "id: not a string or "
		    "an integer");
	const char *rpc = json_string_value(json_object_get(v, "jsonrpc"));
	if (!rpc || strcmp(rpc, "2.0"))
		return has_id ? error(id, AGQ_MCP_INVALID_REQUEST, "jsonrpc: not "
		    "\"2.0\"") : error(NULL, AGQ_MCP_INVALID_REQUEST, "jsonrpc: "
		    "not \"2.0\"");
	if (!json_object_get(v, "method")) {
		/* a response (to a request this server never sends): none */
		if (json_object_get(v, "result") || json_object_get(v, "error"))
			return NULL;
		return error(id, AGQ_MCP_INVALID_REQUEST, "method: missing");
	}
	if (!method)
		return error(id, AGQ_MCP_INVALID_REQUEST, "method: not a string");
	json_t *params = json_object_get(v, "params");
	if (!has_id) {          /* a notification: never answered */
		if (!strcmp(method, "notifications/initialized") && m->proto[0])
			m->initialized = 1;
		return NULL;
	}
	if (!strcmp(method, "initialize"))
		return in_batch ? error(id, AGQ_MCP_INVALID_REQUEST,
		    "initialize: not in a batch") : initialize(m, id, params);
	if (!strcmp(method, "ping"))
		return result(id, json_object());
	if (!strcmp(method, "tools/list") || !strcmp(method, "tools/call")) {
		if (!m->proto[0])
			return error(id, AGQ_MCP_INVALID_REQUEST, "not initialized: "
			    "send initialize first");
		if (params && !json_is_object(params))
			return error(id, AGQ_MCP_INVALID_PARAMS, "params: not an "
			    "object");
		return method[6] == 'l' ? tools_list(m, id) :
		    tools_call(m, id, params);
	}
	char msg[200], shown[100];
	snprintf(msg, sizeof msg, "method not found: %s", agq_human(shown,
	    sizeof shown, method));
	return error(id, AGQ_MCP_METHOD_NOT_FOUND, msg);
}

static char *
dump(json_t *r)
{
	if (!r)
		return NULL;
	char *s = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return s;
}

char *
agq_mcp_line(struct agq_mcp *m, const char *line, size_t len)
{
	json_error_t je;
	json_t *v = json_loadb(line, len, JSON_DECODE_ANY, &je);
	if (!v) {
		char msg[300];
		snprintf(msg, sizeof msg, "parse error: %s (column %d)", je.text,
		    je.column);
		return dump(error(NULL, AGQ_MCP_PARSE_ERROR, msg));
	}
	json_t *r;
	/* JSON-RPC batches: in revision 2025-03-26 only (2025-06-18
	 * removed them) */
	if (json_is_array(v) && !strcmp(m->proto, "2025-03-26")) {
		if (!json_array_size(v)) {
			r = error(NULL, AGQ_MCP_INVALID_REQUEST, "an empty batch");
		} else {
			r = json_array();
			size_t i;
			json_t *x;
			json_array_foreach(v, i, x) {
				json_t *a = one(m, x, 1);
				if (a)
					json_array_append_new(r, a);
			}
			if (!json_array_size(r)) {
				json_decref(r);
				r = NULL;
			}
		}
	} else if (json_is_array(v)) {
		r = error(NULL, AGQ_MCP_INVALID_REQUEST, "a batch (an array): "
		    "not in this protocol revision (only 2025-03-26 has them)");
	} else {
		r = one(m, v, 0);
	}
	json_decref(v);
	return dump(r);
}
