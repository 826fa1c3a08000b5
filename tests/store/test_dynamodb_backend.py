"""What only the DynamoDB backend has: the endpoint override, retried UnprocessedItems, the one
Decimal conversion, table layout, and error translation. (Behaviour shared with SQLite is in the
contract suite.)"""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from arena.models import Datapoint
from arena.settings import StoreSettings
from tasks.store import StoreError, open_store
from tasks.store.dynamodb import DynamoStore, from_dynamo, to_dynamo
from tests.store.conftest import AWS_ENV


@pytest.fixture
def aws(monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_endpoint_comes_from_the_standard_variable(moto_endpoint, monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
    store = open_store(StoreSettings(url="dynamodb://", table_prefix="endpoint"), create=True)
    assert store.check()["location"] == moto_endpoint
    names = boto3.client("dynamodb", endpoint_url=moto_endpoint).list_tables()["TableNames"]
    assert "endpoint-tasks" in names
    store.destroy()


def test_unreachable_endpoint_is_a_store_error(monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")  # nothing listens on discard
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match="unreachable"):
        DynamoStore("nowhere").check()


def test_tables_are_prefixed_on_demand_with_both_indexes(aws):
    store = open_store(StoreSettings(url="dynamodb", table_prefix="energy"), create=True)
    client = boto3.client("dynamodb")
    table = client.describe_table(TableName="energy-tasks")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"team_id-index", "created_at-index"}
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}["id"] == "N"
    assert store.check()["missing"] == []


def test_init_is_not_in_the_constructor(aws):
    DynamoStore("lazy")
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_decimal_conversion_round_trips_floats_exactly():
    item = {"price": 0.1 + 0.2, "n": 7, "neg": -1e-7, "nested": {"a": [1.5, None, "x", True]}, "gone": None}
    wire = to_dynamo(item)
    assert "gone" not in wire and wire["price"] == {"N": repr(0.1 + 0.2)}
    back = from_dynamo(wire)
    assert back == {k: v for k, v in item.items() if v is not None}
    assert not any(isinstance(v, Decimal) for v in back.values())


class _Throttled:
    """The real (moto) client, except BatchWriteItem leaves all but the first item unprocessed
    the first `times` calls (`passes` items get through each time), as DynamoDB does under throttling."""

    def __init__(self, client, times: int, passes: int = 1) -> None:
        self._client, self.times, self.passes, self.calls = client, times, passes, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems):
        self.calls += 1
        if self.calls > self.times:
            return self._client.batch_write_item(RequestItems=RequestItems)
        (table, requests), = RequestItems.items()
        if self.passes:
            self._client.batch_write_item(RequestItems={table: requests[: self.passes]})
        left = requests[self.passes :]
        return {"UnprocessedItems": {table: left} if left else {}}


def test_unprocessed_items_are_retried_with_backoff(aws):
    naps: list[float] = []
    store = DynamoStore("retry", client=_Throttled(boto3.client("dynamodb"), times=3), sleep=naps.append)
    store.init()
    rows = [Datapoint(series="NEM:SA1", interval_end=300 * n, price=float(n)) for n in range(1, 31)]
    assert store.upsert_datapoints(rows) == 30
    assert store.read_datapoints("NEM:SA1") == rows
    assert naps == [0.05, 0.1, 0.2]


def test_unprocessed_items_that_never_go_through_are_an_error(aws):
    store = DynamoStore("stuck", client=_Throttled(boto3.client("dynamodb"), times=10**6, passes=0), sleep=lambda s: None)
    store.init()
    with pytest.raises(StoreError, match="unprocessed"):
        store.upsert_datapoints([Datapoint(series="NEM:SA1", interval_end=300 * n) for n in range(1, 4)])
    assert store.read_datapoints("NEM:SA1") == []


def test_missing_tables_say_how_to_fix(aws):
    with pytest.raises(StoreError, match="arena db init"):
        DynamoStore("never-made").get_task(1)
