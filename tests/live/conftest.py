"""Fixtures of the live-run tests: two days of recorded SA1 data and a helper that advances a live
run in steps of a given number of intervals, as rounds would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # teams

from battery_sim.data import load_market_csv  # noqa: E402
from battery_sim.rules import get_ruleset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA_FILE = ROOT / "data" / "april15-may7_2023.csv"


@pytest.fixture(scope="session")
def market():
    return load_market_csv(DATA_FILE)


@pytest.fixture(scope="session")
def rules():
    return get_ruleset("gbh2024-tariff")


@pytest.fixture(scope="session")
def window(market):
    """Rows [lo, hi): one day and a bit after a day of history (enough for a run-down day)."""
    lo = 288
    return lo, lo + 288 + 60
