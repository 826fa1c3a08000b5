"""Every number of the market's clock and the rules has one definition (battery_sim/rules.py);
everything else imports it. A second `INTERVAL_S = 300` or `timedelta(hours=10)` somewhere
would drift from the first, as it did before."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from battery_sim.errors import BadInput
from battery_sim.rules import GBH2024, Ruleset

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("arena", "battery_sim", "cli", "deployments", "flows", "leaderboard", "tasks")
OWNED = {"INTERVAL_S", "INTERVAL_MINUTES", "INTERVALS_PER_DAY", "NEM_TIME", "NEM_TZ", "NEM_UTC_OFFSET_HOURS",
         "MONEY_DECIMALS", "ACTION_BOUND_FACTOR"}
HOME = ROOT / "battery_sim" / "rules.py"


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def test_the_clock_and_rule_numbers_are_defined_only_in_rules_py():
    found = []
    for path, tree in _modules():
        if path == HOME:
            continue
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in OWNED:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} defines {target.id}")
    assert found == []


def test_no_module_spells_out_the_nem_offset():
    """timedelta(hours=10) / timezone(+10) written again instead of NEM_TIME."""
    found = []
    for path, tree in _modules():
        if path == HOME:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "timedelta":
                if any(k.arg == "hours" and isinstance(k.value, ast.Constant) and k.value.value == 10 for k in node.keywords):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_a_ruleset_with_another_clock_is_refused():
    with pytest.raises(BadInput, match="5-minute intervals in NEM time"):
        Ruleset(name="half-hourly", description="", interval_minutes=30)
    with pytest.raises(BadInput, match="UTC\\+10"):
        Ruleset(name="sydney-summer", description="", nem_utc_offset_hours=11)
    assert GBH2024.interval_seconds == 300 and GBH2024.money_decimals == 4
