"""Planning rounds and backtests: which commit of which team is evaluated over which window,
which are already done (a restarted round evaluates nothing twice), and the ranked table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from arena import heldout
from arena.models import SubmissionRecord
from arena.scoring import parse_time, rank
from arena.settings import CompetitionSettings, MarketSettings
from battery_sim.data import iso
from battery_sim.errors import BadInput
from battery_sim.rules import get_ruleset
from tasks import claims, limits, reveal
from tasks.evaluation import already_evaluated, live_window, load_market, require_covered, resolve_window
from tasks.store.base import Store


@dataclass(frozen=True)
class Entry:
    """One team's part of a round or backtest: which commit, and whether it is already done."""

    team_id: int
    team_name: str
    sha: str
    submitted_at: str | None
    key: str
    done: bool
    claim: str | None = None  # the token of this entry's evaluation claim, once the round took it


def current_commits(store: Store, team_ids: list[int] | None = None) -> dict[int, tuple[str, str]]:
    """Each team's current submission: the commit of its newest kickoff row (whatever that row's
    state: a submission whose evaluation was lost is still the team's submission), with the time
    arena received it; a row past the team's submission limit never counts (tasks/limits.py).
    {team_id: (sha, received_at)}."""
    wanted = set(team_ids) if team_ids is not None else None
    current: dict[int, tuple[str, str]] = {}
    for row in store.list_tasks():  # id order: later rows replace earlier ones
        if row.type.value != "submission-kickoff" or not row.git_commit_hash or row.team_id is None:
            continue
        if not limits.counts(row):
            continue
        if wanted is None or row.team_id in wanted:
            current[row.team_id] = (row.git_commit_hash, row.created_at)
    return current


def plan(
    store: Store,
    *,
    rules: str,
    window_start: int | None = None,
    window_end: int | None = None,
    team_ids: list[int] | None = None,
    commit: str | None = None,
    region: str | None = None,
    force: bool = False,
) -> tuple[int, int, list[Entry]]:
    """The window (resolved to the first and last interval in the store) and one Entry per team
    with a submission (or `commit`, for a single-team backtest). `done` marks teams whose commit
    already has a record over exactly this window and rules, so a restarted round does not
    evaluate anything twice (unless `force`)."""
    region = region or MarketSettings().region
    ruleset = get_ruleset(rules)
    lookup = live_window(store, region, window_start, window_end)
    data = load_market(store, region, *lookup)
    _, _, start, end = resolve_window(data, *lookup)
    teams = {t.team_id: t for t in store.list_teams()}
    if team_ids is not None:
        missing = sorted(set(team_ids) - set(teams))
        if missing:
            raise BadInput(f"team(s) {', '.join(map(str, missing))} not registered")
    if commit is not None:
        if team_ids is None or len(team_ids) != 1:
            raise BadInput("a commit can only be given for one team")
        commits = {team_ids[0]: (commit.strip().lower(), None)}
    else:
        commits = current_commits(store, team_ids)
    entries = []
    for team_id in sorted(commits):
        if team_id not in teams:
            continue  # removed from the competition
        sha, received = commits[team_id]
        key = SubmissionRecord.make_key(sha, start, end, ruleset.name)
        done = not force and already_evaluated(store, team_id, key) is not None
        entries.append(Entry(team_id, teams[team_id].team_name, sha, received, key, done))
    return start, end, entries


# -- private (held-out) windows, issue 19 ----------------------------------------------------------


@dataclass(frozen=True)
class PrivatePlan:
    """One held-out window of a round: its bounds resolved to the data, and its entries in layers
    (layer i = each team's i-th counted commit), so a layer has at most one entry per team."""

    start: int
    end: int
    layers: list[list[Entry]]

    @property
    def entries(self) -> list[Entry]:
        return [e for layer in self.layers for e in layer]


def counted_commits(store: Store, competition: CompetitionSettings) -> dict[int, list[heldout.Counted]]:
    """The commits of each registered team that count for the private ranking (arena/heldout.py)."""
    teams = [t.team_id for t in store.list_teams()]
    start = parse_time(competition.window_start) if competition.window_start else None
    records = [r for team_id in teams for r in store.list_submissions(team_id)]
    public = heldout.public_round_records(records, competition.rules, start, competition.private)
    return heldout.counted(public, competition.counted, reveal.choices(store, teams))


