"""No path of the machine that runs arena on a public page.

A team's error, traceback, printed lines and task diagnostics can name places on the host: the
checkout arena made of its repo, a local repo's folder, arena's home, a temporary folder, the
organiser's home. Every value a page prints passes through `HostPaths` (the templates' finalize):
a path under the checkout root or the team's own local repo keeps only its part inside the repo
(`bot/policies/x.py`, which the team knows), any other path under a host folder becomes
`<host path>`. Paths inside the sandbox (`/opt/team/...`) are the team's world and stay.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

HIDDEN = "<host path>"
_CHAR = r"[^\s/'\"<>()\[\],:;]"  # a character of a path's name
_TAIL = rf"(?:/(?:{_CHAR}|/)*)?"


def _forms(path: str | os.PathLike) -> set[str]:
    """The spellings of one folder a message may use: as given, absolute, resolved (symlinks)."""
    text = str(path).rstrip("/")
    if not text or text in (".", "/"):
        return set()
    forms = {text}
    try:
        forms |= {str(Path(text).expanduser().absolute()), str(Path(text).expanduser().resolve())}
    except (OSError, RuntimeError):
        pass
    return {f.rstrip("/") for f in forms if f.startswith("/") and f != "/"}


def default_roots() -> list[str]:
    """Host folders every machine has: the user's home, the temp folder, the working folder,
    arena's source tree and its Python."""
    source = Path(__file__).resolve().parents[1]
    roots = [str(Path.home()), tempfile.gettempdir(), os.getcwd(), str(source)]
    # A virtual environment's folder is this machine's; /usr is every machine's, and the
    # sandbox's own Python lives there (a team's traceback through pandas stays readable).
    return roots + [p for p in {sys.prefix} if p not in ("/usr", "/usr/local")]


class HostPaths:
    def __init__(self, roots: Iterable[str | os.PathLike] = (), *, repo_roots: Iterable[str | os.PathLike] = ()):
        """`roots`: folders whose paths are hidden whole (arena's home, its site, objects...);
        `repo_roots`: folders holding repo copies (the checkout root: `<root>/<checkout>/...`)
        or a team's repo itself (`<repo>/...`), whose inner part is kept."""
        hidden = {f for r in [*default_roots(), *roots] for f in _forms(r)}
        kept = {f for r in repo_roots for f in _forms(r)}
        # Longest first, so a checkout under the home is recognised before the home.
        # A folder counts where a path starts (not `/opt/team/tmp`) and ends (not `/tmpfoo`).
        self._patterns = [(re.compile(rf"(?<![\w.-]){re.escape(f)}(?!{_CHAR}){_TAIL}"), f in kept)
                          for f in sorted(hidden | kept, key=len, reverse=True)]

    def __call__(self, text: str) -> str:
        if "/" not in text:
            return text
        for pattern, keep_inside in self._patterns:
            text = pattern.sub(lambda m, keep=keep_inside: self._shown(m.group(0), keep), text)
        return text

    @staticmethod
    def _shown(path: str, keep_inside: bool) -> str:
        if keep_inside:
            inside = path.split("/bot/", 1)
            if len(inside) == 2:
                return "bot/" + inside[1]
        return HIDDEN
