"""The leaderboard document: contract, ranking, ties, failed and missing teams, windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from arena.models import Team
from arena.scoring import (
    LEADERBOARD_KEYS,
    ScoringError,
    Window,
    build_leaderboard,
    current_submissions,
    parse_time,
    select_window,
)
from tests.leaderboard.leaderboard_data import END, RULES, START, sha, submission

NOW = datetime(2023, 4, 16, 1, 2, 3, tzinfo=UTC)


def board_of(subs, teams, **kw):
    return build_leaderboard(subs, teams, competition="GBH 2025", rules=RULES, now=NOW, **kw)


def test_contract_shape_and_types(competition):
    teams, subs, _ = competition
    board = board_of(subs, teams)
    assert list(board) == ["generated_at", "competition", "rules", "window", "baseline_score", "rows"]
    assert board["generated_at"] == "2023-04-16T01:02:03Z"
    assert board["competition"] == "GBH 2025" and board["rules"] == RULES
    assert board["window"] == {"start": "2023-04-15T00:00:00Z", "end": "2023-04-16T00:00:00Z"}
    assert board["baseline_score"] == 10.0
    for row in board["rows"]:
        assert tuple(row) == LEADERBOARD_KEYS
    # A JSON document, not Python objects: it survives a round trip unchanged.
    assert json.loads(json.dumps(board)) == board


def test_ranked_by_value_ties_to_earlier_submission_failed_then_missing_last(competition):
    teams, subs, _ = competition
    rows = board_of(subs, teams)["rows"]
    order = [(r["rank"], r["team_id"], r["status"]) for r in rows]
    assert order == [
        (1, 101, "success"),
        (2, 102, "success"),
        (3, 105, "success"),  # tie on value 10.0: submitted at 02:00 ...
        (4, 104, "success"),  # ... beats 03:00
        (None, 103, "error"),
        (None, 107, "error"),
        (None, 106, "none"),
    ]
    first = rows[0]
    assert first["value"] == pytest.approx(20.0)
    assert first["score"] == 30.0 and first["baseline_score"] == 10.0
    assert first["steps"] == 288
    assert first["updated_at"] == "2023-04-16T00:00:00.000000Z"
    failed = rows[4]
    assert failed["score"] is None and failed["value"] is None and failed["steps"] == 120


def test_current_submission_is_the_latest_submitted_commit_not_the_best(competition):
    teams, subs, _ = competition
    sparky = board_of(subs, teams)["rows"][0]
    assert sparky["git_commit_hash"] == sha("b")  # 50.0 from the older commit "a" does not count
    assert sparky["score"] == 30.0


def test_latest_submission_failing_puts_the_team_last():
    teams = [Team(team_id=101, team_name="A", repo="x"), Team(team_id=102, team_name="B", repo="y")]
    subs = [
        submission(101, "A", sha("a"), score=99.0, submitted_at="2023-04-14T00:00:00Z"),
        submission(101, "A", sha("b"), score=None, status="error", error="boom",
                   submitted_at="2023-04-14T01:00:00Z"),
        submission(102, "B", sha("c"), score=1.0),
    ]
    rows = board_of(subs, teams)["rows"]
    assert [(r["team_id"], r["rank"], r["status"]) for r in rows] == [(102, 1, "success"), (101, None, "error")]


def test_float_noise_does_not_break_a_tie():
    teams = [Team(team_id=101, team_name="Late", repo="x"), Team(team_id=102, team_name="Early", repo="y")]
    subs = [
        submission(101, "Late", sha("a"), score=0.1 + 0.2, baseline=0.0, submitted_at="2023-04-14T05:00:00Z"),
        submission(102, "Early", sha("b"), score=0.3, baseline=0.0, submitted_at="2023-04-14T04:00:00Z"),
    ]
    assert 0.1 + 0.2 != 0.3
    rows = board_of(subs, teams)["rows"]
    assert [r["team_id"] for r in rows] == [102, 101]


def test_negative_values_rank_below_positive_and_a_removed_team_is_left_out():
    teams = [Team(team_id=101, team_name="A", repo="x"), Team(team_id=102, team_name="B", repo="y")]
    subs = [
        submission(101, "A", sha("a"), score=5.0, baseline=10.0),
        submission(102, "B", sha("b"), score=12.0, baseline=10.0),
        submission(150, "Gone", sha("c"), score=500.0, baseline=10.0),  # no longer registered
    ]
    rows = board_of(subs, teams)["rows"]
    assert [(r["team_id"], r["value"]) for r in rows] == [(102, 2.0), (101, -5.0)]


def test_baseline_score_from_rows_when_no_baseline_run_is_stored():
    teams = [Team(team_id=101, team_name="A", repo="x")]
    board = board_of([submission(101, "A", sha("a"), score=7.0, baseline=3.5)], teams)
    assert board["baseline_score"] == 3.5 and board["rows"][0]["value"] == 3.5


def test_explicit_baseline_score_is_used_when_a_record_has_none():
    teams = [Team(team_id=101, team_name="A", repo="x")]
    board = board_of([submission(101, "A", sha("a"), score=7.0, baseline=None)], teams, baseline_score=2.0)
    assert board["baseline_score"] == 2.0
    assert board["rows"][0]["value"] == 5.0 and board["rows"][0]["rank"] == 1


def test_no_baseline_at_all_means_no_rank_rather_than_a_made_up_value():
    teams = [Team(team_id=101, team_name="A", repo="x")]
    row = board_of([submission(101, "A", sha("a"), score=7.0, baseline=None)], teams)["rows"][0]
    assert row["rank"] is None and row["value"] is None and row["score"] == 7.0


def test_window_with_most_teams_wins_then_the_latest():
    subs = [
        submission(101, "A", sha("a"), score=1.0, start=0, end=600),
        submission(102, "B", sha("b"), score=1.0, start=0, end=600),
        submission(101, "A", sha("a"), score=1.0, start=0, end=900),
        submission(101, "A", sha("a"), score=1.0, start=0, end=300, rules="gbh2024"),
    ]
    assert select_window(subs, RULES) == Window(0, 600)
    subs.append(submission(102, "B", sha("b"), score=1.0, start=0, end=900))
    assert select_window(subs, RULES) == Window(0, 900)  # the round moved on
    assert select_window(subs, "gbh2024") == Window(0, 300)
    assert select_window(subs, "other") is None


def test_window_from_settings_matches_within_one_interval():
    subs = [submission(101, "A", sha("a"), score=1.0), submission(102, "B", sha("b"), score=1.0,
                                                                  start=START - 86400, end=START)]
    # The organiser wrote the window as its first interval end (START + 300).
    assert select_window(subs, RULES, start=START + 300) == Window(START, END)
    assert select_window(subs, RULES, end=START) == Window(START - 86400, START)
    assert select_window(subs, RULES, start=START + 3600) is None


def test_other_windows_and_rules_are_never_mixed_into_the_board(competition):
    teams, subs, _ = competition
    current = current_submissions(subs, Window(START, END), RULES)
    assert sha("c") not in {r.git_commit_hash for r in current.values()}
    assert 0 not in current  # the baseline is not a team


def test_empty_store_gives_an_empty_board():
    board = board_of([], [])
    assert board["rows"] == [] and board["window"] == {"start": None, "end": None}
    assert board["baseline_score"] is None


def test_teams_without_results_are_listed():
    teams = [Team(team_id=120, team_name="Quiet", repo="x")]
    rows = board_of([], teams)["rows"]
    assert rows == [dict(zip(LEADERBOARD_KEYS, (None, 120, "Quiet", "", None, None, None, None, None,
                                                "none", 0, None), strict=False))]


def test_parse_time():
    assert parse_time("2023-04-15 10:00") == START  # naive = NEM time, UTC+10
    assert parse_time("2023-04-15T00:00:00Z") == START
    assert parse_time("2023-04-15T02:00:00+02:00") == START
    assert parse_time(str(START)) == START == parse_time(START)
    with pytest.raises(ScoringError, match="not a time"):
        parse_time("next tuesday")
