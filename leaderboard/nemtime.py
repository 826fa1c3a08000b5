"""NEM time on the site: one clock for every page, chart axis and message.

The offset is the rules' (`battery_sim.rules.NEM_TIME`, UTC+10), so a page never carries a second
copy of it. Times arena wrote in UTC inside a message (the evaluator's
`interval 12 (2023-04-15 00:05:00+00:00)`, a task row's window) are shown in NEM time too, so a
page reads in one time zone; the team's own printed lines are left exactly as printed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from arena.text import one_line
from battery_sim.rules import NEM_TIME

# arena's UTC text (battery_sim.data.iso / utc_text): `2023-04-15 00:05:00+00:00`, `T` allowed.
_UTC_TEXT = re.compile(r"\b(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)\+00:00")


def nem_zone(rules: str | None = None) -> timezone:
    """The NEM's clock under `rules`: every ruleset runs on battery_sim.rules.NEM_TIME (a
    Ruleset declaring another offset is refused where it is defined)."""
    return NEM_TIME


def label(zone: timezone) -> str:
    """`AEST, UTC+10` for the footer."""
    hours = zone.utcoffset(None) / timedelta(hours=1)
    return f"{zone.tzname(None)}, UTC{hours:+g}"


def nem_time(epoch: int | float, zone: timezone) -> str:
    try:
        return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M %Z")
    except (OverflowError, OSError, ValueError, TypeError):  # a stored "time" no calendar holds
        return f"{one_line(epoch, 40)} (not a time)"


def in_nem_time(text: str | None, zone: timezone) -> str | None:
    """`text` with arena's UTC timestamps rewritten in NEM time."""
    if not text:
        return text

    def local(match: re.Match) -> str:
        try:
            moment = datetime.fromisoformat(f"{match.group(1)} {match.group(2)}+00:00")
        except ValueError:
            return match.group(0)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    return _UTC_TEXT.sub(local, text)
