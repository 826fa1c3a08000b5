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
ignored; an unreadable cell is an error naming its line, and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from arena.models import DATAPOINT_FIELDS
from tasks.prices.normalise import (
    INTERVAL_S,
    ROOFTOP_MW,
    DataError,
    SourceFrame,
    expand_half_hours,
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


def parse_csv(text: str, region: str, name: str = "csv") -> SourceFrame:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "timestamp" not in columns:
        raise DataError(f"{name}: no `timestamp` column (found {columns})")
    fields = [c for c in columns if c in DATAPOINT_FIELDS]
    if not fields:
        raise DataError(f"{name}: none of the columns {list(DATAPOINT_FIELDS)}")
    frame = SourceFrame(NAME, region, frozenset(fields))
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        where = f"{name} line {line}: "
        try:
            t = parse_timestamp(row.get("timestamp") or "")
        except DataError as exc:
            raise DataError(f"{where}{exc}") from None
        if t % INTERVAL_S:
            raise DataError(f"{where}timestamp {row['timestamp']} is not on the 5-minute grid")
        for field in fields:
            frame.put(t, field, number(row.get(field), f"{where}{field}: "))
    return frame


def read_file(path: str | Path, region: str, start: int | None = None, end: int | None = None) -> SourceFrame:
    """A recorded file by its content (JSON object or CSV), optionally cut to [start, end)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path.name}: not valid JSON ({exc})") from None
        frame = parse_legacy_json(body, region)
    else:
        frame = parse_csv(text, region, path.name)
    if start is not None or end is not None:
        frame = frame.window(start if start is not None else -(2**62), end if end is not None else 2**62)
    return frame


class FileSource:
    """A recorded file behaving like a source, so ingest treats every source alike."""

    name = NAME
    max_window_s = 10**12  # a file is read whole

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fetch(self, region: str, start: int, end: int) -> SourceFrame:
        return read_file(self.path, region, start, end)
