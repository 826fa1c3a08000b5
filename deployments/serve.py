"""Serve every deployment from one process (one machine, no work pool): `arena up` or
`python -m deployments.serve`.

    serve_all()          # blocks; schedules stay active when the process stops

A local Prefect server is started first by `arena up` when PREFECT_API_URL is not set
(deployments/server.py)."""

from __future__ import annotations

from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType

from deployments.definitions import DEPLOYMENTS, DeploymentSpec, prefect_schedule
from deployments.timers import DEPLOYMENT as TIMER
from deployments.timers import timer_schedules
from flows._prefect import ensure_concurrency_limit


def runner_deployment(spec: DeploymentSpec, extra_schedules: list[Any] | None = None) -> Any:
    """The served form of one spec (module entrypoint, so it runs from any working folder)."""

    limit: Any = None
    if spec.concurrency_limit is not None:
        limit = ConcurrencyLimitConfig(
            limit=spec.concurrency_limit,
            collision_strategy=ConcurrencyLimitStrategy(spec.collision_strategy or "ENQUEUE"))
    schedules = [prefect_schedule(entry) for entry in spec.schedules] + list(extra_schedules or [])
    return spec.load_flow().to_deployment(
        name=spec.name, description=spec.description, schedules=schedules, parameters=dict(spec.parameters),
        concurrency_limit=limit, tags=list(spec.tags), entrypoint_type=EntrypointType.MODULE_PATH,
    )


def build_all(store: Any = None) -> list[Any]:
    """Every deployment of definitions.py; timer-command carries one schedule per stored timer."""

    deployments = []
    for spec in DEPLOYMENTS:
        extra = timer_schedules(store) if spec.name == TIMER and store is not None else None
        deployments.append(runner_deployment(spec, extra))
    return deployments


def serve_all(store: Any = None, *, limit: int | None = None) -> None:
    """Serve every deployment until interrupted. `pause_on_shutdown=False`: stopping the process
    must not leave the schedules paused for the next start."""

    ensure_concurrency_limit()
    serve(*build_all(store), pause_on_shutdown=False, limit=limit)


if __name__ == "__main__":
    from tasks.store import StoreError, open_store

    try:
        store = open_store()
    except StoreError as exc:  # one line for the organiser, not a traceback
        raise SystemExit(f"error: cannot open the store: {exc}") from None
    serve_all(store)
