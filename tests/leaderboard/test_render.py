"""The static site from records: escaping, public data only, failure explanations, charts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from arena.models import SubmissionRecord
from arena.scoring import Window, baseline_record, build_leaderboard
from leaderboard.charts import Chart, Series, aggregate, bucket_seconds, nice_ticks, render_svg
from leaderboard.explain import explain_failure
from leaderboard.render import render_site, render_team, team_charts
from tests.leaderboard.leaderboard_data import (
    END,
    EVIL,
    LOG_OF_101,
    RULES,
    SECRET_COMMAND,
    SECRET_REPO,
    START,
    sha,
    submission,
    trial,
)


@pytest.fixture
def site(competition, tmp_path):
    teams, subs, tasks = competition
    board = build_leaderboard(subs, teams, competition="arena", rules=RULES)
    out = render_site(board, tmp_path / "site", teams=teams, submissions=subs, tasks=tasks,
                      baseline=baseline_record(subs, Window(START, END), RULES))
    return out, board


class Collector(HTMLParser):
    """Every element and its attributes, and the text, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Collector:
    parser = Collector()
    parser.feed(html)
    return parser


def all_files(out):
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()}


def test_site_layout(site):
    out, board = site
    assert set(all_files(out)) == {
        "index.html", "leaderboard.json", "static/site.css", "static/site.js",
        *(f"teams/{t}.html" for t in (101, 102, 103, 104, 105, 106, 107)),
    }
    assert json.loads((out / "leaderboard.json").read_text()) == board


