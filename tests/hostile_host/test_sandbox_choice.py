"""The sandbox is chosen, never guessed: Docker unless another backend is named. A missing engine
or base image is arena's error on the task row (the team's code never runs), not a quiet step
down to the process backend; a named `process` or `local` says, every time, that it is not a
container."""

from __future__ import annotations

import subprocess
import sys

import pytest
from flowkit import WINDOW_END, WINDOW_START, team_repo
from pydantic import ValidationError

from arena.models import Team
from arena.settings import SandboxSettings
from tasks import evaluation, taskrows
from tasks.sandbox import configured_backend, isolation_warning

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def docker_unset(env):
    """The configuration of a fresh machine: nothing names a backend."""
    env.delenv("ARENA_SANDBOX_BACKEND", raising=False)
    return env


def test_docker_is_the_default_and_auto_is_gone(docker_unset):
    assert SandboxSettings().backend == "docker" and configured_backend() == "docker"
    docker_unset.setenv("ARENA_SANDBOX_BACKEND", "auto")
    with pytest.raises(ValidationError, match="docker"):
        SandboxSettings()
    with pytest.raises(ValueError, match="unknown sandbox backend 'chroot'"):
        configured_backend("chroot")
    assert isolation_warning("docker") is None
    assert "not a container" in isolation_warning("process") and "trusted code" in isolation_warning("local")


@pytest.mark.parametrize("breakage, said", [
    ({"DOCKER_HOST": "unix:///nonexistent/arena-test-docker.sock"}, "no Docker engine answers"),
    ({"ARENA_BASE_IMAGE": "arena-test-missing-base:none"}, "base image arena-test-missing-base:none is missing"),
])
def test_no_docker_is_a_platform_error_on_the_task_row_never_a_process_run(
        tmp_path, market, docker_unset, breakage, said):
    store = market
    for name, value in breakage.items():
        docker_unset.setenv(name, value)
    repo, sha = team_repo(tmp_path / "repos", "sunrise-solar")
    store.put_team(Team(team_id=101, team_name="sunrise-solar", repo=str(repo)))
    row = store.create_task("arena evaluate --team 101", type="submission-kickoff", team_id=101, git_commit_hash=sha)
    lines: list[str] = []

    def evaluate(kickoff):
        return evaluation.evaluate_submission(store, kickoff.team_id, kickoff.git_commit_hash,
                                              window_start=WINDOW_START, window_end=WINDOW_END,
                                              rules="gbh2024-tariff", log=lines.append)

    summary = taskrows.run_pending(store, evaluate_kickoff=evaluate)
    assert summary.failed == [row.id]
    ended = store.get_task(row.id)
    assert ended.state_.value == "error"
    assert "not in your code" in ended.diagnostic and "sandbox unavailable" in ended.diagnostic and said in ended.diagnostic
    assert store.list_submissions(101) == []  # no record claims the team failed, none that it scored
    assert not any("process sandbox" in line for line in lines)


def test_a_named_process_backend_says_it_is_not_a_container(tmp_path, docker_unset):
    team = ROOT / "examples" / "teams" / "night-owl"
    data = ROOT / "data" / "april15-may7_2023.csv"
    run = subprocess.run([sys.executable, "-m", "cli", "evaluate", "--team-dir", str(team), "--data", str(data),
                          "--start", "2023-05-01 00:05", "--end", "2023-05-01 02:00", "--sandbox", "process",
                          "--output", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "warning:" in run.stderr and "not a container" in " ".join(run.stderr.split())
    quiet = subprocess.run([sys.executable, "-m", "cli", "evaluate", "--team-dir", str(team), "--data", str(data),
                            "--start", "2023-05-01 00:05", "--end", "2023-05-01 02:00",
                            "--output", str(tmp_path / "out2.json")],
                           capture_output=True, text=True, timeout=600,
                           env={**__import__("os").environ, "DOCKER_HOST": "unix:///nonexistent/arena-test.sock"})
    assert quiet.returncode == 3 and "no Docker engine answers" in quiet.stderr and "Traceback" not in quiet.stderr
    assert not (tmp_path / "out2.json").exists()
