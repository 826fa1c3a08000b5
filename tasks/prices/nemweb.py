"""AEMO NEMWeb: DispatchIS report zips (live, and the daily archive) and the monthly MMSDM
archive (deep history). Keyless, and the upstream of every other source's numbers.

Files use AEMO's C/I/D record format (research §3.3): `I` lines name the columns of the
table that follows, `D` lines carry rows, `C` lines are header/footer. One file holds
several tables and columns get added over time, so rows are read by column NAME from the
latest `I` line, never by position. Only `INTERVENTION = 0` rows are kept: an
intervention run repeats the interval with prices that did not settle the market.

Rooftop PV (`ROOFTOP_PV_ACTUAL`, research §5) comes from `Reports/Current/ROOFTOP_PV/ACTUAL/`
(half-hourly zips, same record format, picked and spread onto 5 minutes by `rooftop.py`)
and lands as regional MW, which `normalise` scales to the simulated panel. Only the
rolling Current folder is read; older intervals keep whatever pv_power the store holds.

Where a window is read from (all windows half-open on interval END, NEM time):
- the part covered by `Reports/Current/DispatchIS_Reports/` (a rolling few days): those zips;
- older parts, month by month: the MMSDM monthly DISPATCHPRICE + DISPATCHREGIONSUM files;
  a month not yet published there (404) is read from the daily
  `Reports/ARCHIVE/DispatchIS_Reports/PUBLIC_DISPATCHIS_YYYYMMDD.zip` bundles (zips of zips).
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from urllib.parse import urljoin

import requests

from tasks.prices import http
from tasks.prices.normalise import (
    INTERVAL_S,
    NEM_TIME,
    ROOFTOP_MW,
    DataError,
    SourceFrame,
    number,
    parse_timestamp,
)
from tasks.prices.rooftop import RooftopActuals

NAME = "nemweb"
CURRENT_DIR = "Reports/Current/DispatchIS_Reports/"
ARCHIVE_DIR = "Reports/ARCHIVE/DispatchIS_Reports/"
MMSDM_DIR = "Data_Archive/Wholesale_Electricity/MMSDM/{y}/MMSDM_{y}_{m:02d}/MMSDM_Historical_Data_SQLLoader/DATA/"
ROOFTOP_DIR = "Reports/Current/ROOFTOP_PV/ACTUAL/"
_CURRENT_FILE = re.compile(r"PUBLIC_DISPATCHIS_(?P<stamp>\d{12})_\d+\.zip", re.IGNORECASE)
# e.g. PUBLIC_ROOFTOP_PV_ACTUAL_MEASUREMENT_20240303200000_0000000412707330.zip; the stamp
# is when the file was made, about half an hour after the half hour it reports.
_ROOFTOP_FILE = re.compile(
    r"PUBLIC_ROOFTOP_PV_ACTUAL_(?:(?P<kind>[A-Z]+)_)?(?P<stamp>\d{12})(?:\d{2})?_\d+\.zip", re.IGNORECASE)
# Rooftop files stamped up to this long after a window's end can still report half hours in
# it: about 30 min for SATELLITE/MEASUREMENT, but a DAILY re-estimate comes the next day.
ROOFTOP_LATE_S = {"DAILY": 2 * 86400}
ROOFTOP_LATE_DEFAULT_S = 3600
# Where each value comes from: (report, table) -> (value column, field).
_TABLES = {("DISPATCH", "PRICE"): ("RRP", "price"), ("DISPATCH", "REGIONSUM"): ("TOTALDEMAND", "demand")}


def iter_records(lines: Iterable[str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(report, table, row-by-column-name) for every D record of a C/I/D file."""
    header: tuple[str, str, list[str]] | None = None
    for n, row in enumerate(csv.reader(lines), start=1):
        if not row:
            continue
        kind = row[0].strip().upper()
        if kind == "I":
            if len(row) < 5:
                raise DataError(f"line {n}: I record without columns")
            header = (row[1].strip().upper(), row[2].strip().upper(), [c.strip().upper() for c in row[4:]])
        elif kind == "D":
            if header is None or (row[1].strip().upper(), row[2].strip().upper()) != header[:2]:
                raise DataError(f"line {n}: D record {row[1:3]} without a matching I record")
            if len(row) - 4 != len(header[2]):
                raise DataError(f"line {n}: {len(row) - 4} values for {len(header[2])} columns of {header[0]} {header[1]}")
            yield header[0], header[1], dict(zip(header[2], row[4:], strict=False))
        elif kind != "C":
            raise DataError(f"line {n}: unknown record type {row[0]!r}")


