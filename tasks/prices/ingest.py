"""Market data into the store: the live poll, the resumable backfill, and the export in
the evaluator's input format. Plain functions; `flows/` wraps them in Prefect.

Windows are half-open on the interval END, `start <= interval_end < end`, everywhere
(the Open Electricity convention), so consecutive windows never overlap.

Nothing is written twice: each write compares against the stored rows and upserts only
intervals whose values changed, so re-reading a window (the live look-back, a re-run
backfill) leaves the table exactly as it was.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import requests

from arena.models import DATAPOINT_FIELDS
from arena.settings import MarketSettings
from tasks.prices.bounds import frame_check
from tasks.prices.files import NAME as NAME_FILE
from tasks.prices.files import FileSource, chunk_frame, csv_chunks, is_json, read_file
from tasks.prices.filescan import scan_csv
from tasks.prices.http import SourceError
from tasks.prices.nemweb import NemwebSource
from tasks.prices.normalise import (
    INTERVAL_S,
    DataError,
    SourceFrame,
    check_region,
    format_utc,
    missing_intervals,
    series_for,
    to_datapoints,
)
from tasks.prices.openelectricity import OpenElectricitySource
from tasks.prices.throttle import Throttle

SOURCES = ("openelectricity", "nemweb", "file")
# Who steps in when a source fails or is stale: AEMO is the upstream of Open Electricity.
FALLBACKS = {"openelectricity": ("nemweb",), "nemweb": (), "file": ()}


class Source(Protocol):
    name: str
    max_window_s: int

    def fetch(self, region: str, start: int, end: int) -> SourceFrame: ...


class IngestError(Exception):
    """Every source failed; the message carries each one's reason."""


@dataclass(frozen=True)
class IngestReport:
    source: str
    region: str
    start: int
    end: int
    used: tuple[str, ...] = ()
    intervals_read: int = 0
    rows_written: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    chunks_skipped: int = 0
    newest: int | None = None
    stale: bool = False
    gaps: tuple[tuple[int, int], ...] = ()
    conflicts: int = 0  # intervals a file gave twice with different values (not written)
    duplicates: int = 0  # intervals a file gave twice with the same values (read once)
    out_of_range: int = 0  # values outside what the market allows (written as given, flagged)
    problems: tuple[str, ...] = ()

    @property
    def missing_intervals(self) -> int:
        return sum((b - a) // INTERVAL_S + 1 for a, b in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "region": self.region,
            "start": format_utc(self.start),
            "end": format_utc(self.end),
            "used": list(self.used),
            "intervals_read": self.intervals_read,
            "rows_written": self.rows_written,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "chunks_skipped": self.chunks_skipped,
            "newest": format_utc(self.newest) if self.newest is not None else None,
            "stale": self.stale,
            "missing_intervals": self.missing_intervals,
            "gaps": [[format_utc(a), format_utc(b)] for a, b in self.gaps],
            "conflicts": self.conflicts,
            "duplicates": self.duplicates,
            "out_of_range": self.out_of_range,
            "problems": list(self.problems),
        }


def check_window(start: int | None, end: int | None) -> None:
    """The one check of an ingest window, for every source and before any is asked: a window
    whose end is not after its start is refused (a file read would otherwise find nothing and
    say it did fine; a remote source would be asked for nothing)."""
    if start is not None and end is not None and end <= start:
        raise DataError(f"empty window: end {format_utc(end)} is not after start {format_utc(start)}")


