"""The one reader of a market CSV file, in chunks: what `arena evaluate --data` and
`arena ingest --source file` both read through, so a row that one accepts the other accepts.

A file is read `chunk_rows` rows at a time (memory bounded by the chunk, never by the
file). Every cell is read as text and converted here, never by pandas' type guessing: a
column pandas would type as text (pandas 3's string dtype) cannot slip past the number
check. Each chunk comes back checked:
- a `timestamp` column (interval END; naive = NEM time, an offset means what it says, and
  one file never mixes the two forms);
- every market column (`battery_sim.fields.MARKET_FIELDS`) present is numbers or empty
  (empty, NaN, null and the other pandas missing markers are missing; `abc`, `$42.50`,
  `1,234` and infinities are errors naming the line);
- other columns are kept as text for whoever wants them (the evaluator hands them to policies).

Every unreadable file (binary bytes, not UTF-8, empty, no header, a broken row) is a
`BadInput` with one line saying which file and where, never a pandas or codec traceback.
Lines are counted as the header plus data rows (blank lines are skipped by the reader).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from battery_sim.errors import BadInput
from battery_sim.fields import MARKET_FIELDS

CHUNK_ROWS = 50_000  # ~5 MB of 2024-format text: big enough for pandas' speed, small for memory
_SNIFF_BYTES = 8192
_MISSING = ("", "nan", "null", "none", "na", "n/a")


@dataclass(frozen=True)
class CsvChunk:
    """Rows `first_line` .. of one file: interval ends, the market columns as floats (NaN =
    missing), and any other columns as text."""

    first_line: int
    interval_end: np.ndarray  # int64 UTC epoch seconds
    values: pd.DataFrame  # float64 market columns present in the file, file order
    extra: pd.DataFrame  # the other columns, as text
    columns: tuple[str, ...]  # every column but `timestamp`, in file order

    def __len__(self) -> int:
        return len(self.interval_end)


def _sniff(path: Path, what: str) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if not head.strip():
        raise BadInput(f"{what}: empty file (a CSV file needs a header line with `timestamp`)")
    if b"\x00" in head:
        raise BadInput(f"{what}: binary data (NUL bytes), not a CSV text file")


def _decode_error(what: str, exc: UnicodeDecodeError) -> BadInput:
    byte = exc.object[exc.start:exc.start + 1]
    shown = f" (byte 0x{byte[0]:02x})" if byte else ""
    return BadInput(f"{what}: not UTF-8 text{shown}; is it a CSV file?")


def numbers(text: pd.Series, column: str, first_line: int, what: str) -> np.ndarray:
    """Text cells -> float64 (NaN = missing). Anything else is a BadInput naming the line."""
    stripped = text.astype(object).where(text.notna(), "").map(str).str.strip()
    converted = np.array(pd.to_numeric(stripped, errors="coerce"), dtype="float64")  # a writable copy
    missing = stripped.str.lower().isin(_MISSING).to_numpy()
    bad = np.isnan(converted) & ~missing
    if bad.any():
        i = int(np.argmax(bad))
        raise BadInput(f"{what} line {first_line + i}: {column}: expected a number, got {stripped.iloc[i]!r}")
    if np.isinf(converted).any():
        i = int(np.argmax(np.isinf(converted)))
        raise BadInput(f"{what} line {first_line + i}: {column}: infinite value {stripped.iloc[i]!r}")
    converted[missing] = np.nan
    return converted


def _strict(reader: Iterator[pd.DataFrame], what: str) -> Iterator[pd.DataFrame]:
    """The reader's chunks, with pandas' "rows longer than the header" warning (it drops the
    extra cells) made an error: a row we cannot read whole is not read at all."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                raw = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserWarning:
                raise BadInput(f"{what}: a row has more fields than the header line") from None
        yield raw


def read_chunks(source: str | Path | io.StringIO, what: str | None = None, *,
                chunk_rows: int | None = None) -> Iterator[CsvChunk]:
    """The checked chunks of a CSV file (a path, or text in a StringIO), in file order,
    `chunk_rows` (default CHUNK_ROWS) rows each."""
    from battery_sim.data import epoch_seconds  # noqa: PLC0415 - data.py imports this module: the cycle breaks here

    if isinstance(source, io.StringIO):
        what = what or "csv"
        if "\x00" in source.getvalue()[:_SNIFF_BYTES]:
            raise BadInput(f"{what}: binary data (NUL bytes), not a CSV text file")
    else:
        source = Path(source)
        what = what or source.name
        _sniff(source, what)
    try:
        reader = pd.read_csv(source, dtype=str, chunksize=chunk_rows or CHUNK_ROWS, encoding="utf-8-sig", index_col=False)
        columns: list[str] | None = None
        first_line, offset_form = 2, None
        for raw in _strict(reader, what):
            raw.columns = [str(c).strip() for c in raw.columns]
            columns = list(raw.columns)
            if "timestamp" not in columns:
                raise BadInput(f"{what}: no `timestamp` column (found {', '.join(columns)})")
            stamps = raw["timestamp"]
            if stamps.isna().any():
                i = int(np.argmax(stamps.isna().to_numpy()))
                raise BadInput(f"{what} line {first_line + i}: empty timestamp")
            epoch, has_offset = epoch_seconds(stamps, what, first_line=first_line)
            if offset_form is None:
                offset_form = has_offset
            elif has_offset != offset_form:
                raise BadInput(f"{what}: timestamps mix naive and offset forms (from line {first_line} on)")
            market = [c for c in columns if c in MARKET_FIELDS]
            values = pd.DataFrame({c: numbers(raw[c], c, first_line, what) for c in market})
            extra = raw[[c for c in columns if c != "timestamp" and c not in MARKET_FIELDS]].reset_index(drop=True)
            yield CsvChunk(first_line, epoch, values, extra, tuple(c for c in columns if c != "timestamp"))
            first_line += len(raw)
    except UnicodeDecodeError as exc:
        raise _decode_error(what, exc) from None
    except pd.errors.EmptyDataError:
        raise BadInput(f"{what}: empty file (a CSV file needs a header line with `timestamp`)") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise BadInput(f"{what}: not a readable CSV file ({detail})") from None
