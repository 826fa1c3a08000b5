"""GitHub `push` webhooks: a signed push starts the poll of the team it names at once (polling
stays the fallback, so a lost or refused delivery only delays a submission).

What a request must pass, in this order, before anything is read further or written:
  1. a Content-Length no larger than `max_body_bytes` (else 411 / 413, the body never read);
  2. `X-Hub-Signature-256` = HMAC-SHA256 of the raw body with the shared secret, compared in
     constant time (hmac.compare_digest) BEFORE the body is parsed (missing or wrong: 401);
  3. the event: `ping` is answered 200, any event but `push` is ignored (202, nothing done);
  4. a JSON object whose repository (full_name, or a clone URL for a team on another git host)
     is a registered team's (else 404) and whose ref is that team's branch (else 202, ignored);
  5. an `X-GitHub-Delivery` id never seen before (else 409): recorded in the store with
     `store.claim` (exactly one receiver wins, on any number of hosts), the newest `keep` ids kept.
Only then is the team queued and the request answered 202; a worker thread polls it
(`trigger(team_id)`). A refused request writes nothing: no row, no delivery id, no log line with
its body (the access log names the method, path and status only).

The payload is used only to choose WHICH team to poll: the poll reads the team's branch itself,
so a payload's commits, messages or SHAs never become a submission.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arena.models import Team, utc_now_iso
from arena.text import CONTROL, one_line
from tasks.store.base import Store
from tasks.teamrepo import InvalidRepo, check_repo

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,100}$")  # GitHub's are GUIDs


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` signs `body` with `secret` (constant-time; any header text is safe)."""
    if not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


# -- which team a push is for -------------------------------------------------------------------


def _url_key(url: str) -> str:
    return url.strip().lower().removesuffix("/").removesuffix(".git")


def _team_keys(team: Team) -> set[str]:
    try:
        value = check_repo(team.repo)
    except InvalidRepo:
        return set()  # the poll reports it on the team's own row
    return {value.where.lower()} if value.kind == "github" else {_url_key(value.where)}


def _payload_keys(repository: dict[str, Any]) -> set[str]:
    keys = set()
    if isinstance(repository.get("full_name"), str):
        keys.add(repository["full_name"].strip().lower())
    for field in ("clone_url", "ssh_url", "git_url", "html_url", "url"):
        if isinstance(repository.get(field), str) and repository[field]:
            keys.add(_url_key(repository[field]))
    return keys


def teams_for(payload: dict[str, Any], teams: list[Team]) -> tuple[list[Team], list[Team]]:
    """(teams whose repo the push names, of those the ones whose branch it pushed)."""
    repository = payload.get("repository")
    keys = _payload_keys(repository) if isinstance(repository, dict) else set()
    named = [t for t in teams if keys & _team_keys(t)]
    ref = payload.get("ref")
    return named, [t for t in named if ref == f"refs/heads/{t.branch}"]


# -- replays ------------------------------------------------------------------------------------


def remember_delivery(store: Store, delivery: str, keep: int) -> bool:
    """Record a delivery id; False when it was recorded before (a replay). The newest `keep` are
    kept: each takes a ring slot from a counter, and the id in the slot it reuses is forgotten."""
    key = f"webhook:delivery:{delivery}"
    if not store.claim(key, {"at": utc_now_iso()}):
        return False
    slot = f"webhook:ring:{store.next_id('webhook-deliveries') % keep}"
    old = store.get_meta(slot)
    store.put_meta(slot, {"delivery": delivery})
    if old is not None and old.get("delivery") not in (None, delivery):
        store.delete_meta(f"webhook:delivery:{old['delivery']}")
    return True


# -- the poll, off the request thread ----------------------------------------------------------