def make_source(
    name: str,
    *,
    settings: MarketSettings | None = None,
    file: str | Path | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Source:
    settings = settings or MarketSettings()
    if name == "openelectricity":
        return OpenElectricitySource(
            settings.openelectricity_api_url,
            settings.openelectricity_api_key,
            session=session,
            timeout_s=settings.request_timeout_s,
            retries=settings.max_retries,
            sleep=sleep,
            throttle=Throttle(settings.openelectricity_requests_per_s),
        )
    if name == "nemweb":
        return NemwebSource(
            settings.nemweb_url, session=session, timeout_s=settings.request_timeout_s,
            retries=settings.max_retries, sleep=sleep,
        )
    if name == "file":
        if file is None:
            raise DataError("source 'file' needs a file (--file PATH)")
        return FileSource(file)
    raise DataError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")


def _resolve(
    source: str | Source, fallbacks: Sequence[str | Source] | None, settings: MarketSettings, **kw: Any
) -> list[Source]:
    primary = make_source(source, settings=settings, **kw) if isinstance(source, str) else source
    if fallbacks is None:
        fallbacks = FALLBACKS.get(primary.name, ()) if isinstance(source, str) else ()
    chain = [primary]
    for fb in fallbacks:
        chain.append(make_source(fb, settings=settings, **{k: v for k, v in kw.items() if k != "file"})
                     if isinstance(fb, str) else fb)
    return chain


def _newest_price(frame: SourceFrame) -> int | None:
    priced = [t for t, row in frame.values.items() if row.get("price") is not None]
    return max(priced) if priced else None


def _fetch(
    chain: Sequence[Source], region: str, start: int, end: int, *, stale_before: int | None = None
) -> tuple[SourceFrame, tuple[str, ...], list[str]]:
    """The first source that answers (and, with stale_before, is fresh). A stale answer is
    kept and topped up by the next source rather than thrown away."""
    problems: list[str] = []
    kept: SourceFrame | None = None
    used: list[str] = []
    for i, src in enumerate(chain):
        try:
            frame = src.fetch(region, start, end)
        except (SourceError, DataError) as exc:
            problems.append(str(exc) if str(exc).startswith(src.name) else f"{src.name}: {exc}")
            continue
        problems.extend(frame.notes)
        kept = frame if kept is None else kept.merge(frame)
        used.append(src.name)
        newest = _newest_price(frame)
        if stale_before is not None and (newest is None or newest < stale_before) and i + 1 < len(chain):
            seen = format_utc(newest) if newest is not None else "nothing"
            problems.append(f"{src.name} is stale (newest price {seen}); asking {chain[i + 1].name} too")
            continue
        break
    if kept is None:
        raise IngestError("every source failed: " + " | ".join(problems))
    if len(used) > 1:
        kept.source = "+".join(used)
    return kept, tuple(used), problems


def _flag_ranges(frame: SourceFrame) -> list[str]:
    """Values outside what the market allows, for the report (they are still written)."""
    return frame_check(frame.region, frame.values).problems()


def _write(store: Any, frame: SourceFrame, settings: MarketSettings) -> int:
    if not frame.values:
        return 0
    series = series_for(frame.region)
    existing = store.read_datapoints(series, min(frame.values), max(frame.values))
    rows = to_datapoints(
        frame,
        existing=existing,
        pv_panel_kw=settings.pv_panel_kw,
        rooftop_capacity_mw=settings.rooftop_capacity_mw,
    )
    return store.upsert_datapoints(rows) if rows else 0


_GAP_SLICE_S = 30 * 86400  # store rows read at a time when looking for gaps (bounded memory)


def _gaps(store: Any, region: str, start: int, end: int) -> tuple[tuple[int, int], ...]:
    """Intervals in [start, end) without a price in the store, read a slice at a time so a
    long window never loads every row at once."""
    gaps: list[tuple[int, int]] = []
    for a in range(start, end, _GAP_SLICE_S):
        b = min(end, a + _GAP_SLICE_S)
        rows = store.read_datapoints(series_for(region), a, b - 1)
        for first, last in missing_intervals((r.interval_end for r in rows if r.price is not None), a, b):
            if gaps and gaps[-1][1] + INTERVAL_S == first:  # a gap running across the slice edge
                first = gaps.pop()[0]
            gaps.append((first, last))
    return tuple(gaps)


def ingest_live(
    store: Any,
    source: str | Source,
    region: str,
    now: float | None = None,
    *,
    fallbacks: Sequence[str | Source] | None = None,
    settings: MarketSettings | None = None,
    **source_kw: Any,
) -> IngestReport:
    """Re-read the last `live_lookback_minutes` and upsert what changed.

    Late revisions overwrite; a source older than `stale_after_minutes` is topped up from
    the next one. Gaps are reported between the window start and the newest priced interval
    (the intervals after it are simply not published yet).
    """
    settings = settings or MarketSettings()
    region = check_region(region)
    now = time.time() if now is None else now
    end = int(now) // INTERVAL_S * INTERVAL_S + INTERVAL_S
    start = end - settings.live_lookback_minutes * 60
    chain = _resolve(source, fallbacks, settings, **source_kw)
    stale_before = int(now) - settings.stale_after_minutes * 60
    frame, used, problems = _fetch(chain, region, start, end, stale_before=stale_before)
    problems += _flag_ranges(frame)
    written = _write(store, frame, settings)
    stored = store.read_datapoints(series_for(region), start, end - 1)
    priced = [r.interval_end for r in stored if r.price is not None]
    newest = max(priced) if priced else None
    gaps = tuple(missing_intervals(priced, start, newest + INTERVAL_S)) if newest is not None else ((start, end - INTERVAL_S),)
    return IngestReport(
        source=chain[0].name, region=region, start=start, end=end, used=used, intervals_read=len(frame),
        rows_written=written, chunks_total=1, chunks_done=1, newest=newest,
        stale=newest is None or newest < stale_before, gaps=gaps, problems=tuple(problems),
    )


def checkpoint_key(source: str, region: str, start: int, end: int) -> str:
    return f"backfill:{source}:{series_for(region)}:{start}:{end}"


def backfill(
    store: Any,
    source: str | Source,
    region: str,
    start: int,
    end: int,
    progress: Callable[[int, int, int], None] | None = None,
    *,
    fallbacks: Sequence[str | Source] | None = None,
    settings: MarketSettings | None = None,
    force: bool = False,
    **source_kw: Any,
) -> IngestReport:
    """Read [start, end) in chunks of `chunk_days` (<= the source's limit), oldest first.

    After each chunk the checkpoint (store meta `checkpoint_key(...)`) records how far the
    backfill got, so a killed run resumes at the first unfinished chunk; `force` re-reads
    everything (harmless: unchanged rows are not rewritten). A chunk no source can deliver
    raises IngestError with the checkpoint left at the last finished chunk.
    `progress(chunks_finished, chunks_total, rows_written_so_far)` after each chunk.
    """
    settings = settings or MarketSettings()
    region = check_region(region)
    check_window(start, end)
    if start % INTERVAL_S or end % INTERVAL_S:
        raise DataError("backfill window must be on the 5-minute grid")
    chain = _resolve(source, fallbacks, settings, **source_kw)
    # A recorded file is read whole in one chunk; remote sources in request-sized chunks.
    whole = isinstance(chain[0], FileSource)
    chunk_s = end - start if whole else min(settings.chunk_days * 86400, chain[0].max_window_s)
    chunks = [(a, min(end, a + chunk_s)) for a in range(start, end, chunk_s)]
    key = checkpoint_key(chain[0].name, region, start, end)
    done_until = start if force else int((store.get_meta(key) or {}).get("done_until", start))
    report = IngestReport(source=chain[0].name, region=region, start=start, end=end, chunks_total=len(chunks))
    used: list[str] = []
    problems: list[str] = []
    for i, (a, b) in enumerate(chunks, start=1):
        if b <= done_until:
            report = replace(report, chunks_skipped=report.chunks_skipped + 1)
        else:
            frame, chunk_used, chunk_problems = _fetch(chain, region, a, b)
            written = _write(store, frame, settings)
            store.put_meta(key, {"done_until": b, "start": start, "end": end, "source": chain[0].name,
                                 "updated_at": time.time()})
            used += [u for u in chunk_used if u not in used]
            # The same note from several chunks (an unknown cap, say) is reported once.
            problems += [p for p in chunk_problems + _flag_ranges(frame) if p not in problems]
            report = replace(
                report,
                intervals_read=report.intervals_read + len(frame),
                rows_written=report.rows_written + written,
                chunks_done=report.chunks_done + 1,
            )
        if progress is not None:
            progress(i, len(chunks), report.rows_written)
    gaps = _gaps(store, region, start, end)
    stored = store.read_datapoints(series_for(region), start, end - 1)
    newest = max((r.interval_end for r in stored), default=None)
    return replace(report, used=tuple(used), gaps=gaps, newest=newest, problems=tuple(problems))


def ingest_file(
    store: Any, path: str | Path, region: str, start: int | None = None, end: int | None = None,
    *, settings: MarketSettings | None = None,
) -> IngestReport:
    """A recorded file (legacy OpenNEM JSON or a 2024 CSV), whole or cut to [start, end).

    A CSV is read twice, chunk by chunk (memory bounded by a chunk, not the file): first to
    check every cell and find conflicting duplicates and out-of-range values (`filescan`),
    then to write. A file that fails the first read writes nothing."""
    settings = settings or MarketSettings()
    region = check_region(region)
    check_window(start, end)
    path = Path(path)
    if is_json(path):
        return _ingest_frame(store, read_file(path, region, start, end), region, start, end, settings)
    scan = scan_csv(path, region, start, end)
    if not scan.intervals and (start is None or end is None):
        raise DataError(f"{path.name} holds no intervals" + (" in that window" if start is not None else ""))
    written = 0
    for chunk in csv_chunks(path):
        scan.note_conflicts(chunk, start, end)
        written += _write(store, chunk_frame(chunk, region, start, end, skip=scan.conflicts), settings)
    lo = start if start is not None else scan.first
    hi = end if end is not None else scan.last + INTERVAL_S
    return IngestReport(
        source=NAME_FILE, region=region, start=lo, end=hi, used=(NAME_FILE,), intervals_read=scan.intervals,
        rows_written=written, chunks_total=1, chunks_done=1, newest=scan.last, gaps=_gaps(store, region, lo, hi),
        conflicts=len(scan.conflicts), duplicates=scan.duplicates, out_of_range=scan.checks.out_of_range,
        problems=tuple(scan.problems(path.name)) + tuple(scan.checks.problems()),
    )


def _ingest_frame(store: Any, frame: SourceFrame, region: str, start: int | None, end: int | None,
                  settings: MarketSettings) -> IngestReport:
    if not frame.values and (start is None or end is None):
        raise DataError(f"{frame.source} holds no intervals" + (" in that window" if start is not None else ""))
    lo = start if start is not None else min(frame.values)
    hi = end if end is not None else max(frame.values) + INTERVAL_S
    checks = frame_check(frame.region, frame.values)
    written = _write(store, frame, settings)
    return IngestReport(
        source=frame.source, region=region, start=lo, end=hi, used=(frame.source,), intervals_read=len(frame),
        rows_written=written, chunks_total=1, chunks_done=1,
        newest=max(frame.values) if frame.values else None, gaps=_gaps(store, region, lo, hi),
        out_of_range=checks.out_of_range, problems=tuple(frame.notes) + tuple(checks.problems()),
    )


EXPORT_FORMATS = ("csv", "json")
_LEADING = ("price", "demand", "pv_power")


def export_datapoints(store: Any, region: str, start: int, end: int, fmt: str) -> str:
    """The evaluator's input format for [start, end): `timestamp` (ISO UTC of the interval
    END, `2023-04-15 00:05:00+00:00`), price, demand, pv_power, then every other live-format
    field any row has. CSV leaves a missing value empty; JSON is a list of records with null."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose csv or json")
    rows = store.read_datapoints(series_for(region), start, end - 1) if end > start else []
    extra = [f for f in DATAPOINT_FIELDS if f not in _LEADING and any(getattr(r, f) is not None for r in rows)]
    columns = ["timestamp", *_LEADING, *extra]
    records = [{"timestamp": format_utc(r.interval_end), **{c: getattr(r, c) for c in columns[1:]}} for r in rows]
    if fmt == "json":
        return json.dumps(records, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: ("" if v is None else v) for k, v in rec.items()})
    return out.getvalue()


def newest_key(region: str) -> str:
    return f"ingest:newest:{series_for(region)}"


def new_intervals(store: Any, region: str, start: int, end: int) -> int | None:
    """After an ingest of [start, end]: the newest priced interval end when it is newer than any
    an earlier ingest saw (kept in store meta), else None. What starts a live round at once."""
    rows = store.read_datapoints(series_for(region), start, end)
    newest = max((r.interval_end for r in rows if r.price is not None), default=None)
    known = (store.get_meta(newest_key(region)) or {}).get("interval_end")
    if newest is None or (isinstance(known, int) and newest <= known):
        return None
    store.put_meta(newest_key(region), {"interval_end": newest})
    return newest
