"""Submission limits over a real git repo and a real SQLite store: a team pushing 5 submissions
with a limit of 3 per NEM day gets 3 queued for evaluation and 2 recorded as over the limit (shown
on its rendered page with when the next one counts), a per-team override, the next NEM day, and
two poller processes racing for the last slot."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from git_helpers import commit, make_repo
from test_submissions_two_pollers import race

from arena.models import SubmissionRecord, Team
from arena.settings import CompetitionSettings, load_settings
from tasks import limits
from tasks.gitrepo import CommitInfo
from tasks.publish import publish_site
from tasks.rounds import current_commits
from tasks.submissions import poll_submissions, request_evaluation
from tasks.taskrows import run_pending

# 23:30 NEM time on 3 Dec (13:30 UTC); the NEM day ends at 14:00 UTC.
LATE = datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
NEXT_MORNING = datetime(2026, 12, 3, 14, 0, 1, tzinfo=UTC)  # 00:00:01 on 4 Dec, NEM time


def _rows(store, team_id):
    return [r for r in store.list_tasks(team_id=team_id) if r.git_commit_hash]


def _push(repo, n, first=0):
    return [commit(repo, f"submission {k}", {"bot/n.txt": str(k)}) for k in range(first, first + n)]


def test_five_submissions_with_a_limit_of_three_per_day(tmp_path, store, settings, env):
    env.setenv("ARENA_COMPETITION_SUBMISSIONS_PER_DAY", "3")
    repo = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", repo=str(repo)))
    shas = _push(repo, 5)

    report = poll_submissions(store, settings, now=lambda: LATE)

    rows = _rows(store, 101)
    assert [r.git_commit_hash for r in rows] == shas  # every one recorded, none dropped
    assert [r.state_.value for r in rows] == ["pending"] * 3 + ["over-limit"] * 2
    over = rows[3:]
    for row in over:
        assert "3 submission(s) per NEM day already counted on 2026-12-03" in row.diagnostic
        assert "The next submission counts from 2026-12-04 00:00 AEST" in row.diagnostic
    assert report.teams[0].new == tuple(shas[:3]) and report.teams[0].over_limit == tuple(shas[3:])
    assert "2 over the submission limit" in report.teams[0].line()
    # The round's current submission is the newest that counts, never an over-limit one.
    assert current_commits(store)[101][0] == shas[2]

    evaluated = []

    def evaluate(row):
        evaluated.append(row.git_commit_hash)
        return SubmissionRecord(team_id=101, key=SubmissionRecord.make_key(row.git_commit_hash, 0, 300, "r"),
                                git_commit_hash=row.git_commit_hash, window_start=0, window_end=300, rules="r",
                                status="error", error="not evaluated in this test")

    summary = run_pending(store, evaluate_kickoff=evaluate)
    assert evaluated == shas[:3] and sorted(summary.ran) == sorted(r.id for r in rows[:3])
    assert [r.state_.value for r in _rows(store, 101)][3:] == ["over-limit"] * 2  # never evaluated

    # A second poll finds nothing new: the over-limit commits stay recorded once.
    again = poll_submissions(store, settings, now=lambda: LATE)
    assert again.submissions == () and len(_rows(store, 101)) == 5

    page = (publish_site(store, load_settings()) / "teams" / "101.html").read_text()
    assert "Over the submission limit" in page
    section = page.split('id="over-limit-h"')[1].split("</section>")[0]
    for sha in shas[3:]:
        assert sha[:8] in section
    for sha in shas[:3]:
        assert sha[:8] not in section
    assert section.count("The next submission counts from 2026-12-04 00:00 AEST") == 2


def test_the_next_nem_day_counts_again(tmp_path, store, settings):
    competition = CompetitionSettings(submissions_per_day=3)
    repo = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", repo=str(repo)))
    today = _push(repo, 4)
    poll_submissions(store, settings, competition=competition, now=lambda: LATE)
    tomorrow = _push(repo, 4, first=4)
    poll_submissions(store, settings, competition=competition, now=lambda: NEXT_MORNING)

    states = {r.git_commit_hash: r.state_.value for r in _rows(store, 101)}
    assert [states[s] for s in today] == ["pending"] * 3 + ["over-limit"]
    assert [states[s] for s in tomorrow] == ["pending"] * 3 + ["over-limit"]
    diagnostic = next(r.diagnostic for r in _rows(store, 101) if r.git_commit_hash == tomorrow[3])
    assert "on 2026-12-04" in diagnostic and "counts from 2026-12-05 00:00 AEST" in diagnostic
    # Counted by when arena received it: the row says so, whatever the commit's own date.
    received = next(r.created_at for r in _rows(store, 101) if r.git_commit_hash == tomorrow[0])
    assert received.startswith("2026-12-03T14:00:01")


def test_a_team_override_and_a_total_limit(tmp_path, store, settings):
    competition = CompetitionSettings(submissions_per_day=1)
    repos = {n: make_repo(tmp_path / f"team{n}") for n in (101, 102, 103)}
    store.put_team(Team(team_id=101, team_name="Default", repo=str(repos[101])))
    store.put_team(Team(team_id=102, team_name="Raised", repo=str(repos[102]), submissions_per_day=4))
    store.put_team(Team(team_id=103, team_name="Free but capped", repo=str(repos[103]),
                        submissions_per_day="unlimited", submissions_total=2))
    for repo in repos.values():
        _push(repo, 5)
    poll_submissions(store, settings, competition=competition, now=lambda: LATE)

    def states(team_id):
        return [r.state_.value for r in _rows(store, team_id)]

    assert states(101) == ["pending"] + ["over-limit"] * 4
    assert states(102) == ["pending"] * 4 + ["over-limit"]
    assert states(103) == ["pending"] * 2 + ["over-limit"] * 3
    total = _rows(store, 103)[2].diagnostic
    assert "all 2 submission(s) of the competition are used" in total and "no later submission counts" in total
    assert limits.limits_for(store.get_team(103), competition) == limits.Limits(None, 2)


def test_a_poll_that_died_holding_a_slot_is_taken_back_into_the_same_slot(tmp_path, store):
    """A poll claimed the commit and its slot, then died before the row: the poll that takes the
    commit back reuses the slot, so the team does not lose a submission to arena's failure."""
    competition = CompetitionSettings(submissions_per_day=2)
    team = Team(team_id=101, team_name="Alpha", repo="org/alpha")
    store.put_team(team)
    sha = "a" * 40
    # What the dead poll left: the seen-claim (by a pid that is gone) and slot 1.
    store.claim(f"seen:101:{sha}", {"team_id": 101, "sha": sha, "claimed_at": "2026-12-03T13:00:00.000000Z",
                                     "by": f"{__import__('socket').gethostname()}:999999999"})
    assert limits.admit(store, team, sha, limits.Limits(2), LATE).admitted
    got = request_evaluation(store, team, CommitInfo(sha=sha, message="submission"), competition=competition,
                             now=lambda: LATE)
    assert got is not None and got.over_limit is None
    second = request_evaluation(store, team, CommitInfo(sha="b" * 40, message="submission"), competition=competition,
                                now=lambda: LATE)
    assert second is not None and second.over_limit is None  # slot 2 was still free


