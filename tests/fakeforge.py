#!/usr/bin/env python3
"""tests/fakeforge.py - a stand-in for the pull request APIs of GitHub and
Gitea/Forgejo, for agq's tests (tests/forge.bats).

Usage: fakeforge.py PORTFILE LOGFILE TOKEN
Listens on 127.0.0.1 on a free port (written to PORTFILE once it is
listening) and answers in the real shapes of
  github  POST /repos/OWNER/REPO/pulls
          GET  /repos/OWNER/REPO/pulls?head=OWNER:BRANCH&state=all
          (REST API 2022-11-28: needs "Authorization: Bearer TOKEN",
          "Accept: application/vnd.github+json" and
          "X-GitHub-Api-Version: 2022-11-28", else 401 / 415 / 400)
  gitea   POST /api/v1/repos/OWNER/REPO/pulls
          GET  /api/v1/repos/OWNER/REPO/pulls?state=all&limit=N&page=P
          (needs "Authorization: token TOKEN", else 401)
A POST answers 201 with the new pull request (number, html_url, head.ref,
base.ref ...), or, when the head branch already has one, 422 "A pull
request already exists for OWNER:BRANCH." (github) / 409 (gitea).  Pull
requests are kept in memory, numbered from 1 per repository.
  both    POST .../pulls/NUMBER/reviews {commit_id, body, event}: 200 with
          the review {id, state, commit_id, body}; event APPROVE |
          REQUEST_CHANGES | COMMENT (github), APPROVED | REQUEST_CHANGES |
          COMMENT (gitea), else 422; no such pull request: 404.  In a
          repository whose OWNER is "self" (the token's user opened its
          pull requests) an approval or a request for changes is refused
          as the real ones refuse it: github 422 {"errors": ["Review Can
          not approve your own pull request"]}, gitea 422 "approve your
          own pull is not allowed"; a COMMENT is taken.
and, for merges (issue 18),
  github  GET  /repos/OWNER/REPO/pulls/N (with an ETag; If-None-Match
               that matches it answers 304)
          PUT  /repos/OWNER/REPO/pulls/N/merge {merge_method, sha, ...}
               -> 200 {sha, merged, message}
  gitea   GET  /api/v1/repos/OWNER/REPO/pulls/N (likewise)
          POST /api/v1/repos/OWNER/REPO/pulls/N/merge {Do, head_commit_id}
               -> 200, no body
A merged pull request has state "closed", merged true and a
merge_commit_sha.  A file LOGFILE.merge holding 405 or 409 makes a merge
answer that (not mergeable, head moved).  A file LOGFILE.origin naming a
bare repository makes the forge see its branches: a pull request's
head.sha is its branch's tip there, and a merge whose sha is not that tip
answers 409 as the real ones do (someone pushed after the approval).  POST /_merge/OWNER/REPO/N and
/_close/OWNER/REPO/N (no credentials) merge or close pull request N as if
someone did on the forge.
A file LOGFILE.status holding an HTTP status (e.g. 500) makes every answer
that status with an error body.
Every request is appended to LOGFILE as one JSON line (method, path,
headers, body).
"""
import hashlib
import json
import subprocess
import sys
from fakehttp import JSONHandler, serve
from urllib.parse import parse_qs, urlsplit

PORTFILE, LOGFILE, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
PULLS = {}      # (kind, owner, repo) -> [pull request objects]


