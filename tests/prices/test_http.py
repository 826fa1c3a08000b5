"""The one retry layer of the market sources honours the server's Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests

from tasks.prices.http import SourceUnavailable, get, retry_after_s


def _get(httpserver, waits, retries=2):
    with requests.Session() as session:
        return get(session, httpserver.url_for("/data"), source="test", timeout_s=5, retries=retries,
                   sleep=waits.append)


def test_429_waits_as_long_as_the_server_asks_then_succeeds(httpserver):
    httpserver.expect_ordered_request("/data").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/data").respond_with_data("ok", status=200)
    waits: list[float] = []
    assert _get(httpserver, waits).text == "ok"
    assert waits == [7.0]


def test_a_pause_longer_than_a_poll_gives_up_at_once_saying_so(httpserver):
    httpserver.expect_request("/data").respond_with_data("later", status=503, headers={"Retry-After": "3600"})
    waits: list[float] = []
    with pytest.raises(SourceUnavailable, match="asks to wait 3600 s"):
        _get(httpserver, waits)
    assert waits == [] and len(httpserver.log) == 1


def test_without_retry_after_the_backoff_is_used(httpserver):
    httpserver.expect_request("/data").respond_with_data("down", status=502)
    waits: list[float] = []
    with pytest.raises(SourceUnavailable, match="gave up after 3 attempts"):
        _get(httpserver, waits)
    assert len(waits) == 2 and all(0 < w <= 40 for w in waits)


def test_retry_after_as_an_http_date_and_unreadable_values():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()

    def response(value):
        r = requests.Response()
        r.headers["Retry-After"] = value
        return r

    later = format_datetime(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert retry_after_s(response(later), now=now) == 30.0
    assert retry_after_s(response("soon"), now=now) is None
    assert retry_after_s(requests.Response(), now=now) is None
