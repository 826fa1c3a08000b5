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
