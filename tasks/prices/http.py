"""HTTP GET with the retry policy every market source shares, and the errors they raise.

Timeouts, connection errors, 429 and 5xx are retried with exponential backoff (plus jitter,
so several pollers do not hammer a struggling server in step), or after the server's own
`Retry-After` when it sends one; 401/403 and 400 are not, because asking again cannot help;
404 means "no data here" and is returned as None. This is the only retry layer for a source:
the ingest flow does not retry a SourceError again (flows/ingest.py).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from battery_sim.errors import PlatformFailure


class SourceError(PlatformFailure):
    """A market source could not deliver; `source` names it. Ingest falls back on these. Not
    retried by the flow: `get` below is the one retry layer of a source."""

    retry = False

    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source


class AuthError(SourceError):
    """401/403: the key is missing, wrong, or out of credits."""


class RequestRejected(SourceError):
    """400/422: the request itself is wrong (range too long, too far back, bad parameter)."""


class SourceUnavailable(SourceError):
    """Timeouts, connection failures and 5xx that outlasted every retry, or an unreadable body."""


def error_detail(response: requests.Response) -> str:
    """The server's own words: Open Electricity puts them in `error`, FastAPI in `detail`."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        text = response.text.strip()
        return text[:200] if text else (response.reason or "")
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                return "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v) for v in value)
    return response.reason or ""


# A server asking for a longer pause than this is treated as unavailable for this run: the
# next scheduled poll asks again, instead of a flow sleeping for an hour.
MAX_RETRY_AFTER_S = 300.0


def backoff_s(attempt: int, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    return min(cap_s, base_s * 2**attempt) * (1.0 + 0.25 * random.random())


def retry_after_s(response: requests.Response, now: float | None = None) -> float | None:
    """The server's `Retry-After` (seconds, or an HTTP date) as seconds from now; None when
    absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def get(
    session: requests.Session,
    url: str,
    *,
    source: str,
    params: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
    auth_hint: str = "",
    before_request: Callable[[], None] | None = None,
) -> requests.Response | None:
    """GET `url`; the response on 2xx, None on 404, else a SourceError subclass.
    `before_request` runs before every attempt (retries count against a rate limit too)."""
    attempt = 0
    while True:
        problem: str
        wait: float | None = None
        if before_request is not None:
            before_request()
        try:
            response = session.get(url, params=params, headers=dict(headers or {}), timeout=timeout_s)
        except requests.Timeout:
            problem = f"timed out after {timeout_s:g} s"
        except requests.ConnectionError as exc:
            problem = f"connection failed ({exc.__class__.__name__})"
        else:
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status == 404:
                return None
            detail = error_detail(response)
            if status in (401, 403):
                raise AuthError(source, f"HTTP {status} {detail}. {auth_hint}".strip())
            if status in (400, 422):
                raise RequestRejected(source, f"HTTP {status} request rejected: {detail}")
            if status < 500 and status != 429:
                raise SourceError(source, f"HTTP {status} {detail}")
            problem = f"HTTP {status} {detail}"
            wait = retry_after_s(response)
            if wait is not None and wait > MAX_RETRY_AFTER_S:
                raise SourceUnavailable(source, f"{problem}; the server asks to wait {wait:.0f} s ({url})")
        if attempt >= retries:
            raise SourceUnavailable(source, f"{problem}; gave up after {attempt + 1} attempts ({url})")
        sleep(backoff_s(attempt) if wait is None else wait)
        attempt += 1