class Dispatcher:
    """One worker thread polling the queued teams in turn. A team queued again while it waits is
    queued once; one queued while its poll runs is polled again after it (that poll may have read
    the branch before the push)."""

    def __init__(self, trigger: Callable[[int], None]):
        self._trigger = trigger
        self._waiting: list[int] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="webhook-dispatch", daemon=True)
        self._thread.start()

    def submit(self, team_id: int) -> None:
        with self._cond:
            if team_id not in self._waiting:
                self._waiting.append(team_id)
                self._cond.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                team_id = self._waiting.pop(0)
            try:
                self._trigger(team_id)
            except Exception as exc:  # arena's side: told to the organiser; the scheduled poll retries
                log.warning("webhook: polling team %s failed: %s: %s", team_id, type(exc).__name__, one_line(exc, 300))


# -- the HTTP side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    """What the handler needs: the secret, a store opener, where to queue teams, and the bounds."""

    secret: str
    open_store: Callable[[], Store]
    dispatch: Callable[[int], None]
    max_body_bytes: int = 5_000_000
    keep_deliveries: int = 10_000


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    message: str


def handle(receiver: Receiver, headers: Any, body: bytes) -> Answer:
    """The answer to one request whose body was read within the bound (steps 2-5 above)."""
    if not verify(receiver.secret, body, headers.get(SIGNATURE_HEADER)):
        return Answer(HTTPStatus.UNAUTHORIZED, f"missing or wrong {SIGNATURE_HEADER}")
    event = headers.get(EVENT_HEADER, "")
    if event == "ping":
        return Answer(HTTPStatus.OK, "pong")
    if event != "push":
        return Answer(HTTPStatus.ACCEPTED, f"ignored: arena acts on push events only, not {one_line(event, 40)!r}")
    delivery = headers.get(DELIVERY_HEADER, "")
    if not _DELIVERY_RE.match(delivery):
        return Answer(HTTPStatus.BAD_REQUEST, f"missing or malformed {DELIVERY_HEADER}")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return Answer(HTTPStatus.BAD_REQUEST, "the body is not JSON")
    if not isinstance(payload, dict):
        return Answer(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
    store = receiver.open_store()
    named, pushed = teams_for(payload, store.list_teams())
    if not named:
        return Answer(HTTPStatus.NOT_FOUND, "no registered team has this repository")
    if not pushed:
        return Answer(HTTPStatus.ACCEPTED, f"ignored: {one_line(payload.get('ref'), 100)} is not a team's branch")
    if not remember_delivery(store, delivery, receiver.keep_deliveries):
        return Answer(HTTPStatus.CONFLICT, f"delivery {delivery} was received before")
    for team in pushed:
        receiver.dispatch(team.team_id)
    return Answer(HTTPStatus.ACCEPTED, "polling team(s) " + ", ".join(str(t.team_id) for t in pushed))


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer
    timeout = 10  # seconds a slow client may take per read: a stalled request cannot hold a thread
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = self.headers.get("Content-Length")
        if length is None or not re.fullmatch(r"[0-9]{1,20}", length.strip()):  # str.isdigit takes "²"
            self._answer(Answer(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required"), close=True)
            return
        if int(length) > receiver.max_body_bytes:
            self._answer(Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                f"the body is over {receiver.max_body_bytes} bytes"), close=True)
            return
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            self._answer(Answer(HTTPStatus.BAD_REQUEST, "the body is shorter than its Content-Length"), close=True)
            return
        try:
            answer = handle(receiver, self.headers, body)
        except Exception as exc:  # the store unreachable: GitHub shows the failure, the poll catches up
            log.warning("webhook: cannot handle a delivery: %s: %s", type(exc).__name__, one_line(exc, 300))
            answer = Answer(HTTPStatus.SERVICE_UNAVAILABLE, "arena cannot handle this delivery now")
        self._answer(answer)

    def do_GET(self) -> None:
        self._answer(Answer(HTTPStatus.METHOD_NOT_ALLOWED, "POST GitHub push events here"))

    def _answer(self, answer: Answer, close: bool = False) -> None:
        data = (json.dumps({"message": answer.message}) + "\n").encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's access line (request line and status) only: never a header or the body.
        log.info("webhook %s: %s", self.client_address[0], CONTROL.sub("\ufffd", one_line(format % args, 300)))


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver):
        super().__init__(address, _Handler)
        self.receiver = receiver
