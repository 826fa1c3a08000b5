"""Task-row flows: run pending rows (the 2024 TaskManager runner), timed commands, and the
reconciler that ends rows whose runs ended without a hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run as current_run

from arena.models import SubmissionRecord, TaskRow
from flows import names
from flows._prefect import mark_run_crashed, open_run_store, read_run_info, release_dead_slots
from flows.evaluation import evaluate_submission, run_tags
from flows.states import record_of
from tasks import leftovers, taskrows
from tasks.store.objects import checked_objects


def evaluate_kickoff_row(row: TaskRow) -> SubmissionRecord:
    """A kickoff row's evaluation as an `evaluate-submission` subflow over the live window."""

    with tags(*run_tags(row.team_id, row.git_commit_hash)):
        state = evaluate_submission(row.team_id, row.git_commit_hash, task_id=row.id, submitted_at=row.created_at,
                                    return_state=True)
    return record_of(state)  # a team's error (TeamError state) is its record; arena's failure raises


@flow(name="run-pending-tasks", flow_run_name=names.PENDING_TASKS, log_prints=True)
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


@dataclass
class Recovery:
    """What one pass of crash recovery changed."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    slots: list[Any] = field(default_factory=list)  # tasks.leftovers.HeldSlot
    pruned: leftovers.Pruned = field(default_factory=leftovers.Pruned)

    def lines(self) -> list[str]:
        out = [f"task {task_id} -> {state}: {diagnostic}" for task_id, state, diagnostic in self.rows]
        out += [f"gave back the '{s.limit}' slot of {s.describe()}" for s in self.slots]
        return out + self.pruned.lines()


def recover(store: Any, *, ask_prefect: bool = True, grace_s: float = 60.0,
            log: Callable[[str], None] = lambda line: None) -> Recovery:
    """Crash recovery, the one pass `arena tasks sync` and the `sync-task-rows` schedule run:
    end the task rows of dead runs (and mark their Prefect runs CRASHED), give back the
    concurrency slots of dead holders, prune their checkouts, mirror temp files and containers.
    Rows come first: a run whose slot is given back is marked crashed, and a row whose run was
    crashed a moment ago would be left to its (never coming) hook for `grace_s`."""
    done = Recovery()
    done.rows = taskrows.sync(store, read_run_info if ask_prefect else None, grace_s=grace_s,
                              on_orphan=mark_run_crashed if ask_prefect else None)
    if ask_prefect:
        done.slots = release_dead_slots(on_orphan=mark_run_crashed)
    done.pruned = leftovers.prune()
    for line in done.lines():
        log(line)
    return done


@flow(name="sync-task-rows", flow_run_name=names.SYNC, log_prints=True)
def sync_task_rows(grace_s: float = 60.0) -> list:
    """Crash recovery on a schedule (`recover`): end every `running` row whose flow run is over
    (crashed, killed, failed without a hook) and every `pending` row whose queuing run is dead,
    give back dead holders' container slots, prune their leftovers. Returns the row changes."""
    done = recover(open_run_store(), grace_s=grace_s, log=get_run_logger().info)
    return [list(c) for c in done.rows]
