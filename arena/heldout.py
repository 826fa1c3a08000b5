"""The private (held-out) leaderboard, issue 19: which records are private, which submissions of a
team count for the final ranking, and that ranking. Pure functions over records, like
arena/scoring.py, whose `rank` is THE ranking used here too (never a second one).

Definitions (the README's organiser section says the same):
  * A private record is one scored over a declared held-out window (`private`, key `...#private`).
    Before the reveal no published file holds one, nor any record whose window overlaps a held-out
    window (a backtest over it would tell the same number): `public_only`.
  * The submissions that count for a team (`counted`): the commits the team chose (an organiser
    records them on the team's request: `arena final choose`), else by the competition's
    `private_counts`: `latest` = the team's latest submitted commit scored in the public round;
    `best_public:N` = its N best commits by public value (the ranking's own order, arena/scoring.rank).
  * A counted commit's private result is its records over every held-out window that has been
    scored (a window the data does not cover yet is not scored, and says so): one window, that
    record; several, one record summing their scores and baselines (so value = total score minus
    total baseline). A commit missing a scored window, or failed on one, cannot be ranked.
  * A team's final entry is the best of its counted commits' private results (rank among them);
    the final ranking is `rank` of those entries. The shake-up of a team is its public rank minus its
    private rank (positive: it moved up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arena.models import PRIVATE_KEY_MARK, SubmissionRecord, Team
from arena.scoring import (
    BASELINE_TEAM_ID,
    STATUS_ERROR,
    STATUS_NONE,
    STATUS_OK,
    Window,
    rank,
    submitted_order,
)
from battery_sim.rules import INTERVAL_S

LATEST = "latest"
BEST_PUBLIC = "best_public"


def is_private(record: SubmissionRecord) -> bool:
    return record.private or record.key.endswith(PRIVATE_KEY_MARK)


def overlaps(record: SubmissionRecord, windows: Iterable[Window]) -> bool:
    return any(record.window_start <= w.end and w.start <= record.window_end for w in windows)


def public_only(records: Iterable[SubmissionRecord], windows: Iterable[Window]) -> list[SubmissionRecord]:
    """What may be published before the reveal: no private record, nor any record over a held-out window."""
    windows = list(windows)
    return [r for r in records if not is_private(r) and not overlaps(r, windows)]


def in_window(record: SubmissionRecord, window: Window) -> bool:
    # A record's window is the declared one resolved to the data's first and last interval end.
    return window.start - INTERVAL_S <= record.window_start and record.window_end <= window.end + INTERVAL_S


@dataclass(frozen=True)
class Counted:
    """One commit that counts for a team's private ranking, with when arena received it."""

    team_id: int
    sha: str
    submitted_at: str | None


def _latest_per_commit(records: Iterable[SubmissionRecord]) -> list[SubmissionRecord]:
    latest: dict[str, SubmissionRecord] = {}
    for record in records:
        held = latest.get(record.git_commit_hash)
        if held is None or record.evaluated_at > held.evaluated_at:
            latest[record.git_commit_hash] = record
    return list(latest.values())


def public_round_records(records: Iterable[SubmissionRecord], rules: str, public_start: int | None,
                         windows: Iterable[Window]) -> list[SubmissionRecord]:
    """The public round's records: the competition's rules, from the public window's start (only its
    end grows), never private, never over a held-out window, never the baseline's."""
    return [r for r in public_only(records, windows)
            if r.team_id != BASELINE_TEAM_ID and r.rules == rules
            and (public_start is None or abs(r.window_start - public_start) <= INTERVAL_S)]


def counted(public: Iterable[SubmissionRecord], mode: tuple[str, int],
            chosen: Mapping[int, list[tuple[str, str | None]]] | None = None) -> dict[int, list[Counted]]:
    """{team_id: the commits that count} from the teams' public round records (`public_round_records`),
    the competition's `mode` (('latest', 1) or ('best_public', N)) and the teams' explicit choices
    ({team_id: [(sha, submitted_at)]}, which replace the mode for that team)."""
    by_team: dict[int, list[SubmissionRecord]] = {}
    for record in public:
        by_team.setdefault(record.team_id, []).append(record)
    result: dict[int, list[Counted]] = {}
    for team_id, records in by_team.items():
        commits = _latest_per_commit(records)
        if mode[0] == LATEST:
            picked = [max(commits, key=submitted_order)]
        else:  # the team's N best public values, in the ranking's own order; failed ones never count
            picked = [p.record for p in rank(commits) if p.rank is not None][:mode[1]]
        if picked:
            result[team_id] = [Counted(team_id, r.git_commit_hash, r.submitted_at) for r in picked]
    for team_id, commits in (chosen or {}).items():
        if commits:
            result[team_id] = [Counted(team_id, sha, at) for sha, at in commits]
    return result


