"""A team page agrees with itself: the evaluator's interval numbering, NEM time on every clock,
backtests apart, no path of this machine, and an actions chart of what the battery executed that
stays readable over three weeks with the baseline beneath the team's lines."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pandas as pd

from arena.models import SubmissionRecord, TaskRow, TaskState, TaskType, Team
from arena.scoring import BASELINE_TEAM_ID, Window, baseline_record, build_leaderboard
from battery_sim.data import from_frame
from battery_sim.evaluator import evaluate
from battery_sim.policies import BASELINE, BUILTIN_POLICIES
from battery_sim.rules import get_ruleset
from leaderboard.render import render_site, team_charts
from tests.leaderboard.leaderboard_data import RULES, START, sha

THREE_WEEKS = 21 * 288


def market(n: int, start: int = START):
    """`n` intervals from `start`: a daily price swing, some sun."""
    hours = [((start + 300 * (k + 1)) / 3600 + 10) % 24 for k in range(n)]
    return from_frame(pd.DataFrame({
        "timestamp": [pd.Timestamp(start + 300 * (k + 1), unit="s", tz="UTC").isoformat(sep=" ") for k in range(n)],
        "price": [60.0 + (300.0 if 17 <= h < 21 else 0.0) - (50.0 if 10 <= h < 15 else 0.0) for h in hours],
        "pv_power": [3.0 if 8 <= h < 16 else 0.0 for h in hours],
    }))


class Greedy:
    """Asks for far more than the battery can do (clipped to 5 kW, 0 when full or empty), and
    optionally fails at one interval."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.seen = fail_at, 0

    def load_historical(self, history) -> None: ...

    def act(self, external_state, internal_state):
        if self.seen == self.fail_at:
            raise RuntimeError("the greedy policy gave up")
        self.seen += 1
        return 100.0, (100.0 if external_state["price"] < 100 else -100.0)


def record_of(result: dict, team_id: int, name: str, commit: str, data, rules: str = RULES, **extra) -> SubmissionRecord:
    window = result["window"]
    return SubmissionRecord(
        team_id=team_id, team_name=name, git_commit_hash=commit, rules=rules,
        key=SubmissionRecord.make_key(commit, window["start"], window["end"], rules),
        window_start=window["start"], window_end=window["end"], status=result["status"], score=result["score"],
        baseline_score=extra.pop("baseline_score", 0.0), error=extra.pop("error", result["error"]), steps=result["steps"],
        main_trial=result["main_trial"], submitted_at="2023-04-14T00:00:00.000000Z", **extra)


def run(data, policy) -> dict:
    return evaluate(data, get_ruleset(RULES), lambda: policy)


def baseline_of(data) -> SubmissionRecord:
    name, params = BASELINE
    result = evaluate(data, get_ruleset(RULES), lambda: BUILTIN_POLICIES[name](**params))
    return record_of(result, BASELINE_TEAM_ID, "baseline", "baseline", data, baseline_score=result["score"])


def site(tmp_path, teams, records, tasks=(), **kwargs):
    board = build_leaderboard(records, teams, competition="arena", rules=RULES)
    window = board["window"]
    base = baseline_record(records, Window(*(int(pd.Timestamp(window[k]).timestamp()) for k in ("start", "end"))),
                           RULES) if window["start"] else None
    return render_site(board, tmp_path / "site", teams=teams, submissions=records, tasks=list(tasks),
                       baseline=base, **kwargs)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_page_numbers_intervals_as_the_evaluators_error_does(tmp_path):
    data = market(288)
    result = run(data, Greedy(fail_at=37))
    number = int(re.match(r"interval (\d+) \(", result["error"]).group(1))
    records = [record_of(result, 101, "Greedy", sha("a"), data), baseline_of(data)]
    html = (site(tmp_path, [Team(team_id=101, team_name="Greedy", repo="o/g")], records) / "teams/101.html").read_text()
    text = text_of(html)
    assert number == 37
    assert f"then failed at interval {number}, ending" in text
    assert f"interval {number} (" in text and "RuntimeError: the greedy policy gave up" in text
    assert html.count(f">failed at interval {number}</text>") == 4
    # One clock: the headline's time and the error line's (written by the evaluator in UTC) agree.
    headline_time = re.search(r"failed at interval \d+, ending (\d{4}-\d\d-\d\d \d\d:\d\d AEST)", text).group(1)
    assert f"interval {number} ({headline_time}): RuntimeError" in text


def test_every_clock_on_the_page_is_nem_time(tmp_path):
    data = market(288)  # 2023-04-15 00:05 UTC = 10:05 AEST onwards
    records = [record_of(run(data, Greedy()), 101, "Greedy", sha("a"), data), baseline_of(data)]
    out = site(tmp_path, [Team(team_id=101, team_name="Greedy", repo="o/g")], records)
    html = (out / "teams/101.html").read_text()
    price_chart = html[html.index('data-chart="price"'):html.index('data-chart="soc"')]
    ticks = re.findall(r"<text x=\"[\d.]+\" y=\"212\" text-anchor=\"middle\">([^<]+)</text>", price_chart)
    assert ticks[0] == "12:00"  # the first 3-hour boundary in NEM time after 10:05 AEST (UTC: 03:00)
    assert "2023-04-15 10:05 AEST" in html  # the window's start, in the header
    assert "+00:00" not in html and not re.search(r"\d\d:\d\dZ", html)
    assert "NEM time (AEST, UTC+10)" in text_of(html)


