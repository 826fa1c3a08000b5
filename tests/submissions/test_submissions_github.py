"""Polling and checkout through PyGithub against the loopback GitHub stand-in (real git repos behind it)."""

from __future__ import annotations

import pytest
from git_helpers import commit, git, make_repo

from arena.models import TaskState, Team
from tasks.github import github_full_name
from tasks.gitrepo import CheckoutTooLarge, CommitMissing
from tasks.submissions import checkout, find_new_submissions, make_github_client, poll_submissions


class FakeClock:
    """Time that only moves when the code under test sleeps; sleeping to the reset refills the stub."""

    def __init__(self, stub, now: float):
        self.stub, self.now, self.sleeps = stub, now, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.now >= self.stub.reset_at:
            self.stub.remaining = self.stub.limit


def kickoff_shas(store, team_id):
    return [r.git_commit_hash for r in store.list_tasks(team_id=team_id) if r.state_ == TaskState.pending]


@pytest.mark.parametrize("repo, expected", [
    ("org/alpha", "org/alpha"),
    ("https://github.com/org/alpha.git", "org/alpha"),
    ("git@github.com:org/alpha.git", "org/alpha"),
    ("https://gitlab.example/org/alpha.git", None),
])
def test_github_names_are_recognised(repo, expected):
    assert github_full_name(repo) == expected


def test_three_github_teams_give_exactly_three_requests(tmp_path, store, stub, settings):
    for team_id, name in ((101, "alpha"), (102, "beta"), (103, "gamma")):
        stub.repos[f"org/{name}"] = make_repo(tmp_path / name)
        store.put_team(Team(team_id=team_id, team_name=name.title(), repo=f"org/{name}"))
    assert poll_submissions(store, settings).submissions == ()

    a1 = commit(stub.repos["org/alpha"], "submission 1")
    a2 = commit(stub.repos["org/alpha"], "submission 2")
    commit(stub.repos["org/beta"], "just a fix")
    g1 = commit(stub.repos["org/gamma"], "Submission")
    report = poll_submissions(store, settings)
    assert [(s.team_id, s.sha) for s in report.submissions] == [(101, a1), (101, a2), (103, g1)]
    assert kickoff_shas(store, 101) == [a1, a2] and kickoff_shas(store, 102) == [] and kickoff_shas(store, 103) == [g1]
    stub.requests.clear()
    assert poll_submissions(store, settings).submissions == ()
    assert len(store.list_tasks()) == 3
    # One API call per team and poll (plus the free /rate_limit): the hourly budget goes a long way.
    assert sorted(p for p in stub.api_paths() if p != "/rate_limit") == [
        "/repos/org/alpha/commits", "/repos/org/beta/commits", "/repos/org/gamma/commits"]
    # PyGithub really went through the API, with arena's token.
    assert "/repos/org/alpha/commits" in stub.api_paths()
    assert {auth for _, _, auth in stub.requests} == {"token test-token-123"}


def test_paging_walks_back_to_the_last_seen_commit(tmp_path, store, stub, settings):
    stub.repos["org/pages"] = repo = make_repo(tmp_path / "pages")
    team = Team(team_id=111, team_name="Pages", repo="org/pages")
    client = make_github_client(settings, per_page=2)
    first = commit(repo, "submission 0")
    assert [s.sha for s in find_new_submissions(team, store, settings, github=client)] == [first]
    new = [commit(repo, f"submission {i}") for i in range(1, 6)]
    stub.requests.clear()
    assert [s.sha for s in find_new_submissions(team, store, settings, github=client)] == new
    assert stub.api_paths().count("/repos/org/pages/commits") == 3  # 5 new commits, 2 a page, cursor on page 3


def test_rate_limit_used_up_waits_for_the_reset_then_polls(tmp_path, store, stub, settings):
    stub.repos["org/busy"] = repo = make_repo(tmp_path / "busy")
    team = Team(team_id=112, team_name="Busy", repo="org/busy")
    sha = commit(repo, "submission")
    stub.remaining, stub.reset_at = 0, 1_000_600
    clock = FakeClock(stub, now=1_000_000)
    client = make_github_client(settings, clock=clock, sleep=clock.sleep)
    assert [s.sha for s in find_new_submissions(team, store, settings, github=client)] == [sha]
    assert clock.sleeps == [601]  # until the reset in x-ratelimit-reset, plus a second
    assert client.waited_s == 601


def test_budget_used_up_by_another_client_mid_poll_is_retried_after_the_reset(tmp_path, store, stub, settings):
    stub.repos["org/mid"] = repo = make_repo(tmp_path / "mid")
    team = Team(team_id=113, team_name="Mid", repo="org/mid")
    sha = commit(repo, "submission")
    stub.reset_at = 1_000_100
    clock = FakeClock(stub, now=1_000_000)
    client = make_github_client(settings, clock=clock, sleep=clock.sleep)
    client.branch_commits("org/mid", "main", stop_at=None, limit=1)  # budget known, plenty left
    stub.refuse_next = ["primary"]  # someone else spends the rest before our next call
    stub.requests.clear()
    assert [s.sha for s in find_new_submissions(team, store, settings, github=client)] == [sha]
    assert clock.sleeps == [101]
    assert stub.api_paths().count("/repos/org/mid/commits") == 2  # the 403, then the retry after the reset


