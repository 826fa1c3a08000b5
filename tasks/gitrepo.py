"""Plain git: poll a team branch and export one commit, for repos that are not on GitHub's API
(a local path, a `file://` URL, an https or ssh git URL).

Each team gets a bare mirror (one per team, under `SubmissionSettings.mirror_dir`). Fetches into it
are serialised with an flock, because two pollers updating the same refs at once make git fail with
"cannot lock ref". A commit is exported by reading its tree from git itself (`ls-tree` for the
listing, `cat-file --batch` for the contents) and writing it with `tasks.teamtree`, which checks
every entry first; so a checkout never holds a `.git` folder, a remote URL or a credential, and no
tar stream or path resolution is trusted.

Every git call is hardened the same way (`git_command`): only the file, https and ssh protocols
(never `ext::` or `fd::`), fsck of every fetched object (git refuses duplicate names, `..` and
`.git` entries, malformed trees), and values from outside always after `--` / `--end-of-options`.
The organiser's own system and global git config still apply (credential helpers, proxies, ssh
settings live there); the keys that matter for safety are pinned on the command line, which wins
over every config file.

The commit record lives here; the team-visible error types are defined in `tasks.teamtree` and
importable from here as before.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from battery_sim.errors import PlatformFailure
from tasks.teamtree import (  # noqa: F401  (re-exported: the source modules' errors)
    MAX_LINK_TARGET_BYTES,
    BranchMissing,
    CheckoutTooLarge,
    CommitMissing,
    InvalidRepo,
    Kind,
    RepoUnavailable,
    SourceError,
    TreeEntry,
    UnsafeTree,
    check_tree,
    refuse_entry,
    write_tree,
)

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_OID_RE = re.compile(rb"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


@dataclass(frozen=True)
class CommitInfo:
    """One commit on a team branch, as either source reports it."""

    sha: str
    message: str
    committed_at: str = ""  # ISO-8601 as the source gives it; informative only


class RateLimited(PlatformFailure):
    """GitHub asked us to wait longer than we are willing to. The platform's problem, not the team's.
    Not retried by the flow: the GitHub client already waited what it would (tasks/github.py), and
    the next poll asks again."""

    retry = False


class GitError(PlatformFailure):
    """`git` failed in a way that is not explained by the team's repository."""


# -- running git ---------------------------------------------------------------------------

# Pinned on every call (a `-c` beats system, global and repository config). GIT_ALLOW_PROTOCOL in
# the environment says the same for git's own child processes.
ALLOWED_PROTOCOLS = ("file", "https", "ssh")
HARDENING = (
    "-c", "protocol.allow=never",
    *(arg for name in ALLOWED_PROTOCOLS for arg in ("-c", f"protocol.{name}.allow=always")),
    "-c", "protocol.ext.allow=never",
    "-c", "transfer.fsckObjects=true",
    "-c", "fetch.fsckObjects=true",
    "-c", "fetch.recurseSubmodules=false",
)
# Inherited from a hook or a shell they would point git at another repository than the one named.
_REPOSITORY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                   "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CONFIG_PARAMETERS",
                   "GIT_CONFIG_COUNT")


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_ENV and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    # No terminal prompts: a missing repo over https must fail, not wait for a password forever.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C",
               GIT_ALLOW_PROTOCOL=":".join(ALLOWED_PROTOCOLS), GIT_PROTOCOL_FROM_USER="0")
    return env


def git_command(*args: str) -> list[str]:
    return ["git", *HARDENING, *args]


