"""One submission over one window: the heart of the `evaluate-submission` flow, as a plain function.

    record = evaluate_submission(store, team, sha, window_start=..., window_end=..., rules="gbh2024-tariff")

Lifecycle (prepare -> run -> score -> keep), cleanup in `finally`:
  1. check out exactly the commit into a fresh folder (no `.git`);
  2. read `bot/config.json`;
  3. load the market data from the store: the window plus every contiguous interval before it
     (the history the policy's `load_historical` sees);
  4. run the team's policy through the sandbox factory (each trial a fresh sandbox);
  5. score the baseline over the same data, window and rules (cached in store meta, keyed by
     window, rules and a fingerprint of the data, so a round pays for it once);
  6. keep the public SubmissionRecord (table `submissions`) and the private trials (object
     `TEAM_NAME-COMMIT_HASH`), and return the record.

Two kinds of failure, kept apart:
  * the team's: a commit that is gone, a repo over the size limit, a broken config, an image
    whose requirements do not install, any exception or limit inside the policy. These end as a
    record with status "error" and a message the team can act on; nothing is raised, so nothing
    is retried.
  * arena's: Docker not answering, the store unreachable, git failing, data missing for the
    window. These raise (PlatformError, StoreError, SandboxUnavailable, BadInput...), so the flow's
    retries take over and no team is ever blamed for them.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.models import DATAPOINT_FIELDS, SubmissionRecord, Team, utc_now_iso
from arena.scoring import row_value
from arena.settings import CompetitionSettings, MarketSettings, SubmissionSettings
from battery_sim.data import MarketData, from_frame, iso, utc_text
from battery_sim.errors import BadInput, PlatformFailure, PolicyError
from battery_sim.evaluator import evaluate
from battery_sim.policies import BASELINE, BUILTIN_POLICIES
from battery_sim.rules import INTERVAL_S, get_ruleset
from battery_sim.teamcode import TeamCodeError, read_config
from tasks import claims, live, reveal
from tasks.gitrepo import SourceError
from tasks.sandbox import SandboxLimits, configured_backend, isolation_warning, team_policy_factory
from tasks.store.base import MAX_ITEM_BYTES, ItemTooLarge, NotFound, Store, size_bound
from tasks.store.objects import open_objects
from tasks.submissions import checkout

BASELINE_TEAM_ID = 0  # the baseline's own record (arena/scoring.py never ranks team 0)
BASELINE_COMMIT = "baseline"


class PlatformError(PlatformFailure):
    """arena's side failed while evaluating (not the team's fault): retry, never blame the team."""

# ---- market data --------------------------------------------------------------------------


def series_name(region: str) -> str:
    return f"NEM:{region.strip().upper()}"


def _frame_of(rows: list) -> pd.DataFrame:
    """Datapoints -> the evaluator's input frame: `timestamp` as UTC text, then the data columns
    any row has (a column no row has is left out, as a 2024 CSV would)."""
    epoch = np.fromiter((r.interval_end for r in rows), dtype=np.int64, count=len(rows))
    columns: dict[str, Any] = {"timestamp": utc_text(epoch)}
    for name in DATAPOINT_FIELDS:
        values = [getattr(r, name) for r in rows]
        if name == "price" or any(v is not None for v in values):
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    return pd.DataFrame(columns)


def contiguous_history(rows: list, window_start: int) -> list:
    """Rows from the last gap (or unpriced interval) before `window_start` on: the policy gets
    the longest unbroken history, and a hole weeks ago does not stop today's evaluation."""
    keep_from = 0
    for i in range(len(rows)):
        if rows[i].interval_end >= window_start:
            break
        if rows[i].price is None:
            keep_from = i + 1
        elif i > keep_from and rows[i].interval_end - rows[i - 1].interval_end != INTERVAL_S:
            keep_from = i
    return rows[keep_from:]