def test_secondary_rate_limit_waits_retry_after(tmp_path, store, stub, settings):
    stub.repos["org/sec"] = repo = make_repo(tmp_path / "sec")
    team = Team(team_id=122, team_name="Sec", repo="org/sec")
    sha = commit(repo, "submission")
    clock = FakeClock(stub, now=1_000_000)
    client = make_github_client(settings, clock=clock, sleep=clock.sleep)
    stub.refuse_next = ["secondary", "secondary"]
    assert [s.sha for s in find_new_submissions(team, store, settings, github=client)] == [sha]
    assert clock.sleeps == [30, 30]


def test_a_reset_too_far_away_is_a_platform_error_not_a_team_row(tmp_path, store, stub, env):
    env.setenv("ARENA_SUBMISSIONS_RATE_LIMIT_MAX_WAIT_S", "60")
    from arena.settings import SubmissionSettings

    settings = SubmissionSettings()
    stub.repos["org/far"] = make_repo(tmp_path / "far")
    commit(stub.repos["org/far"], "submission")
    store.put_team(Team(team_id=114, team_name="Far", repo="org/far"))
    stub.remaining, stub.reset_at = 0, 1_003_600
    clock = FakeClock(stub, now=1_000_000)
    report = poll_submissions(store, settings, github=make_github_client(settings, clock=clock, sleep=clock.sleep))
    assert report.submissions == () and report.problems == ()
    assert len(report.errors) == 1 and "RateLimited" in report.errors[0]
    assert clock.sleeps == [] and store.list_tasks() == []
    # Once the budget is back, the next poll gets it.
    stub.remaining = stub.limit
    assert len(poll_submissions(store, settings).submissions) == 1


def test_deleted_or_private_repo_is_one_clear_error_row(tmp_path, store, stub, settings):
    store.put_team(Team(team_id=115, team_name="Gone", repo="org/gone"))
    store.put_team(Team(team_id=116, team_name="Fine", repo="org/fine"))
    stub.repos["org/fine"] = make_repo(tmp_path / "fine")
    ok = commit(stub.repos["org/fine"], "submission")
    report = poll_submissions(store, settings)
    assert [s.sha for s in report.submissions] == [ok]  # the other team is unaffected
    (problem,) = report.problems
    row = store.get_task(problem.task_id)
    assert (row.team_id, row.state_, row.type.value) == (115, TaskState.error, "submission-kickoff")
    assert "org/gone" in row.diagnostic and "deleted" in row.diagnostic and "private" in row.diagnostic
    poll_submissions(store, settings)
    assert len(store.list_tasks(team_id=115)) == 1  # not one row per poll


def test_missing_branch_on_github(tmp_path, store, stub, settings):
    stub.repos["org/br"] = make_repo(tmp_path / "br")
    store.put_team(Team(team_id=117, team_name="Br", repo="org/br", branch="competition"))
    (problem,) = poll_submissions(store, settings).problems
    assert problem.kind == "branch" and "'competition' does not exist" in problem.diagnostic


def test_force_push_on_github(tmp_path, store, stub, settings):
    stub.repos["org/fp"] = repo = make_repo(tmp_path / "fp")
    team = Team(team_id=118, team_name="Fp", repo="org/fp")
    store.put_team(team)
    first = commit(repo, "submission A")
    poll_submissions(store, settings)
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    second = commit(repo, "submission B")
    report = poll_submissions(store, settings)
    assert [s.sha for s in report.submissions] == [second]
    assert report.problems[0].kind == "rewritten"
    assert "force-pushed" in store.get_task(report.problems[0].task_id).diagnostic
    assert kickoff_shas(store, 118) == [first, second]


def test_checkout_through_the_tarball(tmp_path, store, stub, settings):
    stub.repos["org/tar"] = repo = make_repo(tmp_path / "tar")
    team = Team(team_id=119, team_name="Tar", repo="org/tar")
    wanted = commit(repo, "submission", {"bot/policies/hold.py": "V = 1\n"})
    commit(repo, "later", {"bot/policies/hold.py": "V = 2\n"})
    stub.requests.clear()
    dest = checkout(team, wanted, tmp_path / "run", settings)
    assert (dest / "bot/policies/hold.py").read_text() == "V = 1\n"
    assert not (dest / ".git").exists() and (dest / "bot/config.json").exists()
    assert [p for p in stub.requests if p[1].startswith("/repos/org/tar/tarball/")][0][1].endswith(wanted)
    # The token goes to the API, never to the download host.
    assert [auth for _, path, auth in stub.requests if path.startswith("/_codeload/")] == [None]

    with pytest.raises(CommitMissing):
        checkout(team, "f" * 40, tmp_path / "run-missing", settings)
    assert not (tmp_path / "run-missing").exists()


def test_checkout_through_the_tarball_is_size_limited(tmp_path, store, stub, env):
    env.setenv("ARENA_SUBMISSIONS_MAX_CHECKOUT_MB", "1")
    from arena.settings import SubmissionSettings

    stub.repos["org/big"] = repo = make_repo(tmp_path / "big")
    # Compresses well: the download is small, the unpacked tree is not; the unpack count catches it.
    big = commit(repo, "submission", {"data.csv": "1,2,3\n" * 400_000})
    with pytest.raises(CheckoutTooLarge, match="counted while unpacking"):
        checkout(Team(team_id=121, team_name="Big", repo="org/big"), big, tmp_path / "run", SubmissionSettings())
    assert not (tmp_path / "run").exists()
