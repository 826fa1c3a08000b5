"""Two process-backend runs at once, as a round runs teams: each has a uid of its own even when
both were created right after the evaluator seeded the global `random` with the same trial seed
(every team of a round gets the same seed), so the first to close cannot kill the other."""

from __future__ import annotations

import random

import pytest

from battery_sim.evaluator import evaluate
from battery_sim.observation import Observation
from tasks.sandbox import team_policy_factory
from tests.sandbox.conftest import write_team

LO, HI = 2016, 2016 + 12
STEADY = '''
from .policy import Policy


class Steady(Policy):
    def act(self, external_state, internal_state):
        return 0.0, 1.0
'''


@pytest.fixture()
def steady(tmp_path):
    return team_policy_factory(write_team(tmp_path / "team", STEADY, "Steady"), backend="process", team_id=301)


def _state(i: int) -> dict:
    return {"total_profit": 0.0, "profit_delta": 0.0, "battery_soc": 7.5, "max_charge_rate": 5.0,
            "remaining_steps": HI - i - 1}


def test_a_run_that_closes_leaves_a_concurrent_run_alive(steady, market, rules):
    random.seed(42)  # what the evaluator does before creating each team's policy
    running = steady()
    try:
        running.load_historical(market.history(LO))
        running.act(Observation(market.columns, LO), _state(LO))
        start, end = int(market.interval_end[LO]), int(market.interval_end[HI - 1])
        other = evaluate(market, rules, steady, start=start, end=end, seed=42)  # seeds 42 again, runs, closes
        assert other["status"] == "success", other.get("error")
        for i in range(LO + 1, HI):  # still answering: nothing of the closed run reached it
            assert list(running.act(Observation(market.columns, i), _state(i))) == [0.0, 1.0]
    finally:
        running.close()


def test_runs_starting_together_get_different_uids(monkeypatch):
    """The race of a round: both uids are drawn before either run has dropped to its uid, so
    /proc shows neither; seeded the same, the global generator gave both the same one."""
    from tasks.sandbox import process

    monkeypatch.setattr(process, "_processes", lambda: [])
    random.seed(7)
    first = process._fresh_uid()
    random.seed(7)
    second = process._fresh_uid()
    process._release_uid(first)
    process._release_uid(second)
    assert first != second
