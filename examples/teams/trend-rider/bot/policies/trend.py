from collections import deque

from policies.policy import Policy


class TrendRiderPolicy(Policy):
    """Compares a short and a long moving average of the price: buys when the short one is below."""

    def __init__(self, short=6, long=48):
        super().__init__()
        self.short = deque(maxlen=short)
        self.long = deque(maxlen=long)

    def load_historical(self, external_states):
        for price in external_states["price"]:
            self.short.append(price)
            self.long.append(price)

    def act(self, external_state, internal_state):
        self.short.append(external_state.price)
        self.long.append(external_state.price)
        if len(self.long) < self.long.maxlen:
            return 0, 0
        fast = sum(self.short) / len(self.short)
        slow = sum(self.long) / len(self.long)
        rate = internal_state["max_charge_rate"]
        return (0, rate) if fast < slow else (0, -rate)
