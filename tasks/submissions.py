"""Submissions: from a commit on a team branch to an evaluation request, exactly once.

A submission is a commit on the team's branch whose message contains `SubmissionSettings.pattern`
(case-insensitive; "submission" in 2024). Each poll walks the branch from its head back to the commit
the previous poll saw last (meta `cursor:{team_id}`). On a team's first poll, and after a force-push,
the newest `max_commits_per_poll` commits are looked at, so a team registered after pushing is not
ignored.

Exactly once: before a task row is written, the poller claims meta `seen:{team_id}:{sha}`; the store
grants a claim to exactly one caller, so two pollers racing over the same commits write one row per
commit between them. If writing the row fails, the claim is released and the next poll retries it.
A poller that dies between the claim and the row loses that submission (at-most-once was chosen over
a duplicate evaluation); `arena submissions forget TEAM SHA` releases such a claim by hand.

Team-visible problems (repo gone or private, branch missing, branch rewritten, a repo or branch value
arena refuses, objects git refuses) become one task row in
state `error` with a plain-words diagnostic, written once per occurrence (claimed under
`problem:...`) rather than on every poll; the claim is released when the repo is readable again.
Platform problems (rate limit beyond the longest wait, GitHub down, bad arena token) go to the report
only: they are not the team's to fix.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from arena.models import TaskState, TaskType, Team, utc_iso, utc_now_iso
from arena.processes import pid_alive
from arena.settings import CompetitionSettings, SubmissionSettings
from arena.text import CONTROL, one_line
from tasks import limits
from tasks.github import GitHubClient
from tasks.gitrepo import (
    SHA_RE,
    BranchMissing,
    CommitInfo,
    InvalidRepo,
    RepoUnavailable,
    SourceError,
    UnsafeTree,
    clear,
    export_commit,
    is_ancestor,
    list_commits,
    sync_branch,
)
from tasks.store.base import Store
from tasks.taskrows import evaluation_command
from tasks.teamrepo import check_branch, check_repo

KICKOFF = TaskType.submission_kickoff.value


@dataclass(frozen=True)
class Submission:
    """One new submission commit and the task row that requests its evaluation."""

    team_id: int
    team_name: str
    sha: str
    message: str
    committed_at: str
    task_id: int
    over_limit: str | None = None  # past the team's submission limit: recorded, not evaluated (why)


@dataclass(frozen=True)
class TeamProblem:
    """A team-visible problem found while polling. `task_id` is None when it was reported before."""

    team_id: int
    kind: str  # unreachable | branch | rewritten | repo | unsafe | source
    diagnostic: str
    task_id: int | None


@dataclass(frozen=True)
class TeamSeen:
    """What one poll found on one team's branch (the poll's log line for the team)."""

    team_id: int
    team_name: str
    head: str | None = None
    new: tuple[str, ...] = ()  # submission commits requested by this poll
    seen: tuple[str, ...] = ()  # submission commits on the walk an earlier poll requested
    other: int = 0  # new commits that are not submissions
    problem: str | None = None  # why the repo could not be read, in the team's words
    error: str | None = None  # arena's side failed polling it
    over_limit: tuple[str, ...] = ()  # new submission commits past the team's limit (recorded, not evaluated)

    @property
    def readable(self) -> bool:
        return self.error is None and self.head is not None

    def line(self) -> str:
        """One line for the organiser: the team, then what was found or why nothing could be."""
        who = f"team {self.team_id} ({_shown(self.team_name, 80)})"
        if self.error is not None:
            return f"{who}: not polled, arena's side failed: {_shown(self.error)}"
        if self.head is None:
            return f"{who}: could not read the repo: {_shown(self.problem or 'no reason given')}"
        found = []
        if self.new:
            found.append(f"{len(self.new)} new submission(s) {', '.join(c[:7] for c in self.new)}")
        if self.over_limit:
            found.append(f"{len(self.over_limit)} over the submission limit {', '.join(c[:7] for c in self.over_limit)}")
        if self.seen:
            found.append(f"{len(self.seen)} submission(s) seen before {', '.join(c[:7] for c in self.seen)}")
        if self.other:
            found.append(f"{self.other} other commit(s)")
        said = "; ".join(found) if found else "no new commits"
        note = f" ({_shown(self.problem)})" if self.problem else ""
        return f"{who}: head {self.head[:7]}: {said}{note}"


def _shown(value: object, limit: int = 500) -> str:
    return CONTROL.sub("\ufffd", one_line(value, limit))


@dataclass(frozen=True)
class PollReport:
    submissions: tuple[Submission, ...] = ()
    problems: tuple[TeamProblem, ...] = ()
    errors: tuple[str, ...] = ()  # platform problems, one line per team
    teams_polled: int = 0
    rate_limit_wait_s: float = 0.0
    teams: tuple[TeamSeen, ...] = ()  # per team, what was found (the poll's log)

    def to_item(self) -> dict:
        return asdict(self)


# -- where a team's commits come from ------------------------------------------------------------


@dataclass(frozen=True)
class Walk:
    """What changed on a branch since the cursor: commits newest first (the cursor excluded)."""

    commits: tuple[CommitInfo, ...]
    head: str | None
    rewritten: bool = False  # the cursor is no longer in the branch's history
    truncated: bool = False  # more than the limit; only the newest were looked at


class Source(Protocol):
    def walk(self, cursor: str | None, limit: int) -> Walk: ...

    def export(self, sha: str, dest: Path, max_bytes: int, max_entries: int) -> Path: ...


@dataclass(frozen=True)
class GitSource:
    """A local path, `file://` URL or any git URL, read through a bare mirror with the git command."""

    url: str
    branch: str
    mirror: Path
    timeout_s: float = 300.0

    def walk(self, cursor: str | None, limit: int) -> Walk:
        head = sync_branch(self.url, self.branch, self.mirror, timeout_s=self.timeout_s)
        if cursor == head:
            return Walk((), head)
        rewritten = cursor is not None and not is_ancestor(self.mirror, cursor, head)
        revs = head if cursor is None or rewritten else f"{cursor}..{head}"
        commits = list_commits(self.mirror, revs, limit=limit + 1)
        return Walk(tuple(commits[:limit]), head, rewritten=rewritten, truncated=len(commits) > limit)

    def export(self, sha: str, dest: Path, max_bytes: int, max_entries: int) -> Path:
        return export_commit(self.url, sha, self.mirror, dest, max_bytes=max_bytes, max_entries=max_entries,
                             timeout_s=self.timeout_s)


@dataclass(frozen=True)
class GitHubSource:
    client: GitHubClient
    full_name: str
    branch: str

    def walk(self, cursor: str | None, limit: int) -> Walk:
        commits, head, found = self.client.branch_commits(self.full_name, self.branch, stop_at=cursor, limit=limit)
        full = len(commits) >= limit
        return Walk(
            tuple(commits),
            head,
            rewritten=cursor is not None and not found and not full,
            truncated=not found and full,
        )

    def export(self, sha: str, dest: Path, max_bytes: int, max_entries: int) -> Path:
        return self.client.download_commit(self.full_name, sha, dest, max_bytes=max_bytes, max_entries=max_entries)


def make_github_client(settings: SubmissionSettings, **overrides) -> GitHubClient:
    """The GitHub client the settings describe; tests pass `clock`/`sleep` through `overrides`."""
    options = dict(
        token=settings.github_token,
        base_url=settings.github_api_url,
        timeout_s=settings.request_timeout_s,
        max_wait_s=settings.rate_limit_max_wait_s,
    )
    options.update(overrides)
    return GitHubClient(**options)


def repo_kind(repo: str) -> tuple[str, str]:
    """("git", url) or ("github", owner/name), by tasks.teamrepo's rules; InvalidRepo when refused."""
    value = check_repo(repo)
    return value.kind, value.where


