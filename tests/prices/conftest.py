"""Loopback stand-ins for the market sources, answering in each one's documented shape
(research/data-sources.md §2.4 for Open Electricity v4, §3.3 for NEMWeb), plus a store.

Nothing here touches the network: pytest-httpserver listens on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import random
import threading
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from werkzeug import Request, Response

from tasks.prices.normalise import NEM_TIME

API_KEY = "test-key"
VERSION = "4.5.11"


def nem_iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, NEM_TIME).isoformat()


def nem_epoch(text: str) -> int:
    """A naive NEM wall-clock string (what Open Electricity expects) to epoch seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=NEM_TIME).timestamp())


def make_truth(start: int, end: int, regions=("SA1", "NSW1"), seed: int = 7) -> dict[str, dict[int, dict]]:
    """Per region, per interval end: price (5 decimals, floor and cap included), demand, rooftop MW."""
    rng = random.Random(seed)
    truth: dict[str, dict[int, dict]] = {}
    for region in regions:
        rows = {}
        for t in range(start, end, 300):
            price = round(rng.uniform(-1000, 20300), 5)
            if rng.random() < 0.01:
                price = rng.choice([-1000.0, 20300.0, 0.0])
            hour = datetime.fromtimestamp(t, NEM_TIME).hour
            rooftop = round(max(0.0, 1500 * (1 - abs(hour - 12) / 6)), 3)
            rows[t] = {"price": price, "demand": round(rng.uniform(800, 3000), 2), "rooftop": rooftop}
        truth[region] = rows
    return truth


def error_body(message: str) -> str:
    return json.dumps({"version": VERSION, "response_status": "ERROR", "error": message, "success": False})


class OEStub:
    """Open Electricity v4 market and data endpoints over `truth`.

    Behaves as research §2.3 says the backend does: naive NEM-time window, half-open on the
    interval end, at most 8 days, 404 when nothing is in range, Bearer key required.
    Knobs: `fail_first` (each distinct request answers 500 once), `override` (a fixed
    (status, body) for every request), `gate(request)` (called before answering; may block).
    """

    def __init__(self, truth: dict[str, dict[int, dict]], *, fail_first: bool = False):
        self.truth = truth
        self.fail_first = fail_first
        self.override: tuple[int, str] | None = None
        self.gate: Callable[[Request], None] | None = None
        self.seen: Counter = Counter()
        self.requests: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def install(self, httpserver) -> str:
        for path in ("/v4/market/network/NEM", "/v4/data/network/NEM"):
            httpserver.expect_request(path).respond_with_handler(self.handle)
        return httpserver.url_for("/v4")

    def handle(self, request: Request) -> Response:
        args = request.args
        with self.lock:
            self.requests.append((request.path, {k: args.getlist(k) for k in args}))
            key = (request.path, request.query_string)
            first = self.seen[key] == 0
            self.seen[key] += 1
        if self.gate is not None:
            self.gate(request)
        if self.override is not None:
            status, body = self.override
            return Response(body, status, content_type="application/json")
        if self.fail_first and first:
            return Response("upstream hiccup", 500)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return Response(error_body("Invalid API key"), 401, content_type="application/json")
        raw_start, raw_end = args.get("date_start", ""), args.get("date_end", "")
        if any(c in raw_start[10:] for c in "+Z") or any(c in raw_end[10:] for c in "+Z"):
            return Response(error_body("Date start must be timezone naive and in network time"), 400,
                            content_type="application/json")
        start, end = nem_epoch(raw_start), nem_epoch(raw_end)
        if (end - start) / 86400 > 8:
            return Response(error_body("Date range too large for 5m interval. Maximum range is 8 days."), 400,
                            content_type="application/json")
        regions = [args["network_region"]] if "network_region" in args else sorted(self.truth)
        if request.path.endswith("/data/network/NEM"):
            metrics = [("power", "rooftop", "MW", "|solar_rooftop")]
        else:
            units = {"price": "$/MWh", "demand": "MW"}
            metrics = [(m, m, units[m], "") for m in args.getlist("metrics")]
        data = []
        for metric, column, unit, suffix in metrics:
            results = []
            for region in regions:
                points = [[nem_iso(t), row[column]] for t, row in sorted(self.truth.get(region, {}).items())
                          if start <= t < end]
                if not points:
                    continue
                columns = {"region": region}
                if suffix:
                    columns["fueltech"] = "solar_rooftop"
                results.append({"name": f"{metric}_{region}{suffix}", "date_start": points[0][0],
                                "date_end": points[-1][0], "columns": columns, "data": points})
            if results:
                data.append({"network_code": "NEM", "metric": metric, "unit": unit, "interval": "5m",
                             "date_start": results[0]["date_start"], "date_end": results[0]["date_end"],
                             "groupings": [], "results": results, "network_timezone_offset": "+10:00"})
        if not data:
            return Response(error_body("No market data available for network NEM in the specified time range"), 404,
                            content_type="application/json")
        body = {"version": VERSION, "created_at": nem_iso(end), "success": True, "data": data}
        return Response(json.dumps(body), 200, content_type="application/json")


