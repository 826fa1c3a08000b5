"""The store contract (tasks/store/base.py), run against every backend."""

from __future__ import annotations

import math

import pytest

from arena.models import Datapoint, SubmissionRecord, TaskState, Team
from tasks.store import TABLES, Conflict, ItemTooLarge, NotFound, StoreError, open_store


def _point(series: str, interval_end: int, **values) -> Datapoint:
    return Datapoint(series=series, interval_end=interval_end, source="test", ingested_at=1.5, **values)


def _submission(team_id: int, sha: str, evaluated_at: str, **extra) -> SubmissionRecord:
    return SubmissionRecord(
        team_id=team_id,
        key=SubmissionRecord.make_key(sha, 0, 3000, "gbh2024"),
        git_commit_hash=sha,
        window_start=0,
        window_end=3000,
        rules="gbh2024",
        status="success",
        score=12.5,
        evaluated_at=evaluated_at,
        **extra,
    )


# -- lifecycle ---------------------------------------------------------------------------------


def test_init_is_idempotent_and_check_counts_rows(store):
    store.init()
    store.create_task("echo one")
    report = store.check()
    assert report["missing"] == []
    assert set(report["tables"]) == set(TABLES)
    assert report["tables"]["tasks"] == 1
    assert report["tables"]["counters"] == 1
    assert report["tables"]["datapoints"] == 0


def test_check_names_missing_tables_after_destroy(backend, store):
    store.destroy()
    report = backend.open(create=False, require_tables=False).check()
    assert sorted(report["missing"]) == sorted(TABLES)
    with pytest.raises(StoreError):
        store.get_task(1)


def test_opening_never_creates_tables(backend, store):
    """Only create=True (`arena db init`) makes tables; opening a prefix without them is an error
    that names the prefixes that do exist, and leaves the store as it was."""
    assert store.missing_tables() == [] and store.prefix in store.prefixes()
    other = type(backend.settings)(url=backend.settings.url, table_prefix=store.prefix + "x")
    with pytest.raises(StoreError, match=rf"no tables with prefix '{store.prefix}x'.*it holds prefix .*'{store.prefix}'"):
        open_store(other)
    assert sorted(open_store(other, require_tables=False).missing_tables()) == sorted(TABLES)
    assert store.prefix + "x" not in store.prefixes()
    store.destroy()
    assert sorted(store.missing_tables()) == sorted(TABLES)
    with pytest.raises(StoreError, match="arena db init"):
        backend.open(create=False)


# -- counters and tasks ------------------------------------------------------------------------


def test_next_id_counts_per_name(store):
    assert [store.next_id("a") for _ in range(3)] == [1, 2, 3]
    assert store.next_id("b") == 1
    assert store.next_id("a") == 4


def test_create_and_get_task(store):
    row = store.create_task("python run.py", type="evaluation", team_id=101, team_name="volts", git_commit_hash="ab" * 20)
    assert row.id == 1 and row.state_ is TaskState.pending and row.task == "task"
    assert store.get_task(1) == row
    with pytest.raises(NotFound):
        store.get_task(2)


def test_task_ids_order_numerically_past_ten(store):
    for n in range(12):
        store.create_task(f"cmd {n}")
    rows = store.list_tasks()
    assert [r.id for r in rows] == list(range(1, 13))
    assert [r.command for r in rows][9:] == ["cmd 9", "cmd 10", "cmd 11"]
    assert [r.id for r in store.list_tasks(limit=11)][-2:] == [10, 11]


