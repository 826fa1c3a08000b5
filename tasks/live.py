"""Incremental live evaluation: a team's live run continues from where the last round left it.

    result, notes = advance(objects, run, data, ruleset, factory, lo, hi)

A live run is one team's commit over the competition's window from its start (`LiveRun`). After
each advance arena keeps a CHECKPOINT of it, immutable and named by the run and the last interval
end done, in the object store (never the table: it is private):

  * the simulator's state, plain JSON written by arena: charge, profit, the intervals done, every
    list the record needs (profits, socs, actions ...), the data fingerprint up to the last
    interval done, the horizon `remaining_steps` counts to;
  * the policy's state, opaque bytes the team's agent pickled inside its own sandbox
    (battery_sim/snapshot.py). arena never unpickles them: they go back only to a sandbox of
    the same team and commit, which restores them instead of `__init__` + `load_historical`.

An advance loads the newest checkpoint whose end is at or before the new window end, runs only the
intervals after it, writes the new checkpoint (the bytes first, then the JSON that names them: a
checkpoint exists once its JSON does), and returns the evaluator's result over the whole window,
so the record is the one a full replay would write. Two advances never write the same names (the
bytes carry a fresh token), a killed advance leaves the previous checkpoint, and a retried one
starts from it again: nothing is lost or counted twice.

A full replay from the window start (which then writes a checkpoint) happens when there is no
checkpoint, when a price up to the checkpoint's end was revised (its fingerprint differs), or when
the policy's state cannot be kept or restored; the last is said on the record in plain words.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from arena.scoring import parse_time
from arena.settings import CompetitionSettings
from battery_sim.data import MarketData
from battery_sim.errors import PolicyError
from battery_sim.evaluator import evaluate
from battery_sim.policy import PolicyFactory
from battery_sim.rules import Ruleset
from tasks.sandbox import SnapshotRefused
from tasks.store.base import NotFound, StoreError

KEEP = 3  # checkpoints kept per live run: the newest, and two for an advance still reading an older one
FORMAT = 1
_LISTS = ("profits", "socs", "actions", "solar_actions", "executed_actions", "executed_solar_actions")
NOT_KEPT = ("live run: the policy's state could not be kept between rounds ({why}), so every round "
            "replays the whole window from its start; the score is the same, it only arrives later")
NOT_RESTORED = ("live run: the policy's saved state could not be restored ({why}), so this round "
                "replayed the whole window from its start")


@dataclass(frozen=True)
class LiveRun:
    """One team's live run: what a checkpoint must match to be continued."""

    team_id: int
    sha: str
    rules: str
    window_start: int  # epoch of the window's first interval end
    seed: int

    @property
    def prefix(self) -> str:
        return f"live/{self.team_id}/{self.sha}/{self.rules}/{self.window_start}-{self.seed}/"

    def name(self, end: int) -> str:
        return f"{self.prefix}{end:012d}"


def horizon(settings: CompetitionSettings | None = None) -> int | None:
    """The interval end a live run's `remaining_steps` counts to: the competition's declared
    window end, or None (open-ended: to the newest interval of each advance)."""
    end = (settings or CompetitionSettings()).window_end
    return parse_time(end) if end else None


def checkpoint_ends(objects: Any, run: LiveRun) -> list[int]:
    ends = []
    for name in objects.list(run.prefix):
        tail = name[len(run.prefix):]
        if tail.isdigit():
            ends.append(int(tail))
    return sorted(ends)


def newest_checkpoint(objects: Any, run: LiveRun, end: int) -> dict[str, Any] | None:
    """The newest checkpoint of `run` whose last interval end is at or before `end`, or None."""
    for last in reversed(checkpoint_ends(objects, run)):
        if last > end:
            continue
        try:
            state = objects.get_json(run.name(last))
        except NotFound:  # pruned by a later advance since the listing: an older one will do
            continue
        if isinstance(state, dict) and state.get("format") == FORMAT:
            return state
    return None


def _usable(state: dict[str, Any], run: LiveRun, data: MarketData, lo: int, hi: int,
            horizon_end: int | None) -> bool:
    """Whether `state` continues this run over this data: the same run, no price revised up to
    its end, no more intervals done than the window holds."""
    done = state.get("done")
    if not isinstance(done, int) or not 0 < done <= hi - lo:
        return False
    if (state.get("team_id"), state.get("sha"), state.get("rules"), state.get("window_start"), state.get("seed")) != (
            run.team_id, run.sha, run.rules, run.window_start, run.seed):
        return False
    if state.get("horizon") != horizon_end or int(data.interval_end[lo + done - 1]) != state.get("last_end"):
        return False
    if any(not isinstance(state.get(k), list) or len(state[k]) != done for k in _LISTS):
        return False
    return state.get("fingerprint") == data.fingerprint(lo + done)


