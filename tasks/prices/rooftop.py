"""AEMO ROOFTOP_PV_ACTUAL rows (research §3.1, §5) -> regional rooftop MW per 5-minute interval.

Input is the C/I/D records `nemweb.iter_records` yields (this module parses no CSV itself):

    I,ROOFTOP,ACTUAL,2,INTERVAL_DATETIME,REGIONID,POWER,QI,TYPE,LASTCHANGED
    D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",SA1,111.261,0.6,SATELLITE,"2026/08/24 08:50:19"

Each row is one region's estimate for the half hour ENDING at INTERVAL_DATETIME (NEM time).
The same half hour arrives several times: SATELLITE and MEASUREMENT files on the day, a
DAILY re-estimate the day after. AEMO ranks them DAILY > MEASUREMENT > SATELLITE; within a
type the higher quality index (QI) wins, then the latest LASTCHANGED. Sub-regions
(QLDC, QLDN, QLDS) are not NEM regions and are dropped: only IDs ending in 1 are kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from tasks.prices.normalise import DataError, expand_half_hours, number, parse_timestamp

TABLE = ("ROOFTOP", "ACTUAL")
TYPE_RANK = {"DAILY": 3, "MEASUREMENT": 2, "SATELLITE": 1}  # an unknown TYPE ranks below all
HALF_HOUR_S = 1800
_NEEDED = ("INTERVAL_DATETIME", "REGIONID", "POWER")

Rank = tuple[int, float, int]  # (type rank, QI, LASTCHANGED epoch): larger is better


def _rank(row: dict[str, str], where: str) -> Rank:
    qi = number(row.get("QI"), f"{where} QI: ")
    changed = row.get("LASTCHANGED", "").strip()
    return (
        TYPE_RANK.get(row.get("TYPE", "").strip().upper(), 0),
        float("-inf") if qi is None else qi,
        parse_timestamp(changed) if changed else 0,
    )


class RooftopActuals:
    """The best estimate seen so far per (region, half-hour end), across any number of files."""

    def __init__(self) -> None:
        self.best: dict[tuple[str, int], tuple[Rank, float | None]] = {}

    @staticmethod
    def read(records: Iterable[tuple[str, str, dict[str, str]]]) -> list[tuple[str, int, Rank, float | None]]:
        """(region, half-hour end, rank, MW) of every ROOFTOP ACTUAL row of one file; other
        tables are ignored. Reading a whole file before `add` means a file that breaks
        halfway contributes nothing rather than half its rows."""
        rows = []
        for report, table, row in records:
            if (report, table) != TABLE:
                continue
            missing = [c for c in _NEEDED if c not in row]
            if missing:
                raise DataError(f"ROOFTOP ACTUAL has no {'/'.join(missing)} column")
            region = row["REGIONID"].strip().upper()
            if not region.endswith("1"):
                continue
            where = f"ROOFTOP ACTUAL {region} {row['INTERVAL_DATETIME']}"
            end = parse_timestamp(row["INTERVAL_DATETIME"])
            if end % HALF_HOUR_S:
                raise DataError(f"{where}: not a half-hour interval end")
            rows.append((region, end, _rank(row, where), number(row["POWER"], f"{where} POWER: ")))
        return rows

    def add(self, rows: Iterable[tuple[str, int, Rank, float | None]]) -> None:
        for region, end, rank, power in rows:
            kept = self.best.get((region, end))
            if kept is None or rank > kept[0]:
                self.best[(region, end)] = (rank, power)

    def five_minute(self, region: str) -> dict[int, float | None]:
        """The region's MW on the 5-minute grid: the half hour ending HH:30 fills HH:05..HH:30."""
        half_hours = {end: power for (r, end), (_, power) in self.best.items() if r == region}
        return expand_half_hours(half_hours)
