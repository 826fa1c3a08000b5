from policies.policy import Policy


class ForecastPolicy(Policy):
    """Fails on purpose: it trusts a column the market data does not have, once evening comes."""

    def load_historical(self, external_states):
        self.seen = 0

    def act(self, external_state, internal_state):
        self.seen += 1
        if self.seen < 200:
            return 0, 0
        forecast = external_state["price_forecast_30min"]
        return 0, 5 if forecast < external_state["price"] else -5