def run_git(*args: str, cwd: Path | None = None, timeout_s: float = 300.0, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        git_command(*args), cwd=cwd, env=git_env(), capture_output=True, text=True, errors="replace",
        timeout=timeout_s, check=False,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc


@contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(mirror.with_name(mirror.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def idle_mirror(mirror: Path) -> Iterator[bool]:
    """Hold the mirror's lock if nobody holds it (yields True), without waiting (yields False):
    a prune of git's temp files runs only while no fetch or export can be writing them."""
    lock_path = mirror.with_name(mirror.name + ".lock")
    if not lock_path.exists():
        yield True  # never fetched under arena's lock: nothing of arena's runs in it
        return
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_mirror(mirror: Path) -> None:
    if not (mirror / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        run_git("init", "-q", "--bare", "--", str(mirror))


def _explain_fetch_failure(url: str, branch: str | None, stderr: str) -> SourceError | GitError:
    text = stderr.lower()
    if "fsck" in text:
        # git's own words name the object and the check (duplicateEntries, hasDotdot...).
        found = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith(("error:", "warning:"))]
        why = found[0].split(":", 1)[1].strip() if found else "a malformed object"
        return UnsafeTree(
            f"git refused the objects of {url}: {why[:300]}. A tree like that (two entries of one name, a '..' "
            "or '.git' entry...) is not made by an ordinary git client. Remove the commit from the branch's "
            "history (rewrite and force-push) and submit again.")
    if "couldn't find remote ref" in text or "not our ref" in text:
        if branch is not None:
            return BranchMissing(f"Branch '{branch}' does not exist in {url}. Push it, or ask the organisers to change the team's branch.")
        return CommitMissing(f"The commit is no longer in {url} (the branch was probably force-pushed).")
    if "transport" in text and "not allowed" in text:
        return InvalidRepo(f"arena does not fetch from {url}: only https://, ssh:// and local repositories are allowed.")
    if "strange" in text and "blocked" in text:  # git's own guard on a path or host starting with '-'
        return InvalidRepo(f"arena does not fetch from {url}: git refuses a repository path or host starting with '-'.")
    if any(s in text for s in ("does not appear to be a git repository", "not found", "could not read", "repository", "access denied")):
        return RepoUnavailable(f"arena cannot read the repository {url}: it does not exist or is not readable by arena.")
    return GitError(stderr.strip()[-500:])


def sync_branch(url: str, branch: str, mirror: Path, timeout_s: float = 300.0) -> str:
    """Fetch `branch` of `url` into the mirror (forced, so a force-push is followed) and return its head SHA.

    Raises RepoUnavailable / BranchMissing / UnsafeTree with a team-visible diagnostic."""
    with _locked(mirror):
        _ensure_mirror(mirror)
        proc = run_git(
            "--git-dir", str(mirror), "fetch", "-q", "--no-tags", "--",
            url, f"+refs/heads/{branch}:refs/heads/{branch}",
            timeout_s=timeout_s, check=False,
        )
        if proc.returncode != 0:
            raise _explain_fetch_failure(url, branch, proc.stderr)
        return run_git("--git-dir", str(mirror), "rev-parse", "--verify", "--end-of-options",
                       f"refs/heads/{branch}").stdout.strip()


def list_commits(mirror: Path, head: str, *, limit: int) -> list[CommitInfo]:
    """Commits reachable from `head`, newest first, at most `limit` (first-parent order is not forced:
    a merged feature branch's commits count like any other)."""
    out = run_git(
        "--git-dir", str(mirror), "log", f"--max-count={limit}", "--format=%H%x00%cI%x00%B%x1e",
        "--end-of-options", head, "--",
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
    proc = run_git("--git-dir", str(mirror), "merge-base", "--is-ancestor", "--end-of-options", old, new, check=False)
    return proc.returncode == 0


def has_commit(mirror: Path, sha: str) -> bool:
    return run_git("--git-dir", str(mirror), "cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}",
                   check=False).returncode == 0


def export_commit(url: str, sha: str, mirror: Path, dest: Path, *, max_bytes: int, max_entries: int,
                  timeout_s: float = 300.0) -> Path:
    """Write exactly the tree of commit `sha` into `dest` (no .git), every entry checked first
    (tasks.teamtree); refuses trees over `max_bytes` or `max_entries`."""
    with _locked(mirror):
        _ensure_mirror(mirror)
        if not has_commit(mirror, sha):
            # A shallow fetch of just that commit: works even after the branch moved on or was rewritten,
            # as long as the commit still exists in the repository.
            proc = run_git("--git-dir", str(mirror), "fetch", "-q", "--no-tags", "--depth", "1", "--", url, sha,
                           timeout_s=timeout_s, check=False)
            if proc.returncode != 0:
                raise _explain_fetch_failure(url, None, proc.stderr)
        export_tree(mirror, sha, dest, max_bytes=max_bytes, max_entries=max_entries)
    return dest


# -- reading a tree from git ---------------------------------------------------------------------


class _Blobs:
    """`git cat-file --batch`: one blob at a time, streamed (it flushes after each object)."""

    def __init__(self, git_dir: Path):
        self.proc = subprocess.Popen(git_command("--git-dir", str(git_dir), "cat-file", "--batch"), env=git_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    @contextmanager
    def open(self, oid: bytes) -> Iterator[IO[bytes]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(oid + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob" or not header[2].isdigit():
            raise GitError(f"git cat-file answered {b' '.join(header)[:120]!r} for blob {oid.decode()}")
        reader = _Limited(self.proc.stdout, int(header[2]))
        yield reader
        reader.drain()
        self.proc.stdout.read(1)  # the newline after each object

    def read(self, oid: bytes) -> bytes:
        with self.open(oid) as blob:
            return blob.read(MAX_LINK_TARGET_BYTES + 1)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class _Limited:
    def __init__(self, stream: IO[bytes], size: int):
        self.stream, self.left = stream, size

    def read(self, n: int) -> bytes:
        data = self.stream.read(min(n, self.left)) if self.left else b""
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.left and self.read(1 << 16):
            pass


def _listing(git_dir: Path, sha: str) -> Iterator[bytes]:
    """The NUL-separated records of `git ls-tree -r -l -z --full-tree`, read as they come (a tree of a
    million entries is refused after the first few thousand, not after reading all of them)."""
    proc = subprocess.Popen(
        git_command("--git-dir", str(git_dir), "ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", sha),
        env=git_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    finished = False
    try:
        pending = b""
        while chunk := proc.stdout.read(1 << 16):
            pending += chunk
            *records, pending = pending.split(b"\0")
            yield from records
        if pending:
            yield pending
        finished = True
    finally:
        if not finished:
            proc.kill()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stdout.close()
        proc.stderr.close()
        if proc.wait() != 0 and finished:
            raise GitError(f"git ls-tree {sha[:12]} failed: {stderr.strip()[-500:]}")


def _git_entries(git_dir: Path, sha: str, blobs: _Blobs) -> Iterator[TreeEntry]:
    with closing(_listing(git_dir, sha)) as records:
        yield from _entries_of(records, blobs)


def _entries_of(records: Iterator[bytes], blobs: _Blobs) -> Iterator[TreeEntry]:
    for record in records:
        meta, tab, raw_path = record.partition(b"\t")
        fields = meta.split()
        if not tab or len(fields) != 4 or not _OID_RE.match(fields[2]):
            raise GitError(f"unexpected git ls-tree output: {record[:120]!r}")
        mode, kind, oid, size = fields
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind == b"commit":
            yield TreeEntry(path, Kind.SUBMODULE)
        elif kind != b"blob":
            raise refuse_entry(path, f"is a git {kind.decode(errors='replace')!r} entry, which arena does not check out")
        elif mode == b"120000":
            if int(size) > MAX_LINK_TARGET_BYTES:
                raise refuse_entry(path, f"is a link with a target over {MAX_LINK_TARGET_BYTES} bytes")
            target = blobs.read(oid).decode("utf-8", "surrogateescape")
            yield TreeEntry(path, Kind.LINK, size=int(size), target=target)
        elif mode.startswith(b"100"):
            executable = int(mode, 8) & 0o111
            yield TreeEntry(path, Kind.EXEC if executable else Kind.FILE, size=int(size), ref=oid)
        else:
            raise refuse_entry(path, f"has the git mode {mode.decode(errors='replace')}, which is not a file or a link")


def export_tree(git_dir: Path, sha: str, dest: Path, *, max_bytes: int, max_entries: int) -> int:
    """Check every entry of commit `sha`'s tree in `git_dir`, then write them into `dest` (new or
    empty). Returns the bytes written."""
    blobs = _Blobs(git_dir)
    try:
        # closing(): a refused tree stops ls-tree now, not when the exception is collected
        with closing(_git_entries(git_dir, sha, blobs)) as listed:
            entries = check_tree(listed, max_bytes=max_bytes, max_entries=max_entries)
        return write_tree(entries, dest, lambda entry: blobs.open(entry.ref), max_bytes=max_bytes)
    finally:
        blobs.close()


def clear(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
