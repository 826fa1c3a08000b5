"""Polling and checkout of local repos (paths and file:// URLs) with the git command."""

from __future__ import annotations

import pytest
from git_helpers import commit, git, make_repo

from arena.models import TaskState, Team
from arena.settings import SubmissionSettings
from tasks.gitrepo import CheckoutTooLarge, CommitMissing
from tasks.submissions import checkout, find_new_submissions, poll_submissions


def kickoffs(store, team_id):
    return [r for r in store.list_tasks(team_id=team_id) if r.type.value == "submission-kickoff" and r.state_ == TaskState.pending]


def test_three_teams_give_exactly_three_requests_for_the_right_commits(tmp_path, store, settings):
    alpha, beta, gamma = (make_repo(tmp_path / n) for n in ("alpha", "beta", "gamma"))
    store.put_team(Team(team_id=101, team_name="Alpha", city="SYD", repo=str(alpha)))
    store.put_team(Team(team_id=102, team_name="Beta", city="MEL", repo=f"file://{beta}"))
    store.put_team(Team(team_id=103, team_name="Gamma", city="SYD", repo=str(gamma)))
    assert poll_submissions(store, settings).submissions == ()  # the template commit is not a submission

    a1 = commit(alpha, "first submission", {"bot/policies/hold.py": "class Hold: pass  # v1\n"})
    a2 = commit(alpha, "Submission: tuned thresholds", {"bot/policies/hold.py": "class Hold: pass  # v2\n"})
    commit(beta, "refactor, nothing to evaluate yet")
    g1 = commit(gamma, "our submission")

    report = poll_submissions(store, settings)
    assert [(s.team_id, s.sha) for s in report.submissions] == [(101, a1), (101, a2), (103, g1)]
    assert report.problems == () and report.errors == ()
    assert [r.git_commit_hash for r in kickoffs(store, 101)] == [a1, a2]
    assert kickoffs(store, 102) == []
    assert [(r.git_commit_hash, r.team_name) for r in kickoffs(store, 103)] == [(g1, "Gamma")]
    assert len(store.list_tasks()) == 3

    # Polling again finds nothing: each commit is requested once.
    assert poll_submissions(store, settings).submissions == ()
    assert len(store.list_tasks()) == 3


def test_first_poll_picks_up_submissions_pushed_before_registration(tmp_path, store, settings):
    repo = make_repo(tmp_path / "r")
    old = commit(repo, "submission from before registration")
    team = Team(team_id=150, team_name="Late", repo=str(repo))
    store.put_team(team)
    assert [s.sha for s in find_new_submissions(team, store, settings)] == [old]


def test_pattern_is_configurable_and_case_insensitive(tmp_path, store, env):
    env.setenv("ARENA_SUBMISSIONS_PATTERN", "[eval]")
    repo = make_repo(tmp_path / "r")
    store.put_team(team := Team(team_id=120, team_name="T", repo=str(repo)))
    commit(repo, "submission but not with the new word")
    wanted = commit(repo, "please [EVAL] this")
    assert [s.sha for s in find_new_submissions(team, store, SubmissionSettings())] == [wanted]


def test_force_push_is_a_team_visible_diagnostic_and_new_history_is_picked_up(tmp_path, store, settings):
    repo = make_repo(tmp_path / "r")
    team = Team(team_id=110, team_name="Rewriters", repo=str(repo))
    store.put_team(team)
    first = commit(repo, "submission one")
    assert [s.sha for s in find_new_submissions(team, store, settings)] == [first]

    git(repo, "reset", "-q", "--hard", "HEAD~1")  # drop it, as `git push --force` would
    again = commit(repo, "submission one, rewritten")
    polled = poll_submissions(store, settings)
    assert [s.sha for s in polled.submissions] == [again]
    (problem,) = polled.problems
    assert problem.kind == "rewritten" and problem.task_id is not None
    row = store.get_task(problem.task_id)
    assert row.state_ == TaskState.error and row.team_id == 110
    assert "force-pushed" in row.diagnostic and first[:12] in row.diagnostic
    # The rewrite is reported once, not on every poll.
    assert poll_submissions(store, settings).problems == ()
    assert [r.git_commit_hash for r in kickoffs(store, 110)] == [first, again]


