"""Market data in, checked: what the evaluator reads and what the policy sees.

Time rules (DESIGN.md §2): every timestamp is an interval END; one with an offset means
what it says, a naive one is NEM time (UTC+10, no daylight saving). Internally: UTC epoch
seconds. Policies see `timestamp` as a UTC string with offset, `2023-04-15 00:05:00+00:00`,
the 2024 live format, and a missing `pv_power` as 0.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from battery_sim.errors import BadInput
from battery_sim.marketcsv import read_chunks
from battery_sim.rules import INTERVAL_MINUTES, INTERVAL_S, NEM_TIME, NEM_UTC_OFFSET_HOURS

NEM_OFFSET_S = NEM_UTC_OFFSET_HOURS * 3600
REQUIRED = ("timestamp", "price")
_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


def epoch_seconds(stamps: pd.Series, what: str, *, first_line: int | None = None) -> tuple[np.ndarray, bool]:
    """Text timestamps -> (UTC epoch seconds, whether they carry an offset); naive ones are
    NEM time. Errors name the row (1-based), or the file line when `first_line` is given."""
    def where(i: int) -> str:
        return f"{what}: row {i + 1}" if first_line is None else f"{what} line {first_line + i}"

    text = stamps.astype(str).str.strip()
    has_offset = text.str.contains(_OFFSET).to_numpy(dtype=bool)
    if has_offset.any() and not has_offset.all():
        first = int(np.argmin(has_offset)) if has_offset[0] else int(np.argmax(has_offset))
        raise BadInput(f"{where(first)}: timestamps mix naive and offset forms ({text.iloc[first]!r})")
    offset = bool(has_offset.all()) and len(has_offset) > 0
    try:
        if offset:
            parsed = pd.to_datetime(text, utc=True, format="ISO8601")
            return parsed.astype("int64").to_numpy() // _unit(parsed), True
        parsed = pd.to_datetime(text, format="ISO8601")
        return parsed.astype("int64").to_numpy() // _unit(parsed) - NEM_OFFSET_S, False
    except (ValueError, TypeError, OverflowError):
        pass
    for i, value in enumerate(text):  # find the culprit for the message
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            raise BadInput(f"{where(i)}: cannot read timestamp {value!r}") from None
    raise BadInput(f"{what}: cannot read the timestamps")


def _unit(parsed: pd.Series) -> int:
    # pandas 2 parses to ns, pandas 3 may choose s/us/ms: divide by whatever unit it chose.
    unit = np.datetime_data(parsed.dtype.base if hasattr(parsed.dtype, "base") else parsed.dtype)[0]
    return {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[unit]


def parse_timestamp(value: str | int | float | datetime | pd.Timestamp) -> int:
    """One timestamp from the command line, an API or a source file: UTC epoch seconds. ISO-8601
    (AEMO's `2026/08/14 15:05:00` too, and a trailing Z); naive values are NEM time."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):  # pd.Timestamp is one too
        moment = value
    else:
        text = str(value).strip()
        normal = text.replace("/", "-")
        if normal.endswith(("Z", "z")):
            normal = normal[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(normal)
        except ValueError:
            raise BadInput(
                f"cannot read timestamp {value!r}; use e.g. 2023-04-15T00:05:00+00:00 (naive = NEM time)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=NEM_TIME)
    return int(moment.timestamp())


def nem_hour(epoch: int) -> int:
    """Hour of the day in NEM time (UTC+10, no daylight saving)."""
    return (epoch + NEM_OFFSET_S) // 3600 % 24


def utc_text(epoch: np.ndarray) -> list[str]:
    return [s + "+00:00" for s in pd.to_datetime(epoch, unit="s").strftime("%Y-%m-%d %H:%M:%S")]


def iso(epoch: int) -> str:
    """One interval end in the 2024 live format: `2023-04-15 00:05:00+00:00`."""
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(sep=" ")


@dataclass(frozen=True)
class MarketData:
    """Checked 5-minute rows, ascending by interval end, exactly 5 minutes apart."""

    interval_end: np.ndarray  # int64 UTC epoch seconds
    frame: pd.DataFrame  # the policy's view: timestamp as UTC text, pv_power filled with 0

    def __len__(self) -> int:
        return len(self.interval_end)

    @cached_property
    def columns(self) -> dict[str, list]:
        return {name: self.frame[name].tolist() for name in self.frame.columns}

    @cached_property
    def prices(self) -> list[float]:
        return self.frame["price"].tolist()

    @cached_property
    def pv_power(self) -> list[float]:
        return self.frame["pv_power"].tolist()

    @cached_property
    def nem_hours(self) -> list[int]:
        return nem_hour(self.interval_end).tolist()

    def window(self, start: int | None = None, end: int | None = None) -> tuple[int, int]:
        """Row range [lo, hi) of the intervals with start <= interval_end <= end."""
        lo = 0 if start is None else int(np.searchsorted(self.interval_end, start, side="left"))
        hi = len(self) if end is None else int(np.searchsorted(self.interval_end, end, side="right"))
        if hi <= lo:
            span = f"{iso(self.interval_end[0])} to {iso(self.interval_end[-1])}" if len(self) else "nothing"
            asked = f"{iso(start) if start is not None else 'the start'} to {iso(end) if end is not None else 'the end'}"
            raise BadInput(f"the window {asked} holds no intervals; the data covers {span}")
        return lo, hi

    def fingerprint(self, hi: int) -> str:
        """A short hash of every row before row `hi`: a revised price (or history) changes it."""
        hashed = pd.util.hash_pandas_object(self.frame.iloc[:hi], index=False).to_numpy()
        digest = hashlib.sha256(hashed.tobytes())
        digest.update(self.interval_end[:hi].tobytes())
        return digest.hexdigest()[:16]

    def history(self, lo: int) -> pd.DataFrame:
        """Every row before row `lo` (never a row inside the window)."""
        return self.frame.iloc[:lo].reset_index(drop=True)


def from_frame(raw: pd.DataFrame, what: str = "data") -> MarketData:
    """Rows given as a frame (the store's export, a test's table): text timestamps, values
    numbers or text. Columns that are all numbers become floats; price must be one."""
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise BadInput(f"{what}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, raw.columns))}")
    if raw.empty:
        raise BadInput(f"{what}: no rows")
    epoch, _ = epoch_seconds(raw["timestamp"], what)
    frame = raw.drop(columns=["timestamp"]).reset_index(drop=True)
    for name in frame.columns:
        # Not `dtype == object`: pandas 3 reads text as its string dtype, which is not object.
        if not pd.api.types.is_numeric_dtype(frame[name]):
            converted = pd.to_numeric(frame[name], errors="coerce")
            bad = converted.isna() & frame[name].notna()
            if name == "price" and bad.any():
                i = int(np.argmax(bad.values))
                raise BadInput(f"{what}: row {i + 1} ({iso(epoch[i])}): price {frame[name].iloc[i]!r} is not a number")
            if not bad.any():
                frame[name] = converted.astype(float)
    return _checked(epoch, frame, what)


def _checked(epoch: np.ndarray, frame: pd.DataFrame, what: str) -> MarketData:
    """The evaluator's rules on top of readable rows: finite prices, 5 minutes apart, in order."""
    price = frame["price"].astype(float)
    if not np.isfinite(price.values).all():
        rows = np.flatnonzero(~np.isfinite(price.values))
        listed = ", ".join(f"row {i + 1} ({iso(epoch[i])})" for i in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise BadInput(f"{what}: price missing or not finite at {listed}{more}")
    steps = np.diff(epoch)
    if len(steps) and not (steps == INTERVAL_S).all():
        i = int(np.argmax(steps != INTERVAL_S)) + 1
        if steps[i - 1] == 0:
            raise BadInput(f"{what}: row {i + 1}: duplicate timestamp {iso(epoch[i])}")
        raise BadInput(
            f"{what}: row {i + 1} ({iso(epoch[i])}) is {steps[i - 1] / 60:g} minutes after the row before it; "
            f"intervals must be {INTERVAL_MINUTES} minutes apart, in time order, without gaps"
        )
    frame = frame.copy()
    frame.insert(0, "timestamp", utc_text(epoch))
    frame["price"] = price
    frame["pv_power"] = frame["pv_power"].astype(float).fillna(0.0) if "pv_power" in frame else 0.0
    return MarketData(np.asarray(epoch, dtype=np.int64), frame.reset_index(drop=True))


def load_market_csv(path: str | Path) -> MarketData:
    """A market CSV file through the one reader ingest uses too (`battery_sim.marketcsv`)."""
    path = Path(path)
    chunks = list(read_chunks(path))
    if not chunks or not sum(len(c) for c in chunks):
        raise BadInput(f"{path.name}: no rows")
    if "price" not in chunks[0].values.columns:
        found = ", ".join(["timestamp", *chunks[0].values.columns, *chunks[0].extra.columns])
        raise BadInput(f"{path.name}: missing column(s) price; found {found}")
    epoch = np.concatenate([c.interval_end for c in chunks])
    frame = pd.concat([pd.concat([c.values, c.extra], axis=1) for c in chunks], ignore_index=True)
    frame = frame[list(chunks[0].columns)]
    for name in chunks[0].extra.columns:  # not market columns: numbers when every cell is one
        converted = pd.to_numeric(frame[name], errors="coerce")
        if not (converted.isna() & frame[name].notna()).any():
            frame[name] = converted.astype(float)
    return _checked(epoch, frame, path.name)
