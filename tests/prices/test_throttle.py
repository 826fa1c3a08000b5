"""Open Electricity requests stay within the Community burst limit (2/s), on virtual time."""

import pytest

from tasks.prices.ingest import backfill, make_source
from tasks.prices.normalise import parse_timestamp
from tasks.prices.throttle import Throttle
from tests.prices.conftest import API_KEY, OEStub, VirtualClock, make_truth

START = parse_timestamp("2025-08-01 00:05")


def busiest_second(times: list[float]) -> int:
    """The most requests sent within any window [t, t + 1 s)."""
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


def test_a_burst_of_two_then_waits():
    clock = VirtualClock(0.0)
    throttle = Throttle(2, clock=clock.clock, sleep=clock.sleep)
    sent = []
    for _ in range(7):
        throttle.wait()
        sent.append(clock.now)
    assert sent == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0]


def test_time_spent_elsewhere_counts_towards_the_window():
    clock = VirtualClock(0.0)
    throttle = Throttle(2, clock=clock.clock, sleep=clock.sleep)
    throttle.wait()
    clock.sleep(0.7)
    throttle.wait()
    throttle.wait()  # must wait for the first to leave the window: until 1.0, not 1.7
    assert clock.now == pytest.approx(1.0)


@pytest.mark.parametrize("rate, expected", [(0.5, [0.0, 2.0, 4.0]), (4, [0.0, 0.0, 0.0])])
def test_other_rates(rate, expected):
    clock = VirtualClock(0.0)
    throttle = Throttle(rate, clock=clock.clock, sleep=clock.sleep)
    sent = []
    for _ in range(3):
        throttle.wait()
        sent.append(clock.now)
    assert sent == expected


def test_a_many_chunk_backfill_never_sends_more_than_two_a_second(store, httpserver, monkeypatch, virtual_throttle):
    """Built by name, as the CLI and flows do, against a server that fails every request once
    (so retries are counted too). The stub notes the virtual time of each request it gets."""
    clock = virtual_throttle
    stub = OEStub(make_truth(START, START + 10 * 86400), fail_first=True)
    arrivals: list[float] = []
    stub.gate = lambda request: arrivals.append(clock.now)
    monkeypatch.setenv("OPENELECTRICITY_API_URL", stub.install(httpserver))
    monkeypatch.setenv("OPENELECTRICITY_API_KEY", API_KEY)
    monkeypatch.setenv("ARENA_MARKET_CHUNK_DAYS", "1")
    report = backfill(store, "openelectricity", "SA1", START, START + 10 * 86400, fallbacks=(), sleep=clock.sleep)
    assert report.chunks_done == 10 and report.gaps == ()
    assert len(arrivals) == 10 * 2 * 2  # two endpoints per chunk, each failing once
    assert busiest_second(arrivals) == 2
    assert all(b - a >= 1.0 for a, b in zip(arrivals, arrivals[2:], strict=False))


def test_the_rate_comes_from_settings(monkeypatch, virtual_throttle):
    monkeypatch.setenv("ARENA_MARKET_OPENELECTRICITY_REQUESTS_PER_S", "0.5")
    source = make_source("openelectricity")
    source.throttle.wait()
    source.throttle.wait()
    assert virtual_throttle.now == pytest.approx(1000.0 + 2.0)
