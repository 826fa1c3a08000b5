"""`arena datapoints`: what the datapoints table holds, in the evaluator's input format.

    arena datapoints export --region SA1 --start 2023-04-15 --end 2023-05-07 --format csv --output sa1.csv
    arena datapoints gaps --region SA1 --start 2023-04-15 --end 2023-05-07
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from arena.settings import MarketSettings
from cli._common import console, fail, print_json
from cli._common import open_store_or_fail as open_store

datapoints_app = typer.Typer(help="Market datapoints: export and inspect.", no_args_is_help=True)


def _window(start: str, end: str) -> tuple[int, int]:
    from tasks.prices import parse_timestamp

    lo, hi = parse_timestamp(start), parse_timestamp(end)
    if hi <= lo:
        raise ValueError(f"--end {end} is not after --start {start}")
    return lo, hi


@datapoints_app.command("export")
def export(
    start: Annotated[str, typer.Option(help="First interval end (naive = NEM time)")],
    end: Annotated[str, typer.Option(help="End of the window, exclusive")],
    region: Annotated[str | None, typer.Option(help="NEM region, e.g. SA1")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """Rows of [start, end) as `timestamp` (ISO UTC of the interval end), price, demand, pv_power, ..."""
    from tasks.prices import DataError, export_datapoints
    from tasks.store import StoreError

    try:
        lo, hi = _window(start, end)
        text = export_datapoints(open_store(read_only=True), (region or MarketSettings().region).upper(), lo, hi, fmt)
    except (DataError, StoreError, ValueError) as exc:
        fail(str(exc))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        # Write beside the target, then rename: a reader never sees half a file.
        tmp = output.with_name(output.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    rows = max(0, text.count("\n") - 1) if fmt == "csv" else text.count('"timestamp"')
    console.print(f"wrote {rows} rows to {output}")


@datapoints_app.command("gaps")
def gaps(
    start: Annotated[str, typer.Option(help="First interval end (naive = NEM time)")],
    end: Annotated[str, typer.Option(help="End of the window, exclusive")],
    region: Annotated[str | None, typer.Option(help="NEM region, e.g. SA1")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Intervals of [start, end) with no price in the store."""
    from tasks.prices import DataError
    from tasks.prices.normalise import format_utc, missing_intervals, series_for
    from tasks.store import StoreError

    try:
        lo, hi = _window(start, end)
        rows = open_store(read_only=True).read_datapoints(series_for((region or MarketSettings().region).upper()), lo, hi - 1)
    except (DataError, StoreError, ValueError) as exc:
        fail(str(exc))
    found = missing_intervals((r.interval_end for r in rows if r.price is not None), lo, hi)
    listed = [{"first": format_utc(a), "last": format_utc(b), "intervals": (b - a) // 300 + 1} for a, b in found]
    if as_json:
        print_json({"rows": len(rows), "gaps": listed})
        return
    table = Table("first", "last", "intervals", title=f"{len(rows)} rows, {len(listed)} gaps")
    for gap in listed:
        table.add_row(gap["first"], gap["last"], str(gap["intervals"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(datapoints_app, name="datapoints")
