import csv
import io
import json
import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from tasks.prices.files import FileSource
from tasks.prices.ingest import IngestError, backfill, checkpoint_key, export_datapoints, ingest_live
from tasks.prices.nemweb import NemwebSource
from tasks.prices.normalise import parse_timestamp
from tasks.prices.openelectricity import OpenElectricitySource
from tests.conftest import APRIL_NAIVE, APRIL_UTC_PV
from tests.prices.conftest import API_KEY, NemwebStub, OEStub, error_body, make_truth

START = parse_timestamp("2025-06-01 00:05")
END = START + 14 * 86400  # two weeks


def oe(httpserver, stub, sleep):
    return OpenElectricitySource(stub.install(httpserver), API_KEY, sleep=sleep, retries=3)


def table(store) -> list[tuple]:
    """Every datapoint as a plain tuple, read straight from the SQLite file (no store code in between)."""
    con = sqlite3.connect(store.path)
    try:
        name = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'") if n.endswith("datapoints")]
        return con.execute(f'SELECT * FROM "{name[0]}" ORDER BY series, interval_end').fetchall()
    finally:
        con.close()


def test_two_weeks_from_a_server_that_fails_each_request_once(store, httpserver, no_sleep):
    stub = OEStub(make_truth(START, END), fail_first=True)
    source = oe(httpserver, stub, no_sleep[0])
    seen = []
    report = backfill(store, source, "SA1", START, END, lambda *a: seen.append(a))
    rows = store.read_datapoints("NEM:SA1", START, END)
    # every interval present exactly once
    assert [r.interval_end for r in rows] == list(range(START, END, 300))
    assert len(table(store)) == 4032
    # prices equal to the source to the last digit
    truth = stub.truth["SA1"]
    assert all(r.price == truth[r.interval_end]["price"] and repr(r.price) == repr(truth[r.interval_end]["price"])
               for r in rows)
    assert all(r.demand == truth[r.interval_end]["demand"] for r in rows)
    assert report.rows_written == 4032 and report.gaps == () and report.chunks_done == 2
    assert seen == [(1, 2, 2016), (2, 2, 4032)]
    assert stub.seen and all(count == 2 for count in stub.seen.values())  # each request failed once, then worked
    # a second run changes nothing: the checkpoint skips both chunks...
    before = table(store)
    again = backfill(store, source, "SA1", START, END)
    assert (again.rows_written, again.chunks_skipped, table(store)) == (0, 2, before)
    # ...and even a forced re-read writes nothing, because nothing differs.
    forced = backfill(store, source, "SA1", START, END, force=True)
    assert (forced.rows_written, forced.chunks_done, table(store)) == (0, 2, before)


