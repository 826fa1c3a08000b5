"""A backfill killed with SIGKILL halfway, then restarted, ends with the same table as one
that was never interrupted."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tasks.prices.ingest import backfill, checkpoint_key
from tasks.prices.normalise import parse_timestamp
from tasks.store import open_store
from tests.prices.conftest import API_KEY, OEStub, make_truth, nem_epoch
from tests.prices.test_ingest import table

ROOT = Path(__file__).resolve().parents[2]
START = parse_timestamp("2025-06-01 00:05")
END = START + 14 * 86400
WORKER = (
    "import sys\n"
    "from tasks.prices.ingest import backfill\n"
    "from tasks.store import open_store\n"
    "backfill(open_store(), 'openelectricity', 'SA1', int(sys.argv[1]), int(sys.argv[2]), fallbacks=())\n"
)


def test_killed_backfill_resumes_to_the_same_table(arena_home, tmp_path, httpserver, monkeypatch):
    stub = OEStub(make_truth(START, END))
    url = stub.install(httpserver)
    monkeypatch.setenv("OPENELECTRICITY_API_URL", url)
    monkeypatch.setenv("OPENELECTRICITY_API_KEY", API_KEY)
    monkeypatch.setenv("ARENA_MARKET_CHUNK_DAYS", "2")  # 7 chunks
    blocked_chunk = START + 3 * 2 * 86400  # the 4th
    reached, release = threading.Event(), threading.Event()

    def gate(request):
        if nem_epoch(request.args.get("date_start", "")) == blocked_chunk and not release.is_set():
            reached.set()
            release.wait(60)

    stub.gate = gate
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(START), str(END)], cwd=ROOT,
                              # the worker is another process: lift its throttle instead of really sleeping
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "ARENA_MARKET_OPENELECTRICITY_REQUESTS_PER_S": "100"},
                              stderr=subprocess.PIPE)
    try:
        assert reached.wait(120), worker.stderr.read().decode() if worker.poll() is not None else "worker never got there"
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL
    finally:
        release.set()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    store = open_store()
    key = checkpoint_key("openelectricity", "SA1", START, END)
    assert store.get_meta(key)["done_until"] == blocked_chunk  # three chunks done, killed in the fourth
    assert len(table(store)) == 3 * 576

    stub.gate = None
    resumed = backfill(store, "openelectricity", "SA1", START, END, fallbacks=())
    assert (resumed.chunks_skipped, resumed.chunks_done) == (3, 4)
    assert resumed.rows_written == 4 * 576 and resumed.gaps == ()

    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{tmp_path / 'uninterrupted.db'}")
    clean = open_store(create=True)
    backfill(clean, "openelectricity", "SA1", START, END, fallbacks=())
    drop_ingested_at = lambda rows: [r[:-1] for r in rows]  # noqa: E731  (when differs; what must not)
    assert drop_ingested_at(table(store)) == drop_ingested_at(table(clean))
    assert len(table(clean)) == 4032
