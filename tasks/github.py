"""GitHub's REST API through PyGithub: the commits of a team branch and the tarball of one commit.

Rate limits are ours to respect, not PyGithub's: its default retry object sleeps with `time.sleep`
for as long as GitHub says, invisibly. We build the client with `retry=None` and wait ourselves,
through an injectable `clock`/`sleep`, so a poll that hits the limit waits until the reset (tests
pass a fake clock and never really sleep) and a wait longer than `max_wait_s` becomes RateLimited.

Every other failure is turned into the team-visible errors of tasks.gitrepo.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import requests
from github import Auth, Github, GithubException

from tasks.gitrepo import CommitInfo, RateLimited
from tasks.teamtree import (
    BranchMissing,
    CheckoutTooLarge,
    CommitMissing,
    Kind,
    RepoUnavailable,
    TreeEntry,
    check_tree,
    refuse_entry,
    write_tree,
)

T = TypeVar("T")

# GitHub's own rules: an owner is letters, digits and inner hyphens (at most 39); a repository name
# letters, digits, '.', '_' and '-' (never '.' or '..', checked below).
_OWNER = r"([A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?)"
_NAME = r"([A-Za-z0-9._-]{1,100})"
_GITHUB_URL_RE = re.compile(
    rf"^(?:https?://github\.com/|git@github\.com:|ssh://git@github\.com/){_OWNER}/([A-Za-z0-9._-]{{1,100}}?)(?:\.git)?/?$"
)
_FULL_NAME_RE = re.compile(rf"^{_OWNER}/{_NAME}$")


def github_full_name(repo: str) -> str | None:
    """`owner/name` when `repo` names a GitHub repository (`owner/name` or a github.com URL), else None.
    The caller checks for a local path first: `teams/alpha` is both a relative path and a full name."""
    for pattern in (_GITHUB_URL_RE, _FULL_NAME_RE):
        match = pattern.match(repo)
        if match and match.group(2).removesuffix(".git") not in ("", ".", ".."):
            return f"{match.group(1)}/{match.group(2)}"
    return None


class GitHubClient:
    """The few calls arena makes, each waiting out the rate limit first."""

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str = "https://api.github.com",
        timeout_s: float = 30.0,
        per_page: int = 100,
        max_wait_s: float = 3700.0,
        max_attempts: int = 4,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._gh = Github(
            auth=Auth.Token(token) if token else None,
            base_url=base_url.rstrip("/"),
            timeout=int(timeout_s),
            per_page=per_page,
            retry=None,  # we wait on rate limits ourselves (see module docstring)
            seconds_between_requests=None,
            # Lazy: `get_repo` makes no request, so a poll costs one call per team (the commits page),
            # not two; GitHub's 5,000 calls an hour then cover ~160 teams polled every 2 minutes.
            lazy=True,
        )
        self.timeout_s = timeout_s
        self.per_page = per_page
        self.max_wait_s = max_wait_s
        self.max_attempts = max_attempts
        self.clock = clock
        self.sleep = sleep
        self.waited_s = 0.0  # total time spent waiting on rate limits, for the poll report

    # -- rate limits ---------------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait_s:
            raise RateLimited(f"GitHub {why}; reset in {seconds:.0f} s is beyond the {self.max_wait_s:.0f} s we wait")
        if seconds > 0:
            self.waited_s += seconds
            self.sleep(seconds)

    def _call(self, fn: Callable[[], T]) -> T:
        # Before: the budget the last response reported. `rate_limiting` asks /rate_limit once when
        # nothing is known yet (that endpoint does not count against the budget).
        remaining, _limit = self._gh.rate_limiting
        if remaining == 0:
            self._wait(self._gh.rate_limiting_resettime - self.clock() + 1, "rate limit is used up")
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except GithubException as exc:
                wait = self._rate_limit_wait(exc)
                if wait is None or attempt == self.max_attempts:
                    if wait is not None:
                        raise RateLimited(f"GitHub still rate-limits after {attempt} attempts") from exc
                    raise
                self._wait(wait, f"rate limit hit ({exc.status})")
        raise AssertionError("unreachable")

    def _rate_limit_wait(self, exc: GithubException) -> float | None:
        """Seconds to wait when `exc` is a primary or secondary rate limit, else None."""
        if exc.status not in (403, 429):
            return None
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        if "retry-after" in headers:  # secondary limits say how long directly
            return float(headers["retry-after"])
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(float(headers["x-ratelimit-reset"]) - self.clock() + 1, 1.0)
        return None

    # -- the calls -----------------------------------------------------------------------------

    def _unavailable(self, full_name: str, exc: GithubException) -> RepoUnavailable:
        return RepoUnavailable(
            f"arena cannot read the GitHub repository {full_name} (HTTP {exc.status}): it was deleted, "
            "renamed, or is private and arena's account has no access. Make it readable by arena "
            "(add the organisers' account as a collaborator) and push again."
        )

    @staticmethod
    def _message(exc: GithubException) -> str:
        return str((exc.data or {}).get("message", "") if isinstance(exc.data, dict) else exc.data).lower()

    def branch_commits(
        self, full_name: str, branch: str, *, stop_at: str | None, limit: int
    ) -> tuple[list[CommitInfo], str | None, bool]:
        """Commits of `branch`, newest first, up to (not including) `stop_at`, at most `limit`.

        Returns (commits, head_sha, found) where `found` says whether `stop_at` was met; when it was
        not and the list is shorter than `limit`, the branch no longer contains `stop_at`.
        """
        listing = self._gh.get_repo(full_name).get_commits(sha=branch)
        commits: list[CommitInfo] = []
        page = 0
        while len(commits) < limit:
            try:
                batch = self._call(lambda page=page: listing.get_page(page))
            except GithubException as exc:
                if exc.status == 401:
                    raise  # arena's own token is wrong: the platform's problem, not a team's
                # A missing repo says "Not Found"; a missing branch "No commit found for SHA: ...";
                # an empty repository answers 409.
                if exc.status in (403, 404, 451) and "no commit found" not in self._message(exc):
                    raise self._unavailable(full_name, exc) from exc
                if exc.status in (404, 409, 422):
                    raise BranchMissing(
                        f"Branch '{branch}' does not exist in {full_name} (or the repository is empty). "
                        "Push it, or ask the organisers to change the team's branch."
                    ) from exc
                raise
            for item in batch:
                if item.sha == stop_at:
                    return commits, (commits[0].sha if commits else stop_at), True
                commits.append(CommitInfo(
                    sha=item.sha,
                    # Attribute access, not raw_data: raw_data would "complete" each commit with one more request.
                    message=item.commit.message or "",
                    committed_at=_committed_at(item),
                ))
                if len(commits) >= limit:
                    break
            if len(batch) < self.per_page:
                break
            page += 1
        return commits, (commits[0].sha if commits else None), False

    def download_commit(self, full_name: str, sha: str, dest: Path, *, max_bytes: int, max_entries: int) -> Path:
        """Write the tree of exactly `sha`, from GitHub's tarball, into `dest` (no .git, no credentials).
        Every member is checked by tasks.teamtree before anything is written; tarfile only reads."""
        repo = self._gh.get_repo(full_name)
        try:
            location = self._call(lambda: repo.get_archive_link("tarball", sha))
        except GithubException as exc:
            if exc.status in (403, 451):
                raise self._unavailable(full_name, exc) from exc
            if exc.status in (404, 422):
                raise CommitMissing(f"Commit {sha} is not in {full_name} any more (was the branch force-pushed?).") from exc
            raise
        # The redirect target is pre-signed; our token must not travel to another host with it.
        with requests.get(location, stream=True, timeout=self.timeout_s, allow_redirects=True) as resp:
            if resp.status_code == 404:
                raise CommitMissing(f"GitHub has no archive of commit {sha} in {full_name}.")
            resp.raise_for_status()
            with tempfile.TemporaryFile() as spool:
                received = 0
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    received += len(chunk)
                    if received > max_bytes:
                        raise CheckoutTooLarge(
                            f"The submission's archive is over the {max_bytes / 1e6:.0f} MB limit. Remove large "
                            "files (data, models, virtual environments) from the commit and submit again."
                        )
                    spool.write(chunk)
                spool.seek(0)
                write_tarball(spool, dest, max_bytes=max_bytes, max_entries=max_entries)
        return dest


# -- GitHub's tarball ------------------------------------------------------------------------------


def _tar_entries(tar: tarfile.TarFile) -> Iterator[TreeEntry]:
    """The members of a GitHub tarball as tree entries, its single top folder (`owner-repo-sha7/`)
    taken off. Only headers are read here; contents are read later, by write_tree."""
    top = None
    for member in tar:
        if member.type in (tarfile.XGLTYPE, tarfile.XHDTYPE) or member.name == "pax_global_header":
            continue
        first, _, rest = member.name.partition("/")
        if top is None:
            top = first
        if first != top:
            raise refuse_entry(member.name, "is outside the archive's top folder")
        if not rest:
            if member.isdir():
                continue
            raise refuse_entry(member.name, "is not inside the archive's top folder")
        if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
            kind = Kind.EXEC if member.mode & 0o111 else Kind.FILE
            yield TreeEntry(rest, kind, size=member.size, ref=member)
        elif member.type == tarfile.DIRTYPE:
            yield TreeEntry(rest, Kind.DIR)
        elif member.type == tarfile.SYMTYPE:
            yield TreeEntry(rest, Kind.LINK, target=member.linkname)
        elif member.type == tarfile.LNKTYPE:
            raise refuse_entry(rest, "is a hard link")
        elif member.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            raise refuse_entry(rest, "is a device or a pipe")
        else:
            raise refuse_entry(rest, f"is a tar member of type {member.type!r}, not a file, folder or link")


def write_tarball(spool: IO[bytes], dest: Path, *, max_bytes: int, max_entries: int) -> int:
    """Check every member of the (seekable) tarball, then write the tree into `dest`."""
    with tarfile.open(fileobj=spool, mode="r:*", encoding="utf-8", errors="surrogateescape") as tar:
        entries = check_tree(_tar_entries(tar), max_bytes=max_bytes, max_entries=max_entries,
                             too_large_note=" (counted while unpacking)")

        @contextmanager
        def content(entry: TreeEntry) -> Iterator[IO[bytes]]:
            reader = tar.extractfile(entry.ref)
            assert reader is not None  # a regular member always has a reader
            with reader:
                yield reader

        return write_tree(entries, dest, content, max_bytes=max_bytes)


def _committed_at(item: Any) -> str:
    try:
        when = item.commit.committer.date
    except Exception:  # a commit without committer data is still a commit
        return ""
    return when.isoformat() if when else ""
