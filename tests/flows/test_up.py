"""`arena up` serves every deployment with its schedule; a round started as a deployment run (as
from the UI) evaluates every team and updates the leaderboard; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _schedule_of(deployment_schedule) -> dict:
    sched = deployment_schedule.schedule
    if getattr(sched, "interval", None) is not None:
        return {"interval": sched.interval.total_seconds()}
    return {"cron": getattr(sched, "cron", None)}


@pytest.mark.prefect
def test_up_serves_every_deployment_and_a_round_from_the_api(harness, teams, env, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    from deployments.definitions import DEPLOYMENTS
    from deployments.server import read_record

    # Any scheduled ingest that fires during the test must stay on this machine.
    monkeypatch.setenv("OPENELECTRICITY_API_URL", "http://127.0.0.1:9/v4")
    monkeypatch.setenv("ARENA_MARKET_NEMWEB_URL", "http://127.0.0.1:9")
    up = subprocess.Popen([sys.executable, "-m", "cli", "up"], text=True,
                          env=dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value()),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wanted = {spec.full_name: spec for spec in DEPLOYMENTS}
        deadline = time.monotonic() + 240
        with get_client(sync_client=True) as client:
            while True:
                served = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
                if set(wanted) <= set(served):
                    break
                assert up.poll() is None, up.stdout.read()
                assert time.monotonic() < deadline, f"served only {sorted(served)}"
                time.sleep(1)
        # The organiser's server is used as it is: recorded for the CLI (never stopped), none started.
        recorded = read_record(env)
        assert recorded is not None and recorded.pid is None and recorded.api_url == PREFECT_API_URL.value()
        for name, spec in wanted.items():
            got = sorted(str(_schedule_of(s)) for s in served[name].schedules)
            expected = sorted(str({"interval": float(s["interval"])} if "interval" in s else {"cron": s["cron"]})
                              for s in spec.schedules)
            assert got == expected, name

        run = run_deployment("evaluate-round/evaluate-round", timeout=600)
        assert run.state.is_completed(), run.state
        board = json.loads((env / "site" / "leaderboard.json").read_text())
        assert {r["team_id"] for r in board["rows"]} == set(teams)
        assert [r["rank"] for r in board["rows"] if r["status"] == "success"] == [1, 2]
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        finally:
            if up.poll() is None:
                os.killpg(up.pid, signal.SIGKILL)
    assert up.returncode is not None
    assert read_record(env) is None  # removed on the way out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _organiser_env(**extra: str) -> dict:
    """The environment of an organiser in a fresh folder: no ARENA_HOME, store, site or Prefect
    setting of the tests' (the tests' sandbox run label kept: it only names containers)."""
    env = {name: value for name, value in os.environ.items()
           if not (name.startswith("ARENA_") or name.startswith("PREFECT_")) or name == "ARENA_SANDBOX_RUN_LABEL"}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", ARENA_SANDBOX_BACKEND="process", ARENA_TABLE_PREFIX="test",
               OPENELECTRICITY_API_URL="http://127.0.0.1:9/v4", ARENA_MARKET_NEMWEB_URL="http://127.0.0.1:9", **extra)
    return env


def _stat(pid: int) -> list[str]:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2:].split()  # state, ppid, ...


def _state(pid: int) -> str:
    return (_stat(pid) or ["gone"])[0]


def _children(pid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and (_stat(int(entry)) or ["", ""])[1] == str(pid)]


def _source_state(root) -> list[str]:
    """Every changed, new or ignored path of the source tree (ignored too: a stray `.arena/` there
    is what this guards against), bytecode caches left out (Python's, not arena's)."""
    out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if "__pycache__" not in line and not line.endswith(".pyc")]


def _api(api_url: str, method: str, path: str, body: dict | None = None):
    import requests

    response = requests.request(method, api_url + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def test_up_from_an_empty_folder_one_home_one_server_and_sigterm_stops_it_all(tmp_path):
    """`arena up` run from an organiser's empty folder (not the source tree) with its own Prefect
    server: everything goes to ./.arena there, a CLI round attaches to its server (the run is in
    its API), a served deployment publishes into the same home, and SIGTERM leaves no server
    process and no changed file in the source tree."""
    from flowkit import DATA_FILE, ROOT

    from arena.processes import command_line, group_alive, pid_alive
    from deployments.server import healthy, read_record, record_path

    source_before = _source_state(ROOT)
    folder = tmp_path / "organiser"
    folder.mkdir()
    home = folder / ".arena"
    env = _organiser_env()

    def arena(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=600)

    assert arena("db", "init").returncode == 0
    ingested = arena("ingest", "--source", "file", "--file", str(DATA_FILE), "--region", "SA1",
                     "--start", "2023-04-15 10:05", "--end", "2023-04-16 10:00")
    assert ingested.returncode == 0, ingested.stderr
    port = _free_port()

    def _start_up() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "cli", "up", "--port", str(port)], cwd=folder, env=env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    up = _start_up()
    record = None
    try:
        deadline = time.monotonic() + 300
        while True:  # the record first, then the deployments served on that server
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "arena up did not serve in time"
            record = record or read_record(home)
            if record is not None:
                try:
                    served = _api(record.api_url, "POST", "/deployments/filter", {})
                except Exception:  # not answering yet
                    served = []
                if any(d["name"] == "publish-leaderboard" for d in served):
                    break
            time.sleep(1)
        assert record.pid is not None and record.api_url.startswith("http://127.0.0.1:")
        assert (home / "prefect" / "prefect.db").is_file()  # the server's database is in the home

        # A CLI flow command attaches to the recorded server and says so; its run is in that API.
        round_ = arena("round", "--backend", "process", "--json")
        assert round_.returncode == 0, round_.stderr
        assert "attached to the `arena up` server" in round_.stderr and "temporary" not in round_.stderr
        runs = _api(record.api_url, "POST", "/flow_runs/filter",
                    {"flows": {"name": {"any_": ["evaluate-round"]}}})
        assert [r["state_type"] for r in runs if r["deployment_id"] is None] == ["COMPLETED"]  # (others: scheduled)
        board = home / "site" / "leaderboard.json"
        assert json.loads(board.read_text())["rows"] == []  # no team yet: an empty board, in this home

        # A served deployment run (a child of `arena up`) writes into the same home.
        board.unlink()
        deployment = next(d for d in _api(record.api_url, "POST", "/deployments/filter", {})
                          if d["name"] == "publish-leaderboard")
        run = _api(record.api_url, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
        deadline = time.monotonic() + 300
        while (state := _api(record.api_url, "GET", f"/flow_runs/{run['id']}")["state_type"]) not in (
                "COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            assert time.monotonic() < deadline, state
            time.sleep(1)
        assert state == "COMPLETED" and board.is_file()

        # `arena up` killed outright: its serving child ends with it, its server stays recorded,
        # and the next `arena up` reuses that server instead of starting a second one.
        serving = [pid for pid in _children(up.pid) if "deployments.serve" in command_line(pid)]
        assert len(serving) == 1
        os.killpg(up.pid, signal.SIGKILL)
        up.wait(timeout=60)
        deadline = time.monotonic() + 60
        while pid_alive(serving[0]) and "Z" != _state(serving[0]):
            assert time.monotonic() < deadline, "the serving process outlived a killed arena up"
            time.sleep(0.5)
        assert read_record(home) == record and healthy(record.api_url)
        up = _start_up()
        deadline = time.monotonic() + 120
        while (again := read_record(home)) is None or again.owner_pid != up.pid:
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "the second arena up did not take the server over"
            time.sleep(0.5)
        assert again.pid == record.pid and again.api_url == record.api_url  # reused, not doubled
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=120)
        finally:
            if up.poll() is None:
                os.killpg(up.pid, signal.SIGKILL)
            if record is not None and record.pid is not None and group_alive(record.pid):
                os.killpg(record.pid, signal.SIGKILL)  # what this test started, never left behind
                pytest.fail(f"arena up left its Prefect server (pid {record.pid}) running")
    output = up.stdout.read()
    assert up.returncode == 0, output
    assert f"reusing the Prefect server a stopped `arena up` left running (pid {record.pid}" in output
    assert not record_path(home).exists()
    assert _source_state(ROOT) == source_before