class Handler(JSONHandler):
    LOGFILE = LOGFILE

    def route(self):
        """(kind, owner, repo, query, number, sub) of a pulls URL, or
        None: number None for .../pulls, sub None for .../pulls/N, else
        "merge" or "reviews" (.../pulls/N/merge, .../pulls/N/reviews)."""
        u = urlsplit(self.path)
        p = u.path.strip("/").split("/")
        kind = "github"
        if p[:2] == ["api", "v1"]:
            kind, p = "gitea", p[2:]
        if len(p) < 4 or p[0] != "repos" or p[3] != "pulls":
            return None
        num = sub = None
        if len(p) >= 5:
            if not p[4].isdigit() or len(p) > 6 or (
                    len(p) == 6 and p[5] not in ("merge", "reviews")):
                return None
            num, sub = int(p[4]), p[5] if len(p) == 6 else None
        return kind, p[1], p[2], parse_qs(u.query), num, sub

    def control(self):
        """POST /_merge|_close/OWNER/REPO/N: as if done on the forge."""
        p = urlsplit(self.path).path.strip("/").split("/")
        for (kind, owner, repo), pulls in PULLS.items():
            if [owner, repo] != p[1:3]:
                continue
            for pr in pulls:
                if pr["number"] == int(p[3]):
                    merged(pr) if p[0] == "_merge" else pr.update(
                        state="closed")
        self.send(200, {})

    def one(self, kind, pulls, num, merge, req):
        """GET, or merge, pull request NUM."""
        pr = next((p for p in pulls if p["number"] == num), None)
        if pr is None:
            return self.send(404, {"message": "Not Found"})
        if not merge:
            tip = self.tip(pr)
            if tip:
                pr["head"]["sha"] = tip
            tag = '"%s"' % hashlib.sha1(
                json.dumps(pr, sort_keys=True).encode()).hexdigest()
            if self.headers.get("If-None-Match") == tag:
                return self.send(304, raw=b"", headers={"ETag": tag})
            return self.send(200, pr, headers={"ETag": tag})
        tip = self.tip(pr)
        code = self.forced(".merge")
        if tip and (req or {}).get("sha", (req or {}).get(
                "head_commit_id")) != tip:
            code = 409
        if code == 405:
            return self.send(405, {"message":
                                   "Pull Request is not mergeable"})
        if code == 409 or pr["merged"]:
            return self.send(409, {"message": "Head branch was modified. "
                                   "Review and try the merge again."})
        merged(pr)
        if kind == "gitea":
            return self.send(200, raw=b"")
        self.send(200, {"sha": pr["merge_commit_sha"], "merged": True,
                        "message": "Pull Request successfully merged"})

    def refused(self, kind):
        """The answer to a request without the API's headers, or None."""
        h = self.headers
        if kind == "github":
            if h.get("Authorization") != "Bearer " + TOKEN:
                return 401, {"message": "Bad credentials",
                             "documentation_url": "https://docs.github.com/rest",
                             "status": "401"}
            if h.get("Accept") != "application/vnd.github+json":
                return 415, {"message": "Accept must be "
                             "application/vnd.github+json"}
            if h.get("X-GitHub-Api-Version") != "2022-11-28":
                return 400, {"message": "X-GitHub-Api-Version must be "
                             "2022-11-28"}
        elif h.get("Authorization") != "token " + TOKEN:
            return 401, {"message": "user does not exist [uid: 0, name: ]",
                         "url": "http://127.0.0.1/api/swagger"}
        if not h.get("User-Agent"):
            return 403, {"message": "a User-Agent is required"}
        return None

    def tip(self, pr):
        """The tip of PR's head branch in the LOGFILE.origin repository,
        or None (no such file or branch)."""
        try:
            with open(LOGFILE + ".origin") as f:
                git_dir = f.read().strip()
        except OSError:
            return None
        r = subprocess.run(["git", "--git-dir", git_dir, "rev-parse",
                            "--verify", "-q", "refs/heads/" +
                            pr["head"]["ref"]], capture_output=True,
                           text=True)
        return r.stdout.strip() or None

    def forced(self, ext=".status"):
        try:
            with open(LOGFILE + ext) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def handle_any(self, req):
        self.record(req)
        if self.path.startswith(("/_merge/", "/_close/")):
            return self.control()
        r = self.route()
        if r is None:
            return self.send(404, {"message": "Not Found"})
        kind, owner, repo, q, num, sub = r
        no = self.refused(kind)
        if no:
            return self.send(*no)
        code = self.forced()
        if code:
            return self.send(code, {"message": "Server Error"})
        pulls = PULLS.setdefault((kind, owner, repo), [])
        if sub == "reviews":
            return self.review(kind, owner, pulls, num, req)
        if num is not None and sub is None and self.command == "PATCH":
            return self.patch(pulls, num, req)
        if num is not None:
            merge = sub == "merge"
            want = ("PUT" if kind == "github" else "POST") if merge else "GET"
            if self.command != want:
                return self.send(405, {"message": "Method Not Allowed"})
            return self.one(kind, pulls, num, merge, req)
        if self.command == "GET":
            if kind == "github":
                head = q.get("head", [""])[0]
                return self.send(200, [p for p in pulls if
                                       owner + ":" + p["head"]["ref"] == head])
            limit = min(int(q.get("limit", ["30"])[0]), 50)
            page = int(q.get("page", ["1"])[0])
            return self.send(200, pulls[(page - 1) * limit:page * limit])
        if not isinstance(req, dict) or not all(
                isinstance(req.get(k), str) and req.get(k)
                for k in ("title", "head", "base")):
            return self.send(422, {"message": "Validation Failed",
                                   "errors": [{"code": "missing_field"}]})
        for p in pulls:
            if p["head"]["ref"] == req["head"]:
                if kind == "github":
                    return self.send(422, {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest",
                                    "code": "custom",
                                    "message": "A pull request already exists"
                                    " for %s:%s." % (owner, req["head"])}],
                        "documentation_url": "https://docs.github.com/rest"})
                return self.send(409, {
                    "message": "pull request already exists for these "
                    "targets [id: %d, head_branch: %s, base_branch: %s]" %
                    (p["number"], req["head"], req["base"]),
                    "url": "http://127.0.0.1/api/swagger"})
        n = len(pulls) + 1
        web = ("https://github.com/%s/%s/pull/%d" if kind == "github" else
               "http://127.0.0.1:3000/%s/%s/pulls/%d") % (owner, repo, n)
        pr = {"id": 1000 + n, "number": n, "state": "open",
              "title": req["title"], "body": req.get("body"),
              "draft": bool(req.get("draft")), "html_url": web,
              "merged": False, "merge_commit_sha": None,
              "head": {"ref": req["head"], "label": owner + ":" + req["head"]},
              "base": {"ref": req["base"]}}
        pulls.append(pr)
        self.send(201, pr)

    def patch(self, pulls, number, req):
        """PATCH .../pulls/NUMBER: the state changed (closed or open)."""
        for pr in pulls:
            if pr["number"] == number:
                if isinstance(req, dict) and req.get("state") in (
                        "open", "closed"):
                    pr["state"] = req["state"]
                return self.send(200, pr)
        return self.send(404, {"message": "Not Found"})

    def review(self, kind, owner, pulls, number, req):
        """POST .../pulls/NUMBER/reviews."""
        pr = next((p for p in pulls if p["number"] == number), None)
        if pr is None or self.command != "POST":
            return self.send(404, {"message": "Not Found"})
        events = {"github": {"APPROVE": "APPROVED",
                             "REQUEST_CHANGES": "CHANGES_REQUESTED",
                             "COMMENT": "COMMENTED"},
                  "gitea": {"APPROVED": "APPROVED",
                            "REQUEST_CHANGES": "REQUEST_CHANGES",
                            "COMMENT": "COMMENT"}}[kind]
        ev = req.get("event") if isinstance(req, dict) else None
        if ev not in events or not isinstance(req.get("commit_id"), str):
            return self.send(422, {"message": "Validation Failed",
                                   "errors": ["bad event or commit_id"]})
        if owner == "self" and ev != "COMMENT":
            what = "approve" if ev.startswith("APPROVE") else "reject"
            if kind == "github":
                return self.send(422, {
                    "message": "Unprocessable Entity",
                    "errors": ["Review Can not %s your own pull request" %
                               ("approve" if what == "approve" else
                                "request changes on")],
                    "documentation_url": "https://docs.github.com/rest"})
            return self.send(422, {
                "message": "%s your own pull is not allowed" % what,
                "url": "http://127.0.0.1/api/swagger"})
        r = {"id": 5000 + len(pr.setdefault("reviews", [])) + 1,
             "state": events[ev], "commit_id": req["commit_id"],
             "body": req.get("body", "")}
        pr["reviews"].append(r)
        self.send(200, r)

    def do_GET(self):
        self.handle_any(None)

    def do_POST(self):
        self.handle_any(self.read_json(
            lambda raw: raw.decode("utf-8", "replace")))

    do_PUT = do_PATCH = do_POST


def merged(pr):
    """PR merged: closed, with a merge commit's sha."""
    pr.update(state="closed", merged=True, merge_commit_sha=hashlib.sha1(
        ("merge %d" % pr["number"]).encode()).hexdigest())


serve(Handler, PORTFILE)
