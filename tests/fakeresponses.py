#!/usr/bin/env python3
"""tests/fakeresponses.py - a loopback stand-in for the OpenAI Responses
API as the real codex CLI calls it (POST /v1/responses, streaming
server-sent events), for tests of agq's cli backend with the real
@openai/codex.

Usage: fakeresponses.py PORTFILE LOGFILE
codex 0.171 gives the model apply_patch as a custom (freeform) tool, and
exec_command as a function.  A request whose input carries no tool output
answers with a custom_tool_call of apply_patch adding "hello.txt"
(content "hello from codex") relative to codex's working directory; when
the request offers no apply_patch, a function_call of exec_command
writing the file with printf(1) instead.  A request that carries the
tool's output (custom_tool_call_output or function_call_output) answers
with the assistant message "wrote it: OUTPUT" (the tool's output, whose
first line says what codex did).  Every answer ends with
response.completed and usage (20 tokens in, 5 out).  Any other path is a
404.  Every request is appended to LOGFILE as one JSON line.
"""
import json
import sys
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]

PATCH = ("*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n"
         "*** End Patch\n")


def tool_output(items):
    """The output text of the last tool call output in ITEMS, or None."""
    out = None
    for it in items:
        if isinstance(it, dict) and it.get("type") in (
                "custom_tool_call_output", "function_call_output"):
            o = it.get("output")
            if isinstance(o, list):
                o = "".join(p.get("text", "") for p in o
                            if isinstance(p, dict))
            out = o if isinstance(o, str) else json.dumps(o)
    return out


def tool_call(tools):
    """The item calling the tool that writes hello.txt, among TOOLS."""
    names = {t.get("name"): t.get("type") for t in tools
             if isinstance(t, dict)}
    if names.get("apply_patch") == "custom":
        return {"type": "custom_tool_call", "id": "ctc_fake",
                "status": "completed", "call_id": "call_fake",
                "name": "apply_patch", "input": PATCH}
    if names.get("apply_patch") == "function":
        return {"type": "function_call", "id": "fc_fake",
                "status": "completed", "call_id": "call_fake",
                "name": "apply_patch",
                "arguments": json.dumps({"input": PATCH})}
    return {"type": "function_call", "id": "fc_fake", "status": "completed",
            "call_id": "call_fake", "name": "exec_command",
            "arguments": json.dumps({
                "cmd": "printf 'hello from codex\\n' > hello.txt"})}


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def do_GET(self):
        self.record(None)
        self.send(404, {"error": {"message": "no", "type": "not_found"}})

    def do_POST(self):
        body = self.read_json(lambda raw: None) or {}
        self.record(body)
        if not self.path.rstrip("/").endswith("/responses"):
            self.send(404, {"error": {"message": "no", "type": "not_found"}})
            return
        done = tool_output(body.get("input") or [])
        if done is None:
            item = tool_call(body.get("tools") or [])
        else:
            item = {"type": "message", "id": "msg_fake", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "annotations": [],
                                 "text": "wrote it: " + done}]}
        self.stream(body.get("model", "gpt"), item)

    def stream(self, model, item):
        """ITEM as the server-sent events of a streaming response."""
        resp = {"id": "resp_fake", "object": "response", "model": model,
                "status": "in_progress", "output": []}
        usage = {"input_tokens": 20,
                 "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 5,
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 25}
        ev = [{"type": "response.created", "response": resp},
              {"type": "response.in_progress", "response": resp},
              {"type": "response.output_item.added", "output_index": 0,
               "item": dict(item, status="in_progress")},
              {"type": "response.output_item.done", "output_index": 0,
               "item": item},
              {"type": "response.completed",
               "response": dict(resp, status="completed", output=[item],
                                usage=usage)}]
        self.send_events("".join("event: %s\ndata: %s\n\n" % (
            e["type"], json.dumps(e)) for e in ev).encode())


serve(Handler, PORTFILE)
