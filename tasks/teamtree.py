"""A team's tree, from a list of entries to files on disk, trusting nothing the team controls.

Both sources (git objects read by `tasks.gitrepo`, GitHub's tarball read by `tasks.github`) turn a
commit into `TreeEntry` records and hand them here. `check_tree` validates every entry before
anything is written; `write_tree` then writes them into an empty folder without ever following a
link. Path resolution is never delegated to tarfile or to the file system: tarfile's `data` filter
has had bypasses (CVE-2025-4517, a symlink chain longer than PATH_MAX, unpatched on Python 3.11),
and a tree holding both a link and a folder of the same name defeats any "resolve, then compare"
check. What is accepted:

  * paths: relative POSIX, valid UTF-8, no empty, `.` or `..` component, no control character or
    backslash, no `.git` component, at most MAX_DEPTH components, MAX_PATH_BYTES in all and
    MAX_NAME_BYTES per component;
  * no two entries with the same name, also after Unicode normalisation and case folding (so a
    checkout is the same tree on a case-insensitive file system), no entry below a file or a link;
  * kinds: regular files (written 0644, or 0755 when executable), folders, and symbolic links
    whose target is relative and, resolved over the tree itself (links inside followed, at most
    MAX_LINK_HOPS), stays inside the repository root. The policy's working directory is a copy of
    the whole root, so `bot/data -> ../data` is legitimate; the two files arena reads on the host
    (bot/config.json, bot/requirements.txt) are read with `battery_sim.teamcode.read_team_file`,
    which refuses links leaving bot/. Hard links, devices, pipes and anything else are refused.
    A submodule (gitlink) becomes an empty folder, as `git archive` and GitHub's tarball make it;
  * sizes: at most `max_entries` entries and `max_bytes` of file contents, checked on the listing
    before any content is read, and again on the bytes actually written.

Every refusal is an `UnsafeTree` (a SourceError) naming the path, shown escaped, and the reason.

The team-visible error types of a team's repository are defined here too (the bottom of the
source modules): `tasks.gitrepo` and `tasks.github` raise them, `tasks.submissions` and
`tasks.evaluation` turn them into the team's task row and record.
"""

from __future__ import annotations

import errno
import os
import unicodedata
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

MAX_DEPTH = 32
MAX_PATH_BYTES = 1024  # well under PATH_MAX (4096) with the checkout folder in front
MAX_NAME_BYTES = 255  # NAME_MAX
MAX_LINK_TARGET_BYTES = 1024
MAX_LINK_HOPS = 40  # the kernel's own limit on links followed in one lookup
CHUNK = 1 << 16


# -- errors a team's repository can cause ----------------------------------------------------------


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


class UnsafeTree(SourceError):
    """The commit's tree holds an entry arena refuses to write (see the module docstring)."""


class InvalidRepo(SourceError):
    """The team's `repo` or `branch` value is not one arena accepts (tasks.teamrepo)."""


def too_large(size: int, limit: int) -> str:
    return (f"The submission is {size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB limit. "
            "Remove large files (data, models, virtual environments) from the commit and submit again.")


def shown(text: str, limit: int = 160) -> str:
    """`text` quoted and safe to print: control characters and bytes that are not UTF-8 escaped."""
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char)[0] == "C" or char == "\\":
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    result = "".join(out)
    if len(result) > limit:
        result = result[:limit] + "..."
    return f"'{result}'"


# -- entries -------------------------------------------------------------------------------------


