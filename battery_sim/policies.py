"""The built-in policies: the baseline every team is scored against, and simple references."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pandas as pd

from battery_sim.policy import Policy


def _mean(values) -> float:
    """np.mean of a short sequence, computed the way numpy does for fewer than 8 values
    (left to right), so the baseline decides exactly as the 2024 one; numpy otherwise."""
    n = len(values)
    if n >= 8:
        return float(np.mean(values))
    total = 0.0
    for v in values:
        total += v
    return total / n


class MovingAveragePolicy(Policy):
    """The baseline: buy at full power when the price is at or below the moving average of the
    last `window_size` prices, sell when above; idle until the window is full."""

    def __init__(self, window_size: int = 5):
        super().__init__()
        self.window_size = int(window_size)
        if self.window_size < 1:
            raise ValueError("window_size must be at least 1")
        self.price_history: deque = deque(maxlen=self.window_size)

    def act(self, external_state, internal_state):
        market_price = external_state["price"]
        self.price_history.append(market_price)
        if len(self.price_history) == self.window_size:
            if market_price > _mean(self.price_history):
                return 0, -internal_state["max_charge_rate"]
            return 0, internal_state["max_charge_rate"]
        return 0, 0

    def load_historical(self, external_states: pd.DataFrame):
        for price in external_states["price"].values:
            self.price_history.append(price)


class SimplePolicy(Policy):
    """Always asks to buy `charge_kW` from the grid; never routes solar."""

    def __init__(self, charge_kW: float = 10):
        super().__init__()
        self.charge_kW = charge_kW

    def act(self, external_state, internal_state):
        return 0, self.charge_kW


class RandomPolicy(Policy):
    """Charges at full power with `charge_probability`, else discharges. Draws from the global
    `random` module, which the evaluator seeds with the run's seed."""

    def __init__(self, charge_probability: float = 0.5):
        super().__init__()
        self.charge_probability = charge_probability

    def act(self, external_state, internal_state):
        if random.random() < self.charge_probability:
            return 0, internal_state["max_charge_rate"]
        return 0, -internal_state["max_charge_rate"]


class IdlePolicy(Policy):
    """Does nothing: all solar is exported, the battery keeps its charge for the run-down."""

    def act(self, external_state, internal_state):
        return 0, 0


class SolarFirstPolicy(Policy):
    """Stores all solar, sells at full power when the price is above `sell_above` $/MWh."""

    def __init__(self, sell_above: float = 100.0):
        super().__init__()
        self.sell_above = sell_above

    def act(self, external_state, internal_state):
        pv = external_state.get("pv_power", 0) or 0
        if external_state["price"] > self.sell_above:
            return 0, -internal_state["max_charge_rate"]
        return pv, 0


BUILTIN_POLICIES: dict[str, type[Policy]] = {
    cls.__name__: cls for cls in (MovingAveragePolicy, SimplePolicy, RandomPolicy, IdlePolicy, SolarFirstPolicy)
}
BASELINE = ("MovingAveragePolicy", {"window_size": 5})
