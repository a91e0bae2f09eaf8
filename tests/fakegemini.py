#!/usr/bin/env python3
"""tests/fakegemini.py - a loopback stand-in for the Gemini API
(generativelanguage.googleapis.com) as the real gemini CLI calls it with
GOOGLE_GEMINI_BASE_URL set: POST /v1beta/models/MODEL:generateContent,
:streamGenerateContent?alt=sse (server-sent events, one
GenerateContentResponse each) and :countTokens, for tests of agq's cli
backend with the real @google/gemini-cli.

Usage: fakegemini.py PORTFILE LOGFILE
A turn whose prompt names "cwd: DIR" and that carries no functionResponse
yet answers with a functionCall: write_file of "hello.txt" (content
"hello from gemini\\n") in DIR; a turn that carries a functionResponse
answers with the text "wrote it"; any other generateContent call (the
CLI's own side requests: routing, next-speaker checks) gets a short text
answer, or "{}" when it asks for JSON.  Every request is appended to
LOGFILE as one JSON line.
"""
import json
import re
import sys
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
USAGE = {"promptTokenCount": 21, "candidatesTokenCount": 7,
         "totalTokenCount": 28}


def parts_of(body):
    for c in (body or {}).get("contents") or []:
        for p in c.get("parts") or []:
            if isinstance(p, dict):
                yield c.get("role"), p


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def do_GET(self):
        self.record(None)
        self.send(404, {"error": {"code": 404, "message": "no",
                                  "status": "NOT_FOUND"}})

    def do_POST(self):
        body = self.read_json(lambda raw: None)
        self.record(body)
        if ":countTokens" in self.path:
            self.send(200, {"totalTokens": 10})
            return
        if ":generateContent" not in self.path and \
                ":streamGenerateContent" not in self.path:
            self.send(404, {"error": {"code": 404, "message": "no such "
                                      "method", "status": "NOT_FOUND"}})
            return
        parts = list(parts_of(body))
        answered = any("functionResponse" in p for _, p in parts)
        last_user = [p.get("text", "") for r, p in parts if r == "user"]
        m = re.search(r"cwd: (\S+)", "\n".join(last_user))
        cfg = (body or {}).get("generationConfig") or {}
        tools = (body or {}).get("tools")
        if answered:
            part = {"text": "wrote it"}
        elif m and tools:
            part = {"functionCall": {"name": "write_file", "args": {
                "file_path": m.group(1) + "/hello.txt",
                "content": "hello from gemini\n"}}}
        elif cfg.get("responseMimeType") == "application/json":
            part = {"text": "{}"}
        else:
            part = {"text": "ok"}
        resp = {"candidates": [{"content": {"role": "model",
                                            "parts": [part]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": USAGE, "modelVersion": "gemini-fake"}
        if ":streamGenerateContent" not in self.path:
            self.send(200, resp)
            return
        self.send_events(("data: %s\r\n\r\n" % json.dumps(resp)).encode())


serve(Handler, PORTFILE)
