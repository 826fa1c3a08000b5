"""An independent, deliberately literal model of the 2024 evaluator, used only to check
battery_sim against it. It works the way 2024 did: a pandas DataFrame walked with .iloc,
rows as Series (so prices are numpy float64 and Python's round() on them is numpy's),
a battery object, the tariff read from the UTC timestamp text, np.mean for the run-down.
Kept slow and plain on purpose; it shares no code with battery_sim."""

import numpy as np
import pandas as pd

STEP_HOURS = 5 / 60


class RefBattery:
    def __init__(self, capacity=13, rate=5, initial=7.5):
        self.capacity, self.rate = capacity, rate
        self.charge = min(initial, capacity)

    def charge_at(self, kw):
        kwh = min(min(kw, self.rate) * STEP_HOURS, self.capacity - self.charge)
        self.charge += kwh
        return kwh

    def discharge_at(self, kw):
        kwh = min(min(kw, self.rate) * STEP_HOURS, self.charge)
        self.charge = max(self.charge - kwh, 0)
        return kwh


def _dollars(kwh, price):
    return round(kwh * price / 1000, 4)


def _tariff(amount, export, utc_text, tariff):
    if not tariff:
        return amount
    hour = (pd.Timestamp(utc_text, tz="UTC") + pd.Timedelta(hours=10)).hour
    peak = 17 <= hour < 21
    if export:
        return amount + abs(amount * 0.30) if peak else amount - abs(amount * 0.15)
    return amount - abs(amount * 0.40) if peak else amount - abs(amount * 0.05)


def reference_run(frame: pd.DataFrame, policy, tariff: bool):
    """frame: the window rows (timestamp as UTC text); policy already loaded with history."""
    battery = RefBattery()
    total = 0.0
    profits, socs, prices = [], [], []
    n = len(frame)
    info = {"total_profit": 0.0, "profit_delta": 0, "battery_soc": battery.charge, "max_charge_rate": 5,
            "remaining_steps": n - 1}
    for i in range(n):
        row = frame.iloc[i]
        pv = float(row["pv_power"])
        solar_kw, grid_kw = policy.act(row, info)
        price, stamp = row["price"], row["timestamp"]
        prices.append(price)
        solar_kw = max(0, min(pv, solar_kw))
        stored = battery.charge_at(solar_kw)
        solar_money = _tariff(_dollars(pv * STEP_HOURS - stored, price), True, stamp, tariff)
        grid_kw = min(grid_kw, 5 - stored / STEP_HOURS)
        if grid_kw > 0:
            grid_money = _tariff(-_dollars(battery.charge_at(grid_kw), price), False, stamp, tariff)
        elif grid_kw < 0:
            grid_money = _tariff(_dollars(battery.discharge_at(-grid_kw), price), True, stamp, tariff)
        else:
            grid_money = 0
        delta = grid_money + solar_money
        total += delta
        info = {"total_profit": total, "profit_delta": delta, "battery_soc": battery.charge,
                "max_charge_rate": 5, "remaining_steps": n - i - 1}
        profits.append(total)
        socs.append(battery.charge)
    rundown_price = np.mean(prices[-288:])
    deltas = []
    while battery.charge > 0:
        deltas.append(_dollars(battery.discharge_at(5), rundown_price))
    return {"score": profits[-1] + np.sum(deltas), "profits": profits, "socs": socs, "rundown": deltas}
