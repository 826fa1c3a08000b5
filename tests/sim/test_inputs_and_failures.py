"""Bad input gets a clear error and never a wrong score; a failing policy gets a status
"error" that names the interval and the value or exception."""

import math

import numpy as np
import pandas as pd
import pytest

from battery_sim.data import from_frame, load_market_csv, parse_timestamp
from battery_sim.errors import BadInput
from battery_sim.evaluator import evaluate, trial_windows
from battery_sim.observation import Observation
from battery_sim.policies import MovingAveragePolicy
from battery_sim.policy import Policy
from battery_sim.rules import GBH2024_TARIFF, get_ruleset
from tests.conftest import APRIL_NAIVE, APRIL_UTC_PV


def frame(n=12, start="2024-04-02 17:00:00", **columns):
    stamps = pd.date_range(start, periods=n, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"timestamp": stamps, "price": np.linspace(10, 120, n), **columns})


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(columns=["price"]), "missing column(s) price"),
        (lambda f: f.drop(columns=["timestamp"]), "missing column(s) timestamp"),
        (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 3, "not a time")), "row 4: cannot read timestamp 'not a time'"),
        (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 4, f.timestamp[3])), "row 5: duplicate timestamp"),
        (lambda f: f.drop(index=5).reset_index(drop=True), "is 10 minutes after the row before it"),
        (lambda f: f.assign(price=f.price.where(f.index != 6, np.nan)), "price missing or not finite at row 7"),
        (lambda f: f.assign(price=f.price.astype(object).where(f.index != 2, "cheap")), "row 3 (2024-04-02 07:10:00+00:00): price 'cheap'"),
        (lambda f: f.iloc[[1, 0] + list(range(2, len(f)))].reset_index(drop=True), "-5 minutes after"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 0, "2024-04-02 16:55:00+00:00")), "mix naive and offset"),
    ],
    ids=["no-price", "no-timestamp", "unparseable", "duplicate", "gap", "nan-price", "text-price", "unordered", "empty", "mixed-zones"],
)
def test_bad_data_is_refused_with_a_clear_message(mutate, message):
    with pytest.raises(BadInput) as err:
        from_frame(mutate(frame()))
    assert message in str(err.value)


def test_naive_timestamps_are_nem_time_and_offsets_mean_what_they_say():
    assert parse_timestamp("2023-04-15 10:00:00") == parse_timestamp("2023-04-15T00:00:00+00:00")
    assert parse_timestamp("2023-04-15 10:00:00+10:00") == parse_timestamp("2023-04-15 00:00:00Z")
    naive = load_market_csv(APRIL_NAIVE)
    assert naive.frame["timestamp"][0] == "2023-04-14 14:05:00+00:00"  # 00:05 NEM time
    utc = load_market_csv(APRIL_UTC_PV)
    assert utc.frame["timestamp"][1] == "2023-04-15 00:05:00+00:00"


@pytest.mark.parametrize("start, end", [("2030-01-01", None), (None, "2001-01-01"), ("2023-04-20 10:00", "2023-04-20 09:00")])
def test_empty_window_or_window_outside_the_data(start, end):
    data = load_market_csv(APRIL_NAIVE)
    with pytest.raises(BadInput, match="holds no intervals; the data covers"):
        evaluate(data, GBH2024_TARIFF, MovingAveragePolicy,
                 start=parse_timestamp(start) if start else None, end=parse_timestamp(end) if end else None)


def test_unknown_ruleset():
    with pytest.raises(BadInput, match="unknown ruleset 'gbh1999'"):
        get_ruleset("gbh1999")


class Returns(Policy):
    def __init__(self, value, at=3):
        super().__init__()
        self.value, self.at, self.n = value, at, 0

    def act(self, external_state, internal_state):
        self.n += 1
        return self.value if self.n > self.at else (0, 0)


@pytest.mark.parametrize(
    "value, says",
    [
        ((0, math.nan), "grid_kW is nan"),
        ((math.inf, 0), "solar_kW_to_battery is inf"),
        ((0, "5"), "grid_kW is '5'"),
        ("charge", "act() returned 'charge'"),
        ((1, 2, 3), "act() returned (1, 2, 3)"),
        (None, "act() returned None"),
        (5, "act() returned 5"),
    ],
)
def test_bad_actions_end_the_run_naming_interval_and_value(value, says):
    data = from_frame(frame())
    result = evaluate(data, GBH2024_TARIFF, lambda: Returns(value))
    assert result["status"] == "error" and result["score"] is None
    assert result["error"].startswith("interval 3 (2024-04-02 07:15:00+00:00): ")
    assert says in result["error"]
    assert result["steps"] == 3 and len(result["main_trial"]["market_prices"]) == 3


