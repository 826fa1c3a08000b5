"""Exactly one evaluation per submission: a claim in the store, taken before any work.

Every path that evaluates (a round, a backtest, `arena tasks run`, the `run-pending-tasks` and
`evaluate-submission` flows) goes through `tasks.evaluation.evaluate_submission`, which takes the
claim of (team, SubmissionRecord key = commit#window#rules) first; a round takes its claims
before it queues any row, and hands each to the run that does the work (`token`).

The claim is a chain of meta items `evaluating:TEAM:KEY#0`, `#1`, ... Each generation is created
with `store.claim` (create-if-absent: a conditional put on DynamoDB, an INSERT in one SQLite
transaction), so of any number of runs that try generation n+1 exactly one wins. The newest
generation is the claim; it says who holds it (host, pid, flow run, when) and its state:
  * held     - someone is evaluating; everyone else waits or skips;
  * done     - the record is in the store (the record is the truth: a deleted record is
               evaluated again, a `--force` run takes the next generation);
  * released - a platform failure gave it back, so the next run retries.
A held claim is stale when its process on this host is gone, or it is older than
`ARENA_FLOWS_EVALUATION_CLAIM_STALE_S` (a holder on another host); a stale or free claim is
taken over by creating the next generation, so two runs that both see it stale never both win.
Only its holder writes a generation after creating it."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arena.models import utc_now_iso
from arena.processes import pid_alive
from arena.settings import OrchestrationSettings
from tasks.store.base import Store

HELD, DONE, RELEASED = "held", "done", "released"


def _base(team_id: int, key: str) -> str:
    return f"evaluating:{team_id}:{key}"


def _generation_key(base: str, n: int) -> str:
    return f"{base}#{n}"


@dataclass(frozen=True)
class Claim:
    """A generation this run holds. `token` hands it to the run that does the work."""

    base: str
    generation: int
    holder: dict[str, Any]

    @property
    def meta_key(self) -> str:
        return _generation_key(self.base, self.generation)

    @property
    def token(self) -> str:
        return f"{self.meta_key}|{self.holder['nonce']}"


@dataclass(frozen=True)
class Held:
    """Someone else holds the claim: who, for the run's table and the team's row."""

    holder: dict[str, Any]

    def describe(self) -> str:
        run = f", flow run {self.holder['run_id']}" if self.holder.get("run_id") else ""
        return (f"being evaluated by another run (pid {self.holder.get('pid')} on {self.holder.get('host')}{run}, "
                f"since {self.holder.get('at')})")


def _holder(nonce: str, run_id: str | None) -> dict[str, Any]:
    return {"state": HELD, "host": socket.gethostname(), "pid": os.getpid(), "run_id": run_id,
            "at": utc_now_iso(), "nonce": nonce}


def newest(store: Store, team_id: int, key: str) -> tuple[int, dict[str, Any] | None]:
    """(generation, holder) of the claim now; (-1, None) when nobody ever claimed it."""
    base = _base(team_id, key)
    n, value = -1, None
    while (found := store.get_meta(_generation_key(base, n + 1))) is not None:
        n, value = n + 1, found
    return n, value


def _age_s(holder: dict[str, Any], now: datetime) -> float:
    try:
        at = datetime.fromisoformat(str(holder.get("at")).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")  # unreadable: nobody can be shown to hold it
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (now - at).total_seconds()


def is_live(holder: dict[str, Any] | None, *, now: datetime | None = None, stale_s: float | None = None,
            alive: Callable[[int], bool] = pid_alive) -> bool:
    """Whether `holder` still holds the claim: held, its process (on this host) running, and not
    older than the stale limit."""
    if holder is None or holder.get("state") != HELD:
        return False
    if holder.get("host") == socket.gethostname():
        try:
            if not alive(int(holder.get("pid"))):
                return False
        except (TypeError, ValueError):
            return False
    stale_s = OrchestrationSettings().evaluation_claim_stale_s if stale_s is None else stale_s
    return _age_s(holder, now or datetime.now(UTC)) <= stale_s


def take(store: Store, team_id: int, key: str, *, run_id: str | None = None, stale_s: float | None = None,
         alive: Callable[[int], bool] = pid_alive) -> Claim | Held:
    """The claim for this run, or who holds it. A free, done, released or stale claim is taken by
    creating the next generation; of runs racing for it exactly one wins, the others see it held."""
    base = _base(team_id, key)
    while True:
        n, holder = newest(store, team_id, key)
        if is_live(holder, stale_s=stale_s, alive=alive):
            return Held(holder)
        mine = _holder(uuid.uuid4().hex, run_id)
        if holder is not None and holder.get("state") == HELD:
            mine["took_over"] = {k: holder.get(k) for k in ("host", "pid", "run_id", "at")}
        if store.claim(_generation_key(base, n + 1), mine):
            return Claim(base, n + 1, mine)
        # another run created n+1 first: read again (it is live, so we report it held)


def hand_over(store: Store, token: str, *, run_id: str | None = None) -> Claim | None:
    """The claim a round took, for the run that does its work (a subflow, a deployment run, a
    retry): the next generation of the same chain (same nonce), so a run that found the round
    dead and took the claim over and this run cannot both win; a retry after a release (the
    chain released, or its run gone) hands over again. None when another run holds it."""
    meta_key, _, nonce = token.rpartition("|")
    base, _, number = meta_key.rpartition("#")
    n = int(number)
    while (following := store.get_meta(_generation_key(base, n + 1))) is not None:
        if following.get("nonce") != nonce:
            return None  # taken over by another run
        n += 1
    current = store.get_meta(_generation_key(base, n))
    if current is None or current.get("nonce") != nonce or current.get("state") == DONE:
        return None
    if n > int(number) and is_live(current):
        return None  # already handed over to a run that is still at it
    mine = _holder(nonce, run_id)
    if store.claim(_generation_key(base, n + 1), mine):
        return Claim(base, n + 1, mine)
    return None


def _end(store: Store, claim: Claim, state: str, note: str) -> None:
    store.put_meta(claim.meta_key, {**claim.holder, "state": state, "ended_at": utc_now_iso(), "note": note})


def finish(store: Store, claim: Claim) -> None:
    """The record is stored: later runs find it and do nothing."""
    _end(store, claim, DONE, "record stored")


def release(store: Store, claim: Claim, why: str) -> None:
    """A platform failure: give the claim back so the next run (or this run's retry) evaluates."""
    _end(store, claim, RELEASED, why[:500])


def wait_free(store: Store, team_id: int, key: str, *, poll_s: float | None = None,
              sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """Wait until nobody holds the claim (done, released, or its holder found stale); returns the
    last holder. Bounded: a held claim goes stale after `evaluation_claim_stale_s`."""
    poll_s = OrchestrationSettings().claim_poll_s if poll_s is None else poll_s
    while True:
        _, holder = newest(store, team_id, key)
        if not is_live(holder):
            return holder
        sleep(poll_s)
