import pytest

from tasks.prices.nemweb import NemwebSource, csv_members, iter_records, parse_dispatch, parse_listing
from tasks.prices.normalise import DataError, SourceFrame, parse_timestamp
from tests.prices.conftest import NemwebStub, dispatchis_csv, dispatchis_name, zip_bytes

# research §3.3, the reconstructed DispatchIS report, verbatim.
FIXTURE = """C,NEMP.WORLD,DISPATCHIS,AEMO,PUBLIC,2026/08/14,15:00:05,0000000531999001,DISPATCHIS,0000000531999000
I,DISPATCH,CASE_SOLUTION,2,SETTLEMENTDATE,RUNNO,INTERVENTION,CASESUBTYPE,SOLUTIONSTATUS,LASTCHANGED
D,DISPATCH,CASE_SOLUTION,2,"2026/08/14 15:05:00",1,0,,0,"2026/08/14 15:00:03"
I,DISPATCH,PRICE,5,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,EEP,ROP,APCFLAG,MARKETSUSPENDEDFLAG,LASTCHANGED,PRICE_STATUS
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,NSW1,20260814133,0,112.35,0,112.35,0,0,"2026/08/14 15:00:03",FIRM
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,QLD1,20260814133,0,98.02,0,98.02,0,0,"2026/08/14 15:00:03",FIRM
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,SA1,20260814133,0,-1000,0,-1000,0,0,"2026/08/14 15:00:03",FIRM
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,TAS1,20260814133,0,71.5,0,71.5,0,0,"2026/08/14 15:00:03",FIRM
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,VIC1,20260814133,0,-14.2,0,-14.2,0,0,"2026/08/14 15:00:03",FIRM
D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,VIC1,20260814133,1,-12.9,0,-12.9,0,0,"2026/08/14 15:00:03",FIRM
I,DISPATCH,REGIONSUM,9,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,TOTALDEMAND,AVAILABLEGENERATION,NETINTERCHANGE,LASTCHANGED
D,DISPATCH,REGIONSUM,9,"2026/08/14 15:05:00",1,NSW1,20260814133,0,7215.4,12880.1,-520.3,"2026/08/14 15:00:03"
D,DISPATCH,REGIONSUM,9,"2026/08/14 15:05:00",1,VIC1,20260814133,0,4102.7,8120.6,610.9,"2026/08/14 15:00:03"
C,"END OF REPORT",14
""".replace("\n", "\r\n")

# The MMSDM monthly layout (research §3.3, real 2018 excerpt): unquoted timestamps, schema version 1.
MMSDM = """C,SETP.WORLD,DVD_DISPATCHPRICE,AEMO,PUBLIC,2018/06/07,00:30:02,0000000295553362,,0000000295553313
I,DISPATCH,PRICE,1,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,EEP,ROP,APCFLAG,MARKETSUSPENDEDFLAG,LASTCHANGED,PRICE_STATUS
D,DISPATCH,PRICE,1,2018/05/01 00:05:00,1,NSW1,20180430241,0,62.08993,0,62.08993,0,0,2018/05/01 00:00:06,FIRM
D,DISPATCH,PRICE,1,2018/05/01 00:05:00,1,NSW1,20180430241,1,62.08993,0,62.08993,0,0,2018/05/01 00:00:06,FIRM
D,DISPATCH,PRICE,1,2018/05/01 00:05:00,1,SA1,20180430241,0,71.11784,0,71.11784,0,0,2018/05/01 00:00:06,FIRM
D,DISPATCH,PRICE,1,2018/05/01 00:10:00,1,SA1,20180430242,0,70.5,0,70.5,0,0,2018/05/01 00:05:06,FIRM
C,"END OF REPORT",6
"""

EVERYTHING = (-(2**40), 2**40)


def test_dispatchis_price_and_demand_by_column_name_without_intervention_rows():
    t = parse_timestamp("2026/08/14 15:05:00")
    vic = SourceFrame("nemweb", "VIC1", frozenset({"price", "demand"}))
    assert parse_dispatch(FIXTURE.splitlines(), "VIC1", vic, *EVERYTHING) == 2
    assert vic.values == {t: {"price": -14.2, "demand": 4102.7}}
    sa = SourceFrame("nemweb", "SA1", frozenset({"price", "demand"}))
    parse_dispatch(FIXTURE.splitlines(), "SA1", sa, *EVERYTHING)
    assert sa.values == {t: {"price": -1000.0}}  # SA1 has no REGIONSUM row in the fixture


def test_mmsdm_layout_with_unquoted_timestamps():
    frame = SourceFrame("nemweb", "SA1", frozenset({"price", "demand"}))
    parse_dispatch(MMSDM.splitlines(), "SA1", frame, *EVERYTHING)
    assert frame.values[parse_timestamp("2018-05-01 00:05:00")]["price"] == 71.11784
    assert frame.values[parse_timestamp("2018-05-01 00:10:00")]["price"] == 70.5


