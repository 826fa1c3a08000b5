"""Loading a team's policy from a repo in the 2024 template layout (stdlib only, so the
sandbox agent can use it inside the container too).

    bot/config.json        {"policy": {"class_name": "...", "parameters": {...}}}
    bot/policies/*.py      classes derived from the template's Policy, found by class name
    bot/requirements.txt   optional

The team's modules import `from policies.policy import Policy`, so `bot/` goes on
sys.path and `policies` is imported as a package, as the 2024 evaluator did.

Files the host reads from a team's tree (bot/config.json, bot/requirements.txt) go through
`read_team_file`: walked one component at a time from an open folder, never following a link
out of bot/, only a regular file, at most a few KiB. So a link to a host file is refused and
nothing outside the team's own files can end up in an error message.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TeamCodeError(Exception):
    """The team repo does not have the shape we need; the message says what to fix."""


@dataclass(frozen=True)
class PolicyConfig:
    class_name: str
    parameters: dict[str, Any] = field(default_factory=dict)


MAX_CONFIG_BYTES = 64 * 1024
MAX_REQUIREMENTS_BYTES = 64 * 1024
_MAX_LINK_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def bot_dir_of(team_dir: Path | str) -> Path:
    """`team_dir/bot` when it is a real folder (a link named bot is not followed), else `team_dir`
    itself (a bot/ folder given directly)."""
    team_dir = Path(team_dir)
    bot = team_dir / "bot"
    return bot if bot.is_dir() and not bot.is_symlink() else team_dir


def read_team_file(team_dir: Path | str, name: str, *, max_bytes: int) -> bytes | None:
    """The bytes of `bot/<name>` in the team's tree, or None when there is no such file.

    The walk starts from bot/ (or `team_dir` itself when there is no bot/ folder) and opens each
    component relative to its parent with O_NOFOLLOW. A link on the way is read, not followed,
    and resolved by hand: it may point anywhere inside bot/, never out of it (nor absolute). Only
    a regular file is read (a folder, a pipe or a device is refused without opening it for
    reading), and at most `max_bytes`. Raises TeamCodeError, whose message names only the team's
    own path, never what is at the other end of a link."""
    label = f"bot/{name}"
    team_fd = os.open(Path(team_dir), _DIR_FLAGS & ~os.O_NOFOLLOW)  # arena's own folder
    fds = [team_fd]
    try:
        try:
            bot_st = os.stat("bot", dir_fd=team_fd, follow_symlinks=False)
        except FileNotFoundError:
            bot_st = None
        if bot_st is not None and stat.S_ISLNK(bot_st.st_mode):
            raise TeamCodeError("bot is a link; it must be a folder holding config.json and policies/")
        if bot_st is not None and stat.S_ISDIR(bot_st.st_mode):
            fds.append(os.open("bot", _DIR_FLAGS, dir_fd=team_fd))
        root_depth = len(fds)
        todo = [p for p in name.split("/") if p not in ("", ".")]
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if len(fds) == root_depth:
                    raise TeamCodeError(f"{label} leads out of bot/ (through '..' or a link); arena does not read it")
                os.close(fds.pop())
                continue
            try:
                st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                return None
            except NotADirectoryError:
                raise TeamCodeError(f"{label}: a part of its path is not a folder") from None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                target = os.readlink(part, dir_fd=fds[-1])
                if target.startswith("/") or hops > _MAX_LINK_HOPS:
                    raise TeamCodeError(f"{label} is a link that leads out of bot/; arena does not follow it")
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            if todo:
                if not stat.S_ISDIR(st.st_mode):
                    raise TeamCodeError(f"{label}: a part of its path is not a folder")
                fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
                continue
            if not stat.S_ISREG(st.st_mode):
                raise TeamCodeError(f"{label} is not a regular file (a folder, a pipe or a device)")
            return _read_regular(fds[-1], part, st, label, max_bytes)
        raise TeamCodeError(f"{label} is not a regular file")
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):  # changed under us: refuse, never follow
            raise TeamCodeError(f"{label} could not be read without following a link") from None
        raise
    finally:
        for fd in fds:
            os.close(fd)


def _read_regular(folder_fd: int, name: str, expected: os.stat_result, label: str, max_bytes: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
            raise TeamCodeError(f"{label} changed while arena was reading it")
        if st.st_size > max_bytes:
            raise TeamCodeError(f"{label} is {st.st_size} bytes, over the {max_bytes}-byte limit")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise TeamCodeError(f"{label} is over the {max_bytes}-byte limit")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_requirements(team_dir: Path | str) -> str:
    """bot/requirements.txt as text ("" when there is none), read with read_team_file."""
    data = read_team_file(team_dir, "requirements.txt", max_bytes=MAX_REQUIREMENTS_BYTES)
    return "" if data is None else data.decode("utf-8", errors="replace")


def read_config(team_dir: Path | str) -> PolicyConfig:
    data = read_team_file(team_dir, "config.json", max_bytes=MAX_CONFIG_BYTES)
    if data is None:
        if not (Path(team_dir) / "bot").exists() and not (Path(team_dir) / "policies").exists():
            raise TeamCodeError("the repository has no bot/ folder: the 2024 template layout puts "
                                "bot/config.json and bot/policies/ at its root")
        raise TeamCodeError("bot/config.json is missing: it must name your policy class")
    try:
        raw = json.loads(data)
    except RecursionError:
        raise TeamCodeError("bot/config.json is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError; so is a 5000-digit int
        raise TeamCodeError(f"bot/config.json is not valid JSON: {exc}") from None
    policy = raw.get("policy") if isinstance(raw, dict) else None
    if not isinstance(policy, dict) or not isinstance(policy.get("class_name"), str):
        raise TeamCodeError('bot/config.json must look like {"policy": {"class_name": "MyPolicy", "parameters": {}}}')
    parameters = policy.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise TeamCodeError("bot/config.json: policy.parameters must be an object of name: value")
    return PolicyConfig(policy["class_name"], parameters)


def _forget_team_modules() -> None:
    for name in [n for n in sys.modules if n == "policies" or n.startswith("policies.")]:
        del sys.modules[name]


def load_policy_class(team_dir: Path | str, class_name: str) -> type:
    """Import bot/policies and return the class called `class_name`.

    Team code runs on import; call this only where the team's code is allowed to run."""
    bot = bot_dir_of(team_dir)
    if not (bot / "policies").is_dir():
        raise TeamCodeError("bot/policies/ is missing: put your policy classes there")
    _forget_team_modules()
    sys.path.insert(0, str(bot.resolve()))
    try:
        package = importlib.import_module("policies")
        registry = getattr(package, "policy_classes", None)
        if isinstance(registry, dict) and class_name in registry:
            return registry[class_name]
        for module_path in sorted((bot / "policies").glob("*.py")):
            if module_path.stem == "__init__":
                continue
            module = importlib.import_module(f"policies.{module_path.stem}")
            candidate = getattr(module, class_name, None)
            if isinstance(candidate, type):
                return candidate
    finally:
        sys.path.remove(str(bot.resolve()))
    found = sorted(_policy_names(bot))
    hint = f" (found: {', '.join(found)})" if found else ""
    raise TeamCodeError(f"no policy class named {class_name!r} in bot/policies{hint}; check bot/config.json")


def _policy_names(bot: Path) -> list[str]:
    names = []
    for module in sys.modules.values():
        if getattr(module, "__name__", "").startswith("policies."):
            names += [n for n, v in vars(module).items() if isinstance(v, type) and hasattr(v, "act")]
    return names
