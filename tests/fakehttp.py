"""tests/fakehttp.py - what the loopback stand-ins of tests/ share
(fakeapi.py, fakeforge.py, fakemessages.py, fakegemini.py): a handler
that answers JSON or server-sent events and logs each request as one JSON
line, and serving it on a free 127.0.0.1 port.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONHandler(BaseHTTPRequestHandler):
    """A handler whose subclass sets LOGFILE, the requests' log."""
    protocol_version = "HTTP/1.1"
    LOGFILE = None

    def log_message(self, fmt, *args):
        pass

    def send(self, code, obj=None, raw=None, length=None, headers=None):
        """Answer CODE with OBJ as JSON (or the bytes RAW), closing the
        connection; LENGTH overrides the Content-Length; HEADERS, a dict,
        are sent too."""
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length or len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def send_events(self, data):
        """Answer 200 with DATA, the bytes of server-sent events (a
        streaming API's answer), closing the connection."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def read_json(self, bad):
        """The request's body parsed as JSON, or BAD(raw bytes) when it
        is not JSON."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw)
        except ValueError:
            return bad(raw)

    def record(self, body):
        """Append the request (method, path, headers, BODY) to LOGFILE."""
        with open(self.LOGFILE, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "headers": dict(self.headers),
                                "body": body}) + "\n")


def serve(handler, portfile):
    """Serve HANDLER on 127.0.0.1, a free port written to PORTFILE (by
    rename, once listening), until killed."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()
