"""The one retry policy of the flows: arena's own failures are tried again, with jittered
exponential backoff; a team's failure and bad input never are (battery_sim/errors.py).

Lower layers do not retry on their own, with two exceptions that say so: a market source's HTTP
client (tasks/prices/http.py) retries and honours Retry-After, and the GitHub client waits out
rate limits (tasks/github.py); a SourceError or RateLimited reaching a flow is final for that run
(`retry = False`), so one failure is never tried 4 × 4 times.
"""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from battery_sim.errors import BadInput, PlatformFailure, PolicyError


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt: a PlatformFailure that says so, or an OS-level failure (network,
    disk) a library raised as itself. Never a team's failure or bad input."""
    if isinstance(exc, (PolicyError, BadInput)):
        return False
    if isinstance(exc, PlatformFailure):
        return exc.retry
    return isinstance(exc, OSError)


def retry_platform_failures(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: look at the exception the failed state holds."""
    try:
        state.result()
    except Exception as exc:
        return is_retryable(exc)
    return False


# 5 s, then 10 s (each ±50 %): a restarted engine, a store lock or a dropped connection is back by
# then; anything longer is the organiser's to see on the Failed run, not a minute of silent waits.
PLATFORM_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_platform_failures,
}
