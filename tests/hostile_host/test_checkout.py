"""Hostile trees against the checkout, through both sources: git objects crafted by hand in a real
repo (read from a local path, with git's fsck and without it) and the same trees as GitHub's
tarball from the loopback stand-in, plus tarballs made member by member. For every attack: a
SourceError with the path and the reason, and nothing written outside the checkout."""

from __future__ import annotations

import stat
import subprocess
import tarfile

import pytest
from crafted import (
    CONFIG,
    HOLD,
    Exec,
    Gitlink,
    Link,
    commit_spec,
    init_repo,
    member,
    path_max_members,
    path_max_tree,
    spec_members,
    tarball,
    template,
)

from arena.models import TaskState, Team
from arena.settings import SubmissionSettings
from tasks.submissions import checkout, poll_submissions
from tasks.teamtree import CheckoutTooLarge, UnsafeTree


def _deep(levels: int) -> list:
    spec: list = [("pwned", b"x\n")]
    for _ in range(levels):
        spec = [("d", spec)]
    return spec


# (name, spec(outside), reason the checker gives). `bot` itself is the target of the first: the
# template's bot/ folder and a link named bot, so bot/config.json would be written through the link.
ATTACKS = [
    ("link-and-folder-named-bot", lambda out: template(("bot", Link("../outside"))),
     r"inside 'bot', which is a link|appears twice"),
    ("relative-link-and-folder", lambda out: template(("x", Link("../outside")), ("x", [("pwned", b"x\n")])),
     r"inside 'x', which is a link|appears twice"),
    ("absolute-link", lambda out: template(("data", Link(str(out / "secret.txt")))), r"link to the absolute path"),
    ("link-climbing-out", lambda out: template(("up", Link("../outside/secret.txt"))), r"leaves the repository"),
    ("link-through-link-then-up", lambda out: template(
        ("sub", [("l1", Link(".."))]), ("l2", Link("sub/l1/../outside"))), r"'l2' is a link to .*leaves the repository"),
    ("dot-dot-entry", lambda out: template(("..", [("outside", [("pwned", b"x\n")])])), r"'\.\.' component"),
    ("slash-in-a-name", lambda out: template(("../outside/pwned", b"x\n")), r"'\.\.' component"),
    ("dot-git-folder", lambda out: template((".git", [("config", b"[core]\n\tfsmonitor = touch pwned\n")])),
     r"'\.git' component"),
    ("newline-in-a-name", lambda out: template(("evil\nname.py", b"x\n")), r"'evil\\nname\.py' has a path with a control"),
    ("name-not-utf8", lambda out: template((b"bad\xff.py", b"x\n")), r"'bad\\xff\.py' has a path that is not valid UTF-8"),
    ("backslash-in-a-name", lambda out: template(("..\\..\\outside", b"x\n")), r"backslash"),
    ("names-differing-in-case", lambda out: template(("README", b"a\n"), ("readme", b"b\n")), r"only in letter case"),
    ("too-deep", lambda out: template(("deep", _deep(40))), r"folders deep"),
    ("path-max-link-chain", lambda out: path_max_tree("../outside"), r"-byte limit"),
]
IDS = [a[0] for a in ATTACKS]


def _team(team_id: int, repo: str) -> Team:
    return Team(team_id=team_id, team_name=f"hostile-{team_id}", repo=repo)


def _fill_mirror_without_fsck(settings: SubmissionSettings, team_id: int, repo) -> None:
    """As if the objects had arrived before fsck was switched on (or git's fsck missed them)."""
    mirror = settings.mirror_dir / f"team-{team_id}.git"
    subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
    subprocess.run(["git", "--git-dir", str(mirror), "-c", "transfer.fsckObjects=false", "-c", "fetch.fsckObjects=false",
                    "fetch", "-q", str(repo), "+refs/heads/main:refs/heads/main"], check=True, capture_output=True)


