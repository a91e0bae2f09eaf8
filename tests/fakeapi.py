#!/usr/bin/env python3
"""tests/fakeapi.py - a stand-in for the model APIs, for agq's tests.

Usage: fakeapi.py PORTFILE LOGFILE
Listens on 127.0.0.1 on a free port (written to PORTFILE once it is
listening) and answers in the real formats of
  ollama     POST /api/chat, GET /api/tags, GET /api/ps
  openai     POST /v1/chat/completions, GET /v1/models
  anthropic  POST /v1/messages (needs x-api-key and anthropic-version)
The request's "model" picks the behaviour:
  http500    HTTP 500 with the API's error body
  timeout    answer after 30 seconds
  garbage    HTTP 200 with an HTML body
  truncated  a Content-Length larger than the body, then close
  badshape   HTTP 200 with a JSON object of the wrong shape
  patch      a success answering with a ```diff block (prose around it)
             that changes hello.txt's line "hello" to "hello, patched"
  patch-retry  the same diff, but with a wrong context line ("hullo")
             unless the prompt says the last answer "could not be
             applied": it applies on the second iteration
  ratelimit-N-...  the first request of this model: HTTP 429 with the API's
             rate limit error, Retry-After: N and the vendor's reset
             headers (anthropic-ratelimit-requests-reset, RFC 3339;
             x-ratelimit-reset-requests, "Ns"); later ones succeed
  verdict-approve  a reviewer's verdict as a bare JSON object: approve,
             comments ["looks good"]
  verdict-changes  prose around a ```json block: request_changes, comments
             ["add a test", "say why in b.txt"]
  verdict-garbage-once  the first request of this model: prose with no
             verdict ("LGTM, ship it!"); later ones as verdict-approve
  anything else: a recorded success; the answer text is "echo: " and the
  last line of the prompt.
A path prefix /down/ (or a file LOGFILE.down) makes every answer a 503; /cold/ makes /api/ps
list no loaded model.
Every request is appended to LOGFILE as one JSON line (method, path,
headers, body).
"""
import os
import sys
import time
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
LIMITED = set()         # the ratelimit-* models answered 429 already
GARBLED = set()         # the verdict-garbage-once models answered already
APPROVE = '{"verdict": "approve", "comments": ["looks good"]}'
VERDICTS = {
    "verdict-approve": APPROVE,
    "verdict-changes": 'I read the diff.\n\n```json\n{"verdict": '
                       '"request_changes", "comments": ["add a test", '
                       '"say why in b.txt"]}\n```\nThat is all.',
}

PATCH = ("Here is the change:\n\n```diff\n"
         "diff --git a/hello.txt b/hello.txt\n"
         "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n"
         "-%s\n+hello, patched\n```\n\nThe greeting is longer now.\n")


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def prefix(self):
        """A path prefix changes the server's state: /down/... answers
        503 to everything, /cold/... has no model loaded (/api/ps)."""
        if os.path.exists(LOGFILE + ".down"):
            return "down"
        for mode in ("down", "cold"):
            if self.path.startswith("/" + mode + "/"):
                self.path = self.path[len(mode) + 1:]
                return mode
        return None

    def do_GET(self):
        self.record(None)
        mode = self.prefix()
        if mode == "down":
            self.send(503, {"error": "service unavailable"})
        elif self.path == "/api/ps" and mode == "cold":
            self.send(200, {"models": []})
        elif self.path == "/api/tags":
            self.send(200, {"models": [{"name": "llama3.1:8b"},
                                       {"name": "qwen2.5:7b"}]})
        elif self.path == "/api/ps":
            self.send(200, {"models": [{"name": "llama3.1:8b"}]})
        elif self.path == "/v1/models":
            self.send(200, {"object": "list",
                            "data": [{"id": "local-model", "object": "model"}]})
        else:
            self.send(404, {"error": "not found"})

    def do_POST(self):
        req = self.read_json(lambda raw: {})
        self.record(req)
        if self.prefix() == "down":
            return self.send(503, {"error": "service unavailable"})
        model = req.get("model", "")
        msgs = req.get("messages") or [{"content": ""}]
        prompt = msgs[-1].get("content", "")
        text = "echo: " + prompt.strip().splitlines()[-1] if prompt else "echo:"
        if model == "patch" or (model == "patch-retry" and
                                "could not be applied" in prompt):
            text = PATCH % "hello"
        elif model == "patch-retry":
            text = PATCH % "hullo"
        elif model in VERDICTS:
            text = VERDICTS[model]
        elif model == "verdict-garbage-once":
            text = APPROVE if model in GARBLED else "LGTM, ship it!"
            GARBLED.add(model)
        p = self.path
        kind = ("ollama" if p == "/api/chat" else
                "openai" if p == "/v1/chat/completions" else
                "anthropic" if p == "/v1/messages" else None)
        if kind is None:
            return self.send(404, {"error": "not found"})
        if kind == "anthropic" and (not self.headers.get("x-api-key") or
                                    not self.headers.get("anthropic-version")):
            return self.send(401, {"type": "error", "error": {
                "type": "authentication_error",
                "message": "x-api-key header is required"}})
        if model == "http500":
            err = ({"error": "model runner has crashed"} if kind == "ollama"
                   else {"type": "error", "error": {"type": "api_error",
                         "message": "Internal server error"}}
                   if kind == "anthropic" else
                   {"error": {"message": "The server had an error",
                              "type": "server_error"}})
            return self.send(500, err)
        if model.startswith("ratelimit-") and model not in LIMITED:
            LIMITED.add(model)
            secs = int(model.split("-")[1])
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                  time.gmtime(time.time() + secs))
            err = ({"error": "rate limited"} if kind == "ollama" else
                   {"type": "error", "error": {
                       "type": "rate_limit_error",
                       "message": "Number of requests has exceeded your "
                                  "rate limit"}} if kind == "anthropic" else
                   {"error": {"message": "Rate limit reached for requests",
                              "type": "requests", "code":
                              "rate_limit_exceeded"}})
            return self.send(429, err, headers={
                "Retry-After": str(secs),
                "anthropic-ratelimit-requests-reset": reset,
                "x-ratelimit-reset-requests": "%ds" % secs})
        if model == "timeout":
            time.sleep(30)
            return self.send(200, {})
        if model == "garbage":
            return self.send(200, raw=b"<html><body>Bad Gateway</body></html>")
        if model == "truncated":
            return self.send(200, raw=b'{"model": "x", "mess', length=1000)
        if model == "badshape":
            return self.send(200, {"unexpected": True})
        if kind == "ollama":
            self.send(200, {
                "model": model, "created_at": "2026-11-22T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done_reason": "stop", "done": True,
                "total_duration": 5043500667, "load_duration": 5025959,
                "prompt_eval_count": 26, "prompt_eval_duration": 325953000,
                "eval_count": 290, "eval_duration": 4709213000})
        elif kind == "openai":
            self.send(200, {
                "id": "chatcmpl-123", "object": "chat.completion",
                "created": 1677652288, "model": model,
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": text},
                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 12,
                          "total_tokens": 21}})
        else:
            self.send(200, {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message",
                "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 2095, "output_tokens": 503}})


serve(Handler, PORTFILE)
