"""A poll killed after claiming a commit and before writing its request: the next poll finds the
claim with no request row and requests the commit itself, and says so."""

from __future__ import annotations

import socket
import subprocess
import sys

from git_helpers import commit, make_repo

from arena.models import Team, utc_now_iso
from tasks.submissions import poll_submissions


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _kickoffs(store):
    return [r for r in store.list_tasks() if r.type.value == "submission-kickoff"]


def test_a_commit_claimed_by_a_dead_poll_is_requested_by_the_next(tmp_path, store, settings):
    repo = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", city="SYD", repo=str(repo)))
    sha = commit(repo, "first submission", {"bot/policies/hold.py": "class Hold: pass\n"})
    # What a poll SIGKILLed between its claim and its row leaves behind: the claim, no row.
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    assert store.claim(f"seen:101:{sha}", {"team_id": 101, "sha": sha, "claimed_at": utc_now_iso(), "by": dead})

    report = poll_submissions(store, settings)
    assert [(s.team_id, s.sha) for s in report.submissions] == [(101, sha)]
    assert any(sha[:12] in note and "stopped before requesting it" in note for note in report.errors), report.errors
    assert [r.git_commit_hash for r in _kickoffs(store)] == [sha]
    assert store.get_meta(f"seen:101:{sha}")["task_id"] == _kickoffs(store)[0].id

    # Requested once: later polls leave it alone.
    assert poll_submissions(store, settings).submissions == ()
    assert len(_kickoffs(store)) == 1


def test_a_claim_of_a_live_poll_without_its_row_yet_is_left_to_it(tmp_path, store, settings):
    repo = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", city="SYD", repo=str(repo)))
    sha = commit(repo, "first submission", {"bot/policies/hold.py": "class Hold: pass\n"})
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:  # a poll still between its claim and its row, on this host
        store.claim(f"seen:101:{sha}", {"team_id": 101, "sha": sha, "claimed_at": utc_now_iso(),
                                         "by": f"{socket.gethostname()}:{alive.pid}"})
        assert poll_submissions(store, settings).submissions == ()
        assert _kickoffs(store) == []
    finally:
        alive.kill()
        alive.wait()
    # ...until it is gone without writing it.
    assert [s.sha for s in poll_submissions(store, settings).submissions] == [sha]
