import json
from datetime import UTC, datetime

import pytest

from tasks.prices.files import parse_csv, parse_legacy_json, read_file
from tasks.prices.ingest import ingest_file
from tasks.prices.normalise import ROOFTOP_MW, DataError, parse_timestamp
from tests.conftest import APRIL_NAIVE, APRIL_UTC_PV, LIVE_SAMPLE

# The shape of opennem/opennem tests/fixtures/nem_nsw1_7d.json (research §1.3), trimmed, for SA1.
LEGACY = {
    "type": "power", "version": "3.11.12-alpha.17", "network": "nem", "code": "SA1", "region": "SA1",
    "created_at": "2023-01-24T11:42:08+10:00",
    "data": [
        {"id": "au.nem.sa1.demand", "type": "power", "code": "demand", "network": "nem", "region": "SA1",
         "data_type": "power", "units": "MW",
         "history": {"start": "2023-01-17T11:30:00+10:00", "last": "2023-01-17T11:45:00+10:00",
                     "interval": "5m", "data": [1395, 1350.5, None, 1357]}},
        {"id": "au.nem.sa1.fuel_tech.solar_rooftop.power", "type": "power", "fuel_tech": "solar_rooftop",
         "code": "solar_rooftop", "network": "nem", "region": "SA1", "data_type": "power", "units": "MW",
         "history": {"start": "2023-01-17T11:30:00+10:00", "last": "2023-01-17T12:00:00+10:00",
                     "interval": "30m", "data": [1141, 1215]},
         "forecast": {"start": "2023-01-17T12:30:00+10:00", "last": "2023-01-17T13:00:00+10:00",
                      "interval": "30m", "data": [1277, 1298]}},
        {"id": "au.nem.sa1.price", "type": "price", "code": "AU", "network": "nem", "region": "SA1",
         "data_type": "price", "units": "AUD/MWh",
         "history": {"start": "2023-01-17T11:30:00+10:00", "last": "2023-01-17T11:45:00+10:00",
                     "interval": "5m", "data": [68.84, -1000, None, 15500.0]}},
        {"id": "au.nem.sa1.temperature", "type": "temperature", "code": "023000", "network": "nem", "region": "SA1",
         "data_type": "temperature", "units": "C",
         "history": {"start": "2023-01-17T11:30:00+10:00", "last": "2023-01-17T12:00:00+10:00",
                     "interval": "30m", "data": [27.7, 28.3]}},
    ],
}


def test_legacy_json_points_are_start_plus_i_intervals_with_nulls_kept():
    frame = parse_legacy_json(LEGACY, "SA1")
    t0 = parse_timestamp("2023-01-17T11:30:00+10:00")
    assert frame.values[t0]["price"] == 68.84
    assert frame.values[t0 + 300]["price"] == -1000.0
    assert frame.values[t0 + 600]["price"] is None and frame.values[t0 + 600]["demand"] is None
    assert frame.values[t0 + 900]["price"] == 15500.0
    # The half hour ending 12:00 spreads over 11:35..12:00; the one ending 11:30 over 11:05..11:30.
    assert frame.values[t0 + 1800][ROOFTOP_MW] == 1215
    assert frame.values[t0 + 300][ROOFTOP_MW] == 1215
    assert frame.values[t0][ROOFTOP_MW] == 1141
    assert frame.values[t0 - 1500][ROOFTOP_MW] == 1141


def test_legacy_stats_price_body_names_the_region_in_code():
    body = {"type": "price", "version": "3.13.0", "network": "nem", "code": "NEM",
            "created_at": "2023-03-01T10:02:11+10:00",
            "data": [{"id": "au.nem.price.SA1.price", "type": "price", "code": "SA1", "network": "nem",
                      "data_type": "price", "units": "AUD/MWh",
                      "history": {"start": "2023-02-28T10:00:00+10:00", "last": "2023-02-28T10:20:00+10:00",
                                  "interval": "5m", "data": [84.12, 79.5, 77.03, None, 81.9]}}]}
    frame = parse_legacy_json(body, "SA1")
    assert [row["price"] for _, row in sorted(frame.values.items())] == [84.12, 79.5, 77.03, None, 81.9]
    with pytest.raises(DataError, match="no price, demand or rooftop series for NSW1"):
        parse_legacy_json(body, "NSW1")


def test_legacy_json_ingests_with_rooftop_scaled_to_the_panel(store, tmp_path):
    path = tmp_path / "sa1_7d.json"
    path.write_text(json.dumps(LEGACY))
    report = ingest_file(store, path, "SA1")
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    t0 = parse_timestamp("2023-01-17T11:30:00+10:00")
    assert rows[t0].pv_power == pytest.approx(5.0 * 1141 / 2300)  # default 5 kW panel, SA1 2300 MW
    assert rows[t0].price == 68.84 and rows[t0 - 1500].price is None  # rooftop-only interval: no price
    assert report.rows_written == len(rows) == 12  # 11:05..12:00 from the two half hours


def test_bundled_csv_naive_is_nem_time_and_offsets_mean_what_they_say():
    naive = read_file(APRIL_NAIVE, "SA1")
    assert len(naive) == 6335
    first = min(naive.values)
    assert first == int(datetime(2023, 4, 14, 14, 5, tzinfo=UTC).timestamp())
    assert naive.values[first] == {"price": -46.9, "demand": 1500.65, "demand_total": 1512.3, "pv_power": 0.0}
    utc_pv = read_file(APRIL_UTC_PV, "SA1")
    assert len(utc_pv) == 6336
    assert min(utc_pv.values) == int(datetime(2023, 4, 15, 0, 0, tzinfo=UTC).timestamp())
    assert utc_pv.values[min(utc_pv.values)]["pv_power"] == 1.5  # already panel kW: passed through
    live = read_file(LIVE_SAMPLE, "SA1")
    assert min(live.values) == int(datetime(2024, 4, 2, 7, 0, tzinfo=UTC).timestamp())


def test_a_bad_cell_names_its_line_and_nothing_is_written(store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,price,demand\n2023-04-15 00:05:00,1.5,1000\n2023-04-15 00:10:00,abc,1000\n")
    with pytest.raises(DataError, match=r"bad.csv line 3: price: expected a number, got 'abc'"):
        ingest_file(store, path, "SA1")
    assert store.read_datapoints("NEM:SA1") == []
    path.write_text("when,price\n2023-04-15 00:05:00,1\n")
    with pytest.raises(DataError, match="no `timestamp` column"):
        parse_csv(path.read_text(), "SA1")
    with pytest.raises(DataError, match="cannot read"):
        read_file(tmp_path / "absent.csv", "SA1")