@pytest.mark.parametrize("name, spec, reason", ATTACKS, ids=IDS)
def test_git_tree_attack_is_refused_by_arena_even_without_gits_fsck(name, spec, reason, tmp_path, settings, outside,
                                                                    untouched):
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, spec(outside))
    _fill_mirror_without_fsck(settings, 150, repo)
    check = untouched()
    with pytest.raises(UnsafeTree, match=reason) as caught:
        checkout(_team(150, str(repo)), sha, tmp_path / "run", settings)
    assert "fix or remove that entry" in caught.value.diagnostic
    assert not (tmp_path / "run").exists()
    check()


@pytest.mark.parametrize("name, spec, reason", ATTACKS, ids=IDS)
def test_git_tree_attack_through_a_fetch_is_refused(name, spec, reason, tmp_path, settings, outside, untouched):
    """The ordinary path: the commit is fetched into the mirror (git's fsck on), then checked."""
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, spec(outside))
    check = untouched()
    with pytest.raises(UnsafeTree) as caught:
        checkout(_team(151, f"file://{repo}"), sha, tmp_path / "run", settings)
    assert ("git refused the objects" in caught.value.diagnostic) or caught.value.diagnostic.startswith(
        "The commit cannot be checked out")
    assert not (tmp_path / "run").exists()
    check()


TOP = "org-hostile-abc1234"


@pytest.mark.parametrize("name, spec, reason", ATTACKS, ids=IDS)
def test_the_same_attack_as_githubs_tarball_is_refused(name, spec, reason, tmp_path, stub, settings, outside, untouched):
    """Each tree as a tarball made member by member (GitHub's own `git archive` refuses some of
    them, e.g. a '..' entry; a tarball is not bound by that)."""
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, template())  # a real commit: the stub serves the hostile tarball in its place
    stub.repos["org/hostile"] = repo
    stub.tarballs[sha] = tarball(TOP, spec_members(TOP, spec(outside)), with_template=False)
    check = untouched()
    with pytest.raises(UnsafeTree, match=reason):
        checkout(_team(152, "org/hostile"), sha, tmp_path / "run", settings)
    assert not (tmp_path / "run").exists()
    check()


def test_githubs_own_archive_of_a_crafted_tree_is_refused(tmp_path, stub, settings, untouched):
    """GitHub's tarball is `git archive` of the pushed tree: for a tree holding a link and a folder
    named bot, it writes the link first, then bot/config.json, which tar would write through it."""
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, template(("bot", Link("../outside"))))
    stub.repos["org/hostile"] = repo
    check = untouched()
    with pytest.raises(UnsafeTree, match="'bot' appears twice"):
        checkout(_team(152, "org/hostile"), sha, tmp_path / "run", settings)
    check()
TAR_ATTACKS = [
    ("hard-link", [member(f"{TOP}/bot/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")], r"is a hard link"),
    ("fifo", [member(f"{TOP}/bot/pipe", tarfile.FIFOTYPE)], r"device or a pipe"),
    ("char-device", [member(f"{TOP}/bot/tty", tarfile.CHRTYPE)], r"device or a pipe"),
    ("absolute-member", [member("/tmp/arena-test-never/pwned", data=b"x\n")], r"outside the archive's top folder"),
    ("member-outside-top", [member("elsewhere/pwned", data=b"x\n")], r"outside the archive's top folder"),
    ("dot-dot-member", [member(f"{TOP}/../outside/pwned", data=b"x\n")], r"'\.\.' component"),
    ("link-then-file-through-it", [member(f"{TOP}/evil", tarfile.SYMTYPE, linkname="../outside"),
                                   member(f"{TOP}/evil/pwned", data=b"x\n")], r"inside 'evil', which is a link"),
    ("link-replaced-by-folder", [member(f"{TOP}/bot/x", tarfile.SYMTYPE, linkname="../../outside"),
                                 member(f"{TOP}/bot/x", tarfile.DIRTYPE, mode=0o755),
                                 member(f"{TOP}/bot/x/pwned", data=b"x\n")], r"leaves the repository|appears twice"),
    # With the former extraction (tarfile, filter="data") on Python 3.11.7 this very tarball
    # wrote outside/pwned: CVE-2025-4517.
    ("path-max-link-chain", path_max_members(TOP, "../outside"), r"-byte limit"),
]


