"""Plain git: poll a team branch and export one commit, for repos that are not on GitHub's API
(a local path, a `file://` URL, any URL the `git` command can fetch).

Each team gets a bare mirror (one per team, under `SubmissionSettings.mirror_dir`). Fetches into it
are serialised with an flock, because two pollers updating the same refs at once make git fail with
"cannot lock ref". The team's tree is exported with `git archive`, so a checkout never holds a `.git`
folder, a remote URL or a credential.

The commit record, the team-visible error types and the size-limited tar extraction live here too:
the GitHub module produces the same records and errors, and extracts its tarballs the same way.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class CommitInfo:
    """One commit on a team branch, as either source reports it."""

    sha: str
    message: str
    committed_at: str = ""  # ISO-8601 as the source gives it; informative only


# -- errors ------------------------------------------------------------------------------


class SourceError(Exception):
    """A problem with a team's repository. `diagnostic` is written for the team, in plain words."""

    def __init__(self, diagnostic: str):
        super().__init__(diagnostic)
        self.diagnostic = diagnostic


class RepoUnavailable(SourceError):
    """Deleted, renamed, private to arena, or not a git repository."""


class BranchMissing(SourceError):
    pass


class CommitMissing(SourceError):
    """The commit to check out is not (or no longer) in the repository."""


class CheckoutTooLarge(SourceError):
    pass


class RateLimited(Exception):
    """GitHub asked us to wait longer than we are willing to. The platform's problem, not the team's."""


class GitError(Exception):
    """`git` failed in a way that is not explained by the team's repository."""


# -- running git ---------------------------------------------------------------------------


def run_git(*args: str, cwd: Path | None = None, timeout_s: float = 300.0, check: bool = True) -> subprocess.CompletedProcess:
    # No terminal prompts: a missing repo over https must fail, not wait for a password forever.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc


def local_url(repo: str) -> str | None:
    """The git URL of a local repo (`file://...` or a path), or None when `repo` is not local."""
    if repo.startswith("file://"):
        return repo
    path = Path(repo).expanduser()
    if path.exists() or repo.startswith(("/", "./", "../", "~")):
        return str(path.resolve())
    return None


@contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(mirror.with_name(mirror.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_mirror(mirror: Path) -> None:
    if not (mirror / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        run_git("init", "-q", "--bare", str(mirror))


def _explain_fetch_failure(url: str, branch: str | None, stderr: str) -> SourceError | GitError:
    text = stderr.lower()
    if "couldn't find remote ref" in text or "not our ref" in text:
        if branch is not None:
            return BranchMissing(f"Branch '{branch}' does not exist in {url}. Push it, or ask the organisers to change the team's branch.")
        return CommitMissing(f"The commit is no longer in {url} (the branch was probably force-pushed).")
    if any(s in text for s in ("does not appear to be a git repository", "not found", "could not read", "repository", "access denied")):
        return RepoUnavailable(f"arena cannot read the repository {url}: it does not exist or is not readable by arena.")
    return GitError(stderr.strip()[-500:])


def sync_branch(url: str, branch: str, mirror: Path, timeout_s: float = 300.0) -> str:
    """Fetch `branch` of `url` into the mirror (forced, so a force-push is followed) and return its head SHA.

    Raises RepoUnavailable / BranchMissing with a team-visible diagnostic."""
    with _locked(mirror):
        _ensure_mirror(mirror)
        proc = run_git(
            "--git-dir", str(mirror), "fetch", "-q", "--no-tags", url,
            f"+refs/heads/{branch}:refs/heads/{branch}",
            timeout_s=timeout_s, check=False,
        )
        if proc.returncode != 0:
            raise _explain_fetch_failure(url, branch, proc.stderr)
        return run_git("--git-dir", str(mirror), "rev-parse", f"refs/heads/{branch}").stdout.strip()


def list_commits(mirror: Path, head: str, *, limit: int) -> list[CommitInfo]:
    """Commits reachable from `head`, newest first, at most `limit` (first-parent order is not forced:
    a merged feature branch's commits count like any other)."""
    out = run_git(
        "--git-dir", str(mirror), "log", f"--max-count={limit}", "--format=%H%x00%cI%x00%B%x1e", head
    ).stdout
    commits = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, committed_at, message = record.split("\x00", 2)
        commits.append(CommitInfo(sha=sha, message=message.strip(), committed_at=committed_at))
    return commits


def is_ancestor(mirror: Path, old: str, new: str) -> bool:
    """Whether `old` is still in the history of `new` (False after a force-push removed it)."""
    proc = run_git("--git-dir", str(mirror), "merge-base", "--is-ancestor", old, new, check=False)
    return proc.returncode == 0


def has_commit(mirror: Path, sha: str) -> bool:
    return run_git("--git-dir", str(mirror), "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def export_commit(url: str, sha: str, mirror: Path, dest: Path, *, max_bytes: int, timeout_s: float = 300.0) -> Path:
    """Write exactly the tree of commit `sha` into `dest` (no .git), refusing trees over `max_bytes`."""
    with _locked(mirror):
        _ensure_mirror(mirror)
        if not has_commit(mirror, sha):
            # A shallow fetch of just that commit: works even after the branch moved on or was rewritten,
            # as long as the commit still exists in the repository.
            proc = run_git("--git-dir", str(mirror), "fetch", "-q", "--no-tags", "--depth", "1", url, sha,
                           timeout_s=timeout_s, check=False)
            if proc.returncode != 0:
                raise _explain_fetch_failure(url, None, proc.stderr)
        tree_bytes = _tree_size(mirror, sha)
        if tree_bytes > max_bytes:
            raise CheckoutTooLarge(_too_large(tree_bytes, max_bytes))
        archive = subprocess.Popen(
            ["git", "--git-dir", str(mirror), "archive", "--format=tar", sha],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            extract_tar(archive.stdout, dest, max_bytes=max_bytes)
        finally:
            archive.stdout.close()
            stderr = archive.stderr.read().decode(errors="replace")
            archive.stderr.close()
            rc = archive.wait(timeout=timeout_s)
        if rc != 0:
            raise GitError(f"git archive failed: {stderr.strip()[-500:]}")
    return dest


def _tree_size(mirror: Path, sha: str) -> int:
    out = run_git("--git-dir", str(mirror), "ls-tree", "-r", "-l", "--full-tree", sha).stdout
    total = 0
    for line in out.splitlines():
        size = line.split()[3]
        if size.isdigit():  # submodules show '-'
            total += int(size)
    return total


def _too_large(size: int, limit: int) -> str:
    return (f"The submission is {size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB limit. "
            "Remove large files (data, models, virtual environments) from the commit and submit again.")


# -- tar extraction (shared with the GitHub tarball) ---------------------------------------------


def extract_tar(stream: IO[bytes], dest: Path, *, max_bytes: int, strip_top: bool = False) -> int:
    """Extract a tar stream into `dest`, returning bytes written.

    Counts member sizes as it goes and stops past `max_bytes` (a tarball can be far larger unpacked
    than its download); `filter="data"` refuses absolute paths, `..`, device files and links out of the
    tree. `strip_top` drops the single top folder GitHub puts in its tarballs (`owner-repo-sha/`).
    """
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            if member.name in ("pax_global_header",) or member.type == tarfile.XGLTYPE:
                continue
            if strip_top:
                parts = member.name.split("/", 1)
                if len(parts) < 2 or not parts[1]:
                    continue
                member.name = parts[1]
                if member.islnk():
                    member.linkname = member.linkname.split("/", 1)[-1]
            total += max(member.size, 0)
            if total > max_bytes:
                raise CheckoutTooLarge(_too_large(total, max_bytes) + " (counted while unpacking)")
            tar.extract(member, dest, filter="data")
    return total


def clear(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