def test_list_tasks_filters(store):
    store.create_task("a", team_id=101, created_at="2024-01-01T00:00:00.000000Z")
    store.create_task("b", team_id=102, created_at="2024-01-02T00:00:00.000000Z", state_="running")
    store.create_task("c", team_id=101, created_at="2024-01-03T00:00:00.000000Z", state_="running")
    store.create_task("d", created_at="2024-01-04T00:00:00.000000Z")
    for n in range(9):  # push team 101 past id 10 so its order is tested numerically too
        store.create_task(f"more {n}", team_id=101, created_at="2024-01-05T00:00:00.000000Z")
    by_team = store.list_tasks(team_id=101)
    assert [r.id for r in by_team] == [1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert [r.command for r in store.list_tasks(state="running")] == ["b", "c"]
    assert [r.command for r in store.list_tasks(team_id=101, state="running")] == ["c"]
    assert [r.command for r in store.list_tasks(since="2024-01-03T00:00:00.000000Z", limit=3)] == ["c", "d", "more 0"]
    assert [r.id for r in store.list_tasks(team_id=101, since="2024-01-05", limit=2)] == [5, 6]
    with pytest.raises(StoreError, match="unknown task state"):
        store.list_tasks(state="finished")


def test_update_task(store):
    row = store.create_task("run", team_id=101, updated_at="2000-01-01T00:00:00.000000Z")
    new = store.update_task(row.id, state_="running", flow_run_id="f-1", diagnostic="started")
    assert new.state_ is TaskState.running and new.flow_run_id == "f-1" and new.diagnostic == "started"
    assert new.updated_at > row.updated_at and new.created_at == row.created_at
    assert store.get_task(row.id) == new
    cleared = store.update_task(row.id, team_id=None)
    assert cleared.team_id is None and store.get_task(row.id).team_id is None
    assert store.list_tasks(team_id=101) == []


def test_update_task_expect_state_is_a_guard(store):
    row = store.create_task("run")
    store.update_task(row.id, expect_state="pending", state_="running")
    with pytest.raises(Conflict):
        store.update_task(row.id, expect_state="pending", state_="running", diagnostic="second")
    assert store.get_task(row.id).diagnostic == ""
    assert store.update_task(row.id, expect_state="running", state_="success").state_ is TaskState.success


def test_update_task_refuses_bad_input_and_keeps_the_row(store):
    row = store.create_task("run")
    with pytest.raises(NotFound):
        store.update_task(99, state_="running")
    with pytest.raises(StoreError, match="unknown or read-only"):
        store.update_task(row.id, id=7)
    with pytest.raises(StoreError, match="unknown or read-only"):
        store.update_task(row.id, colour="red")
    with pytest.raises(StoreError):
        store.update_task(row.id, state_="finished")
    assert store.get_task(row.id) == row


def test_delete_task(store):
    row = store.create_task("run")
    store.delete_task(row.id)
    with pytest.raises(NotFound):
        store.get_task(row.id)
    with pytest.raises(NotFound):
        store.delete_task(row.id)
    assert store.create_task("again").id == 2  # ids are never reused


# -- item size -----------------------------------------------------------------------------------


def test_item_too_large_is_refused_before_any_write(store):
    with pytest.raises(ItemTooLarge):
        store.create_task("run", diagnostic="x" * 410_000)
    assert store.list_tasks() == []
    assert store.create_task("small").id == 1  # the refused row took no id

    big = _submission(101, "a" * 40, "2024-01-01T00:00:00Z", main_trial={"profits": [0.123456789] * 60_000})
    with pytest.raises(ItemTooLarge):
        store.put_submission(big)
    assert store.list_submissions() == []

    with pytest.raises(ItemTooLarge):
        store.put_meta("big", {"blob": "y" * 500_000})
    assert store.get_meta("big") is None

    row = store.create_task("grows")
    with pytest.raises(ItemTooLarge):
        store.update_task(row.id, diagnostic="z" * 420_000)
    assert store.get_task(row.id) == row

    points = [_point("NEM:SA1", 300), _point("NEM:SA1", 600).model_copy(update={"source": "s" * 420_000})]
    with pytest.raises(ItemTooLarge):
        store.upsert_datapoints(points)
    assert store.read_datapoints("NEM:SA1") == []


def test_a_large_item_under_the_limit_is_kept(store):
    record = _submission(101, "b" * 40, "2024-01-01T00:00:00Z", main_trial={"profits": [0.123456789] * 20_000})
    store.put_submission(record)
    assert store.get_submission(101, record.key) == record


def test_non_finite_numbers_are_refused(store):
    with pytest.raises(StoreError, match="finite"):
        store.upsert_datapoints([_point("NEM:SA1", 300, price=math.nan)])
    assert store.read_datapoints("NEM:SA1") == []


# -- teams and submissions ------------------------------------------------------------------------


def test_teams(store):
    store.put_team(Team(team_id=120, team_name="b", repo="org/b"))
    store.put_team(Team(team_id=101, team_name="a", repo="org/a", limits={"memory": "2g", "cpus": 2.0}))
    store.put_team(Team(team_id=120, team_name="b2", repo="org/b", city="MEL"))
    assert [t.team_id for t in store.list_teams()] == [101, 120]
    assert store.get_team(120).team_name == "b2"
    assert store.get_team(101).limits == {"memory": "2g", "cpus": 2.0}
    store.delete_team(120)
    with pytest.raises(NotFound):
        store.get_team(120)
    with pytest.raises(NotFound):
        store.delete_team(120)


def test_submissions(store):
    late = _submission(101, "c" * 40, "2024-02-01T00:00:00Z", main_trial={"socs": [7.5, 7.9], "profits": [0.0, -0.25]})
    early = _submission(101, "d" * 40, "2024-01-01T00:00:00Z", error=None, parameters={"window": 5})
    other = _submission(100, "e" * 40, "2024-03-01T00:00:00Z")
    for record in (late, early, other):
        store.put_submission(record)
    assert store.get_submission(101, late.key) == late
    assert store.list_submissions() == [other, early, late]
    assert store.list_submissions(team_id=101) == [early, late]
    replaced = late.model_copy(update={"score": 99.0})
    store.put_submission(replaced)
    assert store.get_submission(101, late.key).score == 99.0
    with pytest.raises(NotFound):
        store.get_submission(102, late.key)


# -- datapoints ---------------------------------------------------------------------------------


def test_datapoint_upsert_is_idempotent_and_none_stays_none(store):
    first = [_point("NEM:SA1", 300 * n, price=50.0 + n, demand=1000.0, pv_power=None) for n in range(1, 13)]
    assert store.upsert_datapoints(first) == 12
    assert store.upsert_datapoints(first) == 12
    assert store.read_datapoints("NEM:SA1") == first
    # Same key replaces the whole row: a value set before and None now is None afterwards.
    again = [_point("NEM:SA1", 600, price=-20.25, demand=None, pv_power=1.5)]
    store.upsert_datapoints(again)
    row = store.read_datapoints("NEM:SA1", 600, 600)[0]
    assert row == again[0] and row.demand is None and row.pv_power_forecast_1h is None


def test_datapoint_reads_are_bounded_and_ascending(store):
    store.upsert_datapoints([_point("NEM:VIC1", t, price=1.0) for t in (3000, 300, 1500, 600)])
    store.upsert_datapoints([_point("NEM:SA1", 900, price=2.0)])
    assert [p.interval_end for p in store.read_datapoints("NEM:VIC1")] == [300, 600, 1500, 3000]
    assert [p.interval_end for p in store.read_datapoints("NEM:VIC1", start=600, end=1500)] == [600, 1500]
    assert [p.interval_end for p in store.read_datapoints("NEM:VIC1", start=601)] == [1500, 3000]
    assert [p.interval_end for p in store.read_datapoints("NEM:VIC1", end=600)] == [300, 600]
    assert store.read_datapoints("NEM:QLD1") == []


def test_datapoint_batch_naming_an_interval_twice_keeps_the_last(store):
    written = store.upsert_datapoints([_point("NEM:SA1", 300, price=1.0), _point("NEM:SA1", 300, price=2.0)])
    assert written == 1
    assert [p.price for p in store.read_datapoints("NEM:SA1")] == [2.0]


def test_many_datapoints_in_one_call(store):
    rows = [_point("NEM:NSW1", 300 * n, price=n / 7) for n in range(1, 1201)]
    assert store.upsert_datapoints(iter(rows)) == 1200
    assert store.read_datapoints("NEM:NSW1") == rows


# -- meta --------------------------------------------------------------------------------------


def test_meta_and_claim(store):
    assert store.get_meta("backfill") is None
    store.put_meta("backfill", {"done_until": 1700000000, "nested": {"a": [1, 2.5, None]}})
    assert store.get_meta("backfill") == {"done_until": 1700000000, "nested": {"a": [1, 2.5, None]}}
    assert store.claim("seen:abc", {"by": "one"}) is True
    assert store.claim("seen:abc", {"by": "two"}) is False
    assert store.get_meta("seen:abc") == {"by": "one"}
    store.delete_meta("seen:abc")
    store.delete_meta("seen:abc")  # deleting what is gone is fine
    assert store.claim("seen:abc", {"by": "three"}) is True


# -- backup ------------------------------------------------------------------------------------


def test_dump_destroy_restore_round_trip(backend, store):
    store.put_team(Team(team_id=101, team_name="volts", repo="org/volts"))
    for n in range(11):
        store.create_task(f"cmd {n}", team_id=101 if n % 2 else None)
    store.update_task(3, state_="error", diagnostic="boom")
    store.put_submission(_submission(101, "f" * 40, "2024-01-01T00:00:00Z", main_trial={"profits": [0.5, 1.25]}))
    store.upsert_datapoints([_point("NEM:SA1", 300 * n, price=n * 1.1, demand=None) for n in range(1, 40)])
    store.put_meta("cursor", {"at": 12, "list": ["x", None]})

    before = sorted(store.dump(), key=repr)
    assert {table for table, _ in before} == set(TABLES)
    store.destroy()
    fresh = backend.open()
    assert all(count == 0 for count in fresh.check()["tables"].values())
    assert fresh.restore(iter(before)) == len(before)
    assert sorted(fresh.dump(), key=repr) == before
    assert fresh.create_task("after restore").id == 12  # the counter came back too
    assert fresh.get_task(3).diagnostic == "boom"


def test_a_counter_behind_its_rows_skips_taken_ids(store):
    for n in range(5):
        store.create_task(f"cmd {n}")
    store.restore([("counters", {"name": "tasks", "value": 2})])  # e.g. an older backup's counter
    assert store.create_task("next").id == 6
    assert [r.id for r in store.list_tasks()] == [1, 2, 3, 4, 5, 6]
    assert store.get_task(3).command == "cmd 2"  # nothing overwritten


def test_restore_refuses_a_bad_row_and_writes_nothing(store):
    rows = [("teams", Team(team_id=101, team_name="a", repo="r").to_item()), ("tasks", {"id": "not a number"})]
    with pytest.raises(StoreError, match="bad tasks row"):
        store.restore(rows)
    assert store.list_teams() == []
    with pytest.raises(StoreError, match="unknown table"):
        store.restore([("jobs", {})])
