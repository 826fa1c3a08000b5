"""The DynamoDB store. Every line of DynamoDB code in arena lives in this module."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from arena.models import Datapoint, SubmissionRecord, TaskRow, Team
from tasks.store import _common
from tasks.store.base import TABLES, Conflict, ItemTooLarge, NotFound, StoreError, check_item

TEAM_INDEX = "team_id-index"
TIME_INDEX = "created_at-index"
BATCH_SIZE = 25  # BatchWriteItem's most items per request
MAX_BATCH_ATTEMPTS = 10
MAX_ID_SKIPS = 100  # create_task's most tries past ids that already have a row

# (attribute, type) of the hash key, then the range key if any.
_KEYS: dict[str, list[tuple[str, str]]] = {
    "datapoints": [("series", "S"), ("interval_end", "N")],
    "tasks": [("task", "S"), ("id", "N")],
    "submissions": [("team_id", "N"), ("key", "S")],
    "teams": [("team_id", "N")],
    "counters": [("name", "S")],
    "meta": [("key", "S")],
}


# -- the one place numbers cross between Python and DynamoDB ---------------------------------------
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_decimal(value: Any) -> Any:
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float, so the round trip is exact.
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_decimal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_decimal(v) for v in value]
    return value


def _from_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        # DynamoDB keeps one number type; integral values come back as int (5.0 reads as 5,
        # which compares equal and which the records turn back into float where they declare it).
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_decimal(v) for v in value]
    return value


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """Plain item -> DynamoDB wire item. Top-level None attributes are left out: an absent
    attribute reads back as the record's None default, and a NULL may not sit in a GSI key."""
    return {k: _serializer.serialize(_to_decimal(v)) for k, v in item.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB wire item -> plain item (no Decimals)."""
    return {k: _from_decimal(_deserializer.deserialize(v)) for k, v in item.items()}


class DynamoStore:
    """Store backend on DynamoDB (boto3 low-level client).

    Tables `{prefix}-{table}`, on-demand billing (PAY_PER_REQUEST), created by `init()`:
    datapoints (series, interval_end:N); tasks (task, id:N) with GSIs `team_id-index`
    (team_id:N, id:N) and `created_at-index` (task, created_at); submissions (team_id:N, key);
    teams (team_id:N); counters (name); meta (key).

    Limits: an item may be at most 400 KB (DynamoDB's hard limit, counting attribute names);
    larger items are refused with ItemTooLarge before any request. Queries through the GSIs
    (list_tasks by team or `since`) are eventually consistent; reads by key are strongly
    consistent. A batch of datapoints is written 25 items per request, so a writer killed
    mid-call may leave part of that call written (each item whole); acknowledged calls are
    complete.

    IAM actions needed on `arn:aws:dynamodb:*:*:table/{prefix}-*` (and `/index/*`):
    dynamodb:DescribeTable, CreateTable, DeleteTable (init/destroy only), GetItem, PutItem,
    UpdateItem, DeleteItem, BatchWriteItem, Query, Scan; ListTables on `*` is optional (only for
    naming the prefixes that do exist when the configured one has no tables).

    The endpoint follows the standard AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL), so
    DynamoDB Local and moto work; region and credentials come from the usual AWS chain.
    """

    backend = "dynamodb"

    def __init__(self, prefix: str, client: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.prefix = prefix
        self._names = {table: f"{prefix}-{table}" for table in TABLES}
        self._client = client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"DynamoStore(prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._translate():
                # Standard retry mode backs off on throttling (AWS_MAX_ATTEMPTS tunes it); the
                # endpoint comes from the environment (botocore reads AWS_ENDPOINT_URL_DYNAMODB).
                self._client = boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
        return self._client

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code == "ResourceNotFoundException":
                raise StoreError(f"DynamoDB table missing ({message}); run `arena db init`") from exc
            if code == "ValidationException" and "size" in message.lower():
                raise ItemTooLarge(f"DynamoDB refused the item: {message}") from exc
            raise StoreError(f"DynamoDB {code}: {message}") from exc
        except BotoCoreError as exc:  # no endpoint, no credentials, no region...
            raise StoreError(f"DynamoDB unreachable: {exc}") from exc

    @staticmethod
    def _code(exc: ClientError) -> str:
        return exc.response.get("Error", {}).get("Code", "")

    # -- lifecycle -------------------------------------------------------------------------
    def _definition(self, table: str) -> dict[str, Any]:
        keys = _KEYS[table]
        attributes = dict(keys)
        definition: dict[str, Any] = {
            "TableName": self._names[table],
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": name, "KeyType": kind} for (name, _), kind in zip(keys, ("HASH", "RANGE"), strict=False)
            ],
        }
        if table == "tasks":
            attributes.update({"team_id": "N", "created_at": "S"})
            definition["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": TEAM_INDEX,
                    "KeySchema": [
                        {"AttributeName": "team_id", "KeyType": "HASH"},
                        {"AttributeName": "id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": TIME_INDEX,
                    "KeySchema": [
                        {"AttributeName": "task", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
            ]
        definition["AttributeDefinitions"] = [
            {"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()
        ]
        return definition

    def _exists(self, table: str) -> bool:
        try:
            self.client.describe_table(TableName=self._names[table])
            return True
        except ClientError as exc:
            if self._code(exc) == "ResourceNotFoundException":
                return False
            raise

    def init(self) -> None:
        with self._translate():
            for table in TABLES:
                if self._exists(table):
                    continue
                try:
                    self.client.create_table(**self._definition(table))
                except ClientError as exc:
                    # Another process created it between our describe and create: fine.
                    if self._code(exc) != "ResourceInUseException":
                        raise
            waiter = self.client.get_waiter("table_exists")
            for table in TABLES:
                waiter.wait(TableName=self._names[table], WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    def destroy(self) -> None:
        with self._translate():
            for table in TABLES:
                try:
                    self.client.delete_table(TableName=self._names[table])
                except ClientError as exc:
                    if self._code(exc) != "ResourceNotFoundException":
                        raise
            waiter = self.client.get_waiter("table_not_exists")
            for table in TABLES:
                waiter.wait(TableName=self._names[table], WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    def missing_tables(self) -> list[str]:
        with self._translate():
            return [table for table in TABLES if not self._exists(table)]

    def prefixes(self) -> list[str]:
        """The prefixes this account and region hold a teams table for: the hint for a mistyped prefix."""
        with self._translate():
            pages = self.client.get_paginator("list_tables").paginate()
            names = [name for page in pages for name in page.get("TableNames", [])]
        return sorted(name[: -len("-teams")] for name in names if name.endswith("-teams"))

    def check(self) -> dict[str, Any]:
        tables: dict[str, int | None] = {}
        with self._translate():
            for table in TABLES:
                if not self._exists(table):
                    tables[table] = None
                    continue
                # An exact count (a COUNT scan), not DescribeTable's six-hourly estimate.
                count = 0
                for page in self.client.get_paginator("scan").paginate(TableName=self._names[table], Select="COUNT"):
                    count += page["Count"]
                tables[table] = count
        return {
            "backend": self.backend,
            "location": self.client.meta.endpoint_url,
            "prefix": self.prefix,
            "tables": tables,
            "missing": [table for table, count in tables.items() if count is None],
        }

    # -- generic item access -------------------------------------------------------------------
    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        with self._translate():
            found = self.client.get_item(TableName=self._names[table], Key=to_dynamo(key), ConsistentRead=True)
        return from_dynamo(found["Item"]) if "Item" in found else None

    def _put(self, table: str, item: dict[str, Any], **conditions: Any) -> bool:
        """PutItem; False when a given ConditionExpression did not hold."""
        check_item(table, item)
        with self._translate():
            try:
                self.client.put_item(TableName=self._names[table], Item=to_dynamo(item), **conditions)
            except ClientError as exc:
                if self._code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _delete(self, table: str, key: dict[str, Any]) -> bool:
        """DeleteItem only if present; False when there was nothing to delete."""
        name = next(iter(key))
        with self._translate():
            try:
                self.client.delete_item(
                    TableName=self._names[table],
                    Key=to_dynamo(key),
                    ConditionExpression="attribute_exists(#k)",
                    ExpressionAttributeNames={"#k": name},
                )
            except ClientError as exc:
                if self._code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        with self._translate():
            for page in self.client.get_paginator(operation).paginate(**kwargs):
                for item in page.get("Items", []):
                    yield from_dynamo(item)

    def _scan(self, table: str) -> Iterator[dict[str, Any]]:
        return self._pages("scan", TableName=self._names[table], ConsistentRead=True)

    def _batch_put(self, table: str, items: list[dict[str, Any]]) -> None:
        """BatchWriteItem 25 at a time; whatever DynamoDB leaves unprocessed (throttling) is
        sent again with exponential backoff, so a call returns only when all of it is written."""
        name = self._names[table]
        for start in range(0, len(items), BATCH_SIZE):
            pending = [{"PutRequest": {"Item": to_dynamo(item)}} for item in items[start : start + BATCH_SIZE]]
            for attempt in range(MAX_BATCH_ATTEMPTS):
                with self._translate():
                    answer = self.client.batch_write_item(RequestItems={name: pending})
                pending = answer.get("UnprocessedItems", {}).get(name, [])
                if not pending:
                    break
                self._sleep(min(0.05 * 2**attempt, 5.0))
            else:
                raise StoreError(f"DynamoDB left {len(pending)} {table} items unprocessed after {MAX_BATCH_ATTEMPTS} tries")

    # -- counters --------------------------------------------------------------------------
    def next_id(self, name: str) -> int:
        with self._translate():
            # ADD is applied atomically on the server: concurrent callers each get their own value.
            answer = self.client.update_item(
                TableName=self._names["counters"],
                Key=to_dynamo({"name": name}),
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        return int(answer["Attributes"]["value"]["N"])

    # -- tasks -----------------------------------------------------------------------------
    def create_task(self, command: str, **fields: Any) -> TaskRow:
        _common.new_task(1, command, fields)  # validate and size-check before taking an id
        for _ in range(MAX_ID_SKIPS):
            row = _common.new_task(self.next_id("tasks"), command, fields)
            # Race prevented: a counter that is behind its rows (restored from an older backup,
            # reset by hand, or an emulator without DynamoDB's atomic ADD) would hand out an id a
            # row already has; the condition refuses to overwrite that row, and we take the next id.
            if self._put("tasks", row.to_item(), ConditionExpression="attribute_not_exists(id)"):
                return row
        raise Conflict(f"{MAX_ID_SKIPS} task ids in a row were taken; the tasks counter is far behind (restore?)")

    def get_task(self, task_id: int) -> TaskRow:
        item = self._get("tasks", {"task": "task", "id": int(task_id)})
        if item is None:
            raise NotFound(f"no task {task_id}")
        return TaskRow.from_item(item)

    def list_tasks(
        self,
        *,
        team_id: int | None = None,
        state: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[TaskRow]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        if state is not None:
            names["#s"] = "state_"
            values[":s"] = _common.state_value(state)
            filters.append("#s = :s")
        query: dict[str, Any] = {"TableName": self._names["tasks"]}
        in_id_order = True
        if team_id is not None:
            query.update(IndexName=TEAM_INDEX, KeyConditionExpression="team_id = :t")
            values[":t"] = int(team_id)
            if since is not None:
                names["#c"] = "created_at"
                values[":c"] = since
                filters.append("#c >= :c")
        elif since is not None:
            query.update(IndexName=TIME_INDEX, KeyConditionExpression="#task = :task AND #c >= :c")
            names.update({"#task": "task", "#c": "created_at"})
            values.update({":task": "task", ":c": since})
            in_id_order = False
        else:
            query.update(KeyConditionExpression="#task = :task", ConsistentRead=True)
            names["#task"] = "task"
            values[":task"] = "task"
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        if names:
            query["ExpressionAttributeNames"] = names
        query["ExpressionAttributeValues"] = to_dynamo(values)
        rows: list[TaskRow] = []
        for item in self._pages("query", **query):
            rows.append(TaskRow.from_item(item))
            if in_id_order and limit is not None and len(rows) >= limit:
                break
        if not in_id_order:
            rows.sort(key=lambda row: row.id)
        return rows if limit is None else rows[: int(limit)]

    def update_task(self, task_id: int, *, expect_state: str | None = None, **fields: Any) -> TaskRow:
        expected = _common.state_value(expect_state)
        row = self.get_task(task_id)
        if expected is not None and row.state_.value != expected:
            raise Conflict(f"task {task_id} is {row.state_.value}, not {expected}")
        new = _common.merged_task(row, fields)
        item = new.to_item()
        changed = sorted(set(fields) | {"updated_at"})
        names = {f"#f{n}": field for n, field in enumerate(changed)}
        sets = [f"#f{n} = :v{n}" for n, field in enumerate(changed) if item[field] is not None]
        removes = [f"#f{n}" for n, field in enumerate(changed) if item[field] is None]
        values = {f":v{n}": item[field] for n, field in enumerate(changed) if item[field] is not None}
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        # Races prevented: attribute_exists stops an update from resurrecting a row deleted since
        # we read it (UpdateItem would otherwise create it); with expect_state, the state test
        # runs on the server at write time, so of two workers moving pending -> running only
        # one wins even though both read "pending" above.
        condition = "attribute_exists(id)"
        if expected is not None:
            names["#state"] = "state_"
            values[":expected"] = expected
            condition += " AND #state = :expected"
        with self._translate():
            try:
                self.client.update_item(
                    TableName=self._names["tasks"],
                    Key=to_dynamo({"task": "task", "id": int(task_id)}),
                    UpdateExpression=expression.strip(),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_dynamo(values),
                )
            except ClientError as exc:
                if self._code(exc) != "ConditionalCheckFailedException":
                    raise
                current = self.get_task(task_id)  # raises NotFound if it was deleted
                raise Conflict(f"task {task_id} changed to {current.state_.value} meanwhile, not {expected}") from exc
        return new

    def delete_task(self, task_id: int) -> None:
        if not self._delete("tasks", {"task": "task", "id": int(task_id)}):
            raise NotFound(f"no task {task_id}")

    # -- teams -----------------------------------------------------------------------------
    def put_team(self, team: Team) -> None:
        self._put("teams", team.to_item())

    def get_team(self, team_id: int) -> Team:
        item = self._get("teams", {"team_id": int(team_id)})
        if item is None:
            raise NotFound(f"no team {team_id}")
        return Team.from_item(item)

    def list_teams(self) -> list[Team]:
        return sorted((Team.from_item(item) for item in self._scan("teams")), key=lambda t: t.team_id)

    def delete_team(self, team_id: int) -> None:
        if not self._delete("teams", {"team_id": int(team_id)}):
            raise NotFound(f"no team {team_id}")

    # -- submissions -----------------------------------------------------------------------
    def put_submission(self, record: SubmissionRecord) -> None:
        self._put("submissions", record.to_item())

    def get_submission(self, team_id: int, key: str) -> SubmissionRecord:
        item = self._get("submissions", {"team_id": int(team_id), "key": key})
        if item is None:
            raise NotFound(f"no submission {key!r} of team {team_id}")
        return SubmissionRecord.from_item(item)

    def list_submissions(self, team_id: int | None = None) -> list[SubmissionRecord]:
        if team_id is None:
            items = self._scan("submissions")
        else:
            items = self._pages(
                "query",
                TableName=self._names["submissions"],
                KeyConditionExpression="team_id = :t",
                ExpressionAttributeValues=to_dynamo({":t": int(team_id)}),
                ConsistentRead=True,
            )
        records = [SubmissionRecord.from_item(item) for item in items]
        return sorted(records, key=lambda r: (r.team_id, r.evaluated_at, r.key))

    # -- datapoints ------------------------------------------------------------------------
    def upsert_datapoints(self, rows: Iterable[Datapoint]) -> int:
        batch = _common.latest_per_key(rows)
        items = [row.to_item() for row in batch]
        for item in items:  # every row checked before the first write
            check_item("datapoints", item)
        self._batch_put("datapoints", items)
        return len(items)

    def read_datapoints(self, series: str, start: int | None = None, end: int | None = None) -> list[Datapoint]:
        values: dict[str, Any] = {":s": series}
        condition = "series = :s"
        if start is not None and end is not None:
            condition += " AND interval_end BETWEEN :a AND :b"
            values.update({":a": int(start), ":b": int(end)})
            if start > end:
                return []
        elif start is not None:
            condition += " AND interval_end >= :a"
            values[":a"] = int(start)
        elif end is not None:
            condition += " AND interval_end <= :b"
            values[":b"] = int(end)
        items = self._pages(
            "query",
            TableName=self._names["datapoints"],
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_dynamo(values),
            ConsistentRead=True,
        )
        return [Datapoint.from_item(item) for item in items]

    # -- meta ------------------------------------------------------------------------------
    def _meta_item(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise StoreError(f"meta {key!r}: value must be a dict, not {type(value).__name__}")
        return {"key": key, "value": value}

    def get_meta(self, key: str) -> dict[str, Any] | None:
        item = self._get("meta", {"key": key})
        return None if item is None else item["value"]

    def put_meta(self, key: str, value: dict[str, Any]) -> None:
        self._put("meta", self._meta_item(key, value))

    def claim(self, key: str, value: dict[str, Any]) -> bool:
        # Race prevented: two pollers seeing the same new commit both try to claim it; the
        # condition is checked and the item written in one server-side step, so one wins.
        return self._put(
            "meta",
            self._meta_item(key, value),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "key"},
        )

    def delete_meta(self, key: str) -> None:
        with self._translate():
            self.client.delete_item(TableName=self._names["meta"], Key=to_dynamo({"key": key}))

    # -- backup ----------------------------------------------------------------------------
    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for table in ("teams", "counters", "meta", "tasks", "submissions", "datapoints"):
            for item in self._scan(table):
                if table in _common.RECORDS:
                    # Through the record, so absent attributes dump as None exactly as on SQLite.
                    item = _common.RECORDS[table].from_item(item).to_item()
                yield table, item

    def restore(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        parsed = [(table, _common.parse_dumped(table, item)) for table, item in rows]
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, record in parsed:
            item = record.to_item() if hasattr(record, "to_item") else record
            check_item(table, item)  # all refused before anything is written
            by_table.setdefault(table, []).append(item)
        if "datapoints" in by_table:
            by_table["datapoints"] = [
                p.to_item() for p in _common.latest_per_key(Datapoint.from_item(i) for i in by_table["datapoints"])
            ]
        for table, items in by_table.items():
            unique = {tuple(item[k] for k, _ in _KEYS.get(table, [])): item for item in items}
            self._batch_put(table, list(unique.values()))
        return len(parsed)
