#!/usr/bin/env python3
"""tests/fakemessages.py - a loopback stand-in for the Anthropic Messages
API as the real claude CLI calls it (POST /v1/messages, streaming), for
tests of agq's cli backend with the real @anthropic-ai/claude-code.

Usage: fakemessages.py PORTFILE LOGFILE
The first turn of a conversation (no tool_result in it) answers with a
tool_use block: Write of "hello.txt" (content "hello from claude\\n") in
the directory named by the prompt's last line "cwd: DIR" (else, for a
prompt that names hello.txt, the "Primary working directory" of claude's
system prompt: a task's worktree is not known when it is submitted); a
turn that carries a tool_result answers with the text "wrote it".  A
prompt asking for agq's review verdict (its answer's contract, '"verdict":
"approve" or "request_changes"') gets a text verdict in a ```json block:
approve, commenting on the diff's first added line.  Any other call
(count_tokens, a request without messages) gets a short text answer.
Every request is appended to LOGFILE as one JSON line.
"""
import json
import re
import sys
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]


def text_of(content):
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content
                     if isinstance(b, dict) and b.get("type") == "text")


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def do_GET(self):
        self.record(None)
        self.send(404, {"type": "error", "error": {"type": "not_found_error",
                                                   "message": "no"}})

    def do_POST(self):
        body = self.read_json(lambda raw: None)
        self.record(body)
        if "count_tokens" in self.path:
            self.send(200, {"input_tokens": 10})
            return
        msgs = (body or {}).get("messages") or []
        last = msgs[-1] if msgs else {}
        content = last.get("content")
        has_result = isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result"
            for b in content)
        prompt = "\n".join(text_of(m.get("content", "")) for m in msgs
                           if m.get("role") == "user")
        m = re.search(r"cwd: (\S+)", prompt)
        if not m and "hello.txt" in prompt:
            # the directory claude says it works in (its system prompt)
            system = (body or {}).get("system") or ""
            m = re.search(r"Primary working directory: (\S+)",
                          system if isinstance(system, str)
                          else text_of(system))
        review = '"verdict": "approve" or "request_changes"' in prompt
        if review and not has_result:
            added = re.search(r"^\+([^+].*)$", prompt, re.M)
            verdict = {"verdict": "approve", "comments": [
                "read by claude: %s" % (added.group(1) if added else "")]}
            blocks = [{"type": "text", "text": "My review:\n\n```json\n%s\n"
                       "```" % json.dumps(verdict)}]
            stop = "end_turn"
        elif has_result or not m:
            blocks = [{"type": "text", "text": "wrote it" if has_result
                       else "ok"}]
            stop = "end_turn"
        else:
            blocks = [{"type": "tool_use", "id": "toolu_01fake",
                       "name": "Write",
                       "input": {"file_path": m.group(1) + "/hello.txt",
                                 "content": "hello from claude\n"}}]
            stop = "tool_use"
        msg = {"id": "msg_fake", "type": "message", "role": "assistant",
               "model": body.get("model", "claude") if body else "claude",
               "content": blocks, "stop_reason": stop,
               "stop_sequence": None,
               "usage": {"input_tokens": 20, "output_tokens": 5}}
        if not (body or {}).get("stream"):
            self.send(200, msg)
            return
        self.stream(msg)

    def stream(self, msg):
        """MSG as the server-sent events of a streaming answer."""
        ev = []
        start = dict(msg, content=[], stop_reason=None,
                     usage={"input_tokens": 20, "output_tokens": 1})
        ev.append(("message_start", {"type": "message_start",
                                     "message": start}))
        for i, b in enumerate(msg["content"]):
            if b["type"] == "text":
                ev.append(("content_block_start", {
                    "type": "content_block_start", "index": i,
                    "content_block": {"type": "text", "text": ""}}))
                ev.append(("content_block_delta", {
                    "type": "content_block_delta", "index": i,
                    "delta": {"type": "text_delta", "text": b["text"]}}))
            else:
                ev.append(("content_block_start", {
                    "type": "content_block_start", "index": i,
                    "content_block": dict(b, input={})}))
                ev.append(("content_block_delta", {
                    "type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta",
                              "partial_json": json.dumps(b["input"])}}))
            ev.append(("content_block_stop", {"type": "content_block_stop",
                                              "index": i}))
        ev.append(("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": msg["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": 5}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        data = "".join("event: %s\ndata: %s\n\n" % (n, json.dumps(d))
                       for n, d in ev).encode()
        self.send_events(data)


serve(Handler, PORTFILE)
