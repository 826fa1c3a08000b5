"""AEMO ROOFTOP_PV_ACTUAL from NEMWeb: picking the best estimate, spreading half hours onto
5 minutes, and landing as pv_power next to NEMWeb's price and demand."""

import itertools

import pytest

from arena.settings import MarketSettings
from tasks.prices.ingest import backfill
from tasks.prices.nemweb import _ROOFTOP_FILE, NemwebSource, iter_records, parse_listing
from tasks.prices.normalise import ROOFTOP_MW, DataError, parse_timestamp
from tasks.prices.rooftop import RooftopActuals
from tests.prices.conftest import NemwebStub, zip_bytes

# A verbatim-shaped SATELLITE report (research §3.1 columns; AEMO's C/I/D layout, CRLF).
SATELLITE = """C,NEMP.WORLD,ROOFTOP_PV_ACTUAL_SATELLITE,AEMO,PUBLIC,2026/08/24,09:00:05,0000000534185099,DEMAND,0000000534185097
I,ROOFTOP,ACTUAL,2,INTERVAL_DATETIME,REGIONID,POWER,QI,TYPE,LASTCHANGED
D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",NSW1,2200.909,0.6,SATELLITE,"2026/08/24 08:50:19"
D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",QLD1,1551.764,0.6,SATELLITE,"2026/08/24 08:50:19"
D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",QLDC,601.2,0.6,SATELLITE,"2026/08/24 08:50:19"
D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",SA1,111.261,0.6,SATELLITE,"2026/08/24 08:50:19"
D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",TAS1,43.58,0.6,SATELLITE,"2026/08/24 08:50:19"
C,"END OF REPORT",8
""".replace("\n", "\r\n")
H = parse_timestamp("2026/08/24 08:30:00")


def rows_of(text: str):
    return RooftopActuals.read(iter_records(text.splitlines()))


def test_half_hour_ending_hh30_fills_hh05_to_hh30_and_sub_regions_are_dropped():
    actuals = RooftopActuals()
    actuals.add(rows_of(SATELLITE))
    sa = actuals.five_minute("SA1")
    assert sa == {H - 300 * k: 111.261 for k in range(6)}  # 08:05 .. 08:30, not 08:00 or 08:35
    assert min(sa) == parse_timestamp("2026-08-24 08:05") and max(sa) == H
    assert {region for region, *_ in actuals.best} == {"NSW1", "QLD1", "SA1", "TAS1"}  # QLDC is not a region
    assert actuals.five_minute("QLDC") == {}


CANDIDATES = [  # (power, qi, type, lastchanged) for SA1, half hour ending H; best first
    (400.0, 0.9, "DAILY", "2026/08/25 04:10:00"),
    (300.0, 1, "MEASUREMENT", "2026/08/24 08:59:00"),
    (299.0, 1, "MEASUREMENT", "2026/08/24 08:55:00"),  # same type and QI, changed earlier
    (250.0, 0.8, "MEASUREMENT", "2026/08/24 09:30:00"),  # later, but lower QI
    (200.0, 1, "SATELLITE", "2026/08/25 09:00:00"),
]


def report(*cands) -> str:
    lines = ["I,ROOFTOP,ACTUAL,2,INTERVAL_DATETIME,REGIONID,POWER,QI,TYPE,LASTCHANGED"]
    lines += [f'D,ROOFTOP,ACTUAL,2,"2026/08/24 08:30:00",SA1,{p},{q},{t},"{c}"' for p, q, t, c in cands]
    return "\n".join(lines)


def test_daily_beats_measurement_beats_satellite_then_qi_then_lastchanged():
    """Whatever order the files arrive in, the ranking alone decides."""
    orders = list(itertools.permutations(range(len(CANDIDATES)), 2)) + [(4, 3, 2, 1, 0), (2, 4, 0, 3, 1)]
    for order in orders:
        actuals = RooftopActuals()
        for i in order:
            actuals.add(rows_of(report(CANDIDATES[i])))
        assert actuals.five_minute("SA1")[H] == CANDIDATES[min(order)][0], order


def test_columns_by_name_and_broken_rows_are_clear_errors():
    moved = ("I,ROOFTOP,ACTUAL,3,REGIONID,TYPE,NEWCOL,POWER,INTERVAL_DATETIME,QI,LASTCHANGED\n"
             'D,ROOFTOP,ACTUAL,3,SA1,MEASUREMENT,x,55.5,"2026/08/24 08:30:00",1,"2026/08/24 08:50:00"\n')
    assert [(r, t, p) for r, t, _, p in rows_of(moved)] == [("SA1", H, 55.5)]
    with pytest.raises(DataError, match="not a half-hour"):
        rows_of(report((1.0, 1, "MEASUREMENT", "2026/08/24 08:50:00")).replace("08:30:00", "08:35:00", 1))
    with pytest.raises(DataError, match="no POWER"):
        rows_of("I,ROOFTOP,ACTUAL,2,INTERVAL_DATETIME,REGIONID,QI\nD,ROOFTOP,ACTUAL,2,x,SA1,1\n")


