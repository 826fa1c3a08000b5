"""A round killed with SIGKILL mid-way, then started again at once: it takes the dead round's
container slot without waiting, nothing is lost or evaluated twice, and after a sync no row is
pending or running, no Prefect run stays RUNNING, no checkout, slot or container is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC

import pytest
from flowkit import slow_team


def _round(env_vars):
    return subprocess.Popen([sys.executable, "-m", "cli", "round", "--backend", "process", "--json"],
                            env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.prefect
def test_kill_mid_round_then_start_again(harness, teams, store, tmp_path, request):
    from datetime import datetime

    from prefect.settings import PREFECT_API_URL

    from arena.models import Team
    from arena.scoring import BASELINE_TEAM_ID
    from arena.settings import SubmissionSettings
    from flows._prefect import CONTAINERS, read_run_info
    from flows.taskrows import sync_task_rows
    from tasks.leftovers import held_slots
    from tasks.submissions import poll_submissions

    started = datetime.now(UTC)

    slow = slow_team(tmp_path / "slow")
    store.put_team(Team(team_id=150, team_name="slow-thinker", city="HOB", repo=str(slow)))
    assert len(poll_submissions(store).submissions) == 2  # its first try and the slow one
    env_vars = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), ARENA_FLOWS_CONTAINER_LIMIT="1")
    request.addfinalizer(_limit_of_one(CONTAINERS))  # whatever limit earlier tests of the session made

    killed = _round(env_vars)
    deadline = time.monotonic() + 240
    while not any(r.type.value == "evaluation" and r.team_id == 150 and r.state_.value == "running"
                  for r in store.list_tasks()):
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline, "the slow team never started"
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert any(r.state_.value == "running" for r in store.list_tasks())  # the hooks never came
    done_before = {s.team_id: s.evaluated_at for s in store.list_submissions() if s.team_id != BASELINE_TEAM_ID}
    assert done_before and 150 not in done_before  # killed part-way: some teams done, the slow one not

    # At once, no sync first: the dead round still holds the only container slot (limit 1).
    again = _round(env_vars)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "waiting for a slot" not in out + err  # the dead holder's slot was given back, not waited for
    records = store.list_submissions()
    by_team = {}
    for record in records:
        if record.team_id == BASELINE_TEAM_ID:
            continue
        by_team.setdefault(record.team_id, []).append(record)
    assert set(by_team) == {101, 102, 103, 150}  # nothing lost
    assert all(len(v) == 1 for v in by_team.values())
    for team_id, evaluated_at in done_before.items():  # nothing evaluated twice
        assert by_team[team_id][0].evaluated_at == evaluated_at

    sync_task_rows(grace_s=0)
    rows = store.list_tasks()
    assert not [r.id for r in rows if r.state_.value == "running"]
    # Kickoff rows the poll queued wait for a runner (rounds closing them is the exactly-once work).
    assert not [r.id for r in rows if r.state_.value == "pending" and r.type.value != "submission-kickoff"]
    orphan = next(r for r in rows if r.type.value == "evaluation" and r.team_id == 150 and r.state_.value == "error")
    assert "stopped" in orphan.diagnostic
    assert read_run_info(orphan.flow_run_id).state_type == "CRASHED"  # Prefect's record agrees
    assert not _running_runs(started)  # nor does any run of the killed round stay RUNNING
    assert not list(SubmissionSettings().checkout_dir.glob("*"))  # no checkout folder left
    assert not held_slots()  # no slot record left: none held by the dead round
    assert _containers_of_this_run() == []


def _limit_of_one(name):
    """Make `name` a limit of one slot; returns the undo (back to the limit it was)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            before = client.read_global_concurrency_limit_by_name(name).limit
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1))
        except ObjectNotFound:
            before = None
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))

    def undo():
        with get_client(sync_client=True) as client:
            if before is None:
                client.delete_global_concurrency_limit_by_name(name)
            else:
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=before))

    return undo


@pytest.mark.prefect
def test_a_slot_is_waited_for_only_while_its_holder_lives(harness, env, caplog):
    """A live holder: the second taker says it waits, and for whom, then gets the slot when it is
    given back. A holder whose process is gone: its slot is taken over at once, nothing said."""
    import json
    import logging
    import socket
    import threading
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from arena.settings import OrchestrationSettings
    from flows._prefect import container_slot
    from tasks.leftovers import held_slots

    name = f"test-slots-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    slot = container_slot(name)
    try:
        caplog.set_level(logging.WARNING, logger="arena")
        got = threading.Event()

        def second():
            with slot():
                got.set()

        with slot():
            waiter = threading.Thread(target=second)
            waiter.start()
            while not any("waiting for a slot" in r.getMessage() for r in caplog.records):
                assert waiter.is_alive() and not got.is_set()
                time.sleep(0.1)
            said = next(r.getMessage() for r in caplog.records if "waiting for a slot" in r.getMessage())
            assert f"'{name}'" in said and f"pid {os.getpid()}" in said
        waiter.join(timeout=120)
        assert got.is_set()

        # A killed holder: its lease is still on the server, its record names a pid that is gone.
        ended = subprocess.Popen(["true"])
        ended.wait()
        with get_client(sync_client=True) as client:
            lease = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", 300).json()["lease_id"]
        folder = OrchestrationSettings().slot_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lease}.json").write_text(json.dumps(dict(
            lease_id=lease, limit=name, flow_run_id=None, host=socket.gethostname(), pid=ended.pid)))
        caplog.clear()
        with slot():
            assert [h.pid for h in held_slots(name)] == [os.getpid()]
        assert not [r for r in caplog.records if "waiting for a slot" in r.getMessage()]
        assert held_slots(name) == []
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


def _running_runs(since):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        TaskRunFilter,
        TaskRunFilterStartTime,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    running = [StateType.RUNNING, StateType.PENDING]
    with get_client(sync_client=True) as client:
        flows = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            start_time=FlowRunFilterStartTime(after_=since),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=running))))
        tasks = client.read_task_runs(task_run_filter=TaskRunFilter(
            start_time=TaskRunFilterStartTime(after_=since),
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=running))))
    return [f"flow run {r.name}: {r.state.type.value}" for r in flows] + [f"task run {r.name}: {r.state.type.value}" for r in tasks]


def _containers_of_this_run():
    """This test run's sandbox containers (its run label), when a Docker engine answers."""
    try:
        from tasks.sandbox.docker import sandbox_containers

        return [c.name for c in sandbox_containers()]
    except Exception:  # no engine: no container can be left in it
        return []