def test_revised_and_duplicated_intervals_overwrite_without_duplicates(store, httpserver, no_sleep):
    now = START + 3 * 3600 + 17
    stub = OEStub(make_truth(START, now // 300 * 300 + 300 - 600))  # the newest two not published yet
    source = oe(httpserver, stub, no_sleep[0])
    first = ingest_live(store, source, "SA1", now=now)
    assert first.rows_written == 12 - 2 and first.gaps == () and not first.stale
    revised = first.newest - 900
    stub.truth["SA1"][revised] = dict(stub.truth["SA1"][revised], price=123.45678)
    stub.truth["SA1"][first.newest + 300] = {"price": None, "demand": 1000.0, "rooftop": 0.0}  # explicit null
    second = ingest_live(store, source, "SA1", now=now)
    assert second.rows_written == 2
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    assert rows[revised].price == 123.45678
    assert rows[first.newest + 300].price is None and rows[first.newest + 300].demand == 1000.0
    assert len(table(store)) == len(rows)


def test_live_poll_reports_gaps(store, httpserver, no_sleep):
    now = START + 3600 * 5
    truth = make_truth(START, now + 300)
    hole = now - 1800
    del truth["SA1"][hole], truth["SA1"][hole + 300]
    report = ingest_live(store, oe(httpserver, OEStub(truth), no_sleep[0]), "SA1", now=now)
    assert report.gaps == ((hole, hole + 300),) and report.missing_intervals == 2


def test_stale_primary_is_topped_up_by_the_fallback(store, httpserver, no_sleep):
    now = parse_timestamp("2026-08-14 15:07")
    newest = now // 300 * 300
    stub = OEStub(make_truth(newest - 3600, newest - 1800))  # OE stuck half an hour behind
    nemweb = NemwebStub(httpserver)
    for t in range(newest - 1800, newest + 300, 300):
        nemweb.add_current(t, {"SA1": (t % 1000 / 10, 1500.0)})
    httpserver.no_handler_status_code = 404
    fallback = NemwebSource(nemweb.install(), sleep=no_sleep[0])
    report = ingest_live(store, oe(httpserver, stub, no_sleep[0]), "SA1", now=now, fallbacks=[fallback])
    assert report.used == ("openelectricity", "nemweb")
    assert report.newest == newest and not report.stale and report.gaps == ()
    assert any("stale" in p for p in report.problems)
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    assert rows[newest].price == newest % 1000 / 10
    assert rows[newest - 2100].pv_power is not None  # OE's rooftop kept where it had it


def test_401_falls_back_and_without_a_fallback_says_why(store, httpserver, no_sleep):
    t = parse_timestamp("2026-08-14 15:05")
    stub = OEStub({})
    stub.override = (401, error_body("Authentication failed"))
    nemweb = NemwebStub(httpserver)
    nemweb.add_current(t, {"SA1": (55.5, 1400.0)})
    httpserver.no_handler_status_code = 404
    fallback = NemwebSource(nemweb.install(), sleep=no_sleep[0])
    report = backfill(store, oe(httpserver, stub, no_sleep[0]), "SA1", t, t + 300, fallbacks=[fallback])
    assert report.used == ("nemweb",) and store.read_datapoints("NEM:SA1")[0].price == 55.5
    assert "Authentication failed" in report.problems[0]
    with pytest.raises(IngestError, match="Authentication failed.*OPENELECTRICITY_API_KEY"):
        backfill(store, oe(httpserver, stub, no_sleep[0]), "SA1", t + 300, t + 600, fallbacks=[])
    assert store.get_meta(checkpoint_key("openelectricity", "SA1", t + 300, t + 600)) is None


def test_names_build_the_real_sources(store, httpserver, monkeypatch, no_sleep):
    stub = OEStub(make_truth(START, START + 3600))
    monkeypatch.setenv("OPENELECTRICITY_API_URL", stub.install(httpserver))
    monkeypatch.setenv("OPENELECTRICITY_API_KEY", API_KEY)
    report = backfill(store, "openelectricity", "SA1", START, START + 3600, sleep=no_sleep[0])
    assert report.rows_written == 12 and report.used == ("openelectricity",)


def test_export_is_the_evaluators_input_format(store):
    backfill(store, FileSource(APRIL_UTC_PV), "SA1", parse_timestamp("2023-04-15 00:00+00:00"),
             parse_timestamp("2023-04-16 00:00+00:00"))
    text = export_datapoints(store, "SA1", parse_timestamp("2023-04-15 00:00+00:00"),
                             parse_timestamp("2023-04-15 01:00+00:00"), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:4] == ["timestamp", "price", "demand", "pv_power"]
    assert {"temp_air", "pv_power_forecast_1h", "pv_power_basic"} <= set(rows[0])
    assert len(rows) == 12 and rows[0]["timestamp"] == "2023-04-15 00:00:00+00:00"
    # the same numbers the source file has, character for character
    source = list(csv.DictReader(APRIL_UTC_PV.open()))[:12]
    assert [(r["timestamp"], r["price"], r["demand"]) for r in rows] == \
        [(s["timestamp"], s["price"], s["demand"]) for s in source]
    records = json.loads(export_datapoints(store, "SA1", parse_timestamp("2023-04-15 00:00+00:00"),
                                           parse_timestamp("2023-04-15 00:10+00:00"), "json"))
    assert [r["timestamp"] for r in records] == ["2023-04-15 00:00:00+00:00", "2023-04-15 00:05:00+00:00"]
    assert records[0]["price"] == 3.58892


def cli():
    from cli import datapoints, ingest

    app = typer.Typer()
    ingest.register(app)
    datapoints.register(app)
    return app


def test_cli_ingest_file_then_export_round_trips(arena_home, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli(), ["ingest", "--source", "file", "--file", str(APRIL_NAIVE), "--region", "SA1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_written"] == 6335
    out = tmp_path / "sa1.csv"
    result = runner.invoke(cli(), ["datapoints", "export", "--region", "SA1", "--start", "2023-04-15 00:05",
                                   "--end", "2023-04-15 00:15", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,price,demand,pv_power,demand_total"
    assert lines[1] == "2023-04-14 14:05:00+00:00,-46.9,1500.65,0.0,1512.3"
    assert len(lines) == 3
    result = runner.invoke(cli(), ["datapoints", "gaps", "--region", "SA1", "--start", "2023-04-15 00:00",
                                   "--end", "2023-04-15 00:15", "--json"])
    assert json.loads(result.stdout)["gaps"] == [
        {"first": "2023-04-14 14:00:00+00:00", "last": "2023-04-14 14:00:00+00:00", "intervals": 1}]


@pytest.mark.parametrize("args, message", [
    (["ingest", "--source", "opennem"], "unknown source"),
    (["ingest", "--source", "file"], "needs --file"),
    (["ingest", "--start", "2023-04-15"], "both --start and --end"),
    (["ingest", "--source", "file", "--file", "nope.csv"], "cannot read"),
    (["datapoints", "export", "--start", "2023-04-15", "--end", "2023-04-14"], "not after"),
    (["datapoints", "export", "--start", "2023-04-15", "--end", "2023-04-16", "--format", "xml"], "unknown format"),
])
def test_cli_bad_input_is_one_clear_line(arena_home, args, message):
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_backfill_against_the_stub_with_progress(arena_home, httpserver, monkeypatch):
    stub = OEStub(make_truth(START, START + 2 * 86400))
    monkeypatch.setenv("OPENELECTRICITY_API_URL", stub.install(httpserver))
    monkeypatch.setenv("OPENELECTRICITY_API_KEY", API_KEY)
    monkeypatch.setenv("ARENA_MARKET_CHUNK_DAYS", "1")
    result = CliRunner().invoke(cli(), ["ingest", "--region", "SA1", "--start", "2025-06-01 00:05",
                                        "--end", "2025-06-03 00:05+10:00"])
    assert result.exit_code == 0, result.output
    assert "rows_written" in result.output and "576" in result.output
