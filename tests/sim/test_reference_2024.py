"""Scores equal the 2024 evaluator's (modelled independently in reference_2024.py) to 1e-6 on real data."""

import random

import numpy as np
import pytest

from battery_sim.data import load_market_csv
from battery_sim.evaluator import evaluate
from battery_sim.policies import BUILTIN_POLICIES
from battery_sim.rules import get_ruleset
from battery_sim.teamcode import load_policy_class, read_config
from tests.conftest import APRIL_NAIVE, APRIL_UTC_PV, EXAMPLE_TEAMS
from tests.sim.reference_2024 import reference_run


def _both(data, rules, make_policy, start=None, end=None):
    lo, hi = data.window(start, end)
    ours = evaluate(data, get_ruleset(rules), make_policy, start=start, end=end, seed=42)
    random.seed(42)
    np.random.seed(42)
    policy = make_policy()
    policy.load_historical(data.history(lo))
    theirs = reference_run(data.frame.iloc[lo:hi], policy, tariff=rules.endswith("tariff"))
    return ours, theirs


def test_the_fact_in_the_data_readme():
    data = load_market_csv(APRIL_NAIVE)
    result = evaluate(data, get_ruleset("gbh2024"), lambda: BUILTIN_POLICIES["SimplePolicy"]())
    assert result["status"] == "success"
    assert result["score"] == pytest.approx(2.4897, abs=1e-9)
    assert result["main_trial"]["final_soc"] == 13


@pytest.mark.parametrize("rules", ["gbh2024", "gbh2024-tariff"])
@pytest.mark.parametrize("name", ["MovingAveragePolicy", "SimplePolicy", "RandomPolicy", "IdlePolicy", "SolarFirstPolicy"])
@pytest.mark.parametrize("path", [APRIL_NAIVE, APRIL_UTC_PV], ids=["april-naive", "april-utc-pv"])
def test_builtin_policies_match_2024(path, name, rules):
    data = load_market_csv(path)
    ours, theirs = _both(data, rules, lambda: BUILTIN_POLICIES[name]())
    assert ours["score"] == pytest.approx(theirs["score"], abs=1e-6)
    assert ours["main_trial"]["profits"] == pytest.approx(theirs["profits"], abs=1e-6)
    assert ours["main_trial"]["socs"] == pytest.approx(theirs["socs"], abs=1e-9)
    assert ours["main_trial"]["rundown_profit_deltas"] == pytest.approx(theirs["rundown"], abs=1e-9)


@pytest.mark.parametrize("team", ["sunrise-solar", "night-owl", "trend-rider"])
def test_team_repos_match_2024(team):
    data = load_market_csv(APRIL_UTC_PV)
    config = read_config(EXAMPLE_TEAMS / team)
    cls = load_policy_class(EXAMPLE_TEAMS / team, config.class_name)
    start = data.interval_end[288]  # one day of history for the policy
    ours, theirs = _both(data, "gbh2024-tariff", lambda: cls(**config.parameters), start=int(start))
    assert ours["status"] == "success"
    assert ours["score"] == pytest.approx(theirs["score"], abs=1e-6)


def test_window_in_the_middle_gets_history_before_it_only():
    data = load_market_csv(APRIL_UTC_PV)
    seen = {}

    class Spy(BUILTIN_POLICIES["MovingAveragePolicy"]):
        def load_historical(self, external_states):
            seen["last"] = external_states["timestamp"].iloc[-1]
            seen["rows"] = len(external_states)
            super().load_historical(external_states)

    start, end = int(data.interval_end[1000]), int(data.interval_end[2000])
    ours, theirs = _both(data, "gbh2024-tariff", Spy, start=start, end=end)
    assert seen["rows"] == 1000 and seen["last"] == data.frame["timestamp"][999]
    assert ours["steps"] == 1001
    assert ours["score"] == pytest.approx(theirs["score"], abs=1e-6)
