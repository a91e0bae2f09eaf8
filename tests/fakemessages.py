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
approve, commenting on the diff's first added line.  A prompt
"Fix the spelling mistakes in GLOB ..." (agq-demo's coder, in claude's
"Primary working directory") is a spelling fix done as a model would: the
files that codespell -w would change, or that a suggestion line "FILE:LINE:
WORD ==> FIX" in the prompt (the review's comments) names, are first Read,
then, once read, written whole (Write) with those fixes; then "fixed" (the
three turns of a prompt counted per session and prompt, since a resumed
session, agq's next review round, holds the last round's tool results).
A prompt "Submit a subtask titled TITLE through agq" (tests/mcp.bats: the
real claude as agq-mcp's client) answers with a tool_use of agq's MCP tool
mcp__agq__agq_submit {"title": TITLE, "cmd": "true"}, and the turn
carrying its tool_result with the text "submitted: RESULT" (the tool's
text, or "tool error: ..." when it was one).
Any other call (count_tokens, a request without messages) gets a short
text answer.
Every request is appended to LOGFILE as one JSON line.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]


def text_of(content):
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content
                     if isinstance(b, dict) and b.get("type") == "text")


SUGGESTION = re.compile(r"([\w./-]+):(\d+): ([A-Za-z']+) ==> ([A-Za-z']+)$",
                        re.M)


def spelling_fixes(cwd, pattern, prompt):
    """{path: new text} of the files of CWD matching PATTERN that codespell
    -w (on a copy) and the prompt's suggestion lines change."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in sorted(glob.glob(os.path.join(cwd, pattern))):
            copy = os.path.join(tmp, os.path.relpath(f, cwd))
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copy(f, copy)
        subprocess.run(["codespell", "-w", "."], cwd=tmp,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for m in SUGGESTION.finditer(prompt):
            copy = os.path.join(tmp, m.group(1))
            if not os.path.isfile(copy):
                continue
            with open(copy) as f:
                lines = f.read().split("\n")
            n = int(m.group(2)) - 1
            if 0 <= n < len(lines):
                lines[n] = re.sub(r"\b%s\b" % re.escape(m.group(3)),
                                  m.group(4), lines[n])
            with open(copy, "w") as f:
                f.write("\n".join(lines))
        for f in sorted(glob.glob(os.path.join(cwd, pattern))):
            with open(f) as a, open(os.path.join(
                    tmp, os.path.relpath(f, cwd))) as b:
                new = b.read()
                if a.read() != new:
                    out[f] = new
    return out


STEPS = {}


def last_text(content):
    """The last text block of a user turn CONTENT (its prompt)."""
    if isinstance(content, str):
        return content
    texts = [b.get("text", "") for b in content or []
             if isinstance(b, dict) and b.get("type") == "text"]
    return texts[-1] if texts else ""


def tool_uses(content, prefix):
    """Whether CONTENT answers tool uses whose ids start with PREFIX."""
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" and
        b.get("tool_use_id", "").startswith(prefix) for b in content)


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
        # the last user turn: claude may append a "system" reminder
        # after it (a resumed session), which answers nothing
        last = next((x for x in reversed(msgs) if x.get("role") == "user"),
                    {})
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
        sub = re.search(r"^Submit a subtask titled (.+) through agq$", prompt,
                        re.M)
        fix = re.search(r"^Fix the spelling mistakes in (\S+)", prompt, re.M)
        if fix and not m:
            system = (body or {}).get("system") or ""
            m = re.search(r"Primary working directory: (\S+)",
                          system if isinstance(system, str)
                          else text_of(system))
        # a spelling fix is three turns of one prompt: Read, Write, then
        # "fixed".  Counted per session and prompt, not read from the
        # history: a resumed session (agq's next review round) holds the
        # last round's tool results, merged and reordered by claude.
        step = 0
        if fix and m:
            said = [last_text(x.get("content")) for x in msgs
                    if x.get("role") == "user"]
            said = [t for t in said if t]
            key = (self.headers.get("X-Claude-Code-Session-Id", ""),
                   said[-1] if said else "")
            step = STEPS.get(key, 0)
            STEPS[key] = step + 1
        if sub and not has_result:
            blocks = [{"type": "tool_use", "id": "toolu_mcp_%d" % len(msgs),
                       "name": "mcp__agq__agq_submit",
                       "input": {"title": sub.group(1), "cmd": "true"}}]
            stop = "tool_use"
        elif sub:
            res = next(b for b in content if isinstance(b, dict) and
                       b.get("type") == "tool_result")
            said = res.get("content")
            said = text_of(said) if not isinstance(said, str) else said
            blocks = [{"type": "text", "text": "%s: %s" % (
                "tool error" if res.get("is_error") else "submitted", said)}]
            stop = "end_turn"
        elif fix and m and step < 2:
            files = spelling_fixes(m.group(1), fix.group(1), prompt)
            if not files:
                blocks = [{"type": "text", "text": "nothing to fix"}]
                stop = "end_turn"
            else:
                write = step == 1
                # ids unique in the conversation: a resumed one (agq's
                # next review round) holds the first round's too
                blocks = [{"type": "tool_use",
                           "id": "toolu_%s_%d_%d" % (
                               "write" if write else "read", len(msgs), i),
                           "name": "Write" if write else "Read",
                           "input": {"file_path": f, "content": t}
                           if write else {"file_path": f}}
                          for i, (f, t) in enumerate(sorted(files.items()))]
                stop = "tool_use"
        elif fix and m:
            blocks = [{"type": "text", "text": "fixed"}]
            stop = "end_turn"
        elif review and not has_result:
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
