"""A team's `repo` (and `branch`) as an attack on the host: refused at the door (`arena teams add /
edit / import`), refused again at poll and checkout when forced into the store, and harmless even
when handed straight to git (options after `--`, only file/https/ssh, git's own guards)."""

from __future__ import annotations

import pytest
from crafted import commit_spec, init_repo, template
from typer.testing import CliRunner

from arena.models import TaskState, Team
from cli import app
from tasks.gitrepo import GitError, sync_branch
from tasks.submissions import checkout, poll_submissions
from tasks.teamrepo import check_branch, check_repo
from tasks.teamtree import InvalidRepo, SourceError

runner = CliRunner()


def injections(sentinel) -> list[str]:
    """Repo values that ran a command on every poll before (or would have, given the chance)."""
    return [
        f"--upload-pack=touch {sentinel}",
        f"--upload-pack=touch%20{sentinel}",
        f"-c core.sshCommand=touch {sentinel}",
        f"-ccore.sshCommand=touch%20{sentinel}",
        f"ext::sh -c touch% {sentinel}",
        f"ext::sh%20-c%20touch%20{sentinel}",
        "fd::3",
        f"ssh://-oProxyCommand=touch%20{sentinel}/x",
        f"-oProxyCommand=touch%20{sentinel}:x",
        f"host:--upload-pack=touch%20{sentinel}",
    ]


ACCEPTED = [
    ("org/alpha", ("github", "org/alpha")),
    ("https://github.com/org/alpha.git", ("github", "org/alpha")),
    ("git@github.com:org/alpha.git", ("github", "org/alpha")),
    ("https://gitlab.example/org/alpha.git", ("git", "https://gitlab.example/org/alpha.git")),
    ("ssh://git@gitlab.example:2222/org/alpha.git", ("git", "ssh://git@gitlab.example:2222/org/alpha.git")),
    ("git@gitlab.example:org/alpha.git", ("git", "git@gitlab.example:org/alpha.git")),
]
REFUSED = [
    ("http://gitlab.example/org/alpha.git", "http:// is not accepted"),
    ("git://gitlab.example/org/alpha.git", "git:// is not accepted"),
    ("https://user:hunter2@gitlab.example/org/alpha.git", "holds credentials"),
    ("https://ghp_token@gitlab.example/org/alpha.git", "holds credentials"),
    ("https://-oProxy/org/x", "host name is not valid"),
    ("https://gitlab.example/", "names no repository path"),
    ("org/alpha\n", "whitespace or a control character"),
    ("org/al pha", "whitespace or a control character"),
    ("org/\x1b[31mred", "whitespace or a control character"),
    ("../no-such-folder", "no such local folder"),
    ("file://relative/path", "absolute path"),
    ("just-a-word", "not a GitHub owner/name"),
    ("", "empty"),
]


@pytest.mark.parametrize("value, expected", ACCEPTED)
def test_accepted_repo_values(value, expected):
    result = check_repo(value, must_exist=True)
    assert (result.kind, result.where) == expected


@pytest.mark.parametrize("value, why", REFUSED)
def test_refused_repo_values_say_why_and_what_is_accepted(value, why, env):
    with pytest.raises(InvalidRepo) as caught:
        check_repo(value, must_exist=True)
    assert why in caught.value.diagnostic and "Accepted: owner/name (GitHub)" in caught.value.diagnostic
    assert "\n" not in caught.value.diagnostic and "\x1b" not in caught.value.diagnostic


def test_local_folders_are_accepted_only_when_they_exist_at_registration(tmp_path):
    repo = init_repo(tmp_path / "alpha")
    assert check_repo(str(repo), must_exist=True).where == str(repo)
    assert check_repo(f"file://{repo}", must_exist=True).where == f"file://{repo}"
    with pytest.raises(InvalidRepo, match="no such local folder"):
        check_repo(str(tmp_path / "missing"), must_exist=True)
    with pytest.raises(InvalidRepo, match="no such local folder"):
        check_repo(f"file://{tmp_path / 'missing'}", must_exist=True)
    # At poll time a vanished folder is an unreachable repository, reported as such, not a bad value.
    assert check_repo(str(tmp_path / "missing")).where == str(tmp_path / "missing")


@pytest.mark.parametrize("branch", ["--upload-pack=x", "-f", "main:refs/heads/x", "a..b", "a b", "x\n", ".hidden",
                                    "ends.lock", "re@{1}", "star*", ""])
