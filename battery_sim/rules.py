"""Rulesets are data: one frozen record per competition's market and battery rules.

A later competition adds a ruleset (efficiency, separate limits, another tariff) here,
and nothing else in the code changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from battery_sim.errors import BadInput


# Generous on purpose: 2024 policies returned 10x or 100x the rate and were clipped, not failed.
ACTION_BOUND_FACTOR = 1000


@dataclass(frozen=True)
class Tariff:
    """Each leg's money x becomes x + |x|·rate (rates signed), by the hour of the interval end
    in NEM time. Peak is [peak_start_hour, peak_end_hour)."""

    peak_start_hour: int = 17
    peak_end_hour: int = 21
    export_peak_rate: float = 0.30
    export_offpeak_rate: float = -0.15
    import_peak_rate: float = -0.40
    import_offpeak_rate: float = -0.05


@dataclass(frozen=True)
class Ruleset:
    name: str
    description: str
    interval_minutes: int = 5
    capacity_kwh: float = 13.0
    max_power_kw: float = 5.0
    initial_soc_kwh: float = 7.5
    money_decimals: int = 4
    rundown_price_intervals: int = 288
    nem_utc_offset_hours: int = 10
    tariff: Tariff | None = None

    @property
    def hours_per_interval(self) -> float:
        # Written as 5 / 60 (not 5 * 1 / 60) so kW→kWh rounds exactly as the 2024 evaluator did.
        return self.interval_minutes / 60

    @property
    def interval_seconds(self) -> int:
        return self.interval_minutes * 60

    @property
    def max_action_kw(self) -> float:
        """The largest |action| accepted at all. Anything within it is clipped to max_power_kw
        as in 2024; beyond it (1e308, a 4001-digit integer) no battery was meant, and the
        interval is the team's error, as NaN is."""
        return ACTION_BOUND_FACTOR * self.max_power_kw

    @property
    def initial_charge_kwh(self) -> float:
        return min(self.initial_soc_kwh, self.capacity_kwh)


GBH2024 = Ruleset(
    name="gbh2024",
    description="2024 Green Battery Hack: 13 kWh, 5 kW, start at 7.5 kWh, spot price, no losses",
)

GBH2024_TARIFF = Ruleset(
    name="gbh2024-tariff",
    description="gbh2024 plus the 2024 tariff: exports +30 % peak / -15 % off-peak, imports -40 % peak / -5 % off-peak",
    tariff=Tariff(),
)

RULESETS: dict[str, Ruleset] = {r.name: r for r in (GBH2024, GBH2024_TARIFF)}
DEFAULT_RULESET = GBH2024_TARIFF.name


def get_ruleset(name: str) -> Ruleset:
    try:
        return RULESETS[name]
    except KeyError:
        raise BadInput(f"unknown ruleset {name!r}; known: {', '.join(sorted(RULESETS))}") from None
