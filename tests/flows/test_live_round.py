"""Live rounds that advance with the data (tasks/live.py): rounds run as new hours arrive give the
leaderboard full replays give on the same data; an advance killed with SIGKILL and run again ends
with the same score as one never interrupted; ingest-prices storing new intervals starts a round
at once through the evaluate-round deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from flowkit import DATA_FILE, DATA_START, WINDOW_END, WINDOW_START, example_teams, slow_team

RULES = "gbh2024-tariff"
HOUR = 12 * 300


def _ingest_until(store, end):
    from tasks.prices.ingest import ingest_file

    ingest_file(store, DATA_FILE, "SA1", DATA_START, end + 300)  # through the interval ending at `end`


def _round(store, checkout_root, *, live_run=True, force=False):
    """What the evaluate-round flow does for each team, as plain functions; returns the ranked table."""
    from tasks import evaluation, rounds

    start, end, entries = rounds.plan(store, rules=RULES, window_start=WINDOW_START, window_end=WINDOW_END,
                                      force=force)
    records = [evaluation.evaluate_submission(store, e.team_id, e.sha, window_start=start, window_end=end, rules=RULES,
                                              live_run=live_run, force=force, checkout_root=checkout_root)
               if not e.done else evaluation.already_evaluated(store, e.team_id, e.key) for e in entries]
    return end, records, rounds.ranked(records)


def test_incremental_and_replay_leaderboards_are_identical(store, tmp_path):
    from tasks import live

    _ingest_until(store, WINDOW_START + HOUR)
    teams = example_teams(store, tmp_path / "repos")
    ends = []
    for more in (0, 1, 7, 50, 2 * 12, None):  # rounds as hours (or single intervals) arrive
        last = max(ends) if ends else WINDOW_START + HOUR
        _ingest_until(store, WINDOW_END if more is None else last + more * 300)
        end, records, incremental = _round(store, tmp_path / "checkouts")
        ends.append(end)
        assert all(r.notes == [] for r in records), [r.notes for r in records]
    assert ends[-1] == WINDOW_END
    by_team = {r.team_id: r for r in records}
    assert by_team[103].status == "error" and by_team[103].steps == 199 and by_team[103].error.startswith("interval 199 (")
    for team_id in (101, 102):
        run = live.LiveRun(team_id, teams[team_id], RULES, WINDOW_START, 42)
        from tasks.store.objects import open_objects

        assert live.checkpoint_ends(open_objects(), run)[-1] == WINDOW_END

    _, replays, replayed = _round(store, tmp_path / "checkouts", live_run=False, force=True)
    assert [r.evaluated_at for r in replays] != [r.evaluated_at for r in records]  # really evaluated again
    assert replayed == incremental
    assert [r.main_trial["profits"] for r in replays] == [r.main_trial["profits"] for r in records]


def test_killed_advance_then_run_again_gives_the_uninterrupted_score(store, tmp_path):
    from arena.models import SubmissionRecord, Team
    from tasks import evaluation, live
    from tasks.store.base import NotFound
    from tasks.store.objects import open_objects
    from tasks.submissions import poll_submissions

    _ingest_until(store, WINDOW_START + 2 * HOUR)
    repo = slow_team(tmp_path / "slow", seconds=0.03)
    store.put_team(Team(team_id=150, team_name="slow-thinker", city="HOB", repo=str(repo)))
    poll_submissions(store)
    sha = evaluation.evaluate_submission(store, 150, _sha(repo), window_start=WINDOW_START, window_end=WINDOW_END,
                                         rules=RULES, live_run=True).git_commit_hash
    run = live.LiveRun(150, sha, RULES, WINDOW_START, 42)
    first = live.checkpoint_ends(open_objects(), run)
    assert first == [WINDOW_START + 2 * HOUR]

    _ingest_until(store, WINDOW_END)
    script = textwrap.dedent(f"""
        from tasks import evaluation
        from tasks.store import open_store
        evaluation.evaluate_submission(open_store(), 150, {sha!r}, window_start={WINDOW_START},
                                       window_end={WINDOW_END}, rules={RULES!r}, live_run=True,
                                       log=lambda line: print(line, flush=True))
    """)
    advance = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    seen = []
    while not any("continuing after interval 25" in line for line in seen):
        line = advance.stdout.readline()
        assert line or advance.poll() is None, "".join(seen)
        seen.append(line)
        assert time.monotonic() < deadline, "".join(seen)
    time.sleep(1.5)  # 264 new intervals at 30 ms each: well inside the advance
    assert advance.poll() is None, "the advance ended before it was killed"
    os.killpg(advance.pid, signal.SIGKILL)
    advance.wait()

    key = SubmissionRecord.make_key(sha, WINDOW_START, WINDOW_END, RULES)
    with pytest.raises(NotFound):
        store.get_submission(150, key)  # nothing recorded
    assert live.checkpoint_ends(open_objects(), run) == first  # nothing half-written: the old checkpoint stands

    again = evaluation.evaluate_submission(store, 150, sha, window_start=WINDOW_START, window_end=WINDOW_END,
                                           rules=RULES, live_run=True)
    assert again.status == "success" and again.steps == 288 and again.notes == []
    assert live.checkpoint_ends(open_objects(), run) == [*first, WINDOW_END]
    uninterrupted = evaluation.evaluate_submission(store, 150, sha, window_start=WINDOW_START,
                                                   window_end=WINDOW_END, rules=RULES, live_run=False, force=True)
    assert again.score == uninterrupted.score
    assert again.main_trial["profits"] == uninterrupted.main_trial["profits"]


def _sha(repo):
    from flowkit import git

    return git(repo, "rev-parse", "HEAD").strip()


@pytest.mark.prefect
def test_ingest_with_new_intervals_starts_a_round(harness, store, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from flows.evaluation import evaluate_round
    from flows.ingest import TRIGGER_TAG, ingest_prices

    deployment_id = evaluate_round.to_deployment(name="evaluate-round").apply()  # nobody serves it here
    try:
        def started():
            with get_client(sync_client=True) as client:
                return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[TRIGGER_TAG])))

        def ingest(end):
            return ingest_prices(file=str(DATA_FILE), backfill_start=str(DATA_START), backfill_end=str(end),
                                 start_round_after=True)

        report = ingest(WINDOW_START + HOUR)
        runs = started()
        assert report["new_until"] and report["round_run_id"] == str(runs[0].id) and len(runs) == 1
        assert runs[0].deployment_id == deployment_id and runs[0].state.is_scheduled()

        again = ingest(WINDOW_START + HOUR)  # the same intervals again: nothing new, no round
        assert again["new_until"] is None and "round_run_id" not in again and len(started()) == 1

        more = ingest(WINDOW_START + 2 * HOUR)  # new ones, but a round is already waiting: no pile-up
        assert more["new_until"] and more["round_run_id"] is None and len(started()) == 1
    finally:
        with get_client(sync_client=True) as client:
            for run in started():
                client.delete_flow_run(run.id)
            client.delete_deployment(deployment_id)
