"""`arena ingest`: market data into the store.

    arena ingest --source openelectricity --region SA1                       # live poll (last hour)
    arena ingest --source openelectricity --region SA1 --start 2025-06-01 --end 2025-06-15
    arena ingest --source file --file data/april15-may7_2023.csv --region SA1

A window is half-open on the interval END; timestamps with an offset mean what they say,
naive ones are NEM time (UTC+10). A backfill is checkpointed: run the same command again
after an interruption and it resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from arena.settings import MarketSettings
from cli._common import console, fail, print_json


def _report_table(report: dict) -> Table:
    table = Table(title=f"ingest {report['source']} {report['region']}", show_header=False)
    for key in ("start", "end", "used", "intervals_read", "rows_written", "chunks_done", "chunks_skipped",
                "newest", "stale", "missing_intervals", "conflicts", "duplicates", "out_of_range"):
        value = report[key]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    for a, b in report["gaps"][:10]:
        table.add_row("gap", f"{a} .. {b}")
    if len(report["gaps"]) > 10:
        table.add_row("gap", f"... {len(report['gaps']) - 10} more")
    for problem in report["problems"]:
        table.add_row("note", problem)
    return table


def ingest(
    source: Annotated[str, typer.Option(help="openelectricity | nemweb | file")] = "openelectricity",
    region: Annotated[str | None, typer.Option(help="NEM region, e.g. SA1 (default ARENA_MARKET_REGION)")] = None,
    file: Annotated[Path | None, typer.Option(help="Recorded file for --source file (CSV or legacy JSON)")] = None,
    start: Annotated[str | None, typer.Option(help="Window start (interval end), e.g. 2025-06-01 or ...+00:00")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, exclusive")] = None,
    force: Annotated[bool, typer.Option(help="Re-read chunks a checkpoint says are done")] = False,
    fallback: Annotated[bool, typer.Option(help="Fall back to the next source on failure or staleness")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Poll the newest intervals (no window) or backfill a window; a file is read whole or cut to the window."""
    from tasks.prices import DataError, IngestError, SourceError, parse_timestamp
    from tasks.prices.ingest import SOURCES, backfill, check_window, ingest_file, ingest_live
    from tasks.prices.normalise import check_region
    from tasks.store import StoreError, open_store

    if source not in SOURCES:
        fail(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if (start is None) != (end is None):
        fail("give both --start and --end, or neither (a live poll)")
    if source == "file" and file is None:
        fail("--source file needs --file PATH")
    if file is not None and source != "file":
        fail("--file only goes with --source file")
    try:  # the region and the window are checked here, the same for every source, before any is asked
        settings = MarketSettings()
        region = check_region(region or settings.region)
        lo = parse_timestamp(start) if start is not None else None
        hi = parse_timestamp(end) if end is not None else None
        check_window(lo, hi)
    except DataError as exc:
        fail(str(exc))
    except ValidationError as exc:  # a setting (ARENA_MARKET_REGION=SA): its own message, one line
        fail(f"ARENA_MARKET_{str(exc.errors()[0]['loc'][0]).upper()}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    try:
        store = open_store()
        fallbacks = None if fallback else ()
        if source == "file":
            report = ingest_file(store, file, region, lo, hi, settings=settings)
        elif lo is None:
            report = ingest_live(store, source, region, settings=settings, fallbacks=fallbacks)
        else:
            with Progress(
                TextColumn("[bold]backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rows]} rows"),
                TimeElapsedColumn(), console=console, transient=True, disable=as_json,
            ) as bar:
                task = bar.add_task("chunks", total=None, rows=0)

                def progress(done: int, total: int, rows: int) -> None:
                    bar.update(task, completed=done, total=total, rows=rows)

                report = backfill(store, source, region, lo, hi, progress, settings=settings,
                                  fallbacks=fallbacks, force=force)
    except (DataError, SourceError, IngestError, StoreError) as exc:
        resumable = start is not None and source != "file" and not isinstance(exc, DataError)
        fail(str(exc) + (" (re-run the same command to resume the backfill)" if resumable else ""))
    data = report.to_dict()
    if as_json:
        print_json(data)
    else:
        console.print(_report_table(data))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
