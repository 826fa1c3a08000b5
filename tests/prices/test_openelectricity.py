import json

import pytest
import requests

from tasks.prices.http import AuthError, RequestRejected, SourceUnavailable
from tasks.prices.normalise import ROOFTOP_MW, DataError, parse_timestamp
from tasks.prices.openelectricity import OpenElectricitySource, parse_series
from tests.prices.conftest import API_KEY, OEStub, error_body, make_truth

# research §2.4.1, the reconstructed market body, verbatim in substance.
MARKET = {
    "version": "4.5.11", "created_at": "2026-08-14T15:20:31+10:00", "success": True,
    "data": [
        {"network_code": "NEM", "metric": "price", "unit": "$/MWh", "interval": "5m",
         "date_start": "2026-08-14T15:00:00+10:00", "date_end": "2026-08-14T15:10:00+10:00", "groupings": [],
         "results": [
             {"name": "price_NSW1", "date_start": "2026-08-14T15:00:00+10:00", "date_end": "2026-08-14T15:10:00+10:00",
              "columns": {"region": "NSW1"},
              "data": [["2026-08-14T15:00:00+10:00", 112.35], ["2026-08-14T15:05:00+10:00", -14.2],
                       ["2026-08-14T15:10:00+10:00", None]]},
             {"name": "price_SA1", "date_start": "2026-08-14T15:00:00+10:00", "date_end": "2026-08-14T15:10:00+10:00",
              "columns": {"region": "SA1"},
              "data": [["2026-08-14T15:00:00+10:00", 20300.0], ["2026-08-14T15:05:00+10:00", -1000.0],
                       ["2026-08-14T15:10:00+10:00", 87.1]]}],
         "network_timezone_offset": "+10:00"},
        {"network_code": "NEM", "metric": "demand", "unit": "MW", "interval": "5m",
         "date_start": "2026-08-14T15:00:00+10:00", "date_end": "2026-08-14T15:10:00+10:00", "groupings": [],
         "results": [
             {"name": "demand_SA1", "date_start": "2026-08-14T15:00:00+10:00", "date_end": "2026-08-14T15:10:00+10:00",
              "columns": {},  # no label here: the region comes from the name
              "data": [["2026-08-14T15:00:00+10:00", 1402.3], ["2026-08-14T15:05:00+10:00", 1398.77],
                       ["2026-08-14T15:05:00+10:00", 1399.01]]}],  # a duplicated interval: the later wins
         "network_timezone_offset": "+10:00"},
    ],
}
T = parse_timestamp("2026-08-14T15:00:00+10:00")


def test_market_body_by_region_with_nulls_kept():
    assert parse_series(MARKET, "price", "NSW1") == {T: 112.35, T + 300: -14.2, T + 600: None}
    assert parse_series(MARKET, "price", "SA1") == {T: 20300.0, T + 300: -1000.0, T + 600: 87.1}
    assert parse_series(MARKET, "demand", "SA1") == {T: 1402.3, T + 300: 1399.01}
    with pytest.raises(DataError, match="no `data` list"):
        parse_series({"success": True}, "price", "SA1")


@pytest.fixture
def source(httpserver, no_sleep):
    def build(stub: OEStub, key: str | None = API_KEY) -> OpenElectricitySource:
        return OpenElectricitySource(stub.install(httpserver), key, sleep=no_sleep[0], retries=2)
    return build


def test_requests_are_naive_nem_time_half_open_and_chunked_to_seven_days(source):
    start, end = parse_timestamp("2026-08-01 00:05"), parse_timestamp("2026-08-10 00:05")
    stub = OEStub(make_truth(start, end))
    frame = source(stub).fetch("SA1", start, end)
    assert sorted(frame.values) == list(range(start, end, 300))
    market = [q for path, q in stub.requests if path.endswith("market/network/NEM")]
    assert [(q["date_start"], q["date_end"]) for q in market] == [
        (["2026-08-01T00:05:00"], ["2026-08-08T00:05:00"]), (["2026-08-08T00:05:00"], ["2026-08-10T00:05:00"])]
    assert market[0]["metrics"] == ["price", "demand"] and market[0]["network_region"] == ["SA1"]
    row = frame.values[start]
    truth = stub.truth["SA1"][start]
    assert (row["price"], row["demand"], row[ROOFTOP_MW]) == (truth["price"], truth["demand"], truth["rooftop"])


def test_500_then_success_is_retried_with_backoff(source, no_sleep):
    start = parse_timestamp("2026-08-01 00:05")
    stub = OEStub(make_truth(start, start + 3600), fail_first=True)
    frame = source(stub).fetch("SA1", start, start + 3600)
    assert len(frame) == 12
    assert len(no_sleep[1]) == 2  # one backoff per endpoint
    assert all(wait > 0 for wait in no_sleep[1])


def test_persistent_5xx_gives_up_after_the_retries(source):
    stub = OEStub({})
    stub.override = (503, "down")
    with pytest.raises(SourceUnavailable, match="HTTP 503.*gave up after 3 attempts"):
        source(stub).fetch("SA1", T, T + 600)


def test_404_window_is_no_data_not_a_failure(source):
    frame = source(OEStub(make_truth(T, T + 600))).fetch("SA1", T - 86400, T - 3600)
    assert len(frame) == 0 and frame.notes == []


@pytest.mark.parametrize("status, message, error", [
    (401, "Authentication failed", AuthError),
    (403, "Forbidden", AuthError),
    (400, "Date start is too far in the past. Your plan allows data from the last 730 days.", RequestRejected),
])
def test_auth_and_range_errors_carry_the_server_message(source, status, message, error):
    stub = OEStub({})
    stub.override = (status, error_body(message))
    with pytest.raises(error) as caught:
        source(stub).fetch("SA1", T, T + 600)
    assert message in str(caught.value)
    if error is AuthError:
        assert "OPENELECTRICITY_API_KEY" in str(caught.value)


def test_fastapi_422_detail_list_is_read_too(source):
    stub = OEStub({})
    stub.override = (422, json.dumps({"detail": [{"loc": ["query", "interval"], "msg": "bad interval"}]}))
    with pytest.raises(RequestRejected, match="bad interval"):
        source(stub).fetch("SA1", T, T + 600)


def test_wrong_key_and_missing_key(source):
    stub = OEStub(make_truth(T, T + 600))
    with pytest.raises(AuthError, match="Invalid API key"):
        source(stub, key="wrong").fetch("SA1", T, T + 600)
    with pytest.raises(AuthError, match="no API key"):
        source(stub, key=None).fetch("SA1", T, T + 600)


def test_rooftop_failure_keeps_prices_and_notes_it(source, httpserver):
    stub = OEStub(make_truth(T, T + 600))
    original = stub.handle

    def handle(request):
        if request.path.endswith("data/network/NEM"):
            from werkzeug import Response
            return Response("boom", 502)
        return original(request)

    stub.handle = handle
    frame = source(stub).fetch("SA1", T, T + 600)
    assert all("price" in row and ROOFTOP_MW not in row for row in frame.values.values())
    assert any("rooftop PV not read" in note for note in frame.notes)


def test_timeouts_are_retried(httpserver, no_sleep):
    class Slow(requests.Session):
        calls = 0

        def get(self, *a, **kw):
            Slow.calls += 1
            raise requests.ReadTimeout("slow")

    src = OpenElectricitySource("http://127.0.0.1:9/v4", API_KEY, session=Slow(), sleep=no_sleep[0], retries=3)
    with pytest.raises(SourceUnavailable, match="timed out"):
        src.fetch("SA1", T, T + 600)
    assert Slow.calls == 4
