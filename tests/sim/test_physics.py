"""Each leg and cap of the rules, the tariff boundaries, the run-down, and properties."""


import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from battery_sim.data import from_frame, nem_hour, parse_timestamp
from battery_sim.physics import money, rundown, step
from battery_sim.rules import GBH2024, GBH2024_TARIFF

H = 5 / 60


def test_solar_request_is_clipped_to_what_the_panel_makes():
    s = step(0.0, 10, 0, pv_kw=2.0, price=100.0, nem_hour=12, rules=GBH2024)
    assert s.solar_stored_kwh == pytest.approx(2.0 * H)
    assert s.solar_money == 0  # nothing left to export


def test_negative_solar_request_stores_nothing_and_exports_all():
    s = step(5.0, -3, 0, pv_kw=2.0, price=100.0, nem_hour=12, rules=GBH2024)
    assert s.solar_stored_kwh == 0
    assert s.solar_money == money(2.0 * H, 100.0) == round(2 * H * 100 / 1000, 4)


def test_solar_limited_by_power_and_free_capacity():
    assert step(0.0, 8, 0, pv_kw=8.0, price=50.0, nem_hour=12, rules=GBH2024).solar_stored_kwh == pytest.approx(5 * H)
    near_full = step(12.9, 5, 0, pv_kw=5.0, price=50.0, nem_hour=12, rules=GBH2024)
    assert near_full.soc_kwh == pytest.approx(13.0)
    assert near_full.solar_money == money(5 * H - (13.0 - 12.9), 50.0)


def test_grid_charge_is_capped_by_the_power_solar_already_uses():
    s = step(0.0, 3, 10, pv_kw=3.0, price=100.0, nem_hour=12, rules=GBH2024)
    assert s.grid_kwh == pytest.approx(2 * H)
    assert s.soc_kwh == pytest.approx(5 * H)
    assert s.grid_money == -money(2 * H, 100.0)


def test_discharge_is_not_capped_by_solar_charging():
    s = step(6.0, 5, -10, pv_kw=5.0, price=100.0, nem_hour=12, rules=GBH2024)
    assert s.grid_kwh == pytest.approx(-5 * H)  # full 5 kW out while 5 kW of solar goes in
    assert s.soc_kwh == pytest.approx(6.0)


def test_discharge_limited_by_stored_energy():
    s = step(0.1, 0, -5, pv_kw=0.0, price=200.0, nem_hour=12, rules=GBH2024)
    assert s.soc_kwh == 0
    assert s.grid_money == money(0.1, 200.0)


def test_buying_costs_money_and_negative_prices_pay_you_to_buy():
    assert step(0.0, 0, 5, 0.0, 100.0, 12, GBH2024).grid_money < 0
    assert step(0.0, 0, 5, 0.0, -100.0, 12, GBH2024).grid_money > 0


def test_money_rounds_each_leg_to_four_decimals_like_numpy():
    for kwh, price in [(0.4166666666666667, 37.27), (0.08333, 12.345), (1.0, 0.00005)]:
        assert money(kwh, price) == float(np.round(np.float64(kwh) * np.float64(price) / 1000, 4))


def _nem_hours(stamps):
    return [nem_hour(parse_timestamp(s)) for s in stamps]


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-04-02 16:55:00", "2024-04-02 17:00:00", "2024-04-02 20:55:00", "2024-04-02 21:00:00"],
        ["2024-04-02 06:55:00+00:00", "2024-04-02 07:00:00+00:00", "2024-04-02 10:55:00+00:00", "2024-04-02 11:00:00+00:00"],
        ["2024-04-02 16:55:00+10:00", "2024-04-02 17:00:00+10:00", "2024-04-02 20:55:00+10:00", "2024-04-02 21:00:00+10:00"],
    ],
    ids=["naive-nem", "utc", "offset"],
)
def test_tariff_peak_is_17_to_21_nem_time_by_interval_end(stamps):
    hours = _nem_hours(stamps)
    assert hours == [16, 17, 20, 21]
    # 16:55 and 21:00 are off-peak; 17:00 and 20:55 are peak
    sell = [step(5.0, 0, -5, 0.0, 100.0, h, GBH2024_TARIFF).grid_money for h in hours]
    buy = [step(5.0, 0, 5, 0.0, 100.0, h, GBH2024_TARIFF).grid_money for h in hours]
    base = money(5 * H, 100.0)
    assert sell == pytest.approx([base * 0.85, base * 1.30, base * 1.30, base * 0.85])
    assert buy == pytest.approx([-base * 1.05, -base * 1.40, -base * 1.40, -base * 1.05])


