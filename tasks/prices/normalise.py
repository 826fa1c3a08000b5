"""The one place where any source's values become `arena.models.Datapoint` rows.

Every source hands over a `SourceFrame`: values per interval END (UTC epoch seconds) for
the fields it *covers*. A number the source gave wins (a revision overwrites). A missing
value never replaces a known one: a field the source was silent on, or gave as null or an
empty cell, keeps whatever the store (or an earlier source of the same fetch) already
holds, so a second file without `pv_power` never wipes it. Where nothing was known, null
stays null, never 0.

Time: a timestamp with an offset means what it says; a naive one is NEM time, UTC+10 all
year (never Australia/Sydney, which has daylight saving).

Rooftop PV scaling (`pv_power`): sources that carry the region's rooftop PV report it in
MW for the whole region. The competition wants the output of one simulated panel of
`MarketSettings.pv_panel_kw`, so we take the region's capacity factor and apply it to the
panel:

    pv_power_kw = pv_panel_kw * clip(rooftop_mw / rooftop_capacity_mw[region], 0, 1)

`rooftop_capacity_mw` is the region's installed rooftop capacity (a setting, with rough
2024 figures as defaults). The panel therefore sees the same weather-shaped profile as
the region, at the size the rules expect. Sources that already carry `pv_power` in
panel kW (the 2024 CSV files) pass it through untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from arena.models import DATAPOINT_FIELDS, Datapoint, nem_region
from battery_sim.data import iso as format_utc  # the 2024 live format: 2023-04-15 00:05:00+00:00
from battery_sim.data import parse_timestamp as sim_parse_timestamp
from battery_sim.errors import BadInput
from battery_sim.rules import INTERVAL_S, NEM_TIME

# The extra field a source may fill instead of pv_power: regional rooftop PV in MW.
ROOFTOP_MW = "rooftop_mw"
VALUE_FIELDS = frozenset(DATAPOINT_FIELDS) | {ROOFTOP_MW}



class DataError(ValueError):
    """Input that cannot be turned into datapoints; the message says where and why."""


def check_region(region: str) -> str:
    """`region` as AEMO spells it (upper case), or DataError naming the NEM's regions."""
    try:
        return nem_region(region)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def series_for(region: str) -> str:
    return f"NEM:{check_region(region)}"


def parse_timestamp(text: str | datetime) -> int:
    """UTC epoch seconds. Offsets mean what they say; naive values are NEM time (UTC+10).
    The simulator's parser, with this package's error."""
    if isinstance(text, str) and not text.strip():
        raise DataError("empty timestamp")
    try:
        return sim_parse_timestamp(text)
    except BadInput:
        raise DataError(f"unreadable timestamp {text.strip()!r} (expected ISO-8601, e.g. 2023-04-15 00:05:00+00:00)") from None


def to_nem_naive(epoch: int) -> datetime:
    """What Open Electricity wants in a query: naive wall-clock NEM time."""
    return datetime.fromtimestamp(epoch, NEM_TIME).replace(tzinfo=None)


def check_interval_end(epoch: int, where: str = "") -> int:
    if epoch % INTERVAL_S:
        raise DataError(f"{where}timestamp {format_utc(epoch)} is not on the 5-minute grid")
    return epoch


