"""Prefect plumbing the flows share: the container concurrency limit, reading flow runs back,
and the store each run opens. Nothing here evaluates or stores anything itself."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, StateType
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.states import Crashed
from prefect.task_runners import ThreadPoolTaskRunner

from arena.settings import OrchestrationSettings
from tasks.leftovers import dead_slots, forget_slot, held_slots, record_slot, take_over_slot
from tasks.store import open_store
from tasks.taskrows import RunInfo

if TYPE_CHECKING:
    from tasks.leftovers import HeldSlot

CONTAINERS = "containers"  # the global concurrency limit on team containers


class ContainerThreads(ThreadPoolTaskRunner):
    """A round's threads, one per container slot, sized from the settings each time a run
    starts (Prefect duplicates a flow's task runner per run), not when flows/ is imported."""

    def duplicate(self) -> ThreadPoolTaskRunner:
        return type(self)(max_workers=max(1, OrchestrationSettings().container_limit))


def open_run_store() -> Any:
    return open_store()


def ensure_concurrency_limit(name: str = CONTAINERS, limit: int | None = None) -> int:
    """Create the global concurrency limit `name` when missing (default: the container limit of
    the settings, the machine's core count). An existing limit is left as the organiser set it.
    Returns the limit in force."""

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


def container_slot(name: str = CONTAINERS) -> Callable[[], AbstractContextManager[None]]:
    """A factory of context managers holding one slot of `name` while a team container runs.

    The slot is a Prefect lease (OrchestrationSettings.slot_lease_s, the server's shortest) that
    a thread renews while the container runs, and it is recorded on this host with the holder's
    pid (tasks/leftovers.py). A round that finds every slot taken first gives back the slots of
    holders on this host that are dead (a SIGKILLed round), so it never waits for their leases to
    run out; when it must wait for live holders it says so, and for whom, once."""

    @contextlib.contextmanager
    def slot() -> Iterator[None]:
        # The lease renewal `prefect.concurrency.sync.concurrency` itself runs; used directly
        # because that context manager never tells its caller the lease id this host records.

        lease_s = OrchestrationSettings().slot_lease_s
        held = _take_slot(name, lease_s)
        try:
            with maintain_concurrency_lease(UUID(held.lease_id), lease_s, raise_on_lease_renewal_failure=True):
                yield
        finally:
            _give_back(held)

    return slot


def _log(message: str) -> None:
    try:
        get_run_logger().warning(message)
    except Exception:  # outside a run
        logging.getLogger("arena").warning(message)


def _take_slot(name: str, lease_s: float) -> HeldSlot:
    run_id = str(flow_run.id) if flow_run.id else None
    holder = ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None
    told = False
    with get_client(sync_client=True) as client:
        while True:
            try:
                response = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", lease_s, holder)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:  # 423 Locked: every slot is taken
                    raise
                if release_dead_slots(name, client=client):
                    continue  # a dead holder's slot is free again: take it now
                if not told:
                    limit = client.read_global_concurrency_limit_by_name(name)
                    here = [h.describe() for h in held_slots(name)]
                    by = "; ".join(here) if here else "runs on other hosts"
                    _log(f"waiting for a slot: all {limit.limit} slot(s) of the '{name}' concurrency limit are "
                         f"taken, by {by}. A holder that dies frees its slot at once on this host, within "
                         f"{lease_s:.0f} s plus the server's lease sweep elsewhere.")
                    told = True
                time.sleep(min(max(float(exc.response.headers.get("Retry-After", 1)), 0.5), 5.0))
                continue
            body = response.json()
            if not body.get("limits"):
                raise RuntimeError(f"the '{name}' concurrency limit does not exist (ensure_concurrency_limit first)")
            return record_slot(body["lease_id"], name, run_id)


def _give_back(held: HeldSlot) -> None:
    try:
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(UUID(held.lease_id))
    finally:
        forget_slot(held.lease_id)  # unreleased (server away): its lease runs out by itself


def release_dead_slots(name: str | None = None, *, client: Any = None,
                       on_orphan: Callable[[str, str], None] | None = None) -> list[HeldSlot]:
    """Give back every slot recorded on this host by a process that is gone; returns them.
    `on_orphan(flow_run_id, why)` is told of each holder's flow run (its process died with it)."""

    freed = []
    with contextlib.ExitStack() as stack:
        for held in dead_slots(name):
            if not take_over_slot(held):
                continue  # another process is giving it back
            if client is None:
                client = stack.enter_context(get_client(sync_client=True))
            client.release_concurrency_slots_with_lease(UUID(held.lease_id))
            forget_slot(held.lease_id)
            freed.append(held)
            if on_orphan is not None and held.flow_run_id:
                on_orphan(held.flow_run_id, f"the process holding its container slot (pid {held.pid}) stopped")
    return freed


def read_run_info(flow_run_id: str) -> RunInfo | None:
    """What Prefect says about one flow run; None when it does not know the id."""

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
    """End a run whose process died without telling Prefect (SIGKILL), so the UI agrees: the run,
    every run of the same process around it (the parents that called it as a subflow, their
    other subflows) and their unfinished task runs. A run started from a deployment has its own
    process: the climb stops there, and such subflows are left to their own processes."""

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run_id)))
        while run.deployment_id is None and run.parent_task_run_id is not None:
            parent = client.read_task_run(run.parent_task_run_id)
            if parent.flow_run_id is None:
                break
            run = client.read_flow_run(parent.flow_run_id)
        _crash_process_runs(client, run, why)


def _crash_process_runs(client: Any, run: Any, why: str) -> None:
    if run.state is None or not run.state.is_final():
        client.set_flow_run_state(run.id, Crashed(message=why), force=True)
    unfinished = TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
    for task_run in client.read_task_runs(task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]), state=unfinished)):
        client.set_task_run_state(task_run.id, Crashed(message=why), force=True)
    for child in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id]))):
        if child.deployment_id is None:
            _crash_process_runs(client, child, why)


def wait_for_runs(run_ids: list[UUID], *, poll_s: float = 2.0, timeout_s: float | None = None) -> dict[UUID, Any]:
    """Block until every flow run is final; returns {id: FlowRun}."""

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
