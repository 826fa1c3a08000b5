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