def test_listing_keeps_both_kinds_of_the_same_stamp_and_ignores_other_files():
    base = "https://nemweb.com.au/Reports/Current/ROOFTOP_PV/ACTUAL/"
    html = ('<A HREF="/Reports/Current/ROOFTOP_PV/ACTUAL/PUBLIC_ROOFTOP_PV_ACTUAL_MEASUREMENT_20240303200000_0000000412707330.zip">a</A>'
            '<A HREF="/Reports/Current/ROOFTOP_PV/ACTUAL/PUBLIC_ROOFTOP_PV_ACTUAL_SATELLITE_20240303200000_0000000412707331.zip">b</A>'
            '<A HREF="/Reports/Current/DispatchIS_Reports/PUBLIC_DISPATCHIS_202403032000_0000000412707000.zip">c</A>')
    found = parse_listing(html, base, _ROOFTOP_FILE)
    assert [t for t, _ in found] == [parse_timestamp("2024-03-03 20:00")] * 2
    assert {url.rsplit("_", 3)[-3] for _, url in found} == {"MEASUREMENT", "SATELLITE"}


T0 = parse_timestamp("2026-08-14 15:05")  # a window of 15:05 .. 15:35 (interval ends)
HALF = parse_timestamp("2026-08-14 15:30")


@pytest.fixture
def nemweb(httpserver):
    httpserver.no_handler_status_code = 404
    stub = NemwebStub(httpserver)
    for k in range(7):
        stub.add_current(T0 + 300 * k, {"SA1": (50.0 + k, 1400.0 + k), "QLD1": (1.0, 5000.0)})
    made = HALF + 1800  # AEMO publishes a half hour about half an hour after it ends
    stub.add_rooftop("SATELLITE", made, [(HALF, "SA1", 600.0, 0.6, "SATELLITE", made - 600),
                                         (HALF, "QLDC", 50.0, 0.6, "SATELLITE", made - 600)])
    stub.add_rooftop("MEASUREMENT", made, [(HALF, "SA1", 690.0, 1, "MEASUREMENT", made - 500),
                                           (HALF, "NSW1", 2000.0, 1, "MEASUREMENT", made - 500)])
    stub.add_rooftop("SATELLITE", made + 1800, [(HALF + 1800, "SA1", 460.0, 0.6, "SATELLITE", made + 1200)])
    stub.add_rooftop("SATELLITE", T0 - 6 * 3600, [(T0 - 7 * 3600, "SA1", 1.0, 0.6, "SATELLITE", T0 - 6 * 3600)], seq=9)
    stub.add_rooftop("SATELLITE", T0 + 6 * 3600, [(T0 + 5 * 3600, "SA1", 2.0, 0.6, "SATELLITE", T0 + 6 * 3600)], seq=8)
    return stub


def test_fetch_merges_rooftop_into_the_dispatch_rows_and_reads_only_nearby_files(nemweb, httpserver, no_sleep):
    bad = nemweb.add_rooftop("MEASUREMENT", HALF + 3600, [], payload=zip_bytes({"x.CSV": "x"})[:-30], seq=5)
    frame = NemwebSource(nemweb.install(), sleep=no_sleep[0], retries=1).fetch("SA1", T0, T0 + 7 * 300)
    expected = {T0 + 300 * k: {"price": 50.0 + k, "demand": 1400.0 + k, ROOFTOP_MW: 690.0 if k < 6 else 460.0}
                for k in range(7)}
    assert frame.values == expected
    assert any(bad.removesuffix(".zip") in note and "rooftop" in note for note in frame.notes)
    fetched = {req.path.rsplit("/", 1)[-1] for req, _ in httpserver.log}
    rooftop = {name for name in fetched if "ROOFTOP" in name}
    # files stamped hours before or after the window are not downloaded at all
    assert not any(stamp in name for name in rooftop for stamp in ("_20260814090500_", "_20260814210500_"))
    assert len(rooftop) == 4


def test_nemweb_ingest_gives_price_demand_and_scaled_pv_and_a_daily_revision_updates_pv(
        nemweb, store, no_sleep):
    settings = MarketSettings(pv_panel_kw=5.0, rooftop_capacity_mw={"SA1": 2300.0})
    source = NemwebSource(nemweb.install(), sleep=no_sleep[0])
    end = T0 + 7 * 300
    report = backfill(store, source, "SA1", T0, end, settings=settings)
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    # pv_power = panel kW x regional rooftop MW / installed rooftop MW
    assert {t: (r.price, r.demand, r.pv_power) for t, r in rows.items()} == {
        T0 + 300 * k: (50.0 + k, 1400.0 + k, 5.0 * (690.0 if k < 6 else 460.0) / 2300.0) for k in range(7)}
    assert report.rows_written == 7 and report.gaps == ()
    # the next day's DAILY estimate outranks the day's MEASUREMENT: pv_power moves, nothing else
    nemweb.add_rooftop("DAILY", HALF + 86400, [(HALF, "SA1", 920.0, 1, "DAILY", HALF + 86400 - 60)])
    before = rows
    again = backfill(store, NemwebSource(nemweb.install(), sleep=no_sleep[0]), "SA1", T0, end, settings=settings,
                     force=True)
    rows = {r.interval_end: r for r in store.read_datapoints("NEM:SA1")}
    assert again.rows_written == 6 and len(rows) == 7
    assert {t: r.pv_power for t, r in rows.items()} == {T0 + 300 * k: 2.0 if k < 6 else 1.0 for k in range(7)}
    assert all((rows[t].price, rows[t].demand) == (before[t].price, before[t].demand) for t in rows)
