"""The store contract. Every backend (sqlite, dynamodb) behaves exactly as documented here;
the contract test suite (tests/store/) runs against each.

Tables (names carry the prefix, e.g. `energy-tasks`): datapoints, tasks, submissions,
teams, counters, meta. `meta` holds small keyed documents: backfill checkpoints,
the seen-commit claims of the submission poller, locks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from arena.models import Datapoint, SubmissionRecord, TaskRow, Team
from battery_sim.errors import PlatformFailure

TABLES = ("datapoints", "tasks", "submissions", "teams", "counters", "meta")


class StoreError(PlatformFailure):
    """Base of every error a store raises; backends translate native errors into these."""


class NotFound(StoreError):
    retry = False


class ItemTooLarge(StoreError):
    """The item is over DynamoDB's 400 KB limit; raised before any write, on every backend."""

    retry = False


class Conflict(StoreError):
    """A conditional write lost (e.g. a state transition another process made first)."""

    retry = False


@runtime_checkable
class Store(Protocol):
    backend: str  # "sqlite" | "dynamodb"
    prefix: str  # the table prefix this store was opened with

    # -- lifecycle ---------------------------------------------------------------------
    def init(self) -> None:
        """Create every table if missing. Idempotent; safe from several processes at once."""

    def destroy(self) -> None:
        """Drop every table of this prefix. Irreversible."""

    def check(self) -> dict[str, Any]:
        """Health: {'backend', 'prefix', 'tables': {name: row_count or None when missing},
        'missing': [names]}; raises StoreError when the store cannot be reached at all."""

    def missing_tables(self) -> list[str]:
        """The tables of this prefix that do not exist (cheap: no row counts); raises StoreError
        when the store cannot be reached at all."""

    def prefixes(self) -> list[str]:
        """Every table prefix this store holds a teams table for (the hint when a configured
        prefix has no tables: a mistyped ARENA_TABLE_PREFIX)."""

    # -- counters ----------------------------------------------------------------------
    def next_id(self, name: str) -> int:
        """Atomically allocate the next integer of counter `name` (1, 2, 3...). Never returns the same
        number twice for one name, under any number of concurrent processes."""

    # -- tasks -------------------------------------------------------------------------
    def create_task(self, command: str, **fields: Any) -> TaskRow:
        """Allocate an id from counter 'tasks' and write a new row (state pending unless given)."""

    def get_task(self, task_id: int) -> TaskRow:
        """Raises NotFound."""

    def list_tasks(
        self,
        *,
        team_id: int | None = None,
        state: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[TaskRow]:
        """Rows ordered by id ascending (numerically), filtered; `since` compares created_at."""

    def update_task(self, task_id: int, *, expect_state: str | None = None, **fields: Any) -> TaskRow:
        """Set fields (and updated_at); with expect_state, only if the row is in that state
        (else Conflict). Raises NotFound. Returns the new row."""

    def delete_task(self, task_id: int) -> None:
        """Raises NotFound."""

    # -- teams -------------------------------------------------------------------------
    def put_team(self, team: Team) -> None:
        """Insert or replace by team_id."""

    def get_team(self, team_id: int) -> Team:
        """Raises NotFound."""

    def list_teams(self) -> list[Team]:
        """Ordered by team_id."""

    def delete_team(self, team_id: int) -> None:
        """Raises NotFound."""

    # -- submissions (public items) ----------------------------------------------------
    def put_submission(self, record: SubmissionRecord) -> None:
        """Insert or replace by (team_id, key). Raises ItemTooLarge before writing."""

    def get_submission(self, team_id: int, key: str) -> SubmissionRecord:
        """Raises NotFound."""

    def list_submissions(self, team_id: int | None = None) -> list[SubmissionRecord]:
        """Ordered by (team_id, evaluated_at)."""

    # -- datapoints --------------------------------------------------------------------
    def upsert_datapoints(self, rows: Iterable[Datapoint]) -> int:
        """Write rows in bulk; same (series, interval_end) replaces the row (last write wins,
        a None stays None). Returns rows written. Acknowledged rows are durable."""

    def read_datapoints(self, series: str, start: int | None = None, end: int | None = None) -> list[Datapoint]:
        """Rows with start <= interval_end <= end (either bound optional), ascending."""

    # -- meta --------------------------------------------------------------------------
    def get_meta(self, key: str) -> dict[str, Any] | None:
        ...

    def put_meta(self, key: str, value: dict[str, Any]) -> None:
        ...

    def claim(self, key: str, value: dict[str, Any]) -> bool:
        """Create meta `key` only if absent; True for exactly one caller under any concurrency."""

    def delete_meta(self, key: str) -> None:
        ...

    # -- backup ------------------------------------------------------------------------
    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row of every table as (table, plain item)."""

    def restore(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Write dumped rows back (counters included, so ids continue where they were)."""


# -- item size: one rule for every backend -------------------------------------------------
# DynamoDB refuses items over 400 KB. SQLite has no such limit, but a record that only one
# backend accepts would make them behave differently, so both call `check_item` before any
# write. The size follows DynamoDB's documented accounting: attribute names count as UTF-8
# bytes; strings as UTF-8 bytes; numbers about one byte per two significant digits plus one
# (at most 21); null and booleans one byte; lists and maps 3 bytes plus one per element.

MAX_ITEM_BYTES = 400 * 1024
_NUMBER_MAX_BYTES = 21


def _number_size(value: int | float) -> int:
    text = repr(value).lower().lstrip("-")
    mantissa = text.split("e")[0].replace(".", "").strip("0") or "0"
    size = (len(mantissa) + 1) // 2 + 1 + (1 if value < 0 else 0)
    return min(size, _NUMBER_MAX_BYTES)


def _value_size(value: Any, exact: bool) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"{value!r} is not a finite number; DynamoDB cannot store it (use None)")
        return _number_size(value) if exact else _NUMBER_MAX_BYTES
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + 1 + _value_size(v, exact) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + _value_size(v, exact) for v in value)
    raise StoreError(f"cannot store a value of type {type(value).__name__}")


def size_bound(value: Any) -> int:
    """An upper bound of the size DynamoDB would count for `value` (every number at its largest):
    cheap, where the exact count reads every number's digits."""
    return _value_size(value, exact=False)


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB would count for this plain item, in bytes."""
    return sum(len(k.encode("utf-8")) + _value_size(v, exact=True) for k, v in item.items())


def check_item(table: str, item: dict[str, Any]) -> None:
    """Raise ItemTooLarge (or StoreError for a value no backend can keep, e.g. NaN) before a write.

    A cheap upper bound (every number at its largest) settles almost every item; only items near
    the limit pay for the exact count."""
    bound = sum(len(k) * 4 + _value_size(v, exact=False) for k, v in item.items())
    if bound <= MAX_ITEM_BYTES:
        return
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"{table} item is {size} bytes, over the {MAX_ITEM_BYTES}-byte item limit; "
            "put large payloads (trials) in the object store"
        )
