"""Publishing a store in which some teams' records are hostile or broken (absurd numbers in the
trial, a NaN score, rows that no longer validate, written by hand or by an older arena) beside
an honest team: the publish succeeds, the honest team's row and page are right, each bad team is
shown with its own error, the organiser is told, and no team text reaches a page unescaped."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from markupsafe import escape

from arena.models import SubmissionRecord, TaskRow, Team
from arena.scoring import BASELINE_TEAM_ID, build_leaderboard
from arena.settings import load_settings
from leaderboard.charts import Y_LIMIT, Chart, Series, render_svg
from leaderboard.render import RENDER_FAILED, render_site
from tasks import publish
from tests.leaderboard.leaderboard_data import END, RULES, START, trial

HUGE = 10 ** 4000  # a finite integer JSON can carry and float() cannot
EVIL = "<script>alert('x')</script>"
HOSTILE_TEXT = f"{EVIL} [link](http://evil.example) ![i](http://evil.example/i.png) <img src=x onerror=alert(1)>"


def _record(team_id: int, score: float | None, main_trial: dict, **extra) -> SubmissionRecord:
    sha = f"{team_id:x}".rjust(40, "a")
    fields = dict(team_id=team_id, team_name=f"team-{team_id}", key=SubmissionRecord.make_key(sha, START, END, RULES),
                  git_commit_hash=sha, window_start=START, window_end=END, rules=RULES, status="success",
                  score=score, baseline_score=10.0, steps=len(main_trial.get("profits") or []), main_trial=main_trial,
                  submitted_at="2023-04-14T00:00:00Z")
    fields.update(extra)
    return SubmissionRecord(**fields)


def _absurd_trial() -> dict:
    t = trial(100)
    t["actions"][3] = HUGE
    t["actions"][4] = -HUGE
    t["profits"][10:14] = [1e308, -1e308, float("nan"), float("inf")]
    t["socs"][5:9] = ["full", None, float("-inf"), [1, 2]]
    t["market_prices"] = t["market_prices"][:50]  # wrong length
    t["solar_actions"] = {"not": "a list"}
    t["timestamps"][7] = 1e308  # a clock that is not one: plotted against the interval number
    return t


def _raw_put(store, team_id: int, key: str, item) -> None:
    """Write a submissions row below the store's API, as an older arena or a person might have."""
    with sqlite3.connect(store.path) as conn:
        conn.execute(f"INSERT OR REPLACE INTO {store._t['submissions']} (team_id, key, evaluated_at, item) "
                     "VALUES (?, ?, ?, ?)", (team_id, key, "2023-04-16T00:00:00Z", json.dumps(item)))


@pytest.fixture
def hostile_store(store):
    store.init()
    names = {101: "Honest", 102: "Absurd trial", 103: "NaN score", 104: EVIL, 105: "Unreadable", 106: "Not a dict",
             107: "Objects for text"}
    for team_id, name in names.items():
        store.put_team(Team(team_id=team_id, team_name=name, city="SYD", repo="org/x"))
    baseline = _record(BASELINE_TEAM_ID, 10.0, trial(90), team_name="baseline", git_commit_hash="baseline",
                       key=SubmissionRecord.make_key("baseline", START, END, RULES))
    store.put_submission(baseline)
    store.put_submission(_record(101, 12.5, trial(100)))
    # The store refuses NaN and ±inf on write; rows from before that rule, or from a person, hold them.
    for record in (_record(102, 11.0, _absurd_trial()), _record(103, float("nan"), trial(100))):
        _raw_put(store, record.team_id, record.key, record.to_item())
    store.put_submission(_record(104, None, trial(120), status="error", error=HOSTILE_TEXT,
                                 error_traceback=f"Traceback\n~~~~\n```\n{EVIL}\n", logs_tail=f"~~~~~~\n{EVIL}\n",
                                 steps=3))
    good = _record(105, 11.5, trial(100)).to_item()
    del good["rules"]  # a missing field: this row no longer validates
    _raw_put(store, 105, good["key"], good)
    not_dict = _record(106, 11.5, trial(100)).to_item()
    not_dict["main_trial"] = ["not", "a", "dict"]
    _raw_put(store, 106, not_dict["key"], not_dict)
    objects = _record(107, None, trial(100), status="error", steps=0).to_item()
    objects.update(error={"message": EVIL}, error_traceback=["frame", {"line": 1}], logs_tail=12345)
    _raw_put(store, 107, objects["key"], objects)
    store.create_task("evaluate", type="evaluation", team_id=104, team_name=EVIL, diagnostic=HOSTILE_TEXT,
                      logs_tail=f"~~~~\n{EVIL}\n", state_="error")
    return store


