from collections import deque

import numpy as np

from policies.policy import Policy


class NightOwlPolicy(Policy):
    """Buys when the price is in the cheapest quarter of the last day, sells in the dearest quarter."""

    def __init__(self, lookback=288, low_quantile=0.25, high_quantile=0.75):
        super().__init__()
        self.prices = deque(maxlen=lookback)
        self.low_quantile = low_quantile
        self.high_quantile = high_quantile

    def load_historical(self, external_states):
        self.prices.extend(external_states["price"].tolist())

    def act(self, external_state, internal_state):
        price = external_state["price"]
        self.prices.append(price)
        if len(self.prices) < 12:
            return 0, 0
        low, high = np.quantile(self.prices, [self.low_quantile, self.high_quantile])
        if price <= low:
            return 0, internal_state["max_charge_rate"]
        if price >= high:
            return 0, -internal_state["max_charge_rate"]
        return 0, 0