def plan_private(store: Store, competition: CompetitionSettings, *, region: str | None = None,
                 force: bool = False) -> tuple[list[PrivatePlan], list[str]]:
    """The round's private part: a PrivatePlan per held-out window the data covers whole, and a
    line for each one it does not cover yet (not scored yet: never over the part that arrived)."""
    region = region or MarketSettings().region
    rules = get_ruleset(competition.rules).name
    teams = {t.team_id: t.team_name for t in store.list_teams()}
    counts = counted_commits(store, competition)
    plans, waiting = [], []
    for window in competition.private:
        try:
            require_covered(store, region, window.start, window.end)
        except BadInput as exc:
            waiting.append(f"held-out window {iso(window.start)} .. {iso(window.end)} is not scored yet: {exc}")
            continue
        _, _, start, end = resolve_window(load_market(store, region, window.start, window.end),
                                          window.start, window.end)
        layers: list[list[Entry]] = []
        for team_id, commits in sorted(counts.items()):
            for depth, commit in enumerate(commits):
                key = SubmissionRecord.make_key(commit.sha, start, end, rules, private=True)
                done = not force and already_evaluated(store, team_id, key) is not None
                if depth == len(layers):
                    layers.append([])
                layers[depth].append(Entry(team_id, teams.get(team_id, ""), commit.sha, commit.submitted_at, key, done))
        plans.append(PrivatePlan(start, end, layers))
    return plans, waiting


def ranked(records: list[SubmissionRecord]) -> list[dict[str, Any]]:
    """The round / backtest table, in the leaderboard's order (arena.scoring.rank): scored teams
    by value best first, then the rest."""
    return [
        {
            "rank": place.rank, "team_id": place.record.team_id, "team_name": place.record.team_name,
            "commit": place.record.git_commit_hash, "status": place.record.status, "score": place.record.score,
            "baseline_score": place.baseline_score, "value": place.value, "error": place.record.error,
            "rules": place.record.rules, "window_start": iso(place.record.window_start),
            "window_end": iso(place.record.window_end),
        }
        for place in rank(records)
    ]


def claim_entries(store: Store, entries: list[Entry], *, run_id: str | None = None
                  ) -> tuple[list[Entry], list[tuple[Entry, claims.Held]]]:
    """Take the evaluation claim of every entry not done, before any row is queued: (entries this
    run evaluates, each carrying its claim token; entries another run is evaluating, with who)."""
    mine, others = [], []
    for entry in entries:
        if entry.done:
            continue
        taken = claims.take(store, entry.team_id, entry.key, run_id=run_id)
        if isinstance(taken, claims.Claim):
            mine.append(replace(entry, claim=taken.token))
        else:
            others.append((entry, taken))
    return mine, others


def await_others(store: Store, others: list[tuple[Entry, claims.Held]],
                 log: Callable[[str], None] = lambda message: None) -> dict[int, str]:
    """Wait for the evaluations other runs hold, so the round reports their results when they land
    (bounded: a held claim goes stale). {team_id: the table's `run` for it}."""
    states = {}
    for entry, held in others:
        log(f"team {entry.team_id} commit {entry.sha[:12]}: {held.describe()}; waiting for its result")
        claims.wait_free(store, entry.team_id, entry.key)
        states[entry.team_id] = BY_ANOTHER_RUN
    return states


# The `run` and `status` a round's table gives a team it did not evaluate this time.
SKIPPED = "skipped (already evaluated)"
BY_ANOTHER_RUN = "evaluated by another run"
NOT_EVALUATED = "not evaluated"


def only_platform_failures(table: list[dict[str, Any]]) -> bool:
    """True when the round tried at least one team and none of them got a record: every
    evaluation failed on arena's side (a team's own error is a record, so it never counts).
    Such a round is arena's failure and its command exits non-zero."""
    tried = [row for row in table if row.get("run") not in (SKIPPED, BY_ANOTHER_RUN)]
    return bool(tried) and all(row.get("status") == NOT_EVALUATED for row in tried)
