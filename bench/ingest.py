"""Ingest speed: rows/s from a recorded source into a fresh SQLite store; and ingest memory:
peak RSS of `arena ingest --source file` on generated CSV files of about 25 MB and 250 MB.

    .venv/bin/python bench/ingest.py            # both
    .venv/bin/python bench/ingest.py --memory   # memory only

Sources: the bundled 2023 CSV (data/april15-may7_2023.csv) and a generated legacy OpenNEM
JSON of 90 days (5-minute price and demand, 30-minute rooftop PV). Each is timed three ways:
parse only, first ingest (every row new), and a re-ingest of the same data (nothing
changed, so nothing is written). Memory: each file is ingested in a fresh interpreter
(`--child`), which reports its own peak RSS (ru_maxrss), next to one that only imports
arena (the floor). The generated files live in a temporary folder, deleted at the end.
Results go in bench/README.md, sections "Ingest" and "Ingest memory".
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
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
from tasks.prices.normalise import NEM_TIME  # noqa: E402
from tasks.store import open_store  # noqa: E402


def legacy_json(days: int) -> dict:
    rng = random.Random(1)
    start = datetime(2023, 1, 1, 0, 5, tzinfo=NEM_TIME)
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


COLUMNS = "timestamp,price,demand,temp_air,pv_power,pv_power_forecast_1h,pv_power_forecast_2h," \
          "pv_power_forecast_24h,pv_power_basic"


def big_csv(path: Path, megabytes: float) -> int:
    """A 2024-format CSV of about `megabytes` MB, 5-minute rows from 2023-04-15 on; rows written."""
    rng = random.Random(2)
    first = int(datetime(2023, 4, 15, 0, 5, tzinfo=NEM_TIME).timestamp())
    rows, size, limit = 0, 0, int(megabytes * 1_000_000)
    with path.open("w") as f:
        f.write(COLUMNS + "\n")
        while size < limit:
            lines = []
            for _ in range(10_000):
                t = datetime.fromtimestamp(first + 300 * rows, NEM_TIME)
                pv = round(max(0.0, rng.gauss(2, 2)), 3)
                lines.append(f"{t.isoformat(sep=' ')},{rng.uniform(-100, 300):.5f},{rng.uniform(800, 2500):.2f},"
                             f"{rng.uniform(5, 30):.1f},{pv},{pv},{pv},{pv},{rng.uniform(0, 1e6):.6f}\n")
                rows += 1
            text = "".join(lines)
            f.write(text)
            size += len(text)
    return rows


def child(path: str | None, folder: str) -> None:
    """Ingest one file (or nothing: the import floor) and print rows, seconds and peak RSS in MB."""
    store = open_store(StoreSettings(url=f"sqlite:///{Path(folder) / 'memory.db'}", table_prefix="bench"), create=True)
    t = time.perf_counter()
    rows = ingest_file(store, path, "SA1").rows_written if path else 0
    seconds = time.perf_counter() - t
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(path: Path | None, folder: Path) -> dict:
    for leftover in folder.glob("memory.db*"):
        leftover.unlink()
    proc = subprocess.run([sys.executable, __file__, "--child", str(path or ""), str(folder)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        floor = measure(None, folder)
        print(f"{'file':<10}{'MB':>8}{'rows':>11}{'ingest s':>10}{'peak RSS MB':>13}")
        print(f"{'(imports)':<10}{0:>8}{0:>11}{0:>10}{floor['peak_rss_mb']:>13,.0f}")
        for mb in (25, 250):
            path = folder / f"sa1_{mb}mb.csv"
            big_csv(path, mb)
            size = path.stat().st_size / 1e6
            got = measure(path, folder)
            path.unlink()
            print(f"{path.name:<10}{size:>8.1f}{got['rows']:>11,}{got['seconds']:>10.1f}{got['peak_rss_mb']:>13,.0f}")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2] or None, sys.argv[3])
        return
    if sys.argv[1:2] == ["--memory"]:
        memory()
        return
    speed()
    memory()


def speed() -> None:
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
