"""The embedded store: one SQLite file, safe for several processes at once.

Why these settings:
- WAL journal: readers never block the one writer and the writer never blocks readers, so a
  leaderboard render does not stall an ingest.
- `busy_timeout`: a second writer waits for the lock (up to StoreSettings.sqlite_busy_timeout_s)
  instead of failing at once with "database is locked".
- `synchronous=FULL`: in WAL mode NORMAL survives a killed process but may drop the last
  commits on a power cut or kernel crash, because the WAL is only fsynced at checkpoints. The
  contract says an acknowledged write is durable, so every commit fsyncs the WAL. Bulk upserts
  are one transaction, so this costs one fsync per batch, not per row.
- Every write starts with `BEGIN IMMEDIATE`, taking the write lock before reading, so a
  read-modify-write (counters, state transitions, claims) cannot interleave with another process.
- The file is opened with an explicit SQLite URI mode: `rwc` only for `arena db init` (and
  restore), `rw` for every other writer, `ro` for read-only commands. So no command but init
  turns a missing path into a new empty store, and a reader never writes the file at all
  (not even the journal-mode header), so it never waits for a writer's lock.

Ids are INTEGER columns, so `ORDER BY id` is numeric (10 after 9, not after 1).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arena.models import DATAPOINT_FIELDS, Datapoint, SubmissionRecord, TaskRow, Team
from tasks.store import _common
from tasks.store.base import TABLES, Conflict, NotFound, StoreError, check_item

_DATAPOINT_COLUMNS = ("series", "interval_end", *DATAPOINT_FIELDS, "source", "ingested_at")


def _schema(t: dict[str, str]) -> list[str]:
    value_columns = ", ".join(f"{name} REAL" for name in DATAPOINT_FIELDS)
    return [
        f"CREATE TABLE IF NOT EXISTS {t['datapoints']} (series TEXT NOT NULL, interval_end INTEGER NOT NULL, "
        f"{value_columns}, source TEXT NOT NULL, ingested_at REAL NOT NULL, "
        "PRIMARY KEY (series, interval_end)) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {t['tasks']} (id INTEGER PRIMARY KEY, team_id INTEGER, "
        "state_ TEXT NOT NULL, created_at TEXT NOT NULL, item TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {t['tasks_by_team']} ON {t['tasks']} (team_id, id)",
        f"CREATE INDEX IF NOT EXISTS {t['tasks_by_time']} ON {t['tasks']} (created_at)",
        f"CREATE TABLE IF NOT EXISTS {t['submissions']} (team_id INTEGER NOT NULL, key TEXT NOT NULL, "
        "evaluated_at TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (team_id, key))",
        f"CREATE TABLE IF NOT EXISTS {t['teams']} (team_id INTEGER PRIMARY KEY, item TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['counters']} (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t['meta']} (key TEXT PRIMARY KEY, item TEXT NOT NULL)",
    ]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteStore:
    """Store backend on one SQLite file (see the module docstring for the durability choices).

    One connection per thread and per process: sqlite3 connections must not cross threads, and
    a connection inherited through fork must never be used by the child.
    """

    backend = "sqlite"

    def __init__(self, path: str | Path, prefix: str, busy_timeout_s: float = 30.0, *, mode: str = "rwc") -> None:
        if mode not in ("rwc", "rw", "ro"):
            raise ValueError(f"SQLite open mode {mode!r}: one of rwc, rw, ro")
        self.path = Path(path)
        self.prefix = prefix
        self.busy_timeout_s = busy_timeout_s
        self.mode = mode
        self._names = {table: f"{prefix}-{table}" for table in TABLES}
        self._t = {table: _quote(name) for table, name in self._names.items()}
        self._t["tasks_by_team"] = _quote(f"{prefix}-tasks-by-team")
        self._t["tasks_by_time"] = _quote(f"{prefix}-tasks-by-time")
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, prefix={self.prefix!r})"

    # -- connection and transactions -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            # isolation_level=None: no implicit transactions; this module says BEGIN itself.
            uri = f"{self.path.absolute().as_uri()}?mode={self.mode}"
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if self.mode != "ro":  # a reader leaves the file as the writers made it
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "no such table" in text:
                raise StoreError(f"{text} in {self.path}; run `arena db init`") from exc
            raise StoreError(f"SQLite store {self.path}: {text}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its first statement."""
        conn = self._conn()
        with self._translate():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._translate():
            return self._conn().execute(sql, tuple(params)).fetchall()

    # -- lifecycle -------------------------------------------------------------------------
    def init(self) -> None:
        with self._write() as conn:
            for statement in _schema(self._t):
                conn.execute(statement)

    def destroy(self) -> None:
        with self._write() as conn:
            for table in TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {self._t[table]}")

    def _existing(self) -> set[str]:
        rows = self._read("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}

    def missing_tables(self) -> list[str]:
        existing = self._existing()
        return [table for table in TABLES if self._names[table] not in existing]

    def prefixes(self) -> list[str]:
        """The prefixes this file holds a teams table for: the hint for a mistyped prefix."""
        return sorted(name[: -len("-teams")] for name in self._existing() if name.endswith("-teams"))

    def check(self) -> dict[str, Any]:
        existing = self._existing()
        tables: dict[str, int | None] = {}
        for table in TABLES:
            if self._names[table] in existing:
                tables[table] = self._read(f"SELECT COUNT(*) FROM {self._t[table]}")[0][0]
            else:
                tables[table] = None
        return {
            "backend": self.backend,
            "location": str(self.path),
            "prefix": self.prefix,
            "tables": tables,
            "missing": [table for table, count in tables.items() if count is None],
        }

    # -- counters --------------------------------------------------------------------------
    def _next_id(self, conn: sqlite3.Connection, name: str) -> int:
        (value,) = conn.execute(
            f"INSERT INTO {self._t['counters']} (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ).fetchone()
        return int(value)

    def next_id(self, name: str) -> int:
        with self._write() as conn:
            return self._next_id(conn, name)

    # -- tasks -----------------------------------------------------------------------------
    def _put_task(self, conn: sqlite3.Connection, row: TaskRow, *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        conn.execute(
            f"{verb} INTO {self._t['tasks']} (id, team_id, state_, created_at, item) VALUES (?, ?, ?, ?, ?)",
            (row.id, row.team_id, row.state_.value, row.created_at, json.dumps(row.to_item())),
        )

    def create_task(self, command: str, **fields: Any) -> TaskRow:
        _common.new_task(1, command, fields)  # validate and size-check before taking an id
        with self._write() as conn:
            # The id and the row commit together: a crash between them cannot burn an id
            # into a row that never appears, nor leave a row whose id is handed out again.
            task_id = self._next_id(conn, "tasks")
            # A counter behind its rows (an older backup restored over newer rows) skips the
            # taken ids rather than failing, exactly as the DynamoDB backend does.
            while conn.execute(f"SELECT 1 FROM {self._t['tasks']} WHERE id = ?", (task_id,)).fetchone():
                task_id = self._next_id(conn, "tasks")
            row = _common.new_task(task_id, command, fields)
            self._put_task(conn, row, replace=False)
        return row

    def _task(self, conn: sqlite3.Connection, task_id: int) -> TaskRow:
        found = conn.execute(f"SELECT item FROM {self._t['tasks']} WHERE id = ?", (int(task_id),)).fetchone()
        if found is None:
            raise NotFound(f"no task {task_id}")
        return TaskRow.from_item(json.loads(found[0]))

    def get_task(self, task_id: int) -> TaskRow:
        with self._translate():
            return self._task(self._conn(), task_id)

    def list_tasks(
        self,
        *,
        team_id: int | None = None,
        state: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[TaskRow]:
        where, params = [], []
        if team_id is not None:
            where.append("team_id = ?")
            params.append(int(team_id))
        if state is not None:
            where.append("state_ = ?")
            params.append(_common.state_value(state))
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        sql = f"SELECT item FROM {self._t['tasks']}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [TaskRow.from_item(json.loads(item)) for (item,) in self._read(sql, params)]

    def update_task(self, task_id: int, *, expect_state: str | None = None, **fields: Any) -> TaskRow:
        expected = _common.state_value(expect_state)
        with self._write() as conn:
            row = self._task(conn, task_id)
            if expected is not None and row.state_.value != expected:
                raise Conflict(f"task {task_id} is {row.state_.value}, not {expected}")
            new = _common.merged_task(row, fields)
            self._put_task(conn, new, replace=True)
        return new

    def delete_task(self, task_id: int) -> None:
        with self._write() as conn:
            if conn.execute(f"DELETE FROM {self._t['tasks']} WHERE id = ?", (int(task_id),)).rowcount == 0:
                raise NotFound(f"no task {task_id}")

    # -- teams -----------------------------------------------------------------------------
    def put_team(self, team: Team) -> None:
        item = team.to_item()
        check_item("teams", item)
        with self._write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO {self._t['teams']} (team_id, item) VALUES (?, ?)",
                (team.team_id, json.dumps(item)),
            )

    def get_team(self, team_id: int) -> Team:
        rows = self._read(f"SELECT item FROM {self._t['teams']} WHERE team_id = ?", (int(team_id),))
        if not rows:
            raise NotFound(f"no team {team_id}")
        return Team.from_item(json.loads(rows[0][0]))

    def list_teams(self) -> list[Team]:
        rows = self._read(f"SELECT item FROM {self._t['teams']} ORDER BY team_id")
        return [Team.from_item(json.loads(item)) for (item,) in rows]

    def delete_team(self, team_id: int) -> None:
        with self._write() as conn:
            if conn.execute(f"DELETE FROM {self._t['teams']} WHERE team_id = ?", (int(team_id),)).rowcount == 0:
                raise NotFound(f"no team {team_id}")

    # -- submissions -----------------------------------------------------------------------
    def put_submission(self, record: SubmissionRecord) -> None:
        item = record.to_item()
        check_item("submissions", item)
        with self._write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO {self._t['submissions']} (team_id, key, evaluated_at, item) "
                "VALUES (?, ?, ?, ?)",
                (record.team_id, record.key, record.evaluated_at, json.dumps(item)),
            )

    def get_submission(self, team_id: int, key: str) -> SubmissionRecord:
        rows = self._read(
            f"SELECT item FROM {self._t['submissions']} WHERE team_id = ? AND key = ?", (int(team_id), key)
        )
        if not rows:
            raise NotFound(f"no submission {key!r} of team {team_id}")
        return SubmissionRecord.from_item(json.loads(rows[0][0]))

    def list_submissions(self, team_id: int | None = None) -> list[SubmissionRecord]:
        sql, params = f"SELECT item FROM {self._t['submissions']}", []
        if team_id is not None:
            sql += " WHERE team_id = ?"
            params.append(int(team_id))
        sql += " ORDER BY team_id, evaluated_at, key"
        return [SubmissionRecord.from_item(json.loads(item)) for (item,) in self._read(sql, params)]

    # -- datapoints ------------------------------------------------------------------------
    def upsert_datapoints(self, rows: Iterable[Datapoint]) -> int:
        batch = _common.latest_per_key(rows)
        for row in batch:  # every row checked before the first write
            check_item("datapoints", row.__dict__)
        with self._write() as conn:
            self._upsert(conn, batch)
        return len(batch)

    def _upsert(self, conn: sqlite3.Connection, batch: list[Datapoint]) -> None:
        columns = ", ".join(_DATAPOINT_COLUMNS)
        marks = ", ".join("?" for _ in _DATAPOINT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _DATAPOINT_COLUMNS[2:])
        conn.executemany(
            f"INSERT INTO {self._t['datapoints']} ({columns}) VALUES ({marks}) "
            f"ON CONFLICT (series, interval_end) DO UPDATE SET {updates}",
            ([getattr(row, c) for c in _DATAPOINT_COLUMNS] for row in batch),
        )

    def read_datapoints(self, series: str, start: int | None = None, end: int | None = None) -> list[Datapoint]:
        sql = f"SELECT {', '.join(_DATAPOINT_COLUMNS)} FROM {self._t['datapoints']} WHERE series = ?"
        params: list[Any] = [series]
        if start is not None:
            sql += " AND interval_end >= ?"
            params.append(int(start))
        if end is not None:
            sql += " AND interval_end <= ?"
            params.append(int(end))
        sql += " ORDER BY interval_end"
        # Rows came through Datapoint validation on the way in; building them unvalidated on the
        # way out keeps a year of five regions quick to read.
        return [Datapoint.model_construct(**dict(zip(_DATAPOINT_COLUMNS, r, strict=True))) for r in self._read(sql, params)]

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> dict[str, Any] | None:
        rows = self._read(f"SELECT item FROM {self._t['meta']} WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def _meta_item(self, key: str, value: dict[str, Any]) -> str:
        if not isinstance(value, dict):
            raise StoreError(f"meta {key!r}: value must be a dict, not {type(value).__name__}")
        check_item("meta", {"key": key, "value": value})
        return json.dumps(value)

    def put_meta(self, key: str, value: dict[str, Any]) -> None:
        item = self._meta_item(key, value)
        with self._write() as conn:
            conn.execute(f"INSERT OR REPLACE INTO {self._t['meta']} (key, item) VALUES (?, ?)", (key, item))

    def claim(self, key: str, value: dict[str, Any]) -> bool:
        item = self._meta_item(key, value)
        with self._write() as conn:
            # The write lock is held from BEGIN IMMEDIATE, and the primary key refuses a second
            # row: exactly one process sees rowcount 1.
            cursor = conn.execute(
                f"INSERT INTO {self._t['meta']} (key, item) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, item)
            )
            return cursor.rowcount == 1

    def delete_meta(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(f"DELETE FROM {self._t['meta']} WHERE key = ?", (key,))

    # -- backup ----------------------------------------------------------------------------
    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for table in ("teams", "counters", "meta", "tasks", "submissions"):
            if table == "counters":
                for name, value in self._read(f"SELECT name, value FROM {self._t['counters']} ORDER BY name"):
                    yield table, {"name": name, "value": value}
            elif table == "meta":
                for key, item in self._read(f"SELECT key, item FROM {self._t['meta']} ORDER BY key"):
                    yield table, {"key": key, "value": json.loads(item)}
            else:
                for (item,) in self._read(f"SELECT item FROM {self._t[table]}"):
                    yield table, json.loads(item)
        columns = ", ".join(_DATAPOINT_COLUMNS)
        for row in self._read(f"SELECT {columns} FROM {self._t['datapoints']} ORDER BY series, interval_end"):
            yield "datapoints", dict(zip(_DATAPOINT_COLUMNS, row, strict=True))

    def restore(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        parsed = [(table, _common.parse_dumped(table, item)) for table, item in rows]
        for table, record in parsed:  # all refused or all written
            check_item(table, record.to_item() if hasattr(record, "to_item") else record)
        datapoints = _common.latest_per_key(record for table, record in parsed if table == "datapoints")
        with self._write() as conn:
            self._upsert(conn, datapoints)
            for table, record in parsed:
                if table == "tasks":
                    self._put_task(conn, record, replace=True)
                elif table == "teams":
                    conn.execute(
                        f"INSERT OR REPLACE INTO {self._t['teams']} (team_id, item) VALUES (?, ?)",
                        (record.team_id, json.dumps(record.to_item())),
                    )
                elif table == "submissions":
                    conn.execute(
                        f"INSERT OR REPLACE INTO {self._t['submissions']} (team_id, key, evaluated_at, item) "
                        "VALUES (?, ?, ?, ?)",
                        (record.team_id, record.key, record.evaluated_at, json.dumps(record.to_item())),
                    )
                elif table == "counters":
                    conn.execute(
                        f"INSERT OR REPLACE INTO {self._t['counters']} (name, value) VALUES (?, ?)",
                        (record["name"], record["value"]),
                    )
                elif table == "meta":
                    conn.execute(
                        f"INSERT OR REPLACE INTO {self._t['meta']} (key, item) VALUES (?, ?)",
                        (record["key"], json.dumps(record["value"])),
                    )
        return len(parsed)
