"""Recorded data: legacy OpenNEM JSON (v3 `history.start` / `interval` / `data`) and the
2024 competition CSV files.

Legacy JSON (research §1.2): `data[i]` belongs to `history.start + i * interval`; the
timestamps are interval ENDs with an explicit offset; series are picked by `type` and
region (never by `id`, whose format changed). Price and demand are 5-minute; rooftop PV
(`fuel_tech` solar_rooftop, MW for the region) is 30-minute and is spread over its six
5-minute intervals. Nulls stay null.

CSV: a `timestamp` column of interval ENDs (naive = NEM time, an offset means what it
says) and any of the live-format columns (price, demand, pv_power, ...). `pv_power` there
is already kW of the simulated panel, so it passes through unscaled. Unknown columns are
ignored; an unreadable cell is an error naming its line, and nothing is written. A CSV is
read in chunks through `battery_sim.marketcsv`, the reader `arena evaluate --data` uses.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from arena.models import DATAPOINT_FIELDS
from battery_sim.errors import BadInput
from battery_sim.marketcsv import CsvChunk, read_chunks
from tasks.prices.normalise import (
    INTERVAL_S,
    ROOFTOP_MW,
    DataError,
    SourceFrame,
    expand_half_hours,
    format_utc,
    number,
    parse_timestamp,
)

NAME = "file"
_STEP_S = {"5m": 300, "30m": 1800}


def _history(entry: dict[str, Any], what: str) -> dict[int, float | None]:
    history = entry.get("history")
    if not isinstance(history, dict):
        raise DataError(f"{what}: no `history` block")
    interval = history.get("interval")
    if interval not in _STEP_S:
        raise DataError(f"{what}: unsupported interval {interval!r} (5m or 30m)")
    step = _STEP_S[interval]
    first = parse_timestamp(str(history.get("start", "")))
    values = history.get("data")
    if not isinstance(values, list):
        raise DataError(f"{what}: `history.data` is not a list")
    if first % step:
        raise DataError(f"{what}: start {history.get('start')} is not on the {interval} grid")
    out = {first + i * step: number(v, f"{what} point {i}: ") for i, v in enumerate(values)}
    return expand_half_hours(out) if step == 1800 else out


def parse_legacy_json(body: Any, region: str) -> SourceFrame:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise DataError("legacy OpenNEM JSON needs a top-level `data` list")
    frame = SourceFrame(NAME, region, frozenset({"price", "demand", ROOFTOP_MW}))
    top_region = str(body.get("region") or "").upper()
    matched = False
    for i, entry in enumerate(body["data"]):
        if not isinstance(entry, dict):
            continue
        kind, code, tech = entry.get("type"), str(entry.get("code", "")), entry.get("fuel_tech")
        # Fueltech bodies name the region in `region`; /stats/price bodies only in `code`.
        entry_region = entry.get("region") or (code if kind == "price" else None) or top_region
        if str(entry_region).upper() != region:
            continue
        if kind == "price":
            field = "price"
        elif kind == "power" and code == "demand":
            field = "demand"
        elif kind == "power" and (tech == "solar_rooftop" or code == "solar_rooftop"):
            field = ROOFTOP_MW
        else:
            continue
        matched = True
        for t, v in _history(entry, f"data[{i}] {entry.get('id', kind)}").items():
            frame.put(t, field, v)
    if not matched:
        raise DataError(f"legacy OpenNEM JSON has no price, demand or rooftop series for {region}")
    return frame


def csv_chunks(source: str | Path | io.StringIO, name: str | None = None) -> Iterator[CsvChunk]:
    """The file's checked chunks (`battery_sim.marketcsv`, the evaluator's reader too), each
    on the 5-minute grid and with at least one market column."""
    what = name or ("csv" if isinstance(source, io.StringIO) else Path(source).name)
    try:
        for chunk in read_chunks(source, what):
            if not len(chunk.values.columns):
                raise DataError(f"{what}: none of the columns {list(DATAPOINT_FIELDS)}")
            off = chunk.interval_end % INTERVAL_S != 0
            if off.any():
                i = int(np.argmax(off))
                raise DataError(f"{what} line {chunk.first_line + i}: timestamp "
                                f"{format_utc(int(chunk.interval_end[i]))} is not on the 5-minute grid")
            yield chunk
    except BadInput as exc:
        raise DataError(str(exc)) from None


def chunk_frame(chunk: CsvChunk, region: str, start: int | None = None, end: int | None = None,
                skip: np.ndarray | None = None) -> SourceFrame:
    """One chunk as a source frame, cut to [start, end) and without the interval ends in
    `skip` (sorted). Within a chunk a repeated interval keeps its last row; the caller has
    made sure repeats are identical (`scan_csv`)."""
    keep = np.ones(len(chunk), dtype=bool)
    if start is not None:
        keep &= chunk.interval_end >= start
    if end is not None:
        keep &= chunk.interval_end < end
    if skip is not None and len(skip):
        keep &= ~np.isin(chunk.interval_end, skip)
    fields = list(chunk.values.columns)
    frame = SourceFrame(NAME, region, frozenset(fields))
    columns = [chunk.values[f].to_numpy() for f in fields]
    for i in np.flatnonzero(keep).tolist():
        frame.values[int(chunk.interval_end[i])] = {
            f: (None if math.isnan(v[i]) else float(v[i])) for f, v in zip(fields, columns, strict=False)}
    return frame


def parse_csv(text: str, region: str, name: str = "csv") -> SourceFrame:
    """A whole CSV text as one frame (small files, tests); `ingest_file` streams instead."""
    frames = [chunk_frame(c, region) for c in csv_chunks(io.StringIO(text), name)]
    if not frames:
        raise DataError(f"{name}: no rows")
    merged = frames[0]
    for more in frames[1:]:
        merged = merged.merge(more)
    return merged


def is_json(path: Path) -> bool:
    """Legacy OpenNEM JSON starts with `{`; anything else is read as CSV."""
    try:
        with path.open("rb") as f:
            head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return head.startswith(b"{")


def read_json(path: Path, region: str) -> SourceFrame:
    """Legacy JSON is read whole: its series are parallel arrays, not rows to stream."""
    try:
        body = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path.name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_legacy_json(body, region)


def read_file(path: str | Path, region: str, start: int | None = None, end: int | None = None) -> SourceFrame:
    """A recorded file by its content (JSON object or CSV), optionally cut to [start, end), whole
    in memory (only the window's rows of a CSV are kept)."""
    path = Path(path)
    if is_json(path):
        frame = read_json(path, region)
        if start is not None or end is not None:
            frame = frame.window(start if start is not None else -(2**62), end if end is not None else 2**62)
        return frame
    frame: SourceFrame | None = None
    for chunk in csv_chunks(path):
        part = chunk_frame(chunk, region, start, end)
        frame = part if frame is None else frame.merge(part)
    if frame is None:
        raise DataError(f"{path.name}: no rows")
    return frame


class FileSource:
    """A recorded file behaving like a source, so ingest treats every source alike."""

    name = NAME
    max_window_s = 10**12  # a file is read whole

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fetch(self, region: str, start: int, end: int) -> SourceFrame:
        return read_file(self.path, region, start, end)
