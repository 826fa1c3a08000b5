import pandas as pd

from policies.policy import Policy


class SolarPeakPolicy(Policy):
    """Stores the panel's output, sells in the evening peak (17:00-21:00 NEM time), when the tariff pays +30 %."""

    def __init__(self, reserve_kwh=1.0):
        super().__init__()
        self.reserve_kwh = reserve_kwh

    def act(self, external_state, internal_state):
        hour = (pd.Timestamp(external_state["timestamp"]) + pd.Timedelta(hours=10)).hour
        if 17 <= hour < 21 and internal_state["battery_soc"] > self.reserve_kwh:
            return 0, -internal_state["max_charge_rate"]
        return external_state.get("pv_power", 0), 0

    def load_historical(self, external_states):
        pass
