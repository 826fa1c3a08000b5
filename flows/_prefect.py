"""Prefect plumbing the flows share: the container concurrency limit, reading flow runs back,
and the store each run opens. Nothing here evaluates or stores anything itself."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, ContextManager, Iterator
from uuid import UUID

from arena.settings import OrchestrationSettings
from tasks.taskrows import RunInfo

CONTAINERS = "containers"  # the global concurrency limit on team containers


def open_run_store() -> Any:
    from tasks.store import open_store

    return open_store()


def ensure_concurrency_limit(name: str = CONTAINERS, limit: int | None = None) -> int:
    """Create the global concurrency limit `name` when missing (default: the container limit of
    the settings, the machine's core count). An existing limit is left as the organiser set it.
    Returns the limit in force."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    wanted = limit if limit is not None else OrchestrationSettings().container_limit
    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name).limit
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=wanted))
        except ObjectAlreadyExists:  # another process created it between the two calls
            return client.read_global_concurrency_limit_by_name(name).limit
    return wanted


def container_slot(name: str = CONTAINERS) -> Callable[[], ContextManager[None]]:
    """A factory of context managers holding one slot of `name` while a team container runs.
    The slot is a lease: a killed process frees it when the lease runs out."""
    from prefect.concurrency.sync import concurrency

    @contextlib.contextmanager
    def slot() -> Iterator[None]:
        with concurrency(name, occupy=1, strict=True):
            yield

    return slot


def read_run_info(flow_run_id: str) -> RunInfo | None:
    """What Prefect says about one flow run; None when it does not know the id."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        run_id = UUID(str(flow_run_id))
    except ValueError:
        return None
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound:
            return None
    state = run.state
    if state is None:
        return RunInfo("PENDING")
    return RunInfo(state.type.value, state.name or "", state.message or "", run.end_time)


def mark_run_crashed(flow_run_id: str, why: str) -> None:
    """End a run whose process died without telling Prefect (SIGKILL), so the UI agrees."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(str(flow_run_id)), Crashed(message=why), force=True)


def wait_for_runs(run_ids: list[UUID], *, poll_s: float = 2.0, timeout_s: float | None = None) -> dict[UUID, Any]:
    """Block until every flow run is final; returns {id: FlowRun}."""
    from prefect.client.orchestration import get_client

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    done: dict[UUID, Any] = {}
    with get_client(sync_client=True) as client:
        while len(done) < len(run_ids):
            for run_id in run_ids:
                if run_id in done:
                    continue
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    done[run_id] = run
            if len(done) < len(run_ids):
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"{len(run_ids) - len(done)} flow run(s) still not finished")
                time.sleep(poll_s)
    return done
