"""One interval of battery and market physics, as a pure transition:
(charge, action, interval data, ruleset) -> (new charge, money of each leg).

This is the only copy of the rules; the evaluator, the run-down and the tests all call it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from battery_sim.rules import MONEY_DECIMALS, Ruleset


class Step(NamedTuple):
    soc_kwh: float
    solar_money: float
    grid_money: float
    solar_stored_kwh: float
    grid_kwh: float  # + bought into the battery, - sold from it


def money(kwh: float, price: float, decimals: int = MONEY_DECIMALS) -> float:
    """Dollars for kWh at price $/MWh, rounded to the ruleset's decimals as the 2024 evaluator did.

    2024 rounded numpy float64 values, and numpy rounds by scaling, rounding half to even
    and scaling back, which differs from Python's decimal round(x, 4) in rare last-digit
    cases; this reproduces numpy's way with plain floats (10x faster than a numpy scalar)."""
    scale = 10.0**decimals
    return round(kwh * price / 1000 * scale) / scale


def with_tariff(amount: float, rate: float) -> float:
    """x + |x|·rate for a signed rate; abs(x * rate) exactly as 2024 computed it."""
    return amount + math.copysign(abs(amount * rate), rate) if rate else amount


def step(
    soc_kwh: float,
    solar_kw_to_battery: float,
    grid_kw: float,
    pv_kw: float,
    price: float,
    nem_hour: int,
    rules: Ruleset,
) -> Step:
    hours = rules.hours_per_interval
    capacity = rules.capacity_kwh
    power = rules.max_power_kw
    decimals = rules.money_decimals

    # Solar leg: route what the policy asked for (within what the panel makes), export the rest.
    solar_kw = max(0, min(pv_kw, solar_kw_to_battery))
    stored = min(min(solar_kw, power) * hours, capacity - soc_kwh)
    soc_kwh += stored
    solar_money = money(pv_kw * hours - stored, price, decimals)

    # Grid leg: the charge request is capped by the power solar already uses; a discharge is not.
    grid_request = min(grid_kw, power - stored / hours)
    if grid_request > 0:
        grid_kwh = min(min(grid_request, power) * hours, capacity - soc_kwh)
        soc_kwh += grid_kwh
        grid_money = -money(grid_kwh, price, decimals)
        importing = True
    elif grid_request < 0:
        sold = min(min(-grid_request, power) * hours, soc_kwh)
        soc_kwh = max(soc_kwh - sold, 0)
        grid_kwh = -sold
        grid_money = money(sold, price, decimals)
        importing = False
    else:
        grid_kwh = 0.0
        grid_money = 0
        importing = False

    tariff = rules.tariff
    if tariff is not None:
        peak = tariff.is_peak(nem_hour)
        solar_money = with_tariff(solar_money, tariff.export_peak_rate if peak else tariff.export_offpeak_rate)
        if importing:
            grid_money = with_tariff(grid_money, tariff.import_peak_rate if peak else tariff.import_offpeak_rate)
        elif grid_kwh:
            grid_money = with_tariff(grid_money, tariff.export_peak_rate if peak else tariff.export_offpeak_rate)
    return Step(soc_kwh, solar_money, grid_money, stored, grid_kwh)


def rundown(soc_kwh: float, price: float, rules: Ruleset) -> list[float]:
    """Money of emptying the battery at full power after the window, no tariff."""
    deltas = []
    step_kwh = rules.max_power_kw * rules.hours_per_interval
    while soc_kwh > 0:
        sold = min(step_kwh, soc_kwh)
        soc_kwh = max(soc_kwh - sold, 0)
        deltas.append(money(sold, price, rules.money_decimals))
    return deltas
