"""One self-check suite for every backend: the same policy, the same window, the same score
as in arena's own process (to 1e-6), through the real evaluator."""

from __future__ import annotations

import pytest

from battery_sim.evaluator import evaluate
from battery_sim.observation import Observation
from tasks.sandbox import SandboxPolicy, team_policy_factory
from tests.sandbox.conftest import ROOT, write_team

RANDOM_POLICY = '''
import random

import numpy as np

from policies.policy import Policy


class Jitter(Policy):
    """Seeded randomness, history and every observation field: a backend that drops,
    reorders or re-seeds anything changes the score."""

    def __init__(self, scale=2.0):
        super().__init__()
        self.scale = scale
        self.bias = random.random()  # drawn in __init__: the seed must be in place before it
        self.mean = 0.0

    def load_historical(self, external_states):
        self.mean = float(external_states["price"].tail(288).mean())

    def act(self, external_state, internal_state):
        price = external_state["price"]
        hour = int(external_state["timestamp"][11:13])
        noise = float(np.random.uniform(-1, 1)) + random.random() - self.bias
        grid = self.scale * (1 if price < self.mean else -1) + noise
        if internal_state["remaining_steps"] == 0:
            grid = 0.0
        return min(external_state.get("pv_power", 0.0), 3.0), grid + 0.01 * hour
'''

BACKENDS = ["docker", "process", "local"]
WINDOW = (2016, 2016 + 300)  # a day and an hour after one week of history


@pytest.fixture(scope="module")
def jitter_team(tmp_path_factory):
    return write_team(tmp_path_factory.mktemp("jitter"), RANDOM_POLICY, "Jitter", {"scale": 2.5})


def _window(market):
    lo, hi = WINDOW
    return int(market.interval_end[lo]), int(market.interval_end[hi - 1])


def _evaluate(market, rules, factory):
    start, end = _window(market)
    return evaluate(market, rules, factory, start=start, end=end, trials=2, seed=7)


@pytest.fixture(scope="module")
def local_result(jitter_team, market, rules):
    return _evaluate(market, rules, team_policy_factory(jitter_team, backend="local"))


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_score_equals_in_process(backend, jitter_team, market, rules, local_result, request):
    if backend == "docker":
        request.getfixturevalue("docker_engine")
    result = _evaluate(market, rules, team_policy_factory(jitter_team, backend=backend, team_id=150))
    assert local_result["status"] == "success", local_result["error"]
    assert result["status"] == "success", (result["error"], result["logs_tail"])
    assert result["score"] == pytest.approx(local_result["score"], abs=1e-6)
    assert result["main_trial"]["actions"] == pytest.approx(local_result["main_trial"]["actions"], abs=1e-9)
    assert [r["score"] for r in result["trials"]["runs"]] == pytest.approx(
        [r["score"] for r in local_result["trials"]["runs"]], abs=1e-6)


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_example_template_team_runs_unchanged(backend, market, rules, request):
    """A 2024-template repo (its own policies/__init__.py registry and policy.py)."""
    if backend == "docker":
        request.getfixturevalue("docker_engine")
    team = ROOT / "examples" / "teams" / "sunrise-solar"
    start, end = _window(market)
    local = evaluate(market, rules, team_policy_factory(team, backend="local"), start=start, end=end)
    boxed = evaluate(market, rules, team_policy_factory(team, backend=backend, team_id=101), start=start, end=end)
    assert boxed["status"] == "success", (boxed["error"], boxed["logs_tail"])
    assert boxed["score"] == pytest.approx(local["score"], abs=1e-6)


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_protocol_carries_odd_values_faithfully(backend, tmp_path, market, request):
    """Whatever act() returns comes back as the policy returned it: NaN, inf, strings, numpy."""
    if backend == "docker":
        request.getfixturevalue("docker_engine")
    team = write_team(tmp_path, '''
        import numpy as np
        from policies.policy import Policy

        class Echo(Policy):
            def act(self, external_state, internal_state):
                return {"nan": float("nan"), "inf": float("-inf"), "text": "charge", "np": np.float32(1.5),
                        "arr": np.arange(2), "obs": external_state.to_dict(), "state": internal_state,
                        "price_attr": external_state.price}
    ''', "Echo")
    handle = team_policy_factory(team, backend=backend, team_id=151)()
    try:
        handle.load_historical(market.history(10))
        state = {"total_profit": 1.25, "profit_delta": -0.5, "battery_soc": 7.5, "max_charge_rate": 5.0,
                 "remaining_steps": 3}
        out = handle.act(Observation(market.columns, 10), state)
    finally:
        handle.close()
    assert out["nan"] != out["nan"] and out["inf"] == float("-inf")
    assert out["text"] == "charge" and out["np"] == 1.5 and out["arr"] == [0, 1]
    assert out["state"] == state
    assert out["obs"] == Observation(market.columns, 10).to_dict()
    assert out["price_attr"] == market.prices[10]


def test_handle_is_a_sandbox_policy_with_logs(tmp_path, market):
    team = write_team(tmp_path, '''
        from policies.policy import Policy

        class Chatty(Policy):
            def act(self, external_state, internal_state):
                print("thinking about", external_state["timestamp"])
                return 0.0, 0.0
    ''', "Chatty")
    handle = team_policy_factory(team, backend="process")()
    assert isinstance(handle, SandboxPolicy)
    handle.load_historical(market.history(5))
    assert handle.act(Observation(market.columns, 5), {}) == [0.0, 0.0]
    tail = handle.logs_tail()
    handle.close()
    assert "thinking about" in tail
