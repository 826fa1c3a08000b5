"""Markdown for the Prefect artifacts, where team names, error lines and log tails are shown.

The Prefect UI renders an artifact's markdown, and the cells of a table artifact, as markdown
(raw HTML included), so every piece of team text is made inert here before it reaches one:
  * `text` / `cell`: on one line, every ASCII punctuation character backslash-escaped (CommonMark
    lets any of them be escaped), so `*`, `_`, `[x](y)`, `![i](src)`, `<script>`, `|`, `` ` `` and
    `&lt;` show as the characters they are;
  * `fenced`: a block shown verbatim inside a `~` fence longer than any run of `~` in it, so no
    line of the content (`~~~~`, ```` ``` ````) can close the fence early.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from arena.text import CONTROL, LOGS_MAX, one_line, plain_text

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
CELL_MAX = 300


def text(value: Any, limit: int = CELL_MAX) -> str:
    """`value` as inline markdown that shows exactly its characters, on one line."""
    return _PUNCTUATION.sub(r"\\\1", one_line(value, limit))


def cell(value: Any) -> Any:
    """A table-artifact cell: numbers and None as they are, any other value as escaped text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return text(value)


def table(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a table artifact with every cell made inert."""
    return [{key: cell(value) for key, value in row.items()} for row in rows]


def fenced(value: Any, limit: int = LOGS_MAX) -> str:
    """`value` as a fenced code block that no line of it can close."""
    body = CONTROL.sub("\ufffd", (plain_text(value, limit) or "").replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(run) for run in re.findall(r"~+", body)), default=0)
    fence = "~" * max(4, longest + 1)
    return f"{fence}\n{body}\n{fence}"


def team_log(team_id: int, team_name: str, commit: str, status: str, error: str | None, logs_tail: Any) -> str:
    """The markdown artifact of one evaluation: who, which commit, how it ended, its last log lines."""
    ending = f": {text(error, 2000)}" if error else ""
    return (f"### Team {team_id} ({text(team_name)}), commit {text(commit[:12])}\n\n"
            f"status **{text(status)}**{ending}\n\n"
            f"Last lines the team's code printed:\n\n{fenced(logs_tail)}\n")
