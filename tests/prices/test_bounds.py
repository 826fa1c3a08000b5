"""Prices outside [market floor, market price cap of the interval's financial year] are
flagged in the ingest report and still stored as the source gave them."""

import pytest

from tasks.prices.bounds import MARKET_PRICE_CAP, financial_year, price_problems
from tasks.prices.ingest import backfill, ingest_file, ingest_live
from tasks.prices.normalise import parse_timestamp
from tasks.prices.openelectricity import OpenElectricitySource
from tests.prices.conftest import API_KEY, OEStub, make_truth


def at(text: str) -> int:
    return parse_timestamp(text)  # naive = NEM time


def test_the_documented_caps():
    assert MARKET_PRICE_CAP == {2021: 15_100, 2022: 15_500, 2023: 16_600, 2024: 17_500, 2025: 20_300}


@pytest.mark.parametrize("end, year", [
    ("2025-07-01 00:00", 2024),  # covers 30 Jun 23:55-24:00: still the old year
    ("2025-07-01 00:05", 2025),
    ("2026-06-30 23:55", 2025),
    ("2022-01-15 12:00", 2021),
])
def test_financial_year_of_an_interval(end, year):
    assert financial_year(at(end)) == year


@pytest.mark.parametrize("end, price, flagged", [
    ("2022-03-01 12:00", 15_100.0, False),   # the cap itself is a real price
    ("2022-03-01 12:00", 15_100.01, True),
    ("2022-08-01 12:00", 15_500.0, False),
    ("2023-08-01 12:00", 16_600.5, True),
    ("2024-08-01 12:00", 17_500.0, False),
    ("2025-06-30 23:55", 20_300.0, True),    # FY 2024-25: cap 17,500
    ("2025-07-01 00:05", 20_300.0, False),   # FY 2025-26: cap 20,300
    ("2025-07-01 00:05", -1000.0, False),    # the floor too
    ("2025-07-01 00:05", -1000.01, True),
])
def test_floor_and_cap_of_the_year(end, price, flagged):
    problems = price_problems("SA1", {at(end): price, at(end) + 300: None})
    assert bool(problems) is flagged
    if flagged:
        assert "SA1 price outside" in problems[0] and str(price) in problems[0]


def test_later_years_use_the_latest_known_cap_and_say_so():
    problems = price_problems("SA1", {at("2027-01-01 12:00"): 20_300.0, at("2027-01-01 12:05"): 20_301.0})
    assert any("no market price cap on record for FY 2026-27" in p and "2025-26" in p and "20,300" in p
               for p in problems)
    assert any("outside [-1,000, 20,300]" in p and "at 1 interval(s)" in p for p in problems)


def test_many_flags_are_one_line_per_year():
    problems = price_problems("SA1", {at("2024-08-01 00:05") + 300 * k: 99_999.0 for k in range(12)})
    assert len(problems) == 1 and "at 12 interval(s)" in problems[0] and "(+7 more)" in problems[0]


START = at("2025-08-01 00:05")  # FY 2025-26: make_truth's prices lie in [-1000, 20300]


def test_backfill_flags_but_keeps_out_of_bounds_prices(store, httpserver, no_sleep):
    truth = make_truth(START, START + 2 * 86400)
    high, low = START + 3000, START + 86400 + 600
    truth["SA1"][high]["price"] = 20_300.5
    truth["SA1"][low]["price"] = -1_001.0
    source = OpenElectricitySource(OEStub(truth).install(httpserver), API_KEY, sleep=no_sleep[0])
    report = backfill(store, source, "SA1", START, START + 2 * 86400)
    flags = [p for p in report.problems if "price outside" in p]
    assert len(flags) == 1 and "at 2 interval(s)" in flags[0]
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    assert (rows[high].price, rows[low].price) == (20_300.5, -1_001.0)  # stored, not dropped or clipped
    assert len(rows) == 576


def test_live_poll_flags_only_what_is_outside(store, httpserver, no_sleep):
    now = START + 3 * 3600
    truth = make_truth(START, now + 300)
    stub = OEStub(truth)
    source = OpenElectricitySource(stub.install(httpserver), API_KEY, sleep=no_sleep[0])
    report = ingest_live(store, source, "SA1", now=now)
    assert report.rows_written == 12 and report.problems == ()
    truth["SA1"][now - 600]["price"] = 25_000.0
    report = ingest_live(store, source, "SA1", now=now)
    assert len(report.problems) == 1 and "25000.0" in report.problems[0] and "FY 2025-26" in report.problems[0]
    assert store.read_datapoints("NEM:SA1", now - 600, now - 600)[0].price == 25_000.0


def test_recorded_files_are_checked_too(store, tmp_path):
    path = tmp_path / "sa1.csv"
    path.write_text("timestamp,price,demand\n"
                    "2023-04-15 10:05:00,15500.0,1200.0\n"    # FY 2022-23 cap: fine
                    "2023-04-15 10:10:00,15500.5,1201.0\n"    # above it
                    "2023-04-15 10:15:00,-1000.0,1202.0\n")
    report = ingest_file(store, path, "SA1")
    assert [p for p in report.problems if "price outside" in p] == [
        "SA1 price outside [-1,000, 15,500] $/MWh (market floor/cap, FY 2022-23) at 1 interval(s), kept as given: "
        "2023-04-15 00:10:00+00:00 = 15500.5"]
    assert report.rows_written == 3
