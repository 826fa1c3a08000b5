"""Scale-out, shown: one round's per-team evaluations shared by two Prefect workers.

    .venv/bin/python bench/scale_out.py

What it does, all on 127.0.0.1 in a temporary folder (no network, no Docker needed: the
`process` sandbox):
  1. a store with two days of bundled SA1 data and four example teams (real git repos, one
     submission commit each; one of them fails mid-window on purpose);
  2. a Prefect server, the process work pool `arena-process`, and the `evaluate-submission`
     deployment from prefect.yaml (`prefect deploy`);
  3. two `prefect worker start --pool arena-process --limit 1` processes;
  4. `evaluate-round` with via_deployments=True: every team's evaluation is a deployment run;
  5. the same round again in one process (subflows, force=True);
  6. prints which worker ran which team, and fails unless both workers ran some and the two
     leaderboards are identical.

Takes 1-3 minutes on 2 cores (server start-up is most of it). Last line: `scale_out=ok ...`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "flows"))

from flowkit import DATA_FILE, DATA_START, WINDOW_END, WINDOW_START, team_repo  # noqa: E402

TEAMS = ((101, "sunrise-solar"), (102, "trend-rider"), (103, "night-owl"), (104, "broken-bot"))
PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict, **kw) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def board_rows(store, settings) -> list[tuple]:
    from tasks.publish import board_from_store

    board = board_from_store(store, settings)
    return [(r["team_id"], r["rank"], r["status"], None if r["value"] is None else round(r["value"], 6))
            for r in board["rows"]]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="arena-scale-out-"))
    port = free_port()
    env = dict(
        os.environ,
        ARENA_HOME=str(work / "home"), ARENA_STORE_URL=f"sqlite:///{work / 'home' / 'arena.db'}",
        ARENA_TABLE_PREFIX="scale", ARENA_OBJECTS_URL=str(work / "home" / "objects"),
        ARENA_SANDBOX_BACKEND="process", ARENA_COMPETITION_WINDOW_START=str(WINDOW_START),
        ARENA_COMPETITION_WINDOW_END=str(WINDOW_END), ARENA_SITE_FOLDER=str(work / "home" / "site"),
        ARENA_FLOWS_CONTAINER_LIMIT="2",
        PREFECT_HOME=str(work / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api", PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_WORKER_PREFETCH_SECONDS="0", PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)  # this process runs the round itself

    from arena.models import Team
    from arena.settings import load_settings
    from deployments.server import start_local_server
    from tasks.prices.ingest import ingest_file
    from tasks.store import open_store
    from tasks.submissions import poll_submissions

    store = open_store(create=True)
    ingest_file(store, DATA_FILE, "SA1", DATA_START, WINDOW_END + 300)
    for team_id, example in TEAMS:
        repo, _ = team_repo(work / "repos", example)
        store.put_team(Team(team_id=team_id, team_name=example, city="ADL", repo=str(repo)))
    assert len(poll_submissions(store).submissions) == len(TEAMS)

    began = time.monotonic()
    server, api_url = start_local_server(port, work / "prefect")
    workers: list[subprocess.Popen] = []
    try:
        print(f"server up in {time.monotonic() - began:.0f} s at {api_url}")
        run(PREFECT + ["work-pool", "create", "arena-process", "--type", "process"], env)
        run(PREFECT + ["--no-prompt", "deploy", "-n", "evaluate-submission"], env)
        for name in ("worker-a", "worker-b"):
            log = open(work / f"{name}.log", "w")
            workers.append(subprocess.Popen(
                PREFECT + ["worker", "start", "--pool", "arena-process", "--limit", "1", "--name", name],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        from flows.evaluation import evaluate_round

        started = time.monotonic()
        shared = evaluate_round(via_deployments=True, publish=False)
        print(f"round through deployments: {time.monotonic() - started:.0f} s")
        settings = load_settings()
        through_workers = board_rows(store, settings)

        # which worker ran which flow run
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=["evaluate-submission"])))
        taken: dict[str, list[str]] = {}
        for name in ("worker-a", "worker-b"):
            text = (work / f"{name}.log").read_text()
            # Only the worker whose submission went through logs this line; a worker that lost the
            # race for a run logs "Aborted submission" with its id instead.
            taken[name] = sorted(r.name for r in runs
                                 if re.search(rf"Flow run '{re.escape(r.name)}' submitted to infrastructure", text))
            print(f"{name}: {', '.join(taken[name]) or 'nothing'}")

        local = evaluate_round(force=True, publish=False)  # the same round, one process, subflows
        in_one_process = board_rows(store, settings)
        print("leaderboard (team, rank, status, value):")
        for row in through_workers:
            print("  ", row)
        # A team's own error ends its run as TeamError (flows/states.py); every other run completes.
        for table in (shared, local):
            assert table and all(r["run"] == ("TeamError" if r["status"] == "error" else "Completed")
                                 for r in table), table
        assert taken["worker-a"] and taken["worker-b"], f"one worker took everything: {taken}"
        assert sum(map(len, taken.values())) == len(TEAMS)
        assert through_workers == in_one_process, (through_workers, in_one_process)
        print(f"scale_out=ok workers={len(taken['worker-a'])}+{len(taken['worker-b'])} "
              f"teams={len(TEAMS)} board={json.dumps(through_workers)}")
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
