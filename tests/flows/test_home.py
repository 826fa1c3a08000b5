"""One home and one server (issue 15): ARENA_HOME is absolute wherever it is read, the server
record `arena up` writes is found, reused or cleaned up, and republishes coalesce. No Prefect
server here: the recorded "server" is a real HTTP server on loopback answering /api/health."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture
def health_server():
    """A real HTTP server on 127.0.0.1 that answers /api/health as Prefect's does."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    # Set, then removed: whatever a test's command sets is put back as it was (absent).
    monkeypatch.setenv("PREFECT_API_URL", "unset")
    monkeypatch.delenv("PREFECT_API_URL")
    # No API configured, even when the session's Prefect harness (started by an earlier test)
    # has put its URL in the settings: these tests are about what a command does without one.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield home


@pytest.fixture
def lookalike():
    """A process whose command line is a Prefect server's (it only sleeps), in a session of its
    own as `arena up` starts the real one; stopped if a test left it."""
    from arena.processes import command_line

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "prefect", "server", "start"],
                               start_new_session=True)
    while "start" not in command_line(process.pid):  # until it has exec'd (before, /proc shows pytest's)
        assert process.poll() is None
        time.sleep(0.05)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _record(api_url: str, pid: int | None, owner_pid: int | None = None):
    from deployments.server import ServerRecord

    return ServerRecord(api_url=api_url, pid=pid, started_at="2026-12-03T00:00:00+00:00",
                        owner_pid=owner_pid if owner_pid is not None else _dead_pid())


def test_home_is_absolute_and_every_path_derives_from_it(tmp_path, monkeypatch):
    from arena.settings import load_settings

    for name in list(os.environ):
        if name.startswith("ARENA_") and name != "ARENA_SANDBOX_RUN_LABEL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.home == tmp_path.resolve() / ".arena"
    monkeypatch.setenv("ARENA_HOME", "competition/home")
    settings = load_settings()
    home = tmp_path.resolve() / "competition" / "home"
    assert settings.home == home
    paths = {
        "store": Path(settings.store.url.removeprefix("sqlite:///")), "objects": Path(settings.store.objects_url),
        "site": settings.site.folder, "checkouts": settings.submissions.checkout_dir,
        "mirrors": settings.submissions.mirror_dir, "slots": settings.flows.slot_dir,
    }
    for what, path in paths.items():
        assert path.is_absolute() and path.is_relative_to(home), what
    # What `arena up` passes on (str(settings.home)) means the same folder from any working folder.
    monkeypatch.setenv("ARENA_HOME", str(settings.home))
    monkeypatch.chdir("/")
    assert load_settings().home == home


def test_a_recorded_server_that_answers_is_found(home, health_server):
    from deployments.server import find_running, write_record

    record = _record(health_server, os.getpid())
    write_record(home, record)
    assert find_running(home) == record


def test_a_record_whose_server_is_gone_is_removed(home, health_server):
    from deployments.server import find_running, record_path, write_record

    write_record(home, _record(health_server, _dead_pid()))
    assert find_running(home) is None
    assert not record_path(home).exists()


def test_a_recorded_server_alive_but_silent_is_not_used_and_left_to_arena_up(home, lookalike):
    from deployments.server import find_running, record_path, write_record

    write_record(home, _record("http://127.0.0.1:9/api", lookalike.pid))
    assert find_running(home) is None
    assert record_path(home).exists() and lookalike.poll() is None  # a command never stops a server


def test_a_torn_record_is_removed(home):
    from deployments.server import find_running, record_path

    record_path(home).parent.mkdir(parents=True)
    record_path(home).write_text('{"api_url": ')
    assert find_running(home) is None
    assert not record_path(home).exists()