def test_solar_export_gets_the_export_tariff():
    s_off = step(13.0, 0, 0, 2.0, 100.0, 12, GBH2024_TARIFF)
    s_peak = step(13.0, 0, 0, 2.0, 100.0, 18, GBH2024_TARIFF)
    assert s_off.solar_money == pytest.approx(money(2 * H, 100) * 0.85)
    assert s_peak.solar_money == pytest.approx(money(2 * H, 100) * 1.30)


def test_rundown_empties_at_full_power_without_tariff():
    deltas = rundown(1.0, 80.0, GBH2024_TARIFF)
    assert len(deltas) == 3  # 5 kW x 5 min = 0.41667 kWh per interval
    assert sum(deltas) == pytest.approx(money(5 * H, 80) * 2 + money(1.0 - 2 * 5 * H, 80), abs=1e-12)
    assert rundown(0.0, 80.0, GBH2024) == []


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    soc=st.floats(min_value=0, max_value=13),
    solar=finite, grid=finite,
    pv=st.floats(min_value=0, max_value=20),
    price=st.floats(min_value=-1000, max_value=20000),
    hour=st.integers(0, 23),
    tariff=st.booleans(),
)
def test_charge_stays_within_capacity_and_money_moves_only_with_energy(soc, solar, grid, pv, price, hour, tariff):
    rules = GBH2024_TARIFF if tariff else GBH2024
    s = step(soc, solar, grid, pv, price, hour, rules)
    assert 0 <= s.soc_kwh <= rules.capacity_kwh + 1e-12
    # energy balance: the change of charge is what solar stored plus what the grid moved
    assert s.soc_kwh - soc == pytest.approx(s.solar_stored_kwh + s.grid_kwh, abs=1e-9)
    assert abs(s.grid_kwh) <= rules.max_power_kw * H + 1e-12
    assert s.solar_stored_kwh + max(s.grid_kwh, 0) <= rules.max_power_kw * H + 1e-9
    exported = pv * H - s.solar_stored_kwh
    if abs(s.grid_kwh) < 1e-12:
        assert s.grid_money == 0
    if exported < 1e-12:
        assert s.solar_money == 0
    if price > 0:
        assert s.grid_money <= 0 if s.grid_kwh > 0 else s.grid_money >= 0


@given(st.lists(st.floats(min_value=-1000, max_value=20000), min_size=1, max_size=12))
def test_baseline_mean_equals_numpy_mean(values):
    from battery_sim.policies import _mean

    assert _mean(values) == float(np.mean(values))


def test_tariff_boundaries_through_a_whole_evaluation():
    """An evening of real intervals, naive NEM time: the per-interval money shows the peak edges."""
    from battery_sim.evaluator import evaluate
    from battery_sim.policy import Policy

    edges = {"16:55", "17:00", "20:55", "21:00"}

    class SellAtTheEdges(Policy):  # sells only at the four boundary intervals (UTC 06:55, 07:00, 10:55, 11:00)
        def act(self, external_state, internal_state):
            nem = pd.Timestamp(external_state["timestamp"]) + pd.Timedelta(hours=10)
            return 0, -5 if nem.strftime("%H:%M") in edges else 0

    stamps = pd.date_range("2024-04-02 16:45", "2024-04-02 21:10", freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    data = from_frame(pd.DataFrame({"timestamp": stamps, "price": 100.0}))
    result = evaluate(data, GBH2024_TARIFF, SellAtTheEdges)
    profits = [0.0] + result["main_trial"]["profits"]
    deltas = dict(zip(stamps, np.diff(profits), strict=True))
    base = money(5 * H, 100.0)
    assert deltas["2024-04-02 16:55:00"] == pytest.approx(base * 0.85)
    assert deltas["2024-04-02 17:00:00"] == pytest.approx(base * 1.30)
    assert deltas["2024-04-02 20:55:00"] == pytest.approx(base * 1.30)
    assert deltas["2024-04-02 21:00:00"] == pytest.approx(base * 0.85)
