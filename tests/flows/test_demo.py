"""`arena demo`: the example teams become real git repos with submission commits, and the whole
job runs end to end on a Prefect server; a second run evaluates nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli import demo_kit as kit
from tasks.gitrepo import run_git


def _messages(repo):
    return run_git("log", "--format=%s", "main", cwd=repo).stdout.splitlines()[::-1]


def test_example_repos_have_the_submission_commits(tmp_path):
    for example in kit.EXAMPLE_TEAMS:
        repo = kit.make_repo(example, tmp_path)
        assert _messages(repo) == [m for m, _ in example.commits]
        final = json.loads((repo / "bot" / "config.json").read_text())
        assert final == json.loads((kit.EXAMPLES / example.folder / "bot" / "config.json").read_text())
        head = run_git("rev-parse", "HEAD", cwd=repo).stdout
        assert kit.make_repo(example, tmp_path) == repo  # a second call leaves it as it is
        assert run_git("rev-parse", "HEAD", cwd=repo).stdout == head
    night = tmp_path / "night-owl"
    first = run_git("show", "HEAD~2:bot/config.json", cwd=night).stdout
    assert json.loads(first)["policy"]["parameters"] == {"lookback": 96}
    submissions = sum("submission" in m for e in kit.EXAMPLE_TEAMS for m, _ in e.commits)
    assert submissions == 5


@pytest.mark.docker
def test_demo_end_to_end_and_again(harness, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL

    from tasks.store import open_store

    home = tmp_path / ".arena"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARENA_HOME", str(home))
    for name in ("ARENA_STORE_URL", "ARENA_SITE_FOLDER", "ARENA_OBJECTS_URL", "ARENA_SANDBOX_BACKEND",
                 "ARENA_COMPETITION_WINDOW_START", "ARENA_COMPETITION_WINDOW_END"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "demo")
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())

    def demo():  # as an organiser runs it: a process of its own
        proc = subprocess.run([sys.executable, "-m", "cli", "demo"], capture_output=True, text=True,
                              timeout=900)  # whatever the width: path lines are never folded
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    first = demo()
    assert "new submissions: 5" in first.stdout
    board = json.loads((home / "site" / "leaderboard.json").read_text())
    rows = {r["team_name"]: r for r in board["rows"]}
    assert set(rows) == {"Sunrise Solar", "Night Owls", "Trend Riders", "Broken Bot"}
    assert [r["rank"] for r in board["rows"][:3]] == [1, 2, 3]
    assert rows["Broken Bot"]["status"] == "error" and rows["Broken Bot"]["rank"] is None
    assert "KeyError: &#39;price_forecast_30min&#39;" in (home / "site" / "teams" / "104.html").read_text()
    assert "Prefect UI:" in first.stdout and "index.html" in first.stdout
    store = open_store()
    evaluations = len(store.list_submissions())
    tasks_before = [t.id for t in store.list_tasks()]

    again = demo()
    assert "new submissions: 0" in again.stdout
    assert len(store.list_submissions()) == evaluations
    assert [t.id for t in store.list_tasks()] == tasks_before