def dispatchis_csv(interval_end: int, rows: dict[str, tuple[float, float]], *, intervention: dict | None = None) -> str:
    """A DispatchIS report for one interval in the exact C/I/D layout of research §3.3.
    `rows[region] = (rrp, totaldemand)`; `intervention[region] = rrp` adds an INTERVENTION=1 row."""
    stamp = datetime.fromtimestamp(interval_end, NEM_TIME)
    when = stamp.strftime("%Y/%m/%d %H:%M:%S")
    made = (stamp - timedelta(minutes=5)).strftime("%Y/%m/%d,%H:%M:%S")
    period = f"{(stamp - timedelta(hours=4, minutes=5)):%Y%m%d}{((interval_end - 4 * 3600 + 10 * 3600) % 86400) // 300 or 288:03d}"
    lines = [
        f"C,NEMP.WORLD,DISPATCHIS,AEMO,PUBLIC,{made},0000000531999001,DISPATCHIS,0000000531999000",
        "I,DISPATCH,CASE_SOLUTION,2,SETTLEMENTDATE,RUNNO,INTERVENTION,CASESUBTYPE,SOLUTIONSTATUS,LASTCHANGED",
        f'D,DISPATCH,CASE_SOLUTION,2,"{when}",1,0,,0,"{when}"',
        "I,DISPATCH,PRICE,5,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,EEP,ROP,APCFLAG,"
        "MARKETSUSPENDEDFLAG,LASTCHANGED,PRICE_STATUS",
    ]
    for region, (rrp, _) in sorted(rows.items()):
        lines.append(f'D,DISPATCH,PRICE,5,"{when}",1,{region},{period},0,{rrp},0,{rrp},0,0,"{when}",FIRM')
        if intervention and region in intervention:
            x = intervention[region]
            lines.append(f'D,DISPATCH,PRICE,5,"{when}",1,{region},{period},1,{x},0,{x},0,0,"{when}",FIRM')
    lines.append("I,DISPATCH,REGIONSUM,9,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,TOTALDEMAND,"
                 "AVAILABLEGENERATION,NETINTERCHANGE,LASTCHANGED")
    for region, (_, demand) in sorted(rows.items()):
        lines.append(f'D,DISPATCH,REGIONSUM,9,"{when}",1,{region},{period},0,{demand},12880.1,-520.3,"{when}"')
    lines.append(f'C,"END OF REPORT",{len(lines) + 1}')
    return "\r\n".join(lines) + "\r\n"


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buf.getvalue()


def dispatchis_name(interval_end: int, seq: int = 1) -> str:
    return f"PUBLIC_DISPATCHIS_{datetime.fromtimestamp(interval_end, NEM_TIME):%Y%m%d%H%M}_{531999000 + seq:016d}"


def rooftop_csv(kind: str, made: int, rows: list[tuple]) -> str:
    """A ROOFTOP_PV ACTUAL report in the C/I/D layout of research §3.1/§3.3 (as AEMO publishes
    it: `I,ROOFTOP,ACTUAL,2,...`). `rows` = (interval_end, region, power, qi, type, lastchanged)."""
    stamp = datetime.fromtimestamp(made, NEM_TIME)
    lines = [f"C,NEMP.WORLD,ROOFTOP_PV_ACTUAL_{kind},AEMO,PUBLIC,{stamp:%Y/%m/%d},{stamp:%H:%M:%S},"
             "0000000534185099,DEMAND,0000000534185097",
             "I,ROOFTOP,ACTUAL,2,INTERVAL_DATETIME,REGIONID,POWER,QI,TYPE,LASTCHANGED"]
    for end, region, power, qi, type_, changed in rows:
        lines.append(f'D,ROOFTOP,ACTUAL,2,"{datetime.fromtimestamp(end, NEM_TIME):%Y/%m/%d %H:%M:%S}",{region},'
                     f'{power},{qi},{type_},"{datetime.fromtimestamp(changed, NEM_TIME):%Y/%m/%d %H:%M:%S}"')
    lines.append(f'C,"END OF REPORT",{len(lines) + 1}')
    return "\r\n".join(lines) + "\r\n"


