"""The first of a CSV file's two reads in `ingest_file`: everything checked before anything
is written, in bounded memory.

Per row it keeps 16 bytes (interval end and a hash of the row's market values), never the
row, so a file of millions of rows costs tens of MB here. From those it finds intervals
given twice with different values (conflicts: neither row is written, both are reported)
and twice with the same values (harmless; counted). Out-of-range values are counted as the
chunks go by (`bounds.RangeCheck`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.prices.bounds import RangeCheck
from tasks.prices.files import csv_chunks
from tasks.prices.normalise import DataError, format_utc

EXAMPLES = 5


@dataclass
class FileScan:
    intervals: int = 0  # distinct interval ends in the window
    duplicates: int = 0  # intervals repeated with identical values
    conflicts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # sorted
    first: int | None = None
    last: int | None = None
    checks: RangeCheck | None = None
    # interval end -> [(line, values)] of the first conflicts, filled by `note_conflicts`
    examples: dict[int, list[tuple[int, dict[str, float | None]]]] = field(default_factory=dict)

    def note_conflicts(self, chunk, start: int | None, end: int | None) -> None:
        """Keep the rows of the first few conflicting intervals, for the report."""
        wanted = self.conflicts[:EXAMPLES]
        if not len(wanted):
            return
        for i in np.flatnonzero(np.isin(chunk.interval_end, wanted)).tolist():
            row = {c: (None if np.isnan(v) else float(v)) for c, v in chunk.values.iloc[i].items()}
            self.examples.setdefault(int(chunk.interval_end[i]), []).append((chunk.first_line + i, row))

    def problems(self, name: str) -> list[str]:
        lines: list[str] = []
        if len(self.conflicts):
            shown = []
            for t in self.conflicts[:EXAMPLES].tolist():
                rows = self.examples.get(t, [])
                differ = [c for c in (rows[0][1] if rows else {}) if len({repr(r[c]) for _, r in rows}) > 1]
                shown.append(f"{format_utc(t)} (" + ", ".join(
                    f"line {line} " + " ".join(f"{c}={r[c]}" for c in differ) for line, r in rows) + ")")
            more = f" (+{len(self.conflicts) - EXAMPLES} more)" if len(self.conflicts) > EXAMPLES else ""
            lines.append(f"{name}: {len(self.conflicts)} interval(s) given twice with different values, not written "
                         f"(the store keeps what it had): {'; '.join(shown)}{more}")
        if self.duplicates:
            lines.append(f"{name}: {self.duplicates} interval(s) given more than once with identical values, read once")
        return lines


def scan_csv(path: str | Path, region: str, start: int | None = None, end: int | None = None) -> FileScan:
    """Read the whole file once, checking every cell (a DataError before any write)."""
    path = Path(path)
    checks = RangeCheck(region)
    ends: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    fields: tuple[str, ...] | None = None
    for chunk in csv_chunks(path):
        keep = np.ones(len(chunk), dtype=bool)
        if start is not None:
            keep &= chunk.interval_end >= start
        if end is not None:
            keep &= chunk.interval_end < end
        values = chunk.values[keep].reset_index(drop=True)
        fields = fields or tuple(values.columns)
        ends.append(chunk.interval_end[keep])
        hashes.append(pd.util.hash_pandas_object(values, index=False).to_numpy())
        checks.add(chunk.interval_end[keep], {c: values[c].to_numpy() for c in values.columns})
    if fields is None:
        raise DataError(f"{path.name}: no rows")
    every = np.concatenate(ends) if ends else np.empty(0, dtype=np.int64)
    digest = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    scan = FileScan(checks=checks)
    if not len(every):
        return scan
    order = np.lexsort((digest, every))
    every, digest = every[order], digest[order]
    del order
    distinct = np.ones(len(every), dtype=bool)
    distinct[1:] = (every[1:] != every[:-1]) | (digest[1:] != digest[:-1])
    pairs = every[distinct]  # one entry per distinct (interval, values)
    times, counts = np.unique(pairs, return_counts=True)
    scan.intervals = len(times)
    scan.conflicts = times[counts > 1]
    scan.duplicates = int(len(np.unique(every[~distinct])))
    scan.duplicates -= int(np.isin(np.unique(every[~distinct]), scan.conflicts).sum())
    scan.first, scan.last = int(times[0]), int(times[-1])
    return scan