def test_columns_are_found_by_name_when_the_schema_adds_some():
    text = ("I,DISPATCH,PRICE,6,REGIONID,NEWCOL,SETTLEMENTDATE,INTERVENTION,RRP\n"
            'D,DISPATCH,PRICE,6,SA1,x,"2026/08/14 15:05:00",0,42.5\n')
    frame = SourceFrame("nemweb", "SA1", frozenset({"price", "demand"}))
    parse_dispatch(text.splitlines(), "SA1", frame, *EVERYTHING)
    assert list(frame.values.values()) == [{"price": 42.5}]


@pytest.mark.parametrize(
    "text, message",
    [
        ('D,DISPATCH,PRICE,5,"2026/08/14 15:05:00",1,SA1\n', "without a matching I record"),
        ("I,DISPATCH,PRICE,5,A,B\nD,DISPATCH,PRICE,5,1\n", "1 values for 2 columns"),
        ("X,what\n", "unknown record type"),
    ],
)
def test_malformed_records_are_clear_errors(text, message):
    with pytest.raises(DataError, match=message):
        list(iter_records(text.splitlines()))


def test_truncated_zip_is_a_data_error():
    payload = zip_bytes({"a.CSV": FIXTURE})
    with pytest.raises(DataError, match="not a readable zip"):
        list(csv_members(payload[: len(payload) // 2], "cut.zip"))


def test_listing_gives_interval_ends_and_absolute_urls():
    html = ('<a href="/Reports/Current/DispatchIS_Reports/PUBLIC_DISPATCHIS_202608141505_0000000531999001.zip">x</a>'
            '<A HREF="/Reports/Current/DispatchIS_Reports/PUBLIC_DISPATCHIS_202608141500_0000000531998001.zip">y</A>'
            '<a href="/Reports/Current/">[To Parent Directory]</a>')
    found = parse_listing(html, "https://nemweb.com.au/Reports/Current/DispatchIS_Reports/")
    assert [t for t, _ in found] == [parse_timestamp("2026-08-14 15:00"), parse_timestamp("2026-08-14 15:05")]
    assert found[1][1] == ("https://nemweb.com.au/Reports/Current/DispatchIS_Reports/"
                           "PUBLIC_DISPATCHIS_202608141505_0000000531999001.zip")


@pytest.fixture
def nemweb(httpserver):
    httpserver.no_handler_status_code = 404  # anything not served is "not there", as on NEMWeb
    return NemwebStub(httpserver)


def test_fetch_reads_current_zips_skips_a_truncated_one_and_says_so(nemweb, no_sleep):
    t0 = parse_timestamp("2026-08-14 15:05")
    for k in range(4):
        nemweb.add_current(t0 + 300 * k, {"SA1": (10.0 + k, 1400.0 + k), "NSW1": (1.0, 7000.0)},
                           intervention={"SA1": 999.0})
    good = zip_bytes({dispatchis_name(t0 + 1200) + ".CSV": dispatchis_csv(t0 + 1200, {"SA1": (5.0, 1.0)})})
    bad = nemweb.add_current(t0 + 1200, {}, payload=good[:-40])
    sleep, _ = no_sleep
    source = NemwebSource(nemweb.install(), sleep=sleep, retries=1)
    frame = source.fetch("SA1", t0, t0 + 1500)
    assert frame.values == {t0 + 300 * k: {"price": 10.0 + k, "demand": 1400.0 + k} for k in range(4)}
    assert any(bad in note and "readable zip" in note for note in frame.notes)


def test_fetch_reads_history_from_the_monthly_archive(nemweb, httpserver):
    httpserver.expect_request(
        "/Data_Archive/Wholesale_Electricity/MMSDM/2018/MMSDM_2018_05/MMSDM_Historical_Data_SQLLoader/DATA/"
        "PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"
    ).respond_with_data(zip_bytes({"PUBLIC_DVD_DISPATCHPRICE_201805010000.CSV": MMSDM}))
    source = NemwebSource(nemweb.install())
    frame = source.fetch("SA1", parse_timestamp("2018-05-01 00:05"), parse_timestamp("2018-05-01 00:15"))
    assert {t: r["price"] for t, r in frame.values.items()} == {
        parse_timestamp("2018-05-01 00:05"): 71.11784, parse_timestamp("2018-05-01 00:10"): 70.5}


def test_unpublished_month_falls_back_to_the_daily_archive_zip_of_zips(nemweb, httpserver):
    t0 = parse_timestamp("2026-08-14 15:05")
    inner = {dispatchis_name(t) + ".zip": zip_bytes({dispatchis_name(t) + ".CSV": dispatchis_csv(t, {"SA1": (t % 7, 1.0)})})
             for t in (t0, t0 + 300)}
    httpserver.expect_request("/Reports/ARCHIVE/DispatchIS_Reports/PUBLIC_DISPATCHIS_20260814.zip").respond_with_data(
        zip_bytes(inner))
    frame = NemwebSource(nemweb.install()).fetch("SA1", t0, t0 + 600)
    assert {t: r["price"] for t, r in frame.values.items()} == {t0: float(t0 % 7), t0 + 300: float((t0 + 300) % 7)}
