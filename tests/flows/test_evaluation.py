"""evaluate_submission and round planning as plain functions (process sandbox, no Prefect)."""

from __future__ import annotations

import pytest
from flowkit import WINDOW_END, WINDOW_START

from arena.models import SubmissionRecord
from battery_sim.errors import BadInput
from tasks import evaluation, rounds
from tasks.store.objects import open_objects


def _evaluate(store, team_id, sha, **kw):
    return evaluation.evaluate_submission(store, team_id, sha, window_start=WINDOW_START, window_end=WINDOW_END,
                                          rules="gbh2024-tariff", backend="process", **kw)


def test_success_keeps_public_record_private_trials_and_baseline(teams, market):
    record = _evaluate(market, 101, teams[101], submitted_at="2024-01-01T00:00:00.000000Z")
    assert record.status == "success" and record.error is None
    assert record.steps == 288 and len(record.main_trial["profits"]) == 288
    assert (record.window_start, record.window_end) == (WINDOW_START, WINDOW_END)
    assert record.key == SubmissionRecord.make_key(teams[101], WINDOW_START, WINDOW_END, "gbh2024-tariff")
    assert market.get_submission(101, record.key) == record
    # the baseline: cached in meta, and its own run kept as team 0
    baseline = market.get_submission(0, SubmissionRecord.make_key("baseline", WINDOW_START, WINDOW_END, "gbh2024-tariff"))
    assert record.baseline_score == pytest.approx(baseline.score)
    # private trials under TEAM_NAME-COMMIT_HASH
    private = open_objects().get_json(f"sunrise-solar-{teams[101]}")
    trials = private["evaluations"][record.key]["trials"]
    assert len(trials) == 1 and trials[0]["profits"] == record.main_trial["profits"]


def test_same_score_as_the_trusted_evaluator_in_process(teams, market):
    """The sandboxed run scores exactly what the team's class scores in-process."""
    sandboxed = _evaluate(market, 102, teams[102])
    local = evaluation.evaluate_submission(market, 102, teams[102], window_start=WINDOW_START, window_end=WINDOW_END,
                                           rules="gbh2024-tariff", backend="local")
    assert sandboxed.score == pytest.approx(local.score, abs=1e-9)


def test_team_failure_is_a_record_not_an_exception(teams, market):
    record = _evaluate(market, 103, teams[103])
    assert record.status == "error" and record.score is None
    assert "price_forecast_30min" in record.error
    assert record.baseline_score is not None  # the board can still show what the baseline made


def test_missing_commit_is_the_teams_error(teams, market):
    record = _evaluate(market, 101, "0" * 40)
    assert record.status == "error" and "0000000000" in record.error


def test_sandbox_unavailable_raises_instead_of_blaming_the_team(teams, market, monkeypatch):
    from tasks import sandbox
    from tasks.sandbox.process import ProcessRuntime

    def no_engine(self, *args, **kwargs):
        raise sandbox.SandboxUnavailable("the engine went away")

    monkeypatch.setattr(ProcessRuntime, "start", no_engine)
    with pytest.raises(evaluation.PlatformError, match="engine went away"):
        _evaluate(market, 101, teams[101])
    assert market.list_submissions(101) == []  # nothing half-recorded


def test_window_without_data_is_bad_input(teams, market):
    with pytest.raises(BadInput, match="no SA1 market data"):
        evaluation.evaluate_submission(market, 101, teams[101], window_start=WINDOW_END + 86400,
                                       window_end=WINDOW_END + 2 * 86400, rules="gbh2024-tariff", backend="process")


