"""The leaderboard from stored submissions: pure functions over records, no store, no I/O.

The board a team is judged on compares every team over ONE window and ONE ruleset:
each team's current submission (its latest submitted commit that was evaluated over
that window) is worth `score - baseline_score`, the baseline being
`MovingAveragePolicy(window_size=5)` over the same window and rules.

The baseline's own run, when it is kept, is a SubmissionRecord under team_id
`BASELINE_TEAM_ID` (0, outside the 100-200 range of real teams); it supplies the
baseline's score and its trial for the charts, and is never ranked.

`build_leaderboard(...)` returns the `leaderboard.json` document (the contract):
    {"generated_at", "competition", "rules", "window": {"start", "end"}, "baseline_score",
     "rows": [{"rank", "team_id", "team_name", "city", "git_commit_hash", "submitted_at",
               "score", "baseline_score", "value", "status", "steps", "updated_at"}]}
Times are ISO-8601 UTC strings (`2023-04-15T00:05:00Z`); the window bounds are the
stored epoch seconds rendered that way. Rows come in rank order: teams with a result
ranked 1, 2, 3... by value, then teams whose current submission failed (status "error",
rank null), then teams with no result over the window yet (status "none", rank null).

The ranking itself (value, rounding, ties) is defined once, in `rank()`; the leaderboard,
the round and backtest tables, the site and the Prefect artifact all take it from there:
  * value = score - baseline score, rounded to the ruleset's money decimals (every leg is
    rounded to them, so this only removes float noise: 1.1 + 2.2 ties with 3.3);
  * higher value ranks first; equal values are ordered by the earlier submission (when
    arena received the commit; a record without one counts from when it was evaluated),
    then by team id, so ranks are always 1..n with no two teams sharing one — the team
    that got there first keeps the place, as on Kaggle.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arena.models import SubmissionRecord, Team
from battery_sim.data import parse_timestamp
from battery_sim.errors import BadInput
from battery_sim.rules import INTERVAL_S, get_ruleset

BASELINE_TEAM_ID = 0
LEADERBOARD_KEYS = (
    "rank", "team_id", "team_name", "city", "git_commit_hash", "submitted_at",
    "score", "baseline_score", "value", "status", "steps", "updated_at",
)
STATUS_OK = "success"
STATUS_ERROR = "error"
STATUS_NONE = "none"


class ScoringError(ValueError):
    """The inputs cannot make a board (e.g. a window bound that is not a time)."""


@dataclass(frozen=True)
class Window:
    """A competition window in UTC epoch seconds, as the submissions' keys store it."""

    start: int
    end: int

    def to_json(self) -> dict[str, str]:
        return {"start": iso_utc(self.start), "end": iso_utc(self.end)}


def iso_utc(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | int | float) -> int:
    """A window bound from settings or the CLI -> UTC epoch seconds.

    Numbers are epoch seconds; a timestamp with an offset means what it says; a naive
    timestamp is NEM time (UTC+10), as everywhere in arena.
    """
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return parse_timestamp(text)  # the one timestamp parser, the simulator's
    except BadInput as exc:
        raise ScoringError(f"not a time: {value!r} ({exc})") from None


def _near(a: int, b: int) -> bool:
    # A window can be written as the first interval's start or its end; within one
    # interval it is the same window to an organiser typing it in.
    return abs(a - b) <= INTERVAL_S


def select_window(
    submissions: Iterable[SubmissionRecord],
    rules: str,
    start: int | None = None,
    end: int | None = None,
) -> Window | None:
    """The window the board compares teams over.

    Among the windows teams were evaluated over with `rules` (bounds matching `start` /
    `end` when given), the one covering the most teams wins; ties go to the latest end,
    so after each live round the board moves to the newest window. None when nothing fits.
    """
    teams_per_window: dict[Window, set[int]] = {}
    for record in submissions:
        if record.rules != rules or record.team_id == BASELINE_TEAM_ID:
            continue
        if start is not None and not _near(record.window_start, start):
            continue
        if end is not None and not _near(record.window_end, end):
            continue
        window = Window(record.window_start, record.window_end)
        teams_per_window.setdefault(window, set()).add(record.team_id)
    if not teams_per_window:
        return None
    return max(teams_per_window, key=lambda w: (len(teams_per_window[w]), w.end, w.start))


def _submitted_key(record: SubmissionRecord) -> tuple[str, str]:
    # A record without submitted_at (e.g. a backtest of a plain commit) counts from
    # when it was evaluated; ISO-8601 UTC text sorts as time.
    return (record.submitted_at or record.evaluated_at, record.evaluated_at)


# The order "which came first" of the ranking's ties, for arena/heldout.py's "latest" (one definition).
submitted_order = _submitted_key


def current_submissions(
    submissions: Iterable[SubmissionRecord], window: Window, rules: str
) -> dict[int, SubmissionRecord]:
    """Each team's current submission over `window` and `rules`: its latest submitted commit
    there (re-evaluations of one commit: the latest evaluation). Baseline excluded."""
    current: dict[int, SubmissionRecord] = {}
    for record in submissions:
        if record.team_id == BASELINE_TEAM_ID or record.rules != rules:
            continue
        if (record.window_start, record.window_end) != (window.start, window.end):
            continue
        held = current.get(record.team_id)
        if held is None or _submitted_key(record) > _submitted_key(held):
            current[record.team_id] = record
    return current