def load_market(store: Store, region: str, window_start: int, window_end: int) -> MarketData:
    """The window and its history, from the store. Raises BadInput when the window has no
    intervals, a gap, or an interval without a price (the organiser's data, not the team's)."""
    rows = store.read_datapoints(series_name(region), None, window_end)
    rows = contiguous_history(rows, window_start)
    inside = [r for r in rows if r.interval_end >= window_start]
    if not inside:
        raise BadInput(f"no {region} market data between {iso(window_start)} and {iso(window_end)}; ingest it first")
    return from_frame(_frame_of(rows), f"{series_name(region)} data")


def resolve_window(data: MarketData, window_start: int | None, window_end: int | None) -> tuple[int, int, int, int]:
    """(lo, hi, first interval_end, last interval_end) of the window in `data`."""
    lo, hi = data.window(window_start, window_end)
    return lo, hi, int(data.interval_end[lo]), int(data.interval_end[hi - 1])


def data_fingerprint(data: MarketData, hi: int) -> str:
    """A short hash of every row up to the window end: a revised price changes it."""
    return data.fingerprint(hi)


def live_window(store: Store, region: str, start: int | None = None, end: int | None = None) -> tuple[int, int]:
    """The live window in epoch seconds: the given bounds, else the earliest / newest priced
    interval in the store."""
    if start is not None and end is not None:
        return start, end
    rows = [r for r in store.read_datapoints(series_name(region), start, end) if r.price is not None]
    if not rows:
        raise BadInput(f"no {region} market data in the store; run ingest-prices first")
    return (start if start is not None else rows[0].interval_end, end if end is not None else rows[-1].interval_end)


