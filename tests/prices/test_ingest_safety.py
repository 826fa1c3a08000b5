"""Ingest never loses or invents data: a missing value never replaces a known one, a file's
conflicting duplicates and impossible values are reported (not silently resolved), files
are read in chunks, and every malformed file is one line of error with a non-zero exit."""

import pytest
from typer.testing import CliRunner

import battery_sim.marketcsv
from cli import app
from tasks.prices.ingest import ingest_file
from tasks.prices.normalise import SourceFrame, parse_timestamp

runner = CliRunner()
T0 = parse_timestamp("2023-04-15 00:05:00+00:00")


def rows(store):
    return {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}


def write(path, text):
    path.write_text(text)
    return path


def test_a_second_file_without_a_column_or_with_empty_cells_keeps_the_known_values(store, tmp_path):
    first = write(tmp_path / "a.csv", "timestamp,price,pv_power\n2023-04-15 00:05:00+00:00,10,2.572\n"
                                      "2023-04-15 00:10:00+00:00,11,1.25\n")
    no_column = write(tmp_path / "b.csv", "timestamp,price\n2023-04-15 00:05:00+00:00,10.5\n"
                                          "2023-04-15 00:10:00+00:00,11\n")
    empty_cells = write(tmp_path / "c.csv", "timestamp,price,pv_power\n2023-04-15 00:05:00+00:00,,\n"
                                            "2023-04-15 00:10:00+00:00,12,NaN\n")
    ingest_file(store, first, "SA1")
    ingest_file(store, no_column, "SA1")
    ingest_file(store, empty_cells, "SA1")
    got = rows(store)
    assert (got[T0].price, got[T0].pv_power) == (10.5, 2.572)  # the revised price, the known pv_power
    assert (got[T0 + 300].price, got[T0 + 300].pv_power) == (12.0, 1.25)


def test_merging_frames_never_replaces_a_number_with_a_null():
    a = SourceFrame("file", "SA1", frozenset({"price", "pv_power"}))
    a.put(T0, "price", 10.0)
    a.put(T0, "pv_power", 2.572)
    b = SourceFrame("file", "SA1", frozenset({"price", "pv_power"}))
    b.put(T0, "price", 11.0)
    b.put(T0, "pv_power", None)
    b.put(T0 + 300, "pv_power", None)
    merged = a.merge(b).values
    assert merged[T0] == {"price": 11.0, "pv_power": 2.572}
    assert merged[T0 + 300] == {"pv_power": None}  # nothing known: null stays null, never 0


@pytest.mark.parametrize("chunk_rows", [None, 2], ids=["one-chunk", "rows-across-chunks"])
def test_conflicting_duplicates_are_reported_and_not_written(store, tmp_path, monkeypatch, chunk_rows):
    monkeypatch.setattr(battery_sim.marketcsv, "CHUNK_ROWS", chunk_rows or battery_sim.marketcsv.CHUNK_ROWS)
    before = write(tmp_path / "before.csv", "timestamp,price,demand\n2023-04-15 00:05:00+00:00,7,900\n")
    ingest_file(store, before, "SA1")
    path = write(tmp_path / "dup.csv", "timestamp,price,demand\n"
                 "2023-04-15 00:05:00+00:00,1.5,1000\n"   # line 2: conflicts with line 5
                 "2023-04-15 00:10:00+00:00,3,1000\n"     # line 3: repeated identically on line 6
                 "2023-04-15 00:15:00+00:00,4,1000\n"
                 "2023-04-15 00:05:00+00:00,2.25,1000\n"
                 "2023-04-15 00:10:00+00:00,3.0,1000\n")
    report = ingest_file(store, path, "SA1")
    assert (report.conflicts, report.duplicates, report.intervals_read) == (1, 1, 3)
    [line] = [p for p in report.problems if "different values" in p]
    assert "1 interval(s) given twice with different values, not written" in line
    assert "2023-04-15 00:05:00+00:00 (line 2 price=1.5, line 5 price=2.25)" in line
    assert any("1 interval(s) given more than once with identical values" in p for p in report.problems)
    got = rows(store)
    assert got[T0].price == 7.0  # the store keeps what it had; neither conflicting row wins
    assert (got[T0 + 300].price, got[T0 + 600].price) == (3.0, 4.0)
    assert report.to_dict()["conflicts"] == 1