@pytest.mark.parametrize("name, members, reason", TAR_ATTACKS, ids=[a[0] for a in TAR_ATTACKS])
def test_hand_made_tarball_attack_is_refused(name, members, reason, tmp_path, stub, settings, outside, untouched):
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, template())  # a real commit: the stub serves our tarball in its place
    stub.repos["org/hostile"] = repo
    stub.tarballs[sha] = tarball(TOP, members)
    check = untouched()
    with pytest.raises(UnsafeTree, match=reason):
        checkout(_team(153, "org/hostile"), sha, tmp_path / "run", settings)
    assert not (tmp_path / "run").exists()
    check()


GOOD = [
    ("bot", [("config.json", CONFIG), ("requirements.txt", b""), ("run.sh", Exec(b"#!/bin/sh\n")),
             ("alias.py", Link("policies/hold.py")), ("data", Link("../shared")),
             ("policies", [("__init__.py", b""), ("hold.py", HOLD)])]),
    ("shared", [("prices.csv", b"1,2\n")]),
    ("vendor", Gitlink("0123456789abcdef0123456789abcdef01234567")),
]


@pytest.mark.parametrize("source", ["git", "github"])
def test_links_inside_the_repository_stay_links_and_modes_are_normalised(source, tmp_path, stub, settings, untouched):
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, GOOD)
    stub.repos["org/good"] = repo
    check = untouched()
    dest = checkout(_team(154, str(repo) if source == "git" else "org/good"), sha, tmp_path / "run", settings)
    check(dest)
    bot = dest / "bot"
    assert (bot / "alias.py").is_symlink() and str((bot / "alias.py").readlink()) == "policies/hold.py"
    assert (bot / "data").is_symlink() and (bot / "data" / "prices.csv").read_text() == "1,2\n"
    assert stat.S_IMODE((bot / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((bot / "config.json").stat().st_mode) == 0o644
    assert (dest / "vendor").is_dir() and list((dest / "vendor").iterdir()) == []  # a submodule: an empty folder
    assert (bot / "policies" / "hold.py").read_bytes() == HOLD


@pytest.mark.parametrize("source", ["git", "github"])
def test_too_many_entries_is_refused_before_writing(source, tmp_path, stub, env, untouched):
    env.setenv("ARENA_SUBMISSIONS_MAX_CHECKOUT_ENTRIES", "20")
    settings = SubmissionSettings()
    repo = init_repo(tmp_path / "repo")
    sha = commit_spec(repo, template(("many", [(f"f{i}.txt", b"") for i in range(50)])))
    stub.repos["org/many"] = repo
    check = untouched()
    with pytest.raises(CheckoutTooLarge, match="more than 20 files and folders"):
        checkout(_team(155, str(repo) if source == "git" else "org/many"), sha, tmp_path / "run", settings)
    check()


def test_fsck_names_the_broken_object_and_the_poll_reports_it_once(tmp_path, store, settings, outside):
    """At poll time git's fsck refuses a crafted history: the team gets one problem row saying why;
    the other team's submission in the same poll is requested as usual."""
    hostile = init_repo(tmp_path / "hostile")
    commit_spec(hostile, template(("bot", Link(str(outside)))))
    good = init_repo(tmp_path / "good")
    good_sha = commit_spec(good, template())
    store.put_team(_team(160, str(hostile)))
    store.put_team(Team(team_id=161, team_name="good", repo=str(good)))

    report = poll_submissions(store, settings)
    assert [(s.team_id, s.sha) for s in report.submissions] == [(161, good_sha)]
    (problem,) = report.problems
    assert (problem.team_id, problem.kind) == (160, "unsafe")
    row = store.get_task(problem.task_id)
    assert row.state_ == TaskState.error and "duplicateEntries" in row.diagnostic
    assert "force-push" in row.diagnostic
    assert poll_submissions(store, settings).problems[0].task_id is None  # reported once, not every poll
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