def parse_dispatch(lines: Iterable[str], region: str, frame: SourceFrame, start: int, end: int) -> int:
    """Put the region's price (DISPATCH PRICE RRP) and demand (DISPATCH REGIONSUM TOTALDEMAND)
    of intervention-free rows with start <= interval_end < end into `frame`; rows kept."""
    kept = 0
    for report, table, row in iter_records(lines):
        wanted = _TABLES.get((report, table))
        if wanted is None or row.get("REGIONID", "").strip().upper() != region:
            continue
        if row.get("INTERVENTION", "0").strip() not in ("0", ""):
            continue
        column, field = wanted
        if column not in row or "SETTLEMENTDATE" not in row:
            raise DataError(f"{report} {table} has no {column}/SETTLEMENTDATE column")
        t = parse_timestamp(row["SETTLEMENTDATE"])
        if not start <= t < end:
            continue
        frame.put(t, field, number(row[column], f"{report} {table} {row['SETTLEMENTDATE']}: "))
        kept += 1
    return kept


def csv_members(payload: bytes, name: str = "zip") -> Iterator[tuple[str, Iterator[str]]]:
    """(member name, text lines) of every CSV in a zip, descending into zips inside it
    (the daily archive is a zip of five-minute zips). A damaged zip is a DataError."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(payload))
        infos = bundle.infolist()
    except zipfile.BadZipFile as exc:
        raise DataError(f"{name} is not a readable zip ({exc})") from None
    for info in infos:
        lower = info.filename.lower()
        try:
            if lower.endswith(".zip"):
                yield from csv_members(bundle.read(info), info.filename)
            elif lower.endswith(".csv"):
                data = bundle.read(info)
                yield info.filename, iter(io.StringIO(data.decode("utf-8-sig"), newline=""))
        except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
            raise DataError(f"{name}: member {info.filename} is damaged ({exc})") from None


def parse_listing(html: str, base_url: str, pattern: re.Pattern[str] = _CURRENT_FILE) -> list[tuple[int, str]]:
    """(stamp, absolute URL) of every zip matching `pattern` linked from a directory listing.
    For DispatchIS the stamp in the name is the interval END it prices (NEM time)."""
    found: dict[tuple[int, str], str] = {}
    for href in re.findall(r'href\s*=\s*"([^"]+)"', html, flags=re.IGNORECASE):
        match = pattern.search(href.rsplit("/", 1)[-1])
        if match:
            stamp = datetime.strptime(match.group("stamp"), "%Y%m%d%H%M").replace(tzinfo=NEM_TIME)
            kind = (match.groupdict().get("kind") or "").upper()
            # A re-published file for the same stamp (and kind) sorts later and replaces the first.
            found[(int(stamp.timestamp()), kind)] = urljoin(base_url, href)
    return sorted((stamp, url) for (stamp, _), url in found.items())


def _months(start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(year, month, seg_start, seg_end) covering [start, end); a month's file holds the
    interval ends from day 1 00:05 to the next month's day 1 00:00 (period ending)."""
    t = start
    while t < end:
        local = datetime.fromtimestamp(t - INTERVAL_S, NEM_TIME)
        first = datetime(local.year, local.month, 1, tzinfo=NEM_TIME)
        nxt = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=NEM_TIME)
        seg_end = min(end, int(nxt.timestamp()) + INTERVAL_S)
        yield first.year, first.month, t, seg_end
        t = seg_end


def _market_days(start: int, end: int) -> list[str]:
    """YYYYMMDD market days (04:05 .. 04:00 next day, research §3.1) touching [start, end)."""
    days: list[str] = []
    t = start
    while t < end:
        day = (datetime.fromtimestamp(t, NEM_TIME) - timedelta(hours=4, minutes=5)).strftime("%Y%m%d")
        if not days or days[-1] != day:
            days.append(day)
        t += INTERVAL_S
    return days


