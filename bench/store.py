"""Store benchmark: bulk upsert and read back of 5-minute datapoints.

SQLite: one year of five NEM regions (5 x 105,120 = 525,600 rows), the issue's bar being an
upsert under 20 s. DynamoDB: a smaller run (20,000 rows by default) through moto in-process,
which measures this module's batching and conversion, not AWS.

    .venv/bin/python bench/store.py [--moto-rows N] [--skip-moto]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from arena.models import NEM_REGIONS, Datapoint
from arena.settings import StoreSettings
from tasks.store import open_store

REGIONS = NEM_REGIONS
YEAR_START = 1_672_531_200  # 2023-01-01T00:00:00Z
INTERVALS_PER_YEAR = 365 * 288


def year_of_rows(regions=REGIONS, intervals=INTERVALS_PER_YEAR) -> list[Datapoint]:
    rows = []
    for region in regions:
        series = f"NEM:{region}"
        for n in range(intervals):
            end = YEAR_START + 300 * (n + 1)
            rows.append(
                Datapoint(
                    series=series,
                    interval_end=end,
                    price=round(40 + (n % 288) * 0.37, 2),
                    demand=1500.0 + n % 97,
                    pv_power=None if n % 288 < 72 else 2.5,
                    source="bench",
                    ingested_at=1_700_000_000.0,
                )
            )
    return rows


def measure(store, rows: list[Datapoint], label: str) -> None:
    series = sorted({row.series for row in rows})
    t0 = time.perf_counter()
    written = store.upsert_datapoints(rows)
    t1 = time.perf_counter()
    again = store.upsert_datapoints(rows)  # idempotent: same rows, same count
    t2 = time.perf_counter()
    read = sum(len(store.read_datapoints(s)) for s in series)
    t3 = time.perf_counter()
    assert written == again == read == len(rows), (written, again, read, len(rows))
    print(f"{label}: {len(rows):,} rows")
    print(f"  upsert (insert)  {t1 - t0:7.2f} s  {len(rows) / (t1 - t0):>10,.0f} rows/s")
    print(f"  upsert (replace) {t2 - t1:7.2f} s  {len(rows) / (t2 - t1):>10,.0f} rows/s")
    print(f"  read back        {t3 - t2:7.2f} s  {len(rows) / (t3 - t2):>10,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-rows", type=int, default=20_000)
    parser.add_argument("--skip-moto", action="store_true")
    args = parser.parse_args()

    t = time.perf_counter()
    rows = year_of_rows()
    print(f"built {len(rows):,} Datapoint records in {time.perf_counter() - t:.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(StoreSettings(url=f"sqlite:///{Path(folder) / 'bench.db'}", table_prefix="bench"), create=True)
        measure(store, rows, "sqlite (one year, five regions)")

    if not args.skip_moto:
        from moto import mock_aws

        for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                            "AWS_DEFAULT_REGION": "ap-southeast-2"}.items():
            os.environ[name] = value
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        per_region = args.moto_rows // len(REGIONS)
        with mock_aws():
            store = open_store(StoreSettings(url="dynamodb", table_prefix="bench"), create=True)
            measure(store, year_of_rows(intervals=per_region), "dynamodb via moto in-process")


if __name__ == "__main__":
    main()
