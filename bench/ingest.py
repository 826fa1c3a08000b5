"""Ingest speed: rows/s from a recorded source into a fresh SQLite store.

    .venv/bin/python bench/ingest.py

Sources: the bundled 2023 CSV (data/april15-may7_2023.csv) and a generated legacy OpenNEM
JSON of 90 days (5-minute price and demand, 30-minute rooftop PV). Each is timed three ways:
parse only, first ingest (every row new), and a re-ingest of the same data (nothing
changed, so nothing is written). Results go in bench/README.md, section "Ingest".
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.settings import MarketSettings, StoreSettings  # noqa: E402
from tasks.prices.files import read_file  # noqa: E402
from tasks.prices.ingest import ingest_file  # noqa: E402
from tasks.prices.normalise import NEM_TZ  # noqa: E402
from tasks.store import open_store  # noqa: E402


def legacy_json(days: int) -> dict:
    rng = random.Random(1)
    start = datetime(2023, 1, 1, 0, 5, tzinfo=NEM_TZ)
    n5, n30 = days * 288, days * 48
    def block(kind, code, interval, values, **extra):
        return {"id": f"au.nem.sa1.{code}", "type": kind, "code": code, "network": "nem", "region": "SA1",
                "units": "MW", **extra, "history": {"start": (start if interval == "5m" else start + timedelta(minutes=25)).isoformat(),
                                                    "interval": interval, "data": values}}
    return {"type": "power", "version": "3.11", "network": "nem", "region": "SA1", "data": [
        block("price", "AU", "5m", [round(rng.uniform(-100, 300), 5) for _ in range(n5)]),
        block("power", "demand", "5m", [round(rng.uniform(800, 2500), 2) for _ in range(n5)]),
        block("power", "solar_rooftop", "30m", [round(rng.uniform(0, 1800), 1) for _ in range(n30)],
              fuel_tech="solar_rooftop"),
    ]}


def run(label: str, path: Path, folder: Path) -> dict:
    settings = MarketSettings()
    t = time.perf_counter()
    frame = read_file(path, "SA1")
    parse_s = time.perf_counter() - t
    store = open_store(StoreSettings(url=f"sqlite:///{folder / (label + '.db')}", table_prefix="bench"), create=True)
    t = time.perf_counter()
    first = ingest_file(store, path, "SA1", settings=settings)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    again = ingest_file(store, path, "SA1", settings=settings)
    again_s = time.perf_counter() - t
    assert first.rows_written == len(frame) and again.rows_written == 0
    return {"source": label, "rows": len(frame), "parse rows/s": len(frame) / parse_s,
            "ingest rows/s": len(frame) / first_s, "re-ingest rows/s": len(frame) / again_s}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        legacy = folder / "sa1_90d.json"
        legacy.write_text(json.dumps(legacy_json(90)))
        results = [run("csv-2023", ROOT / "data" / "april15-may7_2023.csv", folder),
                   run("legacy-json-90d", legacy, folder)]
    print(f"{'source':<18}{'rows':>8}{'parse rows/s':>15}{'ingest rows/s':>15}{'re-ingest rows/s':>18}")
    for r in results:
        print(f"{r['source']:<18}{r['rows']:>8}{r['parse rows/s']:>15,.0f}{r['ingest rows/s']:>15,.0f}"
              f"{r['re-ingest rows/s']:>18,.0f}")
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