def test_two_pollers_at_once_admit_exactly_the_limit(tmp_path, store, env):
    """Two processes request 40 commits of one team at once with a limit of 7 per day: exactly 7
    are admitted between them, the other 33 recorded over the limit, each commit once."""
    env.setenv("ARENA_COMPETITION_SUBMISSIONS_PER_DAY", "7")
    store.put_team(Team(team_id=101, team_name="Alpha", repo="org/alpha"))
    shas = [f"{n:040x}" for n in range(1, 41)]
    (tmp_path / "shas.json").write_text(json.dumps(shas))

    results = race(tmp_path, "request", str(tmp_path / "shas.json"))
    assert all(r["requested"] for r in results), "one process got everything: no race happened"
    rows = store.list_tasks(team_id=101)
    assert sorted(r.git_commit_hash for r in rows) == shas
    assert sum(r.state_.value == "pending" for r in rows) == 7
    assert sum(r.state_.value == "over-limit" for r in rows) == 33


def test_the_teams_file_sets_and_checks_submission_limits(tmp_path, store):
    from test_submissions_cli import arena, said

    csv_file = tmp_path / "teams.csv"
    csv_file.write_text("team_id,team_name,repo,submissions_per_day,submissions_total\n"
                        "101,Alpha,org/alpha,5,\n102,Beta,org/beta,unlimited,20\n103,Gamma,org/gamma,,\n")
    arena("teams", "import", str(csv_file))
    assert [(t.submissions_per_day, t.submissions_total) for t in store.list_teams()] == [
        (5, None), ("unlimited", 20), (None, None)]
    toml_file = tmp_path / "teams.toml"
    toml_file.write_text('[[teams]]\nteam_id = 104\nteam_name = "Delta"\nrepo = "org/delta"\nsubmissions_per_day = 2\n')
    arena("teams", "import", str(toml_file))
    assert store.get_team(104).submissions_per_day == 2
    assert "per_day=5" in said(arena("teams", "show", "101"))

    bad = tmp_path / "bad.csv"
    bad.write_text("team_id,team_name,repo,submissions_per_day,submissions_total\n"
                   "110,Fine,org/fine,3,\n111,Words,org/w,three,\n112,Negative,org/n,,-1\n")
    out = said(arena("teams", "import", str(bad), ok=False))
    assert "nothing imported" in out
    assert "row 2 (team 111 Words): submissions_per_day 'three' is not a whole number" in out
    assert "row 3 (team 112 Negative): submissions_total '-1' is not a whole number" in out
    assert 110 not in [t.team_id for t in store.list_teams()]
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('[[teams]]\nteam_id = 113\nteam_name = "T"\nrepo = "org/t"\nsubmissions_per_day = true\n')
    assert "submissions_per_day True is not a whole number" in said(arena("teams", "import", str(bad_toml), ok=False))

    arena("teams", "edit", "101", "--submissions-per-day", "default", "--submissions-total", "unlimited")
    assert (store.get_team(101).submissions_per_day, store.get_team(101).submissions_total) == (None, "unlimited")
    assert "is not a whole number" in said(arena("teams", "edit", "101", "--submissions-per-day", "2.5", ok=False))
    arena("teams", "add", "--id", "120", "--name", "Eps", "--repo", "org/eps", "--submissions-per-day", "1")
    assert store.get_team(120).submissions_per_day == 1


@pytest.mark.browser
def test_the_team_page_in_a_browser_lists_the_commits_over_the_limit(tmp_path, store, settings, env):
    from tests.leaderboard.browser import Browser

    env.setenv("ARENA_COMPETITION_SUBMISSIONS_PER_DAY", "3")
    repo = make_repo(tmp_path / "alpha")
    store.put_team(Team(team_id=101, team_name="Alpha", repo=str(repo)))
    shas = _push(repo, 5)
    poll_submissions(store, settings, now=lambda: LATE)
    page_file = publish_site(store, load_settings()) / "teams" / "101.html"

    browser = Browser(tmp_path / "chromium-profile")
    try:
        page = browser.open(page_file.as_uri())
        items = page.eval("""[...document.querySelectorAll('ul.over-limit li')].map(li => ({
            sha: li.querySelector('.mono').title, text: li.innerText,
            shown: li.getBoundingClientRect().height > 0}))""")
        assert sorted(item["sha"] for item in items) == sorted(shas[3:])
        for item in items:
            assert item["shown"] and "over limit" in item["text"]
            assert "The next submission counts from 2026-12-04 00:00 AEST" in item["text"]
        assert page.problems() == []
    finally:
        browser.close()