def test_negative_solar_and_prices_beyond_the_cap_are_counted_and_shown(store, tmp_path):
    path = write(tmp_path / "odd.csv", "timestamp,price,pv_power,pv_power_forecast_1h,demand\n"
                 "2023-04-15 00:05:00+00:00,10,-0.5,1,-20\n"
                 "2023-04-15 00:10:00+00:00,99999,1,-2,100\n"
                 "2023-04-15 00:15:00+00:00,20,-0.25,1,100\n")
    report = ingest_file(store, path, "SA1")
    assert report.out_of_range == 4  # two negative pv_power, one negative forecast, one price; demand may be < 0
    text = " | ".join(report.problems)
    assert "SA1 pv_power negative (kW of a solar panel cannot be) at 2 interval(s), kept as given: " \
           "2023-04-15 00:05:00+00:00 = -0.5, 2023-04-15 00:15:00+00:00 = -0.25" in text
    assert "pv_power_forecast_1h negative" in text and "price outside" in text and "99999" in text
    assert rows(store)[T0].pv_power == -0.5  # flagged, not clipped: the store holds what the source said


def test_a_big_file_is_read_in_chunks(store, tmp_path, monkeypatch):
    seen = []
    real = battery_sim.marketcsv.read_chunks

    def spy(*args, **kw):
        for chunk in real(*args, **kw):
            seen.append(len(chunk))
            yield chunk

    monkeypatch.setattr(battery_sim.marketcsv, "CHUNK_ROWS", 100)
    monkeypatch.setattr("tasks.prices.files.read_chunks", spy)
    path = write(tmp_path / "big.csv", "region,timestamp,price\n" + "".join(
        f"SA1,2023-04-15 {i // 12:02d}:{i % 12 * 5:02d}:00+00:00,{i % 50}\n" for i in range(1, 288)))
    report = ingest_file(store, path, "SA1")
    assert report.intervals_read == 287 and report.rows_written == 287
    assert max(seen) == 100 and len(seen) == 2 * 3  # two reads (check, then write) of three chunks


MALFORMED = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "not-utf8": b"timestamp,price\n2023-04-15 00:05:00+00:00,4\xff\xfe\n",
    "text-price": b"timestamp,price\n2023-04-15 00:05:00+00:00,12\n2023-04-15 00:10:00+00:00,abc\n",
    "dollar-price": b"timestamp,price\n2023-04-15 00:05:00+00:00,$42.50\n",
    "no-timestamp": b"time,price\n2023-04-15 00:05:00+00:00,4\n",
    "no-market-column": b"timestamp,colour\n2023-04-15 00:05:00+00:00,red\n",
    "empty": b"",
    "header-only": b"timestamp,price\n",
    "ragged": b"timestamp,price\n2023-04-15 00:05:00+00:00,4,5,6\n",
    "bad-timestamp": b"timestamp,price\nyesterday,4\n",
}
SAYS = {
    "binary": "binary data", "not-utf8": "not UTF-8 text", "text-price": "line 3: price: expected a number, got 'abc'",
    "dollar-price": "price: expected a number, got '$42.50'", "no-timestamp": "no `timestamp` column",
    "no-market-column": "none of the columns", "empty": "empty file", "header-only": "holds no intervals",
    "ragged": "more fields than the header", "bad-timestamp": "cannot read timestamp 'yesterday'",
}


def one_line_error(res, says):
    assert res.exit_code not in (0, None) and isinstance(res.exception, SystemExit), res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    assert says in lines[0]


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_arena_ingest_of_a_malformed_file_is_one_line_and_a_nonzero_exit(store, tmp_path, kind):
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(MALFORMED[kind])
    res = runner.invoke(app, ["ingest", "--source", "file", "--file", str(path), "--region", "SA1"])
    one_line_error(res, SAYS[kind])
    assert store.read_datapoints("NEM:SA1") == []


def test_gaps_are_found_a_slice_at_a_time_and_joined_across_slice_edges(store, tmp_path, monkeypatch):
    monkeypatch.setattr("tasks.prices.ingest._GAP_SLICE_S", 900)  # three intervals per slice
    body = "".join(f"2023-04-15 00:{m:02d}:00+00:00,1\n" for m in (5, 10, 35, 40))  # 00:15..00:30 missing
    report = ingest_file(store, write(tmp_path / "g.csv", "timestamp,price\n" + body), "SA1")
    assert report.gaps == ((T0 + 600, T0 + 1500),) and report.missing_intervals == 4
