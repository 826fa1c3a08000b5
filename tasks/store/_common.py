"""Record handling both backends share, so they cannot drift apart: building and merging task
rows, de-duplicating a datapoint batch, and the plain-item form of each table for dump/restore."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arena.models import Datapoint, SubmissionRecord, TaskRow, TaskState, Team, utc_now_iso
from tasks.store.base import StoreError, check_item

# Fields a caller may never set through create/update: the key is the store's business.
_TASK_KEY_FIELDS = {"task", "id"}
TASK_FIELDS = set(TaskRow.model_fields) - _TASK_KEY_FIELDS


def _check_task_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - TASK_FIELDS
    if unknown:
        raise StoreError(f"unknown or read-only task field(s): {', '.join(sorted(unknown))}")


def new_task(task_id: int, command: str, fields: dict[str, Any]) -> TaskRow:
    _check_task_fields(fields)
    try:
        row = TaskRow(id=task_id, command=command, **fields)
    except ValueError as exc:
        raise StoreError(f"invalid task row: {exc}") from exc
    check_item("tasks", row.to_item())
    return row


def merged_task(row: TaskRow, fields: dict[str, Any]) -> TaskRow:
    """The row after an update, validated and size-checked; Conflict is the caller's to raise."""
    _check_task_fields(fields)
    item = row.to_item()
    item.update(fields)
    if "updated_at" not in fields:
        item["updated_at"] = utc_now_iso()
    try:
        new = TaskRow.from_item(item)
    except ValueError as exc:
        raise StoreError(f"invalid task update: {exc}") from exc
    check_item("tasks", new.to_item())
    return new


def state_value(state: str | TaskState | None) -> str | None:
    if state is None:
        return None
    try:
        return TaskState(state).value
    except ValueError as exc:
        raise StoreError(f"unknown task state {state!r}; one of {[s.value for s in TaskState]}") from exc


def latest_per_key(rows: Iterable[Datapoint]) -> list[Datapoint]:
    """One row per (series, interval_end), the last one given winning, in first-seen order.

    A batch that names the same interval twice must end as if written one after the other;
    DynamoDB even refuses such a batch outright, so both backends de-duplicate first."""
    latest: dict[tuple[str, int], Datapoint] = {}
    for row in rows:
        if not isinstance(row, Datapoint):
            raise StoreError(f"upsert_datapoints takes Datapoint records, not {type(row).__name__}")
        latest[(row.series, row.interval_end)] = row
    return list(latest.values())


# The plain item of each table as dump() yields it and restore() takes it; identical on both
# backends, so a dump from one restores into the other.
RECORDS: dict[str, Any] = {
    "tasks": TaskRow,
    "teams": Team,
    "submissions": SubmissionRecord,
    "datapoints": Datapoint,
}


def parse_dumped(table: str, item: dict[str, Any]) -> Any:
    """Validate one dumped row: a record for the record tables, the checked dict otherwise."""
    try:
        if table in RECORDS:
            return RECORDS[table].from_item(item)
        if table == "counters":
            if set(item) != {"name", "value"} or not isinstance(item["value"], int):
                raise ValueError("a counter is {'name': str, 'value': int}")
            return item
        if table == "meta":
            if set(item) != {"key", "value"} or not isinstance(item["value"], dict):
                raise ValueError("a meta row is {'key': str, 'value': dict}")
            return item
    except ValueError as exc:
        raise StoreError(f"bad {table} row in backup: {exc}") from exc
    raise StoreError(f"unknown table {table!r} in backup")