def advance(objects: Any, run: LiveRun, data: MarketData, ruleset: Ruleset, factory: PolicyFactory, lo: int, hi: int,
            *, horizon_end: int | None = None, class_name: str = "", parameters: dict[str, Any] | None = None,
            log: Any = lambda message: None) -> tuple[dict[str, Any], list[str]]:
    """The live run over rows [lo, hi) of `data`, continued from its newest usable checkpoint
    (else replayed from `lo`), and a new checkpoint kept. Returns (the evaluator's result over
    the whole window, notes for the record). Team failures are in the result, as evaluate()'s;
    arena's own failures raise, and leave the checkpoints as they were."""
    end = int(data.interval_end[hi - 1])
    options = dict(start=int(data.interval_end[lo]), end=end, seed=run.seed, class_name=class_name,
                   parameters=parameters, horizon=horizon_end, snapshot=True)
    notes: list[str] = []
    result = None
    state = newest_checkpoint(objects, run, end)
    if state is not None and not _usable(state, run, data, lo, hi, horizon_end):
        log(f"live run: checkpoint at {state.get('last_end')} does not match the data (a revised price?); replaying")
        state = None
    if state is not None:
        result = _continue(objects, state, data, ruleset, factory, options, notes, log)
    if result is None:
        result = evaluate(data, ruleset, factory, **options)
    blob, why = result.pop("snapshot"), result.pop("snapshot_error")
    if result["status"] == "success":
        if blob is not None:
            keep(objects, run, data, lo, result, blob, horizon_end)
        else:
            notes.append(NOT_KEPT.format(why=why))
    return result, notes


def _continue(objects: Any, state: dict[str, Any], data: MarketData, ruleset: Ruleset, factory: PolicyFactory,
              options: dict[str, Any], notes: list[str], log: Any) -> dict[str, Any] | None:
    """The run continued from `state`, or None when its policy state cannot be restored."""
    try:
        blob = objects.get_bytes(state["blob"])
    except NotFound:
        log("live run: the checkpoint's policy state is gone (pruned meanwhile); replaying")
        return None
    handle = None
    try:
        handle = factory()
        handle.restore(blob)
    except (SnapshotRefused, PolicyError, AttributeError) as exc:
        _close(handle)
        why = str(exc) if not isinstance(exc, AttributeError) else "this sandbox cannot restore a policy's state"
        notes.append(NOT_RESTORED.format(why=why))
        return None
    except BaseException:
        _close(handle)
        raise
    log(f"live run: continuing after interval {state['done']} ({state['last_end']})")
    given = iter([handle])  # evaluate() asks its factory once, for the one trial
    return evaluate(data, ruleset, lambda: next(given), resume=state, **options)


def _close(handle: Any) -> None:
    close = getattr(handle, "close", None) if handle is not None else None
    if close is not None:
        close()


def keep(objects: Any, run: LiveRun, data: MarketData, lo: int, result: dict[str, Any], blob: bytes,
         horizon_end: int | None) -> str:
    """Write the checkpoint of a successful run (the bytes, then the JSON naming them), then prune
    all but the newest KEEP. Returns the checkpoint's name."""
    sim, trial = result["sim_state"], result["main_trial"]
    done = sim["done"]
    last_end = int(data.interval_end[lo + done - 1])
    name = run.name(last_end)
    blob_name = f"{name}-{secrets.token_hex(8)}"
    state = {"format": FORMAT, "team_id": run.team_id, "sha": run.sha, "rules": run.rules,
             "window_start": run.window_start, "seed": run.seed, "horizon": horizon_end, "last_end": last_end,
             "fingerprint": data.fingerprint(lo + done), "blob": blob_name, **sim,
             **{k: trial[k] for k in _LISTS}}
    objects.put_bytes(blob_name, blob)
    objects.put_json(name, state)
    prune(objects, run)
    return name


def prune(objects: Any, run: LiveRun, keep_last: int = KEEP) -> None:
    """Remove all but the newest `keep_last` checkpoints of `run` (their JSON last, so a reader
    never finds a checkpoint without its bytes for long: it then replays)."""
    for end in checkpoint_ends(objects, run)[:-keep_last]:
        name = run.name(end)
        try:
            blob = objects.get_json(name).get("blob")
            if isinstance(blob, str) and blob.startswith(run.prefix):
                objects.delete(blob)
            objects.delete(name)
        except (NotFound, StoreError, AttributeError):
            continue  # another advance pruned it first
