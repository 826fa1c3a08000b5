"""The published site in a real browser: headless Chromium loads the ranking and team pages
from file://, every row and chart is there, sorting and search work, nothing logs an
error, and the ranking fits a phone's width."""

from __future__ import annotations

import json

import pytest

from arena.scoring import Window, baseline_record, build_leaderboard
from leaderboard.render import render_site
from tests.leaderboard.browser import Browser
from tests.leaderboard.leaderboard_data import END, EVIL, RULES, START, make_competition

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    teams, subs, tasks = make_competition()
    board = build_leaderboard(subs, teams, competition="arena", rules=RULES)
    out = tmp_path_factory.mktemp("site")
    render_site(board, out, teams=teams, submissions=subs, tasks=tasks,
                baseline=baseline_record(subs, Window(START, END), RULES))
    return out, board


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def rows_in_view(page) -> list[str]:
    return page.eval("""[...document.querySelectorAll('#ranking tbody tr')]
        .filter(r => !r.hidden).map(r => r.dataset.teamId)""")


def test_ranking_page_shows_every_row_sorts_and_searches(site, browser, tmp_path):
    out, board = site
    page = browser.open((out / "index.html").as_uri())
    expected = [str(r["team_id"]) for r in board["rows"]]
    assert rows_in_view(page) == expected
    # The script tag in a team name is text: the page has exactly one script, ours.
    assert page.eval("document.scripts.length") == 1
    assert EVIL in page.eval("document.querySelector('#ranking').innerText")
    assert page.eval("document.querySelector('[data-count-for=ranking]').textContent") == "7 of 7 teams"

    # Sort by value: descending puts the best first; teams without a value stay last.
    page.eval("document.querySelectorAll('#ranking th button')[3].click()")
    page.eval("document.querySelectorAll('#ranking th button')[3].click()")
    assert page.eval("document.querySelectorAll('#ranking th')[3].getAttribute('aria-sort')") == "descending"
    assert rows_in_view(page)[:4] == ["101", "102", "105", "104"]  # a stable sort keeps the tie order
    assert set(rows_in_view(page)[4:]) == {"103", "106", "107"}
    # Sort by team name, ascending.
    page.eval("document.querySelectorAll('#ranking th button')[1].click()")
    names = page.eval("[...document.querySelectorAll('#ranking tbody tr td:nth-child(2)')].map(c => c.innerText)")
    assert names == sorted(names, key=str.lower)

    # Search by city, by name, by commit prefix; nothing found says so.
    def search(text):
        page.eval(f"""(() => {{ const box = document.getElementById('search');
            box.value = {json.dumps(text)}; box.dispatchEvent(new Event('input')); }})()""")
        return rows_in_view(page)

    assert search("adl") == ["103"]
    assert search("tie") == ["105", "104"]  # Tie Early, Tie Late: sorted by name
    assert search("dddddddd") == ["102"]
    assert search("no such team") == []
    assert page.eval("document.querySelector('.empty-search').hidden") is False
    assert search("") == rows_in_view(page) and len(search("")) == 7
    assert page.problems() == []


def test_team_pages_show_every_chart_and_no_console_error(site, browser):
    out, board = site
    for row in board["rows"]:
        page = browser.open((out / "teams" / f"{row['team_id']}.html").as_uri())
        charts = page.eval("""[...document.querySelectorAll('figure.chart')].map(f => ({
            key: f.dataset.chart,
            lines: f.querySelectorAll('svg polyline').length,
            width: f.querySelector('svg').getBoundingClientRect().width}))""")
        if row["status"] == "none":
            assert charts == []
        else:  # a run that failed early still shows the price and the baseline
            assert [c["key"] for c in charts] == ["price", "soc", "actions", "profit"]
            assert all(c["lines"] >= 1 and c["width"] > 200 for c in charts), charts
        assert page.eval("document.querySelector('h1').innerText") == row["team_name"]
        assert page.problems() == [], row["team_name"]


def test_failed_team_page_reads_as_an_explanation(site, browser, tmp_path):
    out, _ = site
    page = browser.open((out / "teams" / "103.html").as_uri())
    alert = page.eval("document.querySelector('.failure').innerText")
    assert "Your submission failed" in alert
    assert "failed at interval 120, ending 2023-04-15 20:05 AEST" in alert
    assert "ZeroDivisionError" in alert and "about to divide" in alert
    assert page.eval("document.querySelectorAll('svg .marker').length") == 4
    shot = page.screenshot(tmp_path / "team-103.png")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ranking_fits_a_phone(site, browser):
    out, _ = site
    page = browser.open((out / "index.html").as_uri(), width=390, height=844, mobile=True)
    # The page never scrolls sideways; the optional columns are hidden instead.
    assert page.eval("document.documentElement.scrollWidth") <= 390
    hidden = page.eval("getComputedStyle(document.querySelector('#ranking th.opt')).display")
    assert hidden == "none"
    assert len(rows_in_view(page)) == 7
    assert page.problems() == []


def test_the_error_check_itself_catches_errors(browser, tmp_path):
    # Guard against a check that cannot fail: a page with a console error, an uncaught
    # exception, a missing stylesheet and an alert must report all four.
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><link rel="stylesheet" href="missing.css">'
                   '<script>alert("hello");</script>'
                   '<script>console.error("boom"); undefinedFunction();</script>')
    problems = browser.open(bad.as_uri()).problems()
    assert any(p.startswith("dialog:") and "hello" in p for p in problems), problems
    assert any("boom" in p for p in problems)
    assert any(p.startswith("exception:") and "undefinedFunction" in p for p in problems)
    assert any("missing.css" in p or "ERR_FILE_NOT_FOUND" in p for p in problems), problems
