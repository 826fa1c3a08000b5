"""Fixtures of the host-side hostile-team suite: an arena home per test (SQLite store, local objects,
the process sandbox named explicitly), the loopback GitHub stand-in, a day of market data, and an
`outside` folder holding a secret that no team may read and sentinels no team may create."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "submissions"))  # github_stub
sys.path.insert(0, str(HERE.parent / "flows"))  # flowkit (market data constants)
sys.path.insert(0, str(HERE))  # crafted

from crafted import SECRET  # noqa: E402
from github_stub import GitHubStub  # noqa: E402


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{home / 'arena.db'}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "test")
    monkeypatch.setenv("ARENA_OBJECTS_URL", str(home / "objects"))
    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "process")
    monkeypatch.setenv("GITHUB_TOKEN", "test-token-123")
    for name in ("ARENA_GITHUB_API_URL", "ARENA_SUBMISSIONS_GITHUB_API_URL", "ARENA_SUBMISSIONS_PATTERN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def store(env):
    from tasks.store import open_store

    return open_store(create=True)  # as `arena db init` does


@pytest.fixture
def stub(env):
    server = GitHubStub().start()
    env.setenv("ARENA_GITHUB_API_URL", server.url)
    yield server
    server.stop()


@pytest.fixture
def settings(env, request):
    from arena.settings import SubmissionSettings

    if "stub" in request.fixturenames:
        request.getfixturevalue("stub")
    return SubmissionSettings()


@pytest.fixture
def market(store):
    from flowkit import DATA_FILE, DATA_START, WINDOW_END

    from tasks.prices.ingest import ingest_file

    ingest_file(store, DATA_FILE, "SA1", DATA_START, WINDOW_END + 300)
    return store


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the checkouts: a secret file in it, nothing else, and so it must stay."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET + "\n")
    return folder


def snapshot(root: Path) -> set[str]:
    """Every path under `root`, links not followed."""
    found = set()
    for folder, dirs, files in os.walk(root, followlinks=False):
        found.update(os.path.join(folder, name) for name in dirs + files)
    return found


@pytest.fixture
def untouched(tmp_path, outside):
    """`check = untouched()` before an attack, `check()` after it: nothing appeared under tmp_path
    outside arena's home (mirrors, store) and the folders named in `keep` (a failed checkout
    leaves none), and `outside` still holds only the secret."""

    def arm():
        before = snapshot(tmp_path)

        def check(*keep: Path) -> None:
            allowed = [str(tmp_path / "home"), *(str(k) for k in keep)]
            new = {p for p in snapshot(tmp_path) - before
                   if not any(p == a or p.startswith(a + os.sep) for a in allowed)}
            assert new == set(), f"written outside the checkout: {sorted(new)[:5]}"
            assert sorted(os.listdir(outside)) == ["secret.txt"]

        return check

    return arm
