"""The store contract. Every backend (sqlite, dynamodb) behaves exactly as documented here;
the contract test suite (tests/store/) runs against each.

Tables (names carry the prefix, e.g. `energy-tasks`): datapoints, tasks, submissions,
teams, counters, meta. `meta` holds small keyed documents: backfill checkpoints,
the seen-commit claims of the submission poller, locks.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Protocol, runtime_checkable

from arena.models import Datapoint, SubmissionRecord, TaskRow, Team

TABLES = ("datapoints", "tasks", "submissions", "teams", "counters", "meta")


class StoreError(Exception):
    """Base of every error a store raises; backends translate native errors into these."""


class NotFound(StoreError):
    pass


class ItemTooLarge(StoreError):
    """The item is over DynamoDB's 400 KB limit; raised before any write, on every backend."""


class Conflict(StoreError):
    """A conditional write lost (e.g. a state transition another process made first)."""


@runtime_checkable
class Store(Protocol):
    # -- lifecycle ---------------------------------------------------------------------
    def init(self) -> None:
        """Create every table if missing. Idempotent; safe from several processes at once."""

    def destroy(self) -> None:
        """Drop every table of this prefix. Irreversible."""

    def check(self) -> dict[str, Any]:
        """Health: {'backend', 'prefix', 'tables': {name: row_count}}; raises StoreError when unreachable."""

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
