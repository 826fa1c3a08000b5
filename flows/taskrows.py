"""Task-row flows: run pending rows (the 2024 TaskManager runner), timed commands, and the
reconciler that ends rows whose runs ended without a hook."""

from __future__ import annotations

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run as current_run

from arena.models import SubmissionRecord, TaskRow
from tasks import taskrows
from tasks.store.objects import checked_objects

from flows._prefect import mark_run_crashed, open_run_store, read_run_info


def evaluate_kickoff_row(row: TaskRow) -> SubmissionRecord:
    """A kickoff row's evaluation as an `evaluate-submission` subflow over the live window."""
    from flows.evaluation import evaluate_submission, run_tags

    with tags(*run_tags(row.team_id, row.git_commit_hash)):
        state = evaluate_submission(row.team_id, row.git_commit_hash, task_id=row.id, submitted_at=row.created_at,
                                    return_state=True)
    if not state.is_completed():
        raise RuntimeError(state.message or state.name)
    return state.result()


@flow(name="run-pending-tasks", log_prints=True)
def run_pending_tasks(types: list[str] | None = None, command_timeout_s: float | None = 3600) -> dict:
    """Run pending task rows one at a time in id order: `command` rows as commands (exit code in
    the diagnostic), `submission-kickoff` rows as evaluations."""
    logger = get_run_logger()
    types = types or [taskrows.COMMAND, taskrows.KICKOFF]
    if taskrows.KICKOFF in types:
        checked_objects()  # evaluations write private trials: a missing bucket fails this run at once
    summary = taskrows.run_pending(
        open_run_store(), evaluate_kickoff=evaluate_kickoff_row, flow_run_id=str(current_run.id),
        command_timeout_s=command_timeout_s, types=types, log=logger.info,
    )
    return summary.to_item()


@flow(name="timer-command", flow_run_name="timer-{command}", log_prints=True)
def timer_command(command: str) -> dict:
    """A 2024 timer firing: queue `command` as a task row, then run the pending commands."""
    row = open_run_store().create_task(command, type=taskrows.COMMAND)
    get_run_logger().info(f"timer queued task {row.id}: {command}")
    return run_pending_tasks(types=[taskrows.COMMAND])


@flow(name="sync-task-rows", log_prints=True)
def sync_task_rows(grace_s: float = 60.0) -> list:
    """End every `running` row whose flow run is over (crashed, killed, failed without a hook)
    and every `pending` row whose queuing run is dead."""
    changes = taskrows.sync(open_run_store(), read_run_info, grace_s=grace_s, on_orphan=mark_run_crashed)
    logger = get_run_logger()
    for task_id, state, diagnostic in changes:
        logger.info(f"task {task_id} -> {state}: {diagnostic}")
    return [list(c) for c in changes]