def test_numpy_numbers_are_fine():
    result = evaluate(from_frame(frame()), GBH2024_TARIFF, lambda: Returns((np.float32(1), np.int64(-2))))
    assert result["status"] == "success"


class Raises(Policy):
    def act(self, external_state, internal_state):
        if internal_state["remaining_steps"] == 5:
            return {}["no such key"]
        return 0, 0


def test_a_raising_policy_gets_its_own_traceback():
    result = evaluate(from_frame(frame()), GBH2024_TARIFF, Raises)
    assert result["status"] == "error"
    assert result["error"] == "interval 7 (2024-04-02 07:35:00+00:00): KeyError: 'no such key'"
    assert "in act" in result["error_traceback"] and "no such key" in result["error_traceback"]


def test_failures_before_the_window_are_named():
    class BadInit(Policy):
        def __init__(self):
            raise RuntimeError("model file missing")

        def act(self, e, i):
            return 0, 0

    class BadHistory(Policy):
        def load_historical(self, external_states):
            external_states["no_such_column"]

        def act(self, e, i):
            return 0, 0

    r1 = evaluate(from_frame(frame()), GBH2024_TARIFF, BadInit)
    r2 = evaluate(from_frame(frame()), GBH2024_TARIFF, BadHistory)
    assert r1["error"] == "while creating the policy: RuntimeError: model file missing"
    assert r2["error"].startswith("in load_historical, before the first interval: KeyError")


def test_observation_behaves_like_the_2024_series():
    obs = Observation({"timestamp": ["t0", "t1"], "price": [1.5, 2.5], "pv_power": [0.0, 3.0]}, 1)
    series = pd.Series(obs.to_dict())
    assert obs["price"] == series["price"] == obs.price == 2.5
    assert obs.get("demand", 7) == series.get("demand", 7) == 7
    assert list(obs.keys()) == list(series.keys()) == list(obs.index)
    assert list(obs.values) == list(series.values)
    assert ("price" in obs) and ("demand" not in obs) and (2.5 not in obs)
    assert list(obs) == list(series) and len(obs) == len(series)
    assert dict(obs.items()) == dict(series.items())
    assert float(obs["pv_power"]) == 3.0
    with pytest.raises(KeyError):
        obs["demand"]
    with pytest.raises(AttributeError):
        _ = obs.demand
    assert Observation.from_dict({"price": 4.0})["price"] == 4.0


def test_internal_state_is_the_2024_one():
    seen = []

    class Spy(Policy):
        def act(self, external_state, internal_state):
            seen.append(dict(internal_state))
            return 0, 5

    evaluate(from_frame(frame(n=4)), GBH2024_TARIFF, Spy)
    assert [s["remaining_steps"] for s in seen] == [3, 3, 2, 1]  # 2024 counted this way
    assert seen[0]["battery_soc"] == 7.5 and seen[0]["total_profit"] == 0
    assert seen[1]["battery_soc"] == pytest.approx(7.5 + 5 * 5 / 60)
    assert set(seen[0]) == {"total_profit", "profit_delta", "battery_soc", "max_charge_rate", "remaining_steps"}


def test_trials_are_seeded_sub_windows_of_at_least_a_day():
    data = load_market_csv(APRIL_UTC_PV)
    lo, hi = data.window()
    windows = trial_windows(lo, hi, 5, seed=7)
    assert windows == trial_windows(lo, hi, 5, seed=7) != trial_windows(lo, hi, 5, seed=8)
    assert windows[0] == (lo, hi) and all(b - a >= 288 and lo <= a < b <= hi for a, b in windows)
    result = evaluate(data, GBH2024_TARIFF, MovingAveragePolicy, trials=3, seed=7)
    runs = result["trials"]["runs"]
    assert result["num_runs"] == 3 and len(runs) == 3 and runs[0]["score"] == result["score"]
    scores = [r["score"] for r in runs]
    assert result["trials"]["mean"] == pytest.approx(np.mean(scores))
    assert result["trials"]["worst"] == min(scores)
    with pytest.raises(BadInput, match="at least 288 intervals"):
        evaluate(from_frame(frame()), GBH2024_TARIFF, MovingAveragePolicy, trials=2)
