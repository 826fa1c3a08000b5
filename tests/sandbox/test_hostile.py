"""Hostile submissions (tests/sandbox/hostile): each attack is contained, ends with a clear
diagnostic, leaves the host alone and leaves no container behind. One image serves every
case; `variant()` picks the attack. Docker cases run on the real engine."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from battery_sim.evaluator import evaluate
from battery_sim.observation import Observation
from tasks.sandbox import (
    PolicyCrashed,
    StartupTimeout,
    StepTimeout,
)
from tests.sandbox.conftest import DATA_FILE, ROOT, sandbox_containers, variant

LO, HI = 2016, 2016 + 24


def _run(market, rules, factory):
    start, end = int(market.interval_end[LO]), int(market.interval_end[HI - 1])
    return evaluate(market, rules, factory, start=start, end=end)


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """After each case: no sandbox container left, and the host can still start processes."""
    yield
    assert subprocess.run(["true"]).returncode == 0
    if "hostile_docker" in request.fixturenames or "docker_engine" in request.fixturenames:
        client = request.getfixturevalue("docker_engine")
        assert sandbox_containers(client) == []


def _drive(factory, steps=1, market=None):
    """Run a handle by hand (the evaluator's loop) and return the PolicyError it raised."""
    handle = factory()
    try:
        handle.load_historical(market.history(LO))
        for i in range(LO, LO + steps):
            handle.act(Observation(market.columns, i), {"total_profit": 0.0, "profit_delta": 0.0,
                                                         "battery_soc": 7.5, "max_charge_rate": 5.0,
                                                         "remaining_steps": HI - i - 1})
    finally:
        handle.close()


def test_fork_bomb_hits_the_process_limit(hostile, market, rules):
    result = _run(market, rules, variant(hostile, mode="fork_bomb", at=2))
    assert result["status"] == "error"
    assert result["error"].startswith("interval 2 (")
    assert "process/thread limit of" in result["error"] or "step time limit" in result["error"]


def test_memory_hog_hits_the_memory_limit(hostile, market, rules):
    factory = variant(hostile, mode="memory_hog", at=1, limits={"memory": "300m"})
    result = _run(market, rules, factory)
    assert result["status"] == "error"
    assert result["error"].startswith("interval 1 (")
    assert "memory limit of 300m" in result["error"]


# The cooperative timer's answer (with the traceback of where the policy was stuck) must reach
# arena within the limit's grace. A loaded machine can use a short limit up before the policy even
# runs, or deliver the answer after the grace (then the hard kill ends it, as it must). So these
# tests raise the limit until the answer arrives and then check it in full: they assert what the
# diagnostic says, never how fast the machine is.
STEP_LIMITS = (1.0, 4.0, 15.0)
STARTUP_LIMITS = (3.0, 10.0, 30.0)


def test_endless_sleep_hits_the_step_limit_with_its_traceback(hostile, market, rules):
    for limit in STEP_LIMITS:
        result = _run(market, rules, variant(hostile, mode="sleep", at=3, limits={"step_timeout_s": limit}))
        assert result["status"] == "error"
        assert result["error"].startswith("interval 3 (")
        assert f"step time limit: act() took longer than {limit:g} s" in result["error"]
        if result["error_traceback"]:
            break
    assert "so the sandbox was killed" not in result["error"]  # the cooperative timer ended it
    assert "time.sleep(10_000)" in result["error_traceback"]  # where it was stuck


def test_swallowed_timer_is_ended_by_the_hard_kill(hostile, market, rules):
    with pytest.raises(StepTimeout, match="did not stop, so the sandbox was killed"):
        _drive(variant(hostile, mode="stubborn_sleep"), market=market)


def test_sleep_at_import_hits_the_startup_limit(hostile, market):
    for limit in STARTUP_LIMITS:
        factory = variant(hostile, class_name="SlowImport", limits={"startup_timeout_s": limit})
        with pytest.raises(StartupTimeout) as caught:
            _drive(factory, market=market)
        if caught.value.traceback_text:
            break
    assert str(caught.value).startswith(f"start-up time limit: the policy was not ready within {limit:g} s")
    assert "so the sandbox was killed" not in str(caught.value)
    assert "zz_slow_import.py" in caught.value.traceback_text


def test_sleep_in_init_hits_the_startup_limit(hostile, market):
    with pytest.raises(StartupTimeout):
        _drive(variant(hostile, class_name="SlowStart", limits={"startup_timeout_s": 2.0}), market=market)


def test_stdout_flood_of_forged_protocol_lines_changes_nothing(hostile, market, rules):
    result = _run(market, rules, variant(hostile, mode="flood", at=0))
    assert result["status"] == "success", result["error"]
    assert set(result["main_trial"]["actions"]) == {0.0}  # the forged [5, 5] never became an action
    assert set(result["main_trial"]["solar_actions"]) == {0.0}
    assert '{"ok":true,"action":[5.0,5.0]}' in result["logs_tail"]  # it is in the team's log instead


def test_crash_at_an_interval_reports_interval_exception_and_log(hostile, market, rules):
    result = _run(market, rules, variant(hostile, mode="crash", at=5))
    assert result["status"] == "error"
    assert result["error"].startswith("interval 5 (2023-")
    assert "act() raised ValueError: team bug: division of the forecast went wrong" in result["error"]
    assert "hostile.py" in result["error_traceback"] and "attack_crash" in result["error_traceback"]
    assert "about to fail at interval 5" in result["logs_tail"]
    assert len(result["main_trial"]["profits"]) == 5


@pytest.mark.parametrize("mode, shown", [
    ("nan", "solar_kW_to_battery is nan"), ("string", "'charge'"),
    ("huge_int", "solar_kW_to_battery is an integer of about 4001 digits"), ("huge_float", "grid_kW is -1e+308"),
])
def test_absurd_actions_are_the_teams_error_at_that_interval(hostile, market, rules, mode, shown):
    """NaN, text, and finite numbers no battery means: a clear error, nothing absurd kept."""
    result = _run(market, rules, variant(hostile, mode=mode, at=2))
    assert result["status"] == "error"
    assert result["error"].startswith("interval 2 (")
    assert shown in result["error"] and len(result["error"]) < 300
    if mode != "string":
        assert f"within ±{rules.max_action_kw:g}" in result["error"]
    trial = result["main_trial"]
    assert len(trial["actions"]) == 2 and all(abs(a) <= rules.max_action_kw for a in trial["actions"])


def test_exit_of_the_policy_process_is_a_crash(hostile, market):
    with pytest.raises(PolicyCrashed, match=r"the policy's process exited with code 3 during act\(\)"):
        _drive(variant(hostile, mode="exit"), market=market)


def test_well_behaved_prober_finds_nothing(hostile, market, monkeypatch, tmp_path):
    """No network, no root, no capabilities, no new user namespace, no secrets, no writable code, no future data, no
    host files (data, store, sources, Docker socket) and no other process's command line, on
    either backend."""
    monkeypatch.setenv("ARENA_TEST_SECRET", "hunter2-sandbox-secret")
    store = tmp_path / "arena.db"
    store.write_text("the organiser's store")
    future = market.columns["timestamp"][HI + 10]  # a row well after the window start
    host_paths = [str(DATA_FILE), str(store), str(ROOT / "tasks"), str(tmp_path), os.path.expanduser("~/.arena")]
    factory = variant(hostile, class_name="Prober", secret_name="hunter2-sandbox-secret",
                      host_path=str(ROOT / "tasks" / "sandbox"), future=future, host_paths=host_paths,
                      limits={"step_timeout_s": 60.0})
    handle = factory()
    try:
        handle.load_historical(market.history(LO))
        found = handle.act(Observation(market.columns, LO), {"remaining_steps": 1})
    finally:
        handle.close()
    if factory.backend == "docker":
        assert found["uid"] == 10001 and found["gid"] == 10001
    else:  # a uid of its own per run when arena is root; arena's own otherwise
        assert found["uid"] != 0 or os.getuid() != 0
        assert found["uid"] == handle.runtime.uid or handle.runtime.uid is None
    assert int(found["cap_eff"], 16) == 0 and found["no_new_privs"] == "1"
    assert found["network"] == {"reached": [], "interfaces": []}
    assert found["writable"] == [] and found["tmp_writable"] is True and found["tmp_exec"] is False
    assert set(found["env"]) <= {"PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
                                 "PYTHONPATH", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                 "HOSTNAME"}
    assert found["secret_in_env"] is False
    assert found["host_path_visible"] is False and found["visible_host_paths"] == []
    assert found["docker_socket"] is False
    assert found["new_user_namespace"] == []  # no way to capabilities, unbounded tmpfs, nested mounts
    assert not [line for line in found["command_lines"] if "pytest" in line or str(DATA_FILE) in line]
    assert found["future_files"] == []
    assert found["history_rows"] == LO
    assert found["history_last"] == market.columns["timestamp"][LO - 1] < found["observation_time"]
    assert os.environ["ARENA_TEST_SECRET"]  # it was really there to leak


def test_a_survivor_in_its_own_session_is_killed_with_the_run(hostile, market):
    """A child that calls setsid escapes a process-group kill; it must not escape the run."""
    marker = f"arena-survivor-{os.getpid()}-{hostile.backend}"
    handle = variant(hostile, mode="daemon", tag=marker)()
    try:
        handle.load_historical(market.history(LO))
        handle.act(Observation(market.columns, LO), {"remaining_steps": 1})
        assert _wait_for(lambda: _processes_named(marker)), "the survivor never started"
        time.sleep(1.0)  # not an assertion: lets the survivor settle as a real daemon first
        assert _processes_named(marker), "the survivor did not stay up on its own"
    finally:
        handle.close()
    assert _wait_for(lambda: not _processes_named(marker)), _processes_named(marker)


def _processes_named(marker: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(entry.name)
            except OSError:
                pass
    return found


def _wait_for(condition, seconds: float = 60.0) -> bool:
    """Poll until true: what is checked is the outcome, the bound only stops a hung test."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
