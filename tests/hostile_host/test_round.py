"""One round with hostile teams beside an honest one, through `evaluate_submission` (the body of
the evaluate-submission flow; the process sandbox named explicitly): every attack ends as that
team's record with status "error" and a reason it can act on; nothing raises; the honest team
scores; nothing is written outside the checkouts; no secret and no command escapes."""

from __future__ import annotations

import json
import tarfile

import pytest
from crafted import CONFIG, HOLD, SECRET, Link, commit_spec, init_repo, member, tarball, template
from flowkit import WINDOW_END, WINDOW_START, team_repo

from arena.models import Team
from tasks import evaluation

TOP = "org-hostile-abc1234"


def _evaluate(store, team_id, sha):
    return evaluation.evaluate_submission(store, team_id, sha, window_start=WINDOW_START, window_end=WINDOW_END,
                                          rules="gbh2024-tariff", backend="process")


def test_a_round_with_hostile_trees_and_values(tmp_path, market, stub, outside, untouched):
    store = market
    sentinel = tmp_path / "PWNED"
    commits: dict[int, str] = {}
    reasons: dict[int, str] = {}

    def add(team_id: int, repo: str, sha: str, reason: str) -> None:
        store.put_team(Team(team_id=team_id, team_name=f"team-{team_id}", repo=repo))
        commits[team_id], reasons[team_id] = sha, reason

    honest, honest_sha = team_repo(tmp_path / "repos", "sunrise-solar")
    add(101, str(honest), honest_sha, "")

    gh = init_repo(tmp_path / "gh")
    gh_sha = commit_spec(gh, template())
    stub.repos["org/hostile"] = gh
    stub.tarballs[gh_sha] = tarball(TOP, [member(f"{TOP}/evil", tarfile.SYMTYPE, linkname="../outside"),
                                          member(f"{TOP}/evil/pwned", data=b"x\n")])
    add(102, "org/hostile", gh_sha, "'evil/pwned' is inside 'evil', which is a link")

    dup = init_repo(tmp_path / "dup")
    add(103, str(dup), commit_spec(dup, template(("bot", Link("../outside")))), "git refused the objects")

    newline = init_repo(tmp_path / "newline")
    add(104, str(newline), commit_spec(newline, template(("evil\nname.py", b"x\n"))), "control character")

    absolute = init_repo(tmp_path / "absolute")
    add(105, f"file://{absolute}", commit_spec(absolute, template(("data", Link(str(outside / "secret.txt"))))),
        "link to the absolute path")

    no_bot = init_repo(tmp_path / "nobot")
    add(106, str(no_bot), commit_spec(no_bot, [("src", [("main.py", b"print(1)\n")])]), "no bot/ folder")

    config_dir = init_repo(tmp_path / "configdir")
    add(107, str(config_dir), commit_spec(config_dir, [("bot", [("config.json", [("x", b"{}")]),
                                                                ("policies", [("hold.py", HOLD)])])]),
        "bot/config.json is not a regular file")

    config_out = init_repo(tmp_path / "configout")  # a link inside the repository, but out of bot/
    add(108, str(config_out), commit_spec(config_out, [("notes.json", CONFIG), ("bot", [
        ("config.json", Link("../notes.json")), ("policies", [("hold.py", HOLD)])])]), "leads out of bot/")

    add(109, f"--upload-pack=touch {sentinel}", honest_sha, "starts with '-'")  # as if the store were edited by hand

    check = untouched()
    records = {team_id: _evaluate(store, team_id, sha) for team_id, sha in commits.items()}
    check()  # checkouts are removed after each evaluation: nothing of them may remain either

    assert records[101].status == "success" and records[101].score is not None
    for team_id, reason in reasons.items():
        if team_id == 101:
            continue
        record = records[team_id]
        assert record.status == "error" and record.score is None, (team_id, record)
        assert reason in record.error, (team_id, record.error)
        assert record.error.startswith(f"checkout of {commits[team_id][:12]}") or "bot/" in record.error
        assert store.get_submission(team_id, record.key) == record
    assert not sentinel.exists()
    stored = json.dumps([r.to_item() for r in store.list_submissions()])
    assert SECRET not in stored


@pytest.mark.parametrize("name", ["only-the-top-folder", "a-readme-only"])
def test_an_archive_without_bot_is_the_teams_error(name, tmp_path, market, stub):
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, template())
    stub.repos["org/empty"] = repo
    members = [] if name == "only-the-top-folder" else [member(f"{TOP}/README", data=b"hi\n")]
    stub.tarballs[sha] = tarball(TOP, members, with_template=False)
    market.put_team(Team(team_id=120, team_name="empty", repo="org/empty"))
    record = _evaluate(market, 120, sha)
    assert record.status == "error" and "no bot/ folder" in record.error


def test_odd_trees_end_on_the_teams_task_row_and_page(tmp_path, market, outside):
    """The same attacks, followed to what the team reads: its task row (as the flow's completion
    hook writes it) and its page on the published site, beside the honest team's score."""
    from markupsafe import escape

    from arena.settings import load_settings
    from tasks import taskrows
    from tasks.publish import publish_site

    store = market
    honest, honest_sha = team_repo(tmp_path / "repos", "sunrise-solar")
    absolute = init_repo(tmp_path / "absolute")
    config_out = init_repo(tmp_path / "configout")
    cases = {
        101: (str(honest), honest_sha, None),
        105: (str(absolute), commit_spec(absolute, template(("data", Link(str(outside / "secret.txt"))))),
              "link to the absolute path"),
        108: (str(config_out), commit_spec(config_out, [("notes.json", CONFIG), ("bot", [
            ("config.json", Link("../notes.json")), ("policies", [("hold.py", HOLD)])])]), "leads out of bot/"),
    }
    rows = {}
    for team_id, (repo, sha, _) in cases.items():
        store.put_team(Team(team_id=team_id, team_name=f"team-{team_id}", repo=repo))
        rows[team_id] = store.create_task(f"evaluate {sha[:12]}", type="evaluation", team_id=team_id,
                                          git_commit_hash=sha).id
        taskrows.mark_evaluated(store, rows[team_id], _evaluate(store, team_id, sha))

    folder = publish_site(store, load_settings(), warn=lambda message: None)
    assert store.get_task(rows[101]).state_.value == "success"
    board = json.loads((folder / "leaderboard.json").read_text())
    assert [(r["team_id"], r["rank"], r["status"]) for r in board["rows"]] == [
        (101, 1, "success"), (105, None, "error"), (108, None, "error")]
    for team_id, (_, _, reason) in cases.items():
        if reason is None:
            continue
        row = store.get_task(rows[team_id])
        assert row.state_.value == "error" and reason in row.diagnostic, row
        page = (folder / "teams" / f"{team_id}.html").read_text()
        assert str(escape(reason)) in page and "Your submission failed" in page
        assert SECRET not in page