def test_backtests_are_listed_apart_from_submissions(tmp_path):
    data, earlier = market(288), market(288, START - 86400)
    records = [record_of(run(data, Greedy()), 101, "Greedy", sha("a"), data), baseline_of(data),
               record_of(run(earlier, Greedy()), 101, "Greedy", sha("a"), earlier),
               record_of(run(data, Greedy()), 101, "Greedy", sha("b"), data, rules="gbh2024")]
    html = (site(tmp_path, [Team(team_id=101, team_name="Greedy", repo="o/g")], records) / "teams/101.html").read_text()
    submissions = html[html.index('id="history-h"'):html.index('id="backtests-h"')]
    backtests = html[html.index('id="backtests-h"'):html.index('id="tasks-h"')]
    assert submissions.count("<tr class=") == 1 and "2023-04-15 10:05 AEST → 2023-04-16 10:00 AEST" in submissions
    assert backtests.count("<tr class=") == 2 and "gbh2024<" in backtests
    assert "2023-04-14 10:05 AEST → 2023-04-15 10:00 AEST" in backtests
    assert "do not count for the ranking" in backtests


def test_no_path_of_this_machine_reaches_a_page(tmp_path, monkeypatch):
    home = tmp_path / "arena-home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{home / 'arena.db'}")
    repo = tmp_path / "repos" / "alpha"
    checkout = home / "checkouts" / f"101-{'a' * 12}-1a2b3c4d"
    tmp = tempfile.gettempdir()
    data = market(288)
    result = run(data, Greedy(fail_at=3))
    record = record_of(
        result, 101, "Alpha", sha("a"), data,
        error=f"interval 3 (2023-04-15 00:20:00+00:00): FileNotFoundError: {checkout}/bot/data/model.json",
        error_traceback=f'  File "{checkout}/bot/policies/alpha.py", line 3, in act\n'
                        f'  File "{sys.prefix}/lib/python3.11/site-packages/pandas/core/frame.py", line 9',
        logs_tail=f"reading {Path.home()}/secrets.txt\nscratch in {tmp}/alpha-scratch/x\ncwd {Path.cwd()}",
        notes=[f"bot/requirements.txt was read from {repo}/bot/requirements.txt"])
    task = TaskRow(id=1, type=TaskType.submission_kickoff, state_=TaskState.error, team_id=101, team_name="Alpha",
                   diagnostic=f"cannot read the repository {repo}: mirror {home}/mirrors/101.git is locked")
    from arena.settings import load_settings
    from tasks.publish import PublicRecords, build_board, render_into

    records = PublicRecords([Team(team_id=101, team_name="Alpha", repo=str(repo))], [record, baseline_of(data)], [task])
    out = render_into(home / "site", records, build_board(records, load_settings()))
    pages = {p.name: p.read_text() for p in out.rglob("*.html")}
    shown = "\n".join(pages.values())
    for private in (str(Path.home()) + "/", tmp + "/", str(home), str(repo), str(checkout), sys.prefix, str(Path.cwd())):
        assert private not in shown, private
    page = pages["101.html"]
    assert "bot/policies/alpha.py" in page and "bot/data/model.json" in page  # the team's own files, named
    assert "&lt;host path&gt;" in page


def test_the_actions_chart_shows_the_executed_actions_readably_over_three_weeks(tmp_path):
    data = market(THREE_WEEKS)
    result = run(data, Greedy())
    trial = result["main_trial"]
    # What the policy asked for is far beyond the battery; what it did is within 5 kW.
    assert max(trial["actions"]) == 100.0 and max(abs(a) for a in trial["executed_actions"]) == 5.0
    assert 0.0 in trial["executed_actions"]  # full or empty: nothing executed
    base = baseline_of(data)
    actions = team_charts(trial, base.main_trial)[2]
    by_label = {s.label: s for s in actions.series}
    assert list(by_label["your grid action (executed)"].ys) == trial["executed_actions"]
    assert list(by_label["your solar to battery (executed)"].ys) == trial["executed_solar_actions"]

    records = [record_of(result, 101, "Greedy", sha("a"), data), base]
    html = (site(tmp_path, [Team(team_id=101, team_name="Greedy", repo="o/g")], records) / "teams/101.html").read_text()
    chart = html[html.index('data-chart="actions"'):html.index('data-chart="profit"')]
    groups = re.findall(r'<g class="series ([^"]+)" data-series="([^"]+)"([^>]*)>(.*?)</g>', chart)
    assert [label for _, label, _, _ in groups] == [
        "baseline grid action (executed)", "your grid action (executed)", "your solar to battery (executed)"]
    (base_css, _, _, base_body), (team_css, _, team_attrs, team_body) = groups[0], groups[1]
    # Beneath the team's lines, thin and translucent (site.css: .beneath), a mean line without a band.
    assert "beneath" in base_css and "<polygon" not in base_body
    # 6048 intervals on 652 pixels: two-hour buckets in NEM time, each a min-max band and a mean.
    assert 'data-bucket-s="7200"' in team_attrs and "aggregated" in team_css
    buckets = int(re.search(r'data-points="(\d+)"', team_attrs).group(1))
    assert buckets == THREE_WEEKS * 300 // 7200
    assert team_body.count("<polygon") == 1 and len(re.search(r'<polyline points="([^"]+)"', team_body)
                                                      .group(1).split()) == buckets
    # The y axis is the executed range, not the requested 100 kW.
    y_ticks = [float(t.replace(",", "")) for t in re.findall(r'text-anchor="end">(-?[\d.,]+)</text>', chart)]
    assert max(y_ticks) <= 10 and min(y_ticks) >= -10
    css = (Path(__file__).parents[2] / "leaderboard" / "static" / "site.css").read_text()
    assert re.search(r"\.series\.beneath polyline \{[^}]*stroke-opacity: \.55", css)
