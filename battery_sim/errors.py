"""arena's failure vocabulary, the same in every layer:

* BadInput: the organiser's data or arguments; nothing is scored, nothing is retried.
* PolicyError: the team's code or repo failed; the run ends with status "error" and a
  message the team can act on. Never retried: the same commit fails the same way.
* PlatformFailure: arena's own side failed (sandbox engine, store, git host, market source,
  publishing); the organiser is told and, where `retry` is set, the flows try again
  (flows/_retry.py `PLATFORM_RETRIES`, the one retry policy of the flows).
"""

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


class PlatformFailure(Exception):
    """arena's side failed; never the team's fault. `retry` = worth another attempt by the
    flow (False where the attempt would fail the same way, or a lower layer already retried)."""

    retry = True