class Kind(str, Enum):
    FILE = "file"
    EXEC = "exec"  # a regular file with an executable bit
    DIR = "dir"
    LINK = "link"
    SUBMODULE = "submodule"  # written as an empty folder


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a commit's tree. `path` is str, with bytes that are not UTF-8 kept as
    surrogates (errors="surrogateescape"), so the check can refuse them by name. `ref` is the
    source's handle on the content (a blob id, a TarInfo); `target` is a link's target."""

    path: str
    kind: Kind
    size: int = 0
    target: str = ""
    ref: Any = None


def refuse_entry(path: str, why: str) -> UnsafeTree:
    return UnsafeTree(
        f"The commit cannot be checked out: {shown(path)} {why}. arena writes only plain files, folders "
        "and links that stay inside the repository; fix or remove that entry and submit again.")


def _name_problem(path: str, what: str = "path") -> str | None:
    """Why `path` (a path or a link target) is refused, or None."""
    if not path:
        return f"has an empty {what}"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in path):
        return f"has a {what} that is not valid UTF-8"
    if any(unicodedata.category(c) == "Cc" for c in path):
        return f"has a {what} with a control character (a newline, a tab...)"
    if "\\" in path:
        return f"has a {what} with a backslash"
    return None


def _path_problem(path: str) -> str | None:
    problem = _name_problem(path)
    if problem:
        return problem
    if path.startswith("/"):
        return "is an absolute path"
    encoded = len(path.encode("utf-8"))
    if encoded > MAX_PATH_BYTES:
        return f"is a path of {encoded} bytes, over the {MAX_PATH_BYTES}-byte limit"
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        return f"is {len(parts)} folders deep, over the limit of {MAX_DEPTH}"
    for part in parts:
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' component"
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            return f"has a name over {MAX_NAME_BYTES} bytes"
        if part.casefold() == ".git":
            return "has a '.git' component"
    return None


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _link_end(link: str, target: str, links: dict[str, str], files: set[str]) -> str | None:
    """Where the link at `link` points, resolved over the tree (links followed, `..` applied after
    the link it follows, as the kernel does), as a root-relative path; None when it leaves the root.
    A component that names nothing in the tree is taken literally (a dangling link is harmless)."""
    parts = link.split("/")[:-1]
    todo = target.split("/")
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        here = "/".join([*parts, part])
        if here in links:
            hops += 1
            if hops > MAX_LINK_HOPS or links[here].startswith("/"):
                return None
            todo = links[here].split("/") + todo
            continue
        if here in files and todo:
            return None  # `file/..`: the kernel would fail; refuse rather than guess
        parts.append(part)
    return "/".join(parts)


def check_tree(entries: Iterable[TreeEntry], *, max_bytes: int, max_entries: int,
               too_large_note: str = "") -> list[TreeEntry]:
    """Every entry checked (see the module docstring), in the order given (a tarball's own order
    keeps its reading forward-only; write_tree makes missing parent folders as it goes). Raises
    UnsafeTree or CheckoutTooLarge before anything is written; stops reading `entries` as soon as
    a limit is passed."""
    accepted: dict[str, TreeEntry] = {}
    total = 0
    for entry in entries:
        if len(accepted) >= max_entries:
            raise CheckoutTooLarge(
                f"The submission has more than {max_entries} files and folders, over the limit. Remove "
                "generated files (data, virtual environments, node_modules) from the commit and submit again.")
        problem = _path_problem(entry.path)
        if problem:
            raise refuse_entry(entry.path, problem)
        if entry.path in accepted:
            raise refuse_entry(entry.path, "appears twice in the tree")
        if entry.kind in (Kind.FILE, Kind.EXEC):
            total += max(entry.size, 0)
            if total > max_bytes:
                raise CheckoutTooLarge(too_large(total, max_bytes) + too_large_note)
        elif entry.kind is Kind.LINK:
            if len(entry.target.encode("utf-8", "surrogateescape")) > MAX_LINK_TARGET_BYTES:
                raise refuse_entry(entry.path, f"is a link with a target over {MAX_LINK_TARGET_BYTES} bytes")
            problem = _name_problem(entry.target, "link target")
            if problem:
                raise refuse_entry(entry.path, f"is a link that {problem}")
            if entry.target.startswith("/"):
                raise refuse_entry(entry.path, f"is a link to the absolute path {shown(entry.target)}")
        accepted[entry.path] = entry

    links = {p: e.target for p, e in accepted.items() if e.kind is Kind.LINK}
    files = {p for p, e in accepted.items() if e.kind in (Kind.FILE, Kind.EXEC)}
    implied: set[str] = set()
    for path in accepted:
        for parent in _parents(path):
            if parent in links:
                raise refuse_entry(path, f"is inside {shown(parent)}, which is a link")
            if parent in files:
                raise refuse_entry(path, f"is inside {shown(parent)}, which is a file")
            implied.add(parent)
    folded: dict[str, str] = {}
    for path in [*accepted, *(p for p in implied if p not in accepted)]:
        other = folded.setdefault(_fold(path), path)
        if other != path:
            raise refuse_entry(path, f"differs from {shown(other)} only in letter case or Unicode form")
    for path, target in links.items():
        end = _link_end(path, target, links, files)
        if end is None:
            raise refuse_entry(path, f"is a link to {shown(target)}, which leaves the repository")
    return list(accepted.values())


# -- writing -------------------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What the file system says when it disagrees with the checked tree (a case-insensitive file
# system, something else writing into the folder): the tree's problem, not arena's.
_CONFLICTS = {errno.EEXIST, errno.ELOOP, errno.ENOTDIR, errno.EISDIR}


class _Folders:
    """Open folder descriptors along the current path, reused between consecutive entries (git and
    tar list a tree depth-first, so neighbours share their parents)."""

    def __init__(self, root_fd: int):
        self.names: list[str] = []
        self.fds = [root_fd]

    def open(self, parts: list[str]) -> int:
        common = 0
        while common < len(parts) and common < len(self.names) and self.names[common] == parts[common]:
            common += 1
        while len(self.names) > common:
            self.names.pop()
            os.close(self.fds.pop())
        for name in parts[common:]:
            parent = self.fds[-1]
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                pass  # made for an earlier entry; opened below without following a link
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
            os.fchmod(fd, 0o755)
            self.names.append(name)
            self.fds.append(fd)
        return self.fds[-1]

    def close(self) -> None:
        for fd in self.fds[1:]:
            os.close(fd)
        self.names, self.fds = [], self.fds[:1]


def write_tree(entries: list[TreeEntry], dest: Path, open_content: Callable[[TreeEntry], AbstractContextManager[IO[bytes]]],
               *, max_bytes: int) -> int:
    """Write checked `entries` (from check_tree) into `dest`, new or empty; returns bytes written.

    Every folder is made with mkdir and entered with O_NOFOLLOW relative to its parent's
    descriptor, every file created with O_EXCL|O_NOFOLLOW: nothing is written through a link,
    whatever is on disk. `open_content(entry)` gives a file's bytes; no more than its listed size
    is read, and fewer is an error of the source (a truncated download), not of the team."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)  # arena's own folders
    try:
        os.mkdir(dest, 0o755)
    except FileExistsError:
        pass
    root_fd = os.open(dest, _DIR_FLAGS)
    folders = _Folders(root_fd)
    written = 0
    try:
        if os.listdir(root_fd):
            raise ValueError(f"checkout folder {dest} is not empty")
        for entry in entries:
            parts = entry.path.split("/")
            try:
                if entry.kind in (Kind.DIR, Kind.SUBMODULE):
                    folders.open(parts)
                    continue
                parent = folders.open(parts[:-1])
                if entry.kind is Kind.LINK:
                    os.symlink(entry.target, parts[-1], dir_fd=parent)
                    continue
                fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
                try:
                    written += _copy(entry, fd, open_content, max_bytes - written)
                    os.fchmod(fd, 0o755 if entry.kind is Kind.EXEC else 0o644)
                finally:
                    os.close(fd)
            except OSError as exc:
                if exc.errno in _CONFLICTS:
                    raise refuse_entry(entry.path, f"could not be written without following a link or "
                                                   f"replacing another entry ({os.strerror(exc.errno)})") from None
                raise
    finally:
        folders.close()
        os.close(root_fd)
    return written


def _copy(entry: TreeEntry, fd: int, open_content: Callable[[TreeEntry], AbstractContextManager[IO[bytes]]], room: int) -> int:
    if entry.size > room:
        raise CheckoutTooLarge(too_large(entry.size, room) + " (counted while writing)")
    left = entry.size
    with open_content(entry) as source:
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise OSError(errno.EIO, f"the source gave {entry.size - left} of the {entry.size} bytes of {entry.path!r}")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)
    return entry.size