def combined(records: list[SubmissionRecord]) -> SubmissionRecord:
    """One commit's private result over several held-out windows: scores and baselines summed."""
    if len(records) == 1:
        return records[0]
    first = records[0]
    scored = all(r.status == STATUS_OK and r.score is not None and r.score_problem is None for r in records)
    baselines = [r.baseline_score for r in records]
    failed = next((r for r in records if r.status != STATUS_OK), None)
    return SubmissionRecord(
        team_id=first.team_id, team_name=first.team_name, git_commit_hash=first.git_commit_hash,
        key=f"{first.git_commit_hash}#private-total#{first.rules}{PRIVATE_KEY_MARK}", rules=first.rules,
        window_start=min(r.window_start for r in records), window_end=max(r.window_end for r in records),
        submitted_at=first.submitted_at, evaluated_at=max(r.evaluated_at for r in records),
        status=STATUS_OK if scored else STATUS_ERROR,
        score=sum(r.score for r in records) if scored else None,
        baseline_score=sum(baselines) if None not in baselines else None,
        steps=sum(r.steps for r in records), error=failed.error if failed else None, private=True,
    )


def scored_windows(records: Iterable[SubmissionRecord], windows: Iterable[Window], rules: str) -> list[Window]:
    """The held-out windows some team has a private record over (the others are not scored yet)."""
    private = [r for r in records if is_private(r) and r.rules == rules and r.team_id != BASELINE_TEAM_ID]
    return [w for w in windows if any(in_window(r, w) for r in private)]


def private_result(records: Iterable[SubmissionRecord], commit: Counted, windows: list[Window],
                   rules: str) -> SubmissionRecord | None:
    """A counted commit's private result over the scored `windows` (latest evaluation of each);
    None when a window has no record of it yet."""
    own = [r for r in records if is_private(r) and r.team_id == commit.team_id and r.rules == rules
           and r.git_commit_hash == commit.sha]
    parts = []
    for window in windows:
        found = [r for r in own if in_window(r, window)]
        if not found:
            return None
        parts.append(max(found, key=lambda r: r.evaluated_at))
    return combined(parts) if parts else None


def private_board(submissions: Iterable[SubmissionRecord], teams: Iterable[Team], *, windows: list[Window],
                  rules: str, counts: dict[int, list[Counted]], public_rows: list[dict[str, Any]],
                  mode_text: str, revealed: Mapping[str, Any]) -> dict[str, Any]:
    """The `private` part of leaderboard.json after the reveal: the final ranking, with each team's
    public rank and shake-up. Rows in rank order, then failed, then teams without a private result."""
    submissions = list(submissions)
    scored = scored_windows(submissions, windows, rules)
    teams_by_id = {t.team_id: t for t in teams}
    best: dict[int, SubmissionRecord] = {}
    for team_id, commits in counts.items():
        if team_id not in teams_by_id:
            continue
        results = [r for c in commits if (r := private_result(submissions, c, scored, rules)) is not None]
        if results:
            best[team_id] = rank(results)[0].record  # the best of the team's counted commits
    places = {p.record.team_id: p for p in rank(best.values())}
    public_rank = {row["team_id"]: row["rank"] for row in public_rows}
    rows = []
    for team_id, team in sorted(teams_by_id.items()):
        place = places.get(team_id)
        record = place.record if place else None
        status = STATUS_NONE if record is None else STATUS_OK if place.rank is not None else (
            STATUS_ERROR if record.status != STATUS_OK or record.score_problem else STATUS_NONE)
        before = public_rank.get(team_id)
        after = place.rank if place else None
        rows.append({
            "rank": place.rank if place else None, "team_id": team_id, "team_name": team.team_name, "city": team.city,
            "git_commit_hash": record.git_commit_hash if record else None,
            "submitted_at": record.submitted_at if record else None,
            "score": record.score if record and place.rank is not None else None,
            "baseline_score": place.baseline_score if place else None,
            "value": place.value if place else None, "status": status, "steps": record.steps if record else 0,
            "error": record.error if record is not None and status == STATUS_ERROR else None,
            "public_rank": before,
            "shake_up": before - after if before is not None and after is not None else None,
            "counted": [c.sha for c in counts.get(team_id, [])],
        })
    order = {STATUS_OK: 0, STATUS_ERROR: 1, STATUS_NONE: 2}
    rows.sort(key=lambda row: (order[row["status"]], row["rank"] or 0, row["team_id"]))
    return {
        "revealed": True, "revealed_at": revealed.get("revealed_at"), "revealed_by": revealed.get("by"),
        "counts": mode_text,
        "windows": [dict(w.to_json(), scored=w in scored) for w in windows],
        "rows": rows,
    }
