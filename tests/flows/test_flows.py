"""Flow-level tests under the one session Prefect harness: hooks keep task rows in step, a killed
run is reconciled, a round with a failing team completes, ranks and publishes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowkit import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.prefect


def _runs_tagged(tag: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))


def test_hooks_follow_an_evaluation_and_runs_are_findable(harness, teams, market, env):
    from flows.evaluation import evaluate_submission

    good = market.create_task("evaluate", type="evaluation", team_id=101, git_commit_hash=teams[101])
    bad = market.create_task("evaluate", type="evaluation", team_id=103, git_commit_hash=teams[103])
    from flows.states import TEAM_ERROR, record_of

    site = Path(env) / "site"
    assert not site.exists()
    record = evaluate_submission(101, teams[101], WINDOW_START, WINDOW_END, task_id=good.id)
    # each evaluation republishes the leaderboard and the team pages, not only the round
    board = json.loads((site / "leaderboard.json").read_text())
    assert {r["team_id"]: r["status"] for r in board["rows"] if r["team_id"] in teams}[101] == "success"
    assert (site / "teams" / "101.html").is_file()
    state = evaluate_submission(103, teams[103], WINDOW_START, WINDOW_END, task_id=bad.id, return_state=True)
    failed = record_of(state)
    assert record.status == "success" and failed.status == "error"
    assert state.name == TEAM_ERROR  # a team's error is a recorded result, in a state of its own
    board = json.loads((site / "leaderboard.json").read_text())  # republished after a team error too
    assert {r["team_id"]: r["status"] for r in board["rows"]}[103] == "error"
    assert "price_forecast_30min" in (site / "teams" / "103.html").read_text()

    row = market.get_task(good.id)
    assert row.state_.value == "success" and row.diagnostic.startswith(f"score {record.score:.4f}")
    assert row.flow_run_id  # set by the on_running hook
    row = market.get_task(bad.id)
    assert row.state_.value == "error" and "price_forecast_30min" in row.diagnostic

    runs = _runs_tagged(f"commit:{teams[101][:7]}")
    assert [str(r.id) for r in runs] == [market.get_task(good.id).flow_run_id]
    assert "team:101" in runs[0].tags and runs[0].name == f"evaluate-101-{teams[101][:7]}"


def test_platform_failure_fails_the_run_and_the_hook_says_so(harness, teams, market, monkeypatch):
    import flows.evaluation as module
    from tasks import sandbox
    from tasks.sandbox.process import ProcessRuntime

    def no_engine(self, *args, **kwargs):
        raise sandbox.SandboxUnavailable("engine gone")

    monkeypatch.setattr(ProcessRuntime, "start", no_engine)
    monkeypatch.setattr(module, "run_evaluation", module.run_evaluation.with_options(retries=0))
    row = market.create_task("evaluate", type="evaluation", team_id=101, git_commit_hash=teams[101])
    state = module.evaluate_submission(101, teams[101], WINDOW_START, WINDOW_END, task_id=row.id, return_state=True)
    assert state.is_failed()
    row = market.get_task(row.id)
    assert row.state_.value == "error" and "not in your code" in row.diagnostic and "engine gone" in row.diagnostic
    assert market.list_submissions(101) == []


def test_a_killed_run_is_reconciled_to_error(harness, store):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed, Running

    from flows.taskrows import sync_task_rows

    @flow(name="victim")
    def victim() -> None:
        pass

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(victim, state=Running())
        row = store.create_task("evaluate", type="evaluation", state_="running", flow_run_id=str(run.id))
        # the process is killed: Prefect marks the run Crashed, and no hook ever runs
        client.set_flow_run_state(run.id, Crashed(message="worker lost"), force=True)

    changes = sync_task_rows(grace_s=0)
    assert [c[0] for c in changes] == [row.id]
    row = store.get_task(row.id)
    assert row.state_.value == "error" and "crashed (worker lost)" in row.diagnostic
    assert sync_task_rows(grace_s=0) == []


def test_round_with_a_failing_team_completes_ranks_and_publishes(harness, teams, market, env):
    from prefect.client.orchestration import get_client

    from flows.evaluation import evaluate_round
    from flows.names import round_name
    from flows.states import TEAM_ERROR

    state = evaluate_round(return_state=True)
    table = state.result()
    by_team = {row["team_id"]: row for row in table}
    assert {t: by_team[t]["status"] for t in teams} == {101: "success", 102: "success", 103: "error"}
    assert sorted(by_team[t]["rank"] for t in (101, 102)) == [1, 2] and by_team[103]["rank"] is None
    assert {t: by_team[t]["run"] for t in teams} == {101: "Completed", 102: "Completed", 103: TEAM_ERROR}
    # one team's error does not fail the round: it completes, counting it, named by its window end
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state.is_completed() and "2 ranked, 1 team error(s), 0 not evaluated" in run.state.message
    assert run.name == round_name(WINDOW_END)
    # one subflow per team, tagged; one evaluation row per team, all finished
    for team_id, sha in teams.items():
        runs = _runs_tagged(f"commit:{sha[:7]}")  # team tags repeat across tests; commits do not
        assert len(runs) == 1 and f"team:{team_id}" in runs[0].tags
    rows = [r for r in market.list_tasks() if r.type.value == "evaluation"]
    assert sorted((r.team_id, r.state_.value) for r in rows) == [(101, "success"), (102, "success"), (103, "error")]
    # the leaderboard was published at the end of the round
    board = json.loads((Path(env) / "site" / "leaderboard.json").read_text())
    ranked = [(r["team_id"], r["rank"]) for r in board["rows"] if r["rank"] is not None]
    assert ranked == sorted(((t, by_team[t]["rank"]) for t in (101, 102)), key=lambda x: x[1])
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name("containers").limit == 2
    # a second round over the same window repeats nothing
    again = evaluate_round()
    assert all(row["run"] == "skipped (already evaluated)" for row in again)
    assert len([r for r in market.list_tasks() if r.type.value == "evaluation"]) == 3


def test_backtest_flow_ranks_one_team_or_all(harness, teams, market):
    from prefect.client.orchestration import get_client

    from flows.evaluation import backtest
    from flows.names import backtest_name

    state = backtest(start=WINDOW_START, end=WINDOW_END, team=102, rules="gbh2024", return_state=True)
    one = state.result()
    assert [(r["team_id"], r["rank"]) for r in one] == [(102, 1)]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(state.state_details.flow_run_id).name == backtest_name(102, WINDOW_START, WINDOW_END)
    every = backtest(start=WINDOW_START, end=WINDOW_END, all_teams=True, rules="gbh2024")
    assert [r["team_id"] for r in every][-1] == 103 and every[-1]["status"] == "error"
    assert every[0]["value"] >= every[1]["value"]


def test_run_pending_tasks_flow_runs_commands_and_kickoffs(harness, teams, market):
    from flows.taskrows import run_pending_tasks

    command = market.create_task("sh -c 'exit 3'")
    summary = run_pending_tasks()
    kickoffs = [r for r in market.list_tasks() if r.type.value == "submission-kickoff"]
    assert summary["ran"] == sorted([command.id, *(r.id for r in kickoffs)])
    assert market.get_task(command.id).diagnostic == "exit code 3"
    states = {r.team_id: market.get_task(r.id).state_.value for r in kickoffs}
    assert states == {101: "success", 102: "success", 103: "error"}
    assert all(market.get_task(r.id).flow_run_id for r in kickoffs)
