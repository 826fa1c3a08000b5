"""State hooks that keep a flow run's task row in step (the row id is the run's `task_id`
parameter), and the one that republishes the site after each evaluation. Hooks run in the flow's
process and can be missed when it is killed; the `sync-task-rows` flow reconciles the rows they
miss, the next evaluation or round the site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.logging.loggers import flow_run_logger

from arena.models import SubmissionRecord
from arena.settings import load_settings
from flows._prefect import open_run_store
from flows.states import team_record
from tasks import publish, taskrows


def _task_id(flow_run: Any) -> int | None:
    value = (flow_run.parameters or {}).get("task_id")
    return int(value) if value not in (None, "") else None


def _hook(update: Callable[[Any, int, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    def hook(flow: Any, flow_run: Any, state: Any) -> None:
        task_id = _task_id(flow_run)
        if task_id is None:
            return
        try:
            update(open_run_store(), task_id, flow_run, state)
        except Exception as exc:  # a hook must not turn a finished run into a failed one
            flow_run_logger(flow_run, flow).warning(f"task row {task_id} not updated ({exc}); sync-task-rows will")

    hook.__name__ = update.__name__
    return hook


@_hook
def row_running(store: Any, task_id: int, flow_run: Any, state: Any) -> None:
    taskrows.mark_running(store, task_id, flow_run_id=str(flow_run.id),
                          diagnostic=f"running: flow run {flow_run.name} ({taskrows.owner_note()})")


@_hook
def row_completed(store: Any, task_id: int, flow_run: Any, state: Any) -> None:
    result = state.result(raise_on_failure=False)
    if isinstance(result, SubmissionRecord):
        taskrows.mark_evaluated(store, task_id, result)
    else:
        taskrows.mark_success(store, task_id, f"flow run {flow_run.name} completed")


@_hook
def row_failed(store: Any, task_id: int, flow_run: Any, state: Any) -> None:
    record = team_record(state)
    if record is not None:  # the team's code failed: a result like any other, not arena's failure
        taskrows.mark_evaluated(store, task_id, record)
        return
    taskrows.mark_error(store, task_id, taskrows.platform_diagnostic(state.message or state.name))


@_hook
def row_crashed(store: Any, task_id: int, flow_run: Any, state: Any) -> None:
    taskrows.mark_error(store, task_id, taskrows.platform_diagnostic(f"the run crashed ({state.message or state.name})"))


@_hook
def row_cancelled(store: Any, task_id: int, flow_run: Any, state: Any) -> None:
    taskrows.mark_error(store, task_id, f"cancelled by the organisers ({state.message or state.name})")


ROW_HOOKS = dict(
    on_running=[row_running],
    on_completion=[row_completed],
    on_failure=[row_failed],
    on_crashed=[row_crashed],
    on_cancellation=[row_cancelled],
)


def republish(flow: Any, flow_run: Any, state: Any) -> None:
    """The leaderboard and every team page (so this team's), republished after an evaluation, so
    a team sees its result within a minute rather than at the next round. Coalesced: evaluations
    finishing together publish once or twice, not once each (tasks/coalesce.py). A failed publish
    is the organiser's to see on this run; the evaluation stays as it ended."""

    logger = flow_run_logger(flow_run, flow)
    try:
        publish.republish(open_run_store, load_settings(), warn=logger.warning)
    except Exception as exc:
        logger.error(f"the leaderboard was not republished after this evaluation ({type(exc).__name__}: {exc}); "
                     "the next evaluation or round publishes it")


# After the row hooks: the team page shows the row as it ended. On failure too: a team's own error
# is a result the team must see (and a publish after arena's own failure costs one coalesced render).
EVALUATION_HOOKS = dict(ROW_HOOKS, on_completion=[*ROW_HOOKS["on_completion"], republish],
                        on_failure=[*ROW_HOOKS["on_failure"], republish])
