"""What a team's `repo` and `branch` may be: one check, run where teams are added, imported or
edited (`arena teams`) and again every time a source is built to poll or check out (a store edited
by hand gets no further than the door).

Accepted repos:
  * `owner/name` or a github.com URL: read through GitHub's API (tasks.github);
  * `https://host[:port]/path`, `ssh://[user@]host[:port]/path` or `[user@]host:path`: fetched by git;
  * `file:///path` or a local folder (absolute, `./`, `../`, `~`, or a relative path that exists).
Refused: anything starting with `-` (git would read it as an option: `--upload-pack=...`), other
schemes and transport helpers (`ext::`, `fd::`, `http://`, `git://`: the first two run commands,
the last two are unencrypted), whitespace and control characters, credentials inside an https URL or
a password inside an ssh URL (they would be shown on the team's task rows: use a git credential
helper), and, when a team is registered, a local folder that does not exist (including an
`owner/name`-looking value whose first part is a local folder: `repos/beta` beside `repos/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tasks.github import github_full_name
from tasks.teamtree import InvalidRepo, shown

ACCEPTED = ("owner/name (GitHub), an https:// or ssh:// git URL, user@host:path, "
            "file:///path or an existing local folder")
MAX_REPO_CHARS = 2000
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_SCP_RE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([^/].*|/.+)$")
_BRANCH_FORBIDDEN = set("~^:?*[\\")


@dataclass(frozen=True)
class RepoValue:
    kind: str  # "github" | "git"
    where: str  # owner/name for GitHub; the URL or absolute path git fetches otherwise


def _refuse(value: str, why: str) -> InvalidRepo:
    return InvalidRepo(f"repo {shown(value)} is refused: {why}. Accepted: {ACCEPTED}.")


def _local(value: str, must_exist: bool) -> RepoValue:
    path = Path(value).expanduser().resolve()
    if must_exist and not path.is_dir():
        raise _refuse(value, "no such local folder")
    return RepoValue("git", str(path))


def check_repo(value: str, *, must_exist: bool = False) -> RepoValue:
    """The source `value` names, or InvalidRepo saying why it is refused (see the module docstring).
    `must_exist`: a local folder must be there (when a team is registered; a poll reports a
    missing folder as an unreachable repository instead)."""
    if not isinstance(value, str) or not value:
        raise _refuse(str(value or ""), "it is empty")
    if len(value) > MAX_REPO_CHARS:
        raise _refuse(value, f"it is longer than {MAX_REPO_CHARS} characters")
    if value.startswith("-"):
        raise _refuse(value, "it starts with '-', which git would take as an option")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise _refuse(value, "it contains whitespace or a control character")
    if value.startswith("file://"):
        path = value[len("file://"):]
        if not path.startswith("/"):
            raise _refuse(value, "a file:// URL needs an absolute path (file:///...)")
        if must_exist and not Path(path).is_dir():
            raise _refuse(value, "no such local folder")
        return RepoValue("git", value)
    if value.startswith(("/", "./", "../", "~")) or ("://" not in value and Path(value).expanduser().exists()):
        return _local(value, must_exist)  # a local folder wins over owner/name: `teams/alpha` could be either
    full_name = github_full_name(value)
    if full_name is not None:
        if must_exist and "://" not in value and Path(value.split("/", 1)[0]).expanduser().is_dir():
            # `repos/beta` beside a folder `repos/` is a local path with a typo, not the GitHub
            # repository `repos/beta`: registering it would poll GitHub for it forever.
            raise _refuse(value, f"no such local folder (a folder {value.split('/', 1)[0]!r} is here, so this "
                                 f"reads as a local path; for the GitHub repository write https://github.com/{full_name})")
        return RepoValue("github", full_name)
    if "://" in value:
        scheme = value.split("://", 1)[0].lower()
        if scheme not in ("https", "ssh"):
            raise _refuse(value, f"{scheme}:// is not accepted (only https:// and ssh://)")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError as exc:
            raise _refuse(value, f"it is not a valid URL ({exc})") from None
        if not parts.hostname or not _HOST_RE.match(parts.hostname):
            raise _refuse(value, "the host name is not valid")
        if parts.password is not None or (scheme == "https" and parts.username is not None):
            raise _refuse(value, "it holds credentials, which would show on the team's task rows; "
                                 "give them to a git credential helper")
        if parts.path in ("", "/"):
            raise _refuse(value, "it names no repository path")
        return RepoValue("git", value)
    if "::" in value:
        raise _refuse(value, "git transport helpers (ext::, fd::...) are not accepted")
    match = _SCP_RE.match(value)
    if match and not match.group(2).startswith("-"):
        return RepoValue("git", value)
    raise _refuse(value, "it is not a GitHub owner/name, a git URL or an existing local folder")


def check_branch(branch: str) -> str:
    """`branch` when it is a branch name git accepts (check-ref-format's rules, and no leading '-'),
    else InvalidRepo."""
    why = None
    if not isinstance(branch, str) or not branch:
        why = "it is empty"
    elif len(branch) > 255:
        why = "it is longer than 255 characters"
    elif any(c.isspace() or not c.isprintable() or c in _BRANCH_FORBIDDEN for c in branch):
        why = "it contains whitespace, a control character or one of ~ ^ : ? * [ \\"
    elif branch.startswith(("-", "/")) or branch.endswith(("/", ".", ".lock")):
        why = "it starts with '-' or '/', or ends with '/', '.' or '.lock'"
    elif ".." in branch or "//" in branch or "@{" in branch or branch == "@":
        why = "it contains '..', '//' or '@{'"
    elif any(part.startswith(".") for part in branch.split("/")):
        why = "a part of it starts with '.'"
    if why:
        raise InvalidRepo(f"branch {shown(str(branch))} is refused: {why}.")
    return branch
