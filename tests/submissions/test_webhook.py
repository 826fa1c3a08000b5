"""`arena webhook` on loopback, as a real process over a real SQLite store and the loopback GitHub
stand-in: a signed push polls that team at once; a forged, unsigned, unknown-repo, replayed,
oversized or other-event request is refused and writes nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from git_helpers import commit, make_repo

from arena.models import Team
from tasks.webhook import signature

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-webhook-secret-for-tests-" + uuid.uuid4().hex


class Receiver:
    """The `arena webhook` process; its output lines are collected as they come."""

    def __init__(self, env: dict[str, str]):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "webhook", "--port", "0"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        found = self.wait_for(r"listening on http://127\.0\.0\.1:(\d+)/")
        self.url = f"http://127.0.0.1:{found.group(1)}/"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float = 180.0, count: int = 1) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [m for m in (re.search(pattern, line) for line in list(self.lines)) if m]
            if len(found) >= count:
                return found[count - 1]
            assert self.proc.poll() is None or len(found) >= count, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"never saw {pattern!r}:\n" + "\n".join(self.lines)
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # no Prefect server: poll here only
    env.update({"PYTHONPATH": str(ROOT), **(extra or {})})
    return env


@pytest.fixture
def alpha(tmp_path, store, stub):
    stub.repos["org/alpha"] = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", repo="org/alpha"))
    return stub.repos["org/alpha"]


@pytest.fixture
def receiver(alpha, env):
    running = Receiver(_env({"ARENA_WEBHOOK_SECRET": SECRET}))
    yield running
    running.stop()


def push_payload(full_name: str = "org/alpha", ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "after": "0" * 40, "repository": {
        "full_name": full_name, "clone_url": f"https://github.com/{full_name}.git"}}).encode()


def send(url: str, body: bytes, *, event: str = "push", sign: str | None = SECRET, delivery: str | None = None,
         signature_header: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if signature_header is not None:
        headers["X-Hub-Signature-256"] = signature_header
    elif sign is not None:
        headers["X-Hub-Signature-256"] = signature(sign, body)
    return requests.post(url, data=body, headers=headers, timeout=60)


POLLED = r"webhook: team 101 \(Alpha\): head"


def polls(receiver: Receiver) -> list[str]:
    return [line for line in list(receiver.lines) if re.search(POLLED, line)]


def dump(store) -> list:
    return sorted(json.dumps([table, item], sort_keys=True) for table, item in store.dump())


def kickoffs(store, sha: str) -> list:
    return [r for r in store.list_tasks(team_id=101) if r.git_commit_hash == sha]


def wait_for_row(store, sha: str, timeout_s: float = 180.0) -> list:
    deadline = time.monotonic() + timeout_s
    while not (rows := kickoffs(store, sha)):
        assert time.monotonic() < deadline, f"no kickoff row for {sha[:12]}"
        time.sleep(0.2)
    return rows


def test_a_signed_push_polls_that_team_at_once(receiver, store, alpha):
    sha = commit(alpha, "submission: first try", {"bot/n.txt": "1"})
    answer = send(receiver.url, push_payload())
    assert answer.status_code == 202, answer.text
    [row] = wait_for_row(store, sha)
    assert row.type.value == "submission-kickoff" and row.state_.value == "pending"

    # Two pushes in a burst: still one row for the commit.
    second = commit(alpha, "submission: second", {"bot/n.txt": "2"})
    assert {send(receiver.url, push_payload()).status_code for _ in range(2)} == {202}
    wait_for_row(store, second)
    commit(alpha, "work in progress")  # a later push, polled after the burst's (one worker, in turn)
    assert send(receiver.url, push_payload()).status_code == 202
    receiver.wait_for(r"team 101 .*1 other commit")
    assert len(kickoffs(store, sha)) == 1 and len(kickoffs(store, second)) == 1


def test_refused_requests_write_nothing(receiver, store, alpha):
    commit(alpha, "submission: would be found by any poll", {"bot/n.txt": "1"})
    body = push_payload()
    before = dump(store)

    assert send(receiver.url, body, sign="not-the-secret-at-all-0000").status_code == 401  # forged
    assert send(receiver.url, body, sign=None).status_code == 401  # unsigned
    assert send(receiver.url, body, signature_header="sha256=" + "0" * 64).status_code == 401
    assert send(receiver.url, body, signature_header="sha1=zz\u00e9").status_code == 401
    tampered = body.replace(b"org/alpha", b"org/alphb")
    assert send(receiver.url, tampered, signature_header=signature(SECRET, body)).status_code == 401
    unknown = send(receiver.url, push_payload("org/nobody"))
    assert unknown.status_code == 404, unknown.text
    other_event = send(receiver.url, body, event="issues")
    assert other_event.status_code == 202 and "ignored" in other_event.json()["message"]
    other_branch = send(receiver.url, push_payload(ref="refs/heads/experiments"))
    assert other_branch.status_code == 202 and "ignored" in other_branch.json()["message"]
    assert send(receiver.url, body, event="ping").status_code == 200
    assert send(receiver.url, b"not json", delivery="d-1").status_code == 400
    assert dump(store) == before  # no row, no delivery id, no cursor: nothing

    # Past the body bound: refused from the Content-Length, the body never read.
    host, port = receiver.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n{\"ref\":")
        assert sock.recv(200).startswith(b"HTTP/1.1 413")
    with socket.create_connection((host, int(port)), timeout=60) as sock:  # chunked: no length to bound it by
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\n{\"a\":\r\n")
        assert sock.recv(200).startswith(b"HTTP/1.1 411")
    assert dump(store) == before
    assert all("org/alphb" not in line and "not json" not in line for line in receiver.lines)  # no body logged
    # None of them queued a poll: the first signed push is the first poll (one worker, in turn).
    assert send(receiver.url, body).status_code == 202
    receiver.wait_for(POLLED)
    assert len(polls(receiver)) == 1 and "1 new submission" in polls(receiver)[0]


def test_a_replayed_delivery_is_refused(receiver, store, alpha):
    sha = commit(alpha, "submission", {"bot/n.txt": "1"})
    delivery = str(uuid.uuid4())
    assert send(receiver.url, push_payload(), delivery=delivery).status_code == 202
    wait_for_row(store, sha)
    receiver.wait_for(POLLED)
    before = dump(store)
    replay = send(receiver.url, push_payload(), delivery=delivery)
    assert replay.status_code == 409, replay.text
    assert dump(store) == before
    assert send(receiver.url, push_payload()).status_code == 202  # a new delivery is polled
    receiver.wait_for(POLLED, count=2)
    assert len(polls(receiver)) == 2  # the first push's and this one's: the replay polled nothing


def test_without_a_secret_the_receiver_refuses_to_start(env, store):
    done = subprocess.run([sys.executable, "-m", "cli", "webhook", "--port", "0"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no webhook secret: set ARENA_WEBHOOK_SECRET" in done.stderr


def test_delivery_ids_are_kept_bounded(store):
    from tasks.webhook import remember_delivery

    for n in range(25):
        assert remember_delivery(store, f"d-{n}", keep=10)
    assert not remember_delivery(store, "d-24", keep=10)  # recent: a replay
    assert remember_delivery(store, "d-0", keep=10)  # forgotten long ago
    kept = [key for table, item in store.dump() if table == "meta"
            for key in [item.get("key", "")] if str(key).startswith("webhook:delivery:")]
    assert len(kept) <= 11


def test_a_non_ascii_digit_length_is_refused_without_a_traceback(receiver, store):
    """'²' (byte 0xB2, Latin-1 as http.server decodes headers) passes str.isdigit but not int():
    an unsigned request must get 411, not crash the handler into a traceback quoting its header."""
    before = dump(store)
    host, port = receiver.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Length: \xb2\r\n\r\n")
        assert sock.recv(200).startswith(b"HTTP/1.1 411")
    assert dump(store) == before
    time.sleep(1)
    assert not any("Traceback" in line or "\u00b2" in line for line in receiver.lines), "\n".join(receiver.lines)
