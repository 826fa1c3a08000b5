"""Exactly once: two rounds started together (real processes), then `arena tasks run --once`,
then a round again: each commit has one evaluation record, one evaluation task row and one
`evaluate-submission` run, and no kickoff row is left pending. On SQLite and on DynamoDB (a
moto server on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, env, monkeypatch):
    """The flows' store fixture, over both backends (the flows' `env` home otherwise)."""
    from tasks.store import open_store

    if request.param == "dynamodb":
        from tests.store.conftest import _aws_env

        _aws_env(monkeypatch, request.getfixturevalue("moto_endpoint"))
        monkeypatch.setenv("ARENA_STORE_URL", "dynamodb")
        monkeypatch.setenv("ARENA_TABLE_PREFIX", f"t{uuid.uuid4().hex[:10]}")
        made = open_store(create=True)
        yield made
        made.destroy()
        return
    yield open_store(create=True)


def _cli(env_vars, *args):
    return subprocess.Popen([sys.executable, "-m", "cli", *args], env=env_vars, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finished(process, timeout=900):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out)


def _evaluate_runs(names: set[str], since: datetime) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["evaluate-submission"])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)), limit=200)
    return sorted(run.name for run in runs if run.name in names)


@pytest.mark.prefect
@pytest.mark.timeout(1800)
def test_two_rounds_at_once_then_tasks_run_then_a_round_evaluate_each_commit_once(harness, teams, store):
    from prefect.settings import PREFECT_API_URL

    from arena.scoring import BASELINE_TEAM_ID

    since = datetime.now(UTC)
    env_vars = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
    first, second = (_cli(env_vars, "round", "--backend", "process", "--json") for _ in range(2))
    tables = [_finished(first), _finished(second)]
    for table in tables:  # each round reports every team, whoever evaluated it
        assert {row["team_id"] for row in table} == set(teams)
        assert all(row["status"] != "not evaluated" for row in table), table
    # Per team: exactly one round ran it; the other met that run's claim or, when it planned after
    # the result landed (a loaded machine starts the second process late), its stored record.
    ran = {"Completed", "TeamError"}  # a team's own error ends its run as TeamError (flows/states.py)
    for team_id in teams:
        runs = sorted(row["run"] for table in tables for row in table if row["team_id"] == team_id)
        assert sum(run in ran for run in runs) == 1, (team_id, runs)
        assert set(runs) - ran <= {"evaluated by another run", "skipped (already evaluated)"}, (team_id, runs)

    # The rounds closed the kickoff rows: `arena tasks run` finds nothing to evaluate.
    kickoffs = [r for r in store.list_tasks() if r.type.value == "submission-kickoff"]
    assert {r.state_.value for r in kickoffs} <= {"success", "error"}, [(r.id, r.state_.value) for r in kickoffs]
    assert _finished(_cli(env_vars, "tasks", "run", "--once", "--backend", "process", "--json"))["ran"] == []
    again = _finished(_cli(env_vars, "round", "--backend", "process", "--json"))
    assert {row["run"] for row in again} == {"skipped (already evaluated)"}

    records = [r for r in store.list_submissions() if r.team_id != BASELINE_TEAM_ID]
    assert sorted((r.team_id, r.git_commit_hash) for r in records) == sorted(teams.items())
    rows = [r for r in store.list_tasks() if r.type.value == "evaluation"]
    assert sorted((r.team_id, r.git_commit_hash) for r in rows) == sorted(teams.items())
    assert not [r.id for r in store.list_tasks() if r.state_.value in ("pending", "running")]
    names = {f"evaluate-{team_id}-{sha[:7]}" for team_id, sha in teams.items()}
    assert _evaluate_runs(names, since) == sorted(names)


def test_tasks_run_leaves_a_commit_another_run_holds_then_evaluates_it_once_released(teams, store):
    """No Prefect: `arena tasks run`'s evaluation path meets a claim held by a live run."""
    from rich.console import Console

    from arena.settings import CompetitionSettings
    from cli.tasks import _plain_kickoff
    from tasks import claims, rounds
    from tasks.taskrows import run_pending

    _, _, entries = rounds.plan(store, rules=CompetitionSettings().rules,
                                window_start=int(os.environ["ARENA_COMPETITION_WINDOW_START"]),
                                window_end=int(os.environ["ARENA_COMPETITION_WINDOW_END"]), team_ids=[101])
    held = claims.take(store, 101, entries[0].key, run_id="a round")  # this process: alive, so held
    assert isinstance(held, claims.Claim)
    evaluate = _plain_kickoff("process", Console(file=open(os.devnull, "w")))

    summary = run_pending(store, evaluate_kickoff=evaluate, types=["submission-kickoff"])
    row = next(r for r in store.list_tasks(team_id=101) if r.type.value == "submission-kickoff")
    assert row.id in summary.skipped and row.state_.value == "pending"
    assert "being evaluated by another run" in row.diagnostic and "a round" in row.diagnostic
    assert [r.team_id for r in store.list_submissions()].count(101) == 0

    claims.release(store, held, "PlatformError: the round's sandbox went away")
    summary = run_pending(store, evaluate_kickoff=evaluate, types=["submission-kickoff"])
    assert row.id in summary.ran
    assert store.get_task(row.id).state_.value in ("success", "error")
    assert [r.team_id for r in store.list_submissions()].count(101) == 1
    # Evaluated: a second look returns the record and runs nothing.
    record = evaluate(store.get_task(row.id))
    assert record.evaluated_at == next(r for r in store.list_submissions() if r.team_id == 101).evaluated_at
