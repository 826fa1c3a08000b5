"""Fixtures for the orchestration tests: an arena home per test (SQLite store, local objects),
example teams as real git repos, a day of bundled market data, and ONE Prefect test harness
per session for the few flow-level tests (it takes 20-30 s to start here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Prefect's environment for the tests is set in tests/conftest.py, before its first import.
sys.path.insert(0, str(Path(__file__).parent))  # flowkit

from flowkit import DATA_FILE, DATA_START, WINDOW_END, WINDOW_START, example_teams  # noqa: E402


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{home / 'arena.db'}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "test")
    monkeypatch.setenv("ARENA_OBJECTS_URL", str(home / "objects"))
    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "process")
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_START", str(WINDOW_START))
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_END", str(WINDOW_END))
    monkeypatch.setenv("ARENA_COMPETITION_RULES", "gbh2024-tariff")
    monkeypatch.setenv("ARENA_SITE_FOLDER", str(home / "site"))
    monkeypatch.setenv("ARENA_FLOWS_CONTAINER_LIMIT", "2")
    return home


@pytest.fixture
def store(env):
    from tasks.store import open_store

    return open_store(create=True)  # as `arena db init` does


@pytest.fixture
def market(store):
    """Two days of SA1 data (history + window) from the bundled recording."""
    from tasks.prices.ingest import ingest_file

    ingest_file(store, DATA_FILE, "SA1", DATA_START, WINDOW_END + 300)
    return store


@pytest.fixture
def teams(market, tmp_path):
    """Three teams, each with one submission kickoff row: two that run, one that fails mid-window."""
    return example_teams(market, tmp_path / "repos")