def _on_github(team: Team) -> bool:
    try:
        return repo_kind(team.repo)[0] == "github"
    except InvalidRepo:
        return False  # reported on the team's own row by poll_team


def source_for(team: Team, settings: SubmissionSettings, github: GitHubClient | None = None) -> Source:
    """The team's source, its repo and branch checked again (the store may have been edited by hand):
    InvalidRepo when either is refused."""
    kind, where = repo_kind(team.repo)
    branch = check_branch(team.branch)
    if kind == "github":
        return GitHubSource(github or make_github_client(settings), where, branch)
    return GitSource(where, branch, settings.mirror_dir / f"team-{team.team_id}.git", settings.request_timeout_s)


# -- polling -----------------------------------------------------------------------------------


def _cursor_key(team: Team) -> str:
    return f"cursor:{team.team_id}"


def _seen_key(team_id: int, sha: str) -> str:
    return f"seen:{team_id}:{sha}"


def _claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_submission(commit: CommitInfo, pattern: str) -> bool:
    return pattern.lower() in commit.message.lower()


def _abandoned(claimed: dict, settings: SubmissionSettings) -> bool:
    """A commit claim with no request row whose poll is gone: its process on this host stopped,
    or (a poll elsewhere) it is older than `claim_stale_s`."""
    if claimed.get("task_id") is not None:
        return False
    host, _, pid = str(claimed.get("by", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not pid_alive(int(pid))
    try:
        at = datetime.fromisoformat(str(claimed.get("claimed_at")).replace("Z", "+00:00"))
    except ValueError:
        return True
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - at).total_seconds() > settings.claim_stale_s


def _take_back(store: Store, key: str, settings: SubmissionSettings) -> dict | None:
    """The claim of a poll that died between claiming the commit and writing its request, for
    exactly one later poll: the takers race for a meta item named after the dead claim, and the
    winner stamps the commit's claim as its own (so if it dies too, the next poll takes it back)."""
    claimed = store.get_meta(key)
    if claimed is None or not _abandoned(claimed, settings):
        return None
    mine = {"team_id": claimed.get("team_id"), "sha": claimed.get("sha"), "claimed_at": utc_now_iso(),
            "by": _claimant(), "recovered_from": claimed.get("by")}
    if not store.claim(f"{key}:recovered:{claimed.get('by')}@{claimed.get('claimed_at')}", mine):
        return None  # another poll recovers it
    store.put_meta(key, mine)
    return claimed


def request_evaluation(store: Store, team: Team, commit: CommitInfo, settings: SubmissionSettings | None = None,
                       notes: list[str] | None = None, *, competition: CompetitionSettings | None = None,
                       now: Callable[[], datetime] = limits.utc_now) -> Submission | None:
    """Claim the commit, then write its kickoff row; None when the commit was seen before. A
    commit claimed by a poll that died before writing its row is taken back (told in `notes`).
    A commit past the team's submission limit (tasks/limits.py, counted at `now()`, when arena
    received it) gets its row too, in state `over-limit`: recorded, never evaluated."""
    settings = settings or SubmissionSettings()
    key = _seen_key(team.team_id, commit.sha)
    if not store.claim(key, {"team_id": team.team_id, "sha": commit.sha, "claimed_at": utc_now_iso(), "by": _claimant()}):
        lost = _take_back(store, key, settings)
        if lost is None:
            return None
        if notes is not None:
            notes.append(f"team {team.team_id}: commit {commit.sha[:12]} was claimed by a poll that stopped before "
                         f"requesting it ({lost.get('by')}, {lost.get('claimed_at')}); requested now")
    received = now()
    admission = limits.Admission(False)
    try:
        admission = limits.admit(store, team, commit.sha, limits.limits_for(team, competition), received)
        over = {} if admission.admitted else {"state_": limits.OVER_LIMIT, "diagnostic": admission.diagnostic}
        row = store.create_task(
            evaluation_command(team.team_id, commit.sha),  # over the competition's window, as rounds run it
            type=KICKOFF,
            team_id=team.team_id,
            team_name=team.team_name,
            git_commit_hash=commit.sha,
            created_at=utc_iso(received),  # the day it counted on
            **over,
        )
    except BaseException:
        limits.release(store, admission.slots)
        store.delete_meta(key)  # give the commit back, so the next poll requests it
        raise
    store.put_meta(key, {"team_id": team.team_id, "sha": commit.sha, "task_id": row.id, "claimed_at": utc_now_iso()})
    return Submission(team.team_id, team.team_name, commit.sha, commit.message, commit.committed_at, row.id,
                      over_limit=admission.diagnostic or None)


def _report_problem(store: Store, team: Team, kind: str, diagnostic: str, occurrence: str = "") -> TeamProblem:
    key = f"problem:{team.team_id}:{kind}" + (f":{occurrence}" if occurrence else "")
    task_id = None
    if store.claim(key, {"diagnostic": diagnostic, "at": utc_now_iso()}):
        row = store.create_task(
            f"poll {team.repo} branch {team.branch}",
            type=KICKOFF,
            team_id=team.team_id,
            team_name=team.team_name,
            state_=TaskState.error.value,
            diagnostic=diagnostic,
        )
        task_id = row.id
        store.put_meta(key, {"diagnostic": diagnostic, "at": utc_now_iso(), "task_id": row.id})
    return TeamProblem(team.team_id, kind, diagnostic, task_id)


# Cleared once the team's repo reads again, so a later failure of the same kind gets a new row.
_RECOVERABLE = ("unreachable", "branch", "repo", "unsafe")


def _problem_kind(exc: SourceError) -> str:
    if isinstance(exc, RepoUnavailable):
        return "unreachable"
    if isinstance(exc, BranchMissing):
        return "branch"
    if isinstance(exc, InvalidRepo):
        return "repo"
    if isinstance(exc, UnsafeTree):
        return "unsafe"
    return "source"


@dataclass
class TeamPoll:
    submissions: list[Submission] = field(default_factory=list)
    problems: list[TeamProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    head: str | None = None
    seen: list[str] = field(default_factory=list)  # submission commits requested before
    other: int = 0  # commits that are not submissions

    def seen_as(self, team: Team) -> TeamSeen:
        problem = "; ".join(p.diagnostic for p in self.problems) or None
        return TeamSeen(team.team_id, team.team_name, self.head,
                        tuple(s.sha for s in self.submissions if s.over_limit is None),
                        tuple(self.seen), self.other, problem,
                        over_limit=tuple(s.sha for s in self.submissions if s.over_limit is not None))


def poll_team(
    team: Team, store: Store, settings: SubmissionSettings | None = None, *, github: GitHubClient | None = None,
    competition: CompetitionSettings | None = None, now: Callable[[], datetime] = limits.utc_now,
) -> TeamPoll:
    """Poll one team: new submission rows, oldest first, and any team-visible problem. Rows past
    the team's submission limit (`competition`'s, or the team's own) are written as over-limit."""
    settings = settings or SubmissionSettings()
    result = TeamPoll()
    saved = store.get_meta(_cursor_key(team)) or {}
    # A cursor belongs to one repo and branch: after `teams edit` the new branch starts afresh.
    cursor = saved.get("sha") if (saved.get("repo"), saved.get("branch")) == (team.repo, team.branch) else None
    try:
        source = source_for(team, settings, github)
        walk = source.walk(cursor, settings.max_commits_per_poll)
    except SourceError as exc:
        result.problems.append(_report_problem(store, team, _problem_kind(exc), exc.diagnostic))
        return result
    for kind in _RECOVERABLE:  # readable again: a later failure is a new occurrence, worth a new row
        if store.get_meta(f"problem:{team.team_id}:{kind}") is not None:
            store.delete_meta(f"problem:{team.team_id}:{kind}")

    if walk.rewritten:
        result.problems.append(_report_problem(
            store, team, "rewritten",
            f"Branch '{team.branch}' was rewritten (force-pushed): commit {cursor[:12]}, the last one arena saw, "
            "is no longer on it. Submissions arena already received stand; submission commits on the new "
            "history that arena has not seen are picked up now.",
            occurrence=f"{cursor}:{walk.head}",
        ))
    if walk.truncated:
        result.notes.append(
            f"team {team.team_id}: more than {settings.max_commits_per_poll} new commits; looked at the newest only"
        )
    result.head = walk.head
    unsettled = False
    for commit in reversed(walk.commits):  # oldest first, so task ids follow the team's own order
        if is_submission(commit, settings.pattern):
            submission = request_evaluation(store, team, commit, settings, result.notes, competition=competition,
                                            now=now)
            if submission is not None:
                result.submissions.append(submission)
            else:
                result.seen.append(commit.sha)
                if (store.get_meta(_seen_key(team.team_id, commit.sha)) or {}).get("task_id") is None:
                    unsettled = True  # another poll claimed it and has not written its row yet
        else:
            result.other += 1
    # The cursor stays put while a claim has no row, so the next poll walks the commit again
    # and takes it back if that poll died (a killed poll never moves the cursor either).
    if walk.head is not None and not unsettled:
        store.put_meta(_cursor_key(team), {
            "repo": team.repo, "branch": team.branch, "sha": walk.head, "polled_at": utc_now_iso(),
        })
    return result


def find_new_submissions(
    team: Team, store: Store, settings: SubmissionSettings | None = None, *, github: GitHubClient | None = None
) -> list[Submission]:
    """The new submissions of one team (their kickoff rows are written); problems become error rows."""
    return poll_team(team, store, settings, github=github).submissions


def poll_submissions(
    store: Store,
    settings: SubmissionSettings | None = None,
    *,
    github: GitHubClient | None = None,
    team_ids: list[int] | None = None,
    competition: CompetitionSettings | None = None,
    now: Callable[[], datetime] = limits.utc_now,
) -> PollReport:
    """Poll every registered team (or `team_ids`). One team's failure never stops the others."""
    settings = settings or SubmissionSettings()
    competition = competition or CompetitionSettings()
    teams = store.list_teams()
    if team_ids is not None:
        teams = [t for t in teams if t.team_id in set(team_ids)]
    if github is None and any(_on_github(t) for t in teams):
        github = make_github_client(settings)
    submissions, problems, errors, seen = [], [], [], []
    for team in teams:
        try:
            polled = poll_team(team, store, settings, github=github, competition=competition, now=now)
        except Exception as exc:  # platform trouble (rate limit beyond the wait, network, git): report, go on
            errors.append(f"team {team.team_id}: {type(exc).__name__}: {exc}")
            seen.append(TeamSeen(team.team_id, team.team_name, error=f"{type(exc).__name__}: {exc}"))
            continue
        submissions += polled.submissions
        problems += polled.problems
        errors += polled.notes
        seen.append(polled.seen_as(team))
    return PollReport(
        submissions=tuple(submissions),
        problems=tuple(problems),
        errors=tuple(errors),
        teams_polled=len(teams),
        rate_limit_wait_s=github.waited_s if github is not None else 0.0,
        teams=tuple(seen),
    )


# -- checkout ------------------------------------------------------------------------------------


def run_folder(team: Team, sha: str, run_id: str, settings: SubmissionSettings | None = None) -> Path:
    """A per-run checkout folder under `checkout_dir`, so two runs of one commit never share files."""
    settings = settings or SubmissionSettings()
    return settings.checkout_dir / f"{team.team_id}-{sha[:12]}-{run_id}"


def checkout(
    team: Team, sha: str, dest: Path, settings: SubmissionSettings | None = None, *, github: GitHubClient | None = None
) -> Path:
    """Write exactly commit `sha` of the team's repo into `dest` (new or empty): files only, no `.git`,
    so no remote URL or token can reach the image; every entry checked first (tasks.teamtree). Raises
    CheckoutTooLarge over `max_checkout_mb` / `max_checkout_entries`, UnsafeTree, InvalidRepo,
    CommitMissing / RepoUnavailable with team-visible diagnostics; `dest` is removed on failure."""
    settings = settings or SubmissionSettings()
    sha = sha.strip().lower()
    if not SHA_RE.match(sha):
        raise ValueError(f"a checkout needs a full 40-character commit SHA, not {sha!r}")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"checkout folder {dest} is not empty")
    source = source_for(team, settings, github)
    try:
        return source.export(sha, dest, settings.max_checkout_mb * 1_000_000, settings.max_checkout_entries)
    except BaseException:
        clear(dest)
        raise
