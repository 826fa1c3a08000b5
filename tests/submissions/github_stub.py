"""A loopback stand-in for the part of GitHub's REST API that PyGithub calls for arena, backed by
real git repositories on disk (so SHAs, messages and tarballs are the real thing):

    GET /rate_limit
    GET /repos/{owner}/{repo}
    GET /repos/{owner}/{repo}/commits?sha=BRANCH&page=N&per_page=M   (Link: rel="next" paging)
    GET /repos/{owner}/{repo}/tarball/{sha}   -> 302 to /_codeload/{owner}/{repo}/{sha}
    GET /_codeload/{owner}/{repo}/{sha}       -> the tar.gz, top folder owner-repo-sha7/ (or stub.tarballs[sha])

Every API response carries x-ratelimit-* headers from a budget the test controls; with the budget
used up, API calls answer 403 "API rate limit exceeded" exactly as GitHub does. `requests` records
(method, path, authorization) for assertions.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class GitHubStub:
    def __init__(self) -> None:
        self.repos: dict[str, Path] = {}  # "owner/name" -> local git repo
        self.requests: list[tuple[str, str, str | None]] = []
        self.limit = 5000
        self.remaining = 5000
        self.reset_at = 2_000_000_000  # epoch seconds reported in x-ratelimit-reset
        # Canned refusals for the next API calls, e.g. a secondary limit, or a budget another client
        # of the same token used up between our calls: "secondary" or "primary".
        self.refuse_next: list[str] = []
        # A hand-made tarball to serve for a commit instead of `git archive` (hostile-tree tests).
        self.tarballs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GitHubStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def api_paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]

    # -- git helpers -------------------------------------------------------------------------

    def _git(self, repo: Path, *args: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout

    def _commits(self, repo: Path, branch: str) -> list[dict] | None:
        proc = subprocess.run(
            ["git", "-C", str(repo), "log", "--format=%H%x00%cI%x00%an%x00%ae%x00%P%x00%B%x1e", f"refs/heads/{branch}", "--"],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            return None
        items = []
        for record in proc.stdout.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, date, name, email, parents, message = record.split("\x00", 5)
            person = {"name": name, "email": email, "date": date}
            items.append({
                "sha": sha,
                "node_id": "C_" + sha[:8],
                "url": f"{self.url}/repos/x/y/commits/{sha}",
                "html_url": f"https://github.invalid/commit/{sha}",
                "commit": {
                    "url": f"{self.url}/repos/x/y/git/commits/{sha}",
                    "message": message.rstrip("\n"),
                    "author": person,
                    "committer": person,
                    "tree": {"sha": "0" * 40, "url": f"{self.url}/tree"},
                },
                "parents": [{"sha": p, "url": f"{self.url}/repos/x/y/commits/{p}"} for p in parents.split()],
            })
        return items

    # -- the server --------------------------------------------------------------------------

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body, headers: dict | None = None, api: bool = True) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                if api:
                    with stub._lock:
                        self.send_header("x-ratelimit-limit", str(stub.limit))
                        self.send_header("x-ratelimit-remaining", str(stub.remaining))
                        self.send_header("x-ratelimit-reset", str(stub.reset_at))
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's name)
                parsed = urlparse(self.path)
                path, query = parsed.path, parse_qs(parsed.query)
                stub.requests.append(("GET", path, self.headers.get("Authorization")))
                parts = [p for p in path.split("/") if p]

                if path == "/rate_limit":  # does not count against the budget, as on GitHub
                    core = {"limit": stub.limit, "remaining": stub.remaining, "reset": stub.reset_at, "used": stub.limit - stub.remaining}
                    return self._send(200, {"resources": {"core": core}, "rate": core})
                if parts[:1] == ["_codeload"] and len(parts) == 4:
                    return self._codeload(parts[1], parts[2], parts[3])
                with stub._lock:
                    refusal = stub.refuse_next.pop(0) if stub.refuse_next else None
                if refusal == "secondary":
                    return self._send(403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
                                      {"Retry-After": "30"})
                if refusal == "primary":
                    with stub._lock:
                        stub.remaining = 0
                with stub._lock:
                    exhausted = stub.remaining <= 0
                    if not exhausted:
                        stub.remaining -= 1
                if exhausted:
                    return self._send(403, {
                        "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: ...)",
                        "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                    })
                if len(parts) < 3 or parts[0] != "repos":
                    return self._send(404, {"message": "Not Found"})
                full_name = f"{parts[1]}/{parts[2]}"
                repo = stub.repos.get(full_name)
                if repo is None or not repo.exists():
                    return self._send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
                rest = parts[3:]
                if not rest:
                    return self._send(200, {
                        "id": abs(hash(full_name)) % 10**8, "name": parts[2], "full_name": full_name,
                        "owner": {"login": parts[1], "id": 1, "type": "Organization"},
                        "private": False, "default_branch": "main",
                        "url": f"{stub.url}/repos/{full_name}",
                    })
                if rest == ["commits"]:
                    return self._list_commits(full_name, repo, query)
                if len(rest) == 2 and rest[0] == "tarball":
                    sha = rest[1]
                    ok = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{sha}^{{commit}}"]).returncode == 0
                    if not ok:
                        return self._send(404, {"message": "Not Found"})
                    return self._send(302, b"", {"Location": f"{stub.url}/_codeload/{full_name}/{sha}"})
                return self._send(404, {"message": "Not Found"})

            def _list_commits(self, full_name: str, repo: Path, query: dict) -> None:
                branch = query.get("sha", ["main"])[0]
                items = stub._commits(repo, branch)
                if items is None:
                    return self._send(404, {"message": f"No commit found for SHA: {branch}"})
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                chunk = items[(page - 1) * per_page: page * per_page]
                headers = {}
                if page * per_page < len(items):
                    nxt = f"{stub.url}/repos/{full_name}/commits?sha={branch}&per_page={per_page}&page={page + 1}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                return self._send(200, chunk, headers)

            def _codeload(self, owner: str, name: str, sha: str) -> None:
                repo = stub.repos.get(f"{owner}/{name}")
                if repo is None:
                    return self._send(404, b"Not Found", api=False)
                data = stub.tarballs.get(sha) or stub._git(
                    repo, "archive", "--format=tar.gz", f"--prefix={owner}-{name}-{sha[:7]}/", sha)
                return self._send(200, data, {"Content-Type": "application/x-gzip"}, api=False)

        return Handler
