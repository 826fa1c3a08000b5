"""The Docker work pool, for real: the arena image (built offline, or reused by its key), the
`evaluate-submission-docker` deployment on a docker pool of the session's Prefect server, and TWO
`prefect worker start --type docker` processes. A round started with via_deployments=True runs
every team's evaluation in a job container of the arena image, which starts the team's sandbox as
a sibling container; its leaderboard must equal the same round run in one process.

Slow on purpose (every job container starts Python and Prefect): 1-3 minutes once the image
exists, plus about 3 minutes the first time it is built on a machine."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.prefect]

COMPARED = ("team_id", "rank", "status", "score", "value", "error")


def _board(table: list[dict]) -> list[tuple]:
    return [tuple(row.get(k) for k in COMPARED) for row in table]


def _wait_for_workers(pool: str, names: set[str], processes: list[subprocess.Popen], timeout_s: float = 240) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            online = {w.name for w in client.read_workers_for_work_pool(pool) if str(w.status).endswith("ONLINE")}
            if names <= online:
                return
            for process in processes:
                assert process.poll() is None, f"a worker stopped (exit {process.returncode})"
            assert time.monotonic() < deadline, f"workers online after {timeout_s:.0f} s: {sorted(online)}"
            time.sleep(1)


def test_two_docker_workers_share_a_round_and_agree_with_one_process(harness, teams, store, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    from deployments.docker_pool import deploy_docker
    from deployments.server import stop_group
    from flows.evaluation import evaluate_round
    from tasks.sandbox.app_image import ensure_app_image
    from tasks.sandbox.docker import RUN_LABEL, docker_client
    from tests.conftest import RUN_LABEL as THIS_RUN

    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "docker")  # both rounds: the team code in its container
    monkeypatch.setenv("ARENA_FLOWS_EVALUATE_DEPLOYMENT", "evaluate-submission-docker")
    client = docker_client()
    image = ensure_app_image(latest=False, log=print)  # its own key tag: another checkout's :latest may differ
    pool = f"arena-docker-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_WORKER_QUERY_SECONDS="2",
               PREFECT_WORKER_PREFETCH_SECONDS="0", PYTHONUNBUFFERED="1")
    names = ("docker-worker-a", "docker-worker-b")
    workers: list[subprocess.Popen] = []
    deployment_ids = []
    try:
        deployment_ids = deploy_docker(image=image, read_only=(str(tmp_path / "repos"),), pool=pool)
        for name in names:
            log = open(tmp_path / f"{name}.log", "w")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "docker",
                 "--limit", "1", "--name", name],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        _wait_for_workers(pool, set(names), workers)

        shared = evaluate_round(via_deployments=True, publish=False)
        local = evaluate_round(force=True, publish=False)  # the same round in this process (subflows)

        logs = {name: (tmp_path / f"{name}.log").read_text() for name in names}
        for table in (shared, local):  # a team's own error ends its run as TeamError; every other completes
            assert len(table) == 3 and all(
                r["run"] == ("TeamError" if r["status"] == "error" else "Completed") for r in table), (table, logs)
        assert [r["status"] for r in shared].count("error") == 1  # broken-bot, in its sandbox
        assert _board(shared) == _board(local)
        taken = {name: re.findall(r"Flow run '(evaluate-\d+-\w+)' submitted to infrastructure", text)
                 for name, text in logs.items()}
        assert all(taken.values()), f"one worker took every run: {taken}"
        assert sorted(sum(taken.values(), [])) == sorted(f"evaluate-{t}-{sha[:7]}" for t, sha in teams.items())
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        with get_client(sync_client=True) as prefect:  # each ran in a container the Docker worker started
            runs = prefect.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)))
        assert len(runs) == 3 and all(r.infrastructure_pid and r.infrastructure_pid.count(":") >= 1 for r in runs)
    finally:
        for process in workers:
            stop_group(process.pid, process)
        for container in client.containers.list(all=True, filters={"label": ["arena.job=1", f"{RUN_LABEL}={THIS_RUN}"]}):
            container.remove(force=True)
        with get_client(sync_client=True) as prefect:
            for deployment_id in deployment_ids:
                prefect.delete_deployment(deployment_id)
            with contextlib.suppress(ObjectNotFound):  # deploy_docker failed before making it
                prefect.delete_work_pool(pool)
        for sha in teams.values():  # the team images the job containers built for this test's commits
            for team_image in client.images.list(filters={"label": [f"arena.commit={sha}", f"{RUN_LABEL}={THIS_RUN}"]}):
                client.images.remove(team_image.id, force=True)


def test_the_team_image_prunes_leave_the_arena_image_alone(monkeypatch):
    from tasks.sandbox.app_image import APP_LABEL, ensure_app_image
    from tasks.sandbox.deps import prune_deps_images
    from tasks.sandbox.docker import docker_client
    from tasks.sandbox.images import prune_team_images

    client = docker_client()
    tag = ensure_app_image(latest=False)  # reused: the image is built once per code, pins and base
    app = client.images.get(tag)
    deps = client.images.get(app.labels["arena.app.deps"])
    assert app.labels[APP_LABEL] == "app" and deps.labels[APP_LABEL] == "deps"
    monkeypatch.delenv("ARENA_SANDBOX_RUN_LABEL")  # every run's team images: the widest prune there is
    would_go = prune_team_images(client, keep=0, dry_run=True) + prune_deps_images(client, grace_s=0, dry_run=True)
    assert not [name for name in would_go if "arena-app" in name or name in (app.short_id, deps.short_id)]


def test_prefect_yaml_deploys_the_docker_deployment_with_this_home(harness, env, tmp_path):
    """`prefect deploy -n evaluate-submission-docker`, as the README says, with the home and the
    table prefix filled in from the environment."""
    from flowkit import ROOT
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from deployments.definitions import DOCKER_PULL_STEPS, DOCKER_SOCKET
    from deployments.docker_pool import ensure_docker_pool

    with get_client(sync_client=True) as client:
        ensure_docker_pool(client)  # the pool prefect.yaml names
        try:
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "-n", "evaluate-submission-docker"],
                cwd=ROOT, env=dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value()),
                capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            deployment = client.read_deployment_by_name("evaluate-submission/evaluate-submission-docker")
            variables = deployment.job_variables
            assert f"{env}:{env}" in variables["volumes"] and f"{DOCKER_SOCKET}:{DOCKER_SOCKET}" in variables["volumes"]
            assert variables["env"]["ARENA_HOME"] == str(env) and variables["env"]["TMPDIR"] == f"{env}/tmp"
            assert variables["env"]["ARENA_TABLE_PREFIX"] == "test"
            assert deployment.pull_steps == list(DOCKER_PULL_STEPS)
            assert deployment.work_pool_name == "arena-docker"
            client.delete_deployment(deployment.id)
        finally:
            client.delete_work_pool("arena-docker")
