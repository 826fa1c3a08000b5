"""The final state of an `evaluate-submission` run says whose failure it was, at a glance.

  * the team's code failed (its record has status "error"): a Failed state named `TeamError`,
    red in the UI like any failure but told apart by its name, its message naming team,
    commit, interval and the error. It is a recorded result, not arena's failure: the record is
    stored, the claim finished, the task row says the team's error, nothing is retried (the
    flow has no retries; its task's retries only ever see a returned record);
  * arena failed: the run raised, so Prefect's own Failed / Crashed, as before.
The record travels in the state's data (a `TeamError` exception carrying it), so every caller
reads it back with `record_of` / `team_record` whichever way the run ended."""

from __future__ import annotations

from typing import Any

from prefect.states import Failed

from arena.models import SubmissionRecord
from arena.text import CONTROL, one_line
from tasks.evaluation import INTERVAL_S
from tasks.taskrows import TEAM_ERROR_STATE

TEAM_ERROR = TEAM_ERROR_STATE  # the state's name; the reconciler (tasks/taskrows.py) knows it too
ERROR_SHOWN = 300  # characters of the team's error in the state message


class TeamError(Exception):
    """The team's code failed: its record, as the data of the run's TeamError state (raised by a
    direct call of the flow, as a failed run's exception is)."""

    def __init__(self, record: SubmissionRecord):
        super().__init__(team_error_message(record))
        self.record = record

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with the record when results are persisted
        return (TeamError, (self.record,))


def _team_text(value: Any, limit: int) -> str:
    # One line, bounded, no control character: a team's error is hostile text.
    return CONTROL.sub("\ufffd", one_line(value, limit))


def team_error_message(record: SubmissionRecord) -> str:
    """`team 103 (broken-bot), commit 1a2b3c4, interval 199 of 0-287: interval 199 (...): act() raised
    KeyError: ...`: intervals numbered from 0, as the evaluator's errors and the team's page number
    them (the failing one is the first not traded)."""
    if record.steps <= 0 and not record.main_trial.get("timestamps"):
        where = "at or before its first interval (build, start-up, history or interval 0)"
    else:
        intervals = (record.window_end - record.window_start) // INTERVAL_S + 1
        where = f"interval {record.steps} of 0-{intervals - 1}"
    error = _team_text(record.error or "failed without an error message", ERROR_SHOWN)
    return (f"team {record.team_id} ({_team_text(record.team_name, 80)}), commit {record.git_commit_hash[:7]}, "
            f"{where}: {error}")


def final_state(record: SubmissionRecord) -> Any:
    """What the flow returns: the record (Completed), or for a team's error a TeamError state."""
    if record.status == "success":
        return record

    error = TeamError(record)
    return Failed(name=TEAM_ERROR, message=str(error), data=error)


def is_team_error(state: Any) -> bool:
    return state is not None and state.is_failed() and state.name == TEAM_ERROR


def team_record(state: Any) -> SubmissionRecord | None:
    """The record of a run that ended in a TeamError state (None for any other state)."""
    if not is_team_error(state):
        return None
    found = state.result(raise_on_failure=False)
    return found.record if isinstance(found, TeamError) else None


def record_of(state: Any) -> SubmissionRecord:
    """The record of a finished evaluate-submission run: Completed or TeamError. Any other ending
    was arena's failure and raises, as the run did."""
    record = team_record(state)
    if record is not None:
        return record
    if not state.is_completed():
        raise RuntimeError(state.message or state.name)
    return state.result()
