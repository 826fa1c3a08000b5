"""Submission polling: how long one poll of many teams takes, on local git repos and through PyGithub
against the loopback GitHub stand-in of the tests, and how long a checkout takes.

    .venv/bin/python bench/submissions.py [TEAMS]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "submissions")]


def main(teams: int = 20, submissions_each: int = 5) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-submissions-"))
    os.environ.update(ARENA_HOME=str(tmp / "home"), ARENA_STORE_URL=f"sqlite:///{tmp / 'home' / 'arena.db'}",
                      ARENA_TABLE_PREFIX="bench", GITHUB_TOKEN="bench")
    from git_helpers import commit, make_repo  # the tests' own helpers: real git repos
    from github_stub import GitHubStub

    from arena.models import Team
    from arena.settings import SubmissionSettings
    from tasks.store import open_store
    from tasks.submissions import checkout, poll_submissions

    stub = GitHubStub().start()
    os.environ["ARENA_GITHUB_API_URL"] = stub.url
    settings, store = SubmissionSettings(), open_store(create=True)
    for kind in ("git", "github"):
        ids = range(100 if kind == "git" else 150, (100 if kind == "git" else 150) + teams)
        for team_id in ids:
            repo = make_repo(tmp / f"{kind}-{team_id}")
            for n in range(submissions_each):
                commit(repo, f"submission {n}", {"bot/v.txt": str(n)})
                commit(repo, f"wip {n}")
            if kind == "github":
                stub.repos[f"org/t{team_id}"] = repo
            store.put_team(Team(team_id=team_id, team_name=f"T{team_id}",
                                repo=str(repo) if kind == "git" else f"org/t{team_id}"))
        t0 = time.perf_counter()
        first = poll_submissions(store, settings, team_ids=list(ids))
        t1 = time.perf_counter()
        idle = poll_submissions(store, settings, team_ids=list(ids))
        t2 = time.perf_counter()
        assert len(first.submissions) == teams * submissions_each and not idle.submissions
        print(f"{kind:6s} teams={teams} first_poll={t1 - t0:.2f}s ({len(first.submissions)} requests) "
              f"idle_poll={t2 - t1:.2f}s ({(t2 - t1) / teams * 1000:.0f} ms/team)")
        sub = first.submissions[-1]
        t3 = time.perf_counter()
        checkout(store.get_team(sub.team_id), sub.sha, tmp / f"checkout-{kind}", settings)
        print(f"{kind:6s} checkout={time.perf_counter() - t3:.3f}s")
    stub.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