def test_a_command_attaches_to_the_recorded_server_and_says_so(home, health_server, capsys):
    from prefect.settings import PREFECT_API_URL

    from cli._common import use_prefect_server
    from deployments.server import write_record

    write_record(home, _record(health_server, os.getpid()))
    with use_prefect_server() as api_url:
        assert api_url == health_server == PREFECT_API_URL.value()
        assert os.environ["PREFECT_API_URL"] == health_server  # the processes it starts attach too
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "attached to the `arena up` server" in lines[0] and health_server.removesuffix("/api") in lines[0]


def test_without_a_server_a_command_starts_a_patient_temporary_one_and_says_so(home, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    from cli._common import use_prefect_server

    monkeypatch.setenv("ARENA_FLOWS_TEMPORARY_SERVER_TIMEOUT_S", "300")
    with use_prefect_server() as api_url:
        assert api_url is None and PREFECT_API_URL.value() is None
        assert PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() == 300
        assert PREFECT_HOME.value() == Path(os.environ["PREFECT_HOME"])  # the organiser's (here: the tests') kept
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "starting a temporary one" in lines[0]
    with use_prefect_server(temporary=False) as api_url:  # e.g. `tasks run`: nothing is started, nothing said
        assert api_url is None
    assert capsys.readouterr().err == ""


def test_arena_up_reuses_a_left_server_stops_a_silent_one_and_drops_a_stale_record(home, health_server, lookalike):
    from deployments.server import read_record, record_path, server_left_behind, write_record

    left = _record(health_server, lookalike.pid)
    write_record(home, left)
    assert server_left_behind(home) == left and lookalike.poll() is None  # answering: reused
    write_record(home, _record("http://127.0.0.1:9/api", lookalike.pid))
    assert server_left_behind(home) is None
    assert lookalike.wait(timeout=60) is not None  # silent: its whole group stopped, never a second beside it
    assert read_record(home) is None
    write_record(home, _record(health_server, _dead_pid()))
    assert server_left_behind(home) is None and not record_path(home).exists()  # stale: removed


def test_arena_up_never_signals_a_pid_that_is_no_longer_a_prefect_server(home):
    from deployments.server import read_record, server_left_behind, write_record

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        write_record(home, _record("http://127.0.0.1:9/api", other.pid))
        assert server_left_behind(home) is None and read_record(home) is None
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_burst_of_republish_requests_publishes_once_or_twice(tmp_path):
    from tasks.coalesce import coalesced

    base = tmp_path / ".site.publish"
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def slow_publish() -> None:
        done.append(len(done))
        started.set()
        release.wait(timeout=60)

    first = threading.Thread(target=lambda: coalesced(base, slow_publish))
    first.start()
    assert started.wait(timeout=60)
    # Five evaluations finish while the first publish runs: none waits, none publishes itself.
    assert [coalesced(base, slow_publish) for _ in range(5)] == [False] * 5
    release.set()
    first.join(timeout=60)
    assert len(done) == 2  # the first, then one more for all five requests
    assert coalesced(base, lambda: done.append(-1)) is True and done[-1] == -1  # a later one publishes again


def test_a_failed_publish_leaves_the_request_open_for_the_next(tmp_path):
    from tasks.coalesce import coalesced

    base = tmp_path / ".site.publish"

    def broken() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        coalesced(base, broken)
    ran = []
    assert coalesced(base, lambda: ran.append(1)) is True and ran == [1]


def test_a_second_arena_up_beside_a_running_one_is_refused(home, health_server, lookalike):
    from arena.processes import command_line
    from deployments.server import AlreadyRunning, read_record, server_left_behind, write_record

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "cli", "up"])
    try:
        while "up" not in command_line(owner.pid):  # until it has exec'd (before, /proc shows pytest's)
            assert owner.poll() is None
            time.sleep(0.05)
        record = _record(health_server, lookalike.pid, owner_pid=owner.pid)
        write_record(home, record)
        with pytest.raises(AlreadyRunning, match=f"pid {owner.pid}"):
            server_left_behind(home)
        assert read_record(home) == record and lookalike.poll() is None  # its server left alone
    finally:
        owner.kill()
        owner.wait()