def test_one_teams_bad_records_never_stop_the_others(hostile_store, env):
    warnings: list[str] = []
    published = publish.publish_leaderboard(hostile_store, load_settings(), artifact=False, warn=warnings.append)
    folder, board = published.folder, published.board

    rows = {row["team_id"]: row for row in board["rows"]}
    assert rows[101]["rank"] == 1 and rows[101]["value"] == 2.5 and rows[101]["status"] == "success"
    assert rows[102]["rank"] == 2 and rows[102]["value"] == 1.0  # its numbers are absurd only in the trial
    for team_id in (103, 104, 105, 106, 107):
        assert rows[team_id]["status"] == "error" and rows[team_id]["rank"] is None, rows[team_id]
    assert board["baseline_score"] == 10.0

    text = (folder / "leaderboard.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in leaderboard.json"))  # strict JSON

    page = {team_id: (folder / "teams" / f"{team_id}.html").read_text() for team_id in rows}
    assert "$12.50" in page[101] and "$2.50" in page[101] and escape(RENDER_FAILED) not in page[101]
    assert page[101].count('data-chart="') == 4
    assert page[102].count('data-chart="') == 4 and "drawn at the edge" in page[102]
    assert re.search(r'points="[^"]*(nan|inf|e\+)', page[102]) is None  # every drawn coordinate is a number
    assert escape(f"{RENDER_FAILED}: the stored score is nan, not a finite number") in page[103]
    for team_id in (105, 106):
        assert escape(f"{RENDER_FAILED}: its stored records cannot be read") in page[team_id]
    assert escape(str({"message": EVIL})) in page[107]  # an object where text belongs, shown as text

    for name, html in page.items():
        assert EVIL not in html and "<img src=x" not in html, name
        assert len(re.findall(r"<script", html)) == 1, name  # the site's own site.js only
    index = (folder / "index.html").read_text()
    assert EVIL not in index and len(re.findall(r"<script", index)) == 1
    assert "&lt;script&gt;" in index  # team 104's name, escaped

    told = "\n".join(warnings)
    for team_id in (103, 105, 106):
        assert f"team {team_id} " in told, warnings
    assert "team 101 " not in told and "team 102 " not in told


def test_a_page_that_cannot_render_is_that_teams_error_page(tmp_path):
    """A record that bypassed validation entirely (built with model_construct: a trial that is no
    dict, steps that are text) makes render_team raise: that page becomes the team's error page."""
    teams = [Team(team_id=101, team_name="Honest", repo="x"), Team(team_id=102, team_name=EVIL, repo="x")]
    honest = _record(101, 12.5, trial(100))
    broken = SubmissionRecord.model_construct(**{**_record(102, 11.0, trial(100)).__dict__,
                                                 "main_trial": None, "steps": "many", "status": "error"})
    board = build_leaderboard([honest, broken], teams, competition="c", rules=RULES, baseline_score=10.0)
    warnings: list[str] = []
    out = render_site(board, tmp_path / "site", teams=teams, submissions=[honest, broken], tasks=[],
                      warn=warnings.append)
    bad = (out / "teams/102.html").read_text()
    assert escape(RENDER_FAILED) in bad and EVIL not in bad and "&lt;script&gt;" in bad
    assert "$12.50" in (out / "teams/101.html").read_text()
    index = (out / "index.html").read_text()
    assert "page unavailable" in index and index.count("page unavailable") == 1
    assert len(warnings) == 1 and warnings[0].startswith("team 102 ") and RENDER_FAILED in warnings[0]


@pytest.mark.parametrize("ys", [
    [0.0, HUGE, -HUGE, 1.0],
    [1e308, -1e308, 0.0],
    [float("nan"), float("inf"), float("-inf"), None, "x", True],
    [1e12, 1e12 + 2e-4, 1e12 + 1e-4],  # a span narrower than the float steps at that magnitude
    [0.0, 5e-324],  # a subnormal span
])
def test_charts_draw_any_values_without_raising(ys):
    xs = [START + 300 * i for i in range(len(ys))]
    svg = str(render_svg(Chart("k", "title", "unit", (Series("team", "team", xs, ys),), x_range=(START, END))))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for number in re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy)="([^"]*)"', svg):
        assert abs(float(number)) < 10_000, number  # every coordinate lands on (or near) the canvas
    clipped = any(isinstance(y, (int, float)) and not isinstance(y, bool) and y == y and abs(y) >= Y_LIMIT
                  and abs(y) != float("inf") for y in ys)
    assert ("drawn at the edge" in svg) == clipped


@pytest.mark.parametrize("x_range", [(0, 1e11), (-1e308, 1e308), (HUGE, -HUGE), (float("nan"), 1.0)])
def test_charts_with_absurd_time_axes_stay_small(x_range):
    xs = [0, 1e11, HUGE, float("nan"), -5]
    svg = str(render_svg(Chart("k", "t", "u", (Series("team", "team", xs, [1, 2, 3, 4, 5]),), x_range=x_range)))
    assert svg.endswith("</svg>") and len(svg) < 20_000


def test_store_reads_that_fail_for_the_whole_store_still_fail_the_publish(hostile_store, env, monkeypatch):
    """Only one team's unreadable rows are that team's; a store that cannot be read is arena's
    problem, and the published site is left as it was rather than replaced by one of errors."""
    from tasks.store.base import StoreError

    settings = load_settings()
    folder = publish.publish_site(hostile_store, settings, warn=lambda message: None)
    before = (folder / "index.html").read_text()

    def down(*args, **kwargs):
        raise StoreError("the store is unreachable")

    monkeypatch.setattr(hostile_store, "list_submissions", down)
    with pytest.raises(StoreError):
        publish.publish_site(hostile_store, settings)
    assert (folder / "index.html").read_text() == before


def test_task_rows_keep_hostile_text_as_bounded_text():
    row = TaskRow(id=1, diagnostic={"a": [1, 2]}, logs_tail=["x"] * 100_000)
    assert row.diagnostic == "{'a': [1, 2]}"
    assert isinstance(row.logs_tail, str) and len(row.logs_tail) <= 20_000 and row.logs_tail.endswith("[... cut]")
