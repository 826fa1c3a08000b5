"""States that tell (issue 15): a team's own failure ends its evaluation run in a Failed state
named TeamError that names team, commit and interval, told apart from arena's failures (Failed,
retried first); every run has a readable name; the poll's log says what it found per team.
The Prefect tests run under the session harness and read everything back through the client."""

from __future__ import annotations

import pickle
import re
import time

import pytest
from flowkit import DATA_FILE, WINDOW_END, WINDOW_START, git

from arena.models import SubmissionRecord, Team
from arena.text import CONTROL
from flows import names
from flows.states import TEAM_ERROR, TeamError, final_state, record_of, team_error_message, team_record

MINUTE = r"\d{4}-\d\d-\d\dT\d\d:\d\d"


def _record(**fields) -> SubmissionRecord:
    base = dict(team_id=103, team_name="broken-bot", key="k", git_commit_hash="abcdef1" + "0" * 33,
                window_start=WINDOW_START, window_end=WINDOW_END, rules="gbh2024", status="error", steps=12,
                error="KeyError: 'price_forecast_30min'")
    return SubmissionRecord(**{**base, **fields})


# ---- plain functions ---------------------------------------------------------------------------


def test_the_message_names_team_commit_interval_and_error():
    assert team_error_message(_record()) == \
        "team 103 (broken-bot), commit abcdef1, interval 12 of 0-287: KeyError: 'price_forecast_30min'"
    assert "at or before its first interval" in team_error_message(_record(steps=0))


def test_team_text_in_the_message_is_one_bounded_inert_line():
    hostile = "boom\n\x1b]8;;http://x\x07click\x1b]8;;\x07 \u202eevil\r" + "y" * 50_000
    message = team_error_message(_record(team_name="t\x1b[2J" + "n" * 500, error=hostile))
    assert not CONTROL.search(message) and "\n" not in message and "\r" not in message
    assert len(message) < 600 and "boom" in message and "[... cut]" in message


def test_the_state_carries_the_record_and_reads_back():
    from prefect.states import Completed, Failed

    record = _record()
    state = final_state(record)
    assert state.is_failed() and state.name == TEAM_ERROR and state.message == team_error_message(record)
    assert team_record(state) == record_of(state) == record
    assert pickle.loads(pickle.dumps(TeamError(record))).record == record  # results may be persisted
    good = _record(status="success", score=1.0, error=None)
    assert final_state(good) is good  # a success is the plain record: Completed
    assert record_of(Completed(data=good)) == good and team_record(Completed(data=good)) is None
    with pytest.raises(RuntimeError, match="docker gone"):
        record_of(Failed(message="docker gone"))  # arena's failure raises, as the run did
    assert team_record(Failed(name=TEAM_ERROR, message="no data")) is None  # named so, but not ours


def test_names_are_nem_minutes_arena_reads_back():
    from arena.scoring import parse_time

    assert names.nem_minute(1681603200) == "2023-04-16T10:00"  # 00:00 UTC is 10:00 NEM time
    assert parse_time(names.nem_minute(WINDOW_END)) == WINDOW_END - WINDOW_END % 60
    assert names.round_name(WINDOW_END) == f"round-{names.nem_minute(WINDOW_END)}"
    assert names.backtest_name(102, WINDOW_START, "2023-04-17 10:00") == \
        f"backtest-102-{names.nem_minute(WINDOW_START)}..2023-04-17T10:00"
    assert names.backtest_name(None, "not a time", 0).startswith("backtest-all-not_a_time..")


def test_poll_report_says_per_team_what_it_found(teams, market, tmp_path):
    from tasks.submissions import poll_submissions

    repo = tmp_path / "repos" / "sunrise-solar"
    git(repo, "commit", "-q", "--allow-empty", "-m", "tidy up")
    git(repo, "commit", "-q", "--allow-empty", "-m", "submission: second try")
    newer = git(repo, "rev-parse", "HEAD").strip()
    market.put_team(Team(team_id=104, team_name="gone\x1b[31m", repo=str(tmp_path / "no-such-repo")))
    lines = {t.team_id: t.line() for t in poll_submissions(market).teams}
    assert lines[101] == f"team 101 (sunrise-solar): head {newer[:7]}: 1 new submission(s) {newer[:7]}; 1 other commit(s)"
    assert lines[102] == f"team 102 (trend-rider): head {teams[102][:7]}: no new commits"
    assert lines[104].startswith("team 104 (gone\ufffd[31m): could not read the repo: ")
    assert not CONTROL.search(lines[104])


# ---- under the Prefect harness -----------------------------------------------------------------