def test_missing_repo_and_branch_are_reported_once_then_recover(tmp_path, store, settings):
    missing = tmp_path / "not-yet"
    team = Team(team_id=130, team_name="Ghost", repo=str(missing), branch="main")
    store.put_team(team)
    first = poll_submissions(store, settings)
    (problem,) = first.problems
    assert problem.kind == "unreachable" and "cannot read the repository" in problem.diagnostic
    assert store.get_task(problem.task_id).state_ == TaskState.error
    second = poll_submissions(store, settings)
    assert second.problems[0].task_id is None  # known already: no second row
    assert len(store.list_tasks(team_id=130)) == 1

    make_repo(missing, branch="trunk")  # repo appears, but with another branch
    (problem,) = poll_submissions(store, settings).problems
    assert problem.kind == "branch" and "'main' does not exist" in problem.diagnostic

    git(missing, "branch", "-m", "trunk", "main")
    sha = commit(missing, "submission at last")
    report = poll_submissions(store, settings)
    assert [s.sha for s in report.submissions] == [sha] and report.problems == ()


def test_a_failed_row_write_gives_the_commit_back(tmp_path, store, settings):
    """Fault injection around the real store: the first create_task fails after the claim."""
    repo = make_repo(tmp_path / "r")
    team = Team(team_id=140, team_name="Unlucky", repo=str(repo))
    store.put_team(team)
    sha = commit(repo, "submission")

    class FailOnce:
        def __init__(self, inner):
            self.inner, self.failed = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def create_task(self, *args, **kwargs):
            if not self.failed:
                self.failed = True
                raise RuntimeError("store went away")
            return self.inner.create_task(*args, **kwargs)

    with pytest.raises(RuntimeError):
        find_new_submissions(team, FailOnce(store), settings)
    assert store.get_meta(f"seen:140:{sha}") is None
    assert [s.sha for s in find_new_submissions(team, store, settings)] == [sha]


def test_checkout_is_exactly_that_commit_without_git_metadata(tmp_path, store, settings):
    repo = make_repo(tmp_path / "r")
    team = Team(team_id=160, team_name="Exact", repo=f"file://{repo}")
    wanted = commit(repo, "submission", {"bot/policies/hold.py": "VERSION = 1\n", "bot/extra.txt": "x"})
    commit(repo, "later", {"bot/policies/hold.py": "VERSION = 2\n", "bot/later.txt": "y"})
    git(repo, "remote", "add", "origin", "https://user:secret-token@example.invalid/x.git")

    dest = checkout(team, wanted, tmp_path / "run-1", settings)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["bot/config.json", "bot/extra.txt", "bot/policies/hold.py", "bot/requirements.txt"]
    assert (dest / "bot/policies/hold.py").read_text() == "VERSION = 1\n"
    assert not any("secret-token" in p.read_text(errors="ignore") for p in dest.rglob("*") if p.is_file())


def test_checkout_after_the_branch_moved_past_a_rewrite_still_gets_the_commit(tmp_path, store, settings):
    repo = make_repo(tmp_path / "r")
    team = Team(team_id=161, team_name="Moved", repo=str(repo))
    wanted = commit(repo, "submission", {"a.txt": "kept\n"})
    git(repo, "branch", "keep", wanted)  # the object stays reachable, as on a server with other refs
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    commit(repo, "submission 2")
    dest = checkout(team, wanted, tmp_path / "run", settings)
    assert (dest / "a.txt").read_text() == "kept\n"


def test_checkout_refuses_oversized_trees_and_unknown_commits(tmp_path, store, env):
    env.setenv("ARENA_SUBMISSIONS_MAX_CHECKOUT_MB", "1")
    settings = SubmissionSettings()
    repo = make_repo(tmp_path / "r")
    team = Team(team_id=170, team_name="Heavy", repo=str(repo))
    big = commit(repo, "submission with data", {"data.bin": "0123456789" * 150_000})
    with pytest.raises(CheckoutTooLarge, match="over the 1 MB limit"):
        checkout(team, big, tmp_path / "run-big", settings)
    assert not (tmp_path / "run-big").exists()
    with pytest.raises(CommitMissing):
        checkout(team, "0" * 40, tmp_path / "run-none", settings)
    with pytest.raises(ValueError, match="40-character"):
        checkout(team, "abc123", tmp_path / "run-short", settings)
