"""Submission limits: how many submissions of a team count per NEM day and in total.

A day is the NEM day, midnight to midnight in NEM time (battery_sim.rules.NEM_TIME, AEST, UTC+10
all year): the clock the market and every page run on. A submission counts on the day arena
RECEIVED it (the poll that found it), never by the commit's own date, which the team writes.

Counting is by slots, so two polls at once never both admit the 4th submission of a limit of 3:
slot n of a team's day is meta `quota:{team}:day:{YYYY-MM-DD}#{n}` (total: `quota:{team}:total#{n}`),
created with `store.claim` (create-if-absent: of any number of callers exactly one wins), and a
commit is admitted when it wins a free slot of each limit that applies. A slot names the commit
that holds it, so a poll that died between taking a slot and writing the row, and the poll that
takes the commit back (tasks/submissions.py), use the same slot instead of a second one.

A commit past a limit is still recorded: a kickoff row in state `over-limit`, whose diagnostic
says the limit and when the next submission counts. It is never evaluated and never becomes the
team's current submission (tasks/rounds.current_commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from arena.models import UNLIMITED, TaskRow, TaskState, Team, utc_now_iso
from arena.settings import CompetitionSettings
from battery_sim.rules import NEM_TIME
from tasks.store.base import Store

OVER_LIMIT = TaskState.over_limit.value


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one team; None = unlimited."""

    per_day: int | None = None
    total: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.per_day is None and self.total is None


def _pick(own: int | str | None, competition: int | None) -> int | None:
    if own is None:
        return competition
    return None if own == UNLIMITED else int(own)


def limits_for(team: Team, competition: CompetitionSettings | None = None) -> Limits:
    """The competition's limits, each replaced by the team's own where the teams file gives one."""
    competition = competition or CompetitionSettings()
    return Limits(_pick(team.submissions_per_day, competition.submissions_per_day),
                  _pick(team.submissions_total, competition.submissions_total))


def nem_day(moment: datetime) -> str:
    """The NEM day `moment` falls on, `YYYY-MM-DD`."""
    return moment.astimezone(NEM_TIME).date().isoformat()


def next_nem_midnight(moment: datetime) -> datetime:
    """The start of the NEM day after `moment`'s, in NEM time."""
    day = moment.astimezone(NEM_TIME).date() + timedelta(days=1)
    return datetime.combine(day, time(0), NEM_TIME)


def _nem_text(moment: datetime) -> str:
    return moment.astimezone(NEM_TIME).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Admission:
    """Whether a commit counts: the slots it holds, or why not (the team's words)."""

    admitted: bool
    slots: tuple[str, ...] = ()
    diagnostic: str = ""


def _day_base(team_id: int, day: str) -> str:
    return f"quota:{team_id}:day:{day}"


def _total_base(team_id: int) -> str:
    return f"quota:{team_id}:total"


def _take_slot(store: Store, base: str, limit: int, sha: str) -> str | None:
    """A slot of `base` for `sha` (the one it holds already, else the first free one it wins), or
    None when all `limit` are held by other commits."""
    for n in range(1, limit + 1):
        key = f"{base}#{n}"
        held = store.get_meta(key)
        if held is None and store.claim(key, {"sha": sha, "at": utc_now_iso()}):
            return key
        held = held or store.get_meta(key)  # lost the race for it: whose is it?
        if held is not None and held.get("sha") == sha:
            return key
    return None


def release(store: Store, slots: tuple[str, ...]) -> None:
    """Give slots back (the row that would have used them was never written)."""
    for key in slots:
        store.delete_meta(key)


def admit(store: Store, team: Team, sha: str, limits: Limits, received: datetime) -> Admission:
    """Take the slots `sha` needs to count, or say which limit it is past and when the next
    submission counts. The caller holds the commit's seen-claim, so one caller per commit."""
    if limits.unlimited:
        return Admission(True)
    taken: list[str] = []
    try:
        return _admit(store, team, sha, limits, received, taken)
    except BaseException:
        release(store, tuple(taken))  # the store failed midway: no slot is kept for a row never written
        raise


def _admit(store: Store, team: Team, sha: str, limits: Limits, received: datetime, taken: list[str]) -> Admission:
    if limits.per_day is not None:
        day = nem_day(received)
        slot = _take_slot(store, _day_base(team.team_id, day), limits.per_day, sha)
        if slot is None:
            return Admission(False, diagnostic=(
                f"Over the submission limit: {limits.per_day} submission(s) per NEM day already counted on {day} "
                f"(NEM time, {NEM_TIME.tzname(None)}). This commit was received at {_nem_text(received)} and is "
                f"recorded but not evaluated. The next submission counts from {_nem_text(next_nem_midnight(received))}."))
        taken.append(slot)
    if limits.total is not None:
        slot = _take_slot(store, _total_base(team.team_id), limits.total, sha)
        if slot is None:
            release(store, tuple(taken))
            return Admission(False, diagnostic=(
                f"Over the submission limit: all {limits.total} submission(s) of the competition are used. This "
                f"commit was received at {_nem_text(received)} and is recorded but not evaluated; no later "
                "submission counts unless the organisers raise your limit."))
        taken.append(slot)
    return Admission(True, tuple(taken))


def counts(row: TaskRow) -> bool:
    """Whether a kickoff row is a submission that counts (not one past the team's limit)."""
    return row.state_.value != OVER_LIMIT


def utc_now() -> datetime:
    return datetime.now(UTC)