def test_baseline_is_computed_once_per_window_and_data(market, monkeypatch):
    data = evaluation.load_market(market, "SA1", WINDOW_START, WINDOW_END)
    first = evaluation.baseline_score(market, data, "gbh2024", WINDOW_START, WINDOW_END)
    calls = []
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: calls.append(1))
    assert evaluation.baseline_score(market, data, "gbh2024", WINDOW_START, WINDOW_END) == first
    assert calls == []
    # a revised price is new data: a new fingerprint, so the cache misses
    row = market.read_datapoints("NEM:SA1", WINDOW_START, WINDOW_START)[0]
    market.upsert_datapoints([row.model_copy(update={"price": (row.price or 0) + 100})])
    revised = evaluation.load_market(market, "SA1", WINDOW_START, WINDOW_END)
    assert evaluation.data_fingerprint(revised, len(revised)) != evaluation.data_fingerprint(data, len(data))


def test_history_starts_after_the_last_gap(market):
    rows = market.read_datapoints("NEM:SA1", None, WINDOW_END)
    holed = rows[:10] + rows[11:]  # one interval missing early in the history
    kept = evaluation.contiguous_history(holed, WINDOW_START)
    assert kept[0].interval_end == rows[11].interval_end and kept[-1] == rows[-1]


def test_oversized_main_trial_is_thinned_for_the_table(teams, market, monkeypatch):
    from tasks.store.base import ItemTooLarge

    real = market.put_submission

    def small_items_only(record):
        if len(record.main_trial.get("profits", [])) > 100:
            raise ItemTooLarge("too big")
        real(record)

    monkeypatch.setattr(market, "put_submission", small_items_only)
    record = _evaluate(market, 101, teams[101])
    assert record.main_trial["thinned_every"] == 4 and len(record.main_trial["profits"]) <= 100
    assert record.main_trial["profits"][-1] == pytest.approx(record.score - sum(record.main_trial["rundown_profit_deltas"]))


def test_plan_skips_what_is_done_and_follows_the_newest_submission(teams, market, tmp_path):
    from flowkit import git

    start, end, entries = rounds.plan(market, rules="gbh2024-tariff", window_start=WINDOW_START, window_end=WINDOW_END)
    assert (start, end) == (WINDOW_START, WINDOW_END)
    assert [(e.team_id, e.sha, e.done) for e in entries] == [(t, teams[t], False) for t in (101, 102, 103)]
    _evaluate(market, 101, teams[101])
    _, _, entries = rounds.plan(market, rules="gbh2024-tariff", window_start=WINDOW_START, window_end=WINDOW_END)
    assert [e.done for e in entries] == [True, False, False]
    # a newer submission replaces the team's current commit
    from tasks.submissions import poll_submissions

    repo = tmp_path / "repos" / "sunrise-solar"
    git(repo, "commit", "-q", "--allow-empty", "-m", "submission: second try")
    newer = git(repo, "rev-parse", "HEAD").strip()
    poll_submissions(market)
    _, _, entries = rounds.plan(market, rules="gbh2024-tariff", window_start=WINDOW_START, window_end=WINDOW_END)
    assert entries[0].sha == newer and not entries[0].done


def test_ranked_orders_by_value_and_puts_failures_last():
    def rec(team_id, status, score, base=10.0):
        return SubmissionRecord(team_id=team_id, key="k", git_commit_hash="a" * 40, window_start=0, window_end=300,
                                rules="gbh2024", status=status, score=score, baseline_score=base)

    rows = rounds.ranked([rec(101, "success", 11.0), rec(102, "error", None), rec(103, "success", 15.0)])
    assert [(r["team_id"], r["rank"]) for r in rows] == [(103, 1), (101, 2), (102, None)]
    assert rows[0]["value"] == pytest.approx(5.0)


@pytest.mark.docker
def test_docker_backend_evaluates_in_a_container(teams, market):
    from tasks.sandbox import docker_ready

    why_not = docker_ready()
    if why_not:
        pytest.skip(why_not)
    record = evaluation.evaluate_submission(market, 101, teams[101], window_start=WINDOW_START, window_end=WINDOW_END,
                                            rules="gbh2024-tariff", backend="docker")
    local = evaluation.evaluate_submission(market, 101, teams[101], window_start=WINDOW_START, window_end=WINDOW_END,
                                           rules="gbh2024-tariff", backend="local")
    assert record.status == "success" and record.score == pytest.approx(local.score, abs=1e-9)
