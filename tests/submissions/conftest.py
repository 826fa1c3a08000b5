"""Fixtures for the submission tests: a SQLite store in a temporary folder and the loopback GitHub
stand-in. Git repo helpers are in git_helpers.py (a module name of its own: several test folders
have a conftest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # github_stub, git_helpers

from github_stub import GitHubStub  # noqa: E402

from arena.settings import SubmissionSettings  # noqa: E402
from tasks.store import open_store  # noqa: E402


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An arena home of its own; no real token or GitHub URL from the machine leaks in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{tmp_path / 'home' / 'arena.db'}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "test")
    monkeypatch.setenv("GITHUB_TOKEN", "test-token-123")
    for name in ("ARENA_GITHUB_API_URL", "ARENA_SUBMISSIONS_GITHUB_API_URL", "ARENA_SUBMISSIONS_PATTERN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def store(env):
    return open_store(create=True)  # as `arena db init` does


@pytest.fixture
def stub(env):
    server = GitHubStub().start()
    env.setenv("ARENA_GITHUB_API_URL", server.url)
    yield server
    server.stop()


@pytest.fixture
def settings(env, request) -> SubmissionSettings:
    # Read after `stub` (when a test uses it) has pointed the API URL at loopback.
    if "stub" in request.fixturenames:
        request.getfixturevalue("stub")
    return SubmissionSettings()
