"""Submission limits on every backend (SQLite, DynamoDB through moto): an over-limit row is a
state like any other, and threads racing for a team's last slots admit exactly the limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from arena.models import Team
from arena.settings import CompetitionSettings
from tasks.gitrepo import CommitInfo
from tasks.submissions import request_evaluation

NOON_NEM = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def test_threads_racing_admit_exactly_the_limit(store):
    team = Team(team_id=101, team_name="Alpha", repo="org/alpha")
    store.put_team(team)
    competition = CompetitionSettings(submissions_per_day=5)
    shas = [f"{n:040x}" for n in range(1, 31)]
    go = threading.Barrier(3)
    failures: list[BaseException] = []

    def poll(order: list[str]) -> None:
        go.wait()
        try:
            for sha in order:
                request_evaluation(store, team, CommitInfo(sha=sha, message="submission"), competition=competition,
                                   now=lambda: NOON_NEM)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll, args=(order,))
               for order in (shas, shas[::-1], shas[10:] + shas[:10])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert failures == []
    rows = store.list_tasks(team_id=101)
    assert sorted(r.git_commit_hash for r in rows) == shas  # each commit once
    assert len(store.list_tasks(state="pending")) == 5
    over = store.list_tasks(state="over-limit")
    assert len(over) == 25 and all("counts from 2026-12-04 00:00 AEST" in r.diagnostic for r in over)
