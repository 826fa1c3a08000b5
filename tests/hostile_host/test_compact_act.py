"""The compact act (battery_sim/agent.py): every value class of a row crosses exactly, through the
real agent on the process backend, and a forged compact answer ends as a bounded PolicyError."""

from __future__ import annotations

import math

import pytest

from arena.text import ERROR_MAX
from battery_sim.errors import PolicyError
from battery_sim.observation import Observation
from tasks.sandbox import team_policy_factory
from tasks.sandbox.protocol import ProtocolError
from tests.hostile_host.test_protocol_data import OK, _policy
from tests.sandbox.conftest import write_team

COLUMNS = {
    "timestamp": ["2023-04-15 00:05:00+00:00", "2023-04-15 00:10:00+00:00", "é \"q\" \\ \n"],
    "price": [float("nan"), float("inf"), -0.0],
    "demand": [1e308, 5e-324, -float("inf")],
    "count": [3, -(2**60), 0],
    "note": [None, "x", None],
}


def _state(i: int) -> dict:
    return {"total_profit": 0.1 + 0.2 * i, "profit_delta": 0 if i == 0 else -1e-17, "battery_soc": 7.5,
            "max_charge_rate": 5, "remaining_steps": 2 - i}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


def test_every_value_class_round_trips_exactly(tmp_path):
    team = write_team(tmp_path, '''
        from policies.policy import Policy

        class Echo(Policy):
            def act(self, external_state, internal_state):
                return {"obs": external_state.to_dict(), "state": internal_state,
                        "get": external_state.get("price"), "attr": external_state.timestamp}
    ''', "Echo")
    handle = team_policy_factory(team, backend="process")()
    try:
        handle.load_historical(None)
        for i in range(3):  # the first act names the columns, the others are compact
            out = handle.act(Observation(COLUMNS, i), _state(i))
            expected = {name: column[i] for name, column in COLUMNS.items()}
            assert list(out["obs"]) == list(expected)
            assert all(_same(out["obs"][k], v) for k, v in expected.items()), (out["obs"], expected)
            assert all(_same(out["state"][k], v) for k, v in _state(i).items()), out["state"]
            assert _same(out["get"], COLUMNS["price"][i]) and out["attr"] == COLUMNS["timestamp"][i]
    finally:
        handle.close()


def test_compact_answers_carry_exact_numbers(tmp_path):
    team = write_team(tmp_path, '''
        from policies.policy import Policy

        class Odd(Policy):
            def act(self, external_state, internal_state):
                k = internal_state["remaining_steps"]
                return [(0.1, -0.0), (float("nan"), float("-inf")), (3, -7)][k % 3]
    ''', "Odd")
    handle = team_policy_factory(team, backend="process")()
    try:
        handle.load_historical(None)
        got = [handle.act(Observation(COLUMNS, 0), dict(_state(0), remaining_steps=k)) for k in (0, 0, 1, 2)]
    finally:
        handle.close()
    assert _same(got[1][0], 0.1) and _same(got[1][1], -0.0)
    assert math.isnan(got[2][0]) and got[2][1] == -math.inf
    assert got[3] == [3, -7] and all(type(v) is int for v in got[3])


@pytest.mark.parametrize("answer, expected", [
    (b"garbage", "not a protocol line"),
    (b"1,2,3", "not a protocol line"),
    (b"1," + b"9" * 5000, "not a protocol line"),
    (b"0,0\n0,0", "more than one answer"),
    (b"--1,0", "not a protocol line"),
    (b"7" * (2 << 20), "the sandbox"),  # too long: refused unread or unparsed, bounded either way
])
def test_forged_compact_answers_are_bounded_protocol_errors(answer, expected):
    policy = _policy([OK, OK, b'{"ok": true, "action": [0, 0]}', answer])
    try:
        policy.load_historical(None)
        policy.act(Observation(COLUMNS, 0), _state(0))  # names the columns
        with pytest.raises(PolicyError) as caught:
            policy.act(Observation(COLUMNS, 1), _state(1))
    finally:
        policy.close()
    assert type(caught.value) is ProtocolError
    message = str(caught.value)
    assert expected in message and "\n" not in message and len(message) <= ERROR_MAX + 200
