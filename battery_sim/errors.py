"""The two kinds of failure the evaluator tells apart: bad input (the organiser's data or
arguments; nothing is scored) and a failing policy (the team's code; the run ends with
status "error" and a message the team can act on)."""

from __future__ import annotations


class BadInput(ValueError):
    """Data or arguments that cannot be evaluated; the message says what and where."""


class PolicyError(Exception):
    """The team's policy failed. `str(exc)` is one line a participant understands;
    `traceback_text` is the team's own traceback when there is one; `logs_tail` the last
    lines the team's code printed (sandboxed runs)."""

    def __init__(self, message: str, *, traceback_text: str | None = None, logs_tail: str | None = None):
        super().__init__(message)
        self.traceback_text = traceback_text
        self.logs_tail = logs_tail