def _run_of(state):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def _task_runs(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


@pytest.mark.prefect
def test_a_crashing_team_is_a_team_error_state_not_a_green_run(harness, teams, market):
    from prefect.client.schemas.objects import StateType

    from flows.evaluation import evaluate_submission
    from tasks import claims

    row = market.create_task("evaluate", type="evaluation", team_id=103, git_commit_hash=teams[103])
    state = evaluate_submission(103, teams[103], WINDOW_START, WINDOW_END, task_id=row.id, return_state=True)
    run = _run_of(state)  # as the UI shows it
    assert run.state.type == StateType.FAILED and run.state.name == TEAM_ERROR
    assert run.name == f"evaluate-103-{teams[103][:7]}"
    assert re.search(r"^team 103 \(broken-bot\), commit " + teams[103][:7] + r", interval \d+ of 0-287: ",
                     run.state.message), run.state.message
    assert "price_forecast_30min" in run.state.message
    # ... and a recorded result, not arena's failure: stored, claim finished, row says the team's error
    [record] = market.list_submissions(103)
    assert record.status == "error" and team_record(state) == record
    assert claims.newest(market, 103, record.key)[1]["state"] == claims.DONE
    task_row = market.get_task(row.id)
    assert task_row.state_.value == "error" and "price_forecast_30min" in task_row.diagnostic
    assert "arena's side" not in task_row.diagnostic
    assert [t.run_count for t in _task_runs(run.id) if t.name.startswith("run-")] == [1]  # never retried
    with pytest.raises(TeamError) as raised:  # called directly, the run's failure is raised
        evaluate_submission(103, teams[103], WINDOW_START, WINDOW_END)
    assert raised.value.record == record


@pytest.mark.prefect
def test_a_platform_failure_stays_failed_and_is_retried(harness, teams, market, monkeypatch):
    from prefect.client.schemas.objects import StateType

    import flows.evaluation as module
    from tasks import claims, sandbox
    from tasks.sandbox.process import ProcessRuntime

    def no_engine(self, *args, **kwargs):
        raise sandbox.SandboxUnavailable("engine gone")

    monkeypatch.setattr(ProcessRuntime, "start", no_engine)
    monkeypatch.setattr(module, "run_evaluation", module.run_evaluation.with_options(retries=1, retry_delay_seconds=0))
    row = market.create_task("evaluate", type="evaluation", team_id=102, git_commit_hash=teams[102])
    state = module.evaluate_submission(102, teams[102], WINDOW_START, WINDOW_END, task_id=row.id, return_state=True)
    run = _run_of(state)
    assert run.state.type == StateType.FAILED and run.state.name != TEAM_ERROR
    assert "engine gone" in run.state.message
    assert [t.run_count for t in _task_runs(run.id) if t.name.startswith("run-")] == [2]  # retried once
    assert "not in your code" in market.get_task(row.id).diagnostic
    assert market.list_submissions(102) == []
    key = SubmissionRecord.make_key(teams[102], WINDOW_START, WINDOW_END, "gbh2024-tariff")
    assert claims.newest(market, 102, key)[1]["state"] == claims.RELEASED  # the next round evaluates it


@pytest.mark.prefect
def test_every_flow_run_has_a_readable_name(harness, market):
    from flowkit import DATA_START

    from flows.ingest import ingest_prices
    from flows.publish import publish_leaderboard
    from flows.submissions import poll_submissions
    from flows.taskrows import run_pending_tasks, sync_task_rows

    runs = {
        "ingest": ingest_prices(source="file", file=str(DATA_FILE), region="SA1", backfill_start=str(DATA_START),
                                backfill_end=str(DATA_START + 3600), return_state=True),
        "publish": publish_leaderboard(return_state=True),
        "poll": poll_submissions(evaluate=False, return_state=True),
        "tasks": run_pending_tasks(types=["command"], return_state=True),
        "sync": sync_task_rows(grace_s=0, return_state=True),
    }
    expected = {"ingest": f"ingest-SA1-{MINUTE}", "publish": f"publish-{MINUTE}", "poll": f"poll-{MINUTE}",
                "tasks": f"tasks-{MINUTE}", "sync": f"sync-{MINUTE}"}
    for what, state in runs.items():
        assert state.is_completed(), (what, state)
        assert re.fullmatch(expected[what], _run_of(state).name), (what, _run_of(state).name)


@pytest.mark.prefect
def test_the_poll_log_lists_each_team_and_its_commits(harness, teams, market, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from flows.submissions import poll_submissions

    repo = tmp_path / "repos" / "trend-rider"
    git(repo, "commit", "-q", "--allow-empty", "-m", "submission: again")
    newer = git(repo, "rev-parse", "HEAD").strip()
    market.put_team(Team(team_id=105, team_name="lost", repo=str(tmp_path / "no-such-repo")))
    state = poll_submissions(evaluate=False, return_state=True)
    run_id = state.state_details.flow_run_id
    wanted = {101: f"team 101 (sunrise-solar): head {teams[101][:7]}: no new commits",
              102: f"team 102 (trend-rider): head {newer[:7]}: 1 new submission(s) {newer[:7]}",
              105: "team 105 (lost): could not read the repo: "}
    deadline = time.monotonic() + 60  # logs reach the API in batches
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            found = {team: next((log for log in logs if log.message.startswith(line)), None)
                     for team, line in wanted.items()}
            if all(found.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert all(found.values()), [log.message for log in logs]
    assert found[105].level >= 30 and found[101].level == 20  # an unreadable repo is a warning


@pytest.mark.prefect
def test_a_round_that_lost_every_team_to_arena_ends_failed(harness, teams, market, monkeypatch):
    """A round in which no team got a record because arena itself failed is the organiser's alarm:
    its run is Failed, not a green round with an empty table."""
    from prefect.client.schemas.objects import StateType

    import flows.evaluation as module
    from tasks import sandbox
    from tasks.sandbox.process import ProcessRuntime

    def no_engine(self, *args, **kwargs):
        raise sandbox.SandboxUnavailable("engine gone")

    monkeypatch.setattr(ProcessRuntime, "start", no_engine)
    monkeypatch.setattr(module, "run_evaluation", module.run_evaluation.with_options(retries=0))
    state = module.evaluate_round(window_start=WINDOW_START, window_end=WINDOW_END, publish=False,
                                  return_state=True)
    run = _run_of(state)
    assert run.state.type == StateType.FAILED
    assert "3 not evaluated (arena's failure)" in run.state.message
    assert market.list_submissions(101) == market.list_submissions(102) == []