def test_refused_branch_names(branch):
    with pytest.raises(InvalidRepo, match="branch .* is refused"):
        check_branch(branch)


def test_ordinary_branch_names():
    for branch in ("main", "comp/2024-final", "team_7.v2"):
        assert check_branch(branch) == branch


def _arena(*args):
    return runner.invoke(app, list(args))


def test_injections_are_refused_at_add_edit_and_import(tmp_path, store):
    sentinel = tmp_path / "PWNED"
    for index, value in enumerate(injections(sentinel)):
        result = _arena("teams", "add", "--id", str(110 + index), "--name", "X", f"--repo={value}")
        assert result.exit_code != 0, value
        said = " ".join(result.output.split())
        assert "is refused" in said and "Accepted: owner/name (GitHub)" in said, said
        assert len(result.output.strip().splitlines()) == 1
    assert store.list_teams() == []

    good = init_repo(tmp_path / "good")
    assert _arena("teams", "add", "--id", "101", "--name", "Good", f"--repo={good}").exit_code == 0
    result = _arena("teams", "edit", "101", f"--repo=--upload-pack=touch {sentinel}")
    assert result.exit_code != 0 and "starts with '-'" in result.output
    result = _arena("teams", "edit", "101", "--branch=--upload-pack=x")
    assert result.exit_code != 0 and "branch" in result.output
    assert (store.get_team(101).repo, store.get_team(101).branch) == (str(good), "main")

    rows = tmp_path / "teams.csv"
    rows.write_text(f"team_id,team_name,repo\n102,Fine,org/fine\n103,Evil,\"--upload-pack=touch {sentinel}\"\n"
                    f"104,Gone,{tmp_path / 'no-such-folder'}\n")
    result = _arena("teams", "import", str(rows))
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and "nothing imported" in said and "row 2" in said and "row 3" in said
    assert "row 1" not in said
    assert [t.team_id for t in store.list_teams()] == [101]
    assert not sentinel.exists()


def test_an_injection_forced_into_the_store_is_a_problem_row_and_runs_nothing(tmp_path, store, settings):
    sentinel = tmp_path / "PWNED"
    good = init_repo(tmp_path / "good")
    good_sha = commit_spec(good, template())
    store.put_team(Team(team_id=101, team_name="Good", repo=str(good)))
    evil = injections(sentinel)
    for index, value in enumerate(evil):
        store.put_team(Team(team_id=110 + index, team_name=f"Evil{index}", repo=value))
    store.put_team(Team(team_id=130, team_name="EvilBranch", repo=str(good), branch="--upload-pack=touch x"))

    report = poll_submissions(store, settings)
    assert [(s.team_id, s.sha) for s in report.submissions] == [(101, good_sha)]
    assert report.errors == ()
    problems = {p.team_id: p for p in report.problems}
    assert sorted(problems) == [110 + i for i in range(len(evil))] + [130]
    for team_id, problem in problems.items():
        assert problem.kind == "repo"
        row = store.get_task(problem.task_id)
        assert row.state_ == TaskState.error and row.team_id == team_id and "is refused" in row.diagnostic
    assert poll_submissions(store, settings).problems[0].task_id is None  # once, not every poll

    # A checkout of a forced value is refused the same way (prepare_checkout makes it the team's error).
    with pytest.raises(InvalidRepo):
        checkout(store.get_team(110), "a" * 40, tmp_path / "run", settings)
    assert not sentinel.exists() and not (tmp_path / "run").exists()


def test_git_itself_never_takes_a_value_as_an_option(tmp_path, settings):
    """Below the validator: handed straight to the fetch, no value runs anything."""
    sentinel = tmp_path / "PWNED"
    for value in injections(sentinel):
        with pytest.raises((SourceError, GitError)):
            sync_branch(value, "main", settings.mirror_dir / "direct.git", timeout_s=30)
    assert not sentinel.exists()


def test_a_fixed_repo_value_is_polled_again(tmp_path, store, settings):
    good = init_repo(tmp_path / "good")
    store.put_team(Team(team_id=140, team_name="Typo", repo="-org/alpha"))
    (problem,) = poll_submissions(store, settings).problems
    assert problem.kind == "repo"
    store.put_team(Team(team_id=140, team_name="Typo", repo=str(good)))
    sha = commit_spec(good, template())
    report = poll_submissions(store, settings)
    assert [s.sha for s in report.submissions] == [sha] and report.problems == ()
