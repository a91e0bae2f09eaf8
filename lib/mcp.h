/*
 * mcp.h - mcp.c: the Model Context Protocol's server side, pure.
 *
 * MCP (modelcontextprotocol.io/specification, revisions 2024-11-05,
 * 2025-03-26, 2025-06-18 and 2025-11-25) over its stdio transport: one
 * JSON-RPC 2.0 message (jsonrpc.org/specification) a line, UTF-8, no
 * embedded newline.  This file turns a line read into the line to answer,
 * and holds the session's state (the negotiated revision); it reads and
 * writes nothing itself: the tools are callbacks (agq-mcp(1)).
 */
#ifndef AGQ_MCP_H
#define AGQ_MCP_H

#include <stddef.h>
#include <jansson.h>

/* JSON-RPC 2.0 error codes (its section 5.1) */
#define AGQ_MCP_PARSE_ERROR      -32700
#define AGQ_MCP_INVALID_REQUEST  -32600
#define AGQ_MCP_METHOD_NOT_FOUND -32601
#define AGQ_MCP_INVALID_PARAMS   -32602

/* The newest revision this server speaks (the one the real claude CLI
 * 2.1 asks for), offered to a client that asks for one it does not
 * know (MCP, "Lifecycle", "Version Negotiation"). */
#define AGQ_MCP_LATEST "2025-11-25"

/* A tool: NAME, DESCRIPTION, and SCHEMA, its inputSchema as JSON text (a
 * JSON Schema object: agq_mcp_check_args's subset).  CALL(CTX, ARGS,
 * &RESULT, ERR, SIZE) runs it with ARGS (an object that passed the
 * schema, borrowed): 0 with *RESULT a new JSON object, the tool's answer;
 * or -1 with ERR (SIZE bytes) saying why in words that name the field
 * (an isError result: "a tool execution error", MCP "Tools"). */
struct agq_mcp_tool {
	const char *name, *description, *schema;
	int (*call)(void *ctx, const json_t *args, json_t **result,
	            char *err, size_t size);
};

/* A session: the caller fills TOOLS (NTOOLS of them), CTX (handed to
 * their CALL), NAME and VERSION (serverInfo); the rest starts zeroed. */
struct agq_mcp {
	const struct agq_mcp_tool *tools;
	size_t ntools;
	void *ctx;
	const char *name, *version;
	char proto[16];         /* the negotiated revision, "" before */
	int initialized;        /* notifications/initialized seen */
};

/* Answer the message in LINE (LEN bytes, without its newline; need not be
 * NUL-terminated): the answer line, compact JSON without a newline,
 * malloc'd (free(3)); or NULL when there is nothing to answer (a
 * notification, a response, a batch of them).  Never fails on input:
 * not JSON -> -32700 with id null; not a request (no "jsonrpc": "2.0",
 * no string method, an id neither string nor integer, an array when the
 * negotiated revision has no batches: only 2025-03-26 has them) ->
 * -32600; a method other than initialize, ping, tools/list, tools/call
 * -> -32601 (before initialize, only initialize and ping are answered:
 * -32600 "not initialized"); tools/call of an unknown tool or with
 * params not of its shape -> -32602; ARGUMENTS not matching the tool's
 * schema, and a tool's own failure -> a result with isError true and
 * one text content naming the field.  Unknown notifications are
 * ignored (JSON-RPC 2.0 section 4.1: never answered). */
char *agq_mcp_line(struct agq_mcp *m, const char *line, size_t len);

/* Check ARGS against SCHEMA, the subset of JSON Schema (2020-12) the
 * tools use: "type" (object, array, string, integer, number, boolean,
 * or an array of them), "properties", "required", "additionalProperties":
 * false, "items", "minimum", "maximum", "minLength", "maxLength",
 * "minItems", "maxItems", "enum" (of strings).  0, or -1 with ERR (SIZE
 * bytes) naming the first bad field as a path ("field after[2]: not a
 * string").  Other keywords are ignored. */
int agq_mcp_check_args(const json_t *schema, const json_t *args, char *err,
                       size_t size);

#endif