def test_index_lists_every_team_in_rank_order_with_links(site):
    out, board = site
    doc = parse((out / "index.html").read_text())
    rows = [a for t, a in doc.tags if t == "tr" and "data-team-id" in a]
    assert [int(a["data-team-id"]) for a in rows] == [r["team_id"] for r in board["rows"]]
    links = [a["href"] for t, a in doc.tags if t == "a" and a.get("href", "").startswith("teams/")]
    assert links == [f"teams/{r['team_id']}.html" for r in board["rows"]]
    # Everything the page loads is local: no CDN, works from file://.
    for tag, attrs in doc.tags:
        for name in ("src", "href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), (tag, attrs)


def test_team_name_with_a_script_tag_renders_as_text(site):
    out, _ = site
    for page in ("index.html", "teams/102.html"):
        html = (out / page).read_text()
        assert EVIL not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        doc = parse(html)
        scripts = [a for t, a in doc.tags if t == "script"]
        assert scripts == [{"src": "./static/site.js" if page == "index.html" else "../static/site.js"}]
        assert EVIL in "".join(doc.text)  # what a reader sees is the name itself


def test_escaping_covers_errors_logs_and_commits(tmp_path):
    from arena.models import Team

    nasty = '"><img src=x onerror=alert(2)>'
    teams = [Team(team_id=101, team_name="A", city=nasty, repo="x")]
    subs = [submission(101, "A", sha("a"), score=None, status="error", error=nasty, logs_tail=nasty,
                       error_traceback=nasty, class_name=nasty)]
    board = build_leaderboard(subs, teams, competition=nasty, rules=RULES)
    out = render_site(board, tmp_path / "s", teams=teams, submissions=subs, tasks=[])
    for name, html in all_files(out).items():
        if name.endswith(".html"):
            assert "<img" not in html, name
            assert not any(t == "img" for t, _ in parse(html).tags)


def test_only_public_data_is_written(site, competition):
    out, _ = site
    files = all_files(out)
    for name, text in files.items():
        assert SECRET_REPO not in text and "secret-org" not in text, name
        assert SECRET_COMMAND not in text, name
        if name != "teams/101.html":
            assert LOG_OF_101 not in text, name  # a team's logs only on its own page
    assert LOG_OF_101 in files["teams/101.html"]
    # The baseline is not a team page, and rows of no team (ingest) appear nowhere.
    assert "teams/0.html" not in files
    assert not any('data-task-id="3"' in text for text in files.values())
    # The board carries no logs, errors or trials.
    board_text = files["leaderboard.json"]
    for word in ("logs_tail", "error_traceback", "main_trial", "profits", "about to divide"):
        assert word not in board_text


def test_team_page_drops_records_of_other_teams_whatever_it_is_given(competition):
    teams, subs, tasks = competition
    board = build_leaderboard(subs, teams, competition="arena", rules=RULES)
    html = render_team(board, teams[1], subs, tasks, None)  # every team's records passed in
    assert LOG_OF_101 not in html and "about to divide" not in html


def test_failed_submission_is_explained(site):
    out, _ = site
    html = (out / "teams/103.html").read_text()
    text = " ".join(" ".join(parse(html).text).split())
    assert "Your submission failed" in text
    # One numbering, the evaluator's (from 0), and one clock, NEM time: the interval numbered 120
    # ends 2023-04-15 00:00Z + 121 x 5 min = 10:05Z = 20:05 AEST, in the headline, the error line
    # (which the evaluator wrote in UTC), the task row's diagnostic and the chart's marker.
    assert "traded intervals 0 to 119, then failed at interval 120, ending 2023-04-15 20:05 AEST" in text
    assert "interval 120 (2023-04-15 20:05 AEST): ZeroDivisionError: division by zero in act()" in text
    assert "about to divide" in text  # its own log tail
    assert 'File "bot/policies/volt.py", line 12' in text
    diagnostic = re.search(r'<p class="diagnostic">([^<]*)</p>', html).group(1)
    assert diagnostic.startswith("error: interval 120 (2023-04-15 20:05 AEST): ZeroDivisionError")
    assert "(gbh2024-tariff, 2023-04-15 10:05 AEST .. 2023-04-16 10:00 AEST)" in diagnostic
    assert "+00:00" not in html and "UTC" not in text.replace("in UTC", "").replace("UTC+10", "")
    assert html.count(">failed at interval 120</text>") == 4  # the failing interval marked on each chart


def test_failure_before_the_first_interval_and_a_missing_package():
    record = submission(107, "I", sha("2"), score=None, status="error", main_trial={}, steps=0,
                        error="ModuleNotFoundError: No module named 'sklearn'")
    failure = explain_failure(record)
    assert "before it traded its first interval" in failure.headline
    assert "bot/requirements.txt" in failure.hint
    assert failure.interval_end is None


@pytest.mark.parametrize("error, expected", [
    ("step 17 took longer than the 2.0 s step time limit", "time limit"),
    ("container killed: memory limit 1g reached (OOM)", "memory"),
    ("bot/config.json: policy.class_name 'Foo' not found", "config.json"),
    ("something odd", "traceback"),
])
def test_hints_follow_the_error(error, expected):
    record = submission(101, "A", sha("a"), score=None, status="error", error=error, main_trial=trial(80, steps=5))
    assert expected in explain_failure(record).hint


def test_scored_team_page_has_four_charts_against_the_baseline(site):
    out, _ = site
    doc = parse((out / "teams/101.html").read_text())
    figures = [a["data-chart"] for t, a in doc.tags if t == "figure"]
    assert figures == ["price", "soc", "actions", "profit"]
    series = [a["data-series"] for t, a in doc.tags if t == "g" and "data-series" in a]
    # In drawing order: the baseline first on each chart, so the team's lines lie over it.
    assert series == ["price", "baseline", "your policy",
                      "baseline grid action (executed)", "your grid action (executed)",
                      "your solar to battery (executed)", "baseline", "your policy"]
    assert sum(1 for t, _ in doc.tags if t == "polyline") == len(series)
    legend = [li for t, li in doc.tags if t == "li" and li.get("class", "").startswith(("team", "solar", "baseline"))]
    assert [li["class"] for li in legend][:2] == ["team", "baseline dashed"]  # the legend reads team first


def test_team_without_result_explains_how_to_submit(site):
    out, _ = site
    text = " ".join(parse((out / "teams/106.html").read_text()).text)
    assert "No result over this window yet" in text and "submission" in text
    assert "figure" not in (out / "teams/106.html").read_text()


def test_charts_share_the_window_axis():
    charts = team_charts(trial(80, steps=10), trial(90), window=(START + 300, END))
    assert all(c.x_range == (START + 300, END) for c in charts)
    assert [len(c.series) for c in charts] == [1, 2, 3, 2]
    # The failed run's price chart uses the baseline's full-window prices.
    assert len(charts[0].series[0].ys) == 288


def test_aggregate_keeps_extremes_in_nem_hours_and_breaks_at_gaps():
    day = START  # 2023-04-15 00:00 UTC = 10:00 AEST: an hour boundary either way
    xs = [day + 300 * (k + 1) for k in range(48)]  # four hours of interval ends
    ys = [1.0] * 48
    ys[5], ys[7] = 15_000.0, -1_000.0  # a price spike and a dip must survive
    ys[24:36] = [None] * 12  # the third hour has no value at all
    buckets = aggregate(list(zip(xs, ys, strict=False)), 3600, 10 * 3600)
    first, second, gap, fourth = buckets
    assert first == (day + 1800, -1_000.0, (10 + 15_000.0 - 1_000.0) / 12, 15_000.0)
    assert second == (day + 5400, 1.0, 1.0, 1.0) and gap is None and fourth[0] == day + 3 * 3600 + 1800
    assert bucket_seconds(21 * 86400) == 2 * 3600 and bucket_seconds(86400) == 3600


def test_gaps_break_the_line_and_empty_charts_say_so():
    svg = render_svg(Chart("p", "Price", "$/MWh", (Series("p", "price", [0, 1, 2, 3, 4], [1, 2, None, 4, 5]),)))
    assert svg.count("<polyline") == 2
    empty = render_svg(Chart("p", "Price", "$/MWh", (Series("p", "price", [], []),)))
    assert "no data" in empty and "<polyline" not in empty


def test_nice_ticks_cover_the_range():
    for lo, hi in [(0, 13), (-5, 5), (-0.37, 1.42), (47.5, 14_999.0), (3, 3)]:
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi
        steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
        assert len(steps) == 1 and 2 <= len(ticks) <= 12


def test_submissions_newest_first_and_backtests_apart(site):
    out, _ = site
    html = (out / "teams/101.html").read_text()
    history = html[html.index('id="history-h"'):html.index('id="backtests-h"')]
    backtests = html[html.index('id="backtests-h"'):html.index('id="tasks-h"')]
    assert re.findall(r'title="([0-9a-f]{40})"', history) == [sha("b"), sha("a")]
    # The evaluation over another window is a backtest, listed apart (it never counts).
    assert re.findall(r'title="([0-9a-f]{40})"', backtests) == [sha("c")]
    assert "2023-04-14 10:00 AEST → 2023-04-15 10:00 AEST" in backtests


def test_record_with_unusable_trial_still_renders(tmp_path):
    from arena.models import Team

    teams = [Team(team_id=101, team_name="A", repo="x")]
    odd = SubmissionRecord(team_id=101, key="k", git_commit_hash=sha("a"), window_start=START, window_end=END,
                           rules=RULES, status="success", score=1.0, baseline_score=0.5,
                           main_trial={"profits": [0.1, None, float("nan"), 0.4], "timestamps": "oops"})
    board = build_leaderboard([odd], teams, competition="c", rules=RULES)
    out = render_site(board, tmp_path / "s", teams=teams, submissions=[odd], tasks=[])
    assert 'data-chart="profit"' in (out / "teams/101.html").read_text()


def test_notes_on_how_the_repo_was_read_show_on_the_team_page(tmp_path):
    from arena.models import Team

    note = "bot/requirements.txt line 1: 'flask==3.0.' was read as 'flask==3.0' <b>x</b>"
    teams = [Team(team_id=101, team_name="A", repo="x")]
    subs = [submission(101, "A", sha("a"), score=12.0, notes=[note])]
    board = build_leaderboard(subs, teams, competition="arena", rules=RULES)
    out = render_site(board, tmp_path / "s", teams=teams, submissions=subs, tasks=[])
    page = (out / "teams" / "101.html").read_text()
    assert "Notes on how your repository was read" in page
    assert "was read as &#39;flask==3.0&#39; &lt;b&gt;x&lt;/b&gt;" in page