def number(value: object, where: str = "") -> float | None:
    """A finite float or None; anything else is a DataError naming `where`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DataError(f"{where}expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() in ("null", "nan", "none"):
            return None
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{where}expected a number, got {value!r}") from None
    if not isinstance(value, (int, float)):
        raise DataError(f"{where}expected a number, got {value!r}")
    result = float(value)
    if math.isnan(result):
        return None
    if math.isinf(result):
        raise DataError(f"{where}infinite value")
    return result


def expand_half_hours(values: Mapping[int, float | None]) -> dict[int, float | None]:
    """30-minute period-ending values onto the 5-minute grid: the value of the half hour
    ending HH:30 belongs to the intervals ending HH:05 ... HH:30 (AEMO ROOFTOP_PV_ACTUAL)."""
    out: dict[int, float | None] = {}
    for end, value in values.items():
        for k in range(6):
            out[end - k * INTERVAL_S] = value
    return out


@dataclass
class SourceFrame:
    """What one fetch from one source returned for one region, before normalisation.

    `values[interval_end][field]`; `covers` = the fields this source speaks for.
    A later value for the same interval replaces an earlier one (revisions); a file's
    conflicting duplicates are found before they get here (`filescan`).
    """

    source: str
    region: str
    covers: frozenset[str]
    values: dict[int, dict[str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # partial failures worth reporting

    def put(self, interval_end: int, name: str, value: float | None) -> None:
        if name not in self.covers:
            raise DataError(f"{self.source} does not cover field {name!r}")
        check_interval_end(interval_end, f"{self.source}: ")
        self.values.setdefault(interval_end, {})[name] = value

    def merge(self, other: SourceFrame) -> SourceFrame:
        """This frame plus `other`'s values: other's numbers win where both speak; its nulls
        never erase a number this frame has."""
        merged = SourceFrame(self.source, self.region, self.covers | other.covers, notes=self.notes + other.notes)
        merged.values = {t: dict(row) for t, row in self.values.items()}
        for end, row in other.values.items():
            target = merged.values.setdefault(end, {})
            for name, value in row.items():
                if value is not None or target.get(name) is None:
                    target[name] = value
        return merged

    def window(self, start: int, end: int) -> SourceFrame:
        """Only the intervals with start <= interval_end < end."""
        kept = SourceFrame(self.source, self.region, self.covers, notes=list(self.notes))
        kept.values = {t: dict(v) for t, v in self.values.items() if start <= t < end}
        return kept

    def __len__(self) -> int:
        return len(self.values)


def panel_kw(rooftop_mw: float | None, region: str, pv_panel_kw: float, capacity_mw: Mapping[str, float]) -> float | None:
    """Regional rooftop MW -> kW of the simulated panel (see the module docstring)."""
    if rooftop_mw is None:
        return None
    try:
        capacity = capacity_mw[region]
    except KeyError:
        raise DataError(f"no rooftop capacity known for region {region}; set ARENA_MARKET_ROOFTOP_CAPACITY_MW") from None
    return pv_panel_kw * min(1.0, max(0.0, rooftop_mw / capacity))


_COMPARED = tuple(DATAPOINT_FIELDS)


def same_values(a: Datapoint, b: Datapoint) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in _COMPARED)


def to_datapoints(
    frame: SourceFrame,
    *,
    existing: Iterable[Datapoint] = (),
    pv_panel_kw: float,
    rooftop_capacity_mw: Mapping[str, float],
    ingested_at: float | None = None,
) -> list[Datapoint]:
    """Rows to write: one per interval of `frame` whose values differ from `existing`.

    Fields the frame does not cover are taken from the existing row; unchanged rows are
    left out, so re-reading the same data writes nothing.
    """
    series = series_for(frame.region)
    stamp = time.time() if ingested_at is None else ingested_at
    current = {row.interval_end: row for row in existing if row.series == series}
    covers = set(frame.covers)
    if ROOFTOP_MW in covers:
        covers.discard(ROOFTOP_MW)
        covers.add("pv_power")
    rows: list[Datapoint] = []
    for end in sorted(frame.values):
        check_interval_end(end, f"{frame.source}: ")
        incoming = dict(frame.values[end])
        if ROOFTOP_MW in incoming:
            incoming["pv_power"] = panel_kw(incoming.pop(ROOFTOP_MW), frame.region, pv_panel_kw, rooftop_capacity_mw)
        before = current.get(end)
        fields = {f: (getattr(before, f) if before is not None else None) for f in DATAPOINT_FIELDS}
        # A number the source gave wins; a field it was silent on or gave as missing keeps
        # the stored value, so a partial answer never erases what is already known.
        for name in covers:
            if incoming.get(name) is not None:
                fields[name] = incoming[name]
        row = Datapoint(series=series, interval_end=end, source=frame.source, ingested_at=stamp, **fields)
        if before is not None and same_values(before, row):
            continue
        rows.append(row)
    return rows


def missing_intervals(present: Iterable[int], start: int, end: int) -> list[tuple[int, int]]:
    """Gaps as (first missing interval_end, last missing interval_end) within [start, end)."""
    have = set(present)
    gaps: list[tuple[int, int]] = []
    first = start + (-start) % INTERVAL_S
    run_start: int | None = None
    t = first
    while t < end:
        if t not in have:
            if run_start is None:
                run_start = t
        elif run_start is not None:
            gaps.append((run_start, t - INTERVAL_S))
            run_start = None
        t += INTERVAL_S
    if run_start is not None:
        gaps.append((run_start, t - INTERVAL_S))
    return gaps
