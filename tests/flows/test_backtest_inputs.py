"""`arena backtest` is honest about its window, and the commands task rows record run as pasted."""

from __future__ import annotations

import shlex

from flowkit import DATA_START, WINDOW_END, WINDOW_START
from typer.testing import CliRunner

from battery_sim.data import iso
from cli import app


def said(result) -> str:
    return " ".join(result.output.split())  # rich wraps long errors at the terminal width


def test_a_window_the_data_does_not_cover_is_refused_naming_what_it_covers(harness, teams, market):
    before = len(market.list_tasks())
    late = CliRunner().invoke(app, ["backtest", "--all", "--start", str(WINDOW_START),
                                    "--end", str(WINDOW_END + 86400)])
    assert late.exit_code == 2, late.output
    text = said(late)
    assert f"does not cover the window {iso(WINDOW_START)} .. {iso(WINDOW_END + 86400)}" in text
    assert f"it covers {iso(WINDOW_START)} .. {iso(WINDOW_END)}" in text
    assert f"the store holds {iso(DATA_START)} .. {iso(WINDOW_END)}" in text
    early = CliRunner().invoke(app, ["backtest", "--team", "101", "--start", str(DATA_START - 3600),
                                     "--end", str(WINDOW_END)])
    assert early.exit_code == 2 and f"it covers {iso(DATA_START)} .. {iso(WINDOW_END)}" in said(early)
    # Refused before anything ran: no evaluation row, no result over a shorter window.
    assert len(market.list_tasks()) == before
    assert all(market.list_submissions(t) == [] for t in (101, 102, 103))


def test_the_recorded_commands_run_when_pasted(harness, teams, market):
    """The kickoff row's command evaluates the commit as a round would; the evaluation row that run
    records names its exact window, and pasting that finds the same result."""
    (kickoff,) = [r for r in market.list_tasks() if r.type.value == "submission-kickoff" and r.team_id == 102]
    argv = shlex.split(kickoff.command)
    assert argv[:2] == ["arena", "backtest"]
    ran = CliRunner().invoke(app, argv[1:])
    assert ran.exit_code == 0, ran.output
    (record,) = market.list_submissions(102)
    assert (record.git_commit_hash, record.window_start, record.window_end) == (
        teams[102], WINDOW_START, WINDOW_END)
    (row,) = [r for r in market.list_tasks() if r.type.value == "evaluation" and r.team_id == 102]
    argv = shlex.split(row.command)
    assert argv[:2] == ["arena", "backtest"] and iso(WINDOW_START) in argv and iso(WINDOW_END) in argv
    assert argv[-4:] == ["--trials", "1", "--seed", "42"]  # the run's own, spelled out
    again = CliRunner().invoke(app, argv[1:] + ["--json"])
    assert again.exit_code == 0, again.output
    assert [r.key for r in market.list_submissions(102)] == [record.key]  # the same evaluation, found