class NemwebSource:
    """`fetch(region, start, end)` -> SourceFrame of price, demand and rooftop MW (recent days)."""

    name = NAME
    max_window_s = 31 * 86400

    def __init__(
        self,
        base_url: str = "https://nemweb.com.au",
        *,
        session: requests.Session | None = None,
        timeout_s: float = 30.0,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep

    def _download(self, url: str) -> bytes | None:
        response = http.get(
            self.session, url, source=NAME, timeout_s=self.timeout_s, retries=self.retries, sleep=self.sleep
        )
        return None if response is None else response.content

    def _read_zip(self, url: str, region: str, frame: SourceFrame, start: int, end: int) -> bool:
        """Parse one zip into frame; False when it is absent (404). A damaged zip is downloaded
        once more (a cut transfer), then skipped with a note so the rest still lands."""
        for attempt in (1, 2):
            payload = self._download(url)
            if payload is None:
                return False
            scratch = SourceFrame(NAME, region, frame.covers)
            try:
                for _, lines in csv_members(payload, url.rsplit("/", 1)[-1]):
                    parse_dispatch(lines, region, scratch, start, end)
            except DataError as exc:
                if attempt == 2:
                    frame.notes.append(f"skipped {url.rsplit('/', 1)[-1]}: {exc}")
                    return True
                continue
            for t, row in scratch.values.items():
                for field, value in row.items():
                    frame.put(t, field, value)
            return True
        return True

    def current_files(self, folder: str = CURRENT_DIR, pattern: re.Pattern[str] = _CURRENT_FILE) -> list[tuple[int, str]]:
        listing_url = urljoin(self.base_url, folder)
        response = http.get(
            self.session, listing_url, source=NAME, timeout_s=self.timeout_s, retries=self.retries, sleep=self.sleep
        )
        if response is None:
            raise http.SourceUnavailable(NAME, f"no directory listing at {listing_url}")
        return parse_listing(response.text, listing_url, pattern)

    def _rooftop(self, region: str, frame: SourceFrame, start: int, end: int) -> None:
        """Put the region's rooftop MW for [start, end) into frame. Prices matter more than
        PV, so any failure here becomes a note and the prices still land."""
        try:
            files = self.current_files(ROOFTOP_DIR, _ROOFTOP_FILE)
        except http.SourceError as exc:
            frame.notes.append(f"rooftop PV not read: {exc}")
            return
        actuals = RooftopActuals()
        for stamp, url in files:
            name = url.rsplit("/", 1)[-1]
            match = _ROOFTOP_FILE.search(name)
            kind = ((match.group("kind") if match else None) or "").upper()
            if not start <= stamp < end + ROOFTOP_LATE_S.get(kind, ROOFTOP_LATE_DEFAULT_S):
                continue
            try:
                payload = self._download(url)
                if payload is None:
                    continue
                rows = []
                for _, lines in csv_members(payload, name):
                    rows += RooftopActuals.read(iter_records(lines))
            except (DataError, http.SourceError) as exc:
                frame.notes.append(f"rooftop PV: skipped {name}: {exc}")
                continue
            actuals.add(rows)
        for t, mw in actuals.five_minute(region).items():
            if start <= t < end:
                frame.put(t, ROOFTOP_MW, mw)
        if not files or files[0][0] > start + ROOFTOP_LATE_DEFAULT_S:
            frame.notes.append("rooftop PV: NEMWeb's current folder does not reach back to the window start; "
                               "pv_power there is left as stored")

    def fetch(self, region: str, start: int, end: int) -> SourceFrame:
        frame = SourceFrame(NAME, region, frozenset({"price", "demand", ROOFTOP_MW}))
        files = self.current_files()
        earliest_current = files[0][0] if files else end
        for t, url in files:
            if start <= t < end:
                if not self._read_zip(url, region, frame, start, end):
                    frame.notes.append(f"{url.rsplit('/', 1)[-1]} vanished from the listing before it was read")
        history_end = min(end, earliest_current)
        for year, month, a, b in _months(start, history_end):
            if not self._mmsdm_month(region, year, month, frame, a, b):
                for day in _market_days(a, b):
                    url = urljoin(self.base_url, f"{ARCHIVE_DIR}PUBLIC_DISPATCHIS_{day}.zip")
                    if not self._read_zip(url, region, frame, a, b):
                        frame.notes.append(f"no DispatchIS archive for market day {day}")
        self._rooftop(region, frame, start, end)
        return frame

    def _mmsdm_month(self, region: str, year: int, month: int, frame: SourceFrame, start: int, end: int) -> bool:
        """Both monthly tables for one month; False when the month is not published (404)."""
        folder = urljoin(self.base_url, MMSDM_DIR.format(y=year, m=month))
        found = False
        for table in ("DISPATCHPRICE", "DISPATCHREGIONSUM"):
            stem = f"{year}{month:02d}010000"
            # AEMO renamed the monthly files from August 2024 on (research §3.2).
            if (year, month) >= (2024, 8):
                name = f"PUBLIC_ARCHIVE%23{table}%23FILE01%23{stem}.zip"
            else:
                name = f"PUBLIC_DVD_{table}_{stem}.zip"
            found = self._read_zip(folder + name, region, frame, start, end) or found
        return found
