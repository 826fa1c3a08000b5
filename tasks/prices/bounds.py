"""NEM energy price bounds, and the check that flags prices outside them.

A price outside [market floor, market price cap] cannot have settled the market, so it
points at a parsing or unit mistake upstream. It is flagged in the ingest report, never
dropped or clipped: the source may still be right (a cap we do not know yet) and the
store must hold what the source said. The floor and cap themselves are legitimate
prices (research §4).
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from tasks.prices.normalise import INTERVAL_S, NEM_TZ, format_utc

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
_EXAMPLES = 5  # intervals named per flag line; the rest are counted


def financial_year(interval_end: int) -> int:
    """The year whose 1 July starts the FY holding this interval. Judged by the interval's
    START in NEM time, so the interval ending 1 Jul 00:00 still belongs to the old year."""
    start = datetime.fromtimestamp(interval_end - INTERVAL_S, NEM_TZ)
    return start.year if start.month >= 7 else start.year - 1


def fy_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def price_cap(year: int) -> tuple[float, int]:
    """(cap, the FY it was taken from). Outside the known years the nearest known one is
    used: the latest for later years, the earliest (a looser bound) for older ones."""
    if year in MARKET_PRICE_CAP:
        return MARKET_PRICE_CAP[year], year
    known = max(MARKET_PRICE_CAP) if year > max(MARKET_PRICE_CAP) else min(MARKET_PRICE_CAP)
    return MARKET_PRICE_CAP[known], known


def price_problems(region: str, prices: Mapping[int, float | None]) -> list[str]:
    """One line per financial year with out-of-bounds prices, plus one per FY whose cap
    is not on record (so the reader knows which cap the check assumed)."""
    outside: dict[int, list[tuple[int, float]]] = {}
    years: set[int] = set()
    for end, price in prices.items():
        if price is None:
            continue
        year = financial_year(end)
        years.add(year)
        if not MARKET_PRICE_FLOOR <= price <= price_cap(year)[0]:
            outside.setdefault(year, []).append((end, price))
    problems: list[str] = []
    for year in sorted(years):
        cap, used = price_cap(year)
        if used != year:
            problems.append(f"no market price cap on record for FY {fy_label(year)}; {region} prices checked "
                            f"against FY {fy_label(used)}'s {cap:,.0f} $/MWh (update tasks/prices/bounds.py)")
        if year in outside:
            hits = sorted(outside[year])
            shown = ", ".join(f"{format_utc(t)} = {p}" for t, p in hits[:_EXAMPLES])
            more = f" (+{len(hits) - _EXAMPLES} more)" if len(hits) > _EXAMPLES else ""
            problems.append(f"{region} price outside [{MARKET_PRICE_FLOOR:,.0f}, {cap:,.0f}] $/MWh (market floor/cap, "
                            f"FY {fy_label(year)}) at {len(hits)} interval(s), kept as given: {shown}{more}")
    return problems
