"""The private (held-out) leaderboard, issue 19, on a real SQLite store and the real renderer:
before `arena reveal` no private number reaches any file of the site (pages, attributes, data,
leaderboard.json) or the Prefect artifact's table; after it the final ranking follows the private
scores through arena/scoring.rank and the shake-up is shown. Also: the held-out windows' settings,
which submissions count (latest, best public N, a team's choice), the guard against a public
evaluation over a held-out window, and DynamoDB (moto) keeping the private marker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from arena import heldout
from arena.models import PRIVATE_KEY_MARK, SubmissionRecord
from arena.scoring import BASELINE_TEAM_ID, iso_utc, rank
from arena.settings import CompetitionSettings, load_settings
from battery_sim.errors import BadInput
from tasks import reveal
from tasks.publish import artifact_table, board_from_store, publish_site
from tests.leaderboard.leaderboard_data import END, EVIL, RULES, START, make_competition, sha, submission

# The held-out window: the day after the public one (which ends at END).
P_START = END + 3600
P_END = P_START + 86400 - 300
P_BASE = 4242.4242
# Distinctive private values (score - baseline): none of them may be in a file before the reveal.
PRIVATE_VALUES = {101: 333.3333, 102: 777.7777, 104: 111.1111, 105: 555.5555}
BACKTEST_OVER_HELD_OUT = 8888.8888  # a public (not private) record over the held-out window
PRIVATE_STEPS = 4321
PRIVATE_ERROR = "private-only-error-zq9"


def private(team_id: int, name: str, commit: str, value: float | None, **extra) -> SubmissionRecord:
    record = submission(team_id, name, commit, score=None if value is None else P_BASE + value, baseline=P_BASE,
                        start=P_START, end=P_END, steps=PRIVATE_STEPS, main_trial={},
                        evaluated_at="2023-04-17T00:00:00.000000Z", **extra)
    return record.model_copy(update={"private": True, "key": record.key + PRIVATE_KEY_MARK})


def private_records() -> list[SubmissionRecord]:
    return [
        private(BASELINE_TEAM_ID, "baseline", "0" * 40, 0.0),
        private(101, "Sparky", sha("b"), PRIVATE_VALUES[101]),
        private(102, EVIL, sha("d"), PRIVATE_VALUES[102]),
        private(104, "Tie Late", sha("f"), PRIVATE_VALUES[104]),
        private(105, "Tie Early", sha("1"), PRIVATE_VALUES[105]),
        private(103, "Volt Crashers", sha("e"), None, status="error", error=PRIVATE_ERROR),
        # 101's older commit a: counted only under best_public:2 or when the team chooses it.
        private(101, "Sparky", sha("a"), 999.9999),
    ]


def needles() -> list[str]:
    """Every way a private number could be written: raw, rounded, as the site formats money."""
    numbers = [P_BASE, BACKTEST_OVER_HELD_OUT, 999.9999, *PRIVATE_VALUES.values(),
               *(P_BASE + v for v in [*PRIVATE_VALUES.values(), 999.9999]), BACKTEST_OVER_HELD_OUT - 10.0]
    out = [PRIVATE_ERROR, iso_utc(P_START), iso_utc(P_END)]
    for x in numbers:
        out += [repr(x), repr(round(x, 4)), f"{x:,.2f}", f"{x:.2f}", f"{x:.4f}"]
    return out


def leaks(folder: Path) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(folder)}: {n}" for n in needles() if n in text]
        if re.search(rf"\b{PRIVATE_STEPS}\b", text):
            found.append(f"{path.relative_to(folder)}: the private interval count")
    return found


@pytest.fixture
def competition_env(arena_home, monkeypatch):
    monkeypatch.setenv("ARENA_COMPETITION_NAME", "held-out cup")
    monkeypatch.setenv("ARENA_COMPETITION_RULES", RULES)
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_START", str(START))
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_END", str(END))
    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_WINDOWS", f"{P_START}..{P_END}")
    monkeypatch.setenv("ARENA_SITE_FOLDER", str(arena_home / "site"))
    return arena_home


@pytest.fixture
def store(competition_env):
    from tasks.store import open_store

    store = open_store()
    teams, subs, _ = make_competition()
    for team in teams:
        store.put_team(team)
    backtest = submission(101, "Sparky", sha("b"), score=BACKTEST_OVER_HELD_OUT, start=P_START, end=P_END)
    for record in [*subs, *private_records(), backtest]:
        store.put_submission(record)
    # A task row a team page shows, to prove rows reach the pages as usual.
    store.create_task("evaluate", type="evaluation", team_id=101, team_name="Sparky", diagnostic="scored 30.00")
    yield store
    store.close()


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("windows, problem", [
    ("2023-05-03T00:00..2023-05-01T00:00", "ends before it starts"),
    ("2023-05-01", "is not START..END"),
    ("soon..later", "not a time"),
    ("2023-04-15T12:00..2023-04-17T00:00", "overlaps the public window"),
    ("2023-05-01T00:00..2023-05-03T00:00,2023-05-02T00:00..2023-05-04T00:00", "overlap"),
])
def test_a_wrong_held_out_window_is_refused_with_the_reason(windows, problem):
    with pytest.raises(ValidationError, match=problem):
        CompetitionSettings(window_start="2023-04-15T00:05", window_end="2023-04-16T00:00", private_windows=windows)


def test_an_open_public_window_cannot_hold_a_private_one_and_counts_are_checked():
    with pytest.raises(ValidationError, match="overlaps the public window .*the end of the data"):
        CompetitionSettings(window_start="2023-04-15T00:05", private_windows="2023-05-01T00:00..2023-05-02T00:00")
    with pytest.raises(ValidationError, match="best_public:N"):
        CompetitionSettings(private_counts="best_public:0")
    held = CompetitionSettings(window_start="2023-04-20T00:05", window_end="2023-04-30T00:00",
                               private_windows=" 2023-05-01T00:00..2023-05-02T00:00 , 2023-04-15T00:00..2023-04-16T00:00",
                               private_counts="best_public:3")
    # in time order; the past one is held-out history, the later one the end of the live period
    assert [iso_utc(w.start) for w in held.private] == ["2023-04-14T14:00:00Z", "2023-04-30T14:00:00Z"]
    assert held.counted == ("best_public", 3)


# -- before and after the reveal -----------------------------------------------------------------


def test_before_the_reveal_no_private_number_is_in_any_published_file(store):
    settings = load_settings()
    folder = publish_site(store, settings)
    assert (folder / "index.html").is_file() and len(list((folder / "teams").glob("*.html"))) == 7
    assert leaks(folder) == []
    board = json.loads((folder / "leaderboard.json").read_text())
    assert board["private"] == {"revealed": False}
    # the public board is as without held-out windows: 101's current commit ranks first
    assert [r["team_id"] for r in board["rows"] if r["rank"]] == [101, 102, 105, 104]
    assert "Final ranking" not in (folder / "index.html").read_text()
    assert not any(n in json.dumps(artifact_table(board)) for n in needles())
    # the team page still has its public history and task rows
    page = (folder / "teams" / "101.html").read_text()
    assert "scored 30.00" in page and "Final rank" not in page


def test_after_the_reveal_the_final_ranking_follows_the_private_scores(store):
    settings = load_settings()
    done = reveal.reveal(store, by="organiser-x")
    assert reveal.reveal(store, by="someone else") == done  # a second reveal keeps the first record
    folder = publish_site(store, settings)
    final = json.loads((folder / "leaderboard.json").read_text())["private"]
    assert final["revealed"] and final["revealed_by"] == "organiser-x" and final["counts"] == "latest"
    assert final["windows"] == [{"start": iso_utc(P_START), "end": iso_utc(P_END), "scored": True}]
    rows = {r["team_id"]: r for r in final["rows"]}
    # private values: 102 > 105 > 101 > 104; the ranking is arena/scoring.rank's own
    ranked = [r["team_id"] for r in final["rows"] if r["rank"] is not None]
    assert ranked == [102, 105, 101, 104]
    expected = [p.record.team_id for p in rank([r for r in private_records()
                                               if r.team_id in (101, 102, 104, 105) and r.git_commit_hash != sha("a")])]
    assert ranked == expected
    assert rows[102]["value"] == PRIVATE_VALUES[102] and rows[102]["git_commit_hash"] == sha("d")
    assert {t: rows[t]["shake_up"] for t in ranked} == {102: 1, 105: 1, 101: -2, 104: 0}
    assert rows[103]["status"] == "error" and rows[103]["error"] == PRIVATE_ERROR and rows[103]["rank"] is None
    assert rows[107]["status"] == "none" and rows[106]["status"] == "none"

    index = (folder / "index.html").read_text()
    assert "Final ranking" in index and "▼ 2" in index and "▲ 1" in index and f"{P_BASE + 777.7777:,.2f}" in index
    page = (folder / "teams" / "101.html").read_text()
    assert "Final rank" in page and "▼ 2" in page and f"{PRIVATE_VALUES[101]:,.2f}" in page
    # a backtest over the held-out window is never shown, revealed or not
    assert not any(n in index + page for n in (f"{BACKTEST_OVER_HELD_OUT:,.2f}", repr(BACKTEST_OVER_HELD_OUT)))
    table = artifact_table(json.loads((folder / "leaderboard.json").read_text()))
    assert [(row["final rank"], row["public rank"], row["shake-up"]) for row in table[:4]] == [
        (1, 2, 1), (2, 3, 1), (3, 1, -2), (4, 4, 0)]

    assert reveal.unreveal(store)
    folder = publish_site(store, settings)
    assert leaks(folder) == []


def test_which_submissions_count_best_public_and_a_teams_choice(store, monkeypatch):
    reveal.reveal(store)
    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_COUNTS", "best_public:2")
    final = board_from_store(store, load_settings())["private"]
    rows = {r["team_id"]: r for r in final["rows"]}
    # 101's two best public commits are a (value 40) and b (20); a's private result is the better
    assert rows[101]["counted"] == [sha("a"), sha("b")] and rows[101]["git_commit_hash"] == sha("a")
    assert rows[101]["rank"] == 1 and rows[101]["shake_up"] == 0

    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_COUNTS", "latest")
    assert board_from_store(store, load_settings())["private"]["rows"][0]["team_id"] == 102
    with pytest.raises(BadInput, match="none of its submissions"):
        reveal.choose(store, 101, ["deadbeef"], most=1)
    with pytest.raises(BadInput, match="at most 1"):
        reveal.choose(store, 101, [sha("a"), sha("b")], most=1)
    assert reveal.choose(store, 101, [sha("a")[:9]], most=1, by="on request") == [(sha("a"), "2023-04-13T00:00:00.000000Z")]
    rows = {r["team_id"]: r for r in board_from_store(store, load_settings())["private"]["rows"]}
    assert rows[101]["counted"] == [sha("a")] and rows[101]["rank"] == 1
    reveal.clear_choice(store, 101)
    rows = {r["team_id"]: r for r in board_from_store(store, load_settings())["private"]["rows"]}
    assert rows[101]["counted"] == [sha("b")] and rows[101]["rank"] == 3


def test_several_held_out_windows_add_up_and_one_not_scored_yet_says_so(store, monkeypatch):
    later = (P_END + 3600, P_END + 3600 + 86400)
    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_WINDOWS", f"{P_START}..{P_END},{later[0]}..{later[1]}")
    reveal.reveal(store)
    final = board_from_store(store, load_settings())["private"]
    assert [w["scored"] for w in final["windows"]] == [True, False]  # nobody has a record over the second
    second = private(102, EVIL, sha("d"), -1000.0)
    second = second.model_copy(update={"window_start": later[0], "window_end": later[1],
                                       "key": SubmissionRecord.make_key(sha("d"), *later, RULES, private=True)})
    store.put_submission(second)
    final = board_from_store(store, load_settings())["private"]
    rows = {r["team_id"]: r for r in final["rows"]}
    # scored now: 102 has both windows (777.78 - 1000 in all), the others miss the second: unranked
    assert [w["scored"] for w in final["windows"]] == [True, True]
    assert rows[102]["rank"] == 1 and rows[102]["value"] == round(PRIVATE_VALUES[102] - 1000.0, 4)
    assert rows[101]["rank"] is None and rows[101]["status"] == "none"


def test_a_public_evaluation_over_a_held_out_window_is_refused_until_the_reveal(store):
    from tasks.evaluation import refuse_held_out

    with pytest.raises(BadInput, match="held-out window"):
        refuse_held_out(store, P_START - 86400, P_START + 3600)
    refuse_held_out(store, START, END)  # the public window itself
    reveal.reveal(store)
    refuse_held_out(store, P_START, P_END)


def test_dynamodb_keeps_the_private_marker(monkeypatch):
    from moto import mock_aws

    from arena.settings import StoreSettings
    from tasks.store import open_store
    from tests.store.conftest import AWS_ENV

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        store = open_store(StoreSettings(url="dynamodb", table_prefix="private-test"), create=True)
        record = private(102, EVIL, sha("d"), PRIVATE_VALUES[102])
        public = submission(102, EVIL, sha("d"), score=1.0, start=P_START, end=P_END)
        store.put_submission(record)
        store.put_submission(public)
        back = store.get_submission(102, record.key)
        assert back.private is True and back.key.endswith(PRIVATE_KEY_MARK) and back.score == record.score
        assert store.get_submission(102, public.key).private is False
        split = heldout.public_only(store.list_submissions(102), [])
        assert [r.key for r in split] == [public.key]


@pytest.mark.browser
def test_the_revealed_page_in_a_browser(store, tmp_path):
    from tests.leaderboard.browser import Browser

    reveal.reveal(store)
    folder = publish_site(store, load_settings())
    browser = Browser(tmp_path / "chromium-profile")
    try:
        page = browser.open((folder / "index.html").as_uri())
        order = page.eval("[...document.querySelectorAll('#final tbody tr')].map(r => r.dataset.teamId)")
        assert order[:4] == ["102", "105", "101", "104"]
        shake = page.eval("[...document.querySelectorAll('#final tbody tr td.shake')].map(c => c.innerText)")
        assert shake[:4] == ["▲ 1", "▲ 1", "▼ 2", "="]
        assert page.eval("document.querySelectorAll('#ranking tbody tr').length") == 7  # public ranking too
        assert page.problems() == []
        team = browser.open((folder / "teams" / "101.html").as_uri())
        assert "▼ 2" in team.eval("document.querySelector('#final-facts').innerText")
        assert team.problems() == []
    finally:
        browser.close()


def test_the_organiser_commands_reveal_choose_and_show_no_private_number(store):
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["final", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["revealed"] is None and {(r["team_id"], r["scored"]) for r in report["rows"]} >= {(101, True), (107, False)}
    assert not any(n in shown.output for n in needles())
    published = runner.invoke(app, ["publish", "--no-artifact"])
    assert published.exit_code == 0 and "final ranking" not in published.output
    assert not any(n in published.output for n in needles())
    chosen = runner.invoke(app, ["final", "choose", "--team", "101", "--commit", "nothere1"])
    assert chosen.exit_code == 2 and "none of its submissions" in chosen.output
    chosen = runner.invoke(app, ["final", "choose", "--team", "101", "--commit", sha("a")[:8], "--by", "desk"])
    assert chosen.exit_code == 0 and sha("a")[:12] in chosen.output

    done = runner.invoke(app, ["reveal", "--by", "chair"])
    assert done.exit_code == 0 and "by chair" in done.output, done.output
    board = json.loads((load_settings().site.folder / "leaderboard.json").read_text())
    assert board["private"]["revealed_by"] == "chair" and board["private"]["rows"][0]["team_id"] == 101
    published = runner.invoke(app, ["publish", "--no-artifact"])
    assert published.exit_code == 0 and "final ranking" in published.output, published.output
    undone = runner.invoke(app, ["reveal", "--undo"])
    assert undone.exit_code == 0 and "taken back" in undone.output
    assert leaks(load_settings().site.folder) == []


def test_reveal_refuses_while_a_held_out_window_is_not_scored(store, monkeypatch):
    from typer.testing import CliRunner

    from cli import app

    later = f"{P_END + 3600}..{P_END + 7200}"
    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_WINDOWS", f"{P_START}..{P_END},{later}")
    refused = CliRunner().invoke(app, ["reveal"])
    assert refused.exit_code == 2 and "not scored yet" in refused.output and reveal.revealed(store) is None
    partial = CliRunner().invoke(app, ["reveal", "--partial", "--no-publish"])
    assert partial.exit_code == 0 and reveal.revealed(store) is not None
