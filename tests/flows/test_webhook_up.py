"""With a Prefect server serving `poll-submissions` (as `arena up` does), a signed push to `arena
webhook` starts a run of it for that team at once, and that run evaluates the new submission."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from flowkit import team_repo

ROOT = Path(__file__).resolve().parents[2]
SECRET = "webhook-secret-" + uuid.uuid4().hex

SERVE_POLL = """
import dataclasses
from prefect import serve
from deployments.definitions import DEPLOYMENTS
from deployments.serve import runner_deployment
from flows._prefect import ensure_concurrency_limit

spec = next(s for s in DEPLOYMENTS if s.name == "poll-submissions")
ensure_concurrency_limit()
# No schedule: only the webhook's run may evaluate the submission here.
serve(runner_deployment(dataclasses.replace(spec, schedules=())), pause_on_shutdown=False)
"""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.prefect
def test_a_signed_push_starts_the_evaluation_on_the_server(harness, market, env, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from arena.models import Team
    from tasks.webhook import signature

    repo, sha = team_repo(tmp_path / "repos", "sunrise-solar")
    market.put_team(Team(team_id=101, team_name="sunrise-solar", repo=str(repo)))
    child_env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), PYTHONPATH=str(ROOT),
                     ARENA_WEBHOOK_SECRET=SECRET)
    serving = subprocess.Popen([sys.executable, "-c", SERVE_POLL], cwd=ROOT, env=child_env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    log = tmp_path / "webhook.log"
    with log.open("w") as out:
        hook = subprocess.Popen([sys.executable, "-m", "cli", "webhook", "--port", "0"], cwd=ROOT, env=child_env,
                                text=True, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        with get_client(sync_client=True) as client:
            while not any(d.name == "poll-submissions" for d in client.read_deployments()):
                assert serving.poll() is None and time.monotonic() < deadline, serving.stdout.read()
                time.sleep(1)
        while "listening on" not in log.read_text():
            assert hook.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        port = log.read_text().split("http://127.0.0.1:")[1].split("/")[0]

        # A self-hosted git server sends GitHub's payload; the team is found by its clone URL.
        payload = json.dumps({"ref": "refs/heads/main",
                              "repository": {"full_name": "local/sunrise-solar", "clone_url": str(repo)}}).encode()
        answer = requests.post(f"http://127.0.0.1:{port}/", data=payload, timeout=60, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature(SECRET, payload), "Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text

        deadline = time.monotonic() + 600
        while True:
            rows = [r for r in market.list_tasks(team_id=101) if r.git_commit_hash == sha]
            if rows and rows[0].state_.value in ("success", "error"):
                break
            assert time.monotonic() < deadline, (rows, log.read_text())
            time.sleep(1)
        assert len(rows) == 1 and rows[0].state_.value == "success", rows[0].diagnostic
        assert [r.status for r in market.list_submissions(101)] == ["success"]
        started = log.read_text().split("started flow run ")[1].split()[0]
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(started)
            assert run.parameters["team_ids"] == [101]
            while not run.state.is_final():  # the row is written before the run reports its end
                assert time.monotonic() < deadline, run.state
                time.sleep(1)
                run = client.read_flow_run(started)
            assert run.state.is_completed(), run.state
    finally:
        _stop(hook)
        _stop(serving)
