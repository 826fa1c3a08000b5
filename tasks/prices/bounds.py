"""What market data cannot be, and the check that flags values outside it.

- Price: a price outside [market floor, market price cap] cannot have settled the market,
  so it points at a parsing or unit mistake upstream (the floor and cap themselves are
  legitimate prices, research §4).
- PV power (`pv_power` and its forecasts, `pv_power_basic`): kW of the simulated panel
  (shared/data/README.md), which cannot be negative. No upper bound: the 2024 files go
  above the 5 kW panel setting (10.9 kW in April 2023).
- Demand has no bound here: South Australia's operational demand can go below zero.

A value outside is flagged in the ingest report (a count and the first examples), never
dropped or clipped: the source may still be right (a cap we do not know yet) and the store
must hold what the source said.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np

from battery_sim.fields import MARKET_FIELDS
from tasks.prices.normalise import INTERVAL_S, NEM_TIME, format_utc

MARKET_PRICE_FLOOR = -1000.0
# Market price cap ($/MWh) by financial year, keyed by the year its 1 July falls in
# (2025 = FY 2025-26). Source: AEMC schedule, research §4. Add each new year here.
MARKET_PRICE_CAP: dict[int, float] = {
    2021: 15_100.0,
    2022: 15_500.0,
    2023: 16_600.0,
    2024: 17_500.0,
    2025: 20_300.0,
}
NEVER_NEGATIVE = tuple(f for f in MARKET_FIELDS if f.startswith("pv_power"))
_EXAMPLES = 5  # intervals named per flag line; the rest are counted


def financial_year(interval_end: int) -> int:
    """The year whose 1 July starts the FY holding this interval. Judged by the interval's
    START in NEM time, so the interval ending 1 Jul 00:00 still belongs to the old year."""
    start = datetime.fromtimestamp(interval_end - INTERVAL_S, NEM_TIME)
    return start.year if start.month >= 7 else start.year - 1


def _financial_years(ends: np.ndarray) -> np.ndarray:
    """`financial_year` of many interval ends at once."""
    local = (ends.astype(np.int64) - INTERVAL_S + int(NEM_TIME.utcoffset(None).total_seconds())).astype("datetime64[s]")
    years = local.astype("datetime64[Y]").astype(np.int64) + 1970
    months = local.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return np.where(months >= 7, years, years - 1)


def fy_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def price_cap(year: int) -> tuple[float, int]:
    """(cap, the FY it was taken from). Outside the known years the nearest known one is
    used: the latest for later years, the earliest (a looser bound) for older ones."""
    if year in MARKET_PRICE_CAP:
        return MARKET_PRICE_CAP[year], year
    known = max(MARKET_PRICE_CAP) if year > max(MARKET_PRICE_CAP) else min(MARKET_PRICE_CAP)
    return MARKET_PRICE_CAP[known], known


class _Hits:
    """A count and the earliest few (interval end, value) of one kind of flag."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[tuple[int, float]] = []

    def add(self, ends: np.ndarray, values: np.ndarray) -> None:
        if len(ends):
            self.count += len(ends)
            self.first = sorted(self.first + list(zip(ends.tolist(), values.tolist(), strict=False)))[:_EXAMPLES]

    def shown(self) -> str:
        more = f" (+{self.count - len(self.first)} more)" if self.count > len(self.first) else ""
        return ", ".join(f"{format_utc(t)} = {v}" for t, v in self.first) + more


class RangeCheck:
    """Out-of-range values over any number of chunks of one region's data; memory holds the
    counts and a few examples, never the rows."""

    def __init__(self, region: str):
        self.region = region
        self.years: set[int] = set()
        self.prices: dict[int, _Hits] = {}
        self.negative: dict[str, _Hits] = {}

    def add(self, ends: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """`values[field]` aligned with `ends`, NaN = missing (never flagged)."""
        ends = np.asarray(ends, dtype=np.int64)
        if "price" in values:
            price = np.asarray(values["price"], dtype=float)
            known = ~np.isnan(price)
            years = _financial_years(ends[known])
            for year in np.unique(years).tolist():
                self.years.add(year)
                cap = price_cap(year)[0]
                in_year = np.flatnonzero(known)[years == year]
                outside = in_year[(price[in_year] < MARKET_PRICE_FLOOR) | (price[in_year] > cap)]
                if len(outside):
                    self.prices.setdefault(year, _Hits()).add(ends[outside], price[outside])
        for name in NEVER_NEGATIVE:
            if name in values:
                column = np.asarray(values[name], dtype=float)
                below = np.flatnonzero(column < 0)  # NaN compares False: missing is not flagged
                if len(below):
                    self.negative.setdefault(name, _Hits()).add(ends[below], column[below])

    @property
    def out_of_range(self) -> int:
        return sum(h.count for h in self.prices.values()) + sum(h.count for h in self.negative.values())

    def problems(self) -> list[str]:
        """One line per financial year with out-of-bounds prices, one per FY whose cap is not
        on record (so the reader knows which cap the check assumed), one per negative field."""
        problems: list[str] = []
        for year in sorted(self.years):
            cap, used = price_cap(year)
            if used != year:
                problems.append(f"no market price cap on record for FY {fy_label(year)}; {self.region} prices checked "
                                f"against FY {fy_label(used)}'s {cap:,.0f} $/MWh (update tasks/prices/bounds.py)")
            if year in self.prices:
                hits = self.prices[year]
                problems.append(f"{self.region} price outside [{MARKET_PRICE_FLOOR:,.0f}, {cap:,.0f}] $/MWh (market "
                                f"floor/cap, FY {fy_label(year)}) at {hits.count} interval(s), kept as given: {hits.shown()}")
        for name, hits in self.negative.items():
            problems.append(f"{self.region} {name} negative (kW of a solar panel cannot be) at {hits.count} "
                            f"interval(s), kept as given: {hits.shown()}")
        return problems


def frame_check(region: str, rows: Mapping[int, Mapping[str, float | None]]) -> RangeCheck:
    """The check over a source's values per interval end (a fetch, a legacy JSON file)."""
    check = RangeCheck(region)
    ends = np.fromiter(rows, dtype=np.int64, count=len(rows))
    fields = {f for row in rows.values() for f in row if f in MARKET_FIELDS}
    check.add(ends, {f: np.array([_nan(rows[t].get(f)) for t in rows], dtype=float) for f in fields})
    return check


def price_problems(region: str, prices: Mapping[int, float | None]) -> list[str]:
    """The report lines for a price series alone."""
    return frame_check(region, {t: {"price": p} for t, p in prices.items()}).problems()


def _nan(value: float | None) -> float:
    return np.nan if value is None else value
