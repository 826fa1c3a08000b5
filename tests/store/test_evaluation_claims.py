"""The evaluation claim (tasks/claims.py): exactly one of many runs wins it, a stale one is
taken over by exactly one, a released one is taken again, and a round's hand-over and a
stale takeover racing never both win. Real processes against SQLite and the moto server."""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys

import pytest

from arena.models import utc_now_iso
from tasks import claims
from tests.store import store_workers

WORKERS = 6
KEY = "a" * 40 + "#1700000000-1700086100#gbh2024-tariff"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _race(backend, function, *args):
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    start = manager.Barrier(WORKERS)
    url, prefix = backend.settings.url, backend.settings.table_prefix
    with ctx.Pool(WORKERS) as pool:
        won = pool.starmap(function, [(url, prefix, w, *args, start) for w in range(WORKERS)])
    manager.shutdown()
    return [w for w in won if w is not None]


def _stale_claim(store, generation: int = 0) -> None:
    """What a round SIGKILLed mid-evaluation leaves: a held claim whose process is gone."""
    store.claim(f"evaluating:101:{KEY}#{generation}", {
        "state": claims.HELD, "host": socket.gethostname(), "pid": _dead_pid(), "run_id": None,
        "at": utc_now_iso(), "nonce": "dead"})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "moto_server"], indirect=True)
def test_many_processes_one_winner_then_one_taker_of_the_stale_claim(backend):
    store = backend.open()
    assert _race(backend, store_workers.take_evaluation_claim, 101, KEY) == [f"evaluating:101:{KEY}#0"]
    # The winner's process (a pool worker) is gone now: the claim is stale, exactly one takes it over.
    assert _race(backend, store_workers.take_evaluation_claim, 101, KEY) == [f"evaluating:101:{KEY}#1"]
    n, holder = claims.newest(store, 101, KEY)
    assert n == 1 and holder["state"] == claims.HELD and holder["took_over"]["run_id"].startswith("worker-")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "moto_server"], indirect=True)
def test_hand_over_and_stale_takeover_racing_give_one_holder(backend):
    store = backend.open()
    _stale_claim(store)  # a round took it, then died; its subflows and other rounds race
    won = _race(backend, store_workers.hand_over_or_take, f"evaluating:101:{KEY}#0|dead", 101, KEY)
    assert won == [f"evaluating:101:{KEY}#1"]


def test_live_claim_is_held_released_is_taken_and_done_is_taken_only_by_choice(backend):
    store = backend.open()
    mine = claims.take(store, 101, KEY, run_id="r1")
    assert isinstance(mine, claims.Claim)
    other = claims.take(store, 101, KEY)  # this process is alive: held
    assert isinstance(other, claims.Held) and "being evaluated by another run" in other.describe()
    claims.release(store, mine, "PlatformError: docker down")
    again = claims.take(store, 101, KEY)
    assert isinstance(again, claims.Claim) and again.generation == 1
    retry = claims.hand_over(store, mine.token)  # the released chain was taken by someone else
    assert retry is None
    claims.finish(store, again)
    assert claims.wait_free(store, 101, KEY, sleep=pytest.fail)["state"] == claims.DONE
    # done: evaluate_submission returns the record before it asks; a --force run takes the next one
    assert isinstance(claims.take(store, 101, KEY), claims.Claim)


def test_a_claim_older_than_the_stale_limit_on_another_host_is_taken_over(backend, monkeypatch):
    store = backend.open()
    store.claim(f"evaluating:101:{KEY}#0", {"state": claims.HELD, "host": "elsewhere", "pid": 1,
                                             "at": "2020-01-01T00:00:00.000000Z", "nonce": "old"})
    taken = claims.take(store, 101, KEY)
    assert isinstance(taken, claims.Claim) and taken.generation == 1
    store.claim(f"evaluating:102:{KEY}#0", {"state": claims.HELD, "host": "elsewhere", "pid": 1,
                                             "at": utc_now_iso(), "nonce": "young"})
    assert isinstance(claims.take(store, 102, KEY), claims.Held)
