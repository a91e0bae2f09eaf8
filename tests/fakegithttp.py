#!/usr/bin/env python3
"""tests/fakegithttp.py - a loopback git smart-HTTP server that needs a
token, for tests of agq's fetch and push over http(s) with git_token_file.

Usage: fakegithttp.py PORTFILE LOGFILE ROOT TOKEN
Serves the repositories under ROOT with git-http-backend(1) (the CGI
program git ships), but only to requests with "Authorization: Basic"
of any user and the password TOKEN; any other request gets 401 with
"WWW-Authenticate: Basic realm=git".  Request bodies sent with
"Transfer-Encoding: chunked" (libgit2's pushes) are decoded first.  Every
request is appended to LOGFILE as one JSON line (method, path, headers).
"""
import base64
import os
import subprocess
import sys
from fakehttp import JSONHandler, serve

PORTFILE, LOGFILE, ROOT, TOKEN = sys.argv[1:5]
BACKEND = "/usr/lib/git-core/git-http-backend"


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def authorized(self):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if pw == TOKEN else None

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_git(self):
        self.record(None)
        data = self.body() if self.command == "POST" else b""
        user = self.authorized()
        if not user:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query,
                   REQUEST_METHOD=self.command, REMOTE_USER=user,
                   REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(data)))
        out = subprocess.run([BACKEND], input=data, env=env,
                             capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    do_GET = handle_git
    do_POST = handle_git


serve(Handler, PORTFILE)