def require_covered(store: Store, region: str | None, start: int | None, end: int | None) -> None:
    """BadInput unless the store has a priced interval for every interval end in [start, end]
    (a None bound is not checked), naming what the data does cover: a backtest over a window the
    data only partly covers is refused, never silently run over the part it has."""
    if start is None and end is None:
        return
    region = region or MarketSettings().region
    series = series_name(region)
    first = -(-start // INTERVAL_S) * INTERVAL_S if start is not None else None
    last = end // INTERVAL_S * INTERVAL_S if end is not None else None
    if first is not None and last is not None and last < first:
        raise BadInput(f"the window {iso(start)} .. {iso(end)} holds no interval (its end is before its start)")
    rows = [r.interval_end for r in store.read_datapoints(series, first, last) if r.price is not None]
    ok = bool(rows) and (first is None or rows[0] == first) and (last is None or rows[-1] == last)
    # Holes are counted inside a window given whole; with one bound open, the history before a
    # competition's start may have holes the evaluation never reads (load_market judges the window).
    missing = (rows[-1] - rows[0]) // INTERVAL_S + 1 - len(rows) if rows and None not in (start, end) else 0
    if ok and not missing:
        return
    asked = f"{iso(start) if start is not None else 'the start'} .. {iso(end) if end is not None else 'the end'}"
    everything = [r.interval_end for r in store.read_datapoints(series) if r.price is not None]
    held = f"{iso(everything[0])} .. {iso(everything[-1])}" if everything else "nothing"
    inside = f"{iso(rows[0])} .. {iso(rows[-1])}" if rows else "none of it"
    gaps = f", with {missing} interval(s) missing inside" if missing else ""
    raise BadInput(f"the {region} data does not cover the window {asked}: it covers {inside}{gaps} "
                   f"(the store holds {held}); ingest the rest or choose a window inside it")


def refuse_held_out(store: Store, start: int, end: int) -> None:
    """BadInput for an ordinary (public) evaluation over a held-out window before the reveal: its
    score would reach the team's page in its task row and its history, and the private ranking would
    be no secret. After `arena reveal` such backtests are allowed."""
    hit = [w for w in CompetitionSettings().private if start <= w.end and w.start <= end]
    if hit and reveal.revealed(store) is None:
        held = ", ".join(f"{iso(w.start)} .. {iso(w.end)}" for w in hit)
        raise BadInput(f"the window {iso(start)} .. {iso(end)} overlaps the held-out window(s) {held}: "
                       "its scores are private until `arena reveal`; choose a window outside them")


# ---- baseline ------------------------------------------------------------------------------


def baseline_key(rules: str, start: int, end: int, fingerprint: str) -> str:
    return f"baseline:{rules}:{start}-{end}:{fingerprint}"


def baseline_score(
    store: Store, data: MarketData, rules: str, start: int, end: int, *, seed: int = 42, keep_record: bool = True,
    private: bool = False,
) -> float:
    """The baseline policy's score over the window (cached in meta by window, rules and data).
    On a cache miss the baseline's run is also kept as team 0's record, for the site's charts
    (over a private window a private record: the baseline's score there is as secret as the teams')."""
    _, hi, _, _ = resolve_window(data, start, end)
    key = baseline_key(rules, start, end, data_fingerprint(data, hi))
    cached = store.get_meta(key)
    if cached is not None and cached.get("score") is not None:
        return float(cached["score"])
    name, params = BASELINE
    policy_class = BUILTIN_POLICIES[name]
    result = evaluate(data, get_ruleset(rules), lambda: policy_class(**params), start=start, end=end,
                      seed=seed, class_name=name, parameters=params)
    if result["status"] != "success":  # a built-in policy failing is arena's bug
        raise PlatformError(f"the baseline {name} failed: {result['error']}")
    score = float(result["score"])
    store.put_meta(key, {"score": score, "rules": rules, "start": start, "end": end, "computed_at": utc_now_iso()})
    if keep_record:
        record = SubmissionRecord(
            team_id=BASELINE_TEAM_ID, team_name="baseline", git_commit_hash=BASELINE_COMMIT,
            key=SubmissionRecord.make_key(BASELINE_COMMIT, start, end, rules, private), window_start=start,
            window_end=end, rules=rules, status="success", score=score, baseline_score=score, class_name=name,
            parameters=params, steps=result["steps"], main_trial=result["main_trial"], private=private,
        )
        put_public(store, record)
    return score


# ---- keeping results ----------------------------------------------------------------------


def thin_trial(trial: dict[str, Any], step: int) -> dict[str, Any]:
    """Every `step`-th interval of a main_trial (the last always kept), marked as thinned."""
    thinned: dict[str, Any] = {}
    for name, value in trial.items():
        if isinstance(value, list) and len(value) > 1 and name != "rundown_profit_deltas":
            picked = value[::step]
            if (len(value) - 1) % step:
                picked.append(value[-1])
            thinned[name] = picked
        else:
            thinned[name] = value
    thinned["thinned_every"] = step
    return thinned


_RECORD_MARGIN = 32 * 1024  # the record's other fields (logs tail, error, traceback) beside its main_trial


def put_public(store: Store, record: SubmissionRecord) -> SubmissionRecord:
    """Store the public record; a main_trial over DynamoDB's item limit is thinned (2, 4, 8...
    intervals per point) until it fits: the full trial is in the private object. The first step
    tried is the smallest whose cheap size bound fits (`size_bound`), so a long window's record is
    not counted number by number at every step (that was most of a 4-week live advance's cost)."""
    step = 1
    while step < 1024 and size_bound(record.main_trial if step == 1 else thin_trial(record.main_trial, step)) > (
            MAX_ITEM_BYTES - _RECORD_MARGIN):
        step *= 2
    while True:
        candidate = record if step == 1 else record.model_copy(update={"main_trial": thin_trial(record.main_trial, step)})
        try:
            store.put_submission(candidate)
            return candidate
        except ItemTooLarge:
            if step >= 1024:
                raise
            step *= 2


def object_name(team_name: str, sha: str) -> str:
    """`TEAM_NAME-COMMIT_HASH`, with characters an object key should not hold replaced."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', team_name).strip('._') or 'team'}-{sha}"


def private_trials(result: dict[str, Any]) -> list[dict[str, Any]]:
    if "trials" in result:
        return result["trials"]["runs"]
    main = dict(result["main_trial"])
    main.update(window=result["window"], score=result["score"], status=result["status"])
    return [main]


def keep_trials(objects: Any, record: SubmissionRecord, trials: list[dict[str, Any]], *,
                supersede: bool = False) -> str:
    """Add this window's trials to the commit's private object (one object per team and commit,
    one entry per window key). Returns the object name. `supersede` (a live run): drop the entries
    of the same rules and window start that end earlier, which this one extends: the object stays
    one window's size instead of growing by a whole window each round."""
    name = object_name(record.team_name, record.git_commit_hash)
    try:
        document = objects.get_json(name)
    except NotFound:
        document = {}
    if not isinstance(document, dict) or "evaluations" not in document:
        document = {"team_id": record.team_id, "team_name": record.team_name,
                    "git_commit_hash": record.git_commit_hash, "evaluations": {}}
    if supersede:
        evaluations = document["evaluations"]
        for key in [k for k, v in evaluations.items() if isinstance(v, dict) and v.get("rules") == record.rules
                    and v.get("window_start") == record.window_start
                    and isinstance(v.get("window_end"), int) and v["window_end"] < record.window_end]:
            del evaluations[key]
    document["evaluations"][record.key] = {
        "rules": record.rules, "window_start": record.window_start, "window_end": record.window_end,
        "evaluated_at": record.evaluated_at, "status": record.status, "score": record.score, "trials": trials,
    }
    objects.put_json(name, document)
    return name


# ---- the whole thing ----------------------------------------------------------------------


class TeamFailure(PolicyError):
    """A failure before the policy ran that is the team's to fix."""

    def __init__(self, message: str, traceback_text: str | None = None, logs_tail: str | None = None):
        super().__init__(message, traceback_text=traceback_text, logs_tail=logs_tail)
        self.message = message


def _team_of(store: Store, team: Team | int) -> Team:
    if isinstance(team, Team):
        return team
    try:
        return store.get_team(int(team))
    except NotFound:
        raise BadInput(f"team {team} is not registered (arena teams add)") from None


def prepare_checkout(team: Team, sha: str, root: Path) -> Path:
    """Check out the commit into a fresh folder under `root`; team-visible problems -> TeamFailure."""

    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{team.team_id}-{sha[:12]}-{uuid.uuid4().hex[:8]}"
    try:
        return checkout(team, sha, dest)
    except SourceError as exc:
        raise TeamFailure(f"checkout of {sha[:12]}: {exc.diagnostic}") from None


def evaluate_submission(
    store: Store,
    team: Team | int,
    sha: str,
    *,
    window_start: int | None,
    window_end: int | None,
    rules: str,
    trials: int = 1,
    seed: int = 42,
    backend: str | None = None,
    objects: Any = None,
    checkout_root: Path | None = None,
    submitted_at: str | None = None,
    region: str | None = None,
    container_slot: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    log: Callable[[str], None] = lambda message: None,
    claim: str | None = None,
    force: bool = False,
    run_id: str | None = None,
    private: bool = False,
    live_run: bool = False,
) -> SubmissionRecord:
    """Evaluate commit `sha` of `team` over [window_start, window_end] (epoch seconds of interval
    ends; None = the data's first / last interval) and keep the result. `live_run`: this is the
    competition's live window, advanced from the team's last checkpoint (tasks/live.py) rather
    than replayed from its start (one trial only; more trials replay). See the module docstring
    for what is the team's failure (a record with status "error") and what raises.

    Exactly once (tasks/claims.py): a commit already evaluated over this window and rules returns
    its stored record and runs nothing (unless `force`); otherwise the evaluation claim is taken
    first (or handed over from the round that took it: `claim`, its token), and BeingEvaluated is
    raised while another run holds it. A platform failure releases the claim, so the next run retries.

    `container_slot()` is entered around the sandboxed run only (the flow passes a Prefect
    global-concurrency slot); `log` receives progress lines (the flow passes its run logger);
    `run_id` names the flow run in the claim. `private`: the window is a held-out one (issue 19): it
    must be covered whole, and the record (and the baseline's) is private, keyed apart."""

    team = _team_of(store, team)
    sha = sha.strip().lower()
    ruleset = get_ruleset(rules)
    region = region or MarketSettings().region
    objects = objects if objects is not None else open_objects()
    backend = configured_backend(backend)

    if private:  # a held-out window is scored whole or not at all, never over the part that arrived
        require_covered(store, region, window_start, window_end)
    # The window is resolved against the data first: its real bounds key the record.
    lookup_start, lookup_end = live_window(store, region, window_start, window_end)
    data = load_market(store, region, lookup_start, lookup_end)
    _, _, start, end = resolve_window(data, lookup_start, lookup_end)
    if not private:
        refuse_held_out(store, start, end)
    key = SubmissionRecord.make_key(sha, start, end, ruleset.name, private)
    log(f"team {team.team_id} ({team.team_name}) commit {sha[:12]}: {ruleset.name} over {iso(start)} .. {iso(end)}")
    if not force and (existing := already_evaluated(store, team.team_id, key)) is not None:
        log(f"already evaluated ({existing.evaluated_at}): nothing to run")
        return existing
    taken = claims.hand_over(store, claim, run_id=run_id) if claim else claims.take(store, team.team_id, key, run_id=run_id)
    if not isinstance(taken, claims.Claim):
        why = taken.describe() if taken is not None else "taken over by another run"
        raise BeingEvaluated(team.team_id, key, why)
    try:
        if not force and (existing := already_evaluated(store, team.team_id, key)) is not None:
            claims.finish(store, taken)  # it landed between our look and our claim
            return existing
        record = _run_and_keep(store, team, sha, data, ruleset, start, end, key, trials=trials, seed=seed,
                               backend=backend, objects=objects, checkout_root=checkout_root,
                               submitted_at=submitted_at, container_slot=container_slot, log=log, private=private,
                               live_run=live_run)
    except BaseException as exc:
        claims.release(store, taken, f"{type(exc).__name__}: {exc}")
        raise
    claims.finish(store, taken)
    return record


def _run_and_keep(store: Store, team: Team, sha: str, data: MarketData, ruleset: Any, start: int, end: int,
                  key: str, *, trials: int, seed: int, backend: str, objects: Any, checkout_root: Path | None,
                  submitted_at: str | None, container_slot: Callable[[], AbstractContextManager[Any]],
                  log: Callable[[str], None], private: bool = False, live_run: bool = False) -> SubmissionRecord:
    """The work of one claimed evaluation: checkout, sandboxed run, baseline, both records kept."""

    fields: dict[str, Any] = dict(
        team_id=team.team_id, team_name=team.team_name, key=key, git_commit_hash=sha, window_start=start,
        window_end=end, rules=ruleset.name, submitted_at=submitted_at, private=private,
    )
    root = Path(checkout_root) if checkout_root is not None else SubmissionSettings().checkout_dir
    team_dir: Path | None = None
    result: dict[str, Any] | None = None
    try:
        team_dir = prepare_checkout(team, sha, root)
        try:
            config = read_config(team_dir)
        except TeamCodeError as exc:
            raise TeamFailure(str(exc)) from None
        fields.update(class_name=config.class_name, parameters=config.parameters)
        limits = SandboxLimits.from_settings(overrides=team.limits)
        with container_slot():
            try:
                factory = team_policy_factory(team_dir, backend=backend, limits=limits, team_id=team.team_id, commit=sha)
            except PolicyError as exc:  # a broken bot/ or requirements that do not install
                raise TeamFailure(str(exc), exc.traceback_text, exc.logs_tail) from None
            except PlatformFailure as exc:  # no engine, no base image
                raise PlatformError(f"sandbox unavailable: {exc}") from exc
            fields["notes"] = list(getattr(factory, "notes", ()))
            for note in fields["notes"]:
                log(f"note: {note}")
            log(f"running {config.class_name} on the {backend} sandbox ({trials} trial(s))")
            warning = isolation_warning(backend)
            if warning:
                log(f"warning: {warning}")
            try:
                if live_run and trials == 1:
                    lo, hi, _, _ = resolve_window(data, start, end)
                    result, notes = live.advance(
                        objects, live.LiveRun(team.team_id, sha, ruleset.name, start, seed), data, ruleset, factory,
                        lo, hi, horizon_end=live.horizon(), class_name=config.class_name,
                        parameters=config.parameters, log=log)
                    fields["notes"] += notes
                else:
                    result = evaluate(data, ruleset, factory, start=start, end=end, trials=trials, seed=seed,
                                      class_name=config.class_name, parameters=config.parameters,
                                      horizon=live.horizon() if live_run else None)
            except PlatformFailure as exc:
                # The evaluator lets arena's own failures out (SandboxUnavailable: no engine, no image).
                raise PlatformError(f"sandbox unavailable: {exc}") from exc
    except TeamFailure as failure:
        fields.update(status="error", error=failure.message, error_traceback=failure.traceback_text,
                      logs_tail=failure.logs_tail)
    finally:
        if team_dir is not None:
            shutil.rmtree(team_dir, ignore_errors=True)

    base = baseline_score(store, data, ruleset.name, start, end, seed=seed, private=private)
    fields["baseline_score"] = base
    if result is not None:
        fields.update(
            status=result["status"], score=result["score"], error=result["error"],
            error_traceback=result["error_traceback"], logs_tail=result["logs_tail"], steps=result["steps"],
            main_trial=result["main_trial"], num_runs=result["num_runs"], main_trial_idx=result["main_trial_idx"],
        )
    record = SubmissionRecord(**fields)
    if result is not None:
        keep_trials(objects, record, private_trials(result), supersede=live_run)
    record = put_public(store, record)
    if record.status == "success":
        value = row_value(record)[1]
        log(f"score {record.score:.4f}, baseline {base:.4f}, value " + ("none" if value is None else f"{value:+.4f}"))
    else:
        log(f"team error: {record.error}")
    return record


class BeingEvaluated(Exception):
    """Another run holds this evaluation's claim: not a failure, and never retried as one."""

    def __init__(self, team_id: int, key: str, why: str):
        super().__init__(f"team {team_id} {key.split('#')[0][:12]}: {why}")
        self.team_id, self.key, self.why = team_id, key, why


def evaluate_or_await(store: Store, team: Team | int, sha: str, **options: Any) -> SubmissionRecord:
    """evaluate_submission, but while another run holds the claim, wait for that run and report
    its record when it lands (or evaluate, when it gave the claim back or died). The flows use
    this; `arena tasks run` puts such a row back instead (it runs rows one at a time)."""
    log = options.get("log") or (lambda message: None)
    while True:
        try:
            return evaluate_submission(store, team, sha, **options)
        except BeingEvaluated as busy:
            log(f"{busy}; waiting for its result")
            claims.wait_free(store, busy.team_id, busy.key)
            options["claim"] = None  # a handed-over claim is spent: take our own if it was given back


def already_evaluated(store: Store, team_id: int, key: str) -> SubmissionRecord | None:
    """The stored record of this commit over this window and rules, if any (rounds skip those)."""
    try:
        return store.get_submission(team_id, key)
    except NotFound:
        return None


def describe(record: SubmissionRecord) -> str:
    """The one-line diagnostic a task row shows for a finished evaluation."""

    window = f"{iso(record.window_start)} .. {iso(record.window_end)}"
    if record.status == "success" and record.score is not None:
        value = row_value(record)[1]
        value = "" if value is None else f", {value:+.4f} vs baseline"
        return f"score {record.score:.4f}{value} ({record.rules}, {window}, {record.steps} intervals)"
    return f"error: {record.error} ({record.rules}, {window})"