def baseline_record(submissions: Iterable[SubmissionRecord], window: Window, rules: str) -> SubmissionRecord | None:
    """The baseline's own run over the window, if one was kept (team_id 0)."""
    found = [
        r for r in submissions
        if r.team_id == BASELINE_TEAM_ID and r.rules == rules
        and (r.window_start, r.window_end) == (window.start, window.end) and _is_scored(r)
    ]
    return max(found, key=lambda r: r.evaluated_at) if found else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _is_scored(record: SubmissionRecord) -> bool:
    return record.status == STATUS_OK and _finite(record.score)


def row_value(record: SubmissionRecord, baseline_score: float | None = None) -> tuple[float | None, float | None]:
    """(baseline used, value) of one record: its own baseline_score first (computed in the same
    run, so the same window and rules), else `baseline_score`. The value is rounded to the
    ruleset's money decimals (see the module docstring); None when it cannot be ranked."""
    baseline = record.baseline_score if _finite(record.baseline_score) else baseline_score
    if not _is_scored(record) or not _finite(baseline):
        return baseline, None
    return baseline, round(record.score - baseline, get_ruleset(record.rules).money_decimals)


@dataclass(frozen=True)
class Ranked:
    """One record's place: `rank` 1..n for a record with a value, None for the rest."""

    record: SubmissionRecord
    baseline_score: float | None
    value: float | None
    rank: int | None


def rank(records: Iterable[SubmissionRecord], baseline_score: float | None = None) -> list[Ranked]:
    """THE ranking (module docstring): records with a value best first, numbered 1..n; then the
    rest (failed, or no baseline to compare to) in team id order, unranked."""
    valued, unranked = [], []
    for record in records:
        baseline, value = row_value(record, baseline_score)
        (unranked if value is None else valued).append((record, baseline, value))
    valued.sort(key=lambda item: (-item[2], _submitted_key(item[0]), item[0].team_id))
    unranked.sort(key=lambda item: item[0].team_id)
    return ([Ranked(r, b, v, place) for place, (r, b, v) in enumerate(valued, start=1)]
            + [Ranked(r, b, None, None) for r, b, _ in unranked])


def build_leaderboard(
    submissions: Iterable[SubmissionRecord],
    teams: Iterable[Team],
    *,
    competition: str,
    rules: str,
    window_start: int | None = None,
    window_end: int | None = None,
    baseline_score: float | None = None,
    now: datetime | None = None,
    unreadable: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The leaderboard.json document (see the module docstring for the contract).

    `baseline_score` overrides the baseline's stored run; without either, each row's
    own `baseline_score` is used and the top-level one is their common value.
    A team in the registry without a result still gets a row (status "none"); a
    result whose team was removed from the registry is left out. A team in `unreadable` (its
    stored records could not be read: team_id -> why) is a failed row.
    """
    submissions = list(submissions)
    teams_by_id = {t.team_id: t for t in teams}
    window = select_window(submissions, rules, window_start, window_end)
    current = current_submissions(submissions, window, rules) if window else {}

    if baseline_score is None and window is not None:
        base = baseline_record(submissions, window, rules)
        if base is not None:
            baseline_score = base.score
    if baseline_score is None:
        # The evaluator stores the baseline's score on every record it scores.
        common = Counter(r.baseline_score for r in current.values() if _finite(r.baseline_score))
        if common:
            baseline_score = common.most_common(1)[0][0]

    ranked, failed, missing = [], [], []
    places = {p.record.team_id: p for p in rank(
        (record for team_id, record in current.items() if team_id in teams_by_id), baseline_score)}
    for team_id, team in sorted(teams_by_id.items()):
        row: dict[str, Any] = {
            "rank": None,
            "team_id": team_id,
            "team_name": team.team_name,
            "city": team.city,
            "git_commit_hash": None,
            "submitted_at": None,
            "score": None,
            "baseline_score": baseline_score,
            "value": None,
            "status": STATUS_NONE,
            "steps": 0,
            "updated_at": None,
        }
        place = places.get(team_id)
        if team_id in (unreadable or {}):
            row["status"] = STATUS_ERROR
            failed.append(row)
            continue
        if place is None:
            missing.append(row)
            continue
        record = place.record
        row.update(
            rank=place.rank,
            git_commit_hash=record.git_commit_hash,
            submitted_at=record.submitted_at,
            score=record.score if _is_scored(record) else None,
            baseline_score=place.baseline_score,
            value=place.value,
            status=(record.status if record.status in (STATUS_OK, STATUS_ERROR) and record.score_problem is None
                    else STATUS_ERROR),
            steps=record.steps,
            updated_at=record.evaluated_at,
        )
        if place.rank is None:
            # Failed, or scored with no baseline to compare to: cannot be ranked.
            if row["status"] == STATUS_OK:
                row["status"] = STATUS_NONE
            (failed if row["status"] == STATUS_ERROR else missing).append(row)
        else:
            ranked.append(row)
    ranked.sort(key=lambda row: row["rank"])

    generated = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "generated_at": generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "competition": competition,
        "rules": rules,
        "window": window.to_json() if window else {"start": None, "end": None},
        "baseline_score": baseline_score,
        "rows": ranked + failed + missing,
    }


def board_window(board: dict[str, Any]) -> Window | None:
    """The Window a board was built over (inverse of Window.to_json)."""
    start, end = board["window"]["start"], board["window"]["end"]
    if start is None or end is None:
        return None
    return Window(parse_time(start), parse_time(end))
