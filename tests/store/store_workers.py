"""Functions the concurrency tests run in child processes (spawned, so importable by name and
light: only the store and the settings are imported)."""

from __future__ import annotations

import os

from arena.models import Datapoint
from arena.settings import StoreSettings
from tasks.store import open_store


def _open(url: str, prefix: str):
    return open_store(StoreSettings(url=url, table_prefix=prefix), create=False)


def create_tasks(url: str, prefix: str, worker: int, count: int, start) -> list[int]:
    store = _open(url, prefix)
    start.wait()  # every process starts creating at the same moment
    return [store.create_task(f"worker {worker} task {n}", team_id=100 + worker).id for n in range(count)]


def claim_keys(url: str, prefix: str, worker: int, keys: list[str], start) -> list[str]:
    store = _open(url, prefix)
    start.wait()
    return [key for key in keys if store.claim(key, {"worker": worker})]


def write_batches_until_killed(url: str, prefix: str, ack_path: str, batch_size: int) -> None:
    """Upsert batch after batch forever; after each acknowledged batch, append its last
    interval to `ack_path` (an O_APPEND write survives SIGKILL once it returns)."""
    store = _open(url, prefix)
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    interval_end = 0
    while True:
        batch = []
        for _ in range(batch_size):
            interval_end += 300
            batch.append(Datapoint(series="NEM:SA1", interval_end=interval_end, price=interval_end / 300, source="kill"))
        store.upsert_datapoints(batch)
        os.write(fd, f"{interval_end}\n".encode())


def take_evaluation_claim(url: str, prefix: str, worker: int, team_id: int, key: str, start) -> str | None:
    """Race for one evaluation claim; the won generation's meta key, or None."""
    from tasks import claims

    store = _open(url, prefix)
    start.wait()
    taken = claims.take(store, team_id, key, run_id=f"worker-{worker}")
    return taken.meta_key if isinstance(taken, claims.Claim) else None


def hand_over_or_take(url: str, prefix: str, worker: int, token: str, team_id: int, key: str, start) -> str | None:
    """Half the workers hand the round's claim over (its subflow), half take it over as stale."""
    from tasks import claims

    store = _open(url, prefix)
    start.wait()
    taken = claims.hand_over(store, token) if worker % 2 else claims.take(store, team_id, key)
    return taken.meta_key if isinstance(taken, claims.Claim) else None
