"""The `ingest-prices` flow: the newest intervals (or a backfill, or a recorded file) into the store.
Its deployment has concurrency limit 1, so a slow run never overlaps the next."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from arena.scoring import parse_time
from arena.settings import MarketSettings
from flows import names
from flows._prefect import open_run_store
from flows._retry import PLATFORM_RETRIES
from tasks.prices import ingest


@task(**PLATFORM_RETRIES)  # not a SourceError: the source's HTTP client already retried (flows/_retry.py)
def ingest_task(source: str, region: str, file: str | None, start: int | None, end: int | None,
                fallbacks: list[str]) -> dict:
    store = open_run_store()
    if file:
        report = ingest.ingest_file(store, file, region, start, end)
    elif start is not None and end is not None:
        report = ingest.backfill(store, source, region, start, end, fallbacks=fallbacks)
    else:
        report = ingest.ingest_live(store, source, region, fallbacks=fallbacks)
    return report.to_dict()


@flow(name="ingest-prices", flow_run_name=names.INGEST, log_prints=True)
def ingest_prices(
    source: str = "openelectricity",
    region: str | None = None,
    fallbacks: list[str] | None = None,
    file: str | None = None,
    backfill_start: str | None = None,
    backfill_end: str | None = None,
) -> dict:
    """Live: re-read the last hour from `source` (then `fallbacks`, default nemweb) and upsert.
    With backfill_start/backfill_end: that window, in resumable chunks. With `file`: a recorded
    file (the demo's bundled data)."""
    region = region or MarketSettings().region
    start = parse_time(backfill_start) if backfill_start else None
    end = parse_time(backfill_end) if backfill_end else None
    report = ingest_task(source, region, file, start, end, ["nemweb"] if fallbacks is None else fallbacks)
    get_run_logger().info(f"ingest {region}: {report.get('rows_written')} row(s) written, newest {report.get('newest')}")
    return report
