"""Open Electricity API v4: price and demand from the market endpoint, regional rooftop PV
from the data endpoint.

Why a thin `requests` client rather than the official `openelectricity` package: the
official client is aiohttp-based and (research §2.5) drops the `/v4` segment of a base
URL, reads error text only from `detail` while this backend writes it to `error` (so a
401 or 400 arrives without its reason), and has no timeout/retry policy of its own. Two
GETs and a parser of the documented body shape are all we need, and they share the
retry policy and errors of `tasks/prices/http.py` with NEMWeb.

Query rules (research §2.3): `date_start`/`date_end` are naive NEM time, the window is
half-open on the interval END (`start <= t < end`), at most 7 days per 5-minute request,
404 = "no data in that range", explicit nulls are kept as nulls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from tasks.prices import http
from tasks.prices.normalise import (
    INTERVAL_S,
    ROOFTOP_MW,
    DataError,
    SourceFrame,
    number,
    parse_timestamp,
    to_nem_naive,
)
from tasks.prices.throttle import Throttle

NAME = "openelectricity"
MAX_WINDOW_S = 7 * 86400
# Community plan burst limit (research §2): requests per second, retries included.
MAX_REQUESTS_PER_S = 2.0
_AUTH_HINT = "Check OPENELECTRICITY_API_KEY: it may be wrong, revoked, or out of daily credits."


def parse_series(body: Any, metric: str, region: str, *, fueltech: str | None = None) -> dict[int, float | None]:
    """Values of one metric for one region from a v4 timeseries body: {interval_end: value}.

    The region is read from `columns.region` (older bodies: `network_region`), falling back
    to the result name `<metric>_<REGION>[|<fueltech>]`. A duplicated timestamp keeps the
    later value.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise DataError("Open Electricity body has no `data` list")
    if body.get("success") is False:
        raise DataError(f"Open Electricity reported failure: {body.get('error')!r}")
    out: dict[int, float | None] = {}
    for series in body["data"]:
        if not isinstance(series, dict) or series.get("metric") != metric:
            continue
        if series.get("interval", "5m") != "5m":
            raise DataError(f"expected 5m data for {metric}, got interval {series.get('interval')!r}")
        for result in series.get("results") or []:
            columns = result.get("columns") or {}
            name = str(result.get("name", ""))
            label, _, tech = name.partition("_")[2].partition("|")
            result_region = columns.get("region") or columns.get("network_region") or label
            result_tech = columns.get("fueltech") or tech or None
            if str(result_region).upper() != region:
                continue
            if fueltech is not None and result_tech != fueltech:
                continue
            for i, point in enumerate(result.get("data") or []):
                where = f"{name} point {i}: "
                if not isinstance(point, (list, tuple)) or len(point) != 2:
                    raise DataError(f"{where}expected [timestamp, value], got {point!r}")
                end = parse_timestamp(str(point[0]))
                if end % INTERVAL_S:
                    raise DataError(f"{where}timestamp {point[0]} is not on the 5-minute grid")
                out[end] = number(point[1], where)
    return out


class OpenElectricitySource:
    """`fetch(region, start, end)` -> SourceFrame of price, demand and (when served) rooftop MW."""

    name = NAME
    max_window_s = MAX_WINDOW_S

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 30.0,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        network: str = "NEM",
        throttle: Throttle | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep
        self.network = network
        self.throttle = throttle or Throttle(MAX_REQUESTS_PER_S)

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any | None:
        if not self.api_key:
            raise http.AuthError(NAME, "no API key: set OPENELECTRICITY_API_KEY")
        response = http.get(
            self.session,
            f"{self.base_url}/{path}",
            source=NAME,
            params=params,
            headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"},
            timeout_s=self.timeout_s,
            retries=self.retries,
            sleep=self.sleep,
            auth_hint=_AUTH_HINT,
            before_request=self.throttle.wait,
        )
        if response is None:
            return None
        try:
            return response.json()
        except ValueError:
            raise http.SourceUnavailable(NAME, f"{path} answered with a body that is not JSON") from None

    @staticmethod
    def _window(region: str, start: int, end: int) -> list[tuple[str, str]]:
        return [
            ("interval", "5m"),
            ("primary_grouping", "network_region"),
            ("network_region", region),
            ("date_start", to_nem_naive(start).isoformat()),
            ("date_end", to_nem_naive(end).isoformat()),
        ]

    def fetch(self, region: str, start: int, end: int) -> SourceFrame:
        frame = SourceFrame(NAME, region, frozenset({"price", "demand", ROOFTOP_MW}))
        for a in range(start, end, MAX_WINDOW_S):
            b = min(end, a + MAX_WINDOW_S)
            market = self._get(
                f"market/network/{self.network}",
                [("metrics", "price"), ("metrics", "demand"), *self._window(region, a, b)],
            )
            if market is not None:
                try:
                    for metric in ("price", "demand"):
                        for t, v in parse_series(market, metric, region).items():
                            if a <= t < b:
                                frame.put(t, metric, v)
                except DataError as exc:
                    raise http.SourceUnavailable(NAME, f"unreadable market body: {exc}") from None
            try:
                rooftop = self._get(
                    f"data/network/{self.network}",
                    [("metrics", "power"), ("fueltech", "solar_rooftop"), *self._window(region, a, b)],
                )
                if rooftop is not None:
                    for t, v in parse_series(rooftop, "power", region, fueltech="solar_rooftop").items():
                        if a <= t < b:
                            frame.put(t, ROOFTOP_MW, v)
            except (http.SourceUnavailable, http.RequestRejected, DataError) as exc:
                # Prices matter more than PV: keep them, say what was missed.
                frame.notes.append(f"rooftop PV not read for {to_nem_naive(a)}..{to_nem_naive(b)}: {exc}")
        return frame
