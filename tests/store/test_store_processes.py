"""The contract under real concurrency: several OS processes (spawned) on one store."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3

import pytest

from tests.store import store_workers

# Only backends another process can open; moto in-process lives in this process's memory.
pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.parametrize("backend", ["sqlite", "moto_server"], indirect=True),
]

WORKERS = 8


@pytest.fixture
def shared(backend):
    assert backend.shared_between_processes, f"{backend.name} cannot be opened from another process"
    backend.open()  # tables exist before the children start
    return backend


def _spawn():
    return multiprocessing.get_context("spawn")


def test_concurrent_creators_never_share_an_id(shared):
    ctx = _spawn()
    manager = ctx.Manager()
    start = manager.Barrier(WORKERS)
    url, prefix = shared.settings.url, shared.settings.table_prefix
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(store_workers.create_tasks, [(url, prefix, w, 25, start) for w in range(WORKERS)])
    manager.shutdown()
    ids = [task_id for worker_ids in results for task_id in worker_ids]
    assert len(ids) == 200 and sorted(set(ids)) == list(range(1, 201))
    for worker_ids in results:  # each creator sees its own ids increase
        assert worker_ids == sorted(worker_ids)
    rows = shared.open().list_tasks()
    assert [r.id for r in rows] == list(range(1, 201))
    assert {r.command for r in rows} == {f"worker {w} task {n}" for w in range(WORKERS) for n in range(25)}


def test_claim_is_won_exactly_once_across_processes(shared):
    ctx = _spawn()
    manager = ctx.Manager()
    start = manager.Barrier(WORKERS)
    keys = [f"seen:{n}" for n in range(10)]
    url, prefix = shared.settings.url, shared.settings.table_prefix
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(store_workers.claim_keys, [(url, prefix, w, keys, start) for w in range(WORKERS)])
    manager.shutdown()
    won = sorted(key for worker_keys in results for key in worker_keys)
    assert won == sorted(keys)
    store = shared.open()
    for key in keys:
        winner = [w for w, worker_keys in enumerate(results) if key in worker_keys]
        assert store.get_meta(key) == {"worker": winner[0]}


def test_a_writer_killed_mid_batch_loses_nothing_acknowledged(shared, tmp_path):
    ack_path = tmp_path / "acks"
    ack_path.touch()
    ctx = _spawn()
    url, prefix = shared.settings.url, shared.settings.table_prefix
    writer = ctx.Process(target=store_workers.write_batches_until_killed, args=(url, prefix, str(ack_path), 200))
    writer.start()
    try:
        # Wait (on the writer's own progress, not the clock) until a few batches are in.
        while len(ack_path.read_text().split()) < 5:
            if not writer.is_alive():
                pytest.fail(f"writer died with exit code {writer.exitcode}")
            writer.join(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.join(30)
    assert writer.exitcode == -signal.SIGKILL
    acknowledged = max(int(line) for line in ack_path.read_text().split())

    if shared.sqlite_file is not None:
        with sqlite3.connect(shared.sqlite_file) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    rows = shared.open().read_datapoints("NEM:SA1")
    ends = [r.interval_end for r in rows]
    # Everything acknowledged is there; nothing is half-written.
    assert ends[: acknowledged // 300] == list(range(300, acknowledged + 1, 300))
    if shared.atomic_batches:  # a batch is one transaction: all of it or none of it
        assert len(ends) % 200 == 0 and ends == list(range(300, 300 * len(ends) + 1, 300))
    assert all(r.price == r.interval_end / 300 for r in rows)