def rooftop_name(kind: str, made: int, seq: int = 1) -> str:
    return f"PUBLIC_ROOFTOP_PV_ACTUAL_{kind}_{datetime.fromtimestamp(made, NEM_TIME):%Y%m%d%H%M%S}_{534185000 + seq:016d}"


class NemwebStub:
    """`Reports/Current/DispatchIS_Reports/` and (once a file is added) `ROOFTOP_PV/ACTUAL/`
    listings + zips, and any other file by path."""

    ROOFTOP = "/Reports/Current/ROOFTOP_PV/ACTUAL/"

    def __init__(self, httpserver):
        self.httpserver = httpserver
        self.current: dict[str, bytes] = {}
        self.rooftop: dict[str, bytes] = {}

    def add_rooftop(self, kind: str, made: int, rows: list[tuple], *, payload: bytes | None = None,
                    seq: int = 1) -> str:
        name = rooftop_name(kind, made, seq)
        self.rooftop[name + ".zip"] = payload if payload is not None else zip_bytes(
            {name + ".CSV": rooftop_csv(kind, made, rows)})
        return name + ".zip"

    def add_current(self, interval_end: int, rows: dict[str, tuple[float, float]], *, payload: bytes | None = None,
                    intervention: dict | None = None) -> str:
        name = dispatchis_name(interval_end)
        self.current[name + ".zip"] = payload if payload is not None else zip_bytes(
            {name + ".CSV": dispatchis_csv(interval_end, rows, intervention=intervention)})
        return name + ".zip"

    def install(self) -> str:
        folder = "/Reports/Current/DispatchIS_Reports/"
        self.httpserver.expect_request(folder).respond_with_handler(self._listing)
        for name in list(self.current):
            self.httpserver.expect_request(folder + name).respond_with_handler(
                lambda request, name=name: Response(self.current[name], 200, content_type="application/zip"))
        if self.rooftop:
            self.httpserver.expect_request(self.ROOFTOP).respond_with_handler(self._rooftop_listing)
            for name in list(self.rooftop):
                self.httpserver.expect_request(self.ROOFTOP + name).respond_with_handler(
                    lambda request, name=name: Response(self.rooftop[name], 200, content_type="application/zip"))
        return self.httpserver.url_for("/")

    def _rooftop_listing(self, request: Request) -> Response:
        links = "".join(f'<A HREF="{self.ROOFTOP}{n}">{n}</A><br>' for n in sorted(self.rooftop))
        return Response(f"<html><body><pre>{links}</pre></body></html>", 200, content_type="text/html")

    def _listing(self, request: Request) -> Response:
        links = "".join(f'<A HREF="/Reports/Current/DispatchIS_Reports/{n}">{n}</A><br>' for n in sorted(self.current))
        return Response(f"<html><body><pre>{links}</pre></body></html>", 200, content_type="text/html")


@pytest.fixture
def store(arena_home):
    from tasks.store import open_store

    return open_store()


class VirtualClock:
    """Time that only moves when something sleeps on it: throttles run without real waits."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


@pytest.fixture(autouse=True)
def virtual_throttle(monkeypatch):
    """Every Open Electricity source built in a test (directly or by name) throttles on a
    virtual clock, so the rate limit holds without the suite really sleeping."""
    from tasks.prices import ingest, openelectricity
    from tasks.prices.throttle import Throttle

    clock = VirtualClock()

    def make(rate: float, per_s: float = 1.0, **_):
        return Throttle(rate, per_s, clock=clock.clock, sleep=clock.sleep)

    monkeypatch.setattr(openelectricity, "Throttle", make)
    monkeypatch.setattr(ingest, "Throttle", make)
    return clock


@pytest.fixture
def no_sleep():
    waits: list[float] = []
    return waits.append, waits
