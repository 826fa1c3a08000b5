"""The Prefect server of one arena home: `arena up` starts it (or takes the organiser's
PREFECT_API_URL) and records it in `<home>/prefect/server.json`; every CLI command that runs a
flow reads that record to attach to it, so all runs land in the one UI.

    record = find_running(home)       # the recorded server if it answers, else None
    process, api_url = start_local_server(port, prefect_home, started=callback)
    stop_group(pid)                   # the server and everything it started

The record names the server's pid, and the server runs in a session (process group) of its own,
so the whole group can be stopped, also by the next `arena up` after one was killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from arena.processes import command_line, group_alive, pid_alive

RECORD = Path("prefect") / "server.json"


@dataclass(frozen=True)
class ServerRecord:
    api_url: str
    pid: int | None  # None: a server arena did not start (the organiser's PREFECT_API_URL): never stopped
    started_at: str
    owner_pid: int  # the `arena up` that recorded it

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def record_path(home: Path) -> Path:
    return home / RECORD


def write_record(home: Path, record: ServerRecord) -> None:
    path = record_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(temp, path)  # a reader sees the old record or the new one, never half of one


def read_record(home: Path) -> ServerRecord | None:
    """The record, or None when there is none or it cannot be read (a torn or hand-edited file:
    removed, it names no server anyone can trust)."""
    path = record_path(home)
    try:
        item = json.loads(path.read_text())
        pid = item.get("pid")
        return ServerRecord(api_url=str(item["api_url"]), pid=None if pid is None else int(pid),
                            started_at=str(item.get("started_at", "")), owner_pid=int(item["owner_pid"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        path.unlink(missing_ok=True)
        return None


def remove_record(home: Path, record: ServerRecord | None = None) -> None:
    """Remove the record; with `record`, only if it is still that one (another `arena up` may have
    written its own since)."""
    if record is None or read_record(home) == record:
        record_path(home).unlink(missing_ok=True)


def healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    try:
        return requests.get(api_url.rstrip("/") + "/health", timeout=timeout_s).status_code == 200
    except requests.RequestException:
        return False


def is_prefect_server(pid: int) -> bool:
    """Whether `pid` is still a `prefect server start` (not a process that got its pid since);
    only such a process is ever signalled through a record."""
    args = command_line(pid)
    return any("prefect" in a for a in args) and "server" in args and "start" in args


def find_running(home: Path) -> ServerRecord | None:
    """The server recorded under `home` when it answers. A record whose server process is gone
    is removed; one whose server is alive but not answering is left to `arena up` to deal with."""
    record = read_record(home)
    if record is None:
        return None
    if record.pid is not None and not pid_alive(record.pid):
        remove_record(home, record)
        return None
    if record.pid is None and not pid_alive(record.owner_pid):
        remove_record(home, record)  # the organiser's server, recorded by an `arena up` that is gone
        return None
    return record if healthy(record.api_url) else None


class AlreadyRunning(RuntimeError):
    """The `arena up` that recorded the server still runs."""


def server_left_behind(home: Path, *, say: Callable[[str], None] = print) -> ServerRecord | None:
    """For `arena up` at start: the server a killed `arena up` left running, to reuse. A recorded
    server that does not answer is stopped (its whole group), a record naming no server of ours
    removed, so there is never a second server beside an old one. Raises AlreadyRunning while
    the `arena up` that recorded it still runs."""
    record = read_record(home)
    if record is None:
        return None
    owner = command_line(record.owner_pid) if record.owner_pid != os.getpid() else []
    if "up" in owner and any("arena" in a or a == "cli" for a in owner):
        raise AlreadyRunning(f"`arena up` already runs for {home} (pid {record.owner_pid}, Prefect UI {record.ui_url})")
    if record.pid is None or not pid_alive(record.pid) or not is_prefect_server(record.pid):
        remove_record(home, record)  # nothing of ours left to reuse or stop
        return None
    if healthy(record.api_url):
        return record
    say(f"stopping the Prefect server a stopped `arena up` left behind (pid {record.pid}): it does not answer")
    stop_group(record.pid)
    remove_record(home, record)
    return None


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stop_group(pgid: int, process: subprocess.Popen | None = None, *, signum: int = signal.SIGTERM,
               wait_s: float = 30.0) -> None:
    """Stop the process group `pgid` (a process started in a session of its own, and all it
    started): `signum`, then SIGKILL for whatever is left after `wait_s`. `process`: the leader,
    when it is our child (reaped here, or its zombie would keep the group alive)."""

    def alive() -> bool:
        if process is not None:
            process.poll()
        return group_alive(pgid)

    for sig, wait in ((signum, wait_s), (signal.SIGKILL, 10.0)):
        if not alive():
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while alive() and time.monotonic() < deadline:
            time.sleep(0.2)


def start_local_server(port: int, home: Path, *, wait_s: float = 180.0,
                       started: Callable[[subprocess.Popen, str], None] | None = None,
                       ) -> tuple[subprocess.Popen, str]:
    """`prefect server start --host 127.0.0.1` with its database under `home` (its PREFECT_HOME),
    in a session of its own; returns the process and the API URL once /api/health answers.
    `started(process, api_url)` is called as soon as it is started (so it can be recorded before
    it answers). Anything going wrong before it answers (an interrupt too) stops it again."""
    api_url = f"http://127.0.0.1:{port}/api"
    if healthy(api_url):
        raise RuntimeError(f"something already answers on {api_url}; set PREFECT_API_URL to use it")
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(home))
    try:
        if started is not None:
            started(process, api_url)
        deadline = time.monotonic() + wait_s
        while not healthy(api_url):
            if process.poll() is not None:
                raise RuntimeError(f"the Prefect server stopped (exit {process.returncode}); see {home / 'server.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer within {wait_s:.0f} s; see {home / 'server.log'}")
            time.sleep(0.5)
    except BaseException:
        stop_group(process.pid, process)
        raise
    return process, api_url
