from datetime import UTC, datetime

import pytest

from arena.models import Datapoint
from tasks.prices.normalise import (
    ROOFTOP_MW,
    DataError,
    SourceFrame,
    expand_half_hours,
    format_utc,
    missing_intervals,
    panel_kw,
    parse_timestamp,
    series_for,
    to_datapoints,
)

CAP = {"SA1": 2000.0}


def utc(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-04-15 10:05:00", utc(2023, 4, 15, 0, 5)),  # naive = NEM time, UTC+10
        ("2023-04-15T10:05:00+10:00", utc(2023, 4, 15, 0, 5)),
        ("2023-04-15 00:05:00+00:00", utc(2023, 4, 15, 0, 5)),
        ("2023-04-15T00:05:00Z", utc(2023, 4, 15, 0, 5)),
        ("2023/04/15 10:05:00", utc(2023, 4, 15, 0, 5)),  # AEMO SETTLEMENTDATE
        ("2023-04-15", utc(2023, 4, 14, 14, 0)),
        ("2024-01-15 12:00:00+10:30", utc(2024, 1, 15, 1, 30)),  # an Adelaide summer offset means what it says
    ],
)
def test_timestamps_mean_what_they_say_and_naive_is_nem_time(text, expected):
    assert parse_timestamp(text) == expected


def test_bad_timestamp_and_region_are_clear_errors():
    with pytest.raises(DataError, match="unreadable timestamp"):
        parse_timestamp("15/04/2023 garbage")
    with pytest.raises(DataError, match="not a NEM region"):
        series_for("SA")
    assert series_for("sa1") == "NEM:SA1"
    assert format_utc(utc(2023, 4, 15, 0, 5)) == "2023-04-15 00:05:00+00:00"


def test_half_hour_values_cover_the_six_intervals_ending_in_it():
    end = utc(2023, 4, 15, 2, 30)
    spread = expand_half_hours({end: 10.0})
    assert sorted(spread) == [end - k * 300 for k in range(5, -1, -1)]
    assert set(spread.values()) == {10.0}


def test_panel_scaling_is_the_regional_capacity_factor_clipped():
    assert panel_kw(1000.0, "SA1", 5.0, CAP) == 2.5
    assert panel_kw(3000.0, "SA1", 5.0, CAP) == 5.0
    assert panel_kw(-3.0, "SA1", 5.0, CAP) == 0.0
    assert panel_kw(None, "SA1", 5.0, CAP) is None
    with pytest.raises(DataError, match="no rooftop capacity"):
        panel_kw(1.0, "QLD1", 5.0, CAP)


def test_silent_fields_and_nulls_keep_stored_values_and_unchanged_rows_are_skipped():
    t = utc(2023, 4, 15, 0, 5)
    stored = [Datapoint(series="NEM:SA1", interval_end=t, price=10.0, demand=1200.0, pv_power=2.0, source="x"),
              Datapoint(series="NEM:SA1", interval_end=t + 300, price=11.0, demand=1201.0, source="x")]
    frame = SourceFrame("nemweb", "SA1", frozenset({"price", "demand"}))
    frame.put(t, "price", 12.5)
    frame.put(t, "demand", None)  # explicit null: never erases the stored 1200
    frame.put(t + 300, "price", 11.0)
    frame.put(t + 300, "demand", 1201.0)  # unchanged: not rewritten
    rows = to_datapoints(frame, existing=stored, pv_panel_kw=5.0, rooftop_capacity_mw=CAP, ingested_at=1.0)
    assert len(rows) == 1
    assert (rows[0].price, rows[0].demand, rows[0].pv_power, rows[0].source) == (12.5, 1200.0, 2.0, "nemweb")


def test_rooftop_megawatts_become_panel_kilowatts():
    t = utc(2023, 4, 15, 2, 0)
    frame = SourceFrame("openelectricity", "SA1", frozenset({"price", ROOFTOP_MW}))
    frame.put(t, "price", 1.0)
    frame.put(t, ROOFTOP_MW, 500.0)
    [row] = to_datapoints(frame, pv_panel_kw=4.0, rooftop_capacity_mw=CAP)
    assert row.pv_power == 1.0


def test_off_grid_timestamps_and_uncovered_fields_are_refused():
    frame = SourceFrame("x", "SA1", frozenset({"price"}))
    with pytest.raises(DataError, match="5-minute grid"):
        frame.put(utc(2023, 4, 15, 0, 7), "price", 1.0)
    with pytest.raises(DataError, match="does not cover"):
        frame.put(utc(2023, 4, 15, 0, 5), "demand", 1.0)


def test_gaps_are_runs_of_missing_interval_ends():
    t = utc(2023, 4, 15, 0, 0)
    present = [t, t + 300, t + 1200, t + 1500]
    assert missing_intervals(present, t, t + 1800) == [(t + 600, t + 900)]
    assert missing_intervals([], t, t + 600) == [(t, t + 300)]
