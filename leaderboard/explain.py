"""A failed submission in words a participant understands: where it stopped, what the
error says, and what usually fixes it.

The sandbox already writes a one-line `error` (which limit, which step, which
exception); this adds the interval in NEM time and a hint chosen from the error's
wording. Hints are advice, never a replacement: the error and the log tail are always
shown as they are.

Intervals are numbered as the evaluator numbers them in its errors (`interval 0 (...)` is
the window's first), so the headline and the error line name the same interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone

from arena.models import SubmissionRecord
from battery_sim.rules import INTERVAL_S
from leaderboard.charts import clock
from leaderboard.nemtime import nem_time, nem_zone

# (pattern over the error text, hint). First match wins, so specific causes come first.
HINTS: tuple[tuple[str, str], ...] = (
    (r"no module named|modulenotfounderror|importerror",
     "Your policy imports a package that is not installed in its container. List it in "
     "bot/requirements.txt (packages are installed when the image is built; there is no "
     "network while it runs)."),
    (r"requirements|pip install|build fail|image build|could not build",
     "The container image could not be built, usually because a line in bot/requirements.txt "
     "does not install. Try `pip install -r bot/requirements.txt` in a clean Python 3.11."),
    (r"config\.json|class_name|no policy class|policy class",
     "arena could not find your policy. bot/config.json must name, in policy.class_name, a "
     "class defined in one of bot/policies/*.py."),
    (r"time ?limit|timed? ?out|timeout|took longer|too slow",
     "Your policy ran out of time. Each interval has a time limit, and so do start-up and the "
     "whole run: do heavy work once in load_historical(), not on every interval."),
    (r"memory|oom|out of memory|memoryerror",
     "Your policy used more memory than its container allows. Keep less history in memory."),
    (r"killed|signal|exit code|exited",
     "The container stopped unexpectedly (killed or exited) before the run ended."),
    (r"network|connection|resolve|socket",
     "Submissions run with no network access. Bundle any data your policy needs in the repo."),
    (r"action|nan|finite|not a number|tuple",
     "Your policy returned something arena cannot trade: act() must return two finite "
     "numbers, (solar_kW_to_battery, grid_kW)."),
)
GENERIC_HINT = (
    "Your policy raised an error. The traceback and the last lines your code printed are below; "
    "run the policy locally over the same window to reproduce it."
)


@dataclass(frozen=True)
class Failure:
    headline: str  # one sentence: where it stopped
    error: str  # the error line as the sandbox wrote it
    hint: str
    interval_end: int | None  # UTC epoch seconds of the interval that failed, when known
    interval: int | None  # its number in the window, from 0 as in the evaluator's error
    traceback: str | None
    logs_tail: str | None


def failing_interval(record: SubmissionRecord) -> int | None:
    """Interval end (epoch s) of the interval the run stopped at: the one after the last
    completed interval in the trial, or counted from the window start."""
    stamps = record.main_trial.get("timestamps")
    last = clock(stamps[-1]) if isinstance(stamps, list) and stamps else None
    if last is not None:
        return int(last) + INTERVAL_S
    if record.steps >= 0 and record.window_start:
        candidate = record.window_start + (record.steps + 1) * INTERVAL_S
        if not record.window_end or candidate <= record.window_end + INTERVAL_S:
            return candidate
    return None


def explain_failure(record: SubmissionRecord, zone: timezone | None = None) -> Failure:
    zone = zone or nem_zone(record.rules)
    error = (record.error or "").strip() or "The run failed without an error message."
    interval = failing_interval(record)
    if record.steps <= 0:
        headline = ("Your submission failed before it traded its first interval "
                    "(while building, starting up or reading the history).")
    else:
        when = f", ending {nem_time(interval, zone)}" if interval is not None else ""
        done = "interval 0" if record.steps == 1 else f"intervals 0 to {record.steps - 1}"
        headline = f"Your submission traded {done}, then failed at interval {record.steps}{when}."
    searched = f"{error}\n{record.error_traceback or ''}".lower()
    hint = next((text for pattern, text in HINTS if re.search(pattern, searched)), GENERIC_HINT)
    return Failure(
        headline=headline,
        error=error,
        hint=hint,
        interval_end=interval if record.steps > 0 else None,
        interval=record.steps if record.steps > 0 else None,
        traceback=record.error_traceback,
        logs_tail=record.logs_tail,
    )
